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

use std::net::IpAddr;

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
