//! The rules of a reroot that can be checked without switching anything: which filesystem
//! to mount (`vfs.root.mountfrom`), whether the `/etc/rc.reroot` hook may be trusted, and
//! which init the new root would run. `reinit check` reports on them; the reroot itself
//! applies the same rules before its point of no return.

use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// The kernel's default init search list (FreeBSD `kern.init_path`; reinit uses the same
/// list on Linux).
pub const DEFAULT_INIT_PATH: &str = "/sbin/init:/sbin/oinit:/sbin/init.bak:/rescue/init";

pub use crate::config::keys::{MOUNTFROM, MOUNTFROM_OPTIONS};
pub use crate::trust::{
    host_lstat, root_controls, trust_hook, FileKind, HookError, Lstat, Meta, PathError,
};

/// One `fstype:device` alternative of `vfs.root.mountfrom`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Filesystem type, e.g. `ufs`, `zfs`, `ext4`.
    pub fstype: String,
    /// Device (`/dev/ada0p2`, `ada0p2`) or, for zfs and nfs, a dataset or server path.
    pub device: String,
}

impl Source {
    /// The device node to look for, if this filesystem lives on one: an absolute path as
    /// given, a bare name under /dev (as FreeBSD's mountroot accepts); none for zfs datasets,
    /// nfs, tmpfs and friends.
    #[must_use]
    pub fn device_node(&self) -> Option<PathBuf> {
        if matches!(
            self.fstype.as_str(),
            "zfs" | "nfs" | "p9fs" | "tmpfs" | "virtiofs" | "9p"
        ) {
            return None;
        }
        Some(if self.device.starts_with('/') {
            PathBuf::from(&self.device)
        } else {
            Path::new("/dev").join(&self.device)
        })
    }
}

/// `fstype:device`, as `vfs.root.mountfrom` writes an alternative: [`parse_mountfrom`] reads
/// alternatives printed so, separated by spaces, back to the same sources.
impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.fstype, self.device)
    }
}

/// A bad `vfs.root.mountfrom` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The value is empty.
    #[error("{MOUNTFROM} is empty")]
    Empty,
    /// An alternative lacks `fstype:` or the device.
    #[error("{MOUNTFROM}: `{0}` is not fstype:device")]
    Syntax(String),
}

/// Parse `vfs.root.mountfrom`: space-separated `fstype:device` alternatives, tried in order.
pub fn parse_mountfrom(value: &str) -> Result<Vec<Source>, TargetError> {
    let mut out = Vec::new();
    for alt in value.split_whitespace() {
        match alt.split_once(':') {
            Some((fs, dev)) if !fs.is_empty() && !dev.is_empty() => out.push(Source {
                fstype: fs.to_owned(),
                device: dev.to_owned(),
            }),
            _ => return Err(TargetError::Syntax(alt.to_owned())),
        }
    }
    if out.is_empty() {
        return Err(TargetError::Empty);
    }
    Ok(out)
}

/// Split an init search list (`init_path`): colon-separated absolute paths; empty and
/// relative entries are dropped (and returned as the second value, to be reported).
#[must_use]
pub fn parse_init_path(value: &str) -> (Vec<PathBuf>, Vec<String>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for p in value.split(':') {
        if p.starts_with('/') {
            good.push(PathBuf::from(p));
        } else if !p.is_empty() {
            bad.push(p.to_owned());
        }
    }
    (good, bad)
}

/// Most symlinks followed while resolving a path inside a root (Linux's own limit).
const MAX_SYMLINKS: usize = 40;

/// Resolve `path` inside the directory tree `root` as if `root` were `/`: absolute symlinks
/// restart at `root`, `..` never climbs above it. Returns the host path of the final file,
/// or `None` if a component is missing or the links loop.
#[must_use]
pub fn resolve_in_root(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut todo: Vec<PathBuf> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(PathBuf::from(n)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect();
    let mut inside = PathBuf::new(); // path relative to root
    let mut links = 0;
    while let Some(part) = todo.pop() {
        if part == Path::new("..") {
            inside.pop();
            continue;
        }
        let candidate = inside.join(&part);
        let host = root.join(&candidate);
        let meta = host.symlink_metadata().ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > MAX_SYMLINKS {
                return None;
            }
            let target = std::fs::read_link(&host).ok()?;
            if target.is_absolute() {
                inside = PathBuf::new();
            }
            todo.extend(target.components().rev().filter_map(|c| match c {
                Component::Normal(n) => Some(PathBuf::from(n)),
                Component::ParentDir => Some(PathBuf::from("..")),
                _ => None,
            }));
        } else {
            inside = candidate;
        }
    }
    Some(root.join(inside))
}

/// Whether `path` (followed) is a regular file with an execute bit: what PID 1 will exec
/// directly; anything else is run through the shell, or refused.
#[must_use]
pub fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first entry of `search` that resolves inside `root` to an executable regular file,
/// with its host path.
#[must_use]
pub fn find_init(root: &Path, search: &[PathBuf]) -> Option<(PathBuf, PathBuf)> {
    search.iter().find_map(|p| {
        let host = resolve_in_root(root, p)?;
        is_executable(&host).then(|| (p.clone(), host))
    })
}

/// Whether a hook reads `REROOT_PHASE` (so it has `abort` and `stop` phases). An unreadable
/// hook counts as phase-aware: running it fails loudly, which is better than skipping it.
#[must_use]
pub fn hook_knows_phases(hook: &Path) -> bool {
    std::fs::read(hook).map_or(true, |b| {
        b.windows(b"REROOT_PHASE".len())
            .any(|w| w == b"REROOT_PHASE")
    })
}

/// Why a mounted new root cannot be switched to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NewRootError {
    /// No entry of the init search list is an executable file inside the root.
    #[error("no executable init in the new root from `{0}`")]
    NoInit(String),
    /// No entry is executable, but this one is a file without execute permission: a
    /// separate error, because the fix differs (chmod, not install).
    #[error("{0}: mode {1:04o}: not executable")]
    NotExecutable(PathBuf, u32),
    /// The init is a script or dynamic program whose interpreter is missing in the root.
    #[error("{init}: interpreter {interpreter} is missing in the new root")]
    NoInterpreter {
        /// The init, as named in the search list.
        init: PathBuf,
        /// Its `#!` interpreter or PT_INTERP.
        interpreter: String,
    },
    /// The init cannot be read to find its interpreter.
    #[error("{0}: cannot be read: {1}")]
    Unreadable(PathBuf, String),
    /// The root lacks a directory the switch needs: /dev for devfs to cover (FreeBSD's
    /// mountroot fails, and Linux cannot move /dev into it); on Linux also /proc, through
    /// which /dev is moved.
    #[error("the new root has no {} directory", .0.display())]
    NoDir(PathBuf),
    /// The root has no shell for single-user mode, where any failure after the switch
    /// lands.
    #[error("the new root has no executable {} for single-user mode", .0.display())]
    NoShell(PathBuf),
}

/// What the switch and the new system need of a new root besides its init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    /// Directories: /dev everywhere; /proc too where PID 1 switches itself (Linux moves /dev
    /// through /proc/self/fd after moving /proc into the new root).
    pub dirs: Vec<PathBuf>,
    /// The shell single-user mode starts (`init_shell`, default /bin/sh).
    pub shell: PathBuf,
}

impl Needs {
    /// The needs when PID 1 switches the root itself (`user_switch`, Linux) or the kernel
    /// does (FreeBSD), with `shell` for single-user mode.
    #[must_use]
    pub fn new(user_switch: bool, shell: PathBuf) -> Needs {
        let mut dirs = vec![PathBuf::from("/dev")];
        if user_switch {
            dirs.push(PathBuf::from("/proc"));
        }
        Needs { dirs, shell }
    }
}

/// The interpreter a file needs: the first word of a `#!` line, or the ELF PT_INTERP.
pub fn interpreter_of(host: &Path) -> Result<Option<String>, String> {
    let mut head = [0u8; 256];
    let n = std::fs::File::open(host)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(|e| e.to_string())?;
    let head = &head[..n];
    if let Some(interpreter) = shebang(head) {
        return Ok(interpreter);
    }
    if head.starts_with(b"\x7fELF") {
        return crate::carry::interpreter(host).map_err(|e| e.to_string());
    }
    Ok(None)
}

/// The interpreter a `#!` line at the start of `head` names (its first word; `Some(None)`
/// when it names none); `None` when `head` does not start with `#!`.
#[doc(hidden)]
#[must_use]
pub fn shebang(head: &[u8]) -> Option<Option<String>> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    Some(line.split_whitespace().next().map(str::to_owned))
}

/// Check a mounted new root: the first init of `search` that resolves inside it (symlinks
/// kept inside the root), its interpreter, and what `needs` names. Returns the init as named
/// in the list.
pub fn check_new_root(
    root: &Path,
    search: &[PathBuf],
    needs: &Needs,
) -> Result<PathBuf, NewRootError> {
    let list = || {
        search
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    };
    let Some((init, host)) = find_init(root, search) else {
        // Name the first candidate that is a file but lacks execute permission, if any.
        let plain = search.iter().find_map(|p| {
            let m = resolve_in_root(root, p)?.metadata().ok()?;
            m.is_file()
                .then(|| (p.clone(), m.permissions().mode() & 0o7777))
        });
        return Err(match plain {
            Some((p, mode)) => NewRootError::NotExecutable(p, mode),
            None => NewRootError::NoInit(list()),
        });
    };
    let interp = interpreter_of(&host).map_err(|e| NewRootError::Unreadable(init.clone(), e))?;
    if let Some(i) = interp {
        let found = resolve_in_root(root, Path::new(&i)).is_some_and(|h| h.is_file());
        if !found {
            return Err(NewRootError::NoInterpreter {
                init,
                interpreter: i,
            });
        }
    }
    if let Some(d) = needs
        .dirs
        .iter()
        .find(|d| !resolve_in_root(root, d).is_some_and(|h| h.is_dir()))
    {
        return Err(NewRootError::NoDir(d.clone()));
    }
    if !resolve_in_root(root, &needs.shell).is_some_and(|h| is_executable(&h)) {
        return Err(NewRootError::NoShell(needs.shell.clone()));
    }
    Ok(init)
}

/// What one reroot leaves in the staging area for the next init: the reroot counter, the
/// chosen target and each phase's duration. Plain `key=value` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Reroots since the machine booted.
    pub count: u32,
    /// The `fstype:device` that was validated.
    pub target: Option<String>,
    /// Its mount options.
    pub options: String,
    /// Whether it is mounted read-only.
    pub read_only: bool,
    /// Phase durations in milliseconds, in order.
    pub timings: Vec<(String, u64)>,
    /// Reroot once: the root this reroot left (`fstype:device`), when confirmation was asked
    /// for and that root can be mounted again.
    pub previous: Option<String>,
    /// Whether the previous root was mounted read-only.
    pub previous_read_only: bool,
    /// Seconds the new root has to confirm (`reinit.reroot_confirm`; 0: not asked for).
    pub confirm_s: u64,
    /// `reinit confirm` was said.
    pub confirmed: bool,
    /// This reroot is the fallback of the one before it: it is never fallen back from.
    pub fallback: bool,
}

/// The record's file name inside the staging area.
pub const RECORD_FILE: &str = "reroot.state";

impl Record {
    /// Parse a record; unknown lines are ignored. Lines end at `\n` only: a carriage return
    /// before it belongs to the value, as [`Record::render`] wrote it.
    #[must_use]
    pub fn parse(text: &str) -> Record {
        let mut r = Record::default();
        for (k, v) in text.split('\n').filter_map(|l| l.split_once('=')) {
            match k {
                "count" => r.count = v.parse().unwrap_or(0),
                "target" => r.target = Some(v.to_owned()),
                "options" => r.options = v.to_owned(),
                "read_only" => r.read_only = v == "1",
                "previous" => r.previous = Some(v.to_owned()),
                "previous_read_only" => r.previous_read_only = v == "1",
                "confirm_s" => r.confirm_s = v.parse().unwrap_or(0),
                "confirmed" => r.confirmed = v == "1",
                "fallback" => r.fallback = v == "1",
                _ => {
                    if let (Some(name), Ok(ms)) = (k.strip_suffix("_ms"), v.parse()) {
                        r.timings.push((name.to_owned(), ms));
                    }
                }
            }
        }
        r
    }

    /// The file's text.
    #[must_use]
    pub fn render(&self) -> String {
        let mut s = format!("count={}\n", self.count);
        if let Some(t) = &self.target {
            s.push_str(&format!("target={t}\n"));
        }
        s.push_str(&format!("options={}\n", self.options));
        s.push_str(&format!("read_only={}\n", u8::from(self.read_only)));
        if let Some(p) = &self.previous {
            s.push_str(&format!("previous={p}\n"));
        }
        if self.confirm_s > 0 {
            s.push_str(&format!("confirm_s={}\n", self.confirm_s));
        }
        for (key, set) in [
            ("previous_read_only", self.previous_read_only),
            ("confirmed", self.confirmed),
            ("fallback", self.fallback),
        ] {
            if set {
                s.push_str(&format!("{key}=1\n"));
            }
        }
        for (k, ms) in &self.timings {
            s.push_str(&format!("{k}_ms={ms}\n"));
        }
        s
    }

    /// Record how long a phase took.
    pub fn lap(&mut self, phase: &str, d: std::time::Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.timings.push((phase.to_owned(), ms));
    }

    /// One log line: `reroot #2: stage 3 ms, hook 410 ms, ...`.
    #[must_use]
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .timings
            .iter()
            .map(|(k, ms)| format!("{k} {ms} ms"))
            .collect();
        format!("reroot #{}: {}", self.count, parts.join(", "))
    }

    /// Read the record in `dir`, if there is one.
    #[must_use]
    pub fn load(dir: &Path) -> Option<Record> {
        std::fs::read_to_string(dir.join(RECORD_FILE))
            .ok()
            .map(|t| Record::parse(&t))
    }

    /// Write the record into `dir` (write a temporary file, then rename).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(format!("{RECORD_FILE}.new"));
        std::fs::write(&tmp, self.render())?;
        std::fs::rename(tmp, dir.join(RECORD_FILE))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn mountfrom_alternatives_and_errors() {
        let v = parse_mountfrom("zfs:system/ROOT/default  ufs:/dev/ada0p2 ext4:vda").unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].device_node(), None);
        assert_eq!(v[1].device_node(), Some(PathBuf::from("/dev/ada0p2")));
        assert_eq!(v[2].device_node(), Some(PathBuf::from("/dev/vda")));
        assert_eq!(parse_mountfrom("  "), Err(TargetError::Empty));
        assert_eq!(
            parse_mountfrom("ufs:/dev/a /dev/b")
                .unwrap_err()
                .to_string(),
            "vfs.root.mountfrom: `/dev/b` is not fstype:device"
        );
        assert!(parse_mountfrom("ufs:").is_err());
        assert!(parse_mountfrom(":x").is_err());
    }

    /// Property: the alternatives of any value that parses, printed as `fstype:device` and
    /// joined by spaces, parse to the same sources.
    #[test]
    fn mountfrom_alternatives_round_trip() {
        let pieces = [
            "ufs",
            "zfs",
            ":",
            " ",
            "\t",
            "/dev/ada0p2",
            "pool/ROOT",
            "a:b",
            "é",
        ];
        let mut seed: u32 = 3;
        let mut parsed = 0;
        for _ in 0..3000 {
            let value: String = (0..8)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    pieces[(seed >> 16) as usize % pieces.len()]
                })
                .collect();
            let Ok(sources) = parse_mountfrom(&value) else {
                continue;
            };
            parsed += 1;
            let printed: Vec<String> = sources.iter().map(ToString::to_string).collect();
            assert_eq!(
                parse_mountfrom(&printed.join(" ")),
                Ok(sources),
                "{value:?}"
            );
        }
        assert!(parsed > 100, "the generator makes good values ({parsed})");
    }

    #[test]
    fn init_path_list() {
        let (good, bad) = parse_init_path("/sbin/init::relative:/rescue/init");
        assert_eq!(
            good,
            vec![PathBuf::from("/sbin/init"), PathBuf::from("/rescue/init")]
        );
        assert_eq!(bad, vec!["relative".to_owned()]);
        assert_eq!(parse_init_path(DEFAULT_INIT_PATH).0.len(), 4);
    }

    #[test]
    fn record_round_trip() {
        let mut r = Record {
            count: 2,
            target: Some("ext4:/dev/nbd0".into()),
            options: "noatime".into(),
            read_only: true,
            timings: Vec::new(),
            previous: Some("ufs:/dev/md0".into()),
            previous_read_only: true,
            confirm_s: 300,
            confirmed: false,
            fallback: true,
        };
        r.lap("stage", std::time::Duration::from_millis(3));
        r.lap("hook", std::time::Duration::from_micros(410_500));
        let back = Record::parse(&r.render());
        assert_eq!(back, r);
        assert_eq!(back.summary(), "reroot #2: stage 3 ms, hook 410 ms");
        assert_eq!(Record::parse("junk\ncount=x\n").count, 0);
    }

    /// A record's values come back as they were written, a carriage return at the end of one
    /// included (found by the record fuzz target).
    #[test]
    fn record_values_keep_a_carriage_return() {
        let r = Record {
            count: 1,
            target: Some("ufs:/dev/ada0p2\r".into()),
            options: "noatime\r\r".into(),
            read_only: false,
            timings: vec![("stage".into(), 40)],
            ..Record::default()
        };
        assert_eq!(Record::parse(&r.render()), r);
        // The fuzz target's input: a value ending in carriage returns before its newline.
        let read = Record::parse("2\ntt\noptions=noam\r\r\nstage_ms=40\n");
        assert_eq!(Record::parse(&read.render()), read);
    }

    /// Property: any record text read, written and read again gives the same record.
    #[test]
    fn records_round_trip() {
        let pieces = [
            "count=",
            "target=",
            "options=",
            "read_only=",
            "previous=",
            "previous_read_only=",
            "confirm_s=",
            "confirmed=",
            "fallback=",
            "_ms=",
            "hook",
            "1",
            "=",
            "\n",
            "\r",
            "\r\n",
            "x",
            "é",
        ];
        let mut seed: u32 = 9;
        for _ in 0..3000 {
            let text: String = (0..10)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    pieces[(seed >> 16) as usize % pieces.len()]
                })
                .collect();
            let r = Record::parse(&text);
            assert_eq!(Record::parse(&r.render()), r, "{text:?}");
        }
    }

    #[test]
    fn new_root_checks() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        let search = parse_init_path("/sbin/init").0;
        let needs = Needs::new(true, PathBuf::from("/bin/sh"));
        assert!(matches!(
            check_new_root(r, &search, &needs),
            Err(NewRootError::NoInit(_))
        ));
        fs::create_dir_all(r.join("sbin")).unwrap();
        fs::write(r.join("sbin/init"), "#!/bin/sh\nexec true\n").unwrap();
        fs::set_permissions(r.join("sbin/init"), fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            check_new_root(r, &search, &needs),
            Err(NewRootError::NotExecutable(
                PathBuf::from("/sbin/init"),
                0o644
            ))
        );
        fs::set_permissions(r.join("sbin/init"), fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            check_new_root(r, &search, &needs),
            Err(NewRootError::NoInterpreter {
                init: PathBuf::from("/sbin/init"),
                interpreter: "/bin/sh".into()
            })
        );
        fs::create_dir_all(r.join("bin")).unwrap();
        fs::write(r.join("bin/sh"), "").unwrap();
        assert_eq!(
            check_new_root(r, &search, &needs),
            Err(NewRootError::NoDir("/dev".into()))
        );
        fs::create_dir_all(r.join("dev")).unwrap();
        // Linux moves /dev through /proc: a new root without /proc is refused before the
        // point of no return. FreeBSD's kernel switch does not need it.
        assert_eq!(
            check_new_root(r, &search, &needs),
            Err(NewRootError::NoDir("/proc".into()))
        );
        let freebsd = Needs::new(false, PathBuf::from("/bin/sh"));
        assert_eq!(
            check_new_root(r, &search, &freebsd).map_err(|e| e.to_string()),
            Err("the new root has no executable /bin/sh for single-user mode".into())
        );
        fs::create_dir_all(r.join("proc")).unwrap();
        // The single-user shell must be there and executable.
        assert_eq!(
            check_new_root(r, &search, &needs),
            Err(NewRootError::NoShell("/bin/sh".into()))
        );
        fs::set_permissions(r.join("bin/sh"), fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            check_new_root(r, &search, &needs),
            Ok(PathBuf::from("/sbin/init"))
        );
        assert_eq!(
            check_new_root(r, &search, &freebsd),
            Ok(PathBuf::from("/sbin/init"))
        );
        // An ELF init names its loader: a dynamic host program copied in needs its PT_INTERP.
        let ld = crate::carry::interpreter(Path::new("/bin/true"))
            .unwrap()
            .expect("/bin/true is dynamic on the test host");
        fs::copy("/bin/true", r.join("sbin/init")).unwrap();
        assert!(matches!(
            check_new_root(r, &search, &needs),
            Err(NewRootError::NoInterpreter { interpreter, .. }) if interpreter == ld
        ));
    }

    #[test]
    fn resolution_stays_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("sbin")).unwrap();
        fs::create_dir_all(r.join("bin")).unwrap();
        fs::write(r.join("bin/busybox"), "x").unwrap();
        fs::set_permissions(r.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
        // Absolute link: must resolve inside r, not on the host.
        symlink("/bin/busybox", r.join("sbin/init")).unwrap();
        // Relative link climbing far above the root stays inside it.
        symlink("../../../../bin/busybox", r.join("sbin/oinit")).unwrap();
        symlink("loop2", r.join("sbin/loop1")).unwrap();
        symlink("loop1", r.join("sbin/loop2")).unwrap();
        assert_eq!(
            resolve_in_root(r, Path::new("/sbin/init")),
            Some(r.join("bin/busybox"))
        );
        assert_eq!(
            resolve_in_root(r, Path::new("/sbin/oinit")),
            Some(r.join("bin/busybox"))
        );
        assert_eq!(resolve_in_root(r, Path::new("/sbin/loop1")), None);
        assert_eq!(resolve_in_root(r, Path::new("/nope")), None);
        let search = parse_init_path("/sbin/loop1:/sbin/missing:/sbin/init").0;
        assert_eq!(
            find_init(r, &search),
            Some((PathBuf::from("/sbin/init"), r.join("bin/busybox")))
        );
        // Not executable: not an init.
        fs::set_permissions(r.join("bin/busybox"), fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(find_init(r, &search), None);
    }
}
