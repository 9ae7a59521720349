//! The Linux runtime kenv store (`config::parse_store`, `render_store`, `lookup`,
//! `effective`): never panics; what is read, written back and read again is the same store
//! and the same effective map. The input is the store, then a NUL, then a command line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reinit::config;

fuzz_target!(|data: &[u8]| {
    let (store, cmdline) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let store = String::from_utf8_lossy(store);
    let cmdline = config::parse_cmdline(&String::from_utf8_lossy(cmdline));
    let entries = config::parse_store(&store);
    let map = config::effective(&entries, &cmdline);
    for (k, v) in &map {
        assert_eq!(config::lookup(&entries, &cmdline, k).as_ref(), Some(v));
    }
    let written = config::render_store(&entries);
    let again = config::parse_store(&written);
    assert_eq!(again, entries, "written:\n{written:?}");
    assert_eq!(config::effective(&again, &cmdline), map);
});
