//! Byte layouts of IPVS requests, written out by hand from `include/uapi/linux/ip_vs.h`
//! and the attribute policies of `net/netfilter/ipvs/ip_vs_ctl.c` (little-endian host),
//! and parsing of replies built the way the kernel builds them.

use super::codec::*;
use super::*;
use ka_lb::{Family, Forwarding, Persistence, Protocol, ServiceFlags, TunnelChecksum, TunnelType};

const FAM: u16 = 0x24;

fn svc_tcp() -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: "192.0.2.1".parse().unwrap(),
        port: 80,
    }
}

fn attrs(sched: &str) -> ServiceAttrs {
    ServiceAttrs {
        scheduler: sched.into(),
        flags: ServiceFlags::default(),
        persistence: None,
    }
}

fn encode(op: &Op) -> Vec<u8> {
    let mut m = MsgBuf::new();
    encode_op(&mut m, FAM, 7, op).unwrap();
    m.buf
}

fn hdr(len: u8, flags: u8, cmd: u8) -> Vec<u8> {
    let mut v = vec![len, 0, 0, 0, FAM as u8, 0, flags, 0, 7, 0, 0, 0, 0, 0, 0, 0];
    v.extend_from_slice(&[cmd, 1, 0, 0]);
    v
}

#[test]
fn add_service_tcp_ipv4_layout() {
    let got = encode(&Op::AddService {
        key: svc_tcp(),
        attrs: attrs("wlc"),
    });
    let mut want = hdr(104, 0x05, IPVS_CMD_NEW_SERVICE);
    #[rustfmt::skip]
    want.extend_from_slice(&[
        84, 0, 1, 0, // IPVS_CMD_ATTR_SERVICE, nested
        6, 0, 1, 0, 2, 0, 0, 0, // AF = AF_INET
        6, 0, 2, 0, 6, 0, 0, 0, // PROTOCOL = TCP
        20, 0, 3, 0, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ADDR, 16 bytes
        6, 0, 4, 0, 0, 80, 0, 0, // PORT, network order
        8, 0, 6, 0, b'w', b'l', b'c', 0, // SCHED_NAME
        12, 0, 7, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // FLAGS {flags, mask}
        8, 0, 8, 0, 0, 0, 0, 0, // TIMEOUT
        8, 0, 9, 0, 0xff, 0xff, 0xff, 0xff, // NETMASK 255.255.255.255
    ]);
    assert_eq!(got, want);
}

#[test]
fn persistent_fwmark_ipv6_with_flags_layout() {
    let got = encode(&Op::EditService {
        key: ServiceKey::Fwmark {
            family: Family::Inet6,
            mark: 9,
        },
        attrs: ServiceAttrs {
            scheduler: "mh".into(),
            flags: ServiceFlags {
                sched_flag_1: true,
                sched_flag_2: true,
                one_packet: true,
                ..Default::default()
            },
            persistence: Some(Persistence {
                timeout_s: 600,
                prefix: 64,
                engine: None,
            }),
        },
    });
    let mut want = hdr(76, 0x05, IPVS_CMD_SET_SERVICE);
    #[rustfmt::skip]
    want.extend_from_slice(&[
        56, 0, 1, 0,
        6, 0, 1, 0, 10, 0, 0, 0, // AF_INET6
        8, 0, 5, 0, 9, 0, 0, 0, // FWMARK
        7, 0, 6, 0, b'm', b'h', 0, 0, // SCHED_NAME "mh\0" + pad
        12, 0, 7, 0, 0x1d, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // PERSISTENT|ONEPACKET|SCHED1|SCHED2
        8, 0, 8, 0, 0x58, 0x02, 0, 0, // TIMEOUT 600
        8, 0, 9, 0, 64, 0, 0, 0, // IPv6 netmask: the prefix length
    ]);
    assert_eq!(got, want);
}

#[test]
fn ipv4_granularity_is_a_network_order_mask() {
    assert_eq!(netmask(Family::Inet, 24).to_ne_bytes(), [255, 255, 255, 0]);
    assert_eq!(netmask(Family::Inet, 0).to_ne_bytes(), [0, 0, 0, 0]);
    assert_eq!(netmask(Family::Inet, 32).to_ne_bytes(), [255; 4]);
}

#[test]
fn persistence_engine_is_sent() {
    let got = encode(&Op::AddService {
        key: ServiceKey::Addr {
            protocol: Protocol::Udp,
            addr: "192.0.2.1".parse().unwrap(),
            port: 5060,
        },
        attrs: ServiceAttrs {
            scheduler: "rr".into(),
            flags: ServiceFlags::default(),
            persistence: Some(Persistence {
                timeout_s: 360,
                prefix: 24,
                engine: Some("sip".into()),
            }),
        },
    });
    let pe = [8, 0, 11, 0, b's', b'i', b'p', 0];
    assert!(got.windows(8).any(|w| w == pe), "{got:?}");
    assert!(got.windows(8).any(|w| w == [8, 0, 9, 0, 255, 255, 255, 0]));
}

#[test]
fn add_dest_tunnel_gue_layout() {
    let got = encode(&Op::AddDest {
        service: svc_tcp(),
        dest: DestKey {
            addr: "198.51.100.10".parse().unwrap(),
            port: 8080,
        },
        params: Dest {
            weight: 3,
            forwarding: Forwarding::Tun {
                kind: TunnelType::Gue { port: 6080 },
                checksum: TunnelChecksum::Csum,
            },
            upper_threshold: 1000,
            lower_threshold: 100,
        },
    });
    let mut want = hdr(164, 0x05, IPVS_CMD_NEW_DEST);
    #[rustfmt::skip]
    want.extend_from_slice(&[
        48, 0, 1, 0, // the service, identity only
        6, 0, 1, 0, 2, 0, 0, 0,
        6, 0, 2, 0, 6, 0, 0, 0,
        20, 0, 3, 0, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        6, 0, 4, 0, 0, 80, 0, 0,
        96, 0, 2, 0, // IPVS_CMD_ATTR_DEST
        20, 0, 1, 0, 198, 51, 100, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ADDR
        6, 0, 11, 0, 2, 0, 0, 0, // ADDR_FAMILY
        6, 0, 2, 0, 0x1f, 0x90, 0, 0, // PORT 8080
        8, 0, 3, 0, 2, 0, 0, 0, // FWD_METHOD = IP_VS_CONN_F_TUNNEL
        8, 0, 4, 0, 3, 0, 0, 0, // WEIGHT
        8, 0, 5, 0, 0xe8, 0x03, 0, 0, // U_THRESH 1000
        8, 0, 6, 0, 100, 0, 0, 0, // L_THRESH
        5, 0, 13, 0, 1, 0, 0, 0, // TUN_TYPE = GUE
        6, 0, 14, 0, 0x17, 0xc0, 0, 0, // TUN_PORT 6080, network order
        6, 0, 15, 0, 1, 0, 0, 0, // TUN_FLAGS = CSUM
    ]);
    assert_eq!(got, want);
}

#[test]
fn del_dest_ipv6_direct_routing_identity_only() {
    let got = encode(&Op::DelDest {
        service: ServiceKey::Addr {
            protocol: Protocol::Sctp,
            addr: "2001:db8::1".parse().unwrap(),
            port: 443,
        },
        dest: DestKey {
            addr: "2001:db8::10".parse().unwrap(),
            port: 0,
        },
    });
    let mut want = hdr(108, 0x05, IPVS_CMD_DEL_DEST);
    let v6 = |a: &str| -> Vec<u8> { a.parse::<std::net::Ipv6Addr>().unwrap().octets().to_vec() };
    #[rustfmt::skip]
    want.extend_from_slice(&[48, 0, 1, 0, 6, 0, 1, 0, 10, 0, 0, 0, 6, 0, 2, 0, 132, 0, 0, 0, 20, 0, 3, 0]);
    want.extend_from_slice(&v6("2001:db8::1"));
    want.extend_from_slice(&[6, 0, 4, 0, 0x01, 0xbb, 0, 0]);
    want.extend_from_slice(&[40, 0, 2, 0, 20, 0, 1, 0]);
    want.extend_from_slice(&v6("2001:db8::10"));
    want.extend_from_slice(&[6, 0, 11, 0, 10, 0, 0, 0, 6, 0, 2, 0, 0, 0, 0, 0]);
    assert_eq!(got, want);
}

#[test]
fn weight_above_i32_is_refused_and_nothing_is_left_in_the_buffer() {
    let mut m = MsgBuf::new();
    let op = Op::EditDest {
        service: svc_tcp(),
        dest: DestKey {
            addr: "192.0.2.10".parse().unwrap(),
            port: 80,
        },
        params: Dest {
            weight: u32::MAX,
            forwarding: Forwarding::Nat,
            upper_threshold: 0,
            lower_threshold: 0,
        },
    };
    assert!(encode_op(&mut m, FAM, 1, &op).is_err());
    assert!(m.buf.is_empty());
    let long = Op::AddService {
        key: svc_tcp(),
        attrs: attrs("a-scheduler-name-too-long"),
    };
    assert!(
        matches!(encode_op(&mut m, FAM, 1, &long), Err(Error::Ipvs { errno, .. }) if errno == libc::EINVAL)
    );
    assert!(m.buf.is_empty());
}

#[test]
fn sync_daemon_layout() {
    let mut m = MsgBuf::new();
    encode_daemon(
        &mut m,
        &SyncDaemon {
            role: SyncRole::Backup,
            ifname: "eth0".into(),
            syncid: 5,
            maxlen: Some(1400),
            group: Some("224.0.0.81".parse().unwrap()),
            port: Some(8848),
            ttl: Some(2),
        },
    );
    #[rustfmt::skip]
    let want = [
        64, 0, 3, 0,
        8, 0, 1, 0, 2, 0, 0, 0, // STATE = backup
        9, 0, 2, 0, b'e', b't', b'h', b'0', 0, 0, 0, 0, // MCAST_IFN
        8, 0, 3, 0, 5, 0, 0, 0, // SYNC_ID
        6, 0, 4, 0, 0x78, 0x05, 0, 0, // SYNC_MAXLEN 1400
        8, 0, 5, 0, 224, 0, 0, 81, // MCAST_GROUP
        6, 0, 7, 0, 0x90, 0x22, 0, 0, // MCAST_PORT 8848
        5, 0, 8, 0, 2, 0, 0, 0, // MCAST_TTL
    ];
    assert_eq!(m.buf, want);
}

/// A GET_SERVICE reply nest as the kernel fills it (ip_vs_genl_fill_service).
fn kernel_service(af: u16, addr: &[u8; 16], fwmark: u32, flags: u32, netmask: u32) -> Vec<u8> {
    let mut m = MsgBuf::new();
    m.u16(IPVS_SVC_ATTR_AF, af);
    if fwmark != 0 {
        m.u32(IPVS_SVC_ATTR_FWMARK, fwmark);
    } else {
        m.u16(IPVS_SVC_ATTR_PROTOCOL, IPPROTO_UDP);
        m.attr(IPVS_SVC_ATTR_ADDR, addr);
        m.be16(IPVS_SVC_ATTR_PORT, 53);
    }
    m.str(IPVS_SVC_ATTR_SCHED_NAME, "sh");
    m.str(IPVS_SVC_ATTR_PE_NAME, "sip");
    let mut f = flags.to_ne_bytes().to_vec();
    f.extend_from_slice(&u32::MAX.to_ne_bytes());
    m.attr(IPVS_SVC_ATTR_FLAGS, &f);
    m.u32(IPVS_SVC_ATTR_TIMEOUT, 300);
    m.u32(IPVS_SVC_ATTR_NETMASK, netmask);
    let s = m.nest(IPVS_SVC_ATTR_STATS64 | 0x8000);
    m.attr(1, &7u64.to_ne_bytes());
    m.attr(4, &1500u64.to_ne_bytes());
    m.end_nest(s);
    m.buf
}

#[test]
fn parse_service_reply_drops_hashed_and_maps_masks() {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[192, 0, 2, 1]);
    let nm = u32::from_ne_bytes([255, 255, 255, 0]);
    let e = parse_service(&kernel_service(AF_INET, &a, 0, 0x0b, nm)).unwrap();
    assert_eq!(
        e.key,
        ServiceKey::Addr {
            protocol: Protocol::Udp,
            addr: "192.0.2.1".parse().unwrap(),
            port: 53
        }
    );
    assert_eq!(e.flags_raw, 0x0b);
    assert_eq!(e.attrs.scheduler, "sh");
    assert!(e.attrs.flags.sched_flag_1 && !e.attrs.flags.hashed);
    assert_eq!(
        e.attrs.persistence,
        Some(Persistence {
            timeout_s: 300,
            prefix: 24,
            engine: Some("sip".into())
        })
    );
    assert_eq!((e.stats.conns, e.stats.inbytes), (7, 1500));

    let e6 = parse_service(&kernel_service(AF_INET6, &[0; 16], 3, 0x02, 128)).unwrap();
    assert_eq!(
        e6.key,
        ServiceKey::Fwmark {
            family: Family::Inet6,
            mark: 3
        }
    );
    assert_eq!(e6.attrs.persistence, None);
}

#[test]
fn encoded_dest_parses_back() {
    for fwd in [
        Forwarding::Nat,
        Forwarding::Dr,
        Forwarding::Tun {
            kind: TunnelType::Ipip,
            checksum: TunnelChecksum::NoCsum,
        },
        Forwarding::Tun {
            kind: TunnelType::Gre,
            checksum: TunnelChecksum::RemCsum,
        },
        Forwarding::Tun {
            kind: TunnelType::Gue { port: 5555 },
            checksum: TunnelChecksum::Csum,
        },
    ] {
        let key = DestKey {
            addr: "2001:db8::5".parse().unwrap(),
            port: 8443,
        };
        let d = Dest {
            weight: 17,
            forwarding: fwd,
            upper_threshold: 9,
            lower_threshold: 2,
        };
        let mut m = MsgBuf::new();
        put_dest(&mut m, &key, Some(&d)).unwrap();
        let outer = codec::attrs(&m.buf).unwrap();
        let e = parse_dest(outer[0].1, Family::Inet).unwrap();
        assert_eq!((e.key, e.dest), (key, d));
    }
}

#[test]
fn malformed_replies_are_errors_not_panics() {
    assert!(messages(&[200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    assert!(codec::attrs(&[40, 0, 1, 0, 1, 2]).is_err());
    assert!(codec::attrs(&[2, 0, 1, 0]).is_err());
    assert!(parse_service(&[6, 0, 1, 0, 2, 0, 0, 0]).is_err());
    assert!(parse_dest(&[], Family::Inet).is_err());
    // Every truncation of a valid reply decodes or fails, never panics.
    let full = kernel_service(AF_INET, &[0; 16], 0, 0x01, u32::MAX);
    for n in 0..full.len() {
        let _ = parse_service(&full[..n]);
    }
}

#[test]
fn normalize_clears_the_kernels_hashed_flag() {
    let mut t = Table::new();
    let mut a = attrs("rr");
    a.flags.hashed = true;
    t.services.insert(
        svc_tcp(),
        Service {
            attrs: a,
            dests: Default::default(),
        },
    );
    let n = normalize(t);
    assert!(!n.services[&svc_tcp()].attrs.flags.hashed);
}
