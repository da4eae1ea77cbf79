//! State-machine tests of the checker engine on simulated time: schedules, retries,
//! alpha/omega, warmup, all-checkers-must-pass, misc_dynamic, FILE_CHECK, HTTP matching.
//! Expected times are derived from the configuration by hand in each test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use ka_check::verdict::body_digest;
use ka_check::{
    fixture, Event, Failure, HttpResponse, Input, Instant, Options, Probe, ProbeKind, ProbeOutcome,
    Reason, ScriptExit,
};
use ka_model::lvs::{CheckTiming, CheckerKind, FileCheck, LvsConfig, UdpCheck, Weight};

const RS: &str = "192.0.2.10";

/// One virtual server with one real server carrying `checkers`.
fn one_rs(checkers: Vec<ka_model::lvs::Checker>) -> LvsConfig {
    let rs = fixture::real_server(ip(RS), 80, checkers);
    fixture::lvs(vec![fixture::virtual_server(ip("192.0.2.1"), 80, vec![rs])])
}

fn tcp(t: CheckTiming) -> ka_model::lvs::Checker {
    fixture::checker(CheckerKind::Tcp, t, (ip(RS), Some(80)))
}

fn times(sim: &Sim) -> Vec<f64> {
    sim.probe_times()
}

#[test]
fn down_after_exactly_retry_plus_one_failures_up_after_one_success() {
    // delay_loop 10 s, retry 2, delay_before_retry 3 s; the server refuses from 30 s
    // to 50 s; answers are immediate.
    let mut sim = Sim::new(
        &one_rs(vec![tcp(fixture::timing(10, 2, 3))]),
        Options::default(),
    );
    sim.start();
    let mut f = outage(
        secs(30),
        secs(50),
        Duration::ZERO,
        ProbeOutcome::Failed(Failure::Refused),
    );
    sim.run_until(secs(70), &mut f);
    // 1, 11, 21 pass; 31, 34, 37 fail (retry + 1 = 3 attempts, 3 s apart): down at 37.
    // Down: no retries, next at 47 (fails), 57 passes: up at 57.
    assert_eq!(
        times(&sim),
        vec![1.0, 11.0, 21.0, 31.0, 34.0, 37.0, 47.0, 57.0, 67.0]
    );
    assert_eq!(sim.rs_changes(), vec![(secs(37), false), (secs(57), true)]);
    let retries: Vec<(u32, u32)> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::ProbeFailed { attempt, of, .. } => Some((*attempt, *of)),
            _ => None,
        })
        .collect();
    assert_eq!(retries, vec![(1, 3), (2, 3)]);
    // The down event names the failure.
    assert!(sim.events.iter().any(|(t, e)| *t == secs(37)
        && matches!(
            e,
            Event::CheckerChanged {
                up: false,
                reason: Reason::Failed(Failure::Refused),
                ..
            }
        )));
}

#[test]
fn transition_time_includes_timeouts() {
    // Failing probes time out after 2 s: down at 31 + 3 x 2 + 2 x 3 = 43.
    let mut sim = Sim::new(
        &one_rs(vec![tcp(fixture::timing(10, 2, 3))]),
        Options::default(),
    );
    sim.start();
    let mut f = outage(
        secs(30),
        secs(60),
        Duration::from_secs(2),
        ProbeOutcome::Failed(Failure::Timeout),
    );
    sim.run_until(secs(80), &mut f);
    assert_eq!(
        times(&sim),
        vec![1.0, 11.0, 21.0, 31.0, 36.0, 41.0, 53.0, 65.0, 75.0]
    );
    // 53 fails (result at 55, next 65), 65 passes: up at 65.
    assert_eq!(sim.rs_changes(), vec![(secs(43), false), (secs(65), true)]);
}

#[test]
fn first_verdict_needs_one_failure() {
    // keepalived starts with retry_it = retry: a dead server is down after the first
    // probe, not after retry + 1.
    let mut sim = Sim::new(
        &one_rs(vec![tcp(fixture::timing(10, 3, 1))]),
        Options::default(),
    );
    sim.start();
    let mut f = outage(
        secs(0),
        secs(1000),
        Duration::ZERO,
        ProbeOutcome::Failed(Failure::Refused),
    );
    sim.run_until(secs(25), &mut f);
    assert_eq!(times(&sim), vec![1.0, 11.0, 21.0]);
    assert_eq!(sim.rs_changes(), vec![(secs(1), false)]);
    assert_eq!(sim.notifies(), vec![(secs(1), false, None, false)]);
    assert!(!sim
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::ProbeFailed { .. })));
}

#[test]
fn alpha_starts_down_and_needs_a_success() {
    let mut t = fixture::timing(10, 1, 1);
    t.alpha = true;
    let mut cfg = one_rs(vec![tcp(t)]);
    cfg.virtual_servers[0].real_servers[0].notify_up = Some(fixture::script(&["/bin/up"]));
    cfg.virtual_servers[0].real_servers[0].notify_down = Some(fixture::script(&["/bin/down"]));

    // Healthy server: up at the first probe.
    let mut sim = Sim::new(&cfg, Options::default());
    sim.start();
    assert!(matches!(
        sim.events[0].1,
        Event::Initial {
            alive: false,
            weight: 1,
            ..
        }
    ));
    sim.run_until(secs(15), &mut |_, _| {
        (Duration::ZERO, ProbeOutcome::Success)
    });
    assert_eq!(sim.rs_changes(), vec![(secs(1), true)]);
    assert_eq!(
        sim.notifies(),
        vec![(secs(1), true, Some("/bin/up".into()), false)]
    );

    // Dead until 20 s: the first failure runs notify_down (the state keepalived
    // starts in), no transition; up at the first probe after 20 s.
    let mut sim = Sim::new(&cfg, Options::default());
    sim.start();
    let mut f = outage(
        secs(0),
        secs(20),
        Duration::ZERO,
        ProbeOutcome::Failed(Failure::Timeout),
    );
    sim.run_until(secs(25), &mut f);
    assert_eq!(sim.rs_changes(), vec![(secs(21), true)]);
    assert_eq!(
        sim.notifies(),
        vec![
            (secs(1), false, Some("/bin/down".into()), false),
            (secs(21), true, Some("/bin/up".into()), false)
        ]
    );
}

#[test]
fn non_alpha_starts_alive_and_rs_init_notifies() {
    let mut cfg = one_rs(vec![tcp(fixture::timing(10, 1, 1))]);
    cfg.virtual_servers[0].real_servers[0].notify_up = Some(fixture::script(&["/bin/up"]));
    let mut sim = Sim::new(&cfg, Options::default());
    sim.start();
    assert!(matches!(
        sim.events[0].1,
        Event::Initial { alive: true, .. }
    ));
    assert!(sim.notifies().is_empty());
    let mut sim = Sim::new(
        &cfg,
        Options {
            seed: 0,
            rs_init_notifies: true,
        },
    );
    sim.start();
    assert_eq!(
        sim.notifies(),
        vec![(secs(0), true, Some("/bin/up".into()), false)]
    );
    // A success on an up checker changes nothing.
    sim.run_until(secs(5), &mut |_, _| (Duration::ZERO, ProbeOutcome::Success));
    assert!(sim.rs_changes().is_empty());
}

#[test]
fn omega_runs_notify_down_on_shutdown() {
    for omega in [false, true] {
        let mut cfg = one_rs(vec![tcp(fixture::timing(10, 1, 1))]);
        cfg.virtual_servers[0].omega = omega;
        cfg.virtual_servers[0].real_servers[0].notify_down = Some(fixture::script(&["/bin/down"]));
        let mut sim = Sim::new(&cfg, Options::default());
        sim.start();
        sim.run_until(secs(3), &mut |_, _| (Duration::ZERO, ProbeOutcome::Success));
        sim.input(secs(5), Input::Shutdown);
        assert_eq!(sim.rs_changes(), vec![(secs(5), false)]);
        let expected = if omega {
            vec![(secs(5), false, Some("/bin/down".to_string()), true)]
        } else {
            vec![]
        };
        assert_eq!(sim.notifies(), expected, "omega {omega}");
        assert_eq!(sim.s.poll_timeout(), None);
        assert!(sim.s.poll_probe().is_none());
    }
}

fn many(n: u16, warmup: Duration) -> LvsConfig {
    let rss = (0..n)
        .map(|i| {
            let addr = ip(&format!("198.51.100.{}", i % 250 + 1));
            let mut t = fixture::timing(60, 1, 1);
            t.warmup = warmup;
            let c = fixture::checker(CheckerKind::Tcp, t, (addr, Some(8000 + i)));
            fixture::real_server(addr, 8000 + i, vec![c])
        })
        .collect();
    fixture::lvs(vec![fixture::virtual_server(ip("192.0.2.1"), 80, rss)])
}

fn first_probe_times(cfg: &LvsConfig, seed: u64) -> Vec<u64> {
    let mut sim = Sim::new(
        cfg,
        Options {
            seed,
            rs_init_notifies: false,
        },
    );
    sim.start();
    sim.s
        .checkers()
        .iter()
        .map(|c| c.next_at.unwrap().as_micros())
        .collect()
}

#[test]
fn warmup_spreads_first_checks_within_bounds() {
    let cfg = many(200, Duration::from_secs(60));
    let a = first_probe_times(&cfg, 1);
    // BOOTSTRAP_DELAY (1 s) + 0..=warmup (60 s).
    assert!(a.iter().all(|t| (1_000_000..=61_000_000).contains(t)));
    let (min, max) = (a.iter().min().unwrap(), a.iter().max().unwrap());
    assert!(*min < 11_000_000 && *max > 51_000_000, "{min} {max}");
    // Deterministic per seed, different across seeds.
    assert_eq!(a, first_probe_times(&cfg, 1));
    assert_ne!(a, first_probe_times(&cfg, 2));
    // No warmup: everything at exactly 1 s.
    let b = first_probe_times(&many(20, Duration::ZERO), 1);
    assert!(b.iter().all(|t| *t == 1_000_000));
}

#[test]
fn real_server_alive_only_when_all_checkers_pass() {
    let ping = fixture::checker(CheckerKind::Ping, fixture::timing(10, 0, 1), (ip(RS), None));
    let mut sim = Sim::new(
        &one_rs(vec![tcp(fixture::timing(10, 0, 1)), ping]),
        Options::default(),
    );
    sim.start();
    // TCP fails during [20, 60), PING during [30, 80).
    let mut f = |now: Instant, p: &Probe| {
        let bad = match p.kind {
            ProbeKind::Tcp => now >= secs(20) && now < secs(60),
            _ => now >= secs(30) && now < secs(80),
        };
        if bad {
            (Duration::ZERO, ProbeOutcome::Failed(Failure::Timeout))
        } else {
            (Duration::ZERO, ProbeOutcome::Success)
        }
    };
    sim.run_until(secs(90), &mut f);
    // TCP down at 21 (server leaves), PING down at 31, TCP up at 61 (server stays
    // out: PING fails), PING up at 81 (server rejoins).
    assert_eq!(sim.rs_changes(), vec![(secs(21), false), (secs(81), true)]);
    let checker_changes: Vec<(Instant, u32, bool)> = sim
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::CheckerChanged { checker, up, .. } => Some((*t, checker.index, *up)),
            _ => None,
        })
        .collect();
    assert_eq!(
        checker_changes,
        vec![
            (secs(21), 0, false),
            (secs(31), 1, false),
            (secs(61), 0, true),
            (secs(81), 1, true)
        ]
    );
    let st = sim.s.real_servers()[0];
    assert!(st.alive && st.failed_checkers == 0);
}

#[test]
fn misc_dynamic_weights_and_schedule_from_script_start() {
    let m = fixture::misc(
        &["/usr/local/bin/check", "arg"],
        Duration::from_secs(5),
        true,
    );
    let c = fixture::checker(
        CheckerKind::Misc(m),
        fixture::timing(10, 0, 1),
        (ip(RS), None),
    );
    let mut cfg = one_rs(vec![c]);
    cfg.virtual_servers[0].real_servers[0].weight = Weight::new(10).unwrap();
    let mut sim = Sim::new(&cfg, Options::default());
    sim.start();
    // The script runs 2 s; exit 5 until 40 s, 1 in [40, 50), then 0.
    let mut f = |now: Instant, p: &Probe| {
        match &p.kind {
            ProbeKind::Misc { script, dynamic } => {
                assert_eq!(script.argv, vec!["/usr/local/bin/check", "arg"]);
                assert!(*dynamic);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.timeout, Duration::from_secs(5));
        assert!(p.connection.is_none());
        let code = if now < secs(40) {
            5
        } else if now < secs(50) {
            1
        } else {
            0
        };
        (
            Duration::from_secs(2),
            ProbeOutcome::Exit(ScriptExit::Exited(code)),
        )
    };
    sim.run_until(secs(65), &mut f);
    // keepalived schedules the next run delay_loop after the script *started*.
    assert_eq!(times(&sim), vec![1.0, 11.0, 21.0, 31.0, 41.0, 51.0, 61.0]);
    // exit 5 -> weight 3 (once); exit 1 -> down (retry 0); exit 0 -> configured 10, up.
    assert_eq!(sim.weights(), vec![(secs(3), 10, 3), (secs(53), 3, 10)]);
    assert_eq!(sim.rs_changes(), vec![(secs(43), false), (secs(53), true)]);
    assert!(sim.events.iter().any(|(_, e)| matches!(
        e,
        Event::CheckerChanged {
            up: false,
            reason: Reason::Failed(Failure::ExitStatus(1)),
            ..
        }
    )));
}

#[test]
fn misc_without_dynamic_fails_on_any_nonzero_exit_and_retries_from_start() {
    let m = fixture::misc(&["/bin/check"], Duration::from_secs(5), false);
    let c = fixture::checker(
        CheckerKind::Misc(m),
        fixture::timing(10, 1, 2),
        (ip(RS), None),
    );
    let mut sim = Sim::new(&one_rs(vec![c]), Options::default());
    sim.start();
    let mut f = |now: Instant, _: &Probe| {
        let exit = if now >= secs(20) {
            ScriptExit::Exited(3)
        } else {
            ScriptExit::Exited(0)
        };
        (Duration::from_millis(500), ProbeOutcome::Exit(exit))
    };
    sim.run_until(secs(30), &mut f);
    // 21 fails (retry 1 -> next 2 s after the start: 23), 23 fails: down at 23.5.
    assert_eq!(times(&sim), vec![1.0, 11.0, 21.0, 23.0]);
    assert_eq!(sim.rs_changes(), vec![(ms(23_500), false)]);
    assert!(sim.weights().is_empty());
}

#[test]
fn misc_timeout_and_signal_are_failures() {
    for exit in [ScriptExit::TimedOut, ScriptExit::Signaled(9)] {
        let m = fixture::misc(&["/bin/check"], Duration::from_secs(5), true);
        let c = fixture::checker(
            CheckerKind::Misc(m),
            fixture::timing(10, 0, 1),
            (ip(RS), None),
        );
        let mut sim = Sim::new(&one_rs(vec![c]), Options::default());
        sim.start();
        sim.run_until(secs(8), &mut move |_, _| {
            (Duration::from_secs(5), ProbeOutcome::Exit(exit))
        });
        assert_eq!(sim.rs_changes(), vec![(secs(6), false)], "{exit:?}");
    }
}

fn http_cfg(fast_recovery: bool) -> LvsConfig {
    let mut b = fixture::url("/b");
    b.digest = Some(body_digest(b"good"));
    let mut h = fixture::http(vec![fixture::url("/a"), b]);
    h.fast_recovery = fast_recovery;
    h.virtualhost = Some("www.example.com".into());
    let c = fixture::checker(
        CheckerKind::Http(h),
        fixture::timing(10, 1, 3),
        (ip(RS), Some(80)),
    );
    one_rs(vec![c])
}

fn http_responder(now: Instant, p: &Probe) -> (Duration, ProbeOutcome) {
    let ProbeKind::Http(h) = &p.kind else {
        panic!("{p:?}")
    };
    assert!(!h.tls);
    assert_eq!(h.virtualhost.as_deref(), Some("www.example.com"));
    let body: &[u8] = match h.path.as_str() {
        "/a" => {
            assert!(!h.body_needed);
            b"anything"
        }
        "/b" => {
            assert!(h.body_needed);
            if now >= secs(30) && now < secs(60) {
                b"bad"
            } else {
                b"good"
            }
        }
        other => panic!("{other}"),
    };
    (
        Duration::ZERO,
        ProbeOutcome::Http(HttpResponse {
            status_code: 200,
            body: body.to_vec(),
        }),
    )
}

fn http_paths(sim: &Sim) -> Vec<(f64, String)> {
    sim.probes
        .iter()
        .map(|(t, p)| match &p.kind {
            ProbeKind::Http(h) => (t.as_micros() as f64 / 1e6, h.path.clone()),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn http_walks_urls_and_matches_digest() {
    let mut sim = Sim::new(&http_cfg(false), Options::default());
    sim.start();
    sim.run_until(secs(90), &mut http_responder);
    let p = |t: f64, s: &str| (t, s.to_string());
    // One URL per run, delay_loop apart. /b's digest fails at 31, retried at 34
    // (delay_before_retry), down at 34; then only /b every max(3, 10) s; it passes at
    // 64, every URL is checked again from /a: up at 84.
    assert_eq!(
        http_paths(&sim),
        vec![
            p(1.0, "/a"),
            p(11.0, "/b"),
            p(21.0, "/a"),
            p(31.0, "/b"),
            p(34.0, "/b"),
            p(44.0, "/b"),
            p(54.0, "/b"),
            p(64.0, "/b"),
            p(74.0, "/a"),
            p(84.0, "/b"),
        ]
    );
    assert_eq!(sim.rs_changes(), vec![(secs(34), false), (secs(84), true)]);
    let got = body_digest(b"bad").to_hex();
    assert!(sim.events.iter().any(|(t, e)| *t == secs(34)
        && matches!(e, Event::CheckerChanged { up: false, reason: Reason::Failed(Failure::DigestMismatch { got: g }), .. } if *g == got)));
}

#[test]
fn http_fast_recovery_rechecks_at_once() {
    let mut sim = Sim::new(&http_cfg(true), Options::default());
    sim.start();
    sim.run_until(secs(70), &mut http_responder);
    let p = |t: f64, s: &str| (t, s.to_string());
    // Before the first verdict fast_recovery does not wait: /a and /b both at 1.
    // After the failed URL passes at 64, /a and /b follow at once: up at 64.
    assert_eq!(
        http_paths(&sim),
        vec![
            p(1.0, "/a"),
            p(1.0, "/b"),
            p(11.0, "/a"),
            p(21.0, "/b"),
            p(31.0, "/a"),
            p(41.0, "/b"),
            p(44.0, "/b"),
            p(54.0, "/b"),
            p(64.0, "/b"),
            p(64.0, "/a"),
            p(64.0, "/b"),
        ]
    );
    assert_eq!(sim.rs_changes(), vec![(secs(44), false), (secs(64), true)]);
}

#[test]
fn http_status_codes_and_no_data() {
    let mut u = fixture::url("/health");
    u.status_codes = vec![
        ka_model::lvs::StatusRange::new(200, 200).unwrap(),
        ka_model::lvs::StatusRange::new(301, 302).unwrap(),
    ];
    let h = fixture::http(vec![u]);
    let c = fixture::checker(
        CheckerKind::Ssl(h),
        fixture::timing(10, 0, 1),
        (ip(RS), Some(443)),
    );
    let mut sim = Sim::new(&one_rs(vec![c]), Options::default());
    sim.start();
    let mut f = |now: Instant, p: &Probe| {
        let ProbeKind::Http(h) = &p.kind else {
            panic!()
        };
        assert!(h.tls);
        let out = if now < secs(10) {
            ProbeOutcome::Http(HttpResponse {
                status_code: 302,
                body: vec![],
            })
        } else if now < secs(20) {
            ProbeOutcome::Http(HttpResponse {
                status_code: 404,
                body: vec![],
            })
        } else if now < secs(40) {
            ProbeOutcome::Http(HttpResponse {
                status_code: 200,
                body: vec![],
            })
        } else {
            ProbeOutcome::Failed(Failure::NoData)
        };
        (Duration::ZERO, out)
    };
    sim.run_until(secs(45), &mut f);
    // 404 at 11: down (retry 0). The failed URL passes at 21, which only clears the
    // failure: keepalived then checks every URL again, so the server is up at 31.
    // No data at 41: down.
    assert_eq!(
        sim.rs_changes(),
        vec![(secs(11), false), (secs(31), true), (secs(41), false)]
    );
    assert!(sim.events.iter().any(|(_, e)| matches!(
        e,
        Event::CheckerChanged {
            reason: Reason::Failed(Failure::HttpStatus(404)),
            ..
        }
    )));
}

fn file_checker(name: &str, weight: i32) -> ka_model::lvs::Checker {
    fixture::checker(
        CheckerKind::File(FileCheck {
            track_file: name.into(),
            weight,
            reverse: false,
        }),
        fixture::timing(10, 0, 1),
        (ip(RS), None),
    )
}

#[test]
fn file_check_fault_and_weights() {
    let rs0 = fixture::real_server(ip("192.0.2.10"), 80, vec![file_checker("f0", 0)]);
    let rs1 = fixture::real_server(ip("192.0.2.11"), 80, vec![file_checker("f2", 2)]);
    let cfg = fixture::lvs(vec![fixture::virtual_server(
        ip("192.0.2.1"),
        80,
        vec![rs0, rs1],
    )]);
    let mut sim = Sim::new(&cfg, Options::default());
    let file = |name: &str, value: i64| Input::FileValue {
        name: name.into(),
        value,
    };
    // Initial values: f0 = 1 (weight 0: non-zero is a fault), f2 = 3 (weight 1 + 3 x 2).
    sim.input(Instant::ZERO, file("f0", 1));
    sim.input(Instant::ZERO, file("f2", 3));
    sim.start();
    let initial: Vec<(bool, u32)> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Initial { alive, weight, .. } => Some((*alive, *weight)),
            _ => None,
        })
        .collect();
    assert_eq!(initial, vec![(false, 1), (true, 7)]);
    assert_eq!(sim.s.poll_timeout(), None, "FILE_CHECK never probes");
    sim.input(secs(5), file("f0", 0));
    sim.input(secs(6), file("f2", 5));
    sim.input(secs(7), file("f2", i64::from(i32::MIN)));
    sim.input(secs(8), file("f2", -1));
    assert_eq!(
        sim.rs_changes(),
        vec![(secs(5), true), (secs(7), false), (secs(8), true)]
    );
    // 5 x 2 = 10: weight 11; fault: the share goes (1); -1 x 2: 1 - 2 < 0 -> 0.
    assert_eq!(
        sim.weights(),
        vec![(secs(6), 7, 11), (secs(7), 11, 1), (secs(8), 1, 0)]
    );
}

#[test]
fn ha_suspend_holds_probes_until_the_address_is_present() {
    let mut cfg = one_rs(vec![tcp(fixture::timing(10, 1, 1))]);
    cfg.virtual_servers[0].ha_suspend = true;
    let mut sim = Sim::new(&cfg, Options::default());
    sim.start();
    sim.run_until(secs(5), &mut |_, _| (Duration::ZERO, ProbeOutcome::Success));
    assert!(sim.probes.is_empty());
    assert_eq!(sim.s.poll_timeout(), Some(secs(11)));
    sim.input(
        secs(5),
        Input::Vip {
            vs: 0,
            present: true,
        },
    );
    sim.run_until(secs(25), &mut |_, _| {
        (Duration::ZERO, ProbeOutcome::Success)
    });
    assert_eq!(times(&sim), vec![11.0, 21.0]);
    sim.input(
        secs(25),
        Input::Vip {
            vs: 0,
            present: false,
        },
    );
    sim.run_until(secs(45), &mut |_, _| {
        (Duration::ZERO, ProbeOutcome::Success)
    });
    assert_eq!(times(&sim), vec![11.0, 21.0]);
}

#[test]
fn watchdog_fails_a_lost_probe_and_late_results_are_stale() {
    let mut sim = Sim::new(
        &one_rs(vec![tcp(fixture::timing(60, 1, 1))]),
        Options::default(),
    );
    sim.start();
    sim.run_until(secs(100), &mut |_, _| {
        (Duration::from_secs(1000), ProbeOutcome::Success)
    });
    // connect_timeout 5 s: watchdog 1 + 4 x 5 + 10 = 31.
    assert_eq!(sim.rs_changes(), vec![(secs(31), false)]);
    assert!(sim.events.iter().any(|(_, e)| matches!(
        e,
        Event::CheckerChanged {
            reason: Reason::Failed(Failure::Lost),
            ..
        }
    )));
    let first = sim.probes[0].1.id;
    sim.input(secs(1001), Input::Result(first, ProbeOutcome::Success));
    assert!(matches!(
        sim.events.last(),
        Some((_, Event::StaleResult { probe })) if *probe == first
    ));
    assert!(!sim.s.real_servers()[0].alive);
}

#[test]
fn not_run_reschedules_without_verdict() {
    let mut sim = Sim::new(
        &one_rs(vec![tcp(fixture::timing(10, 1, 1))]),
        Options::default(),
    );
    sim.start();
    sim.run_until(secs(25), &mut |_, _| {
        (Duration::ZERO, ProbeOutcome::NotRun("no socket".into()))
    });
    assert_eq!(times(&sim), vec![1.0, 11.0, 21.0]);
    assert!(sim.rs_changes().is_empty());
    assert!(sim.s.checkers()[0].up && !sim.s.checkers()[0].has_run);
}

#[test]
fn udp_require_reply() {
    let u = UdpCheck {
        payload: Some(b"ping".to_vec()),
        require_reply: Some(vec![ka_model::lvs::MaskedByte {
            value: b'p',
            mask: 0xff,
        }]),
        min_reply_length: 1,
        max_reply_length: 16,
    };
    let c = fixture::checker(
        CheckerKind::Udp(u),
        fixture::timing(10, 0, 1),
        (ip(RS), Some(53)),
    );
    let mut sim = Sim::new(&one_rs(vec![c]), Options::default());
    sim.start();
    let mut f = |now: Instant, p: &Probe| {
        assert_eq!(
            p.kind,
            ProbeKind::Udp {
                payload: Some(b"ping".to_vec()),
                reply_required: true
            }
        );
        let out = if now < secs(10) {
            ProbeOutcome::UdpReply(b"pong".to_vec())
        } else if now < secs(20) {
            ProbeOutcome::UdpReply(b"nope".to_vec())
        } else if now < secs(30) {
            ProbeOutcome::UdpReply(b"pong".to_vec())
        } else {
            ProbeOutcome::Success // no reply although one is required
        };
        (Duration::ZERO, out)
    };
    sim.run_until(secs(35), &mut f);
    assert_eq!(
        sim.rs_changes(),
        vec![(secs(11), false), (secs(21), true), (secs(31), false)]
    );
}

#[test]
fn probes_carry_resolved_parameters() {
    let mut c = tcp(fixture::timing(10, 1, 1));
    let conn = c.connection.as_mut().unwrap();
    conn.ip = ip("203.0.113.5");
    conn.port = Some(8080);
    conn.bind_ip = Some(ip("192.0.2.200"));
    conn.bind_port = Some(40000);
    conn.bind_if = Some("eth0".into());
    conn.fwmark = Some(7);
    c.timing.connect_timeout = Duration::from_secs(2);
    let dns = fixture::checker(
        CheckerKind::Dns(ka_model::lvs::DnsCheck {
            qtype: ka_model::lvs::DnsType::Aaaa,
            name: "example.com".into(),
        }),
        fixture::timing(10, 3, 10),
        (ip(RS), Some(53)),
    );
    let smtp = fixture::checker(
        CheckerKind::Smtp(ka_model::lvs::SmtpCheck {
            helo_name: "me.example".into(),
        }),
        fixture::timing(10, 1, 1),
        (ip(RS), Some(25)),
    );
    let mut sim = Sim::new(&one_rs(vec![c, dns, smtp]), Options::default());
    sim.start();
    sim.run_until(secs(1), &mut |_, _| (Duration::ZERO, ProbeOutcome::Success));
    assert_eq!(sim.probes.len(), 3);
    let p = &sim.probes[0].1;
    let conn = p.connection.as_ref().unwrap();
    assert_eq!(conn.ip, ip("203.0.113.5"));
    assert_eq!(conn.port, Some(8080));
    assert_eq!(conn.bind_ip, Some(ip("192.0.2.200")));
    assert_eq!(conn.bind_port, Some(40000));
    assert_eq!(conn.bind_if.as_deref(), Some("eth0"));
    assert_eq!(conn.fwmark, Some(7));
    assert_eq!(p.timeout, Duration::from_secs(2));
    assert_eq!(p.checker.index, 0);
    assert_eq!(
        sim.probes[1].1.kind,
        ProbeKind::Dns {
            qtype: ka_model::lvs::DnsType::Aaaa,
            name: "example.com".into()
        }
    );
    assert_eq!(
        sim.probes[2].1.kind,
        ProbeKind::Smtp {
            helo_name: "me.example".into()
        }
    );
    // Probes serialise (for logs and recordings).
    let json = serde_json::to_string(&sim.probes[0].1).unwrap();
    assert!(json.contains("\"fwmark\":7"), "{json}");
}

#[test]
fn bfd_events_drive_the_checker() {
    let c = fixture::checker(
        CheckerKind::Bfd(ka_model::lvs::BfdCheck { name: "b1".into() }),
        fixture::timing(10, 1, 1),
        (ip(RS), None),
    );
    let mut sim = Sim::new(&one_rs(vec![c]), Options::default());
    sim.start();
    let bfd = |up| Input::Bfd {
        name: "b1".into(),
        up,
    };
    sim.input(secs(2), bfd(true));
    sim.input(secs(3), bfd(false));
    sim.input(secs(4), bfd(false));
    sim.input(secs(5), bfd(true));
    assert_eq!(sim.rs_changes(), vec![(secs(3), false), (secs(5), true)]);
}

#[test]
fn replay_of_recorded_inputs_is_identical() {
    let mut cfg = many(30, Duration::from_secs(20));
    cfg.virtual_servers[0].real_servers[3].checkers[0]
        .timing
        .alpha = true;
    let opts = Options {
        seed: 42,
        rs_init_notifies: true,
    };
    let mut sim = Sim::new(&cfg, opts);
    sim.start();
    let mut f = |now: Instant, p: &Probe| {
        let port = p.connection.as_ref().and_then(|c| c.port).unwrap_or(0);
        let bad = port.is_multiple_of(3) && now > secs(40) && now < secs(150);
        if bad {
            (
                Duration::from_millis(u64::from(port % 7) * 100),
                ProbeOutcome::Failed(Failure::Timeout),
            )
        } else {
            (Duration::from_millis(3), ProbeOutcome::Success)
        }
    };
    sim.run_until(secs(300), &mut f);
    assert!(sim.rs_changes().len() >= 20);
    // Round-trip every input through JSON and replay into a fresh engine.
    let json = serde_json::to_string(&sim.inputs).unwrap();
    let inputs: Vec<(Instant, Input)> = serde_json::from_str(&json).unwrap();
    let mut s2 = ka_check::Scheduler::new(&cfg, opts).unwrap();
    let mut events = Vec::new();
    let mut probes = Vec::new();
    for (t, i) in inputs {
        s2.handle(t, i);
        while let Some(e) = s2.poll_event() {
            events.push((t, e));
        }
        while let Some(p) = s2.poll_probe() {
            probes.push(p);
        }
    }
    assert_eq!(events, sim.events);
    assert_eq!(
        probes,
        sim.probes
            .iter()
            .map(|(_, p)| p.clone())
            .collect::<Vec<_>>()
    );
}

#[test]
fn start_events_are_not_lost_with_many_real_servers() {
    let mut cfg = many(3000, Duration::ZERO);
    for rs in &mut cfg.virtual_servers[0].real_servers {
        rs.notify_up = Some(fixture::script(&["/bin/up"]));
    }
    let mut s = ka_check::Scheduler::new(
        &cfg,
        Options {
            seed: 0,
            rs_init_notifies: true,
        },
    )
    .unwrap();
    s.start(Instant::ZERO);
    let mut n = 0;
    while let Some(e) = s.poll_event() {
        assert!(!matches!(e, Event::EventsLost { .. }));
        n += 1;
    }
    assert_eq!(n, 6000);
}

#[test]
fn ssl_probe_fields_and_virtualhost_precedence() {
    let mut u1 = fixture::url("/one");
    u1.virtualhost = Some("url.example".into());
    let u2 = fixture::url("/two");
    let mut h = fixture::http(vec![u1, u2]);
    h.virtualhost = Some("checker.example".into());
    h.enable_sni = true;
    h.protocol = ka_model::lvs::HttpProtocol::V1_1;
    let c = fixture::checker(
        CheckerKind::Ssl(h),
        fixture::timing(10, 1, 1),
        (ip(RS), Some(443)),
    );
    let mut sim = Sim::new(&one_rs(vec![c]), Options::default());
    sim.start();
    sim.run_until(secs(12), &mut |_, _| {
        (
            Duration::ZERO,
            ProbeOutcome::Http(HttpResponse {
                status_code: 200,
                body: vec![],
            }),
        )
    });
    let hp: Vec<ka_check::HttpProbe> = sim
        .probes
        .iter()
        .map(|(_, p)| match &p.kind {
            ProbeKind::Http(h) => h.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(hp.len(), 2);
    assert!(hp.iter().all(|h| h.tls && h.enable_sni));
    assert_eq!(hp[0].protocol, ka_model::lvs::HttpProtocol::V1_1);
    assert_eq!((hp[0].path.as_str(), hp[0].url_index), ("/one", 0));
    assert_eq!(hp[0].virtualhost.as_deref(), Some("url.example"));
    assert_eq!((hp[1].path.as_str(), hp[1].url_index), ("/two", 1));
    assert_eq!(hp[1].virtualhost.as_deref(), Some("checker.example"));
    assert_eq!(sim.probes[0].1.connection.as_ref().unwrap().port, Some(443));
}
