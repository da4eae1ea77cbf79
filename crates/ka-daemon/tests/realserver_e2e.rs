//! `keepalived-rs realserver dr|tun|check` for real: in network namespaces this test makes
//! (the `net.ipv4.conf.all.*` sysctls are per namespace), and for TUN in a qemu guest
//! booting Debian's kernel (the host kernel has no ipip module).
//!
//! - apply twice: the second run changes nothing (sysctls, addresses and the state file
//!   compared) and says so; `check` reports the missing items before and none after;
//!   `--undo` restores the original sysctls exactly (non-default values included) and
//!   removes only the addresses it added;
//! - the back end after `realserver dr`: a peer on the same LAN gets no ARP answer for the
//!   VIP (nor a neighbour advertisement for the IPv6 VIP) while packets to the VIP routed
//!   to the back end, as a DR director forwards them, are answered; the same probe
//!   answered once the VIP sits on lo without the sysctls shows the probe can fail;
//! - real forwarding through kernel IPVS (qemu guest): a director's DR and TUN services
//!   reach a back end prepared only by `realserver dr` / `realserver tun` (in a namespace
//!   without a tunl0 of its own, which `tun` creates and the last undo deletes, and with a
//!   strict rp_filter for new devices, which TUN must relax), and stop reaching it once
//!   each is undone (TUN's undo leaves DR working).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../ka-sys/tests/qemu/mod.rs"]
mod qemu;

use common::{link, run, Netns, TmpDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_keepalived-rs");

/// `keepalived-rs realserver ARGS --state STATE` in `ns`: (exit status, stdout).
fn realserver(ns: &Netns, state: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, BIN, "realserver"])
        .args(args)
        .arg("--state")
        .arg(state)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("realserver {}:\n{stdout}{stderr}", args.join(" "));
    (out.status.code().unwrap_or(-1), stdout)
}

const PARAMS: [&str; 3] = ["arp_ignore", "arp_announce", "rp_filter"];

/// The ARP/rp_filter sysctls of `all`, `default` and `lo`, and lo's addresses and flags.
fn snapshot(ns: &Netns) -> Vec<String> {
    let mut out = Vec::new();
    for ifname in ["all", "default", "lo"] {
        for p in PARAMS {
            let v = run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &ns.name,
                    "cat",
                    &format!("/proc/sys/net/ipv4/conf/{ifname}/{p}"),
                ],
            );
            out.push(format!("{ifname}.{p}={}", v.trim()));
        }
    }
    let v: serde_json::Value =
        serde_json::from_str(&ns.ip(&["-j", "addr", "show", "dev", "lo"])).unwrap();
    out.push(format!("lo flags {}", v[0]["flags"]));
    for a in v[0]["addr_info"].as_array().unwrap() {
        out.push(format!("lo {}/{}", a["local"], a["prefixlen"]));
    }
    out
}

fn set_sysctl(ns: &Netns, key: &str, value: &str) {
    run(
        "ip",
        &[
            "netns",
            "exec",
            &ns.name,
            "sysctl",
            "-qw",
            &format!("{key}={value}"),
        ],
    );
}

#[test]
fn dr_apply_twice_changes_nothing_and_undo_restores() {
    let ns = Netns::new();
    let dir = TmpDir::new();
    let state = dir.0.join("run/realserver.json");
    // Not the kernel's defaults, so "restored" cannot mean "reset".
    set_sysctl(&ns, "net.ipv4.conf.all.arp_announce", "1");
    set_sysctl(&ns, "net.ipv4.conf.lo.arp_ignore", "2");
    // An address the operator put there: kept by --undo although it is one of the VIPs.
    ns.ip(&["addr", "add", "203.0.113.11/32", "dev", "lo"]);
    let before = snapshot(&ns);
    let vips = [
        "--vip",
        "203.0.113.10",
        "--vip",
        "203.0.113.11/32",
        "--vip",
        "2001:db8::10",
    ];

    let (code, out) = realserver(&ns, &state, &[&["check", "dr"][..], &vips[..]].concat());
    assert_eq!(code, 1, "{out}");
    for missing in [
        "missing  net.ipv4.conf.all.arp_ignore = 0 (want 1 or 2)",
        "missing  net.ipv4.conf.all.arp_announce = 1 (want 2)",
        "missing  net.ipv4.conf.lo.arp_announce = 0 (want 2)",
        "missing  203.0.113.10/32 on lo",
        "missing  2001:db8::10/128 on lo",
        "ok       net.ipv4.conf.lo.arp_ignore = 2",
        "ok       203.0.113.11/32 on lo",
        "5 item(s) missing",
    ] {
        assert!(out.contains(missing), "{missing:?} not in:\n{out}");
    }
    assert!(!state.exists(), "check wrote the state file");
    assert_eq!(snapshot(&ns), before, "check changed something");

    let (code, out) = realserver(&ns, &state, &[&["dr"][..], &vips[..]].concat());
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("changed  ").count(), 5, "{out}");
    assert!(out.contains("changed  net.ipv4.conf.all.arp_announce 1 -> 2"));
    let applied = snapshot(&ns);
    for want in [
        "all.arp_ignore=1",
        "all.arp_announce=2",
        "lo.arp_ignore=2",
        "lo.arp_announce=2",
        "lo \"203.0.113.10\"/32",
        "lo \"2001:db8::10\"/128",
    ] {
        assert!(
            applied.iter().any(|l| l == want),
            "{want} not in {applied:?}"
        );
    }
    let recorded = std::fs::read(&state).unwrap();

    let (code, out) = realserver(&ns, &state, &[&["dr"][..], &vips[..]].concat());
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("changed"), "{out}");
    assert!(out.contains("nothing to change"), "{out}");
    assert_eq!(snapshot(&ns), applied, "the second run changed the kernel");
    assert_eq!(
        std::fs::read(&state).unwrap(),
        recorded,
        "the second run rewrote the state"
    );

    // check: from the arguments, and from the state file alone.
    let (code, out) = realserver(&ns, &state, &[&["check", "dr"][..], &vips[..]].concat());
    assert_eq!((code, out.contains("missing  ")), (0, false), "{out}");
    let (code, out) = realserver(&ns, &state, &["check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok       203.0.113.10/32 on lo"), "{out}");

    // A TUN undo touches nothing of DR's.
    let (code, out) = realserver(&ns, &state, &["tun", "--undo"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(snapshot(&ns), applied);

    let (code, out) = realserver(&ns, &state, &["dr", "--undo"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        snapshot(&ns),
        before,
        "--undo did not restore the original state"
    );
    assert!(
        ns.has("lo", "203.0.113.11"),
        "the operator's address was removed"
    );
    assert!(!state.exists(), "state file left after a complete undo");
    let (code, out) = realserver(&ns, &state, &[&["check", "dr"][..], &vips[..]].concat());
    assert_eq!(code, 1, "{out}");
    // Undo again: nothing recorded, nothing done.
    let (code, out) = realserver(&ns, &state, &["dr", "--undo"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nothing to undo"), "{out}");
    assert_eq!(snapshot(&ns), before);
}

#[test]
fn dr_partial_undo_keeps_the_sysctls_until_the_last_vip() {
    let ns = Netns::new();
    let dir = TmpDir::new();
    let state = dir.0.join("realserver.json");
    let before = snapshot(&ns);
    let (code, _) = realserver(
        &ns,
        &state,
        &["dr", "--vip", "203.0.113.10", "--vip", "203.0.113.12"],
    );
    assert_eq!(code, 0);
    let (code, out) = realserver(&ns, &state, &["dr", "--undo", "--vip", "203.0.113.10"]);
    assert_eq!(code, 0, "{out}");
    assert!(!ns.has("lo", "203.0.113.10") && ns.has("lo", "203.0.113.12"));
    assert!(
        snapshot(&ns).iter().any(|l| l == "all.arp_ignore=1"),
        "{out}"
    );
    // An operator changed one of ours meanwhile: left as the operator set it.
    set_sysctl(&ns, "net.ipv4.conf.lo.arp_announce", "1");
    let (code, out) = realserver(&ns, &state, &["dr", "--undo"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("kept     net.ipv4.conf.lo.arp_announce = 1"),
        "{out}"
    );
    let mut want = before.clone();
    for l in &mut want {
        if l == "lo.arp_announce=0" {
            *l = "lo.arp_announce=1".into();
        }
    }
    assert_eq!(snapshot(&ns), want);
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let ns = Netns::new();
    let dir = TmpDir::new();
    let state = dir.0.join("realserver.json");
    let out = Command::new(BIN)
        .args(["realserver", "dr", "--vip", "203.0.113.10/24"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("host address: /32, not /24"));
    // check with nothing to go on.
    let (code, _) = realserver(&ns, &state, &["check"]);
    assert_eq!(code, 2);
    // A state file that is not ours: refused, nothing changed.
    std::fs::write(&state, "not json").unwrap();
    let before = snapshot(&ns);
    let (code, _) = realserver(&ns, &state, &["dr", "--vip", "203.0.113.10"]);
    assert_eq!(code, 1);
    assert_eq!(snapshot(&ns), before);
}

/// Whether `peer` gets an answer from `to` (one ping, 1 s).
fn pings(peer: &Netns, to: &str) -> bool {
    Command::new("ip")
        .args([
            "netns", "exec", &peer.name, "ping", "-n", "-q", "-c", "1", "-W", "1", to,
        ])
        .output()
        .unwrap()
        .status
        .success()
}

/// Whether `peer` gets an answer from `to` within a few tries (a fresh veth can take a
/// moment under load; negative probes stay single: a positive one ran before them).
fn reaches(peer: &Netns, to: &str) -> bool {
    (0..5).any(|_| pings(peer, to))
}

/// The link-layer address `peer`'s neighbour table holds for `addr` on `dev`, if any.
fn neighbour_mac(peer: &Netns, dev: &str, addr: &str) -> Option<String> {
    let v: serde_json::Value =
        serde_json::from_str(&peer.ip(&["-j", "neigh", "show", "to", addr, "dev", dev])).unwrap();
    v.as_array()?
        .iter()
        .find_map(|n| n["lladdr"].as_str().map(str::to_owned))
}

#[test]
fn dr_backend_answers_on_the_vip_and_not_arp() {
    let peer = Netns::new();
    let backend = Netns::new();
    let dir = TmpDir::new();
    let state = dir.0.join("realserver.json");
    let (pif, bif) = link(&peer, "192.0.2.1/24", &backend, "192.0.2.2/24");
    peer.ip(&["addr", "add", "2001:db8::1/64", "dev", &pif, "nodad"]);
    backend.ip(&["addr", "add", "2001:db8::2/64", "dev", &bif, "nodad"]);
    let backend_mac = {
        let v: serde_json::Value =
            serde_json::from_str(&backend.ip(&["-j", "link", "show", "dev", &bif])).unwrap();
        v[0]["address"].as_str().unwrap().to_owned()
    };
    assert!(reaches(&peer, "192.0.2.2") && reaches(&peer, "2001:db8::2"));

    let (code, out) = realserver(
        &backend,
        &state,
        &["dr", "--vip", "203.0.113.10", "--vip", "2001:db8:1::10"],
    );
    assert_eq!(code, 0, "{out}");

    // The peer asks the LAN for the VIPs (on-link routes): nobody answers.
    peer.ip(&["route", "add", "203.0.113.10/32", "dev", &pif]);
    peer.ip(&["-6", "route", "add", "2001:db8:1::10/128", "dev", &pif]);
    assert!(
        !pings(&peer, "203.0.113.10"),
        "someone answered ARP for the VIP"
    );
    assert!(
        !pings(&peer, "2001:db8:1::10"),
        "someone answered NS for the VIP"
    );
    assert_eq!(neighbour_mac(&peer, &pif, "203.0.113.10"), None);
    assert_eq!(neighbour_mac(&peer, &pif, "2001:db8:1::10"), None);

    // Routed to the back end as a DR director forwards them: answered, by the back end.
    peer.ip(&["route", "replace", "203.0.113.10/32", "via", "192.0.2.2"]);
    peer.ip(&[
        "-6",
        "route",
        "replace",
        "2001:db8:1::10/128",
        "via",
        "2001:db8::2",
    ]);
    assert!(
        reaches(&peer, "203.0.113.10"),
        "the back end ignored the VIP"
    );
    assert!(
        reaches(&peer, "2001:db8:1::10"),
        "the back end ignored the IPv6 VIP"
    );
    let _web = common::TcpBackend::start(&backend, "backend", 8080);
    let seen = common::http_requests(&peer, "203.0.113.10:8080".parse().unwrap(), 3);
    assert_eq!(seen.get("backend"), Some(&3), "{seen:?}");

    // The control: after --undo, the VIP on lo without the ARP settings is answered for.
    let (code, out) = realserver(&backend, &state, &["dr", "--undo"]);
    assert_eq!(code, 0, "{out}");
    assert!(!backend.has("lo", "203.0.113.10"));
    backend.ip(&["addr", "add", "203.0.113.10/32", "dev", "lo"]);
    peer.ip(&["neigh", "flush", "dev", &pif]);
    peer.ip(&["route", "replace", "203.0.113.10/32", "dev", &pif]);
    assert!(
        reaches(&peer, "203.0.113.10"),
        "the control probe got no answer"
    );
    assert_eq!(
        neighbour_mac(&peer, &pif, "203.0.113.10").as_deref(),
        Some(backend_mac.as_str()),
        "the back end's ARP answer should have been seen"
    );
}

const GUEST_BOOT: Duration = Duration::from_secs(240);

/// TUN needs the ipip / ip6_tunnel modules the host kernel lacks: the whole sequence runs
/// in a qemu guest booting Debian's kernel, with this test binary and `keepalived-rs`.
#[test]
fn tun_apply_twice_undo_in_a_guest() {
    if !qemu::in_guest() {
        let bin = qemu::stripped_copy(Path::new(BIN));
        let _rm = qemu::RemoveFile(bin.clone());
        let serial = qemu::run_in_guest(
            "tun_apply_twice_undo_in_a_guest",
            &[(bin.clone(), BIN.to_string())],
            GUEST_BOOT,
        );
        assert!(serial.contains("ka-tun done"), "{serial}");
        return;
    }
    tun_in_guest();
}

fn iproute2() -> PathBuf {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("ip missing (package iproute2)")
}

/// Real forwarding through kernel IPVS (in the guest: the host has none): a director
/// namespace forwards a DR and a TUN service to one back end prepared by nothing but
/// `realserver dr` and `realserver tun`; each service answers while its preparation is in
/// place and stops answering once it is undone.
#[test]
fn ipvs_dr_and_tun_reach_a_prepared_backend_in_a_guest() {
    if !qemu::in_guest() {
        let bin = qemu::stripped_copy(Path::new(BIN));
        let _rm = qemu::RemoveFile(bin.clone());
        let serial = qemu::run_in_guest(
            "ipvs_dr_and_tun_reach_a_prepared_backend_in_a_guest",
            &[
                (bin.clone(), BIN.to_string()),
                // iproute2 (busybox's ip has no netns): first in the guest's PATH.
                (iproute2(), "/usr/local/bin/ip".into()),
            ],
            GUEST_BOOT,
        );
        assert!(serial.contains("ka-forwarding done"), "{serial}");
        return;
    }
    const DR_VIP: &str = "203.0.113.20";
    const TUN_VIP: &str = "203.0.113.30";
    // client -- r -- lb (director) -- backend, and backend -- r for the replies, which
    // come from a VIP the director holds (it would drop them as martians).
    // New namespaces get no tunl0 (as with fb_tunnels_only_for_init_net=1 on a host):
    // `realserver tun` creates its own, and the last --undo deletes it.
    std::fs::write("/proc/sys/net/core/fb_tunnels_only_for_init_net", "1\n").unwrap();
    let (client, r) = (Netns::new(), Netns::new());
    let (lb, backend) = (Netns::new(), Netns::new());
    link(&client, "192.0.2.2/24", &r, "192.0.2.1/24");
    link(&r, "198.51.100.1/26", &lb, "198.51.100.2/26");
    link(&lb, "198.51.100.65/26", &backend, "198.51.100.66/26");
    link(&r, "198.51.100.129/26", &backend, "198.51.100.130/26");
    client.ip(&["route", "add", "default", "via", "192.0.2.1"]);
    r.ip(&["route", "add", "203.0.113.0/24", "via", "198.51.100.2"]);
    lb.ip(&["route", "add", "default", "via", "198.51.100.1"]);
    backend.ip(&["route", "add", "default", "via", "198.51.100.129"]);
    set_sysctl(&r, "net.ipv4.ip_forward", "1");
    // A strict reverse-path filter for new devices: TUN needs it relaxed on tunl0
    // (decapsulated packets come in there, their source routes out elsewhere).
    set_sysctl(&backend, "net.ipv4.conf.default.rp_filter", "1");
    assert!(!backend.ip(&["link"]).contains("tunl0"));
    for vip in [DR_VIP, TUN_VIP] {
        lb.ip(&["addr", "add", &format!("{vip}/32"), "dev", "lo"]);
    }
    for cmd in [
        format!("-A -t {DR_VIP}:80 -s rr"),
        format!("-a -t {DR_VIP}:80 -r 198.51.100.66:80 -g"),
        format!("-A -t {TUN_VIP}:80 -s rr"),
        format!("-a -t {TUN_VIP}:80 -r 198.51.100.66:80 -i"),
    ] {
        let mut args = vec!["netns", "exec", lb.name.as_str(), "ipvsadm"];
        args.extend(cmd.split(' '));
        run("ip", &args);
    }
    let _web = common::TcpBackend::start(&backend, "web", 80);
    let ask = |vip: &str, n: usize| {
        common::http_requests(&client, format!("{vip}:80").parse().unwrap(), n)
    };
    let answered =
        |seen: &std::collections::BTreeMap<String, usize>, n: usize| seen.get("web") == Some(&n);
    // Not prepared: neither method reaches the back end.
    assert!(!answered(&ask(DR_VIP, 1), 1) && !answered(&ask(TUN_VIP, 1), 1));

    let state = Path::new("/tmp/forwarding.json");
    let (code, out) = realserver(&backend, state, &["dr", "--vip", DR_VIP]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = realserver(&backend, state, &["tun", "--vip", TUN_VIP]);
    assert_eq!(code, 0, "{out}");
    for want in [
        "changed  created tunl0",
        "changed  net.ipv4.conf.tunl0.rp_filter 1 -> 2",
    ] {
        assert!(out.contains(want), "{want:?} not in:\n{out}");
    }
    let seen = ask(DR_VIP, 4);
    assert!(answered(&seen, 4), "DR: {seen:?}");
    let seen = ask(TUN_VIP, 4);
    assert!(answered(&seen, 4), "TUN: {seen:?}");

    // TUN undone: its VIP goes; the sysctls and tunl0 stay while a DR VIP is recorded.
    let (code, out) = realserver(&backend, state, &["tun", "--undo"]);
    assert_eq!(code, 0, "{out}");
    let seen = ask(TUN_VIP, 1);
    assert!(
        !answered(&seen, 1),
        "TUN still answered after --undo: {seen:?}"
    );
    let seen = ask(DR_VIP, 2);
    assert!(answered(&seen, 2), "DR after the TUN undo: {seen:?}");
    let (code, out) = realserver(&backend, state, &["dr", "--undo"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("undone   deleted tunl0"), "{out}");
    assert!(!backend.ip(&["link"]).contains("tunl0"));
    assert!(
        !answered(&ask(DR_VIP, 1), 1),
        "DR still answered after --undo"
    );
    println!("ka-forwarding done");
}

/// `ip -o` lines of the guest's links and addresses, and the sysctls TUN touches.
fn guest_snapshot() -> Vec<String> {
    let mut out = Vec::new();
    for ifname in ["all", "default", "tunl0"] {
        for p in PARAMS {
            let path = format!("/proc/sys/net/ipv4/conf/{ifname}/{p}");
            if let Ok(v) = std::fs::read_to_string(&path) {
                out.push(format!("{ifname}.{p}={}", v.trim()));
            }
        }
    }
    for cmd in ["ip -o link show", "ip -o addr show"] {
        for l in qemu::sh(cmd).lines() {
            // Counters and timers change by themselves.
            let l: String = l
                .split_whitespace()
                .filter(|w| !w.contains("lft"))
                .collect::<Vec<_>>()
                .join(" ");
            out.push(l);
        }
    }
    out
}

fn guest_realserver(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .arg("realserver")
        .args(args)
        .args(["--state", "/tmp/realserver.json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!(
        "realserver {}:\n{stdout}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), stdout)
}

fn tun_in_guest() {
    // The guest's init loads ipip: unload it (and ip6_tunnel) so the helper must load them.
    let _ = Command::new("rmmod").arg("ipip").status();
    let _ = Command::new("rmmod").arg("ip6_tunnel").status();
    let ipip_was_loaded = Path::new("/sys/module/ipip").exists();
    println!("ipip loaded before: {ipip_was_loaded}");
    // Non-default originals, to see them restored exactly.
    std::fs::write("/proc/sys/net/ipv4/conf/all/rp_filter", "1\n").unwrap();
    std::fs::write("/proc/sys/net/ipv4/conf/all/arp_announce", "1\n").unwrap();
    let before = guest_snapshot();
    let vips = ["--vip", "203.0.113.10", "--vip", "2001:db8:1::10"];

    let (code, out) = guest_realserver(&[&["check", "tun"][..], &vips[..]].concat());
    assert_eq!(code, 1, "{out}");
    for want in [
        "missing  net.ipv4.conf.all.rp_filter = 1 (want 0 or 2)",
        "missing  203.0.113.10/32 on tunl0",
        "missing  2001:db8:1::10/128 on ip6tnl0",
    ] {
        assert!(out.contains(want), "{want:?} not in:\n{out}");
    }
    if !ipip_was_loaded {
        assert!(out.contains("missing  module ipip not loaded"), "{out}");
    }

    let (code, out) = guest_realserver(&[&["tun"][..], &vips[..]].concat());
    assert_eq!(code, 0, "{out}");
    if !ipip_was_loaded {
        assert!(out.contains("changed  loaded module ipip"), "{out}");
    }
    for want in [
        "changed  net.ipv4.conf.all.rp_filter 1 -> 2",
        // A new device inherits `default` (0 here): already relaxed.
        "ok       net.ipv4.conf.tunl0.rp_filter = 0",
        "changed  added 203.0.113.10/32 on tunl0",
        "changed  added 2001:db8:1::10/128 on ip6tnl0",
        "changed  tunl0 brought up",
    ] {
        assert!(out.contains(want), "{want:?} not in:\n{out}");
    }
    let applied = guest_snapshot();
    for want in [
        "all.rp_filter=2",
        "tunl0.rp_filter=0",
        "tunl0.arp_ignore=1",
        "all.arp_announce=2",
    ] {
        assert!(
            applied.iter().any(|l| l == want),
            "{want} not in {applied:?}"
        );
    }
    let recorded = std::fs::read("/tmp/realserver.json").unwrap();

    let (code, out) = guest_realserver(&[&["tun"][..], &vips[..]].concat());
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains("changed") && out.contains("nothing to change"),
        "{out}"
    );
    assert_eq!(
        guest_snapshot(),
        applied,
        "the second run changed the kernel"
    );
    assert_eq!(std::fs::read("/tmp/realserver.json").unwrap(), recorded);

    let (code, out) = guest_realserver(&["check"]);
    assert_eq!((code, out.contains("missing  ")), (0, false), "{out}");

    let (code, out) = guest_realserver(&["tun", "--undo"]);
    assert_eq!(code, 0, "{out}");
    let after = guest_snapshot();
    // The modules stay loaded, so tunl0 / ip6tnl0 stay (down, as they were made): every
    // line of before is back; the devices' own sysctls are the module's defaults.
    let strip = |v: &[String]| -> Vec<String> {
        v.iter()
            .filter(|l| !l.starts_with("tunl0.") && !l.contains("tunl0") && !l.contains("ip6tnl0"))
            .cloned()
            .collect()
    };
    assert_eq!(strip(&after), strip(&before), "--undo did not restore");
    assert!(!after
        .iter()
        .any(|l| l.contains("203.0.113.10") || l.contains("2001:db8:1::10")));
    for dev in ["tunl0", "ip6tnl0"] {
        let flags = std::fs::read_to_string(format!("/sys/class/net/{dev}/flags")).unwrap();
        let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap();
        assert_eq!(flags & 1, 0, "{dev} left up (IFF_UP in {flags:#x})");
    }
    assert!(!Path::new("/tmp/realserver.json").exists());
    let (code, _) = guest_realserver(&[&["check", "tun"][..], &vips[..]].concat());
    assert_eq!(code, 1);
    println!("ka-tun done");
}
