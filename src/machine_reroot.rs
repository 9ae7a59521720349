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

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{describe, pid1_env, Init, ScriptEnd, State};
use crate::children::Role;
use crate::config::{self, keys};
use crate::kernel::{Kernel, KernelError, KillSig, KillTarget, MountSpec, ProcInfo, SwitchKind};
use crate::newroot::{self, HookError, NewRootError, Record, TargetError};
use crate::signals::{Action, Request};

/// The trampoline's name inside the staging area.
const TRAMPOLINE: &str = "init";
/// Where the target is mounted inside the staging area (probe, then Linux phase two).
const NEWROOT: &str = "root";
/// How often the stop loop looks for processes that are not PID 1's children.
const POLL: Duration = Duration::from_millis(100);

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

/// The order of the reroot steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Hook and checks before anything is stopped (default).
    Transactional,
    /// FreeBSD's and nbd-init's: stop everything, then hook and checks.
    KillFirst,
}

/// The validated target.
struct Target {
    spec: MountSpec,
}

impl<K: Kernel> Init<K> {
    /// A reroot request: phase one. Returns `None` when the reroot was aborted (the caller
    /// carries on where it was) and the next state otherwise (single-user after a failure
    /// past the point of no return; on success this process is replaced).
    pub(super) fn reroot(&mut self) -> Option<State> {
        self.merge_reroot_requests("this one");
        let order = self.reroot_order();
        tracing::warn!("reroot requested ({order:?} order)");
        let dir = self.paths.reroot_dir.clone();
        let mut record = Record {
            count: Record::load(&dir).map_or(0, |r| r.count) + 1,
            ..Record::default()
        };
        let t = self.k.now();
        let staged_here = match self.stage(&dir) {
            Ok(m) => m,
            Err(e) => {
                self.abort_reroot(&dir, false, false, &e);
                return None;
            }
        };
        let trampoline = match self.install_trampoline(&dir) {
            Ok(t) => t,
            Err(e) => {
                self.abort_reroot(&dir, staged_here, false, &e);
                return None;
            }
        };
        record.lap("stage", self.k.now().saturating_sub(t));
        // What was written: checked again just before the exec.
        let written = file_identity(&trampoline.0);
        let mut target = None;
        if order == Order::Transactional {
            let prepared = self.prepare(&dir, &mut record).and_then(|tg| {
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
                    self.abort_reroot(&dir, staged_here, hook_ran, &e);
                    return None;
                }
            }
        }
        self.merge_reroot_requests("this one");
        tracing::warn!("reroot: point of no return: stopping every process but the survivors");
        let t = self.k.now();
        self.revoke_ttys();
        self.runshutdown();
        record.lap("shutdown", self.k.now().saturating_sub(t));
        let t = self.k.now();
        self.stop_all_but_survivors(&dir);
        record.lap("kill", self.k.now().saturating_sub(t));
        if self.idle {
            return Some(State::SingleUser);
        }
        let target = match target {
            Some(t) => t,
            None => match self.prepare(&dir, &mut record) {
                Ok(t) => t,
                Err((e, _)) => {
                    tracing::error!("reroot failed: {e}; going to single user mode");
                    return Some(State::SingleUser);
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
            return Some(state);
        }
        let (path, argv, env) = trampoline;
        // Only the file PID 1 wrote and checked, unchanged, is exec'd as PID 1.
        let now = file_identity(&path);
        if now.is_none() || now != written {
            tracing::error!(
                "reroot: {} is not the file written at the stage step; switching from this process instead",
                path.display()
            );
            return Some(self.reroot_phase_two());
        }
        tracing::info!("reroot: exec {}", argv.join(" "));
        // What is still queued, and what arrives during the exec, reaches the trampoline.
        let e = self.exec_holding_requests(&path, &argv, &env);
        tracing::error!("reroot: {e}; switching from this process instead");
        Some(self.reroot_phase_two())
    }

    /// Phase two, in the trampoline (`init -r`), or in phase one's process when the exec of
    /// the trampoline failed. Returns only to go to single-user mode.
    pub(super) fn reroot_phase_two(&mut self) -> State {
        let dir = self.paths.reroot_dir.clone();
        let mut record = Record::load(&dir).unwrap_or_default();
        let t = self.k.now();
        let switched = match self.k.switch_kind() {
            SwitchKind::Kernel => self.k.switch_root(None),
            SwitchKind::User => match self.phase_two_target(&record) {
                Ok(spec) => {
                    let newroot = dir.join(NEWROOT);
                    match self.k.mount(&spec, &newroot) {
                        Ok(()) => self.k.switch_root(Some(&newroot)),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => {
                    tracing::error!("reroot failed: {e}; going to single user mode");
                    return State::SingleUser;
                }
            },
        };
        match switched {
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
        let list = self
            .k
            .kenv(keys::INIT_PATH)
            .unwrap_or_else(|| self.k.default_init_path());
        let env = pid1_env();
        // A shutdown asked for during the switch (or carried from phase one) is done by
        // this process, on the new root: the new root's init may not be reinit.
        self.collect_requests();
        if let Some(state) = self.shutdown_instead("starting the new root's init") {
            return state;
        }
        for p in newroot::parse_init_path(&list).0 {
            let argv = vec![p.display().to_string()];
            let e = self.exec_successor(&p, &argv, &env);
            tracing::warn!("reroot: {e}");
        }
        tracing::error!("reroot: cannot exec init from {list}; going to single user mode");
        State::SingleUser
    }

    /// Log what the previous reroot left in the staging area (a new init after a reroot).
    pub(super) fn report_previous_reroot(&self) {
        if let Some(r) = Record::load(&self.paths.reroot_dir) {
            tracing::info!("{}", r.summary());
        }
    }

    fn reroot_order(&self) -> Order {
        match self.k.kenv(keys::REROOT_ORDER).as_deref() {
            None | Some("transactional") => Order::Transactional,
            Some("kill-first") => Order::KillFirst,
            Some(other) => {
                tracing::warn!(
                    "kenv {}={other}: not transactional or kill-first; using transactional",
                    keys::REROOT_ORDER
                );
                Order::Transactional
            }
        }
    }

    fn seconds(&self, key: &str, default: Duration) -> Duration {
        match self.k.kenv(key) {
            None => default,
            Some(v) => config::parse_seconds(key, &v).unwrap_or_else(|e| {
                tracing::warn!("{e}; using {} s", default.as_secs());
                default
            }),
        }
    }

    /// Mount the staging tmpfs, or reuse one that is still mounted (it may serve survivors).
    /// Returns whether it was mounted now. Only root may control the place: no symbolic link
    /// on the way (a tmpfs mounted through `/dev/reroot -> /etc` would hide /etc), every
    /// directory root's and writable by nobody else; a staging area found mounted must be a
    /// tmpfs, root's, and gets mode 0700 again.
    fn stage(&mut self, dir: &Path) -> Result<bool, RerootError> {
        let refused = |e: &dyn std::fmt::Display| RerootError::StageRefused(e.to_string());
        let exists = dir.symlink_metadata().is_ok();
        let checked = if exists {
            dir
        } else {
            dir.parent().unwrap_or(Path::new("/"))
        };
        newroot::root_controls(checked).map_err(|e| refused(&e))?;
        if exists && !dir.is_dir() {
            return Err(refused(&format!("{}: not a directory", dir.display())));
        }
        if self.k.is_mount_point(dir) {
            match self.k.fs_type(dir) {
                Some(t) if t == "tmpfs" => {}
                other => {
                    let t = other.unwrap_or_else(|| "unknown".into());
                    return Err(refused(&format!(
                        "{}: mounted {t}, not tmpfs",
                        dir.display()
                    )));
                }
            }
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| refused(&format!("{}: chmod 0700: {e}", dir.display())))?;
            tracing::info!("reroot: reusing the staging area {}", dir.display());
            return Ok(false);
        }
        self.k.mount_tmpfs(dir).map_err(RerootError::Stage)?;
        Ok(true)
    }

    /// Copy PID 1's executable (the running image, not argv\[0\]) into the staging area, with
    /// its loader and libraries when it is dynamic. Returns how to exec it as `init -r`.
    fn install_trampoline(&mut self, dir: &Path) -> Result<crate::carry::Invocation, RerootError> {
        let exe = self.k.self_exe();
        let copy_err = |e: String| RerootError::Copy(format!("{}: {e}", exe.display()));
        let mut env = pid1_env();
        let dynamic = newroot::interpreter_of(&exe).map_err(copy_err)?.is_some();
        let (path, mut argv) = if dynamic {
            let (root, system) = self.k.library_paths();
            let carried =
                crate::carry::carry_rooted(&exe.display().to_string(), dir, &system, &root)
                    .map_err(|e| copy_err(e.to_string()))?;
            let (path, argv, extra) = carried.invocation();
            env.retain(|(k, _)| !extra.iter().any(|(x, _)| x == k));
            env.extend(extra);
            (path, argv)
        } else {
            let data = std::fs::read(&exe).map_err(|e| copy_err(e.to_string()))?;
            let path = dir.join(TRAMPOLINE);
            // A previous reroot's copy: replace it (unlink never follows a symlink).
            if path.symlink_metadata().is_ok() {
                std::fs::remove_file(&path).map_err(|e| copy_err(e.to_string()))?;
            }
            self.k
                .create_file(&path, &data, 0o700)
                .map_err(|e| copy_err(e.to_string()))?;
            (path.clone(), vec![path.display().to_string()])
        };
        argv.push("-r".into());
        Ok((path, argv, env))
    }

    /// The hook's `prepare` phase and the target checks. The error says whether the hook ran
    /// (so that its `abort` phase runs).
    fn prepare(&mut self, dir: &Path, record: &mut Record) -> Result<Target, (RerootError, bool)> {
        let t = self.k.now();
        let hook_ran = match newroot::trust_hook(&self.paths.rc_reroot) {
            Err(e) => return Err((RerootError::HookRefused(e), false)),
            Ok(None) => {
                tracing::info!("reroot: no {} (optional)", self.paths.rc_reroot.display());
                false
            }
            Ok(Some(hook)) => {
                self.run_hook(&hook, "prepare", dir)
                    .map_err(|e| (e, true))?;
                true
            }
        };
        record.lap("hook", self.k.now().saturating_sub(t));
        let t = self.k.now();
        let target = self.probe_target(dir).map_err(|e| (e, hook_ran))?;
        record.lap("probe", self.k.now().saturating_sub(t));
        Ok(target)
    }

    /// Run `/etc/rc.reroot autoboot` with `REROOT_PHASE=phase`, bounded by the hook timeout.
    /// A hook that never mentions `REROOT_PHASE` (nbd-init's) only knows how to prepare: its
    /// `abort` and `stop` phases are skipped rather than attaching the devices again.
    fn run_hook(&mut self, hook: &Path, phase: &str, dir: &Path) -> Result<(), RerootError> {
        if phase != "prepare" && !newroot::hook_knows_phases(hook) {
            tracing::info!(
                "reroot: {} does not read REROOT_PHASE (nbd-init style): no {phase} phase",
                hook.display()
            );
            return Ok(());
        }
        let mut env = config::script_env();
        env.push(("REROOT_DIR".into(), dir.display().to_string()));
        env.push(("REROOT_PHASE".into(), phase.into()));
        let timeout = self.seconds(keys::HOOK_TIMEOUT, config::DEFAULT_HOOK_TIMEOUT);
        tracing::info!("reroot: {} ({phase})", hook.display());
        let end = match self.start_script(Role::Hook, hook, &["autoboot"], env) {
            Ok(pid) => self.wait_script(pid, Some(timeout), |_| false),
            Err(end) => end,
        };
        match end {
            ScriptEnd::Done(s) if s.success() => Ok(()),
            ScriptEnd::TimedOut(pid) => {
                // The hook leads its own session: its process group goes with it (a daemon
                // it started has left the group if it called setsid, as daemon(3) does).
                let killed = self
                    .k
                    .kill(KillTarget::Group(pid), KillSig::Kill)
                    .or_else(|_| self.k.kill(KillTarget::Pid(pid), KillSig::Kill));
                if let Err(e) = killed {
                    tracing::warn!("{e}");
                }
                Err(RerootError::HookTimedOut(timeout.as_secs()))
            }
            end => Err(RerootError::HookFailed(format!(
                "{} {phase}: {}",
                hook.display(),
                describe(&end)
            ))),
        }
    }

    /// Find the target (read after the hook, which may set it), wait for its device,
    /// probe-mount it read-only inside the staging area, check its init, unmount it. The
    /// first alternative that mounts is the one the kernel will use, so it must pass.
    fn probe_target(&mut self, dir: &Path) -> Result<Target, RerootError> {
        let value = self.k.kenv(keys::MOUNTFROM).ok_or(RerootError::NoTarget)?;
        let sources = newroot::parse_mountfrom(&value).map_err(RerootError::BadTarget)?;
        let options = self.k.kenv(keys::MOUNTFROM_OPTIONS).unwrap_or_default();
        let (read_only, options) = split_ro(&options);
        let list = self
            .k
            .kenv(keys::INIT_PATH)
            .unwrap_or_else(|| self.k.default_init_path());
        let search = newroot::parse_init_path(&list).0;
        let wait = self.seconds(keys::MOUNTROOT_TIMEOUT, config::DEFAULT_MOUNTROOT_TIMEOUT);
        let probe = dir.join(NEWROOT);
        if self.k.is_mount_point(&probe) {
            // An earlier probe that was given up on finished after all.
            tracing::warn!(
                "reroot: {} is mounted already: unmounting it",
                probe.display()
            );
            self.k.unmount(&probe, true).map_err(RerootError::Unmount)?;
        }
        let mut last = RerootError::NoTarget;
        // One deadline for the devices of every alternative: a long list of absent ones
        // costs vfs.mountroot.timeout in all, not that much each.
        let deadline = self.k.now() + wait;
        for s in sources {
            self.collect_requests();
            if let Some(a) = self.shutdown_queued() {
                return Err(RerootError::ShutdownRequested(a));
            }
            let name = format!("{}:{}", s.fstype, s.device);
            if let Some(node) = s.device_node() {
                if !self.wait_for(&node, deadline) {
                    if let Some(a) = self.shutdown_queued() {
                        return Err(RerootError::ShutdownRequested(a));
                    }
                    last = RerootError::NoDevice(node);
                    continue;
                }
            }
            let spec = MountSpec {
                fstype: s.fstype.clone(),
                device: s.device.clone(),
                options: options.clone(),
                read_only: true,
            };
            // In a child, bounded: a device whose daemon does not answer hangs the mount in
            // the kernel, and it must not hang PID 1.
            if let Err(e) = self.k.mount_bounded(&spec, &probe, wait) {
                if e.errno == nix::errno::Errno::ETIMEDOUT {
                    // The mount may still complete after the child was given up on.
                    let _ = self.k.unmount(&probe, true);
                    return Err(RerootError::Mount(name, e));
                }
                last = RerootError::Mount(name, e);
                continue;
            }
            // The new root's own shell: init_shell or /bin/sh inside it.
            let shell = config::shell(
                self.k.kenv(keys::INIT_SHELL),
                Path::new(config::DEFAULT_SHELL),
            );
            let needs = newroot::Needs::new(self.k.switch_kind() == SwitchKind::User, shell);
            let checked = newroot::check_new_root(&probe, &search, &needs);
            if let Err(e) = self.k.unmount(&probe, false) {
                // Something holds the new root: force it off and give up.
                if let Err(f) = self.k.unmount(&probe, true) {
                    tracing::error!("reroot: {f}");
                }
                return Err(RerootError::Unmount(e));
            }
            let init = checked.map_err(RerootError::NewRoot)?;
            tracing::info!("reroot: target {name} has {}", init.display());
            return Ok(Target {
                spec: MountSpec { read_only, ..spec },
            });
        }
        Err(last)
    }

    /// Wait until `deadline` for `path` to exist (a device the hook just attached); give up
    /// early when a shutdown is asked for.
    fn wait_for(&mut self, path: &Path, deadline: Duration) -> bool {
        loop {
            if path.exists() {
                return true;
            }
            let now = self.k.now();
            if now >= deadline
                || !self.wait(Some(POLL.min(deadline - now)))
                || self.shutdown_queued().is_some()
            {
                return path.exists();
            }
        }
    }

    /// The target again in phase two, from the record phase one left (or the kenv).
    fn phase_two_target(&self, record: &Record) -> Result<MountSpec, RerootError> {
        let (value, options, read_only) = match &record.target {
            Some(t) => (t.clone(), record.options.clone(), record.read_only),
            None => {
                let v = self.k.kenv(keys::MOUNTFROM).ok_or(RerootError::NoTarget)?;
                let o = self.k.kenv(keys::MOUNTFROM_OPTIONS).unwrap_or_default();
                let (ro, o) = split_ro(&o);
                (v, o, ro)
            }
        };
        let s = newroot::parse_mountfrom(&value)
            .map_err(RerootError::BadTarget)?
            .into_iter()
            .next()
            .ok_or(RerootError::NoTarget)?;
        Ok(MountSpec {
            fstype: s.fstype,
            device: s.device,
            options,
            read_only,
        })
    }

    /// Undo a failed phase one: the hook's `abort` phase, the staging tmpfs if this attempt
    /// mounted it and nothing runs from it. Nothing was stopped.
    fn abort_reroot(&mut self, dir: &Path, staged_here: bool, hook_ran: bool, e: &RerootError) {
        if hook_ran {
            if let Some(hook) = self.hook_for("abort") {
                if let Err(e) = self.run_hook(&hook, "abort", dir) {
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
        let then = match e {
            RerootError::ShutdownRequested(_) => "the shutdown goes ahead",
            _ => "the system keeps running",
        };
        tracing::error!("reroot aborted: {e}; {then}");
    }

    /// The shutdown a queued request asks for, if any (the request stays queued).
    fn shutdown_queued(&self) -> Option<Action> {
        self.requests
            .iter()
            .filter_map(|r| match r {
                Request::Death(a) | Request::DeathSingle(a) => Some(*a),
                _ => None,
            })
            .reduce(Action::merge)
    }

    /// Past the point of no return: when a shutdown was asked for (queued, or absorbed
    /// while processes were stopped), take it instead of `what`.
    fn shutdown_instead(&mut self, what: &str) -> Option<State> {
        self.merge_reroot_requests("this one");
        self.absorb_shutdown_requests();
        let a = self.action?;
        tracing::warn!("reroot: {a:?} requested during the reroot: done instead of {what}");
        Some(State::DeathSingle)
    }

    /// The hook for a phase after `prepare`, every reason not to run it logged.
    fn hook_for(&self, phase: &str) -> Option<PathBuf> {
        match newroot::trust_hook(&self.paths.rc_reroot) {
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

    /// Requests that came in before or during a reroot belong to it: one reroot answers
    /// them all, and an aborted one is not retried by the requests queued while it ran.
    fn merge_reroot_requests(&mut self, into: &str) {
        let more = self
            .requests
            .iter()
            .filter(|r| **r == Request::Reroot)
            .count();
        self.requests.retain(|r| *r != Request::Reroot);
        if more > 0 {
            tracing::info!("reroot: {more} further reroot request(s) merged into {into}");
        }
    }

    /// The processes a reroot must not touch: those running a file from the staging area
    /// (from that very tmpfs, not a look-alike path in another mount namespace), root's
    /// processes whose argv\[0\] starts with `@` (systemd's storage daemons), and every
    /// process of which that cannot be told. `None` when the process list itself cannot be
    /// had: then anyone may be a survivor. Both are logged.
    pub(super) fn survivors(&self, dir: &Path) -> Option<Vec<ProcInfo>> {
        let spare = Spare::new(dir);
        match self.k.processes() {
            Ok(ps) => Some(ps.into_iter().filter(|p| spare.spares(p)).collect()),
            Err(e) => {
                tracing::error!("cannot list processes ({e}): anyone may be a survivor");
                None
            }
        }
    }

    /// Stop every process but the survivors: SIGTERM, a bounded wait, SIGKILL, a bounded
    /// wait. Survivors receive no signal at all.
    pub(super) fn stop_all_but_survivors(&mut self, dir: &Path) {
        for p in self.survivors(dir).unwrap_or_default() {
            tracing::info!(
                "survivor {} ({}): {}",
                p.pid,
                label(&p),
                p.program
                    .as_deref()
                    .map_or(p.exe.as_deref().unwrap_or(Path::new("?")), Path::new)
                    .display()
            );
        }
        let spare = Spare::new(dir);
        self.stop_processes(|p| spare.spares(p));
    }

    /// SIGTERM, a bounded wait, SIGKILL, a bounded wait, to every process `spare` refuses;
    /// processes are looked for again at each step (new ones get the signal too).
    fn stop_processes(&mut self, spare: impl Fn(&ProcInfo) -> bool) {
        for sig in [KillSig::Term, KillSig::Kill] {
            let mut sent = std::collections::BTreeSet::new();
            let deadline = self.k.now() + config::DEATH_WATCH;
            loop {
                self.reap();
                self.absorb_shutdown_requests();
                let left: Vec<ProcInfo> = match self.k.processes() {
                    Ok(ps) => ps.into_iter().filter(|p| !spare(p)).collect(),
                    Err(e) => {
                        // Nobody can be told from a survivor: signal no one, and do not
                        // take silence for death.
                        tracing::error!("cannot list processes ({e}): nothing is stopped");
                        return;
                    }
                };
                if left.is_empty() {
                    return;
                }
                let mut new = false;
                for p in left.iter().filter(|p| sent.insert(p.pid)) {
                    new = true;
                    match self.k.kill(KillTarget::Pid(p.pid), sig) {
                        Ok(()) => {}
                        Err(e) if e.errno == nix::errno::Errno::ESRCH => {}
                        Err(e) => tracing::warn!("{e}"),
                    }
                }
                if new {
                    continue; // look again before waiting: some die at once
                }
                let now = self.k.now();
                if now >= deadline {
                    if sig == KillSig::Kill {
                        let names: Vec<String> = left
                            .iter()
                            .map(|p| format!("{} ({})", p.pid, label(p)))
                            .collect();
                        tracing::warn!("would not die: {}", names.join(", "));
                    }
                    break;
                }
                if !self.wait(Some(POLL.min(deadline - now))) {
                    return;
                }
            }
        }
    }
}

impl<K: Kernel> Init<K> {
    /// Shutdown of a system whose root may depend on survivors ("exitrd"), after everything
    /// else was stopped and synced: PID 1 locks itself in memory, unmounts every filesystem
    /// but the root, the API filesystems and the staging area, remounts the root read-only,
    /// and only then stops the survivors (the hook's `stop` phase, then SIGTERM/SIGKILL) and
    /// unmounts what the staging area holds. No-op without survivors.
    pub(super) fn exitrd(&mut self) -> bool {
        let dir = self.paths.reroot_dir.clone();
        if self.survivors(&dir).is_some_and(|s| s.is_empty()) {
            return false;
        }
        tracing::warn!(
            "shutdown: survivors run from {}: stopping them last",
            dir.display()
        );
        if let Err(e) = self.k.lock_memory() {
            tracing::warn!("shutdown: {e}");
        }
        let api = |m: &Path| {
            ["/dev", "/proc", "/sys", "/run"]
                .iter()
                .any(|a| m.starts_with(a))
                || m.starts_with(&dir)
                || m == Path::new("/")
        };
        let mounts = self.k.mounts().unwrap_or_else(|e| {
            tracing::error!("shutdown: cannot list mounts ({e}): none is unmounted");
            Vec::new()
        });
        for m in mounts.iter().rev().filter(|m| !api(m)) {
            if let Err(e) = self.k.unmount(m, false) {
                tracing::error!("shutdown: {e}; it stays mounted");
            }
        }
        self.k.sync();
        match self.k.remount_ro(Path::new("/")) {
            Ok(()) => tracing::info!("shutdown: / remounted read-only"),
            Err(e) => tracing::error!("shutdown: {e}; / stays read-write"),
        }
        self.k.sync();
        // The hook's stop phase first, with every survivor still running: an '@' daemon run
        // from the root may be the one serving it (nbd-client -systemd-mark), and / is
        // read-only now.
        if let Some(hook) = self.hook_for("stop") {
            if let Err(e) = self.run_hook(&hook, "stop", &dir) {
                tracing::warn!("shutdown: {e}");
            }
        }
        // Then the survivors. Those that run from outside the staging area get SIGKILL only:
        // their code may live on the device the hook has just stopped, and a SIGTERM handler
        // would page it in (I/O errors); SIGKILL runs none of their code.
        let spare = Spare::new(&dir);
        let outside: Vec<ProcInfo> = self
            .survivors(&dir)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.exe.is_some() && !spare.runs_from(p))
            .collect();
        for p in &outside {
            tracing::info!(
                "shutdown: SIGKILL to survivor {} ({}): it runs from outside {}",
                p.pid,
                label(p),
                dir.display()
            );
            if let Err(e) = self.k.kill(KillTarget::Pid(p.pid), KillSig::Kill) {
                tracing::warn!("shutdown: {e}");
            }
        }
        let outside: Vec<i32> = outside.iter().map(|p| p.pid).collect();
        self.stop_processes(|p| outside.contains(&p.pid));
        for m in mounts
            .iter()
            .rev()
            .filter(|m| m.starts_with(&dir) && **m != dir)
        {
            if let Err(e) = self.k.unmount(m, false) {
                tracing::error!("shutdown: {e}; it stays mounted");
            }
        }
        self.k.sync();
        true
    }
}

/// How a process is named in the log: its command name, or for a program run through its
/// copied loader, the program's name and the loader's.
fn label(p: &ProcInfo) -> String {
    match p
        .program
        .as_deref()
        .map(Path::new)
        .and_then(Path::file_name)
    {
        Some(prog) => format!("{} via {}", prog.to_string_lossy(), p.name),
        None => p.name.clone(),
    }
}

/// What identifies a file PID 1 is about to exec: device, inode, size, modification time,
/// owner, mode. `None` for anything but a regular file that only root can change (it is
/// not followed if it is a symbolic link).
fn file_identity(path: &Path) -> Option<(u64, u64, u64, i64, i64, u32)> {
    use std::os::unix::fs::MetadataExt;
    let m = path.symlink_metadata().ok()?;
    (m.is_file() && m.uid() == 0 && m.mode() & 0o022 == 0).then(|| {
        (
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.mode(),
        )
    })
}

/// The survivor rule of [`Init::survivors`], for one staging area.
struct Spare<'a> {
    dir: &'a Path,
    /// The device of the staging tmpfs: a survivor's executable must be on it.
    dev: Option<u64>,
}

impl<'a> Spare<'a> {
    fn new(dir: &'a Path) -> Self {
        use std::os::unix::fs::MetadataExt;
        Spare {
            dir,
            dev: std::fs::metadata(dir).ok().map(|m| m.dev()),
        }
    }

    /// Whether `p` must not be signalled: a survivor, or a process of which that cannot be
    /// told (unreadable executable, argv\[0\] or owner). Logged when unknown.
    fn spares(&self, p: &ProcInfo) -> bool {
        match self.classify(p) {
            Some(s) => s,
            None => {
                let unread: Vec<&str> = [
                    (p.exe.is_none(), "executable"),
                    (p.argv0.is_none(), "argv[0]"),
                    (p.uid.is_none(), "owner"),
                ]
                .iter()
                .filter_map(|(u, what)| u.then_some(*what))
                .collect();
                tracing::warn!(
                    "cannot tell whether {} ({}) is a survivor ({} unreadable): sparing it",
                    p.pid,
                    label(p),
                    unread.join(", ")
                );
                true
            }
        }
    }

    /// `Some(true)`: a survivor; `Some(false)`: certainly not; `None`: cannot be told.
    fn classify(&self, p: &ProcInfo) -> Option<bool> {
        if self.runs_from(p) {
            return Some(true);
        }
        let at = match (&p.argv0, p.uid) {
            (Some(a), _) if !a.starts_with('@') => Some(false),
            (Some(_), Some(uid)) => Some(uid == 0),
            _ => None,
        };
        match at {
            Some(true) => Some(true),
            Some(false) if p.exe.is_some() => Some(false),
            _ => None,
        }
    }

    /// Whether `p`'s executable lives in the staging area: its path is under it and, where
    /// the platform reports it, the file is on the staging tmpfs itself (a user's own tmpfs
    /// on /dev/reroot in a mount namespace of theirs shows the same path).
    fn runs_from(&self, p: &ProcInfo) -> bool {
        p.exe.as_deref().is_some_and(|e| e.starts_with(self.dir))
            && p.exe_dev.is_none_or(|d| Some(d) == self.dev)
    }
}

/// Take `ro`/`rw` out of a mount option list: read-only unless `rw` is given (FreeBSD always
/// mounts a new root read-only; on Linux `rw` is honoured).
fn split_ro(options: &str) -> (bool, String) {
    let mut ro = true;
    let mut rest = Vec::new();
    for o in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match o {
            "rw" => ro = false,
            "ro" => ro = true,
            other => rest.push(other),
        }
    }
    (ro, rest.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survivor_rule() {
        let dir = Path::new("/dev/reroot");
        let spare = Spare { dir, dev: Some(7) };
        let p = |exe: &str, argv0: &str, uid| ProcInfo {
            pid: 9,
            name: "x".into(),
            exe: Some(exe.into()),
            exe_dev: None,
            program: None,
            argv0: Some(argv0.into()),
            uid: Some(uid),
        };
        let yes = |p: &ProcInfo| spare.classify(p) == Some(true);
        let no = |p: &ProcInfo| spare.classify(p) == Some(false);
        assert!(yes(&p("/dev/reroot/nbd/ld.so", "ld.so", 1000)));
        assert!(yes(&p("/usr/bin/qemu-nbd", "@qemu-nbd", 0)));
        assert!(no(&p("/usr/bin/qemu-nbd", "@qemu-nbd", 1000)));
        assert!(no(&p("/dev/rerooted/x", "x", 0)));
        assert!(no(&p("/usr/sbin/sshd", "sshd", 0)));
        // The path under /dev/reroot is not enough: the file must be on the staging tmpfs.
        let elsewhere = ProcInfo {
            exe_dev: Some(8),
            program: None,
            ..p("/dev/reroot/x", "x", 1000)
        };
        assert!(no(&elsewhere));
        assert!(yes(&ProcInfo {
            exe_dev: Some(7),
            program: None,
            ..elsewhere
        }));
        // What cannot be read cannot rule a process out.
        let unknown = |f: fn(&mut ProcInfo)| {
            let mut q = p("/usr/sbin/sshd", "sshd", 0);
            f(&mut q);
            spare.classify(&q)
        };
        assert_eq!(unknown(|q| q.exe = None), None);
        assert_eq!(unknown(|q| q.argv0 = None), None);
        assert_eq!(unknown(|q| q.uid = None), Some(false));
        assert_eq!(
            unknown(|q| {
                q.argv0 = Some("@nbd".into());
                q.uid = None;
            }),
            None
        );
    }

    #[test]
    fn ro_unless_rw() {
        assert_eq!(split_ro(""), (true, String::new()));
        assert_eq!(split_ro("noatime, rw"), (false, "noatime".into()));
        assert_eq!(split_ro("rw,ro,acl"), (true, "acl".into()));
    }
}
