//! The byte buffers FreeBSD's kernel answers with, decoded: kenv(KENV_DUMP), string sysctls,
//! `kern.proc.args`, fixed-size name arrays (`ki_comm`, `f_mntonname`) and the
//! `kern.proc.proc` table of `struct kinfo_proc` records.
//!
//! Pure functions of bytes, compiled on every target so that they are unit-tested and fuzzed
//! anywhere; [`super::freebsd`] calls them on what the kernel wrote. None trusts the buffer:
//! a string without its NUL, a record cut short or a layout that does not fit its record
//! size gives less, never a read past the buffer.

/// The text of the NUL-terminated string at the start of `buf` (a string sysctl, a kenv
/// value, `kern.proc.pathname`); `None` when `buf` holds no NUL. Bytes that are not UTF-8
/// are replaced.
#[must_use]
pub fn c_string(buf: &[u8]) -> Option<String> {
    std::ffi::CStr::from_bytes_until_nul(buf)
        .ok()
        .map(|s| s.to_string_lossy().into_owned())
}

/// The text of a fixed-size C character array (`ki_comm`, `f_mntonname`,
/// `f_fstypename`): up to its first NUL, or the whole array when it holds none.
#[must_use]
pub fn c_array(arr: &[u8]) -> String {
    let end = arr.iter().position(|b| *b == 0).unwrap_or(arr.len());
    String::from_utf8_lossy(arr.get(..end).unwrap_or_default()).into_owned()
}

/// [`c_array`] for an array of `c_char`, as the libc crate declares them (signed on some
/// targets, unsigned on others).
#[must_use]
pub fn c_chars(arr: &[std::os::raw::c_char]) -> String {
    // `as u8` reinterprets each C character's bits, which is what the kernel wrote.
    let bytes: Vec<u8> = arr.iter().map(|c| *c as u8).collect();
    c_array(&bytes)
}

/// kenv(KENV_DUMP)'s buffer: `name=value` strings, each NUL-terminated, up to the first
/// empty one or the end. Strings without `=` are skipped. Sorted by name, then value.
#[must_use]
pub fn kenv_dump(buf: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = buf
        .split(|&b| b == 0)
        .filter(|e| !e.is_empty())
        .filter_map(|e| {
            let s = String::from_utf8_lossy(e);
            s.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect();
    out.sort();
    out
}

/// `kern.proc.args` of a process: its arguments, NUL-separated (the last one followed by a
/// NUL, so the last element is usually empty, as the caller expects).
#[must_use]
pub fn proc_args(raw: &[u8]) -> Vec<String> {
    raw.split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Where the fields reinit reads sit in a `struct kinfo_proc`, in bytes. They move between
/// FreeBSD versions and word sizes, so the FreeBSD kernel code fills this from the libc
/// crate's struct (`size_of`, `offset_of!`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KinfoLayout {
    /// `sizeof(struct kinfo_proc)`: the stride of the table.
    pub size: usize,
    /// `ki_pid` (`pid_t`, 4 bytes).
    pub pid: usize,
    /// `ki_ruid` (`uid_t`, 4 bytes).
    pub ruid: usize,
    /// `ki_flag` (`long`).
    pub flag: usize,
    /// The size of `long`: 4 or 8.
    pub flag_size: usize,
    /// `ki_stat` (`char`, 1 byte).
    pub stat: usize,
    /// `ki_comm` (`char[COMMLEN + 1]`).
    pub comm: usize,
    /// Its length.
    pub comm_len: usize,
}

/// `struct kinfo_proc` on amd64 (FreeBSD 13 to 15: 1088 bytes, `KINFO_PROC_SIZE`), for the
/// tests and fuzzing on other hosts; the FreeBSD build checks that the libc crate's struct
/// has it.
pub const AMD64_LAYOUT: KinfoLayout = KinfoLayout {
    size: 1088,
    pid: 72,
    ruid: 172,
    flag: 368,
    flag_size: 8,
    stat: 388,
    comm: 447,
    comm_len: 20,
};

impl KinfoLayout {
    /// Field-by-field equality, usable in a constant.
    #[must_use]
    pub const fn same(&self, other: &KinfoLayout) -> bool {
        self.size == other.size
            && self.pid == other.pid
            && self.ruid == other.ruid
            && self.flag == other.flag
            && self.flag_size == other.flag_size
            && self.stat == other.stat
            && self.comm == other.comm
            && self.comm_len == other.comm_len
    }

    /// Whether every field lies inside a record of a size that is not 0, with a `long` of 4
    /// or 8 bytes.
    #[must_use]
    pub const fn fits(&self) -> bool {
        const fn inside(at: usize, len: usize, size: usize) -> bool {
            match at.checked_add(len) {
                Some(end) => end <= size,
                None => false,
            }
        }
        self.size > 0
            && matches!(self.flag_size, 4 | 8)
            && inside(self.pid, 4, self.size)
            && inside(self.ruid, 4, self.size)
            && inside(self.flag, self.flag_size, self.size)
            && inside(self.stat, 1, self.size)
            && inside(self.comm, self.comm_len, self.size)
    }
}

/// The fields of one `struct kinfo_proc` that reinit uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinfoProc {
    /// `ki_pid`.
    pub pid: i32,
    /// `ki_ruid`.
    pub ruid: u32,
    /// `ki_flag` (`P_SYSTEM` and friends), sign-extended from a 4-byte `long`.
    pub flag: i64,
    /// `ki_stat` (`SZOMB` for a zombie).
    pub stat: u8,
    /// `ki_comm`: the command name.
    pub comm: String,
}

/// `N` bytes of `rec` at `at`, if they are inside it.
fn field<const N: usize>(rec: &[u8], at: usize) -> Option<[u8; N]> {
    rec.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn decode(rec: &[u8], l: &KinfoLayout) -> Option<KinfoProc> {
    let flag = match l.flag_size {
        8 => i64::from_ne_bytes(field(rec, l.flag)?),
        4 => i64::from(i32::from_ne_bytes(field(rec, l.flag)?)),
        _ => return None,
    };
    Some(KinfoProc {
        pid: i32::from_ne_bytes(field(rec, l.pid)?),
        ruid: u32::from_ne_bytes(field(rec, l.ruid)?),
        flag,
        stat: field::<1>(rec, l.stat)?[0],
        comm: c_array(rec.get(l.comm..l.comm.checked_add(l.comm_len)?)?),
    })
}

/// The records of a `kern.proc.proc` buffer: whole records only (a trailing partial one is
/// ignored); none when `layout` puts a field outside its own record size, or the size is 0.
#[must_use]
pub fn kinfo_procs(raw: &[u8], layout: &KinfoLayout) -> Vec<KinfoProc> {
    if !layout.fits() {
        return Vec::new();
    }
    raw.chunks_exact(layout.size)
        .filter_map(|rec| decode(rec, layout))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const LAYOUT: KinfoLayout = KinfoLayout {
        size: 40,
        pid: 0,
        ruid: 4,
        flag: 8,
        flag_size: 8,
        stat: 16,
        comm: 17,
        comm_len: 20,
    };

    fn record(pid: i32, ruid: u32, flag: i64, stat: u8, comm: &[u8]) -> Vec<u8> {
        let mut r = vec![0u8; LAYOUT.size];
        r[0..4].copy_from_slice(&pid.to_ne_bytes());
        r[4..8].copy_from_slice(&ruid.to_ne_bytes());
        r[8..16].copy_from_slice(&flag.to_ne_bytes());
        r[16] = stat;
        r[17..17 + comm.len()].copy_from_slice(comm);
        r
    }

    #[test]
    fn strings_stop_at_their_nul_and_never_read_past_the_buffer() {
        assert_eq!(
            c_string(b"ttyv0,/ttyv0,\0junk").as_deref(),
            Some("ttyv0,/ttyv0,")
        );
        assert_eq!(c_string(b"no nul"), None);
        assert_eq!(c_string(b""), None);
        assert_eq!(c_array(b"/usr\0\0\0"), "/usr");
        assert_eq!(c_array(b"full"), "full");
        assert_eq!(c_chars(&[0x2f, 0x76, 0x61, 0x72, 0]), "/var");
    }

    #[test]
    fn kenv_dump_is_sorted_pairs() {
        let buf =
            b"vfs.root.mountfrom=ufs:/dev/ada0p2\0a=1=2\0noequals\0init_path=/sbin/init\0\0\0";
        assert_eq!(
            kenv_dump(buf),
            vec![
                ("a".into(), "1=2".into()),
                ("init_path".into(), "/sbin/init".into()),
                ("vfs.root.mountfrom".into(), "ufs:/dev/ada0p2".into()),
            ]
        );
        assert!(kenv_dump(b"").is_empty());
    }

    #[test]
    fn proc_args_split_at_nuls() {
        assert_eq!(proc_args(b"/sbin/sh\0-c\0x\0"), ["/sbin/sh", "-c", "x", ""]);
        assert_eq!(proc_args(b""), [""]);
    }

    #[test]
    fn kinfo_records_decode_whole_records_only() {
        let mut raw = record(42, 1001, 0x200, 2, b"syslogd");
        raw.extend(record(7, 0, -1, 5, &[b'x'; 20]));
        raw.extend([1, 2, 3]);
        let p = kinfo_procs(&raw, &LAYOUT);
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[0],
            KinfoProc {
                pid: 42,
                ruid: 1001,
                flag: 0x200,
                stat: 2,
                comm: "syslogd".into()
            }
        );
        // A name that fills its array without a NUL ends at the array.
        assert_eq!(p[1].comm, "x".repeat(20));
        assert_eq!(p[1].flag, -1);
        // A 4-byte long is sign-extended.
        let narrow = KinfoLayout {
            flag_size: 4,
            ..LAYOUT
        };
        let mut r = record(3, 0, 0, 0, b"");
        r[8..12].copy_from_slice(&(-2i32).to_ne_bytes());
        assert_eq!(kinfo_procs(&r, &narrow)[0].flag, -2);
    }

    #[test]
    fn amd64_records() {
        let l = AMD64_LAYOUT;
        assert!(l.fits() && l.same(&AMD64_LAYOUT) && !l.same(&LAYOUT));
        let mut raw = vec![0u8; 2 * l.size];
        raw[l.pid..l.pid + 4].copy_from_slice(&1234i32.to_ne_bytes());
        raw[l.ruid..l.ruid + 4].copy_from_slice(&65534u32.to_ne_bytes());
        raw[l.flag..l.flag + 8].copy_from_slice(&0x200i64.to_ne_bytes());
        raw[l.stat] = 5;
        raw[l.comm..l.comm + 4].copy_from_slice(b"init");
        let p = kinfo_procs(&raw, &l);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (
                p[0].pid,
                p[0].ruid,
                p[0].flag,
                p[0].stat,
                p[0].comm.as_str()
            ),
            (1234, 65534, 0x200, 5, "init")
        );
    }

    #[test]
    fn a_layout_that_does_not_fit_decodes_nothing() {
        let raw = record(42, 0, 0, 0, b"x").repeat(3);
        for bad in [
            KinfoLayout { size: 0, ..LAYOUT },
            KinfoLayout { comm: 30, ..LAYOUT },
            KinfoLayout { pid: 37, ..LAYOUT },
            KinfoLayout {
                flag_size: 2,
                ..LAYOUT
            },
            KinfoLayout {
                comm: usize::MAX,
                ..LAYOUT
            },
        ] {
            assert!(kinfo_procs(&raw, &bad).is_empty(), "{bad:?}");
        }
    }
}
