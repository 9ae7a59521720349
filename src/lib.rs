//! reinit: a FreeBSD-compatible PID 1 for FreeBSD and Linux, built to reroot.
//!
//! ```text
//!            -s                       SIGTERM / SIGINT / ... (not multi-user)
//!   boot ──────────► single_user ◄────────────────────── death_single ◄── death
//!     │                │  ▲  shell exits                      ▲            ▲
//!     │ (default)      ▼  │ rc fails                          │            │ SIGTERM/INT/USR1/
//!     └──────────► runcom ┘                                   │            │ USR2/WINCH
//!                     │ rc exits 0                            │            │
//!                     ▼                                       │            │
//!                 read_ttys ──► multi_user ───────────────────┴────────────┘
//!                                 ▲   │ SIGHUP          ▲ SIGTSTP
//!                                 │   ▼                 │
//!                                 └ clean_ttys      catatonia
//! ```
//!
//! Modules:
//!
//! - [`kernel`]: the one OS seam (`linux`, `freebsd`, `fake`).
//! - [`machine`]: the states, with init.c's names, and the reroot (phase one and two).
//! - [`trust`]: whether only root controls a path (hook, staging area, trampoline).
//! - [`newroot`]: the reroot's rules (target syntax, hook trust, init in the new root, record).
//! - [`check`], [`carry`]: `reinit check` and `reinit carry`.
//! - [`signals`]: signal → request, a pure table.
//! - [`children`]: the one reaper and the pid → role table.
//! - [`ttys`]: the /etc/ttys parser.
//! - [`config`]: paths, kenv keys, the Linux kenv store.
//! - [`settings`]: the kenv settings, typed and validated, for PID 1 and `reinit check`.
//! - [`passwd`]: the single-user password check.
//! - [`client`]: `init 0|1|6|c|q|r`, `reinit kenv`.
//! - [`log`]: console logging that never blocks PID 1.

pub mod carry;
pub mod check;
pub mod children;
pub mod client;
pub mod config;
pub mod environ_shim;
pub mod kernel;
pub mod log;
pub mod machine;
pub mod newroot;
pub mod passwd;
pub mod settings;
pub mod signals;
#[cfg(test)]
mod testutil;
pub mod trust;
pub mod ttys;
