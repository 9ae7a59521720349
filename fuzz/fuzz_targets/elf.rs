//! The ELF reader of `reinit carry` and of the new-root checks (`carry::parse_object`:
//! class, machine, PT_INTERP, DT_NEEDED, DT_RPATH, DT_RUNPATH; `carry::has_handoff_note`,
//! which PID 1 runs on the init it is about to exec; `newroot::shebang`). Never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reinit::{carry, newroot};

fuzz_target!(|data: &[u8]| {
    if let Ok(o) = carry::parse_object(data) {
        for d in o.rpath.iter().chain(&o.runpath) {
            assert!(!d.is_empty() && !d.contains(':'));
        }
    }
    let _ = carry::has_handoff_note(data);
    match newroot::shebang(data) {
        Some(Some(i)) => assert!(!i.is_empty() && data.starts_with(b"#!")),
        Some(None) => assert!(data.starts_with(b"#!")),
        None => assert!(!data.starts_with(b"#!")),
    }
});
