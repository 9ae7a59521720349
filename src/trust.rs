//! Whether only root controls a path: the trust rules for the reroot hook, the staging
//! area and the trampoline. They read metadata through [`Lstat`], so that the kernel seam
//! (and its fake) decides where it comes from.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why a path is not one that only root controls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// It cannot be inspected (or does not exist).
    #[error("{0}: {1}")]
    Stat(PathBuf, crate::kernel::Errno),
    /// A component is a symbolic link.
    #[error("{0}: a symbolic link")]
    Symlink(PathBuf),
    /// A component on the way is not a directory.
    #[error("{0}: not a directory")]
    NotDir(PathBuf),
    /// Owned by someone other than root.
    #[error("{path}: owned by uid {uid}, not root")]
    NotRootOwned {
        /// The file or directory.
        path: PathBuf,
        /// Its owner.
        uid: u32,
    },
    /// Group or others may write it.
    #[error("{path}: mode {mode:04o} is group- or world-writable")]
    Writable {
        /// The file or directory.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
}

/// What the trust rules read of a file: lstat(2), a symbolic link not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// The file's type.
    pub kind: FileKind,
    /// Owner.
    pub uid: u32,
    /// Permission bits with setuid, setgid and sticky (`st_mode & 07777`).
    pub mode: u32,
    /// Device and inode.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds and nanoseconds.
    pub mtime: (i64, i64),
}

/// A file's type, as far as the trust rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// Anything else.
    Other,
}

/// Where the trust rules read file metadata: the host ([`host_lstat`]), or the kernel seam
/// ([`crate::kernel::Kernel::lstat`]), whose fake tells its own tests' files apart.
pub trait Lstat {
    /// lstat(2) of `path`.
    fn lstat(&self, path: &Path) -> std::io::Result<Meta>;
}

impl<F: Fn(&Path) -> std::io::Result<Meta>> Lstat for F {
    fn lstat(&self, path: &Path) -> std::io::Result<Meta> {
        self(path)
    }
}

/// lstat(2) on this host.
pub fn host_lstat(path: &Path) -> std::io::Result<Meta> {
    let m = path.symlink_metadata()?;
    let t = m.file_type();
    let kind = if t.is_symlink() {
        FileKind::Symlink
    } else if t.is_dir() {
        FileKind::Dir
    } else if t.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    };
    Ok(Meta {
        kind,
        uid: m.uid(),
        mode: m.mode() & 0o7777,
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime: (m.mtime(), m.mtime_nsec()),
    })
}

fn lstat(fs: &dyn Lstat, path: &Path) -> Result<Meta, PathError> {
    fs.lstat(path)
        .map_err(|e| PathError::Stat(path.to_path_buf(), (&e).into()))
}

/// Whether only root can change what the absolute `path` names: no component is a symbolic
/// link, `path` itself and every directory above it is owned by root, and none is writable
/// by group or others — except a sticky directory such as `/tmp`, whose root-owned entries
/// nobody else can rename or remove. Metadata comes from `fs`.
pub fn root_controls(fs: &dyn Lstat, path: &Path) -> Result<(), PathError> {
    let mut cur = PathBuf::from("/");
    let mut meta = lstat(fs, &cur)?;
    for c in path.components().skip(1) {
        if meta.kind != FileKind::Dir {
            return Err(PathError::NotDir(cur));
        }
        let next = cur.join(c);
        let child = lstat(fs, &next)?;
        if child.kind == FileKind::Symlink {
            return Err(PathError::Symlink(next));
        }
        if meta.uid != 0 {
            return Err(PathError::NotRootOwned {
                path: cur,
                uid: meta.uid,
            });
        }
        let mode = meta.mode;
        if mode & 0o022 != 0 && !(mode & 0o1000 != 0 && child.uid == 0) {
            return Err(PathError::Writable { path: cur, mode });
        }
        cur = next;
        meta = child;
    }
    if meta.uid != 0 {
        return Err(PathError::NotRootOwned {
            path: cur,
            uid: meta.uid,
        });
    }
    if meta.mode & 0o022 != 0 {
        return Err(PathError::Writable {
            path: cur,
            mode: meta.mode,
        });
    }
    Ok(())
}

/// Why the hook is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// Not a regular file.
    #[error("{0}: not a regular file")]
    NotFile(PathBuf),
    /// It, or a directory above it, could be changed by someone other than root.
    #[error(transparent)]
    Path(#[from] PathError),
}

/// Whether the hook may run: `Ok(None)` when there is none (it is optional), `Ok(Some)` when
/// it is a regular file that only root can change (see [`root_controls`]): then nobody else
/// can replace it between this check and its exec.
pub fn trust_hook(fs: &dyn Lstat, path: &Path) -> Result<Option<PathBuf>, HookError> {
    match fs.lstat(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Ok(m) if m.kind != FileKind::Symlink && m.kind != FileKind::File => {
            return Err(HookError::NotFile(path.to_path_buf()))
        }
        _ => {}
    }
    root_controls(fs, path)?;
    Ok(Some(path.to_path_buf()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// An in-memory tree for the trust rules: path → metadata.
    struct Tree(std::collections::HashMap<PathBuf, Meta>);

    impl Tree {
        fn new() -> Self {
            let mut t = Tree(std::collections::HashMap::new());
            t.set("/", FileKind::Dir, 0, 0o755);
            t
        }
        fn set(&mut self, p: &str, kind: FileKind, uid: u32, mode: u32) -> &mut Self {
            let m = Meta {
                kind,
                uid,
                mode,
                dev: 1,
                ino: self.0.len() as u64 + 2,
                size: 0,
                mtime: (0, 0),
            };
            self.0.insert(PathBuf::from(p), m);
            self
        }
        fn trust(&self, p: &str) -> Result<Option<PathBuf>, HookError> {
            let look = |q: &Path| {
                self.0
                    .get(q)
                    .copied()
                    .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
            };
            trust_hook(&look, Path::new(p))
        }
    }

    #[test]
    fn hook_trust_rules() {
        let mut t = Tree::new();
        t.set("/etc", FileKind::Dir, 0, 0o755);
        let h = "/etc/rc.reroot";
        assert_eq!(t.trust(h), Ok(None));
        t.set(h, FileKind::File, 0, 0o755);
        assert_eq!(t.trust(h), Ok(Some(h.into())));
        t.set(h, FileKind::File, 0, 0o775);
        assert!(matches!(
            t.trust(h),
            Err(HookError::Path(PathError::Writable { mode: 0o775, .. }))
        ));
        t.set(h, FileKind::File, 1, 0o755);
        assert!(matches!(
            t.trust(h),
            Err(HookError::Path(PathError::NotRootOwned { uid: 1, .. }))
        ));
        assert!(matches!(t.trust("/etc"), Err(HookError::NotFile(_))));
    }

    /// Every directory above the hook counts: one that others may write lets them replace
    /// the hook between its check and its exec; a symbolic link on the way is refused.
    #[test]
    fn the_hook_s_directories_count_too() {
        let mut t = Tree::new();
        t.set("/tmp", FileKind::Dir, 0, 0o1777)
            .set("/tmp/d", FileKind::Dir, 0, 0o700)
            .set("/tmp/d/etc", FileKind::Dir, 0, 0o755)
            .set("/tmp/d/etc/rc.reroot", FileKind::File, 0, 0o755);
        let h = "/tmp/d/etc/rc.reroot";
        // A sticky, world-writable directory (/tmp) above is fine: its root entries stay.
        assert_eq!(t.trust(h), Ok(Some(h.into())));
        t.set("/tmp/d/etc", FileKind::Dir, 0, 0o777);
        assert_eq!(
            t.trust(h),
            Err(HookError::Path(PathError::Writable {
                path: "/tmp/d/etc".into(),
                mode: 0o777
            }))
        );
        t.set("/tmp/d/etc", FileKind::Dir, 0, 0o1777);
        assert_eq!(t.trust(h), Ok(Some(h.into())));
        // In a sticky directory, only root's entries are safe.
        t.set(h, FileKind::File, 1, 0o755);
        assert!(t.trust(h).is_err());
        t.set(h, FileKind::File, 0, 0o755);
        t.set("/tmp/d/etc", FileKind::Dir, 1, 0o755);
        assert!(matches!(
            t.trust(h),
            Err(HookError::Path(PathError::NotRootOwned { uid: 1, .. }))
        ));
        t.set("/tmp/d/etc", FileKind::Dir, 0, 0o755);
        // A symlink on the way, or as the hook, is refused.
        // (lstat of the hook goes through the link to the file.)
        t.set("/tmp/d/etc2", FileKind::Symlink, 0, 0o777).set(
            "/tmp/d/etc2/rc.reroot",
            FileKind::File,
            0,
            0o755,
        );
        assert_eq!(
            t.trust("/tmp/d/etc2/rc.reroot"),
            Err(HookError::Path(PathError::Symlink("/tmp/d/etc2".into())))
        );
        t.set("/tmp/d/etc/hook-link", FileKind::Symlink, 0, 0o777);
        assert_eq!(
            t.trust("/tmp/d/etc/hook-link"),
            Err(HookError::Path(PathError::Symlink(
                "/tmp/d/etc/hook-link".into()
            )))
        );
    }

    /// The host's lstat as the rules read it: a test's own file is root's only when the
    /// tests run as root.
    #[test]
    fn host_lstat_reads_owner_mode_and_type() {
        let d = tempfile::tempdir().unwrap();
        let h = d.path().join("rc.reroot");
        fs::write(&h, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&h, fs::Permissions::from_mode(0o4751)).unwrap();
        let m = host_lstat(&h).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        assert_eq!(
            (m.kind, m.uid, m.mode, m.size),
            (FileKind::File, me, 0o4751, 10)
        );
        assert_eq!(host_lstat(d.path()).unwrap().kind, FileKind::Dir);
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&h, &link).unwrap();
        assert_eq!(host_lstat(&link).unwrap().kind, FileKind::Symlink);
        fs::set_permissions(&h, fs::Permissions::from_mode(0o755)).unwrap();
        let trusted = trust_hook(&host_lstat, &h);
        if me == 0 {
            assert_eq!(trusted, Ok(Some(h.clone())));
        } else {
            // Not root's: refused (at the temporary directory, or at /tmp for it).
            assert!(trusted.is_err(), "{trusted:?}");
        }
    }
}
