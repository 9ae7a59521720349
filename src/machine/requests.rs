//! Requests: signals queued as [`Request`]s, followed, merged and dropped.

use std::collections::VecDeque;
use std::time::Duration;

use crate::kernel::{Kernel, Wake};
use crate::settings;
use crate::signals::{self, Action, Request};

use super::{Init, State, Step};

/// PID 1's queue of requests and the shutdown action they have asked for (init.c's
/// `requested_transition` and `Reboot`/`howto`, without the overwriting). Pure: no kernel,
/// no logging; [`Init`] logs what each step did.
///
/// The rules:
/// - requests are kept in arrival order and taken one at a time ([`Requests::next`]);
///   a shutdown request taken merges its action into the pending one;
/// - actions merge by finality: single-user < reboot < power-cycle < halt < power-off
///   ([`Action::merge`]), so nothing requested is weakened;
/// - on the way to single-user mode only shutdowns and reroots still count
///   ([`Requests::drop_stale`]);
/// - during a shutdown, shutdown requests only upgrade the action and reroot requests are
///   dropped; the rest wait ([`Requests::absorb_shutdowns`]);
/// - during a reroot, every queued reroot request belongs to it ([`Requests::merge_reroots`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Requests {
    queue: VecDeque<Request>,
    action: Option<Action>,
}

impl Requests {
    /// Queue `r` last.
    pub(crate) fn push(&mut self, r: Request) {
        self.queue.push_back(r);
    }

    /// The queued requests, in order.
    pub(crate) fn queued(&self) -> impl Iterator<Item = &Request> {
        self.queue.iter()
    }

    /// How many requests are queued.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether none is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Take the oldest request; a shutdown request merges its action into the pending one.
    pub(crate) fn next(&mut self) -> Option<Request> {
        let r = self.queue.pop_front()?;
        if let Request::Death(a) | Request::DeathSingle(a) = r {
            self.merge_action(a);
        }
        Some(r)
    }

    /// Remove the first queued `r`; whether there was one.
    pub(crate) fn take(&mut self, r: Request) -> bool {
        match self.queue.iter().position(|q| *q == r) {
            Some(i) => self.queue.remove(i).is_some(),
            None => false,
        }
    }

    /// Take every queued request, oldest first.
    pub(crate) fn drain(&mut self) -> Vec<Request> {
        self.queue.drain(..).collect()
    }

    /// The pending shutdown action.
    pub(crate) fn action(&self) -> Option<Action> {
        self.action
    }

    /// Forget the pending shutdown action (a reboot that failed leaves a shell instead).
    pub(crate) fn clear_action(&mut self) {
        self.action = None;
    }

    /// Merge `a` into the pending action; whether that changed it.
    pub(crate) fn merge_action(&mut self, a: Action) -> bool {
        let merged = self.action.map_or(a, |old| old.merge(a));
        let changed = self.action != Some(merged);
        self.action = Some(merged);
        changed
    }

    /// Keep only shutdown and reroot requests; how many were dropped.
    pub(crate) fn drop_stale(&mut self) -> usize {
        let before = self.queue.len();
        self.queue.retain(|r| {
            matches!(
                r,
                Request::Death(_) | Request::DeathSingle(_) | Request::Reroot
            )
        });
        before - self.queue.len()
    }

    /// Merge every queued shutdown request into the action and drop every reroot request
    /// (how many); the rest stay queued in order.
    pub(crate) fn absorb_shutdowns(&mut self) -> usize {
        let mut reroots = 0;
        let mut keep = VecDeque::new();
        while let Some(r) = self.queue.pop_front() {
            match r {
                Request::Death(a) | Request::DeathSingle(a) => {
                    self.merge_action(a);
                }
                Request::Reroot => reroots += 1,
                other => keep.push_back(other),
            }
        }
        self.queue = keep;
        reroots
    }

    /// The shutdown the queued requests ask for, merged, if any (they stay queued).
    pub(crate) fn shutdown_queued(&self) -> Option<Action> {
        self.queue
            .iter()
            .filter_map(|r| match r {
                Request::Death(a) | Request::DeathSingle(a) => Some(*a),
                _ => None,
            })
            .reduce(Action::merge)
    }

    /// Drop every queued reroot request (they belong to the reroot under way); how many.
    pub(crate) fn merge_reroots(&mut self) -> usize {
        let before = self.queue.len();
        self.queue.retain(|r| *r != Request::Reroot);
        before - self.queue.len()
    }
}

/// Requests that end a wait for /etc/rc at once (init.c: death_single and reroot).
pub(super) fn interrupts_rc(r: &Request) -> bool {
    matches!(r, Request::DeathSingle(_) | Request::Reroot)
}

impl<K: Kernel> Init<K> {
    /// Turn signals into queued requests.
    pub(super) fn queue_signals(&mut self, mut sigs: Vec<crate::kernel::Sig>) {
        // SIGCHLD asks for nothing: a child's exit costs no kenv read.
        sigs.retain(|s| *s != crate::kernel::Sig::Chld);
        if sigs.is_empty() {
            return;
        }
        sigs.sort();
        let convention = self.signal_convention();
        for sig in sigs {
            match signals::request_by(convention, self.current, sig) {
                Some(r) => {
                    tracing::info!("{sig} in {}: {r:?} requested", self.current);
                    self.requests.push(r);
                }
                None => tracing::info!("{sig} ignored in {}", self.current),
            }
        }
    }

    /// kenv `reinit.signals`, read at every use (a runtime `reinit kenv` takes effect).
    pub(super) fn signal_convention(&self) -> signals::Convention {
        settings::signals(self.kenv()).warned()
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
        let dropped = self.requests.drop_stale();
        if dropped > 0 {
            tracing::info!("{what}: {dropped} earlier request(s) dropped");
        }
    }

    /// Take queued requests in order until one leads to another state.
    pub(super) fn follow_requests(&mut self) -> Step<Option<State>> {
        loop {
            let before = self.requests.action();
            let Some(r) = self.requests.next() else {
                return Ok(None);
            };
            self.log_action_change(before);
            let next = match r {
                Request::Rescan => Some(State::CleanTtys),
                Request::Catatonia => Some(State::Catatonia),
                Request::Death(_) => Some(State::Death),
                Request::DeathSingle(_) => Some(State::DeathSingle),
                Request::Reroot => self.reroot()?,
            };
            if next.is_some() {
                return Ok(next);
            }
        }
    }

    /// Remove the first queued `r`; whether there was one.
    pub(super) fn take_request(&mut self, r: Request) -> bool {
        self.requests.take(r)
    }

    fn log_action_change(&self, before: Option<Action>) {
        if let Some(a) = self.requests.action().filter(|a| Some(*a) != before) {
            tracing::info!("shutdown action: {a:?}");
        }
    }

    /// During a shutdown, further shutdown requests only upgrade the action; others wait.
    pub(super) fn absorb_shutdown_requests(&mut self) {
        let before = self.requests.action();
        for _ in 0..self.requests.absorb_shutdowns() {
            tracing::warn!("reroot requested during shutdown; ignored");
        }
        self.log_action_change(before);
    }

    /// The shutdown a queued request asks for, if any (the request stays queued).
    pub(super) fn shutdown_queued(&self) -> Option<Action> {
        self.requests.shutdown_queued()
    }

    /// Past the point of no return: when a shutdown was asked for (queued, or absorbed
    /// while processes were stopped), take it instead of `what`.
    pub(super) fn shutdown_instead(&mut self, what: &str) -> Option<State> {
        self.merge_reroot_requests("this one");
        self.absorb_shutdown_requests();
        let a = self.requests.action()?;
        tracing::warn!("reroot: {a:?} requested during the reroot: done instead of {what}");
        Some(State::DeathSingle)
    }

    /// Requests that came in before or during a reroot belong to it: one reroot answers
    /// them all, and an aborted one is not retried by the requests queued while it ran.
    pub(super) fn merge_reroot_requests(&mut self, into: &str) {
        let more = self.requests.merge_reroots();
        if more > 0 {
            tracing::info!("reroot: {more} further reroot request(s) merged into {into}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::RebootHow;

    const OFF: Action = Action::Reboot(RebootHow::PowerOff);
    const BOOT: Action = Action::Reboot(RebootHow::Reboot);

    #[test]
    fn next_takes_in_order_and_merges_shutdown_actions() {
        let mut q = Requests::default();
        q.push(Request::Rescan);
        q.push(Request::Death(OFF));
        q.push(Request::DeathSingle(Action::Single));
        assert_eq!(q.next(), Some(Request::Rescan));
        assert_eq!(q.action(), None);
        assert_eq!(q.next(), Some(Request::Death(OFF)));
        // A weaker action taken later does not weaken the pending one.
        assert_eq!(q.next(), Some(Request::DeathSingle(Action::Single)));
        assert_eq!(q.action(), Some(OFF));
        assert_eq!(q.next(), None);
    }

    #[test]
    fn stale_requests_are_dropped_on_the_way_to_single_user() {
        let mut q = Requests::default();
        for r in [
            Request::Catatonia,
            Request::Reroot,
            Request::Rescan,
            Request::Death(BOOT),
        ] {
            q.push(r);
        }
        assert_eq!(q.drop_stale(), 2);
        assert_eq!(q.drain(), [Request::Reroot, Request::Death(BOOT)]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_shutdown_absorbs_shutdowns_drops_reroots_and_keeps_the_rest() {
        let mut q = Requests::default();
        assert!(q.merge_action(Action::Single));
        for r in [
            Request::Reroot,
            Request::Death(BOOT),
            Request::Rescan,
            Request::Reroot,
            Request::DeathSingle(OFF),
        ] {
            q.push(r);
        }
        assert_eq!(q.shutdown_queued(), Some(OFF));
        assert_eq!(q.absorb_shutdowns(), 2);
        assert_eq!(q.action(), Some(OFF));
        assert_eq!(q.queued().copied().collect::<Vec<_>>(), [Request::Rescan]);
        assert!(
            !q.merge_action(BOOT),
            "a reboot does not weaken a power-off"
        );
        q.clear_action();
        assert_eq!(q.action(), None);
    }

    #[test]
    fn reroot_requests_merge_into_the_reroot_under_way() {
        let mut q = Requests::default();
        for r in [Request::Reroot, Request::Rescan, Request::Reroot] {
            q.push(r);
        }
        assert!(q.take(Request::Reroot));
        assert_eq!(q.merge_reroots(), 1);
        assert!(!q.take(Request::Reroot));
        assert_eq!(q.len(), 1);
    }
}
