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

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use oxftp_proto::listing::{FileInfo, FileKind};
use oxftp_proto::path::VPath;
use tokio::io::AsyncWrite;

use crate::storage::{
    Capabilities, DirEntry, DirLister, ErrorKind, ReadHandle, Storage, StorageError, VecLister, WriteHandle, WriteMode,
};

/// Permission bits a new file gets (what `umask 022` gives on Unix).
const DEFAULT_FILE_MODE: u32 = 0o644;
/// Permission bits a new directory gets.
const DEFAULT_DIR_MODE: u32 = 0o755;
/// The bits `set_mode` keeps (permissions plus setuid/setgid/sticky), as chmod(2) does.
const MODE_MASK: u32 = 0o7777;

/// A storage that lives in memory. Clones share the same tree, so a test can
/// keep one clone to inspect what a server did with another.
#[derive(Clone)]
pub struct MemoryStorage {
    inner: Arc<Shared>,
}

/// What every clone and every upload in progress share.
struct Shared {
    limits: Limits,
    state: Mutex<State>,
}

/// The optional bounds on memory use.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Most bytes of file contents (committed plus reserved by uploads).
    max_bytes: Option<u64>,
    /// Most entries (files and directories, the root excluded).
    max_entries: Option<u64>,
}

/// The tree and its bookkeeping, kept apart so one can be changed while a
/// node of the other is borrowed.
struct State {
    root: Node,
    books: Books,
}

/// Counters over the tree.
struct Books {
    /// Bytes of committed file contents plus bytes reserved by open uploads.
    used_bytes: u64,
    /// Files and directories in the tree, the root excluded.
    entries: u64,
    /// The last `Node::id` handed out (ids feed MLSx `unique`).
    last_id: u64,
}

impl Books {
    /// Count one more entry and give it an id, or refuse if that breaks `max_entries`.
    fn new_entry(&mut self, limits: Limits) -> Result<u64, StorageError> {
        if limits.max_entries.is_some_and(|max| self.entries >= max) {
            return Err(no_space());
        }
        self.entries += 1;
        self.last_id += 1;
        Ok(self.last_id)
    }

    /// Reserve `len` more bytes of contents, or refuse if that breaks `max_bytes`.
    fn reserve(&mut self, limits: Limits, len: u64) -> Result<(), StorageError> {
        let total = self.used_bytes.saturating_add(len);
        if limits.max_bytes.is_some_and(|max| total > max) {
            return Err(no_space());
        }
        self.used_bytes = total;
        Ok(())
    }

    fn release(&mut self, len: u64) {
        self.used_bytes = self.used_bytes.saturating_sub(len);
    }

    /// Forget a removed node: one entry and, for a file, its bytes.
    fn forget(&mut self, node: &Node) {
        self.entries = self.entries.saturating_sub(1);
        self.release(node.size());
    }
}

/// One file or directory.
struct Node {
    id: u64,
    mtime: i64,
    mode: u32,
    body: Body,
}

/// What a node holds. File contents sit behind an `Arc` so a download reads a
/// snapshot without copying and without holding the lock.
enum Body {
    Dir(BTreeMap<Vec<u8>, Node>),
    File(Arc<Vec<u8>>),
}

impl Node {
    fn info(&self) -> FileInfo {
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

    fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir(_))
    }

    fn size(&self) -> u64 {
        match &self.body {
            Body::File(data) => data.len() as u64,
            Body::Dir(_) => 0,
        }
    }

    /// The node at `path` below this one. As in POSIX path lookup, a missing
    /// component is `NotFound` and a file where a directory is needed is
    /// `NotADirectory`.
    fn find(&self, path: &VPath) -> Result<&Node, StorageError> {
        let mut node = self;
        for name in path.components() {
            node = match &node.body {
                Body::Dir(children) => children.get(name).ok_or_else(StorageError::not_found)?,
                Body::File(_) => return Err(not_a_directory()),
            };
        }
        Ok(node)
    }

    fn find_mut(&mut self, path: &VPath) -> Result<&mut Node, StorageError> {
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
    fn parent_of<'p>(&mut self, path: &'p VPath) -> Result<Option<ParentDir<'_, 'p>>, StorageError> {
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
struct ParentDir<'t, 'p> {
    mtime: &'t mut i64,
    children: &'t mut BTreeMap<Vec<u8>, Node>,
    name: &'p [u8],
}

impl ParentDir<'_, '_> {
    fn entry(&self) -> Option<&Node> {
        self.children.get(self.name)
    }

    /// A directory's mtime changes whenever an entry is added or removed.
    fn insert(&mut self, node: Node) -> Option<Node> {
        *self.mtime = now();
        self.children.insert(self.name.to_vec(), node)
    }

    fn remove(&mut self) -> Option<Node> {
        *self.mtime = now();
        self.children.remove(self.name)
    }
}

/// Seconds since the Unix epoch, now; a clock set before 1970 reads as 0.
fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

fn err(kind: ErrorKind, message: &str) -> StorageError {
    StorageError::new(kind, message)
}

fn not_a_directory() -> StorageError {
    err(ErrorKind::NotADirectory, "Not a directory")
}

fn is_a_directory() -> StorageError {
    err(ErrorKind::IsADirectory, "Is a directory")
}

fn already_exists() -> StorageError {
    err(ErrorKind::AlreadyExists, "File exists")
}

fn not_empty() -> StorageError {
    err(ErrorKind::DirectoryNotEmpty, "Directory not empty")
}

fn no_space() -> StorageError {
    err(ErrorKind::InsufficientStorage, "No space left on device")
}

fn root_refused(what: &str) -> StorageError {
    err(ErrorKind::PermissionDenied, &format!("Cannot {what} the root directory"))
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
                limits: Limits { max_bytes, max_entries },
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
        let limits = self.inner.limits;
        let mut state = self.lock();
        state.books.reserve(limits, len)?;
        let result = place_file(&mut state, limits, path, Arc::new(contents), false);
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
        let limits = self.inner.limits;
        let mut state = self.lock();
        let mut at = VPath::root();
        for name in path.components() {
            at = at.join(name).map_err(|e| err(ErrorKind::InvalidName, &e.to_string()))?;
            match state.root.find(&at) {
                Ok(node) if node.is_dir() => {}
                Ok(_) => return Err(already_exists()),
                Err(e) if e.kind == ErrorKind::NotFound => make_dir(&mut state, limits, &at)?,
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

/// Create one directory whose parent exists.
fn make_dir(state: &mut State, limits: Limits, path: &VPath) -> Result<(), StorageError> {
    let Some(mut parent) = state.root.parent_of(path)? else {
        return Err(already_exists());
    };
    if parent.entry().is_some() {
        return Err(already_exists());
    }
    let id = state.books.new_entry(limits)?;
    parent.insert(Node { id, mtime: now(), mode: DEFAULT_DIR_MODE, body: Body::Dir(BTreeMap::new()) });
    Ok(())
}

/// Put a file at `path`, replacing an existing file unless `exclusive`. The
/// new contents must already be reserved in the books; the replaced file's
/// bytes are released here. A replaced file keeps its id and mode, as writing
/// into an existing file does on Unix.
fn place_file(
    state: &mut State,
    limits: Limits,
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
        None => (state.books.new_entry(limits)?, DEFAULT_FILE_MODE, 0),
    };
    parent.insert(Node { id, mtime: now(), mode, body: Body::File(contents) });
    state.books.release(old_size);
    Ok(())
}

/// Whether an upload to `path` in `mode` could commit now (`WriteMode::At(0)`
/// already turned into `Create`).
fn check_upload(root: &Node, path: &VPath, mode: WriteMode) -> Result<(), StorageError> {
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

impl fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryStorage")
            .field("used_bytes", &state.books.used_bytes)
            .field("entries", &state.books.entries)
            .field("max_bytes", &self.inner.limits.max_bytes)
            .field("max_entries", &self.inner.limits.max_entries)
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
        make_dir(&mut self.lock(), self.inner.limits, path)
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

/// An upload to a [`MemoryStorage`]: bytes collect in a private buffer and
/// reach the tree only on `commit`. Every byte written is reserved against
/// `max_bytes` as it arrives and released if the upload does not commit.
struct MemoryUpload {
    storage: MemoryStorage,
    path: VPath,
    mode: WriteMode,
    buf: Vec<u8>,
    /// Bytes this upload holds in the books' `used_bytes`.
    reserved: u64,
    /// Committed or thrown away: nothing more may be written.
    finished: bool,
}

impl MemoryUpload {
    /// Give back the reservation of an upload that will not commit.
    fn release(&mut self) {
        self.finished = true;
        self.buf = Vec::new();
        if self.reserved > 0 {
            self.storage.lock().books.release(self.reserved);
            self.reserved = 0;
        }
    }

    /// Move the buffered bytes into the tree as the mode says.
    fn commit_now(&mut self) -> Result<(), StorageError> {
        let storage = self.storage.clone();
        let limits = storage.inner.limits;
        let mut guard = storage.lock();
        let state = &mut *guard;
        check_upload(&state.root, &self.path, self.mode)?;
        let new = std::mem::take(&mut self.buf);
        let (contents, kept, exclusive) = match self.mode {
            WriteMode::Create { exclusive } => (new, 0, exclusive),
            WriteMode::Append | WriteMode::At(_) => {
                // Start from the file as it is now, not as it was at open,
                // so concurrent appends all land.
                let old: &[u8] = match state.root.find(&self.path).map(|n| &n.body) {
                    Ok(Body::File(data)) => data.as_slice(),
                    _ => &[],
                };
                let keep = match self.mode {
                    WriteMode::At(offset) => usize::try_from(offset).unwrap_or(usize::MAX).min(old.len()),
                    _ => old.len(),
                };
                let mut contents = Vec::with_capacity(keep.saturating_add(new.len()));
                contents.extend_from_slice(old.get(..keep).unwrap_or_default());
                contents.extend_from_slice(&new);
                (contents, keep as u64, false)
            }
        };
        // The kept prefix is counted as part of the old file, which
        // place_file releases; count it for the new file too. This never
        // grows the total, so it bypasses the limit.
        state.books.used_bytes = state.books.used_bytes.saturating_add(kept);
        match place_file(state, limits, &self.path, Arc::new(contents), exclusive) {
            Ok(()) => {
                // The reservation now belongs to the file.
                self.reserved = 0;
                self.finished = true;
                Ok(())
            }
            Err(e) => {
                state.books.release(kept);
                Err(e)
            }
        }
    }
}

impl AsyncWrite for MemoryUpload {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(Err(io::Error::other("upload already finished")));
        }
        let len = data.len() as u64;
        if this.storage.lock().books.reserve(this.storage.inner.limits, len).is_err() {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::StorageFull, "No space left on device")));
        }
        this.reserved += len;
        this.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[async_trait]
impl WriteHandle for MemoryUpload {
    async fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        if self.finished {
            return Err(err(ErrorKind::Other, "upload already finished"));
        }
        let result = self.commit_now();
        // A failed upload is gone: give back what it reserved.
        self.release();
        result
    }

    async fn abort(mut self: Box<Self>) {
        self.release();
    }
}

impl Drop for MemoryUpload {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn p(s: &str) -> VPath {
        VPath::parse(s.as_bytes()).unwrap()
    }

    async fn read_all(storage: &dyn Storage, path: &str, offset: u64) -> Result<Vec<u8>, StorageError> {
        let ReadHandle::Stream(mut r) = storage.open_read(&p(path), offset).await? else {
            panic!("memory storage hands out streams");
        };
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        Ok(out)
    }

    async fn upload(storage: &dyn Storage, path: &str, mode: WriteMode, data: &[u8]) -> Result<(), StorageError> {
        let mut w = storage.open_write(&p(path), mode).await?;
        w.write_all(data).await?;
        w.commit().await
    }

    async fn names(storage: &dyn Storage, path: &str) -> Vec<Vec<u8>> {
        let mut lister = storage.list(&p(path)).await.unwrap();
        let mut out = Vec::new();
        while let Some(page) = lister.next_page().await.unwrap() {
            out.extend(page.into_iter().map(|e| e.name));
        }
        out
    }

    fn kind<T>(r: Result<T, StorageError>) -> ErrorKind {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.kind,
        }
    }

    const CREATE: WriteMode = WriteMode::Create { exclusive: false };

    #[tokio::test]
    async fn upload_is_invisible_until_commit_and_readable_after() {
        let m = MemoryStorage::new();
        let mut w = m.open_write(&p("/a.txt"), CREATE).await.unwrap();
        w.write_all(b"hello").await.unwrap();
        assert_eq!(kind(m.metadata(&p("/a.txt")).await), ErrorKind::NotFound);
        w.commit().await.unwrap();
        assert_eq!(read_all(&m, "/a.txt", 0).await.unwrap(), b"hello");
        assert_eq!(read_all(&m, "/a.txt", 3).await.unwrap(), b"lo");
        assert_eq!(read_all(&m, "/a.txt", 99).await.unwrap(), b"");
        let info = m.metadata(&p("/a.txt")).await.unwrap();
        assert_eq!((info.kind, info.size, info.mode, info.nlink), (FileKind::File, 5, Some(0o644), 1));
        assert!(info.mtime.unwrap() > 1_600_000_000);
        assert_eq!(m.used_bytes(), 5);
    }

    #[tokio::test]
    async fn dropped_or_aborted_upload_leaves_nothing() {
        let m = MemoryStorage::new();
        m.put_file(&p("/keep"), "old").unwrap();
        let mut w = m.open_write(&p("/keep"), CREATE).await.unwrap();
        w.write_all(b"new contents").await.unwrap();
        assert_eq!(m.used_bytes(), 3 + 12);
        w.abort().await;
        assert_eq!(m.file_contents(&p("/keep")).unwrap(), b"old");
        assert_eq!(m.used_bytes(), 3);
        let mut w = m.open_write(&p("/gone"), CREATE).await.unwrap();
        w.write_all(b"x").await.unwrap();
        drop(w);
        assert_eq!(kind(m.metadata(&p("/gone")).await), ErrorKind::NotFound);
        assert_eq!(m.used_bytes(), 3);
    }

    #[tokio::test]
    async fn write_modes_follow_their_contracts() {
        let m = MemoryStorage::new();
        m.put_file(&p("/f"), "0123456789").unwrap();
        m.set_mode(&p("/f"), 0o600).await.unwrap();
        upload(&m, "/f", WriteMode::At(4), b"ab").await.unwrap();
        assert_eq!(m.file_contents(&p("/f")).unwrap(), b"0123ab");
        // Rewriting keeps the mode, as on Unix.
        assert_eq!(m.metadata(&p("/f")).await.unwrap().mode, Some(0o600));
        upload(&m, "/f", WriteMode::Append, b"Z").await.unwrap();
        assert_eq!(m.file_contents(&p("/f")).unwrap(), b"0123abZ");
        upload(&m, "/new", WriteMode::Append, b"fresh").await.unwrap();
        assert_eq!(m.file_contents(&p("/new")).unwrap(), b"fresh");
        upload(&m, "/f", WriteMode::At(0), b"zero").await.unwrap();
        assert_eq!(m.file_contents(&p("/f")).unwrap(), b"zero");
        assert_eq!(kind(m.open_write(&p("/f"), WriteMode::At(5)).await), ErrorKind::Other);
        assert_eq!(kind(m.open_write(&p("/missing"), WriteMode::At(1)).await), ErrorKind::NotFound);
        assert_eq!(kind(m.open_write(&p("/f"), WriteMode::Create { exclusive: true }).await), ErrorKind::AlreadyExists);
        upload(&m, "/f", CREATE, b"replaced").await.unwrap();
        assert_eq!(m.file_contents(&p("/f")).unwrap(), b"replaced");
        assert_eq!(m.used_bytes(), 8 + 5);
    }

    #[tokio::test]
    async fn concurrent_appends_both_land() {
        let m = MemoryStorage::new();
        m.put_file(&p("/log"), "a").unwrap();
        let mut w1 = m.open_write(&p("/log"), WriteMode::Append).await.unwrap();
        let mut w2 = m.open_write(&p("/log"), WriteMode::Append).await.unwrap();
        w1.write_all(b"b").await.unwrap();
        w2.write_all(b"c").await.unwrap();
        w1.commit().await.unwrap();
        w2.commit().await.unwrap();
        assert_eq!(m.file_contents(&p("/log")).unwrap(), b"abc");
        assert_eq!(m.used_bytes(), 3);
    }

    #[tokio::test]
    async fn exclusive_create_rechecks_at_commit() {
        let m = MemoryStorage::new();
        let mut w = m.open_write(&p("/race"), WriteMode::Create { exclusive: true }).await.unwrap();
        w.write_all(b"late").await.unwrap();
        m.put_file(&p("/race"), "first").unwrap();
        assert_eq!(kind(w.commit().await), ErrorKind::AlreadyExists);
        assert_eq!(m.file_contents(&p("/race")).unwrap(), b"first");
        assert_eq!(m.used_bytes(), 5);
    }

    #[tokio::test]
    async fn upload_errors_match_posix() {
        let m = MemoryStorage::new();
        m.put_file(&p("/file"), "x").unwrap();
        m.create_dir_all(&p("/dir")).unwrap();
        assert_eq!(kind(m.open_write(&p("/dir"), CREATE).await), ErrorKind::IsADirectory);
        assert_eq!(kind(m.open_write(&p("/"), CREATE).await), ErrorKind::IsADirectory);
        assert_eq!(kind(m.open_write(&p("/nodir/f"), CREATE).await), ErrorKind::NotFound);
        assert_eq!(kind(m.open_write(&p("/file/f"), CREATE).await), ErrorKind::NotADirectory);
        // The parent vanishing during the upload fails the commit.
        let mut w = m.open_write(&p("/dir/f"), CREATE).await.unwrap();
        w.write_all(b"data").await.unwrap();
        m.rmdir(&p("/dir")).await.unwrap();
        assert_eq!(kind(w.commit().await), ErrorKind::NotFound);
        assert_eq!(m.used_bytes(), 1);
    }

    #[tokio::test]
    async fn reads_and_lists_refuse_the_wrong_kind() {
        let m = MemoryStorage::new();
        m.put_file(&p("/d/f"), "x").unwrap();
        assert_eq!(kind(read_all(&m, "/d", 0).await), ErrorKind::IsADirectory);
        assert_eq!(kind(read_all(&m, "/nope", 0).await), ErrorKind::NotFound);
        assert_eq!(kind(m.list(&p("/d/f")).await), ErrorKind::NotADirectory);
        assert_eq!(kind(m.list(&p("/nope")).await), ErrorKind::NotFound);
        assert_eq!(kind(m.metadata(&p("/d/f/g")).await), ErrorKind::NotADirectory);
    }

    #[tokio::test]
    async fn list_is_sorted_raw_bytes_with_facts() {
        let m = MemoryStorage::new();
        m.put_file(&p("/b"), "12").unwrap();
        m.mkdir(&p("/a")).await.unwrap();
        let raw = VPath::root().join(b"\xff\xfename").unwrap();
        m.put_file(&raw, "").unwrap();
        assert_eq!(names(&m, "/").await, vec![b"a".to_vec(), b"b".to_vec(), b"\xff\xfename".to_vec()]);
        let mut lister = m.list(&VPath::root()).await.unwrap();
        let page = lister.next_page().await.unwrap().unwrap();
        assert!(page[0].info.is_dir());
        assert_eq!(page[1].info.size, 2);
        assert_ne!(page[0].info.unique, page[1].info.unique);
        assert_eq!(m.metadata(&VPath::root()).await.unwrap().nlink, 3);
        assert!(names(&m, "/a").await.is_empty());
    }

    #[tokio::test]
    async fn mkdir_rmdir_delete_follow_posix() {
        let m = MemoryStorage::new();
        m.mkdir(&p("/d")).await.unwrap();
        assert_eq!(m.metadata(&p("/d")).await.unwrap().mode, Some(0o755));
        assert_eq!(kind(m.mkdir(&p("/d")).await), ErrorKind::AlreadyExists);
        assert_eq!(kind(m.mkdir(&p("/")).await), ErrorKind::AlreadyExists);
        assert_eq!(kind(m.mkdir(&p("/x/y")).await), ErrorKind::NotFound);
        m.put_file(&p("/d/f"), "abc").unwrap();
        assert_eq!(kind(m.mkdir(&p("/d/f/g")).await), ErrorKind::NotADirectory);
        assert_eq!(kind(m.rmdir(&p("/d")).await), ErrorKind::DirectoryNotEmpty);
        assert_eq!(kind(m.rmdir(&p("/d/f")).await), ErrorKind::NotADirectory);
        assert_eq!(kind(m.rmdir(&p("/")).await), ErrorKind::PermissionDenied);
        assert_eq!(kind(m.rmdir(&p("/none")).await), ErrorKind::NotFound);
        assert_eq!(kind(m.delete(&p("/d")).await), ErrorKind::IsADirectory);
        assert_eq!(kind(m.delete(&p("/")).await), ErrorKind::IsADirectory);
        assert_eq!(kind(m.delete(&p("/d/none")).await), ErrorKind::NotFound);
        assert_eq!(m.entry_count(), 2);
        m.delete(&p("/d/f")).await.unwrap();
        assert_eq!(m.used_bytes(), 0);
        m.rmdir(&p("/d")).await.unwrap();
        assert_eq!(m.entry_count(), 0);
        assert!(names(&m, "/").await.is_empty());
    }

    #[tokio::test]
    async fn rename_follows_rename2() {
        let m = MemoryStorage::new();
        m.put_file(&p("/f"), "file").unwrap();
        m.put_file(&p("/g"), "gg").unwrap();
        m.put_file(&p("/d/inner"), "i").unwrap();
        m.mkdir(&p("/empty")).await.unwrap();
        // File over file replaces it and frees its bytes.
        m.rename(&p("/g"), &p("/f")).await.unwrap();
        assert_eq!(m.file_contents(&p("/f")).unwrap(), b"gg");
        assert_eq!(m.used_bytes(), 3);
        assert_eq!(kind(m.metadata(&p("/g")).await), ErrorKind::NotFound);
        assert_eq!(kind(m.rename(&p("/f"), &p("/d")).await), ErrorKind::IsADirectory);
        assert_eq!(kind(m.rename(&p("/d"), &p("/f")).await), ErrorKind::NotADirectory);
        assert_eq!(kind(m.rename(&p("/empty"), &p("/d")).await), ErrorKind::DirectoryNotEmpty);
        assert_eq!(kind(m.rename(&p("/d"), &p("/d/inner/x")).await), ErrorKind::InvalidName);
        assert_eq!(kind(m.rename(&p("/d/inner"), &p("/d")).await), ErrorKind::IsADirectory);
        assert_eq!(kind(m.rename(&p("/nope"), &p("/x")).await), ErrorKind::NotFound);
        assert_eq!(kind(m.rename(&p("/f"), &p("/nodir/x")).await), ErrorKind::NotFound);
        assert_eq!(kind(m.rename(&p("/"), &p("/x")).await), ErrorKind::PermissionDenied);
        m.rename(&p("/f"), &p("/f")).await.unwrap();
        // A directory moves with its contents, onto an empty directory.
        m.rename(&p("/d"), &p("/empty")).await.unwrap();
        assert_eq!(m.file_contents(&p("/empty/inner")).unwrap(), b"i");
        assert_eq!(kind(m.metadata(&p("/d")).await), ErrorKind::NotFound);
        assert_eq!(m.entry_count(), 3);
    }

    #[tokio::test]
    async fn set_mode_and_mtime_are_stored() {
        let m = MemoryStorage::new();
        m.put_file(&p("/f"), "x").unwrap();
        m.set_mode(&p("/f"), 0o100_4751).await.unwrap();
        m.set_mtime(&p("/f"), 86_400).await.unwrap();
        let info = m.metadata(&p("/f")).await.unwrap();
        assert_eq!((info.mode, info.mtime), (Some(0o4751), Some(86_400)));
        assert_eq!(kind(m.set_mode(&p("/none"), 0o644).await), ErrorKind::NotFound);
        assert_eq!(kind(m.set_mtime(&p("/none"), 0).await), ErrorKind::NotFound);
        assert_eq!(m.capabilities(), Capabilities::ALL);
    }

    #[tokio::test]
    async fn byte_limit_covers_uploads_in_progress() {
        let m = MemoryStorage::with_limits(Some(10), None);
        m.put_file(&p("/six"), "123456").unwrap();
        assert_eq!(kind(m.put_file(&p("/five"), "12345")), ErrorKind::InsufficientStorage);
        let mut w1 = m.open_write(&p("/a"), CREATE).await.unwrap();
        let mut w2 = m.open_write(&p("/b"), CREATE).await.unwrap();
        w1.write_all(b"123").await.unwrap();
        let e = w2.write_all(b"12").await.unwrap_err();
        assert_eq!(StorageError::from(e).kind, ErrorKind::InsufficientStorage);
        w1.commit().await.unwrap();
        drop(w2);
        assert_eq!(m.used_bytes(), 9);
        // Replacing a file frees the old bytes.
        upload(&m, "/six", CREATE, b"1").await.unwrap();
        assert_eq!(m.used_bytes(), 4);
        upload(&m, "/six", WriteMode::Append, b"234567").await.unwrap();
        assert_eq!(m.used_bytes(), 10);
    }

    #[tokio::test]
    async fn entry_limit_counts_files_and_dirs() {
        let m = MemoryStorage::with_limits(None, Some(2));
        m.mkdir(&p("/d")).await.unwrap();
        upload(&m, "/d/f", CREATE, b"x").await.unwrap();
        assert_eq!(kind(m.mkdir(&p("/e")).await), ErrorKind::InsufficientStorage);
        assert_eq!(kind(upload(&m, "/g", CREATE, b"y").await), ErrorKind::InsufficientStorage);
        // Replacing an existing file needs no new entry.
        upload(&m, "/d/f", CREATE, b"z").await.unwrap();
        assert_eq!(m.used_bytes(), 1);
        m.delete(&p("/d/f")).await.unwrap();
        m.mkdir(&p("/e")).await.unwrap();
    }

    #[tokio::test]
    async fn clones_share_the_tree() {
        let m = MemoryStorage::new();
        let shared: Arc<dyn Storage> = Arc::new(m.clone());
        upload(shared.as_ref(), "/x", CREATE, b"seen").await.unwrap();
        assert_eq!(m.file_contents(&p("/x")).unwrap(), b"seen");
        assert!(format!("{m:?}").contains("used_bytes: 4"));
    }
}
