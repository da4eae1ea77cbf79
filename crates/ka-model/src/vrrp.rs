//! Global definitions, static addresses/routes/rules, tracking and VRRP instances.

use serde::Serialize;

/// The VRRP side of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VrrpConfig {}
