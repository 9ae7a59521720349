//! A system call that may never return (a mount whose device's daemon does not answer),
//! made in a child process and waited for with a deadline, so that it cannot hang PID 1.

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag};

use super::unix::close_from;
use super::KernelError;

/// Run `f` (a system call that may never return, such as a mount whose device does not
/// answer) in a child process and wait at most `limit` for its answer. PID 1 is
/// single-threaded, so the child may run ordinary code. Its answer comes back through a pipe
/// (the whole error, the kernel's message included). No answer in time: the child gets
/// SIGKILL (it dies when the call returns; the reaper collects it) and the answer is
/// [`KernelError::no_answer`].
pub fn bounded(
    call: &'static str,
    target: &Path,
    limit: Duration,
    f: impl FnOnce() -> Result<(), KernelError>,
) -> Result<(), KernelError> {
    let fail = |what: &'static str, e: Errno| KernelError::new(what, Some(target), e);
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| fail("pipe", e))?;
    // SAFETY: PID 1 is single-threaded (see the module documentation); the child runs `f`,
    // writes once and leaves with _exit, never returning into the caller.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(fail("fork", e)),
        Ok(nix::unistd::ForkResult::Child) => {
            drop(r);
            // Nothing of the parent's stays open in a child that may live on in the kernel
            // (a writable executable it held would stay busy, a terminal stay open).
            // SAFETY: closing descriptor numbers in the child; none is used again here.
            unsafe { close_from(3, Some(w.as_raw_fd()), false) };
            let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .unwrap_or_else(|_| Err(KernelError::new(call, Some(target), Errno::EFAULT)));
            let _ = nix::unistd::write(&w, encode(&answer).as_bytes());
            // SAFETY: leave the child without running the parent's destructors.
            unsafe { libc::_exit(0) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            drop(w);
            match read_until(&r, Instant::now() + limit) {
                Some(answer) => {
                    let _ = waitpid(child, None);
                    decode(&answer, call, target)
                }
                None => {
                    let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
                    let _ = waitpid(child, Some(WaitPidFlag::WNOHANG));
                    Err(KernelError::no_answer(call, target, limit))
                }
            }
        }
    }
}

/// Everything written to `fd` until its writer closes it, or `None` at `deadline`.
fn read_until(fd: &std::os::fd::OwnedFd, deadline: Instant) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let ms = i32::try_from(left.as_millis().saturating_add(1)).unwrap_or(i32::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => return None,
        }
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => return Some(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(_) => return None,
        }
    }
}

/// The child's answer on the wire: empty for success, else call, errno, target and detail
/// separated by NUL.
fn encode(answer: &Result<(), KernelError>) -> String {
    match answer {
        Ok(()) => String::new(),
        Err(e) => format!(
            "{}\0{}\0{}\0{}",
            e.call,
            e.errno.raw(),
            e.target
                .as_ref()
                .map(|t| t.display().to_string())
                .unwrap_or_default(),
            e.detail.as_deref().unwrap_or_default()
        ),
    }
}

fn decode(answer: &[u8], call: &'static str, target: &Path) -> Result<(), KernelError> {
    if answer.is_empty() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(answer);
    let mut f = text.split('\0');
    let (Some(c), Some(n), Some(t), Some(d)) = (f.next(), f.next(), f.next(), f.next()) else {
        return Err(KernelError::new(call, Some(target), Errno::EIO)
            .with_detail(Some("the child's answer does not parse")));
    };
    let errno = super::Errno::from_raw(n.parse().unwrap_or(libc::EIO));
    let mut e = KernelError::new(call, None, errno).with_detail(Some(d));
    e.call = std::borrow::Cow::Owned(c.to_owned());
    e.target = (!t.is_empty()).then(|| PathBuf::from(t));
    Err(e)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_bounded_call_brings_back_its_whole_answer() {
        let dir = Path::new("/x");
        let limit = Duration::from_secs(5);
        assert_eq!(bounded("mount", dir, limit, || Ok(())), Ok(()));
        let e = KernelError::new("nmount", Some(dir), Errno::EINVAL)
            .with_detail(Some("Invalid fstype"));
        let back = bounded("mount", dir, limit, || Err(e.clone())).unwrap_err();
        assert_eq!(back, e);
        assert_eq!(
            back.to_string(),
            "nmount /x: EINVAL: Invalid argument (Invalid fstype)"
        );
    }

    /// A call that never returns costs the caller `limit`, and its process is killed.
    #[test]
    fn a_call_that_never_answers_is_cut_off_at_its_deadline() {
        let d = tempfile::tempdir().unwrap();
        let who = d.path().join("pid");
        let t = Instant::now();
        let e = bounded("mount", Path::new("/x"), Duration::from_millis(300), || {
            // The child says who it is, then blocks for good.
            let _ = std::fs::write(&who, std::process::id().to_string());
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        })
        .unwrap_err();
        let waited = t.elapsed();
        assert_eq!(e.errno, super::super::Errno::ETIMEDOUT);
        assert!(e.to_string().contains("no answer in 0.3 s"), "{e}");
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert!(waited < Duration::from_secs(60), "{waited:?}");
        let pid = std::fs::read_to_string(d.path().join("pid")).unwrap();
        let pid = nix::unistd::Pid::from_raw(pid.parse().unwrap());
        // Killed: gone (reaped here) or a zombie until reaped.
        let _ = waitpid(pid, None);
        assert_eq!(
            nix::sys::signal::kill(pid, None),
            Err(Errno::ESRCH),
            "the child is still running"
        );
    }
}
