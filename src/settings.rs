//! The kenv settings, typed and validated: one reader per key, used both by PID 1 at the
//! point of use (so a runtime `reinit kenv` change takes effect) and by `reinit check`
//! (through [`Settings::read`]), so the two cannot disagree about a value.
//!
//! Every reader is a function of a lookup (`impl Fn(&str) -> Option<String>`), pure and
//! unit-tested on strings. A bad value is never fatal to the reader: it returns what the
//! runtime uses instead, and a [`Problem`] that names the key, the value and that fallback.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{self, keys, KenvError, MountOptions};
use crate::newroot::{self, Source, TargetError};
use crate::signals::Convention;

/// What the runtime does about a bad value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instead {
    /// The value is ignored, as if the key were unset.
    Ignored,
    /// This value applies (the key's default, e.g. `the default 120 s`, `freebsd`).
    Applies(String),
    /// Start-up goes to single-user mode.
    SingleUser,
    /// The entry is skipped; the rest of the list is used.
    Skipped,
    /// A reroot fails its checks (before anything is stopped, in the default order); the
    /// error says why.
    RerootFails,
}

impl Instead {
    /// The words after the error, if any.
    fn text(&self) -> Option<String> {
        match self {
            Instead::Ignored => Some("it will be ignored".into()),
            Instead::Applies(v) => Some(format!("{v} applies")),
            Instead::SingleUser => Some("going to single user mode".into()),
            Instead::Skipped => Some("skipped".into()),
            Instead::RerootFails => None,
        }
    }
}

/// A bad kenv value: the key, the value, what is wrong with it and what the runtime does
/// instead. Its text is what `reinit check` reports and what PID 1 logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key.
    pub key: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong with it.
    pub error: KenvError,
    /// What the runtime does instead.
    pub instead: Instead,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        match self.instead.text() {
            Some(t) => write!(f, "; {t}"),
            None => Ok(()),
        }
    }
}

/// A setting as the runtime uses it, and the problems of the kenv text it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Checked<T> {
    /// The value in effect (a fallback when the text was bad).
    pub value: T,
    /// What was wrong with the text; empty when nothing was.
    pub problems: Vec<Problem>,
}

impl<T> Checked<T> {
    fn ok(value: T) -> Self {
        Checked {
            value,
            problems: Vec::new(),
        }
    }

    fn map<U>(self, f: impl FnOnce(T) -> U) -> Checked<U> {
        Checked {
            value: f(self.value),
            problems: self.problems,
        }
    }

    /// The value; each problem logged as a warning.
    pub fn warned(self) -> T {
        for p in &self.problems {
            tracing::warn!("{p}");
        }
        self.value
    }

    /// The value; each problem logged as an error.
    pub fn errored(self) -> T {
        for p in &self.problems {
            tracing::error!("{p}");
        }
        self.value
    }

    /// The value; the problems moved into `into`.
    pub fn collect(self, into: &mut Vec<Problem>) -> T {
        into.extend(self.problems);
        self.value
    }
}

/// A key parsed with `parse`: `None` when unset, and when bad (then with a problem).
fn parsed<T>(
    kenv: impl Fn(&str) -> Option<String>,
    key: &'static str,
    parse: impl FnOnce(&str) -> Result<T, KenvError>,
    instead: Instead,
) -> Checked<Option<T>> {
    let Some(value) = kenv(key) else {
        return Checked::ok(None);
    };
    match parse(&value) {
        Ok(v) => Checked::ok(Some(v)),
        Err(error) => Checked {
            value: None,
            problems: vec![Problem {
                key,
                value,
                error,
                instead,
            }],
        },
    }
}

fn abs_path(
    kenv: impl Fn(&str) -> Option<String>,
    key: &'static str,
    instead: Instead,
) -> Checked<Option<PathBuf>> {
    parsed(kenv, key, |v| config::parse_abs_path(key, v), instead)
}

/// `init_script`: run before anything else. A value that is not an absolute path sends
/// start-up to single-user mode, as a failing script does.
pub fn init_script(kenv: impl Fn(&str) -> Option<String>) -> Checked<Option<PathBuf>> {
    abs_path(kenv, keys::INIT_SCRIPT, Instead::SingleUser)
}

/// `init_chroot`: the directory to chroot into at start-up; a bad value is ignored.
pub fn init_chroot(kenv: impl Fn(&str) -> Option<String>) -> Checked<Option<PathBuf>> {
    abs_path(kenv, keys::INIT_CHROOT, Instead::Ignored)
}

/// `init_shell`: the shell for scripts and single-user mode; unset or bad, the caller's
/// default (`/bin/sh`) applies.
pub fn init_shell(kenv: impl Fn(&str) -> Option<String>) -> Checked<Option<PathBuf>> {
    abs_path(kenv, keys::INIT_SHELL, Instead::Ignored)
}

/// `init_exec`: a program that replaces PID 1 at start-up; a bad value is ignored (start-up
/// continues).
pub fn init_exec(kenv: impl Fn(&str) -> Option<String>) -> Checked<Option<PathBuf>> {
    abs_path(kenv, keys::INIT_EXEC, Instead::Ignored)
}

/// `init_rc`: replaces /etc/rc; a bad value is ignored (/etc/rc runs).
pub fn init_rc(kenv: impl Fn(&str) -> Option<String>) -> Checked<Option<PathBuf>> {
    abs_path(kenv, keys::INIT_RC, Instead::Ignored)
}

fn seconds(
    kenv: impl Fn(&str) -> Option<String>,
    key: &'static str,
    default: Duration,
) -> Checked<Duration> {
    parsed(
        kenv,
        key,
        |v| config::parse_seconds(key, v),
        Instead::Applies("the default".into()),
    )
    .map(|d| d.unwrap_or(default))
}

/// `reinit.hook_timeout`: how long the reroot hook may run per phase, 0 to
/// [`config::MAX_SECONDS`] (default [`config::DEFAULT_HOOK_TIMEOUT`]).
pub fn hook_timeout(kenv: impl Fn(&str) -> Option<String>) -> Checked<Duration> {
    seconds(kenv, keys::HOOK_TIMEOUT, config::DEFAULT_HOOK_TIMEOUT)
}

/// `reinit.reroot_confirm`: how long the new root of a reroot has to confirm it, 0 to
/// [`config::MAX_SECONDS`]. `None` (no confirmation asked for) when unset, 0 or bad.
pub fn reroot_confirm(kenv: impl Fn(&str) -> Option<String>) -> Checked<Option<Duration>> {
    parsed(
        kenv,
        keys::REROOT_CONFIRM,
        |v| config::parse_seconds(keys::REROOT_CONFIRM, v),
        Instead::Ignored,
    )
    .map(|d| d.filter(|d| !d.is_zero()))
}

/// `vfs.mountroot.timeout`: how long to wait for the target's device, and for its probe
/// mount, 0 to [`config::MAX_SECONDS`] (default [`config::DEFAULT_MOUNTROOT_TIMEOUT`]).
pub fn mountroot_timeout(kenv: impl Fn(&str) -> Option<String>) -> Checked<Duration> {
    seconds(
        kenv,
        keys::MOUNTROOT_TIMEOUT,
        config::DEFAULT_MOUNTROOT_TIMEOUT,
    )
}

/// `reinit.shutdown_timeout` (Linux): the hard timeout of /etc/rc.shutdown, 2 to
/// [`config::MAX_SECONDS`]. `None` when unset or bad: then
/// [`config::DEFAULT_SHUTDOWN_TIMEOUT`] applies.
pub fn shutdown_timeout(kenv: impl Fn(&str) -> Option<String>) -> Checked<Option<Duration>> {
    let default = config::DEFAULT_SHUTDOWN_TIMEOUT.as_secs();
    parsed(
        kenv,
        keys::SHUTDOWN_TIMEOUT,
        |v| config::parse_shutdown_timeout(keys::SHUTDOWN_TIMEOUT, v),
        Instead::Applies(format!("the default {default} s")),
    )
}

/// One of a few words; unset or anything else, `default` (named `default_name`).
fn word<T>(
    kenv: impl Fn(&str) -> Option<String>,
    key: &'static str,
    parse: fn(&str) -> Option<T>,
    allowed: &'static str,
    (default, default_name): (T, &'static str),
) -> Checked<T> {
    parsed(
        kenv,
        key,
        |v| {
            parse(v).ok_or_else(|| KenvError::NotOneOf {
                key: key.to_owned(),
                value: v.to_owned(),
                allowed,
            })
        },
        Instead::Applies(default_name.into()),
    )
    .map(|v| v.unwrap_or(default))
}

/// The order of the reroot steps (`reinit.reroot_order`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RerootOrder {
    /// Hook and checks before anything is stopped (default).
    #[default]
    Transactional,
    /// FreeBSD's and nbd-init's: stop everything, then hook and checks.
    KillFirst,
}

impl RerootOrder {
    /// The order a kenv value names; `None` for anything else.
    #[must_use]
    pub fn parse(value: &str) -> Option<RerootOrder> {
        match value {
            "transactional" => Some(RerootOrder::Transactional),
            "kill-first" => Some(RerootOrder::KillFirst),
            _ => None,
        }
    }

    /// Its kenv value.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            RerootOrder::Transactional => "transactional",
            RerootOrder::KillFirst => "kill-first",
        }
    }
}

/// `reinit.reroot_order`: `transactional` (default) or `kill-first`.
pub fn reroot_order(kenv: impl Fn(&str) -> Option<String>) -> Checked<RerootOrder> {
    word(
        kenv,
        keys::REROOT_ORDER,
        RerootOrder::parse,
        "transactional or kill-first",
        (RerootOrder::Transactional, "transactional"),
    )
}

/// The kenv value of a signal convention.
#[must_use]
pub fn convention_name(c: Convention) -> &'static str {
    match c {
        Convention::FreeBsd => "freebsd",
        Convention::Linux => "linux",
    }
}

/// `reinit.signals`: `freebsd` (default) or `linux`.
pub fn signals(kenv: impl Fn(&str) -> Option<String>) -> Checked<Convention> {
    word(
        kenv,
        keys::SIGNALS,
        Convention::parse,
        "freebsd or linux",
        (Convention::FreeBsd, "freebsd"),
    )
}

/// The init search list in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitPath {
    /// The list as given (kenv `init_path`, else the default).
    pub list: String,
    /// Its absolute entries, in order.
    pub search: Vec<PathBuf>,
}

/// `init_path`, else `default` (FreeBSD's `kern.init_path`, elsewhere
/// [`newroot::DEFAULT_INIT_PATH`]): relative entries are skipped; a list with no absolute
/// entry makes a reroot fail.
pub fn init_path(kenv: impl Fn(&str) -> Option<String>, default: &str) -> Checked<InitPath> {
    let key = keys::INIT_PATH;
    let list = kenv(key).unwrap_or_else(|| default.to_owned());
    let (search, bad) = newroot::parse_init_path(&list);
    let problem = |error, instead| Problem {
        key,
        value: list.clone(),
        error,
        instead,
    };
    let mut problems: Vec<Problem> = bad
        .into_iter()
        .map(|entry| {
            let error = KenvError::RelativeEntry {
                key: key.to_owned(),
                entry,
            };
            problem(error, Instead::Skipped)
        })
        .collect();
    if search.is_empty() {
        let error = KenvError::NoInit {
            key: key.to_owned(),
            value: list.clone(),
        };
        problems.push(problem(error, Instead::RerootFails));
    }
    Checked {
        value: InitPath { list, search },
        problems,
    }
}

/// The reroot target: `vfs.root.mountfrom` with `vfs.root.mountfrom.options`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mountfrom {
    /// The `fstype:device` alternatives, in order.
    pub sources: Vec<Source>,
    /// The mount options other than `ro`/`rw`, comma-separated.
    pub options: String,
    /// Read-only unless the options say `rw` (FreeBSD always mounts a new root read-only;
    /// on Linux `rw` is honoured).
    pub read_only: bool,
}

/// `vfs.root.mountfrom` and its options: `None` when unset (the hook may set it), an error
/// when it does not parse (a reroot then fails).
#[must_use]
pub fn mountfrom(kenv: impl Fn(&str) -> Option<String>) -> Option<Result<Mountfrom, TargetError>> {
    let value = kenv(keys::MOUNTFROM)?;
    Some(newroot::parse_mountfrom(&value).map(|sources| {
        let o = MountOptions::parse(&kenv(keys::MOUNTFROM_OPTIONS).unwrap_or_default());
        Mountfrom {
            sources,
            options: o.others(),
            read_only: o.read_only != Some(false),
        }
    }))
}

/// Every setting PID 1 reads from kenv, each as the runtime would use it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `init_path` (default [`newroot::DEFAULT_INIT_PATH`]).
    pub init_path: InitPath,
    /// `init_script`.
    pub init_script: Option<PathBuf>,
    /// `init_chroot`.
    pub init_chroot: Option<PathBuf>,
    /// `init_shell` (unset or bad: the default shell).
    pub init_shell: Option<PathBuf>,
    /// `init_exec`.
    pub init_exec: Option<PathBuf>,
    /// `init_rc`.
    pub init_rc: Option<PathBuf>,
    /// `reinit.shutdown_timeout` (unset or bad: the default).
    pub shutdown_timeout: Option<Duration>,
    /// `vfs.root.mountfrom` with its options.
    pub mountfrom: Option<Result<Mountfrom, TargetError>>,
    /// `vfs.mountroot.timeout`.
    pub mountroot_timeout: Duration,
    /// `reinit.hook_timeout`.
    pub hook_timeout: Duration,
    /// `reinit.reroot_order`.
    pub reroot_order: RerootOrder,
    /// `reinit.signals`.
    pub signals: Convention,
    /// `reinit.reroot_confirm`.
    pub reroot_confirm: Option<Duration>,
}

impl Settings {
    /// Read every key through `kenv`, with the problems of the bad values (in the order of
    /// [`keys::ALL`]).
    pub fn read(kenv: impl Fn(&str) -> Option<String>) -> (Settings, Vec<Problem>) {
        let mut p = Vec::new();
        let init_path = init_path(&kenv, newroot::DEFAULT_INIT_PATH).collect(&mut p);
        let init_script = init_script(&kenv).collect(&mut p);
        let init_chroot = init_chroot(&kenv).collect(&mut p);
        let init_shell = init_shell(&kenv).collect(&mut p);
        let init_exec = init_exec(&kenv).collect(&mut p);
        let init_rc = init_rc(&kenv).collect(&mut p);
        let shutdown_timeout = shutdown_timeout(&kenv).collect(&mut p);
        let mountfrom = mountfrom(&kenv);
        if let (Some(Err(e)), Some(value)) = (&mountfrom, kenv(keys::MOUNTFROM)) {
            p.push(Problem {
                key: keys::MOUNTFROM,
                value,
                error: KenvError::Target(e.clone()),
                instead: Instead::RerootFails,
            });
        }
        let settings = Settings {
            init_path,
            init_script,
            init_chroot,
            init_shell,
            init_exec,
            init_rc,
            shutdown_timeout,
            mountfrom,
            mountroot_timeout: mountroot_timeout(&kenv).collect(&mut p),
            hook_timeout: hook_timeout(&kenv).collect(&mut p),
            reroot_order: reroot_order(&kenv).collect(&mut p),
            signals: signals(&kenv).collect(&mut p),
            reroot_confirm: reroot_confirm(&kenv).collect(&mut p),
        };
        (settings, p)
    }

    /// `key=value` for a key that has a plain value in effect (what `reinit check` shows for
    /// a good one); `None` for the lists, the target, and keys that are unset.
    #[must_use]
    pub fn shown(&self, key: &str) -> Option<String> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| format!("{key}={}", p.display()));
        let secs = |d: Duration| Some(format!("{key}={}s", d.as_secs()));
        match key {
            keys::INIT_SCRIPT => path(&self.init_script),
            keys::INIT_CHROOT => path(&self.init_chroot),
            keys::INIT_SHELL => path(&self.init_shell),
            keys::INIT_EXEC => path(&self.init_exec),
            keys::INIT_RC => path(&self.init_rc),
            keys::SHUTDOWN_TIMEOUT => self.shutdown_timeout.and_then(secs),
            keys::MOUNTROOT_TIMEOUT => secs(self.mountroot_timeout),
            keys::HOOK_TIMEOUT => secs(self.hook_timeout),
            keys::REROOT_ORDER => Some(format!("{key}={}", self.reroot_order.name())),
            keys::SIGNALS => Some(format!("{key}={}", convention_name(self.signals))),
            keys::REROOT_CONFIRM => self.reroot_confirm.and_then(secs),
            _ => None,
        }
    }
}

/// A bad value of every key (the options accept any text), for the tests that compare
/// `reinit check` with the runtime.
#[cfg(test)]
pub(crate) const BAD_VALUES: [(&str, &str); 14] = [
    ("init_path", "sbin/init"),
    ("init_script", "early"),
    ("init_chroot", "new"),
    ("init_shell", "ash"),
    ("init_exec", "other"),
    ("init_rc", "rc"),
    ("reinit.shutdown_timeout", "1"),
    ("vfs.root.mountfrom", "/dev/vda"),
    ("vfs.root.mountfrom.options", "rw"),
    ("vfs.mountroot.timeout", "86401"),
    ("reinit.hook_timeout", "soon"),
    ("reinit.reroot_order", "sideways"),
    ("reinit.signals", "sysv"),
    ("reinit.reroot_confirm", "soon"),
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn unset_keys_give_the_defaults_and_no_problem() {
        let (s, p) = Settings::read(env(&[]));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(s.hook_timeout, config::DEFAULT_HOOK_TIMEOUT);
        assert_eq!(s.mountroot_timeout, config::DEFAULT_MOUNTROOT_TIMEOUT);
        assert_eq!(s.shutdown_timeout, None);
        assert_eq!(s.reroot_order, RerootOrder::Transactional);
        assert_eq!(s.signals, Convention::FreeBsd);
        assert_eq!(s.init_path.list, newroot::DEFAULT_INIT_PATH);
        assert_eq!(s.init_path.search.len(), 4);
        assert_eq!(s.init_shell, None);
        assert_eq!(s.mountfrom, None);
        let shown: Vec<&str> = keys::ALL
            .into_iter()
            .filter(|k| s.shown(k).is_some())
            .collect();
        assert_eq!(
            shown,
            [
                keys::MOUNTROOT_TIMEOUT,
                keys::HOOK_TIMEOUT,
                keys::REROOT_ORDER,
                keys::SIGNALS
            ]
        );
    }

    #[test]
    fn good_values_are_typed() {
        let (s, p) = Settings::read(env(&[
            ("init_path", "/sbin/init:/rescue/init"),
            ("init_script", "/etc/early"),
            ("init_chroot", "/new"),
            ("init_shell", "/bin/ash"),
            ("init_exec", "/sbin/other"),
            ("init_rc", "/etc/rc.alt"),
            ("reinit.shutdown_timeout", " 30 "),
            ("vfs.root.mountfrom", "zfs:pool/root ufs:ada0p2"),
            ("vfs.root.mountfrom.options", "noatime, rw"),
            ("vfs.mountroot.timeout", "0"),
            ("reinit.hook_timeout", "86400"),
            ("reinit.reroot_order", "kill-first"),
            ("reinit.signals", "linux"),
        ]));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            s.init_path.search,
            [PathBuf::from("/sbin/init"), PathBuf::from("/rescue/init")]
        );
        assert_eq!(s.init_script.as_deref(), Some(Path::new("/etc/early")));
        assert_eq!(s.shutdown_timeout, Some(Duration::from_secs(30)));
        let m = s.mountfrom.clone().unwrap().unwrap();
        assert_eq!(m.sources.len(), 2);
        assert_eq!((m.options.as_str(), m.read_only), ("noatime", false));
        assert_eq!(s.mountroot_timeout, Duration::ZERO);
        assert_eq!(s.hook_timeout, Duration::from_secs(86_400));
        assert_eq!(s.reroot_order, RerootOrder::KillFirst);
        assert_eq!(s.signals, Convention::Linux);
        assert_eq!(s.shown("init_rc").as_deref(), Some("init_rc=/etc/rc.alt"));
        assert_eq!(
            s.shown("reinit.shutdown_timeout").as_deref(),
            Some("reinit.shutdown_timeout=30s")
        );
        assert_eq!(
            s.shown("reinit.reroot_order").as_deref(),
            Some("reinit.reroot_order=kill-first")
        );
        assert_eq!(
            s.shown("reinit.signals").as_deref(),
            Some("reinit.signals=linux")
        );
        assert_eq!(s.shown("init_path"), None);
    }

    /// Every key but the options has a bad value, and each reader names it with its
    /// fallback; the value in effect is that fallback.
    #[test]
    fn every_bad_value_is_a_named_problem_with_its_fallback() {
        let (s, p) = Settings::read(env(&BAD_VALUES));
        let text: Vec<String> = p.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "init_path entry `sbin/init` is not absolute; skipped",
                "init_path `sbin/init` names no init",
                "kenv init_script=early: not an absolute path; going to single user mode",
                "kenv init_chroot=new: not an absolute path; it will be ignored",
                "kenv init_shell=ash: not an absolute path; it will be ignored",
                "kenv init_exec=other: not an absolute path; it will be ignored",
                "kenv init_rc=rc: not an absolute path; it will be ignored",
                "kenv reinit.shutdown_timeout=1: below the minimum of 2 seconds; the default 120 s applies",
                "vfs.root.mountfrom: `/dev/vda` is not fstype:device",
                "kenv vfs.mountroot.timeout=86401: more than 86400 seconds; the default applies",
                "kenv reinit.hook_timeout=soon: not a whole number of seconds; the default applies",
                "reinit.reroot_order=sideways: not transactional or kill-first; transactional applies",
                "reinit.signals=sysv: not freebsd or linux; freebsd applies",
                "kenv reinit.reroot_confirm=soon: not a whole number of seconds; it will be ignored",
            ]
        );
        let keys_named: Vec<&str> = p.iter().map(|p| p.key).collect();
        for key in keys::ALL {
            assert_eq!(
                keys_named.contains(&key),
                key != keys::MOUNTFROM_OPTIONS,
                "{key}"
            );
        }
        for problem in &p {
            let value = BAD_VALUES
                .iter()
                .find(|(k, _)| *k == problem.key)
                .unwrap()
                .1;
            assert_eq!(problem.value, value);
        }
        assert!(s.init_path.search.is_empty());
        assert_eq!(
            (
                &s.init_script,
                &s.init_chroot,
                &s.init_shell,
                &s.init_exec,
                &s.init_rc
            ),
            (&None, &None, &None, &None, &None)
        );
        assert_eq!(s.shutdown_timeout, None);
        assert_eq!(
            s.mountfrom,
            Some(Err(TargetError::Syntax("/dev/vda".into())))
        );
        assert_eq!(s.mountroot_timeout, config::DEFAULT_MOUNTROOT_TIMEOUT);
        assert_eq!(s.hook_timeout, config::DEFAULT_HOOK_TIMEOUT);
        assert_eq!(s.reroot_order, RerootOrder::Transactional);
        assert_eq!(s.signals, Convention::FreeBsd);
    }

    #[test]
    fn the_per_key_readers_are_what_settings_reads() {
        let kenv = env(&BAD_VALUES);
        let (s, _) = Settings::read(&kenv);
        assert_eq!(hook_timeout(&kenv).value, s.hook_timeout);
        assert_eq!(reroot_order(&kenv).value, s.reroot_order);
        assert_eq!(init_rc(&kenv).problems.len(), 1);
        // The default list a kernel names is used when init_path is unset.
        let c = init_path(env(&[]), "/sbin/init:rel");
        assert_eq!(c.value.search, [PathBuf::from("/sbin/init")]);
        assert_eq!(c.problems[0].instead, Instead::Skipped);
    }

    #[test]
    fn the_target_is_read_only_unless_rw() {
        let m = |o: &str| {
            mountfrom(env(&[
                ("vfs.root.mountfrom", "ufs:/dev/ada0p2"),
                ("vfs.root.mountfrom.options", o),
            ]))
            .unwrap()
            .unwrap()
        };
        assert!(m("").read_only);
        assert_eq!(
            (m("noatime, rw").read_only, m("noatime, rw").options),
            (false, "noatime".into())
        );
        assert_eq!(
            (m("rw,ro,acl").read_only, m("rw,ro,acl").options),
            (true, "acl".into())
        );
        assert_eq!(
            mountfrom(env(&[("vfs.root.mountfrom.options", "rw")])),
            None
        );
        assert_eq!(
            mountfrom(env(&[("vfs.root.mountfrom", " ")])),
            Some(Err(TargetError::Empty))
        );
    }

    #[test]
    fn init_shell_falls_back_on_a_bad_value() {
        assert_eq!(init_shell(env(&[])).value, None);
        assert_eq!(init_shell(env(&[("init_shell", "ash")])).value, None);
        assert_eq!(
            init_shell(env(&[("init_shell", "/bin/ash")])).value,
            Some(PathBuf::from("/bin/ash"))
        );
    }
}
