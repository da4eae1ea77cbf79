//! `lvs_sync_daemon`: the kernel's IPVS connection synchronisation daemon follows the
//! state of one VRRP instance, as keepalived's VRRP process drives it
//! (vrrp.c/ipvswrapper.c): becoming MASTER stops the backup daemon and starts the
//! master one; BACKUP (at start, or leaving MASTER) stops the master daemon and starts
//! the backup one; on stop both are stopped.
//!
//! The requests go to a [`super::lvs::IpvsWorker`] thread of their own, queued in order
//! and never awaited: the engine does not wait for the kernel.

use ka_model::vrrp::global::LvsSyncDaemon;
use ka_sys::ipvs::{SyncDaemon, SyncRole};
use ka_vrrp::{Event, Router, StateKind};
use tracing::{debug, error, info, warn};

use super::lvs::IpvsWorker;

/// The sync daemon role a transition of the followed instance asks for (`None`: leave
/// it as it is).
pub fn role_for(from: StateKind, to: StateKind) -> Option<SyncRole> {
    match (from, to) {
        (_, StateKind::Master) => Some(SyncRole::Master),
        (_, StateKind::Backup) | (StateKind::Master, StateKind::Fault) => Some(SyncRole::Backup),
        _ => None,
    }
}

/// The configured sync daemon and its IPVS thread.
#[derive(Debug)]
pub struct SyncD {
    instance: String,
    daemon: SyncDaemon,
    worker: IpvsWorker,
}

impl SyncD {
    /// From `global_defs`; `None` (with a log line) when not configured or IPVS is
    /// unavailable. `vrid_of` gives an instance's VRID (the default sync id).
    pub fn new(cfg: Option<&LvsSyncDaemon>, vrid_of: impl Fn(&str) -> Option<u8>) -> Option<SyncD> {
        let cfg = cfg?;
        let Some(instance) = cfg.instance.clone() else {
            warn!("lvs_sync_daemon names no vrrp_instance: not started");
            return None;
        };
        let syncid = cfg.sync_id.or_else(|| vrid_of(&instance)).unwrap_or(0);
        let ipvs = match super::lvs::open_ipvs() {
            Ok(i) => i,
            Err(e) => {
                error!("lvs_sync_daemon: {e}");
                return None;
            }
        };
        let worker = match IpvsWorker::start(ipvs) {
            Ok(w) => w,
            Err(e) => {
                error!("lvs_sync_daemon: cannot start the IPVS thread: {e}");
                return None;
            }
        };
        Some(SyncD {
            instance,
            daemon: SyncDaemon {
                role: SyncRole::Backup,
                ifname: cfg.interface.clone(),
                syncid: u32::from(syncid),
                maxlen: cfg.maxlen,
                group: cfg.group,
                port: Some(cfg.port),
                ttl: cfg.ttl,
            },
            worker,
        })
    }

    /// Follows a state change of the configured instance.
    pub fn on_event(&mut self, router: &Router, e: &Event) {
        let Event::StateChange {
            instance, from, to, ..
        } = e
        else {
            return;
        };
        if router.instance_name(*instance) != Some(self.instance.as_str()) {
            return;
        }
        if let Some(role) = role_for(*from, *to) {
            self.switch(role);
        }
    }

    fn switch(&mut self, role: SyncRole) {
        let other = match role {
            SyncRole::Master => SyncRole::Backup,
            SyncRole::Backup => SyncRole::Master,
        };
        let mut d = self.daemon.clone();
        d.role = role;
        self.worker.post(move |ipvs| {
            // Not running is fine (keepalived ignores the error too).
            if let Err(e) = ipvs.stop_sync_daemon(other) {
                debug!("lvs_sync_daemon: stop {other:?}: {e}");
            }
            match ipvs.start_sync_daemon(&d) {
                Ok(()) => info!(
                    "lvs_sync_daemon: {role:?} on {} (syncid {})",
                    d.ifname, d.syncid
                ),
                Err(e) => error!("lvs_sync_daemon: cannot start the {role:?} daemon: {e}"),
            }
        });
    }

    /// Stops both daemons (at exit) and waits for the thread.
    pub fn finish(self) {
        self.worker.post(|ipvs| {
            for role in [SyncRole::Master, SyncRole::Backup] {
                if let Err(e) = ipvs.stop_sync_daemon(role) {
                    debug!("lvs_sync_daemon: stop {role:?}: {e}");
                }
            }
        });
        drop(self.worker);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StateKind::*;

    #[test]
    fn roles_follow_keepalived() {
        assert_eq!(role_for(Init, Master), Some(SyncRole::Master));
        assert_eq!(role_for(Backup, Master), Some(SyncRole::Master));
        assert_eq!(role_for(Init, Backup), Some(SyncRole::Backup));
        assert_eq!(role_for(Master, Backup), Some(SyncRole::Backup));
        assert_eq!(role_for(Master, Fault), Some(SyncRole::Backup));
        assert_eq!(role_for(Backup, Fault), None);
        assert_eq!(role_for(Master, Init), None, "stop: finish() stops both");
    }
}
