//! A precise one-shot timer for the tokio runtime: a `timerfd` on `CLOCK_MONOTONIC`.
//!
//! tokio's own timers round a deadline up to the next millisecond tick and its epoll wait
//! rounds the timeout up to a millisecond again, so a VRRP timer (Master_Down_Interval,
//! Skew_Time, the advert interval) fired up to ~2 ms late; keepalived's timers are
//! timerfd-based and fire within microseconds. `bench/failover` measured the difference
//! (see docs/benchmarks.md). The kernel's timer slack (50 us by default) still applies.
//!
//! One [`PreciseTimer`] serves one deadline at a time; setting another deadline re-arms it.
//! Deadlines are `std::time::Instant`s (`CLOCK_MONOTONIC`, as the timerfd's clock).

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;

use crate::error::{Error, Result};

/// The timerfd, registrable with tokio (which wants `AsRawFd`).
#[derive(Debug)]
pub(crate) struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// A one-shot timer with microsecond precision, awaited from a tokio runtime.
#[derive(Debug)]
pub struct PreciseTimer {
    fd: AsyncFd<Fd>,
    /// The deadline the timerfd is armed for (`None`: disarmed or already fired).
    armed: Option<Instant>,
}

fn io(op: &'static str, e: impl Into<std::io::Error>) -> Error {
    Error::Io {
        op,
        source: e.into(),
    }
}

impl PreciseTimer {
    /// A disarmed timer. Needs a tokio runtime with I/O enabled.
    pub fn new() -> Result<PreciseTimer> {
        let t = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(|e| io("timerfd_create", e))?;
        let fd = crate::fd::register_timer(Fd(t))?;
        Ok(PreciseTimer { fd, armed: None })
    }

    /// Completes at `deadline` (at once when it has passed). Cancel-safe: a dropped wait
    /// leaves the timer armed, and the next call with the same deadline picks up an
    /// expiry that happened meanwhile.
    pub async fn sleep_until(&mut self, deadline: Instant) -> Result<()> {
        if self.armed != Some(deadline) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // A zero one-shot would disarm the timerfd instead of firing it.
                self.armed = None;
                return Ok(());
            }
            // Re-arming also clears an expiry of the previous deadline not yet read.
            self.fd
                .get_ref()
                .0
                .set(
                    Expiration::OneShot(TimeSpec::from_duration(left)),
                    TimerSetTimeFlags::empty(),
                )
                .map_err(|e| io("timerfd_settime", e))?;
            self.armed = Some(deadline);
        }
        loop {
            let mut ready = self
                .fd
                .readable()
                .await
                .map_err(|e| io("wait for timerfd", e))?;
            // Reads the expiry count (8 bytes); EAGAIN: a stale readiness.
            match ready.get_inner().0.wait() {
                Ok(()) => {
                    self.armed = None;
                    return Ok(());
                }
                Err(Errno::EAGAIN) => ready.clear_ready(),
                Err(e) => return Err(io("read timerfd", e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn fires_at_the_deadline_not_before() {
        rt().block_on(async {
            let mut t = PreciseTimer::new().unwrap();
            for us in [300u64, 1_500, 4_250] {
                let start = Instant::now();
                let deadline = start + Duration::from_micros(us);
                t.sleep_until(deadline).await.unwrap();
                let now = Instant::now();
                assert!(now >= deadline, "fired {:?} early", deadline - now);
                // Generous upper bound (loaded CI machines): far below a second.
                assert!(now - deadline < Duration::from_millis(500));
            }
            // A passed deadline completes at once.
            t.sleep_until(Instant::now() - Duration::from_millis(1))
                .await
                .unwrap();
        });
    }

    #[test]
    fn dropped_wait_then_same_deadline_still_fires_and_rearming_moves_it() {
        rt().block_on(async {
            let mut t = PreciseTimer::new().unwrap();
            let d1 = Instant::now() + Duration::from_millis(300);
            // The wait is dropped before the deadline (as a select! branch that lost).
            let r = tokio::time::timeout(Duration::from_millis(1), t.sleep_until(d1)).await;
            assert!(r.is_err(), "fired long before its deadline");
            std::thread::sleep(Duration::from_millis(320));
            // The expiry happened while nobody waited: the same deadline completes.
            t.sleep_until(d1).await.unwrap();
            // A later deadline after an unread expiry of an earlier one is not cut short.
            let d2 = Instant::now() + Duration::from_millis(30);
            let _ = tokio::time::timeout(Duration::from_millis(1), t.sleep_until(d2)).await;
            std::thread::sleep(Duration::from_millis(40));
            let d3 = Instant::now() + Duration::from_millis(20);
            t.sleep_until(d3).await.unwrap();
            assert!(Instant::now() >= d3);
        });
    }
}
