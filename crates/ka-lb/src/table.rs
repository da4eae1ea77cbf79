//! The backend-neutral load-balancer table: virtual services and their destinations.
//!
//! The same model describes what the configuration asks for ([`crate::desired()`]) and
//! what a data plane holds (the IPVS or nftables backend reads its state back into a
//! [`Table`]), so [`crate::diff()`] can compare them. Every value is what the kernel
//! is given: ports as numbers (0 = none), weights already decided, schedulers by name.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4.
    Inet,
    /// IPv6.
    Inet6,
}

impl Family {
    /// The family of an address.
    pub fn of(a: &IpAddr) -> Self {
        if a.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        }
    }
    /// The longest prefix of the family (32 or 128).
    pub fn max_prefix(self) -> u8 {
        match self {
            Family::Inet => 32,
            Family::Inet6 => 128,
        }
    }
}

impl From<ka_model::lvs::IpFamily> for Family {
    fn from(f: ka_model::lvs::IpFamily) -> Self {
        match f {
            ka_model::lvs::IpFamily::Inet => Family::Inet,
            ka_model::lvs::IpFamily::Inet6 => Family::Inet6,
        }
    }
}

/// The L4 protocol of an address-based service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl From<ka_model::lvs::Protocol> for Protocol {
    fn from(p: ka_model::lvs::Protocol) -> Self {
        match p {
            ka_model::lvs::Protocol::Tcp => Protocol::Tcp,
            ka_model::lvs::Protocol::Udp => Protocol::Udp,
            ka_model::lvs::Protocol::Sctp => Protocol::Sctp,
        }
    }
}

/// What identifies a virtual service in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKey {
    /// Protocol, virtual address and port (0: any port, persistent services only).
    Addr {
        /// The protocol.
        protocol: Protocol,
        /// The virtual address.
        addr: IpAddr,
        /// The port, 0 for none.
        port: u16,
    },
    /// A firewall mark and a family.
    Fwmark {
        /// The family.
        family: Family,
        /// The mark (1..).
        mark: u32,
    },
}

impl ServiceKey {
    /// The family of the service.
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { addr, .. } => Family::of(addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
}

impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceKey::Addr {
                protocol,
                addr: IpAddr::V6(a),
                port,
            } => write!(f, "[{a}]:{port}/{protocol:?}"),
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => write!(f, "{addr}:{port}/{protocol:?}"),
            ServiceKey::Fwmark { family, mark } => write!(f, "FWM {mark}/{family:?}"),
        }
    }
}

/// IPVS service flags other than "persistent" (which [`ServiceAttrs::persistence`] implies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
pub struct ServiceFlags {
    /// Scheduler flag 1 (`flag-1`, `sh-fallback`, `mh-fallback`).
    pub sched_flag_1: bool,
    /// Scheduler flag 2 (`flag-2`, `sh-port`, `mh-port`).
    pub sched_flag_2: bool,
    /// Scheduler flag 3 (`flag-3`).
    pub sched_flag_3: bool,
    /// One-packet scheduling (`ops`).
    pub one_packet: bool,
    /// `hashed`.
    pub hashed: bool,
}

impl From<ka_model::lvs::ServiceFlags> for ServiceFlags {
    fn from(f: ka_model::lvs::ServiceFlags) -> Self {
        Self {
            sched_flag_1: f.sched_flag_1,
            sched_flag_2: f.sched_flag_2,
            sched_flag_3: f.sched_flag_3,
            one_packet: f.one_packet,
            hashed: f.hashed,
        }
    }
}

/// Persistence of a service (IPVS sets its "persistent" flag with these).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Persistence {
    /// Timeout in seconds (`persistence_timeout`).
    pub timeout_s: u32,
    /// Client address granularity as a prefix length (`persistence_granularity`;
    /// 32 or 128 when not given). IPv4 backends send it as a netmask.
    pub prefix: u8,
    /// Persistence engine (`persistence_engine`, only `sip` exists).
    pub engine: Option<String>,
}

/// Everything about a service but its key and destinations; all of it can be edited in place.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceAttrs {
    /// The scheduler's name as IPVS knows it (`wlc`, `rr`, `mh`, ...). A string so a
    /// table read from the kernel keeps schedulers this crate does not know.
    pub scheduler: String,
    /// Flags.
    pub flags: ServiceFlags,
    /// Persistence, if any.
    pub persistence: Option<Persistence>,
}

/// The tunnel encapsulation of TUN forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TunnelType {
    /// IP in IP.
    Ipip,
    /// Generic UDP encapsulation to a port.
    Gue {
        /// Destination UDP port.
        port: u16,
    },
    /// GRE.
    Gre,
}

/// Tunnel checksum option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelChecksum {
    /// No checksum.
    NoCsum,
    /// Checksum.
    Csum,
    /// Remote checksum offload.
    RemCsum,
}

/// How packets reach a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Forwarding {
    /// Masquerading (NAT).
    Nat,
    /// Direct routing.
    Dr,
    /// Tunnelling.
    Tun {
        /// Encapsulation.
        kind: TunnelType,
        /// Checksum option.
        checksum: TunnelChecksum,
    },
}

impl From<ka_model::lvs::Forwarding> for Forwarding {
    fn from(f: ka_model::lvs::Forwarding) -> Self {
        use ka_model::lvs as m;
        match f {
            m::Forwarding::Nat => Forwarding::Nat,
            m::Forwarding::Dr => Forwarding::Dr,
            m::Forwarding::Tun { kind, checksum } => Forwarding::Tun {
                kind: match kind {
                    m::TunnelType::Ipip => TunnelType::Ipip,
                    m::TunnelType::Gue { port } => TunnelType::Gue { port },
                    m::TunnelType::Gre => TunnelType::Gre,
                },
                checksum: match checksum {
                    m::TunnelChecksum::NoCsum => TunnelChecksum::NoCsum,
                    m::TunnelChecksum::Csum => TunnelChecksum::Csum,
                    m::TunnelChecksum::RemCsum => TunnelChecksum::RemCsum,
                },
            },
        }
    }
}

/// What identifies a destination within its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DestKey {
    /// The real server's address (may differ in family from the service with TUN).
    pub addr: IpAddr,
    /// Its port (0: the packet's own port).
    pub port: u16,
}

impl std::fmt::Display for DestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.addr {
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
        }
    }
}

/// A destination's attributes; all of them can be edited in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dest {
    /// IPVS weight, 0..=i32::MAX; 0 keeps the destination without new connections.
    pub weight: u32,
    /// Forwarding method.
    pub forwarding: Forwarding,
    /// `uthreshold`: connection count above which no new connection is sent (0: none).
    pub upper_threshold: u32,
    /// `lthreshold`: count below which the destination is used again (0: none).
    pub lower_threshold: u32,
}

/// A virtual service with its destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Scheduler, flags, persistence.
    pub attrs: ServiceAttrs,
    /// Destinations by key.
    #[serde(with = "pairs")]
    pub dests: BTreeMap<DestKey, Dest>,
}

/// A whole table. Ordered maps: iteration, diffs and dumps are deterministic.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Table {
    /// Services by key.
    #[serde(with = "pairs")]
    pub services: BTreeMap<ServiceKey, Service>,
}

impl Table {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of destinations over all services.
    pub fn dest_count(&self) -> usize {
        self.services.values().map(|s| s.dests.len()).sum()
    }
    /// The destination `dest` of `service`, if present.
    pub fn dest(&self, service: &ServiceKey, dest: &DestKey) -> Option<&Dest> {
        self.services.get(service).and_then(|s| s.dests.get(dest))
    }
    /// Applies one operation as a data plane would, refusing what the kernel refuses
    /// (adding what exists, editing or deleting what does not, deleting a service that
    /// still has destinations — IPVS would accept that one, but [`crate::diff()`] never
    /// asks for it, and refusing it lets tests check the order).
    pub fn apply(&mut self, op: &Op) -> Result<(), ApplyError> {
        match op {
            Op::AddService { key, attrs } => {
                if self.services.contains_key(key) {
                    return Err(ApplyError::ServiceExists(*key));
                }
                self.services.insert(
                    *key,
                    Service {
                        attrs: attrs.clone(),
                        dests: BTreeMap::new(),
                    },
                );
            }
            Op::EditService { key, attrs } => {
                let s = self
                    .services
                    .get_mut(key)
                    .ok_or(ApplyError::NoService(*key))?;
                s.attrs = attrs.clone();
            }
            Op::DelService { key } => {
                let s = self.services.get(key).ok_or(ApplyError::NoService(*key))?;
                if !s.dests.is_empty() {
                    return Err(ApplyError::ServiceNotEmpty(*key));
                }
                self.services.remove(key);
            }
            Op::AddDest {
                service,
                dest,
                params,
            } => {
                let s = self
                    .services
                    .get_mut(service)
                    .ok_or(ApplyError::NoService(*service))?;
                if s.dests.contains_key(dest) {
                    return Err(ApplyError::DestExists(*service, *dest));
                }
                s.dests.insert(*dest, *params);
            }
            Op::EditDest {
                service,
                dest,
                params,
            } => {
                let d = self
                    .services
                    .get_mut(service)
                    .ok_or(ApplyError::NoService(*service))?
                    .dests
                    .get_mut(dest)
                    .ok_or(ApplyError::NoDest(*service, *dest))?;
                *d = *params;
            }
            Op::DelDest { service, dest } => {
                self.services
                    .get_mut(service)
                    .ok_or(ApplyError::NoService(*service))?
                    .dests
                    .remove(dest)
                    .ok_or(ApplyError::NoDest(*service, *dest))?;
            }
        }
        Ok(())
    }
}

/// An `ipvsadm -Ln`-like listing, one service per line followed by its destinations.
impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (k, s) in &self.services {
            write!(f, "{k} {}", s.attrs.scheduler)?;
            let fl = &s.attrs.flags;
            for (on, name) in [
                (fl.sched_flag_1, "flag-1"),
                (fl.sched_flag_2, "flag-2"),
                (fl.sched_flag_3, "flag-3"),
                (fl.one_packet, "ops"),
                (fl.hashed, "hashed"),
            ] {
                if on {
                    write!(f, " {name}")?;
                }
            }
            if let Some(p) = &s.attrs.persistence {
                write!(f, " persistent {} /{}", p.timeout_s, p.prefix)?;
                if let Some(e) = &p.engine {
                    write!(f, " pe {e}")?;
                }
            }
            writeln!(f)?;
            for (dk, d) in &s.dests {
                let fwd = match d.forwarding {
                    Forwarding::Nat => "Masq".to_string(),
                    Forwarding::Dr => "Route".to_string(),
                    Forwarding::Tun { kind, checksum } => {
                        let k = match kind {
                            TunnelType::Ipip => "ipip".to_string(),
                            TunnelType::Gue { port } => format!("gue:{port}"),
                            TunnelType::Gre => "gre".to_string(),
                        };
                        format!("Tunnel({k},{checksum:?})")
                    }
                };
                write!(f, "  -> {dk} {fwd} {}", d.weight)?;
                if d.upper_threshold != 0 || d.lower_threshold != 0 {
                    write!(f, " u{} l{}", d.upper_threshold, d.lower_threshold)?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

/// One change to a data plane, as produced by [`crate::diff()`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Op {
    /// Create a service (without destinations).
    AddService {
        /// The service.
        key: ServiceKey,
        /// Its attributes.
        attrs: ServiceAttrs,
    },
    /// Change a service's scheduler, flags or persistence in place.
    EditService {
        /// The service.
        key: ServiceKey,
        /// Its new attributes.
        attrs: ServiceAttrs,
    },
    /// Remove a service (its destinations are removed first).
    DelService {
        /// The service.
        key: ServiceKey,
    },
    /// Add a destination to a service.
    AddDest {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: DestKey,
        /// Its attributes.
        params: Dest,
    },
    /// Change a destination's weight, forwarding or thresholds in place.
    EditDest {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: DestKey,
        /// Its new attributes.
        params: Dest,
    },
    /// Remove a destination.
    DelDest {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: DestKey,
    },
}

/// Why [`Table::apply`] refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The service already exists.
    #[error("service {0} already exists")]
    ServiceExists(ServiceKey),
    /// No such service.
    #[error("no service {0}")]
    NoService(ServiceKey),
    /// The service still has destinations.
    #[error("service {0} still has destinations")]
    ServiceNotEmpty(ServiceKey),
    /// The destination already exists.
    #[error("destination {1} of service {0} already exists")]
    DestExists(ServiceKey, DestKey),
    /// No such destination.
    #[error("no destination {1} in service {0}")]
    NoDest(ServiceKey, DestKey),
}

/// The services this process manages and may therefore delete. Services of other
/// owners (another keepalived, an operator's `ipvsadm`) are never deleted; a service
/// that [`crate::desired()`] asks for is managed whoever created it, and becomes owned
/// once applied. The daemon keeps this set across reloads with [`Owned::update`], or
/// persists it; it is serialisable for that.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Owned(pub BTreeSet<ServiceKey>);

impl Owned {
    /// No service owned.
    pub fn new() -> Self {
        Self::default()
    }
    /// Every service of a table (typically: the desired table just applied).
    pub fn of(table: &Table) -> Self {
        Self(table.services.keys().copied().collect())
    }
    /// Whether a service is owned.
    pub fn contains(&self, key: &ServiceKey) -> bool {
        self.0.contains(key)
    }
    /// Records the effect of applying `ops` (from [`crate::diff()`] towards `desired`):
    /// every service of `desired` is now managed (created or adopted), services
    /// deleted stop being owned.
    pub fn update(&mut self, desired: &Table, ops: &[Op]) {
        for op in ops {
            if let Op::DelService { key } = op {
                self.0.remove(key);
            }
        }
        self.0.extend(desired.services.keys().copied());
    }
}

/// Serialises a map with structured keys as a list of `[key, value]` pairs (JSON maps
/// only take string keys).
pub(crate) mod pairs {
    use serde::de::Deserialize;
    use serde::{Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        m: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        let v: Vec<(K, V)> = Vec::deserialize(d)?;
        Ok(v.into_iter().collect())
    }
}
