//! keepalived.conf front end.
//!
//! Call order: [`source::FileSystem`] supplies files; the preprocessor expands
//! `include`, `@id` conditionals, `$VAR` and `~SEQ`/`~LST` into tokens with exact
//! [`source::Span`]s; [`syntax`] builds a generic tree of keyword nodes and blocks;
//! lowering walks the tree against keepalived's keyword tables and produces the
//! validated `ka_model` configuration plus [`diag::Diagnostic`]s.

pub mod diag;
pub mod fs;
pub mod lower;
pub mod preprocess;
pub mod render;
pub mod source;
pub mod syntax;

pub use diag::{Diagnostic, Severity};
pub use source::{FileId, SourceMap, Span};
pub use syntax::{Block, Node, Token};
