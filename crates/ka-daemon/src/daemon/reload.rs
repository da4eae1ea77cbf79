//! Reload (SIGHUP, and `keepalived-rs reload` through the control socket): re-read and
//! re-lower the configuration; on any error keep running the old one and say why (each
//! diagnostic with file:line:col); otherwise map it onto the engine, open the VRRP sockets
//! and multicast memberships the new instances need, hand it to
//! `ka_vrrp::Router::reconfigure` (unchanged instances are untouched, changed ones apply
//! only the differences, removed ones stop with priority 0, new ones start), apply the
//! output, and close what no instance uses any more.
//!
//! Also owns the VRRP receive sockets (one per interface and family) and the multicast
//! groups joined on them, for start-up and reload alike.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use ka_config::fs::StdFs;
use ka_config::lower::{Env, Lowering};
use ka_config::preprocess::{load_streaming, LoadOptions};
use ka_config::render;
use ka_config::source::FileSystem;
use ka_config::Severity;
use ka_sys::{RxPacket, VrrpSocket};
use ka_vrrp::{Family, InstanceConfig, Router};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::io::{drain, Io};
use super::{host_info, map, Clock};

/// Where the configuration comes from (`-f`, `-i`), for re-reading it.
#[derive(Debug, Clone)]
pub(super) struct Source {
    /// The configuration file.
    pub(super) file: PathBuf,
    /// `-i`.
    pub(super) config_id: Option<String>,
    /// global_defs `metrics_listen` at start, when it chose the listener (no
    /// `--metrics-listen`): a reload that changes it is told the listener stays.
    pub(super) metrics_listen: Option<Option<std::net::SocketAddr>>,
    /// The checker and data plane of this process, which take the new virtual servers
    /// (`None` with `-P` or without virtual servers at start).
    pub(super) vs_reload: Option<std::sync::Arc<crate::check::VsReload>>,
}

/// The result of one reload, short enough to hand back to `keepalived-rs reload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ReloadOutcome {
    /// The new configuration runs; a one-line summary of what changed.
    Ok(String),
    /// The old configuration keeps running; why the new one was refused.
    Refused(String),
}

impl std::fmt::Display for ReloadOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadOutcome::Ok(s) => write!(f, "reloaded: {s}"),
            ReloadOutcome::Refused(s) => write!(f, "reload refused, old configuration kept: {s}"),
        }
    }
}

/// The VRRP receive sockets by (ifindex, IPv6?) with their receive tasks, and the
/// multicast groups joined on them. The sockets themselves live in [`Io::sockets`] (the
/// send side).
pub(super) struct Sockets {
    tx: mpsc::Sender<RxPacket>,
    tasks: BTreeMap<(u32, bool), JoinHandle<()>>,
    joined: BTreeSet<(u32, IpAddr)>,
}

impl Sockets {
    /// No sockets yet; received packets will go to `tx`.
    pub(super) fn new(tx: mpsc::Sender<RxPacket>) -> Self {
        Self {
            tx,
            tasks: BTreeMap::new(),
            joined: BTreeSet::new(),
        }
    }

    /// Opens the sockets and joins the groups `instances` need and do not have yet.
    /// Nothing already open is touched.
    pub(super) fn open_missing(
        &mut self,
        io: &mut Io,
        instances: &[InstanceConfig],
    ) -> Result<(), String> {
        for c in instances {
            let v6 = c.family == Family::V6;
            let key = (c.interface.0, v6);
            if let std::collections::btree_map::Entry::Vacant(slot) = io.sockets.entry(key) {
                let s = if v6 {
                    VrrpSocket::open_v6(c.interface.0)
                } else {
                    VrrpSocket::open_v4(c.interface.0)
                };
                let s = Rc::new(s.map_err(|e| {
                    format!("vrrp_instance {}: cannot open a VRRP socket: {e}", c.name)
                })?);
                if let IpAddr::V6(src) = c.src_addr {
                    s.bind_source_v6(src)
                        .map_err(|e| format!("vrrp_instance {}: cannot bind {src}: {e}", c.name))?;
                }
                let rs = Rc::clone(&s);
                let tx = self.tx.clone();
                let task = tokio::task::spawn_local(async move {
                    loop {
                        match rs.recv().await {
                            Ok(p) => {
                                if tx.send(p).await.is_err() {
                                    return;
                                }
                            }
                            Err(e) => {
                                warn!("receive on ifindex {}: {e}", rs.ifindex());
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            }
                        }
                    }
                });
                self.tasks.insert(key, task);
                slot.insert(s);
            }
            if c.unicast_peers.is_empty() {
                let group = c.mcast_group();
                if !self.joined.contains(&(c.interface.0, group)) {
                    if let Some(s) = io.sockets.get(&key) {
                        s.join_multicast(group).map_err(|e| {
                            format!("vrrp_instance {}: cannot join {group}: {e}", c.name)
                        })?;
                        self.joined.insert((c.interface.0, group));
                    }
                }
            }
        }
        Ok(())
    }

    /// Leaves the groups and closes the sockets no instance of `instances` uses.
    pub(super) fn close_unused(&mut self, io: &mut Io, instances: &[InstanceConfig]) {
        let keys: BTreeSet<(u32, bool)> = instances
            .iter()
            .map(|c| (c.interface.0, c.family == Family::V6))
            .collect();
        let groups: BTreeSet<(u32, IpAddr)> = instances
            .iter()
            .filter(|c| c.unicast_peers.is_empty())
            .map(|c| (c.interface.0, c.mcast_group()))
            .collect();
        let leave: Vec<(u32, IpAddr)> = self.joined.difference(&groups).copied().collect();
        for (ifindex, group) in leave {
            self.joined.remove(&(ifindex, group));
            let key = (ifindex, group.is_ipv6());
            if keys.contains(&key) {
                if let Some(s) = io.sockets.get(&key) {
                    match s.leave_multicast(group) {
                        Ok(()) => info!("left {group} on ifindex {ifindex}"),
                        Err(e) => warn!("cannot leave {group} on ifindex {ifindex}: {e}"),
                    }
                }
            }
        }
        let close: Vec<(u32, bool)> = io
            .sockets
            .keys()
            .filter(|k| !keys.contains(k))
            .copied()
            .collect();
        for key in close {
            if let Some(t) = self.tasks.remove(&key) {
                t.abort();
            }
            io.sockets.remove(&key);
            self.joined
                .retain(|(i, g)| !(*i == key.0 && g.is_ipv6() == key.1));
            info!(
                "closed the VRRP {} socket on ifindex {}",
                if key.1 { "IPv6" } else { "IPv4" },
                key.0
            );
        }
    }

    /// The (ifindex, group) memberships, for tests and status.
    #[allow(dead_code)]
    pub(super) fn joined(&self) -> &BTreeSet<(u32, IpAddr)> {
        &self.joined
    }
}

/// Reads and lowers the configuration. Each diagnostic is logged as one line with
/// file:line:col (errors at `error`, warnings at `warn`); `Err` carries a short reason
/// when there is at least one error.
pub(super) fn load(src: &Source) -> Result<ka_model::config::Config, String> {
    let fs = StdFs;
    let file: &Path = &src.file;
    if !fs.exists(file) {
        return Err(format!("configuration file {} not found", file.display()));
    }
    let opts = LoadOptions {
        config_id: src
            .config_id
            .clone()
            .or_else(ka_config::fs::default_config_id),
        cwd: std::env::current_dir().ok(),
        ..LoadOptions::default()
    };
    let env = Env {
        fs: &fs,
        interfaces: fs.read_dir(Path::new("/sys/class/net")).ok(),
    };
    let mut lowering = Lowering::new(&env);
    let loaded = load_streaming(file, &fs, &opts, &mut |node| lowering.node(&node));
    let (config, lower_diags) = lowering.finish();
    let mut diags = loaded.diagnostics.clone();
    diags.extend(lower_diags);
    diags.sort_by_key(|d| d.span.map(|s| (s.file, s.line, s.col)));
    let mut first = None;
    let mut errors = 0usize;
    for d in &diags {
        let line = render::plain_one(d, &loaded.sources);
        if d.severity == Severity::Error {
            error!("{line}");
            errors += 1;
            first.get_or_insert(line);
        } else {
            warn!("{line}");
        }
    }
    match first {
        Some(first) => Err(format!(
            "{errors} error(s) in {}; first: {first}",
            file.display()
        )),
        None => Ok(config),
    }
}

/// One reload: the function SIGHUP and the control socket's `reload` call. On `Refused`
/// nothing was touched (router, sockets, addresses); on `Ok` the router runs the new
/// configuration and its output has been applied.
pub(super) async fn reload(
    src: &Source,
    sockets: &mut Sockets,
    router: &mut Router,
    io: &mut Io,
    clock: &Clock,
) -> ReloadOutcome {
    let outcome = reload_inner(src, sockets, router, io, clock).await;
    match &outcome {
        ReloadOutcome::Ok(s) => info!("reload done: {s}"),
        ReloadOutcome::Refused(s) => {
            error!("reload refused, still running the previous configuration: {s}")
        }
    }
    outcome
}

async fn reload_inner(
    src: &Source,
    sockets: &mut Sockets,
    router: &mut Router,
    io: &mut Io,
    clock: &Clock,
) -> ReloadOutcome {
    info!("reloading {}", src.file.display());
    let mut cfg = match load(src) {
        Ok(c) => c,
        Err(e) => return ReloadOutcome::Refused(e),
    };
    // use_vmac instances map onto their VMAC by name (a new VMAC is not made on reload:
    // the mapping then refuses the reload, naming the missing interface).
    super::vmac::resolve_names(&mut cfg.vrrp);
    if src.vs_reload.is_none() && !cfg.lvs.virtual_servers.is_empty() {
        warn!("this process runs no checker (-P, or no virtual_server at start): virtual_server changes need a restart");
    }
    if let Some(was) = src.metrics_listen {
        let now = cfg.vrrp.global.metrics_listen;
        if now != was {
            let show =
                |a: Option<std::net::SocketAddr>| a.map_or("off".to_owned(), |a| a.to_string());
            warn!(
                "metrics_listen changed ({} -> {}): the metrics listener stays as it is until a restart",
                show(was),
                show(now)
            );
        }
    }
    // Addresses configured as VIPs, old or new, never count as an interface's own.
    let mut vips: BTreeSet<IpAddr> = cfg
        .vrrp
        .instances
        .iter()
        .flat_map(|i| {
            i.virtual_ipaddresses
                .iter()
                .chain(i.virtual_ipaddresses_excluded.iter())
                .map(|a| a.prefix.addr)
        })
        .collect();
    vips.extend(router.instances().iter().flat_map(|i| {
        i.config()
            .vips
            .iter()
            .chain(i.config().excluded_vips.iter())
            .map(|v| v.addr)
    }));
    let (host, links) = match host_info(&io.nl, &vips).await {
        Ok(h) => h,
        Err(e) => return ReloadOutcome::Refused(format!("cannot list interfaces: {e}")),
    };
    let mapped = match map::map_config(&cfg.vrrp, &host) {
        Ok(m) => m,
        Err(errs) => {
            for e in &errs {
                error!("{e}");
            }
            let first = errs.first().map(ToString::to_string).unwrap_or_default();
            return ReloadOutcome::Refused(format!("{} error(s); first: {first}", errs.len()));
        }
    };
    // The engine's own checks, before anything is opened.
    let new = match mapped.router.clone().validate() {
        Ok(c) => c,
        Err(e) => return ReloadOutcome::Refused(e.to_string()),
    };
    for w in &mapped.warnings {
        warn!("{w}");
    }
    if let Err(e) = sockets.open_missing(io, &new.instances) {
        // Whatever was opened for the new instances is closed again.
        let old: Vec<InstanceConfig> = router
            .instances()
            .iter()
            .map(|i| i.config().clone())
            .collect();
        sockets.close_unused(io, &old);
        return ReloadOutcome::Refused(e);
    }
    for l in links.values() {
        if let Some(m) = l.mac {
            io.macs.insert(l.ifindex, m);
        }
    }
    let report = match router.reconfigure(clock.now(), mapped.router) {
        Ok(r) => r,
        Err(e) => return ReloadOutcome::Refused(e.to_string()),
    };
    // Routes, rules and VIP attributes of the new configuration (the old ones stay known
    // until removed).
    let (plan, net_warnings) = super::net::plan(&cfg.vrrp, &host, &super::net::Names::load());
    for w in &net_warnings {
        warn!("{w}");
    }
    io.net.update_plan(plan);
    // Tracking and notify scripts of the new configuration.
    io.notify.reload(&cfg.vrrp);
    io.alerts
        .mailer()
        .update(crate::alert::Settings::from_global(
            &cfg.vrrp.global,
            &crate::alert::hostname(),
        ));
    io.alerts.reload(&cfg.vrrp);
    if let Some(t) = io.track.as_mut() {
        t.reload(&cfg.vrrp, router, clock.now());
    }
    // Removed masters send their priority 0 advert through the old sockets: drain first,
    // close afterwards.
    drain(router, io).await;
    sockets.close_unused(io, &new.instances);
    // The virtual servers: the checker reloads, the data plane follows its verdicts.
    if let Some(r) = &src.vs_reload {
        r.request(cfg.lvs.clone());
    }
    ReloadOutcome::Ok(summary(router, &report))
}

fn summary(router: &Router, r: &ka_vrrp::ReconfigureReport) -> String {
    let name = |id: ka_vrrp::InstanceId| {
        router
            .instance_name(id)
            .map_or_else(|| format!("#{}", id.0), str::to_owned)
    };
    let mut parts = vec![format!("{} unchanged", r.unchanged.len())];
    if !r.changed.is_empty() {
        let list: Vec<String> = r
            .changed
            .iter()
            .map(|(id, f)| format!("{} ({})", name(*id), f.join(", ")))
            .collect();
        parts.push(format!("changed {}", list.join(", ")));
    }
    if !r.added.is_empty() {
        let list: Vec<String> = r.added.iter().map(|id| name(*id)).collect();
        parts.push(format!("added {}", list.join(", ")));
    }
    if !r.removed.is_empty() {
        let list: Vec<&str> = r.removed.iter().map(|(_, n)| n.as_str()).collect();
        parts.push(format!("removed {}", list.join(", ")));
    }
    parts.join("; ")
}
