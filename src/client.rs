//! reinit when it is not PID 1: FreeBSD's `init 0|1|6|c|q|r` (COMPAT_SYSV_INIT), `reinit kenv`,
//! and the internal `sulogin` helper that single-user mode runs in front of the shell.

use std::ffi::CString;
use std::path::Path;

use crate::config::{self, KenvError};
use crate::kernel::{Sig, REROOT_SIGNAL};
use crate::passwd::{self, Outcome, RootPassword};
use crate::signals::Convention;

/// A failed client command.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Only root may signal init (checked first, as init.c does).
    #[error("{0}: Operation not permitted (run as root)")]
    NotRoot(String),
    /// `init` with no argument, as a normal process.
    #[error("already running")]
    AlreadyRunning,
    /// An argument that is not UTF-8 (names and values are text).
    #[error("argument {0} is not valid UTF-8: {1}")]
    NotUtf8(usize, String),
    /// `init 1` while SIGTERM means reboot (kenv `reinit.signals=linux`).
    #[error("reinit.signals=linux: SIGTERM means reboot, so single-user mode cannot be asked for by signal")]
    SingleUnderLinux,
    /// An unknown run level.
    #[error("invalid run-level `{0}'")]
    InvalidRunLevel(String),
    /// kill(2) on PID 1 failed.
    #[error("cannot signal init: {0}")]
    Signal(#[source] nix::errno::Errno),
    /// A bad kenv name or value.
    #[error(transparent)]
    Kenv(#[from] KenvError),
    /// The kenv store could not be read or written.
    #[error("kenv store {path}: {source}")]
    Store {
        /// The store.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A kenv variable is not set.
    #[error("unable to get {0}")]
    NotSet(String),
    /// kenv(2) failed (FreeBSD).
    #[error("kenv {name}: {errno}")]
    KenvCall {
        /// The variable.
        name: String,
        /// The errno.
        errno: nix::errno::Errno,
    },
    /// `reinit carry` failed.
    #[error(transparent)]
    Carry(#[from] crate::carry::CarryError),
    /// Wrong arguments.
    #[error("usage: {0}")]
    Usage(&'static str),
    /// `reinit confirm` with no reroot waiting for it.
    #[error("no reroot is waiting for confirmation ({0})")]
    NothingToConfirm(String),
    /// The record could not be written.
    #[error("{0}: {1}")]
    Record(String, #[source] std::io::Error),
}

const USAGE: &str = "init [0|1|6|c|q|r] | reinit kenv [-u] [NAME[=VALUE]] | reinit check [--root DIR] [--newroot DIR] | reinit carry [--to DIR] PROGRAM... | reinit confirm | reinit --version";

/// The run-level letters and the signals they send to PID 1 (init.c, COMPAT_SYSV_INIT).
#[must_use]
pub fn runlevel_signal(level: &str) -> Option<i32> {
    Some(match level {
        "0" => libc::SIGUSR2,
        "1" => libc::SIGTERM,
        "6" => libc::SIGINT,
        "c" => libc::SIGTSTP,
        "q" => libc::SIGHUP,
        "r" => REROOT_SIGNAL,
        _ => return None,
    })
}

/// Run the client with `args` (argv without argv\[0\]); prints errors, returns the status.
#[must_use]
pub fn main(args: &[std::ffi::OsString]) -> u8 {
    crate::log::init_client();
    let mut text = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        match a.to_str() {
            Some(s) => text.push(s.to_owned()),
            None => {
                eprintln!(
                    "reinit: {}",
                    ClientError::NotUtf8(i + 1, a.to_string_lossy().into())
                );
                return 2;
            }
        }
    }
    match run(&text) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("reinit: {e}");
            1
        }
    }
}

fn run(args: &[String]) -> Result<u8, ClientError> {
    let first = args.first().map(String::as_str);
    match first {
        Some("--version" | "-V") => {
            println!("reinit {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            Ok(0)
        }
        Some("kenv") => kenv(&args[1..]),
        Some("carry") => carry(&args[1..]),
        Some("check") => {
            let (root, newroot) =
                crate::check::parse_args(&args[1..]).map_err(|_| ClientError::Usage(USAGE))?;
            let get = |k: &str| platform::get(k).ok().flatten();
            let findings = crate::check::run(&crate::check::input(root.as_deref(), newroot, &get));
            Ok(crate::check::report(&findings))
        }
        Some("sulogin") => Ok(sulogin(&args[1..])),
        Some("confirm") if args.len() == 1 => {
            if !nix::unistd::getuid().is_root() {
                return Err(ClientError::NotRoot("confirm".into()));
            }
            confirm(std::path::Path::new(config::REROOT_DIR))
        }
        _ => {
            if !nix::unistd::getuid().is_root() {
                return Err(ClientError::NotRoot(first.unwrap_or("init").to_owned()));
            }
            let Some(level) = first else {
                return Err(ClientError::AlreadyRunning);
            };
            let sig = runlevel_signal(level)
                .ok_or_else(|| ClientError::InvalidRunLevel(level.to_owned()))?;
            // Under the Linux convention SIGTERM means reboot: `init 1` would reboot.
            let kenv = |k: &str| platform::get(k).ok().flatten();
            let linux = crate::settings::signals(kenv).value == Convention::Linux;
            if linux && sig == libc::SIGTERM {
                return Err(ClientError::SingleUnderLinux);
            }
            let sig = nix::sys::signal::Signal::try_from(sig).map_err(ClientError::Signal)?;
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(1), sig)
                .map_err(ClientError::Signal)?;
            Ok(0)
        }
    }
}

/// `reinit confirm`: the new root of a reroot that asked for confirmation
/// (`reinit.reroot_confirm`) says it is healthy, so PID 1 does not fall back to the previous
/// root. The word is kept in the reroot record of the staging area `dir`.
pub fn confirm(dir: &std::path::Path) -> Result<u8, ClientError> {
    use crate::newroot::{Record, RECORD_FILE};
    let Some(mut r) = Record::load(dir) else {
        return Err(ClientError::NothingToConfirm(format!(
            "no record in {}",
            dir.display()
        )));
    };
    let target = r.target.clone().unwrap_or_else(|| "?".into());
    if r.fallback {
        println!(
            "reroot #{} to {target} is a fallback: nothing to confirm",
            r.count
        );
        return Ok(0);
    }
    if r.confirm_s == 0 {
        return Err(ClientError::NothingToConfirm(format!(
            "reroot #{} to {target} did not ask for it",
            r.count
        )));
    }
    if !r.confirmed {
        r.confirmed = true;
        r.save(dir)
            .map_err(|e| ClientError::Record(dir.join(RECORD_FILE).display().to_string(), e))?;
    }
    println!("reroot #{} to {target} confirmed", r.count);
    Ok(0)
}

/// `reinit carry [--to DIR] PROGRAM...`: copy each program with its loader and libraries
/// and print the command that runs the copy.
fn carry(args: &[String]) -> Result<u8, ClientError> {
    let (dest, programs) = match args {
        [to, dir, rest @ ..] if to == "--to" => (std::path::PathBuf::from(dir), rest),
        rest => (std::path::PathBuf::from(crate::carry::DEFAULT_DEST), rest),
    };
    if programs.is_empty() {
        return Err(ClientError::Usage(USAGE));
    }
    for p in programs {
        let c = crate::carry::carry(p, &dest)?;
        println!("{}", c.command());
    }
    Ok(0)
}

/// `reinit kenv`: list; `kenv NAME`: print; `kenv NAME=VALUE`: set; `kenv -u NAME`: unset.
fn kenv(args: &[String]) -> Result<u8, ClientError> {
    match args {
        [] => {
            for (k, v) in platform::list()? {
                println!("{k}=\"{v}\"");
            }
        }
        [u, name] if u == "-u" => {
            config::check_name(name)?;
            platform::unset(name)?;
        }
        [arg] => match arg.split_once('=') {
            Some((name, value)) => {
                config::check_name(name)?;
                platform::set(name, value)?;
            }
            None => {
                config::check_name(arg)?;
                match platform::get(arg)? {
                    Some(v) => println!("{v}"),
                    None => return Err(ClientError::NotSet(arg.clone())),
                }
            }
        },
        _ => return Err(ClientError::Usage(USAGE)),
    }
    Ok(0)
}

#[cfg(target_os = "linux")]
mod platform {
    //! kenv on Linux: the runtime store over the kernel command line.
    use std::fs;
    use std::io::{self, Write};
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    use std::path::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use nix::fcntl::{Flock, FlockArg};

    use super::ClientError;
    use crate::config::{self, StoreEntry, KENV_STORE};
    use crate::kernel::linux::cmdline_kenv;

    fn store_err(source: std::io::Error) -> ClientError {
        ClientError::Store {
            path: KENV_STORE.into(),
            source,
        }
    }

    fn read_store() -> Result<Vec<StoreEntry>, ClientError> {
        match fs::read_to_string(KENV_STORE) {
            Ok(t) => Ok(config::parse_store(&t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(store_err(e)),
        }
    }

    /// Rewrite the store atomically with one more entry.
    fn append(entry: StoreEntry) -> Result<(), ClientError> {
        append_at(Path::new(KENV_STORE), entry).map_err(store_err)
    }

    /// Rewrite the store at `path` with one more entry: under an exclusive lock on
    /// `path.lock` (concurrent writers would otherwise each rewrite what they read and lose
    /// the others' entries), into a new file that replaces the store by rename.
    pub(super) fn append_at(path: &Path, entry: StoreEntry) -> std::io::Result<()> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = path.parent().unwrap_or(Path::new("/dev"));
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let lock = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path.with_extension("lock"))?;
        let _held =
            Flock::lock(lock, FlockArg::LockExclusive).map_err(|(_, e)| io::Error::from(e))?;
        let mut entries = match fs::read_to_string(path) {
            Ok(t) => config::parse_store(&t),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let key = match &entry {
            StoreEntry::Set(k, _) | StoreEntry::Unset(k) => k.clone(),
        };
        entries.retain(|e| !matches!(e, StoreEntry::Set(k, _) | StoreEntry::Unset(k) if *k == key));
        entries.push(entry);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("kenv.{}.{n}", std::process::id()));
        let written = write_new(&tmp, &entries).and_then(|()| fs::rename(&tmp, path));
        if written.is_err() {
            // A full /dev: the store stays as it was, with no half-written file beside it.
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    fn write_new(tmp: &Path, entries: &[StoreEntry]) -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)?;
        f.write_all(config::render_store(entries).as_bytes())?;
        f.sync_all()
    }

    pub fn set(name: &str, value: &str) -> Result<(), ClientError> {
        if value.contains('\n') {
            return Err(ClientError::Usage("kenv values cannot contain a newline"));
        }
        append(StoreEntry::Set(name.into(), value.into()))
    }

    pub fn unset(name: &str) -> Result<(), ClientError> {
        append(StoreEntry::Unset(name.into()))
    }

    pub fn get(name: &str) -> Result<Option<String>, ClientError> {
        Ok(config::lookup(&read_store()?, &cmdline_kenv(), name))
    }

    pub fn list() -> Result<Vec<(String, String)>, ClientError> {
        Ok(config::effective(&read_store()?, &cmdline_kenv()))
    }
}

#[cfg(target_os = "freebsd")]
mod platform {
    //! kenv on FreeBSD: kenv(2).
    use super::ClientError;
    use crate::kernel::freebsd;

    fn err(name: &str, errno: nix::errno::Errno) -> ClientError {
        ClientError::KenvCall {
            name: name.into(),
            errno,
        }
    }

    pub fn set(name: &str, value: &str) -> Result<(), ClientError> {
        freebsd::kenv_set(name, value).map_err(|e| err(name, e))
    }

    pub fn unset(name: &str) -> Result<(), ClientError> {
        freebsd::kenv_unset(name).map_err(|e| err(name, e))
    }

    pub fn get(name: &str) -> Result<Option<String>, ClientError> {
        Ok(freebsd::kenv_get(name))
    }

    pub fn list() -> Result<Vec<(String, String)>, ClientError> {
        freebsd::kenv_dump().map_err(|e| err("(dump)", e))
    }
}

/// The single-user helper: `reinit sulogin DB SHELL`. Asks root's password when root has
/// one, then becomes the shell (`-sh`); exits 0 (go multi-user) on an empty line or EOF.
fn sulogin(args: &[String]) -> u8 {
    let (db, shell) = match args {
        [db, shell] => (Path::new(db), Path::new(shell)),
        _ => return 2,
    };
    match passwd::root_password(db) {
        // The prompt prints FreeBSD's banner itself; a locked hash never matches.
        Ok(RootPassword::Hash(h)) => {
            if passwd::ask_on_console(&h) == Outcome::MultiUser {
                return 0;
            }
        }
        Ok(RootPassword::Locked) => {
            if passwd::ask_on_console("*") == Outcome::MultiUser {
                return 0;
            }
        }
        Ok(RootPassword::None) => {}
        Err(e) => eprintln!("reinit: {e}; starting the shell"),
    }
    exec_shell(shell)
}

/// Become the login shell `-sh`; fall back to /bin/sh, then /rescue/sh. Returns only if
/// all fail.
fn exec_shell(shell: &Path) -> u8 {
    let argv = [c"-sh".to_owned()];
    for sh in [shell, Path::new("/bin/sh"), Path::new("/rescue/sh")] {
        if let Ok(p) = CString::new(sh.as_os_str().as_encoded_bytes()) {
            let Err(e) = nix::unistd::execv(&p, &argv);
            eprintln!("reinit: cannot exec {}: {e}", sh.display());
        }
    }
    1
}

/// The signal a letter sends, by name (for tests and messages).
#[must_use]
pub fn runlevel_sig(level: &str) -> Option<Sig> {
    runlevel_signal(level).and_then(Sig::from_number)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Writers at once (threads here; processes in the namespace tier) lose nothing: each
    /// rewrite of the store happens under its lock.
    #[cfg(target_os = "linux")]
    #[test]
    fn concurrent_store_writers_lose_nothing() {
        let d = tempfile::tempdir().unwrap();
        let store = d.path().join("reinit/kenv");
        std::thread::scope(|s| {
            for i in 0..20 {
                let store = &store;
                s.spawn(move || {
                    platform::append_at(
                        store,
                        config::StoreEntry::Set(format!("w{i}"), i.to_string()),
                    )
                    .unwrap();
                });
            }
        });
        let text = std::fs::read_to_string(&store).unwrap();
        let entries = config::parse_store(&text);
        assert_eq!(entries.len(), 20, "{text}");
    }

    /// The store is root's alone: its directory is created mode 0700, the store and its
    /// lock mode 0600, whatever the caller's umask lets through beyond that.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_store_and_its_lock_are_root_s_alone() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let store = d.path().join("reinit/kenv");
        platform::append_at(&store, config::StoreEntry::Set("a".into(), "1".into())).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&d.path().join("reinit")), 0o700);
        assert_eq!(mode(&store), 0o600);
        assert_eq!(mode(&store.with_extension("lock")), 0o600);
    }

    #[test]
    fn runlevels_map_as_freebsd() {
        assert_eq!(runlevel_sig("0"), Some(Sig::Usr2));
        assert_eq!(runlevel_sig("1"), Some(Sig::Term));
        assert_eq!(runlevel_sig("6"), Some(Sig::Int));
        assert_eq!(runlevel_sig("c"), Some(Sig::Tstp));
        assert_eq!(runlevel_sig("q"), Some(Sig::Hup));
        assert_eq!(runlevel_sig("r"), Some(Sig::Reroot));
        assert_eq!(runlevel_sig("5"), None);
        assert_eq!(runlevel_sig("qq"), None);
    }

    /// `reinit confirm` marks an armed record confirmed, once; it refuses when nothing waits
    /// for it, and leaves a fallback's record as it is.
    #[test]
    fn confirm_marks_only_an_armed_record() {
        use crate::newroot::Record;
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        assert!(matches!(
            confirm(dir),
            Err(ClientError::NothingToConfirm(_))
        ));
        let mut r = Record {
            count: 2,
            target: Some("ext4:/dev/nbd0".into()),
            ..Record::default()
        };
        r.save(dir).unwrap();
        assert!(matches!(
            confirm(dir),
            Err(ClientError::NothingToConfirm(_))
        ));
        assert!(!Record::load(dir).unwrap().confirmed);
        r.confirm_s = 300;
        r.save(dir).unwrap();
        assert_eq!(confirm(dir).unwrap(), 0);
        assert!(Record::load(dir).unwrap().confirmed);
        assert_eq!(confirm(dir).unwrap(), 0);
        r.fallback = true;
        r.save(dir).unwrap();
        assert_eq!(confirm(dir).unwrap(), 0);
        assert_eq!(
            Record::load(dir).unwrap(),
            r,
            "a fallback's record is left alone"
        );
    }

    #[test]
    fn client_errors_read_well() {
        assert_eq!(ClientError::AlreadyRunning.to_string(), "already running");
        assert_eq!(
            ClientError::InvalidRunLevel("x".into()).to_string(),
            "invalid run-level `x'"
        );
    }
}
