//! Reload (SIGHUP): state carried over for unchanged real servers and checkers, as
//! keepalived's migrate_checkers does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use ka_check::{
    fixture, Event, Failure, Options, Probe, ProbeKind, ProbeOutcome, Reason, ScriptExit,
};
use ka_model::lvs::{CheckerKind, LvsConfig, Weight};

fn tcp_rs(addr: &str, retry: u32) -> ka_model::lvs::RealServer {
    let c = fixture::checker(
        CheckerKind::Tcp,
        fixture::timing(10, retry, 1),
        (ip(addr), Some(80)),
    );
    let mut rs = fixture::real_server(ip(addr), 80, vec![c]);
    rs.notify_down = Some(fixture::script(&[&format!("/bin/down-{addr}")]));
    rs
}

fn cfg(rss: Vec<ka_model::lvs::RealServer>) -> LvsConfig {
    fixture::lvs(vec![fixture::virtual_server(ip("192.0.2.1"), 80, rss)])
}

fn after_reload(sim: &Sim) -> Vec<(u32, bool, u32)> {
    let at = sim
        .events
        .iter()
        .rposition(|(_, e)| matches!(e, Event::Reloaded))
        .expect("Reloaded");
    sim.events[at + 1..]
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Initial { rs, alive, weight } => Some((rs.rs, *alive, *weight)),
            _ => None,
        })
        .collect()
}

fn reload(sim: &mut Sim, t: ka_check::Instant, lvs: &LvsConfig) {
    sim.now = t;
    sim.s.reload(t, lvs).unwrap();
    while let Some(e) = sim.s.poll_event() {
        sim.events.push((t, e));
    }
}

/// 192.0.2.10 refuses connections; the others answer.
fn responder(_: ka_check::Instant, p: &Probe) -> (Duration, ProbeOutcome) {
    let c = p.connection.as_ref().unwrap();
    if c.ip == ip("192.0.2.10") {
        (Duration::ZERO, ProbeOutcome::Failed(Failure::Refused))
    } else {
        (Duration::ZERO, ProbeOutcome::Success)
    }
}

#[test]
fn carried_state_removed_and_new_servers() {
    let old = cfg(vec![tcp_rs("192.0.2.10", 1), tcp_rs("192.0.2.11", 1)]);
    let mut sim = Sim::new(&old, Options::default());
    sim.start();
    sim.run_until(secs(5), &mut responder);
    assert_eq!(sim.rs_changes(), vec![(secs(1), false)]);
    // New config: .11 removed, .10 kept (now second), .12 added (first).
    let new = cfg(vec![tcp_rs("192.0.2.12", 2), tcp_rs("192.0.2.10", 1)]);
    let in_flight_before = sim.probes.len();
    reload(&mut sim, secs(5), &new);
    // .11 was alive and is gone: it leaves with its notify_down (old id 1).
    assert!(sim.events.iter().any(|(t, e)| *t == secs(5)
        && matches!(e, Event::RealServerChanged { rs, alive: false, reason: Reason::Reload, .. } if rs.rs == 1)));
    assert!(sim.events.iter().any(|(t, e)| *t == secs(5)
        && matches!(e, Event::Notify { up: false, script: Some(s), .. } if s.path() == "/bin/down-192.0.2.11")));
    // .12 new and alive; .10 stays down (its failed checker is carried).
    assert_eq!(after_reload(&sim), vec![(0, true, 1), (1, false, 1)]);
    // Schedules restart: BOOTSTRAP_DELAY after the reload.
    assert_eq!(sim.s.poll_timeout(), Some(secs(6)));
    sim.run_until(secs(7), &mut responder);
    assert_eq!(sim.probes.len(), in_flight_before + 2);
    // The carried down checker does not need another failure; no transitions.
    assert_eq!(sim.rs_changes().len(), 2);
}

#[test]
fn new_server_after_reload_needs_retry_plus_one_failures() {
    let mut sim = Sim::new(&cfg(vec![tcp_rs("192.0.2.11", 1)]), Options::default());
    sim.start();
    sim.run_until(secs(3), &mut responder);
    reload(
        &mut sim,
        secs(3),
        &cfg(vec![tcp_rs("192.0.2.11", 1), tcp_rs("192.0.2.10", 2)]),
    );
    assert_eq!(after_reload(&sim), vec![(0, true, 1), (1, true, 1)]);
    sim.run_until(secs(20), &mut responder);
    // .10 (retry 2, 1 s apart): fails at 4, 5, 6: down at 6 (not at 4 as at startup).
    assert_eq!(sim.rs_changes(), vec![(secs(6), false)]);
}

#[test]
fn alpha_checker_added_to_a_healthy_server_stays_up() {
    let mut sim = Sim::new(&cfg(vec![tcp_rs("192.0.2.11", 1)]), Options::default());
    sim.start();
    sim.run_until(secs(3), &mut responder);
    let mut rs = tcp_rs("192.0.2.11", 1);
    let mut t = fixture::timing(10, 1, 1);
    t.alpha = true;
    rs.checkers.push(fixture::checker(
        CheckerKind::Ping,
        t,
        (ip("192.0.2.11"), None),
    ));
    reload(&mut sim, secs(3), &cfg(vec![rs.clone()]));
    assert_eq!(after_reload(&sim), vec![(0, true, 1)]);
    assert!(sim.rs_changes().is_empty());

    // The same on a server that is down: the new alpha checker starts failed, so the
    // server needs both checkers to pass.
    let mut sim = Sim::new(&cfg(vec![tcp_rs("192.0.2.10", 1)]), Options::default());
    sim.start();
    sim.run_until(secs(3), &mut responder);
    let mut rs = tcp_rs("192.0.2.10", 1);
    rs.checkers.push(fixture::checker(
        CheckerKind::Ping,
        t,
        (ip("192.0.2.10"), None),
    ));
    reload(&mut sim, secs(3), &cfg(vec![rs]));
    let st = sim.s.real_servers()[0];
    assert!(!st.alive);
    assert_eq!(st.failed_checkers, 2);
}

#[test]
fn changed_checker_starts_over_and_weights_follow_config_unless_dynamic() {
    let misc = |dynamic| {
        fixture::checker(
            CheckerKind::Misc(fixture::misc(
                &["/bin/chk"],
                Duration::from_secs(2),
                dynamic,
            )),
            fixture::timing(10, 0, 1),
            (ip("192.0.2.11"), None),
        )
    };
    let with = |w: u32, dynamic: bool| {
        let mut rs = fixture::real_server(ip("192.0.2.11"), 80, vec![misc(dynamic)]);
        rs.weight = Weight::new(w).unwrap();
        cfg(vec![rs])
    };
    let mut exit7 = |_: ka_check::Instant, p: &Probe| {
        assert!(matches!(p.kind, ProbeKind::Misc { .. }));
        (Duration::ZERO, ProbeOutcome::Exit(ScriptExit::Exited(7)))
    };
    // misc_dynamic set the weight to 5: a reload keeps it.
    let mut sim = Sim::new(&with(10, true), Options::default());
    sim.start();
    sim.run_until(secs(3), &mut exit7);
    assert_eq!(sim.weights(), vec![(secs(1), 10, 5)]);
    reload(&mut sim, secs(3), &with(20, true));
    assert_eq!(after_reload(&sim), vec![(0, true, 5)]);
    // Without a dynamic weight the new configured weight applies.
    let mut sim = Sim::new(&with(10, false), Options::default());
    sim.start();
    reload(&mut sim, secs(0), &with(20, false));
    assert_eq!(after_reload(&sim), vec![(0, true, 20)]);
}

#[test]
fn results_of_abandoned_probes_are_stale() {
    let mut sim = Sim::new(&cfg(vec![tcp_rs("192.0.2.11", 1)]), Options::default());
    sim.start();
    sim.run_until(secs(1), &mut |_, _| {
        (Duration::from_secs(3), ProbeOutcome::Success)
    });
    assert_eq!(sim.s.in_flight(), 1);
    let id = sim.probes[0].1.id;
    reload(&mut sim, secs(2), &cfg(vec![tcp_rs("192.0.2.11", 1)]));
    assert_eq!(sim.s.in_flight(), 0);
    sim.input(secs(4), ka_check::Input::Result(id, ProbeOutcome::Success));
    assert!(matches!(
        sim.events.last(),
        Some((_, Event::StaleResult { .. }))
    ));
    // Ids keep increasing across the reload.
    sim.run_until(secs(4), &mut |_, _| (Duration::ZERO, ProbeOutcome::Success));
    assert!(sim.probes.last().unwrap().1.id > id);
}

#[test]
fn carried_server_changing_state_is_notified_after_the_new_state() {
    let mut sim = Sim::new(&cfg(vec![tcp_rs("192.0.2.10", 1)]), Options::default());
    sim.start();
    sim.run_until(secs(3), &mut responder);
    // The failing checker is removed: nothing fails any more, the server rejoins.
    let mut rs = tcp_rs("192.0.2.10", 1);
    rs.checkers.clear();
    rs.notify_up = Some(fixture::script(&["/bin/up"]));
    reload(&mut sim, secs(3), &cfg(vec![rs]));
    let tail: Vec<&Event> = sim
        .events
        .iter()
        .filter(|(t, _)| *t == secs(3))
        .map(|(_, e)| e)
        .collect();
    assert!(matches!(tail[0], Event::Reloaded), "{tail:?}");
    assert!(matches!(tail[1], Event::Initial { alive: true, .. }));
    assert!(
        matches!(tail[2], Event::Notify { up: true, script: Some(s), .. } if s.path() == "/bin/up")
    );
    assert_eq!(tail.len(), 3);
    assert_eq!(sim.s.poll_timeout(), None);
}
