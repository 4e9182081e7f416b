//! Producing directory listings (LIST, NLST, MLSD, STAT path) page by page.
//!
//! A listing never sits whole in memory: entries come from the storage in
//! pages, are formatted into a buffer, and the buffer goes to a sink (the data
//! connection, or the control reply for STAT) whenever it grows past a page.

use oxftp_proto::glob::Glob;
use oxftp_proto::listing::{FileInfo, FileKind, list_line, mlsx_line, nlst_line};
use oxftp_proto::path::VPath;

use crate::account::{Permission, Permissions};
use crate::auth::{AccessClass, Identity};
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
    /// What the session may do where (for MLSD `perm`).
    pub perms: std::sync::Arc<PermView>,
    /// Stop after this many entries.
    pub max_entries: usize,
    /// `LIST -R`: after the directory, each subdirectory below it (as `ls
    /// -R` does), at most [`MAX_RECURSION_DEPTH`] levels deep and within
    /// `max_entries` in all.
    pub recursive: bool,
}

/// How deep `LIST -R` goes below the listed directory.
pub(crate) const MAX_RECURSION_DEPTH: usize = 16;

/// Most entries a `LIST -R` writes in all, so one command cannot walk a
/// whole object store.
pub(crate) const MAX_RECURSIVE_ENTRIES: usize = 50_000;

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

/// What a session may do where, for the MLSx `perm` fact (RFC 3659
/// §7.5.5): the same rules its storage's guards enforce (per-directory
/// permissions, read-only, the anonymous rules), so a client is told what
/// will work, e.g. `perm=ce` for an anonymous upload directory (upload and
/// enter, not list).
#[derive(Debug, Clone)]
pub(crate) struct PermView {
    permissions: Permissions,
    read_only: bool,
    /// For anonymous: `Some(upload directory, if any)`.
    anonymous: Option<Option<VPath>>,
}

impl PermView {
    pub(crate) fn of(identity: &Identity) -> PermView {
        PermView {
            permissions: identity.permissions.clone(),
            read_only: identity.read_only,
            anonymous: (identity.class == AccessClass::Anonymous).then(|| identity.incoming.clone()),
        }
    }

    /// The `perm` fact of the entry at `path`.
    pub(crate) fn fact(&self, path: &VPath, info: &FileInfo) -> String {
        let dir = info.kind == FileKind::Dir;
        if let Some(incoming) = &self.anonymous {
            let zone = incoming.as_ref().map(|inc| (path == inc, path.starts_with(inc)));
            let fact = match (dir, zone) {
                // The upload directory: upload into it and enter it, nothing else.
                (true, Some((true, _))) if !self.read_only => "ce",
                (true, Some((true, _))) => "e",
                // Below it nothing is visible.
                (_, Some((_, true))) => "",
                (true, _) => "el",
                (false, _) => "r",
            };
            return self.allowed(fact, path, dir);
        }
        let writes = if self.read_only {
            ""
        } else if dir {
            "cdfmp"
        } else {
            "adfw"
        };
        let mut fact = String::from(if dir { "el" } else { "r" });
        fact.push_str(writes);
        self.allowed(&fact, path, dir)
    }

    /// The letters of `fact` that the account's permissions at `path` allow
    /// (`e`, entering a directory, always is), in RFC 3659's order.
    fn allowed(&self, fact: &str, path: &VPath, dir: bool) -> String {
        let set = self.permissions.at(path);
        let mut letters: Vec<char> = fact
            .chars()
            .filter(|&c| match c {
                'e' => true,
                'l' => set.contains(Permission::List),
                'r' => set.contains(Permission::Read),
                'c' => set.contains(Permission::Upload),
                'w' => set.contains(Permission::Overwrite),
                'a' => set.contains(Permission::Append),
                'd' => set.contains(if dir { Permission::Rmdir } else { Permission::Delete }),
                'f' => set.contains(Permission::Rename),
                'm' => set.contains(Permission::Mkdir),
                'p' => set.contains(Permission::Delete),
                _ => false,
            })
            .collect();
        letters.sort_unstable();
        letters.into_iter().collect()
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
        let dir = spec.dir.clone();
        format_entry(spec, &dir, entry, now, &mut buf);
        sink.flush(&mut buf).await.map_err(ListError::Io)?;
        return Ok(1);
    }
    let lister = match spec.lister.take() {
        Some(lister) => lister,
        None => storage.list(&spec.dir).await.map_err(ListError::Storage)?,
    };
    let top = spec.dir.clone();
    // Directories still to list (`LIST -R`), deepest last: (path, depth).
    let mut pending: Vec<(VPath, usize)> = Vec::new();
    let mut next = Some((lister, top.clone(), 0usize));
    while let Some((mut lister, dir, depth)) = next.take() {
        let mut subdirs = Vec::new();
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
                format_entry(spec, &dir, entry, now, &mut buf);
                written += 1;
                if spec.recursive && entry.info.is_dir() && depth < MAX_RECURSION_DEPTH {
                    subdirs.extend(dir.join(&entry.name).ok().map(|sub| (sub, depth + 1)));
                }
                if buf.len() >= FLUSH_AT && !sink.flush(&mut buf).await.map_err(ListError::Io)? {
                    return Ok(written);
                }
            }
        }
        // Depth first, in name order, as `ls -R` goes.
        pending.extend(subdirs.into_iter().rev());
        while let Some((sub, depth)) = pending.pop() {
            // A subdirectory that cannot be listed (permissions, gone) is skipped.
            let Ok(lister) = storage.list(&sub).await else { continue };
            buf.extend_from_slice(b"\r\n");
            buf.extend_from_slice(&spec.prefix_for(&top, &sub));
            buf.extend_from_slice(b":\r\n");
            next = Some((lister, sub, depth));
            break;
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

fn format_entry(spec: &ListSpec, dir: &VPath, entry: &DirEntry, now: i64, buf: &mut Vec<u8>) {
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
        Style::Facts => {
            let path = dir.join(&entry.name).unwrap_or_else(|_| dir.clone());
            mlsx_line(&entry.name, &entry.info, &spec.perms.fact(&path, &entry.info), None, buf)
        }
    }
}

impl ListSpec {
    /// The header of a subdirectory in a recursive listing: its path from
    /// the listed directory, after what the client typed (`.` when nothing).
    fn prefix_for(&self, top: &VPath, sub: &VPath) -> Vec<u8> {
        let mut header = if self.prefix.is_empty() { b".".to_vec() } else { self.prefix.clone() };
        while header.last() == Some(&b'/') && header.len() > 1 {
            header.pop();
        }
        if let Some(rel) = sub.strip_prefix(top) {
            header.extend_from_slice(rel.as_bytes());
        }
        header.iter().map(|&b| if b == b'\r' || b == b'\n' { b'?' } else { b }).collect()
    }

    /// Open the listing now (unless it lists a single entry); errors go to the client before any 150.
    pub(crate) async fn open(&mut self, storage: &dyn Storage) -> Result<(), StorageError> {
        if self.single.is_none() && self.lister.is_none() {
            self.lister = Some(storage.list(&self.dir).await?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{DirRule, PermissionSet};

    fn info(kind: FileKind) -> FileInfo {
        FileInfo { kind, size: 0, mtime: None, mode: None, nlink: 1, owner: None, group: None, unique: None }
    }

    fn p(s: &str) -> VPath {
        VPath::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn perm_facts_follow_the_policy() {
        let (dir, file) = (info(FileKind::Dir), info(FileKind::File));
        let mut anon = Identity::new("anonymous", AccessClass::Anonymous);
        anon.incoming = Some(p("/incoming"));
        let view = PermView::of(&anon);
        assert_eq!(view.fact(&p("/incoming"), &dir), "ce", "upload and enter, not list");
        assert_eq!(view.fact(&p("/pub"), &dir), "el");
        assert_eq!(view.fact(&p("/pub/readme"), &file), "r");
        anon.read_only = true;
        assert_eq!(PermView::of(&anon).fact(&p("/incoming"), &dir), "e");

        let mut user = Identity::new("ann", AccessClass::User);
        assert_eq!(PermView::of(&user).fact(&p("/a"), &dir), "cdeflmp");
        assert_eq!(PermView::of(&user).fact(&p("/a/f"), &file), "adfrw");
        user.permissions.rules.push(DirRule {
            dir: p("/archive"),
            allow: PermissionSet::none().with(Permission::List).with(Permission::Read),
        });
        let view = PermView::of(&user);
        assert_eq!(view.fact(&p("/archive"), &dir), "el");
        assert_eq!(view.fact(&p("/archive/old"), &file), "r");
        assert_eq!(view.fact(&p("/other"), &dir), "cdeflmp");
        user.read_only = true;
        assert_eq!(PermView::of(&user).fact(&p("/other/f"), &file), "r");
    }
}
