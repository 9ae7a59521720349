//! Linux reroot phase two: make the mounted new root `/`, in user space.
//!
//! Two ways, chosen by what the old root is:
//!
//! - **A real filesystem** (the usual case, and any root that has a parent mount):
//!   /proc, /sys and /run move into the new root; `pivot_root(".", ".")` stacks the old root on
//!   top of the new one; /dev (with the staging area inside, where the new root itself was
//!   mounted until now) follows through its `/proc/self/fd` link; the old root's other mounts
//!   and then the old root itself are unmounted, cleanly when nothing holds them. A held old
//!   root is reported by holder, remounted read-only and detached, loudly.
//! - **The initramfs** (rootfs, which is its own parent and can never be unmounted, so
//!   `pivot_root` answers EINVAL): the new root moves to a directory of the rootfs, /dev,
//!   /proc, /sys and /run move into it, the rootfs contents are deleted without crossing into
//!   other filesystems, and the new root is moved onto `/` and chrooted into (switch_root(8)).

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;

use super::KernelError;

/// API filesystems that move into the new root, in this order.
const CARRIED: [&str; 4] = ["/proc", "/sys", "/run", "/dev"];

/// What the new root must have: /dev, to carry devtmpfs (and the staging area) into, and
/// /proc, because /dev moves last, through `/proc/self/fd` of the /proc moved before it.
pub const NEEDS: [&str; 2] = ["/dev", "/proc"];

/// Where an initramfs parks the new root while it empties itself.
const PARKED: &str = "/.reinit-newroot";

const RAMFS_MAGIC: i64 = 0x8584_58f6;
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Mount id.
    pub id: u32,
    /// Parent mount id (equal to `id` for the rootfs).
    pub parent: u32,
    /// The device of its filesystem (st_dev encoding, from `major:minor`).
    pub dev: u64,
    /// The directory of its filesystem that is mounted (`/` unless a bind mount).
    pub root: PathBuf,
    /// Mount point, unescaped, relative to the process root.
    pub mount_point: PathBuf,
    /// Whether this mount is read-only (its per-mount options start with `ro`).
    pub read_only: bool,
    /// Filesystem type (after the ` - ` separator).
    pub fstype: String,
    /// Mount source, unescaped (the device, or what the filesystem calls its source).
    pub source: String,
}

/// Parse `/proc/self/mountinfo`. Lines that do not parse are skipped.
#[must_use]
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let id = f.next()?.parse().ok()?;
            let parent = f.next()?.parse().ok()?;
            let (major, minor) = f.next()?.split_once(':')?;
            let dev = libc::makedev(major.parse().ok()?, minor.parse().ok()?);
            let root = PathBuf::from(unescape(f.next()?));
            let mount_point = PathBuf::from(unescape(f.next()?));
            let read_only = f.next()?.split(',').any(|o| o == "ro");
            // Optional fields, up to the separator; then fstype and source.
            let mut rest = f.skip_while(|x| *x != "-").skip(1);
            let fstype = rest.next().unwrap_or_default().to_owned();
            let source = unescape(rest.next().unwrap_or_default());
            Some(MountInfo {
                id,
                parent,
                dev,
                root,
                mount_point,
                read_only,
                fstype,
                source,
            })
        })
        .collect()
}

/// Undo mountinfo's octal escapes (`\040` for a space, and so on).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).and_then(|d| {
            let t = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(t, 8).ok()
        });
        match (b[i], octal) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mounts as PID 1 sees them now.
pub fn mounts() -> Result<Vec<MountInfo>, KernelError> {
    let p = Path::new("/proc/self/mountinfo");
    fs::read_to_string(p)
        .map(|t| parse_mountinfo(&t))
        .map_err(|e| KernelError::io("read", p, &e))
}

/// The root as it could be mounted again: `None` for a root that cannot (the initramfs, or
/// any RAM filesystem: its files are gone once it is left).
pub fn current_root() -> Result<Option<super::MountSpec>, KernelError> {
    Ok(root_of(&mounts()?))
}

/// The mount spec of the last mount on `/` in `mounts` (see [`current_root`]).
#[must_use]
pub fn root_of(mounts: &[MountInfo]) -> Option<super::MountSpec> {
    let m = mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == Path::new("/"))?;
    let ram = ["rootfs", "ramfs", "tmpfs"].contains(&m.fstype.as_str());
    if m.id == m.parent || ram || m.source.is_empty() || m.root != Path::new("/") {
        return None;
    }
    Some(super::MountSpec {
        fstype: m.fstype.clone(),
        device: m.source.clone(),
        options: String::new(),
        read_only: m.read_only,
    })
}

/// Whether `dir` is a mount point now.
#[must_use]
pub fn is_mount_point(dir: &Path) -> bool {
    mounts()
        .map(|m| m.iter().any(|x| x.mount_point == dir))
        .unwrap_or(false)
}

fn err<'a>(call: &'static str, p: &'a Path) -> impl Fn(Errno) -> KernelError + 'a {
    move |e| KernelError::new(call, Some(p), e)
}

fn move_mount(from: &Path, to: &Path) -> Result<(), KernelError> {
    mount(Some(from), to, None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .map_err(err("mount --move", from))
}

fn open_dir(p: &Path) -> Result<OwnedFd, KernelError> {
    open(
        p,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(err("open", p))
}

fn fd_path(fd: &OwnedFd, rest: &Path) -> PathBuf {
    let base = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    match rest.strip_prefix("/") {
        Ok(r) if !r.as_os_str().is_empty() => base.join(r),
        _ => base,
    }
}

fn under(p: &Path, dir: &str) -> bool {
    p.starts_with(dir)
}

/// See the module documentation. `new` is where the new root is mounted.
pub fn switch_root(new: &Path) -> Result<Vec<String>, KernelError> {
    let mounts = mounts()?;
    let mut warnings = Vec::new();
    // Shared propagation would make pivot_root and MS_MOVE fail (EINVAL).
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(err("mount --make-rprivate", Path::new("/")))?;
    let carried: Vec<&Path> = CARRIED
        .iter()
        .map(Path::new)
        .filter(|c| mounts.iter().any(|m| m.mount_point == *c))
        .collect();
    let rootfs = mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == Path::new("/"))
        .is_some_and(|m| m.id == m.parent);
    if rootfs && fs_magic(Path::new("/")).is_some_and(|m| m == RAMFS_MAGIC || m == TMPFS_MAGIC) {
        tracing::info!("switch: the old root is the initramfs: emptying it, then MS_MOVE + chroot");
        move_root(new, &carried, &mut warnings)?;
    } else {
        tracing::info!("switch: pivot_root, then unmount the old root");
        pivot(new, &carried, &mounts, &mut warnings)?;
    }
    Ok(warnings)
}

#[allow(clippy::unnecessary_cast)] // the field's type differs between architectures
fn fs_magic(p: &Path) -> Option<i64> {
    nix::sys::statfs::statfs(p)
        .ok()
        .map(|s| s.filesystem_type().0 as i64)
}

/// Move an API filesystem into the new root, or drop it if the new root has no place for it.
fn carry_into(m: &Path, target: &Path, warnings: &mut Vec<String>) -> Result<(), KernelError> {
    if target.is_dir() {
        return move_mount(m, target);
    }
    warnings.push(format!(
        "the new root has no {} directory: {} is detached",
        m.display(),
        m.display()
    ));
    umount2(m, MntFlags::MNT_DETACH).map_err(err("umount", m))
}

fn pivot(
    new: &Path,
    carried: &[&Path],
    mounts: &[MountInfo],
    warnings: &mut Vec<String>,
) -> Result<(), KernelError> {
    // Who holds the old root, read now, while /proc is still where it was: mount ids and
    // link names only, never a stat through a process's files (one on a hung NFS or FUSE
    // mount, or served by a stuck survivor, would block PID 1 for good).
    let last = |p: &Path| mounts.iter().rev().find(|m| m.mount_point == p);
    let holders = match (last(Path::new("/")), last(new)) {
        (Some(old), Some(n)) if old.dev != n.dev => holders(old, mounts),
        _ => Vec::new(),
    };
    // /dev holds the new root until the pivot; everything else moves now.
    for m in carried.iter().filter(|m| **m != Path::new("/dev")) {
        carry_into(m, &new.join(m.strip_prefix("/").unwrap_or(m)), warnings)?;
    }
    // The old root's other mounts (/usr, /var, /boot, ...), deepest last mounted first.
    let mut rest: Vec<PathBuf> = mounts
        .iter()
        .map(|m| m.mount_point.clone())
        .filter(|p| p != Path::new("/") && !CARRIED.iter().any(|c| under(p, c)))
        .collect();
    rest.reverse();
    rest.dedup();
    let old_root = open_dir(Path::new("/"))?;
    let old_dev = if carried.contains(&Path::new("/dev")) {
        Some(open_dir(Path::new("/dev"))?)
    } else {
        None
    };
    nix::unistd::chdir(new).map_err(err("chdir", new))?;
    nix::unistd::pivot_root(".", ".").map_err(err("pivot_root", new))?;
    // From here "/" is the new root; the old one is stacked on top of "." and reachable
    // only through the descriptor.
    if let Some(fd) = old_dev {
        move_mount(&fd_path(&fd, Path::new("/")), Path::new("dev"))?;
    }
    for mp in &rest {
        let p = fd_path(&old_root, mp);
        if let Err(e) = umount2(&p, MntFlags::empty()) {
            warnings.push(format!("old {}: {e}: detached", mp.display()));
            let _ = umount2(&p, MntFlags::MNT_DETACH);
        }
    }
    if holders.is_empty() {
        drop(old_root);
        match umount2(".", MntFlags::empty()) {
            Ok(()) => tracing::info!("switch: old root unmounted"),
            Err(e) => {
                warnings.push(format!(
                    "old root: unmount: {e}: detached (still mounted, invisible, until its holders exit)"
                ));
                umount2(".", MntFlags::MNT_DETACH).map_err(err("umount", Path::new("/")))?;
            }
        }
    } else {
        for h in &holders {
            warnings.push(format!("old root held by {h}"));
        }
        let p = fd_path(&old_root, Path::new("/"));
        // A bind mount shares its filesystem with other mounts: only this mount is made
        // read-only, never the filesystem under everyone else.
        let bind = mounts
            .iter()
            .rev()
            .find(|m| m.mount_point == Path::new("/"))
            .is_some_and(|m| m.root != Path::new("/"));
        let mut ro = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        if bind {
            ro |= MsFlags::MS_BIND;
        }
        let what = if bind {
            "old root (a bind mount)"
        } else {
            "old root"
        };
        match mount(None::<&str>, &p, None::<&str>, ro, None::<&str>) {
            Ok(()) => warnings.push(format!("{what} remounted read-only")),
            Err(e) => warnings.push(format!("{what}: remount read-only: {e}")),
        }
        drop(old_root);
        umount2(".", MntFlags::MNT_DETACH).map_err(err("umount", Path::new("/")))?;
        warnings
            .push("old root detached: it stays mounted, invisible, until its holders exit".into());
    }
    nix::unistd::chdir("/").map_err(err("chdir", Path::new("/")))
}

fn move_root(new: &Path, carried: &[&Path], warnings: &mut Vec<String>) -> Result<(), KernelError> {
    let parked = Path::new(PARKED);
    if let Err(e) = fs::DirBuilder::new().mode(0o700).create(parked) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(KernelError::io("mkdir", parked, &e));
        }
    }
    move_mount(new, parked)?;
    for m in carried {
        carry_into(m, &parked.join(m.strip_prefix("/").unwrap_or(m)), warnings)?;
    }
    nix::unistd::chdir(parked).map_err(err("chdir", parked))?;
    let root_dev = fs::symlink_metadata("/")
        .map_err(|e| KernelError::io("stat", Path::new("/"), &e))?
        .dev();
    let failed = empty_dir(Path::new("/"), root_dev);
    if failed > 0 {
        warnings.push(format!("initramfs: {failed} entries could not be deleted"));
    }
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .map_err(err("mount --move", Path::new("/")))?;
    nix::unistd::chroot(".").map_err(err("chroot", Path::new(".")))?;
    nix::unistd::chdir("/").map_err(err("chdir", Path::new("/")))
}

/// Delete everything under `dir` that lives on device `dev`, never entering another
/// filesystem. Returns how many entries could not be deleted.
pub fn empty_dir(dir: &Path, dev: u64) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 1;
    };
    let mut failed = 0;
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        let Ok(m) = fs::symlink_metadata(&p) else {
            failed += 1;
            continue;
        };
        if m.dev() != dev {
            continue; // a mount point: another filesystem
        }
        if m.is_dir() {
            failed += empty_dir(&p, dev);
            // A directory holding a mount point stays.
            let _ = fs::remove_dir(&p);
        } else if fs::remove_file(&p).is_err() {
            failed += 1;
        }
    }
    failed
}

/// The `mnt_id:` of a `/proc/PID/fdinfo/FD` text.
#[doc(hidden)]
#[must_use]
pub fn fdinfo_mnt_id(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse::<u32>().ok())
}

/// The file of the first mapping on the device `dev` (`major:minor` in hex, as maps writes
/// it) in a `/proc/PID/maps` text; `?` when that line names no file.
#[doc(hidden)]
#[must_use]
pub fn maps_file_on<'a>(maps: &'a str, dev: &str) -> Option<&'a str> {
    let l = maps
        .lines()
        .find(|l| l.split_whitespace().nth(3) == Some(dev))?;
    Some(l.split_whitespace().nth(5).unwrap_or("?"))
}

/// The mount a path (as PID 1 names it) is on: the last mounted of the longest mount point
/// that is a prefix of it.
#[doc(hidden)]
#[must_use]
pub fn mount_of<'a>(path: &Path, mounts: &'a [MountInfo]) -> Option<&'a MountInfo> {
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| path.starts_with(&m.mount_point))
        .max_by_key(|(i, m)| (m.mount_point.components().count(), *i))
        .map(|(_, m)| m)
}

/// Processes that use files of the mount `old` (the root being switched away from, looked
/// at before `pivot_root`, which moves a cwd or root that is its top directory; so those
/// do not count): cwd, root, executable, open files, mapped files. One line per process, e.g. `412 (syslogd): fd 3 /var/log/messages`. Nothing is
/// stat'ed through a process's links: cwd, root and exe are readlinks placed on `mounts`,
/// open files are told by `fdinfo`'s `mnt_id`, mapped files by `maps`' device.
#[must_use]
pub fn holders(old: &MountInfo, mounts: &[MountInfo]) -> Vec<String> {
    let me = std::process::id().to_string();
    let Ok(dir) = fs::read_dir("/proc") else {
        return vec!["? (the process list cannot be read)".to_owned()];
    };
    let link = |p: &Path| fs::read_link(p).ok();
    let on_old = |t: &Path| {
        let t = t
            .to_str()
            .map_or(t, |s| Path::new(s.trim_end_matches(" (deleted)")));
        t.is_absolute() && mount_of(t, mounts).is_some_and(|m| m.id == old.id)
    };
    let want = format!("{:02x}:{:02x}", libc::major(old.dev), libc::minor(old.dev));
    let mut out = Vec::new();
    for e in dir.filter_map(Result::ok) {
        let pid = e.file_name().to_string_lossy().into_owned();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let base = PathBuf::from("/proc").join(&pid);
        let mut uses = Vec::new();
        for what in ["cwd", "root", "exe"] {
            // pivot_root moves a cwd or root that is the old root's top directory itself.
            let moved = what != "exe";
            if let Some(t) =
                link(&base.join(what)).filter(|t| on_old(t) && !(moved && t == Path::new("/")))
            {
                uses.push(format!("{what} {}", t.display()));
            }
        }
        if let Ok(fds) = fs::read_dir(base.join("fdinfo")) {
            for fd in fds.filter_map(Result::ok) {
                let mnt = fs::read_to_string(fd.path())
                    .ok()
                    .and_then(|t| fdinfo_mnt_id(&t));
                if mnt == Some(old.id) {
                    let name = fd.file_name();
                    let target = link(&base.join("fd").join(&name)).unwrap_or_default();
                    uses.push(format!(
                        "fd {} {}",
                        name.to_string_lossy(),
                        target.display()
                    ));
                }
            }
        }
        if let Ok(maps) = fs::read_to_string(base.join("maps")) {
            if let Some(file) = maps_file_on(&maps, &want) {
                uses.push(format!("maps {file}"));
            }
        }
        if !uses.is_empty() {
            let name = fs::read_to_string(base.join("comm")).unwrap_or_default();
            out.push(format!("{pid} ({}): {}", name.trim(), uses.join(", ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn mountinfo_lines() {
        let t = "1 1 0:2 / / rw - rootfs rootfs rw\n\
                 22 1 0:5 / /dev rw,nosuid - devtmpfs udev rw\n\
                 30 22 0:40 / /dev/reroot rw - tmpfs reroot rw,mode=700\n\
                 31 1 8:1 / /mnt/a\\040b rw - ext4 /dev/sda1 rw\n\
                 garbage\n";
        let m = parse_mountinfo(t);
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].id, m[0].parent);
        assert_eq!(m[2].mount_point, PathBuf::from("/dev/reroot"));
        assert_eq!(m[3].mount_point, PathBuf::from("/mnt/a b"));
        assert_eq!(m[3].root, PathBuf::from("/"));
        let b = parse_mountinfo("84 64 254:0 /tmp/x/root / rw - ext4 /dev/vda rw\n");
        assert_eq!(b[0].root, PathBuf::from("/tmp/x/root"));
        assert_eq!(
            (m[3].fstype.as_str(), m[3].source.as_str()),
            ("ext4", "/dev/sda1")
        );
    }

    /// The root a fallback could mount again: a disk or network root is; the initramfs, a RAM
    /// root and a bind-mounted directory are not.
    #[test]
    fn the_root_that_could_come_back() {
        let spec = |t: &str| root_of(&parse_mountinfo(t));
        let disk = spec(
            "1 1 0:2 / / rw - rootfs rootfs rw\n\
                         40 1 43:0 / / ro,relatime shared:1 master:2 - ext4 /dev/nbd0 ro\n",
        );
        let disk = disk.unwrap();
        assert_eq!(
            (disk.fstype.as_str(), disk.device.as_str()),
            ("ext4", "/dev/nbd0")
        );
        assert!(disk.read_only);
        assert!(spec("1 1 0:2 / / rw - rootfs rootfs rw\n").is_none());
        assert!(
            spec("1 1 0:2 / / rw - rootfs rootfs rw\n40 1 0:30 / / rw - tmpfs none rw\n").is_none()
        );
        assert!(spec("84 64 254:0 /tmp/x/root / rw - ext4 /dev/vda rw\n").is_none());
        assert!(spec("22 1 0:5 / /dev rw - devtmpfs udev rw\n").is_none());
    }

    #[test]
    fn emptying_stays_on_one_filesystem() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("a/b")).unwrap();
        fs::write(r.join("a/b/f"), "x").unwrap();
        fs::write(r.join("top"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", r.join("link")).unwrap();
        let dev = fs::metadata(r).unwrap().dev();
        assert_eq!(empty_dir(r, dev), 0);
        assert_eq!(fs::read_dir(r).unwrap().count(), 0);
        // The link was removed, not followed.
        assert!(Path::new("/etc/passwd").exists());
        // A different device number is never entered (stands in for a mount point).
        fs::create_dir_all(r.join("m")).unwrap();
        fs::write(r.join("m/keep"), "x").unwrap();
        assert_eq!(empty_dir(r, dev + 1), 0);
        assert!(r.join("m/keep").exists());
    }
}
