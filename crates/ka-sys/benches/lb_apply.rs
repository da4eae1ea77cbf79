//! bench/lb-apply: programming IPVS from nothing (2000 virtual servers x 10 real servers)
//! and one weight change: keepalived-rs's IPVS client, keepalived 2.2.7 and the
//! keepalived-rs daemon, each in a guest of its own (tests/qemu) booted from the same image.
//!
//! A fresh guest each, because the kernel keeps a removed destination in a trash list
//! for about two minutes and scans that list on every destination it adds: whoever runs
//! after another's 20000 destinations were removed pays for them (in one guest, one after
//! the other, keepalived's start took 10 s or 34 s and the daemon's 2.2 s or 32 s by turn).
//!
//! `cargo bench -p ka-sys --bench lb_apply` (or `bench/lb-apply`). Prints a table: wall
//! time in the guest (TCG: slower than hardware, the ratio is what counts) and netlink
//! messages sent (ours counted by the client; keepalived's is its documented one
//! message per service and per destination, not measured).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/qemu/mod.rs"]
mod qemu;

use std::path::Path;
use std::time::{Duration, Instant};

use ka_lb::*;
use ka_sys::ipvs::{normalize, Ipvs};

const N_VS: usize = 2000;
const N_RS: usize = 10;

fn config(weight_of_first: u32) -> String {
    let mut s = String::from("global_defs {\n    router_id BENCH\n}\n");
    for v in 0..N_VS {
        let vip = format!("203.0.113.{}", v % 250 + 1);
        let port = 1000 + v / 250;
        s += &format!(
            "virtual_server {vip} {port} {{\n    lb_algo wlc\n    lb_kind NAT\n    protocol TCP\n"
        );
        for r in 0..N_RS {
            let rip = format!(
                "198.51.{}.{}",
                100 + (v * N_RS + r) / 250 % 2,
                (v * N_RS + r) % 250 + 1
            );
            let w = if v == 0 && r == 0 {
                weight_of_first
            } else {
                1 + r as u32
            };
            s += &format!(
                "    real_server {rip} {} {{\n        weight {w}\n    }}\n",
                8000 + v % 50
            );
        }
        s += "}\n";
    }
    s
}

fn lower(path: &Path) -> ka_model::config::Config {
    use ka_config::fs::StdFs;
    use ka_config::lower::{lower, Env};
    use ka_config::preprocess::{load, LoadOptions};
    let loaded = load(path, &StdFs, &LoadOptions::default());
    let env = Env {
        fs: &StdFs,
        interfaces: None,
    };
    lower(&loaded.tree, &env).0
}

fn table_of(cfg: &ka_model::config::Config) -> Table {
    let verdicts = Verdicts::new();
    let mut state = LbState::new();
    state.update(&cfg.lvs, &verdicts);
    normalize(
        desired(
            &cfg.lvs,
            &verdicts,
            &state,
            &Vips::new(),
            &Options::default(),
        )
        .unwrap(),
    )
}

fn last_service_complete(ipvs: &mut Ipvs, last: &ServiceKey) -> bool {
    ipvs.dests(last).map(|d| d.len() == N_RS).unwrap_or(false)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn guest() {
    std::fs::write("/tmp/a.conf", config(1)).unwrap();
    std::fs::write("/tmp/b.conf", config(9)).unwrap();
    let mut ipvs = Ipvs::open().unwrap();
    match std::env::var(PART).as_deref() {
        Ok("library") => library(&mut ipvs),
        Ok(part) => {
            // The keys to watch, from the file (before the clock starts).
            let cfg = lower(Path::new("/tmp/a.conf"));
            let want = table_of(&cfg);
            let (first, first_svc) = want.services.iter().next().unwrap();
            let keys = Keys {
                last: *want.services.keys().next_back().unwrap(),
                first: *first,
                first_dest: *first_svc.dests.keys().next().unwrap(),
            };
            match part {
                "keepalived" => keepalived(&mut ipvs, &keys, &cfg),
                "daemon" => daemon(&mut ipvs, &keys),
                _ => panic!("unknown part {part}"),
            }
        }
        Err(_) => panic!("{PART} not set"),
    }
}

/// The guest's environment variable naming the part to run.
const PART: &str = "LB_APPLY_PART";

/// Which service and destination to watch.
struct Keys {
    /// The file's last service (also the last key): complete when all is programmed.
    last: ServiceKey,
    /// The file's first service and its first destination, whose weight changes.
    first: ServiceKey,
    first_dest: DestKey,
}

/// The weight of the first service's first destination in the kernel.
fn first_weight(ipvs: &mut Ipvs, k: &Keys) -> Option<u32> {
    ipvs.dests(&k.first).ok().and_then(|ds| {
        ds.into_iter()
            .find(|d| d.key == k.first_dest)
            .map(|d| d.dest.weight)
    })
}

/// keepalived-rs's IPVS client: file -> table -> kernel, then one weight change.
fn library(ipvs: &mut Ipvs) {
    let t0 = Instant::now();
    let cfg = lower(Path::new("/tmp/a.conf"));
    let want = table_of(&cfg);
    let t_cfg = t0.elapsed();
    let have = ipvs.table().unwrap();
    let ops = diff(&have, &want, &Owned::new());
    let m0 = ipvs.messages_sent();
    let t1 = Instant::now();
    let failures = ipvs.apply(&ops).unwrap();
    let t_apply = t1.elapsed();
    let total = t0.elapsed();
    assert!(
        failures.is_empty(),
        "{:?}",
        &failures[..failures.len().min(3)]
    );
    let msgs = ipvs.messages_sent() - m0 + 1; // + the initial dump request
    assert_eq!(want.services.len(), N_VS);
    assert_eq!(want.dest_count(), N_VS * N_RS);
    println!(
        "ka-bench ours-initial config_ms={:.0} apply_ms={:.0} total_ms={:.0} messages={msgs}",
        ms(t_cfg),
        ms(t_apply),
        ms(total)
    );

    // One weight change: reload path (new file -> table), read back, diff, apply.
    let t0 = Instant::now();
    let want2 = table_of(&lower(Path::new("/tmp/b.conf")));
    let t_cfg = t0.elapsed();
    let t1 = Instant::now();
    let have = ipvs.table().unwrap();
    let t_read = t1.elapsed();
    let m0 = ipvs.messages_sent();
    let ops = diff(&have, &want2, &Owned::of(&want));
    assert_eq!(ops.len(), 1, "{ops:?}");
    let t2 = Instant::now();
    assert!(ipvs.apply(&ops).unwrap().is_empty());
    let t_apply = t2.elapsed();
    println!(
        "ka-bench ours-weight config_ms={:.0} readback_ms={:.0} apply_ms={:.2} total_ms={:.0} messages={} (+{} dump requests for the read-back)",
        ms(t_cfg),
        ms(t_read),
        ms(t_apply),
        ms(t0.elapsed()),
        ipvs.messages_sent() - m0,
        N_VS + 1
    );
}

/// keepalived 2.2.7 (`-C -n -l`): its start, then SIGHUP with the changed file.
fn keepalived(ipvs: &mut Ipvs, k: &Keys, cfg: &ka_model::config::Config) {
    // The config's first real server; its weight changes between a.conf and b.conf.
    let changed = cfg.lvs.virtual_servers[0].real_servers[0].addr;
    let t0 = Instant::now();
    let mut child = std::process::Command::new("/usr/sbin/keepalived")
        .args([
            "-C",
            "-n",
            "-l",
            "-f",
            "/tmp/a.conf",
            "-p",
            "/run/ka.pid",
            "-c",
            "/run/kc.pid",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    // keepalived programs the services in file order, each with its real servers: it is
    // done when the file's last service (also the last key) has all of them. Polling
    // costs one small dump (one service's destinations) every 50 ms.
    while !last_service_complete(ipvs, &k.last) {
        assert!(Instant::now() < deadline, "keepalived never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ipvs.services().unwrap().len(), N_VS);
    let k_initial = t0.elapsed();
    println!(
        "ka-bench keepalived-initial total_ms={:.0} messages={} (one per service and destination)",
        ms(k_initial),
        N_VS * (N_RS + 1)
    );
    // Weight change through keepalived's reload (SIGHUP with the changed file).
    std::fs::copy("/tmp/b.conf", "/tmp/a.conf").unwrap();
    let t0 = Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(600);
    while first_weight(ipvs, k) != Some(9) {
        assert!(
            Instant::now() < deadline,
            "keepalived never applied the weight"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "ka-bench keepalived-weight total_ms={:.0} (reload of {changed})",
        ms(t0.elapsed())
    );
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `changes_sent` of the daemon's data plane (IPVS requests sent since its start), from
/// `keepalived-rs status --json`.
fn changes_sent() -> u64 {
    let out = std::process::Command::new("/keepalived-rs")
        .args(["status", "--json", "--control-socket", "/run/kr.sock"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    j["virtual_servers"]["changes_sent"]
        .as_u64()
        .unwrap_or_else(|| panic!("no changes_sent in {j}"))
}

/// The real daemon (`-C --lb-backend ipvs`): its start from nothing, then SIGHUP with one
/// weight changed, timed until the kernel shows it, with the requests it sent.
fn daemon(ipvs: &mut Ipvs, k: &Keys) {
    assert!(ipvs.services().unwrap().is_empty());
    let t0 = Instant::now();
    let log = std::fs::File::create("/tmp/kr.log").unwrap();
    let mut child = std::process::Command::new("/keepalived-rs")
        .args([
            "-C",
            "-n",
            "-l",
            "--lb-backend",
            "ipvs",
            "-f",
            "/tmp/a.conf",
        ])
        .args(["-p", "/run/kr.pid", "--control-socket", "/run/kr.sock"])
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !last_service_complete(ipvs, &k.last) {
        assert!(Instant::now() < deadline, "the daemon never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    let initial = t0.elapsed();
    while !Path::new("/run/kr.sock").exists() {
        assert!(Instant::now() < deadline, "no control socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent0 = changes_sent();
    // Where the start's time went: the daemon's own log (without the per-service lines).
    for l in std::fs::read_to_string("/tmp/kr.log")
        .unwrap_or_default()
        .lines()
    {
        if !l.contains("Starting with quorum") {
            println!("ka-bench-log {l}");
        }
    }
    println!(
        "ka-bench ours-daemon-initial total_ms={:.0} messages={sent0}",
        ms(initial)
    );
    std::fs::write("/tmp/a.conf", config(9)).unwrap();
    let t0 = Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status();
    while first_weight(ipvs, k) != Some(9) {
        assert!(
            Instant::now() < deadline,
            "the daemon never applied the weight"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = t0.elapsed();
    // The reload is applied when the weight shows; its requests are counted by then.
    let sent = changes_sent() - sent0;
    println!(
        "ka-bench ours-daemon-weight total_ms={:.0} messages={sent} (SIGHUP, file re-read)",
        ms(took)
    );
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        ipvs.services().unwrap().is_empty(),
        "the daemon left services behind"
    );
}

fn main() {
    if qemu::in_guest() {
        guest();
        return;
    }
    // `cargo bench` passes --bench; nothing else is accepted.
    let bin = qemu::stripped_self();
    // The daemon's part runs when bench/lb-apply names the release binary;
    // LB_APPLY_PARTS=library,keepalived,daemon picks parts (LB_APPLY_LOG=1: the daemon's log).
    let daemon = std::env::var_os("KA_RS_BIN").map(|p| qemu::stripped_copy(Path::new(&p)));
    let mut files = vec![
        (bin.clone(), "/ka-bench".to_string()),
        (
            Path::new("/usr/sbin/keepalived").into(),
            "/usr/sbin/keepalived".to_string(),
        ),
    ];
    if let Some(d) = &daemon {
        files.push((d.clone(), "/keepalived-rs".to_string()));
    }
    let parts: Vec<String> = match std::env::var("LB_APPLY_PARTS") {
        Ok(p) => p.split(',').map(str::to_string).collect(),
        Err(_) => ["library", "keepalived", "daemon"]
            .into_iter()
            .filter(|p| *p != "daemon" || daemon.is_some())
            .map(str::to_string)
            .collect(),
    };
    let mut table = Vec::new();
    let mut failed = false;
    for part in &parts {
        let run = qemu::boot(
            &files,
            &format!("{}=1 {PART}={part} /ka-bench", qemu::GUEST_ENV),
            Duration::from_secs(1800),
        );
        let lines: Vec<String> = run
            .serial
            .lines()
            .filter(|l| l.starts_with("ka-bench "))
            .map(|l| l.trim_start_matches("ka-bench ").to_string())
            .collect();
        if run.status != Some(0) || lines.len() != 2 {
            eprintln!("{part}:\n{}", run.serial);
            failed = true;
        }
        if std::env::var_os("LB_APPLY_LOG").is_some() {
            for l in run
                .serial
                .lines()
                .filter(|l| l.starts_with("ka-bench-log "))
            {
                eprintln!("{l}");
            }
        }
        table.extend(lines);
    }
    let _ = std::fs::remove_file(&bin);
    if let Some(d) = &daemon {
        let _ = std::fs::remove_file(d);
    }
    if failed {
        std::process::exit(1);
    }
    println!("lb-apply: {N_VS} virtual servers x {N_RS} real servers, Debian 6.1 kernel in qemu (TCG, 1 vCPU), a fresh guest for each");
    for l in table {
        println!("  {l}");
    }
}
