//! The virtual-server table of `keepalived-rs status`, as `ipvsadm -Ln` and
//! `ipvsadm -Ln --stats --exact` show it, for either data plane.
//!
//! # JSON shape (the `virtual_servers` member of the status; fields are only added)
//!
//! ```text
//! "virtual_servers": {
//!   "backend": "ipvs",                 // ipvs | nftables
//!   "version": "1.2.1", "conn_table_size": 4096,   // IPVS only
//!   "changes_sent": 3,                 // IPVS: service/destination requests sent since start
//!   "error": null,                     // why the table could not be read
//!   "services": [{
//!     "protocol": "TCP",               // TCP | UDP | SCTP | FWM
//!     "address": "192.0.2.100:80",     // ipvsadm's text; the mark for FWM ("1", "1 IPv6")
//!     "family": "ipv4", "scheduler": "wrr",
//!     "flags": ["persistent 50", "mask 255.255.255.0"],   // ipvsadm's words
//!     "owned": true,                   // managed by this daemon (false: another program's)
//!     "stats": {"conns": 12, "inpkts": 70, "outpkts": 50, "inbytes": 4200, "outbytes": 6100},
//!     "destinations": [{"address": "198.51.100.10:8080", "forward": "Masq", "weight": 2,
//!                       "active_conns": 0, "inactive_conns": 8, "stats": {...}}]
//!   }]
//! }
//! ```
//!
//! The nftables data plane counts connections scheduled per destination, and packets
//! and bytes per address service (by the conntrack original tuple); per-destination
//! packets and bytes, fwmark services' packets and bytes and the active/inactive
//! connection counts are `null` (`-` in the text).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use ka_lb::{DestKey, Family, Forwarding, Owned, Protocol, ServiceAttrs, ServiceKey, Table};
use ka_sys::ipvs::{DestEntry, Info, ServiceEntry, Stats};
use serde::{Deserialize, Serialize};

/// The data plane's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LbStatus {
    /// `ipvs` or `nftables`.
    pub backend: String,
    /// IPVS version (`1.2.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// IPVS connection table size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn_table_size: Option<u32>,
    /// IPVS: change requests sent since start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes_sent: Option<u64>,
    /// Why the table could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Services in key order (IPVS: every service of the kernel, ours or not).
    pub services: Vec<ServiceRow>,
}

/// One virtual service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRow {
    /// `TCP`, `UDP`, `SCTP` or `FWM`.
    pub protocol: String,
    /// ipvsadm's `LocalAddress:Port` (or the mark).
    pub address: String,
    /// `ipv4` or `ipv6`.
    pub family: String,
    /// Scheduler.
    pub scheduler: String,
    /// ipvsadm's flag words.
    pub flags: Vec<String>,
    /// Managed by this daemon.
    pub owned: bool,
    /// Counters.
    pub stats: Counters,
    /// Destinations in key order.
    pub destinations: Vec<DestRow>,
}

/// One destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestRow {
    /// ipvsadm's `RemoteAddress:Port`.
    pub address: String,
    /// `Masq`, `Local`, `Tunnel` or `Route`.
    pub forward: String,
    /// Weight.
    pub weight: u32,
    /// Active connections (IPVS).
    pub active_conns: Option<u32>,
    /// Inactive connections (IPVS).
    pub inactive_conns: Option<u32>,
    /// Counters.
    pub stats: Counters,
}

/// `ipvsadm --stats` counters; `None` where the data plane does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counters {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets in.
    pub inpkts: Option<u64>,
    /// Packets out.
    pub outpkts: Option<u64>,
    /// Bytes in.
    pub inbytes: Option<u64>,
    /// Bytes out.
    pub outbytes: Option<u64>,
}

impl Counters {
    fn of(s: &Stats) -> Counters {
        Counters {
            conns: s.conns,
            inpkts: Some(s.inpkts),
            outpkts: Some(s.outpkts),
            inbytes: Some(s.inbytes),
            outbytes: Some(s.outbytes),
        }
    }
}

fn addr_port(a: &IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(v) => format!("{v}:{port}"),
        IpAddr::V6(v) => format!("[{v}]:{port}"),
    }
}

fn family_name(f: Family) -> String {
    match f {
        Family::Inet => "ipv4",
        Family::Inet6 => "ipv6",
    }
    .to_owned()
}

/// Protocol and address as ipvsadm prints them.
fn service_id(k: &ServiceKey) -> (String, String) {
    match k {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => (
            match protocol {
                Protocol::Tcp => "TCP",
                Protocol::Udp => "UDP",
                Protocol::Sctp => "SCTP",
            }
            .to_owned(),
            addr_port(addr, *port),
        ),
        ServiceKey::Fwmark { family, mark } => (
            "FWM".to_owned(),
            match family {
                Family::Inet => mark.to_string(),
                Family::Inet6 => format!("{mark} IPv6"),
            },
        ),
    }
}

/// ipvsadm's words after the scheduler.
fn flag_words(k: &ServiceKey, a: &ServiceAttrs) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(p) = &a.persistence {
        v.push(format!("persistent {}", p.timeout_s));
        match k.family() {
            Family::Inet if p.prefix < 32 => {
                let m = if p.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(p.prefix))
                };
                v.push(format!("mask {}", std::net::Ipv4Addr::from(m)));
            }
            Family::Inet6 if p.prefix < 128 => v.push(format!("mask {}", p.prefix)),
            _ => {}
        }
        if let Some(e) = &p.engine {
            v.push(format!("pe {e}"));
        }
    }
    let f = &a.flags;
    if f.one_packet {
        v.push("ops".to_owned());
    }
    let names: [&str; 3] = match a.scheduler.as_str() {
        "sh" => ["sh-fallback", "sh-port", "flag-3"],
        "mh" => ["mh-fallback", "mh-port", "flag-3"],
        _ => ["flag-1", "flag-2", "flag-3"],
    };
    for (on, n) in [f.sched_flag_1, f.sched_flag_2, f.sched_flag_3]
        .into_iter()
        .zip(names)
    {
        if on {
            v.push(n.to_owned());
        }
    }
    v
}

fn forward_name(f: &Forwarding) -> &'static str {
    match f {
        Forwarding::Nat => "Masq",
        Forwarding::Dr => "Route",
        Forwarding::Tun { .. } => "Tunnel",
    }
}

impl LbStatus {
    /// A table that could not be read.
    pub fn error(backend: &str, error: String) -> LbStatus {
        LbStatus {
            backend: backend.to_owned(),
            version: None,
            conn_table_size: None,
            changes_sent: None,
            error: Some(error),
            services: Vec::new(),
        }
    }

    /// The kernel's IPVS table (every service, `owned` marking ours).
    pub fn from_ipvs(
        info: Option<Info>,
        services: &[(ServiceEntry, Vec<DestEntry>)],
        owned: &Owned,
        changes_sent: u64,
    ) -> LbStatus {
        let mut rows: Vec<(ServiceKey, ServiceRow)> = services
            .iter()
            .map(|(s, dests)| {
                let (protocol, address) = service_id(&s.key);
                let mut dests: Vec<&DestEntry> = dests.iter().collect();
                dests.sort_by_key(|d| d.key);
                (
                    s.key,
                    ServiceRow {
                        protocol,
                        address,
                        family: family_name(s.key.family()),
                        scheduler: s.attrs.scheduler.clone(),
                        flags: flag_words(&s.key, &s.attrs),
                        owned: owned.contains(&s.key),
                        stats: Counters::of(&s.stats),
                        destinations: dests
                            .into_iter()
                            .map(|d| DestRow {
                                address: addr_port(&d.key.addr, d.key.port),
                                forward: match d.fwd_raw {
                                    1 => "Local",
                                    _ => forward_name(&d.dest.forwarding),
                                }
                                .to_owned(),
                                weight: d.dest.weight,
                                active_conns: Some(d.active_conns),
                                inactive_conns: Some(d.inactive_conns),
                                stats: Counters::of(&d.stats),
                            })
                            .collect(),
                    },
                )
            })
            .collect();
        rows.sort_by_key(|(k, _)| *k);
        LbStatus {
            backend: "ipvs".to_owned(),
            version: info.map(|i| {
                format!(
                    "{}.{}.{}",
                    (i.version >> 16) & 0xff,
                    (i.version >> 8) & 0xff,
                    i.version & 0xff
                )
            }),
            conn_table_size: info.map(|i| i.conn_tab_size),
            changes_sent: Some(changes_sent),
            error: None,
            services: rows.into_iter().map(|(_, r)| r).collect(),
        }
    }

    /// The nftables table with its per-destination connection counts.
    pub fn from_nft(table: &Table, conns: &BTreeMap<(ServiceKey, DestKey), u64>) -> LbStatus {
        let services = table
            .services
            .iter()
            .map(|(k, s)| {
                let (protocol, address) = service_id(k);
                let destinations: Vec<DestRow> = s
                    .dests
                    .iter()
                    .map(|(dk, d)| DestRow {
                        address: addr_port(&dk.addr, dk.port),
                        forward: forward_name(&d.forwarding).to_owned(),
                        weight: d.weight,
                        active_conns: None,
                        inactive_conns: None,
                        stats: Counters {
                            conns: conns.get(&(*k, *dk)).copied().unwrap_or(0),
                            ..Counters::default()
                        },
                    })
                    .collect();
                ServiceRow {
                    protocol,
                    address,
                    family: family_name(k.family()),
                    scheduler: s.attrs.scheduler.clone(),
                    flags: flag_words(k, &s.attrs),
                    owned: true,
                    stats: Counters {
                        // Destinations removed since keep their share.
                        conns: conns
                            .iter()
                            .filter(|((sk, _), _)| sk == k)
                            .map(|(_, n)| n)
                            .sum(),
                        ..Counters::default()
                    },
                    destinations,
                }
            })
            .collect();
        LbStatus {
            backend: "nftables".to_owned(),
            version: None,
            conn_table_size: None,
            changes_sent: None,
            error: None,
            services,
        }
    }

    /// The nftables table with its counters: connections per destination, and packets
    /// and bytes per address service (not counted for fwmark services).
    pub fn from_nft_stats(table: &Table, stats: &ka_sys::nft::Stats) -> LbStatus {
        let mut st = LbStatus::from_nft(table, &stats.dests);
        for (row, (_, s)) in st.services.iter_mut().zip(&stats.services) {
            if s.traffic {
                row.stats.inpkts = Some(s.in_pkts);
                row.stats.outpkts = Some(s.out_pkts);
                row.stats.inbytes = Some(s.in_bytes);
                row.stats.outbytes = Some(s.out_bytes);
            }
        }
        st
    }

    /// The text of `status`: `ipvsadm -Ln`, then `ipvsadm -Ln --stats --exact`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "virtual servers ({} backend", self.backend);
        if let Some(v) = &self.version {
            let _ = write!(out, "; IP Virtual Server version {v}");
        }
        if let Some(n) = self.conn_table_size {
            let _ = write!(out, ", size={n}");
        }
        out.push_str("):\n");
        if let Some(e) = &self.error {
            let _ = writeln!(out, "  {e}");
            return out;
        }
        if self.services.is_empty() {
            out.push_str("  none\n");
            return out;
        }
        let opt = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
        let opt32 = |v: Option<u32>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
        out.push_str("Prot LocalAddress:Port Scheduler Flags\n");
        out.push_str("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
        for s in &self.services {
            let mut line = format!("{:<4} {} {}", s.protocol, s.address, s.scheduler);
            for f in &s.flags {
                line.push(' ');
                line.push_str(f);
            }
            if !s.owned {
                line.push_str("  (not managed by keepalived-rs)");
            }
            let _ = writeln!(out, "{line}");
            for d in &s.destinations {
                let _ = writeln!(
                    out,
                    "  -> {:<28} {:<7} {:<6} {:<10} {}",
                    d.address,
                    d.forward,
                    d.weight,
                    opt32(d.active_conns),
                    opt32(d.inactive_conns)
                );
            }
        }
        out.push('\n');
        out.push_str(
            "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n",
        );
        out.push_str("  -> RemoteAddress:Port\n");
        let counters = |c: &Counters| {
            format!(
                "{:>8} {:>8} {:>8} {:>8} {:>8}",
                c.conns,
                opt(c.inpkts),
                opt(c.outpkts),
                opt(c.inbytes),
                opt(c.outbytes)
            )
        };
        for s in &self.services {
            let id = format!("{:<4} {}", s.protocol, s.address);
            let _ = writeln!(out, "{id:<33} {}", counters(&s.stats));
            for d in &s.destinations {
                let _ = writeln!(out, "  -> {:<28} {}", d.address, counters(&d.stats));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_lb::{Dest, Persistence, Service, ServiceFlags};

    fn key() -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "192.0.2.100".parse().unwrap(),
            port: 80,
        }
    }

    fn dk(a: &str) -> DestKey {
        DestKey {
            addr: a.parse().unwrap(),
            port: 8080,
        }
    }

    fn table() -> Table {
        let mut t = Table::new();
        let d = |w| Dest {
            weight: w,
            forwarding: Forwarding::Nat,
            upper_threshold: 0,
            lower_threshold: 0,
        };
        t.services.insert(
            key(),
            Service {
                attrs: ServiceAttrs {
                    scheduler: "wrr".into(),
                    flags: ServiceFlags::default(),
                    persistence: Some(Persistence {
                        timeout_s: 50,
                        prefix: 24,
                        engine: None,
                    }),
                },
                dests: [(dk("198.51.100.10"), d(2)), (dk("198.51.100.20"), d(1))]
                    .into_iter()
                    .collect(),
            },
        );
        t
    }

    #[test]
    fn nft_rows_sum_destination_counts_and_leave_the_rest_unknown() {
        let mut conns = BTreeMap::new();
        conns.insert((key(), dk("198.51.100.10")), 6);
        conns.insert((key(), dk("198.51.100.20")), 3);
        // A destination removed earlier still counts for its service.
        conns.insert((key(), dk("198.51.100.30")), 1);
        let s = LbStatus::from_nft(&table(), &conns);
        assert_eq!(s.services.len(), 1);
        let svc = &s.services[0];
        assert_eq!(svc.protocol, "TCP");
        assert_eq!(svc.address, "192.0.2.100:80");
        assert_eq!(svc.flags, ["persistent 50", "mask 255.255.255.0"]);
        assert_eq!(svc.stats.conns, 10);
        assert_eq!(svc.stats.inpkts, None);
        assert_eq!(svc.destinations[0].stats.conns, 6);
        assert_eq!(svc.destinations[1].weight, 1);
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["backend"], "nftables");
        assert!(j["services"][0]["destinations"][0]["active_conns"].is_null());
        let text = s.render();
        assert!(
            text.contains("TCP  192.0.2.100:80 wrr persistent 50 mask 255.255.255.0\n"),
            "{text}"
        );
        assert!(
            text.contains("  -> 198.51.100.10:8080           Masq    2      -          -\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "TCP  192.0.2.100:80                     10        -        -        -        -\n"
            ),
            "{text}"
        );
        let back: LbStatus = serde_json::from_value(j).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn ipvs_rows_keep_kernel_counters_and_ownership() {
        let t = table();
        let svc = &t.services[&key()];
        let stats = |n: u64| Stats {
            conns: n,
            inpkts: n * 6,
            outpkts: n * 5,
            inbytes: n * 400,
            outbytes: n * 500,
            ..Stats::default()
        };
        let entry = ServiceEntry {
            key: key(),
            attrs: svc.attrs.clone(),
            flags_raw: 0,
            stats: stats(3),
        };
        let dests: Vec<DestEntry> = svc
            .dests
            .iter()
            .rev()
            .map(|(k, d)| DestEntry {
                key: *k,
                dest: *d,
                fwd_raw: 0,
                active_conns: 1,
                inactive_conns: 2,
                persistent_conns: 0,
                stats: stats(1),
            })
            .collect();
        let s = LbStatus::from_ipvs(
            Some(Info {
                version: 0x010201,
                conn_tab_size: 4096,
            }),
            &[(entry, dests)],
            &Owned::new(),
            7,
        );
        assert_eq!(s.version.as_deref(), Some("1.2.1"));
        assert_eq!(s.changes_sent, Some(7));
        let row = &s.services[0];
        assert!(!row.owned);
        assert_eq!(row.destinations[0].address, "198.51.100.10:8080", "sorted");
        assert_eq!(row.stats.inbytes, Some(1200));
        let text = s.render();
        assert!(text.contains("(not managed by keepalived-rs)"), "{text}");
        assert!(
            text.contains(
                "  -> 198.51.100.20:8080                  1        6        5      400      500\n"
            ),
            "{text}"
        );
    }
}
