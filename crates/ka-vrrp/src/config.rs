//! The engine's own configuration: plain data, mapped from keepalived.conf by the daemon.
//!
//! [`RouterConfig::validate`] checks the values and applies keepalived's silent
//! adjustments (for example "nopreempt is incompatible with priority 255 - resetting").

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ka_model::{Centisecs, Vrid, VrrpVersion};
use serde::{Deserialize, Serialize};

/// An interface, named by an opaque number (an ifindex in the daemon, anything in a simulator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IfaceId(pub u32);

/// A tracked object (script, file, process, BFD, ...), named as the daemon likes,
/// for example `"script:chk_haproxy"`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TrackId(pub String);

/// Address family of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    /// IPv4 (protocol 112 over IPv4).
    V4,
    /// IPv6 (next header 112 over IPv6).
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// The configured `state` keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum InitialState {
    /// `state BACKUP` (keepalived's default): wait Master_Down_Interval.
    #[default]
    Backup,
    /// `state MASTER`: keepalived becomes master at once (1 us down timer).
    Master,
}

/// VRRPv2 authentication (RFC 3768 section 5.3.6, 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum AuthConfig {
    /// No authentication (type 0).
    #[default]
    None,
    /// `auth_type PASS`: up to 8 bytes of clear text, zero padded (type 1).
    Pass([u8; 8]),
    /// `auth_type AH`: IPsec AH with HMAC-MD5-96 keyed by these bytes (type 2). The HMAC itself
    /// is computed/verified by the I/O layer, which reports the result in
    /// [`crate::RxMeta::ah`].
    Ah([u8; 8]),
}

impl AuthConfig {
    /// Pads a password to the 8 bytes carried on the wire (keepalived truncates longer ones).
    pub fn pad(pass: &[u8]) -> [u8; 8] {
        let mut out = [0u8; 8];
        for (o, b) in out.iter_mut().zip(pass) {
            *o = *b;
        }
        out
    }
}

/// A virtual (or excluded virtual) address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VipConfig {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length (keepalived's default is /32 or /128).
    pub prefix_len: u8,
    /// Interface to put it on (`dev`); `None` = the instance's interface.
    pub iface: Option<IfaceId>,
}

impl VipConfig {
    /// A host address on the instance's interface.
    pub fn host(addr: IpAddr) -> Self {
        let prefix_len = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        Self {
            addr,
            prefix_len,
            iface: None,
        }
    }
}

/// A tracked object and how it moves the priority (`track_script`, `track_file`,
/// `track_process`, `track_bfd`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TrackConfig {
    /// What is tracked.
    pub id: TrackId,
    /// 0 = unweighted (a failure puts the instance in FAULT); otherwise the priority delta
    /// (keepalived: positive weights apply while up, negative ones while down). Set to 0 by
    /// validation for the address owner and for sync group members (keepalived).
    pub weight: i32,
    /// `reverse`: the up/down sense of the object is inverted.
    pub reverse: bool,
}

/// A tracked interface (`track_interface`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TrackIfConfig {
    /// The interface.
    pub iface: IfaceId,
    /// 0 = interface down means FAULT; otherwise a priority delta as for [`TrackConfig`].
    pub weight: i32,
    /// Inverted sense.
    pub reverse: bool,
}

/// Gratuitous ARP / unsolicited NA schedule (keepalived's `garp_*` keywords).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GarpConfig {
    /// `garp_master_delay`: delay of the second burst after becoming master (default 5 s;
    /// zero = no second burst).
    pub master_delay: Duration,
    /// `garp_master_repeat`: messages per address per burst (default 5).
    pub master_repeat: u32,
    /// `garp_master_refresh`: periodic refresh while master (default off).
    pub master_refresh: Option<Duration>,
    /// `garp_master_refresh_repeat` (default 1).
    pub master_refresh_repeat: u32,
    /// `garp_lower_prio_repeat`: burst sent when a master hears a lower priority advert
    /// (default 0 = none).
    pub lower_prio_repeat: u32,
    /// `garp_lower_prio_delay` (default: `master_delay`).
    pub lower_prio_delay: Option<Duration>,
}

impl Default for GarpConfig {
    fn default() -> Self {
        Self {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: None,
            master_refresh_repeat: 1,
            lower_prio_repeat: 0,
            lower_prio_delay: None,
        }
    }
}

/// One `vrrp_instance`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InstanceConfig {
    /// Instance name (`vrrp_instance NAME`), unique.
    pub name: String,
    /// `virtual_router_id`.
    pub vrid: Vrid,
    /// `version`; a v2 instance with IPv6 addresses runs as v3 (keepalived does so silently).
    pub version: VrrpVersion,
    /// `interface`.
    pub interface: IfaceId,
    /// Address family of the adverts and VIPs.
    pub family: Family,
    /// `priority` 1..=255 (255 = address owner).
    pub priority: u8,
    /// `state`.
    pub initial_state: InitialState,
    /// `advert_int` in centiseconds (v2: whole seconds are sent; it is rounded like keepalived).
    pub advert_int: Centisecs,
    /// `true` unless `nopreempt`.
    pub preempt: bool,
    /// `preempt_delay` (0 = none).
    pub preempt_delay: Duration,
    /// `accept` / `no_accept`; `None` = keepalived's default (strict: accept only for the
    /// owner; otherwise accept).
    pub accept: Option<bool>,
    /// `vrrp_strict` (global or per instance).
    pub strict: bool,
    /// The primary address adverts are sent from: `unicast_src_ip`, or the interface's
    /// address (IPv6: its link-local address). Used for the RFC 5798 section 6.4.3
    /// equal-priority tie-break.
    pub src_addr: IpAddr,
    /// `unicast_peer` list; empty = multicast.
    pub unicast_peers: Vec<IpAddr>,
    /// `vrrp_check_unicast_src`: drop unicast adverts not from a listed peer.
    pub check_unicast_src: bool,
    /// `mcast_dst_ip`; `None` = 224.0.0.18 / ff02::12.
    pub mcast_group: Option<IpAddr>,
    /// `authentication` (v2 only).
    pub auth: AuthConfig,
    /// `virtual_ipaddress` (carried in adverts).
    pub vips: Vec<VipConfig>,
    /// `virtual_ipaddress_excluded` (installed, not advertised).
    pub excluded_vips: Vec<VipConfig>,
    /// `virtual_routes`, opaque to the engine (the daemon parses them).
    pub virtual_routes: Vec<String>,
    /// `virtual_rules`, opaque to the engine.
    pub virtual_rules: Vec<String>,
    /// `track_script`, `track_file`, `track_process`, `track_bfd`.
    pub tracks: Vec<TrackConfig>,
    /// `track_interface`.
    pub track_interfaces: Vec<TrackIfConfig>,
    /// `dont_track_primary`: the instance's own interface going down does not cause FAULT.
    pub dont_track_primary: bool,
    /// GARP / NA schedule.
    pub garp: GarpConfig,
    /// `lower_prio_no_advert`: a master does not answer a lower priority advert.
    pub lower_prio_no_advert: bool,
    /// `higher_prio_send_advert`: a master sends one advert before yielding to a higher one.
    pub higher_prio_send_advert: bool,
    /// `down_timer_adverts` (default 3).
    pub down_timer_adverts: u32,
    /// `skip_check_adv_addr`: skip the VIP list check for adverts from the current master.
    pub skip_check_adv_addr: bool,
}

impl InstanceConfig {
    /// A configuration with keepalived's defaults (backup, priority 100, advert_int 1 s,
    /// preempt, v2 for IPv4 / v3 for IPv6, multicast, no auth, 5+5 GARPs).
    pub fn new(name: &str, vrid: Vrid, interface: IfaceId, src_addr: IpAddr) -> Self {
        let family = Family::of(&src_addr);
        Self {
            name: name.to_owned(),
            vrid,
            version: match family {
                Family::V4 => VrrpVersion::V2,
                Family::V6 => VrrpVersion::V3,
            },
            interface,
            family,
            priority: 100,
            initial_state: InitialState::Backup,
            advert_int: Centisecs(100),
            preempt: true,
            preempt_delay: Duration::ZERO,
            accept: None,
            strict: false,
            src_addr,
            unicast_peers: Vec::new(),
            check_unicast_src: false,
            mcast_group: None,
            auth: AuthConfig::None,
            vips: Vec::new(),
            excluded_vips: Vec::new(),
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
            tracks: Vec::new(),
            track_interfaces: Vec::new(),
            dont_track_primary: false,
            garp: GarpConfig::default(),
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            down_timer_adverts: 3,
            skip_check_adv_addr: false,
        }
    }

    /// The multicast group adverts go to (RFC 5798 section 5.1.1.2 / 5.1.2.2).
    pub fn mcast_group(&self) -> IpAddr {
        self.mcast_group.unwrap_or(match self.family {
            Family::V4 => IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
            Family::V6 => IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
        })
    }

    /// Whether the instance accepts packets for its VIPs when master (RFC 5798 section 6.1
    /// Accept_Mode), with keepalived's default.
    pub fn accept_mode(&self) -> bool {
        self.accept
            .unwrap_or(!self.strict || self.priority == ka_model::Priority::OWNER.0)
    }
}

/// A `vrrp_sync_group`: all members move together.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SyncGroupConfig {
    /// Group name.
    pub name: String,
    /// Member instance names.
    pub members: Vec<String>,
    /// `sync_group_tracking_weight`: members keep their track weights (otherwise keepalived
    /// sets them to 0: a failure puts the whole group in FAULT).
    #[serde(default)]
    pub tracking_weight: bool,
}

/// Everything a [`crate::Router`] runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RouterConfig {
    /// The instances.
    pub instances: Vec<InstanceConfig>,
    /// The sync groups.
    pub sync_groups: Vec<SyncGroupConfig>,
}

/// Largest number of addresses one advert carries (Count IPvX Addr is one byte).
pub const MAX_VIPS_PER_ADVERT: usize = 255;

/// A configuration the engine refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Two instances have the same name.
    #[error("duplicate vrrp_instance name {0:?}")]
    DuplicateName(String),
    /// Two instances on one interface and family share a VRID.
    #[error("instances {0:?} and {1:?} use the same virtual_router_id on the same interface")]
    DuplicateVrid(String, String),
    /// Priority 0 is reserved for "master is leaving" (RFC 5798 section 5.2.4).
    #[error("instance {0:?}: priority 0 is not allowed (1..=255)")]
    Priority(String),
    /// advert_int not representable.
    #[error("instance {0:?}: advert_int {1} cs is out of range (v3: 1..=4095 cs, v2: 1..=255 s)")]
    AdvertInt(String, u32),
    /// An address of the wrong family.
    #[error("instance {0:?}: address {1} does not match the instance's address family")]
    FamilyMismatch(String, IpAddr),
    /// IPv6 with VRRPv2 under vrrp_strict.
    #[error("instance {0:?}: IPv6 is not allowed with VRRP version 2 in strict mode")]
    StrictV2Ipv6(String),
    /// Too many VIPs for one advert.
    #[error("instance {0:?}: {1} virtual addresses do not fit in one advert (max 255)")]
    TooManyVips(String, usize),
    /// vrrp_strict forbids it.
    #[error("instance {0:?}: vrrp_strict does not allow {1}")]
    Strict(String, &'static str),
    /// Authentication is VRRPv2 and IPv4 only.
    #[error("instance {0:?}: authentication needs VRRP version 2 over IPv4")]
    AuthNeedsV2(String),
    /// down_timer_adverts must be 1..=100.
    #[error("instance {0:?}: down_timer_adverts {1} is out of range 1..=100")]
    DownTimerAdverts(String, u32),
    /// A sync group names an unknown instance.
    #[error("sync group {0:?}: unknown instance {1:?}")]
    UnknownMember(String, String),
    /// An instance is in two sync groups.
    #[error("instance {0:?} is a member of more than one sync group")]
    TwoGroups(String),
}

impl RouterConfig {
    /// Checks the configuration and applies keepalived's silent adjustments; returns the
    /// configuration the engine runs.
    pub fn validate(mut self) -> Result<RouterConfig, ConfigError> {
        for c in &mut self.instances {
            normalise(c)?;
        }
        for (i, a) in self.instances.iter().enumerate() {
            for b in self.instances.iter().skip(i + 1) {
                if a.name == b.name {
                    return Err(ConfigError::DuplicateName(a.name.clone()));
                }
                if a.vrid == b.vrid && a.interface == b.interface && a.family == b.family {
                    return Err(ConfigError::DuplicateVrid(a.name.clone(), b.name.clone()));
                }
            }
        }
        // keepalived: the owner and (without sync_group_tracking_weight) sync group members
        // cannot use weights; they are set to 0, so a failure means FAULT.
        for g in &self.sync_groups {
            if g.tracking_weight {
                continue;
            }
            for c in self
                .instances
                .iter_mut()
                .filter(|c| g.members.contains(&c.name))
            {
                unweight(c);
            }
        }
        for c in self.instances.iter_mut().filter(|c| c.priority == 255) {
            unweight(c);
        }
        let mut seen: Vec<&str> = Vec::new();
        for g in &self.sync_groups {
            for m in &g.members {
                if !self.instances.iter().any(|i| &i.name == m) {
                    return Err(ConfigError::UnknownMember(g.name.clone(), m.clone()));
                }
                if seen.contains(&m.as_str()) {
                    return Err(ConfigError::TwoGroups(m.clone()));
                }
                seen.push(m);
            }
        }
        Ok(self)
    }
}

fn unweight(c: &mut InstanceConfig) {
    for t in &mut c.tracks {
        t.weight = 0;
    }
    for t in &mut c.track_interfaces {
        t.weight = 0;
    }
}

fn normalise(c: &mut InstanceConfig) -> Result<(), ConfigError> {
    let name = c.name.clone();
    if c.priority == 0 {
        return Err(ConfigError::Priority(name));
    }
    for a in c
        .vips
        .iter()
        .map(|v| &v.addr)
        .chain(c.unicast_peers.iter())
        .chain(std::iter::once(&c.src_addr))
    {
        if Family::of(a) != c.family {
            return Err(ConfigError::FamilyMismatch(name, *a));
        }
    }
    if c.vips.len() > MAX_VIPS_PER_ADVERT {
        return Err(ConfigError::TooManyVips(name, c.vips.len()));
    }
    if !(1..=100).contains(&c.down_timer_adverts) {
        return Err(ConfigError::DownTimerAdverts(name, c.down_timer_adverts));
    }
    if c.family == Family::V6 && c.version == VrrpVersion::V2 {
        if c.strict {
            return Err(ConfigError::StrictV2Ipv6(name));
        }
        // keepalived silently runs VRRPv3 for IPv6 (interop vector 2h).
        c.version = VrrpVersion::V3;
    }
    match c.version {
        VrrpVersion::V3 => {
            if !(1..=4095).contains(&c.advert_int.0) {
                return Err(ConfigError::AdvertInt(name, c.advert_int.0));
            }
            if c.auth != AuthConfig::None {
                return Err(ConfigError::AuthNeedsV2(name));
            }
        }
        VrrpVersion::V2 => {
            // v2 carries whole seconds; keepalived rounds (vector v2_mcast_adv0.5_rounded).
            let secs = (c.advert_int.0 + 50) / 100;
            let secs = secs.max(1);
            if secs > 255 {
                return Err(ConfigError::AdvertInt(name, c.advert_int.0));
            }
            c.advert_int = Centisecs(secs * 100);
        }
    }
    if c.strict {
        if c.vips.is_empty() {
            return Err(ConfigError::Strict(
                name,
                "an instance without virtual addresses",
            ));
        }
        if !c.unicast_peers.is_empty() {
            return Err(ConfigError::Strict(name, "unicast peers"));
        }
        if c.auth != AuthConfig::None {
            return Err(ConfigError::Strict(name, "authentication"));
        }
        if c.initial_state == InitialState::Master && c.priority != 255 {
            return Err(ConfigError::Strict(
                name,
                "state MASTER with a priority other than 255",
            ));
        }
        if c.version == VrrpVersion::V2 && c.accept == Some(true) {
            return Err(ConfigError::Strict(name, "accept mode with VRRP version 2"));
        }
        if c.higher_prio_send_advert {
            return Err(ConfigError::Strict(name, "higher_prio_send_advert"));
        }
        c.lower_prio_no_advert = true;
        c.preempt_delay = Duration::ZERO;
    }
    // keepalived's silent resets (vrrp_complete_instance).
    if c.priority == 255 && !c.preempt {
        c.preempt = true;
    }
    if c.initial_state == InitialState::Master {
        c.preempt = true;
        c.preempt_delay = Duration::ZERO;
    }
    if !c.preempt {
        c.preempt_delay = Duration::ZERO;
    }
    Ok(())
}
