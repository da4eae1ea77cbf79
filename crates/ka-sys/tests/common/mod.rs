//! Test support: throw-away network namespaces joined by veth pairs.
//!
//! Every namespace and interface gets a name made of a short prefix, the process id and
//! a counter (at most 15 characters, the kernel's limit for interface names), so tests
//! run in parallel and a crashed run never collides with the next. Everything is removed
//! on drop, also when the test panics (drop runs while unwinding). `ip` from iproute2 is
//! used here, in test setup only; the code under test talks to the kernel itself.
//!
//! Addresses: only 192.0.2.0/24 and 2001:db8::/32.
#![allow(dead_code)]
// Test support: a failed unwrap here is a failed test (clippy.toml only sees #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::future::Future;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// How long any single wait in these tests may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(5);

/// A name unique to this process and call: `prefix`, the pid and a counter in hex.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!("{prefix}{:x}x{n:x}", std::process::id());
    assert!(name.len() <= 15, "interface name too long: {name}");
    name
}

/// Runs `ip ARGS`, panicking with its stderr when it fails; returns stdout.
pub fn ip(args: &[&str]) -> String {
    run("ip", args)
}

/// Runs a command, panicking with its stderr when it fails; returns stdout.
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

/// Names of the network namespaces that exist now.
pub fn netns_list() -> Vec<String> {
    ip(&["netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A network namespace owned by the test, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates a namespace with `lo` up and IPv6 duplicate address detection off (so
    /// link-local addresses are usable at once).
    pub fn new() -> Netns {
        let name = unique_name("kst");
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        for key in ["default", "all"] {
            ns.exec(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{key}.accept_dad=0"),
            ]);
        }
        ns
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// `ip netns exec NAME ARGS`.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// The ifindex of `ifname` in this namespace.
    pub fn ifindex(&self, ifname: &str) -> u32 {
        let v: serde_json::Value =
            serde_json::from_str(&self.ip(&["-j", "link", "show", "dev", ifname])).unwrap();
        v[0]["ifindex"].as_u64().unwrap() as u32
    }

    /// The MAC address of `ifname` in this namespace.
    pub fn mac(&self, ifname: &str) -> [u8; 6] {
        let v: serde_json::Value =
            serde_json::from_str(&self.ip(&["-j", "link", "show", "dev", ifname])).unwrap();
        let s = v[0]["address"].as_str().unwrap();
        let mut mac = [0u8; 6];
        for (m, part) in mac.iter_mut().zip(s.split(':')) {
            *m = u8::from_str_radix(part, 16).unwrap();
        }
        mac
    }

    /// `ip -j addr show dev IFNAME` as JSON `addr_info` entries.
    pub fn addr_info(&self, ifname: &str) -> Vec<serde_json::Value> {
        let v: serde_json::Value =
            serde_json::from_str(&self.ip(&["-j", "addr", "show", "dev", ifname])).unwrap();
        v[0]["addr_info"].as_array().cloned().unwrap_or_default()
    }

    /// Runs `f` on a dedicated thread that has entered this namespace (setns), and
    /// returns its result; a panic in `f` is re-raised here. Sockets opened by `f` stay
    /// in this namespace wherever they are used later.
    pub fn run<R: Send, F: FnOnce() -> R + Send>(&self, f: F) -> R {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            let h = s.spawn(move || {
                let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                setns(file, CloneFlags::CLONE_NEWNET).unwrap();
                f()
            });
            match h.join() {
                Ok(r) => r,
                Err(p) => std::panic::resume_unwind(p),
            }
        })
    }

    /// Like [`Netns::run`] with a current-thread tokio runtime, the whole future bounded
    /// by `timeout` (the test fails when it takes longer).
    pub fn run_async<R, F, Fut>(&self, timeout: Duration, f: F) -> R
    where
        R: Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = R>,
    {
        self.run(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                tokio::time::timeout(timeout, f())
                    .await
                    .expect("test future timed out")
            })
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes the interfaces in it (and veth peers elsewhere).
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Two namespaces joined by a veth pair, both ends up, with 192.0.2.1/24 +
/// 2001:db8::1/64 on `a` and 192.0.2.2/24 + 2001:db8::2/64 on `b`.
#[derive(Debug)]
pub struct Pair {
    pub a: Netns,
    pub b: Netns,
    pub a_if: String,
    pub b_if: String,
}

impl Pair {
    pub const A4: &str = "192.0.2.1";
    pub const B4: &str = "192.0.2.2";
    pub const A6: &str = "2001:db8::1";
    pub const B6: &str = "2001:db8::2";

    pub fn new() -> Pair {
        let a = Netns::new();
        let b = Netns::new();
        let a_if = unique_name("kva");
        let b_if = unique_name("kvb");
        // Created directly inside the namespaces: nothing is left in the host namespace
        // if the test dies before Drop.
        ip(&[
            "link", "add", &a_if, "netns", &a.name, "type", "veth", "peer", "name", &b_if, "netns",
            &b.name,
        ]);
        let pair = Pair { a, b, a_if, b_if };
        for (ns, ifname, v4, v6) in [
            (&pair.a, &pair.a_if, Self::A4, Self::A6),
            (&pair.b, &pair.b_if, Self::B4, Self::B6),
        ] {
            ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", ifname]);
            ns.ip(&["addr", "add", &format!("{v6}/64"), "dev", ifname, "nodad"]);
            ns.ip(&["link", "set", ifname, "up"]);
        }
        for (ns, ifname) in [(&pair.a, &pair.a_if), (&pair.b, &pair.b_if)] {
            let ok = wait_until(WAIT, || {
                ns.addr_info(ifname).iter().any(|a| {
                    a["scope"] == "link" && a["family"] == "inet6" && a.get("tentative").is_none()
                })
            });
            assert!(ok, "no usable link-local address on {ifname}");
        }
        pair
    }

    /// Another veth between a and b, both ends up, no addresses; returns (a end, b end).
    /// Removed with the namespaces.
    pub fn add_veth(&self) -> (String, String) {
        let x = unique_name("kva");
        let y = unique_name("kvb");
        ip(&[
            "link",
            "add",
            &x,
            "netns",
            &self.a.name,
            "type",
            "veth",
            "peer",
            "name",
            &y,
            "netns",
            &self.b.name,
        ]);
        self.a.ip(&["link", "set", &x, "up"]);
        self.b.ip(&["link", "set", &y, "up"]);
        (x, y)
    }

    /// The (non-tentative) IPv6 link-local address of `ifname` in `ns`.
    pub fn link_local(ns: &Netns, ifname: &str) -> std::net::Ipv6Addr {
        ns.addr_info(ifname)
            .iter()
            .find(|a| a["scope"] == "link" && a["family"] == "inet6")
            .and_then(|a| a["local"].as_str())
            .unwrap()
            .parse()
            .unwrap()
    }
}
