//! The validated configuration as a whole.

use serde::Serialize;

/// Everything a keepalived.conf says, validated and with keepalived's defaults filled in.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Config {
    /// VRRP-side configuration: global_defs, static addresses/routes/rules, tracking, VRRP.
    pub vrrp: crate::vrrp::VrrpConfig,
    /// LVS-side configuration: virtual server groups, virtual servers, real servers, checkers.
    pub lvs: crate::lvs::LvsConfig,
}
