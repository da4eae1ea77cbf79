//! rtnetlink routes and policy rules: keepalived's `virtual_routes` / `virtual_rules`
//! and `static_routes` / `static_rules`.
//!
//! Like addresses, adding what exists and deleting what is gone report `false` rather
//! than failing, so the desired state can be re-applied.

use std::net::IpAddr;

use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleFlags, RuleMessage};
use netlink_packet_route::AddressFamily;

use crate::error::{Error, Result};
use crate::netlink::{errno, Netlink};

/// `RT_TABLE_MAIN`.
pub const TABLE_MAIN: u32 = 254;
/// `RTN_UNICAST`.
pub const RTN_UNICAST: u8 = 1;
/// `RTN_BLACKHOLE`.
pub const RTN_BLACKHOLE: u8 = 6;
/// `RTN_UNREACHABLE`.
pub const RTN_UNREACHABLE: u8 = 7;
/// `RTN_PROHIBIT`.
pub const RTN_PROHIBIT: u8 = 8;
/// `RTPROT_BOOT`, what `ip route add` uses.
pub const RTPROT_BOOT: u8 = 3;
/// `RTPROT_KEEPALIVED`, what keepalived marks its routes and rules with.
pub const RTPROT_KEEPALIVED: u8 = 18;
/// `FR_ACT_TO_TBL`: a rule that looks up a table.
pub const FR_ACT_TO_TBL: u8 = 1;
/// `FR_ACT_GOTO`: jump to the rule with a given priority.
pub const FR_ACT_GOTO: u8 = 2;
/// `FR_ACT_NOP`.
pub const FR_ACT_NOP: u8 = 3;
/// `FR_ACT_BLACKHOLE`.
pub const FR_ACT_BLACKHOLE: u8 = 6;
/// `FR_ACT_UNREACHABLE`.
pub const FR_ACT_UNREACHABLE: u8 = 7;
/// `FR_ACT_PROHIBIT`.
pub const FR_ACT_PROHIBIT: u8 = 8;
/// `RT_TABLE_COMPAT`: the header value when the table id does not fit 8 bits.
const RT_TABLE_COMPAT: u8 = 252;

/// A route: `DST/LEN [via GW] [dev OIF] [src SRC] [table T] [metric M] [scope S]
/// [proto P] [type blackhole|unreachable|prohibit]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Destination prefix.
    pub dst: IpAddr,
    /// Destination prefix length.
    pub prefix_len: u8,
    /// Next hop.
    pub gateway: Option<IpAddr>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// Preferred source address (`src`).
    pub src: Option<IpAddr>,
    /// Table id ([`TABLE_MAIN`] by default).
    pub table: u32,
    /// Metric / priority.
    pub metric: Option<u32>,
    /// Scope (see `netlink::SCOPE_*`).
    pub scope: u8,
    /// Protocol ([`RTPROT_KEEPALIVED`] by default).
    pub protocol: u8,
    /// Route type ([`RTN_UNICAST`] by default).
    pub kind: u8,
    /// Type of service (`tos`), 0 by default.
    pub tos: u8,
    /// `onlink`: the gateway is on the link even without a matching prefix.
    pub onlink: bool,
}

impl RouteSpec {
    /// A unicast route to `dst/prefix_len` in the main table, scope global, proto
    /// keepalived; set `gateway` / `oif` and the rest as needed.
    pub fn new(dst: IpAddr, prefix_len: u8) -> RouteSpec {
        RouteSpec {
            dst,
            prefix_len,
            gateway: None,
            oif: None,
            src: None,
            table: TABLE_MAIN,
            metric: None,
            scope: 0,
            protocol: RTPROT_KEEPALIVED,
            kind: RTN_UNICAST,
            tos: 0,
            onlink: false,
        }
    }

    fn message(&self) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = family(self.dst);
        m.header.destination_prefix_length = self.prefix_len;
        m.header.table = u8::try_from(self.table).unwrap_or(RT_TABLE_COMPAT);
        m.header.protocol = RouteProtocol::from(self.protocol);
        m.header.scope = RouteScope::from(self.scope);
        m.header.kind = RouteType::from(self.kind);
        m.header.tos = self.tos;
        if self.onlink {
            m.header.flags = RouteFlags::Onlink;
        }
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(self.dst)));
        if let Some(g) = self.gateway {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(g)));
        }
        if let Some(o) = self.oif {
            m.attributes.push(RouteAttribute::Oif(o));
        }
        if let Some(s) = self.src {
            m.attributes
                .push(RouteAttribute::PrefSource(RouteAddress::from(s)));
        }
        if let Some(p) = self.metric {
            m.attributes.push(RouteAttribute::Priority(p));
        }
        m.attributes.push(RouteAttribute::Table(self.table));
        m
    }
}

/// A policy rule: `[from SRC/LEN] [to DST/LEN] [iif NAME] [oif NAME] [fwmark M[/MASK]]
/// [priority P] table T | blackhole | unreachable | prohibit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// IPv6 rule (needed when neither `from` nor `to` says the family).
    pub v6: bool,
    /// Source prefix.
    pub from: Option<(IpAddr, u8)>,
    /// Destination prefix.
    pub to: Option<(IpAddr, u8)>,
    /// Input interface name.
    pub iif: Option<String>,
    /// Output interface name.
    pub oif: Option<String>,
    /// Firewall mark and optional mask.
    pub fwmark: Option<(u32, Option<u32>)>,
    /// Priority (preference); the kernel picks one when absent.
    pub priority: Option<u32>,
    /// Table to look up (for [`FR_ACT_TO_TBL`]).
    pub table: u32,
    /// Action ([`FR_ACT_TO_TBL`] by default).
    pub action: u8,
    /// Protocol ([`RTPROT_KEEPALIVED`] by default).
    pub protocol: u8,
    /// Type of service (`tos`), 0 = any.
    pub tos: u8,
    /// `not`: the selector is inverted.
    pub invert: bool,
    /// `goto PRIORITY` ([`FR_ACT_GOTO`] is set as the action).
    pub goto: Option<u32>,
    /// `suppress_prefixlength N`.
    pub suppress_prefixlen: Option<u32>,
    /// `l3mdev`.
    pub l3mdev: bool,
}

impl RuleSpec {
    /// A rule looking up `table`; family IPv4 unless `v6`.
    pub fn new(v6: bool, table: u32) -> RuleSpec {
        RuleSpec {
            v6,
            from: None,
            to: None,
            iif: None,
            oif: None,
            fwmark: None,
            priority: None,
            table,
            action: FR_ACT_TO_TBL,
            protocol: RTPROT_KEEPALIVED,
            tos: 0,
            invert: false,
            goto: None,
            suppress_prefixlen: None,
            l3mdev: false,
        }
    }

    fn message(&self) -> Result<RuleMessage> {
        let mut m = RuleMessage::default();
        m.header.family = if self.v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        for (a, _) in self.from.iter().chain(self.to.iter()) {
            if a.is_ipv6() != self.v6 {
                return Err(Error::Family("rule address of the other family"));
            }
        }
        m.header.action = RuleAction::from(if self.goto.is_some() {
            FR_ACT_GOTO
        } else {
            self.action
        });
        m.header.table = u8::try_from(self.table).unwrap_or(RT_TABLE_COMPAT);
        m.header.tos = self.tos;
        if self.invert {
            m.header.flags = RuleFlags::Invert;
        }
        if let Some(g) = self.goto {
            m.attributes.push(RuleAttribute::Goto(g));
        }
        if let Some(n) = self.suppress_prefixlen {
            m.attributes.push(RuleAttribute::SuppressPrefixLen(n));
        }
        if self.l3mdev {
            m.attributes.push(RuleAttribute::L3MDev(true));
        }
        if let Some((a, len)) = self.from {
            m.header.src_len = len;
            m.attributes.push(RuleAttribute::Source(a));
        }
        if let Some((a, len)) = self.to {
            m.header.dst_len = len;
            m.attributes.push(RuleAttribute::Destination(a));
        }
        if let Some(i) = &self.iif {
            m.attributes.push(RuleAttribute::Iifname(i.clone()));
        }
        if let Some(o) = &self.oif {
            m.attributes.push(RuleAttribute::Oifname(o.clone()));
        }
        if let Some((mark, mask)) = self.fwmark {
            m.attributes.push(RuleAttribute::FwMark(mark));
            if let Some(mask) = mask {
                m.attributes.push(RuleAttribute::FwMask(mask));
            }
        }
        if let Some(p) = self.priority {
            m.attributes.push(RuleAttribute::Priority(p));
        }
        if self.action == FR_ACT_TO_TBL && self.goto.is_none() {
            m.attributes.push(RuleAttribute::Table(self.table));
        }
        m.attributes
            .push(RuleAttribute::Protocol(RouteProtocol::from(self.protocol)));
        Ok(m)
    }
}

fn family(a: IpAddr) -> AddressFamily {
    match a {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

impl Netlink {
    /// Adds a route. `Ok(false)` when it already exists.
    pub async fn add_route(&self, spec: &RouteSpec) -> Result<bool> {
        match self.handle().route().add(spec.message()).execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
            Err(source) => Err(Error::Netlink {
                op: "add route",
                source,
            }),
        }
    }

    /// Deletes a route. `Ok(false)` when there was none to delete.
    pub async fn del_route(&self, spec: &RouteSpec) -> Result<bool> {
        match self.handle().route().del(spec.message()).execute().await {
            Ok(()) => Ok(true),
            Err(e) if matches!(errno(&e), Some(libc::ESRCH | libc::ENODEV)) => Ok(false),
            Err(source) => Err(Error::Netlink {
                op: "delete route",
                source,
            }),
        }
    }

    /// Adds a policy rule. `Ok(false)` when an identical rule exists.
    pub async fn add_rule(&self, spec: &RuleSpec) -> Result<bool> {
        let mut req = self.handle().rule().add();
        *req.message_mut() = spec.message()?;
        match req.execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
            Err(source) => Err(Error::Netlink {
                op: "add rule",
                source,
            }),
        }
    }

    /// Deletes a policy rule. `Ok(false)` when no such rule exists.
    pub async fn del_rule(&self, spec: &RuleSpec) -> Result<bool> {
        match self.handle().rule().del(spec.message()?).execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::ENOENT) => Ok(false),
            Err(source) => Err(Error::Netlink {
                op: "delete rule",
                source,
            }),
        }
    }
}
