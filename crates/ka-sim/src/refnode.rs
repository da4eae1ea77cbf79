//! A minimal reference model of RFC 5798 section 6.4 (and RFC 3768 for v2), written
//! independently of `ka-vrrp`. It exists so the simulator and its invariants can be
//! checked against a second implementation: if the reference passes and the engine
//! fails the same seed, the engine is suspect; if both fail, the invariant is.

use std::net::IpAddr;

use ka_wire::vrrp::{Auth, Version, VrrpPacket};

use crate::node::{InstSpec, LocalNanos, Node, NodeSpec, Output, Role};

/// The IPv4 VRRP multicast group (RFC 5798 section 5.1.1.2).
pub const MCAST_V4: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(224, 0, 0, 18));
/// The IPv6 VRRP multicast group (RFC 5798 section 5.1.2.2).
pub const MCAST_V6: IpAddr = IpAddr::V6(std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12));

const CS_NS: u64 = 10_000_000;

#[derive(Debug)]
struct Inst {
    spec: InstSpec,
    /// Effective priority (tracking applied).
    prio: u8,
    role: Role,
    /// Master_Adver_Interval learned from the master (v3), in centiseconds.
    master_adv_cs: u16,
    master_down_at: Option<LocalNanos>,
    adver_at: Option<LocalNanos>,
}

impl Inst {
    fn adv_ns(&self) -> u64 {
        u64::from(self.spec.adver_int_cs) * CS_NS
    }
    /// Skew_Time (RFC 5798 section 6.1; RFC 3768: (256 - Priority) / 256 seconds).
    fn skew_ns(&self) -> u64 {
        let base = match self.spec.version {
            Version::V2 => 100 * CS_NS,
            Version::V3 => u64::from(self.master_adv_cs) * CS_NS,
        };
        (256 - u64::from(self.prio)) * base / 256
    }
    /// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time.
    fn mdi_ns(&self) -> u64 {
        let adv = match self.spec.version {
            Version::V2 => self.adv_ns(),
            Version::V3 => u64::from(self.master_adv_cs) * CS_NS,
        };
        3 * adv + self.skew_ns()
    }
}

/// The reference router.
#[derive(Debug)]
pub struct RefNode {
    ip: IpAddr,
    insts: Vec<Inst>,
    out: Vec<Output>,
    roles: Vec<Output>,
    link_up: bool,
    track_up: bool,
    started: bool,
    group: bool,
}

impl RefNode {
    /// A router for `spec`, not started.
    pub fn new(spec: &NodeSpec) -> Self {
        let insts = spec
            .instances
            .iter()
            .map(|s| Inst {
                spec: s.clone(),
                prio: s.effective_priority(true),
                role: Role::Init,
                master_adv_cs: s.adver_int_cs,
                master_down_at: None,
                adver_at: None,
            })
            .collect();
        Self {
            ip: spec.ip,
            insts,
            out: Vec::new(),
            roles: Vec::new(),
            link_up: true,
            track_up: true,
            started: false,
            group: spec.sync_group,
        }
    }

    fn set_role(roles: &mut Vec<Output>, inst: &mut Inst, role: Role, reason: &str) {
        if inst.role != role {
            if inst.role == Role::Master || role == Role::Master {
                roles.push(Output::Vip {
                    vrid: inst.spec.vrid,
                    add: role == Role::Master,
                });
            }
            inst.role = role;
            roles.push(Output::Role {
                vrid: inst.spec.vrid,
                role,
                reason: reason.to_owned(),
            });
        }
    }

    fn advert(ip: IpAddr, out: &mut Vec<Output>, inst: &Inst, priority: u8) {
        let pkt = VrrpPacket {
            version: inst.spec.version,
            kind: 1,
            vrid: inst.spec.vrid,
            priority,
            adver_int_cs: inst.spec.adver_int_cs,
            reserved: 0,
            checksum: 0,
            addrs: inst.spec.vips.clone(),
            auth: Auth::None,
        };
        if inst.spec.unicast_peers.is_empty() {
            let dst = if ip.is_ipv4() { MCAST_V4 } else { MCAST_V6 };
            out.push(Output::Advert { dst, ttl: 255, pkt });
        } else {
            for p in &inst.spec.unicast_peers {
                out.push(Output::Advert {
                    dst: *p,
                    ttl: 255,
                    pkt: pkt.clone(),
                });
            }
        }
    }

    fn become_master(&mut self, i: usize, now: LocalNanos, reason: &str) {
        let ip = self.ip;
        if let Some(inst) = self.insts.get_mut(i) {
            Self::set_role(&mut self.roles, inst, Role::Master, reason);
            Self::advert(ip, &mut self.out, inst, inst.prio);
            inst.adver_at = Some(now + inst.adv_ns());
            inst.master_down_at = None;
        }
    }

    fn become_backup(&mut self, i: usize, now: LocalNanos, reason: &str) {
        if let Some(inst) = self.insts.get_mut(i) {
            Self::set_role(&mut self.roles, inst, Role::Backup, reason);
            inst.adver_at = None;
            inst.master_down_at = Some(now + inst.mdi_ns());
        }
    }

    fn in_fault(&self, inst: &Inst) -> bool {
        !self.link_up || inst.spec.track_fault(self.track_up)
    }

    fn startup(&mut self, now: LocalNanos) {
        self.started = true;
        for i in 0..self.insts.len() {
            let Some(x) = self.insts.get(i) else { continue };
            let fault = self.in_fault(x);
            let (owner, init_master) = (x.prio == 255, x.spec.init_master);
            if fault {
                if let Some(inst) = self.insts.get_mut(i) {
                    Self::set_role(&mut self.roles, inst, Role::Fault, "fault at startup");
                }
            } else if owner || init_master {
                self.become_master(i, now, "startup as owner/state MASTER");
            } else {
                self.become_backup(i, now, "startup");
            }
        }
    }

    /// Re-evaluates priorities and faults after a link or track change (keepalived: a
    /// master entering FAULT sends priority 0 first).
    fn reevaluate(&mut self, now: LocalNanos, reason: &str) {
        let track_up = self.track_up;
        for inst in &mut self.insts {
            inst.prio = inst.spec.effective_priority(track_up);
        }
        if !self.started {
            return;
        }
        let ip = self.ip;
        for i in 0..self.insts.len() {
            let Some(x) = self.insts.get(i) else { continue };
            let fault = self.in_fault(x);
            let (role, owner) = (x.role, x.prio == 255);
            match (role, fault) {
                (Role::Master | Role::Backup, true) => {
                    let link_up = self.link_up;
                    if let Some(inst) = self.insts.get_mut(i) {
                        if role == Role::Master && link_up {
                            Self::advert(ip, &mut self.out, inst, 0);
                        }
                        Self::set_role(&mut self.roles, inst, Role::Fault, reason);
                        inst.adver_at = None;
                        inst.master_down_at = None;
                    }
                }
                (Role::Fault, false) => {
                    if owner {
                        self.become_master(i, now, reason);
                    } else {
                        self.become_backup(i, now, reason);
                    }
                }
                _ => {}
            }
        }
    }
}

impl RefNode {
    fn start_inner(&mut self, now: LocalNanos) {
        self.startup(now);
    }

    fn handle_packet_inner(
        &mut self,
        now: LocalNanos,
        src: IpAddr,
        _dst: IpAddr,
        ttl: u8,
        pkt: &VrrpPacket,
    ) {
        if ttl != 255 || pkt.kind != 1 || !self.link_up {
            return;
        }
        let Some(i) = self.insts.iter().position(|x| x.spec.vrid == pkt.vrid) else {
            return;
        };
        let my_ip = self.ip;
        let Some(inst) = self.insts.get_mut(i) else {
            return;
        };
        if pkt.version != inst.spec.version {
            return;
        }
        // RFC 3768 section 7.1: v2 drops adverts whose interval differs.
        if inst.spec.version == Version::V2 && pkt.adver_int_cs != inst.spec.adver_int_cs {
            return;
        }
        match inst.role {
            Role::Backup => {
                // RFC 5798 section 6.4.2.
                if pkt.priority == 0 {
                    inst.master_down_at = Some(now + inst.skew_ns());
                } else if !inst.spec.preempt || pkt.priority >= inst.prio {
                    if inst.spec.version == Version::V3 {
                        inst.master_adv_cs = pkt.adver_int_cs;
                    }
                    inst.master_down_at = Some(now + inst.mdi_ns());
                }
            }
            Role::Master => {
                // RFC 5798 section 6.4.3.
                if pkt.priority == 0 {
                    Self::advert(my_ip, &mut self.out, inst, inst.prio);
                    inst.adver_at = Some(now + inst.adv_ns());
                } else if pkt.priority > inst.prio || (pkt.priority == inst.prio && src > my_ip) {
                    if inst.spec.version == Version::V3 {
                        inst.master_adv_cs = pkt.adver_int_cs;
                    }
                    self.become_backup(i, now, "higher priority advert");
                }
            }
            Role::Init | Role::Fault => {}
        }
    }

    fn handle_timeout_inner(&mut self, now: LocalNanos) {
        for i in 0..self.insts.len() {
            let Some(inst) = self.insts.get_mut(i) else {
                continue;
            };
            match inst.role {
                Role::Backup if inst.master_down_at.is_some_and(|t| t <= now) => {
                    self.become_master(i, now, "master down timer");
                }
                Role::Master if inst.adver_at.is_some_and(|t| t <= now) => {
                    let ip = self.ip;
                    Self::advert(ip, &mut self.out, inst, inst.prio);
                    inst.adver_at = Some(now + inst.adv_ns());
                }
                _ => {}
            }
        }
    }

    fn handle_link_inner(&mut self, now: LocalNanos, up: bool) {
        self.link_up = up;
        self.reevaluate(now, if up { "link up" } else { "link down" });
    }

    fn handle_track_inner(&mut self, now: LocalNanos, up: bool) {
        self.track_up = up;
        self.reevaluate(now, if up { "track up" } else { "track down" });
    }

    fn shutdown_inner(&mut self, _now: LocalNanos) {
        self.started = false;
        let ip = self.ip;
        for inst in &mut self.insts {
            if inst.role == Role::Master {
                Self::advert(ip, &mut self.out, inst, 0);
            }
            Self::set_role(&mut self.roles, inst, Role::Init, "shutdown");
            inst.adver_at = None;
            inst.master_down_at = None;
        }
    }

    fn poll_timeout_inner(&mut self) -> Option<LocalNanos> {
        self.insts
            .iter()
            .flat_map(|x| [x.master_down_at, x.adver_at])
            .flatten()
            .min()
    }

    fn drain_inner(&mut self, out: &mut Vec<Output>) {
        out.append(&mut self.roles);
        out.append(&mut self.out);
    }
}

impl RefNode {
    fn roles_now(&self) -> Vec<Role> {
        self.insts.iter().map(|x| x.role).collect()
    }

    /// A minimal `vrrp_sync_group`: when one member becomes master the others follow; when
    /// one yields to a better advert the other masters yield too.
    fn sync(&mut self, now: LocalNanos, before: &[Role]) {
        if !self.group {
            return;
        }
        let after = self.roles_now();
        let up = after
            .iter()
            .zip(before)
            .any(|(a, b)| *a == Role::Master && *b != Role::Master);
        let down = after
            .iter()
            .zip(before)
            .any(|(a, b)| *a == Role::Backup && *b == Role::Master);
        for (k, role) in after.iter().enumerate() {
            if up && *role == Role::Backup {
                self.become_master(k, now, "sync group");
            } else if down && *role == Role::Master {
                self.become_backup(k, now, "sync group");
            }
        }
    }
}

impl Node for RefNode {
    fn start(&mut self, now: LocalNanos) {
        let before = self.roles_now();
        self.start_inner(now);
        self.sync(now, &before);
    }

    fn handle_packet(
        &mut self,
        now: LocalNanos,
        src: IpAddr,
        dst: IpAddr,
        ttl: u8,
        pkt: &VrrpPacket,
    ) {
        let before = self.roles_now();
        self.handle_packet_inner(now, src, dst, ttl, pkt);
        self.sync(now, &before);
    }

    fn handle_timeout(&mut self, now: LocalNanos) {
        let before = self.roles_now();
        self.handle_timeout_inner(now);
        self.sync(now, &before);
    }

    fn handle_link(&mut self, now: LocalNanos, up: bool) {
        let before = self.roles_now();
        self.handle_link_inner(now, up);
        self.sync(now, &before);
    }

    fn handle_track(&mut self, now: LocalNanos, up: bool) {
        let before = self.roles_now();
        self.handle_track_inner(now, up);
        self.sync(now, &before);
    }

    fn shutdown(&mut self, now: LocalNanos) {
        self.shutdown_inner(now);
    }

    fn poll_timeout(&mut self) -> Option<LocalNanos> {
        self.poll_timeout_inner()
    }

    fn drain(&mut self, out: &mut Vec<Output>) {
        self.drain_inner(out);
    }
}
