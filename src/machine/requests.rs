//! Requests: signals queued as [`Request`]s, followed, merged and dropped.

use std::collections::VecDeque;
use std::time::Duration;

use crate::config::keys;
use crate::kernel::{Kernel, Wake};
use crate::signals::{self, Action, Request};

use super::{Init, State};

/// Requests that end a wait for /etc/rc at once (init.c: death_single and reroot).
pub(super) fn interrupts_rc(r: &Request) -> bool {
    matches!(r, Request::DeathSingle(_) | Request::Reroot)
}

impl<K: Kernel> Init<K> {
    /// Turn signals into queued requests.
    pub(super) fn queue_signals(&mut self, mut sigs: Vec<crate::kernel::Sig>) {
        sigs.sort();
        let convention = self.signal_convention();
        for sig in sigs {
            match signals::request_by(convention, self.current, sig) {
                Some(r) => {
                    tracing::info!("{sig} in {}: {r:?} requested", self.current);
                    self.requests.push_back(r);
                }
                None if sig == crate::kernel::Sig::Chld => {}
                None => tracing::info!("{sig} ignored in {}", self.current),
            }
        }
    }

    /// kenv `reinit.signals`, read at every use (a runtime `reinit kenv` takes effect).
    pub(super) fn signal_convention(&self) -> signals::Convention {
        match self.k.kenv(keys::SIGNALS) {
            None => signals::Convention::default(),
            Some(v) => signals::Convention::parse(&v).unwrap_or_else(|| {
                tracing::warn!(
                    "kenv {}={v}: not freebsd or linux; using freebsd",
                    keys::SIGNALS
                );
                signals::Convention::default()
            }),
        }
    }

    /// Take the signals that have arrived as requests, without waiting.
    pub(super) fn collect_requests(&mut self) {
        while let Wake::Signals(sigs) = self.k.wait(Some(Duration::ZERO)) {
            self.queue_signals(sigs);
        }
    }

    /// Drop queued requests that only make sense in the state that is being left (catatonia,
    /// a ttys rescan): on the way to single-user mode only a shutdown or a reroot still
    /// counts.
    pub(super) fn drop_stale_requests(&mut self, what: &str) {
        let before = self.requests.len();
        self.requests.retain(|r| {
            matches!(
                r,
                Request::Death(_) | Request::DeathSingle(_) | Request::Reroot
            )
        });
        if self.requests.len() < before {
            tracing::info!(
                "{what}: {} earlier request(s) dropped",
                before - self.requests.len()
            );
        }
    }

    /// Take queued requests in order until one leads to another state.
    pub(super) fn follow_requests(&mut self) -> Option<State> {
        while let Some(r) = self.requests.pop_front() {
            match r {
                Request::Rescan => return Some(State::CleanTtys),
                Request::Catatonia => return Some(State::Catatonia),
                Request::Death(a) => {
                    self.merge_action(a);
                    return Some(State::Death);
                }
                Request::DeathSingle(a) => {
                    self.merge_action(a);
                    return Some(State::DeathSingle);
                }
                Request::Reroot => {
                    if let Some(s) = self.reroot() {
                        return Some(s);
                    }
                }
            }
        }
        None
    }

    /// Remove the first queued `r`; whether there was one.
    pub(super) fn take_request(&mut self, r: &Request) -> bool {
        match self.requests.iter().position(|q| q == r) {
            Some(i) => self.requests.remove(i).is_some(),
            None => false,
        }
    }

    pub(super) fn merge_action(&mut self, a: Action) {
        let merged = self.action.map_or(a, |old| old.merge(a));
        if self.action != Some(merged) {
            tracing::info!("shutdown action: {merged:?}");
        }
        self.action = Some(merged);
    }

    /// During a shutdown, further shutdown requests only upgrade the action; others wait.
    pub(super) fn absorb_shutdown_requests(&mut self) {
        let mut keep = VecDeque::new();
        while let Some(r) = self.requests.pop_front() {
            match r {
                Request::Death(a) | Request::DeathSingle(a) => self.merge_action(a),
                Request::Reroot => {
                    tracing::warn!("reroot requested during shutdown; ignored");
                }
                other => keep.push_back(other),
            }
        }
        self.requests = keep;
    }

    /// The shutdown a queued request asks for, if any (the request stays queued).
    pub(super) fn shutdown_queued(&self) -> Option<Action> {
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
    pub(super) fn shutdown_instead(&mut self, what: &str) -> Option<State> {
        self.merge_reroot_requests("this one");
        self.absorb_shutdown_requests();
        let a = self.action?;
        tracing::warn!("reroot: {a:?} requested during the reroot: done instead of {what}");
        Some(State::DeathSingle)
    }

    /// Requests that came in before or during a reroot belong to it: one reroot answers
    /// them all, and an aborted one is not retried by the requests queued while it ran.
    pub(super) fn merge_reroot_requests(&mut self, into: &str) {
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
}
