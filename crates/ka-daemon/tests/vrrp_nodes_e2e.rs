//! End-to-end, the real `keepalived-rs` binary in network namespaces: three nodes on one
//! bridge (election by priority, failover to the next priority, the returning master
//! preempts), nopreempt and preempt_delay, the master's link going down. Interop with
//! keepalived is in vrrp_e2e.rs.
//!
//! Root; addresses from 192.0.2.0/24 and 2001:db8::/64; every wait bounded; namespaces and
//! daemons removed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{wait_until, Daemon, Lan, Pair, TmpDir};
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.100";
const LONG: Duration = Duration::from_secs(8);

fn conf(ifname: &str, version: u8, prio: u8, advert_int: &str, extra: &str, vip: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n  state BACKUP\n  interface {ifname}\n  virtual_router_id 51\n  \
         version {version}\n  priority {prio}\n  advert_int {advert_int}\n{extra}  \
         virtual_ipaddress {{\n    {vip}\n  }}\n}}\n"
    )
}

fn logs(ds: &[&Daemon]) -> String {
    ds.iter()
        .enumerate()
        .map(|(i, d)| format!("--- node {i} ---\n{}", d.log()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until exactly node `want` holds `addr`, and no other.
fn only_holder(lan: &Lan, addr: &str, want: usize, ds: &[&Daemon]) -> Duration {
    let t = wait_until(LONG, || lan.holders(addr) == vec![want]);
    assert!(
        t.is_some(),
        "expected only node {want} to hold {addr}, holders {:?}\n{}",
        lan.holders(addr),
        logs(ds)
    );
    t.unwrap()
}

/// Samples for `d`: the holders never change from `[want]`.
fn stays(lan: &Lan, addr: &str, want: usize, d: Duration, ds: &[&Daemon]) {
    let start = Instant::now();
    while start.elapsed() < d {
        let h = lan.holders(addr);
        assert_eq!(h, vec![want], "holders changed\n{}", logs(ds));
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn three_nodes(version: u8, vip: &str, addr: &str, unicast: bool) {
    let lan = Lan::new(3);
    let dir = TmpDir::new();
    let prios = [150, 120, 100];
    let unicast_lines = |i: usize| {
        if !unicast {
            return String::new();
        }
        let peers: String = (0..3)
            .filter(|&j| j != i)
            .map(|j| format!("    192.0.2.{}\n", j + 1))
            .collect();
        format!(
            "  unicast_src_ip 192.0.2.{}\n  unicast_peer {{\n{peers}  }}\n",
            i + 1
        )
    };
    let start = |i: usize| {
        Daemon::start(
            &lan.nodes[i].0,
            &dir,
            &format!(
                "n{i}-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ),
            &conf(
                &lan.nodes[i].1,
                version,
                prios[i],
                "0.1",
                &unicast_lines(i),
                vip,
            ),
        )
    };
    let mut d0 = start(0);
    let d1 = start(1);
    let d2 = start(2);
    only_holder(&lan, addr, 0, &[&d0, &d1, &d2]);
    stays(&lan, addr, 0, Duration::from_millis(600), &[&d0, &d1, &d2]);

    // The master dies: the next priority (120) takes over, the lowest stays backup.
    d0.signal("-KILL");
    let _ = d0.wait_exit(Duration::from_secs(2));
    // kill -9 leaves the VIP configured on node 0 (an IPv6 one goes with the link): the
    // host is gone, as after a crash and reboot: cable out, address flushed.
    lan.nodes[0].0.ip(&["link", "set", &lan.nodes[0].1, "down"]);
    if lan.nodes[0].0.has(&lan.nodes[0].1, addr) {
        lan.nodes[0]
            .0
            .ip(&["addr", "del", vip, "dev", &lan.nodes[0].1]);
    }
    let t = only_holder(&lan, addr, 1, &[&d0, &d1, &d2]);
    eprintln!("three nodes, v{version}: node 1 took over {t:?} after the kill");
    stays(&lan, addr, 1, Duration::from_millis(600), &[&d0, &d1, &d2]);
    assert!(d2.log().contains("Entering BACKUP STATE"), "{}", d2.log());
    assert!(!d2.log().contains("Entering MASTER STATE"), "{}", d2.log());

    // Node 0 returns (preempt is the default): it takes the VIP back from node 1.
    lan.nodes[0].0.ip(&["link", "set", &lan.nodes[0].1, "up"]);
    common::wait_link_local(&lan.nodes[0].0, &lan.nodes[0].1);
    let d0b = start(0);
    only_holder(&lan, addr, 0, &[&d0b, &d1, &d2]);
    assert!(
        d1.log().contains("Entering BACKUP STATE"),
        "node 1 did not step down\n{}",
        d1.log()
    );
}

#[test]
fn three_nodes_v3_ipv4_multicast_failover_and_preemption() {
    three_nodes(3, &format!("{VIP}/32"), VIP, false);
}

#[test]
fn three_nodes_v3_ipv6_multicast_failover_and_preemption() {
    three_nodes(3, "2001:db8::100/128", "2001:db8::100", false);
}

#[test]
fn three_nodes_v2_ipv4_unicast_failover_and_preemption() {
    three_nodes(2, &format!("{VIP}/32"), VIP, true);
}

/// b (100) is master; a (150) starts with `extra` and must not take over at once.
fn late_higher_priority(extra: &str) -> (Pair, TmpDir, Daemon, Daemon) {
    let p = Pair::new();
    let dir = TmpDir::new();
    let db = Daemon::start(
        &p.b,
        &dir,
        "b",
        &conf(&p.b_if, 3, 100, "0.1", "", &format!("{VIP}/32")),
    );
    assert!(
        wait_until(LONG, || p.b.has(&p.b_if, VIP)).is_some(),
        "b never became master\n{}",
        db.log()
    );
    let da = Daemon::start(
        &p.a,
        &dir,
        "a",
        &conf(&p.a_if, 3, 150, "0.1", extra, &format!("{VIP}/32")),
    );
    (p, dir, da, db)
}

#[test]
fn nopreempt_higher_priority_stays_backup_until_the_master_goes() {
    let (p, _dir, da, mut db) = late_higher_priority("  nopreempt\n");
    // Many Master_Down_Intervals (0.36 s at 0.1 s): a hears b and stays backup.
    let t = wait_until(LONG, || da.log().contains("Entering BACKUP STATE"));
    assert!(t.is_some(), "a never entered backup\n{}", da.log());
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        assert!(
            p.b.has(&p.b_if, VIP) && !p.a.has(&p.a_if, VIP),
            "nopreempt: a took over\n--- a ---\n{}\n--- b ---\n{}",
            da.log(),
            db.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    db.signal("-TERM");
    assert_eq!(
        db.wait_exit(Duration::from_secs(3)),
        Some(0),
        "{}",
        db.log()
    );
    assert!(
        wait_until(LONG, || p.a.has(&p.a_if, VIP)).is_some(),
        "a did not take over when b stopped\n{}",
        da.log()
    );
}

#[test]
fn preempt_delay_postpones_the_take_over() {
    let (p, _dir, da, db) = late_higher_priority("  preempt_delay 2\n");
    // a has been running for less than 0.8 s, well within its 2 s preempt_delay (a lower
    // bound: a loaded machine only makes a later): b keeps the VIP.
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        p.b.has(&p.b_if, VIP) && !p.a.has(&p.a_if, VIP),
        "a preempted within its preempt_delay\n--- a ---\n{}\n--- b ---\n{}",
        da.log(),
        db.log()
    );
    // After the delay a preempts and b steps down.
    assert!(
        wait_until(LONG, || p.a.has(&p.a_if, VIP) && !p.b.has(&p.b_if, VIP)).is_some(),
        "a never preempted\n--- a ---\n{}\n--- b ---\n{}",
        da.log(),
        db.log()
    );
}

#[test]
fn master_link_down_backup_takes_over_and_master_returns() {
    // A bridge between them: a's cable going down leaves b's link up.
    let lan = Lan::new(2);
    let [(a, a_if), (b, b_if)] = &lan.nodes[..] else {
        unreachable!()
    };
    let dir = TmpDir::new();
    let vip = format!("{VIP}/32");
    let da = Daemon::start(a, &dir, "a", &conf(a_if, 3, 150, "0.1", "", &vip));
    let db = Daemon::start(b, &dir, "b", &conf(b_if, 3, 100, "0.1", "", &vip));
    assert!(
        wait_until(LONG, || a.has(a_if, VIP)).is_some(),
        "a never became master\n{}",
        da.log()
    );
    a.ip(&["link", "set", a_if, "down"]);
    let t = wait_until(LONG, || b.has(b_if, VIP));
    assert!(t.is_some(), "b did not take over\n{}", db.log());
    eprintln!("link down: b took over {:?} after", t.unwrap());
    // a's own interface is down: its instance is in FAULT and holds no VIP.
    assert!(
        wait_until(LONG, || da.log().contains("Entering FAULT STATE")).is_some(),
        "{}",
        da.log()
    );
    assert!(!a.has(a_if, VIP));
    a.ip(&["link", "set", a_if, "up"]);
    common::wait_link_local(a, a_if);
    assert!(
        wait_until(LONG, || a.has(a_if, VIP) && !b.has(b_if, VIP)).is_some(),
        "a did not come back as master\n--- a ---\n{}\n--- b ---\n{}",
        da.log(),
        db.log()
    );
}
