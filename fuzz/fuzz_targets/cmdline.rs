//! The Linux kernel command line as kenv (`config::parse_cmdline`, `split_quoted`, `lookup`,
//! `effective`): never panics; the pairs written back as `key="value"` parse to the same
//! pairs; `effective` is sorted, unique and agrees with `lookup`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reinit::config;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for comment in [false, true] {
        let q = config::split_quoted(&text, comment);
        assert!(q.words.iter().all(|w| !w.contains('"')));
    }
    let pairs = config::parse_cmdline(&text);
    for (k, v) in &pairs {
        assert!(!k.is_empty() && !k.contains('=') && !k.contains('"') && !v.contains('"'));
    }
    // Quoted again: the same pairs, as long as no key holds a blank (one can only come
    // from a quoted key, which nothing writes).
    if pairs
        .iter()
        .all(|(k, _)| !k.chars().any(char::is_whitespace))
    {
        let back: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        assert_eq!(config::parse_cmdline(&back.join(" ")), pairs);
    }
    let eff = config::effective(&[], &pairs);
    assert!(eff.windows(2).all(|w| w[0].0 < w[1].0), "sorted, unique");
    for (k, v) in &eff {
        assert_eq!(config::lookup(&[], &pairs, k).as_ref(), Some(v));
    }
});
