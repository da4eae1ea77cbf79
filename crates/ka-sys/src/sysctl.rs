//! Per-interface sysctls (`/proc/sys/net/{ipv4,ipv6}/conf/IFNAME/PARAM`, `IFNAME` also
//! `all` or `default`) in the network namespace of the calling thread, and the settings
//! keepalived applies for `use_vmac`.
//!
//! keepalived 2.2.7 sets, on the VMAC interface: `arp_ignore=1` (no ARP replies there
//! for the parent's addresses), `accept_local=1` (hear another local instance),
//! `rp_filter=0` (receive on a VMAC without an address), `promote_secondaries=1`; and
//! on the parent: `arp_ignore=1`, `arp_filter=1` (no replies for the VIPs), restoring
//! the parent's old values when the last VMAC on it goes. [`set_vmac_params`] applies
//! them and returns the parent's previous values for [`restore_parent_params`].

use std::path::PathBuf;

use crate::error::{Error, Result};

/// IP family directory of a per-interface sysctl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `net/ipv4/conf`.
    V4,
    /// `net/ipv6/conf`.
    V6,
}

fn path(family: Family, ifname: &str, param: &str) -> Result<PathBuf> {
    // A name with '/' or a leading '.' could leave the conf directory.
    let bad = |s: &str| s.is_empty() || s.contains('/') || s.starts_with('.');
    if bad(ifname) || bad(param) {
        return Err(Error::NoSuchInterfaceName(format!("{ifname}/{param}")));
    }
    let fam = match family {
        Family::V4 => "ipv4",
        Family::V6 => "ipv6",
    };
    Ok(PathBuf::from(format!(
        "/proc/sys/net/{fam}/conf/{ifname}/{param}"
    )))
}

/// Reads an integer per-interface sysctl.
pub fn get(family: Family, ifname: &str, param: &str) -> Result<i64> {
    let p = path(family, ifname, param)?;
    let s = std::fs::read_to_string(&p).map_err(Error::io("read sysctl"))?;
    s.trim()
        .parse()
        .map_err(|_| Error::Decode(format!("{}: not an integer: {s:?}", p.display())))
}

/// Writes an integer per-interface sysctl.
pub fn set(family: Family, ifname: &str, param: &str, value: i64) -> Result<()> {
    let p = path(family, ifname, param)?;
    std::fs::write(&p, format!("{value}\n")).map_err(Error::io("write sysctl"))
}

/// The parent interface's values before [`set_vmac_params`] changed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParentParams {
    /// Previous `arp_ignore`.
    pub arp_ignore: i64,
    /// Previous `arp_filter`.
    pub arp_filter: i64,
}

/// Applies keepalived's `use_vmac` settings to `vmac` and its `parent`; returns the
/// parent's previous values.
pub fn set_vmac_params(vmac: &str, parent: &str) -> Result<ParentParams> {
    set(Family::V4, vmac, "arp_ignore", 1)?;
    set(Family::V4, vmac, "accept_local", 1)?;
    set(Family::V4, vmac, "rp_filter", 0)?;
    set(Family::V4, vmac, "promote_secondaries", 1)?;
    let old = ParentParams {
        arp_ignore: get(Family::V4, parent, "arp_ignore")?,
        arp_filter: get(Family::V4, parent, "arp_filter")?,
    };
    set(Family::V4, parent, "arp_ignore", 1)?;
    set(Family::V4, parent, "arp_filter", 1)?;
    Ok(old)
}

/// Puts the parent's `arp_ignore` / `arp_filter` back (when its last VMAC is removed).
pub fn restore_parent_params(parent: &str, old: ParentParams) -> Result<()> {
    set(Family::V4, parent, "arp_ignore", old.arp_ignore)?;
    set(Family::V4, parent, "arp_filter", old.arp_filter)
}
