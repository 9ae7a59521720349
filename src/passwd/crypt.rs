//! `crypt(3)` binding and password verification. Design: docs/passwd.md

use std::ffi::{c_char, CStr, CString};
use std::sync::{Mutex, PoisonError};

use super::{is_locked, wipe_vec, PasswdError};

// glibc Linux (libxcrypt), and static FreeBSD builds: link libcrypt. musl has crypt in libc.
#[cfg(any(not(target_os = "freebsd"), target_feature = "crt-static"))]
#[cfg_attr(not(target_env = "musl"), link(name = "crypt"))]
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
    #[cfg(target_os = "linux")]
    if hash.starts_with("$y$") {
        return verify_yescrypt(password, hash);
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

/// yescrypt (`$y$`) through the RustCrypto implementation: musl's crypt(3) has no yescrypt,
/// and one implementation for every Linux build keeps the check the same whatever the libc.
/// A wrong password is `Ok(false)`; a hash it cannot read (bad parameters, salt or encoding)
/// is the same error as crypt(3)'s for an unusable hash.
#[cfg(target_os = "linux")]
fn verify_yescrypt(password: &[u8], hash: &str) -> Result<bool, PasswdError> {
    use yescrypt::{password_hash::Error, PasswordVerifier, Yescrypt};
    match Yescrypt::default().verify_password(password, hash) {
        Ok(()) => Ok(true),
        Err(Error::PasswordInvalid) => Ok(false),
        Err(_) => Err(crypt_error(hash)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(super) mod tests {
    use super::*;

    /// Hashes `password` with `setting` through the same FFI.
    pub(in crate::passwd) fn make_hash(password: &str, setting: &str) -> String {
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

    /// The Rust yescrypt reads what libxcrypt writes, at the default cost (j9T, Debian's
    /// `YESCRYPT_COST_FACTOR` 5) and below, and at other salt lengths; and it refuses, without
    /// a panic, what it cannot read. (Higher costs are the same code with more rounds.)
    #[test]
    #[cfg(target_os = "linux")]
    fn yescrypt_reads_what_libxcrypt_writes() {
        for setting in [
            "$y$j7T$saltsaltsaltsalt$",
            "$y$j8T$12345678$",
            "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$",
            "$y$j9T$saltsaltsaltsaltsaltsalt$",
        ] {
            let hash = make_hash("pässwörd ok", setting);
            assert!(verify("pässwörd ok".as_bytes(), &hash).unwrap(), "{hash}");
            assert!(!verify(b"passwoerd ok", &hash).unwrap(), "{hash}");
        }
        for bad in [
            "$y$j9T$saltsaltsaltsalt$.Zt5W26jjocuW0wIHGgB6AJelofw6GEpOypHGyow2y5$extra",
            "$y$!!!$saltsaltsaltsalt$.Zt5W26jjocuW0wIHGgB6AJelofw6GEpOypHGyow2y5",
            "$y$j9T$sa!t$.Zt5W26jjocuW0wIHGgB6AJelofw6GEpOypHGyow2y5",
            "$y$j9T$saltsaltsaltsalt$.Zt5W26jjocuW0wIHGgB6AJelofw6GEpOypHGyow2y!",
            "$y$j9T$$",
            "$y$j9T$",
        ] {
            assert!(
                matches!(verify(b"secret", bad), Err(PasswdError::Crypt { .. })),
                "{bad}: {:?}",
                verify(b"secret", bad)
            );
        }
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
