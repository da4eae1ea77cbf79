//! The nftables data plane, for hosts without IPVS (such as containers and these test
//! machines): NAT-mode virtual services as one table of ours, `inet keepalived_rs`,
//! replaced atomically by one `nft -f -` transaction on every change.
//!
//! # What a service becomes
//! ```text
//! table inet keepalived_rs {
//!   chain prerouting { type nat hook prerouting priority dstnat; policy accept;
//!     ip daddr 192.0.2.100 tcp dport 80 goto s0 }          # one rule a service
//!   chain output { type nat hook output priority -100; policy accept; (same rules) }
//!   chain s0 { numgen inc mod 4 vmap { 0 : goto s0d0, 1 : goto s0d1, 2 : goto s0d0, ... } }
//!   chain s0d0 { meta l4proto tcp counter dnat ip to 198.51.100.10:80 }  # a chain a destination
//! }
//! ```
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
//! Counters: each destination chain counts the first packet of every connection it
//! translates (a NAT chain sees nothing else), i.e. connections scheduled. Replacing the
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
    /// Destination chain name -> (service, destination).
    pub chains: BTreeMap<String, (ServiceKey, DestKey)>,
    /// Traffic counter rule comment -> (service, reply direction).
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

/// The rule of a service in the hook chains (without the `goto`).
fn match_expr(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            let fam = family_kw(Family::of(addr));
            if *port == 0 {
                format!("{fam} daddr {addr} meta l4proto {}", proto_kw(*protocol))
            } else {
                format!("{fam} daddr {addr} {} dport {port}", proto_kw(*protocol))
            }
        }
        ServiceKey::Fwmark { family, mark } => {
            let nf = match family {
                Family::Inet => "ipv4",
                Family::Inet6 => "ipv6",
            };
            format!("meta mark {mark:#x} meta nfproto {nf}")
        }
    }
}

/// The traffic-counter match of an address service: its connections by their original
/// tuple (the translation does not change it), in both directions. `None` for fwmark
/// services: the mark is on the client's packets only, the replies cannot be told.
fn traffic_match(key: &ServiceKey) -> Option<String> {
    match key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            let fam = family_kw(Family::of(addr));
            let p = proto_kw(*protocol);
            Some(if *port == 0 {
                format!("meta l4proto {p} ct original {fam} daddr {addr}")
            } else {
                format!(
                    "meta l4proto {p} ct original {fam} daddr {addr} ct original proto-dst {port}"
                )
            })
        }
        ServiceKey::Fwmark { .. } => None,
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

/// Renders `table` as one `nft -f` transaction that replaces our table. Pure.
pub fn render(table: &Table) -> Ruleset {
    let mut refused = Vec::new();
    let mut chains = BTreeMap::new();
    let mut traffic = BTreeMap::new();
    // Traffic counters: client -> real server packets leave through postrouting
    // (forwarded, or sent by a local client); replies leave through postrouting too, or
    // reach a local client through input.
    let mut stats_post = String::new();
    let mut stats_input = String::new();
    let mut hook_rules = String::new();
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
            // Weight 0 keeps its chain (and counters, as IPVS keeps the destination) but
            // gets no map slot: no new connection.
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
        let _ = writeln!(hook_rules, "    {} goto {sname}", match_expr(key));
        if let Some(m) = traffic_match(key) {
            let (cin, cout) = (format!("{sname} in"), format!("{sname} out"));
            let _ = writeln!(
                stats_post,
                "    {m} ct direction original counter comment \"{cin}\""
            );
            let _ = writeln!(
                stats_post,
                "    {m} ct direction reply counter comment \"{cout}\""
            );
            let _ = writeln!(
                stats_input,
                "    {m} ct direction reply counter comment \"{cout}\""
            );
            traffic.insert(cin, (*key, false));
            traffic.insert(cout, (*key, true));
        }
        let _ = writeln!(body, "  chain {sname} {{");
        if live.is_empty() {
            // IPVS drops what reaches a service without a usable destination.
            let _ = writeln!(body, "    counter drop");
        } else {
            let weights: Vec<u32> = live.iter().map(|l| l.1).collect();
            let order = slots(&weights);
            let map: Vec<String> = order
                .iter()
                .enumerate()
                .map(|(slot, &li)| format!("{slot} : goto {sname}d{}", live[li].0))
                .collect();
            let _ = writeln!(
                body,
                "    {} vmap {{ {} }}",
                selector(key, &svc.attrs, order.len()),
                map.join(", ")
            );
        }
        let _ = writeln!(body, "  }}");
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
                let _ = writeln!(body, "    {m}counter {}", dnat_target(dk));
            }
            let _ = writeln!(body, "  }}");
            chains.insert(cname, (*key, *dk));
        }
    }
    let mut text = String::new();
    // Create-if-missing, delete, re-create: one atomic transaction, no window without rules
    // for the packets that cross it.
    let _ = writeln!(text, "table inet {TABLE}\ndelete table inet {TABLE}");
    let _ = writeln!(text, "table inet {TABLE} {{");
    let _ = writeln!(
        text,
        "  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n{hook_rules}  }}"
    );
    let _ = writeln!(
        text,
        "  chain output {{\n    type nat hook output priority -100; policy accept;\n{hook_rules}  }}"
    );
    if !stats_post.is_empty() {
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
        traffic,
        refused,
    }
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
        .map_err(|e| Error::Nft(format!("cannot run nft (Debian package nftables): {e}")))?;
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
        return Err(Error::Nft(format!(
            "nft {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The counters of our table as `nft -j` lists them.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counted {
    /// Chain name -> packets (summed over its rules).
    by_chain: BTreeMap<String, u64>,
    /// Rule comment -> (packets, bytes) (summed over the rules with that comment).
    by_comment: BTreeMap<String, (u64, u64)>,
}

/// `nft -j list table` as far as the counters go: typed and borrowing, so a table of
/// thousands of rules is read without building a JSON tree (a `serde_json::Value` of a
/// 10 000-destination table takes ~90 MB).
mod listing {
    use serde::de::IgnoredAny;
    use serde::Deserialize;
    use std::borrow::Cow;

    #[derive(Deserialize)]
    pub struct Doc<'a> {
        #[serde(borrow)]
        pub nftables: Vec<Item<'a>>,
    }

    #[derive(Deserialize)]
    pub struct Item<'a> {
        #[serde(borrow, default)]
        pub rule: Option<Rule<'a>>,
    }

    #[derive(Deserialize)]
    pub struct Rule<'a> {
        #[serde(borrow)]
        pub chain: Cow<'a, str>,
        #[serde(borrow, default)]
        pub comment: Option<Cow<'a, str>>,
        #[serde(default)]
        pub expr: Vec<Expr>,
    }

    #[derive(Deserialize)]
    pub struct Expr {
        #[serde(default)]
        pub counter: Option<CounterExpr>,
    }

    /// An anonymous counter's values; anything else (a named counter's reference) counts
    /// nothing here.
    #[derive(Deserialize)]
    #[serde(untagged)]
    pub enum CounterExpr {
        Anonymous {
            #[serde(default)]
            packets: u64,
            #[serde(default)]
            bytes: u64,
        },
        Other(IgnoredAny),
    }
}

/// Reads the counters of our table.
fn parse_counters(json: &str) -> Result<Counted> {
    use listing::CounterExpr;
    let doc: listing::Doc<'_> =
        serde_json::from_str(json).map_err(|e| Error::Nft(format!("nft -j output: {e}")))?;
    let mut out = Counted::default();
    for rule in doc.nftables.into_iter().filter_map(|i| i.rule) {
        let (mut packets, mut bytes) = (0u64, 0u64);
        for c in rule.expr.iter().filter_map(|e| e.counter.as_ref()) {
            if let CounterExpr::Anonymous {
                packets: p,
                bytes: b,
            } = c
            {
                packets = packets.saturating_add(*p);
                bytes = bytes.saturating_add(*b);
            }
        }
        let e = out.by_chain.entry(rule.chain.into_owned()).or_default();
        *e = e.saturating_add(packets);
        if let Some(c) = rule.comment {
            let e = out.by_comment.entry(c.into_owned()).or_default();
            e.0 = e.0.saturating_add(packets);
            e.1 = e.1.saturating_add(bytes);
        }
    }
    Ok(out)
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

/// The counters of `rs`'s rules by what they count.
fn attribute(rs: &Ruleset, counted: &Counted) -> Carried {
    Carried {
        conns: rs
            .chains
            .iter()
            .filter_map(|(c, k)| counted.by_chain.get(c).map(|n| (*k, *n)))
            .collect(),
        traffic: rs
            .traffic
            .iter()
            .filter_map(|(c, k)| counted.by_comment.get(c).map(|n| (*k, *n)))
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
            traffic: traffic_match(key).is_some(),
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
        let json = nft(&["-j", "list", "table", "inet", TABLE], None).await?;
        Ok(attribute(rs, &parse_counters(&json)?))
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

    #[test]
    fn renders_nat_service_with_weights() {
        let mut t = Table::new();
        t.services.insert(
            key("192.0.2.100", 80),
            svc(
                "wrr",
                &[
                    ("198.51.100.10", 8080, 3, Forwarding::Nat),
                    ("198.51.100.11", 8080, 1, Forwarding::Nat),
                    ("198.51.100.12", 8080, 0, Forwarding::Nat),
                ],
            ),
        );
        let rs = render(&t);
        assert!(rs.refused.is_empty(), "{:?}", rs.refused);
        assert!(
            rs.text
                .contains("ip daddr 192.0.2.100 tcp dport 80 goto s0"),
            "{}",
            rs.text
        );
        assert!(rs.text.contains(
            "numgen inc mod 4 vmap { 0 : goto s0d0, 1 : goto s0d0, 2 : goto s0d1, 3 : goto s0d0 }"
        ));
        assert!(rs
            .text
            .contains("meta l4proto tcp counter dnat ip to 198.51.100.10:8080"));
        // Weight 0: a chain (counters, as IPVS keeps the destination) but no slot.
        assert!(rs
            .text
            .contains("chain s0d2 {\n    meta l4proto tcp counter dnat ip to 198.51.100.12:8080"));
        assert!(!rs.text.contains(": goto s0d2"));
        assert_eq!(rs.chains.len(), 3);
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
        assert!(rs.text.contains("numgen inc mod 2 vmap"), "{}", rs.text);
        assert!(rs.text.contains("dnat ip6 to [2001:db8::10]:80"));
        assert!(rs
            .text
            .contains("jhash ip6 saddr & ffff:ffff:ffff:ffff:: mod 6 vmap"));
        assert!(rs.text.contains("meta mark 0x7 meta nfproto ipv4 goto s2"));
        // fo: the highest weight only; no port: the client's port is kept.
        assert!(rs
            .text
            .contains("numgen random mod 1 vmap { 0 : goto s2d1 }"));
        assert!(rs
            .text
            .contains("chain s2d1 {\n    counter dnat ip to 198.51.100.11\n"));
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
        let j = r#"{"nftables":[{"metainfo":{}},{"table":{"family":"inet","name":"keepalived_rs"}},
          {"rule":{"family":"inet","table":"keepalived_rs","chain":"s0d0","handle":5,
           "expr":[{"counter":{"packets":7,"bytes":420}},{"dnat":{}}]}},
          {"rule":{"family":"inet","table":"keepalived_rs","chain":"s0d1","handle":6,
           "expr":[{"counter":{"packets":2,"bytes":120}},{"counter":"named"},{"counter":null}]}},
          {"rule":{"family":"inet","table":"keepalived_rs","chain":"stats_postrouting","handle":7,
           "comment":"s0 out","expr":[{"match":{}},{"counter":{"packets":10,"bytes":5000}}]}},
          {"rule":{"family":"inet","table":"keepalived_rs","chain":"stats_input","handle":8,
           "comment":"s0 out","expr":[{"counter":{"packets":3,"bytes":300}}]}}]}"#;
        let c = parse_counters(j).unwrap();
        assert_eq!(c.by_chain.get("s0d0"), Some(&7));
        assert_eq!(c.by_chain.get("s0d1"), Some(&2));
        // Rules with the same comment add up (postrouting and input replies).
        assert_eq!(c.by_comment.get("s0 out"), Some(&(13, 5300)));
        assert_eq!(c.by_comment.len(), 1);
        assert!(parse_counters("{}").is_err());
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
        assert!(rs.text.contains("    meta l4proto tcp ct original ip daddr 192.0.2.100 ct original proto-dst 80 ct direction original counter comment \"s0 in\"\n"), "{}", rs.text);
        assert!(
            rs.text
                .contains("ct original proto-dst 80 ct direction reply counter comment \"s0 out\""),
            "{}",
            rs.text
        );
        assert!(rs.text.contains("chain stats_input {\n    type filter hook input priority 0; policy accept;\n    meta l4proto tcp ct original ip daddr 192.0.2.100 ct original proto-dst 80 ct direction reply counter comment \"s0 out\"\n  }"), "{}", rs.text);
        assert_eq!(
            rs.traffic.len(),
            2,
            "no traffic counters for fwmark: {:?}",
            rs.traffic
        );
        assert_eq!(rs.traffic.get("s0 in"), Some(&(s4, false)));

        let counted = Counted {
            by_chain: [("s0d0".to_string(), 5), ("s0d1".to_string(), 4)].into(),
            by_comment: [
                ("s0 in".to_string(), (50, 4000)),
                ("s0 out".to_string(), (40, 90000)),
            ]
            .into(),
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
