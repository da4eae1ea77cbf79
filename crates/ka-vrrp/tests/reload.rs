//! `Router::reconfigure` (keepalived's reload, SIGHUP) on simulated time. Each test says
//! what it checks: keepalived 2.2.7's reload (vrrp.c `clear_diff_vrrp`,
//! `restore_vrrp_state`, `vrrp_exist`) or the RFC 5798 rule that decides what happens next.

// Helpers outside #[test] fns unwrap test fixtures; a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use ka_model::Vrid;
use ka_vrrp::{
    Action, ConfigError, Event, InitialState, InstanceConfig, InstanceId, Instant, Router,
    RouterConfig, StateKind, SyncGroupConfig, TransitionReason, Transmit, VipConfig,
};
use ka_wire::vrrp::VrrpPacket;

fn rc(instances: Vec<InstanceConfig>) -> RouterConfig {
    RouterConfig {
        instances,
        sync_groups: vec![],
    }
}

/// A second instance "VI_2", VRID 52, VIP 192.0.2.2.
fn cfg2(prio: u8, last: u8) -> InstanceConfig {
    let mut c = cfg(prio, last);
    c.name = "VI_2".into();
    c.vrid = Vrid::new(52).unwrap();
    c.vips = vec![VipConfig::host(v4(2))];
    c
}

fn master(mut c: InstanceConfig) -> InstanceConfig {
    c.initial_state = InitialState::Master;
    c
}

fn kind(r: &Router, name: &str) -> StateKind {
    r.instance_by_name(name).unwrap().state().kind()
}

/// Adverts of one instance in a drained batch, with their send times.
fn adverts_of(d: &[(Instant, Transmit)], id: InstanceId) -> Vec<(Instant, VrrpPacket)> {
    d.iter()
        .filter_map(|(t, tx)| match tx {
            Transmit::Advert {
                instance, packet, ..
            } if *instance == id => Some((*t, packet.clone())),
            _ => None,
        })
        .collect()
}

/// Runs one router's timers to `until`, recording every transmission with its time.
fn run_log(r: &mut Router, until: Instant, log: &mut Vec<(Instant, Transmit)>) -> Vec<Event> {
    let mut events = Vec::new();
    for _ in 0..1_000_000 {
        match r.poll_timeout() {
            Some(t) if t <= until => {
                r.handle_timeout(t);
                let d = drain(r);
                log.extend(d.tx.into_iter().map(|x| (t, x)));
                events.extend(d.events);
            }
            _ => break,
        }
    }
    events
}

// ---------------------------------------------------------------- unchanged instances

/// keepalived's reload keeps an unchanged instance's state (restore_vrrp_state); the
/// engine also keeps its timers: a master sends exactly the adverts it would have sent
/// without the reload (same times, same bytes), no priority 0, no GARP, no address
/// change, no event; its counters are kept. Checked against a clone that never reloads,
/// while another instance of the same router changes (a VIP added) in the same reload.
#[test]
fn unchanged_master_sends_exactly_its_periodic_adverts_across_a_reload() {
    let a = master(cfg(150, 12));
    let b = master(cfg2(150, 12));
    let mut r = Router::new(rc(vec![a.clone(), b.clone()])).unwrap();
    r.start(Instant::ZERO);
    let _ = drain(&mut r);
    let mut log = Vec::new();
    let _ = run_log(&mut r, ms(10_300), &mut log);
    assert_eq!(kind(&r, "VI_1"), StateKind::Master);
    let mut control = r.clone();
    let id = r.instance_by_name("VI_1").unwrap().id();
    let stats_before = r.instance(id).unwrap().stats().clone();
    let state_before = r.instance(id).unwrap().state().clone();

    let mut b2 = b.clone();
    b2.vips.push(VipConfig::host(v4(3)));
    let report = r.reconfigure(ms(10_300), rc(vec![a, b2])).unwrap();
    assert_eq!(report.unchanged, vec![id]);
    assert_eq!(report.changed.len(), 1);
    assert_eq!(report.changed[0].1, vec!["vips".to_owned()]);
    let d = drain(&mut r);
    // Nothing for VI_1 at the reload itself.
    assert!(d.tx.iter().all(|t| t.instance() != id), "{:?}", d.tx);
    assert!(
        d.events.iter().all(|e| !matches!(e,
            Event::StateChange { instance, .. } | Event::PriorityChanged { instance, .. }
                if *instance == id)),
        "{:?}",
        d.events
    );
    assert!(d.actions.iter().all(|a| !matches!(a,
        Action::AddAddress { instance, .. } | Action::RemoveAddress { instance, .. }
            if *instance == id)));
    assert_eq!(r.instance(id).unwrap().state(), &state_before);
    assert_eq!(r.instance(id).unwrap().stats(), &stats_before);

    // The next 10 s: VI_1's adverts are the control's, one per advert_int, priority 150.
    let mut after = Vec::new();
    let mut control_log = Vec::new();
    let _ = run_log(&mut r, ms(20_300), &mut after);
    let _ = run_log(&mut control, ms(20_300), &mut control_log);
    let got = adverts_of(&after, id);
    assert_eq!(got, adverts_of(&control_log, id));
    assert_eq!(got.len(), 10);
    for w in got.windows(2) {
        assert_eq!(w[1].0.as_micros() - w[0].0.as_micros(), 1_000_000);
    }
    assert!(got.iter().all(|(_, p)| p.priority == 150));
    let garps_vi1 = after
        .iter()
        .filter(|(_, t)| t.instance() == id && !matches!(t, Transmit::Advert { .. }))
        .count();
    assert_eq!(garps_vi1, 0);
}

/// An identical configuration is a no-op: the router compares equal to an untouched
/// clone (every instance, timer, counter and queue).
#[test]
fn identical_configuration_changes_nothing() {
    let a = master(cfg(150, 12));
    let b = cfg2(100, 12);
    let mut r = Router::new(rc(vec![a.clone(), b.clone()])).unwrap();
    r.start(Instant::ZERO);
    let _ = run_until(&mut r, ms(7_000));
    let control = r.clone();
    let report = r.reconfigure(ms(7_001), rc(vec![a, b])).unwrap();
    assert!(report.is_noop(), "{report:?}");
    assert_eq!(r, control);
}

/// keepalived matches instances by interface, family and VRID (vrrp_exist), not by name:
/// a renamed instance keeps its MASTER state and sends nothing extra.
#[test]
fn renamed_instance_is_the_same_instance() {
    let a = master(cfg(150, 12));
    let mut r = router(a.clone());
    r.start(Instant::ZERO);
    let _ = run_until(&mut r, ms(3_000));
    let mut renamed = a;
    renamed.name = "VI_renamed".into();
    let report = r.reconfigure(ms(3_100), rc(vec![renamed])).unwrap();
    assert_eq!(report.changed.len(), 1);
    assert_eq!(report.changed[0].1, vec!["name".to_owned()]);
    let d = drain(&mut r);
    assert!(d.tx.is_empty() && d.actions.is_empty(), "{d:?}");
    assert!(d.transitions().is_empty());
    assert_eq!(kind(&r, "VI_renamed"), StateKind::Master);
}

// ---------------------------------------------------------------- changed instances

/// keepalived's restore_vrrp_state adds new VIPs to a master and announces them; the
/// engine adds only the new address and sends garp_master_repeat (5) GARPs for it only,
/// stays MASTER, sends no extra advert; its next periodic advert carries both VIPs
/// (RFC 5798 section 5.2.9).
#[test]
fn vip_added_while_master() {
    let a = master(cfg(150, 12));
    let mut r = router(a.clone());
    r.start(Instant::ZERO);
    let _ = run_until(&mut r, ms(6_500));
    let mut a2 = a;
    a2.vips.push(VipConfig::host(v4(3)));
    r.reconfigure(ms(6_500), rc(vec![a2])).unwrap();
    let d = drain(&mut r);
    assert_eq!(
        d.actions,
        vec![Action::AddAddress {
            instance: InstanceId(0),
            iface: IF,
            addr: v4(3),
            prefix_len: 32
        }]
    );
    assert!(d.adverts().is_empty(), "no extra advert");
    assert_eq!(d.garps(), 5);
    assert!(d.tx.iter().all(|t| matches!(t,
        Transmit::GratuitousArp { addr, .. } if std::net::IpAddr::V4(*addr) == v4(3))));
    assert!(d.transitions().is_empty());
    let next = run_until(&mut r, ms(7_000));
    assert_eq!(next.adverts().len(), 1);
    assert_eq!(next.adverts()[0].addrs, vec![v4(1), v4(3)]);
}

/// keepalived's clear_diff_vrrp_vip removes the VIPs the new configuration dropped; the
/// master stays MASTER and advertises the remaining list.
#[test]
fn vip_removed_while_master() {
    let mut a = master(cfg(150, 12));
    a.vips.push(VipConfig::host(v4(3)));
    let mut r = router(a.clone());
    r.start(Instant::ZERO);
    let _ = run_until(&mut r, ms(6_500));
    let mut a2 = a;
    a2.vips.remove(0);
    r.reconfigure(ms(6_500), rc(vec![a2])).unwrap();
    let d = drain(&mut r);
    assert_eq!(
        d.actions,
        vec![Action::RemoveAddress {
            instance: InstanceId(0),
            iface: IF,
            addr: v4(1),
            prefix_len: 32
        }]
    );
    assert!(d.tx.is_empty() && d.transitions().is_empty(), "{d:?}");
    let next = run_until(&mut r, ms(7_000));
    assert_eq!(next.adverts()[0].addrs, vec![v4(3)]);
}

/// A backup's VIP change touches no address (it holds none).
#[test]
fn vip_change_on_a_backup_touches_no_address() {
    let a = cfg(100, 12);
    let mut r = router(a.clone());
    r.start(Instant::ZERO);
    let _ = drain(&mut r);
    let mut a2 = a;
    a2.vips = vec![VipConfig::host(v4(3))];
    r.reconfigure(ms(1_000), rc(vec![a2])).unwrap();
    let d = drain(&mut r);
    assert!(d.actions.is_empty() && d.tx.is_empty(), "{d:?}");
    assert_eq!(state(&r), StateKind::Backup);
}

/// Priority lowered on the master of a two-router LAN: no flap at the reload (RFC 5798
/// leaves it MASTER), its next advert carries the new priority, and the preempting backup
/// (section 6.4.2: lower priority adverts are discarded) takes over when its
/// Master_Down_Timer fires; the old master then yields to the higher advert (6.4.3).
#[test]
fn changed_priority_lets_the_protocol_decide() {
    let a = cfg(150, 12);
    let b = cfg(100, 13);
    let mut lan = Lan::new(vec![router(a.clone()), router(b)]);
    lan.start();
    lan.advance(Duration::from_secs(10));
    assert_eq!(lan.states(), vec![StateKind::Master, StateKind::Backup]);
    let mut a2 = a;
    a2.priority = 50;
    let t_reload = lan.now;
    let report = lan.routers[0].reconfigure(t_reload, rc(vec![a2])).unwrap();
    assert_eq!(report.changed[0].1, vec!["priority".to_owned()]);
    let d = drain(&mut lan.routers[0]);
    assert!(d.tx.is_empty(), "nothing sent at the reload: {d:?}");
    assert!(d.transitions().is_empty());
    assert!(d.events.contains(&Event::PriorityChanged {
        instance: InstanceId(0),
        from: 150,
        to: 50
    }));
    assert_eq!(lan.routers[0].instances()[0].effective_priority(), 50);
    lan.advance(Duration::from_secs(10));
    assert_eq!(lan.states(), vec![StateKind::Backup, StateKind::Master]);
    // B took over once (after Master_Down_Interval without an accepted advert), A left
    // MASTER once, because of B's higher advert.
    let b_master: Vec<Instant> = lan
        .log
        .iter()
        .filter(|(_, i, e)| {
            *i == 1
                && matches!(
                    e,
                    Event::StateChange {
                        to: StateKind::Master,
                        ..
                    }
                )
        })
        .map(|(t, _, _)| *t)
        .collect();
    assert_eq!(b_master.len(), 1);
    assert!(b_master[0] > t_reload);
    // B's last accepted advert was A's at priority 150, at most 1 s before the reload;
    // its down interval at priority 100 is 3.609375 s.
    assert!(b_master[0] <= t_reload + Duration::from_micros(3_609_375));
    assert!(lan.log.iter().any(|(_, i, e)| *i == 0
        && matches!(
            e,
            Event::StateChange {
                from: StateKind::Master,
                to: StateKind::Backup,
                reason: TransitionReason::HigherPriorityAdvert,
                ..
            }
        )));
}

/// Priority raised on the backup above the master's, with preemption: the backup
/// discards the master's now lower adverts and takes over when its down timer fires
/// (RFC 5798 section 6.4.2); without preemption (`nopreempt`) it stays BACKUP.
#[test]
fn raised_backup_priority_preempts_only_with_preempt() {
    for preempt in [true, false] {
        let a = cfg(150, 12);
        let mut b = cfg(100, 13);
        b.preempt = preempt;
        let mut lan = Lan::new(vec![router(a), router(b.clone())]);
        lan.start();
        lan.advance(Duration::from_secs(10));
        let mut b2 = b;
        b2.priority = 200;
        lan.routers[1].reconfigure(lan.now, rc(vec![b2])).unwrap();
        let d = drain(&mut lan.routers[1]);
        assert!(d.tx.is_empty() && d.transitions().is_empty(), "{d:?}");
        lan.advance(Duration::from_secs(10));
        let expect = if preempt {
            vec![StateKind::Backup, StateKind::Master]
        } else {
            vec![StateKind::Master, StateKind::Backup]
        };
        assert_eq!(lan.states(), expect, "preempt {preempt}");
    }
}

/// A shorter advert_int takes effect at once on a master (next advert no later than the
/// new interval) and on a backup (its Master_Down_Timer is brought forward).
#[test]
fn shorter_advert_int_takes_effect_at_once() {
    let a = master(with_int(cfg(150, 12), 100));
    let mut r = router(a.clone());
    r.start(Instant::ZERO);
    let _ = run_until(&mut r, ms(5_200));
    let mut a2 = a;
    a2.advert_int = ka_model::Centisecs(10);
    r.reconfigure(ms(5_200), rc(vec![a2])).unwrap();
    let _ = drain(&mut r);
    assert_eq!(r.poll_timeout(), Some(ms(5_300)));
    let d = run_until(&mut r, ms(6_000));
    assert_eq!(d.adverts().len(), 8);
    assert!(d.adverts().iter().all(|p| p.adver_int_cs == 10));
    assert_eq!(state(&r), StateKind::Master);

    let b = with_int(cfg(100, 13), 100);
    let mut r = router(b.clone());
    r.start(Instant::ZERO);
    let _ = drain(&mut r);
    assert_eq!(r.poll_timeout(), Some(us(3_609_375)));
    let mut b2 = b;
    b2.advert_int = ka_model::Centisecs(10);
    r.reconfigure(ms(1_000), rc(vec![b2])).unwrap();
    // 3 x 100 ms + (256 - 100) x 100 ms / 256 = 360.937 ms after the reload.
    assert_eq!(r.poll_timeout(), Some(us(1_360_937)));
}

// ---------------------------------------------------------------- removed and new instances

/// keepalived's clear_diff_vrrp stops a removed instance with vrrp_restore_interface
/// (priority 0 advert, VIPs removed): RFC 5798 section 6.4.3 "Shutdown". The other
/// instance is untouched; the removed instance's outputs carry its id, still named.
#[test]
fn removed_master_sends_priority_zero_and_releases_its_vip() {
    let a = master(cfg(150, 12));
    let b = master(cfg2(150, 12));
    let mut r = Router::new(rc(vec![a.clone(), b])).unwrap();
    r.start(Instant::ZERO);
    let _ = run_until(&mut r, ms(6_000));
    let gone = r.instance_by_name("VI_2").unwrap().id();
    let report = r.reconfigure(ms(6_100), rc(vec![a])).unwrap();
    assert_eq!(report.removed, vec![(gone, "VI_2".to_owned())]);
    let d = drain(&mut r);
    let prio0: Vec<&Transmit> =
        d.tx.iter()
            .filter(|t| matches!(t, Transmit::Advert { packet, .. } if packet.priority == 0))
            .collect();
    assert_eq!(prio0.len(), 1);
    assert_eq!(prio0[0].instance(), gone);
    assert_eq!(d.tx.len(), 1, "only the priority 0 advert: {:?}", d.tx);
    assert_eq!(
        d.actions,
        vec![Action::RemoveAddress {
            instance: gone,
            iface: IF,
            addr: v4(2),
            prefix_len: 32
        }]
    );
    assert_eq!(
        d.events,
        vec![Event::StateChange {
            instance: gone,
            from: StateKind::Master,
            to: StateKind::Init,
            reason: TransitionReason::Reload
        }]
    );
    assert_eq!(r.instance_name(gone), Some("VI_2"));
    assert!(r.instance(gone).is_none());
    assert_eq!(r.instances().len(), 1);
    assert_eq!(kind(&r, "VI_1"), StateKind::Master);
}

/// A removed master's priority 0 makes the backup take over after Skew_Time
/// (RFC 5798 section 6.4.2), not after Master_Down_Interval.
#[test]
fn removed_master_hands_over_after_skew_time() {
    let a = cfg(150, 12);
    let b = cfg(100, 13);
    let mut lan = Lan::new(vec![router(a), router(b)]);
    lan.start();
    lan.advance(Duration::from_secs(10));
    assert_eq!(lan.states(), vec![StateKind::Master, StateKind::Backup]);
    lan.routers[0].reconfigure(lan.now, rc(vec![])).unwrap();
    let d = drain(&mut lan.routers[0]);
    let t0 = lan.now;
    for t in d.tx {
        let (meta, pkt) = t.to_rx(IF).unwrap();
        lan.routers[1].handle_packet(t0, &meta, &pkt);
    }
    let _ = drain(&mut lan.routers[1]);
    // Skew_Time at priority 100, 1 s: (256 - 100) / 256 s = 609.375 ms.
    assert_eq!(
        lan.routers[1].poll_timeout(),
        Some(t0 + Duration::from_micros(609_375))
    );
}

/// A new instance starts as at start-up (RFC 5798 section 6.4.1): BACKUP with
/// Master_Down_Timer = Master_Down_Interval from the reload, MASTER when it fires; ids
/// of removed instances are not reused.
#[test]
fn new_instance_starts_as_at_startup() {
    let a = master(cfg(150, 12));
    let b = cfg2(100, 12);
    let mut r = Router::new(rc(vec![a.clone(), b])).unwrap();
    r.start(Instant::ZERO);
    let _ = run_until(&mut r, ms(2_000));
    let mut c = cfg(100, 12);
    c.name = "VI_3".into();
    c.vrid = Vrid::new(53).unwrap();
    c.vips = vec![VipConfig::host(v4(4))];
    let report = r.reconfigure(ms(2_000), rc(vec![a, c])).unwrap();
    assert_eq!(report.added, vec![InstanceId(2)]);
    assert_eq!(report.removed, vec![(InstanceId(1), "VI_2".to_owned())]);
    let d = drain(&mut r);
    assert!(d.events.contains(&Event::StateChange {
        instance: InstanceId(2),
        from: StateKind::Init,
        to: StateKind::Backup,
        reason: TransitionReason::Startup
    }));
    assert!(d.tx.is_empty(), "a new backup sends nothing: {:?}", d.tx);
    let t = time_to_master_of(&mut r, "VI_3", ms(10_000)).unwrap();
    assert_eq!(t, ms(2_000) + Duration::from_micros(3_609_375));
    assert_eq!(r.instance(InstanceId(2)).unwrap().config().name, "VI_3");
}

fn time_to_master_of(r: &mut Router, name: &str, limit: Instant) -> Option<Instant> {
    for _ in 0..100_000 {
        let t = r.poll_timeout()?;
        if t > limit {
            return None;
        }
        r.handle_timeout(t);
        let _ = drain(r);
        if kind(r, name) == StateKind::Master {
            return Some(t);
        }
    }
    None
}

/// A configuration the engine refuses (here a duplicate VRID and priority 0) leaves the
/// router exactly as it was, queues included (keepalived keeps running the old
/// configuration when the new one does not load).
#[test]
fn invalid_configuration_leaves_the_router_untouched() {
    let a = master(cfg(150, 12));
    let mut r = router(a.clone());
    r.start(Instant::ZERO);
    let _ = run_until(&mut r, ms(4_000));
    let before = r.clone();
    let mut dup = cfg2(100, 12);
    dup.vrid = a.vrid;
    let err = r
        .reconfigure(ms(4_100), rc(vec![a.clone(), dup]))
        .unwrap_err();
    assert!(matches!(err, ConfigError::DuplicateVrid(..)), "{err}");
    assert_eq!(r, before);
    let mut zero = a;
    zero.priority = 0;
    let err = r.reconfigure(ms(4_100), rc(vec![zero])).unwrap_err();
    assert!(matches!(err, ConfigError::Priority(..)), "{err}");
    assert_eq!(r, before);
}

// ---------------------------------------------------------------- sync groups, tracking

/// A sync group that a reload makes half MASTER, half BACKUP steps its masters down
/// (priority 0, BACKUP), as keepalived makes a mixed group BACKUP at start-up; an
/// unchanged group keeps its state.
#[test]
fn regrouped_mixed_sync_group_steps_down() {
    let a = master(cfg(150, 12));
    let b = cfg2(100, 12);
    let mut r = Router::new(rc(vec![a.clone(), b.clone()])).unwrap();
    r.start(Instant::ZERO);
    let _ = drain(&mut r);
    // A peer masters VI_2 (priority 200), so VI_2 stays BACKUP.
    let mut p = advert(ka_wire::vrrp::Version::V3, 200, 100);
    p.vrid = 52;
    p.addrs = vec![v4(2)];
    r.handle_packet(ms(500), &rx(20), &p);
    let _ = drain(&mut r);
    assert_eq!(kind(&r, "VI_1"), StateKind::Master);
    assert_eq!(kind(&r, "VI_2"), StateKind::Backup);
    let grouped = RouterConfig {
        instances: vec![a, b],
        sync_groups: vec![SyncGroupConfig {
            name: "G".into(),
            members: vec!["VI_1".into(), "VI_2".into()],
            tracking_weight: false,
        }],
    };
    r.reconfigure(ms(600), grouped.clone()).unwrap();
    let d = drain(&mut r);
    assert_eq!(kind(&r, "VI_1"), StateKind::Backup);
    assert!(d.adverts().iter().any(|p| p.vrid == 51 && p.priority == 0));
    assert!(d.actions.iter().any(|a| matches!(a,
        Action::RemoveAddress { addr, .. } if *addr == v4(1))));
    // The same grouping again: nothing to do.
    let before = r.clone();
    r.reconfigure(ms(700), grouped).unwrap();
    assert_eq!(r, before);
}

/// Tracking follows: a tracked object's reported state survives a reload that keeps
/// tracking it (keepalived's clear_diff_script), and a newly unweighted failing track
/// moves a master to FAULT with a priority 0 advert, as at run time.
#[test]
fn tracking_follows_the_reload() {
    use ka_vrrp::{TrackConfig, TrackId, TrackState};
    let mut a = master(cfg(150, 12));
    a.tracks = vec![TrackConfig {
        id: TrackId("chk".into()),
        weight: -20,
        reverse: false,
    }];
    let mut r = router(a.clone());
    r.start(Instant::ZERO);
    r.handle_track(ms(100), &TrackId("chk".into()), TrackState::Down);
    let _ = run_until(&mut r, ms(2_000));
    assert_eq!(r.instances()[0].effective_priority(), 130);
    // Only the weight changes: the down state is kept, the new weight applies.
    let mut a2 = a.clone();
    a2.tracks[0].weight = -30;
    r.reconfigure(ms(2_100), rc(vec![a2.clone()])).unwrap();
    let _ = drain(&mut r);
    assert_eq!(r.instances()[0].effective_priority(), 120);
    assert_eq!(state(&r), StateKind::Master);
    // Unweighted: a failure means FAULT.
    let mut a3 = a2;
    a3.tracks[0].weight = 0;
    r.reconfigure(ms(2_200), rc(vec![a3])).unwrap();
    let d = drain(&mut r);
    assert_eq!(state(&r), StateKind::Fault);
    assert!(d.adverts().iter().any(|p| p.priority == 0));
}

/// Before start the new configuration simply replaces the old one.
#[test]
fn reconfigure_before_start() {
    let mut r = router(cfg(100, 12));
    let report = r
        .reconfigure(Instant::ZERO, rc(vec![cfg(100, 12), cfg2(100, 12)]))
        .unwrap();
    assert_eq!(report.added.len(), 1);
    assert!(drain(&mut r).tx.is_empty());
    assert!(r
        .instances()
        .iter()
        .all(|i| i.state().kind() == StateKind::Init));
    r.start(Instant::ZERO);
    assert!(r
        .instances()
        .iter()
        .all(|i| i.state().kind() == StateKind::Backup));
}

// ---------------------------------------------------------------- random reloads

mod random {
    use super::*;
    use ka_vrrp::{IfaceId, Input, TrackConfig, TrackId, TrackState};
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::net::IpAddr;

    /// One of a few configurations: up to three instances (VRIDs 1..=3), priorities,
    /// intervals, VIP subsets of four addresses (a VIP may move between instances from
    /// one configuration to the next), an optional track and an optional sync group.
    fn config_strategy() -> impl Strategy<Value = RouterConfig> {
        let inst = (
            1u8..=3,
            prop_oneof![Just(50u8), Just(100), Just(200), Just(255)],
            prop_oneof![Just(10u32), Just(100)],
            0u8..16,
            any::<bool>(),
            any::<bool>(),
        );
        (proptest::collection::vec(inst, 0..=3), any::<bool>()).prop_map(|(list, group)| {
            let mut instances: Vec<InstanceConfig> = Vec::new();
            for (vrid, prio, adv, vips, track, state_master) in list {
                if instances.iter().any(|c| c.vrid.get() == vrid) {
                    continue;
                }
                let mut c = with_int(cfg(prio, 12), adv);
                c.name = format!("VI_{vrid}");
                c.vrid = Vrid::new(u32::from(vrid)).unwrap();
                c.vips = (0..4u8)
                    .filter(|b| vips & (1 << b) != 0)
                    .map(|b| VipConfig::host(v4(100 + b)))
                    .collect();
                if c.vips.is_empty() {
                    c.vips = vec![VipConfig::host(v4(110 + vrid))];
                }
                if track {
                    c.tracks = vec![TrackConfig {
                        id: TrackId("t".into()),
                        weight: -60,
                        reverse: false,
                    }];
                }
                if state_master {
                    c.initial_state = InitialState::Master;
                }
                instances.push(c);
            }
            let sync_groups = if group && instances.len() >= 2 {
                vec![SyncGroupConfig {
                    name: "G".into(),
                    members: instances.iter().take(2).map(|c| c.name.clone()).collect(),
                    tracking_weight: false,
                }]
            } else {
                vec![]
            };
            RouterConfig {
                instances,
                sync_groups,
            }
        })
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// Fire the deadlines of the next `n` ms.
        Wait(u16),
        /// An advert from a peer.
        Peer {
            vrid: u8,
            prio: u8,
        },
        Link(bool),
        Track(bool),
        Reload(usize),
    }

    fn step_strategy() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (1u16..3000).prop_map(Step::Wait),
            4 => (1u8..=3, prop_oneof![Just(0u8), Just(80), Just(150), Just(254)])
                .prop_map(|(vrid, prio)| Step::Peer { vrid, prio }),
            1 => any::<bool>().prop_map(Step::Link),
            1 => any::<bool>().prop_map(Step::Track),
            4 => (0usize..4).prop_map(Step::Reload),
        ]
    }

    type Installed = BTreeMap<(IfaceId, IpAddr, u8), i64>;

    /// Applies the drained actions to `installed`; checks what was sent.
    fn apply(r: &mut Router, installed: &mut Installed) -> Vec<Transmit> {
        let d = drain(r);
        for a in &d.actions {
            match a {
                Action::AddAddress {
                    iface,
                    addr,
                    prefix_len,
                    ..
                } => *installed.entry((*iface, *addr, *prefix_len)).or_default() += 1,
                Action::RemoveAddress {
                    iface,
                    addr,
                    prefix_len,
                    ..
                } => *installed.entry((*iface, *addr, *prefix_len)).or_default() -= 1,
                _ => {}
            }
        }
        installed.retain(|_, n| *n != 0);
        d.tx
    }

    /// What the masters of `r` must have installed: each VIP of each master, once.
    fn expected(r: &Router) -> Installed {
        let mut want = Installed::new();
        for i in r.instances() {
            if i.state().kind() == StateKind::Master {
                let c = i.config();
                for v in c.vips.iter().chain(&c.excluded_vips) {
                    *want
                        .entry((v.iface.unwrap_or(c.interface), v.addr, v.prefix_len))
                        .or_default() += 1;
                }
            }
        }
        want
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// Random runs with random reloads among four configurations. After every step the
        /// addresses installed according to the actions are exactly the VIPs of the
        /// instances in MASTER (so a reload never leaves an address behind nor drops one a
        /// master needs, also when a VIP moves between instances); at every reload an
        /// instance the report calls unchanged keeps its state bit for bit and sends
        /// nothing (when no sync group is involved); a refused configuration cannot occur
        /// here (all are valid), so every reload succeeds; a deadline is never left in the
        /// past.
        #[test]
        fn reloads_keep_addresses_and_unchanged_instances_consistent(
            configs in proptest::collection::vec(config_strategy(), 4),
            start in 0usize..4,
            steps in proptest::collection::vec(step_strategy(), 1..60),
        ) {
            let mut r = Router::new(configs[start].clone()).unwrap();
            let mut current = start;
            let mut now = Instant::ZERO;
            let mut installed = Installed::new();
            r.start(now);
            let _ = apply(&mut r, &mut installed);
            prop_assert_eq!(&installed, &expected(&r));
            for step in steps {
                match step {
                    Step::Wait(ms_) => {
                        let until = now + Duration::from_millis(u64::from(ms_));
                        while let Some(t) = r.poll_timeout().filter(|t| *t <= until) {
                            now = t;
                            r.handle(now, Input::Timeout);
                            let _ = apply(&mut r, &mut installed);
                            prop_assert!(r.poll_timeout().is_none_or(|t| t > now));
                        }
                        now = until;
                    }
                    Step::Peer { vrid, prio } => {
                        let mut p = advert(ka_wire::vrrp::Version::V3, prio, 100);
                        p.vrid = vrid;
                        if let Some(i) = r.instances().iter().find(|i| i.config().vrid.get() == vrid) {
                            p.addrs = i.config().vips.iter().map(|v| v.addr).collect();
                            p.adver_int_cs = u16::try_from(i.config().advert_int.0).unwrap();
                        }
                        r.handle_packet(now, &rx(20), &p);
                        let _ = apply(&mut r, &mut installed);
                    }
                    Step::Link(up) => {
                        r.handle_link(now, IF, up);
                        let _ = apply(&mut r, &mut installed);
                    }
                    Step::Track(up) => {
                        let st = if up { TrackState::Up } else { TrackState::Down };
                        r.handle_track(now, &TrackId("t".into()), st);
                        let _ = apply(&mut r, &mut installed);
                    }
                    Step::Reload(k) => {
                        let before = r.clone();
                        let report = r.reconfigure(now, configs[k].clone()).unwrap();
                        let tx = apply(&mut r, &mut installed);
                        let grouped = !configs[k].sync_groups.is_empty()
                            || !configs[current].sync_groups.is_empty();
                        if !grouped {
                            for id in &report.unchanged {
                                let old = before.instance(*id).unwrap();
                                let new = r.instance(*id).unwrap();
                                prop_assert_eq!(old.state(), new.state());
                                prop_assert_eq!(old.stats(), new.stats());
                                prop_assert_eq!(old.effective_priority(), new.effective_priority());
                                prop_assert!(tx.iter().all(|t| t.instance() != *id), "{:?}", tx);
                            }
                        }
                        for (id, name) in &report.removed {
                            prop_assert!(r.instance(*id).is_none());
                            prop_assert_eq!(r.instance_name(*id), Some(name.as_str()));
                        }
                        current = k;
                    }
                }
                prop_assert_eq!(&installed, &expected(&r), "after a step");
            }
        }
    }
}
