//! Differential test of the VRRP-side lowering against the real keepalived 2.2.7:
//! for each small configuration, `keepalived -t` rejects it (non-zero exit) exactly when
//! our lowering reports an error. Fails when keepalived is not installed (.ci/run installs it).
//!
//! Known, deliberate differences are listed in `DIFFERENT` and checked to still differ,
//! so the list stays honest.
#![allow(clippy::unwrap_used)] // a panic here is a failed test

use ka_config::fs::StdFs;
use ka_config::lower::{lower, Env};
use ka_config::source::FileId;
use ka_config::syntax::{build_tree, tokenize};
use ka_config::Severity;
use std::path::{Path, PathBuf};
use std::process::Command;

fn keepalived() -> Option<PathBuf> {
    [
        "/usr/sbin/keepalived",
        "/sbin/keepalived",
        "/usr/local/sbin/keepalived",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A non-loopback interface of this host (keepalived refuses unknown and loopback ones).
fn host_interface() -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n != "lo")
        .collect();
    names.sort();
    names.into_iter().next()
}

fn ours_has_error(text: &str) -> (bool, String) {
    let env = Env {
        fs: &StdFs,
        interfaces: None,
    };
    let (tree, d0) = build_tree(tokenize(FileId(0), text));
    let (_, d) = lower(&tree, &env);
    let all: Vec<_> = d0.iter().chain(d.iter()).collect();
    let err = all.iter().any(|x| x.severity == Severity::Error);
    let msgs = all
        .iter()
        .map(|x| format!("{:?}: {}", x.severity, x.message))
        .collect::<Vec<_>>()
        .join(" / ");
    (err, msgs)
}

fn theirs_has_error(ka: &Path, dir: &Path, n: usize, text: &str) -> (bool, String) {
    let f = dir.join(format!("case{n}.conf"));
    std::fs::write(&f, text).unwrap();
    let out = Command::new(ka)
        .args(["-t", "-l", "-f"])
        .arg(&f)
        .output()
        .unwrap();
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (!out.status.success(), msg.trim().replace('\n', " / "))
}

fn cases(ifname: &str) -> Vec<String> {
    let inst = |line: &str| {
        format!("vrrp_instance V {{\n interface {ifname}\n virtual_router_id 1\n {line}\n virtual_ipaddress {{\n 192.0.2.1/24\n }}\n}}\n")
    };
    let uinst = |line: &str| {
        format!("vrrp_instance V {{\n interface {ifname}\n virtual_router_id 1\n {line}\n unicast_peer {{\n 192.0.2.5\n }}\n virtual_ipaddress {{\n 192.0.2.1/24\n }}\n}}\n")
    };
    let glob = |line: &str| format!("global_defs {{\n {line}\n}}\n");
    let scr = |line: &str| {
        format!("global_defs {{\n enable_script_security\n script_user root\n}}\nvrrp_script S {{\n script /bin/true\n {line}\n}}\n")
    };
    let proc_ = |line: &str| format!("vrrp_track_process P {{\n process foo\n {line}\n}}\n");
    let bfd = |line: &str| format!("bfd_instance B {{\n neighbor_ip 192.0.2.9\n {line}\n}}\n");
    let tf = |line: &str| format!("track_file F {{\n file /tmp/ka-rs-tf\n {line}\n}}\n");
    let mut v = Vec::new();
    for (k, vals) in [
        ("priority", &["1", "255", "0", "256", "1.5"][..]),
        ("virtual_router_id", &["255", "0", "256"]),
        ("advert_int", &["0.01", "1", "255", "0.009", "255.1", "abc"]),
        ("preempt_delay", &["0", "1000", "1001", "0.5"]),
        ("garp_master_delay", &["0", "4294", "4295"]),
        (
            "garp_master_repeat",
            &["0", "1", "4294967295", "4294967296"],
        ),
        ("garp_lower_prio_repeat", &["0", "2147483647", "2147483648"]),
        ("garp_master_refresh", &["0", "4294967295"]),
        ("garp_master_refresh_repeat", &["0", "1"]),
        ("garp_extra_if", &["0", "86400", "86401", "all 5"]),
        ("down_timer_adverts", &["0", "1", "100", "101"]),
        ("debug", &["0", "4", "5"]),
        ("version", &["1", "2", "3", "4"]),
        ("state", &["MASTER", "BACKUP"]),
    ] {
        for x in vals {
            v.push(inst(&format!("{k} {x}")));
        }
    }
    for x in ["0", "255", "256"] {
        v.push(uinst(&format!("unicast_ttl {x}")));
    }
    v.push(inst("unicast_ttl 5"));
    for (k, vals) in [
        ("vrrp_garp_master_delay", &["0", "4294", "4295"][..]),
        ("vrrp_garp_master_repeat", &["0", "1", "4294967295"]),
        (
            "vrrp_garp_interval",
            &["0", "0.000001", "4294.967295", "4294.967296"],
        ),
        ("vrrp_gna_interval", &["0", "1"]),
        ("vrrp_down_timer_adverts", &["0", "100", "101"]),
        ("vrrp_version", &["2", "3", "4"]),
        ("smtp_connect_timeout", &["1", "4294", "4295"]),
        ("startup_script_timeout", &["0", "1", "1000", "1001"]),
        ("max_auto_priority", &["-2", "-1", "99", "100"]),
        ("vrrp_priority", &["-21", "-20", "19", "20"]),
        ("vrrp_rt_priority", &["0", "1", "99", "100"]),
        ("vrrp_startup_delay", &["0", "5.5", "4294", "10000"]),
        ("vrrp_garp_extra_if", &["0", "1", "86400", "86401"]),
        ("vrrp_rx_bufs_multiplier", &["0", "1"]),
        ("vrrp_mcast_group4", &["224.0.0.18", "192.0.2.1"]),
        ("router_idd", &["x"]),
    ] {
        for x in vals {
            v.push(glob(&format!("{k} {x}")));
        }
    }
    for (k, vals) in [
        ("interval", &["1", "4294", "4295", "0.5"][..]),
        ("timeout", &["0", "1", "4295"]),
        ("rise", &["0", "1"]),
        ("weight", &["-254", "-253", "253", "254"]),
    ] {
        for x in vals {
            v.push(scr(&format!("{k} {x}")));
        }
    }
    for (k, vals) in [
        ("weight", &["-255", "-254", "254", "255"][..]),
        ("quorum", &["0", "1", "65535", "65536"]),
        ("quorum_max", &["0", "65535", "65536"]),
        ("delay", &["0", "0.5", "3600", "3601"]),
    ] {
        for x in vals {
            v.push(proc_(&format!("{k} {x}")));
        }
    }
    for (k, vals) in [
        ("min_rx", &["0", "1", "4294967", "4294968"][..]),
        ("idle_tx", &["999", "1000"]),
        ("multiplier", &["0", "1", "255", "256"]),
        ("ttl", &["0", "255", "256"]),
        ("weight", &["-254", "-253", "253", "254"]),
    ] {
        for x in vals {
            v.push(bfd(&format!("{k} {x}")));
        }
    }
    for x in ["-255", "-254", "254", "255"] {
        v.push(tf(&format!("weight {x}")));
    }
    // References and structure.
    v.push(inst("track_script {\n nosuch\n }"));
    v.push(inst(" ").replace("virtual_router_id 1\n", ""));
    v.push(inst("bogus_keyword 1"));
    v.push(format!(
        "vrrp_sync_group G {{\n group {{\n V\n W\n }}\n}}\n{}",
        inst(" ")
    ));
    v.push(format!("{}{}", inst(" "), inst(" ").replace("V {", "W {")));
    v.push(inst(" ").replace("192.0.2.1/24", "192.0.2.1/24\n 2001:db8::1/64"));
    v.push(inst(
        "authentication {\n auth_type PASS\n auth_pass 123456789\n }",
    ));
    v.push(inst(" ").replace(
        "virtual_ipaddress {",
        "virtual_rules {\n from 192.0.2.0/24 priority 5\n }\n virtual_ipaddress {",
    ));
    v.push(inst(" ").replace(
        "virtual_ipaddress {",
        "virtual_rules {\n from 192.0.2.0/24 table 1 goto 3\n }\n virtual_ipaddress {",
    ));
    v.push(inst(" ").replace(
        "virtual_ipaddress {",
        format!("virtual_routes {{\n 198.51.100.0/24 dev {ifname} proto 5\n }}\n virtual_ipaddress {{").as_str(),
    ));
    v.push(inst(" ").replace("192.0.2.1/24", "192.0.2.1/24 peer 192.0.2.2"));
    v
}

/// Cases where we report an error and keepalived does not, or the other way round, on
/// purpose (with the reason).
const DIFFERENT: &[(&str, &str)] = &[
    (
        "advert_int 0.01\n",
        "keepalived rounds a fractional VRRPv2 interval and calls it a config error; we warn, since it runs",
    ),
    (
        "auth_pass 123456789",
        "keepalived truncates a long auth_pass and calls it a config error; we warn, since it runs",
    ),
];

#[test]
fn agrees_with_keepalived_t() {
    let Some(ka) = keepalived() else {
        panic!("keepalived is not installed (apt-get install keepalived; .ci/run does)");
    };
    let Some(ifname) = host_interface() else {
        panic!("this host has no non-loopback interface for the differential test");
    };
    let dir = std::env::temp_dir().join(format!("ka-rs-vrrp-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut mismatches = Vec::new();
    let all = cases(&ifname);
    for (n, text) in all.iter().enumerate() {
        let (ka_err, ka_msg) = theirs_has_error(&ka, &dir, n, text);
        let (our_err, our_msg) = ours_has_error(text);
        let expected_diff = DIFFERENT.iter().any(|(needle, _)| text.contains(needle));
        if (ka_err != our_err) != expected_diff {
            mismatches.push(format!(
                "--- case {n} (expected {})\n{text}keepalived: error={ka_err} [{ka_msg}]\nours: error={our_err} [{our_msg}]",
                if expected_diff { "a difference" } else { "agreement" }
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        mismatches.is_empty(),
        "{} of {} cases disagree with keepalived -t:\n{}",
        mismatches.len(),
        all.len(),
        mismatches.join("\n")
    );
}
