//! Login sessions: gettys from /etc/ttys, their respawn, rescans and revocation
//! (`read_ttys`, `multi_user`, `clean_ttys`, `catatonia`).

use std::path::PathBuf;
use std::time::Duration;

use crate::children::{Ended, Role};
use crate::kernel::{Kernel, KillSig, KillTarget, Pid, SpawnSpec, Stdio};
use crate::ttys::{self, TtyEntry};

use super::{Init, State, Step};

/// One /etc/ttys line PID 1 runs a getty on (init.c `session_t`).
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub(super) entry: TtyEntry,
    pub(super) pid: Option<Pid>,
    /// Do not respawn (SE_SHUTDOWN).
    pub(super) shutdown: bool,
    /// Seen in the current rescan (SE_PRESENT).
    pub(super) present: bool,
    pub(super) started: Option<Duration>,
    pub(super) nspace: u32,
    /// Throttled: do not start before this time.
    pub(super) not_before: Option<Duration>,
}

impl Session {
    pub(super) fn new(entry: TtyEntry) -> Self {
        Session {
            entry,
            pid: None,
            shutdown: false,
            present: true,
            started: None,
            nspace: 0,
            not_before: None,
        }
    }
}

impl<K: Kernel> Init<K> {
    /// Read /etc/ttys and set up the sessions (init.c `read_ttys`).
    pub(super) fn read_ttys(&mut self) -> State {
        self.sessions = self.load_ttys().into_iter().map(Session::new).collect();
        self.consoles = self.k.console_names();
        State::MultiUser
    }

    /// The entries of /etc/ttys that describe a getty; problems are logged with line numbers.
    pub(super) fn load_ttys(&self) -> Vec<TtyEntry> {
        let (entries, problems) = match ttys::read(&self.paths.ttys) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("{}: {e}; no gettys", self.paths.ttys.display());
                return Vec::new();
            }
        };
        for p in problems {
            tracing::warn!("{}: {p}", self.paths.ttys.display());
        }
        entries.into_iter().filter(|e| e.getty.is_some()).collect()
    }

    /// Take the system multiuser (init.c `multi_user`).
    pub(super) fn multi_user(&mut self) -> Step<State> {
        self.k.raise_securelevel();
        loop {
            self.reap();
            if let Some(s) = self.follow_requests()? {
                return Ok(s);
            }
            self.start_due_gettys();
            let now = self.k.now();
            let next = self
                .sessions
                .iter()
                .filter(|s| s.pid.is_none() && !s.shutdown)
                .filter_map(|s| s.not_before)
                .min()
                .map(|t| t.saturating_sub(now));
            self.wait(next)?;
        }
    }

    /// Start every getty that should run, is not running and is not throttled.
    pub(super) fn start_due_gettys(&mut self) {
        let now = self.k.now();
        for i in 0..self.sessions.len() {
            let s = &self.sessions[i];
            if s.pid.is_some() || s.shutdown || s.not_before.is_some_and(|t| t > now) {
                continue;
            }
            let dev = self.paths.dev.join(&s.entry.name);
            let k = &self.k;
            if !s.entry.wants_getty(|_| k.tty_exists(&dev), &self.consoles) {
                continue;
            }
            self.start_getty(i);
        }
    }

    /// Start one getty, throttled as init.c does (GETTY_SPACING, GETTY_NSPACE, GETTY_SLEEP).
    pub(super) fn start_getty(&mut self, i: usize) {
        let now = self.k.now();
        let s = &mut self.sessions[i];
        if s.not_before.take().is_none() {
            let too_soon = s
                .started
                .is_some_and(|t| now.saturating_sub(t) < ttys::GETTY_SPACING);
            if too_soon {
                s.nspace += 1;
                if s.nspace > ttys::GETTY_NSPACE {
                    s.nspace = 0;
                    s.not_before = Some(now + ttys::GETTY_SLEEP);
                    tracing::warn!(
                        "getty repeating too quickly on port {}, sleeping {} secs",
                        self.paths.dev.join(&s.entry.name).display(),
                        ttys::GETTY_SLEEP.as_secs()
                    );
                    return;
                }
            } else {
                s.nspace = 0;
            }
        }
        s.started = Some(now);
        let entry = s.entry.clone();
        let env: Vec<(String, String)> = entry
            .term
            .iter()
            .map(|t| ("TERM".to_owned(), t.clone()))
            .collect();
        if let Some(window) = entry.window.as_ref().filter(|w| !w.is_empty()) {
            let spec = SpawnSpec {
                path: PathBuf::from(&window[0]),
                argv: window.clone(),
                env: env.clone(),
                stdio: Stdio::Null,
                script: false,
            };
            if let Err(e) = self.spawn(Role::Window(entry.name.clone()), &spec) {
                tracing::warn!("window system for {}: {e}", entry.name);
            }
        }
        let Some(argv) = entry.getty.clone().filter(|a| !a.is_empty()) else {
            return;
        };
        let spec = SpawnSpec {
            path: PathBuf::from(&argv[0]),
            argv,
            env,
            stdio: Stdio::Null,
            script: false,
        };
        match self.spawn(Role::Getty(entry.name.clone()), &spec) {
            Ok(pid) => self.sessions[i].pid = Some(pid),
            Err(e) => {
                tracing::warn!("can't start getty on {}: {e}", entry.name);
                // Try again after the spacing rather than spinning.
                self.sessions[i].not_before = Some(now + ttys::GETTY_SPACING);
            }
        }
    }

    /// A getty ended: forget it, and drop the session if it was shut down (init.c
    /// `collect_child`). Respawning happens in `multi_user`.
    pub(super) fn getty_ended(&mut self, name: &str, e: &Ended) {
        if let Some(idx) = self
            .sessions
            .iter()
            .position(|s| s.entry.name == name && s.pid == Some(e.pid))
        {
            self.sessions[idx].pid = None;
            if self.sessions[idx].shutdown && !self.sessions[idx].present {
                self.sessions.remove(idx);
            }
        }
    }

    /// Rescan /etc/ttys (init.c `clean_ttys`): changed lines restart, removed lines stop,
    /// new lines start.
    pub(super) fn clean_ttys(&mut self) -> State {
        for s in &mut self.sessions {
            s.present = false;
        }
        self.consoles = self.k.console_names();
        for entry in self.load_ttys() {
            match self
                .sessions
                .iter_mut()
                .find(|s| s.entry.name == entry.name)
            {
                Some(s) => {
                    s.present = true;
                    // A line still present is wanted again (init.c clears SE_SHUTDOWN here):
                    // `init q` after `init c` resumes logins.
                    s.shutdown = false;
                    let changed = s.entry.getty != entry.getty
                        || s.entry.window != entry.window
                        || s.entry.term != entry.term;
                    let on_before = s.entry.status.clone();
                    s.entry = entry;
                    if changed || on_before != s.entry.status {
                        s.nspace = 0;
                        s.started = None;
                        s.not_before = None;
                        s.shutdown = false;
                        if let Some(pid) = s.pid {
                            tracing::info!("ttys: {} changed; restarting its getty", s.entry.name);
                            if let Err(e) = self.k.kill(KillTarget::Pid(pid), KillSig::Hup) {
                                tracing::warn!("{e}");
                            }
                        }
                    }
                }
                None => {
                    tracing::info!("ttys: new line for {}", entry.name);
                    self.sessions.push(Session::new(entry));
                }
            }
        }
        let mut keep = Vec::new();
        for mut s in std::mem::take(&mut self.sessions) {
            if s.present {
                keep.push(s);
                continue;
            }
            tracing::info!("ttys: {} removed; stopping its getty", s.entry.name);
            s.shutdown = true;
            if let Some(pid) = s.pid {
                if let Err(e) = self.k.kill(KillTarget::Pid(pid), KillSig::Hup) {
                    tracing::warn!("{e}");
                }
                keep.push(s); // collected by getty_ended
            }
        }
        self.sessions = keep;
        State::MultiUser
    }

    /// Block further logins (init.c `catatonia`): running gettys stay, none respawns.
    pub(super) fn catatonia(&mut self) -> State {
        for s in &mut self.sessions {
            s.shutdown = true;
        }
        State::MultiUser
    }

    /// SIGHUP every getty and revoke its terminal; nothing respawns afterwards. Lines on
    /// which no getty ever ran are left alone.
    pub(super) fn revoke_ttys(&mut self) {
        for i in 0..self.sessions.len() {
            self.sessions[i].shutdown = true;
            if let Some(pid) = self.sessions[i].pid {
                if let Err(e) = self.k.kill(KillTarget::Pid(pid), KillSig::Hup) {
                    tracing::warn!("{e}");
                }
            }
            if self.sessions[i].started.is_none() {
                continue;
            }
            let dev = self.paths.dev.join(&self.sessions[i].entry.name);
            if let Err(e) = self.k.revoke(&dev) {
                tracing::warn!("{e}");
            }
        }
    }
}
