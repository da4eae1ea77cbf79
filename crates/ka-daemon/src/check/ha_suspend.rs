//! `ha_suspend`: the checkers of such a virtual server probe only while its address is on
//! this host (keepalived's `update_checker_activity`, fed by its netlink address
//! monitor). The addresses are dumped once before the scheduler starts, then followed
//! through rtnetlink address events (re-dumped after an overrun); every change of a
//! watched address reaches `Scheduler::handle_vip`.
//!
//! A virtual server written as `fwmark N` or `group NAME` has no single address to watch:
//! its `ha_suspend` is ignored with a warning (its checkers always run).

use std::collections::BTreeSet;
use std::net::IpAddr;

use ka_model::config::Config;
use ka_model::lvs::VsAddress;
use ka_sys::{Event, Monitor, Netlink};
use tracing::{info, warn};

/// The watched virtual servers and what is on the host now.
pub struct Watch {
    /// `(virtual server index, its address, display name)`.
    targets: Vec<(u32, IpAddr, String)>,
    /// `(ifindex, address)` of every address of the namespace.
    here: BTreeSet<(u32, IpAddr)>,
    monitor: Monitor,
    nl: Netlink,
}

/// The `ha_suspend` virtual servers with an address: `(index, address, name)`.
pub fn targets(cfg: &Config, name: impl Fn(usize) -> String) -> Vec<(u32, IpAddr, String)> {
    let mut out = Vec::new();
    for (i, vs) in cfg.lvs.virtual_servers.iter().enumerate() {
        if !vs.ha_suspend {
            continue;
        }
        match &vs.address {
            VsAddress::Ip { addr, .. } => {
                if let Ok(idx) = u32::try_from(i) {
                    out.push((idx, *addr, name(i)));
                }
            }
            VsAddress::Fwmark(_) | VsAddress::Group(_) => warn!(
                "virtual_server {}: ha_suspend needs the service's own address (not fwmark or group): ignored, its checkers always run",
                name(i)
            ),
        }
    }
    out
}

impl Watch {
    /// Subscribes to address events, then dumps the addresses. `Ok(None)` when no
    /// virtual server needs watching.
    pub async fn start(targets: Vec<(u32, IpAddr, String)>) -> ka_sys::Result<Option<Watch>> {
        if targets.is_empty() {
            return Ok(None);
        }
        // Subscribe first: an address added during the dump is not missed.
        let monitor = Monitor::new(true)?;
        let nl = Netlink::new()?;
        let mut w = Watch {
            targets,
            here: BTreeSet::new(),
            monitor,
            nl,
        };
        w.dump().await?;
        Ok(Some(w))
    }

    async fn dump(&mut self) -> ka_sys::Result<()> {
        self.here = self
            .nl
            .all_addresses()
            .await?
            .into_iter()
            .map(|a| (a.ifindex, a.addr))
            .collect();
        Ok(())
    }

    fn present(&self, addr: IpAddr) -> bool {
        self.here.iter().any(|(_, a)| *a == addr)
    }

    /// The presence of every watched virtual server now: `(index, present)`.
    pub fn states(&self) -> Vec<(u32, bool)> {
        self.targets
            .iter()
            .map(|(vs, addr, _)| (*vs, self.present(*addr)))
            .collect()
    }

    /// Waits for address events until a watched virtual server's presence changes;
    /// returns the changes (logged as keepalived does). `None` when the netlink
    /// connection ended.
    pub async fn next(&mut self) -> Option<Vec<(u32, bool)>> {
        loop {
            let before = self.states();
            match self.monitor.next().await? {
                Event::AddressAdded(a) => {
                    self.here.insert((a.ifindex, a.addr));
                }
                Event::AddressRemoved(a) => {
                    self.here.remove(&(a.ifindex, a.addr));
                }
                Event::LinkRemoved { ifindex, .. } => self.here.retain(|(i, _)| *i != ifindex),
                Event::Overrun => {
                    if let Err(e) = self.dump().await {
                        warn!("ha_suspend: cannot list the host's addresses again: {e}");
                    }
                }
                Event::Link(_) => continue,
            }
            let changes: Vec<(u32, bool)> = self
                .states()
                .into_iter()
                .zip(before)
                .filter(|(now, was)| now.1 != was.1)
                .map(|(now, _)| now)
                .collect();
            if changes.is_empty() {
                continue;
            }
            for (vs, present) in &changes {
                if let Some((_, _, name)) = self.targets.iter().find(|t| t.0 == *vs) {
                    if *present {
                        info!("Activating healthchecker for service {name}");
                    } else {
                        info!("Suspending healthchecker for service {name}");
                    }
                }
            }
            return Some(changes);
        }
    }
}
