//! Directory listing formats: `ls -l` lines for LIST, facts for MLSD/MLST,
//! and the ls-style flags clients send with LIST/NLST.
//!
//! There is no standard for LIST output; clients (curl, lftp, FileZilla,
//! tnftp, wget) all parse the Unix `ls -l` layout, so that is what we emit,
//! always in UTC and with fixed English month names. MLSD/MLST (RFC 3659)
//! is the machine-readable alternative and is preferred by modern clients.
//! Every line ends in CRLF, and CR or LF inside a file name is shown as `?`
//! so a hostile name cannot forge extra entries.

use crate::time::{MAX_FORMAT, MIN_FORMAT, civil_from_unix, format_timestamp};

/// What kind of thing a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Symlink,
    /// Anything else: device, socket, FIFO.
    Other,
}

/// Facts about a file, as a backend reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// File, directory, link, ...
    pub kind: FileKind,
    /// Size in bytes (for directories whatever the backend reports).
    pub size: u64,
    /// Modification time, seconds since the Unix epoch (UTC).
    pub mtime: Option<i64>,
    /// Permission bits (`0o644`), if the backend has them.
    pub mode: Option<u32>,
    /// Hard link count (0 if unknown; shown as at least 1).
    pub nlink: u64,
    /// Owner name, if the backend has one (LIST shows `ftp` otherwise).
    pub owner: Option<String>,
    /// Group name, if the backend has one (LIST shows `ftp` otherwise).
    pub group: Option<String>,
    /// A stable identity for MLSx `unique` (e.g. device and inode in hex).
    pub unique: Option<String>,
}

impl FileInfo {
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }
    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == FileKind::File
    }
}

/// The `ls` flags a LIST/NLST argument carried. Flags without a meaning for
/// us (`-C`, `-1`, `-t`, `-r`) are accepted and ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// `-a` / `-A`: include names starting with `.`.
    pub all: bool,
    /// `-l`: long format (for NLST).
    pub long: bool,
    /// `-F`: append `/` to directory names.
    pub classify: bool,
    /// `-d`: list a directory itself, not its contents.
    pub directory: bool,
    /// `-R`: recurse into subdirectories.
    pub recursive: bool,
}

/// The letters accepted in an ls flag word.
const LIST_FLAGS: &[u8] = b"aAlCFdR1tr";

/// Split LIST/NLST arguments into ls-style flags and the path/pattern:
/// leading words starting with '-' made only of letters from "aAlCFdR1tr"
/// are flags (`-a`, `-l`, `-la`, `-CF`); others and the rest form the path.
/// Without flags the argument is the path verbatim (it may start with a
/// space); an empty path gives `None`.
pub fn parse_list_args(args: &[u8]) -> (ListOptions, Option<Vec<u8>>) {
    let mut opts = ListOptions::default();
    let mut rest = args;
    loop {
        let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
        let word_and_more = rest.get(start..).unwrap_or_default();
        let end = word_and_more.iter().position(|&b| b == b' ').unwrap_or(word_and_more.len());
        let word = word_and_more.get(..end).unwrap_or_default();
        let is_flag_word = word.len() >= 2 && word[0] == b'-' && word[1..].iter().all(|b| LIST_FLAGS.contains(b));
        if !is_flag_word {
            break;
        }
        for &b in &word[1..] {
            match b {
                b'a' | b'A' => opts.all = true,
                b'l' => opts.long = true,
                b'F' => opts.classify = true,
                b'd' => opts.directory = true,
                b'R' => opts.recursive = true,
                _ => {}
            }
        }
        rest = word_and_more.get(end..).unwrap_or_default();
        // The path begins after the blanks that follow the last flag.
        let skip = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
        rest = rest.get(skip..).unwrap_or_default();
    }
    let path = (!rest.is_empty()).then(|| rest.to_vec());
    (opts, path)
}

/// Six months, the `ls` cut-off between "time of day" and "year" dates.
const SIX_MONTHS: i64 = 182 * 86_400 + 43_200;
/// How far in the future an mtime may be and still show a time of day
/// (clock skew between the server and the file's source).
const FUTURE_SLACK: i64 = 3_600;

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Append `name` with CR and LF shown as `?`, so a name cannot end a line.
fn push_name(name: &[u8], out: &mut Vec<u8>) {
    out.extend(name.iter().map(|&b| if b == b'\r' || b == b'\n' { b'?' } else { b }));
}

/// An owner or group name fit for a whitespace-separated column: blanks and
/// control characters become `_`, at most 32 characters, `ftp` if unknown.
fn column_name(name: Option<&str>) -> String {
    let cleaned: String = name
        .unwrap_or("")
        .chars()
        .take(32)
        .map(|c| if c.is_whitespace() || c.is_control() { '_' } else { c })
        .collect();
    if cleaned.is_empty() { "ftp".to_string() } else { cleaned }
}

/// The ten-character `drwxr-xr-x` column, with setuid/setgid/sticky bits.
fn mode_string(kind: FileKind, mode: u32) -> [u8; 10] {
    let mut s = [b'-'; 10];
    s[0] = match kind {
        FileKind::Dir => b'd',
        FileKind::Symlink => b'l',
        FileKind::File | FileKind::Other => b'-',
    };
    // (read bit, write bit, exec bit, special bit, special char)
    let triples =
        [(0o400, 0o200, 0o100, 0o4000, b's'), (0o040, 0o020, 0o010, 0o2000, b's'), (0o004, 0o002, 0o001, 0o1000, b't')];
    for (i, (r, w, x, special, ch)) in triples.into_iter().enumerate() {
        let base = 1 + i * 3;
        if mode & r != 0 {
            s[base] = b'r';
        }
        if mode & w != 0 {
            s[base + 1] = b'w';
        }
        s[base + 2] = match (mode & x != 0, mode & special != 0) {
            (true, true) => ch,
            (false, true) => ch.to_ascii_uppercase(),
            (true, false) => b'x',
            (false, false) => b'-',
        };
    }
    s
}

/// One `ls -l` line + CRLF: `drwxr-xr-x    2 owner    group        4096 Nov 24 13:05 name`
/// (mtime within ~6 months of `now` shows HH:MM, else the year; all UTC); owner/group default "ftp";
/// mode default 0644 files / 0755 dirs; kind char d - l. Format must parse in curl, lftp, FileZilla, tnftp.
/// An unknown mtime shows as the epoch.
pub fn list_line(name: &[u8], info: &FileInfo, now: i64, out: &mut Vec<u8>) {
    let mode = info.mode.unwrap_or(match info.kind {
        FileKind::Dir => 0o755,
        FileKind::Symlink => 0o777,
        FileKind::File | FileKind::Other => 0o644,
    });
    // Years outside 0..=9999 would not fit the column.
    let mtime = info.mtime.unwrap_or(0).clamp(MIN_FORMAT, MAX_FORMAT);
    let (year, month, day, hour, minute, _) = civil_from_unix(mtime);
    let month = month.checked_sub(1).and_then(|i| MONTHS.get(i as usize)).copied().unwrap_or("Jan");
    let recent = mtime > now.saturating_sub(SIX_MONTHS) && mtime <= now.saturating_add(FUTURE_SLACK);
    let when = if recent { format!("{hour:02}:{minute:02}") } else { format!("{year:>5}") };
    out.extend_from_slice(&mode_string(info.kind, mode));
    let line = format!(
        " {:>4} {:<8} {:<8} {:>8} {month} {day:>2} {when} ",
        info.nlink.max(1),
        column_name(info.owner.as_deref()),
        column_name(info.group.as_deref()),
        info.size,
    );
    out.extend_from_slice(line.as_bytes());
    push_name(name, out);
    out.extend_from_slice(b"\r\n");
}

/// One NLST line: the name and CRLF (CR/LF inside the name shown as `?`).
pub fn nlst_line(name: &[u8], out: &mut Vec<u8>) {
    push_name(name, out);
    out.extend_from_slice(b"\r\n");
}

/// Which MLSx facts to send (RFC 3659 §7.9): all supported ones by default,
/// a subset after `OPTS MLST fact;fact;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlstFacts {
    /// `type=`
    pub kind: bool,
    /// `size=` (files only)
    pub size: bool,
    /// `modify=`
    pub modify: bool,
    /// `perm=`
    pub perm: bool,
    /// `unique=`
    pub unique: bool,
    /// `UNIX.mode=`
    pub unix_mode: bool,
}

/// The supported fact names, in the order they are written.
const FACT_NAMES: [&str; 6] = ["type", "size", "modify", "perm", "unique", "UNIX.mode"];

impl Default for MlstFacts {
    fn default() -> Self {
        MlstFacts::all()
    }
}

impl MlstFacts {
    /// Every supported fact.
    pub fn all() -> Self {
        MlstFacts { kind: true, size: true, modify: true, perm: true, unique: true, unix_mode: true }
    }

    fn flags(&self) -> [bool; 6] {
        [self.kind, self.size, self.modify, self.perm, self.unique, self.unix_mode]
    }

    /// The facts named in an `OPTS MLST` value (`type;size;modify;`), case
    /// insensitive; unknown names are ignored and an empty value selects
    /// none, as RFC 3659 §7.9 says.
    pub fn from_opts(value: &str) -> Self {
        let mut on = [false; 6];
        for fact in value.split(';').map(str::trim) {
            if let Some(i) = FACT_NAMES.iter().position(|n| n.eq_ignore_ascii_case(fact)) {
                on[i] = true;
            }
        }
        let [kind, size, modify, perm, unique, unix_mode] = on;
        MlstFacts { kind, size, modify, perm, unique, unix_mode }
    }

    /// The FEAT line body: every supported fact, enabled ones marked `*`
    /// (`type*;size*;modify*;perm*;unique*;UNIX.mode*;`).
    pub fn feat(&self) -> String {
        FACT_NAMES.iter().zip(self.flags()).map(|(n, on)| if on { format!("{n}*;") } else { format!("{n};") }).collect()
    }

    /// The enabled facts as the `OPTS MLST` reply lists them (`type;size;`).
    pub fn enabled(&self) -> String {
        FACT_NAMES.iter().zip(self.flags()).filter(|(_, on)| *on).map(|(n, _)| format!("{n};")).collect()
    }
}

/// Append a fact value with bytes that would break the `fact=value;` syntax
/// (`;`, `=`, blanks, controls) replaced by `_`.
fn push_fact(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
    out.extend(value.bytes().map(|b| if b.is_ascii_graphic() && b != b';' && b != b'=' { b } else { b'_' }));
    out.push(b';');
}

/// MLSD/MLST facts (RFC 3659): `type=file;size=12;modify=20261124130500;perm=adfrw;unique=...;UNIX.mode=0644; name\r\n`
/// type is file/dir (cdir/pdir via `type_override`); size only for files; modify only if mtime known;
/// `perm` as given by the caller (omitted if empty); unique and UNIX.mode only when known.
/// Symbolic links are `type=OS.unix=symlink`, other special files `type=OS.unix=special`.
pub fn mlsx_line(name: &[u8], info: &FileInfo, perm: &str, type_override: Option<&str>, out: &mut Vec<u8>) {
    mlsx_line_with(name, info, perm, type_override, MlstFacts::all(), out);
}

/// [`mlsx_line`] restricted to the facts a client selected with `OPTS MLST`.
pub fn mlsx_line_with(
    name: &[u8],
    info: &FileInfo,
    perm: &str,
    type_override: Option<&str>,
    facts: MlstFacts,
    out: &mut Vec<u8>,
) {
    if facts.kind {
        let kind = type_override.unwrap_or(match info.kind {
            FileKind::File => "file",
            FileKind::Dir => "dir",
            FileKind::Symlink => "OS.unix=symlink",
            FileKind::Other => "OS.unix=special",
        });
        // The value of OS.unix=... legitimately contains '='; write it raw.
        out.extend_from_slice(b"type=");
        out.extend(kind.bytes().map(|b| if b.is_ascii_graphic() && b != b';' { b } else { b'_' }));
        out.push(b';');
    }
    if facts.size && info.kind == FileKind::File {
        push_fact(out, "size", &info.size.to_string());
    }
    if facts.modify
        && let Some(mtime) = info.mtime
    {
        push_fact(out, "modify", &format_timestamp(mtime));
    }
    if facts.perm && !perm.is_empty() {
        push_fact(out, "perm", perm);
    }
    if facts.unique
        && let Some(unique) = info.unique.as_deref()
    {
        push_fact(out, "unique", unique);
    }
    if facts.unix_mode
        && let Some(mode) = info.mode
    {
        push_fact(out, "UNIX.mode", &format!("{:04o}", mode & 0o7777));
    }
    out.push(b' ');
    push_name(name, out);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_timestamp;
    use proptest::prelude::*;

    fn info(kind: FileKind, size: u64, mtime: Option<i64>, mode: Option<u32>) -> FileInfo {
        FileInfo { kind, size, mtime, mode, nlink: 0, owner: None, group: None, unique: None }
    }

    fn list(name: &[u8], info: &FileInfo, now: i64) -> String {
        let mut out = Vec::new();
        list_line(name, info, now, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn mlsx(name: &[u8], info: &FileInfo, perm: &str, over: Option<&str>) -> String {
        let mut out = Vec::new();
        mlsx_line(name, info, perm, over, &mut out);
        String::from_utf8(out).unwrap()
    }

    const NOW: i64 = 1_700_000_000; // 2023-11-14 22:13:20 UTC

    #[test]
    fn list_args() {
        let none = ListOptions::default();
        assert_eq!(parse_list_args(b""), (none, None));
        assert_eq!(parse_list_args(b"-la"), (ListOptions { all: true, long: true, ..none }, None));
        assert_eq!(
            parse_list_args(b"-a -l /x y"),
            (ListOptions { all: true, long: true, ..none }, Some(b"/x y".to_vec()))
        );
        assert_eq!(parse_list_args(b"-CF"), (ListOptions { classify: true, ..none }, None));
        assert_eq!(
            parse_list_args(b"-dR1tr dir"),
            (ListOptions { directory: true, recursive: true, ..none }, Some(b"dir".to_vec()))
        );
        assert_eq!(parse_list_args(b"-A"), (ListOptions { all: true, ..none }, None));
        assert_eq!(parse_list_args(b"*.txt"), (none, Some(b"*.txt".to_vec())));
        assert_eq!(parse_list_args(b" lead"), (none, Some(b" lead".to_vec())));
        assert_eq!(parse_list_args(b"-x file"), (none, Some(b"-x file".to_vec())));
        assert_eq!(parse_list_args(b"-"), (none, Some(b"-".to_vec())));
        assert_eq!(parse_list_args(b"-l -notflag"), (ListOptions { long: true, ..none }, Some(b"-notflag".to_vec())));
        assert_eq!(parse_list_args(b"-l   "), (ListOptions { long: true, ..none }, None));
    }

    #[test]
    fn long_lines_recent_and_old() {
        let dir = info(FileKind::Dir, 4096, Some(NOW - 3600), None);
        assert_eq!(
            list(b"docs", &FileInfo { nlink: 2, ..dir }, NOW),
            "drwxr-xr-x    2 ftp      ftp          4096 Nov 14 21:13 docs\r\n"
        );
        let old = info(FileKind::File, 12, Some(1_600_000_000), Some(0o600));
        assert_eq!(list(b"a b.txt", &old, NOW), "-rw-------    1 ftp      ftp            12 Sep 13  2020 a b.txt\r\n");
        let future = info(FileKind::File, 1, Some(NOW + 86_400), None);
        assert!(list(b"f", &future, NOW).contains("Nov 15  2023 f"));
        let ancient = info(FileKind::File, 1, Some(i64::MIN), None);
        assert!(list(b"f", &ancient, NOW).contains("Jan  1     0 f"));
        let unknown = info(FileKind::File, 1, None, None);
        assert!(list(b"f", &unknown, NOW).contains("Jan  1  1970 f"));
        let link = info(FileKind::Symlink, 7, Some(NOW), None);
        assert!(list(b"l", &link, NOW).starts_with("lrwxrwxrwx "));
    }

    #[test]
    fn long_line_columns_survive_odd_names() {
        let mut f = info(FileKind::File, 10_000_000_000, Some(NOW), Some(0o7755));
        f.owner = Some("John Smith".into());
        f.group = Some(String::new());
        let line = list(b"evil\r\nname", &f, NOW);
        assert_eq!(line, "-rwsr-sr-t    1 John_Smith ftp      10000000000 Nov 14 22:13 evil??name\r\n");
        assert_eq!(&mode_string(FileKind::File, 0o7000), b"---S--S--T");
        // Fields split on whitespace as clients do: 9 columns, name last.
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 9);
    }

    #[test]
    fn mlsx_facts() {
        let mut f = info(FileKind::File, 12, Some(NOW), Some(0o644));
        f.unique = Some("803g1a2".into());
        assert_eq!(
            mlsx(b"a.txt", &f, "adfrw", None),
            "type=file;size=12;modify=20231114221320;perm=adfrw;unique=803g1a2;UNIX.mode=0644; a.txt\r\n"
        );
        let d = info(FileKind::Dir, 4096, None, None);
        assert_eq!(mlsx(b"sub dir", &d, "flcdmpe", None), "type=dir;perm=flcdmpe; sub dir\r\n");
        assert_eq!(mlsx(b".", &d, "", Some("cdir")), "type=cdir; .\r\n");
        let l = info(FileKind::Symlink, 3, None, None);
        assert_eq!(mlsx(b"ln", &l, "", None), "type=OS.unix=symlink; ln\r\n");
        let mut odd = info(FileKind::File, 0, None, None);
        odd.unique = Some("a;b=c d".into());
        assert_eq!(mlsx(b"x\ny", &odd, "r", None), "type=file;size=0;perm=r;unique=a_b_c_d; x?y\r\n");
    }

    #[test]
    fn mlsx_modify_round_trips() {
        let f = info(FileKind::File, 1, Some(1_234_567_890), None);
        let line = mlsx(b"f", &f, "", None);
        let stamp = line.split("modify=").nth(1).unwrap().split(';').next().unwrap();
        assert_eq!(parse_timestamp(stamp), Some(1_234_567_890));
    }

    #[test]
    fn mlst_fact_selection() {
        let sel = MlstFacts::from_opts("Type;SIZE;bogus;");
        assert_eq!(
            sel,
            MlstFacts { kind: true, size: true, modify: false, perm: false, unique: false, unix_mode: false }
        );
        assert_eq!(sel.enabled(), "type;size;");
        assert_eq!(sel.feat(), "type*;size*;modify;perm;unique;UNIX.mode;");
        assert_eq!(MlstFacts::all().feat(), "type*;size*;modify*;perm*;unique*;UNIX.mode*;");
        assert_eq!(MlstFacts::from_opts("").enabled(), "");
        let f = info(FileKind::File, 5, Some(NOW), Some(0o644));
        let mut out = Vec::new();
        mlsx_line_with(b"f", &f, "r", None, sel, &mut out);
        assert_eq!(out, b"type=file;size=5; f\r\n");
        out.clear();
        mlsx_line_with(b"f", &f, "r", None, MlstFacts::from_opts(""), &mut out);
        assert_eq!(out, b" f\r\n");
    }

    #[test]
    fn nlst_lines() {
        let mut out = Vec::new();
        nlst_line(b"a\rb", &mut out);
        nlst_line(b"c", &mut out);
        assert_eq!(out, b"a?b\r\nc\r\n");
    }

    proptest! {
        #[test]
        fn lines_are_single_and_never_panic(
            name in proptest::collection::vec(any::<u8>(), 0..40),
            kind in prop_oneof![Just(FileKind::File), Just(FileKind::Dir), Just(FileKind::Symlink), Just(FileKind::Other)],
            size in any::<u64>(),
            mtime in proptest::option::of(any::<i64>()),
            mode in proptest::option::of(any::<u32>()),
            nlink in any::<u64>(),
            owner in proptest::option::of("\\PC{0,40}"),
            unique in proptest::option::of("\\PC{0,20}"),
            now in any::<i64>(),
            args in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let f = FileInfo { kind, size, mtime, mode, nlink, owner: owner.clone(), group: owner, unique };
            let mut out = Vec::new();
            list_line(&name, &f, now, &mut out);
            mlsx_line(&name, &f, "r;w", None, &mut out);
            nlst_line(&name, &mut out);
            // Three lines, each ending CRLF, no other line breaks.
            prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 3);
            prop_assert_eq!(out.iter().filter(|&&b| b == b'\r').count(), 3);
            prop_assert!(out.ends_with(b"\r\n"));
            let _ = parse_list_args(&args);
        }
    }
}
