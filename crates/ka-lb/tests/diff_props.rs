//! Properties of `diff`: applying it to the observed table yields the desired one on
//! the services it manages, every step is valid, nothing foreign is touched, it is
//! minimal (one operation per changed entry) and ordered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;

use ka_lb::*;
use proptest::prelude::*;

fn addr(i: u8) -> IpAddr {
    if i == 0 {
        "2001:db8::1".parse().unwrap()
    } else {
        IpAddr::from([192, 0, 2, i])
    }
}

fn service_key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        (0u8..3, 0u8..4, prop::sample::select(vec![0u16, 80, 443])).prop_map(|(p, a, port)| {
            ServiceKey::Addr {
                protocol: [Protocol::Tcp, Protocol::Udp, Protocol::Sctp][p as usize],
                addr: addr(a),
                port,
            }
        }),
        (any::<bool>(), 1u32..4).prop_map(|(v6, mark)| ServiceKey::Fwmark {
            family: if v6 { Family::Inet6 } else { Family::Inet },
            mark,
        }),
    ]
}

fn attrs() -> impl Strategy<Value = ServiceAttrs> {
    (
        prop::sample::select(vec!["rr", "wlc", "mh"]),
        any::<[bool; 5]>(),
        prop::option::of((1u32..3, prop::sample::select(vec![24u8, 32]))),
    )
        .prop_map(|(s, f, p)| ServiceAttrs {
            scheduler: s.to_string(),
            flags: ServiceFlags {
                sched_flag_1: f[0],
                sched_flag_2: f[1],
                sched_flag_3: f[2],
                one_packet: f[3],
                hashed: f[4],
            },
            persistence: p.map(|(t, prefix)| Persistence {
                timeout_s: t * 300,
                prefix,
                engine: None,
            }),
        })
}

fn dest_key() -> impl Strategy<Value = DestKey> {
    (1u8..6, prop::sample::select(vec![0u16, 80])).prop_map(|(a, port)| DestKey {
        addr: IpAddr::from([198, 51, 100, a]),
        port,
    })
}

fn dest() -> impl Strategy<Value = Dest> {
    (0u32..4, 0u8..4, 0u32..2).prop_map(|(weight, f, t)| Dest {
        weight,
        forwarding: match f {
            0 => Forwarding::Nat,
            1 => Forwarding::Dr,
            2 => Forwarding::Tun {
                kind: TunnelType::Ipip,
                checksum: TunnelChecksum::NoCsum,
            },
            _ => Forwarding::Tun {
                kind: TunnelType::Gue { port: 6080 },
                checksum: TunnelChecksum::Csum,
            },
        },
        upper_threshold: t * 10,
        lower_threshold: t,
    })
}

fn table() -> impl Strategy<Value = Table> {
    prop::collection::btree_map(
        service_key(),
        (
            attrs(),
            prop::collection::btree_map(dest_key(), dest(), 0..5),
        ),
        0..6,
    )
    .prop_map(|m| Table {
        services: m
            .into_iter()
            .map(|(k, (attrs, dests))| (k, Service { attrs, dests }))
            .collect(),
    })
}

/// The number of operations a minimal diff needs.
fn expected_len(a: &Table, b: &Table, owned: &Owned) -> usize {
    let mut n = 0;
    for (k, want) in &b.services {
        match a.services.get(k) {
            None => n += 1 + want.dests.len(),
            Some(have) => {
                n += usize::from(have.attrs != want.attrs);
                n += want
                    .dests
                    .iter()
                    .filter(|(d, p)| have.dests.get(d) != Some(p))
                    .count();
                n += have
                    .dests
                    .keys()
                    .filter(|d| !want.dests.contains_key(d))
                    .count();
            }
        }
    }
    for (k, have) in &a.services {
        if !b.services.contains_key(k) && owned.contains(k) {
            n += 1 + have.dests.len();
        }
    }
    n
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn applying_the_diff_reaches_the_desired_table(
        a in table(),
        b in table(),
        own_mask in any::<u64>(),
    ) {
        // Own a random subset of the observed services.
        let owned = Owned(
            a.services
                .keys()
                .enumerate()
                .filter(|(i, _)| own_mask & (1 << i) != 0)
                .map(|(_, k)| *k)
                .collect(),
        );
        let ops = diff(&a, &b, &owned);
        prop_assert_eq!(ops.len(), expected_len(&a, &b, &owned));

        let mut t = a.clone();
        for op in &ops {
            // Every step is valid for a kernel-like data plane.
            prop_assert!(t.apply(op).is_ok(), "{:?} failed on {:?}", op, t);
            // A service that has destinations before and after never runs empty.
            if let Op::DelDest { service, .. } = op {
                let before = a.services.get(service).is_some_and(|s| !s.dests.is_empty());
                let after = b.services.get(service).is_some_and(|s| !s.dests.is_empty());
                if before && after {
                    prop_assert!(!t.services[service].dests.is_empty());
                }
            }
        }

        // Managed services equal the desired ones; foreign ones are untouched;
        // owned ones that are no longer desired are gone.
        let mut expect: BTreeMap<ServiceKey, Service> = b.services.clone();
        for (k, s) in &a.services {
            if !b.services.contains_key(k) && !owned.contains(k) {
                expect.insert(*k, s.clone());
            }
        }
        prop_assert_eq!(&t.services, &expect);

        // Idempotent: nothing left to do, and a table diffed with itself is empty.
        prop_assert!(diff(&t, &b, &owned).is_empty());
        prop_assert!(diff(&b, &b, &owned).is_empty());
        prop_assert!(diff(&a, &a, &Owned::of(&a)).is_empty());

        // Ownership bookkeeping: every desired service is owned afterwards, deleted
        // ones are not, foreign ones stay foreign; a second round then deletes
        // exactly the owned services when nothing is desired.
        let mut own2 = owned.clone();
        own2.update(&b, &ops);
        for k in t.services.keys() {
            prop_assert_eq!(own2.contains(k), b.services.contains_key(k) || owned.contains(k));
        }
        for k in own2.0.iter() {
            prop_assert!(t.services.contains_key(k));
        }
        let mut t2 = t.clone();
        for op in diff(&t, &Table::new(), &own2) {
            prop_assert!(t2.apply(&op).is_ok());
        }
        prop_assert!(t2.services.keys().all(|k| !own2.contains(k)));
    }

    #[test]
    fn empty_desired_removes_exactly_the_owned_services(a in table()) {
        let ops = diff(&a, &Table::new(), &Owned::of(&a));
        let mut t = a.clone();
        for op in &ops {
            prop_assert!(t.apply(op).is_ok());
        }
        prop_assert!(t.services.is_empty());
        // Nothing owned: nothing touched.
        prop_assert!(diff(&a, &Table::new(), &Owned::new()).is_empty());
    }
}

fn key() -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: "192.0.2.1".parse().unwrap(),
        port: 80,
    }
}

fn d(weight: u32) -> Dest {
    Dest {
        weight,
        forwarding: Forwarding::Nat,
        upper_threshold: 0,
        lower_threshold: 0,
    }
}

fn dk(a: &str) -> DestKey {
    DestKey {
        addr: a.parse().unwrap(),
        port: 80,
    }
}

fn one(attrs: ServiceAttrs, dests: &[(&str, u32)]) -> Table {
    let mut t = Table::new();
    t.services.insert(
        key(),
        Service {
            attrs,
            dests: dests.iter().map(|(a, w)| (dk(a), d(*w))).collect(),
        },
    );
    t
}

fn wlc() -> ServiceAttrs {
    ServiceAttrs {
        scheduler: "wlc".into(),
        flags: ServiceFlags::default(),
        persistence: None,
    }
}

#[test]
fn new_service_is_created_before_its_dests_and_deleted_after_them() {
    let t = one(wlc(), &[("198.51.100.1", 1), ("198.51.100.2", 2)]);
    let ops = diff(&Table::new(), &t, &Owned::new());
    assert!(matches!(ops[0], Op::AddService { .. }));
    assert!(ops[1..].iter().all(|o| matches!(o, Op::AddDest { .. })));
    let ops = diff(&t, &Table::new(), &Owned::of(&t));
    assert_eq!(ops.len(), 3);
    assert!(ops[..2].iter().all(|o| matches!(o, Op::DelDest { .. })));
    assert_eq!(ops[2], Op::DelService { key: key() });
}

#[test]
fn sorry_swap_adds_before_it_removes() {
    let a = one(wlc(), &[("198.51.100.1", 1), ("198.51.100.2", 1)]);
    let b = one(wlc(), &[("198.51.100.9", 1)]);
    let ops = diff(&a, &b, &Owned::of(&a));
    assert_eq!(
        ops,
        [
            Op::AddDest {
                service: key(),
                dest: dk("198.51.100.9"),
                params: d(1)
            },
            Op::DelDest {
                service: key(),
                dest: dk("198.51.100.1")
            },
            Op::DelDest {
                service: key(),
                dest: dk("198.51.100.2")
            },
        ]
    );
}

#[test]
fn scheduler_change_is_an_in_place_edit() {
    let a = one(wlc(), &[("198.51.100.1", 1)]);
    let mut rr = wlc();
    rr.scheduler = "rr".into();
    let b = one(rr.clone(), &[("198.51.100.1", 1)]);
    assert_eq!(
        diff(&a, &b, &Owned::new()),
        [Op::EditService {
            key: key(),
            attrs: rr
        }]
    );
}
