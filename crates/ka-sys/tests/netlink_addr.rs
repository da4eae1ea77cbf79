//! rtnetlink addresses for real: add (prefix, label, scope, broadcast, IPv6 nodad), see
//! them with `ip -j addr`, list them, add again (no error), remove, remove again.
// Test helpers outside #[test] fns unwrap too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::net::IpAddr;

use common::{Pair, WAIT};
use ka_sys::netlink::{IFA_F_NODAD, SCOPE_GLOBAL, SCOPE_HOST, SCOPE_LINK};
use ka_sys::{AddrSpec, Netlink};

fn find<'a>(info: &'a [serde_json::Value], local: &str) -> Option<&'a serde_json::Value> {
    info.iter().find(|a| a["local"] == local)
}

#[test]
fn add_list_remove_addresses() {
    let pair = Pair::new();
    let ns = &pair.a;
    let ifname = pair.a_if.clone();
    let idx = ns.ifindex(&ifname);
    let label = format!("{ifname}:v");
    assert!(label.len() <= 15);

    // A different prefix from the setup's 192.0.2.1/24: the kernel refuses a secondary
    // address of the same subnet with another scope.
    let v4 = AddrSpec {
        label: Some(label.clone()),
        scope: SCOPE_LINK,
        broadcast: Some("192.0.2.255".parse().unwrap()),
        ..AddrSpec::new(idx, "192.0.2.150".parse().unwrap(), 25)
    };
    let host = AddrSpec {
        scope: SCOPE_HOST,
        ..AddrSpec::new(idx, "192.0.2.51".parse().unwrap(), 32)
    };
    let v6 = AddrSpec::new(idx, "2001:db8::100".parse().unwrap(), 64);
    assert!(v6.nodad);
    let specs = [v4.clone(), host.clone(), v6.clone()];

    let (added, again, listed) = ns.run_async(WAIT, || {
        let specs = specs.clone();
        async move {
            let nl = Netlink::new().unwrap();
            let mut added = vec![];
            let mut again = vec![];
            for s in &specs {
                added.push(nl.add_address(s).await.unwrap());
            }
            for s in &specs {
                again.push(nl.add_address(s).await.unwrap());
            }
            (added, again, nl.addresses(idx).await.unwrap())
        }
    });
    assert_eq!(added, [true; 3], "fresh adds");
    assert_eq!(
        again, [false; 3],
        "adding an existing address is not an error"
    );

    // What `ip` sees.
    let info = ns.addr_info(&ifname);
    let a = find(&info, "192.0.2.150").expect("v4 VIP missing");
    assert_eq!(a["prefixlen"], 25);
    assert_eq!(a["label"], label.as_str());
    assert_eq!(a["scope"], "link");
    assert_eq!(a["broadcast"], "192.0.2.255");
    let h = find(&info, "192.0.2.51").expect("host VIP missing");
    assert_eq!(
        (h["prefixlen"].as_u64(), h["scope"].as_str()),
        (Some(32), Some("host"))
    );
    assert!(h.get("broadcast").is_none(), "no broadcast unless asked");
    let s = find(&info, "2001:db8::100").expect("v6 VIP missing");
    assert_eq!(s["prefixlen"], 64);
    assert_eq!(s["nodad"], true);
    assert!(s.get("tentative").is_none());

    // What our own listing says.
    let l4 = listed.iter().find(|x| x.addr == v4.addr).unwrap();
    assert_eq!(l4.label.as_deref(), Some(label.as_str()));
    assert_eq!((l4.scope, l4.prefix_len), (SCOPE_LINK, 25));
    assert_eq!(l4.broadcast, v4.broadcast);
    let l6 = listed.iter().find(|x| x.addr == v6.addr).unwrap();
    assert_ne!(l6.flags & IFA_F_NODAD, 0);
    assert_eq!(l6.scope, SCOPE_GLOBAL);
    // The setup addresses are listed too (it is a real listing, not an echo).
    assert!(listed
        .iter()
        .any(|x| x.addr == Pair::A4.parse::<IpAddr>().unwrap()));

    let (removed, removed_again) = ns.run_async(WAIT, || {
        let specs = specs.clone();
        async move {
            let nl = Netlink::new().unwrap();
            let mut r = vec![];
            let mut r2 = vec![];
            for s in &specs {
                r.push(nl.del_address(s).await.unwrap());
            }
            for s in &specs {
                r2.push(nl.del_address(s).await.unwrap());
            }
            (r, r2)
        }
    });
    assert_eq!(removed, [true; 3]);
    assert_eq!(
        removed_again, [false; 3],
        "removing a missing address is not an error"
    );
    let info = ns.addr_info(&ifname);
    for local in ["192.0.2.150", "192.0.2.51", "2001:db8::100"] {
        assert!(find(&info, local).is_none(), "{local} still present");
    }
    assert!(
        find(&info, Pair::A4).is_some(),
        "setup address removed by mistake"
    );
}

#[test]
fn add_on_missing_interface_is_an_error() {
    let pair = Pair::new();
    pair.a.run_async(WAIT, || async {
        let nl = Netlink::new().unwrap();
        let spec = AddrSpec::new(99_999, "192.0.2.60".parse().unwrap(), 32);
        assert!(nl.add_address(&spec).await.is_err());
    });
}

#[test]
fn leftover_vips_of_a_killed_run_are_removed_and_nothing_else() {
    let pair = Pair::new();
    let ns = &pair.a;
    let ifname = pair.a_if.clone();
    let idx = ns.ifindex(&ifname);
    // What a killed run left: two VIPs (added here with `ip`, as another process would).
    ns.ip(&["addr", "add", "192.0.2.200/32", "dev", &ifname]);
    ns.ip(&["addr", "add", "2001:db8::200/128", "dev", &ifname, "nodad"]);
    // An address that is not ours.
    ns.ip(&["addr", "add", "192.0.2.201/32", "dev", &ifname]);
    let vips = vec![
        AddrSpec::new(idx, "192.0.2.200".parse().unwrap(), 32),
        AddrSpec::new(idx, "2001:db8::200".parse().unwrap(), 128),
        AddrSpec::new(idx, "192.0.2.202".parse().unwrap(), 32), // never added
    ];
    let v2 = vips.clone();
    let (first, second) = ns.run_async(WAIT, move || async move {
        let nl = Netlink::new().unwrap();
        let first = nl.remove_leftover_addresses(&v2).await.unwrap();
        let second = nl.remove_leftover_addresses(&v2).await.unwrap();
        (first, second)
    });
    assert_eq!(first, vips[..2].to_vec());
    assert!(second.is_empty());
    let info = ns.addr_info(&ifname);
    assert!(find(&info, "192.0.2.200").is_none());
    assert!(find(&info, "2001:db8::200").is_none());
    assert!(
        find(&info, "192.0.2.201").is_some(),
        "a foreign address was removed"
    );
}

#[test]
fn overlong_label_is_refused() {
    let pair = Pair::new();
    let idx = pair.a.ifindex(&pair.a_if);
    pair.a.run_async(WAIT, move || async move {
        let nl = Netlink::new().unwrap();
        let spec = AddrSpec {
            label: Some("a-label-of-16-ch".into()),
            ..AddrSpec::new(idx, "192.0.2.61".parse().unwrap(), 32)
        };
        assert!(nl.add_address(&spec).await.is_err());
    });
    assert!(!pair.a.ip(&["addr"]).contains("192.0.2.61"));
}
