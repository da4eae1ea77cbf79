//! The engine driven by a keepalived.conf lowered by ka-config: keepalived 2.2.7's
//! per-checker defaults (HTTP_GET delay_before_retry 3 s, DNS_CHECK retry 3 and
//! delay_before_retry = delay_loop, MISC_CHECK retry 0) show in the transition times.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use ka_check::{Event, Failure, Options, Probe, ProbeKind, ProbeOutcome, ScriptExit};
use ka_config::fs::MemFs;
use ka_config::lower::{lower, Env};
use ka_config::source::FileId;
use ka_config::syntax::{build_tree, tokenize};
use ka_config::Severity;
use ka_model::config::Config;

const CONF: &str = "\
virtual_server 192.0.2.1 80 {
    delay_loop 10
    warmup 0
    protocol TCP
    real_server 192.0.2.10 80 {
        HTTP_GET {
            url {
                path /health
            }
        }
        DNS_CHECK {
        }
        MISC_CHECK {
            misc_path \"/usr/local/bin/check.sh\"
        }
    }
}
";

fn load(text: &str) -> Config {
    let fs = MemFs::new().executable("/usr/local/bin/check.sh");
    let env = Env {
        fs: &fs,
        interfaces: None,
    };
    let (tree, d0) = build_tree(tokenize(FileId(0), text));
    assert!(d0.is_empty(), "{d0:?}");
    let (cfg, d) = lower(&tree, &env);
    let errors: Vec<_> = d.iter().filter(|x| x.severity == Severity::Error).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    cfg
}

#[test]
fn keepalived_defaults_drive_the_transition_times() {
    let cfg = load(CONF);
    let mut sim = Sim::new(&cfg.lvs, Options::default());
    sim.start();
    // Everything passes until 5 s, then fails at once.
    let mut f = |now: ka_check::Instant, p: &Probe| {
        let ok = now < secs(5);
        let out = match (&p.kind, ok) {
            (ProbeKind::Misc { .. }, true) => ProbeOutcome::Exit(ScriptExit::Exited(0)),
            (ProbeKind::Misc { .. }, false) => ProbeOutcome::Exit(ScriptExit::Exited(1)),
            (ProbeKind::Http(_), true) => ProbeOutcome::Http(ka_check::HttpResponse {
                status_code: 200,
                body: vec![],
            }),
            (_, true) => ProbeOutcome::Success,
            (_, false) => ProbeOutcome::Failed(Failure::Timeout),
        };
        (Duration::ZERO, out)
    };
    sim.run_until(secs(60), &mut f);
    let downs: Vec<(ka_check::Instant, u32)> = sim
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::CheckerChanged {
                checker, up: false, ..
            } => Some((*t, checker.index)),
            _ => None,
        })
        .collect();
    // MISC (retry 0): down at its first failure, 11. HTTP (retry 1, 3 s): 11 and 14.
    // DNS (retry 3, delay_before_retry = delay_loop 10 s): 11, 21, 31, 41.
    assert_eq!(downs, vec![(secs(11), 2), (secs(14), 0), (secs(41), 1)]);
    // The server left the pool with the first failing checker.
    assert_eq!(sim.rs_changes(), vec![(secs(11), false)]);
    // MISC's default misc_timeout is the delay_loop.
    let misc = sim
        .probes
        .iter()
        .find(|(_, p)| matches!(p.kind, ProbeKind::Misc { .. }))
        .unwrap();
    assert_eq!(misc.1.timeout, Duration::from_secs(10));
}
