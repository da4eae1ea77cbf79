//! The nftables data plane for real: a client, a load balancer and two back ends in
//! network namespaces; HTTP-like requests to the VIP are NATed to the back ends by the
//! table `ka_sys::nft::Nft` applies, split by weight; a back end at weight 0 gets no new
//! connection; removing the table stops the forwarding. Needs root and `nft` (Debian
//! package nftables), as CI has.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{ip, unique_name, Netns};
use ka_lb::{
    Dest, DestKey, Family, Forwarding, Persistence, Protocol, Service, ServiceAttrs, ServiceFlags,
    ServiceKey, Table,
};
use ka_sys::nft::{Nft, TABLE};

const VIP: &str = "192.0.2.100";

/// A veth between two namespaces with an address on each end.
fn link(a: &Netns, a_addr: &str, b: &Netns, b_addr: &str) {
    let (x, y) = (unique_name("knx"), unique_name("kny"));
    ip(&[
        "link", "add", &x, "netns", &a.name, "type", "veth", "peer", "name", &y, "netns", &b.name,
    ]);
    a.ip(&["addr", "add", a_addr, "dev", &x]);
    b.ip(&["addr", "add", b_addr, "dev", &y]);
    a.ip(&["link", "set", &x, "up"]);
    b.ip(&["link", "set", &y, "up"]);
}

/// A TCP server in `ns` answering every connection with `name`; stops on drop.
struct Backend {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Backend {
    fn start(ns: &Netns, name: &'static str) -> Backend {
        let stop = Arc::new(AtomicBool::new(false));
        let listener = ns.run(|| TcpListener::bind("0.0.0.0:8080").unwrap());
        listener.set_nonblocking(true).unwrap();
        let st = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let mut buf = [0u8; 256];
                        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                        let _ = s.read(&mut buf);
                        let _ = s.write_all(format!("HTTP/1.0 200 OK\r\n\r\n{name}").as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Backend {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `n` requests from `client` to VIP:80; how many each back end answered ("-" for none).
fn requests(client: &Netns, n: usize) -> BTreeMap<String, usize> {
    client.run(move || {
        let mut seen = BTreeMap::new();
        let to: SocketAddr = format!("{VIP}:80").parse().unwrap();
        for _ in 0..n {
            let who = TcpStream::connect_timeout(&to, Duration::from_secs(2))
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

fn dest(addr: &str, weight: u32) -> (DestKey, Dest) {
    (
        DestKey {
            addr: addr.parse().unwrap(),
            port: 8080,
        },
        Dest {
            weight,
            forwarding: Forwarding::Nat,
            upper_threshold: 0,
            lower_threshold: 0,
        },
    )
}

fn table(w1: u32, w2: u32) -> Table {
    let mut t = Table::new();
    t.services.insert(
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: VIP.parse().unwrap(),
            port: 80,
        },
        Service {
            attrs: ServiceAttrs {
                scheduler: "wrr".into(),
                flags: ServiceFlags::default(),
                persistence: None,
            },
            dests: [dest("198.51.100.10", w1), dest("198.51.100.20", w2)]
                .into_iter()
                .collect(),
        },
    );
    t
}

#[test]
fn nat_virtual_server_balances_by_weight_and_takes_a_dead_backend_out() {
    let (client, lb, b1, b2) = (Netns::new(), Netns::new(), Netns::new(), Netns::new());
    link(&client, "192.0.2.2/24", &lb, "192.0.2.1/24");
    link(&lb, "198.51.100.1/28", &b1, "198.51.100.10/28");
    link(&lb, "198.51.100.17/28", &b2, "198.51.100.20/28");
    lb.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    // The VIP on the load balancer's client side, as VRRP would put it.
    let lb_if = {
        let v: serde_json::Value = serde_json::from_str(&lb.ip(&["-j", "addr"])).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .find(|l| {
                l["addr_info"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["local"] == "192.0.2.1")
            })
            .unwrap()["ifname"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    lb.ip(&["addr", "add", &format!("{VIP}/32"), "dev", &lb_if]);
    b1.ip(&["route", "add", "default", "via", "198.51.100.1"]);
    b2.ip(&["route", "add", "default", "via", "198.51.100.17"]);
    let _s1 = Backend::start(&b1, "web1");
    let _s2 = Backend::start(&b2, "web2");

    // Nothing listens on the VIP itself: without our table no request is answered.
    let before = requests(&client, 3);
    assert_eq!(before.get("-"), Some(&3), "{before:?}");

    // Weights 3:1.
    let mut nft = Nft::new();
    let t31 = table(3, 1);
    let refused = lb.run_async(Duration::from_secs(10), || nft.apply(&t31));
    assert_eq!(refused.unwrap(), vec![]);
    let got = requests(&client, 200);
    assert_eq!(
        (got.get("web1"), got.get("web2"), got.get("-")),
        (Some(&150), Some(&50), None),
        "wrr 3:1 with numgen inc over 200 connections: {got:?}"
    );
    // The counters saw the same split.
    let conns = lb
        .run_async(Duration::from_secs(10), || nft.connections())
        .unwrap();
    let by_addr: BTreeMap<String, u64> = conns
        .iter()
        .map(|((_, d), n)| (d.addr.to_string(), *n))
        .collect();
    assert_eq!(by_addr.get("198.51.100.10"), Some(&150), "{by_addr:?}");
    assert_eq!(by_addr.get("198.51.100.20"), Some(&50), "{by_addr:?}");

    // web2 is dead (weight 0, as inhibit_on_failure, or removed): all new connections to
    // web1. A replacement keeps the counters.
    let t30 = table(3, 0);
    lb.run_async(Duration::from_secs(10), || nft.apply(&t30))
        .unwrap();
    let got = requests(&client, 40);
    assert_eq!(got.get("web1"), Some(&40), "{got:?}");
    let conns = lb
        .run_async(Duration::from_secs(10), || nft.connections())
        .unwrap();
    assert_eq!(conns.values().sum::<u64>(), 240, "{conns:?}");
    // The service's traffic counters (both directions, carried across the replacement):
    // each connection is at least SYN, the request and a FIN in, SYN-ACK, the answer
    // and a FIN out, each packet at least 40 bytes of IPv4 + TCP headers.
    let stats = lb
        .run_async(Duration::from_secs(10), || nft.stats())
        .unwrap();
    let s = stats.services.values().next().copied().unwrap();
    assert_eq!((stats.services.len(), s.conns, s.traffic), (1, 240, true));
    assert!(s.in_pkts >= 3 * 240 && s.out_pkts >= 3 * 240, "{s:?}");
    assert!(
        s.in_bytes >= 40 * s.in_pkts && s.out_bytes >= 40 * s.out_pkts,
        "{s:?}"
    );
    assert!(s.in_pkts < 20 * 240 && s.out_pkts < 20 * 240, "{s:?}");

    // Removed: nothing forwards any more, and our table is gone (twice is fine).
    lb.run_async(Duration::from_secs(10), || nft.remove())
        .unwrap();
    lb.run_async(Duration::from_secs(10), || nft.remove())
        .unwrap();
    assert!(!lb.exec(&["nft", "list", "tables"]).contains(TABLE));
    let after = requests(&client, 3);
    assert_eq!(after.get("-"), Some(&3), "{after:?}");
}

#[test]
fn every_rendering_is_accepted_by_the_kernel() {
    // IPv6, fwmark, persistence, hashing schedulers, a DR destination refused, an empty
    // service: nft must accept the whole transaction, and a second apply replaces it.
    let ns = Netns::new();
    let mut t = Table::new();
    let svc =
        |sched: &str, persistence: Option<Persistence>, dests: Vec<(DestKey, Dest)>| Service {
            attrs: ServiceAttrs {
                scheduler: sched.into(),
                flags: ServiceFlags {
                    sched_flag_2: sched == "sh",
                    ..ServiceFlags::default()
                },
                persistence,
            },
            dests: dests.into_iter().collect(),
        };
    let v6 = |a: &str, w| dest(a, w);
    t.services.insert(
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "2001:db8::100".parse().unwrap(),
            port: 443,
        },
        svc(
            "sh",
            None,
            vec![v6("2001:db8:1::10", 2), v6("2001:db8:1::11", 1)],
        ),
    );
    t.services.insert(
        ServiceKey::Addr {
            protocol: Protocol::Udp,
            addr: "192.0.2.100".parse().unwrap(),
            port: 0,
        },
        svc(
            "wlc",
            Some(Persistence {
                timeout_s: 300,
                prefix: 24,
                engine: None,
            }),
            vec![dest("198.51.100.10", 1), dest("198.51.100.11", 1)],
        ),
    );
    let mut dr = dest("198.51.100.12", 1);
    dr.1.forwarding = Forwarding::Dr;
    t.services.insert(
        ServiceKey::Fwmark {
            family: Family::Inet,
            mark: 3,
        },
        svc("dh", None, vec![dest("198.51.100.10", 1), dr]),
    );
    t.services.insert(
        ServiceKey::Addr {
            protocol: Protocol::Sctp,
            addr: "192.0.2.101".parse().unwrap(),
            port: 80,
        },
        svc("rr", None, vec![dest("198.51.100.10", 0)]),
    );
    let mut nft = Nft::new();
    let refused = ns
        .run_async(Duration::from_secs(10), || nft.apply(&t))
        .unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let listed = ns.exec(&["nft", "list", "table", "inet", TABLE]);
    for want in [
        "jhash ip6 saddr . tcp sport mod 3",
        "jhash ip saddr & 255.255.255.0 mod 2",
        "0x00000003 . ipv4 : goto s",
        "meta mark . meta nfproto vmap @fwmark",
        "192.0.2.100 . udp : goto s",
        "2001:db8::100 . tcp . 443 : goto s",
        "ct original ip6 daddr vmap { 2001:db8::100 : goto t",
        "2001:db8:1::10 . 8080",
        "dnat ip6 to jhash ip6 saddr . tcp sport mod 3 map @m",
    ] {
        assert!(listed.contains(want), "{want} not in\n{listed}");
    }
    // Applying again replaces, not appends.
    ns.run_async(Duration::from_secs(10), || nft.apply(&t))
        .unwrap();
    let again = ns.exec(&["nft", "list", "table", "inet", TABLE]);
    assert_eq!(
        again.matches("chain s0 {").count(),
        1,
        "the table was appended to:\n{again}"
    );
}
