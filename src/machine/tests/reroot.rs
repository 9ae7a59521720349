//! Reroot against the fake kernel: the whole sequence as one ordered call list, on FreeBSD
//! (the kernel switches) and Linux (PID 1 mounts and switches), and every step failing.

use super::*;
use crate::kernel::fake::SwitchKind;
use crate::kernel::{Flush, MountSpec, ProcInfo};

const SURVIVOR: i32 = 50;
const AT_SURVIVOR: i32 = 70;
const SERVICE: i32 = 60;

/// A root with a hook, a device holding a good new root, a survivor and a service.
struct Rr {
    root: Root,
    staging: PathBuf,
    device: PathBuf,
}

impl Rr {
    fn new() -> Rr {
        let root = Root::new();
        root.write(
            "etc/rc.reroot",
            "#!/bin/sh\n[ \"$REROOT_PHASE\" = prepare ] && kenv vfs.root.mountfrom=ufs:/dev/ada0\n",
            0o755,
        );
        // The new root: an init script, its interpreter, /dev.
        root.write("new/sbin/init", "#!/bin/sh\nexec true\n", 0o755);
        root.write("new/bin/sh", "", 0o755);
        fs::create_dir_all(root.p("new/dev")).unwrap();
        fs::create_dir_all(root.p("new/proc")).unwrap();
        root.write("dev/ada0", "", 0o600);
        root.write("boot/reinit", "a static program", 0o755);
        let staging = root.paths.reroot_dir.clone();
        let device = root.p("dev/ada0");
        Rr {
            root,
            staging,
            device,
        }
    }

    fn kernel(&self, kind: SwitchKind) -> FakeKernel {
        let mut k = self.kernel_without_survivor(kind);
        k.add_process(ProcInfo {
            pid: SURVIVOR,
            name: "nbd-client".into(),
            exe: Some(self.staging.join("nbd-client")),
            argv0: Some("nbd-client".into()),
            uid: Some(0),
            exe_dev: None,
            program: None,
        });
        k
    }

    fn kernel_without_survivor(&self, kind: SwitchKind) -> FakeKernel {
        let mut k = FakeKernel::new();
        k.set_switch_kind(kind)
            .set_self_exe(&self.root.p("boot/reinit"))
            .set_kenv(
                "vfs.root.mountfrom",
                &format!("ufs:{}", self.device.display()),
            )
            .add_device(self.device.to_str().unwrap(), &self.root.p("new"))
            .add_process(ProcInfo {
                pid: SERVICE,
                name: "sshd".into(),
                exe: Some("/usr/sbin/sshd".into()),
                argv0: Some("/usr/sbin/sshd".into()),
                uid: Some(0),
                exe_dev: None,
                program: None,
            });
        k
    }

    fn s(&self, rel: &str) -> PathBuf {
        self.staging.join(rel)
    }

    /// Multi-user (rc 100, getty 101), then a reroot request.
    fn booted(&self, k: FakeKernel) -> Init<FakeKernel> {
        let mut init = multi_user(&self.root, k);
        init.k.clear_calls();
        init.k.signal(Sig::Reroot);
        init
    }

    fn probe_spec(&self) -> MountSpec {
        MountSpec {
            fstype: "ufs".into(),
            device: self.device.display().to_string(),
            options: String::new(),
            read_only: true,
        }
    }
}

fn env_of(c: &Call) -> Vec<(String, String)> {
    match c {
        Call::Spawn(s, _) => s.env.clone(),
        _ => Vec::new(),
    }
}

fn phase(c: &Call) -> Option<String> {
    env_of(c)
        .into_iter()
        .find(|(k, _)| k == "REROOT_PHASE")
        .map(|(_, v)| v)
}

/// Nothing was stopped: the getty runs with its pid, no TERM/KILL went out, the staging
/// area is gone again.
fn assert_aborted(what: &str, rr: &Rr, init: &Init<FakeKernel>) {
    assert_eq!(init.state(), State::MultiUser, "{what}");
    assert_eq!(init.gettys(), vec![("ttyv0".to_owned(), 101)], "{what}");
    // Only the timed-out hook itself (its process group) may be killed.
    let kills: Vec<&Call> = init
        .k
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Kill(..) | Call::Revoke(_) | Call::Exec(..)))
        .filter(|c| **c != Call::Kill(KillTarget::Group(102), KillSig::Kill))
        .collect();
    assert!(
        kills.is_empty(),
        "{what}: aborted reroot signalled or exec'd: {kills:?}"
    );
    assert!(
        !init.k.mounted().contains(&rr.staging),
        "{what}: staging left mounted"
    );
    assert!(init.k.mounted().is_empty(), "{what}");
}

#[test]
fn freebsd_sequence_is_one_ordered_call_list() {
    let rr = Rr::new();
    let mut init = rr.booted(rr.kernel(SwitchKind::Kernel));
    init.k.exit(102, Exited(0)).exit(103, Exited(0));
    init.transition(State::MultiUser);
    let a: Vec<Call> = init
        .k
        .actions()
        .into_iter()
        .filter(|c| *c != Call::RaiseSecurelevel)
        .collect();
    let hook = rr.root.p("etc/rc.reroot");
    let hook_argv = vec![hook.display().to_string(), "autoboot".into()];
    let trampoline = rr.s("init");
    let len = fs::metadata(rr.root.p("boot/reinit")).unwrap().len() as usize;
    let expected_head = [
        Call::MountTmpfs(rr.staging.clone()),
        Call::CreateFile(trampoline.clone(), len, 0o700),
    ];
    assert_eq!(a[..2], expected_head[..]);
    assert!(matches!(&a[2], Call::Spawn(s, 102) if s.argv == hook_argv));
    assert_eq!(phase(&a[2]).as_deref(), Some("prepare"));
    assert!(env_of(&a[2]).contains(&("REROOT_DIR".into(), rr.staging.display().to_string())));
    let rest = [
        Call::Mount(rr.probe_spec(), rr.s("root")),
        Call::Unmount(rr.s("root"), false),
        Call::Kill(KillTarget::Pid(101), KillSig::Hup),
        Call::Revoke(rr.root.p("dev/ttyv0")),
    ];
    assert_eq!(a[3..7], rest[..]);
    assert!(matches!(&a[7], Call::Spawn(s, 103) if s.argv.ends_with(&["single".into()])));
    let tail = [
        Call::Kill(KillTarget::Pid(SERVICE), KillSig::Term),
        Call::Exec(
            trampoline.clone(),
            vec![trampoline.display().to_string(), "-r".into()],
        ),
        // The fake's exec fails: phase two continues in this process, with the target
        // phase one probed.
        Call::SwitchRoot(rr.probe_spec(), rr.s("root")),
        Call::Exec("/sbin/init".into(), strs(&["/sbin/init"])),
        Call::Exec("/sbin/oinit".into(), strs(&["/sbin/oinit"])),
        Call::Exec("/sbin/init.bak".into(), strs(&["/sbin/init.bak"])),
        Call::Exec("/rescue/init".into(), strs(&["/rescue/init"])),
    ];
    assert_eq!(a[8..15], tail[..]);
    // Every init failed: the rescue shell.
    assert!(matches!(&a[15], Call::Spawn(s, 104) if s.argv == ["-sh"]));
    // The survivor was never signalled, not even SIGCONT.
    assert!(!a.iter().any(|c| matches!(
        c,
        Call::Kill(KillTarget::Pid(SURVIVOR), _) | Call::Kill(KillTarget::All, _)
    )));
    // The record for the next init.
    let rec = crate::newroot::Record::load(&rr.staging).unwrap();
    assert_eq!(rec.count, 1);
    assert_eq!(rec.target, Some(format!("ufs:{}", rr.device.display())));
    let phases: Vec<&str> = rec.timings.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        phases,
        ["stage", "hook", "probe", "shutdown", "kill", "switch"]
    );
}

/// The hook's environment is exactly four variables (nothing of PID 1's own), it runs as a
/// script (SIGHUP and SIGTSTP ignored) on the console.
#[test]
fn the_hook_gets_exactly_four_variables() {
    let rr = Rr::new();
    let mut init = rr.booted(rr.kernel(SwitchKind::Kernel));
    init.k.exit(102, Exited(0)).exit(103, Exited(0));
    init.transition(State::MultiUser);
    let hook = rr.root.p("etc/rc.reroot");
    let spec = init
        .k
        .spawns()
        .into_iter()
        .map(|(s, _)| s)
        .find(|s| s.path == hook)
        .unwrap();
    let staging = rr.staging.display().to_string();
    assert_eq!(
        spec.env,
        vec![
            ("HOME".to_owned(), "/".to_owned()),
            (
                "PATH".to_owned(),
                "/sbin:/bin:/usr/sbin:/usr/bin".to_owned()
            ),
            ("REROOT_DIR".to_owned(), staging),
            ("REROOT_PHASE".to_owned(), "prepare".to_owned()),
        ]
    );
    assert!(spec.script);
    assert_eq!(spec.stdio, Stdio::Console);
}

#[test]
fn linux_phase_two_mounts_switches_and_execs_the_init_path() {
    let rr = Rr::new();
    let mut k = rr.kernel(SwitchKind::User);
    k.set_kenv("init_path", "/sbin/missing:/sbin/init");
    let mut init = rr.root.init(k);
    fs::create_dir_all(&rr.staging).unwrap();
    let rec = crate::newroot::Record {
        count: 3,
        target: Some(format!("ufs:{}", rr.device.display())),
        options: "noatime".into(),
        read_only: false,
        timings: vec![("stage".into(), 2)],
        ..crate::newroot::Record::default()
    };
    rec.save(&rr.staging).unwrap();
    let first = init.boot(Flags {
        reroot: true,
        ..Flags::default()
    });
    assert_eq!(first, State::SingleUser);
    let spec = MountSpec {
        options: "noatime".into(),
        read_only: false,
        ..rr.probe_spec()
    };
    assert_eq!(
        init.k.actions(),
        vec![
            Call::Start,
            Call::SwitchRoot(spec, rr.s("root")),
            Call::Exec("/sbin/missing".into(), strs(&["/sbin/missing"])),
            Call::Exec("/sbin/init".into(), strs(&["/sbin/init"])),
        ]
    );
    // No init_exec / init_script / init_chroot, no early mounts in the trampoline.
    let rec = crate::newroot::Record::load(&rr.staging).unwrap();
    assert_eq!(rec.count, 3);
    assert_eq!(rec.timings.last().map(|t| t.0.as_str()), Some("switch"));
}

/// Linux phase two holds what arrives during the exec of the new root's init for it when it
/// is a reinit; a foreign new init starts with the kernel's empty mask.
#[test]
fn linux_phase_two_hands_queued_requests_to_a_reinit_only() {
    for reinit in [true, false] {
        let rr = Rr::new();
        let mut k = rr.kernel(SwitchKind::User);
        k.signal_during_exec(Sig::Usr1);
        if reinit {
            k.set_reinit(Path::new("/sbin/init"));
        }
        let mut init = rr.root.init(k);
        fs::create_dir_all(&rr.staging).unwrap();
        let rec = crate::newroot::Record {
            count: 1,
            target: Some(format!("ufs:{}", rr.device.display())),
            ..crate::newroot::Record::default()
        };
        rec.save(&rr.staging).unwrap();
        init.boot(Flags {
            reroot: true,
            ..Flags::default()
        });
        let carried: &[Vec<Sig>] = if reinit { &[vec![Sig::Usr1]] } else { &[] };
        assert_eq!(init.k.exec_carries(), carried, "reinit: {reinit}");
        assert!(init
            .k
            .actions()
            .contains(&Call::Exec("/sbin/init".into(), strs(&["/sbin/init"]))));
    }
}

#[test]
fn phase_two_failures_end_in_single_user() {
    for (kind, fail) in [
        (SwitchKind::Kernel, CallKind::SwitchRoot),
        (SwitchKind::User, CallKind::SwitchRoot),
        (SwitchKind::User, CallKind::Mount),
    ] {
        let rr = Rr::new();
        let mut k = rr.kernel(kind);
        k.fail(fail, Errno::EBUSY);
        let mut init = rr.root.init(k);
        let first = init.boot(Flags {
            reroot: true,
            ..Flags::default()
        });
        assert_eq!(first, State::SingleUser, "{kind:?} {fail:?}");
        assert!(
            !init.k.actions().iter().any(|c| matches!(c, Call::Exec(..))),
            "{kind:?} {fail:?}: exec'd an init after a failed switch"
        );
        init.transition(first);
        assert!(matches!(init.k.actions().last(), Some(Call::Spawn(s, _)) if s.argv == ["-sh"]));
    }
}

/// Phase two with no target to name (no record of phase one, no `vfs.root.mountfrom`): no
/// switch is tried, on either kernel; single-user mode on the old root.
#[test]
fn phase_two_without_a_target_does_not_switch() {
    for kind in [SwitchKind::Kernel, SwitchKind::User] {
        let root = Root::new();
        let mut k = FakeKernel::new();
        k.set_switch_kind(kind);
        let mut init = root.init(k);
        let first = init.boot(Flags {
            reroot: true,
            ..Flags::default()
        });
        assert_eq!(first, State::SingleUser, "{kind:?}");
        assert!(!switched(&init), "{kind:?}: {:?}", init.k.actions());
        // Negative control: with the target named, the same boot switches.
        let root = Root::new();
        let mut k = FakeKernel::new();
        k.set_switch_kind(kind)
            .set_kenv("vfs.root.mountfrom", "ufs:/dev/ada0");
        let mut init = root.init(k);
        init.boot(Flags {
            reroot: true,
            ..Flags::default()
        });
        assert!(switched(&init), "{kind:?}: {:?}", init.k.actions());
    }
}

#[test]
fn every_failure_before_the_point_of_no_return_aborts() {
    // (what goes wrong, whether the hook had run so its abort phase must run)
    type Setup = fn(&Rr, &mut FakeKernel);
    let cases: Vec<(&str, Setup, bool)> = vec![
        (
            "stage",
            |_, k| {
                k.fail(CallKind::MountTmpfs, Errno::ENOSPC);
            },
            false,
        ),
        (
            "copy",
            |_, k| {
                k.fail(CallKind::CreateFile, Errno::ENOSPC);
            },
            false,
        ),
        (
            "hook spawn",
            |_, k| {
                // Neither directly nor through the shell; the abort phase then starts (a
                // failed spawn hands out no pid) and ends.
                k.fail(CallKind::Spawn, Errno::ENOEXEC)
                    .fail(CallKind::Spawn, Errno::ENOEXEC)
                    .exit(102, Exited(0));
            },
            true,
        ),
        (
            "hook exit 1",
            |_, k| {
                k.exit(102, Exited(1));
            },
            true,
        ),
        (
            "hook killed",
            |_, k| {
                k.exit(102, Signaled(9));
            },
            true,
        ),
        (
            "hook timeout",
            |_, k| {
                k.tick(Duration::from_secs(61));
            },
            true,
        ),
        (
            "no target",
            |_, k| {
                k.exit(102, Exited(0));
                k.set_kenv("vfs.root.mountfrom", "");
            },
            true,
        ),
        (
            "bad target",
            |_, k| {
                k.exit(102, Exited(0));
                k.set_kenv("vfs.root.mountfrom", "ada0");
            },
            true,
        ),
        (
            "missing device",
            |_, k| {
                // The device never comes: the mountroot wait (3 s) runs out, then the abort
                // phase (103) ends.
                k.exit(102, Exited(0))
                    .tick(Duration::from_secs(4))
                    .exit(103, Exited(0));
                k.set_kenv("vfs.root.mountfrom", "ufs:/nonexistent/ada9");
            },
            true,
        ),
        (
            "mount fails",
            |_, k| {
                k.exit(102, Exited(0));
                k.fail(CallKind::Mount, Errno::EINVAL);
            },
            true,
        ),
        (
            "probe mount never answers",
            |_, k| {
                k.exit(102, Exited(0));
                k.hang_next_mount();
            },
            true,
        ),
        (
            "unmount fails",
            |_, k| {
                k.exit(102, Exited(0));
                k.fail(CallKind::Unmount, Errno::EBUSY);
            },
            true,
        ),
        (
            "missing init",
            |rr, k| {
                k.exit(102, Exited(0));
                fs::remove_file(rr.root.p("new/sbin/init")).unwrap();
            },
            true,
        ),
        (
            "init not executable",
            |rr, k| {
                k.exit(102, Exited(0));
                fs::set_permissions(
                    rr.root.p("new/sbin/init"),
                    fs::Permissions::from_mode(0o644),
                )
                .unwrap();
            },
            true,
        ),
        (
            "missing interpreter",
            |rr, k| {
                k.exit(102, Exited(0));
                fs::remove_file(rr.root.p("new/bin/sh")).unwrap();
            },
            true,
        ),
        (
            "no /dev",
            |rr, k| {
                k.exit(102, Exited(0));
                fs::remove_dir(rr.root.p("new/dev")).unwrap();
            },
            true,
        ),
        (
            "no single-user shell in the new root",
            |_, k| {
                k.exit(102, Exited(0));
                k.set_kenv("init_shell", "/bin/ash");
            },
            true,
        ),
        (
            "hook not trusted",
            |rr, _| {
                fs::set_permissions(
                    rr.root.p("etc/rc.reroot"),
                    fs::Permissions::from_mode(0o777),
                )
                .unwrap();
            },
            false,
        ),
    ];
    for (what, setup, hook_ran) in cases {
        let rr = Rr::new();
        let mut init = rr.booted(rr.kernel_without_survivor(SwitchKind::Kernel));
        setup(&rr, &mut init.k);
        // The hook's abort phase (pid 103 when the prepare phase ran as 102) ends well.
        init.k.exit(103, Exited(0));
        init.transition(State::MultiUser);
        assert_aborted(what, &rr, &init);
        let mut phases: Vec<String> = init.k.calls().iter().filter_map(phase).collect();
        // A phase whose direct exec failed is tried again through the shell: one phase.
        phases.dedup();
        let want: Vec<String> = if hook_ran {
            strs(&["prepare", "abort"])
        } else {
            Vec::new()
        };
        assert_eq!(phases, want, "{what}: hook phases");
    }
}

/// Linux moves /dev into the new root through /proc/self/fd, after /proc went there: a new
/// root without /proc would fail past the point of no return (single-user with no /dev).
/// It is refused in phase one.
#[test]
fn a_linux_new_root_without_proc_is_refused_before_anything_stops() {
    let rr = Rr::new();
    fs::remove_dir(rr.root.p("new/proc")).unwrap();
    let mut init = rr.booted(rr.kernel_without_survivor(SwitchKind::User));
    init.k.exit(102, Exited(0)).exit(103, Exited(0));
    init.transition(State::MultiUser);
    assert_aborted("no /proc", &rr, &init);
    // Negative control: FreeBSD's kernel switch does not need /proc.
    let rr = Rr::new();
    fs::remove_dir(rr.root.p("new/proc")).unwrap();
    let mut init = rr.booted(rr.kernel_without_survivor(SwitchKind::Kernel));
    init.k.exit(102, Exited(0)).exit(103, Exited(0));
    init.transition(State::MultiUser);
    assert!(switched(&init));
}

fn trampoline_execs(init: &Init<FakeKernel>, rr: &Rr) -> usize {
    count(
        init,
        |c| matches!(c, Call::Exec(p, _) if *p == rr.s("init")),
    )
}

/// `init 0` while the hook runs: before the point of no return the reroot is aborted (the
/// hook's abort phase runs) and the shutdown goes ahead, on the old system.
#[test]
fn a_shutdown_asked_for_during_the_hook_aborts_the_reroot_and_happens() {
    let rr = Rr::new();
    let mut init = rr.booted(rr.kernel(SwitchKind::Kernel));
    // The hook (102) runs; SIGUSR2 arrives; the hook ends well; abort (103); rc.shutdown
    // (104); the stop phase (105).
    init.k
        .signal(Sig::Usr2)
        .exit(102, Exited(0))
        .exit(103, Exited(0))
        .exit(104, Exited(0))
        .exit(105, Exited(0));
    init.transition(State::MultiUser);
    assert_eq!(trampoline_execs(&init, &rr), 0);
    let phases: Vec<String> = init.k.calls().iter().filter_map(phase).collect();
    assert_eq!(phases, strs(&["prepare", "abort", "stop"]));
    assert_eq!(
        init.k.actions().last(),
        Some(&Call::Reboot(RebootHow::PowerOff, Flush::Nothing))
    );
}

/// `init 0` after the point of no return (while rc.shutdown single runs): the request is
/// not dropped by the exec; the power-off happens instead of the switch.
#[test]
fn a_shutdown_asked_for_after_the_point_of_no_return_is_done_instead() {
    let rr = Rr::new();
    let mut init = rr.booted(rr.kernel(SwitchKind::Kernel));
    // hook 102; the last look before the point of no return finds nothing (time passes
    // first); then rc.shutdown single (103) during which SIGUSR2 arrives; stop phase 104.
    init.k
        .exit(102, Exited(0))
        .tick(Duration::from_millis(1))
        .signal(Sig::Usr2)
        .exit(103, Exited(0))
        .exit(104, Exited(0));
    init.transition(State::MultiUser);
    assert_eq!(trampoline_execs(&init, &rr), 0, "{:?}", init.k.actions());
    assert!(!switched(&init));
    let phases: Vec<String> = init.k.calls().iter().filter_map(phase).collect();
    assert_eq!(
        phases,
        strs(&["prepare", "stop"]),
        "no abort: past the point of no return"
    );
    let a = init.k.actions();
    assert_eq!(
        a.last(),
        Some(&Call::Reboot(RebootHow::PowerOff, Flush::Nothing)),
        "{a:?}"
    );
    // The survivor was spared until / was read-only and the hook's stop phase had run.
    let ro = a.iter().position(|c| *c == Call::RemountRo("/".into()));
    let hit = a
        .iter()
        .position(|c| matches!(c, Call::Kill(KillTarget::Pid(SURVIVOR), _)));
    assert!(ro.is_some() && ro < hit, "{a:?}");
}

/// A request that arrives during the switch is acted on by the trampoline on the new root
/// (the new root's init may not be reinit); queued requests ride the trampoline exec as
/// pending signals.
#[test]
fn a_shutdown_asked_for_during_phase_two_is_done_on_the_new_root() {
    let rr = Rr::new();
    let mut init = rr.booted(rr.kernel(SwitchKind::Kernel));
    // A SIGHUP (rescan) is queued when the trampoline is exec'd: it is carried.
    init.k
        .exit(102, Exited(0))
        .signal(Sig::Hup)
        .exit(103, Exited(0));
    // The fake's trampoline exec fails: phase two runs here; SIGINT arrives meanwhile.
    init.k.signal_during_exec(Sig::Int).exit(104, Exited(0));
    init.transition(State::MultiUser);
    assert_eq!(trampoline_execs(&init, &rr), 1);
    // Held for the trampoline: the queued SIGHUP and the SIGINT that came during the exec.
    assert_eq!(init.k.exec_carries(), [vec![Sig::Hup, Sig::Int]]);
    assert!(switched(&init));
    let a = init.k.actions();
    // No init of the new root was exec'd; the reboot came instead.
    assert!(!a
        .iter()
        .any(|c| matches!(c, Call::Exec(p, _) if *p == Path::new("/sbin/init"))));
    assert_eq!(
        a.last(),
        Some(&Call::Reboot(RebootHow::Reboot, Flush::Nothing)),
        "{a:?}"
    );
}

/// A hundred alternatives whose devices never appear cost vfs.mountroot.timeout in all,
/// and a shutdown asked for meanwhile ends the probe at once.
#[test]
fn the_probe_of_many_alternatives_is_bounded_and_listens() {
    let rr = Rr::new();
    let mut k = rr.kernel_without_survivor(SwitchKind::Kernel);
    let many: Vec<String> = (0..100)
        .map(|i| format!("ufs:/nonexistent/da{i}"))
        .collect();
    k.set_kenv("vfs.root.mountfrom", &many.join(" "))
        .set_kenv("vfs.mountroot.timeout", "2");
    let mut init = rr.booted(k);
    init.k.exit(102, Exited(0));
    for _ in 0..30 {
        init.k.tick(Duration::from_millis(100));
    }
    init.k.exit(103, Exited(0));
    init.transition(State::MultiUser);
    assert_aborted("100 absent devices", &rr, &init);
    // The time waited between the hook's prepare and abort phases.
    let calls = init.k.calls();
    let at = |p: &str| calls.iter().position(|c| phase(c).as_deref() == Some(p));
    let (from, to) = (at("prepare").unwrap(), at("abort").unwrap());
    let waited: Duration = calls[from..to]
        .iter()
        .filter_map(|c| match c {
            // The probe's polls (the hook's own wait is its timeout, 60 s).
            Call::Wait(Some(d)) if *d <= Duration::from_millis(100) => Some(*d),
            _ => None,
        })
        .sum();
    assert!(waited <= Duration::from_millis(2100), "{waited:?}");
    // The same with SIGTERM arriving after 0.3 s: the probe stops, the abort phase runs,
    // and the system goes to single-user as asked.
    let rr = Rr::new();
    let mut k = rr.kernel_without_survivor(SwitchKind::Kernel);
    k.set_kenv("vfs.root.mountfrom", &many.join(" "))
        .set_kenv("vfs.mountroot.timeout", "60");
    let mut init = rr.booted(k);
    init.k.exit(102, Exited(0));
    for _ in 0..3 {
        init.k.tick(Duration::from_millis(100));
    }
    init.k
        .signal(Sig::Term)
        .exit(103, Exited(0))
        .exit(104, Exited(0));
    let t = init.k.clock();
    init.transition(State::MultiUser);
    assert!(init.k.clock() - t <= Duration::from_millis(400));
    let phases: Vec<String> = init.k.calls().iter().filter_map(phase).collect();
    assert_eq!(phases, strs(&["prepare", "abort"]));
    assert_eq!(trampoline_execs(&init, &rr), 0);
}

/// A timeout of u64::MAX seconds would overflow the deadline arithmetic (a panic in the
/// reroot lands in single-user mode, skipping the orderly path): it is refused as a value
/// and the default is used.
#[test]
fn an_absurd_timeout_is_refused_not_overflowed() {
    let rr = Rr::new();
    let mut k = rr.kernel_without_survivor(SwitchKind::Kernel);
    k.set_kenv("reinit.hook_timeout", "18446744073709551615")
        .set_kenv("vfs.mountroot.timeout", "18446744073709551615");
    let mut init = rr.booted(k);
    init.k.exit(102, Exited(0)).exit(103, Exited(0));
    init.transition(State::MultiUser);
    assert!(switched(&init), "{:?}", init.k.actions());
    assert!(init
        .k
        .calls()
        .contains(&Call::Wait(Some(Duration::from_secs(60)))));
}

/// A probe mount that never answers (a GEOM Gate or NBD device whose daemon hangs) costs
/// PID 1 vfs.mountroot.timeout, not its life: the reroot aborts, the hook's abort phase runs,
/// and the other alternatives are not tried (the kernel would hang on the same device).
#[test]
fn a_hung_probe_mount_aborts_within_the_mountroot_timeout() {
    let rr = Rr::new();
    let mut k = rr.kernel_without_survivor(SwitchKind::Kernel);
    let other = rr.root.p("dev/ada1");
    k.set_kenv("vfs.mountroot.timeout", "7").set_kenv(
        "vfs.root.mountfrom",
        &format!("ufs:{} ufs:{}", rr.device.display(), other.display()),
    );
    let mut init = rr.booted(k);
    init.k.exit(102, Exited(0)).exit(103, Exited(0));
    init.k.hang_next_mount();
    let t = init.k.clock();
    init.transition(State::MultiUser);
    assert_aborted("hung probe", &rr, &init);
    assert_eq!(init.k.clock() - t, Duration::from_secs(7));
    let mounts: Vec<&Call> = init
        .k
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Mount(..)))
        .collect();
    assert_eq!(mounts, [&Call::Mount(rr.probe_spec(), rr.s("root"))]);
    let phases: Vec<String> = init.k.calls().iter().filter_map(phase).collect();
    assert_eq!(phases, strs(&["prepare", "abort"]));
    // The given-up mount completes later; the next reroot takes it off before its probe.
    fs::create_dir_all(rr.s("root")).unwrap();
    init.k.set_mounted(&rr.s("root")).clear_calls();
    init.k
        .signal(Sig::Reroot)
        .exit(104, Exited(0))
        .exit(105, Exited(0));
    init.transition(State::MultiUser);
    let a = init.k.actions();
    let off = a
        .iter()
        .position(|c| *c == Call::Unmount(rr.s("root"), true));
    let probe = a
        .iter()
        .position(|c| *c == Call::Mount(rr.probe_spec(), rr.s("root")));
    assert!(off.is_some() && off < probe, "{a:?}");
    assert!(switched(&init), "{a:?}");
}

/// `/dev/reroot -> /etc`: the tmpfs would be mounted on /etc, hiding rc.reroot and
/// rc.shutdown, and the trampoline written there. A staging directory that is a symbolic
/// link is refused before anything is mounted or written.
#[test]
fn a_staging_directory_that_is_a_symlink_is_refused() {
    let rr = Rr::new();
    std::os::unix::fs::symlink(rr.root.p("etc"), &rr.staging).unwrap();
    let mut init = rr.booted(rr.kernel_without_survivor(SwitchKind::User));
    init.k.exit(102, Exited(0)).exit(103, Exited(0));
    init.transition(State::MultiUser);
    assert_eq!(init.state(), State::MultiUser);
    assert!(init.k.mounted().is_empty(), "{:?}", init.k.mounted());
    assert!(
        !rr.root.p("etc/init").exists(),
        "the trampoline went to /etc"
    );
    assert!(!init.k.actions().iter().any(|c| matches!(
        c,
        Call::MountTmpfs(_) | Call::CreateFile(..) | Call::Spawn(..) | Call::Kill(..)
    )));
}

/// A staging area found mounted is reused only when it is a tmpfs that only root can
/// write; it gets mode 0700 again. A world-writable one (a user could have swapped the
/// trampoline or planted a "survivor") or one of another type is refused.
#[test]
fn a_reused_staging_area_must_be_root_s_tmpfs() {
    let rr = Rr::new();
    fs::create_dir_all(&rr.staging).unwrap();
    for (mode, tmpfs, reused) in [
        (0o777, true, false),
        (0o755, false, false),
        (0o755, true, true),
    ] {
        fs::set_permissions(&rr.staging, fs::Permissions::from_mode(mode)).unwrap();
        let mut k = rr.kernel_without_survivor(SwitchKind::Kernel);
        if tmpfs {
            k.set_mounted_tmpfs(&rr.staging);
        } else {
            k.set_mounted(&rr.staging);
        }
        let mut init = rr.booted(k);
        init.k.exit(102, Exited(0)).exit(103, Exited(0));
        init.transition(State::MultiUser);
        let staged = init
            .k
            .actions()
            .iter()
            .any(|c| matches!(c, Call::CreateFile(..)));
        assert_eq!(staged, reused, "mode {mode:o}, tmpfs {tmpfs}");
        if reused {
            let m = fs::metadata(&rr.staging).unwrap().permissions().mode();
            assert_eq!(m & 0o7777, 0o700);
            let _ = fs::remove_file(rr.s("init"));
            let _ = fs::remove_file(rr.s("reroot.state"));
        } else {
            assert_eq!(init.state(), State::MultiUser);
            assert_eq!(count(&init, |c| matches!(c, Call::Spawn(..))), 0);
        }
    }
}

#[test]
fn aborted_reroot_keeps_a_staging_area_that_survivors_run_from() {
    let rr = Rr::new();
    let mut init = rr.booted(rr.kernel(SwitchKind::Kernel));
    init.k.exit(102, Exited(3)).exit(103, Exited(0));
    init.transition(State::MultiUser);
    assert_eq!(init.gettys(), vec![("ttyv0".to_owned(), 101)]);
    assert_eq!(init.k.mounted(), vec![rr.staging.clone()]);
    assert!(!init
        .k
        .calls()
        .iter()
        .any(|c| matches!(c, Call::Kill(..) | Call::Unmount(..))));
}

#[test]
fn second_reroot_reuses_the_staging_area_and_counts() {
    let rr = Rr::new();
    let mut k = rr.kernel(SwitchKind::Kernel);
    k.set_mounted_tmpfs(&rr.staging);
    fs::create_dir_all(&rr.staging).unwrap();
    fs::write(rr.s("init"), "the previous trampoline").unwrap();
    crate::newroot::Record {
        count: 1,
        ..Default::default()
    }
    .save(&rr.staging)
    .unwrap();
    let mut init = rr.booted(k);
    init.k.exit(102, Exited(0)).exit(103, Exited(0));
    init.transition(State::MultiUser);
    let a = init.k.actions();
    assert!(!a.iter().any(|c| matches!(c, Call::MountTmpfs(_))));
    assert!(a
        .iter()
        .any(|c| matches!(c, Call::CreateFile(p, _, _) if *p == rr.s("init"))));
    assert_eq!(crate::newroot::Record::load(&rr.staging).unwrap().count, 2);
    assert!(init.k.mounted().contains(&rr.staging));
}

/// Reroot once: the record keeps the root that was left and the time the new root has; a
/// RAM root, which cannot come back, arms nothing.
#[test]
fn a_reroot_that_asks_for_confirmation_records_the_root_it_leaves() {
    for (root, armed) in [
        (
            Some(MountSpec {
                fstype: "ufs".into(),
                device: "/dev/md0".into(),
                options: String::new(),
                read_only: true,
            }),
            true,
        ),
        (None, false),
    ] {
        let rr = Rr::new();
        let mut k = rr.kernel(SwitchKind::Kernel);
        k.set_kenv("reinit.reroot_confirm", "300").set_root(root);
        let mut init = rr.booted(k);
        init.k.exit(102, Exited(0)).exit(103, Exited(0));
        init.transition(State::MultiUser);
        let r = crate::newroot::Record::load(&rr.staging).unwrap();
        let got = (r.previous.as_deref(), r.previous_read_only, r.confirm_s);
        if armed {
            assert_eq!(got, (Some("ufs:/dev/md0"), true, 300));
        } else {
            assert_eq!(got, (None, false, 0));
        }
        assert!(!r.confirmed && !r.fallback);
    }
}

/// The init a reroot started that asked for confirmation (`reroot #1` to `rr.device`, 60 s,
/// previous root `dev/md0` of the test root), on a fake that has both roots.
fn unconfirmed(rr: &Rr, confirmed: bool, kind: SwitchKind) -> Init<FakeKernel> {
    let mut init = multi_user(&rr.root, unconfirmed_kernel(rr, confirmed, kind));
    init.k.clear_calls();
    init
}

/// The fake of [`unconfirmed`], before start-up.
fn unconfirmed_kernel(rr: &Rr, confirmed: bool, kind: SwitchKind) -> FakeKernel {
    let previous = rr.root.p("dev/md0");
    rr.root.write("dev/md0", "", 0o600);
    fs::create_dir_all(&rr.staging).unwrap();
    crate::newroot::Record {
        count: 1,
        target: Some(format!("ufs:{}", rr.device.display())),
        previous: Some(format!("ufs:{}", previous.display())),
        confirm_s: 60,
        confirmed,
        ..Default::default()
    }
    .save(&rr.staging)
    .unwrap();
    let mut k = rr.kernel_without_survivor(kind);
    k.set_mounted_tmpfs(&rr.staging)
        .add_device(previous.to_str().unwrap(), &rr.root.p("new"));
    k
}

/// Reroot once, Linux: a new root whose init cannot be exec'd (gone after the checks) is left
/// by the trampoline for the previous root, which is mounted and switched to in turn.
#[test]
fn a_new_root_without_an_init_falls_back_from_the_trampoline() {
    for kind in [SwitchKind::Kernel, SwitchKind::User] {
        a_new_root_without_an_init_falls_back_from_the_trampoline_on(kind);
    }
}

fn a_new_root_without_an_init_falls_back_from_the_trampoline_on(kind: SwitchKind) {
    let rr = Rr::new();
    let previous = rr.root.p("dev/md0");
    // Both roots' init is the fake's exec failure: after the fallback, single-user.
    let k = unconfirmed_kernel(&rr, false, kind);
    let mut init = rr.root.init(k);
    let first = init.boot(Flags {
        reroot: true,
        ..Flags::default()
    });
    assert_eq!(first, State::SingleUser);
    init.k.exit(100, Exited(0)).exit(101, Exited(0));
    let ((), log) = crate::testutil::logged(|| init.transition(first));
    let switches: Vec<String> = init
        .k
        .actions()
        .iter()
        .filter_map(|c| match c {
            Call::SwitchRoot(t, _) => Some(t.device.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        switches,
        [
            rr.device.display().to_string(),
            previous.display().to_string()
        ],
        "{log}"
    );
    assert!(
        log.contains("went to single-user mode: falling back to"),
        "{log}"
    );
    let r = crate::newroot::Record::load(&rr.staging).unwrap();
    assert!(r.fallback && r.count == 2, "{r:?}");
}

/// Reroot once: a new root whose rc fails is left at once for the previous root, instead of
/// single-user mode on it.
#[test]
fn a_new_root_whose_rc_fails_falls_back_instead_of_single_user() {
    for kind in [SwitchKind::Kernel, SwitchKind::User] {
        a_new_root_whose_rc_fails_falls_back_instead_of_single_user_on(kind);
    }
}

fn a_new_root_whose_rc_fails_falls_back_instead_of_single_user_on(kind: SwitchKind) {
    let rr = Rr::new();
    let mut k = unconfirmed_kernel(&rr, false, kind);
    // rc (100) fails; then the fallback's hook phases.
    k.exit(100, Exited(1))
        .exit(101, Exited(0))
        .exit(102, Exited(0));
    let mut init = rr.root.init(k);
    let first = init.boot(Flags::default());
    let ((), log) = crate::testutil::logged(|| init.transition(first));
    let previous = format!("ufs:{}", rr.root.p("dev/md0").display());
    let a = init.k.actions();
    assert!(
        a.iter().any(
            |c| matches!(c, Call::SwitchRoot(t, _) if format!("ufs:{}", t.device) == previous)
        ),
        "{a:#?}"
    );
    // No single-user shell on the failed root before the switch (the fake's exec of the
    // next init fails, so one follows the switch).
    let switch = a.iter().position(|c| matches!(c, Call::SwitchRoot(..)));
    let shell = a
        .iter()
        .position(|c| matches!(c, Call::Spawn(s, _) if s.argv == ["-sh"]));
    assert!(shell.is_none_or(|sh| Some(sh) > switch), "{a:#?}");
    assert!(
        log.contains(&format!(
            "went to single-user mode: falling back to {previous}"
        )),
        "{log}"
    );
    assert!(crate::newroot::Record::load(&rr.staging).unwrap().fallback);
}

/// Reroot once: no `reinit confirm` within the time → the previous root is probed and
/// switched to, the hook told it is a fallback; the fallback's record is never armed again.
/// Confirmed in time (negative control) → nothing happens.
#[test]
fn an_unconfirmed_new_root_falls_back_to_the_previous_root() {
    for kind in [SwitchKind::Kernel, SwitchKind::User] {
        an_unconfirmed_new_root_falls_back_to_the_previous_root_on(kind);
    }
}

fn an_unconfirmed_new_root_falls_back_to_the_previous_root_on(kind: SwitchKind) {
    let rr = Rr::new();
    let mut init = unconfirmed(&rr, false, kind);
    init.k.tick(Duration::from_secs(61));
    init.k.exit(102, Exited(0)).exit(103, Exited(0));
    init.transition(State::MultiUser);
    let a = init.k.actions();
    let previous = format!("{}", rr.root.p("dev/md0").display());
    assert!(
        a.iter()
            .any(|c| matches!(c, Call::SwitchRoot(t, _) if t.device == previous)),
        "{a:#?}"
    );
    let hook_env: Vec<_> = a
        .iter()
        .filter(|c| phase(c).is_some())
        .map(env_of)
        .collect();
    assert!(!hook_env.is_empty());
    assert!(hook_env
        .iter()
        .all(|e| e.contains(&("REROOT_FALLBACK".into(), "1".into()))));
    let r = crate::newroot::Record::load(&rr.staging).unwrap();
    assert_eq!(r.count, 2);
    assert!(
        r.fallback && r.confirm_s == 0 && r.previous.is_none(),
        "{r:?}"
    );
    assert_eq!(r.target, Some(format!("ufs:{previous}")));
    // The previous root's init (a reinit): the hook's abort phase undoes the reroot that was
    // left (100), then rc (101) is told it is a fallback; nothing is armed.
    let mut k = FakeKernel::new();
    k.set_mounted_tmpfs(&rr.staging)
        .exit(100, Exited(0))
        .exit(101, Exited(0));
    let mut back = rr.root.init(k);
    let first = back.boot(Flags::default());
    back.transition(first);
    let spawns = back.k.spawns();
    let fallback = ("REROOT_FALLBACK".to_owned(), "1".to_owned());
    assert_eq!(spawns[0].0.path, rr.root.paths.rc_reroot);
    assert!(spawns[0]
        .0
        .env
        .contains(&("REROOT_PHASE".into(), "abort".into())));
    assert!(
        !spawns[0].0.env.contains(&fallback),
        "the plain abort of reroot #1"
    );
    assert_eq!(spawns[1].0.path, rr.root.paths.rc);
    assert!(spawns[1].0.env.contains(&fallback), "{:?}", spawns[1].0.env);
    assert_eq!(back.confirm_by, None);

    let rr = Rr::new();
    let mut init = unconfirmed(&rr, true, kind);
    init.k.tick(Duration::from_secs(61));
    init.transition(State::MultiUser);
    assert!(!init
        .k
        .actions()
        .iter()
        .any(|c| matches!(c, Call::SwitchRoot(..))));
}

/// Reroot once: a fallback that fails its checks (the previous root has no init now) ends in
/// single-user mode on the unconfirmed root, with both roots named, and is not tried again.
#[test]
fn a_fallback_that_fails_its_checks_ends_in_single_user_once() {
    for kind in [SwitchKind::Kernel, SwitchKind::User] {
        let rr = Rr::new();
        let mut k = unconfirmed_kernel(&rr, false, kind);
        // The previous root's device now holds a tree without an init.
        fs::create_dir_all(rr.root.p("empty/dev")).unwrap();
        fs::create_dir_all(rr.root.p("empty/proc")).unwrap();
        k.add_device(rr.root.p("dev/md0").to_str().unwrap(), &rr.root.p("empty"));
        let mut init = multi_user(&rr.root, k);
        init.k.clear_calls();
        // The deadline; the fallback's prepare (102) and abort (103); then single-user.
        init.k.tick(Duration::from_secs(61));
        init.k.exit(102, Exited(0)).exit(103, Exited(0));
        let ((), log) = crate::testutil::logged(|| init.transition(State::MultiUser));
        let a = init.k.actions();
        assert!(
            !a.iter().any(|c| matches!(c, Call::SwitchRoot(..))),
            "{kind:?}"
        );
        assert!(
            a.iter()
                .any(|c| matches!(c, Call::Spawn(s, _) if s.argv == ["-sh"])),
            "{kind:?}: {log}"
        );
        assert_eq!(log.matches("falling back to").count(), 1, "{log}");
        let previous = format!("ufs:{}", rr.root.p("dev/md0").display());
        let new = format!("ufs:{}", rr.device.display());
        assert!(
            log.contains(&format!(
                "reroot #1 to {new} was not confirmed, and the fallback to {previous} failed"
            )),
            "{log}"
        );
        let aborts = a.iter().filter(|c| phase(c).as_deref() == Some("abort"));
        assert!(aborts
            .map(env_of)
            .all(|e| e.contains(&("REROOT_FALLBACK".into(), "1".into()))));
    }
}

/// How many of the calls so far match `f`.
fn count(init: &Init<FakeKernel>, f: impl Fn(&Call) -> bool) -> usize {
    init.k.actions().iter().filter(|c| f(c)).count()
}

#[test]
fn a_storm_of_requests_makes_one_reroot() {
    let rr = Rr::new();
    let mut init = rr.booted(rr.kernel(SwitchKind::Kernel));
    for _ in 0..9 {
        init.k.signal(Sig::Reroot);
    }
    init.k.exit(102, Exited(0)).exit(103, Exited(0));
    for _ in 0..5 {
        init.k.signal(Sig::Reroot);
    }
    init.transition(State::MultiUser);
    let stages = count(&init, |c| matches!(c, Call::MountTmpfs(_)));
    let switches = count(&init, |c| matches!(c, Call::SwitchRoot(..)));
    assert_eq!((stages, switches), (1, 1));
}

#[test]
fn requests_during_a_failing_hook_do_not_retry_the_reroot() {
    let rr = Rr::new();
    let mut init = rr.booted(rr.kernel(SwitchKind::Kernel));
    // Five more requests while the hook runs, then it fails (102), its abort phase is 103.
    for _ in 0..5 {
        init.k.signal(Sig::Reroot);
    }
    init.k.exit(102, Exited(1)).exit(103, Exited(0));
    init.transition(State::MultiUser);
    assert_eq!(count(&init, |c| phase(c).as_deref() == Some("prepare")), 1);
    assert_eq!(count(&init, |c| matches!(c, Call::SwitchRoot(..))), 0);
}

#[test]
fn kill_first_order_runs_the_hook_after_stopping_everything() {
    let rr = Rr::new();
    let mut k = rr.kernel(SwitchKind::Kernel);
    k.set_kenv("reinit.reroot_order", "kill-first");
    let mut init = rr.booted(k);
    // rc.shutdown is 102, the hook 103 and it fails: single-user on the old root.
    init.k.exit(102, Exited(0)).exit(103, Exited(1));
    init.transition(State::MultiUser);
    let a = init.k.actions();
    let kill = a
        .iter()
        .position(|c| *c == Call::Kill(KillTarget::Pid(SERVICE), KillSig::Term))
        .unwrap();
    let hook = a.iter().position(|c| phase(c).is_some()).unwrap();
    assert!(kill < hook, "{a:?}");
    assert!(!a
        .iter()
        .any(|c| matches!(c, Call::Exec(..) | Call::SwitchRoot(..))));
    assert!(matches!(a.last(), Some(Call::Spawn(s, _)) if s.argv == ["-sh"]));
    // Negative control of the transactional test above: here the service did die.
    assert!(!init.k.processes().unwrap().iter().any(|p| p.pid == SERVICE));
}

#[test]
fn a_dynamic_init_carries_its_loader_and_execs_through_it() {
    let rr = Rr::new();
    let mut k = rr.kernel(SwitchKind::Kernel);
    k.set_self_exe(Path::new("/bin/true"));
    let mut init = rr.booted(k);
    init.k.exit(102, Exited(0)).exit(103, Exited(0));
    init.transition(State::MultiUser);
    let exec = init
        .k
        .actions()
        .into_iter()
        .find_map(|c| match c {
            Call::Exec(p, argv) => Some((p, argv)),
            _ => None,
        })
        .unwrap();
    let carried = rr.s("true");
    assert!(exec.0.starts_with(&carried), "{exec:?}");
    assert!(exec
        .0
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("ld-"));
    assert_eq!(
        exec.1[1..],
        strs(&[
            "--library-path",
            carried.to_str().unwrap(),
            carried.join("true").to_str().unwrap(),
            "-r"
        ])[..]
    );
    assert!(carried.join("libc.so.6").is_file());
}

/// Build with the host's cc an ELF object shaped like a FreeBSD one: `args` name the
/// run-time linker and the libraries by their FreeBSD names.
fn cc(out: &Path, args: &[&str]) {
    let src = out.with_extension("c");
    fs::write(&src, "void _start(void) {}\n").unwrap();
    let st = std::process::Command::new("cc")
        .args(["-nostdlib", "-fPIC", "-o"])
        .arg(out)
        .arg(&src)
        .args(args)
        .status()
        .expect("cc (the host C compiler) is needed to build the FreeBSD-shaped objects");
    assert!(st.success(), "cc {args:?}");
}

/// A FreeBSD-shaped tree in the test root: /libexec/ld-elf.so.1, /lib/libc.so.7,
/// /lib/libthr.so.3 (which needs libc), and reinit linked against them as the dynamic
/// FreeBSD build is. Returns the tree and the program.
fn freebsd_tree(rr: &Rr) -> (PathBuf, PathBuf) {
    let sys = rr.root.p("fbsd");
    let lib = sys.join("lib");
    fs::create_dir_all(sys.join("libexec")).unwrap();
    fs::create_dir_all(&lib).unwrap();
    let l = lib.to_str().unwrap();
    let so = |soname: &str| format!("-Wl,-soname,{soname}");
    cc(
        &sys.join("libexec/ld-elf.so.1"),
        &["-shared", &so("ld-elf.so.1")],
    );
    cc(&lib.join("libc.so.7"), &["-shared", &so("libc.so.7")]);
    // --no-as-needed first: every library named after it is recorded as DT_NEEDED.
    let needs_libc = ["-Wl,--no-as-needed", "-L", l, "-l:libc.so.7"];
    cc(
        &lib.join("libthr.so.3"),
        &[&["-shared", &so("libthr.so.3")][..], &needs_libc[..]].concat(),
    );
    let exe = rr.root.p("boot/reinit-dynamic");
    cc(
        &exe,
        &[
            &needs_libc[..],
            &[
                "-Wl,--dynamic-linker=/libexec/ld-elf.so.1",
                "-l:libthr.so.3",
            ][..],
        ]
        .concat(),
    );
    (sys, exe)
}

/// Whether the kernel was asked to switch (FreeBSD's `reboot(RB_REROOT)`).
fn switched(init: &Init<FakeKernel>) -> bool {
    init.k
        .actions()
        .iter()
        .any(|c| matches!(c, Call::SwitchRoot(..)))
}

#[test]
fn a_dynamic_freebsd_init_carries_ld_elf_and_its_libraries() {
    let rr = Rr::new();
    let (sys, exe) = freebsd_tree(&rr);
    let mut k = rr.kernel(SwitchKind::Kernel);
    k.set_self_exe(&exe)
        .set_libraries(&sys, &["/lib", "/usr/lib"]);
    let mut init = rr.booted(k);
    init.k.exit(102, Exited(0)).exit(103, Exited(0));
    init.transition(State::MultiUser);
    let carried = rr.s("reinit-dynamic");
    let exec = init
        .k
        .actions()
        .into_iter()
        .find_map(|c| match c {
            Call::Exec(p, argv) => Some((p, argv)),
            _ => None,
        })
        .unwrap();
    // ld-elf.so.1 takes the program as its argument and the libraries from LD_LIBRARY_PATH.
    assert_eq!(exec.0, carried.join("ld-elf.so.1"));
    assert_eq!(
        exec.1,
        strs(&[
            carried.join("ld-elf.so.1").to_str().unwrap(),
            carried.join("reinit-dynamic").to_str().unwrap(),
            "-r"
        ])
    );
    assert!(
        init.k.exec_envs()[0].contains(&("LD_LIBRARY_PATH".into(), carried.display().to_string()))
    );
    for f in ["ld-elf.so.1", "libc.so.7", "libthr.so.3", "reinit-dynamic"] {
        assert!(
            carried.join(f).is_file(),
            "{f} was not carried: {:?}",
            fs::read_dir(&carried).map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
        );
    }
    // The whole FreeBSD sequence ran: the trampoline's exec failing here (fake), phase two
    // went on in this process and asked the kernel to reroot.
    assert!(switched(&init));
}

#[test]
fn a_dynamic_freebsd_init_without_its_libraries_aborts_the_reroot() {
    // Negative control: the same tree with libthr gone: nothing is stopped, the reroot
    // aborts at the copy.
    let rr = Rr::new();
    let (sys, exe) = freebsd_tree(&rr);
    fs::remove_file(sys.join("lib/libthr.so.3")).unwrap();
    let mut k = rr.kernel_without_survivor(SwitchKind::Kernel);
    k.set_self_exe(&exe)
        .set_libraries(&sys, &["/lib", "/usr/lib"]);
    let mut init = rr.booted(k);
    init.k.exit(102, Exited(0)).exit(103, Exited(0));
    init.transition(State::MultiUser);
    assert_aborted("missing libthr", &rr, &init);
    // It stopped at the copy: the hook never ran.
    assert!(!init.k.actions().iter().any(|c| phase(c).is_some()));
}

#[test]
fn shutdown_with_survivors_unmounts_and_remounts_before_stopping_them() {
    let rr = Rr::new();
    let mut k = rr.kernel(SwitchKind::Kernel);
    for m in ["/", "/usr", "/dev"] {
        k.set_mounted(Path::new(m));
    }
    k.set_mounted_tmpfs(&rr.staging).set_mounted(&rr.s("store"));
    // An '@' survivor running from the root: it may serve / (stopped after the stop phase).
    k.add_process(ProcInfo {
        pid: AT_SURVIVOR,
        name: "qemu-nbd".into(),
        exe: Some("/usr/bin/qemu-nbd".into()),
        argv0: Some("@scratch".into()),
        uid: Some(0),
        exe_dev: None,
        program: None,
    });
    let mut init = multi_user(&rr.root, k);
    init.k.clear_calls();
    // rc.shutdown is 102, the hook's stop phase 103.
    init.k
        .signal(Sig::Int)
        .exit(102, Exited(0))
        .exit(103, Exited(0));
    init.transition(State::MultiUser);
    let a: Vec<Call> = init
        .k
        .actions()
        .into_iter()
        .filter(|c| {
            !matches!(
                c,
                Call::Revoke(_)
                    | Call::RaiseSecurelevel
                    | Call::Kill(KillTarget::Pid(101), KillSig::Hup)
            )
        })
        .collect();
    assert!(matches!(&a[0], Call::Spawn(s, 102) if s.argv.ends_with(&["reboot".into()])));
    assert_eq!(a[1], Call::Kill(KillTarget::Pid(SERVICE), KillSig::Term));
    assert_eq!(
        a[2..8],
        [
            Call::Sync,
            Call::LockMemory,
            Call::Unmount("/usr".into(), false),
            Call::Sync,
            Call::RemountRo("/".into()),
            Call::Sync,
        ]
    );
    // The hook's stop phase runs with every survivor still alive: the '@' one may be the
    // daemon serving /.
    assert!(
        matches!(&a[8], Call::Spawn(s, 103) if phase(&a[8]).as_deref() == Some("stop") && s.argv[1] == "autoboot")
    );
    assert_eq!(
        a[9..],
        [
            // SIGKILL only for the one running from outside the staging area: no code of
            // its own runs (its executable may be on the device the hook just stopped).
            Call::Kill(KillTarget::Pid(AT_SURVIVOR), KillSig::Kill),
            Call::Kill(KillTarget::Pid(SURVIVOR), KillSig::Term),
            Call::Unmount(rr.s("store"), false),
            Call::Sync,
            Call::Reboot(RebootHow::Reboot, Flush::Nothing),
        ]
    );
    // FreeBSD's nmount took the update: / was read-only before any survivor was stopped.
    assert!(init.k.root_read_only(), "/ stayed read-write");
    // Negative control: nothing was sent to everyone at once.
    assert!(!init
        .k
        .calls()
        .iter()
        .any(|c| matches!(c, Call::Kill(KillTarget::All, _))));
}

#[test]
fn shutdown_with_survivors_leaves_a_read_only_root_alone() {
    let rr = Rr::new();
    let mut k = rr.kernel(SwitchKind::Kernel);
    k.set_mounted_tmpfs(&rr.staging).set_root_read_only();
    let mut init = multi_user(&rr.root, k);
    init.k
        .signal(Sig::Int)
        .exit(102, Exited(0))
        .exit(103, Exited(0));
    init.transition(State::MultiUser);
    assert!(init.k.actions().contains(&Call::RemountRo("/".into())));
    assert!(init.k.nmounts().is_empty(), "{:?}", init.k.nmounts());
    assert!(init.k.root_read_only());
}

/// At shutdown with survivors, a hook that cannot be trusted any more (or read) is not
/// skipped in silence: why its stop phase cannot run is logged.
#[test]
fn a_stop_phase_that_cannot_run_says_why() {
    let rr = Rr::new();
    let mut k = rr.kernel(SwitchKind::Kernel);
    k.set_mounted_tmpfs(&rr.staging);
    let mut init = multi_user(&rr.root, k);
    fs::set_permissions(
        rr.root.p("etc/rc.reroot"),
        fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    init.k.signal(Sig::Int).exit(102, Exited(0));
    let (_, log) = crate::testutil::logged(|| init.transition(State::MultiUser));
    assert!(
        log.contains("is group- or world-writable: the hook's stop phase cannot run"),
        "{log}"
    );
    assert_eq!(
        init.k.actions().last(),
        Some(&Call::Reboot(RebootHow::Reboot, Flush::Nothing))
    );
}

/// Linux's reboot(2) does not sync: what /etc/rc.final wrote is synced by the reboot call.
#[test]
fn the_last_sync_comes_after_rc_final() {
    let rr = Rr::new();
    rr.root.write("etc/rc.final", "#!/bin/sh\n", 0o755);
    let mut init = multi_user(&rr.root, rr.kernel_without_survivor(SwitchKind::User));
    init.k.clear_calls();
    init.k
        .signal(Sig::Int)
        .exit(102, Exited(0))
        .exit(103, Exited(0));
    init.transition(State::MultiUser);
    let a = init.k.actions();
    let fin = a
        .iter()
        .rposition(|c| matches!(c, Call::Spawn(s, _) if s.path.ends_with("etc/rc.final")))
        .expect("rc.final ran");
    assert_eq!(
        a[fin + 1..],
        [Call::Reboot(RebootHow::Reboot, Flush::Sync)],
        "{a:?}"
    );
}

/// The process list cannot be read at shutdown: nobody can be told from a survivor. No
/// kill(-1) (it would reach the daemon under a mounted root), and the survivor shutdown
/// path: / read-only and the hook's stop phase before anything is signalled.
#[test]
fn shutdown_without_a_process_list_fails_safe() {
    let rr = Rr::new();
    let mut k = rr.kernel(SwitchKind::Kernel);
    k.set_mounted_tmpfs(&rr.staging).break_process_list();
    let mut init = multi_user(&rr.root, k);
    init.k.clear_calls();
    init.k
        .signal(Sig::Int)
        .exit(102, Exited(0))
        .exit(103, Exited(0));
    init.transition(State::MultiUser);
    let a = init.k.actions();
    assert!(
        !a.iter().any(|c| matches!(
            c,
            Call::Kill(KillTarget::All, _) | Call::Kill(KillTarget::Pid(SURVIVOR), _)
        )),
        "{a:?}"
    );
    let ro = a.iter().position(|c| *c == Call::RemountRo("/".into()));
    let stop = a.iter().position(|c| phase(c).as_deref() == Some("stop"));
    assert!(ro.is_some() && ro < stop, "{a:?}");
    assert_eq!(
        a.last(),
        Some(&Call::Reboot(RebootHow::Reboot, Flush::Nothing))
    );
}

/// A process whose executable or argv[0] cannot be read may be a survivor: it is spared,
/// at the reroot and at shutdown (and the shutdown takes the survivor path).
#[test]
fn a_process_that_cannot_be_read_is_spared() {
    const HIDDEN: i32 = 80;
    let rr = Rr::new();
    let mut k = rr.kernel_without_survivor(SwitchKind::Kernel);
    k.add_process(ProcInfo {
        pid: HIDDEN,
        name: "nbd-client".into(),
        exe: None,
        exe_dev: None,
        program: None,
        argv0: None,
        uid: None,
    });
    let mut init = rr.booted(k);
    init.k.exit(102, Exited(0)).exit(103, Exited(0));
    init.transition(State::MultiUser);
    assert!(switched(&init));
    assert_eq!(
        count(&init, |c| matches!(
            c,
            Call::Kill(KillTarget::Pid(HIDDEN), _)
        )),
        0
    );
    assert_eq!(
        count(&init, |c| matches!(
            c,
            Call::Kill(KillTarget::Pid(SERVICE), _)
        )),
        1
    );
}

/// A process of a user who put a tmpfs of their own on /dev/reroot in a mount namespace
/// of theirs shows an executable under /dev/reroot; it is not on PID 1's staging tmpfs,
/// so it is no survivor: it is stopped at the reroot.
#[test]
fn a_look_alike_staging_path_makes_no_survivor() {
    use std::os::unix::fs::MetadataExt;
    const IMPOSTOR: i32 = 90;
    let rr = Rr::new();
    fs::create_dir_all(&rr.staging).unwrap();
    let dev = fs::metadata(&rr.staging).unwrap().dev();
    let mut k = rr.kernel(SwitchKind::Kernel);
    k.set_mounted_tmpfs(&rr.staging).add_process(ProcInfo {
        pid: IMPOSTOR,
        name: "x".into(),
        exe: Some(rr.s("x")),
        exe_dev: Some(dev + 1),
        program: None,
        argv0: Some("x".into()),
        uid: Some(1000),
    });
    let mut init = rr.booted(k);
    init.k.exit(102, Exited(0)).exit(103, Exited(0));
    init.transition(State::MultiUser);
    assert!(switched(&init));
    assert_eq!(
        count(&init, |c| *c
            == Call::Kill(KillTarget::Pid(IMPOSTOR), KillSig::Term)),
        1
    );
    // Negative control: the real survivor (on the staging tmpfs, or where devices are not
    // reported) hears nothing.
    assert_eq!(
        count(&init, |c| matches!(
            c,
            Call::Kill(KillTarget::Pid(SURVIVOR), _)
        )),
        0
    );
}

#[test]
fn shutdown_without_survivors_is_init_8s() {
    let rr = Rr::new();
    let mut init = multi_user(&rr.root, rr.kernel_without_survivor(SwitchKind::Kernel));
    init.k.clear_calls();
    init.k.signal(Sig::Int).exit(102, Exited(0));
    init.transition(State::MultiUser);
    let a = init.k.actions();
    assert!(a.contains(&Call::Kill(KillTarget::All, KillSig::Term)));
    assert!(!a
        .iter()
        .any(|c| matches!(c, Call::LockMemory | Call::RemountRo(_))));
    assert_eq!(
        a.last(),
        Some(&Call::Reboot(RebootHow::Reboot, Flush::Sync))
    );
}

/// An rc.reroot in nbd-init's form (master branch): it sets its own PATH, copies
/// /sbin/nbd-client to /dev/reroot itself, reads nbd_devs / nbd_N_server with kenv(1), fails
/// when no client connected and sets vfs.root.mountfrom to a ZFS dataset. It knows nothing
/// of REROOT_PHASE.
const NBD_INIT_HOOK: &str = r#"#!/bin/sh
PATH=/bin:/sbin
cp /sbin/nbd-client /dev/reroot/nbd-client
echo "Starting NBD clients:"
started=0
for dev in $(kenv nbd_devs)
do
	server=$(kenv nbd_${dev}_server)
	echo "        nbd-client ${server}"
	if /dev/reroot/nbd-client ${server}
	then
		: $((started += 1))
	fi
done
if [ ${started} -lt 1 ]
then
	echo "Failed to connect any NBD clients!"
	exit 1
fi
pool="system"
kenv vfs.root.mountfrom="zfs:${pool}/ROOT/default"
kenv zfs_be_root="${pool}/ROOT"
exit 0
"#;

/// The tree the hook runs in: busybox, a kenv(1) stand-in on a file, an nbd-client that
/// records its arguments.
fn nbd_init_tree(rr: &Rr, servers: &str) {
    let bb = Path::new("/bin/busybox");
    assert!(
        bb.exists(),
        "/bin/busybox is missing: install busybox-static"
    );
    fs::create_dir_all(rr.root.p("bin")).unwrap();
    fs::copy(bb, rr.root.p("bin/busybox")).unwrap();
    for applet in ["sh", "cp", "echo", "grep", "tail", "cat", "["] {
        let _ = std::os::unix::fs::symlink("busybox", rr.root.p("bin").join(applet));
    }
    rr.root.write(
        "bin/kenv",
        "#!/bin/sh\ncase \"$1\" in\n*=*) echo \"$1\" >> /kenv.store ;;\n\
         *) v=$(grep \"^$1=\" /kenv.store | tail -n 1); [ -n \"$v\" ] || exit 1; echo \"${v#*=}\" ;;\nesac\n",
        0o755,
    );
    rr.root.write(
        "sbin/nbd-client",
        "#!/bin/sh\necho \"$0 $*\" >> /dev/reroot/nbd.log\n[ \"$1\" != down ]\n",
        0o755,
    );
    rr.root.write("kenv.store", servers, 0o644);
    rr.root.write("etc/rc.reroot", NBD_INIT_HOOK, 0o755);
}

/// The trampoline is exec'd as PID 1 only if it is still the file PID 1 wrote: here the
/// hook replaces it (any process that could write the staging area could). PID 1 then
/// switches from its own process instead of exec'ing the replacement.
#[test]
fn a_replaced_trampoline_is_not_exec_d() {
    let rr = Rr::new();
    nbd_init_tree(&rr, "");
    rr.root.write(
        "etc/rc.reroot",
        "#!/bin/sh\n[ \"$REROOT_PHASE\" = prepare ] || exit 0\n\
         rm -f \"$REROOT_DIR/init\"\necho '#!/bin/sh' > \"$REROOT_DIR/init\"\n\
         echo 'echo pwned' >> \"$REROOT_DIR/init\"\nchmod 700 \"$REROOT_DIR/init\"\n",
        0o755,
    );
    let mut init = rr.booted(rr.kernel(SwitchKind::Kernel));
    init.k
        .run_spawns_in(rr.root.dir.path(), &rr.root.p("kenv.store"), 1)
        .exit(103, Exited(0));
    init.transition(State::MultiUser);
    let swapped = fs::read_to_string(rr.s("init")).unwrap_or_default();
    assert!(
        swapped.contains("pwned"),
        "the hook did not replace it: {swapped:?}"
    );
    assert_eq!(trampoline_execs(&init, &rr), 0, "{:?}", init.k.actions());
    assert!(
        switched(&init),
        "phase two did not run in PID 1's own process"
    );
}

#[test]
fn an_nbd_init_hook_runs_unmodified_on_freebsd() {
    let rr = Rr::new();
    nbd_init_tree(
        &rr,
        "nbd_devs=0 1\nnbd_0_server=192.0.2.30 8520\nnbd_1_server=down 1\n",
    );
    let mut k = rr.kernel(SwitchKind::Kernel);
    k.add_device("system/ROOT/default", &rr.root.p("new"));
    let mut init = rr.booted(k);
    // The hook (102) and rc.shutdown (103) run for real.
    init.k
        .run_spawns_in(rr.root.dir.path(), &rr.root.p("kenv.store"), 2);
    init.transition(State::MultiUser);
    let a: Vec<Call> = init.k.actions();
    assert_eq!(
        fs::read_to_string(rr.s("nbd.log")).unwrap(),
        "/dev/reroot/nbd-client 192.0.2.30 8520\n/dev/reroot/nbd-client down 1\n"
    );
    assert!(rr.s("nbd-client").is_file());
    let zfs = MountSpec {
        fstype: "zfs".into(),
        device: "system/ROOT/default".into(),
        options: String::new(),
        read_only: true,
    };
    assert!(
        a.contains(&Call::Mount(zfs.clone(), rr.s("root"))),
        "{a:#?}"
    );
    assert!(a.contains(&Call::SwitchRoot(zfs, rr.s("root"))));
    let rec = crate::newroot::Record::load(&rr.staging).unwrap();
    assert_eq!(rec.target.as_deref(), Some("zfs:system/ROOT/default"));
}

#[test]
fn an_nbd_init_hook_that_connects_nothing_aborts() {
    let rr = Rr::new();
    nbd_init_tree(&rr, "nbd_devs=0\nnbd_0_server=down 1\n");
    let mut init = rr.booted(rr.kernel_without_survivor(SwitchKind::Kernel));
    // prepare fails (exit 1). The hook never reads REROOT_PHASE, so it gets no abort phase:
    // it would only try to connect again.
    init.k
        .run_spawns_in(rr.root.dir.path(), &rr.root.p("kenv.store"), 2);
    init.transition(State::MultiUser);
    assert_aborted("nbd-init hook", &rr, &init);
    assert_eq!(
        fs::read_to_string(rr.s("nbd.log")).unwrap(),
        "/dev/reroot/nbd-client down 1\n"
    );
    let hooks = init
        .k
        .actions()
        .iter()
        .filter(|c| phase(c).is_some())
        .count();
    assert_eq!(hooks, 1);
}

#[test]
fn linux_sequence_mounts_the_target_itself() {
    let rr = Rr::new();
    let mut init = rr.booted(rr.kernel(SwitchKind::User));
    init.k.exit(102, Exited(0)).exit(103, Exited(0));
    init.transition(State::MultiUser);
    let a: Vec<Call> = init
        .k
        .actions()
        .into_iter()
        .filter(|c| !matches!(c, Call::Spawn(..) | Call::Revoke(_) | Call::Kill(..)))
        .collect();
    let trampoline = rr.s("init");
    let target = MountSpec {
        read_only: true,
        ..rr.probe_spec()
    };
    assert_eq!(
        a[..7],
        [
            Call::RaiseSecurelevel,
            Call::MountTmpfs(rr.staging.clone()),
            Call::CreateFile(trampoline.clone(), 16, 0o700),
            Call::Mount(rr.probe_spec(), rr.s("root")),
            Call::Unmount(rr.s("root"), false),
            Call::Exec(
                trampoline.clone(),
                vec![trampoline.display().to_string(), "-r".into()]
            ),
            // Linux's switch mounts the target itself, where the probe did.
            Call::SwitchRoot(target, rr.s("root")),
        ]
    );
    assert_eq!(a[7], Call::Exec("/sbin/init".into(), strs(&["/sbin/init"])));
}

#[test]
fn every_call_after_the_point_of_no_return_failing_ends_safely() {
    for kind in [
        CallKind::Revoke,
        CallKind::Kill,
        CallKind::Spawn,
        CallKind::Exec,
        CallKind::SwitchRoot,
        CallKind::Mount,
    ] {
        for switch in [SwitchKind::Kernel, SwitchKind::User] {
            let rr = Rr::new();
            let mut init = rr.booted(rr.kernel(switch));
            init.k.exit(102, Exited(0)).exit(103, Exited(0));
            // Spawn and Mount fail at their second use (rc.shutdown, phase two's mount),
            // the others at their first use after the point of no return.
            let skip = usize::from(matches!(kind, CallKind::Spawn | CallKind::Mount));
            init.k.fail_after(kind, skip, Errno::EIO);
            init.transition(State::MultiUser);
            let what = format!("{kind:?} {switch:?}");
            assert_eq!(init.panics_in_a_row, 0, "{what}");
            // Whatever failed, PID 1 ends in single-user mode with a shell, or exec'd an init.
            let a = init.k.actions();
            let shell = a
                .iter()
                .any(|c| matches!(c, Call::Spawn(s, p) if *p > 0 && s.argv == ["-sh"]));
            assert!(shell, "{what}: {a:#?}");
            // The survivor was never signalled.
            assert!(
                !a.iter()
                    .any(|c| matches!(c, Call::Kill(KillTarget::Pid(SURVIVOR), _))),
                "{what}"
            );
        }
    }
}

/// The shipped FreeBSD example hook, run for real (chrooted, with stand-ins for kenv(1),
/// nbd-client, pgrep, kldstat, kldload and ggatec) against the fake FreeBSD kernel.
#[test]
fn the_shipped_freebsd_hook_attaches_then_aborts_cleanly() {
    let rr = Rr::new();
    nbd_init_tree(
        &rr,
        "nbd_devs=0\nnbd_0_server=192.0.2.30 10809\nreroot_kld=zfs\n\
         reroot_mountfrom=zfs:system/ROOT/default\n",
    );
    // kenv -q NAME: quiet lookups.
    rr.root.write(
        "bin/kenv",
        "#!/bin/sh\n[ \"$1\" = -q ] && shift\ncase \"$1\" in\n*=*) echo \"$1\" >> /kenv.store ;;\n\
         *) v=$(grep \"^$1=\" /kenv.store | tail -n 1); [ -n \"$v\" ] || exit 1; echo \"${v#*=}\" ;;\nesac\n",
        0o755,
    );
    for (name, body) in [
        ("pgrep", "echo 4242"),
        ("kldstat", "exit 1"),
        ("kldload", "echo \"kldload $*\" >> /dev/reroot/tools.log"),
        ("ggatec", "echo \"ggatec $*\" >> /dev/reroot/tools.log"),
    ] {
        rr.root.write(
            &format!("sbin/{name}"),
            &format!("#!/bin/sh\n{body}\n"),
            0o755,
        );
    }
    for applet in ["rm", "kill"] {
        let _ = std::os::unix::fs::symlink("busybox", rr.root.p("bin").join(applet));
    }
    rr.root.write(
        "etc/rc.reroot",
        include_str!("../../../etc/rc.reroot"),
        0o755,
    );
    let mut k = rr.kernel_without_survivor(SwitchKind::Kernel);
    k.add_device("system/ROOT/default", &rr.root.p("new"));
    let mut init = rr.booted(k);
    // prepare (102) succeeds; the init check then fails (no init in the new root): the
    // abort phase (103) runs for real too.
    fs::remove_file(rr.root.p("new/sbin/init")).unwrap();
    init.k
        .run_spawns_in(rr.root.dir.path(), &rr.root.p("kenv.store"), 2);
    init.transition(State::MultiUser);
    assert_eq!(
        fs::read_to_string(rr.s("nbd.log")).unwrap_or_default(),
        "/dev/reroot/nbd-client 192.0.2.30 10809\n"
    );
    let tools = fs::read_to_string(rr.s("tools.log")).unwrap_or_default();
    assert_eq!(tools, "kldload zfs\nggatec destroy -f -u 0\n");
    assert_eq!(
        init.k.kenv("vfs.root.mountfrom").as_deref(),
        Some("zfs:system/ROOT/default")
    );
    // The staging area holds files, but nothing runs from it: it was unmounted.
    assert_aborted("shipped hook", &rr, &init);
}

/// The shipped FreeBSD hook's tree with stand-ins for kenv (-q, -u), kldstat/kldload,
/// `/sbin/init carry` and the iSCSI tools; `connects` says whether the session comes up.
fn shipped_hook_tree(rr: &Rr, kenv: &str, connects: bool) {
    nbd_init_tree(rr, kenv);
    rr.root.write(
        "bin/kenv",
        "#!/bin/sh
[ \"$1\" = -q ] && shift
case \"$1\" in
         -u) echo \"kenv -u $2\" >> /dev/reroot/tools.log ;;
         *=*) echo \"$1\" >> /kenv.store ;;
         *) v=$(grep \"^$1=\" /kenv.store | tail -n 1); [ -n \"$v\" ] || exit 1; echo \"${v#*=}\" ;;
esac
",
        0o755,
    );
    let state = if connects {
        "Connected: da1"
    } else {
        "Waiting for iscsid(8)"
    };
    for (name, body) in [
        ("pgrep", "echo 4242".to_owned()),
        ("kldstat", "exit 1".to_owned()),
        (
            "kldload",
            "echo \"kldload $*\" >> /dev/reroot/tools.log".to_owned(),
        ),
        (
            "ggatec",
            "echo \"ggatec $*\" >> /dev/reroot/tools.log".to_owned(),
        ),
        // `init carry --to DIR PROGRAM` prints the command of the carried copy.
        ("init", "echo \"/sbin/carried-${4##*/}\"".to_owned()),
        (
            "carried-iscsid",
            "echo \"iscsid $*\" >> /dev/reroot/tools.log".to_owned(),
        ),
        (
            "carried-iscsictl",
            format!(
                "case \"$1\" in -L) echo \"iqn.2026-11.org.example:root 192.0.2.40 {state}\" ;;
                 *) echo \"iscsictl $*\" >> /dev/reroot/tools.log ;; esac"
            ),
        ),
    ] {
        rr.root.write(
            &format!("sbin/{name}"),
            &format!("#!/bin/sh\n{body}\n"),
            0o755,
        );
    }
    for applet in ["rm", "kill", "sleep"] {
        let _ = std::os::unix::fs::symlink("busybox", rr.root.p("bin").join(applet));
    }
    rr.root.write(
        "etc/rc.reroot",
        include_str!("../../../etc/rc.reroot"),
        0o755,
    );
}

/// Run the shipped hook's tree with `kenv` through one reroot (two spawns for real: the hook
/// and the next script); returns the init and what the stand-in tools logged.
fn run_shipped_hook(rr: &Rr, kenv: &str, connects: bool) -> (Init<FakeKernel>, String) {
    shipped_hook_tree(rr, kenv, connects);
    let mut init = rr.booted(rr.kernel_without_survivor(SwitchKind::Kernel));
    init.k
        .run_spawns_in(rr.root.dir.path(), &rr.root.p("kenv.store"), 2);
    init.transition(State::MultiUser);
    let tools = fs::read_to_string(rr.s("tools.log")).unwrap_or_default();
    (init, tools)
}

/// The iSCSI keys; the new root is the test's device (it stands for /dev/da1p2).
fn iscsi_kenv(rr: &Rr) -> String {
    format!(
        "reroot_iscsi_target=iqn.2026-11.org.example:root\nreroot_iscsi_portal=192.0.2.40\n\
         reroot_iscsi_timeout=1\nreroot_mountfrom=ufs:{}\n",
        rr.device.display()
    )
}

#[test]
fn the_shipped_freebsd_hook_attaches_iscsi_and_reroots() {
    let rr = Rr::new();
    // The hook (102) and rc.shutdown (103) run for real.
    let (init, tools) = run_shipped_hook(&rr, &iscsi_kenv(&rr), true);
    assert_eq!(
        tools,
        "kldload iscsi\niscsid -P /dev/reroot/iscsid.pid\n\
         iscsictl -A -p 192.0.2.40 -t iqn.2026-11.org.example:root\n"
    );
    assert_eq!(
        init.k.kenv("vfs.root.mountfrom").as_deref(),
        Some(format!("ufs:{}", rr.device.display()).as_str())
    );
    assert!(switched(&init));
}

#[test]
fn the_shipped_freebsd_hook_aborts_when_iscsi_does_not_connect() {
    // Negative control of the test above: the session never connects.
    let rr = Rr::new();
    // prepare (102) fails, abort (103) runs; both for real.
    let (init, tools) = run_shipped_hook(&rr, &iscsi_kenv(&rr), false);
    assert!(
        tools.ends_with(
            "iscsictl -A -p 192.0.2.40 -t iqn.2026-11.org.example:root\n\
             iscsictl -R -t iqn.2026-11.org.example:root\n\
             iscsictl -R -t iqn.2026-11.org.example:root\n"
        ),
        "{tools}"
    );
    assert_aborted("iSCSI down", &rr, &init);
}

#[test]
fn the_shipped_freebsd_hook_livecd_flow_clears_init_script_and_chroot() {
    // boot/loader.conf.livecd: nothing to attach, a preloaded image as the new root.
    let rr = Rr::new();
    // The test's device stands for /dev/md1.
    let kenv = format!(
        "reroot_unset=init_script init_chroot\nreroot_mountfrom=ufs:{}\n",
        rr.device.display()
    );
    let (init, tools) = run_shipped_hook(&rr, &kenv, true);
    assert_eq!(tools, "kenv -u init_script\nkenv -u init_chroot\n");
    assert_eq!(
        init.k.kenv("vfs.root.mountfrom"),
        Some(format!("ufs:{}", rr.device.display()))
    );
    assert!(switched(&init));
}

#[test]
fn shipped_example_hooks_parse() {
    for hook in ["etc/rc.reroot", "etc/rc.reroot.linux"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(hook);
        let out = std::process::Command::new("/bin/busybox")
            .args(["sh", "-n"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{hook}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o022, 0, "{hook} must not be group/world-writable");
    }
}

mod faults;
