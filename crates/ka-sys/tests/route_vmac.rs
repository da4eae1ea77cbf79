//! Routes, rules and the VMAC macvlan for real, in a namespace, checked with `ip -j`.
// Test helpers outside #[test] fns unwrap too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::{Pair, WAIT};
use ka_sys::route::RTN_BLACKHOLE;
use ka_sys::{vmac_address, Netlink, RouteSpec, RuleSpec};
use serde_json::Value;

fn json(s: &str) -> Vec<Value> {
    serde_json::from_str::<Value>(s)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn routes_add_show_remove() {
    let pair = Pair::new();
    let ns = &pair.a;
    let idx = ns.ifindex(&pair.a_if);
    let via4 = RouteSpec {
        gateway: Some(Pair::B4.parse().unwrap()),
        oif: Some(idx),
        table: 100,
        metric: Some(10),
        ..RouteSpec::new("192.0.2.128".parse().unwrap(), 25)
    };
    let hole = RouteSpec {
        kind: RTN_BLACKHOLE,
        table: 100,
        ..RouteSpec::new("192.0.2.64".parse().unwrap(), 26)
    };
    let via6 = RouteSpec {
        gateway: Some(Pair::B6.parse().unwrap()),
        oif: Some(idx),
        table: 100,
        ..RouteSpec::new("2001:db8:1::".parse().unwrap(), 48)
    };
    let specs = vec![via4, hole, via6];
    let s2 = specs.clone();
    let (added, again) = ns.run_async(WAIT, move || async move {
        let nl = Netlink::new().unwrap();
        let mut a = vec![];
        let mut b = vec![];
        for s in &s2 {
            a.push(nl.add_route(s).await.unwrap());
        }
        for s in &s2 {
            b.push(nl.add_route(s).await.unwrap());
        }
        (a, b)
    });
    assert_eq!(added, [true; 3]);
    assert_eq!(again, [false; 3], "re-adding is not an error");

    let r4 = json(&ns.ip(&["-j", "route", "show", "table", "100"]));
    let via = r4
        .iter()
        .find(|r| r["dst"] == "192.0.2.128/25")
        .expect("via route");
    assert_eq!(via["gateway"], Pair::B4);
    assert_eq!(via["dev"], pair.a_if.as_str());
    assert_eq!(via["metric"], 10);
    assert_eq!(via["protocol"], "keepalived");
    let bh = r4
        .iter()
        .find(|r| r["dst"] == "192.0.2.64/26")
        .expect("blackhole");
    assert_eq!(bh["type"], "blackhole");
    let r6 = json(&ns.ip(&["-j", "-6", "route", "show", "table", "100"]));
    let v6 = r6
        .iter()
        .find(|r| r["dst"] == "2001:db8:1::/48")
        .expect("v6 route");
    assert_eq!(v6["gateway"], Pair::B6);

    let s2 = specs.clone();
    let (del, del_again) = ns.run_async(WAIT, move || async move {
        let nl = Netlink::new().unwrap();
        let mut a = vec![];
        let mut b = vec![];
        for s in &s2 {
            a.push(nl.del_route(s).await.unwrap());
        }
        for s in &s2 {
            b.push(nl.del_route(s).await.unwrap());
        }
        (a, b)
    });
    assert_eq!(del, [true; 3]);
    assert_eq!(del_again, [false; 3]);
    assert!(json(&ns.ip(&["-j", "route", "show", "table", "100"])).is_empty());
    assert!(json(&ns.ip(&["-j", "-6", "route", "show", "table", "100"])).is_empty());
}

#[test]
fn rules_add_steer_and_remove() {
    let pair = Pair::new();
    let ns = &pair.a;
    let idx = ns.ifindex(&pair.a_if);
    let route = RouteSpec {
        gateway: Some(Pair::B4.parse().unwrap()),
        oif: Some(idx),
        table: 100,
        ..RouteSpec::new("192.0.2.128".parse().unwrap(), 25)
    };
    let r4 = RuleSpec {
        from: Some(("192.0.2.0".parse().unwrap(), 24)),
        to: Some(("192.0.2.128".parse().unwrap(), 25)),
        fwmark: Some((0x10, Some(0xff))),
        priority: Some(1000),
        ..RuleSpec::new(false, 100)
    };
    let r6 = RuleSpec {
        from: Some(("2001:db8::".parse().unwrap(), 32)),
        iif: Some("lo".into()),
        priority: Some(1001),
        ..RuleSpec::new(true, 100)
    };
    let bad = RuleSpec {
        from: Some(("2001:db8::".parse().unwrap(), 32)),
        ..RuleSpec::new(false, 100)
    };
    let (rs, rt) = (vec![r4.clone(), r6.clone()], route.clone());
    let (added, again, bad_err) = ns.run_async(WAIT, move || async move {
        let nl = Netlink::new().unwrap();
        assert!(nl.add_route(&rt).await.unwrap());
        let mut a = vec![];
        let mut b = vec![];
        for s in &rs {
            a.push(nl.add_rule(s).await.unwrap());
        }
        for s in &rs {
            b.push(nl.add_rule(s).await.unwrap());
        }
        (a, b, nl.add_rule(&bad).await.is_err())
    });
    assert_eq!(added, [true; 2]);
    assert_eq!(again, [false; 2], "identical rule is not added twice");
    assert!(bad_err, "family mismatch refused");

    let rules = json(&ns.ip(&["-j", "rule", "show"]));
    let x = rules
        .iter()
        .find(|r| r["priority"] == 1000)
        .expect("v4 rule");
    assert_eq!(
        (x["src"].as_str(), x["srclen"].as_u64()),
        (Some("192.0.2.0"), Some(24))
    );
    assert_eq!(
        (x["dst"].as_str(), x["dstlen"].as_u64()),
        (Some("192.0.2.128"), Some(25))
    );
    assert_eq!(x["fwmark"], "0x10");
    assert_eq!(x["fwmask"], "0xff");
    assert_eq!(x["table"], "100");
    assert_eq!(x["protocol"], "keepalived");
    let rules6 = json(&ns.ip(&["-j", "-6", "rule", "show"]));
    let y = rules6
        .iter()
        .find(|r| r["priority"] == 1001)
        .expect("v6 rule");
    assert_eq!(y["iif"], "lo");
    assert_eq!(y["table"], "100");

    // The rule really steers: marked traffic from our subnet takes table 100.
    let got = ns.ip(&[
        "route",
        "get",
        "192.0.2.200",
        "from",
        Pair::A4,
        "mark",
        "0x10",
    ]);
    assert!(
        got.contains("via 192.0.2.2") && got.contains("table 100"),
        "{got}"
    );
    let unmarked = ns.ip(&["route", "get", "192.0.2.200", "from", Pair::A4]);
    assert!(!unmarked.contains("via 192.0.2.2"), "{unmarked}");

    let rs = vec![r4, r6];
    let (del, del_again) = ns.run_async(WAIT, move || async move {
        let nl = Netlink::new().unwrap();
        let mut a = vec![];
        let mut b = vec![];
        for s in &rs {
            a.push(nl.del_rule(s).await.unwrap());
        }
        for s in &rs {
            b.push(nl.del_rule(s).await.unwrap());
        }
        (a, b)
    });
    assert_eq!(del, [true; 2]);
    assert_eq!(del_again, [false; 2]);
    let rules = json(&ns.ip(&["-j", "rule", "show"]));
    assert!(!rules.iter().any(|r| r["priority"] == 1000));
}

#[test]
fn vmac_macvlan_created_private_with_virtual_mac() {
    let pair = Pair::new();
    let ns = &pair.a;
    let parent = ns.ifindex(&pair.a_if);
    let name = common::unique_name("kvm");
    let mac = vmac_address(51, false);
    assert_eq!(mac, [0, 0, 0x5e, 0, 1, 51]);
    assert_eq!(vmac_address(51, true), [0, 0, 0x5e, 0, 2, 51]);
    let n2 = name.clone();
    let (idx, idx_again) = ns.run_async(WAIT, move || async move {
        let nl = Netlink::new().unwrap();
        let idx = nl.add_macvlan(&n2, parent, mac).await.unwrap();
        nl.set_link_up(idx, true).await.unwrap();
        (idx, nl.add_macvlan(&n2, parent, mac).await.unwrap())
    });
    assert_eq!(idx, idx_again, "an existing VMAC link is reused");
    let v = json(&ns.ip(&["-j", "-d", "link", "show", "dev", &name]));
    let l = &v[0];
    assert_eq!(l["ifindex"], idx);
    assert_eq!(l["address"], "00:00:5e:00:01:33");
    assert_eq!(l["link"], pair.a_if.as_str());
    assert_eq!(l["linkinfo"]["info_kind"], "macvlan");
    assert_eq!(l["linkinfo"]["info_data"]["mode"], "private");
    assert!(l["flags"].as_array().unwrap().iter().any(|f| f == "UP"));

    let (gone, gone_again) = ns.run_async(WAIT, move || async move {
        let nl = Netlink::new().unwrap();
        (
            nl.del_link(idx).await.unwrap(),
            nl.del_link(idx).await.unwrap(),
        )
    });
    assert!(gone && !gone_again);
    assert!(!ns.ip(&["link"]).contains(&name));
}

/// use_vmac end to end: an advert and a gratuitous ARP sent out of the macvlan leave
/// with the virtual MAC as Ethernet source, as the peer sees them.
#[test]
fn advert_and_garp_out_of_the_vmac_carry_the_virtual_mac() {
    use ka_sys::packet::ETH_P_ALL;
    use ka_sys::vrrp_socket::VRRP_GROUP_V4;
    use ka_sys::{PacketSocket, VrrpSocket};
    use ka_wire::ip::keepalived_ipv4;
    use ka_wire::vrrp::{Auth, Version, VrrpPacket};
    use std::net::IpAddr;
    use std::sync::mpsc;
    use std::time::Duration;

    let pair = Pair::new();
    let parent = pair.a.ifindex(&pair.a_if);
    let b_idx = pair.b.ifindex(&pair.b_if);
    let name = common::unique_name("kvm");
    let mac = vmac_address(51, false);
    let n2 = name.clone();
    let vidx = pair.a.run_async(WAIT, move || async move {
        let nl = Netlink::new().unwrap();
        let idx = nl.add_macvlan(&n2, parent, mac).await.unwrap();
        nl.set_link_up(idx, true).await.unwrap();
        idx
    });
    let src = "192.0.2.1".parse().unwrap();
    let dst = VRRP_GROUP_V4;
    let vrrp = VrrpPacket {
        version: Version::V3,
        kind: 1,
        vrid: 51,
        priority: 100,
        adver_int_cs: 100,
        reserved: 0,
        checksum: 0,
        addrs: vec!["192.0.2.100".parse().unwrap()],
        auth: Auth::None,
    }
    .encode_for_send(IpAddr::V4(src), IpAddr::V4(dst))
    .unwrap();
    let advert = keepalived_ipv4(src, dst, 7, &vrrp).unwrap();
    let garp = ka_wire::arp::garp_frame(mac, "192.0.2.100".parse().unwrap());

    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (advert2, garp2) = (advert.clone(), garp.clone());
    let frames = std::thread::scope(|s| {
        let b = &pair.b;
        let rx = s.spawn(move || {
            b.run_async(WAIT, move || async move {
                let cap = PacketSocket::open_capture(b_idx, ETH_P_ALL).unwrap();
                ready_tx.send(()).unwrap();
                let (mut adv, mut arp) = (None, None);
                while adv.is_none() || arp.is_none() {
                    let f = cap.recv().await.unwrap();
                    if f.data.get(6..12) != Some(&mac[..]) {
                        continue;
                    }
                    match f.protocol {
                        0x0800 => adv = Some(f.data),
                        0x0806 => arp = Some(f.data),
                        _ => {}
                    }
                }
                let _ = done_tx.send(());
                (adv.unwrap(), arp.unwrap())
            })
        });
        pair.a.run_async(WAIT, move || async move {
            ready_rx.recv_timeout(WAIT).unwrap();
            let v = VrrpSocket::open_v4(vidx).unwrap();
            let p = PacketSocket::open_tx(vidx).unwrap();
            for _ in 0..20 {
                v.send(IpAddr::V4(dst), &advert2).await.unwrap();
                p.send(&garp2).await.unwrap();
                if done_rx.try_recv().is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        rx.join().unwrap()
    });
    let (adv, arp) = frames;
    assert_eq!(
        &adv[..6],
        &[0x01, 0x00, 0x5e, 0x00, 0x00, 0x12],
        "multicast MAC of 224.0.0.18"
    );
    assert_eq!(
        &adv[14..],
        &advert[..],
        "the advert as built, behind the Ethernet header"
    );
    assert_eq!(arp, garp);
}

/// keepalived's use_vmac sysctls land in the namespace of the calling thread (checked
/// with `sysctl` inside it) and the parent's old values come back on restore.
#[test]
fn vmac_sysctls_set_and_restored_in_the_namespace() {
    use ka_sys::sysctl::{self, Family};
    let pair = Pair::new();
    let ns = &pair.a;
    let parent = pair.a_if.clone();
    let pidx = ns.ifindex(&parent);
    let name = common::unique_name("kvm");
    let get = |ifname: &str, p: &str| -> String {
        ns.exec(&["sysctl", "-n", &format!("net.ipv4.conf.{ifname}.{p}")])
            .trim()
            .to_owned()
    };
    ns.exec(&[
        "sysctl",
        "-qw",
        &format!("net.ipv4.conf.{parent}.arp_ignore=2"),
    ]);
    let before_rp = get(&parent, "rp_filter");
    let (n2, p2) = (name.clone(), parent.clone());
    let old = ns.run_async(WAIT, move || async move {
        let nl = Netlink::new().unwrap();
        nl.add_macvlan(&n2, pidx, vmac_address(9, false))
            .await
            .unwrap();
        sysctl::set_vmac_params(&n2, &p2).unwrap()
    });
    assert_eq!((old.arp_ignore, old.arp_filter), (2, 0));
    assert_eq!(get(&name, "arp_ignore"), "1");
    assert_eq!(get(&name, "accept_local"), "1");
    assert_eq!(get(&name, "rp_filter"), "0");
    assert_eq!(get(&name, "promote_secondaries"), "1");
    assert_eq!(get(&parent, "arp_ignore"), "1");
    assert_eq!(get(&parent, "arp_filter"), "1");
    assert_eq!(get(&parent, "rp_filter"), before_rp, "untouched");
    let p2 = parent.clone();
    ns.run(move || {
        sysctl::restore_parent_params(&p2, old).unwrap();
        assert_eq!(sysctl::get(Family::V4, &p2, "arp_ignore").unwrap(), 2);
        assert!(sysctl::get(Family::V4, "../../x", "arp_ignore").is_err());
        assert!(sysctl::get(Family::V4, "nonexistent0", "arp_ignore").is_err());
    });
    assert_eq!(get(&parent, "arp_ignore"), "2");
    assert_eq!(get(&parent, "arp_filter"), "0");
}
