//! Raw VRRP sockets (IP protocol 112), IPv4 and IPv6, for multicast and unicast adverts.
//!
//! IPv4 sends with `IP_HDRINCL`: the caller passes the whole IP packet (build it with
//! `ka_wire::ip::keepalived_ipv4`), so TOS 0xc0, TTL 255, no DF and the IP id are the
//! caller's (the kernel fills the id only when it is 0, and always the checksum and total
//! length). IPv6 cannot include the header: the caller passes the VRRP message (with its
//! checksum computed by ka-wire over the pseudo-header, `IPV6_CHECKSUM` is not used) and
//! the socket sets traffic class 0xc0 and multicast hop limit 255 (RFC 5798 section
//! 5.1.2.3); the unicast hop limit stays at the kernel default (64), as keepalived 2.2.7
//! sends, unless [`VrrpSocket::set_unicast_hop_limit`] is called.
//!
//! On receive, the destination and the arrival interface come from `IP_PKTINFO` /
//! `IPV6_PKTINFO`, the TTL / hop limit from `IP_RECVTTL` / `IPV6_RECVHOPLIMIT`. Each
//! socket is bound to its interface (`SO_BINDTODEVICE`), does not loop its multicast back
//! and does not see groups joined by other sockets (`IP_MULTICAST_ALL` off).

use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage,
};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::error::{ifname, Error, Result};

/// IP protocol number of VRRP (RFC 5798 section 5.1.1.4).
pub const IPPROTO_VRRP: i32 = 112;
/// IP protocol number of AH (keepalived's VRRPv2 `auth_type AH`).
pub const IPPROTO_AH: i32 = 51;
/// The IPv4 VRRP multicast group (RFC 5798 section 5.1.1.2).
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 VRRP multicast group (RFC 5798 section 5.1.2.2).
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// Largest datagram read: an IPv6 advert with 255 addresses is 4088 bytes; longer
/// (truncated) datagrams are dropped.
const RX_BUF: usize = 8192;

/// A received VRRP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RxPacket {
    /// Source address (IPv6 link-local sources carry no scope here; see `ifindex`).
    pub src: IpAddr,
    /// Destination address the packet was sent to (the group, or our unicast address).
    pub dst: IpAddr,
    /// Interface the packet arrived on.
    pub ifindex: u32,
    /// IPv4 TTL or IPv6 hop limit as received.
    pub ttl: u8,
    /// IPv4: the whole IP datagram starting with its header (parse it with
    /// `ka_wire::ip::parse_vrrp_ip`). IPv6: the VRRP message only (the kernel removes
    /// the IPv6 header; decode it with `VrrpPacket::decode(.., Family::V6)`).
    pub data: Vec<u8>,
}

/// A raw VRRP socket bound to one interface, driven by tokio.
#[derive(Debug)]
pub struct VrrpSocket {
    fd: AsyncFd<Socket>,
    ifindex: u32,
    v6: bool,
}

impl VrrpSocket {
    /// An IPv4 socket for protocol 112 on interface `ifindex`, with `IP_HDRINCL`.
    /// Must be called inside a tokio runtime.
    pub fn open_v4(ifindex: u32) -> Result<VrrpSocket> {
        Self::open_v4_protocol(ifindex, IPPROTO_VRRP)
    }

    /// Like [`VrrpSocket::open_v4`] for another protocol ([`IPPROTO_AH`]).
    pub fn open_v4_protocol(ifindex: u32, protocol: i32) -> Result<VrrpSocket> {
        let name = ifname(ifindex)?;
        let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(protocol)))
            .map_err(Error::io("socket(AF_INET, SOCK_RAW)"))?;
        s.set_header_included_v4(true)
            .map_err(Error::io("IP_HDRINCL"))?;
        s.set_multicast_loop_v4(false)
            .map_err(Error::io("IP_MULTICAST_LOOP"))?;
        s.set_multicast_all_v4(false)
            .map_err(Error::io("IP_MULTICAST_ALL"))?;
        setsockopt(&s, sockopt::Ipv4PacketInfo, &true).map_err(Error::nix("IP_PKTINFO"))?;
        setsockopt(&s, sockopt::Ipv4RecvTtl, &true).map_err(Error::nix("IP_RECVTTL"))?;
        Self::finish(s, &name, ifindex, false)
    }

    /// An IPv6 socket for protocol 112 on interface `ifindex`: traffic class 0xc0,
    /// multicast hop limit 255, multicast out of `ifindex`. Must be called inside a tokio
    /// runtime.
    pub fn open_v6(ifindex: u32) -> Result<VrrpSocket> {
        let name = ifname(ifindex)?;
        let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(IPPROTO_VRRP)))
            .map_err(Error::io("socket(AF_INET6, SOCK_RAW)"))?;
        s.set_multicast_hops_v6(255)
            .map_err(Error::io("IPV6_MULTICAST_HOPS"))?;
        s.set_multicast_if_v6(ifindex)
            .map_err(Error::io("IPV6_MULTICAST_IF"))?;
        s.set_multicast_loop_v6(false)
            .map_err(Error::io("IPV6_MULTICAST_LOOP"))?;
        s.set_multicast_all_v6(false)
            .map_err(Error::io("IPV6_MULTICAST_ALL"))?;
        s.set_tclass_v6(0xc0).map_err(Error::io("IPV6_TCLASS"))?;
        setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true)
            .map_err(Error::nix("IPV6_RECVPKTINFO"))?;
        setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true)
            .map_err(Error::nix("IPV6_RECVHOPLIMIT"))?;
        Self::finish(s, &name, ifindex, true)
    }

    fn finish(s: Socket, name: &str, ifindex: u32, v6: bool) -> Result<VrrpSocket> {
        s.bind_device(Some(name.as_bytes()))
            .map_err(Error::io("SO_BINDTODEVICE"))?;
        s.set_nonblocking(true).map_err(Error::io("O_NONBLOCK"))?;
        let fd = crate::fd::register(s)?;
        Ok(VrrpSocket { fd, ifindex, v6 })
    }

    /// The interface this socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Joins the VRRP group (224.0.0.18 or ff02::12) on the socket's interface.
    pub fn join_vrrp_group(&self) -> Result<()> {
        if self.v6 {
            self.join_multicast(IpAddr::V6(VRRP_GROUP_V6))
        } else {
            self.join_multicast(IpAddr::V4(VRRP_GROUP_V4))
        }
    }

    /// Joins multicast group `group` on the socket's interface.
    pub fn join_multicast(&self, group: IpAddr) -> Result<()> {
        let s = self.fd.get_ref();
        match (group, self.v6) {
            (IpAddr::V4(g), false) => s
                .join_multicast_v4_n(&g, &socket2::InterfaceIndexOrAddress::Index(self.ifindex))
                .map_err(Error::io("IP_ADD_MEMBERSHIP")),
            (IpAddr::V6(g), true) => s
                .join_multicast_v6(&g, self.ifindex)
                .map_err(Error::io("IPV6_ADD_MEMBERSHIP")),
            _ => Err(Error::Family("group of the other family")),
        }
    }

    /// Leaves multicast group `group` on the socket's interface.
    pub fn leave_multicast(&self, group: IpAddr) -> Result<()> {
        let s = self.fd.get_ref();
        match (group, self.v6) {
            (IpAddr::V4(g), false) => s
                .leave_multicast_v4_n(&g, &socket2::InterfaceIndexOrAddress::Index(self.ifindex))
                .map_err(Error::io("IP_DROP_MEMBERSHIP")),
            (IpAddr::V6(g), true) => s
                .leave_multicast_v6(&g, self.ifindex)
                .map_err(Error::io("IPV6_DROP_MEMBERSHIP")),
            _ => Err(Error::Family("group of the other family")),
        }
    }

    /// IPv6: binds the source address the kernel puts in sent packets (VRRPv3 over IPv6
    /// must send from the interface's link-local address, RFC 5798 section 5.1.2.1).
    /// The VRRP checksum covers it, so compute it with the same address. IPv4 sockets
    /// write their own source into the header and need no bind.
    pub fn bind_source_v6(&self, src: Ipv6Addr) -> Result<()> {
        if !self.v6 {
            return Err(Error::Family("bind_source_v6 on an IPv4 socket"));
        }
        let scope = if src.is_unicast_link_local() {
            self.ifindex
        } else {
            0
        };
        let addr = SockAddr::from(SocketAddrV6::new(src, 0, 0, scope));
        self.fd.get_ref().bind(&addr).map_err(Error::io("bind"))
    }

    /// IPv6: the hop limit of unicast adverts (RFC 5798 says 255; keepalived 2.2.7 leaves
    /// the kernel default of 64, which is what a fresh socket does).
    pub fn set_unicast_hop_limit(&self, hops: u8) -> Result<()> {
        if !self.v6 {
            return Err(Error::Family(
                "hop limit on an IPv4 socket (TTL is in the header)",
            ));
        }
        self.fd
            .get_ref()
            .set_unicast_hops_v6(u32::from(hops))
            .map_err(Error::io("IPV6_UNICAST_HOPS"))
    }

    /// Sends `bytes` to `dst` (the group or a unicast peer). IPv4: `bytes` is the whole IP
    /// packet, header included. IPv6: `bytes` is the VRRP message.
    pub async fn send(&self, dst: IpAddr, bytes: &[u8]) -> Result<()> {
        let addr = match (dst, self.v6) {
            (IpAddr::V4(d), false) => SockAddr::from(SocketAddrV4::new(d, 0)),
            (IpAddr::V6(d), true) => {
                let scope = if d.is_multicast() || d.is_unicast_link_local() {
                    self.ifindex
                } else {
                    0
                };
                SockAddr::from(SocketAddrV6::new(d, 0, 0, scope))
            }
            _ => return Err(Error::Family("destination of the other family")),
        };
        self.fd
            .async_io(Interest::WRITABLE, |s| s.send_to(bytes, &addr))
            .await
            .map(|_| ())
            .map_err(Error::io("sendto"))
    }

    /// Waits for the next datagram. Truncated datagrams and datagrams without the
    /// expected control messages are skipped.
    pub async fn recv(&self) -> Result<RxPacket> {
        let mut buf = vec![0u8; RX_BUF];
        loop {
            let got = self
                .fd
                .async_io(Interest::READABLE, |s| recv_one(s, &mut buf))
                .await
                .map_err(Error::io("recvmsg"))?;
            if let Some(p) = got {
                return Ok(p);
            }
        }
    }
}

/// One `recvmsg`; `Ok(None)` for a datagram to skip.
fn recv_one(s: &Socket, buf: &mut [u8]) -> std::io::Result<Option<RxPacket>> {
    let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int, libc::in_pktinfo);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(
        s.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(std::io::Error::from)?;
    if msg.flags.contains(MsgFlags::MSG_TRUNC) {
        return Ok(None);
    }
    let len = msg.bytes;
    let src = msg.address.as_ref().and_then(|a| {
        if let Some(a4) = a.as_sockaddr_in() {
            Some(IpAddr::V4(a4.ip()))
        } else {
            a.as_sockaddr_in6().map(|a6| IpAddr::V6(a6.ip()))
        }
    });
    let mut dst = None;
    let mut ifindex = None;
    let mut ttl = None;
    for c in msg.cmsgs().map_err(std::io::Error::from)? {
        match c {
            ControlMessageOwned::Ipv4PacketInfo(pi) => {
                dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr))));
                ifindex = u32::try_from(pi.ipi_ifindex).ok();
            }
            ControlMessageOwned::Ipv6PacketInfo(pi) => {
                dst = Some(IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)));
                ifindex = Some(pi.ipi6_ifindex);
            }
            ControlMessageOwned::Ipv4Ttl(t) | ControlMessageOwned::Ipv6HopLimit(t) => {
                ttl = u8::try_from(t).ok();
            }
            _ => {}
        }
    }
    let (Some(src), Some(dst), Some(ifindex), Some(ttl)) = (src, dst, ifindex, ttl) else {
        return Ok(None);
    };
    let data = buf.get(..len).map(<[u8]>::to_vec).unwrap_or_default();
    Ok(Some(RxPacket {
        src,
        dst,
        ifindex,
        ttl,
        data,
    }))
}
