//! Signal delivery for PID 1: the handlers only record a signal (signal-hook's self-pipe);
//! the main loop collects them in its one blocking wait.

use std::io;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;

use super::{Sig, Wake};

/// Receives the signals of [`Sig::ALL`] through signal-hook's self-pipe. The handlers only
/// record the signal; [`SignalWaiter::wait`] collects them in the main loop.
pub struct SignalWaiter {
    delivery: SignalDelivery<UnixStream, SignalOnly>,
}

impl SignalWaiter {
    /// Install the handlers, then unblock exactly the handled signals. Signals that arrived
    /// while blocked are delivered now and recorded.
    pub fn new() -> io::Result<Self> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let numbers: Vec<i32> = Sig::ALL.iter().map(|s| s.number()).collect();
        let delivery = SignalDelivery::with_pipe(read, write, SignalOnly, numbers.iter())?;
        let mut handled = SigSet::empty();
        for n in numbers {
            if let Ok(s) = Signal::try_from(n) {
                handled.add(s);
            }
        }
        sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&handled), None).map_err(io::Error::from)?;
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
