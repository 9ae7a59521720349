//! Logging for PID 1 and for the command-line client.
//!
//! PID 1 writes every event to the console, one `write(2)` per event on a non-blocking
//! descriptor, so a stuck serial line drops messages instead of stopping init. When there is no
//! console (or a write fails) the event goes to the init log (`/var/log/init.log`, FreeBSD's
//! `_PATH_INITLOG`). Nothing here can fail PID 1: every error is swallowed.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing_subscriber::fmt::MakeWriter;

/// Where PID 1's log lines go.
#[derive(Clone)]
pub struct Sink {
    console: Option<Arc<File>>,
    fallback: PathBuf,
}

impl Sink {
    /// Open the console (non-blocking, never as controlling terminal; appending, so that a
    /// console that is a file keeps what earlier inits wrote) and remember the fallback log
    /// path.
    #[must_use]
    pub fn open(console: &Path, fallback: &Path) -> Self {
        let console = OpenOptions::new()
            .append(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(console)
            .ok()
            .map(Arc::new);
        Sink {
            console,
            fallback: fallback.to_path_buf(),
        }
    }

    /// The console descriptor, if open.
    #[must_use]
    pub fn console_fd(&self) -> Option<i32> {
        self.console.as_ref().map(|f| f.as_raw_fd())
    }

    fn emit(&self, buf: &[u8]) {
        let to_console = self
            .console
            .as_ref()
            .is_some_and(|c| (&**c).write_all(buf).is_ok());
        if !to_console {
            if let Ok(mut f) = OpenOptions::new()
                .append(true)
                .create(true)
                .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
                .open(&self.fallback)
            {
                let _ = f.write_all(buf);
            }
        }
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

/// Install PID 1's subscriber. Level from `RUST_LOG`-free configuration: info and above.
pub fn init_pid1(sink: Sink) {
    let sub = tracing_subscriber::fmt()
        .with_writer(sink)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _ = tracing::subscriber::set_global_default(sub);
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
