//! End-to-end: the real `keepalived-rs` programs a NAT `virtual_server` into nftables
//! (`--lb-backend nftables`) on a load balancer in a namespace; a client's requests to
//! the VIP reach both back ends by weight; on SIGTERM the table is removed.
//!
//! Root, `ip`, `nft` (Debian nftables). Addresses: 192.0.2.0/24 (client side) and
//! 198.51.100.0/24 (back ends).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{http_requests, link, wait_until, Daemon, Netns, TcpBackend, TmpDir};
use std::time::Duration;

const VIP: &str = "192.0.2.100";

fn conf(client_if: &str, w1: u32, w2: u32) -> String {
    format!(
        "vrrp_instance VI_1 {{\n  state MASTER\n  interface {client_if}\n  virtual_router_id 51\n  \
         priority 150\n  advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}/32\n  }}\n}}\n\
         virtual_server {VIP} 80 {{\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n\
         \n  real_server 198.51.100.10 8080 {{\n    weight {w1}\n  }}\n\
         \n  real_server 198.51.100.20 8080 {{\n    weight {w2}\n  }}\n}}\n"
    )
}

/// Two real servers with a TCP_CHECK each; `inhibit` keeps a failed one at weight 0.
fn checked_conf(client_if: &str, inhibit: bool) -> String {
    let inhibit = if inhibit {
        "    inhibit_on_failure\n"
    } else {
        ""
    };
    let rs = |addr: &str| {
        format!(
            "  real_server {addr} 8080 {{\n    weight 1\n{inhibit}    TCP_CHECK {{\n      \
             connect_timeout 1\n      retry 0\n    }}\n  }}\n"
        )
    };
    format!(
        "vrrp_instance VI_1 {{\n  state MASTER\n  interface {client_if}\n  virtual_router_id 51\n  \
         priority 150\n  advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}/32\n  }}\n}}\n\
         virtual_server {VIP} 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
         {}{}}}\n",
        rs("198.51.100.10"),
        rs("198.51.100.20")
    )
}

/// `keepalived-rs status [--json]` against the daemon's control socket: the JSON, or
/// the text as a JSON string.
fn status(d: &Daemon, json: bool) -> serde_json::Value {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keepalived-rs"));
    cmd.arg("status").arg("--control-socket").arg(&d.sock);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "status: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    let text = String::from_utf8(out.stdout).unwrap();
    if json {
        serde_json::from_str(&text).unwrap()
    } else {
        serde_json::Value::String(text)
    }
}

fn nft_tables(ns: &Netns) -> String {
    common::run("ip", &["netns", "exec", &ns.name, "nft", "list", "tables"])
}

#[test]
fn nat_virtual_server_through_nftables() {
    let Site {
        client,
        lb,
        b2,
        lb_client_if,
        _b1: b1,
    } = site();
    let _w1 = TcpBackend::start(&b1, "web1", 8080);
    let _w2 = TcpBackend::start(&b2, "web2", 8080);

    let dir = TmpDir::new();
    let mut d = Daemon::start_with(
        &lb,
        &dir,
        "lb",
        &conf(&lb_client_if, 2, 1),
        &["--lb-backend", "nftables"],
    );
    let up = wait_until(Duration::from_secs(8), || {
        lb.has(&lb_client_if, VIP) && nft_tables(&lb).contains("keepalived_rs")
    });
    assert!(up.is_some(), "no VIP or no table\n{}", d.log());
    let to = format!("{VIP}:80").parse().unwrap();
    let got = http_requests(&client, to, 90);
    assert_eq!(
        (got.get("web1"), got.get("web2"), got.get("-")),
        (Some(&60), Some(&30), None),
        "wrr 2:1 over 90 connections\n{got:?}\n{}",
        d.log()
    );
    assert!(
        d.log().contains("load balancer: nftables backend"),
        "{}",
        d.log()
    );

    // `status` shows the table the way ipvsadm does, with the connections counted.
    let j = status(&d, true);
    let vs = &j["virtual_servers"];
    assert_eq!(vs["backend"], "nftables", "{j}");
    let svc = &vs["services"][0];
    assert_eq!(
        (&svc["protocol"], &svc["address"], &svc["scheduler"]),
        (&"TCP".into(), &"192.0.2.100:80".into(), &"wrr".into()),
        "{j}"
    );
    assert_eq!(svc["stats"]["conns"], 90, "{j}");
    let dests: Vec<(String, String, u64, u64)> = svc["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["address"].as_str().unwrap().to_owned(),
                d["forward"].as_str().unwrap().to_owned(),
                d["weight"].as_u64().unwrap(),
                d["stats"]["conns"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        dests,
        [
            ("198.51.100.10:8080".into(), "Masq".into(), 2, 60),
            ("198.51.100.20:8080".into(), "Masq".into(), 1, 30)
        ],
        "{j}"
    );
    // Packets and bytes: per service (each connection at least SYN, request, FIN each
    // way, 40 bytes a packet at least), not per destination.
    let n = |k: &str| svc["stats"][k].as_u64().unwrap();
    assert!(n("inpkts") >= 3 * 90 && n("outpkts") >= 3 * 90, "{j}");
    assert!(
        n("inbytes") >= 40 * n("inpkts") && n("outbytes") >= 40 * n("outpkts"),
        "{j}"
    );
    assert!(svc["destinations"][0]["stats"]["inpkts"].is_null(), "{j}");
    let text = status(&d, false);
    let text = text.as_str().unwrap();
    for line in [
        "virtual servers (nftables backend):",
        "TCP  192.0.2.100:80 wrr",
        "  -> 198.51.100.10:8080           Masq    2      -          -",
        "  -> 198.51.100.20:8080                 30        -        -        -        -",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in\n{text}"
        );
    }
    // The text's counters line: 90 connections and (read a moment later) at least the
    // packets and bytes the JSON had.
    let counted: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("TCP  192.0.2.100:80 "))
        .find_map(|l| {
            l.split_whitespace()
                .map(|x| x.parse().ok())
                .collect::<Option<Vec<u64>>>()
        })
        .unwrap_or_default();
    assert_eq!(counted.len(), 5, "{text}");
    assert_eq!(counted[0], 90, "{text}");
    for (i, k) in ["inpkts", "outpkts", "inbytes", "outbytes"]
        .iter()
        .enumerate()
    {
        assert!(counted[i + 1] >= n(k), "{k}: {text}");
    }

    // SIGTERM: VIP released and our table removed.
    d.signal("-TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(5)), Some(0), "{}", d.log());
    assert!(!lb.has(&lb_client_if, VIP));
    assert!(!nft_tables(&lb).contains("keepalived_rs"), "{}", d.log());
}

#[test]
fn vrrp_only_flag_leaves_the_data_plane_alone() {
    let (peer, lb) = (Netns::new(), Netns::new());
    let (_, lb_if) = link(&peer, "192.0.2.2/24", &lb, "192.0.2.1/24");
    let dir = TmpDir::new();
    let d = Daemon::start(&lb, &dir, "lb", &conf(&lb_if, 1, 1));
    assert!(
        wait_until(Duration::from_secs(8), || lb.has(&lb_if, VIP)).is_some(),
        "{}",
        d.log()
    );
    assert!(!nft_tables(&lb).contains("keepalived_rs"), "{}", d.log());
}

/// `--lb-backend ipvs` on a kernel without IPVS (this host's; the qemu guest test
/// covers a kernel with it) is refused at start with the reason; `auto` falls back to
/// nftables and says why.
#[test]
fn forced_ipvs_without_ipvs_is_refused_and_auto_uses_nftables() {
    let has_ipvs = std::path::Path::new("/proc/net/ip_vs").exists();
    let (peer, lb) = (Netns::new(), Netns::new());
    let (_, lb_if) = link(&peer, "192.0.2.2/24", &lb, "192.0.2.1/24");
    let dir = TmpDir::new();
    let mut d = Daemon::start_with(
        &lb,
        &dir,
        "forced",
        &conf(&lb_if, 1, 1),
        &["--lb-backend", "ipvs"],
    );
    if has_ipvs {
        let up = wait_until(Duration::from_secs(8), || {
            d.log().contains("load balancer: ipvs backend")
        });
        assert!(up.is_some(), "{}", d.log());
        return;
    }
    assert_eq!(d.wait_exit(Duration::from_secs(10)), Some(1), "{}", d.log());
    assert!(
        d.log().contains("IPVS backend: the kernel has no IPVS"),
        "{}",
        d.log()
    );
    let d = Daemon::start_with(&lb, &dir, "auto", &conf(&lb_if, 1, 1), &[]);
    let up = wait_until(Duration::from_secs(8), || {
        d.log().contains("load balancer: nftables backend")
    });
    assert!(up.is_some(), "{}", d.log());
    assert!(
        d.log()
            .contains("the kernel has no IPVS: the load balancer uses nftables"),
        "{}",
        d.log()
    );
}

/// Without a vrrp_instance (the VIP put on the director by hand) the control socket
/// still answers: `status` shows the data plane's table and counters; `reload` is
/// refused with the reason.
#[test]
fn status_without_vrrp_shows_the_data_plane() {
    let s = site();
    let _w1 = TcpBackend::start(&s._b1, "web1", 8080);
    let _w2 = TcpBackend::start(&s.b2, "web2", 8080);
    s.lb.ip(&["addr", "add", &format!("{VIP}/32"), "dev", &s.lb_client_if]);
    let full = conf(&s.lb_client_if, 2, 1);
    let lvs_only = &full[full.find("virtual_server").unwrap()..];
    let dir = TmpDir::new();
    let d = Daemon::start_with(&s.lb, &dir, "lb", lvs_only, &["--lb-backend", "nftables"]);
    let up = wait_until(Duration::from_secs(8), || {
        nft_tables(&s.lb).contains("keepalived_rs") && d.sock.exists()
    });
    assert!(up.is_some(), "no table or no control socket\n{}", d.log());
    let got = http_requests(&s.client, format!("{VIP}:80").parse().unwrap(), 30);
    assert_eq!(
        (got.get("web1"), got.get("web2")),
        (Some(&20), Some(&10)),
        "{got:?}"
    );
    let j = status(&d, true);
    assert_eq!(j["instances"], serde_json::json!([]), "{j}");
    let svc = &j["virtual_servers"]["services"][0];
    assert_eq!(svc["stats"]["conns"], 30, "{j}");
    assert_eq!(svc["destinations"][0]["stats"]["conns"], 20, "{j}");
    let text = status(&d, false);
    assert!(
        text.as_str()
            .unwrap()
            .contains("virtual servers (nftables backend):"),
        "{text}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keepalived-rs"))
        .arg("reload")
        .arg("--control-socket")
        .arg(&d.sock)
        .output()
        .unwrap();
    // Without VRRP the virtual servers reload (as keepalived's checker process does).
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("reloaded: 1 virtual server(s)"),
        "{stdout}"
    );
}

/// A load balancer in front of two back ends, both answering.
struct Site {
    client: Netns,
    lb: Netns,
    b2: Netns,
    lb_client_if: String,
    _b1: Netns,
}

fn site() -> Site {
    let (client, lb, b1, b2) = (Netns::new(), Netns::new(), Netns::new(), Netns::new());
    let (_, lb_client_if) = link(&client, "192.0.2.2/24", &lb, "192.0.2.1/24");
    link(&lb, "198.51.100.1/28", &b1, "198.51.100.10/28");
    link(&lb, "198.51.100.17/28", &b2, "198.51.100.20/28");
    common::run(
        "ip",
        &[
            "netns",
            "exec",
            &lb.name,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ],
    );
    b1.ip(&["route", "add", "default", "via", "198.51.100.1"]);
    b2.ip(&["route", "add", "default", "via", "198.51.100.17"]);
    Site {
        client,
        lb,
        b2,
        lb_client_if,
        _b1: b1,
    }
}

/// A back end that stops answering is taken out by its TCP_CHECK (removed, or weight 0
/// with inhibit_on_failure) and put back when it answers again; requests follow.
fn dead_back_end(inhibit: bool) {
    let s = site();
    let _w1 = TcpBackend::start(&s._b1, "web1", 8080);
    let w2 = TcpBackend::start(&s.b2, "web2", 8080);
    let dir = TmpDir::new();
    let d = Daemon::start_with(
        &s.lb,
        &dir,
        "lb",
        &checked_conf(&s.lb_client_if, inhibit),
        &["--lb-backend", "nftables"],
    );
    let to = format!("{VIP}:80").parse().unwrap();
    let up = wait_until(Duration::from_secs(8), || {
        s.lb.has(&s.lb_client_if, VIP) && nft_tables(&s.lb).contains("keepalived_rs")
    });
    assert!(up.is_some(), "no VIP or no table\n{}", d.log());
    let got = http_requests(&s.client, to, 40);
    assert_eq!(
        (got.get("web1"), got.get("web2")),
        (Some(&20), Some(&20)),
        "rr over two live back ends\n{got:?}\n{}",
        d.log()
    );

    drop(w2);
    let out = wait_until(Duration::from_secs(10), || {
        d.log().contains("Removing service [198.51.100.20]")
    });
    assert!(out.is_some(), "web2 never taken out\n{}", d.log());
    // The table is rewritten right after the verdict; allow it a moment.
    let only_web1 = wait_until(Duration::from_secs(3), || {
        http_requests(&s.client, to, 4).get("web1") == Some(&4)
    });
    assert!(
        only_web1.is_some(),
        "requests still sent to web2\n{}",
        d.log()
    );
    let got = http_requests(&s.client, to, 20);
    assert_eq!(got.get("web1"), Some(&20), "{got:?}\n{}", d.log());
    // The data plane's table, as `status` shows it: web2 at weight 0, or gone.
    let j = status(&d, true);
    let web2: Vec<&serde_json::Value> = j["virtual_servers"]["services"][0]["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["address"].as_str().unwrap().starts_with("198.51.100.20"))
        .collect();
    assert_eq!(
        web2.iter()
            .map(|d| d["weight"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        if inhibit { vec![0] } else { vec![] },
        "a failed server stays in the table (at weight 0) only with inhibit_on_failure\n{j}"
    );
    // Either way nftables sends it nothing new: it is in no DNAT map.
    let ruleset = common::run(
        "ip",
        &[
            "netns",
            "exec",
            &s.lb.name,
            "nft",
            "list",
            "table",
            "inet",
            "keepalived_rs",
        ],
    );
    assert!(!ruleset.contains("198.51.100.20"), "{ruleset}");

    let _w2 = TcpBackend::start(&s.b2, "web2", 8080);
    let back = wait_until(Duration::from_secs(10), || {
        d.log().contains("Adding service [198.51.100.20]")
    });
    assert!(back.is_some(), "web2 never put back\n{}", d.log());
    let both = wait_until(Duration::from_secs(3), || {
        http_requests(&s.client, to, 4).contains_key("web2")
    });
    assert!(both.is_some(), "no request reaches web2 again\n{}", d.log());
}

#[test]
fn dead_back_end_is_removed_and_put_back() {
    dead_back_end(false);
}

#[test]
fn dead_back_end_is_inhibited_and_put_back() {
    dead_back_end(true);
}

/// `ha_suspend`: the checkers of a virtual server probe only while its address is on the
/// host (the VIP here is added and removed by hand; in use, VRRP moves it). The probes are
/// counted where they arrive: a listener on the back end.
#[test]
fn ha_suspend_probes_only_while_the_address_is_here() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let lb = Netns::new();
    let b1 = Netns::new();
    let (lb_if, _) = link(&lb, "198.51.100.1/28", &b1, "198.51.100.10/28");
    let listener = common::in_netns(&b1, || std::net::TcpListener::bind("0.0.0.0:8080").unwrap());
    listener.set_nonblocking(true).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = {
        let (accepted, stop) = (Arc::clone(&accepted), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok(_) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        })
    };
    let conf = format!(
        "virtual_server {VIP} 80 {{\n  delay_loop 1\n  ha_suspend\n  lb_algo rr\n  lb_kind NAT\n  \
         protocol TCP\n  real_server 198.51.100.10 8080 {{\n    TCP_CHECK {{\n      \
         connect_timeout 1\n      retry 0\n    }}\n  }}\n}}\n"
    );
    let dir = TmpDir::new();
    let d = Daemon::start_with(&lb, &dir, "lb", &conf, &["-C", "--lb-backend", "nftables"]);
    let probes = || accepted.load(Ordering::Relaxed);
    assert!(
        wait_until(Duration::from_secs(8), || d
            .log()
            .contains("checker started"))
        .is_some(),
        "{}",
        d.log()
    );
    // Past the first probe's time (1 s bootstrap + up to delay_loop of warmup).
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(probes(), 0, "probed while the VIP is absent\n{}", d.log());

    lb.ip(&["addr", "add", &format!("{VIP}/32"), "dev", &lb_if]);
    let t = wait_until(Duration::from_secs(8), || probes() >= 2);
    assert!(t.is_some(), "no probes once the VIP is here\n{}", d.log());
    assert!(
        d.log()
            .contains("Activating healthchecker for service [192.0.2.100]:tcp:80"),
        "{}",
        d.log()
    );

    lb.ip(&["addr", "del", &format!("{VIP}/32"), "dev", &lb_if]);
    assert!(
        wait_until(Duration::from_secs(5), || d.log().contains(
            "Suspending healthchecker for service [192.0.2.100]:tcp:80"
        ))
        .is_some(),
        "{}",
        d.log()
    );
    // A probe in flight may still arrive; after that, none (delay_loop is 1 s).
    std::thread::sleep(Duration::from_millis(1000));
    let n = probes();
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(probes(), n, "probed after the VIP left\n{}", d.log());
    stop.store(true, Ordering::Relaxed);
    counter.join().unwrap();
}

/// SIGHUP reloads the virtual servers: a real server removed from the file gets no more
/// requests, put back it gets them again, and a file with an error changes nothing.
#[test]
fn reload_changes_the_real_servers() {
    let s = site();
    let _w1 = TcpBackend::start(&s._b1, "web1", 8080);
    let _w2 = TcpBackend::start(&s.b2, "web2", 8080);
    let dir = TmpDir::new();
    let both = checked_conf(&s.lb_client_if, false);
    let mut d = Daemon::start_with(&s.lb, &dir, "lb", &both, &["--lb-backend", "nftables"]);
    let to = format!("{VIP}:80").parse().unwrap();
    let up = wait_until(Duration::from_secs(8), || {
        s.lb.has(&s.lb_client_if, VIP) && nft_tables(&s.lb).contains("keepalived_rs")
    });
    assert!(up.is_some(), "no VIP or no table\n{}", d.log());
    let got = http_requests(&s.client, to, 20);
    assert_eq!(
        (got.get("web1"), got.get("web2")),
        (Some(&10), Some(&10)),
        "{got:?}"
    );

    let reloads = |d: &Daemon| d.log().matches("load balancer: reloaded").count();
    let cfg = dir.0.join("lb.conf");
    let hup = |d: &mut Daemon, text: &str, n: usize| {
        std::fs::write(&cfg, text).unwrap();
        d.signal("-HUP");
        assert!(
            wait_until(Duration::from_secs(8), || reloads(d) >= n).is_some(),
            "no reload {n}\n{}",
            d.log()
        );
    };
    // web2 removed from the file.
    let only_web1 = both.replace(
        "  real_server 198.51.100.20 8080 {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 1\n      retry 0\n    }\n  }\n",
        "",
    );
    assert_ne!(only_web1, both);
    hup(&mut d, &only_web1, 1);
    let gone = wait_until(Duration::from_secs(3), || {
        http_requests(&s.client, to, 4).get("web1") == Some(&4)
    });
    assert!(gone.is_some(), "web2 still gets requests\n{}", d.log());
    let got = http_requests(&s.client, to, 20);
    assert_eq!(got.get("web1"), Some(&20), "{got:?}\n{}", d.log());

    // A file with an error: refused, nothing changes.
    std::fs::write(
        &cfg,
        both.replace("lb_algo rr", "lb_algo rr\n  bogus_keyword 1"),
    )
    .unwrap();
    d.signal("-HUP");
    assert!(
        wait_until(Duration::from_secs(8), || d
            .log()
            .contains("reload refused"))
        .is_some(),
        "{}",
        d.log()
    );
    let got = http_requests(&s.client, to, 20);
    assert_eq!(got.get("web1"), Some(&20), "{got:?}\n{}", d.log());
    assert_eq!(reloads(&d), 1);

    // web2 back in the file: it gets requests again.
    hup(&mut d, &both, 2);
    let back = wait_until(Duration::from_secs(5), || {
        http_requests(&s.client, to, 4).contains_key("web2")
    });
    assert!(back.is_some(), "web2 never came back\n{}", d.log());
}

/// `-C` (checkers and data plane only, no VRRP engine): SIGHUP and `keepalived-rs reload`
/// reload the virtual servers as keepalived's checker process does; a file with an error
/// is refused on the control socket with the reason and changes nothing.
#[test]
fn check_only_daemon_reloads_its_virtual_servers() {
    let s = site();
    let _w1 = TcpBackend::start(&s._b1, "web1", 8080);
    let _w2 = TcpBackend::start(&s.b2, "web2", 8080);
    let dir = TmpDir::new();
    // No VRRP here: the address is put on the balancer by hand.
    s.lb.ip(&["addr", "add", &format!("{VIP}/32"), "dev", &s.lb_client_if]);
    let both = checked_conf(&s.lb_client_if, false);
    let d = Daemon::start_with(
        &s.lb,
        &dir,
        "lb",
        &both,
        &["-C", "--lb-backend", "nftables"],
    );
    let to = format!("{VIP}:80").parse().unwrap();
    let split = wait_until(Duration::from_secs(8), || {
        let got = http_requests(&s.client, to, 20);
        got.get("web1") == Some(&10) && got.get("web2") == Some(&10)
    });
    assert!(split.is_some(), "no 10/10 split\n{}", d.log());
    let reloads = |d: &Daemon| d.log().matches("load balancer: reloaded").count();
    let cfg = dir.0.join("lb.conf");
    let reload_cli = |d: &Daemon| {
        std::process::Command::new(env!("CARGO_BIN_EXE_keepalived-rs"))
            .args(["reload", "--control-socket"])
            .arg(&d.sock)
            .output()
            .unwrap()
    };

    // SIGHUP with web2 removed from the file.
    let only_web1 = both.replace(
        "  real_server 198.51.100.20 8080 {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 1\n      retry 0\n    }\n  }\n",
        "",
    );
    assert_ne!(only_web1, both);
    std::fs::write(&cfg, &only_web1).unwrap();
    d.signal("-HUP");
    assert!(
        wait_until(Duration::from_secs(8), || reloads(&d) >= 1).is_some(),
        "no reload on SIGHUP\n{}",
        d.log()
    );
    let gone = wait_until(Duration::from_secs(3), || {
        http_requests(&s.client, to, 4).get("web1") == Some(&4)
    });
    assert!(gone.is_some(), "web2 still gets requests\n{}", d.log());

    // The control socket's reload with an error in the file: refused with the reason.
    std::fs::write(
        &cfg,
        both.replace("lb_algo rr", "lb_algo rr\n  bogus_keyword 1"),
    )
    .unwrap();
    let out = reload_cli(&d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}\n{}", d.log());
    assert!(
        err.starts_with("keepalived-rs: reload refused: ") && err.contains("bogus_keyword"),
        "{err}"
    );
    let got = http_requests(&s.client, to, 20);
    assert_eq!(got.get("web1"), Some(&20), "{got:?}\n{}", d.log());
    assert_eq!(reloads(&d), 1);

    // The control socket's reload with web2 back: accepted, web2 gets requests again.
    std::fs::write(&cfg, &both).unwrap();
    let out = reload_cli(&d);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    assert!(
        wait_until(Duration::from_secs(8), || reloads(&d) >= 2).is_some(),
        "{}",
        d.log()
    );
    let back = wait_until(Duration::from_secs(5), || {
        http_requests(&s.client, to, 4).contains_key("web2")
    });
    assert!(back.is_some(), "web2 never came back\n{}", d.log());
}
