//! The error type of the codecs: one enum for the whole crate (DESIGN.md section 3, rule 5).

/// Why bytes could not be decoded, or a value could not be encoded.
///
/// Every decoder in this crate returns this type; none of them panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input ends before a structure of `needed` bytes is complete.
    #[error("{what}: truncated, need {needed} bytes, have {got}")]
    Truncated {
        /// Which structure was being read.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// The input is longer or shorter than its own length fields say.
    #[error("{what}: length mismatch, expected {expected} bytes, got {got}")]
    LengthMismatch {
        /// Which structure was being read.
        what: &'static str,
        /// Length implied by the header fields.
        expected: usize,
        /// Length of the input.
        got: usize,
    },
    /// The VRRP version nibble is neither 2 nor 3 (RFC 5798 section 5.2.1).
    #[error("unsupported vrrp version {0}")]
    VrrpVersion(u8),
    /// The IP version nibble is neither 4 nor 6.
    #[error("unsupported ip version {0}")]
    IpVersion(u8),
    /// The IPv4 header length field is below 5 words.
    #[error("ipv4 header length {0} words is below the minimum of 5")]
    Ipv4HeaderLength(u8),
    /// The IP packet is a fragment; VRRP adverts are never fragmented.
    #[error("ip fragment (flags/offset {0:#06x})")]
    Fragment(u16),
    /// The IP packet does not carry VRRP (protocol 112), directly or behind AH (51).
    #[error("ip protocol {0} is not vrrp")]
    NotVrrp(u8),
    /// An ARP packet is not Ethernet/IPv4 (htype 1, ptype 0x0800, hlen 6, plen 4).
    #[error(
        "arp for htype {htype} ptype {ptype:#06x} hlen {hlen} plen {plen} is not ethernet/ipv4"
    )]
    ArpFormat {
        /// Hardware type.
        htype: u16,
        /// Protocol type.
        ptype: u16,
        /// Hardware address length.
        hlen: u8,
        /// Protocol address length.
        plen: u8,
    },
    /// An IPv6 packet is not an ICMPv6 neighbour advertisement (RFC 4861 section 4.4).
    #[error("not a neighbour advertisement (next header {next_header}, icmpv6 type {icmp_type}, code {code})")]
    NotNeighborAdvert {
        /// IPv6 next header.
        next_header: u8,
        /// ICMPv6 type (0 when the packet is not ICMPv6).
        icmp_type: u8,
        /// ICMPv6 code.
        code: u8,
    },
    /// A neighbour-discovery option this codec does not keep (only one target
    /// link-layer address option of length 1 is supported, RFC 4861 section 4.6.1).
    #[error("unsupported neighbour discovery option type {kind} length {len}")]
    NdOption {
        /// Option type.
        kind: u8,
        /// Option length in units of 8 bytes.
        len: u8,
    },
    /// The pcap file does not start with a known magic number.
    #[error("not a classic pcap file (magic {0:#010x})")]
    PcapMagic(u32),
    /// The link type of a pcap file is not supported.
    #[error("unsupported pcap link type {0}")]
    LinkType(u32),
    /// Encode: more than 255 addresses do not fit the Count field.
    #[error("{0} addresses do not fit the 8-bit count field")]
    TooManyAddrs(usize),
    /// Encode: addresses (or source and destination) of different families.
    #[error("mixed ipv4 and ipv6 addresses")]
    FamilyMismatch,
    /// Encode: the interval cannot be carried by this version (v2: whole seconds
    /// 1..=255 are carried as seconds; v3: 12 bits of centiseconds).
    #[error("advertisement interval {adver_int_cs} cs cannot be encoded in vrrp {version}")]
    Interval {
        /// The interval in centiseconds.
        adver_int_cs: u16,
        /// 2 or 3.
        version: u8,
    },
    /// Encode: a field does not fit its bit width (v3 reserved is 4 bits, type is 4 bits).
    #[error("{what} value {value} does not fit in {bits} bits")]
    FieldRange {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u32,
        /// Its width.
        bits: u8,
    },
    /// Encode: VRRPv3 has no authentication (RFC 5798 section 9).
    #[error("vrrp v3 carries no authentication")]
    AuthOnV3,
    /// Encode: the payload does not fit the length field of the IP header.
    #[error("payload of {0} bytes is too long for the ip header")]
    PayloadTooLong(usize),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Reads `N` bytes at `at`, or reports what was being read.
pub(crate) fn array_at<const N: usize>(
    bytes: &[u8],
    at: usize,
    what: &'static str,
) -> Result<[u8; N]> {
    bytes
        .get(at..at.saturating_add(N))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(Error::Truncated {
            what,
            needed: at.saturating_add(N),
            got: bytes.len(),
        })
}

/// Reads one byte at `at`.
pub(crate) fn u8_at(bytes: &[u8], at: usize, what: &'static str) -> Result<u8> {
    array_at::<1>(bytes, at, what).map(|[b]| b)
}

/// Reads a big-endian u16 at `at`.
pub(crate) fn u16_at(bytes: &[u8], at: usize, what: &'static str) -> Result<u16> {
    array_at(bytes, at, what).map(u16::from_be_bytes)
}

/// Reads a big-endian u32 at `at`.
pub(crate) fn u32_at(bytes: &[u8], at: usize, what: &'static str) -> Result<u32> {
    array_at(bytes, at, what).map(u32::from_be_bytes)
}

/// The sub-slice `at..at+len`, or a truncation error.
pub(crate) fn slice_at<'a>(
    bytes: &'a [u8],
    at: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8]> {
    bytes
        .get(at..at.saturating_add(len))
        .ok_or(Error::Truncated {
            what,
            needed: at.saturating_add(len),
            got: bytes.len(),
        })
}
