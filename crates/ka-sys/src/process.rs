//! Processes the daemon starts (notify, track and check scripts) and watches
//! (`track_process`): user look-ups, dropping to a script user in the child, process
//! group signals, notify FIFOs and a bounded `/proc` scan.
//!
//! Nothing here decides anything: the daemon's script runner (`ka-daemon`) chooses the
//! user, the timeout and what an exit status means.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{killpg, Signal};
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Group, Pid, Uid, User};

/// Who a child runs as: user, primary group and supplementary groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name (for logs).
    pub user: String,
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Supplementary groups (the user's, from the group database).
    pub groups: Vec<u32>,
}

impl Credentials {
    /// root:root without supplementary groups.
    pub fn root() -> Self {
        Self {
            user: "root".into(),
            uid: 0,
            gid: 0,
            groups: Vec::new(),
        }
    }
}

/// Looks up `user` (and `group`, default: the user's primary group) in the user and group
/// databases; `Ok(None)` when the user does not exist. The supplementary groups are the
/// user's (`getgrouplist`).
pub fn lookup_user(user: &str, group: Option<&str>) -> io::Result<Option<Credentials>> {
    let Some(u) = User::from_name(user).map_err(io::Error::from)? else {
        return Ok(None);
    };
    let gid = match group {
        Some(g) => match Group::from_name(g).map_err(io::Error::from)? {
            Some(g) => g.gid,
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("group {g} does not exist"),
                ))
            }
        },
        None => u.gid,
    };
    let cname = CString::new(user).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let groups = nix::unistd::getgrouplist(&cname, gid)
        .map_err(io::Error::from)?
        .into_iter()
        .map(Gid::as_raw)
        .collect();
    Ok(Some(Credentials {
        user: user.to_owned(),
        uid: u.uid.as_raw(),
        gid: gid.as_raw(),
        groups,
    }))
}

/// Whether this process runs with effective uid 0.
pub fn is_root() -> bool {
    Uid::effective().is_root()
}

/// The effective uid and gid of this process.
pub fn current_ids() -> (u32, u32) {
    (Uid::effective().as_raw(), Gid::effective().as_raw())
}

/// Makes `cmd` run as `creds` (supplementary groups, then gid, then uid, in the child
/// before `exec`) in a new process group of its own (so a timeout can kill everything it
/// started). Only changes credentials when they differ from this process's.
// The pre-exec hook is the only way to set supplementary groups before exec.
#[allow(unsafe_code)]
pub fn prepare_command(cmd: &mut std::process::Command, creds: &Credentials) {
    cmd.process_group(0);
    let (uid, gid) = current_ids();
    if creds.uid == uid && creds.gid == gid && !is_root() {
        return;
    }
    let groups: Vec<libc::gid_t> = creds.groups.clone();
    let (new_uid, new_gid) = (creds.uid, creds.gid);
    let closure = move || -> io::Result<()> {
        // Only async-signal-safe system calls, no allocation: the vector was built before
        // the fork.
        // SAFETY: `groups` points at `groups.len()` valid gid_t values for the call.
        if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: plain system calls with integer arguments.
        if unsafe { libc::setgid(new_gid) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above.
        if unsafe { libc::setuid(new_uid) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the closure runs in the forked child before exec and only calls
    // setgroups/setgid/setuid (async-signal-safe) on data owned by the closure.
    unsafe {
        cmd.pre_exec(closure);
    }
}

/// Restores the default action of `SIGPIPE` (the Rust runtime ignores it), for the
/// one-shot commands: `keepalived-rs check --dump FILE | head` then ends quietly on the
/// closed pipe as other Unix tools do, instead of failing a write (`println!` panics on
/// `EPIPE`). The daemon keeps it ignored: a closed control-socket client or script pipe
/// must never kill it.
#[allow(unsafe_code)]
pub fn default_sigpipe() {
    // SAFETY: SIG_DFL installs no handler (no code runs in signal context); called at the
    // start of `main`, before any other thread exists.
    let _ =
        unsafe { nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl) };
}

/// Sends `SIGTERM` (or `SIGKILL` when `kill`) to the process group `pgid`. `ESRCH` (the
/// group is gone) is not an error.
pub fn signal_group(pgid: u32, kill: bool) -> io::Result<()> {
    let Ok(raw) = i32::try_from(pgid) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "pid out of range",
        ));
    };
    if raw <= 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing pid <= 1",
        ));
    }
    let sig = if kill {
        Signal::SIGKILL
    } else {
        Signal::SIGTERM
    };
    match killpg(Pid::from_raw(raw), sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Opens a notify FIFO for writing without blocking (read-write, non-blocking, as
/// keepalived does: a missing reader never blocks the daemon and writes to a full FIFO
/// fail with `WouldBlock`). Creates it (mode 0600) when it does not exist; the flag says
/// whether it was created here (keepalived removes only FIFOs it created).
pub fn open_fifo(path: &Path) -> io::Result<(File, bool)> {
    let mut created = false;
    match std::fs::symlink_metadata(path) {
        Ok(m) => {
            use std::os::unix::fs::FileTypeExt;
            if !m.file_type().is_fifo() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} exists and is not a FIFO", path.display()),
                ));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            nix::unistd::mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR).map_err(io::Error::from)?;
            created = true;
        }
        Err(e) => return Err(e),
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(
            nix::fcntl::OFlag::O_NONBLOCK.bits()
                | nix::fcntl::OFlag::O_NOFOLLOW.bits()
                | nix::fcntl::OFlag::O_CLOEXEC.bits(),
        )
        .open(path)?;
    Ok((f, created))
}

/// Changes the owner of a path (notify FIFOs created for a `username [groupname]`).
pub fn chown(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
}

/// One running process as `track_process` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Process id.
    pub pid: u32,
    /// `/proc/PID/comm` (the process name, at most 15 bytes).
    pub comm: String,
    /// `/proc/PID/cmdline` split at NULs (empty for kernel threads); only read when asked.
    pub cmdline: Vec<String>,
}

/// Most processes one scan reads (a bound on the work of one scan).
pub const MAX_SCAN: usize = 65_536;

/// Lists the running processes from `/proc` (zombies excluded, as keepalived does), with
/// their command lines when `cmdline` is set. Bounded to [`MAX_SCAN`] entries; processes
/// that exit during the scan are skipped.
pub fn scan_processes(cmdline: bool) -> io::Result<Vec<ProcInfo>> {
    scan_processes_in(Path::new("/proc"), cmdline)
}

fn scan_processes_in(root: &Path, cmdline: bool) -> io::Result<Vec<ProcInfo>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root)?.take(MAX_SCAN) {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let dir: PathBuf = entry.path();
        // `/proc/PID/stat`: "pid (comm) S ..."; the state after the last ')'.
        let Ok(stat) = std::fs::read(dir.join("stat")) else {
            continue;
        };
        let state = stat
            .iter()
            .rposition(|&b| b == b')')
            .and_then(|i| stat.get(i + 2).copied());
        if matches!(state, Some(b'Z') | Some(b'X') | None) {
            continue;
        }
        let Ok(comm) = std::fs::read(dir.join("comm")) else {
            continue;
        };
        let comm = String::from_utf8_lossy(comm.strip_suffix(b"\n").unwrap_or(&comm)).into_owned();
        let cmdline = if cmdline {
            match std::fs::read(dir.join("cmdline")) {
                Ok(c) => c
                    .strip_suffix(b"\0")
                    .unwrap_or(&c)
                    .split(|&b| b == 0)
                    .filter(|_| !c.is_empty())
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect(),
                Err(_) => continue,
            }
        } else {
            Vec::new()
        };
        out.push(ProcInfo { pid, comm, cmdline });
    }
    Ok(out)
}

/// Hands the heap's free pages back to the kernel (glibc's `malloc_trim(0)`). Loading a
/// large configuration and building the first data-plane table peak far above what the
/// daemon keeps; glibc keeps that peak resident unless asked. No effect on other C
/// libraries.
#[allow(unsafe_code)]
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; any pad value is
    // valid and the call has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn root_exists_and_scan_finds_this_process() {
        let root = lookup_user("root", None).unwrap().unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(lookup_user("no-such-user-ka-test", None).unwrap().is_none());
        let procs = scan_processes(true).unwrap();
        let me = std::process::id();
        let p = procs
            .iter()
            .find(|p| p.pid == me)
            .expect("own process listed");
        assert!(!p.comm.is_empty());
        assert!(!p.cmdline.is_empty());
    }

    #[test]
    fn fifo_is_created_and_never_blocks() {
        let dir = std::env::temp_dir().join(format!("ka-sys-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let (mut f, created) = open_fifo(&path).unwrap();
        assert!(created);
        use std::io::Write;
        // No reader but ourselves: writing fills the pipe, then fails with WouldBlock.
        let mut wrote = 0usize;
        let err = loop {
            match f.write(&[b'x'; 4096]) {
                Ok(n) => wrote += n,
                Err(e) => break e,
            }
            assert!(wrote < 16 << 20, "FIFO never filled");
        };
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        let (_, created) = open_fifo(&path).unwrap();
        assert!(!created);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
