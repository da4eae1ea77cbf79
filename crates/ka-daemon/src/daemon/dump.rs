//! keepalived's dump signals: SIGUSR1 writes the data dump to `/tmp/keepalived.data`,
//! SIGUSR2 the statistics to `/tmp/keepalived.stats`, and keepalived's JSON signal
//! (`keepalived --signum=JSON`, SIGRTMIN+2 = 36 on glibc) the JSON dump to
//! `/tmp/keepalived.json`.
//!
//! The layouts follow keepalived 2.2.7's for what this daemon has: the data dump's
//! "VRRP Topology" and "VRRP Sync groups" sections (no global definitions, socket pool or
//! interface sections), the statistics file line for line (keepalived's "Length" error has
//! no counter here: undecodable packets never reach the engine; the engine's extra drop
//! reasons follow under "Other Errors"), and the JSON dump's `data`/`stats` objects with
//! keepalived's key names for the fields this daemon knows.
//!
//! Files are written with mode 0600 through a new temporary file renamed over the target,
//! so a symlink planted at the target is replaced, never followed.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ka_vrrp::{DropReason, Instance, Router, StateKind};
use serde_json::json;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing::{info, warn};

use super::status::{self, Ctx};

/// `--signum=JSON`: SIGRTMIN+2 as keepalived computes it on glibc.
pub const SIGJSON: i32 = 36;

/// Which dump a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SIGUSR1: `/tmp/keepalived.data`.
    Data,
    /// SIGUSR2: `/tmp/keepalived.stats`.
    Stats,
    /// SIGJSON: `/tmp/keepalived.json`.
    Json,
}

impl Kind {
    /// keepalived's file.
    pub fn path(self) -> &'static Path {
        Path::new(match self {
            Kind::Data => "/tmp/keepalived.data",
            Kind::Stats => "/tmp/keepalived.stats",
            Kind::Json => "/tmp/keepalived.json",
        })
    }
}

/// The three dump signals.
pub struct Signals {
    usr1: Signal,
    usr2: Signal,
    json: Signal,
}

impl Signals {
    /// Installs the handlers (inside the runtime).
    pub fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            usr1: signal(SignalKind::user_defined1())?,
            usr2: signal(SignalKind::user_defined2())?,
            json: signal(SignalKind::from_raw(SIGJSON))?,
        })
    }

    /// The next dump asked for.
    pub async fn next(&mut self) -> Kind {
        tokio::select! {
            _ = self.usr1.recv() => Kind::Data,
            _ = self.usr2.recv() => Kind::Stats,
            _ = self.json.recv() => Kind::Json,
        }
    }
}

/// Writes the dump `kind` (logged; a failure is logged and changes nothing else).
pub(crate) fn write(kind: Kind, router: &Router, ctx: &Ctx<'_>) {
    let text = match kind {
        Kind::Data => data(router, ctx),
        Kind::Stats => stats(router),
        Kind::Json => json_dump(router, ctx),
    };
    let path = kind.path();
    match write_file(path, text.as_bytes()) {
        Ok(()) => info!("wrote {}", path.display()),
        Err(e) => warn!("cannot write {}: {e}", path.display()),
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = PathBuf::from(format!("{}.{}.tmp", path.display(), std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// keepalived's VRRP state numbers.
fn state_number(k: StateKind) -> u8 {
    match k {
        StateKind::Init => 0,
        StateKind::Backup => 1,
        StateKind::Master => 2,
        StateKind::Fault => 3,
    }
}

fn ifname(ctx: &Ctx<'_>, i: u32) -> String {
    (ctx.ifname)(i)
}

fn vip_lines(i: &Instance, ctx: &Ctx<'_>, excluded: bool) -> Vec<String> {
    let c = i.config();
    let set = matches!(i.state().kind(), StateKind::Master);
    let list = if excluded { &c.excluded_vips } else { &c.vips };
    list.iter()
        .map(|v| {
            let dev = ifname(ctx, v.iface.unwrap_or(c.interface).0);
            let full = matches!(
                (v.addr, v.prefix_len),
                (std::net::IpAddr::V4(_), 32) | (std::net::IpAddr::V6(_), 128)
            );
            let addr = if full {
                v.addr.to_string()
            } else {
                format!("{}/{}", v.addr, v.prefix_len)
            };
            format!(
                "{addr} dev {dev} scope global{}",
                if set { " set" } else { "" }
            )
        })
        .collect()
}

/// `/tmp/keepalived.data`.
fn data(router: &Router, ctx: &Ctx<'_>) -> String {
    let mut o = String::from("------< VRRP Topology >------\n");
    for i in router.instances() {
        let c = i.config();
        let kind = i.state().kind();
        let _ = writeln!(o, " VRRP Instance = {}", c.name);
        let _ = writeln!(
            o,
            "   VRRP Version = {}",
            match c.version {
                ka_model::VrrpVersion::V2 => 2,
                ka_model::VrrpVersion::V3 => 3,
            }
        );
        if let Some(g) = i.sync_group().and_then(|g| router.sync_group_name(g)) {
            let _ = writeln!(o, "   Sync group = {g}");
        }
        let _ = writeln!(o, "   State = {kind}");
        if let Some(t) = i.last_transition() {
            let w = ctx.wall_of(t.at);
            let _ = writeln!(
                o,
                "   Last transition = {} ({}, {} -> {}, {})",
                w.seconds_text(),
                w.time,
                t.from,
                t.to,
                status::reason_name(t.reason)
            );
        }
        if let ka_vrrp::State::Backup(b) = i.state() {
            let ago = b.master_down_at.saturating_duration_since(ctx.now);
            let _ = writeln!(o, "   Master down timer = {} usecs", ago.as_micros());
        }
        let _ = writeln!(o, "   Interface = {}", ifname(ctx, c.interface.0));
        let _ = writeln!(o, "   Using src_ip = {}", c.src_addr);
        if c.unicast_peers.is_empty() {
            let _ = writeln!(o, "   Multicast address {}", c.mcast_group());
        } else {
            o.push_str("   Unicast Peer :\n");
            for p in &c.unicast_peers {
                let _ = writeln!(o, "     {p}");
            }
        }
        let _ = writeln!(
            o,
            "   Gratuitous ARP delay = {}",
            c.garp.master_delay.as_secs()
        );
        let _ = writeln!(o, "   Gratuitous ARP repeat = {}", c.garp.master_repeat);
        let _ = writeln!(
            o,
            "   Gratuitous ARP refresh = {}",
            c.garp.master_refresh.map_or(0, |d| d.as_secs())
        );
        let _ = writeln!(
            o,
            "   Gratuitous ARP refresh repeat = {}",
            c.garp.master_refresh_repeat
        );
        let _ = writeln!(o, "   Down timer adverts = {}", c.down_timer_adverts);
        let _ = writeln!(
            o,
            "   Send advert after receive lower priority advert = {}",
            !c.lower_prio_no_advert
        );
        let _ = writeln!(
            o,
            "   Send advert after receive higher priority advert = {}",
            c.higher_prio_send_advert
        );
        let _ = writeln!(o, "   Virtual Router ID = {}", c.vrid.get());
        let _ = writeln!(o, "   Priority = {}", c.priority);
        let _ = writeln!(o, "   Effective priority = {}", i.effective_priority());
        if let Some(m) = i.master() {
            let _ = writeln!(o, "   Master = {} (priority {})", m.addr, m.priority);
        }
        let _ = writeln!(
            o,
            "   Advert interval = {} milli-sec",
            u64::from(c.advert_int.0) * 10
        );
        let on = |b: bool| if b { "enabled" } else { "disabled" };
        let _ = writeln!(o, "   Accept = {}", on(c.accept_mode()));
        let _ = writeln!(o, "   Preempt = {}", on(c.preempt));
        if !c.preempt_delay.is_zero() {
            let _ = writeln!(o, "   Preempt delay = {} secs", c.preempt_delay.as_secs());
        }
        let vips = vip_lines(i, ctx, false);
        let _ = writeln!(o, "   Virtual IP ({}):", vips.len());
        for v in vips {
            let _ = writeln!(o, "     {v}");
        }
        let excluded = vip_lines(i, ctx, true);
        if !excluded.is_empty() {
            let _ = writeln!(o, "   Virtual IP Excluded ({}):", excluded.len());
            for v in excluded {
                let _ = writeln!(o, "     {v}");
            }
        }
    }
    if router.sync_group_count() > 0 {
        o.push_str("------< VRRP Sync groups >------\n");
        for g in 0..router.sync_group_count() {
            let members: Vec<&Instance> = router
                .instances()
                .iter()
                .filter(|i| i.sync_group() == Some(g))
                .collect();
            let _ = writeln!(
                o,
                " VRRP Sync Group = {}, {}",
                router.sync_group_name(g).unwrap_or("?"),
                router.sync_group_state(g).unwrap_or(StateKind::Init)
            );
            let count = |k: StateKind| members.iter().filter(|i| i.state().kind() == k).count();
            let _ = writeln!(
                o,
                "   Num member fault {}, num member init {}",
                count(StateKind::Fault),
                count(StateKind::Init)
            );
            o.push_str("   VRRP member instances :\n");
            for m in members {
                let _ = writeln!(o, "     {}", m.config().name);
            }
        }
    }
    o
}

/// `/tmp/keepalived.stats`, keepalived's layout.
fn stats(router: &Router) -> String {
    let mut o = String::new();
    for i in router.instances() {
        let s = i.stats();
        let d = |r: DropReason| s.drops(r);
        let _ = write!(
            o,
            "VRRP Instance: {}\n  Advertisements:\n    Received: {}\n    Sent: {}\n  \
             Became master: {}\n  Released master: {}\n  Packet Errors:\n    TTL: {}\n    \
             Invalid Type: {}\n    Advertisement Interval: {}\n    Address List: {}\n  \
             Authentication Errors:\n    Invalid Type: {}\n    Type Mismatch: {}\n    \
             Failure: {}\n  Priority Zero:\n    Received: {}\n    Sent: {}\n  \
             Other Errors:\n    Version: {}\n    Checksum: {}\n    Address Count: {}\n    \
             Not Running: {}\n    Cast Mismatch: {}\n    Unicast Source Not Peer: {}\n",
            i.config().name,
            s.adverts_rcvd,
            s.adverts_sent,
            s.become_master,
            s.release_master,
            d(DropReason::Ttl),
            d(DropReason::Type),
            d(DropReason::IntervalMismatch),
            d(DropReason::AddrList),
            d(DropReason::InvalidAuthType),
            d(DropReason::AuthTypeMismatch),
            d(DropReason::AuthFailure),
            s.pri_zero_rcvd,
            s.pri_zero_sent,
            d(DropReason::Version),
            d(DropReason::Checksum),
            d(DropReason::AddrCount),
            d(DropReason::NotRunning),
            d(DropReason::CastMismatch),
            d(DropReason::UnicastSrcNotPeer),
        );
    }
    o
}

/// `/tmp/keepalived.json`: keepalived's array of `{"data": ..., "stats": ...}`.
fn json_dump(router: &Router, ctx: &Ctx<'_>) -> String {
    let list: Vec<serde_json::Value> = router
        .instances()
        .iter()
        .map(|i| {
            let c = i.config();
            let s = i.stats();
            let d = |r: DropReason| s.drops(r);
            let last = i
                .last_transition()
                .map_or(0.0, |t| ctx.wall_of(t.at).unix_us as f64 / 1e6);
            let adv = f64::from(c.advert_int.0) / 100.0;
            let master_adv = match i.state() {
                ka_vrrp::State::Backup(b) => f64::from(b.master_adver_int.0) / 100.0,
                _ => adv,
            };
            json!({
                "data": {
                    "iname": c.name,
                    "dont_track_primary": u8::from(c.dont_track_primary),
                    "skip_check_adv_addr": u8::from(c.skip_check_adv_addr),
                    "strict_mode": u8::from(c.strict),
                    "ifp_ifname": ifname(ctx, c.interface.0),
                    "master_priority": match i.state() {
                        ka_vrrp::State::Backup(_) => i.master().map_or(0, |m| m.priority),
                        _ => 0,
                    },
                    "last_transition": last,
                    "garp_delay": c.garp.master_delay.as_secs(),
                    "garp_refresh": c.garp.master_refresh.map_or(0, |d| d.as_secs()),
                    "garp_rep": c.garp.master_repeat,
                    "garp_refresh_rep": c.garp.master_refresh_repeat,
                    "lower_prio_no_advert": u8::from(c.lower_prio_no_advert),
                    "higher_prio_send_advert": u8::from(c.higher_prio_send_advert),
                    "vrid": c.vrid.get(),
                    "base_priority": c.priority,
                    "effective_priority": i.effective_priority(),
                    "vipset": matches!(i.state().kind(), StateKind::Master),
                    "adver_int": adv,
                    "master_adver_int": master_adv,
                    "accept": u8::from(c.accept_mode()),
                    "nopreempt": !c.preempt,
                    "preempt_delay": c.preempt_delay.as_secs(),
                    "state": state_number(i.state().kind()),
                    "version": match c.version {
                        ka_model::VrrpVersion::V2 => 2,
                        ka_model::VrrpVersion::V3 => 3,
                    },
                    "vips": vip_lines(i, ctx, false),
                    "evips": vip_lines(i, ctx, true),
                    "unicast_peer": c.unicast_peers.iter().map(ToString::to_string).collect::<Vec<_>>(),
                },
                "stats": {
                    "advert_rcvd": s.adverts_rcvd,
                    "advert_sent": s.adverts_sent,
                    "become_master": s.become_master,
                    "release_master": s.release_master,
                    "advert_interval_err": d(DropReason::IntervalMismatch),
                    "ip_ttl_err": d(DropReason::Ttl),
                    "invalid_type_rcvd": d(DropReason::Type),
                    "addr_list_err": d(DropReason::AddrList),
                    "invalid_authtype": d(DropReason::InvalidAuthType),
                    "authtype_mismatch": d(DropReason::AuthTypeMismatch),
                    "auth_failure": d(DropReason::AuthFailure),
                    "pri_zero_rcvd": s.pri_zero_rcvd,
                    "pri_zero_sent": s.pri_zero_sent,
                },
            })
        })
        .collect();
    let mut t = serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into());
    t.push('\n');
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_model::Vrid;
    use ka_vrrp::{IfaceId, InstanceConfig, Instant, RouterConfig, SyncGroupConfig, VipConfig};
    use std::time::{Duration, UNIX_EPOCH};

    fn running() -> Router {
        let mut a = InstanceConfig::new(
            "VI_1",
            Vrid::new(51).unwrap(),
            IfaceId(3),
            "192.0.2.1".parse().unwrap(),
        );
        a.priority = 150;
        a.vips = vec![VipConfig::host("192.0.2.100".parse().unwrap())];
        let mut r = Router::new(RouterConfig {
            instances: vec![a],
            sync_groups: vec![SyncGroupConfig {
                name: "G1".into(),
                members: vec!["VI_1".into()],
                tracking_weight: false,
            }],
        })
        .unwrap();
        r.start(Instant::ZERO);
        let t = r.poll_timeout().unwrap();
        r.handle_timeout(t);
        r
    }

    fn with_ctx<T>(r: &Router, f: impl FnOnce(&Ctx<'_>) -> T) -> T {
        let names = |i: u32| format!("veth{i}");
        let wall = UNIX_EPOCH + Duration::from_secs(1_795_333_177);
        let rs = crate::check::StatusTable::default();
        let ctx = Ctx {
            real_servers: &rs,
            now: r.instances()[0].last_transition().unwrap().at,
            wall,
            started: wall,
            config_file: Path::new("k.conf"),
            ifname: &names,
        };
        f(&ctx)
    }

    #[test]
    fn data_layout() {
        let r = running();
        let d = with_ctx(&r, |c| data(&r, c));
        for line in [
            "------< VRRP Topology >------",
            " VRRP Instance = VI_1",
            "   VRRP Version = 2",
            "   Sync group = G1",
            "   State = MASTER",
            "   Last transition = 1795333177.000000 (2026-11-22T07:39:37.000000Z, BACKUP -> MASTER, master_down)",
            "   Interface = veth3",
            "   Using src_ip = 192.0.2.1",
            "   Multicast address 224.0.0.18",
            "   Virtual Router ID = 51",
            "   Priority = 150",
            "   Effective priority = 150",
            "   Advert interval = 1000 milli-sec",
            "   Virtual IP (1):",
            "     192.0.2.100 dev veth3 scope global set",
            "------< VRRP Sync groups >------",
            " VRRP Sync Group = G1, MASTER",
            "     VI_1",
        ] {
            assert!(d.lines().any(|l| l == line), "missing {line:?} in\n{d}");
        }
    }

    #[test]
    fn stats_layout_is_keepalived_s() {
        let r = running();
        let s = stats(&r);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines[..8],
            [
                "VRRP Instance: VI_1",
                "  Advertisements:",
                "    Received: 0",
                "    Sent: 1",
                "  Became master: 1",
                "  Released master: 0",
                "  Packet Errors:",
                "    TTL: 0",
            ]
        );
        assert!(s.contains("  Priority Zero:\n    Received: 0\n    Sent: 0\n"));
    }

    #[test]
    fn json_layout() {
        let r = running();
        let j: serde_json::Value =
            serde_json::from_str(&with_ctx(&r, |c| json_dump(&r, c))).unwrap();
        assert_eq!(j[0]["data"]["iname"], "VI_1");
        assert_eq!(j[0]["data"]["state"], 2);
        assert_eq!(j[0]["data"]["last_transition"], 1_795_333_177.0);
        assert_eq!(
            j[0]["data"]["vips"][0],
            "192.0.2.100 dev veth3 scope global set"
        );
        assert_eq!(j[0]["stats"]["become_master"], 1);
    }

    #[test]
    fn files_are_private_and_replace_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ka-dump-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let target = dir.join("keepalived.data");
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        write_file(&target, b"dump\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "dump\n");
        let m = std::fs::symlink_metadata(&target).unwrap();
        assert!(m.file_type().is_file());
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
