//! End-to-end: where the real `keepalived-rs` binary logs.
//!
//! * syslog: a unix datagram socket the test binds (named by `KEEPALIVED_RS_SYSLOG_SOCKET`
//!   instead of /dev/log) receives RFC 3164 lines with the facility of `-S 2` (local2)
//!   and the severity of each message; `-G` sends none;
//! * journald: with `JOURNAL_STREAM` naming stderr (here a file), lines go to stderr with
//!   `<N>` priority prefixes and not to syslog;
//! * a bad `-S` is refused with exit status 2.
//!
//! Namespaces, addresses (192.0.2.0/24) and processes as in the other e2e tests.
// Test support: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{wait_until, Pair, TmpDir};
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_keepalived-rs");

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn conf(dir: &TmpDir, ifname: &str) -> std::path::PathBuf {
    let conf = dir.0.join("a.conf");
    std::fs::write(
        &conf,
        format!(
            "vrrp_instance VI_1 {{\n  state MASTER\n  interface {ifname}\n  virtual_router_id 51\n  \
             version 3\n  priority 150\n  advert_int 0.1\n  virtual_ipaddress {{\n    \
             192.0.2.100/32\n  }}\n}}\n"
        ),
    )
    .unwrap();
    conf
}

fn start(p: &Pair, dir: &TmpDir, args: &[&str], env: &[(&str, String)]) -> Proc {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &p.a.name, BIN, "-n", "-P"])
        .args(args)
        .arg("-f")
        .arg(conf(dir, &p.a_if))
        .arg("--control-socket")
        .arg(dir.0.join("a.sock"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.0.join("a.log")).unwrap());
    for (k, v) in env {
        c.env(k, v);
    }
    Proc(c.spawn().unwrap())
}

/// Datagrams received within `t`.
fn drain(rx: &UnixDatagram, t: Duration) -> Vec<String> {
    rx.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let start = Instant::now();
    while start.elapsed() < t {
        if let Ok(n) = rx.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    out
}

#[test]
fn syslog_lines_reach_the_socket_with_the_facility_of_dash_s() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let sock = dir.0.join("log.sock");
    let rx = UnixDatagram::bind(&sock).unwrap();
    let env = [(
        "KEEPALIVED_RS_SYSLOG_SOCKET",
        sock.to_str().unwrap().to_owned(),
    )];
    let d = start(&p, &dir, &["-l", "-S", "2"], &env);
    assert!(
        wait_until(Duration::from_secs(5), || p.a.has(&p.a_if, "192.0.2.100")).is_some(),
        "{}",
        std::fs::read_to_string(dir.0.join("a.log")).unwrap_or_default()
    );
    let lines = drain(&rx, Duration::from_millis(500));
    let pid = d.0.id();
    // local2 = 18; info = 6: 18 * 8 + 6 = 150.
    let master = lines
        .iter()
        .find(|l| l.contains("Entering MASTER STATE"))
        .unwrap_or_else(|| panic!("no MASTER line in {lines:?}"));
    assert!(master.starts_with("<150>"), "{master}");
    assert!(
        master.contains(&format!(
            " keepalived-rs[{pid}]: (VI_1) Entering MASTER STATE"
        )),
        "{master}"
    );
    // RFC 3164 time stamp: `Mmm dd hh:mm:ss`.
    let stamp = &master[5..20];
    assert!(
        stamp.as_bytes()[3] == b' ' && stamp.as_bytes()[9] == b':',
        "{stamp}"
    );
    // -l: the console has it too, without a priority prefix.
    let console = std::fs::read_to_string(dir.0.join("a.log")).unwrap();
    assert!(
        console.contains("(VI_1) Entering MASTER STATE"),
        "{console}"
    );
    assert!(!console.starts_with('<'), "{console}");
    drop(d);

    // -G: nothing to syslog.
    let p2 = Pair::new();
    let dir2 = TmpDir::new();
    let d = start(&p2, &dir2, &["-G", "-S", "2"], &env);
    assert!(wait_until(Duration::from_secs(5), || p2.a.has(&p2.a_if, "192.0.2.100")).is_some());
    let lines = drain(&rx, Duration::from_millis(500));
    assert!(
        lines
            .iter()
            .all(|l| !l.contains(&format!("[{}]", d.0.id()))),
        "{lines:?}"
    );
    // Without -l nothing on the console either.
    assert_eq!(
        std::fs::read_to_string(dir2.0.join("a.log")).unwrap(),
        "",
        "console output without -l"
    );
}

#[test]
fn journald_stream_gets_priority_prefixes_and_syslog_nothing() {
    use std::os::unix::fs::MetadataExt;
    let p = Pair::new();
    let dir = TmpDir::new();
    let sock = dir.0.join("log.sock");
    let rx = UnixDatagram::bind(&sock).unwrap();
    // stderr is a.log: JOURNAL_STREAM names it, as systemd names its journal stream.
    let log = dir.0.join("a.log");
    std::fs::write(&log, "").unwrap();
    let meta = std::fs::metadata(&log).unwrap();
    // start() recreates a.log (File::create truncates, same inode).
    let env = [
        (
            "KEEPALIVED_RS_SYSLOG_SOCKET",
            sock.to_str().unwrap().to_owned(),
        ),
        ("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino())),
    ];
    let _d = start(&p, &dir, &[], &env);
    assert!(wait_until(Duration::from_secs(5), || p.a.has(&p.a_if, "192.0.2.100")).is_some());
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines()
            .any(|l| l == "<6>(VI_1) Entering MASTER STATE (Startup, was INIT)")
            || text
                .lines()
                .any(|l| l.starts_with("<6>(VI_1) Entering MASTER STATE")),
        "{text}"
    );
    assert!(text.lines().all(|l| l.starts_with('<')), "{text}");
    assert!(drain(&rx, Duration::from_millis(300)).is_empty());
}

#[test]
fn bad_facility_is_refused() {
    let out = Command::new(BIN)
        .args(["-n", "-S", "9", "-f", "/nonexistent.conf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("0..7"), "{err}");
}
