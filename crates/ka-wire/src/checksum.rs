//! The Internet checksum (RFC 1071) and the pseudo-headers of RFC 768 / RFC 8200.
//!
//! All functions work on byte slices and never panic. An odd trailing byte is padded
//! with a zero byte on the right, as RFC 1071 section 4.1 specifies.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A running one's-complement sum over 16-bit big-endian words (RFC 1071).
#[derive(Debug, Clone, Copy, Default)]
pub struct Checksum {
    sum: u64,
    /// A byte left over from an odd-length chunk, waiting for its partner.
    pending: Option<u8>,
}

impl Checksum {
    /// An empty sum.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes to the sum (chunks may have any length; they are concatenated).
    pub fn add(&mut self, bytes: &[u8]) -> &mut Self {
        let mut rest = bytes;
        if let Some(hi) = self.pending.take() {
            match rest.split_first() {
                Some((lo, tail)) => {
                    self.sum += u64::from(u16::from_be_bytes([hi, *lo]));
                    rest = tail;
                }
                None => {
                    self.pending = Some(hi);
                    return self;
                }
            }
        }
        let mut words = rest.chunks_exact(2);
        for w in &mut words {
            if let [a, b] = w {
                self.sum += u64::from(u16::from_be_bytes([*a, *b]));
            }
        }
        if let [last] = words.remainder() {
            self.pending = Some(*last);
        }
        self
    }

    /// Adds a 16-bit value.
    pub fn add_u16(&mut self, v: u16) -> &mut Self {
        self.add(&v.to_be_bytes())
    }

    /// Adds a 32-bit value.
    pub fn add_u32(&mut self, v: u32) -> &mut Self {
        self.add(&v.to_be_bytes())
    }

    /// The one's-complement of the folded sum: the value to put in a checksum field
    /// (computed with that field set to zero).
    pub fn finish(&self) -> u16 {
        let mut sum = self.sum;
        if let Some(hi) = self.pending {
            sum += u64::from(u16::from_be_bytes([hi, 0]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        // The loop leaves at most 16 significant bits.
        !(u16::try_from(sum).unwrap_or(0xffff))
    }
}

/// The Internet checksum of `bytes` (RFC 1071).
pub fn internet_checksum(bytes: &[u8]) -> u16 {
    Checksum::new().add(bytes).finish()
}

/// Starts a sum with the IPv4 pseudo-header (RFC 768: src, dst, zero, protocol, length).
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> Checksum {
    let mut c = Checksum::new();
    c.add(&src.octets())
        .add(&dst.octets())
        .add(&[0, protocol])
        .add_u16(len);
    c
}

/// Starts a sum with the IPv6 pseudo-header (RFC 8200 section 8.1: src, dst,
/// 32-bit upper-layer length, 3 zero bytes, next header).
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> Checksum {
    let mut c = Checksum::new();
    c.add(&src.octets())
        .add(&dst.octets())
        .add_u32(len)
        .add(&[0, 0, 0, next_header]);
    c
}

/// Starts a sum with the pseudo-header matching the address family of `src` and `dst`;
/// `None` when the two families differ.
pub fn pseudo_header(src: IpAddr, dst: IpAddr, protocol: u8, len: u32) -> Option<Checksum> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            Some(pseudo_header_v4(s, d, protocol, u16::try_from(len).ok()?))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => Some(pseudo_header_v6(s, d, protocol, len)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (checksum 220d).
        assert_eq!(
            internet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
    }

    #[test]
    fn chunking_does_not_matter() {
        let data: Vec<u8> = (0u8..=200).collect();
        let whole = internet_checksum(&data);
        for split in 0..data.len() {
            let (a, b) = data.split_at(split);
            assert_eq!(
                Checksum::new().add(a).add(b).finish(),
                whole,
                "split {split}"
            );
        }
    }

    #[test]
    fn odd_length_pads_right() {
        assert_eq!(internet_checksum(&[0x12]), !0x1200);
    }
}
