//! Rendering diagnostics: one line per finding ([`plain`]), rustc-style snippets for
//! terminals ([`snippets`], with annotate-snippets), and JSON ([`json`]).

use crate::diag::{Diagnostic, Severity};
use crate::source::{SourceMap, Span};
use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use serde::Serialize;

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Newlines and other control characters would break "one finding per line".
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn path_of(sources: &SourceMap, span: Span) -> String {
    sources
        .get(span.file)
        .map(|f| f.path.display().to_string())
        .unwrap_or_else(|| "<unknown>".to_string())
}

/// One finding per line: `FILE:LINE:COL: error|warning: MESSAGE (help: HELP)`; findings
/// without a place are `error|warning: MESSAGE`. Each line ends with `\n`.
pub fn plain(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&plain_one(d, sources));
        out.push('\n');
    }
    out
}

/// One finding as a single line (without the newline).
pub fn plain_one(d: &Diagnostic, sources: &SourceMap) -> String {
    let mut s = String::new();
    if let Some(span) = d.span {
        s.push_str(&format!(
            "{}:{}:{}: ",
            one_line(&path_of(sources, span)),
            span.line,
            span.col
        ));
    }
    s.push_str(severity_word(d.severity));
    s.push_str(": ");
    s.push_str(&one_line(&d.message));
    if let Some(h) = &d.help {
        s.push_str(" (help: ");
        s.push_str(&one_line(h));
        s.push(')');
    }
    s
}

/// Byte range in `line` of `len` characters starting at 1-based character column `col`.
fn byte_range(line: &str, col: u32, len: u32) -> std::ops::Range<usize> {
    let start_char = col.saturating_sub(1) as usize;
    let mut idx = line
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(line.len()));
    let start = idx.nth(start_char).unwrap_or(line.len());
    let end = line
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(line.len()))
        .nth(start_char.saturating_add(len.max(1) as usize))
        .unwrap_or(line.len());
    start..end.max(start)
}

/// rustc-style rendering with source snippets. `color` selects ANSI styling (for a
/// terminal) or plain text. `included_from` (see
/// [`crate::preprocess::Loaded::included_from`]) adds "included from" notes; pass `&[]`
/// to leave them out.
pub fn snippets(
    diags: &[Diagnostic],
    sources: &SourceMap,
    included_from: &[Option<Span>],
    color: bool,
) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    for d in diags {
        let level = match d.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let message = one_line(&d.message);
        let mut notes: Vec<String> = Vec::new();
        let mut group = Group::with_title(level.primary_title(message.as_str()));
        let path;
        let line_text;
        if let Some(span) = d.span {
            path = path_of(sources, span);
            line_text = sources
                .line_text(span.file, span.line)
                .unwrap_or("")
                .to_string();
            if span.line > 0 {
                let range = byte_range(&line_text, span.col, span.len);
                group = group.element(
                    Snippet::source(line_text.as_str())
                        .line_start(span.line as usize)
                        .path(path.as_str())
                        .annotation(AnnotationKind::Primary.span(range)),
                );
            }
            // The include chain, innermost first (bounded).
            let mut file = span.file;
            for _ in 0..64 {
                match included_from.get(file.0 as usize).copied().flatten() {
                    Some(from) => {
                        notes.push(format!(
                            "{} included from {}:{}",
                            path_of(sources, Span { file, ..from }),
                            path_of(sources, from),
                            from.line
                        ));
                        file = from.file;
                    }
                    None => break,
                }
            }
        }
        for n in &notes {
            group = group.element(Level::NOTE.message(n.as_str()));
        }
        let help = d.help.as_deref().map(one_line);
        if let Some(h) = &help {
            group = group.element(Level::HELP.message(h.as_str()));
        }
        let report: [Group<'_>; 1] = [group];
        out.push_str(&renderer.render(&report));
        out.push('\n');
    }
    out
}

#[derive(Serialize)]
struct JsonDiag<'a> {
    file: Option<String>,
    line: Option<u32>,
    col: Option<u32>,
    len: Option<u32>,
    severity: &'static str,
    message: &'a str,
    help: Option<&'a str>,
}

/// A JSON array of objects `{file, line, col, len, severity, message, help}` (`file`,
/// `line`, `col`, `len` are null for findings without a place; `help` may be null).
pub fn json(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let items: Vec<JsonDiag<'_>> = diags
        .iter()
        .map(|d| JsonDiag {
            file: d.span.map(|s| path_of(sources, s)),
            line: d.span.map(|s| s.line),
            col: d.span.map(|s| s.col),
            len: d.span.map(|s| s.len),
            severity: severity_word(d.severity),
            message: &d.message,
            help: d.help.as_deref(),
        })
        .collect();
    serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;
    use std::path::PathBuf;

    fn setup() -> (SourceMap, Vec<Diagnostic>) {
        let mut sm = SourceMap::default();
        let f = sm.add(
            PathBuf::from("/etc/keepalived/keepalived.conf"),
            "vrrp_instance VI_1 {\n    preemtp_delay 10\n}\n".to_string(),
        );
        let d = vec![
            Diagnostic::error(
                Span {
                    file: f,
                    line: 2,
                    col: 5,
                    len: 13,
                },
                "unknown keyword `preemtp_delay`",
            )
            .with_help("did you mean `preempt_delay`?"),
            Diagnostic {
                severity: Severity::Warning,
                span: None,
                message: "no vrrp_instance\nat all".into(),
                help: None,
            },
        ];
        (sm, d)
    }

    #[test]
    fn plain_lines() {
        let (sm, d) = setup();
        let s = plain(&d, &sm);
        assert_eq!(
            s,
            "/etc/keepalived/keepalived.conf:2:5: error: unknown keyword `preemtp_delay` (help: did you mean `preempt_delay`?)\nwarning: no vrrp_instance at all\n"
        );
    }

    #[test]
    fn snippet_points_at_the_word() {
        let (sm, d) = setup();
        let s = snippets(&d[..1], &sm, &[], false);
        assert!(s.contains("error: unknown keyword `preemtp_delay`"), "{s}");
        assert!(s.contains("/etc/keepalived/keepalived.conf:2:5"), "{s}");
        assert!(s.contains("preemtp_delay 10"), "{s}");
        assert!(s.contains("^^^^^^^^^^^^^"), "{s}");
        assert!(!s.contains("^^^^^^^^^^^^^^"), "{s}");
        assert!(s.contains("help: did you mean `preempt_delay`?"), "{s}");
        // Without a span it still renders.
        let s = snippets(&d[1..], &sm, &[], true);
        assert!(s.contains("no vrrp_instance"), "{s}");
    }

    #[test]
    fn include_notes() {
        let mut sm = SourceMap::default();
        let a = sm.add(PathBuf::from("/k/a.conf"), "include b.conf\n".into());
        let b = sm.add(PathBuf::from("/k/b.conf"), "bad\n".into());
        let from = vec![
            None,
            Some(Span {
                file: a,
                line: 1,
                col: 1,
                len: 14,
            }),
        ];
        let d = vec![Diagnostic::error(
            Span {
                file: b,
                line: 1,
                col: 1,
                len: 3,
            },
            "x",
        )];
        let s = snippets(&d, &sm, &from, false);
        assert!(s.contains("/k/b.conf included from /k/a.conf:1"), "{s}");
    }

    #[test]
    fn json_shape() {
        let (sm, d) = setup();
        let v: serde_json::Value = serde_json::from_str(&json(&d, &sm)).unwrap();
        assert_eq!(v[0]["file"], "/etc/keepalived/keepalived.conf");
        assert_eq!(v[0]["line"], 2);
        assert_eq!(v[0]["col"], 5);
        assert_eq!(v[0]["severity"], "error");
        assert_eq!(v[0]["help"], "did you mean `preempt_delay`?");
        assert_eq!(v[1]["file"], serde_json::Value::Null);
        assert_eq!(v[1]["severity"], "warning");
    }

    #[test]
    fn byte_ranges_with_multibyte() {
        assert_eq!(byte_range("héllo x", 7, 1), 7..8);
        assert_eq!(byte_range("ab", 9, 3), 2..2);
        let _ = FileId(0);
    }
}
