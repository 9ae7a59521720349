//! Every injectable call of start-up, shutdown, the reroot (both orders, both kernels) and
//! the shutdown with survivors, failed in turn with each errno the real call can return.
//! Each run must end without a panic, in one of the documented ends, and without a signal to
//! a survivor before `/` is read-only. What each run ended in is the table in
//! `docs/faults.md`: this test renders it and fails when the committed file differs, so the
//! document cannot drift (`REINIT_WRITE_FAULTS=1` rewrites it).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::*;
use crate::kernel::fake::{Answer, Query};

/// Errnos each kind of call can return on a real kernel (Linux and FreeBSD man pages).
fn errnos(kind: CallKind) -> &'static [Errno] {
    match kind {
        CallKind::Spawn => &[Errno::EAGAIN, Errno::ENOMEM, Errno::ENOENT, Errno::EACCES],
        CallKind::Kill => &[Errno::ESRCH, Errno::EPERM],
        CallKind::Revoke => &[Errno::ENOENT, Errno::EPERM, Errno::EIO],
        CallKind::Reboot => &[Errno::EPERM, Errno::EINVAL],
        CallKind::Exec => &[Errno::ENOENT, Errno::EACCES, Errno::ENOEXEC, Errno::ENOMEM],
        CallKind::Chroot => &[Errno::ENOENT, Errno::EACCES],
        CallKind::Start => &[Errno::EPERM],
        CallKind::MountTmpfs => &[Errno::ENOSPC, Errno::ENOMEM, Errno::EBUSY],
        CallKind::Mount => &[Errno::EBUSY, Errno::EINVAL, Errno::ENODEV, Errno::EIO],
        CallKind::Unmount => &[Errno::EBUSY, Errno::EINVAL, Errno::EIO],
        CallKind::CreateFile => &[Errno::ENOSPC, Errno::ENOMEM, Errno::EEXIST, Errno::EIO],
        CallKind::SwitchRoot => &[Errno::EBUSY, Errno::EINVAL, Errno::EIO],
    }
}

/// The kind of a recorded call and a short name for it, if it can be made to fail.
fn kind_of(call: &Call) -> Option<(CallKind, String)> {
    let base = |p: &Path| {
        p.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    };
    Some(match call {
        Call::Start => (CallKind::Start, "start".into()),
        Call::Spawn(s, _) => {
            let phase = s
                .env
                .iter()
                .find(|(k, _)| k == "REROOT_PHASE")
                .map(|(_, v)| format!(" {v}"))
                .unwrap_or_default();
            (CallKind::Spawn, format!("spawn {}{phase}", base(&s.path)))
        }
        Call::Kill(t, s) => (CallKind::Kill, format!("kill {t:?} {s:?}")),
        Call::Revoke(p) => (CallKind::Revoke, format!("revoke {}", base(p))),
        Call::Reboot(h, _) => (CallKind::Reboot, format!("reboot {h:?}")),
        Call::Exec(p, _) if p.parent().is_some_and(|d| d.ends_with("dev/reroot")) => {
            (CallKind::Exec, "exec the trampoline".into())
        }
        Call::Exec(p, _) => (CallKind::Exec, format!("exec {}", p.display())),
        Call::Chroot(_) => (CallKind::Chroot, "chroot".into()),
        Call::MountTmpfs(_) => (CallKind::MountTmpfs, "mount tmpfs".into()),
        Call::Mount(_, p) => (CallKind::Mount, format!("mount on {}", base(p))),
        Call::Unmount(p, _) => (CallKind::Unmount, format!("unmount {}", base(p))),
        Call::CreateFile(p, ..) => (CallKind::CreateFile, format!("create {}", base(p))),
        Call::SwitchRoot(..) => (CallKind::SwitchRoot, "switch root".into()),
        _ => return None,
    })
}

/// A call's kind, its index among the calls of that kind, and its name.
type CallStep = (CallKind, usize, String);

/// Applies a fault to the kernel.
type Injector<'a> = &'a dyn Fn(&mut FakeKernel);

/// The calls of a run with, for each, its kind and its index among the calls of that kind
/// (the index a fault names).
fn indexed(calls: &[Call]) -> Vec<(usize, &Call, Option<CallStep>)> {
    let mut seen: BTreeMap<CallKind, usize> = BTreeMap::new();
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let k = kind_of(c).map(|(kind, label)| {
                let n = seen.entry(kind).or_default();
                *n += 1;
                (kind, *n - 1, label)
            });
            (i, c, k)
        })
        .collect()
}

/// Where a real kernel would have ended the run: at the first reboot(2) or exec of the new
/// root's init that did not fail (the fake's execs return, so what follows one is the
/// fake's, not PID 1's). `None` if the run did not get there.
fn end_at(init: &Init<FakeKernel>, rr: &Rr, fault: Fault) -> Option<(usize, String)> {
    let failed = |k: &Option<(CallKind, usize, String)>| matches!((k, fault), (Some((kind, n, _)), Some((fk, fn_, _))) if *kind == fk && *n == fn_);
    indexed(init.k.calls())
        .into_iter()
        .find_map(|(i, c, k)| match c {
            Call::Reboot(how, flush) if !failed(&k) => {
                Some((i, format!("reboot ({how:?}, {flush:?})")))
            }
            Call::Exec(p, _) if !p.starts_with(&rr.staging) && !failed(&k) => {
                Some((i, format!("the new root's {} exec'd", p.display())))
            }
            _ => None,
        })
}

/// How a run ended.
fn outcome(init: &Init<FakeKernel>, rr: &Rr, fault: Fault) -> String {
    if let Some((_, end)) = end_at(init, rr, fault) {
        return end;
    }
    let a = init.k.actions();
    let shell = a
        .iter()
        .any(|c| matches!(c, Call::Spawn(s, p) if *p > 0 && s.argv == ["-sh"]));
    if init.state() == State::MultiUser {
        match init.gettys().len() {
            1 => "multi-user goes on".into(),
            n => format!("multi-user goes on with {n} getty (respawned later)"),
        }
    } else if shell {
        "single-user shell".into()
    } else {
        format!("UNDOCUMENTED: state {}", init.state())
    }
}

/// One sequence: how to set the kernel up, and how to run it.
struct Sequence {
    name: &'static str,
    /// Whether the kernel is set up with a survivor (pid `SURVIVOR`).
    survivor: bool,
    setup: fn(&Rr) -> FakeKernel,
    /// Run it; `fault` is applied to the kernel where the sequence starts.
    run: fn(&Rr, FakeKernel, Injector) -> Init<FakeKernel>,
}

/// The n-th call of a kind (counted from where the sequence starts) fails with an errno.
type Fault = Option<(CallKind, usize, Errno)>;

/// Fail the n-th call of a kind.
fn call_fails(fault: Fault) -> impl Fn(&mut FakeKernel) {
    move |k| {
        if let Some((kind, nth, errno)) = fault {
            k.fail_after(kind, nth, errno);
        }
    }
}

fn reroot_run(rr: &Rr, k: FakeKernel, fault: &dyn Fn(&mut FakeKernel)) -> Init<FakeKernel> {
    let mut init = rr.booted(k);
    fault(&mut init.k);
    time_passes(&mut init);
    init.transition(State::MultiUser);
    init
}

/// Once the scripted events are used up, bounded waits run out as they would.
fn time_passes(init: &mut Init<FakeKernel>) {
    init.k.let_time_pass(Duration::from_secs(1), 100);
}

fn shutdown_run(rr: &Rr, k: FakeKernel, fault: &dyn Fn(&mut FakeKernel)) -> Init<FakeKernel> {
    let mut init = multi_user(&rr.root, k);
    init.k.clear_calls();
    init.k.signal(Sig::Usr2);
    fault(&mut init.k);
    time_passes(&mut init);
    init.transition(State::MultiUser);
    init
}

fn startup_run(rr: &Rr, k: FakeKernel, fault: &dyn Fn(&mut FakeKernel)) -> Init<FakeKernel> {
    let mut init = rr.root.init(k);
    fault(&mut init.k);
    time_passes(&mut init);
    let first = init.boot(Flags::default());
    init.transition(first);
    init
}

fn sequences() -> Vec<Sequence> {
    fn with(mut k: FakeKernel, order: &str) -> FakeKernel {
        k.scripts_exit(Exited(0))
            .set_kenv("reinit.reroot_order", order);
        k
    }
    vec![
        Sequence {
            name: "start-up",
            survivor: false,
            setup: |rr| {
                with(
                    rr.kernel_without_survivor(SwitchKind::Kernel),
                    "transactional",
                )
            },
            run: startup_run,
        },
        Sequence {
            name: "shutdown (power-off), no survivor",
            survivor: false,
            setup: |rr| {
                with(
                    rr.kernel_without_survivor(SwitchKind::User),
                    "transactional",
                )
            },
            run: shutdown_run,
        },
        Sequence {
            name: "shutdown (power-off) with a survivor",
            survivor: true,
            setup: |rr| {
                fs::create_dir_all(&rr.staging).unwrap();
                with(rr.kernel(SwitchKind::User), "transactional")
            },
            run: shutdown_run,
        },
        Sequence {
            name: "reroot, FreeBSD, transactional",
            survivor: true,
            setup: |rr| with(rr.kernel(SwitchKind::Kernel), "transactional"),
            run: reroot_run,
        },
        Sequence {
            name: "reroot, FreeBSD, kill-first",
            survivor: true,
            setup: |rr| with(rr.kernel(SwitchKind::Kernel), "kill-first"),
            run: reroot_run,
        },
        Sequence {
            name: "reroot, Linux, transactional",
            survivor: true,
            setup: |rr| with(rr.kernel(SwitchKind::User), "transactional"),
            run: reroot_run,
        },
        Sequence {
            name: "reroot, Linux, kill-first",
            survivor: true,
            setup: |rr| with(rr.kernel(SwitchKind::User), "kill-first"),
            run: reroot_run,
        },
    ]
}

/// The survivor got no signal before `/` was read-only: none to its pid, and, when there
/// is one, none to every process (kill(-1) reaches it too).
fn survivor_spared(init: &Init<FakeKernel>, survivor: bool) -> bool {
    let a = init.k.actions();
    let ro = a
        .iter()
        .position(|c| *c == Call::RemountRo("/".into()))
        .unwrap_or(a.len());
    !a[..ro].iter().any(|c| match c {
        Call::Kill(KillTarget::Pid(SURVIVOR), _) => true,
        Call::Kill(KillTarget::All, _) => survivor,
        _ => false,
    })
}

/// How a faulted run ended, after the checks every run must pass: no panic, no signal to
/// the survivor before `/` was read-only, one of the documented ends.
fn checked_end(
    init: &Init<FakeKernel>,
    rr: &Rr,
    fault: Fault,
    survivor: bool,
    what: &str,
) -> String {
    assert_eq!(init.panics_in_a_row, 0, "{what}: panicked");
    assert!(
        survivor_spared(init, survivor),
        "{what}: survivor signalled"
    );
    let end = outcome(init, rr, fault);
    assert!(
        !end.starts_with("UNDOCUMENTED"),
        "{what}: {end}: {:?}",
        init.k.calls().iter().rev().take(12).collect::<Vec<_>>()
    );
    end
}

/// Faults with the same end share a row.
fn group<T>(ends: &mut Vec<(String, Vec<T>)>, end: String, fault: T) {
    match ends.iter_mut().find(|(e, _)| *e == end) {
        Some((_, v)) => v.push(fault),
        None => ends.push((end, vec![fault])),
    }
}

#[test]
fn every_call_failing_with_every_errno_ends_documented() {
    let mut doc = String::from(
        "# What each failing kernel call leads to\n\n\
         Generated by `machine::tests::reroot::faults` from the fake kernel: every call that \
         can fail, in each sequence, failed in turn with each errno the real call can return \
         (the n-th call of its kind; the others succeed); then the process list and the mount \
         table answering with an error, nothing, or half of what they hold. No run panicked, and no survivor \
         received a signal before `/` was read-only. Do not edit: run the unit tests with \
         `REINIT_WRITE_FAULTS=1` to rewrite it.\n",
    );
    let mut runs = 0;
    for seq in sequences() {
        // The clean run: which calls there are to fail.
        let rr = Rr::new();
        let clean = (seq.run)(&rr, (seq.setup)(&rr), &call_fails(None));
        let clean_end = outcome(&clean, &rr, None);
        // Past the end a real kernel would have reached, the calls are the fake's.
        let last = end_at(&clean, &rr, None).map_or(usize::MAX, |(i, _)| i);
        let _ = write!(
            doc,
            "\n## {}\n\nWithout a fault: {clean_end}.\n\n| call | errno | end |\n|---|---|---|\n",
            seq.name
        );
        let steps: Vec<CallStep> = indexed(clean.k.calls())
            .into_iter()
            .filter(|(i, _, _)| *i <= last)
            .filter_map(|(_, _, k)| k)
            .collect();
        for (kind, nth, label) in steps {
            let mut ends: Vec<(String, Vec<Errno>)> = Vec::new();
            for &errno in errnos(kind) {
                let rr = Rr::new();
                let fault = Some((kind, nth, errno));
                let init = (seq.run)(&rr, (seq.setup)(&rr), &call_fails(fault));
                runs += 1;
                let what = format!("{}: {label} ({kind:?} #{nth}) {errno:?}", seq.name);
                let end = checked_end(&init, &rr, fault, seq.survivor, &what);
                group(&mut ends, end, errno);
            }
            for (end, errs) in ends {
                let names: Vec<String> = errs.iter().map(|e| format!("{e:?}")).collect();
                let _ = writeln!(doc, "| {label} | {} | {end} |", names.join(", "));
            }
        }
        // The kernel's tables answering wrongly, at every query from the start.
        for query in [Query::Processes, Query::Mounts] {
            let mut ends: Vec<(String, Vec<Answer>)> = Vec::new();
            for answer in [Answer::Error, Answer::Empty, Answer::Truncated] {
                let rr = Rr::new();
                let init = (seq.run)(&rr, (seq.setup)(&rr), &|k: &mut FakeKernel| {
                    k.misanswer(query, answer);
                });
                runs += 1;
                let what = format!("{}: {query:?} {answer:?}", seq.name);
                let end = checked_end(&init, &rr, None, seq.survivor, &what);
                group(&mut ends, end, answer);
            }
            let table = match query {
                Query::Processes => "the process list",
                Query::Mounts => "the mount table",
            };
            for (end, answers) in ends {
                let names: Vec<&str> = answers
                    .iter()
                    .map(|a| match a {
                        Answer::Error => "error (EIO)",
                        Answer::Empty => "empty",
                        Answer::Truncated => "truncated",
                    })
                    .collect();
                let _ = writeln!(
                    doc,
                    "| {table} (every answer) | {} | {end} |",
                    names.join(", ")
                );
            }
        }
    }
    let _ = write!(doc, "\n{runs} runs.\n");
    // (REINIT_FAULTS_DOC: a copy where the tests run as a user who cannot read the tree.)
    let path = std::env::var_os("REINIT_FAULTS_DOC").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/faults.md"),
        PathBuf::from,
    );
    if std::env::var_os("REINIT_WRITE_FAULTS").is_some() {
        fs::write(&path, &doc).unwrap();
    }
    let committed = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == doc,
        "docs/faults.md is not what the fault runs show; rewrite it with REINIT_WRITE_FAULTS=1 \
         and review the difference"
    );
}

/// Negative controls of the checks above: a panic in a state is seen, a signal to the
/// survivor is seen, and an end that is none of the documented ones is named so.
#[test]
fn the_fault_checks_catch_their_faults() {
    let rr = Rr::new();
    let init = reroot_run(&rr, rr.kernel(SwitchKind::Kernel), &|k: &mut FakeKernel| {
        k.panic_on_spawn(2);
    });
    assert!(init.panics_in_a_row > 0, "the injected panic was not seen");
    let rr = Rr::new();
    let mut init = rr.booted(rr.kernel(SwitchKind::Kernel));
    assert!(survivor_spared(&init, true));
    let _ = init.k.kill(KillTarget::All, KillSig::Term);
    assert!(
        !survivor_spared(&init, true),
        "kill(-1) with a survivor was not seen"
    );
    assert!(
        survivor_spared(&init, false),
        "kill(-1) with no survivor is allowed"
    );
    let _ = init.k.kill(KillTarget::Pid(SURVIVOR), KillSig::Term);
    assert!(
        !survivor_spared(&init, false),
        "a signal to the survivor was not seen"
    );
    // Stopped in the middle of a shutdown, with no reboot and no shell: not an end.
    init.current = State::Death;
    assert!(outcome(&init, &rr, None).starts_with("UNDOCUMENTED"));
}
