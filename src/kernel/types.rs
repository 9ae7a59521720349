//! The values that cross the kernel seam: signals, children, spawn specifications, mounts,
//! processes, reboot requests and the seam's error.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Errno;

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

/// What woke [`super::Posix::wait`].
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
/// [`super::Posix::spawn`], which applies the one child-setup routine: empty signal mask, default
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

/// What [`super::Kernel::reboot`] writes before the system goes down.
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

/// A program to exec as PID 1: its path, its argv and exactly this environment.
#[derive(Debug, Clone, Copy)]
pub struct Program<'a> {
    /// The file to execute.
    pub path: &'a Path,
    /// argv, argv\[0\] included.
    pub argv: &'a [String],
    /// The whole environment.
    pub env: &'a [(String, String)],
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
