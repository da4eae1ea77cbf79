//! `keepalived-rs genhash`: keepalived's `genhash` (fetch a URL as HTTP_GET / SSL_GET
//! would, print the MD5 digest of the body to put in a `digest` line). Same options as
//! keepalived 2.2.7's genhash; the request and the digest are the checker's own code.
//!
//! Differences: a failed fetch exits with status 1 (keepalived's genhash prints
//! "Connection failed" and exits 0); `-v` prints the status and body length instead of
//! hex dumps of the raw buffers.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ka_check::{Failure, HttpProbe, Probe, ProbeId, ProbeKind, ProbeOutcome};
use ka_model::lvs::{Connection, HttpProtocol};

use crate::check::{http, probe};

/// genhash's options.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Use SSL connection to remote server.
    #[arg(short = 'S', long = "use-ssl")]
    pub ssl: bool,
    /// Use SNI during SSL handshake (uses the virtualhost setting; see -V).
    #[arg(short = 'I', long = "use-sni")]
    pub sni: bool,
    /// Use the specified remote server address.
    #[arg(short = 's', long = "server", value_name = "ADDRESS")]
    pub server: IpAddr,
    /// Use the specified remote server port (default 80, or 443 with -S).
    #[arg(short = 'p', long = "port")]
    pub port: Option<u16>,
    /// Use the specified remote server url.
    #[arg(short = 'u', long = "url", value_name = "URL")]
    pub url: String,
    /// Use the specified virtualhost in GET query.
    #[arg(short = 'V', long = "use-virtualhost", value_name = "HOST")]
    pub virtualhost: Option<String>,
    /// Use verbose mode output.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Use the specified FW mark.
    #[arg(short = 'm', long = "fwmark")]
    pub fwmark: Option<u32>,
    /// Use the specified HTTP protocol: '1.0', '1.0c', '1.1' (1.0c means 1.0 with
    /// 'Connection: close').
    #[arg(short = 'P', long = "protocol", value_parser = parse_protocol)]
    pub protocol: Option<HttpProtocol>,
    /// Timeout in seconds.
    #[arg(short = 't', long = "timeout", default_value_t = 5)]
    pub timeout: u64,
}

fn parse_protocol(s: &str) -> Result<HttpProtocol, String> {
    match s {
        "1.0" => Ok(HttpProtocol::V1_0),
        "1.0c" | "1.0C" => Ok(HttpProtocol::V1_0C),
        "1.1" => Ok(HttpProtocol::V1_1),
        _ => Err(format!(
            "invalid HTTP protocol {s:?}: '1.0', '1.0c' or '1.1'"
        )),
    }
}

/// The probe genhash performs.
fn probe_of(a: &Args) -> Probe {
    Probe {
        id: ProbeId(0),
        checker: ka_check::CheckerId {
            rs: ka_check::RealServerId { vs: 0, rs: 0 },
            index: 0,
        },
        timeout: Duration::from_secs(a.timeout.max(1)),
        connection: Some(Connection {
            ip: a.server,
            port: Some(a.port.unwrap_or(if a.ssl { 443 } else { 80 })),
            bind_ip: None,
            bind_port: None,
            bind_if: None,
            fwmark: a.fwmark,
        }),
        kind: ProbeKind::Http(HttpProbe {
            tls: a.ssl,
            protocol: a.protocol.unwrap_or_default(),
            enable_sni: a.sni,
            virtualhost: a.virtualhost.clone(),
            path: a.url.clone(),
            url_index: 0,
            body_needed: true,
        }),
    }
}

/// Runs genhash.
pub fn run(a: &Args) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("genhash: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let p = probe_of(a);
    let ctx = probe::Ctx {
        scripts: None,
        tls: if a.ssl {
            match http::tls_config(None) {
                Ok(c) => Some(c),
                Err(e) => {
                    eprintln!("genhash: TLS: {e}");
                    return ExitCode::from(2);
                }
            }
        } else {
            None
        },
    };
    let start = Instant::now();
    let outcome = rt.block_on(probe::run(&p, &ctx));
    let elapsed = start.elapsed();
    match outcome {
        ProbeOutcome::Http(r) => {
            let digest = ka_check::verdict::body_digest(&r.body).to_hex();
            if a.verbose {
                println!("HTTP status code {}", r.status_code);
                println!("body: {} byte(s)", r.body.len());
                println!(
                    "-----------------------[ HTML hash final resulting ]-----------------------"
                );
                println!("{digest}");
                println!();
                println!(
                    "Global response time for [{}] = {} usecs",
                    a.url,
                    elapsed.as_micros()
                );
            } else {
                println!("{digest}");
            }
            ExitCode::SUCCESS
        }
        ProbeOutcome::Failed(Failure::Refused | Failure::Unreachable | Failure::Timeout) => {
            println!("Connection failed");
            ExitCode::from(1)
        }
        ProbeOutcome::Failed(f) => {
            eprintln!("genhash: {f}");
            ExitCode::from(1)
        }
        other => {
            eprintln!("genhash: {other:?}");
            ExitCode::from(1)
        }
    }
}
