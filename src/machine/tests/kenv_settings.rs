//! `reinit check` and the runtime agree on every kenv key: for a bad value of each, check
//! fails with exactly the problems the settings readers name, PID 1 logs those same lines
//! when it reads the key, and it then does what they say it does instead.

use super::*;
use crate::config::keys;
use crate::kernel::fake::SwitchKind;
use crate::settings::{self, Settings, BAD_VALUES};

/// The failed lines of `reinit check` on an empty root with only `key=value` set.
fn check_fails(key: &str, value: &str) -> Vec<String> {
    let d = tempfile::tempdir().unwrap();
    let kenv = |k: &str| (k == key).then(|| value.to_owned());
    crate::check::run(&crate::check::input(Some(d.path()), None, &kenv))
        .into_iter()
        .filter(|f| f.level == crate::check::Level::Fail)
        .map(|f| f.text)
        .collect()
}

/// Boot with `key=value`; rc (100) exits 0. Returns the first state and the log.
fn boot(root: &Root, key: &str, value: &str) -> (Init<FakeKernel>, State, String) {
    let mut k = FakeKernel::new();
    k.set_kenv(key, value).exit(100, Exited(0));
    let mut init = root.init(k);
    let (first, log) = crate::testutil::logged(|| {
        let first = init.boot(Flags::default());
        if first == State::Runcom {
            init.transition(first);
        }
        first
    });
    (init, first, log)
}

/// A root to reroot from: a hook that knows its phases, a device with a good new root.
fn reroot_root() -> Root {
    let root = Root::new();
    root.write("etc/rc.reroot", "#!/bin/sh\n: $REROOT_PHASE\n", 0o755);
    root.write("new/sbin/init", "#!/bin/sh\nexec true\n", 0o755);
    root.write("new/bin/sh", "", 0o755);
    fs::create_dir_all(root.p("new/dev")).unwrap();
    fs::create_dir_all(root.p("new/proc")).unwrap();
    root.write("dev/ada0", "", 0o600);
    root.write("boot/reinit", "a static program", 0o755);
    root
}

/// Multi-user with `key=value`, then a reroot: the hook is 102, then 103 (its abort phase,
/// or rc.shutdown); `ticks` of 100 ms pass after the hook's prepare phase. Returns the log.
fn reroot(root: &Root, key: &str, value: &str, ticks: u32) -> (Init<FakeKernel>, String) {
    let device = root.p("dev/ada0");
    let mut k = FakeKernel::new();
    k.set_switch_kind(SwitchKind::Kernel)
        .set_self_exe(&root.p("boot/reinit"))
        .set_kenv("vfs.root.mountfrom", &format!("ufs:{}", device.display()))
        .add_device(device.to_str().unwrap(), &root.p("new"))
        .set_kenv(key, value);
    let mut init = multi_user(root, k);
    init.k.clear_calls();
    init.k.signal(Sig::Reroot).exit(102, Exited(0));
    for _ in 0..ticks {
        init.k.tick(POLL);
    }
    init.k.exit(103, Exited(0));
    let ((), log) = crate::testutil::logged(|| init.transition(State::MultiUser));
    (init, log)
}

fn spawned_at(init: &Init<FakeKernel>, f: impl Fn(&SpawnSpec) -> bool) -> Option<usize> {
    init.k
        .calls()
        .iter()
        .position(|c| matches!(c, Call::Spawn(s, _) if f(s)))
}

fn aborted(init: &Init<FakeKernel>, log: &str) -> bool {
    init.state() == State::MultiUser
        && log.contains("reroot aborted")
        && !init
            .k
            .actions()
            .iter()
            .any(|c| matches!(c, Call::SwitchRoot(..)))
}

/// What the runtime does with the bad `key=value`: whether it is the documented fallback,
/// and what it logged.
fn runtime(key: &str, value: &str) -> (bool, String) {
    let root = Root::new();
    let rc = root.p("etc/rc");
    match key {
        keys::INIT_SCRIPT => {
            let (_, first, log) = boot(&root, key, value);
            (first == State::SingleUser, log)
        }
        keys::INIT_CHROOT | keys::INIT_EXEC => {
            let (init, first, log) = boot(&root, key, value);
            let none = !init
                .k
                .actions()
                .iter()
                .any(|c| matches!(c, Call::Chroot(_) | Call::Exec(..)));
            (none && first == State::Runcom, log)
        }
        keys::INIT_RC => {
            let (init, _, log) = boot(&root, key, value);
            (init.k.spawns()[0].0.path == rc, log)
        }
        keys::INIT_SHELL => {
            // rc is not executable: it runs through the default shell.
            root.write("etc/rc", "exit 0\n", 0o644);
            let (init, _, log) = boot(&root, key, value);
            let argv = &init.k.spawns()[0].0.argv;
            (argv[0] == root.paths.shell.display().to_string(), log)
        }
        keys::SHUTDOWN_TIMEOUT => {
            // Read by the Linux kernel (its `shutdown_timeout()` is this reader, warned);
            // nothing read means the default.
            let kenv = |k: &str| (k == key).then(|| value.to_owned());
            let (t, log) = crate::testutil::logged(|| settings::shutdown_timeout(kenv).warned());
            let init = root.init(FakeKernel::new());
            (
                t.is_none() && init.shutdown_timeout() == Duration::from_secs(120),
                log,
            )
        }
        keys::SIGNALS => {
            // FreeBSD's convention: SIGTERM means single-user (rc.shutdown is 102).
            let mut init = multi_user(&root, {
                let mut k = FakeKernel::new();
                k.set_kenv(key, value);
                k
            });
            init.k.signal(Sig::Term).exit(102, Exited(0));
            let ((), log) = crate::testutil::logged(|| init.transition(State::MultiUser));
            let single =
                matches!(init.k.actions().last(), Some(Call::Spawn(s, _)) if s.argv == ["-sh"]);
            (single, log)
        }
        keys::REROOT_ORDER => {
            // Transactional: the hook's prepare phase runs before rc.shutdown.
            let root = reroot_root();
            let (init, log) = reroot(&root, key, value, 0);
            let hook = spawned_at(&init, |s| s.path == root.paths.rc_reroot);
            let down = spawned_at(&init, |s| s.path == root.paths.rc_shutdown);
            (hook.is_some() && hook < down, log)
        }
        keys::HOOK_TIMEOUT => {
            let root = reroot_root();
            let (init, log) = reroot(&root, key, value, 0);
            let waits = init
                .k
                .calls()
                .contains(&Call::Wait(Some(Duration::from_secs(60))));
            (waits, log)
        }
        keys::MOUNTROOT_TIMEOUT => {
            // The device never appears: the probe polls for the default 3 s, then aborts.
            let root = reroot_root();
            fs::remove_file(root.p("dev/ada0")).unwrap();
            let (init, log) = reroot(&root, key, value, 50);
            let polled: Duration = init
                .k
                .calls()
                .iter()
                .filter_map(|c| match c {
                    Call::Wait(Some(d)) if *d > Duration::ZERO && *d <= POLL => Some(*d),
                    _ => None,
                })
                .sum();
            (
                polled == Duration::from_secs(3) && aborted(&init, &log),
                log,
            )
        }
        keys::REROOT_CONFIRM => {
            // Ignored: the reroot happens and asks for no confirmation.
            let root = reroot_root();
            let (init, log) = reroot(&root, key, value, 0);
            let switched = init
                .k
                .actions()
                .iter()
                .any(|c| matches!(c, Call::SwitchRoot(..)));
            let record = crate::newroot::Record::load(&root.paths.reroot_dir);
            let armed = record.is_some_and(|r| r.confirm_s > 0 || r.previous.is_some());
            (switched && !armed, log)
        }
        keys::INIT_PATH | keys::MOUNTFROM => {
            let root = reroot_root();
            let (init, log) = reroot(&root, key, value, 0);
            (aborted(&init, &log), log)
        }
        other => panic!("no runtime case for {other}"),
    }
}

#[test]
fn check_and_the_runtime_agree_on_every_bad_value() {
    for (key, value) in BAD_VALUES {
        let (_, problems) = Settings::read(|k: &str| (k == key).then(|| value.to_owned()));
        if key == keys::MOUNTFROM_OPTIONS {
            assert!(problems.is_empty(), "{problems:?}");
            continue;
        }
        let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(!said.is_empty(), "{key}={value} is not reported");
        assert_eq!(check_fails(key, value), said, "{key}={value}");
        let (fell_back, log) = runtime(key, value);
        for line in &said {
            assert!(
                log.contains(line.as_str()),
                "{key}: PID 1 did not log {line:?}:\n{log}"
            );
        }
        assert!(
            fell_back,
            "{key}={value}: not the documented fallback:\n{log}"
        );
    }
}

/// Negative control: the harness sees a runtime that does not fall back (a good
/// `init_script` that fails is not a bad value, and a valid order is not transactional).
#[test]
fn the_agreement_check_sees_a_different_outcome() {
    let root = reroot_root();
    let (init, _) = reroot(&root, keys::REROOT_ORDER, "kill-first", 0);
    let hook = spawned_at(&init, |s| s.path == root.paths.rc_reroot);
    let down = spawned_at(&init, |s| s.path == root.paths.rc_shutdown);
    assert!(down.is_some() && down < hook, "{:?}", init.k.actions());
    assert!(check_fails(keys::REROOT_ORDER, "kill-first").is_empty());
    let root = Root::new();
    let (init, _, _) = boot(
        &root,
        keys::INIT_RC,
        &root.p("etc/rc.shutdown").display().to_string(),
    );
    assert_eq!(init.k.spawns()[0].0.path, root.p("etc/rc.shutdown"));
}
