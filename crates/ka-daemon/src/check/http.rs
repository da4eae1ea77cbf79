//! HTTP_GET and SSL_GET: one GET of one URL over our own socket (source options, fwmark),
//! a small HTTP/1 client of our own (request bytes as keepalived writes them, the head
//! parsed with httparse, the body read only when a digest or regex needs it, with
//! Content-Length, chunked or read-to-close framing), and for SSL_GET tokio-rustls with
//! ring and no certificate verification, as keepalived.
//!
//! keepalived's request: `GET PATH HTTP/1.0` (or 1.1), `User-Agent: KeepAliveClient`,
//! `Host: VIRTUALHOST` or the address with `:port` when not the scheme's default, and
//! `Connection: close` for `http_protocol 1.0C` (also sent for 1.1: one request per
//! connection).
//!
//! A probe in flight holds its socket, the request and what it has read (a response head
//! is usually one read of a few hundred bytes): thousands of probes at once stay cheap.

use std::sync::Arc;

use ka_check::{Failure, HttpProbe, HttpResponse, ProbeOutcome};
use ka_model::lvs::{Connection, HttpProtocol, SslConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::probe::{connect, host_literal, io_failure, Ctx};

/// Largest body kept for the digest / regex (keepalived streams its MD5 without a
/// bound; a larger body fails the check here).
pub const MAX_BODY: usize = 8 << 20;

/// Largest response head (status line and headers) read.
pub const MAX_HEAD: usize = 64 << 10;

/// Most header lines in a response head.
const MAX_HEADERS: usize = 100;

/// keepalived's User-Agent.
pub const USER_AGENT_VALUE: &str = "KeepAliveClient";

/// Accepts every server certificate (keepalived's SSL_GET does not verify either).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// SSL_GET's client configurations, built once: with SNI (the virtual host is sent) and
/// without; a probe takes one of them instead of copying a configuration each time.
#[derive(Debug, Clone)]
pub struct Tls {
    /// `enable_sni` with a virtual host.
    pub with_sni: Arc<rustls::ClientConfig>,
    /// Everything else.
    pub without_sni: Arc<rustls::ClientConfig>,
}

/// The TLS client configurations of SSL_GET: ring, TLS 1.2 and 1.3, no verification,
/// and the top-level `SSL` block's client certificate and key when both are given (PEM;
/// `password`-protected keys and `ca` are not used: rustls reads no encrypted keys and
/// nothing is verified).
pub fn tls_config(ssl: Option<&SslConfig>) -> Result<Tls, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider)));
    let cfg = match ssl.and_then(|s| Some((s.certificate.as_ref()?, s.key.as_ref()?))) {
        Some((cert, key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("SSL certificate {cert}: {e}"))?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("SSL key {key}: {e}"))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("SSL certificate/key: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    let mut without_sni = cfg.clone();
    without_sni.enable_sni = false;
    Ok(Tls {
        with_sni: Arc::new(cfg),
        without_sni: Arc::new(without_sni),
    })
}

/// The Host header keepalived sends.
pub fn host_header(conn: &Connection, h: &HttpProbe) -> String {
    if let Some(v) = &h.virtualhost {
        return v.clone();
    }
    let default_port = if h.tls { 443 } else { 80 };
    match conn.port {
        Some(p) if p != default_port => format!("{}:{p}", host_literal(conn.ip)),
        _ => host_literal(conn.ip),
    }
}

/// The request keepalived sends, or why it cannot be sent (a path or host with spaces
/// or control characters).
pub fn request(conn: &Connection, h: &HttpProbe) -> Result<Vec<u8>, String> {
    let bad = |v: &str| v.is_empty() || v.bytes().any(|b| b <= b' ' || b == 0x7f);
    if bad(&h.path) {
        return Err(format!("invalid path {:?}", h.path));
    }
    let host = host_header(conn, h);
    if bad(&host) {
        return Err(format!("invalid virtualhost {host:?}"));
    }
    let (version, close) = match h.protocol {
        HttpProtocol::V1_0 => ("1.0", ""),
        HttpProtocol::V1_0C => ("1.0", "Connection: close\r\n"),
        HttpProtocol::V1_1 => ("1.1", "Connection: close\r\n"),
    };
    Ok(format!(
        "GET {} HTTP/{version}\r\nUser-Agent: {USER_AGENT_VALUE}\r\nHost: {host}\r\n{close}\r\n",
        h.path
    )
    .into_bytes())
}

/// One HTTP_GET / SSL_GET probe.
pub async fn probe(conn: &Connection, h: &HttpProbe, ctx: &Ctx) -> ProbeOutcome {
    let req = match request(conn, h) {
        Ok(r) => r,
        Err(e) => return ProbeOutcome::NotRun(format!("bad request: {e}")),
    };
    let mut tcp = match connect(conn).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    if !h.tls {
        let out = exchange(&mut tcp, &req, h.body_needed).await;
        super::probe::release(tcp, conn);
        return out;
    }
    let Some(cfg) = &ctx.tls else {
        return ProbeOutcome::NotRun("no TLS configuration".into());
    };
    // The client's Finished and the request go out back to back: not held by Nagle.
    let _ = tcp.set_nodelay(true);
    let sni = h
        .virtualhost
        .as_deref()
        .filter(|_| h.enable_sni)
        .and_then(|v| ServerName::try_from(v.to_owned()).ok());
    let cfg = if sni.is_some() {
        &cfg.with_sni
    } else {
        &cfg.without_sni
    };
    let name = sni.unwrap_or(ServerName::IpAddress(conn.ip.into()));
    let tls = tokio_rustls::TlsConnector::from(Arc::clone(cfg));
    match tls.connect(name, tcp).await {
        Ok(s) => exchange(s, &req, h.body_needed).await,
        Err(e) => ProbeOutcome::Failed(match e.kind() {
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
                Failure::Protocol(format!("TLS: {e}"))
            }
            _ => io_failure(&e),
        }),
    }
}

/// How the body of a response ends (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body (1xx, 204, 304).
    None,
    /// `Content-Length` bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes.
    Close,
}

/// The status code, the head's length and the body framing of a complete head; `None`
/// while the head is incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<(u16, usize, Framing)>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let n = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Failure::Protocol(format!("HTTP: {e}"))),
    };
    let code = resp.code.unwrap_or(0);
    if matches!(code, 100..=199 | 204 | 304) {
        return Ok(Some((code, n, Framing::None)));
    }
    let mut framing = Framing::Close;
    let mut length: Option<usize> = None;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let v = String::from_utf8_lossy(h.value);
            let chunked = v
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            framing = if chunked {
                Framing::Chunked
            } else {
                Framing::Close
            };
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    Failure::Protocol(format!(
                        "HTTP: bad Content-Length {:?}",
                        String::from_utf8_lossy(h.value)
                    ))
                })?;
            if length.is_some_and(|l| l != v) {
                return Err(Failure::Protocol("HTTP: conflicting Content-Length".into()));
            }
            length = Some(v);
        }
    }
    if framing == Framing::Close {
        if let Some(l) = length {
            framing = Framing::Length(l);
        }
    }
    Ok(Some((code, n, framing)))
}

/// Reads more of the response into `buf`; the number of bytes read (0 at the end).
async fn read_more<S: AsyncRead + Unpin>(io: &mut S, buf: &mut Vec<u8>) -> Result<usize, Failure> {
    buf.reserve(if buf.capacity() - buf.len() < 512 {
        buf.len().clamp(1024, 64 << 10)
    } else {
        0
    });
    io.read_buf(buf).await.map_err(|e| io_failure(&e))
}

/// Sends the request and reads the response (the body only when it matters). A server
/// that closes before the body is complete is judged on what it sent, as keepalived does.
async fn exchange<S>(mut io: S, req: &[u8], body_needed: bool) -> ProbeOutcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match exchange_inner(&mut io, req, body_needed).await {
        Ok(r) => ProbeOutcome::Http(r),
        Err(f) => ProbeOutcome::Failed(f),
    }
}

async fn exchange_inner<S>(
    io: &mut S,
    req: &[u8],
    body_needed: bool,
) -> Result<HttpResponse, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    io.write_all(req).await.map_err(|e| io_failure(&e))?;
    io.flush().await.map_err(|e| io_failure(&e))?;
    let mut buf = Vec::with_capacity(1024);
    let (status_code, head_len, framing) = loop {
        if let Some(h) = parse_head(&buf)? {
            break h;
        }
        if buf.len() >= MAX_HEAD {
            return Err(Failure::Protocol(format!(
                "HTTP: response head larger than {MAX_HEAD} bytes"
            )));
        }
        if read_more(io, &mut buf).await? == 0 {
            return Err(Failure::NoData);
        }
    };
    if !body_needed || framing == Framing::None {
        return Ok(HttpResponse {
            status_code,
            body: Vec::new(),
        });
    }
    let too_big = || Failure::Protocol(format!("body larger than {MAX_BODY} bytes"));
    let body = match framing {
        Framing::Length(len) => {
            if len > MAX_BODY {
                return Err(too_big());
            }
            buf.drain(..head_len);
            while buf.len() < len {
                if read_more(io, &mut buf).await? == 0 {
                    break;
                }
            }
            buf.truncate(len);
            buf
        }
        Framing::Close | Framing::None => {
            buf.drain(..head_len);
            loop {
                if buf.len() > MAX_BODY {
                    return Err(too_big());
                }
                if read_more(io, &mut buf).await? == 0 {
                    break buf;
                }
            }
        }
        Framing::Chunked => {
            let mut dec = Chunked::default();
            let mut body = Vec::new();
            dec.feed(buf.get(head_len..).unwrap_or_default(), &mut body)?;
            while !dec.done() {
                if body.len() > MAX_BODY {
                    return Err(too_big());
                }
                buf.clear();
                if read_more(io, &mut buf).await? == 0 {
                    break;
                }
                dec.feed(&buf, &mut body)?;
            }
            body
        }
    };
    if body.len() > MAX_BODY {
        return Err(too_big());
    }
    Ok(HttpResponse { status_code, body })
}

/// Longest chunk-size or trailer line.
const MAX_CHUNK_LINE: usize = 4096;

/// An incremental `Transfer-Encoding: chunked` decoder (RFC 9112 section 7.1).
#[derive(Debug, Default)]
struct Chunked {
    state: ChunkState,
    /// The line being read (chunk size or trailer).
    line: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading a chunk-size line.
    #[default]
    Size,
    /// Chunk data still to come.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk.
    Trailer,
    /// The empty line after the trailers has been read.
    Done,
}

impl Chunked {
    fn done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Takes a line ending in LF from `input` into `self.line`; whether one is complete.
    fn take_line(&mut self, input: &mut &[u8]) -> Result<bool, Failure> {
        let (part, complete) = match input.iter().position(|b| *b == b'\n') {
            Some(i) => (&input[..=i], true),
            None => (*input, false),
        };
        if self.line.len() + part.len() > MAX_CHUNK_LINE {
            return Err(Failure::Protocol("HTTP: chunk line too long".into()));
        }
        self.line.extend_from_slice(part);
        *input = &input[part.len()..];
        Ok(complete)
    }

    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), Failure> {
        let bad = |what: &str| Failure::Protocol(format!("HTTP: bad chunked body ({what})"));
        while !input.is_empty() {
            match self.state {
                ChunkState::Size => {
                    if !self.take_line(&mut input)? {
                        break;
                    }
                    let line = String::from_utf8_lossy(&self.line);
                    let size = line.split(';').next().unwrap_or_default().trim();
                    let size = u64::from_str_radix(size, 16).map_err(|_| bad("chunk size"))?;
                    self.line.clear();
                    self.state = if size == 0 {
                        ChunkState::Trailer
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                    if out.len() > MAX_BODY {
                        return Ok(());
                    }
                }
                ChunkState::DataEnd => {
                    if !self.take_line(&mut input)? {
                        break;
                    }
                    if self.line != b"\r\n" && self.line != b"\n" {
                        return Err(bad("no CRLF after chunk data"));
                    }
                    self.line.clear();
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailer => {
                    if !self.take_line(&mut input)? {
                        break;
                    }
                    let empty = self.line == b"\r\n" || self.line == b"\n";
                    self.line.clear();
                    if empty {
                        self.state = ChunkState::Done;
                    }
                }
                ChunkState::Done => break,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn conn(ip: &str, port: u16) -> Connection {
        Connection {
            ip: ip.parse::<IpAddr>().unwrap(),
            port: Some(port),
            bind_ip: None,
            bind_port: None,
            bind_if: None,
            fwmark: None,
        }
    }

    fn hp(tls: bool, vhost: Option<&str>) -> HttpProbe {
        HttpProbe {
            tls,
            protocol: HttpProtocol::V1_0,
            enable_sni: false,
            virtualhost: vhost.map(str::to_owned),
            path: "/".into(),
            url_index: 0,
            body_needed: true,
        }
    }

    #[test]
    fn host_header_follows_keepalived() {
        assert_eq!(
            host_header(&conn("192.0.2.1", 80), &hp(false, None)),
            "192.0.2.1"
        );
        assert_eq!(
            host_header(&conn("192.0.2.1", 8080), &hp(false, None)),
            "192.0.2.1:8080"
        );
        assert_eq!(
            host_header(&conn("2001:db8::1", 443), &hp(true, None)),
            "[2001:db8::1]"
        );
        assert_eq!(
            host_header(&conn("2001:db8::1", 80), &hp(true, None)),
            "[2001:db8::1]:80"
        );
        assert_eq!(
            host_header(
                &conn("192.0.2.1", 8080),
                &hp(false, Some("www.example.org"))
            ),
            "www.example.org"
        );
    }

    #[test]
    fn request_is_keepalived_s() {
        let mut h = hp(false, None);
        h.path = "/health?x=1".into();
        assert_eq!(
            request(&conn("192.0.2.1", 8080), &h).unwrap(),
            b"GET /health?x=1 HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 192.0.2.1:8080\r\n\r\n"
        );
        h.protocol = HttpProtocol::V1_1;
        assert_eq!(
            request(&conn("192.0.2.1", 80), &h).unwrap(),
            b"GET /health?x=1 HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nHost: 192.0.2.1\r\nConnection: close\r\n\r\n"
        );
        h.path = "/a b".into();
        assert!(request(&conn("192.0.2.1", 80), &h)
            .unwrap_err()
            .contains("path"));
        let mut h = hp(false, Some("www.example.org\r\nX: y"));
        h.path = "/".into();
        assert!(request(&conn("192.0.2.1", 80), &h)
            .unwrap_err()
            .contains("virtualhost"));
    }

    #[test]
    fn heads_and_their_framing() {
        let p = |s: &str| parse_head(s.as_bytes());
        assert_eq!(p("HTTP/1.1 200 OK\r\nContent-Le"), Ok(None));
        assert_eq!(
            p("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nbody"),
            Ok(Some((200, 39, Framing::Length(12))))
        );
        assert_eq!(
            p("HTTP/1.1 503 Busy\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n"),
            Ok(Some((503, 74, Framing::Chunked)))
        );
        assert_eq!(
            p("HTTP/1.0 302 Found\r\nLocation: /x\r\n\r\n"),
            Ok(Some((302, 36, Framing::Close)))
        );
        assert_eq!(
            p("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"),
            Ok(Some((204, 46, Framing::None)))
        );
        assert!(matches!(
            p("SSH-2.0-OpenSSH_9.2\r\n"),
            Err(Failure::Protocol(_))
        ));
        assert!(matches!(
            p("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(Failure::Protocol(_))
        ));
        assert!(matches!(
            p("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
            Err(Failure::Protocol(_))
        ));
    }

    #[test]
    fn chunked_bodies_decode_in_any_pieces() {
        let wire = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\nextra";
        for step in [1, 2, 3, 7, wire.len()] {
            let mut dec = Chunked::default();
            let mut out = Vec::new();
            for piece in wire.chunks(step) {
                dec.feed(piece, &mut out).unwrap();
            }
            assert!(dec.done(), "step {step}");
            assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.", "step {step}");
        }
        let mut dec = Chunked::default();
        assert!(dec.feed(b"zz\r\n", &mut Vec::new()).is_err());
        let mut dec = Chunked::default();
        assert!(dec.feed(b"2\r\nabX\r\n", &mut Vec::new()).is_err());
        let mut dec = Chunked::default();
        assert!(dec
            .feed(&[b'1'; MAX_CHUNK_LINE + 1], &mut Vec::new())
            .is_err());
    }

    /// The exchange over an in-memory pipe: what was sent, and each framing's body.
    #[tokio::test]
    async fn exchange_reads_what_the_framing_says() {
        async fn run(response: &'static [u8], body_needed: bool) -> (Vec<u8>, ProbeOutcome) {
            let (mut server, client) = tokio::io::duplex(64);
            let srv = tokio::spawn(async move {
                let mut req = vec![0u8; 256];
                let n = server.read(&mut req).await.unwrap();
                req.truncate(n);
                // Dribble the answer to exercise the partial reads.
                for piece in response.chunks(5) {
                    if server.write_all(piece).await.is_err() {
                        break;
                    }
                }
                req
            });
            let out = exchange(client, b"GET / HTTP/1.0\r\n\r\n", body_needed).await;
            (srv.await.unwrap(), out)
        }
        let http = |status_code: u16, body: &[u8]| {
            ProbeOutcome::Http(HttpResponse {
                status_code,
                body: body.to_vec(),
            })
        };
        let (req, out) = run(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello-not-this",
            true,
        )
        .await;
        assert_eq!(req, b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(out, http(200, b"hello"));
        let (_, out) = run(
            b"HTTP/1.1 404 NF\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            true,
        )
        .await;
        assert_eq!(out, http(404, b"abc"));
        let (_, out) = run(b"HTTP/1.0 200 OK\r\n\r\nuntil close", true).await;
        assert_eq!(out, http(200, b"until close"));
        // Closed early: judged on what arrived.
        let (_, out) = run(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", true).await;
        assert_eq!(out, http(200, b"short"));
        // No body wanted: the head is enough.
        let (_, out) = run(b"HTTP/1.1 500 E\r\nContent-Length: 5\r\n\r\nhello", false).await;
        assert_eq!(out, http(500, b""));
        let (_, out) = run(b"HTTP/1.1 200 OK\r\nContent-Le", true).await;
        assert_eq!(out, ProbeOutcome::Failed(Failure::NoData));
        let (_, out) = run(b"", false).await;
        assert_eq!(out, ProbeOutcome::Failed(Failure::NoData));
        let (_, out) = run(b"garbage garbage\r\n\r\n", false).await;
        assert!(
            matches!(out, ProbeOutcome::Failed(Failure::Protocol(_))),
            "{out:?}"
        );
    }

    #[test]
    fn tls_config_builds_with_and_without_a_client_certificate() {
        let plain = tls_config(None).unwrap();
        assert!(!plain.with_sni.client_auth_cert_resolver.has_certs());
        assert!(plain.with_sni.enable_sni && !plain.without_sni.enable_sni);
        let dir = std::env::temp_dir().join(format!("ka-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
        let out = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=checker", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl CLI (Debian package openssl)");
        assert!(out.status.success());
        let ssl = SslConfig {
            certificate: Some(cert.display().to_string()),
            key: Some(key.display().to_string()),
            ..SslConfig::default()
        };
        let cfg = tls_config(Some(&ssl)).unwrap();
        assert!(cfg.with_sni.client_auth_cert_resolver.has_certs());
        assert!(cfg.without_sni.client_auth_cert_resolver.has_certs());
        let missing = SslConfig {
            certificate: Some(dir.join("none.pem").display().to_string()),
            ..ssl
        };
        assert!(tls_config(Some(&missing)).unwrap_err().contains("none.pem"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
