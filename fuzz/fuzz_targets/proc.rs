//! The Linux /proc readers: `stat` (name, kernel thread, zombie), `status` (Uid), `cmdline`
//! (with `carry::run_program`), `maps` (the executable's device, a mapping on a device) and
//! `fdinfo` (mnt_id). Never panic. The first byte chooses the file; the rest is its text
//! (for `maps`, the first line is the executable's path or the device).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use reinit::carry;
use reinit::kernel::{linux, linux_switch};

fuzz_target!(|data: &[u8]| {
    let Some((which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match which % 5 {
        0 => {
            if let Some(s) = linux::stat_entry(&text) {
                let open = text.find('(').unwrap_or_default();
                let close = text.rfind(')').unwrap_or_default();
                assert_eq!(text.get(open + 1..close), Some(s.name.as_str()));
            }
        }
        1 => {
            if linux::parse_uid(&text).is_some() {
                assert!(text.contains("Uid:"));
            }
        }
        2 => {
            let args = linux::cmdline_args(rest);
            assert_eq!(args.join("\0"), text);
            for exe in [
                None,
                Some(Path::new("/lib64/ld-linux-x86-64.so.2")),
                Some(Path::new("/usr/sbin/sshd")),
            ] {
                let (program, argv0) = carry::run_program(exe, &args);
                if program.is_some() {
                    assert!(argv0.is_some());
                }
            }
        }
        3 => {
            let (first, maps) = text.split_once('\n').unwrap_or((&text, ""));
            let _ = linux::maps_dev(maps.as_bytes(), Path::new(first));
            if let Some(file) = linux_switch::maps_file_on(maps, first) {
                assert!(!file.is_empty());
            }
        }
        _ => {
            let _ = linux_switch::fdinfo_mnt_id(&text);
        }
    }
});
