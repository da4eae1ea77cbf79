//! Address, route and rule lines (the syntax of `ip address|route|rule add`).

use super::{ADDRESS_OPTIONS, ROUTE_OPTIONS, RULE_OPTIONS};
use crate::diag::did_you_mean;
use crate::diag::Diagnostic;
use crate::lower::{BlockSpec, Lowerer};
use crate::syntax::{Node, Token};
use ka_model::vrrp::net::{
    AddressSpec, Broadcast, IpPrefix, NextHop, NumOrName, PreferredLifetime, Range, RouteMetric,
    RoutePref, RouteSpec, RouteType, RuleAction, RuleSpec, Scope, TableRef,
};
use std::net::IpAddr;

/// Which list an address line belongs to (they accept slightly different options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrCtx {
    /// `static_ipaddress` (track_group allowed, no_track/use_vmac not).
    Static,
    /// `virtual_ipaddress`.
    Vip,
    /// `virtual_ipaddress_excluded`.
    Evip,
}

/// All words of a line: the keyword then the arguments.
fn words(node: &Node) -> Vec<&Token> {
    std::iter::once(&node.keyword)
        .chain(node.args.iter())
        .collect()
}

fn unknown_option(cx: &mut Lowerer<'_>, t: &Token, spec: &BlockSpec) {
    let mut d = Diagnostic::error(
        t.span,
        format!("unknown option `{}` in {}", t.text, spec.name),
    );
    if let Some(s) = did_you_mean(&t.text, spec.keywords.iter().map(|k| k.name)) {
        d = d.with_help(format!("did you mean `{s}`?"));
    }
    cx.push(d);
}

/// The value after an option word, or an error.
fn value<'w>(cx: &mut Lowerer<'_>, w: &[&'w Token], i: usize, what: &str) -> Option<&'w Token> {
    match w.get(i + 1) {
        Some(t) => Some(*t),
        None => {
            if let Some(k) = w.get(i) {
                cx.error(k.span, format!("`{}` needs {what}", k.text));
            }
            None
        }
    }
}

/// `ADDR[/LEN]`, with keepalived's default of a host prefix.
pub(crate) fn prefix(cx: &mut Lowerer<'_>, t: &Token) -> Option<IpPrefix> {
    let (a, len) = cx.ip_prefix(t)?;
    match len {
        Some(l) => IpPrefix::new(a, l),
        None => Some(IpPrefix::host(a)),
    }
}

fn scope(cx: &mut Lowerer<'_>, t: &Token) -> Option<Scope> {
    Some(match t.text.as_str() {
        "global" | "universe" => Scope::Global,
        "site" => Scope::Site,
        "link" => Scope::Link,
        "host" => Scope::Host,
        "nowhere" => Scope::Nowhere,
        s => match s.parse::<u8>() {
            Ok(n) => Scope::Other(n),
            Err(_) => {
                cx.push(
                    Diagnostic::error(t.span, format!("`{s}` is not a scope"))
                        .with_help("use global, site, link, host, nowhere or a number 0..=255"),
                );
                return None;
            }
        },
    })
}

fn table(t: &Token) -> TableRef {
    match t.text.as_str() {
        "main" => TableRef::Id(254),
        "local" => TableRef::Id(255),
        "default" => TableRef::Id(253),
        s => match parse_u32(s) {
            Some(n) => TableRef::Id(n),
            None => TableRef::Name(s.to_owned()),
        },
    }
}

fn num_or_name(t: &Token) -> NumOrName {
    match parse_u32(&t.text) {
        Some(n) => NumOrName::Num(n),
        None => NumOrName::Name(t.text.clone()),
    }
}

/// Decimal or 0x hexadecimal.
fn parse_u32(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn u32_val(cx: &mut Lowerer<'_>, t: &Token, what: &str) -> Option<u32> {
    let v = parse_u32(&t.text);
    if v.is_none() {
        cx.error(t.span, format!("`{}` is not {what}", t.text));
    }
    v
}

fn tos(cx: &mut Lowerer<'_>, t: &Token) -> Option<u8> {
    let v = u32_val(cx, t, "a TOS value 0..=255")?;
    match u8::try_from(v) {
        Ok(b) => Some(b),
        Err(_) => {
            cx.error(t.span, format!("TOS {v} is out of range 0..=255"));
            None
        }
    }
}

/// One line of `virtual_ipaddress`, `virtual_ipaddress_excluded` or `static_ipaddress`.
pub fn lower_address(cx: &mut Lowerer<'_>, node: &Node, ctx: AddrCtx) -> Option<AddressSpec> {
    if node.block.is_some() {
        cx.error(node.keyword.span, "an address line cannot open a block");
    }
    let w = words(node);
    let mut a = AddressSpec::new(prefix(cx, &node.keyword)?);
    let mut i = 1;
    while let Some(t) = w.get(i) {
        let mut used = 1;
        match t.text.as_str() {
            "brd" | "broadcast" => {
                if let Some(v) = value(cx, &w, i, "an address, + or -") {
                    a.broadcast = match v.text.as_str() {
                        "+" => Some(Broadcast::SetHostBits),
                        "-" => Some(Broadcast::ClearHostBits),
                        _ => cx.ip(v).map(Broadcast::Addr),
                    };
                    if a.prefix.addr.is_ipv6() {
                        cx.error(t.span, "`brd` applies to IPv4 addresses only");
                    }
                }
                used = 2;
            }
            "dev" => {
                if let Some(v) = value(cx, &w, i, "an interface name") {
                    super::check_interface(cx, v.span, &v.text);
                    a.dev = Some(v.text.clone());
                }
                used = 2;
            }
            "scope" => {
                if let Some(v) = value(cx, &w, i, "a scope") {
                    a.scope = scope(cx, v);
                }
                used = 2;
            }
            "label" => {
                if let Some(v) = value(cx, &w, i, "a label") {
                    if v.text.chars().count() > 15 {
                        cx.error(
                            v.span,
                            format!("label `{}` is longer than 15 characters", v.text),
                        );
                    }
                    a.label = Some(v.text.clone());
                }
                used = 2;
            }
            "peer" => {
                if let Some(v) = value(cx, &w, i, "an address") {
                    if node.keyword.text.contains('/') {
                        cx.push(
                            Diagnostic::error(
                                node.keyword.span,
                                "an address with a `peer` cannot have a prefix length",
                            )
                            .with_help("put the prefix on the peer: `ADDR peer PEER/LEN`"),
                        );
                    }
                    a.peer = prefix(cx, v);
                }
                used = 2;
            }
            "home" => a.home = true,
            "-nodad" => a.nodad = true,
            "mngtmpaddr" => a.mngtmpaddr = true,
            "noprefixroute" => a.noprefixroute = true,
            "autojoin" => a.autojoin = true,
            "no_track" if ctx != AddrCtx::Static => a.no_track = true,
            "use_vmac" if ctx != AddrCtx::Static => a.use_vmac = true,
            "track_group" if ctx == AddrCtx::Static => {
                if let Some(v) = value(cx, &w, i, "a track_group name") {
                    a.track_group = Some(v.text.clone());
                }
                used = 2;
            }
            "no_track" | "use_vmac" | "track_group" => {
                cx.error(
                    t.span,
                    format!(
                        "`{}` is not allowed here ({})",
                        t.text,
                        if ctx == AddrCtx::Static {
                            "static addresses are not moved by VRRP"
                        } else {
                            "track_group applies to static addresses only"
                        }
                    ),
                );
                if t.text == "track_group" {
                    used = 2;
                }
            }
            "preferred_lft" => {
                if let Some(v) = value(cx, &w, i, "a number of seconds or `forever`") {
                    a.preferred_lft = if v.text == "forever" {
                        Some(PreferredLifetime::Forever)
                    } else {
                        cx.uint(v, 0, u64::from(u32::MAX))
                            .and_then(|x| u32::try_from(x).ok())
                            .map(PreferredLifetime::Secs)
                    };
                }
                used = 2;
            }
            _ => unknown_option(cx, t, &ADDRESS_OPTIONS),
        }
        i += used;
    }
    Some(a)
}

const ROUTE_METRICS: &[&str] = &[
    "mtu",
    "advmss",
    "rtt",
    "rttvar",
    "reordering",
    "window",
    "cwnd",
    "ssthresh",
    "rto_min",
    "initcwnd",
    "initrwnd",
    "hoplimit",
    "quickack",
    "fastopen_no_cookie",
];

fn route_type(s: &str) -> Option<RouteType> {
    Some(match s {
        "unicast" => RouteType::Unicast,
        "blackhole" => RouteType::Blackhole,
        "unreachable" => RouteType::Unreachable,
        "prohibit" => RouteType::Prohibit,
        "throw" => RouteType::Throw,
        "local" => RouteType::Local,
        "broadcast" => RouteType::Broadcast,
        "anycast" => RouteType::Anycast,
        "multicast" => RouteType::Multicast,
        "nat" => RouteType::Nat,
        _ => return None,
    })
}

/// A time value of `ip route` (`rtt 102`, `rto_min 200ms`, `rtt 1s`), in milliseconds.
fn time_ms(s: &str) -> Option<u32> {
    if let Some(v) = s.strip_suffix("ms").or_else(|| s.strip_suffix("msec")) {
        return v.parse().ok();
    }
    if let Some(v) = s.strip_suffix('s').or_else(|| s.strip_suffix("sec")) {
        return v.parse::<u32>().ok().and_then(|x| x.checked_mul(1000));
    }
    s.parse().ok()
}

/// One line of `virtual_routes` or `static_routes`.
pub fn lower_route(cx: &mut Lowerer<'_>, node: &Node, is_static: bool) -> Option<RouteSpec> {
    let w = words(node);
    let mut r = RouteSpec {
        inet6: false,
        route_type: RouteType::Unicast,
        dst: IpPrefix::host(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
        src: None,
        via: None,
        or_via: None,
        dev: None,
        scope: None,
        table: None,
        metric: None,
        protocol: None,
        tos: None,
        onlink: false,
        realms: None,
        metrics: Vec::new(),
        features_ecn: false,
        congctl: None,
        pref: None,
        expires: None,
        vrf: None,
        encap: Vec::new(),
        ttl_propagate: None,
        nexthops: Vec::new(),
        append: false,
        no_track: false,
        track_group: None,
    };
    let mut have_dst = false;
    let mut ok = true;
    let mut i = 0;
    while let Some(t) = w.get(i) {
        let mut used = 1;
        let s = t.text.as_str();
        // Inside a `nexthop`, options belong to the last next hop.
        let in_nh = !r.nexthops.is_empty();
        match s {
            "inet" => {}
            "inet6" => r.inet6 = true,
            "to" if !have_dst => {}
            _ if !have_dst && route_type(s).is_some() => {
                r.route_type = route_type(s).unwrap_or_default();
            }
            "src" => {
                if let Some(v) = value(cx, &w, i, "an address") {
                    r.src = cx.ip(v);
                }
                used = 2;
            }
            _ if !have_dst && (s == "default" || s.contains('.') || s.contains(':')) => {
                have_dst = true;
                if s == "default" {
                    let any = if r.inet6 {
                        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                    } else {
                        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
                    };
                    r.dst = IpPrefix { addr: any, len: 0 };
                } else {
                    match prefix(cx, t) {
                        Some(p) => r.dst = p,
                        None => ok = false,
                    }
                }
            }
            "nexthop" => r.nexthops.push(NextHop {
                via: None,
                dev: None,
                weight: None,
                onlink: false,
                realms: None,
            }),
            "via" | "gw" => {
                if s == "gw" {
                    cx.push(
                        Diagnostic::warning(t.span, "`gw` for routes is deprecated")
                            .with_help("write `via`"),
                    );
                }
                if let Some(v) = value(cx, &w, i, "a gateway address") {
                    let a = cx.ip(v);
                    match r.nexthops.last_mut() {
                        Some(nh) => nh.via = a,
                        None => r.via = a,
                    }
                }
                used = 2;
            }
            "or" => {
                cx.push(
                    Diagnostic::warning(t.span, "`or` for routes is deprecated")
                        .with_help("use `nexthop via A nexthop via B`"),
                );
                if let Some(v) = value(cx, &w, i, "a gateway address") {
                    r.or_via = cx.ip(v);
                }
                used = 2;
            }
            "dev" | "oif" => {
                if let Some(v) = value(cx, &w, i, "an interface name") {
                    super::check_interface(cx, v.span, &v.text);
                    match r.nexthops.last_mut() {
                        Some(nh) => nh.dev = Some(v.text.clone()),
                        None => r.dev = Some(v.text.clone()),
                    }
                }
                used = 2;
            }
            "weight" if in_nh => {
                if let Some(v) = value(cx, &w, i, "a weight 1..=256") {
                    let wt = cx.uint(v, 1, 256).and_then(|x| u16::try_from(x).ok());
                    if let Some(nh) = r.nexthops.last_mut() {
                        nh.weight = wt;
                    }
                }
                used = 2;
            }
            "onlink" => match r.nexthops.last_mut() {
                Some(nh) => nh.onlink = true,
                None => r.onlink = true,
            },
            "realms" => {
                if let Some(v) = value(cx, &w, i, "a realm or FROM/TO") {
                    match r.nexthops.last_mut() {
                        Some(nh) => nh.realms = Some(v.text.clone()),
                        None => r.realms = Some(v.text.clone()),
                    }
                }
                used = 2;
            }
            "scope" => {
                if let Some(v) = value(cx, &w, i, "a scope") {
                    r.scope = scope(cx, v);
                }
                used = 2;
            }
            "table" => {
                if let Some(v) = value(cx, &w, i, "a table number or name") {
                    r.table = Some(table(v));
                }
                used = 2;
            }
            "metric" | "priority" | "preference" => {
                if let Some(v) = value(cx, &w, i, "a number") {
                    r.metric = u32_val(cx, v, "a metric 0..=4294967295");
                }
                used = 2;
            }
            "protocol" => {
                if let Some(v) = value(cx, &w, i, "a protocol number or name") {
                    r.protocol = Some(num_or_name(v));
                }
                used = 2;
            }
            "tos" | "dsfield" => {
                if let Some(v) = value(cx, &w, i, "a TOS value") {
                    r.tos = tos(cx, v);
                }
                used = 2;
            }
            m if ROUTE_METRICS.contains(&m) => {
                let locked = w.get(i + 1).is_some_and(|v| v.text == "lock");
                let vi = if locked { i + 1 } else { i };
                if let Some(v) = value(cx, &w, vi, "a number") {
                    let val = if matches!(m, "rtt" | "rttvar" | "rto_min") {
                        time_ms(&v.text)
                    } else {
                        parse_u32(&v.text)
                    };
                    match val {
                        Some(value) => r.metrics.push(RouteMetric {
                            name: m.to_owned(),
                            value,
                            locked,
                        }),
                        None => cx.error(v.span, format!("`{}` is not a valid {m}", v.text)),
                    }
                }
                used = if locked { 3 } else { 2 };
            }
            "features" => {
                match w.get(i + 1) {
                    Some(v) if v.text == "ecn" => r.features_ecn = true,
                    Some(v) => cx.error(
                        v.span,
                        format!("unknown route feature `{}` (only ecn)", v.text),
                    ),
                    None => cx.error(t.span, "`features` needs `ecn`"),
                }
                used = 2;
            }
            "congctl" => {
                let locked = w.get(i + 1).is_some_and(|v| v.text == "lock");
                let vi = if locked { i + 1 } else { i };
                if let Some(v) = value(cx, &w, vi, "an algorithm name") {
                    r.congctl = Some((v.text.clone(), locked));
                }
                used = if locked { 3 } else { 2 };
            }
            "pref" => {
                if let Some(v) = value(cx, &w, i, "low, medium or high") {
                    r.pref = match v.text.as_str() {
                        "low" => Some(RoutePref::Low),
                        "medium" => Some(RoutePref::Medium),
                        "high" => Some(RoutePref::High),
                        _ => {
                            cx.error(v.span, format!("`{}` is not low, medium or high", v.text));
                            None
                        }
                    };
                }
                used = 2;
            }
            "expires" => {
                if let Some(v) = value(cx, &w, i, "a number of seconds") {
                    r.expires = u32_val(cx, v, "a number of seconds");
                }
                used = 2;
            }
            "vrf" => {
                if let Some(v) = value(cx, &w, i, "a VRF name") {
                    r.vrf = Some(v.text.clone());
                }
                used = 2;
            }
            "encap" => {
                // encap TYPE ARGS...: keep the words up to the next route option.
                let mut j = i + 1;
                while let Some(v) = w.get(j) {
                    if j > i + 1 && ROUTE_OPTIONS.status(&v.text).is_some() {
                        break;
                    }
                    r.encap.push(v.text.clone());
                    j += 1;
                }
                if r.encap.is_empty() {
                    cx.error(t.span, "`encap` needs a type and its arguments");
                }
                used = j - i;
            }
            "ttl-propagate" => {
                if let Some(v) = value(cx, &w, i, "enabled or disabled") {
                    r.ttl_propagate = match v.text.as_str() {
                        "enabled" => Some(true),
                        "disabled" => Some(false),
                        _ => {
                            cx.error(v.span, format!("`{}` is not enabled or disabled", v.text));
                            None
                        }
                    };
                }
                used = 2;
            }
            "append" => r.append = true,
            "no_track" if !is_static => r.no_track = true,
            "track_group" if is_static => {
                if let Some(v) = value(cx, &w, i, "a track_group name") {
                    r.track_group = Some(v.text.clone());
                }
                used = 2;
            }
            "no_track" | "track_group" => {
                cx.error(
                    t.span,
                    format!(
                        "`{}` is not allowed in {}",
                        t.text,
                        if is_static {
                            "static_routes"
                        } else {
                            "virtual_routes"
                        }
                    ),
                );
                if t.text == "track_group" {
                    used = 2;
                }
            }
            _ if !have_dst => {
                cx.push(
                    Diagnostic::error(t.span, format!("`{}` is not a route destination", t.text))
                        .with_help(
                        "write the destination as ADDRESS/PREFIX, e.g. 192.0.2.0/24, or `default`",
                    ),
                );
                ok = false;
            }
            _ => unknown_option(cx, t, &ROUTE_OPTIONS),
        }
        i += used;
    }
    if !have_dst {
        if ok {
            cx.error(node.keyword.span, "the route has no destination");
        }
        return None;
    }
    if !ok {
        return None;
    }
    // Family consistency.
    let fam6 = r.dst.addr.is_ipv6();
    if r.inet6 && !fam6 {
        cx.error(node.keyword.span, "`inet6` route with an IPv4 destination");
    }
    if !fam6 && (r.pref.is_some() || r.expires.is_some()) {
        cx.error(
            node.keyword.span,
            "`pref` and `expires` are only valid for IPv6 routes",
        );
    }
    if !is_static && !r.no_track {
        if let Some(p) = &r.protocol {
            if *p != NumOrName::Num(18) && *p != NumOrName::Name("keepalived".into()) {
                cx.push(
                    Diagnostic::warning(
                        node.keyword.span,
                        "a tracked virtual route must have protocol keepalived (18); keepalived resets it",
                    )
                    .with_help("remove `protocol`, or add `no_track`"),
                );
            }
        }
    }
    for (what, a) in [("via", r.via), ("src", r.src), ("or", r.or_via)] {
        if let Some(a) = a {
            if a.is_ipv6() != fam6 {
                cx.error(
                    node.keyword.span,
                    format!("the `{what}` address {a} is not of the destination's address family"),
                );
            }
        }
    }
    Some(r)
}

fn range<T: std::str::FromStr + PartialOrd + Copy>(s: &str) -> Option<Range<T>> {
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let v = s.parse().ok()?;
            (v, v)
        }
    };
    (a <= b).then_some(Range { start: a, end: b })
}

/// One line of `virtual_rules` or `static_rules`.
pub fn lower_rule(cx: &mut Lowerer<'_>, node: &Node, is_static: bool) -> Option<RuleSpec> {
    let w = words(node);
    let mut r = RuleSpec::default();
    let mut i = 0;
    while let Some(t) = w.get(i) {
        let mut used = 2;
        let s = t.text.as_str();
        match s {
            "inet" => used = 1,
            "inet6" => {
                r.inet6 = true;
                used = 1;
            }
            "not" => {
                r.not = true;
                used = 1;
            }
            "from" | "to" => {
                if let Some(v) = value(cx, &w, i, "an address prefix or `all`") {
                    let p = if matches!(v.text.as_str(), "all" | "default") {
                        None
                    } else {
                        prefix(cx, v)
                    };
                    if s == "from" {
                        r.from = p;
                    } else {
                        r.to = p;
                    }
                }
            }
            "table" | "lookup" => {
                if let Some(v) = value(cx, &w, i, "a table number or name") {
                    r.table = Some(table(v));
                }
            }
            "preference" | "priority" | "order" => {
                if let Some(v) = value(cx, &w, i, "a number") {
                    r.priority = u32_val(cx, v, "a rule priority");
                }
            }
            "tos" | "dsfield" => {
                if let Some(v) = value(cx, &w, i, "a TOS value") {
                    r.tos = tos(cx, v);
                }
            }
            "fwmark" => {
                if let Some(v) = value(cx, &w, i, "MARK[/MASK]") {
                    let (m, mask) = match v.text.split_once('/') {
                        Some((m, k)) => (parse_u32(m), Some(parse_u32(k))),
                        None => (parse_u32(&v.text), None),
                    };
                    match (m, mask) {
                        (Some(m), None) => r.fwmark = Some((m, None)),
                        (Some(m), Some(Some(k))) => r.fwmark = Some((m, Some(k))),
                        _ => cx.error(v.span, format!("`{}` is not MARK[/MASK]", v.text)),
                    }
                }
            }
            "realms" => {
                if let Some(v) = value(cx, &w, i, "a realm") {
                    r.realms = Some(v.text.clone());
                }
            }
            "goto" => {
                if let Some(v) = value(cx, &w, i, "a rule priority") {
                    r.goto = u32_val(cx, v, "a rule priority");
                }
            }
            "iif" | "dev" | "oif" => {
                if let Some(v) = value(cx, &w, i, "an interface name") {
                    super::check_interface(cx, v.span, &v.text);
                    if s == "oif" {
                        r.oif = Some(v.text.clone());
                    } else {
                        r.iif = Some(v.text.clone());
                    }
                }
            }
            "suppress_prefixlength" => {
                if let Some(v) = value(cx, &w, i, "a prefix length") {
                    r.suppress_prefixlength = u32_val(cx, v, "a prefix length");
                }
            }
            "suppress_ifgroup" => {
                if let Some(v) = value(cx, &w, i, "an interface group") {
                    r.suppress_ifgroup = Some(v.text.clone());
                }
            }
            "uidrange" => {
                if let Some(v) = value(cx, &w, i, "FIRST-LAST") {
                    r.uidrange = range::<u32>(&v.text);
                    if r.uidrange.is_none() {
                        cx.error(
                            v.span,
                            format!("`{}` is not a uid range FIRST-LAST", v.text),
                        );
                    }
                }
            }
            "l3mdev" => {
                r.l3mdev = true;
                used = 1;
            }
            "protocol" => {
                if let Some(v) = value(cx, &w, i, "a protocol number") {
                    match cx.uint(v, 0, 255) {
                        Some(n) => r.protocol = u32::try_from(n).ok().map(NumOrName::Num),
                        None => {
                            if let Some(d) = cx.diags.last_mut() {
                                d.help = Some("rule protocols are numbers 0..=255".to_owned());
                            }
                        }
                    }
                }
            }
            "ip_proto" => {
                if let Some(v) = value(cx, &w, i, "an IP protocol") {
                    r.ip_proto = Some(num_or_name(v));
                }
            }
            "sport" | "dport" => {
                if let Some(v) = value(cx, &w, i, "FIRST-LAST") {
                    // keepalived wants both ends, even for a single port.
                    let p = if v.text.contains('-') {
                        range::<u16>(&v.text)
                    } else {
                        None
                    };
                    if p.is_none() {
                        cx.error(
                            v.span,
                            format!("`{}` is not a port range FIRST-LAST", v.text),
                        );
                    }
                    if s == "sport" {
                        r.sport = p;
                    } else {
                        r.dport = p;
                    }
                }
            }
            "tunnel-id" => {
                if let Some(v) = value(cx, &w, i, "a tunnel id") {
                    r.tun_id = v.text.parse().ok();
                    if r.tun_id.is_none() {
                        cx.error(v.span, format!("`{}` is not a tunnel id", v.text));
                    }
                }
            }
            "blackhole" | "unreachable" | "prohibit" | "nop" => {
                r.action = Some(match s {
                    "blackhole" => RuleAction::Blackhole,
                    "unreachable" => RuleAction::Unreachable,
                    "prohibit" => RuleAction::Prohibit,
                    _ => RuleAction::Nop,
                });
                used = 1;
            }
            "no_track" if !is_static => {
                r.no_track = true;
                used = 1;
            }
            "track_group" if is_static => {
                if let Some(v) = value(cx, &w, i, "a track_group name") {
                    r.track_group = Some(v.text.clone());
                }
            }
            "no_track" | "track_group" => {
                cx.error(
                    t.span,
                    format!(
                        "`{}` is not allowed in {}",
                        t.text,
                        if is_static {
                            "static_rules"
                        } else {
                            "virtual_rules"
                        }
                    ),
                );
                used = if s == "no_track" { 1 } else { 2 };
            }
            _ => {
                unknown_option(cx, t, &RULE_OPTIONS);
                used = 1;
            }
        }
        i += used;
    }
    if let (Some(f), Some(t)) = (r.from, r.to) {
        if f.addr.is_ipv6() != t.addr.is_ipv6() {
            cx.error(
                node.keyword.span,
                "`from` and `to` are of different address families",
            );
        }
    }
    let actions = usize::from(r.table.is_some())
        + usize::from(r.action.is_some())
        + usize::from(r.goto.is_some())
        + usize::from(r.l3mdev);
    if actions > 1 {
        cx.push(
            Diagnostic::error(
                node.keyword.span,
                "a rule takes only one of table, goto, l3mdev, blackhole, unreachable, prohibit, nop",
            )
            .with_help("keep one action"),
        );
    }
    if r.priority.is_none() && actions > 0 {
        cx.push(
            Diagnostic::warning(
                node.keyword.span,
                "the rule has no preference; keepalived assigns one (16384 and down)",
            )
            .with_help("add `preference N` so the rule order does not depend on state changes"),
        );
    }
    if actions == 0 {
        cx.push(
            Diagnostic::error(
                node.keyword.span,
                "the rule has no action; keepalived ignores it",
            )
            .with_help("add `table N`, `goto N`, or one of blackhole, unreachable, prohibit, nop"),
        );
        return None;
    }
    Some(r)
}
