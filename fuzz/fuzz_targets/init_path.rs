//! `init_path` (`newroot::parse_init_path`, `settings::init_path`): never panics; the
//! absolute entries joined again parse to themselves; the reader reports one problem per
//! relative entry, and one more when no entry is absolute.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use reinit::{newroot, settings};

fuzz_target!(|data: &[u8]| {
    let list = String::from_utf8_lossy(data).into_owned();
    let (good, bad) = newroot::parse_init_path(&list);
    for g in &good {
        let s = g.to_str().unwrap_or_default();
        assert!(s.starts_with('/') && !s.contains(':'));
    }
    for b in &bad {
        assert!(!b.is_empty() && !b.starts_with('/') && !b.contains(':'));
    }
    let joined: Vec<&str> = good.iter().filter_map(|p| p.to_str()).collect();
    assert_eq!(
        newroot::parse_init_path(&joined.join(":")),
        (good.clone(), Vec::<String>::new())
    );

    let c = settings::init_path(|_| Some(list.clone()), newroot::DEFAULT_INIT_PATH);
    assert_eq!(c.value.search, good);
    assert_eq!(c.problems.len(), bad.len() + usize::from(good.is_empty()));
    for p in &c.problems {
        let _ = p.to_string();
    }
    // Unset: the default applies, whatever it is.
    let d = settings::init_path(|_| None, &list);
    assert_eq!(d.value.search, good);
    let _: Vec<PathBuf> = d.value.search;
});
