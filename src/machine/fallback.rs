//! Reroot once (`reinit.reroot_confirm`): a reroot that asks for confirmation notes the root it
//! leaves; the new root's init (this one, after the switch) gives it that many seconds to say
//! `reinit confirm`, and without it reroots back to the previous root. The fallback is a
//! reroot like any other (checks first, the hook's phases with `REROOT_FALLBACK=1`) and is
//! never fallen back from: at most one per reroot.

use std::time::Duration;

use crate::config::keys;
use crate::newroot::Record;
use crate::settings;
use crate::signals::Request;

use super::{Init, State, Step};

/// The reroot under way is the fallback to this root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fallback {
    /// The previous root, `fstype:device`.
    pub(super) target: String,
    /// Whether it was mounted read-only.
    pub(super) read_only: bool,
    /// The root that was not confirmed.
    pub(super) from: String,
    /// The number of the reroot that was not confirmed.
    pub(super) count: u32,
}

impl<K: crate::kernel::Kernel> Init<K> {
    /// Phase one of a reroot that asks for confirmation: note the root being left. A root
    /// that cannot be mounted again (a RAM root) arms nothing, and says so.
    pub(super) fn arm_confirmation(&self, record: &mut Record) {
        let Some(wait) = settings::reroot_confirm(self.kenv()).warned() else {
            return;
        };
        match self.k.current_root() {
            Ok(Some(root)) => {
                record.previous = Some(format!("{}:{}", root.fstype, root.device));
                record.previous_read_only = root.read_only;
                record.confirm_s = wait.as_secs();
                tracing::info!(
                    "reroot: the new root has {} s to confirm (reinit confirm), else back to {}:{}",
                    record.confirm_s,
                    root.fstype,
                    root.device
                );
            }
            Ok(None) => tracing::warn!(
                "reroot: {}: the current root cannot be mounted again (a RAM root): no way back",
                keys::REROOT_CONFIRM
            ),
            Err(e) => tracing::warn!(
                "reroot: {}: the current root cannot be told ({e}): no way back",
                keys::REROOT_CONFIRM
            ),
        }
    }

    /// At the start of the init a reroot started: the deadline, when the record asks for a
    /// confirmation that has not come; and whether that reroot was a fallback.
    pub(super) fn arm_deadline(&mut self, record: Option<Record>) {
        let Some(r) = record else {
            return;
        };
        self.came_back = r.fallback;
        if r.confirm_s == 0 || r.confirmed || r.fallback || r.previous.is_none() {
            return;
        }
        let s = r.confirm_s;
        tracing::warn!(
            "reroot #{}: confirm within {s} s with `reinit confirm`, else back to {}",
            r.count,
            r.previous.as_deref().unwrap_or("?")
        );
        self.confirm_by = Some(self.k.now() + Duration::from_secs(s));
    }

    /// Back on the previous root after a fallback: the hook's `abort` phase undoes what its
    /// `prepare` did for the reroot that was not confirmed (e.g. detaches its NBD device,
    /// which nothing uses any more). The hook is this root's, the one that prepared it, and
    /// this is the plain `abort` of the contract: that reroot failed after `prepare` ran.
    pub(super) fn undo_unconfirmed(&mut self) -> Step<()> {
        let Some(hook) = self.hook_for("abort") else {
            return Ok(());
        };
        let dir = self.paths.reroot_dir.clone();
        if let Err(e) = self.run_hook(&hook, "abort", &dir)? {
            tracing::warn!("reroot: {e}");
        }
        Ok(())
    }

    /// A wait's timeout, shortened to end at the deadline.
    pub(super) fn until_deadline(&self, timeout: Option<Duration>) -> Option<Duration> {
        let Some(by) = self.confirm_by else {
            return timeout;
        };
        let left = by.saturating_sub(self.k.now());
        Some(timeout.map_or(left, |t| t.min(left)))
    }

    /// After a wake-up: at the deadline, a confirmation ends the wait for it, and its absence
    /// starts the fallback.
    pub(super) fn check_deadline(&mut self) {
        match self.confirm_by {
            Some(by) if self.k.now() >= by => {}
            _ => return,
        }
        self.confirm_by = None;
        let Some(r) = Record::load(&self.paths.reroot_dir) else {
            tracing::error!("reroot: the record is gone: no fallback");
            return;
        };
        if r.confirmed {
            tracing::info!("reroot #{}: confirmed", r.count);
            return;
        }
        if self.fall_back(&r, &format!("not confirmed within {} s", r.confirm_s)) {
            self.requests.push(Request::Reroot);
        }
    }

    /// Before single-user mode (rc failed, or anything else sent the new root there): an
    /// unconfirmed new root falls back instead. `None`: no fallback was due.
    pub(super) fn fall_back_before_single_user(&mut self) -> Step<Option<State>> {
        if self.confirm_by.take().is_none() {
            return Ok(None);
        }
        match Record::load(&self.paths.reroot_dir) {
            Some(r) if !r.confirmed && self.fall_back(&r, "went to single-user mode") => {
                self.reroot()
            }
            _ => Ok(None),
        }
    }

    /// Make the next reroot the fallback of the reroot `r`, to its previous root; `false`
    /// when it has none.
    fn fall_back(&mut self, r: &Record, why: &str) -> bool {
        let Some(target) = r.previous.clone() else {
            return false;
        };
        let from = r.target.clone().unwrap_or_else(|| "?".into());
        tracing::error!(
            "reroot #{} to {from} {why}: falling back to {target}",
            r.count
        );
        self.falling_back = Some(Fallback {
            target,
            read_only: r.previous_read_only,
            from,
            count: r.count,
        });
        true
    }
}
