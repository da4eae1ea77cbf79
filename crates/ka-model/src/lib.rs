//! Plain-data vocabulary of keepalived-rs and the validated configuration.
//!
//! "Parse, don't validate": every type here can only hold a value keepalived accepts.
//! The keepalived.conf front end (`ka-config`) builds these values; the protocol cores
//! (`ka-vrrp`, `ka-check`, `ka-lb`) and the daemon consume them.

pub mod config;
pub mod lvs;
pub mod time;
pub mod vrrp;

pub use time::Instant;

use serde::{Deserialize, Serialize};

/// Errors raised when a value outside its allowed range is turned into a model type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A VRID must be 1..=255 (RFC 5798 section 5.2.3).
    #[error("virtual router id {0} is out of range 1..=255")]
    Vrid(u32),
    /// A priority must be 0..=255 on the wire; configured priorities are 1..=255.
    #[error("priority {0} is out of range 1..=255")]
    Priority(u32),
    /// An advertisement interval that the VRRP version cannot carry.
    #[error("advertisement interval {0} centiseconds is out of range 1..=4095")]
    AdvertInterval(u32),
}

/// A Virtual Router IDentifier, 1..=255.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Vrid(u8);

impl Vrid {
    /// Builds a VRID, refusing 0.
    pub fn new(v: u32) -> Result<Self, ModelError> {
        match u8::try_from(v) {
            Ok(b) if b != 0 => Ok(Self(b)),
            _ => Err(ModelError::Vrid(v)),
        }
    }
    /// The VRID as the byte sent on the wire.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Vrid {
    type Error = ModelError;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        Self::new(u32::from(v))
    }
}

impl From<Vrid> for u8 {
    fn from(v: Vrid) -> u8 {
        v.0
    }
}

impl std::fmt::Display for Vrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A VRRP priority as carried on the wire: 0 means "master is leaving",
/// 255 means "address owner", 1..=254 are ordinary backups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Priority(pub u8);

impl Priority {
    /// Priority 0: the master stops (RFC 5798 section 6.4.3).
    pub const STOPPING: Priority = Priority(0);
    /// Priority 255: the router owns the virtual addresses.
    pub const OWNER: Priority = Priority(255);
    /// keepalived's default priority for a backup.
    pub const DEFAULT: Priority = Priority(100);
}

/// A duration in centiseconds, the unit of VRRPv3's Max Advertise Interval field.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Centisecs(pub u32);

impl Centisecs {
    /// As a standard duration.
    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_millis(u64::from(self.0) * 10)
    }
}

/// The VRRP protocol version of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VrrpVersion {
    /// RFC 3768 (IPv4 only, interval in whole seconds, optional authentication).
    V2,
    /// RFC 5798 (IPv4 and IPv6, interval in centiseconds, no authentication).
    V3,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vrid_range() {
        assert!(Vrid::new(0).is_err());
        assert!(Vrid::new(256).is_err());
        assert_eq!(Vrid::new(51).map(Vrid::get), Ok(51));
    }
}
