//! The Linux kernel.
//!
//! Differences from FreeBSD, each the nearest Linux equivalent:
//! - kenv: the `key=value` words of `/proc/cmdline`, overridden by the runtime store
//!   [`crate::config::KENV_STORE`] (written by `reinit kenv`), which lives on /dev so that it
//!   survives a root switch as FreeBSD's kenv does.
//! - revoke(2): `ioctl(TIOCVHANGUP)` on the terminal.
//! - power-cycle: there is none; it restarts.
//! - devfs: devtmpfs on /dev, and proc on /proc, when booting from an initramfs that has
//!   neither.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::reboot::{reboot, RebootMode};
use nix::sys::stat::Mode;

use super::linux_switch;
use super::unix::{self, RealKernel};
use super::{Flush, Kernel, KernelError, MountSpec, Pid, Posix, ProcInfo, RebootHow};
use crate::config::{self, Paths};

/// What only the Linux kernel keeps: where the runtime kenv store is, and the command line's
/// kenv words once read (they cannot change until the next exec of PID 1).
pub struct Linux {
    kenv_store: PathBuf,
    cmdline: std::cell::OnceCell<Vec<(String, String)>>,
}

/// The real Linux kernel.
pub type LinuxKernel = RealKernel<Linux>;

impl LinuxKernel {
    /// Install signal handling (see [`unix::SignalWaiter::new`]) and remember the paths used.
    pub fn new(paths: &Paths) -> std::io::Result<Self> {
        let linux = Linux {
            kenv_store: paths.kenv_store.clone(),
            cmdline: std::cell::OnceCell::new(),
        };
        RealKernel::with_platform(paths, linux)
    }
}

/// Read the kernel command line's kenv words.
#[must_use]
pub fn cmdline_kenv() -> Vec<(String, String)> {
    fs::read_to_string("/proc/cmdline")
        .map(|t| config::parse_cmdline(&t))
        .unwrap_or_default()
}

impl Linux {
    /// Look a kenv key up in the store (read at every use: `reinit kenv` takes effect at
    /// once) and the command line (read once /proc answers: before /proc is mounted, again).
    fn kenv(&self, key: &str) -> Option<String> {
        let entries = fs::read_to_string(&self.kenv_store)
            .map(|t| config::parse_store(&t))
            .unwrap_or_default();
        let cmdline = match self.cmdline.get() {
            Some(c) => c,
            None => match fs::read_to_string("/proc/cmdline") {
                Ok(t) => self.cmdline.get_or_init(|| config::parse_cmdline(&t)),
                Err(_) => &Vec::new(),
            },
        };
        config::lookup(&entries, cmdline, key)
    }
}

fn same_device(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev(),
        _ => false,
    }
}

impl Kernel for LinuxKernel {
    fn start(&mut self) -> Result<(), KernelError> {
        unix::start()
    }

    fn early_mounts(&mut self) -> Vec<KernelError> {
        let mut errors = Vec::new();
        let dev = Path::new("/dev");
        if dev.is_dir() && same_device(Path::new("/"), dev) {
            if let Err(e) = mount(
                Some("devtmpfs"),
                dev,
                Some("devtmpfs"),
                MsFlags::MS_NOSUID,
                Some("mode=0755"),
            ) {
                errors.push(KernelError::new("mount devtmpfs", Some(dev), e));
            }
        }
        let proc_ = Path::new("/proc");
        if proc_.is_dir() && !Path::new("/proc/self").exists() {
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            if let Err(e) = mount(Some("proc"), proc_, Some("proc"), flags, None::<&str>) {
                errors.push(KernelError::new("mount proc", Some(proc_), e));
            }
        }
        errors
    }

    fn revoke(&mut self, path: &Path) -> Result<(), KernelError> {
        let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = open(path, flags, Mode::empty())
            .map_err(|e| KernelError::new("open", Some(path), e))?;
        // SAFETY: TIOCVHANGUP takes no argument; `fd` is a valid open descriptor we own.
        let rc = unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&fd), libc::TIOCVHANGUP, 0) };
        if rc < 0 {
            let e = Errno::last();
            // Not a terminal (a plain file standing in for one): nothing to revoke.
            if e != Errno::ENOTTY {
                return Err(KernelError::new("ioctl TIOCVHANGUP", Some(path), e));
            }
        }
        Ok(())
    }

    fn reboot(&mut self, how: RebootHow, flush: Flush) -> Result<(), KernelError> {
        // Linux's reboot(2) writes nothing back itself.
        if flush == Flush::Sync {
            self.sync();
        }
        let mode = match how {
            RebootHow::Reboot | RebootHow::PowerCycle => RebootMode::RB_AUTOBOOT,
            RebootHow::Halt => RebootMode::RB_HALT_SYSTEM,
            RebootHow::PowerOff => RebootMode::RB_POWER_OFF,
        };
        match reboot(mode) {
            Ok(never) => match never {},
            Err(e) => Err(KernelError::new("reboot", None, e)),
        }
    }

    fn kenv(&self, name: &str) -> Option<String> {
        self.platform.kenv(name)
    }

    fn shutdown_timeout(&self) -> Option<Duration> {
        crate::settings::shutdown_timeout(|k| self.kenv(k)).warned()
    }

    fn console_names(&self) -> Vec<String> {
        fs::read_to_string("/sys/class/tty/console/active")
            .map(|t| t.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    fn raise_securelevel(&mut self) {}

    fn processes(&self) -> Result<Vec<ProcInfo>, KernelError> {
        // A /proc that is not procfs (unmounted: an empty directory) would list no one, and
        // no one listed is taken as no survivor: that is an error, not an answer.
        let proc_fs = nix::sys::statfs::statfs("/proc")
            .map_err(|e| KernelError::new("statfs", Some(Path::new("/proc")), e))?;
        if proc_fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
            let mut e = KernelError::new("statfs", Some(Path::new("/proc")), Errno::ENODEV);
            e.detail = Some("not procfs".into());
            return Err(e);
        }
        let dir = fs::read_dir("/proc")
            .map_err(|e| KernelError::io("readdir", Path::new("/proc"), &e))?;
        let mut out = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|e| KernelError::io("readdir", Path::new("/proc"), &e))?;
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<Pid>().ok())
            else {
                continue;
            };
            if pid == 1 {
                continue;
            }
            if let Some(p) = process(pid) {
                out.push(p);
            }
        }
        out.sort_by_key(|p| p.pid);
        Ok(out)
    }

    fn reports_exe_devices(&self) -> bool {
        true
    }

    fn self_exe(&self) -> PathBuf {
        let magic = PathBuf::from("/proc/self/exe");
        if magic.exists() {
            magic
        } else {
            unix::exe_or_default(None)
        }
    }

    fn new_root_needs(&self) -> Vec<PathBuf> {
        linux_switch::NEEDS.iter().map(PathBuf::from).collect()
    }

    fn is_mount_point(&self, dir: &Path) -> bool {
        linux_switch::is_mount_point(dir)
    }

    fn current_root(&self) -> Result<Option<MountSpec>, KernelError> {
        linux_switch::current_root()
    }

    fn fs_type(&self, dir: &Path) -> Option<String> {
        let fs = nix::sys::statfs::statfs(dir).ok()?;
        Some(if fs.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC {
            "tmpfs".to_owned()
        } else {
            format!("{:#x}", fs.filesystem_type().0)
        })
    }

    fn mount_tmpfs(&mut self, dir: &Path) -> Result<(), KernelError> {
        mkdir_700(dir)?;
        mount(
            Some("reroot"),
            dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0700"),
        )
        .map_err(|e| KernelError::new("mount tmpfs", Some(dir), e))
    }

    fn mount(&mut self, spec: &MountSpec, dir: &Path) -> Result<(), KernelError> {
        mkdir_700(dir)?;
        let (mut flags, data) = mount_options(&spec.options);
        if spec.read_only {
            flags |= MsFlags::MS_RDONLY;
        }
        let data = (!data.is_empty()).then_some(data.as_str());
        mount(
            Some(spec.device.as_str()),
            dir,
            Some(spec.fstype.as_str()),
            flags,
            data,
        )
        .map_err(|e| KernelError::new("mount", Some(dir), e))
    }

    fn unmount(&mut self, dir: &Path, force: bool) -> Result<(), KernelError> {
        let flags = if force {
            nix::mount::MntFlags::MNT_DETACH
        } else {
            nix::mount::MntFlags::empty()
        };
        nix::mount::umount2(dir, flags).map_err(|e| KernelError::new("umount", Some(dir), e))
    }

    fn mounts(&self) -> Result<Vec<PathBuf>, KernelError> {
        linux_switch::mounts().map(|m| m.into_iter().map(|x| x.mount_point).collect())
    }

    fn remount_ro(&mut self, dir: &Path) -> Result<(), KernelError> {
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(None::<&str>, dir, None::<&str>, flags, None::<&str>)
            .map_err(|e| KernelError::new("remount read-only", Some(dir), e))
    }

    fn switch_root(&mut self, target: &MountSpec, at: &Path) -> Result<Vec<String>, KernelError> {
        // No kernel call mounts a new root for PID 1 here: it mounts the target itself.
        self.mount(target, at)?;
        linux_switch::switch_root(at)
    }
}

/// One process from /proc, `None` when it is gone, a kernel thread or a zombie. What cannot
/// be read is `None` in the answer (the caller then cannot rule the process out as a
/// survivor). Nothing here follows a magic link into a filesystem: `exe` is a readlink, its
/// device comes from `maps`.
fn process(pid: Pid) -> Option<ProcInfo> {
    let gone = |e: &std::io::Error| matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ESRCH));
    let stat = match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(t) => Some(t),
        Err(e) if gone(&e) => return None,
        Err(_) => None,
    };
    let mut name = "?".to_owned();
    if let Some(s) = stat.as_deref().and_then(stat_entry) {
        if s.left_out {
            return None;
        }
        name = s.name;
    }
    let args: Option<Vec<String>> = fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|c| cmdline_args(&c));
    let uid = fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| parse_uid(&t));
    // No executable link (ENOENT) once the process has let go of its memory: it is exiting.
    let exe = match fs::read_link(format!("/proc/{pid}/exe")) {
        Ok(e) => Some(e),
        Err(e) if gone(&e) => return None,
        Err(_) => None,
    };
    let exe_dev = exe.as_ref().and_then(|e| {
        let maps = fs::read(format!("/proc/{pid}/maps")).ok()?;
        maps_dev(&maps, e)
    });
    let (program, argv0) = match &args {
        Some(a) => crate::carry::run_program(exe.as_deref(), a),
        None => (None, None),
    };
    Some(ProcInfo {
        pid,
        name,
        // Under the staging area, a path without its device could be another mount
        // namespace's file: the survivor rule takes it as unknown (reports_exe_devices).
        exe,
        exe_dev,
        argv0,
        program,
        uid,
    })
}

/// The device (st_dev encoding) of the first mapping of `exe` in a `/proc/PID/maps` text,
/// taken as bytes: a path is not always UTF-8, and one such mapping must not hide the rest.
#[doc(hidden)]
#[must_use]
pub fn maps_dev(maps: &[u8], exe: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    // maps prints a newline of a path as `\012` (the only byte it escapes).
    let mut want = Vec::new();
    for &b in exe.as_os_str().as_bytes() {
        if b == b'\n' {
            want.extend_from_slice(b"\\012");
        } else {
            want.push(b);
        }
    }
    maps.split(|&b| b == b'\n').find_map(|l| {
        // address perms offset dev inode path
        let mut f = l.splitn(6, |&b| b == b' ');
        let dev = f.nth(3)?;
        let path = f.nth(1)?.trim_ascii_start();
        if path != want.as_slice() {
            return None;
        }
        let (major, minor) = std::str::from_utf8(dev).ok()?.split_once(':')?;
        let major = u32::from_str_radix(major, 16).ok()?;
        let minor = u32::from_str_radix(minor, 16).ok()?;
        Some(libc::makedev(major, minor))
    })
}

fn mkdir_700(dir: &Path) -> Result<(), KernelError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| KernelError::io("mkdir", dir, &e))
}

/// The `Uid:` (real) of a `/proc/PID/status` text.
#[doc(hidden)]
#[must_use]
pub fn parse_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Split `mount -o` options ([`config::MountOptions`]) into mount(2) flags and the
/// filesystem's own data string.
#[must_use]
pub fn mount_options(options: &str) -> (MsFlags, String) {
    let options = config::MountOptions::parse(options);
    let mut flags = MsFlags::empty();
    if options.read_only == Some(true) {
        flags |= MsFlags::MS_RDONLY;
    }
    let mut data = Vec::new();
    for o in &options.rest {
        match o.as_str() {
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "dirsync" => flags |= MsFlags::MS_DIRSYNC,
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

/// `PF_KTHREAD` (include/linux/sched.h): the process is a kernel thread.
const PF_KTHREAD: u64 = 0x0020_0000;

/// What `/proc/PID/stat` tells of a process.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatEntry {
    /// The command name (between the first `(` and the last `)`).
    pub name: String,
    /// A kernel thread (`PF_KTHREAD` in the flags, field 9) or a zombie (state `Z`): not a
    /// process that can be stopped or that survives.
    pub left_out: bool,
}

/// Read a `/proc/PID/stat` text; `None` when it has no `(name)`.
#[doc(hidden)]
#[must_use]
pub fn stat_entry(stat: &str) -> Option<StatEntry> {
    let (name, rest) = parse_stat(stat)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let flags: u64 = fields.get(6).and_then(|f| f.parse().ok()).unwrap_or(0);
    Some(StatEntry {
        name,
        left_out: flags & PF_KTHREAD != 0 || fields.first() == Some(&"Z"),
    })
}

/// A `/proc/PID/cmdline` read: the arguments, split at NULs (bytes that are not UTF-8
/// replaced).
#[doc(hidden)]
#[must_use]
pub fn cmdline_args(raw: &[u8]) -> Vec<String> {
    raw.split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Split `/proc/PID/stat` into the command name and the fields after it.
fn parse_stat(stat: &str) -> Option<(String, &str)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    Some((
        stat.get(open + 1..close)?.to_owned(),
        stat.get(close + 1..)?,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_executable_s_device_comes_from_maps() {
        let maps = "\
55d4c6a00000-55d4c6a2e000 r--p 00000000 00:1a 12345                      /dev/reroot/x (deleted)
55d4c6a2e000-55d4c6b00000 r-xp 0002e000 08:01 777                        /dev/reroot/ld.so
7ffd1c7e5000-7ffd1c806000 rw-p 00000000 00:00 0                          [stack]
";
        assert_eq!(
            maps_dev(maps.as_bytes(), Path::new("/dev/reroot/ld.so")),
            Some(libc::makedev(8, 1))
        );
        assert_eq!(
            maps_dev(maps.as_bytes(), Path::new("/dev/reroot/x (deleted)")),
            Some(libc::makedev(0, 0x1a))
        );
        assert_eq!(maps_dev(maps.as_bytes(), Path::new("/dev/reroot/y")), None);
        // A newline is printed as \012; a mapping that is not UTF-8 hides nothing.
        let odd = b"1000-2000 r--p 0 08:02 9 /tmp/\xff\n2000-3000 r-xp 0 08:03 7 /tmp/a\\012b\n";
        assert_eq!(
            maps_dev(odd, Path::new("/tmp/a\nb")),
            Some(libc::makedev(8, 3))
        );
        // This process: its executable's device is the one stat(2) reports.
        use std::os::unix::fs::MetadataExt;
        let me = process(i32::try_from(std::process::id()).unwrap()).unwrap();
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        assert_eq!(me.exe_dev, Some(std::fs::metadata(&exe).unwrap().dev()));
        assert_eq!(me.uid, Some(nix::unistd::getuid().as_raw()));
    }

    /// A program whose path holds a newline: /proc/PID/maps prints it escaped (`\012`),
    /// readlink of /proc/PID/exe does not. Its path and device are still read; before,
    /// neither was, and the survivor rule had to spare it (any user could run one).
    #[test]
    fn an_executable_with_a_newline_in_its_path_is_read() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let prog = dir.path().join("sl\neep");
        std::fs::copy("/bin/sleep", &prog).unwrap();
        let mut child = std::process::Command::new(&prog).arg("30").spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        // Until the exec is done, the child runs the test binary, then for a moment has the
        // new executable's link but not yet its mapping.
        let mut p = None;
        for _ in 0..200 {
            p = process(pid);
            if p.as_ref()
                .is_some_and(|p| p.exe.as_ref() == Some(&prog) && p.exe_dev.is_some())
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        let p = p.unwrap();
        assert_eq!(p.exe.as_deref(), Some(prog.as_path()));
        assert_eq!(p.exe_dev, Some(std::fs::metadata(&prog).unwrap().dev()));
    }

    /// The owner the survivor rule reads is the real uid: a set-user-ID root program that a
    /// user runs (effective uid 0) stays the user's.
    #[test]
    fn the_owner_is_the_real_uid() {
        assert_eq!(parse_uid("Name:\tx\nUid:\t1000\t0\t0\t0\n"), Some(1000));
        assert_eq!(parse_uid("Name:\tx\n"), None);
    }

    #[test]
    fn mount_option_split() {
        let (f, d) = mount_options("noatime, errors=remount-ro,nosuid,data=journal");
        assert_eq!(f, MsFlags::MS_NOATIME | MsFlags::MS_NOSUID);
        assert_eq!(d, "errors=remount-ro,data=journal");
        assert_eq!(mount_options("ro,rw").0, MsFlags::empty());
        assert_eq!(parse_uid("Name:\tx\nUid:\t0\t0\t0\t0\n"), Some(0));
    }

    #[test]
    fn stat_name_with_spaces_and_parens() {
        let (name, rest) = parse_stat("42 (a (b) c) S 1 42 42 0").unwrap();
        assert_eq!(name, "a (b) c");
        assert_eq!(rest.split_whitespace().nth(1), Some("1"));
    }
}
