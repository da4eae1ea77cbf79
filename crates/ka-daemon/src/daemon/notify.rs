//! Notifications of the router's events, with keepalived 2.2.7's conventions
//! (`vrrp_notify.c`):
//!
//! * A state change of an instance runs its `notify_master` / `notify_backup` /
//!   `notify_fault` / `notify_stop` script (no extra arguments), then its `notify` script
//!   with `INSTANCE NAME STATE PRIORITY` appended (effective priority), then writes
//!   `INSTANCE "NAME" STATE PRIORITY` to `notify_fifo` and `vrrp_notify_fifo`. A sync
//!   group does the same with `GROUP` and priority 0. Stopping the daemon is `STOP`.
//! * A master hearing a lower priority advert runs `notify_master_rx_lower_pri` and writes
//!   `MASTER_RX_LOWER_PRI`; with `notify_priority_changes`, a priority change writes
//!   `MASTER_PRIORITY` / `BACKUP_PRIORITY`.
//! * `notify_fifo_script` / `vrrp_notify_fifo_script` start with the FIFO as their last
//!   argument and are stopped at exit (the FIFO is closed first, so they read every
//!   line and see EOF; SIGTERM if they are still running after 2 s); FIFOs are opened read-write and non-blocking (a
//!   full FIFO drops the line with a warning, it never blocks the engine), created when
//!   missing and then removed at exit.
//! * Scripts of one instance or group run one after another in event order (a queue per
//!   object, bounded to [`QUEUE`] jobs), each with [`NOTIFY_TIMEOUT`]; different objects
//!   run in parallel. keepalived forks them all at once, so their order is not even
//!   guaranteed there; here it is, per object.
//! * An instance removed by a reload notifies `DELETED` (with `notify_deleted`, whose
//!   script runs as well) or else `FAULT`; [`Notifier::reload`] takes the new scripts.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use ka_model::vrrp::{Fifo, Notify, ScriptCmd, VrrpConfig};
use ka_vrrp::{Event, Router, StateKind, TransitionReason};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::script::{Prepared, Runner, ScriptPolicy};

/// How long one notify script may run.
pub(super) const NOTIFY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pending notify scripts per instance or group; beyond it new ones are dropped (logged).
pub(super) const QUEUE: usize = 64;
/// At exit, how long pending notify scripts (`notify_stop` ...) may still take.
pub(super) const EXIT_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Scripts {
    master: Option<Prepared>,
    backup: Option<Prepared>,
    fault: Option<Prepared>,
    stop: Option<Prepared>,
    deleted: Option<Prepared>,
    any: Option<Prepared>,
    rx_lower: Option<Prepared>,
    deleted_set: bool,
}

/// One instance's or group's notify scripts and its queue.
#[derive(Debug)]
struct Object {
    kind: &'static str,
    name: String,
    scripts: Scripts,
    priority_changes: bool,
    queue: Option<mpsc::Sender<Job>>,
    /// The priority of the last notification (a removed instance reports it).
    last_prio: u8,
}

#[derive(Debug)]
struct Job {
    script: Prepared,
    extra: Vec<String>,
    what: &'static str,
}

struct FifoOut {
    path: PathBuf,
    file: Option<std::fs::File>,
    created: bool,
    script: Option<tokio::process::Child>,
}

/// Runs notify scripts and writes notify FIFOs.
pub(super) struct Notifier {
    runner: Runner,
    instances: BTreeMap<String, Object>,
    groups: BTreeMap<String, Object>,
    fifos: Vec<FifoOut>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("instances", &self.instances.len())
            .field("groups", &self.groups.len())
            .field("fifos", &self.fifos.len())
            .finish()
    }
}

fn prep(policy: &ScriptPolicy, owner: &str, kw: &str, s: &Option<ScriptCmd>) -> Option<Prepared> {
    let s = s.as_ref().filter(|s| !s.argv.is_empty())?;
    match policy.prepare(s) {
        Ok(p) => {
            if let Some(why) = &p.insecure {
                warn!(
                    "{owner}: {kw}: unsafe permissions found for script '{}': {why}",
                    p.display()
                );
            }
            Some(p)
        }
        Err(e) => {
            error!("{owner}: {kw} disabled: {e}");
            None
        }
    }
}

fn scripts(policy: &ScriptPolicy, owner: &str, n: &Notify) -> Scripts {
    Scripts {
        master: prep(policy, owner, "notify_master", &n.master),
        backup: prep(policy, owner, "notify_backup", &n.backup),
        fault: prep(policy, owner, "notify_fault", &n.fault),
        stop: prep(policy, owner, "notify_stop", &n.stop),
        deleted: prep(policy, owner, "notify_deleted", &n.deleted),
        any: prep(policy, owner, "notify", &n.any),
        rx_lower: prep(
            policy,
            owner,
            "notify_master_rx_lower_pri",
            &n.master_rx_lower_pri,
        ),
        deleted_set: n.deleted.is_some(),
    }
}

impl Notifier {
    /// Prepares every script (user, path, security: refused scripts are logged and left
    /// out), opens the FIFOs and starts their scripts. Call inside the `LocalSet`.
    pub(super) fn new(cfg: &VrrpConfig, policy: &ScriptPolicy, runner: &Runner) -> Self {
        let mut n = Notifier {
            runner: runner.clone(),
            instances: BTreeMap::new(),
            groups: BTreeMap::new(),
            fifos: Vec::new(),
            tasks: Vec::new(),
        };
        for i in &cfg.instances {
            let owner = format!("vrrp_instance {}", i.name);
            let obj = Object {
                kind: "INSTANCE",
                name: i.name.clone(),
                scripts: scripts(policy, &owner, &i.notify),
                priority_changes: i.notify_priority_changes,
                queue: None,
                last_prio: 0,
            };
            n.instances.insert(i.name.clone(), obj);
        }
        for g in &cfg.sync_groups {
            let owner = format!("vrrp_sync_group {}", g.name);
            let obj = Object {
                kind: "GROUP",
                name: g.name.clone(),
                scripts: scripts(policy, &owner, &g.notify),
                priority_changes: false,
                queue: None,
                last_prio: 0,
            };
            n.groups.insert(g.name.clone(), obj);
        }
        let gl = &cfg.global;
        for (kw, fifo, script) in [
            ("notify_fifo", &gl.notify_fifo, &gl.notify_fifo_script),
            (
                "vrrp_notify_fifo",
                &gl.vrrp_notify_fifo,
                &gl.vrrp_notify_fifo_script,
            ),
        ] {
            if let Some(f) = fifo {
                n.open_fifo(kw, f, script.as_ref(), policy);
            }
        }
        n
    }

    fn open_fifo(&mut self, kw: &str, f: &Fifo, script: Option<&ScriptCmd>, policy: &ScriptPolicy) {
        let path = PathBuf::from(&f.path);
        let (file, created) = match ka_sys::process::open_fifo(&path) {
            Ok(x) => x,
            Err(e) => {
                error!("{kw} {}: {e}", f.path);
                return;
            }
        };
        if created {
            if let Some(u) = &f.user {
                match ka_sys::process::lookup_user(u, f.group.as_deref()) {
                    Ok(Some(c)) => {
                        if let Err(e) = ka_sys::process::chown(&path, c.uid, c.gid) {
                            warn!("{kw} {}: cannot change owner: {e}", f.path);
                        }
                    }
                    _ => warn!("{kw} {}: unknown user {u}", f.path),
                }
            }
        }
        let child = script
            .and_then(|s| prep(policy, kw, &format!("{kw}_script"), &Some(s.clone())))
            .and_then(
                |p| match self.runner.spawn(&p, std::slice::from_ref(&f.path)) {
                    Ok(c) => {
                        info!("{kw}_script {} started", p.display());
                        Some(c)
                    }
                    Err(e) => {
                        error!("{kw}_script {}: cannot start: {e}", p.display());
                        None
                    }
                },
            );
        self.fifos.push(FifoOut {
            path,
            file: Some(file),
            created,
            script: child,
        });
    }

    fn fifo_line(&mut self, kind: &str, name: &str, state: &str, prio: u8) {
        if self.fifos.is_empty() {
            return;
        }
        let line = format!("{kind} \"{name}\" {state} {prio}\n");
        for f in &mut self.fifos {
            let Some(file) = f.file.as_mut() else {
                continue;
            };
            if let Err(e) = file.write_all(line.as_bytes()) {
                warn!("notify FIFO {}: line dropped: {e}", f.path.display());
            }
        }
    }

    fn enqueue(&mut self, group: bool, name: &str, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        let map = if group {
            &mut self.groups
        } else {
            &mut self.instances
        };
        let Some(obj) = map.get_mut(name) else { return };
        let tx = match &obj.queue {
            Some(tx) => tx.clone(),
            None => {
                let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
                let runner = self.runner.clone();
                let owner = format!("{} {}", obj.kind, obj.name);
                self.tasks.push(tokio::task::spawn_local(async move {
                    while let Some(j) = rx.recv().await {
                        let out = runner.run(&j.script, &j.extra, Some(NOTIFY_TIMEOUT)).await;
                        if out.success() {
                            debug!("{owner}: {} {} done", j.what, j.script.display());
                        } else {
                            warn!("{owner}: {} {}: {out}", j.what, j.script.display());
                        }
                    }
                }));
                obj.queue = Some(tx.clone());
                tx
            }
        };
        for j in jobs {
            if let Err(e) = tx.try_send(j) {
                warn!(
                    "{} {}: notify queue full, script dropped: {e}",
                    obj.kind, obj.name
                );
            }
        }
    }

    /// The jobs for a state change of `obj` (its specific script, then `notify`).
    fn state_jobs(obj: &Object, state: &str, prio: u8) -> Vec<Job> {
        let s = &obj.scripts;
        let specific = match state {
            "MASTER" => s.master.as_ref().map(|p| ("notify_master", p)),
            "BACKUP" => s.backup.as_ref().map(|p| ("notify_backup", p)),
            "FAULT" => s.fault.as_ref().map(|p| ("notify_fault", p)),
            "STOP" => s.stop.as_ref().map(|p| ("notify_stop", p)),
            "DELETED" => s.deleted.as_ref().map(|p| ("notify_deleted", p)),
            _ => None,
        };
        let mut jobs = Vec::new();
        if let Some((what, p)) = specific {
            jobs.push(Job {
                script: p.clone(),
                extra: Vec::new(),
                what,
            });
        }
        if let Some(p) = &s.any {
            jobs.push(Job {
                script: p.clone(),
                extra: vec![
                    obj.kind.to_owned(),
                    obj.name.clone(),
                    state.to_owned(),
                    prio.to_string(),
                ],
                what: "notify",
            });
        }
        jobs
    }

    /// `prio` 0 for an instance (removed, unknown now) means its last known priority.
    fn state_change(&mut self, group: bool, name: &str, state: &str, prio: u8) {
        let map = if group { &self.groups } else { &self.instances };
        let Some(obj) = map.get(name) else { return };
        let kind = obj.kind;
        let prio = if !group && prio == 0 {
            obj.last_prio
        } else {
            prio
        };
        let jobs = Self::state_jobs(obj, state, prio);
        self.enqueue(group, name, jobs);
        self.fifo_line(kind, name, state, prio);
        if let Some(o) = self.instances.get_mut(name).filter(|_| !group) {
            o.last_prio = prio;
        }
    }

    /// A reload: the scripts of the new configuration's instances and groups (script user
    /// and security from its global_defs). Objects are replaced or added by name, their
    /// queues kept (order preserved); removed ones stay known so their last notifies
    /// (DELETED / FAULT) still run. FIFOs stay as they are (a changed `notify_fifo` needs a
    /// restart).
    pub(super) fn reload(&mut self, cfg: &VrrpConfig) {
        let policy = match ScriptPolicy::from_global(
            cfg.global.script_user.as_ref(),
            cfg.global.enable_script_security,
        ) {
            Ok(p) => p,
            Err(e) => {
                error!("script_user: {e}; notify scripts keep the old configuration");
                return;
            }
        };
        for i in &cfg.instances {
            let owner = format!("vrrp_instance {}", i.name);
            let sc = scripts(&policy, &owner, &i.notify);
            let o = self
                .instances
                .entry(i.name.clone())
                .or_insert_with(|| Object {
                    kind: "INSTANCE",
                    name: i.name.clone(),
                    scripts: Scripts::default(),
                    priority_changes: false,
                    queue: None,
                    last_prio: 0,
                });
            o.scripts = sc;
            o.priority_changes = i.notify_priority_changes;
        }
        for g in &cfg.sync_groups {
            let owner = format!("vrrp_sync_group {}", g.name);
            let sc = scripts(&policy, &owner, &g.notify);
            let o = self.groups.entry(g.name.clone()).or_insert_with(|| Object {
                kind: "GROUP",
                name: g.name.clone(),
                scripts: Scripts::default(),
                priority_changes: false,
                queue: None,
                last_prio: 0,
            });
            o.scripts = sc;
        }
    }

    /// Hook for every router event (called after it is logged).
    pub(super) fn on_event(&mut self, router: &Router, e: &Event) {
        match e {
            Event::StateChange {
                instance,
                to,
                reason,
                ..
            } => {
                let Some(name) = router.instance_name(*instance).map(str::to_owned) else {
                    return;
                };
                let prio = router
                    .instance(*instance)
                    .map_or(0, ka_vrrp::Instance::effective_priority);
                let state = match (to, reason) {
                    (StateKind::Master, _) => "MASTER",
                    (StateKind::Backup, _) => "BACKUP",
                    (StateKind::Fault, _) => "FAULT",
                    (StateKind::Init, TransitionReason::Shutdown) => "STOP",
                    // Removed by a reload (keepalived.conf(5) notify_deleted).
                    (StateKind::Init, TransitionReason::Reload) => {
                        self.instance_deleted(&name, prio);
                        return;
                    }
                    (StateKind::Init, _) => return,
                };
                self.state_change(false, &name, state, prio);
            }
            Event::SyncGroupChange { group, to, .. } => {
                let Some(name) = router.sync_group_name(*group).map(str::to_owned) else {
                    return;
                };
                let state = match to {
                    StateKind::Master => "MASTER",
                    StateKind::Backup => "BACKUP",
                    StateKind::Fault => "FAULT",
                    StateKind::Init => "STOP",
                };
                self.state_change(true, &name, state, 0);
            }
            Event::MasterRxLowerPriority { instance, .. } => {
                let Some(inst) = router.instance(*instance) else {
                    return;
                };
                let name = inst.config().name.clone();
                let prio = inst.effective_priority();
                if let Some(p) = self
                    .instances
                    .get(&name)
                    .and_then(|o| o.scripts.rx_lower.clone())
                {
                    let job = Job {
                        script: p,
                        extra: Vec::new(),
                        what: "notify_master_rx_lower_pri",
                    };
                    self.enqueue(false, &name, vec![job]);
                }
                self.fifo_line("INSTANCE", &name, "MASTER_RX_LOWER_PRI", prio);
            }
            Event::PriorityChanged { instance, to, .. } => {
                let Some(inst) = router.instance(*instance) else {
                    return;
                };
                let name = inst.config().name.clone();
                if self
                    .instances
                    .get(&name)
                    .is_some_and(|o| o.priority_changes)
                {
                    let what = if inst.state().kind() == StateKind::Master {
                        "MASTER_PRIORITY"
                    } else {
                        "BACKUP_PRIORITY"
                    };
                    self.fifo_line("INSTANCE", &name, what, *to);
                }
            }
            _ => {}
        }
    }

    /// An instance removed by a reload: `DELETED` with `notify_deleted`, else `FAULT`
    /// (keepalived.conf(5)).
    pub(super) fn instance_deleted(&mut self, name: &str, prio: u8) {
        let deleted = self
            .instances
            .get(name)
            .is_some_and(|o| o.scripts.deleted_set);
        self.state_change(false, name, if deleted { "DELETED" } else { "FAULT" }, prio);
    }

    /// At exit: lets queued scripts finish (bounded by [`EXIT_WAIT`]), stops the FIFO
    /// scripts and removes the FIFOs created here.
    pub(super) async fn finish(&mut self) {
        for o in self.instances.values_mut().chain(self.groups.values_mut()) {
            o.queue = None;
        }
        let tasks = std::mem::take(&mut self.tasks);
        let all = futures_join(tasks);
        if tokio::time::timeout(EXIT_WAIT, all).await.is_err() {
            warn!("notify scripts still running at exit");
        }
        for f in &mut self.fifos {
            // Closing our end lets the FIFO script read what is left, then see EOF.
            f.file = None;
            if let Some(c) = f.script.as_mut() {
                if tokio::time::timeout(crate::script::KILL_GRACE, c.wait())
                    .await
                    .is_err()
                {
                    crate::script::stop(c, crate::script::KILL_GRACE).await;
                }
            }
            if f.created {
                let _ = std::fs::remove_file(&f.path);
            }
        }
    }
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

/// The SMTP alerts of a router event: the same states as the notify scripts (an
/// instance removed by a reload sends none, as keepalived's `DELETED` is not mailed).
pub(super) fn alert(alerts: &mut crate::alert::VrrpAlerts, router: &Router, e: &Event) {
    match e {
        Event::StateChange {
            instance,
            to,
            reason,
            ..
        } => {
            let Some(name) = router.instance_name(*instance) else {
                return;
            };
            let state = match (to, reason) {
                (StateKind::Master, _) => "MASTER",
                (StateKind::Backup, _) => "BACKUP",
                (StateKind::Fault, _) => "FAULT",
                (StateKind::Init, TransitionReason::Shutdown) => "STOP",
                (StateKind::Init, _) => return,
            };
            alerts.state_change(false, name, state);
        }
        Event::SyncGroupChange { group, to, .. } => {
            let Some(name) = router.sync_group_name(*group) else {
                return;
            };
            let state = match to {
                StateKind::Master => "MASTER",
                StateKind::Backup => "BACKUP",
                StateKind::Fault => "FAULT",
                StateKind::Init => "STOP",
            };
            alerts.state_change(true, name, state);
        }
        _ => {}
    }
}
