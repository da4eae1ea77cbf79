//! Sans-IO health-checker policy with keepalived 2.2.7's semantics.
//!
//! # Model
//!
//! A [`Scheduler`] owns every checker of every real server of the LVS configuration
//! (`ka_model::lvs`, defaults and inheritance already resolved). It opens no socket,
//! runs no script, reads no clock and draws no randomness of its own: every input is a
//! plain, serialisable value with `now` ([`Instant`], microseconds since an epoch the
//! caller chooses) passed in, and every output is queued for the caller to drain.
//!
//! * It decides **when** to probe (`delay_loop`, `retry` + `delay_before_retry`,
//!   `warmup` with a seeded random draw, HTTP's one-URL-per-run walk, `fast_recovery`,
//!   `ha_suspend`) and **what** to probe: a [`Probe`] carries the checker kind with
//!   every parameter resolved (address/port, bind address/port/interface, fwmark,
//!   timeout, URL path and virtual host, SMTP HELO name, DNS type/name, UDP payload,
//!   script command line and user, ...).
//! * It decides **what a result means** ([`verdict`]): HTTP status code ranges (default
//!   200-299), MD5 digest of the body, body regex with offsets; UDP `require_reply`
//!   patterns; MISC_CHECK exit codes (0 up, 1 down, 2..=255 with `misc_dynamic` up
//!   with weight `code - 2`); FILE_CHECK values times weight; BFD session states.
//! * It keeps keepalived's verdict state: a checker is up or down; a real server is in
//!   the pool exactly when none of its checkers fails; `alpha` checkers start down;
//!   `omega` runs `notify_down` on shutdown; weights change with `misc_dynamic` and
//!   FILE_CHECK.
//!
//! Timers are data: each checker holds its next deadline (or the watchdog of its probe
//! in flight) and [`Scheduler::poll_timeout`] returns the earliest.
//!
//! # Call order
//!
//! 1. [`Scheduler::new`] (or [`Scheduler::from_config`]) with the LVS configuration and
//!    [`Options`] (the warmup seed, `rs_init_notifies`).
//! 2. Optionally the initial facts: [`Scheduler::handle_file_value`] for each tracked
//!    file used by a FILE_CHECK, [`Scheduler::handle_vip`] for `ha_suspend` virtual
//!    servers whose address is present. Then [`Scheduler::start`]`(now)`; drain
//!    [`Scheduler::poll_event`] ([`Event::Initial`] per real server).
//! 3. Loop: call [`Scheduler::handle_timeout`] once [`Scheduler::poll_timeout`] has
//!    passed; run every [`Scheduler::poll_probe`] and feed its outcome back with
//!    [`Scheduler::handle_result`]; feed [`Scheduler::handle_file_value`],
//!    [`Scheduler::handle_bfd`], [`Scheduler::handle_vip`] as things happen; after each
//!    call drain [`Scheduler::poll_event`] (real-server and weight changes for the load
//!    balancer, notify scripts to run, log lines).
//! 4. On SIGHUP, [`Scheduler::reload`]`(now, &new_lvs)`: unchanged real servers and
//!    checkers keep their state; drain the events ([`Event::Reloaded`], then the new
//!    [`Event::Initial`] set).
//! 5. [`Scheduler::shutdown`]`(now)`, drain the events once more (omega notifies).
//!
//! ```
//! use ka_check::{fixture, Instant, Options, ProbeKind, ProbeOutcome, Scheduler};
//! use ka_model::lvs::CheckerKind;
//!
//! // One real server 192.0.2.10:80 with a TCP_CHECK: delay_loop 6 s, retry 2,
//! // delay_before_retry 1 s, no warmup.
//! let rs_ip = "192.0.2.10".parse()?;
//! let tcp = fixture::checker(CheckerKind::Tcp, fixture::timing(6, 2, 1), (rs_ip, Some(80)));
//! let rs = fixture::real_server(rs_ip, 80, vec![tcp]);
//! let lvs = fixture::lvs(vec![fixture::virtual_server("192.0.2.1".parse()?, 80, vec![rs])]);
//!
//! let mut s = Scheduler::new(&lvs, Options::default())?;
//! s.start(Instant::ZERO);
//! // First check after BOOTSTRAP_DELAY (1 s) and a warmup of 0.
//! assert_eq!(s.poll_timeout(), Some(Instant::from_secs(1)));
//! s.handle_timeout(Instant::from_secs(1));
//! let probe = s.poll_probe().ok_or("no probe")?;
//! assert!(matches!(probe.kind, ProbeKind::Tcp));
//! s.handle_result(Instant::from_secs(1), probe.id, ProbeOutcome::Success);
//! // The next run is delay_loop after the result.
//! assert_eq!(s.poll_timeout(), Some(Instant::from_secs(7)));
//! while let Some(event) = s.poll_event() { /* Initial { alive: true, weight: 1 } */ let _ = event; }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every input can also be given as one [`Input`] value to [`Scheduler::handle`], so a
//! run can be recorded and replayed; the engine is deterministic (configuration order
//! everywhere, warmup draws from [`Options::seed`]).
//!
//! # keepalived facts reproduced
//!
//! * The first run of each checker is `BOOTSTRAP_DELAY` (1 s) + `warmup * random() /
//!   RAND_MAX` after start; `warmup` defaults to `delay_loop`.
//! * At start `retry_it = retry`, so a checker's first verdict needs one failure; later,
//!   a checker that is up goes down after `retry + 1` consecutive failures spaced by
//!   `delay_before_retry`; one success brings it back. A checker that is down is not
//!   retried (TCP/UDP/PING/DNS/SMTP/MISC: next attempt after `delay_loop`).
//! * HTTP_GET / SSL_GET fetch one URL per run, `delay_loop` apart; all URLs must pass;
//!   a checker that went down probes only the failed URL, every
//!   `max(delay_before_retry, delay_loop)`; when it passes, the walk restarts from the
//!   first URL and the checker is up only after that whole pass (so a one-URL checker
//!   needs two successes to come back, unless `fast_recovery`).
//! * MISC_CHECK reschedules from the script's start time, not its end.
//! * `update_svr_checker_state` / `perform_svr_state`: a real server leaves the pool when
//!   its first checker fails and rejoins when its last failing checker recovers; the
//!   first verdict of an `alpha` checker (or a first failure) runs the notify script of
//!   the server's current state.
//!
//! # Choices and limits
//!
//! * Every "generic" checker (TCP, UDP, PING, DNS, SMTP) uses the epilog of
//!   keepalived's 2.2-era UDP/PING/DNS sources: no retries while down. The only
//!   TCP_CHECK source found for reference is older (it retried while down, every
//!   `delay_before_retry`) and its log strings differ from the 2.2.7 binary's, so 2.2.7
//!   is believed to share the newer rule; verdicts are the same either way, only the
//!   spacing of probes to a dead server would differ.
//! * Regexes use the `regex` crate, not PCRE2: patterns with back-references or
//!   look-around are dropped with a warning ([`Scheduler::warnings`]), as keepalived
//!   drops a regex it cannot compile.
//! * IPVS itself, quorum, hysteresis, sorry servers and `inhibit_on_failure` are the
//!   load balancer's (`ka-lb`) business: it consumes [`Event::Initial`],
//!   [`Event::RealServerChanged`] and [`Event::WeightChanged`]. SMTP alerts are the
//!   daemon's (from the same events and the configuration).

pub mod event;
pub mod fixture;
pub mod probe;
mod rng;
pub mod scheduler;
pub mod time;
pub mod verdict;

pub use event::{Event, Reason};
pub use probe::{
    CheckerId, Failure, HttpProbe, HttpResponse, Probe, ProbeId, ProbeKind, ProbeOutcome,
    RealServerId, ScriptExit,
};
pub use scheduler::{
    CheckerStatus, ConfigError, Input, Options, RealServerStatus, Scheduler, BOOTSTRAP_DELAY,
    MAX_CHECKERS, MAX_EVENTS, WATCHDOG_FACTOR, WATCHDOG_GRACE,
};
pub use time::Instant;
