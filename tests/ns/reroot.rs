//! Reroot on the host's kernel: reinit as PID 1 of a pid + mount namespace switches from its
//! root (a bind mount) onto ext4 images on loop devices, with a hook that starts a storage
//! daemon stand-in from the staging area.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::util::{wait_for, Sandbox};

const T: Duration = Duration::from_secs(30);
const EXEC: u32 = 0o755;
const FILE: u32 = 0o644;

/// The daemon stand-in: runs from the staging area, records every signal it can catch,
/// sleeps on a FIFO in the staging area (no file of any root stays open).
const DAEMON: &str = r#"
D="$REROOT_DIR"
cp /bin/busybox "$D/sh"
mkfifo "$D/tick"
cat > "$D/daemon.sh" <<'EOS'
D=/dev/reroot
rootstate() { st=; while read d m t o r; do [ "$m" = / ] && st=${o%%,*}; done < /proc/mounts; echo "$st"; }
for s in HUP INT QUIT USR1 USR2 TERM CONT TSTP TTIN TTOU ALRM PIPE WINCH; do
  trap "r=\$(rootstate); echo \"$s \$r\" >> $D/signals; echo \"daemon: $s with / \$r\" >> /dev/console" $s
done
exec 3<>"$D/tick"
echo $$ > "$D/daemon.pid"
while :; do read -t 1 x <&3; done
EOS
"$D/sh" "$D/daemon.sh" </dev/null >/dev/null 2>&1 &
while [ ! -s "$D/daemon.pid" ]; do sleep 0.05; done
"#;

/// /etc/rc of the first root: a service that must die at the reroot (or live on when the
/// reroot aborts).
const RC_A: &str = "#!/bin/sh\n/bin/sleep 1000 </dev/null >/dev/null 2>&1 &\necho $! > /tmp/service.pid\necho up > /tmp/rc.done\n";

/// /etc/rc of a new root: say which root this is.
fn rc_new(name: &str) -> String {
    format!("#!/bin/sh\necho {name} > /dev/reroot/booted.{name}\n")
}

/// The hook of the first root: start the daemon if it is not running, point the reroot at
/// `target`; on abort stop the daemon.
fn hook(target: &str, extra: &str) -> String {
    format!(
        "#!/bin/sh\n\
         echo \"$REROOT_PHASE $*\" >> /dev/reroot/hook.log\n\
         case \"$REROOT_PHASE\" in\n\
         prepare)\n\
           [ -s /dev/reroot/daemon.pid ] || {{ {DAEMON} }}\n\
           {extra}\n\
           /sbin/init kenv vfs.root.mountfrom=ext4:{target}\n\
           /sbin/init kenv vfs.root.mountfrom.options=rw ;;\n\
         abort) p=$(cat /dev/reroot/daemon.pid); kill -9 $p\n\
           while [ -d /proc/$p ]; do sleep 0.05; done; rm -f /dev/reroot/daemon.pid ;;\n\
         esac\n"
    )
}

fn new_root_files(name: &str) -> Vec<(&'static str, String, u32)> {
    vec![
        ("etc/rc", rc_new(name), EXEC),
        ("etc/root-name", format!("{name}\n"), FILE),
    ]
}

fn as_refs<'a>(v: &'a [(&'static str, String, u32)]) -> Vec<(&'static str, &'a str, u32)> {
    v.iter().map(|(p, t, m)| (*p, t.as_str(), *m)).collect()
}

/// A pid inside the namespace is alive (and not a zombie).
fn alive(sb: &Sandbox, pid: &str) -> bool {
    sb.read_inside(&format!("/proc/{pid}/stat"))
        .is_some_and(|s| !s.contains(") Z "))
}

fn request_reroot(sb: &Sandbox) {
    sb.signal(Signal::SIGIO);
}

/// /dev/boots once it has `n` lines (each root's rc adds its name).
fn boots(sb: &Sandbox, n: usize) -> String {
    wait_for(T, || {
        sb.read_inside("/dev/boots")
            .filter(|b| b.lines().count() >= n)
    })
    .unwrap_or_else(|| panic!("{n} boots never happened; console:\n{}", sb.console()))
}

fn daemon_pid(sb: &Sandbox) -> String {
    wait_for(T, || {
        sb.read_inside("/dev/reroot/daemon.pid")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    })
    .unwrap_or_else(|| panic!("the daemon never started; console:\n{}", sb.console()))
}

#[test]
fn reroot_switches_root_and_the_daemon_gets_no_signal() {
    let mut sb = Sandbox::new(&[("etc/rc", RC_A, EXEC)]);
    let b = new_root_files("B");
    let dev_b = sb.image("b", &as_refs(&b));
    sb.write("etc/rc.reroot", &hook(&dev_b, ""), EXEC);
    sb.boot(&[], &[]);
    sb.expect_file("tmp/rc.done", T);
    let service = sb.expect_file("tmp/service.pid", T).trim().to_owned();
    assert!(alive(&sb, &service));
    request_reroot(&sb);
    sb.expect_console("reroot #1: stage", T);
    let pid = daemon_pid(&sb);
    assert_eq!(
        wait_for(T, || sb.read_inside("/dev/reroot/booted.B")).as_deref(),
        Some("B\n"),
        "the new root's rc never ran; console:\n{}",
        sb.console()
    );
    // The root changed, PID 1 is the new root's init.
    assert_eq!(sb.read_inside("/etc/root-name").as_deref(), Some("B\n"));
    let c = sb.console();
    assert!(c.contains("switch: old root unmounted"), "{c}");
    assert!(!c.contains("detached"), "{c}");
    // The daemon: same pid, not one signal. The old service: gone.
    assert!(alive(&sb, &pid), "daemon {pid} died; console:\n{c}");
    assert_eq!(sb.read_inside("/dev/reroot/signals"), None, "{c}");
    assert!(!alive(&sb, &service), "the old root's service survived");
    // The staging area is still mounted and the old root is nowhere.
    let mi = sb.read_inside("/proc/1/mountinfo").unwrap_or_default();
    assert!(mi.contains(" /dev/reroot "), "{mi}");
    let root_lines: Vec<&str> = mi
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some("/"))
        .collect();
    assert_eq!(root_lines.len(), 1, "{mi}");
    assert!(root_lines[0].contains(&dev_b), "{mi}");
    assert_eq!(
        sb.read_inside("/dev/reroot/hook.log").as_deref(),
        Some("prepare autoboot\n")
    );
}

/// A -> B -> A: both roots are images; each one's hook points the reroot at the other
/// (kenv `next.A`, `next.B`). The daemon started by A's first reroot serves through both.
#[test]
fn a_to_b_to_a_keeps_the_daemon_that_serves_the_current_root() {
    let mut sb = Sandbox::new(&[]);
    let next = "$(/sbin/init kenv next.$(cat /etc/root-name))";
    let root = |name: &str| {
        vec![
            (
                "etc/rc",
                format!("#!/bin/sh\necho {name} >> /dev/boots\n/bin/sleep 1000 &\n"),
                EXEC,
            ),
            ("etc/root-name", format!("{name}\n"), FILE),
            ("etc/rc.reroot", hook(next, ""), EXEC),
        ]
    };
    let dev_a = sb.image("a", &as_refs(&root("A")));
    let dev_b = sb.image("b", &as_refs(&root("B")));
    sb.boot_from(&dev_a);
    sb.boot(
        &[],
        &[&format!("next.A={dev_b}"), &format!("next.B={dev_a}")],
    );
    let boots = |n: usize| boots(&sb, n);
    assert_eq!(boots(1), "A\n");
    request_reroot(&sb);
    assert_eq!(boots(2), "A\nB\n");
    let pid = daemon_pid(&sb);
    request_reroot(&sb);
    assert_eq!(boots(3), "A\nB\nA\n");
    sb.expect_console("reroot #2: stage", T);
    assert_eq!(sb.read_inside("/etc/root-name").as_deref(), Some("A\n"));
    assert_eq!(daemon_pid(&sb), pid);
    assert!(alive(&sb, &pid), "console:\n{}", sb.console());
    assert_eq!(sb.read_inside("/dev/reroot/signals"), None);
    let c = sb.console();
    assert!(c.contains("reusing the staging area"), "{c}");
    assert_eq!(c.matches("switch: old root unmounted").count(), 2, "{c}");
}

/// Reroot once, on a real kernel: A reroots to B asking for confirmation within 2 s. B's rc
/// does not confirm: B's reinit reroots back to A (the root it came from, read from the
/// mount table), whose rc runs again. Negative control: when B's rc confirms, B stays.
#[test]
fn an_unconfirmed_new_root_falls_back_to_the_previous_one() {
    for confirm in [false, true] {
        let mut sb = Sandbox::new(&[]);
        let next = "$(/sbin/init kenv next.$(cat /etc/root-name))";
        let root = |name: &str, extra: &str| {
            vec![
                (
                    "etc/rc",
                    format!("#!/bin/sh\necho {name} >> /dev/boots\n{extra}\n"),
                    EXEC,
                ),
                ("etc/root-name", format!("{name}\n"), FILE),
                ("etc/rc.reroot", hook(next, ""), EXEC),
            ]
        };
        let b_rc = if confirm { "/sbin/init confirm" } else { "" };
        let dev_a = sb.image("a", &as_refs(&root("A", "")));
        let dev_b = sb.image("b", &as_refs(&root("B", b_rc)));
        sb.boot_from(&dev_a);
        sb.boot(
            &[],
            &[
                &format!("next.A={dev_b}"),
                "next.B=/dev/nothing",
                "reinit.reroot_confirm=2",
            ],
        );
        let boots = |n: usize| boots(&sb, n);
        assert_eq!(boots(1), "A\n");
        request_reroot(&sb);
        assert_eq!(boots(2), "A\nB\n");
        if confirm {
            sb.expect_console("confirmed", T);
            std::thread::sleep(Duration::from_secs(3));
            assert_eq!(boots(2), "A\nB\n", "console:\n{}", sb.console());
            assert_eq!(sb.read_inside("/etc/root-name").as_deref(), Some("B\n"));
            continue;
        }
        assert_eq!(boots(3), "A\nB\nA\n");
        sb.expect_console(
            &format!(
                "reroot #1 to ext4:{dev_b} not confirmed within 2 s: falling back to ext4:{dev_a}"
            ),
            T,
        );
        assert_eq!(sb.read_inside("/etc/root-name").as_deref(), Some("A\n"));
        let log = sb.read_inside("/dev/reroot/hook.log").unwrap_or_default();
        assert!(log.contains("prepare autoboot"), "{log}");
        let record = sb
            .read_inside("/dev/reroot/reroot.state")
            .unwrap_or_default();
        assert!(
            record.contains("count=2") && record.contains("fallback=1"),
            "{record}"
        );
    }
}

/// Negative control for the survivor rule: the same daemon started from the old root (not
/// from the staging area) is an ordinary process: it gets SIGTERM, then SIGKILL.
#[test]
fn a_daemon_outside_the_staging_area_is_stopped() {
    let mut sb = Sandbox::new(&[("etc/rc", RC_A, EXEC)]);
    let b = new_root_files("B");
    let dev_b = sb.image("b", &as_refs(&b));
    let outside =
        hook(&dev_b, "").replace("\"$D/sh\" \"$D/daemon.sh\"", "/bin/sh \"$D/daemon.sh\"");
    assert_ne!(outside, hook(&dev_b, ""));
    sb.write("etc/rc.reroot", &outside, EXEC);
    sb.boot(&[], &[]);
    sb.expect_file("tmp/rc.done", T);
    request_reroot(&sb);
    sb.expect_console("reroot #1: stage", T);
    let pid = daemon_pid(&sb);
    assert!(!alive(&sb, &pid), "console:\n{}", sb.console());
    let got = sb.read_inside("/dev/reroot/signals").unwrap_or_default();
    assert!(got.starts_with("TERM"), "{got}");
}

/// Start A, let a reroot fail, and return the sandbox and the service's pid.
fn failing_reroot(hook_text: &str, kenv: &[&str], expect: &str) -> (Sandbox, String) {
    let mut sb = Sandbox::new(&[("etc/rc", RC_A, EXEC), ("etc/rc.reroot", hook_text, EXEC)]);
    sb.boot(&[], kenv);
    sb.expect_file("tmp/rc.done", T);
    let service = sb.expect_file("tmp/service.pid", T).trim().to_owned();
    request_reroot(&sb);
    sb.expect_console(expect, T);
    (sb, service)
}

/// After an abort: the service runs with its pid, PID 1 is still the first root's, the
/// daemon was stopped by the abort phase and the staging area is unmounted.
fn assert_old_system_runs(sb: &Sandbox, service: &str) {
    assert!(alive(sb, service), "console:\n{}", sb.console());
    assert_eq!(sb.read_inside("/etc/root-name"), None);
    let mi = sb.read_inside("/proc/1/mountinfo").unwrap_or_default();
    assert!(!mi.contains(" /dev/reroot "), "{mi}");
    // PID 1 still answers: a later request is acted on.
    assert!(sb.console().contains("the system keeps running"));
}

#[test]
fn hook_failure_aborts_and_every_service_keeps_its_pid() {
    let (sb, service) = failing_reroot(&hook("/dev/none", "exit 3"), &[], "reroot aborted: hook:");
    assert_old_system_runs(&sb, &service);
    assert!(sb.console().contains("exited with status 3"));
    assert!(sb.console().contains("/etc/rc.reroot (abort)"));
}

#[test]
fn hook_timeout_aborts() {
    let (sb, service) = failing_reroot(
        &hook("/dev/none", "sleep 30"),
        &["reinit.hook_timeout=1"],
        "reroot aborted: hook: timed out after 1 s",
    );
    assert_old_system_runs(&sb, &service);
}

#[test]
fn missing_device_aborts() {
    let (sb, service) = failing_reroot(
        &hook("/dev/nbd9", ""),
        &["vfs.mountroot.timeout=1"],
        "reroot aborted: target: /dev/nbd9: no such device",
    );
    assert_old_system_runs(&sb, &service);
}

#[test]
fn missing_init_aborts() {
    let mut sb = Sandbox::new(&[("etc/rc", RC_A, EXEC)]);
    let b = new_root_files("B");
    let dev_b = sb.image("b", &as_refs(&b));
    // init_path names nothing that exists in B.
    sb.write("etc/rc.reroot", &hook(&dev_b, ""), EXEC);
    sb.boot(&[], &["init_path=/sbin/nonexistent"]);
    sb.expect_file("tmp/rc.done", T);
    let service = sb.expect_file("tmp/service.pid", T).trim().to_owned();
    request_reroot(&sb);
    sb.expect_console("reroot aborted: init: no executable init", T);
    assert_old_system_runs(&sb, &service);
}

/// Negative control for the aborts above: in FreeBSD's order (stop everything first) the
/// same faults find the service already dead, and PID 1 is left in single-user mode.
#[test]
fn kill_first_order_loses_the_services_on_every_fault() {
    let kf = "reinit.reroot_order=kill-first";
    for (hook_extra, target, kenv) in [
        ("exit 3", "/dev/none", vec![kf]),
        ("sleep 30", "/dev/none", vec![kf, "reinit.hook_timeout=1"]),
        ("", "/dev/nbd9", vec![kf, "vfs.mountroot.timeout=1"]),
    ] {
        let (sb, service) = failing_reroot(&hook(target, hook_extra), &kenv, "reroot failed:");
        assert!(
            !alive(&sb, &service),
            "{kenv:?}: console:\n{}",
            sb.console()
        );
    }
    let mut sb = Sandbox::new(&[("etc/rc", RC_A, EXEC)]);
    let b = new_root_files("B");
    let dev_b = sb.image("b", &as_refs(&b));
    sb.write("etc/rc.reroot", &hook(&dev_b, ""), EXEC);
    sb.boot(&[], &["init_path=/sbin/nonexistent", kf]);
    sb.expect_file("tmp/rc.done", T);
    let service = sb.expect_file("tmp/service.pid", T).trim().to_owned();
    request_reroot(&sb);
    sb.expect_console("reroot failed: init: no executable init", T);
    assert!(!alive(&sb, &service), "console:\n{}", sb.console());
}

/// Reroot onto B (whose hook's stop phase sends the daemon SIGUSR1, then SIGKILL), with
/// `extra` files in B, then shut down (SIGINT): the sandbox and its console.
fn shut_down_on_b(extra: &[(&'static str, &str)]) -> (Sandbox, String) {
    let mut sb = Sandbox::new(&[("etc/rc", RC_A, EXEC)]);
    let mut b = new_root_files("B");
    b.push((
        "etc/rc.reroot",
        "#!/bin/sh\n[ \"$REROOT_PHASE\" = stop ] || exit 0\n\
         p=$(cat /dev/reroot/daemon.pid); kill -USR1 $p; sleep 0.3; kill -9 $p\n"
            .to_owned(),
        EXEC,
    ));
    for (path, text) in extra {
        b.push((path, (*text).to_owned(), EXEC));
    }
    let dev_b = sb.image("b", &as_refs(&b));
    sb.write("etc/rc.reroot", &hook(&dev_b, ""), EXEC);
    sb.boot(&[], &[]);
    sb.expect_file("tmp/rc.done", T);
    request_reroot(&sb);
    sb.expect_console("reroot #1: stage", T);
    wait_for(T, || sb.read_inside("/dev/reroot/booted.B")).expect("B booted");
    sb.signal(Signal::SIGINT);
    assert!(sb.wait_exit(T).is_some(), "console:\n{}", sb.console());
    let c = sb.console();
    (sb, c)
}

/// Shutdown with the root served by a survivor: the root is remounted read-only before the
/// daemon hears anything, and the image is clean afterwards.
#[test]
fn reboot_remounts_the_root_read_only_before_the_daemon_is_stopped() {
    let (sb, c) = shut_down_on_b(&[]);
    assert!(c.contains("shutdown: / remounted read-only"), "{c}");
    assert!(c.contains("daemon: USR1 with / ro"), "{c}");
    assert!(!c.contains("daemon: TERM"), "{c}");
    let fsck = std::process::Command::new("e2fsck")
        .arg("-fn")
        .arg(sb.image_path("b"))
        .output()
        .expect("e2fsck");
    assert!(
        fsck.status.success(),
        "{}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
}

/// The same shutdown after the new root's rc.shutdown has unmounted /proc: the process list
/// is an empty directory then, which must not read as "no survivor" (kill(-1) would reach the
/// daemon serving the root while it is still mounted read-write).
#[test]
fn a_proc_that_is_not_procfs_spares_the_survivor() {
    let (_sb, c) = shut_down_on_b(&[(
        "etc/rc.shutdown",
        "#!/bin/sh\numount -l /proc && echo 'rc.shutdown: /proc unmounted' > /dev/console\n",
    )]);
    assert!(c.contains("rc.shutdown: /proc unmounted"), "{c}");
    assert!(c.contains("not procfs"), "{c}");
    assert!(c.contains("shutdown: / remounted read-only"), "{c}");
    assert!(c.contains("daemon: USR1"), "{c}");
    assert!(!c.contains("daemon: TERM"), "{c}");
}

/// Reroot with a survivor that holds something of the old root (`holds` runs in it first);
/// returns the console.
fn reroot_with_a_holder(holds: &str) -> String {
    let sb = booted_with_a_holder(holds);
    request_reroot(&sb);
    sb.expect_console("reroot #1: stage", T);
    wait_for(T, || sb.read_inside("/dev/reroot/booted.B")).expect("B booted");
    sb.console()
}

/// A booted first root whose hook starts a survivor that runs `holds` first, then sleeps
/// on the staging area's FIFO; the reroot goes to image B.
fn booted_with_a_holder(holds: &str) -> Sandbox {
    let mut sb = Sandbox::new(&[("etc/rc", RC_A, EXEC)]);
    let b = new_root_files("B");
    let dev_b = sb.image("b", &as_refs(&b));
    let holder = format!(
        "\"$D/sh\" -c '{holds}; exec 3<>/dev/reroot/tick; \
         while :; do read -t 1 x <&3; done' </dev/null >/dev/null 2>&1 &"
    );
    sb.write(
        "etc/rc.reroot",
        &hook(&dev_b, &format!("D=/dev/reroot; {holder}")),
        EXEC,
    );
    sb.boot(&[], &[]);
    sb.expect_file("tmp/rc.done", T);
    sb
}

/// A survivor whose cwd is in the old root: the old root cannot be unmounted; the holder is
/// named, the old root is made read-only (here a bind mount: only the mount, never the host's
/// filesystem under it) and detached, loudly.
#[test]
fn a_busy_old_root_is_reported_remounted_read_only_and_detached() {
    let c = reroot_with_a_holder("cd /var/log");
    assert!(c.contains("old root held by"), "{c}");
    assert!(c.contains("cwd /"), "{c}");
    assert!(
        c.contains("old root (a bind mount) remounted read-only"),
        "{c}"
    );
    assert!(c.contains("old root detached"), "{c}");
    assert!(!c.contains("switch: old root unmounted"), "{c}");
}

/// A file open for writing on the old root even prevents read-only: that is said, and the
/// old root is detached.
#[test]
fn an_old_root_open_for_writing_cannot_even_be_made_read_only() {
    let c = reroot_with_a_holder("exec 4>>/var/log/held");
    assert!(c.contains("fd 4 /var/log/held"), "{c}");
    assert!(c.contains("remount read-only: EBUSY"), "{c}");
    assert!(c.contains("old root detached"), "{c}");
}

/// The host pid of the process with pid `ns_pid` in the namespace of `sb`'s PID 1.
fn host_pid(sb: &Sandbox, ns_pid: &str) -> Option<String> {
    let ns = std::fs::read_link(format!("/proc/{}/ns/pid", sb.init_pid())).ok()?;
    std::fs::read_dir("/proc").ok()?.find_map(|e| {
        let pid = e.ok()?.file_name().to_string_lossy().into_owned();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let nspid = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
        let same = std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()? == ns;
        (same && nspid.split_whitespace().last() == Some(ns_pid)).then_some(pid)
    })
}

/// A survivor whose cwd is on a filesystem that no longer answers (a FUSE daemon that is
/// stuck, an NFS server that went away). Looking for holders of the old root must not stat
/// through the survivor's links: PID 1 would block for good in phase two, past the point of
/// no return.
#[test]
fn a_survivor_on_a_hung_filesystem_does_not_hang_the_switch() {
    use crate::fuse::HungFs;
    let sb = booted_with_a_holder("cd /mnt/hung && echo $$ > /dev/reroot/hung.pid");
    std::fs::create_dir_all(sb.root().join("mnt/hung")).expect("mkdir");
    let fs = HungFs::mount_in(sb.init_pid(), &sb.root().join("mnt/hung"));
    request_reroot(&sb);
    if wait_for(T, || sb.read_inside("/dev/reroot/booted.B")).is_none() {
        panic!(
            "the reroot did not finish (PID 1 blocked?); unanswered FUSE requests {:?}; console:\n{}",
            fs.unanswered(),
            sb.console()
        );
    }
    let c = sb.console();
    assert!(c.contains("reroot #1: stage"), "{c}");
    // Nothing asked the hung filesystem for anything on PID 1's way.
    assert_eq!(fs.unanswered(), Vec::<u32>::new(), "{c}");
    // Negative control: a stat through the survivor's cwd link does block.
    let ns_pid = sb.read_inside("/dev/reroot/hung.pid").expect("hung.pid");
    let pid = host_pid(&sb, ns_pid.trim()).expect("the survivor's host pid");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::metadata(format!("/proc/{pid}/cwd")).is_ok());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(2)).is_err(),
        "stat through the cwd link did not block: the filesystem does not hang"
    );
    assert!(wait_for(T, || (!fs.unanswered().is_empty()).then_some(())).is_some());
    drop(fs);
}
