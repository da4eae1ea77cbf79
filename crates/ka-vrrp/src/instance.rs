//! One VRRP instance: its state machine data, tracking and counters.

use std::net::IpAddr;

use ka_model::Centisecs;
use serde::{Deserialize, Serialize};

use crate::config::{IfaceId, InstanceConfig, TrackConfig};
use crate::output::{DropReason, InstanceId, StateKind, TransitionReason};
use crate::time::Instant;

/// The state of a tracked object, as reported by [`crate::Router::handle_track`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrackState {
    /// OK (script exit 0 after `rise`, process quorum met, ...).
    Up,
    /// Failed.
    Down,
    /// A value (`track_file` contents): weight 0 = non-zero means failure; otherwise
    /// `value * weight` is added, and a result below -253 means failure.
    Value(i64),
}

/// What the master of a backup last told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Its address.
    pub addr: IpAddr,
    /// Its advertised priority.
    pub priority: u8,
}

/// Data valid in BACKUP (RFC 5798 section 6.4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BackupState {
    /// When Master_Down_Timer fires.
    pub master_down_at: Instant,
    /// Master_Adver_Interval (v3: learnt from the master; v2: ours).
    pub master_adver_int: Centisecs,
    /// The current master, once heard.
    pub master: Option<PeerInfo>,
    /// keepalived's preempt_time: lower priority adverts are accepted until then.
    pub preempt_at: Option<Instant>,
    /// The down timer fired but a sync group holds this instance in BACKUP.
    pub wants_master: bool,
}

/// Data valid in MASTER (RFC 5798 section 6.4.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MasterState {
    /// When Adver_Timer fires.
    pub advert_at: Instant,
    /// Second GARP burst (`garp_master_delay` after becoming master).
    pub garp_delayed_at: Option<Instant>,
    /// Next periodic refresh (`garp_master_refresh`).
    pub garp_refresh_at: Option<Instant>,
    /// Delayed burst after a lower priority advert (`garp_lower_prio_delay`).
    pub garp_lower_prio_at: Option<Instant>,
}

/// The state machine (RFC 5798 section 6.4): each variant holds what is valid in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    /// Not started, or shut down (RFC 5798 section 6.4.1).
    Init,
    /// Backup (RFC 5798 section 6.4.2).
    Backup(BackupState),
    /// Master (RFC 5798 section 6.4.3).
    Master(MasterState),
    /// keepalived's FAULT: silent, no VIPs, waiting for the fault to clear.
    Fault,
}

impl State {
    /// The state without its data.
    pub fn kind(&self) -> StateKind {
        match self {
            State::Init => StateKind::Init,
            State::Backup(_) => StateKind::Backup,
            State::Master(_) => StateKind::Master,
            State::Fault => StateKind::Fault,
        }
    }
}

/// Per-instance counters (keepalived's `vrrp->stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stats {
    /// Adverts that passed the header checks.
    pub adverts_rcvd: u64,
    /// Adverts sent (a unicast burst to N peers counts once, as keepalived).
    pub adverts_sent: u64,
    /// Transitions to MASTER.
    pub become_master: u64,
    /// Transitions out of MASTER.
    pub release_master: u64,
    /// State changes of any kind (INIT, BACKUP, MASTER, FAULT to another state).
    #[serde(default)]
    pub transitions: u64,
    /// Priority 0 adverts received.
    pub pri_zero_rcvd: u64,
    /// Priority 0 adverts sent.
    pub pri_zero_sent: u64,
    /// Drops, indexed by [`DropReason::index`].
    pub drops: [u64; DropReason::ALL.len()],
}

impl Stats {
    /// The drop counter for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops.get(reason.index()).copied().unwrap_or(0)
    }

    pub(crate) fn count_drop(&mut self, reason: DropReason) {
        if let Some(c) = self.drops.get_mut(reason.index()) {
            *c = c.saturating_add(1);
        }
    }
}

/// The last state change of an instance (for status displays; the same facts as the
/// [`crate::Event::StateChange`] it emitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Transition {
    /// When (the `now` of the input that caused it).
    pub at: Instant,
    /// Previous state.
    pub from: StateKind,
    /// New state.
    pub to: StateKind,
    /// Why.
    pub reason: TransitionReason,
}

/// One VRRP instance inside a [`crate::Router`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub(crate) id: InstanceId,
    pub(crate) cfg: InstanceConfig,
    pub(crate) group: Option<usize>,
    pub(crate) state: State,
    /// Configured priority, lowered to 254 on an owner conflict (keepalived).
    pub(crate) base_priority: u8,
    pub(crate) effective_priority: u8,
    pub(crate) track_states: Vec<TrackState>,
    pub(crate) fault: bool,
    pub(crate) stats: Stats,
    #[serde(default)]
    pub(crate) last_transition: Option<Transition>,
}

impl Instance {
    pub(crate) fn new(id: InstanceId, cfg: InstanceConfig, group: Option<usize>) -> Self {
        let track_states = vec![TrackState::Up; cfg.tracks.len()];
        Self {
            id,
            base_priority: cfg.priority,
            effective_priority: cfg.priority,
            cfg,
            group,
            state: State::Init,
            track_states,
            fault: false,
            stats: Stats::default(),
            last_transition: None,
        }
    }

    /// Its id.
    pub fn id(&self) -> InstanceId {
        self.id
    }
    /// Its (validated) configuration.
    pub fn config(&self) -> &InstanceConfig {
        &self.cfg
    }
    /// Its state.
    pub fn state(&self) -> &State {
        &self.state
    }
    /// The priority it advertises now (tracking applied).
    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }
    /// Whether a fault condition (interface, unweighted track) holds.
    pub fn has_fault(&self) -> bool {
        self.fault
    }
    /// Its counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    /// Its last state change, if any.
    pub fn last_transition(&self) -> Option<&Transition> {
        self.last_transition.as_ref()
    }
    /// The master as this instance knows it: itself (source address, effective priority)
    /// in MASTER, the master last heard in BACKUP, nobody otherwise.
    pub fn master(&self) -> Option<PeerInfo> {
        match &self.state {
            State::Master(_) => Some(PeerInfo {
                addr: self.cfg.src_addr,
                priority: self.effective_priority,
            }),
            State::Backup(b) => b.master,
            State::Init | State::Fault => None,
        }
    }
    /// Index of its sync group in the configuration.
    pub fn sync_group(&self) -> Option<usize> {
        self.group
    }

    /// Recomputes (fault, effective priority) from links and tracks (keepalived's
    /// `total_priority`, clamped to 1..=254; the owner stays at 255: validation has set its
    /// weights to 0).
    pub(crate) fn evaluate(&self, link_up: &dyn Fn(IfaceId) -> bool) -> (bool, u8) {
        let mut fault = false;
        let mut delta: i64 = 0;
        if !self.cfg.dont_track_primary && !link_up(self.cfg.interface) {
            fault = true;
        }
        // (fault, delta) of an up/down object with a weight.
        let apply = |weight: i32, reverse: bool, up: bool| -> (bool, i64) {
            let up = up != reverse;
            let w = i64::from(weight);
            if w == 0 {
                (!up, 0)
            } else if (w > 0 && up) || (w < 0 && !up) {
                (false, w)
            } else {
                (false, 0)
            }
        };
        for t in &self.cfg.track_interfaces {
            let (f, d) = apply(t.weight, t.reverse, link_up(t.iface));
            fault |= f;
            delta += d;
        }
        for (t, st) in self.cfg.tracks.iter().zip(&self.track_states) {
            match st {
                TrackState::Up | TrackState::Down => {
                    let (f, d) = apply(t.weight, t.reverse, *st == TrackState::Up);
                    fault |= f;
                    delta += d;
                }
                TrackState::Value(v) => {
                    let (f, d) = file_value(t, *v);
                    fault |= f;
                    delta += d;
                }
            }
        }
        let eff = if self.cfg.priority == 255 && self.base_priority == 255 {
            255
        } else {
            let p = i64::from(self.base_priority) + delta;
            // clamp 1..=254; the result fits in u8.
            u8::try_from(p.clamp(1, 254)).unwrap_or(1)
        };
        (fault, eff)
    }
}

/// `track_file` semantics (keepalived.conf(5)).
fn file_value(t: &TrackConfig, v: i64) -> (bool, i64) {
    if t.weight == 0 {
        return ((v != 0) != t.reverse, 0);
    }
    let r = v.saturating_mul(i64::from(t.weight));
    let r = if t.reverse { r.saturating_neg() } else { r };
    if r < -253 {
        (true, 0)
    } else {
        (false, r.min(253))
    }
}
