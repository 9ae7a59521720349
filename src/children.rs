//! The one reaper, and the table of who each child of PID 1 is.
//!
//! Only [`Children::reap_all`] calls `waitpid`, and it loops until nothing is left to collect.
//! Scripts, shells and gettys learn how they ended from its answer, never from a private
//! `waitpid(pid)`, so no exit status is ever stolen. Orphans that the kernel hands to PID 1 are
//! simply collected.

use std::collections::HashMap;

use crate::kernel::{ChildStatus, Kernel, KillSig, KillTarget, Pid, Reaped};

/// Why PID 1 started a child.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    /// The kenv `init_script`.
    InitScript,
    /// /etc/rc (or kenv `init_rc`).
    Rc,
    /// /etc/rc.shutdown.
    Shutdown,
    /// /etc/rc.final.
    Final,
    /// The single-user shell (or the password prompt in front of it).
    Shell,
    /// The getty of the named terminal.
    Getty(String),
    /// The window system of the named terminal.
    Window(String),
    /// The reroot hook /etc/rc.reroot.
    Hook,
}

/// A child that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// Its pid.
    pub pid: Pid,
    /// Its role.
    pub role: Role,
    /// How it ended.
    pub status: ChildStatus,
}

/// What [`Children::reap_all`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Harvest {
    /// Children of PID 1's own that ended, in the order the kernel reported them.
    pub ended: Vec<Ended>,
    /// `waitpid` said there are no children left at all.
    pub none_left: bool,
}

/// pid → role of every child PID 1 started and has not yet collected.
#[derive(Debug, Default)]
pub struct Children {
    roles: HashMap<Pid, Role>,
}

impl Children {
    /// Remember a child.
    pub fn add(&mut self, pid: Pid, role: Role) {
        self.roles.insert(pid, role);
    }

    /// The pid of the child with this role, if it runs.
    #[must_use]
    pub fn pid_of(&self, role: &Role) -> Option<Pid> {
        self.roles
            .iter()
            .find_map(|(pid, r)| (r == role).then_some(*pid))
    }

    /// Every known child, sorted by pid.
    #[must_use]
    pub fn all(&self) -> Vec<(Pid, Role)> {
        let mut v: Vec<(Pid, Role)> = self.roles.iter().map(|(p, r)| (*p, r.clone())).collect();
        v.sort_by_key(|(p, _)| *p);
        v
    }

    /// Collect every child that changed state: `waitpid(-1, WNOHANG)` until nothing is left.
    /// A stopped script or shell — what PID 1 waits for — is continued (init.c sends
    /// SIGCONT), not reported; anything else that stops (a getty, a daemon PID 1 adopted,
    /// stopped by an operator's `kill -STOP`) is left stopped.
    pub fn reap_all<K: Kernel>(&mut self, k: &mut K) -> Harvest {
        let mut harvest = Harvest::default();
        loop {
            match k.reap() {
                Reaped::Child(pid, ChildStatus::Stopped(sig)) => {
                    let waited_for = matches!(
                        self.roles.get(&pid),
                        Some(
                            Role::Rc
                                | Role::InitScript
                                | Role::Shutdown
                                | Role::Final
                                | Role::Hook
                                | Role::Shell
                        )
                    );
                    if waited_for {
                        tracing::warn!(pid, sig, "child stopped; continuing it");
                        if let Err(e) = k.kill(KillTarget::Pid(pid), KillSig::Cont) {
                            tracing::warn!("{e}");
                        }
                    } else {
                        tracing::info!(pid, sig, "child stopped; left stopped");
                    }
                }
                Reaped::Child(pid, status) => match self.roles.remove(&pid) {
                    Some(r) => {
                        tracing::info!(pid, ?r, "child {status}");
                        harvest.ended.push(Ended {
                            pid,
                            role: r,
                            status,
                        });
                    }
                    // An orphan leaves no record: a storm of them costs no memory.
                    None => tracing::debug!(pid, "orphan {status}"),
                },
                Reaped::Nothing => return harvest,
                Reaped::NoChildren => {
                    harvest.none_left = true;
                    return harvest;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::fake::{Call, FakeKernel};
    use crate::kernel::{Posix, SpawnSpec, Stdio};

    fn spec() -> SpawnSpec {
        SpawnSpec {
            path: "/bin/true".into(),
            argv: vec!["true".into()],
            env: vec![],
            stdio: Stdio::Null,
            script: false,
        }
    }

    #[test]
    fn reaps_until_empty_and_names_roles() {
        let mut k = FakeKernel::new();
        let mut c = Children::default();
        let a = k.spawn(&spec()).unwrap_or_default();
        let b = k.spawn(&spec()).unwrap_or_default();
        let orphan = k.spawn(&spec()).unwrap_or_default();
        c.add(a, Role::Rc);
        c.add(b, Role::Getty("ttyv0".into()));
        k.exit(a, ChildStatus::Exited(0))
            .exit(orphan, ChildStatus::Signaled(9));
        let _ = k.wait(None);
        let mut h = c.reap_all(&mut k);
        let _ = k.wait(None);
        h.ended.extend(c.reap_all(&mut k).ended);
        assert_eq!(
            h.ended,
            vec![Ended {
                pid: a,
                role: Role::Rc,
                status: ChildStatus::Exited(0)
            }]
        );
        // The orphan was collected without a record (none is left once b has ended).
        assert!(!h.none_left);
        assert_eq!(c.pid_of(&Role::Getty("ttyv0".into())), Some(b));
        k.exit(b, ChildStatus::Exited(1));
        let _ = k.wait(None);
        let h = c.reap_all(&mut k);
        assert_eq!(h.ended.len(), 1);
        assert!(h.none_left);
        assert!(c.all().is_empty());
    }

    #[test]
    fn stopped_child_is_continued_not_reported() {
        let mut k = FakeKernel::new();
        let mut c = Children::default();
        let a = k.spawn(&spec()).unwrap_or_default();
        c.add(a, Role::Rc);
        k.exit(a, ChildStatus::Stopped(libc::SIGTSTP));
        let _ = k.wait(None);
        let h = c.reap_all(&mut k);
        assert!(h.ended.is_empty());
        assert!(k
            .calls()
            .contains(&Call::Kill(KillTarget::Pid(a), KillSig::Cont)));
        assert_eq!(c.pid_of(&Role::Rc), Some(a));
    }

    /// Only what PID 1 waits for is continued: a getty or an adopted daemon stopped by an
    /// operator stays stopped.
    #[test]
    fn a_stopped_getty_or_orphan_is_left_stopped() {
        let mut k = FakeKernel::new();
        let mut c = Children::default();
        let g = k.spawn(&spec()).unwrap_or_default();
        c.add(g, Role::Getty("ttyv0".into()));
        let orphan = k.spawn(&spec()).unwrap_or_default();
        k.exit(g, ChildStatus::Stopped(libc::SIGSTOP))
            .exit(orphan, ChildStatus::Stopped(libc::SIGSTOP));
        let _ = k.wait(None);
        let _ = k.wait(None);
        let h = c.reap_all(&mut k);
        assert!(h.ended.is_empty());
        assert!(!k.calls().iter().any(|x| matches!(x, Call::Kill(..))));
    }
}
