//! Shutdown: `death` (rc.shutdown), `death_single` (stop every process), the final
//! reboot, and the shutdown of a system with reroot survivors.

use std::path::Path;
use std::time::Duration;

use crate::children::Role;
use crate::config::{self};
use crate::kernel::{Flush, Kernel, KillSig, KillTarget, ProcInfo, RebootHow};
use crate::signals::Action;

use super::scripts::{describe, ScriptEnd};
use super::stop::label;
use super::{Init, State, Step};
use crate::newroot::is_executable;

impl<K: Kernel> Init<K> {
    /// Bring the system down (init.c `death`): revoke the ttys, run /etc/rc.shutdown with
    /// its hard timeout.
    pub(super) fn death(&mut self) -> Step<State> {
        self.revoke_ttys();
        self.runshutdown()?;
        Ok(State::DeathSingle)
    }

    /// The hard timeout of /etc/rc.shutdown.
    pub(super) fn shutdown_timeout(&self) -> Duration {
        self.k
            .shutdown_timeout()
            .filter(|t| *t >= Duration::from_secs(2))
            .map_or(config::DEFAULT_SHUTDOWN_TIMEOUT, |t| {
                t.min(Duration::from_secs(config::MAX_SECONDS))
            })
    }

    /// Run /etc/rc.shutdown `reboot|single` (init.c `runshutdown`). Optional; bounded.
    pub(super) fn runshutdown(&mut self) -> Step<()> {
        let action = self.requests.action().unwrap_or(Action::Single);
        let script = self.paths.rc_shutdown.clone();
        let timeout = self.shutdown_timeout();
        let end = self.run_script(
            Role::Shutdown,
            &script,
            &[action.script_arg()],
            Some(timeout),
            |_| false,
        )?;
        self.absorb_shutdown_requests();
        match end {
            ScriptEnd::Done(s) if s.success() => {}
            ScriptEnd::Missing => {}
            ScriptEnd::TimedOut(pid) => self.kill_script(&script, pid),
            end => tracing::warn!("{}: {}", script.display(), describe(&end)),
        }
        Ok(())
    }

    /// Kill every process (init.c `death_single`): SIGTERM, wait, SIGKILL, wait; then
    /// single-user mode, which reboots if that was asked for.
    pub(super) fn death_single(&mut self) -> Step<State> {
        if let Err(e) = self.k.revoke(&self.paths.console.clone()) {
            tracing::debug!("{e}");
        }
        let dir = self.paths.reroot_dir.clone();
        // Survivors are spared here and stopped last, by exitrd.
        self.stop_all_but_survivors(&dir)?;
        self.sessions.clear();
        Ok(State::SingleUser)
    }

    /// The end: sync, /etc/rc.final, sync, reboot(2). `None` if reboot(2) failed.
    pub(super) fn final_reboot(&mut self, how: RebootHow) -> Step<Option<State>> {
        self.k.sync();
        let fin = self.paths.rc_final.clone();
        if is_executable(&fin) {
            let timeout = self.shutdown_timeout();
            match self.run_script(Role::Final, &fin, &[], Some(timeout), |_| false)? {
                ScriptEnd::Done(_) | ScriptEnd::Missing => {}
                ScriptEnd::TimedOut(pid) => self.kill_script(&fin, pid),
                end => tracing::warn!("{}: {}", fin.display(), describe(&end)),
            }
        }
        // After exitrd nothing may be written: the root's daemon may be gone.
        let flush = if self.exitrd()? {
            Flush::Nothing
        } else {
            Flush::Sync
        };
        tracing::info!("{how}");
        match self.k.reboot(how, flush) {
            Ok(()) => loop {
                // The kernel is taking the system down; only wait.
                self.wait(None)?;
                self.reap();
            },
            Err(e) => {
                tracing::error!("{e}; going to single user mode");
                Ok(None)
            }
        }
    }

    /// Shutdown of a system whose root may depend on survivors ("exitrd"), after everything
    /// else was stopped and synced: PID 1 locks itself in memory, unmounts every filesystem
    /// but the root, the API filesystems and the staging area, remounts the root read-only,
    /// and only then stops the survivors (the hook's `stop` phase, then SIGTERM/SIGKILL) and
    /// unmounts what the staging area holds. No-op without survivors.
    pub(super) fn exitrd(&mut self) -> Step<bool> {
        let dir = self.paths.reroot_dir.clone();
        if self.survivors(&dir).is_some_and(|s| s.is_empty()) {
            return Ok(false);
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
            if let Err(e) = self.run_hook(&hook, "stop", &dir)? {
                tracing::warn!("shutdown: {e}");
            }
        }
        // Then the survivors. Those that run from outside the staging area get SIGKILL only:
        // their code may live on the device the hook has just stopped, and a SIGTERM handler
        // would page it in (I/O errors); SIGKILL runs none of their code.
        let spare = self.spare(&dir);
        let outside: Vec<ProcInfo> = self
            .survivors_by(&spare)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| spare.runs_from(p) == Some(false))
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
        self.stop_processes(|p| outside.contains(&p.pid))?;
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
        Ok(true)
    }
}
