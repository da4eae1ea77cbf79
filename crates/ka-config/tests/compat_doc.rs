//! docs/COMPATIBILITY.md carries the generated keyword tables of docs/compat/vrrp.md and
//! docs/compat/lvs.md (themselves checked against the keyword tables by the lower_* tests).
//! `UPDATE_COMPAT=1` rewrites the generated part.

use std::path::Path;

const MARKER: &str =
    "<!-- generated below from docs/compat/vrrp.md and docs/compat/lvs.md; do not edit by hand -->";

/// A per-side file with its headings moved down one level under this document's "Keywords".
fn demote(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with('#') {
            out.push_str("##");
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn compatibility_doc_lists_every_keyword() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let doc_path = docs.join("COMPATIBILITY.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    let (head, _) = doc
        .split_once(MARKER)
        .expect("marker line in docs/COMPATIBILITY.md");
    let mut expected = format!("{head}{MARKER}\n");
    for side in ["vrrp.md", "lvs.md"] {
        let text = std::fs::read_to_string(docs.join("compat").join(side)).unwrap();
        expected.push('\n');
        expected.push_str(&demote(&text));
    }
    if std::env::var_os("UPDATE_COMPAT").is_some() {
        std::fs::write(&doc_path, &expected).unwrap();
        return;
    }
    assert!(
        doc == expected,
        "docs/COMPATIBILITY.md is out of date: run UPDATE_COMPAT=1 cargo test -p ka-config --test compat_doc"
    );
}
