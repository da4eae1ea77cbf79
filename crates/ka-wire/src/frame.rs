//! Sorting captured frames: VRRP over IPv4/IPv6, ARP, IPv6 neighbour advertisements,
//! and everything else.

use crate::arp::ArpPacket;
use crate::error::{Error, Result};
use crate::ethernet::{EthernetHeader, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use crate::ip::{parse_vrrp_ip, VrrpIp};
use crate::nd::NeighborAdvert;
use crate::pcap::{link_payload, LinkType};

/// What a frame carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// An IPv4 or IPv6 packet carrying VRRP (possibly behind AH). The VRRP message
    /// itself is not decoded yet: call [`VrrpIp::decode`].
    Vrrp(VrrpIp<'a>),
    /// An Ethernet/IPv4 ARP packet.
    Arp(ArpPacket),
    /// An ICMPv6 neighbour advertisement.
    NeighborAdvert(NeighborAdvert),
    /// Something else (another protocol, or a neighbour-discovery message other than NA).
    Other {
        /// EtherType of the payload.
        ethertype: u16,
    },
    /// A frame of a type this crate reads (IPv4, IPv6, ARP) that failed to parse.
    Malformed {
        /// EtherType of the payload.
        ethertype: u16,
        /// Why it failed.
        error: Error,
    },
}

/// A classified frame with its Ethernet header, when the link has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified<'a> {
    /// The Ethernet header (Ethernet captures only).
    pub ethernet: Option<EthernetHeader>,
    /// The content.
    pub frame: Frame<'a>,
}

/// Classifies a captured frame of `link_type`. Fails only when the link-layer header
/// itself cannot be read; errors further up become [`Frame::Malformed`].
pub fn classify(link_type: LinkType, data: &[u8]) -> Result<Classified<'_>> {
    let lp = link_payload(link_type, data)?;
    Ok(Classified {
        ethernet: lp.ethernet,
        frame: classify_payload(lp.ethertype, lp.payload),
    })
}

/// Classifies an Ethernet frame.
pub fn classify_ethernet(frame: &[u8]) -> Result<Classified<'_>> {
    classify(LinkType::Ethernet, frame)
}

/// Classifies a network-layer payload by EtherType.
pub fn classify_payload(ethertype: u16, payload: &[u8]) -> Frame<'_> {
    let malformed = |error| Frame::Malformed { ethertype, error };
    match ethertype {
        ETHERTYPE_ARP => ArpPacket::decode(payload).map_or_else(malformed, Frame::Arp),
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => match parse_vrrp_ip(payload) {
            Ok(ip) => Frame::Vrrp(ip),
            Err(Error::NotVrrp(_)) if ethertype == ETHERTYPE_IPV6 => {
                match NeighborAdvert::decode(payload) {
                    Ok(na) => Frame::NeighborAdvert(na),
                    Err(Error::NotNeighborAdvert { .. }) => Frame::Other { ethertype },
                    Err(e) => malformed(e),
                }
            }
            Err(Error::NotVrrp(_)) => Frame::Other { ethertype },
            Err(e) => malformed(e),
        },
        _ => Frame::Other { ethertype },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn sorts_built_frames() {
        let mac = [2, 0, 0, 0, 0, 0x0b];
        let garp = crate::arp::garp_frame(mac, Ipv4Addr::new(192, 0, 2, 1));
        assert!(
            matches!(classify_ethernet(&garp).unwrap().frame, Frame::Arp(a) if a.is_gratuitous())
        );
        let na = crate::nd::una_frame(mac, Ipv6Addr::LOCALHOST);
        assert!(matches!(
            classify_ethernet(&na).unwrap().frame,
            Frame::NeighborAdvert(_)
        ));
        let mut other = garp.clone();
        other[12] = 0x88;
        assert!(matches!(
            classify_ethernet(&other).unwrap().frame,
            Frame::Other { .. }
        ));
        let mut bad = garp.clone();
        bad.truncate(30);
        assert!(matches!(
            classify_ethernet(&bad).unwrap().frame,
            Frame::Malformed { .. }
        ));
        assert!(classify_ethernet(&bad[..10]).is_err());
    }
}
