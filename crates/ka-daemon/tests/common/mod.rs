//! Shared support for the daemon's end-to-end tests: unique names, network namespaces,
//! veth pairs, temporary directories, and `keepalived-rs` / real keepalived processes, all
//! removed (by PID / name) on drop, also when a test fails. Every wait is bounded.
// Test support: a failed unwrap here is a failed test; not every test binary uses every item.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!("{prefix}{:x}x{n:x}", std::process::id());
    assert!(name.len() <= 15, "interface name too long: {name}");
    name
}

pub fn run(prog: &str, args: &[&str]) -> String {
    let out = Command::new(prog)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e}"));
    assert!(
        out.status.success(),
        "{prog} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn ip(args: &[&str]) -> String {
    run("ip", args)
}

/// Polls `cond` every 5 ms until it holds or `timeout` passes; returns the time it took.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        let name = unique_name("kde");
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        for key in ["default", "all"] {
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &ns.name,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{key}.accept_dad=0"),
                ],
            );
        }
        ns
    }

    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// The addresses (`local` of `addr_info`) on `ifname`.
    pub fn addrs(&self, ifname: &str) -> Vec<String> {
        let v: serde_json::Value =
            serde_json::from_str(&self.ip(&["-j", "addr", "show", "dev", ifname])).unwrap();
        v[0]["addr_info"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a["local"].as_str().map(str::to_owned))
            .collect()
    }

    pub fn has(&self, ifname: &str, addr: &str) -> bool {
        self.addrs(ifname).iter().any(|a| a == addr)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Two namespaces joined by a veth pair: 192.0.2.1/24 on a, 192.0.2.2/24 on b.
#[derive(Debug)]
pub struct Pair {
    pub a: Netns,
    pub b: Netns,
    pub a_if: String,
    pub b_if: String,
}

impl Pair {
    pub fn new() -> Pair {
        let a = Netns::new();
        let b = Netns::new();
        let a_if = unique_name("kea");
        let b_if = unique_name("keb");
        ip(&[
            "link", "add", &a_if, "netns", &a.name, "type", "veth", "peer", "name", &b_if, "netns",
            &b.name,
        ]);
        let p = Pair { a, b, a_if, b_if };
        for (ns, ifname, v4, v6) in [
            (&p.a, &p.a_if, "192.0.2.1/24", "2001:db8::1/64"),
            (&p.b, &p.b_if, "192.0.2.2/24", "2001:db8::2/64"),
        ] {
            ns.ip(&["addr", "add", v4, "dev", ifname]);
            ns.ip(&["addr", "add", v6, "dev", ifname, "nodad"]);
            ns.ip(&["link", "set", ifname, "up"]);
        }
        for (ns, ifname) in [(&p.a, &p.a_if), (&p.b, &p.b_if)] {
            wait_link_local(ns, ifname);
        }
        p
    }
}

/// Waits (5 s at most) until `ifname` in `ns` has a usable (not tentative) IPv6 link-local
/// address: VRRPv3 over IPv6 sends from it.
pub fn wait_link_local(ns: &Netns, ifname: &str) {
    let ok = wait_until(Duration::from_secs(5), || {
        let v: serde_json::Value =
            serde_json::from_str(&ns.ip(&["-j", "addr", "show", "dev", ifname])).unwrap();
        v[0]["addr_info"].as_array().is_some_and(|a| {
            a.iter().any(|a| {
                a["scope"] == "link" && a["family"] == "inet6" && a.get("tentative").is_none()
            })
        })
    });
    assert!(ok.is_some(), "no usable link-local address on {ifname}");
}

/// A temporary directory for configuration, pid and log files, removed on drop.
#[derive(Debug)]
pub struct TmpDir(pub PathBuf);

impl TmpDir {
    pub fn new() -> TmpDir {
        let d = std::env::temp_dir().join(unique_name("kae2e"));
        std::fs::create_dir_all(&d).unwrap();
        TmpDir(d)
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `keepalived-rs -n -l -P` running in a namespace, with its control socket in the
/// test's directory; killed (by PID) on drop.
#[derive(Debug)]
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
    /// `--control-socket`.
    pub sock: PathBuf,
}

impl Daemon {
    pub fn start(ns: &Netns, dir: &TmpDir, tag: &str, conf: &str) -> Daemon {
        Daemon::start_with(ns, dir, tag, conf, &["-P"])
    }

    /// Like [`Daemon::start`] with other options than `-P` (VRRP only).
    pub fn start_with(ns: &Netns, dir: &TmpDir, tag: &str, conf: &str, opts: &[&str]) -> Daemon {
        let cfg = dir.0.join(format!("{tag}.conf"));
        std::fs::write(&cfg, conf).unwrap();
        let log = dir.0.join(format!("{tag}.log"));
        let pid = dir.0.join(format!("{tag}.pid"));
        let sock = dir.0.join(format!("{tag}.sock"));
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.name,
                env!("CARGO_BIN_EXE_keepalived-rs"),
            ])
            .args(["-n", "-l", "-D"])
            .args(opts)
            .arg("-f")
            .arg(&cfg)
            .arg("-p")
            .arg(&pid)
            .arg("--control-socket")
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log, sock }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        // `ip netns exec` execs the program: the child's PID is the daemon's.
        run("kill", &[sig, &self.child.id().to_string()]);
    }

    /// Waits (bounded) for the exit; returns the status code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A real keepalived 2.2.7 (`-n -l -D -P`) in a namespace: SIGTERM, then SIGKILL, by PID
/// on drop.
#[derive(Debug)]
pub struct Keepalived {
    pub child: Child,
    pub log: PathBuf,
}

impl Keepalived {
    pub fn start(ns: &Netns, dir: &TmpDir, tag: &str, conf: &str) -> Keepalived {
        let p = |f: &str| dir.0.join(format!("{tag}.{f}"));
        std::fs::write(p("conf"), conf).unwrap();
        let log = p("log");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.name,
                "keepalived",
                "-n",
                "-l",
                "-D",
                "-P",
            ])
            .arg("-f")
            .arg(p("conf"))
            .arg("-p")
            .arg(p("pid"))
            .arg("-r")
            .arg(p("vrrp.pid"))
            .arg("-c")
            .arg(p("check.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("keepalived must be installed (Debian package keepalived)");
        Keepalived { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .output();
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        if !self.terminate(Duration::from_secs(3)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A veth between namespaces `a` and `b` with an address (CIDR) on each end; the names.
pub fn link(a: &Netns, a_addr: &str, b: &Netns, b_addr: &str) -> (String, String) {
    let (x, y) = (unique_name("kdx"), unique_name("kdy"));
    ip(&[
        "link", "add", &x, "netns", &a.name, "type", "veth", "peer", "name", &y, "netns", &b.name,
    ]);
    a.ip(&["addr", "add", a_addr, "dev", &x]);
    b.ip(&["addr", "add", b_addr, "dev", &y]);
    a.ip(&["link", "set", &x, "up"]);
    b.ip(&["link", "set", &y, "up"]);
    (x, y)
}

/// Runs `f` on a thread that has entered namespace `ns`.
pub fn in_netns<R: Send, F: FnOnce() -> R + Send>(ns: &Netns, f: F) -> R {
    std::thread::scope(|s| {
        s.spawn(|| {
            ka_sys::netns::enter_named(&ns.name).unwrap();
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// A TCP server in a namespace answering each connection with an HTTP/1.0 response
/// whose body is its name; stopped on drop.
pub struct TcpBackend {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TcpBackend {
    pub fn start(ns: &Netns, name: &'static str, port: u16) -> TcpBackend {
        use std::io::{Read, Write};
        let listener = in_netns(ns, || {
            std::net::TcpListener::bind(("0.0.0.0", port)).unwrap()
        });
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let st = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut buf = [0u8; 512];
                        let _ = s.read(&mut buf);
                        let _ = s.write_all(format!("HTTP/1.0 200 OK\r\n\r\n{name}").as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        TcpBackend {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TcpBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `n` HTTP/1.0 requests from namespace `client` to `to`; how many each body (back-end
/// name) answered, `-` counting failures.
pub fn http_requests(
    client: &Netns,
    to: std::net::SocketAddr,
    n: usize,
) -> std::collections::BTreeMap<String, usize> {
    use std::io::{Read, Write};
    in_netns(client, || {
        let mut seen = std::collections::BTreeMap::new();
        for _ in 0..n {
            let who = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(2))
                .ok()
                .and_then(|mut s| {
                    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
                    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
                    let mut body = String::new();
                    s.read_to_string(&mut body).ok()?;
                    body.rsplit("\r\n\r\n").next().map(str::to_owned)
                })
                .unwrap_or_else(|| "-".into());
            *seen.entry(who).or_insert(0) += 1;
        }
        seen
    })
}

/// `n` nodes on one bridge (held by a hub namespace): node i has 192.0.2.(i+1)/24 and
/// 2001:db8::(i+1)/64 on its interface; ready once every link-local address is usable.
#[derive(Debug)]
pub struct Lan {
    pub nodes: Vec<(Netns, String)>,
    pub hub: Netns,
}

impl Lan {
    pub fn new(n: usize) -> Lan {
        let hub = Netns::new();
        hub.ip(&[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        hub.ip(&["link", "set", "br0", "up"]);
        let mut nodes = Vec::new();
        for i in 0..n {
            let ns = Netns::new();
            let ifname = unique_name("kln");
            let port = format!("p{i}");
            ip(&[
                "link", "add", &ifname, "netns", &ns.name, "type", "veth", "peer", "name", &port,
                "netns", &hub.name,
            ]);
            hub.ip(&["link", "set", &port, "master", "br0", "up"]);
            ns.ip(&[
                "addr",
                "add",
                &format!("192.0.2.{}/24", i + 1),
                "dev",
                &ifname,
            ]);
            ns.ip(&[
                "addr",
                "add",
                &format!("2001:db8::{:x}/64", i + 1),
                "dev",
                &ifname,
                "nodad",
            ]);
            ns.ip(&["link", "set", &ifname, "up"]);
            nodes.push((ns, ifname));
        }
        for (ns, ifname) in &nodes {
            wait_link_local(ns, ifname);
        }
        Lan { nodes, hub }
    }

    /// Which nodes hold `addr`.
    pub fn holders(&self, addr: &str) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].0.has(&self.nodes[i].1, addr))
            .collect()
    }
}
