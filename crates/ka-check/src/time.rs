//! Simulated-time friendly instants: [`Instant`] is `ka_model::Instant`, shared with ka-vrrp.

use std::time::Duration;

pub use ka_model::Instant;

/// A duration in whole microseconds, saturating.
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
