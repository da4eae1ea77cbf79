//! End-to-end: reload (SIGHUP) of the real `keepalived-rs` binary while it is master, two
//! nodes in network namespaces joined by a veth pair. The evidence comes from the wire (a
//! tcpdump capture on the backup's side, decoded with ka-wire: priorities, VRIDs,
//! addresses, gaps between adverts, GARPs), from the VIP table (`ip -j addr`, sampled
//! through the reload) and from the daemons' logs.
//!
//! Runs as root (as CI does). Names are unique (pid + counter), addresses come from
//! 192.0.2.0/24 only, namespaces, daemons and tcpdump are removed on drop (also on panic)
//! by PID, every wait is bounded. advert_int is 1 s, so a loaded machine has 3.6 s of
//! slack before a backup could take over; the assertions look at what happened (who sent
//! what), not at how fast.
// Test support: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{wait_until, Daemon, Netns, Pair, TmpDir};

const VIP1: &str = "192.0.2.100";
const VIP2: &str = "192.0.2.101";
const VIP3: &str = "192.0.2.102";
const A_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// One `vrrp_instance` block (v3, advert_int 1 s, no delayed GARP burst so any GARP after
/// a reload is the reload's).
fn instance(name: &str, ifname: &str, vrid: u8, prio: u8, vips: &[&str]) -> String {
    let vips: String = vips.iter().map(|v| format!("    {v}/32\n")).collect();
    format!(
        "vrrp_instance {name} {{\n  state BACKUP\n  interface {ifname}\n  \
         virtual_router_id {vrid}\n  version 3\n  priority {prio}\n  advert_int 1\n  \
         garp_master_delay 0\n  virtual_ipaddress {{\n{vips}  }}\n}}\n"
    )
}

fn now_us() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap()
}

/// A VRRP advert or a gratuitous ARP seen on the wire.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Advert {
        at_us: u64,
        src: IpAddr,
        vrid: u8,
        priority: u8,
        addrs: Vec<IpAddr>,
    },
    Garp {
        at_us: u64,
        addr: Ipv4Addr,
    },
}

/// `tcpdump -w` in a namespace (VRRP and ARP on one interface); stopped by PID.
struct Capture {
    child: Child,
    file: PathBuf,
    stderr: PathBuf,
}

impl Capture {
    fn start(ns: &Netns, ifname: &str, dir: &TmpDir, tag: &str) -> Capture {
        let file = dir.0.join(format!("{tag}.pcap"));
        let stderr = dir.0.join(format!("{tag}.tcpdump.err"));
        let child = Command::new("ip")
            .args([
                "netns", "exec", &ns.name, "tcpdump", "-i", ifname, "-n", "-U",
            ])
            .arg("-w")
            .arg(&file)
            .args(["ip proto 112 or arp"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("tcpdump must be installed (Debian package tcpdump)");
        let cap = Capture {
            child,
            file,
            stderr,
        };
        let ready = wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(&cap.stderr)
                .unwrap_or_default()
                .contains("listening on")
        });
        assert!(
            ready.is_some(),
            "tcpdump did not start: {}",
            std::fs::read_to_string(&cap.stderr).unwrap_or_default()
        );
        cap
    }

    /// Stops tcpdump (SIGINT flushes the file) and decodes what it saw.
    fn stop(mut self) -> Vec<Seen> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .output();
        let done = wait_until(Duration::from_secs(5), || {
            self.child.try_wait().ok().flatten().is_some()
        });
        assert!(done.is_some(), "tcpdump did not stop");
        let bytes = std::fs::read(&self.file).unwrap();
        decode(&bytes)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn decode(bytes: &[u8]) -> Vec<Seen> {
    use ka_wire::pcap::{link_payload, Pcap};
    let pcap = Pcap::parse(bytes).unwrap();
    let mut out = Vec::new();
    for rec in pcap.records() {
        let rec = rec.unwrap();
        let Ok(l) = link_payload(pcap.link_type, rec.data) else {
            continue;
        };
        match l.ethertype {
            0x0800 => {
                let Ok(ip) = ka_wire::ip::parse_vrrp_ip(l.payload) else {
                    continue;
                };
                let Ok(p) = ip.decode() else {
                    continue;
                };
                out.push(Seen::Advert {
                    at_us: rec.micros(),
                    src: ip.src,
                    vrid: p.vrid,
                    priority: p.priority,
                    addrs: p.addrs,
                });
            }
            // ARP request for IPv4 over Ethernet: sender IP at 14..18, target at 24..28;
            // a gratuitous one has both equal.
            0x0806 => {
                let (Some(spa), Some(tpa)) = (l.payload.get(14..18), l.payload.get(24..28)) else {
                    continue;
                };
                if spa == tpa {
                    out.push(Seen::Garp {
                        at_us: rec.micros(),
                        addr: Ipv4Addr::new(spa[0], spa[1], spa[2], spa[3]),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

fn adverts_from(seen: &[Seen], src: Ipv4Addr, vrid: u8) -> Vec<(u64, u8, Vec<IpAddr>)> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Advert {
                at_us,
                src: s,
                vrid: v,
                priority,
                addrs,
            } if *s == IpAddr::V4(src) && *v == vrid => Some((*at_us, *priority, addrs.clone())),
            _ => None,
        })
        .collect()
}

fn garps_after(seen: &[Seen], since_us: u64) -> Vec<Ipv4Addr> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Garp { at_us, addr } if *at_us >= since_us => Some(*addr),
            _ => None,
        })
        .collect()
}

fn count(log: &str, pat: &str) -> usize {
    log.matches(pat).count()
}

/// Starts a with `a_conf` and b with `b_conf`; waits until a holds every VIP of `vips`
/// and checks b holds none.
fn elect(p: &Pair, dir: &TmpDir, a_conf: &str, b_conf: &str, vips: &[&str]) -> (Daemon, Daemon) {
    let da = Daemon::start(&p.a, dir, "a", a_conf);
    let db = Daemon::start(&p.b, dir, "b", b_conf);
    let t = wait_until(Duration::from_secs(15), || {
        vips.iter().all(|v| p.a.has(&p.a_if, v))
    });
    assert!(
        t.is_some(),
        "a never became master\n--- a ---\n{}\n--- b ---\n{}",
        da.log(),
        db.log()
    );
    assert!(
        vips.iter().all(|v| !p.b.has(&p.b_if, v)),
        "b holds a VIP too\n--- b ---\n{}",
        db.log()
    );
    (da, db)
}

/// Sends SIGHUP to `d` and waits (bounded) for its `n`-th reload outcome in the log.
fn hup(d: &Daemon, n: usize) -> String {
    d.signal("-HUP");
    let done = wait_until(Duration::from_secs(10), || {
        let log = d.log();
        count(&log, "reload done") + count(&log, "reload refused") >= n
    });
    assert!(done.is_some(), "no reload outcome logged\n{}", d.log());
    d.log()
}

/// Samples the VIP tables for `d`: `on_a` must stay on a, nothing of `never_b` on b.
fn watch(p: &Pair, d: Duration, on_a: &[&str], never_b: &[&str]) {
    let start = std::time::Instant::now();
    while start.elapsed() < d {
        for v in on_a {
            assert!(p.a.has(&p.a_if, v), "{v} left a during the reload");
        }
        for v in never_b {
            assert!(!p.b.has(&p.b_if, v), "{v} appeared on b during the reload");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reload of an unchanged instance while master (twice, once with the identical file,
/// once with another instance's VIP added): no flap. On the wire, every advert of VRID
/// 51 comes from a, at priority 150, never priority 0, with no gap longer than 1.9 s
/// (advert_int 1 s; the backup's Master_Down_Interval is 3.6 s), no GARP for its VIP
/// after the reload; b never sends an advert; the VIP stays on a and never appears on b;
/// a enters MASTER once.
#[test]
fn reload_while_master_unchanged_instance_does_not_flap() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let a1 = instance("VI_1", &p.a_if, 51, 150, &[VIP1]);
    let a2 = instance("VI_2", &p.a_if, 52, 150, &[VIP2]);
    let b1 = instance("VI_1", &p.b_if, 51, 100, &[VIP1]);
    let b2 = instance("VI_2", &p.b_if, 52, 100, &[VIP2]);
    let (da, db) = elect(
        &p,
        &dir,
        &format!("{a1}{a2}"),
        &format!("{b1}{b2}"),
        &[VIP1, VIP2],
    );
    let cap = Capture::start(&p.b, &p.b_if, &dir, "unchanged");
    watch(
        &p,
        Duration::from_millis(1500),
        &[VIP1, VIP2],
        &[VIP1, VIP2],
    );
    let t_reload = now_us();
    let log = hup(&da, 1);
    assert!(log.contains("reload done: 2 unchanged"), "{log}");
    watch(
        &p,
        Duration::from_millis(1500),
        &[VIP1, VIP2],
        &[VIP1, VIP2],
    );
    // Second reload: VI_1 unchanged, VI_2 gets a VIP.
    let a2b = instance("VI_2", &p.a_if, 52, 150, &[VIP2, VIP3]);
    std::fs::write(dir.0.join("a.conf"), format!("{a1}{a2b}")).unwrap();
    let log = hup(&da, 2);
    assert!(
        log.contains("reload done: 1 unchanged; changed VI_2 (vips)"),
        "{log}"
    );
    watch(
        &p,
        Duration::from_millis(2500),
        &[VIP1, VIP2, VIP3],
        &[VIP1],
    );
    let seen = cap.stop();

    let ads = adverts_from(&seen, A_ADDR, 51);
    assert!(ads.len() >= 4, "too few adverts captured: {seen:?}");
    assert!(
        ads.iter()
            .all(|(_, prio, addrs)| *prio == 150 && addrs.len() == 1),
        "{ads:?}"
    );
    let max_gap = ads.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap();
    eprintln!(
        "{} adverts of VRID 51 from a across two reloads, longest gap {max_gap} us",
        ads.len()
    );
    assert!(max_gap < 1_900_000, "advert gap {max_gap} us: {ads:?}");
    assert!(ads.first().unwrap().0 < t_reload && ads.last().unwrap().0 > t_reload);
    assert!(adverts_from(&seen, B_ADDR, 51).is_empty(), "b advertised");
    assert!(adverts_from(&seen, B_ADDR, 52).is_empty(), "b advertised");
    let vip1: Ipv4Addr = VIP1.parse().unwrap();
    let garps = garps_after(&seen, t_reload);
    assert!(
        !garps.contains(&vip1),
        "GARP for the unchanged VIP: {garps:?}"
    );
    // The added VIP was announced (garp_master_repeat 5), only it.
    let vip3: Ipv4Addr = VIP3.parse().unwrap();
    assert_eq!(garps.iter().filter(|a| **a == vip3).count(), 5, "{garps:?}");
    assert!(garps.iter().all(|a| *a == vip3), "{garps:?}");
    let log = da.log();
    assert_eq!(count(&log, "(VI_1) Entering MASTER STATE"), 1, "{log}");
    assert_eq!(count(&log, "Entering BACKUP STATE"), 2, "{log}");
    assert_eq!(count(&db.log(), "Entering MASTER STATE"), 0, "{}", db.log());
}

/// Reload adding a VIP to the master's instance: the new VIP appears on a without a
/// state change, the old one stays, b never holds either; a's next adverts carry both
/// addresses (RFC 5798 section 5.2.9) and none has priority 0.
#[test]
fn reload_adding_a_vip_puts_it_on_the_master_without_state_change() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let (da, db) = elect(
        &p,
        &dir,
        &instance("VI_1", &p.a_if, 51, 150, &[VIP1]),
        &instance("VI_1", &p.b_if, 51, 100, &[VIP1]),
        &[VIP1],
    );
    let cap = Capture::start(&p.b, &p.b_if, &dir, "addvip");
    std::fs::write(
        dir.0.join("a.conf"),
        instance("VI_1", &p.a_if, 51, 150, &[VIP1, VIP3]),
    )
    .unwrap();
    let t_reload = now_us();
    let log = hup(&da, 1);
    assert!(
        log.contains("reload done: 0 unchanged; changed VI_1 (vips)"),
        "{log}"
    );
    let t = wait_until(Duration::from_secs(5), || p.a.has(&p.a_if, VIP3));
    assert!(t.is_some(), "the new VIP never appeared on a\n{}", da.log());
    watch(
        &p,
        Duration::from_millis(2500),
        &[VIP1, VIP3],
        &[VIP1, VIP3],
    );
    let seen = cap.stop();
    let ads = adverts_from(&seen, A_ADDR, 51);
    assert!(ads.iter().all(|(_, prio, _)| *prio == 150), "{ads:?}");
    let after: Vec<_> = ads.iter().filter(|(t, _, _)| *t > t_reload).collect();
    assert!(after.len() >= 2, "{ads:?}");
    let both: Vec<IpAddr> = vec![VIP1.parse().unwrap(), VIP3.parse().unwrap()];
    assert_eq!(after.last().unwrap().2, both, "{ads:?}");
    assert!(adverts_from(&seen, B_ADDR, 51).is_empty(), "b advertised");
    assert_eq!(count(&da.log(), "Entering MASTER STATE"), 1, "{}", da.log());
    assert_eq!(count(&db.log(), "Entering MASTER STATE"), 0, "{}", db.log());
}

/// Reload with a configuration error: nothing changes, the daemon keeps running the old
/// configuration and logs why, with file:line:col; a later good reload still works.
#[test]
fn reload_with_a_config_error_keeps_the_old_configuration() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let good = instance("VI_1", &p.a_if, 51, 150, &[VIP1]);
    let (mut da, _db) = elect(
        &p,
        &dir,
        &good,
        &instance("VI_1", &p.b_if, 51, 100, &[VIP1]),
        &[VIP1],
    );
    // Line 4 of the file: virtual_router_id out of range; also a VIP change that must
    // not be applied.
    let bad = instance("VI_1", &p.a_if, 51, 150, &[VIP1, VIP3])
        .replace("virtual_router_id 51", "virtual_router_id 300");
    std::fs::write(dir.0.join("a.conf"), &bad).unwrap();
    let log = hup(&da, 1);
    let conf = dir.0.join("a.conf");
    let loc = format!("{}:4:21", conf.display());
    assert!(log.contains("reload refused"), "{log}");
    assert!(log.contains(&loc), "no {loc} in the log:\n{log}");
    assert!(log.contains("300 is out of range"), "{log}");
    watch(&p, Duration::from_millis(2500), &[VIP1], &[VIP1, VIP3]);
    assert!(
        !p.a.has(&p.a_if, VIP3),
        "the refused configuration was applied"
    );
    assert_eq!(da.wait_exit(Duration::ZERO), None, "the daemon stopped");
    // Fixed: the VIP change now applies.
    std::fs::write(
        &conf,
        bad.replace("virtual_router_id 300", "virtual_router_id 51"),
    )
    .unwrap();
    let log = hup(&da, 2);
    assert!(log.contains("reload done"), "{log}");
    let t = wait_until(Duration::from_secs(5), || p.a.has(&p.a_if, VIP3));
    assert!(t.is_some(), "{}", da.log());
    assert_eq!(count(&da.log(), "Entering MASTER STATE"), 1, "{}", da.log());
}

/// Reload removing an instance: a sends priority 0 for it (RFC 5798 section 6.4.3
/// Shutdown, keepalived's clear_diff_vrrp) and releases its VIP, b takes that VIP; the
/// other instance stays master on a (no priority 0 for it, its VIP never moves).
#[test]
fn reload_removing_an_instance_releases_its_vip() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let a1 = instance("VI_1", &p.a_if, 51, 150, &[VIP1]);
    let a2 = instance("VI_2", &p.a_if, 52, 150, &[VIP2]);
    let (da, db) = elect(
        &p,
        &dir,
        &format!("{a1}{a2}"),
        &format!(
            "{}{}",
            instance("VI_1", &p.b_if, 51, 100, &[VIP1]),
            instance("VI_2", &p.b_if, 52, 100, &[VIP2])
        ),
        &[VIP1, VIP2],
    );
    let cap = Capture::start(&p.b, &p.b_if, &dir, "remove");
    std::fs::write(dir.0.join("a.conf"), &a1).unwrap();
    let log = hup(&da, 1);
    assert!(
        log.contains("reload done: 1 unchanged; removed VI_2"),
        "{log}"
    );
    let t = wait_until(Duration::from_secs(5), || {
        !p.a.has(&p.a_if, VIP2) && p.b.has(&p.b_if, VIP2)
    });
    assert!(
        t.is_some(),
        "VI_2's VIP did not move to b\n--- a ---\n{}\n--- b ---\n{}",
        da.log(),
        db.log()
    );
    watch(&p, Duration::from_millis(2000), &[VIP1], &[VIP1]);
    let seen = cap.stop();
    let ads2 = adverts_from(&seen, A_ADDR, 52);
    assert_eq!(
        ads2.iter().filter(|(_, prio, _)| *prio == 0).count(),
        1,
        "{ads2:?}"
    );
    assert!(
        adverts_from(&seen, A_ADDR, 51)
            .iter()
            .all(|(_, prio, _)| *prio == 150),
        "VI_1 flapped"
    );
    assert!(
        adverts_from(&seen, B_ADDR, 51).is_empty(),
        "b advertised VI_1"
    );
    assert!(
        !adverts_from(&seen, B_ADDR, 52).is_empty(),
        "b never took VI_2"
    );
    assert!(db.log().contains("PriorityZeroReceived"), "{}", db.log());
    assert!(
        da.log()
            .contains("(VI_2) Entering INIT STATE (Reload, was MASTER)"),
        "{}",
        da.log()
    );
}

/// Reload adding an IPv6 instance: the daemon opens its IPv6 VRRP socket and joins
/// ff02::12 at the reload, the new instance starts as BACKUP, hears b's lower priority
/// adverts and preempts (RFC 5798 section 6.4.2); the IPv4 instance is untouched. A second
/// reload removes it again: priority 0, b takes the IPv6 VIP back, the socket is closed.
#[test]
fn reload_adding_and_removing_an_ipv6_instance_opens_and_closes_its_socket() {
    let p = Pair::new();
    let dir = TmpDir::new();
    const VIP6: &str = "2001:db8::100";
    let v6 = |ifname: &str, prio: u8| {
        format!(
            "vrrp_instance VI_6 {{\n  state BACKUP\n  interface {ifname}\n  \
             virtual_router_id 60\n  version 3\n  priority {prio}\n  advert_int 1\n  \
             virtual_ipaddress {{\n    {VIP6}/128\n  }}\n}}\n"
        )
    };
    let a1 = instance("VI_1", &p.a_if, 51, 150, &[VIP1]);
    let (da, db) = elect(
        &p,
        &dir,
        &a1,
        &format!(
            "{}{}",
            instance("VI_1", &p.b_if, 51, 100, &[VIP1]),
            v6(&p.b_if, 100)
        ),
        &[VIP1],
    );
    let t = wait_until(Duration::from_secs(15), || p.b.has(&p.b_if, VIP6));
    assert!(t.is_some(), "b never took the IPv6 VIP\n{}", db.log());
    std::fs::write(dir.0.join("a.conf"), format!("{a1}{}", v6(&p.a_if, 150))).unwrap();
    let log = hup(&da, 1);
    assert!(
        log.contains("reload done: 1 unchanged; added VI_6"),
        "{log}"
    );
    let t = wait_until(Duration::from_secs(15), || {
        p.a.has(&p.a_if, VIP6) && !p.b.has(&p.b_if, VIP6)
    });
    assert!(
        t.is_some(),
        "a did not preempt the IPv6 instance\n--- a ---\n{}\n--- b ---\n{}",
        da.log(),
        db.log()
    );
    assert!(p.a.has(&p.a_if, VIP1) && !p.b.has(&p.b_if, VIP1));
    std::fs::write(dir.0.join("a.conf"), &a1).unwrap();
    let log = hup(&da, 2);
    assert!(
        log.contains("reload done: 1 unchanged; removed VI_6"),
        "{log}"
    );
    assert!(log.contains("closed the VRRP IPv6 socket"), "{log}");
    let t = wait_until(Duration::from_secs(5), || {
        !p.a.has(&p.a_if, VIP6) && p.b.has(&p.b_if, VIP6)
    });
    assert!(
        t.is_some(),
        "b did not take the IPv6 VIP back\n{}",
        db.log()
    );
    watch(&p, Duration::from_millis(1000), &[VIP1], &[VIP1]);
    let log = da.log();
    assert_eq!(count(&log, "(VI_1) Entering MASTER STATE"), 1, "{log}");
    assert_eq!(count(&log, "(VI_6) Entering MASTER STATE"), 1, "{log}");
}
