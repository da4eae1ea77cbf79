//! The VRRP daemon (`keepalived-rs -n -l -f CONF`, also with `-P`): loads the
//! configuration, maps it onto the sans-IO engine (`ka_vrrp::Router`) and moves its
//! bytes with `ka-sys` on a tokio current-thread runtime.
//!
//! The daemon holds no protocol decision: it decodes packets (checksum verified, TTL and
//! destination reported in `RxMeta`), feeds them, link changes and timeouts to the
//! router, and after every input applies the router's output in order: address changes,
//! then transmissions, then events (logged with `tracing`).
//!
//! Not yet run (warned at start-up): track scripts/files/processes/BFD, notify scripts,
//! virtual routes/rules, use_vmac/ipvlan, AH authentication, no_accept firewalling, reload.

pub mod map;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use ka_config::fs::StdFs;
use ka_config::lower::{Env, Lowering};
use ka_config::preprocess::{load_streaming, LoadOptions};
use ka_config::render;
use ka_config::source::FileSystem;
use ka_config::Severity;
use ka_sys::{AddrSpec, Monitor, Netlink, PacketSocket, RxPacket, VrrpSocket};
use ka_vrrp::{
    Action, AhStatus, Event, Family, IfaceId, Instant, Router, RxMeta, StateKind, Transmit,
};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use map::{Host, HostIface};

/// What `keepalived-rs` was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration file.
    pub file: PathBuf,
    /// `-i`.
    pub config_id: Option<String>,
    /// `-p`: pid file of the (single) process.
    pub pid_file: Option<PathBuf>,
    /// `-r`: pid file of the VRRP process (the same process here).
    pub vrrp_pid_file: Option<PathBuf>,
    /// `-D`: debug logging.
    pub detail: bool,
    /// `-V`: leave VIPs in place on stop.
    pub dont_release_vrrp: bool,
    /// `-s NAME`: run in a named network namespace.
    pub namespace: Option<String>,
}

/// Runs the daemon until SIGTERM/SIGINT. Exit status 0 after a clean stop, 1 when the
/// configuration or the host setup is refused.
pub fn run(opts: &Options) -> ExitCode {
    init_logging(opts.detail);
    let Some(cfg) = load_config(&opts.file, opts.config_id.clone()) else {
        return ExitCode::from(1);
    };
    if !cfg.lvs.virtual_servers.is_empty() {
        warn!("virtual_server blocks are not run yet (VRRP only)");
    }
    if let Some(ns) = &opts.namespace {
        if let Err(e) = ka_sys::netns::enter_named(ns) {
            error!("cannot enter network namespace {ns}: {e}");
            return ExitCode::from(1);
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let pid_files: Vec<&PathBuf> = opts
        .pid_file
        .iter()
        .chain(opts.vrrp_pid_file.iter())
        .collect();
    for p in &pid_files {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            error!("cannot write pid file {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    let local = tokio::task::LocalSet::new();
    let code = local.block_on(&rt, async_main(cfg.vrrp, opts.dont_release_vrrp));
    for p in &pid_files {
        let _ = std::fs::remove_file(p);
    }
    code
}

fn init_logging(detail: bool) {
    let default = if detail { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Loads and lowers the configuration, printing diagnostics as `check` does; `None` when
/// it has errors.
fn load_config(file: &Path, config_id: Option<String>) -> Option<ka_model::config::Config> {
    let fs = StdFs;
    if !fs.exists(file) {
        error!("configuration file {} not found", file.display());
        return None;
    }
    let opts = LoadOptions {
        config_id: config_id.or_else(ka_config::fs::default_config_id),
        cwd: std::env::current_dir().ok(),
        ..LoadOptions::default()
    };
    let env = Env {
        fs: &fs,
        interfaces: fs.read_dir(Path::new("/sys/class/net")).ok(),
    };
    let mut lowering = Lowering::new(&env);
    let loaded = load_streaming(file, &fs, &opts, &mut |node| lowering.node(&node));
    let (config, lower_diags) = lowering.finish();
    let mut diags = loaded.diagnostics.clone();
    diags.extend(lower_diags);
    diags.sort_by_key(|d| d.span.map(|s| (s.file, s.line, s.col)));
    if !diags.is_empty() {
        eprint!("{}", render::plain(&diags, &loaded.sources));
    }
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if errors > 0 {
        error!(
            "{}: {errors} error(s) in the configuration, not starting",
            file.display()
        );
        return None;
    }
    Some(config)
}

/// Reads the host's interfaces and their primary addresses; configured VIPs (perhaps left
/// by a killed earlier run) never count as an interface's primary address.
async fn host_info(
    nl: &Netlink,
    vips: &BTreeSet<IpAddr>,
) -> ka_sys::Result<(Host, BTreeMap<u32, ka_sys::Link>)> {
    let mut host = Host::new();
    let mut links = BTreeMap::new();
    for l in nl.links().await? {
        let mut addrs = nl.addresses(l.ifindex).await?;
        addrs.retain(|a| !vips.contains(&a.addr));
        let v4 = addrs.iter().find_map(|a| match a.addr {
            IpAddr::V4(x) => Some(x),
            IpAddr::V6(_) => None,
        });
        let v6_link_local = addrs.iter().find_map(|a| match a.addr {
            IpAddr::V6(x) if x.is_unicast_link_local() => Some(x),
            _ => None,
        });
        host.insert(
            l.name.clone(),
            HostIface {
                ifindex: l.ifindex,
                v4,
                v6_link_local,
            },
        );
        links.insert(l.ifindex, l);
    }
    Ok((host, links))
}

/// The sockets and kernel handles the router's output goes through.
struct Io {
    nl: Netlink,
    /// VRRP sockets by (ifindex, IPv6?).
    sockets: BTreeMap<(u32, bool), Rc<VrrpSocket>>,
    /// AF_PACKET sockets for GARP/NA, opened on first use.
    packet: BTreeMap<u32, PacketSocket>,
    /// MAC addresses by ifindex.
    macs: BTreeMap<u32, [u8; 6]>,
    /// IPv4 identification of the next advert (keepalived counts up).
    ip_id: u16,
    /// Whether VIPs stay on stop (`-V`).
    keep_vips_on_stop: bool,
    stopping: bool,
}

/// The daemon's clock mapped onto the engine's `Instant`.
#[derive(Debug, Clone, Copy)]
struct Clock(tokio::time::Instant);

impl Clock {
    fn now(&self) -> Instant {
        let us = u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX);
        Instant::from_micros(us)
    }
    fn deadline(&self, at: Instant) -> tokio::time::Instant {
        self.0 + std::time::Duration::from_micros(at.as_micros().min(1 << 50))
    }
}

async fn async_main(cfg: ka_model::vrrp::VrrpConfig, keep_vips_on_stop: bool) -> ExitCode {
    // Monitor first, then the dump: no link change is missed.
    let mut monitor = match Monitor::new(false) {
        Ok(m) => Some(m),
        Err(e) => {
            warn!("no link monitoring: {e}");
            None
        }
    };
    let nl = match Netlink::new() {
        Ok(n) => n,
        Err(e) => {
            error!("rtnetlink: {e}");
            return ExitCode::from(1);
        }
    };
    let vip_addrs: BTreeSet<IpAddr> = cfg
        .instances
        .iter()
        .flat_map(|i| {
            i.virtual_ipaddresses
                .iter()
                .chain(i.virtual_ipaddresses_excluded.iter())
                .map(|a| a.prefix.addr)
        })
        .collect();
    let (host, links) = match host_info(&nl, &vip_addrs).await {
        Ok(h) => h,
        Err(e) => {
            error!("cannot list interfaces: {e}");
            return ExitCode::from(1);
        }
    };
    let mapped = match map::map_config(&cfg, &host) {
        Ok(m) => m,
        Err(errs) => {
            for e in errs {
                error!("{e}");
            }
            return ExitCode::from(1);
        }
    };
    for w in &mapped.warnings {
        warn!("{w}");
    }
    let instances = mapped.router.instances.clone();
    for c in &instances {
        info!(
            "({}) ifindex {}, source {}, {:?}, priority {}, advert_int {} cs, {}",
            c.name,
            c.interface.0,
            c.src_addr,
            c.version,
            c.priority,
            c.advert_int.0,
            if c.unicast_peers.is_empty() {
                format!("multicast {}", c.mcast_group())
            } else {
                format!("{} unicast peer(s)", c.unicast_peers.len())
            }
        );
    }
    let mut router = match Router::new(mapped.router) {
        Ok(r) => r,
        Err(e) => {
            error!("{e}");
            return ExitCode::from(1);
        }
    };

    // VIPs a killed earlier run left behind (keepalived removes them before starting).
    let vips: Vec<AddrSpec> = instances
        .iter()
        .flat_map(|c| {
            c.vips
                .iter()
                .chain(c.excluded_vips.iter())
                .map(move |v| AddrSpec::new(v.iface.unwrap_or(c.interface).0, v.addr, v.prefix_len))
        })
        .collect();
    match nl.remove_leftover_addresses(&vips).await {
        Ok(removed) => {
            for r in removed {
                info!("removed leftover address {}/{}", r.addr, r.prefix_len);
            }
        }
        Err(e) => warn!("cannot remove leftover addresses: {e}"),
    }

    // One VRRP socket per interface and family; received packets come through a channel.
    let (tx, mut rx) = mpsc::channel::<RxPacket>(1024);
    let mut io = Io {
        nl,
        sockets: BTreeMap::new(),
        packet: BTreeMap::new(),
        macs: links
            .values()
            .filter_map(|l| l.mac.map(|m| (l.ifindex, m)))
            .collect(),
        ip_id: 0,
        keep_vips_on_stop,
        stopping: false,
    };
    let mut joined: BTreeSet<(u32, IpAddr)> = BTreeSet::new();
    for c in &instances {
        let v6 = c.family == Family::V6;
        let key = (c.interface.0, v6);
        if let std::collections::btree_map::Entry::Vacant(slot) = io.sockets.entry(key) {
            let s = if v6 {
                VrrpSocket::open_v6(c.interface.0)
            } else {
                VrrpSocket::open_v4(c.interface.0)
            };
            let s = match s {
                Ok(s) => Rc::new(s),
                Err(e) => {
                    error!("vrrp_instance {}: cannot open a VRRP socket: {e}", c.name);
                    return ExitCode::from(1);
                }
            };
            if let IpAddr::V6(src) = c.src_addr {
                if let Err(e) = s.bind_source_v6(src) {
                    error!("vrrp_instance {}: cannot bind {src}: {e}", c.name);
                    return ExitCode::from(1);
                }
            }
            let rs = Rc::clone(&s);
            let tx = tx.clone();
            tokio::task::spawn_local(async move {
                loop {
                    match rs.recv().await {
                        Ok(p) => {
                            if tx.send(p).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            warn!("receive on ifindex {}: {e}", rs.ifindex());
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    }
                }
            });
            slot.insert(s);
        }
        if c.unicast_peers.is_empty() {
            let group = c.mcast_group();
            if joined.insert((c.interface.0, group)) {
                if let Some(s) = io.sockets.get(&key) {
                    if let Err(e) = s.join_multicast(group) {
                        error!("vrrp_instance {}: cannot join {group}: {e}", c.name);
                        return ExitCode::from(1);
                    }
                }
            }
        }
    }
    drop(tx);

    let clock = Clock(tokio::time::Instant::now());
    for l in links.values() {
        router.handle_link(clock.now(), IfaceId(l.ifindex), l.is_up());
    }
    router.start(clock.now());
    info!(
        "VRRP started: {} instance(s), {} sync group(s)",
        instances.len(),
        cfg.sync_groups.len()
    );
    drain(&mut router, &mut io).await;

    // SIGHUP (keepalived's reload) would otherwise kill the process without priority 0 and
    // leave the VIPs: caught and ignored until reload exists.
    let (mut term, mut int, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(t), Ok(i), Ok(h)) => (t, i, h),
        _ => {
            error!("cannot install signal handlers");
            return ExitCode::from(1);
        }
    };
    loop {
        let deadline = router.poll_timeout().map(|t| clock.deadline(t));
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let link_event = async {
            match monitor.as_mut() {
                Some(m) => m.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = term.recv() => { info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { info!("SIGINT: stopping"); break; }
            _ = hup.recv() => warn!("SIGHUP: reload is not supported yet, ignored"),
            () = sleep => router.handle_timeout(clock.now()),
            p = rx.recv() => match p {
                Some(p) => {
                    if let Some((meta, pkt)) = decode_rx(&p) {
                        router.handle_packet(clock.now(), &meta, &pkt);
                    }
                }
                None => { error!("every VRRP socket failed"); break; }
            },
            ev = link_event => match ev {
                Some(ev) => on_link_event(&mut router, &mut io, clock.now(), ev).await,
                None => { warn!("link monitor ended"); monitor = None; }
            },
        }
        drain(&mut router, &mut io).await;
    }
    io.stopping = true;
    router.shutdown(clock.now());
    drain(&mut router, &mut io).await;
    info!("stopped");
    ExitCode::SUCCESS
}

async fn on_link_event(router: &mut Router, io: &mut Io, now: Instant, ev: ka_sys::Event) {
    match ev {
        ka_sys::Event::Link(l) => {
            if let Some(m) = l.mac {
                io.macs.insert(l.ifindex, m);
            }
            debug!(ifindex = l.ifindex, up = l.is_up(), "link {}", l.name);
            router.handle_link(now, IfaceId(l.ifindex), l.is_up());
        }
        ka_sys::Event::LinkRemoved { ifindex, .. } => {
            router.handle_link(now, IfaceId(ifindex), false);
        }
        ka_sys::Event::Overrun => match io.nl.links().await {
            Ok(links) => {
                for l in links {
                    router.handle_link(now, IfaceId(l.ifindex), l.is_up());
                }
            }
            Err(e) => warn!("cannot dump links after an overrun: {e}"),
        },
        ka_sys::Event::AddressAdded(_) | ka_sys::Event::AddressRemoved(_) => {}
    }
}

/// Decodes a received datagram into the engine's view: `None` for bytes that are not a
/// VRRP message at all (the engine never sees them).
fn decode_rx(p: &RxPacket) -> Option<(RxMeta, ka_wire::vrrp::VrrpPacket)> {
    let iface = IfaceId(p.ifindex);
    match p.src {
        IpAddr::V4(_) => {
            let ip = match ka_wire::ip::parse_vrrp_ip(&p.data) {
                Ok(ip) => ip,
                Err(e) => {
                    debug!("undecodable IPv4 packet from {}: {e}", p.src);
                    return None;
                }
            };
            let pkt = match ip.decode() {
                Ok(pkt) => pkt,
                Err(e) => {
                    debug!("undecodable VRRP packet from {}: {e}", ip.src);
                    return None;
                }
            };
            let meta = RxMeta {
                iface,
                src: ip.src,
                dst: ip.dst,
                ttl: Some(ip.ttl),
                // AH is not verified yet: an AH packet counts as failing verification.
                ah: if ip.ah.is_some() {
                    AhStatus::Invalid
                } else {
                    AhStatus::Absent
                },
                checksum_ok: ip.checksum_ok(),
            };
            Some((meta, pkt))
        }
        IpAddr::V6(_) => {
            let pkt = match ka_wire::vrrp::VrrpPacket::decode(&p.data, ka_wire::vrrp::Family::V6) {
                Ok(pkt) => pkt,
                Err(e) => {
                    debug!("undecodable VRRP packet from {}: {e}", p.src);
                    return None;
                }
            };
            let meta = RxMeta {
                iface,
                src: p.src,
                dst: p.dst,
                ttl: Some(p.ttl),
                ah: AhStatus::Absent,
                checksum_ok: ka_wire::vrrp::verify_checksum(&p.data, p.src, p.dst),
            };
            Some((meta, pkt))
        }
    }
}

fn name(router: &Router, id: ka_vrrp::InstanceId) -> String {
    router
        .instance(id)
        .map_or_else(|| format!("#{}", id.0), |i| i.config().name.clone())
}

/// Applies the router's output: actions first, then transmissions, then events.
async fn drain(router: &mut Router, io: &mut Io) {
    while let Some(a) = router.poll_action() {
        apply_action(router, io, a).await;
    }
    while let Some(t) = router.poll_transmit() {
        transmit(router, io, t).await;
    }
    while let Some(e) = router.poll_event() {
        log_event(router, &e);
    }
}

async fn apply_action(router: &Router, io: &mut Io, a: Action) {
    match a {
        Action::AddAddress {
            instance,
            iface,
            addr,
            prefix_len,
        } => {
            let spec = AddrSpec::new(iface.0, addr, prefix_len);
            match io.nl.add_address(&spec).await {
                Ok(_) => debug!("{}: added {addr}/{prefix_len}", name(router, instance)),
                Err(e) => error!(
                    "{}: cannot add {addr}/{prefix_len}: {e}",
                    name(router, instance)
                ),
            }
        }
        Action::RemoveAddress {
            instance,
            iface,
            addr,
            prefix_len,
        } => {
            if io.stopping && io.keep_vips_on_stop {
                return;
            }
            let spec = AddrSpec::new(iface.0, addr, prefix_len);
            match io.nl.del_address(&spec).await {
                Ok(_) => debug!("{}: removed {addr}/{prefix_len}", name(router, instance)),
                Err(e) => error!(
                    "{}: cannot remove {addr}/{prefix_len}: {e}",
                    name(router, instance)
                ),
            }
        }
        Action::AddRoute { .. }
        | Action::RemoveRoute { .. }
        | Action::AddRule { .. }
        | Action::RemoveRule { .. }
        | Action::BlockAddresses { .. }
        | Action::UnblockAddresses { .. } => {
            debug!("not applied yet: {a:?}");
        }
    }
}

async fn transmit(router: &Router, io: &mut Io, t: Transmit) {
    match t {
        Transmit::Advert {
            instance,
            iface,
            src,
            dst,
            packet,
            ..
        } => {
            let v6 = src.is_ipv6();
            let Some(sock) = io.sockets.get(&(iface.0, v6)) else {
                warn!(
                    "{}: no socket for ifindex {}",
                    name(router, instance),
                    iface.0
                );
                return;
            };
            let bytes = match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    io.ip_id = io.ip_id.wrapping_add(1);
                    packet
                        .encode_for_send(src, dst)
                        .and_then(|v| ka_wire::ip::keepalived_ipv4(s, d, io.ip_id, &v))
                }
                _ => packet.encode_for_send(src, dst),
            };
            match bytes {
                Ok(b) => {
                    if let Err(e) = sock.send(dst, &b).await {
                        warn!("{}: send advert to {dst}: {e}", name(router, instance));
                    }
                }
                Err(e) => error!("{}: cannot encode advert: {e}", name(router, instance)),
            }
        }
        Transmit::GratuitousArp {
            instance,
            iface,
            addr,
        } => {
            send_frame(router, io, instance, iface, |mac| {
                ka_wire::arp::garp_frame(mac, addr)
            })
            .await
        }
        Transmit::UnsolicitedNa {
            instance,
            iface,
            addr,
        } => {
            send_frame(router, io, instance, iface, |mac| {
                ka_wire::nd::una_frame(mac, addr)
            })
            .await
        }
    }
}

async fn send_frame(
    router: &Router,
    io: &mut Io,
    instance: ka_vrrp::InstanceId,
    iface: IfaceId,
    frame: impl FnOnce([u8; 6]) -> Vec<u8>,
) {
    let Some(mac) = io.macs.get(&iface.0).copied() else {
        debug!("{}: no MAC on ifindex {}", name(router, instance), iface.0);
        return;
    };
    if let std::collections::btree_map::Entry::Vacant(v) = io.packet.entry(iface.0) {
        match PacketSocket::open_tx(iface.0) {
            Ok(s) => {
                v.insert(s);
            }
            Err(e) => {
                warn!(
                    "{}: cannot open a packet socket: {e}",
                    name(router, instance)
                );
                return;
            }
        }
    }
    if let Some(s) = io.packet.get(&iface.0) {
        if let Err(e) = s.send(&frame(mac)).await {
            warn!("{}: cannot send GARP/NA: {e}", name(router, instance));
        }
    }
}

fn log_event(router: &Router, e: &Event) {
    match e {
        Event::StateChange {
            instance,
            from,
            to,
            reason,
        } => {
            let n = name(router, *instance);
            let span = tracing::info_span!("vrrp", instance = %n);
            let _g = span.enter();
            match to {
                StateKind::Master => info!("({n}) Entering MASTER STATE ({reason:?}, was {from})"),
                StateKind::Backup => info!("({n}) Entering BACKUP STATE ({reason:?}, was {from})"),
                StateKind::Fault => info!("({n}) Entering FAULT STATE ({reason:?}, was {from})"),
                StateKind::Init => info!("({n}) Entering INIT STATE ({reason:?}, was {from})"),
            }
        }
        Event::AdvertDropped {
            instance,
            src,
            reason,
        } => {
            let n = instance.map_or_else(|| "-".to_owned(), |i| name(router, i));
            debug!("({n}) advert from {src} dropped: {reason:?}");
        }
        Event::SyncGroupChange { group, from, to } => {
            let g = router.sync_group_name(*group).unwrap_or("?");
            info!("VRRP_Group({g}) {from} -> {to}");
        }
        Event::EventsLost { count } => warn!("{count} VRRP events lost"),
        other => debug!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_wire::vrrp::{Auth, Version, VrrpPacket};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn advert(version: Version) -> VrrpPacket {
        VrrpPacket {
            version,
            kind: 1,
            vrid: 51,
            priority: 150,
            adver_int_cs: 10,
            reserved: 0,
            checksum: 0,
            addrs: vec![],
            auth: Auth::None,
        }
    }

    #[test]
    fn decode_rx_ipv4_checksum_ttl_and_destination() {
        let src = Ipv4Addr::new(192, 0, 2, 1);
        let dst = Ipv4Addr::new(224, 0, 0, 18);
        let mut pkt = advert(Version::V3);
        pkt.addrs = vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100))];
        let vrrp = pkt.encode_for_send(src.into(), dst.into()).unwrap();
        let ip = ka_wire::ip::keepalived_ipv4(src, dst, 7, &vrrp).unwrap();
        let rx = RxPacket {
            src: src.into(),
            dst: dst.into(),
            ifindex: 3,
            ttl: 255,
            data: ip.clone(),
        };
        let (meta, got) = decode_rx(&rx).unwrap();
        assert_eq!(meta.iface, IfaceId(3));
        assert_eq!(meta.src, IpAddr::V4(src));
        assert_eq!(meta.dst, IpAddr::V4(dst));
        assert_eq!(meta.ttl, Some(255));
        assert_eq!(meta.ah, AhStatus::Absent);
        assert!(meta.checksum_ok);
        assert_eq!(got.vrid, 51);
        assert_eq!(got.addrs, pkt.addrs);
        // A flipped priority byte breaks the checksum: reported, not hidden.
        let mut bad = ip;
        let prio_at = 20 + 2;
        bad[prio_at] ^= 1;
        let (meta, _) = decode_rx(&RxPacket {
            data: bad,
            ..rx.clone()
        })
        .unwrap();
        assert!(!meta.checksum_ok);
        // Garbage never reaches the engine.
        assert!(decode_rx(&RxPacket {
            data: vec![0x45, 0, 0],
            ..rx
        })
        .is_none());
    }

    #[test]
    fn decode_rx_ipv6_uses_the_pseudo_header() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst: Ipv6Addr = "ff02::12".parse().unwrap();
        let vrrp = advert(Version::V3)
            .encode_for_send(src.into(), dst.into())
            .unwrap();
        let rx = RxPacket {
            src: src.into(),
            dst: dst.into(),
            ifindex: 4,
            ttl: 255,
            data: vrrp,
        };
        let (meta, got) = decode_rx(&rx).unwrap();
        assert!(meta.checksum_ok);
        assert_eq!(got.priority, 150);
        // The same bytes "to" another destination do not verify (v3 pseudo-header).
        let other = RxPacket {
            dst: IpAddr::V6("2001:db8::2".parse().unwrap()),
            ..rx
        };
        assert!(!decode_rx(&other).unwrap().0.checksum_ok);
    }
}
