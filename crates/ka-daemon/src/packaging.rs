//! Packaging helpers: `keepalived-rs man`, `completions` and `install-sample`.
//!
//! The manual page and the completion scripts are generated from the command line itself
//! (clap_mangen, clap_complete), so they cannot drift from it; `docs/keepalived-rs.8` is
//! the committed main page, kept equal to `keepalived-rs man` by a test
//! (`tests/packaging.rs`; `UPDATE_MAN=1` rewrites it). The sample configuration is
//! `sample/keepalived.conf`, compiled into the binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

/// The sample configuration `install-sample` writes.
pub const SAMPLE: &str = include_str!("../sample/keepalived.conf");

/// Where `install-sample` writes by default.
pub const SAMPLE_DIR: &str = "/etc/keepalived-rs";

/// Options of `keepalived-rs man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write every page (keepalived-rs.8 and one per subcommand, keepalived-rs-SUB.8)
    /// into DIR instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Options of `keepalived-rs completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Options of `keepalived-rs install-sample`.
#[derive(Debug, Args)]
pub struct InstallSampleArgs {
    /// The directory to write keepalived.conf into (created if missing).
    #[arg(long, value_name = "DIR", default_value = SAMPLE_DIR)]
    pub dest: PathBuf,
    /// Replace an existing keepalived.conf there.
    #[arg(long)]
    pub force: bool,
}

/// Sections of the main page that clap does not know about.
const MAIN_PAGE_TAIL: &str = r#".SH EXIT STATUS
\fB\-t\fR and \fBcheck\fR: 0 when the configuration has no error (warnings allowed), 1 when it
has at least one, 2 when the check could not run. \fBrealserver check\fR: 0 when nothing is
missing, 1 when something is. \fBstatus\fR and \fBreload\fR: 2 when the daemon does not answer.
.SH FILES
.TP
\fI/etc/keepalived/keepalived.conf\fR
the configuration read without \fB\-f\fR (keepalived's default)
.TP
\fI/etc/keepalived\-rs/keepalived.conf\fR
the sample written by \fBkeepalived\-rs install\-sample\fR
.TP
\fI/run/keepalived\-rs/control.sock\fR
the control socket of \fBstatus\fR and \fBreload\fR (root only)
.TP
\fI/run/keepalived\-rs/realserver.json\fR
what \fBrealserver dr\fR|\fBtun\fR changed, for \fB\-\-undo\fR
.SH SEE ALSO
\fBkeepalived\fR(8), \fBkeepalived.conf\fR(5), and one page per subcommand
(\fBkeepalived\-rs\-check\fR(8), \fBkeepalived\-rs\-realserver\-dr\fR(8), ...), written by
\fBkeepalived\-rs man \-\-dir\fR \fIDIR\fR.
"#;

/// The main manual page of `cmd` (section 8: a daemon), in roff.
pub fn man_page(cmd: clap::Command) -> Result<Vec<u8>, std::io::Error> {
    let mut out = Vec::new();
    page(cmd.disable_help_subcommand(true)).render(&mut out)?;
    out.extend_from_slice(MAIN_PAGE_TAIL.as_bytes());
    Ok(out)
}

fn page(cmd: clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(cmd)
        .section("8")
        .manual("System Manager's Manual")
}

fn write_pages(cmd: clap::Command, dir: &Path) -> Result<usize, std::io::Error> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    fn walk(cmd: &clap::Command, dir: &Path, n: &mut usize) -> Result<(), std::io::Error> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, dir, n)?;
        }
        let man = page(cmd.clone());
        if cmd.get_bin_name() == Some("keepalived-rs") || cmd.get_name() == "keepalived-rs" {
            std::fs::write(dir.join(man.get_filename()), man_page(cmd.clone())?)?;
        } else {
            man.generate_to(dir)?;
        }
        *n += 1;
        Ok(())
    }
    let mut n = 0;
    walk(&cmd, dir, &mut n)?;
    Ok(n)
}

/// `keepalived-rs man [--dir DIR]`.
pub fn man(cmd: clap::Command, a: &ManArgs) -> ExitCode {
    let result = match &a.dir {
        Some(dir) => write_pages(cmd, dir).map(|n| {
            println!("wrote {n} manual pages into {}", dir.display());
        }),
        None => man_page(cmd).and_then(|page| std::io::stdout().lock().write_all(&page)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keepalived-rs man: {e}");
            ExitCode::from(1)
        }
    }
}

/// The completion script for `shell`.
///
/// clap_complete 4.6 spells the bash dispatch states of a hyphenated program two ways
/// (`keepalived__rs__subcmd__X` while walking the words, `keepalived__subcmd__rs__subcmd__X`
/// in the case arms: clap-rs/clap#6421, open), so nothing after a subcommand would
/// complete; the arms are respelled as the walk spells them.
pub fn completion_script(mut cmd: clap::Command, shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "keepalived-rs", &mut out);
    if shell == clap_complete::Shell::Bash {
        let text =
            String::from_utf8_lossy(&out).replace("keepalived__subcmd__rs", "keepalived__rs");
        return text.into_bytes();
    }
    out
}

/// `keepalived-rs completions SHELL`: the script on stdout.
pub fn completions(cmd: clap::Command, a: &CompletionsArgs) -> ExitCode {
    match std::io::stdout()
        .lock()
        .write_all(&completion_script(cmd, a.shell))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keepalived-rs completions: {e}");
            ExitCode::from(1)
        }
    }
}

/// `keepalived-rs install-sample [--dest DIR] [--force]`.
pub fn install_sample(a: &InstallSampleArgs) -> ExitCode {
    let file = a.dest.join("keepalived.conf");
    if file.exists() && !a.force {
        eprintln!(
            "keepalived-rs install-sample: {} exists; left as it is (--force replaces it)",
            file.display()
        );
        return ExitCode::from(1);
    }
    let result = std::fs::create_dir_all(&a.dest).and_then(|()| {
        let tmp = a.dest.join(".keepalived.conf.tmp");
        std::fs::write(&tmp, SAMPLE)?;
        std::fs::rename(&tmp, &file)
    });
    match result {
        Ok(()) => {
            println!(
                "installed {f}\n  check it:  keepalived-rs check {f}\n  run it:    keepalived-rs -f {f}",
                f = file.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "keepalived-rs install-sample: cannot write {}: {e}",
                file.display()
            );
            ExitCode::from(1)
        }
    }
}
