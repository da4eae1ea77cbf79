//! Scenario generation: everything random about a run is drawn here, from the seed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ka_wire::vrrp::Version;

use crate::node::{InstSpec, NodeSpec};
use crate::rng::Rng;

/// Nanoseconds per centisecond.
pub const CS_NS: u64 = 10_000_000;
/// Largest clock drift drawn, in parts per million (either sign).
pub const MAX_DRIFT_PPM: i64 = 500;

/// Delay model of one directed link on a healthy LAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkSpec {
    /// Fixed part of the one-way delay.
    pub base_ns: u64,
    /// Uniform extra delay in `0..=jitter_ns`.
    pub jitter_ns: u64,
}

/// A fault of the network, active between its start and end events.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NetFault {
    /// Nodes whose bit is set in `side` cannot talk to the others (both directions).
    Partition {
        /// Bit i set: node i is on side A.
        side: u32,
    },
    /// Packets from `from` to `to` are dropped (one way).
    OneWay {
        /// Sender.
        from: usize,
        /// Receiver.
        to: usize,
    },
    /// Random loss on the matching links.
    Loss {
        /// Only packets sent by this node (None: any).
        from: Option<usize>,
        /// Only packets received by this node (None: any).
        to: Option<usize>,
        /// Loss probability in 1/1000.
        permille: u32,
    },
    /// Extra delay and jitter on every link (reorders packets).
    Delay {
        /// Added delay.
        extra_ns: u64,
        /// Added uniform jitter.
        jitter_ns: u64,
    },
    /// Every packet is duplicated with this probability (the copy arrives within the
    /// healthy delay bound). Not a disturbance: a correct router ignores duplicates.
    Dup {
        /// Probability in 1/1000.
        permille: u32,
    },
}

impl NetFault {
    /// True when this fault makes the network unhealthy (loss, partition, late delivery).
    pub fn is_disturbance(&self) -> bool {
        !matches!(self, NetFault::Dup { .. })
    }
}

/// One scheduled fault event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FaultEvent {
    /// The process dies (kill -9): no more output, no priority-0 advert.
    Crash(usize),
    /// Graceful stop: `shutdown()` then the process is gone.
    Shutdown(usize),
    /// The process is re-created from its configuration and started.
    Restart(usize),
    /// The node's interface goes down or up.
    Link(usize, bool),
    /// The node's tracked script fails (false) or recovers (true).
    Track(usize, bool),
    /// A network fault starts (`id` pairs it with its end).
    NetStart(u32, NetFault),
    /// The network fault `id` ends.
    NetEnd(u32),
}

/// A timed fault event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fault {
    /// Simulated time in nanoseconds.
    pub at_ns: u64,
    /// What happens.
    pub event: FaultEvent,
}

/// A complete, reproducible description of one run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scenario {
    /// The seed it was drawn from.
    pub seed: u64,
    /// The routers.
    pub nodes: Vec<NodeSpec>,
    /// VRIDs configured on every node.
    pub vrids: Vec<u8>,
    /// VRRP version of every instance.
    pub version: Version,
    /// The largest advertisement interval, in centiseconds (every node's, unless
    /// `mixed_intervals`).
    pub adver_int_cs: u16,
    /// v3 only: nodes advertise at different intervals (a factor 10 apart), so backups
    /// must adopt the master's (RFC 5798 section 6.4.2, Master_Adver_Interval).
    pub mixed_intervals: bool,
    /// IPv6 instead of IPv4.
    pub ipv6: bool,
    /// Unicast peers instead of multicast.
    pub unicast: bool,
    /// `links[from][to]`.
    pub links: Vec<Vec<LinkSpec>>,
    /// When each node is started.
    pub start_ns: Vec<u64>,
    /// Fault schedule, sorted by time.
    pub faults: Vec<Fault>,
    /// Simulated length of the run.
    pub duration_ns: u64,
    /// Seed of the network's own random stream (loss, jitter).
    pub net_seed: u64,
}

impl Scenario {
    /// Advertisement interval in nanoseconds.
    pub fn adv_ns(&self) -> u64 {
        u64::from(self.adver_int_cs) * CS_NS
    }

    /// The largest one-way delay of a healthy link.
    pub fn max_delay_ns(&self) -> u64 {
        self.links
            .iter()
            .flatten()
            .map(|l| l.base_ns + l.jitter_ns)
            .max()
            .unwrap_or(0)
    }

    /// Node i's own advertisement interval in nanoseconds.
    pub fn node_adv_ns(&self, i: usize) -> u64 {
        self.nodes
            .get(i)
            .and_then(|n| n.instances.first())
            .map_or(self.adv_ns(), |x| u64::from(x.adver_int_cs) * CS_NS)
    }

    /// The smallest advertisement interval of any node.
    pub fn min_adv_ns(&self) -> u64 {
        (0..self.nodes.len())
            .map(|i| self.node_adv_ns(i))
            .min()
            .unwrap_or(self.adv_ns())
    }

    /// Skew_Time for `priority` with Master_Adver_Interval `adv_ns`, in nanoseconds
    /// (RFC 5798 section 6.1; RFC 3768 section 6.1: (256 - Priority) / 256 seconds).
    pub fn skew_with(&self, priority: u8, adv_ns: u64) -> u64 {
        let base = match self.version {
            Version::V2 => 100 * CS_NS,
            Version::V3 => adv_ns,
        };
        (256 - u64::from(priority)) * base / 256
    }

    /// Master_Down_Interval: 3 * Master_Adver_Interval + Skew_Time.
    pub fn mdi_with(&self, priority: u8, adv_ns: u64) -> u64 {
        3 * adv_ns + self.skew_with(priority, adv_ns)
    }

    /// Skew_Time at the largest interval.
    pub fn skew_ns(&self, priority: u8) -> u64 {
        self.skew_with(priority, self.adv_ns())
    }

    /// Master_Down_Interval at the largest interval.
    pub fn mdi_ns(&self, priority: u8) -> u64 {
        self.mdi_with(priority, self.adv_ns())
    }

    /// One-line summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "seed {} : {} nodes, {:?}, {}, {}, advert_int {} cs{}, vrids {:?}{}, {} fault events, {:.3} s",
            self.seed,
            self.nodes.len(),
            self.version,
            if self.ipv6 { "IPv6" } else { "IPv4" },
            if self.unicast { "unicast" } else { "multicast" },
            self.adver_int_cs,
            if self.mixed_intervals { " (mixed)" } else { "" },
            self.vrids,
            if self.nodes.first().is_some_and(|n| n.sync_group) { " (sync group)" } else { "" },
            self.faults.len(),
            self.duration_ns as f64 / 1e9,
        );
        for n in &self.nodes {
            let inst: Vec<String> = n
                .instances
                .iter()
                .map(|i| {
                    format!(
                        "vrid {} prio {}{}{}{}",
                        i.vrid,
                        i.priority,
                        if i.preempt { "" } else { " nopreempt" },
                        if i.init_master { " state MASTER" } else { "" },
                        match i.track_weight {
                            None => String::new(),
                            Some(w) => format!(" track weight {w}"),
                        }
                    ) + if i.lower_prio_no_advert {
                        " lower_prio_no_advert"
                    } else {
                        ""
                    } + if i.higher_prio_send_advert {
                        " higher_prio_send_advert"
                    } else {
                        ""
                    } + if i.password.is_some() {
                        " auth PASS"
                    } else {
                        ""
                    }
                })
                .collect();
            s.push_str(&format!(
                "\n  n{} {} drift {} ppm, advert_int {} cs: {}",
                n.id,
                n.ip,
                n.drift_ppm,
                n.instances.first().map_or(0, |x| x.adver_int_cs),
                inst.join(", ")
            ));
        }
        s
    }

    /// Draws a scenario from `seed`. `adv_units` is the run length in advertisement intervals.
    pub fn generate(seed: u64, adv_units: u64) -> Self {
        let mut rng = Rng::new(seed);
        let n = rng.range(2, 5) as usize;
        let version = if rng.chance(0.3) {
            Version::V2
        } else {
            Version::V3
        };
        let base_cs: u16 = match version {
            Version::V2 => 100,
            Version::V3 => *rng.pick(&[100u16, 10, 1]).unwrap_or(&100),
        };
        let mixed_intervals = version == Version::V3 && rng.chance(0.25);
        let node_cs: Vec<u16> = (0..n)
            .map(|_| {
                if !mixed_intervals {
                    base_cs
                } else if base_cs == 1 {
                    *rng.pick(&[1u16, 10]).unwrap_or(&1)
                } else {
                    *rng.pick(&[base_cs, base_cs / 10]).unwrap_or(&base_cs)
                }
            })
            .collect();
        let adver_int_cs = node_cs.iter().copied().max().unwrap_or(base_cs);
        let ipv6 = version == Version::V3 && rng.chance(0.3);
        let unicast = rng.chance(0.3);
        let nvrid = if rng.chance(0.3) { 2 } else { 1 };
        let password = (version == Version::V2 && rng.chance(0.3)).then_some(*b"s3cret\0\0");
        let mut vrids: Vec<u8> = Vec::new();
        while vrids.len() < nvrid {
            let v = rng.range(1, 255) as u8;
            if !vrids.contains(&v) {
                vrids.push(v);
            }
        }
        let ip_of = |i: usize| -> IpAddr {
            let last = 10 + i as u8;
            if ipv6 {
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(last)))
            } else {
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
            }
        };
        let sync_group = vrids.len() == 2 && rng.chance(0.4);
        // Priorities per VRID: ties on purpose (IP tie-break), at most one owner (255).
        let mut prios: Vec<Vec<u8>> = vec![Vec::new(); n];
        for _ in &vrids {
            let mut owner_used = false;
            let mut drawn: Vec<u8> = Vec::new();
            for slot in prios.iter_mut() {
                let p = if !drawn.is_empty() && rng.chance(0.15) {
                    *rng.pick(&drawn).unwrap_or(&100)
                } else if !owner_used && rng.chance(0.05) {
                    owner_used = true;
                    255
                } else {
                    rng.range(1, 254) as u8
                };
                let p = if p == 255 && owner_used && drawn.contains(&255) {
                    254
                } else {
                    p
                };
                drawn.push(p);
                slot.push(p);
            }
        }
        let mut nodes = Vec::new();
        for (i, node_prios) in prios.iter().enumerate() {
            let ip = ip_of(i);
            let adver_int_cs = node_cs.get(i).copied().unwrap_or(adver_int_cs);
            let tracked = rng.chance(0.4);
            let peers: Vec<IpAddr> = if unicast {
                (0..n).filter(|j| *j != i).map(ip_of).collect()
            } else {
                Vec::new()
            };
            let mut instances: Vec<InstSpec> = vrids
                .iter()
                .zip(node_prios)
                .map(|(&vrid, &priority)| {
                    let preempt = rng.chance(0.8);
                    let init_master = rng.chance(0.2);
                    let w = rng.unit();
                    let weight = if !tracked {
                        None
                    } else if w < 0.35 {
                        Some(0)
                    } else if w < 0.8 {
                        Some(-(rng.range(10, 100) as i32))
                    } else {
                        Some(rng.range(10, 50) as i32)
                    };
                    let knobs = (rng.chance(0.2), rng.chance(0.2));
                    (vrid, priority, preempt, init_master, weight, knobs)
                })
                .map(
                    |(vrid, priority, preempt, init_master, track_weight, knobs)| InstSpec {
                        vrid,
                        priority,
                        // keepalived silently forces preempt for `state MASTER` and owners.
                        preempt: preempt || init_master || priority == 255,
                        init_master,
                        adver_int_cs,
                        version,
                        vips: vec![if ipv6 {
                            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, u16::from(vrid)))
                        } else {
                            IpAddr::V4(Ipv4Addr::new(203, 0, 113, vrid))
                        }],
                        unicast_peers: peers.clone(),
                        // keepalived sets the weight of an owner's tracks to 0 (unweighted).
                        track_weight: if priority == 255 {
                            track_weight.map(|_| 0)
                        } else {
                            track_weight
                        },
                        lower_prio_no_advert: knobs.0,
                        // keepalived's higher_prio_send_advert makes a yielding master send one
                        // more advert at its own interval; with mixed intervals backups adopt
                        // it, time out early and produce repeated transient masters (seeds
                        // 19893, 32794, 37155, 41136 before this rule). Not combined.
                        higher_prio_send_advert: knobs.1 && !mixed_intervals,
                        password,
                    },
                )
                .collect();
            if sync_group {
                // Members of a vrrp_sync_group: the same election parameters in both
                // instances (a consistent configuration), and keepalived makes group
                // members' tracks unweighted.
                if let [a, b] = instances.as_mut_slice() {
                    a.track_weight = a.track_weight.map(|_| 0);
                    *b = InstSpec {
                        vrid: b.vrid,
                        vips: b.vips.clone(),
                        ..a.clone()
                    };
                }
            }
            nodes.push(NodeSpec {
                id: i,
                ip,
                ifname: format!("eth{i}"),
                drift_ppm: rng.range(0, 2 * MAX_DRIFT_PPM as u64) as i64 - MAX_DRIFT_PPM,
                clock_offset_ns: rng.range(0, 1_000_000_000_000),
                instances,
                sync_group,
            });
        }
        let links = (0..n)
            .map(|_| {
                (0..n)
                    .map(|_| LinkSpec {
                        base_ns: rng.range(20_000, 300_000),
                        jitter_ns: rng.range(0, 200_000),
                    })
                    .collect()
            })
            .collect();
        let adv = u64::from(adver_int_cs) * CS_NS;
        let start_ns = (0..n).map(|_| rng.range(0, 2 * adv)).collect();
        let duration_ns = adv_units.max(30) * adv;
        let faults = gen_faults(&mut rng, &nodes, adv, duration_ns);
        let net_seed = rng.next_u64();
        Self {
            seed,
            nodes,
            vrids,
            version,
            adver_int_cs,
            mixed_intervals,
            ipv6,
            unicast,
            links,
            start_ns,
            faults,
            duration_ns,
            net_seed,
        }
    }
}

fn gen_faults(rng: &mut Rng, nodes: &[NodeSpec], adv: u64, duration: u64) -> Vec<Fault> {
    let n = nodes.len();
    let tracked: Vec<usize> = nodes
        .iter()
        .filter(|x| x.instances.iter().any(|i| i.track_weight.is_some()))
        .map(|x| x.id)
        .collect();
    let mut out = Vec::new();
    // Faults end 20 intervals before the end, so every run finishes with a quiet period.
    let last = duration.saturating_sub(20 * adv);
    let mut t = rng.range(3 * adv, 12 * adv);
    let mut busy_until = vec![0u64; n]; // a node fault is not stacked on another
    let mut id = 0u32;
    while t < last {
        let d = if rng.chance(0.3) {
            rng.range(adv / 20, adv)
        } else {
            rng.range(adv, 15 * adv)
        };
        let end = (t + d).min(last);
        let kind = rng.range(0, 10);
        let free: Vec<usize> = (0..n).filter(|i| busy_until[*i] <= t).collect();
        let node = rng.pick(&free).copied();
        match (kind, node) {
            (0 | 1, Some(i)) => {
                out.push(Fault {
                    at_ns: t,
                    event: FaultEvent::Crash(i),
                });
                if rng.chance(0.9) {
                    out.push(Fault {
                        at_ns: end,
                        event: FaultEvent::Restart(i),
                    });
                    busy_until[i] = end + 1;
                } else {
                    busy_until[i] = u64::MAX;
                }
            }
            (2, Some(i)) => {
                out.push(Fault {
                    at_ns: t,
                    event: FaultEvent::Shutdown(i),
                });
                out.push(Fault {
                    at_ns: end,
                    event: FaultEvent::Restart(i),
                });
                busy_until[i] = end + 1;
            }
            (3, Some(i)) => {
                // A link flap, sometimes a burst of short ones.
                let flaps = if rng.chance(0.3) { rng.range(2, 5) } else { 1 };
                let mut s = t;
                for _ in 0..flaps {
                    let e = (s + rng.range(adv / 50, d.max(adv / 50))).min(last);
                    out.push(Fault {
                        at_ns: s,
                        event: FaultEvent::Link(i, false),
                    });
                    out.push(Fault {
                        at_ns: e,
                        event: FaultEvent::Link(i, true),
                    });
                    s = e + rng.range(adv / 100, adv);
                    if s >= last {
                        break;
                    }
                }
                busy_until[i] = s + 1;
            }
            (9, _) if !tracked.is_empty() => {
                let free_tracked: Vec<usize> = tracked
                    .iter()
                    .copied()
                    .filter(|i| busy_until[*i] <= t)
                    .collect();
                if let Some(i) = rng.pick(&free_tracked).copied() {
                    out.push(Fault {
                        at_ns: t,
                        event: FaultEvent::Track(i, false),
                    });
                    out.push(Fault {
                        at_ns: end,
                        event: FaultEvent::Track(i, true),
                    });
                    busy_until[i] = end + 1;
                }
            }
            (4, _) if n >= 2 => {
                let mut side = 0u32;
                while side == 0 || side == (1u32 << n) - 1 {
                    side = rng.range(1, (1u64 << n) - 2) as u32;
                }
                net(&mut out, &mut id, t, end, NetFault::Partition { side });
            }
            (5, _) => {
                let from = rng.range(0, n as u64 - 1) as usize;
                let to = (from + rng.range(1, n as u64 - 1) as usize) % n;
                net(&mut out, &mut id, t, end, NetFault::OneWay { from, to });
            }
            (6, _) => {
                let from = if rng.chance(0.5) {
                    Some(rng.range(0, n as u64 - 1) as usize)
                } else {
                    None
                };
                let to = if from.is_none() && rng.chance(0.5) {
                    Some(rng.range(0, n as u64 - 1) as usize)
                } else {
                    None
                };
                let permille = *rng.pick(&[100u32, 300, 500, 800, 1000]).unwrap_or(&500);
                net(
                    &mut out,
                    &mut id,
                    t,
                    end,
                    NetFault::Loss { from, to, permille },
                );
            }
            (7, _) => {
                let extra_ns = rng.range(0, 3 * adv);
                let jitter_ns = rng.range(adv / 10, 3 * adv);
                net(
                    &mut out,
                    &mut id,
                    t,
                    end,
                    NetFault::Delay {
                        extra_ns,
                        jitter_ns,
                    },
                );
            }
            _ => {
                let permille = rng.range(100, 1000) as u32;
                net(&mut out, &mut id, t, end, NetFault::Dup { permille });
            }
        }
        t = if rng.chance(0.3) {
            t + rng.range(0, d)
        } else {
            end + rng.range(0, 12 * adv)
        };
    }
    out.sort_by_key(|f| f.at_ns);
    out
}

fn net(out: &mut Vec<Fault>, id: &mut u32, start: u64, end: u64, f: NetFault) {
    out.push(Fault {
        at_ns: start,
        event: FaultEvent::NetStart(*id, f),
    });
    out.push(Fault {
        at_ns: end,
        event: FaultEvent::NetEnd(*id),
    });
    *id += 1;
}
