//! End-to-end: the real `keepalived-rs` binary notifies systemd (sd_notify) over the
//! socket a test binds and names in `NOTIFY_SOCKET`: READY=1 once the VIP's instance runs,
//! WATCHDOG=1 every half `WATCHDOG_USEC`, RELOADING=1 (with MONOTONIC_USEC) then READY=1
//! around a SIGHUP reload, STOPPING=1 on SIGTERM. Once with a path, once with an abstract
//! name (abstract unix sockets belong to a network namespace: it is bound inside the
//! daemon's). Namespaces, addresses (192.0.2.0/24) and processes as in the other e2e tests.
// Test support: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{in_netns, wait_until, Pair, TmpDir};
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

/// Receives notifications until `pred` holds for one of them (at most `timeout`); all
/// received, in order.
fn recv_until(
    rx: &UnixDatagram,
    seen: &mut Vec<String>,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> bool {
    let start = Instant::now();
    rx.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while start.elapsed() < timeout {
        if let Ok(n) = rx.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            let hit = pred(&m);
            seen.push(m);
            if hit {
                return true;
            }
        }
    }
    false
}

fn run(abstract_name: bool) {
    let p = Pair::new();
    let dir = TmpDir::new();
    let (rx, socket_name) = if abstract_name {
        let name = format!("ka-notify-e2e-{}-{}", std::process::id(), p.a.name);
        let n = name.clone();
        let rx = in_netns(&p.a, move || {
            use std::os::linux::net::SocketAddrExt;
            UnixDatagram::bind_addr(
                &std::os::unix::net::SocketAddr::from_abstract_name(n.as_bytes()).unwrap(),
            )
            .unwrap()
        });
        (rx, format!("@{name}"))
    } else {
        let path = dir.0.join("notify.sock");
        (
            UnixDatagram::bind(&path).unwrap(),
            path.to_str().unwrap().to_owned(),
        )
    };
    let conf = dir.0.join("a.conf");
    std::fs::write(
        &conf,
        format!(
            "vrrp_instance VI_1 {{\n  state MASTER\n  interface {}\n  virtual_router_id 51\n  \
             version 3\n  priority 150\n  advert_int 0.1\n  virtual_ipaddress {{\n    \
             192.0.2.100/32\n  }}\n}}\n",
            p.a_if
        ),
    )
    .unwrap();
    let log = dir.0.join("a.log");
    let child = Command::new("ip")
        .args([
            "netns", "exec", &p.a.name, BIN, "-n", "-l", "-D", "-P", "-f",
        ])
        .arg(&conf)
        .arg("--control-socket")
        .arg(dir.0.join("a.sock"))
        .env("NOTIFY_SOCKET", &socket_name)
        .env("WATCHDOG_USEC", "200000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut d = Proc(child);
    let log = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut seen = Vec::new();

    assert!(
        recv_until(&rx, &mut seen, Duration::from_secs(10), |m| m
            .starts_with("READY=1\n")),
        "no READY=1: {seen:?}\n{}",
        log()
    );
    let ready = seen.last().unwrap().clone();
    assert!(
        ready.contains(&format!("\nMAINPID={}", d.0.id())),
        "{ready}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || p.a.has(&p.a_if, "192.0.2.100")).is_some(),
        "{}",
        log()
    );

    // Watchdog pings every 0.1 s: at least 5 within 2 s.
    let before = seen.len();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        recv_until(&rx, &mut seen, Duration::from_millis(200), |_| false);
    }
    let pings = seen[before..].iter().filter(|m| *m == "WATCHDOG=1").count();
    assert!(pings >= 5, "{pings} watchdog pings in 2 s: {seen:?}");

    // SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1.
    Command::new("kill")
        .args(["-HUP", &d.0.id().to_string()])
        .status()
        .unwrap();
    assert!(
        recv_until(&rx, &mut seen, Duration::from_secs(10), |m| m
            .starts_with("RELOADING=1\n")),
        "no RELOADING=1: {seen:?}\n{}",
        log()
    );
    let reloading = seen.last().unwrap().clone();
    let us: u64 = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .expect("MONOTONIC_USEC")
        .parse()
        .unwrap();
    assert!(us > 0);
    assert!(
        recv_until(&rx, &mut seen, Duration::from_secs(10), |m| m
            .starts_with("READY=1\n")),
        "no READY=1 after the reload: {seen:?}\n{}",
        log()
    );
    assert!(seen.last().unwrap().contains("STATUS=reloaded"), "{seen:?}");

    // SIGTERM: STOPPING=1, then a clean exit.
    Command::new("kill")
        .args(["-TERM", &d.0.id().to_string()])
        .status()
        .unwrap();
    assert!(
        recv_until(&rx, &mut seen, Duration::from_secs(10), |m| m
            .starts_with("STOPPING=1")),
        "no STOPPING=1: {seen:?}\n{}",
        log()
    );
    let exited = wait_until(Duration::from_secs(10), || {
        d.0.try_wait().unwrap().is_some()
    });
    assert!(exited.is_some(), "{}", log());
}

#[test]
fn notify_socket_path() {
    run(false);
}

#[test]
fn notify_socket_abstract() {
    run(true);
}
