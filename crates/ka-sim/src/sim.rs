//! The event loop, the virtual LAN and the invariant checks.
//!
//! Everything happens in simulated nanoseconds, driven by a binary heap of
//! `(time, sequence)` events, so a seed replays bit for bit.
//!
//! # The virtual LAN
//!
//! Multicast reaches every other node, unicast the node owning the destination address.
//! A healthy link delays by `base + U(0, jitter)` (20-300 us + 0-200 us) and is FIFO.
//! Faults: random loss (per sender, receiver or all), symmetric and one-way partitions,
//! extra delay with large jitter (reordering), duplication, link down/up (also bursts of
//! short flaps), crash (kill -9: no output), graceful stop (priority 0), restart (a new
//! router from the same configuration), tracked script down/up. Each node's clock is
//! `offset + t * (1 + drift)` with drift within +-500 ppm; nodes are also woken early now
//! and then (spurious `handle_timeout`).
//!
//! # Definitions
//!
//! * *eligible* (per node and VRID): alive, link up, not held in FAULT by its tracked script.
//! * *effective priority*: configured priority with track weights applied (keepalived's).
//! * *rank*: (effective priority, primary address), the RFC 5798 section 6.4.3 order.
//! * *unclean*: a loss/partition/delay fault is active or a packet slower than a healthy
//!   link is still in flight. Duplication alone is clean: a correct router ignores copies.
//! * *disturbance*: start, crash, stop, restart, link or track change, the start or end of
//!   an unclean fault, the arrival of a late packet. `D` = largest healthy delay.
//! * `MDI(p)` = 3 x advert interval + Skew_Time(p); every bound below is widened by the
//!   drift (x (1 + 1100 ppm)) and 20 us of rounding.
//!
//! # Invariants, checked before and after every event
//!
//! * `single-master`: while clean, once `MDI(lowest eligible priority) + advert interval +
//!   2D` has passed since the last disturbance, every VRID has exactly one master among
//!   its eligible nodes. (Two masters during loss or a partition are legitimate.)
//! * `election`: at that same point, no eligible node that preempts has a strictly higher
//!   effective priority than the master (with `nopreempt` a lower master may stay).
//! * `no-spurious-takeover`: a node never becomes master while another eligible node of
//!   higher rank has been master, and the network quiet (clean, no disturbance), for
//!   `MDI(node) + advert interval + D` (so its adverts reached everyone).
//! * `failover-bound`: when the only master dies (crash, link down, unweighted track
//!   failure) after a quiet settle period, a new master appears within `MDI(best
//!   remaining priority) + D`; after a graceful stop (priority 0) within
//!   `Skew_Time(best) + D` (RFC 5798 section 6.4.2). Measured and reported.
//! * `fault-silent`: an instance that is in FAULT (and was not master at the start of the
//!   input) sends no advert. `only-master-advertises`: adverts come from masters (or from
//!   an instance leaving master in that very input, e.g. its priority-0 advert).
//! * `fault-not-master`: an instance whose link or tracked script is down is not master.
//! * `sync-group` (scenarios whose two instances form a `vrrp_sync_group` with identical
//!   election parameters): after the settle time, a node is master of both or of neither.
//! * `no-spurious-stepdown`: a master never steps down to backup while it outranks every
//!   eligible node and the network has been quiet for `2D` (nothing stale in flight).
//! * `master-advertises`: a master sends an advert at least every advert interval.
//! * `vip-follows-role`: virtual addresses are installed exactly while master.
//! * `advert-storm`: at most `4n + 8` adverts per interval per destination over a whole
//!   quiet interval, 200 in any case; `runaway`: fewer than 200 000 pending events;
//!   `timer-progress`: fewer than 10 000 inputs to one node at one instant.
//! * `engine-error` / `engine-output`: the engine refused the configuration or reported an
//!   unknown VRID.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::IpAddr;
use std::rc::Rc;

use ka_wire::vrrp::VrrpPacket;

use crate::node::{LocalNanos, Node, NodeFactory, NodeSpec, Output, Role};
use crate::rng::Rng;
use crate::scenario::{FaultEvent, NetFault, Scenario, MAX_DRIFT_PPM};
use crate::trace::{Rec, Trace};

/// A deliberate bug planted by the simulator (never by editing the engine), to show
/// that the invariant checks can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sabotage {
    /// Node i sees every received advert with priority 1 (it ignores priorities).
    IgnorePriority(usize),
    /// Node i's timers fire two advertisement intervals late.
    LateTimers(usize),
    /// Node i emits an extra advert whenever it is in Fault.
    AdvertInFault(usize),
    /// Node i sees every received advert with its own interval (it never adopts the
    /// master's Master_Adver_Interval; matters with mixed intervals).
    NoIntervalAdoption(usize),
    /// Node i is never told that its link went down.
    MissLinkDown(usize),
    /// Node i sees every received advert with priority 255 (it yields to anyone).
    InflatePriority(usize),
    /// Node i's address removals are lost (it keeps its VIPs after leaving master).
    KeepVips(usize),
}

/// How to run a seed.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Run length in advertisement intervals.
    pub adv_units: u64,
    /// Print every trace line as it happens.
    pub print_trace: bool,
    /// Trace lines kept for a failure report.
    pub keep: usize,
    /// A planted bug, for testing the checks.
    pub sabotage: Option<Sabotage>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            adv_units: 300,
            print_trace: false,
            keep: 50,
            sabotage: None,
        }
    }
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Short name of the invariant.
    pub invariant: &'static str,
    /// What exactly was seen.
    pub detail: String,
    /// Simulated time.
    pub at_ns: u64,
}

/// One measured failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failover {
    /// "crash", "link down" or "shutdown".
    pub kind: &'static str,
    /// From the master's death to a new master.
    pub took_ns: u64,
    /// The RFC bound it was checked against.
    pub bound_ns: u64,
}

/// The result of one seed.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The seed.
    pub seed: u64,
    /// The scenario summary.
    pub scenario: String,
    /// Simulated time covered.
    pub sim_ns: u64,
    /// Events processed.
    pub events: u64,
    /// Failovers measured.
    pub failovers: Vec<Failover>,
    /// The first broken invariant, if any.
    pub violation: Option<Violation>,
    /// Hash of the whole trace.
    pub trace_hash: u64,
    /// The last trace lines.
    pub tail: Vec<String>,
}

#[derive(Debug)]
enum Ev {
    Start(usize),
    Deliver {
        to: usize,
        from: usize,
        dst: IpAddr,
        ttl: u8,
        pkt: Rc<VrrpPacket>,
        late: bool,
    },
    Timer {
        node: usize,
        gen: u64,
    },
    Spurious(usize),
    Fault(FaultEvent),
    End,
}

#[derive(Debug)]
struct Item {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Item {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Item {
    fn cmp(&self, o: &Self) -> Ordering {
        // Min-heap on (time, sequence).
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

struct Slot {
    spec: NodeSpec,
    node: Option<Box<dyn Node>>,
    link_up: bool,
    roles: Vec<Role>,
    role_since: Vec<u64>,
    /// The node's tracked script is up (state of the world; survives restarts).
    track_up: bool,
    /// Time of the last advert with a non-zero priority, per VRID.
    last_advert: Vec<u64>,
    /// Virtual addresses installed, per VRID.
    vip: Vec<bool>,
    /// (advert interval index, adverts sent in it), per VRID.
    sent: Vec<(u64, u32)>,
    timer_gen: u64,
    /// Steps taken at the current simulated time (livelock guard).
    steps_at: (u64, u32),
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    v: usize,
    kind: &'static str,
    start: u64,
    bound: u64,
}

/// Adverts per interval per destination that no network condition explains.
const STORM_ANY: u32 = 200;
/// Pending events beyond which a run is a packet explosion.
const MAX_QUEUE: usize = 200_000;

/// A node's clock at simulated time `sim`: `offset + sim * (1 + drift)`, saturating.
pub fn local_time(spec: &NodeSpec, sim: u64) -> LocalNanos {
    let d = i128::from(spec.drift_ppm);
    let v = i128::from(spec.clock_offset_ns) + i128::from(sim) + i128::from(sim) * d / 1_000_000;
    u64::try_from(v.max(0)).unwrap_or(u64::MAX)
}

/// The first simulated time, not before `now`, at which the node's clock reads at least
/// `local` (`u64::MAX` if never).
pub fn sim_time_of(spec: &NodeSpec, local: LocalNanos, now: u64) -> u64 {
    if local <= local_time(spec, now) {
        return now;
    }
    let rel = i128::from(local) - i128::from(spec.clock_offset_ns);
    let est = rel * 1_000_000 / (1_000_000 + i128::from(spec.drift_ppm));
    let mut t = u64::try_from(est.max(0))
        .unwrap_or(u64::MAX)
        .saturating_sub(2)
        .max(now);
    // The estimate is within a few nanoseconds; bounded walk forward.
    for _ in 0..64 {
        if local_time(spec, t) >= local {
            return t;
        }
        t = t.saturating_add(1);
    }
    u64::MAX
}

/// Margin for clock drift and rounding on a bound computed in local time.
fn with_margin(ns: u64) -> u64 {
    let ppm = 2 * MAX_DRIFT_PPM as u64 + 100;
    ns + ns * ppm / 1_000_000 + 20_000
}

struct Sim<'a> {
    sc: &'a Scenario,
    opts: &'a RunOptions,
    factory: &'a NodeFactory,
    q: BinaryHeap<Item>,
    seq: u64,
    now: u64,
    slots: Vec<Slot>,
    net_rng: Rng,
    active: Vec<(u32, NetFault)>,
    /// Active disturbing network faults plus late packets still in flight.
    unclean: usize,
    disturbed_at: u64,
    pending: Vec<Pending>,
    failovers: Vec<Failover>,
    trace: Trace,
    events: u64,
    violation: Option<Violation>,
    dmax: u64,
    out: Vec<Output>,
    /// Latest scheduled arrival per directed link (`from * n + to`).
    last_arrival: Vec<u64>,
}

impl<'a> Sim<'a> {
    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.q.push(Item {
            at,
            seq: self.seq,
            ev,
        });
    }

    /// The planted bug, once active (from a third of the run, so the first part of every
    /// run is healthy and the checks that need a quiet history can fire).
    fn sabotage(&self) -> Option<Sabotage> {
        self.opts
            .sabotage
            .filter(|_| self.now >= self.sc.duration_ns / 3)
    }

    fn rec(&mut self, r: Rec) {
        self.trace.push(self.now, r);
    }

    fn fail(&mut self, invariant: &'static str, detail: String) {
        if self.violation.is_none() {
            self.trace
                .push(self.now, Rec::Violation(format!("{invariant}: {detail}")));
            self.violation = Some(Violation {
                invariant,
                detail,
                at_ns: self.now,
            });
        }
    }

    fn local(&self, i: usize, sim: u64) -> LocalNanos {
        self.slots.get(i).map_or(sim, |s| local_time(&s.spec, sim))
    }

    /// The first simulated time at which node i's clock reads at least `local`.
    fn sim_of(&self, i: usize, local: LocalNanos) -> u64 {
        self.slots
            .get(i)
            .map_or(self.now, |s| sim_time_of(&s.spec, local, self.now))
    }

    /// Alive, link up and instance v not held in FAULT by its tracked script.
    fn eligible(&self, i: usize, v: usize) -> bool {
        self.slots.get(i).is_some_and(|s| {
            s.node.is_some()
                && s.link_up
                && !s
                    .spec
                    .instances
                    .get(v)
                    .is_some_and(|x| x.track_fault(s.track_up))
        })
    }

    /// Effective priority (tracking applied).
    fn prio(&self, i: usize, v: usize) -> u8 {
        self.slots
            .get(i)
            .and_then(|s| {
                s.spec
                    .instances
                    .get(v)
                    .map(|x| x.effective_priority(s.track_up))
            })
            .unwrap_or(0)
    }

    fn preempts(&self, i: usize, v: usize) -> bool {
        self.slots
            .get(i)
            .and_then(|s| s.spec.instances.get(v))
            .is_some_and(|x| x.preempt || x.priority == 255)
    }

    /// (priority, address): the order in which routers win an election.
    fn rank(&self, i: usize, v: usize) -> (u8, IpAddr) {
        let ip = self
            .slots
            .get(i)
            .map_or(IpAddr::from([0u8; 4]), |s| s.spec.ip);
        (self.prio(i, v), ip)
    }

    fn role(&self, i: usize, v: usize) -> Role {
        self.slots
            .get(i)
            .and_then(|s| s.roles.get(v))
            .copied()
            .unwrap_or(Role::Init)
    }

    fn n(&self) -> usize {
        self.slots.len()
    }

    fn nv(&self) -> usize {
        self.sc.vrids.len()
    }

    fn vrid(&self, v: usize) -> u8 {
        self.sc.vrids.get(v).copied().unwrap_or(0)
    }

    /// After faults heal: MDI of the slowest eligible router, one advert, two deliveries.
    fn settle_ns(&self, v: usize) -> u64 {
        let pmin = (0..self.n())
            .filter(|i| self.eligible(*i, v))
            .map(|i| self.prio(i, v))
            .min()
            .unwrap_or(1);
        // Backups may still use the largest interval (adopted or their own).
        with_margin(self.sc.mdi_ns(pmin) + self.sc.adv_ns()) + 2 * self.dmax
    }

    /// Marks a disturbance (anything that may legitimately change who is master).
    fn disturb(&mut self) {
        self.disturbed_at = self.now;
        self.pending.clear();
    }

    fn quiet_since(&self, t: u64) -> bool {
        self.unclean == 0 && self.disturbed_at <= t
    }

    // ---- invariants on the global state ----

    fn check_state(&mut self) {
        if self.violation.is_some() {
            return;
        }
        self.check_group();
        for v in 0..self.nv() {
            let vrid = self.vrid(v);
            // A router whose link is down must not stay master.
            // A router whose link is down or whose tracked script holds it in FAULT must
            // not stay master.
            for i in 0..self.n() {
                let alive = self.slots.get(i).is_some_and(|s| s.node.is_some());
                if alive && !self.eligible(i, v) && self.role(i, v) == Role::Master {
                    self.fail(
                        "fault-not-master",
                        format!(
                            "n{i} vrid {vrid} is Master while its link or tracked script is down"
                        ),
                    );
                    return;
                }
            }
            // A master keeps advertising: one advert per interval (RFC 5798 section 6.4.3).
            for i in 0..self.n() {
                if !self.eligible(i, v) || self.role(i, v) != Role::Master {
                    continue;
                }
                let (since, last) = self.slots.get(i).map_or((0, 0), |s| {
                    (
                        s.role_since.get(v).copied().unwrap_or(0),
                        s.last_advert.get(v).copied().unwrap_or(0),
                    )
                });
                let quiet_for = self.now - since.max(last);
                if quiet_for > with_margin(self.sc.node_adv_ns(i)) {
                    self.fail(
                        "master-advertises",
                        format!(
                            "n{i} vrid {vrid} is master but sent no advert for {:.3} ms",
                            quiet_for as f64 / 1e6
                        ),
                    );
                    return;
                }
            }
            // Pending failovers past their bound.
            let late: Option<Pending> = self
                .pending
                .iter()
                .find(|p| p.v == v && self.now > p.start + p.bound)
                .copied();
            if let Some(p) = late {
                self.fail(
                    "failover-bound",
                    format!(
                        "vrid {vrid}: no new master {:.3} ms after the master's {} (bound {:.3} ms)",
                        (self.now - p.start) as f64 / 1e6,
                        p.kind,
                        p.bound as f64 / 1e6
                    ),
                );
                return;
            }
            let elig: Vec<usize> = (0..self.n()).filter(|i| self.eligible(*i, v)).collect();
            if elig.is_empty() || self.unclean > 0 {
                continue;
            }
            let settle = self.settle_ns(v);
            if self.now <= self.disturbed_at + settle {
                continue;
            }
            let masters: Vec<usize> = elig
                .iter()
                .copied()
                .filter(|i| self.role(*i, v) == Role::Master)
                .collect();
            if masters.len() != 1 {
                self.fail(
                    "single-master",
                    format!(
                        "vrid {vrid}: masters {masters:?} among live routers {elig:?}, {:.3} ms after the last fault healed (bound {:.3} ms)",
                        (self.now - self.disturbed_at) as f64 / 1e6,
                        settle as f64 / 1e6
                    ),
                );
                return;
            }
            let m = masters.first().copied().unwrap_or(0);
            let pm = self.prio(m, v);
            if let Some(b) = elig
                .iter()
                .copied()
                .find(|b| self.preempts(*b, v) && self.prio(*b, v) > pm)
            {
                self.fail(
                    "election",
                    format!(
                        "vrid {vrid}: n{m} (priority {pm}) is master but n{b} has priority {} and preempts",
                        self.prio(b, v)
                    ),
                );
                return;
            }
        }
    }

    /// `sync-group`: once both instances have settled, every eligible member of a sync
    /// group is master of both instances or of neither.
    fn check_group(&mut self) {
        let grouped = self.slots.first().is_some_and(|s| s.spec.sync_group);
        if !grouped || self.nv() != 2 || self.unclean > 0 || self.violation.is_some() {
            return;
        }
        let settle = self.settle_ns(0).max(self.settle_ns(1));
        if self.now <= self.disturbed_at + settle {
            return;
        }
        for i in 0..self.n() {
            if !self.eligible(i, 0) || !self.eligible(i, 1) {
                continue;
            }
            let (a, b) = (self.role(i, 0), self.role(i, 1));
            if (a == Role::Master) != (b == Role::Master) {
                self.fail(
                    "sync-group",
                    format!(
                        "n{i}: vrid {} is {a:?} but vrid {} is {b:?} in one sync group",
                        self.vrid(0),
                        self.vrid(1)
                    ),
                );
                return;
            }
        }
    }

    /// Called when node i becomes master of instance v.
    fn on_new_master(&mut self, i: usize, v: usize) {
        let vrid = self.vrid(v);
        // Failover measurement.
        if let Some(pos) = self.pending.iter().position(|p| p.v == v) {
            let p = self.pending.remove(pos);
            let took = self.now - p.start;
            self.failovers.push(Failover {
                kind: p.kind,
                took_ns: took,
                bound_ns: p.bound,
            });
            self.rec(Rec::Failover {
                vrid,
                kind: p.kind,
                took_ns: took,
                bound_ns: p.bound,
            });
            if took > p.bound {
                self.fail(
                    "failover-bound",
                    format!(
                        "vrid {vrid}: n{i} took over {:.3} ms after the master's {} (bound {:.3} ms)",
                        took as f64 / 1e6,
                        p.kind,
                        p.bound as f64 / 1e6
                    ),
                );
                return;
            }
        }
        // No spurious take-over: a master that keeps advertising with a better rank over
        // a quiet network for a whole master-down interval is never joined or replaced.
        for m in 0..self.n() {
            if m == i || !self.eligible(m, v) || self.role(m, v) != Role::Master {
                continue;
            }
            // N's Master_Down_Interval with the master's interval, which N has adopted.
            let adv_m = self.sc.node_adv_ns(m);
            let window = with_margin(self.sc.mdi_with(self.prio(i, v), adv_m) + adv_m) + self.dmax;
            // With mixed intervals N may have adopted another (faster) master's interval
            // before this one settled as the only master: ask for a settle period more.
            let extra = if self.sc.mixed_intervals {
                self.settle_ns(v)
            } else {
                0
            };
            let Some(since) = self.now.checked_sub(window) else {
                continue;
            };
            if !self.quiet_since(since.saturating_sub(extra)) || since < extra {
                continue;
            }
            let m_since = self
                .slots
                .get(m)
                .and_then(|s| s.role_since.get(v))
                .copied()
                .unwrap_or(u64::MAX);
            if m_since <= since && self.rank(m, v) > self.rank(i, v) {
                self.fail(
                    "no-spurious-takeover",
                    format!(
                        "vrid {vrid}: n{i} (priority {}) became master while n{m} (priority {}) has been advertising as master for {:.3} ms over a quiet network",
                        self.prio(i, v),
                        self.prio(m, v),
                        (self.now - m_since) as f64 / 1e6
                    ),
                );
                return;
            }
        }
    }

    /// Called when node i goes from master to backup: only a better-ranked advert may do
    /// that (RFC 5798 section 6.4.3), so on a network quiet for two deliveries (no advert
    /// from before a priority change or crash in flight) i must not outrank everyone.
    fn on_step_down(&mut self, i: usize, v: usize) {
        let window = 2 * self.dmax + 20_000;
        let Some(since) = self.now.checked_sub(window) else {
            return;
        };
        if !self.quiet_since(since) {
            return;
        }
        let mine = self.rank(i, v);
        if (0..self.n()).all(|j| j == i || !self.eligible(j, v) || self.rank(j, v) < mine) {
            let vrid = self.vrid(v);
            self.fail(
                "no-spurious-stepdown",
                format!(
                    "n{i} vrid {vrid} (priority {}) left master although it outranks every live router",
                    self.prio(i, v)
                ),
            );
        }
    }

    /// Called before node i dies or loses its link: the failover measurements to start.
    fn on_master_loss(&self, i: usize, kind: &'static str) -> Vec<Pending> {
        let mut out = Vec::new();
        let quiet = self.unclean == 0;
        for v in 0..self.nv() {
            let losing = kind != "track fault"
                || self
                    .slots
                    .get(i)
                    .and_then(|s| s.spec.instances.get(v))
                    .is_some_and(|x| x.track_weight == Some(0));
            if !losing || self.role(i, v) != Role::Master || !self.eligible(i, v) || !quiet {
                continue;
            }
            let since = self.now.saturating_sub(self.settle_ns(v));
            if self.disturbed_at > since || self.now < self.settle_ns(v) {
                continue;
            }
            let others: Vec<usize> = (0..self.n())
                .filter(|j| *j != i && self.eligible(*j, v))
                .collect();
            if others.is_empty() || others.iter().any(|j| self.role(*j, v) == Role::Master) {
                continue;
            }
            let best = others.iter().map(|j| self.prio(*j, v)).max().unwrap_or(1);
            // The backups have adopted the dead master's interval.
            let adv = self.sc.node_adv_ns(i);
            let bound = if kind == "shutdown" {
                // RFC 5798 section 6.4.2: priority 0 sets Master_Down_Timer to Skew_Time.
                with_margin(self.sc.skew_with(best, adv)) + self.dmax
            } else {
                with_margin(self.sc.mdi_with(best, adv)) + self.dmax
            };
            out.push(Pending {
                v,
                kind,
                start: self.now,
                bound,
            });
        }
        out
    }

    // ---- driving nodes ----

    fn node_input(&mut self, i: usize, f: impl FnOnce(&mut dyn Node, LocalNanos)) {
        let local = self.local(i, self.now);
        let before: Vec<Role> = self
            .slots
            .get(i)
            .map(|s| s.roles.clone())
            .unwrap_or_default();
        {
            let Some(slot) = self.slots.get_mut(i) else {
                return;
            };
            if slot.steps_at.0 == self.now {
                slot.steps_at.1 += 1;
            } else {
                slot.steps_at = (self.now, 1);
            }
            let Some(node) = slot.node.as_mut() else {
                return;
            };
            f(node.as_mut(), local);
        }
        if self.slots.get(i).is_some_and(|s| s.steps_at.1 > 10_000) {
            self.fail(
                "timer-progress",
                format!(
                    "n{i}: more than 10000 inputs at the same instant (timeout does not advance)"
                ),
            );
            return;
        }
        self.after_input(i, &before);
    }

    fn after_input(&mut self, i: usize, before: &[Role]) {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        if let Some(node) = self.slots.get_mut(i).and_then(|s| s.node.as_mut()) {
            node.drain(&mut out);
        }
        // Role changes first.
        for o in &out {
            if let Output::Role { vrid, role, reason } = o {
                let Some(v) = self.sc.vrids.iter().position(|x| x == vrid) else {
                    self.fail(
                        "engine-output",
                        format!("n{i} reported a role for unknown vrid {vrid}"),
                    );
                    continue;
                };
                let prev = self.role(i, v);
                if let Some(s) = self.slots.get_mut(i) {
                    if let Some(r) = s.roles.get_mut(v) {
                        *r = *role;
                    }
                    if let Some(t) = s.role_since.get_mut(v) {
                        *t = self.now;
                    }
                }
                self.rec(Rec::Role {
                    node: i,
                    vrid: *vrid,
                    role: *role,
                    reason: reason.clone(),
                });
                if *role == Role::Master && prev != Role::Master {
                    self.on_new_master(i, v);
                }
                if *role == Role::Backup && prev == Role::Master {
                    self.on_step_down(i, v);
                }
            }
        }
        if let Some(Sabotage::AdvertInFault(s)) = self.sabotage() {
            if s == i && self.role(i, 0) == Role::Fault {
                if let Some(inst) = self.slots.get(i).and_then(|x| x.spec.instances.first()) {
                    let pkt = VrrpPacket {
                        version: inst.version,
                        kind: 1,
                        vrid: inst.vrid,
                        priority: inst.priority,
                        adver_int_cs: inst.adver_int_cs,
                        reserved: 0,
                        checksum: 0,
                        addrs: inst.vips.clone(),
                        auth: ka_wire::vrrp::Auth::None,
                    };
                    out.push(Output::Advert {
                        dst: crate::refnode::MCAST_V4,
                        ttl: 255,
                        pkt,
                    });
                }
            }
        }
        for o in out.drain(..) {
            match o {
                Output::Role { .. } => {}
                Output::Note(s) => self.rec(Rec::Note(i, s)),
                Output::Error(e) => self.fail("engine-error", format!("n{i}: {e}")),
                Output::Vip { vrid, add } => {
                    if !add && self.sabotage() == Some(Sabotage::KeepVips(i)) {
                        continue;
                    }
                    let v = self.sc.vrids.iter().position(|x| *x == vrid);
                    if let Some(h) =
                        v.and_then(|v| self.slots.get_mut(i).and_then(|s| s.vip.get_mut(v)))
                    {
                        *h = add;
                    }
                }
                Output::Advert { dst, ttl, pkt } => self.transmit(i, before, dst, ttl, pkt),
            }
        }
        // Addresses follow the role: installed exactly while master (checked after the
        // whole output of one input has been applied).
        for v in 0..self.nv() {
            let held = self
                .slots
                .get(i)
                .and_then(|s| s.vip.get(v))
                .copied()
                .unwrap_or(false);
            let alive = self.slots.get(i).is_some_and(|s| s.node.is_some());
            if alive && held != (self.role(i, v) == Role::Master) {
                let vrid = self.vrid(v);
                self.fail(
                    "vip-follows-role",
                    format!(
                        "n{i} vrid {vrid} is {:?} but its virtual addresses are {}",
                        self.role(i, v),
                        if held { "installed" } else { "not installed" }
                    ),
                );
            }
        }
        self.out = out;
        self.reschedule(i);
        self.check_state();
    }

    fn transmit(&mut self, i: usize, before: &[Role], dst: IpAddr, ttl: u8, pkt: VrrpPacket) {
        let Some(v) = self.sc.vrids.iter().position(|x| *x == pkt.vrid) else {
            self.fail(
                "engine-output",
                format!("n{i} sent an advert for unknown vrid {}", pkt.vrid),
            );
            return;
        };
        let was = before.get(v).copied().unwrap_or(Role::Init);
        let is = self.role(i, v);
        if is == Role::Fault && was != Role::Master {
            self.fail(
                "fault-silent",
                format!(
                    "n{i} vrid {} sent an advert (priority {}) in Fault (was {was:?})",
                    pkt.vrid, pkt.priority
                ),
            );
            return;
        }
        if was != Role::Master && is != Role::Master {
            self.fail(
                "only-master-advertises",
                format!(
                    "n{i} vrid {} sent an advert (priority {}) as {is:?} (was {was:?})",
                    pkt.vrid, pkt.priority
                ),
            );
            return;
        }
        // Bounded advert rate: one per interval, plus one answer per lower-priority advert
        // heard (keepalived), plus priority-0 answers; duplicates at most double that.
        let step = self.sc.min_adv_ns().max(1);
        let window = self.now / step;
        let limit = 4 * self.n() as u32 + 8;
        let quiet = self.unclean == 0 && self.disturbed_at < window * step;
        let peers = if self.sc.unicast {
            (self.n() as u32).saturating_sub(1).max(1)
        } else {
            1
        };
        if let Some(c) = self.slots.get_mut(i).and_then(|s| s.sent.get_mut(v)) {
            if c.0 == window {
                c.1 += 1;
            } else {
                *c = (window, 1);
            }
            // On a quiet network the limit is tight; otherwise a released burst of late
            // packets may each earn an answer, but a storm (a ping-pong at wire speed) is
            // still caught.
            if (c.1 > limit * peers && quiet) || c.1 > STORM_ANY * peers {
                let n = c.1;
                self.fail(
                    "advert-storm",
                    format!(
                        "n{i} vrid {} sent {n} adverts within one advertisement interval",
                        pkt.vrid
                    ),
                );
                return;
            }
        }
        if pkt.priority != 0 {
            let now = self.now;
            if let Some(t) = self.slots.get_mut(i).and_then(|s| s.last_advert.get_mut(v)) {
                *t = now;
            }
        }
        self.rec(Rec::Send {
            node: i,
            vrid: pkt.vrid,
            prio: pkt.priority,
            dst,
        });
        let link_up = self.slots.get(i).is_some_and(|s| s.link_up);
        let multicast = dst.is_multicast();
        let pkt = Rc::new(pkt);
        for to in 0..self.n() {
            if to == i {
                continue;
            }
            if !multicast && self.slots.get(to).map(|s| s.spec.ip) != Some(dst) {
                continue;
            }
            if !link_up {
                self.rec(Rec::Drop {
                    from: i,
                    to,
                    vrid: pkt.vrid,
                    prio: pkt.priority,
                    why: "sender link down",
                });
                continue;
            }
            if let Some(why) = self.blocked(i, to) {
                self.rec(Rec::Drop {
                    from: i,
                    to,
                    vrid: pkt.vrid,
                    prio: pkt.priority,
                    why,
                });
                continue;
            }
            // A healthy link is FIFO; only a Delay fault reorders.
            let fifo = !self
                .active
                .iter()
                .any(|(_, f)| matches!(f, NetFault::Delay { .. }));
            let mut at = self.now + self.delay(i, to);
            let last = self
                .last_arrival
                .get(i * self.slots.len() + to)
                .copied()
                .unwrap_or(0);
            if fifo {
                at = at.max(last);
            }
            // A packet slower than a healthy link is a fault still in flight: its arrival
            // counts as a disturbance even after the delay fault has ended.
            let late = at - self.now > self.dmax;
            if late {
                self.unclean += 1;
            }
            self.push(
                at,
                Ev::Deliver {
                    to,
                    from: i,
                    dst,
                    ttl,
                    pkt: Rc::clone(&pkt),
                    late,
                },
            );
            let mut newest = at.max(last);
            if let Some(p) = self.dup_permille() {
                if self.net_rng.range(0, 999) < u64::from(p) {
                    let l = self.sc.links.get(i).and_then(|r| r.get(to)).copied();
                    let d2 = l.map_or(0, |l| l.base_ns + self.net_rng.range(0, l.jitter_ns));
                    let at2 = (self.now + d2).max(at);
                    newest = newest.max(at2);
                    self.push(
                        at2,
                        Ev::Deliver {
                            to,
                            from: i,
                            dst,
                            ttl,
                            pkt: Rc::clone(&pkt),
                            late: false,
                        },
                    );
                }
            }
            let n = self.slots.len();
            if let Some(x) = self.last_arrival.get_mut(i * n + to) {
                *x = newest;
            }
        }
    }

    fn blocked(&mut self, from: usize, to: usize) -> Option<&'static str> {
        let mut loss = 0u32;
        for (_, f) in &self.active {
            match f {
                NetFault::Partition { side } => {
                    if ((side >> from) & 1) != ((side >> to) & 1) {
                        return Some("partition");
                    }
                }
                NetFault::OneWay { from: a, to: b } => {
                    if *a == from && *b == to {
                        return Some("one-way partition");
                    }
                }
                NetFault::Loss {
                    from: a,
                    to: b,
                    permille,
                } => {
                    if a.is_none_or(|a| a == from) && b.is_none_or(|b| b == to) {
                        loss = loss.max(*permille);
                    }
                }
                NetFault::Delay { .. } | NetFault::Dup { .. } => {}
            }
        }
        if loss > 0 && self.net_rng.range(0, 999) < u64::from(loss) {
            return Some("loss");
        }
        None
    }

    fn delay(&mut self, from: usize, to: usize) -> u64 {
        let l = self.sc.links.get(from).and_then(|r| r.get(to)).copied();
        let mut d = l.map_or(0, |l| l.base_ns + self.net_rng.range(0, l.jitter_ns));
        let extra: Vec<(u64, u64)> = self
            .active
            .iter()
            .filter_map(|(_, f)| match f {
                NetFault::Delay {
                    extra_ns,
                    jitter_ns,
                } => Some((*extra_ns, *jitter_ns)),
                _ => None,
            })
            .collect();
        for (e, j) in extra {
            d += e + self.net_rng.range(0, j);
        }
        d
    }

    fn dup_permille(&self) -> Option<u32> {
        self.active
            .iter()
            .filter_map(|(_, f)| match f {
                NetFault::Dup { permille } => Some(*permille),
                _ => None,
            })
            .max()
    }

    fn reschedule(&mut self, i: usize) {
        let deadline = self
            .slots
            .get_mut(i)
            .and_then(|s| s.node.as_mut())
            .and_then(|n| n.poll_timeout());
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        slot.timer_gen += 1;
        let gen = slot.timer_gen;
        if let Some(local) = deadline {
            let mut at = self.sim_of(i, local);
            if let Some(Sabotage::LateTimers(s)) = self.sabotage() {
                if s == i {
                    at += 2 * self.sc.adv_ns();
                }
            }
            // Now and then a spurious early wake-up (a daemon's timer may fire early or be
            // shared): handle_timeout before the deadline must change nothing.
            if at > self.now + 1 && self.net_rng.range(0, 99) < 3 {
                let early = self.net_rng.range(self.now + 1, at - 1);
                self.push(early, Ev::Spurious(i));
            }
            self.push(at, Ev::Timer { node: i, gen });
        }
    }

    fn start_node(&mut self, i: usize) {
        let Some(spec) = self.slots.get(i).map(|s| s.spec.clone()) else {
            return;
        };
        let node = (self.factory)(&spec);
        if let Some(s) = self.slots.get_mut(i) {
            s.node = Some(node);
            s.roles.iter_mut().for_each(|r| *r = Role::Init);
        }
        self.rec(Rec::Start(i));
        self.disturb();
        // The world's state survives a restart: report it first (the engine's call order).
        let (up, track_up) = self
            .slots
            .get(i)
            .map_or((true, true), |s| (s.link_up, s.track_up));
        if !up {
            self.node_input(i, |n, now| n.handle_link(now, false));
        }
        if !track_up {
            self.node_input(i, |n, now| n.handle_track(now, false));
        }
        self.node_input(i, |n, now| n.start(now));
    }

    fn kill(&mut self, i: usize) {
        if let Some(s) = self.slots.get_mut(i) {
            s.node = None;
            s.timer_gen += 1;
            s.roles.iter_mut().for_each(|r| *r = Role::Init);
            s.vip.iter_mut().for_each(|h| *h = false);
        }
    }

    fn fault(&mut self, f: FaultEvent) {
        match f {
            FaultEvent::Crash(i) => {
                let p = self.on_master_loss(i, "crash");
                self.rec(Rec::Crash(i));
                self.kill(i);
                self.disturb();
                self.pending = p;
            }
            FaultEvent::Shutdown(i) => {
                let p = self.on_master_loss(i, "shutdown");
                self.rec(Rec::Shutdown(i));
                self.disturb();
                self.pending = p;
                self.node_input(i, |n, now| n.shutdown(now));
                self.kill(i);
            }
            FaultEvent::Restart(i) => self.start_node(i),
            FaultEvent::Link(i, up) => {
                let p = if up {
                    Vec::new()
                } else {
                    self.on_master_loss(i, "link down")
                };
                self.rec(Rec::Link(i, up));
                if let Some(s) = self.slots.get_mut(i) {
                    s.link_up = up;
                }
                self.disturb();
                self.pending = p;
                if up || self.sabotage() != Some(Sabotage::MissLinkDown(i)) {
                    self.node_input(i, |n, now| n.handle_link(now, up));
                }
            }
            FaultEvent::Track(i, up) => {
                let p = if up {
                    Vec::new()
                } else {
                    self.on_master_loss(i, "track fault")
                };
                self.rec(Rec::Track(i, up));
                if let Some(s) = self.slots.get_mut(i) {
                    s.track_up = up;
                }
                self.disturb();
                self.pending = p;
                self.node_input(i, |n, now| n.handle_track(now, up));
            }
            FaultEvent::NetStart(id, nf) => {
                self.rec(Rec::Net(format!("start #{id} {nf:?}")));
                if nf.is_disturbance() {
                    self.unclean += 1;
                    self.disturb();
                }
                self.active.push((id, nf));
            }
            FaultEvent::NetEnd(id) => {
                if let Some(pos) = self.active.iter().position(|(x, _)| *x == id) {
                    let (_, nf) = self.active.remove(pos);
                    self.rec(Rec::Net(format!("end #{id} {nf:?}")));
                    if nf.is_disturbance() {
                        self.unclean = self.unclean.saturating_sub(1);
                        self.disturb();
                    }
                }
            }
        }
    }

    fn step(&mut self, item: Item) -> bool {
        self.now = item.at;
        self.events += 1;
        if self.q.len() > MAX_QUEUE {
            self.fail(
                "runaway",
                format!("more than {MAX_QUEUE} events pending (packet explosion)"),
            );
            return false;
        }
        self.check_state();
        match item.ev {
            Ev::End => return false,
            Ev::Start(i) => self.start_node(i),
            Ev::Fault(f) => self.fault(f),
            Ev::Spurious(node) => {
                if self.slots.get(node).is_some_and(|s| s.node.is_some()) {
                    self.rec(Rec::Spurious(node));
                    self.node_input(node, |n, now| n.handle_timeout(now));
                }
            }
            Ev::Timer { node, gen } => {
                if self
                    .slots
                    .get(node)
                    .is_some_and(|s| s.timer_gen == gen && s.node.is_some())
                {
                    self.rec(Rec::Timer(node));
                    self.node_input(node, |n, now| n.handle_timeout(now));
                }
            }
            Ev::Deliver {
                to,
                from,
                dst,
                ttl,
                pkt,
                late,
            } => {
                if late {
                    // Unhealthy until every late packet has landed.
                    self.unclean = self.unclean.saturating_sub(1);
                    self.disturb();
                }
                let (alive, up) = self
                    .slots
                    .get(to)
                    .map_or((false, false), |s| (s.node.is_some(), s.link_up));
                if !alive {
                    self.rec(Rec::Drop {
                        from,
                        to,
                        vrid: pkt.vrid,
                        prio: pkt.priority,
                        why: "receiver down",
                    });
                } else if !up {
                    self.rec(Rec::Drop {
                        from,
                        to,
                        vrid: pkt.vrid,
                        prio: pkt.priority,
                        why: "receiver link down",
                    });
                } else {
                    let src = self.slots.get(from).map_or(dst, |s| s.spec.ip);
                    self.rec(Rec::Recv {
                        node: to,
                        from,
                        vrid: pkt.vrid,
                        prio: pkt.priority,
                    });
                    let mut p = (*pkt).clone();
                    if self.sabotage() == Some(Sabotage::IgnorePriority(to)) && p.priority != 0 {
                        p.priority = 1;
                    }
                    if self.sabotage() == Some(Sabotage::InflatePriority(to)) && p.priority != 0 {
                        p.priority = 255;
                    }
                    if self.sabotage() == Some(Sabotage::NoIntervalAdoption(to)) {
                        let own = self.sc.node_adv_ns(to) / crate::scenario::CS_NS;
                        p.adver_int_cs = u16::try_from(own).unwrap_or(p.adver_int_cs);
                    }
                    self.node_input(to, |n, now| n.handle_packet(now, src, dst, ttl, &p));
                }
            }
        }
        self.violation.is_none()
    }
}

/// Runs one scenario with nodes built by `factory`.
pub fn run_scenario(sc: &Scenario, opts: &RunOptions, factory: &NodeFactory) -> RunReport {
    let nv = sc.vrids.len();
    let slots = sc
        .nodes
        .iter()
        .map(|spec| Slot {
            spec: spec.clone(),
            node: None,
            link_up: true,
            roles: vec![Role::Init; nv],
            role_since: vec![0; nv],
            track_up: true,
            last_advert: vec![0; nv],
            vip: vec![false; nv],
            sent: vec![(0, 0); nv],
            timer_gen: 0,
            steps_at: (u64::MAX, 0),
        })
        .collect();
    let mut sim = Sim {
        sc,
        opts,
        factory,
        q: BinaryHeap::new(),
        seq: 0,
        now: 0,
        slots,
        net_rng: Rng::new(sc.net_seed),
        active: Vec::new(),
        unclean: 0,
        disturbed_at: 0,
        pending: Vec::new(),
        failovers: Vec::new(),
        trace: Trace::new(
            if opts.print_trace { 0 } else { opts.keep },
            opts.print_trace,
        ),
        events: 0,
        violation: None,
        dmax: sc.max_delay_ns(),
        out: Vec::new(),
        last_arrival: vec![0; sc.nodes.len() * sc.nodes.len()],
    };
    sim.rec(Rec::Scenario(sc.summary()));
    for (i, t) in sc.start_ns.iter().enumerate() {
        sim.push(*t, Ev::Start(i));
    }
    for f in &sc.faults {
        sim.push(f.at_ns, Ev::Fault(f.event.clone()));
    }
    sim.push(sc.duration_ns, Ev::End);
    while let Some(item) = sim.q.pop() {
        if !sim.step(item) {
            break;
        }
    }
    RunReport {
        seed: sc.seed,
        scenario: sc.summary(),
        sim_ns: sim.now,
        events: sim.events,
        failovers: sim.failovers,
        violation: sim.violation,
        trace_hash: sim.trace.hash(),
        tail: sim.trace.tail(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(drift_ppm: i64, clock_offset_ns: u64) -> NodeSpec {
        NodeSpec {
            id: 0,
            ip: IpAddr::from([192, 0, 2, 10]),
            ifname: "eth0".into(),
            drift_ppm,
            clock_offset_ns,
            instances: Vec::new(),
            sync_group: false,
        }
    }

    #[test]
    fn clock_drift_and_inverse() {
        let fast = spec(500, 1_000);
        assert_eq!(local_time(&fast, 0), 1_000);
        assert_eq!(local_time(&fast, 1_000_000_000), 1_000 + 1_000_500_000);
        let slow = spec(-500, 0);
        assert_eq!(local_time(&slow, 1_000_000_000), 999_500_000);
        for s in [&fast, &slow, &spec(0, 7), &spec(123, 999_999_999_999)] {
            for target in [5u64, 1_000_000, 3_609_375_000, 1_000_000_000_000 + 17] {
                let t = sim_time_of(s, target, 0);
                assert!(local_time(s, t) >= target);
                assert!(
                    t == 0 || local_time(s, t - 1) < target,
                    "not the first instant"
                );
            }
        }
        // Deadlines in the past fire now; absurd ones never.
        assert_eq!(sim_time_of(&fast, 0, 42), 42);
        assert_eq!(sim_time_of(&slow, u64::MAX, 0), u64::MAX);
    }
}
