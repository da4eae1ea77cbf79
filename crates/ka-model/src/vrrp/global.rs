//! `global_defs` and the top-level daemon keywords (`net_namespace`, `instance`, ...),
//! with keepalived 2.2.7's defaults.

use super::{Fifo, ScriptCmd};
use crate::{Centisecs, VrrpVersion};
use serde::Serialize;
use std::net::IpAddr;
use std::time::Duration;

/// Per child process tuning (`vrrp_priority`, `checker_no_swap`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessTuning {
    /// `*_process_name`.
    pub process_name: Option<String>,
    /// `*_priority` (nice value, -20..=19).
    pub nice: Option<i8>,
    /// `*_no_swap`.
    pub no_swap: bool,
    /// `*_cpu_affinity`: CPU numbers.
    pub cpu_affinity: Vec<u16>,
    /// `*_rt_priority` 1..=99.
    pub rt_priority: Option<u8>,
    /// `*_rlimit_rttime` in microseconds (1 is raised to 2; default 10000 when realtime is used).
    pub rlimit_rttime_us: Option<u64>,
}

/// A netlink receive buffer setting (`vrrp_netlink_cmd_rcv_bufs` + `_force`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RcvBuf {
    /// Size in bytes; `None` keeps the kernel default.
    pub bytes: Option<u32>,
    /// Use SO_RCVBUFFORCE.
    pub force: bool,
}

/// `lvs_sync_daemon INTERFACE [inst] VRRP_INSTANCE [id N] [maxlen N] [port N] [ttl N] [group IP]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LvsSyncDaemon {
    /// The binding interface.
    pub interface: String,
    /// The VRRP instance whose state it follows.
    pub instance: Option<String>,
    /// `id` 0..=255 (default: the instance's VRID, or 0).
    pub sync_id: Option<u8>,
    /// `maxlen` 1..=65507.
    pub maxlen: Option<u16>,
    /// `port` (default 8848).
    pub port: u16,
    /// `ttl` 1..=255.
    pub ttl: Option<u8>,
    /// `group` (default 224.0.0.81).
    pub group: Option<IpAddr>,
}

/// `lvs_timeouts [tcp S] [tcpfin S] [udp S]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LvsTimeouts {
    /// `tcp` seconds.
    pub tcp_secs: Option<u32>,
    /// `tcpfin` seconds.
    pub tcpfin_secs: Option<u32>,
    /// `udp` seconds.
    pub udp_secs: Option<u32>,
}

/// `vrrp_rx_bufs_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RxBufsPolicy {
    /// MTU * multiplier.
    Mtu,
    /// Advert size * multiplier.
    Advert,
    /// A fixed size in bytes.
    Bytes(u32),
}

/// `nftables [TABLE]` and friends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nftables {
    /// Table name (default `keepalived`).
    pub table: String,
    /// Base chain priority (default -1).
    pub priority: i32,
    /// `nftables_counters`.
    pub counters: bool,
    /// `nftables_ifindex`.
    pub ifindex: bool,
}

/// `vrrp_iptables [IN [OUT]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Iptables {
    /// Inbound chain (default INPUT).
    pub in_chain: String,
    /// Outbound chain.
    pub out_chain: Option<String>,
}

/// `vrrp_garp_extra_if [all] SECS` / `garp_extra_if`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GarpExtraIf {
    /// `all`: on every interface of the instance, not only VMACs.
    pub all: bool,
    /// Interval in seconds, 0..=86400 (0 disables).
    pub interval_secs: u32,
}

/// `smtp_server HOST [PORT]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmtpServer {
    /// IP address or host name.
    pub host: String,
    /// Port (default 25).
    pub port: u16,
}

/// `dynamic_interfaces [allow_if_changes]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DynamicInterfaces {
    /// `allow_if_changes`.
    pub allow_if_changes: bool,
}

/// Everything `global_defs` (and the top-level daemon keywords) say.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalDefs {
    // --- top-level daemon keywords ---
    /// `net_namespace NAME`.
    pub net_namespace: Option<String>,
    /// `net_namespace_ipvs [NAME]` (Some("") for the default namespace).
    pub net_namespace_ipvs: Option<String>,
    /// `namespace_with_ipsets`.
    pub namespace_with_ipsets: bool,
    /// `instance NAME`.
    pub instance: Option<String>,
    /// `use_pid_dir`.
    pub use_pid_dir: bool,
    /// `linkbeat_use_polling`.
    pub linkbeat_use_polling: bool,
    /// `child_wait_time` seconds (default 5).
    pub child_wait_time_secs: u32,

    // --- files and process names ---
    /// `tmp_config_directory`.
    pub tmp_config_directory: Option<String>,
    /// `config_save_dir`.
    pub config_save_dir: Option<String>,
    /// `process_names`.
    pub process_names: bool,
    /// `process_name`.
    pub process_name: Option<String>,
    /// `startup_script`.
    pub startup_script: Option<ScriptCmd>,
    /// `startup_script_timeout` seconds 1..=1000 (default 10).
    pub startup_script_timeout_secs: u32,
    /// `shutdown_script`.
    pub shutdown_script: Option<ScriptCmd>,
    /// `shutdown_script_timeout` seconds 1..=1000 (default 10).
    pub shutdown_script_timeout_secs: u32,

    // --- notification and email ---
    /// `notification_email { ... }`.
    pub notification_email: Vec<String>,
    /// `notification_email_from` (default keepalived@HOSTNAME).
    pub notification_email_from: Option<String>,
    /// `smtp_server`.
    pub smtp_server: Option<SmtpServer>,
    /// `smtp_helo_name` (default: host name).
    pub smtp_helo_name: Option<String>,
    /// `smtp_connect_timeout` (default 30 s, at most 4294 s).
    pub smtp_connect_timeout: Duration,
    /// `smtp_alert`.
    pub smtp_alert: Option<bool>,
    /// `smtp_alert_vrrp`.
    pub smtp_alert_vrrp: Option<bool>,
    /// `smtp_alert_checker`.
    pub smtp_alert_checker: Option<bool>,
    /// `checker_log_all_failures`.
    pub checker_log_all_failures: bool,
    /// `no_email_faults`.
    pub no_email_faults: bool,
    /// `router_id` (default: host name).
    pub router_id: Option<String>,
    /// `no_checker_emails`.
    pub no_checker_emails: bool,
    /// `rs_init_notifies`.
    pub rs_init_notifies: bool,

    // --- VRRP defaults ---
    /// `vrrp_mcast_group4` (default 224.0.0.18).
    pub vrrp_mcast_group4: IpAddr,
    /// `vrrp_mcast_group6` (default ff02::12).
    pub vrrp_mcast_group6: IpAddr,
    /// `default_interface` (default eth0).
    pub default_interface: String,
    /// `vrrp_garp_master_delay` seconds 0..=4294 (default 5; 0 = no second burst).
    pub vrrp_garp_master_delay_secs: u32,
    /// `vrrp_garp_master_repeat` (default 5).
    pub vrrp_garp_master_repeat: u32,
    /// `vrrp_garp_lower_prio_delay` seconds (default: master delay).
    pub vrrp_garp_lower_prio_delay_secs: u32,
    /// `vrrp_garp_lower_prio_repeat` (default: master repeat).
    pub vrrp_garp_lower_prio_repeat: u32,
    /// `vrrp_garp_master_refresh` seconds (default 0 = none).
    pub vrrp_garp_master_refresh_secs: u32,
    /// `vrrp_garp_master_refresh_repeat` (default 1; `vrrp_min_garp` makes it 0).
    pub vrrp_garp_master_refresh_repeat: u32,
    /// `vrrp_garp_interval` (default 0 = none; when set, 1 us..=4294.967295 s).
    pub vrrp_garp_interval: Duration,
    /// `vrrp_gna_interval` (default 0 = none; when set, 1 us..=4294.967295 s).
    pub vrrp_gna_interval: Duration,
    /// `vrrp_min_garp`.
    pub vrrp_min_garp: bool,
    /// `vrrp_garp_extra_if`.
    pub vrrp_garp_extra_if: Option<GarpExtraIf>,
    /// `vrrp_down_timer_adverts` 1..=100 (default 3).
    pub vrrp_down_timer_adverts: u8,
    /// `vrrp_lower_prio_no_advert`.
    pub vrrp_lower_prio_no_advert: bool,
    /// `vrrp_higher_prio_send_advert`.
    pub vrrp_higher_prio_send_advert: bool,
    /// `vrrp_version` (default 2).
    pub vrrp_version: VrrpVersion,
    /// Whether `vrrp_version` was written (for diagnostics only; not in the JSON dump).
    #[serde(skip)]
    pub vrrp_version_written: bool,
    /// `vrrp_check_unicast_src`.
    pub vrrp_check_unicast_src: bool,
    /// `vrrp_skip_check_adv_addr`.
    pub vrrp_skip_check_adv_addr: bool,
    /// `vrrp_strict`.
    pub vrrp_strict: bool,
    /// `vrrp_notify_priority_changes`.
    pub vrrp_notify_priority_changes: bool,
    /// `vrrp_startup_delay` (0 = none; when set, 1 ms..=4294.967295 s).
    pub vrrp_startup_delay: Duration,
    /// `log_unknown_vrids`.
    pub log_unknown_vrids: bool,
    /// `vmac_prefix` (default "vrrp").
    pub vmac_prefix: String,
    /// `vmac_addr_prefix` (default: vmac_prefix).
    pub vmac_addr_prefix: Option<String>,
    /// `vrrp_rx_bufs_policy`.
    pub vrrp_rx_bufs_policy: Option<RxBufsPolicy>,
    /// `vrrp_rx_bufs_multiplier` (default 3).
    pub vrrp_rx_bufs_multiplier: u32,
    /// `disable_local_igmp`.
    pub disable_local_igmp: bool,
    /// `dynamic_interfaces`.
    pub dynamic_interfaces: Option<DynamicInterfaces>,
    /// `fifo_write_vrrp_states_on_reload`.
    pub fifo_write_vrrp_states_on_reload: bool,

    // --- firewall ---
    /// `nftables`.
    pub nftables: Option<Nftables>,
    /// `nftables_ipvs [TABLE]`.
    pub nftables_ipvs: Option<String>,
    /// `nftables_ipvs_priority`.
    pub nftables_ipvs_priority: Option<i32>,
    /// `nftables_ipvs_start_fwmark` (default 1000).
    pub nftables_ipvs_start_fwmark: u32,
    /// `vrrp_iptables`.
    pub vrrp_iptables: Option<Iptables>,
    /// `vrrp_ipsets` names (not supported by this keepalived build either).
    pub vrrp_ipsets: Vec<String>,

    // --- LVS globals ---
    /// `lvs_sync_daemon`.
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    /// `lvs_timeouts`.
    pub lvs_timeouts: Option<LvsTimeouts>,
    /// `lvs_flush`.
    pub lvs_flush: bool,
    /// `lvs_flush_on_stop [VS]`: `Some(true)` for VS.
    pub lvs_flush_on_stop: Option<bool>,

    // --- processes ---
    /// VRRP child tuning.
    pub vrrp_process: ProcessTuning,
    /// Checker child tuning.
    pub checker_process: ProcessTuning,
    /// BFD child tuning.
    pub bfd_process: ProcessTuning,
    /// `max_auto_priority` -1..=99 (default 0 = none).
    pub max_auto_priority: i8,
    /// `min_auto_priority_delay` microseconds (default 1000000, max 10000000).
    pub min_auto_priority_delay_us: u32,

    // --- netlink buffers ---
    /// `vrrp_netlink_cmd_rcv_bufs`.
    pub vrrp_netlink_cmd_rcv_bufs: RcvBuf,
    /// `vrrp_netlink_monitor_rcv_bufs`.
    pub vrrp_netlink_monitor_rcv_bufs: RcvBuf,
    /// `lvs_netlink_cmd_rcv_bufs`.
    pub lvs_netlink_cmd_rcv_bufs: RcvBuf,
    /// `lvs_netlink_monitor_rcv_bufs`.
    pub lvs_netlink_monitor_rcv_bufs: RcvBuf,
    /// `process_monitor_rcv_bufs`.
    pub process_monitor_rcv_bufs: RcvBuf,

    // --- SNMP / DBus ---
    /// `snmp_socket` (default unix:/var/agentx/master).
    pub snmp_socket: Option<String>,
    /// `enable_snmp_vrrp` (and its old name `enable_snmp_keepalived`).
    pub enable_snmp_vrrp: bool,
    /// `enable_snmp_checker`.
    pub enable_snmp_checker: bool,
    /// `enable_snmp_rfc`, or `enable_snmp_rfcv2`.
    pub enable_snmp_rfcv2: bool,
    /// `enable_snmp_rfc`, or `enable_snmp_rfcv3`.
    pub enable_snmp_rfcv3: bool,
    /// `enable_traps`.
    pub enable_traps: bool,
    /// `enable_dbus`.
    pub enable_dbus: bool,
    /// `dbus_service_name` (default org.keepalived.Vrrp1).
    pub dbus_service_name: Option<String>,

    // --- scripts and FIFOs ---
    /// `script_user USER [GROUP]`.
    pub script_user: Option<(String, Option<String>)>,
    /// `enable_script_security`.
    pub enable_script_security: bool,
    /// `notify_fifo`.
    pub notify_fifo: Option<Fifo>,
    /// `notify_fifo_script`.
    pub notify_fifo_script: Option<ScriptCmd>,
    /// `vrrp_notify_fifo`.
    pub vrrp_notify_fifo: Option<Fifo>,
    /// `vrrp_notify_fifo_script`.
    pub vrrp_notify_fifo_script: Option<ScriptCmd>,
    /// `lvs_notify_fifo`.
    pub lvs_notify_fifo: Option<Fifo>,
    /// `lvs_notify_fifo_script`.
    pub lvs_notify_fifo_script: Option<ScriptCmd>,

    // --- keepalived-rs extensions (keepalived itself rejects them) ---
    /// `metrics_listen ADDR:PORT`: serve Prometheus metrics and `/status` there.
    pub metrics_listen: Option<std::net::SocketAddr>,

    // --- misc ---
    /// `umask` (default 022: IWGRP|IWOTH).
    pub umask: u32,
    /// `random_seed`.
    pub random_seed: Option<u32>,
    /// `reload_check_config [LOG_FILE]` (Some("") without a file).
    pub reload_check_config: Option<String>,
    /// `include_check [OPTIONS]` words as written.
    pub include_check: Option<Vec<String>>,
    /// `reload_time_file`.
    pub reload_time_file: Option<String>,
    /// `reload_repeat`.
    pub reload_repeat: bool,
    /// `reload_file [PATH]` (Some("") for the default).
    pub reload_file: Option<String>,
    /// `data_use_instance`.
    pub data_use_instance: bool,
}

impl Default for GlobalDefs {
    fn default() -> Self {
        Self {
            net_namespace: None,
            net_namespace_ipvs: None,
            namespace_with_ipsets: false,
            instance: None,
            use_pid_dir: false,
            linkbeat_use_polling: false,
            child_wait_time_secs: 5,
            tmp_config_directory: None,
            config_save_dir: None,
            process_names: false,
            process_name: None,
            startup_script: None,
            startup_script_timeout_secs: 10,
            shutdown_script: None,
            shutdown_script_timeout_secs: 10,
            notification_email: Vec::new(),
            notification_email_from: None,
            smtp_server: None,
            smtp_helo_name: None,
            smtp_connect_timeout: Duration::from_secs(30),
            smtp_alert: None,
            smtp_alert_vrrp: None,
            smtp_alert_checker: None,
            checker_log_all_failures: false,
            no_email_faults: false,
            router_id: None,
            no_checker_emails: false,
            rs_init_notifies: false,
            vrrp_mcast_group4: IpAddr::V4(std::net::Ipv4Addr::new(224, 0, 0, 18)),
            vrrp_mcast_group6: IpAddr::V6(std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
            default_interface: "eth0".to_owned(),
            vrrp_garp_master_delay_secs: 5,
            vrrp_garp_master_repeat: 5,
            vrrp_garp_lower_prio_delay_secs: 5,
            vrrp_garp_lower_prio_repeat: 5,
            vrrp_garp_master_refresh_secs: 0,
            vrrp_garp_master_refresh_repeat: 1,
            vrrp_garp_interval: Duration::ZERO,
            vrrp_gna_interval: Duration::ZERO,
            vrrp_min_garp: false,
            vrrp_garp_extra_if: None,
            vrrp_down_timer_adverts: 3,
            vrrp_lower_prio_no_advert: false,
            vrrp_higher_prio_send_advert: false,
            vrrp_version: VrrpVersion::V2,
            vrrp_version_written: false,
            vrrp_check_unicast_src: false,
            vrrp_skip_check_adv_addr: false,
            vrrp_strict: false,
            vrrp_notify_priority_changes: false,
            vrrp_startup_delay: Duration::ZERO,
            log_unknown_vrids: false,
            vmac_prefix: "vrrp".to_owned(),
            vmac_addr_prefix: None,
            vrrp_rx_bufs_policy: None,
            vrrp_rx_bufs_multiplier: 3,
            disable_local_igmp: false,
            dynamic_interfaces: None,
            fifo_write_vrrp_states_on_reload: false,
            nftables: None,
            nftables_ipvs: None,
            nftables_ipvs_priority: None,
            nftables_ipvs_start_fwmark: 1000,
            vrrp_iptables: None,
            vrrp_ipsets: Vec::new(),
            lvs_sync_daemon: None,
            lvs_timeouts: None,
            lvs_flush: false,
            lvs_flush_on_stop: None,
            vrrp_process: ProcessTuning::default(),
            checker_process: ProcessTuning::default(),
            bfd_process: ProcessTuning::default(),
            max_auto_priority: 0,
            min_auto_priority_delay_us: 1_000_000,
            vrrp_netlink_cmd_rcv_bufs: RcvBuf::default(),
            vrrp_netlink_monitor_rcv_bufs: RcvBuf::default(),
            lvs_netlink_cmd_rcv_bufs: RcvBuf::default(),
            lvs_netlink_monitor_rcv_bufs: RcvBuf::default(),
            process_monitor_rcv_bufs: RcvBuf::default(),
            snmp_socket: None,
            enable_snmp_vrrp: false,
            enable_snmp_checker: false,
            enable_snmp_rfcv2: false,
            enable_snmp_rfcv3: false,
            enable_traps: false,
            enable_dbus: false,
            dbus_service_name: None,
            script_user: None,
            enable_script_security: false,
            notify_fifo: None,
            notify_fifo_script: None,
            vrrp_notify_fifo: None,
            vrrp_notify_fifo_script: None,
            lvs_notify_fifo: None,
            lvs_notify_fifo_script: None,
            metrics_listen: None,
            umask: 0o022,
            random_seed: None,
            reload_check_config: None,
            include_check: None,
            reload_time_file: None,
            reload_repeat: false,
            reload_file: None,
            data_use_instance: false,
        }
    }
}

/// keepalived's VRRPv2 default advertisement interval, 1 s.
pub const DEFAULT_ADVERT_INT: Centisecs = Centisecs(100);
