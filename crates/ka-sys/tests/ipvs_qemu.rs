//! IPVS against a real kernel, in a qemu guest (the host kernel has no IPVS; see
//! tests/qemu/mod.rs). Each test boots one guest that runs the same test again inside.
//!
//! * `ipvs_client_round_trip`: every kind of service and destination through our
//!   netlink client, read back by the client and by `ipvsadm`; edits, counters,
//!   timeouts, the sync daemon.
//! * `ipvs_tables_from_configs`: tables built by ka-lb from keepalived.conf files (our
//!   own NAT/DR/TUN/fwmark/IPv6/group configs and the Debian samples with
//!   `virtual_server` sections) applied one after the other like reloads, compared with
//!   `ipvsadm -Sn` / `-Ln --thresholds`; adoption of a pre-existing service, a foreign
//!   service never touched, one message for one weight change, clean removal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "qemu/mod.rs"]
mod qemu;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ka_lb::*;
use ka_sys::ipvs::{normalize, Ipvs, SyncDaemon, SyncRole, Timeouts};

/// Generous: a TCG boot takes ~3 s on an idle machine, much more on a loaded one.
const BOOT_TIMEOUT: Duration = Duration::from_secs(600);

fn key(p: Protocol, a: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol: p,
        addr: a.parse().unwrap(),
        port,
    }
}

fn dk(a: &str, port: u16) -> DestKey {
    DestKey {
        addr: a.parse().unwrap(),
        port,
    }
}

// --- what ipvsadm prints, rendered from a Table ---------------------------------------------

fn addr_port(a: &IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(v) => format!("{v}:{port}"),
        IpAddr::V6(v) => format!("[{v}]:{port}"),
    }
}

fn save_service_id(k: &ServiceKey) -> String {
    match k {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            let p = match protocol {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
            };
            format!("{p} {}", addr_port(addr, *port))
        }
        ServiceKey::Fwmark { family, mark } => match family {
            Family::Inet => format!("-f {mark}"),
            Family::Inet6 => format!("-f {mark} -6"),
        },
    }
}

/// `ipvsadm -Sn` lines for a table (ipvsadm 1.31's options, without thresholds, which
/// it does not save).
fn save_lines(t: &Table) -> Vec<String> {
    let mut out = Vec::new();
    for (k, s) in &t.services {
        let id = save_service_id(k);
        let mut l = format!("-A {id} -s {}", s.attrs.scheduler);
        if let Some(p) = &s.attrs.persistence {
            l += &format!(" -p {}", p.timeout_s);
            match k.family() {
                Family::Inet if p.prefix != 32 => {
                    let m = if p.prefix == 0 {
                        0
                    } else {
                        u32::MAX << (32 - u32::from(p.prefix))
                    };
                    l += &format!(" -M {}", std::net::Ipv4Addr::from(m));
                }
                Family::Inet6 if p.prefix != 128 => l += &format!(" -M {}", p.prefix),
                _ => {}
            }
            if let Some(e) = &p.engine {
                l += &format!(" --pe {e}");
            }
        }
        let f = &s.attrs.flags;
        let names: &[&str; 3] = match s.attrs.scheduler.as_str() {
            "sh" => &["sh-fallback", "sh-port", "flag-3"],
            "mh" => &["mh-fallback", "mh-port", "flag-3"],
            _ => &["flag-1", "flag-2", "flag-3"],
        };
        let on: Vec<&str> = [f.sched_flag_1, f.sched_flag_2, f.sched_flag_3]
            .iter()
            .zip(names.iter())
            .filter(|(b, _)| **b)
            .map(|(_, n)| *n)
            .collect();
        if !on.is_empty() {
            l += &format!(" -b {}", on.join(","));
        }
        if f.one_packet {
            l += " -o";
        }
        out.push(l);
        for (d, p) in &s.dests {
            let mut l = format!("-a {id} -r {}", addr_port(&d.addr, d.port));
            l += match p.forwarding {
                Forwarding::Nat => " -m",
                Forwarding::Dr => " -g",
                Forwarding::Tun { .. } => " -i",
            };
            l += &format!(" -w {}", p.weight);
            if let Forwarding::Tun { kind, checksum } = p.forwarding {
                l += match kind {
                    TunnelType::Ipip => " --tun-type ipip".to_string(),
                    TunnelType::Gue { port } => format!(" --tun-type gue --tun-port {port}"),
                    TunnelType::Gre => " --tun-type gre".to_string(),
                }
                .as_str();
                l += match (kind, checksum) {
                    (TunnelType::Ipip, _) | (_, TunnelChecksum::NoCsum) => "",
                    (_, TunnelChecksum::Csum) => " --tun-csum",
                    (_, TunnelChecksum::RemCsum) => " --tun-remcsum",
                };
            }
            out.push(l);
        }
    }
    out
}

/// A save line as a sorted list of option groups (an option and its values), so the
/// comparison does not depend on the order ipvsadm prints options in.
fn canonical(line: &str) -> Vec<String> {
    let mut groups: Vec<String> = Vec::new();
    for tok in line.split_whitespace() {
        match groups.last_mut() {
            Some(g) if !tok.starts_with('-') => {
                g.push(' ');
                g.push_str(tok);
            }
            _ => groups.push(tok.to_string()),
        }
    }
    // The service id is one group ("-t ADDR"); "-A"/"-a" stays first.
    let head = groups.remove(0);
    groups.sort();
    groups.insert(0, head);
    groups
}

fn canonical_set(lines: impl IntoIterator<Item = String>) -> Vec<Vec<String>> {
    let mut v: Vec<Vec<String>> = lines
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| canonical(&l))
        .collect();
    v.sort();
    v
}

/// `ipvsadm -Ln --thresholds` destination columns (address, upper, lower), rendered
/// from a table.
fn threshold_rows(t: &Table) -> Vec<String> {
    let mut v = Vec::new();
    for s in t.services.values() {
        for (d, p) in &s.dests {
            v.push(format!(
                "{} {} {}",
                addr_port(&d.addr, d.port),
                p.upper_threshold,
                p.lower_threshold
            ));
        }
    }
    v.sort();
    v
}

fn ipvsadm_threshold_rows() -> Vec<String> {
    let out = qemu::sh("ipvsadm -Ln --thresholds");
    let mut v: Vec<String> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-> "))
        .filter(|l| !l.starts_with("RemoteAddress"))
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .collect();
    v.sort();
    v
}

/// Checks that the kernel holds exactly `want`, through ipvsadm (and our own reader).
fn assert_kernel_holds(ipvs: &mut Ipvs, want: &Table, what: &str) {
    let saved = qemu::sh("ipvsadm -Sn");
    assert_eq!(
        canonical_set(saved.lines().map(str::to_string)),
        canonical_set(save_lines(want)),
        "{what}: ipvsadm -Sn differs from the expected table\nipvsadm:\n{saved}\nexpected:\n{}",
        save_lines(want).join("\n")
    );
    assert_eq!(
        ipvsadm_threshold_rows(),
        threshold_rows(want),
        "{what}: ipvsadm -Ln --thresholds differs"
    );
    let back = ipvs.table().unwrap();
    assert_eq!(
        &back, want,
        "{what}: our reader differs\n{back}\nexpected\n{want}"
    );
}

// --- test 1: the client ------------------------------------------------------------------------

fn sample_table() -> Table {
    let a = |s: &str| ServiceAttrs {
        scheduler: s.into(),
        flags: ServiceFlags::default(),
        persistence: None,
    };
    let d = |w, f| Dest {
        weight: w,
        forwarding: f,
        upper_threshold: 0,
        lower_threshold: 0,
    };
    let mut t = Table::new();
    let mut udp = a("sh");
    udp.flags.sched_flag_1 = true;
    udp.persistence = Some(Persistence {
        timeout_s: 300,
        prefix: 24,
        engine: Some("sip".into()),
    });
    let mut fw4 = a("sh");
    fw4.flags.sched_flag_1 = true;
    fw4.flags.sched_flag_2 = true;
    let mut fw6 = a("mh");
    fw6.persistence = Some(Persistence {
        timeout_s: 100,
        prefix: 64,
        engine: None,
    });
    fw6.flags.one_packet = true;
    let mut tcp6 = a("wrr");
    tcp6.persistence = Some(Persistence {
        timeout_s: 360,
        prefix: 128,
        engine: None,
    });
    let mut tcp4p = a("rr");
    tcp4p.persistence = Some(Persistence {
        timeout_s: 50,
        prefix: 32,
        engine: None,
    });
    let services = [
        (
            key(Protocol::Tcp, "192.0.2.1", 80),
            a("wlc"),
            vec![
                (
                    dk("198.51.100.10", 8080),
                    Dest {
                        weight: 3,
                        forwarding: Forwarding::Nat,
                        upper_threshold: 100,
                        lower_threshold: 10,
                    },
                ),
                (dk("198.51.100.11", 80), d(1, Forwarding::Dr)),
            ],
        ),
        (
            key(Protocol::Udp, "192.0.2.2", 5060),
            udp,
            vec![(
                dk("198.51.100.12", 5060),
                d(
                    0,
                    Forwarding::Tun {
                        kind: TunnelType::Ipip,
                        checksum: TunnelChecksum::NoCsum,
                    },
                ),
            )],
        ),
        (
            key(Protocol::Sctp, "2001:db8::1", 443),
            a("rr"),
            vec![(
                dk("2001:db8::10", 443),
                d(
                    2,
                    Forwarding::Tun {
                        kind: TunnelType::Gue { port: 6080 },
                        checksum: TunnelChecksum::Csum,
                    },
                ),
            )],
        ),
        (
            ServiceKey::Fwmark {
                family: Family::Inet,
                mark: 7,
            },
            fw4,
            vec![(
                dk("198.51.100.13", 0),
                d(
                    5,
                    Forwarding::Tun {
                        kind: TunnelType::Gre,
                        checksum: TunnelChecksum::RemCsum,
                    },
                ),
            )],
        ),
        (
            ServiceKey::Fwmark {
                family: Family::Inet6,
                mark: 8,
            },
            fw6,
            vec![(dk("2001:db8::11", 0), d(1, Forwarding::Dr))],
        ),
        (
            key(Protocol::Tcp, "2001:db8::2", 0),
            tcp6,
            vec![
                (
                    dk("2001:db8::12", 0),
                    Dest {
                        weight: 7,
                        forwarding: Forwarding::Dr,
                        // The kernel refuses a lower threshold above the upper one,
                        // even when the upper one is 0 (ERANGE).
                        upper_threshold: 10,
                        lower_threshold: 3,
                    },
                ),
                (
                    dk("192.0.2.99", 0),
                    d(
                        1,
                        Forwarding::Tun {
                            kind: TunnelType::Ipip,
                            checksum: TunnelChecksum::NoCsum,
                        },
                    ),
                ),
            ],
        ),
        (key(Protocol::Tcp, "192.0.2.3", 21), tcp4p, vec![]),
    ];
    for (k, attrs, dests) in services {
        t.services.insert(
            k,
            Service {
                attrs,
                dests: dests.into_iter().collect(),
            },
        );
    }
    t
}

#[test]
fn ipvs_client_round_trip() {
    if !qemu::in_guest() {
        qemu::run_in_guest("ipvs_client_round_trip", &[], BOOT_TIMEOUT);
        return;
    }
    let mut ipvs = Ipvs::open().unwrap();
    let info = ipvs.info().unwrap();
    assert_eq!(info.version, 0x010201, "{info:?}");
    assert!(info.conn_tab_size > 0);
    assert!(ipvs.table().unwrap().services.is_empty());

    // Everything at once, in batches, then read back by ipvsadm and by us.
    let t = sample_table();
    let ops = diff(&Table::new(), &t, &Owned::new());
    let before = ipvs.messages_sent();
    let failures = ipvs.apply(&ops).unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(ipvs.messages_sent() - before, ops.len() as u64);
    assert_kernel_holds(&mut ipvs, &t, "sample table");
    assert!(diff(&ipvs.table().unwrap(), &t, &Owned::of(&t)).is_empty());

    // Edits in place: scheduler and persistence of a service, a destination's method.
    let mut t2 = t.clone();
    let web = key(Protocol::Tcp, "192.0.2.1", 80);
    t2.services.get_mut(&web).unwrap().attrs = ServiceAttrs {
        scheduler: "lc".into(),
        flags: ServiceFlags::default(),
        persistence: Some(Persistence {
            timeout_s: 77,
            prefix: 16,
            engine: None,
        }),
    };
    let d = t2
        .services
        .get_mut(&web)
        .unwrap()
        .dests
        .get_mut(&dk("198.51.100.11", 80))
        .unwrap();
    d.forwarding = Forwarding::Nat;
    d.weight = 9;
    let ops = diff(&ipvs.table().unwrap(), &t2, &Owned::of(&t));
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert!(ipvs.apply(&ops).unwrap().is_empty());
    assert_kernel_holds(&mut ipvs, &t2, "after edits");

    // The single-call API, and the kernel's refusals as errors.
    let extra = key(Protocol::Udp, "203.0.113.5", 53);
    let attrs = ServiceAttrs {
        scheduler: "rr".into(),
        flags: ServiceFlags::default(),
        persistence: None,
    };
    ipvs.add_service(&extra, &attrs).unwrap();
    let e = ipvs.add_service(&extra, &attrs).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc_eexist()), "{e}");
    let p = Dest {
        weight: 4,
        forwarding: Forwarding::Dr,
        upper_threshold: 0,
        lower_threshold: 0,
    };
    ipvs.add_dest(&extra, &dk("203.0.113.6", 53), &p).unwrap();
    ipvs.edit_dest(&extra, &dk("203.0.113.6", 53), &Dest { weight: 6, ..p })
        .unwrap();
    assert!(qemu::sh("ipvsadm -Sn").contains("-a -u 203.0.113.5:53 -r 203.0.113.6:53 -g -w 6"));
    let bad = ServiceAttrs {
        scheduler: "nosuch".into(),
        ..attrs.clone()
    };
    assert!(ipvs.edit_service(&extra, &bad).is_err());
    ipvs.del_dest(&extra, &dk("203.0.113.6", 53)).unwrap();
    ipvs.del_service(&extra).unwrap();
    assert!(ipvs.del_service(&extra).is_err());
    // A refused operation in a batch does not stop the others.
    let ops = vec![
        Op::DelService { key: extra },
        Op::AddService {
            key: extra,
            attrs: attrs.clone(),
        },
    ];
    let f = ipvs.apply(&ops).unwrap();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].index, 0);
    ipvs.del_service(&extra).unwrap();
    assert_kernel_holds(&mut ipvs, &t2, "after single calls");

    // Counters: a local client's connection attempt to the NAT service is scheduled by
    // IPVS (its SYNs die on the dummy interface); the counters (refreshed by the kernel
    // every 2 s) must match `ipvsadm -Ln --stats --exact`, then zero.
    qemu::sh("nc -w 1 192.0.2.1 80 </dev/null >/dev/null 2>&1 || true");
    let conns = |ipvs: &mut Ipvs| {
        ipvs.services()
            .unwrap()
            .into_iter()
            .find(|s| s.key == web)
            .unwrap()
            .stats
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while conns(&mut ipvs).conns == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let retransmitted SYNs stop changing the counters.
    std::thread::sleep(Duration::from_secs(3));
    let ours = conns(&mut ipvs);
    assert!(ours.conns >= 1 && ours.inpkts >= 1, "{ours:?}");
    let listed = qemu::sh("ipvsadm -Ln --stats --exact");
    let row: Vec<u64> = listed
        .lines()
        .find(|l| l.starts_with("TCP  192.0.2.1:80 "))
        .unwrap_or_else(|| panic!("{listed}"))
        .split_whitespace()
        .skip(2)
        .map(|n| n.parse().unwrap())
        .collect();
    let ours_after = conns(&mut ipvs);
    // The counters, not the rates (the kernel's estimator decays those every 2 s).
    let counters = |s: &ka_sys::ipvs::Stats| [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes];
    assert_eq!(
        counters(&ours),
        counters(&ours_after),
        "counters still moving"
    );
    assert_eq!(
        row,
        [
            ours.conns,
            ours.inpkts,
            ours.outpkts,
            ours.inbytes,
            ours.outbytes
        ],
        "{listed}"
    );
    let dest_sum: u64 = ipvs
        .dests(&web)
        .unwrap()
        .iter()
        .map(|d| d.stats.conns)
        .sum();
    assert_eq!(dest_sum, ours.conns);
    let svcs = ipvs.services().unwrap();
    assert_eq!(svcs.len(), t2.services.len());
    ipvs.zero().unwrap();
    assert_eq!(conns(&mut ipvs).conns, 0);
    for s in &svcs {
        let ds = ipvs.dests(&s.key).unwrap();
        assert_eq!(ds.len(), t2.services[&s.key].dests.len());
    }

    // Timeouts.
    let t0 = ipvs.timeouts().unwrap();
    assert_eq!(
        t0,
        Timeouts {
            tcp_s: 900,
            tcp_fin_s: 120,
            udp_s: 300
        }
    );
    ipvs.set_timeouts(&Timeouts {
        tcp_s: 7200,
        tcp_fin_s: 0,
        udp_s: 200,
    })
    .unwrap();
    assert_eq!(
        ipvs.timeouts().unwrap(),
        Timeouts {
            tcp_s: 7200,
            tcp_fin_s: 120,
            udp_s: 200
        }
    );
    assert!(qemu::sh("ipvsadm -Ln --timeout").contains("7200 120 200"));

    // The sync daemon refuses mixed-family destinations (a TUN one above).
    let d0 = SyncDaemon {
        role: SyncRole::Master,
        ifname: "ka0".into(),
        syncid: 5,
        maxlen: None,
        group: None,
        port: None,
        ttl: None,
    };
    assert_eq!(
        ipvs.start_sync_daemon(&d0).unwrap_err().raw_os_error(),
        Some(22)
    );

    // Removal of everything we own.
    let ops = diff(&ipvs.table().unwrap(), &Table::new(), &Owned::of(&t2));
    assert!(ipvs.apply(&ops).unwrap().is_empty());
    assert_eq!(qemu::sh("ipvsadm -Sn").trim(), "");

    // Sync daemon.
    assert!(ipvs.sync_daemons().unwrap().is_empty());
    let d = SyncDaemon {
        role: SyncRole::Master,
        ifname: "ka0".into(),
        syncid: 5,
        maxlen: Some(1400),
        group: Some("224.0.0.81".parse().unwrap()),
        port: Some(8848),
        ttl: Some(2),
    };
    ipvs.start_sync_daemon(&d).unwrap();
    let running = ipvs.sync_daemons().unwrap();
    assert_eq!(running.len(), 1, "{running:?}");
    assert_eq!(running[0], d);
    let listed = qemu::sh("ipvsadm -Ln --daemon");
    assert!(
        listed.contains("master sync daemon") && listed.contains("ka0"),
        "{listed}"
    );
    assert!(listed.contains("syncid=5"), "{listed}");
    ipvs.stop_sync_daemon(SyncRole::Master).unwrap();
    assert!(ipvs.sync_daemons().unwrap().is_empty());
}

fn libc_eexist() -> i32 {
    17
}

// --- test 2: tables from keepalived.conf files ----------------------------------------------

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/qemu/configs")
}

const SAMPLES: &str = "/usr/share/doc/keepalived/samples";

/// The desired table of a keepalived.conf file, as the daemon computes it at start
/// (no checker verdict yet: real servers without `alpha` are in the pool).
fn desired_of(path: &Path, strict: bool) -> Table {
    use ka_config::fs::StdFs;
    use ka_config::lower::{lower, Env};
    use ka_config::preprocess::{load, LoadOptions};
    use ka_config::Severity;
    let loaded = load(path, &StdFs, &LoadOptions::default());
    let env = Env {
        fs: &StdFs,
        interfaces: None,
    };
    let (cfg, diags) = lower(&loaded.tree, &env);
    let errors: Vec<_> = loaded
        .diagnostics
        .iter()
        .chain(diags.iter())
        .filter(|d| d.severity == Severity::Error)
        .collect();
    if strict {
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
    let verdicts = Verdicts::new();
    let mut state = LbState::new();
    state.update(&cfg.lvs, &verdicts);
    let t = desired(
        &cfg.lvs,
        &verdicts,
        &state,
        &Vips::new(),
        &Options::default(),
    )
    .unwrap();
    normalize(t)
}

/// Our configs, then the Debian samples that have virtual servers.
fn config_cases() -> Vec<(String, Table)> {
    let mut cases = Vec::new();
    let mut own: Vec<PathBuf> = std::fs::read_dir(configs_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    own.sort();
    for p in own {
        let t = desired_of(&p, true);
        assert!(!t.services.is_empty(), "{}: no service", p.display());
        cases.push((p.file_name().unwrap().to_string_lossy().into_owned(), t));
    }
    let mut samples: Vec<PathBuf> = std::fs::read_dir(SAMPLES)
        .unwrap_or_else(|e| panic!("{SAMPLES}: {e} (package keepalived)"))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            std::fs::read_to_string(p)
                .map(|s| s.contains("virtual_server"))
                .unwrap_or(false)
        })
        .collect();
    samples.sort();
    assert!(samples.len() >= 10, "{samples:?}");
    for p in samples {
        // Samples name checker scripts that do not exist here; the table does not
        // depend on them.
        let t = desired_of(&p, false);
        cases.push((p.file_name().unwrap().to_string_lossy().into_owned(), t));
    }
    cases
}

#[test]
fn ipvs_tables_from_configs() {
    if !qemu::in_guest() {
        let cases = config_cases();
        let n_samples = cases
            .iter()
            .filter(|(n, _)| n.starts_with("keepalived.conf"))
            .count();
        let json = serde_json::to_string(&cases).unwrap();
        let file = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("ipvs-cases-{}.json", std::process::id()));
        let _rm = qemu::RemoveFile(file.clone());
        std::fs::write(&file, json).unwrap();
        let out = qemu::run_in_guest(
            "ipvs_tables_from_configs",
            &[(file.clone(), "/cases.json".into())],
            BOOT_TIMEOUT,
        );
        let checked = out.matches("ka-case ok ").count();
        assert_eq!(checked, cases.len(), "{n_samples} samples; serial:\n{out}");
        return;
    }
    let cases: Vec<(String, Table)> =
        serde_json::from_str(&std::fs::read_to_string("/cases.json").unwrap()).unwrap();
    let mut ipvs = Ipvs::open().unwrap();

    // Another program's service: never touched.
    qemu::sh("ipvsadm -A -t 203.0.113.99:25 -s rr && ipvsadm -a -t 203.0.113.99:25 -r 203.0.113.100:25 -g -w 1");
    let foreign = ipvs.table().unwrap();
    assert_eq!(foreign.services.len(), 1);

    // Adoption: the first case's first service already exists (a previous run left it,
    // with one stale destination and another weight): it is taken over in place.
    let (first_name, first) = &cases[0];
    let (k0, s0) = first.services.iter().next().unwrap();
    let mut pre = Table::new();
    let mut stale = s0.clone();
    stale.dests.clear();
    stale.dests.insert(
        dk("203.0.113.200", 80),
        Dest {
            weight: 1,
            forwarding: Forwarding::Dr,
            upper_threshold: 0,
            lower_threshold: 0,
        },
    );
    pre.services.insert(*k0, stale);
    assert!(ipvs
        .apply(&diff(&Table::new(), &pre, &Owned::new()))
        .unwrap()
        .is_empty());

    let mut owned = Owned::new();
    for (i, (name, want)) in cases.iter().enumerate() {
        let have = ipvs.table().unwrap();
        let ops = diff(&have, want, &owned);
        if i == 0 {
            assert!(
                !ops.iter().any(|o| matches!(o, Op::AddService { key, .. } | Op::DelService { key } if key == k0)),
                "{first_name}: the existing service must be adopted, not recreated: {ops:?}"
            );
        }
        let before = ipvs.messages_sent();
        let failures = ipvs.apply(&ops).unwrap();
        assert!(failures.is_empty(), "{name}: {failures:?}");
        assert_eq!(ipvs.messages_sent() - before, ops.len() as u64, "{name}");
        owned.update(want, &ops);
        let mut expect = want.clone();
        for (k, s) in &foreign.services {
            if !want.services.contains_key(k) {
                expect.services.insert(*k, s.clone());
            }
        }
        assert_kernel_holds(&mut ipvs, &expect, name);
        assert!(
            diff(&ipvs.table().unwrap(), want, &owned).is_empty(),
            "{name}: not idempotent"
        );
        println!(
            "ka-case ok {name}: {} services, {} destinations, {} operations",
            want.services.len(),
            want.dest_count(),
            ops.len()
        );

        // One weight change: one message.
        if let Some((sk, s)) = want.services.iter().find(|(_, s)| !s.dests.is_empty()) {
            let (d, p) = s.dests.iter().next().unwrap();
            let mut changed = want.clone();
            changed
                .services
                .get_mut(sk)
                .unwrap()
                .dests
                .get_mut(d)
                .unwrap()
                .weight = p.weight + 7;
            let ops = diff(&ipvs.table().unwrap(), &changed, &owned);
            assert_eq!(ops.len(), 1, "{ops:?}");
            let before = ipvs.messages_sent();
            assert!(ipvs.apply(&ops).unwrap().is_empty());
            assert_eq!(ipvs.messages_sent() - before, 1);
            assert_eq!(
                ipvs.table().unwrap().dest(sk, d).unwrap().weight,
                p.weight + 7
            );
            // And back.
            let ops = diff(&ipvs.table().unwrap(), want, &owned);
            assert!(ipvs.apply(&ops).unwrap().is_empty());
        }
    }

    // Shutdown: everything we own goes, the foreign service stays.
    let ops = diff(&ipvs.table().unwrap(), &Table::new(), &owned);
    assert!(ipvs.apply(&ops).unwrap().is_empty());
    assert_kernel_holds(&mut ipvs, &foreign, "after shutdown");
    let _ = BTreeMap::<u8, u8>::new();
}

// --- test 3: real keepalived programs the same tables --------------------------------------

/// Our configs' desired tables (real servers without checkers: keepalived keeps them).
fn own_cases() -> Vec<(String, Table)> {
    config_cases()
        .into_iter()
        .filter(|(n, _)| n.ends_with(".conf"))
        .collect()
}

fn ipvsadm_save() -> Vec<String> {
    let mut v: Vec<String> = qemu::sh("ipvsadm -Sn")
        .lines()
        .map(str::to_string)
        .filter(|l| !l.trim().is_empty())
        .collect();
    v.sort();
    v
}

#[test]
fn keepalived_programs_the_same_tables() {
    if !qemu::in_guest() {
        let cases = own_cases();
        assert!(cases.len() >= 6, "{}", cases.len());
        let file = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("ipvs-own-cases-{}.json", std::process::id()));
        let _rm = qemu::RemoveFile(file.clone());
        std::fs::write(&file, serde_json::to_string(&cases).unwrap()).unwrap();
        let keepalived = Path::new("/usr/sbin/keepalived");
        assert!(
            keepalived.exists(),
            "keepalived missing (package keepalived)"
        );
        let out = qemu::run_in_guest(
            "keepalived_programs_the_same_tables",
            &[
                (file.clone(), "/cases.json".into()),
                (configs_dir(), "/configs".into()),
                (keepalived.into(), "/usr/sbin/keepalived".into()),
            ],
            BOOT_TIMEOUT,
        );
        assert_eq!(out.matches("ka-same ok ").count(), cases.len(), "{out}");
        return;
    }
    let cases: Vec<(String, Table)> =
        serde_json::from_str(&std::fs::read_to_string("/cases.json").unwrap()).unwrap();
    let mut ipvs = Ipvs::open().unwrap();
    for (name, want) in &cases {
        assert!(ipvsadm_save().is_empty(), "{name}: table not empty before");
        // keepalived, checker process only, no checkers configured: every real server up.
        let mut child = std::process::Command::new("/usr/sbin/keepalived")
            .args(["-C", "-n", "-l", "-D", "-f"])
            .arg(format!("/configs/{name}"))
            .args(["-p", "/run/ka.pid", "-c", "/run/ka-check.pid"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let lines = save_lines(want).len();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while ipvsadm_save().len() < lines && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        // Settle: keepalived has nothing more to add after this.
        std::thread::sleep(Duration::from_millis(500));
        let theirs = ipvsadm_save();
        let their_thresholds = ipvsadm_threshold_rows();
        let their_table = ipvs.table().unwrap();
        // SIGTERM: keepalived removes what it created.
        let _ = std::process::Command::new("kill")
            .arg(child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if child.try_wait().unwrap().is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !ipvsadm_save().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            ipvsadm_save().is_empty(),
            "{name}: keepalived left services"
        );

        // Ours, from the same file.
        let ops = diff(&ipvs.table().unwrap(), want, &Owned::new());
        assert!(ipvs.apply(&ops).unwrap().is_empty(), "{name}");
        let ours = ipvsadm_save();
        assert_eq!(
            canonical_set(ours.clone()),
            canonical_set(theirs.clone()),
            "{name}: ipvsadm -Sn differs\nkeepalived:\n{}\nkeepalived-rs:\n{}",
            theirs.join("\n"),
            ours.join("\n")
        );
        assert_eq!(
            ipvsadm_threshold_rows(),
            their_thresholds,
            "{name}: thresholds differ"
        );
        assert_eq!(ipvs.table().unwrap(), their_table, "{name}: tables differ");
        println!("ka-same ok {name}: {} lines", ours.len());
        let ops = diff(&ipvs.table().unwrap(), &Table::new(), &Owned::of(want));
        assert!(ipvs.apply(&ops).unwrap().is_empty());
    }
}
