//! Root password check for single-user mode, as FreeBSD `init(8)` does it.
//!
//! # Contract
//!
//! When the `console` entry of `/etc/ttys` is not marked `secure` and root
//! has a password, FreeBSD's single-user child prints
//! `Enter root password, or ^D to go multi-user`, then loops:
//!
//! * prompt `Password:` with echo off and read one line;
//! * end of input (`^D`) or an empty line: give up and go multi-user (the
//!   caller's child then exits 0 so init runs `/etc/rc` again);
//! * the right password: run the single-user shell;
//! * a wrong one: print `Login incorrect` and ask again.
//!
//! This module supplies the pieces of that:
//!
//! * [`default_db_path`] / [`root_password`] / [`root_password_from_text`]
//!   find root's password field in `/etc/shadow` (Linux) or
//!   `/etc/master.passwd` (FreeBSD). Both files have the login name in the
//!   first colon-separated field and the hash in the second.
//! * [`verify`] checks a typed password with the platform's `crypt(3)` from
//!   libcrypt (libxcrypt on Linux: yescrypt `$y$`, sha512-crypt `$6$`, bcrypt
//!   `$2b$`, ...; FreeBSD's libcrypt: sha512-crypt, bcrypt, ...) and compares
//!   the result with the stored hash in constant time. A NULL result or a
//!   libxcrypt failure token (a string starting with `*`) is an error, never
//!   a match.
//! * [`ask_root_password`] is the prompt loop over any reader and writer, so
//!   it can be unit-tested; [`ask_on_console`] runs it on fd 0 / fd 2 with
//!   echo switched off through termios.
//!
//! The caller decides whether to ask at all (it reads `/etc/ttys`); the
//! intended use in the single-user child is:
//!
//! ```text
//! match passwd::root_password(passwd::default_db_path()) {
//!     Ok(RootPassword::None) => run the shell, no prompt,
//!     Ok(RootPassword::Hash(h)) => match passwd::ask_on_console(&h) { Shell => shell, MultiUser => exit 0 },
//!     Ok(RootPassword::Locked) => passwd::ask_on_console("*")  // never Shell; see below
//!     Err(e) => log e loudly at error level, then run the shell; see below
//! }
//! ```
//!
//! # Decision: a locked root account (`*`, `!`, `!$6$...`, `*LOCKED*`)
//!
//! A password field starting with `*` or `!` is [`RootPassword::Locked`]:
//! **no password unlocks the single-user shell**; the operator can only
//! press `^D` to go multi-user. Reasons:
//!
//! * It is what FreeBSD does: `init` only skips the prompt when the field is
//!   empty; for `*` it prompts, `crypt(3)` never reproduces `*`, so root can
//!   never get in.
//! * It is what util-linux `sulogin` does by default: a locked root gives
//!   "Cannot open access to console, the root account is locked" (only its
//!   `--force` option turns a locked root into a password-less shell).
//! * An administrator who marked the console `insecure` asked for a password
//!   gate; "root is locked" means "no password grants root". Failing open
//!   would turn a lock into "no password needed". The documented way to get a
//!   password-less single-user shell is to mark the console `secure` in
//!   `/etc/ttys`.
//!
//! The caller should still show the prompt (pass the locked field, or just
//! `"*"`, to [`ask_on_console`]) rather than go multi-user at once: the
//! prompt blocks until the operator presses `^D`, as on FreeBSD, whereas
//! continuing immediately could spin "rc fails → single-user → multi-user →
//! rc fails". For a locked hash the prompt loop adds one line after the
//! banner saying that the account is locked and how to get a shell, so the
//! operator is not left guessing; [`verify`] returns `Ok(false)` for a locked
//! hash without calling `crypt(3)`.
//!
//! # Decision: missing or unreadable database, no root line
//!
//! [`root_password`] returns [`PasswdError::Read`] or
//! [`PasswdError::NoRootEntry`]; it never guesses. The suggested caller
//! behaviour is FreeBSD's: log the error loudly (error level, on the
//! console) and run the shell **without** a prompt. FreeBSD `init` checks
//! the password only if `getpwnam("root")` succeeds, so a missing or broken
//! `master.passwd` yields a shell; util-linux `sulogin --force` does the
//! same. Single-user mode is the repair path, and a damaged password
//! database is exactly what an operator may need to repair; someone able to
//! delete or corrupt that file already has root or the disk. (Plain
//! `sulogin` without `--force` refuses instead and leaves the machine
//! unrepairable from the console.) A root line that is present but whose
//! hash is garbage is *not* treated this way: it is a [`RootPassword::Hash`]
//! that never matches (fail closed), because the file was readable and says
//! root has a password.
//!
//! # Other details
//!
//! * The typed password lives in a `Vec<u8>` with a fixed capacity that is
//!   overwritten with zeros (volatile writes) after each attempt, as are the
//!   NUL-terminated copy handed to `crypt(3)` and the computed hash. This is
//!   best effort: libcrypt keeps its own static buffer, and the kernel's tty
//!   layer has seen the bytes.
//! * A line longer than [`MAX_PASSWORD_LINE`] bytes is a failed attempt (the
//!   rest of the line is discarded) and is never passed to `crypt(3)`.
//! * `crypt(3)` is not reentrant (static result buffer); all calls made by
//!   this module are serialised by a process-wide mutex. Nothing else in the
//!   crate is expected to call `crypt(3)`.
//! * FreeBSD `init` does not sleep between failed attempts. The generic
//!   [`ask_root_password`] does not either (it keeps tests fast);
//!   [`ask_on_console`] waits [`FAILURE_DELAY`] after each failure to slow
//!   down guessing on the physical console. Echo is on during that pause;
//!   anything typed then is discarded when echo goes off again
//!   (`TCSAFLUSH`, as `readpassphrase(3)` does), so it is neither used nor
//!   kept as type-ahead.
//! * [`ask_on_console`] clears `ECHO`, `ECHOE`, `ECHOK`, `ECHONL` and `ISIG`
//!   while reading (as `sulogin` does): with `ISIG` off, `^C` cannot kill the
//!   child while echo is off and so leave the console silent; `^D` still
//!   works because `ICANON` stays on. The saved settings are restored after
//!   each read and again when the function returns (a drop guard, so also on
//!   early returns and unwinding). If fd 0 is not a terminal, echo cannot be
//!   controlled; the loop runs anyway and this is logged.

use std::ffi::{c_char, CStr, CString};
use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{compiler_fence, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use nix::sys::termios::{self, LocalFlags, SetArg, Termios};

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

// Linux, and static FreeBSD builds: link libcrypt.
#[cfg(any(not(target_os = "freebsd"), target_feature = "crt-static"))]
#[link(name = "crypt")]
extern "C" {
    /// `char *crypt(const char *key, const char *setting)` from libcrypt.
    /// Returns a pointer to a static NUL-terminated buffer, or NULL (or a
    /// failure token starting with `*` on libxcrypt) on error.
    fn crypt(key: *const c_char, salt: *const c_char) -> *mut c_char;
}

/// Dynamic FreeBSD builds load `crypt` from `libcrypt.so.5` at run time, so that the PID 1
/// binary needs only libc and libthr (the fewer libraries a reroot must carry, the better);
/// only the single-user password check ever calls it.
///
/// # Safety
/// As `crypt(3)`: both arguments are NUL-terminated strings.
#[cfg(all(target_os = "freebsd", not(target_feature = "crt-static")))]
unsafe fn crypt(key: *const c_char, salt: *const c_char) -> *mut c_char {
    type CryptFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut c_char;
    static CRYPT: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let f = CRYPT.get_or_init(|| {
        // SAFETY: dlopen/dlsym with static NUL-terminated names.
        unsafe {
            let h = libc::dlopen(c"libcrypt.so.5".as_ptr(), libc::RTLD_NOW);
            if h.is_null() {
                return None;
            }
            let sym = libc::dlsym(h, c"crypt".as_ptr());
            (!sym.is_null()).then_some(sym as usize)
        }
    });
    match f {
        // SAFETY: the address is libcrypt's `crypt`, whose C signature is `CryptFn`; the
        // caller upholds its contract.
        Some(addr) => unsafe { std::mem::transmute::<usize, CryptFn>(*addr)(key, salt) },
        None => std::ptr::null_mut(),
    }
}

/// Serialises calls to the non-reentrant `crypt(3)` and the copy-out of its
/// static result buffer.
static CRYPT_LOCK: Mutex<()> = Mutex::new(());

/// Root's password field, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootPassword {
    /// The field is empty: root has no password and no prompt is shown.
    None,
    /// The field starts with `*` or `!` (e.g. `*`, `!`, `!!`, `!$6$...`,
    /// `*LOCKED*$6$...`): no password is accepted. See the module docs.
    Locked,
    /// A crypt(3) hash to check typed passwords against.
    Hash(String),
}

/// Errors of this module. None of them carries a password or a hash.
#[derive(Debug, thiserror::Error)]
pub enum PasswdError {
    /// The password database could not be read (missing, permissions, I/O).
    #[error("cannot read password database {}: {source}", path.display())]
    Read {
        /// The file that was read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The password database has no `root:` line with a password field.
    #[error("password database {} has no entry for root", path.display())]
    NoRootEntry {
        /// The file that was read.
        path: PathBuf,
    },
    /// `crypt(3)` rejected the stored hash (NULL or failure-token result,
    /// unsupported scheme, malformed or empty hash, embedded NUL).
    #[error("crypt(3) failed for a stored hash of scheme {scheme}")]
    Crypt {
        /// The hash's scheme prefix only, e.g. `$6$`, `$y$`, `$2b$`, or a
        /// description such as `des` or `empty`; never the hash itself.
        scheme: String,
    },
}

/// What the single-user child should do after the prompt loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The right password was given: run the single-user shell.
    Shell,
    /// `^D`, an empty line or a read error: exit 0 so init goes multi-user.
    MultiUser,
}

/// The platform's password database path: `/etc/master.passwd` on the BSDs
/// (FreeBSD in particular), `/etc/shadow` elsewhere (Linux).
pub fn default_db_path() -> &'static Path {
    #[cfg(any(
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "netbsd",
        target_os = "openbsd"
    ))]
    {
        Path::new("/etc/master.passwd")
    }
    #[cfg(not(any(
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "netbsd",
        target_os = "openbsd"
    )))]
    {
        Path::new("/etc/shadow")
    }
}

/// True if a password field is locked (starts with `*` or `!`).
fn is_locked(field: &str) -> bool {
    field.starts_with('*') || field.starts_with('!')
}

/// Classifies a password field.
fn classify(field: &str) -> RootPassword {
    if field.is_empty() {
        RootPassword::None
    } else if is_locked(field) {
        RootPassword::Locked
    } else {
        RootPassword::Hash(field.to_owned())
    }
}

/// Parses the text of `/etc/shadow` or `/etc/master.passwd` (both have the
/// login name and the password hash as their first two colon-separated
/// fields) and returns root's classified password field.
///
/// The first line whose first field is exactly `root` and which has a second
/// field wins, like `getpwnam(3)`. Comment lines (`#...`), blank lines and
/// other users are skipped; a `root` line without any `:` is malformed and
/// skipped. Returns `None` if there is no usable root line.
pub fn root_password_from_text(text: &str) -> Option<RootPassword> {
    text.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        if fields.next()? != "root" {
            return None;
        }
        fields.next().map(classify)
    })
}

/// Reads `path` (see [`default_db_path`]) and returns root's classified
/// password field. Invalid UTF-8 elsewhere in the file is tolerated.
pub fn root_password(path: &Path) -> Result<RootPassword, PasswdError> {
    let mut bytes = std::fs::read(path).map_err(|source| PasswdError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let found = root_password_from_text(&String::from_utf8_lossy(&bytes));
    // The file holds every user's hash; do not leave it lying around.
    wipe_vec(&mut bytes);
    found.ok_or_else(|| PasswdError::NoRootEntry {
        path: path.to_path_buf(),
    })
}

/// The scheme prefix of a hash for error messages: `$id$` for modular crypt
/// formats, otherwise a fixed description. Never returns hash material.
fn scheme_of(hash: &str) -> String {
    if hash.is_empty() {
        return "empty".to_owned();
    }
    if let Some(rest) = hash.strip_prefix('$') {
        if let Some(end) = rest.find('$') {
            let id = &rest[..end];
            if !id.is_empty() && id.len() <= 8 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return format!("${id}$");
            }
        }
        return "unknown $-format".to_owned();
    }
    if hash.starts_with('_') {
        return "bsdi-des".to_owned();
    }
    if is_locked(hash) {
        return "locked".to_owned();
    }
    "des".to_owned()
}

/// The error for a hash `crypt(3)` cannot use.
fn crypt_error(hash: &str) -> PasswdError {
    PasswdError::Crypt {
        scheme: scheme_of(hash),
    }
}

/// Calls `crypt(3)` under [`CRYPT_LOCK`] and copies the result out of
/// libcrypt's static buffer. `None` if it returned NULL.
fn crypt_owned(key: &CStr, setting: &CStr) -> Option<Vec<u8>> {
    let _guard = CRYPT_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    // SAFETY: `key` and `setting` are valid NUL-terminated C strings that
    // outlive the call; `crypt` only reads them. The lock above guarantees no
    // other thread of ours calls `crypt` concurrently (it is not reentrant).
    let out = unsafe { crypt(key.as_ptr(), setting.as_ptr()) };
    if out.is_null() {
        return None;
    }
    // SAFETY: a non-NULL result of `crypt` points to a NUL-terminated string
    // in libcrypt's static storage, valid until the next `crypt` call, which
    // the still-held lock excludes while we copy it.
    let computed = unsafe { CStr::from_ptr(out) }.to_bytes().to_vec();
    Some(computed)
}

/// Constant-time equality of two byte strings (time depends only on the
/// lengths, which are public for a given hash scheme).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Overwrites `buf` with zeros in a way the optimiser may not elide.
fn wipe(buf: &mut [u8]) {
    for byte in buf.iter_mut() {
        // SAFETY: `byte` is a valid, aligned, exclusive reference to a `u8`.
        unsafe { std::ptr::write_volatile(byte, 0) };
    }
    compiler_fence(Ordering::SeqCst);
}

/// Zeroes a vector's whole allocation (also bytes past its length, e.g.
/// left there by `truncate`) without reallocating, then empties it.
fn wipe_vec(buf: &mut Vec<u8>) {
    let capacity = buf.capacity();
    buf.resize(capacity, 0);
    wipe(buf);
    buf.clear();
}

/// Checks `password` against a stored `crypt(3)` hash.
///
/// * `Ok(true)`: `crypt(password, hash)` reproduces `hash` (compared in
///   constant time).
/// * `Ok(false)`: it does not; also for a locked hash (`*...`, `!...`,
///   `crypt` is not called) and for a password containing a NUL byte (no C
///   string can carry it, so it cannot be root's password).
/// * `Err(PasswdError::Crypt)`: the hash is empty, contains a NUL byte, or
///   `crypt(3)` returned NULL or a failure token (`*0`, `*1`), e.g. for an
///   unsupported scheme. Never a match.
pub fn verify(password: &[u8], hash: &str) -> Result<bool, PasswdError> {
    if is_locked(hash) {
        return Ok(false);
    }
    if hash.is_empty() {
        return Err(crypt_error(hash));
    }
    let setting = CString::new(hash).map_err(|_| crypt_error(hash))?;
    if password.contains(&0) {
        return Ok(false);
    }
    let mut key = Vec::with_capacity(password.len() + 1);
    key.extend_from_slice(password);
    key.push(0);
    let computed = match CStr::from_bytes_with_nul(&key) {
        Ok(key_c) => crypt_owned(key_c, &setting),
        // Unreachable: NUL bytes were rejected above; treat as no result.
        Err(_) => None,
    };
    wipe_vec(&mut key);
    let Some(mut computed) = computed else {
        return Err(crypt_error(hash));
    };
    let result = if computed.first() == Some(&b'*') {
        Err(crypt_error(hash))
    } else {
        Ok(constant_time_eq(&computed, hash.as_bytes()))
    };
    wipe_vec(&mut computed);
    result
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
    use std::io::Cursor;

    /// Hashes `password` with `setting` through the same FFI.
    fn make_hash(password: &str, setting: &str) -> String {
        let key = CString::new(password).unwrap();
        let setting = CString::new(setting).unwrap();
        let out = crypt_owned(&key, &setting).expect("crypt returned NULL");
        let out = String::from_utf8(out).unwrap();
        assert!(!out.starts_with('*'), "crypt failed for {setting:?}: {out}");
        out
    }

    fn check_scheme(setting: &str, prefix: &str) {
        let hash = make_hash("correct horse", setting);
        assert!(hash.starts_with(prefix), "{hash}");
        assert!(hash.len() > setting.len());
        assert!(verify(b"correct horse", &hash).unwrap());
        assert!(!verify(b"correct horsf", &hash).unwrap());
        assert!(!verify(b"", &hash).unwrap());
        assert!(!verify(b"correct horse\n", &hash).unwrap());
    }

    #[test]
    fn sha512_crypt() {
        check_scheme("$6$saltsalt$", "$6$saltsalt$");
    }

    #[test]
    fn sha512_crypt_fixture() {
        // Python 3.11 `crypt.crypt("secret", "$6$saltsalt$")`.
        let hash = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
        assert!(verify(b"secret", hash).unwrap());
        assert!(!verify(b"Secret", hash).unwrap());
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn yescrypt() {
        check_scheme("$y$j9T$saltsaltsaltsalt$", "$y$j9T$saltsaltsaltsalt$");
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn yescrypt_fixture() {
        // Python 3.11 `crypt.crypt("secret", "$y$j9T$saltsaltsaltsalt$")`.
        let hash = "$y$j9T$saltsaltsaltsalt$.Zt5W26jjocuW0wIHGgB6AJelofw6GEpOypHGyow2y5";
        assert!(verify(b"secret", hash).unwrap());
        assert!(!verify(b"secreT", hash).unwrap());
    }

    #[test]
    fn bcrypt() {
        check_scheme(
            "$2b$05$abcdefghijklmnopqrstuu",
            "$2b$05$abcdefghijklmnopqrstuu",
        );
    }

    #[test]
    fn bcrypt_fixture() {
        // Python 3.11 `crypt.crypt("secret", "$2b$05$abcdefghijklmnopqrstuu")`.
        let hash = "$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a";
        assert!(verify(b"secret", hash).unwrap());
        assert!(!verify(b"secret2", hash).unwrap());
    }

    #[test]
    fn malformed_hashes_never_match() {
        for hash in [
            "$6$",
            "$6$saltsalt$",
            "$6$saltsalt$short",
            "$y$",
            "$2b$05$",
            "$2b$99$abcdefghijklmnopqrstuu",
            "$unknown$xx$yy",
            "garbage",
            "x",
            "",
            "nul\0inside",
        ] {
            for password in [&b""[..], b"secret", b"garbage", b"x", b"$6$"] {
                match verify(password, hash) {
                    Ok(matched) => assert!(!matched, "{hash:?} matched {password:?}"),
                    Err(PasswdError::Crypt { scheme }) => {
                        assert!(!scheme.is_empty());
                        assert!(scheme.len() <= 16, "{scheme}");
                    }
                    Err(e) => panic!("unexpected error {e}"),
                }
            }
        }
        assert!(matches!(verify(b"x", ""), Err(PasswdError::Crypt { .. })));
    }

    #[test]
    fn crypt_error_does_not_leak_hash() {
        let hash = "$6$saltsalt$abc\0def";
        let err = verify(b"secret", hash).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("$6$"), "{text}");
        assert!(!text.contains("saltsalt"), "{text}");
        assert_eq!(scheme_of("$2b$05$abc"), "$2b$");
        assert_eq!(scheme_of("$y$j9T$abc"), "$y$");
        assert_eq!(scheme_of("abcdefghijklm"), "des");
        assert_eq!(scheme_of("$nodollar"), "unknown $-format");
    }

    #[test]
    fn locked_hashes_never_match() {
        for hash in [
            "*",
            "!",
            "!!",
            "*LOCKED*",
            "*LOCKED*$6$saltsalt$abc",
            "!$6$saltsalt$abc",
        ] {
            assert!(!verify(b"", hash).unwrap());
            assert!(!verify(b"secret", hash).unwrap());
            assert!(!verify(hash.as_bytes(), hash).unwrap());
        }
        // A real hash behind a `!` lock stays locked.
        let hash = make_hash("secret", "$6$saltsalt$");
        assert!(!verify(b"secret", &format!("!{hash}")).unwrap());
        assert!(!verify(b"secret", &format!("*LOCKED*{hash}")).unwrap());
    }

    #[test]
    fn nul_in_password_is_no_match() {
        let hash = make_hash("secret", "$6$saltsalt$");
        assert!(!verify(b"secret\0", &hash).unwrap());
        assert!(!verify(b"sec\0ret", &hash).unwrap());
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn wipe_vec_zeroes_allocation() {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(b"password");
        v.truncate(3);
        wipe_vec(&mut v);
        assert!(v.is_empty());
        assert!(v.capacity() >= 16);
        let cap = v.capacity();
        // SAFETY: wipe_vec initialised every byte of the allocation (to
        // zero) before clearing, and `cap` is the allocation's capacity.
        unsafe { v.set_len(cap) };
        assert!(v.iter().all(|&b| b == 0), "{v:?}");
    }

    #[test]
    fn parse_shadow() {
        let text = "daemon:*:19000:0:99999:7:::\n\
                    root:$y$j9T$abc$def:19000:0:99999:7:::\n\
                    bin:*:19000:0:99999:7:::\n";
        assert_eq!(
            root_password_from_text(text),
            Some(RootPassword::Hash("$y$j9T$abc$def".to_owned()))
        );
    }

    #[test]
    fn parse_master_passwd() {
        let text = "# $FreeBSD$\n\
                    #\n\
                    root:$6$saltsalt$xyz:0:0::0:0:Charlie &:/root:/bin/sh\n\
                    toor:*:0:0::0:0:Bourne-again Superuser:/root:\n\
                    daemon:*:1:1::0:0:Owner of many system processes:/root:/usr/sbin/nologin\n";
        assert_eq!(
            root_password_from_text(text),
            Some(RootPassword::Hash("$6$saltsalt$xyz".to_owned()))
        );
    }

    #[test]
    fn parse_empty_and_locked() {
        assert_eq!(
            root_password_from_text("root::0:0::0:0::/root:/bin/sh\n"),
            Some(RootPassword::None)
        );
        assert_eq!(root_password_from_text("root:"), Some(RootPassword::None));
        for field in [
            "*",
            "!",
            "!!",
            "*LOCKED*",
            "*LOCKED*$6$s$h",
            "!$6$s$h",
            "!*",
        ] {
            let text = format!("root:{field}:19000:0:99999:7:::\n");
            assert_eq!(
                root_password_from_text(&text),
                Some(RootPassword::Locked),
                "{field}"
            );
        }
    }

    #[test]
    fn parse_missing_or_odd_root() {
        assert_eq!(root_password_from_text(""), None);
        assert_eq!(
            root_password_from_text("daemon:*:1:1::0:0::/:/sbin/nologin\n"),
            None
        );
        assert_eq!(
            root_password_from_text("rootx:$6$a$b:0\nxroot:$6$a$b:0\n"),
            None
        );
        assert_eq!(root_password_from_text("#root:$6$a$b:0\n"), None);
        assert_eq!(root_password_from_text("root\n"), None);
        // First usable root line wins; a malformed one is skipped.
        assert_eq!(
            root_password_from_text("root\nroot:$6$a$b:0\nroot::0\n"),
            Some(RootPassword::Hash("$6$a$b".to_owned()))
        );
        // CRLF files.
        assert_eq!(
            root_password_from_text("root:$6$a$b\r\n"),
            Some(RootPassword::Hash("$6$a$b".to_owned()))
        );
    }

    #[test]
    fn root_password_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        match root_password(&missing) {
            Err(PasswdError::Read { path, source }) => {
                assert_eq!(path, missing);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }

        let no_root = dir.path().join("no_root");
        std::fs::write(&no_root, "daemon:*:1\n").unwrap();
        match root_password(&no_root) {
            Err(PasswdError::NoRootEntry { path }) => assert_eq!(path, no_root),
            other => panic!("{other:?}"),
        }

        let good = dir.path().join("good");
        std::fs::write(&good, b"bad\xffutf8:x\nroot:$6$a$b:0\n").unwrap();
        assert_eq!(
            root_password(&good).unwrap(),
            RootPassword::Hash("$6$a$b".to_owned())
        );

        let err = root_password(&missing).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn default_path_matches_platform() {
        #[cfg(target_os = "linux")]
        assert_eq!(default_db_path(), Path::new("/etc/shadow"));
        #[cfg(target_os = "freebsd")]
        assert_eq!(default_db_path(), Path::new("/etc/master.passwd"));
    }

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

    #[test]
    fn crypt_is_serialised_across_threads() {
        let hash = make_hash("secret", "$6$saltsalt$");
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let hash = hash.clone();
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        assert!(verify(b"secret", &hash).unwrap());
                        assert!(!verify(format!("wrong{i}").as_bytes(), &hash).unwrap());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}
