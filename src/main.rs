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
