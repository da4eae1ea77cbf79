//! Unsolicited IPv6 Neighbour Advertisements (RFC 4861 section 4.4), as keepalived sends
//! them for each IPv6 VIP on becoming master (RFC 5798 section 6.4.2).
//!
//! ```text
//! RFC 4861 section 4.4 (inside an IPv6 packet, next header 58, hop limit 255)
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |R|S|O|                     Reserved                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Target Address (128 bits)               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Options ...
//! +-+-+-+-+-+-+-+-+-+-+-+-
//!
//! RFC 4861 section 4.6.1, Target Link-Layer Address option (Ethernet)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Type (2)    |  Length (1)   |    Link-Layer Address ...     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::{IpAddr, Ipv6Addr};

use crate::checksum::pseudo_header_v6;
use crate::error::{array_at, u16_at, u32_at, u8_at, Error, Result};
use crate::ethernet::{ipv6_multicast_mac, EthernetHeader, MacAddr, ETHERTYPE_IPV6};
use crate::ip::{
    encode_ipv6_header, parse_ipv6_header, Ipv6Header, IPPROTO_ICMPV6, IPV6_HEADER_LEN,
};

/// ICMPv6 type of a Neighbour Advertisement.
pub const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;
/// All-nodes multicast group, the destination of unsolicited NAs (RFC 4861 section 7.2.6).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// NA option type: Target Link-Layer Address.
pub const OPT_TARGET_LLA: u8 = 2;
const FLAG_ROUTER: u32 = 0x8000_0000;
const FLAG_SOLICITED: u32 = 0x4000_0000;
const FLAG_OVERRIDE: u32 = 0x2000_0000;
/// ICMPv6 header + flags + target.
const NA_BODY_LEN: usize = 24;

/// An IPv6 packet carrying an ICMPv6 Neighbour Advertisement, with the IPv6 header
/// fields needed to reproduce it exactly.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NeighborAdvert {
    /// IPv6 source (keepalived: the VIP itself).
    pub src: Ipv6Addr,
    /// IPv6 destination (unsolicited: ff02::1).
    pub dst: Ipv6Addr,
    /// Hop limit (255, RFC 4861 section 7.1.2).
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// ICMPv6 code (0).
    pub code: u8,
    /// R flag: the sender is a router (FRR sets it, keepalived does not).
    pub router: bool,
    /// S flag: a response to a solicitation (clear when unsolicited).
    pub solicited: bool,
    /// O flag: override existing cache entries.
    pub override_flag: bool,
    /// The 29 reserved bits, as received.
    pub reserved: u32,
    /// The target address (the VIP).
    pub target: Ipv6Addr,
    /// The Target Link-Layer Address option, if present.
    pub target_lla: Option<MacAddr>,
    /// The ICMPv6 checksum as received (or as computed by [`NeighborAdvert::unsolicited`]).
    pub checksum: u16,
}

impl NeighborAdvert {
    /// Decodes an IPv6 packet (starting at the IPv6 header) holding a Neighbour
    /// Advertisement with no option or one Target Link-Layer Address option.
    /// Bytes after the IPv6 payload length (link padding) are ignored.
    pub fn decode(packet: &[u8]) -> Result<Self> {
        let (h, payload) = parse_ipv6_header(packet)?;
        let icmp_type = u8_at(payload, 0, "icmpv6 header").unwrap_or(0);
        let code = u8_at(payload, 1, "icmpv6 header").unwrap_or(0);
        if h.next_header != IPPROTO_ICMPV6 || icmp_type != ICMPV6_NEIGHBOR_ADVERT {
            return Err(Error::NotNeighborAdvert {
                next_header: h.next_header,
                icmp_type,
                code,
            });
        }
        let checksum = u16_at(payload, 2, "neighbour advertisement")?;
        let flags = u32_at(payload, 4, "neighbour advertisement")?;
        let target = Ipv6Addr::from(array_at::<16>(payload, 8, "neighbour advertisement")?);
        let options = payload.get(NA_BODY_LEN..).unwrap_or_default();
        let target_lla = match options {
            [] => None,
            // RFC 4861 section 4.6.1: type 2, length 1 (8 bytes), then the MAC.
            [OPT_TARGET_LLA, 1, a, b, c, d, e, f] => Some([*a, *b, *c, *d, *e, *f]),
            [kind, len, ..] => {
                return Err(Error::NdOption {
                    kind: *kind,
                    len: *len,
                })
            }
            [kind] => {
                return Err(Error::NdOption {
                    kind: *kind,
                    len: 0,
                })
            }
        };
        Ok(NeighborAdvert {
            src: h.src,
            dst: h.dst,
            hop_limit: h.hop_limit,
            traffic_class: h.traffic_class,
            flow_label: h.flow_label,
            code,
            router: flags & FLAG_ROUTER != 0,
            solicited: flags & FLAG_SOLICITED != 0,
            override_flag: flags & FLAG_OVERRIDE != 0,
            reserved: flags & 0x1fff_ffff,
            target,
            target_lla,
            checksum,
        })
    }

    /// The unsolicited NA keepalived 2.2.7 sends for `vip` from interface MAC `mac`:
    /// from the VIP to ff02::1, hop limit 255, traffic class and flow label 0, only the
    /// Override flag (RFC 4861 section 7.2.6), a Target Link-Layer Address option, and
    /// a freshly computed checksum.
    pub fn unsolicited(mac: MacAddr, vip: Ipv6Addr) -> Self {
        let mut na = NeighborAdvert {
            src: vip,
            dst: ALL_NODES,
            hop_limit: 255,
            traffic_class: 0,
            flow_label: 0,
            code: 0,
            router: false,
            solicited: false,
            override_flag: true,
            reserved: 0,
            target: vip,
            target_lla: Some(mac),
            checksum: 0,
        };
        na.checksum = na.compute_checksum();
        na
    }

    fn icmp_body(&self, checksum: u16) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        out.push(ICMPV6_NEIGHBOR_ADVERT);
        out.push(self.code);
        out.extend_from_slice(&checksum.to_be_bytes());
        let flags = (if self.router { FLAG_ROUTER } else { 0 })
            | (if self.solicited { FLAG_SOLICITED } else { 0 })
            | (if self.override_flag { FLAG_OVERRIDE } else { 0 })
            | (self.reserved & 0x1fff_ffff);
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&self.target.octets());
        if let Some(mac) = self.target_lla {
            out.extend_from_slice(&[OPT_TARGET_LLA, 1]);
            out.extend_from_slice(&mac);
        }
        out
    }

    /// The ICMPv6 checksum this message must carry (RFC 4443 section 2.3: over the
    /// IPv6 pseudo-header and the ICMPv6 message).
    pub fn compute_checksum(&self) -> u16 {
        let body = self.icmp_body(0);
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        pseudo_header_v6(self.src, self.dst, IPPROTO_ICMPV6, len)
            .add(&body)
            .finish()
    }

    /// Whether the carried checksum is right.
    pub fn checksum_ok(&self) -> bool {
        self.compute_checksum() == self.checksum
    }

    /// The IPv6 packet, with the checksum as stored.
    pub fn encode(&self) -> Vec<u8> {
        let body = self.icmp_body(self.checksum);
        let mut out = Vec::with_capacity(IPV6_HEADER_LEN + body.len());
        let header = Ipv6Header {
            traffic_class: self.traffic_class,
            flow_label: self.flow_label,
            next_header: IPPROTO_ICMPV6,
            hop_limit: self.hop_limit,
            src: self.src,
            dst: self.dst,
        };
        // The body is at most 32 bytes.
        encode_ipv6_header(&header, u16::try_from(body.len()).unwrap_or(0), &mut out);
        out.extend_from_slice(&body);
        out
    }

    /// The Ethernet frame: from `src_mac` to the multicast MAC of the destination
    /// (33:33:00:00:00:01 for ff02::1; RFC 2464 section 7), or to `dst_mac` if given.
    pub fn encode_frame(&self, src_mac: MacAddr, dst_mac: Option<MacAddr>) -> Vec<u8> {
        let mut out = Vec::with_capacity(86);
        EthernetHeader {
            dst: dst_mac.unwrap_or_else(|| ipv6_multicast_mac(self.dst)),
            src: src_mac,
            vlan_tci: None,
            ethertype: ETHERTYPE_IPV6,
        }
        .encode_into(&mut out);
        out.extend_from_slice(&self.encode());
        out
    }

    /// Whether this is an unsolicited advertisement (to a multicast address, S clear).
    pub fn is_unsolicited(&self) -> bool {
        !self.solicited && IpAddr::V6(self.dst).is_multicast()
    }
}

/// The full 86-byte Ethernet frame of keepalived's unsolicited NA for `vip`.
pub fn una_frame(mac: MacAddr, vip: Ipv6Addr) -> Vec<u8> {
    NeighborAdvert::unsolicited(mac, vip).encode_frame(mac, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const FRAME_2J: &str = "33 33 00 00 00 01 02 00 00 00 00 0b 86 dd 60 00
        00 00 00 20 3a ff 20 01 0d b8 00 00 00 01 00 00
        00 00 00 00 00 01 ff 02 00 00 00 00 00 00 00 00
        00 00 00 00 00 01 88 00 f9 1e 20 00 00 00 20 01
        0d b8 00 00 00 01 00 00 00 00 00 00 00 01 02 01
        02 00 00 00 00 0b";

    #[test]
    fn una_vector_2j() {
        let frame = hex(FRAME_2J);
        let mac = [2, 0, 0, 0, 0, 0x0b];
        let vip: Ipv6Addr = "2001:db8:0:1::1".parse().unwrap();
        assert_eq!(una_frame(mac, vip), frame);
        let na = NeighborAdvert::decode(&frame[14..]).unwrap();
        assert_eq!(na, NeighborAdvert::unsolicited(mac, vip));
        assert!(na.checksum_ok() && na.is_unsolicited());
        assert_eq!(na.checksum, 0xf91e);
        assert_eq!(na.encode(), frame[14..]);
    }

    #[test]
    fn errors_and_flags() {
        let frame = hex(FRAME_2J);
        let mut p = frame[14..].to_vec();
        p[40] = 135; // neighbour solicitation
        assert!(matches!(
            NeighborAdvert::decode(&p),
            Err(Error::NotNeighborAdvert { icmp_type: 135, .. })
        ));
        let mut p = frame[14..].to_vec();
        p[64] = 1; // source link-layer address option
        assert_eq!(
            NeighborAdvert::decode(&p),
            Err(Error::NdOption { kind: 1, len: 1 })
        );
        assert!(matches!(
            NeighborAdvert::decode(&frame[14..60]),
            Err(Error::Truncated { .. })
        ));
        let mut p = frame[14..].to_vec();
        p[44] = 0xe0; // R, S, O
        let na = NeighborAdvert::decode(&p).unwrap();
        assert!(na.router && na.solicited && na.override_flag);
        assert!(!na.checksum_ok());
        assert_eq!(na.encode(), p);
    }
}
