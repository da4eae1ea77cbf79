//! The script runner: notify scripts, `vrrp_script` track scripts and (later) MISC_CHECK.
//!
//! * The command line arrives split (`ka_model::vrrp::ScriptCmd::argv`, split by
//!   ka-config as keepalived splits it: white space, single quotes group words); a bare
//!   program name is looked up in `PATH` once, when the script is prepared.
//! * User (keepalived.conf(5)): the script's own `USER [GROUP]`, else `script_user`, else
//!   `keepalived_script` when that user exists, else the daemon's own user (root). The
//!   child gets the user's uid, its primary (or the given) group and its supplementary
//!   groups, and a process group of its own.
//! * `enable_script_security`: a script that runs as root (uid or gid 0) is refused when
//!   any part of its resolved path is not owned by root, or is a file or non-sticky
//!   directory writable by a non-root group or by everybody (keepalived's
//!   `check_script_secure`). Without the option such a script runs and a warning says why
//!   it is unsafe.
//! * A run never blocks the caller's loop (tokio::process); at most
//!   [`DEFAULT_MAX_CONCURRENT`] scripts run at once (later runs wait for a slot); after the
//!   timeout the process group gets SIGTERM and, [`KILL_GRACE`] later, SIGKILL (keepalived
//!   does the same), and the run counts as [`Outcome::TimedOut`].

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ka_model::vrrp::ScriptCmd;
use ka_sys::process::Credentials;
use tokio::sync::Semaphore;

/// Scripts running at once, at most (keepalived has no bound; a broken script run every
/// second must not exhaust the process table).
pub const DEFAULT_MAX_CONCURRENT: usize = 64;
/// Between SIGTERM and SIGKILL of a timed-out script's process group.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// keepalived's default script user, used when it exists and no `script_user` is given.
pub const DEFAULT_SCRIPT_USER: &str = "keepalived_script";
/// `PATH` searched for bare program names when the environment has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why a script cannot be run at all.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The command line is empty.
    #[error("empty command line")]
    Empty,
    /// The user (or group) given does not exist.
    #[error("user {0} does not exist")]
    UnknownUser(String),
    /// The user or group database could not be read.
    #[error("cannot look up user {user}: {err}")]
    Lookup {
        /// The user.
        user: String,
        /// What failed.
        err: std::io::Error,
    },
    /// The program was not found (or a part of its path is missing).
    #[error("cannot find script {0}")]
    NotFound(String),
    /// `enable_script_security` refuses a script run as root with an unsafe path.
    #[error("SECURITY VIOLATION - script {path} would run as root but {why}")]
    Insecure {
        /// The script.
        path: String,
        /// What is unsafe.
        why: String,
    },
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exited with this status.
    Exited(i32),
    /// Killed by this signal (not by us).
    Signaled(i32),
    /// Ran past its timeout and was killed.
    TimedOut,
    /// Could not be started (exec failure, credentials refused, ...).
    SpawnFailed(String),
}

impl Outcome {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        *self == Outcome::Exited(0)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Exited(c) => write!(f, "exit status {c}"),
            Outcome::Signaled(s) => write!(f, "killed by signal {s}"),
            Outcome::TimedOut => f.write_str("timed out"),
            Outcome::SpawnFailed(e) => write!(f, "cannot start: {e}"),
        }
    }
}

/// A script ready to run: program resolved, user looked up, security checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The program (absolute when found in `PATH`).
    pub program: PathBuf,
    /// Its arguments (without the program).
    pub args: Vec<String>,
    /// Who runs it.
    pub creds: Credentials,
    /// Why the script is unsafe, when `enable_script_security` is off and it runs anyway.
    pub insecure: Option<String>,
}

impl Prepared {
    /// The command line for logs.
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }
}

/// Who runs scripts by default and whether `enable_script_security` applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptPolicy {
    /// Who runs a script without a user of its own: `script_user`, set when the
    /// configuration is read; else empty until a script first needs it, then
    /// `keepalived_script`, else the daemon's own user (as keepalived, which only
    /// complains about a missing `keepalived_script` when there are scripts; a
    /// configuration without scripts loads no user database module at all).
    pub default_user: std::sync::OnceLock<Credentials>,
    /// `enable_script_security`.
    pub security: bool,
}

impl ScriptPolicy {
    /// keepalived.conf(5)'s defaults from `global_defs`; a `script_user` that does not
    /// exist is an error.
    pub fn from_global(
        script_user: Option<&(String, Option<String>)>,
        security: bool,
    ) -> Result<Self, ScriptError> {
        let default_user = match script_user {
            Some((u, g)) => std::sync::OnceLock::from(lookup(u, g.as_deref())?),
            None => std::sync::OnceLock::new(),
        };
        Ok(Self {
            default_user,
            security,
        })
    }

    /// Who runs a script without a user of its own; the first call may look up
    /// `keepalived_script` (and warn, once per policy, when it does not exist).
    fn default_creds(&self) -> &Credentials {
        self.default_user.get_or_init(|| {
            if let Ok(Some(c)) = ka_sys::process::lookup_user(DEFAULT_SCRIPT_USER, None) {
                return c;
            }
            let (uid, gid) = ka_sys::process::current_ids();
            tracing::warn!(
                "default user '{DEFAULT_SCRIPT_USER}' for script execution does not exist - \
                 scripts run as uid {uid}"
            );
            if uid == 0 {
                Credentials::root()
            } else {
                Credentials {
                    user: uid.to_string(),
                    uid,
                    gid,
                    groups: Vec::new(),
                }
            }
        })
    }

    /// Resolves the program, looks up the user, checks security.
    pub fn prepare(&self, cmd: &ScriptCmd) -> Result<Prepared, ScriptError> {
        let (first, rest) = cmd.argv.split_first().ok_or(ScriptError::Empty)?;
        let creds = match &cmd.user {
            Some(u) => lookup(u, cmd.group.as_deref())?,
            None => self.default_creds().clone(),
        };
        let program = resolve_program(first)?;
        let mut insecure = None;
        if creds.uid == 0 || creds.gid == 0 {
            if let Some(why) = unsafe_path(&program)? {
                if self.security {
                    return Err(ScriptError::Insecure {
                        path: program.display().to_string(),
                        why,
                    });
                }
                insecure = Some(why);
            }
        }
        Ok(Prepared {
            program,
            args: rest.to_vec(),
            creds,
            insecure,
        })
    }
}

fn lookup(user: &str, group: Option<&str>) -> Result<Credentials, ScriptError> {
    match ka_sys::process::lookup_user(user, group) {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(ScriptError::UnknownUser(user.to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ScriptError::UnknownUser(format!("{user} (group {e})")))
        }
        Err(err) => Err(ScriptError::Lookup {
            user: user.to_owned(),
            err,
        }),
    }
}

/// A path with a `/` is taken as is; a bare name is searched in `PATH`.
fn resolve_program(name: &str) -> Result<PathBuf, ScriptError> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_owned());
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(name);
        if let Ok(m) = std::fs::metadata(&p) {
            if m.is_file() && m.mode() & 0o111 != 0 {
                return Ok(p);
            }
        }
    }
    Err(ScriptError::NotFound(name.to_owned()))
}

/// keepalived's `check_script_secure` for a script run as root: every component of the
/// resolved path must be owned by root, and no file or non-sticky directory on it may be
/// writable by a non-root group or by everybody. `Some(reason)` when that fails.
pub fn unsafe_path(program: &Path) -> Result<Option<String>, ScriptError> {
    let real = std::fs::canonicalize(program)
        .map_err(|_| ScriptError::NotFound(program.display().to_string()))?;
    let mut cur = PathBuf::new();
    for c in real.components() {
        cur.push(c);
        let m = std::fs::metadata(&cur)
            .map_err(|_| ScriptError::NotFound(cur.display().to_string()))?;
        let mode = m.mode();
        if m.uid() != 0 {
            return Ok(Some(format!(
                "{} is owned by uid {}",
                cur.display(),
                m.uid()
            )));
        }
        let sticky_dir = m.is_dir() && mode & 0o1000 != 0;
        if !sticky_dir && ((m.gid() != 0 && mode & 0o020 != 0) || mode & 0o002 != 0) {
            return Ok(Some(format!(
                "{} is writable by {} (mode {:o})",
                cur.display(),
                if mode & 0o002 != 0 {
                    "everybody".to_owned()
                } else {
                    format!("group {}", m.gid())
                },
                mode & 0o7777
            )));
        }
    }
    Ok(None)
}

/// Runs prepared scripts with a bound on how many run at once.
#[derive(Debug, Clone)]
pub struct Runner {
    slots: Arc<Semaphore>,
}

impl Default for Runner {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_CONCURRENT)
    }
}

impl Runner {
    /// At most `max` scripts at once (at least 1).
    pub fn new(max: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max.max(1))),
        }
    }

    /// Runs `p` with `extra` arguments appended; waits for a free slot first. `timeout`
    /// `None` = no limit. Must be called inside a tokio runtime with process support.
    pub async fn run(&self, p: &Prepared, extra: &[String], timeout: Option<Duration>) -> Outcome {
        let Ok(_slot) = self.slots.acquire().await else {
            return Outcome::SpawnFailed("runner closed".into());
        };
        let mut child = match self.spawn(p, extra) {
            Ok(c) => c,
            Err(e) => return Outcome::SpawnFailed(e.to_string()),
        };
        let pid = child.id();
        let waited = match timeout {
            Some(t) => tokio::time::timeout(t, child.wait()).await.ok(),
            None => Some(child.wait().await),
        };
        match waited {
            Some(Ok(st)) => match (st.code(), st.signal()) {
                (Some(c), _) => Outcome::Exited(c),
                (None, Some(s)) => Outcome::Signaled(s),
                (None, None) => Outcome::SpawnFailed("unknown exit status".into()),
            },
            Some(Err(e)) => Outcome::SpawnFailed(e.to_string()),
            None => {
                if let Some(pid) = pid {
                    let _ = ka_sys::process::signal_group(pid, false);
                    if tokio::time::timeout(KILL_GRACE, child.wait())
                        .await
                        .is_err()
                    {
                        let _ = ka_sys::process::signal_group(pid, true);
                        let _ = child.wait().await;
                    } else {
                        // The leader is gone; children it left in the group go too.
                        let _ = ka_sys::process::signal_group(pid, true);
                    }
                }
                Outcome::TimedOut
            }
        }
    }

    /// Starts `p` in the background and returns the child (long-running helpers such as
    /// `notify_fifo_script`); the caller stops it with [`stop`].
    pub fn spawn(&self, p: &Prepared, extra: &[String]) -> std::io::Result<tokio::process::Child> {
        let mut cmd = std::process::Command::new(&p.program);
        cmd.args(&p.args)
            .args(extra)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        ka_sys::process::prepare_command(&mut cmd, &p.creds);
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(true);
        cmd.spawn()
    }
}

/// Stops a background child and its process group: SIGTERM, then SIGKILL after `grace`.
pub async fn stop(child: &mut tokio::process::Child, grace: Duration) {
    let Some(pid) = child.id() else { return };
    let _ = ka_sys::process::signal_group(pid, false);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = ka_sys::process::signal_group(pid, true);
        let _ = child.wait().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    struct Dir(PathBuf);
    impl Dir {
        fn new(tag: &str) -> Dir {
            let d = std::env::temp_dir().join(format!("ka-script-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
            Dir(d)
        }
        fn script(&self, name: &str, body: &str, mode: u32) -> PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn cmd(argv: &[&str]) -> ScriptCmd {
        ScriptCmd {
            argv: argv.iter().map(|s| (*s).to_owned()).collect(),
            user: None,
            group: None,
        }
    }

    /// Without `script_user` nobody is looked up until a script needs the default user
    /// (a configuration without scripts reads no user database and gets no warning).
    #[test]
    fn the_default_user_is_looked_up_only_when_a_script_needs_it() {
        let p = ScriptPolicy::from_global(None, false).unwrap();
        assert!(p.default_user.get().is_none());
        let prepared = p.prepare(&cmd(&["/bin/true"])).unwrap();
        assert_eq!(p.default_user.get(), Some(&prepared.creds));
        // A script with its own user does not need the default one.
        let p = ScriptPolicy::from_global(None, false).unwrap();
        let mut own = cmd(&["/bin/true"]);
        own.user = Some("root".into());
        p.prepare(&own).unwrap();
        assert!(p.default_user.get().is_none());
    }

    fn policy(security: bool) -> ScriptPolicy {
        ScriptPolicy {
            default_user: std::sync::OnceLock::from(Credentials::root()),
            security,
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn exit_codes_arguments_and_path_search() {
        let d = Dir::new("exit");
        let out = d.0.join("out");
        let s = d.script(
            "s",
            &format!("echo \"$@\" > {}\nexit $1", out.display()),
            0o755,
        );
        let p = policy(true)
            .prepare(&cmd(&[s.to_str().unwrap(), "3"]))
            .unwrap();
        assert_eq!(p.insecure, None);
        let r = Runner::new(2);
        let o = rt().block_on(r.run(&p, &["x y".into()], Some(Duration::from_secs(20))));
        assert_eq!(o, Outcome::Exited(3));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "3 x y\n");
        let t = policy(false).prepare(&cmd(&["true"])).unwrap();
        assert!(t.program.is_absolute(), "{:?}", t.program);
        let o = rt().block_on(r.run(&t, &[], None));
        assert!(o.success(), "{o}");
        assert!(matches!(
            policy(false).prepare(&cmd(&["no-such-program-ka"])),
            Err(ScriptError::NotFound(_))
        ));
        assert!(matches!(
            policy(false).prepare(&cmd(&["/nonexistent/x"])),
            Err(ScriptError::NotFound(_))
        ));
        // Not executable: prepared, but the exec fails.
        let noexec = d.script("noexec", "exit 0", 0o644);
        let p = policy(false)
            .prepare(&cmd(&[noexec.to_str().unwrap()]))
            .unwrap();
        assert!(matches!(
            rt().block_on(r.run(&p, &[], None)),
            Outcome::SpawnFailed(_)
        ));
    }

    #[test]
    fn timeout_kills_the_whole_process_group() {
        let d = Dir::new("timeout");
        let pidfile = d.0.join("pid");
        // The script starts a background child and waits; the child must die too.
        let s = d.script(
            "slow",
            &format!("sleep 300 &\necho $! > {}\nwait", pidfile.display()),
            0o755,
        );
        let p = policy(true).prepare(&cmd(&[s.to_str().unwrap()])).unwrap();
        let start = std::time::Instant::now();
        let o = rt().block_on(Runner::new(1).run(&p, &[], Some(Duration::from_millis(300))));
        assert_eq!(o, Outcome::TimedOut);
        assert!(start.elapsed() < Duration::from_secs(60));
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let pid = pid.trim();
        // Killed (or at worst a zombie about to be reaped by init).
        let gone = (0..500).any(|_| {
            let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let alive = !st.is_empty() && !st.contains(") Z");
            if alive {
                std::thread::sleep(Duration::from_millis(10));
            }
            !alive
        });
        assert!(gone, "background child {pid} survived the timeout");
    }

    #[test]
    fn concurrency_is_bounded() {
        let d = Dir::new("conc");
        let s = d.script("s", "sleep 0.3", 0o755);
        let p = policy(true).prepare(&cmd(&[s.to_str().unwrap()])).unwrap();
        let r = Runner::new(1);
        let start = std::time::Instant::now();
        let outs = rt().block_on(async {
            let a = r.run(&p, &[], Some(Duration::from_secs(30)));
            let b = r.run(&p, &[], Some(Duration::from_secs(30)));
            tokio::join!(a, b)
        });
        assert!(outs.0.success() && outs.1.success());
        // One slot: the runs were serialised.
        assert!(
            start.elapsed() >= Duration::from_millis(600),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn script_security_refuses_writable_scripts_and_directories() {
        assert!(
            ka_sys::process::is_root(),
            "these tests run as root (as CI does)"
        );
        let d = Dir::new("sec");
        let ok = d.script("ok", "exit 0", 0o755);
        let world = d.script("world", "exit 0", 0o757);
        assert!(policy(true).prepare(&cmd(&[ok.to_str().unwrap()])).is_ok());
        let e = policy(true)
            .prepare(&cmd(&[world.to_str().unwrap()]))
            .unwrap_err();
        assert!(matches!(e, ScriptError::Insecure { .. }), "{e}");
        assert!(e.to_string().contains("writable by everybody"), "{e}");
        // Without enable_script_security it runs, with a reason to warn about.
        let p = policy(false)
            .prepare(&cmd(&[world.to_str().unwrap()]))
            .unwrap();
        assert!(p.insecure.is_some());
        // A group-writable directory (non-root group, no sticky bit) on the path.
        let sub = d.0.join("sub");
        std::fs::create_dir(&sub).unwrap();
        let s = sub.join("s");
        std::fs::write(&s, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&sub, Some(0), Some(12345)).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o775)).unwrap();
        let e = policy(true)
            .prepare(&cmd(&[s.to_str().unwrap()]))
            .unwrap_err();
        assert!(e.to_string().contains("group 12345"), "{e}");
        // Owned by a non-root user.
        std::os::unix::fs::chown(&sub, Some(12345), Some(0)).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = policy(true)
            .prepare(&cmd(&[s.to_str().unwrap()]))
            .unwrap_err();
        assert!(e.to_string().contains("owned by uid 12345"), "{e}");
        // Not run as root: no check.
        let mut nobody = policy(true);
        nobody.default_user = std::sync::OnceLock::from(
            ka_sys::process::lookup_user("nobody", None)
                .unwrap()
                .expect("user nobody exists (Debian base-passwd)"),
        );
        assert!(nobody.prepare(&cmd(&[s.to_str().unwrap()])).is_ok());
    }

    #[test]
    fn runs_as_the_script_user_with_its_groups() {
        let d = Dir::new("user");
        let out = d.0.join("id");
        std::fs::set_permissions(&d.0, std::fs::Permissions::from_mode(0o777)).unwrap();
        let s = d.script(
            "s",
            &format!("id -u > {0}; id -g >> {0}; id -G >> {0}", out.display()),
            0o755,
        );
        let mut c = cmd(&[s.to_str().unwrap()]);
        c.user = Some("nobody".into());
        let p = policy(true).prepare(&c).unwrap();
        let o = rt().block_on(Runner::new(1).run(&p, &[], Some(Duration::from_secs(20))));
        assert!(o.success(), "{o}");
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], p.creds.uid.to_string());
        assert_eq!(lines[1], p.creds.gid.to_string());
        let mut want: Vec<String> = p.creds.groups.iter().map(u32::to_string).collect();
        let mut got: Vec<String> = lines[2].split_whitespace().map(str::to_owned).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "supplementary groups");
        assert_ne!(lines[0], "0");
    }
}
