//! Virtual servers, real servers and checkers.
//!
//! Blocks are read in two steps: each keyword is checked and turned into a value as it
//! is met (with its own diagnostic at its own span), and when a `virtual_server` block
//! ends the inheritance keepalived applies (virtual server -> real server -> checker for
//! `delay_loop`, `retry`, `connect_timeout`, `virtualhost`, forwarding method ...) and
//! its defaults (keepalived 2.2.7) are resolved, so the order of keywords inside a block
//! does not matter. Cross-block checks (groups, duplicates) run in [`check`].

mod checker;
mod tables;

pub use tables::*;

use super::Lowerer;
use crate::diag::did_you_mean;
use crate::diag::Diagnostic;
use crate::source::{FileId, Span};
use crate::syntax::{Node, Token};
use checker::{lower_checker, PendingChecker};
use ka_model::config::Config;
use ka_model::lvs::*;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

/// keepalived's default `delay_loop`.
pub const DEFAULT_DELAY_LOOP: Duration = Duration::from_secs(60);
/// keepalived's default `connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// IPVS_SVC_PERSISTENT_TIMEOUT: `persistence_timeout` without a value.
pub const DEFAULT_PERSISTENCE_TIMEOUT: Duration = Duration::from_secs(360);
/// Largest `persistence_timeout` keepalived accepts (31 days).
pub const MAX_PERSISTENCE_TIMEOUT_S: u64 = 2_678_400;

/// Lowers one top-level block `virtual_server` or `virtual_server_group` (and `SSL`,
/// should the top-level table route it here).
pub fn lower_top(cx: &mut Lowerer<'_>, cfg: &mut Config, node: &Node) {
    match node.keyword.text.as_str() {
        "virtual_server_group" => lower_vsg(cx, cfg, node),
        "virtual_server" => lower_vs(cx, cfg, node),
        "SSL" => lower_ssl(cx, cfg, node),
        _ => {}
    }
}

pub(crate) fn origin(s: Span) -> Origin {
    Origin {
        file: s.file.0,
        line: s.line,
        col: s.col,
        len: s.len,
    }
}

pub(crate) fn span(o: Origin) -> Span {
    Span {
        file: FileId(o.file),
        line: o.line,
        col: o.col,
        len: o.len,
    }
}

/// The top-level `SSL { password ca certificate key }` block.
pub fn lower_ssl(cx: &mut Lowerer<'_>, cfg: &mut Config, node: &Node) {
    if cfg.lvs.ssl.is_some() {
        cx.warning(
            node.keyword.span,
            "a second `SSL` block replaces the first (as keepalived does)",
        );
    }
    let mut ssl = SslConfig::default();
    for c in cx.block(node) {
        if !cx.admit(c, &SSL) {
            continue;
        }
        let Some(v) = cx.one_arg(c, "a value").map(|t| t.text.clone()) else {
            continue;
        };
        match c.keyword.text.as_str() {
            "password" => ssl.password = Some(v),
            "ca" => ssl.ca = Some(v),
            "certificate" => ssl.certificate = Some(v),
            "key" => ssl.key = Some(v),
            _ => {}
        }
    }
    for f in [&ssl.ca, &ssl.certificate, &ssl.key].into_iter().flatten() {
        if f.starts_with('/') && !cx.env.fs.exists(Path::new(f)) {
            cx.warning(node.keyword.span, format!("SSL file `{f}` does not exist"));
        }
    }
    cfg.lvs.ssl = Some(ssl);
}

// ---------------------------------------------------------------- virtual_server_group

fn lower_vsg(cx: &mut Lowerer<'_>, cfg: &mut Config, node: &Node) {
    let Some(name_tok) = cx.one_arg(node, "a group name") else {
        return;
    };
    let mut entries: Vec<VsgEntry> = Vec::new();
    for c in cx.block(node) {
        if c.keyword.text == "fwmark" {
            if !cx.admit(c, &VIRTUAL_SERVER_GROUP) {
                continue;
            }
            let Some(m) = c.args.first() else {
                cx.error(c.keyword.span, "`fwmark` needs a mark number");
                continue;
            };
            let Some(mark) = cx.uint(m, 1, u64::from(u32::MAX)) else {
                continue;
            };
            let family = match c.args.get(1).map(|t| (t, t.text.as_str())) {
                None => None,
                Some((_, "inet")) => Some(IpFamily::Inet),
                Some((_, "inet6")) => Some(IpFamily::Inet6),
                Some((t, _)) => {
                    cx.error(
                        t.span,
                        format!("`{}` is not an address family (inet or inet6)", t.text),
                    );
                    None
                }
            };
            entries.push(VsgEntry::Fwmark {
                mark: u32::try_from(mark).unwrap_or(u32::MAX),
                family,
            });
            continue;
        }
        let Some(range) = addr_range(cx, &c.keyword) else {
            continue;
        };
        let port = match c.args.first() {
            Some(t) => match port_arg(cx, t) {
                Some(p) => p,
                None => continue,
            },
            None => None,
        };
        if let Some(extra) = c.args.get(1) {
            cx.warning(
                extra.span,
                format!("extra argument `{}` is ignored", extra.text),
            );
        }
        let Some(r) = AddrRange::new(range.0, range.1, port) else {
            continue;
        };
        if let Some(prev) = entries.iter().find_map(|e| match e {
            VsgEntry::Range(p) if p.overlaps(&r) => Some(p),
            _ => None,
        }) {
            cx.warning(
                c.keyword.span,
                format!(
                    "`{}` overlaps an earlier entry of this group ({}-{})",
                    c.keyword.text,
                    prev.first(),
                    prev.last()
                ),
            );
        }
        entries.push(VsgEntry::Range(r));
    }
    if entries.is_empty() {
        cx.push(
            Diagnostic::warning(
                node.block
                    .as_ref()
                    .and_then(|b| b.close)
                    .unwrap_or(name_tok.span),
                format!(
                    "virtual server group `{}` has no entries (none is valid)",
                    name_tok.text
                ),
            )
            .with_help("keepalived drops empty groups; add addresses or fwmarks, or remove it"),
        );
    }
    let has4 = entries
        .iter()
        .any(|e| matches!(e, VsgEntry::Range(r) if r.family() == IpFamily::Inet));
    let has6 = entries
        .iter()
        .any(|e| matches!(e, VsgEntry::Range(r) if r.family() == IpFamily::Inet6));
    let bare_fwmark = entries
        .iter()
        .any(|e| matches!(e, VsgEntry::Fwmark { family: None, .. }));
    if has4 && has6 && bare_fwmark {
        cx.push(
            Diagnostic::error(
                name_tok.span,
                format!(
                    "virtual server group `{}` has IPv4 and IPv6 addresses and a fwmark without family",
                    name_tok.text
                ),
            )
            .with_help("write `fwmark N inet` or `fwmark N inet6`"),
        );
    }
    cfg.lvs.groups.push(VirtualServerGroup {
        origin: origin(name_tok.span),
        name: name_tok.text.clone(),
        entries,
    });
}

/// `A`, `A-N` (last octet / hextet), `A-B`, `A/nn`.
fn addr_range(cx: &mut Lowerer<'_>, tok: &Token) -> Option<(IpAddr, IpAddr)> {
    let t = tok.text.as_str();
    let bad = |cx: &mut Lowerer<'_>, why: &str| {
        cx.push(
            Diagnostic::error(tok.span, format!("`{t}` is not a valid group entry: {why}"))
                .with_help("write an address, a range like 192.0.2.1-10, a prefix like 192.0.2.8/29, or `fwmark N`"),
        );
        None
    };
    if let Some((a, p)) = t.split_once('/') {
        let Ok(addr) = a.parse::<IpAddr>() else {
            return bad(cx, "not an address");
        };
        return match addr {
            IpAddr::V4(v4) => {
                let Ok(len) = p.parse::<u32>() else {
                    return bad(cx, "bad prefix length");
                };
                if len > 32 {
                    return bad(cx, "prefix length above 32");
                }
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                let net = u32::from(v4) & mask;
                Some((IpAddr::V4(net.into()), IpAddr::V4((net | !mask).into())))
            }
            IpAddr::V6(v6) => {
                let Ok(len) = p.parse::<u32>() else {
                    return bad(cx, "bad prefix length");
                };
                if len > 128 {
                    return bad(cx, "prefix length above 128");
                }
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                let net = u128::from(v6) & mask;
                Some((IpAddr::V6(net.into()), IpAddr::V6((net | !mask).into())))
            }
        };
    }
    let Some((a, b)) = t.split_once('-') else {
        return match t.parse::<IpAddr>() {
            Ok(a) => Some((a, a)),
            Err(_) => bad(cx, "not an address"),
        };
    };
    let Ok(first) = a.parse::<IpAddr>() else {
        return bad(cx, "the start is not an address");
    };
    let last = if let Ok(l) = b.parse::<IpAddr>() {
        if l.is_ipv4() != first.is_ipv4() {
            return bad(cx, "both ends must be of the same family");
        }
        l
    } else {
        match first {
            IpAddr::V4(v4) => match b.parse::<u8>() {
                Ok(n) => {
                    let mut o = v4.octets();
                    o[3] = n;
                    IpAddr::V4(o.into())
                }
                Err(_) => return bad(cx, "the end must be 0..=255 or an address"),
            },
            IpAddr::V6(v6) => match u16::from_str_radix(b, 16) {
                Ok(n) if b.len() <= 4 => {
                    let mut s = v6.segments();
                    s[7] = n;
                    IpAddr::V6(s.into())
                }
                _ => return bad(cx, "the end must be a hex number 0..=ffff or an address"),
            },
        }
    };
    let ordered = match (first, last) {
        (IpAddr::V4(x), IpAddr::V4(y)) => x <= y,
        (IpAddr::V6(x), IpAddr::V6(y)) => x <= y,
        _ => false,
    };
    if !ordered {
        return bad(cx, "the end is below the start");
    }
    Some((first, last))
}

/// A virtual/real server port: 0..=65535, 0 meaning none.
fn port_arg(cx: &mut Lowerer<'_>, tok: &Token) -> Option<Option<u16>> {
    let v = cx.uint(tok, 0, 65535)?;
    Some(u16::try_from(v).ok().filter(|p| *p != 0))
}

// ---------------------------------------------------------------- shared pieces

/// Timing options as written at one level; `None` means "inherit".
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimingOpt {
    pub delay_loop: Option<Duration>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Duration>,
    pub warmup: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    pub alpha: Option<bool>,
    pub log_all_failures: Option<bool>,
}

/// How a checker type defaults `delay_before_retry`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RetryDelay {
    Fixed(Duration),
    DelayLoop,
}

impl TimingOpt {
    pub fn or(self, p: TimingOpt) -> TimingOpt {
        TimingOpt {
            delay_loop: self.delay_loop.or(p.delay_loop),
            retry: self.retry.or(p.retry),
            delay_before_retry: self.delay_before_retry.or(p.delay_before_retry),
            warmup: self.warmup.or(p.warmup),
            connect_timeout: self.connect_timeout.or(p.connect_timeout),
            alpha: self.alpha.or(p.alpha),
            log_all_failures: self.log_all_failures.or(p.log_all_failures),
        }
    }

    pub fn resolve(self, retry: u32, dbr: RetryDelay) -> CheckTiming {
        let delay_loop = self.delay_loop.unwrap_or(DEFAULT_DELAY_LOOP);
        CheckTiming {
            delay_loop,
            retry: self.retry.unwrap_or(retry),
            delay_before_retry: self.delay_before_retry.unwrap_or(match dbr {
                RetryDelay::Fixed(d) => d,
                RetryDelay::DelayLoop => delay_loop,
            }),
            warmup: self.warmup.unwrap_or(delay_loop),
            connect_timeout: self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            alpha: self.alpha.unwrap_or(false),
            log_all_failures: self.log_all_failures.unwrap_or(false),
        }
    }

    /// Handles a timing keyword; `min_retry` is 1 for virtual/real servers and 0 for checkers.
    /// Returns false when the keyword is not a timing keyword.
    pub fn keyword(&mut self, cx: &mut Lowerer<'_>, n: &Node, min_retry: u64) -> bool {
        let tiny = Duration::from_micros(1);
        let big = Duration::from_secs(u64::from(u32::MAX));
        match n.keyword.text.as_str() {
            "delay_loop" => {
                if let Some(t) = cx.one_arg(n, "a number of seconds") {
                    if let Some(d) = cx.seconds(t, tiny, big) {
                        self.delay_loop = Some(d);
                    }
                }
            }
            "connect_timeout" => {
                if let Some(t) = cx.one_arg(n, "a number of seconds") {
                    let max = Duration::from_micros(4_294_967_295);
                    if let Some(d) = cx.seconds(t, tiny, max) {
                        self.connect_timeout = Some(d);
                    }
                }
            }
            "delay_before_retry" => {
                if let Some(t) = cx.one_arg(n, "a number of seconds") {
                    if let Some(d) = cx.seconds(t, Duration::ZERO, big) {
                        self.delay_before_retry = Some(d);
                    }
                }
            }
            "warmup" => {
                if let Some(t) = cx.one_arg(n, "a number of seconds") {
                    if let Some(d) = cx.seconds(t, Duration::ZERO, big) {
                        self.warmup = Some(d);
                    }
                }
            }
            "retry" | "nb_get_retry" => {
                if n.keyword.text == "nb_get_retry" {
                    cx.push(
                        Diagnostic::warning(n.keyword.span, "`nb_get_retry` is deprecated")
                            .with_help("use `retry`"),
                    );
                }
                if let Some(t) = cx.one_arg(n, "a count") {
                    if let Some(v) = cx.uint(t, min_retry, u64::from(u32::MAX)) {
                        self.retry = u32::try_from(v).ok();
                    }
                }
            }
            "alpha" => self.alpha = cx.flag(n).or(self.alpha),
            "log_all_failures" => self.log_all_failures = cx.flag(n).or(self.log_all_failures),
            _ => return false,
        }
        true
    }
}

/// `NAT | DR | TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`.
fn forwarding(cx: &mut Lowerer<'_>, n: &Node) -> Option<Forwarding> {
    let first = cx.args_at_least(n, 1, "NAT, DR or TUN")?.first()?;
    let rest = n.args.get(1..).unwrap_or(&[]);
    match first.text.as_str() {
        "NAT" | "DR" => {
            if let Some(x) = rest.first() {
                cx.warning(x.span, format!("extra argument `{}` is ignored", x.text));
            }
            Some(if first.text == "NAT" {
                Forwarding::Nat
            } else {
                Forwarding::Dr
            })
        }
        "TUN" => {
            let mut kind = TunnelType::Ipip;
            let mut checksum = TunnelChecksum::NoCsum;
            let mut i = 0;
            while let Some(t) = rest.get(i) {
                match t.text.as_str() {
                    "type" => {
                        let Some(ty) = rest.get(i + 1) else {
                            cx.error(t.span, "`type` needs ipip, gue or gre");
                            return None;
                        };
                        match ty.text.as_str() {
                            "ipip" => kind = TunnelType::Ipip,
                            "gre" => kind = TunnelType::Gre,
                            "gue" => {
                                let port = match (rest.get(i + 2), rest.get(i + 3)) {
                                    (Some(p), Some(v)) if p.text == "port" => {
                                        i += 2;
                                        cx.uint(v, 1, 65535)?
                                    }
                                    _ => {
                                        cx.push(
                                            Diagnostic::error(ty.span, "a gue tunnel needs a port")
                                                .with_help("write `type gue port NUM`"),
                                        );
                                        return None;
                                    }
                                };
                                kind = TunnelType::Gue {
                                    port: u16::try_from(port).unwrap_or(0),
                                };
                            }
                            _ => {
                                cx.error(
                                    ty.span,
                                    format!(
                                        "`{}` is not a tunnel type (ipip, gue or gre)",
                                        ty.text
                                    ),
                                );
                                return None;
                            }
                        }
                        i += 2;
                        continue;
                    }
                    "nocsum" => checksum = TunnelChecksum::NoCsum,
                    "csum" => checksum = TunnelChecksum::Csum,
                    "remcsum" => checksum = TunnelChecksum::RemCsum,
                    _ => {
                        cx.error(
                            t.span,
                            format!(
                                "unexpected `{}` (expected `type ...` or nocsum, csum, remcsum)",
                                t.text
                            ),
                        );
                        return None;
                    }
                }
                if checksum != TunnelChecksum::NoCsum && kind == TunnelType::Ipip {
                    cx.push(
                        Diagnostic::error(
                            t.span,
                            "tunnel checksum options need a gue or gre tunnel",
                        )
                        .with_help("write `type gue port NUM` (or `type gre`) before it"),
                    );
                    return None;
                }
                if checksum == TunnelChecksum::RemCsum && kind == TunnelType::Gre {
                    cx.error(t.span, "`remcsum` is not available with gre tunnels");
                    return None;
                }
                i += 1;
            }
            Some(Forwarding::Tun { kind, checksum })
        }
        other => {
            let mut d = Diagnostic::error(
                first.span,
                format!("`{other}` is not a forwarding method (NAT, DR or TUN)"),
            );
            if let Some(s) = did_you_mean(&other.to_ascii_uppercase(), ["NAT", "DR", "TUN"]) {
                d = d.with_help(format!("write `{s}` (keepalived is case sensitive here)"));
            }
            cx.push(d);
            None
        }
    }
}

/// `SCRIPT [user [group]]` (SCRIPT may be a quoted command line), checking that an
/// absolute program path exists and is executable.
pub(crate) fn script(cx: &mut Lowerer<'_>, n: &Node) -> Option<Script> {
    let s = super::vrrp::notify_script(cx, n)?;
    if let Some(t) = n.args.first() {
        check_program(cx, &n.keyword.text, t, &s);
    }
    Some(s)
}

/// Checks the program of a command line when it is an absolute path (warnings: the
/// configuration may be checked on another host than the one that runs it).
pub(crate) fn check_program(cx: &mut Lowerer<'_>, what: &str, at: &Token, s: &Script) {
    let prog = s.path();
    if !prog.starts_with('/') {
        return;
    }
    let p = Path::new(prog);
    if !cx.env.fs.exists(p) {
        cx.push(
            Diagnostic::warning(at.span, format!("{what} script `{prog}` does not exist"))
                .with_help("fix the path, or install the script before starting keepalived"),
        );
    } else if !cx.env.fs.is_executable(p) {
        cx.push(
            Diagnostic::warning(at.span, format!("{what} script `{prog}` is not executable"))
                .with_help(format!("run `chmod +x {prog}`")),
        );
    }
}

fn text_arg(cx: &mut Lowerer<'_>, n: &Node, what: &str) -> Option<String> {
    cx.one_arg(n, what).map(|t| t.text.clone())
}

// ---------------------------------------------------------------- virtual_server

struct PendingRs {
    origin: Origin,
    /// The closing brace of the block, where keepalived reports what it drops.
    end: Option<Span>,
    addr: IpAddr,
    port: Option<u16>,
    weight: Weight,
    forwarding: Option<Forwarding>,
    upper_threshold: u32,
    lower_threshold: u32,
    inhibit: Option<bool>,
    notify_up: Option<Script>,
    notify_down: Option<Script>,
    smtp_alert: Option<bool>,
    virtualhost: Option<String>,
    snmp_name: Option<String>,
    timing: TimingOpt,
    checkers: Vec<PendingChecker>,
}

fn lower_vs(cx: &mut Lowerer<'_>, cfg: &mut Config, node: &Node) {
    let Some(args) = cx.args_at_least(node, 1, "an address and port, `fwmark N` or `group NAME`")
    else {
        return;
    };
    let Some(first) = args.first() else { return };
    let (address, at) = match first.text.as_str() {
        "fwmark" => {
            let Some(m) = args.get(1) else {
                cx.error(first.span, "`fwmark` needs a mark number");
                return;
            };
            let Some(v) = cx.uint(m, 1, u64::from(u32::MAX)) else {
                return;
            };
            (
                VsAddress::Fwmark(u32::try_from(v).unwrap_or(u32::MAX)),
                m.span,
            )
        }
        "group" => {
            let Some(g) = args.get(1) else {
                cx.error(first.span, "`group` needs a virtual_server_group name");
                return;
            };
            (VsAddress::Group(g.text.clone()), g.span)
        }
        _ => {
            let Some(addr) = cx.ip(first) else { return };
            let port = match args.get(1) {
                Some(p) => match port_arg(cx, p) {
                    Some(p) => p,
                    None => return,
                },
                None => None,
            };
            (VsAddress::Ip { addr, port }, first.span)
        }
    };
    let name_span = at;

    let mut timing = TimingOpt::default();
    let mut family: Option<(IpFamily, Span)> = None;
    let mut protocol: Option<Protocol> = None;
    let mut scheduler: Option<(Scheduler, Span)> = None;
    let mut flags = ServiceFlags::default();
    let mut flag_spans: Vec<(String, Span)> = Vec::new();
    let mut ops_span = None;
    let mut fwd: Option<Forwarding> = None;
    let mut p_timeout: Option<Duration> = None;
    let mut p_gran: Option<(u8, bool, Span)> = None; // (prefix, is_v4 netmask, span)
    let mut p_engine: Option<String> = None;
    let mut ha_suspend = false;
    let mut smtp_alert = None;
    let mut virtualhost = None;
    let mut snmp_name = None;
    let mut omega = false;
    let mut quorum: Option<(u32, Span)> = None;
    let mut hysteresis = 0u32;
    let mut quorum_up = None;
    let mut quorum_down = None;
    let mut weight = Weight::DEFAULT;
    let mut inhibit = false;
    let mut sorry: Option<SorryServer> = None;
    let mut sorry_fwd: Option<Forwarding> = None;
    let mut rss: Vec<PendingRs> = Vec::new();

    for c in cx.block(node) {
        if !cx.admit(c, &VIRTUAL_SERVER) {
            continue;
        }
        if timing.keyword(cx, c, 1) {
            continue;
        }
        let k = c.keyword.text.as_str();
        match k {
            "ip_family" => {
                let Some(t) = cx.one_arg(c, "inet or inet6") else {
                    continue;
                };
                match t.text.as_str() {
                    "inet" => family = Some((IpFamily::Inet, t.span)),
                    "inet6" => family = Some((IpFamily::Inet6, t.span)),
                    _ => cx.error(
                        t.span,
                        format!("`{}` is not an address family (inet or inet6)", t.text),
                    ),
                }
            }
            "inhibit_on_failure" => inhibit = cx.flag(c).unwrap_or(inhibit),
            "lb_algo" | "lvs_sched" => {
                let Some(t) = cx.one_arg(c, "a scheduler name") else {
                    continue;
                };
                match Scheduler::from_name(&t.text) {
                    Some(s) => scheduler = Some((s, t.span)),
                    None => {
                        let names = Scheduler::ALL.iter().map(|(n, _)| *n);
                        let mut d = Diagnostic::error(
                            t.span,
                            format!("`{}` is not an IPVS scheduler", t.text),
                        );
                        d = match did_you_mean(&t.text.to_ascii_lowercase(), names) {
                            Some(s) => d.with_help(format!("did you mean `{s}`?")),
                            None => d.with_help(
                                "use one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, mh, sed, nq, fo, ovf, twos",
                            ),
                        };
                        cx.push(d);
                    }
                }
            }
            "hashed" => flags.hashed = true,
            "ops" => {
                flags.one_packet = true;
                ops_span = Some(c.keyword.span);
            }
            "flag-1" | "sh-fallback" | "mh-fallback" => {
                flags.sched_flag_1 = true;
                flag_spans.push((k.to_string(), c.keyword.span));
            }
            "flag-2" | "sh-port" | "mh-port" => {
                flags.sched_flag_2 = true;
                flag_spans.push((k.to_string(), c.keyword.span));
            }
            "flag-3" => flags.sched_flag_3 = true,
            "lb_kind" | "lvs_method" => fwd = forwarding(cx, c).or(fwd),
            "persistence_engine" => {
                if let Some(t) = cx.one_arg(c, "an engine name") {
                    if t.text != "sip" {
                        cx.warning(
                            t.span,
                            format!(
                                "unknown persistence engine `{}` (the kernel only has `sip`)",
                                t.text
                            ),
                        );
                    }
                    p_engine = Some(t.text.clone());
                }
            }
            "persistence_timeout" => match c.args.first() {
                None => p_timeout = Some(DEFAULT_PERSISTENCE_TIMEOUT),
                Some(t) => {
                    if let Some(v) = cx.uint(t, 1, MAX_PERSISTENCE_TIMEOUT_S) {
                        p_timeout = Some(Duration::from_secs(v));
                    }
                }
            },
            "persistence_granularity" => {
                let Some(t) = cx.one_arg(c, "a netmask or IPv6 prefix length") else {
                    continue;
                };
                if t.text.contains('.') {
                    match t.text.parse::<std::net::Ipv4Addr>() {
                        Ok(m) => {
                            let bits = u32::from(m);
                            let len = bits.leading_ones();
                            if bits.checked_shl(len).unwrap_or(0) != 0 {
                                cx.push(
                                    Diagnostic::error(
                                        t.span,
                                        format!("netmask `{}` is not contiguous", t.text),
                                    )
                                    .with_help("use a netmask like 255.255.255.0"),
                                );
                            } else {
                                p_gran = Some((u8::try_from(len).unwrap_or(32), true, t.span));
                            }
                        }
                        Err(_) => cx.error(t.span, format!("`{}` is not a netmask", t.text)),
                    }
                } else if let Some(v) = cx.uint(t, 1, 128) {
                    p_gran = Some((u8::try_from(v).unwrap_or(128), false, t.span));
                }
            }
            "protocol" => {
                let Some(t) = cx.one_arg(c, "TCP, UDP or SCTP") else {
                    continue;
                };
                match t.text.to_ascii_uppercase().as_str() {
                    "TCP" => protocol = Some(Protocol::Tcp),
                    "UDP" => protocol = Some(Protocol::Udp),
                    "SCTP" => protocol = Some(Protocol::Sctp),
                    _ => cx.error(
                        t.span,
                        format!("`{}` is not a protocol (TCP, UDP or SCTP)", t.text),
                    ),
                }
            }
            "ha_suspend" => ha_suspend = cx.flag(c).unwrap_or(ha_suspend),
            "smtp_alert" => smtp_alert = cx.flag(c).or(smtp_alert),
            "virtualhost" => virtualhost = text_arg(cx, c, "a host name").or(virtualhost),
            "snmp_name" => snmp_name = text_arg(cx, c, "a name").or(snmp_name),
            "omega" => omega = cx.flag(c).unwrap_or(omega),
            "quorum" => {
                if let Some(t) = cx.one_arg(c, "a weight") {
                    if let Some(v) = cx.uint(t, 1, u64::from(u32::MAX)) {
                        quorum = Some((u32::try_from(v).unwrap_or(u32::MAX), t.span));
                    }
                }
            }
            "hysteresis" => {
                if let Some(t) = cx.one_arg(c, "a weight") {
                    if let Some(v) = cx.uint(t, 0, u64::from(u32::MAX)) {
                        hysteresis = u32::try_from(v).unwrap_or(u32::MAX);
                    }
                }
            }
            "quorum_up" => {
                if quorum_up.is_some() {
                    cx.warning(
                        c.keyword.span,
                        "`quorum_up` is already set; this one is ignored",
                    );
                } else {
                    quorum_up = script(cx, c);
                }
            }
            "quorum_down" => {
                if quorum_down.is_some() {
                    cx.warning(
                        c.keyword.span,
                        "`quorum_down` is already set; this one is ignored",
                    );
                } else {
                    quorum_down = script(cx, c);
                }
            }
            "weight" => {
                if let Some(t) = cx.one_arg(c, "a weight") {
                    if let Some(v) = cx.uint(t, 1, u64::from(Weight::MAX)) {
                        weight = Weight::new(u32::try_from(v).unwrap_or(1)).unwrap_or(weight);
                    }
                }
            }
            "sorry_server" => {
                let Some(a) = cx.args_at_least(c, 1, "an address and optional port") else {
                    continue;
                };
                let Some(at) = a.first() else { continue };
                let Some(addr) = cx.ip(at) else { continue };
                let port = match a.get(1) {
                    Some(p) => match port_arg(cx, p) {
                        Some(p) => p,
                        None => continue,
                    },
                    None => None,
                };
                if sorry.is_some() {
                    cx.warning(at.span, "a second `sorry_server` replaces the first");
                }
                sorry = Some(SorryServer {
                    origin: origin(at.span),
                    addr,
                    port,
                    inhibit: false,
                    forwarding: Forwarding::Nat,
                });
            }
            "sorry_server_inhibit" => match sorry.as_mut() {
                Some(s) => s.inhibit = cx.flag(c).unwrap_or(true),
                None => cx.push(
                    Diagnostic::warning(
                        c.keyword.span,
                        "`sorry_server_inhibit` before or without `sorry_server` is ignored",
                    )
                    .with_help("put it after the `sorry_server` line"),
                ),
            },
            "sorry_server_lvs_method" => {
                if sorry.is_none() {
                    cx.push(
                        Diagnostic::warning(
                            c.keyword.span,
                            "`sorry_server_lvs_method` before or without `sorry_server` is ignored",
                        )
                        .with_help("put it after the `sorry_server` line"),
                    );
                } else {
                    sorry_fwd = forwarding(cx, c).or(sorry_fwd);
                }
            }
            "real_server" => {
                if let Some(rs) = lower_rs(cx, c) {
                    rss.push(rs);
                }
            }
            _ => {}
        }
    }

    // ---- resolution
    let forwarding = fwd.unwrap_or_default();
    if let Some(s) = sorry.as_mut() {
        s.forwarding = sorry_fwd.unwrap_or(forwarding);
    }
    let vs_family_fixed = match &address {
        VsAddress::Ip { addr, .. } => Some(IpFamily::of(addr)),
        _ => None,
    };
    if let (Some(f), Some((want, sp))) = (vs_family_fixed, family) {
        if f != want {
            cx.push(
                Diagnostic::error(
                    sp,
                    format!("`ip_family` says {want} but the virtual server address is {f}"),
                )
                .with_help("remove `ip_family`; it is only needed for fwmark and group services"),
            );
        }
    }
    let non_tun_family = rss
        .iter()
        .filter(|r| !r.forwarding.unwrap_or(forwarding).is_tunnel())
        .map(|r| IpFamily::of(&r.addr))
        .chain(
            sorry
                .iter()
                .filter(|s| !s.forwarding.is_tunnel())
                .map(|s| IpFamily::of(&s.addr)),
        )
        .next();
    let all_family = {
        let mut it = rss
            .iter()
            .map(|r| IpFamily::of(&r.addr))
            .chain(sorry.iter().map(|s| IpFamily::of(&s.addr)));
        let f = it.next();
        if it.all(|x| Some(x) == f) {
            f
        } else {
            None
        }
    };
    // A group defined before its use gives its address family.
    let group_family = match &address {
        VsAddress::Group(name) => cfg
            .lvs
            .groups
            .iter()
            .find(|g| &g.name == name)
            .and_then(|g| {
                g.entries.iter().find_map(|e| match e {
                    VsgEntry::Range(r) => Some(r.family()),
                    VsgEntry::Fwmark { family, .. } => *family,
                })
            }),
        _ => None,
    };
    let vs_family = vs_family_fixed
        .or(family.map(|f| f.0))
        .or(group_family)
        .or(p_gran.map(|g| if g.1 { IpFamily::Inet } else { IpFamily::Inet6 }))
        .or(non_tun_family)
        .or(all_family)
        .unwrap_or(IpFamily::Inet);

    if let Some((_, is_v4, sp)) = p_gran {
        let gf = if is_v4 {
            IpFamily::Inet
        } else {
            IpFamily::Inet6
        };
        if gf != vs_family {
            cx.error(
                sp,
                format!("this granularity is for {gf} but the virtual server is {vs_family}"),
            );
        }
    }
    let persistence = if p_timeout.is_some() || p_gran.is_some() || p_engine.is_some() {
        Some(Persistence {
            timeout: p_timeout.unwrap_or(DEFAULT_PERSISTENCE_TIMEOUT),
            granularity_prefix: p_gran.map(|g| g.0),
            engine: p_engine,
        })
    } else {
        None
    };
    let mut persistence = persistence;
    if let VsAddress::Ip { port: None, .. } = address {
        if persistence.is_none() {
            cx.push(
                Diagnostic::warning(
                    name_span,
                    "a virtual server without a port must be persistent; keepalived makes it persistent (360 s)",
                )
                .with_help("add the port, or say `persistence_timeout`"),
            );
            persistence = Some(Persistence {
                timeout: DEFAULT_PERSISTENCE_TIMEOUT,
                granularity_prefix: None,
                engine: None,
            });
        }
    }
    let is_fwmark = matches!(address, VsAddress::Fwmark(_));
    if is_fwmark && protocol.is_some() {
        cx.push(
            Diagnostic::warning(name_span, "`protocol` is ignored for a fwmark service").with_help(
                "remove `protocol`; the firewall rule setting the mark selects the protocol",
            ),
        );
        protocol = None;
    }
    if is_fwmark && ha_suspend {
        cx.warning(
            name_span,
            "`ha_suspend` cannot be used with a fwmark service; ignored (as keepalived)",
        );
        ha_suspend = false;
    }
    let protocol = match (protocol, &address) {
        (Some(p), _) => Some(p),
        (None, VsAddress::Fwmark(_)) => None,
        (None, _) => {
            cx.push(
                Diagnostic::warning(
                    name_span,
                    "no `protocol` set: keepalived 2.2.7 defaults to UDP here",
                )
                .with_help("add `protocol TCP` (or UDP, SCTP) to say which one is meant"),
            );
            Some(Protocol::Udp)
        }
    };
    if let Some(sp) = ops_span {
        // keepalived 2.2.7 keeps `ops` on fwmark services (the mark may select UDP).
        if !is_fwmark && protocol != Some(Protocol::Udp) {
            cx.push(
                Diagnostic::warning(
                    sp,
                    "one-packet scheduling (`ops`) only works with UDP; ignored",
                )
                .with_help("remove `ops`, or set `protocol UDP`"),
            );
            flags.one_packet = false;
        }
    }
    let scheduler_v = scheduler.map(|s| s.0).unwrap_or_default();
    for (name, sp) in &flag_spans {
        let want = if name.starts_with("sh-") {
            Some(Scheduler::Sh)
        } else if name.starts_with("mh-") {
            Some(Scheduler::Mh)
        } else {
            None
        };
        if let Some(w) = want {
            if w != scheduler_v {
                cx.warning(
                    *sp,
                    format!(
                        "`{name}` only means something to the {} scheduler (this service uses {})",
                        w.name(),
                        scheduler_v.name()
                    ),
                );
            }
        }
    }

    let mut real_servers: Vec<RealServer> = Vec::new();
    for rs in rss {
        let rs_fwd = rs.forwarding.unwrap_or(forwarding);
        let fam = IpFamily::of(&rs.addr);
        if !rs_fwd.is_tunnel() && fam != vs_family {
            // Reported at the end of the real_server block, where keepalived drops it.
            cx.push(
                Diagnostic::error(
                    rs.end.unwrap_or(span(rs.origin)),
                    format!(
                        "real server {} is {fam} but the virtual server is {vs_family} (real_server of line {}); it is skipped",
                        rs.addr, rs.origin.line
                    ),
                )
                .with_help("use an address of the same family, or `lvs_method TUN` (tunnelled real servers may differ)"),
            );
            continue;
        }
        if let Some(prev) = real_servers
            .iter()
            .find(|p| p.addr == rs.addr && p.port == rs.port)
        {
            cx.push(
                Diagnostic::warning(
                    span(rs.origin),
                    format!(
                        "real server {} is listed twice in this virtual server",
                        rs.addr
                    ),
                )
                .with_help(format!(
                    "remove one of them (the first is at line {}); keepalived drops the second",
                    prev.origin.line
                )),
            );
            continue;
        }
        if rs.lower_threshold != 0
            && rs.upper_threshold != 0
            && rs.lower_threshold > rs.upper_threshold
        {
            cx.warning(
                span(rs.origin),
                format!(
                    "lthreshold {} is above uthreshold {}",
                    rs.lower_threshold, rs.upper_threshold
                ),
            );
        }
        if let (VsAddress::Fwmark(_), Some(p)) = (&address, rs.port) {
            cx.push(
                Diagnostic::warning(
                    span(rs.origin),
                    format!("port {p} of a real server of a fwmark service is ignored by IPVS"),
                )
                .with_help("remove the port; checkers can use `connect_port`"),
            );
        }
        let rs_t = rs.timing.or(timing);
        let vhost = rs.virtualhost.clone().or_else(|| virtualhost.clone());
        let vs_port = match &address {
            VsAddress::Ip { port, .. } => *port,
            _ => None,
        };
        let target_port = rs.port.or(vs_port);
        let checkers: Vec<Checker> = rs
            .checkers
            .into_iter()
            .filter_map(|c| c.resolve(cx, rs_t, rs.addr, target_port, vhost.as_deref()))
            .collect();
        let mut dynamic = checkers
            .iter()
            .filter(|c| matches!(&c.kind, CheckerKind::Misc(m) if m.dynamic));
        if let (Some(_), Some(second)) = (dynamic.next(), dynamic.next()) {
            cx.push(
                Diagnostic::warning(
                    span(second.origin),
                    "more than one `misc_dynamic` MISC_CHECK on this real server: their weights fight",
                )
                .with_help("keep `misc_dynamic` on one MISC_CHECK (keepalived warns the same)"),
            );
        }
        let mut rs_port = rs.port;
        if let Some(p) = rs.port {
            let direct = matches!(rs_fwd, Forwarding::Dr | Forwarding::Tun { .. });
            if is_fwmark && direct {
                rs_port = None;
            } else if direct && vs_port.is_some() && vs_port != Some(p) {
                cx.push(
                    Diagnostic::warning(
                        span(rs.origin),
                        format!(
                            "real server port {p} differs from the virtual server port; DR and TUN cannot change ports (keepalived resets it)"
                        ),
                    )
                    .with_help("use the virtual server's port (checkers can use `connect_port`), or `lvs_method NAT`"),
                );
                rs_port = vs_port;
            }
        }
        real_servers.push(RealServer {
            origin: rs.origin,
            addr: rs.addr,
            port: rs_port,
            weight: rs.weight,
            forwarding: rs_fwd,
            upper_threshold: rs.upper_threshold,
            lower_threshold: rs.lower_threshold,
            inhibit_on_failure: rs.inhibit.unwrap_or(inhibit),
            notify_up: rs.notify_up,
            notify_down: rs.notify_down,
            smtp_alert: rs.smtp_alert,
            virtualhost: vhost,
            snmp_name: rs.snmp_name,
            timing: rs_t.resolve(1, RetryDelay::Fixed(Duration::from_secs(1))),
            checkers,
        });
    }
    if let Some(s) = sorry.as_mut() {
        let vs_port = match &address {
            VsAddress::Ip { port, .. } => *port,
            _ => None,
        };
        if let Some(p) = s.port {
            if is_fwmark {
                cx.warning(
                    span(s.origin),
                    format!("port {p} of the sorry server of a fwmark service is ignored (keepalived clears it)"),
                );
                s.port = None;
            } else if matches!(s.forwarding, Forwarding::Dr | Forwarding::Tun { .. })
                && vs_port.is_some()
                && vs_port != Some(p)
            {
                cx.push(
                    Diagnostic::warning(
                        span(s.origin),
                        format!(
                            "sorry server port {p} differs from the virtual server port; DR and TUN cannot change ports (keepalived resets it)"
                        ),
                    )
                    .with_help("use the virtual server's port, or `sorry_server_lvs_method NAT`"),
                );
                s.port = vs_port;
            }
        }
    }
    if let Some(s) = &sorry {
        let fam = IpFamily::of(&s.addr);
        if !s.forwarding.is_tunnel() && fam != vs_family {
            cx.push(
                Diagnostic::error(
                    span(s.origin),
                    format!(
                        "sorry server {} is {fam} but the virtual server is {vs_family}",
                        s.addr
                    ),
                )
                .with_help("use an address of the same family, or `sorry_server_lvs_method TUN`"),
            );
            sorry = None;
        }
    }

    let quorum_v = quorum
        .and_then(|q| std::num::NonZeroU32::new(q.0))
        .unwrap_or(std::num::NonZeroU32::MIN);
    let total: u64 = real_servers.iter().map(|r| u64::from(r.weight.get())).sum();
    if let Some((q, sp)) = quorum {
        if u64::from(q) > total {
            cx.push(
                Diagnostic::warning(
                    sp,
                    format!("quorum {q} exceeds the total weight {total} of the real servers"),
                )
                .with_help("the quorum can never be met (keepalived lowers it to the total weight); lower it or add real servers"),
            );
        } else if hysteresis >= q {
            cx.push(
                Diagnostic::warning(
                    sp,
                    format!("hysteresis {hysteresis} is not below quorum {q}"),
                )
                .with_help("the hysteresis must be smaller than the quorum"),
            );
        }
    }
    if real_servers.is_empty() && sorry.is_none() && !matches!(address, VsAddress::Group(_)) {
        cx.push(
            Diagnostic::warning(name_span, "this virtual server has no real servers")
                .with_help("add a `real_server` block (keepalived ignores the virtual server)"),
        );
    }

    cfg.lvs.virtual_servers.push(VirtualServer {
        origin: origin(name_span),
        address,
        family: vs_family,
        protocol,
        scheduler: scheduler_v,
        flags,
        forwarding,
        persistence,
        ha_suspend,
        smtp_alert,
        virtualhost,
        snmp_name,
        alpha: timing.alpha.unwrap_or(false),
        omega,
        quorum: quorum_v,
        hysteresis,
        quorum_up,
        quorum_down,
        weight,
        inhibit_on_failure: inhibit,
        timing: timing.resolve(1, RetryDelay::Fixed(Duration::from_secs(1))),
        sorry_server: sorry,
        real_servers,
    });
    // Vectors grown by push keep spare room; a large configuration holds tens of
    // thousands of them, so give it back.
    if let Some(vs) = cfg.lvs.virtual_servers.last_mut() {
        shrink_vs(vs);
    }
}

/// Reduces the virtual server lowered last to what [`check`] reads from it (see
/// [`super::Lowering::diagnostics_only`]): the real servers of a group-addressed virtual
/// server (family checks), and elsewhere only the FILE_CHECK / BFD_CHECK checkers, whose
/// names are resolved once the VRRP side is read.
pub(crate) fn keep_checked_parts(cfg: &mut Config) {
    let Some(vs) = cfg.lvs.virtual_servers.last_mut() else {
        return;
    };
    if matches!(vs.address, VsAddress::Group(_)) {
        return;
    }
    for rs in &mut vs.real_servers {
        rs.checkers
            .retain(|c| matches!(c.kind, CheckerKind::File(_) | CheckerKind::Bfd(_)));
        rs.checkers.shrink_to_fit();
    }
    vs.real_servers.retain(|rs| !rs.checkers.is_empty());
    vs.real_servers.shrink_to_fit();
}

fn lower_rs(cx: &mut Lowerer<'_>, node: &Node) -> Option<PendingRs> {
    let args = cx.args_at_least(node, 1, "an address and optional port")?;
    let at = args.first()?;
    let addr = cx.ip(at)?;
    let port = match args.get(1) {
        Some(p) => port_arg(cx, p)?,
        None => None,
    };
    let mut rs = PendingRs {
        origin: origin(at.span),
        end: node.block.as_ref().and_then(|b| b.close),
        addr,
        port,
        weight: Weight::DEFAULT,
        forwarding: None,
        upper_threshold: 0,
        lower_threshold: 0,
        inhibit: None,
        notify_up: None,
        notify_down: None,
        smtp_alert: None,
        virtualhost: None,
        snmp_name: None,
        timing: TimingOpt::default(),
        checkers: Vec::new(),
    };
    let children = match &node.block {
        Some(b) => &b.children[..],
        None => &[],
    };
    for c in children {
        if !cx.admit(c, &REAL_SERVER) {
            continue;
        }
        if rs.timing.keyword(cx, c, 1) {
            continue;
        }
        match c.keyword.text.as_str() {
            "weight" => {
                if let Some(t) = cx.one_arg(c, "a weight") {
                    if let Some(v) = cx.uint(t, 0, u64::from(Weight::MAX)) {
                        rs.weight = Weight::new(u32::try_from(v).unwrap_or(1)).unwrap_or(rs.weight);
                    }
                }
            }
            "lvs_method" => rs.forwarding = forwarding(cx, c).or(rs.forwarding),
            "uthreshold" | "lthreshold" => {
                if let Some(t) = cx.one_arg(c, "a number of connections") {
                    if let Some(v) = cx.uint(t, 0, u64::from(u32::MAX)) {
                        let v = u32::try_from(v).unwrap_or(u32::MAX);
                        if c.keyword.text == "uthreshold" {
                            rs.upper_threshold = v;
                        } else {
                            rs.lower_threshold = v;
                        }
                    }
                }
            }
            "inhibit_on_failure" => rs.inhibit = cx.flag(c).or(rs.inhibit),
            "notify_up" | "notify_down" => {
                let up = c.keyword.text == "notify_up";
                let slot = if up { &rs.notify_up } else { &rs.notify_down };
                if slot.is_some() {
                    cx.warning(
                        c.keyword.span,
                        format!("`{}` is already set; this one is ignored", c.keyword.text),
                    );
                    continue;
                }
                let s = script(cx, c);
                if up {
                    rs.notify_up = s;
                } else {
                    rs.notify_down = s;
                }
            }
            "smtp_alert" => rs.smtp_alert = cx.flag(c).or(rs.smtp_alert),
            "virtualhost" => rs.virtualhost = text_arg(cx, c, "a host name").or(rs.virtualhost),
            "snmp_name" => rs.snmp_name = text_arg(cx, c, "a name").or(rs.snmp_name),
            _ => {
                if let Some(ch) = lower_checker(cx, c) {
                    rs.checkers.extend(ch.split_hosts());
                }
            }
        }
    }
    if node.block.is_none() {
        cx.push(
            Diagnostic::warning(node.keyword.span, "`real_server` without a `{ ... }` block")
                .with_help("add `{ }` (keepalived expects a block, even an empty one)"),
        );
    }
    Some(rs)
}

// ---------------------------------------------------------------- cross checks

/// Cross-reference and consistency checks over the LVS side.
pub fn check(cx: &mut Lowerer<'_>, cfg: &Config) {
    let lvs = &cfg.lvs;
    // Duplicate group names (the first definition of each name is the one that counts).
    let mut groups: HashMap<&str, &VirtualServerGroup> = HashMap::new();
    for g in &lvs.groups {
        if let Some(p) = groups.get(g.name.as_str()) {
            cx.push(
                Diagnostic::error(
                    span(g.origin),
                    format!("virtual server group `{}` is defined twice", g.name),
                )
                .with_help(format!(
                    "rename or merge it with the one at line {}",
                    p.origin.line
                )),
            );
        } else {
            groups.insert(g.name.as_str(), g);
        }
    }
    let mut services: HashMap<(&VsAddress, Option<Protocol>), &VirtualServer> = HashMap::new();
    for vs in &lvs.virtual_servers {
        if let VsAddress::Group(name) = &vs.address {
            match groups.get(name.as_str()).copied() {
                None => {
                    let mut d = Diagnostic::error(
                        span(vs.origin),
                        format!("virtual server group `{name}` is not defined"),
                    );
                    d = match cx.suggest(name, lvs.groups.iter().map(|g| g.name.as_str())) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None => d.with_help(format!(
                            "define `virtual_server_group {name} {{ ... }}` or fix the name"
                        )),
                    };
                    cx.push(d);
                }
                Some(g) if g.entries.is_empty() => cx.push(
                    Diagnostic::error(
                        span(vs.origin),
                        format!("virtual server group `{name}` has no entries"),
                    )
                    .with_help("add addresses or fwmarks to the group"),
                ),
                Some(g) => check_group_families(cx, vs, g),
            }
        }
        for rs in &vs.real_servers {
            for ch in &rs.checkers {
                check_checker_refs(cx, cfg, ch);
            }
        }
        // Duplicates: same address and protocol.
        let first = *services.entry((&vs.address, vs.protocol)).or_insert(vs);
        if let Some(p) = Some(first).filter(|p| !std::ptr::eq(*p, vs)) {
            cx.push(
                Diagnostic::error(span(vs.origin), "this virtual server is defined twice")
                    .with_help(format!(
                        "merge it with the one at line {} (same address, port and protocol)",
                        p.origin.line
                    )),
            );
        }
    }
}

/// FILE_CHECK and BFD_CHECK name blocks of the VRRP side.
fn check_checker_refs(cx: &mut Lowerer<'_>, cfg: &Config, ch: &Checker) {
    let v = &cfg.vrrp;
    let (what, name, known): (&str, &str, Vec<&str>) = match &ch.kind {
        CheckerKind::File(f) => (
            "track_file",
            &f.track_file,
            v.track_files.iter().map(|t| t.name.as_str()).collect(),
        ),
        CheckerKind::Bfd(b) => (
            "bfd_instance",
            &b.name,
            v.bfd_instances.iter().map(|t| t.name.as_str()).collect(),
        ),
        _ => return,
    };
    if known.contains(&name) || v.dropped.iter().any(|d| d == name) {
        return;
    }
    let mut d = Diagnostic::error(
        span(ch.origin),
        format!(
            "{} refers to `{name}`, which is not a defined {what}",
            ch.kind.block_name()
        ),
    );
    d = match cx.suggest(name, known.iter().copied()) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None => d.with_help(format!(
            "define a top-level `{what} {name} {{ ... }}` block"
        )),
    };
    cx.push(d);
}

fn check_group_families(cx: &mut Lowerer<'_>, vs: &VirtualServer, g: &VirtualServerGroup) {
    let fams: Vec<IpFamily> = g
        .entries
        .iter()
        .filter_map(|e| match e {
            VsgEntry::Range(r) => Some(r.family()),
            VsgEntry::Fwmark { family, .. } => *family,
        })
        .collect();
    let servers = vs
        .real_servers
        .iter()
        .map(|r| (r.addr, r.forwarding, r.origin))
        .chain(
            vs.sorry_server
                .iter()
                .map(|s| (s.addr, s.forwarding, s.origin)),
        );
    if g.entries
        .iter()
        .any(|e| matches!(e, VsgEntry::Fwmark { .. }))
    {
        for rs in vs.real_servers.iter().filter(|r| r.port.is_some()) {
            cx.push(
                Diagnostic::warning(
                    span(rs.origin),
                    format!(
                        "group `{}` has fwmark entries: IPVS ignores the port of real server {} for them",
                        g.name, rs.addr
                    ),
                )
                .with_help("keepalived warns about this too; use a separate virtual server for the fwmark"),
            );
        }
    }
    for (addr, fwd, o) in servers {
        if fwd.is_tunnel() {
            continue;
        }
        let f = IpFamily::of(&addr);
        if let Some(bad) = fams.iter().find(|gf| **gf != f) {
            cx.push(
                Diagnostic::error(
                    span(o),
                    format!(
                        "real server {addr} is {f} but group `{}` has {bad} entries",
                        g.name
                    ),
                )
                .with_help(
                    "a group may mix families only if all its real servers use `lvs_method TUN`",
                ),
            );
        }
    }
}

/// Drops the spare capacity of a virtual server's vectors (real servers, checkers, URLs).
fn shrink_vs(vs: &mut VirtualServer) {
    exact(&mut vs.real_servers);
    for rs in &mut vs.real_servers {
        exact(&mut rs.checkers);
        for c in &mut rs.checkers {
            if let CheckerKind::Http(h) | CheckerKind::Ssl(h) = &mut c.kind {
                exact(&mut h.urls);
                for u in &mut h.urls {
                    exact(&mut u.status_codes);
                }
            }
        }
    }
}

/// Moves a vector's items into a fresh allocation of exactly their size. Unlike
/// `shrink_to_fit` (which splits the block in place and leaves a small free hole after
/// every vector, tens of megabytes of unusable holes for 20000 real servers), this frees
/// the whole old block, which the next virtual server's vectors then reuse.
fn exact<T>(v: &mut Vec<T>) {
    if v.capacity() > v.len() {
        let mut e = Vec::with_capacity(v.len());
        e.append(v);
        *v = e;
    }
}
