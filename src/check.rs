//! `reinit check`: a dry run of what boot and reroot would read — kenv values, /etc/ttys,
//! /etc/rc, the /etc/rc.reroot hook, the reroot target and, when a copy of the new root is
//! at hand, the init it would run. Reads only; changes nothing. Exit status 0 when nothing
//! failed, 1 otherwise; warnings do not fail.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::{self, keys, Paths};
use crate::newroot;
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
}

/// Run every check.
#[must_use]
pub fn run(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut add = |level, what, text: String| out.push(Finding { level, what, text });
    let kenv = input.kenv;

    // kenv values
    for key in [
        keys::INIT_SCRIPT,
        keys::INIT_CHROOT,
        keys::INIT_SHELL,
        keys::INIT_EXEC,
        keys::INIT_RC,
    ] {
        if let Some(v) = kenv(key) {
            match config::parse_abs_path(key, &v) {
                Ok(_) => add(Level::Ok, "kenv", format!("{key}={v}")),
                Err(e) => add(Level::Fail, "kenv", format!("{e}; it will be ignored")),
            }
        }
    }
    if let Some(v) = kenv(keys::SHUTDOWN_TIMEOUT) {
        match config::parse_shutdown_timeout(keys::SHUTDOWN_TIMEOUT, &v) {
            Ok(d) => add(
                Level::Ok,
                "kenv",
                format!("{}={}s", keys::SHUTDOWN_TIMEOUT, d.as_secs()),
            ),
            Err(e) => add(
                Level::Fail,
                "kenv",
                format!("{e}; the default 120 s applies"),
            ),
        }
    }
    for key in [keys::HOOK_TIMEOUT, keys::MOUNTROOT_TIMEOUT] {
        if let Some(v) = kenv(key) {
            match config::parse_seconds(key, &v) {
                Ok(d) => add(Level::Ok, "kenv", format!("{key}={}s", d.as_secs())),
                Err(e) => add(Level::Fail, "kenv", format!("{e}; the default applies")),
            }
        }
    }
    if let Some(v) = kenv(keys::REROOT_ORDER) {
        if v == "transactional" || v == "kill-first" {
            add(Level::Ok, "kenv", format!("{}={v}", keys::REROOT_ORDER));
        } else {
            add(
                Level::Fail,
                "kenv",
                format!(
                    "{}={v}: not transactional or kill-first; transactional applies",
                    keys::REROOT_ORDER
                ),
            );
        }
    }
    if let Some(v) = kenv(keys::SIGNALS) {
        match crate::signals::Convention::parse(&v) {
            Some(_) => add(Level::Ok, "kenv", format!("{}={v}", keys::SIGNALS)),
            None => add(
                Level::Fail,
                "kenv",
                format!(
                    "{}={v}: not freebsd or linux; freebsd applies",
                    keys::SIGNALS
                ),
            ),
        }
    }
    let init_path = kenv(keys::INIT_PATH).unwrap_or_else(|| newroot::DEFAULT_INIT_PATH.to_owned());
    let (search, bad) = newroot::parse_init_path(&init_path);
    for b in bad {
        add(
            Level::Fail,
            "kenv",
            format!("init_path entry `{b}` is not absolute; skipped"),
        );
    }
    if search.is_empty() {
        add(
            Level::Fail,
            "kenv",
            format!("init_path `{init_path}` names no init"),
        );
    }

    // /etc/rc and /etc/ttys
    if input.paths.rc.exists() {
        add(Level::Ok, "rc", format!("{}", input.paths.rc.display()));
    } else {
        add(
            Level::Warning,
            "rc",
            format!(
                "{} missing: boot goes to single-user mode",
                input.paths.rc.display()
            ),
        );
    }
    match ttys::read(&input.paths.ttys) {
        Ok((entries, problems)) => {
            for p in &problems {
                let level = match p {
                    ttys::TtysError::UnknownFlag { .. } => Level::Warning,
                    _ => Level::Fail,
                };
                add(
                    level,
                    "ttys",
                    format!("{}: {p}", input.paths.ttys.display()),
                );
            }
            let gettys = entries
                .iter()
                .filter(|e| e.getty.is_some() && e.status != ttys::Status::Off)
                .count();
            add(
                Level::Ok,
                "ttys",
                format!(
                    "{} entries, {gettys} with a getty that may run",
                    entries.len()
                ),
            );
        }
        Err(e) => add(
            Level::Warning,
            "ttys",
            format!("{}: {e}: no gettys", input.paths.ttys.display()),
        ),
    }

    // the hook
    match newroot::trust_hook(&newroot::host_lstat, &input.hook) {
        Ok(None) => add(
            Level::Ok,
            "hook",
            format!("{}: none (optional)", input.hook.display()),
        ),
        Ok(Some(h)) => {
            let shell = config::shell(kenv(keys::INIT_SHELL), &input.paths.shell);
            match Command::new(&shell).arg("-n").arg(&h).output() {
                Ok(o) if o.status.success() => add(
                    Level::Ok,
                    "hook",
                    format!("{}: trusted, syntax ok", h.display()),
                ),
                Ok(o) => add(
                    Level::Fail,
                    "hook",
                    format!(
                        "{}: {} -n: {}",
                        h.display(),
                        shell.display(),
                        String::from_utf8_lossy(&o.stderr).trim()
                    ),
                ),
                Err(e) => add(
                    Level::Warning,
                    "hook",
                    format!("{}: cannot run {} -n: {e}", h.display(), shell.display()),
                ),
            }
        }
        Err(e) => add(Level::Fail, "hook", format!("{e}: it would be refused")),
    }

    // the target
    match kenv(newroot::MOUNTFROM) {
        None => add(
            Level::Warning,
            "target",
            format!("{} is not set (the hook may set it)", newroot::MOUNTFROM),
        ),
        Some(v) => match newroot::parse_mountfrom(&v) {
            Err(e) => add(Level::Fail, "target", e.to_string()),
            Ok(sources) => {
                for s in sources {
                    match s.device_node() {
                        Some(dev) if dev.exists() => add(
                            Level::Ok,
                            "target",
                            format!("{}:{}: {} present", s.fstype, s.device, dev.display()),
                        ),
                        Some(dev) => add(
                            Level::Warning,
                            "target",
                            format!(
                                "{}:{}: {} not present (yet: the hook may attach it)",
                                s.fstype,
                                s.device,
                                dev.display()
                            ),
                        ),
                        None => add(
                            Level::Ok,
                            "target",
                            format!("{}:{}: not a device path; not checked", s.fstype, s.device),
                        ),
                    }
                }
            }
        },
    }

    // the init of the new root
    if let Some(root) = &input.newroot {
        let shell = config::shell(
            kenv(keys::INIT_SHELL),
            std::path::Path::new(config::DEFAULT_SHELL),
        );
        let needs = newroot::Needs::new(cfg!(target_os = "linux"), shell);
        match newroot::check_new_root(root, &search, &needs) {
            Ok(p) => add(
                Level::Ok,
                "init",
                format!(
                    "{}: {} with its interpreter, {} and {} present",
                    root.display(),
                    p.display(),
                    needs
                        .dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    needs.shell.display()
                ),
            ),
            Err(e) => add(Level::Fail, "init", format!("{}: {e}", root.display())),
        }
    }
    out
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
    }
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
