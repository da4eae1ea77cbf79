//! `global_defs` and the top-level daemon keywords.

use super::{
    bare, check_script, fifo, flag_arg, int_arg, notify_script, secs_arg, str_arg, uint_arg,
    GLOBAL_DEFS,
};
use crate::diag::Diagnostic;
use crate::lower::Lowerer;
use crate::syntax::Node;
use ka_model::vrrp::global::{
    DynamicInterfaces, GarpExtraIf, GlobalDefs, Iptables, LvsSyncDaemon, LvsTimeouts, Nftables,
    ProcessTuning, RcvBuf, RxBufsPolicy, SmtpServer,
};
use ka_model::VrrpVersion;
use std::time::Duration;

/// `net_namespace`, `instance`, `use_pid_dir`, ... written outside any block.
pub fn lower_daemon_keyword(cx: &mut Lowerer<'_>, g: &mut GlobalDefs, node: &Node) {
    match node.keyword.text.as_str() {
        "net_namespace" => g.net_namespace = str_arg(cx, node, "a namespace name"),
        "net_namespace_ipvs" => {
            g.net_namespace_ipvs = Some(
                node.args
                    .first()
                    .map(|t| t.text.clone())
                    .unwrap_or_default(),
            )
        }
        "namespace_with_ipsets" => g.namespace_with_ipsets = bare(cx, node),
        "instance" => g.instance = str_arg(cx, node, "an instance name"),
        "use_pid_dir" => g.use_pid_dir = bare(cx, node),
        "linkbeat_use_polling" => g.linkbeat_use_polling = bare(cx, node),
        "child_wait_time" => {
            if let Some(v) = uint_arg(cx, node, 0, u64::from(u32::MAX)) {
                g.child_wait_time_secs = v;
            }
        }
        _ => cx.unknown_keyword(node, &super::TOP_DAEMON),
    }
}

fn tuning<'g>(g: &'g mut GlobalDefs, prefix: &str) -> Option<&'g mut ProcessTuning> {
    match prefix {
        "vrrp" => Some(&mut g.vrrp_process),
        "checker" => Some(&mut g.checker_process),
        "bfd" => Some(&mut g.bfd_process),
        _ => None,
    }
}

fn rcvbuf<'g>(g: &'g mut GlobalDefs, name: &str) -> Option<&'g mut RcvBuf> {
    match name {
        "vrrp_netlink_cmd_rcv_bufs" => Some(&mut g.vrrp_netlink_cmd_rcv_bufs),
        "vrrp_netlink_monitor_rcv_bufs" => Some(&mut g.vrrp_netlink_monitor_rcv_bufs),
        "lvs_netlink_cmd_rcv_bufs" => Some(&mut g.lvs_netlink_cmd_rcv_bufs),
        "lvs_netlink_monitor_rcv_bufs" => Some(&mut g.lvs_netlink_monitor_rcv_bufs),
        "process_monitor_rcv_bufs" => Some(&mut g.process_monitor_rcv_bufs),
        _ => None,
    }
}

/// `global_defs { ... }`.
pub fn lower_global_defs(cx: &mut Lowerer<'_>, g: &mut GlobalDefs, node: &Node) {
    let mut garp_lower_delay_set = false;
    let mut garp_lower_repeat_set = false;
    for n in cx.block(node) {
        if !cx.admit(n, &GLOBAL_DEFS) {
            continue;
        }
        lower_one(
            cx,
            g,
            n,
            &mut garp_lower_delay_set,
            &mut garp_lower_repeat_set,
        );
    }
    // keepalived: the lower-priority GARP settings default to the master ones.
    if !garp_lower_delay_set {
        g.vrrp_garp_lower_prio_delay_secs = g.vrrp_garp_master_delay_secs;
    }
    if !garp_lower_repeat_set {
        g.vrrp_garp_lower_prio_repeat = g.vrrp_garp_master_repeat;
    }
}

fn lower_one(
    cx: &mut Lowerer<'_>,
    g: &mut GlobalDefs,
    n: &Node,
    lower_delay_set: &mut bool,
    lower_repeat_set: &mut bool,
) {
    let k = n.keyword.text.as_str();
    match k {
        "tmp_config_directory" => g.tmp_config_directory = str_arg(cx, n, "a directory"),
        "config_save_dir" => g.config_save_dir = str_arg(cx, n, "a directory"),
        "process_names" => g.process_names = bare(cx, n),
        "process_name" => g.process_name = str_arg(cx, n, "a process name"),
        "vrrp_process_name" | "checker_process_name" | "bfd_process_name" => {
            let name = str_arg(cx, n, "a process name");
            if let Some(t) = k.split('_').next().and_then(|p| tuning(g, p)) {
                t.process_name = name;
            }
        }
        "startup_script" | "shutdown_script" => {
            if let Some(s) = notify_script(cx, n) {
                if let Some(t) = n.args.first() {
                    check_script(cx, t.span, k, &s);
                }
                if k == "startup_script" {
                    g.startup_script = Some(s);
                } else {
                    g.shutdown_script = Some(s);
                }
            }
        }
        "startup_script_timeout" => {
            if let Some(v) = uint_arg(cx, n, 1, 1000) {
                g.startup_script_timeout_secs = v;
            }
        }
        "shutdown_script_timeout" => {
            if let Some(v) = uint_arg(cx, n, 1, 1000) {
                g.shutdown_script_timeout_secs = v;
            }
        }
        "notification_email" => {
            for t in super::list_words(cx, n) {
                g.notification_email.push(t.text.clone());
            }
        }
        "notification_email_from" => g.notification_email_from = str_arg(cx, n, "an email address"),
        "smtp_server" => {
            if let Some(host) = cx.one_arg_multi(n, "an address or host name [PORT]") {
                let port = match n.args.get(1) {
                    Some(p) => cx.uint(p, 1, 65535).and_then(|v| u16::try_from(v).ok()),
                    None => Some(25),
                };
                if let Some(port) = port {
                    g.smtp_server = Some(SmtpServer {
                        host: host.text.clone(),
                        port,
                    });
                }
            }
        }
        "smtp_helo_name" => g.smtp_helo_name = str_arg(cx, n, "a name"),
        "smtp_connect_timeout" => {
            if let Some(v) = uint_arg::<u64>(cx, n, 1, 4294) {
                g.smtp_connect_timeout = Duration::from_secs(v);
            }
        }
        "smtp_alert" => g.smtp_alert = flag_arg(cx, n),
        "smtp_alert_vrrp" => g.smtp_alert_vrrp = flag_arg(cx, n),
        "smtp_alert_checker" => g.smtp_alert_checker = flag_arg(cx, n),
        "checker_log_all_failures" => {
            g.checker_log_all_failures = flag_arg(cx, n).unwrap_or(g.checker_log_all_failures)
        }
        "no_email_faults" => g.no_email_faults = bare(cx, n),
        "router_id" => g.router_id = str_arg(cx, n, "a name"),
        "vrrp_mcast_group4" => {
            if let Some(t) = cx.one_arg(n, "an IPv4 multicast address") {
                match t.text.parse::<std::net::Ipv4Addr>() {
                    Ok(a) if a.is_multicast() => g.vrrp_mcast_group4 = a.into(),
                    _ => cx.error(
                        t.span,
                        format!("`{}` is not an IPv4 multicast address", t.text),
                    ),
                }
            }
        }
        "vrrp_mcast_group6" => {
            if let Some(t) = cx.one_arg(n, "an IPv6 multicast address") {
                match t.text.parse::<std::net::Ipv6Addr>() {
                    Ok(a) if a.is_multicast() => g.vrrp_mcast_group6 = a.into(),
                    _ => cx.error(
                        t.span,
                        format!("`{}` is not an IPv6 multicast address", t.text),
                    ),
                }
            }
        }
        "default_interface" => {
            if let Some(t) = cx.one_arg(n, "an interface name") {
                super::check_interface(cx, t.span, &t.text);
                g.default_interface = t.text.clone();
            }
        }
        "lvs_sync_daemon" => g.lvs_sync_daemon = lvs_sync_daemon(cx, n),
        "lvs_timeouts" => g.lvs_timeouts = lvs_timeouts(cx, n),
        "lvs_flush" => g.lvs_flush = bare(cx, n),
        "lvs_flush_on_stop" => match n.args.first().map(|t| t.text.as_str()) {
            None => g.lvs_flush_on_stop = Some(false),
            Some("VS") => g.lvs_flush_on_stop = Some(true),
            Some(_) => {
                if let Some(t) = n.args.first() {
                    cx.error(t.span, format!("`{}` is not `VS`", t.text));
                }
            }
        },
        "vrrp_garp_master_delay" => {
            if let Some(v) = uint_arg(cx, n, 0, 4294) {
                g.vrrp_garp_master_delay_secs = v;
            }
        }
        "vrrp_garp_master_repeat" => {
            if let Some(v) = uint_arg(cx, n, 1, u64::from(u32::MAX)) {
                g.vrrp_garp_master_repeat = v;
            }
        }
        "vrrp_garp_lower_prio_delay" => {
            if let Some(v) = uint_arg(cx, n, 0, 4294) {
                g.vrrp_garp_lower_prio_delay_secs = v;
                *lower_delay_set = true;
            }
        }
        "vrrp_garp_lower_prio_repeat" => {
            if let Some(v) = uint_arg(cx, n, 0, 2_147_483_647) {
                g.vrrp_garp_lower_prio_repeat = v;
                *lower_repeat_set = true;
            }
        }
        "vrrp_garp_master_refresh" => {
            if let Some(v) = uint_arg(cx, n, 0, u64::from(u32::MAX)) {
                g.vrrp_garp_master_refresh_secs = v;
            }
        }
        "vrrp_garp_master_refresh_repeat" => {
            if let Some(v) = uint_arg(cx, n, 1, u64::from(u32::MAX)) {
                g.vrrp_garp_master_refresh_repeat = v;
            }
        }
        "vrrp_garp_interval" => {
            if let Some(v) = secs_arg(cx, n, Duration::from_micros(1), MAX_SECS_US) {
                g.vrrp_garp_interval = v;
            }
        }
        "vrrp_gna_interval" => {
            if let Some(v) = secs_arg(cx, n, Duration::from_micros(1), MAX_SECS_US) {
                g.vrrp_gna_interval = v;
            }
        }
        "vrrp_min_garp" => {
            if let Some(b) = flag_arg(cx, n) {
                g.vrrp_min_garp = b;
                if b {
                    // keepalived: one GARP/NA and no repeat, without overwriting values
                    // already set (it compares with the defaults).
                    let d = GlobalDefs::default();
                    if g.vrrp_garp_master_repeat == d.vrrp_garp_master_repeat {
                        g.vrrp_garp_master_repeat = 1;
                    }
                    if g.vrrp_garp_master_refresh_repeat == d.vrrp_garp_master_refresh_repeat {
                        g.vrrp_garp_master_refresh_repeat = 0;
                    }
                    if g.vrrp_garp_master_delay_secs == d.vrrp_garp_master_delay_secs {
                        g.vrrp_garp_master_delay_secs = 0;
                    }
                }
            }
        }
        "vrrp_garp_extra_if" => g.vrrp_garp_extra_if = garp_extra_if(cx, n),
        "vrrp_down_timer_adverts" => {
            if let Some(v) = uint_arg(cx, n, 1, 100) {
                g.vrrp_down_timer_adverts = v;
            }
        }
        "vrrp_lower_prio_no_advert" => {
            g.vrrp_lower_prio_no_advert = flag_arg(cx, n).unwrap_or(g.vrrp_lower_prio_no_advert)
        }
        "vrrp_higher_prio_send_advert" => {
            g.vrrp_higher_prio_send_advert =
                flag_arg(cx, n).unwrap_or(g.vrrp_higher_prio_send_advert)
        }
        "vrrp_version" => {
            if let Some(v) = version_arg(cx, n) {
                g.vrrp_version = v;
                g.vrrp_version_written = true;
            }
        }
        "nftables" | "nftables_priority" | "nftables_counters" | "nftables_ifindex" => {
            let nft = g.nftables.get_or_insert_with(|| Nftables {
                table: "keepalived".to_owned(),
                priority: -1,
                counters: false,
                ifindex: false,
            });
            match k {
                "nftables" => {
                    if let Some(t) = n.args.first() {
                        nft.table = t.text.clone();
                    }
                }
                "nftables_priority" => {
                    if let Some(v) = int_arg(cx, n, -2_147_483_648, 2_147_483_647) {
                        nft.priority = v;
                    }
                }
                "nftables_counters" => nft.counters = bare(cx, n),
                _ => nft.ifindex = bare(cx, n),
            }
        }
        "nftables_ipvs" => {
            g.nftables_ipvs = Some(
                n.args
                    .first()
                    .map_or_else(|| "keepalived_ipvs".to_owned(), |t| t.text.clone()),
            )
        }
        "nftables_ipvs_priority" => {
            g.nftables_ipvs_priority = int_arg(cx, n, -2_147_483_648, 2_147_483_647)
        }
        "nftables_ipvs_start_fwmark" => {
            if let Some(v) = uint_arg(cx, n, 1, u64::from(u32::MAX)) {
                g.nftables_ipvs_start_fwmark = v;
            }
        }
        "vrrp_iptables" => {
            g.vrrp_iptables = Some(Iptables {
                in_chain: n
                    .args
                    .first()
                    .map_or_else(|| "INPUT".to_owned(), |t| t.text.clone()),
                out_chain: n.args.get(1).map(|t| t.text.clone()),
            })
        }
        "vrrp_ipsets" => g.vrrp_ipsets = n.args.iter().map(|t| t.text.clone()).collect(),
        "disable_local_igmp" => g.disable_local_igmp = bare(cx, n),
        "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = bare(cx, n),
        "vrrp_skip_check_adv_addr" => {
            g.vrrp_skip_check_adv_addr = flag_arg(cx, n).unwrap_or(g.vrrp_skip_check_adv_addr)
        }
        "vrrp_strict" => g.vrrp_strict = bare(cx, n),
        "vrrp_notify_priority_changes" => {
            g.vrrp_notify_priority_changes =
                flag_arg(cx, n).unwrap_or(g.vrrp_notify_priority_changes)
        }
        "max_auto_priority" => {
            g.max_auto_priority = match n.args.first() {
                None => 99,
                Some(t) => cx
                    .int(t, -1, 99)
                    .and_then(|v| i8::try_from(v).ok())
                    .unwrap_or(g.max_auto_priority),
            }
        }
        "min_auto_priority_delay" => {
            if let Some(v) = uint_arg(cx, n, 1, 10_000_000) {
                g.min_auto_priority_delay_us = v;
            }
        }
        "vrrp_priority" | "checker_priority" | "bfd_priority" => {
            let v = int_arg::<i8>(cx, n, -20, 19);
            if let (Some(v), Some(t)) = (v, k.split('_').next().and_then(|p| tuning(g, p))) {
                t.nice = Some(v);
            }
        }
        "vrrp_no_swap" | "checker_no_swap" | "bfd_no_swap" => {
            let b = bare(cx, n);
            if let Some(t) = k.split('_').next().and_then(|p| tuning(g, p)) {
                t.no_swap = b;
            }
        }
        "vrrp_cpu_affinity" | "checker_cpu_affinity" | "bfd_cpu_affinity" => {
            let mut cpus = Vec::new();
            if n.args.is_empty() {
                cx.error(
                    n.keyword.span,
                    format!("`{k}` needs one or more CPU numbers"),
                );
            }
            for t in &n.args {
                if let Some(c) = cx.uint(t, 0, 4095).and_then(|v| u16::try_from(v).ok()) {
                    cpus.push(c);
                }
            }
            if let Some(t) = k.split('_').next().and_then(|p| tuning(g, p)) {
                t.cpu_affinity = cpus;
            }
        }
        "vrrp_rt_priority" | "checker_rt_priority" | "bfd_rt_priority" => {
            let v = uint_arg::<u8>(cx, n, 1, 99);
            if let (Some(v), Some(t)) = (v, k.split('_').next().and_then(|p| tuning(g, p))) {
                t.rt_priority = Some(v);
            }
        }
        "vrrp_rlimit_rttime"
        | "checker_rlimit_rttime"
        | "bfd_rlimit_rttime"
        | "vrrp_rlimit_rtime"
        | "checker_rlimit_rtime"
        | "bfd_rlimit_rtime" => {
            // keepalived raises 1 to 2 (the limit is halved elsewhere and must stay non-zero).
            let v = uint_arg::<u64>(cx, n, 1, u64::from(u32::MAX)).map(|v| v.max(2));
            if let (Some(v), Some(t)) = (v, k.split('_').next().and_then(|p| tuning(g, p))) {
                t.rlimit_rttime_us = Some(v);
            }
        }
        "snmp_socket" => g.snmp_socket = str_arg(cx, n, "a socket specification"),
        "enable_snmp_vrrp" | "enable_snmp_keepalived" => g.enable_snmp_vrrp = bare(cx, n),
        "enable_snmp_checker" => g.enable_snmp_checker = bare(cx, n),
        "enable_snmp_rfc" => {
            g.enable_snmp_rfcv2 = bare(cx, n);
            g.enable_snmp_rfcv3 = true;
        }
        "enable_snmp_rfcv2" => g.enable_snmp_rfcv2 = bare(cx, n),
        "enable_snmp_rfcv3" => g.enable_snmp_rfcv3 = bare(cx, n),
        "enable_traps" => g.enable_traps = bare(cx, n),
        "enable_dbus" => g.enable_dbus = bare(cx, n),
        "dbus_service_name" => g.dbus_service_name = str_arg(cx, n, "a service name"),
        "script_user" => {
            if let Some(u) = cx.one_arg_multi(n, "a user name [GROUP]") {
                g.script_user = Some((u.text.clone(), n.args.get(1).map(|t| t.text.clone())));
            }
        }
        "enable_script_security" => g.enable_script_security = bare(cx, n),
        "notify_fifo" => g.notify_fifo = fifo(cx, n),
        "vrrp_notify_fifo" => g.vrrp_notify_fifo = fifo(cx, n),
        "lvs_notify_fifo" => g.lvs_notify_fifo = fifo(cx, n),
        "notify_fifo_script" | "vrrp_notify_fifo_script" | "lvs_notify_fifo_script" => {
            if let Some(s) = notify_script(cx, n) {
                if let Some(t) = n.args.first() {
                    check_script(cx, t.span, k, &s);
                }
                match k {
                    "notify_fifo_script" => g.notify_fifo_script = Some(s),
                    "vrrp_notify_fifo_script" => g.vrrp_notify_fifo_script = Some(s),
                    _ => g.lvs_notify_fifo_script = Some(s),
                }
            }
        }
        "fifo_write_vrrp_states_on_reload" => g.fifo_write_vrrp_states_on_reload = bare(cx, n),
        // keepalived-rs extension.
        "metrics_listen" => {
            if let Some(t) = cx.one_arg(
                n,
                "an address and port (`192.0.2.1:9650`, `[2001:db8::1]:9650`)",
            ) {
                match t.text.parse::<std::net::SocketAddr>() {
                    Ok(a) => g.metrics_listen = Some(a),
                    Err(_) => cx.error(
                        t.span,
                        format!(
                            "`{}` is not an address and port: write ADDR:PORT, e.g. `127.0.0.1:9650` or `[::1]:9650`",
                            t.text
                        ),
                    ),
                }
            }
        }
        "dynamic_interfaces" => {
            let allow = match n.args.first().map(|t| t.text.as_str()) {
                None => false,
                Some("allow_if_changes") => true,
                Some(_) => {
                    if let Some(t) = n.args.first() {
                        cx.error(t.span, format!("`{}` is not `allow_if_changes`", t.text));
                    }
                    false
                }
            };
            g.dynamic_interfaces = Some(DynamicInterfaces {
                allow_if_changes: allow,
            });
        }
        _ if k.ends_with("_rcv_bufs") => {
            let v = uint_arg::<u32>(cx, n, 0, u64::from(u32::MAX));
            if let (Some(v), Some(b)) = (v, rcvbuf(g, k)) {
                b.bytes = Some(v);
            }
        }
        _ if k.ends_with("_rcv_bufs_force") => {
            let f = flag_arg(cx, n);
            if let (Some(f), Some(b)) = (f, rcvbuf(g, k.trim_end_matches("_force"))) {
                b.force = f;
            }
        }
        "vrrp_rx_bufs_policy" => {
            if let Some(t) = cx.one_arg(n, "MTU, ADVERT or a size in bytes") {
                let p = match t.text.as_str() {
                    "MTU" => Some(RxBufsPolicy::Mtu),
                    "ADVERT" => Some(RxBufsPolicy::Advert),
                    _ => cx
                        .uint(t, 1, u64::from(u32::MAX))
                        .and_then(|v| u32::try_from(v).ok())
                        .map(RxBufsPolicy::Bytes),
                };
                if p.is_some() {
                    g.vrrp_rx_bufs_policy = p;
                }
            }
        }
        "vrrp_rx_bufs_multiplier" => {
            if let Some(v) = uint_arg(cx, n, 1, u64::from(u32::MAX)) {
                g.vrrp_rx_bufs_multiplier = v;
            }
        }
        "rs_init_notifies" => g.rs_init_notifies = bare(cx, n),
        "no_checker_emails" => g.no_checker_emails = bare(cx, n),
        "umask" => {
            if let Some(v) = umask(cx, n) {
                g.umask = v;
            }
        }
        "vrrp_startup_delay" => {
            if let Some(v) = secs_arg(cx, n, Duration::from_millis(1), MAX_SECS_US) {
                g.vrrp_startup_delay = v;
            }
        }
        "log_unknown_vrids" => g.log_unknown_vrids = bare(cx, n),
        "vmac_prefix" => {
            if let Some(s) = str_arg(cx, n, "a name prefix") {
                g.vmac_prefix = s;
            }
        }
        "vmac_addr_prefix" => g.vmac_addr_prefix = str_arg(cx, n, "a name prefix"),
        "random_seed" => g.random_seed = uint_arg(cx, n, 0, u64::from(u32::MAX)),
        "reload_check_config" => {
            g.reload_check_config = Some(n.args.first().map(|t| t.text.clone()).unwrap_or_default())
        }
        "include_check" => {
            let mut words = Vec::new();
            for t in &n.args {
                let w = t.text.trim_start_matches(['+', '-']);
                if !matches!(w, "readable" | "match" | "wildcard_match" | "brace_match") {
                    cx.push(
                        Diagnostic::error(t.span, format!("`{}` is not an include_check option", t.text))
                            .with_help("use readable, match, wildcard_match or brace_match, optionally with + or -"),
                    );
                }
                words.push(t.text.clone());
            }
            g.include_check = Some(words);
        }
        "reload_time_file" => {
            if let Some(t) = cx.one_arg(n, "an absolute path") {
                if !t.text.starts_with('/') {
                    cx.error(t.span, "reload_time_file needs an absolute path");
                } else {
                    g.reload_time_file = Some(t.text.clone());
                }
            }
        }
        "reload_repeat" => g.reload_repeat = bare(cx, n),
        "reload_file" => {
            g.reload_file = Some(n.args.first().map(|t| t.text.clone()).unwrap_or_default())
        }
        "data_use_instance" => g.data_use_instance = flag_arg(cx, n).unwrap_or(g.data_use_instance),
        _ => cx.unknown_keyword(n, &GLOBAL_DEFS),
    }
}

/// keepalived's largest timer in seconds with microseconds (UINT_MAX microseconds).
pub(crate) const MAX_SECS_US: Duration = Duration::from_micros(4_294_967_295);

/// `version 2|3` / `vrrp_version 2|3`.
pub(crate) fn version_arg(cx: &mut Lowerer<'_>, n: &Node) -> Option<VrrpVersion> {
    let t = cx.one_arg(n, "2 or 3")?;
    match t.text.as_str() {
        "2" => Some(VrrpVersion::V2),
        "3" => Some(VrrpVersion::V3),
        _ => {
            cx.error(t.span, format!("VRRP version `{}` is not 2 or 3", t.text));
            None
        }
    }
}

/// `[all] SECS` of `vrrp_garp_extra_if` / `garp_extra_if`.
pub(crate) fn garp_extra_if(cx: &mut Lowerer<'_>, n: &Node) -> Option<GarpExtraIf> {
    // keepalived: 1..=86400 globally, 0..=86400 (0 disables) in an instance.
    let min = u64::from(n.keyword.text.starts_with("vrrp_"));
    let mut args = n.args.iter().peekable();
    let all = args.peek().is_some_and(|t| t.text == "all");
    if all {
        args.next();
    }
    let Some(t) = args.next() else {
        cx.error(
            n.keyword.span,
            format!("`{}` needs [all] SECONDS", n.keyword.text),
        );
        return None;
    };
    let v = cx.uint(t, min, 86400)?;
    Some(GarpExtraIf {
        all,
        interval_secs: u32::try_from(v).ok()?,
    })
}

fn lvs_sync_daemon(cx: &mut Lowerer<'_>, n: &Node) -> Option<LvsSyncDaemon> {
    let iface = cx.one_arg_multi(n, "an interface [[inst] VRRP_INSTANCE] [id N] ...")?;
    let mut sd = LvsSyncDaemon {
        interface: iface.text.clone(),
        instance: None,
        sync_id: None,
        maxlen: None,
        port: 8848,
        ttl: None,
        group: None,
    };
    let a = &n.args;
    let mut i = 1;
    while let Some(t) = a.get(i) {
        let val = a.get(i + 1);
        let need = |cx: &mut Lowerer<'_>| {
            cx.error(t.span, format!("`{}` needs a value", t.text));
        };
        match t.text.as_str() {
            "inst" => match val {
                Some(v) => sd.instance = Some(v.text.clone()),
                None => need(cx),
            },
            "id" => match val {
                Some(v) => sd.sync_id = cx.uint(v, 0, 255).and_then(|x| u8::try_from(x).ok()),
                None => need(cx),
            },
            "maxlen" => match val {
                Some(v) => sd.maxlen = cx.uint(v, 1, 65507).and_then(|x| u16::try_from(x).ok()),
                None => need(cx),
            },
            "port" => match val {
                Some(v) => {
                    if let Some(p) = cx.uint(v, 1, 65535).and_then(|x| u16::try_from(x).ok()) {
                        sd.port = p;
                    }
                }
                None => need(cx),
            },
            "ttl" => match val {
                Some(v) => sd.ttl = cx.uint(v, 1, 255).and_then(|x| u8::try_from(x).ok()),
                None => need(cx),
            },
            "group" => match val {
                Some(v) => sd.group = cx.ip(v),
                None => need(cx),
            },
            _ if i == 1 => {
                // The instance name without `inst` (backward compatibility).
                sd.instance = Some(t.text.clone());
                i += 1;
                continue;
            }
            _ => {
                cx.error(
                    t.span,
                    format!("unknown lvs_sync_daemon option `{}`", t.text),
                );
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    Some(sd)
}

fn lvs_timeouts(cx: &mut Lowerer<'_>, n: &Node) -> Option<LvsTimeouts> {
    let mut t = LvsTimeouts::default();
    let a = &n.args;
    if a.is_empty() {
        cx.error(
            n.keyword.span,
            "`lvs_timeouts` needs at least one of tcp, tcpfin, udp",
        );
        return None;
    }
    let mut i = 0;
    while let Some(k) = a.get(i) {
        let Some(v) = a.get(i + 1) else {
            cx.error(k.span, format!("`{}` needs a number of seconds", k.text));
            break;
        };
        let secs = cx
            .uint(v, 1, 86400 * 31)
            .and_then(|x| u32::try_from(x).ok());
        match k.text.as_str() {
            "tcp" => t.tcp_secs = secs,
            "tcpfin" => t.tcpfin_secs = secs,
            "udp" => t.udp_secs = secs,
            _ => cx.error(k.span, format!("`{}` is not tcp, tcpfin or udp", k.text)),
        }
        i += 2;
    }
    Some(t)
}

fn umask(cx: &mut Lowerer<'_>, n: &Node) -> Option<u32> {
    let t = cx.one_arg_multi(n, "a number or BITS")?;
    let text: String = n
        .args
        .iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join("");
    let first = text.chars().next().unwrap_or('0');
    if first.is_ascii_digit() {
        let v = if let Some(h) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            u32::from_str_radix(h, 16).ok()
        } else if let Some(o) = text.strip_prefix('0').filter(|o| !o.is_empty()) {
            u32::from_str_radix(o, 8).ok()
        } else {
            text.parse().ok()
        };
        return match v {
            Some(v) if v <= 0o777 => Some(v),
            _ => {
                cx.error(t.span, format!("`{text}` is not a umask 0..=0777"));
                None
            }
        };
    }
    let mut mask = 0;
    for bit in text.split('|') {
        let v = match bit.trim() {
            "IRUSR" => 0o400,
            "IWUSR" => 0o200,
            "IXUSR" => 0o100,
            "IRGRP" => 0o040,
            "IWGRP" => 0o020,
            "IXGRP" => 0o010,
            "IROTH" => 0o004,
            "IWOTH" => 0o002,
            "IXOTH" => 0o001,
            other => {
                cx.error(
                    t.span,
                    format!("`{other}` is not a umask bit (I{{R|W|X}}{{USR|GRP|OTH}})"),
                );
                return None;
            }
        };
        mask |= v;
    }
    Some(mask)
}
