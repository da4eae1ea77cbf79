//! Checker blocks of a real server: TCP_CHECK, HTTP_GET, SSL_GET, SMTP_CHECK, DNS_CHECK,
//! UDP_CHECK, PING_CHECK, FILE_CHECK, MISC_CHECK, BFD_CHECK.

use super::tables::*;
use super::{check_program, origin, span, RetryDelay, TimingOpt};
use crate::diag::did_you_mean;
use crate::diag::Diagnostic;
use crate::lower::{BlockSpec, Lowerer};
use crate::source::Span;
use crate::syntax::{Node, Token};
use ka_model::lvs::*;
use std::net::IpAddr;
use std::time::Duration;

/// keepalived's SMTP_CHECK HELO name when none is given.
pub const DEFAULT_HELO: &str = "smtpchecker.keepalived.org";
/// Largest `misc_timeout` keepalived accepts (UINT_MAX / TIMER_HZ seconds).
pub const MAX_MISC_TIMEOUT_S: u64 = 4294;

/// PCRE2 options accepted by `regex_options` (keepalived.conf(5)).
pub const REGEX_OPTIONS: &[&str] = &[
    "allow_empty_class",
    "alt_bsux",
    "auto_callout",
    "caseless",
    "dollar_endonly",
    "dotall",
    "dupnames",
    "extended",
    "firstline",
    "match_unset_backref",
    "multiline",
    "never_ucp",
    "never_utf",
    "no_auto_capture",
    "no_auto_possess",
    "no_dotstar_anchor",
    "no_start_optimize",
    "ucp",
    "ungreedy",
    "utf",
    "never_backslash_c",
    "alt_circumflex",
    "alt_verbnames",
    "use_offset_limit",
];

/// Connection options as written (before the real server's address and port fill the gaps).
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnOpt {
    ip: Option<(IpAddr, Span)>,
    port: Option<u16>,
    bind_ip: Option<(IpAddr, Span)>,
    bind_port: Option<u16>,
    bind_if: Option<String>,
    fwmark: Option<u32>,
}

/// A checker read from its block, waiting for the inherited values of its real and
/// virtual server.
#[derive(Debug)]
pub(crate) struct PendingChecker {
    origin: Origin,
    timing: TimingOpt,
    conn: Option<ConnOpt>,
    hosts: Vec<(Origin, ConnOpt, TimingOpt)>,
    kind: CheckerKind,
    /// Port used when neither the checker nor the real/virtual server gives one (none of
    /// keepalived's checkers has one: a DNS_CHECK does not default to 53).
    default_port: Option<u16>,
    /// Whether the probe needs a port at all (PING_CHECK does not).
    needs_port: bool,
    retry_default: u32,
    retry_delay: RetryDelay,
}

fn conn_keyword(cx: &mut Lowerer<'_>, n: &Node, c: &mut ConnOpt) -> bool {
    match n.keyword.text.as_str() {
        "connect_ip" => {
            if let Some(t) = cx.one_arg(n, "an address") {
                if let Some(a) = cx.ip(t) {
                    c.ip = Some((a, t.span));
                }
            }
        }
        "bindto" => {
            if let Some(t) = cx.one_arg(n, "an address") {
                if let Some(a) = cx.ip(t) {
                    c.bind_ip = Some((a, t.span));
                }
            }
        }
        "connect_port" | "bind_port" => {
            if let Some(t) = cx.one_arg(n, "a port 1..=65535") {
                if let Some(v) = cx.uint(t, 1, 65535) {
                    let p = u16::try_from(v).ok();
                    if n.keyword.text == "connect_port" {
                        c.port = p;
                    } else {
                        c.bind_port = p;
                    }
                }
            }
        }
        "bind_if" => {
            if let Some(t) = cx.one_arg(n, "an interface name") {
                if let Some(known) = &cx.env.interfaces {
                    if !known.iter().any(|i| i == &t.text) {
                        cx.warning(
                            t.span,
                            format!("interface `{}` does not exist on this host", t.text),
                        );
                    }
                }
                c.bind_if = Some(t.text.clone());
            }
        }
        "fwmark" => {
            if let Some(t) = cx.one_arg(n, "a mark") {
                if let Some(v) = cx.uint(t, 0, u64::from(u32::MAX)) {
                    c.fwmark = u32::try_from(v).ok().filter(|m| *m != 0);
                }
            }
        }
        _ => return false,
    }
    true
}

/// Reads a checker block; `None` for keywords that are not checkers or unusable blocks.
pub(crate) fn lower_checker(cx: &mut Lowerer<'_>, node: &Node) -> Option<PendingChecker> {
    let name = node.keyword.text.as_str();
    let spec: &BlockSpec = match name {
        "TCP_CHECK" => &TCP_CHECK,
        "HTTP_GET" => &HTTP_GET,
        "SSL_GET" => &SSL_GET,
        "SMTP_CHECK" => &SMTP_CHECK,
        "DNS_CHECK" => &DNS_CHECK,
        "UDP_CHECK" => &UDP_CHECK,
        "PING_CHECK" => &PING_CHECK,
        "FILE_CHECK" => &FILE_CHECK,
        "MISC_CHECK" => &MISC_CHECK,
        "BFD_CHECK" => &BFD_CHECK,
        _ => return None,
    };
    let networked = !matches!(name, "FILE_CHECK" | "MISC_CHECK" | "BFD_CHECK");
    let mut timing = TimingOpt::default();
    let mut conn = ConnOpt::default();
    let mut hosts = Vec::new();

    // Per-kind state.
    let mut http = HttpCheck {
        protocol: HttpProtocol::V1_0,
        fast_recovery: false,
        enable_sni: false,
        virtualhost: None,
        urls: Vec::new(),
    };
    let mut helo: Option<String> = None;
    let mut dns = DnsCheck {
        qtype: DnsType::Soa,
        name: ".".into(),
    };
    let mut udp = UdpCheck {
        payload: None,
        require_reply: None,
        min_reply_length: 0,
        max_reply_length: 255,
    };
    let mut min_len_span = None;
    let mut file: Option<String> = None;
    let mut file_weight = (1i32, false);
    let mut misc_path: Option<Script> = None;
    let mut misc_timeout = Duration::ZERO;
    let mut misc_dynamic = false;
    let mut misc_user: (Option<String>, Option<String>) = (None, None);
    let mut bfd: Option<String> = None;

    for c in cx.block(node) {
        if !cx.admit(c, spec) {
            continue;
        }
        if networked && conn_keyword(cx, c, &mut conn) {
            continue;
        }
        if timing.keyword(cx, c, 0) {
            continue;
        }
        match (name, c.keyword.text.as_str()) {
            (_, "http_protocol") => {
                if let Some(t) = cx.one_arg(c, "1.0, 1.0C or 1.1") {
                    match t.text.as_str() {
                        "1.0" => http.protocol = HttpProtocol::V1_0,
                        "1.0C" | "1.0c" => http.protocol = HttpProtocol::V1_0C,
                        "1.1" => http.protocol = HttpProtocol::V1_1,
                        _ => cx.error(
                            t.span,
                            format!("`{}` is not an HTTP version (1.0, 1.0C or 1.1)", t.text),
                        ),
                    }
                }
            }
            (_, "fast_recovery") => http.fast_recovery = cx.flag(c).unwrap_or(true),
            (_, "enable_sni") => http.enable_sni = cx.flag(c).unwrap_or(true),
            (_, "virtualhost") => {
                if let Some(t) = cx.one_arg(c, "a host name") {
                    http.virtualhost = Some(t.text.clone());
                }
            }
            (_, "url") => {
                if let Some(u) = lower_url(cx, c) {
                    http.urls.push(u);
                }
            }
            (_, "helo_name") => {
                if let Some(t) = cx.one_arg(c, "a name") {
                    helo = Some(t.text.clone());
                }
            }
            (_, "host") => {
                cx.push(
                    Diagnostic::warning(
                        c.keyword.span,
                        "the SMTP_CHECK `host` block is deprecated",
                    )
                    .with_help(
                        "define one SMTP_CHECK per target instead (keepalived says the same)",
                    ),
                );
                let mut h = ConnOpt::default();
                let mut ht = TimingOpt::default();
                for hc in cx.block(c) {
                    if cx.admit(hc, &SMTP_HOST) && !conn_keyword(cx, hc, &mut h) {
                        ht.keyword(cx, hc, 0);
                    }
                }
                hosts.push((origin(c.keyword.span), h, ht));
            }
            ("DNS_CHECK", "type") => {
                if let Some(t) = cx.one_arg(c, "a query type") {
                    let up = t.text.to_ascii_uppercase();
                    match DnsType::ALL.iter().find(|(n, _)| *n == up) {
                        Some((_, ty)) => dns.qtype = *ty,
                        None => cx.push(
                            Diagnostic::error(
                                t.span,
                                format!("`{}` is not a DNS query type DNS_CHECK can send", t.text),
                            )
                            .with_help("use A, NS, CNAME, SOA, MX, TXT or AAAA"),
                        ),
                    }
                }
            }
            ("DNS_CHECK", "name") => {
                if let Some(t) = cx.one_arg(c, "a domain name") {
                    let n = t.text.strip_suffix('.').unwrap_or(&t.text);
                    if t.text != "." && n.split('.').any(|l| l.is_empty() || l.len() > 63) {
                        cx.push(
                            Diagnostic::error(
                                t.span,
                                format!("DNS name `{}` has an empty or over-long label", t.text),
                            )
                            .with_help("labels between dots must be 1..=63 characters"),
                        );
                    } else {
                        dns.name = t.text.clone();
                    }
                }
            }
            (_, "payload") => {
                if let Some(a) = cx.args_at_least(c, 1, "a hex string") {
                    udp.payload =
                        hex_bytes(cx, a, false).map(|v| v.iter().map(|b| b.value).collect());
                }
            }
            (_, "require_reply") => {
                udp.require_reply = if c.args.is_empty() {
                    Some(Vec::new())
                } else {
                    hex_bytes(cx, &c.args, true)
                };
            }
            (_, "min_reply_length") | (_, "max_reply_length") => {
                if let Some(t) = cx.one_arg(c, "a length 0..=65535") {
                    if let Some(v) = cx.uint(t, 0, 65535) {
                        let v = u16::try_from(v).unwrap_or(u16::MAX);
                        if c.keyword.text == "min_reply_length" {
                            udp.min_reply_length = v;
                            min_len_span = Some(t.span);
                        } else {
                            udp.max_reply_length = v;
                        }
                    }
                }
            }
            (_, "track_file") => {
                if let Some(t) = cx.one_arg(c, "a track_file name") {
                    file = Some(t.text.clone());
                }
            }
            ("FILE_CHECK", "weight") => {
                let Some(a) = cx.args_at_least(c, 1, "a weight") else {
                    continue;
                };
                let Some(w) = a.first() else { continue };
                if let Some(v) = cx.int(w, -2_147_483_647, 2_147_483_647) {
                    let reverse = match a.get(1) {
                        None => false,
                        Some(r) if r.text == "reverse" => true,
                        Some(r) => {
                            cx.error(r.span, format!("expected `reverse`, found `{}`", r.text));
                            false
                        }
                    };
                    file_weight = (i32::try_from(v).unwrap_or(1), reverse);
                }
            }
            (_, "misc_path") => {
                if let Some(t) = cx.one_arg(c, "a command line") {
                    let argv = super::super::vrrp::split_command(&t.text);
                    if argv.is_empty() {
                        cx.error(t.span, "the command line is empty");
                        continue;
                    }
                    let s = Script {
                        argv,
                        user: None,
                        group: None,
                    };
                    check_program(cx, "misc_path", t, &s);
                    misc_path = Some(s);
                }
            }
            (_, "misc_timeout") => {
                if let Some(t) = cx.one_arg(c, "a number of seconds") {
                    if let Some(v) = cx.uint(t, 0, MAX_MISC_TIMEOUT_S) {
                        misc_timeout = Duration::from_secs(v);
                    }
                }
            }
            (_, "misc_dynamic") => misc_dynamic = cx.flag(c).unwrap_or(true),
            (_, "user") => {
                if let Some(a) = cx.args_at_least(c, 1, "a user name") {
                    misc_user = (
                        a.first().map(|t| t.text.clone()),
                        a.get(1).map(|t| t.text.clone()),
                    );
                }
            }
            ("BFD_CHECK", "name") => {
                if let Some(t) = cx.one_arg(c, "a bfd_instance name") {
                    bfd = Some(t.text.clone());
                }
            }
            _ => {}
        }
    }

    let kspan = node.keyword.span;
    let (kind, default_port, needs_port, retry_default, retry_delay) = match name {
        "TCP_CHECK" => (CheckerKind::Tcp, None, true, 1, RetryDelay::Fixed(secs(1))),
        "HTTP_GET" | "SSL_GET" => {
            if http.urls.is_empty() {
                cx.push(
                    Diagnostic::error(kspan, format!("{name} has no `url` to fetch"))
                        .with_help("add `url { path / }` (keepalived ignores this checker)"),
                );
                return None;
            }
            let k = if name == "HTTP_GET" {
                CheckerKind::Http(http)
            } else {
                CheckerKind::Ssl(http)
            };
            (k, None, true, 1, RetryDelay::Fixed(secs(3)))
        }
        "SMTP_CHECK" => (
            CheckerKind::Smtp(SmtpCheck {
                helo_name: helo.unwrap_or_else(|| DEFAULT_HELO.to_string()),
            }),
            None,
            true,
            1,
            RetryDelay::Fixed(secs(1)),
        ),
        "DNS_CHECK" => (CheckerKind::Dns(dns), None, true, 3, RetryDelay::DelayLoop),
        "UDP_CHECK" => {
            if udp.min_reply_length > udp.max_reply_length {
                cx.push(
                    Diagnostic::warning(
                        min_len_span.unwrap_or(kspan),
                        format!(
                            "min_reply_length {} is above max_reply_length {}: the check always fails",
                            udp.min_reply_length, udp.max_reply_length
                        ),
                    )
                    .with_help("raise max_reply_length (default 255) or lower min_reply_length"),
                );
            }
            (
                CheckerKind::Udp(udp),
                None,
                true,
                1,
                RetryDelay::Fixed(secs(1)),
            )
        }
        "PING_CHECK" => (
            CheckerKind::Ping,
            None,
            false,
            1,
            RetryDelay::Fixed(secs(1)),
        ),
        "FILE_CHECK" => {
            let Some(track_file) = file else {
                cx.push(
                    Diagnostic::error(kspan, "FILE_CHECK has no `track_file`")
                        .with_help("add `track_file NAME` naming a top-level track_file block"),
                );
                return None;
            };
            (
                CheckerKind::File(FileCheck {
                    track_file,
                    weight: file_weight.0,
                    reverse: file_weight.1,
                }),
                None,
                false,
                1,
                RetryDelay::Fixed(secs(1)),
            )
        }
        "MISC_CHECK" => {
            let Some(path) = misc_path else {
                cx.push(
                    Diagnostic::error(kspan, "MISC_CHECK has no `misc_path`")
                        .with_help("add `misc_path \"/path/to/script args\"`"),
                );
                return None;
            };
            (
                CheckerKind::Misc(MiscCheck {
                    script: Script {
                        user: misc_user.0,
                        group: misc_user.1,
                        ..path
                    },
                    timeout: misc_timeout,
                    dynamic: misc_dynamic,
                }),
                None,
                false,
                0,
                RetryDelay::Fixed(secs(1)),
            )
        }
        "BFD_CHECK" => {
            let Some(n) = bfd else {
                cx.push(
                    Diagnostic::error(kspan, "BFD_CHECK has no `name`")
                        .with_help("add `name BFD_INSTANCE`"),
                );
                return None;
            };
            (
                CheckerKind::Bfd(BfdCheck { name: n }),
                None,
                false,
                1,
                RetryDelay::Fixed(secs(1)),
            )
        }
        _ => return None,
    };
    Some(PendingChecker {
        origin: origin(kspan),
        timing,
        conn: networked.then_some(conn),
        hosts,
        kind,
        default_port,
        needs_port,
        retry_default,
        retry_delay,
    })
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

impl ConnOpt {
    /// Host options over the checker's.
    fn or(&self, p: &ConnOpt) -> ConnOpt {
        ConnOpt {
            ip: self.ip.or(p.ip),
            port: self.port.or(p.port),
            bind_ip: self.bind_ip.or(p.bind_ip),
            bind_port: self.bind_port.or(p.bind_port),
            bind_if: self.bind_if.clone().or_else(|| p.bind_if.clone()),
            fwmark: self.fwmark.or(p.fwmark),
        }
    }
}

impl PendingChecker {
    /// The checker itself or, when it has SMTP `host { }` blocks, one checker per host
    /// instead (keepalived checks the hosts instead of the default target), each taking
    /// the checker's options as defaults.
    pub(crate) fn split_hosts(mut self) -> Vec<PendingChecker> {
        let hosts = std::mem::take(&mut self.hosts);
        if hosts.is_empty() {
            return vec![self];
        }
        let mut out = Vec::with_capacity(hosts.len());
        for (o, h, t) in hosts {
            let parent = self.conn.clone().unwrap_or_default();
            out.push(PendingChecker {
                origin: o,
                timing: t.or(self.timing),
                conn: Some(h.or(&parent)),
                hosts: Vec::new(),
                kind: self.kind.clone(),
                default_port: self.default_port,
                needs_port: self.needs_port,
                retry_default: self.retry_default,
                retry_delay: self.retry_delay,
            });
        }
        out
    }

    /// Fills in what the real and virtual server pass down; `None` (with an error) when
    /// the checker has nothing to connect to.
    pub(crate) fn resolve(
        self,
        cx: &mut Lowerer<'_>,
        parent: TimingOpt,
        rs_addr: IpAddr,
        rs_port: Option<u16>,
        vhost: Option<&str>,
    ) -> Option<Checker> {
        let timing = self
            .timing
            .or(parent)
            .resolve(self.retry_default, self.retry_delay);
        let name = self.kind.block_name();
        let connect = |cx: &mut Lowerer<'_>, c: &ConnOpt| -> Option<Connection> {
            let ip = c.ip.map_or(rs_addr, |x| x.0);
            let port = c.port.or(rs_port).or(self.default_port);
            if self.needs_port && port.is_none() {
                cx.push(
                    Diagnostic::error(
                        span(self.origin),
                        format!("{name} has no port to connect to"),
                    )
                    .with_help("add `connect_port`, or give the real server a port"),
                );
                return None;
            }
            if let Some((b, sp)) = c.bind_ip {
                let link_local = matches!(b, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
                if link_local && c.bind_if.is_none() {
                    cx.push(
                        Diagnostic::error(sp, format!("link-local bindto {b} needs a `bind_if`"))
                            .with_help("add `bind_if IFNAME` naming the interface of that address"),
                    );
                }
                if b.is_ipv4() != ip.is_ipv4() {
                    cx.push(
                        Diagnostic::error(
                            sp,
                            format!("bindto {b} and the target {ip} are of different families"),
                        )
                        .with_help("bind to an address of the target's family"),
                    );
                }
            }
            Some(Connection {
                ip,
                port: if self.needs_port { port } else { c.port },
                bind_ip: c.bind_ip.map(|x| x.0),
                bind_port: c.bind_port,
                bind_if: c.bind_if.clone(),
                fwmark: c.fwmark,
            })
        };
        let connection = match &self.conn {
            Some(c) => Some(connect(cx, c)?),
            None => None,
        };
        let kind = match self.kind {
            CheckerKind::Http(mut h) => {
                h.virtualhost = h.virtualhost.or(vhost.map(str::to_string));
                CheckerKind::Http(h)
            }
            CheckerKind::Ssl(mut h) => {
                h.virtualhost = h.virtualhost.or(vhost.map(str::to_string));
                CheckerKind::Ssl(h)
            }
            CheckerKind::Misc(mut m) => {
                if m.timeout.is_zero() {
                    m.timeout = timing.delay_loop;
                }
                CheckerKind::Misc(m)
            }
            k => k,
        };
        Some(Checker {
            origin: self.origin,
            timing,
            connection,
            kind,
        })
    }
}

fn lower_url(cx: &mut Lowerer<'_>, node: &Node) -> Option<Url> {
    let mut path = None;
    let mut digest = None;
    let mut codes: Vec<StatusRange> = Vec::new();
    let mut vhost = None;
    let mut regex: Option<String> = None;
    let mut no_match: Option<Span> = None;
    let mut options: Vec<String> = Vec::new();
    let mut stack = None;
    let mut min_off = None;
    let mut max_off = None;
    let mut regex_extra_span: Option<Span> = None;
    for c in cx.block(node) {
        if !cx.admit(c, &URL) {
            continue;
        }
        match c.keyword.text.as_str() {
            "path" => path = cx.one_arg(c, "a path").map(|t| t.text.clone()).or(path),
            "digest" => {
                if let Some(t) = cx.one_arg(c, "an MD5 digest") {
                    match Md5Digest::from_hex(&t.text) {
                        Some(d) => digest = Some(d),
                        None => cx.push(
                            Diagnostic::error(
                                t.span,
                                format!(
                                    "digest `{}` is not 32 hex characters ({} characters)",
                                    t.text,
                                    t.text.chars().count()
                                ),
                            )
                            .with_help("compute the MD5 of the page with `genhash`"),
                        ),
                    }
                }
            }
            "status_code" => {
                let Some(a) = cx.args_at_least(c, 1, "status codes or ranges") else {
                    continue;
                };
                for t in a {
                    match parse_status(&t.text) {
                        Some(r) => codes.push(r),
                        None => cx.push(
                            Diagnostic::error(
                                t.span,
                                format!(
                                    "`{}` is not a status code or range within 100..=599",
                                    t.text
                                ),
                            )
                            .with_help("write codes like 200 or ranges like 200-299"),
                        ),
                    }
                }
            }
            "virtualhost" => {
                vhost = cx
                    .one_arg(c, "a host name")
                    .map(|t| t.text.clone())
                    .or(vhost)
            }
            "regex" => regex = cx.one_arg(c, "a pattern").map(|t| t.text.clone()).or(regex),
            "regex_no_match" => {
                no_match = cx.flag(c).unwrap_or(true).then_some(c.keyword.span);
            }
            "regex_options" => {
                regex_extra_span.get_or_insert(c.keyword.span);
                for t in cx.args_at_least(c, 1, "option names").unwrap_or(&[]) {
                    if REGEX_OPTIONS.contains(&t.text.as_str()) {
                        options.push(t.text.clone());
                    } else {
                        let mut d = Diagnostic::error(
                            t.span,
                            format!("`{}` is not a regex option", t.text),
                        );
                        if let Some(s) = did_you_mean(&t.text, REGEX_OPTIONS.iter().copied()) {
                            d = d.with_help(format!("did you mean `{s}`?"));
                        }
                        cx.push(d);
                    }
                }
            }
            "regex_stack" => {
                regex_extra_span.get_or_insert(c.keyword.span);
                let Some(a) = cx.args_at_least(c, 2, "a start and a maximum size") else {
                    continue;
                };
                if let (Some(s), Some(m)) = (a.first(), a.get(1)) {
                    let s = cx.uint(s, 1, u64::from(u32::MAX));
                    let mx = cx.uint(m, 1, u64::from(u32::MAX));
                    if let (Some(s), Some(mx)) = (s, mx) {
                        if s > mx {
                            cx.error(m.span, "the maximum stack size is below the start size");
                        } else {
                            stack = Some((
                                u32::try_from(s).unwrap_or(u32::MAX),
                                u32::try_from(mx).unwrap_or(u32::MAX),
                            ));
                        }
                    }
                }
            }
            "regex_min_offset" | "regex_max_offset" => {
                regex_extra_span.get_or_insert(c.keyword.span);
                if let Some(t) = cx.one_arg(c, "an offset") {
                    if let Some(v) = cx.uint(t, 0, u64::from(u32::MAX)) {
                        let v = u32::try_from(v).ok();
                        if c.keyword.text == "regex_min_offset" {
                            min_off = v;
                        } else {
                            max_off = v;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if let (Some(a), Some(b)) = (min_off, max_off) {
        if a > b {
            cx.warning(
                node.keyword.span,
                format!("regex_min_offset {a} is above regex_max_offset {b}"),
            );
        }
    }
    let Some(path) = path else {
        cx.push(
            Diagnostic::error(node.keyword.span, "this `url` has no `path`")
                .with_help("add `path /` (keepalived ignores a url without path)"),
        );
        return None;
    };
    let regex = match regex {
        Some(pattern) => Some(RegexMatch {
            pattern,
            no_match: no_match.is_some(),
            options,
            stack,
            min_offset: min_off,
            max_offset: max_off,
        }),
        None => {
            if let Some(sp) = no_match.or(regex_extra_span) {
                cx.warning(sp, "regex settings without a `regex` have no effect");
            }
            None
        }
    };
    if codes.is_empty() {
        codes.push(StatusRange::SUCCESS);
    }
    Some(Url {
        origin: origin(node.keyword.span),
        path,
        digest,
        status_codes: codes,
        virtualhost: vhost,
        regex,
    })
}

fn parse_status(s: &str) -> Option<StatusRange> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    StatusRange::new(a.parse().ok()?, b.parse().ok()?)
}

/// keepalived's free-form hex strings: each word is read as pairs of hex digits from the
/// left, a lone last digit being a byte of its own (`Ab12f 3` = AB 12 0F 03). With
/// `wildcard`, `X`/`x` is a nibble that is not compared.
fn hex_bytes(cx: &mut Lowerer<'_>, toks: &[Token], wildcard: bool) -> Option<Vec<MaskedByte>> {
    let mut out = Vec::new();
    for t in toks {
        let nib = |c: char| -> Option<(u8, u8)> {
            if wildcard && (c == 'x' || c == 'X') {
                return Some((0, 0));
            }
            c.to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
                .map(|d| (d, 0xf))
        };
        let chars: Vec<char> = t.text.chars().collect();
        for pair in chars.chunks(2) {
            let parsed = match pair {
                [h, l] => nib(*h).zip(nib(*l)).map(|((hv, hm), (lv, lm))| MaskedByte {
                    value: (hv << 4) | lv,
                    mask: (hm << 4) | lm,
                }),
                [l] => nib(*l).map(|(lv, lm)| MaskedByte {
                    value: lv,
                    mask: 0xf0 | lm,
                }),
                _ => None,
            };
            match parsed {
                Some(b) => out.push(b),
                None => {
                    cx.push(
                        Diagnostic::error(t.span, format!("`{}` is not a hex string", t.text))
                            .with_help(if wildcard {
                                "use hex digits 0-9 a-f (and X for an ignored digit)"
                            } else {
                                "use hex digits 0-9 a-f"
                            }),
                    );
                    return None;
                }
            }
        }
    }
    Some(out)
}
