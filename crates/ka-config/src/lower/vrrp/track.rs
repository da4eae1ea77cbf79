//! Tracking objects, scripts, sync groups and the small top-level lists.

use super::{
    bare, block_name, check_interface, check_script, duplicate, flag_arg, list_words, loc,
    notify_script, split_command, weight_words, BFD_INSTANCE, GARP_GROUP, LINKBEAT_INTERFACES,
    TRACK_FILE, TRACK_GROUP, TRACK_PROCESS, VRRP_SCRIPT, VRRP_SYNC_GROUP,
};
use crate::diag::Diagnostic;
use crate::lower::Lowerer;
use crate::syntax::{Node, Token};
use ka_model::vrrp::{
    BfdInstance, GarpGroup, LinkbeatInterface, LinkbeatKind, Notify, ParamMatch, ScriptCmd,
    SyncGroup, TrackFile, TrackFileInit, TrackGroup, TrackProcess, TrackRef, Tracking, UpDownDelay,
    VrrpConfig, VrrpScript, Weight,
};
use std::time::Duration;

/// The weight ranges keepalived allows per tracked kind.
pub(crate) fn weight_range(kind: &str) -> (i64, i64) {
    match kind {
        "track_file" | "track_process" => (-254, 254),
        _ => (-253, 253),
    }
}

/// A tracking list: `track_script { NAME [weight N [reverse]] ... }`.
pub(crate) fn track_list(cx: &mut Lowerer<'_>, node: &Node, check_ifaces: bool) -> Vec<TrackRef> {
    let kind = node.keyword.text.as_str();
    let (min, max) = weight_range(kind);
    let mut out = Vec::new();
    for n in cx.block(node) {
        let w: Vec<&Token> = n.args.iter().collect();
        let mut weight = None;
        let mut i = 0;
        while let Some(t) = w.get(i) {
            if t.text == "weight" {
                let (wt, next) = weight_words(cx, &w, i, min, max);
                weight = wt;
                i = next;
            } else {
                cx.push(
                    Diagnostic::error(t.span, format!("unexpected `{}` after the name", t.text))
                        .with_help(format!("write `NAME [weight {min}..{max} [reverse]]`")),
                );
                i += 1;
            }
        }
        if check_ifaces {
            check_interface(cx, n.keyword.span, &n.keyword.text);
        }
        out.push(TrackRef {
            name: n.keyword.text.clone(),
            weight,
            loc: loc(n.keyword.span),
        });
    }
    out
}

/// Fills a [`Tracking`] from a `track_*` keyword; false if the keyword is not one.
pub(crate) fn lower_tracking(cx: &mut Lowerer<'_>, t: &mut Tracking, n: &Node) -> bool {
    match n.keyword.text.as_str() {
        "track_interface" => t.interfaces.extend(track_list(cx, n, true)),
        "track_script" => t.scripts.extend(track_list(cx, n, false)),
        "track_file" => t.files.extend(track_list(cx, n, false)),
        "track_process" => t.processes.extend(track_list(cx, n, false)),
        "track_bfd" => t.bfds.extend(track_list(cx, n, false)),
        _ => return false,
    }
    true
}

/// Fills [`Notify`] from a `notify*` keyword; false if the keyword is not one.
pub(crate) fn lower_notify(cx: &mut Lowerer<'_>, notify: &mut Notify, n: &Node) -> bool {
    let k = n.keyword.text.as_str();
    let slot = match k {
        "notify_master" => &mut notify.master,
        "notify_backup" => &mut notify.backup,
        "notify_fault" => &mut notify.fault,
        "notify_stop" => &mut notify.stop,
        "notify_deleted" => &mut notify.deleted,
        "notify" => &mut notify.any,
        "notify_master_rx_lower_pri" => &mut notify.master_rx_lower_pri,
        _ => return false,
    };
    if k == "notify_deleted" && n.args.is_empty() {
        *slot = Some(ScriptCmd {
            argv: Vec::new(),
            user: None,
            group: None,
        });
        return true;
    }
    if slot.is_some() {
        cx.warning(
            n.keyword.span,
            format!("`{k}` is given twice; keepalived ignores the second one"),
        );
        return true;
    }
    if let Some(s) = notify_script(cx, n) {
        if let Some(t) = n.args.first() {
            check_script(cx, t.span, &format!("{k} script"), &s);
        }
        *slot = Some(s);
    }
    true
}

/// `linkbeat_interfaces { IF [MII|ETHTOOL|IOCTL] }`.
pub fn lower_linkbeat(cx: &mut Lowerer<'_>, v: &mut VrrpConfig, node: &Node) {
    for n in cx.block(node) {
        let kind = match n.args.first() {
            None => LinkbeatKind::Mii,
            Some(t) => match t.text.as_str() {
                "MII" => LinkbeatKind::Mii,
                "ETHTOOL" => LinkbeatKind::Ethtool,
                "IOCTL" => LinkbeatKind::Ioctl,
                _ => {
                    let mut d =
                        Diagnostic::error(t.span, format!("`{}` is not a linkbeat method", t.text))
                            .with_help("use MII, ETHTOOL or IOCTL");
                    if let Some(s) = crate::diag::did_you_mean(
                        &t.text,
                        LINKBEAT_INTERFACES.keywords.iter().map(|k| k.name),
                    ) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    cx.push(d);
                    continue;
                }
            },
        };
        check_interface(cx, n.keyword.span, &n.keyword.text);
        v.linkbeat_interfaces.push(LinkbeatInterface {
            name: n.keyword.text.clone(),
            kind,
        });
    }
}

/// `interface_up_down_delays { IF DOWN [UP] }`.
pub fn lower_up_down_delays(cx: &mut Lowerer<'_>, v: &mut VrrpConfig, node: &Node) {
    for n in cx.block(node) {
        let Some(d) = n.args.first() else {
            cx.error(n.keyword.span, "an interface needs DOWN_DELAY [UP_DELAY]");
            continue;
        };
        let max = Duration::from_secs(255);
        let Some(down) = cx.seconds(d, Duration::ZERO, max) else {
            continue;
        };
        let up = match n.args.get(1) {
            Some(u) => match cx.seconds(u, Duration::ZERO, max) {
                Some(u) => u,
                None => continue,
            },
            None => down,
        };
        check_interface(cx, n.keyword.span, &n.keyword.text);
        v.interface_up_down_delays.push(UpDownDelay {
            interface: n.keyword.text.clone(),
            down,
            up,
        });
    }
}

/// `track_group NAME { group { ... } }`.
pub fn lower_track_group(cx: &mut Lowerer<'_>, v: &mut VrrpConfig, node: &Node) {
    let Some(name) = block_name(cx, node) else {
        return;
    };
    if v.track_groups.iter().any(|g| g.name == name) {
        duplicate(cx, node, &name);
        return;
    }
    let mut g = TrackGroup {
        name,
        instances: Vec::new(),
        instance_locs: Vec::new(),
    };
    for n in cx.block(node) {
        if !cx.admit(n, &TRACK_GROUP) {
            continue;
        }
        for t in list_words(cx, n) {
            g.instances.push(t.text.clone());
            g.instance_locs.push(loc(t.span));
        }
    }
    v.track_groups.push(g);
}

/// `track_file NAME { file PATH  weight N [reverse]  init_file [V] [overwrite] }`.
pub fn lower_track_file(cx: &mut Lowerer<'_>, v: &mut VrrpConfig, node: &Node) {
    let Some(name) = block_name(cx, node) else {
        return;
    };
    if v.track_files.iter().any(|g| g.name == name) {
        duplicate(cx, node, &name);
        return;
    }
    let mut file = None;
    let mut weight = Weight {
        value: 1,
        reverse: false,
    };
    let mut init = None;
    for n in cx.block(node) {
        if !cx.admit(n, &TRACK_FILE) {
            continue;
        }
        match n.keyword.text.as_str() {
            "file" => file = super::str_arg(cx, n, "a file path"),
            "weight" => {
                let w: Vec<&Token> = std::iter::once(&n.keyword).chain(&n.args).collect();
                if let (Some(wt), _) = weight_words(cx, &w, 0, -254, 254) {
                    weight = wt;
                }
            }
            _ => {
                let mut fi = TrackFileInit {
                    value: 0,
                    overwrite: false,
                };
                for t in &n.args {
                    if t.text == "overwrite" {
                        fi.overwrite = true;
                    } else if let Some(x) = cx.int(t, i64::from(i32::MIN), i64::from(i32::MAX)) {
                        fi.value = x;
                    }
                }
                init = Some(fi);
            }
        }
    }
    let Some(file) = file else {
        cx.push(
            Diagnostic::error(
                super::end_span(node),
                format!("track_file `{name}` has no `file`"),
            )
            .with_help("add `file /path/to/file`"),
        );
        cx.names.dropped.insert(name.clone());
        v.dropped.push(name);
        return;
    };
    v.track_files.push(TrackFile {
        name,
        file,
        weight,
        init_file: init,
    });
}

/// `vrrp_track_process NAME { ... }`.
pub fn lower_track_process(cx: &mut Lowerer<'_>, v: &mut VrrpConfig, node: &Node) {
    let Some(name) = block_name(cx, node) else {
        return;
    };
    if v.track_processes.iter().any(|g| g.name == name) {
        duplicate(cx, node, &name);
        return;
    }
    let mut p = TrackProcess {
        name,
        process: Vec::new(),
        param_match: ParamMatch::Full,
        weight: Weight {
            value: 1,
            reverse: false,
        },
        quorum: 1,
        quorum_max: None,
        fork_delay: Duration::ZERO,
        terminate_delay: Duration::ZERO,
        full_command: false,
    };
    let (min, max) = (Duration::from_micros(1), Duration::from_secs(3600));
    for n in cx.block(node) {
        if !cx.admit(n, &TRACK_PROCESS) {
            continue;
        }
        match n.keyword.text.as_str() {
            "process" => {
                if n.args.is_empty() {
                    cx.error(n.keyword.span, "`process` needs a process name");
                }
                p.process = n.args.iter().map(|t| t.text.clone()).collect();
            }
            "param_match" => {
                if let Some(t) = cx.one_arg(n, "initial or partial") {
                    match t.text.as_str() {
                        "initial" => p.param_match = ParamMatch::Initial,
                        "partial" => p.param_match = ParamMatch::Partial,
                        _ => cx.error(t.span, format!("`{}` is not initial or partial", t.text)),
                    }
                }
            }
            "weight" => {
                let w: Vec<&Token> = std::iter::once(&n.keyword).chain(&n.args).collect();
                if let (Some(wt), _) = weight_words(cx, &w, 0, -254, 254) {
                    p.weight = wt;
                }
            }
            "quorum" => {
                if let Some(q) = super::uint_arg(cx, n, 1, 65535) {
                    p.quorum = q;
                }
            }
            "quorum_max" => p.quorum_max = super::uint_arg(cx, n, 0, 65535),
            "fork_delay" => {
                if let Some(d) = super::secs_arg(cx, n, min, max) {
                    p.fork_delay = d;
                }
            }
            "terminate_delay" => {
                if let Some(d) = super::secs_arg(cx, n, min, max) {
                    p.terminate_delay = d;
                }
            }
            "delay" => {
                if let Some(d) = super::secs_arg(cx, n, min, max) {
                    p.fork_delay = d;
                    p.terminate_delay = d;
                }
            }
            _ => p.full_command = bare(cx, n),
        }
    }
    if let Some(qm) = p.quorum_max {
        if qm < p.quorum {
            cx.push(
                Diagnostic::warning(
                    node.keyword.span,
                    format!("quorum_max {qm} is less than quorum {}", p.quorum),
                )
                .with_help(
                    "the process check can never succeed; quorum_max must be at least quorum",
                ),
            );
        }
    }
    if p.process.is_empty() {
        cx.push(
            Diagnostic::error(
                super::end_span(node),
                format!("vrrp_track_process `{}` has no `process`", p.name),
            )
            .with_help("add `process NAME [PARAMS...]`"),
        );
        cx.names.dropped.insert(p.name.clone());
        v.dropped.push(p.name);
        return;
    }
    v.track_processes.push(p);
}

/// A number of milliseconds with microsecond resolution (`min_rx 3.312`).
fn millis(cx: &mut Lowerer<'_>, n: &Node, min_ms: u64, max_ms: u64) -> Option<Duration> {
    let t = cx.one_arg(n, "a number of milliseconds")?;
    // Read as "seconds" with 6 decimals, then scale: 1 "second" here is 1 ms.
    let d = crate::lower::values::parse_decimal_secs(&t.text);
    let Some(d) = d else {
        cx.error(
            t.span,
            format!("`{}` is not a number of milliseconds", t.text),
        );
        return None;
    };
    let micros = d.as_micros() / 1000; // decimal ms -> us
    let us = u64::try_from(micros).unwrap_or(u64::MAX);
    if us < min_ms * 1000 || us > max_ms * 1000 {
        cx.error(
            t.span,
            format!("{} ms is out of range {min_ms}..={max_ms}", t.text),
        );
        return None;
    }
    Some(Duration::from_micros(us))
}

/// `bfd_instance NAME { ... }`.
pub fn lower_bfd(cx: &mut Lowerer<'_>, v: &mut VrrpConfig, node: &Node) {
    let Some(name) = block_name(cx, node) else {
        return;
    };
    if v.bfd_instances.iter().any(|g| g.name == name) {
        duplicate(cx, node, &name);
        return;
    }
    let mut neighbor = None;
    let mut b = BfdInstance {
        name: name.clone(),
        neighbor_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        source_ip: None,
        min_rx: Duration::from_millis(10),
        min_tx: Duration::from_millis(10),
        idle_tx: Duration::from_millis(1000),
        multiplier: 5,
        passive: false,
        ttl: 255,
        hoplimit: 64,
        max_hops: 0,
        weight: Weight {
            value: 0,
            reverse: false,
        },
        vrrp_only: false,
        checker_only: false,
    };
    for n in cx.block(node) {
        if !cx.admit(n, &BFD_INSTANCE) {
            continue;
        }
        match n.keyword.text.as_str() {
            "neighbor_ip" | "neighbour_ip" => {
                if let Some(t) = cx.one_arg(n, "an IP address") {
                    neighbor = cx.ip(t);
                }
            }
            "source_ip" => {
                if let Some(t) = cx.one_arg(n, "an IP address") {
                    b.source_ip = cx.ip(t);
                }
            }
            "min_rx" => b.min_rx = millis(cx, n, 1, 4_294_967).unwrap_or(b.min_rx),
            "min_tx" => b.min_tx = millis(cx, n, 1, 4_294_967).unwrap_or(b.min_tx),
            "idle_tx" => b.idle_tx = millis(cx, n, 1000, 4_294_967).unwrap_or(b.idle_tx),
            "multiplier" => b.multiplier = super::uint_arg(cx, n, 1, 255).unwrap_or(b.multiplier),
            "passive" => b.passive = bare(cx, n),
            "ttl" => b.ttl = super::uint_arg(cx, n, 1, 255).unwrap_or(b.ttl),
            "hoplimit" => b.hoplimit = super::uint_arg(cx, n, 1, 255).unwrap_or(b.hoplimit),
            "max_hops" => b.max_hops = super::uint_arg(cx, n, 0, 255).unwrap_or(b.max_hops),
            "weight" => {
                let w: Vec<&Token> = std::iter::once(&n.keyword).chain(&n.args).collect();
                if let (Some(wt), _) = weight_words(cx, &w, 0, -253, 253) {
                    b.weight = wt;
                }
            }
            "vrrp" => b.vrrp_only = bare(cx, n),
            _ => b.checker_only = bare(cx, n),
        }
    }
    match neighbor {
        Some(a) => b.neighbor_ip = a,
        None => {
            cx.push(
                Diagnostic::error(
                    super::end_span(node),
                    format!("bfd_instance `{name}` has no neighbor_ip"),
                )
                .with_help("add `neighbor_ip ADDRESS`"),
            );
            cx.names.dropped.insert(name.clone());
            v.dropped.push(name);
            return;
        }
    }
    if let Some(s) = b.source_ip {
        if s.is_ipv6() != b.neighbor_ip.is_ipv6() {
            cx.error(
                node.keyword.span,
                "source_ip and neighbor_ip are of different address families",
            );
        }
    }
    v.bfd_instances.push(b);
}

/// `vrrp_script NAME { ... }`.
pub fn lower_script(cx: &mut Lowerer<'_>, v: &mut VrrpConfig, node: &Node) {
    let Some(name) = block_name(cx, node) else {
        return;
    };
    if v.scripts.iter().any(|g| g.name == name) {
        duplicate(cx, node, &name);
        return;
    }
    let mut script: Option<(ScriptCmd, crate::source::Span)> = None;
    let mut interval = Duration::from_secs(1);
    let mut timeout = None;
    let mut weight = Weight {
        value: 0,
        reverse: false,
    };
    let mut rise = 1;
    let mut fall = 1;
    let mut user = None;
    let mut init_fail = false;
    for n in cx.block(node) {
        if !cx.admit(n, &VRRP_SCRIPT) {
            continue;
        }
        match n.keyword.text.as_str() {
            "script" => {
                // Every word is part of the command; a quoted string is split on spaces.
                let mut argv = Vec::new();
                for t in &n.args {
                    if t.quoted {
                        argv.extend(split_command(&t.text));
                    } else {
                        argv.push(t.text.clone());
                    }
                }
                match n.args.first() {
                    Some(first) if !argv.is_empty() => {
                        script = Some((
                            ScriptCmd {
                                argv,
                                user: None,
                                group: None,
                            },
                            first.span,
                        ))
                    }
                    _ => cx.error(n.keyword.span, "`script` needs a command"),
                }
            }
            // keepalived 2.2.7 reads whole seconds here (1..=4294).
            "interval" => {
                if let Some(d) = super::uint_arg::<u64>(cx, n, 1, 4294) {
                    interval = Duration::from_secs(d);
                }
            }
            "timeout" => timeout = super::uint_arg::<u64>(cx, n, 1, 4294).map(Duration::from_secs),
            "weight" => {
                let w: Vec<&Token> = std::iter::once(&n.keyword).chain(&n.args).collect();
                if let (Some(wt), _) = weight_words(cx, &w, 0, -253, 253) {
                    weight = wt;
                }
            }
            "rise" => rise = super::uint_arg(cx, n, 1, 2_147_483_647).unwrap_or(rise),
            "fall" => fall = super::uint_arg(cx, n, 1, 2_147_483_647).unwrap_or(fall),
            "user" => {
                if let Some(u) = cx.one_arg_multi(n, "a user name [GROUP]") {
                    user = Some((u.text.clone(), n.args.get(1).map(|t| t.text.clone())));
                }
            }
            _ => init_fail = bare(cx, n),
        }
    }
    let Some((mut cmd, at)) = script else {
        cx.push(
            Diagnostic::error(
                super::end_span(node),
                format!("vrrp_script `{name}` has no `script`"),
            )
            .with_help("add `script \"/path/to/check args\"`"),
        );
        cx.names.dropped.insert(name.clone());
        v.dropped.push(name);
        return;
    };
    check_script(cx, at, "script", &cmd);
    if let Some((u, g)) = user {
        cmd.user = Some(u);
        cmd.group = g;
    }
    let timeout = timeout.unwrap_or(interval);
    v.scripts.push(VrrpScript {
        name,
        script: cmd,
        interval,
        timeout,
        weight,
        rise,
        fall,
        init_fail,
    });
}

/// `vrrp_sync_group NAME { ... }`.
pub fn lower_sync_group(cx: &mut Lowerer<'_>, v: &mut VrrpConfig, node: &Node) {
    let Some(name) = block_name(cx, node) else {
        return;
    };
    if v.sync_groups.iter().any(|g| g.name == name) {
        duplicate(cx, node, &name);
        return;
    }
    let mut g = SyncGroup {
        name,
        instances: Vec::new(),
        instance_locs: Vec::new(),
        track: Tracking::default(),
        notify: Notify::default(),
        notify_priority_changes: None,
        smtp_alert: None,
        sync_group_tracking_weight: false,
    };
    let mut have_group = false;
    for n in cx.block(node) {
        if !cx.admit(n, &VRRP_SYNC_GROUP) {
            continue;
        }
        if lower_tracking(cx, &mut g.track, n) || lower_notify(cx, &mut g.notify, n) {
            continue;
        }
        match n.keyword.text.as_str() {
            "group" => {
                if have_group {
                    cx.warning(
                        n.keyword.span,
                        "`group` is given twice; keepalived ignores the second list",
                    );
                    continue;
                }
                have_group = true;
                let mut listed = std::collections::HashSet::new();
                for t in list_words(cx, n) {
                    if !listed.insert(t.text.as_str()) {
                        cx.warning(t.span, format!("`{}` is listed twice", t.text));
                        continue;
                    }
                    g.instances.push(t.text.clone());
                    g.instance_locs.push(loc(t.span));
                }
            }
            "notify_priority_changes" => g.notify_priority_changes = flag_arg(cx, n),
            "smtp_alert" => g.smtp_alert = flag_arg(cx, n),
            "global_tracking" => {
                cx.push(
                    Diagnostic::warning(n.keyword.span, "`global_tracking` is deprecated")
                        .with_help("use track_interface/track_script/track_file on the sync group, or sync_group_tracking_weight"),
                );
                g.sync_group_tracking_weight = true;
            }
            _ => g.sync_group_tracking_weight = bare(cx, n),
        }
    }
    if !have_group {
        cx.push(
            Diagnostic::error(
                node.keyword.span,
                format!("vrrp_sync_group `{}` has no `group` list", g.name),
            )
            .with_help("add `group { VI_1 VI_2 }`"),
        );
    }
    // Members defined before the group lose their weighted tracking now (members defined
    // later are handled when they are lowered).
    if !g.sync_group_tracking_weight {
        let mut members: Vec<usize> = g
            .instances
            .iter()
            .filter_map(|m| cx.names.instances.get(m).copied())
            .collect();
        members.sort_unstable();
        let mut insts = std::mem::take(&mut v.instances);
        for idx in members {
            if let Some(i) = insts.get_mut(idx) {
                if i.priority.0 != 255 {
                    super::instance::apply_tracking_rules(cx, v, i, true);
                }
            }
        }
        v.instances = insts;
        cx.names.sync_members.extend(g.instances.iter().cloned());
    }
    v.sync_groups.push(g);
}

/// `garp_group { ... }`.
pub fn lower_garp_group(cx: &mut Lowerer<'_>, v: &mut VrrpConfig, node: &Node) {
    let mut g = GarpGroup {
        garp_interval: None,
        gna_interval: None,
        interfaces: Vec::new(),
    };
    let max = Duration::from_micros(2_147_483_647);
    let mut have_if = false;
    let mut have_ifs = false;
    for n in cx.block(node) {
        if !cx.admit(n, &GARP_GROUP) {
            continue;
        }
        match n.keyword.text.as_str() {
            "garp_interval" => g.garp_interval = super::secs_arg(cx, n, Duration::ZERO, max),
            "gna_interval" => g.gna_interval = super::secs_arg(cx, n, Duration::ZERO, max),
            "interface" => {
                if let Some(t) = cx.one_arg(n, "an interface name") {
                    check_interface(cx, t.span, &t.text);
                    g.interfaces.push(t.text.clone());
                    have_if = true;
                }
            }
            _ => {
                for t in list_words(cx, n) {
                    check_interface(cx, t.span, &t.text);
                    g.interfaces.push(t.text.clone());
                }
                have_ifs = true;
            }
        }
    }
    if have_if && have_ifs {
        cx.push(
            Diagnostic::warning(
                node.keyword.span,
                "garp_group has both `interface` and `interfaces`",
            )
            .with_help("use only one of them per garp_group"),
        );
    }
    if g.interfaces.is_empty() {
        cx.push(
            Diagnostic::error(node.keyword.span, "garp_group names no interface")
                .with_help("add `interface IF` or `interfaces { IF ... }`"),
        );
        return;
    }
    v.garp_groups.push(g);
}
