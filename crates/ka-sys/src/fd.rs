//! Registering owned sockets with tokio: the one place `AsyncFd` is created.

use socket2::Socket;
use tokio::io::unix::AsyncFd;

use crate::error::{Error, Result};

/// Registers `s` (already non-blocking) with the current tokio reactor.
#[allow(unsafe_code)]
pub(crate) fn register(s: Socket) -> Result<AsyncFd<Socket>> {
    // SAFETY: `Socket` owns its file descriptor: it is valid and open from creation until
    // the `Socket` is dropped, which happens only when the `AsyncFd` that now owns it is
    // dropped (or gives it back). `Socket::as_raw_fd` always returns that same descriptor,
    // and this crate never replaces the inner socket through `AsyncFd::get_mut`.
    unsafe { AsyncFd::register(s) }.map_err(|e| Error::Io {
        op: "register with tokio",
        source: e.into(),
    })
}

/// Registers a timerfd (`timer::PreciseTimer`) with the current tokio reactor.
#[allow(unsafe_code)]
pub(crate) fn register_timer(t: crate::timer::Fd) -> Result<AsyncFd<crate::timer::Fd>> {
    // SAFETY: `timer::Fd` wraps a `TimerFd`, which owns its file descriptor (an `OwnedFd`)
    // from creation until it is dropped, which happens only with the `AsyncFd` that now
    // owns it. `Fd::as_raw_fd` always returns that same descriptor, and `PreciseTimer` never
    // replaces the inner timer through `AsyncFd::get_mut`.
    unsafe { AsyncFd::register(t) }.map_err(|e| Error::Io {
        op: "register timerfd with tokio",
        source: e.into(),
    })
}
