//! Signal delivery for PID 1, collected in the main loop's one blocking wait.
//!
//! - Linux: the handled signals stay blocked and are read from a signalfd: one read(2)
//!   returns every pending signal, with no handler, no self-pipe and no poll when there is no
//!   timeout (`make bench`: 2–3 system calls per reaped orphan instead of 6–7).
//! - Elsewhere (FreeBSD): handlers that only record the signal (signal-hook's self-pipe).

use std::io;
use std::os::fd::AsFd;
#[cfg(not(target_os = "linux"))]
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
#[cfg(not(target_os = "linux"))]
use nix::sys::signal::{sigprocmask, SigmaskHow};
use nix::sys::signal::{SigSet, Signal};
#[cfg(not(target_os = "linux"))]
use signal_hook::iterator::{backend::SignalDelivery, exfiltrator::SignalOnly};

use super::{Sig, Wake};

/// Receives the signals of [`Sig::ALL`] through signal-hook's self-pipe. The handlers only
/// record the signal; [`SignalWaiter::wait`] collects them in the main loop.
#[cfg(not(target_os = "linux"))]
pub struct SignalWaiter {
    delivery: SignalDelivery<UnixStream, SignalOnly>,
}

#[cfg(not(target_os = "linux"))]
impl SignalWaiter {
    /// Install the handlers, then unblock exactly the handled signals. Signals that arrived
    /// while blocked are delivered now and recorded.
    pub fn new() -> io::Result<Self> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let numbers: Vec<i32> = Sig::ALL.iter().map(|s| s.number()).collect();
        let delivery = SignalDelivery::with_pipe(read, write, SignalOnly, numbers.iter())?;
        sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&handled()), None).map_err(io::Error::from)?;
        // SIGTTIN/SIGTTOU would stop PID 1 if it ever touched a terminal from the background;
        // they stay blocked (init.c ignores them).
        Ok(SignalWaiter { delivery })
    }

    /// Block until a handled signal arrives or `timeout` passes.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Wake {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let got: Vec<Sig> = self
                .delivery
                .pending()
                .filter_map(Sig::from_number)
                .collect();
            if !got.is_empty() {
                return Wake::Signals(got);
            }
            let remaining = match deadline {
                None => PollTimeout::NONE,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Wake::Timeout;
                    }
                    // Round up so that a 0.4 ms remainder does not spin.
                    let ms = left.as_millis().saturating_add(1);
                    PollTimeout::try_from(ms.min(i32::MAX as u128) as i32)
                        .unwrap_or(PollTimeout::MAX)
                }
            };
            let fd = self.delivery.get_read();
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, remaining) {
                // Readable, timed out or interrupted: the next turn collects or times out.
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => {
                    // poll on our own pipe cannot fail in practice; never spin if it does.
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

/// Receives the signals of [`Sig::ALL`] from a signalfd. They stay blocked (as PID 1 blocked
/// them at its start, so none that came before is lost) and pending until read here; with
/// no handler, nothing runs when one arrives.
#[cfg(target_os = "linux")]
pub struct SignalWaiter {
    fd: nix::sys::signalfd::SignalFd,
}

#[cfg(target_os = "linux")]
impl SignalWaiter {
    /// Open the signalfd of the handled signals; they stay blocked.
    pub fn new() -> io::Result<Self> {
        use nix::sys::signalfd::{SfdFlags, SignalFd};
        let fd =
            SignalFd::with_flags(&handled(), SfdFlags::SFD_CLOEXEC).map_err(io::Error::from)?;
        Ok(SignalWaiter { fd })
    }

    /// Block until a handled signal arrives or `timeout` passes. Without a timeout this is
    /// one read(2); with one, a poll(2) first.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Wake {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                // Round up so that a 0.4 ms remainder does not spin.
                let ms = if left.is_zero() {
                    0
                } else {
                    left.as_millis().saturating_add(1).min(i32::MAX as u128) as i32
                };
                let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
                let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, timeout) {
                    Ok(0) if ms == 0 => return Wake::Timeout,
                    Ok(0) | Err(Errno::EINTR) => continue,
                    Ok(_) => {}
                    Err(_) => {
                        // poll on our own signalfd cannot fail in practice; never spin.
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                }
            }
            // Every pending signal at once: the kernel fills whole records.
            let mut buf = [0u8; 16 * SIGINFO];
            match nix::unistd::read(&self.fd, &mut buf) {
                Ok(n) => {
                    let got: Vec<Sig> = buf[..n]
                        .chunks_exact(SIGINFO)
                        .filter_map(|r| r.first_chunk::<4>())
                        .filter_map(|b| i32::try_from(u32::from_ne_bytes(*b)).ok())
                        .filter_map(Sig::from_number)
                        .collect();
                    if !got.is_empty() {
                        return Wake::Signals(got);
                    }
                }
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

/// The size of one `struct signalfd_siginfo`, whose first field is the signal number.
#[cfg(target_os = "linux")]
const SIGINFO: usize = std::mem::size_of::<libc::signalfd_siginfo>();

/// The signals PID 1 handles, as a set.
pub fn handled() -> SigSet {
    let mut set = SigSet::empty();
    for s in Sig::ALL {
        if let Ok(sig) = Signal::try_from(s.number()) {
            set.add(sig);
        }
    }
    set
}
