//! The desired table as a function of the configuration, the checker verdicts, the
//! quorum state and the addresses this host holds; the quorum state machine.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ka_check::{Event, RealServerId};
use ka_model::lvs::{
    LvsConfig, RealServer, Script, VirtualServer, VirtualServerGroup, VsAddress, VsgEntry, Weight,
};
use serde::{Deserialize, Serialize};

use crate::table::{
    Dest, DestKey, Family, Forwarding, Persistence, Protocol, Service, ServiceAttrs, ServiceKey,
    Table,
};

/// keepalived's persistence timeout when a port-less service must be persistent.
pub const DEFAULT_PERSISTENCE_S: u32 = 360;
/// Most addresses one `virtual_server_group` range may expand to.
pub const MAX_RANGE_ADDRESSES: u128 = 65_536;
/// Most services a table may hold.
pub const MAX_SERVICES: usize = 1 << 20;

/// The addresses this host holds now (VRRP VIPs and static addresses), for `ha_suspend`.
pub type Vips = BTreeSet<IpAddr>;

/// What `ha_suspend` does to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HaSuspend {
    /// keepalived 2.2.7: `ha_suspend` only suspends the health checkers while the
    /// virtual address is absent (`update_checker_activity`); the services stay
    /// installed (a backup keeps its IPVS table ready for a takeover). The table
    /// ignores the VIPs.
    #[default]
    ChecksOnly,
    /// The services of a virtual server with `ha_suspend` exist only while their
    /// virtual address is held (per address for a group; fwmark services, where
    /// keepalived refuses `ha_suspend`, are not affected).
    GateServices,
}

/// Policy choices of [`desired()`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Options {
    /// What `ha_suspend` does.
    pub ha_suspend: HaSuspend,
}

/// Why no table could be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LbError {
    /// A virtual server names a group that does not exist.
    #[error("virtual server {vs}: no virtual_server_group `{group}`")]
    UnknownGroup {
        /// The virtual server.
        vs: String,
        /// The group name.
        group: String,
    },
    /// A group range expands to too many addresses.
    #[error("virtual server {vs}: a group range holds {count} addresses, more than {max}")]
    RangeTooLarge {
        /// The virtual server.
        vs: String,
        /// Addresses in the range.
        count: u128,
        /// The limit ([`MAX_RANGE_ADDRESSES`]).
        max: u128,
    },
    /// The table would exceed [`MAX_SERVICES`].
    #[error("the configuration expands to more than {0} services")]
    TooManyServices(usize),
}

/// What the checkers said about one real server. `None` fields take the
/// configuration's value (see [`Verdicts::get`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RsVerdict {
    /// Whether it is in the pool (all its checkers pass).
    pub alive: Option<bool>,
    /// Its effective weight (configured, or set by `misc_dynamic` / FILE_CHECK).
    pub weight: Option<u32>,
}

/// The checker verdicts for every real server, kept from ka-check's events.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Verdicts {
    #[serde(with = "crate::table::pairs")]
    map: BTreeMap<RealServerId, RsVerdict>,
}

impl Verdicts {
    /// No verdict yet: every real server takes its configured state.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets a real server's verdict.
    pub fn set(&mut self, rs: RealServerId, alive: bool, weight: u32) {
        self.map.insert(
            rs,
            RsVerdict {
                alive: Some(alive),
                weight: Some(weight),
            },
        );
    }
    /// The raw verdict recorded for a real server.
    pub fn raw(&self, rs: RealServerId) -> Option<RsVerdict> {
        self.map.get(&rs).copied()
    }
    /// Whether real server `rs` (configured as `conf`) is alive, and its weight
    /// (at most [`Weight::MAX`]). Without a verdict a real server is alive unless one
    /// of its checkers has `alpha` (inherited from the virtual or real server), at its
    /// configured weight: keepalived's start state before any check ran (a real server
    /// without checkers is always alive).
    pub fn get(&self, rs: RealServerId, conf: &RealServer) -> (bool, u32) {
        let v = self.raw(rs).unwrap_or_default();
        let alive = v
            .alive
            .unwrap_or_else(|| !conf.checkers.iter().any(|c| c.timing.alpha));
        let weight = v.weight.unwrap_or(conf.weight.get()).min(Weight::MAX);
        (alive, weight)
    }
    /// Takes in one ka-check event; returns whether a verdict changed. `Initial` sets a
    /// server's state, `RealServerChanged` its pool membership, `WeightChanged` its
    /// weight; `Reloaded` forgets everything (the `Initial` events that follow use the
    /// new configuration's positions). Other events carry no verdict.
    pub fn apply(&mut self, event: &Event) -> bool {
        let (rs, alive, weight) = match event {
            Event::Initial { rs, alive, weight } => (*rs, Some(*alive), Some(*weight)),
            Event::RealServerChanged { rs, alive, .. } => (*rs, Some(*alive), None),
            Event::WeightChanged { rs, new, .. } => (*rs, None, Some(*new)),
            Event::Reloaded => {
                let changed = !self.map.is_empty();
                self.map.clear();
                return changed;
            }
            _ => return false,
        };
        let e = self.map.entry(rs).or_default();
        let before = *e;
        if alive.is_some() {
            e.alive = alive;
        }
        if weight.is_some() {
            e.weight = weight;
        }
        *e != before
    }
}

/// A name for a virtual server that survives reloads (keepalived's `vs_iseq`: the
/// group name, or the fwmark and family, or protocol, address and port); the
/// protocol and family are added for groups so a TCP and a UDP virtual server on the
/// same group stay apart.
pub fn vs_name(vs: &VirtualServer) -> String {
    let proto = vs
        .protocol
        .map(|p| format!("{:?}", Protocol::from(p)))
        .unwrap_or_default();
    match &vs.address {
        VsAddress::Ip { addr, port } => match addr {
            IpAddr::V6(a) => format!("[{a}]:{}/{proto}", port.unwrap_or(0)),
            IpAddr::V4(a) => format!("{a}:{}/{proto}", port.unwrap_or(0)),
        },
        VsAddress::Fwmark(m) => format!("FWM {m}/{}", vs.family),
        VsAddress::Group(g) => format!("[{g}]/{proto}/{}", vs.family),
    }
}

/// The quorum and hysteresis keepalived 2.2.7 uses: the quorum is lowered to the total
/// configured weight of the real servers, the hysteresis to one below the quorum.
pub fn effective_quorum(vs: &VirtualServer) -> (u64, u64) {
    let q = u64::from(vs.quorum.get()).min(vs.total_weight());
    let h = u64::from(vs.hysteresis).min(q.saturating_sub(1));
    (q, h)
}

/// Whether a virtual server without quorum gains it: alive weight `>= q + h`. An
/// effective quorum of 0 (no real server, or all of weight 0) is never met: keepalived
/// then sets the hysteresis to `0 - 1` (unsigned), out of reach.
fn gains(sum: u64, q: u64, h: u64) -> bool {
    q > 0 && sum >= q + h
}

/// Whether a virtual server with quorum loses it: alive weight 0, or `< q - h`.
fn loses(sum: u64, q: u64, h: u64) -> bool {
    sum == 0 || sum + h < q
}

/// Sum of the weights of the alive real servers of virtual server `vi`
/// (keepalived's `weigh_live_realservers`).
pub fn alive_weight(vi: u32, vs: &VirtualServer, verdicts: &Verdicts) -> u64 {
    vs.real_servers
        .iter()
        .enumerate()
        .filter_map(|(ri, rs)| {
            let id = RealServerId {
                vs: vi,
                rs: u32::try_from(ri).ok()?,
            };
            let (alive, w) = verdicts.get(id, rs);
            alive.then_some(u64::from(w))
        })
        .sum()
}

/// A quorum transition of a virtual server: run its `quorum_up` / `quorum_down`
/// script, write `VS <name> UP|DOWN` to the notify FIFOs, send the SMTP alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuorumEvent {
    /// Index of the virtual server in `LvsConfig::virtual_servers`.
    pub vs: u32,
    /// Its name ([`vs_name`]).
    pub name: String,
    /// The quorum is now met (`quorum_up`) or lost (`quorum_down`).
    pub up: bool,
    /// First evaluation after start or after the virtual server appeared in a reload
    /// (keepalived: "Starting with quorum up/down").
    pub initial: bool,
    /// Emitted by [`LbState::shutdown`] (keepalived gives the script 1 s).
    pub stopping: bool,
    /// Alive weight at the transition.
    pub weight_sum: u64,
    /// Effective quorum.
    pub quorum: u64,
    /// Effective hysteresis.
    pub hysteresis: u64,
    /// The script to run, if configured.
    pub script: Option<Script>,
}

impl std::fmt::Display for QuorumEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match (self.up, self.initial, self.stopping) {
            (_, _, true) => "Shutting down, quorum down",
            (true, true, _) => "Starting with quorum up",
            (true, false, _) => "Gained quorum",
            (false, true, _) => "Starting with quorum down",
            (false, false, _) => "Lost quorum",
        };
        if self.up {
            write!(
                f,
                "{what} {}+{}={} <= {} for VS {}",
                self.quorum,
                self.hysteresis,
                self.quorum + self.hysteresis,
                self.weight_sum,
                self.name
            )
        } else {
            write!(
                f,
                "{what} {}-{}={} > {} for VS {}",
                self.quorum,
                self.hysteresis,
                self.quorum.saturating_sub(self.hysteresis),
                self.weight_sum,
                self.name
            )
        }
    }
}

/// The load balancer's own state: whether each virtual server has its quorum. It is
/// the hysteresis: with quorum `q` and hysteresis `h`, a virtual server without quorum
/// gains it when the alive weight reaches `q + h`, and one with quorum loses it when
/// the alive weight falls below `q - h` or to 0 (keepalived's `update_quorum_state`).
/// Keyed by [`vs_name`], so a reload carries the state of unchanged virtual servers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LbState {
    quorum_up: BTreeMap<String, bool>,
}

impl LbState {
    /// Nothing evaluated yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the named virtual server has its quorum (`None`: never evaluated).
    pub fn quorum_up(&self, name: &str) -> Option<bool> {
        self.quorum_up.get(name).copied()
    }

    /// Re-evaluates every virtual server of `cfg` with the current verdicts and returns
    /// the transitions, in configuration order. Call it after every verdict change
    /// (and after a reload, with the new configuration) before [`desired()`].
    ///
    /// * A virtual server seen for the first time starts without quorum and is
    ///   evaluated as keepalived does at start: if the alive weight reaches `q + h` it
    ///   gains the quorum (an `up`, `initial` event); otherwise, only if it has a sorry
    ///   server, an `initial` `down` event (keepalived installs the sorry server and
    ///   runs `quorum_down` then; without a sorry server it says nothing).
    /// * Later: gain at `>= q + h`, loss at `< q - h` or at 0.
    /// * With a total configured weight of 0 (real servers all of weight 0) the quorum
    ///   is never met, as in keepalived: the sorry server, if any, serves for good.
    ///
    /// Virtual servers without real servers are skipped (keepalived 2.2.7 ignores
    /// them, sorry server or not); those no longer in `cfg` are forgotten.
    pub fn update(&mut self, cfg: &LvsConfig, verdicts: &Verdicts) -> Vec<QuorumEvent> {
        let mut events = Vec::new();
        let mut seen = BTreeSet::new();
        for (vi, vs) in cfg.virtual_servers.iter().enumerate() {
            let Ok(vi) = u32::try_from(vi) else { break };
            if vs.real_servers.is_empty() {
                continue;
            }
            let name = vs_name(vs);
            let (q, h) = effective_quorum(vs);
            let sum = alive_weight(vi, vs, verdicts);
            let ev = |up: bool, initial: bool| QuorumEvent {
                vs: vi,
                name: name.clone(),
                up,
                initial,
                stopping: false,
                weight_sum: sum,
                quorum: q,
                hysteresis: h,
                script: if up {
                    vs.quorum_up.clone()
                } else {
                    vs.quorum_down.clone()
                },
            };
            let prev = self.quorum_up.get(&name).copied();
            let now = match prev {
                None => {
                    let up = gains(sum, q, h);
                    if up {
                        events.push(ev(true, true));
                    } else if vs.sorry_server.is_some() {
                        events.push(ev(false, true));
                    }
                    up
                }
                Some(false) if gains(sum, q, h) => {
                    events.push(ev(true, false));
                    true
                }
                Some(true) if loses(sum, q, h) => {
                    events.push(ev(false, false));
                    false
                }
                Some(s) => s,
            };
            self.quorum_up.insert(name.clone(), now);
            seen.insert(name);
        }
        self.quorum_up.retain(|k, _| seen.contains(k));
        events
    }

    /// The process stops: every virtual server loses its quorum; those with `omega`
    /// report it (keepalived runs their `quorum_down` script, given 1 s).
    pub fn shutdown(&mut self, cfg: &LvsConfig, verdicts: &Verdicts) -> Vec<QuorumEvent> {
        let mut events = Vec::new();
        for (vi, vs) in cfg.virtual_servers.iter().enumerate() {
            let Ok(vi) = u32::try_from(vi) else { break };
            let name = vs_name(vs);
            self.quorum_up.insert(name.clone(), false);
            if vs.omega {
                let (q, h) = effective_quorum(vs);
                events.push(QuorumEvent {
                    vs: vi,
                    name,
                    up: false,
                    initial: false,
                    stopping: true,
                    weight_sum: alive_weight(vi, vs, verdicts),
                    quorum: q,
                    hysteresis: h,
                    script: vs.quorum_down.clone(),
                });
            }
        }
        events
    }
}

/// Virtual server groups by name.
type Groups<'a> = BTreeMap<&'a str, &'a VirtualServerGroup>;

/// The services one virtual server expands to, each with the port a real server
/// without a port takes (`None`: 0).
fn service_keys(
    groups: &Groups<'_>,
    vs: &VirtualServer,
    out: &mut Vec<(ServiceKey, Option<u16>)>,
) -> Result<(), LbError> {
    // ka-config already fills in keepalived's default (UDP) for address services.
    let protocol = vs.protocol.map(Protocol::from).unwrap_or(Protocol::Udp);
    let family = Family::from(vs.family);
    match &vs.address {
        VsAddress::Ip { addr, port } => {
            let port = port.unwrap_or(0);
            out.push((
                ServiceKey::Addr {
                    protocol,
                    addr: *addr,
                    port,
                },
                Some(port),
            ));
        }
        VsAddress::Fwmark(mark) => out.push((
            ServiceKey::Fwmark {
                family,
                mark: *mark,
            },
            None,
        )),
        VsAddress::Group(name) => {
            let g = groups
                .get(name.as_str())
                .ok_or_else(|| LbError::UnknownGroup {
                    vs: vs_name(vs),
                    group: name.clone(),
                })?;
            for e in &g.entries {
                match e {
                    VsgEntry::Range(r) => {
                        if Family::from(r.family()) != family {
                            continue;
                        }
                        let port = r.port.unwrap_or(0);
                        let count = range_len(r.first(), r.last());
                        if count > MAX_RANGE_ADDRESSES {
                            return Err(LbError::RangeTooLarge {
                                vs: vs_name(vs),
                                count,
                                max: MAX_RANGE_ADDRESSES,
                            });
                        }
                        let mut a = Some(r.first());
                        while let Some(addr) = a {
                            out.push((
                                ServiceKey::Addr {
                                    protocol,
                                    addr,
                                    port,
                                },
                                None,
                            ));
                            if out.len() > MAX_SERVICES {
                                return Err(LbError::TooManyServices(MAX_SERVICES));
                            }
                            a = (addr != r.last()).then(|| next_addr(addr)).flatten();
                        }
                    }
                    VsgEntry::Fwmark { mark, family: f } => {
                        if f.is_some_and(|f| Family::from(f) != family) {
                            continue;
                        }
                        out.push((
                            ServiceKey::Fwmark {
                                family,
                                mark: *mark,
                            },
                            None,
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn range_len(first: IpAddr, last: IpAddr) -> u128 {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u128::from(u32::from(b).saturating_sub(u32::from(a))) + 1,
        (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(b)
            .saturating_sub(u128::from(a))
            .saturating_add(1),
        _ => 0,
    }
}

fn next_addr(a: IpAddr) -> Option<IpAddr> {
    match a {
        IpAddr::V4(a) => u32::from(a)
            .checked_add(1)
            .map(|n| IpAddr::V4(Ipv4Addr::from(n))),
        IpAddr::V6(a) => u128::from(a)
            .checked_add(1)
            .map(|n| IpAddr::V6(Ipv6Addr::from(n))),
    }
}

/// Scheduler, flags and persistence of a virtual server's services. A service without
/// a port must be persistent (keepalived makes it persistent for 360 s).
fn service_attrs(groups: &Groups<'_>, vs: &VirtualServer) -> ServiceAttrs {
    let family = Family::from(vs.family);
    let persistence = match &vs.persistence {
        Some(p) => Some(Persistence {
            timeout_s: u32::try_from(p.timeout.as_secs()).unwrap_or(u32::MAX),
            prefix: p.granularity_prefix.unwrap_or(family.max_prefix()),
            engine: p.engine.clone(),
        }),
        None => {
            let portless = match &vs.address {
                VsAddress::Ip { port, .. } => port.is_none(),
                VsAddress::Fwmark(_) => false,
                VsAddress::Group(name) => groups.get(name.as_str()).is_some_and(|g| {
                    g.entries
                        .iter()
                        .any(|e| matches!(e, VsgEntry::Range(r) if r.port.is_none()))
                }),
            };
            portless.then(|| Persistence {
                timeout_s: DEFAULT_PERSISTENCE_S,
                prefix: family.max_prefix(),
                engine: None,
            })
        }
    };
    ServiceAttrs {
        scheduler: vs.scheduler.name().to_string(),
        flags: vs.flags.into(),
        persistence,
    }
}

/// The destinations of one virtual server (before ports are resolved per service):
/// `(address, configured port, attributes)`, later entries replacing earlier ones
/// with the same address and port.
fn vs_dests(
    vi: u32,
    vs: &VirtualServer,
    verdicts: &Verdicts,
    quorum_up: bool,
) -> Vec<(IpAddr, Option<u16>, Dest)> {
    let mut out = Vec::with_capacity(vs.real_servers.len() + 1);
    let sorry_active = vs.sorry_server.is_some() && !quorum_up;
    let sorry = |weight: u32| {
        vs.sorry_server.as_ref().map(|s| {
            // keepalived only fills in the port of a DR/TUN sorry server.
            let port = match s.forwarding {
                ka_model::lvs::Forwarding::Nat => Some(s.port.unwrap_or(0)),
                _ => s.port,
            };
            (
                s.addr,
                port,
                Dest {
                    weight,
                    forwarding: Forwarding::from(s.forwarding),
                    upper_threshold: 0,
                    lower_threshold: 0,
                },
            )
        })
    };
    // An inhibited sorry server (weight 0 while the quorum holds) yields to a real
    // server at the same address and port (keepalived's `s_svr_duplicates_rs`).
    if !sorry_active && vs.sorry_server.as_ref().is_some_and(|s| s.inhibit) {
        out.extend(sorry(0));
    }
    for (ri, rs) in vs.real_servers.iter().enumerate() {
        let Ok(ri) = u32::try_from(ri) else { break };
        let (alive, w) = verdicts.get(RealServerId { vs: vi, rs: ri }, rs);
        // keepalived: while the sorry server serves, alive real servers are taken out
        // (`perform_quorum_state`), which for `inhibit_on_failure` means weight 0; a
        // dead real server is removed, or kept at weight 0 with inhibit_on_failure.
        let weight = if alive && !sorry_active {
            Some(w)
        } else if rs.inhibit_on_failure {
            Some(0)
        } else {
            None
        };
        if let Some(weight) = weight {
            out.push((
                rs.addr,
                rs.port,
                Dest {
                    weight,
                    forwarding: Forwarding::from(rs.forwarding),
                    upper_threshold: rs.upper_threshold,
                    lower_threshold: rs.lower_threshold,
                },
            ));
        }
    }
    if sorry_active {
        // keepalived's sorry server weight is always 1.
        out.extend(sorry(1));
    }
    out
}

/// The table keepalived 2.2.7 would program for `cfg`, given the checker `verdicts`,
/// the quorum `state` (call [`LbState::update`] first; a virtual server it has not
/// seen is evaluated with keepalived's start rule) and the addresses `vips` this host
/// holds (only used with [`HaSuspend::GateServices`]).
///
/// * Each virtual server becomes one service, or for `virtual_server group` one per
///   address of each range entry of its family (port from the entry) and one per
///   fwmark entry; a fwmark service is keyed by mark and family (its protocol is
///   ignored, as IPVS does). Two virtual servers mapping to the same service share
///   it: the first one's scheduler and flags win, the destinations are merged.
/// * Scheduler, flags and persistence (timeout, granularity as a prefix, engine) come
///   from the virtual server; a port-less service without persistence is made
///   persistent for 360 s (keepalived).
/// * A real server in the pool gets its effective weight; one out of the pool is
///   absent, or present with weight 0 under `inhibit_on_failure`.
/// * Without quorum and with a sorry server: the sorry server (weight 1) replaces
///   every real server (those with `inhibit_on_failure` stay at weight 0). With the
///   quorum, a `sorry_server_inhibit` sorry server stays at weight 0. Without a
///   sorry server, losing the quorum changes nothing in the table (only the event).
/// * A real server without a port takes the virtual server's port on an address
///   virtual server, and 0 (the packet's port) on a group or fwmark one; on the
///   fwmark entry of a group every DR/TUN destination has port 0 (keepalived); a sorry
///   server without a port likewise, except with NAT where it stays 0 (keepalived;
///   IPVS then keeps the virtual port on the wire).
/// * A virtual server without real servers has no service (keepalived 2.2.7 ignores
///   it, even with a sorry server).
pub fn desired(
    cfg: &LvsConfig,
    verdicts: &Verdicts,
    state: &LbState,
    vips: &Vips,
    opts: &Options,
) -> Result<Table, LbError> {
    let mut table = Table::new();
    let mut keys = Vec::new();
    // The first group of a name wins, as a lookup in file order would.
    let mut groups = Groups::new();
    for g in &cfg.groups {
        groups.entry(g.name.as_str()).or_insert(g);
    }
    for (vi, vs) in cfg.virtual_servers.iter().enumerate() {
        let Ok(vi) = u32::try_from(vi) else { break };
        if vs.real_servers.is_empty() {
            continue;
        }
        let quorum_up = state.quorum_up(&vs_name(vs)).unwrap_or_else(|| {
            let (q, h) = effective_quorum(vs);
            gains(alive_weight(vi, vs, verdicts), q, h)
        });
        keys.clear();
        service_keys(&groups, vs, &mut keys)?;
        let attrs = service_attrs(&groups, vs);
        let dests = vs_dests(vi, vs, verdicts, quorum_up);
        let gate = vs.ha_suspend && opts.ha_suspend == HaSuspend::GateServices;
        for (key, default_port) in &keys {
            if gate {
                if let ServiceKey::Addr { addr, .. } = key {
                    if !vips.contains(addr) {
                        continue;
                    }
                }
            }
            if !table.services.contains_key(key) && table.services.len() >= MAX_SERVICES {
                return Err(LbError::TooManyServices(MAX_SERVICES));
            }
            let svc = table.services.entry(*key).or_insert_with(|| Service {
                attrs: attrs.clone(),
                dests: BTreeMap::new(),
            });
            // keepalived 2.2.7 gives the DR/TUN destinations of a group's fwmark entry
            // port 0 whatever their configured port (NAT ones keep it; a fwmark virtual
            // server keeps it): seen against a real kernel, ka-sys/tests/ipvs_qemu.rs.
            let group_fwmark = matches!(vs.address, VsAddress::Group(_))
                && matches!(key, ServiceKey::Fwmark { .. });
            for (addr, port, d) in &dests {
                let port = if group_fwmark && d.forwarding != Forwarding::Nat {
                    0
                } else {
                    port.or(*default_port).unwrap_or(0)
                };
                svc.dests.insert(DestKey { addr: *addr, port }, *d);
            }
        }
    }
    Ok(table)
}
