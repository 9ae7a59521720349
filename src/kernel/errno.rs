//! The seam's own error number: what a failed call of [`super::Kernel`] carries.
//!
//! The state machine and the tests name errnos through this type, never through nix's; the
//! real kernels convert nix's at the call ([`From`]), and every `io::Error` becomes one here,
//! in one place ([`Errno::from`] on `&io::Error`). The text is nix's, `EINVAL: Invalid
//! argument`: logs, tests and the VM scenarios look for it.

use std::fmt;
use std::io;

/// An errno value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(i32);

/// The errnos reinit names, each a constant of [`Errno`] with libc's value.
macro_rules! errnos {
    ($($name:ident),* $(,)?) => {
        impl Errno {
            $(
                #[doc = concat!("`", stringify!($name), "`.")]
                pub const $name: Errno = Errno(libc::$name);
            )*
        }
    };
}

errnos!(
    EPERM, ENOENT, ESRCH, EINTR, EIO, ENXIO, ENOEXEC, ECHILD, EAGAIN, ENOMEM, EACCES, EFAULT,
    EBUSY, ENOTDIR, EINVAL, ENOTTY, ENOSPC, ETIMEDOUT, ENODEV, EEXIST, EROFS,
);

impl Errno {
    /// The errno with this number.
    #[must_use]
    pub const fn from_raw(n: i32) -> Errno {
        Errno(n)
    }

    /// Its number.
    #[must_use]
    pub const fn raw(self) -> i32 {
        self.0
    }

    fn nix(self) -> nix::errno::Errno {
        nix::errno::Errno::from_raw(self.0)
    }
}

impl From<nix::errno::Errno> for Errno {
    fn from(e: nix::errno::Errno) -> Errno {
        Errno(e as i32)
    }
}

/// The one conversion of an I/O error: its OS error, or EIO when it has none (an error std
/// made up, such as a short write).
impl From<&io::Error> for Errno {
    fn from(e: &io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.nix(), f)
    }
}

/// `EINVAL: Invalid argument`.
impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.nix(), f)
    }
}

impl std::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_name_and_description() {
        assert_eq!(Errno::EINVAL.to_string(), "EINVAL: Invalid argument");
        assert_eq!(
            Errno::ETIMEDOUT.to_string(),
            "ETIMEDOUT: Connection timed out"
        );
        assert_eq!(format!("{:?}", Errno::ESRCH), "ESRCH");
        assert_eq!(Errno::from(nix::errno::Errno::EBUSY), Errno::EBUSY);
    }

    #[test]
    fn an_io_error_keeps_its_errno_or_is_eio() {
        let os = io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(Errno::from(&os), Errno::ENOSPC);
        let made_up = io::Error::new(io::ErrorKind::WriteZero, "short write");
        assert_eq!(Errno::from(&made_up), Errno::EIO);
    }
}
