//! The `single_user` and `runcom` states.

use std::path::PathBuf;

use crate::children::Role;
use crate::config;
use crate::kernel::{ChildStatus, Kernel, SpawnSpec, Stdio};
use crate::passwd::{self, RootPassword};
use crate::settings;
use crate::signals::{Action, Request};
use crate::ttys::{self};

use super::requests::interrupts_rc;
use super::scripts::{describe, ScriptEnd};
use super::{Init, RuncomMode, State, Step};

impl<K: Kernel> Init<K> {
    /// Run the system startup script (init.c `runcom`).
    pub(super) fn runcom(&mut self) -> Step<State> {
        let script = settings::init_rc(self.kenv())
            .warned()
            .unwrap_or_else(|| self.paths.rc.clone());
        let args: &[&str] = match self.runcom_mode {
            RuncomMode::Autoboot => &["autoboot"],
            RuncomMode::Fastboot => &[],
        };
        let mut env = config::script_env();
        if self.came_back {
            // The system is back on the root it left, after a reroot that was not confirmed.
            env.push(("REROOT_FALLBACK".into(), "1".into()));
        }
        let end = match self.start_script(Role::Rc, &script, args, env) {
            Ok(pid) => loop {
                match self.wait_script(pid, None, interrupts_rc)? {
                    // init.c leaves rc running during a reroot; when the reroot aborts, rc
                    // is still being waited for.
                    ScriptEnd::Interrupted if self.take_request(Request::Reroot) => {
                        if let Some(s) = self.reroot()? {
                            return Ok(s);
                        }
                    }
                    end => break end,
                }
            },
            Err(end) => end,
        };
        Ok(match end {
            ScriptEnd::Done(s) if s.success() => {
                self.runcom_mode = RuncomMode::Autoboot;
                State::ReadTtys
            }
            ScriptEnd::Interrupted => self.follow_requests()?.unwrap_or(State::Runcom),
            end => {
                // A shutdown requested while rc ran (e.g. rc ran reboot(8)) goes first; a
                // ^Z or a rescan it asked for has no state to apply to any more.
                self.drop_stale_requests(&script.display().to_string());
                if let Some(s) = self.follow_requests()? {
                    return Ok(s);
                }
                tracing::error!(
                    "{}: {}; going to single user mode",
                    script.display(),
                    describe(&end)
                );
                State::SingleUser
            }
        })
    }

    // ----------------------------------------------------------------------------------
    // The states

    /// Bring the system up single user (init.c `single_user`).
    pub(super) fn single_user(&mut self) -> Step<State> {
        if let Some(Action::Reboot(how)) = self.requests.action() {
            match self.final_reboot(how)? {
                Some(s) => return Ok(s),
                None => self.requests.clear_action(), // reboot failed: give the operator a shell
            }
        }
        let started = self.k.now();
        // init_shell, then the default shell, then /rescue/sh (init.c tries _PATH_BSHELL
        // after the configured shell).
        let mut pid = None;
        for spec in self.single_user_specs() {
            match self.spawn(Role::Shell, &spec) {
                Ok(p) => {
                    pid = Some(p);
                    break;
                }
                Err(e) => tracing::error!("single user: cannot start {}: {e}", spec.path.display()),
            }
        }
        let Some(pid) = pid else {
            tracing::error!(
                "single user: no shell could be started; retrying in {} s",
                config::STALL_TIMEOUT.as_secs()
            );
            return self.stall(State::SingleUser);
        };
        // init.c clears the requested transition once the shell runs.
        self.drop_stale_requests("single user");
        loop {
            let h = self.reap();
            if let Some(e) = h.ended.iter().find(|e| e.pid == pid) {
                return match e.status {
                    ChildStatus::Signaled(libc::SIGKILL) => {
                        tracing::warn!(
                            "single user shell killed (by reboot(8)?); waiting {} s",
                            config::STALL_TIMEOUT.as_secs()
                        );
                        self.stall(State::SingleUser)
                    }
                    ChildStatus::Signaled(sig) => {
                        let quick =
                            self.k.now().saturating_sub(started) < config::SHELL_QUICK_DEATH;
                        self.quick_shell_deaths = if quick {
                            self.quick_shell_deaths + 1
                        } else {
                            0
                        };
                        if self.quick_shell_deaths >= config::SHELL_QUICK_DEATHS {
                            self.quick_shell_deaths = 0;
                            tracing::error!(
                                "single user shell keeps dying at once (signal {sig}); retrying in {} s",
                                config::STALL_TIMEOUT.as_secs()
                            );
                            return self.stall(State::SingleUser);
                        }
                        tracing::warn!("single user shell terminated by signal {sig}, restarting");
                        Ok(State::SingleUser)
                    }
                    _ => {
                        self.quick_shell_deaths = 0;
                        self.runcom_mode = RuncomMode::Fastboot;
                        Ok(State::Runcom)
                    }
                };
            }
            if let Some(s) = self.follow_requests()? {
                return Ok(s);
            }
            self.wait(None)?;
        }
    }

    /// The shells for single-user mode, in the order to try them: `init_shell` (or the
    /// default), the default shell, the rescue shell; behind the password prompt when the
    /// console is insecure and root has a password (FreeBSD SECURE).
    pub(super) fn single_user_specs(&self) -> Vec<SpawnSpec> {
        let mut shells = vec![self.shell(), self.paths.shell.clone()];
        shells.push(self.paths.rescue_shell.clone());
        shells.dedup();
        shells
            .into_iter()
            .map(|shell| self.single_user_spec(shell))
            .collect()
    }

    /// One of [`Init::single_user_specs`].
    pub(super) fn single_user_spec(&self, shell: PathBuf) -> SpawnSpec {
        let ask = !self.console_secure()
            && match passwd::root_password(&self.paths.passwd_db) {
                Ok(RootPassword::Hash(_) | RootPassword::Locked) => true,
                Ok(RootPassword::None) => false,
                Err(e) => {
                    tracing::error!("single user: {e}; starting the shell without a password");
                    false
                }
            };
        let (path, argv) = if ask {
            let helper = vec![
                "reinit".into(),
                "sulogin".into(),
                self.paths.passwd_db.display().to_string(),
                shell.display().to_string(),
            ];
            (self.k.self_exe(), helper)
        } else {
            (shell, vec!["-sh".into()])
        };
        SpawnSpec {
            path,
            argv,
            env: config::script_env(),
            stdio: Stdio::Console,
            script: false,
        }
    }

    /// Whether the `console` line of /etc/ttys says `secure`. No ttys file: insecure is the
    /// safe reading only when root has a password, which the caller checks.
    pub(super) fn console_secure(&self) -> bool {
        ttys::read(&self.paths.ttys).is_ok_and(|(entries, _)| ttys::console_is_secure(&entries))
    }
}
