//! What the engine reports.

use ka_model::lvs::Script;
use serde::Serialize;

use crate::probe::{CheckerId, Failure, ProbeId, RealServerId};

/// Why a checker or a real server changed state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A probe succeeded (for HTTP: every URL passed).
    Success,
    /// A probe failed (after `retry` more attempts when the checker was up).
    Failed(Failure),
    /// A tracked file now holds this value (FILE_CHECK).
    File {
        /// The value read.
        value: i64,
    },
    /// The BFD session went up or down (BFD_CHECK).
    Bfd {
        /// The session state.
        up: bool,
    },
    /// The checker process stops (every alive real server leaves the pool).
    Shutdown,
    /// A reload removed the real server, or carried it over into a new state.
    Reload,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Success => f.write_str("check succeeded"),
            Reason::Failed(x) => write!(f, "check failed: {x}"),
            Reason::File { value } => write!(f, "tracked file value {value}"),
            Reason::Bfd { up } => write!(f, "BFD {}", if *up { "up" } else { "down" }),
            Reason::Shutdown => f.write_str("shutting down"),
            Reason::Reload => f.write_str("configuration reloaded"),
        }
    }
}

/// An event, drained with [`crate::Scheduler::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    /// Emitted by [`crate::Scheduler::start`] for every real server: the state keepalived
    /// starts with (alive unless `alpha` or a failed FILE_CHECK, and the weight with
    /// FILE_CHECK contributions). The load balancer builds its first table from these.
    Initial {
        /// The real server.
        rs: RealServerId,
        /// Whether it starts in the pool.
        alive: bool,
        /// Its IPVS weight.
        weight: u32,
    },
    /// A checker changed verdict.
    CheckerChanged {
        /// The checker.
        checker: CheckerId,
        /// Its new verdict.
        up: bool,
        /// Why.
        reason: Reason,
    },
    /// A real server joined (all its checkers pass) or left (one fails) the pool.
    RealServerChanged {
        /// The real server.
        rs: RealServerId,
        /// Whether it is now in the pool.
        alive: bool,
        /// The checker whose verdict caused it (`None` on shutdown).
        checker: Option<CheckerId>,
        /// Why.
        reason: Reason,
    },
    /// The IPVS weight of a real server changed (`misc_dynamic`, FILE_CHECK weights).
    /// It applies whether or not the server is in the pool right now.
    WeightChanged {
        /// The real server.
        rs: RealServerId,
        /// The previous weight.
        old: u32,
        /// The new weight.
        new: u32,
        /// The checker that set it.
        checker: CheckerId,
    },
    /// keepalived's `do_rs_notifies`: run `notify_up` or `notify_down` (when configured)
    /// and write `RS <rs> <vs> UP|DOWN` to the notify FIFOs. Emitted on every real-server
    /// transition, for an `alpha` checker's first verdict, and on shutdown with `omega`.
    Notify {
        /// The real server.
        rs: RealServerId,
        /// Which state is notified.
        up: bool,
        /// The script to run, if one is configured for that state.
        script: Option<Script>,
        /// Shutting down: keepalived gives the script 1 s before killing it.
        stopping: bool,
    },
    /// A probe failed but retries remain (keepalived logs it with `log_all_failures`).
    ProbeFailed {
        /// The checker.
        checker: CheckerId,
        /// What went wrong.
        failure: Failure,
        /// Failed attempts so far in this series.
        attempt: u32,
        /// Attempts allowed before the checker fails (`retry + 1`).
        of: u32,
    },
    /// A result came for a probe that is not in flight (late, duplicate or after
    /// shutdown); it was ignored.
    StaleResult {
        /// The probe.
        probe: ProbeId,
    },
    /// [`crate::Scheduler::reload`] replaced the configuration: every [`Event::Initial`]
    /// that follows describes the new configuration's real servers (ids are positions
    /// in the new configuration).
    Reloaded,
    /// Events were dropped because nobody drained the queue.
    EventsLost {
        /// How many.
        count: u64,
    },
}
