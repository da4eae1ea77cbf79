//! The simulator's view of one router: a small trait that the VRRP engine adapter
//! ([`crate::engine`]) and the reference model ([`crate::refnode`]) implement.
//!
//! Times given to a node are its *local* clock in nanoseconds (the simulator applies
//! drift and offset before calling), so a node never sees simulated time directly.

use std::net::IpAddr;

use ka_wire::vrrp::{Version, VrrpPacket};

/// Local time of one node, in nanoseconds since an arbitrary origin.
pub type LocalNanos = u64;

/// The role of one VRRP instance, as the simulator tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Not running (before start, after shutdown).
    Init,
    /// Backup.
    Backup,
    /// Master.
    Master,
    /// Fault (interface down or a tracked object failed).
    Fault,
}

/// Configuration of one VRRP instance in a scenario (engine-neutral).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstSpec {
    /// Virtual router id.
    pub vrid: u8,
    /// Configured priority (255 = address owner).
    pub priority: u8,
    /// Preempt mode (keepalived `nopreempt` when false).
    pub preempt: bool,
    /// keepalived `state MASTER` (start as master without waiting).
    pub init_master: bool,
    /// Advertisement interval in centiseconds.
    pub adver_int_cs: u16,
    /// VRRP version.
    pub version: Version,
    /// Virtual addresses.
    pub vips: Vec<IpAddr>,
    /// Unicast peers; empty means multicast.
    pub unicast_peers: Vec<IpAddr>,
    /// Weight of the node's tracked script for this instance (keepalived `track_script`
    /// `weight`): `None` = not tracked, `Some(0)` = failure means FAULT, negative = added
    /// while down, positive = added while up.
    pub track_weight: Option<i32>,
    /// keepalived `lower_prio_no_advert` (engine-only knob; the reference never answers).
    pub lower_prio_no_advert: bool,
    /// keepalived `higher_prio_send_advert` (engine-only knob).
    pub higher_prio_send_advert: bool,
    /// v2 `auth_type PASS` password (the same on every node; engine-only knob).
    pub password: Option<[u8; 8]>,
}

impl InstSpec {
    /// Effective priority (keepalived: base + weights, clamped to 1..=254; the owner
    /// ignores weights).
    pub fn effective_priority(&self, track_up: bool) -> u8 {
        if self.priority == 255 {
            return 255;
        }
        let delta = match self.track_weight {
            Some(w) if (w > 0 && track_up) || (w < 0 && !track_up) => i64::from(w),
            _ => 0,
        };
        u8::try_from((i64::from(self.priority) + delta).clamp(1, 254)).unwrap_or(1)
    }

    /// True when the tracked script puts this instance in FAULT.
    pub fn track_fault(&self, track_up: bool) -> bool {
        self.track_weight == Some(0) && !track_up
    }
}

/// Configuration of one simulated router.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeSpec {
    /// Index of the node in the scenario.
    pub id: usize,
    /// The node's primary address on the LAN.
    pub ip: IpAddr,
    /// Interface name given to the engine.
    pub ifname: String,
    /// Clock drift in parts per million (local = offset + sim * (1 + drift)).
    pub drift_ppm: i64,
    /// Local clock value at simulated time 0, in nanoseconds.
    pub clock_offset_ns: u64,
    /// One instance per VRID of the scenario.
    pub instances: Vec<InstSpec>,
    /// All instances form one `vrrp_sync_group` (they move together).
    pub sync_group: bool,
}

/// Something a node produced in reaction to an input.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// An instance changed role.
    Role {
        /// The instance's VRID.
        vrid: u8,
        /// The new role.
        role: Role,
        /// Why, as the engine said it.
        reason: String,
    },
    /// An advertisement to send.
    Advert {
        /// Destination address (multicast group or a unicast peer).
        dst: IpAddr,
        /// IPv4 TTL / IPv6 hop limit.
        ttl: u8,
        /// The message.
        pkt: VrrpPacket,
    },
    /// A virtual address was installed (`add`) or removed.
    Vip {
        /// The instance's VRID.
        vrid: u8,
        /// Installed or removed.
        add: bool,
    },
    /// The node cannot run (for example its configuration was refused).
    Error(String),
    /// Anything else worth a trace line (gratuitous ARP, VIP add/remove, ...).
    Note(String),
}

/// A router under simulation.
pub trait Node {
    /// Starts all instances.
    fn start(&mut self, now: LocalNanos);
    /// A VRRP packet arrived (`src` is the IP source, `dst` the IP destination).
    fn handle_packet(
        &mut self,
        now: LocalNanos,
        src: IpAddr,
        dst: IpAddr,
        ttl: u8,
        pkt: &VrrpPacket,
    );
    /// The earliest deadline passed (or any time at or after [`Node::poll_timeout`]).
    fn handle_timeout(&mut self, now: LocalNanos);
    /// The interface went up or down (may be called before [`Node::start`]).
    fn handle_link(&mut self, now: LocalNanos, up: bool);
    /// The node's tracked script changed (may be called before [`Node::start`]).
    fn handle_track(&mut self, now: LocalNanos, up: bool);
    /// Graceful stop (masters send priority 0).
    fn shutdown(&mut self, now: LocalNanos);
    /// The earliest deadline, in local time.
    fn poll_timeout(&mut self) -> Option<LocalNanos>;
    /// Moves everything produced so far into `out`, role changes first.
    fn drain(&mut self, out: &mut Vec<Output>);
}

/// Builds a node from its configuration (called at start and at every restart).
pub type NodeFactory = dyn Fn(&NodeSpec) -> Box<dyn Node>;
