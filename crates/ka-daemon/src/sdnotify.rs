//! systemd's notify protocol (sd_notify(3)), written by hand: datagrams of `KEY=VALUE`
//! lines to the unix socket named by `NOTIFY_SOCKET` (a path, or `@name` for an abstract
//! socket). Without `NOTIFY_SOCKET` every call does nothing.
//!
//! The daemon sends `READY=1` once VRRP runs (or the checkers, without VRRP),
//! `RELOADING=1` with `MONOTONIC_USEC` before a reload and `READY=1` after it,
//! `STOPPING=1` on SIGTERM/SIGINT, and `WATCHDOG=1` every half of `WATCHDOG_USEC` (when
//! set, and `WATCHDOG_PID` unset or ours) from a task of the daemon's own runtime, so a
//! stalled runtime stops the pings and systemd restarts the service.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use tracing::{debug, warn};

/// Where and how to notify systemd.
#[derive(Debug)]
pub struct Notify {
    sock: UnixDatagram,
    addr: SocketAddr,
    name: String,
}

impl Notify {
    /// From `NOTIFY_SOCKET`; `None` when it is unset or unusable (logged).
    pub fn from_env() -> Option<Notify> {
        let name = std::env::var("NOTIFY_SOCKET").ok()?;
        match Notify::open(&name) {
            Ok(n) => Some(n),
            Err(e) => {
                warn!("NOTIFY_SOCKET={name}: {e}; systemd is not notified");
                None
            }
        }
    }

    /// Opens an unbound datagram socket towards `name` (`@` = abstract namespace).
    pub fn open(name: &str) -> std::io::Result<Notify> {
        let addr = match name.strip_prefix('@') {
            Some(abs) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(abs.as_bytes())?
            }
            None if name.starts_with('/') => SocketAddr::from_pathname(name)?,
            None => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "neither an absolute path nor @abstract",
                ))
            }
        };
        Ok(Notify {
            sock: UnixDatagram::unbound()?,
            addr,
            name: name.to_owned(),
        })
    }

    /// Sends one notification (lines `KEY=VALUE`); failures are logged, never fatal.
    pub fn send(&self, msg: &str) {
        match self.sock.send_to_addr(msg.as_bytes(), &self.addr) {
            Ok(_) => debug!("sd_notify: {}", msg.replace('\n', " ")),
            Err(e) => warn!("sd_notify to {}: {e}", self.name),
        }
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&format!(
            "READY=1\nSTATUS={status}\nMAINPID={}",
            std::process::id()
        ));
    }

    /// `RELOADING=1` with `MONOTONIC_USEC` (required by systemd's notify-reload).
    pub fn reloading(&self) {
        self.send(&format!(
            "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC={}",
            monotonic_usec()
        ));
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }
}

static GLOBAL: std::sync::OnceLock<Option<Notify>> = std::sync::OnceLock::new();

/// The process's notifier (from `NOTIFY_SOCKET`, read once).
pub fn global() -> Option<&'static Notify> {
    GLOBAL.get_or_init(Notify::from_env).as_ref()
}

/// `CLOCK_MONOTONIC` in microseconds.
pub fn monotonic_usec() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000
            + u64::try_from(t.tv_nsec()).unwrap_or(0) / 1000
    })
}

/// The watchdog interval asked for by systemd (`WATCHDOG_USEC`, only if `WATCHDOG_PID` is
/// unset or this process), or `None`.
pub fn watchdog_interval(usec: Option<&str>, pid: Option<&str>) -> Option<Duration> {
    if let Some(p) = pid {
        if p.trim().parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    let us: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    Some(Duration::from_micros(us))
}

/// Pings `WATCHDOG=1` every half interval, forever (run as a task; aborted at exit).
pub async fn watchdog(notify: &'static Notify, interval: Duration) {
    let mut tick = tokio::time::interval(interval / 2);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        notify.send("WATCHDOG=1");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn watchdog_settings() {
        let me = std::process::id().to_string();
        assert_eq!(
            watchdog_interval(Some("2000000"), None),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            watchdog_interval(Some("2000000"), Some(&me)),
            Some(Duration::from_secs(2))
        );
        assert_eq!(watchdog_interval(Some("2000000"), Some("1")), None);
        assert_eq!(watchdog_interval(Some("0"), None), None);
        assert_eq!(watchdog_interval(Some("x"), None), None);
        assert_eq!(watchdog_interval(None, None), None);
    }

    #[test]
    fn datagrams_reach_path_and_abstract_sockets() {
        let dir = std::env::temp_dir().join(format!("ka-sdnotify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notify::open(path.to_str().unwrap()).unwrap();
        n.stopping();
        let mut buf = [0u8; 256];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1\nSTATUS=stopping");
        let _ = std::fs::remove_dir_all(&dir);

        use std::os::linux::net::SocketAddrExt;
        let name = format!("ka-sdnotify-test-{}", std::process::id());
        let rx = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
            .unwrap();
        Notify::open(&format!("@{name}")).unwrap().reloading();
        let len = rx.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..len]).unwrap();
        assert!(text.starts_with("RELOADING=1\n"), "{text}");
        let us: u64 = text
            .rsplit("MONOTONIC_USEC=")
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(us > 0);
        assert!(Notify::open("relative.sock").is_err());
    }
}
