//! Lowering: the generic [`Node`] tree into the validated [`ka_model::config::Config`].
//!
//! Each block kind has a keyword table ([`BlockSpec`]) that says which keywords exist and
//! how far keepalived-rs acts on each ([`Status`]); docs/COMPATIBILITY.md is checked
//! against these tables by a test. Handlers live in [`vrrp`] (global, static, tracking,
//! VRRP) and [`lvs`] (virtual servers, real servers, checkers). Every problem becomes a
//! [`Diagnostic`]; nothing here panics on input.

pub mod lvs;
pub mod values;
pub mod vrrp;

use crate::diag::{did_you_mean, Diagnostic};
use crate::source::{FileSystem, Span};
use crate::syntax::{Node, Token};
use ka_model::config::Config;

/// How far keepalived-rs acts on a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Parsed, checked, and acted on.
    Supported,
    /// Parsed and checked, but not acted on yet.
    ParsedOnly,
    /// Recognised, reported as not supported (a warning), otherwise ignored.
    NotSupported,
}

/// A keyword of a block.
#[derive(Debug, Clone, Copy)]
pub struct Keyword {
    /// The keyword as written in keepalived.conf.
    pub name: &'static str,
    /// Its status in keepalived-rs.
    pub status: Status,
}

/// Shorthand for building keyword tables.
pub const fn kw(name: &'static str, status: Status) -> Keyword {
    Keyword { name, status }
}

/// The keywords of one block kind.
#[derive(Debug, Clone, Copy)]
pub struct BlockSpec {
    /// The block keyword (`vrrp_instance`, `HTTP_GET`, ...), or a descriptive name for the top level.
    pub name: &'static str,
    /// Its keywords.
    pub keywords: &'static [Keyword],
}

impl BlockSpec {
    /// The status of a keyword, if it belongs to this block.
    pub fn status(&self, name: &str) -> Option<Status> {
        self.keywords
            .iter()
            .find(|k| k.name == name)
            .map(|k| k.status)
    }
}

/// Environment facts the semantic checks may look at.
pub struct Env<'a> {
    /// Reading script paths (existence, executable bit).
    pub fs: &'a dyn FileSystem,
    /// Interfaces present on this host, when known (None: skip interface checks).
    pub interfaces: Option<Vec<String>>,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("interfaces", &self.interfaces)
            .finish_non_exhaustive()
    }
}

/// The lowering context: collects diagnostics while handlers fill the model.
#[derive(Debug)]
pub struct Lowerer<'a> {
    /// Findings so far.
    pub diags: Vec<Diagnostic>,
    /// Environment facts.
    pub env: &'a Env<'a>,
    /// How many more candidates "did you mean" may look at for unknown names (see
    /// [`Lowerer::suggest`]).
    suggest_budget: usize,
    /// Name indexes that keep cross-block lookups constant-time.
    pub(crate) names: Names,
}

/// Indexes of names defined so far, so that checks made while lowering each block do not
/// scan every earlier block (thousands of instances would make that quadratic).
#[derive(Debug, Default)]
pub(crate) struct Names {
    /// `vrrp_instance` names and their index in `VrrpConfig::instances`.
    pub(crate) instances: std::collections::HashMap<String, usize>,
    /// Everything in `VrrpConfig::dropped`.
    pub(crate) dropped: std::collections::HashSet<String>,
    /// Members of sync groups without `sync_group_tracking_weight`.
    pub(crate) sync_members: std::collections::HashSet<String>,
}

impl<'a> Lowerer<'a> {
    /// A fresh context.
    pub fn new(env: &'a Env<'a>) -> Self {
        Self {
            diags: Vec::new(),
            env,
            suggest_budget: SUGGEST_BUDGET,
            names: Names::default(),
        }
    }

    /// A "did you mean" for a name that refers to something the configuration defines
    /// (instances, scripts, groups): bounded by a budget shared by the whole lowering, so
    /// a file with thousands of unknown names against thousands of defined ones costs
    /// linear time (the findings remain; only the suggestions stop).
    pub fn suggest<'c>(
        &mut self,
        word: &str,
        candidates: impl IntoIterator<Item = &'c str>,
    ) -> Option<&'c str> {
        crate::diag::did_you_mean_budget(word, candidates, &mut self.suggest_budget)
    }

    /// Records an error.
    pub fn error(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, msg));
    }

    /// Records a warning.
    pub fn warning(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::warning(span, msg));
    }

    /// Records a finding built by the caller (with help text, say).
    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Reports a keyword that `spec` does not know, with a "did you mean" when one is close.
    pub fn unknown_keyword(&mut self, node: &Node, spec: &BlockSpec) {
        let k = &node.keyword;
        let mut d = Diagnostic::error(
            k.span,
            format!("unknown keyword `{}` in {}", k.text, spec.name),
        );
        if let Some(s) = did_you_mean(&k.text, spec.keywords.iter().map(|k| k.name)) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        self.diags.push(d);
    }

    /// Checks a keyword against its block's table before a handler runs: unknown keywords are
    /// reported (and `false` returned), not-supported ones get a warning (and `false`).
    pub fn admit(&mut self, node: &Node, spec: &BlockSpec) -> bool {
        match spec.status(&node.keyword.text) {
            None => {
                self.unknown_keyword(node, spec);
                false
            }
            Some(Status::NotSupported) => {
                self.warning(
                    node.keyword.span,
                    format!(
                        "`{}` is not supported by keepalived-rs yet and is ignored",
                        node.keyword.text
                    ),
                );
                false
            }
            Some(_) => true,
        }
    }

    /// The arguments of a node, reporting an error when there are fewer than `min`.
    pub fn args_at_least<'n>(
        &mut self,
        node: &'n Node,
        min: usize,
        what: &str,
    ) -> Option<&'n [Token]> {
        if node.args.len() < min {
            self.error(
                node.keyword.span,
                format!("`{}` needs {what}", node.keyword.text),
            );
            None
        } else {
            Some(&node.args)
        }
    }

    /// The single argument of a keyword (extra arguments get a warning, as keepalived ignores them).
    pub fn one_arg<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n Token> {
        let a = node.args.first();
        match a {
            None => self.error(
                node.keyword.span,
                format!("`{}` needs {what}", node.keyword.text),
            ),
            Some(_) if node.args.len() > 1 => {
                if let Some(extra) = node.args.get(1) {
                    self.warning(
                        extra.span,
                        format!(
                            "extra argument `{}` to `{}` is ignored",
                            extra.text, node.keyword.text
                        ),
                    );
                }
            }
            Some(_) => {}
        }
        a
    }

    /// The children of a node's block; reports an error when the block is missing.
    pub fn block<'n>(&mut self, node: &'n Node) -> &'n [Node] {
        match &node.block {
            Some(b) => &b.children,
            None => {
                self.error(
                    node.keyword.span,
                    format!("`{}` needs a `{{ ... }}` block", node.keyword.text),
                );
                &[]
            }
        }
    }
}

/// Candidates "did you mean" may look at over one lowering (see [`Lowerer::suggest`]).
const SUGGEST_BUDGET: usize = 1_000_000;

/// The top level: which blocks may appear outside any block.
pub const TOP: BlockSpec = BlockSpec {
    name: "the top level",
    keywords: &[
        kw("global_defs", Status::ParsedOnly),
        kw("net_namespace", Status::ParsedOnly),
        kw("net_namespace_ipvs", Status::ParsedOnly),
        kw("namespace_with_ipsets", Status::NotSupported),
        kw("instance", Status::ParsedOnly),
        kw("use_pid_dir", Status::ParsedOnly),
        kw("linkbeat_use_polling", Status::ParsedOnly),
        kw("child_wait_time", Status::ParsedOnly),
        kw("interface_up_down_delays", Status::ParsedOnly),
        kw("linkbeat_interfaces", Status::ParsedOnly),
        kw("track_group", Status::ParsedOnly),
        kw("static_ipaddress", Status::Supported),
        kw("static_routes", Status::Supported),
        kw("static_rules", Status::Supported),
        kw("track_file", Status::ParsedOnly),
        kw("vrrp_track_file", Status::ParsedOnly),
        kw("track_process", Status::ParsedOnly),
        kw("vrrp_track_process", Status::ParsedOnly),
        kw("bfd_instance", Status::ParsedOnly),
        kw("vrrp_script", Status::ParsedOnly),
        kw("vrrp_sync_group", Status::ParsedOnly),
        kw("garp_group", Status::ParsedOnly),
        kw("vrrp_instance", Status::ParsedOnly),
        kw("virtual_server_group", Status::ParsedOnly),
        kw("virtual_server", Status::ParsedOnly),
        kw("SSL", Status::ParsedOnly),
    ],
};

/// Lowers a whole tree. Top-level blocks are handed to [`vrrp::lower_top`] or
/// [`lvs::lower_top`]; cross-references are checked once everything is read.
pub fn lower(tree: &[Node], env: &Env<'_>) -> (Config, Vec<Diagnostic>) {
    let mut l = Lowering::new(env);
    for node in tree {
        l.node(node);
    }
    l.finish()
}

/// Lowering one top-level node at a time, so that a caller can drop each node's tokens as
/// soon as it is lowered (see [`crate::preprocess::load_streaming`]). Same result as
/// [`lower`] on the same nodes in the same order.
#[derive(Debug)]
pub struct Lowering<'a> {
    cx: Lowerer<'a>,
    cfg: Config,
    /// See [`Lowering::diagnostics_only`].
    diagnostics_only: bool,
}

impl<'a> Lowering<'a> {
    /// A fresh lowering.
    pub fn new(env: &'a Env<'a>) -> Self {
        Self {
            cx: Lowerer::new(env),
            cfg: Config::default(),
            diagnostics_only: false,
        }
    }

    /// A lowering whose caller wants the findings, not the model (`keepalived-rs -t`):
    /// every block is lowered and checked as usual, but once a virtual server is complete
    /// its real servers are reduced to what the whole-configuration checks of
    /// [`Lowering::finish`] still read, so a large configuration is never held whole.
    /// The diagnostics are the same as with [`Lowering::new`]; the returned model lacks
    /// those real servers and must not be used for anything else.
    pub fn diagnostics_only(env: &'a Env<'a>) -> Self {
        Self {
            diagnostics_only: true,
            ..Self::new(env)
        }
    }

    /// Lowers the next top-level node.
    pub fn node(&mut self, node: &Node) {
        let (cx, cfg) = (&mut self.cx, &mut self.cfg);
        if !cx.admit(node, &TOP) {
            return;
        }
        match node.keyword.text.as_str() {
            "virtual_server_group" | "virtual_server" | "SSL" => {
                lvs::lower_top(cx, cfg, node);
                if self.diagnostics_only && node.keyword.text == "virtual_server" {
                    lvs::keep_checked_parts(cfg);
                }
            }
            _ => vrrp::lower_top(cx, cfg, node),
        }
    }

    /// Runs the whole-configuration checks and returns the model and the findings.
    pub fn finish(mut self) -> (Config, Vec<Diagnostic>) {
        vrrp::check(&mut self.cx, &self.cfg);
        lvs::check(&mut self.cx, &self.cfg);
        (self.cfg, self.cx.diags)
    }
}
