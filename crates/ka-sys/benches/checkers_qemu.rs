//! bench/checkers-qemu: keepalived 2.2.7's checker and keepalived-rs's side by side, in
//! the qemu guest of tests/qemu (the only place here where keepalived's checker runs: it
//! needs IPVS, which the host kernel lacks). Each contender gets a fresh guest booted from
//! the same image, the same configuration (N real servers behind TCP_CHECK and N behind
//! HTTP_GET, delay_loop 1 s, one nginx in the guest answering on every address) and the
//! same measuring window after a warm-up.
//!
//! Measured per contender, over the window: TCP connections opened per second (the
//! kernel's `ActiveOpens`: every probe is one, and nothing else in the guest connects),
//! CPU time of its processes (keepalived: the parent and its checker child; keepalived-rs:
//! its one process) as a share of the guest's one vCPU, resident memory, and how many real
//! servers the kernel's IPVS table holds at the end (all of them, if no probe failed).
//! The guest runs under TCG (no KVM here): absolute figures are far slower than on
//! hardware, so N is small; the columns are what to compare.
//!
//! `cargo bench -p ka-sys --bench checkers_qemu` with `KA_RS_BIN` naming the release
//! binary (bench/checkers-qemu does both). `CHECKERS_N` (real servers per checker kind,
//! default 100) and `CHECKERS_SECONDS` (window, default 20) set the size.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/qemu/mod.rs"]
mod qemu;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ka_sys::ipvs::Ipvs;

/// The guest's environment variables: the part to run, N, the window in seconds.
const PART: &str = "CHECKERS_PART";
const N: &str = "CHECKERS_N";
const SECONDS: &str = "CHECKERS_SECONDS";
/// Warm-up before the window: every checker has started (keepalived spreads the first
/// checks over delay_loop) and the warmup periods are over.
const WARMUP: Duration = Duration::from_secs(8);
/// Addresses per checker kind; real server i is address i % ADDRS + 1, port 8000 + i / ADDRS.
const ADDRS: usize = 50;

fn targets(prefix: &str, n: usize) -> Vec<(String, u16)> {
    (0..n)
        .map(|i| {
            (
                format!("{prefix}.{}", i % ADDRS + 1),
                8000 + u16::try_from(i / ADDRS).unwrap(),
            )
        })
        .collect()
}

fn ports(n: usize) -> std::ops::Range<u16> {
    8000..8000 + u16::try_from(n.div_ceil(ADDRS)).unwrap()
}

fn config(n: usize) -> String {
    let mut s = String::from("global_defs {\n    router_id BENCH\n}\n");
    s.push_str("virtual_server 192.0.2.100 80 {\n  delay_loop 1\n  protocol TCP\n");
    for (ip, port) in targets("203.0.113", n) {
        s.push_str(&format!(
            "  real_server {ip} {port} {{\n    TCP_CHECK {{\n      connect_timeout 3\n    }}\n  }}\n"
        ));
    }
    s.push_str("}\nvirtual_server 192.0.2.101 80 {\n  delay_loop 1\n  protocol TCP\n");
    for (ip, port) in targets("198.51.100", n) {
        s.push_str(&format!(
            "  real_server {ip} {port} {{\n    HTTP_GET {{\n      url {{\n        path /health\n        status_code 200\n      }}\n      connect_timeout 3\n    }}\n  }}\n"
        ));
    }
    s.push_str("}\n");
    s
}

fn nginx_config(n: usize) -> String {
    let listens: String = ports(n)
        .map(|p| format!("    listen {p} backlog=4096;\n"))
        .collect();
    format!(
        "daemon off;\nuser root root;\nworker_processes 1;\npid /tmp/ngx/nginx.pid;\n\
         error_log /tmp/ngx/error.log;\nevents {{ worker_connections 4096; }}\nhttp {{\n\
         access_log off;\n  client_body_temp_path /tmp/ngx/t;\n  proxy_temp_path /tmp/ngx/t;\n\
         fastcgi_temp_path /tmp/ngx/t;\n  uwsgi_temp_path /tmp/ngx/t;\n  scgi_temp_path /tmp/ngx/t;\n\
         server {{\n{listens}    location / {{ return 200 \"ok\\n\"; }}\n  }}\n}}\n"
    )
}

fn run(cmd: &str, args: &[&str]) {
    let st = Command::new(cmd).args(args).status().unwrap();
    assert!(st.success(), "{cmd} {args:?}: {st}");
}

/// `ActiveOpens` of /proc/net/snmp.
fn active_opens() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap();
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next().unwrap(), tcp.next().unwrap());
    let i = names
        .split_whitespace()
        .position(|n| n == "ActiveOpens")
        .unwrap();
    values.split_whitespace().nth(i).unwrap().parse().unwrap()
}

/// utime + stime of a process, in clock ticks (100 a second).
fn cpu_ticks(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    (f[11].parse().unwrap(), f[12].parse().unwrap())
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn pid_file(path: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(p) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return p;
        }
        assert!(Instant::now() < deadline, "{path} never written");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn in_table() -> usize {
    let mut ipvs = Ipvs::open().unwrap();
    ipvs.services()
        .unwrap()
        .iter()
        .map(|s| ipvs.dests(&s.key).map(|d| d.len()).unwrap_or(0))
        .sum()
}

/// Starts `prog` with its output discarded.
fn spawn_quiet(prog: &str, args: &[&str]) -> Child {
    Command::new(prog)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn guest() {
    let part = std::env::var(PART).expect("part");
    let n: usize = std::env::var(N).unwrap().parse().unwrap();
    let window = Duration::from_secs(std::env::var(SECONDS).unwrap().parse().unwrap());
    // nginx's and keepalived's user lookups.
    std::fs::write(
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .unwrap();
    std::fs::write("/etc/group", "root:x:0:\nnogroup:x:65534:\n").unwrap();
    run("ip", &["link", "set", "lo", "up"]);
    for prefix in ["203.0.113", "198.51.100"] {
        for h in 1..=ADDRS.min(n) {
            run(
                "ip",
                &["addr", "add", &format!("{prefix}.{h}/32"), "dev", "lo"],
            );
        }
    }
    std::fs::create_dir_all("/tmp/ngx/t").unwrap();
    std::fs::write("/tmp/ngx/nginx.conf", nginx_config(n)).unwrap();
    let nginx = spawn_quiet(
        "/usr/sbin/nginx",
        &[
            "-p",
            "/tmp/ngx/",
            "-c",
            "/tmp/ngx/nginx.conf",
            "-e",
            "/tmp/ngx/error.log",
        ],
    );
    std::thread::sleep(Duration::from_secs(1));
    std::fs::write("/tmp/c.conf", config(n)).unwrap();
    let (child, pids, log) = match part.as_str() {
        "keepalived" => {
            let c = spawn_quiet(
                "/usr/sbin/keepalived",
                &[
                    "-C",
                    "-n",
                    "-l",
                    "-f",
                    "/tmp/c.conf",
                    "-p",
                    "/run/ka.pid",
                    "-c",
                    "/run/kc.pid",
                ],
            );
            let pids = vec![c.id(), pid_file("/run/kc.pid")];
            (c, pids, None)
        }
        "daemon" => {
            let log = "/tmp/ka-rs.log";
            let c = Command::new("/keepalived-rs")
                .args([
                    "-C",
                    "-n",
                    "-l",
                    "-f",
                    "/tmp/c.conf",
                    "--lb-backend",
                    "ipvs",
                ])
                .env("KA_LOG", "info,keepalived_rs::check::stats=debug")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(log).unwrap())
                .spawn()
                .unwrap();
            let pids = vec![c.id()];
            (c, pids, Some(log))
        }
        _ => panic!("unknown part {part}"),
    };
    std::thread::sleep(WARMUP);
    let mark = log.map_or(0, |l| std::fs::read_to_string(l).unwrap().len());
    let c0: Vec<(u64, u64)> = pids.iter().map(|p| cpu_ticks(*p)).collect();
    let (o0, t0) = (active_opens(), Instant::now());
    std::thread::sleep(window);
    let c1: Vec<(u64, u64)> = pids.iter().map(|p| cpu_ticks(*p)).collect();
    let (o1, secs) = (active_opens(), t0.elapsed().as_secs_f64());
    let rss: u64 = pids.iter().map(|p| rss_kib(*p)).sum();
    let pct = |f: fn(&(u64, u64)) -> u64| {
        let d: u64 = c1.iter().zip(&c0).map(|(a, b)| f(a) - f(b)).sum();
        d as f64 / secs // ticks of 10 ms per second = % of the vCPU
    };
    let (user, sys) = (pct(|c| c.0), pct(|c| c.1));
    // keepalived-rs's own lateness figures (keepalived has none to show).
    let p99 = log.map_or(String::from("-"), |l| {
        let text = std::fs::read_to_string(l).unwrap();
        text[mark..]
            .lines()
            .filter_map(|l| l.split(", p99 ").nth(1))
            .filter_map(|r| r.split(' ').next()?.parse::<u64>().ok())
            .max()
            .map_or(String::from("-"), |us| format!("{:.1}", us as f64 / 1000.0))
    });
    println!(
        "ka-bench {part} probes_per_s={:.0} cpu={:.1} user={user:.1} sys={sys:.1} rss_mib={:.1} in_table={} p99_ms={p99}",
        (o1 - o0) as f64 / secs,
        user + sys,
        rss as f64 / 1024.0,
        in_table(),
    );
    stop(child);
    stop(nginx);
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or("?")
}

fn main() {
    if qemu::in_guest() {
        guest();
        return;
    }
    let n: usize = std::env::var(N)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let secs: u64 = std::env::var(SECONDS)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let bin = qemu::stripped_self();
    let daemon = qemu::stripped_copy(Path::new(
        &std::env::var_os("KA_RS_BIN")
            .expect("KA_RS_BIN: the keepalived-rs binary (bench/checkers-qemu sets it)"),
    ));
    let files = vec![
        (bin.clone(), "/ka-bench".to_string()),
        (
            Path::new("/usr/sbin/keepalived").into(),
            "/usr/sbin/keepalived".to_string(),
        ),
        (
            Path::new("/usr/sbin/nginx").into(),
            "/usr/sbin/nginx".to_string(),
        ),
        (daemon.clone(), "/keepalived-rs".to_string()),
    ];
    let mut lines = Vec::new();
    let mut failed = false;
    for part in ["keepalived", "daemon"] {
        let run = qemu::boot(
            &files,
            &format!(
                "{}=1 {PART}={part} {N}={n} {SECONDS}={secs} /ka-bench",
                qemu::GUEST_ENV
            ),
            Duration::from_secs(600),
        );
        match run.serial.lines().find(|l| l.starts_with("ka-bench ")) {
            Some(l) if run.status == Some(0) => lines.push(l.to_string()),
            _ => {
                eprintln!("{part}:\n{}", run.serial);
                failed = true;
            }
        }
    }
    let _ = std::fs::remove_file(&bin);
    let _ = std::fs::remove_file(&daemon);
    if failed {
        std::process::exit(1);
    }
    println!(
        "checkers-qemu: {n} TCP_CHECK + {n} HTTP_GET at delay_loop 1 s, {secs} s window after {} s, \
         Debian 6.1 kernel in qemu (TCG, 1 vCPU), a fresh guest for each, nginx in the guest",
        WARMUP.as_secs()
    );
    println!("| | keepalived 2.2.7 (parent + checker) | keepalived-rs |");
    println!("|---|---|---|");
    let row = |name: &str, key: &str| {
        println!(
            "| {name} | {} | {} |",
            field(&lines[0], key),
            field(&lines[1], key)
        );
    };
    row("TCP connections opened per second (probes)", "probes_per_s");
    row("CPU (% of the vCPU)", "cpu");
    row("  user", "user");
    row("  kernel", "sys");
    row("RSS (MiB)", "rss_mib");
    row(
        &format!("real servers in the IPVS table (of {})", 2 * n),
        "in_table",
    );
    row("p99 lateness of probe starts (ms)", "p99_ms");
}
