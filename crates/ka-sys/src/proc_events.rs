//! Process events from the kernel's netlink proc connector (`NETLINK_CONNECTOR`,
//! `CN_IDX_PROC`), as keepalived's `track_process` uses them: fork, exec, comm change and
//! exit, so the daemon rescans `/proc` only when something happened.
//!
//! The kernel delivers these events in the initial network namespace only: in another
//! namespace [`ProcEvents::new`] fails and the caller polls instead.

use std::io;

use netlink_sys::{
    protocols::NETLINK_CONNECTOR, AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket,
};

/// `CN_IDX_PROC` / `CN_VAL_PROC`.
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
/// `PROC_CN_MCAST_LISTEN`.
const MCAST_LISTEN: u32 = 1;
const NLMSG_DONE: u16 = 3;
/// nlmsghdr (16) + cn_msg (20).
const HDR: usize = 36;

/// What happened to a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcEvent {
    /// A new process (`pid` is the child).
    Fork {
        /// Child pid.
        pid: u32,
    },
    /// A process called exec.
    Exec {
        /// Its pid.
        pid: u32,
    },
    /// A process changed its name (`comm`).
    Comm {
        /// Its pid.
        pid: u32,
    },
    /// A process exited.
    Exit {
        /// Its pid.
        pid: u32,
    },
    /// Another kind of event (uid/gid/sid changes, ptrace, core dump, the listen ack).
    Other,
}

/// A subscription to the proc connector.
pub struct ProcEvents {
    sock: TokioSocket,
    buf: Vec<u8>,
    pending: std::collections::VecDeque<ProcEvent>,
}

impl std::fmt::Debug for ProcEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcEvents").finish_non_exhaustive()
    }
}

impl ProcEvents {
    /// Subscribes (needs CAP_NET_ADMIN and the initial network namespace). Call inside a
    /// tokio runtime.
    pub fn new() -> io::Result<Self> {
        let mut sock = TokioSocket::new(NETLINK_CONNECTOR)?;
        sock.socket_mut().bind(&SocketAddr::new(0, CN_IDX_PROC))?;
        let mut msg = Vec::with_capacity(HDR + 4);
        let len = u32::try_from(HDR + 4).unwrap_or(40);
        msg.extend_from_slice(&len.to_ne_bytes());
        msg.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&std::process::id().to_ne_bytes());
        msg.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        msg.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&0u32.to_ne_bytes()); // ack
        msg.extend_from_slice(&4u16.to_ne_bytes()); // len
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&MCAST_LISTEN.to_ne_bytes());
        sock.socket_ref().send(&msg, 0)?;
        Ok(Self {
            sock,
            buf: Vec::with_capacity(8192),
            pending: std::collections::VecDeque::new(),
        })
    }

    /// The next event. `Err` with `ENOBUFS` means events were lost (rescan everything).
    pub async fn next(&mut self) -> io::Result<ProcEvent> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(e);
            }
            self.buf.clear();
            self.sock.recv(&mut self.buf).await?;
            parse_datagram(&self.buf, &mut self.pending);
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_ne_bytes(s))
}

/// Splits a datagram into netlink messages and decodes each proc event.
fn parse_datagram(mut b: &[u8], out: &mut std::collections::VecDeque<ProcEvent>) {
    while let Some(len) = u32_at(b, 0).and_then(|l| usize::try_from(l).ok()) {
        if len < 16 || len > b.len() {
            return;
        }
        let (msg, rest) = b.split_at(len);
        out.push_back(parse_event(msg));
        b = rest.get(((len + 3) & !3) - len..).unwrap_or(&[]);
    }
}

/// One netlink message: nlmsghdr, cn_msg, proc_event {what, cpu, timestamp, data}.
fn parse_event(msg: &[u8]) -> ProcEvent {
    let idx = u32_at(msg, 16);
    if idx != Some(CN_IDX_PROC) {
        return ProcEvent::Other;
    }
    let ev = HDR;
    let what = u32_at(msg, ev);
    let data = ev + 16;
    match what {
        // FORK: parent_pid, parent_tgid, child_pid, child_tgid.
        Some(0x1) => u32_at(msg, data + 8).map_or(ProcEvent::Other, |pid| ProcEvent::Fork { pid }),
        Some(0x2) => u32_at(msg, data).map_or(ProcEvent::Other, |pid| ProcEvent::Exec { pid }),
        Some(0x200) => u32_at(msg, data).map_or(ProcEvent::Other, |pid| ProcEvent::Comm { pid }),
        Some(0x8000_0000) => {
            u32_at(msg, data).map_or(ProcEvent::Other, |pid| ProcEvent::Exit { pid })
        }
        _ => ProcEvent::Other,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn event(what: u32, data: &[u32]) -> Vec<u8> {
        let mut m = Vec::new();
        let len = u32::try_from(HDR + 16 + 4 * data.len()).unwrap();
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&[0u8; 12]);
        m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        m.extend_from_slice(&[0u8; 12]);
        m.extend_from_slice(&what.to_ne_bytes());
        m.extend_from_slice(&[0u8; 12]);
        for d in data {
            m.extend_from_slice(&d.to_ne_bytes());
        }
        m
    }

    #[test]
    fn decodes_events_and_never_panics_on_garbage() {
        let mut b = event(1, &[10, 10, 11, 11]);
        b.extend(event(2, &[11, 11]));
        b.extend(event(0x8000_0000, &[11, 11, 0, 17]));
        let mut out = std::collections::VecDeque::new();
        parse_datagram(&b, &mut out);
        assert_eq!(
            out.into_iter().collect::<Vec<_>>(),
            [
                ProcEvent::Fork { pid: 11 },
                ProcEvent::Exec { pid: 11 },
                ProcEvent::Exit { pid: 11 }
            ]
        );
        for n in 0..b.len() {
            let mut out = std::collections::VecDeque::new();
            parse_datagram(&b[..n], &mut out);
            let mut junk = b.clone();
            junk[n] ^= 0xff;
            parse_datagram(&junk, &mut out);
        }
    }

    /// The real connector (runs as root in the initial network namespace, as CI does).
    #[test]
    fn sees_a_child_exec_and_exit() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut ev = ProcEvents::new().expect("proc connector (root, initial netns)");
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let pid = child.id();
            child.wait().unwrap();
            let (mut exec, mut exit) = (false, false);
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
            while !(exec && exit) {
                let e = tokio::time::timeout_at(deadline, ev.next())
                    .await
                    .expect("events within 20 s")
                    .unwrap();
                exec |= e == ProcEvent::Exec { pid };
                exit |= e == ProcEvent::Exit { pid };
            }
        });
    }
}
