//! Small fixtures for the state-machine tests: configurations, adverts, draining, a LAN.
// Fixtures panic on bad test setup: that is a failed test, not a crash on input.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ka_model::{Centisecs, Vrid, VrrpVersion};
use ka_vrrp::{
    Action, Event, IfaceId, InstanceConfig, Instant, Router, RouterConfig, RxMeta, StateKind,
    Transmit, VipConfig,
};
use ka_wire::vrrp::{Auth, Version, VrrpPacket};

pub const IF: IfaceId = IfaceId(1);
pub const VRID: u8 = 51;

pub fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

pub fn v6(last: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, last))
}

pub fn ms(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

pub fn us(us: u64) -> Instant {
    Instant::from_micros(us)
}

/// VRRPv3 IPv4 instance "VI_1", VRID 51, VIP 192.0.2.1, sending from 192.0.2.`last`.
pub fn cfg(prio: u8, last: u8) -> InstanceConfig {
    let mut c = InstanceConfig::new("VI_1", Vrid::new(u32::from(VRID)).unwrap(), IF, v4(last));
    c.version = VrrpVersion::V3;
    c.priority = prio;
    c.vips = vec![VipConfig::host(v4(1))];
    c
}

pub fn with_int(mut c: InstanceConfig, cs: u32) -> InstanceConfig {
    c.advert_int = Centisecs(cs);
    c
}

pub fn router(c: InstanceConfig) -> Router {
    Router::new(RouterConfig {
        instances: vec![c],
        sync_groups: vec![],
    })
    .unwrap()
}

/// An advert as a peer at 192.0.2.`last` would send it.
pub fn advert(version: Version, prio: u8, adv_cs: u16) -> VrrpPacket {
    VrrpPacket {
        version,
        kind: 1,
        vrid: VRID,
        priority: prio,
        adver_int_cs: adv_cs,
        reserved: 0,
        checksum: 0,
        addrs: vec![v4(1)],
        auth: Auth::None,
    }
}

pub fn v3adv(prio: u8, adv_cs: u16) -> VrrpPacket {
    advert(Version::V3, prio, adv_cs)
}

pub fn rx(last: u8) -> RxMeta {
    RxMeta::multicast(IF, v4(last))
}

#[derive(Debug, Default)]
pub struct Drained {
    pub tx: Vec<Transmit>,
    pub actions: Vec<Action>,
    pub events: Vec<Event>,
}

impl Drained {
    pub fn adverts(&self) -> Vec<&VrrpPacket> {
        self.tx
            .iter()
            .filter_map(|t| match t {
                Transmit::Advert { packet, .. } => Some(packet),
                _ => None,
            })
            .collect()
    }
    pub fn garps(&self) -> usize {
        self.tx
            .iter()
            .filter(|t| {
                matches!(
                    t,
                    Transmit::GratuitousArp { .. } | Transmit::UnsolicitedNa { .. }
                )
            })
            .count()
    }
    pub fn transitions(&self) -> Vec<(StateKind, StateKind)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::StateChange { from, to, .. } => Some((*from, *to)),
                _ => None,
            })
            .collect()
    }
}

pub fn drain(r: &mut Router) -> Drained {
    let mut d = Drained::default();
    while let Some(t) = r.poll_transmit() {
        d.tx.push(t);
    }
    while let Some(a) = r.poll_action() {
        d.actions.push(a);
    }
    while let Some(e) = r.poll_event() {
        d.events.push(e);
    }
    d
}

/// Fires every deadline up to and including `until`, returning everything emitted.
pub fn run_until(r: &mut Router, until: Instant) -> Drained {
    let mut all = Drained::default();
    for _ in 0..1_000_000 {
        match r.poll_timeout() {
            Some(t) if t <= until => {
                r.handle_timeout(t);
                let d = drain(r);
                all.tx.extend(d.tx);
                all.actions.extend(d.actions);
                all.events.extend(d.events);
            }
            _ => break,
        }
    }
    all
}

pub fn state(r: &Router) -> StateKind {
    r.instances()[0].state().kind()
}

/// The time the (first) instance entered MASTER in a run, found by stepping deadlines.
pub fn time_to_master(r: &mut Router, limit: Instant) -> Option<Instant> {
    for _ in 0..1_000_000 {
        let t = r.poll_timeout()?;
        if t > limit {
            return None;
        }
        r.handle_timeout(t);
        let d = drain(r);
        if d.transitions()
            .contains(&(StateKind::Backup, StateKind::Master))
        {
            return Some(t);
        }
    }
    None
}

/// A virtual LAN of routers: adverts are delivered to every other router at the same
/// instant, unless the sender is `muted`.
pub struct Lan {
    pub routers: Vec<Router>,
    pub muted: Vec<bool>,
    pub now: Instant,
    pub log: Vec<(Instant, usize, Event)>,
}

impl Lan {
    pub fn new(routers: Vec<Router>) -> Self {
        let n = routers.len();
        Self {
            routers,
            muted: vec![false; n],
            now: Instant::ZERO,
            log: Vec::new(),
        }
    }

    pub fn start(&mut self) {
        for i in 0..self.routers.len() {
            self.routers[i].start(self.now);
            self.deliver(i);
        }
    }

    fn deliver(&mut self, from: usize) {
        let d = drain(&mut self.routers[from]);
        for e in d.events {
            self.log.push((self.now, from, e));
        }
        if self.muted[from] {
            return;
        }
        for t in d.tx {
            let Some((meta, packet)) = t.to_rx(IF) else {
                continue;
            };
            for to in 0..self.routers.len() {
                if to == from {
                    continue;
                }
                self.routers[to].handle_packet(self.now, &meta, &packet);
                self.deliver(to);
            }
        }
    }

    pub fn run_until(&mut self, until: Instant) {
        for _ in 0..10_000_000 {
            let next = self
                .routers
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.poll_timeout().map(|t| (t, i)))
                .min();
            match next {
                Some((t, i)) if t <= until => {
                    self.now = t;
                    self.routers[i].handle_timeout(t);
                    self.deliver(i);
                }
                _ => break,
            }
        }
        self.now = until;
    }

    pub fn states(&self) -> Vec<StateKind> {
        self.routers
            .iter()
            .map(|r| r.instances()[0].state().kind())
            .collect()
    }

    pub fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }
}
