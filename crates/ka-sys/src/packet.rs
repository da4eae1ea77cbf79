//! AF_PACKET sockets: gratuitous ARP and unsolicited NA out of an interface, and a
//! capture socket (tests, `sniff` on a live interface).
//!
//! The frames come whole from ka-wire (`ka_wire::arp::garp_frame`,
//! `ka_wire::nd::una_frame`): `SOCK_RAW`, Ethernet header included, nothing added by the
//! kernel (no padding on virtual links; a real NIC pads to 60 bytes as keepalived's
//! frames are padded). The VRRP engine decides when and how often to send (its
//! `Transmit::GratuitousArp` / `UnsolicitedNa`, 5 + 5 after `garp_master_delay` by
//! default); [`PacketSocket::send_paced`] spaces a burst by `garp_interval` /
//! `gna_interval`.

use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::sys::socket::{recvfrom, LinkAddr};
use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::error::{Error, Result};

/// `ETH_P_ALL`: every protocol (capture).
pub const ETH_P_ALL: u16 = 0x0003;
/// `ETH_P_ARP`.
pub const ETH_P_ARP: u16 = 0x0806;
/// `ETH_P_IPV6`.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// `PACKET_OUTGOING`: a frame this host sent (seen by a capture socket).
pub const PACKET_OUTGOING: u8 = 4;

/// Largest frame read by a capture socket (longer ones are truncated to this).
const RX_BUF: usize = 9216;

/// A frame read by a capture socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RxFrame {
    /// The whole frame from the destination MAC on.
    pub data: Vec<u8>,
    /// Interface it was seen on.
    pub ifindex: u32,
    /// Ethertype (host order).
    pub protocol: u16,
    /// `PACKET_HOST`, `PACKET_BROADCAST`, `PACKET_MULTICAST`, `PACKET_OTHERHOST` or
    /// [`PACKET_OUTGOING`].
    pub pkttype: u8,
}

/// An AF_PACKET `SOCK_RAW` socket bound to one interface.
#[derive(Debug)]
pub struct PacketSocket {
    fd: AsyncFd<Socket>,
    ifindex: u32,
}

impl PacketSocket {
    /// A send-only socket on `ifindex` (bound with protocol 0, so it queues nothing).
    /// Needs a tokio runtime.
    pub fn open_tx(ifindex: u32) -> Result<PacketSocket> {
        Self::open(ifindex, 0)
    }

    /// A capture socket on `ifindex` for `ethertype` ([`ETH_P_ALL`] for everything).
    /// Needs a tokio runtime.
    pub fn open_capture(ifindex: u32, ethertype: u16) -> Result<PacketSocket> {
        Self::open(ifindex, ethertype)
    }

    fn open(ifindex: u32, ethertype: u16) -> Result<PacketSocket> {
        // The kernel takes the protocol in network byte order.
        let proto = i32::from(ethertype.to_be());
        let s = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(proto)))
            .map_err(Error::io("socket(AF_PACKET, SOCK_RAW)"))?;
        s.bind(&sockaddr_ll(ifindex, ethertype)?)
            .map_err(Error::io("bind AF_PACKET"))?;
        s.set_nonblocking(true).map_err(Error::io("O_NONBLOCK"))?;
        let fd = crate::fd::register(s)?;
        Ok(PacketSocket { fd, ifindex })
    }

    /// The interface this socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends one whole Ethernet frame out of the interface.
    pub async fn send(&self, frame: &[u8]) -> Result<()> {
        self.fd
            .async_io(Interest::WRITABLE, |s| s.send(frame))
            .await
            .map(|_| ())
            .map_err(Error::io("send AF_PACKET"))
    }

    /// Sends `frames` in order, waiting `interval` between two frames (keepalived's
    /// `garp_interval` / `gna_interval`; zero sends them back to back).
    pub async fn send_paced(&self, frames: &[Vec<u8>], interval: Duration) -> Result<()> {
        for (i, f) in frames.iter().enumerate() {
            if i > 0 && !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
            self.send(f).await?;
        }
        Ok(())
    }

    /// Waits for the next frame (capture sockets).
    pub async fn recv(&self) -> Result<RxFrame> {
        let mut buf = vec![0u8; RX_BUF];
        let (len, addr) = self
            .fd
            .async_io(Interest::READABLE, |s| {
                recvfrom::<LinkAddr>(s.as_raw_fd(), &mut buf).map_err(std::io::Error::from)
            })
            .await
            .map_err(Error::io("recvfrom AF_PACKET"))?;
        buf.truncate(len.min(RX_BUF));
        Ok(RxFrame {
            data: buf,
            ifindex: addr
                .as_ref()
                .and_then(|a| u32::try_from(a.ifindex()).ok())
                .unwrap_or(self.ifindex),
            // nix hands `sll_protocol` over as stored: network byte order.
            protocol: addr.as_ref().map_or(0, |a| u16::from_be(a.protocol())),
            pkttype: addr.as_ref().map_or(0, LinkAddr::pkttype),
        })
    }
}

/// A `sockaddr_ll` for `bind`: family AF_PACKET, `ifindex`, `ethertype`.
#[allow(unsafe_code)]
fn sockaddr_ll(ifindex: u32, ethertype: u16) -> Result<SockAddr> {
    let index = i32::try_from(ifindex).map_err(|_| Error::NoSuchInterface(ifindex))?;
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `SockAddrStorage` wraps a `sockaddr_storage`, which is larger than and
    // at least as aligned as `sockaddr_ll`; it is zeroed, and all-zero is a valid
    // `sockaddr_ll` (plain integers and a byte array).
    let ll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    ll.sll_family = libc::AF_PACKET as u16;
    ll.sll_protocol = ethertype.to_be();
    ll.sll_ifindex = index;
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `storage` holds an initialised `sockaddr_ll` of family AF_PACKET and `len`
    // is its exact size.
    Ok(unsafe { SockAddr::new(storage, len) })
}
