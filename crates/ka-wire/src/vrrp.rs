//! VRRP advertisements, version 2 (RFC 3768) and version 3 (RFC 5798).
//!
//! ```text
//! RFC 5798 section 5.1 (VRRPv3)
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IPvX Address(es)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! RFC 3768 section 5.1 (VRRPv2): byte 4 is Auth Type, byte 5 Adver Int (seconds),
//! and 8 bytes of Authentication Data follow the addresses.
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::checksum::{internet_checksum, pseudo_header, Checksum};
use crate::error::{array_at, slice_at, u8_at, Error, Result};

/// IP protocol number of VRRP (RFC 5798 section 5.1.1.3 / 5.1.2.3).
pub const IPPROTO_VRRP: u8 = 112;
/// The VRRP IPv4 multicast group (RFC 5798 section 5.1.1.2).
pub const MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The VRRP IPv6 multicast group (RFC 5798 section 5.1.2.2).
pub const MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The only Type defined (RFC 5798 section 5.2.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Length of the fixed VRRP header (both versions).
pub const HEADER_LEN: usize = 8;
/// Length of the VRRPv2 authentication data (RFC 3768 section 5.3.10).
pub const AUTH_DATA_LEN: usize = 8;

/// Address family of the VIPs, known to the caller from the IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Family {
    /// IPv4: 4-byte addresses.
    V4,
    /// IPv6: 16-byte addresses.
    V6,
}

impl Family {
    /// Bytes per address.
    pub const fn addr_len(self) -> usize {
        match self {
            Family::V4 => 4,
            Family::V6 => 16,
        }
    }

    /// The family of an address.
    pub const fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The VRRP multicast group of this family (RFC 5798 sections 5.1.1.2, 5.1.2.2).
    pub const fn multicast_group(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(MCAST_V4),
            Family::V6 => IpAddr::V6(MCAST_V6),
        }
    }
}

/// VRRP version field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Version {
    /// RFC 3768.
    V2,
    /// RFC 5798.
    V3,
}

/// VRRPv2 authentication (RFC 3768 section 5.3.6; type 2 is keepalived's IPsec-AH variant,
/// where the AH header precedes the VRRP message and the 8 data bytes are zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Auth {
    /// Type 0.
    None,
    /// Type 1: up to 8 bytes of clear text, zero padded.
    SimplePassword([u8; 8]),
    /// Type 2: IP Authentication Header; the data field as sent.
    Ah([u8; 8]),
    /// Any other type value, kept so nothing is lost on a round trip.
    Unknown {
        /// The auth type byte.
        kind: u8,
        /// The 8 authentication data bytes.
        data: [u8; 8],
    },
}

/// A decoded VRRP message (the part after the IP header), owned and small.
///
/// Field names are the contract between `ka-wire` and `ka-vrrp`; add fields, do not rename.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VrrpPacket {
    /// Version 2 or 3.
    pub version: Version,
    /// The Type field (1 = ADVERTISEMENT); other values are kept for a round trip.
    pub kind: u8,
    /// Virtual router id (0 is decodable; the engine drops it).
    pub vrid: u8,
    /// Sender's priority (0 = master leaving, 255 = owner).
    pub priority: u8,
    /// The advertisement interval in centiseconds. For v2 the wire carries seconds:
    /// this field holds seconds x 100.
    pub adver_int_cs: u16,
    /// v3: the 4 reserved bits as received (must be 0 on send).
    pub reserved: u8,
    /// The checksum as received (or as computed on encode).
    pub checksum: u16,
    /// The virtual addresses.
    pub addrs: Vec<IpAddr>,
    /// v2 authentication; always `Auth::None` for v3.
    pub auth: Auth,
}

impl Version {
    /// The version nibble.
    pub const fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

impl Auth {
    /// The Auth Type byte (RFC 3768 section 5.3.6).
    pub const fn kind(&self) -> u8 {
        match self {
            Auth::None => 0,
            Auth::SimplePassword(_) => 1,
            Auth::Ah(_) => 2,
            Auth::Unknown { kind, .. } => *kind,
        }
    }

    /// The 8 Authentication Data bytes as carried (zero for `None`).
    pub const fn data(&self) -> [u8; 8] {
        match self {
            Auth::None => [0; 8],
            Auth::SimplePassword(d) | Auth::Ah(d) => *d,
            Auth::Unknown { data, .. } => *data,
        }
    }

    /// Whether the Auth Type is 0 (no authentication). Use this, not `== Auth::None`, on
    /// receive: RFC 3768 section 5.3.6.1 says the data of type 0 is ignored on reception,
    /// and a type 0 with non-zero data decodes as `Unknown { kind: 0, .. }`.
    pub const fn is_unauthenticated(&self) -> bool {
        self.kind() == 0
    }

    /// Builds the auth from the Type and Data fields. A type 0 with non-zero data is
    /// kept as `Unknown { kind: 0, .. }` so the bytes survive a round trip.
    pub const fn from_wire(kind: u8, data: [u8; 8]) -> Self {
        match kind {
            0 if u64::from_be_bytes(data) == 0 => Auth::None,
            1 => Auth::SimplePassword(data),
            2 => Auth::Ah(data),
            _ => Auth::Unknown { kind, data },
        }
    }

    /// A simple-text password as keepalived sends it: the first 8 bytes of `pass`,
    /// zero padded (RFC 3768 section 5.3.10; keepalived truncates longer passwords).
    pub fn password(pass: &[u8]) -> Self {
        let mut data = [0u8; 8];
        for (d, s) in data.iter_mut().zip(pass) {
            *d = *s;
        }
        Auth::SimplePassword(data)
    }

    /// For a simple password: its bytes without the zero padding.
    pub fn password_bytes(&self) -> Option<&[u8]> {
        match self {
            Auth::SimplePassword(d) => {
                let end = d.iter().position(|b| *b == 0).unwrap_or(d.len());
                d.get(..end)
            }
            _ => None,
        }
    }
}

/// The length of a VRRP message with `count` addresses of `family`.
///
/// RFC 3768 section 5.1: 8 + 4 x count + 8 (auth data).
/// RFC 5798 section 5.1: 8 + 4 x count (IPv4) or 8 + 16 x count (IPv6).
pub const fn message_len(version: Version, family: Family, count: usize) -> usize {
    let base = HEADER_LEN + family.addr_len() * count;
    match version {
        Version::V2 => base + AUTH_DATA_LEN,
        Version::V3 => base,
    }
}

impl VrrpPacket {
    /// Decodes a VRRP message: the bytes after the IP header (and after the AH header
    /// for keepalived's v2 AH variant). `family` comes from the IP header.
    ///
    /// Every value of every field is accepted and kept (validation is the engine's job,
    /// RFC 5798 section 7.1), except what makes the message unreadable: a version other
    /// than 2 or 3, or a length that disagrees with the Count field. The input must be
    /// exactly the message: trailing bytes are a [`Error::LengthMismatch`].
    pub fn decode(bytes: &[u8], family: Family) -> Result<Self> {
        let hdr: [u8; HEADER_LEN] = array_at(bytes, 0, "vrrp header")?;
        let [ver_type, vrid, priority, count, b4, b5, c0, c1] = hdr;
        // RFC 5798 section 5.2.1: the version field is 3 (2 for RFC 3768).
        let version = match ver_type >> 4 {
            2 => Version::V2,
            3 => Version::V3,
            other => return Err(Error::VrrpVersion(other)),
        };
        // RFC 5798 section 5.2.2: Type; unknown values are kept (section 7.1 drops them).
        let kind = ver_type & 0x0f;
        let expected = message_len(version, family, usize::from(count));
        if bytes.len() != expected {
            // RFC 5798 section 7.1: the packet length must match the address count.
            return Err(Error::LengthMismatch {
                what: "vrrp message",
                expected,
                got: bytes.len(),
            });
        }
        let alen = family.addr_len();
        let mut addrs = Vec::with_capacity(usize::from(count));
        for i in 0..usize::from(count) {
            let raw = slice_at(bytes, HEADER_LEN + i * alen, alen, "vrrp address")?;
            addrs.push(addr_from(raw, family)?);
        }
        let (adver_int_cs, reserved, auth) = match version {
            Version::V2 => {
                // RFC 3768 section 5.3.6: byte 4 is Auth Type; 5.3.7: byte 5 is
                // Adver Int in seconds; 5.3.10: 8 bytes of Authentication Data at the end.
                let data: [u8; AUTH_DATA_LEN] =
                    array_at(bytes, expected - AUTH_DATA_LEN, "vrrp auth data")?;
                (u16::from(b5) * 100, 0, Auth::from_wire(b4, data))
            }
            Version::V3 => {
                // RFC 5798 section 5.2.5: 4 reserved bits; 5.2.6: 12 bits of
                // Max Adver Int in centiseconds.
                let word = u16::from_be_bytes([b4, b5]);
                (word & 0x0fff, b4 >> 4, Auth::None)
            }
        };
        Ok(VrrpPacket {
            version,
            kind,
            vrid,
            priority,
            adver_int_cs,
            reserved,
            checksum: u16::from_be_bytes([c0, c1]),
            addrs,
            auth,
        })
    }

    /// The address family of the addresses (`None` when there are none or they are mixed).
    pub fn family(&self) -> Option<Family> {
        let first = Family::of(self.addrs.first()?);
        self.addrs
            .iter()
            .all(|a| Family::of(a) == first)
            .then_some(first)
    }

    /// The encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        message_len(
            self.version,
            self.family().unwrap_or(Family::V4),
            self.addrs.len(),
        )
    }

    /// Encodes the message with the checksum field as stored in `self.checksum`, so
    /// `decode(x)?.encode()? == x` for every decodable `x`.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the encoded message to `out` (nothing is appended on error).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        if !self.addrs.is_empty() && self.family().is_none() {
            return Err(Error::FamilyMismatch);
        }
        let count =
            u8::try_from(self.addrs.len()).map_err(|_| Error::TooManyAddrs(self.addrs.len()))?;
        if self.kind > 0x0f {
            return Err(Error::FieldRange {
                what: "vrrp type",
                value: u32::from(self.kind),
                bits: 4,
            });
        }
        let (b4, b5) = match self.version {
            Version::V2 => {
                // RFC 3768 section 5.3.7: the interval is carried in whole seconds.
                let secs = u8::try_from(self.adver_int_cs / 100)
                    .ok()
                    .filter(|s| u16::from(*s) * 100 == self.adver_int_cs)
                    .ok_or(Error::Interval {
                        adver_int_cs: self.adver_int_cs,
                        version: 2,
                    })?;
                (self.auth.kind(), secs)
            }
            Version::V3 => {
                if self.auth != Auth::None {
                    return Err(Error::AuthOnV3);
                }
                if self.reserved > 0x0f {
                    return Err(Error::FieldRange {
                        what: "vrrp reserved",
                        value: u32::from(self.reserved),
                        bits: 4,
                    });
                }
                // RFC 5798 section 5.2.6: 12-bit Max Adver Int in centiseconds.
                if self.adver_int_cs > 0x0fff {
                    return Err(Error::Interval {
                        adver_int_cs: self.adver_int_cs,
                        version: 3,
                    });
                }
                let [hi, lo] = (u16::from(self.reserved) << 12 | self.adver_int_cs).to_be_bytes();
                (hi, lo)
            }
        };
        out.reserve(self.encoded_len());
        out.push(self.version.number() << 4 | self.kind);
        out.push(self.vrid);
        out.push(self.priority);
        out.push(count);
        out.push(b4);
        out.push(b5);
        out.extend_from_slice(&self.checksum.to_be_bytes());
        for a in &self.addrs {
            match a {
                IpAddr::V4(v4) => out.extend_from_slice(&v4.octets()),
                IpAddr::V6(v6) => out.extend_from_slice(&v6.octets()),
            }
        }
        if self.version == Version::V2 {
            out.extend_from_slice(&self.auth.data());
        }
        Ok(())
    }

    /// Computes the checksum this message must carry when sent from `src` to `dst`.
    ///
    /// - v2 (RFC 3768 section 5.3.8): Internet checksum over the VRRP message only;
    ///   `src` and `dst` are ignored.
    /// - v3 (RFC 5798 section 5.2.8): over the IPv4 pseudo-header (RFC 768) or IPv6
    ///   pseudo-header (RFC 8200 section 8.1) and the message. `dst` is the ACTUAL
    ///   destination: the multicast group, or the unicast peer (keepalived 2.2.7 and
    ///   FRR do this; see tests/data/interop/vectors.md 2c).
    pub fn compute_checksum(&self, src: IpAddr, dst: IpAddr) -> Result<u16> {
        let mut bytes = Vec::with_capacity(self.encoded_len());
        VrrpPacket {
            checksum: 0,
            ..self.clone()
        }
        .encode_into(&mut bytes)?;
        match self.version {
            Version::V2 => Ok(internet_checksum(&bytes)),
            Version::V3 => {
                let len =
                    u32::try_from(bytes.len()).map_err(|_| Error::PayloadTooLong(bytes.len()))?;
                let mut sum =
                    pseudo_header(src, dst, IPPROTO_VRRP, len).ok_or(Error::FamilyMismatch)?;
                Ok(sum.add(&bytes).finish())
            }
        }
    }

    /// Sets `self.checksum` to the value computed for sending from `src` to `dst`.
    pub fn set_checksum(&mut self, src: IpAddr, dst: IpAddr) -> Result<()> {
        self.checksum = self.compute_checksum(src, dst)?;
        Ok(())
    }

    /// Encodes with a freshly computed checksum (the form to put on the wire).
    pub fn encode_for_send(&self, src: IpAddr, dst: IpAddr) -> Result<Vec<u8>> {
        let mut p = self.clone();
        p.set_checksum(src, dst)?;
        p.encode()
    }

    /// Whether the carried checksum is right for a message received from `src` to `dst`.
    pub fn checksum_ok(&self, src: IpAddr, dst: IpAddr) -> bool {
        self.compute_checksum(src, dst)
            .is_ok_and(|c| c == self.checksum)
    }
}

/// Verifies the checksum of raw VRRP message bytes received from `src` to `dst`
/// (the version is read from the first byte; see [`VrrpPacket::compute_checksum`]).
/// Returns false for bytes too short to have a version or for mixed families.
pub fn verify_checksum(msg: &[u8], src: IpAddr, dst: IpAddr) -> bool {
    let Ok(first) = u8_at(msg, 0, "vrrp header") else {
        return false;
    };
    match first >> 4 {
        // RFC 3768 section 5.3.8: the sum over the message, checksum included, is zero.
        2 => internet_checksum(msg) == 0,
        // RFC 5798 section 5.2.8: the same with the pseudo-header in front.
        3 => u32::try_from(msg.len())
            .ok()
            .and_then(|len| pseudo_header(src, dst, IPPROTO_VRRP, len))
            .is_some_and(|mut sum: Checksum| sum.add(msg).finish() == 0),
        _ => false,
    }
}

fn addr_from(raw: &[u8], family: Family) -> Result<IpAddr> {
    match family {
        Family::V4 => array_at::<4>(raw, 0, "ipv4 address").map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        Family::V6 => array_at::<16>(raw, 0, "ipv6 address").map(|o| IpAddr::V6(Ipv6Addr::from(o))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const V4_SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));

    #[test]
    fn v2_authpass_vector_1a() {
        let b = hex("21339601010149aec00002017333637265740000");
        let p = VrrpPacket::decode(&b, Family::V4).unwrap();
        assert_eq!(p.version, Version::V2);
        assert_eq!(
            (p.kind, p.vrid, p.priority, p.adver_int_cs),
            (1, 51, 150, 100)
        );
        assert_eq!(p.auth.password_bytes(), Some(&b"s3cret"[..]));
        assert_eq!(p.auth, Auth::password(b"s3cret"));
        assert_eq!(p.checksum, 0x49ae);
        assert!(p.checksum_ok(V4_SRC, Family::V4.multicast_group()));
        assert!(verify_checksum(&b, V4_SRC, Family::V4.multicast_group()));
        assert_eq!(p.encode().unwrap(), b);
        let mut q = p.clone();
        q.checksum = 0;
        assert_eq!(q.encode_for_send(V4_SRC, MCAST_V4.into()).unwrap(), b);
    }

    #[test]
    fn v3_unicast_pseudo_header_uses_real_destination_2c() {
        let b = hex("313396010064f1d0c0000201");
        let p = VrrpPacket::decode(&b, Family::V4).unwrap();
        let peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12));
        assert!(p.checksum_ok(V4_SRC, peer));
        assert!(!p.checksum_ok(V4_SRC, MCAST_V4.into()));
        assert!(verify_checksum(&b, V4_SRC, peer));
        assert!(!verify_checksum(&b, V4_SRC, MCAST_V4.into()));
        // v3 checksum is not the v2 one.
        assert_ne!(internet_checksum(&b), 0);
    }

    #[test]
    fn v3_ipv6_vector_1d() {
        let b = hex("3133960100640d8320010db8000000010000000000000001");
        let p = VrrpPacket::decode(&b, Family::V6).unwrap();
        assert_eq!(p.addrs, vec!["2001:db8:0:1::1".parse::<IpAddr>().unwrap()]);
        let src: IpAddr = "fe80::ff:fe00:b".parse().unwrap();
        assert!(p.checksum_ok(src, MCAST_V6.into()));
        assert!(!p.checksum_ok(src, IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(p.encode().unwrap(), b);
        // Wrong family: the length no longer matches the count.
        assert!(matches!(
            VrrpPacket::decode(&b, Family::V4),
            Err(Error::LengthMismatch {
                expected: 12,
                got: 24,
                ..
            })
        ));
    }

    #[test]
    fn unknown_type_and_auth_are_kept() {
        let mut b = hex("21339601000186c8c00002010000000000000000");
        b[0] = 0x2f; // type 15
        b[4] = 0x07; // auth type 7
        b[19] = 0x42;
        let p = VrrpPacket::decode(&b, Family::V4).unwrap();
        assert_eq!(p.kind, 15);
        assert_eq!(p.auth.kind(), 7);
        assert_eq!(p.encode().unwrap(), b);
        // Type 0 with non-zero data survives too.
        b[4] = 0;
        let p = VrrpPacket::decode(&b, Family::V4).unwrap();
        assert!(matches!(p.auth, Auth::Unknown { kind: 0, .. }));
        assert!(p.auth.is_unauthenticated());
        assert_eq!(p.encode().unwrap(), b);
    }

    #[test]
    fn v3_reserved_bits_are_kept() {
        let b = hex("31339601f064d3cac0000201");
        let p = VrrpPacket::decode(&b, Family::V4).unwrap();
        assert_eq!((p.reserved, p.adver_int_cs), (0x0f, 100));
        assert_eq!(p.encode().unwrap(), b);
    }

    #[test]
    fn errors() {
        assert!(matches!(
            VrrpPacket::decode(&[], Family::V4),
            Err(Error::Truncated { .. })
        ));
        assert_eq!(
            VrrpPacket::decode(&hex("41339601000186c8"), Family::V4),
            Err(Error::VrrpVersion(4))
        );
        let mut p = VrrpPacket::decode(&hex("313396010064d3cac0000201"), Family::V4).unwrap();
        p.adver_int_cs = 4096;
        assert!(matches!(
            p.encode(),
            Err(Error::Interval { version: 3, .. })
        ));
        p.adver_int_cs = 100;
        p.auth = Auth::password(b"x");
        assert_eq!(p.encode(), Err(Error::AuthOnV3));
        p.auth = Auth::None;
        p.addrs.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(p.encode(), Err(Error::FamilyMismatch));
        p.addrs = vec![IpAddr::V4(Ipv4Addr::LOCALHOST); 256];
        assert_eq!(p.encode(), Err(Error::TooManyAddrs(256)));
        p.addrs.truncate(1);
        p.version = Version::V2;
        p.adver_int_cs = 50;
        assert!(matches!(
            p.encode(),
            Err(Error::Interval { version: 2, .. })
        ));
        // v3 checksum with mixed families.
        p.version = Version::V3;
        p.adver_int_cs = 100;
        assert_eq!(
            p.compute_checksum(V4_SRC, IpAddr::V6(Ipv6Addr::LOCALHOST)),
            Err(Error::FamilyMismatch)
        );
    }
}
