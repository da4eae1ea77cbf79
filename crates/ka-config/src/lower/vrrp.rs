//! Global, static, tracking and VRRP blocks.
//!
//! Each block kind has a keyword table below; handlers live in the submodules:
//! [`global`] (global_defs and the top-level daemon keywords), [`net`] (address, route and
//! rule lines), [`track`] (track_group, track_file, track_process, bfd_instance,
//! vrrp_script, linkbeat_interfaces, interface_up_down_delays, garp_group,
//! vrrp_sync_group), [`instance`] (vrrp_instance). Checks that need the whole file
//! (references, duplicate VRIDs) run in [`check`].

pub mod global;
pub mod instance;
pub mod net;
pub mod track;

use super::{kw, BlockSpec, Lowerer, Status};
use crate::diag::Diagnostic;
use crate::source::{FileId, Span};
use crate::syntax::{Node, Token};
use ka_model::config::Config;
use ka_model::vrrp::{Fifo, Loc, ScriptCmd, Weight};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use Status::{NotSupported as N, ParsedOnly as P, Supported as S};

/// Top-level daemon keywords that keepalived 2.2.7 accepts outside `global_defs`.
pub const TOP_DAEMON: BlockSpec = BlockSpec {
    name: "the top level (daemon keywords)",
    keywords: &[
        kw("net_namespace", P),
        kw("net_namespace_ipvs", P),
        kw("namespace_with_ipsets", N),
        kw("instance", P),
        kw("use_pid_dir", P),
        kw("linkbeat_use_polling", P),
        kw("child_wait_time", P),
    ],
};

/// `global_defs { ... }`.
pub const GLOBAL_DEFS: BlockSpec = BlockSpec {
    name: "global_defs",
    keywords: &[
        kw("tmp_config_directory", P),
        kw("config_save_dir", P),
        kw("process_names", P),
        kw("process_name", P),
        kw("vrrp_process_name", P),
        kw("checker_process_name", P),
        kw("bfd_process_name", P),
        kw("startup_script", P),
        kw("startup_script_timeout", P),
        kw("shutdown_script", P),
        kw("shutdown_script_timeout", P),
        kw("notification_email", S),
        kw("notification_email_from", S),
        kw("smtp_server", S),
        kw("smtp_helo_name", S),
        kw("smtp_connect_timeout", S),
        kw("smtp_alert", S),
        kw("smtp_alert_vrrp", S),
        kw("smtp_alert_checker", S),
        kw("checker_log_all_failures", P),
        kw("no_email_faults", S),
        kw("router_id", S),
        kw("vrrp_mcast_group4", P),
        kw("vrrp_mcast_group6", P),
        kw("default_interface", P),
        kw("lvs_sync_daemon", S),
        kw("lvs_timeouts", S),
        kw("lvs_flush", S),
        kw("lvs_flush_on_stop", S),
        kw("vrrp_garp_master_delay", P),
        kw("vrrp_garp_master_repeat", P),
        kw("vrrp_garp_lower_prio_delay", P),
        kw("vrrp_garp_lower_prio_repeat", P),
        kw("vrrp_garp_master_refresh", P),
        kw("vrrp_garp_master_refresh_repeat", P),
        kw("vrrp_garp_interval", P),
        kw("vrrp_gna_interval", P),
        kw("vrrp_min_garp", P),
        kw("vrrp_garp_extra_if", P),
        kw("vrrp_down_timer_adverts", P),
        kw("vrrp_lower_prio_no_advert", P),
        kw("vrrp_higher_prio_send_advert", P),
        kw("vrrp_version", P),
        kw("nftables", S),
        kw("nftables_priority", S),
        kw("nftables_counters", P),
        kw("nftables_ifindex", P),
        kw("nftables_ipvs", P),
        kw("nftables_ipvs_priority", P),
        kw("nftables_ipvs_start_fwmark", P),
        kw("vrrp_iptables", N),
        kw("vrrp_ipsets", N),
        kw("disable_local_igmp", P),
        kw("vrrp_check_unicast_src", P),
        kw("vrrp_skip_check_adv_addr", P),
        kw("vrrp_strict", P),
        kw("vrrp_notify_priority_changes", S),
        kw("max_auto_priority", P),
        kw("min_auto_priority_delay", P),
        kw("vrrp_priority", P),
        kw("checker_priority", P),
        kw("bfd_priority", P),
        kw("vrrp_no_swap", P),
        kw("checker_no_swap", P),
        kw("bfd_no_swap", P),
        kw("vrrp_cpu_affinity", P),
        kw("checker_cpu_affinity", P),
        kw("bfd_cpu_affinity", P),
        kw("vrrp_rt_priority", P),
        kw("checker_rt_priority", P),
        kw("bfd_rt_priority", P),
        kw("vrrp_rlimit_rttime", P),
        kw("checker_rlimit_rttime", P),
        kw("bfd_rlimit_rttime", P),
        kw("vrrp_rlimit_rtime", P),
        kw("checker_rlimit_rtime", P),
        kw("bfd_rlimit_rtime", P),
        kw("snmp_socket", N),
        kw("enable_snmp_vrrp", N),
        kw("enable_snmp_keepalived", N),
        kw("enable_snmp_checker", N),
        kw("enable_snmp_rfc", N),
        kw("enable_snmp_rfcv2", N),
        kw("enable_snmp_rfcv3", N),
        kw("enable_traps", N),
        kw("enable_dbus", N),
        kw("dbus_service_name", N),
        kw("script_user", S),
        kw("enable_script_security", S),
        kw("notify_fifo", S),
        kw("notify_fifo_script", S),
        kw("vrrp_notify_fifo", S),
        kw("vrrp_notify_fifo_script", S),
        kw("lvs_notify_fifo", P),
        kw("lvs_notify_fifo_script", P),
        kw("fifo_write_vrrp_states_on_reload", P),
        kw("dynamic_interfaces", P),
        kw("vrrp_netlink_cmd_rcv_bufs", P),
        kw("vrrp_netlink_cmd_rcv_bufs_force", P),
        kw("vrrp_netlink_monitor_rcv_bufs", P),
        kw("vrrp_netlink_monitor_rcv_bufs_force", P),
        kw("lvs_netlink_cmd_rcv_bufs", P),
        kw("lvs_netlink_cmd_rcv_bufs_force", P),
        kw("lvs_netlink_monitor_rcv_bufs", P),
        kw("lvs_netlink_monitor_rcv_bufs_force", P),
        kw("process_monitor_rcv_bufs", P),
        kw("process_monitor_rcv_bufs_force", P),
        kw("vrrp_rx_bufs_policy", P),
        kw("vrrp_rx_bufs_multiplier", P),
        kw("rs_init_notifies", P),
        kw("no_checker_emails", S),
        kw("umask", P),
        kw("vrrp_startup_delay", P),
        kw("log_unknown_vrids", P),
        kw("vmac_prefix", S),
        kw("vmac_addr_prefix", P),
        kw("random_seed", P),
        kw("reload_check_config", P),
        kw("include_check", P),
        kw("reload_time_file", P),
        kw("reload_repeat", P),
        kw("reload_file", P),
        kw("data_use_instance", P),
        // keepalived-rs extensions: keepalived rejects them (`keepalived -t` fails).
        kw("metrics_listen", S),
    ],
};

/// `linkbeat_interfaces { IF [MII|ETHTOOL|IOCTL] ... }` (a list; the table holds the methods).
pub const LINKBEAT_INTERFACES: BlockSpec = BlockSpec {
    name: "linkbeat_interfaces",
    keywords: &[kw("MII", P), kw("ETHTOOL", P), kw("IOCTL", P)],
};

/// `track_group NAME { group { ... } }`.
pub const TRACK_GROUP: BlockSpec = BlockSpec {
    name: "track_group",
    keywords: &[kw("group", P)],
};

/// `track_file NAME { ... }` (also `vrrp_track_file`).
pub const TRACK_FILE: BlockSpec = BlockSpec {
    name: "track_file",
    keywords: &[kw("file", S), kw("weight", S), kw("init_file", S)],
};

/// `vrrp_track_process NAME { ... }` (also `track_process`).
pub const TRACK_PROCESS: BlockSpec = BlockSpec {
    name: "vrrp_track_process",
    keywords: &[
        kw("process", S),
        kw("param_match", S),
        kw("weight", S),
        kw("quorum", S),
        kw("quorum_max", S),
        kw("fork_delay", S),
        kw("terminate_delay", S),
        kw("delay", S),
        kw("full_command", S),
    ],
};

/// `bfd_instance NAME { ... }`.
pub const BFD_INSTANCE: BlockSpec = BlockSpec {
    name: "bfd_instance",
    keywords: &[
        kw("neighbor_ip", P),
        kw("neighbour_ip", P),
        kw("source_ip", P),
        kw("min_rx", P),
        kw("min_tx", P),
        kw("idle_tx", P),
        kw("multiplier", P),
        kw("passive", P),
        kw("ttl", P),
        kw("hoplimit", P),
        kw("max_hops", P),
        kw("weight", P),
        kw("vrrp", P),
        kw("checker", P),
    ],
};

/// `vrrp_script NAME { ... }`.
pub const VRRP_SCRIPT: BlockSpec = BlockSpec {
    name: "vrrp_script",
    keywords: &[
        kw("script", S),
        kw("interval", S),
        kw("timeout", S),
        kw("weight", S),
        kw("rise", S),
        kw("fall", S),
        kw("user", S),
        kw("init_fail", S),
    ],
};

/// `vrrp_sync_group NAME { ... }`.
pub const VRRP_SYNC_GROUP: BlockSpec = BlockSpec {
    name: "vrrp_sync_group",
    keywords: &[
        kw("group", P),
        kw("track_interface", P),
        kw("track_script", S),
        kw("track_file", S),
        kw("track_process", S),
        kw("track_bfd", P),
        kw("notify_master", S),
        kw("notify_backup", S),
        kw("notify_fault", S),
        kw("notify_stop", S),
        kw("notify_deleted", P),
        kw("notify", S),
        kw("notify_priority_changes", P),
        kw("smtp_alert", S),
        kw("global_tracking", P),
        kw("sync_group_tracking_weight", P),
    ],
};

/// `garp_group { ... }`.
pub const GARP_GROUP: BlockSpec = BlockSpec {
    name: "garp_group",
    keywords: &[
        kw("garp_interval", P),
        kw("gna_interval", P),
        kw("interface", P),
        kw("interfaces", P),
    ],
};

/// `vrrp_instance NAME { ... }`.
pub const VRRP_INSTANCE: BlockSpec = BlockSpec {
    name: "vrrp_instance",
    keywords: &[
        kw("state", P),
        kw("interface", P),
        kw("vrf", P),
        kw("use_vmac", S),
        kw("use_vmac_addr", P),
        kw("vmac_xmit_base", S),
        kw("use_ipvlan", N),
        kw("native_ipv6", P),
        kw("dont_track_primary", P),
        kw("track_interface", P),
        kw("track_script", S),
        kw("track_file", S),
        kw("track_process", S),
        kw("track_bfd", P),
        kw("mcast_src_ip", P),
        kw("unicast_src_ip", P),
        kw("mcast_dst_ip", P),
        kw("track_src_ip", P),
        kw("version", P),
        kw("check_unicast_src", P),
        kw("unicast_peer", P),
        kw("unicast_fault_no_peer", P),
        kw("unicast_ttl", P),
        kw("old_unicast_checksum", N),
        kw("garp_master_delay", P),
        kw("garp_master_repeat", P),
        kw("garp_lower_prio_delay", P),
        kw("garp_lower_prio_repeat", P),
        kw("garp_master_refresh", P),
        kw("garp_master_refresh_repeat", P),
        kw("garp_extra_if", P),
        kw("down_timer_adverts", P),
        kw("lower_prio_no_advert", P),
        kw("higher_prio_send_advert", P),
        kw("virtual_router_id", P),
        kw("priority", P),
        kw("advert_int", P),
        kw("authentication", P),
        kw("virtual_ipaddress", P),
        kw("virtual_ipaddress_excluded", P),
        kw("promote_secondaries", P),
        kw("virtual_routes", S),
        kw("virtual_rules", S),
        kw("accept", S),
        kw("no_accept", S),
        kw("nopreempt", P),
        kw("preempt", P),
        kw("preempt_delay", P),
        kw("skip_check_adv_addr", P),
        kw("strict_mode", P),
        kw("debug", P),
        kw("notify_master", S),
        kw("notify_backup", S),
        kw("notify_fault", S),
        kw("notify_stop", S),
        kw("notify_deleted", S),
        kw("notify", S),
        kw("notify_master_rx_lower_pri", S),
        kw("notify_priority_changes", S),
        kw("smtp_alert", S),
        kw("kernel_rx_buf_size", P),
        kw("linkbeat_use_polling", P),
        kw("lvs_sync_daemon_interface", P),
    ],
};

/// `authentication { ... }` inside a vrrp_instance.
pub const AUTHENTICATION: BlockSpec = BlockSpec {
    name: "authentication",
    keywords: &[kw("auth_type", P), kw("auth_pass", P)],
};

/// Options of an address line (`virtual_ipaddress`, `virtual_ipaddress_excluded`,
/// `static_ipaddress`).
pub const ADDRESS_OPTIONS: BlockSpec = BlockSpec {
    name: "an address line",
    keywords: &[
        kw("brd", S),
        kw("broadcast", S),
        kw("dev", S),
        kw("scope", S),
        kw("label", S),
        kw("peer", P),
        kw("home", P),
        kw("-nodad", S),
        kw("mngtmpaddr", P),
        kw("noprefixroute", P),
        kw("autojoin", P),
        kw("no_track", P),
        kw("use_vmac", P),
        kw("track_group", P),
        kw("preferred_lft", P),
    ],
};

/// Options of a route line (`virtual_routes`, `static_routes`).
pub const ROUTE_OPTIONS: BlockSpec = BlockSpec {
    name: "a route line",
    keywords: &[
        kw("src", S),
        kw("to", S),
        kw("via", S),
        kw("gw", S),
        kw("or", P),
        kw("dev", S),
        kw("oif", S),
        kw("scope", S),
        kw("table", S),
        kw("metric", S),
        kw("priority", S),
        kw("preference", S),
        kw("protocol", S),
        kw("tos", S),
        kw("dsfield", S),
        kw("onlink", S),
        kw("realms", P),
        kw("mtu", P),
        kw("advmss", P),
        kw("rtt", P),
        kw("rttvar", P),
        kw("reordering", P),
        kw("window", P),
        kw("cwnd", P),
        kw("ssthresh", P),
        kw("rto_min", P),
        kw("initcwnd", P),
        kw("initrwnd", P),
        kw("hoplimit", P),
        kw("quickack", P),
        kw("fastopen_no_cookie", P),
        kw("features", P),
        kw("congctl", P),
        kw("pref", P),
        kw("expires", P),
        kw("vrf", P),
        kw("encap", P),
        kw("ttl-propagate", P),
        kw("nexthop", P),
        kw("weight", P),
        kw("append", P),
        kw("no_track", P),
        kw("track_group", P),
        kw("inet", S),
        kw("inet6", S),
        kw("blackhole", S),
        kw("unreachable", S),
        kw("prohibit", S),
        kw("throw", P),
        kw("local", P),
        kw("broadcast", P),
        kw("anycast", P),
        kw("multicast", P),
        kw("nat", P),
        kw("unicast", S),
    ],
};

/// Options of a rule line (`virtual_rules`, `static_rules`).
pub const RULE_OPTIONS: BlockSpec = BlockSpec {
    name: "a rule line",
    keywords: &[
        kw("from", S),
        kw("to", S),
        kw("not", S),
        kw("table", S),
        kw("lookup", S),
        kw("preference", S),
        kw("priority", S),
        kw("order", S),
        kw("tos", S),
        kw("dsfield", S),
        kw("fwmark", S),
        kw("realms", P),
        kw("goto", S),
        kw("iif", S),
        kw("dev", S),
        kw("oif", S),
        kw("suppress_prefixlength", S),
        kw("suppress_ifgroup", P),
        kw("uidrange", P),
        kw("l3mdev", S),
        kw("protocol", S),
        kw("ip_proto", P),
        kw("sport", P),
        kw("dport", P),
        kw("tunnel-id", P),
        kw("blackhole", S),
        kw("unreachable", S),
        kw("prohibit", S),
        kw("nop", S),
        kw("no_track", P),
        kw("track_group", P),
        kw("inet", S),
        kw("inet6", S),
    ],
};

/// Every keyword table of the VRRP side (docs/COMPATIBILITY.md is checked against these).
pub const VRRP_BLOCKS: &[&BlockSpec] = &[
    &TOP_DAEMON,
    &GLOBAL_DEFS,
    &LINKBEAT_INTERFACES,
    &TRACK_GROUP,
    &TRACK_FILE,
    &TRACK_PROCESS,
    &BFD_INSTANCE,
    &VRRP_SCRIPT,
    &VRRP_SYNC_GROUP,
    &GARP_GROUP,
    &VRRP_INSTANCE,
    &AUTHENTICATION,
    &ADDRESS_OPTIONS,
    &ROUTE_OPTIONS,
    &RULE_OPTIONS,
];

/// Lowers one top-level block that is not an LVS block.
pub fn lower_top(cx: &mut Lowerer<'_>, cfg: &mut Config, node: &Node) {
    let before = cx.diags.len();
    lower_top_inner(cx, cfg, node);
    // With `dynamic_interfaces`, keepalived accepts interfaces that do not exist yet.
    if cfg.vrrp.global.dynamic_interfaces.is_some() && cx.diags.len() > before {
        let mut i = 0;
        cx.diags.retain(|d| {
            i += 1;
            i <= before || !d.message.ends_with(NO_SUCH_INTERFACE)
        });
    }
}

/// The tail of the message about a missing interface.
const NO_SUCH_INTERFACE: &str = "does not exist on this host";

fn lower_top_inner(cx: &mut Lowerer<'_>, cfg: &mut Config, node: &Node) {
    let v = &mut cfg.vrrp;
    match node.keyword.text.as_str() {
        "global_defs" => {
            if let Some(first) = v.instances.first() {
                cx.push(
                    Diagnostic::warning(
                        node.keyword.span,
                        format!(
                            "global_defs comes after vrrp_instance `{}`; its VRRP defaults apply only to instances after it here",
                            first.name
                        ),
                    )
                    .with_help("move global_defs to the top of the configuration (keepalived applies it to every instance)"),
                );
            }
            global::lower_global_defs(cx, &mut v.global, node)
        }
        "linkbeat_interfaces" => track::lower_linkbeat(cx, v, node),
        "interface_up_down_delays" => track::lower_up_down_delays(cx, v, node),
        "track_group" => track::lower_track_group(cx, v, node),
        "static_ipaddress" => {
            for n in cx.block(node) {
                if let Some(a) = net::lower_address(cx, n, net::AddrCtx::Static) {
                    v.static_addresses.push(a);
                }
            }
        }
        "static_routes" => {
            for n in cx.block(node) {
                if let Some(r) = net::lower_route(cx, n, true) {
                    v.static_routes.push(r);
                }
            }
        }
        "static_rules" => {
            for n in cx.block(node) {
                if let Some(r) = net::lower_rule(cx, n, true) {
                    v.static_rules.push(r);
                }
            }
        }
        "track_file" | "vrrp_track_file" => track::lower_track_file(cx, v, node),
        "track_process" | "vrrp_track_process" => track::lower_track_process(cx, v, node),
        "bfd_instance" => track::lower_bfd(cx, v, node),
        "vrrp_script" => track::lower_script(cx, v, node),
        "vrrp_sync_group" => track::lower_sync_group(cx, v, node),
        "garp_group" => track::lower_garp_group(cx, v, node),
        "vrrp_instance" => instance::lower_instance(cx, v, node),
        k if TOP_DAEMON.status(k).is_some() => {
            if cx.admit(node, &TOP_DAEMON) {
                global::lower_daemon_keyword(cx, &mut v.global, node);
            }
        }
        _ => cx.unknown_keyword(node, &super::TOP),
    }
}

/// Cross-reference and consistency checks over the VRRP side.
pub fn check(cx: &mut Lowerer<'_>, cfg: &Config) {
    let v = &cfg.vrrp;
    let dropped: HashSet<&str> = v.dropped.iter().map(String::as_str).collect();
    let scripts: HashSet<&str> = v.scripts.iter().map(|s| s.name.as_str()).collect();
    let files: HashSet<&str> = v.track_files.iter().map(|s| s.name.as_str()).collect();
    let procs: HashSet<&str> = v.track_processes.iter().map(|s| s.name.as_str()).collect();
    let bfds: HashSet<&str> = v.bfd_instances.iter().map(|s| s.name.as_str()).collect();
    let insts: HashSet<&str> = v.instances.iter().map(|s| s.name.as_str()).collect();

    let refs = |cx: &mut Lowerer<'_>, t: &ka_model::vrrp::Tracking| {
        let sets: [(&[ka_model::vrrp::TrackRef], &HashSet<&str>, &str, &str); 4] = [
            (&t.scripts, &scripts, "vrrp_script", "track_script"),
            (&t.files, &files, "track_file", "track_file"),
            (&t.processes, &procs, "vrrp_track_process", "track_process"),
            (&t.bfds, &bfds, "bfd_instance", "track_bfd"),
        ];
        for (list, set, block, kwd) in sets {
            for r in list {
                if set.contains(r.name.as_str()) {
                    continue;
                }
                if dropped.contains(r.name.as_str()) {
                    cx.push(
                        Diagnostic::warning(
                            span(r.loc),
                            format!("{kwd} refers to `{}`, which was dropped because of the errors above; it is not tracked", r.name),
                        )
                        .with_help(format!("fix the {block} `{}`", r.name)),
                    );
                    continue;
                }
                let mut d = Diagnostic::error(
                    span(r.loc),
                    format!("{kwd} refers to `{}`, but no {block} has that name", r.name),
                );
                d = match cx.suggest(&r.name, set.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!(
                        "define `{block} {} {{ ... }}` or remove the reference",
                        r.name
                    )),
                };
                cx.push(d);
            }
        }
    };
    for i in &v.instances {
        refs(cx, &i.track);
    }
    for g in &v.sync_groups {
        refs(cx, &g.track);
    }

    // Sync group and track group members must be instances; an instance in two sync groups
    // is refused by keepalived.
    let mut member_of: HashMap<&str, &str> = HashMap::new();
    for g in &v.sync_groups {
        for (name, loc) in g.instances.iter().zip(&g.instance_locs) {
            if !insts.contains(name.as_str()) && !dropped.contains(name.as_str()) {
                let mut d = Diagnostic::error(
                    span(*loc),
                    format!(
                        "vrrp_sync_group `{}` lists `{name}`, but no vrrp_instance has that name",
                        g.name
                    ),
                );
                if let Some(s) = cx.suggest(name, insts.iter().copied()) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                cx.push(d);
            } else if let Some(other) = member_of.insert(name.as_str(), g.name.as_str()) {
                if other != g.name {
                    cx.push(
                        Diagnostic::error(
                            span(*loc),
                            format!(
                                "vrrp_instance `{name}` is already in vrrp_sync_group `{other}`"
                            ),
                        )
                        .with_help("an instance can belong to one sync group only"),
                    );
                }
            }
        }
        if g.instances.len() == 1 {
            if let Some(loc) = g.instance_locs.first() {
                cx.push(
                    Diagnostic::warning(
                        span(*loc),
                        format!("vrrp_sync_group `{}` has only one member", g.name),
                    )
                    .with_help("keepalived removes sync groups with a single instance"),
                );
            }
        }
    }
    for g in &v.track_groups {
        for (name, loc) in g.instances.iter().zip(&g.instance_locs) {
            if !insts.contains(name.as_str()) && !dropped.contains(name.as_str()) {
                cx.push(
                    Diagnostic::error(
                        span(*loc),
                        format!(
                            "track_group `{}` lists `{name}`, but no vrrp_instance has that name",
                            g.name
                        ),
                    )
                    .with_help("list vrrp_instance names in `group { ... }`"),
                );
            }
        }
    }
    let tgroups: HashSet<&str> = v.track_groups.iter().map(|g| g.name.as_str()).collect();
    let static_tg = v
        .static_addresses
        .iter()
        .filter_map(|a| a.track_group.as_deref())
        .chain(
            v.static_routes
                .iter()
                .filter_map(|r| r.track_group.as_deref()),
        )
        .chain(
            v.static_rules
                .iter()
                .filter_map(|r| r.track_group.as_deref()),
        );
    for tg in static_tg {
        if !tgroups.contains(tg) && !dropped.contains(tg) {
            cx.push(Diagnostic {
                severity: crate::diag::Severity::Error,
                span: None,
                message: format!("track_group `{tg}` is used by a static address, route or rule but is not defined"),
                help: Some(format!("define `track_group {tg} {{ group {{ ... }} }}`")),
            });
        }
    }

    // The same VRID on one interface and address family (with multicast, or with
    // overlapping unicast peers) makes two instances answer each other's adverts.
    let mut seen: HashMap<
        (String, bool, u8, Option<std::net::IpAddr>),
        &ka_model::vrrp::VrrpInstance,
    > = HashMap::new();
    for i in &v.instances {
        let Some(ifname) = i.interface.clone() else {
            continue;
        };
        let dst = if i.unicast_peers.is_empty() {
            Some(i.mcast_dst_ip)
        } else {
            None
        };
        let key = (ifname.clone(), i.ipv6, i.vrid.get(), dst);
        if let Some(prev) = seen.get(&key) {
            let overlap = i.unicast_peers.is_empty()
                || i.unicast_peers
                    .iter()
                    .any(|p| prev.unicast_peers.iter().any(|q| q.addr == p.addr));
            if overlap {
                cx.push(
                    Diagnostic::error(
                        span(i.locs.vrid),
                        format!(
                            "virtual_router_id {} is already used by vrrp_instance `{}` on interface {ifname} ({})",
                            i.vrid,
                            prev.name,
                            if i.ipv6 { "IPv6" } else { "IPv4" }
                        ),
                    )
                    .with_help("give each instance on an interface and address family its own virtual_router_id"),
                );
            }
        } else {
            seen.insert(key, i);
        }
    }

    // The same virtual address in two instances: both masters would hold it.
    let mut owners: HashMap<std::net::IpAddr, &str> = HashMap::new();
    for i in &v.instances {
        for a in &i.virtual_ipaddresses {
            match owners.get(&a.prefix.addr) {
                Some(other) if *other != i.name => cx.push(
                    Diagnostic::warning(
                        span(i.locs.name),
                        format!(
                            "virtual address {} is also used by vrrp_instance `{other}`",
                            a.prefix.addr
                        ),
                    )
                    .with_help(
                        "give each instance its own addresses, or they flap between instances",
                    ),
                ),
                _ => {
                    owners.insert(a.prefix.addr, i.name.as_str());
                }
            }
        }
    }

    // keepalived refuses to run scripts as root without enable_script_security
    // ("SECURITY VIOLATION"), unless script_user names another user.
    let has_scripts = !v.scripts.is_empty()
        || v.instances.iter().any(|i| !i.notify.all().is_empty())
        || v.sync_groups.iter().any(|g| !g.notify.all().is_empty());
    let root_user = v
        .global
        .script_user
        .as_ref()
        .is_none_or(|(u, _)| u == "root");
    if has_scripts && !v.global.enable_script_security && root_user {
        cx.push(Diagnostic {
            severity: crate::diag::Severity::Warning,
            span: None,
            message: "scripts are configured but enable_script_security is not set".to_owned(),
            help: Some(
                "add `enable_script_security` (and `script_user USER`) to global_defs; keepalived calls this a security violation"
                    .to_owned(),
            ),
        });
    }

    // lvs_sync_daemon follows an instance.
    if let Some(sd) = &v.global.lvs_sync_daemon {
        if let Some(inst) = &sd.instance {
            if !insts.contains(inst.as_str()) && !dropped.contains(inst.as_str()) {
                cx.push(Diagnostic {
                    severity: crate::diag::Severity::Error,
                    span: None,
                    message: format!(
                        "lvs_sync_daemon refers to vrrp_instance `{inst}`, which is not defined"
                    ),
                    help: Some("name an existing vrrp_instance after the interface".to_owned()),
                });
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Shared helpers.

/// A span as a model location.
pub(crate) fn loc(s: Span) -> Loc {
    Loc {
        file: s.file.0,
        line: s.line,
        col: s.col,
        len: s.len,
    }
}

/// A model location as a span.
pub(crate) fn span(l: Loc) -> Span {
    Span {
        file: FileId(l.file),
        line: l.line,
        col: l.col,
        len: l.len,
    }
}

/// Where a block ends (its `}`), where keepalived reports what the block lacks.
pub(crate) fn end_span(node: &Node) -> Span {
    node.block
        .as_ref()
        .and_then(|b| b.close)
        .unwrap_or(node.keyword.span)
}

/// The single string argument of a keyword.
pub(crate) fn str_arg(cx: &mut Lowerer<'_>, node: &Node, what: &str) -> Option<String> {
    cx.one_arg(node, what).map(|t| t.text.clone())
}

/// An unsigned argument converted to the target type.
pub(crate) fn uint_arg<T: TryFrom<u64>>(
    cx: &mut Lowerer<'_>,
    node: &Node,
    min: u64,
    max: u64,
) -> Option<T> {
    let t = cx.one_arg(node, &format!("a number {min}..={max}"))?;
    let v = cx.uint(t, min, max)?;
    T::try_from(v).ok()
}

/// A signed argument converted to the target type.
pub(crate) fn int_arg<T: TryFrom<i64>>(
    cx: &mut Lowerer<'_>,
    node: &Node,
    min: i64,
    max: i64,
) -> Option<T> {
    let t = cx.one_arg(node, &format!("a number {min}..={max}"))?;
    let v = cx.int(t, min, max)?;
    T::try_from(v).ok()
}

/// A decimal number of seconds.
pub(crate) fn secs_arg(
    cx: &mut Lowerer<'_>,
    node: &Node,
    min: Duration,
    max: Duration,
) -> Option<Duration> {
    let t = cx.one_arg(node, "a number of seconds")?;
    cx.seconds(t, min, max)
}

/// A boolean keyword with an optional argument (extra arguments get a warning).
pub(crate) fn flag_arg(cx: &mut Lowerer<'_>, node: &Node) -> Option<bool> {
    if let Some(extra) = node.args.get(1) {
        cx.warning(
            extra.span,
            format!(
                "extra argument `{}` to `{}` is ignored",
                extra.text, node.keyword.text
            ),
        );
    }
    cx.flag(node)
}

/// A keyword that takes no argument; arguments get a warning.
pub(crate) fn bare(cx: &mut Lowerer<'_>, node: &Node) -> bool {
    if let Some(extra) = node.args.first() {
        cx.warning(
            extra.span,
            format!(
                "`{}` takes no argument; `{}` is ignored",
                node.keyword.text, extra.text
            ),
        );
    }
    true
}

/// Splits a command line as keepalived does: whitespace separates words, single quotes
/// group words (and are removed).
pub(crate) fn split_command(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut has = false;
    for c in s.chars() {
        match c {
            '\'' => {
                in_quote = !in_quote;
                has = true;
            }
            c if c.is_whitespace() && !in_quote => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => {
                cur.push(c);
                has = true;
            }
        }
    }
    if has {
        out.push(cur);
    }
    out
}

/// A notify-style script: `KEYWORD SCRIPT [USER [GROUP]]`, where SCRIPT may be a quoted
/// command line with arguments.
pub(crate) fn notify_script(cx: &mut Lowerer<'_>, node: &Node) -> Option<ScriptCmd> {
    let first = cx.one_arg_multi(node, "a script path or a quoted command line")?;
    let argv = split_command(&first.text);
    if argv.is_empty() {
        cx.error(first.span, "the script command line is empty");
        return None;
    }
    if let Some(extra) = node.args.get(3) {
        cx.warning(
            extra.span,
            format!(
                "extra argument `{}` is ignored (expected SCRIPT [USER [GROUP]]; quote a command line with arguments)",
                extra.text
            ),
        );
    }
    Some(ScriptCmd {
        argv,
        user: node.args.get(1).map(|t| t.text.clone()),
        group: node.args.get(2).map(|t| t.text.clone()),
    })
}

/// `KEYWORD FIFO [USER [GROUP]]`.
pub(crate) fn fifo(cx: &mut Lowerer<'_>, node: &Node) -> Option<Fifo> {
    let first = cx.one_arg_multi(node, "a FIFO path")?;
    Some(Fifo {
        path: first.text.clone(),
        user: node.args.get(1).map(|t| t.text.clone()),
        group: node.args.get(2).map(|t| t.text.clone()),
    })
}

/// Parses `weight N [reverse|noreverse|no_reverse]` from a list of words starting at `i`
/// (the word `weight`). Returns the weight and the index after it.
pub(crate) fn weight_words(
    cx: &mut Lowerer<'_>,
    words: &[&Token],
    i: usize,
    min: i64,
    max: i64,
) -> (Option<Weight>, usize) {
    let Some(kwt) = words.get(i) else {
        return (None, i);
    };
    let Some(vt) = words.get(i + 1) else {
        cx.error(kwt.span, format!("`weight` needs a number {min}..={max}"));
        return (None, i + 1);
    };
    let Some(v) = cx.int(vt, min, max) else {
        return (None, i + 2);
    };
    let mut reverse = false;
    let mut j = i + 2;
    if let Some(r) = words.get(j) {
        match r.text.as_str() {
            "reverse" => {
                reverse = true;
                j += 1;
            }
            "noreverse" | "no_reverse" => j += 1,
            _ => {}
        }
    }
    let value = i32::try_from(v).unwrap_or(0);
    (Some(Weight { value, reverse }), j)
}

/// The name of a named block (`vrrp_instance NAME { ... }`).
pub(crate) fn block_name(cx: &mut Lowerer<'_>, node: &Node) -> Option<String> {
    match node.args.first() {
        Some(t) => {
            if let Some(extra) = node.args.get(1) {
                cx.warning(
                    extra.span,
                    format!(
                        "extra argument `{}` after the name of `{}` is ignored",
                        extra.text, node.keyword.text
                    ),
                );
            }
            Some(t.text.clone())
        }
        None => {
            cx.push(
                Diagnostic::error(
                    node.keyword.span,
                    format!("`{}` needs a name", node.keyword.text),
                )
                .with_help(format!("write `{} NAME {{ ... }}`", node.keyword.text)),
            );
            None
        }
    }
}

/// Reports a second definition of a named block.
pub(crate) fn duplicate(cx: &mut Lowerer<'_>, node: &Node, name: &str) {
    let at = node.args.first().map_or(node.keyword.span, |t| t.span);
    cx.push(
        Diagnostic::error(
            at,
            format!("{} `{name}` is already defined", node.keyword.text),
        )
        .with_help("keepalived ignores the second definition; rename or merge them"),
    );
}

/// Checks that a script exists and is executable (the first word of its command line).
pub(crate) fn check_script(cx: &mut Lowerer<'_>, at: Span, what: &str, cmd: &ScriptCmd) {
    let path = cmd.path();
    if !path.starts_with('/') {
        // keepalived searches PATH for relative names; only absolute paths are checked.
        return;
    }
    let p = Path::new(path);
    if !cx.env.fs.exists(p) {
        cx.push(
            Diagnostic::warning(at, format!("{what} `{path}` does not exist"))
                .with_help("create the script, or fix the path (keepalived will fail to run it)"),
        );
    } else if !cx.env.fs.is_executable(p) {
        cx.push(
            Diagnostic::warning(at, format!("{what} `{path}` is not executable"))
                .with_help(format!("run `chmod +x {path}`")),
        );
    }
}

/// Checks an interface name against the host's interfaces, when they are known.
pub(crate) fn check_interface(cx: &mut Lowerer<'_>, at: Span, name: &str) {
    let Some(list) = &cx.env.interfaces else {
        return;
    };
    if list.iter().any(|i| i == name) {
        return;
    }
    let mut d = Diagnostic::warning(at, format!("interface `{name}` {NO_SUCH_INTERFACE}"));
    d = match crate::diag::did_you_mean(name, list.iter().map(String::as_str)) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None => d.with_help(
            "check the name with `ip link`, or set `dynamic_interfaces` in global_defs if it is created later",
        ),
    };
    cx.push(d);
}

/// The entries of a list block (`group { VI_1 VI_2 }`): every word of every line, with
/// its span.
pub(crate) fn list_words<'n>(cx: &mut Lowerer<'_>, node: &'n Node) -> Vec<&'n Token> {
    let mut out = Vec::new();
    for n in cx.block(node) {
        out.push(&n.keyword);
        out.extend(n.args.iter());
    }
    out
}

impl Lowerer<'_> {
    /// The first argument of a keyword that may take more (no extra-argument warning).
    pub(crate) fn one_arg_multi<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n Token> {
        match node.args.first() {
            Some(t) => Some(t),
            None => {
                self.error(
                    node.keyword.span,
                    format!("`{}` needs {what}", node.keyword.text),
                );
                None
            }
        }
    }
}

/// Why a keyword is marked as it is, for the compatibility list.
fn compat_note(block: &str, keyword: &str, status: Status) -> &'static str {
    match (block, keyword) {
        (_, k) if k.starts_with("enable_snmp") || k == "snmp_socket" || k == "enable_traps" => {
            "no SNMP agent; status comes from the control socket, Prometheus metrics from --metrics-listen"
        }
        (_, "enable_dbus" | "dbus_service_name") => "no DBus interface",
        (_, "vrrp_iptables" | "vrrp_ipsets" | "namespace_with_ipsets") => {
            "keepalived-rs uses nftables only"
        }
        (_, "use_ipvlan") => "ipvlan interfaces are not created",
        ("vrrp_instance", "use_vmac") => {
            "macvlan with keepalived's sysctls; the parent also gets arp_announce 2"
        }
        ("vrrp_instance", "no_accept") => {
            "traffic to the VIPs dropped by nftables (inet keepalived_rs_vrrp, input only)"
        }
        ("a route line", "protocol") => "reset to keepalived (18) for a tracked virtual route",
        (_, "old_unicast_checksum") => "pre-1.3.6 VRRPv3 unicast checksums are not produced",
        ("vrrp_instance", "linkbeat_use_polling") => "deprecated; use linkbeat_interfaces",
        ("vrrp_instance", "lvs_sync_daemon_interface") => {
            "deprecated; use global_defs lvs_sync_daemon (warning)"
        }
        ("vrrp_sync_group", "global_tracking") => "deprecated; same as sync_group_tracking_weight",
        ("vrrp_instance", "notify_deleted") => "acted on when a reload removes the instance",
        ("track_file", "file") => "polled every 0.5 s (keepalived: inotify)",
        ("vrrp_track_process", "process") => {
            "netlink proc connector events as keepalived; in other network namespaces (no connector there) /proc is scanned every 0.5 s"
        }
        ("global_defs", "notify_fifo" | "vrrp_notify_fifo") => {
            "keepalived's lines; STOP lines reach the FIFO script at exit; a FIFO the daemon created is removed at exit (keepalived 2.2.7 leaves it)"
        }
        ("vrrp_script", "timeout") => "SIGTERM to the process group, SIGKILL 2 s later",
        (_, "enable_script_security") => {
            "root scripts with a path writable by non-root are refused"
        }
        ("vrrp_instance" | "vrrp_sync_group", "notify") => {
            "after the notify_STATE script; one queue per instance/group, 30 s timeout"
        }
        ("vrrp_sync_group", "notify_deleted") => {
            "documented, but keepalived 2.2.7 rejects it in a sync group"
        }
        ("a rule line", "ip_proto") => "documented; the Debian keepalived 2.2.7 build rejects it",
        ("a route line", "gw") => "deprecated spelling of via (warning)",
        ("a route line", "or") => "deprecated; use nexthop (warning)",
        (_, "vrrp_rlimit_rtime" | "checker_rlimit_rtime" | "bfd_rlimit_rtime") => {
            "old spelling of *_rlimit_rttime"
        }
        (_, "enable_snmp_keepalived") => "old name of enable_snmp_vrrp",
        ("global_defs", "lvs_sync_daemon") => {
            "the kernel's sync daemon follows the instance as keepalived: master while MASTER, backup otherwise, both stopped at exit (a reload does not change it)"
        }
        ("global_defs", "lvs_timeouts") => {
            "set once at start by the IPVS backend (as keepalived; not restored on stop); ignored with a warning by the nftables one"
        }
        ("global_defs", "lvs_flush") => {
            "IPVS: the whole table (every owner's services) flushed at start, as keepalived; nftables: our table is replaced at start anyway"
        }
        ("global_defs", "lvs_flush_on_stop") => {
            "IPVS: the whole table flushed at stop in one request (ALL), or each of our services removed without deleting its destinations first (VS), as keepalived; without it only our services go, destination by destination; nftables: our table is deleted at stop anyway"
        }
        ("global_defs", "metrics_listen") => {
            "keepalived-rs extension: `metrics_listen ADDR:PORT` serves Prometheus /metrics and /status (as --metrics-listen); keepalived -t rejects a config that uses it"
        }
        ("global_defs", "smtp_server") => {
            "IP address or host name, port 25 by default; keepalived's HELO/MAIL/RCPT/DATA dialogue, \
             no TLS (as keepalived)"
        }
        ("global_defs", "smtp_connect_timeout") => {
            "for the connection and every reply; a failed alert is retried twice (5 s, 30 s later)"
        }
        ("global_defs", "router_id") => "the `[ROUTER_ID]` of alert subjects",
        (_, "smtp_alert") => "keepalived's subjects and bodies; sent by a task of its own, queue of 64",
        _ => match status {
            Status::Supported => "",
            Status::ParsedOnly => "parsed, checked and defaulted; not acted on yet",
            Status::NotSupported => "recognised, warned about, ignored",
        },
    }
}

/// The VRRP half of the compatibility list as markdown: a table per block, generated from
/// [`VRRP_BLOCKS`] (docs/compat/vrrp.md is checked against it).
pub fn compat_markdown() -> String {
    let mut s = String::from(
        "# keepalived.conf compatibility: global, static, tracking and VRRP blocks\n\n\
         Generated from the keyword tables in `crates/ka-config/src/lower/vrrp.rs`\n\
         (`UPDATE_COMPAT=1 cargo test -p ka-config --test lower_vrrp` rewrites it).\n\
         Status: `supported` = acted on; `parsed-only` = read, range-checked and defaulted as\n\
         keepalived 2.2.7 does, not acted on yet; `not-supported` = recognised, a warning, ignored.\n",
    );
    for b in VRRP_BLOCKS {
        s.push_str(&format!(
            "\n## {}\n\n| keyword | status | note |\n|---|---|---|\n",
            b.name
        ));
        for k in b.keywords {
            let st = match k.status {
                Status::Supported => "supported",
                Status::ParsedOnly => "parsed-only",
                Status::NotSupported => "not-supported",
            };
            s.push_str(&format!(
                "| `{}` | {st} | {} |\n",
                k.name,
                compat_note(b.name, k.name, k.status)
            ));
        }
    }
    s
}
