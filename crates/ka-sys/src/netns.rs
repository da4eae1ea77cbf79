//! keepalived's `net_namespace NAME`: run in a named network namespace.
//!
//! `setns(2)` moves only the calling thread; threads created after it inherit the
//! namespace. So call [`enter_named`] in `main` before building the tokio runtime (or on a
//! dedicated thread), never from inside a multi-threaded runtime.

use std::fs::File;

use nix::sched::{setns, CloneFlags};

use crate::error::{Error, Result};

/// Where `ip netns add NAME` puts its handles.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Moves the calling thread into the network namespace `name` (`/run/netns/NAME`).
pub fn enter_named(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(Error::Decode(format!("bad namespace name {name:?}")));
    }
    let f = File::open(format!("{NETNS_RUN_DIR}/{name}")).map_err(Error::io("open netns"))?;
    setns(f, CloneFlags::CLONE_NEWNET).map_err(Error::nix("setns"))
}
