//! Property tests: arbitrary packet/event sequences never panic, keep the engine's
//! invariants, and replay bit for bit from their serialised form (house style 7).

// Fixture helpers unwrap; a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ka_model::{Centisecs, Vrid, VrrpVersion};
use ka_vrrp::{
    Action, AhStatus, AuthConfig, Event, IfaceId, InitialState, Input, InstanceConfig, Instant,
    Router, RouterConfig, RxMeta, StateKind, SyncGroupConfig, TrackConfig, TrackId, TrackState,
    Transmit, VipConfig,
};
use ka_wire::vrrp::{Auth, Version, VrrpPacket};
use proptest::prelude::*;

fn a(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn config(variant: u8) -> RouterConfig {
    let mk = |name: &str, vrid: u32, prio: u8, vip: u8| {
        let mut c = InstanceConfig::new(name, Vrid::new(vrid).unwrap(), IfaceId(1), a(10));
        c.version = if variant & 1 == 0 {
            VrrpVersion::V3
        } else {
            VrrpVersion::V2
        };
        c.priority = prio;
        c.advert_int = Centisecs(if variant & 2 == 0 { 100 } else { 10 });
        c.vips = vec![VipConfig::host(a(vip))];
        c.excluded_vips = vec![VipConfig::host(a(vip + 100))];
        c.virtual_routes = vec!["198.51.100.0/24 via 192.0.2.254".into()];
        c.tracks = vec![
            TrackConfig {
                id: TrackId("t0".into()),
                weight: 0,
                reverse: false,
            },
            TrackConfig {
                id: TrackId("t1".into()),
                weight: -60,
                reverse: false,
            },
            TrackConfig {
                id: TrackId("t2".into()),
                weight: 3,
                reverse: true,
            },
        ];
        c.track_interfaces = vec![ka_vrrp::TrackIfConfig {
            iface: IfaceId(2),
            weight: 10,
            reverse: false,
        }];
        c.preempt = variant & 4 == 0;
        if variant & 8 != 0 {
            c.preempt_delay = Duration::from_millis(2500);
        }
        if variant & 16 != 0 {
            c.auth = if c.version == VrrpVersion::V2 {
                AuthConfig::Pass(AuthConfig::pad(b"pw"))
            } else {
                AuthConfig::None
            };
        }
        c.garp.master_refresh = (variant & 32 != 0).then(|| Duration::from_secs(3));
        c.garp.lower_prio_repeat = u32::from(variant & 64 != 0);
        c
    };
    let mut first = mk("A", 51, if variant & 128 != 0 { 255 } else { 100 }, 1);
    if variant & 4 != 0 {
        first.initial_state = InitialState::Master;
    }
    RouterConfig {
        instances: vec![first, mk("B", 52, 150, 2), mk("C", 53, 50, 3)],
        sync_groups: vec![SyncGroupConfig {
            name: "G".into(),
            members: vec!["B".into(), "C".into()],
            tracking_weight: false,
        }],
    }
}

fn packet_strategy() -> impl Strategy<Value = (RxMeta, VrrpPacket)> {
    (
        (
            any::<bool>(),
            prop_oneof![Just(51u8), Just(52), Just(53), Just(0), any::<u8>()],
        ),
        prop_oneof![Just(0u8), Just(100), Just(150), Just(255), any::<u8>()],
        prop_oneof![Just(100u16), Just(10), Just(1), Just(0), any::<u16>()],
        (
            1u8..20,
            prop_oneof![4 => Just(255u8), 1 => any::<u8>()],
            any::<bool>(),
            any::<bool>(),
        ),
        (
            prop_oneof![4 => Just(1u8), 1 => any::<u8>()],
            0u8..4,
            0u8..4,
            0u8..8,
        ),
    )
        .prop_map(
            |((v3, vrid), prio, adv, (src, ttl, csum, unicast), (kind, addrs, auth, ah))| {
                let meta = RxMeta {
                    iface: IfaceId(if src == 19 { 2 } else { 1 }),
                    src: a(src),
                    dst: if unicast && src % 3 == 0 {
                        a(10)
                    } else {
                        IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18))
                    },
                    ttl: Some(ttl),
                    ah: match ah {
                        0 => AhStatus::Valid,
                        1 => AhStatus::Invalid,
                        _ => AhStatus::Absent,
                    },
                    checksum_ok: csum || src % 2 == 0,
                };
                let addrs = match addrs {
                    0 => vec![],
                    1 => vec![a(vrid.wrapping_sub(50))],
                    2 => vec![a(1), a(2), a(3)],
                    _ => (0..255).map(a).collect(),
                };
                let auth = match auth {
                    0 => Auth::None,
                    1 => Auth::SimplePassword(AuthConfig::pad(b"pw")),
                    2 => Auth::Ah([0; 8]),
                    _ => Auth::Unknown {
                        kind: 9,
                        data: [1; 8],
                    },
                };
                let pkt = VrrpPacket {
                    version: if v3 { Version::V3 } else { Version::V2 },
                    kind,
                    vrid,
                    priority: prio,
                    adver_int_cs: adv,
                    reserved: 0,
                    checksum: 0,
                    addrs,
                    auth,
                };
                (meta, pkt)
            },
        )
}

fn input_strategy() -> impl Strategy<Value = Input> {
    prop_oneof![
        1 => Just(Input::Start),
        1 => Just(Input::Shutdown),
        8 => Just(Input::Timeout),
        12 => packet_strategy().prop_map(|(m, p)| Input::Packet(m, p)),
        2 => (1u32..4, any::<bool>()).prop_map(|(i, up)| Input::Link(IfaceId(i), up)),
        3 => (0u8..4, prop_oneof![Just(TrackState::Up), Just(TrackState::Down),
                                  any::<i16>().prop_map(|v| TrackState::Value(i64::from(v)))])
            .prop_map(|(t, s)| Input::Track(TrackId(format!("t{t}")), s)),
    ]
}

/// Runs `inputs` (with time steps), checking invariants after each; returns every output.
fn run(cfg: RouterConfig, inputs: &[(u32, Input)]) -> (Router, String) {
    let mut r = Router::new(cfg).unwrap();
    let mut now = Instant::ZERO;
    let mut out = String::new();
    let n = r.instances().len();
    // Per instance: installed VIP count according to the actions.
    let mut installed = vec![0i64; n];
    for (dt, input) in inputs {
        now = now.add_micros(u64::from(*dt));
        let is_timeout = matches!(input, Input::Timeout);
        let input = if is_timeout {
            // Fire the real next deadline sometimes, otherwise "now".
            match r.poll_timeout() {
                Some(t) if t > now && *dt % 2 == 0 => {
                    now = t;
                    Input::Timeout
                }
                _ => Input::Timeout,
            }
        } else {
            input.clone()
        };
        r.handle(now, input);
        if is_timeout {
            assert!(
                r.poll_timeout().is_none_or(|t| t > now),
                "deadline left in the past"
            );
        }
        while let Some(t) = r.poll_transmit() {
            if let Transmit::Advert {
                instance, packet, ..
            } = &t
            {
                let st = r.instance(*instance).unwrap().state().kind();
                if packet.priority != 0 {
                    assert_eq!(st, StateKind::Master, "only a master advertises: {t:?}");
                }
                assert!(packet.addrs.len() <= 255);
            }
            out.push_str(&serde_json::to_string(&t).unwrap());
        }
        while let Some(act) = r.poll_action() {
            match &act {
                Action::AddAddress { instance, .. } => installed[instance.0 as usize] += 1,
                Action::RemoveAddress { instance, .. } => installed[instance.0 as usize] -= 1,
                _ => {}
            }
            out.push_str(&serde_json::to_string(&act).unwrap());
        }
        while let Some(e) = r.poll_event() {
            if let Event::PriorityChanged { to, .. } = e {
                assert!((1..=255).contains(&to));
            }
            out.push_str(&serde_json::to_string(&e).unwrap());
        }
        for (i, inst) in r.instances().iter().enumerate() {
            // VIP + excluded VIP are installed exactly while MASTER.
            let want = if inst.state().kind() == StateKind::Master {
                2
            } else {
                0
            };
            assert_eq!(
                installed[i],
                want,
                "instance {i} in {:?}",
                inst.state().kind()
            );
            let p = inst.effective_priority();
            assert!(p >= 1);
        }
        // Sync group members B and C are never split between MASTER and BACKUP.
        let kinds: Vec<StateKind> = r.instances()[1..]
            .iter()
            .map(|i| i.state().kind())
            .collect();
        assert!(
            !(kinds.contains(&StateKind::Master)
                && kinds.contains(&StateKind::Backup)
                && r.instances()[1..].iter().all(|i| match i.state() {
                    ka_vrrp::State::Backup(b) => !b.wants_master,
                    _ => true,
                })),
            "sync group split: {kinds:?}"
        );
    }
    (r, out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// No input sequence panics or breaks an invariant; a recorded run replays exactly.
    #[test]
    fn arbitrary_inputs(variant in any::<u8>(),
                        inputs in prop::collection::vec((0u32..3_000_000, input_strategy()), 0..120)) {
        let cfg = config(variant);
        let (r1, out1) = run(cfg.clone(), &inputs);
        // Record/replay through JSON (every input is serialisable).
        let json = serde_json::to_string(&inputs).unwrap();
        let replay: Vec<(u32, Input)> = serde_json::from_str(&json).unwrap();
        let (r2, out2) = run(cfg, &replay);
        prop_assert_eq!(out1, out2);
        prop_assert_eq!(r1, r2);
    }
}

mod common;

/// A chaos step on a LAN of three routers.
#[derive(Debug, Clone)]
enum Chaos {
    Mute(usize, bool),
    Crash(usize),
    Stop(usize),
    Start(usize),
    Track(usize, bool),
    Wait(u32),
}

fn chaos_strategy() -> impl Strategy<Value = Chaos> {
    prop_oneof![
        (0usize..3, any::<bool>()).prop_map(|(i, m)| Chaos::Mute(i, m)),
        (0usize..3).prop_map(Chaos::Crash),
        (0usize..3).prop_map(Chaos::Stop),
        (0usize..3).prop_map(Chaos::Start),
        (0usize..3, any::<bool>()).prop_map(|(i, up)| Chaos::Track(i, up)),
        (0u32..8_000).prop_map(Chaos::Wait),
    ]
}

fn lan_router(prio: u8, last: u8) -> Router {
    let mut c = common::cfg(prio, last);
    c.tracks = vec![TrackConfig {
        id: TrackId("chk".into()),
        weight: -60,
        reverse: false,
    }];
    common::router(c)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    /// RFC 5798 section 6.4 on a LAN: whatever happened before (crashes, stops, partitions,
    /// priority changes), once every router runs and hears the others, exactly one is
    /// master within a few Master_Down_Intervals, and it has the highest priority (between
    /// equal priorities a backup accepts the current master, section 6.4.2, so either may
    /// win).
    #[test]
    fn lan_converges_to_one_master(
        prios in prop::collection::vec(prop_oneof![Just(50u8), Just(100), Just(150), Just(254), Just(255)], 3),
        chaos in prop::collection::vec(chaos_strategy(), 0..40),
    ) {
        let mk = |i: usize| lan_router(prios[i], 11 + i as u8);
        let mut lan = common::Lan::new((0..3).map(mk).collect());
        lan.start();
        for step in &chaos {
            match *step {
                Chaos::Mute(i, m) => lan.muted[i] = m,
                Chaos::Crash(i) => { lan.routers[i] = mk(i); }
                Chaos::Stop(i) => { let now = lan.now; lan.routers[i].shutdown(now); common::drain(&mut lan.routers[i]); }
                Chaos::Start(i) => { let now = lan.now; lan.routers[i].start(now); }
                Chaos::Track(i, up) => {
                    let now = lan.now;
                    let st = if up { TrackState::Up } else { TrackState::Down };
                    lan.routers[i].handle_track(now, &TrackId("chk".into()), st);
                }
                Chaos::Wait(ms) => lan.advance(Duration::from_millis(u64::from(ms))),
            }
        }
        lan.muted = vec![false; 3];
        for i in 0..3 {
            let now = lan.now;
            lan.routers[i].start(now);
        }
        lan.advance(Duration::from_secs(15));
        let states = lan.states();
        let masters: Vec<usize> = (0..3).filter(|&i| states[i] == StateKind::Master).collect();
        // Routers in FAULT (a failed track on an owner: unweighted) take no part.
        let up: Vec<usize> = (0..3).filter(|&i| states[i] != StateKind::Fault).collect();
        prop_assert_eq!(masters.len(), usize::from(!up.is_empty()), "states {:?}", states);
        let prio = |i: usize| lan.routers[i].instances()[0].effective_priority();
        if let Some(best) = up.iter().map(|&i| prio(i)).max() {
            prop_assert_eq!(prio(masters[0]), best, "states {:?}", states);
        }
    }
}
