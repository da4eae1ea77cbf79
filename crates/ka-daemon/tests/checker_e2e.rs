//! End-to-end health checkers: the real `keepalived-rs` binary (`-C`, or both subsystems)
//! in namespace a probes REAL servers in namespace b over a veth pair: nginx (HTTP and
//! HTTPS with a certificate generated here by the openssl CLI), OpenSMTPD, dnsmasq, a UDP
//! responder, ICMP/ICMPv6 echo, a MISC_CHECK script and a FILE_CHECK file. Every server
//! goes down and comes back (SSL_GET also with the `SSL` block's client certificate,
//! which nginx requires on one port); the log shows each real server removed and added again,
//! in order, within bounds the configuration implies (checked generously). Bad HTTP
//! servers written here (silent, reset, garbage, slow body, huge body, wrong digest,
//! wrong status) are each judged within connect_timeout while VRRP at advert_int 0.1
//! in the same process never lets the backup take over.
//!
//! Runs as root (as CI does). Names are unique (pid + counter), addresses come from
//! 192.0.2.0/24 and 2001:db8::/32 only, every process is stopped by PID (process group)
//! and every namespace removed on drop, every wait is bounded.
// Test support: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{run, wait_until, Daemon, Netns, Pair, TmpDir};
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A program started in a namespace in its own process group; the group gets SIGTERM,
/// then SIGKILL, on drop.
struct Proc {
    child: Child,
    log: std::path::PathBuf,
}

impl Proc {
    fn start(ns: &Netns, log: &Path, prog: &str, args: &[&str], package: &str) -> Proc {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns.name, prog])
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start {prog} ({e}): install the Debian package {package}")
        });
        Proc {
            child,
            log: log.to_owned(),
        }
    }

    fn log(&self) -> String {
        let mut s = std::fs::read_to_string(&self.log).unwrap_or_default();
        s.push_str(&std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default());
        s
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pgid = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &pgid]).output();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &pgid]).output();
        let _ = self.child.wait();
    }
}

/// `keepalived-rs -n -l -D FLAGS -f CONF` in a namespace.
fn keepalived_rs(ns: &Netns, dir: &TmpDir, tag: &str, conf: &str, flags: &[&str]) -> Proc {
    let cfg = dir.0.join(format!("{tag}.conf"));
    std::fs::write(&cfg, conf).unwrap();
    let mut args = vec!["-n", "-l", "-D"];
    args.extend_from_slice(flags);
    let cfg = cfg.to_str().unwrap().to_owned();
    args.extend(["-f", cfg.as_str()]);
    Proc::start(
        ns,
        &dir.0.join(format!("{tag}.log")),
        env!("CARGO_BIN_EXE_keepalived-rs"),
        &args,
        "(the test binary)",
    )
}

/// Seconds since midnight of a log line (`2026-11-22T08:03:35.919987Z ...`).
fn log_time(line: &str) -> f64 {
    let t = line
        .get(11..26)
        .unwrap_or_else(|| panic!("no timestamp: {line}"));
    let h: f64 = t[0..2].parse().unwrap();
    let m: f64 = t[3..5].parse().unwrap();
    let s: f64 = t[6..].parse().unwrap();
    h * 3600.0 + m * 60.0 + s
}

/// Counts lines of `log` containing `needle`.
fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// Waits until `needle` occurs more than `before` times in the log; the time it took.
fn wait_more(p: &Proc, needle: &str, before: usize, timeout: Duration) -> Duration {
    wait_until(timeout, || count(&p.log(), needle) > before).unwrap_or_else(|| {
        panic!(
            "no new {needle:?} within {timeout:?}\n--- log ---\n{}",
            p.log()
        )
    })
}

/// A thread serving in namespace `ns` until dropped.
struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn spawn(ns: &Netns, body: impl FnOnce(Arc<AtomicBool>) + Send + 'static) -> Server {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let name = ns.name.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            // setns(2) moves this thread only.
            ka_sys::netns::enter_named(&name).unwrap();
            tx.send(()).unwrap();
            body(s);
        });
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        Server {
            stop,
            thread: Some(thread),
        }
    }

    /// Echoes every datagram on `addr` prefixed with "PONG".
    fn udp_echo(ns: &Netns, addr: &'static str) -> Server {
        let (tx, rx) = std::sync::mpsc::channel();
        let s = Server::spawn(ns, move |stop| {
            let sock = UdpSocket::bind(addr).unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            tx.send(()).unwrap();
            let mut buf = [0u8; 1500];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    let mut reply = b"PONG".to_vec();
                    reply.extend_from_slice(&buf[..n]);
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        s
    }

    /// A TCP server on `addr`; `handle` runs per connection in a thread of its own.
    fn tcp(ns: &Netns, addr: &'static str, handle: fn(std::net::TcpStream, &AtomicBool)) -> Server {
        let (tx, rx) = std::sync::mpsc::channel();
        let s = Server::spawn(ns, move |stop| {
            let l = TcpListener::bind(addr).unwrap();
            l.set_nonblocking(true).unwrap();
            tx.send(()).unwrap();
            let mut conns = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        let stop = Arc::clone(&stop);
                        conns.push(std::thread::spawn(move || handle(c, &stop)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
                conns.retain(|t: &JoinHandle<()>| !t.is_finished());
                assert!(conns.len() < 200, "too many connections");
            }
            for t in conns {
                let _ = t.join();
            }
        });
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads the request head (bounded).
fn read_request(c: &mut std::net::TcpStream) {
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = Vec::new();
    let mut b = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
        match c.read(&mut b) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
}

fn nginx_conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/nginx.error;\nevents {{ worker_connections 64; }}\nhttp {{\n\
         access_log off;\nclient_body_temp_path {d}/tmp;\nproxy_temp_path {d}/tmp;\n\
         fastcgi_temp_path {d}/tmp;\nuwsgi_temp_path {d}/tmp;\nscgi_temp_path {d}/tmp;\n\
         server {{ listen 192.0.2.2:8080; listen [2001:db8::2]:8080; root {d}/www; }}\n\
         server {{ listen 192.0.2.2:8443 ssl; server_name www.example.org;\n\
         ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem; root {d}/www; }}\n\
         server {{ listen 192.0.2.2:8444 ssl; ssl_certificate {d}/cert.pem;\n\
         ssl_certificate_key {d}/key.pem; ssl_verify_client on;\n\
         ssl_client_certificate {d}/cert.pem; root {d}/www; }}\n}}\n"
    )
}

fn nginx(ns: &Netns, dir: &TmpDir) -> Proc {
    let conf = dir.0.join("nginx.conf");
    listening(ns, "192.0.2.2", 8080, || {
        Proc::start(
            ns,
            &dir.0.join("nginx.log"),
            "nginx",
            &["-c", conf.to_str().unwrap(), "-e", "/dev/stderr"],
            "nginx-light",
        )
    })
}

fn smtpd(ns: &Netns, dir: &TmpDir) -> Proc {
    let conf = dir.0.join("smtpd.conf");
    listening(ns, "192.0.2.2", 2525, || {
        Proc::start(
            ns,
            &dir.0.join("smtpd.log"),
            "smtpd",
            &["-d", "-f", conf.to_str().unwrap()],
            "opensmtpd",
        )
    })
}

fn dnsmasq(ns: &Netns, dir: &TmpDir) -> Proc {
    let pid = dir.0.join("dnsmasq.pid");
    let pid = format!("--pid-file={}", pid.display());
    Proc::start(
        ns,
        &dir.0.join("dnsmasq.log"),
        "dnsmasq",
        &[
            "-k",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--listen-address=192.0.2.2",
            "--bind-interfaces",
            "--port=5353",
            "--address=/check.example/192.0.2.50",
            "--user=root",
            &pid,
        ],
        "dnsmasq-base",
    )
}

/// Starts a server and waits until it listens on `ip:port` in `ns` (ss from iproute2);
/// a server that exited at once (a predecessor's sockets or files not yet released) is
/// started again, at most three times.
fn listening(ns: &Netns, ip: &str, port: u16, start: impl Fn() -> Proc) -> Proc {
    let want = format!("{ip}:{port}");
    let mut logs = String::new();
    for _ in 0..3 {
        let mut p = start();
        let ok = wait_until(Duration::from_secs(10), || {
            run("ip", &["netns", "exec", &ns.name, "ss", "-Hltn"]).contains(&want) || !p.alive()
        });
        if ok.is_some() && p.alive() {
            return p;
        }
        logs.push_str(&p.log());
        drop(p);
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("nothing listens on {want} in {}\n{logs}", ns.name);
}

const INDEX: &str = "hello from nginx, checked by keepalived-rs\n";

/// The config: one virtual server per family; every checker kind with delay_loop 1,
/// retry 1, delay_before_retry 1, connect_timeout 2, no warmup.
fn checker_conf(dir: &Path, digest: &str) -> String {
    let d = dir.display();
    let t = "    connect_timeout 2\n    retry 1\n    delay_before_retry 1\n    warmup 0\n";
    format!(
        "SSL {{\n  certificate {d}/cert.pem\n  key {d}/key.pem\n}}\n\
track_file tf {{\n  file {d}/tracked\n}}\n\
virtual_server 192.0.2.100 80 {{\n  delay_loop 1\n  protocol TCP\n\
  real_server 192.0.2.2 8080 {{\n    HTTP_GET {{\n      url {{\n        path /index.html\n        digest {digest}\n        status_code 200\n      }}\n{t}    }}\n  }}\n\
  real_server 192.0.2.2 8443 {{\n    SSL_GET {{\n      url {{\n        path /index.html\n        digest {digest}\n      }}\n      virtualhost www.example.org\n      enable_sni\n{t}    }}\n  }}\n\
  real_server 192.0.2.2 8444 {{\n    SSL_GET {{\n      url {{\n        path /index.html\n        digest {digest}\n      }}\n{t}    }}\n  }}\n\
  real_server 192.0.2.2 2525 {{\n    SMTP_CHECK {{\n      helo_name checker.example\n{t}    }}\n  }}\n\
  real_server 192.0.2.2 5353 {{\n    DNS_CHECK {{\n      type A\n      name check.example\n{t}    }}\n  }}\n\
  real_server 192.0.2.2 9999 {{\n    UDP_CHECK {{\n      payload 50494e47\n      require_reply 504f4e4750494e47\n{t}    }}\n  }}\n\
  real_server 192.0.2.3 80 {{\n    PING_CHECK {{\n{t}    }}\n  }}\n\
  real_server 192.0.2.4 80 {{\n    MISC_CHECK {{\n      misc_path \"/bin/sh -c 'test -e {d}/misc-ok'\"\n      misc_timeout 2\n    retry 1\n    delay_before_retry 1\n    warmup 0\n    }}\n  }}\n\
  real_server 192.0.2.5 80 {{\n    FILE_CHECK {{\n      track_file tf\n      weight 0\n    }}\n  }}\n\
}}\n\
virtual_server 2001:db8::100 80 {{\n  delay_loop 1\n  protocol TCP\n\
  real_server 2001:db8::3 80 {{\n    PING_CHECK {{\n{t}    }}\n  }}\n\
  real_server 2001:db8::2 8080 {{\n    TCP_CHECK {{\n{t}    }}\n  }}\n\
}}\n"
    )
}

fn prepare_servers(dir: &TmpDir) {
    let d = &dir.0;
    std::fs::create_dir_all(d.join("www")).unwrap();
    std::fs::create_dir_all(d.join("tmp")).unwrap();
    std::fs::write(d.join("www/index.html"), INDEX).unwrap();
    std::fs::write(d.join("nginx.conf"), nginx_conf(d)).unwrap();
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=www.example.org", "-keyout"])
        .arg(d.join("key.pem"))
        .arg("-out")
        .arg(d.join("cert.pem"))
        .output()
        .expect("openssl CLI (Debian package openssl) generates the test certificate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let smtpd_conf = d.join("smtpd.conf");
    std::fs::write(
        &smtpd_conf,
        "listen on 192.0.2.2 port 2525\naction \"local\" mbox\nmatch from any for local action \"local\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&smtpd_conf, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(d.join("misc-ok"), "").unwrap();
    std::fs::write(d.join("tracked"), "0\n").unwrap();
}

/// The MD5 of the page, from keepalived's own genhash when installed, else from ours
/// (the two are compared in `genhash_matches_keepalived`).
fn md5_hex(data: &str) -> String {
    let out = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(data.as_bytes())?;
            c.wait_with_output()
        })
        .expect("md5sum (coreutils)");
    String::from_utf8_lossy(&out.stdout)[..32].to_owned()
}

#[test]
fn every_checker_sees_its_server_go_down_and_come_back() {
    let p = Pair::new();
    let dir = TmpDir::new();
    prepare_servers(&dir);
    for a in ["192.0.2.3/32", "2001:db8::3/128"] {
        p.b.ip(&["addr", "add", a, "dev", &p.b_if, "nodad"]);
    }
    let digest = md5_hex(INDEX);
    let mut web = Some(nginx(&p.b, &dir));
    let mut mail = Some(smtpd(&p.b, &dir));
    let mut dns = Some(dnsmasq(&p.b, &dir));
    let mut udp = Some(Server::udp_echo(&p.b, "192.0.2.2:9999"));

    let chk = keepalived_rs(&p.a, &dir, "chk", &checker_conf(&dir.0, &digest), &["-C"]);
    let servers = [
        "[192.0.2.2]:tcp:8080 ",
        "[192.0.2.2]:tcp:8443 ",
        "[192.0.2.2]:tcp:8444 ",
        "[192.0.2.2]:tcp:2525 ",
        "[192.0.2.2]:tcp:5353 ",
        "[192.0.2.2]:tcp:9999 ",
        "[192.0.2.3]:tcp:80 ",
        "[192.0.2.4]:tcp:80 ",
        "[192.0.2.5]:tcp:80 ",
        "[2001:db8::3]:tcp:80 ",
        "[2001:db8::2]:tcp:8080 ",
    ];
    // Everything starts up and stays up for a few rounds (a failed first probe would
    // remove its server at once: retry_it starts at retry).
    assert!(
        wait_until(Duration::from_secs(10), || chk
            .log()
            .contains("checker started"))
        .is_some(),
        "{}",
        chk.log()
    );
    std::thread::sleep(Duration::from_secs(4));
    let log = chk.log();
    assert_eq!(count(&log, "Removing service"), 0, "{log}");
    assert_eq!(count(&log, "failed"), 0, "{log}");
    assert!(
        web.as_mut().unwrap().alive(),
        "nginx: {}",
        web.as_ref().unwrap().log()
    );
    assert!(
        mail.as_mut().unwrap().alive(),
        "smtpd: {}",
        mail.as_ref().unwrap().log()
    );
    assert!(
        dns.as_mut().unwrap().alive(),
        "dnsmasq: {}",
        dns.as_ref().unwrap().log()
    );

    // Down: stop every server, remove the pinged addresses, fail the script and file.
    let down_at = Instant::now();
    web.take();
    mail.take();
    dns.take();
    udp.take();
    for a in ["192.0.2.3/32", "2001:db8::3/128"] {
        p.b.ip(&["addr", "del", a, "dev", &p.b_if]);
    }
    std::fs::remove_file(dir.0.join("misc-ok")).unwrap();
    std::fs::write(dir.0.join("tracked"), "1\n").unwrap();
    let mut removed = Vec::new();
    for s in servers {
        let t = wait_more(
            &chk,
            &format!("Removing service {s}"),
            0,
            Duration::from_secs(25),
        );
        removed.push((s, t));
    }
    let down_took = down_at.elapsed();
    let log = chk.log();
    for (s, _) in &removed {
        if s.contains("192.0.2.5") {
            continue; // FILE_CHECK is passive: no retries.
        }
        // retry 1: one failed attempt is logged before the server is removed.
        // Checker labels carry the probe's own protocol and port (PING: 0).
        let (ip, port) = s.trim_end().rsplit_once(':').unwrap();
        let ip = &ip[..ip.find("]:").unwrap() + 2];
        let attempt = log
            .lines()
            .position(|l| {
                l.contains(ip)
                    && (l.contains(&format!(":{port}: attempt 1 of 2 failed"))
                        || l.contains(":0: attempt 1 of 2 failed"))
            })
            .unwrap_or_else(|| panic!("no retry logged for {s}\n{log}"));
        let removal = log
            .lines()
            .position(|l| l.contains(&format!("Removing service {s}")))
            .unwrap();
        assert!(attempt < removal, "{s}: removed before its retry\n{log}");
        // The retry runs delay_before_retry (1 s) after the first failure and is judged
        // within connect_timeout (2 s).
        let lines: Vec<&str> = log.lines().collect();
        let gap = log_time(lines[removal]) - log_time(lines[attempt]);
        assert!(
            (0.9..8.0).contains(&gap),
            "{s}: {gap:.3} s between the failed attempt and the removal\n{log}"
        );
    }
    eprintln!("all removed {down_took:?} after the servers went down: {removed:?}");

    // Up again: the removals so far are counted, so only new "Adding" lines count.
    let up_at = Instant::now();
    let before = count(&log, "Adding service");
    assert_eq!(before, 0, "{log}");
    let _web = nginx(&p.b, &dir);
    let _mail = smtpd(&p.b, &dir);
    let _dns = dnsmasq(&p.b, &dir);
    let _udp = Server::udp_echo(&p.b, "192.0.2.2:9999");
    for a in ["192.0.2.3/32", "2001:db8::3/128"] {
        p.b.ip(&["addr", "add", a, "dev", &p.b_if, "nodad"]);
    }
    std::fs::write(dir.0.join("misc-ok"), "").unwrap();
    std::fs::write(dir.0.join("tracked"), "0\n").unwrap();
    let mut added = Vec::new();
    for s in servers {
        let t = wait_more(
            &chk,
            &format!("Adding service {s}"),
            0,
            Duration::from_secs(25),
        );
        added.push((s, t));
    }
    eprintln!(
        "all added {:?} after the servers came back: {added:?}",
        up_at.elapsed()
    );
    let log = chk.log();
    // HTTP_GET / SSL_GET with one URL come back after two passing runs, delay_loop apart.
    for s in ["[192.0.2.2]:tcp:8080 ", "[192.0.2.2]:tcp:8443 "] {
        let succ: Vec<usize> = log
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(&format!("Adding service {s}")))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(succ.len(), 1, "{s}\n{log}");
    }
    assert!(!log.contains("no result from the I/O layer"), "{log}");
}

#[test]
fn genhash_matches_keepalived() {
    let p = Pair::new();
    let dir = TmpDir::new();
    prepare_servers(&dir);
    let _web = nginx(&p.b, &dir);
    let ours = |args: &[&str]| {
        let mut a = vec![
            "netns",
            "exec",
            &p.a.name,
            env!("CARGO_BIN_EXE_keepalived-rs"),
            "genhash",
        ];
        a.extend_from_slice(args);
        run("ip", &a)
    };
    let theirs = |args: &[&str]| {
        let mut a = vec!["netns", "exec", &p.a.name, "genhash"];
        a.extend_from_slice(args);
        run("ip", &a)
    };
    for args in [
        &["-s", "192.0.2.2", "-p", "8080", "-u", "/index.html"][..],
        &["-s", "192.0.2.2", "-p", "8080", "-u", "/missing"][..],
        &[
            "-s",
            "2001:db8::2",
            "-p",
            "8080",
            "-u",
            "/index.html",
            "-P",
            "1.1",
        ][..],
        &[
            "-S",
            "-s",
            "192.0.2.2",
            "-p",
            "8443",
            "-u",
            "/index.html",
            "-I",
            "-V",
            "www.example.org",
        ][..],
    ] {
        let o = ours(args);
        assert_eq!(o.trim().len(), 32, "{args:?}: {o}");
        assert_eq!(o, theirs(args), "{args:?}");
    }
    assert_eq!(
        ours(&["-s", "192.0.2.2", "-p", "8080", "-u", "/index.html"]).trim(),
        md5_hex(INDEX)
    );
}

/// A bad (or good) server's connection handler.
type Handler = fn(std::net::TcpStream, &AtomicBool);

fn respond(c: &mut std::net::TcpStream, bytes: &[u8]) {
    read_request(c);
    let _ = c.write_all(bytes);
}

fn silent(c: std::net::TcpStream, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(c);
}

fn reset(c: std::net::TcpStream, _: &AtomicBool) {
    // Closing with the request unread makes the kernel send a RST.
    std::thread::sleep(Duration::from_millis(200));
    drop(c);
}

fn garbage(mut c: std::net::TcpStream, _: &AtomicBool) {
    respond(&mut c, b"\x00\x01\x02 this is not HTTP at all\r\n\r\n");
}

fn slow_body(mut c: std::net::TcpStream, stop: &AtomicBool) {
    respond(&mut c, b"HTTP/1.0 200 OK\r\nContent-Length: 100000\r\n\r\n");
    while !stop.load(Ordering::Relaxed) {
        if c.write_all(b"x").is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn huge_body(mut c: std::net::TcpStream, stop: &AtomicBool) {
    respond(&mut c, b"HTTP/1.0 200 OK\r\n\r\n");
    let chunk = vec![b'y'; 65536];
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(30) {
        if c.write_all(&chunk).is_err() {
            return;
        }
    }
}

fn wrong_digest(mut c: std::net::TcpStream, _: &AtomicBool) {
    respond(
        &mut c,
        b"HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\ngoodbye",
    );
}

fn wrong_status(mut c: std::net::TcpStream, _: &AtomicBool) {
    respond(
        &mut c,
        b"HTTP/1.0 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nhello",
    );
}

fn good(mut c: std::net::TcpStream, _: &AtomicBool) {
    respond(&mut c, b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello");
}

#[test]
fn bad_servers_are_judged_within_connect_timeout_without_stalling_vrrp() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let bad: [(&'static str, Handler, &[&str]); 7] = [
        ("192.0.2.2:7001", silent, &["timeout"]),
        ("192.0.2.2:7002", reset, &["reset", "no data", "I/O error"]),
        ("192.0.2.2:7003", garbage, &["HTTP"]),
        ("192.0.2.2:7004", slow_body, &["timeout"]),
        (
            "192.0.2.2:7005",
            huge_body,
            &["body larger than", "timeout"],
        ),
        ("192.0.2.2:7006", wrong_digest, &["MD5 digest mismatch"]),
        ("192.0.2.2:7007", wrong_status, &["HTTP status code 500"]),
    ];
    let _servers: Vec<Server> = bad
        .iter()
        .map(|(a, h, _)| Server::tcp(&p.b, a, *h))
        .chain(std::iter::once(Server::tcp(&p.b, "192.0.2.2:7008", good)))
        .collect();
    let hello = "5d41402abc4b2a76b9719d911017c592"; // md5("hello")
    let mut rs = String::new();
    for port in 7001..=7008 {
        rs.push_str(&format!(
            "  real_server 192.0.2.2 {port} {{\n    HTTP_GET {{\n      url {{\n        path /\n        digest {hello}\n      }}\n      connect_timeout 2\n      retry 0\n      warmup 0\n    }}\n  }}\n"
        ));
    }
    let vrrp = |prio: u8, ifname: &str| {
        format!(
            "vrrp_instance VI_1 {{\n  state BACKUP\n  interface {ifname}\n  virtual_router_id 52\n  \
             version 3\n  priority {prio}\n  advert_int 0.1\n  virtual_ipaddress {{\n    192.0.2.100/32\n  }}\n}}\n"
        )
    };
    // a runs both subsystems (the default); b is a VRRP-only backup that would take the
    // VIP if a's adverts stalled for 0.3 s.
    let conf_a = format!(
        "{}virtual_server 192.0.2.100 80 {{\n  delay_loop 1\n  protocol TCP\n{rs}}}\n",
        vrrp(200, &p.a_if)
    );
    let chk = keepalived_rs(&p.a, &dir, "a", &conf_a, &[]);
    assert!(
        wait_until(Duration::from_secs(8), || p.a.has(&p.a_if, "192.0.2.100")).is_some(),
        "a never became master\n{}",
        chk.log()
    );
    let db = Daemon::start(&p.b, &dir, "b", &vrrp(100, &p.b_if));
    let started = Instant::now();
    // Watch b for 10 s (every probe runs several times) while the bad servers are judged.
    while started.elapsed() < Duration::from_secs(10) {
        assert!(
            !p.b.has(&p.b_if, "192.0.2.100"),
            "the backup took over: VRRP stalled\n--- a ---\n{}\n--- b ---\n{}",
            chk.log(),
            db.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = chk.log();
    for (addr, _, reasons) in &bad {
        let port = &addr[10..];
        let needle = format!("HTTP_GET on service [192.0.2.2]:tcp:{port} failed");
        let line = log
            .lines()
            .find(|l| l.contains(&needle))
            .unwrap_or_else(|| panic!("{addr} never failed\n{log}"));
        assert!(
            reasons.iter().any(|r| line.contains(r)),
            "{addr}: unexpected reason {line}"
        );
        assert!(
            log.contains(&format!("Removing service [192.0.2.2]:tcp:{port} ")),
            "{log}"
        );
    }
    // First probe at 1 s, judged within connect_timeout (2 s): all removed well before
    // the engine's own watchdog (4 x 2 + 10 s) could have fired.
    assert!(!log.contains("no result from the I/O layer"), "{log}");
    assert!(
        !log.contains("Removing service [192.0.2.2]:tcp:7008 "),
        "good server removed\n{log}"
    );
    assert!(
        !log.contains("HTTP_GET on service [192.0.2.2]:tcp:7008 failed"),
        "{log}"
    );
    assert!(log.contains("Entering MASTER STATE") || p.a.has(&p.a_if, "192.0.2.100"));
}

#[test]
fn common_options_reach_the_socket_and_notify_scripts_run() {
    let p = Pair::new();
    let dir = TmpDir::new();
    // A second source address; a policy route that makes fwmark 7 unreachable.
    p.a.ip(&["addr", "add", "192.0.2.9/24", "dev", &p.a_if, "nodad"]);
    p.a.ip(&["rule", "add", "fwmark", "7", "table", "100", "pref", "100"]);
    p.a.ip(&[
        "route",
        "add",
        "unreachable",
        "192.0.2.0/24",
        "table",
        "100",
    ]);
    let peers = Arc::new(std::sync::Mutex::new(Vec::<std::net::SocketAddr>::new()));
    let seen = Arc::clone(&peers);
    let server = |seen: Arc<std::sync::Mutex<Vec<std::net::SocketAddr>>>| {
        Server::spawn(&p.b, move |stop| {
            let l = TcpListener::bind("192.0.2.2:7100").unwrap();
            l.set_nonblocking(true).unwrap();
            while !stop.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((_, from)) => seen.lock().unwrap().push(from),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })
    };
    let mut srv = Some(server(Arc::clone(&seen)));
    let d = dir.0.display();
    let t = "      connect_ip 192.0.2.2\n      connect_port 7100\n      connect_timeout 2\n      retry 0\n      warmup 0\n";
    let conf = format!(
        "virtual_server 192.0.2.100 80 {{\n  delay_loop 1\n  protocol TCP\n\
  real_server 192.0.2.50 80 {{\n    notify_up \"/bin/sh -c 'echo up >> {d}/notify'\"\n    notify_down \"/bin/sh -c 'echo down >> {d}/notify'\"\n\
    TCP_CHECK {{\n{t}      bindto 192.0.2.9\n      bind_if {a_if}\n    }}\n  }}\n\
  real_server 192.0.2.51 80 {{\n    TCP_CHECK {{\n{t}      fwmark 7\n    }}\n  }}\n\
  real_server 192.0.2.52 80 {{\n    TCP_CHECK {{\n{t}      bind_port 40123\n    }}\n  }}\n\
  real_server 192.0.2.53 80 {{\n    TCP_CHECK {{\n{t}      bind_if lo\n    }}\n  }}\n}}\n",
        a_if = p.a_if
    );
    let chk = keepalived_rs(&p.a, &dir, "opt", &conf, &["-C"]);
    // fwmark 7 and bind_if lo cannot reach the server: removed.
    for s in ["[192.0.2.51]:tcp:80 ", "[192.0.2.53]:tcp:80 "] {
        wait_more(
            &chk,
            &format!("Removing service {s}"),
            0,
            Duration::from_secs(15),
        );
    }
    let log = chk.log();
    let fw = log
        .lines()
        .find(|l| l.contains("[192.0.2.2]:tcp:7100 failed") && l.contains("unreachable"))
        .unwrap_or_else(|| panic!("fwmark 7 was not routed to the unreachable table\n{log}"));
    eprintln!("{fw}");
    // bindto and bind_port are what the server saw.
    let from = peers.lock().unwrap().clone();
    assert!(
        from.iter().any(|a| a.ip().to_string() == "192.0.2.9"),
        "{from:?}"
    );
    assert!(from.iter().any(|a| a.port() == 40123), "{from:?}");
    assert!(
        !log.contains("Removing service [192.0.2.50]:tcp:80 "),
        "{log}"
    );
    // The server goes away and comes back: notify_down, then notify_up.
    srv.take();
    wait_more(
        &chk,
        "Removing service [192.0.2.50]:tcp:80 ",
        0,
        Duration::from_secs(15),
    );
    let notified = |want: &str| {
        wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(dir.0.join("notify")).unwrap_or_default() == want
        })
        .is_some()
    };
    assert!(notified("down\n"), "notify_down did not run\n{}", chk.log());
    srv = Some(server(Arc::clone(&peers)));
    wait_more(
        &chk,
        "Adding service [192.0.2.50]:tcp:80 ",
        0,
        Duration::from_secs(15),
    );
    assert!(
        notified("down\nup\n"),
        "notify_up did not run\n{}",
        chk.log()
    );
    drop(srv);
}
