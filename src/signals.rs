//! What a signal asks PID 1 to do: a pure function of the current state and the signal.
//!
//! This replaces init.c's `transition_handler`, whose `switch` fall-through accumulates `howto`
//! bits and overwrites a single `requested_transition` slot. Here every signal becomes a
//! [`Request`] that is queued (never overwritten), and the shutdown flavour is carried in the
//! request itself. The table follows init.c (FreeBSD 14):
//!
//! | signal   | in read_ttys, multi_user, clean_ttys, catatonia | in any other state |
//! |----------|-----------------------------------|---------------------------|
//! | SIGHUP   | rescan /etc/ttys (clean_ttys)     | ignored                   |
//! | SIGTSTP  | catatonia                         | catatonia in runcom, else ignored |
//! | SIGTERM  | death, then single-user           | death_single, then single-user |
//! | SIGINT   | death, then reboot                | death_single, then reboot |
//! | SIGUSR1  | death, then halt                  | death_single, then halt   |
//! | SIGUSR2  | death, then power off             | death_single, then power off |
//! | SIGWINCH | death, then power-cycle           | death_single, then power-cycle |
//! | reroot   | reroot (every state)              | reroot                    |
//! | SIGCHLD  | no request: the reaper runs after every wake-up |             |

use crate::kernel::{RebootHow, Sig};
use crate::machine::State;

/// How the system should end up after a shutdown sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Back to single-user mode (SIGTERM, `init 1`).
    Single,
    /// reboot(2) with this request.
    Reboot(RebootHow),
}

impl Action {
    /// Combine two requested actions: the more final one wins (single-user < reboot <
    /// power-cycle < halt < power-off), so a later SIGUSR2 during a SIGTERM shutdown still
    /// powers off, and nothing requested is dropped.
    #[must_use]
    pub fn merge(self, other: Action) -> Action {
        if other.finality() > self.finality() {
            other
        } else {
            self
        }
    }

    /// The merge order, spelt out (not the declaration order of the enums).
    fn finality(self) -> u8 {
        match self {
            Action::Single => 0,
            Action::Reboot(RebootHow::Reboot) => 1,
            Action::Reboot(RebootHow::PowerCycle) => 2,
            Action::Reboot(RebootHow::Halt) => 3,
            Action::Reboot(RebootHow::PowerOff) => 4,
        }
    }

    /// The argument /etc/rc.shutdown gets.
    #[must_use]
    pub fn script_arg(self) -> &'static str {
        match self {
            Action::Single => "single",
            Action::Reboot(_) => "reboot",
        }
    }
}

/// A state change a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Re-read /etc/ttys (state clean_ttys).
    Rescan,
    /// Block further logins (state catatonia).
    Catatonia,
    /// Orderly shutdown from multi-user: revoke ttys, /etc/rc.shutdown, kill, then the action.
    Death(Action),
    /// Kill everything, then the action.
    DeathSingle(Action),
    /// Switch the root filesystem.
    Reroot,
}

/// The states in which init.c treats SIGHUP and SIGTERM as "multi-user" signals.
fn multi(state: State) -> bool {
    matches!(
        state,
        State::ReadTtys | State::MultiUser | State::CleanTtys | State::Catatonia
    )
}

/// Which clients' meaning SIGTERM has (kenv `reinit.signals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Convention {
    /// FreeBSD's init(8): SIGTERM goes to single-user mode (`init 1`, `shutdown now`).
    #[default]
    FreeBsd,
    /// Linux userlands: busybox's and sysvinit's `reboot` send SIGTERM to mean reboot
    /// (`halt` and `poweroff` send SIGUSR1 and SIGUSR2, as on FreeBSD).
    Linux,
}

impl Convention {
    /// The convention a kenv value names; `None` for anything else.
    #[must_use]
    pub fn parse(value: &str) -> Option<Convention> {
        match value {
            "freebsd" => Some(Convention::FreeBsd),
            "linux" => Some(Convention::Linux),
            _ => None,
        }
    }
}

/// [`request`] under a [`Convention`].
#[must_use]
pub fn request_by(convention: Convention, state: State, sig: Sig) -> Option<Request> {
    match (convention, sig) {
        (Convention::Linux, Sig::Term) => request(state, Sig::Int),
        _ => request(state, sig),
    }
}

/// Map a signal received in `state` to the request it makes, if any.
#[must_use]
pub fn request(state: State, sig: Sig) -> Option<Request> {
    let shutdown = |action| {
        Some(if multi(state) {
            Request::Death(action)
        } else {
            Request::DeathSingle(action)
        })
    };
    match sig {
        Sig::Hup => multi(state).then_some(Request::Rescan),
        Sig::Tstp => (multi(state) || state == State::Runcom).then_some(Request::Catatonia),
        Sig::Term => shutdown(Action::Single),
        Sig::Int => shutdown(Action::Reboot(RebootHow::Reboot)),
        Sig::Usr1 => shutdown(Action::Reboot(RebootHow::Halt)),
        Sig::Usr2 => shutdown(Action::Reboot(RebootHow::PowerOff)),
        Sig::Winch => shutdown(Action::Reboot(RebootHow::PowerCycle)),
        Sig::Reroot => Some(Request::Reroot),
        Sig::Chld => None,
    }
}

/// The signal that makes `r` (the inverse of [`request`]), to carry a request to the next
/// program PID 1 becomes.
#[must_use]
pub fn signal_of(r: Request) -> Sig {
    match r {
        Request::Rescan => Sig::Hup,
        Request::Catatonia => Sig::Tstp,
        Request::Death(a) | Request::DeathSingle(a) => match a {
            Action::Single => Sig::Term,
            Action::Reboot(RebootHow::Reboot) => Sig::Int,
            Action::Reboot(RebootHow::Halt) => Sig::Usr1,
            Action::Reboot(RebootHow::PowerOff) => Sig::Usr2,
            Action::Reboot(RebootHow::PowerCycle) => Sig::Winch,
        },
        Request::Reroot => Sig::Reroot,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::RebootHow::*;
    use Request::{Death, DeathSingle, Reroot, Rescan};

    const STATES: [State; 8] = [
        State::SingleUser,
        State::Runcom,
        State::ReadTtys,
        State::MultiUser,
        State::CleanTtys,
        State::Catatonia,
        State::Death,
        State::DeathSingle,
    ];

    /// `reinit.signals=linux`: SIGTERM means reboot (busybox's and sysvinit's `reboot`);
    /// the rest of the table is FreeBSD's.
    #[test]
    fn the_linux_convention_changes_sigterm_only() {
        let reb = |h| Action::Reboot(h);
        assert_eq!(
            request_by(Convention::Linux, State::MultiUser, Sig::Term),
            Some(Death(reb(Reboot)))
        );
        assert_eq!(
            request_by(Convention::FreeBsd, State::MultiUser, Sig::Term),
            Some(Death(Action::Single))
        );
        for sig in Sig::ALL.into_iter().filter(|s| *s != Sig::Term) {
            for state in STATES {
                assert_eq!(
                    request_by(Convention::Linux, state, sig),
                    request(state, sig)
                );
            }
        }
        assert_eq!(Convention::parse("linux"), Some(Convention::Linux));
        assert_eq!(Convention::parse("sysv"), None);
    }

    /// The whole table, state by state, as init.c's transition_handler defines it.
    #[test]
    fn table() {
        let reb = |h| Action::Reboot(h);
        for state in STATES {
            let m = matches!(
                state,
                State::ReadTtys | State::MultiUser | State::CleanTtys | State::Catatonia
            );
            let sd = |a| if m { Death(a) } else { DeathSingle(a) };
            let expect = [
                (Sig::Hup, m.then_some(Rescan)),
                (
                    Sig::Tstp,
                    (m || state == State::Runcom).then_some(Request::Catatonia),
                ),
                (Sig::Term, Some(sd(Action::Single))),
                (Sig::Int, Some(sd(reb(Reboot)))),
                (Sig::Usr1, Some(sd(reb(Halt)))),
                (Sig::Usr2, Some(sd(reb(PowerOff)))),
                (Sig::Winch, Some(sd(reb(PowerCycle)))),
                (Sig::Reroot, Some(Reroot)),
                (Sig::Chld, None),
            ];
            for (sig, want) in expect {
                assert_eq!(request(state, sig), want, "{state:?} + {sig}");
                if let Some(r) = want {
                    assert_eq!(signal_of(r), sig, "{r:?}");
                }
            }
        }
    }

    #[test]
    fn merge_keeps_the_most_final_action() {
        let s = Action::Single;
        let r = Action::Reboot(Reboot);
        let h = Action::Reboot(Halt);
        let p = Action::Reboot(PowerOff);
        let c = Action::Reboot(PowerCycle);
        assert_eq!(s.merge(r), r);
        assert_eq!(r.merge(s), r);
        assert_eq!(h.merge(p), p);
        assert_eq!(p.merge(r), p);
        assert_eq!(r.merge(c), c);
        assert_eq!(c.merge(h), h);
        // The whole order, pairwise: merge is the more final of the two, whichever comes
        // first.
        let order = [s, r, c, h, p];
        for (i, a) in order.iter().enumerate() {
            for (j, b) in order.iter().enumerate() {
                let want = order[i.max(j)];
                assert_eq!((a.merge(*b), b.merge(*a)), (want, want), "{a:?} {b:?}");
            }
        }
        assert_eq!(s.script_arg(), "single");
        assert_eq!(p.script_arg(), "reboot");
    }

    #[test]
    fn signal_numbers_round_trip() {
        for s in Sig::ALL {
            assert_eq!(Sig::from_number(s.number()), Some(s));
        }
        assert_eq!(Sig::from_number(libc::SIGKILL), None);
    }
}
