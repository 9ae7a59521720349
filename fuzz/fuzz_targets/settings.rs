//! Every kenv Settings reader (`settings::Settings::read` and the per-key readers, with
//! `config::parse_seconds`, `parse_shutdown_timeout`, `parse_abs_path`, `check_name`): never
//! panic; each problem names a key reinit reads and the value it read; the per-key readers
//! give what `Settings::read` gives; values in effect respect their bounds. The input is a
//! kenv store text (`key=value` lines).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use reinit::config::{self, keys};
use reinit::settings::{self, Settings};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let store = config::parse_store(&text);
    let kenv = |k: &str| config::lookup(&store, &[], k);

    let (s, problems) = Settings::read(kenv);
    for p in &problems {
        assert!(keys::ALL.contains(&p.key), "{}", p.key);
        assert_eq!(kenv(p.key).as_ref(), Some(&p.value));
        let _ = p.to_string();
    }
    for k in keys::ALL {
        let _ = s.shown(k);
    }
    let max = Duration::from_secs(config::MAX_SECONDS);
    assert!(s.hook_timeout <= max && s.mountroot_timeout <= max);
    if let Some(t) = s.shutdown_timeout {
        assert!(t >= Duration::from_secs(2) && t <= max);
    }
    for p in [
        &s.init_script,
        &s.init_chroot,
        &s.init_shell,
        &s.init_exec,
        &s.init_rc,
    ]
    .into_iter()
    .flatten()
    {
        assert!(p.is_absolute());
    }

    assert_eq!(settings::hook_timeout(kenv).value, s.hook_timeout);
    assert_eq!(settings::mountroot_timeout(kenv).value, s.mountroot_timeout);
    assert_eq!(settings::shutdown_timeout(kenv).value, s.shutdown_timeout);
    assert_eq!(settings::reroot_order(kenv).value, s.reroot_order);
    assert_eq!(settings::signals(kenv).value, s.signals);
    assert_eq!(settings::init_script(kenv).value, s.init_script);
    assert_eq!(settings::init_chroot(kenv).value, s.init_chroot);
    assert_eq!(settings::init_shell(kenv).value, s.init_shell);
    assert_eq!(settings::init_exec(kenv).value, s.init_exec);
    assert_eq!(settings::init_rc(kenv).value, s.init_rc);
    assert_eq!(settings::mountfrom(kenv), s.mountfrom);

    // The value parsers on every line's value, whatever its key.
    for e in &store {
        if let config::StoreEntry::Set(k, v) = e {
            if let Ok(d) = config::parse_seconds(k, v) {
                assert!(d <= max);
            }
            let _ = config::parse_shutdown_timeout(k, v).map_err(|e| e.to_string());
            let _ = config::parse_abs_path(k, v).map_err(|e| e.to_string());
            if config::check_name(k).is_ok() {
                assert!(!k.is_empty() && !k.contains('='));
            }
        }
    }
});
