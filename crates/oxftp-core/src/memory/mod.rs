//! In-memory storage: a complete [`Storage`] backend that keeps a tree of
//! directories and files in RAM.
//!
//! It exists for embedders who want a scratch FTP area without a disk, and for
//! tests of the engine and the policy layers, so it behaves like a POSIX
//! filesystem in every way a client can observe: the same error kinds for the
//! same mistakes, modes and modification times stored, names as raw bytes.
//! Uploads are atomic: a file appears or changes only when its upload commits.
//!
//! Memory is bounded by two optional limits: the total bytes of file contents
//! (uploads in progress included, so concurrent uploads cannot overshoot) and
//! the number of entries. Without limits the tree grows as clients ask; a
//! server facing the network should set both.
//!
//! The tree sits behind one `std::sync::Mutex`. No method awaits while holding
//! it, so it is safe (and cheap) inside async code.

mod tree;
mod upload;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use oxftp_proto::listing::FileInfo;
use oxftp_proto::path::VPath;

use crate::storage::{
    Capabilities, DirEntry, DirLister, ErrorKind, ReadHandle, Storage, StorageError, VecLister, WriteHandle, WriteMode,
};
use tree::{
    Body, Books, Bounds, DEFAULT_DIR_MODE, MODE_MASK, Node, State, already_exists, check_upload, err, is_a_directory,
    make_dir, not_a_directory, not_empty, now, place_file, root_refused,
};
use upload::MemoryUpload;

/// A storage that lives in memory. Clones share the same tree, so a test can
/// keep one clone to inspect what a server did with another.
#[derive(Clone)]
pub struct MemoryStorage {
    inner: Arc<Shared>,
}

/// What every clone and every upload in progress share.
struct Shared {
    bounds: Bounds,
    state: Mutex<State>,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStorage {
    /// An empty storage (just `/`) without limits.
    pub fn new() -> Self {
        Self::with_limits(None, None)
    }

    /// An empty storage holding at most `max_bytes` bytes of file contents
    /// (uploads in progress count) and at most `max_entries` files and
    /// directories. Going over either fails with `InsufficientStorage`.
    pub fn with_limits(max_bytes: Option<u64>, max_entries: Option<u64>) -> Self {
        let root = Node { id: 1, mtime: now(), mode: DEFAULT_DIR_MODE, body: Body::Dir(BTreeMap::new()) };
        MemoryStorage {
            inner: Arc::new(Shared {
                bounds: Bounds { max_bytes, max_entries },
                state: Mutex::new(State { root, books: Books { used_bytes: 0, entries: 0, last_id: 1 } }),
            }),
        }
    }

    /// Bytes in use: committed file contents plus what open uploads have written.
    pub fn used_bytes(&self) -> u64 {
        self.lock().books.used_bytes
    }

    /// Files and directories in the tree (the root not counted).
    pub fn entry_count(&self) -> u64 {
        self.lock().books.entries
    }

    /// Create a file with these contents, replacing a file already there and
    /// creating missing parent directories: a quick way to seed the tree.
    pub fn put_file(&self, path: &VPath, contents: impl Into<Vec<u8>>) -> Result<(), StorageError> {
        if let Some(parent) = path.parent() {
            self.create_dir_all(&parent)?;
        }
        let contents = contents.into();
        let len = contents.len() as u64;
        let bounds = self.inner.bounds;
        let mut state = self.lock();
        state.books.reserve(bounds, len)?;
        let result = place_file(&mut state, bounds, path, Arc::new(contents), false);
        if result.is_err() {
            state.books.release(len);
        }
        result
    }

    /// A file's whole contents, for tests and embedders that inspect uploads.
    pub fn file_contents(&self, path: &VPath) -> Result<Vec<u8>, StorageError> {
        match &self.lock().root.find(path)?.body {
            Body::File(data) => Ok(data.as_ref().clone()),
            Body::Dir(_) => Err(is_a_directory()),
        }
    }

    /// Create a directory and any missing parents (like `mkdir -p`); a
    /// directory already there is fine.
    pub fn create_dir_all(&self, path: &VPath) -> Result<(), StorageError> {
        let bounds = self.inner.bounds;
        let mut state = self.lock();
        let mut at = VPath::root();
        for name in path.components() {
            at = at.join(name).map_err(|e| err(ErrorKind::InvalidName, &e.to_string()))?;
            match state.root.find(&at) {
                Ok(node) if node.is_dir() => {}
                Ok(_) => return Err(already_exists()),
                Err(e) if e.kind == ErrorKind::NotFound => make_dir(&mut state, bounds, &at)?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The lock, even if a thread panicked while holding it: every change to
    /// the tree is made in one step after its checks, so the tree is
    /// consistent whenever the lock is free.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryStorage")
            .field("used_bytes", &state.books.used_bytes)
            .field("entries", &state.books.entries)
            .field("max_bytes", &self.inner.bounds.max_bytes)
            .field("max_entries", &self.inner.bounds.max_entries)
            .finish()
    }
}

/// A download: a snapshot of the file's contents, shared, not copied.
struct Snapshot(Arc<Vec<u8>>);

impl AsRef<[u8]> for Snapshot {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn metadata(&self, path: &VPath) -> Result<FileInfo, StorageError> {
        Ok(self.lock().root.find(path)?.info())
    }

    async fn list(&self, path: &VPath) -> Result<Box<dyn DirLister>, StorageError> {
        let state = self.lock();
        match &state.root.find(path)?.body {
            Body::Dir(children) => {
                let entries =
                    children.iter().map(|(name, node)| DirEntry { name: name.clone(), info: node.info() }).collect();
                Ok(Box::new(VecLister::new(entries)))
            }
            Body::File(_) => Err(not_a_directory()),
        }
    }

    async fn open_read(&self, path: &VPath, offset: u64) -> Result<ReadHandle, StorageError> {
        let data = match &self.lock().root.find(path)?.body {
            Body::File(data) => Arc::clone(data),
            Body::Dir(_) => return Err(is_a_directory()),
        };
        // An offset past the end reads nothing, as lseek(2) + read(2) would.
        let mut cursor = io::Cursor::new(Snapshot(data));
        cursor.set_position(offset);
        Ok(ReadHandle::Stream(Box::new(cursor)))
    }

    async fn open_write(&self, path: &VPath, mode: WriteMode) -> Result<Box<dyn WriteHandle>, StorageError> {
        let mode = match mode {
            WriteMode::At(0) => WriteMode::Create { exclusive: false },
            other => other,
        };
        // Refuse now what the commit would refuse, so the client hears it
        // before sending data. The commit checks again: the tree may change
        // while the upload runs.
        check_upload(&self.lock().root, path, mode)?;
        Ok(Box::new(MemoryUpload {
            storage: self.clone(),
            path: path.clone(),
            mode,
            buf: Vec::new(),
            reserved: 0,
            finished: false,
        }))
    }

    async fn delete(&self, path: &VPath) -> Result<(), StorageError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(mut parent) = state.root.parent_of(path)? else {
            return Err(is_a_directory());
        };
        match parent.entry() {
            None => return Err(StorageError::not_found()),
            Some(node) if node.is_dir() => return Err(is_a_directory()),
            Some(_) => {}
        }
        if let Some(node) = parent.remove() {
            state.books.forget(&node);
        }
        Ok(())
    }

    async fn mkdir(&self, path: &VPath) -> Result<(), StorageError> {
        make_dir(&mut self.lock(), self.inner.bounds, path)
    }

    async fn rmdir(&self, path: &VPath) -> Result<(), StorageError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(mut parent) = state.root.parent_of(path)? else {
            return Err(root_refused("remove"));
        };
        match parent.entry().map(|n| &n.body) {
            None => return Err(StorageError::not_found()),
            Some(Body::File(_)) => return Err(not_a_directory()),
            Some(Body::Dir(children)) if !children.is_empty() => return Err(not_empty()),
            Some(Body::Dir(_)) => {}
        }
        if let Some(node) = parent.remove() {
            state.books.forget(&node);
        }
        Ok(())
    }

    async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), StorageError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        if from.is_root() {
            return Err(root_refused("rename"));
        }
        let from_is_dir = state.root.find(from)?.is_dir();
        if from == to {
            return Ok(());
        }
        if to.starts_with(from) {
            return Err(err(ErrorKind::InvalidName, "Cannot move a directory into itself"));
        }
        // What sits at `to` decides whether the rename may replace it
        // (rename(2) rules). `to` above `from` is a non-empty directory here.
        match state.root.find(to) {
            Ok(target) => match (&target.body, from_is_dir) {
                (Body::Dir(_), false) => return Err(is_a_directory()),
                (Body::File(_), true) => return Err(not_a_directory()),
                (Body::Dir(children), true) if !children.is_empty() => return Err(not_empty()),
                _ => {}
            },
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // The target's parent must be a directory before anything moves.
        if state.root.parent_of(to)?.is_none() {
            return Err(is_a_directory());
        }
        let Some(node) = state.root.parent_of(from)?.and_then(|mut parent| parent.remove()) else {
            return Err(StorageError::not_found());
        };
        // Every check passed, and `to` is not below `from`, so its parent is
        // still there; should it not be, put the node back rather than lose it.
        let failure = match state.root.parent_of(to) {
            Ok(Some(mut parent)) => {
                if let Some(replaced) = parent.insert(node) {
                    state.books.forget(&replaced);
                }
                return Ok(());
            }
            Ok(None) => StorageError::not_found(),
            Err(e) => e,
        };
        if let Ok(Some(mut parent)) = state.root.parent_of(from) {
            parent.insert(node);
        }
        Err(failure)
    }

    async fn set_mode(&self, path: &VPath, mode: u32) -> Result<(), StorageError> {
        self.lock().root.find_mut(path)?.mode = mode & MODE_MASK;
        Ok(())
    }

    async fn set_mtime(&self, path: &VPath, unix_secs: i64) -> Result<(), StorageError> {
        self.lock().root.find_mut(path)?.mtime = unix_secs;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
