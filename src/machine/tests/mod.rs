//! State functions and transitions against the fake kernel.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use super::*;
use crate::kernel::fake::{Call, CallKind, FakeKernel};
use crate::kernel::{
    ChildStatus::*, Errno, Flush, KillSig, KillTarget, Posix, RebootHow, Sig, Stdio,
};
use crate::signals::Action;
use crate::ttys;

const TTYS: &str = "\
console none                unknown off secure
ttyv0   \"/usr/libexec/getty Pc\" xterm on secure
ttyv1   \"/usr/libexec/getty Pc\" xterm off secure
";

/// A root directory with an executable /etc/rc and rc.shutdown and the ttys above.
struct Root {
    dir: TempDir,
    paths: Paths,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let r = Root { dir, paths };
        r.write("etc/rc", "#!/bin/sh\nexit 0\n", 0o755);
        r.write("etc/rc.shutdown", "#!/bin/sh\nexit 0\n", 0o755);
        r.write("etc/ttys", TTYS, 0o644);
        r.write("etc/shadow", "root::19000:0:99999:7:::\n", 0o600);
        r
    }

    fn write(&self, rel: &str, text: &str, mode: u32) {
        let p = self.dir.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn init(&self, k: FakeKernel) -> Init<FakeKernel> {
        Init::new(k, self.paths.clone())
    }
}

fn argvs(k: &FakeKernel) -> Vec<Vec<String>> {
    k.spawns().into_iter().map(|(s, _)| s.argv).collect()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Boot to multi-user: rc is pid 100, the ttyv0 getty pid 101.
fn multi_user(root: &Root, k: FakeKernel) -> Init<FakeKernel> {
    let mut k = k;
    k.exit(100, Exited(0));
    let mut init = root.init(k);
    let first = init.boot(Flags::default());
    init.transition(first);
    assert_eq!(init.state(), State::MultiUser);
    assert_eq!(init.gettys(), vec![("ttyv0".to_owned(), 101)]);
    init
}

#[test]
fn boot_runs_rc_autoboot_then_gettys() {
    let root = Root::new();
    let init = multi_user(&root, FakeKernel::new());
    let rc = root.p("etc/rc").display().to_string();
    assert_eq!(
        init.k.actions(),
        vec![
            Call::Start,
            Call::EarlyMounts,
            Call::Spawn(
                SpawnSpec {
                    path: root.p("etc/rc"),
                    argv: vec![rc, "autoboot".into()],
                    env: config::script_env(),
                    stdio: Stdio::Console,
                    script: true,
                },
                100
            ),
            Call::RaiseSecurelevel,
            Call::Spawn(
                SpawnSpec {
                    path: "/usr/libexec/getty".into(),
                    argv: strs(&["/usr/libexec/getty", "Pc", "ttyv0"]),
                    env: vec![("TERM".into(), "xterm".into())],
                    stdio: Stdio::Null,
                    script: false,
                },
                101
            ),
        ]
    );
}

#[test]
fn non_executable_rc_runs_through_the_shell() {
    let root = Root::new();
    root.write("etc/rc", "exit 0\n", 0o644);
    let mut k = FakeKernel::new();
    k.set_kenv("init_shell", "/bin/ash");
    let mut init = root.init(k);
    let first = init.boot(Flags::default());
    init.transition(first);
    let rc = root.p("etc/rc").display().to_string();
    assert_eq!(
        argvs(&init.k)[0],
        vec!["/bin/ash".to_owned(), rc, "autoboot".into()]
    );
    assert_eq!(init.k.spawns()[0].0.path, Path::new("/bin/ash"));
}

#[test]
fn rc_failure_exit_or_signal_or_missing_gives_single_user() {
    for status in [Some(Exited(1)), Some(Signaled(libc::SIGSEGV)), None] {
        let root = Root::new();
        let mut k = FakeKernel::new();
        match status {
            Some(s) => {
                k.exit(100, s);
            }
            None => fs::remove_file(root.p("etc/rc")).unwrap(),
        }
        let mut init = root.init(k);
        let first = init.boot(Flags::default());
        init.transition(first);
        assert_eq!(init.state(), State::SingleUser, "{status:?}");
        let last = init.k.spawns().last().cloned().unwrap().0;
        assert_eq!(last.argv, vec!["-sh".to_owned()]);
        assert_eq!(last.path, root.p("bin/sh"));
        assert_eq!(last.stdio, Stdio::Console);
    }
}

#[test]
fn single_user_flag_and_shell_exit_runs_rc_fastboot() {
    let root = Root::new();
    let mut k = FakeKernel::new();
    k.exit(100, Exited(0)); // the shell
    let mut init = root.init(k);
    let first = init.boot(Flags {
        single: true,
        ..Flags::default()
    });
    assert_eq!(first, State::SingleUser);
    init.transition(first);
    let a = argvs(&init.k);
    assert_eq!(a[0], vec!["-sh".to_owned()]);
    // rc without "autoboot" after single-user mode.
    assert_eq!(a[1], vec![root.p("etc/rc").display().to_string()]);
    assert_eq!(init.state(), State::Runcom);
}

#[test]
fn fastboot_flag_drops_autoboot() {
    let root = Root::new();
    let mut init = root.init(FakeKernel::new());
    let first = init.boot(Flags {
        fast: true,
        ..Flags::default()
    });
    init.transition(first);
    assert_eq!(
        argvs(&init.k)[0],
        vec![root.p("etc/rc").display().to_string()]
    );
}

#[test]
fn init_rc_kenv_replaces_etc_rc() {
    let root = Root::new();
    root.write("alt/rc", "#!/bin/sh\n", 0o755);
    let mut k = FakeKernel::new();
    k.set_kenv("init_rc", root.p("alt/rc").to_str().unwrap());
    let mut init = root.init(k);
    let first = init.boot(Flags::default());
    init.transition(first);
    assert_eq!(init.k.spawns()[0].0.path, root.p("alt/rc"));
}

#[test]
fn startup_order_init_exec_script_chroot() {
    let root = Root::new();
    root.write("sbin/other", "#!/bin/sh\n", 0o755);
    root.write("etc/early", "#!/bin/sh\n", 0o755);
    let mut k = FakeKernel::new();
    k.set_kenv("init_exec", root.p("sbin/other").to_str().unwrap())
        .set_kenv("init_script", root.p("etc/early").to_str().unwrap())
        .set_kenv("init_chroot", "/newroot")
        .exit(100, Exited(0));
    let mut init = root.init(k);
    let first = init.boot(Flags::default());
    assert_eq!(first, State::Runcom);
    let a = init.k.actions();
    assert_eq!(a[0], Call::Start);
    // /dev and /proc first: init_script needs them as much as rc does (an initramfs has no
    // devtmpfs of its own); again inside the new root after the chroot.
    assert_eq!(a[1], Call::EarlyMounts);
    assert_eq!(
        a[2],
        Call::Exec(
            root.p("sbin/other"),
            vec![root.p("sbin/other").display().to_string()]
        )
    );
    assert!(matches!(&a[3], Call::Spawn(s, 100) if s.path == root.p("etc/early")));
    assert_eq!(a[4], Call::Chroot("/newroot".into()));
    assert_eq!(a[5], Call::EarlyMounts);
}

/// kenv `init_exec` naming a reinit: what is queued, and what arrives during the exec, is
/// left pending for it; another program gets nothing (it may unblock before it has
/// handlers), and the requests stay here when the exec fails.
#[test]
fn init_exec_hands_queued_requests_to_a_reinit_only() {
    for reinit in [true, false] {
        let root = Root::new();
        root.write("sbin/other", "", 0o755);
        let other = root.p("sbin/other");
        let mut k = FakeKernel::new();
        k.set_kenv("init_exec", other.to_str().unwrap())
            .signal(Sig::Int)
            .exit(100, Exited(0));
        if reinit {
            k.set_reinit(&other);
        }
        let mut init = root.init(k);
        init.boot(Flags::default());
        let carried: &[Vec<Sig>] = if reinit { &[vec![Sig::Int]] } else { &[] };
        assert_eq!(init.k.exec_carries(), carried, "reinit: {reinit}");
        assert!(init.k.actions().contains(&Call::Exec(
            other.clone(),
            vec![other.display().to_string()]
        )));
        // The exec failed: the reboot request is still this process's (held, it comes back
        // as the signal; not held, it was queued before the exec).
        if reinit {
            assert!(init.pending().is_empty());
            assert_eq!(
                init.k.wait(Some(Duration::ZERO)),
                Wake::Signals(vec![Sig::Int])
            );
        } else {
            assert_eq!(
                init.pending(),
                [Request::DeathSingle(Action::Reboot(RebootHow::Reboot))]
            );
        }
    }
}

#[test]
fn init_script_failure_and_bad_values_give_single_user() {
    let root = Root::new();
    root.write("etc/early", "#!/bin/sh\n", 0o755);
    let mut k = FakeKernel::new();
    k.set_kenv("init_script", root.p("etc/early").to_str().unwrap())
        .exit(100, Exited(3));
    let mut init = root.init(k);
    assert_eq!(init.boot(Flags::default()), State::SingleUser);

    let mut k = FakeKernel::new();
    k.set_kenv("init_script", "relative/path")
        .set_kenv("init_chroot", "also-relative");
    let mut init = root.init(k);
    assert_eq!(init.boot(Flags::default()), State::SingleUser);
    assert!(!init
        .k
        .actions()
        .iter()
        .any(|c| matches!(c, Call::Chroot(_))));
}

#[test]
fn getty_respawns_and_is_throttled() {
    let root = Root::new();
    let mut init = multi_user(&root, FakeKernel::new());
    // The getty dies at once, four times in a row: the fourth quick restart is deferred.
    for pid in 101..=104 {
        init.k.exit(pid, Exited(1));
    }
    init.transition(State::MultiUser);
    assert_eq!(
        init.k.spawns().len(),
        1 + 4,
        "rc + initial getty + 3 quick respawns"
    );
    assert!(init.gettys().is_empty(), "throttled");
    assert!(init
        .k
        .calls()
        .contains(&Call::Wait(Some(ttys::GETTY_SLEEP))));
    // After GETTY_SLEEP it comes back.
    init.k.tick(ttys::GETTY_SLEEP);
    init.transition(State::MultiUser);
    assert_eq!(init.gettys(), vec![("ttyv0".to_owned(), 105)]);
}

#[test]
fn slow_getty_exits_are_not_throttled() {
    let root = Root::new();
    let mut init = multi_user(&root, FakeKernel::new());
    for pid in 101..=106 {
        init.k.tick(Duration::from_secs(6)).exit(pid, Exited(0));
    }
    init.transition(State::MultiUser);
    assert_eq!(init.gettys(), vec![("ttyv0".to_owned(), 107)]);
}

#[test]
fn sighup_rescans_ttys() {
    let root = Root::new();
    let mut init = multi_user(&root, FakeKernel::new());
    // ttyv0 changes its getty, ttyv1 is turned on.
    root.write(
        "etc/ttys",
        "ttyv0 \"/sbin/getty2 x\" vt100 on\nttyv1 \"/usr/libexec/getty Pc\" xterm on\n",
        0o644,
    );
    init.k.signal(Sig::Hup);
    init.transition(State::MultiUser);
    // The old ttyv0 getty got SIGHUP (the fake lets it die at once) and restarted with the
    // new command; ttyv1 started.
    assert!(init
        .k
        .actions()
        .contains(&Call::Kill(KillTarget::Pid(101), KillSig::Hup)));
    assert_eq!(
        init.gettys(),
        vec![("ttyv0".to_owned(), 102), ("ttyv1".to_owned(), 103)]
    );
    let a = argvs(&init.k);
    assert_eq!(a[2], strs(&["/sbin/getty2", "x", "ttyv0"]));
    assert_eq!(a[3], strs(&["/usr/libexec/getty", "Pc", "ttyv1"]));
    // An unchanged line is left alone by a rescan.
    init.k.signal(Sig::Hup);
    init.transition(State::MultiUser);
    assert_eq!(
        init.gettys(),
        vec![("ttyv0".to_owned(), 102), ("ttyv1".to_owned(), 103)]
    );
    // ttyv1 is removed: stopped, never restarted.
    root.write("etc/ttys", "ttyv0 \"/sbin/getty2 x\" vt100 on\n", 0o644);
    init.k.signal(Sig::Hup);
    init.transition(State::MultiUser);
    assert!(init
        .k
        .actions()
        .contains(&Call::Kill(KillTarget::Pid(103), KillSig::Hup)));
    assert_eq!(init.gettys(), vec![("ttyv0".to_owned(), 102)]);
    assert_eq!(init.k.spawns().len(), 4);
}

#[test]
fn catatonia_stops_respawning() {
    let root = Root::new();
    let mut init = multi_user(&root, FakeKernel::new());
    init.k.signal(Sig::Tstp).exit(101, Exited(0));
    init.transition(State::MultiUser);
    assert!(init.gettys().is_empty());
    assert_eq!(init.k.spawns().len(), 2);
}

/// The calls made after re-entering multi_user (which raises the securelevel again).
fn actions_after_reentry(k: &FakeKernel) -> Vec<Call> {
    let mut a = k.actions();
    assert_eq!(a.first(), Some(&Call::RaiseSecurelevel));
    a.remove(0);
    a
}

/// The shutdown sequence from multi-user, for each shutdown signal.
#[test]
fn shutdown_sequences() {
    let cases = [
        (Sig::Term, "single", None),
        (Sig::Int, "reboot", Some(RebootHow::Reboot)),
        (Sig::Usr1, "reboot", Some(RebootHow::Halt)),
        (Sig::Usr2, "reboot", Some(RebootHow::PowerOff)),
        (Sig::Winch, "reboot", Some(RebootHow::PowerCycle)),
    ];
    for (sig, arg, how) in cases {
        let root = Root::new();
        root.write("etc/rc.final", "#!/bin/sh\n", 0o755);
        let mut init = multi_user(&root, FakeKernel::new());
        init.k.clear_calls();
        // rc.shutdown (102) exits 0; the getty died of SIGHUP already via kill.
        init.k.signal(sig).exit(102, Exited(0));
        if how.is_some() {
            init.k.exit(103, Exited(0)); // rc.final
        }
        init.transition(State::MultiUser);
        let rcs = root.p("etc/rc.shutdown").display().to_string();
        let mut want = vec![
            Call::Kill(KillTarget::Pid(101), KillSig::Hup),
            Call::Revoke(root.p("dev/ttyv0")),
            Call::Spawn(
                SpawnSpec {
                    path: root.p("etc/rc.shutdown"),
                    argv: vec![rcs, arg.into()],
                    env: config::script_env(),
                    stdio: Stdio::Console,
                    script: true,
                },
                102,
            ),
            Call::Revoke(root.p("dev/console")),
            Call::Kill(KillTarget::All, KillSig::Term),
        ];
        match how {
            None => {
                // Nothing is left to kill: kill(-1) says ESRCH and there is no SIGKILL round.
                let a = actions_after_reentry(&init.k);
                assert_eq!(a[..want.len()], want[..], "{sig}");
                assert_eq!(init.state(), State::SingleUser);
                assert_eq!(
                    init.k.spawns().last().unwrap().0.argv,
                    vec!["-sh".to_owned()]
                );
            }
            Some(how) => {
                want.push(Call::Sync);
                let fin = root.p("etc/rc.final");
                want.push(Call::Spawn(
                    SpawnSpec {
                        path: fin.clone(),
                        argv: vec![fin.display().to_string()],
                        env: config::script_env(),
                        stdio: Stdio::Console,
                        script: true,
                    },
                    103,
                ));
                want.push(Call::Reboot(how, Flush::Sync));
                assert_eq!(actions_after_reentry(&init.k), want, "{sig}");
            }
        }
    }
}

/// At its timeout rc.shutdown is killed with its process group, like every script (what it
/// started in the foreground goes too).
#[test]
fn hanging_rc_shutdown_is_killed_at_the_timeout() {
    let root = Root::new();
    let mut k = FakeKernel::new();
    k.set_shutdown_timeout(Duration::from_secs(7));
    let mut init = multi_user(&root, k);
    init.k.signal(Sig::Term).tick(Duration::from_secs(8));
    init.transition(State::MultiUser);
    let a = init.k.calls().to_vec();
    assert!(a.contains(&Call::Wait(Some(Duration::from_secs(7)))));
    assert!(a.contains(&Call::Kill(KillTarget::Group(102), KillSig::Kill)));
    assert_eq!(init.state(), State::SingleUser);
}

#[test]
fn shutdown_timeout_defaults_and_ignores_tiny_values() {
    let root = Root::new();
    let init = root.init(FakeKernel::new());
    assert_eq!(init.shutdown_timeout(), Duration::from_secs(120));
    let mut k = FakeKernel::new();
    k.set_shutdown_timeout(Duration::from_secs(1));
    assert_eq!(root.init(k).shutdown_timeout(), Duration::from_secs(120));
}

#[test]
fn stubborn_processes_get_sigkill_and_the_wait_is_bounded() {
    let root = Root::new();
    let mut init = multi_user(&root, FakeKernel::new());
    init.k.stubborn(101).unkillable(101);
    init.k
        .signal(Sig::Term)
        .exit(102, Exited(0))
        .tick(config::DEATH_WATCH)
        .tick(config::DEATH_WATCH);
    init.transition(State::MultiUser);
    let a = init.k.calls().to_vec();
    let term = a
        .iter()
        .position(|c| *c == Call::Kill(KillTarget::All, KillSig::Term))
        .unwrap();
    let kill = a
        .iter()
        .position(|c| *c == Call::Kill(KillTarget::All, KillSig::Kill))
        .unwrap();
    assert!(term < kill);
    assert!(a[term..kill].contains(&Call::Wait(Some(config::DEATH_WATCH))));
    assert_eq!(
        init.state(),
        State::SingleUser,
        "gives up after two bounded waits"
    );
}

#[test]
fn reboot_failure_falls_back_to_a_shell() {
    let root = Root::new();
    let mut init = multi_user(&root, FakeKernel::new());
    init.k.fail(CallKind::Reboot, Errno::EPERM);
    init.k.signal(Sig::Int).exit(102, Exited(0));
    init.transition(State::MultiUser);
    let a = init.k.actions();
    let r = a
        .iter()
        .position(|c| *c == Call::Reboot(RebootHow::Reboot, Flush::Sync))
        .unwrap();
    assert!(matches!(&a[r + 1], Call::Spawn(s, _) if s.argv == ["-sh"]));
    assert_eq!(init.state(), State::SingleUser);
}

#[test]
fn requests_in_one_wake_are_all_kept() {
    let root = Root::new();
    let mut init = multi_user(&root, FakeKernel::new());
    // SIGHUP and SIGTERM together: the rescan happens and so does the shutdown.
    init.k.push(crate::kernel::fake::Event::Signal(Sig::Hup));
    init.k.push(crate::kernel::fake::Event::Signal(Sig::Term));
    init.k.exit(102, Exited(0)); // rc.shutdown
    init.transition(State::MultiUser);
    let a = init.k.actions();
    assert!(a.iter().any(
        |c| matches!(c, Call::Spawn(s, _) if s.argv.last().map(String::as_str) == Some("single"))
    ));
    assert_eq!(init.state(), State::SingleUser);
}

#[test]
fn later_shutdown_signal_upgrades_the_action() {
    let root = Root::new();
    let mut init = multi_user(&root, FakeKernel::new());
    // SIGTERM starts a shutdown to single-user; SIGUSR2 while rc.shutdown runs makes it power off.
    init.k
        .signal(Sig::Term)
        .signal(Sig::Usr2)
        .exit(102, Exited(0));
    init.transition(State::MultiUser);
    assert!(init
        .k
        .actions()
        .contains(&Call::Reboot(RebootHow::PowerOff, Flush::Sync)));
}

#[test]
fn sigterm_during_rc_goes_to_death_single_at_once() {
    let root = Root::new();
    let mut k = FakeKernel::new();
    k.signal(Sig::Term);
    let mut init = root.init(k);
    let first = init.boot(Flags::default());
    init.transition(first);
    let a = init.k.actions();
    assert!(a.contains(&Call::Kill(KillTarget::All, KillSig::Term)));
    // rc (100) was killed by it; then the single-user shell.
    assert_eq!(
        init.k.spawns().last().unwrap().0.argv,
        vec!["-sh".to_owned()]
    );
    assert!(!a
        .iter()
        .any(|c| matches!(c, Call::Spawn(s, _) if s.path == root.p("etc/rc.shutdown"))));
}

#[test]
fn sighup_during_rc_is_ignored_and_sigtstp_kept() {
    let root = Root::new();
    let mut k = FakeKernel::new();
    k.signal(Sig::Hup).signal(Sig::Tstp).exit(100, Exited(0));
    let mut init = root.init(k);
    let first = init.boot(Flags::default());
    init.transition(first);
    // catatonia was applied once multi-user started: no getty runs.
    assert!(init.gettys().is_empty());
    assert_eq!(init.state(), State::MultiUser);
}

#[test]
fn injected_panic_lands_in_single_user() {
    let root = Root::new();
    let mut k = FakeKernel::new();
    k.panic_on_spawn(0); // spawning /etc/rc panics
    let mut init = root.init(k);
    let first = init.boot(Flags::default());
    init.transition(first);
    assert_eq!(init.state(), State::SingleUser);
    assert_eq!(
        init.k.spawns().last().unwrap().0.argv,
        vec!["-sh".to_owned()]
    );
}

#[test]
fn shell_spawn_failure_stalls_then_retries() {
    let root = Root::new();
    let mut k = FakeKernel::new();
    // Neither the shell nor the rescue shell starts.
    k.fail(CallKind::Spawn, Errno::ENOENT)
        .fail(CallKind::Spawn, Errno::ENOENT)
        .tick(config::STALL_TIMEOUT);
    let mut init = root.init(k);
    init.transition(State::SingleUser);
    let spawns = init.k.spawns();
    assert_eq!(spawns.len(), 3);
    assert_eq!((spawns[0].1, spawns[1].1), (0, 0), "first attempts failed");
    assert!(init
        .k
        .calls()
        .contains(&Call::Wait(Some(config::STALL_TIMEOUT))));
}

/// `init_shell` missing (or a directory): single-user mode falls back to /bin/sh, then to
/// /rescue/sh, at once, as init.c does; it does not retry the same shell every 30 s.
#[test]
fn a_shell_that_cannot_start_falls_back_to_bin_sh_then_rescue_sh() {
    let root = Root::new();
    let mut k = FakeKernel::new();
    k.set_kenv("init_shell", "/nonexistent/ksh")
        .fail(CallKind::Spawn, Errno::ENOENT)
        .fail(CallKind::Spawn, Errno::EACCES);
    let mut init = root.init(k);
    init.transition(State::SingleUser);
    let paths: Vec<std::path::PathBuf> = init.k.spawns().into_iter().map(|(s, _)| s.path).collect();
    assert_eq!(
        paths,
        [
            std::path::PathBuf::from("/nonexistent/ksh"),
            root.p("bin/sh"),
            root.p("rescue/sh")
        ]
    );
    assert!(!init
        .k
        .calls()
        .contains(&Call::Wait(Some(config::STALL_TIMEOUT))));
}

/// fork failing with EAGAIN, again and again (a process table full): rc cannot start, so
/// single-user mode; no shell can start either, so PID 1 waits STALL_TIMEOUT between rounds
/// of attempts instead of spinning; once fork works again the shell starts.
#[test]
fn fork_failing_for_a_while_is_retried_at_a_bounded_rate() {
    let root = Root::new();
    let mut k = FakeKernel::new();
    for _ in 0..8 {
        k.fail(CallKind::Spawn, Errno::EAGAIN);
    }
    k.let_time_pass(Duration::from_secs(1), 200);
    let mut init = root.init(k);
    let first = init.boot(Flags::default());
    init.transition(first);
    let calls = init.k.calls();
    let spawns: Vec<(usize, Pid)> = calls
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match c {
            Call::Spawn(_, pid) => Some((i, *pid)),
            _ => None,
        })
        .collect();
    // rc directly and through the shell (2), then rounds of two shells (/bin/sh, which is
    // also init_shell's default, and /rescue/sh) with a pause after each: eight failures;
    // the ninth spawn is a shell that runs.
    assert_eq!(spawns.len(), 9, "{calls:?}");
    assert!(spawns[..8].iter().all(|(_, pid)| *pid == 0));
    assert!(spawns[8].1 > 0);
    let stalls = calls
        .iter()
        .filter(|c| **c == Call::Wait(Some(config::STALL_TIMEOUT)))
        .count();
    assert_eq!(
        stalls, 3,
        "one pause after each round of failed shells: {calls:?}"
    );
    assert_eq!(init.state(), State::SingleUser);
}

/// /etc/rc asks for catatonia (SIGTSTP) and then fails: single-user mode keeps its shell;
/// the stale request does not lead on to multi-user mode with no shell and no getty.
#[test]
fn a_stale_request_does_not_take_the_single_user_shell_away() {
    let root = Root::new();
    let mut k = FakeKernel::new();
    k.signal(Sig::Tstp).exit(100, Exited(1));
    let mut init = root.init(k);
    let first = init.boot(Flags::default());
    init.transition(first);
    assert_eq!(init.state(), State::SingleUser);
    let spawns = init.k.spawns();
    assert_eq!(spawns.len(), 2, "{spawns:?}");
    assert_eq!(spawns[1].0.argv, ["-sh"]);
    // SIGTERM and SIGTSTP together in multi-user mode: single-user, and it stays there.
    let root = Root::new();
    let mut init = multi_user(&root, FakeKernel::new());
    init.k
        .signal(Sig::Term)
        .signal(Sig::Tstp)
        .exit(102, Exited(0));
    init.transition(State::MultiUser);
    assert_eq!(init.state(), State::SingleUser);
    assert_eq!(init.k.spawns().last().unwrap().0.argv, ["-sh"]);
    // A shutdown asked for meanwhile still counts (negative control of the filter).
    let root = Root::new();
    let mut k = FakeKernel::new();
    k.signal(Sig::Usr2).exit(100, Exited(1));
    let mut init = root.init(k);
    let first = init.boot(Flags::default());
    init.transition(first);
    assert!(init
        .k
        .actions()
        .contains(&Call::Reboot(RebootHow::PowerOff, Flush::Sync)));
}

/// `init c` (catatonia: no new logins), then `init q` (rescan /etc/ttys): logins resume, as
/// init.c's clean_ttys clears the shutdown flag of every line still present.
#[test]
fn a_rescan_after_catatonia_resumes_logins() {
    let root = Root::new();
    let mut init = multi_user(&root, FakeKernel::new());
    // init c; the getty (101) exits: no new one. init q: a new getty.
    init.k
        .signal(Sig::Tstp)
        .exit(101, Exited(0))
        .signal(Sig::Hup);
    init.transition(State::MultiUser);
    let gettys: Vec<Pid> = init
        .k
        .spawns()
        .into_iter()
        .filter(|(s, _)| s.path == std::path::Path::new("/usr/libexec/getty"))
        .map(|(_, p)| p)
        .collect();
    assert_eq!(gettys, [101, 102], "{:?}", init.k.actions());
}

/// /etc/rc is executable but its exec fails (a noexec mount, a CRLF `#!` line): the shell
/// runs it, as init.c does, instead of single-user mode.
#[test]
fn a_script_that_cannot_be_exec_d_runs_through_the_shell() {
    let root = Root::new();
    let mut k = FakeKernel::new();
    // The failed spawn hands out no pid: the shell's run of rc is 100.
    k.fail(CallKind::Spawn, Errno::ENOEXEC).exit(100, Exited(0));
    let mut init = root.init(k);
    let first = init.boot(Flags::default());
    init.transition(first);
    let spawns = init.k.spawns();
    let rc = root.p("etc/rc").display().to_string();
    assert_eq!(spawns[0].1, 0, "the direct exec failed");
    assert_eq!(
        spawns[1].0.argv,
        [
            root.p("bin/sh").display().to_string(),
            rc,
            "autoboot".into()
        ]
    );
    assert_eq!(init.state(), State::MultiUser);
}

/// busybox's `reboot` sends SIGTERM: with `reinit.signals=linux` that reboots, instead of
/// stopping a headless machine at a single-user password prompt.
#[test]
fn under_the_linux_convention_sigterm_reboots() {
    let root = Root::new();
    let mut k = FakeKernel::new();
    k.set_kenv("reinit.signals", "linux");
    let mut init = multi_user(&root, k);
    init.k.signal(Sig::Term).exit(102, Exited(0));
    init.transition(State::MultiUser);
    assert_eq!(
        init.k.actions().last(),
        Some(&Call::Reboot(RebootHow::Reboot, Flush::Sync))
    );
}

#[test]
fn a_shell_that_dies_at_once_is_restarted_then_paused() {
    let root = Root::new();
    let mut k = FakeKernel::new();
    // Three shells killed by SIGBUS as soon as they start (their root's device is gone),
    // then 30 s pass and a fourth one starts.
    k.exit(100, Signaled(libc::SIGBUS))
        .exit(101, Signaled(libc::SIGBUS))
        .exit(102, Signaled(libc::SIGBUS))
        .tick(config::STALL_TIMEOUT);
    let mut init = root.init(k);
    init.transition(State::SingleUser);
    assert_eq!(init.k.spawns().len(), 4);
    let waits: Vec<&Call> = init
        .k
        .calls()
        .iter()
        .filter(|c| **c == Call::Wait(Some(config::STALL_TIMEOUT)))
        .collect();
    assert_eq!(waits.len(), 1, "one pause, after the third quick death");
    // Negative control: shells that live longer than a second are restarted at once.
    let mut k = FakeKernel::new();
    for pid in 100..104 {
        k.tick(config::SHELL_QUICK_DEATH)
            .exit(pid, Signaled(libc::SIGBUS));
    }
    let mut init = root.init(k);
    init.transition(State::SingleUser);
    assert_eq!(init.k.spawns().len(), 5);
    assert!(!init
        .k
        .calls()
        .contains(&Call::Wait(Some(config::STALL_TIMEOUT))));
}

#[test]
fn insecure_console_with_root_password_asks_for_it() {
    let root = Root::new();
    root.write("etc/ttys", "console none unknown off insecure\n", 0o644);
    root.write("etc/shadow", "root:$6$salt$abc:19000:0:99999:7:::\n", 0o600);
    let mut init = root.init(FakeKernel::new());
    init.transition(State::SingleUser);
    let s = &init.k.spawns()[0].0;
    assert_eq!(s.path, Path::new("/sbin/init"));
    assert_eq!(s.argv[..2], strs(&["reinit", "sulogin"]));
    // Secure console or no password: the shell directly.
    for (ttys, shadow) in [
        (
            "console none unknown off secure\n",
            "root:$6$salt$abc:1::::::\n",
        ),
        ("console none unknown off insecure\n", "root::1::::::\n"),
    ] {
        root.write("etc/ttys", ttys, 0o644);
        root.write("etc/shadow", shadow, 0o600);
        let mut init = root.init(FakeKernel::new());
        init.transition(State::SingleUser);
        assert_eq!(init.k.spawns()[0].0.argv, vec!["-sh".to_owned()]);
    }
}

/// The password gate fails closed: a locked root account is still asked for (no password
/// opens the shell; see docs/passwd.md), and so is a console with no /etc/ttys to call it
/// secure. Only a missing password database gives the shell without a prompt (logged), as
/// FreeBSD's init does.
#[test]
fn a_locked_root_is_asked_for_and_a_missing_database_is_not() {
    let root = Root::new();
    root.write("etc/ttys", "console none unknown off insecure\n", 0o644);
    root.write("etc/shadow", "root:*LOCKED*:19000:0:99999:7:::\n", 0o600);
    let mut init = root.init(FakeKernel::new());
    init.transition(State::SingleUser);
    assert_eq!(init.k.spawns()[0].0.argv[..2], strs(&["reinit", "sulogin"]));
    root.write("etc/shadow", "root:$6$salt$abc:19000:0:99999:7:::\n", 0o600);
    fs::remove_file(root.p("etc/ttys")).unwrap();
    let mut init = root.init(FakeKernel::new());
    init.transition(State::SingleUser);
    assert_eq!(init.k.spawns()[0].0.argv[..2], strs(&["reinit", "sulogin"]));
    fs::remove_file(root.p("etc/shadow")).unwrap();
    let mut init = root.init(FakeKernel::new());
    init.transition(State::SingleUser);
    assert_eq!(init.k.spawns()[0].0.argv, vec!["-sh".to_owned()]);
}

#[test]
fn malformed_ttys_lines_are_skipped_others_work() {
    let root = Root::new();
    root.write(
        "etc/ttys",
        "ttyv0 \"/usr/libexec/getty Pc xterm on\nttyv1 \"/usr/libexec/getty Pc\" xterm on\n",
        0o644,
    );
    let mut k = FakeKernel::new();
    k.exit(100, Exited(0));
    let mut init = root.init(k);
    let first = init.boot(Flags::default());
    init.transition(first);
    assert_eq!(init.gettys(), vec![("ttyv1".to_owned(), 101)]);
}

#[test]
fn flags_parse_like_getopt() {
    let (f, w) = Flags::parse(&strs(&["-sf", "-x", "extra"]));
    assert!(f.single && f.fast && !f.reroot);
    assert_eq!(
        w,
        strs(&["unrecognized flag '-x'", "ignoring excess argument `extra`"])
    );
    for word in ["single", "S", "s"] {
        let (f, w) = Flags::parse(&strs(&[word]));
        assert!(f.single && w.is_empty(), "{word}");
    }
    assert!(!Flags::parse(&strs(&["singles"])).0.single);
}

mod kenv_settings;
mod reroot;

/// FreeBSD revokes the console when /etc/rc, a session leader with the console as its
/// controlling terminal, exits; PID 1's own descriptor of it dies too. Its log must reach
/// the console afterwards, not only /var/log/init.log (which a read-only root cannot take).
/// The console is a real terminal (a pty); the revoke kills every descriptor of it (see
/// `kernel::fake_console`; the namespace tier does a real hang-up).
#[test]
fn the_log_reaches_the_console_after_freebsd_revokes_it() {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let root = Root::new();
    fs::create_dir(root.p("dev")).unwrap();
    let console = root.p("dev/console");
    let fallback = root.p("init.log");
    let mut k = FakeKernel::new();
    k.set_pty_console(&console).unwrap();
    let open = || {
        fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&console)
            .unwrap()
    };
    let mut before = open();
    let sink = crate::log::Sink::open(&console, &fallback);
    let init = tracing::subscriber::with_default(crate::log::pid1_subscriber(sink), || {
        // rc (100) exits: the console is revoked.
        let mut init = multi_user(&root, k);
        // A reroot with no target: two log lines, after the revoke.
        init.k.signal(Sig::Reroot);
        init.transition(State::MultiUser);
        init
    });
    assert_eq!(init.k.console_revokes(), 1);
    // Negative control: a descriptor opened before rc exited is dead, a new one works.
    let e = before.write_all(b"x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    open().write_all(b"").unwrap();
    let lines = [
        "reroot requested",
        "reroot aborted: target: vfs.root.mountfrom",
    ];
    let seen = init.k.console_text(&lines);
    for line in lines {
        assert!(
            seen.contains(line),
            "{line:?} is not on the console: {seen:?}; init.log: {:?}",
            fs::read_to_string(&fallback)
        );
    }
    let logged = fs::read_to_string(&fallback).unwrap_or_default();
    assert!(!logged.contains("reroot requested"), "{logged}");
}

/// Linux does not revoke the console when a session leader exits: no hang-up there.
#[test]
fn linux_keeps_the_console_when_rc_exits() {
    use std::io::Write;
    let root = Root::new();
    let console = root.dir.path().join("console");
    let mut k = FakeKernel::new();
    k.set_pty_console(&console)
        .unwrap()
        .set_switch_kind(crate::kernel::fake::SwitchKind::User);
    let mut still = fs::OpenOptions::new().write(true).open(&console).unwrap();
    let init = multi_user(&root, k);
    assert_eq!(init.k.console_revokes(), 0);
    still.write_all(b"still here").unwrap();
    assert!(init.k.console_text(&["still here"]).contains("still here"));
}

/// A storm of orphans costs PID 1 no file reads: a child's exit reads neither kenv (the
/// signal convention, only for a signal that asks for something) nor the kernel's console
/// list (read at each ttys scan, as getttyent does), and leaves no record behind. A SIGHUP
/// (a rescan) reads both: the count sees reads when there are some.
#[test]
fn orphans_cost_no_file_reads() {
    let root = Root::new();
    let mut init = multi_user(&root, FakeKernel::new());
    let before = init.k.table_reads();
    for pid in 5000..5100 {
        init.k.exit(pid, Exited(0));
    }
    init.transition(State::MultiUser);
    assert_eq!(init.state(), State::MultiUser);
    assert_eq!(init.k.table_reads(), before, "reads for orphans");
    init.k.signal(Sig::Hup);
    init.transition(State::MultiUser);
    assert!(init.k.table_reads() > before, "the rescan read nothing");
}
