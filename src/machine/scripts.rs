//! Scripts PID 1 runs (rc, rc.shutdown, rc.final, init_script, the hook): how they are
//! started and waited for.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::children::Role;
use crate::config;
use crate::kernel::{ChildStatus, Kernel, KernelError, KillSig, KillTarget, Pid, SpawnSpec, Stdio};
use crate::newroot;
use crate::settings;
use crate::signals::Request;

use super::{Init, Step};

/// How a script run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ScriptEnd {
    Done(ChildStatus),
    Missing,
    SpawnFailed(KernelError),
    Interrupted,
    TimedOut(Pid),
}

pub(super) fn describe(end: &ScriptEnd) -> String {
    match end {
        ScriptEnd::Done(s) => s.to_string(),
        ScriptEnd::Missing => "not found".into(),
        ScriptEnd::SpawnFailed(e) => format!("cannot start: {e}"),
        ScriptEnd::Interrupted => "interrupted by a request".into(),
        ScriptEnd::TimedOut(_) => "timed out".into(),
    }
}

impl<K: Kernel> Init<K> {
    pub(super) fn shell(&self) -> PathBuf {
        settings::init_shell(self.kenv())
            .warned()
            .unwrap_or_else(|| self.paths.shell.clone())
    }

    /// argv of a script: the script itself when it is executable, else the shell running it.
    pub(super) fn script_argv(&self, script: &Path, args: &[&str]) -> (PathBuf, Vec<String>) {
        if newroot::is_executable(script) {
            let mut argv = vec![script.display().to_string()];
            argv.extend(args.iter().map(|a| (*a).to_owned()));
            (script.to_path_buf(), argv)
        } else {
            self.shell_argv(script, args)
        }
    }

    /// argv of a script run by the shell: `init_shell script args…`.
    pub(super) fn shell_argv(&self, script: &Path, args: &[&str]) -> (PathBuf, Vec<String>) {
        let sh = self.shell();
        let mut argv = vec![sh.display().to_string(), script.display().to_string()];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        (sh, argv)
    }

    /// Run a script to completion (init.c `run_script`/`runshutdown`): start it on the
    /// console, then wait, reaping everything, until it ends, `interrupt` says a queued
    /// request must be acted on at once, or `timeout` passes.
    pub(super) fn run_script(
        &mut self,
        role: Role,
        script: &Path,
        args: &[&str],
        timeout: Option<Duration>,
        interrupt: fn(&Request) -> bool,
    ) -> Step<ScriptEnd> {
        match self.start_script(role, script, args, config::script_env()) {
            Ok(pid) => self.wait_script(pid, timeout, interrupt),
            Err(end) => Ok(end),
        }
    }

    /// Start a script on the console with this environment.
    pub(super) fn start_script(
        &mut self,
        role: Role,
        script: &Path,
        args: &[&str],
        env: Vec<(String, String)>,
    ) -> Result<Pid, ScriptEnd> {
        if !script.exists() {
            return Err(ScriptEnd::Missing);
        }
        let (file, argv) = self.script_argv(script, args);
        let mut spec = SpawnSpec {
            path: file,
            argv,
            env,
            stdio: Stdio::Console,
            script: true,
        };
        match self.spawn(role.clone(), &spec) {
            // init.c: when the direct exec fails (a noexec mount, a CRLF #! line, a bad
            // interpreter), the shell runs the script.
            Err(e) if spec.path == script => {
                tracing::warn!(
                    "can't directly exec {}: {e}; running it with the shell",
                    script.display()
                );
                (spec.path, spec.argv) = self.shell_argv(script, args);
                self.spawn(role, &spec).map_err(ScriptEnd::SpawnFailed)
            }
            r => r.map_err(ScriptEnd::SpawnFailed),
        }
    }

    /// Wait for a started script (see [`Init::run_script`]). After `Interrupted` the script
    /// still runs and can be waited for again.
    pub(super) fn wait_script(
        &mut self,
        pid: Pid,
        timeout: Option<Duration>,
        interrupt: fn(&Request) -> bool,
    ) -> Step<ScriptEnd> {
        let deadline = timeout.map(|t| self.k.now() + t);
        loop {
            let h = self.reap();
            if let Some(e) = h.ended.iter().find(|e| e.pid == pid) {
                return Ok(ScriptEnd::Done(e.status));
            }
            if self.requests.queued().any(interrupt) {
                return Ok(ScriptEnd::Interrupted);
            }
            let left = match deadline {
                Some(d) => {
                    let now = self.k.now();
                    if now >= d {
                        return Ok(ScriptEnd::TimedOut(pid));
                    }
                    Some(d - now)
                }
                None => None,
            };
            self.wait(left)?;
        }
    }

    /// A script ran past its timeout: SIGKILL to it and its process group. Every script
    /// leads its own session, so the group holds what it started and did not detach (a
    /// daemon that called setsid, as daemon(3) does, has left it).
    pub(super) fn kill_script(&mut self, script: &Path, pid: Pid) {
        tracing::warn!("timeout expired for {}: killing it", script.display());
        let killed = self
            .k
            .kill(KillTarget::Group(pid), KillSig::Kill)
            .or_else(|_| self.k.kill(KillTarget::Pid(pid), KillSig::Kill));
        if let Err(e) = killed {
            tracing::warn!("{e}");
        }
    }
}
