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
    let mut unlimited = usize::MAX;
    did_you_mean_budget(word, candidates, &mut unlimited)
}

/// [`did_you_mean`] that looks at no more than `budget` candidates (and takes them off
/// it), so that thousands of unknown names checked against thousands of defined ones
/// stay linear: once the budget is spent, no more suggestions are made.
pub fn did_you_mean_budget<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
    budget: &mut usize,
) -> Option<&'c str> {
    let w: Vec<char> = word.to_lowercase().chars().collect();
    let limit = (w.len() / 3).max(1);
    let mut best: Option<(usize, &'c str)> = None;
    let mut cand: Vec<char> = Vec::new();
    let mut rows = Rows::default();
    for c in candidates {
        if *budget == 0 {
            return None;
        }
        *budget -= 1;
        // Only a strictly better candidate can win.
        let bound = match best {
            Some((0, _)) => break,
            Some((bd, _)) => bd - 1,
            None => limit,
        };
        // Cheap length filter (exact for ASCII, where lower-casing keeps the length):
        // the distance is at least the difference in length.
        if c.is_ascii() && c.len().abs_diff(w.len()) > bound {
            continue;
        }
        cand.clear();
        cand.extend(c.to_lowercase().chars());
        if let Some(d) = bounded_distance(&w, &cand, bound, &mut rows) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Damerau-Levenshtein distance (optimal string alignment) in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    bounded_distance(&a, &b, usize::MAX, &mut Rows::default()).unwrap_or(usize::MAX)
}

/// Reusable rows of the distance table.
#[derive(Default)]
struct Rows {
    prev2: Vec<usize>,
    prev: Vec<usize>,
    cur: Vec<usize>,
}

/// The optimal-string-alignment distance of `a` and `b` if it is at most `bound`; stops
/// early (`None`) as soon as it must exceed it, so scanning many far candidates is cheap.
fn bounded_distance(a: &[char], b: &[char], bound: usize, rows: &mut Rows) -> Option<usize> {
    if a.len().abs_diff(b.len()) > bound {
        return None;
    }
    let n = b.len() + 1;
    let Rows { prev2, prev, cur } = rows;
    prev2.clear();
    prev2.resize(n, 0);
    prev.clear();
    prev.extend(0..n);
    cur.clear();
    cur.resize(n, 0);
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        let mut row_min = cur[0];
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let mut v = (prev[j + 1] + 1).min(cur[j] + 1).min(prev[j] + cost);
            if i > 0 && j > 0 && a.get(i - 1) == Some(&cb) && b.get(j - 1) == Some(&ca) {
                v = v.min(prev2[j - 1] + 1);
            }
            cur[j + 1] = v;
            row_min = row_min.min(v);
        }
        // Every alignment passes through this row or the one before it (a transposition
        // steps over one row), so when both exceed the bound, so does the distance.
        let prev_min = prev.iter().copied().min().unwrap_or(0);
        if row_min.min(prev_min) > bound {
            return None;
        }
        std::mem::swap(prev2, prev);
        std::mem::swap(prev, cur);
    }
    prev.get(b.len()).copied().filter(|&d| d <= bound)
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

    #[test]
    fn bounded_agrees_with_full_distance() {
        let words = [
            "",
            "a",
            "ab",
            "ba",
            "abc",
            "acb",
            "kitten",
            "sitting",
            "VI_1",
            "VI_10",
            "MISSING_1",
            "preempt_delay",
            "preemtp_delay",
            "priority",
            "ca",
            "abcdef",
            "badcfe",
        ];
        let full = |a: &[char], b: &[char]| {
            bounded_distance(a, b, usize::MAX, &mut Rows::default()).unwrap_or(usize::MAX)
        };
        for x in words {
            for y in words {
                let a: Vec<char> = x.chars().collect();
                let b: Vec<char> = y.chars().collect();
                let d = full(&a, &b);
                assert_eq!(d, edit_distance(x, y));
                for bound in 0..8 {
                    let got = bounded_distance(&a, &b, bound, &mut Rows::default());
                    assert_eq!(got, (d <= bound).then_some(d), "{x:?} {y:?} bound {bound}");
                }
            }
        }
    }

    #[test]
    fn budget_limits_the_scan() {
        let c = ["zzzz", "zzzy", "priority"];
        let mut b = 2;
        assert_eq!(did_you_mean_budget("priorty", c, &mut b), None);
        assert_eq!(b, 0);
        let mut b = 3;
        assert_eq!(did_you_mean_budget("priorty", c, &mut b), Some("priority"));
    }
}
