//! Fuzz every ka-wire decoder: none may panic, and whatever decodes must re-encode to
//! the same bytes.
//!
//! Input layout: the first byte selects the entry point, the rest is the data.
//! Run: `cargo fuzz run wire_decode --sanitizer none` (seed it with
//! tests/data/interop/*.pcap prefixed with the byte 0x05, which selects the pcap reader).

#![no_main]

use ka_wire::arp::ArpPacket;
use ka_wire::frame::{classify, Frame};
use ka_wire::ip::parse_vrrp_ip;
use ka_wire::nd::NeighborAdvert;
use ka_wire::pcap::{LinkType, Pcap};
use ka_wire::vrrp::{verify_checksum, Family, VrrpPacket};
use libfuzzer_sys::fuzz_target;

fn vrrp_roundtrip(bytes: &[u8], family: Family) {
    if let Ok(p) = VrrpPacket::decode(bytes, family) {
        assert_eq!(p.encode().ok().as_deref(), Some(bytes), "vrrp re-encode");
    }
}

fn frame(link: LinkType, data: &[u8]) {
    let Ok(c) = classify(link, data) else { return };
    match c.frame {
        Frame::Vrrp(ip) => {
            let _ = ip.checksum_ok();
            vrrp_roundtrip(ip.vrrp, ip.family());
        }
        Frame::Arp(a) => {
            let enc = a.encode();
            assert_eq!(ArpPacket::decode(&enc), Ok(a));
        }
        Frame::NeighborAdvert(na) => {
            let _ = na.checksum_ok();
            assert_eq!(NeighborAdvert::decode(&na.encode()), Ok(na));
        }
        Frame::Other { .. } | Frame::Malformed { .. } => {}
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else { return };
    match selector % 6 {
        0 => vrrp_roundtrip(data, Family::V4),
        1 => vrrp_roundtrip(data, Family::V6),
        2 => {
            if let Ok(ip) = parse_vrrp_ip(data) {
                let _ = verify_checksum(ip.vrrp, ip.src, ip.dst);
                vrrp_roundtrip(ip.vrrp, ip.family());
            }
        }
        3 => frame(LinkType::Ethernet, data),
        4 => {
            for link in [LinkType::LinuxSll, LinkType::LinuxSll2, LinkType::Raw] {
                frame(link, data);
            }
        }
        _ => {
            if let Ok(pcap) = Pcap::parse(data) {
                for rec in pcap.records().flatten() {
                    frame(pcap.link_type, rec.data);
                }
            }
        }
    }
});
