//! The test support itself: namespaces and veths appear, traffic flows, and everything
//! is gone after drop, also after a panic.
// Test helpers outside #[test] fns unwrap too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::{netns_list, Netns, Pair};

#[test]
fn names_are_unique_and_short() {
    let a = common::unique_name("kva");
    let b = common::unique_name("kva");
    assert_ne!(a, b);
    assert!(a.len() <= 15 && b.len() <= 15);
}

#[test]
fn pair_connects_and_is_removed_on_drop() {
    let pair = Pair::new();
    let names = [pair.a.name.clone(), pair.b.name.clone()];
    let list = netns_list();
    assert!(names.iter().all(|n| list.contains(n)));
    // Traffic flows across the veth: a UDP datagram to a closed port on b comes back as
    // ICMP port unreachable, which surfaces as ECONNREFUSED on a later send.
    let reached = pair.a.run(|| {
        let sock = std::net::UdpSocket::bind("192.0.2.1:0").unwrap();
        sock.connect("192.0.2.2:9").unwrap();
        common::wait_until(common::WAIT, || {
            let _ = sock.send(b"x");
            matches!(sock.send(b"x"), Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
        })
    });
    assert!(reached, "namespace b did not answer across the veth");
    // The ifindex seen inside the namespace thread matches `ip` inside that namespace.
    let idx = pair.a.ifindex(&pair.a_if);
    let seen = pair
        .a
        .run(|| nix::net::if_::if_nametoindex(pair.a_if.as_str()).unwrap());
    assert_eq!(idx, seen);
    drop(pair);
    let list = netns_list();
    assert!(
        names.iter().all(|n| !list.contains(n)),
        "namespaces left behind"
    );
}

#[test]
fn namespace_removed_when_test_panics() {
    let name = std::sync::Mutex::new(String::new());
    let r = std::panic::catch_unwind(|| {
        let ns = Netns::new();
        *name.lock().unwrap() = ns.name.clone();
        ns.run(|| panic!("planted failure"));
    });
    assert!(r.is_err());
    let name = name.into_inner().unwrap();
    assert!(!name.is_empty());
    assert!(
        !netns_list().contains(&name),
        "{name} left behind after a panic"
    );
}

#[test]
fn enter_named_moves_the_thread_into_the_namespace() {
    let pair = Pair::new();
    let name = pair.a.name.clone();
    let ifname = pair.a_if.clone();
    let want = pair.a.ifindex(&ifname);
    let got = std::thread::spawn(move || {
        assert!(
            ka_sys::error::ifindex(&ifname).is_err(),
            "visible before entering"
        );
        ka_sys::netns::enter_named(&name).unwrap();
        ka_sys::error::ifindex(&ifname).unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(got, want);
    assert!(ka_sys::netns::enter_named("no-such-ns-kst").is_err());
    assert!(ka_sys::netns::enter_named("../etc").is_err());
}
