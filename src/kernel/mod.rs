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

use std::path::{Path, PathBuf};
use std::time::Duration;

mod bounded;
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
mod signal_waiter;
mod types;
pub mod unix;

pub use errno::Errno;
pub use types::*;

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

    /// Replace PID 1 with another program with exactly this environment (kenv `init_exec`,
    /// the reroot trampoline, the new root's init). Returns only if it failed.
    ///
    /// `hold: Some(carry)`: every signal is blocked first and `carry` raised on this
    /// process, so that what arrives meanwhile, and what is carried, stays pending across
    /// the exec for the next program (a reinit), which receives it once it unblocks it. PID
    /// 1 with its handlers gone would lose it (the kernel drops default-disposition signals
    /// sent to init). On failure the signal mask is restored.
    fn exec(&mut self, program: Program<'_>, hold: Option<&[Sig]>) -> KernelError;

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
    /// with [`Posix::exec`] holding signals: it installs its handlers before it unblocks
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

    /// Whether [`Kernel::processes`] reports the device of each executable
    /// ([`ProcInfo::exe_dev`]); where it does, a missing one means it could not be read.
    fn reports_exe_devices(&self) -> bool {
        false
    }

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

    /// The root as a reroot could mount it again (no options: the defaults); `None` when it
    /// cannot be (an initramfs or another RAM filesystem: its files go when it is left).
    fn current_root(&self) -> Result<Option<MountSpec>, KernelError>;

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
        bounded::bounded("mount", dir, limit, || self.mount(spec, dir))
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
