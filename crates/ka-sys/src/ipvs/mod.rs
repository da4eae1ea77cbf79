//! Kernel IPVS over generic netlink, written here (no libnl, no IPVS crate).
//!
//! [`Ipvs::open`] opens a `NETLINK_GENERIC` socket in the current network namespace and
//! resolves the `IPVS` family through `nlctrl` ([`Error::NoIpvs`] when the kernel has
//! none: no `ip_vs` module). Then:
//!
//! * services: [`Ipvs::add_service`], [`Ipvs::edit_service`], [`Ipvs::del_service`],
//!   [`Ipvs::services`] (TCP, UDP, SCTP or fwmark; IPv4 and IPv6; scheduler, flags,
//!   persistence timeout and granularity, persistence engine; counters);
//! * destinations: [`Ipvs::add_dest`], [`Ipvs::edit_dest`], [`Ipvs::del_dest`],
//!   [`Ipvs::dests`] (weight, masquerading / direct routing / tunnel with its type,
//!   port and checksum flags, upper and lower thresholds; connection counts, counters);
//! * whole tables: [`Ipvs::table`] reads the kernel into a [`ka_lb::Table`], and
//!   [`Ipvs::apply`] writes [`ka_lb::Op`]s from [`ka_lb::diff`], one netlink message
//!   per operation, many per `send` (the kernel handles them in order);
//! * [`Ipvs::timeouts`] / [`Ipvs::set_timeouts`] (`ipvsadm --set`), the connection
//!   synchronisation daemon ([`Ipvs::start_sync_daemon`], [`Ipvs::stop_sync_daemon`],
//!   [`Ipvs::sync_daemons`], keepalived's `lvs_sync_daemon`), [`Ipvs::info`],
//!   [`Ipvs::zero`].
//!
//! There is deliberately no flush: the daemon deletes only the services it owns
//! ([`ka_lb::Owned`]). [`Ipvs::messages_sent`] counts the request messages, so tests and
//! benchmarks can check that one weight change costs one message.
//!
//! The socket is blocking (every request is answered by the kernel itself, at once); a
//! tokio daemon calls it from `spawn_blocking` or a dedicated thread. A receive timeout
//! bounds every wait.
//!
//! The kernel keeps two things its own way, which [`normalize`] applies to a desired
//! table before it is compared with [`Ipvs::table`]: every service carries the
//! internal `hashed` flag (read back as `false`), and an IPv4 persistence granularity
//! is a netmask (any prefix round-trips).

pub mod codec;

use std::net::IpAddr;
use std::time::Duration;

use ka_lb::{Dest, DestKey, Op, Service, ServiceAttrs, ServiceKey, Table};
use netlink_sys::{protocols::NETLINK_GENERIC, Socket};

use crate::error::{Error, Result};
use codec::*;

pub use codec::{DestEntry, ServiceEntry, Stats};

/// How long one reply may take before the request counts as lost.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests per `send` in [`Ipvs::apply`] (their acknowledgements must fit the
/// receive buffer).
const BATCH_MESSAGES: usize = 64;
const RX_BUF: usize = 1 << 20;

/// `ipvsadm --set`: connection timeouts in seconds (0 = leave unchanged when setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timeouts {
    /// Established TCP.
    pub tcp_s: u32,
    /// TCP after FIN.
    pub tcp_fin_s: u32,
    /// UDP.
    pub udp_s: u32,
}

/// The role of a connection synchronisation daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRole {
    /// Sends the connection table.
    Master,
    /// Receives it.
    Backup,
}

impl SyncRole {
    fn state(self) -> u32 {
        match self {
            SyncRole::Master => 1,
            SyncRole::Backup => 2,
        }
    }
}

/// A connection synchronisation daemon (`lvs_sync_daemon INTERFACE INSTANCE [id N]
/// [maxlen L] [port P] [ttl T] [group G]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDaemon {
    /// Master or backup.
    pub role: SyncRole,
    /// Interface the synchronisation traffic uses.
    pub ifname: String,
    /// Sync id (0..=255).
    pub syncid: u32,
    /// Largest message payload (`maxlen`), if set.
    pub maxlen: Option<u16>,
    /// Multicast group (IPv4 or IPv6), if not the default 224.0.0.81.
    pub group: Option<IpAddr>,
    /// UDP port, if not the default 8848.
    pub port: Option<u16>,
    /// Multicast TTL, if set.
    pub ttl: Option<u8>,
}

/// `ipvsadm`'s header line: version and connection table size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// `IP_VS_VERSION_CODE` of the kernel (0x010201 = 1.2.1).
    pub version: u32,
    /// Size of the connection hash table.
    pub conn_tab_size: u32,
}

/// One operation of [`Ipvs::apply`] the kernel refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpFailure {
    /// Index in the operations given.
    pub index: usize,
    /// The operation.
    pub op: Op,
    /// The kernel's errno.
    pub errno: i32,
}

impl std::fmt::Display for OpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}",
            describe(&self.op),
            std::io::Error::from_raw_os_error(self.errno)
        )
    }
}

fn describe(op: &Op) -> String {
    match op {
        Op::AddService { key, .. } => format!("add service {key}"),
        Op::EditService { key, .. } => format!("edit service {key}"),
        Op::DelService { key } => format!("delete service {key}"),
        Op::AddDest { service, dest, .. } => format!("add destination {dest} to {service}"),
        Op::EditDest { service, dest, .. } => format!("edit destination {dest} of {service}"),
        Op::DelDest { service, dest } => format!("delete destination {dest} from {service}"),
    }
}

/// Brings a desired table to the form the kernel reports (see the module docs), so
/// `diff(&ipvs.table()?, &normalize(desired), ..)` is empty once applied.
pub fn normalize(mut t: Table) -> Table {
    for s in t.services.values_mut() {
        s.attrs.flags.hashed = false;
    }
    t
}

/// Appends the request message for one operation to `m`.
pub fn encode_op(m: &mut MsgBuf, family: u16, seq: u32, op: &Op) -> Result<()> {
    let flags = NLM_F_REQUEST | NLM_F_ACK;
    let (cmd, svc, dest): (u8, _, _) = match op {
        Op::AddService { key, attrs } => (IPVS_CMD_NEW_SERVICE, (key, Some(attrs)), None),
        Op::EditService { key, attrs } => (IPVS_CMD_SET_SERVICE, (key, Some(attrs)), None),
        Op::DelService { key } => (IPVS_CMD_DEL_SERVICE, (key, None), None),
        Op::AddDest {
            service,
            dest,
            params,
        } => (
            IPVS_CMD_NEW_DEST,
            (service, None),
            Some((dest, Some(params))),
        ),
        Op::EditDest {
            service,
            dest,
            params,
        } => (
            IPVS_CMD_SET_DEST,
            (service, None),
            Some((dest, Some(params))),
        ),
        Op::DelDest { service, dest } => (IPVS_CMD_DEL_DEST, (service, None), Some((dest, None))),
    };
    let mark = m.buf.len();
    let start = m.begin(family, flags, seq, cmd, IPVS_GENL_VERSION);
    let body = (|| {
        match svc {
            (key, Some(attrs)) => put_service(m, key, attrs)?,
            (key, None) => put_service_key(m, key),
        }
        if let Some((d, params)) = dest {
            put_dest(m, d, params)?;
        }
        Ok(())
    })();
    if let Err(e) = body {
        m.buf.truncate(mark);
        return Err(e);
    }
    m.end(start);
    Ok(())
}

/// A generic netlink socket bound to the kernel's IPVS family.
#[derive(Debug)]
pub struct Ipvs {
    sock: Socket,
    family: u16,
    seq: u32,
    sent: u64,
    rx: Vec<u8>,
}

impl Ipvs {
    /// Opens the socket and resolves the `IPVS` family.
    pub fn open() -> Result<Ipvs> {
        let mut sock = Socket::new(NETLINK_GENERIC).map_err(Error::io("open generic netlink"))?;
        sock.bind_auto()
            .map_err(Error::io("bind generic netlink"))?;
        // Small acknowledgements (no copy of the request) and room for a batch of them.
        sock.set_cap_ack(true)
            .map_err(Error::io("NETLINK_CAP_ACK"))?;
        sock.set_rx_buf_sz(RX_BUF).map_err(Error::io("SO_RCVBUF"))?;
        let tv = nix::sys::time::TimeVal::new(REPLY_TIMEOUT.as_secs() as nix::libc::time_t, 0);
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::ReceiveTimeout, &tv)
            .map_err(Error::nix("SO_RCVTIMEO"))?;
        let mut me = Ipvs {
            sock,
            family: 0,
            seq: std::process::id().wrapping_mul(65536),
            sent: 0,
            rx: Vec::with_capacity(1 << 16),
        };
        me.family = me.resolve_family()?;
        Ok(me)
    }

    /// The generic netlink id of the IPVS family.
    pub fn family_id(&self) -> u16 {
        self.family
    }

    /// Request messages sent so far (family resolution included).
    pub fn messages_sent(&self) -> u64 {
        self.sent
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&mut self, bytes: &[u8], messages: u64) -> Result<()> {
        let n = self
            .sock
            .send(bytes, 0)
            .map_err(Error::io("send generic netlink"))?;
        if n != bytes.len() {
            return Err(Error::Decode(format!(
                "ipvs: short send {n} of {}",
                bytes.len()
            )));
        }
        self.sent += messages;
        Ok(())
    }

    /// Receives one datagram into `self.rx`.
    fn recv(&mut self) -> Result<()> {
        self.rx.clear();
        self.rx.reserve(1 << 16);
        let n = self
            .sock
            .recv(&mut self.rx, 0)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Error::Ipvs {
                    op: "receive",
                    errno: libc::ETIMEDOUT,
                    detail: format!("no reply from the kernel within {REPLY_TIMEOUT:?}"),
                },
                _ => Error::Io {
                    op: "receive generic netlink",
                    source: e,
                },
            })?;
        if n > self.rx.len() {
            return Err(Error::Decode(format!(
                "ipvs: datagram of {n} bytes truncated"
            )));
        }
        Ok(())
    }

    fn resolve_family(&mut self) -> Result<u16> {
        let seq = self.next_seq();
        let mut m = MsgBuf::new();
        let s = m.begin(GENL_ID_CTRL, NLM_F_REQUEST, seq, CTRL_CMD_GETFAMILY, 1);
        m.str(CTRL_ATTR_FAMILY_NAME, IPVS_GENL_NAME);
        m.end(s);
        self.send(&m.buf, 1)?;
        for _ in 0..16 {
            self.recv()?;
            for msg in messages(&self.rx)? {
                if msg.seq != seq {
                    continue;
                }
                if msg.ty == NLMSG_ERROR {
                    let errno = error_code(msg.payload)?;
                    return Err(if errno == libc::ENOENT {
                        Error::NoIpvs
                    } else {
                        kernel_error("resolve family", errno)
                    });
                }
                let a = genl_attrs(msg.payload)?;
                return get_u16(&a, CTRL_ATTR_FAMILY_ID)
                    .ok_or_else(|| Error::Decode("nlctrl: reply without family id".into()));
            }
        }
        Err(Error::Decode("nlctrl: no reply".into()))
    }

    /// Sends one request with an acknowledgement and waits for it.
    fn request(
        &mut self,
        op: &'static str,
        cmd: u8,
        body: impl FnOnce(&mut MsgBuf) -> Result<()>,
    ) -> Result<Vec<Vec<u8>>> {
        let seq = self.next_seq();
        let mut m = MsgBuf::new();
        let s = m.begin(
            self.family,
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            cmd,
            IPVS_GENL_VERSION,
        );
        body(&mut m)?;
        m.end(s);
        self.send(&m.buf, 1)?;
        let mut replies = Vec::new();
        for _ in 0..1024 {
            self.recv()?;
            for msg in messages(&self.rx)? {
                if msg.seq != seq {
                    continue;
                }
                if msg.ty == NLMSG_ERROR {
                    let errno = error_code(msg.payload)?;
                    return if errno == 0 {
                        Ok(replies)
                    } else {
                        Err(kernel_error(op, errno))
                    };
                }
                replies.push(msg.payload.to_vec());
            }
        }
        Err(Error::Decode(format!("ipvs {op}: no acknowledgement")))
    }

    /// Sends a dump request and collects the payloads of every reply message.
    fn dump(
        &mut self,
        op: &'static str,
        cmd: u8,
        body: impl FnOnce(&mut MsgBuf),
    ) -> Result<Vec<Vec<u8>>> {
        let seq = self.next_seq();
        let mut m = MsgBuf::new();
        let s = m.begin(
            self.family,
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            cmd,
            IPVS_GENL_VERSION,
        );
        body(&mut m);
        m.end(s);
        self.send(&m.buf, 1)?;
        let mut out = Vec::new();
        // Bounded: a dump of MAX_SERVICES services fits in far fewer datagrams.
        for _ in 0..1_000_000 {
            self.recv()?;
            for msg in messages(&self.rx)? {
                if msg.seq != seq {
                    continue;
                }
                match msg.ty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let errno = error_code(msg.payload)?;
                        if errno == 0 {
                            return Ok(out);
                        }
                        return Err(kernel_error(op, errno));
                    }
                    _ => out.push(msg.payload.to_vec()),
                }
            }
        }
        Err(Error::Decode(format!("ipvs {op}: dump without end")))
    }

    /// Version and connection table size.
    pub fn info(&mut self) -> Result<Info> {
        let r = self.request("get info", IPVS_CMD_GET_INFO, |_| Ok(()))?;
        let p = r
            .first()
            .ok_or_else(|| Error::Decode("ipvs: no info reply".into()))?;
        let a = genl_attrs(p)?;
        Ok(Info {
            version: get_u32(&a, IPVS_INFO_ATTR_VERSION).unwrap_or(0),
            conn_tab_size: get_u32(&a, IPVS_INFO_ATTR_CONN_TAB_SIZE).unwrap_or(0),
        })
    }

    /// Every service in the kernel (this network namespace), with counters.
    pub fn services(&mut self) -> Result<Vec<ServiceEntry>> {
        let replies = self.dump("list services", IPVS_CMD_GET_SERVICE, |_| {})?;
        let mut out = Vec::with_capacity(replies.len());
        for p in &replies {
            let a = genl_attrs(p)?;
            let raw = a
                .iter()
                .find(|(t, _)| *t == IPVS_CMD_ATTR_SERVICE)
                .map(|(_, p)| *p)
                .ok_or_else(|| Error::Decode("ipvs: service reply without service".into()))?;
            out.push(parse_service(raw)?);
        }
        Ok(out)
    }

    /// The destinations of one service, with connection counts and counters.
    pub fn dests(&mut self, service: &ServiceKey) -> Result<Vec<DestEntry>> {
        let replies = self.dump("list destinations", IPVS_CMD_GET_DEST, |m| {
            put_service_key(m, service)
        })?;
        let mut out = Vec::with_capacity(replies.len());
        for p in &replies {
            let a = genl_attrs(p)?;
            let raw = a
                .iter()
                .find(|(t, _)| *t == IPVS_CMD_ATTR_DEST)
                .map(|(_, p)| *p)
                .ok_or_else(|| {
                    Error::Decode("ipvs: destination reply without destination".into())
                })?;
            out.push(parse_dest(raw, service.family())?);
        }
        Ok(out)
    }

    /// The whole kernel table (every owner's services) as ka-lb sees tables.
    pub fn table(&mut self) -> Result<Table> {
        let mut t = Table::new();
        for s in self.services()? {
            let dests = self
                .dests(&s.key)?
                .into_iter()
                .map(|d| (d.key, d.dest))
                .collect();
            t.services.insert(
                s.key,
                Service {
                    attrs: s.attrs,
                    dests,
                },
            );
        }
        Ok(t)
    }

    /// Creates a service.
    pub fn add_service(&mut self, key: &ServiceKey, attrs: &ServiceAttrs) -> Result<()> {
        self.request("add service", IPVS_CMD_NEW_SERVICE, |m| {
            put_service(m, key, attrs)
        })
        .map(drop)
    }

    /// Changes a service's scheduler, flags or persistence in place.
    pub fn edit_service(&mut self, key: &ServiceKey, attrs: &ServiceAttrs) -> Result<()> {
        self.request("edit service", IPVS_CMD_SET_SERVICE, |m| {
            put_service(m, key, attrs)
        })
        .map(drop)
    }

    /// Deletes a service (the kernel removes its destinations with it).
    pub fn del_service(&mut self, key: &ServiceKey) -> Result<()> {
        self.request("delete service", IPVS_CMD_DEL_SERVICE, |m| {
            put_service_key(m, key);
            Ok(())
        })
        .map(drop)
    }

    /// Adds a destination to a service.
    pub fn add_dest(&mut self, service: &ServiceKey, dest: &DestKey, params: &Dest) -> Result<()> {
        self.request("add destination", IPVS_CMD_NEW_DEST, |m| {
            put_service_key(m, service);
            put_dest(m, dest, Some(params))
        })
        .map(drop)
    }

    /// Changes a destination's weight, forwarding or thresholds in place.
    pub fn edit_dest(&mut self, service: &ServiceKey, dest: &DestKey, params: &Dest) -> Result<()> {
        self.request("edit destination", IPVS_CMD_SET_DEST, |m| {
            put_service_key(m, service);
            put_dest(m, dest, Some(params))
        })
        .map(drop)
    }

    /// Removes a destination.
    pub fn del_dest(&mut self, service: &ServiceKey, dest: &DestKey) -> Result<()> {
        self.request("delete destination", IPVS_CMD_DEL_DEST, |m| {
            put_service_key(m, service);
            put_dest(m, dest, None)
        })
        .map(drop)
    }

    /// Applies `ops` in order, one message each, up to 64 per `send`. The
    /// kernel handles every message even after a refused one; the refused ones are
    /// returned (an empty list: all applied). `Err` only for a socket failure or an
    /// operation that cannot be encoded (then nothing of its batch was sent).
    pub fn apply(&mut self, ops: &[Op]) -> Result<Vec<OpFailure>> {
        let mut failures = Vec::new();
        for (chunk_no, chunk) in ops.chunks(BATCH_MESSAGES).enumerate() {
            let base = chunk_no * BATCH_MESSAGES;
            let first_seq = self.seq.wrapping_add(1);
            let mut m = MsgBuf::new();
            for op in chunk {
                let seq = self.next_seq();
                encode_op(&mut m, self.family, seq, op)?;
            }
            self.send(&m.buf, chunk.len() as u64)?;
            let mut pending = chunk.len();
            let mut rounds = 0;
            while pending > 0 {
                rounds += 1;
                if rounds > 4 * BATCH_MESSAGES {
                    return Err(Error::Decode("ipvs apply: acknowledgements missing".into()));
                }
                self.recv()?;
                for msg in messages(&self.rx)? {
                    let i = msg.seq.wrapping_sub(first_seq) as usize;
                    if msg.ty != NLMSG_ERROR || i >= chunk.len() {
                        continue;
                    }
                    pending -= 1;
                    let errno = error_code(msg.payload)?;
                    if errno != 0 {
                        failures.push(OpFailure {
                            index: base + i,
                            op: chunk[i].clone(),
                            errno,
                        });
                    }
                }
            }
        }
        Ok(failures)
    }

    /// Connection timeouts.
    pub fn timeouts(&mut self) -> Result<Timeouts> {
        let r = self.request("get timeouts", IPVS_CMD_GET_CONFIG, |_| Ok(()))?;
        let p = r
            .first()
            .ok_or_else(|| Error::Decode("ipvs: no config reply".into()))?;
        let a = genl_attrs(p)?;
        Ok(Timeouts {
            tcp_s: get_u32(&a, IPVS_CMD_ATTR_TIMEOUT_TCP).unwrap_or(0),
            tcp_fin_s: get_u32(&a, IPVS_CMD_ATTR_TIMEOUT_TCP_FIN).unwrap_or(0),
            udp_s: get_u32(&a, IPVS_CMD_ATTR_TIMEOUT_UDP).unwrap_or(0),
        })
    }

    /// Sets connection timeouts (a 0 leaves that one unchanged).
    pub fn set_timeouts(&mut self, t: &Timeouts) -> Result<()> {
        self.request("set timeouts", IPVS_CMD_SET_CONFIG, |m| {
            m.u32(IPVS_CMD_ATTR_TIMEOUT_TCP, t.tcp_s);
            m.u32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, t.tcp_fin_s);
            m.u32(IPVS_CMD_ATTR_TIMEOUT_UDP, t.udp_s);
            Ok(())
        })
        .map(drop)
    }

    /// Starts a synchronisation daemon.
    pub fn start_sync_daemon(&mut self, d: &SyncDaemon) -> Result<()> {
        if d.ifname.is_empty() || d.ifname.len() >= NAME_MAXLEN {
            return Err(Error::NoSuchInterfaceName(d.ifname.clone()));
        }
        self.request("start sync daemon", IPVS_CMD_NEW_DAEMON, |m| {
            encode_daemon(m, d);
            Ok(())
        })
        .map(drop)
    }

    /// Stops the synchronisation daemon of that role.
    pub fn stop_sync_daemon(&mut self, role: SyncRole) -> Result<()> {
        self.request("stop sync daemon", IPVS_CMD_DEL_DAEMON, |m| {
            let n = m.nest(IPVS_CMD_ATTR_DAEMON);
            m.u32(IPVS_DAEMON_ATTR_STATE, role.state());
            m.end_nest(n);
            Ok(())
        })
        .map(drop)
    }

    /// The running synchronisation daemons.
    pub fn sync_daemons(&mut self) -> Result<Vec<SyncDaemon>> {
        let replies = self.dump("list sync daemons", IPVS_CMD_GET_DAEMON, |_| {})?;
        let mut out = Vec::new();
        for p in &replies {
            let a = genl_attrs(p)?;
            if let Some(d) = codec::get_nested(&a, IPVS_CMD_ATTR_DAEMON)? {
                out.push(parse_daemon(&d)?);
            }
        }
        Ok(out)
    }

    /// Zeroes the counters of every service.
    pub fn zero(&mut self) -> Result<()> {
        self.request("zero counters", IPVS_CMD_ZERO, |_| Ok(()))
            .map(drop)
    }

    /// Removes every service of every owner, with its destinations (`ipvsadm -C`). Only
    /// for keepalived's explicit `lvs_flush` / `lvs_flush_on_stop`.
    pub fn flush(&mut self) -> Result<()> {
        self.request("flush", IPVS_CMD_FLUSH, |_| Ok(())).map(drop)
    }
}

/// The nested daemon attribute of a NEW_DAEMON request.
pub fn encode_daemon(m: &mut MsgBuf, d: &SyncDaemon) {
    let n = m.nest(IPVS_CMD_ATTR_DAEMON);
    m.u32(IPVS_DAEMON_ATTR_STATE, d.role.state());
    m.str(IPVS_DAEMON_ATTR_MCAST_IFN, &d.ifname);
    m.u32(IPVS_DAEMON_ATTR_SYNC_ID, d.syncid);
    if let Some(l) = d.maxlen {
        m.u16(IPVS_DAEMON_ATTR_SYNC_MAXLEN, l);
    }
    match d.group {
        Some(IpAddr::V4(g)) => m.attr(IPVS_DAEMON_ATTR_MCAST_GROUP, &g.octets()),
        Some(IpAddr::V6(g)) => m.attr(IPVS_DAEMON_ATTR_MCAST_GROUP6, &g.octets()),
        None => {}
    }
    if let Some(p) = d.port {
        m.u16(IPVS_DAEMON_ATTR_MCAST_PORT, p);
    }
    if let Some(t) = d.ttl {
        m.u8(IPVS_DAEMON_ATTR_MCAST_TTL, t);
    }
    m.end_nest(n);
}

fn parse_daemon(a: &[(u16, &[u8])]) -> Result<SyncDaemon> {
    let role = match get_u32(a, IPVS_DAEMON_ATTR_STATE) {
        Some(1) => SyncRole::Master,
        Some(2) => SyncRole::Backup,
        s => return Err(Error::Decode(format!("ipvs: sync daemon state {s:?}"))),
    };
    let group = if let Some(g) = a.iter().find(|(t, _)| *t == IPVS_DAEMON_ATTR_MCAST_GROUP6) {
        <[u8; 16]>::try_from(g.1).ok().map(IpAddr::from)
    } else {
        a.iter()
            .find(|(t, _)| *t == IPVS_DAEMON_ATTR_MCAST_GROUP)
            .and_then(|g| <[u8; 4]>::try_from(g.1).ok())
            .map(IpAddr::from)
    };
    Ok(SyncDaemon {
        role,
        ifname: get_str(a, IPVS_DAEMON_ATTR_MCAST_IFN).unwrap_or_default(),
        syncid: get_u32(a, IPVS_DAEMON_ATTR_SYNC_ID).unwrap_or(0),
        maxlen: get_u16(a, IPVS_DAEMON_ATTR_SYNC_MAXLEN),
        group,
        port: get_u16(a, IPVS_DAEMON_ATTR_MCAST_PORT),
        ttl: get_u8(a, IPVS_DAEMON_ATTR_MCAST_TTL),
    })
}

fn kernel_error(op: &'static str, errno: i32) -> Error {
    Error::Ipvs {
        op,
        errno,
        detail: std::io::Error::from_raw_os_error(errno).to_string(),
    }
}

#[cfg(test)]
mod tests;
