//! The README and the manual page name every kenv key and signal the code reads.
#![allow(clippy::panic)]

use reinit::config::keys;
use reinit::kernel::Sig;

fn read(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The words of `want` that `doc` does not contain.
fn missing<'a>(doc: &str, want: &[&'a str]) -> Vec<&'a str> {
    want.iter().copied().filter(|w| !doc.contains(w)).collect()
}

/// Every name a user can meet: kenv keys, the signals PID 1 acts on (both reroot signals),
/// the hook's environment and phases, the client's commands.
fn names() -> Vec<String> {
    let mut v: Vec<String> = keys::ALL.iter().map(|k| (*k).to_owned()).collect();
    v.extend(
        Sig::ALL
            .iter()
            .filter(|s| **s != Sig::Chld)
            .map(ToString::to_string),
    );
    v.extend(
        [
            "SIGEMT",
            "SIGIO",
            "REROOT_DIR",
            "REROOT_PHASE",
            "prepare",
            "abort",
            "stop",
            "/etc/rc.reroot",
            "/dev/reroot",
            "reroot.state",
            "kern.init_shutdown_timeout",
            "kill-first",
            "transactional",
        ]
        .map(str::to_owned),
    );
    v
}

#[test]
fn readme_and_man_page_name_every_key_and_signal() {
    let names = names();
    let want: Vec<&str> = names.iter().map(String::as_str).collect();
    for doc in ["README.md", "reinit.8"] {
        let text = read(doc);
        assert_eq!(missing(&text, &want), Vec::<&str>::new(), "{doc}");
    }
}

#[test]
fn the_check_sees_a_missing_name() {
    // Negative control: a document without one key is caught.
    let names = names();
    let want: Vec<&str> = names.iter().map(String::as_str).collect();
    let text = read("reinit.8").replace("reinit.hook_timeout", "hook timeout");
    assert_eq!(missing(&text, &want), vec!["reinit.hook_timeout"]);
}
