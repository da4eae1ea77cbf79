//! End-to-end: the network side of the daemon with the real binary in namespaces:
//! virtual routes and rules following the master, static addresses/routes/rules,
//! `use_vmac` (interface, MAC, VIP, adverts from the virtual MAC), a client's neighbour
//! entry after failover (three namespaces on a bridge), no_accept blocking (nftables),
//! and interop with FRR's vrrpd (Debian `frr`).
//!
//! Runs as root (as CI does). Names are unique (pid + counter), addresses come from
//! 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24 only, everything is removed on drop
//! (daemons by PID), every wait is bounded.
// Test support: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ip, run, unique_name, wait_until, Daemon, Netns, Pair, TmpDir};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const VIP: &str = "192.0.2.100";
const VMAC: &str = "00:00:5e:00:01:33";
const VIP6: &str = "2001:db8::100";
const VMAC6: &str = "00:00:5e:00:02:33";
const LONG: Duration = Duration::from_secs(10);

fn instance(ifname: &str, prio: u8, extra: &str) -> String {
    instance_vip(ifname, prio, extra, &format!("{VIP}/24"))
}

fn instance_vip(ifname: &str, prio: u8, extra: &str, vip: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n  state BACKUP\n  interface {ifname}\n  virtual_router_id 51\n  \
         version 3\n  priority {prio}\n  advert_int 0.1\n{extra}  \
         virtual_ipaddress {{\n    {vip}\n  }}\n}}\n"
    )
}

/// `ip route show ARGS` in `ns` is not empty.
/// (A table that does not exist yet has no routes.)
fn has_route(ns: &Netns, args: &[&str]) -> bool {
    let out = Command::new("ip")
        .args(["-n", &ns.name, "route", "show"])
        .args(args)
        .output()
        .unwrap();
    out.status.success() && !String::from_utf8_lossy(&out.stdout).trim().is_empty()
}

/// A rule with this priority exists in `ns`.
fn has_rule(ns: &Netns, prio: u32) -> bool {
    let v: serde_json::Value = serde_json::from_str(&ns.ip(&["-j", "rule", "show"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .any(|r| r["priority"].as_u64() == Some(u64::from(prio)))
}

fn link_json(ns: &Netns, ifname: &str) -> Option<serde_json::Value> {
    let out = Command::new("ip")
        .args(["-n", &ns.name, "-j", "-d", "link", "show", "dev", ifname])
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v.get(0).cloned()
}

/// `ifname` in `ns` exists and carries `addr` (false while it does not exist).
fn has_addr(ns: &Netns, ifname: &str, addr: &str) -> bool {
    link_json(ns, ifname).is_some() && ns.has(ifname, addr)
}

fn sysctl(ns: &Netns, key: &str) -> String {
    run("ip", &["netns", "exec", &ns.name, "sysctl", "-n", key])
        .trim()
        .to_owned()
}

#[test]
fn virtual_routes_and_rules_follow_the_master() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let extra = "  virtual_routes {\n    198.51.100.0/24 via 192.0.2.254 dev IF metric 7\n    \
                 blackhole 203.0.113.0/24 table 100\n  }\n  \
                 virtual_rules {\n    from 192.0.2.100/32 table 100 priority 100\n    \
                 to 203.0.113.0/24 fwmark 0x7/0xff priority 101 table 100\n  }\n";
    // VIP attributes too: label, broadcast (a scope other than the primary's is refused
    // by the kernel in the same subnet; the static test covers scope).
    let vip = |i: &str| format!("{VIP}/24 brd 192.0.2.255 label {i}:v");
    let mut da = Daemon::start(
        &p.a,
        &dir,
        "a",
        &instance_vip(&p.a_if, 150, &extra.replace("IF", &p.a_if), &vip(&p.a_if)),
    );
    let db = Daemon::start(
        &p.b,
        &dir,
        "b",
        &instance_vip(&p.b_if, 100, &extra.replace("IF", &p.b_if), &vip(&p.b_if)),
    );
    let logs =
        |da: &Daemon, db: &Daemon| format!("--- a ---\n{}\n--- b ---\n{}", da.log(), db.log());
    let all = |ns: &Netns| {
        has_route(ns, &["198.51.100.0/24", "metric", "7"])
            && has_route(ns, &["table", "100", "203.0.113.0/24"])
            && has_rule(ns, 100)
            && has_rule(ns, 101)
    };
    let none = |ns: &Netns| {
        !has_route(ns, &["198.51.100.0/24"])
            && !has_route(ns, &["table", "100", "203.0.113.0/24"])
            && !has_rule(ns, 100)
            && !has_rule(ns, 101)
    };
    assert!(
        wait_until(LONG, || all(&p.a)).is_some(),
        "routes/rules never appeared on the master\n{}",
        logs(&da, &db)
    );
    let addr = p.a.ip(&["addr", "show", "dev", &p.a_if]);
    assert!(
        addr.contains(&format!(
            "inet {VIP}/24 brd 192.0.2.255 scope global secondary {}:v",
            p.a_if
        )),
        "VIP attributes not applied: {addr}\n{}",
        da.log()
    );
    // The kernel got every attribute: gateway, device, metric, proto keepalived, type.
    let r = p.a.ip(&["route", "show", "198.51.100.0/24"]);
    assert!(
        r.contains("via 192.0.2.254")
            && r.contains(&format!("dev {}", p.a_if))
            && r.contains("proto keepalived")
            && r.contains("metric 7"),
        "{r}"
    );
    let r = p.a.ip(&["route", "show", "table", "100"]);
    assert!(r.contains("blackhole 203.0.113.0/24"), "{r}");
    let rules = p.a.ip(&["rule", "show"]);
    assert!(
        rules.contains("100:\tfrom 192.0.2.100 lookup 100 proto keepalived"),
        "{rules}"
    );
    assert!(
        rules.contains("101:\tfrom all to 203.0.113.0/24 fwmark 0x7/0xff lookup 100"),
        "{rules}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(none(&p.b), "the backup has them\n{}", logs(&da, &db));

    // Failover: SIGTERM the master; they move to b and leave a.
    da.signal("-TERM");
    assert_eq!(da.wait_exit(LONG), Some(0), "{}", da.log());
    assert!(
        wait_until(LONG, || all(&p.b)).is_some(),
        "routes/rules never moved to the new master\n{}",
        logs(&da, &db)
    );
    assert!(none(&p.a), "the stopped node kept them\n{}", da.log());
}

#[test]
fn static_items_installed_at_start_removed_at_stop_and_foreign_ones_left_alone() {
    let p = Pair::new();
    let dir = TmpDir::new();
    // Already there before the daemon starts: not ours, so it stays after stop.
    p.a.ip(&["route", "add", "198.51.100.64/26", "via", "192.0.2.2"]);
    let conf = format!(
        "static_ipaddress {{\n  198.51.100.7/32 dev {i} scope host\n  \
         203.0.113.9/24 dev {i} brd +\n}}\n\
         static_routes {{\n  198.51.100.128/25 via 192.0.2.2 dev {i} table 200\n  \
         198.51.100.64/26 via 192.0.2.2\n}}\n\
         static_rules {{\n  to 198.51.100.128/25 table 200 priority 300\n}}\n{}",
        instance(&p.a_if, 150, ""),
        i = p.a_if
    );
    let mut d = Daemon::start(&p.a, &dir, "a", &conf);
    let installed = || {
        p.a.has(&p.a_if, "198.51.100.7")
            && p.a.has(&p.a_if, "203.0.113.9")
            && has_route(&p.a, &["table", "200", "198.51.100.128/25"])
            && has_rule(&p.a, 300)
    };
    assert!(
        wait_until(LONG, installed).is_some(),
        "static items never installed\n{}",
        d.log()
    );
    let addr = p.a.ip(&["addr", "show", "dev", &p.a_if]);
    assert!(
        addr.contains("inet 198.51.100.7/32 scope host"),
        "scope not applied: {addr}"
    );
    assert!(
        addr.contains("inet 203.0.113.9/24 brd 203.0.113.255"),
        "brd + not applied: {addr}"
    );
    d.signal("-TERM");
    assert_eq!(d.wait_exit(LONG), Some(0), "{}", d.log());
    assert!(!p.a.has(&p.a_if, "198.51.100.7"), "{}", d.log());
    assert!(!p.a.has(&p.a_if, "203.0.113.9"), "{}", d.log());
    assert!(!has_route(&p.a, &["table", "200", "198.51.100.128/25"]));
    assert!(!has_rule(&p.a, 300));
    assert!(
        has_route(&p.a, &["198.51.100.64/26"]),
        "a route that existed before the daemon was removed\n{}",
        d.log()
    );
}

/// Three namespaces on a bridge (in `c`): a (192.0.2.1) and b (192.0.2.2) run VRRP, c
/// (192.0.2.3) is the client.
struct Lan {
    a: Netns,
    b: Netns,
    c: Netns,
    a_if: String,
    b_if: String,
    br: String,
}

impl Lan {
    fn new() -> Lan {
        assert!(
            Command::new("ping").arg("-V").output().is_ok(),
            "ping missing: install the Debian package iputils-ping"
        );
        let a = Netns::new();
        let b = Netns::new();
        let c = Netns::new();
        let br = unique_name("kbr");
        c.ip(&["link", "add", &br, "type", "bridge"]);
        let lan = Lan {
            a_if: unique_name("kla"),
            b_if: unique_name("klb"),
            a,
            b,
            c,
            br,
        };
        for (ns, ifname, addr) in [
            (&lan.a, &lan.a_if, "192.0.2.1/24"),
            (&lan.b, &lan.b_if, "192.0.2.2/24"),
        ] {
            let port = unique_name("klp");
            ip(&[
                "link",
                "add",
                ifname,
                "netns",
                &ns.name,
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                &lan.c.name,
            ]);
            lan.c.ip(&["link", "set", &port, "master", &lan.br, "up"]);
            ns.ip(&["addr", "add", addr, "dev", ifname]);
            ns.ip(&["link", "set", ifname, "up"]);
        }
        lan.c.ip(&["addr", "add", "192.0.2.3/24", "dev", &lan.br]);
        lan.c.ip(&["link", "set", &lan.br, "up"]);
        lan
    }

    fn mac(ns: &Netns, ifname: &str) -> String {
        link_json(ns, ifname).unwrap()["address"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// One ping from the client to the VIP (1 s deadline).
    fn ping_vip(&self) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.c.name,
                "ping",
                "-c",
                "1",
                "-W",
                "1",
                VIP,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The client's neighbour entry for the VIP (its link-layer address).
    fn neigh(&self) -> Option<String> {
        let v: serde_json::Value =
            serde_json::from_str(&self.c.ip(&["-j", "neigh", "show", VIP])).unwrap();
        v.get(0)?.get("lladdr")?.as_str().map(str::to_owned)
    }
}

fn client_neighbour_follows(use_vmac: bool) {
    let lan = Lan::new();
    let dir = TmpDir::new();
    let extra = if use_vmac { "  use_vmac\n" } else { "" };
    let mut da = Daemon::start(&lan.a, &dir, "a", &instance(&lan.a_if, 150, extra));
    let db = Daemon::start(&lan.b, &dir, "b", &instance(&lan.b_if, 100, extra));
    let logs =
        |da: &Daemon, db: &Daemon| format!("--- a ---\n{}\n--- b ---\n{}", da.log(), db.log());
    let vip_if = |ns_if: &str| {
        if use_vmac {
            "vrrp.51".to_owned()
        } else {
            ns_if.to_owned()
        }
    };
    assert!(
        wait_until(LONG, || has_addr(&lan.a, &vip_if(&lan.a_if), VIP)).is_some(),
        "a never became master\n{}",
        logs(&da, &db)
    );
    let (mac_a, mac_b) = if use_vmac {
        (VMAC.to_owned(), VMAC.to_owned())
    } else {
        (Lan::mac(&lan.a, &lan.a_if), Lan::mac(&lan.b, &lan.b_if))
    };
    assert!(
        wait_until(LONG, || lan.ping_vip()).is_some(),
        "the client cannot reach the VIP on a\n{}",
        logs(&da, &db)
    );
    assert_eq!(lan.neigh().as_deref(), Some(mac_a.as_str()));

    da.signal("-TERM");
    assert_eq!(da.wait_exit(LONG), Some(0), "{}", da.log());
    assert!(
        wait_until(LONG, || has_addr(&lan.b, &vip_if(&lan.b_if), VIP)).is_some(),
        "b never took over\n{}",
        logs(&da, &db)
    );
    // The new master's gratuitous ARPs update the client's entry (no new ARP needed).
    assert!(
        wait_until(LONG, || lan.neigh().as_deref() == Some(mac_b.as_str())).is_some(),
        "the client's neighbour entry for the VIP is {:?}, not b's {mac_b}\n{}",
        lan.neigh(),
        logs(&da, &db)
    );
    assert!(
        wait_until(LONG, || lan.ping_vip()).is_some(),
        "the client cannot reach the VIP on b\n{}",
        logs(&da, &db)
    );
    assert_eq!(lan.neigh().as_deref(), Some(mac_b.as_str()));
    if use_vmac {
        // The answer came from b: a's VMAC is gone.
        assert!(link_json(&lan.a, "vrrp.51").is_none(), "{}", da.log());
    }
}

#[test]
fn client_neighbour_entry_points_at_the_new_master_after_failover() {
    client_neighbour_follows(false);
}

#[test]
fn client_neighbour_entry_with_use_vmac_is_the_virtual_mac_and_answers_after_failover() {
    client_neighbour_follows(true);
}

/// Captures `count` VRRP frames on `ifname` in `ns` with tcpdump (`-e`: MAC addresses).
fn capture_vrrp(ns: &Netns, ifname: &str, count: u32) -> String {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "timeout",
            "8",
            "tcpdump",
            "-l",
            "-e",
            "-nn",
            "-c",
            &count.to_string(),
            "-i",
            ifname,
            "ip proto 112",
        ])
        .output()
        .expect("tcpdump must be installed (Debian package tcpdump)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn use_vmac_interface_mac_sysctls_vip_adverts_and_removal() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let parent = |k: &str| format!("net.ipv4.conf.{}.{k}", p.a_if);
    let params = || ["arp_ignore", "arp_filter", "arp_announce"].map(|k| sysctl(&p.a, &parent(k)));
    let before = params();
    assert_ne!(
        before,
        ["1", "1", "2"],
        "pick a namespace default to restore"
    );
    let mut da = Daemon::start(&p.a, &dir, "a", &instance(&p.a_if, 150, "  use_vmac\n"));
    let mut db = Daemon::start(
        &p.b,
        &dir,
        "b",
        &instance(&p.b_if, 100, "  use_vmac vmacb\n"),
    );
    let logs =
        |da: &Daemon, db: &Daemon| format!("--- a ---\n{}\n--- b ---\n{}", da.log(), db.log());
    assert!(
        wait_until(LONG, || has_addr(&p.a, "vrrp.51", VIP)).is_some(),
        "no VIP on a's VMAC\n{}",
        logs(&da, &db)
    );
    let l = link_json(&p.a, "vrrp.51").unwrap();
    assert_eq!(l["address"], VMAC);
    assert_eq!(l["link"], p.a_if.as_str());
    assert_eq!(l["linkinfo"]["info_kind"], "macvlan");
    assert_eq!(l["linkinfo"]["info_data"]["mode"], "private");
    // b's VMAC has the configured name, the same MAC, and no VIP (backup).
    assert_eq!(link_json(&p.b, "vmacb").unwrap()["address"], VMAC);
    assert!(!has_addr(&p.b, "vmacb", VIP));
    assert!(!p.a.has(&p.a_if, VIP), "the VIP must be on the VMAC only");
    // keepalived's sysctls: on the VMAC and on its parent.
    assert_eq!(sysctl(&p.a, "net.ipv4.conf.vrrp/51.arp_ignore"), "1");
    assert_eq!(sysctl(&p.a, "net.ipv4.conf.vrrp/51.accept_local"), "1");
    assert_eq!(sysctl(&p.a, "net.ipv4.conf.vrrp/51.rp_filter"), "0");
    assert_eq!(params(), ["1", "1", "2"]);
    // Adverts leave from the virtual MAC, with a's own address as IP source.
    let cap = capture_vrrp(&p.b, &p.b_if, 3);
    let adverts: Vec<&str> = cap.lines().filter(|l| l.contains("VRRPv3")).collect();
    assert!(adverts.len() >= 2, "no adverts captured: {cap}");
    for l in &adverts {
        assert!(
            l.contains(&format!("{VMAC} > 01:00:5e:00:00:12"))
                && l.contains("192.0.2.1 > 224.0.0.18")
                && l.contains("prio 150"),
            "advert not from the VMAC: {l}"
        );
    }
    // b stayed backup: it hears a on its VMAC.
    assert!(!has_addr(&p.b, "vmacb", VIP), "{}", logs(&da, &db));

    // Stop a: the VMAC goes, the parent's sysctls come back, b takes over on its VMAC.
    da.signal("-TERM");
    assert_eq!(da.wait_exit(LONG), Some(0), "{}", da.log());
    assert!(link_json(&p.a, "vrrp.51").is_none(), "{}", da.log());
    assert_eq!(params(), before, "the parent's sysctls were not restored");
    assert!(
        wait_until(LONG, || has_addr(&p.b, "vmacb", VIP)).is_some(),
        "b never took over\n{}",
        logs(&da, &db)
    );
    db.signal("-TERM");
    assert_eq!(db.wait_exit(LONG), Some(0), "{}", db.log());
    assert!(link_json(&p.b, "vmacb").is_none(), "{}", db.log());
}

#[test]
fn no_accept_drops_traffic_to_the_vip_while_master() {
    let lan = Lan::new();
    let dir = TmpDir::new();
    let mut da = Daemon::start(
        &lan.a,
        &dir,
        "a",
        &instance(&lan.a_if, 150, "  no_accept\n"),
    );
    assert!(
        wait_until(LONG, || lan.a.has(&lan.a_if, VIP)).is_some(),
        "a never became master\n{}",
        da.log()
    );
    let table = || {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &lan.a.name,
                "nft",
                "list",
                "table",
                "inet",
                "keepalived_rs_vrrp",
            ])
            .output()
            .expect("nft must be installed (Debian package nftables)")
    };
    let t = table();
    assert!(t.status.success(), "no nftables table\n{}", da.log());
    let t = String::from_utf8_lossy(&t.stdout).into_owned();
    assert!(t.contains(VIP), "the VIP is not in the set:\n{t}");
    // The client reaches a's own address but not the VIP (no_accept).
    let ping = |dst: &str| {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &lan.c.name,
                "ping",
                "-c",
                "1",
                "-W",
                "1",
                dst,
            ])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    assert!(ping("192.0.2.1"));
    assert!(!ping(VIP), "no_accept: the VIP answered\n{t}");
    da.signal("-TERM");
    assert_eq!(da.wait_exit(LONG), Some(0), "{}", da.log());
    assert!(!table().status.success(), "the table was left behind");
}

/// FRR's zebra + vrrpd in a namespace (Debian `frr`), stopped by PID on drop.
struct Frr {
    ns: String,
    dir: PathBuf,
    /// "v4" or "v6" (the key of FRR's JSON).
    fam: &'static str,
}

impl Frr {
    fn start(ns: &Netns, dir: &TmpDir, ifname: &str, prio: u8, v6: bool) -> Frr {
        let (vip, kw, mac) = if v6 {
            (VIP6, "ipv6", VMAC6)
        } else {
            (VIP, "ip", VMAC)
        };
        let d = dir.0.join("frr");
        std::fs::create_dir_all(&d).unwrap();
        // The daemons drop to user frr: they write their sockets and pid files here.
        run("chmod", &["0777", d.to_str().unwrap()]);
        run("chmod", &["0755", dir.0.to_str().unwrap()]);
        std::fs::write(d.join("zebra.conf"), "hostname frr\n").unwrap();
        std::fs::write(
            d.join("vrrpd.conf"),
            format!(
                "interface {ifname}\n vrrp 51 version 3\n vrrp 51 priority {prio}\n \
                 vrrp 51 advertisement-interval 1000\n vrrp 51 {kw} {vip}\n"
            ),
        )
        .unwrap();
        // vrrpd needs a macvlan with the virtual MAC on the interface, carrying the VIP.
        let mv = unique_name("kfv");
        ns.ip(&[
            "link", "add", &mv, "link", ifname, "type", "macvlan", "mode", "bridge",
        ]);
        ns.ip(&["link", "set", "dev", &mv, "address", mac]);
        if v6 {
            ns.ip(&["addr", "add", &format!("{vip}/64"), "dev", &mv, "nodad"]);
        } else {
            ns.ip(&["addr", "add", &format!("{vip}/24"), "dev", &mv]);
        }
        ns.ip(&["link", "set", &mv, "up"]);
        let frr = Frr {
            ns: ns.name.clone(),
            dir: d.clone(),
            fam: if v6 { "v6" } else { "v4" },
        };
        for daemon in ["zebra", "vrrpd"] {
            let prog = format!("/usr/lib/frr/{daemon}");
            assert!(
                std::path::Path::new(&prog).exists(),
                "{prog} missing: install the Debian package frr"
            );
            let p = |f: &str| d.join(f).to_str().unwrap().to_owned();
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &ns.name,
                    &prog,
                    "-d",
                    "-f",
                    &p(&format!("{daemon}.conf")),
                    "-i",
                    &p(&format!("{daemon}.pid")),
                    "-z",
                    &p("zserv.api"),
                    "--vty_socket",
                    &p(""),
                    "-u",
                    "frr",
                    "-g",
                    "frr",
                    "-A",
                    "127.0.0.1",
                    "-P",
                    "0",
                    "--log",
                    &format!("file:{}", p(&format!("{daemon}.log"))),
                ],
            );
            // zebra first: vrrpd connects to its zserv socket.
            let ok = wait_until(LONG, || d.join(format!("{daemon}.vty")).exists());
            assert!(ok.is_some(), "FRR {daemon} did not start: {}", frr.logs());
        }
        frr
    }

    fn vtysh(&self, cmds: &[&str]) -> String {
        let mut args = vec![
            "netns".to_owned(),
            "exec".to_owned(),
            self.ns.clone(),
            "vtysh".to_owned(),
            "--vty_socket".to_owned(),
            self.dir.to_str().unwrap().to_owned(),
        ];
        for c in cmds {
            args.push("-c".into());
            args.push((*c).to_owned());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run("ip", &args)
    }

    /// FRR's IPv4 state of VRID 51 ("Master", "Backup", "Initialize").
    fn status(&self) -> String {
        let v: serde_json::Value =
            serde_json::from_str(&self.vtysh(&["show vrrp json"])).unwrap_or_default();
        v[0][self.fam]["status"].as_str().unwrap_or("?").to_owned()
    }

    fn rx(&self) -> u64 {
        let v: serde_json::Value =
            serde_json::from_str(&self.vtysh(&["show vrrp json"])).unwrap_or_default();
        v[0][self.fam]["stats"]["adverRx"].as_u64().unwrap_or(0)
    }

    fn logs(&self) -> String {
        ["zebra.log", "vrrpd.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        for daemon in ["vrrpd", "zebra"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.join(format!("{daemon}.pid"))) {
                let pid = pid.trim().to_owned();
                let _ = Command::new("kill").args(["-TERM", &pid]).output();
                let gone = wait_until(Duration::from_secs(3), || {
                    !std::path::Path::new(&format!("/proc/{pid}")).exists()
                        || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                            .is_ok_and(|s| s.contains(") Z "))
                });
                if gone.is_none() {
                    let _ = Command::new("kill").args(["-KILL", &pid]).output();
                }
            }
        }
    }
}

fn frr_interop(v6: bool) {
    let (vip, len) = if v6 { (VIP6, 64) } else { (VIP, 24) };
    let p = Pair::new();
    let dir = TmpDir::new();
    let frr = Frr::start(&p.b, &dir, &p.b_if, 100, v6);
    let conf = |extra: &str| {
        format!(
            "vrrp_instance VI_1 {{\n  state BACKUP\n  interface {}\n  virtual_router_id 51\n  \
             version 3\n  priority 150\n  advert_int 1\n  use_vmac\n{extra}  \
             virtual_ipaddress {{\n    {vip}/{len}\n  }}\n}}\n",
            p.a_if
        )
    };
    // 1. Ours (150) master, FRR (100) backup and hearing us.
    let mut da = Daemon::start(&p.a, &dir, "a", &conf(""));
    let logs = |d: &Daemon| format!("--- ours ---\n{}\n--- frr ---\n{}", d.log(), frr.logs());
    assert!(
        wait_until(Duration::from_secs(15), || has_addr(&p.a, "vrrp.51", vip)).is_some(),
        "ours never became master\n{}",
        logs(&da)
    );
    let rx0 = frr.rx();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(frr.status(), "Backup", "{}", logs(&da));
    assert!(
        frr.rx() >= rx0 + 2,
        "FRR does not receive our adverts\n{}",
        logs(&da)
    );

    // 2. SIGTERM ours (priority 0): FRR takes over.
    da.signal("-TERM");
    assert_eq!(da.wait_exit(LONG), Some(0), "{}", da.log());
    assert!(
        wait_until(LONG, || frr.status() == "Master").is_some(),
        "FRR never took over\n{}",
        logs(&da)
    );

    // 3. Ours again, nopreempt: it hears FRR's adverts and stays backup past the master
    //    down interval (3 x 1 s + skew).
    let mut da = Daemon::start(&p.a, &dir, "a2", &conf("  nopreempt\n"));
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        !has_addr(&p.a, "vrrp.51", vip),
        "ours took the VIP while FRR is master\n{}",
        logs(&da)
    );
    assert_eq!(frr.status(), "Master", "{}", logs(&da));

    // 4. FRR shuts its router down (priority 0): ours takes over.
    frr.vtysh(&[
        "configure terminal",
        &format!("interface {}", p.b_if),
        "vrrp 51 shutdown",
    ]);
    assert!(
        wait_until(LONG, || has_addr(&p.a, "vrrp.51", vip)).is_some(),
        "ours never took over from FRR\n{}",
        logs(&da)
    );
    da.signal("-TERM");
    assert_eq!(da.wait_exit(LONG), Some(0), "{}", da.log());
}

#[test]
fn frr_vrrpd_interop_v3_ipv4_use_vmac_failover_both_ways() {
    frr_interop(false);
}

#[test]
fn frr_vrrpd_interop_v3_ipv6_use_vmac_failover_both_ways() {
    frr_interop(true);
}

#[test]
fn reload_while_master_swaps_a_virtual_route_and_keeps_the_vmac_instance() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let conf = |route: &str| {
        instance(
            &p.a_if,
            150,
            &format!(
                "  use_vmac\n  virtual_routes {{\n    {route} via 192.0.2.254 dev {}\n  }}\n",
                p.a_if
            ),
        )
    };
    let d = Daemon::start(&p.a, &dir, "a", &conf("198.51.100.0/25"));
    assert!(
        wait_until(LONG, || has_route(&p.a, &["198.51.100.0/25"])
            && has_addr(&p.a, "vrrp.51", VIP))
        .is_some(),
        "never master with its route\n{}",
        d.log()
    );
    std::fs::write(dir.0.join("a.conf"), conf("198.51.100.128/25")).unwrap();
    d.signal("-HUP");
    let done = wait_until(LONG, || {
        let log = d.log();
        log.contains("reload done") || log.contains("reload refused")
    });
    assert!(done.is_some(), "no reload outcome\n{}", d.log());
    assert!(d.log().contains("reload done"), "{}", d.log());
    assert!(
        wait_until(LONG, || has_route(&p.a, &["198.51.100.128/25"])
            && !has_route(&p.a, &["198.51.100.0/25"]))
        .is_some(),
        "the route was not swapped\n{}",
        d.log()
    );
    // Same instance, same VMAC: still master, VIP never left.
    assert!(has_addr(&p.a, "vrrp.51", VIP), "{}", d.log());
    assert_eq!(
        d.log().matches("Entering MASTER STATE").count(),
        1,
        "{}",
        d.log()
    );
}

#[test]
fn use_vmac_ipv6_mac_link_local_and_failover() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let conf = |ifname: &str, prio: u8| {
        format!(
            "vrrp_instance VI_6 {{\n  state BACKUP\n  interface {ifname}\n  \
             virtual_router_id 51\n  version 3\n  priority {prio}\n  advert_int 0.1\n  \
             use_vmac\n  virtual_ipaddress {{\n    2001:db8::100/64\n  }}\n}}\n"
        )
    };
    let mut da = Daemon::start(&p.a, &dir, "a", &conf(&p.a_if, 150));
    let db = Daemon::start(&p.b, &dir, "b", &conf(&p.b_if, 100));
    let logs =
        |da: &Daemon, db: &Daemon| format!("--- a ---\n{}\n--- b ---\n{}", da.log(), db.log());
    assert!(
        wait_until(LONG, || has_addr(&p.a, "vrrp.51", "2001:db8::100")).is_some(),
        "no IPv6 VIP on a's VMAC\n{}",
        logs(&da, &db)
    );
    let l = link_json(&p.a, "vrrp.51").unwrap();
    assert_eq!(l["address"], "00:00:5e:00:02:33");
    // No link-local made from the virtual MAC (same on every router, RFC 5798 7.4); the
    // parent's link-local instead, so adverts leave from a non-virtual address.
    let a_ll: Vec<String> =
        p.a.addrs(&p.a_if)
            .into_iter()
            .filter(|a| a.starts_with("fe80"))
            .collect();
    let vmac_addrs = p.a.addrs("vrrp.51");
    assert!(
        !vmac_addrs.iter().any(|a| a == "fe80::200:5eff:fe00:233"),
        "{vmac_addrs:?}"
    );
    assert!(
        a_ll.iter().all(|ll| vmac_addrs.contains(ll)) && !a_ll.is_empty(),
        "{a_ll:?} not on the VMAC: {vmac_addrs:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !has_addr(&p.b, "vrrp.51", "2001:db8::100"),
        "{}",
        logs(&da, &db)
    );
    da.signal("-TERM");
    assert_eq!(da.wait_exit(LONG), Some(0), "{}", da.log());
    assert!(link_json(&p.a, "vrrp.51").is_none(), "{}", da.log());
    assert!(
        wait_until(LONG, || has_addr(&p.b, "vrrp.51", "2001:db8::100")).is_some(),
        "b never took over\n{}",
        logs(&da, &db)
    );
}
