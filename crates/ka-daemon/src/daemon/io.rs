//! The daemon's I/O side of the engine: decoding what the VRRP sockets receive and
//! applying what the router asks for (address changes, adverts, GARP/NA frames).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::rc::Rc;

use ka_sys::{Netlink, PacketSocket, RxPacket, VrrpSocket};
use ka_vrrp::{Action, AhStatus, IfaceId, Router, RxMeta, Transmit};
use tracing::{debug, error, warn};

/// The sockets and kernel handles the router's output goes through.
pub(super) struct Io {
    pub(super) nl: Netlink,
    /// VRRP sockets by (ifindex, IPv6?).
    pub(super) sockets: BTreeMap<(u32, bool), Rc<VrrpSocket>>,
    /// AF_PACKET sockets for GARP/NA, opened on first use.
    pub(super) packet: BTreeMap<u32, PacketSocket>,
    /// MAC addresses by ifindex.
    pub(super) macs: BTreeMap<u32, [u8; 6]>,
    /// IPv4 identification of the next advert (keepalived counts up).
    pub(super) ip_id: u16,
    /// Whether VIPs stay on stop (`-V`).
    pub(super) keep_vips_on_stop: bool,
    pub(super) stopping: bool,
    /// VIP attributes, routes, rules, static items, VMACs, no_accept firewall.
    pub(super) net: super::net::NetState,
    /// Notify scripts and FIFOs.
    pub(super) notify: super::notify::Notifier,
    /// SMTP alerts of instances and sync groups.
    pub(super) alerts: crate::alert::VrrpAlerts,
    /// Tracking tasks (started after the initial states are fed; restarted by a reload).
    pub(super) track: Option<super::track::Running>,
    /// `lvs_sync_daemon`, following its instance's state.
    pub(super) syncd: Option<super::syncd::SyncD>,
}

/// Decodes a received datagram into the engine's view: `None` for bytes that are not a
/// VRRP message at all (the engine never sees them).
pub(super) fn decode_rx(p: &RxPacket) -> Option<(RxMeta, ka_wire::vrrp::VrrpPacket)> {
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

pub(super) fn name(router: &Router, id: ka_vrrp::InstanceId) -> String {
    router
        .instance_name(id)
        .map_or_else(|| format!("#{}", id.0), str::to_owned)
}

/// Applies the router's output: adverts first, then actions (address changes), then the
/// other transmissions (GARP/NA, which announce the addresses), then events.
///
/// Adverts go before the address changes as in RFC 5798 6.4.2/6.4.3 (a new master sends its
/// ADVERTISEMENT at once; a stopping one sends priority 0, then leaves) and as keepalived does
/// (measured: its first advert leads its VIP by ~1.3 ms); a netlink round trip before the
/// advert made our take-over later on the wire (bench/failover).
pub(super) async fn drain(router: &mut Router, io: &mut Io) {
    let mut frames = Vec::new();
    while let Some(t) = router.poll_transmit() {
        if matches!(t, Transmit::Advert { .. }) {
            transmit(router, io, t).await;
        } else {
            frames.push(t);
        }
    }
    while let Some(a) = router.poll_action() {
        apply_action(router, io, a).await;
    }
    for t in frames {
        transmit(router, io, t).await;
    }
    while let Some(t) = router.poll_transmit() {
        transmit(router, io, t).await;
    }
    while let Some(e) = router.poll_event() {
        super::events::log_event(router, &e);
        io.notify.on_event(router, &e);
        if let Some(s) = io.syncd.as_mut() {
            s.on_event(router, &e);
        }
        super::notify::alert(&mut io.alerts, router, &e);
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
            let spec = io
                .net
                .vip(&name(router, instance), iface.0, addr, prefix_len);
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
            let spec = io
                .net
                .vip(&name(router, instance), iface.0, addr, prefix_len);
            match io.nl.del_address(&spec).await {
                Ok(_) => debug!("{}: removed {addr}/{prefix_len}", name(router, instance)),
                Err(e) => error!(
                    "{}: cannot remove {addr}/{prefix_len}: {e}",
                    name(router, instance)
                ),
            }
        }
        Action::AddRoute { instance, route } => {
            let n = name(router, instance);
            io.net.route(&io.nl, &n, &route, true).await;
        }
        Action::RemoveRoute { instance, route } => {
            if io.stopping && io.keep_vips_on_stop {
                return;
            }
            let n = name(router, instance);
            io.net.route(&io.nl, &n, &route, false).await;
        }
        Action::AddRule { instance, rule } => {
            let n = name(router, instance);
            io.net.rule(&io.nl, &n, &rule, true).await;
        }
        Action::RemoveRule { instance, rule } => {
            if io.stopping && io.keep_vips_on_stop {
                return;
            }
            let n = name(router, instance);
            io.net.rule(&io.nl, &n, &rule, false).await;
        }
        Action::BlockAddresses { instance, addrs } => {
            io.net.firewall.block(&name(router, instance), &addrs).await;
        }
        Action::UnblockAddresses { instance, addrs } => {
            if io.stopping && io.keep_vips_on_stop {
                return;
            }
            io.net
                .firewall
                .unblock(&name(router, instance), &addrs)
                .await;
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
