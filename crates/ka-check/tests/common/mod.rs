//! A simulated I/O layer for the checker engine: probes answered by a closure after a
//! chosen latency, on simulated time.

// Test helpers outside #[test] functions: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::IpAddr;
use std::time::Duration;

use ka_check::{Event, Input, Instant, Options, Probe, ProbeId, ProbeOutcome, Scheduler};
use ka_model::lvs::LvsConfig;

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn secs(s: u64) -> Instant {
    Instant::from_secs(s)
}

pub fn ms(s: u64) -> Instant {
    Instant::from_millis(s)
}

/// How the simulated network answers a probe: after `latency`, with `outcome`.
pub type Responder<'a> = dyn FnMut(Instant, &Probe) -> (Duration, ProbeOutcome) + 'a;

pub struct Sim {
    pub s: Scheduler,
    pub now: Instant,
    pending: Vec<(Instant, ProbeId, ProbeOutcome)>,
    /// Every event with the time it was drained.
    pub events: Vec<(Instant, Event)>,
    /// Every probe with the time it was handed out.
    pub probes: Vec<(Instant, Probe)>,
    /// Every input given to the engine (for replay).
    pub inputs: Vec<(Instant, Input)>,
}

impl Sim {
    pub fn new(lvs: &LvsConfig, opts: Options) -> Self {
        Self {
            s: Scheduler::new(lvs, opts).unwrap(),
            now: Instant::ZERO,
            pending: Vec::new(),
            events: Vec::new(),
            probes: Vec::new(),
            inputs: Vec::new(),
        }
    }

    pub fn input(&mut self, now: Instant, input: Input) {
        self.now = now;
        self.inputs.push((now, input.clone()));
        self.s.handle(now, input);
        self.drain();
    }

    pub fn start(&mut self) {
        self.input(Instant::ZERO, Input::Start);
    }

    fn drain(&mut self) {
        while let Some(e) = self.s.poll_event() {
            self.events.push((self.now, e));
        }
    }

    /// Runs until `end` (inclusive); probes are answered by `f`.
    pub fn run_until(&mut self, end: Instant, f: &mut Responder<'_>) {
        for _ in 0..1_000_000 {
            // Hand out probes queued by the last input.
            while let Some(p) = self.s.poll_probe() {
                let (lat, out) = f(self.now, &p);
                self.pending.push((self.now + lat, p.id, out));
                self.probes.push((self.now, p));
            }
            let next_result = self.pending.iter().map(|(t, _, _)| *t).min();
            let next_timer = self.s.poll_timeout();
            let next = match (next_result, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => return,
            };
            if next > end {
                self.now = end;
                return;
            }
            if next_result == Some(next) {
                let i = self
                    .pending
                    .iter()
                    .position(|(t, _, _)| *t == next)
                    .unwrap();
                let (t, id, out) = self.pending.remove(i);
                self.input(t, Input::Result(id, out));
            } else {
                self.input(next, Input::Timeout);
            }
        }
        panic!("simulation did not settle");
    }

    /// Probe times (seconds, as f64) for one checker index of the first real server.
    pub fn probe_times(&self) -> Vec<f64> {
        self.probes
            .iter()
            .map(|(t, _)| t.as_micros() as f64 / 1e6)
            .collect()
    }

    /// `(time, alive)` of every RealServerChanged.
    pub fn rs_changes(&self) -> Vec<(Instant, bool)> {
        self.events
            .iter()
            .filter_map(|(t, e)| match e {
                Event::RealServerChanged { alive, .. } => Some((*t, *alive)),
                _ => None,
            })
            .collect()
    }

    /// `(time, up, script argv[0])` of every Notify.
    pub fn notifies(&self) -> Vec<(Instant, bool, Option<String>, bool)> {
        self.events
            .iter()
            .filter_map(|(t, e)| match e {
                Event::Notify {
                    up,
                    script,
                    stopping,
                    ..
                } => Some((
                    *t,
                    *up,
                    script.as_ref().map(|s| s.path().to_string()),
                    *stopping,
                )),
                _ => None,
            })
            .collect()
    }

    /// `(time, old, new)` of every WeightChanged.
    pub fn weights(&self) -> Vec<(Instant, u32, u32)> {
        self.events
            .iter()
            .filter_map(|(t, e)| match e {
                Event::WeightChanged { old, new, .. } => Some((*t, *old, *new)),
                _ => None,
            })
            .collect()
    }
}

/// Answers every probe at once with success before `fail_from`, then with `failure`
/// until `heal_at`, then success again.
pub fn outage(
    fail_from: Instant,
    heal_at: Instant,
    latency: Duration,
    failure: ProbeOutcome,
) -> impl FnMut(Instant, &Probe) -> (Duration, ProbeOutcome) {
    move |now, _p| {
        if now >= fail_from && now < heal_at {
            (latency, failure.clone())
        } else {
            (Duration::ZERO, ProbeOutcome::Success)
        }
    }
}
