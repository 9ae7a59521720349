//! Namespace tier: the real `reinit` binary as PID 1 of a new pid + mount namespace on the
//! host's kernel. Every test states the end state it expects; the guarantees have negative
//! controls that show the check fails when the fault is there.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fuse;
mod reroot;
mod util;

use std::os::unix::process::CommandExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use util::{reinit_bin, sig_masks, wait_for, Sandbox};

const T: Duration = Duration::from_secs(20);

const EXEC: u32 = 0o755;
const FILE: u32 = 0o644;

/// A getty stand-in: records its argv and TERM, then becomes a long sleep.
const SLEEPY_GETTY: &str =
    "#!/bin/sh\necho \"$$ $TERM $*\" >> /tmp/getty.log\nexec /bin/sleep 1000\n";

/// A shell stand-in for single-user mode: says so, then sleeps.
const FAKE_SHELL: &str = "#!/bin/sh\necho single > /tmp/single\nexec /bin/sleep 1000\n";

// ---- boot, rc, single-user --------------------------------------------------------------

#[test]
fn rc_gets_autoboot_and_a_minimal_environment() {
    let mut sb = Sandbox::new(&[(
        "etc/rc",
        "#!/bin/sh\necho \"$*\" > /tmp/rc.args\nenv | sort > /tmp/rc.env\n",
        EXEC,
    )]);
    sb.boot(&[], &[]);
    assert_eq!(sb.expect_file("tmp/rc.args", T), "autoboot\n");
    let env = sb.expect_file("tmp/rc.env", T);
    assert!(env.contains("PATH=/sbin:/bin:/usr/sbin:/usr/bin"), "{env}");
    assert!(env.contains("HOME=/"), "{env}");
    assert!(!env.contains("CARGO"), "nothing leaks from the host: {env}");
    sb.expect_console("entering read_ttys", T);
}

#[test]
fn rc_failure_gives_single_user() {
    let mut sb = Sandbox::new(&[
        ("etc/rc", "#!/bin/sh\nexit 3\n", EXEC),
        ("bin/fakesh", FAKE_SHELL, EXEC),
    ]);
    sb.boot(&[], &["init_shell=/bin/fakesh"]);
    assert_eq!(sb.expect_file("tmp/single", T), "single\n");
    sb.expect_console("exited with status 3; going to single user mode", T);
}

#[test]
fn single_user_flag_starts_the_shell_first() {
    let mut sb = Sandbox::new(&[
        ("etc/rc", "#!/bin/sh\ntouch /tmp/rc.ran\n", EXEC),
        ("bin/fakesh", FAKE_SHELL, EXEC),
    ]);
    sb.boot(&["-s"], &["init_shell=/bin/fakesh"]);
    sb.expect_file("tmp/single", T);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        sb.read("tmp/rc.ran").is_none(),
        "rc must not run in single-user mode"
    );
}

/// Single-user mode on an insecure console asks for root's password, checked on the real
/// binary (musl's build checks yescrypt in Rust): Debian's default `$y$` hash. A wrong password
/// opens no shell (negative control); the right one does.
#[test]
fn an_insecure_console_asks_for_roots_yescrypt_password() {
    // libxcrypt's crypt("secret", "$y$j9T$saltsaltsaltsalt$").
    let shadow = "root:$y$j9T$saltsaltsaltsalt$.Zt5W26jjocuW0wIHGgB6AJelofw6GEpOypHGyow2y5:19000:0:99999:7:::\n";
    let mut sb = Sandbox::new(&[
        ("etc/rc", "#!/bin/sh\n", EXEC),
        ("etc/ttys", "console none unknown off insecure\n", FILE),
        ("etc/shadow", shadow, 0o600),
        ("bin/fakesh", FAKE_SHELL, EXEC),
    ]);
    sb.pty_console();
    sb.boot(&["-s"], &["init_shell=/bin/fakesh"]);
    sb.expect_console("Password:", T);
    sb.type_on_console("Secret\n");
    sb.expect_console("Login incorrect", T);
    assert!(
        sb.read("tmp/single").is_none(),
        "a wrong password opened the shell"
    );
    // Typed at the second prompt (the prompt discards what was typed ahead).
    wait_for(T, || {
        (sb.console().matches("Password:").count() >= 2).then_some(())
    })
    .unwrap_or_else(|| panic!("no second prompt; console:\n{}", sb.console()));
    sb.type_on_console("secret\n");
    assert_eq!(sb.expect_file("tmp/single", T), "single\n");
}

// ---- children: signal state, descriptors ------------------------------------------------

/// Boot with a getty that execs sleep (started with these signals ignored, if any): the
/// sandbox, the getty's log and pid, and its /proc status once it is sleep — its state is what
/// reinit's child setup left.
fn getty_child(ignored: &[&'static str]) -> (Sandbox, String, i32, String) {
    let mut sb = Sandbox::new(&[
        ("etc/rc", "#!/bin/sh\n", EXEC),
        ("etc/ttys", "ttyv0 \"/sbin/getty\" vt100 on\n", FILE),
        ("sbin/getty", SLEEPY_GETTY, EXEC),
    ]);
    sb.start_ignoring(ignored);
    sb.boot(&[], &[]);
    let log = sb.expect_file("tmp/getty.log", T);
    let pid: i32 = log.split_whitespace().next().unwrap().parse().unwrap();
    let status = wait_for(T, || {
        sb.read_inside(&format!("/proc/{pid}/status"))
            .filter(|s| s.contains("Name:\tsleep"))
    })
    .expect("sleep status");
    (sb, log, pid, status)
}

#[test]
fn children_start_with_empty_mask_default_dispositions_and_no_extra_fds() {
    let (sb, log, pid, status) = getty_child(&[]);
    assert_eq!(
        sig_masks(&status),
        (0, 0),
        "SigBlk/SigIgn of a child:\n{status}"
    );
    let fds = sb.exec_inside(&["/bin/ls", &format!("/proc/{pid}/fd")]);
    assert_eq!(
        String::from_utf8_lossy(&fds.stdout)
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", "1", "2"]
    );
    assert!(
        log.contains(" vt100 ttyv0"),
        "getty argv ends with the tty, TERM set: {log}"
    );
}

/// On a real tty console a script is a session leader with the console as its controlling
/// terminal: when it exits, the kernel sends SIGHUP to its process group, where its plain
/// background jobs are. init.c runs scripts with SIGHUP and SIGTSTP ignored, so rc's
/// `daemon &` survives rc; the getty (not a script) keeps the default dispositions.
#[test]
fn rc_background_jobs_survive_rc_on_a_tty_console() {
    let mut sb = Sandbox::new(&[(
        "etc/rc",
        "#!/bin/sh\n(sleep 1; echo alive > /tmp/bg; exec sleep 100) &\necho $! > /tmp/bg.pid\n",
        EXEC,
    )]);
    sb.pty_console();
    sb.boot(&[], &[]);
    let got = wait_for(T, || sb.read("tmp/bg"));
    assert_eq!(
        got.as_deref(),
        Some("alive\n"),
        "rc's background job died with rc; console:\n{}",
        sb.console()
    );
    let pid = sb.read("tmp/bg.pid").expect("bg.pid");
    let status = sb
        .read_inside(&format!("/proc/{}/status", pid.trim()))
        .expect("the job runs");
    let (_, ign) = sig_masks(&status);
    let want = (1u64 << (libc::SIGHUP - 1)) | (1u64 << (libc::SIGTSTP - 1));
    // (sh itself ignores SIGINT and SIGQUIT in a background job.)
    assert_eq!(ign & want, want, "SigIgn of a script's job:\n{status}");
}

/// An operator stops a daemon that PID 1 adopted (`kill -STOP`): it stays stopped; only a
/// script or shell PID 1 waits for is continued (init.c).
#[test]
fn an_adopted_daemon_stopped_by_the_operator_stays_stopped() {
    let mut sb = Sandbox::new(&[(
        "etc/rc",
        "#!/bin/sh\n/bin/sleep 1000 </dev/null >/dev/null 2>&1 &\necho $! > /tmp/d.pid\n",
        EXEC,
    )]);
    sb.boot(&[], &[]);
    let pid = sb.expect_file("tmp/d.pid", T).trim().to_owned();
    sb.expect_console("entering multi_user", T);
    let out = sb.exec_inside(&["/bin/kill", "-STOP", &pid]);
    assert!(out.status.success(), "{out:?}");
    std::thread::sleep(Duration::from_millis(500));
    let stat = sb
        .read_inside(&format!("/proc/{pid}/stat"))
        .expect("the daemon runs");
    assert!(stat.contains(") T "), "continued: {stat}\n{}", sb.console());
}

/// PID 1 started with signals ignored (by whatever exec'd it): its children do not inherit
/// them. PID 1 resets every disposition at its start; the child setup no longer does it
/// one signal at a time on Linux.
#[test]
fn children_do_not_inherit_what_pid_1_was_started_ignoring() {
    let (_sb, _log, _pid, status) = getty_child(&["USR1", "PIPE", "QUIT"]);
    assert_eq!(sig_masks(&status).1, 0, "SigIgn of a child:\n{status}");
}

/// Negative control: the mask check does see a blocked signal and an ignored SIGPIPE.
#[test]
fn negative_control_mask_check_sees_blocked_and_ignored_signals() {
    let mut cmd = Command::new("/bin/sleep");
    cmd.arg("5");
    // SAFETY: async-signal-safe calls only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let (blk, ign) = sig_masks(&status);
    assert_ne!(
        blk & (1 << (libc::SIGUSR1 - 1)),
        0,
        "blocked SIGUSR1 not seen"
    );
    assert_ne!(
        ign & (1 << (libc::SIGPIPE - 1)),
        0,
        "ignored SIGPIPE not seen"
    );
}

// ---- reaping ----------------------------------------------------------------------------

/// rc leaves 1,000 orphans behind; they are reparented to PID 1 and must all be reaped.
/// Each orphan lives two seconds, so it exits after its parent is gone and after PID 1 has
/// settled (in the negative control: after PID 1 stopped waiting for anything).
const STORM_RC: &str = "#!/bin/sh\ni=0\nwhile [ $i -lt 1000 ]; do ( /bin/sleep 2 & ) ; i=$((i+1)); done\necho done > /tmp/storm\n";

/// (zombies, storm orphans still running) in the namespace.
fn census(sb: &Sandbox) -> (usize, usize) {
    let out = sb.exec_inside(&[
        "/bin/sh",
        "-c",
        "s=$(cat /proc/[0-9]*/stat 2>/dev/null); echo \"$s\" | grep -c ') Z '; echo \"$s\" | grep -v '^1 (' | grep -c '(sleep) [^Z]'",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut n = text
        .split_whitespace()
        .map(|w| w.parse().unwrap_or(usize::MAX));
    (
        n.next().unwrap_or(usize::MAX),
        n.next().unwrap_or(usize::MAX),
    )
}

#[test]
fn orphan_storm_leaves_no_zombies() {
    let mut sb = Sandbox::new(&[("etc/rc", STORM_RC, EXEC)]);
    sb.boot(&[], &[]);
    sb.expect_file("tmp/storm", Duration::from_secs(120));
    // Every orphan has exited and none is left a zombie.
    let done = wait_for(Duration::from_secs(60), || {
        Some(census(&sb)).filter(|&c| c == (0, 0))
    });
    assert_eq!(done, Some((0, 0)), "(zombies, running) = {:?}", census(&sb));
}

/// Negative control: the same storm under a PID 1 that never reaps shows the zombies, so the
/// test above cannot pass by not seeing them.
#[test]
fn negative_control_storm_without_reaper_leaves_zombies() {
    let mut sb = Sandbox::new(&[("etc/storm", STORM_RC, EXEC)]);
    // PID 1 is a sh that runs the storm and then execs sleep, which never waits.
    sb.write(
        "sbin/init",
        "#!/bin/sh\n/etc/storm\nexec /bin/sleep 1000\n",
        EXEC,
    );
    sb.boot(&[], &[]);
    sb.expect_file("tmp/storm", Duration::from_secs(120));
    let seen = wait_for(Duration::from_secs(60), || {
        Some(census(&sb)).filter(|&(z, r)| r == 0 && z >= 1000)
    });
    assert!(
        seen.is_some(),
        "expected >= 1000 zombies, (zombies, running) = {:?}",
        census(&sb)
    );
}

// ---- gettys -----------------------------------------------------------------------------

#[test]
fn getty_respawn_is_throttled() {
    let mut sb = Sandbox::new(&[
        ("etc/rc", "#!/bin/sh\n", EXEC),
        (
            "etc/ttys",
            "# a comment\nttyv0 \"/sbin/quickgetty\" vt100 on\n",
            FILE,
        ),
        (
            "sbin/quickgetty",
            "#!/bin/sh\necho x >> /tmp/starts\n",
            EXEC,
        ),
    ]);
    sb.boot(&[], &[]);
    sb.expect_console(
        "getty repeating too quickly on port /dev/ttyv0, sleeping 30 secs",
        T,
    );
    // One start and three quick respawns, then the pause.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sb.read("tmp/starts").unwrap().lines().count(), 4);
}

#[test]
fn sighup_rescans_ttys_and_malformed_lines_are_reported() {
    let mut sb = Sandbox::new(&[
        ("etc/rc", "#!/bin/sh\n", EXEC),
        (
            "etc/ttys",
            "ttyv0 \"/sbin/getty a\" vt100 on\nttyv1 \"/sbin/getty b\" vt100 on\nbroken \"/sbin/getty c vt100 on\nttyv2 \"/sbin/getty d\" vt100 off\n",
            FILE,
        ),
        ("sbin/getty", SLEEPY_GETTY, EXEC),
    ]);
    sb.boot(&[], &[]);
    sb.expect_console("line 3", T);
    let log = wait_for(T, || {
        sb.read("tmp/getty.log").filter(|l| l.lines().count() == 2)
    })
    .expect("two gettys");
    assert!(log.contains("a ttyv0") && log.contains("b ttyv1"), "{log}");
    // ttyv0 changes, ttyv1 goes away, ttyv2 is turned on.
    sb.write(
        "etc/ttys",
        "ttyv0 \"/sbin/getty A\" vt100 on\nttyv2 \"/sbin/getty d\" vt100 on\n",
        FILE,
    );
    sb.signal(Signal::SIGHUP);
    let log = wait_for(T, || {
        sb.read("tmp/getty.log").filter(|l| l.lines().count() == 4)
    })
    .expect("four starts");
    assert!(log.contains("A ttyv0") && log.contains("d ttyv2"), "{log}");
    std::thread::sleep(Duration::from_millis(500));
    let ps = sb.exec_inside(&["/bin/ps", "-o", "args"]);
    let ps = String::from_utf8_lossy(&ps.stdout).to_string();
    assert_eq!(
        sb.read("tmp/getty.log").unwrap().lines().count(),
        4,
        "ttyv1 was not restarted"
    );
    assert_eq!(ps.matches("sleep 1000").count(), 2, "two gettys run:\n{ps}");
}

#[test]
fn init_q_from_inside_reaches_pid_1() {
    let mut sb = Sandbox::new(&[("etc/rc", "#!/bin/sh\n", EXEC)]);
    sb.boot(&[], &[]);
    sb.expect_console("entering multi_user", T);
    let out = sb.exec_inside(&["/sbin/init", "q"]);
    assert!(out.status.success(), "{out:?}");
    sb.expect_console("SIGHUP in multi_user", T);
    sb.expect_console("entering clean_ttys", T);
}

/// Twenty `reinit kenv` writers at once: every entry is in the store afterwards (each
/// rewrite happens under the store's lock), and a name that would read back as an unset
/// line is refused.
#[test]
fn concurrent_kenv_writers_lose_nothing() {
    let mut sb = Sandbox::new(&[("etc/rc", "#!/bin/sh\n", EXEC)]);
    sb.boot(&[], &[]);
    sb.expect_console("entering multi_user", T);
    let all = sb.exec_inside(&[
        "/bin/sh",
        "-c",
        "i=0; while [ $i -lt 20 ]; do /sbin/init kenv w$i=$i & i=$((i + 1)); done; wait",
    ]);
    assert!(all.status.success(), "{all:?}");
    let list = sb.exec_inside(&["/sbin/init", "kenv"]);
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    let missing: Vec<String> = (0..20)
        .map(|i| format!("w{i}=\"{i}\""))
        .filter(|w| !text.lines().any(|l| l == w))
        .collect();
    assert!(missing.is_empty(), "lost: {missing:?} in {text}");
    let dash = sb.exec_inside(&["/sbin/init", "kenv", "-x=1"]);
    assert!(!dash.status.success(), "{dash:?}");
    assert!(
        String::from_utf8_lossy(&dash.stderr).contains("starts with `-`"),
        "{dash:?}"
    );
}

/// A kenv store on a full /dev: the write fails with the kernel's reason, the store keeps
/// what it held, no half-written file is left beside it, and once there is room again the
/// same write succeeds. (The store's directory is a 64 KiB tmpfs here, filled up.)
#[test]
fn a_full_dev_refuses_a_kenv_write_cleanly() {
    let mut sb = Sandbox::new(&[("etc/rc", "#!/bin/sh\n", EXEC)]);
    sb.boot(&[], &[]);
    sb.expect_console("entering multi_user", T);
    let sh = |script: &str| sb.exec_inside(&["/bin/sh", "-c", script]);
    let small = sh(
        "mkdir -p /dev/.reinit && mount -t tmpfs -o size=64k,mode=700 tmpfs /dev/.reinit \
         && /sbin/init kenv kept=1",
    );
    assert!(small.status.success(), "{small:?}");
    let fill = sh("yes > /dev/.reinit/fill; \
         cat /proc/mounts | grep ' /dev/.reinit '; ls /dev/.reinit");
    let listing = String::from_utf8_lossy(&fill.stdout).into_owned();
    assert!(listing.contains("fill"), "{fill:?}");
    let value = "x".repeat(8000);
    let full = sb.exec_inside(&["/sbin/init", "kenv", &format!("lost={value}")]);
    assert_eq!(full.status.code(), Some(1), "{full:?}");
    let err = String::from_utf8_lossy(&full.stderr).into_owned();
    assert!(
        err.contains("/dev/.reinit/kenv") && err.contains("No space left on device"),
        "{err}"
    );
    let left = sh("ls -a /dev/.reinit");
    let names = String::from_utf8_lossy(&left.stdout).into_owned();
    assert!(
        names
            .lines()
            .all(|n| [".", "..", "kenv", "kenv.lock", "fill"].contains(&n)),
        "a temporary file was left: {names}"
    );
    let get = sb.exec_inside(&["/sbin/init", "kenv", "kept"]);
    assert_eq!(String::from_utf8_lossy(&get.stdout), "1\n", "{get:?}");
    // Room again: the same write goes through.
    assert!(sh("rm /dev/.reinit/fill").status.success());
    let again = sb.exec_inside(&["/sbin/init", "kenv", &format!("lost={value}")]);
    assert!(again.status.success(), "{again:?}");
    let get = sb.exec_inside(&["/sbin/init", "kenv", "lost"]);
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim_end(), value);
}

/// Only root writes the kenv store: `reinit kenv` run by another user inside the namespace
/// fails (the store's directory under /dev is root's), and nothing is set.
#[test]
fn kenv_from_another_user_is_refused() {
    let mut sb = Sandbox::new(&[("etc/rc", "#!/bin/sh\n", EXEC)]);
    sb.boot(&[], &["init_shell=/bin/sh"]);
    sb.expect_console("entering multi_user", T);
    let pid = sb.init_pid().to_string();
    let as_nobody = |args: &[&str]| {
        Command::new("/usr/bin/nsenter")
            .args([
                "-t", &pid, "-p", "-m", "-r", "-w", "-S", "65534", "-G", "65534",
            ])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let set = as_nobody(&["/sbin/init", "kenv", "init_shell=/tmp/mine"]);
    assert_eq!(set.status.code(), Some(1), "{set:?}");
    assert!(
        String::from_utf8_lossy(&set.stderr).contains("Permission denied"),
        "{set:?}"
    );
    let reroot = as_nobody(&["/sbin/init", "r"]);
    assert!(
        String::from_utf8_lossy(&reroot.stderr).contains("Operation not permitted"),
        "{reroot:?}"
    );
    // The kernel, not only the client, refuses the signal.
    let kill = as_nobody(&["/bin/busybox", "kill", "-IO", "1"]);
    assert!(!kill.status.success(), "{kill:?}");
    assert!(
        String::from_utf8_lossy(&kill.stderr).contains("Operation not permitted"),
        "{kill:?}"
    );
    // Negative control: root's own read sees the value PID 1 was booted with.
    let get = sb.exec_inside(&["/sbin/init", "kenv", "init_shell"]);
    assert_eq!(String::from_utf8_lossy(&get.stdout), "/bin/sh\n", "{get:?}");
}

/// The staging area on a real kernel: a tmpfs of root's, mode 0700, nosuid and nodev,
/// holding the trampoline mode 0700, as the hook sees them (its prepare phase fails, so the
/// reroot aborts).
#[test]
fn the_staging_area_is_a_root_only_tmpfs() {
    let hook = "#!/bin/sh\n[ \"$REROOT_PHASE\" = prepare ] || exit 0\n\
        stat -c '%a %u %F' \"$REROOT_DIR\" \"$REROOT_DIR/init\" > /tmp/stage.new\n\
        awk '$2 == \"/dev/reroot\" { print $3, $4 }' /proc/mounts >> /tmp/stage.new\n\
        mv /tmp/stage.new /tmp/stage\nexit 1\n";
    let mut sb = Sandbox::new(&[
        ("etc/rc", "#!/bin/sh\n", EXEC),
        ("etc/rc.reroot", hook, EXEC),
    ]);
    sb.boot(&[], &[]);
    sb.expect_console("entering multi_user", T);
    sb.signal(Signal::SIGIO);
    let stage = sb.expect_file("tmp/stage", T);
    let (files, mount) = stage.split_at(stage.find("tmpfs ").expect("a tmpfs"));
    assert_eq!(files, "700 0 directory\n700 0 regular file\n");
    let options: Vec<&str> = mount.trim()[6..].split(',').collect();
    for want in ["nosuid", "nodev", "mode=700"] {
        assert!(options.contains(&want), "{mount}");
    }
    sb.expect_console("reroot aborted: hook:", T);
}

#[test]
fn runtime_kenv_is_set_by_the_client_and_read_by_pid_1() {
    let mut sb = Sandbox::new(&[
        ("etc/rc", "#!/bin/sh\n", EXEC),
        ("bin/fakesh", FAKE_SHELL, EXEC),
    ]);
    sb.boot(&[], &["init_shell=/bin/nosuchshell"]);
    sb.expect_console("entering multi_user", T);
    let set = sb.exec_inside(&["/sbin/init", "kenv", "init_shell=/bin/fakesh"]);
    assert!(set.status.success(), "{set:?}");
    let get = sb.exec_inside(&["/sbin/init", "kenv", "init_shell"]);
    assert_eq!(String::from_utf8_lossy(&get.stdout), "/bin/fakesh\n");
    let bad = sb.exec_inside(&["/sbin/init", "kenv", "no such=x"]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("contains `=`, whitespace"),
        "{bad:?}"
    );
    // PID 1 reads init_shell at every use: `init 1` now reaches the new shell.
    let one = sb.exec_inside(&["/sbin/init", "1"]);
    // The client may itself be caught by the kill(-1, SIGTERM) that follows.
    assert!(
        one.status.success() || one.status.signal() == Some(libc::SIGTERM),
        "{one:?}"
    );
    assert_eq!(sb.expect_file("tmp/single", T), "single\n");
    let unset = sb.exec_inside(&["/sbin/init", "kenv", "-u", "init_shell"]);
    assert!(unset.status.success());
    let gone = sb.exec_inside(&["/sbin/init", "kenv", "init_shell"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("unable to get init_shell"));
}

#[test]
fn reinit_check_reports_and_fails_on_a_writable_hook() {
    let mut sb = Sandbox::new(&[
        ("etc/rc", "#!/bin/sh\n", EXEC),
        ("etc/ttys", "ttyv0 \"/sbin/getty\" vt100 on\n", FILE),
        ("etc/rc.reroot", "#!/bin/sh\nexit 0\n", EXEC),
    ]);
    sb.boot(&[], &["vfs.root.mountfrom=ext4:/dev/null"]);
    sb.expect_console("entering multi_user", T);
    let ok = sb.exec_inside(&["/sbin/init", "check"]);
    let text = String::from_utf8_lossy(&ok.stdout).to_string();
    assert!(ok.status.success(), "{text}");
    assert!(
        text.contains("ok   hook    /etc/rc.reroot: trusted, syntax ok"),
        "{text}"
    );
    assert!(
        text.contains("ok   target  ext4:/dev/null: /dev/null present"),
        "{text}"
    );
    // The binary as installed (static, its own unwinder) catches a fault in a state.
    assert!(
        text.contains("ok   binary  a fault in a state is caught (unwinding works)"),
        "{text}"
    );
    // Negative control: a world-writable hook is refused and check fails.
    sb.write("etc/rc.reroot", "#!/bin/sh\nexit 0\n", 0o777);
    let bad = sb.exec_inside(&["/sbin/init", "check"]);
    let text = String::from_utf8_lossy(&bad.stdout).to_string();
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(
        text.contains("is group- or world-writable: it would be refused"),
        "{text}"
    );
}

/// `reinit carry` makes a dynamic program runnable in a root that has no libraries at all;
/// the uncarried program (negative control) cannot run there.
#[test]
fn carried_program_runs_in_a_root_without_libraries() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let out = Command::new(reinit_bin())
        .args(["carry", "--to"])
        .arg(root.join("opt"))
        .arg("ls")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    // The same command with the root's paths.
    let inside = printed.trim().replace(&root.display().to_string(), "");
    assert!(inside.starts_with("/opt/ls/ld-linux"), "{inside}");
    let mut argv: Vec<&str> = inside.split_whitespace().collect();
    argv.push("/opt/ls");
    let run = Command::new("/usr/sbin/chroot")
        .arg(root)
        .args(&argv)
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    assert!(String::from_utf8_lossy(&run.stdout).contains("libc.so.6"));
    // Negative control: the program alone, without its loader and libraries.
    std::fs::copy("/bin/ls", root.join("ls")).unwrap();
    let bare = Command::new("/usr/sbin/chroot")
        .arg(root)
        .arg("/ls")
        .output()
        .unwrap();
    assert!(
        !bare.status.success(),
        "the bare program must not run there: {bare:?}"
    );
}

/// The built program carries reinit's hand-off note, so a PID 1 leaves requests pending
/// across the exec of a new init that is reinit; a foreign program (negative control) does
/// not have it.
#[test]
fn the_built_program_is_recognised_as_a_reinit() {
    assert!(reinit::carry::is_reinit(&reinit_bin()));
    for foreign in ["/bin/sh", "/etc/passwd", "/nonexistent"] {
        assert!(!reinit::carry::is_reinit(Path::new(foreign)), "{foreign}");
    }
}

#[test]
fn client_errors_are_clear() {
    let bin = reinit_bin();
    let out = Command::new(&bin)
        .arg("q")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"));
    let out = Command::new(&bin).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"));
    let out = Command::new(&bin).arg("x").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid run-level `x'"));
}

/// Bytes that are not UTF-8 in an argument: a clear error (exit 2), not a panic.
#[test]
fn a_client_argument_that_is_not_utf8_is_an_error() {
    use std::os::unix::ffi::OsStrExt;
    let out = Command::new(reinit_bin())
        .arg("kenv")
        .arg(std::ffi::OsStr::from_bytes(b"a=\xff"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("argument 2 is not valid UTF-8"), "{err}");
}

/// Linux hands init every unknown word of the kernel command line; one that is not UTF-8
/// must not stop PID 1 (its exit would panic the kernel).
#[test]
fn pid1_boots_with_an_argument_that_is_not_utf8() {
    let mut sb = Sandbox::new(&[("etc/rc", "#!/bin/sh\necho ran > /tmp/rc.ran\n", EXEC)]);
    sb.boot(&["\"$(printf 'quiet\\377')\""], &[]);
    sb.expect_file("tmp/rc.ran", T);
    assert!(
        sb.wait_exit(Duration::from_millis(200)).is_none(),
        "PID 1 ended"
    );
    assert!(sb.console().contains("quiet"), "{}", sb.console());
}

/// The kernel starts init with descriptors 0–2 closed when it cannot open an initial
/// console, and an initramfs may have no /dev/null: PID 1 must come up (Rust's own start-up
/// would abort, and PID 1 aborting panics the kernel), log, and run /etc/rc.
#[test]
fn pid1_starts_with_no_descriptors_and_no_dev_null() {
    let mut sb = Sandbox::new(&[("etc/rc", "#!/bin/sh\necho ran > /tmp/rc.ran\n", EXEC)]);
    sb.bare();
    sb.boot(&[], &[]);
    sb.expect_console("starting (pid 1)", T);
    sb.expect_file("tmp/rc.ran", T);
    assert!(
        sb.wait_exit(Duration::from_millis(200)).is_none(),
        "PID 1 ended"
    );
}

// ---- shutdown ---------------------------------------------------------------------------

#[test]
fn sigterm_runs_rc_shutdown_single_and_a_hanging_one_is_killed() {
    let mut sb = Sandbox::new(&[
        ("etc/rc", "#!/bin/sh\n", EXEC),
        (
            "etc/rc.shutdown",
            "#!/bin/sh\necho \"$1\" > /tmp/shutdown.arg\nexec /bin/sleep 1000\n",
            EXEC,
        ),
        ("bin/fakesh", FAKE_SHELL, EXEC),
    ]);
    sb.boot(
        &[],
        &["init_shell=/bin/fakesh", "reinit.shutdown_timeout=3"],
    );
    sb.expect_console("entering multi_user", T);
    sb.signal(Signal::SIGTERM);
    assert_eq!(sb.expect_file("tmp/shutdown.arg", T), "single\n");
    sb.expect_console("timeout expired for /etc/rc.shutdown", T);
    assert_eq!(sb.expect_file("tmp/single", T), "single\n");
}

#[test]
fn sigint_reboots_and_the_namespace_ends_with_sighup() {
    let mut sb = Sandbox::new(&[
        ("etc/rc", "#!/bin/sh\n", EXEC),
        (
            "etc/rc.shutdown",
            "#!/bin/sh\necho \"$1\" > /tmp/shutdown.arg\n",
            EXEC,
        ),
        ("etc/rc.final", "#!/bin/sh\ntouch /tmp/final\n", EXEC),
    ]);
    sb.boot(&[], &[]);
    sb.expect_console("entering multi_user", T);
    sb.signal(Signal::SIGINT);
    let st = sb.wait_exit(T).expect("namespace ended");
    // reboot(2) in a pid namespace ends its init: SIGHUP for a restart.
    assert_eq!(st.signal(), Some(libc::SIGHUP), "{st:?}\n{}", sb.console());
    assert_eq!(sb.read("tmp/shutdown.arg").as_deref(), Some("reboot\n"));
    assert!(sb.read("tmp/final").is_some(), "rc.final ran");
}

/// The console is a real terminal with a getty on it (a container's console). At shutdown
/// PID 1 revokes every ttys line it started, the console too (TIOCVHANGUP), and then the
/// console itself (init.c's death_single): each kills PID 1's own console descriptor. The
/// log must go on, on the console, not in /var/log/init.log. (A hang-up also flushes what
/// the other side had not read yet: lines written just before a revoke can be lost, as on
/// any terminal; only lines written after the last one are asserted.)
#[test]
fn the_log_survives_revoking_a_pty_console() {
    let mut sb = Sandbox::new(&[
        ("etc/rc", "#!/bin/sh\n", EXEC),
        (
            "etc/ttys",
            "console \"/bin/fakegetty\" vt100 on secure\n",
            0o644,
        ),
        ("bin/fakegetty", "#!/bin/sh\nexec sleep 100000\n", EXEC),
    ]);
    sb.pty_console();
    sb.boot(&[], &[]);
    sb.expect_console("started /bin/fakegetty", T);
    sb.signal(Signal::SIGINT);
    sb.wait_exit(T).expect("namespace ended");
    // Logged after death_single revoked the console (the last revoke), on the console.
    for line in ["entering single_user", "INFO reboot"] {
        sb.expect_console(line, T);
    }
    let fallback = sb.read("var/log/init.log").unwrap_or_default();
    assert!(!fallback.contains("entering single_user"), "{fallback}");
}

#[test]
fn sigusr2_powers_off_and_the_namespace_ends_with_sigint() {
    let mut sb = Sandbox::new(&[("etc/rc", "#!/bin/sh\n", EXEC)]);
    sb.boot(&[], &[]);
    sb.expect_console("entering multi_user", T);
    sb.signal(Signal::SIGUSR2);
    let st = sb.wait_exit(T).expect("namespace ended");
    assert_eq!(st.signal(), Some(libc::SIGINT), "{st:?}\n{}", sb.console());
}
