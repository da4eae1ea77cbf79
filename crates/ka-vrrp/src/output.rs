//! What the engine asks the outside world to do, and what it reports.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ka_wire::vrrp::VrrpPacket;
use serde::{Deserialize, Serialize};

use crate::config::IfaceId;

/// Index of an instance inside its [`crate::Router`] (its position in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InstanceId(pub u32);

/// A packet to put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transmit {
    /// A VRRP advertisement, to be wrapped in an IP header by the I/O layer.
    Advert {
        /// Sending instance.
        instance: InstanceId,
        /// Interface to send on.
        iface: IfaceId,
        /// IP source address.
        src: IpAddr,
        /// IP destination (the multicast group or one unicast peer).
        dst: IpAddr,
        /// IPv4 TTL / IPv6 hop limit: 255 (RFC 5798 section 5.1.1.3), except IPv6 unicast,
        /// where keepalived 2.2.7 leaves the kernel default of 64 (interop vector 2d).
        ttl: u8,
        /// The message. `checksum` is 0: the encoder computes it (v3 needs the pseudo-header
        /// with the actual destination). For `Auth::Ah` the I/O layer adds the AH header.
        packet: VrrpPacket,
    },
    /// A gratuitous ARP request `who-has addr tell addr` (RFC 5798 section 6.4.2, keepalived
    /// sends requests, broadcast).
    GratuitousArp {
        /// Instance it is for.
        instance: InstanceId,
        /// Interface to send on.
        iface: IfaceId,
        /// The virtual address.
        addr: Ipv4Addr,
    },
    /// An unsolicited neighbour advertisement to ff02::1 with the Override flag
    /// (RFC 5798 section 6.4.2, RFC 4861 section 7.2.6).
    UnsolicitedNa {
        /// Instance it is for.
        instance: InstanceId,
        /// Interface to send on.
        iface: IfaceId,
        /// The virtual address (also the target).
        addr: Ipv6Addr,
    },
}

impl Transmit {
    /// What a router on the same link receives from this advert on its interface `iface`
    /// (TTL kept, checksum assumed good, no AH): handy for simulators. `None` for GARP/NA.
    pub fn to_rx(&self, iface: IfaceId) -> Option<(crate::RxMeta, VrrpPacket)> {
        match self {
            Transmit::Advert {
                src,
                dst,
                ttl,
                packet,
                ..
            } => Some((
                crate::RxMeta {
                    iface,
                    src: *src,
                    dst: *dst,
                    ttl: Some(*ttl),
                    ah: crate::AhStatus::Absent,
                    checksum_ok: true,
                },
                packet.clone(),
            )),
            _ => None,
        }
    }

    /// The instance that asked for this transmission.
    pub fn instance(&self) -> InstanceId {
        match self {
            Transmit::Advert { instance, .. }
            | Transmit::GratuitousArp { instance, .. }
            | Transmit::UnsolicitedNa { instance, .. } => *instance,
        }
    }
}

/// A change to the host's network configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Add an address (VIP or excluded VIP).
    AddAddress {
        /// Owning instance.
        instance: InstanceId,
        /// Interface.
        iface: IfaceId,
        /// Address.
        addr: IpAddr,
        /// Prefix length.
        prefix_len: u8,
    },
    /// Remove an address.
    RemoveAddress {
        /// Owning instance.
        instance: InstanceId,
        /// Interface.
        iface: IfaceId,
        /// Address.
        addr: IpAddr,
        /// Prefix length.
        prefix_len: u8,
    },
    /// Install a `virtual_routes` entry (opaque text from the configuration).
    AddRoute {
        /// Owning instance.
        instance: InstanceId,
        /// The route as configured.
        route: String,
    },
    /// Remove a `virtual_routes` entry.
    RemoveRoute {
        /// Owning instance.
        instance: InstanceId,
        /// The route as configured.
        route: String,
    },
    /// Install a `virtual_rules` entry.
    AddRule {
        /// Owning instance.
        instance: InstanceId,
        /// The rule as configured.
        rule: String,
    },
    /// Remove a `virtual_rules` entry.
    RemoveRule {
        /// Owning instance.
        instance: InstanceId,
        /// The rule as configured.
        rule: String,
    },
    /// no_accept mode (RFC 5798 section 6.4.3, Accept_Mode False): drop traffic addressed to
    /// these addresses (keepalived installs firewall rules) while they are installed.
    BlockAddresses {
        /// Owning instance.
        instance: InstanceId,
        /// Addresses.
        addrs: Vec<IpAddr>,
    },
    /// Remove the no_accept block.
    UnblockAddresses {
        /// Owning instance.
        instance: InstanceId,
        /// Addresses.
        addrs: Vec<IpAddr>,
    },
}

/// The protocol states (RFC 5798 section 6.4), plus FAULT (keepalived) and STOPPED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StateKind {
    /// Not started (or stopped by [`crate::Router::shutdown`]).
    Init,
    /// Backup.
    Backup,
    /// Master.
    Master,
    /// keepalived's FAULT: interface or tracked object down; silent.
    Fault,
}

impl std::fmt::Display for StateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StateKind::Init => "INIT",
            StateKind::Backup => "BACKUP",
            StateKind::Master => "MASTER",
            StateKind::Fault => "FAULT",
        })
    }
}

/// Why a state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TransitionReason {
    /// `start`: the normal startup as backup (RFC 5798 section 6.4.1).
    Startup,
    /// Priority 255 or `state MASTER` at startup (RFC 5798 section 6.4.1).
    StartupAsMaster,
    /// Master_Down_Timer fired (RFC 5798 section 6.4.2).
    MasterDown,
    /// A higher priority advert (or equal with a higher address) reached a master
    /// (RFC 5798 section 6.4.3).
    HigherPriorityAdvert,
    /// Another sync group member changed state.
    SyncGroup,
    /// An interface or an unweighted tracked object failed.
    FaultDetected,
    /// Every fault cleared.
    FaultCleared,
    /// `shutdown`.
    Shutdown,
    /// [`crate::Router::reconfigure`]: the instance was removed from the configuration, or a
    /// sync group it joined had to be made consistent.
    Reload,
}

/// Why a received advert was dropped. Each has a per-instance counter (see
/// [`crate::Stats::drops`]); [`DropReason::NoInstance`] is counted by the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DropReason {
    /// No instance for this interface, family and VRID.
    NoInstance,
    /// VRID 0 (RFC 5798 section 5.2.3).
    VridZero,
    /// The instance is not running (INIT or FAULT).
    NotRunning,
    /// Multicast advert with TTL/hop limit != 255 (RFC 5798 section 7.1; keepalived does not
    /// check unicast adverts).
    Ttl,
    /// Version differs from the instance's (RFC 5798 section 7.1).
    Version,
    /// Type is not ADVERTISEMENT (RFC 5798 section 7.1).
    Type,
    /// The checksum did not verify (reported by the I/O layer).
    Checksum,
    /// v2 auth type unknown (RFC 3768 section 7.1).
    InvalidAuthType,
    /// v2 auth type (or AH presence) differs from ours (RFC 3768 section 7.1).
    AuthTypeMismatch,
    /// v2 password or AH ICV wrong (RFC 3768 section 7.1).
    AuthFailure,
    /// v2 Adver Int differs from ours (RFC 3768 section 7.1).
    IntervalMismatch,
    /// Count IPvX Addr differs from our VIP count (keepalived).
    AddrCount,
    /// A VIP of ours is missing from the advert (RFC 5798 section 7.1 MAY).
    AddrList,
    /// Multicast advert to a unicast instance or the reverse (keepalived).
    CastMismatch,
    /// Unicast source not in `unicast_peer` (`vrrp_check_unicast_src`).
    UnicastSrcNotPeer,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 15] = [
        DropReason::NoInstance,
        DropReason::VridZero,
        DropReason::NotRunning,
        DropReason::Ttl,
        DropReason::Version,
        DropReason::Type,
        DropReason::Checksum,
        DropReason::InvalidAuthType,
        DropReason::AuthTypeMismatch,
        DropReason::AuthFailure,
        DropReason::IntervalMismatch,
        DropReason::AddrCount,
        DropReason::AddrList,
        DropReason::CastMismatch,
        DropReason::UnicastSrcNotPeer,
    ];

    /// Position in [`DropReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Typed events for logs, notify scripts, SNMP/metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A state transition.
    StateChange {
        /// Instance.
        instance: InstanceId,
        /// Previous state.
        from: StateKind,
        /// New state.
        to: StateKind,
        /// Why.
        reason: TransitionReason,
    },
    /// An advert was dropped.
    AdvertDropped {
        /// Instance (None: no instance matched).
        instance: Option<InstanceId>,
        /// Sender.
        src: IpAddr,
        /// Why.
        reason: DropReason,
    },
    /// The effective priority changed (tracking).
    PriorityChanged {
        /// Instance.
        instance: InstanceId,
        /// Old effective priority.
        from: u8,
        /// New effective priority.
        to: u8,
    },
    /// A backup adopted the master's advertisement interval (RFC 5798 section 6.4.2).
    AdvertIntervalAdopted {
        /// Instance.
        instance: InstanceId,
        /// The interval now used for Master_Down_Interval, centiseconds.
        cs: u16,
    },
    /// A master heard a lower priority advert (keepalived's notify_master_rx_lower_pri).
    MasterRxLowerPriority {
        /// Instance.
        instance: InstanceId,
        /// Sender.
        src: IpAddr,
        /// Its priority.
        priority: u8,
    },
    /// A backup heard priority 0 from the master (RFC 5798 section 6.4.2).
    PriorityZeroReceived {
        /// Instance.
        instance: InstanceId,
        /// Sender.
        src: IpAddr,
    },
    /// Another router also claims priority 255; ours is lowered to 254 (keepalived).
    OwnerConflict {
        /// Instance.
        instance: InstanceId,
        /// The other owner.
        src: IpAddr,
    },
    /// A sync group's state changed (keepalived's group notify): FAULT if any member is in
    /// FAULT, otherwise MASTER / BACKUP / INIT once every member is in that state.
    SyncGroupChange {
        /// Index of the group in the configuration ([`crate::Router::sync_group_name`]).
        group: usize,
        /// Previous group state.
        from: StateKind,
        /// New group state.
        to: StateKind,
    },
    /// Events were lost because nobody drained the queue.
    EventsLost {
        /// How many.
        count: u64,
    },
}
