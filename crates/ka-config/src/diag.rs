//! Diagnostics: findings with a span, rendered as `FILE:LINE:COL: error|warning: MESSAGE`.

use crate::source::Span;
use serde::Serialize;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The configuration is still used, but probably not as meant.
    Warning,
    /// The configuration cannot be used as written.
    Error,
}

/// One finding about the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where; `None` for findings about the configuration as a whole.
    pub span: Option<Span>,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// What to do about it (e.g. "did you mean `preempt_delay`?").
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at a span.
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            span: Some(span),
            message: message.into(),
            help: None,
        }
    }
    /// A warning at a span.
    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            span: Some(span),
            message: message.into(),
            help: None,
        }
    }
    /// Adds a hint on how to fix it.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// The candidate closest to `word`, if it is close enough to be a likely typo
/// (e.g. `preemtp_delay` -> `preempt_delay`, `autp_pass` -> `auth_pass`).
///
/// Distance is Damerau-Levenshtein (optimal string alignment: a swap of two neighbouring
/// letters counts as one edit), compared case-insensitively. A candidate qualifies when
/// the distance is at most a third of the word's length (at least 1). On a tie, the first
/// candidate wins, so pass them in a stable order.
pub fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let w = word.to_lowercase();
    let limit = (w.chars().count() / 3).max(1);
    let mut best: Option<(usize, &'c str)> = None;
    for c in candidates {
        let d = edit_distance(&w, &c.to_lowercase());
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Damerau-Levenshtein distance (optimal string alignment) in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back (for transpositions), previous, current.
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let mut v = (prev[j + 1] + 1).min(cur[j] + 1).min(prev[j] + cost);
            if i > 0 && j > 0 && a.get(i - 1) == Some(&cb) && b.get(j - 1) == Some(&ca) {
                v = v.min(prev2[j - 1] + 1);
            }
            cur[j + 1] = v;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.get(b.len()).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("preemtp_delay", "preempt_delay"), 1);
    }

    #[test]
    fn suggestions() {
        let c = [
            "preempt_delay",
            "auth_pass",
            "auth_type",
            "priority",
            "advert_int",
        ];
        assert_eq!(
            did_you_mean("preemtp_delay", c.iter().copied()),
            Some("preempt_delay")
        );
        assert_eq!(did_you_mean("autp_pass", c), Some("auth_pass"));
        assert_eq!(did_you_mean("PRIORITY", c), Some("priority"));
        assert_eq!(did_you_mean("advert", c), None);
        assert_eq!(did_you_mean("zzzzzz", c), None);
        assert_eq!(did_you_mean("x", c), None);
    }
}
