//! HTTP_GET and SSL_GET: one GET of one URL over our own socket (source options, fwmark),
//! hyper 1.x's HTTP/1 client connection (no pool), and for SSL_GET tokio-rustls with ring
//! and no certificate verification, as keepalived.
//!
//! keepalived's request: `GET PATH HTTP/1.0` (or 1.1), `User-Agent: KeepAliveClient`,
//! `Host: VIRTUALHOST` or the address with `:port` when not the scheme's default, and
//! `Connection: close` for `http_protocol 1.0C` (also sent for 1.1: one request per
//! connection).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{CONNECTION, HOST, USER_AGENT};
use hyper::{Method, Request, Version};
use hyper_util::rt::TokioIo;
use ka_check::{Failure, HttpProbe, HttpResponse, ProbeOutcome};
use ka_model::lvs::{Connection, HttpProtocol, SslConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};

use super::probe::{connect, host_literal, io_failure, Ctx};

/// Largest body kept for the digest / regex (keepalived streams its MD5 without a
/// bound; a larger body fails the check here).
pub const MAX_BODY: usize = 8 << 20;

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

/// The TLS client configuration of SSL_GET: ring, TLS 1.2 and 1.3, no verification,
/// and the top-level `SSL` block's client certificate and key when both are given (PEM;
/// `password`-protected keys and `ca` are not used: rustls reads no encrypted keys and
/// nothing is verified).
pub fn tls_config(ssl: Option<&SslConfig>) -> Result<Arc<rustls::ClientConfig>, String> {
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
    Ok(Arc::new(cfg))
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

/// Builds the request.
pub fn request(conn: &Connection, h: &HttpProbe) -> Result<Request<Empty<Bytes>>, String> {
    let mut b = Request::builder()
        .method(Method::GET)
        .uri(h.path.as_str())
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header(HOST, host_header(conn, h));
    b = match h.protocol {
        HttpProtocol::V1_0 => b.version(Version::HTTP_10),
        HttpProtocol::V1_0C => b.version(Version::HTTP_10).header(CONNECTION, "close"),
        HttpProtocol::V1_1 => b.version(Version::HTTP_11).header(CONNECTION, "close"),
    };
    b.body(Empty::new()).map_err(|e| e.to_string())
}

/// One HTTP_GET / SSL_GET probe.
pub async fn probe(conn: &Connection, h: &HttpProbe, ctx: &Ctx) -> ProbeOutcome {
    let req = match request(conn, h) {
        Ok(r) => r,
        Err(e) => return ProbeOutcome::NotRun(format!("bad request: {e}")),
    };
    let tcp = match connect(conn).await {
        Ok(s) => s,
        Err(o) => return o,
    };
    if !h.tls {
        return exchange(tcp, req, h.body_needed).await;
    }
    let Some(cfg) = &ctx.tls else {
        return ProbeOutcome::NotRun("no TLS configuration".into());
    };
    let mut cfg = (**cfg).clone();
    let sni = h
        .virtualhost
        .as_deref()
        .filter(|_| h.enable_sni)
        .and_then(|v| ServerName::try_from(v.to_owned()).ok());
    cfg.enable_sni = sni.is_some();
    let name = sni.unwrap_or(ServerName::IpAddress(conn.ip.into()));
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    match tls.connect(name, tcp).await {
        Ok(s) => exchange(s, req, h.body_needed).await,
        Err(e) => ProbeOutcome::Failed(match e.kind() {
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
                Failure::Protocol(format!("TLS: {e}"))
            }
            _ => io_failure(&e),
        }),
    }
}

/// Sends the request and reads the response (the body only when it matters).
async fn exchange<S>(io: S, req: Request<Empty<Bytes>>, body_needed: bool) -> ProbeOutcome
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = match hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(io))
        .await
    {
        Ok(x) => x,
        Err(e) => return ProbeOutcome::Failed(Failure::Io(e.to_string())),
    };
    // The connection task ends with this probe (aborted on drop).
    let conn = AbortOnDrop(tokio::spawn(conn));
    let resp = match sender.send_request(req).await {
        Ok(r) => r,
        Err(e) => return ProbeOutcome::Failed(hyper_failure(&e)),
    };
    let status_code = resp.status().as_u16();
    let mut body = Vec::new();
    if body_needed {
        let mut b = resp.into_body();
        while let Some(frame) = b.frame().await {
            match frame {
                Ok(f) => {
                    if let Ok(data) = f.into_data() {
                        if body.len() + data.len() > MAX_BODY {
                            return ProbeOutcome::Failed(Failure::Protocol(format!(
                                "body larger than {MAX_BODY} bytes"
                            )));
                        }
                        body.extend_from_slice(&data);
                    }
                }
                // keepalived judges what it read when the peer closes early.
                Err(e) if e.is_incomplete_message() => break,
                Err(e) => return ProbeOutcome::Failed(hyper_failure(&e)),
            }
        }
    }
    drop(conn);
    ProbeOutcome::Http(HttpResponse { status_code, body })
}

fn hyper_failure(e: &hyper::Error) -> Failure {
    if e.is_incomplete_message() {
        return Failure::NoData;
    }
    if e.is_parse() || e.is_parse_status() {
        return Failure::Protocol(format!("HTTP: {e}"));
    }
    if let Some(io) = std::error::Error::source(e).and_then(|s| s.downcast_ref::<std::io::Error>())
    {
        return io_failure(io);
    }
    Failure::Io(e.to_string())
}

/// Aborts a spawned task when dropped.
#[derive(Debug)]
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

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
    fn tls_config_builds_with_and_without_a_client_certificate() {
        assert!(!tls_config(None)
            .unwrap()
            .client_auth_cert_resolver
            .has_certs());
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
        assert!(cfg.client_auth_cert_resolver.has_certs());
        let missing = SslConfig {
            certificate: Some(dir.join("none.pem").display().to_string()),
            ..ssl
        };
        assert!(tls_config(Some(&missing)).unwrap_err().contains("none.pem"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
