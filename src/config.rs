//! Configuration: the file paths init uses (FreeBSD's `pathnames.h`), the kernel environment
//! keys it reads, and the Linux stand-in for kenv (kernel command line + runtime store).
//!
//! Parsing is split as ripgrep splits its flags: this module turns raw text into plain values
//! and does no I/O beyond what the caller hands it, so every parser is unit-tested on strings.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every path PID 1 uses. Defaults are FreeBSD's `pathnames.h`; tests relocate them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The boot script (`_PATH_RUNCOM`); kenv `init_rc` overrides it.
    pub rc: PathBuf,
    /// The shutdown script (`_PATH_RUNDOWN`).
    pub rc_shutdown: PathBuf,
    /// Run last before reboot(2) (`_PATH_RUNFINAL`).
    pub rc_final: PathBuf,
    /// The terminal table.
    pub ttys: PathBuf,
    /// The console device.
    pub console: PathBuf,
    /// Where terminal devices live (`/dev/<name>`).
    pub dev: PathBuf,
    /// Log file when there is no console (`_PATH_INITLOG`).
    pub init_log: PathBuf,
    /// The password database (`/etc/master.passwd` on FreeBSD, `/etc/shadow` on Linux).
    pub passwd_db: PathBuf,
    /// The default shell (`_PATH_BSHELL`); kenv `init_shell` overrides it.
    pub shell: PathBuf,
    /// The last shell single-user mode tries (FreeBSD's statically linked `/rescue/sh`).
    pub rescue_shell: PathBuf,
    /// The Linux runtime kenv store (kept under /dev so it survives a root switch).
    pub kenv_store: PathBuf,
    /// The reroot hook.
    pub rc_reroot: PathBuf,
    /// The reroot staging area (a tmpfs; survivors run from here).
    pub reroot_dir: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            rc: "/etc/rc".into(),
            rc_shutdown: "/etc/rc.shutdown".into(),
            rc_final: "/etc/rc.final".into(),
            ttys: "/etc/ttys".into(),
            console: "/dev/console".into(),
            dev: "/dev".into(),
            init_log: "/var/log/init.log".into(),
            passwd_db: crate::passwd::default_db_path().to_path_buf(),
            shell: DEFAULT_SHELL.into(),
            rescue_shell: "/rescue/sh".into(),
            kenv_store: KENV_STORE.into(),
            rc_reroot: "/etc/rc.reroot".into(),
            reroot_dir: REROOT_DIR.into(),
        }
    }
}

impl Paths {
    /// Every default path placed under `root` (for tests and chroots).
    #[must_use]
    pub fn under(root: &Path) -> Self {
        let d = Paths::default();
        let re = |p: &Path| root.join(p.strip_prefix("/").unwrap_or(p));
        Paths {
            rc: re(&d.rc),
            rc_shutdown: re(&d.rc_shutdown),
            rc_final: re(&d.rc_final),
            ttys: re(&d.ttys),
            console: re(&d.console),
            dev: re(&d.dev),
            init_log: re(&d.init_log),
            passwd_db: re(&d.passwd_db),
            shell: re(&d.shell),
            rescue_shell: re(&d.rescue_shell),
            kenv_store: re(&d.kenv_store),
            rc_reroot: re(&d.rc_reroot),
            reroot_dir: re(&d.reroot_dir),
        }
    }
}

/// The Linux runtime kenv store.
pub const KENV_STORE: &str = "/dev/.reinit/kenv";
/// The reroot staging area: FreeBSD's devfs always has this directory.
pub const REROOT_DIR: &str = "/dev/reroot";

/// The kenv keys reinit reads. FreeBSD's own names are kept; reinit's own keys share the
/// `reinit.` prefix.
pub mod keys {
    /// Colon-separated list of init programs to try after a reroot.
    pub const INIT_PATH: &str = "init_path";
    /// A script run before anything else; failure means single-user.
    pub const INIT_SCRIPT: &str = "init_script";
    /// A directory to chroot into before starting.
    pub const INIT_CHROOT: &str = "init_chroot";
    /// The shell for scripts and single-user mode (read again at every use).
    pub const INIT_SHELL: &str = "init_shell";
    /// A program that replaces PID 1 at start-up.
    pub const INIT_EXEC: &str = "init_exec";
    /// Replaces /etc/rc.
    pub const INIT_RC: &str = "init_rc";
    /// Linux: hard timeout of /etc/rc.shutdown in seconds (FreeBSD uses the sysctl
    /// `kern.init_shutdown_timeout`).
    pub const SHUTDOWN_TIMEOUT: &str = "reinit.shutdown_timeout";
    /// The new root: `fstype:device`, alternatives separated by spaces (FreeBSD's key).
    pub const MOUNTFROM: &str = "vfs.root.mountfrom";
    /// Mount options for the new root, comma-separated (FreeBSD's key).
    pub const MOUNTFROM_OPTIONS: &str = "vfs.root.mountfrom.options";
    /// Seconds to wait for the new root's device to appear (FreeBSD's key; default 3).
    pub const MOUNTROOT_TIMEOUT: &str = "vfs.mountroot.timeout";
    /// Seconds the reroot hook may run per phase (default 60).
    pub const HOOK_TIMEOUT: &str = "reinit.hook_timeout";
    /// `transactional` (default: hook and checks before anything is stopped) or
    /// `kill-first` (FreeBSD and nbd-init: stop everything, then run the hook).
    pub const REROOT_ORDER: &str = "reinit.reroot_order";
    /// `freebsd` (default: SIGTERM means single-user) or `linux` (SIGTERM means reboot, as
    /// busybox's `reboot` and sysvinit clients send it).
    pub const SIGNALS: &str = "reinit.signals";
    /// Reroot once: seconds the new root has to say `reinit confirm` before reinit reroots
    /// back to the previous root (0 or unset: no confirmation is asked for).
    pub const REROOT_CONFIRM: &str = "reinit.reroot_confirm";
    /// Every key reinit reads, for `reinit check` and the documentation.
    pub const ALL: [&str; 14] = [
        INIT_PATH,
        INIT_SCRIPT,
        INIT_CHROOT,
        INIT_SHELL,
        INIT_EXEC,
        INIT_RC,
        SHUTDOWN_TIMEOUT,
        MOUNTFROM,
        MOUNTFROM_OPTIONS,
        MOUNTROOT_TIMEOUT,
        HOOK_TIMEOUT,
        REROOT_ORDER,
        SIGNALS,
        REROOT_CONFIRM,
    ];
}

/// Default time the reroot hook may run per phase.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time to wait for the new root's device (FreeBSD `vfs.mountroot.timeout`).
pub const DEFAULT_MOUNTROOT_TIMEOUT: Duration = Duration::from_secs(3);

/// Default hard timeout of /etc/rc.shutdown (FreeBSD `DEATH_SCRIPT`).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long to wait for processes to die after SIGTERM, and again after SIGKILL
/// (FreeBSD `DEATH_WATCH`).
pub const DEATH_WATCH: Duration = Duration::from_secs(10);
/// How long to wait before retrying something that failed, so the console can be read
/// (FreeBSD `STALL_TIMEOUT`).
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A single-user shell killed by a signal sooner than this after its start died "at once";
/// [`SHELL_QUICK_DEATHS`] such deaths in a row pause the restarts for [`STALL_TIMEOUT`]
/// instead of restarting in a tight loop (FreeBSD's init restarts at once, forever).
pub const SHELL_QUICK_DEATH: Duration = Duration::from_secs(1);
/// See [`SHELL_QUICK_DEATH`].
pub const SHELL_QUICK_DEATHS: u32 = 3;

/// A bad kenv value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KenvError {
    /// A number was expected.
    #[error("kenv {key}={value}: not a whole number of seconds")]
    NotSeconds {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// More seconds than any wait PID 1 makes may last ([`MAX_SECONDS`]).
    #[error("kenv {key}={value}: more than {} seconds", MAX_SECONDS)]
    TooLong {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// A path was expected to be absolute.
    #[error("kenv {key}={value}: not an absolute path")]
    NotAbsolute {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// A name is not usable as a kenv key.
    #[error("kenv name `{0}` is empty, starts with `-`, or contains `=`, whitespace or a control character")]
    BadName(String),
    /// The shutdown timeout is below FreeBSD's minimum of 2 s.
    #[error("kenv {key}={value}: below the minimum of 2 seconds")]
    TooShort {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// A word was expected to be one of a few.
    #[error("{key}={value}: not {allowed}")]
    NotOneOf {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// The words allowed, for the message (`freebsd or linux`).
        allowed: &'static str,
    },
    /// An entry of a colon-separated path list is not absolute.
    #[error("{key} entry `{entry}` is not absolute")]
    RelativeEntry {
        /// The key.
        key: String,
        /// The entry.
        entry: String,
    },
    /// The init search list names no init at all.
    #[error("{key} `{value}` names no init")]
    NoInit {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// `vfs.root.mountfrom` does not parse.
    #[error(transparent)]
    Target(#[from] crate::newroot::TargetError),
}

/// Parse a timeout in whole seconds. FreeBSD ignores values below 2; so does this.
pub fn parse_shutdown_timeout(key: &str, value: &str) -> Result<Duration, KenvError> {
    let d = parse_seconds(key, value)?;
    if d < Duration::from_secs(2) {
        return Err(KenvError::TooShort {
            key: key.to_owned(),
            value: value.to_owned(),
        });
    }
    Ok(d)
}

/// The longest wait a kenv value may set: one day. Every time PID 1 computes from such a
/// value then stays far from overflowing.
pub const MAX_SECONDS: u64 = 86_400;

/// Parse a whole number of seconds, 0 to [`MAX_SECONDS`].
pub fn parse_seconds(key: &str, value: &str) -> Result<Duration, KenvError> {
    let err = |e: fn(String, String) -> KenvError| e(key.to_owned(), value.to_owned());
    let n: u64 = value
        .trim()
        .parse()
        .map_err(|_| err(|key, value| KenvError::NotSeconds { key, value }))?;
    if n > MAX_SECONDS {
        return Err(err(|key, value| KenvError::TooLong { key, value }));
    }
    Ok(Duration::from_secs(n))
}

/// Parse an absolute path value (init_shell, init_rc, init_script, init_exec, init_chroot).
pub fn parse_abs_path(key: &str, value: &str) -> Result<PathBuf, KenvError> {
    if value.starts_with('/') {
        Ok(PathBuf::from(value))
    } else {
        Err(KenvError::NotAbsolute {
            key: key.to_owned(),
            value: value.to_owned(),
        })
    }
}

/// Check that a kenv name is usable.
pub fn check_name(name: &str) -> Result<(), KenvError> {
    // A leading '-' would read back as an unset line of the Linux store (and as an option
    // to kenv(1)).
    if name.is_empty()
        || name.starts_with('-')
        || name.contains('=')
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        Err(KenvError::BadName(name.to_owned()))
    } else {
        Ok(())
    }
}

/// The `key=value` words of a Linux kernel command line, in order. Double quotes group words
/// (`key="a b"`), as the kernel's own parser does. Words without `=` are flags and are not
/// kenv; everything after a lone `--` belongs to init's argv, not to kenv.
#[must_use]
pub fn parse_cmdline(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for word in split_quoted(text, false).words {
        if word == "--" {
            break;
        }
        if let Some((k, v)) = word.split_once('=') {
            if !k.is_empty() {
                out.push((k.to_owned(), v.to_owned()));
            }
        }
    }
    out
}

/// Words split at whitespace, double quotes grouping (and removed), as the kernel command
/// line and /etc/ttys both quote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Quoted {
    /// The words.
    pub words: Vec<String>,
    /// A double quote was left open (the rest of the text is the last word).
    pub unterminated: bool,
}

/// Split `text` into [`Quoted`] words. With `comment`, a `#` outside quotes ends the text.
#[must_use]
pub fn split_quoted(text: &str, comment: bool) -> Quoted {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut have = false;
    for c in text.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                have = true;
            }
            '#' if comment && !in_quotes => break,
            c if c.is_whitespace() && !in_quotes => {
                if have {
                    words.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            c => {
                cur.push(c);
                have = true;
            }
        }
    }
    if have {
        words.push(cur);
    }
    Quoted {
        words,
        unterminated: in_quotes,
    }
}

/// One line of the runtime store: `key=value` (value to end of line) or `-key` (unset, hiding
/// a command-line value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreEntry {
    /// Set.
    Set(String, String),
    /// Unset.
    Unset(String),
}

/// Parse the runtime store. Later lines win. Malformed lines are skipped. Lines end at `\n`
/// only: a carriage return before it belongs to the value, as [`render_store`] wrote it.
#[must_use]
pub fn parse_store(text: &str) -> Vec<StoreEntry> {
    text.split('\n')
        .filter_map(|l| {
            if let Some(k) = l.strip_prefix('-') {
                return (!k.is_empty()).then(|| StoreEntry::Unset(k.to_owned()));
            }
            let (k, v) = l.split_once('=')?;
            (!k.is_empty()).then(|| StoreEntry::Set(k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// The runtime store's text for `entries`, one line each: what [`parse_store`] reads back.
#[must_use]
pub fn render_store(entries: &[StoreEntry]) -> String {
    let mut text = String::new();
    for e in entries {
        match e {
            StoreEntry::Set(k, v) => text.push_str(&format!("{k}={v}\n")),
            StoreEntry::Unset(k) => text.push_str(&format!("-{k}\n")),
        }
    }
    text
}

/// Look a key up: the runtime store first (last entry wins, `-key` hides), then the command
/// line (last occurrence wins, as the kernel's own parameters do).
#[must_use]
pub fn lookup(store: &[StoreEntry], cmdline: &[(String, String)], key: &str) -> Option<String> {
    for e in store.iter().rev() {
        match e {
            StoreEntry::Set(k, v) if k == key => return Some(v.clone()),
            StoreEntry::Unset(k) if k == key => return None,
            _ => {}
        }
    }
    cmdline
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

/// Every effective variable, sorted by name (for `reinit kenv` with no argument).
#[must_use]
pub fn effective(store: &[StoreEntry], cmdline: &[(String, String)]) -> Vec<(String, String)> {
    let mut names: Vec<&str> = cmdline.iter().map(|(k, _)| k.as_str()).collect();
    names.extend(store.iter().map(|e| match e {
        StoreEntry::Set(k, _) | StoreEntry::Unset(k) => k.as_str(),
    }));
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|k| lookup(store, cmdline, k).map(|v| (k.to_owned(), v)))
        .collect()
}

/// The default shell, `_PATH_BSHELL`.
pub const DEFAULT_SHELL: &str = "/bin/sh";

/// Mount options as `mount -o` takes them (`vfs.root.mountfrom.options`, a
/// [`crate::kernel::MountSpec`]'s options): comma-separated words, blanks around them and
/// empty ones dropped; `ro` and `rw` taken out (the last one wins), the rest kept in order.
/// The one parser of mount options: the reroot target and both kernels' mounts use it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// `Some(true)` when the last of `ro`/`rw` is `ro`, `Some(false)` when it is `rw`,
    /// `None` when neither is given.
    pub read_only: Option<bool>,
    /// Every other option, in order (`noatime`, `errors=remount-ro`).
    pub rest: Vec<String>,
}

impl MountOptions {
    /// Parse a comma-separated option list.
    #[must_use]
    pub fn parse(options: &str) -> MountOptions {
        let mut out = MountOptions::default();
        for o in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            match o {
                "ro" => out.read_only = Some(true),
                "rw" => out.read_only = Some(false),
                other => out.rest.push(other.to_owned()),
            }
        }
        out
    }

    /// The options other than `ro`/`rw`, comma-separated again.
    #[must_use]
    pub fn others(&self) -> String {
        self.rest.join(",")
    }
}

/// Parse FreeBSD's `kern.console` sysctl (`"ttyv0,ttyu0,/ttyv0,ttyu0,"`): the active
/// consoles are the names before the slash.
#[must_use]
pub fn parse_kern_console(v: &str) -> Vec<String> {
    v.split('/')
        .next()
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The environment every script child gets (init.c gives scripts only what the "daemon"
/// login class sets; reinit documents a fixed minimal one).
#[must_use]
pub fn script_env() -> Vec<(String, String)> {
    vec![
        ("HOME".into(), "/".into()),
        ("PATH".into(), "/sbin:/bin:/usr/sbin:/usr/bin".into()),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cmdline_words_and_quotes() {
        let c = parse_cmdline(
            "BOOT_IMAGE=/vmlinuz root=/dev/vda ro quiet init_shell=/bin/ash x=\"a b\" reinit.shutdown_timeout=7 -- init_rc=/no",
        );
        assert_eq!(
            c,
            vec![
                ("BOOT_IMAGE".into(), "/vmlinuz".into()),
                ("root".into(), "/dev/vda".into()),
                ("init_shell".into(), "/bin/ash".into()),
                ("x".into(), "a b".into()),
                ("reinit.shutdown_timeout".into(), "7".into()),
            ]
        );
    }

    #[test]
    fn cmdline_edge_cases() {
        assert!(parse_cmdline("").is_empty());
        assert!(parse_cmdline("   \n").is_empty());
        assert_eq!(parse_cmdline("=x a==b"), vec![("a".into(), "=b".into())]);
        // Unterminated quote: the rest is one word, as the kernel does.
        assert_eq!(parse_cmdline("k=\"a b"), vec![("k".into(), "a b".into())]);
    }

    #[test]
    fn kenv_names_that_cannot_be_stored_are_refused() {
        for bad in ["", "-a", "a=b", "a b", "a\u{1}", "a\n"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "vfs.root.mountfrom", "a-b", "reinit.hook_timeout"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn store_overrides_cmdline_and_unset_hides() {
        let cmd = parse_cmdline("a=1 b=2 a=3");
        let store = parse_store("b=20\nc=x=y\n-a\nbad line\n=novalue\n");
        assert_eq!(lookup(&store, &cmd, "a"), None);
        assert_eq!(lookup(&store, &cmd, "b").as_deref(), Some("20"));
        assert_eq!(lookup(&store, &cmd, "c").as_deref(), Some("x=y"));
        assert_eq!(lookup(&[], &cmd, "a").as_deref(), Some("3"));
        assert_eq!(
            effective(&store, &cmd),
            vec![("b".into(), "20".into()), ("c".into(), "x=y".into())]
        );
        let store = parse_store("-a\na=5\n");
        assert_eq!(lookup(&store, &cmd, "a").as_deref(), Some("5"));
    }

    /// What `reinit kenv` writes is what it reads back, a value ending in a carriage return
    /// included (found by the kenv_store fuzz target).
    #[test]
    fn the_store_reads_back_what_it_wrote() {
        let entries = vec![
            StoreEntry::Set("a".into(), "x\r".into()),
            StoreEntry::Unset("b\r".into()),
            StoreEntry::Set("c".into(), "\r".into()),
        ];
        assert_eq!(parse_store(&render_store(&entries)), entries);
        // The fuzz target's input: an unset at the end of the file without a newline.
        let read = parse_store("-\u{fffd};\r");
        assert_eq!(parse_store(&render_store(&read)), read);
    }

    /// Property: a store read, written and read again is the same store, and gives the
    /// same effective variables over any command line.
    #[test]
    fn stores_round_trip() {
        let pieces = ["a", "b", "=", "-", "\n", "\r", " ", "x", "\r\n", "é", "=="];
        let cmdline = parse_cmdline("a=1 b=2 x=3 -=4");
        let mut seen = 0;
        for text in crate::testutil::texts(&pieces, 3000, 12, 5) {
            let entries = parse_store(&text);
            seen += entries.len();
            let again = parse_store(&render_store(&entries));
            assert_eq!(again, entries, "{text:?}");
            assert_eq!(effective(&again, &cmdline), effective(&entries, &cmdline));
        }
        assert!(seen > 1000, "the generator makes entries ({seen})");
    }

    /// Property: the options other than ro/rw, printed and parsed again, are the same.
    #[test]
    fn mount_options_round_trip() {
        for text in
            crate::testutil::texts(&["ro", "rw", ",", " ", "noatime", "a=b", "\t"], 2000, 8, 5)
        {
            let o = MountOptions::parse(&text);
            let again = MountOptions::parse(&o.others());
            assert_eq!((again.read_only, &again.rest), (None, &o.rest), "{text:?}");
        }
    }

    #[test]
    fn bad_values_have_named_errors() {
        assert_eq!(
            parse_shutdown_timeout("reinit.shutdown_timeout", "soon")
                .unwrap_err()
                .to_string(),
            "kenv reinit.shutdown_timeout=soon: not a whole number of seconds"
        );
        assert!(matches!(
            parse_shutdown_timeout("k", "1"),
            Err(KenvError::TooShort { .. })
        ));
        assert_eq!(
            parse_shutdown_timeout("k", " 30 ").unwrap(),
            Duration::from_secs(30)
        );
        assert!(matches!(
            parse_abs_path("init_shell", "sh"),
            Err(KenvError::NotAbsolute { .. })
        ));
        assert!(check_name("a b").is_err());
        assert!(check_name("a=b").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("vfs.root.mountfrom").is_ok());
    }

    #[test]
    fn seconds_are_bounded() {
        assert_eq!(parse_seconds("k", "86400"), Ok(Duration::from_secs(86_400)));
        assert!(matches!(
            parse_seconds("k", "86401"),
            Err(KenvError::TooLong { .. })
        ));
        assert!(matches!(
            parse_seconds("k", "18446744073709551615"),
            Err(KenvError::TooLong { .. })
        ));
        assert!(matches!(
            parse_seconds("k", "18446744073709551616"),
            Err(KenvError::NotSeconds { .. })
        ));
    }

    #[test]
    fn mount_options_split_ro_rw_from_the_rest() {
        assert_eq!(MountOptions::parse(""), MountOptions::default());
        let o = MountOptions::parse(" noatime, rw,,errors=remount-ro ");
        assert_eq!(o.read_only, Some(false));
        assert_eq!(o.rest, vec!["noatime", "errors=remount-ro"]);
        assert_eq!(o.others(), "noatime,errors=remount-ro");
        // The last of ro and rw wins, as mount(8) reads them.
        assert_eq!(MountOptions::parse("rw,ro,acl").read_only, Some(true));
        assert_eq!(MountOptions::parse("ro,rw").read_only, Some(false));
        assert_eq!(MountOptions::parse("acl").read_only, None);
    }

    #[test]
    fn kern_console_active_list() {
        assert_eq!(
            parse_kern_console("ttyv0,ttyu0,/ttyv0,ttyu0,"),
            vec!["ttyv0", "ttyu0"]
        );
        assert!(parse_kern_console("/ttyv0").is_empty());
        assert!(parse_kern_console("").is_empty());
    }

    #[test]
    fn paths_relocate() {
        let p = Paths::under(Path::new("/tmp/x"));
        assert_eq!(p.rc, Path::new("/tmp/x/etc/rc"));
        assert_eq!(p.console, Path::new("/tmp/x/dev/console"));
    }
}
