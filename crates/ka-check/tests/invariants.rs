//! Seeded random runs: random configurations, outcomes, latencies, lost results, file
//! values, BFD and VIP events. After every input the engine's invariants must hold.
//! A failure prints its seed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use ka_check::{
    fixture, Event, Failure, HttpResponse, Input, Instant, Options, Probe, ProbeKind, ProbeOutcome,
    RealServerId, ScriptExit,
};
use ka_model::lvs::{BfdCheck, CheckTiming, CheckerKind, FileCheck, LvsConfig, UdpCheck};

/// xorshift64*: the test's own randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn random_timing(r: &mut Rng) -> CheckTiming {
    let mut t = fixture::timing(1 + r.below(5), r.below(4) as u32, r.below(4));
    t.warmup = Duration::from_millis(r.below(3000));
    t.connect_timeout = Duration::from_secs(1 + r.below(3));
    t.alpha = r.chance(30);
    t
}

fn random_config(r: &mut Rng) -> LvsConfig {
    let mut vss = Vec::new();
    for v in 0..1 + r.below(2) {
        let mut rss = Vec::new();
        for i in 0..1 + r.below(4) {
            let addr = ip(&format!("198.51.100.{}", 10 * v + i + 1));
            let mut checkers = Vec::new();
            for _ in 0..r.below(4) {
                let t = random_timing(r);
                let kind = match r.below(7) {
                    0 => CheckerKind::Tcp,
                    1 => {
                        let mut b = fixture::url("/b");
                        b.digest = Some(ka_check::verdict::body_digest(b"ok"));
                        let mut h = fixture::http(vec![fixture::url("/a"), b]);
                        h.fast_recovery = r.chance(50);
                        CheckerKind::Http(h)
                    }
                    2 => CheckerKind::Misc(fixture::misc(
                        &["/bin/check"],
                        Duration::from_secs(2),
                        r.chance(50),
                    )),
                    3 => CheckerKind::Udp(UdpCheck {
                        payload: None,
                        require_reply: None,
                        min_reply_length: 0,
                        max_reply_length: 255,
                    }),
                    4 => CheckerKind::File(FileCheck {
                        track_file: format!("f{}", r.below(3)),
                        weight: r.below(5) as i32 - 2,
                        reverse: r.chance(30),
                    }),
                    5 => CheckerKind::Bfd(BfdCheck {
                        name: format!("b{}", r.below(2)),
                    }),
                    _ => CheckerKind::Ping,
                };
                checkers.push(fixture::checker(kind, t, (addr, Some(80))));
            }
            let mut rs = fixture::real_server(addr, 80, checkers);
            rs.weight = ka_model::lvs::Weight::new(r.below(20) as u32).unwrap();
            rss.push(rs);
        }
        let mut vs = fixture::virtual_server(ip(&format!("192.0.2.{}", v + 1)), 80, rss);
        vs.ha_suspend = r.chance(30);
        vs.omega = r.chance(50);
        vss.push(vs);
    }
    fixture::lvs(vss)
}

fn respond(r: &mut Rng, p: &Probe) -> (Duration, ProbeOutcome) {
    let lat = Duration::from_millis(r.below(2500));
    if r.chance(3) {
        // Lost: the watchdog must fire.
        return (Duration::from_secs(100_000), ProbeOutcome::Success);
    }
    if r.chance(3) {
        return (lat, ProbeOutcome::NotRun("no socket".into()));
    }
    let good = r.chance(60);
    let out = match &p.kind {
        ProbeKind::Http(_) => match r.below(4) {
            0 => ProbeOutcome::Failed(Failure::NoData),
            _ => ProbeOutcome::Http(HttpResponse {
                status_code: if good { 200 } else { 500 },
                body: if r.chance(80) {
                    b"ok".to_vec()
                } else {
                    b"ko".to_vec()
                },
            }),
        },
        ProbeKind::Misc { .. } => ProbeOutcome::Exit(match r.below(6) {
            0 => ScriptExit::TimedOut,
            1 => ScriptExit::Signaled(9),
            _ => ScriptExit::Exited(if good { 0 } else { r.below(256) as u8 }),
        }),
        ProbeKind::Udp { .. } if r.chance(50) => ProbeOutcome::UdpReply(vec![1, 2, 3]),
        _ if good => ProbeOutcome::Success,
        _ => ProbeOutcome::Failed(Failure::Timeout),
    };
    (lat, out)
}

fn check_invariants(sim: &Sim, seed: u64, running: bool) {
    let s = &sim.s;
    let chks = s.checkers();
    for rs in s.real_servers() {
        let failed = chks.iter().filter(|c| c.id.rs == rs.id && !c.up).count() as u32;
        assert_eq!(rs.failed_checkers, failed, "seed {seed}: {rs:?}");
        if running {
            assert_eq!(rs.alive, failed == 0, "seed {seed}: {rs:?}");
        }
    }
    let flying = chks.iter().filter(|c| c.in_flight.is_some()).count();
    assert_eq!(s.in_flight(), flying, "seed {seed}");
    if let Some(t) = s.poll_timeout() {
        assert!(
            t >= sim.now,
            "seed {seed}: deadline {t} before now {}",
            sim.now
        );
    }
}

fn check_event_stream(sim: &Sim, seed: u64) {
    let mut alive: BTreeMap<RealServerId, bool> = BTreeMap::new();
    let mut weight: BTreeMap<RealServerId, u32> = BTreeMap::new();
    for (t, e) in &sim.events {
        match e {
            Event::Initial {
                rs,
                alive: a,
                weight: w,
            } => {
                assert!(alive.insert(*rs, *a).is_none(), "seed {seed}: two Initial");
                weight.insert(*rs, *w);
            }
            Event::RealServerChanged { rs, alive: a, .. } => {
                let prev = alive.insert(*rs, *a);
                assert_eq!(prev, Some(!a), "seed {seed} at {t}: {e:?}");
            }
            Event::WeightChanged { rs, old, new, .. } => {
                let prev = weight.insert(*rs, *new);
                assert_eq!(prev, Some(*old), "seed {seed} at {t}: {e:?}");
                assert_ne!(old, new);
            }
            Event::EventsLost { .. } => panic!("seed {seed}: events lost"),
            Event::Reloaded => {
                alive.clear();
                weight.clear();
            }
            _ => {}
        }
    }
    let mut last = None;
    for (_, p) in &sim.probes {
        assert!(last < Some(p.id), "seed {seed}: probe ids not increasing");
        last = Some(p.id);
    }
}

#[test]
fn random_runs_keep_invariants() {
    let mut transitions = 0;
    let mut reloads = 0;
    for seed in 1..=150u64 {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let cfg = random_config(&mut r);
        let mut sim = Sim::new(
            &cfg,
            Options {
                seed,
                rs_init_notifies: r.chance(50),
            },
        );
        for f in 0..3 {
            sim.input(
                Instant::ZERO,
                Input::FileValue {
                    name: format!("f{f}"),
                    value: r.below(3) as i64 - 1,
                },
            );
        }
        sim.input(
            Instant::ZERO,
            Input::Vip {
                vs: 0,
                present: r.chance(50),
            },
        );
        sim.start();
        check_invariants(&sim, seed, true);
        let mut rr = Rng(seed ^ 0xdead_beef);
        for step in 1..=120u64 {
            let end = Instant::from_secs(step);
            sim.run_until(end, &mut |_, p| respond(&mut rr, p));
            check_invariants(&sim, seed, true);
            let input = match r.below(10) {
                0 => Input::FileValue {
                    name: format!("f{}", r.below(3)),
                    value: r.below(5) as i64 - 2,
                },
                1 => Input::Bfd {
                    name: format!("b{}", r.below(2)),
                    up: r.chance(60),
                },
                2 => Input::Vip {
                    vs: r.below(2) as u32,
                    present: r.chance(70),
                },
                4 if r.chance(15) => {
                    // Reload with the same or another configuration.
                    let next = if r.chance(50) {
                        cfg.clone()
                    } else {
                        random_config(&mut r)
                    };
                    sim.now = end;
                    sim.s.reload(end, &next).unwrap();
                    reloads += 1;
                    while let Some(e) = sim.s.poll_event() {
                        sim.events.push((end, e));
                    }
                    check_invariants(&sim, seed, true);
                    continue;
                }
                3 if r.chance(10) => {
                    Input::Result(ka_check::ProbeId(r.below(50)), ProbeOutcome::Success)
                }
                _ => continue,
            };
            sim.input(end, input);
            check_invariants(&sim, seed, true);
        }
        sim.input(Instant::from_secs(121), Input::Shutdown);
        check_invariants(&sim, seed, false);
        assert!(sim.s.real_servers().iter().all(|r| !r.alive));
        assert_eq!(sim.s.poll_timeout(), None);
        check_event_stream(&sim, seed);
        transitions += sim.rs_changes().len();
    }
    // The runs exercise the engine (not a vacuous pass).
    assert!(transitions > 1000, "{transitions}");
    assert!(reloads > 100, "{reloads}");
}
