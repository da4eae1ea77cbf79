//! keepalived.conf's validated VRRP model (`ka_model::vrrp`) -> the engine's configuration
//! (`ka_vrrp::RouterConfig`). Pure: the host facts (interface indexes and primary
//! addresses) come in as a [`Host`] value, so this is unit-tested without a kernel.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ka_model::vrrp::{AddressSpec, AuthType, InitialState, VrrpConfig, VrrpInstance};
use ka_vrrp::{
    AuthConfig, Family, GarpConfig, IfaceId, InstanceConfig, RouterConfig, SyncGroupConfig,
    TrackIfConfig, VipConfig,
};

/// What the daemon knows about one interface of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostIface {
    /// ifindex.
    pub ifindex: u32,
    /// Primary IPv4 address (the first one the kernel lists).
    pub v4: Option<Ipv4Addr>,
    /// IPv6 link-local address.
    pub v6_link_local: Option<Ipv6Addr>,
}

/// The host's interfaces by name.
pub type Host = BTreeMap<String, HostIface>;

/// Why an instance cannot run on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapError {
    /// Instance name.
    pub instance: String,
    /// What is wrong.
    pub msg: String,
}

impl std::fmt::Display for MapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vrrp_instance {}: {}", self.instance, self.msg)
    }
}

/// The result of mapping: the engine's configuration plus warnings about what the daemon
/// does not run yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The engine configuration (not yet validated by `Router::new`).
    pub router: RouterConfig,
    /// Things configured but ignored by this first cut.
    pub warnings: Vec<String>,
}

/// Maps every instance and sync group.
pub fn map_config(cfg: &VrrpConfig, host: &Host) -> Result<Mapped, Vec<MapError>> {
    let mut instances = Vec::new();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for i in &cfg.instances {
        match map_instance(i, host, &mut warnings) {
            Ok(mut c) => {
                c.tracks = super::track::tracks_for(cfg, i);
                instances.push(c);
            }
            Err(msg) => errors.push(MapError {
                instance: i.name.clone(),
                msg,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let sync_groups = cfg
        .sync_groups
        .iter()
        .map(|g| SyncGroupConfig {
            name: g.name.clone(),
            members: g.instances.clone(),
            tracking_weight: g.sync_group_tracking_weight,
        })
        .collect();
    Ok(Mapped {
        router: RouterConfig {
            instances,
            sync_groups,
        },
        warnings,
    })
}

fn iface<'h>(host: &'h Host, name: &str) -> Result<&'h HostIface, String> {
    host.get(name)
        .ok_or_else(|| format!("interface {name} does not exist"))
}

fn vip(a: &AddressSpec, host: &Host) -> Result<VipConfig, String> {
    let iface = match &a.dev {
        Some(d) => Some(IfaceId(iface(host, d)?.ifindex)),
        None => None,
    };
    Ok(VipConfig {
        addr: a.prefix.addr,
        prefix_len: a.prefix.len,
        iface,
    })
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

/// Maps one instance.
pub fn map_instance(
    i: &VrrpInstance,
    host: &Host,
    warnings: &mut Vec<String>,
) -> Result<InstanceConfig, String> {
    let ifname = i
        .interface
        .as_deref()
        .ok_or("no interface (instances without `interface` are not supported yet)")?;
    let hi = iface(host, ifname)?;
    // use_vmac: the instance runs on the VMAC (made by `vmac::setup`), or with
    // vmac_xmit_base on its interface with only the VIPs on the VMAC.
    let vmac = match i.use_vmac.as_ref().and_then(|v| v.ifname.as_deref()) {
        Some(n) => Some(iface(host, n)?.ifindex),
        None => None,
    };
    let run_ifindex = match vmac {
        Some(v) if !i.vmac_xmit_base => v,
        _ => hi.ifindex,
    };
    let family = if i.ipv6 { Family::V6 } else { Family::V4 };
    let src_addr = match (i.src_ip, family) {
        (Some(a), _) => a,
        (None, Family::V4) => IpAddr::V4(
            hi.v4
                .ok_or_else(|| format!("interface {ifname} has no IPv4 address"))?,
        ),
        (None, Family::V6) => IpAddr::V6(
            hi.v6_link_local
                .ok_or_else(|| format!("interface {ifname} has no IPv6 link-local address"))?,
        ),
    };
    let mut c = InstanceConfig::new(&i.name, i.vrid, IfaceId(run_ifindex), src_addr);
    c.version = i.version;
    c.family = family;
    c.priority = i.priority.0;
    c.initial_state = match i.initial_state {
        InitialState::Master => ka_vrrp::InitialState::Master,
        InitialState::Backup => ka_vrrp::InitialState::Backup,
    };
    c.advert_int = i.advert_int_cs;
    c.preempt = !i.nopreempt;
    c.preempt_delay = i.preempt_delay;
    c.accept = Some(i.accept);
    c.strict = i.strict_mode;
    c.unicast_peers = i.unicast_peers.iter().map(|p| p.addr).collect();
    c.check_unicast_src = i.check_unicast_src;
    let default_group = match family {
        Family::V4 => IpAddr::V4(ka_sys::vrrp_socket::VRRP_GROUP_V4),
        Family::V6 => IpAddr::V6(ka_sys::vrrp_socket::VRRP_GROUP_V6),
    };
    c.mcast_group = (i.mcast_dst_ip != default_group).then_some(i.mcast_dst_ip);
    c.auth = match &i.authentication {
        None => AuthConfig::None,
        Some(a) => {
            let key = AuthConfig::pad(a.password.as_bytes());
            match a.kind {
                AuthType::Pass => AuthConfig::Pass(key),
                AuthType::Ah => {
                    return Err("auth_type AH is not supported by the daemon yet".into())
                }
            }
        }
    };
    let on_vmac = |mut v: VipConfig| {
        if v.iface.is_none() && i.vmac_xmit_base {
            v.iface = vmac.map(IfaceId);
        }
        v
    };
    c.vips = i
        .virtual_ipaddresses
        .iter()
        .map(|a| vip(a, host).map(on_vmac))
        .collect::<Result<_, _>>()?;
    c.excluded_vips = i
        .virtual_ipaddresses_excluded
        .iter()
        .map(|a| vip(a, host).map(on_vmac))
        .collect::<Result<_, _>>()?;
    c.virtual_routes = i
        .virtual_routes
        .iter()
        .map(super::net::route_text)
        .collect();
    c.virtual_rules = i.virtual_rules.iter().map(super::net::rule_text).collect();
    c.track_interfaces = i
        .track
        .interfaces
        .iter()
        .map(|t| {
            Ok(TrackIfConfig {
                iface: IfaceId(iface(host, &t.name)?.ifindex),
                weight: t.weight.map_or(0, |w| w.value),
                reverse: t.weight.is_some_and(|w| w.reverse),
            })
        })
        .collect::<Result<_, String>>()?;
    c.dont_track_primary = i.dont_track_primary;
    let g = &i.garp;
    c.garp = GarpConfig {
        master_delay: secs(g.master_delay_secs),
        master_repeat: g.master_repeat,
        master_refresh: (g.master_refresh_secs > 0).then(|| secs(g.master_refresh_secs)),
        master_refresh_repeat: g.master_refresh_repeat,
        lower_prio_repeat: g.lower_prio_repeat,
        lower_prio_delay: Some(secs(g.lower_prio_delay_secs)),
    };
    c.lower_prio_no_advert = i.lower_prio_no_advert;
    c.higher_prio_send_advert = i.higher_prio_send_advert;
    c.down_timer_adverts = u32::from(i.down_timer_adverts);
    c.skip_check_adv_addr = i.skip_check_adv_addr;

    let t = &i.track;
    let ignored = [
        ("track_bfd", t.bfds.len()),
        ("use_ipvlan", usize::from(i.use_ipvlan.is_some())),
    ];
    for (what, n) in ignored {
        if n > 0 {
            warnings.push(format!(
                "vrrp_instance {}: {what} is not run by the daemon yet (ignored)",
                i.name
            ));
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_config::fs::MemFs;
    use ka_config::lower::{lower, Env};
    use ka_config::preprocess::{load, LoadOptions};
    use ka_model::{Centisecs, VrrpVersion};
    use std::path::Path;

    fn host() -> Host {
        let mut h = Host::new();
        h.insert(
            "eth0".into(),
            HostIface {
                ifindex: 7,
                v4: Some("192.0.2.10".parse().unwrap()),
                v6_link_local: Some("fe80::7".parse().unwrap()),
            },
        );
        h.insert(
            "eth1".into(),
            HostIface {
                ifindex: 8,
                v4: None,
                v6_link_local: None,
            },
        );
        h
    }

    fn model(text: &str) -> VrrpConfig {
        let mut fs = MemFs::default();
        fs.insert("/k.conf", text);
        let loaded = load(Path::new("/k.conf"), &fs, &LoadOptions::default());
        let env = Env {
            fs: &fs,
            interfaces: None,
        };
        let (cfg, diags) = lower(&loaded.tree, &env);
        assert!(
            diags
                .iter()
                .all(|d| d.severity != ka_config::Severity::Error),
            "{diags:?}"
        );
        cfg.vrrp
    }

    #[test]
    fn v3_multicast_instance() {
        let m = model(
            "vrrp_instance VI_1 {\n state MASTER\n interface eth0\n virtual_router_id 51\n \
             priority 150\n advert_int 0.1\n version 3\n nopreempt\n \
             virtual_ipaddress {\n 192.0.2.100/24\n 192.0.2.101 dev eth1\n }\n \
             track_interface {\n eth1 weight -20\n }\n}\n",
        );
        let out = map_config(&m, &host()).unwrap();
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let c = &out.router.instances[0];
        assert_eq!(c.name, "VI_1");
        assert_eq!(c.vrid.get(), 51);
        assert_eq!(c.interface, IfaceId(7));
        assert_eq!(c.src_addr, "192.0.2.10".parse::<IpAddr>().unwrap());
        assert_eq!(c.version, VrrpVersion::V3);
        assert_eq!(c.priority, 150);
        assert_eq!(c.advert_int, Centisecs(10));
        assert!(!c.preempt);
        assert_eq!(c.initial_state, ka_vrrp::InitialState::Master);
        assert_eq!(c.mcast_group, None);
        assert_eq!(c.vips.len(), 2);
        assert_eq!(c.vips[0].prefix_len, 24);
        assert_eq!(c.vips[0].iface, None);
        assert_eq!(c.vips[1].prefix_len, 32);
        assert_eq!(c.vips[1].iface, Some(IfaceId(8)));
        assert_eq!(c.track_interfaces[0].iface, IfaceId(8));
        assert_eq!(c.track_interfaces[0].weight, -20);
        assert_eq!(c.garp.master_repeat, 5);
        assert_eq!(c.garp.master_delay, Duration::from_secs(5));
        // The engine accepts it.
        ka_vrrp::Router::new(out.router).unwrap();
    }

    #[test]
    fn v2_pass_unicast_src_and_ipv6() {
        let m = model(
            "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n \
             unicast_src_ip 192.0.2.11\n unicast_peer {\n 192.0.2.12\n }\n \
             authentication {\n auth_type PASS\n auth_pass secret\n }\n \
             virtual_ipaddress {\n 192.0.2.200\n }\n}\n\
             vrrp_instance B {\n interface eth0\n virtual_router_id 2\n \
             virtual_ipaddress {\n 2001:db8::100\n }\n track_script {\n chk\n }\n}\n\
             vrrp_script chk {\n script \"/bin/true\"\n}\n\
             vrrp_sync_group G {\n group {\n A\n }\n}\n",
        );
        let out = map_config(&m, &host()).unwrap();
        let a = &out.router.instances[0];
        assert_eq!(a.version, VrrpVersion::V2);
        assert_eq!(a.src_addr, "192.0.2.11".parse::<IpAddr>().unwrap());
        assert_eq!(
            a.unicast_peers,
            vec!["192.0.2.12".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(a.auth, AuthConfig::Pass(*b"secret\0\0"));
        let b = &out.router.instances[1];
        assert_eq!(b.family, Family::V6);
        assert_eq!(b.version, VrrpVersion::V3);
        assert_eq!(b.src_addr, "fe80::7".parse::<IpAddr>().unwrap());
        assert_eq!(out.router.sync_groups[0].members, vec!["A".to_owned()]);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        // The script is tracked with its default weight (0: failure means FAULT).
        assert_eq!(b.tracks.len(), 1);
        assert_eq!(b.tracks[0].id.0, "script:chk");
        assert_eq!(b.tracks[0].weight, 0);
        assert!(a.tracks.is_empty());
    }

    #[test]
    fn missing_interface_or_address_is_an_error() {
        let m = model(
            "vrrp_instance A {\n interface eth9\n virtual_router_id 1\n \
             virtual_ipaddress {\n 192.0.2.200\n }\n}\n\
             vrrp_instance B {\n interface eth1\n virtual_router_id 2\n \
             virtual_ipaddress {\n 192.0.2.201\n }\n}\n",
        );
        let errs = map_config(&m, &host()).unwrap_err();
        assert_eq!(errs.len(), 2);
        assert!(
            errs[0].to_string().contains("eth9 does not exist"),
            "{}",
            errs[0]
        );
        assert!(
            errs[1].to_string().contains("no IPv4 address"),
            "{}",
            errs[1]
        );
    }
}
