//! `vfs.root.mountfrom` and `vfs.root.mountfrom.options` (`newroot::parse_mountfrom`,
//! `config::MountOptions`, `settings::mountfrom`): never panic; the alternatives printed
//! (`fstype:device`, space-separated) parse to the same sources; the options other than
//! ro/rw printed and parsed again are the same. The input is the value, a NUL, the options.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reinit::config::{keys, MountOptions};
use reinit::{newroot, settings};

fuzz_target!(|data: &[u8]| {
    let (value, options) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let value = String::from_utf8_lossy(value).into_owned();
    let options = String::from_utf8_lossy(options).into_owned();

    match newroot::parse_mountfrom(&value) {
        Ok(sources) => {
            assert!(!sources.is_empty());
            for s in &sources {
                assert!(!s.fstype.is_empty() && !s.device.is_empty());
                assert!(!s.fstype.contains(':'));
                let _ = s.device_node();
            }
            let printed: Vec<String> = sources.iter().map(ToString::to_string).collect();
            assert_eq!(newroot::parse_mountfrom(&printed.join(" ")), Ok(sources));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }

    let o = MountOptions::parse(&options);
    assert!(o
        .rest
        .iter()
        .all(|r| !r.is_empty() && r != "ro" && r != "rw"));
    let again = MountOptions::parse(&o.others());
    assert_eq!((again.read_only, &again.rest), (None, &o.rest));

    let kenv = |k: &str| match k {
        keys::MOUNTFROM => Some(value.clone()),
        keys::MOUNTFROM_OPTIONS => Some(options.clone()),
        _ => None,
    };
    if let Some(Ok(m)) = settings::mountfrom(kenv) {
        assert_eq!(m.options, o.others());
        assert_eq!(m.read_only, o.read_only != Some(false));
    }
});
