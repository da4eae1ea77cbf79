//! What a result means: HTTP status/digest/regex matching, UDP reply matching,
//! MISC_CHECK exit codes and FILE_CHECK values, with keepalived 2.2.7's rules.

use ka_model::lvs::{MaskedByte, Md5Digest, RegexMatch, StatusRange, UdpCheck, Url};
use md5::{Digest, Md5};

use crate::probe::{Failure, HttpResponse, ScriptExit};

/// The MD5 of a body, as `genhash` prints it and `digest` expects it.
pub fn body_digest(body: &[u8]) -> Md5Digest {
    let out = Md5::digest(body);
    let mut d = [0u8; 16];
    d.copy_from_slice(out.as_slice());
    Md5Digest(d)
}

/// One URL's acceptance test, compiled once.
#[derive(Debug, Clone)]
pub struct UrlMatcher {
    status: Vec<StatusRange>,
    digest: Option<Md5Digest>,
    regex: Option<CompiledRegex>,
}

#[derive(Debug, Clone)]
struct CompiledRegex {
    re: regex::bytes::Regex,
    no_match: bool,
    min_offset: usize,
    max_offset: Option<usize>,
}

impl UrlMatcher {
    /// Compiles a URL's test. A regex the `regex` crate cannot compile (keepalived uses
    /// PCRE2: back-references and look-around are not available here) is dropped, as
    /// keepalived drops an invalid regex; the message explains why.
    pub fn new(url: &Url) -> (Self, Option<String>) {
        let status = if url.status_codes.is_empty() {
            vec![StatusRange::SUCCESS]
        } else {
            url.status_codes.clone()
        };
        let (regex, warning) = match &url.regex {
            None => (None, None),
            Some(r) => match compile(r) {
                Ok(c) => (Some(c), None),
                Err(e) => (
                    None,
                    Some(format!(
                        "url {}: regex {:?} ignored: {e}",
                        url.path, r.pattern
                    )),
                ),
            },
        };
        (
            Self {
                status,
                digest: url.digest,
                regex,
            },
            warning,
        )
    }

    /// Whether the body must be read (a digest or a regex is configured).
    pub fn body_needed(&self) -> bool {
        self.digest.is_some() || self.regex.is_some()
    }

    /// keepalived's `http_handle_response`, in its order: status code (in one of the
    /// ranges; default 200-299), then MD5 digest of the body, then the regex (a match
    /// must start within `regex_min_offset..=regex_max_offset`; `regex_no_match`
    /// inverts).
    pub fn evaluate(&self, resp: &HttpResponse) -> Result<(), Failure> {
        if !self.status.iter().any(|r| r.contains(resp.status_code)) {
            return Err(Failure::HttpStatus(resp.status_code));
        }
        if let Some(want) = &self.digest {
            let got = body_digest(&resp.body);
            if got != *want {
                return Err(Failure::DigestMismatch { got: got.to_hex() });
            }
        }
        if let Some(r) = &self.regex {
            let matched = r.min_offset <= resp.body.len()
                && r.re
                    .find_at(&resp.body, r.min_offset)
                    .is_some_and(|m| r.max_offset.is_none_or(|max| m.start() <= max));
            if matched == r.no_match {
                return Err(Failure::Regex);
            }
        }
        Ok(())
    }
}

fn compile(r: &RegexMatch) -> Result<CompiledRegex, String> {
    let mut b = regex::bytes::RegexBuilder::new(&r.pattern);
    // PCRE2 without `utf`/`ucp` works on bytes with ASCII classes.
    b.unicode(false);
    for opt in &r.options {
        match opt.as_str() {
            "caseless" => {
                b.case_insensitive(true);
            }
            "multiline" => {
                b.multi_line(true);
            }
            "dotall" => {
                b.dot_matches_new_line(true);
            }
            "extended" => {
                b.ignore_whitespace(true);
            }
            "ungreedy" => {
                b.swap_greed(true);
            }
            "utf" | "ucp" => {
                b.unicode(true);
            }
            // Options that change nothing for an unanchored search over a whole body, or
            // only tune PCRE2 itself.
            "no_auto_capture"
            | "no_auto_possess"
            | "no_start_optimize"
            | "no_dotstar_anchor"
            | "never_ucp"
            | "never_utf"
            | "never_backslash_c"
            | "dupnames"
            | "auto_callout"
            | "use_offset_limit"
            | "allow_empty_class"
            | "alt_bsux"
            | "alt_circumflex"
            | "alt_verbnames"
            | "match_unset_backref" => {}
            other => return Err(format!("regex option {other} is not supported")),
        }
    }
    let re = b.build().map_err(|e| e.to_string())?;
    Ok(CompiledRegex {
        re,
        no_match: r.no_match,
        min_offset: r.min_offset.map_or(0, |v| v as usize),
        max_offset: r.max_offset.map(|v| v as usize),
    })
}

/// keepalived's `check_udp_reply`: the length must lie within
/// `min_reply_length..=max_reply_length`, and the bytes present must match the
/// `require_reply` pattern where its mask says so (an `X` nibble is not compared).
pub fn udp_reply_ok(check: &UdpCheck, reply: &[u8]) -> bool {
    let Some(pattern) = &check.require_reply else {
        return true;
    };
    let len = reply.len();
    if len < usize::from(check.min_reply_length) || len > usize::from(check.max_reply_length) {
        return false;
    }
    reply
        .iter()
        .zip(pattern.iter())
        .all(|(b, MaskedByte { value, mask })| (b ^ value) & mask == 0)
}

/// What a MISC_CHECK exit means (keepalived's `misc_check_child_thread`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MiscVerdict {
    /// Exit 0, or 2..=255 with `misc_dynamic` (the weight becomes `status - 2`).
    Success {
        /// The exit status.
        status: u8,
    },
    /// Any other exit status.
    FailedStatus(u8),
    /// Killed (by a signal or for overrunning `misc_timeout`).
    Killed(Failure),
}

/// Interprets a script's end.
pub fn misc_verdict(exit: ScriptExit, dynamic: bool) -> MiscVerdict {
    match exit {
        ScriptExit::Exited(0) => MiscVerdict::Success { status: 0 },
        ScriptExit::Exited(s) if dynamic && s >= 2 => MiscVerdict::Success { status: s },
        ScriptExit::Exited(s) => MiscVerdict::FailedStatus(s),
        ScriptExit::Signaled(sig) => MiscVerdict::Killed(Failure::Signal(sig)),
        ScriptExit::TimedOut => MiscVerdict::Killed(Failure::ScriptTimeout),
    }
}

/// keepalived's "fault" status of a tracked file (`IPVS_WEIGHT_FAULT`, `INT_MIN`).
pub const FILE_FAULT: i32 = i32::MIN;

/// The status a FILE_CHECK derives from the file's value (keepalived's
/// `update_track_file_status`): with weight 0, a non-zero value (a zero value with
/// `reverse`) is a fault; otherwise the status is `value * weight` (negated with
/// `reverse`), clamped to `i32`, and `i32::MIN` is a fault.
pub fn file_status(value: i64, weight: i32, reverse: bool) -> i32 {
    if weight == 0 {
        return if (value != 0) != reverse {
            FILE_FAULT
        } else {
            0
        };
    }
    let m: i128 = if reverse { -1 } else { 1 };
    let v = i128::from(value) * i128::from(weight) * m;
    i32::try_from(v.clamp(i128::from(i32::MIN), i128::from(i32::MAX))).unwrap_or(FILE_FAULT)
}

/// Parses a tracked file the way keepalived does (`strtol(buf, NULL, 0)` over at most the
/// first 127 bytes): leading white space, an optional sign, then decimal, `0x` hex or
/// `0` octal digits; no digits reads as 0. `None` when the value is outside
/// `i32::MIN..=i32::MAX + 1` (keepalived logs "Invalid number" and keeps the old value).
/// An empty or missing file reads as 0.
pub fn parse_track_file(content: &[u8]) -> Option<i64> {
    let buf = content.get(..content.len().min(127)).unwrap_or(content);
    let mut i = 0;
    while buf
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
    {
        i += 1;
    }
    let mut neg = false;
    if let Some(&c) = buf.get(i) {
        if c == b'+' || c == b'-' {
            neg = c == b'-';
            i += 1;
        }
    }
    let mut radix = 10u32;
    if buf.get(i) == Some(&b'0') {
        let x = buf.get(i + 1).copied();
        if matches!(x, Some(b'x') | Some(b'X'))
            && buf.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
        {
            radix = 16;
            i += 2;
        } else {
            radix = 8;
        }
    }
    let mut v: i128 = 0;
    while let Some(d) = buf.get(i).and_then(|&c| char::from(c).to_digit(radix)) {
        v = v
            .saturating_mul(i128::from(radix))
            .saturating_add(i128::from(d));
        v = v.min(i128::from(i64::MAX) + 1);
        i += 1;
    }
    if neg {
        v = -v;
    }
    if v < i128::from(i32::MIN) || v > i128::from(i32::MAX) + 1 {
        return None;
    }
    i64::try_from(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_model::lvs::Url;

    fn url(codes: Vec<StatusRange>, digest: Option<&str>, regex: Option<RegexMatch>) -> Url {
        Url {
            origin: Default::default(),
            path: "/".into(),
            digest: digest.and_then(Md5Digest::from_hex),
            status_codes: codes,
            virtualhost: None,
            regex,
        }
    }

    fn resp(code: u16, body: &[u8]) -> HttpResponse {
        HttpResponse {
            status_code: code,
            body: body.to_vec(),
        }
    }

    fn re(p: &str) -> RegexMatch {
        RegexMatch {
            pattern: p.into(),
            no_match: false,
            options: vec![],
            stack: None,
            min_offset: None,
            max_offset: None,
        }
    }

    #[test]
    fn md5_known_vectors() {
        // RFC 1321 appendix A.5.
        assert_eq!(
            body_digest(b"").to_hex(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            body_digest(b"abc").to_hex(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }

    #[test]
    fn status_default_and_ranges() {
        let (m, w) = UrlMatcher::new(&url(vec![], None, None));
        assert!(w.is_none());
        assert!(m.evaluate(&resp(200, b"")).is_ok());
        assert!(m.evaluate(&resp(299, b"")).is_ok());
        assert_eq!(m.evaluate(&resp(301, b"")), Err(Failure::HttpStatus(301)));
        assert_eq!(m.evaluate(&resp(199, b"")), Err(Failure::HttpStatus(199)));
        let codes = vec![
            StatusRange::new(200, 200).unwrap(),
            StatusRange::new(301, 302).unwrap(),
        ];
        let (m, _) = UrlMatcher::new(&url(codes, None, None));
        assert!(m.evaluate(&resp(302, b"")).is_ok());
        assert!(m.evaluate(&resp(204, b"")).is_err());
        assert!(m.evaluate(&resp(303, b"")).is_err());
    }

    #[test]
    fn digest_compared_after_status() {
        let (m, _) = UrlMatcher::new(&url(vec![], Some("900150983cd24fb0d6963f7d28e17f72"), None));
        assert!(m.body_needed());
        assert!(m.evaluate(&resp(200, b"abc")).is_ok());
        assert_eq!(
            m.evaluate(&resp(200, b"abd")),
            Err(Failure::DigestMismatch {
                got: body_digest(b"abd").to_hex()
            })
        );
        assert_eq!(
            m.evaluate(&resp(500, b"abc")),
            Err(Failure::HttpStatus(500))
        );
    }

    #[test]
    fn regex_offsets_and_no_match() {
        let (m, _) = UrlMatcher::new(&url(vec![], None, Some(re("st[a-z]+ok"))));
        assert!(m.evaluate(&resp(200, b"status: statusok")).is_ok());
        assert_eq!(m.evaluate(&resp(200, b"status: bad")), Err(Failure::Regex));
        let mut r = re("OK");
        r.min_offset = Some(4);
        r.max_offset = Some(6);
        let (m, _) = UrlMatcher::new(&url(vec![], None, Some(r.clone())));
        assert!(m.evaluate(&resp(200, b"OK..OK")).is_ok()); // at 4
        assert!(m.evaluate(&resp(200, b"OK....OK")).is_ok()); // at 6
        assert!(m.evaluate(&resp(200, b"OK.....OK")).is_err()); // at 7
        assert!(m.evaluate(&resp(200, b"OK")).is_err()); // only before min
        r.no_match = true;
        let (m, _) = UrlMatcher::new(&url(vec![], None, Some(r)));
        assert!(m.evaluate(&resp(200, b"OK.....OK")).is_ok());
        let mut r = re("ok");
        r.options = vec!["caseless".into()];
        let (m, _) = UrlMatcher::new(&url(vec![], None, Some(r)));
        assert!(m.evaluate(&resp(200, b"OK")).is_ok());
        let (m, w) = UrlMatcher::new(&url(vec![], None, Some(re("(a)\\1"))));
        assert!(w.is_some(), "back-references are not supported");
        assert!(!m.body_needed());
    }

    #[test]
    fn udp_reply_patterns() {
        let mut c = UdpCheck {
            payload: None,
            require_reply: Some(vec![
                MaskedByte {
                    value: 0xab,
                    mask: 0xff,
                },
                MaskedByte {
                    value: 0x0c,
                    mask: 0x0f,
                },
            ]),
            min_reply_length: 2,
            max_reply_length: 4,
        };
        assert!(udp_reply_ok(&c, &[0xab, 0xfc]));
        assert!(udp_reply_ok(&c, &[0xab, 0x1c, 9, 9]));
        assert!(!udp_reply_ok(&c, &[0xab, 0x1d]));
        assert!(!udp_reply_ok(&c, &[0xab]));
        assert!(!udp_reply_ok(&c, &[0xab, 0x0c, 0, 0, 0]));
        c.require_reply = None;
        assert!(udp_reply_ok(&c, &[]));
    }

    #[test]
    fn misc_exit_codes() {
        assert_eq!(
            misc_verdict(ScriptExit::Exited(0), false),
            MiscVerdict::Success { status: 0 }
        );
        assert_eq!(
            misc_verdict(ScriptExit::Exited(1), true),
            MiscVerdict::FailedStatus(1)
        );
        assert_eq!(
            misc_verdict(ScriptExit::Exited(7), false),
            MiscVerdict::FailedStatus(7)
        );
        assert_eq!(
            misc_verdict(ScriptExit::Exited(7), true),
            MiscVerdict::Success { status: 7 }
        );
        assert_eq!(
            misc_verdict(ScriptExit::TimedOut, true),
            MiscVerdict::Killed(Failure::ScriptTimeout)
        );
    }

    #[test]
    fn file_status_rules() {
        assert_eq!(file_status(0, 0, false), 0);
        assert_eq!(file_status(3, 0, false), FILE_FAULT);
        assert_eq!(file_status(0, 0, true), FILE_FAULT);
        assert_eq!(file_status(3, 0, true), 0);
        assert_eq!(file_status(5, 2, false), 10);
        assert_eq!(file_status(5, 2, true), -10);
        assert_eq!(file_status(i64::from(i32::MIN), 1, false), FILE_FAULT);
        assert_eq!(file_status(i64::from(i32::MAX), 4, false), i32::MAX);
    }

    #[test]
    fn track_file_parsing() {
        assert_eq!(parse_track_file(b""), Some(0));
        assert_eq!(parse_track_file(b"  42\n"), Some(42));
        assert_eq!(parse_track_file(b"-7"), Some(-7));
        assert_eq!(parse_track_file(b"0x1f"), Some(31));
        assert_eq!(parse_track_file(b"010"), Some(8));
        assert_eq!(parse_track_file(b"abc"), Some(0));
        assert_eq!(parse_track_file(b"12abc"), Some(12));
        assert_eq!(parse_track_file(b"2147483648"), Some(2_147_483_648));
        assert_eq!(parse_track_file(b"2147483649"), None);
        assert_eq!(parse_track_file(b"-2147483649"), None);
        assert_eq!(parse_track_file(b"99999999999999999999999"), None);
    }
}
