//! Stopping processes: which processes a reroot spares (survivors) and the stopper that
//! signals every other one.

use std::path::Path;

use crate::config;
use crate::kernel::{Errno, Kernel, KillSig, KillTarget, ProcInfo};

use super::{Init, Step, POLL};

/// How a process is named in the log: its command name, or for a program run through its
/// copied loader, the program's name and the loader's.
/// init.c's warning about processes that survived SIGKILL.
fn report_undead(left: &[ProcInfo]) {
    if !left.is_empty() {
        let names: Vec<String> = left
            .iter()
            .map(|p| format!("{} ({})", p.pid, label(p)))
            .collect();
        tracing::warn!(
            "some processes would not die; ps axl advised: {}",
            names.join(", ")
        );
    }
}

pub(super) fn label(p: &ProcInfo) -> String {
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

/// The survivor rule of [`Init::survivors`], for one staging area.
pub(super) struct Spare<'a> {
    dir: &'a Path,
    /// The device of the staging tmpfs: a survivor's executable must be on it.
    dev: Option<u64>,
    /// Whether the platform reports the device of a process's executable (Linux). Where it
    /// does, a path under the staging area whose device could not be read cannot be told
    /// from a look-alike; where it does not (FreeBSD), the path decides.
    devices_reported: bool,
}

impl<'a> Spare<'a> {
    pub(super) fn new(dir: &'a Path, devices_reported: bool) -> Self {
        use std::os::unix::fs::MetadataExt;
        Spare {
            dir,
            dev: std::fs::metadata(dir).ok().map(|m| m.dev()),
            devices_reported,
        }
    }

    /// Whether `p` must not be signalled: a survivor, or a process of which that cannot be
    /// told (unreadable executable, argv\[0\] or owner). Logged when unknown.
    pub(super) fn spares(&self, p: &ProcInfo) -> bool {
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
    pub(super) fn classify(&self, p: &ProcInfo) -> Option<bool> {
        let from = self.runs_from(p);
        if from == Some(true) {
            return Some(true);
        }
        let at = match (&p.argv0, p.uid) {
            (Some(a), _) if !a.starts_with('@') => Some(false),
            (Some(_), Some(uid)) => Some(uid == 0),
            _ => None,
        };
        match at {
            Some(true) => Some(true),
            Some(false) if from == Some(false) => Some(false),
            _ => None,
        }
    }

    /// Whether `p`'s executable lives in the staging area: its path is under it and, where
    /// the platform reports it, the file is on the staging tmpfs itself (a user's own tmpfs
    /// on /dev/reroot in a mount namespace of theirs shows the same path). `None` when that
    /// cannot be told: no executable path, or a path under the staging area whose device
    /// the platform reports but could not be read. A path elsewhere answers `false` whatever
    /// its device.
    pub(super) fn runs_from(&self, p: &ProcInfo) -> Option<bool> {
        if !p.exe.as_deref()?.starts_with(self.dir) {
            return Some(false);
        }
        match p.exe_dev {
            Some(d) => Some(Some(d) == self.dev),
            None if self.devices_reported => None,
            None => Some(true),
        }
    }
}

impl<K: Kernel> Init<K> {
    /// The processes a reroot must not touch: those running a file from the staging area
    /// (from that very tmpfs, not a look-alike path in another mount namespace), root's
    /// processes whose argv\[0\] starts with `@` (systemd's storage daemons), and every
    /// process of which that cannot be told. `None` when the process list itself cannot be
    /// had: then anyone may be a survivor. Both are logged.
    pub(super) fn survivors(&self, dir: &Path) -> Option<Vec<ProcInfo>> {
        self.survivors_by(&self.spare(dir))
    }

    /// The survivor rule for the staging area `dir` on this kernel.
    pub(super) fn spare<'a>(&self, dir: &'a Path) -> Spare<'a> {
        Spare::new(dir, self.k.reports_exe_devices())
    }

    /// [`Init::survivors`] by a rule already made.
    pub(super) fn survivors_by(&self, spare: &Spare) -> Option<Vec<ProcInfo>> {
        match self.k.processes() {
            Ok(ps) => Some(ps.into_iter().filter(|p| spare.spares(p)).collect()),
            Err(e) => {
                tracing::error!("cannot list processes ({e}): anyone may be a survivor");
                None
            }
        }
    }

    /// Stop every process but the survivors of `dir`: SIGTERM, a bounded wait, SIGKILL, a
    /// bounded wait (init.c `death_single`). With no survivor at all, each signal goes to
    /// every process at once (kill(-1)); otherwise by pid, and survivors receive no signal.
    /// When the process list cannot be had, anyone may be a survivor: nothing is signalled.
    pub(super) fn stop_all_but_survivors(&mut self, dir: &Path) -> Step<()> {
        let spare = self.spare(dir);
        let survivors = self.survivors_by(&spare);
        // kill(-1) reaches whoever the list missed: only when no survivor can exist, that is
        // when there is no staging area to run one from (it has no device). With one, a
        // list that came back empty or short (a /proc that is not procfs, a read cut short)
        // spares what it missed instead of killing it.
        if survivors.as_ref().is_some_and(Vec::is_empty) && spare.dev.is_none() {
            return self.stop_everyone();
        }
        for p in survivors.unwrap_or_default() {
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
        self.stop_processes(|p| spare.spares(p))
    }

    /// The fast path of [`Init::stop_all_but_survivors`]: kill(-1) also reaches processes
    /// that appear meanwhile; waiting ends when no child is left.
    fn stop_everyone(&mut self) -> Step<()> {
        for sig in [KillSig::Term, KillSig::Kill] {
            match self.k.kill(KillTarget::All, sig) {
                Ok(()) => {}
                Err(e) if e.errno == Errno::ESRCH => break,
                Err(e) => tracing::error!("{e}"),
            }
            let deadline = self.k.now() + config::DEATH_WATCH;
            loop {
                let h = self.reap();
                self.absorb_shutdown_requests();
                if h.none_left {
                    break;
                }
                let now = self.k.now();
                if now >= deadline {
                    break;
                }
                self.wait(Some(deadline - now))?;
            }
        }
        match self.k.processes() {
            Ok(left) => report_undead(&left),
            Err(e) => tracing::error!("cannot list processes: {e}"),
        }
        Ok(())
    }

    /// SIGTERM, a bounded wait, SIGKILL, a bounded wait, to every process `spare` refuses;
    /// processes are looked for again at each step (new ones get the signal too).
    pub(super) fn stop_processes(&mut self, spare: impl Fn(&ProcInfo) -> bool) -> Step<()> {
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
                        return Ok(());
                    }
                };
                if left.is_empty() {
                    return Ok(());
                }
                let mut new = false;
                for p in left.iter().filter(|p| sent.insert(p.pid)) {
                    new = true;
                    match self.k.kill(KillTarget::Pid(p.pid), sig) {
                        Ok(()) => {}
                        Err(e) if e.errno == Errno::ESRCH => {}
                        Err(e) => tracing::warn!("{e}"),
                    }
                }
                if new {
                    continue; // look again before waiting: some die at once
                }
                let now = self.k.now();
                if now >= deadline {
                    if sig == KillSig::Kill {
                        report_undead(&left);
                    }
                    break;
                }
                self.wait(Some(POLL.min(deadline - now)))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survivor_rule() {
        let dir = Path::new("/dev/reroot");
        let spare = Spare {
            dir,
            dev: Some(7),
            devices_reported: true,
        };
        let p = |exe: &str, argv0: &str, uid| ProcInfo {
            pid: 9,
            name: "x".into(),
            exe: Some(exe.into()),
            exe_dev: Some(7),
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
        // A device that could not be read matters only under the staging area; where the
        // platform reports no devices (FreeBSD) the path decides.
        let no_dev = |exe: &str| ProcInfo {
            exe_dev: None,
            ..p(exe, "x", 1000)
        };
        assert!(no(&no_dev("/home/u/prog")));
        assert_eq!(spare.classify(&no_dev("/dev/reroot/x")), None);
        let path_decides = Spare {
            devices_reported: false,
            ..spare
        };
        assert_eq!(path_decides.classify(&no_dev("/dev/reroot/x")), Some(true));
        assert_eq!(path_decides.classify(&no_dev("/home/u/prog")), Some(false));
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
}
