//! The generic syntax tree of keepalived.conf.
//!
//! keepalived's grammar is line based: a line is a keyword followed by arguments, and
//! an argument `{` opens a block that lasts until the matching `}` (braces may also sit
//! in the middle of a line or on a line of their own). Lists such as
//! `virtual_ipaddress` are blocks whose lines are nodes too: the first word is the
//! "keyword" (`192.0.2.1/24`) and the rest are its arguments (`dev eth0`).

use crate::diag::Diagnostic;
use crate::source::{FileId, Span};
use serde::Serialize;

/// A word of the configuration after preprocessing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Token {
    /// The text, with quotes removed and escapes resolved.
    pub text: String,
    /// Where it was written (for text produced by `$VAR` or `~SEQ`, where the
    /// variable or the `~SEQ` was written).
    pub span: Span,
    /// Whether it was written in double quotes.
    pub quoted: bool,
}

/// A keyword line, with its arguments and its block if it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// The first word of the line.
    pub keyword: Token,
    /// The other words before `{` or the end of the line.
    pub args: Vec<Token>,
    /// The block opened on this line (or on a line holding only `{` just after it).
    pub block: Option<Block>,
}

/// The contents of `{ ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Block {
    /// Where `{` stands.
    pub open: Span,
    /// Where the matching `}` stands; `None` if the file ended first (an error is reported).
    pub close: Option<Span>,
    /// The lines inside.
    pub children: Vec<Node>,
}

/// One logical line of tokens, as produced by the preprocessor (a `{` or `}` is its own token).
pub type Line = Vec<Token>;

/// Splits plain text into lines of tokens: whitespace separates words, `#` and `!`
/// start a comment outside quotes, `{` and `}` are words of their own, double quotes
/// group words. This is the preprocessor-free path used by tests and by the
/// preprocessor for the final split.
pub fn tokenize(file: FileId, text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    for (ln, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(ln + 1).unwrap_or(u32::MAX);
        let chars: Vec<char> = raw.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            if c == '#' || c == '!' {
                break;
            }
            let start = i;
            let (text, quoted) = if c == '{' || c == '}' {
                i += 1;
                (c.to_string(), false)
            } else if c == '"' {
                i += 1;
                let mut s = String::new();
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    s.push(chars[i]);
                    i += 1;
                }
                i += 1; // closing quote (or end of line)
                (s, true)
            } else {
                let mut s = String::new();
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '{' | '}' | '"')
                {
                    s.push(chars[i]);
                    i += 1;
                }
                (s, false)
            };
            let col = u32::try_from(start + 1).unwrap_or(u32::MAX);
            let len = u32::try_from(i.min(chars.len()) - start).unwrap_or(u32::MAX);
            toks.push(Token {
                text,
                span: Span {
                    file,
                    line: line_no,
                    col,
                    len,
                },
                quoted,
            });
        }
        if !toks.is_empty() {
            out.push(toks);
        }
    }
    out
}

/// Builds the tree from lines of tokens. Unbalanced braces are reported, never panicked on.
pub fn build_tree(lines: Vec<Line>) -> (Vec<Node>, Vec<Diagnostic>) {
    let mut b = TreeBuilder::default();
    for line in lines {
        b.push_line(line);
    }
    b.finish()
}

/// Builds the tree line by line, so that a caller can take each top-level node as soon as
/// it is complete ([`TreeBuilder::take_ready`]) instead of holding the whole tree.
#[derive(Debug, Default)]
pub struct TreeBuilder {
    /// Stack of open blocks: (node waiting for its block, open span, children so far).
    stack: Vec<(Option<Node>, Span, Vec<Node>)>,
    /// Top-level nodes not yet taken.
    top: Vec<Node>,
    /// Findings so far.
    diags: Vec<Diagnostic>,
}

impl TreeBuilder {
    /// Adds one line of tokens.
    pub fn push_line(&mut self, line: Line) {
        let Self { stack, top, diags } = self;
        let mut current: Option<Node> = None;
        for tok in line {
            match tok.text.as_str() {
                "{" if !tok.quoted => {
                    let node = match current.take() {
                        Some(n) => Some(n),
                        None => {
                            // `{` on a line of its own opens the previous node's block.
                            let level = match stack.last_mut() {
                                Some((_, _, ch)) => ch,
                                None => &mut *top,
                            };
                            match level.last() {
                                Some(n) if n.block.is_none() => level.pop(),
                                _ => {
                                    diags.push(Diagnostic::error(
                                        tok.span,
                                        "`{` does not follow a keyword",
                                    ));
                                    None
                                }
                            }
                        }
                    };
                    stack.push((node, tok.span, Vec::new()));
                }
                "}" if !tok.quoted => {
                    if let Some(n) = current.take() {
                        push_child(stack, top, n);
                    }
                    match stack.pop() {
                        Some((node, open, children)) => {
                            let block = Block {
                                open,
                                close: Some(tok.span),
                                children,
                            };
                            match node {
                                Some(mut n) => {
                                    n.block = Some(block);
                                    push_child(stack, top, n);
                                }
                                None => {
                                    // Orphan block: keep its children at this level.
                                    for c in block.children {
                                        push_child(stack, top, c);
                                    }
                                }
                            }
                        }
                        None => diags.push(
                            Diagnostic::error(tok.span, "unmatched `}`")
                                .with_help("remove it, or add the `{` it was meant to close"),
                        ),
                    }
                }
                _ => match current.as_mut() {
                    Some(n) => n.args.push(tok),
                    None => {
                        current = Some(Node {
                            keyword: tok,
                            args: Vec::new(),
                            block: None,
                        })
                    }
                },
            }
        }
        if let Some(n) = current.take() {
            push_child(stack, top, n);
        }
    }

    /// Moves the top-level nodes that can no longer change into `out`, in order. A
    /// top-level node without a block stays until the next line shows whether a lone `{`
    /// opens its block.
    pub fn take_ready(&mut self, out: &mut Vec<Node>) {
        let keep_last = self.stack.is_empty() && self.top.last().is_some_and(|n| n.block.is_none());
        let n = self.top.len() - usize::from(keep_last);
        out.extend(self.top.drain(..n));
    }

    /// Closes what is still open (reporting it) and returns the remaining top-level nodes
    /// and all findings.
    pub fn finish(mut self) -> (Vec<Node>, Vec<Diagnostic>) {
        let Self { stack, top, diags } = &mut self;
        while let Some((node, open, children)) = stack.pop() {
            diags.push(
                Diagnostic::error(open, "`{` is never closed")
                    .with_help("add the matching `}` at the end of the block"),
            );
            let block = Block {
                open,
                close: None,
                children,
            };
            match node {
                Some(mut n) => {
                    n.block = Some(block);
                    push_child(stack, top, n);
                }
                None => {
                    for c in block.children {
                        push_child(stack, top, c);
                    }
                }
            }
        }
        (std::mem::take(top), std::mem::take(diags))
    }
}

fn push_child(stack: &mut [(Option<Node>, Span, Vec<Node>)], top: &mut Vec<Node>, n: Node) {
    match stack.last_mut() {
        Some((_, _, ch)) => ch.push(n),
        None => top.push(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<Node>, Vec<Diagnostic>) {
        build_tree(tokenize(FileId(0), text))
    }

    #[test]
    fn nested_blocks_and_mid_line_braces() {
        let (t, d) = parse(
            "vrrp_instance VI_1 {\n  state MASTER\n  virtual_ipaddress { 192.0.2.1/24 dev eth0 }\n}\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].keyword.text, "vrrp_instance");
        let b = t[0]
            .block
            .as_ref()
            .map(|b| &b.children)
            .cloned()
            .unwrap_or_default();
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].keyword.text, "virtual_ipaddress");
        let vips = b[1]
            .block
            .as_ref()
            .map(|b| b.children.clone())
            .unwrap_or_default();
        assert_eq!(vips[0].keyword.text, "192.0.2.1/24");
        assert_eq!(vips[0].args.len(), 2);
    }

    #[test]
    fn brace_on_own_line() {
        let (t, d) = parse("global_defs\n{\n router_id a # c\n}\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].block.as_ref().map(|b| b.children.len()), Some(1));
        assert_eq!(
            t[0].block.as_ref().map(|b| b.children[0].args[0].span.col),
            Some(12)
        );
    }

    #[test]
    fn unbalanced() {
        let (_, d) = parse("a {\n b\n");
        assert_eq!(d.len(), 1);
        let (_, d) = parse("}\n");
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn streaming_matches_whole_tree() {
        let texts = [
            "global_defs\n{\n router_id a\n}\nvrrp_instance X {\n state MASTER\n}\n",
            "a\nb\n{\n c\n}\n{\n d\n}\ne\n",
            "{\n x\n y\n}\n{\n z\n}\n",
            "a {\n b {\n c\n}\nd\n",
            "}\na b c\nx { y } z\n{\n",
        ];
        for t in texts {
            let whole = parse(t);
            let mut b = TreeBuilder::default();
            let mut got = Vec::new();
            for line in tokenize(FileId(0), t) {
                b.push_line(line);
                b.take_ready(&mut got);
            }
            let (rest, d) = b.finish();
            got.extend(rest);
            assert_eq!((got, d), whole, "{t:?}");
        }
    }
}
