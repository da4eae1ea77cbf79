//! Virtual servers, real servers and checkers.

use super::Lowerer;
use crate::syntax::Node;
use ka_model::config::Config;

/// Lowers one top-level block `virtual_server` or `virtual_server_group`.
pub fn lower_top(cx: &mut Lowerer<'_>, cfg: &mut Config, node: &Node) {
    let _ = (cx, cfg, node);
}

/// Cross-reference and consistency checks over the LVS side.
pub fn check(cx: &mut Lowerer<'_>, cfg: &Config) {
    let _ = (cx, cfg);
}
