//! Conformance of `keepalived-rs -t`/`check` with real keepalived 2.2.7's `-t`.
//!
//! Over every sample config the Debian package ships and every config under
//! tests/data/configs, every line keepalived flags (its `(FILE: Line N)` messages) must be
//! flagged by us too, with any severity. Lines we flag that keepalived does not are
//! printed with our reason; keepalived's messages without a line are printed too.
//! keepalived must be installed (.ci/run installs it): a missing keepalived fails the test.

// Helpers outside #[test] functions unwrap too: a panic here is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// (file basename, line) -> messages.
type Flags = BTreeMap<(String, u32), Vec<String>>;

const SAMPLES: &str = "/usr/share/doc/keepalived/samples";

fn config_id() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    h.trim().split('.').next().unwrap_or("").to_string()
}

fn configs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    let samples =
        std::fs::read_dir(SAMPLES).expect("keepalived samples missing: apt-get install keepalived");
    for e in samples.flatten() {
        let p = e.path();
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        if name.starts_with("keepalived.conf") && !name.ends_with(".gz") {
            v.push(p);
        }
    }
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/configs");
    let mut stack = vec![ours];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                // Directories named `*.d` hold included fragments, not top-level configs.
                if p.extension().is_none_or(|x| x != "d") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "conf") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

/// (basename, line) -> keepalived's messages; and keepalived's messages without a line.
fn keepalived_flags(file: &Path, id: &str) -> (Flags, Vec<String>, i32) {
    let out = Command::new("timeout")
        .args(["20", "keepalived", "-t", "-l", "-i", id, "-f"])
        .arg(file)
        .current_dir(file.parent().unwrap_or(Path::new("/")))
        .output()
        .expect("cannot run keepalived: apt-get install keepalived");
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let mut located = BTreeMap::new();
    let mut unlocated = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('(') {
            if let Some((loc, msg)) = rest.split_once(')') {
                if let Some((f, l)) = loc.rsplit_once(": Line ") {
                    if let Ok(n) = l.trim().parse::<u32>() {
                        let base = Path::new(f)
                            .file_name()
                            .and_then(|b| b.to_str())
                            .unwrap_or(f)
                            .to_string();
                        located
                            .entry((base, n))
                            .or_insert_with(Vec::new)
                            .push(msg.trim().to_string());
                        continue;
                    }
                }
            }
        }
        if !line.trim().is_empty() {
            unlocated.push(line.trim().to_string());
        }
    }
    (located, unlocated, out.status.code().unwrap_or(-1))
}

/// (basename, line) -> our messages.
fn our_flags(file: &Path, id: &str) -> (Flags, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_keepalived-rs"))
        .args(["check", "--format", "json", "-i", id])
        .arg(file)
        .current_dir(file.parent().unwrap_or(Path::new("/")))
        .output()
        .expect("run keepalived-rs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "keepalived-rs check --format json on {}: {e}\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let mut m = BTreeMap::new();
    for d in v.as_array().cloned().unwrap_or_default() {
        let f = d["file"].as_str().unwrap_or("");
        let base = Path::new(f)
            .file_name()
            .and_then(|b| b.to_str())
            .unwrap_or(f)
            .to_string();
        let line = d["line"].as_u64().unwrap_or(0) as u32;
        let msg = format!(
            "{}: {}",
            d["severity"].as_str().unwrap_or("?"),
            d["message"].as_str().unwrap_or("")
        );
        m.entry((base, line)).or_insert_with(Vec::new).push(msg);
    }
    (m, out.status.code().unwrap_or(-1))
}

#[test]
fn every_line_keepalived_flags_is_flagged_by_us() {
    let id = config_id();
    let files = configs();
    assert!(
        files.len() >= 20,
        "expected the Debian samples and our configs, found {}",
        files.len()
    );
    let mut missing = Vec::new();
    let (mut n_ka, mut n_extra) = (0usize, 0usize);
    for f in &files {
        let (ka, unlocated, ka_rc) = keepalived_flags(f, &id);
        let (ours, our_rc) = our_flags(f, &id);
        let ka_lines: BTreeSet<_> = ka.keys().cloned().collect();
        let our_lines: BTreeSet<_> = ours.keys().cloned().collect();
        println!(
            "== {} (keepalived exit {ka_rc}, ours {our_rc})",
            f.display()
        );
        for k in ka_lines.difference(&our_lines) {
            println!("   MISSING {}:{}  keepalived: {:?}", k.0, k.1, ka[k]);
            missing.push(format!("{}:{} {:?}", k.0, k.1, ka[k]));
        }
        n_ka += ka_lines.len();
        for k in our_lines.difference(&ka_lines) {
            n_extra += 1;
            println!("   extra   {}:{}  ours: {:?}", k.0, k.1, ours[k]);
        }
        for u in &unlocated {
            println!("   keepalived (no line): {u}");
        }
        if ka_rc != 0 && ours.is_empty() {
            missing.push(format!(
                "{}: keepalived exits {ka_rc} but we flag nothing",
                f.display()
            ));
        }
    }
    println!(
        "conformance: {} files, {} lines flagged by keepalived, {} missed by us, {} lines flagged only by us",
        files.len(),
        n_ka,
        missing.len(),
        n_extra
    );
    assert!(
        missing.is_empty(),
        "lines keepalived flags that we do not:\n{}",
        missing.join("\n")
    );
}
