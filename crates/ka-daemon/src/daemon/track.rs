//! Tracked objects: `vrrp_script`, `track_file` and `track_process`, observed here and fed
//! to the engine through `Router::handle_track` (via a channel into the main loop).
//!
//! * Scripts: one task per script used by an instance or sync group runs it every
//!   `interval` (the first run at start, as keepalived), with its `timeout`, through the
//!   shared [`Runner`]; the `rise`/`fall` decision is `ka_vrrp::track::ScriptCounter`'s.
//!   A run still going when the next is due delays it (never two at once).
//! * Files: read at start (after `init_file`), then polled every [`POLL`] (a bounded
//!   poll, not inotify: one `read` of a small file per tracked file and tick); a changed
//!   value is fed as `TrackState::Value` (the engine applies `value * weight`).
//! * Processes: a bounded `/proc` scan at start, then again 50 ms after fork/exec/comm/exit
//!   events from the netlink proc connector (as keepalived; one scan per burst, and a
//!   safety scan every 10 s), or every [`POLL`] where the connector is unavailable (it
//!   works in the initial network namespace only); counts of matching processes go through
//!   `ka_vrrp::track::ProcessQuorum` (`quorum`, `quorum_max`, `fork_delay`,
//!   `terminate_delay`).
//!
//! Track ids: `script:NAME`, `file:NAME`, `process:NAME`.

use std::collections::BTreeSet;
use std::time::Duration;

use ka_model::vrrp::{TrackFile, TrackProcess, TrackRef, VrrpConfig, VrrpInstance, Weight};
use ka_vrrp::track::{process_matches, ProcessQuorum, ScriptCounter};
use ka_vrrp::Router;
use ka_vrrp::{TrackConfig, TrackId, TrackState};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::script::{Runner, ScriptPolicy};

/// Poll period of tracked files, and of processes without the proc connector.
pub(super) const POLL: Duration = Duration::from_millis(500);
/// With the proc connector: delay of a rescan after an event (one scan per burst), and
/// the period of a safety rescan without events.
const DEBOUNCE: Duration = Duration::from_millis(50);
const FALLBACK: Duration = Duration::from_secs(10);
/// `ENOBUFS`: the kernel dropped events for a slow reader.
const ENOBUFS: i32 = 105;

/// A tracked object's new state, for `Router::handle_track`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TrackUpdate {
    pub(super) id: TrackId,
    pub(super) state: TrackState,
}

fn script_id(name: &str) -> TrackId {
    TrackId(format!("script:{name}"))
}
fn file_id(name: &str) -> TrackId {
    TrackId(format!("file:{name}"))
}
fn process_id(name: &str) -> TrackId {
    TrackId(format!("process:{name}"))
}

fn track(id: TrackId, r: &TrackRef, default: Weight) -> TrackConfig {
    let w = r.weight.unwrap_or(default);
    TrackConfig {
        id,
        weight: w.value,
        reverse: w.reverse,
    }
}

/// The engine's tracked objects of an instance: its own `track_script`, `track_file` and
/// `track_process` references and those of its sync groups (keepalived applies a group's
/// tracking to every member). References to undefined objects were reported by the
/// configuration check and are skipped.
pub fn tracks_for(cfg: &VrrpConfig, i: &VrrpInstance) -> Vec<TrackConfig> {
    let groups = cfg
        .sync_groups
        .iter()
        .filter(|g| g.instances.iter().any(|m| m == &i.name))
        .map(|g| &g.track);
    let mut out = Vec::new();
    for t in std::iter::once(&i.track).chain(groups) {
        for r in &t.scripts {
            if let Some(s) = cfg.scripts.iter().find(|s| s.name == r.name) {
                out.push(track(script_id(&s.name), r, s.weight));
            }
        }
        for r in &t.files {
            if let Some(f) = cfg.track_files.iter().find(|f| f.name == r.name) {
                out.push(track(file_id(&f.name), r, f.weight));
            }
        }
        for r in &t.processes {
            if let Some(p) = cfg.track_processes.iter().find(|p| p.name == r.name) {
                out.push(track(process_id(&p.name), r, p.weight));
            }
        }
    }
    out
}

/// Every tracked object some instance uses.
fn used(cfg: &VrrpConfig) -> BTreeSet<TrackId> {
    cfg.instances
        .iter()
        .flat_map(|i| tracks_for(cfg, i))
        .map(|t| t.id)
        .collect()
}

/// The tracking tasks' state before they start: the initial states to feed the engine
/// before `Router::start`, and the work to spawn.
pub(super) struct Tracking {
    /// States known before start (`init_fail` scripts, file values, process counts).
    pub(super) initial: Vec<TrackUpdate>,
    scripts: Vec<(String, crate::script::Prepared, ka_model::vrrp::VrrpScript)>,
    files: Vec<(TrackFile, Option<i64>)>,
    processes: Vec<(TrackProcess, ProcessQuorum)>,
}

/// Reads files, scans processes and prepares scripts (user, path, security).
pub(super) fn prepare(cfg: &VrrpConfig, policy: &ScriptPolicy) -> Tracking {
    let used = used(cfg);
    let mut t = Tracking {
        initial: Vec::new(),
        scripts: Vec::new(),
        files: Vec::new(),
        processes: Vec::new(),
    };
    for s in &cfg.scripts {
        let id = script_id(&s.name);
        if !used.contains(&id) {
            warn!(
                "VRRP_Script({}) is not used by any instance, not run",
                s.name
            );
            continue;
        }
        match policy.prepare(&s.script) {
            Ok(p) => {
                if let Some(why) = &p.insecure {
                    warn!(
                        "Unsafe permissions found for script '{}': {why}",
                        p.display()
                    );
                }
                if s.init_fail {
                    t.initial.push(TrackUpdate {
                        id,
                        state: TrackState::Down,
                    });
                }
                t.scripts.push((s.name.clone(), p, s.clone()));
            }
            // keepalived: a script that cannot run is disabled and does not affect its
            // instances.
            Err(e) => error!("VRRP_Script({}) disabled: {e}", s.name),
        }
    }
    for f in &cfg.track_files {
        if !used.contains(&file_id(&f.name)) {
            continue;
        }
        init_file(f);
        let v = read_file_value(&f.file);
        t.initial.push(TrackUpdate {
            id: file_id(&f.name),
            state: TrackState::Value(v.unwrap_or(0)),
        });
        t.files.push((f.clone(), v));
    }
    let wanted: Vec<&TrackProcess> = cfg
        .track_processes
        .iter()
        .filter(|p| used.contains(&process_id(&p.name)))
        .collect();
    if !wanted.is_empty() {
        let cmdline = wanted.iter().any(|p| p.full_command || p.process.len() > 1);
        let procs = ka_sys::process::scan_processes(cmdline).unwrap_or_else(|e| {
            error!("cannot scan /proc: {e}");
            Vec::new()
        });
        for p in wanted {
            let mut q = ProcessQuorum::new(p);
            let n = count(p, &procs);
            if let Some(up) = q.update(ka_vrrp::Instant::from_micros(0), n) {
                info!(
                    "Track_process({}): {n} process(es), quorum {}",
                    p.name,
                    if up { "up" } else { "down" }
                );
                t.initial.push(TrackUpdate {
                    id: process_id(&p.name),
                    state: if up { TrackState::Up } else { TrackState::Down },
                });
            }
            t.processes.push((p.clone(), q));
        }
    }
    t
}

fn count(p: &TrackProcess, procs: &[ka_sys::process::ProcInfo]) -> u32 {
    let n = procs
        .iter()
        .filter(|x| process_matches(p, &x.comm, &x.cmdline))
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// keepalived's `init_file [VALUE] [overwrite]`: writes VALUE when the file does not exist
/// (or always with `overwrite`).
fn init_file(f: &TrackFile) {
    let Some(init) = f.init_file else { return };
    let path = std::path::Path::new(&f.file);
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.is_file() => {
            error!("track_file {}: {} is not a regular file", f.name, f.file);
            return;
        }
        Ok(_) if !init.overwrite => return,
        _ => {}
    }
    if let Err(e) = std::fs::write(path, format!("{}\n", init.value)) {
        error!("track_file {}: cannot initialise {}: {e}", f.name, f.file);
    }
}

/// The file's value as keepalived reads it; a missing or unreadable file reads as 0, an
/// out-of-range number as `None` (the old value is kept).
fn read_file_value(path: &str) -> Option<i64> {
    let mut buf = Vec::new();
    match std::fs::File::open(path) {
        Ok(f) => {
            use std::io::Read;
            // keepalived reads at most 127 bytes.
            if f.take(128).read_to_end(&mut buf).is_err() {
                buf.clear();
            }
        }
        Err(_) => return Some(0),
    }
    ka_check::verdict::parse_track_file(&buf)
}

impl Tracking {
    /// Starts the tasks (on the current `LocalSet`); they stop when `tx` is closed or
    /// their handles are aborted.
    fn spawn(self, runner: &Runner, tx: &mpsc::Sender<TrackUpdate>) -> Vec<JoinHandle<()>> {
        let mut handles = Vec::new();
        for (name, prepared, cfg) in self.scripts {
            let runner = runner.clone();
            let tx = tx.clone();
            handles.push(tokio::task::spawn_local(async move {
                let mut counter = ScriptCounter::new(cfg.rise, cfg.fall, cfg.init_fail);
                let mut last: Option<crate::script::Outcome> = None;
                let interval = cfg.interval.max(Duration::from_millis(10));
                let mut next = tokio::time::Instant::now();
                loop {
                    let out = runner.run(&prepared, &[], Some(cfg.timeout)).await;
                    if last.as_ref() != Some(&out) {
                        info!("Script `{name}` now returning: {out}");
                    }
                    let ok = out.success();
                    last = Some(out);
                    if let Some(up) = counter.record(ok) {
                        info!(
                            "VRRP_Script({name}) {}",
                            if up { "succeeded" } else { "failed" }
                        );
                        let state = if up { TrackState::Up } else { TrackState::Down };
                        let u = TrackUpdate {
                            id: script_id(&name),
                            state,
                        };
                        if tx.send(u).await.is_err() {
                            return;
                        }
                    }
                    let now = tokio::time::Instant::now();
                    next += interval;
                    if next <= now {
                        next = now + interval;
                    }
                    tokio::select! {
                        () = tokio::time::sleep_until(next) => {}
                        () = tx.closed() => return,
                    }
                }
            }));
        }
        if !self.files.is_empty() {
            let tx = tx.clone();
            let mut files = self.files;
            handles.push(tokio::task::spawn_local(async move {
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(POLL) => {}
                        () = tx.closed() => return,
                    }
                    for (f, last) in &mut files {
                        let v = read_file_value(&f.file);
                        if v.is_none() {
                            warn!("track_file {}: invalid number in {}", f.name, f.file);
                            continue;
                        }
                        if v != *last {
                            *last = v;
                            let value = v.unwrap_or(0);
                            info!("track_file {}: value now {value}", f.name);
                            let u = TrackUpdate {
                                id: file_id(&f.name),
                                state: TrackState::Value(value),
                            };
                            if tx.send(u).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }));
        }
        if !self.processes.is_empty() {
            let tx = tx.clone();
            let mut procs = self.processes;
            let cmdline = procs
                .iter()
                .any(|(p, _)| p.full_command || p.process.len() > 1);
            handles.push(tokio::task::spawn_local(async move {
                let epoch = tokio::time::Instant::now();
                let now = || {
                    let us = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
                    ka_vrrp::Instant::from_micros(us)
                };
                let mut events = match ka_sys::proc_events::ProcEvents::new() {
                    Ok(e) => {
                        info!("track_process: proc connector events (rescan on change)");
                        Some(e)
                    }
                    Err(e) => {
                        info!(
                            "track_process: no proc connector ({e}): /proc scanned every {POLL:?}"
                        );
                        None
                    }
                };
                // Rescan now: something may have started before the subscription.
                let mut scan_at = Some(tokio::time::Instant::now());
                loop {
                    let base = tokio::time::Instant::now();
                    let idle = if events.is_some() { FALLBACK } else { POLL };
                    let mut at = scan_at.unwrap_or(base + idle);
                    if let Some(d) = procs.iter().filter_map(|(_, q)| q.poll_timeout()).min() {
                        let left = d.as_micros().saturating_sub(now().as_micros());
                        at = at.min(base + Duration::from_micros(left));
                    }
                    let ev = async {
                        match events.as_mut() {
                            Some(e) => Some(e.next().await),
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        r = ev => {
                            let rescan = match r {
                                Some(Ok(ka_sys::proc_events::ProcEvent::Other)) | None => false,
                                Some(Ok(_)) => true,
                                Some(Err(e)) if e.raw_os_error() == Some(ENOBUFS) => {
                                    debug!("track_process: proc events lost, rescanning");
                                    true
                                }
                                Some(Err(e)) => {
                                    warn!("track_process: proc connector failed ({e}), polling");
                                    events = None;
                                    true
                                }
                            };
                            if rescan {
                                // Debounced: one scan for a burst of events.
                                scan_at.get_or_insert(tokio::time::Instant::now() + DEBOUNCE);
                            }
                            continue;
                        }
                        () = tx.closed() => return,
                    }
                    scan_at = None;
                    let scan = tokio::task::spawn_blocking(move || {
                        ka_sys::process::scan_processes(cmdline)
                    })
                    .await;
                    let list = match scan {
                        Ok(Ok(l)) => l,
                        Ok(Err(e)) => {
                            warn!("cannot scan /proc: {e}");
                            continue;
                        }
                        Err(_) => continue,
                    };
                    for (p, q) in &mut procs {
                        let n = count(p, &list);
                        let t = now();
                        let change = q.update(t, n).or_else(|| q.handle_timeout(t));
                        if let Some(up) = change {
                            info!(
                                "Track_process({}): {n} process(es), quorum {}",
                                p.name,
                                if up { "up" } else { "down" }
                            );
                            let u = TrackUpdate {
                                id: process_id(&p.name),
                                state: if up { TrackState::Up } else { TrackState::Down },
                            };
                            if tx.send(u).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }));
        }
        handles
    }
}

/// The running tracking tasks, restarted by a reload.
pub(super) struct Running {
    tx: mpsc::Sender<TrackUpdate>,
    runner: Runner,
    tasks: Vec<JoinHandle<()>>,
    /// Scripts running now (a reload does not apply `init_fail` to them again).
    scripts: BTreeSet<String>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("tasks", &self.tasks.len())
            .field("scripts", &self.scripts)
            .finish()
    }
}

impl Running {
    /// Feeds the states known before start to `router` and starts the tasks.
    pub(super) fn start(
        t: Tracking,
        router: &mut Router,
        now: ka_vrrp::Instant,
        runner: &Runner,
        tx: &mpsc::Sender<TrackUpdate>,
    ) -> Self {
        for u in &t.initial {
            router.handle_track(now, &u.id, u.state);
        }
        let scripts = t.scripts.iter().map(|(n, _, _)| n.clone()).collect();
        Self {
            tx: tx.clone(),
            runner: runner.clone(),
            tasks: t.spawn(runner, tx),
            scripts,
        }
    }

    /// After `Router::reconfigure`: stops every tracking task and starts those of `cfg`
    /// (script user and security from its global_defs). Objects still tracked keep their
    /// reported state in the engine until their first new result (`init_fail` is not
    /// applied again to a script that was already running).
    pub(super) fn reload(&mut self, cfg: &VrrpConfig, router: &mut Router, now: ka_vrrp::Instant) {
        let policy = match ScriptPolicy::from_global(
            cfg.global.script_user.as_ref(),
            cfg.global.enable_script_security,
        ) {
            Ok(p) => p,
            Err(e) => {
                error!("script_user: {e}; tracking keeps running with the old configuration");
                return;
            }
        };
        for h in self.tasks.drain(..) {
            h.abort();
        }
        let mut t = prepare(cfg, &policy);
        let old = std::mem::take(&mut self.scripts);
        t.initial.retain(|u| {
            !(u.state == TrackState::Down
                && u.id
                    .0
                    .strip_prefix("script:")
                    .is_some_and(|n| old.contains(n)))
        });
        let tx = self.tx.clone();
        let runner = self.runner.clone();
        *self = Running::start(t, router, now, &runner, &tx);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for h in &self.tasks {
            h.abort();
        }
    }
}
