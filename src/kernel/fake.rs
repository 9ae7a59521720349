//! A complete, scripted [`Kernel`] for unit tests.
//!
//! It records every call, in order, as one typed [`Call`] log that a test can assert whole, and
//! it plays back [`Event`]s (signals, child exits, passing time) that the test queues. Children
//! do not run: `spawn` hands out pids from 100 upwards and records the spec. When the event queue
//! is empty, [`Posix::wait`] answers [`Wake::Exhausted`] so that the state machine stops.
//!
//! Failures are injected per call kind ([`FakeKernel::fail`]) and a panic can be injected into
//! the n-th spawn ([`FakeKernel::panic_on_spawn`]) to prove that a panicking state lands in
//! single-user mode.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::nmount::{self, FsInfo, Nmount, Opt};
use super::{
    ChildStatus, Errno, Flush, Kernel, KernelError, KillSig, KillTarget, MountSpec, Pid, Posix,
    ProcInfo, Program, Reaped, RebootHow, Sig, SpawnSpec, Stdio, Wake,
};

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// [`Kernel::start`].
    Start,
    /// [`Kernel::early_mounts`].
    EarlyMounts,
    /// [`Posix::spawn`], with the pid handed out (0 if it failed).
    Spawn(SpawnSpec, Pid),
    /// [`Posix::kill`].
    Kill(KillTarget, KillSig),
    /// [`Posix::sync`].
    Sync,
    /// [`Kernel::revoke`].
    Revoke(PathBuf),
    /// [`Kernel::reboot`], with what it writes first.
    Reboot(RebootHow, Flush),
    /// [`Posix::exec`].
    Exec(PathBuf, Vec<String>),
    /// [`Posix::chroot`].
    Chroot(PathBuf),
    /// [`Kernel::raise_securelevel`].
    RaiseSecurelevel,
    /// [`Posix::wait`] with its timeout (waits are recorded so tests can see bounded waits).
    Wait(Option<Duration>),
    /// [`Kernel::mount_tmpfs`].
    MountTmpfs(PathBuf),
    /// [`Kernel::mount`].
    Mount(MountSpec, PathBuf),
    /// [`Kernel::unmount`], with `force`.
    Unmount(PathBuf, bool),
    /// [`Posix::create_file`]: the path, the number of bytes, the mode.
    CreateFile(PathBuf, usize, u32),
    /// [`Kernel::switch_root`]: the target and where it is mounted on the way.
    SwitchRoot(MountSpec, PathBuf),
    /// [`Kernel::remount_ro`].
    RemountRo(PathBuf),
    /// [`Posix::lock_memory`].
    LockMemory,
}

/// Which kernel the fake plays, named for who switches the root in reroot phase two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SwitchKind {
    /// FreeBSD: the kernel (`reboot(RB_REROOT)`); nmount(2) and statfs(2) as FreeBSD
    /// answers them; the console revoked when its session leader exits.
    #[default]
    Kernel,
    /// Linux: PID 1 mounts the new root and moves into it.
    User,
}

/// The kinds of calls that can be made to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallKind {
    /// spawn
    Spawn,
    /// kill
    Kill,
    /// revoke
    Revoke,
    /// reboot
    Reboot,
    /// exec
    Exec,
    /// chroot
    Chroot,
    /// start
    Start,
    /// mount_tmpfs
    MountTmpfs,
    /// mount
    Mount,
    /// unmount
    Unmount,
    /// create_file
    CreateFile,
    /// switch_root
    SwitchRoot,
}

/// A query of the kernel's tables that can be made to answer wrongly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Query {
    /// [`Kernel::processes`]: /proc, or FreeBSD's kern.proc.all.
    Processes,
    /// [`Kernel::mounts`]: mountinfo, or FreeBSD's getfsstat(2).
    Mounts,
}

/// A wrong answer to a [`Query`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Answer {
    /// The query fails (EIO).
    Error,
    /// The query answers with nothing (e.g. /proc not mounted: an empty directory).
    Empty,
    /// The answer ends after half its entries (a read cut short).
    Truncated,
}

/// Something that happens while PID 1 waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A signal arrives.
    Signal(Sig),
    /// A child changes state (SIGCHLD is delivered).
    Exit(Pid, ChildStatus),
    /// Time passes without any signal.
    Tick(Duration),
}

/// The fake kernel. See the module documentation.
#[derive(Debug, Default)]
pub struct FakeKernel {
    /// The root as [`Kernel::current_root`] reports it (`None`: a RAM root); the target
    /// after a switch.
    root: Option<MountSpec>,
    calls: Vec<Call>,
    events: VecDeque<Event>,
    reapable: VecDeque<(Pid, ChildStatus)>,
    live: BTreeSet<Pid>,
    next_pid: Pid,
    clock: Duration,
    failures: HashMap<CallKind, VecDeque<Option<Errno>>>,
    spawn_count: usize,
    panic_on_spawn: Option<usize>,
    kenv: HashMap<String, String>,
    missing_ttys: BTreeSet<PathBuf>,
    consoles: Vec<String>,
    shutdown_timeout: Option<Duration>,
    /// Children that ignore SIGTERM (they die only of SIGKILL).
    stubborn: BTreeSet<Pid>,
    /// Children that survive even SIGKILL (stuck in the kernel).
    unkillable: BTreeSet<Pid>,
    /// What each live child runs (for [`Kernel::processes`]).
    specs: HashMap<Pid, SpawnSpec>,
    /// Processes that are not children of PID 1 (daemons reparented elsewhere).
    others: BTreeMap<Pid, ProcInfo>,
    /// Mounted directories, in mount order.
    mounted: Vec<PathBuf>,
    /// What statfs(2) says of each mount the FreeBSD personality made, and of `/` (type,
    /// read-only); `/` is a read-write "ufs" until remounted.
    fs_info: HashMap<PathBuf, (String, bool)>,
    /// A terminal standing in for the console, revoked as FreeBSD revokes the console (see
    /// [`FakeKernel::set_pty_console`]).
    console: Option<super::fake_console::PtyConsole>,
    /// The child whose session has the console as controlling terminal.
    ctty: Option<Pid>,
    /// How many times the console was revoked.
    console_revokes: usize,
    /// Queries that answer wrongly from now on.
    misanswers: HashMap<Query, Answer>,
    /// How many times kenv or the console list was read (each a file read on Linux).
    table_reads: std::cell::Cell<usize>,
    /// How many of the next bounded mounts never answer.
    hung_mounts: usize,
    /// Every nmount(2) the FreeBSD personality was asked for, with its answer.
    nmounts: Vec<(Vec<Opt>, nmount::Flags, Result<(), Errno>)>,
    /// What a device holds: its mount appears as a symlink to this directory.
    devices: HashMap<String, PathBuf>,
    switch_kind: SwitchKind,
    self_exe: Option<PathBuf>,
    libraries: Option<(PathBuf, Vec<PathBuf>)>,
    exec_envs: Vec<Vec<(String, String)>>,
    /// A signal that arrives while the next exec runs.
    during_exec: Option<Sig>,
    reinits: Vec<PathBuf>,
    /// Every script spawned exits at once with this status.
    scripts_exit: Option<ChildStatus>,
    /// Once the events are used up: let this much time pass, this many more times.
    idle_time: (Duration, usize),
    /// The signals carried by each exec that held them.
    exec_carries: Vec<Vec<Sig>>,
    /// Run spawned programs for real, chrooted here (see [`FakeKernel::run_spawns_in`]).
    chroot: Option<PathBuf>,
    /// How many more spawns run for real.
    real_spawns: usize,
    /// kenv values written by programs that ran for real (`key=value` lines).
    kenv_file: Option<PathBuf>,
}

impl FakeKernel {
    /// A fresh fake kernel: no events, no children, clock at 0, pids from 100.
    #[must_use]
    pub fn new() -> Self {
        FakeKernel {
            next_pid: 100,
            root: Some(MountSpec {
                fstype: "ufs".into(),
                device: "/dev/md0".into(),
                options: String::new(),
                read_only: false,
            }),
            ..FakeKernel::default()
        }
    }

    /// Make the current root one that cannot be mounted again (an initramfs), or `spec`.
    pub fn set_root(&mut self, spec: Option<MountSpec>) -> &mut Self {
        self.root = spec;
        self
    }

    /// The ordered call log.
    #[must_use]
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// The call log without [`Call::Wait`] entries.
    #[must_use]
    pub fn actions(&self) -> Vec<Call> {
        self.calls
            .iter()
            .filter(|c| !matches!(c, Call::Wait(_)))
            .cloned()
            .collect()
    }

    /// The specs of every spawn, in order, with their pids.
    #[must_use]
    pub fn spawns(&self) -> Vec<(SpawnSpec, Pid)> {
        self.calls
            .iter()
            .filter_map(|c| match c {
                Call::Spawn(s, p) => Some((s.clone(), *p)),
                _ => None,
            })
            .collect()
    }

    /// Forget the calls recorded so far.
    pub fn clear_calls(&mut self) {
        self.calls.clear();
    }

    /// Queue an event.
    pub fn push(&mut self, event: Event) -> &mut Self {
        self.events.push_back(event);
        self
    }

    /// Queue a signal.
    pub fn signal(&mut self, sig: Sig) -> &mut Self {
        self.push(Event::Signal(sig))
    }

    /// Queue a child exit with a status.
    pub fn exit(&mut self, pid: Pid, status: ChildStatus) -> &mut Self {
        self.push(Event::Exit(pid, status))
    }

    /// Queue passing time.
    pub fn tick(&mut self, d: Duration) -> &mut Self {
        self.push(Event::Tick(d))
    }

    /// Make the next call of `kind` fail with `errno` (queued: call several times for several).
    pub fn fail(&mut self, kind: CallKind, errno: Errno) -> &mut Self {
        self.failures
            .entry(kind)
            .or_default()
            .push_back(Some(errno));
        self
    }

    /// Let the next `skip` calls of `kind` succeed, then fail one with `errno`.
    pub fn fail_after(&mut self, kind: CallKind, skip: usize, errno: Errno) -> &mut Self {
        let q = self.failures.entry(kind).or_default();
        q.extend(std::iter::repeat_n(None, skip));
        q.push_back(Some(errno));
        self
    }

    /// Panic inside the n-th spawn (0-based), as a bug in a state function would.
    pub fn panic_on_spawn(&mut self, n: usize) -> &mut Self {
        self.panic_on_spawn = Some(n);
        self
    }

    /// Set a kernel environment variable.
    pub fn set_kenv(&mut self, name: &str, value: &str) -> &mut Self {
        self.kenv.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Pretend a terminal device does not exist.
    pub fn remove_tty(&mut self, path: &Path) -> &mut Self {
        self.missing_ttys.insert(path.to_path_buf());
        self
    }

    /// Set the console device names.
    pub fn set_consoles(&mut self, names: &[&str]) -> &mut Self {
        self.consoles = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Set the platform shutdown timeout.
    pub fn set_shutdown_timeout(&mut self, d: Duration) -> &mut Self {
        self.shutdown_timeout = Some(d);
        self
    }

    /// Make a child ignore SIGTERM.
    pub fn stubborn(&mut self, pid: Pid) -> &mut Self {
        self.stubborn.insert(pid);
        self
    }

    /// Make a child survive SIGKILL.
    pub fn unkillable(&mut self, pid: Pid) -> &mut Self {
        self.unkillable.insert(pid);
        self
    }

    /// Add a process that is not a child of PID 1 (it dies of any kill, except SIGCONT).
    pub fn add_process(&mut self, p: ProcInfo) -> &mut Self {
        self.others.insert(p.pid, p);
        self
    }

    /// Let `device` be mountable; its mounts show `contents`.
    pub fn add_device(&mut self, device: &str, contents: &Path) -> &mut Self {
        self.devices
            .insert(device.to_owned(), contents.to_path_buf());
        self
    }

    /// Pretend `dir` is already a mount point.
    pub fn set_mounted(&mut self, dir: &Path) -> &mut Self {
        self.mounted.push(dir.to_path_buf());
        self
    }

    /// Pretend a tmpfs is mounted on `dir` already (a staging area left by an earlier init).
    pub fn set_mounted_tmpfs(&mut self, dir: &Path) -> &mut Self {
        self.fs_info
            .insert(dir.to_path_buf(), ("tmpfs".to_owned(), false));
        self.set_mounted(dir)
    }

    /// Directories mounted now, in mount order.
    #[must_use]
    pub fn mounted(&self) -> Vec<PathBuf> {
        self.mounted.clone()
    }

    /// Which kernel to play (default: FreeBSD's, which switches the root itself).
    pub fn set_switch_kind(&mut self, kind: SwitchKind) -> &mut Self {
        self.switch_kind = kind;
        self
    }

    /// What [`Kernel::self_exe`] answers (default `/sbin/init`).
    pub fn set_self_exe(&mut self, path: &Path) -> &mut Self {
        self.self_exe = Some(path.to_path_buf());
        self
    }

    /// Let the platform's libraries live in `root` (e.g. a FreeBSD tree on a Linux test
    /// host), in these directories of it.
    pub fn set_libraries(&mut self, root: &Path, dirs: &[&str]) -> &mut Self {
        self.libraries = Some((root.to_path_buf(), dirs.iter().map(PathBuf::from).collect()));
        self
    }

    /// Let every script (rc, rc.shutdown, rc.final, the hook) exit at once with `status`, so
    /// that a whole sequence runs without scripting each exit.
    pub fn scripts_exit(&mut self, status: ChildStatus) -> &mut Self {
        self.scripts_exit = Some(status);
        self
    }

    /// Once the scripted events are used up, let `step` pass at each wait, `times` times,
    /// before [`Wake::Exhausted`]: bounded waits then run out as they would.
    pub fn let_time_pass(&mut self, step: Duration, times: usize) -> &mut Self {
        self.idle_time = (step, times);
        self
    }

    /// Let the program at `path` be a reinit ([`Kernel::is_reinit`]).
    pub fn set_reinit(&mut self, path: &Path) -> &mut Self {
        self.reinits.push(path.to_path_buf());
        self
    }

    /// Let `sig` arrive while the next exec runs (after PID 1's last look at its requests).
    pub fn signal_during_exec(&mut self, sig: Sig) -> &mut Self {
        self.during_exec = Some(sig);
        self
    }

    /// The signals held pending across each exec that held signals, in order: those carried
    /// and one that arrived during the exec.
    #[must_use]
    pub fn exec_carries(&self) -> &[Vec<Sig>] {
        &self.exec_carries
    }

    /// The environment of every exec, in order.
    #[must_use]
    pub fn exec_envs(&self) -> &[Vec<(String, String)>] {
        &self.exec_envs
    }

    /// Whether this fake behaves as FreeBSD (the kernel switches the root) rather than Linux.
    fn freebsd(&self) -> bool {
        self.switch_kind == SwitchKind::Kernel
    }

    /// Let a pty behind the symbolic link `link` stand for the console, and revoke it the
    /// way FreeBSD does: the first console child takes the console as its controlling
    /// terminal (a terminal belongs to one session at a time), and when it exits, `exit1()`
    /// revokes the terminal and every open descriptor of it fails (EIO) until reopened,
    /// PID 1's own included (see [`super::fake_console`]). Only the FreeBSD personality
    /// revokes: Linux does not at a session leader's exit.
    pub fn set_pty_console(&mut self, link: &Path) -> std::io::Result<&mut Self> {
        self.console = Some(super::fake_console::PtyConsole::new(link)?);
        Ok(self)
    }

    /// Everything written to the pty console so far (see [`FakeKernel::set_pty_console`]),
    /// once every one of `want` is in it or 5 s have passed.
    #[must_use]
    pub fn console_text(&self, want: &[&str]) -> String {
        self.console
            .as_ref()
            .map(|c| c.text(want))
            .unwrap_or_default()
    }

    /// Make every [`Kernel::processes`] fail from now on (EIO).
    pub fn break_process_list(&mut self) -> &mut Self {
        self.misanswer(Query::Processes, Answer::Error)
    }

    /// How many times kenv or the console list was read so far.
    #[must_use]
    pub fn table_reads(&self) -> usize {
        self.table_reads.get()
    }

    /// Make every answer to `query` wrong from now on.
    pub fn misanswer(&mut self, query: Query, answer: Answer) -> &mut Self {
        self.misanswers.insert(query, answer);
        self
    }

    /// The answer to `query`, spoilt as [`FakeKernel::misanswer`] asked.
    fn answer<T>(&self, query: Query, mut v: Vec<T>) -> Result<Vec<T>, KernelError> {
        match self.misanswers.get(&query) {
            None => {}
            Some(Answer::Error) => {
                let (call, path) = match query {
                    Query::Processes => ("readdir", "/proc"),
                    Query::Mounts => ("read", "/proc/self/mountinfo"),
                };
                return Err(KernelError::new(call, Some(Path::new(path)), Errno::EIO));
            }
            Some(Answer::Empty) => v.clear(),
            Some(Answer::Truncated) => v.truncate(v.len() / 2),
        }
        Ok(v)
    }

    /// Let the next bounded mount never answer (a device whose block daemon hangs).
    pub fn hang_next_mount(&mut self) -> &mut Self {
        self.hung_mounts += 1;
        self
    }

    /// How many times the console was revoked.
    #[must_use]
    pub fn console_revokes(&self) -> usize {
        self.console_revokes
    }

    /// Every nmount(2) of the FreeBSD personality: options, flags, errno.
    pub fn nmounts(&self) -> &[(Vec<Opt>, nmount::Flags, Result<(), Errno>)] {
        &self.nmounts
    }

    /// Pretend `/` is mounted read-only already.
    pub fn set_root_read_only(&mut self) -> &mut Self {
        self.fs_info
            .insert(PathBuf::from("/"), ("ufs".to_owned(), true));
        self
    }

    /// Whether `/` is read-only now (the FreeBSD personality remounts it).
    #[must_use]
    pub fn root_read_only(&self) -> bool {
        self.fs_info.get(Path::new("/")).is_some_and(|(_, ro)| *ro)
    }

    fn result(
        &mut self,
        kind: CallKind,
        call: &'static str,
        target: &Path,
    ) -> Result<(), KernelError> {
        match self.injected(kind) {
            Some(e) => Err(KernelError::new(call, Some(target), e)),
            None => Ok(()),
        }
    }

    /// Run the next `n` spawned programs for real, to completion, chrooted into `root`
    /// (paths under `root` in the spec are taken relative to it; stdin is /dev/null), and
    /// queue each exit as the next event. `kenv_file` (inside `root`) holds `key=value` lines
    /// the programs write (e.g. with a kenv(1) stand-in); they override
    /// [`FakeKernel::set_kenv`].
    pub fn run_spawns_in(&mut self, root: &Path, kenv_file: &Path, n: usize) -> &mut Self {
        self.chroot = Some(root.to_path_buf());
        self.kenv_file = Some(kenv_file.to_path_buf());
        self.real_spawns = n;
        self
    }

    /// Run `spec` chrooted into `root` and return how it ended. Without privilege, the
    /// chroot happens in a user namespace of the test user's own (mapped to root there).
    fn run_for_real(root: &Path, spec: &SpawnSpec) -> ChildStatus {
        use std::os::unix::process::ExitStatusExt;
        let inside = |p: &str| match Path::new(p).strip_prefix(root) {
            Ok(rest) => Path::new("/").join(rest).display().to_string(),
            Err(_) => p.to_owned(),
        };
        let mut cmd = if nix::unistd::geteuid().is_root() {
            std::process::Command::new("chroot")
        } else {
            let mut c = std::process::Command::new("unshare");
            c.args(["--user", "--map-root-user", "chroot"]);
            c
        };
        let status = cmd
            .arg(root)
            .arg(inside(&spec.path.display().to_string()))
            .args(spec.argv.iter().skip(1).map(|a| inside(a)))
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, inside(v))))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        match status {
            Ok(s) => match (s.code(), s.signal()) {
                (Some(c), _) => ChildStatus::Exited(c),
                (None, Some(sig)) => ChildStatus::Signaled(sig),
                _ => ChildStatus::Exited(127),
            },
            Err(_) => ChildStatus::Exited(127),
        }
    }

    /// Pids spawned and not yet reaped.
    #[must_use]
    pub fn live(&self) -> Vec<Pid> {
        self.live.iter().copied().collect()
    }

    /// The fake clock.
    #[must_use]
    pub fn clock(&self) -> Duration {
        self.clock
    }

    fn injected(&mut self, kind: CallKind) -> Option<Errno> {
        self.failures
            .get_mut(&kind)
            .and_then(VecDeque::pop_front)
            .flatten()
    }

    /// A killed child dies at once: it becomes reapable.
    fn deliver(&mut self, pid: Pid, sig: KillSig) {
        let dies = match sig {
            KillSig::Kill => !self.unkillable.contains(&pid),
            KillSig::Term | KillSig::Hup => !self.stubborn.contains(&pid),
            KillSig::Cont => false,
        };
        if dies {
            self.others.remove(&pid);
        }
        if dies && self.live.contains(&pid) && !self.reapable.iter().any(|(p, _)| *p == pid) {
            self.reapable
                .push_back((pid, ChildStatus::Signaled(sig.number())));
        }
    }
}

impl Posix for FakeKernel {
    fn spawn(&mut self, spec: &SpawnSpec) -> Result<Pid, KernelError> {
        let n = self.spawn_count;
        self.spawn_count += 1;
        if let Some(e) = self.injected(CallKind::Spawn) {
            self.calls.push(Call::Spawn(spec.clone(), 0));
            return Err(KernelError::new("execve", Some(&spec.path), e));
        }
        #[allow(clippy::panic)] // The injected fault this fake exists to provide.
        if self.panic_on_spawn == Some(n) {
            panic!("injected panic in spawn #{n}");
        }
        let pid = self.next_pid;
        self.next_pid += 1;
        self.live.insert(pid);
        self.specs.insert(pid, spec.clone());
        if spec.stdio == Stdio::Console && self.ctty.is_none() {
            self.ctty = Some(pid);
        }
        self.calls.push(Call::Spawn(spec.clone(), pid));
        if let Some(root) = self.chroot.as_ref().filter(|_| self.real_spawns > 0) {
            let status = Self::run_for_real(root, spec);
            self.events.push_front(Event::Exit(pid, status));
            self.real_spawns -= 1;
        } else if let Some(status) = self.scripts_exit.filter(|_| spec.script) {
            self.events.push_front(Event::Exit(pid, status));
        }
        Ok(pid)
    }

    fn reap(&mut self) -> Reaped {
        match self.reapable.pop_front() {
            Some((pid, status)) => {
                if !matches!(status, ChildStatus::Stopped(_)) {
                    self.live.remove(&pid);
                    if self.ctty == Some(pid) {
                        self.ctty = None;
                        self.session_leader_exited();
                    }
                }
                Reaped::Child(pid, status)
            }
            None if self.live.is_empty() => Reaped::NoChildren,
            None => Reaped::Nothing,
        }
    }

    fn kill(&mut self, target: KillTarget, sig: KillSig) -> Result<(), KernelError> {
        self.calls.push(Call::Kill(target, sig));
        if let Some(e) = self.injected(CallKind::Kill) {
            return Err(KernelError::new("kill", None, e));
        }
        match target {
            // The fake has no process groups: a group is its leader.
            KillTarget::Pid(pid) | KillTarget::Group(pid) => {
                if !self.live.contains(&pid) && !self.others.contains_key(&pid) {
                    return Err(KernelError::new("kill", None, Errno::ESRCH));
                }
                self.deliver(pid, sig);
            }
            KillTarget::All => {
                if self.live.is_empty() && self.others.is_empty() {
                    return Err(KernelError::new("kill", None, Errno::ESRCH));
                }
                let others: Vec<Pid> = self.others.keys().copied().collect();
                for pid in self.live().into_iter().chain(others) {
                    self.deliver(pid, sig);
                }
            }
        }
        Ok(())
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Wake {
        self.calls.push(Call::Wait(timeout));
        if !self.reapable.is_empty() {
            return Wake::Signals(vec![Sig::Chld]);
        }
        // A zero timeout polls: only a signal at the head of the queue has arrived already;
        // child exits and passing time are still to come.
        if timeout == Some(Duration::ZERO) {
            return match self.events.front() {
                Some(Event::Signal(s)) => {
                    let s = *s;
                    self.events.pop_front();
                    Wake::Signals(vec![s])
                }
                _ => Wake::Timeout,
            };
        }
        match self.events.pop_front() {
            None if self.idle_time.1 > 0 => {
                self.idle_time.1 -= 1;
                self.clock += self.idle_time.0;
                Wake::Timeout
            }
            None => Wake::Exhausted,
            Some(Event::Signal(s)) => Wake::Signals(vec![s]),
            Some(Event::Exit(pid, status)) => {
                if self.live.contains(&pid) {
                    self.reapable.push_back((pid, status));
                }
                Wake::Signals(vec![Sig::Chld])
            }
            Some(Event::Tick(d)) => {
                self.clock += d;
                Wake::Timeout
            }
        }
    }

    fn now(&self) -> Duration {
        self.clock
    }

    fn sync(&mut self) {
        self.calls.push(Call::Sync);
    }

    fn exec(&mut self, program: Program<'_>, hold: Option<&[Sig]>) -> KernelError {
        let Program { path, argv, env } = program;
        self.calls
            .push(Call::Exec(path.to_path_buf(), argv.to_vec()));
        self.exec_envs.push(env.to_vec());
        if let Some(carry) = hold {
            // A signal that arrives during the exec is held for the next program too.
            let mut held = carry.to_vec();
            held.extend(self.during_exec);
            self.exec_carries.push(held);
        }
        if let Some(s) = self.during_exec.take() {
            self.events.push_front(Event::Signal(s));
        }
        // The exec failed: the carried signals come back to this process first.
        for s in hold.unwrap_or_default().iter().rev() {
            self.events.push_front(Event::Signal(*s));
        }
        let errno = self.injected(CallKind::Exec).unwrap_or(Errno::ENOENT);
        KernelError::new("execve", Some(path), errno)
    }

    fn chroot(&mut self, path: &Path) -> Result<(), KernelError> {
        self.calls.push(Call::Chroot(path.to_path_buf()));
        match self.injected(CallKind::Chroot) {
            Some(e) => Err(KernelError::new("chroot", Some(path), e)),
            None => Ok(()),
        }
    }

    fn tty_exists(&self, path: &Path) -> bool {
        !self.missing_ttys.contains(path)
    }

    fn create_file(&mut self, path: &Path, data: &[u8], mode: u32) -> Result<(), KernelError> {
        self.calls
            .push(Call::CreateFile(path.to_path_buf(), data.len(), mode));
        self.result(CallKind::CreateFile, "open", path)?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, data))
            .map_err(|e| KernelError::io("open", path, &e))
    }

    fn lock_memory(&mut self) -> Result<(), KernelError> {
        self.calls.push(Call::LockMemory);
        Ok(())
    }
}

impl Kernel for FakeKernel {
    fn start(&mut self) -> Result<(), KernelError> {
        self.calls.push(Call::Start);
        match self.injected(CallKind::Start) {
            Some(e) => Err(KernelError::new("setsid", None, e)),
            None => Ok(()),
        }
    }

    fn early_mounts(&mut self) -> Vec<KernelError> {
        self.calls.push(Call::EarlyMounts);
        Vec::new()
    }

    fn revoke(&mut self, path: &Path) -> Result<(), KernelError> {
        self.calls.push(Call::Revoke(path.to_path_buf()));
        match self.injected(CallKind::Revoke) {
            Some(e) => Err(KernelError::new("revoke", Some(path), e)),
            None => Ok(()),
        }
    }

    fn reboot(&mut self, how: RebootHow, flush: Flush) -> Result<(), KernelError> {
        self.calls.push(Call::Reboot(how, flush));
        match self.injected(CallKind::Reboot) {
            Some(e) => Err(KernelError::new("reboot", None, e)),
            None => Ok(()),
        }
    }

    fn kenv(&self, name: &str) -> Option<String> {
        self.table_reads.set(self.table_reads.get() + 1);
        let written = self
            .kenv_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|t| {
                t.lines()
                    .rev()
                    .filter_map(|l| l.split_once('='))
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_owned())
            });
        written.or_else(|| self.kenv.get(name).cloned())
    }

    fn shutdown_timeout(&self) -> Option<Duration> {
        self.shutdown_timeout
    }

    fn console_names(&self) -> Vec<String> {
        self.table_reads.set(self.table_reads.get() + 1);
        self.consoles.clone()
    }

    fn raise_securelevel(&mut self) {
        self.calls.push(Call::RaiseSecurelevel);
    }

    fn processes(&self) -> Result<Vec<ProcInfo>, KernelError> {
        let mut v: Vec<ProcInfo> = self
            .live
            .iter()
            .filter(|pid| !self.reapable.iter().any(|(p, _)| p == *pid))
            .map(|&pid| {
                let spec = self.specs.get(&pid);
                ProcInfo {
                    pid,
                    name: format!("fake{pid}"),
                    exe: spec.map(|s| s.path.clone()),
                    exe_dev: None,
                    program: None,
                    argv0: Some(
                        spec.and_then(|s| s.argv.first().cloned())
                            .unwrap_or_default(),
                    ),
                    uid: Some(0),
                }
            })
            .chain(self.others.values().cloned())
            .collect();
        v.sort_by_key(|p| p.pid);
        self.answer(Query::Processes, v)
    }

    /// The host's lstat, except that the files of the user the tests run as are root's: a
    /// test's tree is trusted as a root-owned one would be, without privileges.
    fn lstat(&self, path: &Path) -> std::io::Result<crate::newroot::Meta> {
        let mut m = crate::newroot::host_lstat(path)?;
        if m.uid == nix::unistd::geteuid().as_raw() {
            m.uid = 0;
        }
        Ok(m)
    }

    fn is_reinit(&self, path: &Path) -> bool {
        self.reinits.iter().any(|p| p == path)
    }

    fn self_exe(&self) -> PathBuf {
        self.self_exe
            .clone()
            .unwrap_or_else(|| PathBuf::from("/sbin/init"))
    }

    fn library_paths(&self) -> (PathBuf, Vec<PathBuf>) {
        self.libraries
            .clone()
            .unwrap_or_else(|| (PathBuf::from("/"), crate::carry::system_dirs()))
    }

    fn new_root_needs(&self) -> Vec<PathBuf> {
        let needs: &[&str] = if self.freebsd() {
            &["/dev"]
        } else {
            &["/dev", "/proc"]
        };
        needs.iter().map(PathBuf::from).collect()
    }

    fn is_mount_point(&self, dir: &Path) -> bool {
        self.mounted.iter().any(|m| m == dir)
    }

    fn fs_type(&self, dir: &Path) -> Option<String> {
        self.fs_info.get(dir).map(|(t, _)| t.clone())
    }

    fn mount_tmpfs(&mut self, dir: &Path) -> Result<(), KernelError> {
        self.calls.push(Call::MountTmpfs(dir.to_path_buf()));
        self.result(CallKind::MountTmpfs, "nmount tmpfs", dir)?;
        if self.freebsd() {
            return nmount::mount_tmpfs(self, dir);
        }
        std::fs::create_dir_all(dir).map_err(|e| KernelError::io("mkdir", dir, &e))?;
        self.mounted.push(dir.to_path_buf());
        self.fs_info
            .insert(dir.to_path_buf(), ("tmpfs".to_owned(), false));
        Ok(())
    }

    fn mount_bounded(
        &mut self,
        spec: &MountSpec,
        dir: &Path,
        limit: Duration,
    ) -> Result<(), KernelError> {
        if self.hung_mounts > 0 {
            // The call never returns: the deadline passes and the child is killed.
            self.hung_mounts -= 1;
            self.calls
                .push(Call::Mount(spec.clone(), dir.to_path_buf()));
            self.clock += limit;
            return Err(KernelError::no_answer("mount", dir, limit));
        }
        self.mount(spec, dir)
    }

    fn mount(&mut self, spec: &MountSpec, dir: &Path) -> Result<(), KernelError> {
        self.calls
            .push(Call::Mount(spec.clone(), dir.to_path_buf()));
        self.mount_unrecorded(spec, dir)
    }

    fn unmount(&mut self, dir: &Path, force: bool) -> Result<(), KernelError> {
        self.calls.push(Call::Unmount(dir.to_path_buf(), force));
        self.result(CallKind::Unmount, "unmount", dir)?;
        let Some(i) = self.mounted.iter().rposition(|m| m == dir) else {
            return Err(KernelError::new("unmount", Some(dir), Errno::EINVAL));
        };
        self.mounted.remove(i);
        self.fs_info.remove(dir);
        if dir.is_symlink() {
            let _ = std::fs::remove_file(dir);
        }
        Ok(())
    }

    fn mounts(&self) -> Result<Vec<PathBuf>, KernelError> {
        self.answer(Query::Mounts, self.mounted.clone())
    }

    fn remount_ro(&mut self, dir: &Path) -> Result<(), KernelError> {
        self.calls.push(Call::RemountRo(dir.to_path_buf()));
        self.result(CallKind::Mount, "remount", dir)?;
        if self.freebsd() {
            return nmount::remount_ro(self, dir);
        }
        Ok(())
    }

    fn switch_root(&mut self, target: &MountSpec, at: &Path) -> Result<Vec<String>, KernelError> {
        self.calls
            .push(Call::SwitchRoot(target.clone(), at.to_path_buf()));
        if !self.freebsd() {
            // Linux's switch mounts the target first (a failure there is a Mount failure).
            self.mount_unrecorded(target, at)?;
        }
        self.result(CallKind::SwitchRoot, "switch_root", at)?;
        self.root = Some(MountSpec {
            options: String::new(),
            ..target.clone()
        });
        Ok(Vec::new())
    }

    fn current_root(&self) -> Result<Option<MountSpec>, KernelError> {
        Ok(self.root.clone())
    }
}

/// FreeBSD's nmount(2) and statfs(2), as a real FreeBSD kernel answers them (see
/// [`nmount`] for the rules, seen on FreeBSD 13.2). A mounted device shows its contents
/// through a symlink that replaces the mount point.
impl Nmount for FakeKernel {
    fn nmount(
        &mut self,
        opts: &[Opt],
        flags: nmount::Flags,
    ) -> Result<(), (Errno, Option<String>)> {
        let r = self.freebsd_nmount(opts, flags);
        self.nmounts
            .push((opts.to_vec(), flags, r.as_ref().map(drop).map_err(|e| e.0)));
        r
    }

    fn statfs(&self, path: &Path) -> Result<FsInfo, Errno> {
        let on = self
            .mounted
            .iter()
            .filter(|m| path.starts_with(m))
            .max_by_key(|m| m.components().count())
            .cloned()
            .unwrap_or_else(|| PathBuf::from("/"));
        let (fstype, read_only) = self
            .fs_info
            .get(&on)
            .cloned()
            .unwrap_or_else(|| ("ufs".to_owned(), false));
        Ok(FsInfo {
            fstype,
            mounted_from: format!("/dev/fake{}", on.components().count()),
            mounted_on: on,
            read_only,
        })
    }
}

impl FakeKernel {
    /// What [`Kernel::mount`] does, without its entry in the call log (also the first step
    /// of the Linux personality's [`Kernel::switch_root`]).
    fn mount_unrecorded(&mut self, spec: &MountSpec, dir: &Path) -> Result<(), KernelError> {
        self.result(CallKind::Mount, "mount", dir)?;
        if self.freebsd() {
            return nmount::mount(self, spec, dir);
        }
        // Linux's mount(2) needs the mount point too; the Linux kernel creates it first.
        if !dir.is_dir() {
            std::fs::create_dir(dir).map_err(|e| KernelError::io("mkdir", dir, &e))?;
        }
        self.attach(&spec.device, dir)
            .map_err(|e| KernelError::new("mount", Some(dir), e))?;
        self.mounted.push(dir.to_path_buf());
        Ok(())
    }

    /// Mount `device` on the directory `dir`: the mount shows the device's contents, through
    /// a symlink that replaces the directory.
    fn attach(&self, device: &str, dir: &Path) -> Result<(), Errno> {
        let contents = self.devices.get(device).ok_or(Errno::ENXIO)?;
        std::fs::remove_dir(dir).map_err(|e| Errno::from(&e))?;
        std::os::unix::fs::symlink(contents, dir).map_err(|e| Errno::from(&e))
    }

    /// The console's session leader exited: FreeBSD revokes the console.
    fn session_leader_exited(&mut self) {
        if !self.freebsd() {
            return;
        }
        let Some(console) = self.console.as_mut() else {
            return;
        };
        self.console_revokes += 1;
        if let Err(e) = console.revoke() {
            // The test asked for a revoking console and cannot have one: say so loudly.
            #[allow(clippy::panic)] // A test-only fake that cannot do what the test asked for.
            {
                panic!(
                    "fake kernel: cannot revoke {}: {e}",
                    console.path().display()
                );
            }
        }
    }

    /// nmount(2) as FreeBSD answers it.
    fn freebsd_nmount(
        &mut self,
        opts: &[Opt],
        flags: nmount::Flags,
    ) -> Result<(), (Errno, Option<String>)> {
        let get = |name: &str| {
            opts.iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.clone())
        };
        let invalid = |msg: &str| Err((Errno::EINVAL, Some(msg.to_owned())));
        let Some(fstype) = get("fstype") else {
            return invalid("Invalid fstype");
        };
        let Some(fspath) = get("fspath") else {
            return invalid("Invalid fspath");
        };
        let dir = PathBuf::from(fspath);
        if flags.update {
            // vfs_domount_update: only the root of a mounted filesystem can be updated.
            if dir != Path::new("/") && !self.mounted.contains(&dir) {
                return Err((Errno::EINVAL, None));
            }
            let info = self.fs_info.entry(dir).or_insert_with(|| (fstype, false));
            info.1 = flags.read_only;
            return Ok(());
        }
        // vfs_domount looks the mount point up; vfs_donmount reports its ENOENT as a bad type.
        match std::fs::symlink_metadata(&dir) {
            Err(_) => return invalid("Invalid fstype"),
            Ok(m) if !m.is_dir() => return Err((Errno::ENOTDIR, None)),
            Ok(_) => {}
        }
        if fstype != "tmpfs" {
            self.attach(&get("from").unwrap_or_default(), &dir)
                .map_err(|e| (e, None))?;
        }
        self.mounted.push(dir.clone());
        self.fs_info.insert(dir, (fstype, flags.read_only));
        Ok(())
    }
}
