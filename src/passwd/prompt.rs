//! The single-user `Password:` prompt and the console it runs on.
//! Design: docs/passwd.md

use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use nix::sys::termios::{self, LocalFlags, SetArg, Termios};

use super::{is_locked, verify, wipe, wipe_vec};

/// First line printed by the prompt loop (FreeBSD `init`'s banner).
const BANNER: &str = "Enter root password, or ^D to go multi-user\n";

/// Printed before each password read (FreeBSD `getpass("Password:")`).
const PROMPT: &str = "Password:";

/// Printed after each failed attempt.
const INCORRECT: &str = "Login incorrect\n";

/// Printed after the banner when root's password field is locked.
const LOCKED_NOTE: &str = "The root account is locked: no password will be accepted.\n\
Press ^D to go multi-user; mark the console \"secure\" in /etc/ttys for a single-user shell without a password.\n";

/// Longest password line read, in bytes (newline included). Longer lines are
/// failed attempts. FreeBSD's `getpass` stops at 128 (`_PASSWORD_LEN`); this
/// is more generous but still bounded.
pub const MAX_PASSWORD_LINE: usize = 1024;

/// Pause after a failed attempt in [`ask_on_console`] (not in
/// [`ask_root_password`]).
pub const FAILURE_DELAY: Duration = Duration::from_secs(1);

/// What the single-user child should do after the prompt loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The right password was given: run the single-user shell.
    Shell,
    /// `^D`, an empty line or a read error: exit 0 so init goes multi-user.
    MultiUser,
}

/// Writes `text` and flushes; a broken console is logged, not fatal.
fn say<W: Write>(out: &mut W, text: &str) {
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        tracing::debug!(error = %e, "single-user prompt: cannot write to console");
    }
}

/// What one password read produced.
enum LineRead {
    /// End of input before any byte.
    Eof,
    /// A line (trailing `\n` / `\r\n` removed) or a final unterminated one.
    Line,
    /// More than [`MAX_PASSWORD_LINE`] bytes; the rest of the line was
    /// discarded and `line` must not be used as a password.
    TooLong,
}

/// Reads one password line into `line` (cleared first). `line` must have a
/// capacity of at least [`MAX_PASSWORD_LINE`] so it never reallocates and
/// leaves copies behind.
fn read_password_line<R: BufRead>(input: &mut R, line: &mut Vec<u8>) -> io::Result<LineRead> {
    line.clear();
    let limit = u64::try_from(MAX_PASSWORD_LINE).unwrap_or(u64::MAX);
    let n = input.by_ref().take(limit).read_until(b'\n', line)?;
    if n == 0 {
        return Ok(LineRead::Eof);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        return Ok(LineRead::Line);
    }
    if n < MAX_PASSWORD_LINE {
        // End of input in the middle of a line: use what was typed, as
        // getpass(3) does; the next read then sees EOF.
        return Ok(LineRead::Line);
    }
    skip_line(input)?;
    Ok(LineRead::TooLong)
}

/// Discards input up to and including the next newline (or to EOF).
fn skip_line<R: BufRead>(input: &mut R) -> io::Result<()> {
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            input.consume(pos + 1);
            return Ok(());
        }
        let len = buf.len();
        input.consume(len);
    }
}

/// The prompt loop shared by [`ask_root_password`] and [`ask_on_console`];
/// `after_failure` runs after each `Login incorrect`.
fn prompt_loop<R: BufRead, W: Write>(
    hash: &str,
    input: &mut R,
    out: &mut W,
    set_echo: &mut dyn FnMut(bool),
    after_failure: &mut dyn FnMut(),
) -> Outcome {
    say(out, BANNER);
    if is_locked(hash) {
        tracing::warn!("root account is locked: no password can unlock the single-user shell");
        say(out, LOCKED_NOTE);
    }
    let mut line = Vec::with_capacity(MAX_PASSWORD_LINE);
    let outcome = loop {
        say(out, PROMPT);
        set_echo(false);
        let read = read_password_line(input, &mut line);
        set_echo(true);
        // Echo was off, so the operator's Enter was not echoed either.
        say(out, "\n");
        let attempt = match read {
            Err(e) => {
                tracing::warn!(error = %e, "single-user prompt: cannot read console; going multi-user");
                break Outcome::MultiUser;
            }
            Ok(LineRead::Eof) => break Outcome::MultiUser,
            Ok(LineRead::Line) if line.is_empty() => break Outcome::MultiUser,
            Ok(LineRead::Line) => verify(&line, hash),
            Ok(LineRead::TooLong) => Ok(false),
        };
        wipe_vec(&mut line);
        match attempt {
            Ok(true) => break Outcome::Shell,
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "single-user password check failed"),
        }
        tracing::warn!("single-user login failed");
        say(out, INCORRECT);
        after_failure();
    };
    wipe_vec(&mut line);
    outcome
}

/// FreeBSD's single-user password prompt loop over any line source.
///
/// Prints the banner `Enter root password, or ^D to go multi-user` (plus a
/// note if `hash` is locked), then repeatedly prints `Password:`, calls
/// `set_echo(false)`, reads a line from `input`, calls `set_echo(true)` and
/// prints a newline (the operator's Enter was not echoed). End of input, an
/// empty line or a read error gives [`Outcome::MultiUser`]; a password that
/// [`verify`]s gives [`Outcome::Shell`]; anything else (including a
/// `crypt(3)` error, which is logged) prints `Login incorrect` and asks
/// again. There is no delay between attempts. Output errors are ignored.
pub fn ask_root_password<R: BufRead, W: Write>(
    hash: &str,
    input: &mut R,
    out: &mut W,
    set_echo: &mut dyn FnMut(bool),
) -> Outcome {
    prompt_loop(hash, input, out, set_echo, &mut || {})
}

/// Saved terminal settings of fd 0, restored on drop.
struct EchoGuard<'a> {
    /// The terminal (fd 0).
    fd: BorrowedFd<'a>,
    /// Settings at entry; `None` if fd 0 is not a terminal.
    saved: Option<Termios>,
}

impl<'a> EchoGuard<'a> {
    /// Saves the settings of `fd`, if it is a terminal.
    fn new(fd: BorrowedFd<'a>) -> Self {
        let saved = match termios::tcgetattr(fd) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(error = %e, "single-user prompt: console is not a terminal; cannot turn echo off");
                None
            }
        };
        EchoGuard { fd, saved }
    }

    /// Echo on: restore the saved settings. Echo off: the saved settings
    /// without `ECHO`, `ECHOE`, `ECHOK`, `ECHONL`, `ISIG`, discarding
    /// type-ahead (`TCSAFLUSH`, like `readpassphrase(3)`).
    fn set_echo(&self, on: bool) {
        let Some(saved) = &self.saved else { return };
        let result = if on {
            termios::tcsetattr(self.fd, SetArg::TCSANOW, saved)
        } else {
            let mut quiet = saved.clone();
            quiet.local_flags.remove(
                LocalFlags::ECHO
                    | LocalFlags::ECHOE
                    | LocalFlags::ECHOK
                    | LocalFlags::ECHONL
                    | LocalFlags::ISIG,
            );
            termios::tcsetattr(self.fd, SetArg::TCSAFLUSH, &quiet)
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, echo = on, "single-user prompt: cannot change console echo");
        }
    }
}

impl Drop for EchoGuard<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            if let Err(e) = termios::tcsetattr(self.fd, SetArg::TCSANOW, saved) {
                tracing::warn!(error = %e, "single-user prompt: cannot restore console settings");
            }
        }
    }
}

/// Unbuffered line source on a file descriptor: reads one byte per
/// `read(2)`, so nothing past the password line is taken from the console
/// (the shell reads the rest), and no large buffer holds the password. The
/// one-byte buffer is zeroed when consumed and on drop.
struct ConsoleReader<'a> {
    /// The descriptor read (fd 0).
    fd: BorrowedFd<'a>,
    /// The byte read ahead, valid if `full`.
    byte: [u8; 1],
    /// Whether `byte` holds an unconsumed byte.
    full: bool,
}

impl Read for ConsoleReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ConsoleReader<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if !self.full {
            let n = nix::unistd::read(self.fd, &mut self.byte).map_err(io::Error::from)?;
            if n == 0 {
                return Ok(&[]);
            }
            self.full = true;
        }
        Ok(&self.byte)
    }

    fn consume(&mut self, amt: usize) {
        if amt > 0 && self.full {
            self.full = false;
            wipe(&mut self.byte);
        }
    }
}

impl Drop for ConsoleReader<'_> {
    fn drop(&mut self) {
        wipe(&mut self.byte);
    }
}

/// The prompt loop on the real console: reads fd 0 (unbuffered), writes to
/// stderr, turns echo off with termios while reading and restores the saved
/// settings after every read and on every way out. Waits
/// [`FAILURE_DELAY`] after each failed attempt.
pub fn ask_on_console(hash: &str) -> Outcome {
    let stdin = io::stdin();
    let fd = stdin.as_fd();
    let guard = EchoGuard::new(fd);
    let mut reader = ConsoleReader {
        fd,
        byte: [0],
        full: false,
    };
    let mut out = io::stderr();
    let outcome = prompt_loop(
        hash,
        &mut reader,
        &mut out,
        &mut |on| guard.set_echo(on),
        &mut || std::thread::sleep(FAILURE_DELAY),
    );
    drop(guard);
    outcome
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::passwd::crypt::tests::make_hash;
    use std::io::Cursor;

    /// Runs the prompt loop on `input`, returning the outcome, the output
    /// and the sequence of `set_echo` calls.
    fn run(hash: &str, input: &[u8]) -> (Outcome, String, Vec<bool>) {
        let mut reader = Cursor::new(input.to_vec());
        let mut out = Vec::new();
        let mut echo = Vec::new();
        let outcome = ask_root_password(hash, &mut reader, &mut out, &mut |on| echo.push(on));
        (outcome, String::from_utf8(out).unwrap(), echo)
    }

    #[test]
    fn prompt_wrong_then_right() {
        let hash = make_hash("secret", "$6$saltsalt$");
        let (outcome, out, echo) = run(&hash, b"wrong\nsecret\n");
        assert_eq!(outcome, Outcome::Shell);
        assert_eq!(out.matches("Login incorrect").count(), 1, "{out}");
        assert_eq!(out.matches("Password:").count(), 2, "{out}");
        assert!(
            out.starts_with("Enter root password, or ^D to go multi-user\n"),
            "{out}"
        );
        assert_eq!(
            out,
            "Enter root password, or ^D to go multi-user\nPassword:\nLogin incorrect\nPassword:\n"
        );
        assert_eq!(echo, vec![false, true, false, true]);
    }

    #[test]
    fn prompt_right_first_time_crlf() {
        let hash = make_hash("secret", "$6$saltsalt$");
        let (outcome, out, echo) = run(&hash, b"secret\r\n");
        assert_eq!(outcome, Outcome::Shell);
        assert!(!out.contains("Login incorrect"));
        assert_eq!(echo, vec![false, true]);
    }

    #[test]
    fn prompt_eof_goes_multi_user() {
        let hash = make_hash("secret", "$6$saltsalt$");
        let (outcome, out, echo) = run(&hash, b"");
        assert_eq!(outcome, Outcome::MultiUser);
        assert!(!out.contains("Login incorrect"));
        assert_eq!(echo, vec![false, true]);

        let (outcome, out, _) = run(&hash, b"wrong\n");
        assert_eq!(outcome, Outcome::MultiUser);
        assert_eq!(out.matches("Login incorrect").count(), 1);
    }

    #[test]
    fn prompt_empty_line_goes_multi_user() {
        let hash = make_hash("secret", "$6$saltsalt$");
        let (outcome, _, echo) = run(&hash, b"\nsecret\n");
        assert_eq!(outcome, Outcome::MultiUser);
        assert_eq!(echo, vec![false, true]);
        let (outcome, _, _) = run(&hash, b"\r\n");
        assert_eq!(outcome, Outcome::MultiUser);
    }

    #[test]
    fn prompt_unterminated_last_line_is_an_attempt() {
        let hash = make_hash("secret", "$6$saltsalt$");
        let (outcome, _, _) = run(&hash, b"secret");
        assert_eq!(outcome, Outcome::Shell);
    }

    #[test]
    fn prompt_too_long_line_is_a_failure() {
        let hash = make_hash("secret", "$6$saltsalt$");
        let mut input = vec![b'a'; MAX_PASSWORD_LINE * 3];
        input.extend_from_slice(b"\nsecret\n");
        let (outcome, out, echo) = run(&hash, &input);
        assert_eq!(outcome, Outcome::Shell);
        assert_eq!(out.matches("Login incorrect").count(), 1, "{out}");
        assert_eq!(echo, vec![false, true, false, true]);

        // Exactly at the limit without a newline, then EOF.
        let input = vec![b'a'; MAX_PASSWORD_LINE];
        let (outcome, out, _) = run(&hash, &input);
        assert_eq!(outcome, Outcome::MultiUser);
        assert_eq!(out.matches("Login incorrect").count(), 1, "{out}");
    }

    #[test]
    fn prompt_locked_never_gives_shell() {
        let (outcome, out, _) = run("*", b"*\n!\n\n");
        assert_eq!(outcome, Outcome::MultiUser);
        assert!(out.contains("locked"), "{out}");
        assert_eq!(out.matches("Login incorrect").count(), 2, "{out}");
    }

    #[test]
    fn prompt_crypt_error_is_incorrect() {
        let (outcome, out, _) = run("$2b$99$abcdefghijklmnopqrstuu", b"x\n");
        assert_eq!(outcome, Outcome::MultiUser);
        assert_eq!(out.matches("Login incorrect").count(), 1, "{out}");
    }

    /// A reader that fails after the first line.
    struct Failing(Cursor<Vec<u8>>);

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.read(buf)?;
            if n == 0 {
                return Err(io::Error::other("console gone"));
            }
            Ok(n)
        }
    }

    impl BufRead for Failing {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            if self.0.position() as usize >= self.0.get_ref().len() {
                return Err(io::Error::other("console gone"));
            }
            self.0.fill_buf()
        }
        fn consume(&mut self, amt: usize) {
            self.0.consume(amt);
        }
    }

    #[test]
    fn prompt_read_error_goes_multi_user_with_echo_restored() {
        let hash = make_hash("secret", "$6$saltsalt$");
        let mut input = Failing(Cursor::new(b"wrong\n".to_vec()));
        let mut out = Vec::new();
        let mut echo = Vec::new();
        let outcome = ask_root_password(&hash, &mut input, &mut out, &mut |on| echo.push(on));
        assert_eq!(outcome, Outcome::MultiUser);
        assert_eq!(echo, vec![false, true, false, true]);
        assert_eq!(echo.last(), Some(&true));
    }

    #[test]
    fn console_reader_reads_bytes() {
        // Read from a pipe through the console reader.
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&w, b"ab\ncd").unwrap();
        drop(w);
        let mut reader = ConsoleReader {
            fd: r.as_fd(),
            byte: [0],
            full: false,
        };
        let mut line = Vec::with_capacity(MAX_PASSWORD_LINE);
        assert!(matches!(
            read_password_line(&mut reader, &mut line).unwrap(),
            LineRead::Line
        ));
        assert_eq!(line, b"ab");
        assert!(matches!(
            read_password_line(&mut reader, &mut line).unwrap(),
            LineRead::Line
        ));
        assert_eq!(line, b"cd");
        assert!(matches!(
            read_password_line(&mut reader, &mut line).unwrap(),
            LineRead::Eof
        ));
    }

    #[test]
    fn echo_guard_on_non_tty_is_harmless() {
        let (r, _w) = nix::unistd::pipe().unwrap();
        let guard = EchoGuard::new(r.as_fd());
        assert!(guard.saved.is_none());
        guard.set_echo(false);
        guard.set_echo(true);
    }
}
