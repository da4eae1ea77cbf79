//! The engine against real keepalived 2.2.7 and FRR 8.4 packets
//! (/work/shared/interop-vectors/vectors.md): what the engine sends, encoded by `ka-wire`,
//! is byte-identical to keepalived's adverts, and captured adverts are accepted.

// Fixture helpers unwrap; a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use ka_model::{Centisecs, Vrid, VrrpVersion};
use ka_vrrp::{
    AuthConfig, DropReason, IfaceId, InitialState, InstanceConfig, Instant, Router, RouterConfig,
    RxMeta, StateKind, Transmit, VipConfig,
};
use ka_wire::vrrp::{Family, VrrpPacket};

const IF: IfaceId = IfaceId(1);

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// lb1 of the capture harness: priority 150, VRID 51.
fn lb1(version: VrrpVersion, src: &str, vips: &[&str]) -> InstanceConfig {
    let mut c = InstanceConfig::new("VI_1", Vrid::new(51).unwrap(), IF, ip(src));
    c.version = version;
    c.priority = 150;
    c.initial_state = InitialState::Master;
    c.vips = vips.iter().map(|v| VipConfig::host(ip(v))).collect();
    c
}

fn router(c: InstanceConfig) -> Router {
    Router::new(RouterConfig {
        instances: vec![c],
        sync_groups: vec![],
    })
    .unwrap()
}

/// (src, dst, ttl, encoded message) of every advert the router queued.
fn sent(r: &mut Router) -> Vec<(IpAddr, IpAddr, u8, String)> {
    let mut out = Vec::new();
    while let Some(t) = r.poll_transmit() {
        if let Transmit::Advert {
            src,
            dst,
            ttl,
            packet,
            ..
        } = t
        {
            let bytes = packet.encode_for_send(src, dst).unwrap();
            let h: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            out.push((src, dst, ttl, h));
        }
    }
    out
}

/// keepalived's first advert and its priority 0 advert on SIGTERM, byte for byte
/// (RFC 3768 section 5, RFC 5798 section 5; vectors 1a-1h, 2c-2g).
#[test]
fn adverts_match_keepalived_bytes() {
    struct Case {
        name: &'static str,
        cfg: InstanceConfig,
        first: &'static str,
        prio0: Option<&'static str>,
        ttl: u8,
    }
    let v4vip = ["192.0.2.1"];
    let mut pass = lb1(VrrpVersion::V2, "192.0.2.11", &v4vip);
    pass.auth = AuthConfig::Pass(AuthConfig::pad(b"s3cret"));
    let mut uni4 = lb1(VrrpVersion::V3, "192.0.2.11", &v4vip);
    uni4.unicast_peers = vec![ip("192.0.2.12")];
    let mut uni6 = lb1(VrrpVersion::V3, "2001:db8:0:1::11", &["2001:db8:0:1::1"]);
    uni6.unicast_peers = vec![ip("2001:db8:0:1::12")];
    let mut adv01 = lb1(VrrpVersion::V3, "192.0.2.11", &v4vip);
    adv01.advert_int = Centisecs(10);
    let mut adv001 = lb1(VrrpVersion::V3, "192.0.2.11", &v4vip);
    adv001.advert_int = Centisecs(1);
    let cases = vec![
        Case {
            name: "1a/1f v2 PASS",
            cfg: pass,
            first: "21339601010149aec00002017333637265740000",
            prio0: Some("213300010101dfaec00002017333637265740000"),
            ttl: 255,
        },
        Case {
            name: "1b/1e v2 no auth",
            cfg: lb1(VrrpVersion::V2, "192.0.2.11", &v4vip),
            first: "21339601000186c8c00002010000000000000000",
            prio0: Some("2133000100011cc9c00002010000000000000000"),
            ttl: 255,
        },
        Case {
            name: "1c/1g v3 IPv4",
            cfg: lb1(VrrpVersion::V3, "192.0.2.11", &v4vip),
            first: "313396010064d3cac0000201",
            prio0: Some("31330001006469cbc0000201"),
            ttl: 255,
        },
        Case {
            name: "1d/1h v3 IPv6",
            cfg: lb1(VrrpVersion::V3, "fe80::ff:fe00:b", &["2001:db8:0:1::1"]),
            first: "3133960100640d8320010db8000000010000000000000001",
            prio0: Some("313300010064a38320010db8000000010000000000000001"),
            ttl: 255,
        },
        Case {
            name: "2h v2 configured with IPv6 runs v3",
            cfg: lb1(VrrpVersion::V2, "fe80::ff:fe00:b", &["2001:db8:0:1::1"]),
            first: "3133960100640d8320010db8000000010000000000000001",
            prio0: None,
            ttl: 255,
        },
        Case {
            name: "2c v3 IPv4 unicast",
            cfg: uni4,
            first: "313396010064f1d0c0000201",
            prio0: None,
            ttl: 255,
        },
        Case {
            name: "2d v3 IPv6 unicast",
            cfg: uni6,
            first: "313396010064ae8c20010db8000000010000000000000001",
            prio0: None,
            ttl: 64,
        },
        Case {
            name: "2e 3 VIPs",
            cfg: lb1(
                VrrpVersion::V3,
                "192.0.2.11",
                &["192.0.2.1", "192.0.2.2", "203.0.113.10"],
            ),
            first: "313396030064d5b2c0000201c0000202cb00710a",
            prio0: None,
            ttl: 255,
        },
        Case {
            name: "2f advert_int 0.1",
            cfg: adv01,
            first: "31339601000ad424c0000201",
            prio0: None,
            ttl: 255,
        },
        Case {
            name: "2g advert_int 0.01",
            cfg: adv001,
            first: "313396010001d42dc0000201",
            prio0: None,
            ttl: 255,
        },
    ];
    for c in cases {
        let mut r = router(c.cfg);
        r.start(Instant::ZERO);
        let out = sent(&mut r);
        assert_eq!(out.len(), 1, "{}", c.name);
        assert_eq!(out[0].3, c.first, "{}", c.name);
        assert_eq!(out[0].2, c.ttl, "{}", c.name);
        if let Some(p0) = c.prio0 {
            r.shutdown(Instant::from_millis(100));
            let out = sent(&mut r);
            assert_eq!(out.len(), 1, "{}", c.name);
            assert_eq!(out[0].3, p0, "{} priority 0", c.name);
        }
    }
}

/// (name, message hex, family, src, dst, ttl, version, vip, unicast peer, auth).
type Captured = (
    &'static str,
    &'static str,
    Family,
    &'static str,
    &'static str,
    u8,
    VrrpVersion,
    &'static str,
    Option<&'static str>,
    AuthConfig,
);

/// Captured adverts from keepalived and FRR, decoded by `ka-wire`, are accepted by a
/// priority 100 backup and reset its Master_Down_Timer (RFC 5798 section 6.4.2).
#[test]
fn captured_adverts_are_accepted() {
    let cases: Vec<Captured> = vec![
        (
            "1a",
            "21339601010149aec00002017333637265740000",
            Family::V4,
            "192.0.2.11",
            "224.0.0.18",
            255,
            VrrpVersion::V2,
            "192.0.2.1",
            None,
            AuthConfig::Pass(AuthConfig::pad(b"s3cret")),
        ),
        (
            "1b",
            "21339601000186c8c00002010000000000000000",
            Family::V4,
            "192.0.2.11",
            "224.0.0.18",
            255,
            VrrpVersion::V2,
            "192.0.2.1",
            None,
            AuthConfig::None,
        ),
        (
            "1c",
            "313396010064d3cac0000201",
            Family::V4,
            "192.0.2.11",
            "224.0.0.18",
            255,
            VrrpVersion::V3,
            "192.0.2.1",
            None,
            AuthConfig::None,
        ),
        (
            "1d",
            "3133960100640d8320010db8000000010000000000000001",
            Family::V6,
            "fe80::ff:fe00:b",
            "ff02::12",
            255,
            VrrpVersion::V3,
            "2001:db8:0:1::1",
            None,
            AuthConfig::None,
        ),
        (
            "2c",
            "313396010064f1d0c0000201",
            Family::V4,
            "192.0.2.11",
            "192.0.2.12",
            255,
            VrrpVersion::V3,
            "192.0.2.1",
            Some("192.0.2.11"),
            AuthConfig::None,
        ),
        (
            "2d",
            "313396010064ae8c20010db8000000010000000000000001",
            Family::V6,
            "2001:db8:0:1::11",
            "2001:db8:0:1::12",
            64,
            VrrpVersion::V3,
            "2001:db8:0:1::1",
            Some("2001:db8:0:1::11"),
            AuthConfig::None,
        ),
        (
            "3a FRR",
            "31336401006405c9c0000201",
            Family::V4,
            "192.0.2.13",
            "224.0.0.18",
            255,
            VrrpVersion::V3,
            "192.0.2.1",
            None,
            AuthConfig::None,
        ),
        (
            "3d FRR",
            "313364010064cedc20010db8000000010000000000000001",
            Family::V6,
            "fe80::8af1:168a:f712:d722",
            "ff02::12",
            255,
            VrrpVersion::V3,
            "2001:db8:0:1::1",
            None,
            AuthConfig::None,
        ),
        (
            "3e FRR",
            "213364010001b8c8c00002010000000000000000",
            Family::V4,
            "192.0.2.13",
            "224.0.0.18",
            255,
            VrrpVersion::V2,
            "192.0.2.1",
            None,
            AuthConfig::None,
        ),
    ];
    for (name, msg, fam, src, dst, ttl, version, vip, peer, auth) in cases {
        let pkt = VrrpPacket::decode(&hex(msg), fam).unwrap();
        let own = match fam {
            Family::V4 => "192.0.2.12",
            Family::V6 => "2001:db8:0:1::12",
        };
        let mut c = InstanceConfig::new("VI_1", Vrid::new(51).unwrap(), IF, ip(own));
        c.version = version;
        c.priority = if name.contains("FRR") { 90 } else { 100 };
        c.vips = vec![VipConfig::host(ip(vip))];
        c.unicast_peers = peer.map(ip).into_iter().collect();
        c.check_unicast_src = true;
        c.auth = auth;
        let mut r = router(c);
        r.start(Instant::ZERO);
        let meta = RxMeta {
            iface: IF,
            src: ip(src),
            dst: ip(dst),
            ttl: Some(ttl),
            ah: ka_vrrp::AhStatus::Absent,
            checksum_ok: pkt.checksum_ok(ip(src), ip(dst)),
        };
        let before = r.poll_timeout();
        r.handle_packet(Instant::from_millis(500), &meta, &pkt);
        let s = r.instances()[0].stats();
        assert_eq!(s.drops, [0; DropReason::ALL.len()], "{name}: {s:?}");
        assert_eq!(s.adverts_rcvd, 1, "{name}");
        assert_ne!(r.poll_timeout(), before, "{name}: timer reset");
        assert_eq!(r.instances()[0].state().kind(), StateKind::Backup, "{name}");
    }
}
