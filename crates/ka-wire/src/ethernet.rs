//! Ethernet II headers (IEEE 802.3 clause 3.2.6), with at most one 802.1Q tag.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Destination MAC (6 bytes)                    |
//! +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+      Source MAC (6 bytes)     +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   EtherType (0x8100: 802.1Q)  |  (802.1Q: TCI, then EtherType)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{array_at, u16_at, Result};

/// A MAC address.
pub type MacAddr = [u8; 6];

/// ff:ff:ff:ff:ff:ff.
pub const BROADCAST: MacAddr = [0xff; 6];
/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// EtherType of an 802.1Q tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;

/// An Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct EthernetHeader {
    /// Destination MAC.
    pub dst: MacAddr,
    /// Source MAC.
    pub src: MacAddr,
    /// The 802.1Q Tag Control Information, when the frame carries one tag.
    pub vlan_tci: Option<u16>,
    /// The EtherType of the payload (after the tag, if any).
    pub ethertype: u16,
}

impl EthernetHeader {
    /// Decodes the header and returns it with the payload (which may include padding
    /// and is bounded by the upper layer's own length field).
    pub fn decode(frame: &[u8]) -> Result<(Self, &[u8])> {
        let dst = array_at(frame, 0, "ethernet header")?;
        let src = array_at(frame, 6, "ethernet header")?;
        let first = u16_at(frame, 12, "ethernet header")?;
        let (vlan_tci, ethertype, len) = if first == ETHERTYPE_VLAN {
            (
                Some(u16_at(frame, 14, "802.1q tag")?),
                u16_at(frame, 16, "802.1q tag")?,
                18,
            )
        } else {
            (None, first, 14)
        };
        let header = EthernetHeader {
            dst,
            src,
            vlan_tci,
            ethertype,
        };
        Ok((header, frame.get(len..).unwrap_or_default()))
    }

    /// The header length on the wire (14, or 18 with a tag).
    pub const fn len(&self) -> usize {
        if self.vlan_tci.is_some() {
            18
        } else {
            14
        }
    }

    /// Always false: a header has bytes (present for clippy's `len_without_is_empty`).
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// Appends the header to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.dst);
        out.extend_from_slice(&self.src);
        if let Some(tci) = self.vlan_tci {
            out.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            out.extend_from_slice(&tci.to_be_bytes());
        }
        out.extend_from_slice(&self.ethertype.to_be_bytes());
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_to_string(mac: &MacAddr) -> String {
    let [a, b, c, d, e, f] = mac;
    format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
}

/// The MAC of an IPv4 multicast group (RFC 1112 section 6.4: 01:00:5e + low 23 bits).
pub fn ipv4_multicast_mac(group: Ipv4Addr) -> MacAddr {
    let [_, b, c, d] = group.octets();
    [0x01, 0x00, 0x5e, b & 0x7f, c, d]
}

/// The MAC of an IPv6 multicast group (RFC 2464 section 7: 33:33 + low 32 bits).
pub fn ipv6_multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// The VRRP virtual MAC for a VRID (RFC 5798 section 7.3: 00-00-5E-00-01-{VRID} for
/// IPv4, 00-00-5E-00-02-{VRID} for IPv6).
pub const fn virtual_mac(vrid: u8, ipv6: bool) -> MacAddr {
    [0x00, 0x00, 0x5e, 0x00, if ipv6 { 0x02 } else { 0x01 }, vrid]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_with_and_without_tag() {
        let plain = [
            1, 0, 0x5e, 0, 0, 0x12, 2, 0, 0, 0, 0, 0x0b, 0x08, 0x00, 0x45,
        ];
        let (h, rest) = EthernetHeader::decode(&plain).unwrap();
        assert_eq!(
            (h.ethertype, h.vlan_tci, rest),
            (ETHERTYPE_IPV4, None, &[0x45][..])
        );
        let mut out = Vec::new();
        h.encode_into(&mut out);
        assert_eq!(out, plain[..14]);
        let tagged = [
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x81, 0x00, 0x00, 0x07, 0x86, 0xdd,
        ];
        let (h, rest) = EthernetHeader::decode(&tagged).unwrap();
        assert_eq!(
            (h.ethertype, h.vlan_tci, rest.len(), h.len()),
            (ETHERTYPE_IPV6, Some(7), 0, 18)
        );
        let mut out = Vec::new();
        h.encode_into(&mut out);
        assert_eq!(out, tagged);
        assert!(EthernetHeader::decode(&tagged[..15]).is_err());
    }

    #[test]
    fn multicast_macs() {
        assert_eq!(
            ipv4_multicast_mac(Ipv4Addr::new(224, 0, 0, 18)),
            [1, 0, 0x5e, 0, 0, 0x12]
        );
        assert_eq!(
            ipv6_multicast_mac("ff02::12".parse().unwrap()),
            [0x33, 0x33, 0, 0, 0, 0x12]
        );
        assert_eq!(mac_to_string(&virtual_mac(51, false)), "00:00:5e:00:01:33");
    }
}
