//! Reroot: phase one in the running init, phase two in the trampoline (`init -r`).
//!
//! Phase one (the default order, "transactional") does everything that can fail while the
//! system still runs: stage the tmpfs and copy PID 1's executable into it, run the hook's
//! `prepare` phase, find and probe-mount the target read-only, check its init. Any failure
//! runs the hook's `abort` phase, undoes the mounts and returns: every service keeps running
//! with its pid. Then the point of no return: revoke ttys, `/etc/rc.shutdown single`, stop
//! every process except the survivors, exec the copy as `init -r`.
//!
//! Phase two switches the root (FreeBSD `reboot(RB_REROOT)`; Linux mount + switch) and execs
//! each entry of the init path. Past the point of no return PID 1 never exits: every failure
//! ends in single-user mode on whatever root is mounted.
//!
//! The order `kill-first` (kenv `reinit.reroot_order`) is FreeBSD's and nbd-init's: stop
//! everything first, then run the hook and the checks; a failure then leaves single-user mode
//! on the old root.

use std::path::{Path, PathBuf};

use crate::children::Role;
use crate::config::{self, keys};
use crate::kernel::{Kernel, KernelError};
use crate::newroot::{self, HookError, NewRootError, Record, TargetError};
use crate::settings::{self, RerootOrder as Order};
use crate::signals::Action;

use super::probe::Target;
use super::scripts::{describe, ScriptEnd};
use super::{pid1_env, Init, State, Step};

/// The trampoline's name inside the staging area.
pub(super) const TRAMPOLINE: &str = "init";

/// Where the target is mounted inside the staging area (probe, then Linux phase two).
pub(super) const NEWROOT: &str = "root";

/// Why a reroot did not happen. Each names the step and the cause; see the README for what
/// each leaves behind.
#[derive(Debug, thiserror::Error)]
pub enum RerootError {
    /// The staging tmpfs could not be mounted.
    #[error("stage: {0}")]
    Stage(KernelError),
    /// The staging directory, or a staging area found mounted, is not one only root
    /// controls.
    #[error("stage: {0}: refused")]
    StageRefused(String),
    /// PID 1's executable could not be copied into the staging area.
    #[error("stage: copy of init: {0}")]
    Copy(String),
    /// The hook is not trusted.
    #[error("hook: {0}: refused")]
    HookRefused(HookError),
    /// The hook failed.
    #[error("hook: {0}")]
    HookFailed(String),
    /// The hook ran past its timeout and was killed.
    #[error("hook: timed out after {0} s")]
    HookTimedOut(u64),
    /// `vfs.root.mountfrom` is not set.
    #[error("target: {} is not set", keys::MOUNTFROM)]
    NoTarget,
    /// `vfs.root.mountfrom` does not parse.
    #[error("target: {0}")]
    BadTarget(TargetError),
    /// The device did not appear in time.
    #[error("target: {0}: no such device")]
    NoDevice(PathBuf),
    /// The probe mount failed.
    #[error("target: {0}: {1}")]
    Mount(String, KernelError),
    /// The probe could not be unmounted.
    #[error("target: probe: {0}")]
    Unmount(KernelError),
    /// The new root cannot be switched to.
    #[error("init: {0}")]
    NewRoot(NewRootError),
    /// A shutdown was asked for before the point of no return; it goes ahead instead.
    #[error("{0:?} requested meanwhile")]
    ShutdownRequested(Action),
}

impl<K: Kernel> Init<K> {
    /// A reroot request: phase one. Returns `None` when the reroot was aborted (the caller
    /// carries on where it was) and the next state otherwise (single-user after a failure
    /// past the point of no return; on success this process is replaced).
    pub(super) fn reroot(&mut self) -> Step<Option<State>> {
        self.merge_reroot_requests("this one");
        let order = self.reroot_order();
        tracing::warn!("reroot requested ({order:?} order)");
        let dir = self.paths.reroot_dir.clone();
        let mut record = Record {
            count: Record::load(&dir).map_or(0, |r| r.count) + 1,
            ..Record::default()
        };
        if self.falling_back.is_some() {
            record.fallback = true;
        } else {
            self.arm_confirmation(&mut record);
        }
        let t = self.k.now();
        let staged_here = match self.stage(&dir) {
            Ok(m) => m,
            Err(e) => {
                return self.abort_reroot(&dir, false, false, &e);
            }
        };
        let trampoline = match self.install_trampoline(&dir) {
            Ok(t) => t,
            Err(e) => {
                return self.abort_reroot(&dir, staged_here, false, &e);
            }
        };
        record.lap("stage", self.k.now().saturating_sub(t));
        // What was written: checked again just before the exec.
        let written = self.file_identity(&trampoline.0);
        let mut target = None;
        if order == Order::Transactional {
            let prepared = self.prepare(&dir, &mut record)?.and_then(|tg| {
                // The last look before the point of no return.
                self.collect_requests();
                match self.shutdown_queued() {
                    Some(a) => Err((RerootError::ShutdownRequested(a), true)),
                    None => Ok(tg),
                }
            });
            match prepared {
                Ok(tg) => target = Some(tg),
                Err((e, hook_ran)) => {
                    return self.abort_reroot(&dir, staged_here, hook_ran, &e);
                }
            }
        }
        self.merge_reroot_requests("this one");
        tracing::warn!("reroot: point of no return: stopping every process but the survivors");
        let t = self.k.now();
        self.revoke_ttys();
        self.runshutdown()?;
        record.lap("shutdown", self.k.now().saturating_sub(t));
        let t = self.k.now();
        self.stop_all_but_survivors(&dir)?;
        record.lap("kill", self.k.now().saturating_sub(t));
        let target = match target {
            Some(t) => t,
            None => match self.prepare(&dir, &mut record)? {
                Ok(t) => t,
                Err((e, _)) => {
                    tracing::error!("reroot failed: {e}; going to single user mode");
                    return Ok(Some(State::SingleUser));
                }
            },
        };
        record.target = Some(format!("{}:{}", target.spec.fstype, target.spec.device));
        record.options.clone_from(&target.spec.options);
        record.read_only = target.spec.read_only;
        if let Err(e) = record.save(&dir) {
            tracing::warn!("reroot: cannot write the record in {}: {e}", dir.display());
        }
        // A shutdown asked for after the point of no return (while rc.shutdown ran or
        // processes were stopped) is done here instead of switching.
        self.collect_requests();
        if let Some(state) = self.shutdown_instead("switching") {
            return Ok(Some(state));
        }
        let (path, argv, env) = trampoline;
        // Only the file PID 1 wrote and checked, unchanged, is exec'd as PID 1.
        let now = self.file_identity(&path);
        if now.is_none() || now != written {
            tracing::error!(
                "reroot: {} is not the file written at the stage step; switching from this process instead",
                path.display()
            );
            return Ok(Some(self.reroot_phase_two()));
        }
        tracing::info!("reroot: exec {}", argv.join(" "));
        // What is still queued, and what arrives during the exec, reaches the trampoline.
        let e = self.exec_holding_requests(&path, &argv, &env);
        tracing::error!("reroot: {e}; switching from this process instead");
        Ok(Some(self.reroot_phase_two()))
    }

    /// Phase two, in the trampoline (`init -r`), or in phase one's process when the exec of
    /// the trampoline failed. Returns only to go to single-user mode.
    pub(super) fn reroot_phase_two(&mut self) -> State {
        let dir = self.paths.reroot_dir.clone();
        let mut record = Record::load(&dir).unwrap_or_default();
        let t = self.k.now();
        let target = match self.phase_two_target(&record) {
            Ok(spec) => spec,
            Err(e) => {
                tracing::error!("reroot failed: {e}; going to single user mode");
                return State::SingleUser;
            }
        };
        match self.k.switch_root(&target, &dir.join(NEWROOT)) {
            Ok(warnings) => {
                for w in warnings {
                    tracing::warn!("reroot: {w}");
                }
            }
            Err(e) => {
                tracing::error!("reroot failed: {e}; going to single user mode");
                return State::SingleUser;
            }
        }
        record.lap("switch", self.k.now().saturating_sub(t));
        if let Err(e) = record.save(&dir) {
            tracing::warn!("reroot: cannot write the record in {}: {e}", dir.display());
        }
        // Its problems were logged by phase one's probe.
        let init = settings::init_path(self.kenv(), &self.k.default_init_path()).value;
        let env = pid1_env();
        // A shutdown asked for during the switch (or carried from phase one) is done by
        // this process, on the new root: the new root's init may not be reinit.
        self.collect_requests();
        if let Some(state) = self.shutdown_instead("starting the new root's init") {
            return state;
        }
        for p in init.search {
            let argv = vec![p.display().to_string()];
            let e = self.exec_successor(&p, &argv, &env);
            tracing::warn!("reroot: {e}");
        }
        tracing::error!(
            "reroot: cannot exec init from {}; going to single user mode",
            init.list
        );
        // A reroot that asked for confirmation falls back instead (see `fallback`).
        self.arm_deadline(Some(record));
        State::SingleUser
    }

    /// Log what the previous reroot left in the staging area (a new init after a reroot),
    /// and hand it on.
    pub(super) fn report_previous_reroot(&self) -> Option<Record> {
        let r = Record::load(&self.paths.reroot_dir)?;
        tracing::info!("{}", r.summary());
        Some(r)
    }

    pub(super) fn reroot_order(&self) -> Order {
        settings::reroot_order(self.kenv()).warned()
    }

    /// The hook's `prepare` phase and the target checks. The error says whether the hook ran
    /// (so that its `abort` phase runs).
    pub(super) fn prepare(
        &mut self,
        dir: &Path,
        record: &mut Record,
    ) -> Step<Result<Target, (RerootError, bool)>> {
        let t = self.k.now();
        let hook_ran = match newroot::trust_hook(&|p: &Path| self.k.lstat(p), &self.paths.rc_reroot)
        {
            Err(e) => return Ok(Err((RerootError::HookRefused(e), false))),
            Ok(None) => {
                tracing::info!("reroot: no {} (optional)", self.paths.rc_reroot.display());
                false
            }
            Ok(Some(hook)) => {
                if let Err(e) = self.run_hook(&hook, "prepare", dir)? {
                    return Ok(Err((e, true)));
                }
                true
            }
        };
        record.lap("hook", self.k.now().saturating_sub(t));
        let t = self.k.now();
        let target = self.probe_target(dir)?.map_err(|e| (e, hook_ran));
        record.lap("probe", self.k.now().saturating_sub(t));
        Ok(target)
    }

    /// Run `/etc/rc.reroot autoboot` with `REROOT_PHASE=phase`, bounded by the hook timeout.
    /// A hook that never mentions `REROOT_PHASE` (nbd-init's) only knows how to prepare: its
    /// `abort` and `stop` phases are skipped rather than attaching the devices again.
    pub(super) fn run_hook(
        &mut self,
        hook: &Path,
        phase: &str,
        dir: &Path,
    ) -> Step<Result<(), RerootError>> {
        if phase != "prepare" && !newroot::hook_knows_phases(hook) {
            tracing::info!(
                "reroot: {} does not read REROOT_PHASE (nbd-init style): no {phase} phase",
                hook.display()
            );
            return Ok(Ok(()));
        }
        let mut env = config::script_env();
        env.push(("REROOT_DIR".into(), dir.display().to_string()));
        env.push(("REROOT_PHASE".into(), phase.into()));
        if self.falling_back.is_some() {
            // A fallback's prepare and abort: the previous root's devices are still there.
            env.push(("REROOT_FALLBACK".into(), "1".into()));
        }
        let timeout = settings::hook_timeout(self.kenv()).warned();
        tracing::info!("reroot: {} ({phase})", hook.display());
        let end = match self.start_script(Role::Hook, hook, &["autoboot"], env) {
            Ok(pid) => self.wait_script(pid, Some(timeout), |_| false)?,
            Err(end) => end,
        };
        Ok(match end {
            ScriptEnd::Done(s) if s.success() => Ok(()),
            ScriptEnd::TimedOut(pid) => {
                self.kill_script(hook, pid);
                Err(RerootError::HookTimedOut(timeout.as_secs()))
            }
            end => Err(RerootError::HookFailed(format!(
                "{} {phase}: {}",
                hook.display(),
                describe(&end)
            ))),
        })
    }

    /// Undo a failed phase one: the hook's `abort` phase, the staging tmpfs if this attempt
    /// mounted it and nothing runs from it. Nothing was stopped. `None`: carry on where it
    /// was; single-user mode when it was a fallback that failed.
    pub(super) fn abort_reroot(
        &mut self,
        dir: &Path,
        staged_here: bool,
        hook_ran: bool,
        e: &RerootError,
    ) -> Step<Option<State>> {
        if hook_ran {
            if let Some(hook) = self.hook_for("abort") {
                if let Err(e) = self.run_hook(&hook, "abort", dir)? {
                    tracing::warn!("reroot: {e}");
                }
            }
        }
        if staged_here {
            let users = self.survivors(dir);
            if users.as_ref().is_some_and(Vec::is_empty) {
                if let Err(e) = self.k.unmount(dir, false) {
                    tracing::warn!("reroot: {e}");
                }
            } else {
                tracing::warn!(
                    "reroot: {} stays mounted: survivors may run from it",
                    dir.display()
                );
            }
        }
        self.merge_reroot_requests("the aborted one");
        let shutdown = matches!(e, RerootError::ShutdownRequested(_));
        if let Some(f) = self.falling_back.take().filter(|_| !shutdown) {
            tracing::error!(
                "reroot #{} to {} was not confirmed, and the fallback to {} failed: {e}; going to single user mode",
                f.count,
                f.from,
                f.target
            );
            return Ok(Some(State::SingleUser));
        }
        let then = match e {
            RerootError::ShutdownRequested(_) => "the shutdown goes ahead",
            _ => "the system keeps running",
        };
        tracing::error!("reroot aborted: {e}; {then}");
        Ok(None)
    }

    /// The hook for a phase after `prepare`, every reason not to run it logged.
    pub(super) fn hook_for(&self, phase: &str) -> Option<PathBuf> {
        match newroot::trust_hook(&|p: &Path| self.k.lstat(p), &self.paths.rc_reroot) {
            Ok(Some(hook)) => Some(hook),
            Ok(None) => {
                tracing::info!(
                    "reroot: no {}: no {phase} phase",
                    self.paths.rc_reroot.display()
                );
                None
            }
            Err(e) => {
                tracing::error!("reroot: {e}: the hook's {phase} phase cannot run");
                None
            }
        }
    }
}
