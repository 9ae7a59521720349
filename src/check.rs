//! `reinit check`: a dry run of what boot and reroot would read — kenv values, /etc/ttys,
//! /etc/rc, the /etc/rc.reroot hook, the reroot target and, when a copy of the new root is
//! at hand, the init it would run. Reads only; changes nothing. Exit status 0 when nothing
//! failed, 1 otherwise; warnings do not fail.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::{self, keys, Paths};
use crate::newroot;
use crate::settings::{Problem, Settings};
use crate::ttys;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Fine.
    Ok,
    /// Works, but probably not as meant.
    Warning,
    /// Would fail or be refused.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Severity.
    pub level: Level,
    /// What was checked.
    pub what: &'static str,
    /// The result.
    pub text: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.level {
            Level::Ok => "ok  ",
            Level::Warning => "warn",
            Level::Fail => "FAIL",
        };
        write!(f, "{tag} {:<7} {}", self.what, self.text)
    }
}

/// What to check.
pub struct Input<'a> {
    /// The system's files (relocated with `--root`).
    pub paths: Paths,
    /// The hook, `/etc/rc.reroot` under the same root.
    pub hook: PathBuf,
    /// A directory holding the new root, if the caller has it mounted (`--newroot`).
    pub newroot: Option<PathBuf>,
    /// kenv lookup.
    pub kenv: &'a dyn Fn(&str) -> Option<String>,
    /// The running system's root as a fallback would mount it again (`Ok(None)`: a RAM root,
    /// which cannot come back).
    pub current_root: Result<Option<crate::kernel::MountSpec>, String>,
}

/// Run every check.
#[must_use]
pub fn run(input: &Input<'_>) -> Vec<Finding> {
    let (settings, problems) = Settings::read(input.kenv);
    let mut out = Vec::new();
    binary_findings(&mut out);
    kenv_findings(&settings, &problems, input.kenv, &mut out);
    rc_findings(&input.paths, &mut out);
    ttys_findings(&input.paths, &mut out);
    hook_findings(input, &settings, &mut out);
    target_findings(&settings, &mut out);
    confirm_findings(input, &settings, &mut out);
    if let Some(root) = &input.newroot {
        init_findings(root, &settings, &mut out);
    }
    out
}

fn add(out: &mut Vec<Finding>, level: Level, what: &'static str, text: String) {
    out.push(Finding { level, what, text });
}

/// This build can recover from a fault in a state: PID 1's safety net (a panic leads to
/// single-user mode, not to the kernel's panic) needs a working unwinder, which a static build
/// gets from its linker and libunwind. Tried here with an unwind that runs no panic hook.
fn binary_findings(out: &mut Vec<Finding>) {
    if cfg!(panic = "abort") {
        add(
            out,
            Level::Fail,
            "binary",
            "built with panic=abort: a fault in PID 1 would panic the kernel".to_owned(),
        );
        return;
    }
    let caught = std::panic::catch_unwind(|| std::panic::resume_unwind(Box::new(()))).is_err();
    let (level, text) = if caught {
        (Level::Ok, "a fault in a state is caught (unwinding works)")
    } else {
        (Level::Fail, "unwinding does not work")
    };
    add(out, level, "binary", text.to_owned());
}

/// Reroot once: whether the root a reroot would leave can be mounted again.
fn confirm_findings(input: &Input<'_>, settings: &Settings, out: &mut Vec<Finding>) {
    let Some(wait) = settings.reroot_confirm else {
        return;
    };
    let s = wait.as_secs();
    let (level, text) = match &input.current_root {
        Ok(Some(r)) => (
            Level::Ok,
            format!(
                "a reroot waits {s} s for `reinit confirm`, else back to {}:{}",
                r.fstype, r.device
            ),
        ),
        Ok(None) => (
            Level::Warning,
            format!(
                "{}={s}: the root is a RAM root (an initramfs), which cannot be mounted again: no fallback",
                keys::REROOT_CONFIRM
            ),
        ),
        Err(e) => (
            Level::Warning,
            format!("{}={s}: the root cannot be told ({e}): no fallback", keys::REROOT_CONFIRM),
        ),
    };
    add(out, level, "confirm", text);
}

/// The kenv keys reported in the `kenv` lines, in their order (the target has its own).
const KENV_LINES: [&str; 12] = [
    keys::INIT_SCRIPT,
    keys::INIT_CHROOT,
    keys::INIT_SHELL,
    keys::INIT_EXEC,
    keys::INIT_RC,
    keys::SHUTDOWN_TIMEOUT,
    keys::HOOK_TIMEOUT,
    keys::MOUNTROOT_TIMEOUT,
    keys::REROOT_ORDER,
    keys::SIGNALS,
    keys::INIT_PATH,
    keys::REROOT_CONFIRM,
];

/// Each bad value as PID 1 would log it; each good one that is set, as it is in effect.
fn kenv_findings(
    settings: &Settings,
    problems: &[Problem],
    kenv: &dyn Fn(&str) -> Option<String>,
    out: &mut Vec<Finding>,
) {
    for key in KENV_LINES {
        let bad: Vec<&Problem> = problems.iter().filter(|p| p.key == key).collect();
        if bad.is_empty() && kenv(key).is_some() {
            if let Some(text) = settings.shown(key) {
                add(out, Level::Ok, "kenv", text);
            }
        }
        for p in bad {
            add(out, Level::Fail, "kenv", p.to_string());
        }
    }
}

fn rc_findings(paths: &Paths, out: &mut Vec<Finding>) {
    if paths.rc.exists() {
        add(out, Level::Ok, "rc", format!("{}", paths.rc.display()));
    } else {
        let text = format!(
            "{} missing: boot goes to single-user mode",
            paths.rc.display()
        );
        add(out, Level::Warning, "rc", text);
    }
}

fn ttys_findings(paths: &Paths, out: &mut Vec<Finding>) {
    let file = paths.ttys.display();
    let (entries, problems) = match ttys::read(&paths.ttys) {
        Ok(r) => r,
        Err(e) => {
            add(
                out,
                Level::Warning,
                "ttys",
                format!("{file}: {e}: no gettys"),
            );
            return;
        }
    };
    for p in &problems {
        let level = match p {
            ttys::TtysError::UnknownFlag { .. } => Level::Warning,
            _ => Level::Fail,
        };
        add(out, level, "ttys", format!("{file}: {p}"));
    }
    let gettys = entries
        .iter()
        .filter(|e| e.getty.is_some() && e.status != ttys::Status::Off)
        .count();
    let text = format!(
        "{} entries, {gettys} with a getty that may run",
        entries.len()
    );
    add(out, Level::Ok, "ttys", text);
}

/// The hook: trusted as the reroot would trust it, and accepted by `init_shell -n`.
fn hook_findings(input: &Input<'_>, settings: &Settings, out: &mut Vec<Finding>) {
    let h = match newroot::trust_hook(&newroot::host_lstat, &input.hook) {
        Ok(Some(h)) => h,
        Ok(None) => {
            let text = format!("{}: none (optional)", input.hook.display());
            return add(out, Level::Ok, "hook", text);
        }
        Err(e) => {
            return add(
                out,
                Level::Fail,
                "hook",
                format!("{e}: it would be refused"),
            )
        }
    };
    let shell = settings
        .init_shell
        .clone()
        .unwrap_or_else(|| input.paths.shell.clone());
    let (level, text) = match Command::new(&shell).arg("-n").arg(&h).output() {
        Ok(o) if o.status.success() => (Level::Ok, format!("{}: trusted, syntax ok", h.display())),
        Ok(o) => (
            Level::Fail,
            format!(
                "{}: {} -n: {}",
                h.display(),
                shell.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            ),
        ),
        Err(e) => (
            Level::Warning,
            format!("{}: cannot run {} -n: {e}", h.display(), shell.display()),
        ),
    };
    add(out, level, "hook", text);
}

/// `vfs.root.mountfrom`: it parses, and each alternative's device is there.
fn target_findings(settings: &Settings, out: &mut Vec<Finding>) {
    let sources = match &settings.mountfrom {
        None => {
            let text = format!("{} is not set (the hook may set it)", newroot::MOUNTFROM);
            return add(out, Level::Warning, "target", text);
        }
        Some(Err(e)) => return add(out, Level::Fail, "target", e.to_string()),
        Some(Ok(m)) => &m.sources,
    };
    for s in sources {
        let name = s.to_string();
        let (level, text) = match s.device_node() {
            Some(dev) if dev.exists() => (Level::Ok, format!("{name}: {} present", dev.display())),
            Some(dev) => (
                Level::Warning,
                format!(
                    "{name}: {} not present (yet: the hook may attach it)",
                    dev.display()
                ),
            ),
            None => (Level::Ok, format!("{name}: not a device path; not checked")),
        };
        add(out, level, "target", text);
    }
}

/// The new root at `root` has what the switch and its init need.
fn init_findings(root: &Path, settings: &Settings, out: &mut Vec<Finding>) {
    let shell = settings
        .init_shell
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_SHELL));
    let needs = newroot::Needs::new(cfg!(target_os = "linux"), shell);
    match newroot::check_new_root(root, &settings.init_path.search, &needs) {
        Ok(p) => {
            let dirs: Vec<String> = needs.dirs.iter().map(|d| d.display().to_string()).collect();
            let text = format!(
                "{}: {} with its interpreter, {} and {} present",
                root.display(),
                p.display(),
                dirs.join(", "),
                needs.shell.display()
            );
            add(out, Level::Ok, "init", text);
        }
        Err(e) => add(out, Level::Fail, "init", format!("{}: {e}", root.display())),
    }
}

/// Print the report; the exit status is 1 when anything failed.
#[must_use]
pub fn report(findings: &[Finding]) -> u8 {
    for f in findings {
        println!("{f}");
    }
    u8::from(findings.iter().any(|f| f.level == Level::Fail))
}

/// Parse `check` arguments: `[--root DIR] [--newroot DIR]`.
pub fn parse_args(args: &[String]) -> Result<(Option<PathBuf>, Option<PathBuf>), String> {
    let mut root = None;
    let mut newroot = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let slot = match a.as_str() {
            "--root" => &mut root,
            "--newroot" => &mut newroot,
            other => return Err(format!("unknown argument `{other}`")),
        };
        match it.next() {
            Some(v) => *slot = Some(PathBuf::from(v)),
            None => return Err(format!("{a} needs a directory")),
        }
    }
    Ok((root, newroot))
}

/// The input for the system under `root` (or `/`).
#[must_use]
pub fn input<'a>(
    root: Option<&Path>,
    newroot: Option<PathBuf>,
    kenv: &'a dyn Fn(&str) -> Option<String>,
) -> Input<'a> {
    let base = root.unwrap_or(Path::new("/"));
    Input {
        paths: Paths::under(base),
        hook: base.join("etc/rc.reroot"),
        newroot,
        kenv,
        current_root: current_root(),
    }
}

#[cfg(target_os = "linux")]
fn current_root() -> Result<Option<crate::kernel::MountSpec>, String> {
    crate::kernel::linux_switch::current_root().map_err(|e| e.to_string())
}

#[cfg(target_os = "freebsd")]
fn current_root() -> Result<Option<crate::kernel::MountSpec>, String> {
    crate::kernel::freebsd::current_root().map_err(|e| e.to_string())
}

#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
fn current_root() -> Result<Option<crate::kernel::MountSpec>, String> {
    Err("not supported on this system".into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn write(root: &Path, rel: &str, text: &str, mode: u32) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn levels(f: &[Finding], what: &str) -> Vec<Level> {
        f.iter()
            .filter(|x| x.what == what)
            .map(|x| x.level)
            .collect()
    }

    #[test]
    fn a_clean_system_passes_and_faults_are_reported() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(r, "etc/rc", "#!/bin/sh\n", 0o755);
        write(
            r,
            "etc/ttys",
            "ttyv0 \"/usr/libexec/getty Pc\" xterm on\n",
            0o644,
        );
        write(r, "etc/rc.reroot", "#!/bin/sh\nexit 0\n", 0o755);
        write(r, "new/sbin/init", "x", 0o755);
        fs::create_dir_all(r.join("new/dev")).unwrap();
        fs::create_dir_all(r.join("new/proc")).unwrap();
        write(r, "new/bin/sh", "", 0o755);
        // The default shell under the checked root (used when init_shell is bad).
        fs::create_dir_all(r.join("bin")).unwrap();
        std::os::unix::fs::symlink("/bin/sh", r.join("bin/sh")).unwrap();
        let mut env: HashMap<&str, &str> = HashMap::new();
        env.insert("vfs.root.mountfrom", "ext4:/dev/null zfs:pool/root");
        env.insert("init_shell", "/bin/sh");
        let kenv = |k: &str| env.get(k).map(|v| (*v).to_owned());
        let f = run(&input(Some(r), Some(r.join("new")), &kenv));
        let failed: Vec<String> = f
            .iter()
            .filter(|x| x.level == Level::Fail)
            .map(ToString::to_string)
            .collect();
        if nix::unistd::geteuid().is_root() {
            assert!(failed.is_empty(), "{failed:?}");
            assert_eq!(report(&f), 0);
        }
        assert_eq!(levels(&f, "target"), vec![Level::Ok, Level::Ok]);
        assert_eq!(levels(&f, "init"), vec![Level::Ok]);
        assert_eq!(levels(&f, "binary"), vec![Level::Ok]);

        // Now break each thing once.
        write(
            r,
            "etc/ttys",
            "ttyv0 \"/usr/libexec/getty Pc xterm on\n",
            0o644,
        );
        write(r, "etc/rc.reroot", "#!/bin/sh\nif then\n", 0o755);
        fs::remove_file(r.join("new/sbin/init")).unwrap();
        env.insert("vfs.root.mountfrom", "/dev/vda");
        env.insert("init_shell", "sh");
        env.insert("reinit.shutdown_timeout", "later");
        env.insert("reinit.hook_timeout", "soon");
        env.insert("reinit.reroot_order", "sideways");
        let kenv = |k: &str| env.get(k).map(|v| (*v).to_owned());
        let f = run(&input(Some(r), Some(r.join("new")), &kenv));
        assert!(levels(&f, "ttys").contains(&Level::Fail));
        assert!(levels(&f, "hook").contains(&Level::Fail), "{f:?}");
        assert_eq!(levels(&f, "target"), vec![Level::Fail]);
        assert_eq!(levels(&f, "init"), vec![Level::Fail]);
        assert_eq!(levels(&f, "kenv"), vec![Level::Fail; 4]);
        assert_eq!(report(&f), 1);
    }

    /// Reroot once: check says where a fallback would go, and warns when the root cannot
    /// come back (an initramfs) or cannot be told; nothing when no confirmation is asked for.
    #[test]
    fn the_way_back_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let on = |k: &str| (k == "reinit.reroot_confirm").then(|| "60".to_owned());
        let off = |_: &str| None;
        let disk = crate::kernel::MountSpec {
            fstype: "ext4".into(),
            device: "/dev/vda".into(),
            options: String::new(),
            read_only: false,
        };
        let lines = |kenv: &dyn Fn(&str) -> Option<String>, root| {
            let mut i = input(Some(d.path()), None, kenv);
            i.current_root = root;
            run(&i)
                .into_iter()
                .filter(|f| f.what == "confirm")
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            lines(&on, Ok(Some(disk.clone()))),
            ["ok   confirm a reroot waits 60 s for `reinit confirm`, else back to ext4:/dev/vda"]
        );
        assert_eq!(
            lines(&on, Ok(None)),
            ["warn confirm reinit.reroot_confirm=60: the root is a RAM root (an initramfs), which cannot be mounted again: no fallback"]
        );
        assert_eq!(lines(&on, Err("EIO".into())).len(), 1);
        assert!(lines(&off, Ok(Some(disk))).is_empty());
    }

    #[test]
    fn args() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(parse_args(&s(&[])).unwrap(), (None, None));
        assert_eq!(
            parse_args(&s(&["--root", "/a", "--newroot", "/b"])).unwrap(),
            (Some("/a".into()), Some("/b".into()))
        );
        assert!(parse_args(&s(&["--root"])).is_err());
        assert!(parse_args(&s(&["-x"])).is_err());
    }
}
