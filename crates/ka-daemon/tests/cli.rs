//! The `keepalived-rs` command line: exit statuses, output formats, `sniff`.

// Helpers outside #[test] functions unwrap too: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keepalived-rs"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmp_conf(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ka-rs-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

const BAD: &str = "vrrp_instance VI_1 {\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    preemtp_delay 5\n    virtual_ipaddress {\n        192.0.2.1/24\n    }\n}\n";

#[test]
fn example_config_checks_clean() {
    let ex = root().join("examples/keepalived.conf");
    for id in ["lb1", "lb2"] {
        let (code, _, err) = run(bin().args(["check", "--no-host-checks", "-i", id]).arg(&ex));
        assert_eq!(code, 0, "example config with -i {id}: {err}");
    }
}

#[test]
fn config_test_flag_exit_status_and_plain_format() {
    let bad = tmp_conf("bad.conf", BAD);
    let (code, _, err) = run(bin().arg("-t").arg("-f").arg(&bad));
    assert_eq!(code, 1, "{err}");
    // FILE:LINE:COL: error: MESSAGE (help: did you mean ...)
    let want = format!(
        "{}:5:5: error: unknown keyword `preemtp_delay`",
        bad.display()
    );
    assert!(err.contains(&want), "{err}");
    assert!(err.contains("did you mean `preempt_delay`?"), "{err}");

    let (code, _, err) = run(bin().args(["-t", "-f", "/nonexistent/keepalived.conf"]));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn config_test_writes_to_log_file() {
    let bad = tmp_conf("bad2.conf", BAD);
    let log = bad.with_extension("log");
    let (code, _, _) = run(bin()
        .arg(format!("--config-test={}", log.display()))
        .arg("-f")
        .arg(&bad));
    assert_eq!(code, 1);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("preemtp_delay"), "{text}");
}

#[test]
fn json_format_and_dump() {
    let bad = tmp_conf("bad3.conf", BAD);
    let (code, out, _) = run(bin()
        .args(["check", "--no-host-checks", "--format", "json"])
        .arg(&bad));
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let errors: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{out}");
    let first = errors[0];
    assert_eq!(first["line"], 5);
    assert_eq!(first["col"], 5);
    assert_eq!(first["help"], "did you mean `preempt_delay`?");

    let good = tmp_conf("good.conf", &BAD.replace("preemtp_delay", "preempt_delay"));
    let (code, out, err) = run(bin()
        .args(["check", "--no-host-checks", "--dump", "-f"])
        .arg(&good));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let inst = &v["vrrp"]["instances"][0];
    assert_eq!(inst["name"], "VI_1");
    assert_eq!(
        inst["priority"], 100,
        "keepalived's default priority for BACKUP"
    );
    // Durations are seconds: preempt_delay 5 s, advert_int 1 s.
    assert_eq!(inst["preempt_delay"], 5, "{inst}");
}

#[test]
fn sniff_reads_captures() {
    let pcap = root().join("tests/data/interop/v2_mcast_authpass.pcap");
    let (code, out, err) = run(bin().arg("sniff").arg("-r").arg(&pcap));
    assert_eq!(code, 0, "{err}");
    let first = out.lines().next().unwrap();
    assert!(
        first.contains("192.0.2.11 > 224.0.0.18 VRRPv2 vrid 51 prio 150"),
        "{first}"
    );
    assert!(
        first.contains("auth pass \"s3cret\"") && first.ends_with("cksum ok"),
        "{first}"
    );

    let (code, out, _) = run(bin().args(["sniff", "--json", "-r"]).arg(&pcap));
    assert_eq!(code, 0);
    let vrrp: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["type"] == "vrrp")
        .collect();
    assert!(!vrrp.is_empty());
    assert!(vrrp.iter().all(|v| v["checksum_ok"] == true));

    let (code, _, _) = run(bin().args(["sniff", "-r", "/nonexistent.pcap"]));
    assert_eq!(code, 2);
}
