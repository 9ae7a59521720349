//! Root password check for single-user mode, as FreeBSD `init(8)` does it.
//!
//! * This file: find root's password field in the platform's database
//!   ([`default_db_path`], [`root_password`], [`root_password_from_text`]).
//! * `crypt`: [`verify`] a typed password against a `crypt(3)` hash.
//! * `prompt`: the `Password:` loop ([`ask_root_password`]) and its run on
//!   the console with echo off ([`ask_on_console`]).
//!
//! The caller decides whether to ask at all (it reads `/etc/ttys`). A locked
//! root ([`RootPassword::Locked`]) is never unlocked by any password; a
//! missing database or root line is an error for the caller to log.
//!
//! Design: docs/passwd.md

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{compiler_fence, Ordering};

mod crypt;
mod prompt;

pub use crypt::verify;
pub use prompt::{ask_on_console, ask_root_password, Outcome, FAILURE_DELAY, MAX_PASSWORD_LINE};

/// Root's password field, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootPassword {
    /// The field is empty: root has no password and no prompt is shown.
    None,
    /// The field starts with `*` or `!` (e.g. `*`, `!`, `!!`, `!$6$...`,
    /// `*LOCKED*$6$...`): no password is accepted. See docs/passwd.md.
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

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
}
