//! The host network configuration the daemon owns besides the VIPs themselves:
//! VIP attributes (`dev`, `label`, `scope`, `brd`, `-nodad`), `virtual_routes` /
//! `virtual_rules` (installed by the engine's `AddRoute`/`AddRule` actions while MASTER),
//! and `static_ipaddress` / `static_routes` / `static_rules` (installed at start, removed
//! at stop).
//!
//! The engine sees routes and rules as opaque text ([`route_text`], [`rule_text`]); the
//! [`NetPlan`] built here maps that text back to the kernel request. Like keepalived
//! (whose `set` flag on each address/route/rule does the same), something that already
//! existed when we tried to add it is not ours: it is left in place when we remove ours.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use ka_model::vrrp::net::{
    Broadcast, NumOrName, RouteSpec as MRoute, RouteType, RuleAction, RuleSpec as MRule, TableRef,
};
use ka_model::vrrp::{AddressSpec, VrrpConfig, VrrpInstance};
use ka_sys::netlink::SCOPE_GLOBAL;
use ka_sys::route::{
    FR_ACT_BLACKHOLE, FR_ACT_NOP, FR_ACT_PROHIBIT, FR_ACT_UNREACHABLE, RTN_BLACKHOLE, RTN_PROHIBIT,
    RTN_UNICAST, RTN_UNREACHABLE,
};
use ka_sys::{AddrSpec, Netlink, RouteSpec, RuleSpec};
use tracing::{debug, error, info, warn};

use super::map::Host;

/// Routing table and protocol names (`/etc/iproute2/rt_tables`, `rt_protos`) plus the
/// kernel's built-in ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// Table name -> id.
    pub tables: BTreeMap<String, u32>,
    /// Protocol name -> number.
    pub protos: BTreeMap<String, u32>,
}

impl Names {
    /// The built-in names only.
    pub fn builtin() -> Names {
        let mut n = Names::default();
        for (k, v) in [
            ("default", 253),
            ("main", 254),
            ("local", 255),
            ("unspec", 0),
        ] {
            n.tables.insert(k.into(), v);
        }
        for (k, v) in [
            ("unspec", 0),
            ("redirect", 1),
            ("kernel", 2),
            ("boot", 3),
            ("static", 4),
            ("gated", 8),
            ("ra", 9),
            ("mrt", 10),
            ("zebra", 11),
            ("bird", 12),
            ("dnrouted", 13),
            ("xorp", 14),
            ("ntk", 15),
            ("dhcp", 16),
            ("keepalived", 18),
            ("babel", 42),
            ("bgp", 186),
            ("isis", 187),
            ("ospf", 188),
            ("rip", 189),
            ("eigrp", 192),
        ] {
            n.protos.insert(k.into(), v);
        }
        n
    }

    /// Built-in names plus those in iproute2's files (missing files are fine).
    pub fn load() -> Names {
        let mut n = Names::builtin();
        for dir in ["/usr/share/iproute2", "/etc/iproute2"] {
            if let Ok(t) = std::fs::read_to_string(format!("{dir}/rt_tables")) {
                n.add(&t, true);
            }
            if let Ok(rd) = std::fs::read_dir(format!("{dir}/rt_tables.d")) {
                for e in rd.flatten().take(256) {
                    if e.path().extension().is_some_and(|x| x == "conf") {
                        if let Ok(t) = std::fs::read_to_string(e.path()) {
                            n.add(&t, true);
                        }
                    }
                }
            }
            if let Ok(t) = std::fs::read_to_string(format!("{dir}/rt_protos")) {
                n.add(&t, false);
            }
        }
        n
    }

    /// Adds `NUMBER NAME` lines (comments with `#`).
    pub fn add(&mut self, text: &str, tables: bool) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut w = line.split_whitespace();
            let (Some(num), Some(name)) = (w.next(), w.next()) else {
                continue;
            };
            let num = match num.strip_prefix("0x") {
                Some(h) => u32::from_str_radix(h, 16).ok(),
                None => num.parse().ok(),
            };
            if let Some(num) = num {
                let map = if tables {
                    &mut self.tables
                } else {
                    &mut self.protos
                };
                map.insert(name.to_owned(), num);
            }
        }
    }

    fn table(&self, t: &Option<TableRef>) -> Result<u32, String> {
        match t {
            None => Ok(ka_sys::route::TABLE_MAIN),
            Some(TableRef::Id(n)) => Ok(*n),
            Some(TableRef::Name(s)) => self
                .tables
                .get(s)
                .copied()
                .ok_or_else(|| format!("unknown routing table {s:?}")),
        }
    }

    fn proto(&self, p: &Option<NumOrName>) -> Result<u8, String> {
        let n = match p {
            None => return Ok(ka_sys::route::RTPROT_KEEPALIVED),
            Some(NumOrName::Num(n)) => *n,
            Some(NumOrName::Name(s)) => *self
                .protos
                .get(s)
                .ok_or_else(|| format!("unknown route protocol {s:?}"))?,
        };
        u8::try_from(n).map_err(|_| format!("route protocol {n} out of range"))
    }
}

fn table_text(t: &Option<TableRef>) -> Option<String> {
    match t {
        None => None,
        Some(TableRef::Id(n)) => Some(n.to_string()),
        Some(TableRef::Name(s)) => Some(s.clone()),
    }
}

/// The engine's text for a route: `ip route` syntax of the attributes that select the
/// kernel route (so two entries naming the same route share one text).
pub fn route_text(r: &MRoute) -> String {
    let mut s = String::new();
    match r.route_type {
        RouteType::Unicast => {}
        t => {
            let _ = write!(s, "{} ", format!("{t:?}").to_lowercase());
        }
    }
    let _ = write!(s, "{}/{}", r.dst.addr, r.dst.len);
    if let Some(v) = r.via {
        let _ = write!(s, " via {v}");
    }
    if let Some(d) = &r.dev {
        let _ = write!(s, " dev {d}");
    }
    if let Some(a) = r.src {
        let _ = write!(s, " src {a}");
    }
    if let Some(t) = table_text(&r.table) {
        let _ = write!(s, " table {t}");
    }
    if let Some(m) = r.metric {
        let _ = write!(s, " metric {m}");
    }
    if let Some(sc) = r.scope {
        let _ = write!(s, " scope {}", sc.number());
    }
    if let Some(t) = r.tos {
        let _ = write!(s, " tos {t}");
    }
    if r.onlink {
        s.push_str(" onlink");
    }
    s
}

/// The engine's text for a rule, in `ip rule` syntax.
pub fn rule_text(r: &MRule) -> String {
    let mut s = String::new();
    if r.inet6 {
        s.push_str("inet6 ");
    }
    if r.not {
        s.push_str("not ");
    }
    if let Some(f) = r.from {
        let _ = write!(s, "from {}/{} ", f.addr, f.len);
    }
    if let Some(t) = r.to {
        let _ = write!(s, "to {}/{} ", t.addr, t.len);
    }
    if let Some(i) = &r.iif {
        let _ = write!(s, "iif {i} ");
    }
    if let Some(o) = &r.oif {
        let _ = write!(s, "oif {o} ");
    }
    if let Some(t) = r.tos {
        let _ = write!(s, "tos {t} ");
    }
    if let Some((m, mask)) = r.fwmark {
        let _ = write!(s, "fwmark {m:#x}");
        if let Some(mask) = mask {
            let _ = write!(s, "/{mask:#x}");
        }
        s.push(' ');
    }
    if let Some(p) = r.priority {
        let _ = write!(s, "priority {p} ");
    }
    if let Some(n) = r.suppress_prefixlength {
        let _ = write!(s, "suppress_prefixlength {n} ");
    }
    if r.l3mdev {
        s.push_str("l3mdev ");
    }
    match (r.action, r.goto) {
        (_, Some(g)) => {
            let _ = write!(s, "goto {g}");
        }
        (Some(a), None) => {
            let _ = write!(s, "{}", format!("{a:?}").to_lowercase());
        }
        (None, None) => {
            let _ = write!(
                s,
                "table {}",
                table_text(&r.table).unwrap_or_else(|| "main".into())
            );
        }
    }
    s.trim_end().to_owned()
}

fn ifindex(host: &Host, name: &str) -> Result<u32, String> {
    host.get(name)
        .map(|h| h.ifindex)
        .ok_or_else(|| format!("interface {name} does not exist"))
}

/// The kernel request for an address line; `ifindex` is where it goes.
pub fn addr_spec(a: &AddressSpec, ifindex: u32) -> AddrSpec {
    let mut s = AddrSpec::new(ifindex, a.prefix.addr, a.prefix.len);
    s.label = a.label.clone();
    s.scope = a.scope.map_or(SCOPE_GLOBAL, |x| x.number());
    s.broadcast = match (a.broadcast, a.prefix.addr) {
        (Some(Broadcast::Addr(IpAddr::V4(b))), _) => Some(b),
        (Some(Broadcast::SetHostBits), IpAddr::V4(v)) => {
            let host_bits = u32::MAX.checked_shr(u32::from(a.prefix.len)).unwrap_or(0);
            Some((u32::from(v) | host_bits).into())
        }
        (Some(Broadcast::ClearHostBits), IpAddr::V4(v)) => {
            let host_bits = u32::MAX.checked_shr(u32::from(a.prefix.len)).unwrap_or(0);
            Some((u32::from(v) & !host_bits).into())
        }
        _ => None,
    };
    // keepalived sets IFA_F_NODAD on every IPv6 VIP; `-nodad` says the same.
    s.nodad = a.prefix.addr.is_ipv6();
    s
}

/// Attributes of an address line that the daemon does not apply.
pub fn addr_ignored(a: &AddressSpec) -> Vec<&'static str> {
    let mut v = Vec::new();
    if a.peer.is_some() {
        v.push("peer");
    }
    if a.home {
        v.push("home");
    }
    if a.mngtmpaddr {
        v.push("mngtmpaddr");
    }
    if a.noprefixroute {
        v.push("noprefixroute");
    }
    if a.autojoin {
        v.push("autojoin");
    }
    if a.preferred_lft.is_some() {
        v.push("preferred_lft");
    }
    if a.track_group.is_some() {
        v.push("track_group");
    }
    v
}

/// The kernel request for a route line, and the attributes not applied.
pub fn route_spec(
    r: &MRoute,
    host: &Host,
    names: &Names,
) -> Result<(RouteSpec, Vec<&'static str>), String> {
    let mut s = RouteSpec::new(r.dst.addr, r.dst.len);
    s.gateway = r.via;
    s.oif = r.dev.as_deref().map(|d| ifindex(host, d)).transpose()?;
    s.src = r.src;
    s.table = names.table(&r.table)?;
    s.metric = r.metric;
    s.protocol = names.proto(&r.protocol)?;
    s.tos = r.tos.unwrap_or(0);
    s.onlink = r.onlink;
    s.kind = match r.route_type {
        RouteType::Unicast => RTN_UNICAST,
        RouteType::Blackhole => RTN_BLACKHOLE,
        RouteType::Unreachable => RTN_UNREACHABLE,
        RouteType::Prohibit => RTN_PROHIBIT,
        t => return Err(format!("route type {t:?} is not supported")),
    };
    // `ip route` picks the scope: link for a route without gateway through a device,
    // host for local, global otherwise.
    s.scope = match r.scope {
        Some(sc) => sc.number(),
        None if r.via.is_none() && r.dev.is_some() && s.kind == RTN_UNICAST => {
            ka_sys::netlink::SCOPE_LINK
        }
        None => SCOPE_GLOBAL,
    };
    let mut ignored = Vec::new();
    for (set, name) in [
        (r.or_via.is_some(), "or"),
        (r.realms.is_some(), "realms"),
        (!r.metrics.is_empty(), "route metrics (mtu, advmss, ...)"),
        (r.features_ecn, "features ecn"),
        (r.congctl.is_some(), "congctl"),
        (r.pref.is_some(), "pref"),
        (r.expires.is_some(), "expires"),
        (r.vrf.is_some(), "vrf"),
        (!r.encap.is_empty(), "encap"),
        (r.ttl_propagate.is_some(), "ttl-propagate"),
        (!r.nexthops.is_empty(), "nexthop"),
        (r.append, "append"),
        (r.track_group.is_some(), "track_group"),
    ] {
        if set {
            ignored.push(name);
        }
    }
    Ok((s, ignored))
}

/// The kernel request for a rule line, and the attributes not applied.
pub fn rule_spec(r: &MRule, names: &Names) -> Result<(RuleSpec, Vec<&'static str>), String> {
    let v6 = r.inet6
        || r.from.is_some_and(|p| p.addr.is_ipv6())
        || r.to.is_some_and(|p| p.addr.is_ipv6());
    let mut s = RuleSpec::new(v6, names.table(&r.table)?);
    s.from = r.from.map(|p| (p.addr, p.len));
    s.to = r.to.map(|p| (p.addr, p.len));
    s.iif = r.iif.clone();
    s.oif = r.oif.clone();
    s.fwmark = r.fwmark;
    s.priority = r.priority;
    s.protocol = names.proto(&r.protocol)?;
    s.tos = r.tos.unwrap_or(0);
    s.invert = r.not;
    s.goto = r.goto;
    s.suppress_prefixlen = r.suppress_prefixlength;
    s.l3mdev = r.l3mdev;
    if let Some(a) = r.action {
        s.action = match a {
            RuleAction::Blackhole => FR_ACT_BLACKHOLE,
            RuleAction::Unreachable => FR_ACT_UNREACHABLE,
            RuleAction::Prohibit => FR_ACT_PROHIBIT,
            RuleAction::Nop => FR_ACT_NOP,
        };
    }
    let mut ignored = Vec::new();
    for (set, name) in [
        (r.realms.is_some(), "realms"),
        (r.suppress_ifgroup.is_some(), "suppress_ifgroup"),
        (r.uidrange.is_some(), "uidrange"),
        (r.ip_proto.is_some(), "ip_proto"),
        (r.sport.is_some(), "sport"),
        (r.dport.is_some(), "dport"),
        (r.tun_id.is_some(), "tun_id"),
        (r.track_group.is_some(), "track_group"),
    ] {
        if set {
            ignored.push(name);
        }
    }
    Ok((s, ignored))
}

/// One instance's routes, rules and VIP attributes, by the engine's keys.
#[derive(Debug, Clone, Default)]
pub struct InstanceNet {
    /// VIP (and excluded VIP) attribute templates by address; the ifindex and prefix come
    /// from the engine's action.
    pub vips: BTreeMap<IpAddr, AddrSpec>,
    /// `virtual_routes` by [`route_text`].
    pub routes: BTreeMap<String, RouteSpec>,
    /// `virtual_rules` by [`rule_text`].
    pub rules: BTreeMap<String, RuleSpec>,
}

/// A static address, route or rule.
#[derive(Debug, Clone)]
pub enum Static {
    /// `static_ipaddress`.
    Addr(AddrSpec),
    /// `static_routes`.
    Route(RouteSpec),
    /// `static_rules`.
    Rule(RuleSpec),
}

/// Everything this module applies, resolved against the host.
#[derive(Debug, Clone, Default)]
pub struct NetPlan {
    /// By instance name.
    pub instances: BTreeMap<String, InstanceNet>,
    /// Static addresses, routes and rules, in install order.
    pub statics: Vec<Static>,
}

/// Builds the plan. Lines that cannot be resolved (unknown interface or table) are left
/// out with a warning, as keepalived skips them; attributes not applied are warned about.
pub fn plan(cfg: &VrrpConfig, host: &Host, names: &Names) -> (NetPlan, Vec<String>) {
    let mut p = NetPlan::default();
    let mut warnings = Vec::new();
    for i in &cfg.instances {
        p.instances
            .insert(i.name.clone(), plan_instance(i, host, names, &mut warnings));
    }
    let default_if = &cfg.global.default_interface;
    for a in &cfg.static_addresses {
        let dev = a.dev.as_deref().unwrap_or(default_if);
        warn_ignored(
            &mut warnings,
            "static_ipaddress",
            a.prefix.addr,
            addr_ignored(a),
        );
        match ifindex(host, dev) {
            Ok(ix) => p.statics.push(Static::Addr(addr_spec(a, ix))),
            Err(e) => warnings.push(format!(
                "static_ipaddress {}: {e}, not installed",
                a.prefix.addr
            )),
        }
    }
    for r in &cfg.static_routes {
        match route_spec(r, host, names) {
            Ok((s, ign)) => {
                warn_ignored(&mut warnings, "static_routes", route_text(r), ign);
                p.statics.push(Static::Route(s));
            }
            Err(e) => warnings.push(format!(
                "static_routes {}: {e}, not installed",
                route_text(r)
            )),
        }
    }
    for r in &cfg.static_rules {
        match rule_spec(r, names) {
            Ok((s, ign)) => {
                warn_ignored(&mut warnings, "static_rules", rule_text(r), ign);
                p.statics.push(Static::Rule(s));
            }
            Err(e) => warnings.push(format!("static_rules {}: {e}, not installed", rule_text(r))),
        }
    }
    (p, warnings)
}

fn warn_ignored(w: &mut Vec<String>, what: &str, item: impl std::fmt::Display, ign: Vec<&str>) {
    if !ign.is_empty() {
        w.push(format!(
            "{what} {item}: {} not applied by the daemon yet (ignored)",
            ign.join(", ")
        ));
    }
}

fn plan_instance(
    i: &VrrpInstance,
    host: &Host,
    names: &Names,
    warnings: &mut Vec<String>,
) -> InstanceNet {
    let mut n = InstanceNet::default();
    let ctx = format!("vrrp_instance {}", i.name);
    for a in i
        .virtual_ipaddresses
        .iter()
        .chain(i.virtual_ipaddresses_excluded.iter())
    {
        let mut ign = addr_ignored(a);
        if a.use_vmac {
            ign.push("use_vmac");
        }
        warn_ignored(warnings, &ctx, a.prefix.addr, ign);
        // The ifindex is the engine's (from the action); 0 here is a placeholder.
        n.vips.insert(a.prefix.addr, addr_spec(a, 0));
    }
    for r in &i.virtual_routes {
        let text = route_text(r);
        match route_spec(r, host, names) {
            Ok((mut s, ign)) => {
                // keepalived resets the protocol of a tracked virtual route.
                if !r.no_track {
                    s.protocol = ka_sys::route::RTPROT_KEEPALIVED;
                }
                warn_ignored(warnings, &ctx, format!("route {text}"), ign);
                n.routes.insert(text, s);
            }
            Err(e) => warnings.push(format!("{ctx}: route {text}: {e}, not installed")),
        }
    }
    for r in &i.virtual_rules {
        let text = rule_text(r);
        match rule_spec(r, names) {
            Ok((s, ign)) => {
                warn_ignored(warnings, &ctx, format!("rule {text}"), ign);
                n.rules.insert(text, s);
            }
            Err(e) => warnings.push(format!("{ctx}: rule {text}: {e}, not installed")),
        }
    }
    n
}

/// The daemon's running state of the host network configuration: this module's plan,
/// the VMACs and the no_accept firewall.
#[derive(Debug)]
pub(super) struct NetState {
    pub(super) plan: NetPlan,
    /// Routes/rules we added (instance, text) and may remove: those that existed before
    /// are not ours.
    ours: BTreeSet<(String, String)>,
    /// Static items we added, to remove at stop.
    statics_added: Vec<Static>,
    /// `use_vmac` interfaces.
    pub(super) vmacs: super::vmac::Vmacs,
    /// no_accept blocking.
    pub(super) firewall: super::firewall::Firewall,
}

impl NetState {
    pub(super) fn new(
        plan: NetPlan,
        vmacs: super::vmac::Vmacs,
        firewall: super::firewall::Firewall,
    ) -> NetState {
        NetState {
            plan,
            ours: BTreeSet::new(),
            statics_added: Vec::new(),
            vmacs,
            firewall,
        }
    }

    /// At stop, after the instances released everything: static items, VMACs, firewall.
    pub(super) async fn teardown(&mut self, nl: &Netlink) {
        self.remove_statics(nl).await;
        super::vmac::teardown(nl, &mut self.vmacs).await;
        self.firewall.teardown().await;
    }

    /// After a reload: the new configuration's routes, rules and VIP attributes replace
    /// those of the same key; entries only the old configuration had are kept, so the
    /// engine's removals of what it installed still find them. Static items are not
    /// changed by a reload.
    pub(super) fn update_plan(&mut self, new: NetPlan) {
        for (name, n) in new.instances {
            let e = self.plan.instances.entry(name).or_default();
            e.vips.extend(n.vips);
            e.routes.extend(n.routes);
            e.rules.extend(n.rules);
        }
    }

    /// The kernel request for a VIP of `instance`, with its configured attributes.
    pub(super) fn vip(&self, instance: &str, ifindex: u32, addr: IpAddr, len: u8) -> AddrSpec {
        let mut s = self
            .plan
            .instances
            .get(instance)
            .and_then(|n| n.vips.get(&addr))
            .cloned()
            .unwrap_or_else(|| AddrSpec::new(ifindex, addr, len));
        s.ifindex = ifindex;
        s.prefix_len = len;
        s
    }

    /// `AddRoute` / `RemoveRoute`.
    pub(super) async fn route(&mut self, nl: &Netlink, instance: &str, text: &str, add: bool) {
        let Some(spec) = self
            .plan
            .instances
            .get(instance)
            .and_then(|n| n.routes.get(text))
        else {
            debug!("({instance}) route {text} has no kernel form, skipped");
            return;
        };
        let key = (instance.to_owned(), format!("route {text}"));
        if add {
            match nl.add_route(spec).await {
                Ok(true) => {
                    info!("({instance}) route {text} added");
                    self.ours.insert(key);
                }
                Ok(false) => info!("({instance}) route {text} already present, left alone"),
                Err(e) => error!("({instance}) cannot add route {text}: {e}"),
            }
        } else if self.ours.remove(&key) {
            match nl.del_route(spec).await {
                Ok(_) => info!("({instance}) route {text} removed"),
                Err(e) => error!("({instance}) cannot remove route {text}: {e}"),
            }
        }
    }

    /// `AddRule` / `RemoveRule`.
    pub(super) async fn rule(&mut self, nl: &Netlink, instance: &str, text: &str, add: bool) {
        let Some(spec) = self
            .plan
            .instances
            .get(instance)
            .and_then(|n| n.rules.get(text))
        else {
            debug!("({instance}) rule {text} has no kernel form, skipped");
            return;
        };
        let key = (instance.to_owned(), format!("rule {text}"));
        if add {
            match nl.add_rule(spec).await {
                Ok(true) => {
                    info!("({instance}) rule {text} added");
                    self.ours.insert(key);
                }
                Ok(false) => info!("({instance}) rule {text} already present, left alone"),
                Err(e) => error!("({instance}) cannot add rule {text}: {e}"),
            }
        } else if self.ours.remove(&key) {
            match nl.del_rule(spec).await {
                Ok(_) => info!("({instance}) rule {text} removed"),
                Err(e) => error!("({instance}) cannot remove rule {text}: {e}"),
            }
        }
    }

    /// Installs the static addresses, then routes, then rules.
    pub(super) async fn install_statics(&mut self, nl: &Netlink) {
        for s in self.plan.statics.clone() {
            let r = match &s {
                Static::Addr(a) => nl.add_address(a).await,
                Static::Route(r) => nl.add_route(r).await,
                Static::Rule(r) => nl.add_rule(r).await,
            };
            match r {
                Ok(true) => {
                    info!("static {} installed", static_text(&s));
                    self.statics_added.push(s);
                }
                Ok(false) => info!("static {} already present, left alone", static_text(&s)),
                Err(e) => warn!("cannot install static {}: {e}", static_text(&s)),
            }
        }
    }

    /// Removes the static items we installed, in reverse order.
    pub(super) async fn remove_statics(&mut self, nl: &Netlink) {
        while let Some(s) = self.statics_added.pop() {
            let r = match &s {
                Static::Addr(a) => nl.del_address(a).await,
                Static::Route(r) => nl.del_route(r).await,
                Static::Rule(r) => nl.del_rule(r).await,
            };
            match r {
                Ok(_) => debug!("static {} removed", static_text(&s)),
                Err(e) => warn!("cannot remove static {}: {e}", static_text(&s)),
            }
        }
    }
}

fn static_text(s: &Static) -> String {
    match s {
        Static::Addr(a) => format!("address {}/{}", a.addr, a.prefix_len),
        Static::Route(r) => format!("route {}/{} table {}", r.dst, r.prefix_len, r.table),
        Static::Rule(r) => format!(
            "rule priority {} table {}",
            r.priority.map_or_else(|| "-".into(), |p| p.to_string()),
            r.table
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::map::HostIface;
    use ka_config::fs::MemFs;
    use ka_config::lower::{lower, Env};
    use ka_config::preprocess::{load, LoadOptions};
    use std::net::Ipv4Addr;
    use std::path::Path;

    fn host() -> Host {
        let mut h = Host::new();
        h.insert(
            "eth0".into(),
            HostIface {
                ifindex: 7,
                v4: Some("192.0.2.10".parse().unwrap()),
                v6_link_local: None,
            },
        );
        h
    }

    fn model(text: &str) -> VrrpConfig {
        let mut fs = MemFs::default();
        fs.insert("/k.conf", text);
        let loaded = load(Path::new("/k.conf"), &fs, &LoadOptions::default());
        let env = Env {
            fs: &fs,
            interfaces: None,
        };
        let (cfg, diags) = lower(&loaded.tree, &env);
        assert!(
            diags
                .iter()
                .all(|d| d.severity != ka_config::Severity::Error),
            "{diags:?}"
        );
        cfg.vrrp
    }

    #[test]
    fn every_route_and_rule_attribute_reaches_the_kernel_request() {
        let mut names = Names::builtin();
        names.add("# comment\n200 web\n0x10 hex\n", true);
        let m = model(
            "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n \
             virtual_ipaddress {\n 192.0.2.100/24 brd + label eth0:vip scope host\n }\n \
             virtual_ipaddress_excluded {\n 2001:db8::100/64\n }\n \
             virtual_routes {\n 198.51.100.0/24 via 192.0.2.1 dev eth0 src 192.0.2.100 \
             table web metric 7 tos 4 onlink protocol static no_track\n \
             blackhole 203.0.113.0/24 table 16 no_track\n 198.51.100.128/25 dev eth0\n }\n \
             virtual_rules {\n from 192.0.2.100/32 to 198.51.100.0/24 table web \
             priority 100 fwmark 5/0xff iif eth0 oif eth0\n \
             to 203.0.113.0/24 priority 101 prohibit\n not from 2001:db8::/64 priority 102 goto 200\n }\n}\n",
        );
        let (p, warnings) = plan(&m, &host(), &names);
        assert!(warnings.is_empty(), "{warnings:?}");
        let n = &p.instances["A"];
        let v = &n.vips[&"192.0.2.100".parse::<IpAddr>().unwrap()];
        assert_eq!(v.label.as_deref(), Some("eth0:vip"));
        assert_eq!(v.scope, ka_sys::netlink::SCOPE_HOST);
        assert_eq!(v.broadcast, Some(Ipv4Addr::new(192, 0, 2, 255)));
        assert!(n.vips[&"2001:db8::100".parse::<IpAddr>().unwrap()].nodad);

        let r = &n.routes
            ["198.51.100.0/24 via 192.0.2.1 dev eth0 src 192.0.2.100 table web metric 7 tos 4 onlink"];
        assert_eq!(r.gateway, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(r.oif, Some(7));
        assert_eq!(r.src, Some("192.0.2.100".parse().unwrap()));
        assert_eq!(
            (r.table, r.metric, r.tos, r.onlink),
            (200, Some(7), 4, true)
        );
        assert_eq!(r.protocol, 4);
        assert_eq!(r.scope, SCOPE_GLOBAL);
        let b = &n.routes["blackhole 203.0.113.0/24 table 16"];
        assert_eq!((b.kind, b.table), (RTN_BLACKHOLE, 16));
        let l = &n.routes["198.51.100.128/25 dev eth0"];
        assert_eq!(l.scope, ka_sys::netlink::SCOPE_LINK);
        assert_eq!(l.table, ka_sys::route::TABLE_MAIN);

        let keys: Vec<&String> = n.rules.keys().collect();
        assert_eq!(keys.len(), 3, "{keys:?}");
        let r = &n.rules["from 192.0.2.100/32 to 198.51.100.0/24 iif eth0 oif eth0 fwmark 0x5/0xff priority 100 table web"];
        assert_eq!(r.from, Some(("192.0.2.100".parse().unwrap(), 32)));
        assert_eq!(r.to, Some(("198.51.100.0".parse().unwrap(), 24)));
        assert_eq!(r.fwmark, Some((5, Some(0xff))));
        assert_eq!((r.priority, r.table), (Some(100), 200));
        assert_eq!(
            (r.iif.as_deref(), r.oif.as_deref()),
            (Some("eth0"), Some("eth0"))
        );
        assert!(!r.v6);
        let r = &n.rules["to 203.0.113.0/24 priority 101 prohibit"];
        assert_eq!(r.action, FR_ACT_PROHIBIT);
        let r = &n.rules["not from 2001:db8::/64 priority 102 goto 200"];
        assert!(r.v6 && r.invert);
        assert_eq!(r.goto, Some(200));
    }

    #[test]
    fn unknown_names_and_unapplied_attributes_are_warned() {
        let m = model(
            "static_ipaddress {\n 192.0.2.50/24 dev eth0 home\n 192.0.2.51 dev eth9\n}\n\
             static_routes {\n 198.51.100.0/24 via 192.0.2.1 table nosuch\n \
             198.51.100.0/25 via 192.0.2.1 mtu 1400\n}\n\
             static_rules {\n from 192.0.2.0/24 table 10 priority 5 sport 1-2\n}\n",
        );
        let (p, w) = plan(&m, &host(), &Names::builtin());
        let all = w.join("\n");
        assert!(all.contains("home"), "{all}");
        assert!(all.contains("eth9 does not exist"), "{all}");
        assert!(all.contains("unknown routing table \"nosuch\""), "{all}");
        assert!(all.contains("mtu"), "{all}");
        assert!(all.contains("sport"), "{all}");
        // Installed: the first address, the second route, the rule.
        assert_eq!(p.statics.len(), 3);
        assert!(matches!(&p.statics[0], Static::Addr(a) if a.ifindex == 7 && a.prefix_len == 24));
        assert!(matches!(&p.statics[1], Static::Route(r) if r.prefix_len == 25));
        assert!(matches!(&p.statics[2], Static::Rule(r) if r.priority == Some(5) && r.table == 10));
    }

    #[test]
    fn broadcast_minus_clears_host_bits() {
        let mut a = AddressSpec::new(
            ka_model::vrrp::IpPrefix::new("192.0.2.77".parse().unwrap(), 26).unwrap(),
        );
        a.broadcast = Some(Broadcast::ClearHostBits);
        assert_eq!(
            addr_spec(&a, 1).broadcast,
            Some(Ipv4Addr::new(192, 0, 2, 64))
        );
        a.broadcast = Some(Broadcast::SetHostBits);
        assert_eq!(
            addr_spec(&a, 1).broadcast,
            Some(Ipv4Addr::new(192, 0, 2, 127))
        );
    }
}
