//! The control socket: `keepalived-rs status` and `keepalived-rs reload` talk to a running
//! daemon over a Unix stream socket.
//!
//! # Access
//!
//! Root only: the socket is created with mode 0600 (default path
//! [`DEFAULT_PATH`], `--control-socket PATH` on the daemon and on the client commands), and
//! every connection's peer credentials (`SO_PEERCRED`) are checked: uid 0 or the daemon's
//! own uid, anything else gets a `permission_denied` answer and is closed. A socket file left
//! by a killed daemon is replaced; a live one (another daemon answers on it) is left alone and
//! this daemon runs without a control socket (logged).
//!
//! # Protocol (version 1): JSON lines
//!
//! The client writes one request per line, the daemon answers each with one line, in order;
//! a connection may carry several requests. Requests longer than [`MAX_REQUEST_BYTES`] are
//! refused and the connection closed.
//!
//! ```text
//! -> {"version":1,"command":"status"}
//! <- {"version":1,"ok":true,"status":{...}}                         (shape: see `status`)
//! -> {"version":1,"command":"reload"}
//! <- {"version":1,"ok":true,"reload":{"message":"..."}}             (applied)
//! <- {"version":1,"ok":false,"code":"refused","error":"..."}        (the running config stays)
//! ```
//!
//! Error codes: `bad_request` (not JSON, no command), `unknown_command`,
//! `unsupported_version` (the answer's `version` is the one the daemon speaks),
//! `permission_denied`, `busy` (too many clients), `refused` (reload refused, with the
//! reason), `unavailable` (the daemon is stopping). Fields are only ever added within a
//! version; a client ignores fields it does not know.
//!
//! # Limits
//!
//! At most [`MAX_CLIENTS`] connections at once (more get `busy` and are closed); a client
//! that sends nothing for [`IDLE_TIMEOUT`] or does not read its answer within
//! [`WRITE_TIMEOUT`] is dropped. The engine never waits for a client: requests reach it
//! through a bounded channel, it answers through a one-shot channel, and the connection's
//! own task does the (timed) writing.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::{debug, info, warn};

use super::status::{render_text, Status};

/// The protocol version this daemon speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Where the daemon listens unless told otherwise.
pub const DEFAULT_PATH: &str = "/run/keepalived-rs/control.sock";
/// Connections served at once.
pub const MAX_CLIENTS: usize = 8;
/// Longest request line.
pub const MAX_REQUEST_BYTES: usize = 4096;
/// Longest answer line a client reads.
pub const MAX_RESPONSE_BYTES: u64 = 64 << 20;
/// A connection that sends nothing for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that does not read its answer within this is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection waits for the engine's answer (a reload may take a while).
const ENGINE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a client waits for the daemon's answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(70);

/// One request line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Protocol version of the client.
    pub version: u32,
    /// `status` or `reload`.
    pub command: String,
}

/// Why a reload was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadDone {
    /// What changed, for the operator.
    pub message: String,
}

/// One answer line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Protocol version of the daemon.
    pub version: u32,
    /// The request was carried out.
    pub ok: bool,
    /// Machine-readable error code (see the module documentation) when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human-readable error when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `status`'s answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Box<Status>>,
    /// `reload`'s answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload: Option<ReloadDone>,
}

impl Response {
    /// A failure with `code` and `error`.
    pub fn error(code: &str, error: impl Into<String>) -> Response {
        Response {
            version: PROTOCOL_VERSION,
            ok: false,
            code: Some(code.to_owned()),
            error: Some(error.into()),
            status: None,
            reload: None,
        }
    }

    /// `status`'s answer.
    pub fn status(s: Status) -> Response {
        Response {
            version: PROTOCOL_VERSION,
            ok: true,
            code: None,
            error: None,
            status: Some(Box::new(s)),
            reload: None,
        }
    }

    /// `reload`'s answer: `Ok(message)` when applied, `Err(reason)` when refused.
    pub fn reload(r: Result<String, String>) -> Response {
        match r {
            Ok(message) => Response {
                version: PROTOCOL_VERSION,
                ok: true,
                code: None,
                error: None,
                status: None,
                reload: Some(ReloadDone { message }),
            },
            Err(reason) => Response::error("refused", reason),
        }
    }

    fn line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"version":1,"ok":false,"code":"internal","error":"cannot encode"}"#.to_vec()
        });
        v.push(b'\n');
        v
    }
}

/// What the engine is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// A status snapshot.
    Status,
    /// A reload, exactly as SIGHUP.
    Reload,
}

/// Parses one request line: the command, or the error answer.
pub fn parse_request(line: &[u8]) -> Result<Command, Response> {
    let v: serde_json::Value = serde_json::from_slice(line)
        .map_err(|e| Response::error("bad_request", format!("not a JSON request: {e}")))?;
    let version = v
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| Response::error("bad_request", "no \"version\" in the request"))?;
    if version != u64::from(PROTOCOL_VERSION) {
        return Err(Response::error(
            "unsupported_version",
            format!("protocol version {version} is not supported (this daemon speaks {PROTOCOL_VERSION})"),
        ));
    }
    match v.get("command").and_then(serde_json::Value::as_str) {
        Some("status") => Ok(Command::Status),
        Some("reload") => Ok(Command::Reload),
        Some(other) => Err(Response::error(
            "unknown_command",
            format!("unknown command {other:?} (status, reload)"),
        )),
        None => Err(Response::error(
            "bad_request",
            "no \"command\" in the request",
        )),
    }
}

/// A request waiting for the engine's answer.
#[derive(Debug)]
pub struct Pending {
    /// What is asked.
    pub command: Command,
    reply: oneshot::Sender<Response>,
}

impl Pending {
    /// Hands the answer to the connection's task (never blocks).
    pub fn answer(self, r: Response) {
        let _ = self.reply.send(r);
    }
}

/// The listening control socket; removed (if still ours) on drop.
#[derive(Debug)]
pub struct Server {
    rx: mpsc::Receiver<Pending>,
    path: PathBuf,
    file_id: (u64, u64),
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Binds `path` (mode 0600) and serves it from a local task. Needs a `LocalSet`.
    pub fn bind(path: &Path) -> Result<Server, String> {
        let shown = path.display();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
        }
        if let Ok(m) = std::fs::symlink_metadata(path) {
            if !m.file_type().is_socket() {
                return Err(format!("{shown} exists and is not a socket"));
            }
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(format!("another daemon is listening on {shown}")),
                Err(_) => {
                    // A killed daemon's socket: nobody answers on it.
                    std::fs::remove_file(path)
                        .map_err(|e| format!("cannot remove stale {shown}: {e}"))?;
                }
            }
        }
        // Bound under a temporary name and renamed once it is 0600: the socket never
        // exists at `path` with looser permissions.
        let tmp = PathBuf::from(format!("{}.{}.tmp", path.display(), std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let listener =
            UnixListener::bind(&tmp).map_err(|e| format!("cannot bind {}: {e}", tmp.display()))?;
        let cleanup = |e: String| {
            let _ = std::fs::remove_file(&tmp);
            e
        };
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| cleanup(format!("cannot chmod {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, path)
            .map_err(|e| cleanup(format!("cannot rename to {shown}: {e}")))?;
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot stat {shown}: {e}"))?;
        let owner = meta.uid();
        let (tx, rx) = mpsc::channel(MAX_CLIENTS * 2);
        let task = tokio::task::spawn_local(accept_loop(listener, tx, owner));
        info!("control socket {shown}");
        Ok(Server {
            rx,
            path: path.to_owned(),
            file_id: (meta.dev(), meta.ino()),
            task,
        })
    }

    /// The next request for the engine.
    pub async fn next(&mut self) -> Option<Pending> {
        self.rx.recv().await
    }
}

/// The next request of an optional server (never ready without one).
pub async fn next(server: &mut Option<Server>) -> Pending {
    if let Some(s) = server.as_mut() {
        if let Some(p) = s.next().await {
            return p;
        }
        *server = None;
    }
    std::future::pending().await
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
        // Only our own socket: a later daemon may have replaced it.
        if let Ok(m) = std::fs::symlink_metadata(&self.path) {
            if (m.dev(), m.ino()) == self.file_id {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

async fn accept_loop(listener: UnixListener, tx: mpsc::Sender<Pending>, owner: u32) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                warn!("control socket accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => {
                let tx = tx.clone();
                tokio::task::spawn_local(async move {
                    serve(stream, tx, owner).await;
                    drop(permit);
                });
            }
            Err(_) => {
                // Best effort, never waits: the client is told why and closed.
                let _ = stream.try_write(&Response::error("busy", "too many clients").line());
            }
        }
    }
}

/// Serves one connection: credentials, then request lines until EOF or a limit.
async fn serve(stream: UnixStream, tx: mpsc::Sender<Pending>, owner: u32) {
    let uid = stream.peer_cred().map(|c| c.uid());
    let (rd, mut wr) = stream.into_split();
    match uid {
        Ok(uid) if uid == 0 || uid == owner => {}
        Ok(uid) => {
            warn!("control socket: uid {uid} refused (root only)");
            let r = Response::error("permission_denied", "the control socket is for root only");
            let _ = tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(&r.line())).await;
            return;
        }
        Err(e) => {
            warn!("control socket: no peer credentials: {e}");
            return;
        }
    }
    let mut rd = tokio::io::BufReader::new(rd);
    loop {
        let mut line = Vec::new();
        let limit = u64::try_from(MAX_REQUEST_BYTES).unwrap_or(u64::MAX) + 1;
        let read = tokio::time::timeout(
            IDLE_TIMEOUT,
            (&mut rd).take(limit).read_until(b'\n', &mut line),
        )
        .await;
        match read {
            Ok(Ok(0)) | Err(_) => return,
            Ok(Err(e)) => {
                debug!("control socket read: {e}");
                return;
            }
            Ok(Ok(_)) => {}
        }
        let too_long = line.len() > MAX_REQUEST_BYTES;
        let resp = if too_long {
            Response::error(
                "bad_request",
                format!("request longer than {MAX_REQUEST_BYTES} bytes"),
            )
        } else {
            match parse_request(&line) {
                Ok(command) => ask_engine(&tx, command).await,
                Err(r) => r,
            }
        };
        let wrote = tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(&resp.line())).await;
        if too_long || !matches!(wrote, Ok(Ok(()))) {
            return;
        }
    }
}

async fn ask_engine(tx: &mpsc::Sender<Pending>, command: Command) -> Response {
    let (reply, answer) = oneshot::channel();
    if tx.send(Pending { command, reply }).await.is_err() {
        return Response::error("unavailable", "the daemon is stopping");
    }
    match tokio::time::timeout(ENGINE_TIMEOUT, answer).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Response::error("unavailable", "the daemon is stopping"),
        Err(_) => Response::error("unavailable", "no answer from the engine in time"),
    }
}

// ---------------------------------------------------------------------- client side

/// Sends one request to the daemon at `path` and reads its answer. Errors are the
/// messages printed to the operator.
pub fn request(path: &Path, command: &str) -> Result<Response, String> {
    let shown = path.display();
    let mut s = std::os::unix::net::UnixStream::connect(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "no control socket at {shown}: is keepalived-rs running? \
                 (a daemon started with --control-socket PATH listens there)"
        ),
        std::io::ErrorKind::PermissionDenied => {
            format!("permission denied on {shown}: the control socket is root-only (run as root)")
        }
        std::io::ErrorKind::ConnectionRefused => {
            format!("nobody is listening on {shown}: the daemon is not running (stale socket)")
        }
        _ => format!("cannot connect to {shown}: {e}"),
    })?;
    let _ = s.set_read_timeout(Some(CLIENT_TIMEOUT));
    let _ = s.set_write_timeout(Some(WRITE_TIMEOUT));
    let req = Request {
        version: PROTOCOL_VERSION,
        command: command.to_owned(),
    };
    let mut line = serde_json::to_vec(&req).map_err(|e| format!("cannot encode: {e}"))?;
    line.push(b'\n');
    // A daemon that refuses the connection answers and closes before reading: the answer
    // is still there to read when the write fails.
    let sent = s.write_all(&line);
    let mut answer = Vec::new();
    let read =
        BufReader::new(std::io::Read::take(&s, MAX_RESPONSE_BYTES)).read_until(b'\n', &mut answer);
    if answer.is_empty() {
        return Err(match (sent, read) {
            (Err(e), _) => format!("cannot send to {shown}: {e}"),
            (_, Err(e)) => format!("no answer from {shown}: {e}"),
            _ => format!("{shown} closed the connection without an answer"),
        });
    }
    serde_json::from_slice(&answer).map_err(|e| format!("bad answer from {shown}: {e}"))
}

/// `keepalived-rs status [--json]`: 0 shown, 1 the daemon answered with an error, 2 no
/// answer.
pub fn status_cmd(path: &Path, json: bool) -> ExitCode {
    let r = match request(path, "status") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keepalived-rs: {e}");
            return ExitCode::from(2);
        }
    };
    match (r.ok, r.status) {
        (true, Some(s)) => {
            let out = if json {
                serde_json::to_string_pretty(&s).map(|mut t| {
                    t.push('\n');
                    t
                })
            } else {
                Ok(render_text(&s, std::time::SystemTime::now()))
            };
            match out {
                Ok(t) => print_or_pipe(&t),
                Err(e) => {
                    eprintln!("keepalived-rs: {e}");
                    ExitCode::from(2)
                }
            }
        }
        _ => daemon_error(&r.code, &r.error),
    }
}

/// `keepalived-rs reload`: 0 applied, 1 refused (reason printed), 2 no answer.
pub fn reload_cmd(path: &Path) -> ExitCode {
    match request(path, "reload") {
        Ok(Response {
            ok: true,
            reload: Some(done),
            ..
        }) => {
            println!("reloaded: {}", done.message);
            ExitCode::SUCCESS
        }
        Ok(r) if r.code.as_deref() == Some("refused") => {
            eprintln!(
                "keepalived-rs: reload refused: {}",
                r.error.as_deref().unwrap_or("no reason given")
            );
            ExitCode::from(1)
        }
        Ok(r) => daemon_error(&r.code, &r.error),
        Err(e) => {
            eprintln!("keepalived-rs: {e}");
            ExitCode::from(2)
        }
    }
}

fn daemon_error(code: &Option<String>, error: &Option<String>) -> ExitCode {
    eprintln!(
        "keepalived-rs: the daemon answered {}: {}",
        code.as_deref().unwrap_or("an error"),
        error.as_deref().unwrap_or("no reason given")
    );
    ExitCode::from(1)
}

fn print_or_pipe(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keepalived-rs: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse() {
        assert_eq!(
            parse_request(br#"{"version":1,"command":"status"}"#),
            Ok(Command::Status)
        );
        assert_eq!(
            parse_request(b"{\"command\":\"reload\",\"version\":1,\"extra\":true}\n"),
            Ok(Command::Reload)
        );
        let code = |l: &[u8]| parse_request(l).unwrap_err().code.unwrap();
        assert_eq!(code(b"status"), "bad_request");
        assert_eq!(code(br#"{"command":"status"}"#), "bad_request");
        assert_eq!(code(br#"{"version":1}"#), "bad_request");
        assert_eq!(
            code(br#"{"version":2,"command":"status"}"#),
            "unsupported_version"
        );
        assert_eq!(
            code(br#"{"version":1,"command":"stop"}"#),
            "unknown_command"
        );
    }

    #[test]
    fn responses_encode_as_documented() {
        let r = Response::reload(Err("line 3: unknown keyword".into()));
        let v: serde_json::Value = serde_json::from_slice(&r.line()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"version":1,"ok":false,"code":"refused","error":"line 3: unknown keyword"})
        );
        let r = Response::reload(Ok("2 instances changed".into()));
        let line = r.line();
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        let back: Response = serde_json::from_slice(&line).unwrap();
        assert_eq!(back, r);
        // A client ignores fields it does not know.
        let newer: Response = serde_json::from_str(
            r#"{"version":1,"ok":true,"reload":{"message":"m","changed":[]},"future":1}"#,
        )
        .unwrap();
        assert_eq!(newer.reload.unwrap().message, "m");
    }

    /// A whole round trip over a real socket in a temporary directory: status answered by
    /// a fake engine, an oversized request refused, the socket file 0600 and removed on drop.
    #[test]
    fn socket_round_trip() {
        let dir = std::env::temp_dir().join(format!("ka-ctl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub").join("control.sock");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let mut server = Server::bind(&path).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            // A second daemon does not steal a live socket.
            assert!(Server::bind(&path).unwrap_err().contains("another daemon"));
            let p2 = path.clone();
            let client = tokio::task::spawn_blocking(move || {
                let reload = request(&p2, "reload");
                let unknown = request(&p2, "frobnicate");
                // Oversized request: refused, connection closed.
                let mut s = std::os::unix::net::UnixStream::connect(&p2).unwrap();
                let big = vec![b'x'; MAX_REQUEST_BYTES + 10];
                let _ = s.write_all(&big);
                let mut answer = String::new();
                let _ = BufReader::new(&s).read_line(&mut answer);
                (reload, unknown, answer)
            });
            let p = server.next().await.unwrap();
            assert_eq!(p.command, Command::Reload);
            p.answer(Response::reload(Err("not today".into())));
            let (reload, unknown, big) = client.await.unwrap();
            let reload = reload.unwrap();
            assert!(!reload.ok);
            assert_eq!(reload.code.as_deref(), Some("refused"));
            assert_eq!(reload.error.as_deref(), Some("not today"));
            assert_eq!(unknown.unwrap().code.as_deref(), Some("unknown_command"));
            assert!(big.contains("longer than"), "{big}");
            // MAX_CLIENTS silent clients hold every slot: the next one is told "busy" at
            // once, and the engine side is never involved.
            let p3 = path.clone();
            let busy = tokio::task::spawn_blocking(move || {
                let idle: Vec<_> = (0..MAX_CLIENTS)
                    .map(|_| std::os::unix::net::UnixStream::connect(&p3).unwrap())
                    .collect();
                std::thread::sleep(Duration::from_millis(200));
                let r = request(&p3, "status");
                drop(idle);
                r
            });
            let r = busy.await.unwrap().unwrap();
            assert_eq!(r.code.as_deref(), Some("busy"));
            drop(server);
        });
        assert!(!path.exists(), "socket removed on drop");
        // The stale-socket path: a file that nobody listens on is replaced.
        let _ = std::fs::remove_dir_all(&dir);
        let msg = request(&path, "status").unwrap_err();
        assert!(msg.contains("no control socket at"), "{msg}");
    }
}
