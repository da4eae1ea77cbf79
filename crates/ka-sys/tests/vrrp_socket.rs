//! Raw VRRP sockets for real: two namespaces joined by a veth pair; an advert built with
//! ka-wire is sent from `a` and must arrive on `b` with the destination, ifindex and
//! TTL / hop limit it was sent with (IPv4 and IPv6, multicast and unicast).
// Test helpers outside #[test] fns unwrap too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::mpsc;
use std::time::Duration;

use common::{Pair, WAIT};
use ka_sys::vrrp_socket::{VRRP_GROUP_V4, VRRP_GROUP_V6};
use ka_sys::{RxPacket, VrrpSocket};
use ka_wire::ip::{build_ipv4, parse_vrrp_ip, Ipv4Params};
use ka_wire::vrrp::{Auth, Family, Version, VrrpPacket};

fn advert(addrs: Vec<IpAddr>) -> VrrpPacket {
    VrrpPacket {
        version: Version::V3,
        kind: 1,
        vrid: 51,
        priority: 150,
        adver_int_cs: 100,
        reserved: 0,
        checksum: 0,
        addrs,
        auth: Auth::None,
    }
}

/// What the sender does with its socket before sending.
#[derive(Clone, Copy)]
enum Tx {
    V4,
    V6 {
        src_link_local: bool,
        unicast_hops: Option<u8>,
    },
}

/// Opens a receiver on b (joining the group when `dst` is multicast), then sends `bytes`
/// (built by `build` from the source address) from a to `dst` until b has a packet or
/// the bounded wait ends. Returns what b received and b's ifindex.
fn exchange(
    pair: &Pair,
    tx: Tx,
    dst: IpAddr,
    build: impl Fn(IpAddr) -> Vec<u8> + Send + Sync,
) -> (RxPacket, IpAddr, u32) {
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let b_index = pair.b.ifindex(&pair.b_if);
    let a_index = pair.a.ifindex(&pair.a_if);
    let src: IpAddr = match tx {
        Tx::V4 => Pair::A4.parse().unwrap(),
        Tx::V6 {
            src_link_local: true,
            ..
        } => IpAddr::V6(Pair::link_local(&pair.a, &pair.a_if)),
        Tx::V6 { .. } => Pair::A6.parse().unwrap(),
    };
    let bytes = build(src);
    let rx = std::thread::scope(|s| {
        let receiver = s.spawn(|| {
            pair.b.run_async(WAIT, move || async move {
                let sock = if dst.is_ipv4() {
                    VrrpSocket::open_v4(b_index).unwrap()
                } else {
                    VrrpSocket::open_v6(b_index).unwrap()
                };
                if dst.is_multicast() {
                    sock.join_vrrp_group().unwrap();
                }
                ready_tx.send(()).unwrap();
                let rx = sock.recv().await.unwrap();
                let _ = done_tx.send(());
                rx
            })
        });
        pair.a.run_async(WAIT, move || async move {
            ready_rx.recv_timeout(WAIT).unwrap();
            let sock = match tx {
                Tx::V4 => VrrpSocket::open_v4(a_index).unwrap(),
                Tx::V6 { unicast_hops, .. } => {
                    let s = VrrpSocket::open_v6(a_index).unwrap();
                    let IpAddr::V6(src6) = src else {
                        unreachable!()
                    };
                    s.bind_source_v6(src6).unwrap();
                    if let Some(h) = unicast_hops {
                        s.set_unicast_hop_limit(h).unwrap();
                    }
                    s
                }
            };
            // Bounded retries: the first packet may race the receiver's group join.
            for _ in 0..20 {
                sock.send(dst, &bytes).await.unwrap();
                if done_rx.try_recv().is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        receiver.join().unwrap()
    });
    (rx, src, b_index)
}

fn v4_case(dst: Ipv4Addr, ttl: u8) {
    let pair = Pair::new();
    let pkt = advert(vec![
        "192.0.2.100".parse().unwrap(),
        "192.0.2.101".parse().unwrap(),
    ]);
    let dst_ip = IpAddr::V4(dst);
    let p2 = pkt.clone();
    let (rx, src, b_index) = exchange(&pair, Tx::V4, dst_ip, move |src| {
        let IpAddr::V4(src4) = src else {
            unreachable!()
        };
        let vrrp = p2.encode_for_send(src, dst_ip).unwrap();
        let params = Ipv4Params {
            ttl,
            id: 0x1234,
            ..Ipv4Params::default()
        };
        build_ipv4(src4, dst, params, &vrrp).unwrap()
    });
    assert_eq!(rx.src, src);
    assert_eq!(rx.dst, dst_ip);
    assert_eq!(rx.ifindex, b_index);
    assert_eq!(rx.ttl, ttl);
    let ip = parse_vrrp_ip(&rx.data).unwrap();
    assert_eq!((ip.src, ip.dst, ip.ttl), (src, dst_ip, ttl));
    assert_eq!(ip.tos, 0xc0, "TOS is ours (IP_HDRINCL)");
    assert_eq!(ip.ip_id, Some(0x1234), "IP id is ours (IP_HDRINCL)");
    assert!(!ip.dont_fragment);
    assert!(ip.header_checksum_ok && ip.checksum_ok());
    let got = ip.decode().unwrap();
    assert_eq!(got.addrs, pkt.addrs);
    assert_eq!((got.vrid, got.priority), (51, 150));
}

#[test]
fn v4_multicast_advert_arrives_with_ttl_255() {
    v4_case(VRRP_GROUP_V4, 255);
}

#[test]
fn v4_unicast_advert_keeps_our_ttl() {
    // A TTL other than 255 shows the header is ours, not the kernel's.
    v4_case(Pair::B4.parse().unwrap(), 254);
}

fn v6_case(tx: Tx, dst: Ipv6Addr, want_hops: u8) {
    let pair = Pair::new();
    let pkt = advert(vec!["2001:db8::100".parse().unwrap()]);
    let dst_ip = IpAddr::V6(dst);
    let p2 = pkt.clone();
    let (rx, src, b_index) = exchange(&pair, tx, dst_ip, move |src| {
        p2.encode_for_send(src, dst_ip).unwrap()
    });
    assert_eq!(rx.src, src);
    assert_eq!(rx.dst, dst_ip);
    assert_eq!(rx.ifindex, b_index);
    assert_eq!(rx.ttl, want_hops);
    let got = VrrpPacket::decode(&rx.data, Family::V6).unwrap();
    assert!(
        got.checksum_ok(src, dst_ip),
        "checksum over the real pseudo-header"
    );
    assert_eq!(got.addrs, pkt.addrs);
}

#[test]
fn v6_multicast_advert_from_link_local_with_hop_limit_255() {
    let tx = Tx::V6 {
        src_link_local: true,
        unicast_hops: None,
    };
    v6_case(tx, VRRP_GROUP_V6, 255);
}

#[test]
fn v6_unicast_advert_default_hop_limit_is_64_like_keepalived() {
    let tx = Tx::V6 {
        src_link_local: false,
        unicast_hops: None,
    };
    v6_case(tx, Pair::B6.parse().unwrap(), 64);
}

#[test]
fn v6_unicast_advert_with_hop_limit_255() {
    let tx = Tx::V6 {
        src_link_local: false,
        unicast_hops: Some(255),
    };
    v6_case(tx, Pair::B6.parse().unwrap(), 255);
}

#[test]
fn family_mismatch_is_an_error() {
    let pair = Pair::new();
    let idx = pair.a.ifindex(&pair.a_if);
    pair.a.run_async(WAIT, || async {
        let s = VrrpSocket::open_v4(idx).unwrap();
        assert!(s.send(IpAddr::V6(VRRP_GROUP_V6), &[0; 40]).await.is_err());
        assert!(s.bind_source_v6(Ipv6Addr::LOCALHOST).is_err());
        assert!(VrrpSocket::open_v4(u32::MAX).is_err());
    });
}

/// SO_BINDTODEVICE and IP_MULTICAST_ALL off: with two links into b, a socket bound to
/// one link never sees adverts arriving on the other, though both joined the group.
#[test]
fn socket_sees_only_its_own_interface() {
    let pair = Pair::new();
    let (a2, b2) = pair.add_veth();
    let a1_idx = pair.a.ifindex(&pair.a_if);
    let a2_idx = pair.a.ifindex(&a2);
    let b1_idx = pair.b.ifindex(&pair.b_if);
    let b2_idx = pair.b.ifindex(&b2);
    let src: Ipv4Addr = Pair::A4.parse().unwrap();
    let dst = IpAddr::V4(VRRP_GROUP_V4);
    let build = |vrid: u8| {
        let mut p = advert(vec!["192.0.2.100".parse().unwrap()]);
        p.vrid = vrid;
        let vrrp = p.encode_for_send(IpAddr::V4(src), dst).unwrap();
        ka_wire::ip::keepalived_ipv4(src, VRRP_GROUP_V4, 1, &vrrp).unwrap()
    };
    let (on1, on2) = (build(1), build(2));
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let got = std::thread::scope(|s| {
        let b = &pair.b;
        let rx = s.spawn(move || {
            b.run_async(WAIT, move || async move {
                let s1 = VrrpSocket::open_v4(b1_idx).unwrap();
                let s2 = VrrpSocket::open_v4(b2_idx).unwrap();
                s1.join_vrrp_group().unwrap();
                s2.join_vrrp_group().unwrap();
                ready_tx.send(()).unwrap();
                let mut seen = vec![];
                // Collect for a bounded time: what each socket saw, with its vrid.
                let end = tokio::time::Instant::now() + Duration::from_millis(1500);
                loop {
                    tokio::select! {
                        r = s1.recv() => { let r = r.unwrap(); seen.push((1u8, r.ifindex, r.data[20 + 1])); }
                        r = s2.recv() => { let r = r.unwrap(); seen.push((2u8, r.ifindex, r.data[20 + 1])); }
                        _ = tokio::time::sleep_until(end) => break,
                    }
                }
                seen
            })
        });
        pair.a.run_async(WAIT, move || async move {
            ready_rx.recv_timeout(WAIT).unwrap();
            let t1 = VrrpSocket::open_v4(a1_idx).unwrap();
            let t2 = VrrpSocket::open_v4(a2_idx).unwrap();
            for _ in 0..5 {
                t1.send(dst, &on1).await.unwrap();
                t2.send(dst, &on2).await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        rx.join().unwrap()
    });
    assert!(
        got.contains(&(1, b1_idx, 1)),
        "link 1 advert missing: {got:?}"
    );
    assert!(
        got.contains(&(2, b2_idx, 2)),
        "link 2 advert missing: {got:?}"
    );
    assert!(
        got.iter().all(
            |&(sock, idx, vrid)| sock == vrid && idx == if sock == 1 { b1_idx } else { b2_idx }
        ),
        "an advert reached the socket of the other link: {got:?}"
    );
}
