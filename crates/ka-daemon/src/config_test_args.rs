//! keepalived's config test as packaging hooks and scripts call it (`keepalived -t -f
//! FILE`, with `-i ID`, `-t=LOG_FILE`, `-l`, `-D`, `-n`), recognised without building clap's
//! command. Building it (every subcommand, argument and help text) is most of the code and
//! memory a config test otherwise touches: 255 instances peaked at 6.6 MiB through clap
//! and 5.2-5.5 MiB without it (bench/config-parse).
//!
//! Only plain, unambiguous forms are taken; anything else (an unknown or repeated flag, a
//! value that starts with `-` or `=`, bundled short flags, `--help`, a subcommand) returns
//! `None` and goes to clap, which also produces every error message. The test
//! `agrees_with_clap` runs both on the same command lines and requires the same request.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::check_cmd::Request;

/// The request of a config test: keepalived's `-t` checks with host checks and prints
/// plain lines, to stderr or to `log_file`.
pub fn request(
    file: Option<PathBuf>,
    config_id: Option<String>,
    log_file: Option<PathBuf>,
) -> Request {
    Request {
        file: file.unwrap_or_else(|| PathBuf::from(crate::DEFAULT_CONF)),
        config_id,
        format: crate::Format::Plain,
        dump: false,
        host_checks: true,
        log_file,
    }
}

/// Sets `slot` once; a repeated option is left to clap (which refuses it).
fn once<T>(slot: &mut Option<T>, v: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(v);
    Some(())
}

/// A value given as the next argument: not empty, not starting with `-` (clap would
/// take it for an option).
fn value(next: Option<&OsString>) -> Option<OsString> {
    let v = next?;
    let b = v.as_encoded_bytes();
    (!b.is_empty() && b[0] != b'-').then(|| v.clone())
}

/// A value attached to its flag (`-fFILE`, `--use-file=FILE`): not empty, and for short
/// flags not starting with `=` (clap reads `-f=x` as `x`; left to it).
fn attached(v: &[u8], short: bool) -> Option<OsString> {
    if v.is_empty() || (short && v[0] == b'=') {
        return None;
    }
    // A value that is not UTF-8 is left to clap.
    String::from_utf8(v.to_vec()).ok().map(OsString::from)
}

/// The config test `args` (with the program name first) ask for, or `None` to let clap
/// read them.
pub fn parse(args: &[OsString]) -> Option<Request> {
    let mut test: Option<Option<PathBuf>> = None;
    let mut file: Option<PathBuf> = None;
    let mut id: Option<String> = None;
    let (mut console, mut detail, mut dont_fork) = (None, None, None);
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_encoded_bytes();
        match a {
            b"-t" | b"--config-test" => once(&mut test, None)?,
            b"-f" | b"--use-file" => {
                once(&mut file, PathBuf::from(value(args.get(i + 1))?))?;
                i += 1;
            }
            b"-i" | b"--config-id" => {
                once(&mut id, value(args.get(i + 1))?.into_string().ok()?)?;
                i += 1;
            }
            b"-l" | b"--log-console" => once(&mut console, ())?,
            b"-D" | b"--log-detail" => once(&mut detail, ())?,
            b"-n" | b"--dont-fork" => once(&mut dont_fork, ())?,
            _ => {
                if let Some(v) = a
                    .strip_prefix(b"--config-test=")
                    .or_else(|| a.strip_prefix(b"-t="))
                {
                    once(&mut test, Some(PathBuf::from(attached(v, false)?)))?;
                } else if let Some(v) = a.strip_prefix(b"--use-file=") {
                    once(&mut file, PathBuf::from(attached(v, false)?))?;
                } else if let Some(v) = a.strip_prefix(b"--config-id=") {
                    once(&mut id, attached(v, false)?.into_string().ok()?)?;
                } else if let Some(v) = a.strip_prefix(b"-f") {
                    once(&mut file, PathBuf::from(attached(v, true)?))?;
                } else if let Some(v) = a.strip_prefix(b"-i") {
                    once(&mut id, attached(v, true)?.into_string().ok()?)?;
                } else {
                    return None;
                }
            }
        }
        i += 1;
    }
    let log_file = test?;
    Some(request(file, id, log_file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn argv(s: &str) -> Vec<OsString> {
        std::iter::once("keepalived-rs")
            .chain(s.split_whitespace())
            .map(OsString::from)
            .collect()
    }

    /// What the clap path asks for, for the same command line.
    fn through_clap(args: &[OsString]) -> Option<Request> {
        let cli = crate::Cli::try_parse_from(args).ok()?;
        if cli.cmd.is_some() || cli.ka.version || cli.ka.signum.is_some() {
            return None;
        }
        let log_file = cli.ka.config_test?;
        Some(request(cli.ka.use_file, cli.ka.config_id, log_file))
    }

    /// Every form taken here gives the request clap's path gives; every form left to clap
    /// is one this parser does not claim. Both lists are checked both ways.
    #[test]
    fn agrees_with_clap() {
        let taken = [
            "-t",
            "-t -f a.conf",
            "-f a.conf -t",
            "--config-test --use-file a.conf",
            "-t --use-file=a.conf",
            "-t -fa.conf",
            "-t=/tmp/log -f a.conf",
            "--config-test=/tmp/log -f a.conf",
            "-t -f a.conf -i lb1",
            "-t -f a.conf --config-id lb1",
            "-t -f a.conf --config-id=lb1",
            "-t -f a.conf -ilb1",
            "-l -D -n -t -f /etc/keepalived/keepalived.conf",
            "--log-console --log-detail --dont-fork --config-test -f x",
        ];
        for s in taken {
            let a = argv(s);
            let fast = parse(&a);
            assert!(fast.is_some(), "{s}: not taken");
            assert_eq!(fast, through_clap(&a), "{s}");
        }
        let left = [
            "",
            "-f a.conf",
            "-t -t",
            "-t -f a.conf -f b.conf",
            "-t -f",
            "-t -f -l",
            "-t -f=a.conf",
            "-t -i=lb1",
            "-t /tmp/log",
            "-tf a.conf",
            "-lt",
            "-t --help",
            "-t -v",
            "-t -P",
            "-t --signum STOP",
            "-t --config-test=",
            "check -t",
            "-t -f a.conf --",
            "-t -x",
        ];
        for s in left {
            let a = argv(s);
            assert_eq!(parse(&a), None, "{s}: taken");
        }
        // `-t` with `-t=LOG_FILE` given as the attached short form is clap's too.
        assert_eq!(
            through_clap(&argv("-t=/tmp/log")).and_then(|r| r.log_file),
            Some(PathBuf::from("/tmp/log"))
        );
    }

    #[test]
    fn defaults_are_keepalived_s() {
        let r = parse(&argv("-t")).unwrap();
        assert_eq!(r.file, PathBuf::from(crate::DEFAULT_CONF));
        assert!(r.host_checks && !r.dump && r.log_file.is_none() && r.config_id.is_none());
    }
}
