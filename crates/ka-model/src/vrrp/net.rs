//! Addresses, routes and rules as written in `static_ipaddress`, `virtual_ipaddress`,
//! `virtual_ipaddress_excluded`, `static_routes`, `virtual_routes`, `static_rules` and
//! `virtual_rules` (the syntax of `ip address|route|rule add`).

use serde::Serialize;
use std::net::IpAddr;

/// An address with its prefix length (keepalived's default when none is written is the
/// full host length: /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct IpPrefix {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length, at most 32 for IPv4 and 128 for IPv6.
    pub len: u8,
}

impl IpPrefix {
    /// Builds a prefix, refusing lengths longer than the family allows.
    pub fn new(addr: IpAddr, len: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (len <= max).then_some(Self { addr, len })
    }
    /// A host prefix (/32 or /128).
    pub fn host(addr: IpAddr) -> Self {
        let len = if addr.is_ipv4() { 32 } else { 128 };
        Self { addr, len }
    }
}

/// An address scope (`scope` of `ip address add`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// 0.
    Global,
    /// 200.
    Site,
    /// 253.
    Link,
    /// 254.
    Host,
    /// 255.
    Nowhere,
    /// Any other number 0..=255.
    Other(u8),
}

impl Scope {
    /// The kernel's number for this scope.
    pub fn number(self) -> u8 {
        match self {
            Scope::Global => 0,
            Scope::Site => 200,
            Scope::Link => 253,
            Scope::Host => 254,
            Scope::Nowhere => 255,
            Scope::Other(n) => n,
        }
    }
}

/// The broadcast address of an IPv4 address (`brd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Broadcast {
    /// An explicit address.
    Addr(IpAddr),
    /// `+`: the address with all host bits set.
    SetHostBits,
    /// `-`: the address with all host bits cleared.
    ClearHostBits,
}

/// `preferred_lft` of an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PreferredLifetime {
    /// `forever`.
    Forever,
    /// A number of seconds (0 deprecates the address).
    Secs(u32),
}

/// One line of an address list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressSpec {
    /// The address and prefix (default /32 or /128).
    pub prefix: IpPrefix,
    /// `brd`/`broadcast`.
    pub broadcast: Option<Broadcast>,
    /// `dev`: the interface (default: the instance's, or `default_interface` for static ones).
    pub dev: Option<String>,
    /// `scope`.
    pub scope: Option<Scope>,
    /// `label`.
    pub label: Option<String>,
    /// `peer`.
    pub peer: Option<IpPrefix>,
    /// `home`.
    pub home: bool,
    /// `-nodad`.
    pub nodad: bool,
    /// `mngtmpaddr`.
    pub mngtmpaddr: bool,
    /// `noprefixroute`.
    pub noprefixroute: bool,
    /// `autojoin`.
    pub autojoin: bool,
    /// `no_track`: a deleted address does not take the instance out of master.
    pub no_track: bool,
    /// `use_vmac`: put the address on a VMAC of its interface.
    pub use_vmac: bool,
    /// `track_group` (static addresses only).
    pub track_group: Option<String>,
    /// `preferred_lft`.
    pub preferred_lft: Option<PreferredLifetime>,
}

impl AddressSpec {
    /// A plain address with nothing else set.
    pub fn new(prefix: IpPrefix) -> Self {
        Self {
            prefix,
            broadcast: None,
            dev: None,
            scope: None,
            label: None,
            peer: None,
            home: false,
            nodad: false,
            mngtmpaddr: false,
            noprefixroute: false,
            autojoin: false,
            no_track: false,
            use_vmac: false,
            track_group: None,
            preferred_lft: None,
        }
    }
}

/// A routing table: a number or a name from /etc/iproute2/rt_tables.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableRef {
    /// A table number (`main` is 254, `local` 255, `default` 253).
    Id(u32),
    /// A name to be resolved through rt_tables.
    Name(String),
}

/// A value that is a number or a name resolved through an iproute2 table
/// (`protocol`, `realms`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NumOrName {
    /// A number.
    Num(u32),
    /// A name.
    Name(String),
}

/// The type of a route (`blackhole 192.0.2.0/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RouteType {
    /// The default.
    #[default]
    Unicast,
    /// `blackhole`.
    Blackhole,
    /// `unreachable`.
    Unreachable,
    /// `prohibit`.
    Prohibit,
    /// `throw`.
    Throw,
    /// `local`.
    Local,
    /// `broadcast`.
    Broadcast,
    /// `anycast`.
    Anycast,
    /// `multicast`.
    Multicast,
    /// `nat`.
    Nat,
}

/// A route metric (`mtu`, `advmss`, `rtt`, ...), with the `lock` flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteMetric {
    /// The metric name as written (`mtu`, `window`, `rto_min`, ...).
    pub name: String,
    /// Its value.
    pub value: u32,
    /// `lock` was written before the value.
    pub locked: bool,
}

/// One `nexthop` of a multipath route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextHop {
    /// `via`/`gw`.
    pub via: Option<IpAddr>,
    /// `dev`.
    pub dev: Option<String>,
    /// `weight` 1..=256.
    pub weight: Option<u16>,
    /// `onlink`.
    pub onlink: bool,
    /// `realms`.
    pub realms: Option<String>,
}

/// IPv6 route preference (`pref`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoutePref {
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
}

/// One line of a route list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteSpec {
    /// `inet6` forced the family.
    pub inet6: bool,
    /// The route type.
    pub route_type: RouteType,
    /// The destination.
    pub dst: IpPrefix,
    /// `src`.
    pub src: Option<IpAddr>,
    /// `via`/`gw`.
    pub via: Option<IpAddr>,
    /// `or`: an alternative gateway (keepalived extension).
    pub or_via: Option<IpAddr>,
    /// `dev`/`oif`.
    pub dev: Option<String>,
    /// `scope`.
    pub scope: Option<Scope>,
    /// `table`.
    pub table: Option<TableRef>,
    /// `metric`/`priority`/`preference`.
    pub metric: Option<u32>,
    /// `protocol`/`proto`.
    pub protocol: Option<NumOrName>,
    /// `tos`/`dsfield`.
    pub tos: Option<u8>,
    /// `onlink`.
    pub onlink: bool,
    /// `realms`.
    pub realms: Option<String>,
    /// `mtu`, `advmss`, `rtt`, `rttvar`, `reordering`, `window`, `cwnd`, `ssthresh`,
    /// `rto_min`, `initcwnd`, `initrwnd`, `hoplimit`, `quickack`, `fastopen_no_cookie`.
    pub metrics: Vec<RouteMetric>,
    /// `features ecn`.
    pub features_ecn: bool,
    /// `congctl [lock] NAME`.
    pub congctl: Option<(String, bool)>,
    /// `pref`.
    pub pref: Option<RoutePref>,
    /// `expires` seconds.
    pub expires: Option<u32>,
    /// `vrf`.
    pub vrf: Option<String>,
    /// `encap ...` words as written (not interpreted).
    pub encap: Vec<String>,
    /// `ttl-propagate enabled|disabled`.
    pub ttl_propagate: Option<bool>,
    /// `nexthop` entries (multipath).
    pub nexthops: Vec<NextHop>,
    /// `append` instead of prepend.
    pub append: bool,
    /// `no_track`.
    pub no_track: bool,
    /// `track_group` (static routes only).
    pub track_group: Option<String>,
}

/// The action of a rule when it is not a table lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// `blackhole`.
    Blackhole,
    /// `unreachable`.
    Unreachable,
    /// `prohibit`.
    Prohibit,
    /// `nop`.
    Nop,
}

/// An inclusive range (`uidrange 10000-19999`, `sport 10-20`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Range<T> {
    /// First value.
    pub start: T,
    /// Last value (>= start).
    pub end: T,
}

/// One line of a rule list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct RuleSpec {
    /// `inet6` forced the family.
    pub inet6: bool,
    /// `not`.
    pub not: bool,
    /// `from`.
    pub from: Option<IpPrefix>,
    /// `to`.
    pub to: Option<IpPrefix>,
    /// `preference`/`priority`/`order`.
    pub priority: Option<u32>,
    /// `table`/`lookup`.
    pub table: Option<TableRef>,
    /// An action instead of a lookup.
    pub action: Option<RuleAction>,
    /// `goto`.
    pub goto: Option<u32>,
    /// `iif`/`dev`.
    pub iif: Option<String>,
    /// `oif`.
    pub oif: Option<String>,
    /// `tos`/`dsfield`.
    pub tos: Option<u8>,
    /// `fwmark VALUE[/MASK]`.
    pub fwmark: Option<(u32, Option<u32>)>,
    /// `realms`.
    pub realms: Option<String>,
    /// `suppress_prefixlength`.
    pub suppress_prefixlength: Option<u32>,
    /// `suppress_ifgroup`.
    pub suppress_ifgroup: Option<String>,
    /// `uidrange`.
    pub uidrange: Option<Range<u32>>,
    /// `l3mdev`.
    pub l3mdev: bool,
    /// `protocol`.
    pub protocol: Option<NumOrName>,
    /// `ip_proto` (name or number).
    pub ip_proto: Option<NumOrName>,
    /// `sport`.
    pub sport: Option<Range<u16>>,
    /// `dport`.
    pub dport: Option<Range<u16>>,
    /// `tunnel-id`/`tun_id`.
    pub tun_id: Option<u64>,
    /// `no_track`.
    pub no_track: bool,
    /// `track_group` (static rules only).
    pub track_group: Option<String>,
}
