//! What a tracked object's raw observations mean (keepalived 2.2.7's rules), kept out of
//! the daemon: the daemon runs the scripts, reads the files and scans the processes, then
//! feeds the observations here and passes the resulting [`TrackState`] changes to
//! [`crate::Router::handle_track`].
//!
//! * [`ScriptCounter`]: `vrrp_script`'s `rise` / `fall` hysteresis and `init_fail`
//!   (keepalived's `vrrp_script_child_thread`): the counter starts at `rise - 1` (one
//!   success is enough) or at 0 with `init_fail`, and moves between 0 and
//!   `rise + fall - 1`.
//! * [`ProcessQuorum`]: `vrrp_track_process`'s `quorum` / `quorum_max` with `fork_delay`
//!   and `terminate_delay` (timers are data: [`ProcessQuorum::poll_timeout`]).
//! * [`process_matches`]: whether a running process is one a `vrrp_track_process` counts
//!   (`process`, `param_match`, `full_command`).
//! * [`neutral_state`]: the state that leaves an instance's priority unchanged, for
//!   weighted scripts that have not reported yet (keepalived's INIT state adds no weight).

use std::time::Duration;

use ka_model::vrrp::{ParamMatch, TrackProcess};
use serde::{Deserialize, Serialize};

use crate::instance::TrackState;
use crate::time::Instant;

/// The `rise` / `fall` counter of one `vrrp_script`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptCounter {
    rise: u32,
    fall: u32,
    /// keepalived's `result`: good when `>= rise`.
    result: u32,
    /// No result yet (keepalived's SCRIPT_INIT_STATE_INIT; not set with `init_fail`).
    init: bool,
}

impl ScriptCounter {
    /// A counter for `rise` / `fall` (each at least 1) and `init_fail`.
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> Self {
        let rise = rise.max(1);
        let fall = fall.max(1);
        Self {
            rise,
            fall,
            result: if init_fail { 0 } else { rise - 1 },
            init: !init_fail,
        }
    }

    /// Whether the script counts as up now (`None` before its first result, unless
    /// `init_fail`, which starts it down).
    pub fn state(&self) -> Option<bool> {
        if self.init {
            None
        } else {
            Some(self.result >= self.rise)
        }
    }

    /// Records one run (`ok`: exit status 0; a timeout, a signal or any other status is a
    /// failure). Returns the new up/down state when it changed (the first result always
    /// reports a failure; a success is reported once `rise` is reached).
    pub fn record(&mut self, ok: bool) -> Option<bool> {
        let top = self.rise + self.fall - 1;
        let was_init = std::mem::replace(&mut self.init, false);
        if ok {
            if self.result + 1 < self.rise {
                self.result += 1;
                None
            } else if self.result != top {
                let changed = self.result < self.rise;
                self.result = top;
                changed.then_some(true)
            } else {
                None
            }
        } else if self.result > self.rise {
            self.result -= 1;
            None
        } else {
            let changed = self.result == self.rise || was_init;
            self.result = 0;
            changed.then_some(false)
        }
    }
}

/// The up/down state that leaves the priority of an instance unchanged for an object with
/// this weight (a positive weight adds while up, a negative one while down; `reverse`
/// swaps the sense). Unweighted objects: up (no fault).
pub fn neutral_state(weight: i32, reverse: bool) -> TrackState {
    let up = if weight == 0 {
        true
    } else {
        (weight < 0) != reverse
    };
    if up {
        TrackState::Up
    } else {
        TrackState::Down
    }
}

/// `quorum` / `quorum_max` with `fork_delay` / `terminate_delay` of one
/// `vrrp_track_process`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessQuorum {
    quorum: u32,
    quorum_max: Option<u32>,
    fork_delay: Duration,
    terminate_delay: Duration,
    /// The state reported last (`None` before the first count).
    state: Option<bool>,
    /// A change waiting for its delay: (new state, when).
    pending: Option<(bool, Instant)>,
}

impl ProcessQuorum {
    /// From the configuration.
    pub fn new(cfg: &TrackProcess) -> Self {
        Self {
            quorum: cfg.quorum,
            quorum_max: cfg.quorum_max,
            fork_delay: cfg.fork_delay,
            terminate_delay: cfg.terminate_delay,
            state: None,
            pending: None,
        }
    }

    /// Whether `count` matching processes meet the quorum.
    pub fn meets(&self, count: u32) -> bool {
        count >= self.quorum && self.quorum_max.is_none_or(|m| count <= m)
    }

    /// The state reported last.
    pub fn state(&self) -> Option<bool> {
        self.state
    }

    /// A new count of matching processes. The first count is reported at once (the
    /// initial scan); later changes wait `fork_delay` (quorum gained) or
    /// `terminate_delay` (quorum lost), and a change that reverts within the delay is
    /// never reported. Returns the new state when it is to be reported now.
    pub fn update(&mut self, now: Instant, count: u32) -> Option<bool> {
        let ok = self.meets(count);
        match self.state {
            None => {
                self.state = Some(ok);
                Some(ok)
            }
            Some(s) if s == ok => {
                self.pending = None;
                None
            }
            Some(_) => {
                let delay = if ok {
                    self.fork_delay
                } else {
                    self.terminate_delay
                };
                if delay.is_zero() {
                    self.pending = None;
                    self.state = Some(ok);
                    return Some(ok);
                }
                match self.pending {
                    Some((p, _)) if p == ok => {}
                    _ => self.pending = Some((ok, now + delay)),
                }
                None
            }
        }
    }

    /// When [`ProcessQuorum::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.map(|(_, at)| at)
    }

    /// Reports a delayed change whose time has come.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<bool> {
        match self.pending {
            Some((s, at)) if at <= now => {
                self.pending = None;
                self.state = Some(s);
                Some(s)
            }
            _ => None,
        }
    }
}

/// Longest process name the kernel keeps (`/proc/PID/comm`, TASK_COMM_LEN - 1).
pub const COMM_LEN: usize = 15;

/// Whether a process (its `comm` and, when `full_command` or parameters are configured,
/// its command line) is one `cfg` counts. Without `full_command` the name is compared
/// with `comm` (configured names longer than 15 bytes are cut as the kernel cuts
/// `comm`); with it, with the command line's first word. Parameters match per
/// `param_match`: all exactly (`full`), the first n exactly (`partial`), or the first
/// n - 1 exactly and the last as a prefix (`initial`).
pub fn process_matches(cfg: &TrackProcess, comm: &str, cmdline: &[String]) -> bool {
    let Some((name, params)) = cfg.process.split_first() else {
        return false;
    };
    let name_ok = if cfg.full_command {
        cmdline.first().is_some_and(|a| a == name)
    } else {
        let cut = match name.char_indices().nth(COMM_LEN) {
            Some((i, _)) => name.get(..i).unwrap_or(name),
            None => name.as_str(),
        };
        comm == cut
    };
    if !name_ok {
        return false;
    }
    if params.is_empty() {
        return true;
    }
    let actual = cmdline.get(1..).unwrap_or(&[]);
    match cfg.param_match {
        ParamMatch::Full => actual == params,
        ParamMatch::Partial => actual.get(..params.len()) == Some(params),
        ParamMatch::Initial => {
            let n = params.len();
            match (actual.get(..n), params.split_last()) {
                (Some(a), Some((last, head))) => {
                    a.get(..n - 1) == Some(head)
                        && a.get(n - 1).is_some_and(|x| x.starts_with(last.as_str()))
                }
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ka_model::vrrp::Weight;

    fn run(c: &mut ScriptCounter, seq: &str) -> Vec<Option<bool>> {
        seq.chars().map(|ch| c.record(ch == '+')).collect()
    }

    #[test]
    fn rise_fall_hysteresis_like_keepalived() {
        // rise 2, fall 2: first success is enough (starts at rise - 1).
        let mut c = ScriptCounter::new(2, 2, false);
        assert_eq!(c.state(), None);
        assert_eq!(run(&mut c, "+"), [Some(true)]);
        assert_eq!(c.state(), Some(true));
        // One failure is absorbed, the second reports.
        assert_eq!(run(&mut c, "-+-"), [None, None, None]);
        // The second failure in a row reports.
        assert_eq!(run(&mut c, "-"), [Some(false)]);
        assert_eq!(run(&mut c, "--"), [None, None]);
        // Two successes needed to come back.
        assert_eq!(run(&mut c, "+"), [None]);
        assert_eq!(c.state(), Some(false));
        assert_eq!(run(&mut c, "+"), [Some(true)]);
        assert_eq!(run(&mut c, "+++"), [None, None, None]);
    }

    #[test]
    fn first_failure_reports_at_once_and_init_fail_starts_down() {
        let mut c = ScriptCounter::new(3, 3, false);
        assert_eq!(run(&mut c, "-"), [Some(false)]);
        assert_eq!(run(&mut c, "---"), [None, None, None]);
        assert_eq!(run(&mut c, "+++"), [None, None, Some(true)]);

        let mut c = ScriptCounter::new(2, 1, true);
        assert_eq!(c.state(), Some(false));
        assert_eq!(run(&mut c, "-"), [None]);
        assert_eq!(run(&mut c, "++"), [None, Some(true)]);
        assert_eq!(run(&mut c, "-"), [Some(false)]);
    }

    #[test]
    fn neutral_states() {
        assert_eq!(neutral_state(0, false), TrackState::Up);
        assert_eq!(neutral_state(10, false), TrackState::Down);
        assert_eq!(neutral_state(-10, false), TrackState::Up);
        assert_eq!(neutral_state(10, true), TrackState::Up);
        assert_eq!(neutral_state(-10, true), TrackState::Down);
    }

    fn tp(process: &[&str], pm: ParamMatch, full: bool) -> TrackProcess {
        TrackProcess {
            name: "p".into(),
            process: process.iter().map(|s| (*s).to_owned()).collect(),
            param_match: pm,
            weight: Weight {
                value: 1,
                reverse: false,
            },
            quorum: 1,
            quorum_max: None,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
            full_command: full,
        }
    }

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn matching() {
        let cmd = v(&["/usr/bin/sleep", "1000", "x"]);
        assert!(process_matches(
            &tp(&["sleep"], ParamMatch::Full, false),
            "sleep",
            &cmd
        ));
        assert!(!process_matches(
            &tp(&["slee"], ParamMatch::Full, false),
            "sleep",
            &cmd
        ));
        assert!(process_matches(
            &tp(&["/usr/bin/sleep"], ParamMatch::Full, true),
            "sleep",
            &cmd
        ));
        assert!(!process_matches(
            &tp(&["sleep"], ParamMatch::Full, true),
            "sleep",
            &cmd
        ));
        assert!(process_matches(
            &tp(&["sleep", "1000", "x"], ParamMatch::Full, false),
            "sleep",
            &cmd
        ));
        assert!(!process_matches(
            &tp(&["sleep", "1000"], ParamMatch::Full, false),
            "sleep",
            &cmd
        ));
        assert!(process_matches(
            &tp(&["sleep", "1000"], ParamMatch::Partial, false),
            "sleep",
            &cmd
        ));
        assert!(!process_matches(
            &tp(&["sleep", "100"], ParamMatch::Partial, false),
            "sleep",
            &cmd
        ));
        assert!(process_matches(
            &tp(&["sleep", "100"], ParamMatch::Initial, false),
            "sleep",
            &cmd
        ));
        assert!(!process_matches(
            &tp(&["sleep", "2"], ParamMatch::Initial, false),
            "sleep",
            &cmd
        ));
        // comm is cut to 15 bytes by the kernel.
        assert!(process_matches(
            &tp(&["a-very-long-process-name"], ParamMatch::Full, false),
            "a-very-long-pro",
            &[]
        ));
    }

    #[test]
    fn quorum_with_delays() {
        let mut cfg = tp(&["x"], ParamMatch::Full, false);
        cfg.quorum = 2;
        cfg.quorum_max = Some(3);
        cfg.fork_delay = Duration::from_secs(1);
        cfg.terminate_delay = Duration::from_secs(2);
        let mut q = ProcessQuorum::new(&cfg);
        let t = |s: u64| Instant::from_micros(s * 1_000_000);
        assert_eq!(q.update(t(0), 1), Some(false));
        assert_eq!(q.update(t(1), 2), None);
        assert_eq!(q.poll_timeout(), Some(t(2)));
        assert_eq!(q.handle_timeout(t(1)), None);
        assert_eq!(q.handle_timeout(t(2)), Some(true));
        // Over quorum_max, back within the delay: nothing reported.
        assert_eq!(q.update(t(3), 4), None);
        assert_eq!(q.update(t(4), 3), None);
        assert_eq!(q.poll_timeout(), None);
        assert_eq!(q.update(t(5), 0), None);
        assert_eq!(q.handle_timeout(t(7)), Some(false));
        assert_eq!(q.state(), Some(false));
        cfg.quorum_max = Some(0);
        cfg.quorum = 0;
        let mut q = ProcessQuorum::new(&cfg);
        assert_eq!(q.update(t(0), 0), Some(true));
    }
}
