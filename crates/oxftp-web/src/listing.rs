//! Directory listings: MLSD with a LIST fallback, read with bounds.
//!
//! The listing is read line by line from the data connection with a cap on
//! line length and entry count, so a hostile or huge directory cannot make the
//! gateway allocate without limit.

use std::time::UNIX_EPOCH;

use serde::Serialize;
use suppaftp::Status;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::error::WebError;
use crate::pool::Lease;

/// Most entries read from one directory.
pub const MAX_ENTRIES: usize = 20_000;
/// Longest listing line accepted (longer lines are skipped).
const MAX_LINE: u64 = 8 * 1024;

/// What kind of thing an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Link,
    /// Anything else the server reported.
    Other,
}

/// One directory entry as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// The name, as the server sent it (lossy UTF-8).
    pub name: String,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// Modification time in Unix seconds (UTC), when known.
    pub mtime: Option<i64>,
    /// File, directory, link or other.
    pub kind: Kind,
    /// Unix permission bits as octal text (e.g. `644`), when the server says.
    pub mode: Option<String>,
}

/// A directory's entries and whether the list was cut at [`MAX_ENTRIES`].
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    /// The directory listed (clean absolute path).
    pub path: String,
    /// Its entries, in server order (the page sorts).
    pub entries: Vec<Entry>,
    /// True when more entries existed than were read.
    pub truncated: bool,
}

/// Parse one MLSD line (`fact=value;...; name`). `None` for `.`/`..`
/// (`cdir`/`pdir`) and lines without a name.
pub fn parse_mlsd(line: &str) -> Option<Entry> {
    let (facts, name) = line.split_once(' ')?;
    if name.is_empty() {
        return None;
    }
    let mut entry = Entry { name: name.to_string(), size: None, mtime: None, kind: Kind::Other, mode: None };
    for fact in facts.split(';').filter(|f| !f.is_empty()) {
        let (k, v) = fact.split_once('=').unwrap_or((fact, ""));
        match k.to_ascii_lowercase().as_str() {
            "type" => {
                entry.kind = match v.to_ascii_lowercase().as_str() {
                    "file" => Kind::File,
                    "dir" => Kind::Dir,
                    "cdir" | "pdir" => return None,
                    t if t.starts_with("os.unix=symlink") || t.starts_with("os.unix=slink") => Kind::Link,
                    _ => Kind::Other,
                }
            }
            "size" => entry.size = v.parse().ok(),
            "modify" => entry.mtime = oxftp_proto::time::parse_timestamp(v),
            "unix.mode" => {
                let m = v.trim_start_matches('0');
                if !m.is_empty() && m.len() <= 4 && m.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                    entry.mode = Some(format!("{m:0>3}"));
                }
            }
            _ => {}
        }
    }
    Some(entry)
}

/// Parse one LIST line (Unix or DOS style) with suppaftp's parser.
pub fn parse_list(line: &str) -> Option<Entry> {
    // `ls -l`'s summary line is not an entry.
    if line.starts_with("total ") {
        return None;
    }
    let f: suppaftp::list::File = line.parse().ok()?;
    let name = f.name().to_string();
    if name == "." || name == ".." || name.is_empty() {
        return None;
    }
    let kind = if f.is_directory() {
        Kind::Dir
    } else if f.is_symlink() {
        Kind::Link
    } else {
        Kind::File
    };
    let mtime = f.modified().duration_since(UNIX_EPOCH).ok().and_then(|d| i64::try_from(d.as_secs()).ok());
    Some(Entry { name, size: u64::try_from(f.size()).ok(), mtime, kind, mode: None })
}

/// List `path` on the leased connection: MLSD, or LIST when the server does
/// not implement MLSD (500/502).
pub(crate) async fn list(lease: &mut Lease, path: &str) -> Result<Listing, WebError> {
    match read_listing(lease, "MLSD", path, parse_mlsd).await {
        Err(WebError::Ftp { code: 500 | 502 | 504, .. }) => read_listing(lease, "LIST", path, parse_list).await,
        other => other,
    }
}

async fn read_listing(
    lease: &mut Lease,
    verb: &str,
    path: &str,
    parse: fn(&str) -> Option<Entry>,
) -> Result<Listing, WebError> {
    let opened = lease
        .ftp()?
        .custom_data_command(format!("{verb} {path}"), &[Status::AboutToSend, Status::AlreadyOpen])
        .await
        .map_err(WebError::from);
    let (_, stream) = lease.check(opened)?;
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut entries = Vec::new();
    let mut truncated = false;
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        let n = (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line).await;
        let n = lease.check(n.map_err(|e| WebError::Upstream(e.to_string())))?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') && n as u64 >= MAX_LINE {
            // Over-long line: skip the rest of it.
            let mut sink = Vec::new();
            loop {
                sink.clear();
                let m = (&mut reader).take(MAX_LINE).read_until(b'\n', &mut sink).await;
                let m = lease.check(m.map_err(|e| WebError::Upstream(e.to_string())))?;
                if m == 0 || sink.last() == Some(&b'\n') {
                    break;
                }
            }
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            continue;
        }
        if let Some(e) = parse(text) {
            if entries.len() >= MAX_ENTRIES {
                truncated = true;
                break;
            }
            entries.push(e);
        }
    }
    let stream = reader.into_inner();
    if truncated {
        // The rest is never read; this connection's state is not worth saving.
        lease.mark_broken();
        drop(stream);
    } else {
        let finished = stream.finish().await.map_err(WebError::from);
        lease.check(finished)?;
    }
    Ok(Listing { path: path.to_string(), entries, truncated })
}

/// A size for people: bytes below 1 KiB, else KiB/MiB/GiB/TiB with one
/// decimal below 10 and none above (`307200` → `300 KiB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let text = if value < 10.0 { format!("{value:.1}") } else { format!("{value:.0}") };
    format!("{} {}", text.trim_end_matches(".0"), UNITS[unit])
}

/// What a listing is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// By name (the default).
    #[default]
    Name,
    /// By size.
    Size,
    /// By modification time.
    Mtime,
}

impl SortKey {
    /// The key named in a query (`name`, `size`, `mtime`); the default otherwise.
    pub fn parse(s: Option<&str>) -> SortKey {
        match s {
            Some("size") => SortKey::Size,
            Some("mtime") => SortKey::Mtime,
            _ => SortKey::Name,
        }
    }

    /// The name used in queries.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Mtime => "mtime",
        }
    }
}

/// The entries whose name contains `filter` (case-insensitive), folders
/// first, then ordered by `key` (names break ties), descending when `desc`.
pub fn arrange<'a>(entries: &'a [Entry], key: SortKey, desc: bool, filter: &str) -> Vec<&'a Entry> {
    let needle = filter.trim().to_lowercase();
    let mut out: Vec<&Entry> =
        entries.iter().filter(|e| needle.is_empty() || e.name.to_lowercase().contains(&needle)).collect();
    out.sort_by(|a, b| {
        let dirs_first = (b.kind == Kind::Dir).cmp(&(a.kind == Kind::Dir));
        let by_key = match key {
            SortKey::Name => std::cmp::Ordering::Equal,
            SortKey::Size => a.size.unwrap_or(0).cmp(&b.size.unwrap_or(0)),
            SortKey::Mtime => a.mtime.unwrap_or(0).cmp(&b.mtime.unwrap_or(0)),
        };
        let by_name = a.name.to_lowercase().cmp(&b.name.to_lowercase()).then_with(|| a.name.cmp(&b.name));
        let ordered = by_key.then(by_name);
        dirs_first.then(if desc { ordered.reverse() } else { ordered })
    });
    out
}

/// Text for a Unix time: `YYYY-MM-DD HH:MM` UTC.
pub fn format_time(unix: i64) -> String {
    let (y, mo, d, h, mi, _) = oxftp_proto::time::civil_from_unix(unix);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlsd_lines() {
        let e = parse_mlsd("type=file;size=12;modify=20240102030405;UNIX.mode=0644; a b.txt").unwrap();
        assert_eq!(e.name, "a b.txt");
        assert_eq!(e.kind, Kind::File);
        assert_eq!(e.size, Some(12));
        assert_eq!(e.mtime, Some(1_704_164_645));
        assert_eq!(e.mode.as_deref(), Some("644"));
        assert!(parse_mlsd("type=cdir; .").is_none());
        assert!(parse_mlsd("type=pdir; ..").is_none());
        assert!(parse_mlsd("garbage").is_none());
        let d = parse_mlsd("type=dir;modify=bogus; <img src=x>").unwrap();
        assert_eq!(d.kind, Kind::Dir);
        assert_eq!(d.mtime, None);
        assert_eq!(d.name, "<img src=x>");
    }

    #[test]
    fn list_lines() {
        let e = parse_list("-rw-r--r-- 1 user group 1234 Jan 02 2024 notes.txt").unwrap();
        assert_eq!(e.name, "notes.txt");
        assert_eq!(e.size, Some(1234));
        assert_eq!(e.kind, Kind::File);
        let d = parse_list("drwxr-xr-x 2 user group 4096 Jan 02 2024 sub").unwrap();
        assert_eq!(d.kind, Kind::Dir);
        assert!(parse_list("total 3").is_none());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1 KiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(307_200), "300 KiB");
        assert_eq!(human_size(5 << 20), "5 MiB");
        assert_eq!(human_size(3 << 30), "3 GiB");
    }

    #[test]
    fn arranging_puts_folders_first_and_filters() {
        let e = |name: &str, kind, size| Entry { name: name.into(), size: Some(size), mtime: None, kind, mode: None };
        let entries =
            vec![e("b.txt", Kind::File, 5), e("A.txt", Kind::File, 9), e("zdir", Kind::Dir, 0), e("c", Kind::Dir, 0)];
        let names = |v: Vec<&Entry>| v.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(arrange(&entries, SortKey::Name, false, "")), ["c", "zdir", "A.txt", "b.txt"]);
        assert_eq!(names(arrange(&entries, SortKey::Name, true, "")), ["zdir", "c", "b.txt", "A.txt"]);
        assert_eq!(names(arrange(&entries, SortKey::Size, true, "")), ["zdir", "c", "A.txt", "b.txt"]);
        assert_eq!(names(arrange(&entries, SortKey::Name, false, "TXT")), ["A.txt", "b.txt"]);
    }

    #[test]
    fn time_format() {
        assert_eq!(format_time(1_704_164_645), "2024-01-02 03:04");
    }
}
