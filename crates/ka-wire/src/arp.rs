//! ARP (RFC 826) for Ethernet and IPv4, and the gratuitous ARP keepalived sends.
//!
//! ```text
//! RFC 826, Ethernet/IPv4 form (28 bytes)
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Hardware Type (1)        |     Protocol Type (0x0800)    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  HLEN (6)     |   PLEN (4)    |          Operation            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Sender Hardware Address (6) | Sender Protocol Addr (4)|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Target Hardware Address (6) | Target Protocol Addr (4)|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv4Addr;

use crate::error::{array_at, u16_at, u8_at, Error, Result};
use crate::ethernet::{EthernetHeader, MacAddr, BROADCAST, ETHERTYPE_ARP};

/// Length of an Ethernet/IPv4 ARP packet.
pub const ARP_LEN: usize = 28;
/// ARP request.
pub const OP_REQUEST: u16 = 1;
/// ARP reply.
pub const OP_REPLY: u16 = 2;

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ArpPacket {
    /// Operation (1 request, 2 reply; other values are kept).
    pub op: u16,
    /// Sender hardware address.
    pub sha: MacAddr,
    /// Sender protocol address.
    pub spa: Ipv4Addr,
    /// Target hardware address.
    pub tha: MacAddr,
    /// Target protocol address.
    pub tpa: Ipv4Addr,
}

impl ArpPacket {
    /// Decodes the 28 bytes at the start of `bytes` (Ethernet padding after them is ignored).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let htype = u16_at(bytes, 0, "arp")?;
        let ptype = u16_at(bytes, 2, "arp")?;
        let hlen = u8_at(bytes, 4, "arp")?;
        let plen = u8_at(bytes, 5, "arp")?;
        if (htype, ptype, hlen, plen) != (1, 0x0800, 6, 4) {
            return Err(Error::ArpFormat {
                htype,
                ptype,
                hlen,
                plen,
            });
        }
        Ok(ArpPacket {
            op: u16_at(bytes, 6, "arp")?,
            sha: array_at(bytes, 8, "arp")?,
            spa: Ipv4Addr::from(array_at::<4>(bytes, 14, "arp")?),
            tha: array_at(bytes, 18, "arp")?,
            tpa: Ipv4Addr::from(array_at::<4>(bytes, 24, "arp")?),
        })
    }

    /// The 28 bytes of the packet.
    pub fn encode(&self) -> [u8; ARP_LEN] {
        let mut out = [0u8; ARP_LEN];
        let mut parts = Vec::with_capacity(ARP_LEN);
        parts.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
        parts.extend_from_slice(&self.op.to_be_bytes());
        parts.extend_from_slice(&self.sha);
        parts.extend_from_slice(&self.spa.octets());
        parts.extend_from_slice(&self.tha);
        parts.extend_from_slice(&self.tpa.octets());
        for (o, p) in out.iter_mut().zip(parts) {
            *o = p;
        }
        out
    }

    /// The gratuitous ARP keepalived (and FRR) send on becoming master: a *request*
    /// "who-has VIP tell VIP" with the target MAC set to broadcast (RFC 5798 section
    /// 6.4.2 asks for a gratuitous ARP; RFC 5227 section 3 describes the form).
    pub const fn gratuitous(mac: MacAddr, vip: Ipv4Addr) -> Self {
        ArpPacket {
            op: OP_REQUEST,
            sha: mac,
            spa: vip,
            tha: BROADCAST,
            tpa: vip,
        }
    }

    /// Whether sender and target protocol addresses are equal (an announcement).
    pub fn is_gratuitous(&self) -> bool {
        self.spa == self.tpa
    }
}

/// The full 42-byte Ethernet frame of a gratuitous ARP for `vip` sent from `mac`, to
/// broadcast, exactly as keepalived 2.2.7 puts it on the wire (no padding).
pub fn garp_frame(mac: MacAddr, vip: Ipv4Addr) -> Vec<u8> {
    let mut out = Vec::with_capacity(14 + ARP_LEN);
    EthernetHeader {
        dst: BROADCAST,
        src: mac,
        vlan_tci: None,
        ethertype: ETHERTYPE_ARP,
    }
    .encode_into(&mut out);
    out.extend_from_slice(&ArpPacket::gratuitous(mac, vip).encode());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garp_vector_2i() {
        let frame: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x08, 0x06,
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b,
            0xc0, 0x00, 0x02, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc0, 0x00, 0x02, 0x01,
        ];
        let mac = [2, 0, 0, 0, 0, 0x0b];
        let vip = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!(garp_frame(mac, vip), frame);
        let p = ArpPacket::decode(&frame[14..]).unwrap();
        assert_eq!(p, ArpPacket::gratuitous(mac, vip));
        assert!(p.is_gratuitous());
        assert_eq!(p.encode(), frame[14..]);
    }

    #[test]
    fn rejects_non_ethernet_ipv4() {
        let mut b = ArpPacket::gratuitous([0; 6], Ipv4Addr::LOCALHOST).encode();
        b[5] = 16;
        assert!(matches!(
            ArpPacket::decode(&b),
            Err(Error::ArpFormat { plen: 16, .. })
        ));
        assert!(matches!(
            ArpPacket::decode(&b[..20]),
            Err(Error::ArpFormat { .. })
        ));
        b[5] = 4;
        assert!(matches!(
            ArpPacket::decode(&b[..20]),
            Err(Error::Truncated { .. })
        ));
    }
}
