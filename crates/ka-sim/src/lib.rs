//! Seeded deterministic simulator of VRRP routers on a virtual LAN.
//!
//! Model: a [`scenario::Scenario`] is drawn from a seed (routers, priorities, timers,
//! a fault schedule); [`sim::run_scenario`] drives one [`node::Node`] per router through
//! a binary heap of `(time, sequence)` events over a virtual LAN with loss, delay,
//! jitter, duplication, partitions, link flaps, crashes, restarts and clock drift, and
//! checks the invariants after every event. The same seed gives the same trace, bit for
//! bit ([`sim::RunReport::trace_hash`]).
//!
//! Two router implementations plug in: [`engine`] (the real `ka-vrrp` engine; the only
//! module that touches it) and [`refnode`] (a small independent RFC 5798 model used to
//! validate the simulator itself).
//!
//! The invariants (single master after faults heal, no spurious take-over or step-down,
//! RFC failover bounds, silent FAULT, VIPs follow the role, sync groups, bounded advert
//! rate, ...) are defined precisely in [`sim`]. [`sim::Sabotage`] plants a bug in one node
//! through the simulator (never by editing the engine) to show that each check can fail.
//!
//! Call order: [`run_seed`] (or [`scenario::Scenario::generate`] then
//! [`sim::run_scenario`]), then read the [`sim::RunReport`]. The CLI
//! (`cargo run --release -p ka-sim -- --seeds N`, `--seed S --trace`) wraps the same.

pub mod engine;
pub mod node;
pub mod refnode;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod trace;

pub use sim::{Failover, RunOptions, RunReport, Sabotage, Violation};

/// Which router implementation to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// The real `ka-vrrp` engine.
    Vrrp,
    /// The simulator's own reference model.
    Reference,
}

/// Generates the scenario of `seed` and runs it.
pub fn run_seed(seed: u64, engine: EngineKind, opts: &RunOptions) -> RunReport {
    let sc = scenario::Scenario::generate(seed, opts.adv_units);
    match engine {
        EngineKind::Reference => sim::run_scenario(&sc, opts, &|spec: &node::NodeSpec| {
            Box::new(refnode::RefNode::new(spec)) as Box<dyn node::Node>
        }),
        EngineKind::Vrrp => sim::run_scenario(&sc, opts, &engine::factory),
    }
}
