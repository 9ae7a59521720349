//! `reinit carry`: copy a dynamically linked program, its ELF interpreter and the closure of
//! its DT_NEEDED libraries into one directory (by default under the reroot staging area,
//! `/dev/reroot/<name>/`), so that it keeps running after the root it came from is unmounted.
//! Prints the command that runs the copy through the copied loader.
//!
//! Libraries are looked up as the dynamic linker would: DT_RPATH of the object that needs
//! them (when it has no DT_RUNPATH), then DT_RUNPATH, then the system directories (Linux:
//! /etc/ld.so.conf with its includes, then /lib64, /usr/lib64, /lib, /usr/lib; FreeBSD: /lib,
//! /usr/lib, /usr/local/lib). `$ORIGIN` is expanded. Candidates of another ELF class or
//! machine are skipped. A statically linked program is copied alone.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use goblin::elf::Elf;

/// The default destination root.
pub const DEFAULT_DEST: &str = "/dev/reroot";

/// Where programs named without a slash are looked for.
const PROGRAM_PATH: &str = "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin";

/// A failed carry.
#[derive(Debug, thiserror::Error)]
pub enum CarryError {
    /// The program was not found.
    #[error("{0}: not found in {PROGRAM_PATH}")]
    NotFound(String),
    /// A file could not be read.
    #[error("read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a usable ELF object.
    #[error("{path}: not an ELF object: {reason}")]
    NotElf {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// A needed library was not found.
    #[error("{lib} (needed by {by}): not found in {searched}")]
    MissingLibrary {
        /// The library.
        lib: String,
        /// Who needs it.
        by: PathBuf,
        /// The directories searched.
        searched: String,
    },
    /// Writing the copy failed.
    #[error("write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// How to run a program: the file to execute, its argv and the environment it needs.
pub type Invocation = (PathBuf, Vec<String>, Vec<(String, String)>);

/// What was carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// The directory holding the copies.
    pub dir: PathBuf,
    /// The copied program.
    pub program: PathBuf,
    /// The copied interpreter, if the program is dynamic.
    pub loader: Option<PathBuf>,
    /// The library sonames copied, sorted.
    pub libs: Vec<String>,
}

/// A process's argument list read back: when `exe` is an ELF loader run as a program (how
/// a carried program is started), the program it runs and the argv\[0\] that program sees
/// (`--argv0`, else the program's path); otherwise `None`, `args[0]`.
#[must_use]
pub fn run_program(exe: Option<&Path>, args: &[String]) -> (Option<String>, Option<String>) {
    let name = exe
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let loader = name.starts_with("ld-") || name.starts_with("ld64") || name.starts_with("ld.so");
    if !loader {
        return (None, args.first().cloned());
    }
    let mut argv0 = None;
    let mut rest = args.iter().skip(1);
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--argv0" => argv0 = rest.next().cloned(),
            "--library-path"
            | "--preload"
            | "--audit"
            | "--inhibit-rpath"
            | "--glibc-hwcaps-prepend"
            | "--glibc-hwcaps-mask" => {
                rest.next();
            }
            o if o.starts_with("--") => {}
            program => {
                let program = program.to_owned();
                return (Some(program.clone()), Some(argv0.unwrap_or(program)));
            }
        }
    }
    (None, args.first().cloned())
}

impl Carried {
    /// How to run the copy: the file to execute, its argv (ending with the program) and the
    /// environment it needs. glibc's and musl's loaders take `--library-path`; FreeBSD's
    /// ld-elf.so.1 reads `LD_LIBRARY_PATH`.
    #[must_use]
    pub fn invocation(&self) -> Invocation {
        let program = self.program.display().to_string();
        let Some(ld) = &self.loader else {
            return (self.program.clone(), vec![program], Vec::new());
        };
        let name = ld.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let ld_s = ld.display().to_string();
        let dir = self.dir.display().to_string();
        if name.starts_with("ld-linux") || name.starts_with("ld64") || name.starts_with("ld-musl") {
            (
                ld.clone(),
                vec![ld_s, "--library-path".into(), dir, program],
                Vec::new(),
            )
        } else {
            (
                ld.clone(),
                vec![ld_s, program],
                vec![("LD_LIBRARY_PATH".into(), dir)],
            )
        }
    }

    /// The shell command that runs the copy.
    #[must_use]
    pub fn command(&self) -> String {
        let (_, argv, env) = self.invocation();
        let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let prefix = if env.is_empty() {
            String::new()
        } else {
            format!("env {} ", env.join(" "))
        };
        format!("{prefix}{}", argv.join(" "))
    }
}

/// The parts of an ELF object that matter here.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// ELFCLASS64.
    pub class64: bool,
    /// `e_machine`.
    pub machine: u16,
    /// PT_INTERP.
    pub interp: Option<String>,
    /// DT_NEEDED, in order.
    pub needed: Vec<String>,
    /// DT_RPATH directories.
    pub rpath: Vec<String>,
    /// DT_RUNPATH directories.
    pub runpath: Vec<String>,
}

/// Read an [`Object`] from the bytes of a file; the error is the parser's reason.
#[doc(hidden)]
pub fn parse_object(bytes: &[u8]) -> Result<Object, String> {
    let elf = Elf::parse(bytes).map_err(|e| e.to_string())?;
    let split = |v: &[&str]| -> Vec<String> {
        v.iter()
            .flat_map(|s| s.split(':'))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    Ok(Object {
        class64: elf.is_64,
        machine: elf.header.e_machine,
        interp: elf.interpreter.map(str::to_owned),
        needed: elf.libraries.iter().map(|s| (*s).to_owned()).collect(),
        rpath: split(&elf.rpaths),
        runpath: split(&elf.runpaths),
    })
}

fn read_object(path: &Path) -> Result<Object, CarryError> {
    let bytes = fs::read(path).map_err(|source| CarryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_object(&bytes).map_err(|reason| CarryError::NotElf {
        path: path.to_path_buf(),
        reason,
    })
}

/// The owner name of the ELF note a reinit binary carries (`.note.reinit`, in PT_NOTE).
pub const NOTE_NAME: &str = "reinit";
/// Its type: "takes requests pending across its exec". The description is the protocol
/// version, [`HANDOFF_VERSION`].
pub const NT_REINIT_HANDOFF: u32 = 1;
/// The version in the note's description (a little- or big-endian u32, as the object is).
pub const HANDOFF_VERSION: u32 = 1;
/// Objects larger than this are not read to look for the note.
const NOTE_READ_LIMIT: u64 = 256 << 20;

/// Whether `path` is a reinit: an ELF object with reinit's hand-off note. Such a program,
/// exec'd as PID 1, installs its handlers before it unblocks signals, so requests may be
/// left pending across the exec for it. Anything unreadable or foreign is `false`.
#[must_use]
pub fn is_reinit(path: &Path) -> bool {
    let small = fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() <= NOTE_READ_LIMIT);
    let Some(bytes) = small.then(|| fs::read(path).ok()).flatten() else {
        return false;
    };
    has_handoff_note(&bytes)
}

/// [`is_reinit`] for the bytes of a file: whether they are an ELF object with reinit's
/// hand-off note.
#[must_use]
pub fn has_handoff_note(bytes: &[u8]) -> bool {
    let Ok(elf) = Elf::parse(bytes) else {
        return false;
    };
    let is_ours = |n: &goblin::elf::note::Note| {
        n.name == NOTE_NAME && n.n_type == NT_REINIT_HANDOFF && n.desc.len() == 4
    };
    let in_segments = elf
        .iter_note_headers(bytes)
        .is_some_and(|mut it| it.any(|n| n.is_ok_and(|n| is_ours(&n))));
    in_segments
        || elf
            .iter_note_sections(bytes, None)
            .is_some_and(|mut it| it.any(|n| n.is_ok_and(|n| is_ours(&n))))
}

/// The ELF interpreter (PT_INTERP) of `path`; `None` for a static program.
pub fn interpreter(path: &Path) -> Result<Option<String>, CarryError> {
    read_object(path).map(|o| o.interp)
}

/// The system library directories.
#[must_use]
pub fn system_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if cfg!(target_os = "freebsd") {
        for d in ["/lib", "/usr/lib", "/usr/local/lib"] {
            dirs.push(PathBuf::from(d));
        }
        return dirs;
    }
    read_ld_so_conf(Path::new("/etc/ld.so.conf"), &mut dirs, 0);
    for d in ["/lib64", "/usr/lib64", "/lib", "/usr/lib"] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// glibc's /etc/ld.so.conf: directories, `include` lines with a `*` file-name pattern.
fn read_ld_so_conf(path: &Path, dirs: &mut Vec<PathBuf>, depth: usize) {
    let Ok(text) = fs::read_to_string(path) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pattern) = line.strip_prefix("include") {
            if depth < 8 {
                for f in expand_pattern(pattern.trim()) {
                    read_ld_so_conf(&f, dirs, depth + 1);
                }
            }
        } else if line.starts_with('/') {
            dirs.push(PathBuf::from(line));
        }
    }
}

/// Expand `dir/prefix*suffix` (one `*` in the file name) to the matching files, sorted.
fn expand_pattern(pattern: &str) -> Vec<PathBuf> {
    let p = Path::new(pattern);
    let (Some(dir), Some(name)) = (p.parent(), p.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let Some((pre, suf)) = name.split_once('*') else {
        return vec![p.to_path_buf()];
    };
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| {
                    f.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                        n.starts_with(pre) && n.ends_with(suf) && n.len() >= pre.len() + suf.len()
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Resolve a program named on the command line.
fn find_program(name: &str) -> Result<PathBuf, CarryError> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    PROGRAM_PATH
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| CarryError::NotFound(name.to_owned()))
}

/// Find one library for `by` (an object of this class and machine).
fn find_library(
    lib: &str,
    by: &Path,
    obj: &Object,
    want: (bool, u16),
    system: &[PathBuf],
) -> Result<PathBuf, CarryError> {
    if lib.contains('/') {
        return Ok(PathBuf::from(lib));
    }
    let origin = fs::canonicalize(by)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let expand = |d: &String| {
        PathBuf::from(
            d.replace("$ORIGIN", &origin.to_string_lossy())
                .replace("${ORIGIN}", &origin.to_string_lossy()),
        )
    };
    let mut dirs: Vec<PathBuf> = Vec::new();
    if obj.runpath.is_empty() {
        dirs.extend(obj.rpath.iter().map(expand));
    }
    dirs.extend(obj.runpath.iter().map(expand));
    dirs.extend(system.iter().cloned());
    for d in &dirs {
        let cand = d.join(lib);
        if !cand.is_file() {
            continue;
        }
        match read_object(&cand) {
            Ok(o) if (o.class64, o.machine) == want => return Ok(cand),
            _ => continue,
        }
    }
    Err(CarryError::MissingLibrary {
        lib: lib.to_owned(),
        by: by.to_path_buf(),
        searched: dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":"),
    })
}

/// Copy `src` to `dst` atomically (temporary file + rename, so a running copy is never
/// overwritten in place), mode 0755.
fn install(src: &Path, dst: &Path) -> Result<(), CarryError> {
    let data = fs::read(src).map_err(|source| CarryError::Read {
        path: src.to_path_buf(),
        source,
    })?;
    let werr = |source| CarryError::Write {
        path: dst.to_path_buf(),
        source,
    };
    let tmp = dst.with_extension(format!("carry.{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(&tmp)
        .map_err(werr)?;
    f.write_all(&data).map_err(werr)?;
    f.sync_all().map_err(werr)?;
    fs::rename(&tmp, dst).map_err(werr)
}

/// Carry `program` into `<dest>/<name>/`.
pub fn carry(program: &str, dest: &Path) -> Result<Carried, CarryError> {
    carry_with(program, dest, &system_dirs())
}

/// [`carry`] with explicit system directories.
pub fn carry_with(program: &str, dest: &Path, system: &[PathBuf]) -> Result<Carried, CarryError> {
    carry_rooted(program, dest, system, Path::new("/"))
}

/// [`carry_with`] for a program of a system tree mounted at `root`: its ELF interpreter and
/// absolute library names are read under `root`, as are `system` (given as seen from inside
/// the tree).
pub fn carry_rooted(
    program: &str,
    dest: &Path,
    system: &[PathBuf],
    root: &Path,
) -> Result<Carried, CarryError> {
    let inside = |p: &Path| root.join(p.strip_prefix("/").unwrap_or(p));
    let system: Vec<PathBuf> = system.iter().map(|d| inside(d)).collect();
    let system = &system[..];
    let src = find_program(program)?;
    let name = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| CarryError::NotFound(program.to_owned()))?;
    let main = read_object(&src)?;
    let want = (main.class64, main.machine);
    // Resolve the whole closure before writing anything.
    let mut found: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut queue: VecDeque<(PathBuf, String)> = main
        .needed
        .iter()
        .map(|n| (src.clone(), n.clone()))
        .collect();
    while let Some((by, lib)) = queue.pop_front() {
        if found.contains_key(&lib) {
            continue;
        }
        let by_obj = read_object(&by)?;
        let path = find_library(&lib, &by, &by_obj, want, system)?;
        let path = if lib.contains('/') {
            inside(&path)
        } else {
            path
        };
        let obj = read_object(&path)?;
        queue.extend(obj.needed.iter().map(|n| (path.clone(), n.clone())));
        found.insert(lib, path);
    }
    let dir = dest.join(&name);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|source| CarryError::Write {
            path: dir.clone(),
            source,
        })?;
    let program_copy = dir.join(&name);
    install(&src, &program_copy)?;
    let mut libs = Vec::new();
    for (soname, path) in &found {
        let file = Path::new(soname)
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_default();
        install(path, &dir.join(file))?;
        libs.push(soname.clone());
    }
    let loader = match &main.interp {
        Some(interp) => {
            let file = Path::new(interp)
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_default();
            let copy = dir.join(file);
            install(&inside(Path::new(interp)), &copy)?;
            Some(copy)
        }
        None => None,
    };
    Ok(Carried {
        dir,
        program: program_copy,
        loader,
        libs,
    })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn carries_a_dynamic_program_with_its_closure() {
        let d = tempfile::tempdir().unwrap();
        let c = carry("ls", d.path()).unwrap();
        assert!(c.loader.is_some(), "Debian's ls is dynamic");
        assert!(
            c.libs.iter().any(|l| l.starts_with("libc.so")),
            "{:?}",
            c.libs
        );
        for l in &c.libs {
            assert!(c.dir.join(l).is_file(), "{l}");
        }
        assert!(c.command().contains("--library-path"));
        // The copy runs through the copied loader.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{} /", c.command()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        // Carrying again replaces the files atomically.
        carry("ls", d.path()).unwrap();
    }

    /// A carried program runs through its copied loader: the process's executable is the
    /// loader; the program and the argv[0] it sees come from the argument list.
    #[test]
    fn a_program_run_through_its_loader_is_named() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let ld = Path::new("/dev/reroot/nbd/ld-linux-x86-64.so.2");
        assert_eq!(
            run_program(
                Some(ld),
                &args(&[
                    "/dev/reroot/nbd/ld-linux-x86-64.so.2",
                    "--library-path",
                    "/dev/reroot/nbd",
                    "/dev/reroot/nbd/nbd-client",
                    "-N",
                    "root"
                ])
            ),
            (
                Some("/dev/reroot/nbd/nbd-client".into()),
                Some("/dev/reroot/nbd/nbd-client".into())
            )
        );
        // The '@' mark rides --argv0.
        assert_eq!(
            run_program(
                Some(ld),
                &args(&[
                    "ld.so",
                    "--argv0",
                    "@nbd-client",
                    "--library-path",
                    "/x",
                    "/x/nbd-client"
                ])
            )
            .1
            .as_deref(),
            Some("@nbd-client")
        );
        let elf = Path::new("/dev/reroot/ld-elf.so.1");
        assert_eq!(
            run_program(Some(elf), &args(&["ld-elf.so.1", "/dev/reroot/iscsid"])).0,
            Some("/dev/reroot/iscsid".into())
        );
        // Not a loader: argv[0] as it is.
        assert_eq!(
            run_program(Some(Path::new("/usr/sbin/sshd")), &args(&["@sshd", "-D"])),
            (None, Some("@sshd".into()))
        );
    }

    #[test]
    fn static_programs_are_copied_alone() {
        let d = tempfile::tempdir().unwrap();
        let c = carry("/bin/busybox", d.path()).unwrap();
        assert_eq!(c.loader, None);
        assert!(c.libs.is_empty());
        assert_eq!(c.command(), c.program.display().to_string());
    }

    #[test]
    fn named_errors() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            carry("no-such-program-xyz", d.path()),
            Err(CarryError::NotFound(_))
        ));
        let txt = d.path().join("text");
        fs::write(&txt, "hello").unwrap();
        assert!(matches!(
            carry(txt.to_str().unwrap(), d.path()),
            Err(CarryError::NotElf { .. })
        ));
        // No system directories: the first library cannot be found.
        let e = carry_with("ls", d.path(), &[]).unwrap_err();
        assert!(matches!(e, CarryError::MissingLibrary { .. }), "{e}");
        assert!(e.to_string().contains("(needed by /bin/ls)"), "{e}");
        assert!(
            !d.path().join("ls").exists(),
            "nothing is written when the closure is incomplete"
        );
    }

    #[test]
    fn include_patterns() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("a.conf"), "/x\n").unwrap();
        fs::write(d.path().join("b.txt"), "/y\n").unwrap();
        let p = format!("{}/*.conf", d.path().display());
        assert_eq!(expand_pattern(&p), vec![d.path().join("a.conf")]);
    }
}
