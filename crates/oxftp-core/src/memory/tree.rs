//! The in-memory tree: nodes, their bookkeeping (bytes and entries against
//! the storage's bounds) and the operations that change them, each in one
//! step after its checks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use oxftp_proto::listing::{FileInfo, FileKind};
use oxftp_proto::path::VPath;

use crate::storage::{ErrorKind, StorageError, WriteMode};

/// Permission bits a new file gets (what `umask 022` gives on Unix).
pub(super) const DEFAULT_FILE_MODE: u32 = 0o644;
/// Permission bits a new directory gets.
pub(super) const DEFAULT_DIR_MODE: u32 = 0o755;
/// The bits `set_mode` keeps (permissions plus setuid/setgid/sticky), as chmod(2) does.
pub(super) const MODE_MASK: u32 = 0o7777;

/// The optional bounds on memory use.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    /// Most bytes of file contents (committed plus reserved by uploads).
    pub(super) max_bytes: Option<u64>,
    /// Most entries (files and directories, the root excluded).
    pub(super) max_entries: Option<u64>,
}

/// The tree and its bookkeeping, kept apart so one can be changed while a
/// node of the other is borrowed.
pub(super) struct State {
    pub(super) root: Node,
    pub(super) books: Books,
}

/// Counters over the tree.
pub(super) struct Books {
    /// Bytes of committed file contents plus bytes reserved by open uploads.
    pub(super) used_bytes: u64,
    /// Files and directories in the tree, the root excluded.
    pub(super) entries: u64,
    /// The last `Node::id` handed out (ids feed MLSx `unique`).
    pub(super) last_id: u64,
}

impl Books {
    /// Count one more entry and give it an id, or refuse if that breaks `max_entries`.
    pub(super) fn new_entry(&mut self, bounds: Bounds) -> Result<u64, StorageError> {
        if bounds.max_entries.is_some_and(|max| self.entries >= max) {
            return Err(no_space());
        }
        self.entries += 1;
        self.last_id += 1;
        Ok(self.last_id)
    }

    /// Reserve `len` more bytes of contents, or refuse if that breaks `max_bytes`.
    pub(super) fn reserve(&mut self, bounds: Bounds, len: u64) -> Result<(), StorageError> {
        let total = self.used_bytes.saturating_add(len);
        if bounds.max_bytes.is_some_and(|max| total > max) {
            return Err(no_space());
        }
        self.used_bytes = total;
        Ok(())
    }

    pub(super) fn release(&mut self, len: u64) {
        self.used_bytes = self.used_bytes.saturating_sub(len);
    }

    /// Forget a removed node: one entry and, for a file, its bytes.
    pub(super) fn forget(&mut self, node: &Node) {
        self.entries = self.entries.saturating_sub(1);
        self.release(node.size());
    }
}

/// One file or directory.
pub(super) struct Node {
    pub(super) id: u64,
    pub(super) mtime: i64,
    pub(super) mode: u32,
    pub(super) body: Body,
}

/// What a node holds. File contents sit behind an `Arc` so a download reads a
/// snapshot without copying and without holding the lock.
pub(super) enum Body {
    Dir(BTreeMap<Vec<u8>, Node>),
    File(Arc<Vec<u8>>),
}

impl Node {
    pub(super) fn info(&self) -> FileInfo {
        let (kind, size, nlink) = match &self.body {
            // As on POSIX: a directory's link count is 2 plus one per subdirectory.
            Body::Dir(children) => {
                let subdirs = children.values().filter(|c| c.is_dir()).count() as u64;
                (FileKind::Dir, 0, 2 + subdirs)
            }
            Body::File(data) => (FileKind::File, data.len() as u64, 1),
        };
        FileInfo {
            kind,
            size,
            mtime: Some(self.mtime),
            mode: Some(self.mode),
            nlink,
            owner: None,
            group: None,
            unique: Some(format!("{:x}", self.id)),
        }
    }

    pub(super) fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir(_))
    }

    pub(super) fn size(&self) -> u64 {
        match &self.body {
            Body::File(data) => data.len() as u64,
            Body::Dir(_) => 0,
        }
    }

    /// The node at `path` below this one. As in POSIX path lookup, a missing
    /// component is `NotFound` and a file where a directory is needed is
    /// `NotADirectory`.
    pub(super) fn find(&self, path: &VPath) -> Result<&Node, StorageError> {
        let mut node = self;
        for name in path.components() {
            node = match &node.body {
                Body::Dir(children) => children.get(name).ok_or_else(StorageError::not_found)?,
                Body::File(_) => return Err(not_a_directory()),
            };
        }
        Ok(node)
    }

    pub(super) fn find_mut(&mut self, path: &VPath) -> Result<&mut Node, StorageError> {
        let mut node = self;
        for name in path.components() {
            node = match &mut node.body {
                Body::Dir(children) => children.get_mut(name).ok_or_else(StorageError::not_found)?,
                Body::File(_) => return Err(not_a_directory()),
            };
        }
        Ok(node)
    }

    /// The directory that holds `path`'s last component (its mtime and its
    /// children), and that component. `None` for the root, which has no
    /// parent; each caller says what that means for its operation.
    pub(super) fn parent_of<'p>(&mut self, path: &'p VPath) -> Result<Option<ParentDir<'_, 'p>>, StorageError> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(None);
        };
        let node = self.find_mut(&parent)?;
        match &mut node.body {
            Body::Dir(children) => Ok(Some(ParentDir { mtime: &mut node.mtime, children, name })),
            Body::File(_) => Err(not_a_directory()),
        }
    }
}

/// A directory about to gain or lose the entry `name`.
pub(super) struct ParentDir<'t, 'p> {
    mtime: &'t mut i64,
    children: &'t mut BTreeMap<Vec<u8>, Node>,
    name: &'p [u8],
}

impl ParentDir<'_, '_> {
    pub(super) fn entry(&self) -> Option<&Node> {
        self.children.get(self.name)
    }

    /// A directory's mtime changes whenever an entry is added or removed.
    pub(super) fn insert(&mut self, node: Node) -> Option<Node> {
        *self.mtime = now();
        self.children.insert(self.name.to_vec(), node)
    }

    pub(super) fn remove(&mut self) -> Option<Node> {
        *self.mtime = now();
        self.children.remove(self.name)
    }
}

/// Seconds since the Unix epoch, now; a clock set before 1970 reads as 0.
pub(super) fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

pub(super) fn err(kind: ErrorKind, message: &str) -> StorageError {
    StorageError::new(kind, message)
}

pub(super) fn not_a_directory() -> StorageError {
    err(ErrorKind::NotADirectory, "Not a directory")
}

pub(super) fn is_a_directory() -> StorageError {
    err(ErrorKind::IsADirectory, "Is a directory")
}

pub(super) fn already_exists() -> StorageError {
    err(ErrorKind::AlreadyExists, "File exists")
}

pub(super) fn not_empty() -> StorageError {
    err(ErrorKind::DirectoryNotEmpty, "Directory not empty")
}

pub(super) fn no_space() -> StorageError {
    err(ErrorKind::StorageFull, "No space left on device")
}

pub(super) fn root_refused(what: &str) -> StorageError {
    err(ErrorKind::PermissionDenied, &format!("Cannot {what} the root directory"))
}

/// Create one directory whose parent exists.
pub(super) fn make_dir(state: &mut State, bounds: Bounds, path: &VPath) -> Result<(), StorageError> {
    let Some(mut parent) = state.root.parent_of(path)? else {
        return Err(already_exists());
    };
    if parent.entry().is_some() {
        return Err(already_exists());
    }
    let id = state.books.new_entry(bounds)?;
    parent.insert(Node { id, mtime: now(), mode: DEFAULT_DIR_MODE, body: Body::Dir(BTreeMap::new()) });
    Ok(())
}

/// Put a file at `path`, replacing an existing file unless `exclusive`. The
/// new contents must already be reserved in the books; the replaced file's
/// bytes are released here. A replaced file keeps its id and mode, as writing
/// into an existing file does on Unix.
pub(super) fn place_file(
    state: &mut State,
    bounds: Bounds,
    path: &VPath,
    contents: Arc<Vec<u8>>,
    exclusive: bool,
) -> Result<(), StorageError> {
    let Some(mut parent) = state.root.parent_of(path)? else {
        return Err(is_a_directory());
    };
    let (id, mode, old_size) = match parent.entry() {
        Some(node) if node.is_dir() => return Err(is_a_directory()),
        Some(_) if exclusive => return Err(already_exists()),
        Some(node) => (node.id, node.mode, node.size()),
        None => (state.books.new_entry(bounds)?, DEFAULT_FILE_MODE, 0),
    };
    parent.insert(Node { id, mtime: now(), mode, body: Body::File(contents) });
    state.books.release(old_size);
    Ok(())
}

/// Whether an upload to `path` in `mode` could commit now (`WriteMode::At(0)`
/// already turned into `Create`).
pub(super) fn check_upload(root: &Node, path: &VPath, mode: WriteMode) -> Result<(), StorageError> {
    let parent = path.parent().ok_or_else(is_a_directory)?;
    if !root.find(&parent)?.is_dir() {
        return Err(not_a_directory());
    }
    let existing = match root.find(path) {
        Ok(node) => Some(&node.body),
        Err(e) if e.kind == ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    match (existing, mode) {
        (Some(Body::Dir(_)), _) => Err(is_a_directory()),
        (Some(_), WriteMode::Create { exclusive: true }) => Err(already_exists()),
        (None, WriteMode::At(_)) => Err(StorageError::not_found()),
        (Some(Body::File(data)), WriteMode::At(offset)) if offset > data.len() as u64 => {
            // Refused rather than filled with zeros: a client must not be able
            // to make the server allocate gigabytes with one REST.
            Err(err(ErrorKind::Other, "Restart offset is past the end of the file"))
        }
        _ => Ok(()),
    }
}
