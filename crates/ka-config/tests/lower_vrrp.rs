//! Lowering of global_defs, static addresses/routes/rules, tracking objects, scripts, sync
//! groups and vrrp_instance: typed values, keepalived 2.2.7 defaults, and every check.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a panic here is a failed test

use ka_config::lower::vrrp::{self as lv, VRRP_BLOCKS};
use ka_config::lower::{lower, Env};
use ka_config::source::{FileId, FileSystem};
use ka_config::syntax::{build_tree, tokenize};
use ka_config::{Diagnostic, Severity};
use ka_model::config::Config;
use ka_model::vrrp::net::*;
use ka_model::vrrp::*;
use ka_model::{Centisecs, Priority, VrrpVersion};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

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

fn run(text: &str) -> (Config, Vec<Diagnostic>) {
    let mut fs = MemFs::default();
    fs.0.insert("/etc/keepalived/check.sh".into(), true);
    fs.0.insert("/etc/keepalived/notify.sh".into(), true);
    fs.0.insert("/etc/keepalived/notexec.sh".into(), false);
    let env = Env {
        fs: &fs,
        interfaces: Some(vec!["lo".into(), "eth0".into(), "eth1".into()]),
    };
    let (tree, d0) = build_tree(tokenize(FileId(0), text));
    assert!(d0.is_empty(), "syntax: {d0:?}");
    lower(&tree, &env)
}

fn errors(d: &[Diagnostic]) -> Vec<&Diagnostic> {
    d.iter().filter(|d| d.severity == Severity::Error).collect()
}

const SCRIPT_SECURITY: &str = "scripts are configured but enable_script_security is not set";

/// Lowers and asserts there is no diagnostic at all (the file-wide script-security note
/// aside: `script_security_note` tests it).
fn clean(text: &str) -> Config {
    let (c, d) = run(text);
    let d: Vec<_> = d
        .into_iter()
        .filter(|x| x.message != SCRIPT_SECURITY)
        .collect();
    assert!(d.is_empty(), "unexpected diagnostics: {d:#?}");
    c
}

/// Lowers and asserts there is no error (warnings allowed).
fn ok(text: &str) -> (Config, Vec<Diagnostic>) {
    let (c, d) = run(text);
    assert!(errors(&d).is_empty(), "unexpected errors: {d:#?}");
    (c, d)
}

/// Asserts a diagnostic of `sev` containing `needle` at line:col.
fn has(d: &[Diagnostic], sev: Severity, needle: &str, line: u32, col: u32) {
    let found = d.iter().any(|x| {
        x.severity == sev
            && x.message.contains(needle)
            && x.span.is_some_and(|s| s.line == line && s.col == col)
    });
    assert!(
        found,
        "no {sev:?} containing {needle:?} at {line}:{col} in {d:#?}"
    );
}

fn inst(c: &Config, name: &str) -> VrrpInstance {
    c.vrrp
        .instances
        .iter()
        .find(|i| i.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("no instance {name}: {:#?}", c.vrrp.instances))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const BASIC: &str = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        192.0.2.10/24\n    }\n}\n";

// ---------------------------------------------------------------------------------------
// vrrp_instance: defaults

#[test]
fn instance_defaults() {
    let c = clean(BASIC);
    let i = inst(&c, "VI_1");
    assert_eq!(i.vrid.get(), 51);
    assert_eq!(i.priority, Priority(100));
    assert_eq!(i.initial_state, InitialState::Backup);
    assert_eq!(i.version, VrrpVersion::V2);
    assert_eq!(i.advert_int_cs, Centisecs(100));
    assert!(!i.ipv6);
    assert!(i.accept, "accept is on by default outside strict mode");
    assert!(!i.nopreempt);
    assert_eq!(i.preempt_delay, Duration::ZERO);
    assert_eq!(i.down_timer_adverts, 3);
    assert_eq!(i.mcast_dst_ip, ip("224.0.0.18"));
    assert!(!i.lower_prio_no_advert);
    assert_eq!(
        i.garp,
        GarpSettings {
            master_delay_secs: 5,
            master_repeat: 5,
            lower_prio_delay_secs: 5,
            lower_prio_repeat: 5,
            master_refresh_secs: 0,
            master_refresh_repeat: 1,
            extra_if: None,
        }
    );
    assert_eq!(i.interface.as_deref(), Some("eth0"));
    assert_eq!(i.virtual_ipaddresses.len(), 1);
    assert_eq!(
        i.virtual_ipaddresses[0].prefix,
        IpPrefix::new(ip("192.0.2.10"), 24).unwrap()
    );
    assert!(i.authentication.is_none());
    assert!(!i.smtp_alert);
}

#[test]
fn state_master_without_priority_is_owner() {
    let c = clean(&BASIC.replace("interface eth0", "interface eth0\n    state MASTER"));
    let i = inst(&c, "VI_1");
    assert_eq!(i.priority, Priority(255));
    assert_eq!(i.initial_state, InitialState::Master);
}

#[test]
fn state_master_with_priority_keeps_it() {
    let c = clean(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    state MASTER\n    priority 150",
    ));
    let i = inst(&c, "VI_1");
    assert_eq!(i.priority, Priority(150));
    assert_eq!(i.initial_state, InitialState::Master);
}

#[test]
fn priority_255_starts_master_unless_nopreempt() {
    let c = clean(&BASIC.replace("interface eth0", "interface eth0\n    priority 255"));
    assert_eq!(inst(&c, "VI_1").initial_state, InitialState::Master);
    let c = clean(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    priority 255\n    nopreempt",
    ));
    assert_eq!(inst(&c, "VI_1").initial_state, InitialState::Backup);
    assert!(inst(&c, "VI_1").nopreempt);
}

#[test]
fn priority_out_of_range_is_an_error() {
    let (_, d) = run(&BASIC.replace("interface eth0", "interface eth0\n    priority 300"));
    has(&d, Severity::Error, "out of range 1..=255", 3, 14);
    // keepalived falls back to 100, also with state MASTER (not 255).
    let (c, _) = run(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    state MASTER\n    priority 300",
    ));
    assert_eq!(inst(&c, "VI_1").priority, Priority(100));
    let (_, d) = run(&BASIC.replace("interface eth0", "interface eth0\n    priority 0"));
    has(&d, Severity::Error, "out of range", 3, 14);
}

#[test]
fn vrid_is_required_and_ranged() {
    let (c, d) = run(&BASIC.replace("    virtual_router_id 51\n", ""));
    has(&d, Severity::Error, "has no virtual_router_id", 1, 1);
    assert!(c.vrrp.instances.is_empty());
    let (_, d) = run(&BASIC.replace("virtual_router_id 51", "virtual_router_id 256"));
    has(&d, Severity::Error, "out of range 1..=255", 3, 23);
}

#[test]
fn interface_is_required_without_unicast() {
    let (_, d) = run(&BASIC.replace("    interface eth0\n", ""));
    has(&d, Severity::Error, "has no interface", 1, 1);
    // With unicast peers it may be omitted.
    ok(&BASIC.replace(
        "    interface eth0\n",
        "    unicast_peer {\n        192.0.2.2\n    }\n",
    ));
}

#[test]
fn state_values() {
    let (c, d) = run(&BASIC.replace("interface eth0", "interface eth0\n    state master"));
    has(&d, Severity::Error, "`master` is not a state", 3, 11);
    assert!(d
        .iter()
        .any(|x| x.help.as_deref() == Some("states are upper case: `MASTER`")));
    assert_eq!(inst(&c, "VI_1").initial_state, InitialState::Backup);
}

// ---------------------------------------------------------------------------------------
// advert_int and versions

#[test]
fn advert_int_v2_rounds_to_whole_seconds() {
    let (c, d) = ok(&BASIC.replace("interface eth0", "interface eth0\n    advert_int 0.5"));
    assert_eq!(inst(&c, "VI_1").advert_int_cs, Centisecs(100));
    has(&d, Severity::Warning, "rounded to 1 s", 3, 16);
    let (c, _) = ok(&BASIC.replace("interface eth0", "interface eth0\n    advert_int 2.6"));
    assert_eq!(inst(&c, "VI_1").advert_int_cs, Centisecs(300));
    let (c, _) = ok(&BASIC.replace("interface eth0", "interface eth0\n    advert_int 2.4"));
    assert_eq!(inst(&c, "VI_1").advert_int_cs, Centisecs(200));
    // Never rounded down to zero: keepalived 2.2.7 sends intvl 1s for advert_int 0.4
    // (checked with tcpdump in a network namespace).
    let (c, _) = ok(&BASIC.replace("interface eth0", "interface eth0\n    advert_int 0.2"));
    assert_eq!(inst(&c, "VI_1").advert_int_cs, Centisecs(100));
    let c = clean(&BASIC.replace("interface eth0", "interface eth0\n    advert_int 3"));
    assert_eq!(inst(&c, "VI_1").advert_int_cs, Centisecs(300));
}

#[test]
fn advert_int_v3_centiseconds_and_cap() {
    let c = clean(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    version 3\n    advert_int 0.01",
    ));
    assert_eq!(inst(&c, "VI_1").advert_int_cs, Centisecs(1));
    assert_eq!(inst(&c, "VI_1").version, VrrpVersion::V3);
    let (c, d) = ok(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    version 3\n    advert_int 0.015",
    ));
    assert_eq!(inst(&c, "VI_1").advert_int_cs, Centisecs(2));
    has(&d, Severity::Warning, "rounded", 4, 16);
    let (c, d) = ok(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    version 3\n    advert_int 50",
    ));
    assert_eq!(inst(&c, "VI_1").advert_int_cs, Centisecs(4095));
    has(&d, Severity::Warning, "40.95", 4, 16);
    // Parse range is 0.01..=255 for both versions.
    let (_, d) = run(&BASIC.replace("interface eth0", "interface eth0\n    advert_int 0.001"));
    has(&d, Severity::Error, "out of range", 3, 16);
    let (_, d) = run(&BASIC.replace("interface eth0", "interface eth0\n    advert_int 300"));
    has(&d, Severity::Error, "out of range", 3, 16);
}

#[test]
fn version_from_global_and_family() {
    let c = clean(&format!("global_defs {{\n    vrrp_version 3\n}}\n{BASIC}"));
    assert_eq!(inst(&c, "VI_1").version, VrrpVersion::V3);
    // IPv6 addresses use version 3 whatever the global default says.
    let v6 = BASIC.replace("192.0.2.10/24", "fe80::10/64\n        2001:db8::10/64");
    let c = clean(&v6);
    let i = inst(&c, "VI_1");
    assert!(i.ipv6);
    assert_eq!(i.version, VrrpVersion::V3);
    assert_eq!(i.mcast_dst_ip, ip("ff02::12"));
    // An explicit global vrrp_version 2 does not apply to IPv6: a warning says so.
    let (c, d) = ok(&format!("global_defs {{\n    vrrp_version 2\n}}\n{v6}"));
    assert_eq!(inst(&c, "VI_1").version, VrrpVersion::V3);
    has(&d, Severity::Warning, "runs it as VRRP version 3", 4, 1);
    // Explicit version 2 with IPv6 stays 2 (keepalived's extension) with a warning...
    let (c, d) = ok(&v6.replace("interface eth0", "interface eth0\n    version 2"));
    assert_eq!(inst(&c, "VI_1").version, VrrpVersion::V2);
    has(&d, Severity::Warning, "not standard", 3, 13);
    // ...and becomes 3 in strict mode.
    let (c, d) = ok(&v6.replace(
        "interface eth0",
        "interface eth0\n    version 2\n    strict_mode",
    ));
    assert_eq!(inst(&c, "VI_1").version, VrrpVersion::V3);
    has(&d, Severity::Warning, "strict mode", 3, 13);
    let (_, d) = run(&BASIC.replace("interface eth0", "interface eth0\n    version 4"));
    has(&d, Severity::Error, "not 2 or 3", 3, 13);
}

#[test]
fn ipv6_first_vip_should_be_link_local() {
    let (_, d) = ok(&BASIC.replace("192.0.2.10/24", "2001:db8::10/64"));
    has(&d, Severity::Warning, "not link-local", 1, 1);
}

// ---------------------------------------------------------------------------------------
// addresses, families, unicast

#[test]
fn vip_family_mismatch_is_reported_and_dropped() {
    let (c, d) = run(&BASIC.replace("192.0.2.10/24", "192.0.2.10/24\n        2001:db8::1/64"));
    has(
        &d,
        Severity::Error,
        "not of the instance's address family",
        6,
        9,
    );
    assert_eq!(inst(&c, "VI_1").virtual_ipaddresses.len(), 1);
}

#[test]
fn too_many_vips_move_to_excluded() {
    let many: String = (0..100)
        .map(|i| format!("        2001:db8::{:x}/64\n", i + 1))
        .collect();
    let (c, d) = ok(&BASIC.replace("        192.0.2.10/24\n", &many));
    let i = inst(&c, "VI_1");
    assert_eq!(i.virtual_ipaddresses.len(), 89);
    assert_eq!(i.virtual_ipaddresses_excluded.len(), 11);
    assert!(d
        .iter()
        .any(|x| x.message.contains("do not fit in one advertisement")));
}

#[test]
fn excluded_addresses_may_mix_families() {
    let c = clean(&BASIC.replace(
        "    virtual_ipaddress {",
        "    virtual_ipaddress_excluded {\n        2001:db8::5/64 dev eth1 no_track\n    }\n    virtual_ipaddress {",
    ));
    let i = inst(&c, "VI_1");
    assert_eq!(i.virtual_ipaddresses_excluded.len(), 1);
    assert!(i.virtual_ipaddresses_excluded[0].no_track);
}

#[test]
fn address_full_syntax() {
    let c = clean(&BASIC.replace(
        "192.0.2.10/24",
        "192.0.2.10 brd + dev eth1 scope link label eth1:vip peer 192.0.2.99/24 home -nodad mngtmpaddr noprefixroute autojoin no_track use_vmac preferred_lft forever\n        192.0.2.11 brd 192.0.2.255 scope 7 preferred_lft 0",
    ));
    let i = inst(&c, "VI_1");
    let a = &i.virtual_ipaddresses[0];
    assert_eq!(a.broadcast, Some(Broadcast::SetHostBits));
    assert_eq!(a.dev.as_deref(), Some("eth1"));
    assert_eq!(a.scope, Some(Scope::Link));
    assert_eq!(a.label.as_deref(), Some("eth1:vip"));
    assert_eq!(a.peer, IpPrefix::new(ip("192.0.2.99"), 24));
    assert_eq!(a.prefix.len, 32);
    assert!(a.home && a.nodad && a.mngtmpaddr && a.noprefixroute && a.autojoin);
    assert!(a.no_track && a.use_vmac);
    assert_eq!(a.preferred_lft, Some(PreferredLifetime::Forever));
    let b = &i.virtual_ipaddresses[1];
    assert_eq!(b.prefix.len, 32, "default prefix is a host prefix");
    assert_eq!(b.broadcast, Some(Broadcast::Addr(ip("192.0.2.255"))));
    assert_eq!(b.scope, Some(Scope::Other(7)));
    assert_eq!(b.preferred_lft, Some(PreferredLifetime::Secs(0)));
}

#[test]
fn address_errors() {
    let (_, d) = run(&BASIC.replace("192.0.2.10/24", "192.0.2.10/24 dve eth0"));
    has(&d, Severity::Error, "unknown option `dve`", 5, 23);
    assert!(d
        .iter()
        .any(|x| x.help.as_deref() == Some("did you mean `dev`?")));
    let (_, d) = run(&BASIC.replace("192.0.2.10/24", "192.0.2.10/33"));
    has(&d, Severity::Error, "prefix length", 5, 9);
    let (_, d) = run(&BASIC.replace("192.0.2.10/24", "192.0.2.10/24 scope planet"));
    has(&d, Severity::Error, "not a scope", 5, 29);
    let (_, d) = run(&BASIC.replace("192.0.2.10/24", "192.0.2.10/24 dev eth9"));
    has(
        &d,
        Severity::Warning,
        "interface `eth9` does not exist",
        5,
        27,
    );
    let (_, d) = run(&BASIC.replace("192.0.2.10/24", "192.0.2.10/24 track_group G"));
    has(&d, Severity::Error, "not allowed here", 5, 23);
}

#[test]
fn unicast_peers() {
    let (c, _) = ok(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    unicast_src_ip 192.0.2.1\n    unicast_ttl 10\n    unicast_peer {\n        192.0.2.2 min_ttl 5 max_ttl 64\n        192.0.2.3\n    }",
    ));
    let i = inst(&c, "VI_1");
    assert_eq!(i.unicast_peers.len(), 2);
    assert_eq!(i.unicast_peers[0].min_ttl, Some(5));
    assert_eq!(i.unicast_peers[0].max_ttl, Some(64));
    assert!(
        i.check_unicast_src,
        "min_ttl/max_ttl turn on check_unicast_src"
    );
    assert_eq!(i.src_ip, Some(ip("192.0.2.1")));
    assert_eq!(i.unicast_ttl, Some(10));
    let (_, d) = run(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    unicast_peer {\n        2001:db8::2\n    }",
    ));
    has(
        &d,
        Severity::Error,
        "unicast peer 2001:db8::2 is not of the instance's address family",
        4,
        9,
    );
    let (c, d) = run(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    strict_mode\n    unicast_peer {\n        192.0.2.2\n    }",
    ));
    has(&d, Severity::Error, "not allowed in strict mode", 1, 1);
    assert!(c.vrrp.instances.is_empty());
}

// ---------------------------------------------------------------------------------------
// authentication

#[test]
fn authentication_v2() {
    let c = clean(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    authentication {\n        auth_type PASS\n        auth_pass secret1\n    }",
    ));
    assert_eq!(
        inst(&c, "VI_1").authentication,
        Some(Authentication {
            kind: AuthType::Pass,
            password: "secret1".into()
        })
    );
    let (c, d) = ok(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    authentication {\n        auth_type AH\n        auth_pass 123456789\n    }",
    ));
    has(&d, Severity::Warning, "only the first 8 are used", 5, 19);
    assert_eq!(
        inst(&c, "VI_1")
            .authentication
            .map(|a| (a.kind, a.password)),
        Some((AuthType::Ah, "12345678".into()))
    );
}

#[test]
fn authentication_v3_is_ignored() {
    let (c, d) = ok(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    version 3\n    authentication {\n        auth_type PASS\n        auth_pass x\n    }",
    ));
    has(
        &d,
        Severity::Warning,
        "version 3 has no authentication",
        4,
        5,
    );
    assert!(inst(&c, "VI_1").authentication.is_none());
    let (_, d) = run(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    authentication {\n        auth_type pass\n        auth_pas x\n    }",
    ));
    has(&d, Severity::Error, "`pass` is not an auth_type", 4, 19);
    has(&d, Severity::Error, "unknown keyword `auth_pas`", 5, 9);
}

// ---------------------------------------------------------------------------------------
// strict mode, preempt, accept

#[test]
fn strict_mode_rules() {
    let (c, d) = ok(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    strict_mode\n    state MASTER\n    priority 200\n    preempt_delay 10\n    accept",
    ));
    let i = inst(&c, "VI_1");
    has(
        &d,
        Severity::Warning,
        "state MASTER with priority 200",
        4,
        11,
    );
    has(
        &d,
        Severity::Warning,
        "preempt_delay is not allowed in strict mode",
        6,
        5,
    );
    has(
        &d,
        Severity::Warning,
        "accept mode is not part of VRRP version 2",
        7,
        5,
    );
    assert_eq!(i.initial_state, InitialState::Backup);
    assert_eq!(i.preempt_delay, Duration::ZERO);
    assert!(!i.accept);
    assert!(i.strict_mode);
    assert!(
        i.lower_prio_no_advert,
        "strict mode forces lower_prio_no_advert"
    );
    assert_eq!(i.garp.lower_prio_repeat, 0);
    // Global vrrp_strict is the default for strict_mode; no_accept by default.
    let c = clean(&format!("global_defs {{\n    vrrp_strict\n}}\n{BASIC}"));
    let i = inst(&c, "VI_1");
    assert!(i.strict_mode && !i.accept);
    // strict_mode off overrides the global.
    let c = clean(&format!(
        "global_defs {{\n    vrrp_strict\n}}\n{}",
        BASIC.replace("interface eth0", "interface eth0\n    strict_mode off")
    ));
    assert!(!inst(&c, "VI_1").strict_mode);
}

#[test]
fn preempt_settings() {
    let c = clean(&BASIC.replace("interface eth0", "interface eth0\n    preempt_delay 4.12"));
    assert_eq!(inst(&c, "VI_1").preempt_delay, Duration::from_millis(4120));
    let (_, d) = run(&BASIC.replace("interface eth0", "interface eth0\n    preempt_delay 1001"));
    has(&d, Severity::Error, "out of range", 3, 19);
    let (c, d) = ok(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    nopreempt\n    preempt_delay 5",
    ));
    has(&d, Severity::Warning, "no effect with nopreempt", 4, 5);
    assert_eq!(inst(&c, "VI_1").preempt_delay, Duration::ZERO);
    let (_, d) = ok(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    state MASTER\n    nopreempt",
    ));
    has(
        &d,
        Severity::Warning,
        "nopreempt does not work with initial state MASTER",
        4,
        5,
    );
    let c = clean(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    nopreempt\n    preempt",
    ));
    assert!(!inst(&c, "VI_1").nopreempt);
}

// ---------------------------------------------------------------------------------------
// every other instance keyword

#[test]
fn instance_keywords() {
    let text = "vrrp_script chk {\n    script /etc/keepalived/check.sh\n}\ntrack_file tf {\n    file /run/tf\n}\nvrrp_track_process tp {\n    process haproxy\n}\nbfd_instance bf {\n    neighbor_ip 192.0.2.9\n}\n".to_string()
        + &BASIC.replace(
            "interface eth0",
            "interface eth0
    vrf blue
    use_vmac vrrp51 02:00:5e:00:01
    use_vmac_addr
    vmac_xmit_base
    dont_track_primary
    track_interface {
        eth1 weight -10 reverse
        eth0
    }
    track_script {
        chk weight 20
    }
    track_file {
        tf weight -254 noreverse
    }
    track_process {
        tp
    }
    track_bfd {
        bf weight 5
    }
    mcast_src_ip 192.0.2.1
    mcast_dst_ip 224.0.0.19
    track_src_ip
    check_unicast_src
    unicast_fault_no_peer
    garp_master_delay 10
    garp_master_repeat 2
    garp_lower_prio_delay 3
    garp_lower_prio_repeat 4
    garp_master_refresh 60
    garp_master_refresh_repeat 2
    garp_extra_if all 100
    down_timer_adverts 5
    lower_prio_no_advert
    higher_prio_send_advert true
    promote_secondaries
    no_accept
    skip_check_adv_addr on
    debug 2
    notify_master /etc/keepalived/notify.sh
    notify_backup \"/etc/keepalived/notify.sh backup 'two words'\" root wheel
    notify_fault /etc/keepalived/notify.sh
    notify_stop /etc/keepalived/notify.sh
    notify_deleted
    notify /etc/keepalived/notify.sh
    notify_master_rx_lower_pri /etc/keepalived/notify.sh
    notify_priority_changes yes
    smtp_alert
    kernel_rx_buf_size 65536",
        );
    let (c, d) = ok(&text);
    let i = inst(&c, "VI_1");
    assert_eq!(i.vrf.as_deref(), Some("blue"));
    assert_eq!(
        i.use_vmac,
        Some(Vmac {
            ifname: Some("vrrp51".into()),
            mac: Some(vec![2, 0, 0x5e, 0, 1])
        })
    );
    assert!(i.use_vmac_addr && i.vmac_xmit_base && i.dont_track_primary);
    // eth0 is the instance's own interface: keepalived drops it from track_interface.
    assert_eq!(i.track.interfaces.len(), 1);
    assert!(d
        .iter()
        .any(|x| x.message.contains("the instance's own interface")));
    assert_eq!(
        i.track.interfaces[0].weight,
        Some(Weight {
            value: -10,
            reverse: true
        })
    );
    assert_eq!(i.track.scripts[0].weight.map(|w| w.value), Some(20));
    assert_eq!(
        i.track.files[0].weight.map(|w| (w.value, w.reverse)),
        Some((-254, false))
    );
    assert_eq!(i.track.processes[0].name, "tp");
    assert_eq!(i.track.bfds[0].weight.map(|w| w.value), Some(5));
    assert_eq!(i.src_ip, Some(ip("192.0.2.1")));
    assert_eq!(i.mcast_dst_ip, ip("224.0.0.19"));
    assert!(i.track_src_ip && i.check_unicast_src && i.unicast_fault_no_peer);
    assert_eq!(
        i.garp,
        GarpSettings {
            master_delay_secs: 10,
            master_repeat: 2,
            lower_prio_delay_secs: 3,
            lower_prio_repeat: 4,
            master_refresh_secs: 60,
            master_refresh_repeat: 2,
            extra_if: Some(ka_model::vrrp::global::GarpExtraIf {
                all: true,
                interval_secs: 100
            }),
        }
    );
    assert_eq!(i.down_timer_adverts, 5);
    assert!(i.lower_prio_no_advert && i.higher_prio_send_advert && i.promote_secondaries);
    assert!(!i.accept);
    assert!(i.skip_check_adv_addr);
    assert_eq!(i.debug, 2);
    let b = i.notify.backup.clone().unwrap();
    assert_eq!(
        b.argv,
        vec!["/etc/keepalived/notify.sh", "backup", "two words"]
    );
    assert_eq!(b.user.as_deref(), Some("root"));
    assert_eq!(b.group.as_deref(), Some("wheel"));
    assert_eq!(i.notify.all().len(), 7);
    assert!(i.notify_priority_changes && i.smtp_alert);
    assert_eq!(i.kernel_rx_buf_size, Some(65536));
}

#[test]
fn use_ipvlan_and_old_checksum_are_not_supported() {
    let (_, d) = ok(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    use_ipvlan ipv1 192.0.2.50/24 private\n    old_unicast_checksum never",
    ));
    has(&d, Severity::Warning, "`use_ipvlan` is not supported", 3, 5);
    has(
        &d,
        Severity::Warning,
        "`old_unicast_checksum` is not supported",
        4,
        5,
    );
}

#[test]
fn unknown_instance_keyword_suggests() {
    let (_, d) = run(&BASIC.replace("interface eth0", "interface eth0\n    preemt_delay 5"));
    has(
        &d,
        Severity::Error,
        "unknown keyword `preemt_delay` in vrrp_instance",
        3,
        5,
    );
    assert!(d
        .iter()
        .any(|x| x.help.as_deref() == Some("did you mean `preempt_delay`?")));
}

#[test]
fn interface_checks() {
    let (_, d) = run(&BASIC.replace("interface eth0", "interface eht0"));
    has(
        &d,
        Severity::Warning,
        "interface `eht0` does not exist",
        2,
        15,
    );
    assert!(d
        .iter()
        .any(|x| x.help.as_deref() == Some("did you mean `eth0`?")));
    let (_, d) = run(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    track_interface {\n        wlan7\n    }",
    ));
    has(
        &d,
        Severity::Warning,
        "interface `wlan7` does not exist",
        4,
        9,
    );
    // dynamic_interfaces: interfaces may appear later, keepalived does not complain.
    let c = clean(&format!(
        "global_defs {{\n    dynamic_interfaces\n}}\n{}",
        BASIC.replace("interface eth0", "interface eht0")
    ));
    assert_eq!(inst(&c, "VI_1").interface.as_deref(), Some("eht0"));
    let (_, d) = run(&BASIC.replace("interface eth0", "interface lo"));
    has(&d, Severity::Error, "loopback", 2, 15);
}

// ---------------------------------------------------------------------------------------
// routes and rules

#[test]
fn routes_full_syntax() {
    let text = BASIC.replace(
        "    virtual_ipaddress {",
        "    virtual_routes {
        src 192.0.2.1 to 198.51.100.0/24 via 192.0.2.254 dev eth1 scope link table 100 metric 5 protocol bird tos 0x04 onlink
        198.51.100.128/25 via 192.0.2.254 or 192.0.2.253 dev eth1 no_track
        blackhole 203.0.113.0/24
        default gw 192.0.2.1 table main
        203.0.113.128/25 table 6909 nexthop via 192.0.2.1 dev eth1 onlink weight 1 nexthop via 192.0.2.2 dev eth1 weight 2
        2001:db8:1::/64 dev eth1 mtu lock 1000 hoplimit 100 advmss 101 rtt 102 rttvar 103 reordering 104 window 105 cwnd 106 ssthresh 107 realms PQA/0x14 rto_min 108ms initcwnd 109 initrwnd 110 features ecn fastopen_no_cookie 1 congctl lock cubic pref high expires 30 append
    }
    virtual_ipaddress {",
    );
    let (c, d) = ok(&text);
    // blackhole and default routes without `dev` cannot be tracked; `gw` and `or` are
    // deprecated; a tracked route cannot keep protocol bird.
    has(
        &d,
        Severity::Warning,
        "`gw` for routes is deprecated",
        8,
        17,
    );
    has(
        &d,
        Severity::Warning,
        "`or` for routes is deprecated",
        6,
        43,
    );
    has(&d, Severity::Warning, "must have protocol keepalived", 5, 9);
    assert_eq!(
        d.iter()
            .filter(|x| x.message.contains("has no `dev`"))
            .count(),
        2
    );
    assert_eq!(d.len(), 5, "{d:#?}");
    let r = &inst(&c, "VI_1").virtual_routes;
    assert_eq!(r.len(), 6);
    assert_eq!(r[0].src, Some(ip("192.0.2.1")));
    assert_eq!(r[0].dst, IpPrefix::new(ip("198.51.100.0"), 24).unwrap());
    assert_eq!(r[0].via, Some(ip("192.0.2.254")));
    assert_eq!(r[0].scope, Some(Scope::Link));
    assert_eq!(r[0].table, Some(TableRef::Id(100)));
    assert_eq!(r[0].metric, Some(5));
    assert_eq!(r[0].protocol, Some(NumOrName::Name("bird".into())));
    assert_eq!(r[0].tos, Some(4));
    assert!(r[0].onlink);
    assert_eq!(r[1].or_via, Some(ip("192.0.2.253")));
    assert!(r[1].no_track);
    assert_eq!(r[2].route_type, RouteType::Blackhole);
    assert_eq!(r[3].dst.len, 0);
    assert_eq!(r[3].table, Some(TableRef::Id(254)));
    assert_eq!(r[4].nexthops.len(), 2);
    assert_eq!(r[4].nexthops[0].weight, Some(1));
    assert!(r[4].nexthops[0].onlink);
    assert_eq!(r[4].nexthops[1].via, Some(ip("192.0.2.2")));
    let m = &r[5];
    assert!(m.dst.addr.is_ipv6());
    assert_eq!(
        m.metrics[0],
        RouteMetric {
            name: "mtu".into(),
            value: 1000,
            locked: true
        }
    );
    assert_eq!(m.metrics.len(), 13);
    assert!(m.features_ecn && m.append);
    assert_eq!(m.congctl, Some(("cubic".into(), true)));
    assert_eq!(m.pref, Some(RoutePref::High));
    assert_eq!(m.expires, Some(30));
    assert_eq!(m.realms.as_deref(), Some("PQA/0x14"));
}

#[test]
fn route_errors() {
    let (_, d) = run("static_routes {\n    198.51.100.0/24 via 2001:db8::1\n    192.0.2.0/24 vai 192.0.2.1\n    nonsense\n    192.0.2.0/24 no_track\n}\n");
    has(
        &d,
        Severity::Error,
        "not of the destination's address family",
        2,
        5,
    );
    has(&d, Severity::Error, "unknown option `vai`", 3, 18);
    has(&d, Severity::Error, "not a route destination", 4, 5);
    has(&d, Severity::Error, "not allowed in static_routes", 5, 18);
    let (_, d) = run("static_routes {\n    192.0.2.0/24 dev eth0 pref high\n}\nstatic_ipaddress {\n    192.0.2.1/24 peer 192.0.2.2\n}\n");
    has(&d, Severity::Error, "only valid for IPv6 routes", 2, 5);
    has(&d, Severity::Error, "cannot have a prefix length", 5, 5);
}

#[test]
fn rules_full_syntax() {
    let c = clean(&BASIC.replace(
        "    virtual_ipaddress {",
        "    virtual_rules {
        from 192.0.2.0/24 table 1 preference 920
        to 192.0.2.0/24 table 1 no_track preference 921
        from 198.51.100.0/24 to 203.0.113.0/26 table small iif eth0 oif eth1 tos 22 fwmark 24/12 preference 39 realms 30/20
        from 198.51.100.0/24 goto 40 preference 923
        to 2001:db8:1::/112 from 2001:db8:2::/96 table 6908 uidrange 10000-19999 preference 924
        to 2001:db8:3::/112 from 2001:db8:4::/96 l3mdev protocol 12 ip_proto UDP sport 10-20 dport 20-30 priority 7
        not from all prohibit suppress_prefixlength 0 tunnel-id 5 preference 926
    }
    virtual_ipaddress {",
    ));
    let r = &inst(&c, "VI_1").virtual_rules;
    assert_eq!(r.len(), 7);
    assert_eq!(r[0].from, Some(IpPrefix::new(ip("192.0.2.0"), 24).unwrap()));
    assert_eq!(r[0].table, Some(TableRef::Id(1)));
    assert!(r[1].no_track);
    assert_eq!(r[2].table, Some(TableRef::Name("small".into())));
    assert_eq!(r[2].iif.as_deref(), Some("eth0"));
    assert_eq!(r[2].oif.as_deref(), Some("eth1"));
    assert_eq!(r[2].tos, Some(22));
    assert_eq!(r[2].fwmark, Some((24, Some(12))));
    assert_eq!(r[2].priority, Some(39));
    assert_eq!(r[3].goto, Some(40));
    let r = &r[1..];
    assert_eq!(
        r[3].uidrange,
        Some(Range {
            start: 10000,
            end: 19999
        })
    );
    assert!(r[4].l3mdev);
    assert_eq!(r[4].sport, Some(Range { start: 10, end: 20 }));
    assert_eq!(r[4].ip_proto, Some(NumOrName::Name("UDP".into())));
    assert!(r[5].not);
    assert_eq!(r[5].action, Some(RuleAction::Prohibit));
    assert_eq!(r[5].tun_id, Some(5));
}

#[test]
fn rule_errors() {
    let (_, d) = run("static_rules {\n    from 192.0.2.0/24 tabel 1\n    from 192.0.2.0/24 to 2001:db8::/64 table 1\n    from 192.0.2.0/24 table 2 fwmark x\n}\n");
    has(&d, Severity::Error, "unknown option `tabel`", 2, 23);
    has(&d, Severity::Error, "different address families", 3, 5);
    has(&d, Severity::Error, "is not MARK[/MASK]", 4, 38);
    let (_, d) = run("static_rules {\n    from 192.0.2.0/24 table 1 goto 5\n    from 192.0.2.0/24 table 1 protocol bird\n    from 192.0.2.0/24 table 1 sport 80\n    from 192.0.2.0/24 priority 3\n}\n");
    has(&d, Severity::Error, "only one of table, goto", 2, 5);
    has(&d, Severity::Error, "`bird` is not a whole number", 3, 40);
    has(&d, Severity::Error, "not a port range FIRST-LAST", 4, 37);
    has(&d, Severity::Error, "the rule has no action", 5, 5);
    has(&d, Severity::Warning, "the rule has no preference", 2, 5);
}

// ---------------------------------------------------------------------------------------
// static blocks and track groups

#[test]
fn static_blocks_and_track_group() {
    let text = format!(
        "track_group G1 {{\n    group {{\n        VI_1\n    }}\n}}\nstatic_ipaddress {{\n    192.0.2.100/24 dev eth0 scope global track_group G1\n}}\nstatic_routes {{\n    198.51.100.0/24 via 192.0.2.1 dev eth0 track_group G1\n}}\nstatic_rules {{\n    from 192.0.2.0/24 table 1 track_group G1 preference 5\n}}\n{BASIC}"
    );
    let c = clean(&text);
    assert_eq!(c.vrrp.track_groups[0].instances, vec!["VI_1".to_string()]);
    assert_eq!(
        c.vrrp.static_addresses[0].track_group.as_deref(),
        Some("G1")
    );
    assert_eq!(c.vrrp.static_routes[0].track_group.as_deref(), Some("G1"));
    assert_eq!(c.vrrp.static_rules[0].track_group.as_deref(), Some("G1"));
    let (_, d) = run("track_group G1 {\n    group {\n        VI_9\n    }\n}\n");
    has(&d, Severity::Error, "track_group `G1` lists `VI_9`", 3, 9);
    let (_, d) = run("static_ipaddress {\n    192.0.2.100/24 track_group NOPE\n}\n");
    assert!(d.iter().any(|x| x.message.contains("track_group `NOPE`")));
}

// ---------------------------------------------------------------------------------------
// scripts, track files, processes, BFD

#[test]
fn vrrp_script_values_and_defaults() {
    let c = clean("vrrp_script chk {\n    script \"/etc/keepalived/check.sh -q 'a b'\"\n}\nvrrp_script chk2 {\n    script /etc/keepalived/check.sh\n    interval 2\n    timeout 3\n    weight -20 reverse\n    rise 2\n    fall 3\n    user nobody nogroup\n    init_fail\n}\n");
    let s = &c.vrrp.scripts[0];
    assert_eq!(s.script.argv, vec!["/etc/keepalived/check.sh", "-q", "a b"]);
    assert_eq!(s.interval, Duration::from_secs(1));
    assert_eq!(
        s.timeout,
        Duration::from_secs(1),
        "timeout defaults to the interval"
    );
    assert_eq!(
        s.weight,
        Weight {
            value: 0,
            reverse: false
        }
    );
    assert_eq!((s.rise, s.fall), (1, 1));
    let s = &c.vrrp.scripts[1];
    assert_eq!(s.interval, Duration::from_secs(2));
    assert_eq!(s.timeout, Duration::from_secs(3));
    assert_eq!(
        s.weight,
        Weight {
            value: -20,
            reverse: true
        }
    );
    assert_eq!((s.rise, s.fall), (2, 3));
    assert_eq!(s.script.user.as_deref(), Some("nobody"));
    assert_eq!(s.script.group.as_deref(), Some("nogroup"));
    assert!(s.init_fail);
}

#[test]
fn vrrp_script_checks() {
    let (_, d) = run("vrrp_script a {\n    script /usr/local/bin/missing.sh\n}\nvrrp_script b {\n    script /etc/keepalived/notexec.sh\n    weight 300\n}\nvrrp_script c {\n    interval 2\n}\nvrrp_script a {\n    script /etc/keepalived/check.sh\n}\n");
    has(
        &d,
        Severity::Warning,
        "`/usr/local/bin/missing.sh` does not exist",
        2,
        12,
    );
    has(&d, Severity::Warning, "is not executable", 5, 12);
    assert!(d
        .iter()
        .any(|x| x.help.as_deref() == Some("run `chmod +x /etc/keepalived/notexec.sh`")));
    has(&d, Severity::Error, "out of range -253..=253", 6, 12);
    has(
        &d,
        Severity::Error,
        "vrrp_script `c` has no `script`",
        10,
        1,
    );
    has(
        &d,
        Severity::Error,
        "vrrp_script `a` is already defined",
        11,
        13,
    );
}

#[test]
fn track_file_process_bfd() {
    let c = clean("track_file tf {\n    file /run/tf\n    weight -5 reverse\n    init_file 3 overwrite\n}\nvrrp_track_file tf2 {\n    file /run/tf2\n}\nvrrp_track_process tp {\n    process haproxy -f \"/etc/h a.cfg\"\n    param_match partial\n    weight 254\n    quorum 2\n    quorum_max 4\n    delay 0.5\n    full_command\n}\ntrack_process tp2 {\n    process nginx\n    fork_delay 1\n    terminate_delay 2\n}\nbfd_instance bf {\n    neighbour_ip 192.0.2.9\n    source_ip 192.0.2.1\n    min_rx 3.312\n    min_tx 20\n    idle_tx 1500\n    multiplier 3\n    passive\n    ttl 200\n    hoplimit 10\n    max_hops 2\n    weight -30 reverse\n    vrrp\n}\nbfd_instance bf2 {\n    neighbor_ip 2001:db8::9\n}\n");
    let tf = &c.vrrp.track_files[0];
    assert_eq!(tf.file, "/run/tf");
    assert_eq!(
        tf.weight,
        Weight {
            value: -5,
            reverse: true
        }
    );
    assert_eq!(
        tf.init_file,
        Some(TrackFileInit {
            value: 3,
            overwrite: true
        })
    );
    assert_eq!(
        c.vrrp.track_files[1].weight,
        Weight {
            value: 1,
            reverse: false
        }
    );
    let tp = &c.vrrp.track_processes[0];
    assert_eq!(tp.process, vec!["haproxy", "-f", "/etc/h a.cfg"]);
    assert_eq!(tp.param_match, ParamMatch::Partial);
    assert_eq!(tp.weight.value, 254);
    assert_eq!((tp.quorum, tp.quorum_max), (2, Some(4)));
    assert_eq!(tp.fork_delay, Duration::from_millis(500));
    assert_eq!(tp.terminate_delay, Duration::from_millis(500));
    assert!(tp.full_command);
    let tp2 = &c.vrrp.track_processes[1];
    assert_eq!((tp2.quorum, tp2.quorum_max), (1, None));
    assert_eq!(tp2.weight.value, 1);
    assert_eq!(tp2.terminate_delay, Duration::from_secs(2));
    let b = &c.vrrp.bfd_instances[0];
    assert_eq!(b.neighbor_ip, ip("192.0.2.9"));
    assert_eq!(b.min_rx, Duration::from_micros(3312));
    assert_eq!(b.min_tx, Duration::from_millis(20));
    assert_eq!(b.idle_tx, Duration::from_millis(1500));
    assert_eq!(
        (b.multiplier, b.ttl, b.hoplimit, b.max_hops),
        (3, 200, 10, 2)
    );
    assert!(b.passive && b.vrrp_only && !b.checker_only);
    assert_eq!(
        b.weight,
        Weight {
            value: -30,
            reverse: true
        }
    );
    let b2 = &c.vrrp.bfd_instances[1];
    assert_eq!(b2.min_rx, Duration::from_millis(10));
    assert_eq!(b2.idle_tx, Duration::from_millis(1000));
    assert_eq!((b2.multiplier, b2.ttl, b2.hoplimit), (5, 255, 64));
    let (_, d) = run("bfd_instance x {\n    min_rx 5\n    idle_tx 999\n}\nvrrp_track_process p {\n    quorum 3\n    quorum_max 1\n    process a\n    delay 0\n}\ntrack_file f {\n    file /f\n    weight 255\n}\n");
    has(&d, Severity::Error, "has no neighbor_ip", 4, 1);
    has(
        &d,
        Severity::Warning,
        "quorum_max 1 is less than quorum 3",
        5,
        1,
    );
    has(&d, Severity::Error, "out of range 1000..=4294967", 3, 13);
    has(&d, Severity::Error, "out of range", 9, 11);
    has(&d, Severity::Error, "out of range -254..=254", 13, 12);
}

// ---------------------------------------------------------------------------------------
// references and cross-instance checks

#[test]
fn undefined_references() {
    let text = "vrrp_script chk_haproxy {\n    script /etc/keepalived/check.sh\n}\n".to_string()
        + &BASIC.replace(
            "interface eth0",
            "interface eth0\n    track_script {\n        chk_haproxi\n    }\n    track_file {\n        nofile\n    }\n    track_process {\n        noproc\n    }\n    track_bfd {\n        nobfd\n    }",
        );
    let (_, d) = run(&text);
    has(
        &d,
        Severity::Error,
        "track_script refers to `chk_haproxi`",
        7,
        9,
    );
    assert!(d
        .iter()
        .any(|x| x.help.as_deref() == Some("did you mean `chk_haproxy`?")));
    has(&d, Severity::Error, "track_file refers to `nofile`", 10, 9);
    has(
        &d,
        Severity::Error,
        "track_process refers to `noproc`",
        13,
        9,
    );
    has(&d, Severity::Error, "track_bfd refers to `nobfd`", 16, 9);
}

#[test]
fn references_to_later_blocks_resolve() {
    let text = BASIC.replace(
        "interface eth0",
        "interface eth0\n    track_script {\n        later\n    }",
    ) + "vrrp_script later {\n    script /etc/keepalived/check.sh\n}\n";
    clean(&text);
}

#[test]
fn sync_groups() {
    let two = format!(
        "{BASIC}{}",
        BASIC
            .replace("VI_1", "VI_2")
            .replace("51", "52")
            .replace(".10/", ".11/")
    );
    let c = clean(&format!("vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n    track_interface {{\n        eth1 weight 10\n    }}\n    notify_master \"/etc/keepalived/notify.sh master\"\n    notify_priority_changes\n    smtp_alert false\n    sync_group_tracking_weight\n}}\n{two}"));
    let g = &c.vrrp.sync_groups[0];
    assert_eq!(g.instances, vec!["VI_1".to_string(), "VI_2".to_string()]);
    assert_eq!(g.track.interfaces[0].weight.map(|w| w.value), Some(10));
    assert_eq!(g.notify.master.as_ref().map(|s| s.argv.len()), Some(2));
    assert_eq!(g.notify_priority_changes, Some(true));
    assert_eq!(g.smtp_alert, Some(false));
    assert!(g.sync_group_tracking_weight);
    let (_, d) = run(&format!("vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_3\n    }}\n}}\nvrrp_sync_group H {{\n    group {{\n        VI_1\n    }}\n    global_tracking\n}}\n{BASIC}"));
    has(
        &d,
        Severity::Error,
        "vrrp_sync_group `G` lists `VI_3`",
        4,
        9,
    );
    has(
        &d,
        Severity::Error,
        "`VI_1` is already in vrrp_sync_group `G`",
        9,
        9,
    );
    has(&d, Severity::Warning, "only one member", 9, 9);
    has(&d, Severity::Warning, "global_tracking", 11, 5);
    let (_, d) = run("vrrp_sync_group G {\n    notify /bin/x\n}\n");
    has(&d, Severity::Error, "has no `group` list", 1, 1);
}

#[test]
fn duplicate_vrid_same_interface_and_family() {
    let second = BASIC.replace("VI_1", "VI_2").replace(".10/", ".11/");
    let (_, d) = run(&format!("{BASIC}{second}"));
    has(
        &d,
        Severity::Error,
        "virtual_router_id 51 is already used by vrrp_instance `VI_1`",
        10,
        23,
    );
    // Other interface, other family, or disjoint unicast peers: fine.
    clean(&format!(
        "{BASIC}{}",
        second.replace("interface eth0", "interface eth1")
    ));
    clean(&format!(
        "{BASIC}{}",
        second.replace("192.0.2.11/24", "fe80::1/64")
    ));
    let u1 = BASIC.replace(
        "interface eth0",
        "interface eth0\n    unicast_peer {\n        192.0.2.2\n    }",
    );
    let u2 = u1
        .replace("VI_1", "VI_2")
        .replace("192.0.2.2", "192.0.2.3")
        .replace(".10/", ".11/");
    clean(&format!("{u1}{u2}"));
    // Same name twice.
    let (_, d) = run(&format!("{BASIC}{BASIC}"));
    has(
        &d,
        Severity::Error,
        "vrrp_instance `VI_1` is already defined",
        8,
        15,
    );
}

#[test]
fn weighted_tracking_in_sync_groups_and_owners() {
    let defs = "vrrp_script s1 {\n    script /etc/keepalived/check.sh\n    weight 10\n}\ntrack_file f1 {\n    file /run/f1\n}\n";
    let a = BASIC.replace(
        "interface eth0",
        "interface eth0\n    track_interface {\n        eth1 weight 5\n    }\n    track_script {\n        s1\n    }\n    track_file {\n        f1 weight 0\n    }",
    );
    let b = BASIC
        .replace("VI_1", "VI_2")
        .replace("51", "52")
        .replace(".10/", ".11/");
    let group = "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n}\n";
    // Group before and after the instances: the same result.
    for text in [
        format!("{defs}{group}{a}{b}"),
        format!("{defs}{a}{b}{group}"),
    ] {
        let (c, d) = ok(&text);
        let i = inst(&c, "VI_1");
        assert_eq!(i.track.interfaces.len(), 1);
        assert_eq!(
            i.track.interfaces[0].weight, None,
            "weight dropped in a sync group"
        );
        assert!(i.track.scripts.is_empty(), "weighted script not tracked");
        assert_eq!(i.track.files.len(), 1, "weight 0 file still tracked");
        assert!(d.iter().any(|x| x
            .message
            .contains("tracked script s1 (weight 10) is ignored")));
        assert!(d.iter().any(|x| x
            .message
            .contains("weight of tracked interface eth1 is ignored")));
    }
    // sync_group_tracking_weight keeps them.
    let g2 = group.replace("    }\n}", "    }\n    sync_group_tracking_weight\n}");
    let c = clean(&format!("{defs}{g2}{a}{b}"));
    assert_eq!(inst(&c, "VI_1").track.scripts.len(), 1);
    // Address owner: weighted interface and script are not tracked; file f1 has weight 1 by default.
    let owner = BASIC.replace(
        "interface eth0",
        "interface eth0\n    priority 255\n    track_interface {\n        eth1 weight 5\n    }\n    track_file {\n        f1\n    }",
    );
    let (c, d) = ok(&format!("{defs}{owner}"));
    let i = inst(&c, "VI_1");
    assert!(i.track.interfaces.is_empty() && i.track.files.is_empty());
    has(
        &d,
        Severity::Warning,
        "tracked interface eth1 is ignored",
        12,
        9,
    );
    has(
        &d,
        Severity::Warning,
        "tracked file f1 (weight 1) is ignored",
        15,
        9,
    );
}

#[test]
fn global_defs_late_and_shared_vips() {
    let (_, d) = ok(&format!("{BASIC}global_defs {{\n    vrrp_strict\n}}\n"));
    has(
        &d,
        Severity::Warning,
        "global_defs comes after vrrp_instance `VI_1`",
        8,
        1,
    );
    let b = BASIC.replace("VI_1", "VI_2").replace("51", "52");
    let (_, d) = ok(&format!("{BASIC}{b}"));
    has(
        &d,
        Severity::Warning,
        "192.0.2.10 is also used by vrrp_instance `VI_1`",
        8,
        15,
    );
}

#[test]
fn script_security_note() {
    let script = "vrrp_script s {\n    script /etc/keepalived/check.sh\n}\n";
    let (_, d) = run(script);
    assert!(d
        .iter()
        .any(|x| x.message == SCRIPT_SECURITY && x.span.is_none()));
    let (_, d) = run(&format!(
        "global_defs {{\n    enable_script_security\n}}\n{script}"
    ));
    assert!(!d.iter().any(|x| x.message == SCRIPT_SECURITY));
    let (_, d) = run(&format!(
        "global_defs {{\n    script_user nobody\n}}\n{script}"
    ));
    assert!(!d.iter().any(|x| x.message == SCRIPT_SECURITY));
    let (_, d) = run(BASIC);
    assert!(!d.iter().any(|x| x.message == SCRIPT_SECURITY));
    let (_, d) = run(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    notify /etc/keepalived/notify.sh",
    ));
    assert!(d.iter().any(|x| x.message == SCRIPT_SECURITY));
}

#[test]
fn notify_script_checks() {
    let (_, d) = run(&BASIC.replace(
        "interface eth0",
        "interface eth0\n    notify_master /nonexistent/notify.sh\n    notify_backup \"/etc/keepalived/notexec.sh BACKUP\"",
    ));
    has(
        &d,
        Severity::Warning,
        "notify_master script `/nonexistent/notify.sh` does not exist",
        3,
        19,
    );
    has(&d, Severity::Warning, "is not executable", 4, 19);
}

// ---------------------------------------------------------------------------------------
// global_defs

#[test]
fn global_defaults() {
    let g = GlobalDefs::default();
    assert_eq!(g.vrrp_version, VrrpVersion::V2);
    assert_eq!(g.vrrp_mcast_group4, ip("224.0.0.18"));
    assert_eq!(g.vrrp_mcast_group6, ip("ff02::12"));
    assert_eq!(g.smtp_connect_timeout, Duration::from_secs(30));
    assert_eq!(g.vrrp_garp_master_delay_secs, 5);
    assert_eq!(g.vrrp_garp_master_repeat, 5);
    assert_eq!(g.default_interface, "eth0");
    assert_eq!(g.vrrp_down_timer_adverts, 3);
    assert_eq!(g.startup_script_timeout_secs, 10);
    assert_eq!(g.umask, 0o022);
}

#[test]
fn global_values() {
    let (c, d) = run(
        "net_namespace blue\ninstance one\nuse_pid_dir\nchild_wait_time 9\nglobal_defs {
    router_id LVS_1
    notification_email {
        ops@example.com
        noc@example.com
    }
    notification_email_from ka@example.com
    smtp_server 192.0.2.25 2525
    smtp_helo_name h
    smtp_connect_timeout 5
    smtp_alert
    smtp_alert_vrrp false
    vrrp_mcast_group4 224.0.0.19
    vrrp_mcast_group6 ff02::13
    default_interface eth1
    lvs_sync_daemon eth0 VI_1 id 5 maxlen 1400 port 8849 ttl 2 group 224.0.0.82
    lvs_timeouts tcp 900 tcpfin 120 udp 300
    lvs_flush
    lvs_flush_on_stop VS
    vrrp_garp_master_delay 10
    vrrp_garp_master_repeat 3
    vrrp_garp_master_refresh 60
    vrrp_garp_interval 0.001
    vrrp_gna_interval 0.000001
    vrrp_garp_extra_if 100
    vrrp_down_timer_adverts 4
    vrrp_version 3
    vrrp_strict
    nftables kt
    nftables_priority -5
    nftables_counters
    max_auto_priority
    vrrp_priority -10
    checker_cpu_affinity 0 1
    bfd_rt_priority 50
    vrrp_rlimit_rttime 20000
    vrrp_netlink_cmd_rcv_bufs 1048576
    vrrp_netlink_cmd_rcv_bufs_force on
    vrrp_rx_bufs_policy MTU
    umask IWGRP|IWOTH|IXOTH
    script_user keepalived_script
    enable_script_security
    vrrp_notify_fifo /run/ka.fifo root
    startup_script /etc/keepalived/notify.sh
    startup_script_timeout 20
    dynamic_interfaces allow_if_changes
    include_check +match -readable
    reload_file
    vrrp_startup_delay 5.5
    random_seed 42
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        fe80::1/64
    }
}
",
    );
    assert!(errors(&d).is_empty(), "{d:#?}");
    let g = &c.vrrp.global;
    assert_eq!(g.net_namespace.as_deref(), Some("blue"));
    assert_eq!(g.instance.as_deref(), Some("one"));
    assert!(g.use_pid_dir);
    assert_eq!(g.child_wait_time_secs, 9);
    assert_eq!(g.router_id.as_deref(), Some("LVS_1"));
    assert_eq!(g.notification_email.len(), 2);
    assert_eq!(
        g.smtp_server,
        Some(ka_model::vrrp::global::SmtpServer {
            host: "192.0.2.25".into(),
            port: 2525
        })
    );
    assert_eq!(g.smtp_connect_timeout, Duration::from_secs(5));
    assert_eq!((g.smtp_alert, g.smtp_alert_vrrp), (Some(true), Some(false)));
    assert_eq!(g.vrrp_mcast_group4, ip("224.0.0.19"));
    assert_eq!(g.default_interface, "eth1");
    let sd = g.lvs_sync_daemon.clone().unwrap();
    assert_eq!(sd.instance.as_deref(), Some("VI_1"));
    assert_eq!(
        (sd.sync_id, sd.maxlen, sd.port, sd.ttl),
        (Some(5), Some(1400), 8849, Some(2))
    );
    assert_eq!(g.lvs_timeouts.map(|t| t.tcp_secs), Some(Some(900)));
    assert!(g.lvs_flush);
    assert_eq!(g.lvs_flush_on_stop, Some(true));
    assert_eq!(g.vrrp_garp_master_delay_secs, 10);
    assert_eq!(
        g.vrrp_garp_lower_prio_delay_secs, 10,
        "lower prio delay follows master delay"
    );
    assert_eq!(g.vrrp_garp_lower_prio_repeat, 3);
    assert_eq!(g.vrrp_garp_interval, Duration::from_millis(1));
    assert_eq!(g.vrrp_gna_interval, Duration::from_micros(1));
    assert_eq!(
        g.vrrp_garp_extra_if.map(|e| (e.all, e.interval_secs)),
        Some((false, 100))
    );
    assert_eq!(g.vrrp_version, VrrpVersion::V3);
    assert!(g.vrrp_strict);
    assert_eq!(
        g.nftables
            .as_ref()
            .map(|n| (n.table.as_str(), n.priority, n.counters)),
        Some(("kt", -5, true))
    );
    assert_eq!(g.max_auto_priority, 99);
    assert_eq!(g.vrrp_process.nice, Some(-10));
    assert_eq!(g.checker_process.cpu_affinity, vec![0, 1]);
    assert_eq!(g.bfd_process.rt_priority, Some(50));
    assert_eq!(g.vrrp_process.rlimit_rttime_us, Some(20000));
    assert_eq!(g.vrrp_netlink_cmd_rcv_bufs.bytes, Some(1_048_576));
    assert!(g.vrrp_netlink_cmd_rcv_bufs.force);
    assert_eq!(g.umask, 0o023);
    assert_eq!(g.script_user, Some(("keepalived_script".into(), None)));
    assert_eq!(
        g.vrrp_notify_fifo.as_ref().map(|f| f.user.as_deref()),
        Some(Some("root"))
    );
    assert_eq!(g.startup_script_timeout_secs, 20);
    assert_eq!(g.dynamic_interfaces.map(|d| d.allow_if_changes), Some(true));
    assert_eq!(g.include_check.as_ref().map(Vec::len), Some(2));
    assert_eq!(g.reload_file.as_deref(), Some(""));
    assert_eq!(g.vrrp_startup_delay, Duration::from_millis(5500));
    assert_eq!(g.random_seed, Some(42));
    // Globals flow into instances: strict, mcast group, down timer, garp.
    let i = inst(&c, "VI_1");
    assert!(i.strict_mode);
    assert_eq!(i.mcast_dst_ip, ip("ff02::13"));
    assert_eq!(i.down_timer_adverts, 4);
    assert_eq!(i.garp.master_delay_secs, 10);
}

#[test]
fn global_errors() {
    let (_, d) = run("global_defs {\n    vrrp_mcast_group4 192.0.2.1\n    vrrp_garp_master_repeat 0\n    router_idd x\n    enable_snmp_vrrp\n    umask IWGRPP\n    smtp_server 192.0.2.1 99999\n    vrrp_down_timer_adverts 101\n}\n");
    has(&d, Severity::Error, "not an IPv4 multicast address", 2, 23);
    has(&d, Severity::Error, "out of range 1..=4294967295", 3, 29);
    has(
        &d,
        Severity::Error,
        "unknown keyword `router_idd` in global_defs",
        4,
        5,
    );
    assert!(d
        .iter()
        .any(|x| x.help.as_deref() == Some("did you mean `router_id`?")));
    has(
        &d,
        Severity::Warning,
        "`enable_snmp_vrrp` is not supported",
        5,
        5,
    );
    has(&d, Severity::Error, "not a umask bit", 6, 11);
    has(&d, Severity::Error, "out of range 1..=65535", 7, 27);
    has(&d, Severity::Error, "out of range 1..=100", 8, 29);
    let (_, d) = run("global_defs {\n    lvs_sync_daemon eth0 VI_9\n}\n");
    assert!(d.iter().any(|x| x
        .message
        .contains("lvs_sync_daemon refers to vrrp_instance `VI_9`")));
}

#[test]
fn min_garp_keeps_explicit_values() {
    let c = clean("global_defs {\n    vrrp_min_garp\n}\n");
    let g = &c.vrrp.global;
    assert_eq!(
        (g.vrrp_garp_master_repeat, g.vrrp_garp_master_delay_secs),
        (1, 0)
    );
    assert_eq!(g.vrrp_garp_master_refresh_repeat, 0);
    let c = clean("global_defs {\n    vrrp_garp_master_repeat 3\n    vrrp_min_garp true\n}\n");
    assert_eq!(c.vrrp.global.vrrp_garp_master_repeat, 3);
    assert_eq!(c.vrrp.global.vrrp_garp_master_delay_secs, 0);
    let c = clean("global_defs {\n    vrrp_min_garp false\n    checker_rlimit_rttime 1\n}\n");
    assert_eq!(c.vrrp.global.vrrp_garp_master_repeat, 5);
    assert_eq!(c.vrrp.global.checker_process.rlimit_rttime_us, Some(2));
}

#[test]
fn umask_spellings() {
    for (text, want) in [("027", 0o27), ("0x1ff", 0o777), ("18", 18), ("IRWXU", 0)] {
        let (c, d) = run(&format!("global_defs {{\n    umask {text}\n}}\n"));
        if text == "IRWXU" {
            assert!(!errors(&d).is_empty(), "IRWXU is not a single bit name");
            continue;
        }
        assert!(d.is_empty(), "{text}: {d:?}");
        assert_eq!(c.vrrp.global.umask, want, "{text}");
    }
    let (_, d) = run("global_defs {\n    umask 01000\n}\n");
    has(&d, Severity::Error, "is not a umask", 2, 11);
}

#[test]
fn small_top_level_lists() {
    let c = clean("linkbeat_interfaces {\n    eth0\n    eth1 ETHTOOL\n}\ninterface_up_down_delays {\n    eth0 0.5\n    eth1 1 2\n}\ngarp_group {\n    garp_interval 0.01\n    gna_interval 0.02\n    interfaces {\n        eth0\n        eth1\n    }\n}\n");
    assert_eq!(c.vrrp.linkbeat_interfaces[0].kind, LinkbeatKind::Mii);
    assert_eq!(c.vrrp.linkbeat_interfaces[1].kind, LinkbeatKind::Ethtool);
    let u = &c.vrrp.interface_up_down_delays;
    assert_eq!(
        (u[0].down, u[0].up),
        (Duration::from_millis(500), Duration::from_millis(500))
    );
    assert_eq!(
        (u[1].down, u[1].up),
        (Duration::from_secs(1), Duration::from_secs(2))
    );
    let g = &c.vrrp.garp_groups[0];
    assert_eq!(g.garp_interval, Some(Duration::from_millis(10)));
    assert_eq!(g.interfaces, vec!["eth0".to_string(), "eth1".to_string()]);
    let (_, d) =
        run("linkbeat_interfaces {\n    eth0 ETHTOL\n}\ngarp_group {\n    garp_interval 1\n}\n");
    has(
        &d,
        Severity::Error,
        "`ETHTOL` is not a linkbeat method",
        2,
        10,
    );
    has(&d, Severity::Error, "garp_group names no interface", 4, 1);
}

#[test]
fn json_dump_has_no_locations() {
    let c = clean(BASIC);
    let j = serde_json::to_value(&c.vrrp).unwrap();
    let i = &j["instances"][0];
    assert_eq!(i["vrid"], 51);
    assert_eq!(i["priority"], 100);
    assert_eq!(i["advert_int_cs"], 100);
    assert!(i.get("locs").is_none());
    assert!(j.get("dropped").is_none());
}

// ---------------------------------------------------------------------------------------
// tables

/// A config that uses `kw` from table `block`, and a way to see whether it was taken as unknown.
fn usage(block: &str, kw: &str) -> String {
    const ROUTE_TYPES: &[&str] = &[
        "blackhole",
        "unreachable",
        "prohibit",
        "throw",
        "local",
        "broadcast",
        "anycast",
        "multicast",
        "nat",
        "unicast",
    ];
    let inst = |body: &str| {
        format!("vrrp_instance V {{\n interface eth0\n virtual_router_id 1\n{body}\n}}\n")
    };
    match block {
        "the top level (daemon keywords)" => format!("{kw} x\n"),
        "global_defs" => format!("global_defs {{\n {kw}\n}}\n"),
        "linkbeat_interfaces" => format!("linkbeat_interfaces {{\n eth0 {kw}\n}}\n"),
        "track_group" => format!("track_group T {{\n {kw} {{\n V\n }}\n}}\n"),
        "garp_group" => format!("garp_group {{\n {kw}\n}}\n"),
        "authentication" => inst(&format!(" authentication {{\n {kw} x\n }}")),
        "an address line" => inst(&format!(" virtual_ipaddress {{\n 192.0.2.1/24 {kw} x\n }}")),
        "a route line" => {
            let line = match kw {
                k if ROUTE_TYPES.contains(&k) => format!("{k} 192.0.2.0/24"),
                "to" | "inet" => format!("{kw} 192.0.2.0/24"),
                "weight" => "192.0.2.0/24 nexthop via 192.0.2.1 weight 1".to_string(),
                _ => format!("192.0.2.0/24 {kw} 1"),
            };
            inst(&format!(" virtual_routes {{\n {line}\n }}"))
        }
        "a rule line" => inst(&format!(
            " virtual_rules {{\n from 192.0.2.0/24 table 1 {kw} 1\n }}"
        )),
        b => format!("{b} N {{\n {kw}\n}}\n"),
    }
}

#[test]
fn every_table_keyword_is_known() {
    let mut total = 0;
    for spec in VRRP_BLOCKS {
        for k in spec.keywords {
            let text = usage(spec.name, k.name);
            let (_, d) = run(&text);
            let unknown = d.iter().find(|x| {
                (x.message.starts_with("unknown keyword")
                    || x.message.starts_with("unknown option"))
                    && x.message.contains(&format!("`{}`", k.name))
            });
            assert!(
                unknown.is_none(),
                "{} / {}: {unknown:?}\n{text}",
                spec.name,
                k.name
            );
            total += 1;
        }
    }
    assert!(total > 300, "only {total} keywords in the tables");
    // And the test can fail: a made-up keyword is reported.
    let (_, d) = run(&usage("vrrp_instance", "no_such_keyword"));
    assert!(d
        .iter()
        .any(|x| x.message.starts_with("unknown keyword `no_such_keyword`")));
}

#[test]
fn tables_have_no_duplicates() {
    for spec in VRRP_BLOCKS {
        let mut seen = std::collections::HashSet::new();
        for k in spec.keywords {
            assert!(seen.insert(k.name), "{} twice in {}", k.name, spec.name);
        }
    }
}

#[test]
fn compat_doc_matches_tables() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/compat/vrrp.md");
    let want = lv::compat_markdown();
    if std::env::var_os("UPDATE_COMPAT").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/compat/vrrp.md is out of date; run UPDATE_COMPAT=1 cargo test -p ka-config --test lower_vrrp"
    );
}

/// The sample configurations under tests/data/configs/vrrp: `ok-*.conf` lower without
/// errors, `bad-*.conf` report at least the errors their `# expect:` lines name.
#[test]
fn sample_configs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/configs/vrrp");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("conf") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let (_, d) = run(&text);
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("ok-") {
            assert!(errors(&d).is_empty(), "{name}: {d:#?}");
        } else {
            let expects: Vec<&str> = text
                .lines()
                .filter_map(|l| l.trim().strip_prefix("# expect:"))
                .map(str::trim)
                .collect();
            assert!(!expects.is_empty(), "{name} has no `# expect:` line");
            for x in expects {
                assert!(
                    d.iter().any(|y| y.message.contains(x)),
                    "{name}: no diagnostic containing {x:?} in {d:#?}"
                );
            }
        }
        n += 1;
    }
    assert!(n >= 4, "only {n} sample configs");
}

// ---------------------------------------------------------------------------------------
// robustness

mod soup {
    use super::*;
    use proptest::prelude::*;

    fn vocabulary() -> Vec<String> {
        let mut v: Vec<String> = VRRP_BLOCKS
            .iter()
            .flat_map(|b| b.keywords.iter().map(|k| k.name.to_string()))
            .collect();
        for w in [
            "vrrp_instance",
            "vrrp_script",
            "vrrp_sync_group",
            "global_defs",
            "track_file",
            "vrrp_track_process",
            "bfd_instance",
            "garp_group",
            "track_group",
            "static_routes",
            "static_rules",
            "static_ipaddress",
            "linkbeat_interfaces",
            "interface_up_down_delays",
            "{",
            "}",
            "{",
            "}",
            "0",
            "1",
            "255",
            "256",
            "-1",
            "0.5",
            "4294967296",
            "192.0.2.1",
            "192.0.2.0/24",
            "2001:db8::1/64",
            "fe80::1",
            "eth0",
            "VI_1",
            "MASTER",
            "BACKUP",
            "weight",
            "reverse",
            "all",
            "lock",
            "/bin/true",
            "\"/bin/x a b\"",
            "x/",
            "/99",
            "-",
            "+",
            "1-2",
            "a-b",
        ] {
            v.push(w.to_string());
        }
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Random keyword soup never panics the lowering, whatever the nesting.
        #[test]
        fn never_panics(lines in proptest::collection::vec(proptest::collection::vec(0usize..10_000, 1..8), 1..40)) {
            let vocab = vocabulary();
            let text: String = lines
                .iter()
                .map(|l| {
                    l.iter()
                        .map(|i| vocab[i % vocab.len()].as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect::<Vec<_>>()
                .join("\n");
            let fs = MemFs::default();
            let env = Env { fs: &fs, interfaces: Some(vec!["eth0".into()]) };
            let (tree, _) = build_tree(tokenize(FileId(0), &text));
            let (cfg, _) = lower(&tree, &env);
            // Whatever was built is serialisable.
            prop_assert!(serde_json::to_string(&cfg.vrrp).is_ok());
        }
    }
}

/// `metrics_listen` is ours (keepalived rejects it): an address and port, IPv4 or IPv6;
/// anything else is an error at its span that says how to write it.
#[test]
fn metrics_listen_extension() {
    let (cfg, d) = run("global_defs {\n    metrics_listen 192.0.2.1:9650\n}\n");
    assert!(errors(&d).is_empty(), "{d:?}");
    assert_eq!(
        cfg.vrrp.global.metrics_listen,
        Some("192.0.2.1:9650".parse().unwrap())
    );
    let (cfg, d) = run("global_defs {\n    metrics_listen [2001:db8::1]:9650\n}\n");
    assert!(errors(&d).is_empty(), "{d:?}");
    assert_eq!(
        cfg.vrrp.global.metrics_listen,
        Some("[2001:db8::1]:9650".parse().unwrap())
    );
    let (cfg, _) = run("global_defs {\n    router_id x\n}\n");
    assert_eq!(cfg.vrrp.global.metrics_listen, None);
    for bad in [
        "192.0.2.1",
        "192.0.2.1:99999",
        "2001:db8::1:9650",
        "host:9650",
    ] {
        let (cfg, d) = run(&format!("global_defs {{\n    metrics_listen {bad}\n}}\n"));
        let e = errors(&d);
        assert_eq!(e.len(), 1, "{bad}: {d:?}");
        assert!(e[0].message.contains("ADDR:PORT"), "{}", e[0].message);
        assert_eq!(e[0].span.map(|s| (s.line, s.col)), Some((2, 20)), "{bad}");
        assert_eq!(cfg.vrrp.global.metrics_listen, None);
    }
    let (_, d) = run("global_defs {\n    metrics_listen\n}\n");
    assert_eq!(errors(&d).len(), 1, "{d:?}");
}
