//! The [`Router`]: instances, sync groups, inputs and output queues.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::net::IpAddr;

use ka_model::{Centisecs, VrrpVersion};
use ka_wire::vrrp::{Auth, Version, VrrpPacket};
use serde::{Deserialize, Serialize};

use crate::config::{AuthConfig, ConfigError, Family, IfaceId, RouterConfig, TrackId, VipConfig};
use crate::instance::{BackupState, Instance, MasterState, PeerInfo, State, TrackState};
use crate::output::{Action, DropReason, Event, InstanceId, StateKind, TransitionReason, Transmit};
use crate::time::{master_down_interval_us, skew_time_us, Instant, MICROS_PER_CS};

/// TTL / hop limit of VRRP packets (RFC 5798 section 5.1.1.3, 5.1.2.3).
pub const VRRP_TTL: u8 = 255;
/// Hop limit keepalived 2.2.7 leaves on IPv6 unicast adverts (kernel default).
pub const IPV6_UNICAST_HOP_LIMIT: u8 = 64;
/// Bound of the transmit and action queues (oldest entries are dropped beyond it).
pub const MAX_QUEUE: usize = 65_536;
/// Bound of the event queue (oldest events are dropped and counted beyond it).
pub const MAX_EVENTS: usize = 4_096;

mod reload;

pub use reload::ReconfigureReport;

/// Result of the IPsec AH check, done by the I/O layer (it owns the IP header and the key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum AhStatus {
    /// The packet had no AH header (IP protocol 112).
    #[default]
    Absent,
    /// AH present, next header VRRP, ICV verified with the instance's key.
    Valid,
    /// AH present but the ICV (or sequence) did not verify.
    Invalid,
}

/// What the I/O layer knows about a received advert besides the VRRP message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RxMeta {
    /// Receiving interface.
    pub iface: IfaceId,
    /// IP source.
    pub src: IpAddr,
    /// IP destination (multicast group or our unicast address).
    pub dst: IpAddr,
    /// IPv4 TTL / IPv6 hop limit, if known (IPv6 needs IPV6_RECVHOPLIMIT).
    pub ttl: Option<u8>,
    /// AH verification result (VRRPv2 over IPv4 only).
    pub ah: AhStatus,
    /// Whether the VRRP checksum verified (v3: with the pseudo-header).
    pub checksum_ok: bool,
}

impl RxMeta {
    /// A well-formed multicast reception: TTL 255, checksum good, no AH.
    pub fn multicast(iface: IfaceId, src: IpAddr) -> Self {
        let dst = match src {
            IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::new(224, 0, 0, 18)),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
        };
        Self {
            iface,
            src,
            dst,
            ttl: Some(VRRP_TTL),
            ah: AhStatus::Absent,
            checksum_ok: true,
        }
    }
}

/// Every input as one serialisable value, for recording and replaying a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// [`Router::start`].
    Start,
    /// [`Router::shutdown`].
    Shutdown,
    /// [`Router::handle_timeout`].
    Timeout,
    /// [`Router::handle_packet`].
    Packet(RxMeta, VrrpPacket),
    /// [`Router::handle_link`].
    Link(IfaceId, bool),
    /// [`Router::handle_track`].
    Track(TrackId, TrackState),
    /// [`Router::reconfigure`] (a configuration the router refuses leaves it untouched).
    Reconfigure(RouterConfig),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Group {
    name: String,
    members: Vec<usize>,
}

/// The sans-IO VRRP engine: all instances of one host (see the crate docs for the call order).
///
/// `Clone` gives an exact copy (a simulator can fork a run); [`Router::new`] with the same
/// configuration re-creates a router after a simulated crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Router {
    instances: Vec<Instance>,
    groups: Vec<Group>,
    group_states: Vec<StateKind>,
    links: Vec<(IfaceId, bool)>,
    transmits: VecDeque<Transmit>,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    events_lost: u64,
    unmatched: [u64; DropReason::ALL.len()],
    running: bool,
    /// The id the next instance added by [`Router::reconfigure`] gets (ids are never reused).
    next_id: u32,
    /// Instances the last [`Router::reconfigure`] removed: their last outputs still name them.
    retired: Vec<(InstanceId, String)>,
    /// The `now` of the latest input (stamps [`crate::Transition`]s).
    #[serde(default)]
    now: Instant,
}

impl Router {
    /// Validates `config` (see [`RouterConfig::validate`]) and builds a router in INIT.
    pub fn new(config: RouterConfig) -> Result<Self, ConfigError> {
        let config = config.validate()?;
        let groups = build_groups(&config);
        let next_id = u32::try_from(config.instances.len()).unwrap_or(u32::MAX);
        let instances = config
            .instances
            .into_iter()
            .enumerate()
            .map(|(n, cfg)| {
                let group = groups.iter().position(|g| g.members.contains(&n));
                Instance::new(InstanceId(u32::try_from(n).unwrap_or(u32::MAX)), cfg, group)
            })
            .collect();
        Ok(Self {
            instances,
            group_states: vec![StateKind::Init; groups.len()],
            groups,
            links: Vec::new(),
            transmits: VecDeque::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            events_lost: 0,
            unmatched: [0; DropReason::ALL.len()],
            running: false,
            next_id,
            retired: Vec::new(),
            now: Instant::ZERO,
        })
    }

    // ----------------------------------------------------------------- accessors

    /// All instances, in configuration order.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }
    /// One instance (ids are positions until [`Router::reconfigure`] adds or removes one;
    /// an instance keeps its id for its whole life).
    pub fn instance(&self, id: InstanceId) -> Option<&Instance> {
        match self.instances.get(id.0 as usize) {
            Some(i) if i.id == id => Some(i),
            _ => self.instances.iter().find(|i| i.id == id),
        }
    }
    /// The name of an instance, also of one the last [`Router::reconfigure`] removed (its
    /// priority 0 advert, address removals and INIT transition still name it).
    pub fn instance_name(&self, id: InstanceId) -> Option<&str> {
        self.instance(id).map(|i| i.cfg.name.as_str()).or_else(|| {
            self.retired
                .iter()
                .find(|(r, _)| *r == id)
                .map(|(_, n)| n.as_str())
        })
    }
    /// Whether [`Router::start`] has run (and [`Router::shutdown`] not since).
    pub fn is_running(&self) -> bool {
        self.running
    }
    /// An instance by name.
    pub fn instance_by_name(&self, name: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.cfg.name == name)
    }
    /// Name of sync group `n`.
    pub fn sync_group_name(&self, n: usize) -> Option<&str> {
        self.groups.get(n).map(|g| g.name.as_str())
    }
    /// Number of sync groups.
    pub fn sync_group_count(&self) -> usize {
        self.groups.len()
    }
    /// State of sync group `n` (see [`Event::SyncGroupChange`]).
    pub fn sync_group_state(&self, n: usize) -> Option<StateKind> {
        self.group_states.get(n).copied()
    }
    /// Drops of adverts that matched no instance ([`DropReason::NoInstance`],
    /// [`DropReason::VridZero`]).
    pub fn unmatched_drops(&self, reason: DropReason) -> u64 {
        self.unmatched.get(reason.index()).copied().unwrap_or(0)
    }

    // ----------------------------------------------------------------- outputs

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }
    /// The next change to the host (apply in order, before sending the transmits queued with it).
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }
    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events_lost > 0 {
            let count = std::mem::take(&mut self.events_lost);
            return Some(Event::EventsLost { count });
        }
        self.events.pop_front()
    }
    /// The earliest deadline; call [`Router::handle_timeout`] once it has passed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.instances
            .iter()
            .filter_map(|i| match &i.state {
                State::Backup(b) if !b.wants_master => Some(b.master_down_at),
                State::Master(m) => [
                    Some(m.advert_at),
                    m.garp_delayed_at,
                    m.garp_refresh_at,
                    m.garp_lower_prio_at,
                ]
                .into_iter()
                .flatten()
                .min(),
                _ => None,
            })
            .min()
    }

    // ----------------------------------------------------------------- inputs

    /// Dispatches a recorded [`Input`].
    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::Start => self.start(now),
            Input::Shutdown => self.shutdown(now),
            Input::Timeout => self.handle_timeout(now),
            Input::Packet(meta, pkt) => self.handle_packet(now, &meta, &pkt),
            Input::Link(iface, up) => self.handle_link(now, iface, up),
            Input::Track(id, st) => self.handle_track(now, &id, st),
            Input::Reconfigure(cfg) => {
                let _ = self.reconfigure(now, cfg);
            }
        }
    }

    /// Starts every instance (RFC 5798 section 6.4.1): FAULT if a fault holds; MASTER at once
    /// for the address owner or `state MASTER` (keepalived: a 1 us down timer); otherwise
    /// BACKUP with Master_Down_Timer = Master_Down_Interval.
    pub fn start(&mut self, now: Instant) {
        self.now = now;
        if self.running {
            return;
        }
        self.running = true;
        self.refresh_tracking(now, false);
        let group_fault = self.group_faults();
        for n in 0..self.instances.len() {
            self.start_instance(n, now, &group_fault);
        }
        self.handle_timeout(now);
        self.update_groups();
    }

    /// Starts instance `n` as [`Router::start`] does (RFC 5798 section 6.4.1).
    pub(crate) fn start_instance(&mut self, n: usize, now: Instant, group_fault: &[bool]) {
        let Some(inst) = self.instances.get(n) else {
            return;
        };
        let in_fault = inst.fault
            || inst
                .group
                .is_some_and(|g| group_fault.get(g) == Some(&true));
        let as_master = inst.effective_priority == 255
            || inst.cfg.initial_state == crate::config::InitialState::Master;
        let grouped = inst.group.is_some();
        if in_fault {
            self.set_state(n, State::Fault, TransitionReason::FaultDetected);
        } else if as_master && !grouped {
            self.become_master(n, now, TransitionReason::StartupAsMaster);
        } else {
            let down_at = if as_master {
                now
            } else {
                self.down_at(n, now, None)
            };
            self.enter_backup(n, down_at, None, TransitionReason::Startup);
        }
    }

    /// Stops every instance: a master sends one priority 0 advert (RFC 5798 section 6.4.3,
    /// "Shutdown event") and removes its addresses; all go to INIT.
    pub fn shutdown(&mut self, now: Instant) {
        self.now = now;
        let _ = now;
        for n in 0..self.instances.len() {
            let kind = self.instances.get(n).map(|i| i.state.kind());
            if kind == Some(StateKind::Master) {
                self.leave_master(n, true);
            }
            if kind != Some(StateKind::Init) {
                self.set_state(n, State::Init, TransitionReason::Shutdown);
            }
        }
        self.running = false;
        self.update_groups();
    }

    /// Fires every deadline at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        // Each firing moves its deadline past `now`; a few passes settle sync groups.
        for _ in 0..4 {
            let mut fired = false;
            for n in 0..self.instances.len() {
                fired |= self.instance_timeout(n, now);
            }
            if !fired {
                break;
            }
        }
        self.update_groups();
    }

    /// A link changed state (the instance's own interface going down means FAULT unless
    /// `dont_track_primary`; tracked interfaces move the priority or cause FAULT).
    pub fn handle_link(&mut self, now: Instant, iface: IfaceId, up: bool) {
        self.now = now;
        match self.links.iter_mut().find(|(i, _)| *i == iface) {
            Some(l) => l.1 = up,
            None => self.links.push((iface, up)),
        }
        self.refresh_tracking(now, true);
        self.update_groups();
    }

    /// A tracked object changed state.
    pub fn handle_track(&mut self, now: Instant, id: &TrackId, state: TrackState) {
        self.now = now;
        for inst in &mut self.instances {
            for (t, st) in inst.cfg.tracks.iter().zip(inst.track_states.iter_mut()) {
                if &t.id == id {
                    *st = state;
                }
            }
        }
        self.refresh_tracking(now, true);
        self.update_groups();
    }

    /// A received advert (RFC 5798 section 7.1 checks, then section 6.4.2 / 6.4.3).
    pub fn handle_packet(&mut self, now: Instant, meta: &RxMeta, pkt: &VrrpPacket) {
        self.now = now;
        if pkt.vrid == 0 {
            self.drop_unmatched(meta.src, DropReason::VridZero);
            return;
        }
        let family = Family::of(&meta.src);
        let Some(n) = self.instances.iter().position(|i| {
            i.cfg.interface == meta.iface && i.cfg.vrid.get() == pkt.vrid && i.cfg.family == family
        }) else {
            self.drop_unmatched(meta.src, DropReason::NoInstance);
            return;
        };
        let kind = self.instances.get(n).map(|i| i.state.kind());
        if !matches!(kind, Some(StateKind::Backup | StateKind::Master)) {
            self.drop_packet(n, meta.src, DropReason::NotRunning);
            return;
        }
        let check_addr = match self.instances.get(n).map(|i| (&i.state, &i.cfg)) {
            Some((State::Backup(b), cfg)) => {
                !cfg.skip_check_adv_addr || b.master.map(|m| m.addr) != Some(meta.src)
            }
            _ => true,
        };
        if let Err(reason) = self.check_packet(n, meta, pkt, check_addr) {
            self.drop_packet(n, meta.src, reason);
            return;
        }
        match kind {
            Some(StateKind::Backup) => self.backup_rx(n, now, meta, pkt),
            Some(StateKind::Master) => self.master_rx(n, now, meta, pkt),
            _ => {}
        }
        self.update_groups();
    }

    // ----------------------------------------------------------------- packet checks

    /// keepalived's `vrrp_check_packet`, in its order.
    fn check_packet(
        &mut self,
        n: usize,
        meta: &RxMeta,
        pkt: &VrrpPacket,
        check_addr: bool,
    ) -> Result<(), DropReason> {
        let Some(inst) = self.instances.get_mut(n) else {
            return Err(DropReason::NoInstance);
        };
        let cfg = &inst.cfg;
        let v2 = cfg.version == VrrpVersion::V2;
        // RFC 3768 section 7.1 / keepalived: AH present iff auth_type AH.
        if v2
            && cfg.family == Family::V4
            && (meta.ah != AhStatus::Absent) != matches!(cfg.auth, AuthConfig::Ah(_))
        {
            return Err(DropReason::AuthTypeMismatch);
        }
        // RFC 5798 section 7.1: TTL/hop limit MUST be 255. keepalived checks only when it
        // has no unicast peers (its own IPv6 unicast adverts carry hop limit 64).
        if cfg.unicast_peers.is_empty() && meta.ttl.is_some_and(|t| t != VRRP_TTL) {
            return Err(DropReason::Ttl);
        }
        // RFC 5798 section 7.1: MUST verify the version.
        let version_ok = matches!(
            (pkt.version, cfg.version),
            (Version::V2, VrrpVersion::V2) | (Version::V3, VrrpVersion::V3)
        );
        if !version_ok {
            return Err(DropReason::Version);
        }
        if v2 {
            // RFC 3768 section 7.1: MUST perform the authentication of Auth Type.
            match (&pkt.auth, &cfg.auth) {
                // Type 0 with non-zero data decodes as Unknown { kind: 0 }; keepalived
                // only looks at the type.
                (Auth::None | Auth::Unknown { kind: 0, .. }, AuthConfig::None) => {}
                (Auth::Unknown { kind, .. }, _) if *kind > 2 => {
                    return Err(DropReason::InvalidAuthType)
                }
                (Auth::SimplePassword(got), AuthConfig::Pass(want)) => {
                    if !constant_time_eq(got, want) {
                        return Err(DropReason::AuthFailure);
                    }
                }
                (Auth::Ah(_), AuthConfig::Ah(_)) => {
                    if meta.ah != AhStatus::Valid {
                        return Err(DropReason::AuthFailure);
                    }
                }
                _ => return Err(DropReason::AuthTypeMismatch),
            }
            // RFC 3768 section 7.1: MUST verify the Adver Interval equals ours.
            if u32::from(pkt.adver_int_cs) != cfg.advert_int.0 {
                return Err(DropReason::IntervalMismatch);
            }
        }
        // RFC 5798 section 7.1: type ADVERTISEMENT.
        if pkt.kind != 1 {
            return Err(DropReason::Type);
        }
        if !meta.checksum_ok {
            return Err(DropReason::Checksum);
        }
        // keepalived: multicast expected iff no unicast peers.
        if meta.dst.is_multicast() != cfg.unicast_peers.is_empty() {
            return Err(DropReason::CastMismatch);
        }
        inst.stats.adverts_rcvd += 1;
        if check_addr {
            // RFC 5798 section 7.1 (MAY) / RFC 3768 section 7.1 (MUST): count and addresses.
            if pkt.addrs.len() != cfg.vips.len() {
                return Err(DropReason::AddrCount);
            }
            if !cfg.vips.iter().all(|v| pkt.addrs.contains(&v.addr)) {
                return Err(DropReason::AddrList);
            }
            if cfg.check_unicast_src
                && !cfg.unicast_peers.is_empty()
                && !cfg.unicast_peers.contains(&meta.src)
            {
                return Err(DropReason::UnicastSrcNotPeer);
            }
        }
        if pkt.priority == 0 {
            inst.stats.pri_zero_rcvd += 1;
        }
        Ok(())
    }

    // ----------------------------------------------------------------- state processing

    /// RFC 5798 section 6.4.2 (Backup receives an ADVERTISEMENT), as keepalived's
    /// `vrrp_state_backup`.
    fn backup_rx(&mut self, n: usize, now: Instant, meta: &RxMeta, pkt: &VrrpPacket) {
        let Some(id) = self.instances.get(n).map(|i| i.id) else {
            return;
        };
        let Some(inst) = self.instances.get_mut(n) else {
            return;
        };
        let version = inst.cfg.version;
        let eff = inst.effective_priority;
        let adverts = inst.cfg.down_timer_adverts;
        let preempt = inst.cfg.preempt;
        let preempt_delay = inst.cfg.preempt_delay;
        let State::Backup(b) = &mut inst.state else {
            return;
        };
        let mut events = Vec::new();
        if pkt.priority == 0 {
            // RFC 5798 section 6.4.2: priority 0 -> Master_Down_Timer = Skew_Time.
            b.master_down_at = now.add_micros(skew_time_us(version, eff, b.master_adver_int));
            b.master = Some(PeerInfo {
                addr: meta.src,
                priority: 0,
            });
            events.push(Event::PriorityZeroReceived {
                instance: id,
                src: meta.src,
            });
        } else if !preempt
            || pkt.priority >= eff
            || (!preempt_delay.is_zero() && b.preempt_at.is_none_or(|t| t > now))
        {
            // RFC 5798 section 6.4.2: Preempt_Mode False or priority >= ours: accept, reset
            // Master_Down_Timer. v3 adopts the master's interval.
            if version == VrrpVersion::V3 {
                let got = Centisecs(u32::from(pkt.adver_int_cs & 0x0fff));
                if got != b.master_adver_int && got.0 > 0 {
                    b.master_adver_int = got;
                    events.push(Event::AdvertIntervalAdopted {
                        instance: id,
                        cs: pkt.adver_int_cs & 0x0fff,
                    });
                }
            }
            b.master_down_at = now.add_micros(master_down_interval_us(
                version,
                eff,
                b.master_adver_int,
                adverts,
            ));
            b.master = Some(PeerInfo {
                addr: meta.src,
                priority: pkt.priority,
            });
            if !preempt_delay.is_zero() {
                if pkt.priority >= eff {
                    b.preempt_at = None;
                } else if b.preempt_at.is_none() {
                    b.preempt_at = Some(now + preempt_delay);
                }
            }
            b.wants_master = false;
        } else {
            // RFC 5798 section 6.4.2: lower priority with preemption: discard; the
            // down timer keeps running and we take over when it fires.
            b.master = Some(PeerInfo {
                addr: meta.src,
                priority: pkt.priority,
            });
        }
        for e in events {
            self.push_event(e);
        }
    }

    /// RFC 5798 section 6.4.3 (Master receives an ADVERTISEMENT), as keepalived's
    /// `vrrp_state_master_rx`.
    fn master_rx(&mut self, n: usize, now: Instant, meta: &RxMeta, pkt: &VrrpPacket) {
        let Some(id) = self.instances.get(n).map(|i| i.id) else {
            return;
        };
        let Some(inst) = self.instances.get(n) else {
            return;
        };
        let mut eff = inst.effective_priority;
        let addr_cmp = meta.src.cmp(&inst.cfg.src_addr);
        let higher_send = inst.cfg.higher_prio_send_advert;
        let theirs_higher =
            |eff: u8| pkt.priority > eff || (pkt.priority == eff && addr_cmp == Ordering::Greater);
        if pkt.priority == 0 || (higher_send && theirs_higher(eff)) {
            // RFC 5798 section 6.4.3: priority 0 -> send an ADVERTISEMENT at once.
            self.send_advert(n, eff);
            if pkt.priority == 0 {
                return;
            }
        }
        if pkt.priority == eff && addr_cmp != Ordering::Equal && eff == 255 {
            // keepalived: two owners -> configuration error, lower ours to 254.
            self.push_event(Event::OwnerConflict {
                instance: id,
                src: meta.src,
            });
            if let Some(inst) = self.instances.get_mut(n) {
                inst.base_priority = 254;
            }
            self.refresh_tracking(now, true);
            eff = self.instances.get(n).map_or(eff, |i| i.effective_priority);
        }
        if pkt.priority < eff || (pkt.priority == eff && addr_cmp == Ordering::Less) {
            // RFC 5798 section 6.4.3: lower priority -> discard; keepalived also sends an
            // advert at once (unless lower_prio_no_advert) to force the election.
            let Some(inst) = self.instances.get(n) else {
                return;
            };
            let no_advert = inst.cfg.lower_prio_no_advert;
            let rep = inst.cfg.garp.lower_prio_repeat;
            let delay = inst
                .cfg
                .garp
                .lower_prio_delay
                .unwrap_or(inst.cfg.garp.master_delay);
            if !no_advert {
                self.send_advert(n, eff);
            }
            if rep > 0 {
                self.send_garps(n, rep);
                if !delay.is_zero() {
                    if let Some(State::Master(m)) = self.instances.get_mut(n).map(|i| &mut i.state)
                    {
                        m.garp_lower_prio_at = Some(now + delay);
                    }
                }
            }
            self.push_event(Event::MasterRxLowerPriority {
                instance: id,
                src: meta.src,
                priority: pkt.priority,
            });
            return;
        }
        if theirs_higher(eff) {
            // RFC 5798 section 6.4.3: higher priority (or equal and higher primary address)
            // -> cancel Adver_Timer, Master_Down_Timer = Master_Down_Interval, BACKUP.
            let Some(inst) = self.instances.get(n) else {
                return;
            };
            let adv = if inst.cfg.version == VrrpVersion::V3 && pkt.adver_int_cs & 0x0fff > 0 {
                Centisecs(u32::from(pkt.adver_int_cs & 0x0fff))
            } else {
                inst.cfg.advert_int
            };
            let peer = PeerInfo {
                addr: meta.src,
                priority: pkt.priority,
            };
            self.leave_master(n, false);
            let down_at = self.down_at(n, now, Some(adv));
            self.enter_backup_with(
                n,
                down_at,
                adv,
                Some(peer),
                TransitionReason::HigherPriorityAdvert,
            );
            // Sync group: every other master member follows.
            for m in self.group_peers(n) {
                if self.instances.get(m).map(|i| i.state.kind()) == Some(StateKind::Master) {
                    self.leave_master(m, false);
                    let down_at = self.down_at(m, now, None);
                    self.enter_backup(m, down_at, None, TransitionReason::SyncGroup);
                }
            }
        }
    }

    /// Timer processing for one instance; true if something fired.
    fn instance_timeout(&mut self, n: usize, now: Instant) -> bool {
        let Some(inst) = self.instances.get_mut(n) else {
            return false;
        };
        match &mut inst.state {
            State::Master(m) => {
                let mut fired = false;
                let adv_us = u64::from(inst.cfg.advert_int.0) * MICROS_PER_CS;
                let mut advert = false;
                let mut garps = 0u32;
                if m.advert_at <= now {
                    // RFC 5798 section 6.4.3: Adver_Timer fires -> send, reset.
                    m.advert_at = now.add_micros(adv_us);
                    advert = true;
                }
                if m.garp_delayed_at.is_some_and(|t| t <= now) {
                    m.garp_delayed_at = None;
                    garps += inst.cfg.garp.master_repeat;
                }
                if m.garp_lower_prio_at.is_some_and(|t| t <= now) {
                    m.garp_lower_prio_at = None;
                    garps += inst.cfg.garp.lower_prio_repeat;
                }
                if let (Some(t), Some(every)) = (m.garp_refresh_at, inst.cfg.garp.master_refresh) {
                    if t <= now {
                        m.garp_refresh_at = Some(now + every);
                        garps += inst.cfg.garp.master_refresh_repeat;
                    }
                }
                let eff = inst.effective_priority;
                if advert {
                    self.send_advert(n, eff);
                    fired = true;
                }
                if garps > 0 {
                    self.send_garps(n, garps);
                    fired = true;
                }
                fired
            }
            State::Backup(b) if !b.wants_master && b.master_down_at <= now => {
                // RFC 5798 section 6.4.2: Master_Down_Timer fires -> MASTER.
                b.wants_master = true;
                self.try_goto_master(n, now);
                true
            }
            _ => false,
        }
    }

    /// keepalived's `vrrp_sync_can_goto_master`: a sync group member becomes master only
    /// when every other member is master or wants to be.
    fn try_goto_master(&mut self, n: usize, now: Instant) {
        let peers = self.group_peers(n);
        let all_want = peers
            .iter()
            .all(|&m| match self.instances.get(m).map(|i| &i.state) {
                Some(State::Master(_)) => true,
                Some(State::Backup(b)) => b.wants_master,
                _ => false,
            });
        if !all_want {
            return;
        }
        self.become_master(n, now, TransitionReason::MasterDown);
        for m in peers {
            if self.instances.get(m).map(|i| i.state.kind()) == Some(StateKind::Backup) {
                self.become_master(m, now, TransitionReason::SyncGroup);
            }
        }
    }

    /// Recomputes priorities and faults after a link or track change; moves instances
    /// (and their sync groups) into and out of FAULT.
    pub(crate) fn refresh_tracking(&mut self, now: Instant, transitions: bool) {
        let links = self.links.clone();
        let link_up = move |i: IfaceId| {
            links
                .iter()
                .find(|(l, _)| *l == i)
                .is_none_or(|(_, up)| *up)
        };
        let mut events = Vec::new();
        for inst in &mut self.instances {
            let (fault, eff) = inst.evaluate(&link_up);
            inst.fault = fault;
            if eff != inst.effective_priority {
                events.push(Event::PriorityChanged {
                    instance: inst.id,
                    from: inst.effective_priority,
                    to: eff,
                });
                inst.effective_priority = eff;
            }
        }
        for e in events {
            self.push_event(e);
        }
        if !transitions || !self.running {
            return;
        }
        let group_fault = self.group_faults();
        for n in 0..self.instances.len() {
            let Some(inst) = self.instances.get(n) else {
                continue;
            };
            let want_fault = inst.fault
                || inst
                    .group
                    .is_some_and(|g| group_fault.get(g) == Some(&true));
            match (inst.state.kind(), want_fault) {
                (StateKind::Master, true) => {
                    // keepalived: leaving MASTER for FAULT sends priority 0.
                    self.leave_master(n, true);
                    self.set_state(n, State::Fault, TransitionReason::FaultDetected);
                }
                (StateKind::Backup, true) => {
                    self.set_state(n, State::Fault, TransitionReason::FaultDetected);
                }
                (StateKind::Fault, false) => {
                    // keepalived try_up_instance / vrrp_state_leave_fault: the owner goes
                    // straight to MASTER (in a sync group: as soon as the group agrees, so
                    // its down timer is due now); others to BACKUP with a full timer.
                    let owner = inst.effective_priority == 255;
                    if owner && inst.group.is_none() {
                        self.become_master(n, now, TransitionReason::FaultCleared);
                    } else {
                        let down_at = if owner {
                            now
                        } else {
                            self.down_at(n, now, None)
                        };
                        self.enter_backup(n, down_at, None, TransitionReason::FaultCleared);
                    }
                }
                _ => {}
            }
        }
    }

    // ----------------------------------------------------------------- transitions

    pub(crate) fn become_master(&mut self, n: usize, now: Instant, reason: TransitionReason) {
        let Some(inst) = self.instances.get_mut(n) else {
            return;
        };
        inst.stats.become_master += 1;
        let adv_us = u64::from(inst.cfg.advert_int.0) * MICROS_PER_CS;
        let garp = inst.cfg.garp.clone();
        let id = inst.id;
        let accept = inst.cfg.accept_mode();
        let cfg = inst.cfg.clone();
        let eff = inst.effective_priority;
        self.set_state(
            n,
            State::Master(MasterState {
                advert_at: now.add_micros(adv_us),
                garp_delayed_at: (!garp.master_delay.is_zero() && garp.master_repeat > 0)
                    .then(|| now + garp.master_delay),
                garp_refresh_at: garp
                    .master_refresh
                    .filter(|d| !d.is_zero())
                    .map(|d| now + d),
                garp_lower_prio_at: None,
            }),
            reason,
        );
        // RFC 5798 section 6.4.1/6.4.2: send an ADVERTISEMENT, then (after the addresses are
        // in place) gratuitous ARPs / unsolicited NAs for each virtual address.
        self.send_advert(n, eff);
        let all: Vec<&VipConfig> = cfg.vips.iter().chain(cfg.excluded_vips.iter()).collect();
        if !accept && !all.is_empty() {
            self.push_action(Action::BlockAddresses {
                instance: id,
                addrs: all.iter().map(|v| v.addr).collect(),
            });
        }
        for v in &all {
            self.push_action(Action::AddAddress {
                instance: id,
                iface: v.iface.unwrap_or(cfg.interface),
                addr: v.addr,
                prefix_len: v.prefix_len,
            });
        }
        for r in &cfg.virtual_routes {
            self.push_action(Action::AddRoute {
                instance: id,
                route: r.clone(),
            });
        }
        for r in &cfg.virtual_rules {
            self.push_action(Action::AddRule {
                instance: id,
                rule: r.clone(),
            });
        }
        if garp.master_repeat > 0 {
            self.send_garps(n, garp.master_repeat);
        }
    }

    /// Removes what MASTER installed; `prio0` sends a priority 0 advert first.
    pub(crate) fn leave_master(&mut self, n: usize, prio0: bool) {
        if prio0 {
            self.send_advert(n, 0);
        }
        let Some(inst) = self.instances.get_mut(n) else {
            return;
        };
        inst.stats.release_master += 1;
        let id = inst.id;
        let cfg = inst.cfg.clone();
        let accept = cfg.accept_mode();
        for r in &cfg.virtual_rules {
            self.push_action(Action::RemoveRule {
                instance: id,
                rule: r.clone(),
            });
        }
        for r in &cfg.virtual_routes {
            self.push_action(Action::RemoveRoute {
                instance: id,
                route: r.clone(),
            });
        }
        let all: Vec<&VipConfig> = cfg.vips.iter().chain(cfg.excluded_vips.iter()).collect();
        for v in &all {
            self.push_action(Action::RemoveAddress {
                instance: id,
                iface: v.iface.unwrap_or(cfg.interface),
                addr: v.addr,
                prefix_len: v.prefix_len,
            });
        }
        if !accept && !all.is_empty() {
            self.push_action(Action::UnblockAddresses {
                instance: id,
                addrs: all.iter().map(|v| v.addr).collect(),
            });
        }
    }

    pub(crate) fn enter_backup(
        &mut self,
        n: usize,
        down_at: Instant,
        master: Option<PeerInfo>,
        reason: TransitionReason,
    ) {
        let adv = self
            .instances
            .get(n)
            .map_or(Centisecs(100), |i| i.cfg.advert_int);
        self.enter_backup_with(n, down_at, adv, master, reason);
    }

    pub(crate) fn enter_backup_with(
        &mut self,
        n: usize,
        down_at: Instant,
        master_adver_int: Centisecs,
        master: Option<PeerInfo>,
        reason: TransitionReason,
    ) {
        self.set_state(
            n,
            State::Backup(BackupState {
                master_down_at: down_at,
                master_adver_int,
                master,
                preempt_at: None,
                wants_master: false,
            }),
            reason,
        );
    }

    /// `now + Master_Down_Interval` for instance `n` (with `adv` or its own interval).
    pub(crate) fn down_at(&self, n: usize, now: Instant, adv: Option<Centisecs>) -> Instant {
        let Some(inst) = self.instances.get(n) else {
            return now;
        };
        let adv = adv.unwrap_or(inst.cfg.advert_int);
        now.add_micros(master_down_interval_us(
            inst.cfg.version,
            inst.effective_priority,
            adv,
            inst.cfg.down_timer_adverts,
        ))
    }

    pub(crate) fn set_state(&mut self, n: usize, state: State, reason: TransitionReason) {
        let Some(inst) = self.instances.get_mut(n) else {
            return;
        };
        let from = inst.state.kind();
        let to = state.kind();
        inst.state = state;
        let id = inst.id;
        if from != to {
            inst.stats.transitions = inst.stats.transitions.saturating_add(1);
            inst.last_transition = Some(crate::instance::Transition {
                at: self.now,
                from,
                to,
                reason,
            });
            self.push_event(Event::StateChange {
                instance: id,
                from,
                to,
                reason,
            });
        }
    }

    // ----------------------------------------------------------------- sending

    /// Queues one advert (one per unicast peer) with `priority`.
    pub(crate) fn send_advert(&mut self, n: usize, priority: u8) {
        let Some(inst) = self.instances.get_mut(n) else {
            return;
        };
        inst.stats.adverts_sent += 1;
        if priority == 0 {
            inst.stats.pri_zero_sent += 1;
        }
        let cfg = &inst.cfg;
        let packet = VrrpPacket {
            version: match cfg.version {
                VrrpVersion::V2 => Version::V2,
                VrrpVersion::V3 => Version::V3,
            },
            kind: 1,
            vrid: cfg.vrid.get(),
            priority,
            adver_int_cs: u16::try_from(cfg.advert_int.0).unwrap_or(u16::MAX),
            reserved: 0,
            checksum: 0,
            addrs: cfg.vips.iter().map(|v| v.addr).collect(),
            auth: match cfg.auth {
                AuthConfig::None => Auth::None,
                AuthConfig::Pass(p) => Auth::SimplePassword(p),
                AuthConfig::Ah(_) => Auth::Ah([0; 8]),
            },
        };
        let id = inst.id;
        let iface = cfg.interface;
        let src = cfg.src_addr;
        let out: Vec<Transmit> = if cfg.unicast_peers.is_empty() {
            vec![Transmit::Advert {
                instance: id,
                iface,
                src,
                dst: cfg.mcast_group(),
                ttl: VRRP_TTL,
                packet,
            }]
        } else {
            cfg.unicast_peers
                .iter()
                .map(|p| Transmit::Advert {
                    instance: id,
                    iface,
                    src,
                    dst: *p,
                    ttl: match p {
                        IpAddr::V4(_) => VRRP_TTL,
                        IpAddr::V6(_) => IPV6_UNICAST_HOP_LIMIT,
                    },
                    packet: packet.clone(),
                })
                .collect()
        };
        for t in out {
            self.push_transmit(t);
        }
    }

    /// Queues `rep` rounds of GARP/NA for every VIP and excluded VIP (keepalived's
    /// `vrrp_send_link_update`).
    pub(crate) fn send_garps(&mut self, n: usize, rep: u32) {
        let Some(inst) = self.instances.get(n) else {
            return;
        };
        let id = inst.id;
        let default_if = inst.cfg.interface;
        let addrs: Vec<(IfaceId, IpAddr)> = inst
            .cfg
            .vips
            .iter()
            .chain(inst.cfg.excluded_vips.iter())
            .map(|v| (v.iface.unwrap_or(default_if), v.addr))
            .collect();
        for _ in 0..rep.min(255) {
            for (iface, addr) in &addrs {
                let t = match addr {
                    IpAddr::V4(a) => Transmit::GratuitousArp {
                        instance: id,
                        iface: *iface,
                        addr: *a,
                    },
                    IpAddr::V6(a) => Transmit::UnsolicitedNa {
                        instance: id,
                        iface: *iface,
                        addr: *a,
                    },
                };
                self.push_transmit(t);
            }
        }
    }

    // ----------------------------------------------------------------- helpers

    fn group_peers(&self, n: usize) -> Vec<usize> {
        self.instances
            .get(n)
            .and_then(|i| i.group)
            .and_then(|g| self.groups.get(g))
            .map(|g| g.members.iter().copied().filter(|&m| m != n).collect())
            .unwrap_or_default()
    }

    /// Emits [`Event::SyncGroupChange`] for groups whose state changed.
    pub(crate) fn update_groups(&mut self) {
        for g in 0..self.groups.len() {
            let Some(group) = self.groups.get(g) else {
                continue;
            };
            let kinds: Vec<StateKind> = group
                .members
                .iter()
                .filter_map(|&m| self.instances.get(m).map(|i| i.state.kind()))
                .collect();
            let Some(old) = self.group_states.get(g).copied() else {
                continue;
            };
            let new = if kinds.contains(&StateKind::Fault) {
                StateKind::Fault
            } else if let Some(first) = kinds.first().filter(|k| kinds.iter().all(|x| x == *k)) {
                *first
            } else {
                old
            };
            if new != old {
                if let Some(s) = self.group_states.get_mut(g) {
                    *s = new;
                }
                self.push_event(Event::SyncGroupChange {
                    group: g,
                    from: old,
                    to: new,
                });
            }
        }
    }

    pub(crate) fn group_faults(&self) -> Vec<bool> {
        self.groups
            .iter()
            .map(|g| {
                g.members
                    .iter()
                    .any(|&m| self.instances.get(m).is_some_and(|i| i.fault))
            })
            .collect()
    }

    fn drop_unmatched(&mut self, src: IpAddr, reason: DropReason) {
        if let Some(c) = self.unmatched.get_mut(reason.index()) {
            *c = c.saturating_add(1);
        }
        self.push_event(Event::AdvertDropped {
            instance: None,
            src,
            reason,
        });
    }

    fn drop_packet(&mut self, n: usize, src: IpAddr, reason: DropReason) {
        let Some(inst) = self.instances.get_mut(n) else {
            return;
        };
        inst.stats.count_drop(reason);
        let id = inst.id;
        self.push_event(Event::AdvertDropped {
            instance: Some(id),
            src,
            reason,
        });
    }

    pub(crate) fn push_transmit(&mut self, t: Transmit) {
        if self.transmits.len() >= MAX_QUEUE {
            self.transmits.pop_front();
        }
        self.transmits.push_back(t);
    }

    pub(crate) fn push_action(&mut self, a: Action) {
        if self.actions.len() >= MAX_QUEUE {
            self.actions.pop_front();
        }
        self.actions.push_back(a);
    }

    pub(crate) fn push_event(&mut self, e: Event) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
            self.events_lost = self.events_lost.saturating_add(1);
        }
        self.events.push_back(e);
    }
}

/// The sync groups of a validated configuration, members by position.
fn build_groups(config: &RouterConfig) -> Vec<Group> {
    config
        .sync_groups
        .iter()
        .map(|g| Group {
            name: g.name.clone(),
            members: g
                .members
                .iter()
                .filter_map(|m| config.instances.iter().position(|i| &i.name == m))
                .collect(),
        })
        .collect()
}

/// Compares passwords without an early exit (keepalived's `memcmp_constant_time`).
fn constant_time_eq(a: &[u8; 8], b: &[u8; 8]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
