//! `use_vmac`: a macvlan interface carrying the VRRP virtual MAC, and link up/down/delete.
//!
//! RFC 5798 section 7.3: the virtual router MAC is 00-00-5E-00-01-{VRID} for IPv4 and
//! 00-00-5E-00-02-{VRID} for IPv6. keepalived creates a macvlan in mode private on the
//! instance's interface. (keepalived also tunes sysctls such as `arp_ignore` on it;
//! that is not done here.)

use netlink_packet_route::link::{LinkFlags, LinkMessage, MacVlanMode};
use rtnetlink::{LinkMacVlan, LinkUnspec};

use crate::error::{Error, Result};
use crate::netlink::{errno, Netlink};

/// The virtual router MAC of `vrid` (RFC 5798 section 7.3).
pub const fn vmac_address(vrid: u8, v6: bool) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, if v6 { 0x02 } else { 0x01 }, vrid]
}

impl Netlink {
    /// Creates macvlan `name` (mode private) on `parent` with MAC `mac`, and returns its
    /// ifindex. An existing link of that name is kept and its index returned, so a
    /// restart reuses the VMAC interface a killed run left. The link starts down.
    pub async fn add_macvlan(&self, name: &str, parent: u32, mac: [u8; 6]) -> Result<u32> {
        let msg = LinkMacVlan::new(name, parent, MacVlanMode::Private)
            .address(mac.to_vec())
            .build();
        match self.handle().link().add(msg).execute().await {
            Ok(()) => {}
            Err(e) if errno(&e) == Some(libc::EEXIST) => {}
            Err(source) => {
                return Err(Error::Netlink {
                    op: "add macvlan",
                    source,
                })
            }
        }
        self.links()
            .await?
            .into_iter()
            .find(|l| l.name == name)
            .map(|l| l.ifindex)
            .ok_or_else(|| Error::NoSuchInterfaceName(name.to_owned()))
    }

    /// Sets a link administratively up or down.
    pub async fn set_link_up(&self, ifindex: u32, up: bool) -> Result<()> {
        let b = LinkUnspec::new_with_index(ifindex);
        let msg: LinkMessage = if up { b.up() } else { b.down() }.build();
        debug_assert!(msg.header.change_mask.contains(LinkFlags::Up));
        self.handle()
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|source| Error::Netlink {
                op: "set link",
                source,
            })
    }

    /// Deletes a link. `Ok(false)` when it did not exist.
    pub async fn del_link(&self, ifindex: u32) -> Result<bool> {
        match self.handle().link().del(ifindex).execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
            Err(source) => Err(Error::Netlink {
                op: "delete link",
                source,
            }),
        }
    }
}
