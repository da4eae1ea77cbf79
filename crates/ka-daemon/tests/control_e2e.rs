//! End-to-end: the operator surface of the real `keepalived-rs` binary. Two nodes in
//! network namespaces (tests/common), `status [--json]` and `reload` over each daemon's
//! control socket (in the test's directory), keepalived's dump signals, and `sniff -i`.
//!
//! Runs as root (as CI does). Names are unique (pid + counter), addresses from
//! 192.0.2.0/24 and 2001:db8::/32 only, namespaces and daemons removed on drop, every wait
//! bounded.
// Test support: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{unique_name, wait_until, Daemon, Pair, TmpDir};
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_keepalived-rs");
const VIP: &str = "192.0.2.100";

fn conf(name: &str, ifname: &str, prio: u8, advert_int: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n  state BACKUP\n  interface {ifname}\n  virtual_router_id 51\n  \
         version 3\n  priority {prio}\n  advert_int {advert_int}\n  \
         virtual_ipaddress {{\n    {VIP}/32\n  }}\n}}\n"
    )
}

/// `keepalived-rs ARGS` (outside any namespace: the control socket is a file).
fn cli(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn status_json(sock: &Path) -> Value {
    let out = cli(&[
        "status",
        "--json",
        "--control-socket",
        sock.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Starts a (priority 150) and b (priority 100); waits until a holds the VIP.
fn elect(p: &Pair, dir: &TmpDir, advert_int: &str) -> (Daemon, Daemon) {
    let da = Daemon::start(&p.a, dir, "a", &conf("VI_1", &p.a_if, 150, advert_int));
    let db = Daemon::start(&p.b, dir, "b", &conf("VI_1", &p.b_if, 100, advert_int));
    let t = wait_until(Duration::from_secs(8), || p.a.has(&p.a_if, VIP));
    assert!(
        t.is_some(),
        "a never became master\n--- a ---\n{}\n--- b ---\n{}",
        da.log(),
        db.log()
    );
    (da, db)
}

#[test]
fn status_on_two_nodes_then_failover() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let (mut da, db) = elect(&p, &dir, "0.1");
    // b has heard a's adverts once it names a as its master.
    let ok = wait_until(Duration::from_secs(5), || {
        status_json(&db.sock)["instances"][0]["master"]["address"] == "192.0.2.1"
    });
    assert!(ok.is_some(), "b never named a as master\n{}", db.log());

    let a = status_json(&da.sock);
    let ia = &a["instances"][0];
    assert_eq!(ia["name"], "VI_1");
    assert_eq!(ia["state"], "MASTER", "{a:#}");
    assert_eq!(
        (ia["priority"].as_u64(), ia["effective_priority"].as_u64()),
        (Some(150), Some(150))
    );
    assert_eq!(ia["master"]["address"], "192.0.2.1");
    assert_eq!(ia["master"]["self"], true);
    assert_eq!(ia["interface"], p.a_if.as_str());
    assert_eq!(ia["vrid"], 51);
    assert_eq!(ia["version"], 3);
    assert_eq!(ia["advert_int_ms"], 100);
    assert_eq!(ia["vips"], serde_json::json!(["192.0.2.100/32"]));
    assert_eq!(ia["last_transition"]["to"], "MASTER");
    assert_eq!(ia["last_transition"]["reason"], "master_down");
    assert_eq!(ia["counters"]["became_master"], 1);
    assert!(ia["counters"]["adverts_sent"].as_u64().unwrap() >= 1);
    assert_eq!(a["daemon"]["pid"], da.child.id());

    let b = status_json(&db.sock);
    let ib = &b["instances"][0];
    assert_eq!(ib["state"], "BACKUP", "{b:#}");
    assert_eq!(
        (ib["priority"].as_u64(), ib["effective_priority"].as_u64()),
        (Some(100), Some(100))
    );
    assert_eq!(ib["master"]["address"], "192.0.2.1");
    assert_eq!(ib["master"]["priority"], 150);
    assert_eq!(ib["master"]["self"], false);
    assert!(ib["counters"]["adverts_received"].as_u64().unwrap() >= 1);
    // INIT -> BACKUP at startup, or (when b's down timer fired before a's first advert
    // arrived on a loaded machine) MASTER -> BACKUP when a's higher priority came in.
    let before = &ib["last_transition"];
    let seen = (
        before["from"].as_str(),
        before["to"].as_str(),
        before["reason"].as_str(),
    );
    assert!(
        seen == (Some("INIT"), Some("BACKUP"), Some("startup"))
            || seen
                == (
                    Some("MASTER"),
                    Some("BACKUP"),
                    Some("higher_priority_advert")
                ),
        "{b:#}"
    );
    let before_us = before["unix_us"].as_u64().unwrap();
    let became_before = ib["counters"]["became_master"].as_u64().unwrap();

    // The text form: a table row per instance.
    let out = cli(&["status", "--control-socket", db.sock.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            c.len() >= 9 && c[..4] == ["VI_1", "BACKUP", "100", "100"] && c[8] == "192.0.2.1"
        }),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "last transition: {} -> BACKUP ({})",
            seen.0.unwrap(),
            seen.2.unwrap()
        )),
        "{text}"
    );

    // Failover: b's last transition becomes BACKUP -> MASTER on master_down, later.
    da.signal("-KILL");
    let _ = da.wait_exit(Duration::from_secs(2));
    let t = wait_until(Duration::from_secs(5), || p.b.has(&p.b_if, VIP));
    assert!(t.is_some(), "b did not take over\n{}", db.log());
    let b = status_json(&db.sock);
    let ib = &b["instances"][0];
    assert_eq!(ib["state"], "MASTER");
    assert_eq!(ib["master"]["address"], "192.0.2.2");
    assert_eq!(ib["master"]["self"], true);
    let after = &ib["last_transition"];
    assert_eq!(
        (after["from"].as_str(), after["to"].as_str()),
        (Some("BACKUP"), Some("MASTER"))
    );
    assert_eq!(after["reason"], "master_down");
    assert!(after["unix_us"].as_u64().unwrap() > before_us, "{b:#}");
    assert_eq!(
        ib["counters"]["became_master"].as_u64(),
        Some(became_before + 1)
    );
}

#[test]
fn reload_over_the_socket_reports_back() {
    let p = Pair::new();
    let (ns, ifname) = (&p.a, &p.a_if);
    let dir = TmpDir::new();
    let d = Daemon::start(ns, &dir, "a", &conf("VI_1", ifname, 150, "0.1"));
    let t = wait_until(Duration::from_secs(8), || ns.has(ifname, VIP));
    assert!(t.is_some(), "never master\n{}", d.log());
    // A configuration with an error: the daemon refuses and says why; the client exits 1.
    std::fs::write(
        dir.0.join("a.conf"),
        "vrrp_instance VI_1 {\n  priority banana\n",
    )
    .unwrap();
    let out = cli(&["reload", "--control-socket", d.sock.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}\n{}", d.log());
    assert!(err.starts_with("keepalived-rs: reload refused: "), "{err}");
    assert!(
        err.trim_end().len() > "keepalived-rs: reload refused: ".len(),
        "{err}"
    );
    assert!(
        d.log().contains("reload requested on the control socket"),
        "{}",
        d.log()
    );
    // Still running, still master.
    let s = status_json(&d.sock);
    assert_eq!(s["instances"][0]["state"], "MASTER");
    assert!(ns.has(ifname, VIP));
    // A good configuration (priority 150 -> 200): applied, reported, visible in status.
    std::fs::write(dir.0.join("a.conf"), conf("VI_1", ifname, 200, "0.1")).unwrap();
    let out = cli(&["reload", "--control-socket", d.sock.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    assert!(stdout.starts_with("reloaded: "), "{stdout}");
    let s = status_json(&d.sock);
    let i = &s["instances"][0];
    assert_eq!(i["state"], "MASTER", "{s:#}");
    assert_eq!(i["priority"], 200, "{s:#}");
    assert_eq!(i["counters"]["became_master"], 1, "no flap: {s:#}");
    assert!(ns.has(ifname, VIP));
}

#[test]
fn client_errors_are_clear() {
    // Wrong path.
    let dir = TmpDir::new();
    let missing = dir.0.join("nope.sock");
    let out = cli(&["status", "--control-socket", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no control socket at") && err.contains("nope.sock"),
        "{err}"
    );
    let out = cli(&["reload", "--control-socket", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));

    // A stale socket nobody listens on.
    let stale = dir.0.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let out = cli(&["status", "--control-socket", stale.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody is listening"));

    // Not root: the file mode stops the client, and if the file is opened up, the daemon's
    // peer-credential check does.
    let p = Pair::new();
    let d = Daemon::start(&p.a, &dir, "a", &conf("VI_1", &p.a_if, 100, "1"));
    let up = wait_until(Duration::from_secs(5), || d.sock.exists());
    assert!(up.is_some(), "no control socket\n{}", d.log());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&d.sock).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // setpriv: util-linux (Debian: essential).
    let as_nobody = |sock: &Path| {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                BIN,
                "status",
            ])
            .arg("--control-socket")
            .arg(sock)
            .output()
            .expect("setpriv (Debian package util-linux) must be installed")
    };
    let out = as_nobody(&d.sock);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("root-only"), "{err}");
    std::fs::set_permissions(&d.sock, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let out = as_nobody(&d.sock);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("permission_denied"), "{err}");
    assert!(d.log().contains("uid 65534 refused"), "{}", d.log());
}

#[test]
fn dump_signals_write_keepalived_s_files() {
    let p = Pair::new();
    let dir = TmpDir::new();
    // A name no other test uses: the dump files are global (/tmp).
    let name = unique_name("VI_");
    let d = Daemon::start(&p.a, &dir, "a", &conf(&name, &p.a_if, 150, "0.1"));
    let t = wait_until(Duration::from_secs(8), || p.a.has(&p.a_if, VIP));
    assert!(t.is_some(), "never master\n{}", d.log());
    let cases = [
        (
            "-USR1",
            "/tmp/keepalived.data",
            format!(" VRRP Instance = {name}\n"),
        ),
        (
            "-USR2",
            "/tmp/keepalived.stats",
            format!("VRRP Instance: {name}\n"),
        ),
        (
            "-36",
            "/tmp/keepalived.json",
            format!("\"iname\": \"{name}\""),
        ),
    ];
    for (sig, file, want) in &cases {
        d.signal(sig);
        let ok = wait_until(Duration::from_secs(5), || {
            std::fs::read_to_string(file).is_ok_and(|t| t.contains(want.as_str()))
        });
        assert!(ok.is_some(), "{sig}: no {want:?} in {file}\n{}", d.log());
    }
    let data = std::fs::read_to_string("/tmp/keepalived.data").unwrap();
    assert!(
        data.starts_with("------< VRRP Topology >------\n"),
        "{data}"
    );
    assert!(data.contains("   State = MASTER\n"), "{data}");
    assert!(data.contains("     192.0.2.100 dev "), "{data}");
    let stats = std::fs::read_to_string("/tmp/keepalived.stats").unwrap();
    assert!(stats.contains("  Became master: 1\n"), "{stats}");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string("/tmp/keepalived.json").unwrap()).unwrap();
    let me = json
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["data"]["iname"] == name.as_str())
        .unwrap();
    assert_eq!(me["data"]["state"], 2);
    assert_eq!(me["data"]["base_priority"], 150);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata("/tmp/keepalived.data")
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // The daemon is still running after the three signals.
    assert!(std::fs::metadata(&d.sock).is_ok());
    assert_eq!(status_json(&d.sock)["instances"][0]["state"], "MASTER");
    for (_, f, _) in &cases {
        let _ = std::fs::remove_file(f);
    }
    // --signum matches what the daemon handles.
    let out = cli(&["--signum=JSON"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "36");
}

/// `sniff -i` in the peer's namespace prints a running daemon's IPv4 and IPv6 adverts and
/// stops by itself after -c COUNT.
#[test]
fn sniff_live_prints_adverts_of_a_running_daemon() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let conf = format!(
        "{}vrrp_instance VI_6 {{\n  state BACKUP\n  interface {}\n  virtual_router_id 52\n  \
         version 3\n  priority 150\n  advert_int 0.1\n  \
         virtual_ipaddress {{\n    2001:db8::100/128\n  }}\n}}\n",
        conf("VI_4", &p.a_if, 150, "0.1"),
        p.a_if
    );
    let d = Daemon::start(&p.a, &dir, "a", &conf);
    let t = wait_until(Duration::from_secs(8), || {
        p.a.has(&p.a_if, VIP) && p.a.has(&p.a_if, "2001:db8::100")
    });
    assert!(t.is_some(), "never master\n{}", d.log());

    let sniff = |args: &[&str]| -> String {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &p.b.name, BIN, "sniff", "-i", &p.b_if])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break Some(st);
            }
            if start.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(
            status.is_some_and(|s| s.success()),
            "sniff {args:?} did not stop by itself ({status:?}): {err}\n{out}"
        );
        out
    };

    let out = sniff(&["-c", "3"]);
    let vrrp: Vec<&str> = out.lines().filter(|l| l.contains(" VRRPv")).collect();
    assert_eq!(vrrp.len(), 3, "{out}");
    for l in &vrrp {
        assert!(l.ends_with("ttl 255 cksum ok"), "{l}");
        assert!(l.contains(" prio 150 intvl 0.10s auth none addrs "), "{l}");
    }
    // Both families within a few adverts (both instances send every 0.1 s).
    let out = sniff(&["-c", "20"]);
    assert!(
        out.lines()
            .any(|l| l.contains("192.0.2.1 > 224.0.0.18 VRRPv3 vrid 51 prio 150")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains(" > ff02::12 VRRPv3 vrid 52 prio 150")
                && l.contains("addrs 2001:db8::100")),
        "{out}"
    );
    let out = sniff(&["-c", "2", "--json"]);
    let objs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        objs.iter().filter(|v| v["type"] == "vrrp").count(),
        2,
        "{out}"
    );
    assert!(objs
        .iter()
        .all(|v| v["type"] != "vrrp" || v["checksum_ok"] == true));

    // No such interface: a clear error, exit 2.
    let out = cli(&["sniff", "-i", "kenosuchif0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kenosuchif0"));
}

/// With a virtual_server, `status` also lists the checkers' real servers: one that refuses
/// connections goes DOWN, and says why.
#[test]
fn status_lists_the_checkers_real_servers() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let conf = format!(
        "{}virtual_server {VIP} 80 {{\n  delay_loop 1\n  lb_kind NAT\n  protocol TCP\n  \
         real_server 192.0.2.2 80 {{\n    TCP_CHECK {{\n      connect_timeout 1\n      \
         retry 0\n    }}\n  }}\n}}\n",
        conf("VI_1", &p.a_if, 150, "0.1")
    );
    // Daemon::start runs -P (VRRP only): this one runs both.
    let cfg = dir.0.join("a.conf");
    std::fs::write(&cfg, conf).unwrap();
    let log = dir.0.join("a.log");
    let sock = dir.0.join("a.sock");
    let child = Command::new("ip")
        .args(["netns", "exec", &p.a.name, BIN, "-n", "-l", "-D", "-f"])
        .arg(&cfg)
        .arg("--control-socket")
        .arg(&sock)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let d = Daemon { child, log, sock };
    let mut last = Value::Null;
    let down = wait_until(Duration::from_secs(20), || {
        if !d.sock.exists() {
            return false;
        }
        last = status_json(&d.sock);
        last["real_servers"][0]["alive"] == false
    });
    assert!(down.is_some(), "{last:#}\n{}", d.log());
    let rs = &last["real_servers"][0];
    assert_eq!(rs["real_server"], "[192.0.2.2]:tcp:80", "{last:#}");
    assert!(
        rs["virtual_server"].as_str().unwrap().contains(VIP),
        "{last:#}"
    );
    assert!(rs["last_result"].is_string(), "{last:#}");
    // VRRP runs beside the checkers: the instance is there too.
    assert_eq!(last["instances"][0]["name"], "VI_1");
    let out = cli(&["status", "--control-socket", d.sock.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("[192.0.2.2]:tcp:80") && l.contains(" DOWN ")),
        "{text}"
    );
}
