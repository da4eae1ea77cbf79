//! The daemon's log output, as keepalived's options ask for it:
//!
//! * syslog (unless `-G`): RFC 3164 lines `<PRI>Mmm dd hh:mm:ss keepalived-rs[PID]: MSG`
//!   (UTC time stamp; syslog daemons and journald stamp local messages themselves) as
//!   datagrams to `/dev/log`, with the facility of `-S` (`0`..`7` = `local0`..`local7`,
//!   or a name: `local0`..`local7`, `daemon`, `user`; default `daemon`, as keepalived).
//!   The socket can be moved with the environment variable `KEEPALIVED_RS_SYSLOG_SOCKET`
//!   (tests bind their own). A missing socket is not an error: lines are dropped.
//! * journald: when systemd started us with stderr connected to the journal
//!   (`JOURNAL_STREAM` names stderr's device and inode), lines go to stderr with
//!   sd-daemon(3)'s `<N>` priority prefix instead of syslog (no duplicates).
//! * the console (stderr) with `-l`: `TIME LEVEL TARGET: MSG`.
//! * `-D` (or `KA_LOG`, an `EnvFilter` directive) for debug detail; info otherwise.
//!
//! Repeated warnings are rate-limited: the same text within [`WINDOW`] is written once;
//! when it comes again after the window, it is written with `(repeated N times)` counting
//! those held back. At most [`MAX_KEYS`] texts are remembered.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Repeats of one warning within this window are held back and counted.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Warning texts remembered for rate limiting (the table is cleared when full).
pub const MAX_KEYS: usize = 1024;
/// The default syslog socket.
pub const DEV_LOG: &str = "/dev/log";
/// Environment variable naming another syslog socket.
pub const SYSLOG_ENV: &str = "KEEPALIVED_RS_SYSLOG_SOCKET";

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-l`.
    pub console: bool,
    /// `-D`.
    pub detail: bool,
    /// `-S` as given.
    pub facility: Option<String>,
    /// `-G`.
    pub no_syslog: bool,
}

/// A syslog facility code from `-S`: keepalived takes 0..7 for local0..local7; names
/// are accepted too.
pub fn facility(s: &str) -> Result<u8, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u8>() {
        return if n <= 7 {
            Ok(16 + n)
        } else {
            Err(format!(
                "-S {s}: the facility must be 0..7 (local0..local7)"
            ))
        };
    }
    match s {
        "daemon" => Ok(3),
        "user" => Ok(1),
        _ => s
            .strip_prefix("local")
            .and_then(|d| d.parse::<u8>().ok())
            .filter(|d| *d <= 7)
            .map(|d| 16 + d)
            .ok_or_else(|| {
                format!("-S {s}: unknown facility (0..7, local0..local7, daemon, user)")
            }),
    }
}

/// syslog severity of a level.
fn severity(l: Level) -> u8 {
    match l {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// The RFC 3164 line for syslog.
pub fn syslog_line(facility: u8, level: Level, unix: i64, pid: u32, msg: &str) -> String {
    let (_, mo, d, h, mi, s, _) = crate::wallclock::civil(unix);
    format!(
        "<{}>{} {d:>2} {h:02}:{mi:02}:{s:02} keepalived-rs[{pid}]: {msg}",
        u16::from(facility) * 8 + u16::from(severity(level)),
        crate::wallclock::MONTHS[(mo as usize + 11) % 12],
    )
}

/// Rate limiting of repeated warnings: what to write for this occurrence, if anything.
#[derive(Debug, Default)]
pub struct Limiter {
    seen: HashMap<String, (Instant, u64)>,
}

impl Limiter {
    /// `Some(text)` to write (with the count of held-back repeats), `None` to hold back.
    pub fn admit(&mut self, msg: &str, now: Instant) -> Option<String> {
        if self.seen.len() >= MAX_KEYS && !self.seen.contains_key(msg) {
            self.seen.clear();
        }
        match self.seen.get_mut(msg) {
            None => {
                self.seen.insert(msg.to_owned(), (now, 0));
                Some(msg.to_owned())
            }
            Some((since, held)) if now.duration_since(*since) < WINDOW => {
                *held += 1;
                None
            }
            Some((since, held)) => {
                let out = if *held > 0 {
                    format!("{msg} (repeated {held} times)")
                } else {
                    msg.to_owned()
                };
                *since = now;
                *held = 0;
                Some(out)
            }
        }
    }
}

#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields
                .push_str(&format!(" {}={value:?}", field.name()));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

struct Sinks {
    console: bool,
    journal: bool,
    syslog: Option<(UnixDatagram, PathBuf, u8)>,
    limiter: Limiter,
}

/// The layer writing every event to the chosen sinks.
struct Output {
    sinks: Mutex<Sinks>,
    pid: u32,
}

impl<S: Subscriber> Layer<S> for Output {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut t = Text::default();
        event.record(&mut t);
        let msg = format!("{}{}", t.message, t.fields);
        let level = *meta.level();
        let Ok(mut s) = self.sinks.lock() else { return };
        let msg = if level == Level::WARN {
            match s.limiter.admit(&msg, Instant::now()) {
                Some(m) => m,
                None => return,
            }
        } else {
            msg
        };
        if s.journal {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "<{}>{msg}", severity(level));
        } else if s.console {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let (y, mo, d, h, mi, sec, _) =
                crate::wallclock::civil(i64::try_from(now.as_secs()).unwrap_or(0));
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}.{:06}Z {level:>5} {}: {msg}",
                now.subsec_micros(),
                meta.target()
            );
        }
        if let Some((sock, path, fac)) = &s.syslog {
            let line = syslog_line(*fac, level, crate::wallclock::now_unix(), self.pid, &msg);
            // No syslog daemon: the line is lost, as with syslog(3).
            let _ = sock.send_to(line.as_bytes(), path);
        }
    }
}

/// Whether stderr is the journal stream systemd named in `JOURNAL_STREAM`.
fn stderr_is_journal() -> bool {
    let Ok(v) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.split_once(':') else {
        return false;
    };
    let Ok(st) = nix::sys::stat::fstat(std::io::stderr()) else {
        return false;
    };
    dev.parse::<u64>().ok() == Some(st.st_dev) && ino.parse::<u64>().ok() == Some(st.st_ino)
}

/// Installs the subscriber; an invalid `-S` is reported and refused.
pub fn init(opts: &Options) -> Result<(), String> {
    let fac = match &opts.facility {
        Some(f) => facility(f)?,
        None => 3,
    };
    let journal = stderr_is_journal();
    let syslog = if opts.no_syslog || journal {
        None
    } else {
        let path = std::env::var_os(SYSLOG_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEV_LOG));
        UnixDatagram::unbound().ok().map(|s| (s, path, fac))
    };
    let default = if opts.detail { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let out = Output {
        sinks: Mutex::new(Sinks {
            console: opts.console,
            journal,
            syslog,
            limiter: Limiter::default(),
        }),
        pid: std::process::id(),
    };
    let _ = tracing_subscriber::registry()
        .with(out.with_filter(filter))
        .try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn facilities_as_keepalived() {
        assert_eq!(facility("0"), Ok(16));
        assert_eq!(facility("7"), Ok(23));
        assert_eq!(facility("local3"), Ok(19));
        assert_eq!(facility("daemon"), Ok(3));
        assert!(facility("8").unwrap_err().contains("0..7"));
        assert!(facility("kern").is_err());
    }

    #[test]
    fn syslog_lines() {
        assert_eq!(
            syslog_line(17, Level::WARN, 1_795_345_358, 42, "x"),
            "<140>Nov 22 11:02:38 keepalived-rs[42]: x"
        );
        assert_eq!(
            syslog_line(3, Level::INFO, 0, 1, "y"),
            "<30>Jan  1 00:00:00 keepalived-rs[1]: y"
        );
    }

    #[test]
    fn repeated_warnings_are_counted() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        assert_eq!(l.admit("w", t0).as_deref(), Some("w"));
        assert_eq!(l.admit("w", t0 + Duration::from_secs(1)), None);
        assert_eq!(l.admit("w", t0 + Duration::from_secs(2)), None);
        assert_eq!(l.admit("other", t0).as_deref(), Some("other"));
        assert_eq!(
            l.admit("w", t0 + WINDOW).as_deref(),
            Some("w (repeated 2 times)")
        );
        assert_eq!(
            l.admit("w", t0 + WINDOW * 3).as_deref(),
            Some("w"),
            "nothing held back since"
        );
    }
}
