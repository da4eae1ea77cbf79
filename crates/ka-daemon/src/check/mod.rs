//! The health checkers: the tokio driver of `ka_check::Scheduler`.
//!
//! [`spawn`] starts the checker thread (as keepalived runs its checkers in a process of
//! their own): a single-threaded tokio runtime whose main task owns the scheduler. It
//! sleeps until the scheduler's next deadline, spawns every probe the scheduler asks
//! for as a task of its own on the same thread ([`probe::run`]), and feeds results back
//! through a bounded channel; probes never block one another, and nothing they do
//! (thousands of connects a second, TLS handshakes) runs on the VRRP engine's thread.
//! One thread, not a pool: no probe start or result crosses threads, which cost a
//! wake-up and a context switch for each of them.
//! Every real-server transition is logged with keepalived's wording, notify scripts
//! run, and the scheduler's events go out unchanged through a typed channel for the
//! load balancer (the `lb` sender of [`spawn`]). [`StatusTable`] keeps each real
//! server's state, last result and reason for `status` ([`Plan::status_table`]).
//!
//! FILE_CHECK files (`track_file`) are read once a second (keepalived uses inotify);
//! a change feeds `Scheduler::handle_file_value`.

mod ha_suspend;
pub mod http;
pub mod probe;
pub mod script;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ka_check::{CheckerId, Event, Instant, ProbeId, ProbeOutcome, RealServerId, Scheduler};
use ka_model::config::Config;
use ka_model::lvs::{CheckerKind, Connection, LvsConfig, Protocol, VsAddress};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

/// Results waiting for the scheduler task; probe tasks wait when it is full.
const RESULT_QUEUE: usize = 1024;
/// How often tracked files are read.
const FILE_POLL: Duration = Duration::from_secs(1);
/// Bound of a notify script's run time (keepalived gives 1 s on shutdown).
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound of a notify script's run time when stopping.
const NOTIFY_TIMEOUT_STOPPING: Duration = Duration::from_secs(1);

/// One real server as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RsReport {
    /// Its virtual server, keepalived-style (`[192.0.2.1]:tcp:80`, `FWM 1`).
    pub virtual_server: String,
    /// The real server (`[192.0.2.10]:tcp:80`).
    pub real_server: String,
    /// In the pool.
    pub alive: bool,
    /// Its weight.
    pub weight: u32,
    /// The last probe result of one of its checkers (`"success"` or the failure).
    pub last_result: Option<String>,
    /// Why it is in its state (the reason of its last transition).
    pub reason: Option<String>,
    /// How long the last probe of one of its checkers took, from start to verdict
    /// (microseconds; probes that could not run are not counted).
    #[serde(default)]
    pub last_probe_us: Option<u64>,
    /// Probes of its checkers that ran.
    #[serde(default)]
    pub probes: u64,
    /// Their summed duration (microseconds).
    #[serde(default)]
    pub probe_us_total: u64,
}

/// Every real server's report, in configuration order (updated in place).
pub type StatusTable = Arc<Mutex<Vec<RsReport>>>;

/// A reload of the virtual servers (SIGHUP, `keepalived-rs reload`), handed from the
/// reload path to the checker task, which reloads its scheduler (keepalived's state
/// carrying rules, `Scheduler::reload`), and from there to the data-plane task, which
/// takes the new configuration when the checker's `Reloaded` event reaches it (so
/// verdicts and configuration always match).
#[derive(Debug, Default)]
pub struct VsReload {
    for_checker: Mutex<Option<Arc<LvsConfig>>>,
    for_lvs: Mutex<Option<Arc<LvsConfig>>>,
    wake: tokio::sync::Notify,
}

impl VsReload {
    /// Asks the checker (and then the data plane) to take `cfg`.
    pub fn request(&self, cfg: LvsConfig) {
        if let Ok(mut c) = self.for_checker.lock() {
            *c = Some(Arc::new(cfg));
        }
        self.wake.notify_one();
    }

    fn take_for_checker(&self) -> Option<Arc<LvsConfig>> {
        self.for_checker.lock().ok().and_then(|mut c| c.take())
    }

    /// The configuration the checker reloaded with, once.
    pub fn take_for_lvs(&self) -> Option<Arc<LvsConfig>> {
        self.for_lvs.lock().ok().and_then(|mut c| c.take())
    }
}

/// The running checker thread.
#[derive(Debug)]
pub struct Handle {
    stop: Option<oneshot::Sender<()>>,
    /// Sent once the thread's runtime is gone.
    done: oneshot::Receiver<()>,
    /// `done` has been received.
    ended: bool,
}

impl Handle {
    /// Resolves when the checker thread has ended although `stop` was not called: it
    /// failed (a panic, logged by the thread). Pending while it runs.
    pub async fn ended(&mut self) {
        if !self.ended {
            let _ = (&mut self.done).await;
            self.ended = true;
        }
    }

    /// Stops checking: the scheduler shuts down (omega notify scripts run, 1 s each)
    /// and the thread ends (probes still running are dropped with its runtime).
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.ended().await;
    }
}

/// Labels of real servers and checkers for the logs.
#[derive(Debug, Default)]
struct Names {
    vs: Vec<String>,
    rs: BTreeMap<RealServerId, String>,
    /// Where each virtual server's real servers start in the configuration's order (and
    /// the status table's), and one past the last: a real server's position without a
    /// lookup.
    vs_start: Vec<usize>,
    chk: BTreeMap<CheckerId, (&'static str, String)>,
}

fn proto_name(p: Option<Protocol>) -> &'static str {
    match p {
        Some(Protocol::Udp) => "udp",
        Some(Protocol::Sctp) => "sctp",
        _ => "tcp",
    }
}

fn addr_label(ip: IpAddr, proto: &str, port: Option<u16>) -> String {
    format!("[{ip}]:{proto}:{}", port.unwrap_or(0))
}

/// A virtual server as keepalived prints it (`[192.0.2.1]:tcp:80`, `FWM 1`, `[group]`).
pub fn vs_label(vs: &ka_model::lvs::VirtualServer) -> String {
    let proto = proto_name(vs.protocol);
    match &vs.address {
        VsAddress::Ip { addr, port } => addr_label(*addr, proto, *port),
        VsAddress::Fwmark(m) => format!("FWM {m}"),
        VsAddress::Group(g) => format!("[{g}]"),
    }
}

impl Names {
    fn new(lvs: &LvsConfig) -> Names {
        let mut n = Names::default();
        for (vi, vs) in lvs.virtual_servers.iter().enumerate() {
            let proto = proto_name(vs.protocol);
            n.vs.push(vs_label(vs));
            n.vs_start.push(n.rs.len());
            for (ri, rs) in vs.real_servers.iter().enumerate() {
                let id = RealServerId {
                    vs: vi as u32,
                    rs: ri as u32,
                };
                n.rs.insert(id, addr_label(rs.addr, proto, rs.port));
                for (ci, c) in rs.checkers.iter().enumerate() {
                    let target = match &c.connection {
                        Some(Connection { ip, port, .. }) => {
                            let p = match c.kind {
                                CheckerKind::Udp(_) | CheckerKind::Dns(_) => "udp",
                                _ => "tcp",
                            };
                            addr_label(*ip, p, *port)
                        }
                        None => addr_label(rs.addr, proto, rs.port),
                    };
                    n.chk.insert(
                        CheckerId {
                            rs: id,
                            index: ci as u32,
                        },
                        (c.kind.block_name(), target),
                    );
                }
            }
        }
        n.vs_start.push(n.rs.len());
        n
    }
    /// A real server's position in the configuration (and the status table).
    fn pos(&self, id: RealServerId) -> Option<usize> {
        let vs = usize::try_from(id.vs).ok()?;
        let (start, end) = (*self.vs_start.get(vs)?, *self.vs_start.get(vs + 1)?);
        let i = start.checked_add(usize::try_from(id.rs).ok()?)?;
        (i < end).then_some(i)
    }
    fn vs(&self, id: RealServerId) -> &str {
        self.vs.get(id.vs as usize).map_or("?", String::as_str)
    }
    fn rs(&self, id: RealServerId) -> &str {
        self.rs.get(&id).map_or("?", String::as_str)
    }
    fn chk(&self, id: CheckerId) -> (&'static str, &str) {
        self.chk
            .get(&id)
            .map_or(("?", "?"), |(k, t)| (*k, t.as_str()))
    }
}

/// Whether the configuration has anything for the checker to do.
pub fn wanted(cfg: &Config) -> bool {
    !cfg.lvs.virtual_servers.is_empty()
}

/// Starts the checker thread. `lb` receives every scheduler
/// event (the load balancer's input). It is unbounded: the checker never waits for the
/// data plane, and no verdict is ever dropped (a start or a switch failure reports tens of
/// thousands at once; a lost one would leave a dead back end in the pool). Its size is
/// bounded by the scheduler's own event cap per turn and the data plane drains it whole.
pub fn spawn(
    cfg: &Config,
    lb: Option<mpsc::UnboundedSender<Event>>,
    status: StatusTable,
    mailer: Option<crate::alert::Mailer>,
    reload: Arc<VsReload>,
) -> Result<Handle, String> {
    let seed = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    let mut sched = Scheduler::from_config(cfg, seed).map_err(|e| e.to_string())?;
    for w in sched.warnings() {
        warn!("{w}");
    }
    let needs_tls = cfg.lvs.virtual_servers.iter().any(|vs| {
        vs.real_servers.iter().any(|rs| {
            rs.checkers
                .iter()
                .any(|c| matches!(c.kind, CheckerKind::Ssl(_)))
        })
    });
    let scripts = script::Scripts::from_config(cfg)?;
    let ctx = probe::Ctx {
        scripts: Some(scripts.clone()),
        tls: if needs_tls {
            Some(http::tls_config(cfg.lvs.ssl.as_ref())?)
        } else {
            None
        },
    };
    if cfg.lvs.ssl.as_ref().is_some_and(|s| s.password.is_some()) {
        warn!("SSL block: password-protected keys cannot be read (use an unencrypted key)");
    }
    let names = Names::new(&cfg.lvs);
    let ha_targets = ha_suspend::targets(cfg, |i| names.vs.get(i).cloned().unwrap_or_default());
    fill_status(&status, &sched, &names);
    // Tracked files used by FILE_CHECKs: name -> path.
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for vs in &cfg.lvs.virtual_servers {
        for rs in &vs.real_servers {
            for c in &rs.checkers {
                if let CheckerKind::File(f) = &c.kind {
                    if let Some(tf) = cfg.vrrp.track_files.iter().find(|t| t.name == f.track_file) {
                        init_track_file(tf);
                        files.insert(tf.name.clone(), tf.file.clone());
                    }
                }
            }
        }
    }
    let clock = tokio::time::Instant::now();
    let mut file_values = BTreeMap::new();
    for (name, path) in &files {
        let v = read_track_file(path);
        sched.handle_file_value(Instant::ZERO, name, v);
        file_values.insert(name.clone(), v);
    }
    let (stop_tx, stop_rx) = oneshot::channel();
    let driver = Driver {
        sched,
        ctx,
        names,
        status: Arc::clone(&status),
        lb,
        clock,
        in_flight: 0,
        notifies: tokio::task::JoinSet::new(),
        scripts,
        alerts: mailer.map(|m| crate::alert::CheckerAlerts::new(cfg, m)),
        reload,
        pending_names: None,
        stats: Stats::new(),
        #[cfg(test)]
        panic_on_start: PANIC_ON_START.replace(false),
    };
    let (done_tx, done_rx) = oneshot::channel();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the checker's runtime: {e}"))?;
    std::thread::Builder::new()
        .name("ka-checker".into())
        .spawn(move || {
            let run = std::panic::AssertUnwindSafe(|| {
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, driver.run(stop_rx, files, file_values, ha_targets));
            });
            if let Err(p) = std::panic::catch_unwind(run) {
                let what = p
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| p.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("a panic");
                error!("the health checker failed: {what}");
            }
            // Probes still running end with the runtime, before `stop` returns.
            drop(rt);
            let _ = done_tx.send(());
        })
        .map_err(|e| format!("cannot start the checker thread: {e}"))?;
    Ok(Handle {
        stop: Some(stop_tx),
        done: done_rx,
        ended: false,
    })
}

/// The status table's rows: one per real server of the scheduler's configuration.
fn fill_status(status: &StatusTable, sched: &Scheduler, names: &Names) {
    if let Ok(mut t) = status.lock() {
        *t = sched
            .real_servers()
            .iter()
            .map(|r| RsReport {
                virtual_server: names.vs(r.id).to_owned(),
                real_server: names.rs(r.id).to_owned(),
                alive: r.alive,
                weight: r.weight,
                last_result: None,
                reason: None,
                last_probe_us: None,
                probes: 0,
                probe_us_total: 0,
            })
            .collect();
    }
}

/// keepalived's `init_file`: write the value when the file is missing (or always with
/// `overwrite`).
fn init_track_file(tf: &ka_model::vrrp::TrackFile) {
    if let Some(init) = tf.init_file {
        let exists = std::path::Path::new(&tf.file).exists();
        if !exists || init.overwrite {
            if let Err(e) = std::fs::write(&tf.file, format!("{}\n", init.value)) {
                warn!("track_file {}: cannot write {}: {e}", tf.name, tf.file);
            }
        }
    }
}

/// A tracked file's value: missing or unreadable is 0 (keepalived).
fn read_track_file(path: &str) -> i64 {
    let mut buf = Vec::with_capacity(128);
    match std::fs::File::open(path) {
        Ok(f) => {
            use std::io::Read;
            let _ = f.take(127).read_to_end(&mut buf);
            ka_check::verdict::parse_track_file(&buf).unwrap_or(0)
        }
        Err(_) => 0,
    }
}

/// A probe's answer, as its task sends it back.
struct ProbeResult {
    id: ProbeId,
    checker: CheckerId,
    outcome: ProbeOutcome,
    /// How late it started: its wake-up's lateness plus its task's wait to run.
    late: Duration,
    /// How long the probe took.
    took: Duration,
}

struct Driver {
    sched: Scheduler,
    ctx: probe::Ctx,
    names: Names,
    status: StatusTable,
    lb: Option<mpsc::UnboundedSender<Event>>,
    clock: tokio::time::Instant,
    /// Probes running.
    in_flight: usize,
    notifies: tokio::task::JoinSet<()>,
    scripts: script::Scripts,
    /// SMTP alerts of real-server transitions.
    alerts: Option<crate::alert::CheckerAlerts>,
    stats: Stats,
    /// Reloads handed over by the reload path.
    reload: Arc<VsReload>,
    /// The names of a reloaded configuration, in use from its `Reloaded` event on (the
    /// events before it name the old real servers).
    pending_names: Option<Names>,
    /// Tests: panic as the thread starts.
    #[cfg(test)]
    panic_on_start: bool,
}

#[cfg(test)]
thread_local! {
    /// Tests: the next checker spawned from this thread panics as it starts.
    static PANIC_ON_START: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Probe counts, lateness against the schedule and probe times, logged every
/// [`STATS_EVERY`] at debug level under the target `keepalived_rs::check::stats`
/// (bench/checkers reads them).
#[derive(Debug)]
struct Stats {
    since: tokio::time::Instant,
    /// Probes started in this window.
    probes: u64,
    /// Each answered probe's lateness in µs: its wake-up's (now minus the earliest
    /// deadline that wake-up serves, an upper bound) plus its task's wait to start.
    lateness: Vec<u32>,
    /// How long the probes answered in this window took, in µs.
    took: Vec<u32>,
    /// Most probes in flight at once in this window.
    max_in_flight: usize,
}

/// Stats window.
const STATS_EVERY: Duration = Duration::from_secs(10);
/// Most samples kept per window.
const STATS_MAX_SAMPLES: usize = 200_000;

/// The `q` quantile of sorted samples.
fn quantile(sorted: &[u32], q: f64) -> u32 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1);
    sorted.get(i).copied().unwrap_or(0)
}

impl Stats {
    fn new() -> Stats {
        Stats {
            since: tokio::time::Instant::now(),
            probes: 0,
            lateness: Vec::new(),
            took: Vec::new(),
            max_in_flight: 0,
        }
    }

    fn answered(&mut self, late: Duration, took: Duration, in_flight: usize) {
        let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        if self.took.len() < STATS_MAX_SAMPLES {
            self.took.push(us(took));
            self.lateness.push(us(late));
        }
        self.max_in_flight = self.max_in_flight.max(in_flight);
    }

    fn report(&mut self) {
        let elapsed = self.since.elapsed();
        if elapsed < STATS_EVERY {
            return;
        }
        self.lateness.sort_unstable();
        self.took.sort_unstable();
        debug!(
            target: "keepalived_rs::check::stats",
            "checker stats: {} probes in {:.1} s ({:.0}/s), lateness p50 {} us, p99 {} us, max {} us; probe time p50 {} us, p99 {} us; in flight max {}",
            self.probes,
            elapsed.as_secs_f64(),
            self.probes as f64 / elapsed.as_secs_f64(),
            quantile(&self.lateness, 0.5),
            quantile(&self.lateness, 0.99),
            self.lateness.last().copied().unwrap_or(0),
            quantile(&self.took, 0.5),
            quantile(&self.took, 0.99),
            self.max_in_flight
        );
        *self = Stats::new();
    }
}

/// A probe's outcome as `status` shows it (`last_result`).
fn write_result(text: &mut String, outcome: &ProbeOutcome) {
    use std::fmt::Write as _;
    let _ = match outcome {
        ProbeOutcome::Success => text.write_str("success"),
        ProbeOutcome::Http(r) => write!(text, "HTTP status {}", r.status_code),
        ProbeOutcome::UdpReply(b) => write!(text, "UDP reply of {} byte(s)", b.len()),
        ProbeOutcome::Exit(e) => write!(text, "script {e:?}"),
        ProbeOutcome::Failed(f) => write!(text, "{f}"),
        ProbeOutcome::NotRun(why) => write!(text, "not run: {why}"),
    };
}

impl Driver {
    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.clock.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    fn deadline(&self, at: Instant) -> tokio::time::Instant {
        self.clock + Duration::from_micros(at.as_micros().min(1 << 50))
    }

    async fn run(
        mut self,
        mut stop: oneshot::Receiver<()>,
        files: BTreeMap<String, String>,
        mut file_values: BTreeMap<String, i64>,
        ha_targets: Vec<(u32, std::net::IpAddr, String)>,
    ) {
        #[cfg(test)]
        assert!(!self.panic_on_start, "injected by the test");
        let (res_tx, mut res_rx) = mpsc::channel::<ProbeResult>(RESULT_QUEUE);
        let ha_vs: Vec<u32> = ha_targets.iter().map(|t| t.0).collect();
        let mut ha = match ha_suspend::Watch::start(ha_targets).await {
            Ok(w) => w,
            Err(e) => {
                warn!("ha_suspend: cannot watch this host's addresses ({e}): those checkers run always");
                None
            }
        };
        let now = self.now();
        // Before start: the initial presence of every ha_suspend address.
        match &ha {
            Some(w) => {
                for (vs, present) in w.states() {
                    self.sched.handle_vip(now, vs, present);
                }
            }
            None => {
                for vs in &ha_vs {
                    self.sched.handle_vip(now, *vs, true);
                }
            }
        }
        self.sched.start(now);
        info!(
            "checker started: {} real server(s), {} checker(s)",
            self.names.rs.len(),
            self.names.chk.len()
        );
        self.after(&res_tx, false, Duration::ZERO);
        let mut file_tick = tokio::time::interval(FILE_POLL);
        file_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // One timer for the engine's next deadline, moved only when that changes (most
        // wake-ups are results, which leave it where it was), and one wait for reloads.
        let sleep = tokio::time::sleep_until(self.clock);
        tokio::pin!(sleep);
        let mut armed: Option<tokio::time::Instant> = None;
        let reload = self.reload.clone();
        let reloaded = reload.wake.notified();
        tokio::pin!(reloaded);
        loop {
            let deadline = self.sched.poll_timeout().map(|t| self.deadline(t));
            if let Some(d) = deadline.filter(|d| armed != Some(*d)) {
                sleep.as_mut().reset(d);
            }
            armed = deadline;
            tokio::select! {
                _ = &mut stop => break,
                () = &mut sleep, if armed.is_some() => {
                    armed = None;
                    let now = self.now();
                    let due = self.sched.poll_timeout();
                    self.sched.handle_timeout(now);
                    let late = due.map_or(Duration::ZERO, |d| now.saturating_duration_since(d));
                    self.after(&res_tx, false, late);
                    self.stats.report();
                    continue;
                }
                r = res_rx.recv() => {
                    // res_tx lives here, so the channel never closes.
                    let Some(r) = r else { break };
                    self.result(r);
                    // Take whatever else is ready in the same turn.
                    while let Ok(r) = res_rx.try_recv() {
                        self.result(r);
                    }
                }
                _ = file_tick.tick(), if !files.is_empty() => {
                    for (name, path) in &files {
                        let v = read_track_file(path);
                        if file_values.insert(name.clone(), v) != Some(v) {
                            debug!("track_file {name}: value {v}");
                            let now = self.now();
                            self.sched.handle_file_value(now, name, v);
                        }
                    }
                }
                Some(_) = self.notifies.join_next(), if !self.notifies.is_empty() => {}
                () = &mut reloaded => {
                    reloaded.set(reload.wake.notified());
                    if let Some(cfg) = self.reload.take_for_checker() {
                        let now = self.now();
                        match self.sched.reload(now, &cfg) {
                            Ok(()) => {
                                for w in self.sched.warnings() {
                                    warn!("{w}");
                                }
                                self.pending_names = Some(Names::new(&cfg));
                                if let Ok(mut l) = self.reload.for_lvs.lock() {
                                    *l = Some(cfg);
                                }
                            }
                            Err(e) => error!("checker reload refused, the previous virtual servers stay: {e}"),
                        }
                    }
                }
                changes = async {
                    match ha.as_mut() {
                        Some(w) => w.next().await,
                        None => std::future::pending().await,
                    }
                } => {
                    let now = self.now();
                    match changes {
                        Some(changes) => {
                            for (vs, present) in changes {
                                self.sched.handle_vip(now, vs, present);
                            }
                        }
                        None => {
                            warn!("ha_suspend: the address monitor ended: those checkers run always from now on");
                            ha = None;
                            for vs in &ha_vs {
                                self.sched.handle_vip(now, *vs, true);
                            }
                        }
                    }
                }
            }
            self.after(&res_tx, false, Duration::ZERO);
        }
        let now = self.now();
        self.sched.shutdown(now);
        self.after(&res_tx, true, Duration::ZERO);
        // Omega notifies get their second; probes still running are dropped.
        while self.notifies.join_next().await.is_some() {}
        info!("checker stopped");
    }

    fn result(&mut self, r: ProbeResult) {
        let ProbeResult {
            id,
            checker: chk,
            outcome,
            late,
            took,
        } = r;
        self.stats.answered(late, took, self.in_flight);
        self.in_flight = self.in_flight.saturating_sub(1);
        if let ProbeOutcome::NotRun(why) = &outcome {
            let (kind, target) = self.names.chk(chk);
            warn!("{kind} on {target}: cannot probe ({why}), rescheduling");
        }
        let ran = !matches!(outcome, ProbeOutcome::NotRun(_));
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.with_report(chk.rs, |r| {
            // Written over the previous text: no allocation per probe.
            let text = r.last_result.get_or_insert_with(String::new);
            text.clear();
            write_result(text, &outcome);
            if ran {
                r.last_probe_us = Some(us);
                r.probes = r.probes.saturating_add(1);
                r.probe_us_total = r.probe_us_total.saturating_add(us);
            }
        });
        let now = self.now();
        self.sched.handle_result(now, id, outcome);
    }

    fn with_report(&self, rs: RealServerId, f: impl FnOnce(&mut RsReport)) {
        if let Ok(mut t) = self.status.lock() {
            // Reports are in configuration order, as the scheduler's real servers.
            if let Some(r) = self.names.pos(rs).and_then(|i| t.get_mut(i)) {
                f(r);
            }
        }
    }

    /// Starts every probe asked for (a task each; `late` is how late this
    /// wake-up is) and handles every event.
    fn after(&mut self, res_tx: &mpsc::Sender<ProbeResult>, stopping: bool, late: Duration) {
        if !stopping {
            while let Some(p) = self.sched.poll_probe() {
                self.stats.probes += 1;
                self.in_flight += 1;
                let tx = res_tx.clone();
                let ctx = self.ctx.clone();
                let spawned = tokio::time::Instant::now();
                // Boxed: the task then holds a pointer, not the ~4 KB future, which tokio
                // would copy into the task and over again when the task ends.
                tokio::task::spawn_local(Box::pin(async move {
                    let start = tokio::time::Instant::now();
                    let outcome = probe::run(&p, &ctx).await;
                    let r = ProbeResult {
                        id: p.id,
                        checker: p.checker,
                        outcome,
                        late: late + (start - spawned),
                        took: start.elapsed(),
                    };
                    let _ = tx.send(r).await;
                }));
            }
        }
        while let Some(ev) = self.sched.poll_event() {
            if matches!(ev, Event::Reloaded) {
                if let Some(n) = self.pending_names.take() {
                    self.names = n;
                    fill_status(&self.status, &self.sched, &self.names);
                }
            }
            self.log(&ev);
            self.alert(&ev);
            if let Some(lb) = &self.lb {
                // Fails only once the data plane has ended (at stop).
                let _ = lb.send(ev);
            }
        }
        if let Some(a) = self.alerts.as_mut() {
            a.flush();
        }
    }

    /// Feeds the SMTP alerts (keepalived mails a checker's change once the real
    /// server's own change, if any, is known).
    fn alert(&mut self, ev: &Event) {
        let Some(a) = self.alerts.as_mut() else {
            return;
        };
        let key = |rs: RealServerId| (rs.vs, rs.rs);
        match ev {
            Event::Initial { rs, alive, .. } => a.initial(key(*rs), *alive),
            Event::CheckerChanged {
                checker,
                up,
                reason,
            } => {
                let (kind, _) = self.names.chk(*checker);
                let why = match reason {
                    ka_check::Reason::Failed(f) => Some(f.to_string()),
                    _ => None,
                };
                let labels = (
                    self.names.rs(checker.rs).to_owned(),
                    self.names.vs(checker.rs).to_owned(),
                );
                a.checker(key(checker.rs), kind, *up, why, labels);
            }
            Event::RealServerChanged { rs, alive, .. } => a.real_server(key(*rs), *alive),
            Event::Notify {
                rs,
                up: false,
                stopping: true,
                ..
            } => a.shutdown(key(*rs), (self.names.rs(*rs), self.names.vs(*rs))),
            _ => {}
        }
    }

    fn log(&mut self, ev: &Event) {
        match ev {
            Event::Initial { rs, alive, weight } => {
                debug!(
                    "{} of VS {}: starts {} (weight {weight})",
                    self.names.rs(*rs),
                    self.names.vs(*rs),
                    if *alive { "up" } else { "down" }
                );
                let (alive, weight) = (*alive, *weight);
                self.with_report(*rs, |x| {
                    x.alive = alive;
                    x.weight = weight;
                });
            }
            Event::CheckerChanged {
                checker,
                up,
                reason,
            } => {
                let (kind, target) = self.names.chk(*checker);
                match (kind, up) {
                    ("TCP_CHECK", true) => info!("TCP connection to {target} success."),
                    ("TCP_CHECK", false) => info!("TCP connection to {target} failed ({reason})."),
                    (_, true) => info!("{kind} on service {target} success."),
                    (_, false) => info!("{kind} on service {target} failed ({reason})."),
                }
            }
            Event::RealServerChanged {
                rs, alive, reason, ..
            } => {
                let (r, v) = (self.names.rs(*rs), self.names.vs(*rs));
                if *alive {
                    info!("Adding service {r} to VS {v}");
                } else {
                    info!("Removing service {r} from VS {v}");
                }
                let reason = reason.to_string();
                let alive = *alive;
                self.with_report(*rs, |x| {
                    x.alive = alive;
                    x.reason = Some(reason);
                });
            }
            Event::WeightChanged { rs, old, new, .. } => {
                info!(
                    "Changing weight from {old} to {new} for {} of VS {}",
                    self.names.rs(*rs),
                    self.names.vs(*rs)
                );
                let new = *new;
                self.with_report(*rs, |x| x.weight = new);
            }
            Event::Notify {
                rs,
                up,
                script,
                stopping,
            } => {
                if let Some(s) = script {
                    debug!(
                        "{} of VS {}: notify_{} {}",
                        self.names.rs(*rs),
                        self.names.vs(*rs),
                        if *up { "up" } else { "down" },
                        s.path()
                    );
                    let s = s.clone();
                    let scripts = self.scripts.clone();
                    let t = if *stopping {
                        NOTIFY_TIMEOUT_STOPPING
                    } else {
                        NOTIFY_TIMEOUT
                    };
                    self.notifies
                        .spawn_local(async move { scripts.run_notify(&s, t).await });
                }
            }
            Event::ProbeFailed {
                checker,
                failure,
                attempt,
                of,
            } => {
                let (kind, target) = self.names.chk(*checker);
                info!("{kind} on service {target}: attempt {attempt} of {of} failed ({failure}).");
            }
            Event::StaleResult { probe } => debug!("stale probe result {probe:?}"),
            Event::Reloaded => info!("checker configuration reloaded"),
            Event::EventsLost { count } => warn!("{count} checker event(s) lost"),
        }
    }
}

/// What the daemon runs, from `-P` / `-C` and the configuration: the checker when there
/// are virtual servers (unless `-P`), VRRP when there are VRRP instances or nothing else
/// to run (unless `-C`).
#[derive(Debug)]
pub struct Plan {
    checker: Option<Config>,
    vrrp: bool,
    status: StatusTable,
    reload: Arc<VsReload>,
}

impl Plan {
    /// Decides from the flags and the configuration.
    pub fn new(cfg: &Config, vrrp_only: bool, check_only: bool) -> Plan {
        let checker = (!vrrp_only && wanted(cfg)).then(|| cfg.clone());
        let vrrp = !check_only && (!cfg.vrrp.instances.is_empty() || checker.is_none());
        if check_only && checker.is_none() {
            warn!("-C: the configuration has no virtual_server: nothing to check");
        }
        Plan {
            checker,
            vrrp,
            status: StatusTable::default(),
            reload: Arc::default(),
        }
    }

    /// The real servers' reports (empty until the checker starts, and without one), for
    /// the control socket's `status`.
    pub fn status_table(&self) -> StatusTable {
        Arc::clone(&self.status)
    }

    /// Whether the VRRP engine runs.
    pub fn run_vrrp(&self) -> bool {
        self.vrrp
    }

    /// Whether the checkers (and with them the data plane) run.
    pub fn runs_checker(&self) -> bool {
        self.checker.is_some()
    }

    /// Where a reload hands new virtual servers to the checker and the data plane
    /// (`None` when this process runs neither).
    pub fn vs_reload(&self) -> Option<Arc<VsReload>> {
        self.checker.is_some().then(|| Arc::clone(&self.reload))
    }

    /// Runs the checker (if planned) beside `main` (the VRRP engine, or the daemon's
    /// signal loop without it); stops the checker when `main` ends. Must run inside a
    /// `LocalSet`.
    ///
    /// `lvs`, when given, is fed the checker's events and programs the data plane; it
    /// ends (removing what it made) after the checker.
    pub async fn run(
        self,
        main: impl std::future::Future<Output = std::process::ExitCode>,
        lvs: Option<crate::daemon::lvs::Lvs>,
        mailer: &crate::alert::Mailer,
    ) -> std::process::ExitCode {
        let (lb_tx, lb_task) = match (lvs, &self.checker) {
            (Some(l), Some(cfg)) => {
                let (tx, rx) = mpsc::unbounded_channel();
                let alerts = crate::alert::QuorumAlerts::new(cfg, mailer.clone());
                (
                    Some(tx),
                    Some(tokio::task::spawn_local(crate::daemon::lvs::run(
                        l,
                        rx,
                        alerts,
                        Arc::clone(&self.reload),
                    ))),
                )
            }
            _ => (None, None),
        };
        let handle = match &self.checker {
            Some(cfg) => match spawn(
                cfg,
                lb_tx,
                Arc::clone(&self.status),
                Some(mailer.clone()),
                Arc::clone(&self.reload),
            ) {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::error!("cannot start the checker: {e}");
                    return std::process::ExitCode::from(1);
                }
            },
            None => None,
        };
        // Everything the checker and the data plane need is built: the configuration
        // copy goes (a reload hands over a new one), not kept for the daemon's life.
        let Plan {
            checker, reload, ..
        } = self;
        drop(checker);
        drop(reload);
        let mut handle = handle;
        let mut main = std::pin::pin!(main);
        let code = match handle.as_mut() {
            Some(h) => tokio::select! {
                c = &mut main => c,
                () = h.ended() => {
                    // Real servers would keep their last verdicts for ever: stop in order
                    // (VIPs released, so the peer takes over) and exit with an error, which
                    // a service manager (Restart=on-failure) answers with a restart, as
                    // keepalived's parent respawns a checker process that died.
                    tracing::error!("the health checker stopped unexpectedly: stopping, exit status 1");
                    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM);
                    let _ = (&mut main).await;
                    std::process::ExitCode::from(1)
                }
            },
            None => main.await,
        };
        if let Some(h) = handle {
            h.stop().await;
        }
        // The checker's sender is gone: the data plane task shuts down.
        if let Some(t) = lb_task {
            let _ = t.await;
        }
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_check::fixture;

    /// A real server's place in the status table comes from its ids alone: the table's
    /// order (the engine's, the configuration's) across virtual servers, an empty one
    /// included; ids outside the configuration have none.
    #[test]
    fn real_server_positions_are_the_status_tables() {
        let vs = |last: u8, n: u8| {
            let rss = (1..=n)
                .map(|i| fixture::real_server(IpAddr::from([198, 51, 100, i]), 80, vec![]))
                .collect();
            fixture::virtual_server(IpAddr::from([192, 0, 2, last]), 80, rss)
        };
        let lvs = fixture::lvs(vec![vs(1, 2), vs(2, 0), vs(3, 3)]);
        let names = Names::new(&lvs);
        let sched = Scheduler::new(&lvs, ka_check::Options::default()).unwrap();
        let table = sched.real_servers();
        assert_eq!(table.len(), 5);
        for (i, r) in table.iter().enumerate() {
            assert_eq!(names.pos(r.id), Some(i), "{:?}", r.id);
        }
        for (vs, rs) in [(0, 2), (1, 0), (2, 3), (3, 0), (u32::MAX, 0)] {
            assert_eq!(names.pos(RealServerId { vs, rs }), None, "{vs}/{rs}");
        }
    }

    /// Thousands of real servers report at once (start, or a switch failing): the data
    /// plane gets every verdict even when it does not read until later (the channel used
    /// to hold 1024 and drop the rest).
    #[tokio::test(flavor = "current_thread")]
    async fn no_verdict_is_dropped_when_thousands_arrive_at_once() {
        const N: usize = 5000;
        let rss: Vec<_> = (0..N)
            .map(|i| {
                let ip = IpAddr::from([198, 51, 100, u8::try_from(i % 250 + 1).unwrap()]);
                fixture::real_server(ip, 8000 + u16::try_from(i / 250).unwrap(), vec![])
            })
            .collect();
        let cfg = Config {
            lvs: fixture::lvs(vec![fixture::virtual_server(
                "192.0.2.1".parse().unwrap(),
                80,
                rss,
            )]),
            ..Config::default()
        };
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let (tx, mut rx) = mpsc::unbounded_channel();
                let h =
                    spawn(&cfg, Some(tx), StatusTable::default(), None, Arc::default()).unwrap();
                // The checker runs a while before anyone reads.
                tokio::time::sleep(Duration::from_millis(300)).await;
                let mut initial = 0;
                while let Ok(Some(ev)) =
                    tokio::time::timeout(Duration::from_millis(200), rx.recv()).await
                {
                    if matches!(ev, Event::Initial { alive: true, .. }) {
                        initial += 1;
                    }
                }
                assert_eq!(initial, N);
                h.stop().await;
            })
            .await;
    }

    /// A checker thread that fails is noticed (the daemon then stops with an error), and
    /// stopping it afterwards returns at once; a healthy one does not end by itself.
    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_checker_thread_is_noticed() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let cfg = Config {
            lvs: fixture::lvs(vec![fixture::virtual_server(
                "192.0.2.1".parse().unwrap(),
                80,
                vec![fixture::real_server(ip, 9, vec![])],
            )]),
            ..Config::default()
        };
        PANIC_ON_START.set(true);
        let mut h = spawn(&cfg, None, StatusTable::default(), None, Arc::default()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), h.ended())
            .await
            .expect("the failed thread is noticed");
        tokio::time::timeout(Duration::from_secs(1), h.stop())
            .await
            .expect("stop returns at once");
        let mut h = spawn(&cfg, None, StatusTable::default(), None, Arc::default()).unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), h.ended())
                .await
                .is_err(),
            "a healthy checker ended by itself"
        );
        h.stop().await;
    }

    /// The driver against real sockets on loopback: a listening port stays in, a closed
    /// one leaves; the load balancer's channel gets the scheduler's events and the status
    /// table follows.
    #[tokio::test(flavor = "current_thread")]
    async fn events_reach_the_lb_channel_and_the_status_table() {
        let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open_port = open.local_addr().unwrap().port();
        let closed_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let mut timing = fixture::timing(1, 0, 1);
        timing.warmup = Duration::ZERO;
        timing.connect_timeout = Duration::from_secs(2);
        let rs = |port| {
            fixture::real_server(
                ip,
                port,
                vec![fixture::checker(CheckerKind::Tcp, timing, (ip, Some(port)))],
            )
        };
        let cfg = Config {
            lvs: fixture::lvs(vec![fixture::virtual_server(
                "192.0.2.1".parse().unwrap(),
                80,
                vec![rs(open_port), rs(closed_port)],
            )]),
            ..Config::default()
        };
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let (tx, mut rx) = mpsc::unbounded_channel();
                let table = StatusTable::default();
                let h = spawn(&cfg, Some(tx), Arc::clone(&table), None, Arc::default()).unwrap();
                let mut initial = 0;
                let left = tokio::time::timeout(Duration::from_secs(10), async {
                    while let Some(ev) = rx.recv().await {
                        match ev {
                            Event::Initial { .. } => initial += 1,
                            Event::RealServerChanged {
                                rs, alive: false, ..
                            } => return rs,
                            _ => {}
                        }
                    }
                    panic!("channel closed");
                })
                .await
                .unwrap();
                assert_eq!(initial, 2);
                assert_eq!(left, RealServerId { vs: 0, rs: 1 });
                {
                    let t = table.lock().unwrap();
                    assert_eq!(t.len(), 2);
                    assert!(t[0].alive);
                    assert!(!t[1].alive);
                    assert_eq!(t[1].real_server, format!("[127.0.0.1]:tcp:{closed_port}"));
                    assert_eq!(t[1].last_result.as_deref(), Some("connection refused"));
                    assert!(t[1].reason.as_deref().unwrap().contains("refused"));
                }
                h.stop().await;
            })
            .await;
        drop(open);
    }
}
