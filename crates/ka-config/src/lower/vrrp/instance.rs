//! `vrrp_instance NAME { ... }`, with keepalived 2.2.7's defaults and adjustments
//! (vrrp.c `vrrp_complete_instance`): priority from the state, version from the address
//! family, interval rounding per version, accept mode and GARP defaults from strict mode.

use super::global::{garp_extra_if, version_arg};
use super::net::{lower_address, lower_route, lower_rule, AddrCtx};
use super::track::{lower_notify, lower_tracking};
use super::{
    bare, block_name, check_interface, duplicate, flag_arg, loc, secs_arg, uint_arg,
    AUTHENTICATION, VRRP_INSTANCE,
};
use crate::diag::Diagnostic;
use crate::lower::Lowerer;
use crate::source::Span;
use crate::syntax::Node;
use ka_model::vrrp::global::GarpExtraIf;
use ka_model::vrrp::{
    AddressSpec, AuthType, Authentication, GarpSettings, InitialState, InstanceLocs, Ipvlan,
    IpvlanMode, Notify, OldUnicastChecksum, Tracking, UnicastPeer, Vmac, VrrpConfig, VrrpInstance,
};
use ka_model::{Centisecs, Priority, Vrid, VrrpVersion};
use std::net::IpAddr;
use std::time::Duration;

/// Settings as written, before keepalived's defaults are applied.
#[derive(Default)]
struct Raw {
    state: Option<(InitialState, Span)>,
    interface: Option<(String, Span)>,
    vrf: Option<String>,
    use_vmac: Option<Vmac>,
    use_vmac_addr: bool,
    vmac_xmit_base: bool,
    use_ipvlan: Option<Ipvlan>,
    native_ipv6: Option<Span>,
    dont_track_primary: bool,
    track: Tracking,
    src_ip: Option<(IpAddr, Span)>,
    mcast_dst_ip: Option<(IpAddr, Span)>,
    track_src_ip: bool,
    version: Option<(VrrpVersion, Span)>,
    check_unicast_src: bool,
    unicast_peers: Vec<(UnicastPeer, Span)>,
    unicast_fault_no_peer: bool,
    unicast_ttl: Option<u8>,
    unicast_ttl_span: Option<Span>,
    old_unicast_checksum: Option<OldUnicastChecksum>,
    garp_master_delay: Option<u32>,
    garp_master_repeat: Option<u32>,
    garp_lower_prio_delay: Option<u32>,
    garp_lower_prio_repeat: Option<u32>,
    garp_master_refresh: Option<u32>,
    garp_master_refresh_repeat: Option<u32>,
    garp_extra_if: Option<GarpExtraIf>,
    down_timer_adverts: Option<u8>,
    lower_prio_no_advert: Option<(bool, Span)>,
    higher_prio_send_advert: Option<(bool, Span)>,
    vrid: Option<(Vrid, Span)>,
    priority: Option<(u8, Span)>,
    advert_int: Option<(Duration, Span)>,
    auth_type: Option<(AuthType, Span)>,
    auth_pass: Option<(String, Span)>,
    auth_block: Option<Span>,
    vips: Vec<(AddressSpec, Span)>,
    evips: Vec<AddressSpec>,
    routes: Vec<(ka_model::vrrp::RouteSpec, Span)>,
    rules: Vec<ka_model::vrrp::RuleSpec>,
    promote_secondaries: bool,
    accept: Option<(bool, Span)>,
    nopreempt: Option<Span>,
    preempt_delay: Option<(Duration, Span)>,
    skip_check_adv_addr: Option<bool>,
    strict_mode: Option<bool>,
    debug: u8,
    notify: Notify,
    notify_priority_changes: Option<bool>,
    smtp_alert: Option<bool>,
    kernel_rx_buf_size: Option<u64>,
    linkbeat_use_polling: bool,
    lvs_sync_daemon_interface: Option<String>,
}

fn ip_of(cx: &mut Lowerer<'_>, n: &Node) -> Option<(IpAddr, Span)> {
    let t = cx.one_arg(n, "an IP address")?;
    cx.ip(t).map(|a| (a, t.span))
}

fn mac(s: &str) -> Option<Vec<u8>> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 5 && parts.len() != 6 {
        return None;
    }
    parts
        .iter()
        .map(|p| {
            if p.is_empty() || p.len() > 2 {
                None
            } else {
                u8::from_str_radix(p, 16).ok()
            }
        })
        .collect()
}

fn lower_keyword(cx: &mut Lowerer<'_>, r: &mut Raw, n: &Node) {
    if lower_tracking(cx, &mut r.track, n) || lower_notify(cx, &mut r.notify, n) {
        return;
    }
    let k = n.keyword.text.as_str();
    match k {
        "state" => {
            if let Some(t) = cx.one_arg(n, "MASTER or BACKUP") {
                match t.text.as_str() {
                    "MASTER" => r.state = Some((InitialState::Master, t.span)),
                    "BACKUP" => {
                        if matches!(r.state, Some((InitialState::Master, _))) {
                            cx.warning(
                                t.span,
                                "state was already set to MASTER; keepalived ignores BACKUP",
                            );
                        } else {
                            r.state = Some((InitialState::Backup, t.span));
                        }
                    }
                    other => {
                        let mut d = Diagnostic::error(
                            t.span,
                            format!("`{other}` is not a state (keepalived uses BACKUP)"),
                        );
                        d = d.with_help(
                            if other.eq_ignore_ascii_case("master")
                                || other.eq_ignore_ascii_case("backup")
                            {
                                format!("states are upper case: `{}`", other.to_ascii_uppercase())
                            } else {
                                "use MASTER or BACKUP".to_owned()
                            },
                        );
                        cx.push(d);
                        r.state = Some((InitialState::Backup, t.span));
                    }
                }
            }
        }
        "interface" => {
            if let Some(t) = cx.one_arg(n, "an interface name") {
                if t.text == "lo" {
                    cx.push(
                        Diagnostic::error(t.span, "a loopback interface cannot be used for VRRP")
                            .with_help("use the interface facing the other routers"),
                    );
                } else {
                    check_interface(cx, t.span, &t.text);
                    r.interface = Some((t.text.clone(), t.span));
                }
            }
        }
        "vrf" => r.vrf = super::str_arg(cx, n, "a VRF name"),
        "use_vmac" => {
            let mut v = Vmac {
                ifname: None,
                mac: None,
            };
            for t in &n.args {
                if let Some(m) = mac(&t.text) {
                    v.mac = Some(m);
                } else if v.ifname.is_none() {
                    if t.text.chars().count() > 15 {
                        cx.error(
                            t.span,
                            format!("interface name `{}` is longer than 15 characters", t.text),
                        );
                    }
                    v.ifname = Some(t.text.clone());
                } else {
                    cx.error(t.span, format!("`{}` is not a MAC address", t.text));
                }
            }
            r.use_vmac = Some(v);
        }
        "use_vmac_addr" => r.use_vmac_addr = bare(cx, n),
        "vmac_xmit_base" => r.vmac_xmit_base = bare(cx, n),
        "use_ipvlan" => {
            let mut v = Ipvlan {
                ifname: None,
                addr: None,
                mode: IpvlanMode::Bridge,
            };
            for t in &n.args {
                match t.text.as_str() {
                    "bridge" => v.mode = IpvlanMode::Bridge,
                    "private" => v.mode = IpvlanMode::Private,
                    "vepa" => v.mode = IpvlanMode::Vepa,
                    s if s.contains('.') || s.contains(':') => {
                        v.addr = super::net::prefix(cx, t);
                    }
                    _ => v.ifname = Some(t.text.clone()),
                }
            }
            r.use_ipvlan = Some(v);
        }
        "native_ipv6" => {
            bare(cx, n);
            r.native_ipv6 = Some(n.keyword.span);
        }
        "dont_track_primary" => r.dont_track_primary = bare(cx, n),
        "mcast_src_ip" | "unicast_src_ip" => r.src_ip = ip_of(cx, n),
        "mcast_dst_ip" => {
            if let Some((a, s)) = ip_of(cx, n) {
                let ok = match a {
                    IpAddr::V4(v) => v.is_multicast(),
                    // ffX2::/16: link-local scope multicast.
                    IpAddr::V6(v) => v.segments()[0] & 0xff0f == 0xff02,
                };
                if ok {
                    r.mcast_dst_ip = Some((a, s));
                } else {
                    cx.push(
                        Diagnostic::error(s, format!("{a} is not a usable VRRP multicast address"))
                            .with_help("use an IPv4 multicast address, or an IPv6 link-local one (ffX2::...)"),
                    );
                }
            }
        }
        "track_src_ip" => r.track_src_ip = bare(cx, n),
        "version" => {
            if let Some(v) = version_arg(cx, n) {
                let at = n.args.first().map_or(n.keyword.span, |t| t.span);
                r.version = Some((v, at));
            }
        }
        "check_unicast_src" => r.check_unicast_src = bare(cx, n),
        "unicast_peer" => {
            for p in cx.block(n) {
                let Some(addr) = cx.ip(&p.keyword) else {
                    continue;
                };
                let mut peer = UnicastPeer {
                    addr,
                    min_ttl: None,
                    max_ttl: None,
                };
                let mut i = 0;
                while let Some(t) = p.args.get(i) {
                    match t.text.as_str() {
                        "min_ttl" | "max_ttl" => {
                            let v = match p.args.get(i + 1) {
                                Some(v) => cx.uint(v, 0, 255).and_then(|x| u8::try_from(x).ok()),
                                None => {
                                    cx.error(t.span, format!("`{}` needs a TTL 0..=255", t.text));
                                    None
                                }
                            };
                            if t.text == "min_ttl" {
                                peer.min_ttl = v;
                            } else {
                                peer.max_ttl = v;
                            }
                            i += 2;
                        }
                        _ => {
                            cx.push(
                                Diagnostic::error(
                                    t.span,
                                    format!("unknown unicast_peer option `{}`", t.text),
                                )
                                .with_help("write `ADDRESS [min_ttl N] [max_ttl N]`"),
                            );
                            i += 1;
                        }
                    }
                }
                if let (Some(a), Some(b)) = (peer.min_ttl, peer.max_ttl) {
                    if a > b {
                        cx.error(p.keyword.span, format!("min_ttl {a} is above max_ttl {b}"));
                    }
                }
                if r.unicast_peers.iter().any(|(q, _)| q.addr == addr) {
                    cx.warning(
                        p.keyword.span,
                        format!("unicast peer {addr} is listed twice"),
                    );
                    continue;
                }
                r.unicast_peers.push((peer, p.keyword.span));
            }
        }
        "unicast_fault_no_peer" => r.unicast_fault_no_peer = bare(cx, n),
        "unicast_ttl" => {
            r.unicast_ttl = uint_arg(cx, n, 0, 255);
            r.unicast_ttl_span = Some(n.keyword.span);
        }
        "old_unicast_checksum" => {
            r.old_unicast_checksum = match n.args.first().map(|t| t.text.as_str()) {
                None => Some(OldUnicastChecksum::Use),
                Some("never") => Some(OldUnicastChecksum::Never),
                Some(_) => {
                    if let Some(t) = n.args.first() {
                        cx.error(t.span, format!("`{}` is not `never`", t.text));
                    }
                    None
                }
            }
        }
        "garp_master_delay" => r.garp_master_delay = uint_arg(cx, n, 0, 4294),
        "garp_master_repeat" => r.garp_master_repeat = uint_arg(cx, n, 1, u64::from(u32::MAX)),
        "garp_lower_prio_delay" => r.garp_lower_prio_delay = uint_arg(cx, n, 0, 4294),
        "garp_lower_prio_repeat" => r.garp_lower_prio_repeat = uint_arg(cx, n, 0, 2_147_483_647),
        "garp_master_refresh" => r.garp_master_refresh = uint_arg(cx, n, 0, u64::from(u32::MAX)),
        "garp_master_refresh_repeat" => {
            r.garp_master_refresh_repeat = uint_arg(cx, n, 1, u64::from(u32::MAX))
        }
        "garp_extra_if" => r.garp_extra_if = garp_extra_if(cx, n),
        "down_timer_adverts" => r.down_timer_adverts = uint_arg(cx, n, 1, 100),
        "lower_prio_no_advert" => {
            r.lower_prio_no_advert = flag_arg(cx, n).map(|b| (b, n.keyword.span))
        }
        "higher_prio_send_advert" => {
            r.higher_prio_send_advert = flag_arg(cx, n).map(|b| (b, n.keyword.span))
        }
        "virtual_router_id" => {
            if let Some(t) = cx.one_arg(n, "a number 1..=255") {
                if let Some(v) = cx.uint(t, 1, 255) {
                    if let Ok(vrid) = Vrid::new(u32::try_from(v).unwrap_or(0)) {
                        r.vrid = Some((vrid, t.span));
                    }
                }
            }
        }
        "priority" => {
            if let Some(t) = cx.one_arg(n, "a number 1..=255") {
                match cx.uint(t, 1, 255).and_then(|v| u8::try_from(v).ok()) {
                    Some(p) => r.priority = Some((p, t.span)),
                    None => {
                        if let Some(d) = cx.diags.last_mut() {
                            d.help = Some(
                                "1..=254 for a backup, 255 for the address owner; keepalived uses 100 instead".to_owned(),
                            );
                        }
                        // keepalived falls back to the default priority, even with state MASTER.
                        r.priority = Some((Priority::DEFAULT.0, t.span));
                    }
                }
            }
        }
        "advert_int" => {
            if let Some(t) = cx.one_arg(n, "a number of seconds") {
                if let Some(d) = cx.seconds(t, Duration::from_millis(10), Duration::from_secs(255))
                {
                    r.advert_int = Some((d, t.span));
                }
            }
        }
        "authentication" => {
            r.auth_block = Some(n.keyword.span);
            for a in cx.block(n) {
                if !cx.admit(a, &AUTHENTICATION) {
                    continue;
                }
                let Some(t) = cx.one_arg(a, "a value") else {
                    continue;
                };
                if a.keyword.text == "auth_type" {
                    match t.text.as_str() {
                        "PASS" => r.auth_type = Some((AuthType::Pass, t.span)),
                        "AH" => r.auth_type = Some((AuthType::Ah, t.span)),
                        other => cx.push(
                            Diagnostic::error(t.span, format!("`{other}` is not an auth_type"))
                                .with_help("use PASS or AH (upper case)"),
                        ),
                    }
                } else {
                    let mut pass = t.text.clone();
                    if pass.len() > 8 {
                        cx.push(
                            Diagnostic::warning(
                                t.span,
                                format!(
                                    "auth_pass is {} bytes long; only the first 8 are used",
                                    pass.len()
                                ),
                            )
                            .with_help(
                                "shorten it to 8 characters so every router sees the same password",
                            ),
                        );
                        let mut cut = 8;
                        while !pass.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        pass.truncate(cut);
                    }
                    r.auth_pass = Some((pass, t.span));
                }
            }
        }
        "virtual_ipaddress" => {
            for a in cx.block(n) {
                if let Some(v) = lower_address(cx, a, AddrCtx::Vip) {
                    r.vips.push((v, a.keyword.span));
                }
            }
        }
        "virtual_ipaddress_excluded" => {
            for a in cx.block(n) {
                if let Some(v) = lower_address(cx, a, AddrCtx::Evip) {
                    r.evips.push(v);
                }
            }
        }
        "virtual_routes" => {
            for a in cx.block(n) {
                if let Some(v) = lower_route(cx, a, false) {
                    r.routes.push((v, a.keyword.span));
                }
            }
        }
        "virtual_rules" => {
            for a in cx.block(n) {
                if let Some(v) = lower_rule(cx, a, false) {
                    r.rules.push(v);
                }
            }
        }
        "promote_secondaries" => r.promote_secondaries = bare(cx, n),
        "accept" => {
            bare(cx, n);
            r.accept = Some((true, n.keyword.span));
        }
        "no_accept" => {
            bare(cx, n);
            r.accept = Some((false, n.keyword.span));
        }
        "nopreempt" => {
            bare(cx, n);
            r.nopreempt = Some(n.keyword.span);
        }
        "preempt" => {
            bare(cx, n);
            r.nopreempt = None;
        }
        "preempt_delay" => {
            if let Some(d) = secs_arg(cx, n, Duration::ZERO, Duration::from_secs(1000)) {
                r.preempt_delay = Some((d, n.keyword.span));
            }
        }
        "skip_check_adv_addr" => r.skip_check_adv_addr = flag_arg(cx, n),
        "strict_mode" => r.strict_mode = flag_arg(cx, n),
        "debug" => r.debug = uint_arg(cx, n, 0, 4).unwrap_or(0),
        "notify_priority_changes" => r.notify_priority_changes = flag_arg(cx, n),
        "smtp_alert" => r.smtp_alert = flag_arg(cx, n),
        "kernel_rx_buf_size" => r.kernel_rx_buf_size = uint_arg(cx, n, 0, u64::from(u32::MAX)),
        "lvs_sync_daemon_interface" => {
            cx.push(
                Diagnostic::warning(
                    n.keyword.span,
                    "`lvs_sync_daemon_interface` in a vrrp_instance is deprecated",
                )
                .with_help("use `lvs_sync_daemon INTERFACE INSTANCE` in global_defs"),
            );
            r.lvs_sync_daemon_interface = super::str_arg(cx, n, "an interface name");
        }
        "linkbeat_use_polling" => {
            cx.push(
                Diagnostic::warning(
                    n.keyword.span,
                    "`linkbeat_use_polling` in a vrrp_instance is deprecated",
                )
                .with_help("list the interface in a top-level `linkbeat_interfaces { ... }` block"),
            );
            r.linkbeat_use_polling = true;
        }
        _ => cx.unknown_keyword(n, &VRRP_INSTANCE),
    }
}

/// Rounds to a multiple of `unit`, halves up (keepalived: `(v + unit/2) - (v + unit/2) % unit`).
fn round_to(d: Duration, unit: Duration) -> Duration {
    let u = unit.as_micros().max(1);
    let v = d.as_micros();
    let r = (v + u / 2) / u * u;
    Duration::from_micros(u64::try_from(r).unwrap_or(u64::MAX))
}

/// `vrrp_instance NAME { ... }`.
pub fn lower_instance(cx: &mut Lowerer<'_>, v: &mut VrrpConfig, node: &Node) {
    let Some(name) = block_name(cx, node) else {
        return;
    };
    if cx.names.instances.contains_key(&name) || cx.names.dropped.contains(&name) {
        duplicate(cx, node, &name);
        return;
    }
    let name_span = node.args.first().map_or(node.keyword.span, |t| t.span);
    let mut r = Raw::default();
    for n in cx.block(node) {
        if cx.admit(n, &VRRP_INSTANCE) {
            lower_keyword(cx, &mut r, n);
        }
    }
    match complete(cx, &v.global, name.clone(), name_span, node, r) {
        Some(mut i) => {
            let in_sync = cx.names.sync_members.contains(&i.name);
            apply_tracking_rules(cx, v, &mut i, in_sync);
            cx.names.instances.insert(i.name.clone(), v.instances.len());
            v.instances.push(i);
        }
        None => {
            cx.names.dropped.insert(name.clone());
            v.dropped.push(name);
        }
    }
}

fn complete(
    cx: &mut Lowerer<'_>,
    g: &ka_model::vrrp::GlobalDefs,
    name: String,
    name_span: Span,
    node: &Node,
    mut r: Raw,
) -> Option<VrrpInstance> {
    let head = node.keyword.span;
    let strict = r.strict_mode.unwrap_or(g.vrrp_strict);

    // Address family: from the first VIP (native_ipv6 forces IPv6); VIPs of the other
    // family are dropped by keepalived.
    let ipv6 = match r.vips.first() {
        Some((a, _)) => a.prefix.addr.is_ipv6(),
        None => r.native_ipv6.is_some(),
    };
    if let (Some(at), Some((a, _))) = (r.native_ipv6, r.vips.first()) {
        if !a.prefix.addr.is_ipv6() {
            cx.error(at, "native_ipv6 cannot be used with IPv4 virtual addresses");
        }
    }
    let mut vips = Vec::new();
    for (a, s) in std::mem::take(&mut r.vips) {
        if a.prefix.addr.is_ipv6() != ipv6 {
            cx.push(
                Diagnostic::error(
                    s,
                    format!(
                        "{} is not of the instance's address family ({}); keepalived ignores it",
                        a.prefix.addr,
                        if ipv6 { "IPv6" } else { "IPv4" }
                    ),
                )
                .with_help("all virtual_ipaddress entries must be of one family; put the others in virtual_ipaddress_excluded"),
            );
        } else if vips
            .iter()
            .any(|b: &AddressSpec| b.prefix.addr == a.prefix.addr)
        {
            cx.warning(s, format!("{} is listed twice", a.prefix.addr));
        } else {
            vips.push(a);
        }
    }

    // Version: the instance's, else IPv6 -> 3, else the global default.
    let version = match (r.version, ipv6) {
        (Some((VrrpVersion::V2, at)), true) if strict => {
            cx.push(
                Diagnostic::warning(at, "VRRP version 2 cannot carry IPv6 addresses in strict mode; keepalived uses version 3")
                    .with_help("write `version 3`"),
            );
            VrrpVersion::V3
        }
        (Some((VrrpVersion::V2, at)), true) => {
            cx.push(
                Diagnostic::warning(at, "VRRP version 2 with IPv6 addresses is not standard (RFC 3768 is IPv4 only)")
                    .with_help("use `version 3` for IPv6 unless the peers are keepalived running version 2 too"),
            );
            VrrpVersion::V2
        }
        (Some((v, _)), _) => v,
        (None, true) => {
            if g.vrrp_version_written && g.vrrp_version == VrrpVersion::V2 {
                cx.push(
                    Diagnostic::warning(head, format!("vrrp_instance `{name}` has IPv6 addresses, so keepalived runs it as VRRP version 3 although global_defs says vrrp_version 2"))
                        .with_help("write `version 3` in the instance to make this explicit"),
                );
            }
            VrrpVersion::V3
        }
        (None, false) => g.vrrp_version,
    };

    if vips.is_empty() {
        if version == VrrpVersion::V3 || ipv6 || strict {
            cx.push(
                Diagnostic::error(
                    head,
                    format!("vrrp_instance `{name}` has no virtual_ipaddress"),
                )
                .with_help("VRRPv3, IPv6 and strict mode need at least one virtual address"),
            );
            return None;
        }
        cx.push(
            Diagnostic::warning(head, format!("vrrp_instance `{name}` has no virtual_ipaddress"))
                .with_help("an instance without virtual addresses only signals state; add the addresses it should hold"),
        );
    }

    // An advert carries at most 255 addresses and must fit the MTU (keepalived uses the
    // interface's; 1500 is assumed here): keepalived moves the excess to the excluded list.
    let max_vips = if ipv6 { (1500 - 14 - 40 - 8) / 16 } else { 255 };
    if vips.len() > max_vips {
        cx.push(
            Diagnostic::warning(
                head,
                format!(
                    "{} virtual addresses do not fit in one advertisement (at most {max_vips}); keepalived moves the rest to virtual_ipaddress_excluded",
                    vips.len()
                ),
            )
            .with_help("put the extra addresses in virtual_ipaddress_excluded yourself"),
        );
        let extra = vips.split_off(max_vips);
        r.evips.extend(extra);
    }

    // Authentication (VRRPv2 only).
    let mut authentication = None;
    if let Some(bs) = r.auth_block {
        match (r.auth_type, r.auth_pass.take()) {
            (_, _) if version == VrrpVersion::V3 => cx.push(
                Diagnostic::warning(
                    bs,
                    "VRRP version 3 has no authentication; keepalived ignores this block",
                )
                .with_help("remove the authentication block (or use version 2 on every router)"),
            ),
            (Some((kind, _)), Some((password, _))) => {
                if strict {
                    cx.push(
                        Diagnostic::error(bs, "authentication is not allowed in strict mode")
                            .with_help("remove the authentication block or turn strict mode off"),
                    );
                } else {
                    authentication = Some(Authentication { kind, password });
                }
            }
            (Some(_), None) => cx.push(
                Diagnostic::warning(
                    bs,
                    "authentication without auth_pass; keepalived ignores it",
                )
                .with_help("add `auth_pass PASSWORD` (at most 8 characters)"),
            ),
            (None, Some(_)) => cx.push(
                Diagnostic::warning(
                    bs,
                    "authentication without auth_type; keepalived ignores it",
                )
                .with_help("add `auth_type PASS`"),
            ),
            (None, None) => {}
        }
    }

    if let (
        Some(Authentication {
            kind: AuthType::Ah, ..
        }),
        Some((InitialState::Master, ss)),
    ) = (&authentication, r.state)
    {
        cx.push(
            Diagnostic::warning(ss, "initial state MASTER does not work with AH authentication; keepalived starts as BACKUP")
                .with_help("use `state BACKUP` (the AH sequence numbers must be learnt first) or auth_type PASS"),
        );
        r.state = Some((InitialState::Backup, ss));
    }

    // VRID, interface.
    let Some((vrid, vrid_span)) = r.vrid else {
        cx.push(
            Diagnostic::error(
                head,
                format!("vrrp_instance `{name}` has no virtual_router_id"),
            )
            .with_help(
                "add `virtual_router_id N` (1..=255, the same on every router of this group)",
            ),
        );
        return None;
    };
    if r.interface.is_none() && r.unicast_peers.is_empty() {
        cx.push(
            Diagnostic::error(head, format!("vrrp_instance `{name}` has no interface"))
                .with_help("add `interface IF` (it may be omitted only with unicast_peer)"),
        );
        return None;
    }

    // Unicast peers: family, strict mode.
    for (p, s) in &r.unicast_peers {
        if p.addr.is_ipv6() != ipv6 {
            cx.push(
                Diagnostic::error(
                    *s,
                    format!(
                        "unicast peer {} is not of the instance's address family ({})",
                        p.addr,
                        if ipv6 { "IPv6" } else { "IPv4" }
                    ),
                )
                .with_help("peers must be of the same family as the virtual addresses"),
            );
        }
    }
    if let (Some(s), true) = (r.unicast_ttl_span, r.unicast_peers.is_empty()) {
        cx.push(
            Diagnostic::error(s, "unicast_ttl needs unicast peers; keepalived ignores it")
                .with_help("remove unicast_ttl, or add a unicast_peer block"),
        );
        r.unicast_ttl = None;
    }
    if strict && !r.unicast_peers.is_empty() {
        cx.push(
            Diagnostic::error(head, "unicast peers are not allowed in strict mode")
                .with_help("remove unicast_peer or turn strict mode off"),
        );
        return None;
    }
    if let Some((a, s)) = r.src_ip {
        if a.is_ipv6() != ipv6 {
            cx.error(
                s,
                format!("source address {a} is not of the instance's address family; keepalived ignores it"),
            );
            r.src_ip = None;
        }
    }
    if let Some((a, s)) = r.mcast_dst_ip {
        if a.is_ipv6() != ipv6 {
            cx.error(
                s,
                format!("mcast_dst_ip {a} is not of the instance's address family"),
            );
            r.mcast_dst_ip = None;
        }
    }
    if ipv6 && r.unicast_peers.is_empty() {
        if let Some(first) = vips.first() {
            let is_ll = match first.prefix.addr {
                IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
                IpAddr::V4(_) => true,
            };
            if !is_ll {
                cx.push(
                    Diagnostic::warning(head, "the first IPv6 virtual address is not link-local")
                        .with_help("RFC 5798 wants a link-local address (fe80::/10) first"),
                );
            }
        }
    }
    if r.use_vmac.is_some() && !r.unicast_peers.is_empty() && !r.vmac_xmit_base {
        cx.push(
            Diagnostic::warning(head, "use_vmac with unicast peers needs vmac_xmit_base")
                .with_help("add `vmac_xmit_base`"),
        );
    }

    // keepalived drops a track_interface entry naming the instance's own interface
    // (it is tracked anyway, unless dont_track_primary).
    if let Some((own, _)) = &r.interface {
        let before = r.track.interfaces.len();
        let own = own.clone();
        r.track.interfaces.retain(|t| {
            if t.name == own {
                cx.push(
                    Diagnostic::warning(
                        super::span(t.loc),
                        format!("track_interface lists {own}, the instance's own interface; keepalived ignores it"),
                    )
                    .with_help("the instance's interface is always tracked (unless dont_track_primary); remove this line"),
                );
                false
            } else {
                true
            }
        });
        let _ = before;
    }
    // Routes without an interface cannot be tracked.
    for (rt, at) in &r.routes {
        if rt.dev.is_none() && !rt.no_track && rt.nexthops.is_empty() {
            cx.push(
                Diagnostic::warning(
                    *at,
                    format!(
                        "virtual route to {}/{} has no `dev`; keepalived cannot track it",
                        rt.dst.addr, rt.dst.len
                    ),
                )
                .with_help("add `dev IF`, or `no_track` if that is intended"),
            );
        }
    }

    // Advertisement interval per version.
    let (adv, adv_span) = r
        .advert_int
        .map_or((Duration::from_secs(1), None), |(d, s)| (d, Some(s)));
    let adv = match version {
        VrrpVersion::V2 => {
            let rounded = round_to(adv, Duration::from_secs(1)).max(Duration::from_secs(1));
            if rounded != adv {
                if let Some(s) = adv_span {
                    cx.push(
                        Diagnostic::warning(
                            s,
                            format!(
                                "VRRP version 2 advertises whole seconds; {} s is rounded to {} s",
                                adv.as_secs_f64(),
                                rounded.as_secs()
                            ),
                        )
                        .with_help("write a whole number of seconds, or use `version 3` for sub-second intervals"),
                    );
                }
            }
            rounded
        }
        VrrpVersion::V3 => {
            let max = Duration::from_millis(40950);
            if adv > max {
                if let Some(s) = adv_span {
                    cx.push(
                        Diagnostic::warning(
                            s,
                            format!(
                                "VRRP version 3 intervals stop at 40.95 s; {} s is cut to 40.95 s",
                                adv.as_secs_f64()
                            ),
                        )
                        .with_help("use at most 40.95, or version 2 for longer intervals"),
                    );
                }
                max
            } else {
                let rounded = round_to(adv, Duration::from_millis(10));
                if rounded != adv {
                    if let Some(s) = adv_span {
                        cx.push(
                            Diagnostic::warning(
                                s,
                                format!(
                                    "VRRP version 3 advertises centiseconds; {} s is rounded to {} s",
                                    adv.as_secs_f64(),
                                    rounded.as_secs_f64()
                                ),
                            )
                            .with_help("write the interval with at most two decimals"),
                        );
                    }
                }
                rounded
            }
        }
    };
    let advert_int = Centisecs(u32::try_from(adv.as_millis() / 10).unwrap_or(4095));

    // Priority and initial state (vrrp_complete_instance).
    let nopreempt = r.nopreempt.is_some();
    let (priority, state) = match (r.priority, r.state) {
        (None, st) => {
            let s = st.map(|(s, _)| s);
            let p = if s == Some(InitialState::Master) {
                255
            } else {
                100
            };
            (p, s.unwrap_or(InitialState::Backup))
        }
        (Some((p, _)), Some((InitialState::Master, ss))) if strict && p != 255 => {
            cx.push(
                Diagnostic::warning(ss, format!("state MASTER with priority {p}: in strict mode only the address owner (priority 255) starts as master; keepalived starts it as BACKUP"))
                    .with_help("write `state BACKUP`, or `priority 255` if this router owns the addresses"),
            );
            (p, InitialState::Backup)
        }
        (Some((255, _)), _) if !nopreempt => (255, InitialState::Master),
        (Some((p, _)), st) => (p, st.map_or(InitialState::Backup, |(s, _)| s)),
    };
    if nopreempt && state == InitialState::Master {
        if let Some(s) = r.nopreempt {
            cx.push(
                Diagnostic::warning(s, "nopreempt does not work with initial state MASTER")
                    .with_help("use `state BACKUP` on every router when using nopreempt"),
            );
        }
    }
    let mut preempt_delay = r.preempt_delay.map_or(Duration::ZERO, |(d, _)| d);
    if let Some((d, s)) = r.preempt_delay {
        if !d.is_zero() && strict {
            cx.push(
                Diagnostic::warning(
                    s,
                    "preempt_delay is not allowed in strict mode; keepalived resets it to 0",
                )
                .with_help("remove preempt_delay or turn strict mode off"),
            );
            preempt_delay = Duration::ZERO;
        } else if !d.is_zero() && nopreempt {
            cx.push(
                Diagnostic::warning(
                    s,
                    "preempt_delay has no effect with nopreempt; keepalived resets it to 0",
                )
                .with_help("remove one of them"),
            );
            preempt_delay = Duration::ZERO;
        }
    }

    // Accept mode.
    let mut accept = r.accept.map_or(!strict, |(a, _)| a);
    if accept && priority != 255 && strict && version == VrrpVersion::V2 {
        if let Some((_, s)) = r.accept {
            cx.push(
                Diagnostic::warning(
                    s,
                    "accept mode is not part of VRRP version 2; strict mode turns it off",
                )
                .with_help("remove `accept`, or use version 3"),
            );
        }
        accept = false;
    }

    // GARP and advert behaviour defaults.
    let mut lower_prio_no_advert = r
        .lower_prio_no_advert
        .map_or(g.vrrp_lower_prio_no_advert, |(b, _)| b);
    if strict {
        if let Some((false, s)) = r.lower_prio_no_advert {
            cx.warning(
                s,
                "strict mode cannot clear lower_prio_no_advert; it stays on",
            );
        }
        lower_prio_no_advert = true;
    }
    let mut higher_prio_send_advert = r
        .higher_prio_send_advert
        .map_or(g.vrrp_higher_prio_send_advert, |(b, _)| b);
    if strict && higher_prio_send_advert {
        if let Some((_, s)) = r.higher_prio_send_advert {
            cx.warning(
                s,
                "strict mode cannot set higher_prio_send_advert; it is turned off",
            );
        }
        higher_prio_send_advert = false;
    }
    let garp = GarpSettings {
        master_delay_secs: r.garp_master_delay.unwrap_or(g.vrrp_garp_master_delay_secs),
        master_repeat: r.garp_master_repeat.unwrap_or(g.vrrp_garp_master_repeat),
        lower_prio_delay_secs: r.garp_lower_prio_delay.unwrap_or(if strict {
            0
        } else {
            g.vrrp_garp_lower_prio_delay_secs
        }),
        lower_prio_repeat: r.garp_lower_prio_repeat.unwrap_or(if strict {
            0
        } else {
            g.vrrp_garp_lower_prio_repeat
        }),
        master_refresh_secs: r
            .garp_master_refresh
            .unwrap_or(g.vrrp_garp_master_refresh_secs),
        master_refresh_repeat: r
            .garp_master_refresh_repeat
            .unwrap_or(g.vrrp_garp_master_refresh_repeat),
        extra_if: r.garp_extra_if.or(g.vrrp_garp_extra_if),
    };
    if strict && r.vmac_xmit_base {
        cx.warning(head, "vmac_xmit_base cannot be used in strict mode");
    }

    let mcast_dst_ip = r.mcast_dst_ip.map_or(
        if ipv6 {
            g.vrrp_mcast_group6
        } else {
            g.vrrp_mcast_group4
        },
        |(a, _)| a,
    );
    let check_unicast_src = r.check_unicast_src
        || g.vrrp_check_unicast_src
        || r.unicast_peers
            .iter()
            .any(|(p, _)| p.min_ttl.is_some() || p.max_ttl.is_some());
    let smtp_alert = r
        .smtp_alert
        .or(g.smtp_alert_vrrp)
        .or(g.smtp_alert)
        .unwrap_or(false);

    Some(VrrpInstance {
        name,
        initial_state: state,
        interface: r.interface.map(|(i, _)| i),
        vrf: r.vrf,
        ipv6,
        vrid,
        priority: Priority(priority),
        advert_int_cs: advert_int,
        version,
        use_vmac: r.use_vmac,
        use_vmac_addr: r.use_vmac_addr,
        vmac_xmit_base: r.vmac_xmit_base,
        use_ipvlan: r.use_ipvlan,
        native_ipv6: r.native_ipv6.is_some(),
        dont_track_primary: r.dont_track_primary,
        track: r.track,
        src_ip: r.src_ip.map(|(a, _)| a),
        track_src_ip: r.track_src_ip,
        mcast_dst_ip,
        check_unicast_src,
        unicast_peers: r.unicast_peers.into_iter().map(|(p, _)| p).collect(),
        unicast_fault_no_peer: r.unicast_fault_no_peer,
        unicast_ttl: r.unicast_ttl,
        old_unicast_checksum: r.old_unicast_checksum,
        garp,
        down_timer_adverts: r.down_timer_adverts.unwrap_or(g.vrrp_down_timer_adverts),
        lower_prio_no_advert,
        higher_prio_send_advert,
        authentication,
        virtual_ipaddresses: vips,
        virtual_ipaddresses_excluded: r.evips,
        virtual_routes: r.routes.into_iter().map(|(x, _)| x).collect(),
        virtual_rules: r.rules,
        promote_secondaries: r.promote_secondaries,
        accept,
        nopreempt,
        preempt_delay,
        skip_check_adv_addr: r.skip_check_adv_addr.unwrap_or(g.vrrp_skip_check_adv_addr),
        strict_mode: strict,
        debug: r.debug,
        notify: r.notify,
        notify_priority_changes: r
            .notify_priority_changes
            .unwrap_or(g.vrrp_notify_priority_changes),
        smtp_alert,
        kernel_rx_buf_size: r.kernel_rx_buf_size,
        linkbeat_use_polling: r.linkbeat_use_polling,
        lvs_sync_daemon_interface: r.lvs_sync_daemon_interface,
        locs: InstanceLocs {
            name: loc(name_span),
            vrid: loc(vrid_span),
        },
    })
}

/// What keepalived does with weighted tracking on an instance that is in a sync group
/// (without `sync_group_tracking_weight`) or is the address owner (priority 255): a weight on
/// a tracked interface is dropped (sync group) or the interface is not tracked (owner);
/// weighted scripts, files, processes and BFD instances are not tracked at all.
/// Objects not defined yet count with their default weight as far as it is known.
pub(crate) fn apply_tracking_rules(
    cx: &mut Lowerer<'_>,
    v: &VrrpConfig,
    i: &mut VrrpInstance,
    in_sync: bool,
) {
    let owner = i.priority.0 == 255;
    if !owner && !in_sync {
        return;
    }
    let why = if in_sync {
        "the instance is in a vrrp_sync_group (see sync_group_tracking_weight)"
    } else {
        "the instance is the address owner (priority 255)"
    };
    let mut interfaces = std::mem::take(&mut i.track.interfaces);
    interfaces.retain_mut(|t| {
        let w = t.weight.map_or(0, |w| w.value);
        if w == 0 {
            return true;
        }
        let at = super::span(t.loc);
        if in_sync {
            cx.push(
                Diagnostic::warning(
                    at,
                    format!(
                        "the weight of tracked interface {} is ignored: {why}",
                        t.name
                    ),
                )
                .with_help("remove the weight; a down interface puts the group in FAULT"),
            );
            t.weight = None;
            true
        } else {
            cx.push(
                Diagnostic::warning(
                    at,
                    format!("tracked interface {} is ignored: {why}", t.name),
                )
                .with_help(
                    "an address owner's priority cannot change; remove the weight or the line",
                ),
            );
            false
        }
    });
    i.track.interfaces = interfaces;
    let lists: [(&str, &mut Vec<ka_model::vrrp::TrackRef>); 4] = [
        ("script", &mut i.track.scripts),
        ("file", &mut i.track.files),
        ("process", &mut i.track.processes),
        ("bfd", &mut i.track.bfds),
    ];
    for (kind, list) in lists {
        list.retain(|t| {
            let default = match kind {
                "script" => v
                    .scripts
                    .iter()
                    .find(|s| s.name == t.name)
                    .map(|s| s.weight.value),
                "file" => v
                    .track_files
                    .iter()
                    .find(|s| s.name == t.name)
                    .map(|s| s.weight.value),
                "process" => v
                    .track_processes
                    .iter()
                    .find(|s| s.name == t.name)
                    .map(|s| s.weight.value),
                _ => v
                    .bfd_instances
                    .iter()
                    .find(|s| s.name == t.name)
                    .map(|s| s.weight.value),
            };
            let w = t.weight.map(|w| w.value).or(default).unwrap_or(0);
            if w == 0 {
                return true;
            }
            cx.push(
                Diagnostic::warning(
                    super::span(t.loc),
                    format!("tracked {kind} {} (weight {w}) is ignored: {why}", t.name),
                )
                .with_help(format!(
                    "write `{} weight 0` to track it without changing the priority",
                    t.name
                )),
            );
            false
        });
    }
}
