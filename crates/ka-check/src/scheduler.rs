//! The [`Scheduler`]: every checker of every real server, its timers and verdicts.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::time::Duration;

use std::net::IpAddr;

use ka_model::lvs::{
    CheckTiming, CheckerKind, Connection, DnsType, HttpCheck, LvsConfig, MiscCheck, Protocol,
    Script, UdpCheck, VsAddress,
};
use serde::{Deserialize, Serialize};

use crate::event::{Event, Reason};
use crate::probe::{
    CheckerId, Failure, HttpProbe, Probe, ProbeId, ProbeKind, ProbeOutcome, RealServerId,
};
use crate::rng::SplitMix64;
use crate::time::{micros, Instant};
use crate::verdict::{
    file_status, misc_verdict, udp_reply_ok, MiscVerdict, UrlMatcher, FILE_FAULT,
};

/// keepalived's `BOOTSTRAP_DELAY`: the first check runs 1 s after start, plus the warmup.
pub const BOOTSTRAP_DELAY: Duration = Duration::from_secs(1);
/// Bound of the event queue beyond what start and shutdown need (two events per real
/// server each are added to it); older events are dropped and counted beyond it. The
/// probe queue needs no bound of its own: a checker has at most one probe queued or in
/// flight.
pub const MAX_EVENTS: usize = 4_096;
/// Most checkers one engine accepts.
pub const MAX_CHECKERS: usize = 1 << 20;
/// The watchdog on a probe fires `WATCHDOG_FACTOR x timeout + WATCHDOG_GRACE` after it
/// was handed out, if the I/O layer never answered; the probe then counts as failed
/// ([`Failure::Lost`]). The I/O layer is expected to answer within its own timeouts.
pub const WATCHDOG_FACTOR: u32 = 4;
/// See [`WATCHDOG_FACTOR`].
pub const WATCHDOG_GRACE: Duration = Duration::from_secs(10);

/// Configuration the engine cannot run with (ka-config normally rules these out).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A network checker without connection parameters.
    #[error("{checker}: {block} has no connection parameters")]
    MissingConnection {
        /// The checker.
        checker: CheckerId,
        /// Its block name.
        block: &'static str,
    },
    /// An HTTP_GET / SSL_GET without any url.
    #[error("{checker}: HTTP/SSL checker has no url")]
    NoUrl {
        /// The checker.
        checker: CheckerId,
    },
    /// More than [`MAX_CHECKERS`] checkers.
    #[error("too many checkers (at most {MAX_CHECKERS})")]
    TooMany,
}

/// Engine options besides the LVS configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Options {
    /// Seed of the warmup delays (keepalived uses `random()`); the same seed gives the
    /// same schedule.
    pub seed: u64,
    /// `rs_init_notifies`: run `notify_up` for real servers that start alive.
    pub rs_init_notifies: bool,
}

/// Every input as one serialisable value, for recording and replaying a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// [`Scheduler::start`].
    Start,
    /// [`Scheduler::shutdown`].
    Shutdown,
    /// [`Scheduler::handle_timeout`].
    Timeout,
    /// [`Scheduler::handle_result`].
    Result(ProbeId, ProbeOutcome),
    /// [`Scheduler::handle_file_value`].
    FileValue {
        /// The `track_file` name.
        name: String,
        /// The value read.
        value: i64,
    },
    /// [`Scheduler::handle_bfd`].
    Bfd {
        /// The `bfd_instance` name.
        name: String,
        /// The session state.
        up: bool,
    },
    /// [`Scheduler::handle_vip`].
    Vip {
        /// Index of the virtual server.
        vs: u32,
        /// Whether its address is configured on this host.
        present: bool,
    },
}

/// A real server's state as the engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RealServerStatus {
    /// The real server.
    pub id: RealServerId,
    /// In the pool (every checker passes).
    pub alive: bool,
    /// Its IPVS weight (configured weight adjusted by `misc_dynamic` and FILE_CHECK).
    pub weight: u32,
    /// How many of its checkers fail.
    pub failed_checkers: u32,
}

/// A checker's state as the engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckerStatus {
    /// The checker.
    pub id: CheckerId,
    /// Its verdict.
    pub up: bool,
    /// Whether it has produced a first verdict.
    pub has_run: bool,
    /// Failed attempts in the current retry series.
    pub retry_it: u32,
    /// `false` while `ha_suspend` holds it (the virtual server's address is absent).
    pub enabled: bool,
    /// When it next probes (`None`: in flight, passive, or stopped).
    pub next_at: Option<Instant>,
    /// The probe in flight, if any.
    pub in_flight: Option<ProbeId>,
}

#[derive(Debug, Clone)]
enum Kind {
    Tcp,
    Http {
        tls: bool,
        check: HttpCheck,
        urls: Vec<UrlMatcher>,
    },
    Smtp {
        helo_name: String,
    },
    Dns {
        qtype: DnsType,
        name: String,
    },
    Udp(UdpCheck),
    Ping,
    Misc(MiscCheck),
    File {
        name: String,
        weight: i32,
        reverse: bool,
    },
    Bfd {
        name: String,
    },
}

impl Kind {
    fn probes(&self) -> bool {
        !matches!(self, Kind::File { .. } | Kind::Bfd { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not scheduled (before start, passive checkers, after shutdown).
    Idle,
    /// Next probe at this time.
    Waiting(Instant),
    /// A probe is out.
    InFlight {
        probe: ProbeId,
        started: Instant,
        watchdog: Instant,
    },
}

#[derive(Debug, Clone)]
struct Chk {
    id: CheckerId,
    rs: usize,
    vs: usize,
    timing: CheckTiming,
    connection: Option<Connection>,
    kind: Kind,
    // keepalived's checker_t runtime fields.
    is_up: bool,
    has_run: bool,
    retry_it: u32,
    enabled: bool,
    phase: Phase,
    // HTTP: the URL iterator and the URL that failed.
    url_it: usize,
    failed_url: Option<usize>,
    // MISC: the last exit status acted on (misc_dynamic).
    last_exit_code: u8,
    // FILE: the last value and this checker's share of the weight.
    file_value: i64,
    cur_weight: i64,
}

#[derive(Debug, Clone)]
struct Rs {
    id: RealServerId,
    /// Identity across reloads: the virtual service and the real server's address.
    key: RsKey,
    alive: bool,
    num_failed: u32,
    iweight: i64,
    effective_weight: i64,
    notify_up: Option<Script>,
    notify_down: Option<Script>,
    omega: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Configured,
    Running,
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HttpStep {
    /// The URL passed (`REGISTER_CHECKER_NEW`).
    New,
    /// The URL failed while the checker is up or has not run (`REGISTER_CHECKER_RETRY`).
    Retry,
    /// The URL failed while the checker is known down (`REGISTER_CHECKER_FAILED`).
    Failed,
}

/// The sans-IO checker engine (see the crate docs for the model and the call order).
///
/// `Clone` gives an exact copy, so a simulator can fork a run.
#[derive(Debug, Clone)]
pub struct Scheduler {
    rss: Vec<Rs>,
    chks: Vec<Chk>,
    vip_present: Vec<bool>,
    vs_ha_suspend: Vec<bool>,
    in_flight: BTreeMap<ProbeId, usize>,
    /// Every pending deadline (no scan of every checker per wake-up).
    timers: Timers,
    next_probe: u64,
    rng: SplitMix64,
    opts: Options,
    run: Run,
    probes: VecDeque<Probe>,
    events: VecDeque<Event>,
    event_cap: usize,
    events_lost: u64,
    warnings: Vec<String>,
}

/// The checkers' pending deadlines, as `(deadline, checker index)`.
#[derive(Debug, Clone, Default)]
struct Timers {
    /// `Phase::Waiting` deadlines, earliest on top. An entry is current while its checker's
    /// phase still carries that deadline; stale ones (the checker moved on) are dropped when
    /// they reach the top.
    waits: BinaryHeap<Reverse<(Instant, usize)>>,
    /// The watchdogs of the probes in flight, exactly: an entry leaves when its probe's
    /// result comes. (In the heap, each would stay, stale, until its time: with
    /// connect_timeout 3 s, 22 s later, so 220,000 entries at 10,000 probes/s.)
    watchdogs: BTreeSet<(Instant, usize)>,
}

impl Timers {
    /// The earliest entry (possibly a stale one; see [`Scheduler::tidy`]).
    fn first(&self) -> Option<Instant> {
        let wait = self.waits.peek().map(|Reverse((t, _))| *t);
        let watchdog = self.watchdogs.first().map(|(t, _)| *t);
        match (wait, watchdog) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes every entry at or before `now`, stale ones included.
    fn take_due(&mut self, now: Instant, due: &mut Vec<(Instant, usize)>) {
        while let Some(Reverse(e)) = self.waits.peek().copied() {
            if e.0 > now {
                break;
            }
            self.waits.pop();
            due.push(e);
        }
        while let Some(e) = self.watchdogs.first().copied() {
            if e.0 > now {
                break;
            }
            self.watchdogs.pop_first();
            due.push(e);
        }
    }

    fn clear(&mut self) {
        self.waits.clear();
        self.watchdogs.clear();
    }
}

/// Sets checker `n`'s phase and keeps the timers in step: its deadline, if any, recorded,
/// and the watchdog of a probe it had in flight dropped.
fn arm(timers: &mut Timers, n: usize, phase: Phase, c: &mut Chk) {
    if let Phase::InFlight { watchdog, .. } = c.phase {
        timers.watchdogs.remove(&(watchdog, n));
    }
    match phase {
        Phase::Idle => {}
        Phase::Waiting(t) => timers.waits.push(Reverse((t, n))),
        Phase::InFlight { watchdog, .. } => {
            timers.watchdogs.insert((watchdog, n));
        }
    }
    c.phase = phase;
}

/// What identifies a real server across reloads: its virtual service and address.
type RsKey = (VsAddress, Option<Protocol>, IpAddr, Option<u16>);

fn u32_of(n: usize) -> Result<u32, ConfigError> {
    u32::try_from(n).map_err(|_| ConfigError::TooMany)
}

/// keepalived's `real_weight`: the effective weight clamped to what IPVS takes.
fn real_weight(w: i64) -> u32 {
    u32::try_from(w.clamp(0, i64::from(i32::MAX))).unwrap_or(0)
}

impl Scheduler {
    /// Builds the engine from the validated LVS configuration (keepalived 2.2.7's defaults
    /// and inheritance already applied by ka-config). Nothing runs before
    /// [`Scheduler::start`].
    pub fn new(lvs: &LvsConfig, opts: Options) -> Result<Self, ConfigError> {
        let mut rss = Vec::new();
        let mut chks = Vec::new();
        let mut warnings = Vec::new();
        let mut vs_ha_suspend = Vec::new();
        for (vi, vs) in lvs.virtual_servers.iter().enumerate() {
            vs_ha_suspend.push(vs.ha_suspend);
            for (ri, rs) in vs.real_servers.iter().enumerate() {
                let id = RealServerId {
                    vs: u32_of(vi)?,
                    rs: u32_of(ri)?,
                };
                let rs_index = rss.len();
                let iweight = i64::from(rs.weight.get());
                rss.push(Rs {
                    id,
                    key: (vs.address.clone(), vs.protocol, rs.addr, rs.port),
                    alive: false,
                    num_failed: 0,
                    iweight,
                    effective_weight: iweight,
                    notify_up: rs.notify_up.clone(),
                    notify_down: rs.notify_down.clone(),
                    omega: vs.omega,
                });
                for (ci, c) in rs.checkers.iter().enumerate() {
                    if chks.len() >= MAX_CHECKERS {
                        return Err(ConfigError::TooMany);
                    }
                    let cid = CheckerId {
                        rs: id,
                        index: u32_of(ci)?,
                    };
                    let kind = match &c.kind {
                        CheckerKind::Tcp => Kind::Tcp,
                        CheckerKind::Http(h) | CheckerKind::Ssl(h) => {
                            if h.urls.is_empty() {
                                return Err(ConfigError::NoUrl { checker: cid });
                            }
                            let urls = h
                                .urls
                                .iter()
                                .map(|u| {
                                    let (m, w) = UrlMatcher::new(u);
                                    if let Some(w) = w {
                                        warnings.push(format!("{cid}: {w}"));
                                    }
                                    m
                                })
                                .collect();
                            Kind::Http {
                                tls: matches!(c.kind, CheckerKind::Ssl(_)),
                                check: h.clone(),
                                urls,
                            }
                        }
                        CheckerKind::Smtp(s) => Kind::Smtp {
                            helo_name: s.helo_name.clone(),
                        },
                        CheckerKind::Dns(d) => Kind::Dns {
                            qtype: d.qtype,
                            name: d.name.clone(),
                        },
                        CheckerKind::Udp(u) => Kind::Udp(u.clone()),
                        CheckerKind::Ping => Kind::Ping,
                        CheckerKind::File(f) => Kind::File {
                            name: f.track_file.clone(),
                            weight: f.weight,
                            reverse: f.reverse,
                        },
                        CheckerKind::Misc(m) => Kind::Misc(m.clone()),
                        CheckerKind::Bfd(b) => Kind::Bfd {
                            name: b.name.clone(),
                        },
                    };
                    let network =
                        !matches!(kind, Kind::Misc(_) | Kind::File { .. } | Kind::Bfd { .. });
                    if network && c.connection.is_none() {
                        return Err(ConfigError::MissingConnection {
                            checker: cid,
                            block: c.kind.block_name(),
                        });
                    }
                    chks.push(Chk {
                        id: cid,
                        rs: rs_index,
                        vs: vi,
                        timing: c.timing,
                        connection: c.connection.clone(),
                        kind,
                        is_up: true,
                        has_run: false,
                        retry_it: 0,
                        enabled: true,
                        phase: Phase::Idle,
                        url_it: 0,
                        failed_url: None,
                        last_exit_code: 0,
                        file_value: 0,
                        cur_weight: 0,
                    });
                }
            }
        }
        let event_cap = MAX_EVENTS.saturating_add(rss.len().saturating_mul(4));
        Ok(Self {
            rss,
            chks,
            vip_present: vec![false; vs_ha_suspend.len()],
            vs_ha_suspend,
            in_flight: BTreeMap::new(),
            timers: Timers::default(),
            next_probe: 0,
            rng: SplitMix64::new(opts.seed),
            opts,
            run: Run::Configured,
            probes: VecDeque::new(),
            events: VecDeque::new(),
            event_cap,
            events_lost: 0,
            warnings,
        })
    }

    /// Builds the engine from a whole configuration (takes `rs_init_notifies` from
    /// `global_defs`).
    pub fn from_config(cfg: &ka_model::config::Config, seed: u64) -> Result<Self, ConfigError> {
        Self::new(
            &cfg.lvs,
            Options {
                seed,
                rs_init_notifies: cfg.vrrp.global.rs_init_notifies,
            },
        )
    }

    // ----------------------------------------------------------------- accessors

    /// Messages about configuration the engine had to drop (regexes it cannot compile).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Every real server, in configuration order.
    pub fn real_servers(&self) -> Vec<RealServerStatus> {
        self.rss.iter().map(Self::rs_status).collect()
    }

    /// One real server.
    pub fn real_server(&self, id: RealServerId) -> Option<RealServerStatus> {
        self.rss.iter().find(|r| r.id == id).map(Self::rs_status)
    }

    fn rs_status(r: &Rs) -> RealServerStatus {
        RealServerStatus {
            id: r.id,
            alive: r.alive,
            weight: real_weight(r.effective_weight),
            failed_checkers: r.num_failed,
        }
    }

    /// Every checker, in configuration order.
    pub fn checkers(&self) -> Vec<CheckerStatus> {
        self.chks.iter().map(Self::chk_status).collect()
    }

    /// One checker.
    pub fn checker(&self, id: CheckerId) -> Option<CheckerStatus> {
        self.chks.iter().find(|c| c.id == id).map(Self::chk_status)
    }

    fn chk_status(c: &Chk) -> CheckerStatus {
        CheckerStatus {
            id: c.id,
            up: c.is_up,
            has_run: c.has_run,
            retry_it: c.retry_it,
            enabled: c.enabled,
            next_at: match c.phase {
                Phase::Waiting(t) => Some(t),
                _ => None,
            },
            in_flight: match c.phase {
                Phase::InFlight { probe, .. } => Some(probe),
                _ => None,
            },
        }
    }

    // ----------------------------------------------------------------- outputs

    /// The next probe to run.
    pub fn poll_probe(&mut self) -> Option<Probe> {
        self.probes.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events_lost > 0 {
            let count = std::mem::take(&mut self.events_lost);
            return Some(Event::EventsLost { count });
        }
        self.events.pop_front()
    }

    /// The earliest deadline (a probe to start or a watchdog); call
    /// [`Scheduler::handle_timeout`] once it has passed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.run != Run::Running {
            return None;
        }
        let t = self.timers.first();
        debug_assert_eq!(
            t,
            self.chks.iter().filter_map(Self::deadline).min(),
            "timer heap out of step with the checkers"
        );
        t
    }

    /// Drops stale entries from the top of the timer heap (call after every input), so
    /// that the earliest entry is [`Scheduler::poll_timeout`]'s answer.
    fn tidy(&mut self) {
        while let Some(Reverse((t, n))) = self.timers.waits.peek() {
            if self.chks.get(*n).and_then(Self::deadline) == Some(*t) {
                break;
            }
            self.timers.waits.pop();
        }
    }

    fn deadline(c: &Chk) -> Option<Instant> {
        match c.phase {
            Phase::Idle => None,
            Phase::Waiting(t) => Some(t),
            Phase::InFlight { watchdog, .. } => Some(watchdog),
        }
    }

    fn emit(&mut self, e: Event) {
        if self.events.len() >= self.event_cap {
            self.events.pop_front();
            self.events_lost += 1;
        }
        self.events.push_back(e);
    }

    // ----------------------------------------------------------------- inputs

    /// Feeds one recorded input.
    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::Start => self.start(now),
            Input::Shutdown => self.shutdown(now),
            Input::Timeout => self.handle_timeout(now),
            Input::Result(id, outcome) => self.handle_result(now, id, outcome),
            Input::FileValue { name, value } => self.handle_file_value(now, &name, value),
            Input::Bfd { name, up } => self.handle_bfd(now, &name, up),
            Input::Vip { vs, present } => self.handle_vip(now, vs, present),
        }
    }

    /// Starts checking (keepalived's `validate_check_config`, `init_services` and
    /// `register_checkers_thread`):
    ///
    /// * `alpha` checkers start failed, others pass; a FILE_CHECK starts from the value
    ///   given to [`Scheduler::handle_file_value`] before `start` (0 if none);
    /// * a real server starts alive when none of its checkers fails; one
    ///   [`Event::Initial`] per real server reports it (and `notify_up` runs for alive
    ///   ones with `rs_init_notifies`);
    /// * the first verdict of a checker needs a single failure (`retry_it = retry`);
    /// * each probing checker first runs after `BOOTSTRAP_DELAY` (1 s) plus a random
    ///   delay in `0..=warmup` drawn from the seed, in configuration order.
    pub fn start(&mut self, now: Instant) {
        if self.run != Run::Configured {
            return;
        }
        for n in 0..self.chks.len() {
            let Some(c) = self.chks.get_mut(n) else {
                continue;
            };
            match &c.kind {
                Kind::File {
                    weight, reverse, ..
                } => {
                    let st = file_status(c.file_value, *weight, *reverse);
                    c.is_up = st != FILE_FAULT;
                    c.cur_weight = if *weight != 0 && c.is_up {
                        i64::from(st)
                    } else {
                        0
                    };
                    c.has_run = true;
                }
                Kind::Bfd { .. } => {
                    c.is_up = !c.timing.alpha;
                }
                _ => {
                    c.is_up = !c.timing.alpha;
                    c.retry_it = c.timing.retry;
                    let suspended = self.vs_ha_suspend.get(c.vs).copied().unwrap_or(false);
                    c.enabled = !suspended || self.vip_present.get(c.vs).copied().unwrap_or(false);
                    let warmup = self.rng.up_to(micros(c.timing.warmup));
                    arm(
                        &mut self.timers,
                        n,
                        Phase::Waiting((now + BOOTSTRAP_DELAY).add_micros(warmup)),
                        c,
                    );
                }
            }
            let (rs, up, w) = (c.rs, c.is_up, c.cur_weight);
            if let Some(r) = self.rss.get_mut(rs) {
                if !up {
                    r.num_failed += 1;
                }
                r.effective_weight = r.effective_weight.saturating_add(w);
            }
        }
        for n in 0..self.rss.len() {
            let Some(r) = self.rss.get_mut(n) else {
                continue;
            };
            r.alive = r.num_failed == 0;
            let ev = Event::Initial {
                rs: r.id,
                alive: r.alive,
                weight: real_weight(r.effective_weight),
            };
            let notify = r.alive && self.opts.rs_init_notifies;
            self.emit(ev);
            if notify {
                self.notify(n, false);
            }
        }
        self.run = Run::Running;
        self.tidy();
    }

    /// Stops: every alive real server leaves the pool ([`Event::RealServerChanged`] with
    /// [`Reason::Shutdown`]); with `omega` its `notify_down` runs (keepalived's
    /// `clear_services`). Probes still queued are dropped and results still to come are
    /// ignored.
    pub fn shutdown(&mut self, _now: Instant) {
        if self.run != Run::Running {
            self.run = Run::Stopped;
            return;
        }
        self.run = Run::Stopped;
        self.probes.clear();
        self.in_flight.clear();
        for c in &mut self.chks {
            c.phase = Phase::Idle;
        }
        self.timers.clear();
        for n in 0..self.rss.len() {
            let Some(r) = self.rss.get_mut(n) else {
                continue;
            };
            if !r.alive {
                continue;
            }
            r.alive = false;
            let (id, omega) = (r.id, r.omega);
            self.emit(Event::RealServerChanged {
                rs: id,
                alive: false,
                checker: None,
                reason: Reason::Shutdown,
            });
            if omega {
                self.notify(n, true);
            }
        }
    }

    /// Fires every deadline at or before `now`: hands out probes (or, for a checker held
    /// by `ha_suspend`, just re-arms it `delay_loop` later) and fails probes whose
    /// watchdog expired.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.run != Run::Running {
            return;
        }
        // fast_recovery may re-arm a checker at `now`; a few passes settle that.
        for _ in 0..4 {
            let mut due: Vec<(Instant, usize)> = Vec::new();
            self.timers.take_due(now, &mut due);
            due.retain(|&(t, n)| self.chks.get(n).and_then(Self::deadline) == Some(t));
            if due.is_empty() {
                break;
            }
            // In (deadline, index) order; the same entry may have been pushed twice.
            due.sort_unstable();
            due.dedup();
            for (_, n) in due {
                self.fire(n, now);
            }
        }
        self.tidy();
    }

    fn fire(&mut self, n: usize, now: Instant) {
        let Some(c) = self.chks.get_mut(n) else {
            return;
        };
        match c.phase {
            Phase::Waiting(t) if t <= now => {
                if c.enabled {
                    self.issue(n, now);
                } else {
                    arm(
                        &mut self.timers,
                        n,
                        Phase::Waiting(now + c.timing.delay_loop.max(Duration::from_micros(1))),
                        c,
                    );
                }
            }
            Phase::InFlight {
                probe,
                started,
                watchdog,
            } if watchdog <= now => {
                self.in_flight.remove(&probe);
                arm(&mut self.timers, n, Phase::Idle, c);
                self.process(n, now, started, ProbeOutcome::Failed(Failure::Lost));
            }
            _ => {}
        }
    }

    fn issue(&mut self, n: usize, now: Instant) {
        let Some(c) = self.chks.get_mut(n) else {
            return;
        };
        let (kind, timeout) = match &c.kind {
            Kind::Tcp => (ProbeKind::Tcp, c.timing.connect_timeout),
            Kind::Http { tls, check, urls } => {
                let Some(url) = check.urls.get(c.url_it) else {
                    c.url_it = 0;
                    arm(
                        &mut self.timers,
                        n,
                        Phase::Waiting(now + c.timing.delay_loop),
                        c,
                    );
                    return;
                };
                let body_needed = urls.get(c.url_it).is_some_and(UrlMatcher::body_needed);
                (
                    ProbeKind::Http(HttpProbe {
                        tls: *tls,
                        protocol: check.protocol,
                        enable_sni: check.enable_sni,
                        virtualhost: url
                            .virtualhost
                            .clone()
                            .or_else(|| check.virtualhost.clone()),
                        path: url.path.clone(),
                        url_index: u32::try_from(c.url_it).unwrap_or(u32::MAX),
                        body_needed,
                    }),
                    c.timing.connect_timeout,
                )
            }
            Kind::Smtp { helo_name } => (
                ProbeKind::Smtp {
                    helo_name: helo_name.clone(),
                },
                c.timing.connect_timeout,
            ),
            Kind::Dns { qtype, name } => (
                ProbeKind::Dns {
                    qtype: *qtype,
                    name: name.clone(),
                },
                c.timing.connect_timeout,
            ),
            Kind::Udp(u) => (
                ProbeKind::Udp {
                    payload: u.payload.clone(),
                    reply_required: u.require_reply.is_some(),
                },
                c.timing.connect_timeout,
            ),
            Kind::Ping => (ProbeKind::Ping, c.timing.connect_timeout),
            Kind::Misc(m) => (
                ProbeKind::Misc {
                    script: m.script.clone(),
                    dynamic: m.dynamic,
                },
                m.timeout,
            ),
            Kind::File { .. } | Kind::Bfd { .. } => {
                arm(&mut self.timers, n, Phase::Idle, c);
                return;
            }
        };
        let id = ProbeId(self.next_probe);
        self.next_probe += 1;
        let watchdog = now
            + timeout
                .saturating_mul(WATCHDOG_FACTOR)
                .saturating_add(WATCHDOG_GRACE);
        arm(
            &mut self.timers,
            n,
            Phase::InFlight {
                probe: id,
                started: now,
                watchdog,
            },
            c,
        );
        self.in_flight.insert(id, n);
        self.probes.push_back(Probe {
            id,
            checker: c.id,
            timeout,
            connection: c.connection.clone(),
            kind,
        });
    }

    /// The result of a probe. A result for a probe that is not in flight is ignored
    /// ([`Event::StaleResult`]).
    pub fn handle_result(&mut self, now: Instant, id: ProbeId, outcome: ProbeOutcome) {
        if self.run != Run::Running {
            self.emit(Event::StaleResult { probe: id });
            return;
        }
        let Some(n) = self.in_flight.remove(&id) else {
            self.emit(Event::StaleResult { probe: id });
            return;
        };
        let Some(c) = self.chks.get_mut(n) else {
            return;
        };
        let started = match c.phase {
            Phase::InFlight { started, .. } => started,
            _ => now,
        };
        arm(&mut self.timers, n, Phase::Idle, c);
        self.process(n, now, started, outcome);
        self.tidy();
    }

    fn process(&mut self, n: usize, now: Instant, started: Instant, outcome: ProbeOutcome) {
        let Some(c) = self.chks.get_mut(n) else {
            return;
        };
        if let ProbeOutcome::NotRun(_) = outcome {
            // keepalived: "... Rescheduling." after delay_loop, no state change.
            arm(
                &mut self.timers,
                n,
                Phase::Waiting(now + c.timing.delay_loop),
                c,
            );
            return;
        }
        match &c.kind {
            Kind::Http { urls, .. } => {
                let res = match outcome {
                    ProbeOutcome::Http(resp) => match urls.get(c.url_it) {
                        Some(m) => m.evaluate(&resp),
                        None => Err(Failure::WrongOutcome),
                    },
                    ProbeOutcome::Failed(f) => Err(f.bounded()),
                    _ => Err(Failure::WrongOutcome),
                };
                self.http_epilog(n, now, res);
            }
            Kind::Misc(m) => {
                let v = match outcome {
                    ProbeOutcome::Exit(e) => misc_verdict(e, m.dynamic),
                    ProbeOutcome::Failed(f) => MiscVerdict::Killed(f.bounded()),
                    _ => MiscVerdict::Killed(Failure::WrongOutcome),
                };
                self.misc_epilog(n, now, started, v);
            }
            Kind::Udp(u) => {
                let res = match outcome {
                    ProbeOutcome::UdpReply(b) if udp_reply_ok(u, &b) => Ok(()),
                    ProbeOutcome::UdpReply(_) => Err(Failure::UdpReply),
                    ProbeOutcome::Success if u.require_reply.is_none() => Ok(()),
                    ProbeOutcome::Success => Err(Failure::UdpReply),
                    ProbeOutcome::Failed(f) => Err(f.bounded()),
                    _ => Err(Failure::WrongOutcome),
                };
                self.generic_epilog(n, now, res);
            }
            Kind::Tcp | Kind::Smtp { .. } | Kind::Dns { .. } | Kind::Ping => {
                let res = match outcome {
                    ProbeOutcome::Success => Ok(()),
                    ProbeOutcome::Failed(f) => Err(f.bounded()),
                    _ => Err(Failure::WrongOutcome),
                };
                self.generic_epilog(n, now, res);
            }
            Kind::File { .. } | Kind::Bfd { .. } => {}
        }
    }

    /// keepalived 2.2.7's `tcp_epilog` / `udp_epilog` / `icmp_epilog` / `dns_final` /
    /// `smtp_final`: a success resets the retry count and, if the checker was down (or
    /// this is its first verdict), brings it up. A failure while up is retried after
    /// `delay_before_retry` until `retry` retries have failed too (retry + 1 attempts),
    /// then the checker goes down; while down, failures are not retried. The next run
    /// is `delay_loop` after the result (or `delay_before_retry` while retrying).
    fn generic_epilog(&mut self, n: usize, now: Instant, res: Result<(), Failure>) {
        let Some(c) = self.chks.get_mut(n) else {
            return;
        };
        let mut delay = c.timing.delay_loop;
        let mut verdict = None;
        let mut retry_event = None;
        if res.is_ok() || ((c.is_up || !c.has_run) && c.retry_it >= c.timing.retry) {
            c.retry_it = 0;
            match &res {
                Ok(()) if !c.is_up || !c.has_run => verdict = Some((true, Reason::Success)),
                Err(f) if c.is_up || !c.has_run => {
                    verdict = Some((false, Reason::Failed(f.clone())));
                }
                _ => {}
            }
        } else if c.is_up {
            delay = c.timing.delay_before_retry;
            c.retry_it += 1;
            if let Err(f) = &res {
                retry_event = Some(Event::ProbeFailed {
                    checker: c.id,
                    failure: f.clone(),
                    attempt: c.retry_it,
                    of: c.timing.retry.saturating_add(1),
                });
            }
        }
        arm(&mut self.timers, n, Phase::Waiting(now + delay), c);
        if let Some(ev) = retry_event {
            self.emit(ev);
        }
        if let Some((alive, reason)) = verdict {
            self.update_checker(n, alive, reason);
        }
        if let Some(c) = self.chks.get_mut(n) {
            c.has_run = true;
        }
    }

    /// keepalived 2.2.7's `misc_check_child_thread`: exit 0 (or 2..=255 with
    /// `misc_dynamic`) is a success; with `misc_dynamic` a new exit status sets the
    /// weight to `status - 2` (0 restores the configured weight). Failures while up are
    /// retried; the next run is `delay_loop` (or `delay_before_retry` while retrying)
    /// after the script *started*, at the earliest 1 us from now.
    fn misc_epilog(&mut self, n: usize, now: Instant, started: Instant, v: MiscVerdict) {
        let Some(c) = self.chks.get_mut(n) else {
            return;
        };
        let mut verdict = None;
        let mut weight = None;
        let mut retry_event = None;
        match v {
            MiscVerdict::Success { status } => {
                if status != c.last_exit_code {
                    weight = Some(status);
                    c.last_exit_code = status;
                }
                if !c.is_up || !c.has_run {
                    verdict = Some((true, Reason::Success));
                }
                c.retry_it = 0;
            }
            MiscVerdict::FailedStatus(_) | MiscVerdict::Killed(_) => {
                let exit_status = match &v {
                    MiscVerdict::FailedStatus(s) => Some(*s),
                    _ => None,
                };
                let failure = match v {
                    MiscVerdict::FailedStatus(s) => Failure::ExitStatus(s),
                    MiscVerdict::Killed(f) => f,
                    MiscVerdict::Success { .. } => Failure::WrongOutcome,
                };
                if c.is_up || !c.has_run {
                    if c.retry_it < c.timing.retry {
                        c.retry_it += 1;
                        retry_event = Some(Event::ProbeFailed {
                            checker: c.id,
                            failure,
                            attempt: c.retry_it,
                            of: c.timing.retry.saturating_add(1),
                        });
                    } else {
                        c.retry_it = 0;
                        if let Some(s) = exit_status {
                            c.last_exit_code = s;
                        }
                        verdict = Some((false, Reason::Failed(failure)));
                    }
                }
            }
        }
        let d = if c.retry_it > 0 {
            c.timing.delay_before_retry
        } else {
            c.timing.delay_loop
        };
        let next = started + d;
        arm(
            &mut self.timers,
            n,
            Phase::Waiting(if next > now { next } else { now.add_micros(1) }),
            c,
        );
        let (rs, id) = (c.rs, c.id);
        if let Some(ev) = retry_event {
            self.emit(ev);
        }
        if let Some(status) = weight {
            let w = match self.rss.get(rs) {
                Some(r) if status < 2 => r.iweight,
                _ => i64::from(status) - 2,
            };
            self.set_weight(rs, w, id);
        }
        if let Some((alive, reason)) = verdict {
            self.update_checker(n, alive, reason);
        }
        if let Some(c) = self.chks.get_mut(n) {
            c.has_run = true;
        }
    }

    /// keepalived 2.2.7's HTTP_GET / SSL_GET `epilog` and `timeout_epilog`. One URL is
    /// fetched per run: a pass moves to the next URL (`delay_loop` later); after the
    /// last one the checker is up. A failure while up (or before the first verdict) is
    /// retried on the same URL after `delay_before_retry`; after `retry` failed retries
    /// the checker goes down, remembers the failed URL and probes only it, every
    /// `max(delay_before_retry, delay_loop)`. Once it passes, every URL is checked
    /// again from the first. `fast_recovery` runs the next check at once while the
    /// checker is down with no known failed URL, or before its first verdict.
    fn http_epilog(&mut self, n: usize, now: Instant, res: Result<(), Failure>) {
        let Some(c) = self.chks.get_mut(n) else {
            return;
        };
        let step = match &res {
            Ok(()) => HttpStep::New,
            Err(_) if c.is_up || !c.has_run => {
                c.has_run = true;
                HttpStep::Retry
            }
            Err(_) => HttpStep::Failed,
        };
        let (n_urls, fast_recovery) = match &c.kind {
            Kind::Http { urls, check, .. } => (urls.len(), check.fast_recovery),
            _ => (1, false),
        };
        let mut url_next = Some(c.url_it);
        match step {
            HttpStep::New => {
                url_next = (c.url_it + 1 < n_urls).then_some(c.url_it + 1);
                c.retry_it = 0;
            }
            HttpStep::Retry => c.retry_it = c.retry_it.saturating_add(1),
            HttpStep::Failed => {}
        }
        let mut verdict = None;
        let mut retry_event = None;
        if step == HttpStep::New && url_next.is_none() && c.failed_url.is_none() {
            // Every URL passed.
            if !c.is_up || !c.has_run {
                verdict = Some((true, Reason::Success));
            }
            url_next = Some(0);
            c.retry_it = 0;
        } else if step == HttpStep::Retry && c.retry_it > c.timing.retry {
            if c.is_up || !c.has_run {
                if let Err(f) = &res {
                    verdict = Some((false, Reason::Failed(f.clone())));
                }
            }
            c.failed_url = url_next;
        } else if step == HttpStep::New && c.failed_url.is_some() {
            // The failed URL passes again: check them all from the first.
            c.failed_url = None;
            url_next = Some(0);
            c.retry_it = 0;
        } else if step == HttpStep::Retry {
            if let Err(f) = &res {
                retry_event = Some(Event::ProbeFailed {
                    checker: c.id,
                    failure: f.clone(),
                    attempt: c.retry_it,
                    of: c.timing.retry.saturating_add(1),
                });
            }
        }
        c.url_it = url_next.unwrap_or(0);
        let has_run = c.has_run || verdict.is_some();
        let mut delay = match step {
            HttpStep::New => {
                if !has_run {
                    // Before the first verdict one failure is enough.
                    c.retry_it = c.timing.retry;
                }
                c.timing.delay_loop
            }
            _ if c.failed_url.is_some() => c.timing.delay_before_retry.max(c.timing.delay_loop),
            _ => c.timing.delay_before_retry,
        };
        let failed_url = c.failed_url.is_some();
        if let Some(ev) = retry_event {
            self.emit(ev);
        }
        if let Some((alive, reason)) = verdict {
            self.update_checker(n, alive, reason);
        }
        let Some(c) = self.chks.get_mut(n) else {
            return;
        };
        c.has_run = has_run;
        if fast_recovery && (!c.has_run || (!c.is_up && !failed_url)) {
            delay = Duration::ZERO;
        }
        arm(&mut self.timers, n, Phase::Waiting(now + delay), c);
    }

    // ----------------------------------------------------------------- verdicts

    /// keepalived's `update_svr_checker_state`: a checker's new verdict, and the real
    /// server's when it is the first checker to fail or the last to recover.
    fn update_checker(&mut self, n: usize, alive: bool, reason: Reason) {
        let Some(c) = self.chks.get_mut(n) else {
            return;
        };
        let rs = c.rs;
        if c.is_up == alive {
            if !c.has_run {
                let notify = c.timing.alpha || !alive;
                c.has_run = true;
                if notify {
                    self.notify(rs, false);
                }
            }
            return;
        }
        c.has_run = true;
        c.is_up = alive;
        let id = c.id;
        let Some(r) = self.rss.get_mut(rs) else {
            return;
        };
        let perform = if alive {
            r.num_failed <= 1
        } else {
            r.num_failed == 0
        };
        // set_checker_state
        if alive {
            r.num_failed = r.num_failed.saturating_sub(1);
        } else {
            r.num_failed += 1;
        }
        self.emit(Event::CheckerChanged {
            checker: id,
            up: alive,
            reason: reason.clone(),
        });
        if perform {
            self.perform_svr_state(rs, alive, id, reason);
        }
    }

    /// keepalived's `perform_svr_state`: the real server joins or leaves the pool.
    fn perform_svr_state(&mut self, rs: usize, alive: bool, checker: CheckerId, reason: Reason) {
        let Some(r) = self.rss.get_mut(rs) else {
            return;
        };
        if r.alive == alive {
            return;
        }
        r.alive = alive;
        let id = r.id;
        self.emit(Event::RealServerChanged {
            rs: id,
            alive,
            checker: Some(checker),
            reason,
        });
        self.notify(rs, false);
    }

    /// keepalived's `do_rs_notifies` for the real server's current state.
    fn notify(&mut self, rs: usize, stopping: bool) {
        let Some(r) = self.rss.get(rs) else {
            return;
        };
        let ev = Event::Notify {
            rs: r.id,
            up: r.alive,
            script: if r.alive {
                r.notify_up.clone()
            } else {
                r.notify_down.clone()
            },
            stopping,
        };
        self.emit(ev);
    }

    /// keepalived's `update_svr_wgt`: store the effective weight; report a change of
    /// the IPVS weight (clamped to 0..=2147483647).
    fn set_weight(&mut self, rs: usize, weight: i64, checker: CheckerId) {
        let Some(r) = self.rss.get_mut(rs) else {
            return;
        };
        let old = real_weight(r.effective_weight);
        r.effective_weight = weight;
        let new = real_weight(weight);
        let id = r.id;
        if old != new {
            self.emit(Event::WeightChanged {
                rs: id,
                old,
                new,
                checker,
            });
        }
    }

    /// A tracked file (`track_file NAME`) now holds `value` (the I/O layer reads it on
    /// inotify events; a missing file is 0; see [`crate::verdict::parse_track_file`]).
    /// Before [`Scheduler::start`] this sets the initial value.
    ///
    /// keepalived's `process_update_checker_track_file_status`: a fault takes the
    /// checker down and removes its weight share; leaving the fault adds the share and
    /// brings it up; otherwise the weight moves by the difference.
    pub fn handle_file_value(&mut self, _now: Instant, name: &str, value: i64) {
        for n in 0..self.chks.len() {
            let Some(c) = self.chks.get_mut(n) else {
                continue;
            };
            let Kind::File {
                name: fname,
                weight,
                reverse,
            } = &c.kind
            else {
                continue;
            };
            if fname != name {
                continue;
            }
            let (weight, reverse) = (*weight, *reverse);
            match self.run {
                Run::Configured => {
                    c.file_value = value;
                    continue;
                }
                Run::Stopped => return,
                Run::Running => {}
            }
            if value == c.file_value {
                continue;
            }
            let prev = file_status(c.file_value, weight, reverse);
            let new = file_status(value, weight, reverse);
            c.file_value = value;
            if prev == new {
                continue;
            }
            let (rs, id) = (c.rs, c.id);
            let reason = Reason::File { value };
            if new == FILE_FAULT {
                let share = std::mem::take(&mut c.cur_weight);
                self.update_checker(n, false, reason);
                let w = self
                    .rss
                    .get(rs)
                    .map_or(0, |r| r.effective_weight.saturating_sub(share));
                self.set_weight(rs, w, id);
            } else if prev == FILE_FAULT {
                c.cur_weight = i64::from(new);
                let w = self
                    .rss
                    .get(rs)
                    .map_or(0, |r| r.effective_weight.saturating_add(i64::from(new)));
                self.set_weight(rs, w, id);
                self.update_checker(n, true, reason);
            } else {
                c.cur_weight = i64::from(new);
                let w = self.rss.get(rs).map_or(0, |r| {
                    r.effective_weight
                        .saturating_add(i64::from(new))
                        .saturating_sub(i64::from(prev))
                });
                self.set_weight(rs, w, id);
            }
        }
    }

    /// A BFD session (`bfd_instance NAME`) changed state (keepalived's
    /// `bfd_check_handle_event`: ignored when it matches the checker's verdict).
    pub fn handle_bfd(&mut self, _now: Instant, name: &str, up: bool) {
        if self.run != Run::Running {
            return;
        }
        for n in 0..self.chks.len() {
            let Some(c) = self.chks.get(n) else {
                continue;
            };
            let Kind::Bfd { name: bname } = &c.kind else {
                continue;
            };
            if bname != name || (up == c.is_up && c.has_run) {
                continue;
            }
            self.update_checker(n, up, Reason::Bfd { up });
        }
    }

    /// The address of virtual server `vs` appeared on or left this host. Checkers of a
    /// virtual server with `ha_suspend` only probe while it is present (keepalived's
    /// `update_checker_activity`); before [`Scheduler::start`] this sets the initial
    /// presence (absent by default).
    pub fn handle_vip(&mut self, _now: Instant, vs: u32, present: bool) {
        let vs = vs as usize;
        let Some(p) = self.vip_present.get_mut(vs) else {
            return;
        };
        *p = present;
        if !self.vs_ha_suspend.get(vs).copied().unwrap_or(false) || self.run != Run::Running {
            return;
        }
        for c in &mut self.chks {
            if c.vs == vs && c.kind.probes() {
                c.enabled = present;
            }
        }
    }

    /// Replaces the configuration (SIGHUP), carrying state over as keepalived 2.2.7's
    /// `clear_diff_services` / `migrate_checkers` do:
    ///
    /// * A real server of the same virtual service and address keeps its pool state; a
    ///   weight set by `misc_dynamic` is kept, otherwise the new configured weight (plus
    ///   FILE_CHECK shares) applies (keepalived copies the old effective weight, which
    ///   ignores a changed `weight`). Each new checker equal to one of its old checkers (same
    ///   kind, connection and parameters) inherits its verdict, whether it has run, and
    ///   its retry count (capped to one failure short of the new `retry`). If a carried
    ///   checker fails (or nothing ran on a server out of the pool), new `alpha`
    ///   checkers start failed and every new checker needs one failure for its first
    ///   verdict. A server whose checkers all pass joins the pool; one with a failing
    ///   checker leaves it.
    /// * A real server that disappears leaves the pool with its `notify_down`.
    /// * New real servers start as at [`Scheduler::start`], except that their first
    ///   verdict needs `retry + 1` failures (keepalived only shortens it at startup).
    /// * Every checker restarts its schedule (`BOOTSTRAP_DELAY` + warmup); probes in
    ///   flight are abandoned (their results become [`Event::StaleResult`]).
    ///
    /// Events: removed servers that were alive leave the pool
    /// ([`Event::RealServerChanged`] and [`Event::Notify`] with their old ids), then
    /// [`Event::Reloaded`], one [`Event::Initial`] per real server of the new
    /// configuration (the authoritative new state), then the notifies of carried servers
    /// whose state changed (and of new alive ones with `rs_init_notifies`). (A reload is not an
    /// [`Input`]: ka-model's configuration is not deserialisable.) Before
    /// [`Scheduler::start`] this only replaces the configuration (initial file values
    /// and VIP presence are kept).
    pub fn reload(&mut self, now: Instant, lvs: &LvsConfig) -> Result<(), ConfigError> {
        let mut new = Scheduler::new(lvs, self.opts)?;
        new.next_probe = self.next_probe;
        new.rng = self.rng.clone();
        // Tracked file values and VIP presence are facts about the host, not the config.
        let mut file_values: std::collections::HashMap<&str, i64> = Default::default();
        for o in &self.chks {
            if let Kind::File { name, .. } = &o.kind {
                file_values.entry(name.as_str()).or_insert(o.file_value);
            }
        }
        for c in &mut new.chks {
            if let Kind::File { name, .. } = &c.kind {
                if let Some(v) = file_values.get(name.as_str()) {
                    c.file_value = *v;
                }
            }
        }
        for (vi, p) in new.vip_present.iter_mut().enumerate() {
            *p = self.vip_present.get(vi).copied().unwrap_or(false);
        }
        let old_events = std::mem::take(&mut self.events);
        if self.run != Run::Running {
            new.run = self.run;
            new.events = old_events;
            new.events_lost = self.events_lost;
            *self = new;
            return Ok(());
        }
        // Start the new engine as at startup (timers, file verdicts and shares), drop
        // what that reported, then apply the carried state.
        new.start(now);
        new.events = old_events;
        new.events_lost = self.events_lost;
        let mut carried = vec![false; self.rss.len()];
        let mut notify_after = Vec::new();
        // Indexes, so a reload of tens of thousands of real servers stays linear: old
        // real servers by key (the first of equal keys, as a search would find), and the
        // checkers of each real server, old and new.
        let mut old_by_key: std::collections::HashMap<&RsKey, usize> = Default::default();
        for (oi, o) in self.rss.iter().enumerate() {
            old_by_key.entry(&o.key).or_insert(oi);
        }
        let chks_of = |chks: &[Chk], n: usize| {
            let mut of = vec![Vec::new(); n];
            for (ci, c) in chks.iter().enumerate() {
                if let Some(v) = of.get_mut(c.rs) {
                    v.push(ci);
                }
            }
            of
        };
        let old_chks = chks_of(&self.chks, self.rss.len());
        let new_chks = chks_of(&new.chks, new.rss.len());
        let none: Vec<usize> = Vec::new();
        for ni in 0..new.rss.len() {
            let Some(key) = new.rss.get(ni).map(|r| &r.key) else {
                continue;
            };
            let mine = new_chks.get(ni).unwrap_or(&none);
            let Some(&oi) = old_by_key.get(key) else {
                // A new real server: as at start, but a first verdict needs retry + 1
                // failures (keepalived sets retry_it = retry only at startup).
                for &ci in mine {
                    if let Some(c) = new.chks.get_mut(ci).filter(|c| c.kind.probes()) {
                        c.retry_it = 0;
                    }
                }
                if new.rss.get(ni).is_some_and(|r| r.alive) && new.opts.rs_init_notifies {
                    notify_after.push(ni);
                }
                continue;
            };
            if let Some(flag) = carried.get_mut(oi) {
                *flag = true;
            }
            let Some(or) = self.rss.get(oi) else {
                continue;
            };
            let old_alive = or.alive;
            let theirs = old_chks.get(oi).unwrap_or(&none);
            let old_shares: i64 = theirs
                .iter()
                .filter_map(|&ci| self.chks.get(ci))
                .map(|c| c.cur_weight)
                .sum();
            // A weight set by misc_dynamic is kept; otherwise the new configured weight
            // (plus FILE_CHECK shares) applies.
            let dynamic_weight = (or.effective_weight != or.iweight.saturating_add(old_shares))
                .then_some(or.effective_weight);
            // A reload does not apply alpha or the one-failure start by itself.
            for &ci in mine {
                if let Some(c) = new.chks.get_mut(ci).filter(|c| c.kind.probes()) {
                    c.is_up = true;
                    c.retry_it = 0;
                }
            }
            // migrate_checkers
            let mut any_run = false;
            for &ci in mine {
                let Some(nc) = new.chks.get(ci) else {
                    continue;
                };
                if !nc.kind.probes() {
                    continue;
                }
                let Some(oc) = theirs
                    .iter()
                    .filter_map(|&oc| self.chks.get(oc))
                    .find(|oc| same_check(oc, nc))
                    .cloned()
                else {
                    continue;
                };
                let Some(nc) = new.chks.get_mut(ci) else {
                    continue;
                };
                if oc.has_run {
                    nc.is_up = oc.is_up;
                }
                nc.has_run = oc.has_run;
                if oc.retry_it > 0 && nc.timing.retry > 0 {
                    nc.retry_it = oc.retry_it.min(nc.timing.retry - 1);
                }
                nc.last_exit_code = oc.last_exit_code;
                any_run |= oc.has_run;
            }
            let failing = mine
                .iter()
                .filter_map(|&ci| new.chks.get(ci))
                .any(|c| !c.is_up);
            if failing || (!old_alive && !any_run) {
                // Set new alpha checkers down until they have run; one failure is enough.
                for &ci in mine {
                    if let Some(c) = new
                        .chks
                        .get_mut(ci)
                        .filter(|c| c.kind.probes() && !c.has_run)
                    {
                        if c.timing.alpha {
                            c.is_up = false;
                        }
                        c.retry_it = c.timing.retry;
                    }
                }
            }
            let num_failed = mine
                .iter()
                .filter_map(|&ci| new.chks.get(ci))
                .filter(|c| !c.is_up)
                .count();
            let Some(nr) = new.rss.get_mut(ni) else {
                continue;
            };
            nr.num_failed = u32::try_from(num_failed).unwrap_or(u32::MAX);
            if let Some(w) = dynamic_weight {
                nr.effective_weight = w;
            }
            let alive = num_failed == 0;
            nr.alive = alive;
            if alive != old_alive {
                notify_after.push(ni);
            }
        }
        // Removed real servers leave the pool (clear_service_rs, not stopping).
        for (oi, or) in self.rss.iter().enumerate() {
            if carried.get(oi).copied().unwrap_or(true) || !or.alive {
                continue;
            }
            new.emit(Event::RealServerChanged {
                rs: or.id,
                alive: false,
                checker: None,
                reason: Reason::Reload,
            });
            new.emit(Event::Notify {
                rs: or.id,
                up: false,
                script: or.notify_down.clone(),
                stopping: false,
            });
        }
        new.emit(Event::Reloaded);
        let initial: Vec<Event> = new
            .rss
            .iter()
            .map(|r| Event::Initial {
                rs: r.id,
                alive: r.alive,
                weight: real_weight(r.effective_weight),
            })
            .collect();
        for e in initial {
            new.emit(e);
        }
        for ni in notify_after {
            new.notify(ni, false);
        }
        *self = new;
        Ok(())
    }

    /// Probes handed out and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

/// keepalived's per-type `compare` functions: the same check against the same target
/// (source locations and timing do not matter).
fn same_check(a: &Chk, b: &Chk) -> bool {
    if a.connection != b.connection {
        return false;
    }
    match (&a.kind, &b.kind) {
        (Kind::Tcp, Kind::Tcp) | (Kind::Ping, Kind::Ping) => true,
        (
            Kind::Http {
                tls: ta, check: ca, ..
            },
            Kind::Http {
                tls: tb, check: cb, ..
            },
        ) => {
            ta == tb
                && ca.virtualhost == cb.virtualhost
                && ca.urls.len() == cb.urls.len()
                && ca.urls.iter().zip(&cb.urls).all(|(x, y)| {
                    x.path == y.path
                        && x.digest == y.digest
                        && x.status_codes == y.status_codes
                        && x.virtualhost == y.virtualhost
                        && x.regex == y.regex
                })
        }
        (Kind::Smtp { helo_name: x }, Kind::Smtp { helo_name: y }) => x == y,
        (
            Kind::Dns {
                qtype: qa,
                name: na,
            },
            Kind::Dns {
                qtype: qb,
                name: nb,
            },
        ) => qa == qb && na == nb,
        (Kind::Udp(x), Kind::Udp(y)) => x == y,
        (Kind::Misc(x), Kind::Misc(y)) => x.script == y.script,
        (Kind::File { name: x, .. }, Kind::File { name: y, .. }) => x == y,
        (Kind::Bfd { name: x }, Kind::Bfd { name: y }) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::{fixture, Input};
    use ka_model::lvs::CheckerKind;

    /// The timers hold about one entry per checker however long the engine runs: a probe's
    /// watchdog leaves with its result instead of staying until its time. (With one heap
    /// for both, 100 checkers at delay_loop 1 s and a 5 s connect_timeout held 3,100.)
    #[test]
    fn timers_do_not_pile_up() {
        let rss = (1..=100u8)
            .map(|i| {
                let ip = IpAddr::from([192, 0, 2, i]);
                let c =
                    fixture::checker(CheckerKind::Tcp, fixture::timing(1, 1, 1), (ip, Some(80)));
                fixture::real_server(ip, 80, vec![c])
            })
            .collect();
        let lvs = fixture::lvs(vec![fixture::virtual_server(
            IpAddr::from([203, 0, 113, 1]),
            80,
            rss,
        )]);
        let mut s = Scheduler::new(&lvs, Options::default()).unwrap();
        let mut now = Instant::ZERO;
        s.handle(now, Input::Start);
        let mut most = 0;
        for _ in 0..100_000 {
            let Some(t) = s.poll_timeout() else { break };
            if t > Instant::ZERO.add_micros(60_000_000) {
                break;
            }
            now = t;
            s.handle(now, Input::Timeout);
            // Every probe answered at once.
            while let Some(p) = s.poll_probe() {
                s.handle(now, Input::Result(p.id, ProbeOutcome::Success));
            }
            while s.poll_event().is_some() {}
            assert_eq!(s.timers.watchdogs.len(), s.in_flight.len());
            most = most.max(s.timers.waits.len() + s.timers.watchdogs.len());
        }
        assert!(now > Instant::ZERO.add_micros(59_000_000), "ran to {now:?}");
        assert!(most <= 200, "{most} timer entries for 100 checkers");
    }
}
