//! `use_vmac`: one macvlan per instance carrying the virtual router MAC
//! (00:00:5e:00:01:VRID, IPv6 00:00:5e:00:02:VRID, RFC 5798 section 7.3), created before
//! the instances are mapped and deleted at stop, as keepalived 2.2.7 does
//! (`vrrp_vmac.c`):
//!
//! - name: `use_vmac NAME`, else `vmac_prefix.VRID` (`vrrp.51`); an existing link of that
//!   name with the right MAC (left by a killed run) is reused, one with another MAC is
//!   refused (never deleted: it may be a real interface);
//! - IPv4: `arp_ignore=1`, `accept_local=1`, `rp_filter=0`, `promote_secondaries=1` on the
//!   VMAC, `arp_ignore=1` and `arp_filter=1` on the parent (restored when its last VMAC
//!   goes), IPv6 disabled on the VMAC. One addition to keepalived: `arp_announce=2` on
//!   the parent (restored the same way). Without it, a master answering a client from
//!   the VIP resolves the client with an ARP request from the parent's MAC and the VIP as
//!   sender address, which rewrites the client's neighbour entry for the VIP to the
//!   parent's MAC and defeats the virtual MAC (seen in `tests/net_e2e.rs`);
//! - IPv6: no address generated from the MAC (`addr_gen_mode` none, RFC 5798 section 7.4),
//!   the parent's link-local address (or `mcast_src_ip`) added with /64 so adverts leave
//!   the VMAC from a non-virtual address;
//! - the instance then runs on the VMAC (adverts sent and received there, VIPs without
//!   `dev` put there), or with `vmac_xmit_base` on the parent with only the VIPs on the
//!   VMAC.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ka_model::vrrp::{VrrpConfig, VrrpInstance};
use ka_sys::sysctl::{self, Family, ParentParams};
use ka_sys::{AddrSpec, Netlink};
use tracing::{info, warn};

use super::map::Host;

/// The VMAC name of an instance with `use_vmac` (`None` without).
pub fn ifname(prefix: &str, i: &VrrpInstance) -> Option<String> {
    let v = i.use_vmac.as_ref()?;
    Some(
        v.ifname
            .clone()
            .unwrap_or_else(|| format!("{prefix}.{}", i.vrid.get())),
    )
}

/// Fills in the default VMAC names (`vmac_prefix.VRID`) so the mapping sees them.
pub fn resolve_names(cfg: &mut VrrpConfig) {
    let prefix = cfg.global.vmac_prefix.clone();
    for i in &mut cfg.instances {
        let name = ifname(&prefix, i);
        if let (Some(v), Some(n)) = (i.use_vmac.as_mut(), name) {
            v.ifname = Some(n);
        }
    }
}

/// The MAC of an instance's VMAC: the configured one (5 octets get the VRID appended),
/// else the RFC 5798 virtual router MAC.
pub fn mac(i: &VrrpInstance) -> [u8; 6] {
    let vrid = i.vrid.get();
    match i.use_vmac.as_ref().and_then(|v| v.mac.as_deref()) {
        Some([a, b, c, d, e]) => [*a, *b, *c, *d, *e, vrid],
        Some([a, b, c, d, e, f]) => [*a, *b, *c, *d, *e, *f],
        _ => ka_sys::vmac_address(vrid, i.ipv6),
    }
}

/// A VMAC the daemon made (or took over), to delete at stop.
#[derive(Debug, Clone)]
pub(super) struct VmacLink {
    /// Instance.
    pub(super) instance: String,
    /// VMAC name and index.
    pub(super) name: String,
    pub(super) ifindex: u32,
    /// Parent name.
    pub(super) parent: String,
}

/// The VMACs and the parents' sysctls to restore.
#[derive(Debug, Default)]
pub(super) struct Vmacs {
    pub(super) links: Vec<VmacLink>,
    /// Parent -> (arp_ignore/arp_filter, arp_announce) before the first VMAC on it.
    parents: BTreeMap<String, (ParentParams, i64)>,
}

/// Creates (or takes over) every instance's VMAC. An error names the instance; VMACs made
/// before it stay in the returned state's care through `Err`'s partial value.
pub(super) async fn setup(
    nl: &Netlink,
    cfg: &VrrpConfig,
    host: &Host,
) -> (Vmacs, Result<(), String>) {
    let mut out = Vmacs::default();
    for i in &cfg.instances {
        let Some(name) = ifname(&cfg.global.vmac_prefix, i) else {
            continue;
        };
        if let Err(e) = setup_one(nl, i, &name, host, &mut out).await {
            return (
                out,
                Err(format!("vrrp_instance {}: use_vmac {name}: {e}", i.name)),
            );
        }
    }
    (out, Ok(()))
}

async fn setup_one(
    nl: &Netlink,
    i: &VrrpInstance,
    name: &str,
    host: &Host,
    out: &mut Vmacs,
) -> Result<(), String> {
    let parent = i
        .interface
        .as_deref()
        .ok_or("use_vmac needs an interface")?;
    let p = host
        .get(parent)
        .ok_or_else(|| format!("interface {parent} does not exist"))?;
    if !i.unicast_peers.is_empty() && !i.vmac_xmit_base {
        warn!(
            "vrrp_instance {}: use_vmac with unicast peers needs vmac_xmit_base (keepalived)",
            i.name
        );
    }
    let mac = mac(i);
    let links = nl.links().await.map_err(|e| e.to_string())?;
    if let Some(l) = links.iter().find(|l| l.name == name) {
        if l.mac != Some(mac) {
            return Err(format!(
                "interface {name} exists with another MAC address; not touched"
            ));
        }
        info!(
            "({}) taking over VMAC {name} left by an earlier run",
            i.name
        );
    }
    let ifindex = nl
        .add_macvlan(name, p.ifindex, mac)
        .await
        .map_err(|e| e.to_string())?;
    out.links.push(VmacLink {
        instance: i.name.clone(),
        name: name.to_owned(),
        ifindex,
        parent: parent.to_owned(),
    });
    let sys = |e: ka_sys::Error| e.to_string();
    if i.ipv6 {
        // RFC 5798 section 7.4: no link-local address made from the virtual MAC.
        sysctl::set(Family::V6, name, "addr_gen_mode", 1).map_err(sys)?;
        let ll = match i.src_ip {
            Some(IpAddr::V6(a)) => Some(a),
            _ => p.v6_link_local,
        };
        let ll = ll.ok_or_else(|| format!("{parent} has no IPv6 link-local address"))?;
        nl.add_address(&AddrSpec::new(ifindex, IpAddr::V6(ll), 64))
            .await
            .map_err(|e| e.to_string())?;
    } else {
        let announce = sysctl::get(Family::V4, parent, "arp_announce").map_err(sys)?;
        let old = sysctl::set_vmac_params(name, parent).map_err(sys)?;
        out.parents
            .entry(parent.to_owned())
            .or_insert((old, announce));
        sysctl::set(Family::V4, parent, "arp_announce", 2).map_err(sys)?;
        if let Err(e) = sysctl::set(Family::V6, name, "disable_ipv6", 1) {
            warn!("({}) cannot disable IPv6 on {name}: {e}", i.name);
        }
    }
    nl.set_link_up(ifindex, true)
        .await
        .map_err(|e| e.to_string())?;
    // Wait (bounded: 1 s) for the kernel to report it running, so the instance does not
    // start with a FAULT for a link that is only coming up.
    for _ in 0..50 {
        if nl
            .link(ifindex)
            .await
            .ok()
            .flatten()
            .is_some_and(|l| l.is_up())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    info!(
        "({}) VMAC {name} on {parent}, MAC {}",
        i.name,
        mac.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    );
    Ok(())
}

/// Deletes the VMACs and restores the parents' `arp_ignore` / `arp_filter`.
pub(super) async fn teardown(nl: &Netlink, v: &mut Vmacs) {
    for l in v.links.drain(..).rev() {
        match nl.del_link(l.ifindex).await {
            Ok(_) => info!("({}) VMAC {} on {} removed", l.instance, l.name, l.parent),
            Err(e) => warn!("({}) cannot remove VMAC {}: {e}", l.instance, l.name),
        }
    }
    for (parent, (old, announce)) in std::mem::take(&mut v.parents) {
        let r = sysctl::restore_parent_params(&parent, old)
            .and_then(|()| sysctl::set(Family::V4, &parent, "arp_announce", announce));
        if let Err(e) = r {
            warn!("cannot restore arp_ignore/arp_filter/arp_announce on {parent}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_model::vrrp::Vmac;

    fn inst(text: &str) -> VrrpConfig {
        let mut fs = ka_config::fs::MemFs::default();
        fs.insert("/k.conf", text);
        let loaded = ka_config::preprocess::load(
            std::path::Path::new("/k.conf"),
            &fs,
            &ka_config::preprocess::LoadOptions::default(),
        );
        let env = ka_config::lower::Env {
            fs: &fs,
            interfaces: None,
        };
        ka_config::lower::lower(&loaded.tree, &env).0.vrrp
    }

    #[test]
    fn names_and_macs() {
        let mut cfg = inst(
            "global_defs {\n vmac_prefix vm\n}\n\
             vrrp_instance A {\n interface eth0\n virtual_router_id 51\n use_vmac\n \
             virtual_ipaddress {\n 192.0.2.100\n }\n}\n\
             vrrp_instance B {\n interface eth0\n virtual_router_id 52\n use_vmac v6x\n \
             virtual_ipaddress {\n 2001:db8::100\n }\n}\n\
             vrrp_instance C {\n interface eth0\n virtual_router_id 53\n \
             virtual_ipaddress {\n 192.0.2.101\n }\n}\n",
        );
        resolve_names(&mut cfg);
        let [a, b, c] = &cfg.instances[..] else {
            panic!("three instances")
        };
        assert_eq!(
            a.use_vmac.as_ref().unwrap().ifname.as_deref(),
            Some("vm.51")
        );
        assert_eq!(ifname("vm", b).as_deref(), Some("v6x"));
        assert_eq!(ifname("vm", c), None);
        assert_eq!(mac(a), [0, 0, 0x5e, 0, 1, 51]);
        assert_eq!(mac(b), [0, 0, 0x5e, 0, 2, 52]);
        let mut d = a.clone();
        d.use_vmac = Some(Vmac {
            ifname: None,
            mac: Some(vec![2, 0, 0, 0, 9]),
        });
        assert_eq!(mac(&d), [2, 0, 0, 0, 9, 51]);
    }
}
