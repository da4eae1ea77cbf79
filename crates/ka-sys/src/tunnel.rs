//! LVS-TUN back ends: the tunnel kernel modules and their catch-all tunnel devices.
//!
//! An LVS director in TUN mode wraps each packet for the VIP in IPIP (IPv4) or IPv6-in-IPv6;
//! the real server needs the `ipip` (or `ip6_tunnel`) module, whose catch-all device
//! (`tunl0`, `ip6tnl0`: no local and no remote end) receives those packets. Loading the
//! module creates that device in every network namespace unless
//! `net.core.fb_tunnels_only_for_init_net` says otherwise; [`Netlink::add_catchall_tunnel`]
//! then creates one of the same kind by hand.
//!
//! Modules are loaded with the system's `modprobe` (kmod or busybox); whether one is there
//! is read from `/sys/module/NAME` (present for loaded modules and for built-in ones with
//! parameters, as `ipip` and `ip6_tunnel` have).

use std::path::Path;
use std::process::{Command, Stdio};

use rtnetlink::{LinkIp6Tnl, LinkIpIp};

use crate::error::{Error, Result};
use crate::netlink::{errno, Netlink};

/// Whether kernel module `name` is loaded (or built in): `/sys/module/NAME` exists.
pub fn module_loaded(name: &str) -> bool {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return false;
    }
    Path::new("/sys/module")
        .join(name.replace('-', "_"))
        .exists()
}

/// Loads kernel module `name` with `modprobe NAME`. The error carries what modprobe said
/// (for example that the module is not in `/lib/modules/RELEASE`).
pub fn load_module(name: &str) -> Result<()> {
    let out = match Command::new("modprobe")
        .arg(name)
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Module {
                name: name.to_owned(),
                detail: "modprobe is not installed (Debian package kmod)".into(),
            })
        }
        Err(e) => return Err(Error::io("run modprobe")(e)),
    };
    if out.status.success() && module_loaded(name) {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    Err(Error::Module {
        name: name.to_owned(),
        detail: if said.is_empty() {
            format!("modprobe {name}: {}", out.status)
        } else {
            said
        },
    })
}

impl Netlink {
    /// Creates a catch-all tunnel device (no local, no remote end) named `name`: IPIP, or
    /// IPv6-in-IPv6 (`ip6tnl`) when `v6`. `Ok(false)` when a link of that name exists
    /// already. The device starts down.
    pub async fn add_catchall_tunnel(&self, name: &str, v6: bool) -> Result<bool> {
        let msg = if v6 {
            LinkIp6Tnl::new(name).build()
        } else {
            LinkIpIp::new(name).build()
        };
        match self.handle().link().add(msg).execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
            Err(source) => Err(Error::Netlink {
                op: "add tunnel",
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_cannot_leave_sys_module() {
        assert!(!module_loaded(""));
        assert!(!module_loaded("../../etc"));
        assert!(!module_loaded(".."));
    }
}
