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

// ---- docs/security.md cites only tests that exist --------------------------------------

/// The functions marked `#[test]` in a Rust source text.
fn test_fns(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut marked = false;
    for line in text.lines().map(str::trim_start) {
        if line.starts_with("#[test]") {
            marked = true;
        } else if line.starts_with("#[") || line.starts_with("//") || line.is_empty() {
        } else if let Some(rest) = line.strip_prefix("fn ") {
            if marked {
                found.push(rest.split('(').next().unwrap_or_default().to_owned());
            }
            marked = false;
        } else {
            marked = false;
        }
    }
    found
}

/// The scenario names of `tests/vm/test.sh` (the first field of each `"name|…"` line).
fn vm_scenarios(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_start)
        .filter_map(|l| {
            l.strip_prefix('"')?
                .split_once('|')
                .map(|(n, _)| n.to_owned())
        })
        .collect()
}

/// The file that holds the module `mods` under `base` (`a/b.rs`, `a/b/mod.rs`, or the
/// nearest enclosing file when the last modules are inline, e.g. `mod tests`).
fn module_file(base: &str, mods: &[&str]) -> Option<String> {
    for k in (0..=mods.len()).rev() {
        let stem = mods[..k].join("/");
        let candidates = if k == 0 {
            vec!["lib.rs".to_owned(), "main.rs".to_owned()]
        } else {
            vec![format!("{stem}.rs"), format!("{stem}/mod.rs")]
        };
        for c in candidates {
            let rel = format!("{base}/{c}");
            if std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(&rel)
                .is_file()
            {
                return Some(rel);
            }
        }
    }
    None
}

/// Every span in backticks that contains `::` is a test citation: `ns::…` a namespace test
/// (tests/ns/), `vm::NAME` a VM scenario, anything else a unit test of src/. Returns the
/// citations that name nothing, and how many there were.
fn dead_citations(doc: &str, vm: &[String]) -> (Vec<String>, usize) {
    let spans: Vec<&str> = doc
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.contains("::"))
        .collect();
    let dead = spans
        .iter()
        .filter(|cite| {
            let segs: Vec<&str> = cite.split("::").collect();
            let (base, path) = match segs[0] {
                "vm" => return !(segs.len() == 2 && vm.iter().any(|s| s == segs[1])),
                "ns" => ("tests/ns", &segs[1..]),
                _ => ("src", &segs[..]),
            };
            let Some((name, mods)) = path.split_last() else {
                return true;
            };
            !module_file(base, mods).is_some_and(|f| test_fns(&read(&f)).iter().any(|t| t == name))
        })
        .map(|s| (*s).to_owned())
        .collect();
    (dead, spans.len())
}

#[test]
fn the_threat_model_cites_only_tests_that_exist() {
    let vm = vm_scenarios(&read("tests/vm/test.sh"));
    assert!(vm.iter().any(|s| s == "userns-impostor"), "{vm:?}");
    let (dead, cited) = dead_citations(&read("docs/security.md"), &vm);
    assert_eq!(dead, Vec::<String>::new());
    assert!(cited >= 60, "only {cited} citations found");
}

#[test]
fn the_citation_check_sees_a_dead_name() {
    // Negative controls: a test that does not exist, a function that is not a test, a test
    // cited under the wrong module, a scenario that does not exist.
    let vm = vm_scenarios(&read("tests/vm/test.sh"));
    let doc = "`ns::no_such_test`, `ns::util::require_tools`, `trust::tests::survivor_rule`, \
               `vm::no-such-scenario`, `machine::stop::tests::survivor_rule`";
    let (dead, cited) = dead_citations(doc, &vm);
    assert_eq!(cited, 5);
    assert_eq!(
        dead,
        [
            "ns::no_such_test",
            "ns::util::require_tools",
            "trust::tests::survivor_rule",
            "vm::no-such-scenario"
        ]
    );
}
