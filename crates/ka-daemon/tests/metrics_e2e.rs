//! End-to-end: the metrics listener of the real `keepalived-rs`, scraped over HTTP in
//! network namespaces. Two nodes share VRRP instance VI_1 (advert_int 0.1): node a
//! (priority 150, global_defs `metrics_listen`) also runs a virtual server with a
//! TCP_CHECKed real server on node b (nftables data plane); node b (priority 100, `-P
//! --metrics-listen`) is its backup. /metrics is scraped on b through a's SIGTERM and
//! shows the failover (state gauges, transitions counter, priorities, the priority-0
//! advert); a's real-server, check-latency and virtual-server counters follow real
//! traffic; /status serves `status --json`. Idle scrapers that hold every connection
//! slot, and scrapers in a loop, delay no advert.
//!
//! Root, `ip`, `nft` (Debian nftables). Addresses: 192.0.2.0/24.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{http_requests, in_netns, wait_until, Daemon, Pair, TcpBackend, TmpDir};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.100";

fn instance(ifname: &str, state: &str, prio: u8) -> String {
    format!(
        "vrrp_instance VI_1 {{\n  state {state}\n  interface {ifname}\n  virtual_router_id 51\n  \
         version 3\n  priority {prio}\n  advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}/32\n  }}\n}}\n"
    )
}

fn conf_a(ifname: &str) -> String {
    format!(
        "global_defs {{\n  metrics_listen 192.0.2.1:9650\n}}\n{}\
         virtual_server {VIP} 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
         \n  real_server 192.0.2.2 8080 {{\n    weight 2\n    TCP_CHECK {{\n      connect_timeout 1\n    }}\n  }}\n}}\n",
        instance(ifname, "MASTER", 150)
    )
}

/// One HTTP/1.1 GET from inside `ns`: status code and body.
fn get(ns: &common::Netns, to: &str, path: &str) -> Option<(u16, String)> {
    let to: SocketAddr = to.parse().unwrap();
    in_netns(ns, || {
        let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut r = String::new();
        s.read_to_string(&mut r).ok()?;
        let code = r.get(9..12)?.parse().ok()?;
        let body = r.split_once("\r\n\r\n")?.1.to_owned();
        Some((code, body))
    })
}

/// /metrics as series text (`name{labels}`) -> value.
fn scrape(ns: &common::Netns, to: &str) -> BTreeMap<String, f64> {
    let (code, body) = get(ns, to, "/metrics").expect("no answer from /metrics");
    assert_eq!(code, 200, "{body}");
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (series, v) = l.rsplit_once(' ').unwrap();
            (series.to_owned(), v.parse().unwrap())
        })
        .collect()
}

fn vi1(name: &str) -> String {
    format!("keepalived_rs_{name}{{instance=\"VI_1\"}}")
}

fn state(m: &BTreeMap<String, f64>) -> Option<&'static str> {
    ["INIT", "BACKUP", "MASTER", "FAULT"].into_iter().find(|s| {
        m.get(&format!(
            "keepalived_rs_vrrp_state{{instance=\"VI_1\",state=\"{s}\"}}"
        )) == Some(&1.0)
    })
}

#[test]
fn metrics_show_a_failover_real_servers_and_status() {
    let p = Pair::new();
    let (a, b) = (&p.a, &p.b);
    let _web = TcpBackend::start(b, "web", 8080);
    let dir = TmpDir::new();
    let mut da = Daemon::start_with(
        a,
        &dir,
        "a",
        &conf_a(&p.a_if),
        &["--lb-backend", "nftables"],
    );
    let db = Daemon::start_with(
        b,
        &dir,
        "b",
        &instance(&p.b_if, "BACKUP", 100),
        &["-P", "--metrics-listen", "192.0.2.2:9650"],
    );
    let (ma, mb) = ("192.0.2.1:9650", "192.0.2.2:9650");
    let ready = wait_until(Duration::from_secs(10), || {
        a.has(&p.a_if, VIP)
            && get(b, ma, "/metrics").is_some_and(|(_, t)| t.contains("real_server_up"))
            && get(a, mb, "/metrics").is_some_and(|(_, t)| t.contains("BACKUP\"} 1"))
    });
    assert!(ready.is_some(), "a:\n{}\nb:\n{}", da.log(), db.log());
    assert!(
        da.log()
            .contains("metrics on http://192.0.2.1:9650/metrics"),
        "{}",
        da.log()
    );

    // a: MASTER at once (`state MASTER`: INIT -> MASTER), priorities as configured.
    let m = scrape(b, ma);
    assert_eq!(state(&m), Some("MASTER"), "{m:?}");
    assert_eq!(m[&vi1("vrrp_transitions_total")], 1.0);
    assert_eq!(m[&vi1("vrrp_effective_priority")], 150.0);
    assert_eq!(m[&vi1("vrrp_priority")], 150.0);
    assert!(m[&vi1("vrrp_adverts_sent_total")] >= 1.0);
    // Every drop reason of the engine is there (zero here).
    let drops = m
        .keys()
        .filter(|k| k.starts_with("keepalived_rs_vrrp_adverts_dropped_total{instance=\"VI_1\","))
        .count();
    assert!(drops >= 15, "{drops} drop reasons");

    // a's real server: TCP_CHECK up, weight, probe latency; then 6 connections through
    // the VIP (a local client: the output and input hooks), counted by the data plane.
    let rs = "{virtual_server=\"[192.0.2.100]:tcp:80\",real_server=\"[192.0.2.2]:tcp:8080\"}";
    let series = |n: &str| format!("keepalived_rs_{n}{rs}");
    let up = wait_until(Duration::from_secs(10), || {
        scrape(b, ma).get(&series("real_server_probe_duration_seconds_count")) >= Some(&1.0)
    });
    assert!(up.is_some(), "{}", da.log());
    let got = http_requests(a, format!("{VIP}:80").parse().unwrap(), 6);
    assert_eq!(got.get("web"), Some(&6), "{got:?}\n{}", da.log());
    // A scrape reuses a snapshot for 100 ms: the counters show up on the next one.
    let mut m = BTreeMap::new();
    let counted = wait_until(Duration::from_secs(2), || {
        m = scrape(b, ma);
        m.get(&series("real_server_connections_total")) == Some(&6.0)
    });
    assert!(counted.is_some(), "{m:?}");
    assert_eq!(m[&series("real_server_up")], 1.0);
    assert_eq!(m[&series("real_server_weight")], 2.0);
    let last = m[&series("real_server_last_probe_duration_seconds")];
    assert!(last > 0.0 && last < 1.0, "a TCP connect on a veth: {last}");
    assert!(m[&series("real_server_probe_duration_seconds_sum")] >= last);
    assert_eq!(m[&series("real_server_connections_total")], 6.0);
    let vs = "{virtual_server=\"[192.0.2.100]:tcp:80\"}";
    let v = |n: &str| m[&format!("keepalived_rs_virtual_server_{n}{vs}")];
    assert_eq!(v("connections_total"), 6.0);
    // Each connection: at least SYN, request, FIN in and SYN-ACK, answer, FIN out.
    assert!(v("in_packets_total") >= 18.0, "{}", v("in_packets_total"));
    assert!(v("out_packets_total") >= 18.0, "{}", v("out_packets_total"));
    assert!(v("in_bytes_total") >= 40.0 * v("in_packets_total"));
    assert!(v("out_bytes_total") >= 40.0 * v("out_packets_total"));
    assert_eq!(
        m["keepalived_rs_data_plane_counters_available{backend=\"nftables\"}"],
        1.0
    );

    // a's /status carries the same data plane numbers (`status --json`'s table).
    let (code, body) = get(b, ma, "/status").unwrap();
    assert_eq!(code, 200);
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    let svc = &j["virtual_servers"]["services"][0];
    assert_eq!(svc["stats"]["conns"], 6, "{j}");
    assert!(svc["stats"]["inpkts"].as_u64() >= Some(18), "{j}");
    assert_eq!(j["real_servers"][0]["alive"], true, "{j}");
    assert!(j["real_servers"][0]["probes"].as_u64() >= Some(1), "{j}");

    // b: BACKUP, knows the master's priority.
    let m = scrape(a, mb);
    assert_eq!(state(&m), Some("BACKUP"));
    assert_eq!(m[&vi1("vrrp_transitions_total")], 1.0);
    assert_eq!(m[&vi1("vrrp_master_priority")], 150.0);
    assert_eq!(m[&vi1("vrrp_effective_priority")], 100.0);
    assert_eq!(m[&vi1("vrrp_became_master_total")], 0.0);
    assert!(!m.keys().any(|k| k.contains("real_server")), "b runs -P");

    // Idle scrapers take every connection slot of both listeners for 1.5 s (each sends
    // nothing): a's adverts keep b in BACKUP meanwhile (b's master-down interval is
    // 0.36 s), and both listeners answer again once they go.
    let idle: Vec<TcpStream> = (0..12)
        .flat_map(|_| {
            [
                in_netns(b, || TcpStream::connect(ma).unwrap()),
                in_netns(a, || TcpStream::connect(mb).unwrap()),
            ]
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    drop(idle);
    let back = wait_until(Duration::from_secs(3), || {
        get(b, ma, "/metrics").is_some_and(|r| r.0 == 200)
            && get(a, mb, "/metrics").is_some_and(|r| r.0 == 200)
    });
    assert!(
        back.is_some(),
        "listeners do not answer after idle clients left"
    );
    let m = scrape(a, mb);
    assert_eq!(
        state(&m),
        Some("BACKUP"),
        "b took over while scrapers idled"
    );
    assert_eq!(m[&vi1("vrrp_transitions_total")], 1.0);
    let m = scrape(b, ma);
    assert_eq!(m[&vi1("vrrp_transitions_total")], 1.0, "a flapped");

    // Many scrapers: 4 threads in a loop on each listener for 1.5 s (every scrape of a
    // reads the nftables counters too). a keeps advertising every 0.1 s (at least 10 of
    // the 15 adverts in that time counted), b stays BACKUP.
    let sent_before = scrape(b, ma)[&vi1("vrrp_adverts_sent_total")];
    let answered = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|sc| {
        for (ns, to) in [(b, ma), (a, mb)] {
            for _ in 0..4 {
                let answered = &answered;
                sc.spawn(move || {
                    let start = Instant::now();
                    while start.elapsed() < Duration::from_millis(1500) {
                        if get(ns, to, "/metrics").is_some_and(|r| r.0 == 200) {
                            answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        }
    });
    let answered = answered.into_inner();
    let ma_now = scrape(b, ma);
    let sent = ma_now[&vi1("vrrp_adverts_sent_total")] - sent_before;
    assert!(answered >= 8, "only {answered} scrapes answered");
    assert!(sent >= 10.0, "a sent {sent} adverts in 1.5 s of scraping");
    assert_eq!(ma_now[&vi1("vrrp_transitions_total")], 1.0, "a flapped");
    let m = scrape(a, mb);
    assert_eq!(state(&m), Some("BACKUP"), "b took over while scraped");
    eprintln!("{answered} scrapes answered in 1.5 s; a sent {sent} adverts meanwhile");

    // /status on b: the JSON of `status --json`, the same as the control socket's.
    let (code, body) = get(a, mb, "/status").unwrap();
    assert_eq!(code, 200);
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["instances"][0]["name"], "VI_1");
    assert_eq!(j["instances"][0]["state"], "BACKUP");
    assert_eq!(j["instances"][0]["master"]["address"], "192.0.2.1");
    assert_eq!(j["instances"][0]["counters"]["transitions"], 1);
    let ctl = common::run(
        "ip",
        &[
            "netns",
            "exec",
            &b.name,
            env!("CARGO_BIN_EXE_keepalived-rs"),
            "status",
            "--json",
            "--control-socket",
            db.sock.to_str().unwrap(),
        ],
    );
    let cj: serde_json::Value = serde_json::from_str(&ctl).unwrap();
    assert_eq!(cj["instances"][0]["master"], j["instances"][0]["master"]);
    assert_eq!(cj["daemon"], j["daemon"]);

    // A reload that moves metrics_listen says the listener stays (until a restart).
    let conf = dir.0.join("a.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("192.0.2.1:9650", "192.0.2.1:9651")).unwrap();
    da.signal("-HUP");
    let said = wait_until(Duration::from_secs(5), || {
        da.log().contains(
            "metrics_listen changed (192.0.2.1:9650 -> 192.0.2.1:9651): the metrics listener stays",
        )
    });
    assert!(said.is_some(), "{}", da.log());
    assert_eq!(get(b, ma, "/metrics").map(|r| r.0), Some(200));

    // Failover: a stops (priority 0 advert); b's /metrics, scraped all along, shows
    // BACKUP then MASTER, the transitions counter going up by one and its own priority
    // as the master's.
    let mut seen: Vec<&'static str> = Vec::new();
    da.signal("-TERM");
    let start = Instant::now();
    let mut last = BTreeMap::new();
    while start.elapsed() < Duration::from_secs(5) {
        last = scrape(a, mb);
        if let Some(s) = state(&last) {
            if seen.last() != Some(&s) {
                seen.push(s);
            }
            if s == "MASTER" {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(seen, vec!["BACKUP", "MASTER"], "{}", db.log());
    assert_eq!(last[&vi1("vrrp_transitions_total")], 2.0);
    assert_eq!(last[&vi1("vrrp_became_master_total")], 1.0);
    assert_eq!(last[&vi1("vrrp_priority_zero_received_total")], 1.0);
    assert_eq!(last[&vi1("vrrp_master_priority")], 100.0);
    assert!(last.contains_key(&vi1("vrrp_last_transition_timestamp_seconds")));
    assert_eq!(
        da.wait_exit(Duration::from_secs(5)),
        Some(0),
        "{}",
        da.log()
    );
    let (_, body) = get(a, mb, "/status").unwrap();
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["instances"][0]["state"], "MASTER");
    assert_eq!(j["instances"][0]["last_transition"]["from"], "BACKUP");
    assert_eq!(j["instances"][0]["last_transition"]["to"], "MASTER");
    // Other paths and methods.
    assert_eq!(get(a, mb, "/nope").map(|r| r.0), Some(404));
}

#[test]
fn a_metrics_address_that_cannot_be_bound_is_refused() {
    let p = Pair::new();
    let dir = TmpDir::new();
    let mut d = Daemon::start_with(
        &p.a,
        &dir,
        "a",
        &instance(&p.a_if, "MASTER", 150),
        &["-P", "--metrics-listen", "203.0.113.9:9650"],
    );
    assert_eq!(d.wait_exit(Duration::from_secs(5)), Some(1), "{}", d.log());
    assert!(
        d.log().contains(
            "cannot listen on 203.0.113.9:9650 for metrics (--metrics-listen / metrics_listen)"
        ),
        "{}",
        d.log()
    );
    assert!(!p.a.has(&p.a_if, VIP));
}

/// `-C` (checkers and data plane only, no VRRP engine): /metrics has the real-server and
/// virtual-server families and no VRRP ones; /status has the checkers' table and the
/// data plane's, and no instances.
#[test]
fn checker_only_daemon_serves_real_servers() {
    let p = Pair::new();
    let _web = TcpBackend::start(&p.b, "web", 8080);
    let dir = TmpDir::new();
    let conf = format!(
        "virtual_server {VIP} 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
         \n  real_server 192.0.2.2 8080 {{\n    TCP_CHECK {{\n      connect_timeout 1\n    }}\n  }}\n}}\n"
    );
    let d = Daemon::start_with(
        &p.a,
        &dir,
        "a",
        &conf,
        &[
            "-C",
            "--lb-backend",
            "nftables",
            "--metrics-listen",
            "127.0.0.1:9650",
        ],
    );
    let rs = "{virtual_server=\"[192.0.2.100]:tcp:80\",real_server=\"[192.0.2.2]:tcp:8080\"}";
    let mut m = BTreeMap::new();
    let up = wait_until(Duration::from_secs(10), || {
        get(&p.a, "127.0.0.1:9650", "/metrics").is_some_and(|(c, _)| c == 200) && {
            m = scrape(&p.a, "127.0.0.1:9650");
            m.get(&format!(
                "keepalived_rs_real_server_probe_duration_seconds_count{rs}"
            )) >= Some(&1.0)
        }
    });
    assert!(up.is_some(), "{m:?}\n{}", d.log());
    assert_eq!(m[&format!("keepalived_rs_real_server_up{rs}")], 1.0);
    assert_eq!(
        m["keepalived_rs_virtual_server_connections_total{virtual_server=\"[192.0.2.100]:tcp:80\"}"],
        0.0
    );
    assert!(!m.keys().any(|k| k.contains("vrrp")), "{m:?}");
    let (code, body) = get(&p.a, "127.0.0.1:9650", "/status").unwrap();
    assert_eq!(code, 200);
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["instances"], serde_json::json!([]), "{j}");
    assert_eq!(j["real_servers"][0]["alive"], true, "{j}");
    assert_eq!(j["virtual_servers"]["backend"], "nftables", "{j}");
}
