//! The kernel seam: the only place reinit touches the operating system's process, signal,
//! mount and reboot machinery.
//!
//! Everything above this trait (the state machine, the shutdown sequence, getty supervision) is
//! written against [`Kernel`] and is therefore the same code on FreeBSD and Linux, and can be
//! driven step by step in unit tests by `fake::FakeKernel`, which records one ordered call log
//! (compiled for unit tests only).
//!
//! [`Kernel`] extends [`Posix`], the half every Unix shares (children, signals, exec, the
//! clock): the real kernels have one implementation of it, [`unix::RealKernel`], and add only
//! what differs (`linux.rs`, `freebsd.rs`).
//!
//! Plain files (`/etc/ttys`, `/etc/rc`, the password database) are read with `std::fs` through
//! relocatable [`crate::config::Paths`], not through this trait: reading them changes nothing.
//!
//! Implementations are passed in explicitly (`Init::new(kernel, ...)`); nothing here switches on
//! `cfg!(test)`.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod errno;
#[cfg(test)]
pub mod fake;
#[cfg(test)]
pub mod fake_console;
#[cfg(target_os = "freebsd")]
pub mod freebsd;
pub mod freebsd_tables;
#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "linux")]
pub mod linux_switch;
pub mod nmount;
pub mod unix;

pub use errno::Errno;

/// A process id as the kernel reports it.
pub type Pid = i32;

/// The signals PID 1 acts on, named for what they mean to init rather than by number.
///
/// The numbers differ between platforms only for [`Sig::Reroot`]: SIGEMT on FreeBSD (what
/// `reboot -r` sends), SIGIO on Linux, which has no SIGEMT (see [`Sig::Reroot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sig {
    /// SIGHUP: rescan /etc/ttys.
    Hup,
    /// SIGINT: reboot (also the kernel's Ctrl-Alt-Del / power-button request).
    Int,
    /// SIGTERM: go to single-user mode.
    Term,
    /// SIGTSTP: block further logins (catatonia).
    Tstp,
    /// SIGUSR1: halt.
    Usr1,
    /// SIGUSR2: halt and power off.
    Usr2,
    /// SIGWINCH: power-cycle.
    Winch,
    /// Reroot: SIGEMT on FreeBSD; SIGIO on Linux (never sent to PID 1 by the kernel because
    /// reinit never sets O_ASYNC on a descriptor, and ignored by every other init).
    Reroot,
    /// SIGCHLD: a child changed state; reap.
    Chld,
}

impl Sig {
    /// Every signal PID 1 installs a handler for.
    pub const ALL: [Sig; 9] = [
        Sig::Hup,
        Sig::Int,
        Sig::Term,
        Sig::Tstp,
        Sig::Usr1,
        Sig::Usr2,
        Sig::Winch,
        Sig::Reroot,
        Sig::Chld,
    ];

    /// The platform's signal number.
    #[must_use]
    pub fn number(self) -> i32 {
        match self {
            Sig::Hup => libc::SIGHUP,
            Sig::Int => libc::SIGINT,
            Sig::Term => libc::SIGTERM,
            Sig::Tstp => libc::SIGTSTP,
            Sig::Usr1 => libc::SIGUSR1,
            Sig::Usr2 => libc::SIGUSR2,
            Sig::Winch => libc::SIGWINCH,
            Sig::Reroot => REROOT_SIGNAL,
            Sig::Chld => libc::SIGCHLD,
        }
    }

    /// The inverse of [`Sig::number`].
    #[must_use]
    pub fn from_number(n: i32) -> Option<Sig> {
        Sig::ALL.into_iter().find(|s| s.number() == n)
    }
}

/// The signal number that requests a reroot on this platform.
#[cfg(target_os = "freebsd")]
pub const REROOT_SIGNAL: i32 = libc::SIGEMT;
/// The signal number that requests a reroot on this platform.
#[cfg(not(target_os = "freebsd"))]
pub const REROOT_SIGNAL: i32 = libc::SIGIO;

impl fmt::Display for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Sig::Hup => "SIGHUP",
            Sig::Int => "SIGINT",
            Sig::Term => "SIGTERM",
            Sig::Tstp => "SIGTSTP",
            Sig::Usr1 => "SIGUSR1",
            Sig::Usr2 => "SIGUSR2",
            Sig::Winch => "SIGWINCH",
            Sig::Reroot if cfg!(target_os = "freebsd") => "SIGEMT",
            Sig::Reroot => "SIGIO",
            Sig::Chld => "SIGCHLD",
        };
        f.write_str(name)
    }
}

/// Signals PID 1 sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillSig {
    /// SIGHUP (hang up a getty).
    Hup,
    /// SIGTERM (polite stop).
    Term,
    /// SIGKILL.
    Kill,
    /// SIGCONT (resume a stopped script, as init.c does).
    Cont,
}

impl KillSig {
    /// The platform's signal number.
    #[must_use]
    pub fn number(self) -> i32 {
        match self {
            KillSig::Hup => libc::SIGHUP,
            KillSig::Term => libc::SIGTERM,
            KillSig::Kill => libc::SIGKILL,
            KillSig::Cont => libc::SIGCONT,
        }
    }
}

/// Whom a kill is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillTarget {
    /// One process.
    Pid(Pid),
    /// `kill(-1, ...)`: every process PID 1 may signal, except PID 1 itself.
    All,
    /// `kill(-pgid, ...)`: a process group (a child started in its own session leads one).
    Group(Pid),
}

/// How a child changed state, as `waitpid` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildStatus {
    /// Exited with this status.
    Exited(i32),
    /// Killed by this signal number.
    Signaled(i32),
    /// Stopped by this signal number (init.c answers with SIGCONT).
    Stopped(i32),
}

impl ChildStatus {
    /// Exit status 0.
    #[must_use]
    pub fn success(self) -> bool {
        self == ChildStatus::Exited(0)
    }
}

impl fmt::Display for ChildStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildStatus::Exited(c) => write!(f, "exited with status {c}"),
            ChildStatus::Signaled(s) => write!(f, "killed by signal {s}"),
            ChildStatus::Stopped(s) => write!(f, "stopped by signal {s}"),
        }
    }
}

/// One answer of the reaper's `waitpid(-1, WNOHANG | WUNTRACED)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaped {
    /// A child changed state.
    Child(Pid, ChildStatus),
    /// Children exist but none has changed state.
    Nothing,
    /// No children at all (ECHILD).
    NoChildren,
}

/// What woke [`Posix::wait`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// These signals arrived (each at least once, in no particular order).
    Signals(Vec<Sig>),
    /// The timeout passed.
    Timeout,
    /// The fake kernel has no scripted events left. Real kernels never return this; the state
    /// machine stops when it sees it so that unit tests end.
    Exhausted,
}

/// Where a child's standard input, output and error go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdio {
    /// `/dev/console` as stdin/stdout/stderr, in a new session with the console as controlling
    /// terminal when it is a terminal (init.c `open_console`); falls back to `/dev/null` in and
    /// the init log out.
    Console,
    /// `/dev/null` for all three, in a new session (gettys open their own line).
    Null,
}

/// Everything needed to start one child. Every child of PID 1 is started from one of these by
/// [`Posix::spawn`], which applies the one child-setup routine: empty signal mask, default
/// dispositions (SIGPIPE included; a script ignores SIGHUP and SIGTSTP), new session, the
/// requested stdio, no descriptor above 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnSpec {
    /// The file to execute.
    pub path: PathBuf,
    /// The argument vector, argv\[0\] included.
    pub argv: Vec<String>,
    /// The complete environment (nothing is inherited from PID 1).
    pub env: Vec<(String, String)>,
    /// Standard descriptors.
    pub stdio: Stdio,
    /// A script (rc, rc.shutdown, rc.final, init_script, the hook): SIGHUP and SIGTSTP are
    /// ignored, as init.c's `run_script` does, so that neither the hang-up of its session
    /// when it exits (the console is its controlling terminal) nor a ^Z on the console
    /// reaches it or the background jobs it leaves behind.
    pub script: bool,
}

/// The ways to end the system with reboot(2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RebootHow {
    /// Restart the machine (FreeBSD RB_AUTOBOOT, Linux LINUX_REBOOT_CMD_RESTART).
    Reboot,
    /// Power-cycle (FreeBSD RB_POWERCYCLE; Linux has none: restart).
    PowerCycle,
    /// Halt the CPU (FreeBSD RB_HALT, Linux LINUX_REBOOT_CMD_HALT).
    Halt,
    /// Halt and power off (FreeBSD RB_HALT|RB_POWEROFF, Linux LINUX_REBOOT_CMD_POWER_OFF).
    PowerOff,
}

impl fmt::Display for RebootHow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RebootHow::Reboot => "reboot",
            RebootHow::PowerCycle => "power-cycle",
            RebootHow::Halt => "halt",
            RebootHow::PowerOff => "power-off",
        })
    }
}

/// What [`Kernel::reboot`] writes before the system goes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// sync(2) first, so that what /etc/rc.final and the last log lines wrote reaches the
    /// disks (Linux's reboot(2) does not sync by itself).
    Sync,
    /// Nothing: PID 1 has synced and unmounted or remounted read-only whatever it could
    /// itself, and a filesystem whose block daemon is gone must not be written again
    /// (FreeBSD adds RB_NOSYNC).
    Nothing,
}

/// A process the kernel reports as running (for "would not die" reports, and to tell the
/// survivors of a reroot from everything else).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcInfo {
    /// Its pid.
    pub pid: Pid,
    /// Its short command name.
    pub name: String,
    /// The file it runs, as PID 1 names it (Linux `/proc/PID/exe`, FreeBSD
    /// `kern.proc.pathname`); `None` when it cannot be told.
    pub exe: Option<PathBuf>,
    /// The device of the filesystem that file is on, where the platform can have the same
    /// path name different files (Linux: a process in another mount namespace; read from
    /// `/proc/PID/maps`, which touches no filesystem). `None` on FreeBSD, which has no mount
    /// namespaces: there the path is the file.
    pub exe_dev: Option<u64>,
    /// argv\[0\] as the program sees it (`/proc/PID/cmdline`, `kern.proc.args`; for a
    /// program run through its copied loader, the loader's `--argv0` or the program's path);
    /// `None` when it cannot be read.
    pub argv0: Option<String>,
    /// For a program run through its copied loader (`reinit carry`), the program.
    pub program: Option<String>,
    /// Its real user id in PID 1's user namespace; `None` when it cannot be read.
    pub uid: Option<u32>,
}

/// A filesystem to mount: what `mount -t FSTYPE -o OPTIONS DEVICE DIR` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Filesystem type.
    pub fstype: String,
    /// Device, dataset or other source.
    pub device: String,
    /// Comma-separated options (`vfs.root.mountfrom.options`), without `ro`/`rw`.
    pub options: String,
    /// Mount read-only.
    pub read_only: bool,
}

/// A failed system call: which one, on what, the errno, and what the kernel said of it
/// (FreeBSD nmount(2)'s `errmsg`: the errno alone often hides the cause).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call}{}: {errno}{}",
    target.as_ref().map(|t| format!(" {}", t.display())).unwrap_or_default(),
    detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
pub struct KernelError {
    /// The call that failed, e.g. `"execve"`.
    pub call: Cow<'static, str>,
    /// The path or object it was applied to, if any.
    pub target: Option<PathBuf>,
    /// The errno.
    pub errno: Errno,
    /// The kernel's own words on the failure, if it gave any.
    pub detail: Option<String>,
}

impl KernelError {
    /// A failure of `call` on `target`.
    #[must_use]
    pub fn new(call: &'static str, target: Option<&Path>, errno: impl Into<Errno>) -> Self {
        KernelError {
            call: Cow::Borrowed(call),
            target: target.map(Path::to_path_buf),
            errno: errno.into(),
            detail: None,
        }
    }

    /// A failure of `call` on `target` that std reported as an I/O error.
    #[must_use]
    pub fn io(call: &'static str, target: &Path, e: &std::io::Error) -> Self {
        KernelError::new(call, Some(target), e)
    }

    /// A call that did not answer within `limit` (it runs on in a killed child process).
    #[must_use]
    pub fn no_answer(call: &'static str, target: &Path, limit: Duration) -> Self {
        KernelError::new(call, Some(target), Errno::ETIMEDOUT).with_detail(Some(&format!(
            "no answer in {:.1} s; the process waiting for it was killed",
            limit.as_secs_f64()
        )))
    }

    /// The same failure with the kernel's message (empty messages are dropped).
    #[must_use]
    pub fn with_detail(mut self, detail: Option<&str>) -> Self {
        self.detail = detail
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        self
    }
}

/// The POSIX half of the seam: children, signals, exec, the clock, plain files. Every real
/// kernel has the one implementation in [`unix::RealKernel`]; the fake has its own.
pub trait Posix {
    /// Start a child. Returns only after the child exec'd, or with the exec error.
    fn spawn(&mut self, spec: &SpawnSpec) -> Result<Pid, KernelError>;

    /// One non-blocking `waitpid(-1, WNOHANG | WUNTRACED)`.
    fn reap(&mut self) -> Reaped;

    /// Send a signal.
    fn kill(&mut self, target: KillTarget, sig: KillSig) -> Result<(), KernelError>;

    /// Block until a signal arrives or the timeout passes (`None`: no timeout).
    fn wait(&mut self, timeout: Option<Duration>) -> Wake;

    /// A monotonic clock.
    fn now(&self) -> Duration;

    /// sync(2).
    fn sync(&mut self);

    /// Replace PID 1 with another program with this environment (kenv `init_exec`, the
    /// reroot trampoline, the new root's init). Returns only if it failed.
    fn exec(&mut self, path: &Path, argv: &[String], env: &[(String, String)]) -> KernelError;

    /// [`Posix::exec`] with every signal blocked first and `carry` raised on this process:
    /// what arrives meanwhile, and what is carried, stays pending across the exec for the
    /// next program (reinit's own trampoline), which receives it once it unblocks it. PID 1
    /// with its handlers gone would lose it (the kernel drops default-disposition signals
    /// sent to init). On failure the signal mask is restored.
    fn exec_holding_signals(
        &mut self,
        path: &Path,
        argv: &[String],
        env: &[(String, String)],
        carry: &[Sig],
    ) -> KernelError;

    /// `chdir(path); chroot(".")` (kenv `init_chroot`).
    fn chroot(&mut self, path: &Path) -> Result<(), KernelError>;

    /// Whether a terminal device exists (ttys `onifexists`, and whether to start a getty).
    fn tty_exists(&self, path: &Path) -> bool;

    /// Create a new file with `data` and `mode`: O_CREAT | O_EXCL | O_NOFOLLOW, so neither an
    /// existing file nor a planted symlink is ever written through.
    fn create_file(&mut self, path: &Path, data: &[u8], mode: u32) -> Result<(), KernelError>;

    /// mlockall(MCL_CURRENT | MCL_FUTURE): PID 1 must not page in from a root whose block
    /// daemon is about to stop.
    fn lock_memory(&mut self) -> Result<(), KernelError>;
}

/// The operating system as PID 1 sees it: the [`Posix`] half and what differs between
/// platforms. See the module documentation.
pub trait Kernel: Posix {
    /// Once, at start-up of PID 1: become session leader (tolerating EPERM when already one),
    /// `setlogin("root")` on FreeBSD, `chdir("/")`.
    fn start(&mut self) -> Result<(), KernelError>;

    /// Mount what must exist before anything runs: FreeBSD mounts devfs on /dev when /dev is on
    /// the root filesystem (init.c); Linux mounts devtmpfs on /dev and proc on /proc when they
    /// are missing (booting from an initramfs).
    fn early_mounts(&mut self) -> Vec<KernelError>;

    /// Revoke all access to a terminal (FreeBSD revoke(2); Linux TIOCVHANGUP).
    fn revoke(&mut self, path: &Path) -> Result<(), KernelError>;

    /// reboot(2), after what `flush` says. A real kernel does not return on success; `Ok`
    /// means the system is going down and PID 1 must only wait.
    fn reboot(&mut self, how: RebootHow, flush: Flush) -> Result<(), KernelError>;

    /// lstat(2) for the trust rules (hook, staging area, trampoline): who owns `path` and
    /// who may write it.
    fn lstat(&self, path: &Path) -> std::io::Result<crate::newroot::Meta> {
        crate::newroot::host_lstat(path)
    }

    /// Whether `path` is a reinit (it carries reinit's hand-off note), which may be exec'd
    /// with [`Posix::exec_holding_signals`]: it installs its handlers before it unblocks
    /// signals. Any other init gets the empty mask the kernel gives PID 1.
    fn is_reinit(&self, path: &Path) -> bool {
        crate::carry::is_reinit(path)
    }

    /// A kernel environment variable: FreeBSD kenv(2); Linux the runtime store, then the kernel
    /// command line.
    fn kenv(&self, name: &str) -> Option<String>;

    /// The hard timeout for /etc/rc.shutdown, if the platform configures one (FreeBSD
    /// `kern.init_shutdown_timeout`; Linux kenv `reinit.shutdown_timeout`). Values below 2 s
    /// are ignored by the caller.
    fn shutdown_timeout(&self) -> Option<Duration>;

    /// The names of the active console devices (FreeBSD `kern.console`, Linux
    /// `/sys/class/tty/console/active`), for ttys `onifconsole`.
    fn console_names(&self) -> Vec<String>;

    /// FreeBSD: raise `kern.securelevel` from 0 to 1 before gettys start. Linux: nothing.
    fn raise_securelevel(&mut self);

    /// Every process still running except PID 1 and kernel threads. An error means the list
    /// could not be had: callers must then assume that anyone may be a survivor.
    fn processes(&self) -> Result<Vec<ProcInfo>, KernelError>;

    /// The path of the running executable (to start internal helpers such as `sulogin`, and
    /// to copy into the staging area at a reroot).
    fn self_exe(&self) -> PathBuf;

    /// Where the dynamic linker finds libraries: the root its absolute paths are read from
    /// (the interpreter too) and the system directories inside it.
    fn library_paths(&self) -> (PathBuf, Vec<PathBuf>) {
        (PathBuf::from("/"), crate::carry::system_dirs())
    }

    // ---- reroot

    /// The init search list when kenv `init_path` is unset (FreeBSD `kern.init_path`;
    /// elsewhere [`crate::newroot::DEFAULT_INIT_PATH`]).
    fn default_init_path(&self) -> String {
        crate::newroot::DEFAULT_INIT_PATH.to_owned()
    }

    /// The directories a new root must have for [`Kernel::switch_root`] to work, checked in
    /// phase one before anything is stopped: /dev everywhere; Linux also /proc (see
    /// [`Kernel::switch_root`]).
    fn new_root_needs(&self) -> Vec<PathBuf>;

    /// Whether `dir` is the root of a mounted filesystem.
    fn is_mount_point(&self, dir: &Path) -> bool;

    /// The type of the filesystem `dir` is on (`"tmpfs"`, `"ufs"`, …), when it can be told.
    fn fs_type(&self, dir: &Path) -> Option<String>;

    /// Mount a tmpfs with mode 0700 on `dir` (the staging area), creating `dir` if needed
    /// (Linux; FreeBSD's devfs always has /dev/reroot).
    fn mount_tmpfs(&mut self, dir: &Path) -> Result<(), KernelError>;

    /// Mount `spec` on `dir`, creating `dir` if needed.
    fn mount(&mut self, spec: &MountSpec, dir: &Path) -> Result<(), KernelError>;

    /// [`Kernel::mount`] from a child process, waiting at most `limit` for its answer (the
    /// reroot's probe: a device whose block daemon does not answer blocks the mount in the
    /// kernel, and must not block PID 1). No answer in time: the child is killed and the
    /// error is ETIMEDOUT ([`KernelError::no_answer`]). The fake kernel overrides this: it
    /// has no process to fork.
    fn mount_bounded(
        &mut self,
        spec: &MountSpec,
        dir: &Path,
        limit: Duration,
    ) -> Result<(), KernelError> {
        unix::bounded("mount", dir, limit, || self.mount(spec, dir))
    }

    /// Unmount `dir`. `force`: FreeBSD MNT_FORCE, Linux MNT_DETACH.
    fn unmount(&mut self, dir: &Path, force: bool) -> Result<(), KernelError>;

    /// Every mount point, in the order they were mounted.
    fn mounts(&self) -> Result<Vec<PathBuf>, KernelError>;

    /// Remount the filesystem at `dir` read-only (flushing it).
    fn remount_ro(&mut self, dir: &Path) -> Result<(), KernelError>;

    /// Reroot phase two's switch: make `target` the root filesystem, `at` being where it is
    /// mounted on the way (inside the staging area). Returns warnings worth a loud log line
    /// (e.g. an old root that had to be detached because a process still held it).
    ///
    /// FreeBSD: `reboot(RB_REROOT)`. The kernel unmounts every filesystem but devfs and the
    /// staging tmpfs and mounts the new root itself, from `vfs.root.mountfrom`: the list
    /// phase one probed `target` from. `target` and `at` are not used.
    ///
    /// Linux: PID 1 mounts `target` on `at`; /proc, /sys and /run move into it, it becomes
    /// `/`, and /dev (with the staging area inside) follows through /proc/self/fd; the old
    /// root is unmounted.
    fn switch_root(&mut self, target: &MountSpec, at: &Path) -> Result<Vec<String>, KernelError>;
}
