//! The VRRP daemon (`keepalived-rs -n -l -f CONF`, also with `-P`): loads the
//! configuration, maps it onto the sans-IO engine (`ka_vrrp::Router`) and moves its
//! bytes with `ka-sys` on a tokio current-thread runtime.
//!
//! The daemon holds no protocol decision: it decodes packets (checksum verified, TTL and
//! destination reported in `RxMeta`), feeds them, link changes and timeouts to the
//! router, and after every input applies the router's output in order: adverts, address
//! changes, the other transmissions (GARP/NA), then events (logged with `tracing`).
//!
//! `io` applies the router's output, `events` logs its events, `reload` re-reads the
//! configuration on SIGHUP and on the control socket's `reload` (and owns the VRRP receive
//! sockets), `control` serves the control socket (`status`, `reload`), `status` builds and
//! renders the status snapshot, `dump` writes keepalived's SIGUSR1/SIGUSR2/JSON dumps,
//! `metrics` serves Prometheus metrics and `/status` over HTTP (`--metrics-listen`).
//!
//! `net` applies VIP attributes, virtual/static routes and rules and static addresses;
//! `vmac` makes the `use_vmac` macvlans before the instances are mapped onto them;
//! `firewall` drops traffic to VIPs in no_accept mode (nftables).
//!
//! `track` runs vrrp_script / track_file / track_process and feeds `Router::handle_track`;
//! `notify` runs notify scripts and writes notify FIFOs for the router's events.
//!
//! Not yet run (warned at start-up): track_bfd, use_ipvlan, AH authentication.

pub mod control;
pub mod dump;
mod events;
mod firewall;
mod io;
pub mod lb_status;
pub mod lvs;
pub mod map;
pub mod metrics;
pub mod net;
mod notify;
mod reload;
pub mod status;
pub mod syncd;
mod track;
pub mod vmac;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ka_config::fs::StdFs;
use ka_config::lower::{Env, Lowering};
use ka_config::preprocess::{load_streaming, LoadOptions};
use ka_config::render;
use ka_config::source::FileSystem;
use ka_config::Severity;
use ka_sys::{AddrSpec, Monitor, Netlink, RxPacket};
use ka_vrrp::{IfaceId, Instant, Router};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use io::{decode_rx, drain, Io};
use map::{Host, HostIface};

/// What `keepalived-rs` was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration file.
    pub file: PathBuf,
    /// `-i`.
    pub config_id: Option<String>,
    /// `-p`: pid file of the (single) process.
    pub pid_file: Option<PathBuf>,
    /// `-r`: pid file of the VRRP process (the same process here).
    pub vrrp_pid_file: Option<PathBuf>,
    /// `-l`, `-D`, `-S`, `-G`: where logs go.
    pub log: crate::logging::Options,
    /// `-V`: leave VIPs in place on stop.
    pub dont_release_vrrp: bool,
    /// `-s NAME`: run in a named network namespace.
    pub namespace: Option<String>,
    /// `-P`: VRRP only (virtual servers are neither checked nor programmed).
    pub vrrp_only: bool,
    /// `-C`: health checkers (and the data plane) only.
    pub check_only: bool,
    /// `--control-socket PATH`.
    pub control_socket: PathBuf,
    /// `--lb-backend`: the data plane of the virtual servers.
    pub lb_backend: lvs::BackendKind,
    /// `--metrics-listen`: the metrics listener (before global_defs `metrics_listen`).
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Runs the daemon until SIGTERM/SIGINT. Exit status 0 after a clean stop, 1 when the
/// configuration or the host setup is refused.
pub fn run(opts: &Options) -> ExitCode {
    if let Err(e) = crate::logging::init(&opts.log) {
        eprintln!("keepalived-rs: {e}");
        return ExitCode::from(2);
    }
    let Some(mut cfg) = load_config(&opts.file, opts.config_id.clone()) else {
        return ExitCode::from(1);
    };
    let started = std::time::SystemTime::now();
    let plan = crate::check::Plan::new(&cfg, opts.vrrp_only, opts.check_only);
    if let Some(ns) = &opts.namespace {
        if let Err(e) = ka_sys::netns::enter_named(ns) {
            error!("cannot enter network namespace {ns}: {e}");
            return ExitCode::from(1);
        }
    }
    // The data plane runs with the checkers, which feed it (IPVS is per network
    // namespace: opened after entering ours).
    let mut lvs = if plan.runs_checker() {
        // The data plane takes the virtual servers (the checker has its copy in the
        // plan): no third copy of a large table stays in this frame.
        match lvs::Lvs::new(
            std::mem::take(&mut cfg.lvs),
            opts.lb_backend,
            lvs::IpvsGlobals::of(&cfg.vrrp.global),
        ) {
            Ok(l) => Some(l),
            Err(e) => {
                error!("{e}");
                return ExitCode::from(1);
            }
        }
    } else {
        None
    };
    let lb_query = lvs.as_mut().map(lvs::Lvs::status_query);
    // The metrics listener: the option, else global_defs metrics_listen.
    let metrics_listener = match opts.metrics_listen.or(cfg.vrrp.global.metrics_listen) {
        Some(addr) => match metrics::Listener::bind(addr) {
            Ok(l) => Some(l),
            Err(e) => {
                error!("{e}");
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let pid_files: Vec<&PathBuf> = opts
        .pid_file
        .iter()
        .chain(opts.vrrp_pid_file.iter())
        .collect();
    for p in &pid_files {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            error!("cannot write pid file {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    let local = tokio::task::LocalSet::new();
    let source = reload::Source {
        file: opts.file.clone(),
        config_id: opts.config_id.clone(),
        metrics_listen: opts
            .metrics_listen
            .is_none()
            .then_some(cfg.vrrp.global.metrics_listen),
        vs_reload: plan.vs_reload(),
    };
    let real_servers = plan.status_table();
    // E-mail alerts: one sender task; VRRP, the checkers and the data plane only queue.
    let mailer = crate::alert::Mailer::new(crate::alert::Settings::from_global(
        &cfg.vrrp.global,
        &crate::alert::hostname(),
    ));
    let mail_task = local.spawn_local(mailer.clone().run());
    let mut snapshots = None;
    let metrics = metrics_listener.map(|listener| {
        let engine = plan.run_vrrp().then(|| {
            let (tx, rx) = mpsc::channel(metrics::ENGINE_QUEUE);
            snapshots = Some(rx);
            tx
        });
        let sources = metrics::Sources {
            engine,
            real_servers: std::sync::Arc::clone(&real_servers),
            lb: lb_query.clone(),
            daemon: metrics::daemon_info(&opts.file, started),
        };
        (listener, sources)
    });
    // Without the VRRP engine (-C, or no vrrp_instance) the control socket is served
    // here: status shows the checkers and the data plane.
    let control_only = (!plan.run_vrrp()).then(|| {
        control_without_engine(
            opts.control_socket.clone(),
            source.clone(),
            started,
            std::sync::Arc::clone(&real_servers),
            lb_query.clone(),
        )
    });
    // The daemon's main loop: the VRRP engine, or without it (-C, or no vrrp_instance)
    // the signals: SIGTERM/SIGINT stop, SIGHUP reloads the virtual servers.
    let main: std::pin::Pin<Box<dyn std::future::Future<Output = ExitCode>>> = if plan.run_vrrp() {
        Box::pin(async_main(
            cfg.vrrp,
            opts.dont_release_vrrp,
            source,
            opts,
            real_servers,
            lb_query,
            snapshots,
            mailer.clone(),
        ))
    } else {
        Box::pin(signals_without_engine(source))
    };
    let vrrp_runs = plan.run_vrrp();
    let code = local.block_on(&rt, async {
        let server = metrics.map(|(l, s)| tokio::task::spawn_local(metrics::serve(l, s)));
        let control = control_only.map(tokio::task::spawn_local);
        let sd = crate::sdnotify::global();
        let watchdog = sd.and_then(|n| {
            let every = crate::sdnotify::watchdog_interval(
                std::env::var("WATCHDOG_USEC").ok().as_deref(),
                std::env::var("WATCHDOG_PID").ok().as_deref(),
            )?;
            Some(tokio::task::spawn_local(crate::sdnotify::watchdog(
                n, every,
            )))
        });
        if let (Some(n), false) = (sd, vrrp_runs) {
            n.ready("checkers running");
        }
        let code = plan.run(main, lvs, &mailer).await;
        if let (Some(n), false) = (sd, vrrp_runs) {
            n.stopping();
        }
        if let Some(w) = watchdog {
            w.abort();
        }
        if let Some(s) = server {
            s.abort();
        }
        if let Some(c) = control {
            // Dropping the task drops the server, which removes its socket.
            c.abort();
            let _ = c.await;
        }
        crate::alert::finish(&mailer, mail_task).await;
        code
    });
    for p in &pid_files {
        let _ = std::fs::remove_file(p);
    }
    code
}

/// The control socket of a daemon without VRRP instances: `status` answers with the
/// daemon, the checkers' real servers and the data plane's table; `reload` is refused
/// (the checkers and the data plane are not reloaded yet).
/// Reloads the virtual servers of a daemon without VRRP: the file is read again and, when
/// it has no error, handed to the checker (which reloads its scheduler, keepalived's
/// migrate_checkers rules) and from there to the data plane (only the difference is
/// applied). A file with an error changes nothing.
fn reload_virtual_servers(src: &reload::Source) -> Result<String, String> {
    let n = crate::sdnotify::global();
    if let Some(n) = n {
        n.reloading();
    }
    let r = reload::load(src).and_then(|cfg| match &src.vs_reload {
        Some(vs) => {
            let count = cfg.lvs.virtual_servers.len();
            vs.request(cfg.lvs);
            Ok(format!("{count} virtual server(s) handed to the checkers"))
        }
        None => Err("this daemon runs neither VRRP nor checkers: nothing to reload".to_owned()),
    });
    match &r {
        Ok(s) => info!("reload done: {s}"),
        Err(e) => error!("reload refused, still running the previous configuration: {e}"),
    }
    if let Some(n) = n {
        n.ready(match &r {
            Ok(s) | Err(s) => s,
        });
    }
    r
}

/// The signals of a daemon without VRRP: SIGTERM/SIGINT stop, SIGHUP reloads the
/// virtual servers.
async fn signals_without_engine(src: reload::Source) -> ExitCode {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        error!("cannot install signal handlers");
        return ExitCode::from(1);
    };
    loop {
        tokio::select! {
            _ = term.recv() => { info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { info!("SIGINT: stopping"); break; }
            _ = hup.recv() => {
                info!("SIGHUP: reload");
                let _ = reload_virtual_servers(&src);
            }
        }
    }
    ExitCode::SUCCESS
}

async fn control_without_engine(
    path: PathBuf,
    src: reload::Source,
    started: std::time::SystemTime,
    real_servers: crate::check::StatusTable,
    lb_query: Option<lvs::StatusQuery>,
) {
    let mut control = match control::Server::bind(&path) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!("no control socket: {e}");
            return;
        }
    };
    loop {
        let p = control::next(&mut control).await;
        match p.command {
            control::Command::Status => {
                let mut s = status::Status {
                    daemon: status::DaemonInfo {
                        pid: std::process::id(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        config_file: src.file.display().to_string(),
                        started: status::WallTime::of(started),
                    },
                    instances: Vec::new(),
                    sync_groups: Vec::new(),
                    unmatched_drops: BTreeMap::new(),
                    real_servers: real_servers
                        .lock()
                        .ok()
                        .map(|t| t.clone())
                        .filter(|t| !t.is_empty()),
                    virtual_servers: None,
                };
                if let Some(q) = &lb_query {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    if q.send(tx).await.is_ok() {
                        s.virtual_servers = rx.await.ok();
                    }
                }
                p.answer(control::Response::status(s));
            }
            control::Command::Reload => {
                info!("reload requested on the control socket");
                p.answer(control::Response::reload(reload_virtual_servers(&src)));
            }
        }
    }
}

/// Loads and lowers the configuration, printing diagnostics as `check` does; `None` when
/// it has errors.
fn load_config(file: &Path, config_id: Option<String>) -> Option<ka_model::config::Config> {
    let fs = StdFs;
    if !fs.exists(file) {
        error!("configuration file {} not found", file.display());
        return None;
    }
    let opts = LoadOptions {
        config_id: config_id.or_else(ka_config::fs::default_config_id),
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
    if !diags.is_empty() {
        eprint!("{}", render::plain(&diags, &loaded.sources));
    }
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if errors > 0 {
        error!(
            "{}: {errors} error(s) in the configuration, not starting",
            file.display()
        );
        return None;
    }
    Some(config)
}

/// Reads the host's interfaces and their primary addresses; configured VIPs (perhaps left
/// by a killed earlier run) never count as an interface's primary address.
async fn host_info(
    nl: &Netlink,
    vips: &BTreeSet<IpAddr>,
) -> ka_sys::Result<(Host, BTreeMap<u32, ka_sys::Link>)> {
    let mut host = Host::new();
    let mut links = BTreeMap::new();
    for l in nl.links().await? {
        let mut addrs = nl.addresses(l.ifindex).await?;
        addrs.retain(|a| !vips.contains(&a.addr));
        let v4 = addrs.iter().find_map(|a| match a.addr {
            IpAddr::V4(x) => Some(x),
            IpAddr::V6(_) => None,
        });
        let v6_link_local = addrs.iter().find_map(|a| match a.addr {
            IpAddr::V6(x) if x.is_unicast_link_local() => Some(x),
            _ => None,
        });
        host.insert(
            l.name.clone(),
            HostIface {
                ifindex: l.ifindex,
                v4,
                v6_link_local,
            },
        );
        links.insert(l.ifindex, l);
    }
    Ok((host, links))
}

/// The daemon's clock mapped onto the engine's `Instant`.
#[derive(Debug, Clone, Copy)]
struct Clock(tokio::time::Instant);

impl Clock {
    fn now(&self) -> Instant {
        let us = u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX);
        Instant::from_micros(us)
    }
    fn deadline(&self, at: Instant) -> tokio::time::Instant {
        self.0 + std::time::Duration::from_micros(at.as_micros().min(1 << 50))
    }
}

// The engine task's inputs, each from a different part of start-up.
#[allow(clippy::too_many_arguments)]
async fn async_main(
    mut cfg: ka_model::vrrp::VrrpConfig,
    keep_vips_on_stop: bool,
    source: reload::Source,
    opts: &Options,
    real_servers: crate::check::StatusTable,
    lb_query: Option<lvs::StatusQuery>,
    mut snapshots: Option<mpsc::Receiver<metrics::SnapshotRequest>>,
    mailer: crate::alert::Mailer,
) -> ExitCode {
    let started = std::time::SystemTime::now();
    // Monitor first, then the dump: no link change is missed.
    let mut monitor = match Monitor::new(false) {
        Ok(m) => Some(m),
        Err(e) => {
            warn!("no link monitoring: {e}");
            None
        }
    };
    let nl = match Netlink::new() {
        Ok(n) => n,
        Err(e) => {
            error!("rtnetlink: {e}");
            return ExitCode::from(1);
        }
    };
    let vip_addrs: BTreeSet<IpAddr> = cfg
        .instances
        .iter()
        .flat_map(|i| {
            i.virtual_ipaddresses
                .iter()
                .chain(i.virtual_ipaddresses_excluded.iter())
                .map(|a| a.prefix.addr)
        })
        .collect();
    let (mut host, mut links) = match host_info(&nl, &vip_addrs).await {
        Ok(h) => h,
        Err(e) => {
            error!("cannot list interfaces: {e}");
            return ExitCode::from(1);
        }
    };
    // use_vmac interfaces exist before the instances are mapped onto them.
    vmac::resolve_names(&mut cfg);
    let (mut vmacs, made) = vmac::setup(&nl, &cfg, &host).await;
    let relisted = if vmacs.links.is_empty() {
        Ok(())
    } else {
        host_info(&nl, &vip_addrs)
            .await
            .map(|(h, l)| {
                host = h;
                links = l;
            })
            .map_err(|e| format!("cannot list interfaces: {e}"))
    };
    let mapped = match made.and(relisted).map_err(|e| vec![e]).and_then(|()| {
        map::map_config(&cfg, &host).map_err(|errs| errs.iter().map(ToString::to_string).collect())
    }) {
        Ok(m) => m,
        Err(errs) => {
            for e in errs {
                error!("{e}");
            }
            vmac::teardown(&nl, &mut vmacs).await;
            return ExitCode::from(1);
        }
    };
    for w in &mapped.warnings {
        warn!("{w}");
    }
    let (plan, net_warnings) = net::plan(&cfg, &host, &net::Names::load());
    for w in &net_warnings {
        warn!("{w}");
    }
    let instances = mapped.router.instances.clone();
    for c in &instances {
        info!(
            "({}) ifindex {}, source {}, {:?}, priority {}, advert_int {} cs, {}",
            c.name,
            c.interface.0,
            c.src_addr,
            c.version,
            c.priority,
            c.advert_int.0,
            if c.unicast_peers.is_empty() {
                format!("multicast {}", c.mcast_group())
            } else {
                format!("{} unicast peer(s)", c.unicast_peers.len())
            }
        );
    }
    let mut router = match Router::new(mapped.router) {
        Ok(r) => r,
        Err(e) => {
            error!("{e}");
            vmac::teardown(&nl, &mut vmacs).await;
            return ExitCode::from(1);
        }
    };
    let policy = match crate::script::ScriptPolicy::from_global(
        cfg.global.script_user.as_ref(),
        cfg.global.enable_script_security,
    ) {
        Ok(p) => p,
        Err(e) => {
            error!("script_user: {e}");
            vmac::teardown(&nl, &mut vmacs).await;
            return ExitCode::from(1);
        }
    };
    let runner = crate::script::Runner::default();
    let tracking = track::prepare(&cfg, &policy);
    let notifier = notify::Notifier::new(&cfg, &policy, &runner);

    // VIPs a killed earlier run left behind (keepalived removes them before starting).
    let vips: Vec<AddrSpec> = instances
        .iter()
        .flat_map(|c| {
            c.vips
                .iter()
                .chain(c.excluded_vips.iter())
                .map(move |v| AddrSpec::new(v.iface.unwrap_or(c.interface).0, v.addr, v.prefix_len))
        })
        .collect();
    match nl.remove_leftover_addresses(&vips).await {
        Ok(removed) => {
            for r in removed {
                info!("removed leftover address {}/{}", r.addr, r.prefix_len);
            }
        }
        Err(e) => warn!("cannot remove leftover addresses: {e}"),
    }

    // One VRRP socket per interface and family; received packets come through a channel.
    let (tx, mut rx) = mpsc::channel::<RxPacket>(1024);
    let mut io = Io {
        nl,
        sockets: BTreeMap::new(),
        packet: BTreeMap::new(),
        macs: links
            .values()
            .filter_map(|l| l.mac.map(|m| (l.ifindex, m)))
            .collect(),
        ip_id: 0,
        keep_vips_on_stop,
        stopping: false,
        net: net::NetState::new(
            plan,
            vmacs,
            firewall::Firewall::new(cfg.global.nftables.as_ref()),
        ),
        notify: notifier,
        alerts: crate::alert::VrrpAlerts::new(&cfg, mailer),
        track: None,
        syncd: syncd::SyncD::new(cfg.global.lvs_sync_daemon.as_ref(), |name| {
            cfg.instances
                .iter()
                .find(|i| i.name == name)
                .map(|i| i.vrid.get())
        }),
    };
    io.net.install_statics(&io.nl).await;
    let mut sockets = reload::Sockets::new(tx);
    if let Err(e) = sockets.open_missing(&mut io, &instances) {
        error!("{e}");
        io.net.teardown(&io.nl).await;
        return ExitCode::from(1);
    }

    let clock = Clock(tokio::time::Instant::now());
    for l in links.values() {
        router.handle_link(clock.now(), IfaceId(l.ifindex), l.is_up());
    }
    let (track_tx, mut track_rx) = mpsc::channel::<track::TrackUpdate>(256);
    io.track = Some(track::Running::start(
        tracking,
        &mut router,
        clock.now(),
        &runner,
        &track_tx,
    ));
    router.start(clock.now());
    info!(
        "VRRP started: {} instance(s), {} sync group(s)",
        instances.len(),
        cfg.sync_groups.len()
    );
    drain(&mut router, &mut io).await;

    // SIGHUP: keepalived's reload.
    let (mut term, mut int, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(t), Ok(i), Ok(h)) => (t, i, h),
        _ => {
            error!("cannot install signal handlers");
            return ExitCode::from(1);
        }
    };
    let mut dumps = match dump::Signals::new() {
        Ok(d) => d,
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    // Without a control socket the daemon still runs (status/reload unavailable).
    let mut control = match control::Server::bind(&opts.control_socket) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!("no control socket: {e}");
            None
        }
    };
    let ifname = |i: u32| ka_sys::error::ifname(i).unwrap_or_else(|_| format!("if{i}"));
    let status_ctx = |now| status::Ctx {
        now,
        wall: std::time::SystemTime::now(),
        started,
        config_file: &opts.file,
        ifname: &ifname,
        real_servers: &real_servers,
    };
    // Signal handlers and the control socket are in place: systemd may reload now.
    if let Some(n) = crate::sdnotify::global() {
        n.ready(&format!("VRRP running: {} instance(s)", instances.len()));
    }
    // Engine timers on a timerfd (tokio's own timers fire up to ~2 ms late).
    let mut timer = ka_sys::PreciseTimer::new()
        .map_err(|e| warn!("no precise timer, using tokio's: {e}"))
        .ok();
    loop {
        let deadline = router.poll_timeout().map(|t| clock.deadline(t));
        let sleep = async {
            match (deadline, timer.as_mut()) {
                (Some(d), Some(t)) => {
                    if let Err(e) = t.sleep_until(d.into_std()).await {
                        warn!("precise timer: {e}");
                        tokio::time::sleep_until(d).await;
                    }
                }
                (Some(d), None) => tokio::time::sleep_until(d).await,
                (None, _) => std::future::pending().await,
            }
        };
        let link_event = async {
            match monitor.as_mut() {
                Some(m) => m.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = term.recv() => { info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { info!("SIGINT: stopping"); break; }
            _ = hup.recv() => {
                info!("SIGHUP: reload");
                let n = crate::sdnotify::global();
                if let Some(n) = n { n.reloading(); }
                let r = reload::reload(&source, &mut sockets, &mut router, &mut io, &clock).await;
                if let Some(n) = n { n.ready(&r.to_string()); }
            }
            p = control::next(&mut control) => match p.command {
                control::Command::Status => {
                    let mut s = status::snapshot(&router, &status_ctx(clock.now()));
                    match lb_query.clone() {
                        // The data plane answers from its own task (IPVS reads the
                        // kernel on its thread): the engine does not wait for it.
                        Some(q) => {
                            tokio::task::spawn_local(async move {
                                let (tx, rx) = tokio::sync::oneshot::channel();
                                if q.send(tx).await.is_ok() {
                                    s.virtual_servers = rx.await.ok();
                                }
                                p.answer(control::Response::status(s));
                            });
                        }
                        None => p.answer(control::Response::status(s)),
                    }
                }
                control::Command::Reload => {
                    info!("reload requested on the control socket");
                    let n = crate::sdnotify::global();
                    if let Some(n) = n { n.reloading(); }
                    let r = reload::reload(&source, &mut sockets, &mut router, &mut io, &clock).await;
                    if let Some(n) = n { n.ready(&r.to_string()); }
                    p.answer(control::Response::reload(match r {
                        reload::ReloadOutcome::Ok(s) => Ok(s),
                        reload::ReloadOutcome::Refused(s) => Err(s),
                    }));
                }
            },
            reply = metrics::next(&mut snapshots) => {
                let _ = reply.send(status::snapshot(&router, &status_ctx(clock.now())));
            }
            k = dumps.next() => dump::write(k, &router, &status_ctx(clock.now())),
            () = sleep => router.handle_timeout(clock.now()),
            p = rx.recv() => match p {
                Some(p) => {
                    if let Some((meta, pkt)) = decode_rx(&p) {
                        router.handle_packet(clock.now(), &meta, &pkt);
                    }
                }
                None => { error!("every VRRP socket failed"); break; }
            },
            Some(u) = track_rx.recv() => router.handle_track(clock.now(), &u.id, u.state),
            ev = link_event => match ev {
                Some(ev) => on_link_event(&mut router, &mut io, clock.now(), ev).await,
                None => { warn!("link monitor ended"); monitor = None; }
            },
        }
        drain(&mut router, &mut io).await;
    }
    if let Some(n) = crate::sdnotify::global() {
        n.stopping();
    }
    io.stopping = true;
    router.shutdown(clock.now());
    drain(&mut router, &mut io).await;
    io.net.teardown(&io.nl).await;
    drop(track_tx);
    io.track = None;
    io.notify.finish().await;
    if let Some(s) = io.syncd.take() {
        // Stops both sync daemons; waits for the IPVS thread off the runtime.
        let _ = tokio::task::spawn_blocking(move || s.finish()).await;
    }
    info!("stopped");
    ExitCode::SUCCESS
}

async fn on_link_event(router: &mut Router, io: &mut Io, now: Instant, ev: ka_sys::Event) {
    match ev {
        ka_sys::Event::Link(l) => {
            if let Some(m) = l.mac {
                io.macs.insert(l.ifindex, m);
            }
            debug!(ifindex = l.ifindex, up = l.is_up(), "link {}", l.name);
            router.handle_link(now, IfaceId(l.ifindex), l.is_up());
        }
        ka_sys::Event::LinkRemoved { ifindex, .. } => {
            router.handle_link(now, IfaceId(ifindex), false);
        }
        ka_sys::Event::Overrun => match io.nl.links().await {
            Ok(links) => {
                for l in links {
                    router.handle_link(now, IfaceId(l.ifindex), l.is_up());
                }
            }
            Err(e) => warn!("cannot dump links after an overrun: {e}"),
        },
        ka_sys::Event::AddressAdded(_) | ka_sys::Event::AddressRemoved(_) => {}
    }
}
