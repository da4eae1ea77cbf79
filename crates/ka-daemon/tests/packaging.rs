//! Packaging: the manual pages, shell completions and the sample configuration, through
//! the real binary.
//!
//! - `keepalived-rs man` equals the committed docs/keepalived-rs.8 (after a CLI change:
//!   `UPDATE_MAN=1 cargo test -p ka-daemon --test packaging` rewrites it), and it and every
//!   page of `man --dir` render through groff without a warning;
//! - the bash completion script completes subcommands and options when bash runs it;
//! - `install-sample` writes a configuration that `check` accepts (also with its commented
//!   virtual_server enabled) and never replaces an existing one without `--force`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TmpDir;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_keepalived-rs");

fn ks(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn committed_page() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/keepalived-rs.8")
}

/// groff's text rendering of a page; fails on any groff warning (-ww).
fn render(page: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-P-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("groff (Debian package groff-base)");
    child.stdin.take().unwrap().write_all(page).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.trim().is_empty(), "groff warned: {err}");
    // Undo the overstriking of bold/underline, whatever the grotty options.
    let mut text = String::new();
    for c in String::from_utf8_lossy(&out.stdout).chars() {
        if c == '\u{8}' {
            text.pop();
        } else {
            text.push(c);
        }
    }
    text
}

#[test]
fn man_page_is_the_committed_one_and_renders() {
    let o = ks(&["man"]);
    assert!(o.status.success());
    let page = o.stdout;
    if std::env::var_os("UPDATE_MAN").is_some() {
        std::fs::write(committed_page(), &page).unwrap();
    }
    let committed = std::fs::read(committed_page()).unwrap_or_default();
    assert!(
        committed == page,
        "docs/keepalived-rs.8 differs from `keepalived-rs man` (the CLI changed): run \
         UPDATE_MAN=1 cargo test -p ka-daemon --test packaging"
    );
    let text = render(&page);
    for want in [
        "keepalived-rs - keepalived, rebuilt in Rust",
        "--use-file",
        "realserver",
        "install-sample",
        "EXIT STATUS",
        "/etc/keepalived-rs/keepalived.conf",
        "keepalived-rs-realserver-dr(8)",
    ] {
        assert!(
            text.contains(want),
            "{want:?} not in the rendered page:\n{text}"
        );
    }
}

#[test]
fn every_page_renders() {
    let dir = TmpDir::new();
    let o = ks(&["man", "--dir", dir.0.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut names: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for want in [
        "keepalived-rs.8",
        "keepalived-rs-check.8",
        "keepalived-rs-realserver-dr.8",
        "keepalived-rs-realserver-check.8",
        "keepalived-rs-install-sample.8",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    assert!(stdout(&o).contains(&format!("wrote {} manual pages", names.len())));
    for n in &names {
        let text = render(&std::fs::read(dir.0.join(n)).unwrap());
        assert!(text.contains("SYNOPSIS"), "{n}:\n{text}");
    }
    // The main page written by --dir is the one `man` prints.
    assert!(
        std::fs::read(dir.0.join("keepalived-rs.8")).unwrap() == ks(&["man"]).stdout,
        "man --dir wrote another main page than man prints"
    );
    let dr = render(&std::fs::read(dir.0.join("keepalived-rs-realserver-dr.8")).unwrap());
    assert!(dr.contains("--undo") && dr.contains("--vip"), "{dr}");
}

/// What bash's completion function offers for the words `line` (the last one being
/// completed).
fn bash_complete(line: &[&str]) -> Vec<String> {
    let dir = TmpDir::new();
    let script = dir.0.join("keepalived-rs.bash");
    std::fs::write(&script, ks(&["completions", "bash"]).stdout).unwrap();
    let words = line
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let prog = format!(
        "source {s}; COMP_WORDS=({words}); COMP_CWORD={c}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; \
         COMP_POINT=${{#COMP_LINE}}; _keepalived__rs keepalived-rs \"${{COMP_WORDS[COMP_CWORD]}}\" \
         \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        s = script.display(),
        c = line.len() - 1
    );
    let o = Command::new("bash").args(["-c", &prog]).output().unwrap();
    assert!(
        o.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o).lines().map(str::to_owned).collect()
}

#[test]
fn bash_completion_completes() {
    let top = bash_complete(&["keepalived-rs", "re"]);
    for want in ["realserver", "reload"] {
        assert!(top.iter().any(|w| w == want), "{want} not in {top:?}");
    }
    let rs = bash_complete(&["keepalived-rs", "realserver", ""]);
    for want in ["dr", "tun", "check"] {
        assert!(rs.iter().any(|w| w == want), "{want} not in {rs:?}");
    }
    let dr = bash_complete(&["keepalived-rs", "realserver", "dr", "--u"]);
    assert_eq!(dr, ["--undo"]);
    let sh = bash_complete(&["keepalived-rs", "completions", ""]);
    assert!(sh.iter().any(|w| w == "zsh"), "{sh:?}");
}

#[test]
fn other_shells_get_their_scripts() {
    // No zsh or fish here to run them: their own markers and our subcommands.
    for (shell, marker) in [
        ("zsh", "#compdef keepalived-rs"),
        ("fish", "complete -c keepalived-rs"),
    ] {
        let o = ks(&["completions", shell]);
        assert!(o.status.success());
        let s = stdout(&o);
        assert!(
            s.contains(marker) && s.contains("realserver"),
            "{shell}:\n{s}"
        );
    }
    assert_eq!(ks(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn install_sample_writes_a_valid_config_and_keeps_an_existing_one() {
    let dir = TmpDir::new();
    let dest = dir.0.join("etc/keepalived-rs");
    let conf = dest.join("keepalived.conf");
    let o = ks(&["install-sample", "--dest", dest.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains(&format!("installed {}", conf.display())));
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample/keepalived.conf"),
    )
    .unwrap();
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), sample);

    let check = |f: &Path| {
        ks(&[
            "check",
            "--no-host-checks",
            "--format",
            "plain",
            f.to_str().unwrap(),
        ])
    };
    let o = check(&conf);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).trim().is_empty(),
        "{o:?}"
    );
    // The commented virtual_server, enabled as its comment says.
    let start = sample.find("! virtual_server").unwrap();
    let enabled: String = sample[..start].to_string()
        + &sample[start..]
            .lines()
            .map(|l| l.strip_prefix("! ").or(l.strip_prefix("!")).unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
    assert!(enabled.contains("\nvirtual_server 192.0.2.100 80 {"));
    let with_vs = dir.0.join("with-vs.conf");
    std::fs::write(&with_vs, &enabled).unwrap();
    let o = check(&with_vs);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dump = ks(&[
        "check",
        "--no-host-checks",
        "--dump",
        with_vs.to_str().unwrap(),
    ]);
    assert!(
        stdout(&dump).contains("198.51.100.12"),
        "the virtual_server was not read"
    );

    // An operator's file is never replaced without --force.
    std::fs::write(&conf, "! mine\n").unwrap();
    let o = ks(&["install-sample", "--dest", dest.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "! mine\n");
    let o = ks(&[
        "install-sample",
        "--dest",
        dest.to_str().unwrap(),
        "--force",
    ]);
    assert!(o.status.success());
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), sample);
    assert!(!dest.join(".keepalived.conf.tmp").exists());
}
