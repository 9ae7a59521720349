//! The POSIX half of the real kernels, shared by `kernel::linux` and `kernel::freebsd`:
//! [`RealKernel`], which implements [`Posix`] once for both (the one child-setup routine,
//! the reaper's `waitpid`, kill, sync, exec and chroot), the start-up signal mask, signal
//! delivery, and the bounded call in a child process.
//!
//! PID 1 stays single-threaded (nothing here starts a thread), so forking is safe.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

use super::{
    ChildStatus, KernelError, KillSig, KillTarget, Pid, Posix, Program, Reaped, Sig, SpawnSpec,
    Stdio, Wake,
};
use crate::config::Paths;

pub use super::signal_waiter::SignalWaiter;

/// The signals the kernel sends when PID 1 itself is broken. They stay unblocked so that a bug
/// is a visible crash rather than a silent hang (catatonit's `kernel_signals`).
const FAULT_SIGNALS: [Signal; 7] = [
    Signal::SIGABRT,
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGSYS,
    Signal::SIGTRAP,
];

/// Block every signal except the fault signals. The first thing PID 1 does, so that nothing
/// that arrives during start-up is lost: blocked signals stay pending until
/// [`SignalWaiter::new`] unblocks them.
pub fn block_all_but_faults() {
    // Cannot fail with a valid `how`; nothing useful to do if it did.
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&all_but_faults()), None);
}

/// Every signal but [`FAULT_SIGNALS`].
fn all_but_faults() -> SigSet {
    let mut set = SigSet::all();
    for s in FAULT_SIGNALS {
        set.remove(s);
    }
    set
}

fn cstring(p: &Path) -> Option<CString> {
    CString::new(p.as_os_str().as_bytes()).ok()
}

/// Start a child through the one child-setup routine (see [`SpawnSpec`]).
///
/// `console` is the console device and `fallback_log` the log file used for a console child's
/// output when the console cannot be opened (init.c `open_console`).
fn spawn(spec: &SpawnSpec, console: &Path, fallback_log: &Path) -> Result<Pid, KernelError> {
    let err = |e: Errno| KernelError::new("spawn", Some(&spec.path), e);
    let console_c = cstring(console).ok_or_else(|| err(Errno::EINVAL))?;
    let log_c = cstring(fallback_log).ok_or_else(|| err(Errno::EINVAL))?;
    let use_console = spec.stdio == Stdio::Console;
    let script = spec.script;

    let mut cmd = Command::new(&spec.path);
    if let Some((first, rest)) = spec.argv.split_first() {
        cmd.arg0(first).args(rest);
    }
    // /dev/null, or PID 1's own descriptors while there is none (an initramfs before
    // devtmpfs): the child setup below gives console children the console anyway.
    let null = || {
        if Path::new("/dev/null").exists() {
            std::process::Stdio::null()
        } else {
            std::process::Stdio::inherit()
        }
    };
    cmd.env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir("/")
        .stdin(null())
        .stdout(null())
        .stderr(null());
    // SAFETY: the closure runs in the child between fork and exec and calls only
    // async-signal-safe functions (sigprocmask, sigaction, setsid, open, ioctl, dup2, close,
    // fcntl) on memory prepared before the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || child_setup(use_console, script, &console_c, &log_c));
    }
    match cmd.spawn() {
        Ok(child) => {
            let pid = child.id() as Pid;
            // Dropping `Child` neither waits nor kills: the one reaper collects it.
            drop(child);
            Ok(pid)
        }
        Err(e) => Err(KernelError::io("spawn", &spec.path, &e)),
    }
}

/// The one child-setup routine, run in the child after fork: empty signal mask, every
/// disposition SIG_DFL (see [`reset_dispositions`]) but SIGHUP and SIGTSTP ignored for a
/// script (init.c run_script), a new session,
/// the console as stdio and controlling terminal if asked, and every descriptor above 2
/// close-on-exec (closing them outright would also close std's exec-error pipe).
fn child_setup(
    use_console: bool,
    script: bool,
    console: &CString,
    log: &CString,
) -> io::Result<()> {
    // SAFETY: plain libc calls on valid, pre-allocated arguments; see `spawn`.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        // On Linux PID 1 has no handler and reset every disposition at its start
        // (reset_dispositions; std resets SIGPIPE here itself); elsewhere its handlers must
        // go before the mask opens, or a signal here would run one in the child.
        #[cfg(not(target_os = "linux"))]
        reset_dispositions();
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        if script {
            // init.c run_script: a script outlives neither a hang-up nor a ^Z, nor do the
            // jobs it leaves behind, unless these are ignored.
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            libc::signal(libc::SIGTSTP, libc::SIG_IGN);
        }
        libc::setsid();
        if use_console {
            let fd = libc::open(
                console.as_ptr(),
                libc::O_RDWR | libc::O_APPEND | libc::O_NONBLOCK | libc::O_NOCTTY,
            );
            if fd >= 0 {
                let flags = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
                // Not a terminal (a file in tests, or no console): keep it as plain stdio.
                libc::ioctl(fd, libc::TIOCSCTTY as _, 0);
                libc::dup2(fd, 0);
                libc::dup2(fd, 1);
                libc::dup2(fd, 2);
                if fd > 2 {
                    libc::close(fd);
                }
            } else {
                let fd = libc::open(
                    log.as_ptr(),
                    libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT,
                    0o644,
                );
                if fd >= 0 {
                    libc::dup2(fd, 1);
                    libc::dup2(fd, 2);
                    if fd > 2 {
                        libc::close(fd);
                    }
                }
            }
        }
        close_from(3, None, true);
    }
    Ok(())
}

/// Close every descriptor from `first` up but `keep` (or, with `cloexec`, mark it
/// close-on-exec): close_range(2), one call per range, where the kernel has it (Linux 5.11,
/// FreeBSD 13.1 for close-on-exec), else one call per descriptor below [`MAX_FD`].
///
/// # Safety
/// Closes descriptors by number: the caller must hold none of them for later use (PID 1 at
/// start, a child between fork and exec). Async-signal-safe: it allocates nothing.
pub(super) unsafe fn close_from(first: i32, keep: Option<i32>, cloexec: bool) {
    let one = |fd: i32| {
        // SAFETY: see the function's contract.
        unsafe {
            if cloexec {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            } else {
                libc::close(fd);
            }
        }
    };
    let ranges = match keep {
        Some(k) if k >= first => [(first, k - 1), (k + 1, i32::MAX)],
        _ => [(first, i32::MAX), (1, 0)],
    };
    for (lo, hi) in ranges {
        if lo > hi {
            continue;
        }
        if !close_range(lo, hi, cloexec) {
            for fd in lo..hi.min(MAX_FD - 1).saturating_add(1) {
                one(fd);
            }
        }
    }
}

/// close_range(2); `false` when the kernel does not have it (or not the flag).
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
fn close_range(lo: i32, hi: i32, cloexec: bool) -> bool {
    let flags = if cloexec {
        libc::CLOSE_RANGE_CLOEXEC as libc::c_int
    } else {
        0
    };
    // SAFETY: a plain system call on descriptor numbers (see close_from).
    #[cfg(target_os = "linux")]
    let done = unsafe {
        // The raw system call: musl's libc has no close_range wrapper.
        libc::syscall(
            libc::SYS_close_range,
            lo.unsigned_abs(),
            hi.unsigned_abs(),
            flags,
        ) == 0
    };
    // SAFETY: as above.
    #[cfg(target_os = "freebsd")]
    let done = unsafe { libc::close_range(lo.unsigned_abs(), hi.unsigned_abs(), flags) == 0 };
    done
}

#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
fn close_range(_: i32, _: i32, _: bool) -> bool {
    false
}

/// Set one signal's disposition to SIG_DFL, in the child after fork.
///
/// On Linux this is the raw rt_sigaction(2): glibc refuses to touch its two internal
/// real-time signals (32 and 33) with EINVAL, so an ignored disposition inherited by PID 1
/// would otherwise leak into every child.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
unsafe fn default_disposition(sig: i32) {
    /// The kernel's `struct sigaction` on x86_64 and aarch64 (both have sa_restorer).
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let act = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: `act` is a valid kernel sigaction for SIG_DFL; 8 is the kernel's sigset size.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &raw const act,
            std::ptr::null_mut::<KernelSigaction>(),
            8usize,
        );
    }
}

/// Set one signal's disposition to SIG_DFL, in the child after fork.
#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
unsafe fn default_disposition(sig: i32) {
    // SAFETY: signal(2) with SIG_DFL on a valid signal number.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
    }
}

/// Every disposition back to SIG_DFL: in PID 1 at its start (what the program that exec'd
/// it ignored must not leak into its children), and on platforms with handlers in each child.
pub fn reset_dispositions() {
    for sig in 1..NSIG {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: SIG_DFL for a valid signal number; async-signal-safe.
            unsafe { default_disposition(sig) };
        }
    }
}

/// Highest signal number + 1 to reset.
#[cfg(target_os = "linux")]
const NSIG: i32 = 65;
/// Highest signal number + 1 to reset.
#[cfg(not(target_os = "linux"))]
const NSIG: i32 = 129;

/// Descriptors above 2 up to this bound are closed or made close-on-exec one by one where
/// close_range(2) is missing.
pub(super) const MAX_FD: i32 = 1024;

/// A real kernel: the [`Posix`] half every platform shares, implemented once here, and the
/// platform's own half `P`, whose [`super::Kernel`] impl is in `linux.rs` or `freebsd.rs`.
pub struct RealKernel<P> {
    signals: SignalWaiter,
    clock: Clock,
    /// The console, for children with [`Stdio::Console`].
    console: PathBuf,
    /// Where a console child's output goes when the console cannot be opened.
    init_log: PathBuf,
    /// What only this platform keeps.
    pub platform: P,
}

impl<P> RealKernel<P> {
    /// Install signal handling (see [`SignalWaiter::new`]), start the clock and remember
    /// the paths used.
    pub(super) fn with_platform(paths: &Paths, platform: P) -> io::Result<Self> {
        Ok(RealKernel {
            signals: SignalWaiter::new()?,
            clock: Clock::new(),
            console: paths.console.clone(),
            init_log: paths.init_log.clone(),
            platform,
        })
    }
}

impl<P> Posix for RealKernel<P> {
    fn spawn(&mut self, spec: &SpawnSpec) -> Result<Pid, KernelError> {
        spawn(spec, &self.console, &self.init_log)
    }

    fn reap(&mut self) -> Reaped {
        match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::WUNTRACED)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                Reaped::Child(pid.as_raw(), ChildStatus::Exited(code))
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) => {
                Reaped::Child(pid.as_raw(), ChildStatus::Signaled(sig as i32))
            }
            Ok(WaitStatus::Stopped(pid, sig)) => {
                Reaped::Child(pid.as_raw(), ChildStatus::Stopped(sig as i32))
            }
            Ok(WaitStatus::StillAlive) => Reaped::Nothing,
            // Continued, ptrace events: nothing to do for init; ask again.
            Ok(_) => Reaped::Nothing,
            Err(Errno::ECHILD) => Reaped::NoChildren,
            Err(_) => Reaped::Nothing,
        }
    }

    fn kill(&mut self, target: KillTarget, sig: KillSig) -> Result<(), KernelError> {
        let pid = match target {
            KillTarget::Pid(p) => p,
            KillTarget::All => -1,
            KillTarget::Group(g) => -g,
        };
        let signal =
            Signal::try_from(sig.number()).map_err(|e| KernelError::new("kill", None, e))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
            .map_err(|e| KernelError::new("kill", None, e))
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Wake {
        self.signals.wait(timeout)
    }

    fn now(&self) -> Duration {
        self.clock.now()
    }

    fn sync(&mut self) {
        nix::unistd::sync();
    }

    /// execve(2) with exactly `env`.
    fn exec(&mut self, program: Program<'_>, hold: Option<&[Sig]>) -> KernelError {
        let Some(carry) = hold else {
            // Another init gets the handled signals unblocked, as it would have had them
            // from a PID 1 with handlers (on Linux they are blocked for the signalfd). What
            // is pending then has no handler: the kernel drops it for PID 1.
            let mut old = SigSet::empty();
            let mut mask = all_but_faults();
            for s in super::signal_waiter::handled().iter() {
                mask.remove(s);
            }
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&mask), Some(&mut old));
            let e = execve(program);
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            return e;
        };
        let mut old = SigSet::empty();
        let _ = sigprocmask(
            SigmaskHow::SIG_SETMASK,
            Some(&all_but_faults()),
            Some(&mut old),
        );
        for s in carry {
            if let Ok(sig) = Signal::try_from(s.number()) {
                let _ = nix::sys::signal::raise(sig);
            }
        }
        let e = execve(program);
        // Still here: the carried signals come back to this process's handlers.
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
        e
    }

    /// `chdir(path); chroot("."); chdir("/")`.
    fn chroot(&mut self, path: &Path) -> Result<(), KernelError> {
        nix::unistd::chdir(path).map_err(|e| KernelError::new("chdir", Some(path), e))?;
        nix::unistd::chroot(".").map_err(|e| KernelError::new("chroot", Some(path), e))?;
        nix::unistd::chdir("/").map_err(|e| KernelError::new("chdir", Some(Path::new("/")), e))
    }

    /// Whether the path names an existing file.
    fn tty_exists(&self, path: &Path) -> bool {
        path.symlink_metadata().is_ok()
    }

    fn create_file(&mut self, path: &Path, data: &[u8], mode: u32) -> Result<(), KernelError> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(path, flags, Mode::from_bits_truncate(mode as _))
            .map_err(|e| KernelError::new("open", Some(path), e))?;
        let mut rest = data;
        while !rest.is_empty() {
            match nix::unistd::write(&fd, rest) {
                Ok(0) => return Err(KernelError::new("write", Some(path), Errno::EIO)),
                Ok(n) => rest = &rest[n..],
                Err(Errno::EINTR) => {}
                Err(e) => return Err(KernelError::new("write", Some(path), e)),
            }
        }
        Ok(())
    }

    fn lock_memory(&mut self) -> Result<(), KernelError> {
        use nix::sys::mman::{mlockall, MlockAllFlags};
        mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE)
            .map_err(|e| KernelError::new("mlockall", None, e))
    }
}

/// `setsid()`, tolerating EPERM when PID 1 already leads its session, and `chdir("/")` so
/// that PID 1 pins no mount.
pub fn start() -> Result<(), KernelError> {
    match nix::unistd::setsid() {
        Ok(_) | Err(Errno::EPERM) => {}
        Err(e) => return Err(KernelError::new("setsid", None, e)),
    }
    nix::unistd::chdir("/").map_err(|e| KernelError::new("chdir", Some(Path::new("/")), e))
}

/// A monotonic clock, counted from a fixed start.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    /// A clock starting now.
    #[must_use]
    pub fn new() -> Self {
        Clock(Instant::now())
    }

    /// Time since the clock started.
    #[must_use]
    pub fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// The running executable as a path that works for exec, given the platform's answer.
#[must_use]
pub fn exe_or_default(found: Option<PathBuf>) -> PathBuf {
    found.unwrap_or_else(|| PathBuf::from("/sbin/init"))
}

/// Close every descriptor PID 1 inherited above 2 and make sure 0, 1 and 2 are open, so
/// that later opens never land on a standard descriptor: on /dev/null, or — when there is
/// none yet (an initramfs before devtmpfs, a kernel that could not open a console) — on `/`,
/// read-only, where a stray write fails harmlessly. The console replaces 1 and 2 once it
/// can be opened.
pub fn sanitize_fds() {
    // SAFETY: close/open on descriptor numbers; nothing in the process holds descriptors yet.
    unsafe {
        close_from(3, None, false);
        for _ in 0..3 {
            let mut fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if fd < 0 {
                fd = libc::open(c"/".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            }
            if fd < 0 {
                break;
            }
            if fd > 2 {
                libc::close(fd);
                break;
            }
        }
    }
}

/// execve(2) with exactly `env`; returns only on failure.
fn execve(Program { path, argv, env }: Program<'_>) -> KernelError {
    let err = |e| KernelError::new("execve", Some(path), e);
    let Some(p) = cstring(path) else {
        return err(Errno::EINVAL);
    };
    let args: Vec<CString> = argv
        .iter()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let env: Vec<CString> = env
        .iter()
        .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok())
        .collect();
    match nix::unistd::execve(&p, &args, &env) {
        Err(e) => err(e),
        Ok(never) => match never {},
    }
}
