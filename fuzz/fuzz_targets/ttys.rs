//! /etc/ttys (`ttys::parse_bytes`): never panics; every entry printed with `to_line` and
//! parsed again gives the same entries, with no error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reinit::ttys;

fuzz_target!(|data: &[u8]| {
    let (entries, errors) = ttys::parse_bytes(data);
    for e in &errors {
        let _ = e.to_string();
    }
    for (i, e) in entries.iter().enumerate() {
        assert!(!e.name.is_empty());
        assert!(
            entries[..i].iter().all(|x| x.name != e.name),
            "duplicate {}",
            e.name
        );
        let _ = e.device();
        let _ = e.wants_getty(|_| true, std::slice::from_ref(&e.name));
        if let Some(argv) = &e.getty {
            assert_eq!(argv.last(), Some(&e.name), "the name ends the getty's argv");
        }
    }
    let _ = ttys::console_is_secure(&entries);

    let text: String = entries.iter().map(|e| e.to_line() + "\n").collect();
    let (again, errs) = ttys::parse(&text);
    assert!(errs.is_empty(), "{errs:?} reading back\n{text}");
    assert_eq!(again.len(), entries.len(), "{text}");
    for (i, (a, e)) in again.iter().zip(&entries).enumerate() {
        let mut e = e.clone();
        e.line = i + 1;
        assert_eq!(*a, e, "line {} of\n{text}", i + 1);
    }
});
