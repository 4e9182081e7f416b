//! Producing directory listings (LIST, NLST, MLSD, STAT path) page by page.
//!
//! A listing never sits whole in memory: entries come from the storage in
//! pages, are formatted into a buffer, and the buffer goes to a sink (the data
//! connection, or the control reply for STAT) whenever it grows past a page.

use oxftp_proto::glob::Glob;
use oxftp_proto::listing::{FileInfo, FileKind, list_line, mlsx_line, nlst_line};
use oxftp_proto::path::VPath;

use crate::storage::{DirEntry, DirLister, Storage, StorageError};

/// Most names a glob may expand to; the listing stops there.
pub(crate) const MAX_GLOB_MATCHES: usize = 10_000;

/// How entries are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// `ls -l` lines (LIST, STAT path).
    Long,
    /// Bare names (NLST).
    Names,
    /// RFC 3659 fact lines (MLSD).
    Facts,
}

/// What to list and how.
pub(crate) struct ListSpec {
    /// The directory listing, opened before the 150 reply so a refusal
    /// (permissions, missing directory) is a plain 550 with no data connection.
    pub lister: Option<Box<dyn DirLister>>,
    pub dir: VPath,
    /// Listing one file, not a directory: this entry alone.
    pub single: Option<DirEntry>,
    /// Only names matching this pattern (NLST *.txt).
    pub filter: Option<Glob>,
    pub style: Style,
    /// Show names starting with `.` (ls -a).
    pub show_hidden: bool,
    /// Append `/` to directory names (ls -F).
    pub classify: bool,
    /// Written before every name in NLST output (the directory part the client typed).
    pub prefix: Vec<u8>,
    /// Whether the session may write (for MLSD `perm`).
    pub writable: bool,
    /// Stop after this many entries.
    pub max_entries: usize,
}

/// Where listing bytes go.
pub(crate) trait ListSink {
    /// Take the bytes in `buf` (and clear it). `Ok(false)` stops the listing.
    async fn flush(&mut self, buf: &mut Vec<u8>) -> std::io::Result<bool>;
}

/// Errors while listing: the storage failed, or the sink did.
#[derive(Debug)]
pub(crate) enum ListError {
    Storage(StorageError),
    Io(std::io::Error),
}

/// The MLSx `perm` fact for an entry (RFC 3659 §7.5.5).
pub(crate) fn perm_fact(info: &FileInfo, writable: bool) -> &'static str {
    match (info.kind, writable) {
        (FileKind::Dir, true) => "cdeflmp",
        (FileKind::Dir, false) => "el",
        (_, true) => "adfrw",
        (_, false) => "r",
    }
}

const FLUSH_AT: usize = 64 * 1024;

/// Write the listing described by `spec` into `sink`; returns entries written.
pub(crate) async fn produce(
    storage: &dyn Storage,
    spec: &mut ListSpec,
    sink: &mut impl ListSink,
) -> Result<u64, ListError> {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
    let mut written: u64 = 0;
    if let Some(entry) = &spec.single {
        format_entry(spec, entry, now, &mut buf);
        sink.flush(&mut buf).await.map_err(ListError::Io)?;
        return Ok(1);
    }
    let mut lister = match spec.lister.take() {
        Some(lister) => lister,
        None => storage.list(&spec.dir).await.map_err(ListError::Storage)?,
    };
    while let Some(mut page) = lister.next_page().await.map_err(ListError::Storage)? {
        page.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        for entry in &page {
            if !wanted(spec, &entry.name) {
                continue;
            }
            if written as usize >= spec.max_entries {
                sink.flush(&mut buf).await.map_err(ListError::Io)?;
                return Ok(written);
            }
            format_entry(spec, entry, now, &mut buf);
            written += 1;
            if buf.len() >= FLUSH_AT && !sink.flush(&mut buf).await.map_err(ListError::Io)? {
                return Ok(written);
            }
        }
    }
    if !buf.is_empty() {
        sink.flush(&mut buf).await.map_err(ListError::Io)?;
    }
    Ok(written)
}

fn wanted(spec: &ListSpec, name: &[u8]) -> bool {
    if let Some(glob) = &spec.filter {
        // The glob decides about dot files itself (only an explicit `.` matches them).
        return glob.matches(name);
    }
    spec.show_hidden || spec.style == Style::Facts || name.first() != Some(&b'.')
}

fn format_entry(spec: &ListSpec, entry: &DirEntry, now: i64, buf: &mut Vec<u8>) {
    match spec.style {
        Style::Long => list_line(&entry.name, &entry.info, now, buf),
        Style::Names => {
            // Through nlst_line, like LIST and MLSD lines through theirs: a
            // CR or LF in a name (possible on disk) must not end the line
            // and pass the rest off as another name.
            let mut name = Vec::with_capacity(spec.prefix.len() + entry.name.len() + 1);
            name.extend_from_slice(&spec.prefix);
            name.extend_from_slice(&entry.name);
            if spec.classify && entry.info.kind == FileKind::Dir {
                name.push(b'/');
            }
            nlst_line(&name, buf);
        }
        Style::Facts => mlsx_line(&entry.name, &entry.info, perm_fact(&entry.info, spec.writable), None, buf),
    }
}

impl ListSpec {
    /// Open the listing now (unless it lists a single entry); errors go to the client before any 150.
    pub(crate) async fn open(&mut self, storage: &dyn Storage) -> Result<(), StorageError> {
        if self.single.is_none() && self.lister.is_none() {
            self.lister = Some(storage.list(&self.dir).await?);
        }
        Ok(())
    }
}
