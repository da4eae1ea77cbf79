//! A reader for classic libpcap files, working on bytes in memory (no I/O).
//!
//! ```text
//! Global header (24 bytes), in the writer's byte order (the magic tells which):
//!   magic (a1b2c3d4 = microseconds, a1b23c4d = nanoseconds), version major/minor (2, 4),
//!   thiszone, sigfigs, snaplen, link type
//! Record header (16 bytes), then incl_len bytes of data:
//!   ts_sec, ts_usec (or ts_nsec), incl_len, orig_len
//! ```
//!
//! Supported link types: Ethernet (1), Linux cooked capture SLL (113) and SLL2 (276),
//! raw IP (101, and 228/229 for raw IPv4/IPv6).

use crate::error::{array_at, slice_at, u16_at, Error, Result};
use crate::ethernet::{EthernetHeader, ETHERTYPE_IPV4, ETHERTYPE_IPV6};

/// The link type of a capture (the libpcap LINKTYPE_ values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_RAW (101): an IPv4 or IPv6 packet.
    Raw,
    /// LINKTYPE_LINUX_SLL (113).
    LinuxSll,
    /// LINKTYPE_IPV4 (228).
    Ipv4,
    /// LINKTYPE_IPV6 (229).
    Ipv6,
    /// LINKTYPE_LINUX_SLL2 (276).
    LinuxSll2,
    /// Any other value (records can still be iterated).
    Other(u32),
}

impl LinkType {
    /// From the header value.
    pub const fn from_u32(v: u32) -> Self {
        match v {
            1 => LinkType::Ethernet,
            101 => LinkType::Raw,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            other => LinkType::Other(other),
        }
    }

    /// The header value.
    pub const fn to_u32(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
            LinkType::Other(v) => v,
        }
    }
}

/// A parsed pcap file header with its records still in the byte slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pcap<'a> {
    /// Whether the file was written big-endian.
    pub big_endian: bool,
    /// Whether timestamps carry nanoseconds (magic a1b23c4d) instead of microseconds.
    pub nanos: bool,
    /// Format version (major, minor), normally (2, 4).
    pub version: (u16, u16),
    /// Snapshot length.
    pub snaplen: u32,
    /// The link type of every record.
    pub link_type: LinkType,
    records: &'a [u8],
}

/// One captured packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Index of the record in the file, from 0.
    pub index: usize,
    /// Seconds since the Unix epoch.
    pub ts_sec: u32,
    /// Nanoseconds within the second (microsecond files are scaled by 1000).
    pub ts_nsec: u32,
    /// Length of the packet on the wire.
    pub orig_len: u32,
    /// The captured bytes (`orig_len` or fewer).
    pub data: &'a [u8],
}

impl Record<'_> {
    /// The timestamp in microseconds since the Unix epoch.
    pub fn micros(&self) -> u64 {
        u64::from(self.ts_sec) * 1_000_000 + u64::from(self.ts_nsec / 1000)
    }

    /// The timestamp in nanoseconds since the Unix epoch.
    pub fn nanos(&self) -> u64 {
        u64::from(self.ts_sec) * 1_000_000_000 + u64::from(self.ts_nsec)
    }
}

const MAGIC_US: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;

impl<'a> Pcap<'a> {
    /// Parses the 24-byte global header.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let magic_le = u32::from_le_bytes(array_at(bytes, 0, "pcap header")?);
        let (big_endian, nanos) = match magic_le {
            MAGIC_US => (false, false),
            MAGIC_NS => (false, true),
            m if m.swap_bytes() == MAGIC_US => (true, false),
            m if m.swap_bytes() == MAGIC_NS => (true, true),
            m => return Err(Error::PcapMagic(m)),
        };
        let rd16 = |at| -> Result<u16> {
            let b = array_at(bytes, at, "pcap header")?;
            Ok(if big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            })
        };
        let rd32 = |at| -> Result<u32> {
            let b = array_at(bytes, at, "pcap header")?;
            Ok(if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        };
        Ok(Pcap {
            big_endian,
            nanos,
            version: (rd16(4)?, rd16(6)?),
            snaplen: rd32(16)?,
            link_type: LinkType::from_u32(rd32(20)?),
            records: bytes.get(24..).unwrap_or_default(),
        })
    }

    /// The records in file order. A record cut short by the end of the file yields one
    /// `Err(Error::Truncated)` and ends the iteration.
    pub fn records(&self) -> Records<'a> {
        Records {
            rest: self.records,
            big_endian: self.big_endian,
            nanos: self.nanos,
            index: 0,
            done: false,
        }
    }
}

/// Iterator over the records of a [`Pcap`].
#[derive(Debug, Clone)]
pub struct Records<'a> {
    rest: &'a [u8],
    big_endian: bool,
    nanos: bool,
    index: usize,
    done: bool,
}

impl<'a> Records<'a> {
    fn read(&mut self) -> Result<Record<'a>> {
        let rd32 = |at| -> Result<u32> {
            let b = array_at(self.rest, at, "pcap record header")?;
            Ok(if self.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        };
        let ts_sec = rd32(0)?;
        let frac = rd32(4)?;
        let incl_len = rd32(8)?;
        let orig_len = rd32(12)?;
        let len = usize::try_from(incl_len).unwrap_or(usize::MAX);
        let data = slice_at(self.rest, 16, len, "pcap record")?;
        self.rest = self.rest.get(16 + len..).unwrap_or_default();
        let rec = Record {
            index: self.index,
            ts_sec,
            ts_nsec: if self.nanos {
                frac
            } else {
                frac.saturating_mul(1000)
            },
            orig_len,
            data,
        };
        self.index += 1;
        Ok(rec)
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        let r = self.read();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

/// The network-layer protocol and payload of a captured frame, with the Ethernet
/// header when the link type has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkPayload<'a> {
    /// The Ethernet header (Ethernet link type only).
    pub ethernet: Option<EthernetHeader>,
    /// The EtherType of the payload.
    pub ethertype: u16,
    /// The payload (may include link padding).
    pub payload: &'a [u8],
}

/// Strips the link-layer header of `link_type` from `data`.
pub fn link_payload(link_type: LinkType, data: &[u8]) -> Result<LinkPayload<'_>> {
    match link_type {
        LinkType::Ethernet => {
            let (h, payload) = EthernetHeader::decode(data)?;
            Ok(LinkPayload {
                ethernet: Some(h),
                ethertype: h.ethertype,
                payload,
            })
        }
        // SLL: packet type, ARPHRD, address length, 8 address bytes, protocol (16 bytes).
        LinkType::LinuxSll => Ok(LinkPayload {
            ethernet: None,
            ethertype: u16_at(data, 14, "linux sll header")?,
            payload: data.get(16..).unwrap_or_default(),
        }),
        // SLL2: protocol, reserved, ifindex, ARPHRD, packet type, address length,
        // 8 address bytes (20 bytes).
        LinkType::LinuxSll2 => {
            let ethertype = u16_at(data, 0, "linux sll2 header")?;
            slice_at(data, 0, 20, "linux sll2 header")?;
            Ok(LinkPayload {
                ethernet: None,
                ethertype,
                payload: data.get(20..).unwrap_or_default(),
            })
        }
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => {
            let ethertype = match data.first().map(|b| b >> 4) {
                Some(6) => ETHERTYPE_IPV6,
                _ => ETHERTYPE_IPV4,
            };
            Ok(LinkPayload {
                ethernet: None,
                ethertype,
                payload: data,
            })
        }
        LinkType::Other(v) => Err(Error::LinkType(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(big_endian: bool, nanos: bool, link: u32, recs: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let w32 = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w16 = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut out = Vec::new();
        out.extend_from_slice(&w32(if nanos { MAGIC_NS } else { MAGIC_US }));
        out.extend_from_slice(&w16(2));
        out.extend_from_slice(&w16(4));
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&w32(65535));
        out.extend_from_slice(&w32(link));
        for (s, f, d) in recs {
            out.extend_from_slice(&w32(*s));
            out.extend_from_slice(&w32(*f));
            let len = u32::try_from(d.len()).unwrap();
            out.extend_from_slice(&w32(len));
            out.extend_from_slice(&w32(len));
            out.extend_from_slice(d);
        }
        out
    }

    #[test]
    fn both_endiannesses_and_resolutions() {
        for be in [false, true] {
            for ns in [false, true] {
                let f = file(be, ns, 113, &[(10, 5, b"abc"), (11, 7, b"")]);
                let p = Pcap::parse(&f).unwrap();
                assert_eq!(
                    (p.big_endian, p.nanos, p.version, p.snaplen),
                    (be, ns, (2, 4), 65535)
                );
                assert_eq!(p.link_type, LinkType::LinuxSll);
                let recs: Vec<_> = p.records().collect::<Result<_>>().unwrap();
                assert_eq!(recs.len(), 2);
                assert_eq!(recs[0].data, b"abc");
                assert_eq!(recs[0].ts_nsec, if ns { 5 } else { 5000 });
                assert_eq!(recs[1].index, 1);
                assert_eq!(recs[1].micros(), 11_000_000 + if ns { 0 } else { 7 });
            }
        }
    }

    #[test]
    fn truncation_and_magic() {
        let f = file(false, false, 1, &[(1, 2, b"abcdef")]);
        let p = Pcap::parse(&f[..f.len() - 1]).unwrap();
        let mut it = p.records();
        assert!(matches!(it.next(), Some(Err(Error::Truncated { .. }))));
        assert!(it.next().is_none());
        assert_eq!(Pcap::parse(&[0; 24]), Err(Error::PcapMagic(0)));
        assert!(Pcap::parse(&f[..10]).is_err());
    }

    #[test]
    fn cooked_headers() {
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x86, 0xdd, 0x60]);
        let lp = link_payload(LinkType::LinuxSll, &sll).unwrap();
        assert_eq!((lp.ethertype, lp.payload), (ETHERTYPE_IPV6, &[0x60][..]));
        let mut sll2 = vec![0x08, 0x06];
        sll2.extend_from_slice(&[0; 18]);
        sll2.push(0xaa);
        let lp = link_payload(LinkType::LinuxSll2, &sll2).unwrap();
        assert_eq!((lp.ethertype, lp.payload), (0x0806, &[0xaa][..]));
        assert!(link_payload(LinkType::LinuxSll2, &sll2[..10]).is_err());
        assert_eq!(
            link_payload(LinkType::Other(9), &[]),
            Err(Error::LinkType(9))
        );
        assert_eq!(
            link_payload(LinkType::Raw, &[0x45]).unwrap().ethertype,
            ETHERTYPE_IPV4
        );
    }
}
