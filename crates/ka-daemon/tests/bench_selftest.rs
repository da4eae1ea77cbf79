//! `bench/failover --self-test`: the failover benchmark's own pcap parser and take-over
//! extraction against keepalived 2.2.7's captures in tests/data/interop (known take-overs
//! and every packet compared with `tcpdump -r`), and its /proc CPU and RSS readers against
//! a busy, large child. Run here so CI notices when the benchmark would report wrong numbers.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn bench_failover_self_test_passes() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/failover");
    assert!(script.exists(), "{} is missing", script.display());
    let out = Command::new("python3")
        .arg(&script)
        .arg("--self-test")
        .output()
        .expect("python3 is needed to run bench/failover (Debian package python3)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench/failover --self-test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("self-test ok"), "{stdout}\n{stderr}");
}
