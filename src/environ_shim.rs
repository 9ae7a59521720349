//! A `dlsym` that answers the one lookup Rust's std needs in a statically linked FreeBSD
//! program.
//!
//! Rust's std (1.96) finds `environ` on FreeBSD with `dlsym(RTLD_DEFAULT, "environ")`. In a
//! static program libc's `dlsym` is a stub that answers NULL, and the child side of
//! `Command::spawn` then dereferences it: every child PID 1 starts (rc, the hook, shells)
//! dies with SIGSEGV before its exec. Upstream: rust-lang/rust#158939, fixed by
//! rust-lang/rust#159112; remove this module once the toolchain carries that fix.
//!
//! The strong `dlsym` below is compiled only into static FreeBSD builds, and into the unit
//! tests of static Linux builds, whose static glibc answers the same NULL: there its
//! contract is tested.

use std::ffi::{c_char, c_void, CStr};

extern "C" {
    /// The process environment (POSIX).
    static mut environ: *const *const c_char;
}

/// What the shim answers: `&environ` for `"environ"`, NULL for anything else.
///
/// # Safety
/// `symbol` is NULL or a NUL-terminated string, as dlsym(3) requires.
#[must_use]
pub unsafe fn lookup(symbol: *const c_char) -> *mut c_void {
    if symbol.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: the caller passes a NUL-terminated symbol name (see above).
    if unsafe { CStr::from_ptr(symbol) }.to_bytes() == b"environ" {
        (&raw mut environ).cast::<c_void>()
    } else {
        std::ptr::null_mut()
    }
}

/// dlsym(3) for a static program (see the module documentation).
///
/// # Safety
/// `symbol` is NULL or a NUL-terminated string, as dlsym(3) requires.
#[cfg(all(
    target_feature = "crt-static",
    any(target_os = "freebsd", all(test, target_os = "linux"))
))]
#[no_mangle]
pub unsafe extern "C" fn dlsym(_handle: *mut c_void, symbol: *const c_char) -> *mut c_void {
    // SAFETY: the caller's contract is dlsym(3)'s (see above).
    unsafe { lookup(symbol) }
}

#[cfg(all(test, target_os = "linux", target_feature = "crt-static"))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// What std does to find the environment: in a static program it gets `&environ`
    /// (without the shim, static libc's dlsym answers NULL).
    #[test]
    fn dlsym_finds_environ_in_a_static_program() {
        // SAFETY: dlsym with a NUL-terminated name.
        let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"environ".as_ptr()) };
        assert_eq!(p, (&raw mut environ).cast::<c_void>());
        assert!(!p.is_null());
        // SAFETY: as above.
        let other = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"printf".as_ptr()) };
        assert!(other.is_null());
        // SAFETY: NULL is allowed.
        assert!(unsafe { lookup(std::ptr::null()) }.is_null());
        // And a child still gets its environment: the path std takes in spawn.
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", "echo $REINIT_SHIM"])
            .env("REINIT_SHIM", "ok")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    }
}
