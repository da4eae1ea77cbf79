//! All Linux I/O of keepalived-rs: the only crate allowed `unsafe`.
//!
//! Modules:
//! - [`error`]: the crate's [`Error`], interface name/index look-ups.
//! - [`vrrp_socket`]: raw VRRP sockets ([`VrrpSocket`]) for IPv4 (`IP_HDRINCL`) and IPv6,
//!   multicast join, unicast, receive with destination, ifindex and TTL from control
//!   messages. Async with tokio (`AsyncFd`).
//! - [`netlink`]: rtnetlink ([`Netlink`]): add/delete/list interface addresses
//!   ([`AddrSpec`]: prefix, label, scope, broadcast, IPv6 nodad; idempotent), list links.
//! - [`monitor`]: link (and address) events from netlink multicast groups ([`Monitor`],
//!   [`Event`]): up/down and oper state without polling.
//! - [`route`]: routes and policy rules ([`RouteSpec`], [`RuleSpec`]) on [`Netlink`]:
//!   `virtual_routes`, `virtual_rules`, `static_routes`, `static_rules`.
//! - [`vmac`]: `use_vmac` macvlan (mode private, 00:00:5e:00:01:VRID or
//!   00:00:5e:00:02:VRID), link up/down/delete on [`Netlink`].
//! - [`packet`]: AF_PACKET ([`PacketSocket`]): gratuitous ARP / unsolicited NA frames
//!   from ka-wire out of an interface, and a capture socket.
//!
//! Every type here needs a tokio runtime (current-thread is enough) and works in the
//! network namespace it was created in. The protocol bytes come from `ka-wire`; this
//! crate only moves them.
pub mod error;
mod fd;
pub mod monitor;
pub mod netlink;
pub mod packet;
pub mod route;
pub mod vmac;
pub mod vrrp_socket;

pub use error::{Error, Result};
pub use monitor::{Event, Monitor};
pub use netlink::{AddrSpec, IfAddr, Link, Netlink, OperState};
pub use packet::{PacketSocket, RxFrame};
pub use route::{RouteSpec, RuleSpec};
pub use vmac::vmac_address;
pub use vrrp_socket::{RxPacket, VrrpSocket};
