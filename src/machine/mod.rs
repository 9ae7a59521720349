//! The state machine of PID 1, with init.c's state names.
//!
//! Each state is a method that does its work, waits (in `Init::wait`, the only place PID 1
//! blocks) and returns the next state, exactly as init.c's `state_func_t`s do. Signals become
//! queued [`Request`]s (see [`crate::signals`]); after every wake-up the one reaper runs and the
//! state looks at the queue. [`Init::transition`] runs states forever and turns a panic inside
//! any state into single-user mode instead of a kernel panic.
//!
//! A reroot request is acted on from whichever state's wait sees it (`reroot`): when it
//! aborts, that state carries on as if nothing had happened; `-r` starts PID 1 in reroot
//! phase two.
//!
//! The parts, each an `impl Init` of its own:
//! - `startup`: `boot` (init.c `main()` after option parsing) and the exec of a successor;
//! - `requests`: signals queued as requests, followed, merged and dropped;
//! - `scripts`: running rc, rc.shutdown, rc.final, init_script and the hook;
//! - `single_user`: the `runcom` and `single_user` states;
//! - `sessions`: gettys (`read_ttys`, `multi_user`, `clean_ttys`, `catatonia`);
//! - `shutdown`: `death`, `death_single`, the final reboot, the shutdown with survivors;
//! - `stop`: survivors and stopping every other process;
//! - `reroot` with `stage` and `probe`: the reroot's phases one and two.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::children::{Children, Harvest, Role};
use crate::config::{self, Paths};
use crate::kernel::{Kernel, KernelError, Pid, SpawnSpec, Wake};
use crate::signals::Request;

use requests::Requests;
use sessions::Session;

mod fallback;
mod probe;
mod requests;
mod reroot;
mod scripts;
mod sessions;
mod shutdown;
mod single_user;
mod stage;
mod startup;
mod stop;
#[cfg(test)]
mod tests;

pub use reroot::RerootError;

/// The fake kernel has no events left: the machine stops where it is, and `?` carries this
/// out of every state. A real kernel always has a next event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Idle;

/// What a step that may wait returns.
pub(crate) type Step<T> = Result<T, Idle>;

/// How often the stop loop looks for processes that are not PID 1's children.
pub(super) const POLL: Duration = Duration::from_millis(100);

/// The states, named as in init.c.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// A shell on the console.
    SingleUser,
    /// /etc/rc.
    Runcom,
    /// Read /etc/ttys and build the sessions.
    ReadTtys,
    /// Run and respawn the gettys.
    MultiUser,
    /// Rescan /etc/ttys (SIGHUP).
    CleanTtys,
    /// Block further logins (SIGTSTP).
    Catatonia,
    /// Orderly shutdown: revoke ttys, /etc/rc.shutdown.
    Death,
    /// Kill every process.
    DeathSingle,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::SingleUser => "single_user",
            State::Runcom => "runcom",
            State::ReadTtys => "read_ttys",
            State::MultiUser => "multi_user",
            State::CleanTtys => "clean_ttys",
            State::Catatonia => "catatonia",
            State::Death => "death",
            State::DeathSingle => "death_single",
        })
    }
}

/// Whether /etc/rc gets the `autoboot` argument (init.c `runcom_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuncomMode {
    /// `/etc/rc autoboot`: a normal boot.
    Autoboot,
    /// `/etc/rc`: after single-user mode or with `-f`.
    Fastboot,
}

/// Command-line flags of PID 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// `-s`: start in single-user mode.
    pub single: bool,
    /// `-f`: fast boot (no `autoboot` for /etc/rc).
    pub fast: bool,
    /// `-r`: reroot phase two (reserved).
    pub reroot: bool,
}

impl Flags {
    /// Parse PID 1's arguments as init.c's getopt("dsfr") does. Unknown flags and extra
    /// arguments are returned as warnings, never fatal.
    #[must_use]
    pub fn parse(args: &[String]) -> (Flags, Vec<String>) {
        let mut f = Flags::default();
        let mut warnings = Vec::new();
        for a in args {
            match a.strip_prefix('-') {
                Some(opts) if !opts.is_empty() && a != "--" => {
                    for c in opts.chars() {
                        match c {
                            's' => f.single = true,
                            'f' => f.fast = true,
                            'r' => f.reroot = true,
                            'd' => {} // devfs is checked anyway
                            other => warnings.push(format!("unrecognized flag '-{other}'")),
                        }
                    }
                }
                // Linux passes kernel command-line words it does not know to init: `single`,
                // `S` and `s` ask for single-user mode there (sysvinit's and systemd's
                // reading).
                _ if matches!(a.as_str(), "single" | "S" | "s") => f.single = true,
                _ => warnings.push(format!("ignoring excess argument `{a}`")),
            }
        }
        (f, warnings)
    }
}

/// PID 1: the kernel it runs on, its configuration and its bookkeeping.
pub struct Init<K: Kernel> {
    /// The kernel (the tests, child modules, inspect the fake through it).
    k: K,
    paths: Paths,
    children: Children,
    sessions: Vec<Session>,
    /// The kernel's consoles, for `onifconsole`: read at each scan of /etc/ttys (as
    /// getttyent evaluates it), not at every wake-up.
    consoles: Vec<String>,
    requests: Requests,
    current: State,
    runcom_mode: RuncomMode,
    panics_in_a_row: u32,
    /// Single-user shells in a row killed by a signal within [`config::SHELL_QUICK_DEATH`]
    /// of their start (a shell that cannot run, e.g. its root's device is gone).
    quick_shell_deaths: u32,
    /// Reroot once: when an unconfirmed new root (this one) falls back (see `fallback`).
    confirm_by: Option<Duration>,
    /// The reroot under way is a fallback.
    falling_back: Option<fallback::Fallback>,
    /// A fallback started this init: rc is told (`REROOT_FALLBACK=1`).
    came_back: bool,
}

impl<K: Kernel> Init<K> {
    /// A new PID 1 on kernel `k` with these paths.
    pub fn new(k: K, paths: Paths) -> Self {
        Init {
            k,
            paths,
            children: Children::default(),
            sessions: Vec::new(),
            consoles: Vec::new(),
            requests: Requests::default(),
            current: State::SingleUser,
            runcom_mode: RuncomMode::Autoboot,
            panics_in_a_row: 0,
            quick_shell_deaths: 0,
            confirm_by: None,
            falling_back: None,
            came_back: false,
        }
    }

    /// The kenv lookup the [`crate::settings`] readers take: a key is read when it is used,
    /// so a runtime `reinit kenv` change takes effect.
    fn kenv(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |k| self.k.kenv(k)
    }

    /// The state PID 1 is in (or was in when the fake kernel ran out of events).
    #[must_use]
    pub fn state(&self) -> State {
        self.current
    }

    /// Requests not yet acted on.
    #[must_use]
    pub fn pending(&self) -> Vec<Request> {
        self.requests.queued().copied().collect()
    }

    /// The pids of the running gettys by terminal name, sorted.
    #[must_use]
    pub fn gettys(&self) -> Vec<(String, Pid)> {
        let mut v: Vec<(String, Pid)> = self
            .sessions
            .iter()
            .filter_map(|s| s.pid.map(|p| (s.entry.name.clone(), p)))
            .collect();
        v.sort();
        v
    }

    /// Run states until the fake kernel runs out of events (real kernels never do, so in
    /// production this never returns). A panic in a state is logged and leads to
    /// single-user mode.
    pub fn transition(&mut self, first: State) {
        let mut state = first;
        loop {
            self.current = state;
            tracing::info!("entering {state}");
            let result = catch_unwind(AssertUnwindSafe(|| self.run_state(state)));
            state = match result {
                Ok(Ok(next)) => {
                    self.panics_in_a_row = 0;
                    next
                }
                Ok(Err(Idle)) => return,
                Err(payload) => {
                    let what = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(
                        "BUG: panic in state {state}: {what}; going to single user mode"
                    );
                    self.panics_in_a_row += 1;
                    if self.panics_in_a_row > 1 {
                        // Do not spin if single-user mode itself keeps failing.
                        if self.wait(Some(config::STALL_TIMEOUT)).is_err() {
                            return;
                        }
                    }
                    State::SingleUser
                }
            };
        }
    }

    /// Start-up, then states forever. Used by PID 1; never returns.
    pub fn run(&mut self, flags: Flags) -> ! {
        let first = self.boot(flags);
        loop {
            // Only a kernel without events returns from it; stay alive.
            self.transition(first);
        }
    }

    fn run_state(&mut self, state: State) -> Step<State> {
        match state {
            State::SingleUser => match self.fall_back_before_single_user()? {
                Some(State::SingleUser) | None => self.single_user(),
                Some(next) => Ok(next),
            },
            State::Runcom => self.runcom(),
            State::ReadTtys => Ok(self.read_ttys()),
            State::MultiUser => self.multi_user(),
            State::CleanTtys => Ok(self.clean_ttys()),
            State::Catatonia => Ok(self.catatonia()),
            State::Death => self.death(),
            State::DeathSingle => self.death_single(),
        }
    }

    // ----------------------------------------------------------------------------------
    // Waiting, requests, children

    /// The only place PID 1 blocks. Signals become queued requests. [`Idle`] when the fake
    /// kernel has nothing left: `?` carries it out of every state.
    fn wait(&mut self, timeout: Option<Duration>) -> Step<()> {
        match self.k.wait(self.until_deadline(timeout)) {
            Wake::Signals(sigs) => self.queue_signals(sigs),
            Wake::Timeout => {}
            Wake::Exhausted => return Err(Idle),
        }
        self.check_deadline();
        Ok(())
    }

    /// Reap everything and hand getty exits to the sessions.
    fn reap(&mut self) -> Harvest {
        let h = self.children.reap_all(&mut self.k);
        for e in &h.ended {
            if let Role::Getty(name) = &e.role {
                self.getty_ended(name, e);
            }
        }
        h
    }

    /// Start a child and remember its role.
    fn spawn(&mut self, role: Role, spec: &SpawnSpec) -> Result<Pid, KernelError> {
        let pid = self.k.spawn(spec)?;
        tracing::info!(pid, ?role, "started {}", spec.argv.join(" "));
        self.children.add(pid, role);
        Ok(pid)
    }

    /// Wait STALL_TIMEOUT (so a message can be read), unless a request comes first.
    fn stall(&mut self, then: State) -> Step<State> {
        let deadline = self.k.now() + config::STALL_TIMEOUT;
        loop {
            self.reap();
            if let Some(s) = self.follow_requests()? {
                return Ok(s);
            }
            let now = self.k.now();
            if now >= deadline {
                return Ok(then);
            }
            self.wait(Some(deadline - now))?;
        }
    }
}

/// PID 1's own environment (what the kernel gave it), passed on to programs that replace it.
pub(super) fn pid1_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}
