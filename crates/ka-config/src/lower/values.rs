//! Value readers shared by all blocks, with keepalived's accepted spellings and ranges.

use super::Lowerer;
use crate::syntax::{Node, Token};
use std::net::IpAddr;
use std::time::Duration;

impl Lowerer<'_> {
    /// An unsigned integer in `min..=max` (decimal, as keepalived's read_unsigned).
    pub fn uint(&mut self, tok: &Token, min: u64, max: u64) -> Option<u64> {
        match tok.text.parse::<u64>() {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            Ok(v) => {
                self.error(tok.span, format!("{v} is out of range {min}..={max}"));
                None
            }
            Err(_) => {
                self.error(
                    tok.span,
                    format!(
                        "`{}` is not a whole number (expected {min}..={max})",
                        tok.text
                    ),
                );
                None
            }
        }
    }

    /// A signed integer in `min..=max`.
    pub fn int(&mut self, tok: &Token, min: i64, max: i64) -> Option<i64> {
        match tok.text.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            Ok(v) => {
                self.error(tok.span, format!("{v} is out of range {min}..={max}"));
                None
            }
            Err(_) => {
                self.error(
                    tok.span,
                    format!("`{}` is not an integer (expected {min}..={max})", tok.text),
                );
                None
            }
        }
    }

    /// A decimal number of seconds with up to microsecond resolution, in `min..=max`
    /// (keepalived's read_decimal_unsigned with 6 decimal places).
    pub fn seconds(&mut self, tok: &Token, min: Duration, max: Duration) -> Option<Duration> {
        let Some(d) = parse_decimal_secs(&tok.text) else {
            self.error(
                tok.span,
                format!("`{}` is not a number of seconds", tok.text),
            );
            return None;
        };
        if d < min || d > max {
            self.error(
                tok.span,
                format!(
                    "{} seconds is out of range {}..={}",
                    tok.text,
                    min.as_secs_f64(),
                    max.as_secs_f64()
                ),
            );
            return None;
        }
        Some(d)
    }

    /// A flag keyword: no argument means true; otherwise one of
    /// true/false, yes/no, on/off, 1/0 (case-insensitive), as keepalived's get_value_bool.
    pub fn flag(&mut self, node: &Node) -> Option<bool> {
        let Some(tok) = node.args.first() else {
            return Some(true);
        };
        match tok.text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => {
                self.error(
                    tok.span,
                    format!("`{}` is not a boolean (use true or false)", tok.text),
                );
                None
            }
        }
    }

    /// An IPv4 or IPv6 address.
    pub fn ip(&mut self, tok: &Token) -> Option<IpAddr> {
        match tok.text.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.error(tok.span, format!("`{}` is not an IP address", tok.text));
                None
            }
        }
    }

    /// An address with an optional `/prefix`; the prefix is checked against the family.
    pub fn ip_prefix(&mut self, tok: &Token) -> Option<(IpAddr, Option<u8>)> {
        let (a, p) = match tok.text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (tok.text.as_str(), None),
        };
        let Ok(addr) = a.parse::<IpAddr>() else {
            self.error(tok.span, format!("`{a}` is not an IP address"));
            return None;
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => None,
            Some(p) => match p.parse::<u8>() {
                Ok(v) if v <= max => Some(v),
                _ => {
                    self.error(tok.span, format!("`/{p}` is not a prefix length 0..={max}"));
                    return None;
                }
            },
        };
        Some((addr, prefix))
    }
}

/// Parses `12`, `0.5`, `1.000001` into a duration; `None` for anything else (no sign,
/// no exponent, at most 6 decimals, bounded size).
pub fn parse_decimal_secs(s: &str) -> Option<Duration> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || frac.len() > 6
    {
        return None;
    }
    let secs: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut micros: u32 = 0;
    for (i, c) in frac
        .chars()
        .chain(std::iter::repeat('0'))
        .take(6)
        .enumerate()
    {
        let _ = i;
        micros = micros * 10 + c.to_digit(10)?;
    }
    if secs > u64::from(u32::MAX) {
        return None;
    }
    Some(Duration::from_secs(secs) + Duration::from_micros(u64::from(micros)))
}

#[cfg(test)]
mod tests {
    use super::parse_decimal_secs;
    use std::time::Duration;

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal_secs("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_decimal_secs("0.01"), Some(Duration::from_millis(10)));
        assert_eq!(parse_decimal_secs(".5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_decimal_secs("1.0000001"), None);
        assert_eq!(parse_decimal_secs("-1"), None);
        assert_eq!(parse_decimal_secs("."), None);
    }
}
