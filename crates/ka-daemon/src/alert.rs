//! E-mail alerts as keepalived 2.2.7 sends them (`core/smtp.c` and its callers).
//!
//! * Who gets mail: `notification_email` (every address a `RCPT TO`, the `To:` header the
//!   comma-separated list), from `notification_email_from` (default
//!   `keepalived@HOSTNAME`), through `smtp_server HOST [PORT]` (port 25), `HELO
//!   smtp_helo_name` (default the host name). Nothing is sent without a server and at
//!   least one address.
//! * What: the subject is `[ROUTER_ID] VRRP Instance NAME - Entering MASTER state`,
//!   `[ROUTER_ID] VRRP Group NAME - ...`, `[ROUTER_ID] Realserver [ip]:tcp:port of
//!   virtual server [ip]:tcp:port - UP|DOWN`, `[ROUTER_ID] Virtualserver [ip]:tcp:port -
//!   UP|DOWN`, with keepalived's bodies (`=> VRRP Instance is now owning VRRP VIPs <=`,
//!   `=> TCP CHECK failed on service <=`, `=> Gained quorum 1+0=1 <= 2 <=`, ...). The
//!   message is keepalived's: headers `Date`, `From`, `Subject`, `X-Mailer: Keepalived`,
//!   `To`, a blank line and the body. The `Date` is in UTC (`+0000`).
//! * When: an instance or sync group whose `smtp_alert` is on, on every change of state
//!   (not twice for the same state; FAULT not with `no_email_faults`); a real server
//!   whose `smtp_alert` is on, when one of its checkers changes verdict and the server
//!   joined or left the pool (with `no_checker_emails`) or always (without), and on stop
//!   with `omega`; a virtual server whose `smtp_alert` is on, on quorum changes.
//!   [`Policy`] resolves the defaults (`smtp_alert_vrrp`, `smtp_alert_checker`,
//!   `smtp_alert`; a real server's default is on, as keepalived's).
//!
//! Sending never blocks anything: [`Mailer::send`] only queues (at most [`QUEUE`]
//! messages; when full the oldest is dropped and counted in a warning). One task
//! ([`Mailer::run`]) sends them one after another, each over its own connection as
//! keepalived does, with `smtp_connect_timeout` for the connection and for every reply,
//! and retries a failed message (not a permanent 5xx refusal) [`ATTEMPTS`] times in all,
//! [`BACKOFF`] apart; keepalived tries once. At exit the queue gets [`EXIT_WAIT`] to
//! drain.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ka_model::vrrp::global::GlobalDefs;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tracing::{debug, info, warn};

/// Messages waiting to be sent; beyond it the oldest is dropped (with a counted warning).
pub const QUEUE: usize = 64;
/// Attempts per message (the first and the retries), unless the server refuses it for good.
pub const ATTEMPTS: u32 = 3;
/// The wait before each retry.
pub const BACKOFF: [Duration; 2] = [Duration::from_secs(5), Duration::from_secs(30)];
/// At exit, how long queued alerts (`Stopping`, shutdown mails) may still take.
pub const EXIT_WAIT: Duration = Duration::from_secs(3);
/// keepalived's `MAX_HEADERS_LENGTH` - 1: the longest subject.
const MAX_SUBJECT: usize = 255;
/// keepalived's `MAX_BODY_LENGTH` - 1: the longest body.
const MAX_BODY: usize = 511;
/// Longest reply line read from the server, and most lines of one reply.
const MAX_LINE: u64 = 1024;
const MAX_LINES: usize = 64;

/// The global_defs settings of alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `notification_email`.
    pub recipients: Vec<String>,
    /// `notification_email_from` or `keepalived@HOSTNAME`.
    pub from: String,
    /// `smtp_server` host and port.
    pub server: Option<(String, u16)>,
    /// `smtp_helo_name` or the host name.
    pub helo: String,
    /// `smtp_connect_timeout`.
    pub timeout: Duration,
    /// `router_id` or the host name: the subject's `[...]`.
    pub router_id: String,
}

impl Settings {
    /// From global_defs; `hostname` fills the defaults as keepalived's local name does.
    pub fn from_global(g: &GlobalDefs, hostname: &str) -> Settings {
        Settings {
            recipients: g.notification_email.clone(),
            from: g
                .notification_email_from
                .clone()
                .unwrap_or_else(|| format!("keepalived@{hostname}")),
            server: g.smtp_server.as_ref().map(|s| (s.host.clone(), s.port)),
            helo: g
                .smtp_helo_name
                .clone()
                .unwrap_or_else(|| hostname.to_owned()),
            timeout: g.smtp_connect_timeout,
            router_id: g.router_id.clone().unwrap_or_else(|| hostname.to_owned()),
        }
    }

    /// Whether alerts can be sent at all (a server and at least one address).
    pub fn enabled(&self) -> bool {
        self.server.is_some() && !self.recipients.is_empty()
    }
}

/// This host's name (keepalived's local name), `localhost` when unknown.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Which objects send alerts, with keepalived's defaults resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `smtp_alert_vrrp`, else `smtp_alert`, else off: a sync group's default.
    pub vrrp_default: bool,
    /// `smtp_alert_checker`, else `smtp_alert`, else off: a virtual server's default.
    pub vs_default: bool,
    /// `smtp_alert_checker`, else `smtp_alert`, else on: a real server's default.
    pub rs_default: bool,
    /// `no_email_faults`.
    pub no_email_faults: bool,
    /// `no_checker_emails`.
    pub no_checker_emails: bool,
}

impl Policy {
    /// From global_defs.
    pub fn from_global(g: &GlobalDefs) -> Policy {
        Policy {
            vrrp_default: g.smtp_alert_vrrp.or(g.smtp_alert).unwrap_or(false),
            vs_default: g.smtp_alert_checker.or(g.smtp_alert).unwrap_or(false),
            rs_default: g.smtp_alert_checker.or(g.smtp_alert).unwrap_or(true),
            no_email_faults: g.no_email_faults,
            no_checker_emails: g.no_checker_emails,
        }
    }
}

/// One alert: subject and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The `Subject:` header.
    pub subject: String,
    /// The body (one line in keepalived's alerts).
    pub body: String,
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

impl Message {
    fn new(subject: String, body: &str) -> Message {
        // A header is one line.
        let subject = subject.replace(['\r', '\n'], " ");
        Message {
            subject: truncate(subject, MAX_SUBJECT),
            body: truncate(body.to_owned(), MAX_BODY),
        }
    }

    /// A VRRP instance's alert for `state` (`MASTER`, `BACKUP`, `FAULT`, `STOP`).
    pub fn vrrp_instance(router_id: &str, name: &str, state: &str) -> Option<Message> {
        let (what, body) = match state {
            "MASTER" => (
                "Entering MASTER state",
                "=> VRRP Instance is now owning VRRP VIPs <=",
            ),
            "BACKUP" => (
                "Entering BACKUP state",
                "=> VRRP Instance is no longer owning VRRP VIPs <=",
            ),
            "FAULT" => (
                "Entering FAULT state",
                "=> VRRP Instance is no longer owning VRRP VIPs <=",
            ),
            "STOP" => ("Stopping", "=> VRRP Instance stopping <="),
            _ => return None,
        };
        Some(Message::new(
            format!("[{router_id}] VRRP Instance {name} - {what}"),
            body,
        ))
    }

    /// A sync group's alert for `state`.
    pub fn vrrp_group(router_id: &str, name: &str, state: &str) -> Option<Message> {
        let (what, body) = match state {
            "MASTER" => (
                "Entering MASTER state",
                "=> All VRRP group instances are now in MASTER state <=",
            ),
            "BACKUP" => (
                "Entering BACKUP state",
                "=> All VRRP group instances are now in BACKUP state <=",
            ),
            "FAULT" => (
                "Entering FAULT state",
                "=> All VRRP group instances are now in FAULT state <=",
            ),
            "STOP" => (
                "Stopping",
                "=> All VRRP group instances are now stopping <=",
            ),
            _ => return None,
        };
        Some(Message::new(
            format!("[{router_id}] VRRP Group {name} - {what}"),
            body,
        ))
    }

    /// A real server's alert (`rs`, `vs` as keepalived prints them: `[ip]:tcp:port`).
    pub fn real_server(router_id: &str, rs: &str, vs: &str, up: bool, body: &str) -> Message {
        Message::new(
            format!(
                "[{router_id}] Realserver {rs} of virtual server {vs} - {}",
                if up { "UP" } else { "DOWN" }
            ),
            body,
        )
    }

    /// A virtual server's quorum alert.
    pub fn virtual_server(router_id: &str, vs: &str, up: bool, body: &str) -> Message {
        Message::new(
            format!(
                "[{router_id}] Virtualserver {vs} - {}",
                if up { "UP" } else { "DOWN" }
            ),
            body,
        )
    }
}

/// The body of a real server's alert when checker `kind` (its block name) changes
/// verdict; `reason` is the failure, which SMTP_CHECK's alert quotes.
pub fn checker_body(kind: &str, up: bool, reason: Option<&str>) -> String {
    let verb = if up { "succeed" } else { "failed" };
    match kind {
        "TCP_CHECK" => format!("=> TCP CHECK {verb} on service <="),
        "UDP_CHECK" => format!("=> UDP CHECK {verb} on service <="),
        "PING_CHECK" => format!("=> ICMP CHECK {verb} on service <="),
        "DNS_CHECK" => format!("=> DNS_CHECK: {verb} on service <="),
        "MISC_CHECK" => format!("=> MISC CHECK {verb} on service <="),
        "FILE_CHECK" => format!("=> FILE CHECK {verb} on service <="),
        "BFD_CHECK" => format!(
            "=> BFD CHECK {} on service <=",
            if up { "succeeded" } else { "failed" }
        ),
        "SMTP_CHECK" if !up => match reason {
            Some(r) => format!("=> CHECK failed on service : {r} <="),
            None => "=> CHECK failed on service <=".into(),
        },
        _ => format!("=> CHECK {verb} on service <="),
    }
}

/// The body of a virtual server's quorum alert (keepalived's `do_vs_notifies`: the
/// threshold is quorum + hysteresis going up, quorum - hysteresis going down, printed
/// after `quorum+hysteresis=` either way).
pub fn quorum_body(e: &ka_lb::QuorumEvent) -> String {
    if e.stopping {
        return "=> Shutting down <=".into();
    }
    let what = match (e.up, e.initial) {
        (true, true) => "Starting with quorum up",
        (true, false) => "Gained quorum",
        (false, true) => "Starting with quorum down",
        (false, false) => "Lost quorum",
    };
    let threshold = if e.up {
        e.quorum.saturating_add(e.hysteresis)
    } else {
        e.quorum.saturating_sub(e.hysteresis)
    };
    format!(
        "=> {what} {}+{}={threshold} <= {} <=",
        e.quorum, e.hysteresis, e.weight_sum
    )
}

/// RFC 5322 date of a Unix time, in UTC: `Sun, 22 Nov 2026 11:02:38 +0000`.
pub fn rfc5322_date(unix: i64) -> String {
    let (y, mo, d, h, mi, s, wd) = crate::wallclock::civil(unix);
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    format!(
        "{}, {d:02} {} {y} {h:02}:{mi:02}:{s:02} +0000",
        DAYS[wd as usize % 7],
        crate::wallclock::MONTHS[(mo as usize + 11) % 12]
    )
}

/// The DATA part of a message as keepalived writes it, dot-stuffed, with the final
/// `.` line.
pub fn data(settings: &Settings, msg: &Message, date: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "Date: {date}\r\nFrom: {}\r\nSubject: {}\r\nX-Mailer: Keepalived\r\nTo: {}\r\n\r\n",
        settings.from,
        msg.subject,
        settings.recipients.join(", ")
    );
    for line in msg.body.split('\n') {
        let line = line.trim_end_matches('\r');
        // RFC 5321 section 4.5.2: a line starting with a dot gets another.
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n.\r\n");
    out
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No address could be found for the server.
    #[error("cannot resolve {0}: {1}")]
    Resolve(String, String),
    /// The connection failed.
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    /// The server did not answer within `smtp_connect_timeout`.
    #[error("timeout {0}")]
    Timeout(&'static str),
    /// The server answered with an unexpected code.
    #[error("{stage}: SMTP status code {code} ({text})")]
    Reply {
        /// What was sent (`HELO`, `MAIL`, ...).
        stage: &'static str,
        /// The code.
        code: u16,
        /// The reply's last line.
        text: String,
    },
    /// Reading or writing failed, or the server closed the connection.
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
    /// Not an SMTP reply.
    #[error("{0}: not an SMTP reply: {1:?}")]
    Protocol(&'static str, String),
}

impl SendError {
    /// A refusal a retry will not change (5xx).
    pub fn permanent(&self) -> bool {
        matches!(self, SendError::Reply { code, .. } if (500..600).contains(code))
    }
}

/// Reads one reply (RFC 5321 section 4.2: `CODE-text` lines continue it), bounded.
async fn reply<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    stage: &'static str,
) -> Result<(u16, String), SendError> {
    for _ in 0..MAX_LINES {
        let mut line = Vec::new();
        let n = (&mut *r)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| SendError::Io(stage, e))?;
        if n == 0 {
            return Err(SendError::Io(
                stage,
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"),
            ));
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        let code = text
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| SendError::Protocol(stage, text.clone()))?;
        if text.as_bytes().get(3) == Some(&b'-') {
            continue;
        }
        return Ok((code, text));
    }
    Err(SendError::Protocol(stage, "reply too long".into()))
}

/// The SMTP dialogue of one message over `stream` (keepalived's: banner 220, `HELO`,
/// `MAIL FROM`, a `RCPT TO` per address, `DATA`, the message, `QUIT`), every reply
/// within `settings.timeout`.
pub async fn deliver<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    settings: &Settings,
    msg: &Message,
    date: &str,
) -> Result<(), SendError> {
    let (rd, mut wr) = tokio::io::split(stream);
    let mut rd = BufReader::new(rd);
    let t = settings.timeout;
    async fn expect<R: tokio::io::AsyncBufRead + Unpin>(
        rd: &mut R,
        t: Duration,
        stage: &'static str,
        ok: &'static [u16],
    ) -> Result<(), SendError> {
        let (code, text) = tokio::time::timeout(t, reply(rd, stage))
            .await
            .map_err(|_| SendError::Timeout(stage))??;
        if ok.contains(&code) {
            Ok(())
        } else {
            Err(SendError::Reply { stage, code, text })
        }
    }
    async fn send<W: AsyncWrite + Unpin>(
        w: &mut W,
        t: Duration,
        stage: &'static str,
        bytes: &[u8],
    ) -> Result<(), SendError> {
        tokio::time::timeout(t, w.write_all(bytes))
            .await
            .map_err(|_| SendError::Timeout(stage))?
            .map_err(|e| SendError::Io(stage, e))
    }
    expect(&mut rd, t, "connecting", &[220]).await?;
    send(
        &mut wr,
        t,
        "HELO",
        format!("HELO {}\r\n", settings.helo).as_bytes(),
    )
    .await?;
    expect(&mut rd, t, "HELO", &[250]).await?;
    send(
        &mut wr,
        t,
        "MAIL",
        format!("MAIL FROM:<{}>\r\n", settings.from).as_bytes(),
    )
    .await?;
    expect(&mut rd, t, "MAIL", &[250]).await?;
    for r in &settings.recipients {
        send(&mut wr, t, "RCPT", format!("RCPT TO:<{r}>\r\n").as_bytes()).await?;
        expect(&mut rd, t, "RCPT", &[250, 251]).await?;
    }
    send(&mut wr, t, "DATA", b"DATA\r\n").await?;
    expect(&mut rd, t, "DATA", &[354]).await?;
    send(&mut wr, t, "message", data(settings, msg, date).as_bytes()).await?;
    expect(&mut rd, t, "message", &[250]).await?;
    send(&mut wr, t, "QUIT", b"QUIT\r\n").await?;
    // The answer to QUIT changes nothing.
    let _ = tokio::time::timeout(t, reply(&mut rd, "QUIT")).await;
    Ok(())
}

/// Connects to the server (every address it resolves to, in turn) and delivers.
async fn send_once(settings: &Settings, msg: &Message) -> Result<(), SendError> {
    let Some((host, port)) = &settings.server else {
        return Ok(());
    };
    let t = settings.timeout;
    let target = format!("{host}:{port}");
    let addrs: Vec<std::net::SocketAddr> =
        match tokio::time::timeout(t, tokio::net::lookup_host((host.as_str(), *port))).await {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(e)) => return Err(SendError::Resolve(target, e.to_string())),
            Err(_) => return Err(SendError::Timeout("resolving the SMTP server")),
        };
    let mut last = SendError::Resolve(target.clone(), "no address".into());
    for a in addrs {
        let stream = match tokio::time::timeout(t, tokio::net::TcpStream::connect(a)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                last = SendError::Connect(a.to_string(), e);
                continue;
            }
            Err(_) => {
                last = SendError::Timeout("connecting to the SMTP server");
                continue;
            }
        };
        debug!("Remote SMTP server {a} connected.");
        let date = rfc5322_date(crate::wallclock::now_unix());
        return deliver(stream, settings, msg, &date).await;
    }
    Err(last)
}

#[derive(Debug)]
struct State {
    settings: Arc<Settings>,
    queue: VecDeque<Message>,
    dropped: u64,
    closed: bool,
    /// A message is being sent (taken from the queue).
    busy: bool,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    wake: tokio::sync::Notify,
}

/// The alert queue and its sender; cheap to clone (every clone feeds the same queue).
#[derive(Debug, Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

impl Mailer {
    /// A mailer with these settings; [`Mailer::run`] must be spawned to send.
    pub fn new(settings: Settings) -> Mailer {
        if settings.enabled() {
            if let Some((h, p)) = &settings.server {
                info!(
                    "SMTP alerts: to {} through {h}:{p}",
                    settings.recipients.join(", ")
                );
            }
        }
        Mailer {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    settings: Arc::new(settings),
                    queue: VecDeque::new(),
                    dropped: 0,
                    closed: false,
                    busy: false,
                }),
                wake: tokio::sync::Notify::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue inconsistent.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current settings (a reload may replace them).
    pub fn settings(&self) -> Arc<Settings> {
        Arc::clone(&self.lock().settings)
    }

    /// New settings (SIGHUP); queued messages go out with them.
    pub fn update(&self, settings: Settings) {
        self.lock().settings = Arc::new(settings);
    }

    /// Queues an alert; never waits. Without a server or addresses it is only logged.
    pub fn send(&self, msg: Message) {
        let mut st = self.lock();
        if !st.settings.enabled() || st.closed {
            debug!(
                "SMTP alert not sent (no smtp_server or notification_email): {}",
                msg.subject
            );
            return;
        }
        debug!("SMTP alert queued: {}", msg.subject);
        st.queue.push_back(msg);
        if st.queue.len() > QUEUE {
            if let Some(old) = st.queue.pop_front() {
                st.dropped += 1;
                warn!(
                    "SMTP alert queue full ({QUEUE} messages): dropped the oldest, \"{}\" ({} dropped so far)",
                    old.subject, st.dropped
                );
            }
        }
        drop(st);
        self.inner.wake.notify_one();
    }

    /// Alerts dropped because the queue was full.
    #[cfg(test)]
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Sends queued alerts one by one until [`Mailer::close`] and an empty queue.
    pub async fn run(self) {
        loop {
            let next = {
                let mut st = self.lock();
                match st.queue.pop_front() {
                    Some(m) => {
                        st.busy = true;
                        Some(m)
                    }
                    None if st.closed => return,
                    None => None,
                }
            };
            let Some(msg) = next else {
                self.inner.wake.notified().await;
                continue;
            };
            for attempt in 1..=ATTEMPTS {
                let settings = self.settings();
                match send_once(&settings, &msg).await {
                    Ok(()) => {
                        info!("SMTP alert successfully sent: {}", msg.subject);
                        break;
                    }
                    Err(e) => {
                        let closed = self.lock().closed;
                        let backoff = BACKOFF.get(attempt as usize - 1).copied();
                        match backoff {
                            Some(b) if !e.permanent() && !closed && attempt < ATTEMPTS => {
                                warn!(
                                    "SMTP alert \"{}\": {e}; retrying in {} s",
                                    msg.subject,
                                    b.as_secs()
                                );
                                tokio::time::sleep(b).await;
                            }
                            _ => {
                                warn!(
                                    "SMTP alert \"{}\" not sent ({attempt} attempt(s)): {e}",
                                    msg.subject
                                );
                                break;
                            }
                        }
                    }
                }
            }
            self.lock().busy = false;
        }
    }

    /// No more alerts are taken; [`Mailer::run`] ends once the queue is empty (retries
    /// are given up).
    pub fn close(&self) {
        self.lock().closed = true;
        self.inner.wake.notify_one();
    }

    /// Messages queued or being sent.
    pub fn pending(&self) -> usize {
        let st = self.lock();
        st.queue.len() + usize::from(st.busy)
    }
}

/// Closes the mailer and waits (at most [`EXIT_WAIT`]) for its task to send what is queued.
pub async fn finish(mailer: &Mailer, task: tokio::task::JoinHandle<()>) {
    mailer.close();
    if tokio::time::timeout(EXIT_WAIT, task).await.is_err() {
        warn!(
            "{} SMTP alert(s) not sent at exit (the SMTP server did not take them within {} s)",
            mailer.pending(),
            EXIT_WAIT.as_secs()
        );
    }
}

/// The VRRP side: alerts for instances and sync groups from the router's state changes.
#[derive(Debug)]
pub struct VrrpAlerts {
    mailer: Mailer,
    policy: Policy,
    /// Name -> (smtp_alert, last state mailed).
    instances: BTreeMap<String, (bool, Option<&'static str>)>,
    groups: BTreeMap<String, (bool, Option<&'static str>)>,
}

impl VrrpAlerts {
    /// From the configuration (instances' `smtp_alert` is resolved by ka-config; a
    /// group's default is `smtp_alert_vrrp` / `smtp_alert`).
    pub fn new(cfg: &ka_model::vrrp::VrrpConfig, mailer: Mailer) -> VrrpAlerts {
        let mut a = VrrpAlerts {
            mailer,
            policy: Policy::from_global(&cfg.global),
            instances: BTreeMap::new(),
            groups: BTreeMap::new(),
        };
        a.reload(cfg);
        a
    }

    /// A reload: the new flags (last states kept by name) and global settings.
    pub fn reload(&mut self, cfg: &ka_model::vrrp::VrrpConfig) {
        self.policy = Policy::from_global(&cfg.global);
        let mut instances = BTreeMap::new();
        for i in &cfg.instances {
            let last = self.instances.get(&i.name).and_then(|x| x.1);
            instances.insert(i.name.clone(), (i.smtp_alert, last));
        }
        let mut groups = BTreeMap::new();
        for g in &cfg.sync_groups {
            let last = self.groups.get(&g.name).and_then(|x| x.1);
            let on = g.smtp_alert.unwrap_or(self.policy.vrrp_default);
            groups.insert(g.name.clone(), (on, last));
        }
        // Instances removed by this reload keep their entry until their last event.
        for (k, v) in std::mem::take(&mut self.instances) {
            instances.entry(k).or_insert(v);
        }
        self.instances = instances;
        self.groups = groups;
    }

    /// The mailer.
    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// An instance (`group` false) or sync group entered `state` (`MASTER`, `BACKUP`,
    /// `FAULT`, `STOP`).
    pub fn state_change(&mut self, group: bool, name: &str, state: &'static str) {
        let map = if group {
            &mut self.groups
        } else {
            &mut self.instances
        };
        let Some((on, last)) = map.get_mut(name) else {
            return;
        };
        if !*on || *last == Some(state) || (self.policy.no_email_faults && state == "FAULT") {
            return;
        }
        let rid = self.mailer.settings().router_id.clone();
        let msg = if group {
            Message::vrrp_group(&rid, name, state)
        } else {
            Message::vrrp_instance(&rid, name, state)
        };
        if let Some(m) = msg {
            *last = Some(state);
            self.mailer.send(m);
        }
    }
}

/// The checker side: real servers' alerts from the scheduler's events.
#[derive(Debug)]
pub struct CheckerAlerts {
    mailer: Mailer,
    policy: Policy,
    /// Per real server (configuration order within its virtual server): `smtp_alert`.
    rs_on: BTreeMap<(u32, u32), bool>,
    /// Whether each real server is in the pool.
    alive: BTreeMap<(u32, u32), bool>,
    /// A checker's change waiting for the real server's own event:
    /// (rs, checker kind, up, reason, was alive).
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Pending {
    rs: (u32, u32),
    kind: &'static str,
    up: bool,
    reason: Option<String>,
    was_alive: bool,
    labels: (String, String),
}

impl CheckerAlerts {
    /// From the configuration.
    pub fn new(cfg: &ka_model::config::Config, mailer: Mailer) -> CheckerAlerts {
        let policy = Policy::from_global(&cfg.vrrp.global);
        let mut rs_on = BTreeMap::new();
        for (vi, vs) in cfg.lvs.virtual_servers.iter().enumerate() {
            for (ri, rs) in vs.real_servers.iter().enumerate() {
                rs_on.insert(
                    (vi as u32, ri as u32),
                    rs.smtp_alert.unwrap_or(policy.rs_default),
                );
            }
        }
        CheckerAlerts {
            mailer,
            policy,
            rs_on,
            alive: BTreeMap::new(),
            pending: None,
        }
    }

    /// The real server's starting state.
    pub fn initial(&mut self, rs: (u32, u32), alive: bool) {
        self.flush();
        self.alive.insert(rs, alive);
    }

    /// A checker of `rs` changed verdict (`labels`: the real and virtual server as
    /// keepalived prints them). The alert goes out once the real server's own event (if
    /// any) is known: call [`CheckerAlerts::real_server`] or [`CheckerAlerts::flush`].
    pub fn checker(
        &mut self,
        rs: (u32, u32),
        kind: &'static str,
        up: bool,
        reason: Option<String>,
        labels: (String, String),
    ) {
        self.flush();
        let was_alive = self.alive.get(&rs).copied().unwrap_or(true);
        self.pending = Some(Pending {
            rs,
            kind,
            up,
            reason,
            was_alive,
            labels,
        });
    }

    /// The real server joined or left the pool.
    pub fn real_server(&mut self, rs: (u32, u32), alive: bool) {
        self.alive.insert(rs, alive);
        if self.pending.as_ref().is_some_and(|p| p.rs != rs) {
            self.flush();
        }
        self.flush();
    }

    /// Sends the waiting checker alert, if keepalived would: the real server's
    /// `smtp_alert` is on, and it joined/left the pool or `no_checker_emails` is off.
    pub fn flush(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let alive = self.alive.get(&p.rs).copied().unwrap_or(true);
        let on = self.rs_on.get(&p.rs).copied().unwrap_or(false);
        if !on || (alive == p.was_alive && self.policy.no_checker_emails) {
            return;
        }
        let rid = self.mailer.settings().router_id.clone();
        let body = checker_body(p.kind, p.up, p.reason.as_deref());
        self.mailer.send(Message::real_server(
            &rid,
            &p.labels.0,
            &p.labels.1,
            alive,
            &body,
        ));
    }

    /// Stopping with `omega`: the real server is shut down (keepalived's
    /// `SMTP_MSG_RS_SHUT`).
    pub fn shutdown(&mut self, rs: (u32, u32), labels: (&str, &str)) {
        self.flush();
        if !self.rs_on.get(&rs).copied().unwrap_or(false) {
            return;
        }
        let rid = self.mailer.settings().router_id.clone();
        self.mailer.send(Message::real_server(
            &rid,
            labels.0,
            labels.1,
            false,
            "=> Shutting down <=",
        ));
    }
}

/// The load-balancer side: quorum alerts of virtual servers (`labels` as keepalived
/// prints them, by index).
#[derive(Debug)]
pub struct QuorumAlerts {
    mailer: Mailer,
    on: Vec<bool>,
    labels: Vec<String>,
}

impl QuorumAlerts {
    /// From the configuration.
    pub fn new(cfg: &ka_model::config::Config, mailer: Mailer) -> QuorumAlerts {
        let policy = Policy::from_global(&cfg.vrrp.global);
        QuorumAlerts {
            mailer,
            on: cfg
                .lvs
                .virtual_servers
                .iter()
                .map(|v| v.smtp_alert.unwrap_or(policy.vs_default))
                .collect(),
            labels: cfg
                .lvs
                .virtual_servers
                .iter()
                .map(crate::check::vs_label)
                .collect(),
        }
    }

    /// A quorum transition (with `omega` on stop, keepalived's "Shutting down").
    pub fn event(&self, e: &ka_lb::QuorumEvent) {
        let i = e.vs as usize;
        if !self.on.get(i).copied().unwrap_or(false) {
            return;
        }
        let label = self.labels.get(i).map_or(e.name.as_str(), String::as_str);
        let rid = self.mailer.settings().router_id.clone();
        self.mailer
            .send(Message::virtual_server(&rid, label, e.up, &quorum_body(e)));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn settings() -> Settings {
        Settings {
            recipients: vec!["ops@example.org".into(), "oncall@example.org".into()],
            from: "keepalived@lb1.example.org".into(),
            server: Some(("192.0.2.25".into(), 25)),
            helo: "lb1.example.org".into(),
            timeout: Duration::from_secs(5),
            router_id: "lb1".into(),
        }
    }

    #[test]
    fn keepalived_subjects_and_bodies() {
        let m = Message::vrrp_instance("lb1", "VI_1", "MASTER").unwrap();
        assert_eq!(
            m.subject,
            "[lb1] VRRP Instance VI_1 - Entering MASTER state"
        );
        assert_eq!(m.body, "=> VRRP Instance is now owning VRRP VIPs <=");
        let m = Message::vrrp_instance("lb1", "VI_1", "STOP").unwrap();
        assert_eq!(m.subject, "[lb1] VRRP Instance VI_1 - Stopping");
        assert!(Message::vrrp_instance("lb1", "VI_1", "DELETED").is_none());
        let m = Message::vrrp_group("lb1", "G", "FAULT").unwrap();
        assert_eq!(m.subject, "[lb1] VRRP Group G - Entering FAULT state");
        assert_eq!(
            m.body,
            "=> All VRRP group instances are now in FAULT state <="
        );
        let m = Message::real_server(
            "lb1",
            "[198.51.100.11]:tcp:80",
            "[192.0.2.100]:tcp:80",
            false,
            &checker_body("TCP_CHECK", false, None),
        );
        assert_eq!(
            m.subject,
            "[lb1] Realserver [198.51.100.11]:tcp:80 of virtual server [192.0.2.100]:tcp:80 - DOWN"
        );
        assert_eq!(m.body, "=> TCP CHECK failed on service <=");
        assert_eq!(
            checker_body("HTTP_GET", true, None),
            "=> CHECK succeed on service <="
        );
        assert_eq!(
            checker_body("SMTP_CHECK", false, Some("timeout")),
            "=> CHECK failed on service : timeout <="
        );
        assert_eq!(
            checker_body("DNS_CHECK", true, None),
            "=> DNS_CHECK: succeed on service <="
        );
        assert_eq!(
            checker_body("PING_CHECK", false, None),
            "=> ICMP CHECK failed on service <="
        );
        let e = ka_lb::QuorumEvent {
            vs: 0,
            name: "x".into(),
            up: false,
            initial: false,
            stopping: false,
            weight_sum: 1,
            quorum: 3,
            hysteresis: 1,
            script: None,
        };
        assert_eq!(quorum_body(&e), "=> Lost quorum 3+1=2 <= 1 <=");
        let up = ka_lb::QuorumEvent {
            up: true,
            weight_sum: 4,
            ..e.clone()
        };
        assert_eq!(quorum_body(&up), "=> Gained quorum 3+1=4 <= 4 <=");
        let m = Message::virtual_server("lb1", "[192.0.2.100]:tcp:80", true, &quorum_body(&up));
        assert_eq!(m.subject, "[lb1] Virtualserver [192.0.2.100]:tcp:80 - UP");
    }

    #[test]
    fn long_or_multi_line_subjects_are_one_bounded_line() {
        let m = Message::vrrp_instance(&"r".repeat(300), "VI\r\nBcc: x", "MASTER").unwrap();
        assert!(!m.subject.contains('\n') && !m.subject.contains('\r'));
        assert_eq!(m.subject.len(), MAX_SUBJECT);
        let m = Message::vrrp_instance("é", &"é".repeat(200), "MASTER").unwrap();
        assert!(m.subject.len() <= MAX_SUBJECT);
    }

    #[test]
    fn data_is_keepalived_s_message_dot_stuffed() {
        let s = settings();
        let m = Message {
            subject: "[lb1] x".into(),
            body: "line\n.hidden".into(),
        };
        assert_eq!(
            data(&s, &m, "Sun, 22 Nov 2026 11:02:38 +0000"),
            "Date: Sun, 22 Nov 2026 11:02:38 +0000\r\nFrom: keepalived@lb1.example.org\r\n\
             Subject: [lb1] x\r\nX-Mailer: Keepalived\r\nTo: ops@example.org, oncall@example.org\r\n\
             \r\nline\r\n..hidden\r\n\r\n.\r\n"
        );
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_345_358),
            "Sun, 22 Nov 2026 11:02:38 +0000"
        );
    }

    #[test]
    fn policy_defaults_follow_keepalived() {
        let mut g = GlobalDefs::default();
        let p = Policy::from_global(&g);
        assert!(!p.vrrp_default && !p.vs_default && p.rs_default);
        g.smtp_alert = Some(false);
        assert!(!Policy::from_global(&g).rs_default);
        g.smtp_alert_checker = Some(true);
        let p = Policy::from_global(&g);
        assert!(p.rs_default && p.vs_default && !p.vrrp_default);
        g.smtp_alert_vrrp = Some(true);
        assert!(Policy::from_global(&g).vrrp_default);
        let s = Settings::from_global(&g, "lb1.example.org");
        assert_eq!(s.from, "keepalived@lb1.example.org");
        assert_eq!(s.helo, "lb1.example.org");
        assert_eq!(s.router_id, "lb1.example.org");
        assert!(!s.enabled());
    }

    #[test]
    fn the_queue_drops_the_oldest_and_counts() {
        let m = Mailer::new(settings());
        for i in 0..QUEUE + 3 {
            m.send(Message {
                subject: format!("s{i}"),
                body: String::new(),
            });
        }
        assert_eq!(m.dropped(), 3);
        assert_eq!(m.pending(), QUEUE);
        assert_eq!(m.lock().queue.front().unwrap().subject, "s3");
        // Nothing is queued without a server.
        let off = Mailer::new(Settings {
            server: None,
            ..settings()
        });
        off.send(Message {
            subject: "x".into(),
            body: String::new(),
        });
        assert_eq!(off.pending(), 0);
    }

    #[test]
    fn vrrp_alerts_once_per_state_and_no_email_faults() {
        let mut cfg = ka_model::vrrp::VrrpConfig::default();
        cfg.global.no_email_faults = true;
        let mailer = Mailer::new(settings());
        let mut a = VrrpAlerts::new(&cfg, mailer.clone());
        a.instances.insert("VI_1".into(), (true, None));
        a.instances.insert("VI_2".into(), (false, None));
        a.state_change(false, "VI_1", "MASTER");
        a.state_change(false, "VI_1", "MASTER");
        a.state_change(false, "VI_1", "FAULT");
        a.state_change(false, "VI_2", "MASTER");
        a.state_change(false, "VI_1", "BACKUP");
        let subjects: Vec<String> = mailer
            .lock()
            .queue
            .iter()
            .map(|m| m.subject.clone())
            .collect();
        assert_eq!(
            subjects,
            [
                "[lb1] VRRP Instance VI_1 - Entering MASTER state",
                "[lb1] VRRP Instance VI_1 - Entering BACKUP state"
            ]
        );
    }

    #[test]
    fn checker_alerts_follow_no_checker_emails() {
        let mailer = Mailer::new(settings());
        let mut a = CheckerAlerts {
            mailer: mailer.clone(),
            policy: Policy::from_global(&GlobalDefs::default()),
            rs_on: [((0, 0), true), ((0, 1), false)].into_iter().collect(),
            alive: BTreeMap::new(),
            pending: None,
        };
        let labels = || {
            (
                "[198.51.100.11]:tcp:80".to_owned(),
                "[192.0.2.1]:tcp:80".to_owned(),
            )
        };
        a.initial((0, 0), true);
        a.initial((0, 1), true);
        // One of two checkers fails: the server leaves the pool.
        a.checker((0, 0), "TCP_CHECK", false, None, labels());
        a.real_server((0, 0), false);
        // The second fails too: no pool change, still mailed without no_checker_emails.
        a.checker((0, 0), "HTTP_GET", false, None, labels());
        a.flush();
        // smtp_alert off for (0, 1).
        a.checker((0, 1), "TCP_CHECK", false, None, labels());
        a.real_server((0, 1), false);
        let q: Vec<(String, String)> = mailer
            .lock()
            .queue
            .iter()
            .map(|m| (m.subject.clone(), m.body.clone()))
            .collect();
        assert_eq!(q.len(), 2, "{q:?}");
        assert!(q[0].0.ends_with(" - DOWN"));
        assert_eq!(q[0].1, "=> TCP CHECK failed on service <=");
        assert_eq!(q[1].1, "=> CHECK failed on service <=");
        a.policy.no_checker_emails = true;
        a.checker((0, 0), "HTTP_GET", true, None, labels());
        a.flush();
        assert_eq!(mailer.pending(), 2, "no pool change: no mail");
    }

    /// The dialogue against a scripted server on a loopback socket: multi-line replies,
    /// a refused recipient is a permanent error.
    #[tokio::test(flavor = "current_thread")]
    async fn dialogue_and_refusals() {
        use tokio::io::AsyncReadExt;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut got = Vec::new();
            for refuse in [false, true] {
                let (mut s, _) = l.accept().await.unwrap();
                s.write_all(b"220-mx.example.org hello\r\n220 ready\r\n")
                    .await
                    .unwrap();
                let mut all = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    all.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&all).into_owned();
                    let reply: &[u8] = if text.ends_with("QUIT\r\n") {
                        b"221 bye\r\n"
                    } else if text.ends_with("\r\n.\r\n") {
                        b"250 queued\r\n"
                    } else if text.ends_with("DATA\r\n") {
                        b"354 go\r\n"
                    } else if text.ends_with(">\r\n") && text.contains("RCPT") && refuse {
                        b"550 no such user\r\n"
                    } else if text.ends_with("\r\n") {
                        b"250 ok\r\n"
                    } else {
                        continue;
                    };
                    s.write_all(reply).await.unwrap();
                    if reply.starts_with(b"221") || reply.starts_with(b"550") {
                        break;
                    }
                }
                got.push(String::from_utf8_lossy(&all).into_owned());
            }
            got
        });
        let mut s = settings();
        s.server = Some(("127.0.0.1".into(), addr.port()));
        let m = Message::vrrp_instance("lb1", "VI_1", "MASTER").unwrap();
        send_once(&s, &m).await.unwrap();
        let e = send_once(&s, &m).await.unwrap_err();
        assert!(e.permanent(), "{e}");
        let got = server.await.unwrap();
        assert!(got[0].starts_with(
            "HELO lb1.example.org\r\nMAIL FROM:<keepalived@lb1.example.org>\r\n\
             RCPT TO:<ops@example.org>\r\nRCPT TO:<oncall@example.org>\r\nDATA\r\n"
        ));
        assert!(got[0].contains("Subject: [lb1] VRRP Instance VI_1 - Entering MASTER state\r\n"));
        assert!(got[0].ends_with("\r\n.\r\nQUIT\r\n"));
    }
}
