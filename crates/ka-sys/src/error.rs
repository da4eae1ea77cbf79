//! The one error type of ka-sys.

use std::io;

/// What went wrong talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A socket call failed; `op` says which.
    #[error("{op}: {source}")]
    Io {
        /// The operation, e.g. `"join 224.0.0.18"`.
        op: &'static str,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// No interface has this index (in the current network namespace).
    #[error("no interface with index {0}")]
    NoSuchInterface(u32),
    /// No interface has this name.
    #[error("no interface named {0:?}")]
    NoSuchInterfaceName(String),
    /// The address family does not fit the socket or call.
    #[error("address family mismatch: {0}")]
    Family(&'static str),
    /// A netlink request was refused or failed.
    #[error("netlink {op}: {source}")]
    Netlink {
        /// The request, e.g. `"add address"`.
        op: &'static str,
        /// What rtnetlink said.
        #[source]
        source: rtnetlink::Error,
    },
    /// The kernel refused an IPVS request (or it could not be encoded: `EINVAL`).
    #[error("ipvs {op}: {detail}")]
    Ipvs {
        /// The request, e.g. `"add service"`.
        op: &'static str,
        /// The errno.
        errno: i32,
        /// What it means.
        detail: String,
    },
    /// The kernel has no IPVS (no generic netlink family `IPVS`: `modprobe ip_vs`).
    #[error("the kernel has no IPVS (generic netlink family IPVS not found; modprobe ip_vs)")]
    NoIpvs,
    /// A netlink message the kernel sent could not be understood.
    #[error("netlink: {0}")]
    Decode(String),
    /// A kernel module could not be loaded (`modprobe` failed or the module is absent).
    #[error("kernel module {name} could not be loaded: {detail}")]
    Module {
        /// The module, e.g. `"ipip"`.
        name: String,
        /// What modprobe said.
        detail: String,
    },
    /// The `nft` program failed or said something we could not read.
    #[error("nftables: {0}")]
    Nft(String),
}

impl Error {
    pub(crate) fn io(op: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Io { op, source }
    }

    pub(crate) fn nix(op: &'static str) -> impl FnOnce(nix::Error) -> Error {
        move |e| Error::Io {
            op,
            source: io::Error::from(e),
        }
    }

    /// The errno behind this error, when there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Netlink {
                source: rtnetlink::Error::NetlinkError(m),
                ..
            } => m.raw_code().checked_neg(),
            Error::Ipvs { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// The name of interface `ifindex` in the current network namespace.
pub fn ifname(ifindex: u32) -> Result<String> {
    // nix 0.31 misses the NULL return of if_indextoname(3) and gives an empty name.
    nix::net::if_::if_indextoname(ifindex)
        .ok()
        .map(|c| c.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .ok_or(Error::NoSuchInterface(ifindex))
}

/// The index of interface `name` in the current network namespace.
pub fn ifindex(name: &str) -> Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(|_| Error::NoSuchInterfaceName(name.to_owned()))
}
