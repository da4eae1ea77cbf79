//! Scripts of the checker: MISC_CHECK (`misc_path`, `misc_timeout`, `user`) and
//! `notify_up` / `notify_down`.
//!
//! Kept behind [`run_misc`] and [`run_notify`] so the daemon's generic script runner
//! (`script_user`, `enable_script_security`) can replace the body in one place.
//! Scripts run without a shell (argv as configured), in their own process group, as the
//! configured user/group when given; on timeout the group gets SIGTERM and, 2 s later,
//! SIGKILL (keepalived's behaviour).

use std::time::Duration;

use ka_check::ScriptExit;
use ka_model::lvs::Script;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Group, Pid, User};
use tokio::process::Command;
use tracing::warn;

/// Grace between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Runs a MISC_CHECK script and reports how it ended.
pub async fn run_misc(script: &Script, timeout: Duration) -> ScriptExit {
    match run(script, timeout).await {
        Ok(e) => e,
        Err(e) => {
            warn!("MISC_CHECK {}: cannot run: {e}", script.path());
            // keepalived's child exits with a failure status when exec fails.
            ScriptExit::Exited(1)
        }
    }
}

/// Runs a notify script (the result is only logged).
pub async fn run_notify(script: &Script, timeout: Duration) {
    match run(script, timeout).await {
        Ok(ScriptExit::Exited(0)) => {}
        Ok(other) => warn!("notify script {}: {other:?}", script.path()),
        Err(e) => warn!("notify script {}: cannot run: {e}", script.path()),
    }
}

async fn run(script: &Script, timeout: Duration) -> Result<ScriptExit, String> {
    let Some((prog, args)) = script.argv.split_first() else {
        return Err("empty command".into());
    };
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(u) = &script.user {
        let user = User::from_name(u)
            .map_err(|e| format!("user {u}: {e}"))?
            .ok_or_else(|| format!("no user {u}"))?;
        let gid = match &script.group {
            Some(g) => {
                Group::from_name(g)
                    .map_err(|e| format!("group {g}: {e}"))?
                    .ok_or_else(|| format!("no group {g}"))?
                    .gid
            }
            None => user.gid,
        };
        cmd.uid(user.uid.as_raw()).gid(gid.as_raw());
    }
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let pgid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .map(Pid::from_raw);
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => Ok(exit_of(status)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => {
            if let Some(p) = pgid {
                let _ = killpg(p, Signal::SIGTERM);
            }
            if tokio::time::timeout(KILL_GRACE, child.wait())
                .await
                .is_err()
            {
                if let Some(p) = pgid {
                    let _ = killpg(p, Signal::SIGKILL);
                }
                let _ = child.wait().await;
            }
            Ok(ScriptExit::TimedOut)
        }
    }
}

fn exit_of(status: std::process::ExitStatus) -> ScriptExit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => ScriptExit::Exited(u8::try_from(c & 0xff).unwrap_or(u8::MAX)),
        (None, Some(s)) => ScriptExit::Signaled(s),
        (None, None) => ScriptExit::Exited(u8::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(cmd: &str) -> Script {
        Script {
            argv: vec!["/bin/sh".into(), "-c".into(), cmd.into()],
            user: None,
            group: None,
        }
    }

    #[tokio::test]
    async fn exit_codes_signals_and_timeouts() {
        let t = Duration::from_secs(5);
        assert_eq!(run_misc(&sh("exit 0"), t).await, ScriptExit::Exited(0));
        assert_eq!(run_misc(&sh("exit 7"), t).await, ScriptExit::Exited(7));
        assert_eq!(
            run_misc(&sh("kill -9 $$"), t).await,
            ScriptExit::Signaled(9)
        );
        let start = std::time::Instant::now();
        assert_eq!(
            run_misc(&sh("sleep 30"), Duration::from_millis(200)).await,
            ScriptExit::TimedOut
        );
        assert!(start.elapsed() < Duration::from_secs(20));
        let missing = Script {
            argv: vec!["/nonexistent/script".into()],
            user: None,
            group: None,
        };
        assert_eq!(run_misc(&missing, t).await, ScriptExit::Exited(1));
    }
}
