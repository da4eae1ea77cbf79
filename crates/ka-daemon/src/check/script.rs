//! Scripts of the checker: MISC_CHECK (`misc_path`, `misc_timeout`, `user`) and
//! `notify_up` / `notify_down`, run by the daemon's script runner (`crate::script`:
//! `script_user`, `keepalived_script`, `enable_script_security`, process groups, SIGTERM
//! then SIGKILL 2 s after the timeout, a bound on concurrent scripts).

use std::sync::Arc;
use std::time::Duration;

use ka_check::ScriptExit;
use ka_model::config::Config;
use ka_model::lvs::Script;
use tracing::warn;

use crate::script::{Outcome, Runner, ScriptPolicy};

/// The policy and runner the checker's scripts use.
#[derive(Debug, Clone)]
pub struct Scripts {
    policy: Arc<ScriptPolicy>,
    runner: Runner,
}

impl Scripts {
    /// From `global_defs` (`script_user`, `enable_script_security`).
    pub fn from_config(cfg: &Config) -> Result<Scripts, String> {
        let policy = ScriptPolicy::from_global(
            cfg.vrrp.global.script_user.as_ref(),
            cfg.vrrp.global.enable_script_security,
        )
        .map_err(|e| format!("script_user: {e}"))?;
        Ok(Scripts {
            policy: Arc::new(policy),
            runner: Runner::default(),
        })
    }

    async fn run(&self, script: &Script, timeout: Duration) -> Result<Outcome, String> {
        let p = self.policy.prepare(script).map_err(|e| e.to_string())?;
        Ok(self.runner.run(&p, &[], Some(timeout)).await)
    }

    /// Runs a MISC_CHECK script and reports how it ended. A script that cannot run
    /// (unknown user, refused by `enable_script_security`, exec failure) fails the check.
    pub async fn run_misc(&self, script: &Script, timeout: Duration) -> ScriptExit {
        match self.run(script, timeout).await {
            Ok(Outcome::Exited(c)) => ScriptExit::Exited(u8::try_from(c & 0xff).unwrap_or(1)),
            Ok(Outcome::Signaled(s)) => ScriptExit::Signaled(s),
            Ok(Outcome::TimedOut) => ScriptExit::TimedOut,
            Ok(Outcome::SpawnFailed(e)) | Err(e) => {
                warn!("MISC_CHECK {}: cannot run: {e}", script.path());
                ScriptExit::Exited(1)
            }
        }
    }

    /// Runs a notify script (the result is only logged).
    pub async fn run_notify(&self, script: &Script, timeout: Duration) {
        match self.run(script, timeout).await {
            Ok(o) if o.success() => {}
            Ok(o) => warn!("notify script {}: {o}", script.path()),
            Err(e) => warn!("notify script {}: cannot run: {e}", script.path()),
        }
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
        let s = Scripts::from_config(&Config::default()).unwrap();
        let t = Duration::from_secs(5);
        assert_eq!(s.run_misc(&sh("exit 0"), t).await, ScriptExit::Exited(0));
        assert_eq!(s.run_misc(&sh("exit 7"), t).await, ScriptExit::Exited(7));
        assert_eq!(
            s.run_misc(&sh("kill -9 $$"), t).await,
            ScriptExit::Signaled(9)
        );
        let start = std::time::Instant::now();
        assert_eq!(
            s.run_misc(&sh("sleep 30"), Duration::from_millis(200))
                .await,
            ScriptExit::TimedOut
        );
        assert!(start.elapsed() < Duration::from_secs(20));
        let missing = Script {
            argv: vec!["/nonexistent/script".into()],
            user: None,
            group: None,
        };
        assert_eq!(s.run_misc(&missing, t).await, ScriptExit::Exited(1));
        let nobody = Script {
            user: Some("no-such-user-ka".into()),
            ..sh("exit 0")
        };
        assert_eq!(s.run_misc(&nobody, t).await, ScriptExit::Exited(1));
    }
}
