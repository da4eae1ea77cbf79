//! `keepalived-rs demo`: a two-node failover, built, shown and removed in one command.
//!
//! Network namespaces (names `kademo-PID-*`, so parallel runs never collide):
//!
//! ```text
//!   client 192.0.2.10 ─┐                      ┌─ 198.51.100.11 web1
//!   lb1    192.0.2.2  ─┤ br-front  (lan)  br-back ├─ 198.51.100.2  lb1
//!   lb2    192.0.2.3  ─┘  192.0.2.0/24  198.51.100.0/24 ├─ 198.51.100.3  lb2
//!          VIP 192.0.2.100                            └─ 198.51.100.12 web2
//! ```
//!
//! The `lan` namespace holds the two bridges; every other namespace reaches them through a
//! veth pair created directly inside the namespaces (nothing is ever added to the host's own
//! namespace). Each web back end is a thread of this process that entered its namespace and
//! answers HTTP with its name and the address the request came from (so the client sees
//! which balancer forwarded it). Two `keepalived-rs -n -l` daemons (this executable, under
//! `ip netns exec`) run the bundled `examples/demo/keepalived.conf` with `-i lb1` / `-i lb2`:
//! the VRRP instance, the HTTP_GET checks and the virtual server, balanced by their own
//! nftables data plane (`--lb-backend nftables`); the demo only adds forwarding and a
//! masquerade toward the back ends.
//!
//! Call order in [`run`]: refuse early (not root, `ip`/`nft` missing), sweep what a killed
//! earlier demo left, build, start the back ends, the forwarding and the daemons, wait for a
//! master, send requests, stop the master (`kill -9` plus pulled cables, or SIGTERM),
//! measure the take-over, send requests again, optionally wait for Ctrl-C (`--keep`), then
//! remove everything. [`Lab`] owns every namespace, process, thread and file the demo made
//! and removes them in its `Drop` too, so an error or a signal (SIGINT/SIGTERM/SIGHUP are
//! caught and turn into an orderly stop) never leaves anything behind.

use std::fmt;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The configuration both daemons run (`-i lb1` / `-i lb2`).
const CONF: &str = include_str!("../../../examples/demo/keepalived.conf");
/// The line of [`CONF`] that `--advert-int` replaces.
const ADVERT_LINE: &str = "$ADVERT_INT=1";
/// The virtual address (front LAN).
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
/// The client's address (front LAN).
const CLIENT_ADDR: &str = "192.0.2.10/24";
/// The backup's priority in [`CONF`] (it sets the skew time in the printed expectation).
const BACKUP_PRIORITY: u32 = 100;
/// Name prefix of every namespace and of the temporary directory.
const PREFIX: &str = "kademo-";

/// A load-balancer node: name, front address, back-end-LAN address.
struct Lb {
    name: &'static str,
    front: &'static str,
    back: &'static str,
}

const LBS: [Lb; 2] = [
    Lb {
        name: "lb1",
        front: "192.0.2.2/24",
        back: "198.51.100.2/24",
    },
    Lb {
        name: "lb2",
        front: "192.0.2.3/24",
        back: "198.51.100.3/24",
    },
];

/// The web back ends: name and address (the real servers of [`CONF`]).
const WEBS: [(&str, &str); 2] = [("web1", "198.51.100.11/24"), ("web2", "198.51.100.12/24")];

/// How the master is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StopHow {
    /// `kill -9` its keepalived-rs and pull its cables (a crashed node).
    Kill,
    /// SIGTERM: keepalived-rs sends a priority-0 advert and removes the VIP.
    Sigterm,
}

/// `keepalived-rs demo`'s options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// VRRP advertisement interval in seconds (0.01 to 40.95); the take-over after a crash
    /// takes about 3.6 of them.
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = parse_advert_int)]
    advert_int: AdvertCs,
    /// How the master is stopped.
    #[arg(long, value_enum, default_value_t = StopHow::Kill)]
    stop: StopHow,
    /// Requests sent by the client before and after the failover.
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    requests: u32,
    /// Leave everything running after the failover until Ctrl-C (prints commands to explore).
    #[arg(long)]
    keep: bool,
}

/// An advertisement interval in centiseconds (VRRPv3's unit), 1..=4095.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvertCs(u32);

impl AdvertCs {
    fn duration(self) -> Duration {
        Duration::from_millis(u64::from(self.0) * 10)
    }
}

impl fmt::Display for AdvertCs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 % 100 {
            0 => write!(f, "{}", self.0 / 100),
            cs if cs % 10 == 0 => write!(f, "{}.{}", self.0 / 100, cs / 10),
            cs => write!(f, "{}.{cs:02}", self.0 / 100),
        }
    }
}

/// Parses `--advert-int` (seconds, at most two decimals, 0.01..=40.95).
pub fn parse_advert_int(s: &str) -> std::result::Result<AdvertCs, String> {
    let bad = || format!("{s:?}: expected seconds from 0.01 to 40.95 (e.g. 1, 0.1)");
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > 2 {
        return Err(bad());
    }
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) || int.len() > 2 {
        return Err(bad());
    }
    let int: u32 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let frac: u32 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    let cs = int * 100 + frac;
    if (1..=4095).contains(&cs) {
        Ok(AdvertCs(cs))
    } else {
        Err(bad())
    }
}

/// keepalived's Master_Down_Interval (RFC 5798 6.1) and skew time for the backup.
fn master_down(adv: AdvertCs) -> (Duration, Duration) {
    let adv = adv.duration();
    let skew = adv * (256 - BACKUP_PRIORITY) / 256;
    (adv * 3 + skew, skew)
}

/// Why the demo stopped early.
#[derive(Debug)]
enum Error {
    /// SIGINT, SIGTERM or SIGHUP.
    Interrupted,
    /// Something failed; the message says what.
    Failed(String),
}

type Result<T> = std::result::Result<T, Error>;

fn fail(msg: impl Into<String>) -> Error {
    Error::Failed(msg.into())
}

/// Runs the demo; exit status 0 after a complete run (or `--keep` ended by Ctrl-C), 1 on
/// failure, 130 when interrupted.
pub fn run(args: &Args) -> ExitCode {
    let stop = match watch_signals() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("keepalived-rs demo: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = preflight() {
        eprintln!("keepalived-rs demo: {e}");
        return ExitCode::from(1);
    }
    sweep_leftovers();
    let mut lab = Lab::new();
    let result = demo(&mut lab, args, &stop);
    let interrupted = stop.load(Ordering::SeqCst);
    if interrupted {
        println!("interrupted: cleaning up");
    }
    let summary = lab.teardown();
    println!("{summary}");
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A signal makes running commands fail too: report the signal, not their errors.
        Err(_) if interrupted => {
            if args.keep && lab.failover_done {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(130)
            }
        }
        Err(Error::Interrupted) => ExitCode::from(130),
        Err(Error::Failed(msg)) => {
            eprintln!("keepalived-rs demo: {msg}");
            ExitCode::from(1)
        }
    }
}

/// Catches SIGINT, SIGTERM and SIGHUP for the whole process; the flag turns true at the
/// first one (later ones are ignored, so a second Ctrl-C cannot cut the clean-up short).
fn watch_signals() -> std::result::Result<Arc<AtomicBool>, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let flag = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the signal watcher: {e}"))?;
    let streams = {
        let _guard = rt.enter();
        [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::hangup(),
        ]
        .map(signal)
    };
    let [int, term, hup] = streams;
    let (mut int, mut term, mut hup) = (
        int.map_err(|e| format!("cannot catch SIGINT: {e}"))?,
        term.map_err(|e| format!("cannot catch SIGTERM: {e}"))?,
        hup.map_err(|e| format!("cannot catch SIGHUP: {e}"))?,
    );
    let f = flag.clone();
    std::thread::Builder::new()
        .name("demo-signals".into())
        .spawn(move || {
            rt.block_on(async move {
                loop {
                    let got = tokio::select! {
                        r = int.recv() => r,
                        r = term.recv() => r,
                        r = hup.recv() => r,
                    };
                    if got.is_none() {
                        break;
                    }
                    f.store(true, Ordering::SeqCst);
                }
            });
        })
        .map_err(|e| format!("cannot start the signal watcher: {e}"))?;
    Ok(flag)
}

/// Refuses to start without root or without `ip` / `nft`, naming what is missing.
fn preflight() -> std::result::Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root: it creates network namespaces (run it with sudo)".into());
    }
    for (prog, pkg) in [("ip", "iproute2"), ("nft", "nftables")] {
        match Command::new(prog)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "`{prog}` not found: install the Debian package {pkg}"
                ))
            }
            Err(e) => return Err(format!("cannot run {prog}: {e}")),
        }
    }
    Ok(())
}

/// Removes what an earlier demo left when it was killed with SIGKILL (its process is gone):
/// its daemons, namespaces and directory. Only names `kademo-PID...` with a dead PID.
fn sweep_leftovers() {
    let dead = |name: &str| -> Option<String> {
        let rest = name.strip_prefix(PREFIX)?;
        let pid = rest.split('-').next()?;
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let alive = Path::new("/proc").join(pid).exists();
        (!alive).then(|| format!("{PREFIX}{pid}"))
    };
    let mut tags: Vec<String> = Vec::new();
    for dir in ["/run/netns".into(), std::env::temp_dir()] {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                if let Some(tag) = dead(&e.file_name().to_string_lossy()) {
                    if !tags.contains(&tag) {
                        tags.push(tag);
                    }
                }
            }
        }
    }
    for tag in tags {
        let dir = std::env::temp_dir().join(&tag);
        let killed = kill_daemons_of(&dir);
        let mut gone = 0;
        if let Ok(rd) = std::fs::read_dir("/run/netns") {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(&format!("{tag}-")) && ip(&["netns", "del", &n]).is_ok() {
                    gone += 1;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        println!(
            "removed what a killed earlier demo left ({tag}): {gone} namespace(s), {killed} daemon(s)"
        );
    }
}

/// SIGKILLs the daemons whose command line names `dir` (the demo's configuration lives
/// there, so nothing else matches).
fn kill_daemons_of(dir: &Path) -> usize {
    let needle = format!("{}/", dir.display());
    let mut n = 0;
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmd).contains(&needle)
            && nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            )
            .is_ok()
        {
            n += 1;
        }
    }
    n
}

// --- running commands -------------------------------------------------------------------------

/// Runs `prog args` (stdin from `input`), returns stdout; an error carries stderr.
fn cmd_in(prog: &str, args: &[&str], input: Option<&str>) -> Result<String> {
    let mut c = Command::new(prog);
    c.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .map_err(|e| fail(format!("cannot run {prog}: {e}")))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| fail(format!("{prog}: writing its input: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("{prog}: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(fail(format!(
            "`{prog} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn ip(args: &[&str]) -> Result<String> {
    cmd_in("ip", args, None)
}

/// `ip netns exec NS prog args`.
fn ns_exec(ns: &str, prog: &str, args: &[&str], input: Option<&str>) -> Result<String> {
    let mut all = vec!["netns", "exec", ns, prog];
    all.extend_from_slice(args);
    cmd_in("ip", &all, input)
}

/// Runs `f` on a thread inside namespace `ns` (only that thread moves).
fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            ka_sys::netns::enter_named(ns)
                .map_err(|e| fail(format!("cannot enter namespace {ns}: {e}")))?;
            Ok(f())
        })
        .join()
        .map_err(|_| fail(format!("a thread in namespace {ns} panicked")))?
    })
}

/// Sleeps `d`, waking early (with [`Error::Interrupted`]) on a signal.
fn sleep(stop: &AtomicBool, d: Duration) -> Result<()> {
    let end = Instant::now() + d;
    loop {
        if stop.load(Ordering::SeqCst) {
            return Err(Error::Interrupted);
        }
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(10)));
    }
}

fn check(stop: &AtomicBool) -> Result<()> {
    if stop.load(Ordering::SeqCst) {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

// --- the lab: everything the demo made ---------------------------------------------------------

/// A keepalived-rs started by the demo.
struct Node {
    name: &'static str,
    child: Child,
    log: PathBuf,
    /// Stopped on purpose (its exit is not an error).
    stopped: bool,
}

/// Owns every namespace, daemon, server thread and file of the demo; removes them (in
/// that order) in [`Lab::teardown`], which `Drop` calls too.
struct Lab {
    tag: String,
    dir: PathBuf,
    stop_servers: Arc<AtomicBool>,
    /// Set: web2 answers every request with 503 (the demo's back-end failure).
    web2_failing: Arc<AtomicBool>,
    servers: Vec<JoinHandle<()>>,
    nodes: Vec<Node>,
    namespaces: Vec<String>,
    failover_done: bool,
}

impl Lab {
    fn new() -> Lab {
        let tag = format!("{PREFIX}{}", std::process::id());
        Lab {
            dir: std::env::temp_dir().join(&tag),
            tag,
            stop_servers: Arc::new(AtomicBool::new(false)),
            web2_failing: Arc::new(AtomicBool::new(false)),
            servers: Vec::new(),
            nodes: Vec::new(),
            namespaces: Vec::new(),
            failover_done: false,
        }
    }

    /// The full name of namespace `short` (`kademo-PID-short`).
    fn ns(&self, short: &str) -> String {
        format!("{}-{short}", self.tag)
    }

    fn add_ns(&mut self, short: &str) -> Result<()> {
        let name = self.ns(short);
        ip(&["netns", "add", &name])?;
        self.namespaces.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        Ok(())
    }

    fn node(&mut self, name: &str) -> Result<&mut Node> {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .ok_or_else(|| fail(format!("no daemon for {name}")))
    }

    /// An error when a daemon that should run has exited (with the end of its log).
    fn check_daemons(&mut self) -> Result<()> {
        for n in &mut self.nodes {
            if n.stopped {
                continue;
            }
            if let Ok(Some(st)) = n.child.try_wait() {
                return Err(fail(format!(
                    "keepalived-rs on {} exited ({st}); the end of {}:\n{}",
                    n.name,
                    n.log.display(),
                    log_tail(&n.log)
                )));
            }
        }
        Ok(())
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- {} ---\n{}", n.log.display(), log_tail(&n.log)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Removes everything; returns what it did, in one line. Safe to call twice.
    fn teardown(&mut self) -> String {
        self.stop_servers.store(true, Ordering::SeqCst);
        let servers = self.servers.len();
        for h in self.servers.drain(..) {
            let _ = h.join();
        }
        let mut daemons = 0;
        for mut n in self.nodes.drain(..) {
            if let Ok(None) = n.child.try_wait() {
                let _ = n.child.kill();
            }
            let _ = n.child.wait();
            daemons += 1;
        }
        let mut problems = Vec::new();
        let total = self.namespaces.len();
        while let Some(ns) = self.namespaces.pop() {
            if let Err(Error::Failed(e)) = ip(&["netns", "del", &ns]) {
                problems.push(e);
            }
        }
        let dir = if self.dir.exists() {
            match std::fs::remove_dir_all(&self.dir) {
                Ok(()) => format!(", {}", self.dir.display()),
                Err(e) => {
                    problems.push(format!("cannot remove {}: {e}", self.dir.display()));
                    String::new()
                }
            }
        } else {
            String::new()
        };
        let mut s = format!(
            "cleaned up: {daemons} daemons, {servers} web servers, {} namespaces (with their bridges and veths){dir}",
            total - problems.len().min(total)
        );
        for p in problems {
            s.push_str(&format!("\n  warning: {p}"));
        }
        s
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.teardown();
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

// --- the demo ----------------------------------------------------------------------------------

fn demo(lab: &mut Lab, args: &Args, stop: &AtomicBool) -> Result<()> {
    let adv = args.advert_int;
    println!(
        "keepalived-rs demo: lb1 and lb2 share the VIP {VIP} in front of web1 and web2 \
         (advert_int {adv} s, master stopped with {})",
        match args.stop {
            StopHow::Kill => "kill -9",
            StopHow::Sigterm => "SIGTERM",
        }
    );
    build(lab, stop)?;
    println!(
        "  namespaces {}-{{lan,lb1,lb2,web1,web2,client}}: front LAN 192.0.2.0/24, back-end LAN 198.51.100.0/24",
        lab.tag
    );
    for (name, addr) in WEBS {
        start_server(lab, name, addr)?;
    }
    set_up_forwarding(lab)?;
    check(stop)?;
    let conf = start_daemons(lab, adv)?;
    println!(
        "  lb1, lb2: keepalived-rs -n -l --lb-backend nftables -f {} -i lb1|lb2 (logs beside it): VRRP, HTTP_GET checks of web1/web2, and VIP:80 balanced over them",
        conf.display()
    );

    // Election.
    let started = Instant::now();
    let limit = adv.duration() * 10 + Duration::from_secs(10);
    let master = loop {
        lab.check_daemons()?;
        let holders = vip_holders(lab)?;
        if let [one] = holders.as_slice() {
            break *one;
        }
        if started.elapsed() > limit {
            return Err(fail(format!(
                "no single master after {} (VIP on {holders:?})\n{}",
                secs(limit),
                lab.logs()
            )));
        }
        sleep(stop, Duration::from_millis(10))?;
    };
    let backup = if master == "lb1" { "lb2" } else { "lb1" };
    println!(
        "VIP {VIP} is on {master} ({} after start; `ip -j addr` in {backup} does not show it): {master} is master, {backup} backup",
        secs(started.elapsed())
    );
    // One advert interval: the backup has heard the master at least once.
    sleep(stop, adv.duration() + Duration::from_millis(50))?;
    let client = lab.ns("client");
    let answers = requests(&client, args.requests, stop)?;
    println!("{}", describe(args.requests, &answers));
    if !answers.iter().any(|a| a.is_ok()) {
        return Err(fail(format!("no request answered through {master}")));
    }
    lab.check_daemons()?;

    // Failover.
    let (down, skew) = master_down(adv);
    let t0 = match args.stop {
        StopHow::Kill => {
            println!(
                "{master} crashes: kill -9 of its keepalived-rs, and its cables are pulled \
                 (kill -9 alone would leave the VIP configured on {master})"
            );
            let lan = lab.ns("lan");
            let node = lab.node(master)?;
            node.stopped = true;
            let t0 = Instant::now();
            node.child
                .kill()
                .map_err(|e| fail(format!("kill -9 of {master}'s keepalived-rs: {e}")))?;
            for side in ["front", "back"] {
                ip(&[
                    "-n",
                    &lan,
                    "link",
                    "set",
                    &format!("{master}-{side}"),
                    "down",
                ])?;
            }
            t0
        }
        StopHow::Sigterm => {
            println!(
                "{master} stops: SIGTERM to its keepalived-rs (it sends a priority-0 advert and removes the VIP)"
            );
            let node = lab.node(master)?;
            node.stopped = true;
            let pid = i32::try_from(node.child.id())
                .map_err(|_| fail("the daemon's pid does not fit a pid_t"))?;
            let t0 = Instant::now();
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            )
            .map_err(|e| fail(format!("SIGTERM to {master}'s keepalived-rs: {e}")))?;
            t0
        }
    };
    let limit = down + Duration::from_secs(15);
    let backup_ns = lab.ns(backup);
    let (vip_at, first) = std::thread::scope(|s| -> Result<_> {
        let prober = s.spawn(|| probe(&client, backup, t0, limit, stop));
        let vip_at = loop {
            if has_vip(&backup_ns)? {
                break Some(t0.elapsed());
            }
            if t0.elapsed() > limit || stop.load(Ordering::SeqCst) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let first = prober
            .join()
            .map_err(|_| fail("the client thread panicked"))??;
        Ok((vip_at, first))
    })?;
    check(stop)?;
    if args.stop == StopHow::Sigterm {
        let node = lab.node(master)?;
        let exited = wait_exit(&mut node.child, Duration::from_secs(5));
        println!(
            "  {master}'s keepalived-rs exited ({}); VIP on {master}: {}",
            exited.map_or("still running after 5 s".into(), |s| s.to_string()),
            if has_vip(&lab.ns(master))? {
                "still there"
            } else {
                "removed"
            }
        );
    }
    let Some(vip_at) = vip_at else {
        return Err(fail(format!(
            "{backup} did not take the VIP within {}\n{}",
            secs(limit),
            lab.logs()
        )));
    };
    match args.stop {
        StopHow::Kill => println!(
            "  VIP on {backup} {} after the kill (expected {}..{}: keepalived's Master_Down_Interval, \
             3 x {adv} s + skew {}, counts from {master}'s last advert, 0..{adv} s before the kill)",
            secs(vip_at),
            secs(down.saturating_sub(adv.duration())),
            secs(down),
            secs(skew),
        ),
        StopHow::Sigterm => println!(
            "  VIP on {backup} {} after the SIGTERM (keepalived's timing: on a priority-0 advert the backup waits its skew time, {})",
            secs(vip_at),
            secs(skew)
        ),
    }
    let Some((first_at, ans)) = &first.first else {
        return Err(fail(format!(
            "no answer through {backup} within {} of the stop\n{}",
            secs(limit),
            lab.logs()
        )));
    };
    let mut before = Vec::new();
    if first.failed > 0 {
        before.push(format!("{} failed", first.failed));
    }
    if first.through_old > 0 {
        before.push(format!(
            "{} answered through {master} while it still held the VIP",
            first.through_old
        ));
    }
    println!(
        "  first answer through {backup} {} after the {} (from {}; requests every 50 ms{}{})",
        secs(*first_at),
        if args.stop == StopHow::Kill {
            "kill"
        } else {
            "SIGTERM"
        },
        ans.backend,
        if before.is_empty() {
            ""
        } else {
            ", before it: "
        },
        before.join(", ")
    );
    lab.check_daemons()?;
    println!("new master: {backup}");
    let answers = requests(&client, args.requests, stop)?;
    println!("{}", describe(args.requests, &answers));
    if !answers
        .iter()
        .any(|a| a.as_ref().is_ok_and(|a| a.via == backup))
    {
        return Err(fail(format!(
            "no request answered through the new master {backup}"
        )));
    }
    backend_failure(lab, &client, backup, args.requests, stop)?;
    lab.failover_done = true;
    if args.keep {
        keep(lab, backup, stop)?;
    }
    Ok(())
}

/// web2 starts failing (503): the master's HTTP_GET takes it out of the virtual server and
/// every request goes to web1; web2 recovers and is put back. Times are from the change of
/// web2 to the first of 4 requests in a row that show it (the checker's delay_loop 1 s and
/// retry bound them).
fn backend_failure(lab: &Lab, client: &str, master: &str, n: u32, stop: &AtomicBool) -> Result<()> {
    let limit = Duration::from_secs(20);
    let wait_for = |want: &dyn Fn(&[Reply]) -> bool| -> Result<Option<Duration>> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if want(&requests(client, 4, stop)?) {
                return Ok(Some(t0.elapsed()));
            }
            sleep(stop, Duration::from_millis(100))?;
        }
        Ok(None)
    };
    let is = |a: &Reply, who: &str| a.as_ref().is_ok_and(|a| a.backend == who);
    println!("web2 fails: from now on it answers every request with 503");
    lab.web2_failing.store(true, Ordering::SeqCst);
    let Some(out) = wait_for(&|a| a.iter().all(|a| is(a, "web1")))? else {
        return Err(fail(format!(
            "web2 still gets requests {} after it failed\n{}",
            secs(limit),
            lab.logs()
        )));
    };
    println!(
        "  {master}'s HTTP_GET took web2 out of the virtual server: only web1 answers {} later \
         (delay_loop 1 s, then retry 1 after delay_before_retry 1 s: two failed attempts)",
        secs(out)
    );
    let answers = requests(client, n, stop)?;
    println!("{}", describe(n, &answers));
    println!("web2 recovers");
    lab.web2_failing.store(false, Ordering::SeqCst);
    let Some(back) = wait_for(&|a| a.iter().any(|a| is(a, "web2")))? else {
        return Err(fail(format!(
            "web2 not back {} after it recovered\n{}",
            secs(limit),
            lab.logs()
        )));
    };
    println!(
        "  web2 put back by {master}'s HTTP_GET: it answers again {} later (as in keepalived, \
         a failed HTTP_GET is probed every max(delay_loop, delay_before_retry) and is up again \
         after a full pass of its URLs)",
        secs(back)
    );
    Ok(())
}

/// Namespaces, bridges, veths, addresses.
fn build(lab: &mut Lab, stop: &AtomicBool) -> Result<()> {
    for short in ["lan", "lb1", "lb2", "web1", "web2", "client"] {
        lab.add_ns(short)?;
        check(stop)?;
    }
    let lan = lab.ns("lan");
    for br in ["br-front", "br-back"] {
        // No multicast snooping: VRRP's 224.0.0.18 reaches every port.
        ip(&[
            "-n",
            &lan,
            "link",
            "add",
            br,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        ip(&["-n", &lan, "link", "set", br, "up"])?;
    }
    // (node, its interface, the port in `lan`, bridge, address)
    let mut links: Vec<(&str, &str, String, &str, &str)> = Vec::new();
    for lb in &LBS {
        links.push((
            lb.name,
            "eth0",
            format!("{}-front", lb.name),
            "br-front",
            lb.front,
        ));
        links.push((
            lb.name,
            "eth1",
            format!("{}-back", lb.name),
            "br-back",
            lb.back,
        ));
    }
    for (name, addr) in WEBS {
        links.push((name, "eth0", name.to_string(), "br-back", addr));
    }
    links.push(("client", "eth0", "client".into(), "br-front", CLIENT_ADDR));
    for (node, ifname, port, br, addr) in links {
        check(stop)?;
        let ns = lab.ns(node);
        ip(&[
            "-n", &lan, "link", "add", &port, "type", "veth", "peer", "name", ifname, "netns", &ns,
        ])?;
        ip(&["-n", &lan, "link", "set", &port, "master", br, "up"])?;
        ip(&["-n", &ns, "addr", "add", addr, "dev", ifname])?;
        ip(&["-n", &ns, "link", "set", ifname, "up"])?;
    }
    Ok(())
}

/// A web back end: a thread in namespace `name` answering HTTP on port 80 with its name and
/// the address the request came from.
fn start_server(lab: &mut Lab, name: &'static str, addr: &str) -> Result<()> {
    let ns = lab.ns(name);
    let stop = lab.stop_servers.clone();
    let failing = if name == "web2" {
        lab.web2_failing.clone()
    } else {
        Arc::new(AtomicBool::new(false))
    };
    let (tx, rx) = mpsc::channel();
    let h = std::thread::Builder::new()
        .name(format!("demo-{name}"))
        .spawn(move || {
            let listener = ka_sys::netns::enter_named(&ns)
                .map_err(|e| format!("cannot enter namespace {ns}: {e}"))
                .and_then(|()| {
                    let l = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 80))
                        .map_err(|e| format!("{name}: cannot listen on port 80: {e}"))?;
                    l.set_nonblocking(true)
                        .map_err(|e| format!("{name}: {e}"))?;
                    Ok(l)
                });
            match listener {
                Ok(l) => {
                    let _ = tx.send(Ok(()));
                    serve(&l, name, &stop, &failing);
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })
        .map_err(|e| fail(format!("cannot start {name}: {e}")))?;
    lab.servers.push(h);
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(())) => {
            println!(
                "  {name} ({}): HTTP server on port 80, answers \"served by {name} to <address it sees>\"",
                addr.split('/').next().unwrap_or(addr)
            );
            Ok(())
        }
        Ok(Err(e)) => Err(fail(e)),
        Err(_) => Err(fail(format!("{name} did not start"))),
    }
}

fn serve(l: &TcpListener, name: &str, stop: &AtomicBool, failing: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match l.accept() {
            Ok((s, peer)) => {
                let _ = answer(s, peer, name, failing.load(Ordering::SeqCst));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// One HTTP/1.0 exchange: 200 with "served by NAME to PEER", or 503 while `failing`.
fn answer(mut s: TcpStream, peer: SocketAddr, name: &str, failing: bool) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while req.len() < 8192 && !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let (status, body) = if failing {
        ("503 Service Unavailable", format!("{name} is failing\n"))
    } else {
        ("200 OK", format!("served by {name} to {}\n", peer.ip()))
    };
    write!(
        s,
        "HTTP/1.0 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The balancers forward (ip_forward) and masquerade what they send to the back-end LAN: a
/// topology choice of the demo, so the back ends need no route back to the client and each
/// answer names the balancer it came through. The balancing itself (DNAT of VIP:80 to the
/// real servers, by weight, only to servers whose HTTP_GET passes) is keepalived-rs's own
/// data plane, programmed from `virtual_server` (nftables table `inet keepalived_rs`).
fn set_up_forwarding(lab: &Lab) -> Result<()> {
    let ruleset = "table ip keepalived_rs_demo {\n\
         \tchain postrouting {\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\toifname \"eth1\" ip daddr 198.51.100.0/24 masquerade\n\
         \t}\n\
         }\n";
    for lb in &LBS {
        let ns = lab.ns(lb.name);
        ns_exec(&ns, "sysctl", &["-qw", "net.ipv4.ip_forward=1"], None)?;
        ns_exec(&ns, "nft", &["-f", "-"], Some(ruleset))?;
    }
    Ok(())
}

/// Writes the configuration (with `--advert-int`) and starts keepalived-rs on lb1 and lb2.
fn start_daemons(lab: &mut Lab, adv: AdvertCs) -> Result<PathBuf> {
    std::fs::create_dir_all(&lab.dir)
        .map_err(|e| fail(format!("cannot create {}: {e}", lab.dir.display())))?;
    if !CONF.contains(ADVERT_LINE) {
        return Err(fail(format!(
            "the bundled configuration lacks {ADVERT_LINE}"
        )));
    }
    let conf = lab.dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        CONF.replace(ADVERT_LINE, &format!("$ADVERT_INT={adv}")),
    )
    .map_err(|e| fail(format!("cannot write {}: {e}", conf.display())))?;
    let exe =
        std::env::current_exe().map_err(|e| fail(format!("cannot find this executable: {e}")))?;
    for lb in &LBS {
        let log = lab.dir.join(format!("{}.log", lb.name));
        let log_file = std::fs::File::create(&log)
            .map_err(|e| fail(format!("cannot create {}: {e}", log.display())))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &lab.ns(lb.name)])
            .arg(&exe)
            .args(["-n", "-l", "--lb-backend", "nftables", "-f"])
            .arg(&conf)
            .args(["-i", lb.name, "-p"])
            .arg(lab.dir.join(format!("{}.pid", lb.name)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            // Its own process group: Ctrl-C reaches the demo only, which stops it.
            .process_group(0)
            .spawn()
            .map_err(|e| fail(format!("cannot start keepalived-rs on {}: {e}", lb.name)))?;
        // `ip netns exec` execs the program: this PID is the daemon's.
        lab.nodes.push(Node {
            name: lb.name,
            child,
            log,
            stopped: false,
        });
    }
    Ok(conf)
}

/// Whether the VIP is on eth0 in namespace `ns`, from `ip -j addr`.
fn has_vip(ns: &str) -> Result<bool> {
    let out = ip(&["-n", ns, "-j", "addr", "show", "dev", "eth0"])?;
    let v: serde_json::Value = serde_json::from_str(&out)
        .map_err(|e| fail(format!("cannot read `ip -j addr` output: {e}")))?;
    let vip = VIP.to_string();
    Ok(v.as_array().into_iter().flatten().any(|link| {
        link["addr_info"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["local"].as_str() == Some(&vip))
    }))
}

fn vip_holders(lab: &Lab) -> Result<Vec<&'static str>> {
    let mut v = Vec::new();
    for lb in &LBS {
        if has_vip(&lab.ns(lb.name))? {
            v.push(lb.name);
        }
    }
    Ok(v)
}

/// One answer: the back end and the balancer that forwarded the request.
#[derive(Debug, Clone)]
struct Answer {
    backend: String,
    via: String,
}

/// One request's outcome: the answer, or why there was none.
type Reply = std::result::Result<Answer, String>;

/// `GET http://VIP/` from the current namespace.
fn http_get(connect: Duration, io: Duration) -> Reply {
    let mut s = TcpStream::connect_timeout(&SocketAddr::from((VIP, 80)), connect)
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(io)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(io)).map_err(|e| e.to_string())?;
    s.write_all(format!("GET / HTTP/1.0\r\nHost: {VIP}\r\n\r\n").as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut resp = Vec::new();
    s.take(8192)
        .read_to_end(&mut resp)
        .map_err(|e| format!("receive: {e}"))?;
    let resp = String::from_utf8_lossy(&resp);
    let (head, body) = resp
        .split_once("\r\n\r\n")
        .ok_or_else(|| "no HTTP response".to_string())?;
    if !head.starts_with("HTTP/1.0 200") {
        return Err(format!(
            "HTTP status {:?}",
            head.lines().next().unwrap_or("")
        ));
    }
    let (backend, from) = body
        .trim()
        .strip_prefix("served by ")
        .and_then(|r| r.split_once(" to "))
        .ok_or_else(|| format!("unexpected answer {body:?}"))?;
    let via = LBS
        .iter()
        .find(|lb| lb.back.split('/').next() == Some(from))
        .map_or_else(|| from.to_string(), |lb| lb.name.to_string());
    Ok(Answer {
        backend: backend.to_string(),
        via,
    })
}

/// `n` requests from the client, one after the other.
fn requests(client: &str, n: u32, stop: &AtomicBool) -> Result<Vec<Reply>> {
    in_ns(client, || {
        let mut v = Vec::new();
        for _ in 0..n {
            if stop.load(Ordering::SeqCst) {
                return Err(Error::Interrupted);
            }
            v.push(http_get(Duration::from_secs(2), Duration::from_secs(2)));
        }
        Ok(v)
    })?
}

/// "N requests ...: web1 5, web2 5, all through lb1".
fn describe(n: u32, answers: &[Reply]) -> String {
    let mut backends: Vec<(String, u32)> = Vec::new();
    let mut vias: Vec<(String, u32)> = Vec::new();
    let mut errors: Vec<&str> = Vec::new();
    let bump = |v: &mut Vec<(String, u32)>, k: &str| match v.iter_mut().find(|(x, _)| x == k) {
        Some((_, c)) => *c += 1,
        None => v.push((k.to_string(), 1)),
    };
    for a in answers {
        match a {
            Ok(a) => {
                bump(&mut backends, &a.backend);
                bump(&mut vias, &a.via);
            }
            Err(e) => errors.push(e),
        }
    }
    backends.sort();
    vias.sort();
    let list = |v: &[(String, u32)]| {
        v.iter()
            .map(|(k, c)| format!("{k} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = format!("{n} requests from the client to http://{VIP}/: ");
    if backends.is_empty() {
        s.push_str("no answer");
    } else {
        s.push_str(&format!("answered by {}", list(&backends)));
        match vias.as_slice() {
            [(one, _)] => s.push_str(&format!(", all through {one}")),
            more => s.push_str(&format!(", through {}", list(more))),
        }
    }
    if let Some(e) = errors.first() {
        s.push_str(&format!("; {} failed (first: {e})", errors.len()));
    }
    s
}

/// What the client saw from the stop of the master to its first answer through the new one.
#[derive(Debug, Default)]
struct Probe {
    /// When the first answer through the new master came, and the answer.
    first: Option<(Duration, Answer)>,
    /// Earlier answers through another balancer (the old master still holding the VIP).
    through_old: u32,
    /// Earlier requests that failed (no connection within 50 ms, or no answer).
    failed: u32,
}

/// Requests from the client from `t0` on, a new one at least every 50 ms, until one is
/// answered through `new_master` (or `limit` passes).
fn probe(
    client: &str,
    new_master: &str,
    t0: Instant,
    limit: Duration,
    stop: &AtomicBool,
) -> Result<Probe> {
    in_ns(client, || {
        let mut p = Probe::default();
        while !stop.load(Ordering::SeqCst) && t0.elapsed() <= limit {
            let tried = Instant::now();
            match http_get(Duration::from_millis(50), Duration::from_millis(500)) {
                Ok(a) if a.via == new_master => {
                    p.first = Some((t0.elapsed(), a));
                    break;
                }
                Ok(_) => p.through_old += 1,
                Err(_) => p.failed += 1,
            }
            let spent = tried.elapsed();
            if spent < Duration::from_millis(50) {
                std::thread::sleep(Duration::from_millis(50) - spent);
            }
        }
        p
    })
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// `--keep`: prints how to look around, then waits for Ctrl-C.
fn keep(lab: &mut Lab, master: &str, stop: &AtomicBool) -> Result<()> {
    let (client, m) = (lab.ns("client"), lab.ns(master));
    println!("left running until Ctrl-C; to look around:");
    println!("  ip netns exec {client} curl -s http://{VIP}/");
    println!("  ip -n {m} addr show dev eth0");
    println!("  ip netns exec {m} nft list ruleset");
    println!("  ip netns exec {m} tcpdump -ni eth0 vrrp");
    println!("  tail -f {}/{master}.log", lab.dir.display());
    loop {
        lab.check_daemons()?;
        sleep(stop, Duration::from_millis(200))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advert_int_parses_like_keepalived_v3() {
        assert_eq!(parse_advert_int("1"), Ok(AdvertCs(100)));
        assert_eq!(parse_advert_int("0.1"), Ok(AdvertCs(10)));
        assert_eq!(parse_advert_int(".05"), Ok(AdvertCs(5)));
        assert_eq!(parse_advert_int("40.95"), Ok(AdvertCs(4095)));
        for bad in ["0", "0.001", "41", "-1", "", ".", "1e2", "abc", "100"] {
            assert!(parse_advert_int(bad).is_err(), "{bad} accepted");
        }
        for (s, shown) in [
            ("1", "1"),
            ("0.1", "0.1"),
            ("0.05", "0.05"),
            ("2.50", "2.5"),
        ] {
            assert_eq!(parse_advert_int(s).unwrap().to_string(), shown);
        }
    }

    #[test]
    fn master_down_interval_matches_keepalived() {
        // keepalived takes over 3609.x ms after the last advert at priority 100, 1 s.
        let (down, skew) = master_down(AdvertCs(100));
        assert_eq!(down.as_micros(), 3_609_375);
        assert_eq!(skew.as_micros(), 609_375);
        let (down, _) = master_down(AdvertCs(10));
        assert_eq!(down.as_micros(), 360_937);
    }

    #[test]
    fn bundled_config_matches_the_demo() {
        assert!(CONF.contains(ADVERT_LINE));
        assert!(CONF.contains(&format!("@lb2    priority {BACKUP_PRIORITY}")));
        assert!(CONF.contains(&format!("virtual_server {VIP} 80")));
        for (_, addr) in WEBS {
            let a = addr.split('/').next().unwrap();
            assert!(CONF.contains(&format!("real_server {a} 80")), "{a}");
        }
    }

    #[test]
    fn describe_counts_back_ends_and_balancers() {
        let a = |b: &str, v: &str| {
            Ok(Answer {
                backend: b.into(),
                via: v.into(),
            })
        };
        let s = describe(3, &[a("web1", "lb1"), a("web2", "lb1"), a("web1", "lb1")]);
        assert!(
            s.ends_with("answered by web1 2, web2 1, all through lb1"),
            "{s}"
        );
        let s = describe(2, &[a("web1", "lb2"), Err("connect: timed out".into())]);
        assert!(s.contains("1 failed (first: connect: timed out)"), "{s}");
    }
}
