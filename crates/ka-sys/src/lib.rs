//! All Linux I/O of keepalived-rs: the only crate allowed `unsafe`.
//!
//! The protocol cores (`ka-vrrp`, ...) decide; this crate moves their bytes and applies
//! their decisions to the kernel. Packet bytes come from `ka-wire` and are passed through
//! unchanged. Nothing here compares priorities or keeps protocol state.
//!
//! # Modules
//! - [`vrrp_socket`]: raw VRRP sockets ([`VrrpSocket`]), IPv4 (`IP_HDRINCL`: TOS, TTL, DF
//!   and IP id are the caller's) and IPv6 (traffic class 0xc0, multicast hop limit 255),
//!   group join, unicast, `SO_BINDTODEVICE`; receive gives source, destination, ifindex and
//!   TTL/hop limit from `IP_PKTINFO`/`IP_RECVTTL`/`IPV6_RECVPKTINFO`/`IPV6_RECVHOPLIMIT`.
//! - [`netlink`]: rtnetlink ([`Netlink`]): add/delete/list interface addresses
//!   ([`AddrSpec`]: prefix, label, scope, broadcast, IPv6 nodad; idempotent), start-up
//!   removal of VIPs a killed run left ([`Netlink::remove_leftover_addresses`]), links.
//! - [`route`]: routes and policy rules ([`RouteSpec`], [`RuleSpec`]) on [`Netlink`]:
//!   `virtual_routes`, `virtual_rules`, `static_routes`, `static_rules`.
//! - [`vmac`]: `use_vmac` macvlan (mode private, 00:00:5e:00:01:VRID or
//!   00:00:5e:00:02:VRID), link up/down/delete on [`Netlink`].
//! - [`sysctl`]: per-interface sysctls and keepalived's `use_vmac` settings
//!   (`arp_ignore`, `accept_local`, `rp_filter`, parent `arp_filter`, restorable).
//! - [`monitor`]: link and address events from netlink multicast groups ([`Monitor`],
//!   [`Event`]): admin up/down, carrier and oper state, without polling.
//! - [`packet`]: AF_PACKET ([`PacketSocket`]): gratuitous ARP / unsolicited NA frames
//!   from ka-wire out of an interface (paced bursts), and a capture socket.
//! - [`ipvs`]: kernel IPVS over generic netlink ([`Ipvs`]): services, destinations,
//!   whole [`ka_lb::Table`]s read back and [`ka_lb::Op`]s applied in batches, counters,
//!   timeouts, the sync daemon; the message count of every request.
//! - [`nft`]: the nftables data plane for hosts without IPVS ([`nft::Nft`]): NAT virtual
//!   services from a `ka_lb::Table` as one table of ours, replaced atomically.
//! - [`probe`]: health-checker sockets: TCP/UDP with `bindto`, `bind_port`, `bind_if`
//!   (`SO_BINDTODEVICE`) and `fwmark` (`SO_MARK`) handed to tokio; raw ICMP/ICMPv6 echo
//!   ([`probe::EchoSocket`]) for PING_CHECK.
//! - [`proc_events`]: the netlink proc connector (fork/exec/comm/exit events) that tells
//!   `track_process` when to rescan; initial network namespace only.
//! - [`process`]: scripts' credentials (script user, supplementary groups, own process
//!   group), process group signals, non-blocking notify FIFOs, a bounded `/proc` scan for
//!   `track_process`.
//! - [`tunnel`]: LVS-TUN back ends: `ipip` / `ip6_tunnel` module check and `modprobe`,
//!   catch-all `tunl0` / `ip6tnl0` devices ([`Netlink::add_catchall_tunnel`]).
//! - [`netns`]: `net_namespace NAME` (enter a named namespace before the runtime starts).
//! - [`timer`]: [`PreciseTimer`], a timerfd one-shot (tokio's timers are 1-2 ms late).
//! - [`error`]: the crate's [`Error`]; interface name/index look-ups.
//!
//! # Call order (daemon)
//! 1. Inside a tokio runtime, in the right network namespace: [`Monitor::new`] first,
//!    then [`Netlink::new`] and a dump ([`Netlink::links`]) so no link change is missed.
//! 2. [`Netlink::remove_leftover_addresses`] for the configured VIPs (keepalived does the
//!    same before it starts in BACKUP); [`Netlink::add_macvlan`] for `use_vmac`.
//! 3. Per interface and family: [`VrrpSocket::open_v4`] / [`VrrpSocket::open_v6`],
//!    [`VrrpSocket::join_vrrp_group`] unless unicast, IPv6: [`VrrpSocket::bind_source_v6`]
//!    with the link-local address (the v3 checksum covers it); [`PacketSocket::open_tx`].
//! 4. Loop: `recv` -> `ka_wire::ip::parse_vrrp_ip` (IPv4) or `VrrpPacket::decode` (IPv6)
//!    -> engine; engine transmits -> `send`; engine actions -> address/route/rule calls;
//!    [`Monitor::next`] -> engine link input.
//!
//! Every type needs a tokio runtime (current-thread is enough) and stays in the network
//! namespace it was created in, whichever thread uses it later.
//!
//! # Unsafe
//! Two places, each with a `SAFETY` comment: registering an owned socket or timerfd with
//! tokio's `AsyncFd` (`fd.rs`) and building a `sockaddr_ll` (`packet.rs`). Everything else goes
//! through socket2, nix and rtnetlink.
//!
//! # Tests
//! `tests/` run for real as root in network namespaces they create and remove
//! (`tests/common`): veth pairs, addresses from 192.0.2.0/24 and 2001:db8::/32, a real
//! keepalived 2.2.7 as peer in `keepalived_interop.rs`.
pub mod error;
mod fd;
pub mod ipvs;
pub mod monitor;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod packet;
pub mod probe;
pub mod proc_events;
pub mod process;
pub mod route;
pub mod sysctl;
pub mod timer;
pub mod tunnel;
pub mod vmac;
pub mod vrrp_socket;

pub use error::{Error, Result};
pub use ipvs::Ipvs;
pub use monitor::{Event, Monitor};
pub use netlink::{AddrSpec, IfAddr, Link, Netlink, OperState};
pub use packet::{PacketSocket, RxFrame};
pub use route::{RouteSpec, RuleSpec};
pub use timer::PreciseTimer;
pub use vmac::vmac_address;
pub use vrrp_socket::{RxPacket, VrrpSocket};
