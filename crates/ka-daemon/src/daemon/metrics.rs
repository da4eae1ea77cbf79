//! The metrics listener: Prometheus metrics (`/metrics`) and the status JSON (`/status`)
//! over HTTP/1.1, off by default, on `--metrics-listen ADDR:PORT` or global_defs
//! `metrics_listen ADDR:PORT` (a keepalived-rs extension; the option wins). The listener
//! is bound at start-up (an address that cannot be bound stops the start); a reload does
//! not move it (a changed `metrics_listen` is warned about).
//!
//! # Endpoints
//!
//! * `GET /metrics`: the text exposition format (version 0.0.4), written by hand
//!   ([`Text`]); every family below, prefixed `keepalived_rs_`.
//! * `GET /status`: the JSON of `keepalived-rs status --json` (the shape documented in
//!   `status`).
//! * `GET /`: a one-line index. Anything else: 404; methods other than GET/HEAD: 405.
//!
//! # Families
//!
//! | family | type | labels |
//! |---|---|---|
//! | `build_info` | gauge (1) | `version` |
//! | `start_time_seconds` | gauge | |
//! | `vrrp_state` | gauge (1 for the current state, 0 for the others) | `instance`, `state` (INIT, BACKUP, MASTER, FAULT) |
//! | `vrrp_priority`, `vrrp_effective_priority` | gauge | `instance` |
//! | `vrrp_master_priority` | gauge (the master's advertised priority; absent while none is known) | `instance` |
//! | `vrrp_last_transition_timestamp_seconds` | gauge (absent before the first) | `instance` |
//! | `vrrp_transitions_total`, `vrrp_became_master_total`, `vrrp_released_master_total` | counter | `instance` |
//! | `vrrp_adverts_sent_total`, `vrrp_adverts_received_total` | counter | `instance` |
//! | `vrrp_priority_zero_sent_total`, `vrrp_priority_zero_received_total` | counter | `instance` |
//! | `vrrp_adverts_dropped_total` | counter (every reason the engine counts, zero or not) | `instance`, `reason` |
//! | `vrrp_unmatched_adverts_dropped_total` | counter (adverts for no instance) | `reason` |
//! | `vrrp_sync_group_state` | gauge (as `vrrp_state`) | `sync_group`, `state` |
//! | `real_server_up` | gauge (the checkers' verdict) | `virtual_server`, `real_server` |
//! | `real_server_weight` | gauge | `virtual_server`, `real_server` |
//! | `real_server_probe_duration_seconds` | summary (`_sum`, `_count`: probes of its checkers that ran) | `virtual_server`, `real_server` |
//! | `real_server_last_probe_duration_seconds` | gauge | `virtual_server`, `real_server` |
//! | `virtual_server_connections_total` | counter | `virtual_server` |
//! | `virtual_server_{in,out}_{packets,bytes}_total` | counter (in: client to real server; nftables: not for fwmark services) | `virtual_server` |
//! | `real_server_connections_total` | counter (scheduled by the data plane) | `virtual_server`, `real_server` |
//! | `real_server_{in,out}_{packets,bytes}_total` | counter (IPVS only) | `virtual_server`, `real_server` |
//! | `real_server_active_connections`, `real_server_inactive_connections` | gauge (IPVS only) | `virtual_server`, `real_server` |
//! | `data_plane_counters_available` | gauge (0 when the table could not be read) | `backend` |
//!
//! Labels: `virtual_server` / `real_server` as the checkers write them in `status`
//! (`[192.0.2.100]:tcp:80`, `FWM 1`), so the checkers' and the data plane's series join;
//! the data plane's services are its own (a virtual_server_group shows as its member
//! services), and only this daemon's (an IPVS table may hold another program's).
//! A family appears only where its numbers exist (no VRRP families with `-C`, no
//! real-server families without checkers, none of the data plane's without one).
//!
//! # Limits: the VRRP engine never waits for a scraper
//!
//! At most [`MAX_CONNECTIONS`] connections at once (more are closed at once); a request
//! head must arrive within [`HEADER_TIMEOUT`] and a connection lives at most
//! [`CONNECTION_LIFETIME`]. Engine snapshots are asked for through a bounded channel
//! ([`ENGINE_QUEUE`], `try_send`: a full queue answers 503 without waiting), answered
//! through a one-shot channel within [`ENGINE_TIMEOUT`], and reused for
//! [`SNAPSHOT_REUSE`] so a scraper in a loop costs the engine at most ten snapshots a
//! second. The engine builds a snapshot and moves on; all formatting and writing happen
//! in the connection's task.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::{debug, info, warn};

use super::lb_status::{Counters as LbCounters, LbStatus, ServiceRow};
use super::lvs::StatusQuery;
use super::status::{DaemonInfo, Status, WallTime};
use crate::check::StatusTable;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 8;
/// A request head must arrive within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a connection (keep-alive included) is served.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Snapshot requests waiting for the engine.
pub const ENGINE_QUEUE: usize = 4;
/// How long a request waits for the engine's (or the data plane's) answer.
pub const ENGINE_TIMEOUT: Duration = Duration::from_secs(2);
/// A snapshot younger than this is served again instead of asking the engine.
pub const SNAPSHOT_REUSE: Duration = Duration::from_millis(100);
/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A request for a status snapshot, answered by the VRRP engine.
pub type SnapshotRequest = oneshot::Sender<Status>;

/// The bound listener, before the runtime serves it.
#[derive(Debug)]
pub struct Listener {
    std: std::net::TcpListener,
    addr: SocketAddr,
}

impl Listener {
    /// Binds `addr`; the error says what to do.
    pub fn bind(addr: SocketAddr) -> Result<Listener, String> {
        let std = std::net::TcpListener::bind(addr).map_err(|e| {
            format!("cannot listen on {addr} for metrics (--metrics-listen / metrics_listen): {e}")
        })?;
        std.set_nonblocking(true)
            .map_err(|e| format!("metrics listener {addr}: {e}"))?;
        let addr = std.local_addr().unwrap_or(addr);
        Ok(Listener { std, addr })
    }
}

/// Where the numbers come from.
#[derive(Debug)]
pub struct Sources {
    /// The VRRP engine (none with `-C`).
    pub engine: Option<mpsc::Sender<SnapshotRequest>>,
    /// The checkers' real-server table (used directly without an engine).
    pub real_servers: StatusTable,
    /// The data plane's table and counters (none without virtual servers, or with `-P`).
    pub lb: Option<StatusQuery>,
    /// The daemon (for a status without an engine).
    pub daemon: DaemonInfo,
}

/// Serves `listener` until the task is dropped. Must run inside a `LocalSet`.
pub async fn serve(listener: Listener, sources: Sources) {
    let addr = listener.addr;
    let listener = match tokio::net::TcpListener::from_std(listener.std) {
        Ok(l) => l,
        Err(e) => {
            warn!("metrics listener {addr}: {e}");
            return;
        }
    };
    info!("metrics on http://{addr}/metrics and /status");
    let state = Rc::new(State {
        sources,
        cache: RefCell::new(None),
    });
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!("metrics accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            debug!("metrics: {peer} refused, {MAX_CONNECTIONS} connections busy");
            drop(stream);
            continue;
        };
        let state = Rc::clone(&state);
        tokio::task::spawn_local(async move {
            let svc = hyper::service::service_fn(move |req| {
                let state = Rc::clone(&state);
                async move { Ok::<_, Infallible>(handle(&state, &req).await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(64 * 1024);
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            match tokio::time::timeout(CONNECTION_LIFETIME, conn).await {
                Ok(Err(e)) => debug!("metrics connection {peer}: {e}"),
                Err(_) => debug!("metrics connection {peer}: lifetime over"),
                Ok(Ok(())) => {}
            }
            drop(permit);
        });
    }
}

struct State {
    sources: Sources,
    cache: RefCell<Option<(tokio::time::Instant, Rc<Status>)>>,
}

fn reply(code: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = code;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn text(code: StatusCode, body: String) -> Response<Full<Bytes>> {
    reply(code, "text/plain; charset=utf-8", body)
}

async fn handle(state: &State, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
        return r;
    }
    match req.uri().path() {
        "/metrics" => {
            let status = match state.snapshot().await {
                Ok(s) => s,
                Err(e) => return text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
            };
            let body = render(&status);
            reply(StatusCode::OK, CONTENT_TYPE, body)
        }
        "/status" => match state.snapshot().await {
            Ok(s) => match serde_json::to_string_pretty(&*s) {
                Ok(mut t) => {
                    t.push('\n');
                    reply(StatusCode::OK, "application/json", t)
                }
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
            },
            Err(e) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
        },
        "/" => text(
            StatusCode::OK,
            "keepalived-rs: /metrics (Prometheus), /status (JSON)\n".into(),
        ),
        p => text(
            StatusCode::NOT_FOUND,
            format!("no {p} here: /metrics or /status\n"),
        ),
    }
}

impl State {
    /// The status with the data plane's table, reused for [`SNAPSHOT_REUSE`]: the
    /// engine's snapshot, or without an engine the checkers' table alone.
    async fn snapshot(&self) -> Result<Rc<Status>, String> {
        if let Some((at, s)) = &*self.cache.borrow() {
            if at.elapsed() < SNAPSHOT_REUSE {
                return Ok(Rc::clone(s));
            }
        }
        let mut status = match &self.sources.engine {
            Some(engine) => ask(engine, "the VRRP engine").await?,
            None => Status {
                daemon: self.sources.daemon.clone(),
                instances: Vec::new(),
                sync_groups: Vec::new(),
                unmatched_drops: BTreeMap::new(),
                real_servers: self
                    .sources
                    .real_servers
                    .lock()
                    .ok()
                    .map(|t| t.clone())
                    .filter(|t| !t.is_empty()),
                virtual_servers: None,
            },
        };
        if let Some(q) = &self.sources.lb {
            status.virtual_servers = Some(
                ask(q, "the data plane")
                    .await
                    .unwrap_or_else(|e| LbStatus::error("?", e)),
            );
        }
        let s = Rc::new(status);
        *self.cache.borrow_mut() = Some((tokio::time::Instant::now(), Rc::clone(&s)));
        Ok(s)
    }
}

/// Asks `who` through its bounded queue without waiting for room, then waits at most
/// [`ENGINE_TIMEOUT`] for the answer.
async fn ask<T>(q: &mpsc::Sender<oneshot::Sender<T>>, who: &str) -> Result<T, String> {
    let (tx, rx) = oneshot::channel();
    match q.try_send(tx) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            return Err(format!("busy: too many requests waiting for {who}"))
        }
        Err(mpsc::error::TrySendError::Closed(_)) => return Err(format!("{who} is stopping")),
    }
    match tokio::time::timeout(ENGINE_TIMEOUT, rx).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(_)) => Err(format!("{who} is stopping")),
        Err(_) => Err(format!("no answer from {who} in time")),
    }
}

// ------------------------------------------------------------------ text format

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Goes up and down.
    Gauge,
    /// Only goes up (from the daemon's start).
    Counter,
    /// `_sum` and `_count` (no quantiles here).
    Summary,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Summary => "summary",
        }
    }
}

/// A sample's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// An integer.
    Int(u64),
    /// A float (NaN and infinities as the format spells them).
    Float(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v)
    }
}

impl From<u8> for Value {
    fn from(v: u8) -> Self {
        Value::Int(u64::from(v))
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(u64::from(v))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(u64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) if v.is_nan() => f.write_str("NaN"),
            Value::Float(v) if v == f64::INFINITY => f.write_str("+Inf"),
            Value::Float(v) if v == f64::NEG_INFINITY => f.write_str("-Inf"),
            Value::Float(v) => write!(f, "{v}"),
        }
    }
}

/// A label value escaped for the text format: `\` `"` and line feeds.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text escaped for the text format: `\` and line feeds.
pub fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// The text exposition format being written: each family's `# HELP` and `# TYPE` once,
/// before its samples.
#[derive(Debug, Default)]
pub struct Text {
    out: String,
}

impl Text {
    /// Starts a family `name` (without the `keepalived_rs_` prefix, which is added).
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> Family<'_> {
        let name = format!("keepalived_rs_{name}");
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.name());
        Family { text: self, name }
    }

    /// The text written.
    pub fn finish(self) -> String {
        self.out
    }
}

/// A family's samples.
#[derive(Debug)]
pub struct Family<'t> {
    text: &'t mut Text,
    name: String,
}

impl Family<'_> {
    /// A sample of the family itself.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: impl Into<Value>) -> &mut Self {
        self.suffixed("", labels, value)
    }

    /// A sample `NAME{suffix}` (a summary's `_sum`, `_count`).
    pub fn suffixed(
        &mut self,
        suffix: &str,
        labels: &[(&str, &str)],
        value: impl Into<Value>,
    ) -> &mut Self {
        let out = &mut self.text.out;
        out.push_str(&self.name);
        out.push_str(suffix);
        if !labels.is_empty() {
            out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{k}=\"{}\"", escape_label(v));
            }
            out.push('}');
        }
        let _ = writeln!(out, " {}", value.into());
        self
    }
}

/// The states a `*_state` family lists.
const STATES: [&str; 4] = ["INIT", "BACKUP", "MASTER", "FAULT"];

/// The checkers' label (`[ADDR]:PROTO:PORT`, `FWM 1`) of a data-plane service row.
pub fn vs_label(row: &ServiceRow) -> String {
    if row.protocol == "FWM" {
        return format!("FWM {}", row.address);
    }
    match row.address.parse::<SocketAddr>() {
        Ok(a) => format!(
            "[{}]:{}:{}",
            a.ip(),
            row.protocol.to_ascii_lowercase(),
            a.port()
        ),
        Err(_) => row.address.clone(),
    }
}

/// The checkers' label of a destination of `row`.
fn rs_label(row: &ServiceRow, address: &str) -> String {
    let proto = match row.protocol.as_str() {
        "FWM" => "tcp".to_owned(),
        p => p.to_ascii_lowercase(),
    };
    match address.parse::<SocketAddr>() {
        Ok(a) => format!("[{}]:{proto}:{}", a.ip(), a.port()),
        Err(_) => address.to_owned(),
    }
}

fn us_secs(us: u64) -> f64 {
    Duration::from_micros(us).as_secs_f64()
}

/// The whole exposition of `status` (with its data-plane table, when there is one).
pub fn render(status: &Status) -> String {
    let mut t = Text::default();
    t.family("build_info", Kind::Gauge, "keepalived-rs version.")
        .sample(&[("version", &status.daemon.version)], 1u64);
    t.family(
        "start_time_seconds",
        Kind::Gauge,
        "When the daemon started (Unix time).",
    )
    .sample(&[], us_secs(status.daemon.started.unix_us));
    render_vrrp(&mut t, status);
    render_real_servers(&mut t, status);
    render_virtual_servers(&mut t, status.virtual_servers.as_ref());
    t.finish()
}

fn render_vrrp(t: &mut Text, status: &Status) {
    let inst = &status.instances;
    if inst.is_empty() {
        return;
    }
    let mut f = t.family(
        "vrrp_state",
        Kind::Gauge,
        "VRRP instance state: 1 for the current state, 0 for the others.",
    );
    for i in inst {
        for s in STATES {
            f.sample(&[("instance", &i.name), ("state", s)], i.state == s);
        }
    }
    let gauge = |t: &mut Text,
                 name: &str,
                 help: &str,
                 v: &dyn Fn(&super::status::InstanceStatus) -> Option<Value>| {
        let mut f = t.family(name, Kind::Gauge, help);
        for i in inst {
            if let Some(v) = v(i) {
                f.sample(&[("instance", &i.name)], v);
            }
        }
    };
    gauge(t, "vrrp_priority", "Configured priority.", &|i| {
        Some(i.priority.into())
    });
    gauge(
        t,
        "vrrp_effective_priority",
        "Priority advertised now (tracking applied).",
        &|i| Some(i.effective_priority.into()),
    );
    gauge(
        t,
        "vrrp_master_priority",
        "Advertised priority of the master (this router in MASTER, the one last heard in BACKUP).",
        &|i| i.master.as_ref().map(|m| m.priority.into()),
    );
    gauge(
        t,
        "vrrp_last_transition_timestamp_seconds",
        "When the instance last changed state (Unix time).",
        &|i| {
            i.last_transition
                .as_ref()
                .map(|l| us_secs(l.at.unix_us).into())
        },
    );
    type Pick = fn(&super::status::Counters) -> u64;
    let counters: [(&str, &str, Pick); 7] = [
        (
            "vrrp_transitions_total",
            "State changes of any kind.",
            |c| c.transitions,
        ),
        ("vrrp_became_master_total", "Transitions to MASTER.", |c| {
            c.became_master
        }),
        (
            "vrrp_released_master_total",
            "Transitions out of MASTER.",
            |c| c.released_master,
        ),
        ("vrrp_adverts_sent_total", "Adverts sent.", |c| {
            c.adverts_sent
        }),
        (
            "vrrp_adverts_received_total",
            "Adverts received that passed the header checks.",
            |c| c.adverts_received,
        ),
        (
            "vrrp_priority_zero_sent_total",
            "Priority 0 adverts sent.",
            |c| c.priority_zero_sent,
        ),
        (
            "vrrp_priority_zero_received_total",
            "Priority 0 adverts received.",
            |c| c.priority_zero_received,
        ),
    ];
    for (name, help, pick) in counters {
        let mut f = t.family(name, Kind::Counter, help);
        for i in inst {
            f.sample(&[("instance", &i.name)], pick(&i.counters));
        }
    }
    let mut f = t.family(
        "vrrp_adverts_dropped_total",
        Kind::Counter,
        "Adverts dropped, by reason.",
    );
    for i in inst {
        for (reason, n) in &i.counters.drops {
            f.sample(&[("instance", &i.name), ("reason", reason)], *n);
        }
    }
    let mut f = t.family(
        "vrrp_unmatched_adverts_dropped_total",
        Kind::Counter,
        "Adverts that matched no instance, by reason.",
    );
    for (reason, n) in &status.unmatched_drops {
        f.sample(&[("reason", reason)], *n);
    }
    if !status.sync_groups.is_empty() {
        let mut f = t.family(
            "vrrp_sync_group_state",
            Kind::Gauge,
            "Sync group state: 1 for the current state, 0 for the others.",
        );
        for g in &status.sync_groups {
            for s in STATES {
                f.sample(&[("sync_group", &g.name), ("state", s)], g.state == s);
            }
        }
    }
}

fn render_real_servers(t: &mut Text, status: &Status) {
    if let Some(rs) = status.real_servers.as_deref().filter(|r| !r.is_empty()) {
        let labels = |r: &crate::check::RsReport| {
            [
                ("virtual_server", r.virtual_server.clone()),
                ("real_server", r.real_server.clone()),
            ]
        };
        type Pick = fn(&crate::check::RsReport) -> Option<Value>;
        let gauges: [(&str, &str, Pick); 3] = [
            (
                "real_server_up",
                "Health checkers' verdict: 1 in the pool, 0 out of it.",
                |r| Some(r.alive.into()),
            ),
            ("real_server_weight", "Current weight.", |r| {
                Some(r.weight.into())
            }),
            (
                "real_server_last_probe_duration_seconds",
                "Duration of the last probe of one of its checkers, start to verdict.",
                |r| r.last_probe_us.map(|us| us_secs(us).into()),
            ),
        ];
        for (name, help, pick) in gauges {
            let mut f = t.family(name, Kind::Gauge, help);
            for r in rs {
                if let Some(v) = pick(r) {
                    let [a, b] = labels(r);
                    f.sample(&[(a.0, &a.1), (b.0, &b.1)], v);
                }
            }
        }
        let mut f = t.family(
            "real_server_probe_duration_seconds",
            Kind::Summary,
            "Durations of the probes of its checkers that ran.",
        );
        for r in rs {
            let [a, b] = labels(r);
            let l = [(a.0, a.1.as_str()), (b.0, b.1.as_str())];
            f.suffixed("_sum", &l, us_secs(r.probe_us_total));
            f.suffixed("_count", &l, r.probes);
        }
    }
}

/// A row's services: this daemon's only (an IPVS table may hold another program's).
fn owned(lb: &LbStatus) -> impl Iterator<Item = &ServiceRow> {
    lb.services.iter().filter(|s| s.owned)
}

type CounterPick = fn(&LbCounters) -> Option<u64>;

/// Connections, packets and bytes, as the data plane counts them.
const TRAFFIC: [(&str, &str, CounterPick); 5] = [
    ("connections_total", "Connections scheduled.", |c| {
        Some(c.conns)
    }),
    (
        "in_packets_total",
        "Packets from clients to real servers.",
        |c| c.inpkts,
    ),
    (
        "out_packets_total",
        "Packets from real servers to clients.",
        |c| c.outpkts,
    ),
    (
        "in_bytes_total",
        "Bytes from clients to real servers.",
        |c| c.inbytes,
    ),
    (
        "out_bytes_total",
        "Bytes from real servers to clients.",
        |c| c.outbytes,
    ),
];

fn render_virtual_servers(t: &mut Text, lb: Option<&LbStatus>) {
    let Some(lb) = lb else {
        return;
    };
    t.family(
        "data_plane_counters_available",
        Kind::Gauge,
        "1 when the data plane's table and counters were read for this scrape.",
    )
    .sample(&[("backend", &lb.backend)], lb.error.is_none());
    if lb.error.is_some() {
        return;
    }
    // A family only where the data plane counts it (nftables: no per-destination
    // packets, no fwmark traffic).
    for (name, help, pick) in TRAFFIC {
        let rows: Vec<(String, u64)> = owned(lb)
            .filter_map(|s| pick(&s.stats).map(|v| (vs_label(s), v)))
            .collect();
        if !rows.is_empty() {
            let mut f = t.family(&format!("virtual_server_{name}"), Kind::Counter, help);
            for (vs, v) in rows {
                f.sample(&[("virtual_server", &vs)], v);
            }
        }
    }
    for (name, help, pick) in TRAFFIC {
        let rows: Vec<(String, String, u64)> = owned(lb)
            .flat_map(|s| {
                s.destinations.iter().filter_map(move |d| {
                    pick(&d.stats).map(|v| (vs_label(s), rs_label(s, &d.address), v))
                })
            })
            .collect();
        if !rows.is_empty() {
            let mut f = t.family(
                &format!("real_server_{name}"),
                Kind::Counter,
                &format!("{help} Per real server, by the data plane."),
            );
            for (vs, rs, v) in rows {
                f.sample(&[("virtual_server", &vs), ("real_server", &rs)], v);
            }
        }
    }
    type ConnPick = fn(&super::lb_status::DestRow) -> Option<u32>;
    let gauges: [(&str, &str, ConnPick); 2] = [
        (
            "real_server_active_connections",
            "Active connections (IPVS).",
            |d| d.active_conns,
        ),
        (
            "real_server_inactive_connections",
            "Inactive connections (IPVS).",
            |d| d.inactive_conns,
        ),
    ];
    for (name, help, pick) in gauges {
        let rows: Vec<(String, String, u32)> = owned(lb)
            .flat_map(|s| {
                s.destinations
                    .iter()
                    .filter_map(move |d| pick(d).map(|v| (vs_label(s), rs_label(s, &d.address), v)))
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        let mut f = t.family(name, Kind::Gauge, help);
        for (vs, rs, v) in rows {
            f.sample(&[("virtual_server", &vs), ("real_server", &rs)], v);
        }
    }
}

/// The next snapshot request for the engine (never ready without a listener).
pub async fn next(rx: &mut Option<mpsc::Receiver<SnapshotRequest>>) -> SnapshotRequest {
    if let Some(r) = rx.as_mut() {
        if let Some(req) = r.recv().await {
            return req;
        }
        *rx = None;
    }
    std::future::pending().await
}

/// The daemon's own facts, for a status without an engine.
pub fn daemon_info(config_file: &std::path::Path, started: SystemTime) -> DaemonInfo {
    DaemonInfo {
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        config_file: config_file.display().to_string(),
        started: WallTime::of(started),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::RsReport;
    use ka_lb::{
        Dest, DestKey, Family as LbFamily, Forwarding, Protocol, Service, ServiceAttrs,
        ServiceFlags, ServiceKey, Table,
    };
    use ka_model::Vrid;
    use ka_sys::nft::ServiceStats;
    use ka_vrrp::{IfaceId, InstanceConfig, Instant, Router, RouterConfig, SyncGroupConfig};
    use std::collections::{BTreeSet, HashMap};

    /// Series (name, labels) -> value text.
    type Series = BTreeMap<(String, Vec<(String, String)>), String>;

    /// Whether `name` is a valid metric or label name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
    fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }

    /// A strict reader of the text format as Prometheus parses it: every sample belongs
    /// to a family declared by `# HELP` then `# TYPE` before it (a summary's `_sum` and
    /// `_count` to theirs), names are valid, label values are quoted with only `\\`, `\"`
    /// and `\n` escapes, values parse, no series appears twice, a family is declared once.
    /// Returns series (name and unescaped labels) -> value text.
    fn parse(text: &str) -> Series {
        let mut types: HashMap<String, String> = HashMap::new();
        let mut helped = BTreeSet::new();
        let mut out = BTreeMap::new();
        assert!(text.ends_with('\n'), "the exposition ends with a line feed");
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, _) = rest.split_once(' ').unwrap();
                assert!(valid_name(name), "{line}");
                assert!(helped.insert(name.to_owned()), "HELP twice: {line}");
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(helped.contains(name), "TYPE before HELP: {line}");
                assert!(["gauge", "counter", "summary"].contains(&kind), "{line}");
                assert!(types.insert(name.into(), kind.into()).is_none(), "{line}");
                continue;
            }
            assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
            let name_end = line.find(['{', ' ']).unwrap();
            let name = &line[..name_end];
            assert!(valid_name(name), "{line}");
            let family = match types.get(name) {
                Some(_) => name,
                None => {
                    let base = name
                        .strip_suffix("_sum")
                        .or_else(|| name.strip_suffix("_count"))
                        .unwrap_or_else(|| panic!("sample before its TYPE: {line}"));
                    assert_eq!(
                        types.get(base).map(String::as_str),
                        Some("summary"),
                        "{line}"
                    );
                    base
                }
            };
            if types[family] == "counter" {
                assert!(
                    family.ends_with("_total"),
                    "a counter's name ends in _total: {line}"
                );
            }
            let mut rest = &line[name_end..];
            let mut labels = Vec::new();
            if let Some(r) = rest.strip_prefix('{') {
                let mut chars = r.char_indices().peekable();
                loop {
                    let start = chars.peek().unwrap().0;
                    let eq = r[start..].find('=').unwrap() + start;
                    let lname = &r[start..eq];
                    assert!(valid_name(lname) && !lname.contains(':'), "{line}");
                    while chars.peek().unwrap().0 <= eq {
                        chars.next();
                    }
                    assert_eq!(chars.next().unwrap().1, '"', "{line}");
                    let mut value = String::new();
                    loop {
                        match chars.next().unwrap().1 {
                            '\\' => match chars.next().unwrap().1 {
                                '\\' => value.push('\\'),
                                '"' => value.push('"'),
                                'n' => value.push('\n'),
                                c => panic!("bad escape \\{c}: {line}"),
                            },
                            '"' => break,
                            c => value.push(c),
                        }
                    }
                    labels.push((lname.to_owned(), value));
                    match chars.next().unwrap() {
                        (_, ',') => continue,
                        (i, '}') => {
                            rest = &r[i + 1..];
                            break;
                        }
                        (_, c) => panic!("unexpected {c}: {line}"),
                    }
                }
            }
            let value = rest.strip_prefix(' ').unwrap_or_else(|| panic!("{line}"));
            assert!(
                ["NaN", "+Inf", "-Inf"].contains(&value) || value.parse::<f64>().is_ok(),
                "{line}"
            );
            assert!(
                out.insert((name.to_owned(), labels), value.to_owned())
                    .is_none(),
                "series twice: {line}"
            );
        }
        out
    }

    fn get<'a>(m: &'a Series, name: &str, labels: &[(&str, &str)]) -> Option<&'a str> {
        let key = (
            format!("keepalived_rs_{name}"),
            labels
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect(),
        );
        m.get(&key).map(String::as_str)
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(
            escape_label("plain [192.0.2.1]:tcp:80"),
            "plain [192.0.2.1]:tcp:80"
        );
        // HELP escapes only backslash and line feed; quotes stay.
        assert_eq!(escape_help("say \"hi\"\\\nbye"), "say \"hi\"\\\\\\nbye");
    }

    #[test]
    fn help_and_type_lines_precede_samples() {
        let mut t = Text::default();
        t.family("x_total", Kind::Counter, "An x.\nSecond line.")
            .sample(&[("a", "1"), ("b", "q\"")], 7u64)
            .sample(&[], 0u64);
        t.family("d_seconds", Kind::Summary, "Durations.")
            .suffixed("_sum", &[], 0.25)
            .suffixed("_count", &[], 2u64);
        t.family("g", Kind::Gauge, "Odd values.")
            .sample(&[("k", "nan")], f64::NAN)
            .sample(&[("k", "inf")], f64::INFINITY)
            .sample(&[("k", "-inf")], f64::NEG_INFINITY)
            .sample(&[("k", "small")], 0.000_412);
        let text = t.finish();
        assert_eq!(
            text,
            "# HELP keepalived_rs_x_total An x.\\nSecond line.\n\
             # TYPE keepalived_rs_x_total counter\n\
             keepalived_rs_x_total{a=\"1\",b=\"q\\\"\"} 7\n\
             keepalived_rs_x_total 0\n\
             # HELP keepalived_rs_d_seconds Durations.\n\
             # TYPE keepalived_rs_d_seconds summary\n\
             keepalived_rs_d_seconds_sum 0.25\n\
             keepalived_rs_d_seconds_count 2\n\
             # HELP keepalived_rs_g Odd values.\n\
             # TYPE keepalived_rs_g gauge\n\
             keepalived_rs_g{k=\"nan\"} NaN\n\
             keepalived_rs_g{k=\"inf\"} +Inf\n\
             keepalived_rs_g{k=\"-inf\"} -Inf\n\
             keepalived_rs_g{k=\"small\"} 0.000412\n"
        );
        let m = parse(&text);
        assert_eq!(get(&m, "x_total", &[("a", "1"), ("b", "q\"")]), Some("7"));
        // The reader used below rejects what Prometheus would.
        for bad in [
            "keepalived_rs_y 1\n",                                     // no TYPE
            "# HELP a x\n# TYPE a gauge\na{l=\"v\\t\"} 1\n",           // bad escape
            "# HELP a x\n# TYPE a gauge\na 1\na 2\n",                  // a series twice
            "# HELP a_total x\n# TYPE a_total counter\na_total one\n", // not a number
        ] {
            assert!(std::panic::catch_unwind(|| parse(bad)).is_err(), "{bad}");
        }
    }

    /// A status of a real engine: `VI "1"\x` (a name that needs escaping) MASTER in a
    /// sync group, `VI_2` BACKUP; two real servers; a data plane with one address service
    /// and one fwmark service.
    fn fixture() -> Status {
        let mut a = InstanceConfig::new(
            "VI \"1\"\\x",
            Vrid::new(51).unwrap(),
            IfaceId(3),
            "192.0.2.1".parse().unwrap(),
        );
        a.priority = 150;
        let b = InstanceConfig::new(
            "VI_2",
            Vrid::new(52).unwrap(),
            IfaceId(3),
            "192.0.2.1".parse().unwrap(),
        );
        let mut r = Router::new(RouterConfig {
            instances: vec![a, b],
            sync_groups: vec![SyncGroupConfig {
                name: "G1".into(),
                members: vec!["VI \"1\"\\x".into()],
                tracking_weight: false,
            }],
        })
        .unwrap();
        r.start(Instant::ZERO);
        // VI_1 (150) takes over first; VI_2 (100) is still BACKUP at that moment.
        let t = r.poll_timeout().unwrap();
        r.handle_timeout(t);
        while r.poll_transmit().is_some() || r.poll_action().is_some() || r.poll_event().is_some() {
        }
        let rs: StatusTable = StatusTable::default();
        rs.lock().unwrap().extend([
            RsReport {
                virtual_server: "[192.0.2.100]:tcp:80".into(),
                real_server: "[198.51.100.10]:tcp:8080".into(),
                alive: true,
                weight: 3,
                last_result: Some("success".into()),
                reason: None,
                last_probe_us: Some(1500),
                probes: 4,
                probe_us_total: 5000,
            },
            RsReport {
                virtual_server: "[192.0.2.100]:tcp:80".into(),
                real_server: "[198.51.100.20]:tcp:8080".into(),
                alive: false,
                weight: 1,
                last_result: None,
                reason: None,
                last_probe_us: None,
                probes: 0,
                probe_us_total: 0,
            },
        ]);
        let ifname = |i: u32| format!("if{i}");
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let status = super::super::status::snapshot(
            &r,
            &super::super::status::Ctx {
                now: t,
                wall,
                started: wall - Duration::from_secs(10),
                config_file: std::path::Path::new("/etc/keepalived/keepalived.conf"),
                ifname: &ifname,
                real_servers: &rs,
            },
        );
        let svc = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "192.0.2.100".parse().unwrap(),
            port: 80,
        };
        let fw = ServiceKey::Fwmark {
            family: LbFamily::Inet,
            mark: 7,
        };
        let d = |a: &str| DestKey {
            addr: a.parse().unwrap(),
            port: 8080,
        };
        let service = |dests: &[&str]| Service {
            attrs: ServiceAttrs {
                scheduler: "wrr".into(),
                flags: ServiceFlags::default(),
                persistence: None,
            },
            dests: dests
                .iter()
                .map(|a| {
                    (
                        d(a),
                        Dest {
                            weight: 1,
                            forwarding: Forwarding::Nat,
                            upper_threshold: 0,
                            lower_threshold: 0,
                        },
                    )
                })
                .collect(),
        };
        let mut table = Table::new();
        table
            .services
            .insert(svc, service(&["198.51.100.10", "198.51.100.20"]));
        table.services.insert(fw, service(&["198.51.100.10"]));
        let stats = ka_sys::nft::Stats {
            services: [
                (
                    svc,
                    ServiceStats {
                        conns: 90,
                        traffic: true,
                        in_pkts: 500,
                        in_bytes: 30_000,
                        out_pkts: 400,
                        out_bytes: 90_000,
                    },
                ),
                (
                    fw,
                    ServiceStats {
                        conns: 2,
                        ..ServiceStats::default()
                    },
                ),
            ]
            .into(),
            dests: [
                ((svc, d("198.51.100.10")), 60),
                ((svc, d("198.51.100.20")), 30),
                ((fw, d("198.51.100.10")), 2),
            ]
            .into(),
        };
        let mut lb = LbStatus::from_nft_stats(&table, &stats);
        // Another program's service (IPVS shows every service of the kernel).
        let mut foreign = lb.services[0].clone();
        foreign.address = "192.0.2.200:80".into();
        foreign.owned = false;
        lb.services.push(foreign);
        let mut status = status;
        status.virtual_servers = Some(lb);
        status
    }

    #[test]
    fn exposition_of_a_running_daemon() {
        let status = fixture();
        let text = render(&status);
        let m = parse(&text);
        let vi1 = "VI \"1\"\\x";
        // Escaped on the wire, the same name after reading.
        assert!(
            text.contains(
                "keepalived_rs_vrrp_state{instance=\"VI \\\"1\\\"\\\\x\",state=\"MASTER\"} 1\n"
            ),
            "{text}"
        );
        for (inst, state) in [(vi1, "MASTER"), ("VI_2", "BACKUP")] {
            for s in STATES {
                let want = if s == state { "1" } else { "0" };
                assert_eq!(
                    get(&m, "vrrp_state", &[("instance", inst), ("state", s)]),
                    Some(want),
                    "{inst} {s}"
                );
            }
        }
        assert_eq!(get(&m, "vrrp_priority", &[("instance", vi1)]), Some("150"));
        assert_eq!(
            get(&m, "vrrp_effective_priority", &[("instance", vi1)]),
            Some("150")
        );
        assert_eq!(
            get(&m, "vrrp_master_priority", &[("instance", vi1)]),
            Some("150")
        );
        assert_eq!(
            get(&m, "vrrp_master_priority", &[("instance", "VI_2")]),
            None
        );
        assert_eq!(
            get(&m, "vrrp_transitions_total", &[("instance", vi1)]),
            Some("2")
        );
        assert_eq!(
            get(&m, "vrrp_transitions_total", &[("instance", "VI_2")]),
            Some("1")
        );
        assert_eq!(
            get(&m, "vrrp_became_master_total", &[("instance", vi1)]),
            Some("1")
        );
        assert_eq!(
            get(&m, "vrrp_adverts_sent_total", &[("instance", vi1)]),
            Some("1")
        );
        // The snapshot was taken at the take-over: its wall clock is the transition's.
        assert_eq!(
            get(
                &m,
                "vrrp_last_transition_timestamp_seconds",
                &[("instance", vi1)]
            ),
            Some("1800000000")
        );
        assert_eq!(get(&m, "start_time_seconds", &[]), Some("1799999990"));
        // Every drop reason the engine counts, for every instance.
        for inst in [vi1, "VI_2"] {
            for r in ka_vrrp::DropReason::ALL {
                let reason = super::super::status::drop_name(r);
                assert_eq!(
                    get(
                        &m,
                        "vrrp_adverts_dropped_total",
                        &[("instance", inst), ("reason", reason)]
                    ),
                    Some("0"),
                    "{inst} {reason}"
                );
            }
        }
        assert_eq!(
            get(
                &m,
                "vrrp_unmatched_adverts_dropped_total",
                &[("reason", "vrid_zero")]
            ),
            Some("0")
        );
        assert_eq!(
            get(
                &m,
                "vrrp_sync_group_state",
                &[("sync_group", "G1"), ("state", "MASTER")]
            ),
            Some("1")
        );
        // Real servers.
        let rs1 = [
            ("virtual_server", "[192.0.2.100]:tcp:80"),
            ("real_server", "[198.51.100.10]:tcp:8080"),
        ];
        let rs2 = [
            ("virtual_server", "[192.0.2.100]:tcp:80"),
            ("real_server", "[198.51.100.20]:tcp:8080"),
        ];
        assert_eq!(get(&m, "real_server_up", &rs1), Some("1"));
        assert_eq!(get(&m, "real_server_up", &rs2), Some("0"));
        assert_eq!(get(&m, "real_server_weight", &rs1), Some("3"));
        assert_eq!(
            get(&m, "real_server_last_probe_duration_seconds", &rs1),
            Some("0.0015")
        );
        assert_eq!(
            get(&m, "real_server_last_probe_duration_seconds", &rs2),
            None
        );
        assert_eq!(
            get(&m, "real_server_probe_duration_seconds_sum", &rs1),
            Some("0.005")
        );
        assert_eq!(
            get(&m, "real_server_probe_duration_seconds_count", &rs1),
            Some("4")
        );
        assert_eq!(
            get(&m, "real_server_probe_duration_seconds_count", &rs2),
            Some("0")
        );
        // The data plane, with labels that join the checkers'.
        assert_eq!(get(&m, "real_server_connections_total", &rs1), Some("60"));
        assert_eq!(get(&m, "real_server_connections_total", &rs2), Some("30"));
        let vs = [("virtual_server", "[192.0.2.100]:tcp:80")];
        assert_eq!(get(&m, "virtual_server_connections_total", &vs), Some("90"));
        assert_eq!(get(&m, "virtual_server_in_packets_total", &vs), Some("500"));
        assert_eq!(
            get(&m, "virtual_server_out_packets_total", &vs),
            Some("400")
        );
        assert_eq!(get(&m, "virtual_server_in_bytes_total", &vs), Some("30000"));
        assert_eq!(
            get(&m, "virtual_server_out_bytes_total", &vs),
            Some("90000")
        );
        let fw = [("virtual_server", "FWM 7")];
        assert_eq!(get(&m, "virtual_server_connections_total", &fw), Some("2"));
        assert_eq!(
            get(&m, "virtual_server_in_packets_total", &fw),
            None,
            "not counted"
        );
        assert_eq!(
            get(
                &m,
                "data_plane_counters_available",
                &[("backend", "nftables")]
            ),
            Some("1")
        );
        assert_eq!(
            get(&m, "build_info", &[("version", env!("CARGO_PKG_VERSION"))]),
            Some("1")
        );

        // Only this daemon's services.
        assert!(!text.contains("192.0.2.200"), "{text}");
        // nftables: no per-destination packets, no active/inactive counts.
        assert!(!text.contains("real_server_in_packets_total"), "{text}");
        assert!(!text.contains("real_server_active_connections"), "{text}");
        // IPVS counts them: they appear.
        let mut ipvs = status.clone();
        if let Some(lb) = ipvs.virtual_servers.as_mut() {
            lb.backend = "ipvs".into();
            let d = &mut lb.services[0].destinations[0];
            d.active_conns = Some(3);
            d.inactive_conns = Some(9);
            d.stats.inpkts = Some(77);
        }
        let m = parse(&render(&ipvs));
        assert_eq!(get(&m, "real_server_active_connections", &rs1), Some("3"));
        assert_eq!(get(&m, "real_server_inactive_connections", &rs1), Some("9"));
        assert_eq!(get(&m, "real_server_in_packets_total", &rs1), Some("77"));
        assert_eq!(get(&m, "real_server_in_packets_total", &rs2), None);
        // Counters that cannot be read: said so, no virtual-server samples.
        let mut failed = status.clone();
        failed.virtual_servers = Some(LbStatus::error("nftables", "nft failed".into()));
        let m = parse(&render(&failed));
        assert_eq!(
            get(
                &m,
                "data_plane_counters_available",
                &[("backend", "nftables")]
            ),
            Some("0")
        );
        assert!(!m.keys().any(|(n, _)| n.contains("virtual_server_")));
        // Without a data plane or checkers (VRRP only): no such families at all.
        let mut vrrp_only = status.clone();
        vrrp_only.real_servers = None;
        vrrp_only.virtual_servers = None;
        let text = render(&vrrp_only);
        parse(&text);
        assert!(
            !text.contains("real_server") && !text.contains("data_plane"),
            "{text}"
        );
    }

    async fn get_http(addr: SocketAddr, req: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// The listener over a real socket: routes, status codes, content types; the engine
    /// is asked through the channel (and a busy or silent engine gives 503, never a hang).
    #[test]
    fn http_round_trip() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let status = fixture();
            let listener = Listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = listener.addr;
            let (tx, mut rx) = mpsc::channel::<SnapshotRequest>(ENGINE_QUEUE);
            let watch = tx.clone();
            let sources = Sources {
                engine: Some(tx),
                real_servers: StatusTable::default(),
                lb: None,
                daemon: daemon_info(std::path::Path::new("/x.conf"), SystemTime::now()),
            };
            let server = tokio::task::spawn_local(serve(listener, sources));
            // A fake engine: answers the first request, then never reads its queue again.
            let engine = tokio::task::spawn_local(async move {
                if let Some(req) = rx.recv().await {
                    let _ = req.send(status.clone());
                }
                std::future::pending::<()>().await;
                drop(rx);
            });
            let close = "Connection: close\r\n\r\n";
            let r = get_http(
                addr,
                &format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{close}"),
            )
            .await;
            assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
            assert!(
                r.contains(&format!("content-type: {CONTENT_TYPE}\r\n")),
                "{r}"
            );
            let body = r.split_once("\r\n\r\n").unwrap().1;
            let m = parse(body);
            assert_eq!(
                get(&m, "vrrp_priority", &[("instance", "VI_2")]),
                Some("100")
            );
            // Within SNAPSHOT_REUSE the same snapshot serves /status: the engine is not
            // asked again (it would not answer).
            let r = get_http(addr, &format!("GET /status HTTP/1.1\r\nHost: x\r\n{close}")).await;
            assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
            assert!(r.contains("content-type: application/json\r\n"), "{r}");
            let s: Status = serde_json::from_str(r.split_once("\r\n\r\n").unwrap().1).unwrap();
            assert_eq!(s.instances.len(), 2);
            assert_eq!(s.instances[0].state, "MASTER");
            let r = get_http(addr, &format!("GET /nope HTTP/1.1\r\nHost: x\r\n{close}")).await;
            assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");
            let r = get_http(
                addr,
                &format!("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n{close}"),
            )
            .await;
            assert!(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{r}");
            assert!(r.contains("allow: GET, HEAD\r\n"), "{r}");
            let r = get_http(
                addr,
                &format!("HEAD /metrics HTTP/1.1\r\nHost: x\r\n{close}"),
            )
            .await;
            assert!(
                r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("\r\n\r\n"),
                "{r}"
            );
            // Past the reuse window the engine is asked; it stays silent: 503 once
            // ENGINE_TIMEOUT is over. ENGINE_QUEUE such requests fill its queue; the next
            // one is refused without waiting for anything.
            tokio::time::sleep(SNAPSHOT_REUSE * 2).await;
            let waiting: Vec<_> = (0..ENGINE_QUEUE)
                .map(|_| {
                    tokio::task::spawn_local(get_http(
                        addr,
                        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    ))
                })
                .collect();
            for _ in 0..400 {
                if watch.capacity() == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(watch.capacity(), 0, "the queue never filled");
            let r = get_http(addr, &format!("GET /status HTTP/1.1\r\nHost: x\r\n{close}")).await;
            assert!(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{r}");
            assert!(r.contains("busy"), "{r}");
            for w in waiting {
                let r = w.await.unwrap();
                assert!(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{r}");
                assert!(r.contains("no answer from the VRRP engine"), "{r}");
            }
            server.abort();
            engine.abort();
        });
    }
}
