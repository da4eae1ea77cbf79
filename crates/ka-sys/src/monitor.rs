//! Link and address events from the kernel (`RTMGRP_LINK`, `RTMGRP_IPV4_IFADDR`,
//! `RTMGRP_IPV6_IFADDR`): track_interface without polling, and noticing a VIP removed
//! behind our back.
//!
//! Call order: create the [`Monitor`] first, then dump the current state with
//! [`crate::Netlink::links`] / [`crate::Netlink::addresses`], then apply events from
//! [`Monitor::next`]; an event racing the dump is then seen twice, never missed.
//! When the kernel had to drop events (the socket buffer was full), [`Event::Overrun`]
//! says so: dump links and addresses again. The socket buffer is 1 MiB by default
//! (`SO_RCVBUFFORCE` as root). Note: rtnetlink's channel between its connection task and
//! [`Monitor::next`] is unbounded; a consumer that stops reading lets it grow.

use futures::channel::mpsc::UnboundedReceiver;
use futures::StreamExt;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{AsyncSocket, SocketAddr};
use nix::sys::socket::sockopt;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::netlink::{IfAddr, Link};

/// `RTMGRP_LINK`.
const RTMGRP_LINK: u32 = 0x1;
/// `RTMGRP_IPV4_IFADDR`.
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
/// `RTMGRP_IPV6_IFADDR`.
const RTMGRP_IPV6_IFADDR: u32 = 0x100;

/// A change the kernel announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A link appeared or changed (flags, oper state, name, MAC).
    Link(Link),
    /// A link was deleted.
    LinkRemoved {
        /// Its index.
        ifindex: u32,
        /// Its name, when the message carried it.
        name: Option<String>,
    },
    /// An address was added (or changed, e.g. left tentative state).
    AddressAdded(IfAddr),
    /// An address was removed.
    AddressRemoved(IfAddr),
    /// The kernel dropped events (`ENOBUFS`): the state must be dumped again.
    Overrun,
}

/// Default receive buffer of the event socket.
pub const DEFAULT_RCVBUF: usize = 1 << 20;

/// A subscription to link and address events in the current network namespace.
#[derive(Debug)]
pub struct Monitor {
    rx: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    conn: JoinHandle<()>,
}

impl Monitor {
    /// Subscribes to link events, and to address events when `addresses` is set.
    /// Needs a tokio runtime.
    pub fn new(addresses: bool) -> Result<Monitor> {
        Self::with_receive_buffer(addresses, DEFAULT_RCVBUF)
    }

    /// Like [`Monitor::new`] with a socket receive buffer of `bytes` (forced past
    /// `rmem_max` when the process may, as root can; the kernel doubles the value).
    pub fn with_receive_buffer(addresses: bool, bytes: usize) -> Result<Monitor> {
        let (mut conn, _handle, rx) =
            rtnetlink::new_connection().map_err(Error::io("rtnetlink socket"))?;
        let mut groups = RTMGRP_LINK;
        if addresses {
            groups |= RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
        }
        {
            let sock = conn.socket_mut().socket_mut();
            if nix::sys::socket::setsockopt(&*sock, sockopt::RcvBufForce, &bytes).is_err() {
                sock.set_rx_buf_sz(bytes).map_err(Error::io("SO_RCVBUF"))?;
            }
        }
        conn.socket_mut()
            .socket_mut()
            .bind(&SocketAddr::new(0, groups))
            .map_err(Error::io("bind rtnetlink groups"))?;
        let conn = tokio::spawn(conn);
        Ok(Monitor { rx, conn })
    }

    /// The next event; `None` when the netlink connection ended.
    pub async fn next(&mut self) -> Option<Event> {
        while let Some((msg, _)) = self.rx.next().await {
            if let Some(ev) = event(msg) {
                return Some(ev);
            }
        }
        None
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

fn event(msg: NetlinkMessage<RouteNetlinkMessage>) -> Option<Event> {
    let m = match msg.payload {
        NetlinkPayload::InnerMessage(m) => m,
        NetlinkPayload::Overrun(_) => return Some(Event::Overrun),
        _ => return None,
    };
    match m {
        RouteNetlinkMessage::NewLink(l) => Link::from_message(&l).map(Event::Link),
        RouteNetlinkMessage::DelLink(l) => Some(Event::LinkRemoved {
            ifindex: l.header.index,
            name: Link::from_message(&l).map(|x| x.name),
        }),
        RouteNetlinkMessage::NewAddress(a) => IfAddr::from_message(&a).map(Event::AddressAdded),
        RouteNetlinkMessage::DelAddress(a) => IfAddr::from_message(&a).map(Event::AddressRemoved),
        _ => None,
    }
}
