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

/// `check --dump FILE | head -1`: the reader goes away after one line; the command must end
/// quietly by SIGPIPE (as `cat` would), not panic on the failed write.
#[test]
fn dump_into_a_closed_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    // A dump far larger than a pipe's buffer (64 KiB), so the writer meets the closed pipe.
    let mut text = String::new();
    for i in 0..400 {
        text.push_str(&format!(
            "virtual_server 192.0.2.{} {} {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  \
             real_server 198.51.100.1 80 {{\n    TCP_CHECK {{\n      connect_timeout 3\n    }}\n  }}\n}}\n",
            1 + i % 250,
            1000 + i
        ));
    }
    let conf = tmp_conf("big-dump.conf", &text);
    let mut child = bin()
        .args(["check", "--dump", "--no-host-checks"])
        .arg(&conf)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim(), "{");
    // The reader (dropped above) is gone; the rest of the dump hits a closed pipe.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(13), "{:?} {stderr}", out.status);
}
