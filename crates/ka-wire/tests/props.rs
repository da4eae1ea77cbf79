//! Property tests: decoders are total (no panic on any input) and encoding inverts
//! decoding.

#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ka_wire::arp::ArpPacket;
use ka_wire::frame::classify;
use ka_wire::ip::{keepalived_ipv4, parse_vrrp_ip};
use ka_wire::nd::NeighborAdvert;
use ka_wire::pcap::{LinkType, Pcap};
use ka_wire::vrrp::{verify_checksum, Auth, Family, Version, VrrpPacket};
use proptest::prelude::*;

fn any_auth() -> impl Strategy<Value = Auth> {
    (any::<u8>(), any::<[u8; 8]>()).prop_map(|(k, d)| Auth::from_wire(k, d))
}

fn addrs(family: Family) -> BoxedStrategy<Vec<IpAddr>> {
    match family {
        Family::V4 => prop::collection::vec(
            any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
            0..40,
        )
        .boxed(),
        Family::V6 => prop::collection::vec(
            any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
            0..20,
        )
        .boxed(),
    }
}

/// Valid packets: every field within its wire range.
fn valid_packet() -> impl Strategy<Value = (VrrpPacket, Family)> {
    let family = prop_oneof![Just(Family::V4), Just(Family::V6)];
    family.prop_flat_map(|family| {
        let v2 = (
            0u8..16,
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
            addrs(family),
            any_auth(),
        )
            .prop_map(
                |(kind, vrid, priority, secs, checksum, addrs, auth)| VrrpPacket {
                    version: Version::V2,
                    kind,
                    vrid,
                    priority,
                    adver_int_cs: u16::from(secs) * 100,
                    reserved: 0,
                    checksum,
                    addrs,
                    auth,
                },
            );
        let v3 = (
            0u8..16,
            any::<u8>(),
            any::<u8>(),
            0u16..4096,
            0u8..16,
            any::<u16>(),
            addrs(family),
        )
            .prop_map(
                |(kind, vrid, priority, adver_int_cs, reserved, checksum, addrs)| VrrpPacket {
                    version: Version::V3,
                    kind,
                    vrid,
                    priority,
                    adver_int_cs,
                    reserved,
                    checksum,
                    addrs,
                    auth: Auth::None,
                },
            );
        (prop_oneof![v2, v3], Just(family))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        for family in [Family::V4, Family::V6] {
            if let Ok(p) = VrrpPacket::decode(&bytes, family) {
                // Whatever decodes re-encodes to the same bytes.
                prop_assert_eq!(p.encode().unwrap(), bytes.clone());
            }
        }
        let _ = parse_vrrp_ip(&bytes).map(|ip| (ip.decode(), ip.checksum_ok()));
        let _ = ArpPacket::decode(&bytes);
        let _ = NeighborAdvert::decode(&bytes).map(|n| n.encode());
        for lt in [LinkType::Ethernet, LinkType::LinuxSll, LinkType::LinuxSll2, LinkType::Raw] {
            let _ = classify(lt, &bytes);
        }
        if let Ok(pcap) = Pcap::parse(&bytes) {
            for r in pcap.records().take(1000) {
                let _ = r.map(|r| classify(pcap.link_type, r.data));
            }
        }
        let src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
        let _ = verify_checksum(&bytes, src, src);
    }

    /// Mutations of a real advert (more likely to reach deep code paths than random bytes).
    #[test]
    fn mutated_adverts_never_panic(idx in 0usize..32, val in any::<u8>(), cut in 0usize..48) {
        let vrrp = [0x31, 0x33, 0x96, 0x01, 0x00, 0x64, 0xd3, 0xca, 0xc0, 0x00, 0x02, 0x01];
        let mut pkt = keepalived_ipv4(Ipv4Addr::new(192, 0, 2, 11), Ipv4Addr::new(224, 0, 0, 18), 1, &vrrp).unwrap();
        if let Some(b) = pkt.get_mut(idx) {
            *b = val;
        }
        pkt.truncate(cut);
        if let Ok(ip) = parse_vrrp_ip(&pkt) {
            if let Ok(p) = ip.decode() {
                prop_assert_eq!(p.encode().unwrap(), ip.vrrp.to_vec());
            }
        }
    }

    /// Mutations of a real capture (AH, ARP, NA and plain adverts in one file).
    #[test]
    fn mutated_pcap_never_panics(edits in prop::collection::vec((0usize..1700, any::<u8>()), 1..8), cut in 0usize..1700) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/interop/v2_mcast_ah.pcap");
        let mut bytes = std::fs::read(path).unwrap();
        for (i, v) in edits {
            if let Some(b) = bytes.get_mut(i) {
                *b = v;
            }
        }
        bytes.truncate(cut.max(24));
        if let Ok(pcap) = Pcap::parse(&bytes) {
            for r in pcap.records().flatten() {
                if let Ok(c) = classify(pcap.link_type, r.data) {
                    if let ka_wire::frame::Frame::Vrrp(ip) = c.frame {
                        let _ = ip.checksum_ok();
                        let _ = ka_wire::ip::verify_keepalived_ah(&r.data[14..], b"s3cret", false);
                        if let Ok(p) = ip.decode() {
                            prop_assert_eq!(p.encode().unwrap(), ip.vrrp.to_vec());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn encode_decode_roundtrip((p, family) in valid_packet()) {
        let bytes = p.encode().unwrap();
        prop_assert_eq!(bytes.len(), p.encoded_len());
        let back = VrrpPacket::decode(&bytes, family).unwrap();
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(back.encode().unwrap(), bytes);
    }

    #[test]
    fn fresh_checksum_verifies((p, family) in valid_packet(), seed in any::<u64>()) {
        let _ = seed;
        let src = match family { Family::V4 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)), Family::V6 => "fe80::b".parse().unwrap() };
        let dst = family.multicast_group();
        let bytes = p.encode_for_send(src, dst).unwrap();
        prop_assert!(verify_checksum(&bytes, src, dst));
        let back = VrrpPacket::decode(&bytes, family).unwrap();
        prop_assert!(back.checksum_ok(src, dst));
        // A flipped bit anywhere is detected.
        let mut bad = bytes.clone();
        let i = usize::try_from(seed % bytes.len() as u64).unwrap();
        bad[i] ^= 1 << (seed % 8);
        prop_assert!(!verify_checksum(&bad, src, dst));
    }

    #[test]
    fn v3_checksum_uses_the_given_destination((p, family) in valid_packet(), raw in any::<[u8; 16]>()) {
        let src = match family { Family::V4 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)), Family::V6 => "fe80::b".parse().unwrap() };
        let dst = match family {
            Family::V4 => IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(raw)),
        };
        let group = family.multicast_group();
        let c_dst = p.compute_checksum(src, dst).unwrap();
        let bytes = VrrpPacket { checksum: c_dst, ..p.clone() }.encode().unwrap();
        prop_assert!(verify_checksum(&bytes, src, dst));
        match p.version {
            // v2 ignores the addresses (RFC 3768 section 5.3.8).
            Version::V2 => prop_assert!(verify_checksum(&bytes, src, group)),
            // v3: a checksum made for one destination fails for another, unless the
            // two one's-complement sums coincide.
            Version::V3 => {
                if p.compute_checksum(src, group).unwrap() != c_dst {
                    prop_assert!(!verify_checksum(&bytes, src, group));
                }
            }
        }
    }
}
