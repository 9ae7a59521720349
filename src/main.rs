//! The `reinit` binary: PID 1 when the kernel starts it, the `init`/`reinit` client otherwise.
//!
//! The entry point is C's `main`, not Rust's: the Rust runtime's start-up, before `main`,
//! aborts the process when descriptors 0–2 are closed and /dev/null cannot be opened — which
//! is how the kernel starts init when it could not open an initial console and the root (an
//! initramfs, say) has no /dev/null yet. PID 1 aborting panics the kernel. Here PID 1 puts
//! its descriptors in order itself, and nothing runs before that.
#![no_main]

use std::ffi::{c_char, c_int, CStr, OsString};
use std::os::unix::ffi::OsStringExt;

use reinit::config::Paths;
use reinit::machine::{Flags, Init};

/// FreeBSD's ABI tag note, in this program's own object. A static FreeBSD build links with
/// lld and `--gc-sections`, which collects crt1.o's `.note.tag` (it sits in a COMDAT group),
/// and the kernel then gives the process a `p_osrel` of 0. This note is in no group and is
/// marked retained (`#[used]`), so it stays. Its version is the userland's
/// `__FreeBSD_version` at build time, `uname -U`, which `make` passes as
/// `REINIT_FREEBSD_VERSION`.
#[cfg(all(target_os = "freebsd", target_feature = "crt-static"))]
#[used]
#[link_section = ".note.tag"]
static FREEBSD_ABI_TAG: AbiTag = AbiTag {
    namesz: 8,
    descsz: 4,
    kind: 1, // NT_FREEBSD_ABI_TAG
    name: *b"FreeBSD\0",
    desc: freebsd_version(),
};

/// reinit's hand-off note: a PID 1 about to exec a program that carries it (the new root's
/// init, kenv `init_exec`) keeps its requests blocked and pending across the exec, since
/// this program installs its handlers before it unblocks them (see `reinit::carry::is_reinit`).
#[used]
#[link_section = ".note.reinit"]
static REINIT_HANDOFF: AbiTag = AbiTag {
    namesz: 7,
    descsz: 4,
    kind: reinit::carry::NT_REINIT_HANDOFF,
    name: *b"reinit\0\0",
    desc: reinit::carry::HANDOFF_VERSION,
};

/// An ELF note with an 8-byte name field and a 4-byte description, laid out as the kernel
/// reads it.
#[repr(C, align(4))]
struct AbiTag {
    namesz: u32,
    descsz: u32,
    kind: u32,
    name: [u8; 8],
    desc: u32,
}

/// `REINIT_FREEBSD_VERSION` as a number, at compile time.
#[cfg(all(target_os = "freebsd", target_feature = "crt-static"))]
#[allow(clippy::panic)] // Evaluated while compiling: a bad value is a compile error.
const fn freebsd_version() -> u32 {
    let Some(v) = option_env!("REINIT_FREEBSD_VERSION") else {
        panic!("set REINIT_FREEBSD_VERSION to `uname -U` (make does) for a static FreeBSD build")
    };
    let b = v.as_bytes();
    let mut n: u32 = 0;
    let mut i = 0;
    while i < b.len() {
        assert!(
            b[i].is_ascii_digit(),
            "REINIT_FREEBSD_VERSION is not a number"
        );
        n = n * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    assert!(n >= 1_200_000, "REINIT_FREEBSD_VERSION is below FreeBSD 12");
    n
}

/// The process entry point (see the module documentation).
#[no_mangle]
pub extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    // Bytes, not String: the kernel hands init every unknown word of its command line,
    // whatever bytes it holds.
    let args = arguments(argc, argv);
    if std::process::id() == 1 {
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        pid1(&args)
    }
    c_int::from(reinit::client::main(&args))
}

/// argv\[1..\] as the kernel passed it.
fn arguments(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
    let n = usize::try_from(argc).unwrap_or(0);
    if argv.is_null() {
        return Vec::new();
    }
    (1..n)
        .filter_map(|i| {
            // SAFETY: the C runtime passes `argc` valid pointers in `argv`.
            let p = unsafe { *argv.add(i) };
            // SAFETY: each non-null entry is a NUL-terminated string that lives as long as
            // the process.
            (!p.is_null())
                .then(|| OsString::from_vec(unsafe { CStr::from_ptr(p) }.to_bytes().to_vec()))
        })
        .collect()
}

/// PID 1. Never returns.
fn pid1(args: &[String]) -> ! {
    // Before anything else: nothing that arrives during start-up may be lost.
    reinit::kernel::unix::block_all_but_faults();
    reinit::kernel::unix::reset_dispositions();
    reinit::kernel::unix::sanitize_fds();
    let paths = Paths::default();
    let sink = reinit::log::Sink::open_as_stdio(&paths.console, &paths.init_log);
    reinit::log::init_pid1(sink);
    reinit::log::install_panic_hook();
    let (flags, warnings) = Flags::parse(args);
    for w in warnings {
        tracing::warn!("{w}");
    }
    let kernel = loop {
        match platform_kernel(&paths) {
            Ok(k) => break k,
            Err(e) => {
                tracing::error!("cannot set up signal handling: {e}; retrying");
                std::thread::sleep(reinit::config::STALL_TIMEOUT);
            }
        }
    };
    Init::new(kernel, paths).run(flags)
}

#[cfg(target_os = "linux")]
fn platform_kernel(paths: &Paths) -> std::io::Result<reinit::kernel::linux::LinuxKernel> {
    reinit::kernel::linux::LinuxKernel::new(paths)
}

#[cfg(target_os = "freebsd")]
fn platform_kernel(paths: &Paths) -> std::io::Result<reinit::kernel::freebsd::FreeBsdKernel> {
    reinit::kernel::freebsd::FreeBsdKernel::new(paths)
}
