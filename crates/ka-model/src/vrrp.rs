//! Global definitions, static addresses/routes/rules, tracking and VRRP instances.
//!
//! Every value here is what keepalived 2.2.7 would run with: defaults filled in,
//! ranges checked, and keepalived's own adjustments applied (VRRPv2 intervals rounded to
//! whole seconds, IPv6 instances moved to VRRPv3, priority 255 for `state MASTER`
//! without a priority, ...). `ka-config` builds these values; nothing here parses text.

pub mod global;
pub mod net;

use crate::{Centisecs, Priority, Vrid, VrrpVersion};
use serde::Serialize;
use std::net::IpAddr;
use std::time::Duration;

pub use global::GlobalDefs;
pub use net::{AddressSpec, IpPrefix, RouteSpec, RuleSpec};

/// The VRRP side of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VrrpConfig {
    /// `global_defs` and the top-level daemon keywords.
    pub global: GlobalDefs,
    /// `linkbeat_interfaces`.
    pub linkbeat_interfaces: Vec<LinkbeatInterface>,
    /// `interface_up_down_delays`.
    pub interface_up_down_delays: Vec<UpDownDelay>,
    /// `track_group` blocks.
    pub track_groups: Vec<TrackGroup>,
    /// `static_ipaddress`.
    pub static_addresses: Vec<AddressSpec>,
    /// `static_routes`.
    pub static_routes: Vec<RouteSpec>,
    /// `static_rules`.
    pub static_rules: Vec<RuleSpec>,
    /// `track_file` / `vrrp_track_file`.
    pub track_files: Vec<TrackFile>,
    /// `track_process` / `vrrp_track_process`.
    pub track_processes: Vec<TrackProcess>,
    /// `bfd_instance`.
    pub bfd_instances: Vec<BfdInstance>,
    /// `vrrp_script`.
    pub scripts: Vec<VrrpScript>,
    /// `vrrp_sync_group`.
    pub sync_groups: Vec<SyncGroup>,
    /// `garp_group`.
    pub garp_groups: Vec<GarpGroup>,
    /// `vrrp_instance`.
    pub instances: Vec<VrrpInstance>,
    /// Names of blocks that were dropped because of errors (so that references to them
    /// are not reported a second time as undefined). Not part of the JSON dump.
    #[serde(skip)]
    pub dropped: Vec<String>,
}

/// A command line to run (notify scripts, `script` of a vrrp_script), with the user to
/// run it as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptCmd {
    /// The words: the first is the program path, the rest its arguments.
    pub argv: Vec<String>,
    /// User to run as (default: `script_user`).
    pub user: Option<String>,
    /// Group to run as (default: the user's group).
    pub group: Option<String>,
}

impl ScriptCmd {
    /// The program path (the first word).
    pub fn path(&self) -> &str {
        self.argv.first().map(String::as_str).unwrap_or("")
    }
}

/// A FIFO to write notifications to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fifo {
    /// The FIFO path.
    pub path: String,
    /// Owner user.
    pub user: Option<String>,
    /// Owner group.
    pub group: Option<String>,
}

/// A tracking weight with its direction (`weight -20 reverse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Weight {
    /// The weight; its range depends on what is tracked (±253 or ±254).
    pub value: i32,
    /// `reverse`: the adjustment applies in the other direction.
    pub reverse: bool,
}

/// A reference from an instance or sync group to a tracked object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackRef {
    /// The name of the interface, script, file, process or BFD instance.
    pub name: String,
    /// The weight given here; `None` means the object's own default weight
    /// (0 for interfaces: failure means FAULT).
    pub weight: Option<Weight>,
    /// Where the reference was written.
    #[serde(skip)]
    pub loc: Loc,
}

/// Polling method for `linkbeat_interfaces`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LinkbeatKind {
    /// MII ioctls (the default).
    Mii,
    /// ETHTOOL.
    Ethtool,
    /// SIOCGIFFLAGS.
    Ioctl,
}

/// An interface polled for link status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkbeatInterface {
    /// Interface name.
    pub name: String,
    /// Preferred method (default MII).
    pub kind: LinkbeatKind,
}

/// `interface_up_down_delays` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpDownDelay {
    /// Interface name.
    pub interface: String,
    /// Delay before acting on a down (0..=255 s, microsecond resolution).
    pub down: Duration,
    /// Delay before acting on an up (default: the down delay).
    pub up: Duration,
}

/// `track_group NAME { group { VI_1 ... } }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackGroup {
    /// Group name.
    pub name: String,
    /// VRRP instances that track the static addresses/routes/rules of this group.
    pub instances: Vec<String>,
    /// Where each member was written (same order as `instances`).
    #[serde(skip)]
    pub instance_locs: Vec<Loc>,
}

/// `track_file NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackFile {
    /// Name used by `track_file` references.
    pub name: String,
    /// The file to read.
    pub file: String,
    /// Default weight -254..=254 (default 1).
    pub weight: Weight,
    /// `init_file [VALUE] [overwrite]`.
    pub init_file: Option<TrackFileInit>,
}

/// `init_file [VALUE] [overwrite]` of a track file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TrackFileInit {
    /// Value written (default 0).
    pub value: i64,
    /// Overwrite an existing file.
    pub overwrite: bool,
}

/// `param_match` of a track process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamMatch {
    /// All parameters match exactly (the default when parameters are given).
    Full,
    /// The first n parameters match.
    Partial,
    /// The last parameter may be longer.
    Initial,
}

/// `vrrp_track_process NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackProcess {
    /// Name used by `track_process` references.
    pub name: String,
    /// The process name and optional parameters.
    pub process: Vec<String>,
    /// `param_match`.
    pub param_match: ParamMatch,
    /// Default weight (default 1), -254..=254.
    pub weight: Weight,
    /// `quorum` (default 1).
    pub quorum: u32,
    /// `quorum_max` (default unlimited).
    pub quorum_max: Option<u32>,
    /// `fork_delay` (1 us..=3600 s when set).
    pub fork_delay: Duration,
    /// `terminate_delay`.
    pub terminate_delay: Duration,
    /// `full_command`.
    pub full_command: bool,
}

/// `bfd_instance NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BfdInstance {
    /// Name used by `track_bfd`.
    pub name: String,
    /// `neighbor_ip` (required).
    pub neighbor_ip: IpAddr,
    /// `source_ip`.
    pub source_ip: Option<IpAddr>,
    /// `min_rx` 1..=4294967 ms, microsecond resolution (default 10 ms).
    pub min_rx: Duration,
    /// `min_tx` (default 10 ms).
    pub min_tx: Duration,
    /// `idle_tx` 1000..=4294967 ms (default 1000 ms).
    pub idle_tx: Duration,
    /// `multiplier` 1..=255 (default 5).
    pub multiplier: u8,
    /// `passive`.
    pub passive: bool,
    /// `ttl` (default 255).
    pub ttl: u8,
    /// `hoplimit` (default 64).
    pub hoplimit: u8,
    /// `max_hops` (default 0; 255 disables the check).
    pub max_hops: u8,
    /// Default tracking weight (-253..=253, default 0).
    pub weight: Weight,
    /// `vrrp`: notify only the VRRP process.
    pub vrrp_only: bool,
    /// `checker`: notify only the checker process.
    pub checker_only: bool,
}

/// `vrrp_script NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VrrpScript {
    /// Name used by `track_script`.
    pub name: String,
    /// The command line.
    pub script: ScriptCmd,
    /// `interval`, whole seconds 1..=4294 (default 1 s).
    pub interval: Duration,
    /// `timeout` (default: the interval).
    pub timeout: Duration,
    /// Default weight -253..=253 (default 0).
    pub weight: Weight,
    /// `rise` (default 1).
    pub rise: u32,
    /// `fall` (default 1).
    pub fall: u32,
    /// `init_fail`.
    pub init_fail: bool,
}

/// Notify scripts of an instance or sync group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Notify {
    /// `notify_master`.
    pub master: Option<ScriptCmd>,
    /// `notify_backup`.
    pub backup: Option<ScriptCmd>,
    /// `notify_fault`.
    pub fault: Option<ScriptCmd>,
    /// `notify_stop`.
    pub stop: Option<ScriptCmd>,
    /// `notify_deleted` (Some with an empty argv when given without a script).
    pub deleted: Option<ScriptCmd>,
    /// `notify` (any transition).
    pub any: Option<ScriptCmd>,
    /// `notify_master_rx_lower_pri` (instances only).
    pub master_rx_lower_pri: Option<ScriptCmd>,
}

impl Notify {
    /// All scripts set, with the keyword that set them.
    pub fn all(&self) -> Vec<(&'static str, &ScriptCmd)> {
        [
            ("notify_master", &self.master),
            ("notify_backup", &self.backup),
            ("notify_fault", &self.fault),
            ("notify_stop", &self.stop),
            ("notify_deleted", &self.deleted),
            ("notify", &self.any),
            ("notify_master_rx_lower_pri", &self.master_rx_lower_pri),
        ]
        .into_iter()
        .filter_map(|(k, s)| s.as_ref().map(|s| (k, s)))
        .collect()
    }
}

/// Tracked objects of an instance or a sync group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tracking {
    /// `track_interface`.
    pub interfaces: Vec<TrackRef>,
    /// `track_script`.
    pub scripts: Vec<TrackRef>,
    /// `track_file`.
    pub files: Vec<TrackRef>,
    /// `track_process`.
    pub processes: Vec<TrackRef>,
    /// `track_bfd`.
    pub bfds: Vec<TrackRef>,
}

/// `vrrp_sync_group NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncGroup {
    /// Group name.
    pub name: String,
    /// Member instances.
    pub instances: Vec<String>,
    /// Where each member was written (same order as `instances`).
    #[serde(skip)]
    pub instance_locs: Vec<Loc>,
    /// Tracking applied to every member.
    pub track: Tracking,
    /// Notify scripts.
    pub notify: Notify,
    /// `notify_priority_changes`.
    pub notify_priority_changes: Option<bool>,
    /// `smtp_alert`.
    pub smtp_alert: Option<bool>,
    /// `global_tracking` (deprecated) or `sync_group_tracking_weight`.
    pub sync_group_tracking_weight: bool,
}

/// `garp_group { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GarpGroup {
    /// `garp_interval`.
    pub garp_interval: Option<Duration>,
    /// `gna_interval`.
    pub gna_interval: Option<Duration>,
    /// `interface` or the members of `interfaces { }`.
    pub interfaces: Vec<String>,
}

/// The initial state of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum InitialState {
    /// Start as master (only immediate for an address owner).
    Master,
    /// Start as backup.
    Backup,
}

/// `use_vmac [NAME] [MAC]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vmac {
    /// The macvlan interface name (default vrrp.VRID, see `vmac_prefix`).
    pub ifname: Option<String>,
    /// A MAC address instead of 00:00:5e:00:01:VRID (5 octets: the VRID is appended).
    pub mac: Option<Vec<u8>>,
}

/// Mode of `use_ipvlan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpvlanMode {
    /// The default.
    Bridge,
    /// `private`.
    Private,
    /// `vepa`.
    Vepa,
}

/// `use_ipvlan [NAME] [IP/LEN] [bridge|private|vepa]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ipvlan {
    /// Interface name.
    pub ifname: Option<String>,
    /// Address.
    pub addr: Option<IpPrefix>,
    /// Mode.
    pub mode: IpvlanMode,
}

/// A unicast peer with its optional TTL window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UnicastPeer {
    /// The peer address.
    pub addr: IpAddr,
    /// `min_ttl`.
    pub min_ttl: Option<u8>,
    /// `max_ttl`.
    pub max_ttl: Option<u8>,
}

/// VRRPv2 authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authentication {
    /// PASS or AH.
    pub kind: AuthType,
    /// The password, at most 8 bytes (keepalived truncates longer ones).
    pub password: String,
}

/// `auth_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuthType {
    /// Simple text password.
    Pass,
    /// IPsec AH.
    Ah,
}

/// GARP/NA settings of an instance, resolved against the global defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GarpSettings {
    /// Delay of the second burst after becoming master (0 = none).
    pub master_delay_secs: u32,
    /// Messages per burst after becoming master.
    pub master_repeat: u32,
    /// Delay of the burst after a lower priority advert.
    pub lower_prio_delay_secs: u32,
    /// Messages per burst after a lower priority advert.
    pub lower_prio_repeat: u32,
    /// Refresh interval while master (0 = none).
    pub master_refresh_secs: u32,
    /// Messages per refresh.
    pub master_refresh_repeat: u32,
    /// Periodic GARP on extra interfaces.
    pub extra_if: Option<global::GarpExtraIf>,
}

/// `old_unicast_checksum [never]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OldUnicastChecksum {
    /// Use the pre-1.3.6 checksum.
    Use,
    /// Never detect old checksums.
    Never,
}

/// `vrrp_instance NAME { ... }`, with keepalived's defaults and adjustments applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VrrpInstance {
    /// Instance name.
    pub name: String,
    /// Initial state after keepalived's rules (priority 255 without nopreempt starts MASTER;
    /// strict mode refuses MASTER below 255).
    pub initial_state: InitialState,
    /// `interface` (may be omitted with unicast peers).
    pub interface: Option<String>,
    /// `vrf`.
    pub vrf: Option<String>,
    /// Address family, from the first VIP (IPv4 when there is none).
    pub ipv6: bool,
    /// `virtual_router_id`.
    pub vrid: Vrid,
    /// `priority` (255 when omitted with `state MASTER`, else 100).
    pub priority: Priority,
    /// `advert_int` in centiseconds: whole seconds for VRRPv2 (rounded as keepalived
    /// does), multiples of 10 ms up to 40.95 s for VRRPv3.
    pub advert_int_cs: Centisecs,
    /// Protocol version after keepalived's rules.
    pub version: VrrpVersion,
    /// `use_vmac`.
    pub use_vmac: Option<Vmac>,
    /// `use_vmac_addr`.
    pub use_vmac_addr: bool,
    /// `vmac_xmit_base`.
    pub vmac_xmit_base: bool,
    /// `use_ipvlan`.
    pub use_ipvlan: Option<Ipvlan>,
    /// `native_ipv6`.
    pub native_ipv6: bool,
    /// `dont_track_primary`.
    pub dont_track_primary: bool,
    /// Tracked objects.
    pub track: Tracking,
    /// `mcast_src_ip` / `unicast_src_ip`.
    pub src_ip: Option<IpAddr>,
    /// `track_src_ip`.
    pub track_src_ip: bool,
    /// `mcast_dst_ip` (default: the global group of the family).
    pub mcast_dst_ip: IpAddr,
    /// `check_unicast_src` (also set by min_ttl/max_ttl, or the global).
    pub check_unicast_src: bool,
    /// `unicast_peer`.
    pub unicast_peers: Vec<UnicastPeer>,
    /// `unicast_fault_no_peer`.
    pub unicast_fault_no_peer: bool,
    /// `unicast_ttl`.
    pub unicast_ttl: Option<u8>,
    /// `old_unicast_checksum`.
    pub old_unicast_checksum: Option<OldUnicastChecksum>,
    /// GARP settings.
    pub garp: GarpSettings,
    /// `down_timer_adverts` 1..=100 (default global, 3).
    pub down_timer_adverts: u8,
    /// `lower_prio_no_advert` (strict mode forces true).
    pub lower_prio_no_advert: bool,
    /// `higher_prio_send_advert`.
    pub higher_prio_send_advert: bool,
    /// `authentication` (VRRPv2 only; dropped for v3 as keepalived does).
    pub authentication: Option<Authentication>,
    /// `virtual_ipaddress`.
    pub virtual_ipaddresses: Vec<AddressSpec>,
    /// `virtual_ipaddress_excluded`.
    pub virtual_ipaddresses_excluded: Vec<AddressSpec>,
    /// `virtual_routes`.
    pub virtual_routes: Vec<RouteSpec>,
    /// `virtual_rules`.
    pub virtual_rules: Vec<RuleSpec>,
    /// `promote_secondaries`.
    pub promote_secondaries: bool,
    /// Accept mode (default: on unless strict mode).
    pub accept: bool,
    /// `nopreempt`.
    pub nopreempt: bool,
    /// `preempt_delay` 0..=1000 s (reset to 0 in strict mode or with nopreempt).
    pub preempt_delay: Duration,
    /// `skip_check_adv_addr`.
    pub skip_check_adv_addr: bool,
    /// `strict_mode` (default: global vrrp_strict).
    pub strict_mode: bool,
    /// `debug` 0..=4.
    pub debug: u8,
    /// Notify scripts.
    pub notify: Notify,
    /// `notify_priority_changes` (default: global).
    pub notify_priority_changes: bool,
    /// `smtp_alert` (default: global smtp_alert_vrrp / smtp_alert).
    pub smtp_alert: bool,
    /// `kernel_rx_buf_size`.
    pub kernel_rx_buf_size: Option<u64>,
    /// `linkbeat_use_polling` (deprecated).
    pub linkbeat_use_polling: bool,
    /// `lvs_sync_daemon_interface` (deprecated; global `lvs_sync_daemon` replaces it).
    pub lvs_sync_daemon_interface: Option<String>,
    /// Where the instance's name and `virtual_router_id` were written.
    #[serde(skip)]
    pub locs: InstanceLocs,
}

/// Source locations of an instance's keywords used by cross-instance checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceLocs {
    /// The instance name.
    pub name: Loc,
    /// The `virtual_router_id` value.
    pub vrid: Loc,
}

/// Where something was written (file index, 1-based line and column, length), kept so
/// that checks made after the whole file is read can point at it. Not part of the JSON dump.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Loc {
    /// Index of the file in the front end's source map.
    pub file: u32,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// Length in characters.
    pub len: u32,
}
