//! All Linux I/O of keepalived-rs (raw sockets, netlink, IPVS, nftables).
//! Placeholder: delivered with the daemon issue (see docs/ARCHITECTURE.md).
