//! /etc/ttys: FreeBSD's terminal table (ttys(5), libc getttyent(3)).
//!
//! One entry per line: `name getty type flags...`. `#` starts a comment outside double
//! quotes; blank lines are skipped. The getty and the `window=` value may be double-quoted to
//! contain spaces; `none` as getty or type means there is none. Flags: `on`, `off`,
//! `onifexists`, `onifconsole`, `secure`, `insecure`, `dialup`, `network`, `window=CMD`,
//! `group=NAME`.
//!
//! The getty command is split into argv the way init.c's `strk()` does (whitespace-separated
//! words, single quotes group a word; not a shell), and the terminal name is appended as the
//! last argument, as init builds `"<getty> <name>"`.
//!
//! Malformed lines are reported with their line number and skipped; every other line still
//! counts. Malformed: an unterminated double quote, an unterminated single quote inside the
//! getty or window command, an empty `window=` or `group=`. A name seen twice: the first line
//! wins and the later one is reported. An unknown flag is reported as a warning
//! ([`TtysError::UnknownFlag`]) and the entry is kept, as getttyent ignores it.
//!
//! Not done: the `dialup`/`network` flags and `group=` are parsed but init gives them no
//! meaning (neither does FreeBSD's init).

use std::path::PathBuf;
use std::time::Duration;

use crate::config;

/// A getty restarted sooner than this after its previous start counts as a quick respawn.
pub const GETTY_SPACING: Duration = Duration::from_secs(5);
/// More quick respawns in a row than this make init pause the line.
pub const GETTY_NSPACE: u32 = 3;
/// How long a line that respawns too quickly is paused.
pub const GETTY_SLEEP: Duration = Duration::from_secs(30);

/// Whether init runs a getty on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `on`.
    On,
    /// `off` (also the default when neither is given).
    Off,
    /// `onifexists`: on when the device node exists.
    OnIfExists,
    /// `onifconsole`: on when the line is one of the kernel's consoles.
    OnIfConsole,
}

/// One line of /etc/ttys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TtyEntry {
    /// 1-based line number.
    pub line: usize,
    /// Terminal name; the device is `/dev/<name>`.
    pub name: String,
    /// The getty's argv with the terminal name appended; `None` for `none` or no field.
    pub getty: Option<Vec<String>>,
    /// Terminal type for `TERM`; `None` for `none` or no field.
    pub term: Option<String>,
    /// on/off.
    pub status: Status,
    /// `secure` (root may log in; no password in single-user mode on the console).
    pub secure: bool,
    /// `window=` command, split like the getty.
    pub window: Option<Vec<String>>,
    /// `group=` name.
    pub group: Option<String>,
    /// `dialup`.
    pub dialup: bool,
    /// `network`.
    pub network: bool,
}

impl TtyEntry {
    /// The device node: `/dev/<name>`.
    #[must_use]
    pub fn device(&self) -> PathBuf {
        PathBuf::from("/dev").join(&self.name)
    }

    /// Whether init should run a getty on this line now.
    #[must_use]
    pub fn wants_getty(
        &self,
        device_exists: impl Fn(&str) -> bool,
        console_names: &[String],
    ) -> bool {
        if self.getty.is_none() {
            return false;
        }
        match self.status {
            Status::On => true,
            Status::Off => false,
            Status::OnIfExists => device_exists(&self.name),
            Status::OnIfConsole => console_names.contains(&self.name),
        }
    }
}

impl TtyEntry {
    /// The entry as one line of /etc/ttys, every field double-quoted, that [`parse`] reads
    /// back to the same entry (but for its line number). For entries [`parse`] made: their
    /// fields hold no double quote, and a command word with blanks holds no single quote.
    #[must_use]
    pub fn to_line(&self) -> String {
        // A word with blanks, an empty one or one that starts with a single quote is quoted
        // as split_words reads it back.
        let word = |w: &String| {
            if w.is_empty() || w.starts_with('\'') || w.chars().any(char::is_whitespace) {
                format!("'{w}'")
            } else {
                w.clone()
            }
        };
        let command = |argv: &[String]| argv.iter().map(word).collect::<Vec<_>>().join(" ");
        let mut f = vec![format!("\"{}\"", self.name)];
        f.push(match &self.getty {
            // The terminal name that parse appended is not part of the field.
            Some(argv) => match command(argv.split_last().map_or(&[], |l| l.1)) {
                // A command that is the one word `none` (from `" none "`) must not read back
                // as the keyword.
                c if c == "none" => "\"'none'\"".into(),
                c => format!("\"{c}\""),
            },
            None => "none".into(),
        });
        f.push(match &self.term {
            Some(t) => format!("\"{t}\""),
            None => "none".into(),
        });
        f.push(
            match self.status {
                Status::On => "on",
                Status::Off => "off",
                Status::OnIfExists => "onifexists",
                Status::OnIfConsole => "onifconsole",
            }
            .into(),
        );
        f.push(if self.secure { "secure" } else { "insecure" }.into());
        if self.dialup {
            f.push("dialup".into());
        }
        if self.network {
            f.push("network".into());
        }
        if let Some(w) = &self.window {
            f.push(format!("\"window={}\"", command(w)));
        }
        if let Some(g) = &self.group {
            f.push(format!("\"group={g}\""));
        }
        f.join(" ")
    }
}

/// A problem on one line of /etc/ttys.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TtysError {
    /// Bytes that are not UTF-8 outside a comment; the line is skipped.
    #[error("line {line}: not valid UTF-8 outside a comment (line skipped)")]
    NotUtf8 {
        /// Line number.
        line: usize,
    },
    /// A double quote is not closed; the line is skipped.
    #[error("line {line}: unterminated double quote (line skipped)")]
    UnterminatedQuote {
        /// Line number.
        line: usize,
    },
    /// A single quote in a command is not closed; the line is skipped.
    #[error("line {line}: {field}: {source} (line skipped)")]
    BadCommand {
        /// Line number.
        line: usize,
        /// `getty` or `window`.
        field: &'static str,
        /// What is wrong.
        source: SplitError,
    },
    /// `window=` or `group=` without a value; the line is skipped.
    #[error("line {line}: empty {flag}= value (line skipped)")]
    EmptyValue {
        /// Line number.
        line: usize,
        /// The flag.
        flag: &'static str,
    },
    /// The name field is empty (`""`); the line is skipped.
    #[error("line {line}: empty terminal name (line skipped)")]
    EmptyName {
        /// Line number.
        line: usize,
    },
    /// A terminal named twice; the later line is skipped.
    #[error("line {line}: {name} already defined on line {first} (line skipped)")]
    Duplicate {
        /// Line number.
        line: usize,
        /// The name.
        name: String,
        /// Where it was first defined.
        first: usize,
    },
    /// An unknown flag; it is ignored and the entry kept.
    #[error("line {line}: unknown flag `{flag}` (ignored)")]
    UnknownFlag {
        /// Line number.
        line: usize,
        /// The flag.
        flag: String,
    },
}

/// A command that cannot be split.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SplitError {
    /// A single quote is not closed.
    #[error("unterminated single quote")]
    UnterminatedQuote,
}

/// Split like init.c `strk()`: whitespace-separated words; single quotes group a word.
pub fn split_words(s: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            return Ok(words);
        };
        let mut w = String::new();
        if c == '\'' {
            chars.next();
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some(c) => w.push(c),
                    None => return Err(SplitError::UnterminatedQuote),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
        }
        words.push(w);
    }
}

/// Split a line into fields (see [`config::split_quoted`]); `None` on an unterminated
/// double quote.
fn fields(line: &str) -> Option<Vec<String>> {
    let q = config::split_quoted(line, true);
    (!q.unterminated).then_some(q.words)
}

fn none_or(v: Option<&String>) -> Option<&String> {
    v.filter(|s| s.as_str() != "none" && !s.is_empty())
}

/// Parse one non-empty line.
fn parse_line(
    line: usize,
    f: &[String],
    errors: &mut Vec<TtysError>,
) -> Result<TtyEntry, TtysError> {
    let name = f[0].clone();
    if name.is_empty() {
        return Err(TtysError::EmptyName { line });
    }
    let getty = match none_or(f.get(1)) {
        Some(g) => {
            let mut argv = split_words(g).map_err(|source| TtysError::BadCommand {
                line,
                field: "getty",
                source,
            })?;
            if argv.is_empty() {
                None
            } else {
                argv.push(name.clone());
                Some(argv)
            }
        }
        None => None,
    };
    let mut e = TtyEntry {
        line,
        name,
        getty,
        term: none_or(f.get(2)).cloned(),
        status: Status::Off,
        secure: false,
        window: None,
        group: None,
        dialup: false,
        network: false,
    };
    for flag in f.iter().skip(3) {
        match flag.as_str() {
            "on" => e.status = Status::On,
            "off" => e.status = Status::Off,
            "onifexists" => e.status = Status::OnIfExists,
            "onifconsole" => e.status = Status::OnIfConsole,
            "secure" => e.secure = true,
            "insecure" => e.secure = false,
            "dialup" => e.dialup = true,
            "network" => e.network = true,
            other => {
                if let Some(w) = other.strip_prefix("window=") {
                    if w.trim().is_empty() {
                        return Err(TtysError::EmptyValue {
                            line,
                            flag: "window",
                        });
                    }
                    e.window = Some(split_words(w).map_err(|source| TtysError::BadCommand {
                        line,
                        field: "window",
                        source,
                    })?);
                } else if let Some(g) = other.strip_prefix("group=") {
                    if g.is_empty() {
                        return Err(TtysError::EmptyValue {
                            line,
                            flag: "group",
                        });
                    }
                    e.group = Some(g.to_owned());
                } else {
                    errors.push(TtysError::UnknownFlag {
                        line,
                        flag: other.to_owned(),
                    });
                }
            }
        }
    }
    Ok(e)
}

/// Parse the whole file. Never panics; see the module documentation for what is skipped.
#[must_use]
pub fn parse(text: &str) -> (Vec<TtyEntry>, Vec<TtysError>) {
    parse_bytes(text.as_bytes())
}

/// Read and parse /etc/ttys as bytes, as getttyent(3) does: a byte that is not UTF-8 (a
/// Latin-1 letter in a comment, say) costs at most its own line, never the file.
pub fn read(path: &std::path::Path) -> std::io::Result<(Vec<TtyEntry>, Vec<TtysError>)> {
    std::fs::read(path).map(|data| parse_bytes(&data))
}

/// [`parse`] for bytes.
#[must_use]
pub fn parse_bytes(data: &[u8]) -> (Vec<TtyEntry>, Vec<TtysError>) {
    let mut entries: Vec<TtyEntry> = Vec::new();
    let mut errors = Vec::new();
    for (i, bytes) in data.split(|b| *b == b'\n').enumerate() {
        let line = i + 1;
        let raw = String::from_utf8_lossy(bytes.strip_suffix(b"\r").unwrap_or(bytes));
        let Some(f) = fields(&raw) else {
            errors.push(TtysError::UnterminatedQuote { line });
            continue;
        };
        // Invalid bytes only matter where they are read: outside a comment.
        if f.iter().any(|w| w.contains('\u{fffd}')) && std::str::from_utf8(bytes).is_err() {
            errors.push(TtysError::NotUtf8 { line });
            continue;
        }
        if f.is_empty() {
            continue;
        }
        match parse_line(line, &f, &mut errors) {
            Ok(e) => match entries.iter().find(|x| x.name == e.name) {
                Some(first) => errors.push(TtysError::Duplicate {
                    line,
                    name: e.name,
                    first: first.line,
                }),
                None => entries.push(e),
            },
            Err(err) => errors.push(err),
        }
    }
    (entries, errors)
}

/// The `secure` flag of the `console` line (false when there is none).
#[must_use]
pub fn console_is_secure(entries: &[TtyEntry]) -> bool {
    entries.iter().any(|e| e.name == "console" && e.secure)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const FREEBSD: &str = "\
#
# name\tgetty\t\t\t\ttype\tstatus\t\tcomments
#
console\tnone\t\t\t\tunknown\toff secure
ttyv0\t\"/usr/libexec/getty Pc\"\t\txterm\tonifexists secure
ttyu0\t\"/usr/libexec/getty 3wire\"\tvt100\tonifconsole secure
dcons\t\"/usr/libexec/getty std.9600\"\tvt100\toff secure
";

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn freebsd_default_file() {
        let (e, errs) = parse(FREEBSD);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].name, "console");
        assert_eq!(e[0].getty, None);
        assert_eq!(e[0].term.as_deref(), Some("unknown"));
        assert_eq!(e[0].line, 4);
        assert!(e[0].secure);
        assert_eq!(e[1].getty, Some(s(&["/usr/libexec/getty", "Pc", "ttyv0"])));
        assert_eq!(e[1].status, Status::OnIfExists);
        assert_eq!(e[2].status, Status::OnIfConsole);
        assert_eq!(e[3].status, Status::Off);
        assert_eq!(e[1].device(), PathBuf::from("/dev/ttyv0"));
        assert!(console_is_secure(&e));
    }

    #[test]
    fn flags_window_group_and_quotes() {
        let text = "ttyv1 \"/sbin/getty 'two words' x\" vt220 on insecure dialup network window=\"/usr/X11/bin/xterm -e sh\" group=main";
        let (e, errs) = parse(text);
        assert!(errs.is_empty());
        let e = &e[0];
        assert_eq!(
            e.getty,
            Some(s(&["/sbin/getty", "two words", "x", "ttyv1"]))
        );
        assert_eq!(e.window, Some(s(&["/usr/X11/bin/xterm", "-e", "sh"])));
        assert_eq!(e.group.as_deref(), Some("main"));
        assert!(e.dialup && e.network && !e.secure);
        assert_eq!(e.status, Status::On);
    }

    #[test]
    fn malformed_lines_are_skipped_with_line_numbers() {
        let text = "\
ttyv0 \"/usr/libexec/getty Pc\" xterm on
ttyv1 \"/usr/libexec/getty Pc xterm on
ttyv2 \"/usr/libexec/getty 'x\" xterm on
ttyv3 \"/usr/libexec/getty Pc\" xterm on window=
ttyv4 \"/usr/libexec/getty Pc\" xterm on bogus
ttyv0 \"/other\" xterm on
ttyv5 \"/usr/libexec/getty Pc\" xterm on # comment \"
";
        let (e, errs) = parse(text);
        let names: Vec<&str> = e.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["ttyv0", "ttyv4", "ttyv5"]);
        assert_eq!(e[0].getty, Some(s(&["/usr/libexec/getty", "Pc", "ttyv0"])));
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            [
                "line 2: unterminated double quote (line skipped)",
                "line 3: getty: unterminated single quote (line skipped)",
                "line 4: empty window= value (line skipped)",
                "line 5: unknown flag `bogus` (ignored)",
                "line 6: ttyv0 already defined on line 1 (line skipped)",
            ]
        );
    }

    #[test]
    fn name_only_line_has_no_getty() {
        let (e, errs) = parse("ttyv9\n");
        assert!(errs.is_empty());
        assert_eq!(e[0].getty, None);
        assert_eq!(e[0].status, Status::Off);
        assert!(!e[0].wants_getty(|_| true, &[]));
    }

    #[test]
    fn wants_getty_by_status() {
        let mk = |status| TtyEntry {
            line: 1,
            name: "ttyu0".into(),
            getty: Some(s(&["/g", "ttyu0"])),
            term: None,
            status,
            secure: false,
            window: None,
            group: None,
            dialup: false,
            network: false,
        };
        let consoles = s(&["ttyu0"]);
        assert!(mk(Status::On).wants_getty(|_| false, &[]));
        assert!(!mk(Status::Off).wants_getty(|_| true, &consoles));
        assert!(mk(Status::OnIfExists).wants_getty(|n| n == "ttyu0", &[]));
        assert!(!mk(Status::OnIfExists).wants_getty(|_| false, &[]));
        assert!(mk(Status::OnIfConsole).wants_getty(|_| false, &consoles));
        assert!(!mk(Status::OnIfConsole).wants_getty(|_| true, &s(&["ttyv0"])));
    }

    #[test]
    fn console_security() {
        assert!(!console_is_secure(
            &parse("console none unknown off insecure").0
        ));
        assert!(!console_is_secure(
            &parse("ttyv0 none unknown off secure").0
        ));
        assert!(!console_is_secure(&[]));
    }

    #[test]
    fn split_words_edges() {
        assert_eq!(
            split_words("  a  b\t'c d'  ").unwrap(),
            s(&["a", "b", "c d"])
        );
        assert_eq!(split_words("''").unwrap(), s(&[""]));
        assert!(split_words("").unwrap().is_empty());
        assert_eq!(split_words("'abc"), Err(SplitError::UnterminatedQuote));
    }

    #[test]
    fn garbage_never_panics() {
        let pieces = [
            "\"", "'", "#", "\t", " ", "window=", "group=", "on", "x", "\n", "é", "none",
        ];
        let mut seed: u32 = 7;
        for _ in 0..2000 {
            let mut t = String::new();
            for _ in 0..12 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                t.push_str(pieces[(seed >> 16) as usize % pieces.len()]);
            }
            let (entries, _) = parse(&t);
            for e in entries {
                assert!(!e.name.is_empty());
            }
        }
    }

    /// Property: every entry parse makes, printed with `to_line` and parsed again, is the
    /// same entry (renumbered), with no error.
    #[test]
    fn printed_entries_parse_back() {
        let pieces = [
            "\"",
            "'",
            "#",
            "\t",
            " ",
            "\u{a0}",
            "\r",
            "\n",
            "window=",
            "group=",
            "on",
            "off",
            "onifexists",
            "secure",
            "dialup",
            "network",
            "none",
            "ttyv",
            "/g",
            "x",
            "é",
            "''",
        ];
        let mut seen = 0;
        for text in crate::testutil::texts(&pieces, 3000, 16, 11) {
            let (entries, _) = parse(&text);
            seen += entries.len();
            let printed: String = entries.iter().map(|e| e.to_line() + "\n").collect();
            let (again, errors) = parse(&printed);
            assert!(
                errors.is_empty(),
                "{errors:?}: {text:?} printed as {printed:?}"
            );
            let renumbered: Vec<TtyEntry> = entries
                .iter()
                .enumerate()
                .map(|(i, e)| TtyEntry {
                    line: i + 1,
                    ..e.clone()
                })
                .collect();
            assert_eq!(again, renumbered, "{text:?} printed as {printed:?}");
        }
        assert!(seen > 1000, "the generator makes entries ({seen})");
    }

    #[test]
    fn to_line_quotes_what_needs_it() {
        let (e, errs) = parse("\"a b\" \"/g 'x y' '' z\" none on secure window=''");
        assert!(errs.is_empty());
        assert_eq!(
            e[0].to_line(),
            "\"a b\" \"/g 'x y' '' z\" none on secure \"window=''\""
        );
    }

    /// A getty field `" none "` is a command (the word `none`), not the keyword: printed, it
    /// must read back as the same command. Found by the ttys fuzz target
    /// (fuzz/corpus/ttys/crash-f698838f…): the line printed as `"vnt" "none" …` and read
    /// back with no getty.
    #[test]
    fn a_command_named_none_is_not_the_keyword_after_printing() {
        let (e, errs) = parse("vnt \" none \" t! off insecure\n");
        assert!(errs.is_empty());
        assert_eq!(e[0].getty, Some(vec!["none".to_owned(), "vnt".to_owned()]));
        let (again, errs) = parse(&e[0].to_line());
        assert!(errs.is_empty());
        assert_eq!(again[0].getty, e[0].getty, "{}", e[0].to_line());
        // The keyword itself still means no getty.
        assert_eq!(parse("vnt none t! off\n").0[0].getty, None);
    }

    /// A Latin-1 byte in a comment costs nothing; one in a field costs only its line.
    #[test]
    fn bytes_that_are_not_utf8_cost_at_most_their_line() {
        let data = b"# Terminal \xe9cran\nttyv0 \"/usr/libexec/getty Pc\" xterm on secure\n\
                     ttyv\xe91 \"/usr/libexec/getty Pc\" xterm on secure\n\
                     ttyv2 \"/usr/libexec/getty Pc\" xterm on secure # caf\xe9\r\n";
        let (entries, errors) = parse_bytes(data);
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["ttyv0", "ttyv2"]);
        assert_eq!(errors, vec![TtysError::NotUtf8 { line: 3 }]);
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ttys");
        std::fs::write(&p, data).unwrap();
        assert_eq!(read(&p).unwrap().0.len(), 2);
    }
}
