//! End-to-end: `keepalived-rs demo`, the README's main command, run for real (as root, as
//! CI does): it completes with a failover, and whatever way it ends (normal end, SIGINT in
//! the middle, Ctrl-C after `--keep`, SIGKILL then the next run) no namespace, interface,
//! process or file of it remains. Every wait is bounded; a demo still running when a test
//! fails is killed by its guard.
// Test support: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{run, wait_until};
use nix::fcntl::{Flock, FlockArg};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// A running `keepalived-rs demo`; its stdout lines arrive on `lines`. SIGKILLed on drop.
struct Demo {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

/// Every demo sweeps, at start-up, what killed demos left. So that only the demo of
/// `a_killed_demo_is_swept_by_the_next_run` sweeps the demo that test kills, demos start
/// under a shared lock (until they print their first line, after the sweep) and that test
/// holds it exclusively from the kill until its second demo has started.
fn startup_lock(exclusive: bool) -> Flock<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("ka-demo-e2e.lock"))
        .unwrap();
    let how = if exclusive {
        FlockArg::LockExclusive
    } else {
        FlockArg::LockShared
    };
    Flock::lock(f, how).map_err(|(_, e)| e).unwrap()
}

impl Demo {
    /// Starts a demo and waits for its first line (its start-up sweep is over).
    fn start(args: &[&str]) -> Demo {
        let lock = startup_lock(false);
        let mut d = Demo::spawn(args);
        d.wait_line("keepalived-rs demo:", Duration::from_secs(60));
        drop(lock);
        d
    }

    fn spawn(args: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keepalived-rs"))
            .arg("demo")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                eprintln!("demo| {l}");
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Demo {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn tag(&self) -> String {
        format!("kademo-{}", self.child.id())
    }

    /// Reads lines until one contains `what` (bounded by `timeout`).
    fn wait_line(&mut self, what: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(what) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no line with {what:?} within {timeout:?}; output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits (bounded) for the exit; returns the exit code and all of stdout.
    fn finish(&mut self, timeout: Duration) -> (Option<i32>, String) {
        let t = wait_until(timeout, || self.child.try_wait().unwrap().is_some());
        assert!(
            t.is_some(),
            "demo still running after {timeout:?}; output so far:\n{}",
            self.seen.join("\n")
        );
        let code = self.child.wait().unwrap().code();
        // The reader thread ends at EOF (the demo and its children are gone).
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        (code, self.seen.join("\n"))
    }

    fn signal(&self, sig: &str) {
        run("kill", &[sig, &self.child.id().to_string()]);
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The demo's namespaces (`ip netns list`).
fn namespaces(tag: &str) -> Vec<String> {
    run("ip", &["netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{tag}-")))
        .map(str::to_owned)
        .collect()
}

/// PIDs of processes whose command line names the demo's directory (its daemons).
fn processes(tag: &str) -> Vec<u32> {
    let needle = format!("/{tag}/");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmd)
                .contains(&needle)
                .then_some(pid)
        })
        .collect()
}

/// Nothing of the demo `tag` is left: namespaces (and with them its bridges and veths,
/// which only ever lived inside them), interfaces in the host's namespace, daemons, files.
fn assert_nothing_left(tag: &str, out: &str) {
    assert_eq!(namespaces(tag), Vec::<String>::new(), "{out}");
    let links = run("ip", &["-o", "link"]);
    for name in [
        "br-front",
        "br-back",
        "lb1-front",
        "lb2-back",
        "web1@",
        "client@",
    ] {
        assert!(
            !links.contains(&format!(": {name}")),
            "{name} in the host namespace:\n{links}"
        );
    }
    assert_eq!(processes(tag), Vec::<u32>::new(), "{out}");
    assert!(!std::env::temp_dir().join(tag).exists(), "{out}");
}

#[test]
fn demo_runs_a_failover_and_removes_everything() {
    let mut d = Demo::start(&["--advert-int", "0.1"]);
    let tag = d.tag();
    let (code, out) = d.finish(Duration::from_secs(120));
    assert_eq!(code, Some(0), "{out}");
    let pos = |what: &str| {
        out.find(what)
            .unwrap_or_else(|| panic!("no {what:?} in:\n{out}"))
    };
    // The story in order: lb1 elected, answers through it, the crash, lb2 takes over and
    // answers, everything removed.
    let order = [
        pos("VIP:80 balanced over them"),
        pos("VIP 192.0.2.100 is on lb1"),
        pos("all through lb1"),
        pos("lb1 crashes: kill -9"),
        pos("VIP on lb2"),
        pos("first answer through lb2"),
        pos("new master: lb2"),
        pos("all through lb2"),
        pos("web2 fails"),
        pos("lb2's HTTP_GET took web2 out of the virtual server"),
        pos("answered by web1 10, all through lb2"),
        pos("web2 put back by lb2's HTTP_GET"),
        pos("cleaned up: 2 daemons, 2 web servers, 6 namespaces"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "order:\n{out}");
    // Both back ends answered, before and after the failover: round robin by the daemons'
    // own data plane (the demo itself writes no DNAT rule).
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("requests from the client"))
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    for line in &lines[..2] {
        assert!(
            line.contains("web1") && line.contains("web2"),
            "one back end only: {line}"
        );
    }
    // While web2 fails, its checker has taken it out: web1 only.
    assert!(
        lines[2].contains("answered by web1 10, all through lb2") && !lines[2].contains("web2"),
        "{out}"
    );
    assert_nothing_left(&tag, &out);
}

#[test]
fn sigint_during_the_failover_cleans_up() {
    let mut d = Demo::start(&["--advert-int", "1"]);
    let tag = d.tag();
    // lb1 is dead, lb2 has not taken over yet (3.6 s): the middle of the demo.
    d.wait_line("lb1 crashes", Duration::from_secs(60));
    assert_eq!(namespaces(&tag).len(), 6, "the demo's namespaces");
    assert!(!processes(&tag).is_empty(), "lb2's keepalived-rs runs");
    d.signal("-INT");
    let (code, out) = d.finish(Duration::from_secs(30));
    assert_eq!(code, Some(130), "{out}");
    assert!(out.contains("interrupted: cleaning up"), "{out}");
    assert!(!out.contains("new master"), "{out}");
    assert!(out.contains("cleaned up: 2 daemons, 2 web servers, 6 namespaces"));
    assert_nothing_left(&tag, &out);
}

#[test]
fn keep_runs_until_ctrl_c_then_cleans_up() {
    let mut d = Demo::start(&["--advert-int", "0.1", "--stop", "sigterm", "--keep"]);
    let tag = d.tag();
    d.wait_line("left running until Ctrl-C", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(namespaces(&tag).len(), 6);
    assert_eq!(d.child.try_wait().unwrap(), None, "--keep exited by itself");
    d.signal("-INT");
    let (code, out) = d.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("new master: lb2"), "{out}");
    assert!(out.contains("lb1's keepalived-rs exited (exit status: 0); VIP on lb1: removed"));
    assert_nothing_left(&tag, &out);
}

#[test]
fn a_killed_demo_is_swept_by_the_next_run() {
    let mut first = Demo::start(&["--advert-int", "0.1", "--keep"]);
    let first_tag = first.tag();
    first.wait_line("left running until Ctrl-C", Duration::from_secs(60));
    let lock = startup_lock(true);
    first.signal("-KILL");
    let (code, _) = first.finish(Duration::from_secs(10));
    assert_eq!(code, None, "killed by a signal");
    assert_eq!(namespaces(&first_tag).len(), 6, "SIGKILL leaves them");
    assert!(!processes(&first_tag).is_empty(), "and lb2's daemon");
    let mut second = Demo::spawn(&["--advert-int", "0.1", "--requests", "2"]);
    second.wait_line("keepalived-rs demo:", Duration::from_secs(60));
    drop(lock);
    let (code, out) = second.finish(Duration::from_secs(120));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "removed what a killed earlier demo left ({first_tag}): 6 namespace(s), 1 daemon(s)"
        )),
        "{out}"
    );
    assert_nothing_left(&first_tag, &out);
    assert_nothing_left(&second.tag(), &out);
}
