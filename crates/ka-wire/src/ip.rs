//! The IP layer under VRRP: IPv4 (RFC 791) and IPv6 (RFC 8200) headers, and the IPsec
//! Authentication Header (RFC 4302) of keepalived's VRRPv2 `auth_type AH`.
//!
//! ```text
//! RFC 791 section 3.1, IPv4 header
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |Type of Service|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! RFC 8200 section 3, IPv6 header
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Source Address (128 bits)                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               Destination Address (128 bits)                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! RFC 4302 section 2, Authentication Header
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Header   |  Payload Len  |          RESERVED             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Security Parameters Index (SPI)               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Sequence Number Field                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                Integrity Check Value-ICV (variable)           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::checksum::internet_checksum;
use crate::error::{array_at, slice_at, u16_at, u32_at, u8_at, Error, Result};
use crate::vrrp::{verify_checksum, Family, VrrpPacket, IPPROTO_VRRP};

/// IP protocol number of the Authentication Header (RFC 4302 section 2.1).
pub const IPPROTO_AH: u8 = 51;
/// IP protocol number of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;
/// Length of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Length of the IPv6 fixed header.
pub const IPV6_HEADER_LEN: usize = 40;
/// The IPv4 Don't Fragment flag within the flags/offset word.
const FLAG_DF: u16 = 0x4000;

/// An IPsec Authentication Header, as keepalived's VRRPv2 AH variant carries it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AhHeader {
    /// Protocol after the AH (112 for VRRP).
    pub next_header: u8,
    /// Payload Len: AH length in 32-bit words minus 2 (RFC 4302 section 2.2).
    pub payload_len: u8,
    /// The 16 reserved bits, as received.
    pub reserved: u16,
    /// Security Parameters Index (keepalived: the source IPv4 address).
    pub spi: u32,
    /// Sequence number.
    pub seq: u32,
    /// Integrity Check Value (keepalived: HMAC-MD5-96, 12 bytes).
    pub icv: Vec<u8>,
}

impl AhHeader {
    /// Decodes an AH header at the start of `bytes`, returning it and its length.
    pub fn decode(bytes: &[u8]) -> Result<(Self, usize)> {
        let next_header = u8_at(bytes, 0, "ah header")?;
        let payload_len = u8_at(bytes, 1, "ah header")?;
        // RFC 4302 section 2.2: length in 32-bit words, minus 2.
        let len = (usize::from(payload_len) + 2) * 4;
        let icv_len = len.checked_sub(12).ok_or(Error::LengthMismatch {
            what: "ah header",
            expected: 12,
            got: len,
        })?;
        let ah = AhHeader {
            next_header,
            payload_len,
            reserved: u16_at(bytes, 2, "ah header")?,
            spi: u32_at(bytes, 4, "ah header")?,
            seq: u32_at(bytes, 8, "ah header")?,
            icv: slice_at(bytes, 12, icv_len, "ah icv")?.to_vec(),
        };
        Ok((ah, len))
    }

    /// Appends the header as carried.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.next_header);
        out.push(self.payload_len);
        out.extend_from_slice(&self.reserved.to_be_bytes());
        out.extend_from_slice(&self.spi.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.icv);
    }
}

/// An IP packet carrying VRRP, with the header fields the engine checks
/// (RFC 5798 section 7.1: TTL/hop limit 255, source, destination).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpIp<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address (multicast group or unicast peer).
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 TOS or IPv6 traffic class.
    pub tos: u8,
    /// IPv4 identification (`None` for IPv6).
    pub ip_id: Option<u16>,
    /// IPv4 Don't Fragment flag (false for IPv6).
    pub dont_fragment: bool,
    /// IPv6 flow label (`None` for IPv4).
    pub flow_label: Option<u32>,
    /// Whether the IPv4 header checksum is right (always true for IPv6, which has none).
    pub header_checksum_ok: bool,
    /// The AH header, when the packet is keepalived's VRRPv2 AH variant.
    pub ah: Option<AhHeader>,
    /// The VRRP message, exactly as long as the IP length fields say.
    pub vrrp: &'a [u8],
}

impl VrrpIp<'_> {
    /// The address family of the packet.
    pub fn family(&self) -> Family {
        Family::of(&self.src)
    }

    /// Decodes the VRRP message.
    pub fn decode(&self) -> Result<VrrpPacket> {
        VrrpPacket::decode(self.vrrp, self.family())
    }

    /// Verifies the VRRP checksum with this packet's source and actual destination.
    pub fn checksum_ok(&self) -> bool {
        verify_checksum(self.vrrp, self.src, self.dst)
    }
}

/// Parses an IPv4 or IPv6 packet carrying VRRP (protocol 112), directly or behind an
/// AH header (protocol 51, next header 112). Bytes after the IP length (link padding)
/// are ignored. A packet for another protocol gives [`Error::NotVrrp`].
pub fn parse_vrrp_ip(packet: &[u8]) -> Result<VrrpIp<'_>> {
    match u8_at(packet, 0, "ip header")? >> 4 {
        4 => parse_ipv4(packet),
        6 => parse_ipv6(packet),
        v => Err(Error::IpVersion(v)),
    }
}

fn parse_ipv4(packet: &[u8]) -> Result<VrrpIp<'_>> {
    let hdr: [u8; IPV4_HEADER_LEN] = array_at(packet, 0, "ipv4 header")?;
    let ihl = hdr[0] & 0x0f;
    if ihl < 5 {
        return Err(Error::Ipv4HeaderLength(ihl));
    }
    let hlen = usize::from(ihl) * 4;
    let full_header = slice_at(packet, 0, hlen, "ipv4 options")?;
    let total = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
    if total < hlen {
        return Err(Error::LengthMismatch {
            what: "ipv4 total length",
            expected: hlen,
            got: total,
        });
    }
    let body = slice_at(packet, hlen, total - hlen, "ipv4 payload")?;
    let frag = u16::from_be_bytes([hdr[6], hdr[7]]);
    if frag & 0x3fff != 0 {
        return Err(Error::Fragment(frag));
    }
    let protocol = hdr[9];
    let (ah, vrrp) = split_ah(protocol, body)?;
    Ok(VrrpIp {
        src: IpAddr::V4(Ipv4Addr::new(hdr[12], hdr[13], hdr[14], hdr[15])),
        dst: IpAddr::V4(Ipv4Addr::new(hdr[16], hdr[17], hdr[18], hdr[19])),
        ttl: hdr[8],
        tos: hdr[1],
        ip_id: Some(u16::from_be_bytes([hdr[4], hdr[5]])),
        dont_fragment: frag & FLAG_DF != 0,
        flow_label: None,
        header_checksum_ok: internet_checksum(full_header) == 0,
        ah,
        vrrp,
    })
}

/// The fields of an IPv6 fixed header.
pub(crate) struct Ipv6Header {
    pub traffic_class: u8,
    pub flow_label: u32,
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
}

/// Parses the IPv6 fixed header; returns it with the payload bounded by Payload Length.
pub(crate) fn parse_ipv6_header(packet: &[u8]) -> Result<(Ipv6Header, &[u8])> {
    let word = u32_at(packet, 0, "ipv6 header")?;
    if word >> 28 != 6 {
        return Err(Error::IpVersion(u8::try_from(word >> 28).unwrap_or(0)));
    }
    let payload_len = usize::from(u16_at(packet, 4, "ipv6 header")?);
    let h = Ipv6Header {
        traffic_class: u8::try_from((word >> 20) & 0xff).unwrap_or(0),
        flow_label: word & 0x000f_ffff,
        next_header: u8_at(packet, 6, "ipv6 header")?,
        hop_limit: u8_at(packet, 7, "ipv6 header")?,
        src: Ipv6Addr::from(array_at::<16>(packet, 8, "ipv6 header")?),
        dst: Ipv6Addr::from(array_at::<16>(packet, 24, "ipv6 header")?),
    };
    let payload = slice_at(packet, IPV6_HEADER_LEN, payload_len, "ipv6 payload")?;
    Ok((h, payload))
}

/// Appends an IPv6 fixed header.
pub(crate) fn encode_ipv6_header(h: &Ipv6Header, payload_len: u16, out: &mut Vec<u8>) {
    let word = 6u32 << 28 | u32::from(h.traffic_class) << 20 | (h.flow_label & 0x000f_ffff);
    out.extend_from_slice(&word.to_be_bytes());
    out.extend_from_slice(&payload_len.to_be_bytes());
    out.push(h.next_header);
    out.push(h.hop_limit);
    out.extend_from_slice(&h.src.octets());
    out.extend_from_slice(&h.dst.octets());
}

fn parse_ipv6(packet: &[u8]) -> Result<VrrpIp<'_>> {
    let (h, payload) = parse_ipv6_header(packet)?;
    let (ah, vrrp) = split_ah(h.next_header, payload)?;
    Ok(VrrpIp {
        src: IpAddr::V6(h.src),
        dst: IpAddr::V6(h.dst),
        ttl: h.hop_limit,
        tos: h.traffic_class,
        ip_id: None,
        dont_fragment: false,
        flow_label: Some(h.flow_label),
        header_checksum_ok: true,
        ah,
        vrrp,
    })
}

fn split_ah(protocol: u8, body: &[u8]) -> Result<(Option<AhHeader>, &[u8])> {
    match protocol {
        IPPROTO_VRRP => Ok((None, body)),
        IPPROTO_AH => {
            let (ah, len) = AhHeader::decode(body)?;
            if ah.next_header != IPPROTO_VRRP {
                return Err(Error::NotVrrp(ah.next_header));
            }
            Ok((Some(ah), body.get(len..).unwrap_or_default()))
        }
        other => Err(Error::NotVrrp(other)),
    }
}

/// IPv4 header fields for [`build_ipv4`]. `Default` is what keepalived 2.2.7 sends:
/// TOS 0xc0 (internetwork control), TTL 255 (RFC 5798 section 5.1.1.3), DF not set,
/// no options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Params {
    /// Type of service.
    pub tos: u8,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub id: u16,
    /// Don't Fragment flag (FRR sets it, keepalived does not).
    pub dont_fragment: bool,
    /// Protocol (112, or 51 when an AH header starts the payload).
    pub protocol: u8,
}

impl Default for Ipv4Params {
    fn default() -> Self {
        Ipv4Params {
            tos: 0xc0,
            ttl: 255,
            id: 0,
            dont_fragment: false,
            protocol: IPPROTO_VRRP,
        }
    }
}

/// Builds a complete IPv4 packet (header with checksum, then `payload`) for a raw
/// socket with `IP_HDRINCL`.
pub fn build_ipv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    params: Ipv4Params,
    payload: &[u8],
) -> Result<Vec<u8>> {
    let total = IPV4_HEADER_LEN + payload.len();
    let total16 = u16::try_from(total).map_err(|_| Error::PayloadTooLong(payload.len()))?;
    let mut out = Vec::with_capacity(total);
    out.push(0x45);
    out.push(params.tos);
    out.extend_from_slice(&total16.to_be_bytes());
    out.extend_from_slice(&params.id.to_be_bytes());
    let flags: u16 = if params.dont_fragment { FLAG_DF } else { 0 };
    out.extend_from_slice(&flags.to_be_bytes());
    out.push(params.ttl);
    out.push(params.protocol);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
    // RFC 791 section 3.1: checksum over the header with the field at zero.
    let sum = internet_checksum(&out).to_be_bytes();
    if let Some(field) = out.get_mut(10..12) {
        field.copy_from_slice(&sum);
    }
    out.extend_from_slice(payload);
    Ok(out)
}

/// The IPv4 packet keepalived sends for a VRRP message: [`Ipv4Params::default`] with
/// the caller's IP id (keepalived increments it by one per packet per socket).
pub fn keepalived_ipv4(src: Ipv4Addr, dst: Ipv4Addr, id: u16, vrrp: &[u8]) -> Result<Vec<u8>> {
    build_ipv4(
        src,
        dst,
        Ipv4Params {
            id,
            ..Ipv4Params::default()
        },
        vrrp,
    )
}

/// IPv6 header fields for [`build_ipv6`]. `Default` is what keepalived 2.2.7 sends for
/// multicast adverts, except the flow label (the kernel picks one per socket): traffic
/// class 0xc0, hop limit 255 (RFC 5798 section 5.1.2.3; keepalived leaves unicast
/// adverts at the default 64, see vectors.md 2d).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Params {
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Hop limit.
    pub hop_limit: u8,
    /// Next header (112, or 51 when an AH header starts the payload).
    pub next_header: u8,
}

impl Default for Ipv6Params {
    fn default() -> Self {
        Ipv6Params {
            traffic_class: 0xc0,
            flow_label: 0,
            hop_limit: 255,
            next_header: IPPROTO_VRRP,
        }
    }
}

/// Builds a complete IPv6 packet (fixed header, no extension headers, then `payload`).
pub fn build_ipv6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    params: Ipv6Params,
    payload: &[u8],
) -> Result<Vec<u8>> {
    let len = u16::try_from(payload.len()).map_err(|_| Error::PayloadTooLong(payload.len()))?;
    let mut out = Vec::with_capacity(IPV6_HEADER_LEN + payload.len());
    let header = Ipv6Header {
        traffic_class: params.traffic_class,
        flow_label: params.flow_label,
        next_header: params.next_header,
        hop_limit: params.hop_limit,
        src,
        dst,
    };
    encode_ipv6_header(&header, len, &mut out);
    out.extend_from_slice(payload);
    Ok(out)
}

/// Length of keepalived's AH header: 12 bytes plus a 12-byte HMAC-MD5-96 ICV.
pub const KEEPALIVED_AH_LEN: usize = 24;

/// The ICV keepalived puts in its AH header: HMAC-MD5-96 (RFC 2403) under the
/// `auth_pass` (first 8 bytes) of the whole IPv4 packet, computed with the ICV field
/// zero and the IP fields RFC 4302 section 3.3.3.1.1.1 calls mutable zeroed as
/// keepalived 2.2.7 does: TOS, flags/fragment offset and header checksum, plus the TTL
/// for unicast peers only (`zero_ttl`). `packet` is the IPv4 packet starting with its
/// header and carrying the AH header.
pub fn keepalived_ah_icv(packet: &[u8], key: &[u8], zero_ttl: bool) -> Result<[u8; 12]> {
    let hdr: [u8; IPV4_HEADER_LEN] = array_at(packet, 0, "ipv4 header")?;
    let hlen = usize::from(hdr[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
    let mut copy = slice_at(packet, 0, total, "ipv4 packet")?.to_vec();
    let (ah, _) = AhHeader::decode(copy.get(hlen..).unwrap_or_default())?;
    let mut zero = |from: usize, len: usize| {
        if let Some(s) = copy.get_mut(from..from + len) {
            s.fill(0);
        }
    };
    zero(1, 1);
    zero(6, 2);
    zero(10, 2);
    if zero_ttl {
        zero(8, 1);
    }
    zero(hlen + 12, ah.icv.len());
    let mac = crate::md5::hmac_md5(key.get(..8).unwrap_or(key), &copy);
    let mut icv = [0u8; 12];
    for (d, s) in icv.iter_mut().zip(mac) {
        *d = s;
    }
    Ok(icv)
}

/// Whether the AH ICV of a received IPv4 packet is right for `key`
/// (see [`keepalived_ah_icv`]); false when the packet has no AH header.
pub fn verify_keepalived_ah(packet: &[u8], key: &[u8], zero_ttl: bool) -> bool {
    let Ok(ip) = parse_vrrp_ip(packet) else {
        return false;
    };
    match (&ip.ah, keepalived_ah_icv(packet, key, zero_ttl)) {
        (Some(ah), Ok(icv)) => ah.icv == icv,
        _ => false,
    }
}

/// Builds the IPv4 packet of keepalived's VRRPv2 `auth_type AH`: IP header as
/// [`keepalived_ipv4`] with protocol 51, then AH (next header 112, Payload Len 4,
/// SPI = source address, sequence `seq`, HMAC-MD5-96 ICV under `key`), then the VRRP
/// message (whose auth type is 2 and auth data zero; its checksum is the v2 one).
/// `unicast` selects keepalived's TTL handling for unicast peers.
pub fn keepalived_ipv4_ah(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    seq: u32,
    key: &[u8],
    unicast: bool,
    vrrp: &[u8],
) -> Result<Vec<u8>> {
    let ah = AhHeader {
        next_header: IPPROTO_VRRP,
        payload_len: 4,
        reserved: 0,
        spi: u32::from(src),
        seq,
        icv: vec![0; 12],
    };
    let mut payload = Vec::with_capacity(KEEPALIVED_AH_LEN + vrrp.len());
    ah.encode_into(&mut payload);
    payload.extend_from_slice(vrrp);
    let params = Ipv4Params {
        id,
        protocol: IPPROTO_AH,
        ..Ipv4Params::default()
    };
    let mut pkt = build_ipv4(src, dst, params, &payload)?;
    let icv = keepalived_ah_icv(&pkt, key, unicast)?;
    if let Some(field) = pkt.get_mut(IPV4_HEADER_LEN + 12..IPV4_HEADER_LEN + KEEPALIVED_AH_LEN) {
        field.copy_from_slice(&icv);
    }
    Ok(pkt)
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

    #[test]
    fn ah_vector_2a() {
        let frame = hex("01 00 5e 00 00 12 02 00 00 00 00 0b 08 00 45 c0
             00 40 00 01 00 00 ff 33 18 ac c0 00 02 0b e0 00
             00 12 70 04 00 00 c0 00 02 0b 00 00 00 01 e1 37
             ba 23 a8 79 e9 85 5b 7e 2b 9e 21 33 96 01 02 01
             84 c8 c0 00 02 01 00 00 00 00 00 00 00 00");
        let ip = parse_vrrp_ip(&frame[14..]).unwrap();
        let ah = ip.ah.clone().unwrap();
        assert_eq!(
            (ah.next_header, ah.payload_len, ah.spi, ah.seq),
            (112, 4, 0xc000_020b, 1)
        );
        assert_eq!(ah.icv, hex("e137ba23a879e9855b7e2b9e"));
        assert!(ip.header_checksum_ok && ip.checksum_ok());
        let p = ip.decode().unwrap();
        assert_eq!(p.auth.kind(), 2);
        let mut payload = Vec::new();
        ah.encode_into(&mut payload);
        payload.extend_from_slice(&p.encode().unwrap());
        let params = Ipv4Params {
            id: 1,
            protocol: IPPROTO_AH,
            ..Ipv4Params::default()
        };
        let rebuilt = build_ipv4(
            Ipv4Addr::new(192, 0, 2, 11),
            Ipv4Addr::new(224, 0, 0, 18),
            params,
            &payload,
        );
        assert_eq!(rebuilt.unwrap(), frame[14..]);
        // The ICV: HMAC-MD5-96 under auth_pass "s3cret", as keepalived computes it.
        assert!(verify_keepalived_ah(&frame[14..], b"s3cret", false));
        assert!(!verify_keepalived_ah(&frame[14..], b"s3cret", true));
        assert!(!verify_keepalived_ah(&frame[14..], b"s3creT", false));
        let built = keepalived_ipv4_ah(
            Ipv4Addr::new(192, 0, 2, 11),
            Ipv4Addr::new(224, 0, 0, 18),
            1,
            1,
            b"s3cret",
            false,
            &p.encode().unwrap(),
        );
        assert_eq!(built.unwrap(), frame[14..]);
    }

    #[test]
    fn keepalived_ipv4_vector_1c() {
        let vrrp = hex("313396010064d3cac0000201");
        let pkt = keepalived_ipv4(
            Ipv4Addr::new(192, 0, 2, 11),
            Ipv4Addr::new(224, 0, 0, 18),
            1,
            &vrrp,
        )
        .unwrap();
        assert_eq!(
            pkt,
            hex("45c0 0020 0001 0000 ff70 188f c000 020b e000 0012 313396010064d3cac0000201")
        );
        let ip = parse_vrrp_ip(&pkt).unwrap();
        assert_eq!(
            (ip.ttl, ip.tos, ip.ip_id, ip.dont_fragment),
            (255, 0xc0, Some(1), false)
        );
        assert!(ip.header_checksum_ok);
        // Padding after the total length is ignored.
        let mut padded = pkt.clone();
        padded.extend_from_slice(&[0; 14]);
        assert_eq!(parse_vrrp_ip(&padded).unwrap().vrrp, &vrrp[..]);
        // A broken header checksum is reported, not hidden.
        let mut bad = pkt.clone();
        bad[10] ^= 1;
        assert!(!parse_vrrp_ip(&bad).unwrap().header_checksum_ok);
    }

    #[test]
    fn errors() {
        let pkt =
            keepalived_ipv4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 1, &[0x31; 12]).unwrap();
        let mut p = pkt.clone();
        p[9] = 6;
        assert_eq!(parse_vrrp_ip(&p), Err(Error::NotVrrp(6)));
        let mut p = pkt.clone();
        p[6] = 0x20; // MF
        assert_eq!(parse_vrrp_ip(&p), Err(Error::Fragment(0x2000)));
        let mut p = pkt.clone();
        p[0] = 0x44;
        assert_eq!(parse_vrrp_ip(&p), Err(Error::Ipv4HeaderLength(4)));
        assert!(matches!(
            parse_vrrp_ip(&pkt[..25]),
            Err(Error::Truncated { .. })
        ));
        assert_eq!(parse_vrrp_ip(&[0x50]), Err(Error::IpVersion(5)));
        assert!(parse_vrrp_ip(&[]).is_err());
    }
}
