//! Sockets for health-checker probes: TCP and UDP sockets with keepalived's source
//! options (`bindto`, `bind_port`, `bind_if` = `SO_BINDTODEVICE`, `fwmark` = `SO_MARK`)
//! handed to tokio, and an ICMP / ICMPv6 echo socket ([`EchoSocket`]) for PING_CHECK.
//!
//! Nothing here decides what a probe means; the daemon's `check` module drives the
//! exchange and `ka-check` judges it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{recvfrom, SockaddrStorage};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::error::{Error, Result};

/// Where a probe connects from (keepalived's `bindto`, `bind_port`, `bind_if`, `fwmark`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeSource {
    /// Source address.
    pub bind_ip: Option<IpAddr>,
    /// Source port.
    pub bind_port: Option<u16>,
    /// Interface (`SO_BINDTODEVICE`).
    pub bind_if: Option<String>,
    /// Firewall mark (`SO_MARK`).
    pub fwmark: Option<u32>,
}

fn domain(dst: IpAddr) -> Domain {
    if dst.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    }
}

/// Applies the source options to a fresh socket.
fn apply(s: &Socket, dst: IpAddr, src: &ProbeSource) -> Result<()> {
    if let Some(name) = &src.bind_if {
        s.bind_device(Some(name.as_bytes()))
            .map_err(Error::io("SO_BINDTODEVICE"))?;
    }
    if let Some(mark) = src.fwmark {
        s.set_mark(mark).map_err(Error::io("SO_MARK"))?;
    }
    if src.bind_ip.is_some() || src.bind_port.is_some() {
        let port = src.bind_port.unwrap_or(0);
        let ip = match (src.bind_ip, dst) {
            (Some(ip), _) => ip,
            (None, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (None, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        if ip.is_ipv4() != dst.is_ipv4() {
            return Err(Error::Family("bindto of the other family than the target"));
        }
        if src.bind_port.is_some() {
            s.set_reuse_address(true)
                .map_err(Error::io("SO_REUSEADDR"))?;
        }
        s.bind(&SockAddr::from(SocketAddr::new(ip, port)))
            .map_err(Error::io("bind"))?;
    }
    Ok(())
}

/// A socket made non-blocking and close-on-exec by `socket(2)` itself (no `fcntl` calls:
/// thousands of probes a second each open one).
fn new_socket(dom: Domain, ty: Type, proto: Protocol, what: &'static str) -> Result<Socket> {
    // socket2 sets SOCK_CLOEXEC on Linux; SOCK_NONBLOCK comes with the type.
    Socket::new(dom, ty.nonblocking(), Some(proto)).map_err(Error::io(what))
}

/// Most idle TCP sockets kept per address family (see [`tcp_release`]).
pub const TCP_IDLE_MAX: usize = 128;

thread_local! {
    /// Sockets of finished probes, disconnected and ready for another `connect`:
    /// IPv4, IPv6.
    static TCP_IDLE: std::cell::RefCell<[Vec<Socket>; 2]> = const {
        std::cell::RefCell::new([Vec::new(), Vec::new()])
    };
}

fn family_index(ip: IpAddr) -> usize {
    usize::from(ip.is_ipv6())
}

/// Whether sockets for `src` come from and go back to the pool: only those with no
/// source option (an option set on a socket would stay with it).
fn pooled(src: &ProbeSource) -> bool {
    *src == ProbeSource::default()
}

/// A TCP socket towards `dst` with the source options applied, ready for
/// `TcpSocket::connect`. Must be called inside a tokio runtime. Without source options, a
/// socket given back by [`tcp_release`] on this thread is taken when there is one.
pub fn tcp_socket(dst: SocketAddr, src: &ProbeSource) -> Result<tokio::net::TcpSocket> {
    if pooled(src) {
        let idle = TCP_IDLE.with(|t| {
            t.borrow_mut()
                .get_mut(family_index(dst.ip()))
                .and_then(Vec::pop)
        });
        if let Some(s) = idle {
            return Ok(tokio::net::TcpSocket::from_std_stream(s.into()));
        }
    }
    let s = new_socket(
        domain(dst.ip()),
        Type::STREAM,
        Protocol::TCP,
        "socket(SOCK_STREAM)",
    )?;
    apply(&s, dst.ip(), src)?;
    // keepalived's socket_connect (layer4.c): "free the tcp port after closing the
    // socket descriptor". Closing resets the connection instead of the FIN exchange:
    // no TIME_WAIT socket (nor conntrack entry) per probe, three packets fewer.
    s.set_linger(Some(std::time::Duration::ZERO))
        .map_err(Error::io("SO_LINGER"))?;
    Ok(tokio::net::TcpSocket::from_std_stream(s.into()))
}

/// Ends a probe's connection to `dst` as closing it would (a reset: the socket has
/// `SO_LINGER` 0) and, when it was made without source options (`src`), keeps the socket
/// for this thread's next probe of the same family: `connect(AF_UNSPEC)` dissociates a
/// TCP socket (connect(2)) and releases its local port; the error the reset leaves on it
/// is cleared by the next `connect` (the kernel's `tcp_connect_init`), so it serves as a
/// fresh socket. The next probe saves the creation and the destruction of a socket (a
/// file, an inode, a `struct sock`). Closed instead when the pool is full or anything
/// fails.
pub fn tcp_release(stream: tokio::net::TcpStream, dst: IpAddr, src: &ProbeSource) {
    // Out of tokio first (a later registration starts with no readiness of this one).
    let Ok(std) = stream.into_std() else {
        return;
    };
    if !pooled(src) {
        return;
    }
    let fam = family_index(dst);
    let full = TCP_IDLE.with(|t| t.borrow().get(fam).is_none_or(|v| v.len() >= TCP_IDLE_MAX));
    let s = Socket::from(std);
    if full || s.connect(&unspecified()).is_err() {
        return;
    }
    TCP_IDLE.with(|t| {
        if let Some(v) = t.borrow_mut().get_mut(fam) {
            v.push(s);
        }
    });
}

/// A socket address of family `AF_UNSPEC` (for `connect`: dissociate).
#[allow(unsafe_code)]
fn unspecified() -> SockAddr {
    let storage = socket2::SockAddrStorage::zeroed();
    let len = std::mem::size_of::<libc::sockaddr>() as libc::socklen_t;
    // SAFETY: the storage is all zeroes, which is a `sockaddr` of family AF_UNSPEC (0),
    // and `len` is the size of a `sockaddr`, within the storage.
    unsafe { SockAddr::new(storage, len) }
}

/// A UDP socket connected to `dst` (so ICMP errors come back as `ECONNREFUSED`) with the
/// source options applied. Must be called inside a tokio runtime.
pub fn udp_socket(dst: SocketAddr, src: &ProbeSource) -> Result<tokio::net::UdpSocket> {
    let s = new_socket(
        domain(dst.ip()),
        Type::DGRAM,
        Protocol::UDP,
        "socket(SOCK_DGRAM)",
    )?;
    apply(&s, dst.ip(), src)?;
    s.connect(&SockAddr::from(dst))
        .map_err(Error::io("connect"))?;
    tokio::net::UdpSocket::from_std(s.into()).map_err(Error::io("register with tokio"))
}

/// The ICMP echo request type (IPv4 8, ICMPv6 128).
fn echo_request_type(v6: bool) -> u8 {
    if v6 {
        128
    } else {
        8
    }
}

/// The ICMP echo reply type (IPv4 0, ICMPv6 129).
fn echo_reply_type(v6: bool) -> u8 {
    if v6 {
        129
    } else {
        0
    }
}

/// The Internet checksum (RFC 1071).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum = 0u32;
    for pair in bytes.chunks(2) {
        let hi = u32::from(pair.first().copied().unwrap_or(0));
        let lo = u32::from(pair.get(1).copied().unwrap_or(0));
        sum += (hi << 8) | lo;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo request (RFC 792 / RFC 4443 section 4.1):
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type      |     Code      |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Identifier          |        Sequence Number        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Data ...
/// +-+-+-+-+-
/// ```
///
/// The ICMPv6 checksum covers a pseudo-header the kernel fills in for raw ICMPv6
/// sockets; it is left 0 here for IPv6.
pub fn echo_request(v6: bool, ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + data.len());
    p.push(echo_request_type(v6));
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(data);
    if !v6 {
        let c = checksum(&p).to_be_bytes();
        if let Some(x) = p.get_mut(2..4) {
            x.copy_from_slice(&c);
        }
    }
    p
}

/// Whether `icmp` (the ICMP message, without IP header) is the echo reply to
/// `(ident, seq)`.
pub fn is_echo_reply(v6: bool, icmp: &[u8], ident: u16, seq: u16) -> bool {
    icmp.len() >= 8
        && icmp.first() == Some(&echo_reply_type(v6))
        && icmp.get(4..6) == Some(&ident.to_be_bytes()[..])
        && icmp.get(6..8) == Some(&seq.to_be_bytes()[..])
}

/// A raw ICMP (IPv4) or ICMPv6 socket sending one echo request and waiting for its reply.
#[derive(Debug)]
pub struct EchoSocket {
    fd: AsyncFd<Socket>,
    dst: IpAddr,
}

impl EchoSocket {
    /// A raw socket towards `dst` with the source options applied (`bind_port` does not
    /// apply to ICMP and is ignored). Must be called inside a tokio runtime.
    pub fn open(dst: IpAddr, src: &ProbeSource) -> Result<EchoSocket> {
        let (dom, proto) = match dst {
            IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
            IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
        };
        let s = new_socket(dom, Type::RAW, proto, "socket(SOCK_RAW, ICMP)")?;
        let src = ProbeSource {
            bind_port: None,
            ..src.clone()
        };
        apply(&s, dst, &src)?;
        let fd = crate::fd::register(s)?;
        Ok(EchoSocket { fd, dst })
    }

    fn sockaddr(&self) -> SockAddr {
        match self.dst {
            IpAddr::V4(a) => SockAddr::from(SocketAddrV4::new(a, 0)),
            IpAddr::V6(a) => SockAddr::from(SocketAddrV6::new(a, 0, 0, 0)),
        }
    }

    /// Sends one echo request.
    pub async fn send_echo(&self, ident: u16, seq: u16, data: &[u8]) -> Result<()> {
        let pkt = echo_request(self.dst.is_ipv6(), ident, seq, data);
        let addr = self.sockaddr();
        self.fd
            .async_io(Interest::WRITABLE, |s| s.send_to(&pkt, &addr))
            .await
            .map(|_| ())
            .map_err(Error::io("sendto"))
    }

    /// Waits until the echo reply to `(ident, seq)` arrives from the target; other ICMP
    /// messages are skipped. The caller bounds the wait with a timeout.
    pub async fn recv_reply(&self, ident: u16, seq: u16) -> Result<()> {
        let v6 = self.dst.is_ipv6();
        let mut buf = vec![0u8; 2048];
        loop {
            let (len, from) = self
                .fd
                .async_io(Interest::READABLE, |s| {
                    recvfrom::<SockaddrStorage>(s.as_raw_fd(), &mut buf)
                        .map_err(std::io::Error::from)
                })
                .await
                .map_err(Error::io("recvfrom"))?;
            let from_ip = from.as_ref().and_then(|a| {
                if let Some(a4) = a.as_sockaddr_in() {
                    Some(IpAddr::V4(a4.ip()))
                } else {
                    a.as_sockaddr_in6().map(|a6| IpAddr::V6(a6.ip()))
                }
            });
            if from_ip != Some(self.dst) {
                continue;
            }
            let Some(pkt) = buf.get(..len) else { continue };
            // A raw IPv4 socket receives the IP header too; ICMPv6 sockets do not.
            let icmp = if v6 {
                pkt
            } else {
                let ihl = usize::from(pkt.first().copied().unwrap_or(0) & 0x0f) * 4;
                match pkt.get(ihl..) {
                    Some(x) => x,
                    None => continue,
                }
            };
            if is_echo_reply(v6, icmp, ident, seq) {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Probe sockets are non-blocking and close-on-exec from `socket(2)` on.
    #[test]
    fn probe_sockets_are_nonblocking_and_cloexec() {
        use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
        for (ty, proto) in [(Type::STREAM, Protocol::TCP), (Type::DGRAM, Protocol::UDP)] {
            let s = new_socket(Domain::IPV4, ty, proto, "socket").unwrap();
            let fl = OFlag::from_bits_truncate(fcntl(&s, FcntlArg::F_GETFL).unwrap());
            assert!(fl.contains(OFlag::O_NONBLOCK), "{ty:?}");
            let fd = FdFlag::from_bits_truncate(fcntl(&s, FcntlArg::F_GETFD).unwrap());
            assert!(fd.contains(FdFlag::FD_CLOEXEC), "{ty:?}");
        }
    }

    /// A probe's TCP connection ends with a reset, as keepalived's does (`SO_LINGER` 0):
    /// the server reads ECONNRESET, not an orderly end of stream.
    #[tokio::test(flavor = "current_thread")]
    async fn tcp_probe_connections_close_with_a_reset() {
        use std::io::Read;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dst = l.local_addr().unwrap();
        let stream = tcp_socket(dst, &ProbeSource::default())
            .unwrap()
            .connect(dst)
            .await
            .unwrap();
        let (mut srv, _) = l.accept().unwrap();
        drop(stream);
        srv.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let e = srv.read(&mut [0u8; 1]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }

    /// The socket's inode: the same socket has the same one, a new socket a new one.
    fn inode<S: AsRawFd>(s: &S) -> String {
        std::fs::read_link(format!("/proc/self/fd/{}", s.as_raw_fd()))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    fn idle(fam: usize) -> usize {
        TCP_IDLE.with(|t| t.borrow()[fam].len())
    }

    /// A released connection is reset as a closed one is, and its socket serves the next
    /// probe as a fresh one: it connects elsewhere, and a refused connection reads as
    /// refused, not as the reset the release left on it.
    #[tokio::test(flavor = "current_thread")]
    async fn released_tcp_sockets_are_reset_then_reused_clean() {
        use std::io::Read;
        let any = ProbeSource::default();
        let la = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let lb = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let (a, b) = (la.local_addr().unwrap(), lb.local_addr().unwrap());

        let s1 = tcp_socket(a, &any).unwrap().connect(a).await.unwrap();
        let first = inode(&s1);
        let (mut srv, _) = la.accept().unwrap();
        tcp_release(s1, a.ip(), &any);
        assert_eq!(idle(0), 1);
        srv.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let e = srv.read(&mut [0u8; 1]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");

        let s2 = tcp_socket(b, &any).unwrap().connect(b).await.unwrap();
        assert_eq!(inode(&s2), first, "the kept socket is taken");
        assert_eq!(idle(0), 0);
        let (_srv, peer) = lb.accept().unwrap();
        assert_eq!(peer, s2.local_addr().unwrap());
        tcp_release(s2, b.ip(), &any);

        let s3 = tcp_socket(refused, &any).unwrap();
        assert_eq!(inode(&s3), first);
        let e = s3.connect(refused).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    }

    /// A socket with source options is closed, not kept; the pool keeps at most
    /// TCP_IDLE_MAX sockets a family.
    #[tokio::test(flavor = "current_thread")]
    async fn the_pool_keeps_only_plain_sockets_and_is_bounded() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dst = l.local_addr().unwrap();
        let bound = ProbeSource {
            bind_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            ..ProbeSource::default()
        };
        let s = tcp_socket(dst, &bound).unwrap().connect(dst).await.unwrap();
        let _ = l.accept().unwrap();
        tcp_release(s, dst.ip(), &bound);
        assert_eq!(idle(0), 0);

        let any = ProbeSource::default();
        let mut open = Vec::new();
        for _ in 0..TCP_IDLE_MAX + 3 {
            open.push(tcp_socket(dst, &any).unwrap().connect(dst).await.unwrap());
            let _ = l.accept().unwrap();
        }
        for s in open {
            tcp_release(s, dst.ip(), &any);
        }
        assert_eq!(idle(0), TCP_IDLE_MAX);
        assert_eq!(idle(1), 0);
    }

    #[test]
    fn echo_request_v4_checksum_verifies() {
        let p = echo_request(false, 0x1234, 7, b"keepalived-rs");
        assert_eq!(p[0], 8);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
        // The checksum of a packet including its checksum is 0.
        assert_eq!(checksum(&p), 0);
    }

    #[test]
    fn echo_reply_matches_ident_and_seq() {
        let mut r = echo_request(true, 9, 3, b"x");
        r[0] = 129;
        assert!(is_echo_reply(true, &r, 9, 3));
        assert!(!is_echo_reply(true, &r, 9, 4));
        assert!(!is_echo_reply(false, &r, 9, 3));
        assert!(!is_echo_reply(true, &r[..7], 9, 3));
    }
}
