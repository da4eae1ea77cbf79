//! Keyword tables of the LVS blocks (keepalived 2.2.7) and the compatibility document
//! generated from them.

use crate::lower::{kw, BlockSpec, Keyword, Status};

use Status::{NotSupported as NS, ParsedOnly as P, Supported as S};

/// `virtual_server_group NAME { ... }`: address lines (`IP[-END] [PORT]`, `IP/LEN [PORT]`)
/// are not keywords; `fwmark` is the only keyword.
pub const VIRTUAL_SERVER_GROUP: BlockSpec = BlockSpec {
    name: "virtual_server_group",
    keywords: &[kw("fwmark", P)],
};

/// `virtual_server IP PORT | fwmark N | group NAME { ... }`.
pub const VIRTUAL_SERVER: BlockSpec = BlockSpec {
    name: "virtual_server",
    keywords: &[
        kw("ip_family", P),
        kw("delay_loop", S),
        kw("retry", S),
        kw("delay_before_retry", S),
        kw("warmup", S),
        kw("connect_timeout", S),
        kw("inhibit_on_failure", P),
        kw("lvs_sched", P),
        kw("lb_algo", P),
        kw("hashed", P),
        kw("ops", P),
        kw("flag-1", P),
        kw("flag-2", P),
        kw("flag-3", P),
        kw("sh-port", P),
        kw("sh-fallback", P),
        kw("mh-port", P),
        kw("mh-fallback", P),
        kw("lvs_method", P),
        kw("lb_kind", P),
        kw("persistence_engine", P),
        kw("persistence_timeout", P),
        kw("persistence_granularity", P),
        kw("protocol", P),
        kw("ha_suspend", S),
        kw("smtp_alert", S),
        kw("virtualhost", S),
        kw("snmp_name", NS),
        kw("alpha", S),
        kw("omega", S),
        kw("quorum", P),
        kw("quorum_up", P),
        kw("quorum_down", P),
        kw("hysteresis", P),
        kw("weight", P),
        kw("sorry_server", P),
        kw("sorry_server_inhibit", P),
        kw("sorry_server_lvs_method", P),
        kw("real_server", S),
    ],
};

/// `real_server IP [PORT] { ... }`.
pub const REAL_SERVER: BlockSpec = BlockSpec {
    name: "real_server",
    keywords: &[
        kw("weight", P),
        kw("lvs_method", P),
        kw("uthreshold", P),
        kw("lthreshold", P),
        kw("inhibit_on_failure", P),
        kw("notify_up", S),
        kw("notify_down", S),
        kw("smtp_alert", S),
        kw("virtualhost", S),
        kw("snmp_name", NS),
        kw("alpha", S),
        kw("delay_loop", S),
        kw("retry", S),
        kw("delay_before_retry", S),
        kw("warmup", S),
        kw("connect_timeout", S),
        kw("TCP_CHECK", S),
        kw("HTTP_GET", S),
        kw("SSL_GET", S),
        kw("SMTP_CHECK", S),
        kw("DNS_CHECK", S),
        kw("UDP_CHECK", S),
        kw("PING_CHECK", S),
        kw("FILE_CHECK", S),
        kw("MISC_CHECK", S),
        kw("BFD_CHECK", P),
    ],
};

macro_rules! net_checker {
    ($($extra:expr),* $(,)?) => {
        &[
            kw("connect_ip", S),
            kw("connect_port", S),
            kw("bindto", S),
            kw("bind_port", S),
            kw("bind_if", S),
            kw("fwmark", S),
            kw("alpha", S),
            kw("connect_timeout", S),
            kw("retry", S),
            kw("delay_before_retry", S),
            kw("warmup", S),
            kw("delay_loop", S),
            kw("log_all_failures", S),
            $($extra,)*
        ]
    };
}

/// `TCP_CHECK { ... }`: the common connection and timing options only.
pub const TCP_CHECK: BlockSpec = BlockSpec {
    name: "TCP_CHECK",
    keywords: net_checker!(),
};

/// `HTTP_GET { ... }`.
pub const HTTP_GET: BlockSpec = BlockSpec {
    name: "HTTP_GET",
    keywords: net_checker!(
        kw("http_protocol", S),
        kw("fast_recovery", S),
        kw("virtualhost", S),
        kw("enable_sni", S),
        kw("nb_get_retry", S),
        kw("url", S),
    ),
};

/// `SSL_GET { ... }`: as HTTP_GET, over TLS.
pub const SSL_GET: BlockSpec = BlockSpec {
    name: "SSL_GET",
    keywords: HTTP_GET.keywords,
};

/// `url { ... }` inside HTTP_GET / SSL_GET.
pub const URL: BlockSpec = BlockSpec {
    name: "url",
    keywords: &[
        kw("path", S),
        kw("digest", S),
        kw("status_code", S),
        kw("virtualhost", S),
        kw("regex", S),
        kw("regex_no_match", S),
        kw("regex_options", S),
        kw("regex_stack", S),
        kw("regex_min_offset", S),
        kw("regex_max_offset", S),
    ],
};

/// `SMTP_CHECK { ... }`.
pub const SMTP_CHECK: BlockSpec = BlockSpec {
    name: "SMTP_CHECK",
    keywords: net_checker!(kw("helo_name", S), kw("host", S)),
};

/// `host { ... }` inside SMTP_CHECK (deprecated by keepalived): an extra SMTP checker
/// with the common options, defaulting to its SMTP_CHECK's.
pub const SMTP_HOST: BlockSpec = BlockSpec {
    name: "host",
    keywords: net_checker!(),
};

/// `DNS_CHECK { ... }`.
pub const DNS_CHECK: BlockSpec = BlockSpec {
    name: "DNS_CHECK",
    keywords: net_checker!(kw("type", S), kw("name", S)),
};

/// `UDP_CHECK { ... }`.
pub const UDP_CHECK: BlockSpec = BlockSpec {
    name: "UDP_CHECK",
    keywords: net_checker!(
        kw("payload", S),
        kw("require_reply", S),
        kw("min_reply_length", S),
        kw("max_reply_length", S),
    ),
};

/// `PING_CHECK { ... }`.
pub const PING_CHECK: BlockSpec = BlockSpec {
    name: "PING_CHECK",
    keywords: net_checker!(),
};

/// `MISC_CHECK { ... }`: no connection options.
pub const MISC_CHECK: BlockSpec = BlockSpec {
    name: "MISC_CHECK",
    keywords: &[
        kw("misc_path", S),
        kw("misc_timeout", S),
        kw("misc_dynamic", S),
        kw("user", S),
        kw("alpha", S),
        kw("retry", S),
        kw("delay_before_retry", S),
        kw("warmup", S),
        kw("delay_loop", S),
        kw("log_all_failures", S),
    ],
};

/// `FILE_CHECK { ... }`.
pub const FILE_CHECK: BlockSpec = BlockSpec {
    name: "FILE_CHECK",
    keywords: &[kw("track_file", S), kw("weight", S), kw("dynamic", NS)],
};

/// `BFD_CHECK { ... }`.
pub const BFD_CHECK: BlockSpec = BlockSpec {
    name: "BFD_CHECK",
    keywords: &[kw("name", P), kw("alpha", P)],
};

/// The top-level `SSL { ... }` block (client context of SSL_GET).
pub const SSL: BlockSpec = BlockSpec {
    name: "SSL",
    keywords: &[
        kw("password", P),
        kw("ca", P),
        kw("certificate", S),
        kw("key", S),
    ],
};

/// Every LVS keyword table.
pub const LVS_BLOCKS: &[&BlockSpec] = &[
    &VIRTUAL_SERVER_GROUP,
    &VIRTUAL_SERVER,
    &REAL_SERVER,
    &TCP_CHECK,
    &HTTP_GET,
    &SSL_GET,
    &URL,
    &SMTP_CHECK,
    &SMTP_HOST,
    &DNS_CHECK,
    &UDP_CHECK,
    &PING_CHECK,
    &MISC_CHECK,
    &FILE_CHECK,
    &BFD_CHECK,
    &SSL,
];

/// Notes for the compatibility document: (block, keyword, note).
const NOTES: &[(&str, &str, &str)] = &[
    (
        "virtual_server",
        "smtp_alert",
        "quorum alerts (`[ROUTER_ID] Virtualserver VS - UP|DOWN`); default smtp_alert_checker, smtp_alert, off",
    ),
    (
        "real_server",
        "smtp_alert",
        "an alert per checker transition (`[ROUTER_ID] Realserver RS of virtual server VS - UP|DOWN`); default smtp_alert_checker, smtp_alert, on",
    ),
    (
        "virtual_server_group",
        "fwmark",
        "`fwmark N [inet|inet6]`; 0 is rejected (keepalived accepts it silently)",
    ),
    (
        "virtual_server",
        "ip_family",
        "only for fwmark/group services; must match an IP address",
    ),
    (
        "virtual_server",
        "delay_loop",
        "default 60 s, inherited by real servers and checkers",
    ),
    (
        "virtual_server",
        "retry",
        "1..; default 1 (DNS_CHECK 3, MISC_CHECK 0)",
    ),
    (
        "virtual_server",
        "delay_before_retry",
        "default 1 s (HTTP/SSL 3 s, DNS delay_loop)",
    ),
    ("virtual_server", "warmup", "default delay_loop; 0 disables"),
    (
        "virtual_server",
        "connect_timeout",
        "default 5 s, max 4294.967295 s",
    ),
    (
        "virtual_server",
        "lvs_sched",
        "rr wrr lc wlc lblc lblcr dh sh mh sed nq fo ovf twos; default wlc",
    ),
    ("virtual_server", "lb_algo", "old name of lvs_sched"),
    (
        "virtual_server",
        "ops",
        "UDP only (warning and ignored otherwise, as keepalived)",
    ),
    (
        "virtual_server",
        "sh-port",
        "scheduler flag 2; warning unless lvs_sched sh",
    ),
    (
        "virtual_server",
        "sh-fallback",
        "scheduler flag 1; warning unless lvs_sched sh",
    ),
    (
        "virtual_server",
        "mh-port",
        "scheduler flag 2; warning unless lvs_sched mh",
    ),
    (
        "virtual_server",
        "mh-fallback",
        "scheduler flag 1; warning unless lvs_sched mh",
    ),
    (
        "virtual_server",
        "lvs_method",
        "NAT (default), DR, TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]",
    ),
    ("virtual_server", "lb_kind", "old name of lvs_method"),
    (
        "virtual_server",
        "persistence_timeout",
        "1..=2678400 s; no value: 360 s",
    ),
    (
        "virtual_server",
        "persistence_granularity",
        "contiguous IPv4 netmask or IPv6 prefix 1..=128; implies persistence",
    ),
    (
        "virtual_server",
        "protocol",
        "TCP, UDP, SCTP; when missing keepalived 2.2.7 uses UDP (we warn); ignored for fwmark",
    ),
    (
        "virtual_server",
        "ha_suspend",
        "the checkers probe only while the service address is on this host (netlink address events, as keepalived); ignored with a warning for fwmark services (as keepalived) and group services",
    ),
    ("virtual_server", "snmp_name", "no SNMP in keepalived-rs"),
    (
        "virtual_server",
        "quorum",
        "1..; warning when above the total real-server weight",
    ),
    (
        "virtual_server",
        "weight",
        "1..=2147483647 (undocumented by keepalived)",
    ),
    (
        "virtual_server",
        "sorry_server_inhibit",
        "must follow sorry_server (as keepalived)",
    ),
    (
        "virtual_server",
        "sorry_server_lvs_method",
        "must follow sorry_server (as keepalived)",
    ),
    ("real_server", "weight", "0..=2147483647, default 1"),
    (
        "real_server",
        "lvs_method",
        "default: the virtual server's; TUN may cross address families; DR/TUN ports reset to the service port",
    ),
    (
        "real_server",
        "notify_up",
        "absolute script paths are checked (exists, executable)",
    ),
    (
        "real_server",
        "notify_down",
        "absolute script paths are checked (exists, executable)",
    ),
    ("real_server", "snmp_name", "no SNMP in keepalived-rs"),
    ("real_server", "retry", "1.. at this level"),
    ("HTTP_GET", "http_protocol", "1.0 (default), 1.0C, 1.1"),
    (
        "HTTP_GET",
        "nb_get_retry",
        "deprecated alias of retry (warning)",
    ),
    (
        "HTTP_GET",
        "url",
        "at least one url with a path is required",
    ),
    ("HTTP_GET", "retry", "0..; checker default 1"),
    ("HTTP_GET", "delay_before_retry", "default 3 s"),
    ("url", "digest", "32 hex characters (MD5, see genhash)"),
    (
        "url",
        "status_code",
        "codes or ranges within 100..=599; default 200-299",
    ),
    (
        "url",
        "regex_options",
        "PCRE2 option names as listed in keepalived.conf(5)",
    ),
    (
        "SMTP_CHECK",
        "helo_name",
        "default smtpchecker.keepalived.org",
    ),
    (
        "SMTP_CHECK",
        "host",
        "deprecated (warning); the hosts replace the default target, each an SMTP checker of its own",
    ),
    (
        "DNS_CHECK",
        "type",
        "A NS CNAME SOA MX TXT AAAA (any case); default SOA; retry default 3",
    ),
    ("DNS_CHECK", "name", "default `.`"),
    ("UDP_CHECK", "payload", "hex string, e.g. `Ab12f 3`"),
    (
        "UDP_CHECK",
        "require_reply",
        "optional hex pattern, X = ignored nibble",
    ),
    ("UDP_CHECK", "min_reply_length", "0..=65535, default 0"),
    ("UDP_CHECK", "max_reply_length", "0..=65535, default 255"),
    (
        "MISC_CHECK",
        "misc_path",
        "absolute program paths are checked (exists, executable)",
    ),
    (
        "MISC_CHECK",
        "misc_timeout",
        "seconds; default (or 0): delay_loop",
    ),
    ("MISC_CHECK", "retry", "default 0"),
    (
        "FILE_CHECK",
        "weight",
        "-2147483647..=2147483647 [reverse], default 1",
    ),
    (
        "FILE_CHECK",
        "dynamic",
        "documented but rejected by keepalived 2.2.7 itself",
    ),
    (
        "BFD_CHECK",
        "name",
        "name of a bfd_instance; BFD_CHECK is not run yet (no BFD in keepalived-rs)",
    ),
];

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Supported => "supported",
        Status::ParsedOnly => "parsed only",
        Status::NotSupported => "not supported",
    }
}

fn note(block: &str, k: &Keyword) -> &'static str {
    let first = NOTES
        .iter()
        .find(|(b, n, _)| *b == block && *n == k.name)
        .map(|(_, _, t)| *t);
    // SSL_GET shares HTTP_GET's notes.
    first
        .or_else(|| {
            (block == "SSL_GET")
                .then(|| {
                    NOTES
                        .iter()
                        .find(|(b, n, _)| *b == "HTTP_GET" && *n == k.name)
                        .map(|(_, _, t)| *t)
                })
                .flatten()
        })
        .unwrap_or("")
}

/// The compatibility document `docs/compat/lvs.md`, generated from [`LVS_BLOCKS`].
pub fn compat_markdown() -> String {
    let mut s = String::from(
        "# LVS keywords: keepalived-rs compatibility\n\n\
         Generated from the keyword tables in `crates/ka-config/src/lower/lvs/tables.rs`\n\
         (regenerate with `UPDATE_COMPAT=1 cargo test -p ka-config --test lower_lvs`).\n\
         Reference: keepalived 2.2.7, keepalived.conf(5) section LVS CONFIGURATION.\n\n\
         Status: *parsed only* = read, range-checked, defaulted and checked, not acted on yet;\n\
         *not supported* = recognised, warned about and ignored.\n\n\
         Defaults as keepalived 2.2.7 (from keepalived.conf(5), its source and `keepalived -t`):\n\
         delay_loop 60 s; connect_timeout 5 s; retry 1 (DNS_CHECK 3, MISC_CHECK 0);\n\
         delay_before_retry 1 s (HTTP_GET/SSL_GET 3 s, DNS_CHECK delay_loop); warmup = delay_loop;\n\
         weight 1; quorum 1; hysteresis 0; scheduler wlc; forwarding NAT; persistence 360 s when\n\
         implied; HTTP 1.0 and status 200-299; DNS SOA `.`; SMTP HELO\n\
         `smtpchecker.keepalived.org`; UDP reply length 0..=255; checkers connect to the real\n\
         server's address and port (else the virtual server's port). A virtual server without\n\
         `protocol` is **UDP** in keepalived 2.2.7 (we warn). Options set on a virtual server are\n\
         the defaults of its real servers, and those of a real server the defaults of its checkers.\n\n\
         Where keepalived silently drops or fixes something, keepalived-rs says so: real/sorry\n\
         servers of the wrong family (errors), undefined or empty groups, FILE_CHECK/BFD_CHECK\n\
         names that are not defined, checkers with no port to connect to, HTTP checkers\n\
         without a url, bad digests and status codes (errors); duplicate real servers, quorum\n\
         above the total weight, DR/TUN port changes, ports on fwmark services, missing or\n\
         non-executable scripts (warnings). Duplicate virtual servers are errors (IPVS would\n\
         refuse the second).\n",
    );
    for b in LVS_BLOCKS {
        s.push_str(&format!(
            "\n## {}\n\n| keyword | status | note |\n|---|---|---|\n",
            b.name
        ));
        for k in b.keywords {
            s.push_str(&format!(
                "| `{}` | {} | {} |\n",
                k.name,
                status_name(k.status),
                note(b.name, k).replace('|', "\\|")
            ));
        }
    }
    s
}
