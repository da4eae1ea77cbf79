//! Tables built from keepalived.conf text lowered by ka-config.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use ka_check::RealServerId;
use ka_config::fs::MemFs;
use ka_config::lower::{lower, Env};
use ka_config::preprocess::{load_str, LoadOptions};
use ka_config::Severity;
use ka_lb::*;
use ka_model::config::Config;

const CONF: &str = "\
virtual_server_group WEB {
    192.0.2.10-11 80
    fwmark 9
}

virtual_server group WEB {
    delay_loop 5
    lb_algo mh
    mh-port
    mh-fallback
    lb_kind DR
    protocol TCP
    persistence_timeout 600
    persistence_granularity 255.255.255.0
    quorum 2
    hysteresis 1
    quorum_up /usr/local/bin/up.sh
    sorry_server 198.51.100.99 80
    sorry_server_inhibit
    real_server 198.51.100.1 80 {
        weight 2
        uthreshold 1000
        lthreshold 100
        inhibit_on_failure
        TCP_CHECK {
        }
    }
    real_server 198.51.100.2 80 {
        weight 1
        TCP_CHECK {
        }
    }
}

virtual_server 2001:db8::1 53 {
    lvs_sched rr
    lvs_method TUN type gue port 6080 csum
    protocol UDP
    ops
    real_server 2001:db8::10 53 {
        MISC_CHECK {
            misc_path /usr/local/bin/check.sh
        }
    }
}
";

fn load(text: &str) -> Config {
    let loaded = load_str(text, &LoadOptions::default());
    let pre: Vec<_> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert!(pre.is_empty(), "{pre:#?}");
    let fs = MemFs::new()
        .executable("/usr/local/bin/up.sh")
        .executable("/usr/local/bin/check.sh");
    let env = Env {
        fs: &fs,
        interfaces: None,
    };
    let (cfg, d) = lower(&loaded.tree, &env);
    let errors: Vec<_> = d.iter().filter(|x| x.severity == Severity::Error).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    cfg
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn web(a: &str) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: ip(a),
        port: 80,
    }
}

fn dk(a: &str, port: u16) -> DestKey {
    DestKey { addr: ip(a), port }
}

#[test]
fn table_from_keepalived_conf() {
    let cfg = load(CONF);
    let mut verdicts = Verdicts::new();
    let mut state = LbState::new();
    let ev = state.update(&cfg.lvs, &verdicts);
    // Weights 2 + 1 = 3 >= quorum 2 + hysteresis 1: starting with quorum up.
    assert_eq!(ev.len(), 2);
    assert!(ev[0].up && ev[0].initial);
    assert_eq!(
        ev[0].script.as_ref().unwrap().argv,
        ["/usr/local/bin/up.sh"]
    );
    let opts = Options::default();
    let t = desired(&cfg.lvs, &verdicts, &state, &Vips::new(), &opts).unwrap();

    let fw = ServiceKey::Fwmark {
        family: Family::Inet,
        mark: 9,
    };
    let v6 = ServiceKey::Addr {
        protocol: Protocol::Udp,
        addr: ip("2001:db8::1"),
        port: 53,
    };
    let keys: Vec<_> = t.services.keys().copied().collect();
    assert_eq!(keys, [web("192.0.2.10"), web("192.0.2.11"), v6, fw]);

    for k in [web("192.0.2.10"), web("192.0.2.11"), fw] {
        let s = &t.services[&k];
        assert_eq!(s.attrs.scheduler, "mh");
        assert!(s.attrs.flags.sched_flag_1 && s.attrs.flags.sched_flag_2);
        assert_eq!(
            s.attrs.persistence,
            Some(Persistence {
                timeout_s: 600,
                prefix: 24,
                engine: None
            })
        );
        // The configured port stays, but not in the group's fwmark service with DR:
        // keepalived 2.2.7 programs port 0 there (ka-sys/tests/ipvs_qemu.rs).
        let port = if k == fw { 0 } else { 80 };
        let d1 = s.dests[&dk("198.51.100.1", port)];
        assert_eq!(
            (
                d1.weight,
                d1.forwarding,
                d1.upper_threshold,
                d1.lower_threshold
            ),
            (2, Forwarding::Dr, 1000, 100)
        );
        assert_eq!(s.dests[&dk("198.51.100.2", port)].weight, 1);
        // sorry_server_inhibit: present at weight 0 while the quorum holds.
        assert_eq!(s.dests[&dk("198.51.100.99", port)].weight, 0);
        assert_eq!(s.dests.len(), 3);
    }
    let s6 = &t.services[&v6];
    assert_eq!(s6.attrs.scheduler, "rr");
    assert!(s6.attrs.flags.one_packet);
    assert_eq!(
        s6.dests[&dk("2001:db8::10", 53)].forwarding,
        Forwarding::Tun {
            kind: TunnelType::Gue { port: 6080 },
            checksum: TunnelChecksum::Csum
        }
    );

    // Real server 1 (weight 2) fails: alive weight 1 is not below 2 - 1: quorum kept.
    // It is inhibited (weight 0) in each of the three services: three edits.
    verdicts.set(RealServerId { vs: 0, rs: 0 }, false, 2);
    assert!(state.update(&cfg.lvs, &verdicts).is_empty());
    let t2 = desired(&cfg.lvs, &verdicts, &state, &Vips::new(), &opts).unwrap();
    let ops = diff(&t, &t2, &Owned::of(&t));
    assert_eq!(ops.len(), 3);
    assert!(ops
        .iter()
        .all(|o| matches!(o, Op::EditDest { dest, params, .. }
            if *dest == dk("198.51.100.1", dest.port) && params.weight == 0)));

    // Real server 2 fails too: 0 alive, quorum lost: the sorry server goes to
    // weight 1 (an edit, it was inhibited), server 2 is removed.
    verdicts.set(RealServerId { vs: 0, rs: 1 }, false, 1);
    let ev = state.update(&cfg.lvs, &verdicts);
    assert_eq!(ev.len(), 1);
    assert!(!ev[0].up);
    let t3 = desired(&cfg.lvs, &verdicts, &state, &Vips::new(), &opts).unwrap();
    let ops = diff(&t2, &t3, &Owned::of(&t2));
    let edits = ops
        .iter()
        .filter(|o| matches!(o, Op::EditDest { params, .. } if params.weight == 1))
        .count();
    let dels = ops
        .iter()
        .filter(|o| matches!(o, Op::DelDest { .. }))
        .count();
    assert_eq!((ops.len(), edits, dels), (6, 3, 3));
    let mut applied = t2.clone();
    for op in &ops {
        applied.apply(op).unwrap();
    }
    assert_eq!(applied, t3);

    // Shutdown: everything owned goes, dests first.
    let ops = diff(&t3, &Table::new(), &Owned::of(&t3));
    assert!(matches!(ops.last(), Some(Op::DelService { .. })));
    let mut applied = t3.clone();
    for op in &ops {
        applied.apply(op).unwrap();
    }
    assert!(applied.services.is_empty());
}

/// ka-check's start events feed the verdicts: an `alpha` real server starts out of
/// the pool, so the quorum starts down and the sorry server serves.
#[test]
fn check_engine_start_events_drive_the_table() {
    let cfg = load(
        "\
virtual_server 192.0.2.1 80 {
    protocol TCP
    quorum 2
    sorry_server 198.51.100.99 80
    real_server 198.51.100.1 80 {
        TCP_CHECK {
        }
    }
    real_server 198.51.100.2 80 {
        alpha
        TCP_CHECK {
        }
    }
}
",
    );
    let mut checks = ka_check::Scheduler::new(&cfg.lvs, ka_check::Options::default()).unwrap();
    checks.start(ka_check::Instant::ZERO);
    let mut verdicts = Verdicts::new();
    let mut n = 0;
    while let Some(e) = checks.poll_event() {
        n += usize::from(verdicts.apply(&e));
    }
    assert_eq!(n, 2, "one Initial per real server");
    let mut state = LbState::new();
    let ev = state.update(&cfg.lvs, &verdicts);
    assert_eq!(ev.len(), 1);
    assert!(!ev[0].up && ev[0].initial);
    let t = desired(
        &cfg.lvs,
        &verdicts,
        &state,
        &Vips::new(),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(
        t.to_string(),
        "192.0.2.1:80/Tcp wlc\n  -> 198.51.100.99:80 Masq 1\n"
    );
}
