//! Virtual server groups, virtual servers, real servers and their checkers.

use serde::Serialize;

/// The LVS side of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LvsConfig {}
