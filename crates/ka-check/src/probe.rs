//! What to probe (outputs) and what a probe found (inputs).

use std::time::Duration;

use ka_model::lvs::{Connection, DnsType, HttpProtocol, Script};
use serde::{Deserialize, Serialize};

/// A real server: its virtual server's and its own position in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RealServerId {
    /// Index of the virtual server in `LvsConfig::virtual_servers`.
    pub vs: u32,
    /// Index of the real server in `VirtualServer::real_servers`.
    pub rs: u32,
}

impl std::fmt::Display for RealServerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vs{}/rs{}", self.vs, self.rs)
    }
}

/// A checker: its real server and its position in `RealServer::checkers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CheckerId {
    /// The real server.
    pub rs: RealServerId,
    /// Index in the real server's checker list.
    pub index: u32,
}

impl std::fmt::Display for CheckerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/chk{}", self.rs, self.index)
    }
}

/// One probe handed to the I/O layer; its result comes back with the same id.
/// Ids increase by one per probe and are never reused within a [`crate::Scheduler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProbeId(pub u64);

/// A probe to run now. Every parameter is resolved: the I/O layer needs nothing else
/// from the configuration (the top-level `SSL` block aside).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probe {
    /// Give this back with the result.
    pub id: ProbeId,
    /// The checker asking.
    pub checker: CheckerId,
    /// How long the exchange may take: `connect_timeout` for network checkers (keepalived
    /// applies it to the connection and to each later read/write), `misc_timeout` for
    /// MISC_CHECK (then SIGTERM, and SIGKILL 2 s later, as keepalived does).
    pub timeout: Duration,
    /// Where to connect from and to (`None` for MISC_CHECK).
    pub connection: Option<Connection>,
    /// What to do.
    pub kind: ProbeKind,
}

/// The exchange a probe performs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ProbeKind {
    /// TCP_CHECK: connect, then close. Report [`ProbeOutcome::Success`] once connected.
    Tcp,
    /// HTTP_GET / SSL_GET: one GET of one URL (keepalived checks one URL per run and
    /// walks the list across runs). Report [`ProbeOutcome::Http`] when a response was
    /// read, [`Failure::NoData`] when the server closed without sending anything.
    Http(HttpProbe),
    /// SMTP_CHECK: connect, read the 220 banner, `HELO name`, expect 250, `QUIT`.
    /// Report [`ProbeOutcome::Success`] when the dialogue completed.
    Smtp {
        /// The HELO name.
        helo_name: String,
    },
    /// DNS_CHECK: one query (recursion desired, class IN) over UDP. Report
    /// [`ProbeOutcome::Success`] when an answer with the query's id, QR set and RCODE 0
    /// arrived.
    Dns {
        /// Query type.
        qtype: DnsType,
        /// Query name.
        name: String,
    },
    /// UDP_CHECK: send one datagram. Report [`ProbeOutcome::UdpReply`] with the reply if
    /// one arrived; without `reply_required`, [`ProbeOutcome::Success`] when no ICMP
    /// error arrived before the timeout.
    Udp {
        /// The datagram (`None`: keepalived sends random bytes).
        payload: Option<Vec<u8>>,
        /// Whether a reply is needed (`require_reply`).
        reply_required: bool,
    },
    /// PING_CHECK: one ICMP / ICMPv6 echo. Report [`ProbeOutcome::Success`] on an echo reply.
    Ping,
    /// MISC_CHECK: run a script. Report [`ProbeOutcome::Exit`].
    Misc {
        /// Command line and user/group.
        script: Script,
        /// `misc_dynamic`: exit codes 2..=255 set the weight.
        dynamic: bool,
    },
}

/// One URL of an HTTP_GET / SSL_GET run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpProbe {
    /// SSL_GET (TLS, no certificate verification, as keepalived).
    pub tls: bool,
    /// `http_protocol`: the request line version and `Connection: close` for 1.0C.
    pub protocol: HttpProtocol,
    /// Send the virtual host as SNI (`enable_sni`, SSL_GET only).
    pub enable_sni: bool,
    /// The Host header (the URL's `virtualhost`, else the checker's, real server's or
    /// virtual server's). `None`: keepalived sends the connection's address (and `:port`
    /// when it is not the scheme's default).
    pub virtualhost: Option<String>,
    /// The path requested.
    pub path: String,
    /// Index of the URL in the checker's list.
    pub url_index: u32,
    /// Whether the body matters (a `digest` or `regex` is configured); without it the I/O
    /// layer may stop reading after the status line.
    pub body_needed: bool,
}

/// What a probe found: the input of [`crate::Scheduler::handle_result`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// The exchange succeeded (see [`ProbeKind`] for what that means per checker).
    Success,
    /// HTTP_GET / SSL_GET: a response was read; the engine matches it against the URL.
    Http(HttpResponse),
    /// UDP_CHECK: this datagram came back; the engine matches it against `require_reply`.
    UdpReply(Vec<u8>),
    /// MISC_CHECK: how the script ended.
    Exit(ScriptExit),
    /// The probe failed.
    Failed(Failure),
    /// The probe could not be started (no socket, bind failed, fork failed): keepalived
    /// logs "Rescheduling" and tries again after `delay_loop` without changing any state.
    NotRun(String),
}

/// An HTTP response as the checker sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// The status code of the status line.
    pub status_code: u16,
    /// The body after the headers, at most `Content-Length` bytes when one was given
    /// (keepalived's digest covers exactly these bytes). May be empty when
    /// [`HttpProbe::body_needed`] is false.
    pub body: Vec<u8>,
}

/// How a MISC_CHECK script ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptExit {
    /// It exited with this status.
    Exited(u8),
    /// A signal ended it (not sent by us).
    Signaled(i32),
    /// It overran `misc_timeout` and was killed.
    TimedOut,
}

/// Why a check failed (input from the I/O layer, or the engine's own verdict).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// No answer within the timeout.
    Timeout,
    /// Connection refused (TCP RST, ICMP port unreachable).
    Refused,
    /// Network or host unreachable.
    Unreachable,
    /// HTTP: the connection closed before any data.
    NoData,
    /// HTTP: the status code is not accepted.
    HttpStatus(u16),
    /// HTTP: the body's MD5 differs from `digest`.
    DigestMismatch {
        /// The MD5 of the body, lowercase hex.
        got: String,
    },
    /// HTTP: `regex` did not match (or matched, with `regex_no_match`).
    Regex,
    /// UDP: no reply, or a reply of the wrong length or content.
    UdpReply,
    /// MISC: the script exited with a failing status.
    ExitStatus(u8),
    /// MISC: a signal ended the script.
    Signal(i32),
    /// MISC: the script overran `misc_timeout`.
    ScriptTimeout,
    /// SMTP/DNS/SSL: the peer answered wrongly (text for the log, at most 256 bytes).
    Protocol(String),
    /// Any other I/O error (text for the log, at most 256 bytes).
    Io(String),
    /// The I/O layer never answered (the engine's watchdog fired).
    Lost,
    /// The outcome does not fit the checker (an I/O layer bug).
    WrongOutcome,
}

impl Failure {
    /// Bounds the free-text variants (input from outside never grows without limit).
    pub(crate) fn bounded(self) -> Self {
        fn cut(mut s: String) -> String {
            if s.len() > 256 {
                let mut end = 256;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                s.truncate(end);
            }
            s
        }
        match self {
            Failure::Protocol(s) => Failure::Protocol(cut(s)),
            Failure::Io(s) => Failure::Io(cut(s)),
            f => f,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout => f.write_str("timeout"),
            Failure::Refused => f.write_str("connection refused"),
            Failure::Unreachable => f.write_str("unreachable"),
            Failure::NoData => f.write_str("no data received"),
            Failure::HttpStatus(c) => write!(f, "HTTP status code {c}"),
            Failure::DigestMismatch { got } => write!(f, "MD5 digest mismatch (got {got})"),
            Failure::Regex => f.write_str("regex match failed"),
            Failure::UdpReply => f.write_str("bad or missing UDP reply"),
            Failure::ExitStatus(s) => write!(f, "exited with status {s}"),
            Failure::Signal(s) => write!(f, "killed by signal {s}"),
            Failure::ScriptTimeout => f.write_str("timed out"),
            Failure::Protocol(s) => write!(f, "protocol error: {s}"),
            Failure::Io(s) => write!(f, "I/O error: {s}"),
            Failure::Lost => f.write_str("no result from the I/O layer"),
            Failure::WrongOutcome => f.write_str("outcome does not fit the checker"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_is_bounded() {
        let f = Failure::Io("é".repeat(300)).bounded();
        match f {
            Failure::Io(s) => assert!(s.len() <= 256 && s.len() >= 254),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn outcomes_round_trip() {
        let o = ProbeOutcome::Http(HttpResponse {
            status_code: 200,
            body: b"ok".to_vec(),
        });
        let s = serde_json::to_string(&o).unwrap();
        assert_eq!(serde_json::from_str::<ProbeOutcome>(&s).unwrap(), o);
    }
}
