//! Trace records: kept compact while running, hashed for the determinism check, formatted
//! only when printed.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use crate::node::Role;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rec {
    /// Scenario text (first line of a trace).
    Scenario(String),
    /// Node started (first start or restart).
    Start(usize),
    /// Node crashed.
    Crash(usize),
    /// Node stopped gracefully.
    Shutdown(usize),
    /// Interface state.
    Link(usize, bool),
    /// Tracked script state.
    Track(usize, bool),
    /// Network fault started or ended.
    Net(String),
    /// Node sent an advert.
    Send {
        node: usize,
        vrid: u8,
        prio: u8,
        dst: IpAddr,
    },
    /// A packet was lost on the way.
    Drop {
        from: usize,
        to: usize,
        vrid: u8,
        prio: u8,
        why: &'static str,
    },
    /// A packet was handed to a node.
    Recv {
        node: usize,
        from: usize,
        vrid: u8,
        prio: u8,
    },
    /// A node's timer fired.
    Timer(usize),
    /// A node was woken before its deadline.
    Spurious(usize),
    /// An instance changed role.
    Role {
        node: usize,
        vrid: u8,
        role: Role,
        reason: String,
    },
    /// Other engine output.
    Note(usize, String),
    /// A failover was measured.
    Failover {
        vrid: u8,
        kind: &'static str,
        took_ns: u64,
        bound_ns: u64,
    },
    /// An invariant broke.
    Violation(String),
}

fn secs(ns: u64) -> String {
    format!(
        "{:>4}.{:06}",
        ns / 1_000_000_000,
        (ns % 1_000_000_000) / 1000
    )
}

/// Formats one record with its time.
pub fn format(at_ns: u64, r: &Rec) -> String {
    let t = secs(at_ns);
    match r {
        Rec::Scenario(s) => format!("[{t}] scenario {s}"),
        Rec::Start(n) => format!("[{t}] n{n} start"),
        Rec::Crash(n) => format!("[{t}] n{n} CRASH"),
        Rec::Shutdown(n) => format!("[{t}] n{n} shutdown"),
        Rec::Link(n, up) => format!("[{t}] n{n} link {}", if *up { "up" } else { "DOWN" }),
        Rec::Track(n, up) => format!("[{t}] n{n} track {}", if *up { "up" } else { "DOWN" }),
        Rec::Net(s) => format!("[{t}] net {s}"),
        Rec::Send {
            node,
            vrid,
            prio,
            dst,
        } => {
            format!("[{t}] n{node} send vrid {vrid} prio {prio} -> {dst}")
        }
        Rec::Drop {
            from,
            to,
            vrid,
            prio,
            why,
        } => {
            format!("[{t}] drop n{from}->n{to} vrid {vrid} prio {prio} ({why})")
        }
        Rec::Recv {
            node,
            from,
            vrid,
            prio,
        } => {
            format!("[{t}] n{node} recv vrid {vrid} prio {prio} from n{from}")
        }
        Rec::Timer(n) => format!("[{t}] n{n} timeout"),
        Rec::Spurious(n) => format!("[{t}] n{n} timeout (spurious, early)"),
        Rec::Role {
            node,
            vrid,
            role,
            reason,
        } => {
            format!("[{t}] n{node} vrid {vrid} => {role:?} ({reason})")
        }
        Rec::Note(n, s) => format!("[{t}] n{n} {s}"),
        Rec::Failover {
            vrid,
            kind,
            took_ns,
            bound_ns,
        } => format!(
            "[{t}] failover vrid {vrid} after {kind}: {:.3} ms (bound {:.3} ms)",
            *took_ns as f64 / 1e6,
            *bound_ns as f64 / 1e6
        ),
        Rec::Violation(s) => format!("[{t}] VIOLATION {s}"),
    }
}

/// The trace of one run: a running hash of every record, the last few records, and
/// (when asked) every line printed as it happens.
#[derive(Debug)]
pub struct Trace {
    hasher: std::collections::hash_map::DefaultHasher,
    tail: VecDeque<(u64, Rec)>,
    keep: usize,
    print: bool,
    count: u64,
}

impl Trace {
    /// A trace keeping the last `keep` records, printing every record when `print`.
    pub fn new(keep: usize, print: bool) -> Self {
        Self {
            // DefaultHasher::new() uses fixed keys: the hash is the same on every run.
            hasher: std::collections::hash_map::DefaultHasher::new(),
            tail: VecDeque::with_capacity(keep + 1),
            keep,
            print,
            count: 0,
        }
    }

    /// Records `r` at `at_ns`.
    pub fn push(&mut self, at_ns: u64, r: Rec) {
        at_ns.hash(&mut self.hasher);
        r.hash(&mut self.hasher);
        self.count += 1;
        if self.print {
            use std::io::Write;
            // A closed pipe (`| head`) must not abort the run.
            let _ = writeln!(std::io::stdout().lock(), "{}", format(at_ns, &r));
        }
        if self.keep > 0 {
            if self.tail.len() == self.keep {
                self.tail.pop_front();
            }
            self.tail.push_back((at_ns, r));
        }
    }

    /// Hash of everything recorded so far.
    pub fn hash(&self) -> u64 {
        self.hasher.finish()
    }

    /// Number of records.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The last records, formatted.
    pub fn tail(&self) -> Vec<String> {
        self.tail.iter().map(|(t, r)| format(*t, r)).collect()
    }
}
