//! The password database and the single-user prompt (`passwd::root_password_from_text` on
//! master.passwd or shadow text; `passwd::ask_root_password` on console input). Never
//! panic; a locked root is never unlocked by any input. The first byte chooses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reinit::passwd::{self, Outcome, RootPassword};

fuzz_target!(|data: &[u8]| {
    let Some((which, rest)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        let text = String::from_utf8_lossy(rest);
        if let Some(RootPassword::Hash(h)) = passwd::root_password_from_text(&text) {
            assert!(!h.is_empty() && !h.starts_with('*') && !h.starts_with('!'));
            assert!(!h.contains(':') && !h.contains('\n'));
        }
    } else {
        for locked in ["*", "!", "*LOCKED*$6$salt$hash"] {
            let mut input = rest;
            let mut out = Vec::new();
            let outcome = passwd::ask_root_password(locked, &mut input, &mut out, &mut |_| {});
            assert_eq!(outcome, Outcome::MultiUser, "a locked root gave a shell");
        }
    }
});
