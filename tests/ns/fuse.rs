//! A FUSE filesystem that hangs: it answers the kernel's INIT (and ACCESS, with ENOSYS, so
//! that a process can chdir into it), then never answers again. Any stat of a file on it
//! blocks until the connection is aborted, as on an NFS server that went away or a FUSE
//! daemon that is stuck. Mounted inside a sandbox's mount namespace; the connection is
//! aborted (every waiter released) when the [`HungFs`] is dropped.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;

const FUSE_INIT: u32 = 26;
const FUSE_ACCESS: u32 = 34;
const FUSE_FORGET: u32 = 2;

/// See the module documentation.
pub struct HungFs {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Opcodes the kernel sent and got no answer to.
    unanswered: Arc<Mutex<Vec<u32>>>,
}

impl HungFs {
    /// Mount it on `dir` (a host path) inside the mount namespace of process `ns_pid`.
    pub fn mount_in(ns_pid: i32, dir: &Path) -> HungFs {
        let fd: OwnedFd =
            open("/dev/fuse", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()).expect("/dev/fuse");
        let opts = format!(
            "fd={},rootmode=40000,user_id=0,group_id=0,allow_other",
            fd.as_raw_fd()
        );
        let ns = std::fs::File::open(format!("/proc/{ns_pid}/ns/mnt")).expect("mnt ns");
        let dir = dir.to_path_buf();
        let mut cmd = std::process::Command::new("/bin/true");
        // SAFETY: setns(2) on an open namespace descriptor and mount(2), on data prepared
        // before the fork; the child then only execs.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNS) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                mount(
                    Some("hungfs"),
                    &dir,
                    Some("fuse"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                    Some(opts.as_str()),
                )?;
                Ok(())
            });
        }
        let st = cmd.status().expect("mount fuse in the namespace");
        assert!(st.success(), "mounting the hanging FUSE filesystem failed");
        let stop = Arc::new(AtomicBool::new(false));
        let unanswered = Arc::new(Mutex::new(Vec::new()));
        let (s, u) = (Arc::clone(&stop), Arc::clone(&unanswered));
        let thread = std::thread::spawn(move || serve(&fd, &s, &u));
        HungFs {
            stop,
            thread: Some(thread),
            unanswered,
        }
    }

    /// The requests left unanswered so far (FUSE opcodes).
    pub fn unanswered(&self) -> Vec<u32> {
        self.unanswered
            .lock()
            .map(|u| u.clone())
            .unwrap_or_default()
    }
}

impl Drop for HungFs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answer INIT and ACCESS, nothing else; closing the descriptor at the end aborts the
/// connection and releases every waiter.
fn serve(fd: &OwnedFd, stop: &AtomicBool, unanswered: &Mutex<Vec<u32>>) {
    let mut buf = vec![0u8; 1 << 20];
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        if !matches!(poll(&mut fds, PollTimeout::from(100u16)), Ok(n) if n > 0) {
            continue;
        }
        let Ok(n) = nix::unistd::read(fd, &mut buf) else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if n < 40 {
            continue;
        }
        let u32_at = |o: usize| u32::from_ne_bytes(buf[o..o + 4].try_into().expect("4 bytes"));
        let opcode = u32_at(4);
        let unique = u64::from_ne_bytes(buf[8..16].try_into().expect("8 bytes"));
        match opcode {
            FUSE_INIT => {
                // fuse_init_out (64 bytes): major, minor, max_readahead, flags,
                // max_background, congestion_threshold, max_write, time_gran, max_pages,
                // map_alignment, flags2, unused[7].
                let minor = u32_at(44).min(31);
                let mut out = Vec::with_capacity(64);
                for v in [7u32, minor, 65536, 0] {
                    out.extend_from_slice(&v.to_ne_bytes());
                }
                out.extend_from_slice(&16u16.to_ne_bytes());
                out.extend_from_slice(&12u16.to_ne_bytes());
                out.extend_from_slice(&65536u32.to_ne_bytes());
                out.extend_from_slice(&1u32.to_ne_bytes());
                out.extend_from_slice(&[0u8; 4 + 4 + 28]);
                reply(fd, unique, 0, &out);
            }
            FUSE_ACCESS => reply(fd, unique, -libc::ENOSYS, &[]),
            FUSE_FORGET => {}
            other => {
                if let Ok(mut u) = unanswered.lock() {
                    u.push(other);
                }
            }
        }
    }
}

fn reply(fd: &OwnedFd, unique: u64, error: i32, body: &[u8]) {
    let len = u32::try_from(16 + body.len()).expect("small reply");
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&error.to_ne_bytes());
    out.extend_from_slice(&unique.to_ne_bytes());
    out.extend_from_slice(body);
    let _ = nix::unistd::write(fd, &out);
}
