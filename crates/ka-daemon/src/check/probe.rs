//! One probe, for real: [`run`] performs the exchange a `ka_check::Probe` describes and
//! reports what it found as a `ProbeOutcome`. The whole exchange (connect, TLS, request,
//! reading the answer) is bounded by the probe's timeout (`connect_timeout`): a server
//! that accepts and then stays silent, trickles a body or sends garbage is judged
//! within it.
//!
//! The meaning of an answer (status codes, digest, UDP reply pattern, script exit
//! code) is `ka-check`'s; this module only reports facts.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ka_check::{Failure, Probe, ProbeKind, ProbeOutcome};
use ka_model::lvs::{Connection, DnsType};
use ka_sys::probe::{EchoSocket, ProbeSource};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use super::http;
use super::script;

/// Longest SMTP reply line read.
const SMTP_MAX_LINE: usize = 1024;
/// Most lines of one SMTP reply (multi-line `220-` banners).
const SMTP_MAX_LINES: usize = 64;
/// Largest UDP reply read.
const UDP_MAX_REPLY: usize = 65_536;

/// Shared, read-only context of every probe.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    /// TLS client configuration for SSL_GET (built once).
    pub tls: Option<http::Tls>,
    /// Script policy and runner for MISC_CHECK.
    pub scripts: Option<script::Scripts>,
}

/// Runs one probe to its end; never takes (much) longer than its timeout (MISC_CHECK:
/// `misc_timeout` plus the 2 s SIGTERM -> SIGKILL grace).
pub async fn run(probe: &Probe, ctx: &Ctx) -> ProbeOutcome {
    let deadline = Instant::now() + probe.timeout;
    if let ProbeKind::Misc { script: s, .. } = &probe.kind {
        let Some(scripts) = &ctx.scripts else {
            return ProbeOutcome::NotRun("no script runner".into());
        };
        return ProbeOutcome::Exit(scripts.run_misc(s, probe.timeout).await);
    }
    let Some(conn) = &probe.connection else {
        return ProbeOutcome::NotRun("probe without connection parameters".into());
    };
    let fut = async {
        match &probe.kind {
            ProbeKind::Tcp => tcp(conn).await,
            ProbeKind::Http(h) => http::probe(conn, h, ctx).await,
            ProbeKind::Smtp { helo_name } => smtp(conn, helo_name).await,
            ProbeKind::Dns { qtype, name } => dns(conn, *qtype, name, deadline).await,
            ProbeKind::Udp {
                payload,
                reply_required,
            } => udp(conn, payload.as_deref(), *reply_required, deadline).await,
            ProbeKind::Ping => ping(conn, probe.id.0).await,
            ProbeKind::Misc { .. } => ProbeOutcome::NotRun("unreachable".into()),
        }
    };
    // The probes that may succeed at the deadline (UDP without reply) finish by
    // themselves just before it; a little grace keeps them from racing this bound.
    match timeout_at(deadline + Duration::from_millis(50), fut).await {
        Ok(o) => o,
        Err(_) => ProbeOutcome::Failed(Failure::Timeout),
    }
}

/// The source options of a connection.
pub fn source(conn: &Connection) -> ProbeSource {
    ProbeSource {
        bind_ip: conn.bind_ip,
        bind_port: conn.bind_port,
        bind_if: conn.bind_if.clone(),
        fwmark: conn.fwmark,
    }
}

/// The target of a connection (port 0 when none was given).
pub fn target(conn: &Connection) -> SocketAddr {
    SocketAddr::new(conn.ip, conn.port.unwrap_or(0))
}

/// Maps an I/O error to a failure.
pub fn io_failure(e: &io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Failure::Refused,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => Failure::Unreachable,
        io::ErrorKind::TimedOut => Failure::Timeout,
        _ => Failure::Io(e.to_string()),
    }
}

/// Connects a TCP stream with the connection's source options.
pub async fn connect(conn: &Connection) -> Result<TcpStream, ProbeOutcome> {
    let dst = target(conn);
    let sock = ka_sys::probe::tcp_socket(dst, &source(conn))
        .map_err(|e| ProbeOutcome::NotRun(e.to_string()))?;
    // No TCP_NODELAY here: a plain probe writes its request once, or only after the
    // server's answer acknowledged the last write, so Nagle never holds it back (TLS,
    // whose handshake ends in two writes in a row, sets it).
    sock.connect(dst)
        .await
        .map_err(|e| ProbeOutcome::Failed(io_failure(&e)))
}

/// Ends a plain TCP connection (a reset) and keeps its socket for another probe when it
/// has no source options.
pub fn release(s: TcpStream, conn: &Connection) {
    ka_sys::probe::tcp_release(s, conn.ip, &source(conn));
}

/// TCP_CHECK: connected is success.
async fn tcp(conn: &Connection) -> ProbeOutcome {
    match connect(conn).await {
        Ok(s) => {
            release(s, conn);
            ProbeOutcome::Success
        }
        Err(o) => o,
    }
}

/// Reads one SMTP reply (RFC 5321 section 4.2: `CODE-text` continues, `CODE text` or
/// `CODE` ends) and returns its code.
async fn smtp_reply<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Result<u16, Failure> {
    let mut line = Vec::with_capacity(128);
    for _ in 0..SMTP_MAX_LINES {
        line.clear();
        let n = (&mut *r)
            .take(SMTP_MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| io_failure(&e))?;
        if n == 0 {
            return Err(Failure::NoData);
        }
        let code = line
            .get(..3)
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| {
                Failure::Protocol(format!(
                    "SMTP: not a reply line: {:?}",
                    String::from_utf8_lossy(&line)
                ))
            })?;
        if line.get(3) != Some(&b'-') {
            return Ok(code);
        }
    }
    Err(Failure::Protocol("SMTP: reply too long".into()))
}

/// SMTP_CHECK: keepalived's dialogue: banner 220, `HELO name`, 250, `QUIT`.
async fn smtp(conn: &Connection, helo: &str) -> ProbeOutcome {
    let stream = match connect(conn).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let r = async {
        match smtp_reply(&mut rd).await? {
            220 => {}
            c => return Err(Failure::Protocol(format!("SMTP: banner code {c}, not 220"))),
        }
        wr.write_all(format!("HELO {helo}\r\n").as_bytes())
            .await
            .map_err(|e| io_failure(&e))?;
        match smtp_reply(&mut rd).await? {
            250 => {}
            c => {
                return Err(Failure::Protocol(format!(
                    "SMTP: HELO answered {c}, not 250"
                )))
            }
        }
        // The verdict is made; QUIT is a courtesy (keepalived sends it too).
        let _ = wr.write_all(b"QUIT\r\n").await;
        let _ = wr.shutdown().await;
        Ok(())
    };
    match r.await {
        Ok(()) => ProbeOutcome::Success,
        Err(f) => ProbeOutcome::Failed(f),
    }
}

/// The record type of a DNS_CHECK `type`.
fn record_type(t: DnsType) -> hickory_proto::rr::RecordType {
    use hickory_proto::rr::RecordType as R;
    match t {
        DnsType::A => R::A,
        DnsType::Ns => R::NS,
        DnsType::Cname => R::CNAME,
        DnsType::Soa => R::SOA,
        DnsType::Mx => R::MX,
        DnsType::Txt => R::TXT,
        DnsType::Aaaa => R::AAAA,
    }
}

/// Builds a DNS query (recursion desired, class IN): the wire bytes.
pub fn dns_query(id: u16, qtype: DnsType, name: &str) -> Result<Vec<u8>, String> {
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::Name;
    let name = Name::from_ascii(name).map_err(|e| format!("DNS name {name:?}: {e}"))?;
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name, record_type(qtype)));
    m.to_vec().map_err(|e| e.to_string())
}

/// keepalived's `check_dns_recv` on the answer's header (RFC 1035 section 4.1.1):
///
/// ```text
///   0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
/// +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
/// |                      ID                       |
/// +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
/// |QR|   Opcode  |AA|TC|RD|RA|   Z    |   RCODE   |
/// +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
/// ```
///
/// `None`: not an answer to this query (skip it); `Some(Ok)`: a good answer.
pub fn dns_answer(id: u16, reply: &[u8]) -> Option<Result<(), Failure>> {
    if reply.len() < 12 {
        return Some(Err(Failure::Protocol("DNS: answer too short".into())));
    }
    let rid = u16::from_be_bytes([*reply.first()?, *reply.get(1)?]);
    if rid != id {
        return None;
    }
    let flags = u16::from_be_bytes([*reply.get(2)?, *reply.get(3)?]);
    if flags & 0x8000 == 0 {
        return Some(Err(Failure::Protocol("DNS: not a response".into())));
    }
    let rcode = flags & 0x000f;
    if rcode != 0 {
        return Some(Err(Failure::Protocol(format!("DNS: RCODE {rcode}"))));
    }
    Some(Ok(()))
}

/// DNS_CHECK over UDP.
async fn dns(conn: &Connection, qtype: DnsType, name: &str, deadline: Instant) -> ProbeOutcome {
    let id: u16 = rand_u16();
    let query = match dns_query(id, qtype, name) {
        Ok(q) => q,
        Err(e) => return ProbeOutcome::NotRun(e),
    };
    let dst = SocketAddr::new(conn.ip, conn.port.unwrap_or(53));
    let sock = match ka_sys::probe::udp_socket(dst, &source(conn)) {
        Ok(s) => s,
        Err(e) => return ProbeOutcome::NotRun(e.to_string()),
    };
    if let Err(e) = sock.send(&query).await {
        return ProbeOutcome::Failed(io_failure(&e));
    }
    let mut buf = vec![0u8; UDP_MAX_REPLY];
    loop {
        match timeout_at(deadline, sock.recv(&mut buf)).await {
            Err(_) => return ProbeOutcome::Failed(Failure::Timeout),
            Ok(Err(e)) => return ProbeOutcome::Failed(io_failure(&e)),
            Ok(Ok(n)) => match dns_answer(id, buf.get(..n).unwrap_or_default()) {
                None => continue,
                Some(Ok(())) => return ProbeOutcome::Success,
                Some(Err(f)) => return ProbeOutcome::Failed(f),
            },
        }
    }
}

/// A random 16-bit value (query ids, ICMP identifiers).
fn rand_u16() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(u64::from(std::process::id()));
    h.finish() as u16
}

/// UDP_CHECK: send the payload; report the reply, or success when no ICMP error came
/// back before the timeout.
async fn udp(
    conn: &Connection,
    payload: Option<&[u8]>,
    reply_required: bool,
    deadline: Instant,
) -> ProbeOutcome {
    let dst = target(conn);
    let sock = match ka_sys::probe::udp_socket(dst, &source(conn)) {
        Ok(s) => s,
        Err(e) => return ProbeOutcome::NotRun(e.to_string()),
    };
    let random: Vec<u8> = (0..16).map(|_| rand_u16() as u8).collect();
    if let Err(e) = sock.send(payload.unwrap_or(&random)).await {
        return ProbeOutcome::Failed(io_failure(&e));
    }
    let mut buf = vec![0u8; UDP_MAX_REPLY];
    match timeout_at(deadline, sock.recv(&mut buf)).await {
        Err(_) if reply_required => ProbeOutcome::Failed(Failure::Timeout),
        Err(_) => ProbeOutcome::Success,
        Ok(Err(e)) => ProbeOutcome::Failed(io_failure(&e)),
        Ok(Ok(n)) => ProbeOutcome::UdpReply(buf.get(..n).unwrap_or_default().to_vec()),
    }
}

/// PING_CHECK: one ICMP / ICMPv6 echo.
async fn ping(conn: &Connection, probe_id: u64) -> ProbeOutcome {
    let sock = match EchoSocket::open(conn.ip, &source(conn)) {
        Ok(s) => s,
        Err(e) => return ProbeOutcome::NotRun(e.to_string()),
    };
    let ident = rand_u16() ^ (probe_id >> 16) as u16;
    let seq = probe_id as u16;
    if let Err(e) = sock
        .send_echo(ident, seq, b"keepalived-rs ping check")
        .await
    {
        return ProbeOutcome::Failed(match e {
            ka_sys::Error::Io { source, .. } => io_failure(&source),
            other => Failure::Io(other.to_string()),
        });
    }
    match sock.recv_reply(ident, seq).await {
        Ok(()) => ProbeOutcome::Success,
        Err(e) => ProbeOutcome::Failed(Failure::Io(e.to_string())),
    }
}

/// The address as keepalived writes it in logs and Host headers (`[v6]`).
pub fn host_literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_query_is_a_recursive_query() {
        let q = dns_query(0xbeef, DnsType::Soa, "example.org").unwrap();
        assert_eq!(&q[..2], &[0xbe, 0xef]);
        assert_eq!(q[2] & 0x80, 0, "QR clear");
        assert_eq!(q[2] & 0x01, 1, "RD set");
        assert_eq!(&q[4..6], &[0, 1], "one question");
        // QTYPE SOA (6), QCLASS IN (1) at the end.
        assert_eq!(&q[q.len() - 4..], &[0, 6, 0, 1]);
    }

    #[test]
    fn dns_answers_are_judged_on_id_qr_rcode() {
        let mut a = vec![0u8; 12];
        a[0] = 0x12;
        a[1] = 0x34;
        assert_eq!(dns_answer(0x9999, &a), None, "other id skipped");
        assert!(matches!(dns_answer(0x1234, &a), Some(Err(_))), "QR clear");
        a[2] = 0x81;
        assert_eq!(dns_answer(0x1234, &a), Some(Ok(())));
        a[3] = 0x03; // NXDOMAIN
        assert!(matches!(
            dns_answer(0x1234, &a),
            Some(Err(Failure::Protocol(_)))
        ));
        assert!(matches!(dns_answer(0x1234, &a[..5]), Some(Err(_))));
    }

    #[tokio::test]
    async fn smtp_reply_reads_multiline_banners() {
        let mut r: &[u8] = b"220-first\r\n220-second\r\n220 ready\r\n250 ok\r\n";
        assert_eq!(smtp_reply(&mut r).await, Ok(220));
        assert_eq!(smtp_reply(&mut r).await, Ok(250));
        assert_eq!(smtp_reply(&mut r).await, Err(Failure::NoData));
        let mut g: &[u8] = b"HTTP/1.0 200 OK\r\n";
        assert!(matches!(
            smtp_reply(&mut g).await,
            Err(Failure::Protocol(_))
        ));
    }
}
