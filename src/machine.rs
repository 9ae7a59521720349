//! The state machine of PID 1, with init.c's state names.
//!
//! Each state is a method that does its work, waits (in [`Init::wait`], the only place PID 1
//! blocks) and returns the next state, exactly as init.c's `state_func_t`s do. Signals become
//! queued [`Request`]s (see [`crate::signals`]); after every wake-up the one reaper runs and the
//! state looks at the queue. [`Init::transition`] runs states forever and turns a panic inside
//! any state into single-user mode instead of a kernel panic.
//!
//! A reroot request is acted on from whichever state's wait sees it (`machine_reroot.rs`):
//! when it aborts, that state carries on as if nothing had
//! happened; `-r` starts PID 1 in reroot phase two.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::children::{Children, Ended, Harvest, Role};
use crate::config::{self, keys, Paths};
use crate::kernel::{
    ChildStatus, Kernel, KernelError, KillSig, KillTarget, Pid, RebootHow, SpawnSpec, Stdio, Wake,
};
use crate::passwd::{self, RootPassword};
use crate::signals::{self, Action, Request};
use crate::ttys::{self, TtyEntry};

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

/// One /etc/ttys line PID 1 runs a getty on (init.c `session_t`).
#[derive(Debug, Clone)]
struct Session {
    entry: TtyEntry,
    pid: Option<Pid>,
    /// Do not respawn (SE_SHUTDOWN).
    shutdown: bool,
    /// Seen in the current rescan (SE_PRESENT).
    present: bool,
    started: Option<Duration>,
    nspace: u32,
    /// Throttled: do not start before this time.
    not_before: Option<Duration>,
}

impl Session {
    fn new(entry: TtyEntry) -> Self {
        Session {
            entry,
            pid: None,
            shutdown: false,
            present: true,
            started: None,
            nspace: 0,
            not_before: None,
        }
    }
}

/// How a script run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ScriptEnd {
    Done(ChildStatus),
    Missing,
    SpawnFailed(KernelError),
    Interrupted,
    TimedOut(Pid),
    Idle,
}

/// PID 1: the kernel it runs on, its configuration and its bookkeeping.
pub struct Init<K: Kernel> {
    /// The kernel (public so that tests can inspect the fake).
    pub k: K,
    paths: Paths,
    children: Children,
    sessions: Vec<Session>,
    requests: VecDeque<Request>,
    current: State,
    runcom_mode: RuncomMode,
    /// The pending shutdown action (init.c `Reboot` + `howto`).
    action: Option<Action>,
    idle: bool,
    panics_in_a_row: u32,
    /// Single-user shells in a row killed by a signal within [`config::SHELL_QUICK_DEATH`]
    /// of their start (a shell that cannot run, e.g. its root's device is gone).
    quick_shell_deaths: u32,
}

impl<K: Kernel> Init<K> {
    /// A new PID 1 on kernel `k` with these paths.
    pub fn new(k: K, paths: Paths) -> Self {
        Init {
            k,
            paths,
            children: Children::default(),
            sessions: Vec::new(),
            requests: VecDeque::new(),
            current: State::SingleUser,
            runcom_mode: RuncomMode::Autoboot,
            action: None,
            idle: false,
            panics_in_a_row: 0,
            quick_shell_deaths: 0,
        }
    }

    /// The state PID 1 is in (or was in when the fake kernel ran out of events).
    #[must_use]
    pub fn state(&self) -> State {
        self.current
    }

    /// Requests not yet acted on.
    #[must_use]
    pub fn pending(&self) -> Vec<Request> {
        self.requests.iter().copied().collect()
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

    // ----------------------------------------------------------------------------------
    // Start-up and the transition loop

    /// The start-up sequence of init.c `main()` after option parsing: session, `init_exec`,
    /// `init_script`, `init_chroot`, devfs; returns the first state.
    pub fn boot(&mut self, flags: Flags) -> State {
        tracing::info!("starting (pid 1)");
        if let Err(e) = self.k.start() {
            tracing::error!("start-up: {e}");
        }
        if flags.fast {
            self.runcom_mode = RuncomMode::Fastboot;
        }
        if flags.reroot {
            // The trampoline: kenv init_exec, init_script and init_chroot belong to the
            // next init, not to this one.
            tracing::info!("reroot phase two");
            return self.reroot_phase_two();
        }
        self.report_previous_reroot();
        // /dev and /proc before anything runs: an initramfs has no devtmpfs of its own, and
        // init_script needs /dev/null and a console as much as rc does.
        for e in self.k.early_mounts() {
            tracing::warn!("early mounts: {e}");
        }
        if let Some(v) = self.k.kenv(keys::INIT_EXEC) {
            self.init_exec(&v);
        }
        let mut first = if flags.single {
            State::SingleUser
        } else {
            State::Runcom
        };
        if let Some(v) = self.k.kenv(keys::INIT_SCRIPT) {
            if let Some(s) = self.init_script(&v) {
                first = s;
            }
        }
        if let Some(v) = self.k.kenv(keys::INIT_CHROOT) {
            match config::parse_abs_path(keys::INIT_CHROOT, &v) {
                Ok(dir) => match self.k.chroot(&dir) {
                    // The new root's own /dev (init.c mounts devfs after the chroot).
                    Ok(()) => {
                        for e in self.k.early_mounts() {
                            tracing::warn!("early mounts: {e}");
                        }
                    }
                    Err(e) => tracing::warn!("init_chroot: {e}; staying in /"),
                },
                Err(e) => tracing::warn!("{e}; ignored"),
            }
        }
        first
    }

    /// kenv `init_exec`: replace PID 1 by this program, directly if it is executable, else
    /// through the shell. If that fails, start-up continues (init.c would exit and panic).
    fn init_exec(&mut self, value: &str) {
        let path = match config::parse_abs_path(keys::INIT_EXEC, value) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("{e}; continuing normal start-up");
                return;
            }
        };
        let (file, argv) = self.script_argv(&path, &[]);
        tracing::info!("init_exec: replacing pid 1 with {}", path.display());
        let e = self.exec_successor(&file, &argv, &pid1_env());
        tracing::error!("init_exec: {e}; continuing normal start-up");
    }

    /// Replace PID 1 by the init at `path` (kenv `init_exec`, the new root's init). A reinit
    /// receives the queued requests, and those that arrive during the exec, as pending
    /// signals ([`Init::exec_holding_requests`]). Any other init starts with the empty
    /// signal mask the kernel gives PID 1: it may unblock signals before it has handlers,
    /// and the kernel drops default-disposition signals sent to init, so what is queued is
    /// not passed on (logged). Returns only if the exec failed.
    pub(super) fn exec_successor(
        &mut self,
        path: &Path,
        argv: &[String],
        env: &[(String, String)],
    ) -> KernelError {
        if self.k.is_reinit(path) {
            return self.exec_holding_requests(path, argv, env);
        }
        self.collect_requests();
        if !self.requests.is_empty() {
            tracing::warn!(
                "{} is not a reinit: {} queued request(s) are not passed on to it",
                path.display(),
                self.requests.len()
            );
        }
        self.k.exec(path, argv, env)
    }

    /// Exec a reinit with every request still queued, and every signal that arrives during
    /// the exec, pending for it. On failure they come back to this process.
    pub(super) fn exec_holding_requests(
        &mut self,
        path: &Path,
        argv: &[String],
        env: &[(String, String)],
    ) -> KernelError {
        self.collect_requests();
        let carry: Vec<crate::kernel::Sig> =
            self.requests.drain(..).map(signals::signal_of).collect();
        self.k.exec_holding_signals(path, argv, env, &carry)
    }

    /// kenv `init_script`: run it first; failure means single-user. Returns the state to
    /// start in when it is not the default.
    fn init_script(&mut self, value: &str) -> Option<State> {
        let path = match config::parse_abs_path(keys::INIT_SCRIPT, value) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("{e}; going to single user mode");
                return Some(State::SingleUser);
            }
        };
        match self.run_script(Role::InitScript, &path, &[], None, interrupts_rc) {
            ScriptEnd::Done(s) if s.success() => None,
            ScriptEnd::Interrupted => Some(self.follow_requests().unwrap_or(State::SingleUser)),
            end => {
                tracing::error!(
                    "init_script {}: {}; going to single user mode",
                    path.display(),
                    describe(&end)
                );
                Some(State::SingleUser)
            }
        }
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
                Ok(next) => {
                    self.panics_in_a_row = 0;
                    next
                }
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
                        let _ = self.wait(Some(config::STALL_TIMEOUT));
                    }
                    State::SingleUser
                }
            };
            if self.idle {
                return;
            }
        }
    }

    /// Start-up, then states forever. Used by PID 1; never returns.
    pub fn run(&mut self, flags: Flags) -> ! {
        let first = self.boot(flags);
        loop {
            self.transition(first);
            // Only a kernel without events gets here; stay alive.
            self.idle = false;
        }
    }

    fn run_state(&mut self, state: State) -> State {
        match state {
            State::SingleUser => self.single_user(),
            State::Runcom => self.runcom(),
            State::ReadTtys => self.read_ttys(),
            State::MultiUser => self.multi_user(),
            State::CleanTtys => self.clean_ttys(),
            State::Catatonia => self.catatonia(),
            State::Death => self.death(),
            State::DeathSingle => self.death_single(),
        }
    }

    // ----------------------------------------------------------------------------------
    // Waiting, requests, children

    /// The only place PID 1 blocks. Signals become queued requests. Returns false when the
    /// fake kernel has nothing left (and marks the machine idle).
    fn wait(&mut self, timeout: Option<Duration>) -> bool {
        match self.k.wait(timeout) {
            Wake::Signals(sigs) => {
                self.queue_signals(sigs);
                true
            }
            Wake::Timeout => true,
            Wake::Exhausted => {
                self.idle = true;
                false
            }
        }
    }

    /// Turn signals into queued requests.
    fn queue_signals(&mut self, mut sigs: Vec<crate::kernel::Sig>) {
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
    fn signal_convention(&self) -> signals::Convention {
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
    fn drop_stale_requests(&mut self, what: &str) {
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
    fn follow_requests(&mut self) -> Option<State> {
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
    fn take_request(&mut self, r: &Request) -> bool {
        match self.requests.iter().position(|q| q == r) {
            Some(i) => self.requests.remove(i).is_some(),
            None => false,
        }
    }

    fn merge_action(&mut self, a: Action) {
        let merged = self.action.map_or(a, |old| old.merge(a));
        if self.action != Some(merged) {
            tracing::info!("shutdown action: {merged:?}");
        }
        self.action = Some(merged);
    }

    /// During a shutdown, further shutdown requests only upgrade the action; others wait.
    fn absorb_shutdown_requests(&mut self) {
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

    /// Reap everything and hand getty exits to the sessions.
    fn reap(&mut self) -> Harvest {
        let h = self.children.reap_all(&mut self.k);
        for e in &h.ended {
            if let Some(Role::Getty(name)) = &e.role {
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

    fn shell(&self) -> PathBuf {
        config::shell(self.k.kenv(keys::INIT_SHELL), &self.paths.shell)
    }

    /// argv of a script: the script itself when it is executable, else the shell running it.
    fn script_argv(&self, script: &Path, args: &[&str]) -> (PathBuf, Vec<String>) {
        if is_executable(script) {
            let mut argv = vec![script.display().to_string()];
            argv.extend(args.iter().map(|a| (*a).to_owned()));
            (script.to_path_buf(), argv)
        } else {
            self.shell_argv(script, args)
        }
    }

    /// argv of a script run by the shell: `init_shell script args…`.
    fn shell_argv(&self, script: &Path, args: &[&str]) -> (PathBuf, Vec<String>) {
        let sh = self.shell();
        let mut argv = vec![sh.display().to_string(), script.display().to_string()];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        (sh, argv)
    }

    /// Run a script to completion (init.c `run_script`/`runshutdown`): start it on the
    /// console, then wait, reaping everything, until it ends, `interrupt` says a queued
    /// request must be acted on at once, or `timeout` passes.
    fn run_script(
        &mut self,
        role: Role,
        script: &Path,
        args: &[&str],
        timeout: Option<Duration>,
        interrupt: fn(&Request) -> bool,
    ) -> ScriptEnd {
        match self.start_script(role, script, args, config::script_env()) {
            Ok(pid) => self.wait_script(pid, timeout, interrupt),
            Err(end) => end,
        }
    }

    /// Start a script on the console with this environment.
    fn start_script(
        &mut self,
        role: Role,
        script: &Path,
        args: &[&str],
        env: Vec<(String, String)>,
    ) -> Result<Pid, ScriptEnd> {
        if !script.exists() {
            return Err(ScriptEnd::Missing);
        }
        let (file, argv) = self.script_argv(script, args);
        let mut spec = SpawnSpec {
            path: file,
            argv,
            env,
            stdio: Stdio::Console,
            script: true,
        };
        match self.spawn(role.clone(), &spec) {
            // init.c: when the direct exec fails (a noexec mount, a CRLF #! line, a bad
            // interpreter), the shell runs the script.
            Err(e) if spec.path == script => {
                tracing::warn!(
                    "can't directly exec {}: {e}; running it with the shell",
                    script.display()
                );
                (spec.path, spec.argv) = self.shell_argv(script, args);
                self.spawn(role, &spec).map_err(ScriptEnd::SpawnFailed)
            }
            r => r.map_err(ScriptEnd::SpawnFailed),
        }
    }

    /// Wait for a started script (see [`Init::run_script`]). After `Interrupted` the script
    /// still runs and can be waited for again.
    fn wait_script(
        &mut self,
        pid: Pid,
        timeout: Option<Duration>,
        interrupt: fn(&Request) -> bool,
    ) -> ScriptEnd {
        let deadline = timeout.map(|t| self.k.now() + t);
        loop {
            let h = self.reap();
            if let Some(e) = h.ended.iter().find(|e| e.pid == pid) {
                return ScriptEnd::Done(e.status);
            }
            if self.requests.iter().any(interrupt) {
                return ScriptEnd::Interrupted;
            }
            let left = match deadline {
                Some(d) => {
                    let now = self.k.now();
                    if now >= d {
                        return ScriptEnd::TimedOut(pid);
                    }
                    Some(d - now)
                }
                None => None,
            };
            if !self.wait(left) {
                return ScriptEnd::Idle;
            }
        }
    }

    // ----------------------------------------------------------------------------------
    // The states

    /// Bring the system up single user (init.c `single_user`).
    fn single_user(&mut self) -> State {
        if let Some(Action::Reboot(how)) = self.action {
            match self.final_reboot(how) {
                Some(s) => return s,
                None => self.action = None, // reboot failed: give the operator a shell
            }
        }
        let started = self.k.now();
        // init_shell, then the default shell, then /rescue/sh (init.c tries _PATH_BSHELL
        // after the configured shell).
        let mut pid = None;
        for spec in self.single_user_specs() {
            match self.spawn(Role::Shell, &spec) {
                Ok(p) => {
                    pid = Some(p);
                    break;
                }
                Err(e) => tracing::error!("single user: cannot start {}: {e}", spec.path.display()),
            }
        }
        let Some(pid) = pid else {
            tracing::error!(
                "single user: no shell could be started; retrying in {} s",
                config::STALL_TIMEOUT.as_secs()
            );
            return self.stall(State::SingleUser);
        };
        // init.c clears the requested transition once the shell runs.
        self.drop_stale_requests("single user");
        loop {
            let h = self.reap();
            if let Some(e) = h.ended.iter().find(|e| e.pid == pid) {
                return match e.status {
                    ChildStatus::Signaled(libc::SIGKILL) => {
                        tracing::warn!(
                            "single user shell killed (by reboot(8)?); waiting {} s",
                            config::STALL_TIMEOUT.as_secs()
                        );
                        self.stall(State::SingleUser)
                    }
                    ChildStatus::Signaled(sig) => {
                        let quick =
                            self.k.now().saturating_sub(started) < config::SHELL_QUICK_DEATH;
                        self.quick_shell_deaths = if quick {
                            self.quick_shell_deaths + 1
                        } else {
                            0
                        };
                        if self.quick_shell_deaths >= config::SHELL_QUICK_DEATHS {
                            self.quick_shell_deaths = 0;
                            tracing::error!(
                                "single user shell keeps dying at once (signal {sig}); retrying in {} s",
                                config::STALL_TIMEOUT.as_secs()
                            );
                            return self.stall(State::SingleUser);
                        }
                        tracing::warn!("single user shell terminated by signal {sig}, restarting");
                        State::SingleUser
                    }
                    _ => {
                        self.quick_shell_deaths = 0;
                        self.runcom_mode = RuncomMode::Fastboot;
                        State::Runcom
                    }
                };
            }
            if let Some(s) = self.follow_requests() {
                return s;
            }
            if !self.wait(None) {
                return State::SingleUser;
            }
        }
    }

    /// The shells for single-user mode, in the order to try them: `init_shell` (or the
    /// default), the default shell, the rescue shell; behind the password prompt when the
    /// console is insecure and root has a password (FreeBSD SECURE).
    fn single_user_specs(&self) -> Vec<SpawnSpec> {
        let mut shells = vec![self.shell(), self.paths.shell.clone()];
        shells.push(self.paths.rescue_shell.clone());
        shells.dedup();
        shells
            .into_iter()
            .map(|shell| self.single_user_spec(shell))
            .collect()
    }

    /// One of [`Init::single_user_specs`].
    fn single_user_spec(&self, shell: PathBuf) -> SpawnSpec {
        let ask = !self.console_secure()
            && match passwd::root_password(&self.paths.passwd_db) {
                Ok(RootPassword::Hash(_) | RootPassword::Locked) => true,
                Ok(RootPassword::None) => false,
                Err(e) => {
                    tracing::error!("single user: {e}; starting the shell without a password");
                    false
                }
            };
        let (path, argv) = if ask {
            let helper = vec![
                "reinit".into(),
                "sulogin".into(),
                self.paths.passwd_db.display().to_string(),
                shell.display().to_string(),
            ];
            (self.k.self_exe(), helper)
        } else {
            (shell, vec!["-sh".into()])
        };
        SpawnSpec {
            path,
            argv,
            env: config::script_env(),
            stdio: Stdio::Console,
            script: false,
        }
    }

    /// Whether the `console` line of /etc/ttys says `secure`. No ttys file: insecure is the
    /// safe reading only when root has a password, which the caller checks.
    fn console_secure(&self) -> bool {
        ttys::read(&self.paths.ttys).is_ok_and(|(entries, _)| ttys::console_is_secure(&entries))
    }

    /// Run the system startup script (init.c `runcom`).
    fn runcom(&mut self) -> State {
        let script = match self.k.kenv(keys::INIT_RC) {
            Some(v) => config::parse_abs_path(keys::INIT_RC, &v).unwrap_or_else(|e| {
                tracing::warn!("{e}; using {}", self.paths.rc.display());
                self.paths.rc.clone()
            }),
            None => self.paths.rc.clone(),
        };
        let args: &[&str] = match self.runcom_mode {
            RuncomMode::Autoboot => &["autoboot"],
            RuncomMode::Fastboot => &[],
        };
        let end = match self.start_script(Role::Rc, &script, args, config::script_env()) {
            Ok(pid) => loop {
                match self.wait_script(pid, None, interrupts_rc) {
                    // init.c leaves rc running during a reroot; when the reroot aborts, rc
                    // is still being waited for.
                    ScriptEnd::Interrupted if self.take_request(&Request::Reroot) => {
                        if let Some(s) = self.reroot() {
                            return s;
                        }
                    }
                    end => break end,
                }
            },
            Err(end) => end,
        };
        match end {
            ScriptEnd::Done(s) if s.success() => {
                self.runcom_mode = RuncomMode::Autoboot;
                State::ReadTtys
            }
            ScriptEnd::Interrupted => self.follow_requests().unwrap_or(State::Runcom),
            ScriptEnd::Idle => State::Runcom,
            end => {
                // A shutdown requested while rc ran (e.g. rc ran reboot(8)) goes first; a
                // ^Z or a rescan it asked for has no state to apply to any more.
                self.drop_stale_requests(&script.display().to_string());
                if let Some(s) = self.follow_requests() {
                    return s;
                }
                tracing::error!(
                    "{}: {}; going to single user mode",
                    script.display(),
                    describe(&end)
                );
                State::SingleUser
            }
        }
    }

    /// Read /etc/ttys and set up the sessions (init.c `read_ttys`).
    fn read_ttys(&mut self) -> State {
        self.sessions = self.load_ttys().into_iter().map(Session::new).collect();
        State::MultiUser
    }

    /// The entries of /etc/ttys that describe a getty; problems are logged with line numbers.
    fn load_ttys(&self) -> Vec<TtyEntry> {
        let (entries, problems) = match ttys::read(&self.paths.ttys) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("{}: {e}; no gettys", self.paths.ttys.display());
                return Vec::new();
            }
        };
        for p in problems {
            tracing::warn!("{}: {p}", self.paths.ttys.display());
        }
        entries.into_iter().filter(|e| e.getty.is_some()).collect()
    }

    /// Take the system multiuser (init.c `multi_user`).
    fn multi_user(&mut self) -> State {
        self.k.raise_securelevel();
        loop {
            self.reap();
            if let Some(s) = self.follow_requests() {
                return s;
            }
            self.start_due_gettys();
            let now = self.k.now();
            let next = self
                .sessions
                .iter()
                .filter(|s| s.pid.is_none() && !s.shutdown)
                .filter_map(|s| s.not_before)
                .min()
                .map(|t| t.saturating_sub(now));
            if !self.wait(next) {
                return State::MultiUser;
            }
        }
    }

    /// Start every getty that should run, is not running and is not throttled.
    fn start_due_gettys(&mut self) {
        let consoles = self.k.console_names();
        let now = self.k.now();
        for i in 0..self.sessions.len() {
            let s = &self.sessions[i];
            if s.pid.is_some() || s.shutdown || s.not_before.is_some_and(|t| t > now) {
                continue;
            }
            let dev = self.paths.dev.join(&s.entry.name);
            let k = &self.k;
            if !s.entry.wants_getty(|_| k.tty_exists(&dev), &consoles) {
                continue;
            }
            self.start_getty(i);
        }
    }

    /// Start one getty, throttled as init.c does (GETTY_SPACING, GETTY_NSPACE, GETTY_SLEEP).
    fn start_getty(&mut self, i: usize) {
        let now = self.k.now();
        let s = &mut self.sessions[i];
        if s.not_before.take().is_none() {
            let too_soon = s
                .started
                .is_some_and(|t| now.saturating_sub(t) < ttys::GETTY_SPACING);
            if too_soon {
                s.nspace += 1;
                if s.nspace > ttys::GETTY_NSPACE {
                    s.nspace = 0;
                    s.not_before = Some(now + ttys::GETTY_SLEEP);
                    tracing::warn!(
                        "getty repeating too quickly on port {}, sleeping {} secs",
                        self.paths.dev.join(&s.entry.name).display(),
                        ttys::GETTY_SLEEP.as_secs()
                    );
                    return;
                }
            } else {
                s.nspace = 0;
            }
        }
        s.started = Some(now);
        let entry = s.entry.clone();
        let env: Vec<(String, String)> = entry
            .term
            .iter()
            .map(|t| ("TERM".to_owned(), t.clone()))
            .collect();
        if let Some(window) = entry.window.as_ref().filter(|w| !w.is_empty()) {
            let spec = SpawnSpec {
                path: PathBuf::from(&window[0]),
                argv: window.clone(),
                env: env.clone(),
                stdio: Stdio::Null,
                script: false,
            };
            if let Err(e) = self.spawn(Role::Window(entry.name.clone()), &spec) {
                tracing::warn!("window system for {}: {e}", entry.name);
            }
        }
        let Some(argv) = entry.getty.clone().filter(|a| !a.is_empty()) else {
            return;
        };
        let spec = SpawnSpec {
            path: PathBuf::from(&argv[0]),
            argv,
            env,
            stdio: Stdio::Null,
            script: false,
        };
        match self.spawn(Role::Getty(entry.name.clone()), &spec) {
            Ok(pid) => self.sessions[i].pid = Some(pid),
            Err(e) => {
                tracing::warn!("can't start getty on {}: {e}", entry.name);
                // Try again after the spacing rather than spinning.
                self.sessions[i].not_before = Some(now + ttys::GETTY_SPACING);
            }
        }
    }

    /// A getty ended: forget it, and drop the session if it was shut down (init.c
    /// `collect_child`). Respawning happens in `multi_user`.
    fn getty_ended(&mut self, name: &str, e: &Ended) {
        if let Some(idx) = self
            .sessions
            .iter()
            .position(|s| s.entry.name == name && s.pid == Some(e.pid))
        {
            self.sessions[idx].pid = None;
            if self.sessions[idx].shutdown && !self.sessions[idx].present {
                self.sessions.remove(idx);
            }
        }
    }

    /// Rescan /etc/ttys (init.c `clean_ttys`): changed lines restart, removed lines stop,
    /// new lines start.
    fn clean_ttys(&mut self) -> State {
        for s in &mut self.sessions {
            s.present = false;
        }
        for entry in self.load_ttys() {
            match self
                .sessions
                .iter_mut()
                .find(|s| s.entry.name == entry.name)
            {
                Some(s) => {
                    s.present = true;
                    // A line still present is wanted again (init.c clears SE_SHUTDOWN here):
                    // `init q` after `init c` resumes logins.
                    s.shutdown = false;
                    let changed = s.entry.getty != entry.getty
                        || s.entry.window != entry.window
                        || s.entry.term != entry.term;
                    let on_before = s.entry.status.clone();
                    s.entry = entry;
                    if changed || on_before != s.entry.status {
                        s.nspace = 0;
                        s.started = None;
                        s.not_before = None;
                        s.shutdown = false;
                        if let Some(pid) = s.pid {
                            tracing::info!("ttys: {} changed; restarting its getty", s.entry.name);
                            if let Err(e) = self.k.kill(KillTarget::Pid(pid), KillSig::Hup) {
                                tracing::warn!("{e}");
                            }
                        }
                    }
                }
                None => {
                    tracing::info!("ttys: new line for {}", entry.name);
                    self.sessions.push(Session::new(entry));
                }
            }
        }
        let mut keep = Vec::new();
        for mut s in std::mem::take(&mut self.sessions) {
            if s.present {
                keep.push(s);
                continue;
            }
            tracing::info!("ttys: {} removed; stopping its getty", s.entry.name);
            s.shutdown = true;
            if let Some(pid) = s.pid {
                if let Err(e) = self.k.kill(KillTarget::Pid(pid), KillSig::Hup) {
                    tracing::warn!("{e}");
                }
                keep.push(s); // collected by getty_ended
            }
        }
        self.sessions = keep;
        State::MultiUser
    }

    /// Block further logins (init.c `catatonia`): running gettys stay, none respawns.
    fn catatonia(&mut self) -> State {
        for s in &mut self.sessions {
            s.shutdown = true;
        }
        State::MultiUser
    }

    /// Bring the system down (init.c `death`): revoke the ttys, run /etc/rc.shutdown with
    /// its hard timeout.
    fn death(&mut self) -> State {
        self.revoke_ttys();
        self.runshutdown();
        State::DeathSingle
    }

    /// SIGHUP every getty and revoke its terminal; nothing respawns afterwards. Lines on
    /// which no getty ever ran are left alone.
    fn revoke_ttys(&mut self) {
        for i in 0..self.sessions.len() {
            self.sessions[i].shutdown = true;
            if let Some(pid) = self.sessions[i].pid {
                if let Err(e) = self.k.kill(KillTarget::Pid(pid), KillSig::Hup) {
                    tracing::warn!("{e}");
                }
            }
            if self.sessions[i].started.is_none() {
                continue;
            }
            let dev = self.paths.dev.join(&self.sessions[i].entry.name);
            if let Err(e) = self.k.revoke(&dev) {
                tracing::warn!("{e}");
            }
        }
    }

    /// The hard timeout of /etc/rc.shutdown.
    fn shutdown_timeout(&self) -> Duration {
        self.k
            .shutdown_timeout()
            .filter(|t| *t >= Duration::from_secs(2))
            .map_or(config::DEFAULT_SHUTDOWN_TIMEOUT, |t| {
                t.min(Duration::from_secs(config::MAX_SECONDS))
            })
    }

    /// Run /etc/rc.shutdown `reboot|single` (init.c `runshutdown`). Optional; bounded.
    fn runshutdown(&mut self) {
        let action = self.action.unwrap_or(Action::Single);
        let script = self.paths.rc_shutdown.clone();
        let timeout = self.shutdown_timeout();
        let end = self.run_script(
            Role::Shutdown,
            &script,
            &[action.script_arg()],
            Some(timeout),
            |_| false,
        );
        self.absorb_shutdown_requests();
        match end {
            ScriptEnd::Done(s) if s.success() => {}
            ScriptEnd::Missing | ScriptEnd::Idle => {}
            ScriptEnd::TimedOut(pid) => {
                tracing::warn!("timeout expired for {}: killing it", script.display());
                if let Err(e) = self.k.kill(KillTarget::Pid(pid), KillSig::Kill) {
                    tracing::warn!("{e}");
                }
            }
            end => tracing::warn!("{}: {}", script.display(), describe(&end)),
        }
    }

    /// Kill every process (init.c `death_single`): SIGTERM, wait, SIGKILL, wait; then
    /// single-user mode, which reboots if that was asked for.
    fn death_single(&mut self) -> State {
        if let Err(e) = self.k.revoke(&self.paths.console.clone()) {
            tracing::debug!("{e}");
        }
        let dir = self.paths.reroot_dir.clone();
        if self.survivors(&dir).is_none_or(|s| !s.is_empty()) {
            // kill(-1) would reach them: they are stopped last, by exitrd.
            self.stop_all_but_survivors(&dir);
            self.sessions.clear();
            return State::SingleUser;
        }
        for sig in [KillSig::Term, KillSig::Kill] {
            match self.k.kill(KillTarget::All, sig) {
                Ok(()) => {}
                Err(e) if e.errno == nix::errno::Errno::ESRCH => break,
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
                if now >= deadline || !self.wait(Some(deadline - now)) {
                    break;
                }
            }
            if self.idle {
                return State::DeathSingle;
            }
        }
        let left = self.k.processes().unwrap_or_else(|e| {
            tracing::error!("cannot list processes: {e}");
            Vec::new()
        });
        if !left.is_empty() {
            let list: Vec<String> = left
                .iter()
                .map(|p| format!("{} ({})", p.pid, p.name))
                .collect();
            tracing::warn!(
                "some processes would not die; ps axl advised: {}",
                list.join(", ")
            );
        }
        self.sessions.clear();
        State::SingleUser
    }

    /// The end: sync, /etc/rc.final, sync, reboot(2). `None` if reboot(2) failed.
    fn final_reboot(&mut self, how: RebootHow) -> Option<State> {
        self.k.sync();
        let fin = self.paths.rc_final.clone();
        if is_executable(&fin) {
            let timeout = self.shutdown_timeout();
            match self.run_script(Role::Final, &fin, &[], Some(timeout), |_| false) {
                ScriptEnd::Done(_) | ScriptEnd::Missing => {}
                ScriptEnd::TimedOut(pid) => {
                    tracing::warn!("timeout expired for {}: killing it", fin.display());
                    let _ = self.k.kill(KillTarget::Pid(pid), KillSig::Kill);
                }
                ScriptEnd::Idle => return Some(State::SingleUser),
                end => tracing::warn!("{}: {}", fin.display(), describe(&end)),
            }
        }
        let synced = self.exitrd();
        tracing::info!("{how}");
        let r = if synced {
            self.k.reboot_synced(how)
        } else {
            // What rc.final and the last log lines wrote: Linux's reboot(2) does not sync.
            self.k.sync();
            self.k.reboot(how)
        };
        match r {
            Ok(()) => {
                // The kernel is taking the system down; only wait.
                while self.wait(None) {
                    self.reap();
                }
                Some(State::SingleUser)
            }
            Err(e) => {
                tracing::error!("{e}; going to single user mode");
                None
            }
        }
    }

    /// Wait STALL_TIMEOUT (so a message can be read), unless a request comes first.
    fn stall(&mut self, then: State) -> State {
        let deadline = self.k.now() + config::STALL_TIMEOUT;
        loop {
            self.reap();
            if let Some(s) = self.follow_requests() {
                return s;
            }
            let now = self.k.now();
            if now >= deadline || !self.wait(Some(deadline - now)) {
                return then;
            }
        }
    }
}

/// Requests that end a wait for /etc/rc at once (init.c: death_single and reroot).
fn interrupts_rc(r: &Request) -> bool {
    matches!(r, Request::DeathSingle(_) | Request::Reroot)
}

fn describe(end: &ScriptEnd) -> String {
    match end {
        ScriptEnd::Done(s) => s.to_string(),
        ScriptEnd::Missing => "not found".into(),
        ScriptEnd::SpawnFailed(e) => format!("cannot start: {e}"),
        ScriptEnd::Interrupted => "interrupted by a request".into(),
        ScriptEnd::TimedOut(_) => "timed out".into(),
        ScriptEnd::Idle => "no events".into(),
    }
}

/// PID 1's own environment (what the kernel gave it), passed on to programs that replace it.
fn pid1_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// access(path, X_OK) for a regular file.
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[path = "machine_reroot.rs"]
mod reroot;
pub use reroot::RerootError;

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
