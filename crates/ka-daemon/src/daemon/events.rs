//! The router's events as log lines (one span per instance).

use ka_vrrp::{Event, Router, StateKind};
use tracing::{debug, info, warn};

use super::io::name;

pub(super) fn log_event(router: &Router, e: &Event) {
    match e {
        Event::StateChange {
            instance,
            from,
            to,
            reason,
        } => {
            let n = name(router, *instance);
            let span = tracing::info_span!("vrrp", instance = %n);
            let _g = span.enter();
            match to {
                StateKind::Master => info!("({n}) Entering MASTER STATE ({reason:?}, was {from})"),
                StateKind::Backup => info!("({n}) Entering BACKUP STATE ({reason:?}, was {from})"),
                StateKind::Fault => info!("({n}) Entering FAULT STATE ({reason:?}, was {from})"),
                StateKind::Init => info!("({n}) Entering INIT STATE ({reason:?}, was {from})"),
            }
        }
        Event::AdvertDropped {
            instance,
            src,
            reason,
        } => {
            let n = instance.map_or_else(|| "-".to_owned(), |i| name(router, i));
            debug!("({n}) advert from {src} dropped: {reason:?}");
        }
        Event::SyncGroupChange { group, from, to } => {
            let g = router.sync_group_name(*group).unwrap_or("?");
            info!("VRRP_Group({g}) {from} -> {to}");
        }
        Event::EventsLost { count } => warn!("{count} VRRP events lost"),
        other => debug!("{other:?}"),
    }
}
