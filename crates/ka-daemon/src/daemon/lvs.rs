//! The load-balancer side of the daemon: checker verdicts (ka-check events) and the
//! addresses this host holds go into ka-lb, whose desired table is written to the data
//! plane. No policy here: quorum, sorry server, inhibit_on_failure, weights and the
//! table itself are ka-lb's; this module only feeds it and applies the result.
//!
//! Backends: the nftables one (`ka_sys::nft`) replaces its whole table on every change;
//! an IPVS one (generic netlink, applying `ka_lb::diff` operations) comes with issue 6.

use std::collections::BTreeSet;

use ka_lb::{desired, LbState, Options, QuorumEvent, Table, Verdicts, Vips};
use ka_model::lvs::LvsConfig;
use tracing::{error, info, warn};

/// Which data plane programs the virtual servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Kernel IPVS if present, else nftables.
    Auto,
    /// nftables NAT (`inet keepalived_rs`).
    Nftables,
    /// Kernel IPVS.
    Ipvs,
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(BackendKind::Auto),
            "nftables" | "nft" => Ok(BackendKind::Nftables),
            "ipvs" => Ok(BackendKind::Ipvs),
            _ => Err(format!("unknown LB backend `{s}` (auto, nftables, ipvs)")),
        }
    }
}

/// Whether this kernel has IPVS loaded (keepalived loads `ip_vs` itself; the file exists
/// once the module is in).
pub fn kernel_has_ipvs() -> bool {
    std::path::Path::new("/proc/net/ip_vs").exists()
}

/// The data plane in use.
#[derive(Debug)]
enum Backend {
    Nft(ka_sys::nft::Nft),
}

/// The virtual servers of the running configuration and their data plane.
#[derive(Debug)]
pub struct Lvs {
    cfg: LvsConfig,
    verdicts: Verdicts,
    state: LbState,
    vips: Vips,
    opts: Options,
    backend: Backend,
    /// Refusals already logged (each once).
    refused_logged: BTreeSet<String>,
}

impl Lvs {
    /// Chooses the backend; `Err` with the reason when the forced one cannot run.
    pub fn new(cfg: LvsConfig, kind: BackendKind) -> Result<Self, String> {
        let backend = match kind {
            BackendKind::Ipvs => {
                return Err(
                    "the IPVS backend is not implemented yet; use --lb-backend nftables".into(),
                )
            }
            BackendKind::Auto if kernel_has_ipvs() => {
                warn!("this kernel has IPVS, but the IPVS backend is not implemented yet: using nftables");
                Backend::Nft(ka_sys::nft::Nft::new())
            }
            BackendKind::Auto | BackendKind::Nftables => Backend::Nft(ka_sys::nft::Nft::new()),
        };
        Ok(Self {
            cfg,
            verdicts: Verdicts::new(),
            state: LbState::new(),
            vips: Vips::new(),
            opts: Options::default(),
            backend,
            refused_logged: BTreeSet::new(),
        })
    }

    /// The backend's name, for logs and status.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Nft(_) => "nftables",
        }
    }

    /// Feeds one checker event; whether the table may have changed.
    pub fn on_check_event(&mut self, e: &ka_check::Event) -> bool {
        self.verdicts.apply(e)
    }

    /// Recomputes the quorum and the desired table and writes it to the data plane.
    /// Returns the quorum transitions (for scripts, FIFOs and alerts).
    pub async fn sync(&mut self) -> Vec<QuorumEvent> {
        let events = self.state.update(&self.cfg, &self.verdicts);
        for e in &events {
            info!("{e}");
        }
        match desired(
            &self.cfg,
            &self.verdicts,
            &self.state,
            &self.vips,
            &self.opts,
        ) {
            Ok(want) => self.write(&want).await,
            Err(e) => error!("load balancer: {e}"),
        }
        events
    }

    async fn write(&mut self, want: &Table) {
        match &mut self.backend {
            Backend::Nft(nft) => {
                if nft.table() == want {
                    return;
                }
                match nft.apply(want).await {
                    Ok(refused) => {
                        for r in refused {
                            let line = r.to_string();
                            if self.refused_logged.insert(line.clone()) {
                                warn!("nftables cannot do this: {line}");
                            }
                        }
                    }
                    Err(e) => error!("cannot program the load balancer: {e}"),
                }
            }
        }
    }

    /// Stop: omega `quorum_down` events, then everything this process made is removed.
    pub async fn shutdown(&mut self) -> Vec<QuorumEvent> {
        let events = self.state.shutdown(&self.cfg, &self.verdicts);
        for e in &events {
            info!("{e}");
        }
        match &mut self.backend {
            Backend::Nft(nft) => {
                if let Err(e) = nft.remove().await {
                    error!("cannot remove the nftables table: {e}");
                }
            }
        }
        events
    }
}

/// The data plane task: programs the table at once (real servers without a verdict yet
/// count as alive unless an `alpha` checker says otherwise), then after every batch of
/// checker events that changed a verdict; removes everything when `events` closes.
pub async fn run(mut lvs: Lvs, mut events: tokio::sync::mpsc::Receiver<ka_check::Event>) {
    info!("load balancer: {} backend", lvs.backend_name());
    lvs.sync().await;
    while let Some(e) = events.recv().await {
        let mut changed = lvs.on_check_event(&e);
        while let Ok(e) = events.try_recv() {
            changed |= lvs.on_check_event(&e);
        }
        if changed {
            lvs.sync().await;
        }
    }
    lvs.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names() {
        assert_eq!("auto".parse(), Ok(BackendKind::Auto));
        assert_eq!("nft".parse(), Ok(BackendKind::Nftables));
        assert_eq!("ipvs".parse(), Ok(BackendKind::Ipvs));
        assert!("iptables".parse::<BackendKind>().is_err());
        let e = Lvs::new(LvsConfig::default(), BackendKind::Ipvs).unwrap_err();
        assert!(e.contains("nftables"), "{e}");
    }
}
