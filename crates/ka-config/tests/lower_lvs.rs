//! Lowering of virtual_server_group, virtual_server, real_server and every checker.

// Test helpers outside #[test] functions: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ka_config::lower::lvs::{self, LVS_BLOCKS};
use ka_config::lower::{lower, Env, Lowering, Status};
use ka_config::source::{FileId, FileSystem};
use ka_config::syntax::{build_tree, tokenize};
use ka_config::{Diagnostic, Severity};
use ka_model::config::Config;
use ka_model::lvs::*;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

/// In-memory file system: path -> executable?
#[derive(Default)]
struct MemFs(BTreeMap<String, bool>);

impl FileSystem for MemFs {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            path.display().to_string(),
        ))
    }
    fn read_dir(&self, _: &Path) -> std::io::Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn exists(&self, path: &Path) -> bool {
        self.0.contains_key(path.to_str().unwrap_or(""))
    }
    fn is_executable(&self, path: &Path) -> bool {
        self.0
            .get(path.to_str().unwrap_or(""))
            .copied()
            .unwrap_or(false)
    }
}

fn fs() -> MemFs {
    let mut m = MemFs::default();
    m.0.insert("/bin/true".into(), true);
    m.0.insert("/etc/keepalived/check.sh".into(), true);
    m.0.insert("/etc/keepalived/notexec.sh".into(), false);
    m
}

fn run(text: &str) -> (Config, Vec<Diagnostic>) {
    let fs = fs();
    let env = Env {
        fs: &fs,
        interfaces: Some(vec!["lo".into(), "eth0".into()]),
    };
    let (tree, d0) = build_tree(tokenize(FileId(0), text));
    assert!(d0.is_empty(), "syntax: {d0:?}");
    // `-t` lowers without keeping the real servers: it must find exactly the same.
    let mut only = Lowering::diagnostics_only(&env);
    for node in &tree {
        only.node(node);
    }
    let (_, d_only) = only.finish();
    let (c, d) = lower(&tree, &env);
    assert_eq!(d, d_only, "diagnostics_only finds something else");
    (c, d)
}

/// Lowers and asserts there is no error (warnings allowed).
fn ok(text: &str) -> Config {
    let (c, d) = run(text);
    let errs: Vec<_> = d.iter().filter(|d| d.severity == Severity::Error).collect();
    assert!(errs.is_empty(), "unexpected errors: {errs:#?}");
    c
}

/// Lowers and asserts there is no diagnostic at all.
fn clean(text: &str) -> Config {
    let (c, d) = run(text);
    assert!(d.is_empty(), "unexpected diagnostics: {d:#?}");
    c
}

/// The diagnostic containing `needle`, with its line and column.
fn find<'d>(d: &'d [Diagnostic], needle: &str) -> (&'d Diagnostic, u32, u32) {
    let x = d
        .iter()
        .find(|x| x.message.contains(needle))
        .unwrap_or_else(|| panic!("no diagnostic containing {needle:?} in {d:#?}"));
    let s = x.span.expect("span");
    (x, s.line, s.col)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn vs0(c: &Config) -> &VirtualServer {
    &c.lvs.virtual_servers[0]
}

fn rs0(c: &Config) -> &RealServer {
    &c.lvs.virtual_servers[0].real_servers[0]
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ------------------------------------------------------------------ defaults

#[test]
fn minimal_virtual_server_gets_keepalived_defaults() {
    let c = clean(
        "virtual_server 192.0.2.1 80 {\n  protocol TCP\n  real_server 192.0.2.11 80 {\n    TCP_CHECK {\n    }\n  }\n}\n",
    );
    let vs = vs0(&c);
    assert_eq!(
        vs.address,
        VsAddress::Ip {
            addr: ip("192.0.2.1"),
            port: Some(80)
        }
    );
    assert_eq!(vs.family, IpFamily::Inet);
    assert_eq!(vs.protocol, Some(Protocol::Tcp));
    assert_eq!(vs.scheduler, Scheduler::Wlc);
    assert_eq!(vs.forwarding, Forwarding::Nat);
    assert_eq!(vs.persistence, None);
    assert_eq!(vs.quorum.get(), 1);
    assert_eq!(vs.hysteresis, 0);
    assert!(!vs.alpha && !vs.omega && !vs.ha_suspend);
    assert_eq!(vs.timing.delay_loop, secs(60));
    let rs = rs0(&c);
    assert_eq!(rs.weight.get(), 1);
    assert_eq!(rs.forwarding, Forwarding::Nat);
    assert!(!rs.inhibit_on_failure);
    let ch = &rs.checkers[0];
    assert_eq!(ch.kind, CheckerKind::Tcp);
    assert_eq!(
        ch.timing,
        CheckTiming {
            delay_loop: secs(60),
            retry: 1,
            delay_before_retry: secs(1),
            warmup: secs(60),
            connect_timeout: secs(5),
            alpha: false,
            log_all_failures: false,
        }
    );
    let conn = ch.connection.as_ref().unwrap();
    assert_eq!(conn.ip, ip("192.0.2.11"));
    assert_eq!(conn.port, Some(80));
    assert_eq!(conn.bind_ip, None);
}

#[test]
fn missing_protocol_defaults_to_udp_with_warning() {
    let (c, d) = run("virtual_server 192.0.2.1 53 {\n  real_server 192.0.2.11 53 {\n  }\n}\n");
    assert_eq!(vs0(&c).protocol, Some(Protocol::Udp));
    let (x, l, col) = find(&d, "no `protocol` set");
    assert_eq!((x.severity, l, col), (Severity::Warning, 1, 16));
    assert!(x.help.as_deref().unwrap().contains("protocol TCP"));
}

#[test]
fn inheritance_vs_to_rs_to_checker() {
    let c = clean(
        "virtual_server 192.0.2.1 80 {
  protocol TCP
  delay_loop 10
  retry 4
  delay_before_retry 2.5
  connect_timeout 3
  warmup 0
  alpha
  inhibit_on_failure
  virtualhost vs.example
  real_server 192.0.2.11 8080 {
    delay_loop 7
    HTTP_GET {
      retry 0
      url { path / }
    }
    DNS_CHECK {
    }
    MISC_CHECK {
      misc_path /bin/true
    }
  }
  real_server 192.0.2.12 8080 {
    inhibit_on_failure false
    virtualhost rs.example
    SSL_GET {
      url { path /x }
    }
  }
}
",
    );
    let vs = vs0(&c);
    assert!(vs.alpha && vs.inhibit_on_failure);
    let r1 = &vs.real_servers[0];
    assert!(r1.inhibit_on_failure);
    let http = &r1.checkers[0];
    assert_eq!(http.timing.delay_loop, secs(7));
    assert_eq!(http.timing.retry, 0);
    assert_eq!(http.timing.delay_before_retry, Duration::from_millis(2500));
    assert_eq!(http.timing.connect_timeout, secs(3));
    assert_eq!(http.timing.warmup, Duration::ZERO);
    assert!(http.timing.alpha);
    assert_eq!(http.connection.as_ref().unwrap().port, Some(8080));
    match &http.kind {
        CheckerKind::Http(h) => assert_eq!(h.virtualhost.as_deref(), Some("vs.example")),
        k => panic!("{k:?}"),
    }
    // vs retry 4 overrides DNS's own default 3.
    assert_eq!(r1.checkers[1].timing.retry, 4);
    match &r1.checkers[2].kind {
        CheckerKind::Misc(m) => assert_eq!(m.timeout, secs(7)),
        k => panic!("{k:?}"),
    }
    let r2 = &vs.real_servers[1];
    assert!(!r2.inhibit_on_failure);
    match &r2.checkers[0].kind {
        CheckerKind::Ssl(h) => assert_eq!(h.virtualhost.as_deref(), Some("rs.example")),
        k => panic!("{k:?}"),
    }
}

#[test]
fn checker_specific_defaults() {
    let c = clean(
        "virtual_server 192.0.2.1 80 {
  protocol TCP
  delay_loop 20
  real_server 192.0.2.11 80 {
    HTTP_GET { url { path / } }
    DNS_CHECK { }
    MISC_CHECK { misc_path /bin/true }
    SMTP_CHECK { }
    PING_CHECK { }
    UDP_CHECK { }
  }
}
",
    );
    let ck = &rs0(&c).checkers;
    assert_eq!(ck[0].timing.delay_before_retry, secs(3));
    assert_eq!(ck[0].timing.retry, 1);
    assert_eq!(ck[1].timing.retry, 3);
    assert_eq!(ck[1].timing.delay_before_retry, secs(20));
    assert_eq!(
        ck[1].kind,
        CheckerKind::Dns(DnsCheck {
            qtype: DnsType::Soa,
            name: ".".into()
        })
    );
    assert_eq!(ck[2].timing.retry, 0);
    assert!(ck[2].connection.is_none());
    match &ck[3].kind {
        CheckerKind::Smtp(s) => assert_eq!(s.helo_name, "smtpchecker.keepalived.org"),
        k => panic!("{k:?}"),
    }
    assert_eq!(ck[4].kind, CheckerKind::Ping);
    assert_eq!(ck[4].timing.delay_before_retry, secs(1));
    match &ck[5].kind {
        CheckerKind::Udp(u) => {
            assert_eq!((u.min_reply_length, u.max_reply_length), (0, 255));
            assert_eq!(u.payload, None);
            assert_eq!(u.require_reply, None);
        }
        k => panic!("{k:?}"),
    }
}

// ------------------------------------------------------------------ virtual server keywords

#[test]
fn scheduler_flags_forwarding_persistence() {
    let c = ok("virtual_server 192.0.2.1 5060 {
  protocol UDP
  lvs_sched sh
  sh-port
  sh-fallback
  flag-3
  ops
  hashed
  lb_kind TUN type gue port 6080 csum
  persistence_timeout
  persistence_granularity 255.255.255.0
  persistence_engine sip
  ha_suspend
  omega
  smtp_alert false
  snmp_name x
  quorum 2
  hysteresis 1
  weight 3
  real_server 192.0.2.11 5060 { weight 2 }
  real_server 2001:db8::12 5060 { weight 3 }
}
");
    let vs = vs0(&c);
    assert_eq!(vs.scheduler, Scheduler::Sh);
    assert_eq!(
        vs.flags,
        ServiceFlags {
            sched_flag_1: true,
            sched_flag_2: true,
            sched_flag_3: true,
            one_packet: true,
            hashed: true
        }
    );
    assert_eq!(
        vs.forwarding,
        Forwarding::Tun {
            kind: TunnelType::Gue { port: 6080 },
            checksum: TunnelChecksum::Csum
        }
    );
    assert_eq!(
        vs.persistence,
        Some(Persistence {
            timeout: secs(360),
            granularity_prefix: Some(24),
            engine: Some("sip".into())
        })
    );
    assert!(vs.ha_suspend && vs.omega);
    assert_eq!(vs.smtp_alert, Some(false));
    assert_eq!((vs.quorum.get(), vs.hysteresis, vs.weight.get()), (2, 1, 3));
    // Tunnelled real servers may be of the other family.
    assert_eq!(vs.real_servers.len(), 2);
    assert_eq!(vs.total_weight(), 5);
}

#[test]
fn every_scheduler_name() {
    for (name, s) in Scheduler::ALL {
        let c = clean(&format!(
            "virtual_server 192.0.2.1 80 {{\n protocol TCP\n lb_algo {name}\n real_server 192.0.2.2 80 {{ }}\n}}\n"
        ));
        assert_eq!(vs0(&c).scheduler, s);
    }
    let (_, d) = run("virtual_server 192.0.2.1 80 {\n protocol TCP\n lvs_sched wrrr\n real_server 192.0.2.2 80 { }\n}\n");
    let (x, l, col) = find(&d, "not an IPVS scheduler");
    assert_eq!((l, col), (3, 12));
    assert_eq!(x.help.as_deref(), Some("did you mean `wrr`?"));
}

#[test]
fn forwarding_methods() {
    let get = |m: &str| {
        let c = ok(&format!(
            "virtual_server 192.0.2.1 80 {{\n protocol TCP\n lvs_method {m}\n real_server 192.0.2.2 80 {{ }}\n}}\n"
        ));
        vs0(&c).forwarding
    };
    assert_eq!(get("DR"), Forwarding::Dr);
    assert_eq!(get("NAT"), Forwarding::Nat);
    assert_eq!(
        get("TUN"),
        Forwarding::Tun {
            kind: TunnelType::Ipip,
            checksum: TunnelChecksum::NoCsum
        }
    );
    assert_eq!(
        get("TUN type gre csum"),
        Forwarding::Tun {
            kind: TunnelType::Gre,
            checksum: TunnelChecksum::Csum
        }
    );
    for (bad, msg, col) in [
        ("dr", "not a forwarding method", 13),
        ("TUN type gue", "gue tunnel needs a port", 22),
        ("TUN type gre remcsum", "not available with gre", 26),
        ("TUN csum", "need a gue or gre tunnel", 17),
        ("TUN type vxlan", "not a tunnel type", 22),
    ] {
        let (_, d) = run(&format!(
            "virtual_server 192.0.2.1 80 {{\n protocol TCP\n lvs_method {bad}\n real_server 192.0.2.2 80 {{ }}\n}}\n"
        ));
        let (_, l, c) = find(&d, msg);
        assert_eq!((l, c), (3, col), "{bad}");
    }
}

#[test]
fn persistence_ranges_and_port_less_service() {
    let c = clean("virtual_server 192.0.2.1 {\n protocol TCP\n persistence_timeout 2678400\n real_server 192.0.2.2 { }\n}\n");
    assert_eq!(
        vs0(&c).persistence.as_ref().unwrap().timeout,
        secs(2_678_400)
    );
    assert_eq!(
        vs0(&c).address,
        VsAddress::Ip {
            addr: ip("192.0.2.1"),
            port: None
        }
    );
    let (_, d) = run("virtual_server 192.0.2.1 {\n protocol TCP\n real_server 192.0.2.2 { }\n}\n");
    let (_, l, c) = find(&d, "without a port must be persistent");
    assert_eq!((l, c), (1, 16));
    let (_, d) = run("virtual_server 192.0.2.1 80 {\n protocol TCP\n persistence_timeout 0\n persistence_granularity 255.0.255.0\n real_server 192.0.2.2 80 { }\n}\n");
    assert_eq!(find(&d, "out of range 1..=2678400").1, 3);
    assert_eq!(find(&d, "not contiguous").1, 4);
    let c = clean("virtual_server 2001:db8::1 80 {\n protocol TCP\n persistence_granularity 64\n real_server 2001:db8::2 80 { }\n}\n");
    assert_eq!(
        vs0(&c).persistence.as_ref().unwrap().granularity_prefix,
        Some(64)
    );
    let (_, d) = run("virtual_server 2001:db8::1 80 {\n protocol TCP\n persistence_granularity 255.255.0.0\n real_server 2001:db8::2 80 { }\n}\n");
    assert_eq!(find(&d, "granularity is for IPv4").1, 3);
}

#[test]
fn numeric_ranges_like_keepalived() {
    let (_, d) = run("virtual_server 192.0.2.1 80 {
 protocol TCP
 quorum 0
 hysteresis -1
 retry 0
 delay_loop 0
 connect_timeout 5000
 weight 0
 real_server 192.0.2.2 80 {
  weight -1
  uthreshold 5000000000
  retry 0
 }
}
");
    for (line, needle) in [
        (3, "0 is out of range 1..=4294967295"),
        (4, "`-1` is not a whole number"),
        (5, "0 is out of range 1..=4294967295"),
        (6, "0 seconds is out of range"),
        (7, "5000 seconds is out of range"),
        (8, "0 is out of range 1..=2147483647"),
        (10, "`-1` is not a whole number"),
        (11, "5000000000 is out of range"),
        (12, "0 is out of range 1..=4294967295"),
    ] {
        assert!(
            d.iter()
                .any(|x| x.span.unwrap().line == line && x.message.contains(needle)),
            "line {line}: {needle} in {d:#?}"
        );
    }
}

#[test]
fn ops_requires_udp_and_sh_flags_require_sh() {
    let (c, d) = run("virtual_server 192.0.2.1 80 {\n protocol TCP\n ops\n mh-port\n real_server 192.0.2.2 80 { }\n}\n");
    assert!(!vs0(&c).flags.one_packet);
    assert_eq!(find(&d, "`ops`").1, 3);
    let (x, l, _) = find(&d, "`mh-port` only means something to the mh scheduler");
    assert_eq!((x.severity, l), (Severity::Warning, 4));
    // A fwmark service keeps `ops` (keepalived 2.2.7 `-t` says nothing about it).
    let c = clean("virtual_server fwmark 1 {\n lb_kind DR\n ops\n real_server 192.0.2.2 { }\n}\n");
    assert!(vs0(&c).flags.one_packet);
}

#[test]
fn sorry_server() {
    let c = clean("virtual_server 192.0.2.1 80 {\n protocol TCP\n lvs_method DR\n sorry_server 192.0.2.9 8080\n sorry_server_inhibit\n sorry_server_lvs_method NAT\n real_server 192.0.2.2 80 { }\n}\n");
    let s = vs0(&c).sorry_server.as_ref().unwrap();
    assert_eq!(
        (s.addr, s.port, s.inhibit, s.forwarding),
        (ip("192.0.2.9"), Some(8080), true, Forwarding::Nat)
    );
    let c = clean("virtual_server 192.0.2.1 80 {\n protocol TCP\n lvs_method DR\n sorry_server 192.0.2.9 80\n real_server 192.0.2.2 80 { }\n}\n");
    assert_eq!(
        vs0(&c).sorry_server.as_ref().unwrap().forwarding,
        Forwarding::Dr
    );
    // Order matters, as in keepalived; and the family must match.
    let (c, d) = run("virtual_server 192.0.2.1 80 {\n protocol TCP\n sorry_server_inhibit\n sorry_server 2001:db8::9 80\n real_server 192.0.2.2 80 { }\n}\n");
    assert_eq!(find(&d, "before or without `sorry_server`").1, 3);
    let (x, l, col) = find(&d, "sorry server 2001:db8::9 is IPv6");
    assert_eq!((x.severity, l, col), (Severity::Error, 4, 15));
    assert!(vs0(&c).sorry_server.is_none());
}

#[test]
fn fwmark_and_group_services_take_family_from_servers() {
    let c = clean("virtual_server fwmark 7 {\n real_server 2001:db8::2 { }\n}\n");
    assert_eq!(vs0(&c).address, VsAddress::Fwmark(7));
    assert_eq!(vs0(&c).family, IpFamily::Inet6);
    assert_eq!(vs0(&c).protocol, None);
    let c = clean("virtual_server fwmark 7 {\n lvs_method TUN\n ip_family inet6\n real_server 192.0.2.2 { }\n}\n");
    assert_eq!(vs0(&c).family, IpFamily::Inet6);
    let (_, d) = run("virtual_server 192.0.2.1 80 {\n protocol TCP\n ip_family inet6\n real_server 192.0.2.2 80 { }\n}\n");
    assert_eq!(find(&d, "`ip_family` says IPv6").1, 3);
    let c = ok("virtual_server_group G6 {\n 2001:db8::1 80\n}\nvirtual_server group G6 {\n protocol TCP\n lvs_method TUN\n real_server 192.0.2.2 80 { }\n}\n");
    assert_eq!(vs0(&c).family, IpFamily::Inet6);
    let (_, d) = run("virtual_server fwmark 0 {\n real_server 192.0.2.2 80 { }\n}\n");
    assert_eq!(find(&d, "0 is out of range").2, 23);
}

// ------------------------------------------------------------------ real servers

#[test]
fn real_server_keywords() {
    let c = clean(
        "virtual_server 192.0.2.1 80 {
 protocol TCP
 real_server 192.0.2.2 80 {
  weight 0
  lvs_method DR
  uthreshold 100
  lthreshold 10
  inhibit_on_failure
  notify_up \"/etc/keepalived/check.sh up\" root
  notify_down /bin/true nobody nogroup
  smtp_alert
  alpha
  retry 2
  delay_before_retry 4
  warmup 1
  delay_loop 3
  connect_timeout 2
  virtualhost rs.example
 }
}
",
    );
    let rs = rs0(&c);
    assert_eq!(rs.port, Some(80));
    assert_eq!(rs.weight.get(), 0);
    assert_eq!(rs.forwarding, Forwarding::Dr);
    assert_eq!((rs.upper_threshold, rs.lower_threshold), (100, 10));
    assert!(rs.inhibit_on_failure);
    assert_eq!(
        rs.notify_up,
        Some(Script {
            argv: vec!["/etc/keepalived/check.sh".into(), "up".into()],
            user: Some("root".into()),
            group: None
        })
    );
    assert_eq!(
        rs.notify_down.as_ref().unwrap().group.as_deref(),
        Some("nogroup")
    );
    assert_eq!(rs.smtp_alert, Some(true));
    assert!(rs.timing.alpha);
    assert_eq!(rs.timing.retry, 2);
    assert_eq!(rs.timing.delay_before_retry, secs(4));
    assert_eq!(rs.timing.warmup, secs(1));
    assert_eq!(rs.timing.delay_loop, secs(3));
    assert_eq!(rs.timing.connect_timeout, secs(2));
    assert_eq!(rs.virtualhost.as_deref(), Some("rs.example"));
}

#[test]
fn real_server_family_mismatch_and_duplicates() {
    let (c, d) = run("virtual_server 192.0.2.1 80 {
 protocol TCP
 real_server 2001:db8::2 80 { }
 real_server 192.0.2.3 80 { }
 real_server 192.0.2.3 80 { }
 real_server 2001:db8::4 80 { lvs_method TUN }
}
");
    let (x, l, col) = find(
        &d,
        "real server 2001:db8::2 is IPv6 but the virtual server is IPv4",
    );
    // Reported at the closing brace, where keepalived reports it.
    assert_eq!((x.severity, l, col), (Severity::Error, 3, 31));
    assert!(x.help.as_deref().unwrap().contains("TUN"));
    let (x, l, _) = find(&d, "listed twice");
    assert_eq!((x.severity, l), (Severity::Warning, 5));
    // The mismatched one and the duplicate are dropped; the tunnelled IPv6 one stays.
    let addrs: Vec<_> = vs0(&c).real_servers.iter().map(|r| r.addr).collect();
    assert_eq!(addrs, vec![ip("192.0.2.3"), ip("2001:db8::4")]);
}

#[test]
fn scripts_must_exist_and_be_executable() {
    let (_, d) = run("virtual_server 192.0.2.1 80 {
 protocol TCP
 quorum_up /nonexistent/up.sh
 quorum_down \"/etc/keepalived/notexec.sh down\"
 real_server 192.0.2.2 80 {
  notify_up /etc/keepalived/missing.sh
  notify_down \"relative.sh\"
  MISC_CHECK {
   misc_path \"/etc/keepalived/notexec.sh -x\"
  }
 }
}
");
    let (x, l, col) = find(&d, "quorum_up script `/nonexistent/up.sh` does not exist");
    assert_eq!((x.severity, l, col), (Severity::Warning, 3, 12));
    let (x, l, col) = find(
        &d,
        "quorum_down script `/etc/keepalived/notexec.sh` is not executable",
    );
    assert_eq!((l, col), (4, 14));
    assert_eq!(
        x.help.as_deref(),
        Some("run `chmod +x /etc/keepalived/notexec.sh`")
    );
    assert_eq!(find(&d, "missing.sh").1, 6);
    assert_eq!(
        d.iter().filter(|x| x.message.contains("notexec")).count(),
        2,
        "{d:#?}"
    );
    assert!(!d.iter().any(|x| x.message.contains("relative")));
}

#[test]
fn quorum_above_total_weight() {
    let (_, d) = run("virtual_server 192.0.2.1 80 {\n protocol TCP\n quorum 5\n real_server 192.0.2.2 80 { weight 2 }\n real_server 192.0.2.3 80 { weight 2 }\n}\n");
    let (x, l, col) = find(&d, "quorum 5 exceeds the total weight 4");
    assert_eq!((x.severity, l, col), (Severity::Warning, 3, 9));
    clean("virtual_server 192.0.2.1 80 {\n protocol TCP\n quorum 4\n hysteresis 1\n real_server 192.0.2.2 80 { weight 2 }\n real_server 192.0.2.3 80 { weight 2 }\n}\n");
    let (_, d) = run("virtual_server 192.0.2.1 80 {\n protocol TCP\n quorum 2\n hysteresis 2\n real_server 192.0.2.2 80 { weight 2 }\n}\n");
    assert_eq!(find(&d, "hysteresis 2 is not below quorum 2").1, 3);
}

// ------------------------------------------------------------------ groups

#[test]
fn virtual_server_group_entries() {
    let c = ok("virtual_server_group G1 {
  192.0.2.1-10 80
  192.0.2.250-192.0.3.10 80
  192.0.2.16/29 443
  192.0.2.100
  2001:db8::1-ff 80
  fwmark 5 inet
  fwmark 6 inet6
}
virtual_server group G1 {
  protocol TCP
  lvs_method TUN
  real_server 192.0.2.200 80 { }
}
");
    let g = &c.lvs.groups[0];
    assert_eq!(g.name, "G1");
    let r = |e: &VsgEntry| match e {
        VsgEntry::Range(r) => (r.first(), r.last(), r.port),
        _ => panic!("{e:?}"),
    };
    assert_eq!(
        r(&g.entries[0]),
        (ip("192.0.2.1"), ip("192.0.2.10"), Some(80))
    );
    assert_eq!(
        r(&g.entries[1]),
        (ip("192.0.2.250"), ip("192.0.3.10"), Some(80))
    );
    assert_eq!(
        r(&g.entries[2]),
        (ip("192.0.2.16"), ip("192.0.2.23"), Some(443))
    );
    assert_eq!(
        r(&g.entries[3]),
        (ip("192.0.2.100"), ip("192.0.2.100"), None)
    );
    assert_eq!(
        r(&g.entries[4]),
        (ip("2001:db8::1"), ip("2001:db8::ff"), Some(80))
    );
    assert_eq!(
        g.entries[5],
        VsgEntry::Fwmark {
            mark: 5,
            family: Some(IpFamily::Inet)
        }
    );
    assert_eq!(
        g.entries[6],
        VsgEntry::Fwmark {
            mark: 6,
            family: Some(IpFamily::Inet6)
        }
    );
    assert_eq!(vs0(&c).address, VsAddress::Group("G1".into()));
}

#[test]
fn virtual_server_group_mistakes() {
    let (_, d) = run("virtual_server_group G {
  192.0.2.9-1 80
  192.0.2.1-300 80
  bogus 80
  192.0.2.1 99999
  fwmark 0
  fwmark 3 inet7
  192.0.2.40-45 80
  192.0.2.44 80
}
virtual_server_group E {
}
");
    assert_eq!(find(&d, "end is below the start").1, 2);
    assert_eq!(find(&d, "`192.0.2.1-300` is not a valid group entry").1, 3);
    assert_eq!(find(&d, "`bogus` is not a valid group entry").1, 4);
    assert_eq!(find(&d, "99999 is out of range").2, 13);
    assert_eq!(find(&d, "0 is out of range 1..").1, 6);
    assert_eq!(find(&d, "`inet7` is not an address family").2, 12);
    let (x, l, _) = find(&d, "overlaps an earlier entry");
    assert_eq!((x.severity, l), (Severity::Warning, 9));
    let (x, l, col) = find(&d, "group `E` has no entries");
    assert_eq!((x.severity, l, col), (Severity::Warning, 12, 1));
}

#[test]
fn group_references_are_checked() {
    let (_, d) = run("virtual_server_group WEB {\n 192.0.2.1 80\n}\nvirtual_server group WBE {\n protocol TCP\n real_server 192.0.2.5 80 { }\n}\nvirtual_server group NONE {\n protocol TCP\n real_server 192.0.2.5 80 { }\n}\n");
    let (x, l, col) = find(&d, "group `WBE` is not defined");
    assert_eq!((x.severity, l, col), (Severity::Error, 4, 22));
    assert_eq!(x.help.as_deref(), Some("did you mean `WEB`?"));
    let (x, _, _) = find(&d, "group `NONE` is not defined");
    assert!(x
        .help
        .as_deref()
        .unwrap()
        .contains("virtual_server_group NONE"));
    // Defined after its use is fine (keepalived resolves at the end too).
    clean("virtual_server group LATE {\n protocol TCP\n real_server 192.0.2.5 80 { }\n}\nvirtual_server_group LATE {\n 192.0.2.1 80\n}\n");
}

#[test]
fn group_family_must_match_non_tunnelled_real_servers() {
    // Group defined first: the virtual server takes its family.
    let (_, d) = run("virtual_server_group G6 {\n 2001:db8::1 80\n}\nvirtual_server group G6 {\n protocol TCP\n real_server 192.0.2.5 80 { }\n}\n");
    let (x, l, col) = find(
        &d,
        "real server 192.0.2.5 is IPv4 but the virtual server is IPv6",
    );
    assert_eq!((x.severity, l, col), (Severity::Error, 6, 29));
    // Group defined after its use: checked once everything is read.
    let (_, d) = run("virtual_server group G6 {\n protocol TCP\n real_server 192.0.2.5 80 { }\n}\nvirtual_server_group G6 {\n 2001:db8::1 80\n}\n");
    let (x, l, col) = find(
        &d,
        "real server 192.0.2.5 is IPv4 but group `G6` has IPv6 entries",
    );
    assert_eq!((x.severity, l, col), (Severity::Error, 3, 14));
    let (_, d) = run("virtual_server_group M {\n 2001:db8::1 80\n 192.0.2.1 80\n fwmark 4\n}\n");
    assert_eq!(find(&d, "fwmark without family").1, 1);
}

#[test]
fn duplicate_virtual_servers_and_groups() {
    let (_, d) = run("virtual_server_group G {\n 192.0.2.1 80\n}\nvirtual_server_group G {\n 192.0.2.2 80\n}\nvirtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 192.0.2.5 80 { }\n}\nvirtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 192.0.2.6 80 { }\n}\nvirtual_server 192.0.2.1 80 {\n protocol UDP\n real_server 192.0.2.6 80 { }\n}\n");
    let (x, l, col) = find(&d, "group `G` is defined twice");
    assert_eq!((x.severity, l, col), (Severity::Error, 4, 22));
    let dups: Vec<_> = d
        .iter()
        .filter(|x| x.message.contains("virtual server is defined twice"))
        .collect();
    assert_eq!(dups.len(), 1, "{d:#?}");
    assert_eq!(dups[0].span.unwrap().line, 11);
    assert!(dups[0].help.as_deref().unwrap().contains("line 7"));
}

// ------------------------------------------------------------------ checkers

#[test]
fn common_checker_options() {
    let c = clean(
        "virtual_server 192.0.2.1 80 {
 protocol TCP
 real_server 192.0.2.2 80 {
  TCP_CHECK {
   connect_ip 192.0.2.3
   connect_port 8080
   bindto 192.0.2.1
   bind_port 40000
   bind_if eth0
   fwmark 9
   alpha
   connect_timeout 0.5
   retry 0
   delay_before_retry 0
   warmup 2
   delay_loop 1.25
   log_all_failures
  }
 }
}
",
    );
    let ch = &rs0(&c).checkers[0];
    assert_eq!(
        ch.connection,
        Some(Connection {
            ip: ip("192.0.2.3"),
            port: Some(8080),
            bind_ip: Some(ip("192.0.2.1")),
            bind_port: Some(40000),
            bind_if: Some("eth0".into()),
            fwmark: Some(9)
        })
    );
    assert_eq!(
        ch.timing,
        CheckTiming {
            delay_loop: Duration::from_millis(1250),
            retry: 0,
            delay_before_retry: Duration::ZERO,
            warmup: secs(2),
            connect_timeout: Duration::from_millis(500),
            alpha: true,
            log_all_failures: true
        }
    );
}

#[test]
fn checker_connection_mistakes() {
    let (_, d) = run("virtual_server fwmark 3 {
 real_server 192.0.2.2 {
  TCP_CHECK {
   connect_port 0
   bind_port 70000
   bindto 2001:db8::1
   bind_if eth9
  }
  TCP_CHECK {
  }
  PING_CHECK {
  }
 }
}
");
    assert_eq!(find(&d, "0 is out of range 1..=65535").1, 4);
    assert_eq!(find(&d, "70000 is out of range 1..=65535").1, 5);
    assert_eq!(find(&d, "interface `eth9` does not exist").1, 7);
    let (x, l, col) = find(&d, "TCP_CHECK has no port to connect to");
    assert_eq!((x.severity, l, col), (Severity::Error, 3, 3));
    assert_eq!(
        d.iter()
            .filter(|x| x.message.contains("no port to connect"))
            .count(),
        2
    );
    assert!(!d.iter().any(|x| x.message.contains("PING_CHECK")));
}

#[test]
fn bindto_family_mismatch() {
    let (_, d) = run("virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 192.0.2.2 80 {\n  TCP_CHECK {\n   bindto 2001:db8::1\n  }\n }\n}\n");
    let (x, l, col) = find(&d, "different families");
    assert_eq!((x.severity, l, col), (Severity::Error, 5, 11));
}

#[test]
fn http_get_urls() {
    let c = clean(
        "virtual_server 192.0.2.1 80 {
 protocol TCP
 real_server 192.0.2.2 80 {
  HTTP_GET {
   http_protocol 1.0C
   fast_recovery
   enable_sni
   virtualhost chk.example
   url {
    path /health
    digest FF20AD2481F97B1754EF3E12ECD3A9CC
    status_code 200-299 404 503
    virtualhost url.example
    regex \"^OK\"
    regex_no_match
    regex_options caseless multiline
    regex_stack 1024 65536
    regex_min_offset 0
    regex_max_offset 100
   }
   url {
    path /
   }
  }
 }
}
",
    );
    let CheckerKind::Http(h) = &rs0(&c).checkers[0].kind else {
        panic!()
    };
    assert_eq!(h.protocol, HttpProtocol::V1_0C);
    assert!(h.fast_recovery && h.enable_sni);
    assert_eq!(h.virtualhost.as_deref(), Some("chk.example"));
    let u = &h.urls[0];
    assert_eq!(u.path, "/health");
    assert_eq!(
        u.digest.map(|d| d.to_hex()).as_deref(),
        Some("ff20ad2481f97b1754ef3e12ecd3a9cc")
    );
    let codes: Vec<_> = u
        .status_codes
        .iter()
        .map(|r| (r.first(), r.last()))
        .collect();
    assert_eq!(codes, vec![(200, 299), (404, 404), (503, 503)]);
    assert_eq!(u.virtualhost.as_deref(), Some("url.example"));
    assert_eq!(
        u.regex,
        Some(RegexMatch {
            pattern: "^OK".into(),
            no_match: true,
            options: vec!["caseless".into(), "multiline".into()],
            stack: Some((1024, 65536)),
            min_offset: Some(0),
            max_offset: Some(100)
        })
    );
    let d = &h.urls[1];
    assert_eq!(d.digest, None);
    assert_eq!(d.status_codes, vec![StatusRange::SUCCESS]);
    assert_eq!(d.regex, None);
}

#[test]
fn http_get_mistakes() {
    let (c, d) = run("virtual_server 192.0.2.1 80 {
 protocol TCP
 real_server 192.0.2.2 80 {
  HTTP_GET {
   http_protocol 2.0
   nb_get_retry 2
   url {
    digest 1234
    status_code 99 600 300-200 abc 200
   }
   url {
    path /
    regex_no_match
    regex_options casless
   }
  }
  SSL_GET {
  }
 }
}
");
    assert_eq!(find(&d, "`2.0` is not an HTTP version").1, 5);
    let (x, l, _) = find(&d, "`nb_get_retry` is deprecated");
    assert_eq!((x.severity, l), (Severity::Warning, 6));
    let (x, l, col) = find(&d, "digest `1234` is not 32 hex characters");
    assert_eq!((l, col), (8, 12));
    assert!(x.help.as_deref().unwrap().contains("genhash"));
    for (col, code) in [
        (17, "`99`"),
        (20, "`600`"),
        (24, "`300-200`"),
        (32, "`abc`"),
    ] {
        let (_, l, c) = find(&d, &format!("{code} is not a status code"));
        assert_eq!((l, c), (9, col), "{code}");
    }
    assert_eq!(find(&d, "this `url` has no `path`").1, 7);
    assert_eq!(find(&d, "regex settings without a `regex`").1, 13);
    let (x, _, _) = find(&d, "`casless` is not a regex option");
    assert_eq!(x.help.as_deref(), Some("did you mean `caseless`?"));
    let (_, l, col) = find(&d, "SSL_GET has no `url`");
    assert_eq!((l, col), (17, 3));
    // The url without path is dropped, the HTTP_GET stays with one url and retry 2.
    let ch = &rs0(&c).checkers;
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].timing.retry, 2);
}

#[test]
fn smtp_check() {
    let c = ok("virtual_server 192.0.2.1 25 {
 protocol TCP
 real_server 192.0.2.2 {
  SMTP_CHECK {
   helo_name mail.example
   connect_timeout 10
   host {
    connect_ip 192.0.2.3
    connect_port 587
    bindto 192.0.2.1
    retry 5
   }
   host {
    connect_ip 192.0.2.4
   }
  }
 }
}
");
    let ch = &rs0(&c).checkers;
    // The hosts replace the default target: one checker per host.
    assert_eq!(ch.len(), 2, "one checker per host block");
    let CheckerKind::Smtp(s) = &ch[0].kind else {
        panic!()
    };
    assert_eq!(s.helo_name, "mail.example");
    assert_eq!(ch[1].kind, ch[0].kind);
    let c1 = ch[0].connection.as_ref().unwrap();
    assert_eq!(
        (c1.ip, c1.port, c1.bind_ip),
        (ip("192.0.2.3"), Some(587), Some(ip("192.0.2.1")))
    );
    // Host timing defaults to the checker's, and can be overridden.
    assert_eq!(ch[0].timing.connect_timeout, secs(10));
    assert_eq!(ch[0].timing.retry, 5);
    assert_eq!(ch[0].origin.line, 7);
    // No port anywhere else: the virtual server's port 25.
    let c2 = ch[1].connection.as_ref().unwrap();
    assert_eq!((c2.ip, c2.port), (ip("192.0.2.4"), Some(25)));
    assert_eq!(ch[1].timing.retry, 1);
    assert_eq!(ch[1].timing.connect_timeout, secs(10));
    // Without host blocks, the checker targets the real server.
    let c = ok("virtual_server 192.0.2.1 25 {\n protocol TCP\n real_server 192.0.2.2 2525 {\n  SMTP_CHECK { }\n }\n}\n");
    let c0 = rs0(&c).checkers[0].connection.clone().unwrap();
    assert_eq!((c0.ip, c0.port), (ip("192.0.2.2"), Some(2525)));
    // fwmark service, port-less real server: keepalived has no SMTP default port.
    let (_, d) =
        run("virtual_server fwmark 1 {\n real_server 192.0.2.2 {\n  SMTP_CHECK { }\n }\n}\n");
    assert_eq!(find(&d, "SMTP_CHECK has no port to connect to").1, 3);
    let (_, d) = run("virtual_server fwmark 1 {\n real_server 192.0.2.2 {\n  SMTP_CHECK {\n   host {\n    helo_name x\n   }\n  }\n }\n}\n");
    let (x, l, _) = find(&d, "unknown keyword `helo_name` in host");
    assert_eq!((x.severity, l), (Severity::Error, 5));
}

#[test]
fn dns_check() {
    let c = clean("virtual_server fwmark 1 {\n real_server 192.0.2.2 {\n  DNS_CHECK {\n   type aaaa\n   name example.com\n   connect_port 53\n  }\n }\n}\n");
    let ch = &rs0(&c).checkers[0];
    assert_eq!(ch.connection.as_ref().unwrap().port, Some(53));
    assert_eq!(
        ch.kind,
        CheckerKind::Dns(DnsCheck {
            qtype: DnsType::Aaaa,
            name: "example.com".into()
        })
    );
    let (_, d) = run("virtual_server fwmark 1 {\n real_server 192.0.2.2 {\n  DNS_CHECK {\n   type BOGUS\n  }\n }\n}\n");
    assert_eq!(find(&d, "DNS_CHECK has no port to connect to").1, 3);
    let (x, l, col) = find(&d, "`BOGUS` is not a DNS query type");
    assert_eq!((l, col), (4, 9));
    assert!(x.help.as_deref().unwrap().contains("AAAA"));
}

#[test]
fn udp_check_hex_strings() {
    let c = clean(
        "virtual_server 192.0.2.1 53 {
 protocol UDP
 real_server 192.0.2.2 53 {
  UDP_CHECK {
   payload Ab12f 3 456 546443123
   require_reply 0aXx f
   min_reply_length 2
   max_reply_length 512
  }
 }
}
",
    );
    let CheckerKind::Udp(u) = &rs0(&c).checkers[0].kind else {
        panic!()
    };
    assert_eq!(
        u.payload.as_deref(),
        Some(&[0xAB, 0x12, 0x0F, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03][..])
    );
    assert_eq!(
        u.require_reply.as_deref(),
        Some(
            &[
                MaskedByte {
                    value: 0x0a,
                    mask: 0xff
                },
                MaskedByte { value: 0, mask: 0 },
                MaskedByte {
                    value: 0x0f,
                    mask: 0xff
                }
            ][..]
        )
    );
    assert_eq!((u.min_reply_length, u.max_reply_length), (2, 512));
    let c = clean("virtual_server 192.0.2.1 53 {\n protocol UDP\n real_server 192.0.2.2 53 {\n  UDP_CHECK {\n   require_reply\n  }\n }\n}\n");
    let CheckerKind::Udp(u) = &rs0(&c).checkers[0].kind else {
        panic!()
    };
    assert_eq!(u.require_reply, Some(vec![]));
    let (_, d) = run("virtual_server 192.0.2.1 53 {\n protocol UDP\n real_server 192.0.2.2 53 {\n  UDP_CHECK {\n   payload zz\n   min_reply_length 300\n   max_reply_length 70000\n  }\n }\n}\n");
    assert_eq!(find(&d, "`zz` is not a hex string").2, 12);
    assert_eq!(find(&d, "70000 is out of range 0..=65535").1, 7);
    let (x, l, _) = find(&d, "min_reply_length 300 is above max_reply_length 255");
    assert_eq!((x.severity, l), (Severity::Warning, 6));
}

#[test]
fn file_misc_bfd_checks() {
    let c = ok("track_file tf1 {
 file /tmp/tf1
}
track_file tf2 {
 file /tmp/tf2
}
bfd_instance bfd1 {
 neighbor_ip 192.0.2.2
}
virtual_server 192.0.2.1 80 {
 protocol TCP
 delay_loop 9
 real_server 192.0.2.2 80 {
  FILE_CHECK {
   track_file tf1
   weight -5 reverse
  }
  FILE_CHECK {
   track_file tf2
  }
  MISC_CHECK {
   misc_path \"/etc/keepalived/check.sh --fast\"
   misc_timeout 4
   misc_dynamic
   user nobody nogroup
   retry 2
  }
  BFD_CHECK {
   name bfd1
   alpha
  }
 }
}
");
    let ch = &rs0(&c).checkers;
    assert_eq!(
        ch[0].kind,
        CheckerKind::File(FileCheck {
            track_file: "tf1".into(),
            weight: -5,
            reverse: true
        })
    );
    assert!(ch[0].connection.is_none());
    assert_eq!(
        ch[1].kind,
        CheckerKind::File(FileCheck {
            track_file: "tf2".into(),
            weight: 1,
            reverse: false
        })
    );
    assert_eq!(
        ch[2].kind,
        CheckerKind::Misc(MiscCheck {
            script: Script {
                argv: vec!["/etc/keepalived/check.sh".into(), "--fast".into()],
                user: Some("nobody".into()),
                group: Some("nogroup".into())
            },
            timeout: secs(4),
            dynamic: true
        })
    );
    assert_eq!(ch[2].timing.retry, 2);
    assert_eq!(
        ch[3].kind,
        CheckerKind::Bfd(BfdCheck {
            name: "bfd1".into()
        })
    );
    assert!(ch[3].timing.alpha);
}

#[test]
fn file_misc_bfd_mistakes() {
    let (c, d) = run("virtual_server 192.0.2.1 80 {
 protocol TCP
 real_server 192.0.2.2 80 {
  FILE_CHECK {
   weight 5 backwards
   dynamic
   delay_loop 3
  }
  MISC_CHECK {
   misc_timeout 5000
   connect_timeout 3
  }
  BFD_CHECK {
  }
 }
}
");
    assert_eq!(find(&d, "expected `reverse`").1, 5);
    let (x, l, _) = find(&d, "`dynamic` is not supported");
    assert_eq!((x.severity, l), (Severity::Warning, 6));
    assert_eq!(find(&d, "unknown keyword `delay_loop` in FILE_CHECK").1, 7);
    assert_eq!(find(&d, "FILE_CHECK has no `track_file`").1, 4);
    assert_eq!(find(&d, "5000 is out of range 0..=4294").1, 10);
    assert_eq!(
        find(&d, "unknown keyword `connect_timeout` in MISC_CHECK").1,
        11
    );
    assert_eq!(find(&d, "MISC_CHECK has no `misc_path`").1, 9);
    assert_eq!(find(&d, "BFD_CHECK has no `name`").1, 13);
    assert!(rs0(&c).checkers.is_empty());
}

// ------------------------------------------------------------------ unknown keywords

#[test]
fn unknown_keywords_get_did_you_mean() {
    let (_, d) = run("virtual_server 192.0.2.1 80 {
 protocol TCP
 delay_lop 5
 real_server 192.0.2.2 80 {
  wieght 3
  HTTP_GET {
   url {
    pth /
   }
  }
 }
}
");
    let (x, l, col) = find(&d, "unknown keyword `delay_lop` in virtual_server");
    assert_eq!((l, col), (3, 2));
    assert_eq!(x.help.as_deref(), Some("did you mean `delay_loop`?"));
    let (x, _, _) = find(&d, "unknown keyword `wieght` in real_server");
    assert_eq!(x.help.as_deref(), Some("did you mean `weight`?"));
    let (x, _, _) = find(&d, "unknown keyword `pth` in url");
    assert_eq!(x.help.as_deref(), Some("did you mean `path`?"));
}

/// Wraps `line` into the block `block` so that it sits where keepalived expects it.
fn in_block(block: &str, line: &str) -> String {
    let vs = |inner: &str| {
        format!("virtual_server 192.0.2.1 80 {{\n protocol TCP\n{inner}\n real_server 192.0.2.2 80 {{ }}\n}}\n")
    };
    let rs = |inner: &str| vs(&format!(" real_server 192.0.2.3 80 {{\n{inner}\n }}"));
    match block {
        "virtual_server_group" => format!("virtual_server_group G {{\n 192.0.2.1 80\n{line}\n}}\n"),
        "virtual_server" => vs(line),
        "real_server" => rs(line),
        "url" => rs(&format!(
            "  HTTP_GET {{\n   url {{\n    path /\n{line}\n   }}\n  }}"
        )),
        "host" => rs(&format!("  SMTP_CHECK {{\n   host {{\n{line}\n   }}\n  }}")),
        "SSL" => format!("SSL {{\n{line}\n}}\n"),
        checker => rs(&format!("  {checker} {{\n{line}\n  }}")),
    }
}

#[test]
fn every_table_keyword_is_known() {
    let mut n = 0;
    for b in LVS_BLOCKS {
        if b.name == "SSL" {
            // Routed by the top-level table, which is not ours; lower it directly below.
            continue;
        }
        for k in b.keywords {
            let line = format!("    {} 1", k.name);
            let text = in_block(b.name, &line);
            let (_, d) = run(&text);
            let bad: Vec<_> = d
                .iter()
                .filter(|x| x.message.contains("unknown keyword"))
                .collect();
            assert!(bad.is_empty(), "{} / {}: {bad:#?}\n{text}", b.name, k.name);
            if k.status == Status::NotSupported {
                assert!(
                    d.iter().any(|x| x.message.contains("is not supported")),
                    "{} / {} should warn",
                    b.name,
                    k.name
                );
            }
            n += 1;
        }
    }
    assert!(n > 150, "only {n} keywords checked");
}

#[test]
fn ssl_block() {
    let fs = fs();
    let env = Env {
        fs: &fs,
        interfaces: None,
    };
    let (tree, _) = build_tree(tokenize(
        FileId(0),
        "SSL {\n password secret\n ca /etc/ssl/ca.pem\n certificate /bin/true\n key k.pem\n bogus 1\n}\n",
    ));
    let mut cx = ka_config::lower::Lowerer::new(&env);
    let mut cfg = Config::default();
    lvs::lower_top(&mut cx, &mut cfg, &tree[0]);
    let ssl = cfg.lvs.ssl.unwrap();
    assert_eq!(ssl.password.as_deref(), Some("secret"));
    assert_eq!(ssl.certificate.as_deref(), Some("/bin/true"));
    assert_eq!(ssl.key.as_deref(), Some("k.pem"));
    assert!(find(&cx.diags, "unknown keyword `bogus` in SSL").1 == 6);
    assert!(find(&cx.diags, "`/etc/ssl/ca.pem` does not exist").1 == 1);
}

#[test]
fn model_serialises_to_json() {
    let c = clean("virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 192.0.2.2 80 {\n  HTTP_GET {\n   url {\n    path /\n    digest ff20ad2481f97b1754ef3e12ecd3a9cc\n   }\n  }\n }\n}\n");
    let j = serde_json::to_value(&c.lvs).unwrap();
    let vs = &j["virtual_servers"][0];
    assert_eq!(vs["protocol"], "TCP");
    assert_eq!(vs["scheduler"], "wlc");
    let ck = &vs["real_servers"][0]["checkers"][0];
    assert_eq!(ck["kind"]["type"], "http");
    assert_eq!(
        ck["kind"]["urls"][0]["digest"],
        "ff20ad2481f97b1754ef3e12ecd3a9cc"
    );
    assert_eq!(ck["kind"]["protocol"], "1.0");
}

// ------------------------------------------------------------------ docs and sample configs

#[test]
fn compat_doc_matches_tables() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/compat/lvs.md");
    let want = lvs::compat_markdown();
    if std::env::var_os("UPDATE_COMPAT").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/compat/lvs.md is out of date: run UPDATE_COMPAT=1 cargo test -p ka-config --test lower_lvs"
    );
}

fn sample(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/configs/lvs")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn sample_configs_valid() {
    for name in ["web-nat.conf", "dr-group-fwmark.conf", "all-checkers.conf"] {
        let (c, d) = run(&sample(name));
        let errs: Vec<_> = d.iter().filter(|d| d.severity == Severity::Error).collect();
        assert!(errs.is_empty(), "{name}: {errs:#?}");
        assert!(!c.lvs.virtual_servers.is_empty(), "{name}");
    }
}

#[test]
fn sample_configs_with_mistakes() {
    let (_, d) = run(&sample("mistakes.conf"));
    // Each deliberate mistake is marked in the file with `# MISTAKE: <needle>` on its line.
    let text = sample("mistakes.conf");
    let mut n = 0;
    for (i, l) in text.lines().enumerate() {
        if let Some((_, needle)) = l.split_once("# MISTAKE: ") {
            let line = u32::try_from(i + 1).unwrap();
            assert!(
                d.iter()
                    .any(|x| x.span.map(|s| s.line) == Some(line) && x.message.contains(needle)),
                "line {line}: expected {needle:?} in {d:#?}"
            );
            n += 1;
        }
    }
    assert!(n >= 8, "{n}");
}

#[test]
fn file_and_bfd_references_are_checked() {
    let (_, d) = run("track_file ready {
 file /tmp/ready
}
virtual_server 192.0.2.1 80 {
 protocol TCP
 real_server 192.0.2.2 80 {
  FILE_CHECK {
   track_file raedy
  }
  BFD_CHECK {
   name nobfd
  }
 }
}
");
    let (x, l, col) = find(
        &d,
        "FILE_CHECK refers to `raedy`, which is not a defined track_file",
    );
    assert_eq!((x.severity, l, col), (Severity::Error, 7, 3));
    assert_eq!(x.help.as_deref(), Some("did you mean `ready`?"));
    let (x, l, _) = find(&d, "BFD_CHECK refers to `nobfd`");
    assert_eq!(l, 10);
    assert!(x.help.as_deref().unwrap().contains("bfd_instance nobfd"));
}

#[test]
fn fwmark_real_server_ports_are_ignored() {
    let (_, d) = run("virtual_server fwmark 3 {\n real_server 192.0.2.2 80 { }\n}\n");
    let (x, l, col) = find(&d, "port 80 of a real server of a fwmark service");
    assert_eq!((x.severity, l, col), (Severity::Warning, 2, 14));
    let (_, d) = run("virtual_server_group G {\n 192.0.2.1 80\n fwmark 4\n}\nvirtual_server group G {\n protocol TCP\n real_server 192.0.2.2 80 { }\n}\n");
    let (x, l, _) = find(&d, "group `G` has fwmark entries");
    assert_eq!((x.severity, l), (Severity::Warning, 7));
}

#[test]
fn keepalived_port_and_fwmark_fixups() {
    let (c, d) = run("virtual_server 192.0.2.1 {
 protocol TCP
 real_server 192.0.2.51 80 { }
}
virtual_server 192.0.2.2 80 {
 protocol TCP
 lvs_method DR
 sorry_server 192.0.2.9 81
 real_server 192.0.2.51 8080 { }
 real_server 192.0.2.52 { }
}
virtual_server fwmark 9 {
 protocol TCP
 ha_suspend
 lvs_method DR
 sorry_server 192.0.2.9 81
 real_server 192.0.2.51 8080 {
  TCP_CHECK { }
 }
}
");
    let vs = &c.lvs.virtual_servers;
    // Port-less, non-persistent: keepalived makes it persistent.
    let (x, l, _) = find(&d, "without a port must be persistent");
    assert_eq!((x.severity, l), (Severity::Warning, 1));
    assert_eq!(vs[0].persistence.as_ref().unwrap().timeout, secs(360));
    // DR cannot change ports: reset to the virtual server's.
    let (_, l, col) = find(&d, "real server port 8080 differs");
    assert_eq!((l, col), (9, 14));
    assert_eq!(vs[1].real_servers[0].port, Some(80));
    assert_eq!(vs[1].real_servers[1].port, None);
    assert_eq!(find(&d, "sorry server port 81 differs").1, 8);
    assert_eq!(vs[1].sorry_server.as_ref().unwrap().port, Some(80));
    // fwmark: protocol and ha_suspend ignored, ports cleared (checker keeps its port).
    assert_eq!(find(&d, "`protocol` is ignored for a fwmark service").1, 12);
    assert_eq!(find(&d, "`ha_suspend` cannot be used").1, 12);
    assert_eq!(vs[2].protocol, None);
    assert!(!vs[2].ha_suspend);
    assert_eq!(find(&d, "sorry server of a fwmark service").1, 16);
    assert_eq!(vs[2].sorry_server.as_ref().unwrap().port, None);
    assert_eq!(vs[2].real_servers[0].port, None);
    assert_eq!(
        vs[2].real_servers[0].checkers[0]
            .connection
            .as_ref()
            .unwrap()
            .port,
        Some(8080)
    );
}

#[test]
fn smtp_host_dns_name_and_link_local_bindto() {
    let (_, d) = run("virtual_server 2001:db8::1 80 {
 protocol TCP
 real_server 2001:db8::2 80 {
  TCP_CHECK {
   bindto fe80::1
  }
  TCP_CHECK {
   bindto fe80::1
   bind_if eth0
  }
  SMTP_CHECK {
   host {
    connect_ip 2001:db8::3
   }
  }
  DNS_CHECK {
   name a..b
  }
  DNS_CHECK {
   name example.com.
  }
 }
}
");
    let (x, l, col) = find(&d, "link-local bindto fe80::1 needs a `bind_if`");
    assert_eq!((x.severity, l, col), (Severity::Error, 5, 11));
    assert_eq!(
        d.iter()
            .filter(|x| x.message.contains("link-local"))
            .count(),
        1
    );
    let (x, l, _) = find(&d, "`host` block is deprecated");
    assert_eq!((x.severity, l), (Severity::Warning, 12));
    assert_eq!(find(&d, "DNS name `a..b` has an empty").1, 17);
    assert!(!d.iter().any(|x| x.message.contains("example.com.")));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    const ARGS: &[&str] = &[
        "",
        "0",
        "1",
        "-1",
        "65536",
        "4294967296",
        "1.5",
        "0.000001",
        "TUN",
        "type",
        "gue",
        "port",
        "gre",
        "csum",
        "remcsum",
        "inet6",
        "192.0.2.1",
        "2001:db8::1",
        "fe80::1",
        "192.0.2.1-300",
        "2001:db8::1-ffff1",
        "192.0.2.8/33",
        "x",
        "XX",
        "/bin/true",
        "\"/nonexistent a b\"",
        "200-",
        "-",
        "..",
        ".",
        "255.255.255.255",
        "sh",
        "{",
        "}",
    ];

    fn word() -> impl Strategy<Value = String> {
        let kws: Vec<&'static str> = LVS_BLOCKS
            .iter()
            .flat_map(|b| b.keywords.iter().map(|k| k.name))
            .chain(["virtual_server", "virtual_server_group", "group", "fwmark"])
            .collect();
        prop_oneof![
            proptest::sample::select(kws).prop_map(str::to_string),
            proptest::sample::select(ARGS).prop_map(str::to_string),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// Random lines made of real keywords and awkward arguments never panic.
        #[test]
        fn lowering_never_panics(lines in proptest::collection::vec(proptest::collection::vec(word(), 1..5), 1..40)) {
            let mut text = String::from("virtual_server 192.0.2.1 80 {\n real_server 192.0.2.2 80 {\n  HTTP_GET {\n");
            for l in &lines {
                text.push_str(&l.join(" "));
                text.push('\n');
            }
            let fs = fs();
            let env = Env { fs: &fs, interfaces: None };
            let (tree, _) = build_tree(tokenize(FileId(0), &text));
            let _ = lower(&tree, &env);
            let (tree, _) = build_tree(tokenize(FileId(0), &lines.iter().map(|l| l.join(" ")).collect::<Vec<_>>().join("\n")));
            let _ = lower(&tree, &env);
        }
    }
}

/// Every keyword our tables accept (other than not-supported ones) is accepted by the real
/// keepalived 2.2.7 too, when it is installed (`keepalived -t`). Skipped otherwise.
#[test]
fn tables_agree_with_real_keepalived() {
    let probe = |text: &str, n: usize| -> Option<String> {
        let path =
            std::env::temp_dir().join(format!("ka-lvs-probe-{}-{n}.conf", std::process::id()));
        std::fs::write(&path, text).ok()?;
        let out = std::process::Command::new("keepalived")
            .args(["-t", "-l", "-D", "-f"])
            .arg(&path)
            .output()
            .ok();
        let _ = std::fs::remove_file(&path);
        let out = out?;
        Some(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    };
    // The probe must be able to fail: a bogus keyword is reported.
    let Some(log) = probe(&in_block("real_server", "    bogus_keyword 1"), 0) else {
        panic!("keepalived is not installed (apt-get install keepalived; .ci/run does)");
    };
    assert!(log.contains("Unknown keyword 'bogus_keyword'"), "{log}");
    let mut n = 0;
    for b in LVS_BLOCKS {
        for k in b.keywords {
            if k.status == Status::NotSupported || k.name == "real_server" {
                continue;
            }
            let opens_block = LVS_BLOCKS.iter().any(|x| x.name == k.name);
            let line = if opens_block {
                format!("    {} {{\n    }}", k.name)
            } else {
                format!("    {} 1", k.name)
            };
            let log = probe(&in_block(b.name, &line), 1).unwrap();
            assert!(
                !log.contains("Unknown keyword"),
                "keepalived rejects {} / {}: {log}",
                b.name,
                k.name
            );
            n += 1;
        }
    }
    assert!(n > 150);
}

/// keepalived's own sample configurations with virtual servers lower without errors
/// (the Debian package's samples; .ci/run installs keepalived).
#[test]
fn keepalived_samples_have_no_errors() {
    let Ok(dir) = std::fs::read_dir("/usr/share/doc/keepalived/samples") else {
        panic!("keepalived's samples are not installed (apt-get install keepalived; .ci/run does)");
    };
    let mut n = 0;
    for e in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let has_vs = text
            .lines()
            .any(|l| l.trim_start().starts_with("virtual_server "));
        // Conditional lines (`@id ...`) need the preprocessor.
        let conditional = text.lines().any(|l| l.trim_start().starts_with('@'));
        if !has_vs || conditional {
            continue;
        }
        let (c, d) = run(&text);
        // Only the LVS blocks are ours: keep errors inside virtual_server(_group) blocks.
        let (tree, _) = build_tree(tokenize(FileId(0), &text));
        let ranges: Vec<(u32, u32)> = tree
            .iter()
            .filter(|n| n.keyword.text.starts_with("virtual_server"))
            .map(|n| {
                let end = n
                    .block
                    .as_ref()
                    .and_then(|b| b.close)
                    .map_or(u32::MAX, |s| s.line);
                (n.keyword.span.line, end)
            })
            .collect();
        let errs: Vec<_> = d
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .filter(|d| {
                d.span
                    .is_some_and(|s| ranges.iter().any(|(a, b)| (*a..=*b).contains(&s.line)))
            })
            .collect();
        assert!(errs.is_empty(), "{}: {errs:#?}", e.path().display());
        assert!(!c.lvs.virtual_servers.is_empty());
        n += 1;
    }
    assert!(n >= 10, "{n} samples");
}

#[test]
fn two_dynamic_misc_checks_warn() {
    let (_, d) = run("virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 192.0.2.2 80 {\n  MISC_CHECK {\n   misc_path /bin/true\n   misc_dynamic\n  }\n  MISC_CHECK {\n   misc_path /bin/true\n   misc_dynamic\n  }\n }\n}\n");
    let (x, l, col) = find(&d, "more than one `misc_dynamic`");
    assert_eq!((x.severity, l, col), (Severity::Warning, 8, 3));
    clean("virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 192.0.2.2 80 {\n  MISC_CHECK {\n   misc_path /bin/true\n   misc_dynamic\n  }\n  MISC_CHECK {\n   misc_path /bin/true\n  }\n }\n}\n");
}

/// The valid sample configurations pass the real `keepalived -t` (exit 0) and the one
/// with mistakes fails it, when keepalived is installed.
#[test]
fn samples_agree_with_real_keepalived() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/configs/lvs");
    let status = |name: &str| {
        std::process::Command::new("keepalived")
            .args(["-t", "-l", "-D", "-f"])
            .arg(dir.join(name))
            .output()
            .ok()
            .map(|o| o.status.code())
    };
    let Some(code) = status("web-nat.conf") else {
        panic!("keepalived is not installed (apt-get install keepalived; .ci/run does)");
    };
    assert_eq!(code, Some(0), "web-nat.conf");
    for name in ["dr-group-fwmark.conf", "all-checkers.conf"] {
        assert_eq!(status(name).flatten(), Some(0), "{name}");
    }
    assert_ne!(status("mistakes.conf").flatten(), Some(0));
}
