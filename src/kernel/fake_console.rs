//! A console the fake kernel can revoke without privilege, for its FreeBSD personality.
//!
//! FreeBSD revokes the console when a session leader that has it as controlling terminal
//! exits: every open descriptor of it fails from then on, and opening the console again gives
//! a working terminal. Here the console path is a symbolic link to the slave of a pty the fake
//! holds. A revoke closes that pty's master, so every descriptor of the slave fails with EIO,
//! and points the link at a new pty. Nothing written is lost: a reader drains each master
//! before it is closed. (The namespace tier does a real hang-up, TIOCVHANGUP, as root.)

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// The console: a link to the current pty, and everything written to any of its ptys.
#[derive(Debug)]
pub struct PtyConsole {
    link: PathBuf,
    reader: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
    /// The fake's own descriptor of the current terminal: it tells when a revoke is done.
    probe: Option<OwnedFd>,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl PtyConsole {
    /// A new pty behind the symbolic link `link` (which must not exist yet).
    pub fn new(link: &Path) -> io::Result<Self> {
        let mut c = PtyConsole {
            link: link.to_path_buf(),
            reader: None,
            probe: None,
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        c.attach()?;
        Ok(c)
    }

    /// The console's path (the link).
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.link
    }

    /// Everything written to the console so far, once `want` is all in it or 5 s have
    /// passed (a pty hands bytes over asynchronously).
    #[must_use]
    pub fn text(&self, want: &[&str]) -> String {
        let end = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let text =
                String::from_utf8_lossy(&self.seen.lock().unwrap_or_else(PoisonError::into_inner))
                    .into_owned();
            if want.iter().all(|w| text.contains(w)) || std::time::Instant::now() >= end {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Revoke: every descriptor of the current terminal fails from now on; the link names a
    /// new one.
    pub fn revoke(&mut self) -> io::Result<()> {
        self.detach();
        self.attach()
    }

    /// Stop the reader: it drains the master and closes it. The kernel hangs the terminal
    /// up asynchronously; this returns once it has (a write fails), as FreeBSD's revoke(2)
    /// returns with every descriptor dead.
    fn detach(&mut self) {
        if let Some((stop, thread)) = self.reader.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = thread.join();
        }
        if let Some(probe) = self.probe.take() {
            let end = std::time::Instant::now() + Duration::from_secs(2);
            while matches!(
                nix::unistd::write(&probe, b"\0"),
                Ok(_) | Err(nix::errno::Errno::EAGAIN)
            ) && std::time::Instant::now() < end
            {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    /// A new pty; the link is replaced atomically (rename over it).
    fn attach(&mut self) -> io::Result<()> {
        let pty = nix::pty::openpty(None, None).map_err(io::Error::from)?;
        let tty = nix::unistd::ttyname(&pty.slave).map_err(io::Error::from)?;
        let tmp = self.link.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&tty, &tmp)?;
        std::fs::rename(&tmp, &self.link)?;
        nix::fcntl::fcntl(
            &pty.slave,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .map_err(io::Error::from)?;
        self.probe = Some(pty.slave);
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&self.seen);
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || drain(&pty.master, &seen, &flag));
        self.reader = Some((stop, thread));
        Ok(())
    }
}

impl Drop for PtyConsole {
    fn drop(&mut self) {
        self.detach();
    }
}

/// Read `master` into `seen` until `stop` is set and nothing more is waiting; the master is
/// closed when the caller drops it.
fn drain(master: &OwnedFd, seen: &Mutex<Vec<u8>>, stop: &AtomicBool) {
    let mut buf = [0u8; 4096];
    loop {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        let ready = matches!(poll(&mut fds, PollTimeout::from(20u16)), Ok(n) if n > 0);
        if ready {
            match nix::unistd::read(master, &mut buf) {
                Ok(n) if n > 0 => {
                    seen.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend_from_slice(&buf[..n]);
                    continue;
                }
                // No slave open (EIO) or nothing to read: idle.
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
    }
}
