//! `ka-sim`: runs seeded VRRP simulations and checks their invariants.
//!
//! ```text
//! ka-sim --seeds N [--start S]      run seeds S..S+N, print a summary
//! ka-sim --seed S [--trace]         replay one seed (with every trace line)
//! options: --engine vrrp|ref  --units U (run length in advert intervals)
//!          --sabotage ignore-priority|late-timers|advert-in-fault|no-interval-adoption|
//!                     miss-link-down|keep-vips|inflate-priority
//!          (plant a bug in node 0, active from a third of the run)
//! ```
//! Exits 1 when an invariant breaks, printing the seed, the invariant and the trace tail.

use std::process::ExitCode;
use std::time::Instant;

use ka_sim::{run_seed, EngineKind, RunOptions, RunReport, Sabotage};

/// `println!` that ignores a closed pipe (`ka-sim ... | head`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

struct Args {
    start: u64,
    count: u64,
    single: bool,
    engine: EngineKind,
    opts: RunOptions,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: ka-sim (--seeds N [--start S] | --seed S [--trace]) [--engine vrrp|ref] [--units U] \
         [--sabotage ignore-priority|late-timers|advert-in-fault|no-interval-adoption|miss-link-down|keep-vips|inflate-priority]"
    );
    ExitCode::from(2)
}

fn parse() -> Option<Args> {
    let mut a = Args {
        start: 0,
        count: 100,
        single: false,
        engine: EngineKind::Vrrp,
        opts: RunOptions::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seeds" => a.count = it.next()?.parse().ok()?,
            "--start" => a.start = it.next()?.parse().ok()?,
            "--seed" => {
                a.start = it.next()?.parse().ok()?;
                a.count = 1;
                a.single = true;
            }
            "--trace" => a.opts.print_trace = true,
            "--units" => a.opts.adv_units = it.next()?.parse().ok()?,
            "--engine" => {
                a.engine = match it.next()?.as_str() {
                    "vrrp" => EngineKind::Vrrp,
                    "ref" | "reference" => EngineKind::Reference,
                    _ => return None,
                }
            }
            "--sabotage" => {
                a.opts.sabotage = Some(match it.next()?.as_str() {
                    "ignore-priority" => Sabotage::IgnorePriority(0),
                    "late-timers" => Sabotage::LateTimers(0),
                    "advert-in-fault" => Sabotage::AdvertInFault(0),
                    "no-interval-adoption" => Sabotage::NoIntervalAdoption(0),
                    "miss-link-down" => Sabotage::MissLinkDown(0),
                    "keep-vips" => Sabotage::KeepVips(0),
                    "inflate-priority" => Sabotage::InflatePriority(0),
                    _ => return None,
                })
            }
            _ => return None,
        }
    }
    Some(a)
}

fn print_failure(r: &RunReport) {
    let Some(v) = &r.violation else { return };
    say!(
        "=== seed {} FAILED: invariant {} at {:.6} s",
        r.seed,
        v.invariant,
        v.at_ns as f64 / 1e9
    );
    say!("{}", v.detail);
    say!("{}", r.scenario);
    say!("--- last {} trace lines:", r.tail.len());
    for l in &r.tail {
        say!("{l}");
    }
    say!(
        "--- replay: cargo run --release -p ka-sim -- --seed {} --trace",
        r.seed
    );
}

fn main() -> ExitCode {
    let Some(args) = parse() else { return usage() };
    let t0 = Instant::now();
    let (mut sim_ns, mut events, mut nfail) = (0u128, 0u64, 0u64);
    let mut failovers = 0usize;
    let mut worst: Option<(f64, u64, ka_sim::Failover)> = None;
    // Per kind: (count, sum of took/bound, worst (ratio, seed, failover)).
    let mut kinds: Vec<(&'static str, usize, f64, f64, u64, ka_sim::Failover)> = Vec::new();
    let mut failing: Vec<u64> = Vec::new();
    for seed in args.start..args.start.saturating_add(args.count) {
        let r = run_seed(seed, args.engine, &args.opts);
        sim_ns += u128::from(r.sim_ns);
        events += r.events;
        failovers += r.failovers.len();
        for f in &r.failovers {
            let ratio = f.took_ns as f64 / f.bound_ns.max(1) as f64;
            if worst.is_none_or(|(w, _, _)| ratio > w) {
                worst = Some((ratio, seed, *f));
            }
            match kinds.iter_mut().find(|k| k.0 == f.kind) {
                Some(k) => {
                    k.1 += 1;
                    k.2 += ratio;
                    if ratio > k.3 {
                        (k.3, k.4, k.5) = (ratio, seed, *f);
                    }
                }
                None => kinds.push((f.kind, 1, ratio, ratio, seed, *f)),
            }
        }
        if args.single {
            say!("seed {} trace hash {:016x}", seed, r.trace_hash);
        }
        if r.violation.is_some() {
            nfail += 1;
            if failing.len() < 3 {
                print_failure(&r);
            }
            failing.push(seed);
        }
    }
    say!(
        "seeds run: {} ({}..{}), failed: {}, simulated time: {:.1} s, events: {}, wall: {:.2} s",
        args.count,
        args.start,
        args.start.saturating_add(args.count),
        nfail,
        sim_ns as f64 / 1e9,
        events,
        t0.elapsed().as_secs_f64()
    );
    match worst {
        Some((ratio, seed, f)) => say!(
            "failovers measured: {failovers}; worst vs RFC bound: {:.3} ms of {:.3} ms ({:.1}%, after {}, seed {seed})",
            f.took_ns as f64 / 1e6,
            f.bound_ns as f64 / 1e6,
            ratio * 100.0,
            f.kind
        ),
        None => say!("failovers measured: 0"),
    }
    kinds.sort_by_key(|k| k.0);
    for (kind, n, sum, ratio, seed, f) in &kinds {
        say!(
            "  after {kind:<11} {n:>6}: mean {:.1}% of bound, worst {:.3} ms of {:.3} ms ({:.1}%, seed {seed})",
            100.0 * sum / *n as f64,
            f.took_ns as f64 / 1e6,
            f.bound_ns as f64 / 1e6,
            100.0 * ratio
        );
    }
    if !failing.is_empty() {
        let list: Vec<String> = failing.iter().take(50).map(u64::to_string).collect();
        say!(
            "failing seeds: {}{}",
            list.join(" "),
            if failing.len() > 50 { " ..." } else { "" }
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
