//! Logging for PID 1 and for the command-line client.
//!
//! PID 1 writes every event to the console, one `write(2)` per event on a non-blocking
//! descriptor, so a stuck serial line drops messages instead of stopping init. When there is no
//! console (or a write fails) the event goes to the init log (`/var/log/init.log`, FreeBSD's
//! `_PATH_INITLOG`). Nothing here can fail PID 1: every error is swallowed.
//!
//! The console descriptor can be taken away from under PID 1: when a session leader whose
//! controlling terminal is the console exits (every script PID 1 starts leads one), FreeBSD
//! revokes the terminal, and every open descriptor of it fails from then on; Linux's
//! TIOCVHANGUP (PID 1's own revoke of a ttys line that is the console) does the same. A write
//! that fails that way reopens the console and tries once more, so the log is not silenced
//! for the rest of PID 1's life.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

/// Where PID 1's log lines go.
#[derive(Clone)]
pub struct Sink {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    console: Mutex<Option<File>>,
    fallback: PathBuf,
    /// Keep descriptors 1 and 2 on the console (PID 1's own stdout and stderr).
    stdio: bool,
}

/// Errors of a descriptor whose terminal was revoked or hung up (or went away).
fn revoked(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO | libc::ENXIO | libc::EBADF | libc::ENODEV)
    )
}

impl Sink {
    /// Open the console (non-blocking, never as controlling terminal; appending, so that a
    /// console that is a file keeps what earlier inits wrote) and remember the fallback log
    /// path.
    #[must_use]
    pub fn open(console: &Path, fallback: &Path) -> Self {
        Self::build(console, fallback, false)
    }

    /// As [`Sink::open`], and point PID 1's stdout and stderr at the console, now and after
    /// every reopen.
    #[must_use]
    pub fn open_as_stdio(console: &Path, fallback: &Path) -> Self {
        Self::build(console, fallback, true)
    }

    fn build(console: &Path, fallback: &Path, stdio: bool) -> Self {
        let file = open_console(console);
        if let Some(c) = file.as_ref().filter(|_| stdio) {
            to_stdio(c);
        }
        Sink {
            inner: Arc::new(Inner {
                path: console.to_path_buf(),
                console: Mutex::new(file),
                fallback: fallback.to_path_buf(),
                stdio,
            }),
        }
    }

    fn emit(&self, buf: &[u8]) {
        let i = &*self.inner;
        let mut console = i
            .console
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = console.as_ref().map(|c| (&*c).write_all(buf));
        let mut sent = matches!(first, Some(Ok(())));
        let reopen = match &first {
            None => true,
            Some(Err(e)) => revoked(e),
            Some(Ok(())) => false,
        };
        if reopen {
            // Revoked, hung up, or never opened: a fresh descriptor, and one more try.
            *console = open_console(&i.path);
            if let Some(c) = console.as_ref() {
                if i.stdio {
                    to_stdio(c);
                }
                sent = (&*c).write_all(buf).is_ok();
            }
        }
        if !sent {
            if let Ok(mut f) = OpenOptions::new()
                .append(true)
                .create(true)
                .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
                .open(&i.fallback)
            {
                let _ = f.write_all(buf);
            }
        }
    }
}

fn open_console(path: &Path) -> Option<File> {
    OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .ok()
}

fn to_stdio(console: &File) {
    // SAFETY: dup2 of a descriptor we own onto the standard ones.
    unsafe {
        libc::dup2(console.as_raw_fd(), 1);
        libc::dup2(console.as_raw_fd(), 2);
    }
}

/// One event's writer: buffers the formatted event and emits it in one write when dropped.
pub struct EventWriter {
    sink: Sink,
    buf: Vec<u8>,
}

impl Write for EventWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            let mut line = b"reinit: ".to_vec();
            line.extend_from_slice(&self.buf);
            if line.last() == Some(&b'\n') {
                // Raw consoles need CR LF.
                line.pop();
                line.extend_from_slice(b"\r\n");
            }
            self.sink.emit(&line);
        }
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter {
            sink: self.clone(),
            buf: Vec::with_capacity(256),
        }
    }
}

/// PID 1's subscriber: info and above, one line per event, to `sink`.
#[must_use]
pub fn pid1_subscriber(sink: Sink) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .with_writer(sink)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_max_level(tracing::Level::INFO)
        .finish()
}

/// Install PID 1's subscriber.
pub fn init_pid1(sink: Sink) {
    let _ = tracing::subscriber::set_global_default(pid1_subscriber(sink));
}

/// Install the client's subscriber: warnings and errors to stderr.
pub fn init_client() {
    let sub = tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _ = tracing::subscriber::set_global_default(sub);
}

/// Log panics through tracing (so they reach the console or the init log) instead of
/// stderr, which PID 1 may not have.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let loc = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!("panic{loc}: {info}");
    }));
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn emit(sink: &Sink, line: &str) {
        let mut w = sink.make_writer();
        w.write_all(line.as_bytes()).unwrap();
    }

    fn read_all(master: &std::os::fd::OwnedFd) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        nix::fcntl::fcntl(
            master,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .unwrap();
        // The pty hands bytes over asynchronously: read until quiet.
        for _ in 0..20 {
            match nix::unistd::read(master, &mut buf) {
                Ok(n) if n > 0 => out.extend_from_slice(&buf[..n]),
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    use std::time::Duration;

    /// A console nobody reads (a stuck serial line) fills up: the line goes to the init log
    /// instead of blocking PID 1 or vanishing. A console whose descriptors went dead (FreeBSD's
    /// revoke, Linux's TIOCVHANGUP; here the terminal is gone and the console path names a
    /// new one, which needs no privilege — the namespace tier does the real hang-up) is
    /// opened again.
    #[test]
    fn a_full_console_falls_back_and_a_dead_one_is_reopened() {
        let d = tempfile::tempdir().unwrap();
        let fallback = d.path().join("init.log");
        let console = d.path().join("console");
        let pty = nix::pty::openpty(None, None).unwrap();
        let tty = nix::unistd::ttyname(&pty.slave).unwrap();
        std::os::unix::fs::symlink(&tty, &console).unwrap();
        let sink = Sink::open(&console, &fallback);
        // Fill the line: nobody reads the master.
        nix::fcntl::fcntl(
            &pty.slave,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .unwrap();
        // The pty moves bytes on asynchronously: fill until even one byte, a little later,
        // finds no room.
        let mut filled = false;
        for _ in 0..1000 {
            for size in [4096, 1] {
                let block = vec![b'x'; size];
                while nix::unistd::write(&pty.slave, &block).is_ok() {}
            }
            std::thread::sleep(Duration::from_millis(20));
            if nix::unistd::write(&pty.slave, b"x") == Err(nix::errno::Errno::EAGAIN) {
                filled = true;
                break;
            }
        }
        assert!(filled, "the pty never filled up");
        emit(&sink, "while full\n");
        let logged = std::fs::read_to_string(&fallback).unwrap_or_default();
        assert!(logged.contains("while full"), "{logged:?}");
        // The terminal goes away: every descriptor of it now fails (EIO); the console path
        // names a new terminal.
        drop(pty.master);
        // (The kernel hangs the slave up asynchronously: a full line answers EAGAIN until
        // then.)
        let mut answer = nix::unistd::write(&pty.slave, b"x");
        for _ in 0..200 {
            if answer != Err(nix::errno::Errno::EAGAIN) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
            answer = nix::unistd::write(&pty.slave, b"x");
        }
        assert_eq!(answer, Err(nix::errno::Errno::EIO));
        let next = nix::pty::openpty(None, None).unwrap();
        let next_tty = nix::unistd::ttyname(&next.slave).unwrap();
        std::fs::remove_file(&console).unwrap();
        std::os::unix::fs::symlink(&next_tty, &console).unwrap();
        emit(&sink, "after the hang-up\n");
        assert!(read_all(&next.master).contains("after the hang-up"));
        let logged = std::fs::read_to_string(&fallback).unwrap_or_default();
        assert!(!logged.contains("after the hang-up"), "{logged:?}");
    }
}
