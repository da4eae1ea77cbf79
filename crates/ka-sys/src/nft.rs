//! The nftables data plane, for hosts without IPVS (such as containers and these test
//! machines): NAT-mode virtual services as one table of ours, `inet keepalived_rs`,
//! replaced atomically by one `nft -f -` transaction on every change.
//!
//! # What a service becomes
//! ```text
//! table inet keepalived_rs {
//!   counter s0d0 { }  counter s0_in { }  counter s0_out { }  ...   # named counters
//!   map port4 { type ipv4_addr . inet_proto . inet_service : verdict
//!               elements = { 192.0.2.100 . tcp . 80 : goto s0, ... } }   # one element a service
//!   chain prerouting { type nat hook prerouting priority dstnat; policy accept;
//!     meta mark . meta nfproto vmap @fwmark                # the maps that have elements,
//!     ip daddr . meta l4proto . th dport vmap @port4       # in IPVS's order: fwmark, then
//!     ip daddr . meta l4proto vmap @any4 }                 # address+port, then port 0
//!   chain output { type nat hook output priority -100; policy accept; (same rules) }
//!   chain s0 { numgen inc mod 4 vmap { 0 : goto s0d0, 1 : goto s0d1, 2 : goto s0d0, ... } }
//!   chain s0d0 { meta l4proto tcp counter name "s0d0" dnat ip to 198.51.100.10:80 }
//!   chain stats_postrouting { type filter hook postrouting priority 0; policy accept;
//!     ct original ip daddr vmap { 192.0.2.100 : goto t0 } }    # stats_input: -> t0r
//!   chain t0 { meta l4proto tcp ct original proto-dst 80 goto c0 }   # a chain an address
//!   chain c0 { ct direction original counter name "s0_in"; ct direction reply counter name "s0_out" }
//! }
//! ```
//! A packet costs a few map lookups whatever the number of services (a rule per service
//! made 2000 services take seconds to load and every packet walk thousands of rules).
//! * Weights become slots of the map (divided by their greatest common divisor, scaled to
//!   at most [`MAX_SLOTS`] slots, every live destination keeps at least one), interleaved
//!   like a smooth weighted round robin. Weight 0 takes no new connection, as in IPVS
//!   (its chain and counters stay, no map slot leads to it);
//!   connections already made keep flowing (conntrack holds their translation), also
//!   across a table replacement.
//! * Schedulers: `rr` (weights ignored, as IPVS) and `wrr` use `numgen inc`; `sh`, `mh`
//!   hash the client address (`sh-port`/`mh-port`: address and port), `dh` the virtual
//!   address, with `jhash`; `lc`, `wlc`, `sed`, `nq`, `lblc`, `lblcr`, `twos` have no
//!   connection counts here and are approximated by a weighted `numgen random`; `fo` and
//!   `ovf` send everything to the destination with the highest weight.
//! * Persistence: the client address masked to `persistence_granularity` is hashed
//!   (`jhash`), so a client keeps its destination while the set of destinations is
//!   unchanged; there is no timeout (nftables has no per-client affinity table here).
//! * fwmark services match `meta mark` and the family; a destination without a port
//!   keeps the client's destination port.
//! * Not possible with nftables NAT, refused per destination or service with a
//!   [`Refusal`] naming it: DR and TUN forwarding, upper/lower thresholds, one-packet
//!   scheduling (`ops`), the SIP persistence engine.
//!
//! The NAT needs forwarding enabled (`net.ipv4.ip_forward=1`, IPv6 `forwarding=1`) and
//! the real servers routing their replies back through this host, exactly as LVS-NAT.
//!
//! Counters: each destination's named counter counts the first packet of every connection
//! it translates (a NAT chain sees nothing else), i.e. connections scheduled; `sN_in` /
//! `sN_out` count an address service's packets and bytes each way. Replacing the
//! table resets the kernel's counters; [`Nft`] adds what it read just before, so
//! [`Nft::connections`] counts from the first apply.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::process::Stdio;

use ka_lb::{DestKey, Family, Forwarding, Protocol, ServiceKey, Table};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};

/// Our table's name (family `inet`: IPv4 and IPv6 in one table).
pub const TABLE: &str = "keepalived_rs";

/// The most map slots a service gets.
pub const MAX_SLOTS: u32 = 256;

/// Something of the table nftables cannot do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The service.
    pub service: ServiceKey,
    /// The destination, when it concerns one.
    pub dest: Option<DestKey>,
    /// What is not done and why.
    pub what: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.dest {
            Some(d) => write!(f, "{} -> {d}: {}", self.service, self.what),
            None => write!(f, "{}: {}", self.service, self.what),
        }
    }
}

/// A rendered ruleset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruleset {
    /// The `nft -f` input: creates (if needed), deletes and re-creates our table.
    pub text: String,
    /// Connection counter name (also its destination chain's) -> (service, destination).
    pub chains: BTreeMap<String, (ServiceKey, DestKey)>,
    /// DNAT map name -> (service, the destination of each slot): the element counters
    /// count connections.
    pub slot_maps: BTreeMap<String, (ServiceKey, Vec<DestKey>)>,
    /// Traffic counter name -> (service, reply direction).
    pub traffic: BTreeMap<String, (ServiceKey, bool)>,
    /// What could not be expressed.
    pub refused: Vec<Refusal>,
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Map slots for `weights` (all > 0): divided by their gcd, scaled down to at most
/// [`MAX_SLOTS`] in all with at least one each, then interleaved by smooth weighted
/// round robin. Returns indexes into `weights`.
pub fn slots(weights: &[u32]) -> Vec<usize> {
    let g = weights.iter().copied().fold(0, gcd).max(1);
    let mut w: Vec<u64> = weights.iter().map(|&x| u64::from(x / g)).collect();
    let total: u64 = w.iter().sum();
    let cap = u64::from(MAX_SLOTS).max(w.len() as u64);
    if total > cap {
        w = w.iter().map(|&x| (x * cap / total).max(1)).collect();
    }
    let total: u64 = w.iter().sum();
    let mut current = vec![0i64; w.len()];
    let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        let mut best = 0;
        for (i, c) in current.iter_mut().enumerate() {
            *c += i64::try_from(w.get(i).copied().unwrap_or(0)).unwrap_or(i64::MAX);
        }
        for (i, c) in current.iter().enumerate() {
            if current.get(best).is_some_and(|b| c > b) {
                best = i;
            }
        }
        if let Some(c) = current.get_mut(best) {
            *c -= i64::try_from(total).unwrap_or(i64::MAX);
        }
        out.push(best);
    }
    out
}

fn family_kw(f: Family) -> &'static str {
    match f {
        Family::Inet => "ip",
        Family::Inet6 => "ip6",
    }
}

fn proto_kw(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// The dispatch map a service belongs to, in the order the hook chains consult them
/// (IPVS's: fwmark services, then address and port, then address with port 0), and its
/// element key. Maps: name, `type`, the rule's key expression.
const DISPATCH: [(&str, &str, &str); 5] = [
    ("fwmark", "mark . nf_proto", "meta mark . meta nfproto"),
    (
        "port4",
        "ipv4_addr . inet_proto . inet_service",
        "ip daddr . meta l4proto . th dport",
    ),
    (
        "port6",
        "ipv6_addr . inet_proto . inet_service",
        "ip6 daddr . meta l4proto . th dport",
    ),
    ("any4", "ipv4_addr . inet_proto", "ip daddr . meta l4proto"),
    ("any6", "ipv6_addr . inet_proto", "ip6 daddr . meta l4proto"),
];

/// Which of [`DISPATCH`] a service goes in, and its element's key.
fn dispatch(key: &ServiceKey) -> (usize, String) {
    match key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            let v6 = usize::from(addr.is_ipv6());
            let p = proto_kw(*protocol);
            if *port == 0 {
                (3 + v6, format!("{addr} . {p}"))
            } else {
                (1 + v6, format!("{addr} . {p} . {port}"))
            }
        }
        ServiceKey::Fwmark { family, mark } => {
            let nf = match family {
                Family::Inet => "ipv4",
                Family::Inet6 => "ipv6",
            };
            (0, format!("{mark:#x} . {nf}"))
        }
    }
}

/// The traffic-counter match of an address service inside its address's chain: its
/// connections by their original tuple (the translation does not change it), in both
/// directions. Fwmark services have none: the mark is on the client's packets only, the
/// replies cannot be told.
fn traffic_match(protocol: Protocol, port: u16) -> String {
    let p = proto_kw(protocol);
    if port == 0 {
        format!("meta l4proto {p}")
    } else {
        format!("meta l4proto {p} ct original proto-dst {port}")
    }
}

fn dnat_target(d: &DestKey) -> String {
    match (d.addr, d.port) {
        (IpAddr::V4(a), 0) => format!("dnat ip to {a}"),
        (IpAddr::V4(a), p) => format!("dnat ip to {a}:{p}"),
        (IpAddr::V6(a), 0) => format!("dnat ip6 to {a}"),
        (IpAddr::V6(a), p) => format!("dnat ip6 to [{a}]:{p}"),
    }
}

/// The expression choosing a slot for a service, given the number of slots.
fn selector(key: &ServiceKey, svc: &ka_lb::ServiceAttrs, n: usize) -> String {
    let fam = family_kw(key.family());
    let l4 = match key {
        ServiceKey::Addr { protocol, .. } => Some(proto_kw(*protocol)),
        ServiceKey::Fwmark { .. } => None,
    };
    if let Some(p) = &svc.persistence {
        let mask = match key.family() {
            Family::Inet => {
                let bits = u32::from(p.prefix.min(32));
                let m = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                std::net::Ipv4Addr::from(m).to_string()
            }
            Family::Inet6 => {
                let bits = u32::from(p.prefix.min(128));
                let m = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                std::net::Ipv6Addr::from(m).to_string()
            }
        };
        return format!("jhash {fam} saddr & {mask} mod {n}");
    }
    match svc.scheduler.as_str() {
        "sh" | "mh" => match (svc.flags.sched_flag_2, l4) {
            (true, Some(l4)) => format!("jhash {fam} saddr . {l4} sport mod {n}"),
            _ => format!("jhash {fam} saddr mod {n}"),
        },
        "dh" => format!("jhash {fam} daddr mod {n}"),
        "rr" | "wrr" => format!("numgen inc mod {n}"),
        _ => format!("numgen random mod {n}"),
    }
}

/// How a service's destinations fit one DNAT map: the map's data (`typeof`), the
/// protocol match the translation needs, and whether elements carry a port. `None` when
/// they do not fit one map (some with a port and some without, or ports behind a fwmark
/// service, whose protocol is not known).
fn map_data(key: &ServiceKey, present: &[DestKey]) -> Option<(String, String, bool)> {
    let fam = family_kw(key.family());
    if present.iter().all(|d| d.port == 0) {
        return Some((format!("{fam} daddr"), String::new(), false));
    }
    match key {
        ServiceKey::Addr { protocol, .. } if present.iter().all(|d| d.port != 0) => {
            let p = proto_kw(*protocol);
            Some((
                format!("{fam} daddr . {p} dport"),
                format!("meta l4proto {p} "),
                true,
            ))
        }
        _ => None,
    }
}

/// Renders `table` as one `nft -f` transaction that replaces our table. Pure.
pub fn render(table: &Table) -> Ruleset {
    let mut refused = Vec::new();
    let mut chains = BTreeMap::new();
    let mut traffic = BTreeMap::new();
    // Dispatch: one verdict map per kind of key (see DISPATCH), element -> goto sN.
    let mut maps: [Vec<String>; DISPATCH.len()] = Default::default();
    // Traffic counters: client -> real server packets leave through postrouting
    // (forwarded, or sent by a local client); replies leave through postrouting too, or
    // reach a local client through input. Connections are found by their original
    // destination address in a map (element -> goto the address's chain tN, or tNr from
    // input), then by protocol and port in that chain (exact ports before port 0, as
    // IPVS), which goes to the service's counting chain cN (cNr: replies only).
    // Per address: (match, service index) of its exact-port services, then of port 0.
    type Matches = Vec<(String, usize)>;
    let mut by_addr: BTreeMap<IpAddr, (Matches, Matches)> = BTreeMap::new();
    // Named counters and maps, declared before the chains that use them.
    let mut objects = String::new();
    let mut slot_maps = BTreeMap::new();
    let mut body = String::new();
    for (si, (key, svc)) in table.services.iter().enumerate() {
        let fam = key.family();
        let refuse = |refused: &mut Vec<Refusal>, dest: Option<DestKey>, what: &str| {
            refused.push(Refusal {
                service: *key,
                dest,
                what: what.to_string(),
            })
        };
        if svc.attrs.flags.one_packet {
            refuse(
                &mut refused,
                None,
                "one-packet scheduling (ops) is not possible with nftables NAT; connections are scheduled",
            );
        }
        if svc
            .attrs
            .persistence
            .as_ref()
            .is_some_and(|p| p.engine.is_some())
        {
            refuse(
                &mut refused,
                None,
                "persistence engines (sip) are not possible with nftables; address persistence only",
            );
        }
        // Destinations that can carry new connections, in key order.
        let mut present: Vec<DestKey> = Vec::new();
        let mut live: Vec<(usize, u32)> = Vec::new();
        for (dk, d) in &svc.dests {
            match d.forwarding {
                Forwarding::Nat => {}
                Forwarding::Dr | Forwarding::Tun { .. } => {
                    refuse(
                        &mut refused,
                        Some(*dk),
                        "DR and TUN forwarding need IPVS; this destination is left out",
                    );
                    continue;
                }
            }
            if Family::of(&dk.addr) != fam {
                refuse(
                    &mut refused,
                    Some(*dk),
                    "address family differs from the service's; left out",
                );
                continue;
            }
            if d.upper_threshold != 0 || d.lower_threshold != 0 {
                refuse(
                    &mut refused,
                    Some(*dk),
                    "connection thresholds (uthreshold/lthreshold) are not enforced by nftables",
                );
            }
            // Weight 0 stays in the table (and in `status`, as IPVS keeps the destination)
            // but gets no slot: no new connection.
            present.push(*dk);
            if d.weight > 0 {
                live.push((present.len() - 1, d.weight));
            }
        }
        if matches!(svc.attrs.scheduler.as_str(), "fo" | "ovf") {
            // Everything to the highest weight (the first of equals, as IPVS fo).
            if let Some(best) = live
                .iter()
                .max_by(|a, b| a.1.cmp(&b.1).then(present[b.0].cmp(&present[a.0])))
            {
                live = vec![*best];
            }
        }
        if svc.attrs.scheduler == "rr" {
            for l in &mut live {
                l.1 = 1;
            }
        }
        let sname = format!("s{si}");
        let (m, element) = dispatch(key);
        maps[m].push(format!("{element} : goto {sname}"));
        if let ServiceKey::Addr {
            protocol,
            addr,
            port,
        } = key
        {
            let (cin, cout) = (format!("{sname}_in"), format!("{sname}_out"));
            let _ = writeln!(
                objects,
                "  counter {cin} {{\n  }}\n  counter {cout} {{\n  }}"
            );
            let _ = writeln!(
                body,
                "  chain c{si} {{\n    ct direction original counter name \"{cin}\"\n    \
                 ct direction reply counter name \"{cout}\"\n  }}\n  \
                 chain c{si}r {{\n    ct direction reply counter name \"{cout}\"\n  }}"
            );
            let (exact, any) = by_addr.entry(*addr).or_default();
            let list = if *port == 0 { any } else { exact };
            list.push((traffic_match(*protocol, *port), si));
            traffic.insert(cin, (*key, false));
            traffic.insert(cout, (*key, true));
        }
        if live.is_empty() {
            // IPVS drops what reaches a service without a usable destination.
            let _ = writeln!(body, "  chain {sname} {{\n    counter drop\n  }}");
            continue;
        }
        let weights: Vec<u32> = live.iter().map(|l| l.1).collect();
        let order = slots(&weights);
        let sel = selector(key, &svc.attrs, order.len());
        let fam_kw = family_kw(fam);
        if let Some((data, l4, with_port)) = map_data(key, &present) {
            // One rule: the selector picks a slot of the map, whose element is the
            // destination; the element's counter counts the connections it got. The
            // key is declared as numgen's (a 32-bit integer, like jhash's): nft 1.0.6
            // crashes listing a `typeof jhash` of a concatenation.
            let mname = format!("m{si}");
            let elements: Vec<String> = order
                .iter()
                .enumerate()
                .map(|(slot, &li)| {
                    let d = present[live[li].0];
                    if with_port {
                        format!("{slot} : {} . {}", d.addr, d.port)
                    } else {
                        format!("{slot} : {}", d.addr)
                    }
                })
                .collect();
            let _ = writeln!(
                objects,
                "  map {mname} {{\n    typeof numgen inc mod {} : {data}\n    counter\n    elements = {{ {} }}\n  }}",
                order.len(),
                elements.join(", ")
            );
            let _ = writeln!(
                body,
                "  chain {sname} {{\n    {l4}dnat {fam_kw} to {sel} map @{mname}\n  }}"
            );
            slot_maps.insert(
                mname,
                (*key, order.iter().map(|&li| present[live[li].0]).collect()),
            );
            continue;
        }
        // Destinations with and without a port, or a port behind a fwmark service: a
        // chain a destination, reached through a verdict map of slots.
        let map: Vec<String> = order
            .iter()
            .enumerate()
            .map(|(slot, &li)| format!("{slot} : goto {sname}d{}", live[li].0))
            .collect();
        let _ = writeln!(
            body,
            "  chain {sname} {{\n    {sel} vmap {{ {} }}\n  }}",
            map.join(", ")
        );
        for (di, dk) in present.iter().enumerate() {
            let cname = format!("{sname}d{di}");
            let _ = writeln!(body, "  chain {cname} {{");
            // A port translation needs a transport protocol match before it.
            let protos: Vec<&str> = match (key, dk.port) {
                (_, 0) => vec![""],
                (ServiceKey::Addr { protocol, .. }, _) => vec![proto_kw(*protocol)],
                (ServiceKey::Fwmark { .. }, _) => vec!["tcp", "udp", "sctp"],
            };
            for p in protos {
                let m = if p.is_empty() {
                    String::new()
                } else {
                    format!("meta l4proto {p} ")
                };
                let _ = writeln!(body, "    {m}counter name \"{cname}\" {}", dnat_target(dk));
            }
            let _ = writeln!(body, "  }}");
            let _ = writeln!(objects, "  counter {cname} {{\n  }}");
            chains.insert(cname, (*key, *dk));
        }
    }
    let mut text = String::new();
    // Create-if-missing, delete, re-create: one atomic transaction, no window without rules
    // for the packets that cross it.
    let _ = writeln!(text, "table inet {TABLE}\ndelete table inet {TABLE}");
    let _ = writeln!(text, "table inet {TABLE} {{");
    text.push_str(&objects);
    let mut hook_rules = String::new();
    for ((name, ty, expr), elements) in DISPATCH.iter().zip(&maps) {
        if elements.is_empty() {
            continue;
        }
        let _ = writeln!(
            text,
            "  map {name} {{\n    type {ty} : verdict\n    elements = {{ {} }}\n  }}",
            elements.join(", ")
        );
        let _ = writeln!(hook_rules, "    {expr} vmap @{name}");
    }
    let _ = writeln!(
        text,
        "  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n{hook_rules}  }}"
    );
    let _ = writeln!(
        text,
        "  chain output {{\n    type nat hook output priority -100; policy accept;\n{hook_rules}  }}"
    );
    if !by_addr.is_empty() {
        // Per family: the address maps from postrouting (-> tN) and input (-> tNr).
        let mut stats_post = String::new();
        let mut stats_input = String::new();
        for (fam, v6) in [("ip", false), ("ip6", true)] {
            let (mut post, mut input) = (Vec::new(), Vec::new());
            for (ai, (addr, (exact, any))) in by_addr.iter().enumerate() {
                if addr.is_ipv6() != v6 {
                    continue;
                }
                post.push(format!("{addr} : goto t{ai}"));
                input.push(format!("{addr} : goto t{ai}r"));
                for suffix in ["", "r"] {
                    let _ = writeln!(text, "  chain t{ai}{suffix} {{");
                    for (m, si) in exact.iter().chain(any) {
                        let _ = writeln!(text, "    {m} goto c{si}{suffix}");
                    }
                    let _ = writeln!(text, "  }}");
                }
            }
            if !post.is_empty() {
                let _ = writeln!(
                    stats_post,
                    "    ct original {fam} daddr vmap {{ {} }}",
                    post.join(", ")
                );
                let _ = writeln!(
                    stats_input,
                    "    ct original {fam} daddr vmap {{ {} }}",
                    input.join(", ")
                );
            }
        }
        let _ = writeln!(
            text,
            "  chain stats_postrouting {{\n    type filter hook postrouting priority 0; policy accept;\n{stats_post}  }}"
        );
        let _ = writeln!(
            text,
            "  chain stats_input {{\n    type filter hook input priority 0; policy accept;\n{stats_input}  }}"
        );
    }
    text.push_str(&body);
    text.push_str("}\n");
    Ruleset {
        text,
        chains,
        slot_maps,
        traffic,
        refused,
    }
}

/// `nft` could not be started.
fn cannot_run(e: std::io::Error) -> Error {
    Error::Nft(format!("cannot run nft (Debian package nftables): {e}"))
}

/// `nft ARGS` exited with an error; `stderr` says why.
fn refused(args: &[&str], stderr: &str) -> Error {
    Error::Nft(format!("nft {}: {}", args.join(" "), stderr.trim()))
}

/// Runs `nft` with `args`, `input` on its standard input; its stdout.
async fn nft(args: &[&str], input: Option<&str>) -> Result<String> {
    let mut child = tokio::process::Command::new("nft")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(cannot_run)?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .await
            .map_err(Error::io("write to nft"))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(Error::io("wait for nft"))?;
    if !out.status.success() {
        return Err(refused(args, &String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The counters of our table as `nft -j list table` lists them.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counted {
    /// Named counter -> (packets, bytes).
    named: BTreeMap<String, (u64, u64)>,
    /// Map -> slot -> packets of its element's counter.
    slots: BTreeMap<String, BTreeMap<u64, u64>>,
}

/// `nft -j list table`, as far as the counters go: typed, rules and values skipped, read
/// as the output streams in (the listing of 2000 services x 10 destinations is ~16 MB).
mod listing {
    use serde::de::{IgnoredAny, SeqAccess, Visitor};
    use serde::{Deserialize, Deserializer};

    /// The listing, its list of objects folded into counters item by item as it is read
    /// (the items are never all held: a listing of 2000 services x 10 destinations has
    /// ~50000).
    #[derive(Deserialize)]
    pub struct Doc {
        #[serde(rename = "nftables", deserialize_with = "fold")]
        pub counted: super::Counted,
    }

    fn fold<'de, D: Deserializer<'de>>(d: D) -> Result<super::Counted, D::Error> {
        struct Each;
        impl<'de> Visitor<'de> for Each {
            type Value = super::Counted;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of nftables objects")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let mut out = super::Counted::default();
                while let Some(item) = seq.next_element::<Item>()? {
                    if let Some(c) = item.counter {
                        out.named.insert(c.name, (c.packets, c.bytes));
                    }
                    if let Some(m) = item.map {
                        let slots = out.slots.entry(m.name).or_default();
                        for (k, _) in m.elem {
                            if let Key::Counted { elem } = k {
                                slots.insert(elem.val, elem.counter.map_or(0, |c| c.packets));
                            }
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_seq(Each)
    }

    #[derive(Deserialize)]
    struct Item {
        #[serde(default)]
        counter: Option<Counter>,
        #[serde(default)]
        map: Option<Map>,
    }

    #[derive(Deserialize)]
    struct Counter {
        name: String,
        #[serde(default)]
        packets: u64,
        #[serde(default)]
        bytes: u64,
    }

    #[derive(Deserialize)]
    struct Map {
        name: String,
        /// `[key, value]` pairs; a key with a counter is `{"elem": {"val": N, "counter": ...}}`.
        #[serde(default)]
        elem: Vec<(Key, IgnoredAny)>,
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Key {
        Counted { elem: Elem },
        Other(IgnoredAny),
    }

    #[derive(Deserialize)]
    struct Elem {
        val: u64,
        #[serde(default)]
        counter: Option<Counts>,
    }

    #[derive(Deserialize)]
    struct Counts {
        #[serde(default)]
        packets: u64,
    }
}

/// Reads the counters of a listing given whole (tests).
#[cfg(test)]
fn parse_counters(json: &str) -> Result<Counted> {
    serde_json::from_str(json)
        .map(|d: listing::Doc| d.counted)
        .map_err(|e| Error::Nft(format!("nft -j output: {e}")))
}

/// Runs `nft -j ARGS` and reads its JSON output as it streams in, on a blocking thread.
async fn nft_json<T: serde::de::DeserializeOwned + Send + 'static>(args: &[&str]) -> Result<T> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_string()).collect();
    let run = move || -> Result<T> {
        let mut child = std::process::Command::new("nft")
            .arg("-j")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(cannot_run)?;
        let parsed = match child.stdout.take() {
            Some(out) => serde_json::from_reader::<_, T>(std::io::BufReader::new(out))
                .map_err(|e| Error::Nft(format!("nft -j output: {e}"))),
            None => Err(Error::Nft("nft: no output".into())),
        };
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        let status = child.wait().map_err(Error::io("wait for nft"))?;
        if !status.success() {
            let args: Vec<&str> = std::iter::once("-j")
                .chain(args.iter().map(String::as_str))
                .collect();
            return Err(refused(&args, &err));
        }
        parsed
    };
    tokio::task::spawn_blocking(run)
        .await
        .map_err(|e| Error::Nft(format!("nft reader: {e}")))?
}

/// Traffic of one service since the first apply, as IPVS counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// Connections scheduled (to any of its destinations).
    pub conns: u64,
    /// Whether packets and bytes are counted (address services; not fwmark ones).
    pub traffic: bool,
    /// Packets client -> real server.
    pub in_pkts: u64,
    /// Bytes client -> real server.
    pub in_bytes: u64,
    /// Packets real server -> client.
    pub out_pkts: u64,
    /// Bytes real server -> client.
    pub out_bytes: u64,
}

/// The data plane's counters: every service of the table applied, and the connections
/// scheduled to each of its destinations (also those removed since).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// By service.
    pub services: BTreeMap<ServiceKey, ServiceStats>,
    /// Connections by destination.
    pub dests: BTreeMap<(ServiceKey, DestKey), u64>,
}

/// Counters read from the kernel, by what they count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Carried {
    conns: BTreeMap<(ServiceKey, DestKey), u64>,
    /// (service, reply direction) -> (packets, bytes).
    traffic: BTreeMap<(ServiceKey, bool), (u64, u64)>,
}

impl Carried {
    fn add(&mut self, other: &Carried) {
        for (k, n) in &other.conns {
            let e = self.conns.entry(*k).or_default();
            *e = e.saturating_add(*n);
        }
        for (k, (p, b)) in &other.traffic {
            let e = self.traffic.entry(*k).or_default();
            e.0 = e.0.saturating_add(*p);
            e.1 = e.1.saturating_add(*b);
        }
    }
}

/// The counters of `rs` by what they count.
fn attribute(rs: &Ruleset, counted: &Counted) -> Carried {
    let mut conns: BTreeMap<(ServiceKey, DestKey), u64> = rs
        .chains
        .iter()
        .filter_map(|(c, k)| counted.named.get(c).map(|n| (*k, n.0)))
        .collect();
    for (name, (key, dests)) in &rs.slot_maps {
        for (slot, n) in counted.slots.get(name).into_iter().flatten() {
            if let Some(d) = usize::try_from(*slot).ok().and_then(|i| dests.get(i)) {
                let e = conns.entry((*key, *d)).or_default();
                *e = e.saturating_add(*n);
            }
        }
    }
    Carried {
        conns,
        traffic: rs
            .traffic
            .iter()
            .filter_map(|(c, k)| counted.named.get(c).map(|n| (*k, *n)))
            .fold(BTreeMap::new(), |mut m, (k, (p, b))| {
                let e: &mut (u64, u64) = m.entry(k).or_default();
                e.0 = e.0.saturating_add(p);
                e.1 = e.1.saturating_add(b);
                m
            }),
    }
}

/// Per-service statistics of `table` from the counters (destinations removed since the
/// first apply keep their share of the connections).
fn summarise(table: &Table, c: &Carried) -> Stats {
    let mut out = Stats::default();
    for (key, svc) in &table.services {
        let mut s = ServiceStats {
            traffic: matches!(key, ServiceKey::Addr { .. }),
            ..ServiceStats::default()
        };
        for dk in svc.dests.keys() {
            out.dests.insert((*key, *dk), 0);
        }
        for ((sk, dk), n) in c.conns.iter().filter(|((sk, _), _)| sk == key) {
            s.conns = s.conns.saturating_add(*n);
            out.dests.insert((*sk, *dk), *n);
        }
        (s.in_pkts, s.in_bytes) = c.traffic.get(&(*key, false)).copied().unwrap_or((0, 0));
        (s.out_pkts, s.out_bytes) = c.traffic.get(&(*key, true)).copied().unwrap_or((0, 0));
        out.services.insert(*key, s);
    }
    out
}

/// The nftables backend: applies whole tables, remembers what it applied.
#[derive(Debug, Default)]
pub struct Nft {
    applied: Option<Ruleset>,
    table: Table,
    /// Counted by replaced rulesets.
    carried: Carried,
}

impl Nft {
    /// A backend that has applied nothing yet (our table may be left from an earlier
    /// run: the first [`Nft::apply`] replaces it).
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `nft` runs and the kernel has nf_tables.
    pub async fn available() -> Result<()> {
        nft(&["list", "tables"], None).await.map(|_| ())
    }

    /// Replaces our table with `table` in one transaction; returns what nftables
    /// cannot do. On an error nothing changed (nft's transactions are atomic).
    pub async fn apply(&mut self, table: &Table) -> Result<Vec<Refusal>> {
        let rs = render(table);
        if let Ok(now) = self.read_counters().await {
            self.carried.add(&now);
        }
        nft(&["-f", "-"], Some(&rs.text)).await?;
        let refused = rs.refused.clone();
        self.applied = Some(rs);
        self.table = table.clone();
        Ok(refused)
    }

    /// The table last applied.
    pub fn table(&self) -> &Table {
        &self.table
    }

    async fn read_counters(&self) -> Result<Carried> {
        let Some(rs) = &self.applied else {
            return Ok(Carried::default());
        };
        let doc: listing::Doc = nft_json(&["list", "table", "inet", TABLE]).await?;
        Ok(attribute(rs, &doc.counted))
    }

    /// Connections scheduled to each destination since the first apply.
    pub async fn connections(&self) -> Result<BTreeMap<(ServiceKey, DestKey), u64>> {
        let mut c = self.carried.clone();
        c.add(&self.read_counters().await?);
        Ok(c.conns)
    }

    /// Every counter since the first apply, for the services of the table applied last.
    pub async fn stats(&self) -> Result<Stats> {
        let mut c = self.carried.clone();
        c.add(&self.read_counters().await?);
        Ok(summarise(&self.table, &c))
    }

    /// Deletes our table (on stop); no error when it is not there.
    pub async fn remove(&mut self) -> Result<()> {
        let r = nft(&["delete", "table", "inet", TABLE], None).await;
        self.applied = None;
        self.table = Table::new();
        match r {
            Ok(_) => Ok(()),
            Err(Error::Nft(m)) if m.contains("No such file or directory") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_lb::{Dest, Persistence, Service, ServiceAttrs, ServiceFlags};

    fn svc(sched: &str, dests: &[(&str, u16, u32, Forwarding)]) -> Service {
        Service {
            attrs: ServiceAttrs {
                scheduler: sched.into(),
                flags: ServiceFlags::default(),
                persistence: None,
            },
            dests: dests
                .iter()
                .map(|(a, p, w, f)| {
                    (
                        DestKey {
                            addr: a.parse().unwrap(),
                            port: *p,
                        },
                        Dest {
                            weight: *w,
                            forwarding: *f,
                            upper_threshold: 0,
                            lower_threshold: 0,
                        },
                    )
                })
                .collect(),
        }
    }

    fn key(addr: &str, port: u16) -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: addr.parse().unwrap(),
            port,
        }
    }

    #[test]
    fn slots_follow_weights() {
        let count = |s: &[usize], i: usize| s.iter().filter(|&&x| x == i).count();
        let s = slots(&[3, 1]);
        assert_eq!((s.len(), count(&s, 0), count(&s, 1)), (4, 3, 1));
        // Interleaved, not 0,0,0,1.
        assert_eq!(s, vec![0, 0, 1, 0]);
        let s = slots(&[100, 200]);
        assert_eq!(s.len(), 3);
        // Large weights are scaled to at most MAX_SLOTS; a tiny one keeps a slot.
        let s = slots(&[65535, 1, 30000]);
        assert!(s.len() <= MAX_SLOTS as usize + 3, "{}", s.len());
        assert_eq!(count(&s, 1), 1);
        assert!(count(&s, 0) > 2 * count(&s, 2) - 2);
    }

    /// 192.0.2.100:80 wrr over .10 (weight 3), .11 (weight 1, port `port_11`) and .12
    /// (weight 0), all NAT to port 8080 but .11.
    fn weighted_table(port_11: u16) -> Table {
        let mut t = Table::new();
        t.services.insert(
            key("192.0.2.100", 80),
            svc(
                "wrr",
                &[
                    ("198.51.100.10", 8080, 3, Forwarding::Nat),
                    ("198.51.100.11", port_11, 1, Forwarding::Nat),
                    ("198.51.100.12", 8080, 0, Forwarding::Nat),
                ],
            ),
        );
        t
    }

    #[test]
    fn renders_nat_service_with_weights() {
        let rs = render(&weighted_table(8080));
        assert!(rs.refused.is_empty(), "{:?}", rs.refused);
        assert!(
            rs.text.contains(
                "  map port4 {\n    type ipv4_addr . inet_proto . inet_service : verdict\n    \
                 elements = { 192.0.2.100 . tcp . 80 : goto s0 }\n  }"
            ),
            "{}",
            rs.text
        );
        // Both hooks consult the map; no other map is rendered.
        assert_eq!(
            rs.text
                .matches("    ip daddr . meta l4proto . th dport vmap @port4\n")
                .count(),
            2
        );
        assert!(!rs.text.contains("map any4") && !rs.text.contains("@fwmark"));
        // One DNAT map; its slots follow the weights 3:1; weight 0 gets no slot.
        assert!(
            rs.text.contains(
                "  map m0 {\n    typeof numgen inc mod 4 : ip daddr . tcp dport\n    counter\n    \
                 elements = { 0 : 198.51.100.10 . 8080, 1 : 198.51.100.10 . 8080, \
                 2 : 198.51.100.11 . 8080, 3 : 198.51.100.10 . 8080 }\n  }"
            ),
            "{}",
            rs.text
        );
        assert!(rs.text.contains(
            "  chain s0 {\n    meta l4proto tcp dnat ip to numgen inc mod 4 map @m0\n  }"
        ));
        assert!(!rs.text.contains("198.51.100.12"));
        let d = |a: &str| DestKey {
            addr: a.parse().unwrap(),
            port: 8080,
        };
        let (d10, d11) = (d("198.51.100.10"), d("198.51.100.11"));
        assert_eq!(
            rs.slot_maps["m0"],
            (key("192.0.2.100", 80), vec![d10, d10, d11, d10])
        );
        assert!(rs.chains.is_empty());
    }

    /// Destinations with and without a port do not fit one map: a chain each, with a
    /// named counter, reached through a verdict map of slots.
    #[test]
    fn mixed_ports_get_a_chain_per_destination() {
        let rs = render(&weighted_table(0));
        assert!(rs.text.contains(
            "numgen inc mod 4 vmap { 0 : goto s0d0, 1 : goto s0d0, 2 : goto s0d1, 3 : goto s0d0 }"
        ));
        assert!(rs
            .text
            .contains("meta l4proto tcp counter name \"s0d0\" dnat ip to 198.51.100.10:8080"));
        assert!(rs
            .text
            .contains("chain s0d1 {\n    counter name \"s0d1\" dnat ip to 198.51.100.11\n"));
        assert!(rs.text.contains("  counter s0d0 {\n  }"));
        // Weight 0: a chain (counters, as IPVS keeps the destination) but no slot.
        assert!(rs
            .text
            .contains("chain s0d2 {\n    meta l4proto tcp counter name \"s0d2\" dnat ip to 198.51.100.12:8080"));
        assert!(!rs.text.contains(": goto s0d2"));
        assert_eq!(rs.chains.len(), 3);
        assert!(rs.slot_maps.is_empty());
    }

    #[test]
    fn schedulers_persistence_fwmark_and_refusals() {
        let mut t = Table::new();
        let mut s = svc(
            "rr",
            &[
                ("2001:db8::10", 80, 5, Forwarding::Nat),
                ("2001:db8::11", 80, 1, Forwarding::Nat),
            ],
        );
        t.services.insert(key("2001:db8::100", 80), s.clone());
        s.attrs.scheduler = "sh".into();
        s.attrs.persistence = Some(Persistence {
            timeout_s: 300,
            prefix: 64,
            engine: None,
        });
        t.services.insert(key("2001:db8::101", 443), s);
        t.services.insert(
            ServiceKey::Fwmark {
                family: Family::Inet,
                mark: 7,
            },
            svc(
                "fo",
                &[
                    ("198.51.100.10", 0, 1, Forwarding::Nat),
                    ("198.51.100.11", 0, 9, Forwarding::Nat),
                    ("198.51.100.12", 0, 1, Forwarding::Dr),
                ],
            ),
        );
        let rs = render(&t);
        // rr ignores weights.
        assert!(
            rs.text.contains(
                "typeof numgen inc mod 2 : ip6 daddr . tcp dport\n    counter\n    \
                 elements = { 0 : 2001:db8::10 . 80, 1 : 2001:db8::11 . 80 }"
            ),
            "{}",
            rs.text
        );
        assert!(rs
            .text
            .contains("meta l4proto tcp dnat ip6 to numgen inc mod 2 map @m0\n"));
        assert!(rs
            .text
            .contains("dnat ip6 to jhash ip6 saddr & ffff:ffff:ffff:ffff:: mod 6 map @m1\n"));
        assert!(rs.text.contains("elements = { 0x7 . ipv4 : goto s2 }"));
        assert!(rs.text.contains(
            "elements = { 2001:db8::100 . tcp . 80 : goto s0, 2001:db8::101 . tcp . 443 : goto s1 }"
        ));
        // fo: the highest weight only; no port: the client's port is kept.
        assert!(rs.text.contains(
            "typeof numgen inc mod 1 : ip daddr\n    counter\n    elements = { 0 : 198.51.100.11 }"
        ));
        assert!(rs
            .text
            .contains("  chain s2 {\n    dnat ip to numgen random mod 1 map @m2\n  }"));
        assert_eq!(rs.refused.len(), 1);
        assert!(rs.refused[0].to_string().contains("DR and TUN"));
    }

    #[test]
    fn empty_service_drops() {
        let mut t = Table::new();
        t.services.insert(
            key("192.0.2.100", 80),
            svc("wlc", &[("198.51.100.10", 80, 0, Forwarding::Nat)]),
        );
        let rs = render(&t);
        assert!(rs.text.contains("chain s0 {\n    counter drop\n  }"));
    }

    #[test]
    fn counters_from_nft_json() {
        // As `nft -j list table inet keepalived_rs` prints them (nft 1.0.6): named
        // counters, a DNAT map with element counters, rules (skipped).
        let j = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
          {"table": {"family": "inet", "name": "keepalived_rs", "handle": 1}},
          {"counter": {"family": "inet", "name": "s0_in", "table": "keepalived_rs", "handle": 20, "packets": 10, "bytes": 5000}},
          {"counter": {"family": "inet", "name": "s1d0", "table": "keepalived_rs", "handle": 23}},
          {"map": {"family": "inet", "name": "m0", "table": "keepalived_rs", "type": "integer", "handle": 4,
            "map": "ipv4_addr . inet_service", "elem": [
              [{"elem": {"val": 0, "counter": {"packets": 2, "bytes": 120}}}, {"concat": ["198.51.100.10", 8080]}],
              [{"elem": {"val": 1, "counter": {"packets": 3, "bytes": 180}}}, {"concat": ["198.51.100.11", 8080]}],
              [2, {"concat": ["198.51.100.12", 8080]}]]}},
          {"rule": {"family": "inet", "table": "keepalived_rs", "chain": "s0", "handle": 9,
            "expr": [{"counter": {"packets": 99, "bytes": 1}}]}}]}"#;
        let c = parse_counters(j).unwrap();
        assert_eq!(c.named.get("s0_in"), Some(&(10, 5000)));
        assert_eq!(c.named.get("s1d0"), Some(&(0, 0)));
        assert_eq!(c.named.len(), 2);
        assert_eq!(c.slots["m0"], [(0, 2), (1, 3)].into());
        assert!(parse_counters("{}").is_err());
    }

    /// IPVS's order: fwmark services first, then address and port, then address with
    /// port 0; the traffic chains of one address try its exact ports before port 0.
    #[test]
    fn dispatch_order_and_port_zero() {
        let mut t = Table::new();
        let dests = [("198.51.100.10", 0, 1, Forwarding::Nat)];
        let any = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "192.0.2.100".parse().unwrap(),
            port: 0,
        };
        t.services.insert(any, svc("rr", &dests));
        t.services
            .insert(key("192.0.2.100", 443), svc("rr", &dests));
        t.services.insert(
            ServiceKey::Fwmark {
                family: Family::Inet6,
                mark: 1,
            },
            svc("rr", &[("2001:db8::10", 0, 1, Forwarding::Nat)]),
        );
        let rs = render(&t);
        let (s_any, s_443) = (
            t.services.keys().position(|k| *k == any).unwrap(),
            t.services
                .keys()
                .position(|k| *k == key("192.0.2.100", 443))
                .unwrap(),
        );
        assert!(rs.text.contains(&format!(
            "elements = {{ 192.0.2.100 . tcp : goto s{s_any} }}"
        )));
        let pre = &rs.text[rs.text.find("chain prerouting").unwrap()..];
        let (fw, port, anyp) = (
            pre.find("vmap @fwmark").unwrap(),
            pre.find("vmap @port4").unwrap(),
            pre.find("vmap @any4").unwrap(),
        );
        assert!(fw < port && port < anyp, "{}", rs.text);
        assert!(
            rs.text.contains(&format!(
                "  chain t0 {{\n    meta l4proto tcp ct original proto-dst 443 goto c{s_443}\n    \
             meta l4proto tcp goto c{s_any}\n  }}"
            )),
            "{}",
            rs.text
        );
        assert!(rs.text.contains(&format!(
            "  chain t0r {{\n    meta l4proto tcp ct original proto-dst 443 goto c{s_443}r\n"
        )));
    }

    /// Every address service gets traffic counters in both directions (matched on the
    /// original tuple); fwmark services get none; the counters, carried across a table
    /// replacement, sum up per service and per destination.
    #[test]
    fn traffic_counters_rendered_and_summarised() {
        let mut t = Table::new();
        let s4 = key("192.0.2.100", 80);
        let dests = [
            ("198.51.100.10", 8080, 1, Forwarding::Nat),
            ("198.51.100.11", 8080, 1, Forwarding::Nat),
        ];
        t.services.insert(s4, svc("wrr", &dests));
        let fw = ServiceKey::Fwmark {
            family: Family::Inet,
            mark: 7,
        };
        t.services.insert(fw, svc("wrr", &dests));
        let rs = render(&t);
        assert!(rs.text.contains("chain stats_postrouting {\n    type filter hook postrouting priority 0; policy accept;\n"), "{}", rs.text);
        assert!(
            rs.text
                .contains("    ct original ip daddr vmap { 192.0.2.100 : goto t0 }\n  }"),
            "{}",
            rs.text
        );
        assert!(rs.text.contains("chain stats_input {\n    type filter hook input priority 0; policy accept;\n    ct original ip daddr vmap { 192.0.2.100 : goto t0r }\n  }"), "{}", rs.text);
        assert!(
            rs.text.contains(
                "  chain t0 {\n    meta l4proto tcp ct original proto-dst 80 goto c0\n  }"
            ),
            "{}",
            rs.text
        );
        assert!(rs.text.contains("  chain c0 {\n    ct direction original counter name \"s0_in\"\n    ct direction reply counter name \"s0_out\"\n  }"), "{}", rs.text);
        assert!(
            rs.text
                .contains("  chain c0r {\n    ct direction reply counter name \"s0_out\"\n  }"),
            "{}",
            rs.text
        );
        assert!(
            rs.text
                .contains("  counter s0_in {\n  }\n  counter s0_out {\n  }"),
            "{}",
            rs.text
        );
        // No IPv6 address: no ip6 map.
        assert!(!rs.text.contains("ct original ip6"), "{}", rs.text);
        assert_eq!(
            rs.traffic.len(),
            2,
            "no traffic counters for fwmark: {:?}",
            rs.traffic
        );
        assert_eq!(rs.traffic.get("s0_in"), Some(&(s4, false)));

        // Two destinations of equal weight: slots 0 and 1 of map m0.
        let counted = Counted {
            named: [
                ("s0_in".to_string(), (50, 4000)),
                ("s0_out".to_string(), (40, 90000)),
            ]
            .into(),
            slots: [("m0".to_string(), [(0, 5), (1, 4)].into())].into(),
        };
        let mut c = attribute(&rs, &counted);
        // A second ruleset's counts (after a replacement) add to the first's.
        c.add(&attribute(&rs, &counted));
        let st = summarise(&t, &c);
        let s = st.services[&s4];
        assert_eq!((s.conns, s.traffic), (18, true));
        assert_eq!(
            (s.in_pkts, s.in_bytes, s.out_pkts, s.out_bytes),
            (100, 8000, 80, 180000)
        );
        let f = st.services[&fw];
        assert_eq!((f.traffic, f.in_pkts), (false, 0));
        let d0 = DestKey {
            addr: "198.51.100.10".parse().unwrap(),
            port: 8080,
        };
        assert_eq!(st.dests.get(&(s4, d0)), Some(&10));
    }
}
