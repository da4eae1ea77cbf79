//! Virtual server groups, virtual servers, real servers and their checkers.
//!
//! Every value here is resolved: the inheritance keepalived applies (virtual server ->
//! real server -> checker for `delay_loop`, `retry`, `connect_timeout`, ...) and its
//! defaults (keepalived 2.2.7) are already filled in, so consumers never look further up.

use serde::Serialize;
use std::net::IpAddr;
use std::time::Duration;

/// Where a value was written (file index, line, column, length); kept for checks made
/// after the whole file is read and for logs; not dumped. Shared with the VRRP side.
pub use crate::vrrp::Loc as Origin;

/// The LVS side of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LvsConfig {
    /// `virtual_server_group` blocks, in file order.
    pub groups: Vec<VirtualServerGroup>,
    /// `virtual_server` blocks, in file order.
    pub virtual_servers: Vec<VirtualServer>,
    /// The top-level `SSL` block (client certificate for SSL_GET), if any.
    pub ssl: Option<SslConfig>,
}

/// The `SSL { password ca certificate key }` block used by SSL_GET checkers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SslConfig {
    /// Private key password.
    pub password: Option<String>,
    /// CA file.
    pub ca: Option<String>,
    /// Client certificate file.
    pub certificate: Option<String>,
    /// Private key file.
    pub key: Option<String>,
}

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    /// IPv4 (`inet`).
    Inet,
    /// IPv6 (`inet6`).
    Inet6,
}

impl IpFamily {
    /// The family of an address.
    pub fn of(a: &IpAddr) -> Self {
        if a.is_ipv4() {
            IpFamily::Inet
        } else {
            IpFamily::Inet6
        }
    }
}

impl std::fmt::Display for IpFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IpFamily::Inet => "IPv4",
            IpFamily::Inet6 => "IPv6",
        })
    }
}

/// `virtual_server_group NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualServerGroup {
    /// Where the name was written.
    #[serde(skip)]
    pub origin: Origin,
    /// The group name.
    pub name: String,
    /// Its entries, in file order.
    pub entries: Vec<VsgEntry>,
}

/// One line of a virtual server group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VsgEntry {
    /// An address or an inclusive range of addresses (`192.0.2.1-10`,
    /// `192.0.2.250-192.0.3.10`, `192.0.2.8/29`) with an optional port.
    Range(AddrRange),
    /// `fwmark N [inet|inet6]`.
    Fwmark {
        /// The firewall mark (1..).
        mark: u32,
        /// The family, when given.
        family: Option<IpFamily>,
    },
}

/// An inclusive range of addresses of one family; a single address has `first == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AddrRange {
    first: IpAddr,
    last: IpAddr,
    /// The port (`None`: no port, only valid for persistent services).
    pub port: Option<u16>,
}

impl AddrRange {
    /// A range; `None` when the ends differ in family or `last < first`.
    pub fn new(first: IpAddr, last: IpAddr, port: Option<u16>) -> Option<Self> {
        match (first, last) {
            (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => {}
            (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => {}
            _ => return None,
        }
        Some(Self { first, last, port })
    }
    /// The first address.
    pub fn first(&self) -> IpAddr {
        self.first
    }
    /// The last address (inclusive).
    pub fn last(&self) -> IpAddr {
        self.last
    }
    /// The family of both ends.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(&self.first)
    }
    /// Whether two ranges share an address and a port.
    pub fn overlaps(&self, o: &AddrRange) -> bool {
        self.port == o.port
            && self.family() == o.family()
            && self.first <= o.last
            && o.first <= self.last
    }
}

/// What a virtual server listens on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VsAddress {
    /// `virtual_server IP [PORT]`; no port only for persistent services.
    Ip {
        /// The virtual address.
        addr: IpAddr,
        /// The port, `None` when omitted (or 0).
        port: Option<u16>,
    },
    /// `virtual_server fwmark N`.
    Fwmark(u32),
    /// `virtual_server group NAME`.
    Group(String),
}

/// The IPVS scheduler (`lvs_sched` / `lb_algo`); keepalived's default is `wlc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connection.
    Lc,
    /// Weighted least connection (the default).
    #[default]
    Wlc,
    /// Locality-based least connection.
    Lblc,
    /// Locality-based least connection with replication.
    Lblcr,
    /// Destination hashing.
    Dh,
    /// Source hashing.
    Sh,
    /// Maglev hashing.
    Mh,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
    /// Power of two choices.
    Twos,
}

impl Scheduler {
    /// Every scheduler with its keepalived name.
    pub const ALL: [(&'static str, Scheduler); 14] = [
        ("rr", Scheduler::Rr),
        ("wrr", Scheduler::Wrr),
        ("lc", Scheduler::Lc),
        ("wlc", Scheduler::Wlc),
        ("lblc", Scheduler::Lblc),
        ("lblcr", Scheduler::Lblcr),
        ("dh", Scheduler::Dh),
        ("sh", Scheduler::Sh),
        ("mh", Scheduler::Mh),
        ("sed", Scheduler::Sed),
        ("nq", Scheduler::Nq),
        ("fo", Scheduler::Fo),
        ("ovf", Scheduler::Ovf),
        ("twos", Scheduler::Twos),
    ];
    /// Parses a keepalived scheduler name (exact, lowercase).
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, v)| *v)
    }
    /// The name ipvsadm and keepalived use.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("wlc", |(n, _)| n)
    }
}

/// IPVS service flags set by `flag-1/2/3`, `sh-*`/`mh-*`, `ops`, `hashed`.
/// `sh-fallback`/`mh-fallback` are scheduler flag 1, `sh-port`/`mh-port` flag 2 (as in ipvsadm).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ServiceFlags {
    /// Scheduler flag 1 (`flag-1`, `sh-fallback`, `mh-fallback`).
    pub sched_flag_1: bool,
    /// Scheduler flag 2 (`flag-2`, `sh-port`, `mh-port`).
    pub sched_flag_2: bool,
    /// Scheduler flag 3 (`flag-3`).
    pub sched_flag_3: bool,
    /// One-packet scheduling (`ops`, UDP only).
    pub one_packet: bool,
    /// `hashed`.
    pub hashed: bool,
}

/// The L4 protocol of a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

/// The tunnel encapsulation of TUN forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TunnelType {
    /// IP in IP (the default).
    #[default]
    Ipip,
    /// Generic UDP encapsulation to a port (Linux 5.2+).
    Gue {
        /// The destination UDP port.
        port: u16,
    },
    /// GRE (Linux 5.3+).
    Gre,
}

/// Tunnel checksum option (`nocsum|csum|remcsum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelChecksum {
    /// No checksum (the default).
    #[default]
    NoCsum,
    /// Checksum.
    Csum,
    /// Remote checksum offload (GUE only).
    RemCsum,
}

/// The IPVS forwarding method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Forwarding {
    /// Masquerading (the default).
    #[default]
    Nat,
    /// Direct routing.
    Dr,
    /// Tunnelling.
    Tun {
        /// Encapsulation.
        kind: TunnelType,
        /// Checksum option.
        checksum: TunnelChecksum,
    },
}

impl Forwarding {
    /// Whether this is tunnel forwarding (which may cross address families).
    pub fn is_tunnel(&self) -> bool {
        matches!(self, Forwarding::Tun { .. })
    }
}

/// Persistence of a virtual service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Persistence {
    /// `persistence_timeout` (default 360 s when given without a value or implied by
    /// `persistence_granularity`), 1..=2678400 s.
    pub timeout: Duration,
    /// `persistence_granularity` as a prefix length (IPv4 netmask or IPv6 1..=128).
    pub granularity_prefix: Option<u8>,
    /// `persistence_engine` (only `sip` exists).
    pub engine: Option<String>,
}

/// A script to run (notify, quorum and MISC_CHECK scripts): the same type as the VRRP
/// side's, so one runner serves both.
pub use crate::vrrp::ScriptCmd as Script;

/// A real-server weight, 0..=2147483647 (the IPVS range).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Weight(u32);

impl Weight {
    /// The largest weight IPVS accepts.
    pub const MAX: u32 = i32::MAX as u32;
    /// keepalived's default weight.
    pub const DEFAULT: Weight = Weight(1);
    /// A weight, `None` above [`Weight::MAX`].
    pub fn new(v: u32) -> Option<Self> {
        (v <= Self::MAX).then_some(Self(v))
    }
    /// The value.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Check timing and failure policy, resolved for one checker (or as the defaults a
/// virtual or real server passes down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckTiming {
    /// Interval between checks (`delay_loop`, default 60 s).
    pub delay_loop: Duration,
    /// Extra attempts after a failure before the server is declared down
    /// (`retry`/`nb_get_retry`; default 1, DNS_CHECK 3, MISC_CHECK 0).
    pub retry: u32,
    /// Delay between retries (default 3 s for HTTP_GET/SSL_GET, `delay_loop` for
    /// DNS_CHECK, 1 s otherwise).
    pub delay_before_retry: Duration,
    /// Maximum random delay before the first check (default `delay_loop`; 0 disables).
    pub warmup: Duration,
    /// Connection timeout (default 5 s).
    pub connect_timeout: Duration,
    /// Start with the checker failed (`alpha`).
    pub alpha: bool,
    /// Log every failure, not only state changes (`log_all_failures`).
    pub log_all_failures: bool,
}

/// Where a network checker connects from and to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connection {
    /// Destination address (`connect_ip`, default the real server's address).
    pub ip: IpAddr,
    /// Destination port (`connect_port`, default the real server's port); `None` for
    /// checkers without ports (PING_CHECK) or when nothing gives one.
    pub port: Option<u16>,
    /// Source address (`bindto`).
    pub bind_ip: Option<IpAddr>,
    /// Source port (`bind_port`).
    pub bind_port: Option<u16>,
    /// Source interface (`bind_if`).
    pub bind_if: Option<String>,
    /// Firewall mark for outgoing probes (`fwmark`).
    pub fwmark: Option<u32>,
}

/// One health checker of a real server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checker {
    /// Where the checker block starts.
    #[serde(skip)]
    pub origin: Origin,
    /// Resolved timing.
    pub timing: CheckTiming,
    /// Connection parameters; `None` for MISC_CHECK, FILE_CHECK and BFD_CHECK.
    pub connection: Option<Connection>,
    /// The check itself.
    pub kind: CheckerKind,
}

/// What a checker probes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum CheckerKind {
    /// TCP_CHECK: a connection succeeds.
    Tcp,
    /// HTTP_GET.
    Http(HttpCheck),
    /// SSL_GET.
    Ssl(HttpCheck),
    /// SMTP_CHECK.
    Smtp(SmtpCheck),
    /// DNS_CHECK.
    Dns(DnsCheck),
    /// UDP_CHECK.
    Udp(UdpCheck),
    /// PING_CHECK: an ICMP echo is answered.
    Ping,
    /// FILE_CHECK.
    File(FileCheck),
    /// MISC_CHECK.
    Misc(MiscCheck),
    /// BFD_CHECK.
    Bfd(BfdCheck),
}

impl CheckerKind {
    /// The keepalived block name.
    pub fn block_name(&self) -> &'static str {
        match self {
            CheckerKind::Tcp => "TCP_CHECK",
            CheckerKind::Http(_) => "HTTP_GET",
            CheckerKind::Ssl(_) => "SSL_GET",
            CheckerKind::Smtp(_) => "SMTP_CHECK",
            CheckerKind::Dns(_) => "DNS_CHECK",
            CheckerKind::Udp(_) => "UDP_CHECK",
            CheckerKind::Ping => "PING_CHECK",
            CheckerKind::File(_) => "FILE_CHECK",
            CheckerKind::Misc(_) => "MISC_CHECK",
            CheckerKind::Bfd(_) => "BFD_CHECK",
        }
    }
}

/// HTTP version sent by HTTP_GET/SSL_GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum HttpProtocol {
    /// HTTP/1.0 (the default).
    #[default]
    #[serde(rename = "1.0")]
    V1_0,
    /// HTTP/1.0 with `Connection: close`.
    #[serde(rename = "1.0C")]
    V1_0C,
    /// HTTP/1.1.
    #[serde(rename = "1.1")]
    V1_1,
}

/// HTTP_GET / SSL_GET parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpCheck {
    /// `http_protocol`.
    pub protocol: HttpProtocol,
    /// `fast_recovery`.
    pub fast_recovery: bool,
    /// Send SNI (`enable_sni`).
    pub enable_sni: bool,
    /// Host header default for the URLs (checker, else real server, else virtual server).
    pub virtualhost: Option<String>,
    /// The URLs, at least one.
    pub urls: Vec<Url>,
}

/// An MD5 digest of a page body (`digest`, 32 hex characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Md5Digest(pub [u8; 16]);

impl Md5Digest {
    /// Parses 32 hex characters (either case).
    pub fn from_hex(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            let hi = char::from(*pair.first()?).to_digit(16)?;
            let lo = char::from(*pair.get(1)?).to_digit(16)?;
            *out.get_mut(i)? = u8::try_from(hi * 16 + lo).ok()?;
        }
        Some(Self(out))
    }
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Serialize for Md5Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

/// An inclusive range of HTTP status codes within 100..=599.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct StatusRange {
    first: u16,
    last: u16,
}

impl StatusRange {
    /// keepalived's default: 200-299.
    pub const SUCCESS: StatusRange = StatusRange {
        first: 200,
        last: 299,
    };
    /// A range, `None` outside 100..=599 or when reversed.
    pub fn new(first: u16, last: u16) -> Option<Self> {
        ((100..=599).contains(&first) && (100..=599).contains(&last) && first <= last)
            .then_some(Self { first, last })
    }
    /// First code.
    pub fn first(&self) -> u16 {
        self.first
    }
    /// Last code (inclusive).
    pub fn last(&self) -> u16 {
        self.last
    }
    /// Whether a code is in the range.
    pub fn contains(&self, code: u16) -> bool {
        (self.first..=self.last).contains(&code)
    }
}

/// Regular-expression test of a URL's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegexMatch {
    /// The pattern (PCRE2 syntax).
    pub pattern: String,
    /// `regex_no_match`: a match fails the check.
    pub no_match: bool,
    /// `regex_options` (PCRE2 option names).
    pub options: Vec<String>,
    /// `regex_stack START MAX` in bytes.
    pub stack: Option<(u32, u32)>,
    /// `regex_min_offset`.
    pub min_offset: Option<u32>,
    /// `regex_max_offset`.
    pub max_offset: Option<u32>,
}

/// One `url { }` of HTTP_GET/SSL_GET.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Url {
    /// Where the `url` keyword stands.
    #[serde(skip)]
    pub origin: Origin,
    /// The path requested.
    pub path: String,
    /// Expected MD5 of the body.
    pub digest: Option<Md5Digest>,
    /// Accepted status codes (default 200-299).
    pub status_codes: Vec<StatusRange>,
    /// Host header for this URL (overrides the checker's).
    pub virtualhost: Option<String>,
    /// Body regex.
    pub regex: Option<RegexMatch>,
}

/// SMTP_CHECK parameters. Each deprecated `host { }` block of an SMTP_CHECK becomes a
/// checker of its own (as keepalived does), so there is one target per checker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SmtpCheck {
    /// HELO name (default `smtpchecker.keepalived.org`).
    pub helo_name: String,
}

/// DNS query types DNS_CHECK can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DnsType {
    /// A.
    A,
    /// NS.
    Ns,
    /// CNAME.
    Cname,
    /// SOA (the default).
    #[default]
    Soa,
    /// MX.
    Mx,
    /// TXT.
    Txt,
    /// AAAA.
    Aaaa,
}

impl DnsType {
    /// Every type with its name.
    pub const ALL: [(&'static str, DnsType); 7] = [
        ("A", DnsType::A),
        ("NS", DnsType::Ns),
        ("CNAME", DnsType::Cname),
        ("SOA", DnsType::Soa),
        ("MX", DnsType::Mx),
        ("TXT", DnsType::Txt),
        ("AAAA", DnsType::Aaaa),
    ];
}

/// DNS_CHECK parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsCheck {
    /// Query type (default SOA).
    pub qtype: DnsType,
    /// Query name (default `.`).
    pub name: String,
}

/// A byte pattern of `require_reply`: `mask` bits that are 0 are not compared
/// (the hex digit was `X`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MaskedByte {
    /// The expected bits.
    pub value: u8,
    /// Which bits are compared.
    pub mask: u8,
}

/// UDP_CHECK parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UdpCheck {
    /// Bytes to send (`payload`); `None`: random payload.
    pub payload: Option<Vec<u8>>,
    /// `require_reply`: `None` no reply needed; `Some(empty)` any reply; else a prefix pattern.
    pub require_reply: Option<Vec<MaskedByte>>,
    /// Shortest acceptable reply (default 0).
    pub min_reply_length: u16,
    /// Longest acceptable reply (default 255).
    pub max_reply_length: u16,
}

/// FILE_CHECK parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCheck {
    /// Name of a top-level `track_file` block.
    pub track_file: String,
    /// Multiplier for the value read from the file (default 1).
    pub weight: i32,
    /// `reverse`: the value is negated.
    pub reverse: bool,
}

/// MISC_CHECK parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MiscCheck {
    /// The command line (`misc_path`).
    pub script: Script,
    /// `misc_timeout` (default: the checker's `delay_loop`).
    pub timeout: Duration,
    /// `misc_dynamic`: exit status 2..=255 sets the weight.
    pub dynamic: bool,
}

/// BFD_CHECK parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BfdCheck {
    /// Name of a `bfd_instance`.
    pub name: String,
}

/// `sorry_server IP [PORT]` with its options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SorryServer {
    /// Where it was written.
    #[serde(skip)]
    pub origin: Origin,
    /// Address.
    pub addr: IpAddr,
    /// Port (`None`: the virtual server's).
    pub port: Option<u16>,
    /// `sorry_server_inhibit`.
    pub inhibit: bool,
    /// `sorry_server_lvs_method` (default the virtual server's).
    pub forwarding: Forwarding,
}

/// `real_server IP [PORT] { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RealServer {
    /// Where the address was written.
    #[serde(skip)]
    pub origin: Origin,
    /// Address.
    pub addr: IpAddr,
    /// Port (`None`: omitted, e.g. for fwmark or persistent port-less services).
    pub port: Option<u16>,
    /// `weight` (default 1).
    pub weight: Weight,
    /// Forwarding (default the virtual server's).
    pub forwarding: Forwarding,
    /// `uthreshold` (0: none).
    pub upper_threshold: u32,
    /// `lthreshold` (0: none).
    pub lower_threshold: u32,
    /// `inhibit_on_failure`: set weight 0 instead of removing.
    pub inhibit_on_failure: bool,
    /// `notify_up`.
    pub notify_up: Option<Script>,
    /// `notify_down`.
    pub notify_down: Option<Script>,
    /// `smtp_alert` (None: the global default).
    pub smtp_alert: Option<bool>,
    /// `virtualhost` (default the virtual server's).
    pub virtualhost: Option<String>,
    /// `snmp_name`.
    pub snmp_name: Option<String>,
    /// The defaults this real server passes to its checkers.
    pub timing: CheckTiming,
    /// Its checkers.
    pub checkers: Vec<Checker>,
}

/// `virtual_server ... { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualServer {
    /// Where the address (or fwmark, or group name) was written.
    #[serde(skip)]
    pub origin: Origin,
    /// What it listens on.
    pub address: VsAddress,
    /// Address family (from the address, the real servers or `ip_family`).
    pub family: IpFamily,
    /// Protocol; `None` for a fwmark service without `protocol`.
    pub protocol: Option<Protocol>,
    /// Scheduler (default wlc).
    pub scheduler: Scheduler,
    /// Service flags.
    pub flags: ServiceFlags,
    /// Forwarding method (default NAT), the default for real and sorry servers.
    pub forwarding: Forwarding,
    /// Persistence, if any.
    pub persistence: Option<Persistence>,
    /// `ha_suspend`.
    pub ha_suspend: bool,
    /// `smtp_alert` (None: the global default).
    pub smtp_alert: Option<bool>,
    /// `virtualhost`.
    pub virtualhost: Option<String>,
    /// `snmp_name`.
    pub snmp_name: Option<String>,
    /// `alpha`: real servers start down.
    pub alpha: bool,
    /// `omega`: run down notifiers on shutdown.
    pub omega: bool,
    /// `quorum` (default 1, at least 1).
    pub quorum: std::num::NonZeroU32,
    /// `hysteresis` (default 0).
    pub hysteresis: u32,
    /// `quorum_up` script.
    pub quorum_up: Option<Script>,
    /// `quorum_down` script.
    pub quorum_down: Option<Script>,
    /// `weight` of the service in a group (default 1).
    pub weight: Weight,
    /// `inhibit_on_failure` default for the real servers.
    pub inhibit_on_failure: bool,
    /// The defaults passed to real servers.
    pub timing: CheckTiming,
    /// Sorry server.
    pub sorry_server: Option<SorryServer>,
    /// Real servers.
    pub real_servers: Vec<RealServer>,
}

impl VirtualServer {
    /// Sum of the configured weights of the real servers.
    pub fn total_weight(&self) -> u64 {
        self.real_servers
            .iter()
            .map(|r| u64::from(r.weight.get()))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_and_status() {
        assert!(Md5Digest::from_hex("ff20ad2481f97b1754ef3e12ecd3a9cc").is_some());
        assert!(Md5Digest::from_hex("ff20ad2481f97b1754ef3e12ecd3a9cg").is_none());
        assert!(Md5Digest::from_hex("ff20").is_none());
        let d = Md5Digest::from_hex("FF20AD2481F97B1754EF3E12ECD3A9CC").map(|d| d.to_hex());
        assert_eq!(d.as_deref(), Some("ff20ad2481f97b1754ef3e12ecd3a9cc"));
        assert!(StatusRange::new(99, 200).is_none());
        assert!(StatusRange::new(300, 200).is_none());
        assert!(StatusRange::new(200, 600).is_none());
        assert!(StatusRange::SUCCESS.contains(204));
        assert!(Weight::new(u32::MAX).is_none());
        assert_eq!(Scheduler::from_name("twos"), Some(Scheduler::Twos));
        assert_eq!(Scheduler::Mh.name(), "mh");
    }

    #[test]
    fn ranges() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(AddrRange::new(a("192.0.2.9"), a("192.0.2.1"), None).is_none());
        assert!(AddrRange::new(a("192.0.2.1"), a("2001:db8::1"), None).is_none());
        let r1 = AddrRange::new(a("192.0.2.1"), a("192.0.2.10"), Some(80)).unwrap();
        let r2 = AddrRange::new(a("192.0.2.10"), a("192.0.2.12"), Some(80)).unwrap();
        let r3 = AddrRange::new(a("192.0.2.10"), a("192.0.2.12"), Some(81)).unwrap();
        assert!(r1.overlaps(&r2));
        assert!(!r1.overlaps(&r3));
    }
}
