//! Start-up: the order of init.c `main()` after option parsing (`init_exec`, `init_script`,
//! `init_chroot`), and the exec of a successor init.

use std::path::Path;

use crate::children::Role;
use crate::kernel::{Kernel, KernelError, Program};
use crate::settings;
use crate::signals::{self};

use super::requests::interrupts_rc;
use super::scripts::{describe, ScriptEnd};
use super::{pid1_env, Flags, Idle, Init, RuncomMode, State, Step};

impl<K: Kernel> Init<K> {
    // ----------------------------------------------------------------------------------
    // Start-up and the transition loop

    /// The start-up sequence of init.c `main()` after option parsing: session, `init_exec`,
    /// `init_script`, `init_chroot`, devfs; returns the first state.
    pub fn boot(&mut self, flags: Flags) -> State {
        tracing::info!("starting (pid 1)");
        if let Err(e) = self.k.start() {
            tracing::error!("start-up: {e}");
        }
        if flags.fast {
            self.runcom_mode = RuncomMode::Fastboot;
        }
        if flags.reroot {
            // The trampoline: kenv init_exec, init_script and init_chroot belong to the
            // next init, not to this one.
            tracing::info!("reroot phase two");
            return self.reroot_phase_two();
        }
        let record = self.report_previous_reroot();
        self.arm_deadline(record);
        if self.came_back && self.undo_unconfirmed().is_err() {
            return State::SingleUser; // the fake kernel ran out of events
        }
        // /dev and /proc before anything runs: an initramfs has no devtmpfs of its own, and
        // init_script needs /dev/null and a console as much as rc does.
        for e in self.k.early_mounts() {
            tracing::warn!("early mounts: {e}");
        }
        if let Some(path) = settings::init_exec(self.kenv()).errored() {
            self.init_exec(&path);
        }
        let mut first = if flags.single {
            State::SingleUser
        } else {
            State::Runcom
        };
        match self.init_script() {
            Ok(Some(s)) => first = s,
            Ok(None) => {}
            // The fake kernel ran out of events while init_script ran.
            Err(Idle) => return State::SingleUser,
        }
        if let Some(dir) = settings::init_chroot(self.kenv()).warned() {
            match self.k.chroot(&dir) {
                // The new root's own /dev (init.c mounts devfs after the chroot).
                Ok(()) => {
                    for e in self.k.early_mounts() {
                        tracing::warn!("early mounts: {e}");
                    }
                }
                Err(e) => tracing::warn!("init_chroot: {e}; staying in /"),
            }
        }
        first
    }

    /// kenv `init_exec`: replace PID 1 by this program, directly if it is executable, else
    /// through the shell. If that fails, start-up continues (init.c would exit and panic).
    pub(super) fn init_exec(&mut self, path: &Path) {
        let (file, argv) = self.script_argv(path, &[]);
        tracing::info!("init_exec: replacing pid 1 with {}", path.display());
        let e = self.exec_successor(&file, &argv, &pid1_env());
        tracing::error!("init_exec: {e}; continuing normal start-up");
    }

    /// Replace PID 1 by the init at `path` (kenv `init_exec`, the new root's init). A reinit
    /// receives the queued requests, and those that arrive during the exec, as pending
    /// signals ([`Init::exec_holding_requests`]). Any other init starts with the empty
    /// signal mask the kernel gives PID 1: it may unblock signals before it has handlers,
    /// and the kernel drops default-disposition signals sent to init, so what is queued is
    /// not passed on (logged). Returns only if the exec failed.
    pub(super) fn exec_successor(
        &mut self,
        path: &Path,
        argv: &[String],
        env: &[(String, String)],
    ) -> KernelError {
        if self.k.is_reinit(path) {
            return self.exec_holding_requests(path, argv, env);
        }
        self.collect_requests();
        if !self.requests.is_empty() {
            tracing::warn!(
                "{} is not a reinit: {} queued request(s) are not passed on to it",
                path.display(),
                self.requests.len()
            );
        }
        self.k.exec(Program { path, argv, env }, None)
    }

    /// Exec a reinit with every request still queued, and every signal that arrives during
    /// the exec, pending for it. On failure they come back to this process.
    pub(super) fn exec_holding_requests(
        &mut self,
        path: &Path,
        argv: &[String],
        env: &[(String, String)],
    ) -> KernelError {
        self.collect_requests();
        let carry: Vec<crate::kernel::Sig> = self
            .requests
            .drain()
            .into_iter()
            .map(signals::signal_of)
            .collect();
        self.k.exec(Program { path, argv, env }, Some(&carry))
    }

    /// kenv `init_script`: run it first; failure, or a value that cannot name it, means
    /// single-user. Returns the state to start in when it is not the default.
    pub(super) fn init_script(&mut self) -> Step<Option<State>> {
        let script = settings::init_script(self.kenv());
        let bad = !script.problems.is_empty();
        let path = script.errored();
        if bad {
            return Ok(Some(State::SingleUser));
        }
        let Some(path) = path else {
            return Ok(None);
        };
        Ok(
            match self.run_script(Role::InitScript, &path, &[], None, interrupts_rc)? {
                ScriptEnd::Done(s) if s.success() => None,
                ScriptEnd::Interrupted => {
                    Some(self.follow_requests()?.unwrap_or(State::SingleUser))
                }
                end => {
                    tracing::error!(
                        "init_script {}: {}; going to single user mode",
                        path.display(),
                        describe(&end)
                    );
                    Some(State::SingleUser)
                }
            },
        )
    }
}
