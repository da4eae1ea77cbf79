//! End-to-end: the real `keepalived-rs` binary, two nodes in network namespaces joined by
//! a veth pair, real VRRP on the wire, VIPs checked with `ip -j addr`.
//!
//! Runs as root (as CI does). Every namespace/interface name is unique (pid + counter),
//! addresses come from 192.0.2.0/24 only, namespaces and daemons are removed on drop
//! (also on panic), daemons are killed by PID and every wait is bounded.
// Test support: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{run, unique_name, wait_until, Daemon, Keepalived, Netns, Pair, TmpDir};
use std::time::Duration;

const VIP: &str = "192.0.2.100";

fn conf(ifname: &str, version: u8, prio: u8, advert_int: &str, extra: &str) -> String {
    conf_vip(
        ifname,
        version,
        prio,
        advert_int,
        extra,
        &format!("{VIP}/32"),
    )
}

fn conf_vip(
    ifname: &str,
    version: u8,
    prio: u8,
    advert_int: &str,
    extra: &str,
    vip: &str,
) -> String {
    format!(
        "vrrp_instance VI_1 {{\n  state BACKUP\n  interface {ifname}\n  virtual_router_id 51\n  \
         version {version}\n  priority {prio}\n  advert_int {advert_int}\n{extra}  \
         virtual_ipaddress {{\n    {vip}\n  }}\n}}\n"
    )
}

/// Starts a (priority 150) and b (priority 100); waits until a holds the VIP.
fn elect(p: &Pair, dir: &TmpDir, version: u8, advert_int: &str, extra: &str) -> (Daemon, Daemon) {
    let vip = format!("{VIP}/32");
    elect_with(p, dir, version, advert_int, [extra, extra], &vip, VIP)
}

/// Like [`elect`] with per-node extra lines and any VIP (`vip` as configured, `addr` as
/// `ip -j addr` shows it).
fn elect_with(
    p: &Pair,
    dir: &TmpDir,
    version: u8,
    advert_int: &str,
    extra: [&str; 2],
    vip: &str,
    addr: &str,
) -> (Daemon, Daemon) {
    let da = Daemon::start(
        &p.a,
        dir,
        "a",
        &conf_vip(&p.a_if, version, 150, advert_int, extra[0], vip),
    );
    let db = Daemon::start(
        &p.b,
        dir,
        "b",
        &conf_vip(&p.b_if, version, 100, advert_int, extra[1], vip),
    );
    let t = wait_until(Duration::from_secs(8), || p.a.has(&p.a_if, addr));
    assert!(
        t.is_some(),
        "a never became master\n--- a ---\n{}\n--- b ---\n{}",
        da.log(),
        db.log()
    );
    // b stays backup while a advertises.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !p.b.has(&p.b_if, addr),
        "b took the VIP too\n--- a ---\n{}\n--- b ---\n{}",
        da.log(),
        db.log()
    );
    assert!(p.a.has(&p.a_if, addr));
    (da, db)
}

#[test]
fn v3_ipv4_kill_9_master_backup_takes_over() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let (mut da, db) = elect(&p, &dir, 3, "0.1", "");
    // SIGHUP (keepalived's reload) does not stop the daemon.
    da.signal("-HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(da.wait_exit(Duration::ZERO), None, "SIGHUP killed it");
    assert!(p.a.has(&p.a_if, VIP) && !p.b.has(&p.b_if, VIP));
    da.signal("-KILL");
    // Master_Down_Interval at priority 100, 0.1 s: 361 ms.
    let t = wait_until(Duration::from_secs(2), || p.b.has(&p.b_if, VIP));
    assert!(
        t.is_some(),
        "b did not take over within 2 s\n--- b ---\n{}",
        db.log()
    );
    let t = t.unwrap();
    assert!(
        t >= Duration::from_millis(200),
        "take-over too early: {t:?}"
    );
    eprintln!("kill -9 failover: {t:?}");
    assert!(db.log().contains("Entering MASTER STATE"), "{}", db.log());
}

#[test]
fn v3_ipv4_sigterm_priority_0_fast_takeover_and_vip_removed() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let (mut da, db) = elect(&p, &dir, 3, "0.1", "");
    da.signal("-TERM");
    // Priority 0: Skew_Time (61 ms at priority 100), far below Master_Down_Interval.
    let t = wait_until(Duration::from_secs(2), || p.b.has(&p.b_if, VIP));
    assert!(t.is_some(), "no take-over\n--- b ---\n{}", db.log());
    let t = t.unwrap();
    eprintln!("SIGTERM failover: {t:?}");
    // Loose bound (loaded CI machines); the log below shows the priority-0 path was taken.
    assert!(t < Duration::from_secs(1), "take-over too slow: {t:?}");
    assert_eq!(
        da.wait_exit(Duration::from_secs(3)),
        Some(0),
        "{}",
        da.log()
    );
    assert!(!p.a.has(&p.a_if, VIP), "VIP left on a after SIGTERM");
    assert!(db.log().contains("PriorityZeroReceived"), "{}", db.log());
}

#[test]
fn v2_pass_auth_election_and_mismatch() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let auth = "  authentication {\n    auth_type PASS\n    auth_pass s3cret\n  }\n";
    let (mut da, db) = elect(&p, &dir, 2, "1", auth);
    da.signal("-TERM");
    assert!(
        wait_until(Duration::from_secs(3), || p.b.has(&p.b_if, VIP)).is_some(),
        "{}",
        db.log()
    );
    assert_eq!(
        da.wait_exit(Duration::from_secs(3)),
        Some(0),
        "{}",
        da.log()
    );
    // A wrong password: b (now master) drops a's adverts, a drops b's: both end up master.
    let bad = "  authentication {\n    auth_type PASS\n    auth_pass wrong\n  }\n";
    let da2 = Daemon::start(&p.a, &dir, "a2", &conf(&p.a_if, 2, 150, "1", bad));
    assert!(
        wait_until(Duration::from_secs(8), || p.a.has(&p.a_if, VIP)).is_some(),
        "{}",
        da2.log()
    );
    assert!(p.b.has(&p.b_if, VIP), "b yielded to a wrong password");
    // a's first advert leaves before its VIP is added; b may log the drop a moment later.
    assert!(
        wait_until(Duration::from_secs(3), || db.log().contains("AuthFailure")).is_some(),
        "{}",
        db.log()
    );
}

#[test]
fn leftover_vip_of_a_killed_run_is_removed_at_start() {
    let p = Pair::new();
    let dir = TmpDir::new();
    // The leftover VIP listed before the interface's own address: it must not be taken
    // as the primary (source) address.
    p.b.ip(&["addr", "del", "192.0.2.2/24", "dev", &p.b_if]);
    p.b.ip(&["addr", "add", &format!("{VIP}/32"), "dev", &p.b_if]);
    p.b.ip(&["addr", "add", "192.0.2.2/24", "dev", &p.b_if]);
    // b alone, priority 100, advert 1 s: BACKUP for 3.6 s, so the VIP must go at once.
    let db = Daemon::start(&p.b, &dir, "b", &conf(&p.b_if, 3, 100, "1", ""));
    assert!(
        wait_until(Duration::from_secs(2), || !p.b.has(&p.b_if, VIP)).is_some(),
        "leftover VIP not removed\n{}",
        db.log()
    );
    assert!(db.log().contains("source 192.0.2.2,"), "{}", db.log());
    // ... and comes back when b becomes master (Master_Down_Interval 3.6 s).
    assert!(
        wait_until(Duration::from_secs(6), || p.b.has(&p.b_if, VIP)).is_some(),
        "{}",
        db.log()
    );
}

#[test]
fn bad_configuration_exits_1() {
    let p = Netns::new();
    let dir = TmpDir::new();
    let mut d = Daemon::start(
        &p,
        &dir,
        "bad",
        "vrrp_instance VI_1 {\n  interface lo\n  virtual_router_id 300\n}\n",
    );
    assert_eq!(d.wait_exit(Duration::from_secs(5)), Some(1), "{}", d.log());
    assert!(d.log().contains("virtual_router_id"), "{}", d.log());
}

#[test]
fn v3_ipv6_multicast_failover() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let vip6 = "2001:db8::100";
    let (da, db) = elect_with(&p, &dir, 3, "0.1", ["", ""], &format!("{vip6}/128"), vip6);
    da.signal("-KILL");
    let t = wait_until(Duration::from_secs(2), || p.b.has(&p.b_if, vip6));
    assert!(t.is_some(), "no IPv6 take-over\n--- b ---\n{}", db.log());
    eprintln!("IPv6 kill -9 failover: {:?}", t.unwrap());
}

#[test]
fn v3_ipv4_unicast_failover() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let ua = "  unicast_src_ip 192.0.2.1\n  unicast_peer {\n    192.0.2.2\n  }\n";
    let ub = "  unicast_src_ip 192.0.2.2\n  unicast_peer {\n    192.0.2.1\n  }\n";
    let vip = format!("{VIP}/32");
    let (mut da, db) = elect_with(&p, &dir, 3, "0.1", [ua, ub], &vip, VIP);
    da.signal("-TERM");
    let t = wait_until(Duration::from_secs(2), || p.b.has(&p.b_if, VIP));
    assert!(t.is_some(), "no unicast take-over\n--- b ---\n{}", db.log());
    assert!(t.unwrap() < Duration::from_secs(1), "{t:?}");
    assert!(db.log().contains("PriorityZeroReceived"), "{}", db.log());
    assert_eq!(
        da.wait_exit(Duration::from_secs(3)),
        Some(0),
        "{}",
        da.log()
    );
}

fn ka_conf(ifname: &str, prio: u8) -> String {
    format!(
        "global_defs {{\n  router_id kde2e\n}}\n{}",
        conf(ifname, 3, prio, "0.1", "")
    )
}

/// keepalived 2.2.7 master (priority 150), ours backup (100): ours must stay backup while
/// keepalived advertises and take over when keepalived stops (its priority-0 advert).
fn keepalived_master_ours_backup(
    version: u8,
    advert_int: &str,
    extra: &str,
    vip: &str,
    addr: &str,
) {
    let p = Pair::new();
    let dir = TmpDir::new();
    let kconf = format!(
        "global_defs {{\n  router_id kde2e\n}}\n{}",
        conf_vip(&p.a_if, version, 150, advert_int, extra, vip)
    );
    let mut ka = Keepalived::start(&p.a, &dir, "ka", &kconf);
    assert!(
        wait_until(Duration::from_secs(10), || p.a.has(&p.a_if, addr)).is_some(),
        "keepalived never became master\n{}",
        ka.log()
    );
    let db = Daemon::start(
        &p.b,
        &dir,
        "b",
        &conf_vip(&p.b_if, version, 100, advert_int, extra, vip),
    );
    // Past ours' Master_Down_Interval (3.6 s at 1 s, 0.36 s at 0.1 s).
    let settle = if advert_int == "1" { 5000 } else { 1500 };
    std::thread::sleep(Duration::from_millis(settle));
    assert!(
        !p.b.has(&p.b_if, addr),
        "ours took the VIP from keepalived\n{}",
        db.log()
    );
    assert!(db.log().contains("Entering BACKUP STATE"), "{}", db.log());
    assert!(
        ka.terminate(Duration::from_secs(5)),
        "keepalived did not stop"
    );
    let t = wait_until(Duration::from_secs(3), || p.b.has(&p.b_if, addr));
    assert!(t.is_some(), "ours did not take over\n{}", db.log());
    assert!(db.log().contains("PriorityZeroReceived"), "{}", db.log());
}

#[test]
fn interop_keepalived_master_ours_backup() {
    keepalived_master_ours_backup(3, "0.1", "", &format!("{VIP}/32"), VIP);
}

#[test]
fn interop_keepalived_master_ours_backup_v2_no_auth() {
    keepalived_master_ours_backup(2, "1", "", &format!("{VIP}/32"), VIP);
}

#[test]
fn interop_keepalived_master_ours_backup_v2_pass() {
    let auth = "  authentication {\n    auth_type PASS\n    auth_pass s3cret\n  }\n";
    keepalived_master_ours_backup(2, "1", auth, &format!("{VIP}/32"), VIP);
}

#[test]
fn interop_keepalived_master_ours_backup_v3_ipv6() {
    keepalived_master_ours_backup(3, "0.1", "", "2001:db8::100/128", "2001:db8::100");
}

/// Ours master (v2, no authentication), keepalived backup.
#[test]
fn interop_v2_no_auth_ours_master_keepalived_backup() {
    interop_ours_master(2, "1", "", &format!("{VIP}/32"), VIP);
}

#[test]
fn interop_ours_master_keepalived_backup() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let da = Daemon::start(&p.a, &dir, "a", &conf(&p.a_if, 3, 150, "0.1", ""));
    assert!(
        wait_until(Duration::from_secs(8), || p.a.has(&p.a_if, VIP)).is_some(),
        "ours never became master\n{}",
        da.log()
    );
    let ka = Keepalived::start(&p.b, &dir, "kb", &ka_conf(&p.b_if, 100));
    std::thread::sleep(Duration::from_millis(2000));
    assert!(
        !p.b.has(&p.b_if, VIP),
        "keepalived took the VIP: our adverts were not accepted\n{}",
        ka.log()
    );
    assert!(ka.log().contains("Entering BACKUP STATE"), "{}", ka.log());
    // Our priority-0 advert makes keepalived take over after Skew_Time (61 ms), well
    // before its Master_Down_Interval (361 ms); bounded loosely for loaded machines.
    da.signal("-TERM");
    let t = wait_until(Duration::from_secs(2), || p.b.has(&p.b_if, VIP));
    assert!(t.is_some(), "keepalived did not take over\n{}", ka.log());
    eprintln!(
        "keepalived take-over after SIGTERM of ours: {:?}",
        t.unwrap()
    );
}

/// Ours master, keepalived backup: keepalived must stay backup (it accepts our adverts)
/// and take over on our priority-0 advert.
fn interop_ours_master(version: u8, advert_int: &str, extra: &str, vip: &str, addr: &str) {
    let p = Pair::new();
    let dir = TmpDir::new();
    let da = Daemon::start(
        &p.a,
        &dir,
        "a",
        &conf_vip(&p.a_if, version, 150, advert_int, extra, vip),
    );
    assert!(
        wait_until(Duration::from_secs(8), || p.a.has(&p.a_if, addr)).is_some(),
        "ours never became master\n{}",
        da.log()
    );
    let kconf = format!(
        "global_defs {{\n  router_id kde2e\n}}\n{}",
        conf_vip(&p.b_if, version, 100, advert_int, extra, vip)
    );
    let ka = Keepalived::start(&p.b, &dir, "kb", &kconf);
    // Longer than keepalived's start-up plus its Master_Down_Interval.
    let settle = if advert_int == "1" { 5000 } else { 2000 };
    std::thread::sleep(Duration::from_millis(settle));
    assert!(
        !p.b.has(&p.b_if, addr),
        "keepalived took the VIP: our adverts were not accepted\n{}",
        ka.log()
    );
    assert!(ka.log().contains("Entering BACKUP STATE"), "{}", ka.log());
    da.signal("-TERM");
    let t = wait_until(Duration::from_secs(3), || p.b.has(&p.b_if, addr));
    assert!(t.is_some(), "keepalived did not take over\n{}", ka.log());
}

#[test]
fn interop_v3_ipv6_ours_master_keepalived_backup() {
    interop_ours_master(3, "0.1", "", "2001:db8::100/128", "2001:db8::100");
}

#[test]
fn interop_v2_pass_ours_master_keepalived_backup() {
    let auth = "  authentication {\n    auth_type PASS\n    auth_pass s3cret\n  }\n";
    interop_ours_master(2, "1", auth, &format!("{VIP}/32"), VIP);
}

#[test]
fn track_interface_down_is_fault_and_up_recovers() {
    let p = Pair::new();
    let dir = TmpDir::new();
    // A second veth with both ends in a, tracked by a's instance.
    let x = unique_name("kex");
    let y = unique_name("key");
    p.a.ip(&["link", "add", &x, "type", "veth", "peer", "name", &y]);
    p.a.ip(&["link", "set", &x, "up"]);
    p.a.ip(&["link", "set", &y, "up"]);
    let track = format!("  track_interface {{\n    {x}\n  }}\n");
    let vip = format!("{VIP}/32");
    let (da, db) = elect_with(&p, &dir, 3, "0.1", [&track, ""], &vip, VIP);
    p.a.ip(&["link", "set", &x, "down"]);
    let t = wait_until(Duration::from_secs(2), || {
        p.b.has(&p.b_if, VIP) && !p.a.has(&p.a_if, VIP)
    });
    assert!(
        t.is_some(),
        "no hand-over on a tracked link down\n--- a ---\n{}\n--- b ---\n{}",
        da.log(),
        db.log()
    );
    assert!(da.log().contains("Entering FAULT STATE"), "{}", da.log());
    p.a.ip(&["link", "set", &x, "up"]);
    let t = wait_until(Duration::from_secs(3), || {
        p.a.has(&p.a_if, VIP) && !p.b.has(&p.b_if, VIP)
    });
    assert!(
        t.is_some(),
        "a did not come back (preempt) after the link came up\n--- a ---\n{}",
        da.log()
    );
}

/// The gratuitous ARPs of a new master reach the peer: with `arp_accept` on, b learns
/// VIP -> a's MAC from them alone (b never asks for the VIP).
#[test]
fn new_master_sends_gratuitous_arp() {
    let p = Pair::new();
    let dir = TmpDir::new();
    for key in ["all".to_owned(), p.b_if.clone()] {
        run(
            "ip",
            &[
                "netns",
                "exec",
                &p.b.name,
                "sysctl",
                "-qw",
                &format!("net.ipv4.conf.{key}.arp_accept=1"),
            ],
        );
    }
    let v: serde_json::Value =
        serde_json::from_str(&p.a.ip(&["-j", "link", "show", "dev", &p.a_if])).unwrap();
    let a_mac = v[0]["address"].as_str().unwrap().to_owned();
    let da = Daemon::start(&p.a, &dir, "a", &conf(&p.a_if, 3, 150, "0.1", ""));
    let learned = wait_until(Duration::from_secs(3), || {
        let v: serde_json::Value =
            serde_json::from_str(&p.b.ip(&["-j", "neigh", "show", "dev", &p.b_if])).unwrap();
        v.as_array().is_some_and(|n| {
            n.iter()
                .any(|e| e["dst"] == VIP && e["lladdr"].as_str() == Some(a_mac.as_str()))
        })
    });
    assert!(
        learned.is_some(),
        "b never learned {VIP} from a GARP\n{}\n{}",
        p.b.ip(&["neigh", "show"]),
        da.log()
    );
}
