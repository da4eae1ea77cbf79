//! Byte-for-byte tests against the packets captured from keepalived 2.2.7 and FRR 8.4
//! (tests/data/interop, described in vectors.md there).
//!
//! 1. Every frame of every pcap is classified; every VRRP packet decodes, its checksum
//!    verifies with the actual destination, and re-encoding (VRRP, AH, IP header,
//!    Ethernet header) reproduces the captured bytes exactly; ARP and NA likewise.
//! 2. Every frame listed in vectors.md (decoded there by an independent Python decoder)
//!    is found in its pcap with the same bytes, and every field of its table is
//!    compared with what this crate decodes.

#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ka_wire::arp::{garp_frame, ArpPacket};
use ka_wire::checksum::internet_checksum;
use ka_wire::ethernet::{mac_to_string, BROADCAST};
use ka_wire::frame::{classify, Classified, Frame};
use ka_wire::ip::{
    build_ipv4, build_ipv6, keepalived_ipv4, keepalived_ipv4_ah, verify_keepalived_ah, Ipv4Params,
    Ipv6Params, VrrpIp, IPPROTO_AH,
};
use ka_wire::nd::{una_frame, NeighborAdvert};
use ka_wire::pcap::{LinkType, Pcap};
use ka_wire::vrrp::{verify_checksum, Auth, Version, VrrpPacket, IPPROTO_VRRP, MCAST_V4};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/interop");

fn pcaps() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(DATA)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    v.sort();
    assert!(
        v.len() >= 29,
        "expected the 29 interop pcaps, found {}",
        v.len()
    );
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Rebuilds the IP packet from the decoded header fields and the re-encoded VRRP message.
fn rebuild_ip(ip: &VrrpIp<'_>, vrrp: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    if let Some(ah) = &ip.ah {
        ah.encode_into(&mut payload);
    }
    payload.extend_from_slice(vrrp);
    let proto = if ip.ah.is_some() {
        IPPROTO_AH
    } else {
        IPPROTO_VRRP
    };
    match (ip.src, ip.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => build_ipv4(
            s,
            d,
            Ipv4Params {
                tos: ip.tos,
                ttl: ip.ttl,
                id: ip.ip_id.unwrap(),
                dont_fragment: ip.dont_fragment,
                protocol: proto,
            },
            &payload,
        )
        .unwrap(),
        (IpAddr::V6(s), IpAddr::V6(d)) => build_ipv6(
            s,
            d,
            Ipv6Params {
                traffic_class: ip.tos,
                flow_label: ip.flow_label.unwrap(),
                hop_limit: ip.ttl,
                next_header: proto,
            },
            &payload,
        )
        .unwrap(),
        _ => panic!("mixed families"),
    }
}

#[derive(Default, Debug)]
struct Counts {
    vrrp_v2: usize,
    vrrp_v3: usize,
    ah: usize,
    arp: usize,
    garp: usize,
    na: usize,
    other: usize,
}

fn check_file(path: &Path, counts: &mut Counts) {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let bytes = std::fs::read(path).unwrap();
    let pcap = Pcap::parse(&bytes).unwrap();
    assert_eq!(pcap.link_type, LinkType::Ethernet, "{name}");
    let mut vrrp_in_file = 0;
    for rec in pcap.records() {
        let rec = rec.unwrap_or_else(|e| panic!("{name}: {e}"));
        let at = format!("{name} frame #{}", rec.index + 1);
        assert_eq!(
            rec.orig_len as usize,
            rec.data.len(),
            "{at}: capture was cut"
        );
        let Classified { ethernet, frame } = classify(pcap.link_type, rec.data).unwrap();
        let eth = ethernet.unwrap();
        let mut eth_bytes = Vec::new();
        eth.encode_into(&mut eth_bytes);
        assert_eq!(eth_bytes, rec.data[..eth.len()], "{at}: ethernet header");
        let l3 = &rec.data[eth.len()..];
        match frame {
            Frame::Vrrp(ip) => {
                vrrp_in_file += 1;
                let p = ip.decode().unwrap_or_else(|e| panic!("{at}: {e}"));
                assert!(ip.header_checksum_ok, "{at}: ip header checksum");
                assert!(ip.checksum_ok(), "{at}: vrrp checksum");
                assert!(p.checksum_ok(ip.src, ip.dst), "{at}: vrrp checksum (repr)");
                let enc = p.encode().unwrap();
                assert_eq!(enc, ip.vrrp, "{at}: vrrp re-encode");
                // A fresh checksum for sending equals the one carried.
                let fresh = VrrpPacket {
                    checksum: 0,
                    ..p.clone()
                }
                .encode_for_send(ip.src, ip.dst)
                .unwrap();
                assert_eq!(fresh, ip.vrrp, "{at}: fresh checksum");
                let rebuilt = rebuild_ip(&ip, &enc);
                assert_eq!(rebuilt, l3, "{at}: ip re-encode (no padding expected)");
                // keepalived's own adverts (no DF, IPv4, no AH) match keepalived_ipv4.
                if let (IpAddr::V4(s), IpAddr::V4(d), false, None) =
                    (ip.src, ip.dst, ip.dont_fragment, &ip.ah)
                {
                    assert_eq!(
                        keepalived_ipv4(s, d, ip.ip_id.unwrap(), &fresh).unwrap(),
                        l3,
                        "{at}"
                    );
                    assert_eq!((ip.tos, ip.ttl), (0xc0, 255), "{at}");
                }
                assert_eq!(p.kind, 1, "{at}");
                assert_eq!(p.vrid, 51, "{at}");
                // keepalived: lb1 150, lb2 100, 0 when leaving; FRR (lb3) is also raised to 200.
                let frr = name.starts_with("frr")
                    && eth.src[..5]
                        == [
                            0,
                            0,
                            0x5e,
                            0,
                            1 + u8::from(ip.family() == ka_wire::vrrp::Family::V6),
                        ];
                assert!(
                    [0, 100, 150].contains(&p.priority) || (frr && p.priority == 200),
                    "{at}: priority {}",
                    p.priority
                );
                assert_eq!(p.addrs.len(), usize::from(ip.vrrp[3]), "{at}");
                match p.version {
                    Version::V2 => {
                        counts.vrrp_v2 += 1;
                        // v2: the checksum is over the VRRP message only.
                        assert_eq!(internet_checksum(ip.vrrp), 0, "{at}");
                    }
                    Version::V3 => {
                        counts.vrrp_v3 += 1;
                        assert_eq!(p.auth, Auth::None);
                    }
                }
                if let (Some(ah), IpAddr::V4(s), IpAddr::V4(d)) = (&ip.ah, ip.src, ip.dst) {
                    counts.ah += 1;
                    assert!(matches!(p.auth, Auth::Ah(d) if d == [0; 8]), "{at}");
                    // keepalived's HMAC-MD5-96 under auth_pass "s3cret" (vectors.md).
                    assert!(verify_keepalived_ah(l3, b"s3cret", false), "{at}: ah icv");
                    assert!(!verify_keepalived_ah(l3, b"wrong", false), "{at}: ah icv");
                    let built = keepalived_ipv4_ah(
                        s,
                        d,
                        ip.ip_id.unwrap(),
                        ah.seq,
                        b"s3cret",
                        false,
                        &fresh,
                    );
                    assert_eq!(built.unwrap(), l3, "{at}: ah packet rebuilt");
                }
                if name.contains("authpass") {
                    assert_eq!(p.auth.password_bytes(), Some(&b"s3cret"[..]), "{at}");
                }
            }
            Frame::Arp(a) => {
                counts.arp += 1;
                assert_eq!(a.encode(), l3[..28], "{at}: arp re-encode");
                // Some ordinary ARP from the test client carries 16 bytes of padding;
                // the gratuitous ARPs of keepalived and FRR carry none.
                assert!(
                    l3.len() == 28 || !a.is_gratuitous(),
                    "{at}: unexpected padding"
                );
                if a.is_gratuitous() && a.op == 1 && eth.dst == BROADCAST {
                    counts.garp += 1;
                    assert_eq!(a, ArpPacket::gratuitous(eth.src, a.spa), "{at}");
                    assert_eq!(garp_frame(eth.src, a.spa), rec.data, "{at}: garp frame");
                }
            }
            Frame::NeighborAdvert(na) => {
                counts.na += 1;
                assert!(na.checksum_ok(), "{at}: icmpv6 checksum");
                assert_eq!(na.encode(), l3, "{at}: na re-encode");
                assert_eq!(
                    na.encode_frame(eth.src, Some(eth.dst)),
                    rec.data,
                    "{at}: na frame"
                );
                if na.is_unsolicited() && !na.router {
                    // keepalived's unsolicited NA, rebuilt from MAC and VIP only.
                    assert_eq!(una_frame(eth.src, na.target), rec.data, "{at}: una frame");
                }
            }
            Frame::Other { .. } => counts.other += 1,
            Frame::Malformed { ethertype, error } => {
                panic!("{at}: malformed {ethertype:#06x}: {error}")
            }
        }
    }
    assert!(vrrp_in_file > 0, "{name}: no vrrp packet");
}

#[test]
fn every_frame_of_every_pcap_roundtrips() {
    let mut counts = Counts::default();
    for p in pcaps() {
        check_file(&p, &mut counts);
    }
    eprintln!("{counts:?}");
    // Figures of the capture set, counted independently with tcpdump 4.99 (grep -c
    // VRRPv2 / VRRPv3 / "neighbor advertisement", filter `arp`; 6181 frames in all):
    // a change here means frames were missed or misclassified.
    assert_eq!(
        (counts.vrrp_v2, counts.vrrp_v3, counts.ah),
        (151, 4847, 10),
        "{counts:?}"
    );
    assert_eq!((counts.arp, counts.na), (942, 173), "{counts:?}");
    let total = counts.vrrp_v2 + counts.vrrp_v3 + counts.arp + counts.na + counts.other;
    assert_eq!(total, 6181, "{counts:?}");
    assert!(counts.garp > 800, "{counts:?}");
}

/// One section of vectors.md: a frame reference, its hex dump and its decoded table.
#[derive(Debug)]
struct Vector {
    title: String,
    file: String,
    frame: usize,
    bytes: Vec<u8>,
    fields: Vec<(String, String)>,
}

fn parse_vectors_md() -> Vec<Vector> {
    let text = std::fs::read_to_string(format!("{DATA}/vectors.md")).unwrap();
    let mut out = Vec::new();
    let mut cur: Option<Vector> = None;
    let mut title = String::new();
    let mut in_dump = false;
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("### ") {
            out.extend(cur.take());
            title = t.to_string();
        } else if let Some(rest) = line.strip_prefix("Source: `pcap/") {
            let (file, rest) = rest.split_once('`').unwrap();
            let n = rest.split_once('#').unwrap().1;
            let n: usize = n.split_whitespace().next().unwrap().parse().unwrap();
            cur = Some(Vector {
                title: title.clone(),
                file: file.to_string(),
                frame: n,
                bytes: Vec::new(),
                fields: Vec::new(),
            });
        } else if line.starts_with("```") {
            in_dump = !in_dump && cur.is_some();
        } else if let (true, Some(v)) = (in_dump, cur.as_mut()) {
            for tok in line.split_whitespace().skip(1) {
                v.bytes.push(u8::from_str_radix(tok, 16).unwrap());
            }
        } else if let (Some(v), Some(row)) = (cur.as_mut(), line.strip_prefix("| ")) {
            let cells: Vec<&str> = row.split(" | ").collect();
            if let [k, val] = cells[..] {
                let val = val.trim_end_matches(" |").trim_end_matches('|').trim();
                if k != "field" {
                    v.fields.push((k.trim().to_string(), val.to_string()));
                }
            }
        }
    }
    out.extend(cur);
    out
}

fn py_bool(b: bool) -> String {
    if b { "True" } else { "False" }.to_string()
}

/// What this crate decodes for each field name used in vectors.md.
fn observed(data: &[u8]) -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    let c = classify(LinkType::Ethernet, data).unwrap();
    let eth = c.ethernet.unwrap();
    let l3 = &data[eth.len()..];
    m.insert("frame_len", data.len().to_string());
    m.insert("eth_dst", mac_to_string(&eth.dst));
    m.insert("eth_src", mac_to_string(&eth.src));
    m.insert("ethertype", format!("{:#06x}", eth.ethertype));
    if l3.first().is_some_and(|b| b >> 4 == 4) && eth.ethertype == 0x0800 {
        let ihl = usize::from(l3[0] & 0xf) * 4;
        m.insert("ip_ver", "4".into());
        m.insert("ihl", ihl.to_string());
        m.insert(
            "ip_total_len",
            u16::from_be_bytes([l3[2], l3[3]]).to_string(),
        );
        m.insert(
            "ip_flags_frag",
            format!("{:#06x}", u16::from_be_bytes([l3[6], l3[7]])),
        );
        m.insert("proto", l3[9].to_string());
        m.insert(
            "ip_hdr_csum",
            format!("{:#06x}", u16::from_be_bytes([l3[10], l3[11]])),
        );
    }
    if eth.ethertype == 0x86dd {
        m.insert("ip_ver", "6".into());
        m.insert(
            "payload_len",
            u16::from_be_bytes([l3[4], l3[5]]).to_string(),
        );
        m.insert("next_header", l3[6].to_string());
    }
    match c.frame {
        Frame::Vrrp(ip) => {
            m.insert("kind", "vrrp".into());
            m.insert("src", ip.src.to_string());
            m.insert("dst", ip.dst.to_string());
            if let Some(id) = ip.ip_id {
                m.insert("ip_id", id.to_string());
                m.insert("ttl", ip.ttl.to_string());
                m.insert("tos", format!("{:#04x}", ip.tos));
                m.insert("ip_hdr_csum_ok", py_bool(ip.header_checksum_ok));
            }
            if let Some(fl) = ip.flow_label {
                m.insert("flow_label", format!("{fl:#07x}"));
                m.insert("hop_limit", ip.ttl.to_string());
                m.insert("traffic_class", format!("{:#04x}", ip.tos));
            }
            if let Some(ah) = &ip.ah {
                m.insert("ah_next_header", ah.next_header.to_string());
                m.insert("ah_payload_len", ah.payload_len.to_string());
                m.insert("ah_spi", format!("{:#010x}", ah.spi));
                m.insert("ah_seq", ah.seq.to_string());
                m.insert("ah_icv", hex(&ah.icv));
            }
            let p = ip.decode().unwrap();
            m.insert("vrrp_version", p.version.number().to_string());
            m.insert("vrrp_type", p.kind.to_string());
            m.insert("vrid", p.vrid.to_string());
            m.insert("priority", p.priority.to_string());
            m.insert("count_addrs", p.addrs.len().to_string());
            m.insert("vrrp_len", p.encoded_len().to_string());
            m.insert("checksum", format!("{:#06x}", p.checksum));
            let addrs: Vec<String> = p.addrs.iter().map(|a| format!("'{a}'")).collect();
            m.insert("addrs", format!("[{}]", addrs.join(", ")));
            let v2_ok = internet_checksum(ip.vrrp) == 0;
            match p.version {
                Version::V2 => {
                    m.insert("auth_type", p.auth.kind().to_string());
                    m.insert("adver_int_s", (p.adver_int_cs / 100).to_string());
                    let pw = String::from_utf8_lossy(p.auth.password_bytes().unwrap_or_default())
                        .to_string();
                    m.insert("auth_data", format!("{}  ('{pw}')", hex(&p.auth.data())));
                    m.insert("checksum_ok(vrrp-only, RFC3768)", py_bool(v2_ok));
                }
                Version::V3 => {
                    m.insert("rsvd", p.reserved.to_string());
                    m.insert("max_adver_int_cs", p.adver_int_cs.to_string());
                    m.insert("checksum_ok(vrrp-only)", py_bool(v2_ok));
                    m.insert(
                        "checksum_ok(pseudo-hdr with real dst, RFC5798)",
                        py_bool(verify_checksum(ip.vrrp, ip.src, ip.dst)),
                    );
                    m.insert(
                        "checksum_ok(pseudo-hdr with 224.0.0.18, old keepalived unicast)",
                        py_bool(verify_checksum(ip.vrrp, ip.src, IpAddr::V4(MCAST_V4))),
                    );
                }
            }
        }
        Frame::Arp(a) => {
            m.insert("kind", "arp".into());
            m.insert("arp_op", a.op.to_string());
            m.insert("sha", mac_to_string(&a.sha));
            m.insert("spa", a.spa.to_string());
            m.insert("tha", mac_to_string(&a.tha));
            m.insert("tpa", a.tpa.to_string());
            m.insert("garp", py_bool(a.is_gratuitous()));
        }
        Frame::NeighborAdvert(na) => {
            let NeighborAdvert { .. } = na;
            m.insert("kind", "icmp6-na".into());
            m.insert("src", na.src.to_string());
            m.insert("dst", na.dst.to_string());
            m.insert("hop_limit", na.hop_limit.to_string());
            m.insert("traffic_class", format!("{:#04x}", na.traffic_class));
            m.insert("flow_label", format!("{:#07x}", na.flow_label));
            m.insert("na_router", py_bool(na.router));
            m.insert("na_solicited", py_bool(na.solicited));
            m.insert("na_override", py_bool(na.override_flag));
            m.insert("target", na.target.to_string());
            m.insert(
                "tlla",
                na.target_lla.map(|m| mac_to_string(&m)).unwrap_or_default(),
            );
        }
        other => panic!("unexpected frame {other:?}"),
    }
    m
}

#[test]
fn vectors_md_listing_matches_decoder() {
    let vectors = parse_vectors_md();
    assert_eq!(vectors.len(), 23, "sections of vectors.md");
    let mut compared = 0;
    for v in &vectors {
        let at = format!("{} ({} #{})", v.title, v.file, v.frame);
        let bytes = std::fs::read(format!("{DATA}/{}", v.file)).unwrap();
        let pcap = Pcap::parse(&bytes).unwrap();
        let rec = pcap.records().nth(v.frame - 1).unwrap().unwrap();
        assert_eq!(rec.data, v.bytes, "{at}: hex dump differs from the pcap");
        let obs = observed(rec.data);
        assert!(!v.fields.is_empty(), "{at}: no table");
        for (k, want) in &v.fields {
            let got = obs
                .get(k.as_str())
                .unwrap_or_else(|| panic!("{at}: field {k} not decoded"));
            assert_eq!(got, want, "{at}: field {k}");
            compared += 1;
        }
    }
    assert!(compared > 500, "{compared} fields compared");
}

/// Spot checks of the figures given in vectors.md prose and the task.
#[test]
fn spot_checks() {
    let first_vrrp = |file: &str, nth: usize| -> (VrrpPacket, IpAddr, IpAddr, u8) {
        let bytes = std::fs::read(format!("{DATA}/{file}")).unwrap();
        let pcap = Pcap::parse(&bytes).unwrap();
        let mut seen = 0;
        for rec in pcap.records() {
            let rec = rec.unwrap();
            if let Frame::Vrrp(ip) = classify(LinkType::Ethernet, rec.data).unwrap().frame {
                if seen == nth {
                    return (ip.decode().unwrap(), ip.src, ip.dst, ip.ttl);
                }
                seen += 1;
            }
        }
        panic!("{file}: no vrrp packet #{nth}");
    };
    let lb1: IpAddr = "192.0.2.11".parse().unwrap();
    let vip: IpAddr = "192.0.2.1".parse().unwrap();
    let (p, src, _, ttl) = first_vrrp("v2_mcast_authpass.pcap", 0);
    assert_eq!(
        (p.version, p.vrid, p.priority, p.adver_int_cs, src, ttl),
        (Version::V2, 51, 150, 100, lb1, 255)
    );
    assert_eq!(p.auth, Auth::password(b"s3cret"));
    assert_eq!(p.addrs, vec![vip]);
    // advert_int 0.5 with v2 is rounded by keepalived to 1 s.
    let (p, ..) = first_vrrp("v2_mcast_adv0.5_rounded.pcap", 0);
    assert_eq!(p.adver_int_cs, 100);
    let (p, ..) = first_vrrp("v3_mcast_ipv4_adv0.01.pcap", 0);
    assert_eq!((p.version, p.adver_int_cs), (Version::V3, 1));
    let (p, ..) = first_vrrp("v3_mcast_ipv4_adv0.1.pcap", 0);
    assert_eq!(p.adver_int_cs, 10);
    let (p, ..) = first_vrrp("v3_mcast_ipv4_3vips.pcap", 0);
    let want: Vec<IpAddr> = ["192.0.2.1", "192.0.2.2", "203.0.113.10"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    assert_eq!(p.addrs, want);
    let (p, src, dst, ttl) = first_vrrp("v3_unicast_ipv6.pcap", 0);
    assert_eq!(ttl, 64, "keepalived ipv6 unicast hop limit");
    assert_eq!(
        (src, dst),
        (
            "2001:db8:0:1::11".parse().unwrap(),
            "2001:db8:0:1::12".parse().unwrap()
        )
    );
    assert_eq!(p.addrs, vec!["2001:db8:0:1::1".parse::<IpAddr>().unwrap()]);
    let (p, ..) = first_vrrp("v2_mcast_ipv6.pcap", 0);
    assert_eq!(p.version, Version::V3, "v2 config with IPv6 VIP sends v3");
    let (p, ..) = first_vrrp("v2_mcast_ah.pcap", 0);
    assert_eq!(p.auth, Auth::Ah([0; 8]));
    // Priorities 150 (lb1), 100 (lb2 / FRR) and 0 (leaving) all occur.
    let mut prios = std::collections::BTreeSet::new();
    for n in 0..20 {
        prios.insert(first_vrrp("failover_v3_ipv4_term_adv1.pcap", n).0.priority);
    }
    let (p, src, ..) = first_vrrp("frr_interop_v3_ipv4.pcap", 0);
    prios.insert(p.priority);
    assert!(src == lb1 || src == "192.0.2.13".parse::<IpAddr>().unwrap());
    assert!(
        prios.is_superset(&[0, 100, 150].into_iter().collect()),
        "{prios:?}"
    );
}
