//! The reroot's staging area: the tmpfs, and the copy of PID 1 (the trampoline) in it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::kernel::Kernel;
use crate::newroot::{self, FileKind};

use super::reroot::{RerootError, TRAMPOLINE};
use super::{pid1_env, Init};

/// What identifies a file PID 1 is about to exec: device, inode, size, modification time,
/// owner, mode. `None` for anything but a regular file that only root can change (it is
/// not followed if it is a symbolic link).
pub(super) type Identity = (u64, u64, u64, (i64, i64), u32);

impl<K: Kernel> Init<K> {
    /// The [`Identity`] of `path`, read through the kernel seam.
    pub(super) fn file_identity(&self, path: &Path) -> Option<Identity> {
        let m = self.k.lstat(path).ok()?;
        (m.kind == FileKind::File && m.uid == 0 && m.mode & 0o022 == 0)
            .then_some((m.dev, m.ino, m.size, m.mtime, m.mode))
    }
}

impl<K: Kernel> Init<K> {
    /// Mount the staging tmpfs, or reuse one that is still mounted (it may serve survivors).
    /// Returns whether it was mounted now. Only root may control the place: no symbolic link
    /// on the way (a tmpfs mounted through `/dev/reroot -> /etc` would hide /etc), every
    /// directory root's and writable by nobody else; a staging area found mounted must be a
    /// tmpfs, root's, and gets mode 0700 again.
    pub(super) fn stage(&mut self, dir: &Path) -> Result<bool, RerootError> {
        let refused = |e: &dyn std::fmt::Display| RerootError::StageRefused(e.to_string());
        let exists = dir.symlink_metadata().is_ok();
        let checked = if exists {
            dir
        } else {
            dir.parent().unwrap_or(Path::new("/"))
        };
        newroot::root_controls(&|p: &Path| self.k.lstat(p), checked).map_err(|e| refused(&e))?;
        if exists && !dir.is_dir() {
            return Err(refused(&format!("{}: not a directory", dir.display())));
        }
        if self.k.is_mount_point(dir) {
            match self.k.fs_type(dir) {
                Some(t) if t == "tmpfs" => {}
                other => {
                    let t = other.unwrap_or_else(|| "unknown".into());
                    return Err(refused(&format!(
                        "{}: mounted {t}, not tmpfs",
                        dir.display()
                    )));
                }
            }
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| refused(&format!("{}: chmod 0700: {e}", dir.display())))?;
            tracing::info!("reroot: reusing the staging area {}", dir.display());
            return Ok(false);
        }
        self.k.mount_tmpfs(dir).map_err(RerootError::Stage)?;
        Ok(true)
    }

    /// Copy PID 1's executable (the running image, not argv\[0\]) into the staging area, with
    /// its loader and libraries when it is dynamic. Returns how to exec it as `init -r`.
    pub(super) fn install_trampoline(
        &mut self,
        dir: &Path,
    ) -> Result<crate::carry::Invocation, RerootError> {
        let exe = self.k.self_exe();
        let copy_err = |e: String| RerootError::Copy(format!("{}: {e}", exe.display()));
        let mut env = pid1_env();
        let dynamic = newroot::interpreter_of(&exe).map_err(copy_err)?.is_some();
        let (path, mut argv) = if dynamic {
            let (root, system) = self.k.library_paths();
            let carried =
                crate::carry::carry_rooted(&exe.display().to_string(), dir, &system, &root)
                    .map_err(|e| copy_err(e.to_string()))?;
            let (path, argv, extra) = carried.invocation();
            env.retain(|(k, _)| !extra.iter().any(|(x, _)| x == k));
            env.extend(extra);
            (path, argv)
        } else {
            let data = std::fs::read(&exe).map_err(|e| copy_err(e.to_string()))?;
            let path = dir.join(TRAMPOLINE);
            // A previous reroot's copy: replace it (unlink never follows a symlink).
            if path.symlink_metadata().is_ok() {
                std::fs::remove_file(&path).map_err(|e| copy_err(e.to_string()))?;
            }
            self.k
                .create_file(&path, &data, 0o700)
                .map_err(|e| copy_err(e.to_string()))?;
            (path.clone(), vec![path.display().to_string()])
        };
        argv.push("-r".into());
        Ok((path, argv, env))
    }
}
