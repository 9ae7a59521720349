//! The namespace harness: the real `reinit` binary as PID 1 of a new pid + mount namespace,
//! chrooted into a small root directory that each test builds (busybox as the userland).
//!
//! Layout inside the root: `/bin/*` busybox applets, `/sbin/init` = reinit, `/etc/*` written
//! by the test, `/dev` a private tmpfs with `null` (bound from the host) and `console` (bound
//! to `console.log` beside the root, which the test reads), `/proc` the namespace's own.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where Debian's busybox-static installs itself.
pub const BUSYBOX: &str = "/bin/busybox";

/// Fail loudly (never skip silently) when the harness cannot run here.
pub fn require_tools() {
    for tool in [BUSYBOX, "/usr/bin/unshare", "/usr/bin/nsenter"] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: install busybox-static and util-linux (make test does)"
        );
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "the namespace tests need root (pid and mount namespaces, chroot)"
    );
}

/// A root directory for one test, and the namespace running reinit in it.
pub struct Sandbox {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// The console is this pty's slave (see [`Sandbox::pty_console`]); a thread copies
    /// what the master reads into `console.log`.
    pty: Option<PtyConsole>,
    /// Loop devices attached for ext4 images (detached on drop).
    loops: Vec<String>,
    /// Start PID 1 as a kernel that could not open a console does: descriptors 0–2 closed,
    /// and no /dev/null.
    bare: bool,
    /// Boot from this device instead of the root directory.
    root_device: Option<String>,
    /// Signals PID 1 is started with ignored (as the program that exec'd it left them).
    ignored: Vec<&'static str>,
}

/// Fill `root` with the standard layout: busybox applets, reinit as /sbin/init, `files`.
fn populate(root: &Path, files: &[(&str, &str, u32)]) {
    for d in [
        "bin", "sbin", "etc", "dev", "proc", "tmp", "var/log", "root",
    ] {
        fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    fs::copy(BUSYBOX, root.join("bin/busybox")).expect("copy busybox");
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && applet != "init" {
            let _ = symlink("busybox", root.join("bin").join(applet));
        }
    }
    fs::copy(reinit_bin(), root.join("sbin/init")).expect("copy reinit");
    for (path, text, mode) in files {
        write_file(root, path, text, *mode);
    }
}

/// The reinit under test: `REINIT_BIN` (the release binary, as `make test` sets it: the
/// static musl build that is installed), else the build of this test run.
pub fn reinit_bin() -> std::path::PathBuf {
    std::env::var_os("REINIT_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_reinit").into())
}

fn write_file(root: &Path, rel: &str, text: &str, mode: u32) {
    let p = root.join(rel.trim_start_matches('/'));
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(&p, text).expect("write");
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod");
}

impl Sandbox {
    /// Build a root with busybox, reinit as /sbin/init, and the given files.
    pub fn new(files: &[(&str, &str, u32)]) -> Sandbox {
        require_tools();
        let dir = tempfile::tempdir().expect("tempdir");
        let sb = Sandbox {
            dir,
            child: None,
            pty: None,
            bare: false,
            loops: Vec::new(),
            root_device: None,
            ignored: Vec::new(),
        };
        populate(&sb.root(), files);
        fs::write(sb.dir.path().join("console.log"), "").expect("console.log");
        sb
    }

    /// Make the console a real terminal: a pty whose slave is bound on /dev/console (as a
    /// container's console is). What reaches the master is copied to the console log.
    pub fn pty_console(&mut self) {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let slave = nix::unistd::ttyname(&pty.slave).expect("ttyname");
        drop(pty.slave);
        let stop = Arc::new(AtomicBool::new(false));
        let log = self.dir.path().join("console.log");
        let keys = pty.master.try_clone().expect("dup the pty master");
        let (master, flag) = (pty.master, Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !flag.load(Ordering::Relaxed) {
                match nix::unistd::read(&master, &mut buf) {
                    Ok(n) if n > 0 => {
                        let mut f = fs::OpenOptions::new()
                            .append(true)
                            .open(&log)
                            .expect("console.log");
                        let _ = std::io::Write::write_all(&mut f, &buf[..n]);
                    }
                    // No slave open (between a hang-up and a reopen): try again shortly.
                    _ => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        self.pty = Some(PtyConsole { slave, stop, keys });
    }

    /// Type `text` on the pty console (see pty_console).
    pub fn type_on_console(&self, text: &str) {
        let pty = self
            .pty
            .as_ref()
            .expect("type_on_console needs pty_console");
        let mut f = fs::File::from(pty.keys.try_clone().expect("dup"));
        std::io::Write::write_all(&mut f, text.as_bytes()).expect("write to the pty master");
    }

    /// Start PID 1 with descriptors 0–2 closed and no /dev/null (see the field).
    pub fn bare(&mut self) {
        self.bare = true;
    }

    /// Start PID 1 with these signals ignored (`trap ''` before the exec): dispositions a
    /// previous program left, which its children must not inherit.
    pub fn start_ignoring(&mut self, signals: &[&'static str]) {
        self.ignored = signals.to_vec();
    }

    /// Boot from an image made by [`Sandbox::image`] (mounted read-write on the root
    /// directory) instead of the root directory itself.
    pub fn boot_from(&mut self, device: &str) {
        self.root_device = Some(device.to_owned());
    }

    /// The image file made by [`Sandbox::image`].
    pub fn image_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.img"))
    }

    /// Build another root (the standard layout plus `files`) as an ext4 image on a loop
    /// device, to reroot onto. Returns the device path, which the namespace's /dev will have.
    pub fn image(&mut self, name: &str, files: &[(&str, &str, u32)]) -> String {
        let tree = self.dir.path().join(format!("{name}.tree"));
        populate(&tree, files);
        let img = self.dir.path().join(format!("{name}.img"));
        let ok = Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext4", "-d"])
            .arg(&tree)
            .arg(&img)
            .arg("48M")
            .stdout(Stdio::null())
            .status()
            .expect("mke2fs (e2fsprogs)");
        assert!(ok.success(), "mke2fs failed");
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&img)
            .output()
            .expect("losetup");
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        self.loops.push(dev.clone());
        dev
    }

    /// The root directory.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Write a file under the root.
    pub fn write(&self, rel: &str, text: &str, mode: u32) {
        write_file(&self.root(), rel, text, mode);
    }

    /// Read a file under the root, if it exists.
    pub fn read(&self, rel: &str) -> Option<String> {
        fs::read_to_string(self.root().join(rel.trim_start_matches('/'))).ok()
    }

    /// Everything written to the console so far.
    pub fn console(&self) -> String {
        fs::read_to_string(self.dir.path().join("console.log")).unwrap_or_default()
    }

    /// Start reinit as PID 1 of a new pid + mount namespace, with `args` and kenv store lines.
    pub fn boot(&mut self, args: &[&str], kenv: &[&str]) {
        let root = self.root();
        let console = match &self.pty {
            Some(p) => p.slave.clone(),
            None => self.dir.path().join("console.log"),
        };
        let mut store = String::new();
        for k in kenv {
            store.push_str(k);
            store.push('\n');
        }
        let mut loops = String::new();
        for l in &self.loops {
            loops.push_str(&format!("touch \"$R{l}\"; mount --bind '{l}' \"$R{l}\"\n"));
        }
        // The root is a mount point of its own (a bind mount), as a real root is: that is
        // what lets a reroot pivot_root away from it and unmount it.
        let mount_root = match &self.root_device {
            Some(dev) => format!("mount -t ext4 '{dev}' \"$R\""),
            None => "mount --bind \"$R\" \"$R\"".to_owned(),
        };
        let script = format!(
            "set -e
             R='{root}'
             {mount_root}
             mount -t tmpfs -o mode=0755 tmpfs \"$R/dev\"
             touch \"$R/dev/console\"
             {null}
             mount --bind '{console}' \"$R/dev/console\"
             {loops}
             mkdir -p \"$R/dev/.reinit\"
             printf '%s' '{store}' > \"$R/dev/.reinit/kenv\"
             mount -t proc proc \"$R/proc\"
             {ignore}
             exec chroot \"$R\" /sbin/init {args} {closed}",
            ignore = if self.ignored.is_empty() {
                String::new()
            } else {
                format!("trap '' {}", self.ignored.join(" "))
            },
            root = root.display(),
            console = console.display(),
            store = store,
            args = args.join(" "),
            null = if self.bare {
                ""
            } else {
                "touch \"$R/dev/null\"; mount --bind /dev/null \"$R/dev/null\""
            },
            closed = if self.bare { "<&- >&- 2>&-" } else { "" },
            loops = loops,
            mount_root = mount_root,
        );
        let child = Command::new("/usr/bin/unshare")
            .args([
                "--pid",
                "--mount",
                "--fork",
                "--kill-child",
                "--propagation",
                "private",
            ])
            .args([BUSYBOX, "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("unshare");
        self.child = Some(child);
    }

    /// The host pid of the namespace's PID 1 (reinit).
    pub fn init_pid(&self) -> i32 {
        let unshare = self.child.as_ref().expect("booted").id();
        let path = format!("/proc/{unshare}/task/{unshare}/children");
        wait_for(Duration::from_secs(10), || {
            fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.split_whitespace().next().and_then(|p| p.parse().ok()))
        })
        .expect("namespace init pid")
    }

    /// Send a signal to PID 1 from the host.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.init_pid()), sig).expect("kill");
    }

    /// Run a command inside the namespace (same pid ns, mounts and root as PID 1).
    pub fn exec_inside(&self, argv: &[&str]) -> std::process::Output {
        let pid = self.init_pid().to_string();
        Command::new("/usr/bin/nsenter")
            .args(["-t", &pid, "-p", "-m", "-r", "-w"])
            .args(argv)
            .stdin(Stdio::null())
            .output()
            .expect("nsenter")
    }

    /// Read a file as PID 1 sees it (e.g. its /proc).
    pub fn read_inside(&self, path: &str) -> Option<String> {
        let p = format!("/proc/{}/root{}", self.init_pid(), path);
        fs::read_to_string(p).ok()
    }

    /// Wait until the console contains `needle`; panics with the console after `timeout`.
    pub fn expect_console(&self, needle: &str, timeout: Duration) {
        if wait_for(timeout, || self.console().contains(needle).then_some(())).is_none() {
            panic!(
                "console never showed {needle:?}; console was:\n{}",
                self.console()
            );
        }
    }

    /// Wait until a file under the root exists and return its content.
    pub fn expect_file(&self, rel: &str, timeout: Duration) -> String {
        match wait_for(timeout, || self.read(rel).filter(|t| !t.is_empty())) {
            Some(t) => t,
            None => panic!("{rel} never appeared; console was:\n{}", self.console()),
        }
    }

    /// Wait for the namespace to end and return how unshare ended.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut().expect("booted");
        wait_for(timeout, || child.try_wait().ok().flatten())
    }
}

/// See [`Sandbox::pty_console`].
struct PtyConsole {
    slave: PathBuf,
    stop: Arc<AtomicBool>,
    /// The master's write side: what is typed on the console.
    keys: std::os::fd::OwnedFd,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(p) = &self.pty {
            p.stop.store(true, Ordering::Relaxed);
        }
        if let Some(mut c) = self.child.take() {
            // --kill-child: PID 1 gets SIGKILL when unshare dies, and the namespace with it.
            let _ = c.kill();
            let _ = c.wait();
        }
        for l in &self.loops {
            let _ = Command::new("losetup").args(["-d", l]).status();
        }
    }
}

/// Poll `f` every 20 ms until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `SigBlk`, `SigIgn` lines of a /proc/PID/status text, as numbers.
pub fn sig_masks(status: &str) -> (u64, u64) {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .expect("status field")
    };
    (field("SigBlk:"), field("SigIgn:"))
}
