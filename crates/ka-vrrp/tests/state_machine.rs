//! State-machine tests on simulated time. Each cites the RFC section (or keepalived
//! behaviour) it checks.

// Helpers outside #[test] fns unwrap test fixtures; a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use ka_model::VrrpVersion;
use ka_vrrp::{
    Action, AhStatus, AuthConfig, DropReason, Event, InitialState, Instant, Router, RouterConfig,
    RxMeta, StateKind, SyncGroupConfig, TrackConfig, TrackId, TrackState, TransitionReason,
    Transmit, VipConfig,
};
use ka_wire::vrrp::{Auth, Version};

// ---------------------------------------------------------------- startup and timers

/// RFC 5798 section 6.4.1: a non-owner starts as backup with Master_Down_Timer =
/// Master_Down_Interval, and (6.4.2) becomes master when it fires: 3609.375 ms at
/// priority 100, advert_int 1 s.
#[test]
fn startup_backup_then_master_after_master_down_interval() {
    let mut r = router(cfg(100, 12));
    r.start(Instant::ZERO);
    let d = drain(&mut r);
    assert_eq!(d.transitions(), vec![(StateKind::Init, StateKind::Backup)]);
    assert!(d.adverts().is_empty(), "a backup sends nothing");
    assert!(d.actions.is_empty());
    assert_eq!(r.poll_timeout(), Some(us(3_609_375)));
    r.handle_timeout(us(3_609_374));
    assert_eq!(state(&r), StateKind::Backup);
    assert_eq!(r.instances()[0].stats().transitions, 1, "INIT -> BACKUP");
    r.handle_timeout(us(3_609_375));
    assert_eq!(state(&r), StateKind::Master);
    let s = r.instances()[0].stats();
    assert_eq!(
        (s.transitions, s.become_master),
        (2, 1),
        "and BACKUP -> MASTER"
    );
    let d = drain(&mut r);
    assert_eq!(d.adverts().len(), 1);
    assert_eq!(d.adverts()[0].priority, 100);
    assert!(d
        .actions
        .iter()
        .any(|a| matches!(a, Action::AddAddress { addr, .. } if *addr == v4(1))));
}

/// RFC 5798 section 6.1 (Skew_Time, Master_Down_Interval) with keepalived's integer
/// arithmetic, at advert_int 1 s, 0.1 s and 0.01 s, measured after the last advert.
#[test]
fn master_down_interval_at_each_advert_int() {
    // (version, advert_int cs, priority, expected us after the last advert)
    let cases = [
        (VrrpVersion::V3, 100, 100, 3_609_375u64),
        (VrrpVersion::V3, 10, 100, 360_937),
        (VrrpVersion::V3, 1, 100, 36_093),
        (VrrpVersion::V3, 100, 150, 3_414_062),
        (VrrpVersion::V3, 10, 150, 341_406),
        (VrrpVersion::V3, 1, 150, 34_140),
        (VrrpVersion::V3, 100, 1, 3_996_093),
        (VrrpVersion::V2, 100, 100, 3_609_375),
        (VrrpVersion::V2, 300, 100, 9_609_375),
    ];
    for (version, cs, prio, expect) in cases {
        let mut c = with_int(cfg(prio, 12), cs);
        c.version = version;
        let mut r = router(c);
        r.start(Instant::ZERO);
        let _ = drain(&mut r);
        // Startup: same interval from t=0.
        assert_eq!(
            r.poll_timeout(),
            Some(us(expect)),
            "startup {version:?} {cs} {prio}"
        );
        // Last advert from a master at priority 200 at t = 5 s.
        let wire_version = if version == VrrpVersion::V2 {
            Version::V2
        } else {
            Version::V3
        };
        let t0 = 5_000_000;
        r.handle_packet(us(t0), &rx(11), &advert(wire_version, 200, cs as u16));
        assert_eq!(r.instances()[0].stats().drops, [0; DropReason::ALL.len()]);
        let got = time_to_master(&mut r, us(t0 + 20_000_000)).unwrap();
        assert_eq!(got, us(t0 + expect), "{version:?} {cs} cs prio {prio}");
    }
}

/// RFC 5798 section 6.4.1: the address owner (priority 255) goes to MASTER at once, sends
/// an advert, installs the VIPs and sends gratuitous ARPs.
#[test]
fn owner_starts_master() {
    let mut r = router(cfg(255, 11));
    r.start(ms(7));
    let d = drain(&mut r);
    assert_eq!(d.transitions(), vec![(StateKind::Init, StateKind::Master)]);
    assert!(matches!(
        d.events[0],
        Event::StateChange {
            reason: TransitionReason::StartupAsMaster,
            ..
        }
    ));
    assert_eq!(d.adverts().len(), 1);
    assert_eq!(d.adverts()[0].priority, 255);
    assert_eq!(d.garps(), 5);
    assert!(
        matches!(d.tx[0], Transmit::Advert { .. }),
        "advert first, then GARPs"
    );
    assert_eq!(
        r.poll_timeout(),
        Some(ms(1007)),
        "Adver_Timer = Advertisement_Interval"
    );
}

/// keepalived: `state MASTER` (priority < 255) also becomes master at start.
#[test]
fn initial_state_master_starts_master() {
    let mut c = cfg(100, 11);
    c.initial_state = InitialState::Master;
    let mut r = router(c);
    r.start(Instant::ZERO);
    assert_eq!(state(&r), StateKind::Master);
}

/// RFC 5798 section 6.4.3: master sends an advert every Advertisement_Interval.
#[test]
fn master_sends_adverts_every_interval() {
    for (cs, n) in [(100u32, 1usize), (10, 10), (1, 100)] {
        let mut r = router(with_int(cfg(255, 11), cs));
        r.start(Instant::ZERO);
        let _ = drain(&mut r);
        let d = run_until(&mut r, ms(1000));
        assert_eq!(d.adverts().len(), n, "{cs} cs for 1 s");
        assert!(d
            .adverts()
            .iter()
            .all(|p| u32::from(p.adver_int_cs) == cs && p.priority == 255));
    }
}

// ---------------------------------------------------------------- master receives

/// RFC 5798 section 6.4.3: a master receiving a higher priority advert becomes backup and
/// removes its addresses.
#[test]
fn higher_priority_advert_makes_master_step_down() {
    let mut c = cfg(100, 11);
    c.initial_state = InitialState::Master;
    let mut r = router(c);
    r.start(Instant::ZERO);
    let _ = drain(&mut r);
    r.handle_packet(ms(500), &rx(12), &v3adv(150, 100));
    assert_eq!(state(&r), StateKind::Backup);
    let d = drain(&mut r);
    assert!(d.adverts().is_empty());
    assert!(d
        .actions
        .iter()
        .any(|a| matches!(a, Action::RemoveAddress { addr, .. } if *addr == v4(1))));
    assert!(matches!(
        d.events.last(),
        Some(Event::StateChange {
            reason: TransitionReason::HigherPriorityAdvert,
            ..
        })
    ));
    assert_eq!(r.poll_timeout(), Some(us(500_000 + 3_609_375)));
}

/// keepalived (vrrp_state_master_rx): a master receiving a lower priority advert answers
/// with its own advert at once (RFC 5798 section 6.4.3 only discards it); not with
/// lower_prio_no_advert.
#[test]
fn master_answers_lower_priority_advert() {
    for no_advert in [false, true] {
        let mut c = cfg(200, 11);
        c.initial_state = InitialState::Master;
        c.lower_prio_no_advert = no_advert;
        let mut r = router(c);
        r.start(Instant::ZERO);
        let _ = drain(&mut r);
        r.handle_packet(ms(300), &rx(12), &v3adv(100, 100));
        let d = drain(&mut r);
        assert_eq!(state(&r), StateKind::Master);
        assert_eq!(d.adverts().len(), usize::from(!no_advert));
        assert!(d
            .events
            .iter()
            .any(|e| matches!(e, Event::MasterRxLowerPriority { priority: 100, .. })));
    }
}

/// RFC 5798 section 6.4.3: a master receiving priority 0 sends an advert at once.
#[test]
fn master_answers_priority_zero() {
    let mut r = router(cfg(255, 11));
    r.start(Instant::ZERO);
    let _ = drain(&mut r);
    r.handle_packet(ms(300), &rx(12), &v3adv(0, 100));
    let d = drain(&mut r);
    assert_eq!(d.adverts().len(), 1);
    assert_eq!(state(&r), StateKind::Master);
}

/// RFC 5798 section 6.4.3: equal priority is broken by the primary address: the master
/// with the lower address yields, the higher one stays (and, keepalived, answers).
#[test]
fn equal_priority_tie_break_by_address() {
    let mut lo = cfg(100, 11);
    lo.initial_state = InitialState::Master;
    let mut hi = cfg(100, 12);
    hi.initial_state = InitialState::Master;
    let mut r_lo = router(lo);
    let mut r_hi = router(hi);
    r_lo.start(Instant::ZERO);
    r_hi.start(Instant::ZERO);
    let _ = drain(&mut r_lo);
    let _ = drain(&mut r_hi);
    r_lo.handle_packet(ms(100), &rx(12), &v3adv(100, 100));
    assert_eq!(state(&r_lo), StateKind::Backup);
    r_hi.handle_packet(ms(100), &rx(11), &v3adv(100, 100));
    assert_eq!(state(&r_hi), StateKind::Master);
    assert_eq!(drain(&mut r_hi).adverts().len(), 1);

    // Same on a LAN, both starting as masters at the same instant.
    let mut a = cfg(100, 11);
    a.initial_state = InitialState::Master;
    let mut b = cfg(100, 12);
    b.initial_state = InitialState::Master;
    let mut lan = Lan::new(vec![router(a), router(b)]);
    lan.start();
    lan.advance(Duration::from_secs(10));
    assert_eq!(lan.states(), vec![StateKind::Backup, StateKind::Master]);
}

// ---------------------------------------------------------------- backup receives

/// RFC 5798 section 6.4.2: with preemption a backup discards lower priority adverts and
/// takes over when Master_Down_Timer fires; without (nopreempt) it accepts them.
#[test]
fn lower_priority_advert_preempt_and_nopreempt() {
    for preempt in [true, false] {
        let mut c = cfg(150, 12);
        c.preempt = preempt;
        let mut r = router(c);
        r.start(Instant::ZERO);
        let _ = drain(&mut r);
        // A priority 100 master advertising every second.
        let mut became = None;
        for s in 0..20u64 {
            r.handle_packet(ms(s * 1000), &rx(11), &v3adv(100, 100));
            let d = run_until(&mut r, ms(s * 1000 + 999));
            if became.is_none()
                && d.transitions()
                    .contains(&(StateKind::Backup, StateKind::Master))
            {
                became = Some(s);
            }
        }
        if preempt {
            // Startup timer at prio 150: 3.414062 s; lower adverts do not reset it.
            assert_eq!(became, Some(3));
        } else {
            assert_eq!(became, None);
            assert_eq!(state(&r), StateKind::Backup);
        }
    }
}

/// RFC 5798 section 6.4.2: an advert with a priority greater than OR EQUAL to ours resets
/// Master_Down_Timer, also with preemption.
#[test]
fn equal_priority_advert_resets_backup_timer() {
    let mut r = router(cfg(100, 12));
    r.start(Instant::ZERO);
    r.handle_packet(ms(2000), &rx(11), &v3adv(100, 100));
    assert_eq!(r.poll_timeout(), Some(us(2_000_000 + 3_609_375)));
    r.handle_packet(ms(3000), &rx(11), &v3adv(99, 100));
    assert_eq!(
        r.poll_timeout(),
        Some(us(2_000_000 + 3_609_375)),
        "lower: discarded"
    );
}

/// keepalived preempt_delay: lower priority adverts keep resetting the down timer until
/// preempt_delay after the first one, then the backup takes over Master_Down_Interval
/// after the last accepted advert.
#[test]
fn preempt_delay() {
    let mut c = cfg(150, 12);
    c.preempt_delay = Duration::from_secs(10);
    let mut r = router(c);
    r.start(Instant::ZERO);
    let _ = drain(&mut r);
    let mut became = None;
    for s in 0..30u64 {
        if state(&r) == StateKind::Backup {
            r.handle_packet(ms(s * 1000), &rx(11), &v3adv(100, 100));
        }
        if let Some(t) = time_to_master(&mut r, ms(s * 1000 + 999)) {
            became = Some(t);
            break;
        }
    }
    // preempt_at = 10 s; the advert at 9 s is the last accepted one.
    assert_eq!(became, Some(us(9_000_000 + 3_414_062)));
}

/// RFC 5798 section 6.4.2: priority 0 from the master sets Master_Down_Timer to Skew_Time.
#[test]
fn priority_zero_fast_takeover_after_skew_time() {
    for (cs, skew) in [(100u16, 609_375u64), (10, 60_937), (1, 6_093)] {
        let mut r = router(with_int(cfg(100, 12), u32::from(cs)));
        r.start(Instant::ZERO);
        r.handle_packet(ms(1000), &rx(11), &v3adv(200, cs));
        r.handle_packet(ms(1001), &rx(11), &v3adv(0, cs));
        let d = drain(&mut r);
        assert!(d
            .events
            .iter()
            .any(|e| matches!(e, Event::PriorityZeroReceived { .. })));
        assert_eq!(r.instances()[0].stats().pri_zero_rcvd, 1);
        assert_eq!(
            time_to_master(&mut r, ms(10_000)),
            Some(us(1_001_000 + skew))
        );
    }
}

/// RFC 3768 section 7.1: a v2 advert whose Adver Int differs from ours is dropped.
#[test]
fn v2_interval_mismatch_dropped() {
    let mut c = cfg(100, 12);
    c.version = VrrpVersion::V2;
    let mut r = router(c);
    r.start(Instant::ZERO);
    r.handle_packet(ms(10), &rx(11), &advert(Version::V2, 200, 200));
    assert_eq!(
        r.instances()[0].stats().drops(DropReason::IntervalMismatch),
        1
    );
    // Not accepted: the startup timer still fires at 3.609375 s.
    assert_eq!(r.poll_timeout(), Some(us(3_609_375)));
    r.handle_packet(ms(20), &rx(11), &advert(Version::V2, 200, 100));
    assert_eq!(r.poll_timeout(), Some(us(20_000 + 3_609_375)));
}

/// RFC 5798 section 6.4.2: a v3 backup sets Master_Adver_Interval to the advert's.
#[test]
fn v3_backup_adopts_master_interval() {
    let mut r = router(cfg(100, 12)); // own advert_int 1 s
    r.start(Instant::ZERO);
    let _ = drain(&mut r);
    r.handle_packet(ms(100), &rx(11), &v3adv(200, 10));
    let d = drain(&mut r);
    assert!(d
        .events
        .iter()
        .any(|e| matches!(e, Event::AdvertIntervalAdopted { cs: 10, .. })));
    assert_eq!(r.poll_timeout(), Some(us(100_000 + 360_937)));
    match r.instances()[0].state() {
        ka_vrrp::State::Backup(b) => assert_eq!(b.master_adver_int.0, 10),
        s => panic!("{s:?}"),
    }
    // As master it advertises its own interval again (RFC 5798 section 6.4.3).
    let d = run_until(&mut r, ms(2000));
    assert!(d.adverts().iter().all(|p| p.adver_int_cs == 100));
}

/// RFC 3768 section 7.1 / 10: authentication checks (PASS compare, type mismatch, AH).
#[test]
fn v2_authentication() {
    let mut c = cfg(100, 12);
    c.version = VrrpVersion::V2;
    c.auth = AuthConfig::Pass(AuthConfig::pad(b"s3cret"));
    let mut r = router(c);
    r.start(Instant::ZERO);
    let mut p = advert(Version::V2, 200, 100);
    p.auth = Auth::SimplePassword(AuthConfig::pad(b"wrong"));
    r.handle_packet(ms(1), &rx(11), &p);
    p.auth = Auth::None;
    r.handle_packet(ms(2), &rx(11), &p);
    p.auth = Auth::Unknown {
        kind: 7,
        data: [0; 8],
    };
    r.handle_packet(ms(3), &rx(11), &p);
    let s = r.instances()[0].stats().clone();
    assert_eq!(s.drops(DropReason::AuthFailure), 1);
    assert_eq!(s.drops(DropReason::AuthTypeMismatch), 1);
    assert_eq!(s.drops(DropReason::InvalidAuthType), 1);
    assert_eq!(s.adverts_rcvd, 0);
    p.auth = Auth::SimplePassword(AuthConfig::pad(b"s3cret"));
    r.handle_packet(ms(4), &rx(11), &p);
    assert_eq!(r.instances()[0].stats().adverts_rcvd, 1);
    // Sent adverts carry the password.
    let d = run_until(&mut r, ms(10_000));
    assert!(d
        .adverts()
        .iter()
        .all(|p| p.auth == Auth::SimplePassword(AuthConfig::pad(b"s3cret"))));

    // AH: the I/O layer verifies the ICV; the engine needs AH present and valid.
    let mut c = cfg(100, 12);
    c.version = VrrpVersion::V2;
    c.auth = AuthConfig::Ah(AuthConfig::pad(b"s3cret"));
    let mut r = router(c);
    r.start(Instant::ZERO);
    let mut p = advert(Version::V2, 200, 100);
    p.auth = Auth::Ah([0; 8]);
    let mut m = rx(11);
    r.handle_packet(ms(1), &m, &p); // no AH header
    m.ah = AhStatus::Invalid;
    r.handle_packet(ms(2), &m, &p);
    m.ah = AhStatus::Valid;
    r.handle_packet(ms(3), &m, &p);
    let s = r.instances()[0].stats();
    assert_eq!(s.drops(DropReason::AuthTypeMismatch), 1);
    assert_eq!(s.drops(DropReason::AuthFailure), 1);
    assert_eq!(s.adverts_rcvd, 1);
}

/// RFC 5798 section 7.1: TTL/hop limit must be 255 for multicast; keepalived does not
/// check unicast adverts, and sends IPv6 unicast with hop limit 64 (interop vector 2d).
#[test]
fn ttl_checks_multicast_only() {
    let mut r = router(cfg(100, 12));
    r.start(Instant::ZERO);
    let mut m = rx(11);
    m.ttl = Some(64);
    r.handle_packet(ms(1), &m, &v3adv(200, 100));
    assert_eq!(r.instances()[0].stats().drops(DropReason::Ttl), 1);
    assert_eq!(r.poll_timeout(), Some(us(3_609_375)));

    // IPv6 unicast peers, hop limit 64.
    let mk = |last: u16, peer: u16| {
        let mut c =
            ka_vrrp::InstanceConfig::new("VI_6", ka_model::Vrid::new(51).unwrap(), IF, v6(last));
        c.priority = if last == 0x11 { 150 } else { 100 };
        c.vips = vec![VipConfig::host(v6(1))];
        c.unicast_peers = vec![v6(peer)];
        c.check_unicast_src = true;
        router(c)
    };
    let mut master = mk(0x11, 0x12);
    let mut backup = mk(0x12, 0x11);
    master.start(Instant::ZERO);
    backup.start(Instant::ZERO);
    let d = run_until(&mut master, ms(3500));
    let adv =
        d.tx.iter()
            .find_map(|t| match t {
                Transmit::Advert {
                    src,
                    dst,
                    ttl,
                    packet,
                    ..
                } => Some((*src, *dst, *ttl, packet.clone())),
                _ => None,
            })
            .unwrap();
    assert_eq!(adv.2, 64, "keepalived-compatible IPv6 unicast hop limit");
    assert_eq!(adv.1, v6(0x12));
    let meta = RxMeta {
        iface: IF,
        src: adv.0,
        dst: adv.1,
        ttl: Some(adv.2),
        ah: AhStatus::Absent,
        checksum_ok: true,
    };
    backup.handle_packet(ms(3500), &meta, &adv.3);
    assert_eq!(
        backup.instances()[0].stats().drops,
        [0; DropReason::ALL.len()]
    );
    assert_eq!(backup.instances()[0].stats().adverts_rcvd, 1);
    // check_unicast_src: a stranger is dropped.
    let mut stranger = meta.clone();
    stranger.src = v6(0x99);
    backup.handle_packet(ms(3501), &stranger, &adv.3);
    assert_eq!(
        backup.instances()[0]
            .stats()
            .drops(DropReason::UnicastSrcNotPeer),
        1
    );
    // A multicast advert to a unicast instance is dropped (keepalived).
    let mut mc = meta;
    mc.dst = "ff02::12".parse().unwrap();
    backup.handle_packet(ms(3502), &mc, &adv.3);
    assert_eq!(
        backup.instances()[0]
            .stats()
            .drops(DropReason::CastMismatch),
        1
    );
}

/// RFC 5798 section 7.1: version, type, VRID, address list checks, each counted.
#[test]
fn header_checks_are_counted() {
    let mut r = router(cfg(100, 12));
    r.start(Instant::ZERO);
    r.handle_packet(ms(1), &rx(11), &advert(Version::V2, 200, 100));
    let mut p = v3adv(200, 100);
    p.kind = 2;
    r.handle_packet(ms(2), &rx(11), &p);
    let mut p = v3adv(200, 100);
    p.addrs = vec![v4(9)];
    r.handle_packet(ms(3), &rx(11), &p);
    p.addrs = vec![];
    r.handle_packet(ms(4), &rx(11), &p);
    let mut p = v3adv(200, 100);
    p.vrid = 52;
    r.handle_packet(ms(5), &rx(11), &p);
    p.vrid = 0;
    r.handle_packet(ms(6), &rx(11), &p);
    let mut m = rx(11);
    m.checksum_ok = false;
    r.handle_packet(ms(7), &m, &v3adv(200, 100));
    let s = r.instances()[0].stats();
    assert_eq!(s.drops(DropReason::Version), 1);
    assert_eq!(s.drops(DropReason::Type), 1);
    assert_eq!(s.drops(DropReason::AddrList), 1);
    assert_eq!(s.drops(DropReason::AddrCount), 1);
    assert_eq!(s.drops(DropReason::Checksum), 1);
    assert_eq!(r.unmatched_drops(DropReason::NoInstance), 1);
    assert_eq!(r.unmatched_drops(DropReason::VridZero), 1);
    assert_eq!(
        r.poll_timeout(),
        Some(us(3_609_375)),
        "none of them reset the timer"
    );
}

/// keepalived skip_check_adv_addr: the address list is not checked again for adverts from
/// the current master.
#[test]
fn skip_check_adv_addr() {
    let mut c = cfg(100, 12);
    c.skip_check_adv_addr = true;
    let mut r = router(c);
    r.start(Instant::ZERO);
    r.handle_packet(ms(1), &rx(11), &v3adv(200, 100));
    let mut p = v3adv(200, 100);
    p.addrs = vec![v4(9)];
    r.handle_packet(ms(2), &rx(11), &p);
    assert_eq!(r.instances()[0].stats().drops(DropReason::AddrList), 0);
    r.handle_packet(ms(3), &rx(13), &p);
    assert_eq!(r.instances()[0].stats().drops(DropReason::AddrList), 1);
}

// ---------------------------------------------------------------- tracking and fault

/// keepalived tracking: a weighted track moves the effective priority (clamped 1..=254),
/// which the adverts carry; an unweighted failure means FAULT: priority 0 advert, VIPs
/// removed, silence; recovery goes to BACKUP.
#[test]
fn tracking_weights_and_fault() {
    let mut c = cfg(200, 11);
    c.initial_state = InitialState::Master;
    c.tracks = vec![
        TrackConfig {
            id: TrackId("script:a".into()),
            weight: -30,
            reverse: false,
        },
        TrackConfig {
            id: TrackId("script:b".into()),
            weight: 100,
            reverse: false,
        },
        TrackConfig {
            id: TrackId("script:c".into()),
            weight: 0,
            reverse: false,
        },
    ];
    let mut r = router(c);
    r.start(Instant::ZERO);
    assert_eq!(
        r.instances()[0].effective_priority(),
        254,
        "200 + 100 clamped"
    );
    let _ = drain(&mut r);
    r.handle_track(ms(10), &TrackId("script:b".into()), TrackState::Down);
    r.handle_track(ms(10), &TrackId("script:a".into()), TrackState::Down);
    assert_eq!(r.instances()[0].effective_priority(), 170);
    let d = run_until(&mut r, ms(1000));
    assert_eq!(d.adverts().last().map(|p| p.priority), Some(170));
    assert!(d.events.is_empty() || d.transitions().is_empty());

    r.handle_track(ms(1500), &TrackId("script:c".into()), TrackState::Down);
    assert_eq!(state(&r), StateKind::Fault);
    let d = drain(&mut r);
    assert_eq!(d.adverts().len(), 1);
    assert_eq!(
        d.adverts()[0].priority,
        0,
        "leaving MASTER for FAULT sends priority 0"
    );
    assert!(d
        .actions
        .iter()
        .any(|a| matches!(a, Action::RemoveAddress { .. })));
    assert_eq!(r.poll_timeout(), None, "no timers in FAULT");
    let d = run_until(&mut r, ms(20_000));
    assert!(d.tx.is_empty(), "no adverts in FAULT");
    r.handle_packet(ms(20_000), &rx(12), &v3adv(100, 100));
    assert_eq!(r.instances()[0].stats().drops(DropReason::NotRunning), 1);

    r.handle_track(ms(21_000), &TrackId("script:c".into()), TrackState::Up);
    assert_eq!(state(&r), StateKind::Backup);
    assert_eq!(r.poll_timeout(), Some(us(21_000_000 + 3_335_937)));
}

/// keepalived: the instance's interface going down means FAULT (no adverts); tracked
/// interfaces with a weight change the priority.
#[test]
fn link_down_is_fault_and_tracked_interface_weight() {
    let mut c = cfg(100, 12);
    c.track_interfaces = vec![ka_vrrp::TrackIfConfig {
        iface: ka_vrrp::IfaceId(2),
        weight: -20,
        reverse: false,
    }];
    let mut r = router(c);
    r.start(Instant::ZERO);
    r.handle_link(ms(5), ka_vrrp::IfaceId(2), false);
    assert_eq!(r.instances()[0].effective_priority(), 80);
    r.handle_link(ms(6), IF, false);
    assert_eq!(state(&r), StateKind::Fault);
    r.handle_link(ms(7), IF, true);
    assert_eq!(state(&r), StateKind::Backup);
    // track_file semantics: value * weight.
    let mut c = cfg(100, 12);
    c.tracks = vec![TrackConfig {
        id: TrackId("file:f".into()),
        weight: 2,
        reverse: false,
    }];
    let mut r = router(c);
    r.start(Instant::ZERO);
    r.handle_track(ms(1), &TrackId("file:f".into()), TrackState::Value(-10));
    assert_eq!(r.instances()[0].effective_priority(), 80);
    r.handle_track(ms(2), &TrackId("file:f".into()), TrackState::Value(-127));
    assert_eq!(state(&r), StateKind::Fault, "below -253 means FAULT");
}

// ---------------------------------------------------------------- sync groups

fn group_router(prio: u8, last: u8) -> Router {
    let mut a = cfg(prio, last);
    a.name = "VI_A".into();
    let mut b = cfg(prio, last);
    b.name = "VI_B".into();
    b.vrid = ka_model::Vrid::new(52).unwrap();
    b.vips = vec![VipConfig::host(v4(2))];
    b.tracks = vec![TrackConfig {
        id: TrackId("script:b".into()),
        weight: 0,
        reverse: false,
    }];
    Router::new(RouterConfig {
        instances: vec![a, b],
        sync_groups: vec![SyncGroupConfig {
            name: "G".into(),
            members: vec!["VI_A".into(), "VI_B".into()],
            tracking_weight: false,
        }],
    })
    .unwrap()
}

fn kinds(r: &Router) -> Vec<StateKind> {
    r.instances().iter().map(|i| i.state().kind()).collect()
}

/// keepalived sync groups: members become master together, one FAULT puts all in FAULT,
/// one yielding to a higher priority takes the others to BACKUP.
#[test]
fn sync_group_moves_together() {
    let mut r = group_router(100, 12);
    r.start(Instant::ZERO);
    let _ = drain(&mut r);
    // Only VI_A's master is alive: VI_B's timer fires first but waits for VI_A.
    for s in 0..5u64 {
        r.handle_packet(ms(s * 1000), &rx(11), &v3adv(200, 100));
        let _ = run_until(&mut r, ms(s * 1000 + 999));
        assert_eq!(
            kinds(&r),
            vec![StateKind::Backup, StateKind::Backup],
            "t={s}"
        );
    }
    // VI_A's master dies: both go master together when VI_A's timer fires.
    let mut fork = r.clone();
    let d = run_until(&mut fork, ms(20_000));
    assert!(d.events.iter().any(|e| matches!(
        e,
        Event::SyncGroupChange {
            group: 0,
            from: StateKind::Backup,
            to: StateKind::Master
        }
    )));
    assert_eq!(
        time_to_master(&mut r, ms(20_000)),
        Some(us(4_000_000 + 3_609_375))
    );
    assert_eq!(kinds(&r), vec![StateKind::Master, StateKind::Master]);
    // VI_A hears a higher priority: both back to BACKUP.
    r.handle_packet(ms(9000), &rx(11), &v3adv(200, 100));
    assert_eq!(kinds(&r), vec![StateKind::Backup, StateKind::Backup]);
    let d = drain(&mut r);
    assert!(d.events.iter().any(|e| matches!(
        e,
        Event::StateChange {
            reason: TransitionReason::SyncGroup,
            ..
        }
    )));
    // VI_B's track fails: both FAULT; recovery: both BACKUP.
    r.handle_track(ms(9500), &TrackId("script:b".into()), TrackState::Down);
    assert_eq!(kinds(&r), vec![StateKind::Fault, StateKind::Fault]);
    r.handle_track(ms(9600), &TrackId("script:b".into()), TrackState::Up);
    assert_eq!(kinds(&r), vec![StateKind::Backup, StateKind::Backup]);
}

// ---------------------------------------------------------------- GARP, shutdown

/// keepalived GARP schedule (RFC 5798 section 6.4.2 "broadcast a gratuitous ARP"):
/// garp_master_repeat (5) right after the first advert, 5 more after garp_master_delay
/// (5 s), then none unless garp_master_refresh.
#[test]
fn garp_schedule() {
    let mut r = router(cfg(100, 12));
    r.start(Instant::ZERO);
    let d = run_until(&mut r, us(3_609_375));
    assert_eq!(d.garps(), 5);
    let pos_adv =
        d.tx.iter()
            .position(|t| matches!(t, Transmit::Advert { .. }))
            .unwrap();
    let pos_garp =
        d.tx.iter()
            .position(|t| matches!(t, Transmit::GratuitousArp { .. }))
            .unwrap();
    assert!(pos_adv < pos_garp);
    let d = run_until(&mut r, us(3_609_375 + 4_999_999));
    assert_eq!(d.garps(), 0);
    let d = run_until(&mut r, us(3_609_375 + 5_000_000));
    assert_eq!(d.garps(), 5);
    let d = run_until(&mut r, us(60_000_000));
    assert_eq!(d.garps(), 0);

    // Refresh every 10 s, 2 each; delay 0 = no second burst.
    let mut c = cfg(255, 11);
    c.garp.master_refresh = Some(Duration::from_secs(10));
    c.garp.master_refresh_repeat = 2;
    c.garp.master_delay = Duration::ZERO;
    c.garp.master_repeat = 1;
    let mut r = router(c);
    r.start(Instant::ZERO);
    assert_eq!(drain(&mut r).garps(), 1);
    let d = run_until(&mut r, ms(35_000));
    assert_eq!(d.garps(), 6);
}

/// RFC 5798 section 6.4.3 (Shutdown): a master sends priority 0 and removes its VIPs.
#[test]
fn shutdown_sends_priority_zero() {
    let mut c = cfg(255, 11);
    c.virtual_routes = vec!["198.51.100.0/24 via 192.0.2.254".into()];
    let mut r = router(c);
    r.start(Instant::ZERO);
    let _ = drain(&mut r);
    r.shutdown(ms(500));
    let d = drain(&mut r);
    assert_eq!(d.adverts().len(), 1);
    assert_eq!(d.adverts()[0].priority, 0);
    assert!(d
        .actions
        .iter()
        .any(|a| matches!(a, Action::RemoveAddress { .. })));
    assert!(d
        .actions
        .iter()
        .any(|a| matches!(a, Action::RemoveRoute { .. })));
    assert_eq!(state(&r), StateKind::Init);
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(r.instances()[0].stats().pri_zero_sent, 1);
}

/// RFC 5798 sections 6.4.2/6.4.3 on a LAN: 150 becomes master, 100 stays backup; the
/// master stops silently (kill -9) and the backup takes over Master_Down_Interval after
/// its last advert; graceful stop (priority 0) takes Skew_Time.
#[test]
fn lan_failover() {
    for graceful in [false, true] {
        let mut a = cfg(150, 11);
        a.initial_state = InitialState::Backup;
        let b = cfg(100, 12);
        let mut lan = Lan::new(vec![router(a), router(b)]);
        lan.start();
        lan.advance(Duration::from_secs(10));
        assert_eq!(lan.states(), vec![StateKind::Master, StateKind::Backup]);
        // Master since 3.414062 s; adverts every 1 s from then on.
        let last_advert = us(3_414_062 + 6_000_000);
        lan.run_until(last_advert);
        if graceful {
            lan.routers[0].shutdown(lan.now);
            lan.now = last_advert;
            let d = drain(&mut lan.routers[0]);
            for t in d.tx {
                if let Transmit::Advert { packet, src, .. } = t {
                    lan.routers[1].handle_packet(lan.now, &RxMeta::multicast(IF, src), &packet);
                }
            }
        } else {
            lan.muted[0] = true;
        }
        let t = time_to_master(&mut lan.routers[1], ms(60_000)).unwrap();
        let expect = if graceful { 609_375 } else { 3_609_375 };
        assert_eq!(t, last_advert.add_micros(expect), "graceful={graceful}");
    }
}

/// keepalived: two address owners -> the local one lowers itself to 254 and yields to the
/// other (higher address wins the tie).
#[test]
fn owner_conflict() {
    let mut r = router(cfg(255, 11));
    r.start(Instant::ZERO);
    let _ = drain(&mut r);
    r.handle_packet(ms(100), &rx(12), &v3adv(255, 100));
    let d = drain(&mut r);
    assert!(d
        .events
        .iter()
        .any(|e| matches!(e, Event::OwnerConflict { .. })));
    assert_eq!(r.instances()[0].effective_priority(), 254);
    assert_eq!(state(&r), StateKind::Backup);
}

/// RFC 5798 section 6.1 Accept_Mode: no_accept masters ask for the VIPs to be blocked.
#[test]
fn no_accept_blocks_vips() {
    let mut c = cfg(255, 11);
    c.accept = Some(false);
    let mut r = router(c);
    r.start(Instant::ZERO);
    let d = drain(&mut r);
    assert!(matches!(d.actions[0], Action::BlockAddresses { .. }));
    r.shutdown(ms(1));
    let d = drain(&mut r);
    assert!(matches!(
        d.actions.last(),
        Some(Action::UnblockAddresses { .. })
    ));
}

/// keepalived vrrp_strict: unicast peers, auth and no VIPs are refused; lower priority
/// adverts are not answered.
#[test]
fn strict_mode() {
    let mut c = cfg(100, 12);
    c.strict = true;
    c.unicast_peers = vec![v4(11)];
    assert!(Router::new(RouterConfig {
        instances: vec![c],
        sync_groups: vec![]
    })
    .is_err());
    let mut c = cfg(255, 12);
    c.strict = true;
    let mut r = router(c);
    assert!(r.instances()[0].config().lower_prio_no_advert);
    r.start(Instant::ZERO);
    let _ = drain(&mut r);
    r.handle_packet(ms(5), &rx(11), &v3adv(100, 100));
    assert!(drain(&mut r).adverts().is_empty());
}

/// keepalived higher_prio_send_advert: a master sends one advert before yielding.
#[test]
fn higher_prio_send_advert() {
    for send in [false, true] {
        let mut c = cfg(100, 11);
        c.initial_state = InitialState::Master;
        c.higher_prio_send_advert = send;
        let mut r = router(c);
        r.start(Instant::ZERO);
        let _ = drain(&mut r);
        r.handle_packet(ms(100), &rx(12), &v3adv(200, 100));
        assert_eq!(state(&r), StateKind::Backup);
        assert_eq!(drain(&mut r).adverts().len(), usize::from(send));
    }
}

/// keepalived: an instance whose interface is down at start goes straight to FAULT and
/// stays silent; when the link comes up it starts as backup (RFC 5798 section 6.4.1).
#[test]
fn fault_before_start() {
    let mut r = router(cfg(255, 11));
    r.handle_link(Instant::ZERO, IF, false);
    r.start(ms(1));
    assert_eq!(state(&r), StateKind::Fault);
    let d = drain(&mut r);
    assert!(d.tx.is_empty() && d.actions.is_empty());
    r.handle_link(ms(2), IF, true);
    assert_eq!(
        state(&r),
        StateKind::Master,
        "the owner goes master at once"
    );
}

/// House style 8: the event queue is bounded; losses are reported.
#[test]
fn event_queue_is_bounded() {
    let mut r = router(cfg(100, 12));
    r.start(Instant::ZERO);
    for i in 0..(ka_vrrp::router::MAX_EVENTS as u64 + 10) {
        r.handle_packet(
            us(i),
            &rx(11),
            &advert(Version::V3, 100, 100).clone_with_vrid(9),
        );
    }
    assert!(matches!(r.poll_event(), Some(Event::EventsLost { count }) if count >= 10));
    let mut n = 0;
    while r.poll_event().is_some() {
        n += 1;
    }
    assert_eq!(n, ka_vrrp::router::MAX_EVENTS);
}

trait WithVrid {
    fn clone_with_vrid(self, vrid: u8) -> Self;
}

impl WithVrid for ka_wire::vrrp::VrrpPacket {
    fn clone_with_vrid(mut self, vrid: u8) -> Self {
        self.vrid = vrid;
        self
    }
}

/// House style 7: the whole router is plain data; a snapshot taken mid-run (JSON) continues
/// exactly like the original (a simulator can checkpoint and fork runs).
#[test]
fn router_snapshot_round_trip() {
    let mut r = router(cfg(100, 12));
    r.start(Instant::ZERO);
    r.handle_packet(ms(10), &rx(11), &v3adv(200, 100));
    let _ = drain(&mut r);
    let json = serde_json::to_string(&r).unwrap();
    let mut copy: Router = serde_json::from_str(&json).unwrap();
    assert_eq!(copy, r);
    let a = run_until(&mut r, ms(30_000));
    let b = run_until(&mut copy, ms(30_000));
    assert_eq!(a.tx, b.tx);
    assert_eq!(a.actions, b.actions);
    assert_eq!(a.events, b.events);
    assert_eq!(copy, r);
}

/// keepalived: the address owner and sync group members (without
/// sync_group_tracking_weight) cannot use weights: they are set to 0, so a failure of a
/// weighted track means FAULT.
#[test]
fn owner_and_group_tracks_are_unweighted() {
    let mut c = cfg(255, 11);
    c.tracks = vec![TrackConfig {
        id: TrackId("t".into()),
        weight: -50,
        reverse: false,
    }];
    let mut r = router(c);
    assert_eq!(r.instances()[0].config().tracks[0].weight, 0);
    r.start(Instant::ZERO);
    r.handle_track(ms(1), &TrackId("t".into()), TrackState::Down);
    assert_eq!(state(&r), StateKind::Fault);

    let mut a = cfg(100, 12);
    a.tracks = vec![TrackConfig {
        id: TrackId("t".into()),
        weight: -50,
        reverse: false,
    }];
    let mut b = a.clone();
    b.name = "VI_B".into();
    b.vrid = ka_model::Vrid::new(52).unwrap();
    for tracking_weight in [false, true] {
        let r = Router::new(RouterConfig {
            instances: vec![a.clone(), b.clone()],
            sync_groups: vec![SyncGroupConfig {
                name: "G".into(),
                members: vec!["VI_1".into(), "VI_B".into()],
                tracking_weight,
            }],
        })
        .unwrap();
        let w = r.instances()[0].config().tracks[0].weight;
        assert_eq!(w, if tracking_weight { -50 } else { 0 });
    }
}

// ---------------------------------------------------------------- status accessors

/// `Instance::last_transition` and `Instance::master`: what `keepalived-rs status` shows.
#[test]
fn last_transition_and_master_accessors() {
    let mut r = router(cfg(100, 12));
    assert_eq!(r.instances()[0].last_transition(), None);
    assert_eq!(r.instances()[0].master(), None, "nobody in INIT");
    r.start(ms(7));
    let _ = drain(&mut r);
    let t = *r.instances()[0].last_transition().unwrap();
    assert_eq!(
        (t.at, t.from, t.to, t.reason),
        (
            ms(7),
            StateKind::Init,
            StateKind::Backup,
            TransitionReason::Startup
        )
    );
    assert_eq!(r.instances()[0].master(), None, "no master heard yet");
    // A master at priority 200 is heard: a backup names it.
    r.handle_packet(ms(100), &rx(20), &v3adv(200, 100));
    let m = r.instances()[0].master().unwrap();
    assert_eq!((m.addr, m.priority), (v4(20), 200));
    // It goes silent: Master_Down_Interval later this one is master, and names itself.
    let at = time_to_master(&mut r, ms(10_000)).unwrap();
    let t = *r.instances()[0].last_transition().unwrap();
    assert_eq!(
        (t.at, t.from, t.to, t.reason),
        (
            at,
            StateKind::Backup,
            StateKind::Master,
            TransitionReason::MasterDown
        )
    );
    let m = r.instances()[0].master().unwrap();
    assert_eq!((m.addr, m.priority), (v4(12), 100));
    assert_eq!(r.sync_group_count(), 0);
    assert_eq!(r.sync_group_state(0), None);
}
