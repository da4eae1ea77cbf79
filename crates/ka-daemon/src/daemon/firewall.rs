//! no_accept (Accept_Mode False, RFC 5798 section 6.4.3; the default under `vrrp_strict`):
//! while a non-owner master holds the VIPs, traffic addressed to them is dropped, as
//! keepalived does with nftables when no `vrrp_iptables` is set (keepalived.conf(5):
//! "if neither vrrp_nftables or vrrp_iptables are specified but ... no_accept is
//! specified, keepalived will use nftables").
//!
//! One table of ours (`inet keepalived_rs_vrrp`, apart from the load balancer's `keepalived_rs`; or the `nftables TABLE` name), created on the
//! first block and deleted at stop: two sets of addresses and an input chain at priority
//! -1 (or the `nftables` priority) that drops what is addressed to them, except IPv6
//! neighbour discovery. It is driven through the `nft` program (Debian `nftables`).
//! Only inbound traffic is filtered (keepalived.conf(5): outbound filtering cannot work
//! for IPv4, the VIP may be an outgoing connection's source).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tracing::{debug, error, info};

/// The nftables table name used without an `nftables` keyword.
pub const DEFAULT_TABLE: &str = "keepalived_rs_vrrp";

/// The firewall state: which addresses are blocked.
#[derive(Debug)]
pub(super) struct Firewall {
    table: String,
    priority: i32,
    created: bool,
    blocked: BTreeSet<IpAddr>,
}

impl Firewall {
    pub(super) fn new(cfg: Option<&ka_model::vrrp::global::Nftables>) -> Firewall {
        Firewall {
            table: cfg.map_or_else(|| DEFAULT_TABLE.to_owned(), |n| n.table.clone()),
            priority: cfg.map_or(-1, |n| n.priority),
            created: false,
            blocked: BTreeSet::new(),
        }
    }

    /// The table and chain definition (`nft -f` syntax).
    pub(super) fn table_script(&self) -> String {
        let t = &self.table;
        format!(
            "add table inet {t}\n\
             delete table inet {t}\n\
             table inet {t} {{\n\
             \tset vips4 {{ type ipv4_addr; }}\n\
             \tset vips6 {{ type ipv6_addr; }}\n\
             \tchain in {{\n\
             \t\ttype filter hook input priority {p}; policy accept;\n\
             \t\tip daddr @vips4 drop\n\
             \t\tip6 daddr @vips6 icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept\n\
             \t\tip6 daddr @vips6 drop\n\
             \t}}\n\
             }}\n",
            p = self.priority
        )
    }

    fn element_script(&self, verb: &str, addrs: &[IpAddr]) -> String {
        let mut s = String::new();
        for (set, v6) in [("vips4", false), ("vips6", true)] {
            let list: Vec<String> = addrs
                .iter()
                .filter(|a| a.is_ipv6() == v6)
                .map(ToString::to_string)
                .collect();
            if !list.is_empty() {
                s.push_str(&format!(
                    "{verb} element inet {} {set} {{ {} }}\n",
                    self.table,
                    list.join(", ")
                ));
            }
        }
        s
    }

    /// Drops traffic to `addrs` (creating the table on first use).
    pub(super) async fn block(&mut self, instance: &str, addrs: &[IpAddr]) {
        let new: Vec<IpAddr> = addrs
            .iter()
            .copied()
            .filter(|a| !self.blocked.contains(a))
            .collect();
        if new.is_empty() {
            return;
        }
        let mut script = String::new();
        if !self.created {
            script.push_str(&self.table_script());
        }
        script.push_str(&self.element_script("add", &new));
        match nft(&script).await {
            Ok(()) => {
                self.created = true;
                self.blocked.extend(new.iter().copied());
                info!("({instance}) no_accept: traffic to {new:?} dropped (nftables)");
            }
            Err(e) => error!("({instance}) no_accept: cannot block {new:?}: {e}"),
        }
    }

    /// Lets traffic to `addrs` in again.
    pub(super) async fn unblock(&mut self, instance: &str, addrs: &[IpAddr]) {
        let gone: Vec<IpAddr> = addrs
            .iter()
            .copied()
            .filter(|a| self.blocked.contains(a))
            .collect();
        if gone.is_empty() {
            return;
        }
        match nft(&self.element_script("delete", &gone)).await {
            Ok(()) => debug!("({instance}) no_accept: {gone:?} unblocked"),
            Err(e) => error!("({instance}) no_accept: cannot unblock {gone:?}: {e}"),
        }
        for a in gone {
            self.blocked.remove(&a);
        }
    }

    /// Deletes the table at stop.
    pub(super) async fn teardown(&mut self) {
        if !self.created {
            return;
        }
        if let Err(e) = nft(&format!("delete table inet {}\n", self.table)).await {
            error!("cannot delete nftables table {}: {e}", self.table);
        }
        self.created = false;
        self.blocked.clear();
    }
}

/// Runs `nft -f -` with `script` (bounded: 10 s).
async fn nft(script: &str) -> Result<(), String> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run nft (Debian package nftables): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|e| format!("nft stdin: {e}"))?;
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait_with_output())
        .await
        .map_err(|_| "nft did not finish within 10 s".to_owned())?
        .map_err(|e| format!("nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts() {
        let f = Firewall::new(None);
        let t = f.table_script();
        assert!(t.contains("table inet keepalived_rs_vrrp {"));
        assert!(t.contains("hook input priority -1;"));
        assert!(t.contains("ip daddr @vips4 drop"));
        let e = f.element_script(
            "add",
            &[
                "192.0.2.100".parse().unwrap(),
                "2001:db8::1".parse().unwrap(),
                "192.0.2.101".parse().unwrap(),
            ],
        );
        assert_eq!(
            e,
            "add element inet keepalived_rs_vrrp vips4 { 192.0.2.100, 192.0.2.101 }\n\
             add element inet keepalived_rs_vrrp vips6 { 2001:db8::1 }\n"
        );
    }
}
