//! `/proc/self/mountinfo` with its octal escapes (`linux_switch::parse_mountinfo`,
//! `mount_of`, `root_of`): never panics; every mount read, written back as the kernel writes
//! it (space, tab, newline, backslash and `#` as `\ooo`; read-only, fstype and source
//! included), parses to the same mount.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use reinit::kernel::linux_switch::{self, MountInfo};

/// The kernel's `mangle()`: these bytes of a path as three octal digits after a backslash.
fn escape(p: &Path) -> String {
    let mut out = String::new();
    for c in p.to_str().unwrap_or_default().chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' | '#' => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn line(m: &MountInfo) -> String {
    format!(
        "{} {} {}:{} {} {} {},relatime shared:1 - {} {} rw\n",
        m.id,
        m.parent,
        libc::major(m.dev),
        libc::minor(m.dev),
        escape(&m.root),
        escape(&m.mount_point),
        if m.read_only { "ro" } else { "rw" },
        m.fstype,
        escape(Path::new(&m.source))
    )
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mounts = linux_switch::parse_mountinfo(&text);
    for m in &mounts {
        assert!(m.root.to_str().is_some() && m.mount_point.to_str().is_some());
        let back = linux_switch::parse_mountinfo(&line(m));
        assert_eq!(back.as_slice(), std::slice::from_ref(m), "{:?}", line(m));
        if let Some(on) = linux_switch::mount_of(&m.mount_point, &mounts) {
            assert!(m.mount_point.starts_with(&on.mount_point));
        }
    }
    let _ = linux_switch::mount_of(Path::new("/"), &mounts);
    let _ = linux_switch::root_of(&mounts);
});
