//! Interop with the real thing: keepalived 2.2.7 runs as master in namespace a; our
//! VRRP sockets on b receive its IPv4 and IPv6 adverts, which ka-wire decodes with the
//! values of its configuration. The keepalived process is stopped (by PID) on drop,
//! also when the test fails.
// Test helpers outside #[test] fns unwrap too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Pair, WAIT};
use ka_sys::vrrp_socket::{VRRP_GROUP_V4, VRRP_GROUP_V6};
use ka_sys::VrrpSocket;
use ka_wire::ip::parse_vrrp_ip;
use ka_wire::vrrp::{Family, Version, VrrpPacket};

/// A keepalived process, SIGTERM then SIGKILL (by PID) on drop, files removed.
struct Keepalived {
    child: Child,
    dir: std::path::PathBuf,
}

impl Keepalived {
    fn start(ns: &common::Netns, conf: &str) -> Keepalived {
        let dir = std::env::temp_dir().join(common::unique_name("kska"));
        std::fs::create_dir_all(&dir).unwrap();
        let conf_path = dir.join("keepalived.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
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
            .args([
                "-f",
                &p("keepalived.conf"),
                "-p",
                &p("k.pid"),
                "-r",
                &p("v.pid"),
            ])
            .args(["-c", &p("c.pid")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("keepalived must be installed (Debian package keepalived)");
        Keepalived { child, dir }
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn receive_real_keepalived_adverts_v4_and_v6() {
    let pair = Pair::new();
    let conf = format!(
        "global_defs {{\n  router_id ks_interop\n}}\n\
         vrrp_instance VI_4 {{\n  state MASTER\n  interface {ifa}\n  virtual_router_id 51\n  \
         priority 150\n  version 3\n  advert_int 0.1\n  virtual_ipaddress {{\n    192.0.2.100/32\n  }}\n}}\n\
         vrrp_instance VI_6 {{\n  state MASTER\n  interface {ifa}\n  virtual_router_id 52\n  \
         priority 140\n  version 3\n  advert_int 0.1\n  virtual_ipaddress {{\n    2001:db8::100/128\n  }}\n}}\n",
        ifa = pair.a_if
    );
    let b_idx = pair.b.ifindex(&pair.b_if);
    let a_ll = Pair::link_local(&pair.a, &pair.a_if);
    let a4: IpAddr = Pair::A4.parse().unwrap();
    let _ka = Keepalived::start(&pair.a, &conf);
    // keepalived repeats its adverts every 0.1 s, so opening the sockets after the start
    // loses nothing.
    let (p4, p6) = pair
        .b
        .run_async(Duration::from_secs(10), move || async move {
            let s4 = VrrpSocket::open_v4(b_idx).unwrap();
            s4.join_vrrp_group().unwrap();
            let s6 = VrrpSocket::open_v6(b_idx).unwrap();
            s6.join_vrrp_group().unwrap();
            let end = tokio::time::Instant::now() + WAIT;
            let p4 = tokio::time::timeout_at(end, s4.recv())
                .await
                .expect("no v4 advert")
                .unwrap();
            let p6 = tokio::time::timeout_at(end, s6.recv())
                .await
                .expect("no v6 advert")
                .unwrap();
            (p4, p6)
        });

    assert_eq!(
        (p4.src, p4.dst, p4.ttl, p4.ifindex),
        (a4, IpAddr::V4(VRRP_GROUP_V4), 255, b_idx)
    );
    let ip = parse_vrrp_ip(&p4.data).unwrap();
    assert_eq!(ip.tos, 0xc0);
    assert!(ip.checksum_ok());
    let v = ip.decode().unwrap();
    assert_eq!(
        (v.version, v.vrid, v.priority, v.adver_int_cs),
        (Version::V3, 51, 150, 10)
    );
    assert_eq!(v.addrs, vec!["192.0.2.100".parse::<IpAddr>().unwrap()]);

    let a6 = IpAddr::V6(a_ll);
    assert_eq!(
        (p6.src, p6.dst, p6.ttl, p6.ifindex),
        (a6, IpAddr::V6(VRRP_GROUP_V6), 255, b_idx)
    );
    let v = VrrpPacket::decode(&p6.data, Family::V6).unwrap();
    assert!(v.checksum_ok(a6, IpAddr::V6(VRRP_GROUP_V6)));
    assert_eq!(
        (v.version, v.vrid, v.priority, v.adver_int_cs),
        (Version::V3, 52, 140, 10)
    );
    assert_eq!(v.addrs, vec!["2001:db8::100".parse::<IpAddr>().unwrap()]);
}

fn has_addr(ns: &common::Netns, ifname: &str, addr: &str) -> bool {
    ns.addr_info(ifname).iter().any(|a| a["local"] == addr)
}

/// The send path against the real receiver: keepalived (master, priority 100) in a
/// holds its VIPs; our adverts from b at priority 200 make it yield them (so it accepted
/// our TTL, checksum and addresses), and when we stop it takes them back.
#[test]
fn keepalived_yields_to_our_higher_priority_adverts_v4_and_v6() {
    let pair = Pair::new();
    let conf = format!(
        "global_defs {{\n  router_id ks_interop\n}}\n\
         vrrp_instance VI_4 {{\n  state MASTER\n  interface {ifa}\n  virtual_router_id 61\n  \
         priority 100\n  version 3\n  advert_int 0.1\n  virtual_ipaddress {{\n    192.0.2.100/32\n  }}\n}}\n\
         vrrp_instance VI_6 {{\n  state MASTER\n  interface {ifa}\n  virtual_router_id 62\n  \
         priority 100\n  version 3\n  advert_int 0.1\n  virtual_ipaddress {{\n    2001:db8::100/128\n  }}\n}}\n",
        ifa = pair.a_if
    );
    let _ka = Keepalived::start(&pair.a, &conf);
    let (ifa, v4, v6) = (pair.a_if.as_str(), "192.0.2.100", "2001:db8::100");
    assert!(
        common::wait_until(WAIT, || has_addr(&pair.a, ifa, v4)
            && has_addr(&pair.a, ifa, v6)),
        "keepalived did not become master"
    );

    let b_idx = pair.b.ifindex(&pair.b_if);
    let src4: IpAddr = Pair::B4.parse().unwrap();
    let src6 = IpAddr::V6(Pair::link_local(&pair.b, &pair.b_if));
    let (g4, g6) = (IpAddr::V4(VRRP_GROUP_V4), IpAddr::V6(VRRP_GROUP_V6));
    let ours = |vrid: u8, vip: &str, src: IpAddr, dst: IpAddr| {
        VrrpPacket {
            version: Version::V3,
            kind: 1,
            vrid,
            priority: 200,
            adver_int_cs: 10,
            reserved: 0,
            checksum: 0,
            addrs: vec![vip.parse().unwrap()],
            auth: ka_wire::vrrp::Auth::None,
        }
        .encode_for_send(src, dst)
        .unwrap()
    };
    let IpAddr::V4(s4) = src4 else { unreachable!() };
    let adv4 = ka_wire::ip::keepalived_ipv4(s4, VRRP_GROUP_V4, 1, &ours(61, v4, src4, g4)).unwrap();
    let adv6 = ours(62, v6, src6, g6);

    let stop = std::sync::atomic::AtomicBool::new(false);
    let yielded = std::thread::scope(|s| {
        let b = &pair.b;
        let stop = &stop;
        let sender = s.spawn(move || {
            b.run_async(Duration::from_secs(20), move || async move {
                let t4 = VrrpSocket::open_v4(b_idx).unwrap();
                let t6 = VrrpSocket::open_v6(b_idx).unwrap();
                let IpAddr::V6(ll) = src6 else { unreachable!() };
                t6.bind_source_v6(ll).unwrap();
                // Bounded: at most 15 s of adverts every 50 ms.
                for _ in 0..300 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    t4.send(g4, &adv4).await.unwrap();
                    t6.send(g6, &adv6).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        });
        let yielded = common::wait_until(WAIT, || {
            !has_addr(&pair.a, ifa, v4) && !has_addr(&pair.a, ifa, v6)
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        sender.join().unwrap();
        yielded
    });
    assert!(
        yielded,
        "keepalived kept its VIPs: our adverts were not accepted"
    );
    assert!(
        common::wait_until(WAIT, || has_addr(&pair.a, ifa, v4)
            && has_addr(&pair.a, ifa, v6)),
        "keepalived did not take over again after our adverts stopped"
    );
}

/// keepalived's VRRPv2 `auth_type AH` travels as IP protocol 51: a socket opened for
/// `IPPROTO_AH` receives it, and ka-wire verifies its ICV with the password.
#[test]
fn receive_keepalived_v2_ah_advert_on_protocol_51_socket() {
    use ka_sys::vrrp_socket::IPPROTO_AH;
    let pair = Pair::new();
    let conf = format!(
        "global_defs {{\n  router_id ks_interop\n}}\n\
         vrrp_instance VI_AH {{\n  state MASTER\n  interface {ifa}\n  virtual_router_id 71\n  \
         priority 120\n  version 2\n  advert_int 1\n  authentication {{\n    auth_type AH\n    \
         auth_pass s3cret\n  }}\n  virtual_ipaddress {{\n    192.0.2.100/32\n  }}\n}}\n",
        ifa = pair.a_if
    );
    let _ka = Keepalived::start(&pair.a, &conf);
    let b_idx = pair.b.ifindex(&pair.b_if);
    let p = pair
        .b
        .run_async(Duration::from_secs(20), move || async move {
            let s = VrrpSocket::open_v4_protocol(b_idx, IPPROTO_AH).unwrap();
            s.join_vrrp_group().unwrap();
            // advert_int 1: keepalived's first AH advert comes after about 4-5 s here.
            tokio::time::timeout(Duration::from_secs(15), s.recv())
                .await
                .expect("no AH advert")
                .unwrap()
        });
    assert_eq!((p.dst, p.ttl), (IpAddr::V4(VRRP_GROUP_V4), 255));
    let ip = parse_vrrp_ip(&p.data).unwrap();
    assert!(ip.ah.is_some(), "not an AH packet");
    assert!(ka_wire::ip::verify_keepalived_ah(&p.data, b"s3cret", false));
    assert!(!ka_wire::ip::verify_keepalived_ah(&p.data, b"wrong", false));
    let v = ip.decode().unwrap();
    assert_eq!((v.version, v.vrid, v.priority), (Version::V2, 71, 120));
}
