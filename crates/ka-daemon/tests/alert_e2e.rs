//! End-to-end: SMTP alerts of the real `keepalived-rs` binary, in network namespaces.
//!
//! * A real SMTP server (OpenSMTPD, Debian package `opensmtpd`) in the peer namespace
//!   delivers to a Maildir of the test: the MASTER transition's alert arrives with
//!   keepalived's subject, body and headers, for every address, and the `Stopping` alert
//!   of SIGTERM too.
//! * An SMTP server whose packets vanish (dropped by nftables in the peer namespace, so
//!   every connect hangs for `smtp_connect_timeout`) delays nothing: the VIP comes up,
//!   adverts leave every advert_int (checked on the wire with `sniff -i`), and SIGTERM
//!   still removes the VIP at once.
//!
//! smtpd runs in its own mount namespace (that of `ip netns exec`) with tmpfs on /run and
//! /var/spool/smtpd, so it neither meets nor disturbs another smtpd on the machine (its
//! control socket and queue are otherwise global; the mount point is made first, as a fresh
//! machine has none until smtpd first runs). Addresses: 192.0.2.0/24 and
//! 203.0.113.0/24 only, inside the namespaces; every wait is bounded, processes are stopped
//! by PID and namespaces removed on drop.
// Test support: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{run, wait_until, Daemon, Netns, Pair, TmpDir};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_keepalived-rs");
const VIP: &str = "192.0.2.100";

/// OpenSMTPD listening on 192.0.2.2:2525 in `ns`, delivering mail for ops@ and oncall@
/// example.org to `DIR/mail/Maildir` (as user nobody: OpenSMTPD does not deliver as
/// root). Stopped by PID on drop.
struct Smtpd {
    child: Child,
    log: PathBuf,
    maildir: PathBuf,
}

impl Smtpd {
    fn start(ns: &Netns, dir: &TmpDir) -> Smtpd {
        let mail = dir.0.join("mail");
        std::fs::create_dir_all(&mail).unwrap();
        run("chown", &["nobody:", mail.to_str().unwrap()]);
        let maildir = mail.join("Maildir");
        let conf = dir.0.join("smtpd.conf");
        std::fs::write(
            &conf,
            format!(
                "table vusers {{ \"ops@example.org\" = \"nobody\", \"oncall@example.org\" = \"nobody\" }}\n\
                 listen on 192.0.2.2 port 2525\n\
                 action \"deliver\" maildir \"{}\" virtual <vusers>\n\
                 match from any for domain \"example.org\" action \"deliver\"\n",
                maildir.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
        let log = dir.0.join("smtpd.log");
        let script = format!(
            "mount -t tmpfs -o mode=755 tmpfs /run && \
             mkdir -p /var/spool/smtpd && \
             mount -t tmpfs -o mode=711 tmpfs /var/spool/smtpd && \
             exec smtpd -d -f {}",
            conf.display()
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("ip netns exec");
        let s = Smtpd {
            child,
            log,
            maildir,
        };
        let up = wait_until(Duration::from_secs(10), || {
            let out = Command::new("ip")
                .args(["netns", "exec", &ns.name, "ss", "-Hltn", "sport = :2525"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).contains("192.0.2.2:2525")
        });
        assert!(
            up.is_some(),
            "smtpd (Debian package opensmtpd) did not listen on 192.0.2.2:2525: {}",
            s.log()
        );
        s
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every message delivered so far.
    fn messages(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        rd.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect()
    }

    /// The messages whose subject is `subject` (waits up to `timeout` for `count`).
    fn wait_for(&self, subject: &str, count: usize, timeout: Duration) -> Vec<String> {
        let line = format!("\nSubject: {subject}\n");
        let find = || -> Vec<String> {
            self.messages()
                .into_iter()
                .filter(|m| m.replace("\r\n", "\n").contains(&line))
                .collect()
        };
        wait_until(timeout, || find().len() >= count);
        find()
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .output();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn conf(ifname: &str, smtp_server: &str, timeout: u32, state: &str) -> String {
    format!(
        "global_defs {{\n  router_id lb1-test\n  notification_email {{\n    ops@example.org\n    \
         oncall@example.org\n  }}\n  notification_email_from keepalived@lb1.example.org\n  \
         smtp_server {smtp_server}\n  smtp_helo_name lb1.example.org\n  \
         smtp_connect_timeout {timeout}\n}}\n\
         vrrp_instance VI_1 {{\n  state {state}\n  interface {ifname}\n  virtual_router_id 51\n  \
         version 3\n  priority 150\n  advert_int 0.1\n  smtp_alert\n  \
         virtual_ipaddress {{\n    {VIP}/32\n  }}\n}}\n"
    )
}

#[test]
fn master_transition_alert_reaches_a_real_smtp_server() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let smtpd = Smtpd::start(&p.b, &dir);
    let mut d = Daemon::start(
        &p.a,
        &dir,
        "a",
        &conf(&p.a_if, "192.0.2.2 2525", 5, "MASTER"),
    );
    let t = wait_until(Duration::from_secs(8), || p.a.has(&p.a_if, VIP));
    assert!(t.is_some(), "never master\n{}", d.log());

    let subject = "[lb1-test] VRRP Instance VI_1 - Entering MASTER state";
    let got = smtpd.wait_for(subject, 2, Duration::from_secs(15));
    assert_eq!(
        got.len(),
        2,
        "one message per address expected\n--- daemon ---\n{}\n--- smtpd ---\n{}\n--- mail ---\n{:?}",
        d.log(),
        smtpd.log(),
        smtpd.messages()
    );
    for m in &got {
        let m = m.replace("\r\n", "\n");
        assert!(m.contains("\nFrom: keepalived@lb1.example.org\n"), "{m}");
        assert!(m.contains("\nX-Mailer: Keepalived\n"), "{m}");
        assert!(
            m.contains("\nTo: ops@example.org, oncall@example.org\n"),
            "{m}"
        );
        assert!(m.contains("\nDate: "), "{m}");
        assert!(
            m.contains("\n\n=> VRRP Instance is now owning VRRP VIPs <=\n"),
            "{m}"
        );
        assert!(
            m.contains("Return-Path: <keepalived@lb1.example.org>"),
            "{m}"
        );
        assert!(
            m.contains("Received: from lb1.example.org "),
            "HELO name: {m}"
        );
    }
    let rcpt: Vec<bool> = ["ops@example.org", "oncall@example.org"]
        .iter()
        .map(|r| {
            got.iter()
                .any(|m| m.contains(&format!("Delivered-To: {r}")))
        })
        .collect();
    assert_eq!(rcpt, [true, true], "{got:?}");
    assert!(
        d.log().contains("SMTP alert successfully sent"),
        "{}",
        d.log()
    );

    // SIGTERM: the Stopping alert still goes out before the daemon exits.
    d.signal("-TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(10)), Some(0), "{}", d.log());
    let stop = smtpd.wait_for(
        "[lb1-test] VRRP Instance VI_1 - Stopping",
        2,
        Duration::from_secs(10),
    );
    assert_eq!(stop.len(), 2, "{}\n{}", d.log(), smtpd.log());
    assert!(stop[0].contains("=> VRRP Instance stopping <="));
}

/// `sniff -i IFACE --json -c COUNT` in `ns`: the relative times of the VRRP adverts.
fn advert_times(ns: &Netns, ifname: &str, count: u32) -> Vec<f64> {
    let mut child = Command::new("ip")
        .args([
            "netns", "exec", &ns.name, BIN, "sniff", "--json", "-i", ifname,
        ])
        .args(["-c", &count.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sniff did not see {count} adverts in 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "vrrp")
        .filter_map(|v| v["time_rel"].as_f64())
        .collect()
}

#[test]
fn unreachable_smtp_server_delays_nothing() {
    let p = Pair::new();
    let dir = TmpDir::new();
    // 203.0.113.25 is reached through b, which drops everything sent to it: a connect
    // hangs until smtp_connect_timeout (30 s).
    p.a.ip(&["route", "add", "203.0.113.0/24", "via", "192.0.2.2"]);
    for cmd in [
        "add table inet kaalert",
        "add chain inet kaalert c { type filter hook prerouting priority -300 ; }",
        "add rule inet kaalert c ip daddr 203.0.113.25 drop",
    ] {
        run("ip", &["netns", "exec", &p.b.name, "nft", cmd]);
    }
    let start = Instant::now();
    let mut d = Daemon::start(
        &p.a,
        &dir,
        "a",
        &conf(&p.a_if, "203.0.113.25", 30, "BACKUP"),
    );
    // BACKUP first (an alert), then MASTER after Master_Down_Interval (~0.36 s; another).
    let t = wait_until(Duration::from_secs(5), || p.a.has(&p.a_if, VIP));
    assert!(t.is_some(), "never master\n{}", d.log());
    let took = start.elapsed();
    eprintln!("VIP after {took:?}");
    assert!(
        took < Duration::from_secs(3),
        "VIP late: {took:?}\n{}",
        d.log()
    );

    // Adverts every 0.1 s while the SMTP connection hangs.
    let times = advert_times(&p.b, &p.b_if, 30);
    assert_eq!(times.len(), 30);
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let max = gaps.iter().copied().fold(0.0, f64::max);
    let span = times[29] - times[0];
    eprintln!("30 adverts over {span:.3} s, largest gap {max:.3} s");
    // A blocked engine would stall for the whole 30 s connect; the bounds leave room for
    // the sniffer's own scheduling on a loaded machine (it stamps packets in user space).
    assert!(max < 0.5, "an advert was late: gaps {gaps:?}\n{}", d.log());
    assert!((2.4..3.6).contains(&span), "29 intervals took {span} s");
    let log = d.log();
    assert!(log.contains("SMTP alerts: to ops@example.org"), "{log}");
    assert!(
        !log.contains("SMTP alert successfully sent"),
        "the SMTP server was reachable?\n{log}"
    );

    // SIGTERM: the VIP goes at once; the exit waits for the queue at most 3 s.
    let stop = Instant::now();
    d.signal("-TERM");
    let gone = wait_until(Duration::from_secs(2), || !p.a.has(&p.a_if, VIP));
    assert!(gone.is_some(), "VIP kept after SIGTERM\n{}", d.log());
    assert!(gone.unwrap() < Duration::from_millis(500), "{gone:?}");
    assert_eq!(d.wait_exit(Duration::from_secs(10)), Some(0), "{}", d.log());
    let exit = stop.elapsed();
    eprintln!(
        "VIP removed {:?} after SIGTERM, exit after {exit:?}",
        gone.unwrap()
    );
    assert!(exit < Duration::from_secs(6), "exit took {exit:?}");
    assert!(d.log().contains("not sent at exit"), "{}", d.log());
}
