//! Byte layout of IPVS generic-netlink messages (`include/uapi/linux/ip_vs.h`,
//! `net/netfilter/ipvs/ip_vs_ctl.c`), without any socket: builders write requests into
//! a buffer, parsers read the kernel's replies. Every length is checked; a malformed
//! reply is an [`Error::Decode`], never a panic.
//!
//! ```text
//!  nlmsghdr (16, host order)          genlmsghdr (4)     attributes (4-aligned)
//! +-------+------+-------+-----+-----+-----+-----+------+--------------------------+
//! | len   | type | flags | seq | pid | cmd | ver | 0    | len | type | payload pad |
//! | u32   | u16  | u16   | u32 | u32 | u8  | u8  | u16  | u16 | u16  | ...         |
//! +-------+------+-------+-----+-----+-----+-----+------+--------------------------+
//! ```
//! `type` is the IPVS family id resolved through `nlctrl`. A service or destination is
//! a nested attribute (`IPVS_CMD_ATTR_SERVICE` / `IPVS_CMD_ATTR_DEST`) holding its own
//! attributes; addresses are always 16 bytes (`union nf_inet_addr`), ports are in
//! network order, the IPv4 persistence netmask is a network-order mask and the IPv6
//! one a prefix length, as ipvsadm and keepalived send them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ka_lb::{
    Dest, DestKey, Family, Forwarding, Persistence, Protocol, ServiceAttrs, ServiceFlags,
    ServiceKey, TunnelChecksum, TunnelType,
};

use crate::error::{Error, Result};

// --- netlink / generic netlink -------------------------------------------------------------

pub const NLMSG_HDRLEN: usize = 16;
pub const GENL_HDRLEN: usize = 4;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
const NLA_TYPE_MASK: u16 = 0x3fff;

pub const GENL_ID_CTRL: u16 = 0x10;
pub const CTRL_CMD_GETFAMILY: u8 = 3;
pub const CTRL_ATTR_FAMILY_ID: u16 = 1;
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;

// --- IPVS (ip_vs.h) ------------------------------------------------------------------------

pub const IPVS_GENL_NAME: &str = "IPVS";
pub const IPVS_GENL_VERSION: u8 = 1;

pub const IPVS_CMD_NEW_SERVICE: u8 = 1;
pub const IPVS_CMD_SET_SERVICE: u8 = 2;
pub const IPVS_CMD_DEL_SERVICE: u8 = 3;
pub const IPVS_CMD_GET_SERVICE: u8 = 4;
pub const IPVS_CMD_NEW_DEST: u8 = 5;
pub const IPVS_CMD_SET_DEST: u8 = 6;
pub const IPVS_CMD_DEL_DEST: u8 = 7;
pub const IPVS_CMD_GET_DEST: u8 = 8;
pub const IPVS_CMD_NEW_DAEMON: u8 = 9;
pub const IPVS_CMD_DEL_DAEMON: u8 = 10;
pub const IPVS_CMD_GET_DAEMON: u8 = 11;
pub const IPVS_CMD_SET_CONFIG: u8 = 12;
pub const IPVS_CMD_GET_CONFIG: u8 = 13;
pub const IPVS_CMD_GET_INFO: u8 = 15;
pub const IPVS_CMD_ZERO: u8 = 16;
pub const IPVS_CMD_FLUSH: u8 = 17;

pub const IPVS_CMD_ATTR_SERVICE: u16 = 1;
pub const IPVS_CMD_ATTR_DEST: u16 = 2;
pub const IPVS_CMD_ATTR_DAEMON: u16 = 3;
pub const IPVS_CMD_ATTR_TIMEOUT_TCP: u16 = 4;
pub const IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: u16 = 5;
pub const IPVS_CMD_ATTR_TIMEOUT_UDP: u16 = 6;

pub const IPVS_SVC_ATTR_AF: u16 = 1;
pub const IPVS_SVC_ATTR_PROTOCOL: u16 = 2;
pub const IPVS_SVC_ATTR_ADDR: u16 = 3;
pub const IPVS_SVC_ATTR_PORT: u16 = 4;
pub const IPVS_SVC_ATTR_FWMARK: u16 = 5;
pub const IPVS_SVC_ATTR_SCHED_NAME: u16 = 6;
pub const IPVS_SVC_ATTR_FLAGS: u16 = 7;
pub const IPVS_SVC_ATTR_TIMEOUT: u16 = 8;
pub const IPVS_SVC_ATTR_NETMASK: u16 = 9;
pub const IPVS_SVC_ATTR_STATS: u16 = 10;
pub const IPVS_SVC_ATTR_PE_NAME: u16 = 11;
pub const IPVS_SVC_ATTR_STATS64: u16 = 12;

pub const IPVS_DEST_ATTR_ADDR: u16 = 1;
pub const IPVS_DEST_ATTR_PORT: u16 = 2;
pub const IPVS_DEST_ATTR_FWD_METHOD: u16 = 3;
pub const IPVS_DEST_ATTR_WEIGHT: u16 = 4;
pub const IPVS_DEST_ATTR_U_THRESH: u16 = 5;
pub const IPVS_DEST_ATTR_L_THRESH: u16 = 6;
pub const IPVS_DEST_ATTR_ACTIVE_CONNS: u16 = 7;
pub const IPVS_DEST_ATTR_INACT_CONNS: u16 = 8;
pub const IPVS_DEST_ATTR_PERSIST_CONNS: u16 = 9;
pub const IPVS_DEST_ATTR_STATS: u16 = 10;
pub const IPVS_DEST_ATTR_ADDR_FAMILY: u16 = 11;
pub const IPVS_DEST_ATTR_STATS64: u16 = 12;
pub const IPVS_DEST_ATTR_TUN_TYPE: u16 = 13;
pub const IPVS_DEST_ATTR_TUN_PORT: u16 = 14;
pub const IPVS_DEST_ATTR_TUN_FLAGS: u16 = 15;

pub const IPVS_DAEMON_ATTR_STATE: u16 = 1;
pub const IPVS_DAEMON_ATTR_MCAST_IFN: u16 = 2;
pub const IPVS_DAEMON_ATTR_SYNC_ID: u16 = 3;
pub const IPVS_DAEMON_ATTR_SYNC_MAXLEN: u16 = 4;
pub const IPVS_DAEMON_ATTR_MCAST_GROUP: u16 = 5;
pub const IPVS_DAEMON_ATTR_MCAST_GROUP6: u16 = 6;
pub const IPVS_DAEMON_ATTR_MCAST_PORT: u16 = 7;
pub const IPVS_DAEMON_ATTR_MCAST_TTL: u16 = 8;

pub const IPVS_INFO_ATTR_VERSION: u16 = 1;
pub const IPVS_INFO_ATTR_CONN_TAB_SIZE: u16 = 2;

pub const IP_VS_SVC_F_PERSISTENT: u32 = 0x0001;
pub const IP_VS_SVC_F_HASHED: u32 = 0x0002;
pub const IP_VS_SVC_F_ONEPACKET: u32 = 0x0004;
pub const IP_VS_SVC_F_SCHED1: u32 = 0x0008;
pub const IP_VS_SVC_F_SCHED2: u32 = 0x0010;
pub const IP_VS_SVC_F_SCHED3: u32 = 0x0020;

pub const IP_VS_CONN_F_FWD_MASK: u32 = 0x0007;
pub const IP_VS_CONN_F_MASQ: u32 = 0x0000;
pub const IP_VS_CONN_F_LOCALNODE: u32 = 0x0001;
pub const IP_VS_CONN_F_TUNNEL: u32 = 0x0002;
pub const IP_VS_CONN_F_DROUTE: u32 = 0x0003;

pub const IP_VS_CONN_F_TUNNEL_TYPE_IPIP: u8 = 0;
pub const IP_VS_CONN_F_TUNNEL_TYPE_GUE: u8 = 1;
pub const IP_VS_CONN_F_TUNNEL_TYPE_GRE: u8 = 2;
pub const IP_VS_TUNNEL_ENCAP_FLAG_CSUM: u16 = 1 << 0;
pub const IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM: u16 = 1 << 1;

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const IPPROTO_TCP: u16 = 6;
pub const IPPROTO_UDP: u16 = 17;
pub const IPPROTO_SCTP: u16 = 132;

/// `IP_VS_SCHEDNAME_MAXLEN` / `IP_VS_PENAME_MAXLEN` (with the NUL).
pub const NAME_MAXLEN: usize = 16;

// --- writing ---------------------------------------------------------------------------------

/// A buffer of one or more netlink messages.
#[derive(Debug, Default)]
pub struct MsgBuf {
    pub buf: Vec<u8>,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn patch_len(buf: &mut [u8], at: usize, len: usize, width: usize) {
    // Lengths are bounded by the callers (names <= 16 bytes, a few nested attributes).
    if width == 4 {
        let v = u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes();
        buf[at..at + 4].copy_from_slice(&v);
    } else {
        let v = u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes();
        buf[at..at + 2].copy_from_slice(&v);
    }
}

impl MsgBuf {
    pub fn new() -> Self {
        Self::default()
    }
    /// Starts a generic netlink message; returns its offset for [`MsgBuf::end`].
    pub fn begin(&mut self, family: u16, flags: u16, seq: u32, cmd: u8, version: u8) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&family.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&[cmd, version, 0, 0]);
        start
    }
    /// Closes the message started at `start`.
    pub fn end(&mut self, start: usize) {
        let len = self.buf.len() - start;
        patch_len(&mut self.buf, start, len, 4);
    }
    /// One attribute, padded to 4 bytes.
    pub fn attr(&mut self, ty: u16, payload: &[u8]) {
        let len = 4 + payload.len();
        self.buf
            .extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.buf.resize(self.buf.len() + align4(len) - len, 0);
    }
    pub fn u8(&mut self, ty: u16, v: u8) {
        self.attr(ty, &[v]);
    }
    pub fn u16(&mut self, ty: u16, v: u16) {
        self.attr(ty, &v.to_ne_bytes());
    }
    pub fn be16(&mut self, ty: u16, v: u16) {
        self.attr(ty, &v.to_be_bytes());
    }
    pub fn u32(&mut self, ty: u16, v: u32) {
        self.attr(ty, &v.to_ne_bytes());
    }
    /// A NUL-terminated string.
    pub fn str(&mut self, ty: u16, s: &str) {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.attr(ty, &v);
    }
    /// Opens a nested attribute (without `NLA_F_NESTED`, as ipvsadm and keepalived).
    pub fn nest(&mut self, ty: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        at
    }
    pub fn end_nest(&mut self, at: usize) {
        let len = self.buf.len() - at;
        patch_len(&mut self.buf, at, len, 2);
    }
}

/// `union nf_inet_addr`: 16 bytes, an IPv4 address in the first 4.
pub fn inet_addr(a: &IpAddr) -> [u8; 16] {
    let mut b = [0u8; 16];
    match a {
        IpAddr::V4(v4) => b[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => b = v6.octets(),
    }
    b
}

fn af(f: Family) -> u16 {
    match f {
        Family::Inet => AF_INET,
        Family::Inet6 => AF_INET6,
    }
}

fn proto(p: Protocol) -> u16 {
    match p {
        Protocol::Tcp => IPPROTO_TCP,
        Protocol::Udp => IPPROTO_UDP,
        Protocol::Sctp => IPPROTO_SCTP,
    }
}

/// The kernel's service flags for `attrs` (the persistent flag follows the persistence).
pub fn service_flags(attrs: &ServiceAttrs) -> u32 {
    let f = &attrs.flags;
    let mut v = 0;
    for (on, bit) in [
        (attrs.persistence.is_some(), IP_VS_SVC_F_PERSISTENT),
        (f.hashed, IP_VS_SVC_F_HASHED),
        (f.one_packet, IP_VS_SVC_F_ONEPACKET),
        (f.sched_flag_1, IP_VS_SVC_F_SCHED1),
        (f.sched_flag_2, IP_VS_SVC_F_SCHED2),
        (f.sched_flag_3, IP_VS_SVC_F_SCHED3),
    ] {
        if on {
            v |= bit;
        }
    }
    v
}

/// The `IPVS_SVC_ATTR_NETMASK` value: an IPv4 mask in network order, an IPv6 prefix.
pub fn netmask(family: Family, prefix: u8) -> u32 {
    match family {
        Family::Inet => {
            let p = u32::from(prefix.min(32));
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            u32::from_ne_bytes(mask.to_be_bytes())
        }
        Family::Inet6 => u32::from(prefix.min(128)),
    }
}

fn check_name(what: &'static str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() >= NAME_MAXLEN || s.contains('\0') {
        return Err(Error::Ipvs {
            op: what,
            errno: libc::EINVAL,
            detail: format!("{s:?}: 1 to 15 bytes"),
        });
    }
    Ok(())
}

/// The attributes that identify a service (inside `IPVS_CMD_ATTR_SERVICE`).
pub fn put_service_id(m: &mut MsgBuf, key: &ServiceKey) {
    match key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            m.u16(IPVS_SVC_ATTR_AF, af(Family::of(addr)));
            m.u16(IPVS_SVC_ATTR_PROTOCOL, proto(*protocol));
            m.attr(IPVS_SVC_ATTR_ADDR, &inet_addr(addr));
            m.be16(IPVS_SVC_ATTR_PORT, *port);
        }
        ServiceKey::Fwmark { family, mark } => {
            m.u16(IPVS_SVC_ATTR_AF, af(*family));
            m.u32(IPVS_SVC_ATTR_FWMARK, *mark);
        }
    }
}

/// A whole service (add / edit): identity, scheduler, flags with a full mask, timeout,
/// netmask and persistence engine.
pub fn put_service(m: &mut MsgBuf, key: &ServiceKey, attrs: &ServiceAttrs) -> Result<()> {
    check_name("scheduler", &attrs.scheduler)?;
    let n = m.nest(IPVS_CMD_ATTR_SERVICE);
    put_service_id(m, key);
    m.str(IPVS_SVC_ATTR_SCHED_NAME, &attrs.scheduler);
    if let Some(Persistence {
        engine: Some(pe), ..
    }) = &attrs.persistence
    {
        check_name("persistence engine", pe)?;
        m.str(IPVS_SVC_ATTR_PE_NAME, pe);
    }
    let mut flags = [0u8; 8];
    flags[..4].copy_from_slice(&service_flags(attrs).to_ne_bytes());
    flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
    m.attr(IPVS_SVC_ATTR_FLAGS, &flags);
    let (timeout, prefix) = match &attrs.persistence {
        Some(p) => (p.timeout_s, p.prefix),
        None => (0, key.family().max_prefix()),
    };
    m.u32(IPVS_SVC_ATTR_TIMEOUT, timeout);
    m.u32(IPVS_SVC_ATTR_NETMASK, netmask(key.family(), prefix));
    m.end_nest(n);
    Ok(())
}

/// Just the service's identity, nested (delete, destination requests).
pub fn put_service_key(m: &mut MsgBuf, key: &ServiceKey) {
    let n = m.nest(IPVS_CMD_ATTR_SERVICE);
    put_service_id(m, key);
    m.end_nest(n);
}

/// The forwarding method value and, for TUN, tunnel type, port and flags.
pub fn fwd_method(f: &Forwarding) -> (u32, Option<(u8, u16, u16)>) {
    match f {
        Forwarding::Nat => (IP_VS_CONN_F_MASQ, None),
        Forwarding::Dr => (IP_VS_CONN_F_DROUTE, None),
        Forwarding::Tun { kind, checksum } => {
            let (ty, port) = match kind {
                TunnelType::Ipip => (IP_VS_CONN_F_TUNNEL_TYPE_IPIP, 0),
                TunnelType::Gue { port } => (IP_VS_CONN_F_TUNNEL_TYPE_GUE, *port),
                TunnelType::Gre => (IP_VS_CONN_F_TUNNEL_TYPE_GRE, 0),
            };
            let flags = match checksum {
                TunnelChecksum::NoCsum => 0,
                TunnelChecksum::Csum => IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
                TunnelChecksum::RemCsum => IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM,
            };
            (IP_VS_CONN_F_TUNNEL, Some((ty, port, flags)))
        }
    }
}

/// A destination, nested: address, family, port, and with `params` (add / edit) the
/// forwarding method, weight and thresholds.
pub fn put_dest(m: &mut MsgBuf, key: &DestKey, params: Option<&Dest>) -> Result<()> {
    let n = m.nest(IPVS_CMD_ATTR_DEST);
    m.attr(IPVS_DEST_ATTR_ADDR, &inet_addr(&key.addr));
    m.u16(IPVS_DEST_ATTR_ADDR_FAMILY, af(Family::of(&key.addr)));
    m.be16(IPVS_DEST_ATTR_PORT, key.port);
    if let Some(d) = params {
        let weight = i32::try_from(d.weight).map_err(|_| Error::Ipvs {
            op: "destination weight",
            errno: libc::EINVAL,
            detail: format!("{} is above {}", d.weight, i32::MAX),
        })?;
        let (fwd, tun) = fwd_method(&d.forwarding);
        m.u32(IPVS_DEST_ATTR_FWD_METHOD, fwd);
        m.u32(IPVS_DEST_ATTR_WEIGHT, weight as u32);
        m.u32(IPVS_DEST_ATTR_U_THRESH, d.upper_threshold);
        m.u32(IPVS_DEST_ATTR_L_THRESH, d.lower_threshold);
        if let Some((ty, port, flags)) = tun {
            m.u8(IPVS_DEST_ATTR_TUN_TYPE, ty);
            m.be16(IPVS_DEST_ATTR_TUN_PORT, port);
            m.u16(IPVS_DEST_ATTR_TUN_FLAGS, flags);
        }
    }
    m.end_nest(n);
    Ok(())
}

// --- reading ---------------------------------------------------------------------------------

/// One netlink message of a reply.
#[derive(Debug, Clone, Copy)]
pub struct Msg<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    /// Everything after the 16-byte header.
    pub payload: &'a [u8],
}

fn rd_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn rd_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn bad(what: &str) -> Error {
    Error::Decode(format!("ipvs: {what}"))
}

/// Splits a datagram into netlink messages.
pub fn messages(mut b: &[u8]) -> Result<Vec<Msg<'_>>> {
    let mut out = Vec::new();
    while b.len() >= NLMSG_HDRLEN {
        let len = rd_u32(b, 0).ok_or_else(|| bad("short header"))? as usize;
        if len < NLMSG_HDRLEN || len > b.len() {
            return Err(bad("message length out of bounds"));
        }
        out.push(Msg {
            ty: rd_u16(b, 4).ok_or_else(|| bad("short header"))?,
            flags: rd_u16(b, 6).ok_or_else(|| bad("short header"))?,
            seq: rd_u32(b, 8).ok_or_else(|| bad("short header"))?,
            payload: &b[NLMSG_HDRLEN..len],
        });
        b = b.get(align4(len).min(b.len())..).unwrap_or(&[]);
    }
    Ok(out)
}

/// The errno of an `NLMSG_ERROR` payload (0: an acknowledgement).
pub fn error_code(payload: &[u8]) -> Result<i32> {
    let v = rd_u32(payload, 0).ok_or_else(|| bad("short error message"))?;
    Ok(-(v as i32))
}

/// The attributes after the generic netlink header of a message payload.
pub fn genl_attrs(payload: &[u8]) -> Result<Attrs<'_>> {
    attrs(
        payload
            .get(GENL_HDRLEN..)
            .ok_or_else(|| bad("short genl header"))?,
    )
}

/// Attributes as (type without the nested/byte-order bits, payload).
pub type Attrs<'a> = Vec<(u16, &'a [u8])>;

/// A run of attributes.
pub fn attrs(mut b: &[u8]) -> Result<Attrs<'_>> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = rd_u16(b, 0).ok_or_else(|| bad("short attribute"))? as usize;
        let ty = rd_u16(b, 2).ok_or_else(|| bad("short attribute"))? & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            return Err(bad("attribute length out of bounds"));
        }
        out.push((ty, &b[4..len]));
        b = b.get(align4(len).min(b.len())..).unwrap_or(&[]);
    }
    Ok(out)
}

fn find<'a>(a: &[(u16, &'a [u8])], ty: u16) -> Option<&'a [u8]> {
    a.iter().find(|(t, _)| *t == ty).map(|(_, p)| *p)
}

pub fn get_u8(a: &[(u16, &[u8])], ty: u16) -> Option<u8> {
    find(a, ty).and_then(|p| p.first().copied())
}
pub fn get_u16(a: &[(u16, &[u8])], ty: u16) -> Option<u16> {
    find(a, ty).and_then(|p| rd_u16(p, 0))
}
pub fn get_be16(a: &[(u16, &[u8])], ty: u16) -> Option<u16> {
    find(a, ty).and_then(|p| Some(u16::from_be_bytes(p.get(..2)?.try_into().ok()?)))
}
pub fn get_u32(a: &[(u16, &[u8])], ty: u16) -> Option<u32> {
    find(a, ty).and_then(|p| rd_u32(p, 0))
}
pub fn get_str(a: &[(u16, &[u8])], ty: u16) -> Option<String> {
    find(a, ty).map(|p| {
        let end = p.iter().position(|&c| c == 0).unwrap_or(p.len());
        String::from_utf8_lossy(&p[..end]).into_owned()
    })
}
pub fn get_nested<'a>(a: &[(u16, &'a [u8])], ty: u16) -> Result<Option<Attrs<'a>>> {
    find(a, ty).map(attrs).transpose()
}

fn get_addr(a: &[(u16, &[u8])], ty: u16, family: u16) -> Result<IpAddr> {
    let p = find(a, ty).ok_or_else(|| bad("address missing"))?;
    match family {
        AF_INET => {
            let o: [u8; 4] = p
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| bad("short IPv4 address"))?;
            Ok(IpAddr::V4(Ipv4Addr::from(o)))
        }
        AF_INET6 => {
            let o: [u8; 16] = p
                .get(..16)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| bad("short IPv6 address"))?;
            Ok(IpAddr::V6(Ipv6Addr::from(o)))
        }
        f => Err(bad(&format!("unknown address family {f}"))),
    }
}

/// Traffic counters of a service or destination (`IPVS_*_ATTR_STATS64`, or the 32-bit
/// `*_STATS` of older kernels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Incoming packets.
    pub inpkts: u64,
    /// Outgoing packets.
    pub outpkts: u64,
    /// Incoming bytes.
    pub inbytes: u64,
    /// Outgoing bytes.
    pub outbytes: u64,
    /// Connections per second (rate estimator, refreshed every 2 s).
    pub cps: u64,
    /// Incoming packets per second.
    pub inpps: u64,
    /// Outgoing packets per second.
    pub outpps: u64,
    /// Incoming bytes per second.
    pub inbps: u64,
    /// Outgoing bytes per second.
    pub outbps: u64,
}

/// Parses a nested stats attribute (fields 4 or 8 bytes wide).
pub fn parse_stats(b: &[u8]) -> Result<Stats> {
    let mut s = Stats::default();
    for (ty, p) in attrs(b)? {
        let v = match p.len() {
            4 => u64::from(rd_u32(p, 0).unwrap_or(0)),
            8 => u64::from_ne_bytes(p.try_into().map_err(|_| bad("stats"))?),
            _ => continue,
        };
        match ty {
            1 => s.conns = v,
            2 => s.inpkts = v,
            3 => s.outpkts = v,
            4 => s.inbytes = v,
            5 => s.outbytes = v,
            6 => s.cps = v,
            7 => s.inpps = v,
            8 => s.outpps = v,
            9 => s.inbps = v,
            10 => s.outbps = v,
            _ => {}
        }
    }
    Ok(s)
}

fn stats_of(a: &[(u16, &[u8])], s64: u16, s32: u16) -> Result<Stats> {
    match find(a, s64).or_else(|| find(a, s32)) {
        Some(b) => parse_stats(b),
        None => Ok(Stats::default()),
    }
}

/// A service as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    /// Its identity.
    pub key: ServiceKey,
    /// Scheduler, flags (without the kernel's internal `hashed`), persistence.
    pub attrs: ServiceAttrs,
    /// The raw `IP_VS_SVC_F_*` flags, `hashed` included.
    pub flags_raw: u32,
    /// Counters.
    pub stats: Stats,
}

/// Parses the `IPVS_CMD_ATTR_SERVICE` nest of a GET_SERVICE reply.
pub fn parse_service(b: &[u8]) -> Result<ServiceEntry> {
    let a = attrs(b)?;
    let family = get_u16(&a, IPVS_SVC_ATTR_AF).ok_or_else(|| bad("service without family"))?;
    let fam = match family {
        AF_INET => Family::Inet,
        AF_INET6 => Family::Inet6,
        f => return Err(bad(&format!("service of unknown family {f}"))),
    };
    let key = match get_u32(&a, IPVS_SVC_ATTR_FWMARK).filter(|m| *m != 0) {
        Some(mark) => ServiceKey::Fwmark { family: fam, mark },
        None => {
            let p = get_u16(&a, IPVS_SVC_ATTR_PROTOCOL)
                .ok_or_else(|| bad("service without protocol"))?;
            let protocol = match p {
                IPPROTO_TCP => Protocol::Tcp,
                IPPROTO_UDP => Protocol::Udp,
                IPPROTO_SCTP => Protocol::Sctp,
                p => return Err(bad(&format!("service of unknown protocol {p}"))),
            };
            ServiceKey::Addr {
                protocol,
                addr: get_addr(&a, IPVS_SVC_ATTR_ADDR, family)?,
                port: get_be16(&a, IPVS_SVC_ATTR_PORT).unwrap_or(0),
            }
        }
    };
    let flags_raw = find(&a, IPVS_SVC_ATTR_FLAGS)
        .and_then(|p| rd_u32(p, 0))
        .unwrap_or(0);
    let persistence = if flags_raw & IP_VS_SVC_F_PERSISTENT != 0 {
        let nm = get_u32(&a, IPVS_SVC_ATTR_NETMASK).unwrap_or(u32::MAX);
        let prefix = match fam {
            Family::Inet => u32::from_be_bytes(nm.to_ne_bytes()).leading_ones() as u8,
            Family::Inet6 => u8::try_from(nm.min(128)).unwrap_or(128),
        };
        Some(Persistence {
            timeout_s: get_u32(&a, IPVS_SVC_ATTR_TIMEOUT).unwrap_or(0),
            prefix,
            engine: get_str(&a, IPVS_SVC_ATTR_PE_NAME).filter(|s| !s.is_empty()),
        })
    } else {
        None
    };
    Ok(ServiceEntry {
        key,
        attrs: ServiceAttrs {
            scheduler: get_str(&a, IPVS_SVC_ATTR_SCHED_NAME).unwrap_or_default(),
            flags: ServiceFlags {
                sched_flag_1: flags_raw & IP_VS_SVC_F_SCHED1 != 0,
                sched_flag_2: flags_raw & IP_VS_SVC_F_SCHED2 != 0,
                sched_flag_3: flags_raw & IP_VS_SVC_F_SCHED3 != 0,
                one_packet: flags_raw & IP_VS_SVC_F_ONEPACKET != 0,
                hashed: false,
            },
            persistence,
        },
        flags_raw,
        stats: stats_of(&a, IPVS_SVC_ATTR_STATS64, IPVS_SVC_ATTR_STATS)?,
    })
}

/// A destination as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestEntry {
    /// Address and port.
    pub key: DestKey,
    /// Weight, forwarding, thresholds. A destination the kernel made "local" (its
    /// address is the director's own) reads as [`Forwarding::Nat`]; see `fwd_raw`.
    pub dest: Dest,
    /// The raw `IP_VS_CONN_F_*` forwarding value (1 = local node).
    pub fwd_raw: u32,
    /// Active connections.
    pub active_conns: u32,
    /// Inactive connections.
    pub inactive_conns: u32,
    /// Persistence templates.
    pub persistent_conns: u32,
    /// Counters.
    pub stats: Stats,
}

/// Parses the `IPVS_CMD_ATTR_DEST` nest of a GET_DEST reply (`svc_family` is used when
/// the kernel sends no `IPVS_DEST_ATTR_ADDR_FAMILY`).
pub fn parse_dest(b: &[u8], svc_family: Family) -> Result<DestEntry> {
    let a = attrs(b)?;
    let family = get_u16(&a, IPVS_DEST_ATTR_ADDR_FAMILY).unwrap_or(af(svc_family));
    let addr = get_addr(&a, IPVS_DEST_ATTR_ADDR, family)?;
    let fwd_raw = get_u32(&a, IPVS_DEST_ATTR_FWD_METHOD).unwrap_or(0) & IP_VS_CONN_F_FWD_MASK;
    let forwarding = match fwd_raw {
        IP_VS_CONN_F_DROUTE => Forwarding::Dr,
        IP_VS_CONN_F_TUNNEL => {
            let port = get_be16(&a, IPVS_DEST_ATTR_TUN_PORT).unwrap_or(0);
            let kind = match get_u8(&a, IPVS_DEST_ATTR_TUN_TYPE).unwrap_or(0) {
                IP_VS_CONN_F_TUNNEL_TYPE_GUE => TunnelType::Gue { port },
                IP_VS_CONN_F_TUNNEL_TYPE_GRE => TunnelType::Gre,
                _ => TunnelType::Ipip,
            };
            let fl = get_u16(&a, IPVS_DEST_ATTR_TUN_FLAGS).unwrap_or(0);
            let checksum = if fl & IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM != 0 {
                TunnelChecksum::RemCsum
            } else if fl & IP_VS_TUNNEL_ENCAP_FLAG_CSUM != 0 {
                TunnelChecksum::Csum
            } else {
                TunnelChecksum::NoCsum
            };
            Forwarding::Tun { kind, checksum }
        }
        _ => Forwarding::Nat,
    };
    let weight = get_u32(&a, IPVS_DEST_ATTR_WEIGHT).unwrap_or(0);
    Ok(DestEntry {
        key: DestKey {
            addr,
            port: get_be16(&a, IPVS_DEST_ATTR_PORT).unwrap_or(0),
        },
        dest: Dest {
            weight: if (weight as i32) < 0 { 0 } else { weight },
            forwarding,
            upper_threshold: get_u32(&a, IPVS_DEST_ATTR_U_THRESH).unwrap_or(0),
            lower_threshold: get_u32(&a, IPVS_DEST_ATTR_L_THRESH).unwrap_or(0),
        },
        fwd_raw,
        active_conns: get_u32(&a, IPVS_DEST_ATTR_ACTIVE_CONNS).unwrap_or(0),
        inactive_conns: get_u32(&a, IPVS_DEST_ATTR_INACT_CONNS).unwrap_or(0),
        persistent_conns: get_u32(&a, IPVS_DEST_ATTR_PERSIST_CONNS).unwrap_or(0),
        stats: stats_of(&a, IPVS_DEST_ATTR_STATS64, IPVS_DEST_ATTR_STATS)?,
    })
}
