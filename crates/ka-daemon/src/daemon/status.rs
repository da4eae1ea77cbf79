//! What `keepalived-rs status` shows: a snapshot of the engine ([`Status`]), built by the
//! daemon from `ka_vrrp::Router`'s read-only accessors, sent as JSON over the control
//! socket, and rendered as text by the client.
//!
//! # JSON shape (protocol version 1; fields are only ever added)
//!
//! ```text
//! {
//!   "daemon": {"pid": 1234, "version": "0.1.0", "config_file": "/etc/keepalived/keepalived.conf",
//!              "started": {"time": "2026-11-22T07:39:37.815854Z", "unix_us": 1795333177815854}},
//!   "instances": [{
//!     "name": "VI_1", "state": "MASTER",            // INIT | BACKUP | MASTER | FAULT
//!     "vrid": 51, "version": 3, "family": "ipv4",   // ipv4 | ipv6
//!     "interface": "eth0", "ifindex": 3, "src_addr": "192.0.2.1",
//!     "multicast_group": "224.0.0.18",              // null when unicast
//!     "unicast_peers": [],
//!     "priority": 150, "effective_priority": 150,   // configured / advertised now
//!     "preempt": true, "advert_int_ms": 1000, "fault": false,
//!     "master": {"address": "192.0.2.1", "priority": 150, "self": true},  // null: none known
//!     "vips": ["192.0.2.100/32"], "excluded_vips": [],
//!     "sync_group": null,
//!     "last_transition": {"from": "BACKUP", "to": "MASTER", "reason": "master_down",
//!                         "time": "2026-11-22T07:39:37.815854Z", "unix_us": 1795333177815854},
//!     "counters": {"adverts_sent": 12, "adverts_received": 0, "became_master": 1,
//!                  "released_master": 0, "transitions": 2, "priority_zero_sent": 0, "priority_zero_received": 0,
//!                  "drops": {"no_instance": 0, "vrid_zero": 0, "not_running": 0, "ttl": 0, ...}}
//!   }],
//!   "sync_groups": [{"name": "G1", "state": "MASTER", "members": ["VI_1"]}],
//!   "unmatched_drops": {"no_instance": 0, "vrid_zero": 0},
//!   "real_servers": [{"virtual_server": "[192.0.2.100]:tcp:80", "real_server": "[192.0.2.10]:tcp:80",
//!                     "alive": true, "weight": 1, "last_result": "success", "reason": ...,
//!                     "last_probe_us": 412, "probes": 7, "probe_us_total": 2980}]
//!                                                   // absent while no checker runs
//!   "virtual_servers": {"backend": "ipvs", "services": [...]}  // the data plane's table
//!                                                   // (see `lb_status`); absent without one
//! }
//! ```
//!
//! Transition reasons: `startup`, `startup_as_master`, `master_down`,
//! `higher_priority_advert`, `sync_group`, `fault_detected`, `fault_cleared`, `shutdown`,
//! `reload`.
//! Drop reasons: see [`drop_name`] (every reason is always present, zero or not).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ka_vrrp::{DropReason, Family, Instance, Instant, Router, StateKind, TransitionReason};
use serde::{Deserialize, Serialize};

/// Everything `status` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The daemon process.
    pub daemon: DaemonInfo,
    /// Every VRRP instance, in configuration order.
    pub instances: Vec<InstanceStatus>,
    /// Every sync group, in configuration order.
    pub sync_groups: Vec<SyncGroupStatus>,
    /// Adverts that matched no instance, by reason.
    pub unmatched_drops: BTreeMap<String, u64>,
    /// The health checkers' view of every real server (with its virtual server), in
    /// configuration order; absent while no checker runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_servers: Option<Vec<crate::check::RsReport>>,
    /// The data plane's virtual-server table with its counters (see
    /// [`super::lb_status`]); absent while no data plane runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_servers: Option<super::lb_status::LbStatus>,
}

/// The daemon process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonInfo {
    /// Process id.
    pub pid: u32,
    /// keepalived-rs version.
    pub version: String,
    /// The configuration file it runs.
    pub config_file: String,
    /// When it started.
    pub started: WallTime,
}

/// A wall-clock time: RFC 3339 UTC text and microseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WallTime {
    /// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`.
    pub time: String,
    /// Microseconds since 1970-01-01T00:00:00Z.
    pub unix_us: u64,
}

impl WallTime {
    /// `t` as a wall time.
    pub fn of(t: SystemTime) -> WallTime {
        let us = t
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        WallTime {
            time: utc_us(us),
            unix_us: us,
        }
    }

    /// keepalived's `1795333177.815854`.
    pub fn seconds_text(&self) -> String {
        format!(
            "{}.{:06}",
            self.unix_us / 1_000_000,
            self.unix_us % 1_000_000
        )
    }
}

/// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` from microseconds since the epoch.
pub fn utc_us(us: u64) -> String {
    let secs = u32::try_from(us / 1_000_000).unwrap_or(u32::MAX);
    let micros = u32::try_from(us % 1_000_000).unwrap_or(0);
    crate::sniff::utc(secs, micros)
}

/// One VRRP instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    /// `vrrp_instance NAME`.
    pub name: String,
    /// `INIT`, `BACKUP`, `MASTER` or `FAULT`.
    pub state: String,
    /// `virtual_router_id`.
    pub vrid: u8,
    /// VRRP version, 2 or 3.
    pub version: u8,
    /// `ipv4` or `ipv6`.
    pub family: String,
    /// Interface name (`ifNNN` if it is gone).
    pub interface: String,
    /// Interface index.
    pub ifindex: u32,
    /// Address the adverts are sent from.
    pub src_addr: String,
    /// Multicast group; `None` for unicast instances.
    pub multicast_group: Option<String>,
    /// `unicast_peer` addresses.
    pub unicast_peers: Vec<String>,
    /// Configured priority.
    pub priority: u8,
    /// Priority advertised now (tracking applied).
    pub effective_priority: u8,
    /// `false` with `nopreempt`.
    pub preempt: bool,
    /// `advert_int` in milliseconds.
    pub advert_int_ms: u32,
    /// A fault (interface, tracked object) holds.
    pub fault: bool,
    /// The master: this router in MASTER, the master last heard in BACKUP.
    pub master: Option<MasterStatus>,
    /// `virtual_ipaddress`, `ADDR/LEN`.
    pub vips: Vec<String>,
    /// `virtual_ipaddress_excluded`.
    pub excluded_vips: Vec<String>,
    /// Its sync group.
    pub sync_group: Option<String>,
    /// The last state change.
    pub last_transition: Option<TransitionStatus>,
    /// Counters.
    pub counters: Counters,
}

/// The master an instance knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterStatus {
    /// Its address.
    pub address: String,
    /// Its (advertised) priority.
    pub priority: u8,
    /// It is this router.
    #[serde(rename = "self")]
    pub is_self: bool,
}

/// A state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionStatus {
    /// Previous state.
    pub from: String,
    /// New state.
    pub to: String,
    /// Why (see the module documentation).
    pub reason: String,
    /// When.
    #[serde(flatten)]
    pub at: WallTime,
}

/// keepalived's per-instance statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Adverts sent.
    pub adverts_sent: u64,
    /// Adverts received (that passed the header checks).
    pub adverts_received: u64,
    /// Transitions to MASTER.
    pub became_master: u64,
    /// Transitions out of MASTER.
    pub released_master: u64,
    /// State changes of any kind.
    #[serde(default)]
    pub transitions: u64,
    /// Priority 0 adverts sent.
    pub priority_zero_sent: u64,
    /// Priority 0 adverts received.
    pub priority_zero_received: u64,
    /// Dropped adverts by reason ([`drop_name`]).
    pub drops: BTreeMap<String, u64>,
}

/// A sync group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncGroupStatus {
    /// `vrrp_sync_group NAME`.
    pub name: String,
    /// `INIT`, `BACKUP`, `MASTER` or `FAULT`.
    pub state: String,
    /// Member instances.
    pub members: Vec<String>,
}

/// The stable name of a transition reason.
pub fn reason_name(r: TransitionReason) -> &'static str {
    match r {
        TransitionReason::Startup => "startup",
        TransitionReason::StartupAsMaster => "startup_as_master",
        TransitionReason::MasterDown => "master_down",
        TransitionReason::HigherPriorityAdvert => "higher_priority_advert",
        TransitionReason::SyncGroup => "sync_group",
        TransitionReason::FaultDetected => "fault_detected",
        TransitionReason::FaultCleared => "fault_cleared",
        TransitionReason::Shutdown => "shutdown",
        TransitionReason::Reload => "reload",
    }
}

/// The stable name of a drop reason.
pub fn drop_name(r: DropReason) -> &'static str {
    match r {
        DropReason::NoInstance => "no_instance",
        DropReason::VridZero => "vrid_zero",
        DropReason::NotRunning => "not_running",
        DropReason::Ttl => "ttl",
        DropReason::Version => "version",
        DropReason::Type => "type",
        DropReason::Checksum => "checksum",
        DropReason::InvalidAuthType => "invalid_auth_type",
        DropReason::AuthTypeMismatch => "auth_type_mismatch",
        DropReason::AuthFailure => "auth_failure",
        DropReason::IntervalMismatch => "interval_mismatch",
        DropReason::AddrCount => "addr_count",
        DropReason::AddrList => "addr_list",
        DropReason::CastMismatch => "cast_mismatch",
        DropReason::UnicastSrcNotPeer => "unicast_src_not_peer",
    }
}

/// What a snapshot needs besides the router.
pub(crate) struct Ctx<'a> {
    /// The engine's `now`.
    pub now: Instant,
    /// The wall clock at `now`.
    pub wall: SystemTime,
    /// When the daemon started.
    pub started: SystemTime,
    /// The configuration file.
    pub config_file: &'a Path,
    /// Interface names by index.
    pub ifname: &'a dyn Fn(u32) -> String,
    /// The checkers' real-server table.
    pub real_servers: &'a crate::check::StatusTable,
}

impl Ctx<'_> {
    /// The wall time of the engine's `at`.
    pub fn wall_of(&self, at: Instant) -> WallTime {
        let ago = self.now.saturating_duration_since(at);
        WallTime::of(self.wall.checked_sub(ago).unwrap_or(UNIX_EPOCH))
    }
}

fn vip_text(v: &ka_vrrp::VipConfig) -> String {
    format!("{}/{}", v.addr, v.prefix_len)
}

/// The snapshot of `router`.
pub(crate) fn snapshot(router: &Router, ctx: &Ctx<'_>) -> Status {
    let mut names: BTreeMap<u32, String> = BTreeMap::new();
    let mut ifname = |i: u32| names.entry(i).or_insert_with(|| (ctx.ifname)(i)).clone();
    let instances = router
        .instances()
        .iter()
        .map(|i| instance_status(router, i, ctx, &mut ifname))
        .collect();
    let sync_groups = (0..router.sync_group_count())
        .map(|g| SyncGroupStatus {
            name: router.sync_group_name(g).unwrap_or("?").to_owned(),
            state: router
                .sync_group_state(g)
                .unwrap_or(StateKind::Init)
                .to_string(),
            members: router
                .instances()
                .iter()
                .filter(|i| i.sync_group() == Some(g))
                .map(|i| i.config().name.clone())
                .collect(),
        })
        .collect();
    let unmatched_drops = [DropReason::NoInstance, DropReason::VridZero]
        .into_iter()
        .map(|r| (drop_name(r).to_owned(), router.unmatched_drops(r)))
        .collect();
    Status {
        daemon: DaemonInfo {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            config_file: ctx.config_file.display().to_string(),
            started: WallTime::of(ctx.started),
        },
        instances,
        sync_groups,
        unmatched_drops,
        real_servers: ctx
            .real_servers
            .lock()
            .ok()
            .map(|t| t.clone())
            .filter(|t| !t.is_empty()),
        virtual_servers: None,
    }
}

fn instance_status(
    router: &Router,
    i: &Instance,
    ctx: &Ctx<'_>,
    ifname: &mut dyn FnMut(u32) -> String,
) -> InstanceStatus {
    let c = i.config();
    let st = i.stats();
    let ip = |a: &IpAddr| a.to_string();
    InstanceStatus {
        name: c.name.clone(),
        state: i.state().kind().to_string(),
        vrid: c.vrid.get(),
        version: match c.version {
            ka_model::VrrpVersion::V2 => 2,
            ka_model::VrrpVersion::V3 => 3,
        },
        family: match c.family {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
        .to_owned(),
        interface: ifname(c.interface.0),
        ifindex: c.interface.0,
        src_addr: c.src_addr.to_string(),
        multicast_group: c
            .unicast_peers
            .is_empty()
            .then(|| c.mcast_group().to_string()),
        unicast_peers: c.unicast_peers.iter().map(ip).collect(),
        priority: c.priority,
        effective_priority: i.effective_priority(),
        preempt: c.preempt,
        advert_int_ms: c.advert_int.0.saturating_mul(10),
        fault: i.has_fault(),
        master: i.master().map(|m| MasterStatus {
            address: m.addr.to_string(),
            priority: m.priority,
            is_self: matches!(i.state().kind(), StateKind::Master),
        }),
        vips: c.vips.iter().map(vip_text).collect(),
        excluded_vips: c.excluded_vips.iter().map(vip_text).collect(),
        sync_group: i
            .sync_group()
            .and_then(|g| router.sync_group_name(g))
            .map(str::to_owned),
        last_transition: i.last_transition().map(|t| TransitionStatus {
            from: t.from.to_string(),
            to: t.to.to_string(),
            reason: reason_name(t.reason).to_owned(),
            at: ctx.wall_of(t.at),
        }),
        counters: Counters {
            adverts_sent: st.adverts_sent,
            adverts_received: st.adverts_rcvd,
            became_master: st.become_master,
            released_master: st.release_master,
            transitions: st.transitions,
            priority_zero_sent: st.pri_zero_sent,
            priority_zero_received: st.pri_zero_rcvd,
            drops: DropReason::ALL
                .into_iter()
                .map(|r| (drop_name(r).to_owned(), st.drops(r)))
                .collect(),
        },
    }
}

/// A table padded to its widest cells (two spaces between columns).
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            let w = widths.get(c).copied().unwrap_or(0);
            let _ = write!(line, "{cell:<w$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn age(now_us: u64, then_us: u64) -> String {
    let s = Duration::from_micros(now_us.saturating_sub(then_us)).as_secs();
    match s {
        0..=119 => format!("{s}s ago"),
        120..=7199 => format!("{}m ago", s / 60),
        7200..=172_799 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// The human-readable rendering of `s`; `now` gives the ages ("12s ago").
pub fn render_text(s: &Status, now: SystemTime) -> String {
    let now_us = WallTime::of(now).unix_us;
    let mut out = format!(
        "keepalived-rs {} (pid {}), up since {} ({}), config {}\n",
        s.daemon.version,
        s.daemon.pid,
        s.daemon.started.time,
        age(now_us, s.daemon.started.unix_us),
        s.daemon.config_file
    );
    if s.instances.is_empty() {
        out.push_str("\nno VRRP instance\n");
    } else {
        let mut rows = vec![[
            "INSTANCE",
            "STATE",
            "PRIO",
            "EFF",
            "VRID",
            "VER",
            "INTERFACE",
            "ADVERT",
            "MASTER",
        ]
        .map(str::to_owned)
        .to_vec()];
        for i in &s.instances {
            let master = match &i.master {
                Some(m) if m.is_self => format!("{} (self)", m.address),
                Some(m) => format!("{} (prio {})", m.address, m.priority),
                None => "-".to_owned(),
            };
            rows.push(vec![
                i.name.clone(),
                i.state.clone(),
                i.priority.to_string(),
                i.effective_priority.to_string(),
                i.vrid.to_string(),
                format!("v{}", i.version),
                i.interface.clone(),
                format!("{}ms", i.advert_int_ms),
                master,
            ]);
        }
        out.push('\n');
        out.push_str(&table(&rows));
        for i in &s.instances {
            let _ = writeln!(out, "\n{}:", i.name);
            let mut vips = i.vips.join(" ");
            if !i.excluded_vips.is_empty() {
                let _ = write!(vips, " (excluded: {})", i.excluded_vips.join(" "));
            }
            let _ = writeln!(out, "  vips: {}", if vips.is_empty() { "-" } else { &vips });
            let path = match &i.multicast_group {
                Some(g) => format!("multicast {g}"),
                None => format!("unicast to {}", i.unicast_peers.join(" ")),
            };
            let _ = writeln!(out, "  from {} {}", i.src_addr, path);
            if let Some(g) = &i.sync_group {
                let _ = writeln!(out, "  sync group: {g}");
            }
            if i.fault {
                out.push_str("  fault: yes\n");
            }
            match &i.last_transition {
                Some(t) => {
                    let _ = writeln!(
                        out,
                        "  last transition: {} -> {} ({}) at {} ({})",
                        t.from,
                        t.to,
                        t.reason,
                        t.at.time,
                        age(now_us, t.at.unix_us)
                    );
                }
                None => out.push_str("  last transition: none\n"),
            }
            let c = &i.counters;
            let _ = writeln!(
                out,
                "  adverts: sent {}, received {}; became master {}, released {}; \
                 priority 0: sent {}, received {}",
                c.adverts_sent,
                c.adverts_received,
                c.became_master,
                c.released_master,
                c.priority_zero_sent,
                c.priority_zero_received
            );
            let drops: Vec<String> = c
                .drops
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(
                out,
                "  drops: {}",
                if drops.is_empty() {
                    "none".to_owned()
                } else {
                    drops.join(", ")
                }
            );
        }
    }
    if !s.sync_groups.is_empty() {
        let mut rows = vec![["SYNC GROUP", "STATE", "MEMBERS"]
            .map(str::to_owned)
            .to_vec()];
        for g in &s.sync_groups {
            rows.push(vec![g.name.clone(), g.state.clone(), g.members.join(",")]);
        }
        out.push('\n');
        out.push_str(&table(&rows));
    }
    if let Some(rs) = s.real_servers.as_ref().filter(|r| !r.is_empty()) {
        let mut rows = vec![[
            "VIRTUAL SERVER",
            "REAL SERVER",
            "STATE",
            "WEIGHT",
            "LAST RESULT",
            "REASON",
        ]
        .map(str::to_owned)
        .to_vec()];
        for r in rs {
            rows.push(vec![
                r.virtual_server.clone(),
                r.real_server.clone(),
                if r.alive { "UP" } else { "DOWN" }.to_owned(),
                r.weight.to_string(),
                r.last_result.clone().unwrap_or_else(|| "-".into()),
                r.reason.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        out.push('\n');
        out.push_str(&table(&rows));
    }
    if let Some(vs) = &s.virtual_servers {
        out.push('\n');
        out.push_str(&vs.render());
    }
    let unmatched: Vec<String> = s
        .unmatched_drops
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if !unmatched.is_empty() {
        let _ = writeln!(out, "\nadverts for no instance: {}", unmatched.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_model::Vrid;
    use ka_vrrp::{IfaceId, InstanceConfig, RouterConfig, SyncGroupConfig, VipConfig};

    fn router() -> Router {
        let mut a = InstanceConfig::new(
            "VI_1",
            Vrid::new(51).unwrap(),
            IfaceId(3),
            "192.0.2.1".parse().unwrap(),
        );
        a.priority = 150;
        a.vips = vec![VipConfig::host("192.0.2.100".parse().unwrap())];
        let mut b = InstanceConfig::new(
            "VI_6",
            Vrid::new(52).unwrap(),
            IfaceId(3),
            "fe80::1".parse().unwrap(),
        );
        b.unicast_peers = vec!["fe80::2".parse().unwrap()];
        b.vips = vec![VipConfig::host("2001:db8::100".parse().unwrap())];
        Router::new(RouterConfig {
            instances: vec![a, b],
            sync_groups: vec![SyncGroupConfig {
                name: "G1".into(),
                members: vec!["VI_1".into()],
                tracking_weight: false,
            }],
        })
        .unwrap()
    }

    fn ctx_at<'a>(
        now: Instant,
        wall: SystemTime,
        f: &'a dyn Fn(u32) -> String,
        rs: &'a crate::check::StatusTable,
    ) -> Ctx<'a> {
        Ctx {
            now,
            wall,
            started: wall - Duration::from_secs(100),
            config_file: Path::new("/etc/keepalived/keepalived.conf"),
            ifname: f,
            real_servers: rs,
        }
    }

    #[test]
    fn snapshot_of_a_running_router() {
        let mut r = router();
        r.start(Instant::from_millis(1_000));
        // VI_1 has nobody to hear: master after its down interval.
        let t = r.poll_timeout().unwrap();
        r.handle_timeout(t);
        while r.poll_event().is_some() {}
        let wall = UNIX_EPOCH + Duration::from_secs(1_795_333_177);
        let names = |i: u32| format!("eth{i}");
        let rs = crate::check::StatusTable::default();
        let ctx = ctx_at(t.add_micros(2_000_000), wall, &names, &rs);
        let s = snapshot(&r, &ctx);
        assert_eq!(s.instances.len(), 2);
        let a = &s.instances[0];
        assert_eq!(a.name, "VI_1");
        assert_eq!(a.state, "MASTER");
        assert_eq!((a.priority, a.effective_priority), (150, 150));
        assert_eq!(a.interface, "eth3");
        assert_eq!(a.advert_int_ms, 1000);
        assert_eq!(a.vips, vec!["192.0.2.100/32"]);
        assert_eq!(a.multicast_group.as_deref(), Some("224.0.0.18"));
        assert_eq!(
            a.master,
            Some(MasterStatus {
                address: "192.0.2.1".into(),
                priority: 150,
                is_self: true
            })
        );
        let lt = a.last_transition.as_ref().unwrap();
        assert_eq!((lt.from.as_str(), lt.to.as_str()), ("BACKUP", "MASTER"));
        assert_eq!(lt.reason, "master_down");
        // 2 s before the wall clock of "now".
        assert_eq!(lt.at.unix_us, 1_795_333_175_000_000);
        assert_eq!(lt.at.time, "2026-11-22T07:39:35.000000Z");
        assert_eq!(a.counters.became_master, 1);
        assert_eq!(a.counters.adverts_sent, 1);
        assert_eq!(a.counters.drops.len(), DropReason::ALL.len());
        assert_eq!(a.sync_group.as_deref(), Some("G1"));
        let b = &s.instances[1];
        assert_eq!((b.state.as_str(), b.family.as_str()), ("BACKUP", "ipv6"));
        assert_eq!(b.master, None);
        assert_eq!(b.multicast_group, None);
        assert_eq!(b.unicast_peers, vec!["fe80::2"]);
        assert_eq!(b.version, 3);
        assert_eq!(s.sync_groups.len(), 1);
        assert_eq!(s.sync_groups[0].state, "MASTER");
        assert_eq!(s.sync_groups[0].members, vec!["VI_1"]);
        assert_eq!(s.daemon.pid, std::process::id());

        // JSON round trip, and the documented field names.
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["instances"][0]["master"]["self"], true);
        assert_eq!(
            j["instances"][0]["last_transition"]["reason"],
            "master_down"
        );
        assert_eq!(
            j["instances"][0]["last_transition"]["time"],
            "2026-11-22T07:39:35.000000Z"
        );
        assert_eq!(j["instances"][0]["counters"]["drops"]["ttl"], 0);
        assert_eq!(j["unmatched_drops"]["no_instance"], 0);
        assert!(j.get("real_servers").is_none(), "absent without checkers");
        let back: Status = serde_json::from_value(j).unwrap();
        assert_eq!(back, s);

        // Text: a header row, one row per instance, the details, the group table.
        let text = render_text(&s, wall);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("keepalived-rs "), "{text}");
        let header = lines
            .iter()
            .position(|l| l.starts_with("INSTANCE"))
            .unwrap();
        let cols: Vec<&str> = lines[header + 1].split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "VI_1",
                "MASTER",
                "150",
                "150",
                "51",
                "v2",
                "eth3",
                "1000ms",
                "192.0.2.1",
                "(self)"
            ],
            "{text}"
        );
        assert!(
            text.contains(
                "  last transition: BACKUP -> MASTER (master_down) at \
                 2026-11-22T07:39:35.000000Z (2s ago)\n"
            ),
            "{text}"
        );
        assert!(text.contains("  vips: 192.0.2.100/32\n"), "{text}");
        assert!(text.contains("unicast to fe80::2"), "{text}");
        assert!(text.contains("drops: none"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["G1", "MASTER", "VI_1"]),
            "{text}"
        );

        // With checkers: the real servers' table.
        rs.lock().unwrap().push(crate::check::RsReport {
            virtual_server: "[192.0.2.100]:tcp:80".into(),
            real_server: "[192.0.2.10]:tcp:80".into(),
            alive: false,
            weight: 1,
            last_result: Some("connection refused".into()),
            reason: Some("TCP_CHECK failed".into()),
            last_probe_us: Some(350),
            probes: 2,
            probe_us_total: 700,
        });
        let s = snapshot(&r, &ctx);
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["real_servers"][0]["real_server"], "[192.0.2.10]:tcp:80");
        assert_eq!(j["real_servers"][0]["alive"], false);
        let text = render_text(&s, wall);
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()
                    == [
                        "[192.0.2.100]:tcp:80",
                        "[192.0.2.10]:tcp:80",
                        "DOWN",
                        "1",
                        "connection",
                        "refused",
                        "TCP_CHECK",
                        "failed"
                    ]),
            "{text}"
        );
    }

    #[test]
    fn ages_and_tables() {
        assert_eq!(age(5_000_000, 0), "5s ago");
        assert_eq!(age(600_000_000, 0), "10m ago");
        assert_eq!(age(0, 5), "0s ago");
        assert_eq!(
            table(&[
                vec!["A".into(), "BB".into()],
                vec!["CCC".into(), "D".into()]
            ]),
            "A    BB\nCCC  D\n"
        );
    }
}
