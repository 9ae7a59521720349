//! FreeBSD's nmount(2) as reinit uses it: the mount point, the option list, the `errmsg`.
//!
//! This is the one copy of that logic. The real FreeBSD kernel (`kernel::freebsd`) runs it
//! over the real system calls, and the fake kernel's FreeBSD personality runs it over a model
//! of what a FreeBSD kernel does, so that a unit test on any host fails where FreeBSD would.
//! What a real FreeBSD kernel (13.2) does, and the model knows:
//! - the mount point must already exist: a missing one fails with EINVAL and the `errmsg`
//!   "Invalid fstype" (`vfs_donmount` reports every ENOENT of `vfs_domount` that way);
//! - `fstype` is required even with MNT_UPDATE ("Invalid fstype" again);
//! - only `errmsg` says what went wrong, so it goes into every error.

use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::{Errno, KernelError, MountSpec};

/// One nmount(2) option: a name and a string value, or a flag without one (`noatime`).
pub type Opt = (String, Option<String>);

/// The nmount(2) flags reinit uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// MNT_RDONLY.
    pub read_only: bool,
    /// MNT_UPDATE: change a mounted filesystem.
    pub update: bool,
}

/// What statfs(2) says of the filesystem a path is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsInfo {
    /// `f_fstypename`.
    pub fstype: String,
    /// `f_mntonname`.
    pub mounted_on: PathBuf,
    /// `f_mntfromname`: the device (or dataset) it is mounted from.
    pub mounted_from: String,
    /// MNT_RDONLY in `f_flags`.
    pub read_only: bool,
}

/// The two system calls this module needs.
pub trait Nmount {
    /// nmount(2) with an `errmsg` buffer: on failure the errno and the kernel's message.
    fn nmount(&mut self, opts: &[Opt], flags: Flags) -> Result<(), (Errno, Option<String>)>;

    /// statfs(2).
    fn statfs(&self, path: &Path) -> Result<FsInfo, Errno>;
}

fn opt(name: &str, value: impl Into<String>) -> Opt {
    (name.to_owned(), Some(value.into()))
}

fn call(
    sys: &mut impl Nmount,
    what: &'static str,
    dir: &Path,
    opts: &[Opt],
    flags: Flags,
) -> Result<(), KernelError> {
    sys.nmount(opts, flags)
        .map_err(|(e, msg)| KernelError::new(what, Some(dir), e).with_detail(msg.as_deref()))
}

/// Create the mount point `dir` (mode 0700) unless it is a directory already. A symlink is
/// not followed: PID 1 mounts only on directories it can see.
pub fn make_mount_point(dir: &Path) -> Result<(), KernelError> {
    let err = |e: std::io::Error| KernelError::io("mkdir", dir, &e);
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(KernelError::new("mkdir", Some(dir), Errno::ENOTDIR)),
        Err(e) if e.kind() == ErrorKind::NotFound => std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(err),
        Err(e) => Err(err(e)),
    }
}

/// Mount `spec` on `dir`, creating `dir` first.
pub fn mount(sys: &mut impl Nmount, spec: &MountSpec, dir: &Path) -> Result<(), KernelError> {
    make_mount_point(dir)?;
    let mut opts = vec![
        opt("fstype", spec.fstype.as_str()),
        opt("fspath", dir.display().to_string()),
        opt("from", spec.device.as_str()),
    ];
    let options = crate::config::MountOptions::parse(&spec.options);
    for o in &options.rest {
        opts.push(match o.split_once('=') {
            Some((k, v)) => opt(k, v),
            None => (o.clone(), None),
        });
    }
    // `ro`/`rw` among the options (a spec's options normally have neither) count as the
    // Linux mount reads them: `ro` makes the mount read-only, `rw` cannot undo `read_only`.
    let flags = Flags {
        read_only: spec.read_only || options.read_only == Some(true),
        update: false,
    };
    call(sys, "nmount", dir, &opts, flags)
}

/// Mount a tmpfs with mode 0700 on `dir`, creating `dir` first.
pub fn mount_tmpfs(sys: &mut impl Nmount, dir: &Path) -> Result<(), KernelError> {
    make_mount_point(dir)?;
    let opts = [
        opt("fstype", "tmpfs"),
        opt("fspath", dir.display().to_string()),
        opt("mode", "0700"),
    ];
    call(sys, "nmount tmpfs", dir, &opts, Flags::default())
}

/// The root (statfs of `/`) as a reroot could mount it again: `None` for a tmpfs root,
/// whose files are gone once it is left. An md root (mfsBSD's preloaded image) can: the md
/// device stays.
#[must_use]
pub fn root_spec(fs: &FsInfo) -> Option<MountSpec> {
    if fs.fstype == "tmpfs" || fs.mounted_from.is_empty() {
        return None;
    }
    Some(MountSpec {
        fstype: fs.fstype.clone(),
        device: fs.mounted_from.clone(),
        options: String::new(),
        read_only: fs.read_only,
    })
}

/// Remount the filesystem mounted on `dir` read-only. Nothing to do when it already is.
pub fn remount_ro(sys: &mut impl Nmount, dir: &Path) -> Result<(), KernelError> {
    let fs = sys
        .statfs(dir)
        .map_err(|e| KernelError::new("statfs", Some(dir), e))?;
    if fs.read_only {
        return Ok(());
    }
    let opts = [
        opt("fstype", fs.fstype),
        opt("fspath", dir.display().to_string()),
    ];
    let flags = Flags {
        read_only: true,
        update: true,
    };
    call(sys, "remount read-only", dir, &opts, flags)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::kernel::fake::FakeKernel;
    use crate::kernel::Kernel;

    fn ufs(device: &str) -> MountSpec {
        MountSpec {
            fstype: "ufs".into(),
            device: device.into(),
            options: "noatime,label=x".into(),
            read_only: true,
        }
    }

    /// FreeBSD's nmount does not create the mount point: a missing one is "Invalid fstype".
    /// The probe mount point inside a fresh staging area does not exist yet.
    #[test]
    fn mount_creates_the_missing_mount_point() {
        let d = tempfile::tempdir().unwrap();
        let contents = d.path().join("contents");
        std::fs::create_dir(&contents).unwrap();
        let mut k = FakeKernel::new();
        k.add_device("/dev/ggate0", &contents);
        let dir = d.path().join("root");
        k.mount(&ufs("/dev/ggate0"), &dir).unwrap();
        assert!(k.mounted().contains(&dir));
        let (opts, flags, r) = &k.nmounts()[0];
        assert_eq!(*r, Ok(()));
        assert!(flags.read_only && !flags.update);
        let names: Vec<&str> = opts.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["fstype", "fspath", "from", "noatime", "label"]);
        // The kernel's own message is in the error.
        let e = k
            .mount(&ufs("/dev/ggate9"), &d.path().join("other"))
            .unwrap_err();
        assert_eq!(e.errno, Errno::ENXIO);
        let mode = std::fs::metadata(d.path().join("other"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    /// Negative control: the fake is the FreeBSD kernel the test needs, refusing a mount
    /// point that does not exist the way FreeBSD does, and naming it in the error.
    #[test]
    fn freebsd_refuses_a_missing_mount_point_with_its_errmsg() {
        let d = tempfile::tempdir().unwrap();
        let mut k = FakeKernel::new();
        let dir = d.path().join("missing");
        let opts = [
            opt("fstype", "ufs"),
            opt("fspath", dir.display().to_string()),
        ];
        let e = call(&mut k, "nmount", &dir, &opts, Flags::default()).unwrap_err();
        assert_eq!(e.errno, Errno::EINVAL);
        assert_eq!(
            e.to_string(),
            format!(
                "nmount {}: EINVAL: Invalid argument (Invalid fstype)",
                dir.display()
            )
        );
        // A mount point that is a file is refused before nmount.
        std::fs::write(&dir, "").unwrap();
        let e = mount(&mut k, &ufs("/dev/x"), &dir).unwrap_err();
        assert_eq!((e.call.as_ref(), e.errno), ("mkdir", Errno::ENOTDIR));
    }

    /// FreeBSD's nmount needs `fstype` with MNT_UPDATE too: it comes from statfs.
    #[test]
    fn remount_read_only_names_the_filesystem_type() {
        let mut k = FakeKernel::new();
        k.remount_ro(Path::new("/")).unwrap();
        assert!(k.root_read_only());
        let (opts, flags, _) = &k.nmounts()[0];
        assert!(flags.update && flags.read_only);
        assert!(opts.contains(&opt("fstype", "ufs")));
        // Already read-only: nothing to do, and no error.
        k.remount_ro(Path::new("/")).unwrap();
        assert_eq!(k.nmounts().len(), 1);
        // Negative control: without fstype the FreeBSD fake refuses the update.
        let bare = [opt("fspath", "/")];
        let e = call(
            &mut k,
            "remount",
            Path::new("/"),
            &bare,
            Flags {
                read_only: true,
                update: true,
            },
        );
        assert_eq!(e.unwrap_err().detail.as_deref(), Some("Invalid fstype"));
    }

    #[test]
    fn tmpfs_is_mounted_0700_on_a_created_directory() {
        let d = tempfile::tempdir().unwrap();
        let mut k = FakeKernel::new();
        let dir = d.path().join("reroot");
        k.mount_tmpfs(&dir).unwrap();
        assert!(k.is_mount_point(&dir));
        assert!(k.nmounts()[0].0.contains(&opt("mode", "0700")));
    }
}
