//! The load-balancer side of the daemon: checker verdicts (ka-check events) and the
//! addresses this host holds go into ka-lb, whose desired table is written to the data
//! plane. No policy here: quorum, sorry server, inhibit_on_failure, weights and the
//! table itself are ka-lb's; this module only feeds it and applies the result.
//!
//! Backends:
//!
//! * IPVS (`ka_sys::ipvs`, generic netlink): at start the kernel table is read and the
//!   services the configuration asks for are adopted (an identical table costs no
//!   message); afterwards only the operations of `ka_lb::diff` are sent, against our own
//!   view of the kernel table, which follows the applied operations (and is read again
//!   after a refused one). Services we do not own are never touched; on stop only ours
//!   are removed, as keepalived does. The netlink socket is blocking, so it lives on a
//!   thread of its own ([`IpvsWorker`]): neither the VRRP engine nor the checkers wait
//!   for the kernel.
//! * nftables (`ka_sys::nft`): replaces its whole table on every change.
//!
//! `auto` takes IPVS when the kernel has it (the generic netlink family resolves, after
//! `modprobe ip_vs` as keepalived does), else nftables.

use std::collections::BTreeSet;

use ka_lb::{desired, diff, LbState, Op, Options, Owned, QuorumEvent, Table, Verdicts, Vips};
use ka_model::lvs::LvsConfig;
use ka_model::vrrp::global::LvsTimeouts;
use ka_sys::ipvs::{normalize, Ipvs, OpFailure, Timeouts};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use super::lb_status::LbStatus;

/// Which data plane programs the virtual servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Kernel IPVS if present, else nftables.
    Auto,
    /// nftables NAT (`inet keepalived_rs`).
    Nftables,
    /// Kernel IPVS.
    Ipvs,
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(BackendKind::Auto),
            "nftables" | "nft" => Ok(BackendKind::Nftables),
            "ipvs" => Ok(BackendKind::Ipvs),
            _ => Err(format!("unknown LB backend `{s}` (auto, nftables, ipvs)")),
        }
    }
}

/// Opens the kernel's IPVS; when the family is missing, loads `ip_vs` with `modprobe`
/// (as keepalived does) and tries once more.
pub fn open_ipvs() -> Result<Ipvs, ka_sys::Error> {
    match Ipvs::open() {
        Err(ka_sys::Error::NoIpvs) => {
            let loaded = std::process::Command::new("modprobe")
                .arg("ip_vs")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if loaded {
                Ipvs::open()
            } else {
                Err(ka_sys::Error::NoIpvs)
            }
        }
        r => r,
    }
}

/// A job for the IPVS thread.
type Job = Box<dyn FnOnce(&mut Ipvs) + Send>;

/// The blocking IPVS socket on a thread of its own; async callers hand it closures
/// and await their results, so no task of the runtime ever waits on the kernel.
#[derive(Debug)]
pub struct IpvsWorker {
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IpvsWorker {
    /// Moves `ipvs` to a new thread (named `ipvs`).
    pub fn start(mut ipvs: Ipvs) -> std::io::Result<IpvsWorker> {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("ipvs".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job(&mut ipvs);
                }
            })?;
        Ok(IpvsWorker {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues `f` on the IPVS thread without waiting for it (jobs run in order).
    pub fn post(&self, f: impl FnOnce(&mut Ipvs) + Send + 'static) {
        if let Some(j) = &self.jobs {
            let _ = j.send(Box::new(f));
        }
    }

    /// Runs `f` on the IPVS thread; `None` if that thread is gone.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Ipvs) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .as_ref()?
            .send(Box::new(move |i: &mut Ipvs| {
                let _ = tx.send(f(i));
            }))
            .ok()?;
        rx.await.ok()
    }
}

impl Drop for IpvsWorker {
    fn drop(&mut self) {
        // Closing the queue ends the thread after the job it runs (bounded by the
        // socket's receive timeout).
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The IPVS backend's state.
#[derive(Debug)]
struct IpvsBackend {
    worker: IpvsWorker,
    /// Our view of the whole kernel table (every owner's services), as the kernel
    /// reports it: read at start and after a refused operation, otherwise kept up to
    /// date from the operations applied.
    observed: Table,
    /// The services this process manages (created or adopted).
    owned: Owned,
    /// Change requests (service and destination operations) sent since start.
    changes_sent: u64,
    /// `lvs_flush_on_stop`: `None` removes our services one operation at a time,
    /// `Some(true)` (VS) each of our services without its destinations first,
    /// `Some(false)` (ALL) flushes the whole table.
    flush_on_stop: Option<bool>,
}

/// The global_defs settings of the IPVS data plane.
#[derive(Debug, Clone, Copy, Default)]
pub struct IpvsGlobals {
    /// `lvs_timeouts`.
    pub timeouts: Option<LvsTimeouts>,
    /// `lvs_flush`: flush the whole IPVS table at start.
    pub flush: bool,
    /// `lvs_flush_on_stop [VS]`.
    pub flush_on_stop: Option<bool>,
}

impl IpvsGlobals {
    /// From global_defs.
    pub fn of(g: &ka_model::vrrp::global::GlobalDefs) -> IpvsGlobals {
        IpvsGlobals {
            timeouts: g.lvs_timeouts,
            flush: g.lvs_flush,
            flush_on_stop: g.lvs_flush_on_stop,
        }
    }
}

/// The data plane in use.
#[derive(Debug)]
enum Backend {
    Nft(ka_sys::nft::Nft),
    Ipvs(Box<IpvsBackend>),
}

/// Asks the data-plane task for the table with its counters (for `status`).
pub type StatusQuery = mpsc::Sender<oneshot::Sender<LbStatus>>;

/// The virtual servers of the running configuration and their data plane.
#[derive(Debug)]
pub struct Lvs {
    cfg: LvsConfig,
    verdicts: Verdicts,
    state: LbState,
    vips: Vips,
    opts: Options,
    backend: Backend,
    /// Refusals already logged (each once).
    refused_logged: BTreeSet<String>,
    queries: Option<mpsc::Receiver<oneshot::Sender<LbStatus>>>,
}

impl Lvs {
    /// Chooses the backend; `Err` with the reason when the forced one cannot run. With
    /// IPVS, sets `lvs_timeouts`, flushes the table with `lvs_flush` and reads the kernel
    /// table (blocking, once, before the engines start). Call it inside the daemon's
    /// network namespace.
    pub fn new(cfg: LvsConfig, kind: BackendKind, globals: IpvsGlobals) -> Result<Self, String> {
        let timeouts = globals.timeouts;
        let backend = match kind {
            BackendKind::Ipvs => Backend::Ipvs(Box::new(
                ipvs_backend(globals).map_err(|e| format!("IPVS backend: {e}"))?,
            )),
            BackendKind::Auto => match ipvs_backend(globals) {
                Ok(b) => Backend::Ipvs(Box::new(b)),
                Err(ka_sys::Error::NoIpvs) => {
                    info!("the kernel has no IPVS: the load balancer uses nftables");
                    Backend::Nft(ka_sys::nft::Nft::new())
                }
                Err(e) => {
                    warn!("IPVS unusable ({e}): the load balancer uses nftables");
                    Backend::Nft(ka_sys::nft::Nft::new())
                }
            },
            BackendKind::Nftables => Backend::Nft(ka_sys::nft::Nft::new()),
        };
        if timeouts.is_some() && matches!(backend, Backend::Nft(_)) {
            warn!("lvs_timeouts: the nftables backend has no IPVS connection timeouts, ignored");
        }
        Ok(Self {
            cfg,
            verdicts: Verdicts::new(),
            state: LbState::new(),
            vips: Vips::new(),
            opts: Options::default(),
            backend,
            refused_logged: BTreeSet::new(),
            queries: None,
        })
    }

    /// The backend's name, for logs and status.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Nft(_) => "nftables",
            Backend::Ipvs(_) => "ipvs",
        }
    }

    /// A handle through which `status` asks for the table with its counters.
    pub fn status_query(&mut self) -> StatusQuery {
        let (tx, rx) = mpsc::channel(8);
        self.queries = Some(rx);
        tx
    }

    /// Feeds one checker event; whether the table may have changed.
    pub fn on_check_event(&mut self, e: &ka_check::Event) -> bool {
        self.verdicts.apply(e)
    }

    /// A reload's new virtual servers (taken when the checker's `Reloaded` event
    /// arrives, so the verdicts that follow belong to them).
    pub fn reconfigure(&mut self, cfg: &LvsConfig) {
        info!(
            "load balancer: reloaded, {} virtual server(s)",
            cfg.virtual_servers.len()
        );
        self.cfg = cfg.clone();
    }

    /// Recomputes the quorum and the desired table and writes it to the data plane.
    /// Returns the quorum transitions (for scripts, FIFOs and alerts).
    pub async fn sync(&mut self) -> Vec<QuorumEvent> {
        let events = self.state.update(&self.cfg, &self.verdicts);
        for e in &events {
            info!("{e}");
        }
        match desired(
            &self.cfg,
            &self.verdicts,
            &self.state,
            &self.vips,
            &self.opts,
        ) {
            Ok(want) => self.write(want).await,
            Err(e) => error!("load balancer: {e}"),
        }
        events
    }

    async fn write(&mut self, want: Table) {
        match &mut self.backend {
            Backend::Nft(nft) => {
                if nft.table() == &want {
                    return;
                }
                match nft.apply(&want).await {
                    Ok(refused) => {
                        for r in refused {
                            let line = r.to_string();
                            if self.refused_logged.insert(line.clone()) {
                                warn!("nftables cannot do this: {line}");
                            }
                        }
                    }
                    Err(e) => error!("cannot program the load balancer: {e}"),
                }
            }
            Backend::Ipvs(b) => b.write(&normalize(want)).await,
        }
    }

    /// Stop: omega `quorum_down` events, then everything this process made is removed
    /// (with IPVS: only the services it owns; others' stay).
    pub async fn shutdown(&mut self) -> Vec<QuorumEvent> {
        let events = self.state.shutdown(&self.cfg, &self.verdicts);
        for e in &events {
            info!("{e}");
        }
        match &mut self.backend {
            Backend::Nft(nft) => {
                if let Err(e) = nft.remove().await {
                    error!("cannot remove the nftables table: {e}");
                }
            }
            Backend::Ipvs(b) => b.stop().await,
        }
        events
    }

    /// The table in the data plane with its counters.
    pub async fn status(&self) -> LbStatus {
        match &self.backend {
            Backend::Nft(nft) => match nft.stats().await {
                Ok(st) => LbStatus::from_nft_stats(nft.table(), &st),
                Err(e) => {
                    warn!("nftables counters: {e}");
                    LbStatus::from_nft(nft.table(), &Default::default())
                }
            },
            Backend::Ipvs(b) => {
                let read = b
                    .worker
                    .call(|ipvs| -> Result<_, ka_sys::Error> {
                        let info = ipvs.info().ok();
                        let mut out = Vec::new();
                        for s in ipvs.services()? {
                            let d = ipvs.dests(&s.key)?;
                            out.push((s, d));
                        }
                        Ok((info, out))
                    })
                    .await;
                match read {
                    Some(Ok((info, services))) => {
                        LbStatus::from_ipvs(info, &services, &b.owned, b.changes_sent)
                    }
                    Some(Err(e)) => LbStatus::error("ipvs", format!("cannot read IPVS: {e}")),
                    None => LbStatus::error("ipvs", "the IPVS thread is gone".into()),
                }
            }
        }
    }
}

/// Opens IPVS, sets the timeouts, reads the table, starts the thread.
fn ipvs_backend(globals: IpvsGlobals) -> Result<IpvsBackend, ka_sys::Error> {
    let mut ipvs = open_ipvs()?;
    if globals.flush {
        // keepalived's lvs_flush: the whole table, other programs' services included
        // (the operator asked for it; without it nothing of theirs is touched).
        let n = ipvs.services().map(|s| s.len()).unwrap_or(0);
        match ipvs.flush() {
            Ok(()) => info!("lvs_flush: IPVS table flushed ({n} service(s) removed)"),
            Err(e) => error!("lvs_flush: {e}"),
        }
    }
    if let Some(t) = globals.timeouts {
        // keepalived sets them once at start (0 leaves one unchanged) and never
        // restores them.
        let t = Timeouts {
            tcp_s: t.tcp_secs.unwrap_or(0),
            tcp_fin_s: t.tcpfin_secs.unwrap_or(0),
            udp_s: t.udp_secs.unwrap_or(0),
        };
        if let Err(e) = ipvs.set_timeouts(&t) {
            error!("lvs_timeouts: {e}");
        }
    }
    let observed = ipvs.table()?;
    let worker = IpvsWorker::start(ipvs).map_err(|e| ka_sys::Error::Io {
        op: "start the IPVS thread",
        source: e,
    })?;
    Ok(IpvsBackend {
        worker,
        observed,
        owned: Owned::new(),
        changes_sent: 0,
        flush_on_stop: globals.flush_on_stop,
    })
}

impl IpvsBackend {
    /// Removes what this process made: by default each destination and service it owns;
    /// `lvs_flush_on_stop VS` each owned service in one request (the kernel drops its
    /// destinations); `lvs_flush_on_stop` (ALL) the whole table in one request.
    async fn stop(&mut self) {
        match self.flush_on_stop {
            None => self.write(&Table::new()).await,
            Some(true) => {
                let ops: Vec<Op> = diff(&self.observed, &Table::new(), &self.owned)
                    .into_iter()
                    .filter(|op| matches!(op, Op::DelService { .. }))
                    .collect();
                info!(
                    "lvs_flush_on_stop VS: removing {} virtual service(s)",
                    ops.len()
                );
                match self.worker.call(move |ipvs| ipvs.apply(&ops)).await {
                    Some(Ok(f)) => f.iter().for_each(log_failure),
                    Some(Err(e)) => error!("lvs_flush_on_stop: {e}"),
                    None => error!("ipvs: the IPVS thread is gone"),
                }
            }
            Some(false) => {
                info!("lvs_flush_on_stop: flushing the IPVS table");
                match self.worker.call(|ipvs| ipvs.flush()).await {
                    Some(Ok(())) => {}
                    Some(Err(e)) => error!("lvs_flush_on_stop: {e}"),
                    None => error!("ipvs: the IPVS thread is gone"),
                }
            }
        }
    }

    /// Brings the kernel from our view of it to `want` (normalised), touching only
    /// what differs and never a service we do not own.
    async fn write(&mut self, want: &Table) {
        let ops = diff(&self.observed, want, &self.owned);
        if ops.is_empty() {
            return;
        }
        debug!("ipvs: {} operation(s)", ops.len());
        let batch = ops.clone();
        let r = self
            .worker
            .call(move |ipvs| {
                let before = ipvs.messages_sent();
                let r = ipvs.apply(&batch);
                (r, ipvs.messages_sent() - before)
            })
            .await;
        let Some((r, sent)) = r else {
            error!("ipvs: the IPVS thread is gone");
            return;
        };
        self.changes_sent += sent;
        let mut reread = false;
        match r {
            Ok(failures) if failures.is_empty() => {
                for op in &ops {
                    if let Err(e) = self.observed.apply(op) {
                        // Our view went wrong somewhere: ask the kernel.
                        debug!("ipvs: own view out of date ({e})");
                        reread = true;
                    }
                }
            }
            Ok(failures) => {
                for f in &failures {
                    log_failure(f);
                }
                reread = true;
            }
            Err(e) => {
                error!("cannot program IPVS: {e}");
                reread = true;
            }
        }
        self.owned.update(want, &ops);
        if reread {
            match self.worker.call(|ipvs| ipvs.table()).await {
                Some(Ok(t)) => self.observed = t,
                Some(Err(e)) => error!("cannot read the IPVS table back: {e}"),
                None => error!("ipvs: the IPVS thread is gone"),
            }
        }
    }
}

fn log_failure(f: &OpFailure) {
    match f.op {
        // keepalived: "already exists" and "no such" are expected races with another
        // program; anything else means the configuration cannot run here.
        Op::AddService { .. } | Op::AddDest { .. } if f.errno == nix::libc::EEXIST => {
            warn!("ipvs: {f}")
        }
        Op::DelService { .. } | Op::DelDest { .. } => warn!("ipvs: {f}"),
        _ => error!("ipvs: {f}"),
    }
}

/// The data plane task: programs the table at once (real servers without a verdict yet
/// count as alive unless an `alpha` checker says otherwise), then after every batch of
/// checker events that changed a verdict; answers `status` queries; removes what it
/// made when `events` closes. Quorum transitions go out as SMTP alerts (`alerts`).
pub async fn run(
    mut lvs: Lvs,
    mut events: mpsc::UnboundedReceiver<ka_check::Event>,
    alerts: crate::alert::QuorumAlerts,
    reload: std::sync::Arc<crate::check::VsReload>,
) {
    info!("load balancer: {} backend", lvs.backend_name());
    let t0 = std::time::Instant::now();
    for q in lvs.sync().await {
        alerts.event(&q);
    }
    info!(
        "load balancer: first table written in {} ms",
        t0.elapsed().as_millis()
    );
    // The configuration is parsed and the first table written: the peak is behind us.
    ka_sys::process::release_free_memory();
    let mut queries = lvs.queries.take();
    loop {
        let query = async {
            match queries.as_mut() {
                Some(q) => q.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            e = events.recv() => {
                let Some(e) = e else { break };
                let take = |lvs: &mut Lvs, e: &ka_check::Event| {
                    if matches!(e, ka_check::Event::Reloaded) {
                        if let Some(cfg) = reload.take_for_lvs() {
                            lvs.reconfigure(&cfg);
                        }
                    }
                    lvs.on_check_event(e)
                };
                let mut changed = take(&mut lvs, &e);
                while let Ok(e) = events.try_recv() {
                    changed |= take(&mut lvs, &e);
                }
                if changed {
                    for q in lvs.sync().await {
                        alerts.event(&q);
                    }
                }
            }
            q = query => match q {
                Some(reply) => {
                    let _ = reply.send(lvs.status().await);
                    // A large table's counters pass through tens of MB (the nft listing,
                    // the rows): give them back rather than keep the peak resident.
                    ka_sys::process::release_free_memory();
                }
                None => queries = None,
            },
        }
    }
    for q in lvs.shutdown().await {
        alerts.event(&q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names() {
        assert_eq!("auto".parse(), Ok(BackendKind::Auto));
        assert_eq!("nft".parse(), Ok(BackendKind::Nftables));
        assert_eq!("ipvs".parse(), Ok(BackendKind::Ipvs));
        assert!("iptables".parse::<BackendKind>().is_err());
    }
}
