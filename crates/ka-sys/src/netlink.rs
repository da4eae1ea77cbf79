//! rtnetlink: interface addresses (VIPs, `static_ipaddress`) and links.
//!
//! [`Netlink::new`] opens an rtnetlink socket in the current network namespace and
//! spawns its connection task on the current tokio runtime. Requests are then plain
//! `async fn`s. Adding an address that exists and deleting one that does not are not
//! errors (they report `false`), so the daemon can re-apply its desired state, and
//! clean up VIPs a killed earlier run left behind, without special cases.

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, State};
use netlink_packet_route::AddressFamily;

use crate::error::{Error, Result};

/// `RT_SCOPE_UNIVERSE` (`scope global`).
pub const SCOPE_GLOBAL: u8 = 0;
/// `RT_SCOPE_SITE`.
pub const SCOPE_SITE: u8 = 200;
/// `RT_SCOPE_LINK`.
pub const SCOPE_LINK: u8 = 253;
/// `RT_SCOPE_HOST`.
pub const SCOPE_HOST: u8 = 254;
/// `RT_SCOPE_NOWHERE`.
pub const SCOPE_NOWHERE: u8 = 255;

/// `IFA_F_NODAD`.
pub const IFA_F_NODAD: u32 = 0x02;
/// `IFA_F_SECONDARY`.
pub const IFA_F_SECONDARY: u32 = 0x01;
/// `IFA_F_TENTATIVE`.
pub const IFA_F_TENTATIVE: u32 = 0x40;

const EEXIST: i32 = libc::EEXIST;
const EADDRNOTAVAIL: i32 = libc::EADDRNOTAVAIL;
const ENODEV: i32 = libc::ENODEV;

/// An address to put on (or take off) an interface, as keepalived's
/// `virtual_ipaddress` line says it: `ADDR/LEN [brd B] [dev D] [scope S] [label L]`
/// (and for IPv6 `nodad`, which keepalived sets on every IPv6 VIP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrSpec {
    /// Interface index.
    pub ifindex: u32,
    /// The address.
    pub addr: IpAddr,
    /// Prefix length (32 / 128 for a host VIP).
    pub prefix_len: u8,
    /// IPv4 label (`eth0:vip`); at most 15 bytes, conventionally starting with the
    /// interface name.
    pub label: Option<String>,
    /// Scope ([`SCOPE_GLOBAL`], [`SCOPE_HOST`], ...).
    pub scope: u8,
    /// IPv4 broadcast address; none unless given (keepalived adds none by default).
    pub broadcast: Option<Ipv4Addr>,
    /// IPv6: skip duplicate address detection (`IFA_F_NODAD`).
    pub nodad: bool,
}

impl AddrSpec {
    /// `addr/prefix_len` on `ifindex`, scope global, no label, no broadcast; IPv6 gets
    /// `nodad` as keepalived does.
    pub fn new(ifindex: u32, addr: IpAddr, prefix_len: u8) -> AddrSpec {
        AddrSpec {
            ifindex,
            addr,
            prefix_len,
            label: None,
            scope: SCOPE_GLOBAL,
            broadcast: None,
            nodad: addr.is_ipv6(),
        }
    }

    fn message(&self) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = match self.addr {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        m.header.prefix_len = self.prefix_len;
        m.header.index = self.ifindex;
        m.header.scope = AddressScope::from(self.scope);
        m.attributes.push(AddressAttribute::Local(self.addr));
        m.attributes.push(AddressAttribute::Address(self.addr));
        if let (Some(b), IpAddr::V4(_)) = (self.broadcast, self.addr) {
            m.attributes.push(AddressAttribute::Broadcast(b));
        }
        if let (Some(l), IpAddr::V4(_)) = (&self.label, self.addr) {
            m.attributes.push(AddressAttribute::Label(l.clone()));
        }
        if self.nodad && self.addr.is_ipv6() {
            m.header.flags = AddressHeaderFlags::Nodad;
            m.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        m
    }
}

/// An address as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddr {
    /// Interface index.
    pub ifindex: u32,
    /// The local address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// IPv4 label, when set.
    pub label: Option<String>,
    /// Scope.
    pub scope: u8,
    /// IPv4 broadcast, when set.
    pub broadcast: Option<Ipv4Addr>,
    /// `IFA_F_*` flags.
    pub flags: u32,
}

impl IfAddr {
    pub(crate) fn from_message(m: &AddressMessage) -> Option<IfAddr> {
        let mut local = None;
        let mut address = None;
        let mut label = None;
        let mut broadcast = None;
        let mut flags = u32::from(m.header.flags.bits());
        for a in &m.attributes {
            match a {
                AddressAttribute::Local(x) => local = Some(*x),
                AddressAttribute::Address(x) => address = Some(*x),
                AddressAttribute::Label(l) => label = Some(l.clone()),
                AddressAttribute::Broadcast(b) => broadcast = Some(*b),
                AddressAttribute::Flags(f) => flags = f.bits(),
                _ => {}
            }
        }
        Some(IfAddr {
            ifindex: m.header.index,
            addr: local.or(address)?,
            prefix_len: m.header.prefix_len,
            label,
            scope: u8::from(m.header.scope),
            broadcast,
            flags,
        })
    }
}

/// A link (interface) as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub ifindex: u32,
    /// Interface name.
    pub name: String,
    /// Administratively up (`IFF_UP`).
    pub admin_up: bool,
    /// `IFF_RUNNING` (the kernel's carrier/oper view).
    pub running: bool,
    /// RFC 2863 operational state.
    pub oper: OperState,
    /// Hardware address, when the link has one.
    pub mac: Option<[u8; 6]>,
}

impl Link {
    /// Whether the link can carry traffic: up, running and not oper-down.
    /// (`OperState::Unknown` counts as up, as for loopback and some virtual devices.)
    pub fn is_up(&self) -> bool {
        self.admin_up && self.running && matches!(self.oper, OperState::Up | OperState::Unknown)
    }

    pub(crate) fn from_message(m: &LinkMessage) -> Option<Link> {
        let mut name = None;
        let mut oper = OperState::Unknown;
        let mut mac = None;
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => name = Some(n.clone()),
                LinkAttribute::OperState(s) => oper = OperState::from(*s),
                LinkAttribute::Address(b) => mac = <[u8; 6]>::try_from(b.as_slice()).ok(),
                _ => {}
            }
        }
        Some(Link {
            ifindex: m.header.index,
            name: name?,
            admin_up: m.header.flags.contains(LinkFlags::Up),
            running: m.header.flags.contains(LinkFlags::Running),
            oper,
            mac,
        })
    }
}

/// RFC 2863 operational state (`IF_OPER_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperState {
    /// Unknown (also the state of links without carrier reporting).
    Unknown,
    /// Not present.
    NotPresent,
    /// Down.
    Down,
    /// Lower layer down.
    LowerLayerDown,
    /// Testing.
    Testing,
    /// Dormant.
    Dormant,
    /// Up.
    Up,
}

impl From<State> for OperState {
    fn from(s: State) -> Self {
        match s {
            State::NotPresent => OperState::NotPresent,
            State::Down => OperState::Down,
            State::LowerLayerDown => OperState::LowerLayerDown,
            State::Testing => OperState::Testing,
            State::Dormant => OperState::Dormant,
            State::Up => OperState::Up,
            _ => OperState::Unknown,
        }
    }
}

/// An rtnetlink connection in the current network namespace.
#[derive(Debug, Clone)]
pub struct Netlink {
    handle: rtnetlink::Handle,
}

impl Netlink {
    /// Opens the socket and spawns its connection task (needs a tokio runtime).
    pub fn new() -> Result<Netlink> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(Error::io("rtnetlink socket"))?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// The underlying rtnetlink handle, for requests this module does not wrap.
    pub fn handle(&self) -> &rtnetlink::Handle {
        &self.handle
    }

    /// Adds an address. `Ok(true)` when added, `Ok(false)` when it was already there.
    /// A label longer than 15 bytes (`IFNAMSIZ - 1`) is refused before asking the kernel.
    pub async fn add_address(&self, spec: &AddrSpec) -> Result<bool> {
        if spec.label.as_ref().is_some_and(|l| l.len() > 15) {
            return Err(Error::Decode(format!(
                "address label {:?} longer than 15 bytes",
                spec.label
            )));
        }
        let mut req = self
            .handle
            .address()
            .add(spec.ifindex, spec.addr, spec.prefix_len);
        *req.message_mut() = spec.message();
        match req.execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(EEXIST) => Ok(false),
            Err(source) => Err(Error::Netlink {
                op: "add address",
                source,
            }),
        }
    }

    /// Deletes an address. `Ok(true)` when deleted, `Ok(false)` when it was not there
    /// (or its interface is gone).
    pub async fn del_address(&self, spec: &AddrSpec) -> Result<bool> {
        let mut m = spec.message();
        // The kernel matches the local address, prefix and (IPv4) label; the other
        // attributes are not needed to find it.
        m.attributes.retain(|a| {
            matches!(
                a,
                AddressAttribute::Local(_)
                    | AddressAttribute::Address(_)
                    | AddressAttribute::Label(_)
            )
        });
        match self.handle.address().del(m).execute().await {
            Ok(()) => Ok(true),
            Err(e) if matches!(errno(&e), Some(EADDRNOTAVAIL | ENODEV)) => Ok(false),
            Err(source) => Err(Error::Netlink {
                op: "delete address",
                source,
            }),
        }
    }

    /// Start-up clean-up: removes those of `vips` that are present (left behind by a
    /// killed earlier run, which never got to remove them) and returns them, for the log.
    /// Addresses not in `vips` are never touched.
    pub async fn remove_leftover_addresses(&self, vips: &[AddrSpec]) -> Result<Vec<AddrSpec>> {
        let mut removed = Vec::new();
        for v in vips {
            let present = self
                .addresses(v.ifindex)
                .await?
                .iter()
                .any(|a| a.addr == v.addr && a.prefix_len == v.prefix_len);
            if present && self.del_address(v).await? {
                removed.push(v.clone());
            }
        }
        Ok(removed)
    }

    /// The addresses of interface `ifindex` (both families).
    pub async fn addresses(&self, ifindex: u32) -> Result<Vec<IfAddr>> {
        let msgs: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(ifindex)
            .execute()
            .try_collect()
            .await
            .map_err(|source| Error::Netlink {
                op: "list addresses",
                source,
            })?;
        Ok(msgs
            .iter()
            .filter(|m| m.header.index == ifindex)
            .filter_map(IfAddr::from_message)
            .collect())
    }

    /// Every address of the namespace (all interfaces, both families).
    pub async fn all_addresses(&self) -> Result<Vec<IfAddr>> {
        let msgs: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|source| Error::Netlink {
            op: "list addresses",
            source,
        })?;
        Ok(msgs.iter().filter_map(IfAddr::from_message).collect())
    }

    /// All links of the namespace.
    pub async fn links(&self) -> Result<Vec<Link>> {
        let msgs: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|source| Error::Netlink {
                op: "list links",
                source,
            })?;
        Ok(msgs.iter().filter_map(Link::from_message).collect())
    }

    /// The link with index `ifindex`, if any.
    pub async fn link(&self, ifindex: u32) -> Result<Option<Link>> {
        Ok(self
            .links()
            .await?
            .into_iter()
            .find(|l| l.ifindex == ifindex))
    }
}

/// The positive errno of a netlink error answer.
pub(crate) fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.raw_code().checked_neg(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_carries_what_the_spec_says() {
        let spec = AddrSpec {
            label: Some("eth0:v".into()),
            scope: SCOPE_HOST,
            broadcast: Some(Ipv4Addr::new(192, 0, 2, 255)),
            ..AddrSpec::new(3, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)), 24)
        };
        let m = spec.message();
        assert_eq!((m.header.index, m.header.prefix_len), (3, 24));
        assert_eq!(u8::from(m.header.scope), SCOPE_HOST);
        assert!(m
            .attributes
            .contains(&AddressAttribute::Label("eth0:v".into())));
        assert!(m
            .attributes
            .contains(&AddressAttribute::Broadcast(Ipv4Addr::new(192, 0, 2, 255))));
        // No broadcast unless asked (rtnetlink's own builder would add one).
        let plain = AddrSpec::new(3, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)), 24).message();
        assert!(!plain
            .attributes
            .iter()
            .any(|a| matches!(a, AddressAttribute::Broadcast(_))));
        // IPv6: nodad by default, and no IPv4-only attributes.
        let v6 = AddrSpec {
            label: Some("x".into()),
            ..AddrSpec::new(3, "2001:db8::9".parse().unwrap(), 64)
        }
        .message();
        assert!(v6
            .attributes
            .contains(&AddressAttribute::Flags(AddressFlags::Nodad)));
        assert!(!v6
            .attributes
            .iter()
            .any(|a| matches!(a, AddressAttribute::Label(_))));
    }
}
