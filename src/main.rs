//! The `reinit` binary: PID 1 when the kernel starts it, the `init`/`reinit` client otherwise.

use std::process::ExitCode;

use reinit::config::Paths;
use reinit::machine::{Flags, Init};

fn main() -> ExitCode {
    // Bytes, not String: the kernel hands init every unknown word of its command line, and
    // std::env::args() panics on one that is not UTF-8.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if std::process::id() == 1 {
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        pid1(&args)
    }
    reinit::client::main(&args)
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
