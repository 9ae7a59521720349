//! The FreeBSD kernel's answers (`kernel::freebsd_tables`): NUL-terminated sysctl strings,
//! fixed-size name arrays (`getfsstat`'s `f_mntonname`), kenv(KENV_DUMP), `kern.proc.args`,
//! the `kern.proc.proc` table of `kinfo_proc` records under any layout, and
//! `kern.console` (`config::parse_kern_console`). Never panic, never read past the buffer.
//! The first byte chooses the decoder; for the table, the next 16 bytes are the layout.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reinit::config;
use reinit::kernel::freebsd_tables::{self as t, KinfoLayout};

fn u16_at(b: &[u8], i: usize) -> usize {
    usize::from(u16::from_le_bytes([b[i], b[i + 1]]))
}

fuzz_target!(|data: &[u8]| {
    let Some((which, rest)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => {
            let s = t::c_string(rest);
            assert_eq!(s.is_some(), rest.contains(&0));
            let a = t::c_array(rest);
            if let Some(s) = s {
                assert_eq!(s, a);
            }
            assert!(!a.contains('\0'));
        }
        1 => {
            let pairs = t::kenv_dump(rest);
            assert!(pairs.windows(2).all(|w| w[0] <= w[1]), "sorted");
            for (k, v) in &pairs {
                assert!(!k.contains('=') && !k.contains('\0') && !v.contains('\0'));
            }
        }
        2 => {
            let args = t::proc_args(rest);
            assert_eq!(args.join("\0"), String::from_utf8_lossy(rest));
        }
        3 => {
            if rest.len() < 16 {
                return;
            }
            let (head, raw) = rest.split_at(16);
            let layout = KinfoLayout {
                size: u16_at(head, 0),
                pid: u16_at(head, 2),
                ruid: u16_at(head, 4),
                flag: u16_at(head, 6),
                flag_size: if head[8] & 1 == 0 { 8 } else { 4 },
                stat: u16_at(head, 10),
                comm: u16_at(head, 12),
                comm_len: u16_at(head, 14),
            };
            let procs = t::kinfo_procs(raw, &layout);
            if layout.fits() {
                assert_eq!(procs.len(), raw.len() / layout.size);
            } else {
                assert!(procs.is_empty());
            }
            for p in &procs {
                assert!(p.comm.len() <= 3 * layout.comm_len);
            }
        }
        _ => {
            let v = String::from_utf8_lossy(rest);
            for name in config::parse_kern_console(&v) {
                assert!(!name.is_empty() && !name.contains(',') && !name.contains('/'));
            }
        }
    }
});
