//! The FreeBSD kernel: kenv(2), sysctl, nmount(2) of devfs, revoke(2), reboot(2) with RB_*
//! flags, `kern.proc` for the process list.
//!
//! This file is type-checked and linked for x86_64 and aarch64 FreeBSD in CI
//! (`make freebsd`); its behaviour is specified by FreeBSD's init.c and exercised through the
//! same state machine on Linux and on the fake kernel.

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::{MntFlags, Nmount};

use super::freebsd_tables::{self as tables, KinfoLayout};
use super::nmount::{self, FsInfo, Opt};
use super::unix::{self, RealKernel};
use super::{Flush, Kernel, KernelError, MountSpec, Pid, Posix, ProcInfo, RebootHow};
use crate::config::{self, Paths};

extern "C" {
    /// revoke(2); not in the libc crate.
    fn revoke(path: *const c_char) -> c_int;
}

/// `RB_AUTOBOOT` (sys/reboot.h).
const RB_AUTOBOOT: c_int = 0;
/// `RB_REROOT` (sys/reboot.h): unmount the root filesystem and mount it again from
/// `vfs.root.mountfrom`.
const RB_REROOT: c_int = 0x0020_0000;
/// `SZOMB` (sys/proc.h): a zombie.
const SZOMB: u8 = 5;

/// What only the FreeBSD kernel keeps: nothing (kenv and sysctl are asked every time).
pub struct FreeBsd;

/// The real FreeBSD kernel.
pub type FreeBsdKernel = RealKernel<FreeBsd>;

impl FreeBsdKernel {
    /// Install signal handling and remember the paths used.
    pub fn new(paths: &Paths) -> std::io::Result<Self> {
        RealKernel::with_platform(paths, FreeBsd)
    }
}

/// kenv(KENV_GET).
#[must_use]
pub fn kenv_get(name: &str) -> Option<String> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0u8; libc::KENV_MVALLEN as usize + 1];
    // SAFETY: `name` is NUL-terminated; `buf` is writable for the length passed.
    let n = unsafe {
        libc::kenv(
            libc::KENV_GET,
            name.as_ptr(),
            buf.as_mut_ptr().cast::<c_char>(),
            buf.len() as c_int,
        )
    };
    if n < 0 {
        return None;
    }
    tables::c_string(&buf)
}

/// kenv(KENV_SET).
pub fn kenv_set(name: &str, value: &str) -> Result<(), Errno> {
    let name = CString::new(name).map_err(|_| Errno::EINVAL)?;
    let value = CString::new(value).map_err(|_| Errno::EINVAL)?;
    let len = value.as_bytes_with_nul().len() as c_int;
    // SAFETY: both strings are NUL-terminated and outlive the call; the kernel only reads.
    let rc = unsafe {
        libc::kenv(
            libc::KENV_SET,
            name.as_ptr(),
            value.as_ptr().cast_mut(),
            len,
        )
    };
    Errno::result(rc).map(drop)
}

/// kenv(KENV_UNSET).
pub fn kenv_unset(name: &str) -> Result<(), Errno> {
    let name = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `name` is NUL-terminated; no value buffer is used.
    let rc = unsafe { libc::kenv(libc::KENV_UNSET, name.as_ptr(), std::ptr::null_mut(), 0) };
    Errno::result(rc).map(drop)
}

/// kenv(KENV_DUMP): every variable, sorted.
pub fn kenv_dump() -> Result<Vec<(String, String)>, Errno> {
    // SAFETY: a NULL buffer with length 0 asks for the size only.
    let size = unsafe { libc::kenv(libc::KENV_DUMP, std::ptr::null(), std::ptr::null_mut(), 0) };
    let size = Errno::result(size)?;
    let mut buf = vec![0u8; size as usize + 1];
    // SAFETY: `buf` is writable for the length passed.
    let n = unsafe {
        libc::kenv(
            libc::KENV_DUMP,
            std::ptr::null(),
            buf.as_mut_ptr().cast::<c_char>(),
            buf.len() as c_int,
        )
    };
    Errno::result(n)?;
    Ok(tables::kenv_dump(&buf))
}

/// sysctlbyname for an int.
fn sysctl_int(name: &CStr) -> Option<c_int> {
    let mut v: c_int = 0;
    let mut len = std::mem::size_of::<c_int>();
    // SAFETY: `v` is a writable c_int and `len` its size.
    let rc = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            (&raw mut v).cast::<c_void>(),
            &mut len,
            std::ptr::null(),
            0,
        )
    };
    (rc == 0).then_some(v)
}

/// sysctlbyname for a string.
fn sysctl_string(name: &CStr) -> Option<String> {
    let mut len: usize = 0;
    // SAFETY: NULL old buffer asks for the size.
    let rc = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            std::ptr::null_mut(),
            &mut len,
            std::ptr::null(),
            0,
        )
    };
    if rc != 0 {
        return None;
    }
    let mut buf = vec![0u8; len + 1];
    let mut len = buf.len();
    // SAFETY: `buf` is writable for `len` bytes.
    let rc = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            buf.as_mut_ptr().cast::<c_void>(),
            &mut len,
            std::ptr::null(),
            0,
        )
    };
    if rc != 0 {
        return None;
    }
    tables::c_string(&buf)
}

fn rb_flags(how: RebootHow) -> c_int {
    match how {
        RebootHow::Reboot => RB_AUTOBOOT,
        RebootHow::PowerCycle => libc::RB_POWERCYCLE,
        RebootHow::Halt => libc::RB_HALT,
        RebootHow::PowerOff => libc::RB_HALT | libc::RB_POWEROFF,
    }
}

fn reboot_with(flags: c_int) -> Result<(), KernelError> {
    // SAFETY: reboot(2) takes flags only.
    let rc = unsafe { libc::reboot(flags) };
    Errno::result(rc)
        .map(drop)
        .map_err(|e| KernelError::new("reboot", None, e))
}

/// A sysctl's whole value: its size asked first, then read; ENOMEM (it grew meanwhile, as
/// the process table or a process's arguments can) asks again, a few times.
fn sysctl_bytes(mib: &[c_int]) -> Result<Vec<u8>, Errno> {
    let n = libc::c_uint::try_from(mib.len()).map_err(|_| Errno::EINVAL)?;
    for _ in 0..8 {
        let mut len: usize = 0;
        // SAFETY: a NULL buffer asks for the size.
        let rc = unsafe {
            libc::sysctl(
                mib.as_ptr(),
                n,
                std::ptr::null_mut(),
                &mut len,
                std::ptr::null(),
                0,
            )
        };
        Errno::result(rc)?;
        let mut buf = vec![0u8; len + len / 4 + 64];
        let mut len = buf.len();
        // SAFETY: `buf` is writable for `len` bytes.
        let rc = unsafe {
            libc::sysctl(
                mib.as_ptr(),
                n,
                buf.as_mut_ptr().cast::<c_void>(),
                &mut len,
                std::ptr::null(),
                0,
            )
        };
        match Errno::result(rc) {
            Ok(_) => {
                buf.truncate(len);
                return Ok(buf);
            }
            Err(Errno::ENOMEM) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Errno::ENOMEM)
}

/// `kern.proc.<what>.<pid>` as bytes.
fn proc_sysctl(what: c_int, pid: Pid) -> Option<Vec<u8>> {
    sysctl_bytes(&[libc::CTL_KERN, libc::KERN_PROC, what, pid]).ok()
}

/// The executable of `pid` (`-1`: this process), from `kern.proc.pathname`.
fn proc_path(pid: Pid) -> Option<PathBuf> {
    let buf = proc_sysctl(libc::KERN_PROC_PATHNAME, pid)?;
    tables::c_string(&buf).map(PathBuf::from)
}

/// Where the fields reinit reads sit in this target's `struct kinfo_proc`.
const KINFO_LAYOUT: KinfoLayout = {
    use std::mem::{offset_of, size_of};
    KinfoLayout {
        size: size_of::<libc::kinfo_proc>(),
        pid: offset_of!(libc::kinfo_proc, ki_pid),
        ruid: offset_of!(libc::kinfo_proc, ki_ruid),
        flag: offset_of!(libc::kinfo_proc, ki_flag),
        flag_size: size_of::<libc::c_long>(),
        stat: offset_of!(libc::kinfo_proc, ki_stat),
        comm: offset_of!(libc::kinfo_proc, ki_comm),
        // ki_comm is `char[COMMLEN + 1]`.
        comm_len: libc::COMMLEN + 1,
    }
};
// The layout describes the struct it came from: a wrong one would decode no process at all.
const _: () = assert!(KINFO_LAYOUT.fits());
// The amd64 layout the decoder is tested and fuzzed with on other hosts is this one.
#[cfg(target_arch = "x86_64")]
const _: () = assert!(KINFO_LAYOUT.same(&tables::AMD64_LAYOUT));

/// The real nmount(2) and statfs(2) for [`nmount`]'s shared logic.
struct Sys;

impl nmount::Nmount for Sys {
    fn nmount(
        &mut self,
        opts: &[Opt],
        flags: nmount::Flags,
    ) -> Result<(), (super::Errno, Option<String>)> {
        let c = |s: &str| CString::new(s).map_err(|_| (super::Errno::EINVAL, None));
        let mut owned: Vec<(CString, Option<CString>)> = Vec::with_capacity(opts.len());
        for (k, v) in opts {
            owned.push((c(k)?, v.as_deref().map(c).transpose()?));
        }
        let mut n = Nmount::new();
        for (k, v) in &owned {
            match v {
                Some(v) => n.str_opt(k, v),
                None => n.null_opt(k),
            };
        }
        let mut f = MntFlags::empty();
        if flags.read_only {
            f |= MntFlags::MNT_RDONLY;
        }
        if flags.update {
            f |= MntFlags::MNT_UPDATE;
        }
        n.nmount(f)
            .map_err(|e| (e.error().into(), e.errmsg().map(str::to_owned)))
    }

    fn statfs(&self, path: &Path) -> Result<FsInfo, super::Errno> {
        let c =
            CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| super::Errno::EINVAL)?;
        // SAFETY: statfs is plain data; zeroed is a valid value.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is NUL-terminated; `st` is writable.
        Errno::result(unsafe { libc::statfs(c.as_ptr(), &mut st) })?;
        Ok(FsInfo {
            fstype: tables::c_chars(&st.f_fstypename),
            mounted_on: PathBuf::from(tables::c_chars(&st.f_mntonname)),
            mounted_from: tables::c_chars(&st.f_mntfromname),
            read_only: st.f_flags & libc::MNT_RDONLY as u64 != 0,
        })
    }
}

/// The root as a reroot could mount it again (see [`nmount::root_spec`]).
pub fn current_root() -> Result<Option<MountSpec>, KernelError> {
    let fs = nmount::Nmount::statfs(&Sys, Path::new("/"))
        .map_err(|e| KernelError::new("statfs", Some(Path::new("/")), e))?;
    Ok(nmount::root_spec(&fs))
}

impl Kernel for FreeBsdKernel {
    fn start(&mut self) -> Result<(), KernelError> {
        unix::start()?;
        // SAFETY: a static NUL-terminated name.
        let rc = unsafe { libc::setlogin(c"root".as_ptr()) };
        if rc != 0 {
            return Err(KernelError::new("setlogin", None, Errno::last()));
        }
        Ok(())
    }

    fn early_mounts(&mut self) -> Vec<KernelError> {
        // init.c: mount devfs when /dev is on the root filesystem.
        let same = match (std::fs::metadata("/"), std::fs::metadata("/dev")) {
            (Ok(r), Ok(d)) => r.dev() == d.dev(),
            _ => false,
        };
        if !same {
            return Vec::new();
        }
        let r = Nmount::new()
            .str_opt(c"fstype", c"devfs")
            .str_opt(c"fspath", c"/dev")
            .nmount(MntFlags::empty());
        match r {
            Ok(()) => Vec::new(),
            Err(e) => vec![KernelError::new(
                "nmount devfs",
                Some(Path::new("/dev")),
                e.error(),
            )],
        }
    }

    fn revoke(&mut self, path: &Path) -> Result<(), KernelError> {
        let c = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| KernelError::new("revoke", Some(path), Errno::EINVAL))?;
        // SAFETY: `c` is NUL-terminated.
        let rc = unsafe { revoke(c.as_ptr()) };
        Errno::result(rc)
            .map(drop)
            .map_err(|e| KernelError::new("revoke", Some(path), e))
    }

    fn reboot(&mut self, how: RebootHow, flush: Flush) -> Result<(), KernelError> {
        match flush {
            // reboot(2) without RB_NOSYNC syncs again itself.
            Flush::Sync => {
                self.sync();
                reboot_with(rb_flags(how))
            }
            Flush::Nothing => reboot_with(rb_flags(how) | libc::RB_NOSYNC),
        }
    }

    fn kenv(&self, name: &str) -> Option<String> {
        kenv_get(name)
    }

    fn shutdown_timeout(&self) -> Option<Duration> {
        sysctl_int(c"kern.init_shutdown_timeout")
            .and_then(|v| u64::try_from(v).ok())
            .map(Duration::from_secs)
    }

    fn console_names(&self) -> Vec<String> {
        sysctl_string(c"kern.console")
            .map(|v| config::parse_kern_console(&v))
            .unwrap_or_default()
    }

    fn raise_securelevel(&mut self) {
        if sysctl_int(c"kern.securelevel") == Some(0) {
            let one: c_int = 1;
            // SAFETY: new value is a valid c_int of the size passed.
            let rc = unsafe {
                libc::sysctlbyname(
                    c"kern.securelevel".as_ptr(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    (&raw const one).cast::<c_void>(),
                    std::mem::size_of::<c_int>(),
                )
            };
            if rc != 0 {
                tracing::warn!("cannot raise kern.securelevel: {}", Errno::last());
            }
        }
    }

    fn processes(&self) -> Result<Vec<ProcInfo>, KernelError> {
        let raw = sysctl_bytes(&[libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PROC])
            .map_err(|e| KernelError::new("sysctl kern.proc.proc", None, e))?;
        let mut out: Vec<ProcInfo> = tables::kinfo_procs(&raw, &KINFO_LAYOUT)
            .into_iter()
            .filter(|p| p.pid > 1 && p.flag & i64::from(libc::P_SYSTEM) == 0)
            .filter(|p| p.stat != SZOMB)
            .map(|p| {
                let exe = proc_path(p.pid);
                let (program, argv0) = match proc_sysctl(libc::KERN_PROC_ARGS, p.pid) {
                    Some(raw) => {
                        crate::carry::run_program(exe.as_deref(), &tables::proc_args(&raw))
                    }
                    None => (None, None),
                };
                ProcInfo {
                    pid: p.pid,
                    name: p.comm,
                    exe,
                    exe_dev: None,
                    argv0,
                    program,
                    uid: Some(p.ruid),
                }
            })
            .collect();
        out.sort_by_key(|p| p.pid);
        Ok(out)
    }

    fn self_exe(&self) -> PathBuf {
        unix::exe_or_default(proc_path(-1))
    }

    fn new_root_needs(&self) -> Vec<PathBuf> {
        // The kernel mounts devfs on the new root's /dev.
        vec![PathBuf::from("/dev")]
    }

    fn default_init_path(&self) -> String {
        sysctl_string(c"kern.init_path")
            .unwrap_or_else(|| crate::newroot::DEFAULT_INIT_PATH.to_owned())
    }

    fn is_mount_point(&self, dir: &Path) -> bool {
        nmount::Nmount::statfs(&Sys, dir).is_ok_and(|fs| fs.mounted_on == dir)
    }

    fn fs_type(&self, dir: &Path) -> Option<String> {
        nmount::Nmount::statfs(&Sys, dir).ok().map(|fs| fs.fstype)
    }

    fn current_root(&self) -> Result<Option<MountSpec>, KernelError> {
        current_root()
    }

    fn mount_tmpfs(&mut self, dir: &Path) -> Result<(), KernelError> {
        nmount::mount_tmpfs(&mut Sys, dir)
    }

    fn mount(&mut self, spec: &MountSpec, dir: &Path) -> Result<(), KernelError> {
        nmount::mount(&mut Sys, spec, dir)
    }

    fn unmount(&mut self, dir: &Path, force: bool) -> Result<(), KernelError> {
        let flags = if force {
            MntFlags::MNT_FORCE
        } else {
            MntFlags::empty()
        };
        nix::mount::unmount(dir, flags).map_err(|e| KernelError::new("unmount", Some(dir), e))
    }

    fn mounts(&self) -> Result<Vec<PathBuf>, KernelError> {
        let err = |e| KernelError::new("getfsstat", None, e);
        // SAFETY: a NULL buffer asks for the count.
        let n = unsafe { libc::getfsstat(std::ptr::null_mut(), 0, libc::MNT_NOWAIT) };
        let n = usize::try_from(n).map_err(|_| err(Errno::last()))?;
        // SAFETY: statfs is plain data; zeroed is a valid value.
        let mut v: Vec<libc::statfs> = vec![unsafe { std::mem::zeroed() }; n + 8];
        let bytes = std::mem::size_of::<libc::statfs>() * v.len();
        // SAFETY: `v` has room for `bytes` bytes of statfs records.
        let got =
            unsafe { libc::getfsstat(v.as_mut_ptr(), bytes as libc::c_long, libc::MNT_NOWAIT) };
        let got = usize::try_from(got).map_err(|_| err(Errno::last()))?;
        v.truncate(got);
        Ok(v.iter()
            .map(|s| PathBuf::from(tables::c_chars(&s.f_mntonname)))
            .collect())
    }

    fn remount_ro(&mut self, dir: &Path) -> Result<(), KernelError> {
        nmount::remount_ro(&mut Sys, dir)
    }

    fn switch_root(&mut self, target: &MountSpec, _at: &Path) -> Result<Vec<String>, KernelError> {
        // The kernel mounts what vfs.root.mountfrom names: make that the target phase one
        // probed (one alternative of a list, or the previous root of a fallback).
        let want = format!("{}:{}", target.fstype, target.device);
        if self.kenv(crate::config::keys::MOUNTFROM).as_deref() != Some(want.as_str()) {
            kenv_set(crate::config::keys::MOUNTFROM, &want)
                .map_err(|e| KernelError::new("kenv vfs.root.mountfrom", None, e))?;
        }
        // SAFETY: reboot(2) takes flags only; with RB_REROOT it returns on success.
        let rc = unsafe { libc::reboot(RB_REROOT) };
        Errno::result(rc)
            .map(|_| Vec::new())
            .map_err(|e| KernelError::new("reboot(RB_REROOT)", None, e))
    }
}
