//! Global, static, tracking and VRRP blocks.

use super::Lowerer;
use crate::syntax::Node;
use ka_model::config::Config;

/// Lowers one top-level block that is not an LVS block.
pub fn lower_top(cx: &mut Lowerer<'_>, cfg: &mut Config, node: &Node) {
    let _ = (cx, cfg, node);
}

/// Cross-reference and consistency checks over the VRRP side.
pub fn check(cx: &mut Lowerer<'_>, cfg: &Config) {
    let _ = (cx, cfg);
}
