//! Adapter between the simulator's [`Node`] trait and the `ka-vrrp` engine: the only
//! module that touches `ka-vrrp`.
//!
//! Local nanoseconds become `ka_vrrp::Instant` microseconds (floor); a deadline of `us`
//! becomes local `us * 1000`, so when the simulator wakes the node its clock reads at
//! least the deadline.

use std::net::IpAddr;

use ka_model::{Centisecs, Vrid, VrrpVersion};
use ka_vrrp::{
    Action, Event, IfaceId, InitialState, InstanceConfig, InstanceId, Instant, Router,
    RouterConfig, RxMeta, StateKind, SyncGroupConfig, TrackConfig, TrackId, TrackState, Transmit,
    VipConfig,
};
use ka_wire::vrrp::{Version, VrrpPacket};

use crate::node::{LocalNanos, Node, NodeSpec, Output, Role};

/// The single interface every simulated router has.
const IFACE: IfaceId = IfaceId(1);

/// A `ka_vrrp::Router` seen through the simulator's [`Node`] trait.
#[derive(Debug)]
pub struct EngineNode {
    router: Option<Router>,
    vrids: Vec<u8>,
    error: Option<String>,
}

fn track_id() -> TrackId {
    TrackId("script:chk".to_owned())
}

fn instant(now: LocalNanos) -> Instant {
    Instant::from_micros(now / 1000)
}

/// The engine configuration for one simulated router.
pub fn router_config(spec: &NodeSpec) -> Result<RouterConfig, String> {
    let mut instances = Vec::new();
    for (k, i) in spec.instances.iter().enumerate() {
        let vrid = Vrid::new(u32::from(i.vrid)).map_err(|e| e.to_string())?;
        let mut c = InstanceConfig::new(&format!("VI_{k}"), vrid, IFACE, spec.ip);
        c.version = match i.version {
            Version::V2 => VrrpVersion::V2,
            Version::V3 => VrrpVersion::V3,
        };
        c.priority = i.priority;
        c.preempt = i.preempt;
        c.initial_state = if i.init_master {
            InitialState::Master
        } else {
            InitialState::Backup
        };
        c.advert_int = Centisecs(u32::from(i.adver_int_cs));
        c.vips = i.vips.iter().copied().map(VipConfig::host).collect();
        c.unicast_peers = i.unicast_peers.clone();
        c.lower_prio_no_advert = i.lower_prio_no_advert;
        c.higher_prio_send_advert = i.higher_prio_send_advert;
        if let Some(p) = i.password {
            c.auth = ka_vrrp::AuthConfig::Pass(p);
        }
        if let Some(weight) = i.track_weight {
            c.tracks.push(TrackConfig {
                id: track_id(),
                weight,
                reverse: false,
            });
        }
        instances.push(c);
    }
    let sync_groups = if spec.sync_group {
        vec![SyncGroupConfig {
            name: "G".to_owned(),
            members: instances.iter().map(|c| c.name.clone()).collect(),
            tracking_weight: false,
        }]
    } else {
        Vec::new()
    };
    Ok(RouterConfig {
        instances,
        sync_groups,
    })
}

impl EngineNode {
    /// A router for `spec`, not started. A refused configuration is reported by
    /// [`Node::drain`] as [`Output::Error`].
    pub fn new(spec: &NodeSpec) -> Self {
        let vrids = spec.instances.iter().map(|i| i.vrid).collect();
        match router_config(spec).and_then(|c| Router::new(c).map_err(|e| e.to_string())) {
            Ok(r) => Self {
                router: Some(r),
                vrids,
                error: None,
            },
            Err(e) => Self {
                router: None,
                vrids,
                error: Some(e),
            },
        }
    }

    fn vrid(&self, id: InstanceId) -> u8 {
        self.vrids.get(id.0 as usize).copied().unwrap_or(0)
    }
}

fn role(k: StateKind) -> Role {
    match k {
        StateKind::Init => Role::Init,
        StateKind::Backup => Role::Backup,
        StateKind::Master => Role::Master,
        StateKind::Fault => Role::Fault,
    }
}

impl Node for EngineNode {
    fn start(&mut self, now: LocalNanos) {
        if let Some(r) = self.router.as_mut() {
            r.start(instant(now));
        }
    }

    fn handle_packet(
        &mut self,
        now: LocalNanos,
        src: IpAddr,
        dst: IpAddr,
        ttl: u8,
        pkt: &VrrpPacket,
    ) {
        if let Some(r) = self.router.as_mut() {
            let mut meta = RxMeta::multicast(IFACE, src);
            meta.dst = dst;
            meta.ttl = Some(ttl);
            r.handle_packet(instant(now), &meta, pkt);
        }
    }

    fn handle_timeout(&mut self, now: LocalNanos) {
        if let Some(r) = self.router.as_mut() {
            r.handle_timeout(instant(now));
        }
    }

    fn handle_link(&mut self, now: LocalNanos, up: bool) {
        if let Some(r) = self.router.as_mut() {
            r.handle_link(instant(now), IFACE, up);
        }
    }

    fn handle_track(&mut self, now: LocalNanos, up: bool) {
        if let Some(r) = self.router.as_mut() {
            let st = if up { TrackState::Up } else { TrackState::Down };
            r.handle_track(instant(now), &track_id(), st);
        }
    }

    fn shutdown(&mut self, now: LocalNanos) {
        if let Some(r) = self.router.as_mut() {
            r.shutdown(instant(now));
        }
    }

    fn poll_timeout(&mut self) -> Option<LocalNanos> {
        self.router
            .as_ref()
            .and_then(|r| r.poll_timeout())
            .map(|t| t.as_micros().saturating_mul(1000))
    }

    fn drain(&mut self, out: &mut Vec<Output>) {
        if let Some(e) = self.error.take() {
            out.push(Output::Error(format!("configuration refused: {e}")));
        }
        let Some(mut r) = self.router.take() else {
            return;
        };
        while let Some(e) = r.poll_event() {
            match e {
                Event::StateChange {
                    instance,
                    from,
                    to,
                    reason,
                } => out.push(Output::Role {
                    vrid: self.vrid(instance),
                    role: role(to),
                    reason: format!("{reason:?}, from {from}"),
                }),
                Event::AdvertDropped {
                    instance,
                    src,
                    reason,
                } => out.push(Output::Note(format!(
                    "dropped advert from {src} (vrid {}): {reason:?}",
                    instance.map_or(0, |i| self.vrid(i))
                ))),
                other => out.push(Output::Note(format!("{other:?}"))),
            }
        }
        while let Some(a) = r.poll_action() {
            match a {
                Action::AddAddress { instance, addr, .. } => {
                    out.push(Output::Vip {
                        vrid: self.vrid(instance),
                        add: true,
                    });
                    out.push(Output::Note(format!("add {addr}")));
                }
                Action::RemoveAddress { instance, addr, .. } => {
                    out.push(Output::Vip {
                        vrid: self.vrid(instance),
                        add: false,
                    });
                    out.push(Output::Note(format!("remove {addr}")));
                }
                other => out.push(Output::Note(format!("{other:?}"))),
            }
        }
        let mut garps: Option<(String, u32)> = None;
        while let Some(t) = r.poll_transmit() {
            let what = match t {
                Transmit::Advert {
                    dst, ttl, packet, ..
                } => {
                    if let Some((g, n)) = garps.take() {
                        out.push(Output::Note(format!("{g} x{n}")));
                    }
                    out.push(Output::Advert {
                        dst,
                        ttl,
                        pkt: packet,
                    });
                    continue;
                }
                Transmit::GratuitousArp { addr, .. } => format!("gratuitous ARP {addr}"),
                Transmit::UnsolicitedNa { addr, .. } => format!("unsolicited NA {addr}"),
            };
            garps = match garps.take() {
                Some((g, n)) if g == what => Some((g, n + 1)),
                Some((g, n)) => {
                    out.push(Output::Note(format!("{g} x{n}")));
                    Some((what, 1))
                }
                None => Some((what, 1)),
            };
        }
        if let Some((g, n)) = garps {
            out.push(Output::Note(format!("{g} x{n}")));
        }
        self.router = Some(r);
    }
}

/// Builds a `ka-vrrp` router for `spec`.
pub fn factory(spec: &NodeSpec) -> Box<dyn Node> {
    Box::new(EngineNode::new(spec))
}
