//! [`Router::reconfigure`]: keepalived's reload on a running router.

use serde::{Deserialize, Serialize};

use super::{build_groups, Router};
use crate::config::{ConfigError, IfaceId, InstanceConfig, RouterConfig};
use crate::instance::{Instance, State, TrackState};
use crate::output::{Action, InstanceId, StateKind, TransitionReason, Transmit};
use crate::time::{master_down_interval_us, Instant, MICROS_PER_CS};
use std::net::IpAddr;

/// What [`Router::reconfigure`] did, instance by instance (ids as in the router's output).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconfigureReport {
    /// Instances whose configuration did not change: nothing about them changed.
    pub unchanged: Vec<InstanceId>,
    /// Instances whose configuration changed, with the names of the fields that changed
    /// ([`InstanceConfig`]'s field names).
    pub changed: Vec<(InstanceId, Vec<String>)>,
    /// New instances.
    pub added: Vec<InstanceId>,
    /// Removed instances and their names.
    pub removed: Vec<(InstanceId, String)>,
}

impl ReconfigureReport {
    /// Whether nothing changed at all.
    pub fn is_noop(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }
}

/// keepalived's `vrrp_exist`: the same interface, family and VRID.
fn same_router(a: &InstanceConfig, b: &InstanceConfig) -> bool {
    a.interface == b.interface && a.family == b.family && a.vrid == b.vrid
}

/// Every address the instance installs as master, with the interface it goes on.
fn addresses(c: &InstanceConfig) -> Vec<(IfaceId, IpAddr, u8)> {
    c.vips
        .iter()
        .chain(c.excluded_vips.iter())
        .map(|v| (v.iface.unwrap_or(c.interface), v.addr, v.prefix_len))
        .collect()
}

/// The names of the fields that differ.
fn changed_fields(a: &InstanceConfig, b: &InstanceConfig) -> Vec<String> {
    let mut out = Vec::new();
    macro_rules! cmp {
        ($($f:ident),*) => {
            $( if a.$f != b.$f { out.push(stringify!($f).to_owned()); } )*
        };
    }
    cmp!(
        name,
        vrid,
        version,
        interface,
        family,
        priority,
        initial_state,
        advert_int,
        preempt,
        preempt_delay,
        accept,
        strict,
        src_addr,
        unicast_peers,
        check_unicast_src,
        mcast_group,
        auth,
        vips,
        excluded_vips,
        virtual_routes,
        virtual_rules,
        tracks,
        track_interfaces,
        dont_track_primary,
        garp,
        lower_prio_no_advert,
        higher_prio_send_advert,
        down_timer_adverts,
        skip_check_adv_addr
    );
    out
}

impl Router {
    /// Replaces the configuration of a router, running or not, with keepalived 2.2.7's
    /// reload semantics (vrrp.c `clear_diff_vrrp`, `restore_vrrp_state`) but without its
    /// timer resets. Drain the outputs afterwards as after any input.
    ///
    ///
    /// * An instance of the new configuration is the same instance as an old one when it runs
    ///   on the same interface, family and VRID (keepalived's `vrrp_exist`); the name may
    ///   change with it. The identity is unique inside one configuration
    ///   ([`crate::ConfigError::DuplicateVrid`]), so the matching is one to one.
    /// * Unchanged configuration: the [`crate::Instance`] is kept as it is (state, timers,
    ///   counters, learnt master, effective priority). Nothing is sent or changed for it.
    ///   keepalived restarts every instance's timers on reload; the engine does not, so a
    ///   master's periodic adverts keep their phase.
    /// * Changed configuration: state and counters are kept and only the differences are
    ///   applied. A master removes the addresses, routes and rules the new configuration no
    ///   longer has, adds the new ones and sends `garp_master_repeat` GARPs/NAs for the added
    ///   addresses only (keepalived re-announces every address of the instance once one was
    ///   added). Priority, tracking and timer changes take effect at once: a master keeps
    ///   MASTER and advertises the new priority with its next advert, so the protocol decides
    ///   (a preempting backup with a higher priority takes over after its down timer); a
    ///   backup's Master_Down_Timer is brought forward if the new values make it shorter; a
    ///   fault the new tracking finds moves the instance to FAULT as at run time.
    /// * Removed instance: stopped as on shutdown (a master sends priority 0 and removes its
    ///   addresses), with [`TransitionReason::Reload`]; its outputs still carry its id,
    ///   named by [`Router::instance_name`] until the next reconfigure.
    /// * New instance: started as at start-up when the router runs (new ids are never reused
    ///   ids), otherwise left in INIT for [`Router::start`].
    /// * Sync groups are rebuilt by name; a group keeps its state if its members are
    ///   consistent. A group whose membership changed and whose members are now part MASTER
    ///   and part BACKUP is made consistent the safe way, as keepalived does at start-up: its
    ///   masters step down (priority 0, BACKUP) and the group is elected again.
    /// * Tracked objects keep their reported state when the new configuration still tracks
    ///   them (keepalived's `clear_diff_script`); new ones count as up until reported.
    ///
    ///
    /// A configuration that [`RouterConfig::validate`] refuses leaves the router exactly
    /// as it was and returns the error.
    pub fn reconfigure(
        &mut self,
        now: Instant,
        config: RouterConfig,
    ) -> Result<ReconfigureReport, ConfigError> {
        let config = config.validate()?;
        // Stamps the transitions this reload causes; a reload that changes nothing leaves
        // the router exactly as it was (see the end).
        let previous_now = std::mem::replace(&mut self.now, now);
        let mut report = ReconfigureReport::default();
        // matches[new] = Some(old position).
        let matches: Vec<Option<usize>> = config
            .instances
            .iter()
            .map(|c| self.instances.iter().position(|o| same_router(&o.cfg, c)))
            .collect();

        // 1. Removed instances stop as on shutdown (keepalived: vrrp_restore_interface
        //    with a priority 0 advert for a master).
        self.retired.clear();
        for o in 0..self.instances.len() {
            if matches.contains(&Some(o)) {
                continue;
            }
            let Some(inst) = self.instances.get(o) else {
                continue;
            };
            let (id, name, kind) = (inst.id, inst.cfg.name.clone(), inst.state.kind());
            if kind == StateKind::Master {
                self.leave_master(o, true);
            }
            if kind != StateKind::Init {
                self.set_state(o, State::Init, TransitionReason::Reload);
            }
            report.removed.push((id, name.clone()));
            self.retired.push((id, name));
        }

        // 2. A kept master drops what the new configuration no longer has (keepalived's
        //    clear_diff_vrrp_vip / _vroutes / _vrules), before anything is added, so an
        //    address moving between instances is removed first and added second.
        for (new, old) in config.instances.iter().zip(&matches) {
            if let Some(o) = *old {
                self.remove_differences(o, new);
            }
        }

        // Old sync groups by name, with their members' names (before renumbering).
        let old_groups: Vec<(String, Vec<String>, StateKind)> = self
            .groups
            .iter()
            .zip(&self.group_states)
            .map(|(g, s)| {
                let members = g
                    .members
                    .iter()
                    .filter_map(|&m| self.instances.get(m).map(|i| i.cfg.name.clone()))
                    .collect();
                (g.name.clone(), members, *s)
            })
            .collect();

        // 3. The new instance table, in the new configuration's order.
        let groups = build_groups(&config);
        let mut old_slots: Vec<Option<Instance>> = std::mem::take(&mut self.instances)
            .into_iter()
            .map(Some)
            .collect();
        let mut instances = Vec::with_capacity(config.instances.len());
        let mut changed: Vec<(usize, InstanceConfig)> = Vec::new();
        let mut added: Vec<usize> = Vec::new();
        for (n, (cfg, old)) in config.instances.iter().zip(&matches).enumerate() {
            let group = groups.iter().position(|g| g.members.contains(&n));
            let kept = old
                .and_then(|o| old_slots.get_mut(o))
                .and_then(Option::take);
            match kept {
                Some(mut inst) => {
                    inst.group = group;
                    if inst.cfg == *cfg {
                        report.unchanged.push(inst.id);
                    } else {
                        report
                            .changed
                            .push((inst.id, changed_fields(&inst.cfg, cfg)));
                        inst.track_states = cfg
                            .tracks
                            .iter()
                            .map(|t| {
                                inst.cfg
                                    .tracks
                                    .iter()
                                    .zip(&inst.track_states)
                                    .find(|(o, _)| o.id == t.id)
                                    .map_or(TrackState::Up, |(_, s)| *s)
                            })
                            .collect();
                        // An owner conflict lowered the base priority to 254; a new
                        // configured priority replaces it.
                        if inst.cfg.priority != cfg.priority {
                            inst.base_priority = cfg.priority;
                        }
                        let old_cfg = std::mem::replace(&mut inst.cfg, cfg.clone());
                        changed.push((n, old_cfg));
                    }
                    instances.push(inst);
                }
                None => {
                    let id = InstanceId(self.next_id);
                    self.next_id = self.next_id.saturating_add(1);
                    instances.push(Instance::new(id, cfg.clone(), group));
                    report.added.push(id);
                    added.push(n);
                }
            }
        }
        self.instances = instances;

        // Sync groups: a group of the same name keeps its state; one whose members
        // changed is checked for consistency below.
        let mut group_states = Vec::with_capacity(groups.len());
        let mut regrouped = Vec::new();
        for gc in &config.sync_groups {
            match old_groups.iter().find(|(name, _, _)| *name == gc.name) {
                Some((_, members, s)) => {
                    group_states.push(*s);
                    if *members != gc.members {
                        regrouped.push(gc.name.clone());
                    }
                }
                None => {
                    group_states.push(StateKind::Init);
                    regrouped.push(gc.name.clone());
                }
            }
        }
        self.groups = groups;
        self.group_states = group_states;

        // 4. A kept master adds what is new (keepalived's restore_vrrp_state).
        for (n, old_cfg) in &changed {
            self.add_differences(*n, old_cfg);
        }

        // 5. Tracking with the new weights; faults move instances as at run time.
        self.refresh_tracking(now, self.running);

        // 6. Timers of changed instances.
        for (n, old_cfg) in &changed {
            self.retime(*n, old_cfg, now);
        }

        if self.running {
            // 7. New instances start as at start-up.
            let group_fault = self.group_faults();
            for n in added {
                self.start_instance(n, now, &group_fault);
            }
            // 8. Regrouped sync groups must not be half MASTER, half BACKUP.
            for name in regrouped {
                self.settle_group(&name, now);
            }
            self.handle_timeout(now);
        }
        self.update_groups();
        if report.is_noop() {
            self.now = previous_now;
        }
        Ok(report)
    }

    /// Step 2: removals for a kept master (old position `o`, new configuration `new`).
    fn remove_differences(&mut self, o: usize, new: &InstanceConfig) {
        let Some(inst) = self.instances.get(o) else {
            return;
        };
        if inst.state.kind() != StateKind::Master {
            return;
        }
        let id = inst.id;
        let old = inst.cfg.clone();
        for r in old
            .virtual_rules
            .iter()
            .filter(|r| !new.virtual_rules.contains(r))
        {
            self.push_action(Action::RemoveRule {
                instance: id,
                rule: r.clone(),
            });
        }
        for r in old
            .virtual_routes
            .iter()
            .filter(|r| !new.virtual_routes.contains(r))
        {
            self.push_action(Action::RemoveRoute {
                instance: id,
                route: r.clone(),
            });
        }
        let new_addrs = addresses(new);
        let gone: Vec<(IfaceId, IpAddr, u8)> = addresses(&old)
            .into_iter()
            .filter(|a| !new_addrs.contains(a))
            .collect();
        for (iface, addr, prefix_len) in &gone {
            self.push_action(Action::RemoveAddress {
                instance: id,
                iface: *iface,
                addr: *addr,
                prefix_len: *prefix_len,
            });
        }
        // no_accept: the block follows the addresses.
        if !old.accept_mode() {
            let unblock: Vec<IpAddr> = if new.accept_mode() {
                addresses(&old).iter().map(|a| a.1).collect()
            } else {
                gone.iter().map(|a| a.1).collect()
            };
            if !unblock.is_empty() {
                self.push_action(Action::UnblockAddresses {
                    instance: id,
                    addrs: unblock,
                });
            }
        }
    }

    /// Step 4: additions for a kept master (new position `n`, old configuration `old`).
    fn add_differences(&mut self, n: usize, old: &InstanceConfig) {
        let Some(inst) = self.instances.get(n) else {
            return;
        };
        if inst.state.kind() != StateKind::Master {
            return;
        }
        let id = inst.id;
        let new = inst.cfg.clone();
        let old_addrs = addresses(old);
        let fresh: Vec<(IfaceId, IpAddr, u8)> = addresses(&new)
            .into_iter()
            .filter(|a| !old_addrs.contains(a))
            .collect();
        if !new.accept_mode() {
            let block: Vec<IpAddr> = if old.accept_mode() {
                addresses(&new).iter().map(|a| a.1).collect()
            } else {
                fresh.iter().map(|a| a.1).collect()
            };
            if !block.is_empty() {
                self.push_action(Action::BlockAddresses {
                    instance: id,
                    addrs: block,
                });
            }
        }
        for (iface, addr, prefix_len) in &fresh {
            self.push_action(Action::AddAddress {
                instance: id,
                iface: *iface,
                addr: *addr,
                prefix_len: *prefix_len,
            });
        }
        for r in new
            .virtual_routes
            .iter()
            .filter(|r| !old.virtual_routes.contains(r))
        {
            self.push_action(Action::AddRoute {
                instance: id,
                route: r.clone(),
            });
        }
        for r in new
            .virtual_rules
            .iter()
            .filter(|r| !old.virtual_rules.contains(r))
        {
            self.push_action(Action::AddRule {
                instance: id,
                rule: r.clone(),
            });
        }
        // RFC 5798 section 6.4.2/6.4.3: the new addresses are announced as on becoming
        // master (garp_master_repeat rounds); the others were announced already.
        for _ in 0..new.garp.master_repeat.min(255) {
            for (iface, addr, _) in &fresh {
                self.push_transmit(match addr {
                    IpAddr::V4(a) => Transmit::GratuitousArp {
                        instance: id,
                        iface: *iface,
                        addr: *a,
                    },
                    IpAddr::V6(a) => Transmit::UnsolicitedNa {
                        instance: id,
                        iface: *iface,
                        addr: *a,
                    },
                });
            }
        }
    }

    /// Step 6: timers of a changed instance after tracking was re-evaluated.
    fn retime(&mut self, n: usize, old: &InstanceConfig, now: Instant) {
        let Some(inst) = self.instances.get_mut(n) else {
            return;
        };
        let cfg = &inst.cfg;
        let eff = inst.effective_priority;
        match &mut inst.state {
            State::Master(m) => {
                if cfg.advert_int != old.advert_int {
                    // RFC 5798 section 6.4.3: Adver_Timer runs with the new interval; a
                    // shorter one takes effect now rather than after the old period.
                    let next = now.add_micros(u64::from(cfg.advert_int.0) * MICROS_PER_CS);
                    m.advert_at = m.advert_at.min(next);
                }
                if cfg.garp != old.garp {
                    if cfg.garp.master_delay.is_zero() || cfg.garp.master_repeat == 0 {
                        m.garp_delayed_at = None;
                    }
                    let refresh = cfg.garp.master_refresh.filter(|d| !d.is_zero());
                    if refresh != old.garp.master_refresh.filter(|d| !d.is_zero()) {
                        m.garp_refresh_at = refresh.map(|d| now + d);
                    }
                    if cfg.garp.lower_prio_repeat == 0 {
                        m.garp_lower_prio_at = None;
                    }
                }
            }
            State::Backup(b) => {
                let interval_changed =
                    cfg.advert_int != old.advert_int || cfg.version != old.version;
                if interval_changed
                    && (cfg.version == ka_model::VrrpVersion::V2 || b.master.is_none())
                {
                    // v2 always uses its own interval; v3 learns the master's with its
                    // next advert (RFC 5798 section 6.4.2).
                    b.master_adver_int = cfg.advert_int;
                }
                if cfg.preempt_delay != old.preempt_delay || cfg.preempt != old.preempt {
                    b.preempt_at = None;
                }
                let down = now.add_micros(master_down_interval_us(
                    cfg.version,
                    eff,
                    b.master_adver_int,
                    cfg.down_timer_adverts,
                ));
                b.master_down_at = b.master_down_at.min(down);
            }
            State::Init | State::Fault => {}
        }
    }

    /// Step 8: a sync group with masters and backups: the masters step down.
    fn settle_group(&mut self, name: &str, now: Instant) {
        let Some(g) = self.groups.iter().find(|g| g.name == name) else {
            return;
        };
        let members = g.members.clone();
        let kind = |r: &Router, m: usize| r.instances.get(m).map(|i| i.state.kind());
        let masters: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&m| kind(self, m) == Some(StateKind::Master))
            .collect();
        let backups = members
            .iter()
            .any(|&m| kind(self, m) == Some(StateKind::Backup));
        if masters.is_empty() || !backups {
            return;
        }
        for m in masters {
            self.leave_master(m, true);
            let down_at = self.down_at(m, now, None);
            self.enter_backup(m, down_at, None, TransitionReason::Reload);
        }
    }
}
