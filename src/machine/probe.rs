//! The reroot's target: find its device, probe-mount it read-only, check its init; and the
//! target of phase two.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config;
use crate::kernel::{Errno, Kernel, MountSpec};
use crate::newroot::{self, Record};
use crate::settings::{self, Mountfrom};

use super::reroot::{RerootError, NEWROOT};
use super::{Init, Step, POLL};

/// The validated target.
pub(super) struct Target {
    pub(super) spec: MountSpec,
}

impl<K: Kernel> Init<K> {
    /// Find the target (read after the hook, which may set it), wait for its device,
    /// probe-mount it read-only inside the staging area, check its init, unmount it. The
    /// first alternative that mounts is the one the kernel will use, so it must pass.
    pub(super) fn probe_target(&mut self, dir: &Path) -> Step<Result<Target, RerootError>> {
        // A fallback goes back to the root it came from, whatever the kenv says now.
        let target = match &self.falling_back {
            Some(f) => Some(
                newroot::parse_mountfrom(&f.target).map(|sources| Mountfrom {
                    sources,
                    options: String::new(),
                    read_only: f.read_only,
                }),
            ),
            None => settings::mountfrom(self.kenv()),
        };
        let Mountfrom {
            sources,
            options,
            read_only,
        } = match target {
            None => return Ok(Err(RerootError::NoTarget)),
            Some(Err(e)) => return Ok(Err(RerootError::BadTarget(e))),
            Some(Ok(m)) => m,
        };
        let search = settings::init_path(self.kenv(), &self.k.default_init_path())
            .warned()
            .search;
        let wait = settings::mountroot_timeout(self.kenv()).warned();
        let probe = dir.join(NEWROOT);
        if self.k.is_mount_point(&probe) {
            // An earlier probe that was given up on finished after all.
            tracing::warn!(
                "reroot: {} is mounted already: unmounting it",
                probe.display()
            );
            if let Err(e) = self.k.unmount(&probe, true) {
                return Ok(Err(RerootError::Unmount(e)));
            }
        }
        let mut last = RerootError::NoTarget;
        // One deadline for the devices of every alternative: a long list of absent ones
        // costs vfs.mountroot.timeout in all, not that much each.
        let deadline = self.k.now() + wait;
        for s in sources {
            self.collect_requests();
            if let Some(a) = self.shutdown_queued() {
                return Ok(Err(RerootError::ShutdownRequested(a)));
            }
            let name = s.to_string();
            if let Some(node) = s.device_node() {
                if !self.wait_for(&node, deadline)? {
                    if let Some(a) = self.shutdown_queued() {
                        return Ok(Err(RerootError::ShutdownRequested(a)));
                    }
                    last = RerootError::NoDevice(node);
                    continue;
                }
            }
            let spec = MountSpec {
                fstype: s.fstype.clone(),
                device: s.device.clone(),
                options: options.clone(),
                read_only: true,
            };
            // In a child, bounded: a device whose daemon does not answer hangs the mount in
            // the kernel, and it must not hang PID 1.
            if let Err(e) = self.k.mount_bounded(&spec, &probe, wait) {
                if e.errno == Errno::ETIMEDOUT {
                    // The mount may still complete after the child was given up on.
                    let _ = self.k.unmount(&probe, true);
                    return Ok(Err(RerootError::Mount(name, e)));
                }
                last = RerootError::Mount(name, e);
                continue;
            }
            // The new root's own shell: init_shell or /bin/sh inside it.
            let shell = settings::init_shell(self.kenv())
                .warned()
                .unwrap_or_else(|| PathBuf::from(config::DEFAULT_SHELL));
            let needs = newroot::Needs {
                dirs: self.k.new_root_needs(),
                shell,
            };
            let checked = newroot::check_new_root(&probe, &search, &needs);
            if let Err(e) = self.k.unmount(&probe, false) {
                // Something holds the new root: force it off and give up.
                if let Err(f) = self.k.unmount(&probe, true) {
                    tracing::error!("reroot: {f}");
                }
                return Ok(Err(RerootError::Unmount(e)));
            }
            let init = match checked {
                Ok(init) => init,
                Err(e) => return Ok(Err(RerootError::NewRoot(e))),
            };
            tracing::info!("reroot: target {name} has {}", init.display());
            return Ok(Ok(Target {
                spec: MountSpec { read_only, ..spec },
            }));
        }
        Ok(Err(last))
    }

    /// Wait until `deadline` for `path` to exist (a device the hook just attached); give up
    /// early when a shutdown is asked for.
    pub(super) fn wait_for(&mut self, path: &Path, deadline: Duration) -> Step<bool> {
        loop {
            if path.exists() {
                return Ok(true);
            }
            let now = self.k.now();
            if now >= deadline {
                return Ok(path.exists());
            }
            self.wait(Some(POLL.min(deadline - now)))?;
            if self.shutdown_queued().is_some() {
                return Ok(path.exists());
            }
        }
    }

    /// The target again in phase two, from the record phase one left (or the kenv).
    pub(super) fn phase_two_target(&self, record: &Record) -> Result<MountSpec, RerootError> {
        let Mountfrom {
            sources,
            options,
            read_only,
        } = match &record.target {
            Some(t) => Mountfrom {
                sources: newroot::parse_mountfrom(t).map_err(RerootError::BadTarget)?,
                options: record.options.clone(),
                read_only: record.read_only,
            },
            None => settings::mountfrom(self.kenv())
                .ok_or(RerootError::NoTarget)?
                .map_err(RerootError::BadTarget)?,
        };
        let s = sources.into_iter().next().ok_or(RerootError::NoTarget)?;
        Ok(MountSpec {
            fstype: s.fstype,
            device: s.device,
            options,
            read_only,
        })
    }
}
