//! One test per rule of `desired()` and `LbState` (keepalived 2.2.7 semantics).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use ka_check::{fixture, CheckerId, Event, RealServerId, Reason};
use ka_lb::*;
use ka_model::lvs::{
    self, AddrRange, CheckerKind, IpFamily, LvsConfig, RealServer, Scheduler, SorryServer,
    VirtualServer, VirtualServerGroup, VsAddress, VsgEntry,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn rs_w(addr: &str, weight: u32) -> RealServer {
    let mut r = fixture::real_server(ip(addr), 80, vec![]);
    r.weight = lvs::Weight::new(weight).unwrap();
    r
}

fn vs(real: Vec<RealServer>) -> VirtualServer {
    fixture::virtual_server(ip("192.0.2.1"), 80, real)
}

fn key80() -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: ip("192.0.2.1"),
        port: 80,
    }
}

fn dk(addr: &str, port: u16) -> DestKey {
    DestKey {
        addr: ip(addr),
        port,
    }
}

fn id(vs: u32, rs: u32) -> RealServerId {
    RealServerId { vs, rs }
}

fn sorry(addr: &str, inhibit: bool) -> SorryServer {
    SorryServer {
        origin: Default::default(),
        addr: ip(addr),
        port: None,
        inhibit,
        forwarding: lvs::Forwarding::Nat,
    }
}

/// Everything in one place: configuration, verdicts, quorum state.
struct Lb {
    cfg: LvsConfig,
    v: Verdicts,
    st: LbState,
    vips: Vips,
    opts: Options,
}

impl Lb {
    fn new(vss: Vec<VirtualServer>) -> Self {
        Self::with(fixture::lvs(vss))
    }
    fn with(cfg: LvsConfig) -> Self {
        Self {
            cfg,
            v: Verdicts::new(),
            st: LbState::new(),
            vips: Vips::new(),
            opts: Options::default(),
        }
    }
    fn set(&mut self, vs: u32, rs: u32, alive: bool) -> Vec<QuorumEvent> {
        let w = self.cfg.virtual_servers[vs as usize].real_servers[rs as usize]
            .weight
            .get();
        self.v.set(id(vs, rs), alive, w);
        self.st.update(&self.cfg, &self.v)
    }
    fn update(&mut self) -> Vec<QuorumEvent> {
        self.st.update(&self.cfg, &self.v)
    }
    fn table(&self) -> Table {
        desired(&self.cfg, &self.v, &self.st, &self.vips, &self.opts).unwrap()
    }
    fn weights(&self, key: &ServiceKey) -> Vec<(String, u32)> {
        self.table()
            .services
            .get(key)
            .map(|s| {
                s.dests
                    .iter()
                    .map(|(k, d)| (k.addr.to_string(), d.weight))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[test]
fn dead_real_server_is_removed_or_inhibited() {
    let mut a = rs_w("192.0.2.10", 5);
    a.inhibit_on_failure = true;
    let b = rs_w("192.0.2.11", 7);
    let mut lb = Lb::new(vec![vs(vec![a, b])]);
    lb.update();
    assert_eq!(
        lb.weights(&key80()),
        [("192.0.2.10".into(), 5), ("192.0.2.11".into(), 7)]
    );
    lb.set(0, 0, false);
    lb.set(0, 1, false);
    // inhibit_on_failure: weight 0, kept; the other one: gone.
    assert_eq!(lb.weights(&key80()), [("192.0.2.10".into(), 0)]);
    lb.set(0, 0, true);
    assert_eq!(lb.weights(&key80()), [("192.0.2.10".into(), 5)]);
}

#[test]
fn quorum_and_hysteresis_thresholds_are_exact() {
    // Four servers of weight 1, quorum 3, hysteresis 1: gain at >= 4, loss at < 2.
    let mut v = vs((10..14).map(|i| rs_w(&format!("192.0.2.{i}"), 1)).collect());
    v.quorum = NonZeroU32::new(3).unwrap();
    v.hysteresis = 1;
    v.quorum_up = Some(fixture::script(&["/bin/up"]));
    v.quorum_down = Some(fixture::script(&["/bin/down"]));
    let mut lb = Lb::new(vec![v]);
    let ev = lb.update();
    assert_eq!(ev.len(), 1);
    assert!(ev[0].up && ev[0].initial);
    assert_eq!(ev[0].weight_sum, 4);
    assert_eq!(ev[0].script.as_ref().unwrap().argv, ["/bin/up"]);
    assert_eq!(
        ev[0].to_string(),
        "Starting with quorum up 3+1=4 <= 4 for VS 192.0.2.1:80/Tcp"
    );
    // 3 alive, 2 alive: still >= q - h = 2.
    assert!(lb.set(0, 0, false).is_empty());
    assert!(lb.set(0, 1, false).is_empty());
    assert_eq!(lb.st.quorum_up("192.0.2.1:80/Tcp"), Some(true));
    // 1 alive: 1 < 2, lost.
    let ev = lb.set(0, 2, false);
    assert_eq!(ev.len(), 1);
    assert!(!ev[0].up && !ev[0].initial);
    assert_eq!(ev[0].weight_sum, 1);
    assert_eq!(ev[0].script.as_ref().unwrap().argv, ["/bin/down"]);
    assert_eq!(
        ev[0].to_string(),
        "Lost quorum 3-1=2 > 1 for VS 192.0.2.1:80/Tcp"
    );
    // Back to 2 and 3: below q + h = 4, still lost.
    assert!(lb.set(0, 0, true).is_empty());
    assert!(lb.set(0, 1, true).is_empty());
    assert_eq!(lb.st.quorum_up("192.0.2.1:80/Tcp"), Some(false));
    // 4: regained.
    let ev = lb.set(0, 2, true);
    assert_eq!(ev.len(), 1);
    assert!(ev[0].up && !ev[0].initial);
    // Steady: nothing more.
    assert!(lb.update().is_empty());
}

#[test]
fn quorum_counts_weights_and_is_lowered_to_the_total() {
    // Weights 3 and 2, quorum 10 (lowered to 5), hysteresis 7 (lowered to 4).
    let mut v = vs(vec![rs_w("192.0.2.10", 3), rs_w("192.0.2.11", 2)]);
    v.quorum = NonZeroU32::new(10).unwrap();
    v.hysteresis = 7;
    assert_eq!(effective_quorum(&v), (5, 4));
    let mut lb = Lb::new(vec![v]);
    // q + h = 9 > 5: can never be met at start... keepalived's own rule.
    let ev = lb.update();
    assert!(ev.is_empty(), "no sorry server: no initial down event");
    assert_eq!(lb.st.quorum_up("192.0.2.1:80/Tcp"), Some(false));

    // Quorum 4 hysteresis 0 over weights 3 + 2: losing the weight-2 server keeps it
    // (3 < 4: lost), a weight change counts.
    let mut v = vs(vec![rs_w("192.0.2.10", 3), rs_w("192.0.2.11", 2)]);
    v.quorum = NonZeroU32::new(4).unwrap();
    let mut lb = Lb::new(vec![v]);
    assert!(lb.update()[0].up);
    let ev = lb.set(0, 1, false);
    assert_eq!((ev[0].up, ev[0].weight_sum), (false, 3));
    // misc_dynamic raises the first server's weight to 4: regained with one server.
    lb.v.apply(&Event::WeightChanged {
        rs: id(0, 0),
        old: 3,
        new: 4,
        checker: CheckerId {
            rs: id(0, 0),
            index: 0,
        },
    });
    let ev = lb.update();
    assert_eq!((ev[0].up, ev[0].weight_sum), (true, 4));
    assert_eq!(lb.weights(&key80()), [("192.0.2.10".into(), 4)]);
}

#[test]
fn sorry_server_replaces_real_servers_without_quorum() {
    let mut a = rs_w("192.0.2.10", 1);
    a.inhibit_on_failure = true;
    let b = rs_w("192.0.2.11", 1);
    let mut v = vs(vec![a, b]);
    v.quorum = NonZeroU32::new(2).unwrap();
    v.sorry_server = Some(sorry("198.51.100.9", false));
    let mut lb = Lb::new(vec![v]);
    assert!(lb.update()[0].up);
    assert_eq!(
        lb.weights(&key80()),
        [("192.0.2.10".into(), 1), ("192.0.2.11".into(), 1)]
    );
    // b fails: 1 < 2, quorum lost: sorry server in (weight 1, NAT without port: 0), the
    // alive inhibit server a goes to weight 0, b is gone.
    let ev = lb.set(0, 1, false);
    assert!(!ev[0].up);
    let t = lb.table();
    let s = &t.services[&key80()];
    assert_eq!(s.dests.len(), 2);
    assert_eq!(s.dests[&dk("198.51.100.9", 0)].weight, 1);
    assert_eq!(s.dests[&dk("192.0.2.10", 80)].weight, 0);
    // b comes back while the sorry server serves: quorum regained, sorry out.
    let ev = lb.set(0, 1, true);
    assert!(ev[0].up);
    assert_eq!(
        lb.weights(&key80()),
        [("192.0.2.10".into(), 1), ("192.0.2.11".into(), 1)]
    );
}

#[test]
fn sorry_server_port_follows_keepalived() {
    // No port: 0 with NAT (keepalived leaves it), the virtual port with DR; a given
    // port stays.
    let mut v = vs(vec![rs_w("192.0.2.10", 1)]);
    v.sorry_server = Some(sorry("198.51.100.9", true));
    let mut lb = Lb::new(vec![v]);
    lb.update();
    let ports = |lb: &Lb| {
        lb.table().services[&key80()]
            .dests
            .keys()
            .filter(|k| k.addr == ip("198.51.100.9"))
            .map(|k| k.port)
            .collect::<Vec<_>>()
    };
    assert_eq!(ports(&lb), [0]);
    lb.cfg.virtual_servers[0]
        .sorry_server
        .as_mut()
        .unwrap()
        .forwarding = lvs::Forwarding::Dr;
    assert_eq!(ports(&lb), [80]);
    lb.cfg.virtual_servers[0]
        .sorry_server
        .as_mut()
        .unwrap()
        .port = Some(8080);
    lb.cfg.virtual_servers[0]
        .sorry_server
        .as_mut()
        .unwrap()
        .forwarding = lvs::Forwarding::Nat;
    assert_eq!(ports(&lb), [8080]);
}

#[test]
fn sorry_server_inhibit_keeps_it_at_weight_zero() {
    let mut v = vs(vec![rs_w("192.0.2.10", 1)]);
    v.sorry_server = Some(sorry("198.51.100.9", true));
    let mut lb = Lb::new(vec![v]);
    lb.update();
    assert_eq!(
        lb.weights(&key80()),
        [("192.0.2.10".into(), 1), ("198.51.100.9".into(), 0)]
    );
    lb.set(0, 0, false);
    assert_eq!(lb.weights(&key80()), [("198.51.100.9".into(), 1)]);
}

#[test]
fn initial_quorum_down_is_reported_only_with_a_sorry_server() {
    let mut t = fixture::timing(5, 1, 1);
    t.alpha = true;
    let chk = fixture::checker(CheckerKind::Tcp, t, (ip("192.0.2.10"), Some(80)));
    let alpha_rs = fixture::real_server(ip("192.0.2.10"), 80, vec![chk]);
    let a = fixture::virtual_server(ip("192.0.2.1"), 80, vec![alpha_rs.clone()]);
    let mut b = fixture::virtual_server(ip("192.0.2.2"), 80, vec![alpha_rs]);
    b.sorry_server = Some(sorry("198.51.100.9", false));
    // alpha on a virtual server whose real server has no checker: alive anyway.
    let mut c = fixture::virtual_server(ip("192.0.2.3"), 80, vec![rs_w("192.0.2.10", 1)]);
    c.alpha = true;
    let mut lb = Lb::new(vec![a, b, c]);
    // alpha checker: no verdict yet means down.
    let ev = lb.update();
    assert_eq!(ev.len(), 2);
    assert_eq!((ev[0].vs, ev[0].up, ev[0].initial), (1, false, true));
    assert_eq!((ev[1].vs, ev[1].up, ev[1].initial), (2, true, true));
    let t = lb.table();
    assert!(t.services[&key80()].dests.is_empty());
    let k2 = ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: ip("192.0.2.2"),
        port: 80,
    };
    assert_eq!(
        t.services[&k2].dests.keys().collect::<Vec<_>>(),
        [&dk("198.51.100.9", 0)]
    );
}

#[test]
fn verdicts_follow_check_events() {
    let mut v = Verdicts::new();
    let rs = id(0, 0);
    assert!(v.apply(&Event::Initial {
        rs,
        alive: true,
        weight: 3
    }));
    assert!(!v.apply(&Event::Initial {
        rs,
        alive: true,
        weight: 3
    }));
    assert!(v.apply(&Event::RealServerChanged {
        rs,
        alive: false,
        checker: None,
        reason: Reason::Shutdown
    }));
    assert_eq!(
        v.raw(rs),
        Some(RsVerdict {
            alive: Some(false),
            weight: Some(3)
        })
    );
    assert!(!v.apply(&Event::EventsLost { count: 1 }));
    assert!(v.apply(&Event::Reloaded));
    assert_eq!(v.raw(rs), None);
}

#[test]
fn weight_change_is_one_edit() {
    let mut lb = Lb::new(vec![vs(vec![rs_w("192.0.2.10", 1), rs_w("192.0.2.11", 1)])]);
    lb.update();
    let before = lb.table();
    lb.v.set(id(0, 1), true, 9);
    lb.update();
    let after = lb.table();
    let ops = diff(&before, &after, &Owned::of(&before));
    assert_eq!(ops.len(), 1);
    match &ops[0] {
        Op::EditDest {
            service,
            dest,
            params,
        } => {
            assert_eq!(*service, key80());
            assert_eq!(*dest, dk("192.0.2.11", 80));
            assert_eq!(params.weight, 9);
        }
        other => panic!("{other:?}"),
    }
}

fn group(name: &str, entries: Vec<VsgEntry>) -> VirtualServerGroup {
    VirtualServerGroup {
        origin: Default::default(),
        name: name.into(),
        entries,
    }
}

fn range(a: &str, b: &str, port: Option<u16>) -> VsgEntry {
    VsgEntry::Range(AddrRange::new(ip(a), ip(b), port).unwrap())
}

#[test]
fn group_expands_ranges_and_fwmarks() {
    let mut v = vs(vec![fixture::real_server(
        ip("198.51.100.10"),
        8080,
        vec![],
    )]);
    v.address = VsAddress::Group("G".into());
    let mut r2 = rs_w("198.51.100.11", 1);
    r2.port = None;
    v.real_servers.push(r2);
    let mut cfg = fixture::lvs(vec![v]);
    cfg.groups.push(group(
        "G",
        vec![
            range("192.0.2.254", "192.0.3.1", Some(443)),
            range("2001:db8::1", "2001:db8::2", Some(443)), // other family: skipped
            VsgEntry::Fwmark {
                mark: 7,
                family: None,
            },
            VsgEntry::Fwmark {
                mark: 8,
                family: Some(IpFamily::Inet6),
            }, // other family: skipped
        ],
    ));
    let mut lb = Lb::with(cfg);
    lb.update();
    let t = lb.table();
    let keys: Vec<String> = t.services.keys().map(|k| k.to_string()).collect();
    assert_eq!(
        keys,
        [
            "192.0.2.254:443/Tcp",
            "192.0.2.255:443/Tcp",
            "192.0.3.0:443/Tcp",
            "192.0.3.1:443/Tcp",
            "FWM 7/Inet"
        ]
    );
    for s in t.services.values() {
        // Explicit port kept, missing port 0 (keepalived does not fill it for groups).
        let d: Vec<_> = s.dests.keys().copied().collect();
        assert_eq!(d, [dk("198.51.100.10", 8080), dk("198.51.100.11", 0)]);
        assert_eq!(s.attrs.persistence, None);
    }

    // A range without a port makes the group's services persistent (360 s).
    lb.cfg.groups[0].entries = vec![range("192.0.2.5", "192.0.2.5", None)];
    let t = lb.table();
    let (k, s) = t.services.iter().next().unwrap();
    assert_eq!(k.to_string(), "192.0.2.5:0/Tcp");
    assert_eq!(
        s.attrs.persistence,
        Some(Persistence {
            timeout_s: 360,
            prefix: 32,
            engine: None
        })
    );

    // IPv6 ranges step the whole address.
    lb.cfg.virtual_servers[0].family = IpFamily::Inet6;
    lb.cfg.groups[0].entries = vec![range("2001:db8::ffff", "2001:db8::1:1", Some(80))];
    let t = lb.table();
    let keys: Vec<String> = t.services.keys().map(|k| k.to_string()).collect();
    assert_eq!(
        keys,
        [
            "[2001:db8::ffff]:80/Tcp",
            "[2001:db8::1:0]:80/Tcp",
            "[2001:db8::1:1]:80/Tcp"
        ]
    );

    // Unknown group and oversized range are errors.
    lb.cfg.groups[0].entries = vec![range("2001:db8::", "2001:db8::1:0", Some(80))];
    assert!(matches!(
        desired(&lb.cfg, &lb.v, &lb.st, &lb.vips, &lb.opts),
        Err(LbError::RangeTooLarge { count: 65537, .. })
    ));
    lb.cfg.groups[0].name = "other".into();
    assert!(matches!(
        desired(&lb.cfg, &lb.v, &lb.st, &lb.vips, &lb.opts),
        Err(LbError::UnknownGroup { .. })
    ));
}

#[test]
fn fwmark_service_is_keyed_by_mark_and_family() {
    let mut v = vs(vec![rs_w("192.0.2.10", 2)]);
    v.address = VsAddress::Fwmark(42);
    v.protocol = None;
    v.real_servers[0].port = None;
    v.real_servers[0].forwarding = lvs::Forwarding::Dr;
    let mut lb = Lb::new(vec![v]);
    lb.update();
    let t = lb.table();
    let k = ServiceKey::Fwmark {
        family: Family::Inet,
        mark: 42,
    };
    let d = t.services[&k].dests[&dk("192.0.2.10", 0)];
    assert_eq!((d.weight, d.forwarding), (2, Forwarding::Dr));
}

#[test]
fn ha_suspend_gates_services_only_when_asked() {
    let mut v = vs(vec![rs_w("192.0.2.10", 1)]);
    v.ha_suspend = true;
    let mut lb = Lb::new(vec![v]);
    lb.update();
    // keepalived 2.2.7: only checkers are suspended.
    assert_eq!(lb.table().services.len(), 1);
    lb.opts.ha_suspend = HaSuspend::GateServices;
    assert!(lb.table().services.is_empty());
    lb.vips.insert(ip("192.0.2.1"));
    assert_eq!(lb.table().services.len(), 1);
    // Without ha_suspend, VIPs do not matter.
    lb.vips.clear();
    lb.cfg.virtual_servers[0].ha_suspend = false;
    assert_eq!(lb.table().services.len(), 1);
}

#[test]
fn persistence_is_carried() {
    let mut v = vs(vec![rs_w("192.0.2.10", 1)]);
    v.persistence = Some(lvs::Persistence {
        timeout: Duration::from_secs(600),
        granularity_prefix: Some(24),
        engine: Some("sip".into()),
    });
    let mut v6 = fixture::virtual_server(ip("2001:db8::1"), 53, vec![rs_w("2001:db8::10", 1)]);
    v6.protocol = Some(lvs::Protocol::Udp);
    v6.persistence = Some(lvs::Persistence {
        timeout: Duration::from_secs(50),
        granularity_prefix: None,
        engine: None,
    });
    let mut lb = Lb::new(vec![v, v6]);
    lb.update();
    let t = lb.table();
    assert_eq!(
        t.services[&key80()].attrs.persistence,
        Some(Persistence {
            timeout_s: 600,
            prefix: 24,
            engine: Some("sip".into())
        })
    );
    let k6 = ServiceKey::Addr {
        protocol: Protocol::Udp,
        addr: ip("2001:db8::1"),
        port: 53,
    };
    assert_eq!(
        t.services[&k6].attrs.persistence,
        Some(Persistence {
            timeout_s: 50,
            prefix: 128,
            engine: None
        })
    );
    assert_eq!(
        t.services[&k6].dests.keys().next(),
        Some(&dk("2001:db8::10", 80))
    );
}

#[test]
fn schedulers_flags_forwarding_and_thresholds_are_carried() {
    for (name, sched) in Scheduler::ALL {
        let mut v = vs(vec![rs_w("192.0.2.10", 1)]);
        v.scheduler = sched;
        v.flags = lvs::ServiceFlags {
            sched_flag_1: true,
            sched_flag_2: name.len() % 2 == 0,
            sched_flag_3: true,
            one_packet: false,
            hashed: true,
        };
        let mut lb = Lb::new(vec![v]);
        lb.update();
        let a = &lb.table().services[&key80()].attrs;
        assert_eq!(a.scheduler, name);
        assert!(a.flags.sched_flag_1 && a.flags.sched_flag_3 && a.flags.hashed);
        assert_eq!(a.flags.sched_flag_2, name.len() % 2 == 0);
    }
    let kinds = [
        (lvs::Forwarding::Nat, Forwarding::Nat),
        (lvs::Forwarding::Dr, Forwarding::Dr),
        (
            lvs::Forwarding::Tun {
                kind: lvs::TunnelType::Ipip,
                checksum: lvs::TunnelChecksum::NoCsum,
            },
            Forwarding::Tun {
                kind: TunnelType::Ipip,
                checksum: TunnelChecksum::NoCsum,
            },
        ),
        (
            lvs::Forwarding::Tun {
                kind: lvs::TunnelType::Gue { port: 6080 },
                checksum: lvs::TunnelChecksum::RemCsum,
            },
            Forwarding::Tun {
                kind: TunnelType::Gue { port: 6080 },
                checksum: TunnelChecksum::RemCsum,
            },
        ),
        (
            lvs::Forwarding::Tun {
                kind: lvs::TunnelType::Gre,
                checksum: lvs::TunnelChecksum::Csum,
            },
            Forwarding::Tun {
                kind: TunnelType::Gre,
                checksum: TunnelChecksum::Csum,
            },
        ),
    ];
    let mut real = Vec::new();
    for (i, (m, _)) in kinds.iter().enumerate() {
        let mut r = rs_w(&format!("192.0.2.{}", 10 + i), 1);
        r.forwarding = *m;
        r.upper_threshold = 100 + i as u32;
        r.lower_threshold = 10 + i as u32;
        real.push(r);
    }
    let mut lb = Lb::new(vec![vs(real)]);
    lb.update();
    let t = lb.table();
    for (i, (_, want)) in kinds.iter().enumerate() {
        let d = t.services[&key80()].dests[&dk(&format!("192.0.2.{}", 10 + i), 80)];
        assert_eq!(d.forwarding, *want);
        assert_eq!(
            (d.upper_threshold, d.lower_threshold),
            (100 + i as u32, 10 + i as u32)
        );
    }
}

#[test]
fn nat_real_server_without_port_takes_the_virtual_port() {
    let mut r = rs_w("192.0.2.10", 1);
    r.port = None;
    let mut lb = Lb::new(vec![vs(vec![r])]);
    lb.update();
    assert!(lb.table().services[&key80()]
        .dests
        .contains_key(&dk("192.0.2.10", 80)));
}

#[test]
fn virtual_server_without_servers_has_no_service() {
    let mut v = vs(vec![]);
    v.sorry_server = Some(sorry("198.51.100.9", false));
    let mut lb = Lb::new(vec![v]);
    assert!(lb.update().is_empty());
    assert!(lb.table().services.is_empty());
}

#[test]
fn zero_total_weight_never_has_quorum() {
    // Real servers of weight 0 and a sorry server: it serves for good (keepalived:
    // quorum 0, hysteresis -1).
    let mut a = vs(vec![rs_w("192.0.2.10", 0)]);
    a.sorry_server = Some(sorry("198.51.100.9", false));
    // Real servers of weight 0 and no sorry server: no event, servers at weight 0.
    let b = fixture::virtual_server(ip("192.0.2.2"), 80, vec![rs_w("192.0.2.10", 0)]);
    let mut lb = Lb::new(vec![a, b]);
    let ev = lb.update();
    assert_eq!(ev.len(), 1);
    assert_eq!((ev[0].vs, ev[0].up, ev[0].initial), (0, false, true));
    assert!(lb.update().is_empty());
    assert_eq!(lb.weights(&key80()), [("198.51.100.9".into(), 1)]);
    let k2 = ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: ip("192.0.2.2"),
        port: 80,
    };
    assert_eq!(lb.weights(&k2), [("192.0.2.10".into(), 0)]);
    assert_eq!(lb.st.quorum_up("192.0.2.2:80/Tcp"), Some(false));
}

#[test]
fn reload_keeps_quorum_state_by_name() {
    let mut v = vs(vec![rs_w("192.0.2.10", 1), rs_w("192.0.2.11", 1)]);
    v.quorum = NonZeroU32::new(2).unwrap();
    v.hysteresis = 1;
    v.sorry_server = Some(sorry("198.51.100.9", false));
    let mut lb = Lb::new(vec![v.clone()]);
    // Start with only one alive: 1 < 3, down, sorry server in.
    lb.v.set(id(0, 1), false, 1);
    let ev = lb.update();
    assert_eq!((ev[0].up, ev[0].initial), (false, true));
    // Both alive: 2 < q + h = 3, still down.
    lb.v.set(id(0, 1), true, 1);
    assert!(lb.update().is_empty());
    // Reload with the VS moved to the second position: state carried (no event),
    // still down; a new VS gets its initial evaluation.
    let other = fixture::virtual_server(ip("192.0.2.2"), 80, vec![rs_w("192.0.2.10", 1)]);
    lb.cfg = fixture::lvs(vec![other, v]);
    lb.v.apply(&Event::Reloaded);
    let ev = lb.update();
    assert_eq!(ev.len(), 1);
    assert_eq!((ev[0].vs, ev[0].up, ev[0].initial), (0, true, true));
    assert_eq!(lb.st.quorum_up("192.0.2.1:80/Tcp"), Some(false));
    // Removed VSs are forgotten.
    lb.cfg.virtual_servers.truncate(1);
    lb.update();
    assert_eq!(lb.st.quorum_up("192.0.2.1:80/Tcp"), None);
}

#[test]
fn shutdown_reports_omega_quorum_down() {
    let mut a = vs(vec![rs_w("192.0.2.10", 1)]);
    a.omega = true;
    a.quorum_down = Some(fixture::script(&["/bin/down"]));
    let b = fixture::virtual_server(ip("192.0.2.2"), 80, vec![rs_w("192.0.2.10", 1)]);
    let mut lb = Lb::new(vec![a, b]);
    lb.update();
    let ev = lb.st.shutdown(&lb.cfg, &lb.v);
    assert_eq!(ev.len(), 1);
    assert!(ev[0].stopping && !ev[0].up);
    assert_eq!(ev[0].script.as_ref().unwrap().argv, ["/bin/down"]);
}

#[test]
fn inputs_and_tables_round_trip_through_json() {
    let mut v = vs(vec![rs_w("192.0.2.10", 1), rs_w("2001:db8::10", 1)]);
    v.real_servers[1].forwarding = lvs::Forwarding::Tun {
        kind: lvs::TunnelType::Gue { port: 5555 },
        checksum: lvs::TunnelChecksum::Csum,
    };
    let mut lb = Lb::new(vec![v]);
    lb.v.set(id(0, 0), true, 4);
    lb.update();
    let t = lb.table();
    let back: Table = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
    assert_eq!(back, t);
    let vb: Verdicts = serde_json::from_str(&serde_json::to_string(&lb.v).unwrap()).unwrap();
    assert_eq!(vb, lb.v);
    let sb: LbState = serde_json::from_str(&serde_json::to_string(&lb.st).unwrap()).unwrap();
    assert_eq!(sb, lb.st);
    let ops = diff(&Table::new(), &t, &Owned::new());
    let ob: Vec<Op> = serde_json::from_str(&serde_json::to_string(&ops).unwrap()).unwrap();
    assert_eq!(ob, ops);
    let owned = Owned::of(&t);
    let own_b: Owned = serde_json::from_str(&serde_json::to_string(&owned).unwrap()).unwrap();
    assert_eq!(own_b, owned);
}

mod random {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Random verdict sequences over one virtual server: the quorum only moves
        /// across its thresholds, one event per move, and the table always matches the
        /// state (sorry server at weight 1 exactly without quorum; real servers at
        /// their weight, 0 or absent).
        #[test]
        fn quorum_moves_only_across_thresholds(
            weights in prop::collection::vec(0u32..4, 1..6),
            quorum in 1u32..8,
            hysteresis in 0u32..4,
            with_sorry in any::<bool>(),
            inhibit in any::<bool>(),
            steps in prop::collection::vec((0usize..6, any::<bool>(), 0u32..4), 1..40),
        ) {
            let real: Vec<_> = weights
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let mut r = rs_w(&format!("192.0.2.{}", 10 + i), *w);
                    r.inhibit_on_failure = inhibit;
                    r
                })
                .collect();
            let mut v = vs(real);
            v.quorum = NonZeroU32::new(quorum).unwrap();
            v.hysteresis = hysteresis;
            if with_sorry {
                v.sorry_server = Some(sorry("198.51.100.9", false));
            }
            let (q, h) = effective_quorum(&v);
            let n = weights.len();
            let mut lb = Lb::new(vec![v]);
            lb.update();
            let mut alive = vec![true; n];
            let mut wts = weights.clone();
            let mut up = lb.st.quorum_up("192.0.2.1:80/Tcp").unwrap();
            for (i, a, w) in steps {
                let i = i % n;
                alive[i] = a;
                wts[i] = w;
                lb.v.set(id(0, i as u32), a, w);
                let sum: u64 = (0..n).filter(|&j| alive[j]).map(|j| u64::from(wts[j])).sum();
                let ev = lb.update();
                let now = lb.st.quorum_up("192.0.2.1:80/Tcp").unwrap();
                if now != up {
                    prop_assert_eq!(ev.len(), 1);
                    prop_assert_eq!(ev[0].up, now);
                    prop_assert_eq!(ev[0].weight_sum, sum);
                    if now {
                        prop_assert!(sum >= q + h);
                    } else {
                        prop_assert!(sum == 0 || sum + h < q);
                    }
                } else {
                    prop_assert!(ev.is_empty());
                }
                prop_assert!(lb.update().is_empty());
                up = now;
                let t = lb.table();
                let s = &t.services[&key80()];
                let sorry_on = with_sorry && !up;
                prop_assert_eq!(
                    s.dests.get(&dk("198.51.100.9", 0)).map(|d| d.weight),
                    sorry_on.then_some(1)
                );
                for j in 0..n {
                    let got = s.dests.get(&dk(&format!("192.0.2.{}", 10 + j), 80)).map(|d| d.weight);
                    let want = if alive[j] && !sorry_on {
                        Some(wts[j])
                    } else if inhibit {
                        Some(0)
                    } else {
                        None
                    };
                    prop_assert_eq!(got, want);
                }
            }
        }
    }
}

#[test]
fn table_lists_like_ipvsadm() {
    let mut v = vs(vec![rs_w("192.0.2.10", 3), rs_w("192.0.2.11", 1)]);
    v.scheduler = Scheduler::Sh;
    v.flags.sched_flag_1 = true;
    v.persistence = Some(lvs::Persistence {
        timeout: Duration::from_secs(600),
        granularity_prefix: Some(24),
        engine: None,
    });
    v.real_servers[1].forwarding = lvs::Forwarding::Tun {
        kind: lvs::TunnelType::Gue { port: 6080 },
        checksum: lvs::TunnelChecksum::Csum,
    };
    v.real_servers[1].upper_threshold = 50;
    let mut lb = Lb::new(vec![v]);
    lb.update();
    assert_eq!(
        lb.table().to_string(),
        "192.0.2.1:80/Tcp sh flag-1 persistent 600 /24\n  -> 192.0.2.10:80 Masq 3\n  -> 192.0.2.11:80 Tunnel(gue:6080,Csum) 1 u50 l0\n"
    );
}

#[test]
fn large_configuration() {
    // 5000 virtual servers with 4 real servers each.
    let vss: Vec<_> = (0..5000u32)
        .map(|i| {
            let a = IpAddr::from([203, 0, 113 + (i / 250) as u8 % 2, (i % 250) as u8 + 1]);
            let port = 1000 + (i / 500) as u16;
            let real = (0..4)
                .map(|j| rs_w(&format!("198.51.100.{}", j + 1), 1 + j))
                .collect();
            fixture::virtual_server(a, port, real)
        })
        .collect();
    let mut lb = Lb::new(vss);
    let start = std::time::Instant::now();
    assert_eq!(lb.update().len(), 5000);
    let t = lb.table();
    let ops = diff(&Table::new(), &t, &Owned::new());
    eprintln!("5000 VS: update + desired + diff in {:?}", start.elapsed());
    assert_eq!(t.services.len(), 5000);
    assert_eq!(t.dest_count(), 20000);
    assert_eq!(ops.len(), 25000);
    assert!(diff(&t, &lb.table(), &Owned::of(&t)).is_empty());
}
