//! Quotas: how many bytes and files an account may keep under its home.
//!
//! # Where the numbers come from
//!
//! An account's usage is computed from its storage when it first logs in
//! (a walk of the home tree, see [`QuotaUsage::measure`]) and then kept up to
//! date in memory by [`Quota`] as the account's sessions upload, delete
//! and rename. [`QuotaRegistry`] holds one [`QuotaUsage`] per account, so
//! concurrent sessions of one user share one counter and cannot together
//! overshoot the quota.
//!
//! Computing from storage rather than keeping a state file means the numbers
//! are right after every restart and after any change made outside the
//! server, and there is no tally file to lose, corrupt or race on. The cost is
//! one walk of the home tree per account per process: the first login of an
//! account lists every directory under its home, page by page (memory grows
//! with the tree's depth, not its size), so a home of N directories costs N
//! listings at that login. Later logins reuse the counter;
//! [`QuotaRegistry::forget`] drops it so the next login walks again.
//!
//! The walk counts regular files (directories and other entries do not count)
//! and does not descend into a directory that repeats one above it (a symlink
//! loop) nor deeper than [`MAX_WALK_DEPTH`] levels. A directory that cannot be
//! listed (permission denied, removed meanwhile) is skipped; other errors fail
//! the walk, and nothing is cached, so the next login tries again.
//!
//! # Enforcement
//!
//! - Uploads count bytes as they are written. A write that would take the
//!   account over `quota_bytes` fails with `InsufficientStorage` ("Quota
//!   exceeded: N bytes allowed"), which the engine answers with 552 and then
//!   aborts the upload. Replacing a file frees its old size (as of the open),
//!   so a full account can still replace a file with one of the same size.
//! - A new file beyond `quota_files` is refused at `open_write`, before any
//!   data is sent ("Quota exceeded: N files allowed"); so is any upload when
//!   the account has no byte left.
//! - Whether an upload replaces a file, and how big that file is, comes from
//!   one lookup shared with the layers above ([`Existing`], which the
//!   permissions guard may already have made).
//! - A committed create holds exactly the bytes written. When any other
//!   upload (a resume, an append) commits, or any upload aborts, the file's
//!   real size is read back with `metadata` and the usage corrected to it.
//!   So a STOR costs one `metadata` call in all. On an atomic backend an
//!   aborted upload leaves nothing; on a non-atomic one (REST + STOR or APPE
//!   writing in place) the bytes written before the refusal stay, as FTP
//!   servers traditionally keep partial uploads (the client can resume after
//!   freeing space), and they are counted. Nothing is deleted: removing the
//!   partial file of a resumed upload would also destroy the data it resumed.
//! - `delete` frees the file's bytes and count, and `rename` over an existing
//!   file frees the file it replaces. Directories are free.
//!
//! # Several nodes
//!
//! With a [`QuotaRegistry::shared`] registry the nodes of a cluster count in
//! one place (a Redis, say): each node counts in memory as above and sends
//! its changes there, and reads the others' back before every upload and at
//! every login (see `shared_quota.rs` for what that guarantees).
//!
//! The counter is exact for changes made through this layer; two sessions
//! rewriting the same file at the same moment, or changes made outside the
//! server while the account is cached, can make it drift until the next walk.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use async_trait::async_trait;
use oxftp_proto::listing::FileKind;
use oxftp_proto::path::VPath;
use tokio::io::AsyncWrite;

use super::shared_quota::{SharedUsage, delta};
use crate::account::Limits;
use crate::shared_state::{SharedState, Usage};
use crate::storage::{DirEntry, DirLister, ErrorKind, Existing, Storage, StorageError, WriteHandle, WriteMode};

/// How deep [`QuotaUsage::measure`] descends at most; deeper directories are not counted.
pub const MAX_WALK_DEPTH: usize = 256;

/// The quotas a [`Quota`] enforces (`None`: no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaLimits {
    /// Bytes of regular files under the home.
    pub bytes: Option<u64>,
    /// Regular files under the home.
    pub files: Option<u64>,
}

impl QuotaLimits {
    /// Whether there is anything to enforce.
    pub fn is_unlimited(&self) -> bool {
        self.bytes.is_none() && self.files.is_none()
    }
}

impl From<&Limits> for QuotaLimits {
    fn from(limits: &Limits) -> Self {
        QuotaLimits { bytes: limits.quota_bytes, files: limits.quota_files }
    }
}

/// What one account stores: bytes and files, shared by all its sessions
/// (and, with a shared state, by every node; see `shared_quota`).
#[derive(Debug, Default)]
pub struct QuotaUsage {
    bytes: AtomicU64,
    files: AtomicU64,
    shared: Option<Arc<SharedUsage>>,
}

impl QuotaUsage {
    /// A counter starting at these numbers.
    pub fn new(bytes: u64, files: u64) -> Self {
        QuotaUsage { bytes: AtomicU64::new(bytes), files: AtomicU64::new(files), shared: None }
    }

    /// `user`'s counter as every node of a cluster keeps it in `state`:
    /// what the state holds, or, when no node has measured the account yet
    /// (or the state cannot be reached), a walk of `storage` (see
    /// [`measure`](QuotaUsage::measure)), stored for the others.
    pub async fn shared(user: &str, state: Arc<dyn SharedState>, storage: &dyn Storage) -> Result<Self, StorageError> {
        let start = match state.quota_usage(user).await {
            Ok(Some(usage)) => usage,
            Ok(None) => {
                let measured = QuotaUsage::measure(storage).await?;
                let measured = Usage { bytes: measured.bytes(), files: measured.files() };
                state.quota_init(user, measured).await.unwrap_or(measured)
            }
            Err(_) => {
                let measured = QuotaUsage::measure(storage).await?;
                Usage { bytes: measured.bytes(), files: measured.files() }
            }
        };
        let mut usage = QuotaUsage::new(start.bytes, start.files);
        usage.shared = Some(SharedUsage::start(state, user));
        Ok(usage)
    }

    /// With a shared state: send this node's changes now. Without one,
    /// nothing to do.
    pub async fn publish(&self) {
        if let Some(shared) = &self.shared {
            shared.publish().await;
        }
    }

    /// With a shared state: send this node's changes and read every node's
    /// back. Without one, nothing to do.
    pub async fn refresh(&self) {
        if let Some(shared) = &self.shared {
            shared.refresh(&self.bytes, &self.files).await;
        }
    }

    /// Bytes stored, including uploads in progress.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::SeqCst)
    }

    /// Files stored, including new files being uploaded.
    pub fn files(&self) -> u64 {
        self.files.load(Ordering::SeqCst)
    }

    /// Change `counter` (`bytes` or `files`) by `f` unless it gives
    /// `None`; the step taken is recorded for the other nodes when shared.
    fn update(&self, counter: &AtomicU64, f: impl Fn(u64) -> Option<u64>) -> bool {
        let mut step = 0;
        let changed = counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                let next = f(now)?;
                step = delta(now, next);
                Some(next)
            })
            .is_ok();
        if changed && let Some(shared) = &self.shared {
            if std::ptr::eq(counter, &self.bytes) { shared.record(step, 0) } else { shared.record(0, step) }
        }
        changed
    }

    /// Count what `storage` holds under its `/`: every regular file's size,
    /// and the number of regular files. Lists one directory page at a time,
    /// keeping one open listing per level of depth; see the module doc for
    /// what is skipped.
    pub async fn measure(storage: &dyn Storage) -> Result<QuotaUsage, StorageError> {
        let root = VPath::root();
        let lister = storage.list(&root).await?;
        let unique = storage.metadata(&root).await.ok().and_then(|info| info.unique);
        let mut stack = vec![Level { dir: root, unique, lister, page: Vec::new().into_iter() }];
        let (mut bytes, mut files) = (0u64, 0u64);
        while let Some(level) = stack.last_mut() {
            let Some(entry) = level.page.next() else {
                match level.lister.next_page().await {
                    Ok(Some(page)) => level.page = page.into_iter(),
                    Ok(None) => drop(stack.pop()),
                    Err(e) if skippable(&e) => drop(stack.pop()),
                    Err(e) => return Err(e),
                }
                continue;
            };
            match entry.info.kind {
                FileKind::File => {
                    bytes = bytes.saturating_add(entry.info.size);
                    files = files.saturating_add(1);
                }
                FileKind::Dir => {
                    if matches!(entry.name.as_slice(), b"" | b"." | b"..") {
                        continue;
                    }
                    let Ok(dir) = level.dir.join(&entry.name) else { continue };
                    let repeats = |l: &Level| entry.info.unique.is_some() && l.unique == entry.info.unique;
                    if stack.len() >= MAX_WALK_DEPTH || stack.iter().any(repeats) {
                        continue;
                    }
                    match storage.list(&dir).await {
                        Ok(lister) => {
                            stack.push(Level { dir, unique: entry.info.unique, lister, page: Vec::new().into_iter() })
                        }
                        Err(e) if skippable(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
                FileKind::Symlink | FileKind::Other => {}
            }
        }
        Ok(QuotaUsage::new(bytes, files))
    }

    /// Add `n` bytes unless that passes `ceiling`.
    fn try_add_bytes(&self, n: u64, ceiling: u64) -> bool {
        self.update(&self.bytes, |b| b.checked_add(n).filter(|t| *t <= ceiling))
    }

    /// Add one file unless that passes `limit`.
    fn try_add_file(&self, limit: Option<u64>) -> bool {
        let ceiling = limit.unwrap_or(u64::MAX);
        self.update(&self.files, |f| f.checked_add(1).filter(|t| *t <= ceiling))
    }

    fn add_bytes(&self, n: u64) {
        self.update(&self.bytes, |b| Some(b.saturating_add(n)));
    }

    fn sub_bytes(&self, n: u64) {
        self.update(&self.bytes, |b| Some(b.saturating_sub(n)));
    }

    fn add_file(&self) {
        self.update(&self.files, |f| Some(f.saturating_add(1)));
    }

    fn sub_file(&self) {
        self.update(&self.files, |f| Some(f.saturating_sub(1)));
    }

    /// A file went from `old` to `new` size (`None`: no file).
    fn replace(&self, old: Option<u64>, new: Option<u64>) {
        self.sub_bytes(old.unwrap_or(0));
        self.add_bytes(new.unwrap_or(0));
        match (old, new) {
            (None, Some(_)) => self.add_file(),
            (Some(_), None) => self.sub_file(),
            _ => {}
        }
    }
}

/// One directory of the walk: where it is, its identity (to spot loops), its
/// listing and what is left of the current page.
struct Level {
    dir: VPath,
    unique: Option<String>,
    lister: Box<dyn DirLister>,
    page: std::vec::IntoIter<DirEntry>,
}

/// Errors that skip one directory of the walk instead of failing it.
fn skippable(e: &StorageError) -> bool {
    matches!(e.kind, ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::PermissionDenied)
}

/// One usage counter per account, shared by the account's sessions.
///
/// The first [`usage_for`](QuotaRegistry::usage_for) of an account walks its
/// home; concurrent first logins wait for that one walk. The counter is then
/// kept for the life of the registry (one small entry per account that logged
/// in, so memory is bounded by the number of accounts).
#[derive(Debug, Default)]
pub struct QuotaRegistry {
    accounts: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Arc<QuotaUsage>>>>>,
    /// Where the nodes of a cluster keep usage; `None`: this process alone.
    shared: Option<Arc<dyn SharedState>>,
}

impl QuotaRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry whose counters are shared by every node through
    /// `state` (see [`QuotaUsage::shared`]).
    pub fn shared(state: Arc<dyn SharedState>) -> Self {
        QuotaRegistry { accounts: Mutex::default(), shared: Some(state) }
    }

    /// The usage counter of `user`. `storage` must show the account's home
    /// as `/` with no policy layer on it (the factory's storage), so the walk
    /// sees everything the quota covers.
    pub async fn usage_for(&self, user: &str, storage: &dyn Storage) -> Result<Arc<QuotaUsage>, StorageError> {
        let cell = Arc::clone(self.lock().entry(user.to_owned()).or_default());
        let mut fresh = false;
        let usage = cell
            .get_or_try_init(|| async {
                fresh = true;
                match &self.shared {
                    None => QuotaUsage::measure(storage).await.map(Arc::new),
                    Some(state) => QuotaUsage::shared(user, Arc::clone(state), storage).await.map(Arc::new),
                }
            })
            .await?;
        if !fresh {
            // What other nodes stored since this node last looked.
            usage.refresh().await;
        }
        Ok(Arc::clone(usage))
    }

    /// Drop `user`'s counter, so their next login measures the home again
    /// (after an administrator changed files behind the server's back).
    /// Sessions already running keep the old counter.
    pub fn forget(&self, user: &str) {
        self.lock().remove(user);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<tokio::sync::OnceCell<Arc<QuotaUsage>>>>> {
        // Each update is one insert or remove, so a poisoned map is still consistent.
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A storage that keeps an account within its quotas; see the module doc.
#[derive(Debug, Clone)]
pub struct Quota {
    inner: Arc<dyn Storage>,
    limits: QuotaLimits,
    usage: Arc<QuotaUsage>,
}

fn bytes_exceeded(limit: u64) -> String {
    format!("Quota exceeded: {limit} bytes allowed")
}

fn insufficient(message: String) -> StorageError {
    StorageError::new(ErrorKind::InsufficientStorage, message)
}

impl Quota {
    /// Wrap `inner` (the account's storage, its home as `/`) so that it stays
    /// within `limits`, counting in `usage` (from [`QuotaRegistry::usage_for`]).
    pub fn new(inner: Arc<dyn Storage>, limits: QuotaLimits, usage: Arc<QuotaUsage>) -> Self {
        Quota { inner, limits, usage }
    }

    /// The counter this layer keeps.
    pub fn usage(&self) -> &Arc<QuotaUsage> {
        &self.usage
    }

    /// The size of the regular file at `path`, `None` if there is none (or it
    /// cannot be seen: the inner storage then reports the problem itself).
    async fn file_size(&self, path: &VPath) -> Option<u64> {
        Existing::lookup(self.inner.as_ref(), path).await.file_size()
    }
}

/// Counts uploads, deletes and renames; reads pass through.
#[async_trait]
impl super::Shaper for Quota {
    fn inner(&self) -> &dyn Storage {
        self.inner.as_ref()
    }

    async fn open_write_known(
        &self,
        path: &VPath,
        mode: WriteMode,
        existing: Existing,
    ) -> Result<Box<dyn WriteHandle>, StorageError> {
        // What other nodes stored meanwhile (when the usage is shared).
        self.usage.refresh().await;
        // What a layer above found, or one lookup now.
        let existing = existing.or_lookup(self.inner.as_ref(), path).await;
        let old = existing.file_size();
        // The bytes of the old file this upload will free when it commits.
        let credit = match mode {
            WriteMode::Create { exclusive: false } | WriteMode::At(0) => old.unwrap_or(0),
            WriteMode::At(offset) => old.map_or(0, |size| size.saturating_sub(offset)),
            WriteMode::Create { exclusive: true } | WriteMode::Append => 0,
        };
        let ceiling = self.limits.bytes.map_or(u64::MAX, |limit| limit.saturating_add(credit));
        if let Some(limit) = self.limits.bytes
            && self.usage.bytes() >= ceiling
        {
            return Err(insufficient(bytes_exceeded(limit)));
        }
        let new_file = old.is_none();
        if new_file && !self.usage.try_add_file(self.limits.files) {
            let limit = self.limits.files.unwrap_or(u64::MAX);
            return Err(insufficient(format!("Quota exceeded: {limit} files allowed")));
        }
        let handle = match self.inner.open_write_known(path, mode, existing).await {
            Ok(handle) => handle,
            Err(e) => {
                if new_file {
                    self.usage.sub_file();
                }
                return Err(e);
            }
        };
        Ok(Box::new(QuotaUpload {
            inner: Some(handle),
            books: Some(Books {
                storage: Arc::clone(&self.inner),
                usage: Arc::clone(&self.usage),
                path: path.clone(),
                mode,
                old,
                limit: self.limits.bytes,
                ceiling,
                written: 0,
                file_reserved: new_file,
            }),
        }))
    }

    async fn delete(&self, path: &VPath) -> Result<(), StorageError> {
        let size = self.file_size(path).await;
        self.inner.delete(path).await?;
        self.usage.replace(size, None);
        self.usage.publish().await;
        Ok(())
    }

    async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), StorageError> {
        let replaced = if from == to { None } else { self.file_size(to).await };
        self.inner.rename(from, to).await?;
        self.usage.replace(replaced, None);
        self.usage.publish().await;
        Ok(())
    }
}

/// The accounting of one upload until it is settled.
struct Books {
    storage: Arc<dyn Storage>,
    usage: Arc<QuotaUsage>,
    path: VPath,
    mode: WriteMode,
    /// The file's size at open (`None`: there was none).
    old: Option<u64>,
    /// The byte quota, for the refusal message.
    limit: Option<u64>,
    /// Usage this upload may not take the account past (the quota plus what
    /// the upload frees).
    ceiling: u64,
    /// Bytes written so far, all counted in `usage`.
    written: u64,
    /// Whether `usage` counts this upload as a new file.
    file_reserved: bool,
}

impl Books {
    /// Take back what the upload counted provisionally.
    fn release(&mut self) {
        self.usage.sub_bytes(std::mem::take(&mut self.written));
        if std::mem::take(&mut self.file_reserved) {
            self.usage.sub_file();
        }
    }

    /// The upload is over: count the file as it now is. A committed create
    /// holds exactly the bytes written; anything else (a resume, an append,
    /// an abort that may leave part of the file) is read back. When its size
    /// cannot be read back, assume a commit produced what was written and an
    /// abort changed nothing.
    async fn settle(mut self, committed: bool) {
        let written = self.written;
        self.release();
        let expected = if !committed {
            self.old
        } else {
            Some(match self.mode {
                WriteMode::Create { .. } | WriteMode::At(0) => written,
                WriteMode::At(offset) => self.old.unwrap_or(0).min(offset).saturating_add(written),
                WriteMode::Append => self.old.unwrap_or(0).saturating_add(written),
            })
        };
        if committed && matches!(self.mode, WriteMode::Create { .. } | WriteMode::At(0)) {
            self.usage.replace(self.old, expected);
            self.usage.publish().await;
            return;
        }
        let new = match self.storage.metadata(&self.path).await {
            Ok(info) if info.is_file() => Some(info.size),
            Ok(_) => None,
            Err(e) if e.kind == ErrorKind::NotFound => None,
            Err(_) => expected,
        };
        self.usage.replace(self.old, new);
        self.usage.publish().await;
    }
}

/// An upload that counts its bytes against the quota.
struct QuotaUpload {
    /// `None` once committed or aborted.
    inner: Option<Box<dyn WriteHandle>>,
    /// `None` once settled.
    books: Option<Books>,
}

fn finished() -> io::Error {
    io::Error::other("upload already finished")
}

impl AsyncWrite for QuotaUpload {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let (Some(inner), Some(books)) = (this.inner.as_mut(), this.books.as_mut()) else {
            return Poll::Ready(Err(finished()));
        };
        let len = buf.len() as u64;
        // Count the bytes before writing them so concurrent uploads of the
        // account cannot pass the quota together; give back what is not written.
        if !books.usage.try_add_bytes(len, books.ceiling) {
            let limit = books.limit.unwrap_or(u64::MAX);
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::QuotaExceeded, bytes_exceeded(limit))));
        }
        let result = Pin::new(inner).poll_write(cx, buf);
        let kept = match &result {
            Poll::Ready(Ok(n)) => (*n as u64).min(len),
            _ => 0,
        };
        books.usage.sub_bytes(len - kept);
        books.written = books.written.saturating_add(kept);
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_flush(cx),
            None => Poll::Ready(Err(finished())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_shutdown(cx),
            None => Poll::Ready(Err(finished())),
        }
    }
}

#[async_trait]
impl WriteHandle for QuotaUpload {
    async fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        let Some(inner) = self.inner.take() else {
            return Err(StorageError::new(ErrorKind::Other, "upload already finished"));
        };
        let result = inner.commit().await;
        if let Some(books) = self.books.take() {
            books.settle(result.is_ok()).await;
        }
        result
    }

    async fn abort(mut self: Box<Self>) {
        if let Some(inner) = self.inner.take() {
            inner.abort().await;
        }
        if let Some(books) = self.books.take() {
            books.settle(false).await;
        }
    }
}

impl Drop for QuotaUpload {
    fn drop(&mut self) {
        // Dropped without commit or abort: the inner upload aborts as it
        // drops. Settle after that, in a task, since reading the size back
        // needs to await; without a runtime, just take back the provisional
        // counts.
        drop(self.inner.take());
        if let Some(mut books) = self.books.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn(books.settle(false))),
                Err(_) => books.release(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStorage;
    use crate::storage::{Capabilities, ReadHandle};
    use crate::test_util::helpers::{err_of, p, upload};
    use oxftp_proto::listing::FileInfo;
    use tokio::io::AsyncWriteExt;

    fn quota(bytes: Option<u64>, files: Option<u64>) -> QuotaLimits {
        QuotaLimits { bytes, files }
    }

    /// A memory storage with two files (10 + 5 bytes) in nested directories.
    fn seeded() -> MemoryStorage {
        let mem = MemoryStorage::new();
        mem.put_file(&p("/a/ten"), vec![1u8; 10]).unwrap();
        mem.put_file(&p("/a/b/c/five"), vec![2u8; 5]).unwrap();
        mem.create_dir_all(&p("/empty")).unwrap();
        mem
    }

    async fn layer(mem: &MemoryStorage, limits: QuotaLimits) -> Quota {
        let usage = Arc::new(QuotaUsage::measure(mem).await.unwrap());
        Quota::new(Arc::new(mem.clone()), limits, usage)
    }

    async fn write(s: &dyn Storage, path: &str, mode: WriteMode, data: &[u8]) -> Result<(), StorageError> {
        let mut w = s.open_write(&p(path), mode).await?;
        if let Err(e) = w.write_all(data).await {
            w.abort().await;
            return Err(e.into());
        }
        w.commit().await
    }

    fn assert_quota<T>(r: Result<T, StorageError>, message: &str) {
        let e = err_of(r);
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::InsufficientStorage, message));
    }

    #[tokio::test]
    async fn measure_counts_regular_files_in_the_whole_tree() {
        let usage = QuotaUsage::measure(&seeded()).await.unwrap();
        assert_eq!((usage.bytes(), usage.files()), (15, 2));
        let usage = QuotaUsage::measure(&MemoryStorage::new()).await.unwrap();
        assert_eq!((usage.bytes(), usage.files()), (0, 0));
    }

    /// A storage whose every directory holds one 5-byte file and a directory
    /// `d`, listed one entry per page; `unique` says whether `d` reports the
    /// same identity as its parent (a symlink loop) or none at all.
    #[derive(Debug)]
    struct Endless {
        unique: Option<&'static str>,
    }

    struct OneByOne(Vec<DirEntry>);

    #[async_trait]
    impl DirLister for OneByOne {
        async fn next_page(&mut self) -> Result<Option<Vec<DirEntry>>, StorageError> {
            Ok(self.0.pop().map(|e| vec![e]))
        }
    }

    fn info(kind: FileKind, size: u64, unique: Option<&str>) -> FileInfo {
        FileInfo {
            kind,
            size,
            mtime: None,
            mode: None,
            nlink: 1,
            owner: None,
            group: None,
            unique: unique.map(Into::into),
        }
    }

    #[async_trait]
    impl Storage for Endless {
        fn capabilities(&self) -> Capabilities {
            Capabilities::ALL
        }
        async fn metadata(&self, _: &VPath) -> Result<FileInfo, StorageError> {
            Ok(info(FileKind::Dir, 0, self.unique))
        }
        async fn list(&self, _: &VPath) -> Result<Box<dyn DirLister>, StorageError> {
            Ok(Box::new(OneByOne(vec![
                DirEntry { name: b"d".to_vec(), info: info(FileKind::Dir, 0, self.unique) },
                DirEntry { name: b"f".to_vec(), info: info(FileKind::File, 5, None) },
                DirEntry { name: b"link".to_vec(), info: info(FileKind::Symlink, 99, None) },
            ])))
        }
        async fn open_read(&self, _: &VPath, _: u64) -> Result<ReadHandle, StorageError> {
            Err(StorageError::not_found())
        }
        async fn open_write(&self, _: &VPath, _: WriteMode) -> Result<Box<dyn WriteHandle>, StorageError> {
            Err(StorageError::not_found())
        }
        async fn delete(&self, _: &VPath) -> Result<(), StorageError> {
            Ok(())
        }
        async fn mkdir(&self, _: &VPath) -> Result<(), StorageError> {
            Ok(())
        }
        async fn rmdir(&self, _: &VPath) -> Result<(), StorageError> {
            Ok(())
        }
        async fn rename(&self, _: &VPath, _: &VPath) -> Result<(), StorageError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn measure_stops_at_loops_and_at_the_depth_limit() {
        // `d` is its parent again: counted once, not followed.
        let usage = QuotaUsage::measure(&Endless { unique: Some("1") }).await.unwrap();
        assert_eq!((usage.bytes(), usage.files()), (5, 1));
        // No identities to compare: the depth limit ends the walk.
        let usage = QuotaUsage::measure(&Endless { unique: None }).await.unwrap();
        assert_eq!((usage.bytes(), usage.files()), (5 * MAX_WALK_DEPTH as u64, MAX_WALK_DEPTH as u64));
    }

    /// A memory storage with two quirks: `/bad` fails to list with `kind`,
    /// and an aborted upload keeps what was written, as a non-atomic disk
    /// backend writing in place does.
    #[derive(Debug)]
    struct BadDir(MemoryStorage, ErrorKind);

    /// An upload whose abort keeps the data.
    struct KeepPartial(Box<dyn WriteHandle>);

    impl AsyncWrite for KeepPartial {
        crate::policy::shaper::forward_write!(0: write, flush, shutdown);
    }

    #[async_trait]
    impl WriteHandle for KeepPartial {
        async fn commit(self: Box<Self>) -> Result<(), StorageError> {
            self.0.commit().await
        }
        async fn abort(self: Box<Self>) {
            let _ = self.0.commit().await;
        }
    }

    #[async_trait]
    impl Storage for BadDir {
        fn capabilities(&self) -> Capabilities {
            Capabilities::ALL
        }
        async fn metadata(&self, path: &VPath) -> Result<FileInfo, StorageError> {
            self.0.metadata(path).await
        }
        async fn list(&self, path: &VPath) -> Result<Box<dyn DirLister>, StorageError> {
            if path == &p("/bad") {
                return Err(StorageError::new(self.1, "cannot list"));
            }
            self.0.list(path).await
        }
        async fn open_read(&self, path: &VPath, offset: u64) -> Result<ReadHandle, StorageError> {
            self.0.open_read(path, offset).await
        }
        async fn open_write(&self, path: &VPath, mode: WriteMode) -> Result<Box<dyn WriteHandle>, StorageError> {
            Ok(Box::new(KeepPartial(self.0.open_write(path, mode).await?)))
        }
        async fn delete(&self, path: &VPath) -> Result<(), StorageError> {
            self.0.delete(path).await
        }
        async fn mkdir(&self, path: &VPath) -> Result<(), StorageError> {
            self.0.mkdir(path).await
        }
        async fn rmdir(&self, path: &VPath) -> Result<(), StorageError> {
            self.0.rmdir(path).await
        }
        async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), StorageError> {
            self.0.rename(from, to).await
        }
    }

    #[tokio::test]
    async fn unreadable_directories_are_skipped_other_errors_fail_and_are_not_cached() {
        let mem = seeded();
        mem.put_file(&p("/bad/hidden"), "xxx").unwrap();
        let denied = BadDir(mem.clone(), ErrorKind::PermissionDenied);
        let usage = QuotaUsage::measure(&denied).await.unwrap();
        assert_eq!((usage.bytes(), usage.files()), (15, 2));

        let registry = QuotaRegistry::new();
        let down = BadDir(mem.clone(), ErrorKind::Transient);
        assert_eq!(registry.usage_for("ann", &down).await.unwrap_err().kind, ErrorKind::Transient);
        let usage = registry.usage_for("ann", &mem).await.unwrap();
        assert_eq!((usage.bytes(), usage.files()), (18, 3));
        // A root that cannot be listed at all is an error too.
        let missing = crate::policy::Rooted::new(Arc::new(mem), p("/nowhere"));
        assert_eq!(QuotaUsage::measure(&missing).await.unwrap_err().kind, ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn registry_shares_one_counter_per_account_and_walks_once() {
        let mem = seeded();
        let registry = QuotaRegistry::new();
        let first = registry.usage_for("ann", &mem).await.unwrap();
        mem.put_file(&p("/later"), "1234").unwrap();
        let second = registry.usage_for("ann", &mem).await.unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(second.bytes(), 15);
        let bob = registry.usage_for("bob", &mem).await.unwrap();
        assert!(!Arc::ptr_eq(&first, &bob));
        assert_eq!(bob.bytes(), 19);
        registry.forget("ann");
        let again = registry.usage_for("ann", &mem).await.unwrap();
        assert!(!Arc::ptr_eq(&first, &again));
        assert_eq!((again.bytes(), again.files()), (19, 3));
    }

    #[tokio::test]
    async fn uploads_within_quota_are_counted() {
        let mem = seeded();
        let s = layer(&mem, quota(Some(100), Some(10))).await;
        upload(&s, "/new", &[0u8; 30]).await.unwrap();
        assert_eq!((s.usage().bytes(), s.usage().files()), (45, 3));
        upload(&s, "/empty/zero", b"").await.unwrap();
        assert_eq!((s.usage().bytes(), s.usage().files()), (45, 4));
        assert_eq!(s.capabilities(), mem.capabilities());
    }

    #[tokio::test]
    async fn a_write_over_the_byte_quota_fails_with_552_and_the_upload_is_dropped() {
        let mem = seeded();
        let s = layer(&mem, quota(Some(40), None)).await;
        let mut w = s.open_write(&p("/big"), WriteMode::Create { exclusive: false }).await.unwrap();
        w.write_all(&[0u8; 20]).await.unwrap();
        assert_eq!(s.usage().bytes(), 35);
        let e = w.write_all(&[0u8; 6]).await.unwrap_err();
        let e = StorageError::from(e);
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::InsufficientStorage, "Quota exceeded: 40 bytes allowed"));
        w.abort().await;
        assert_eq!(mem.metadata(&p("/big")).await.unwrap_err().kind, ErrorKind::NotFound);
        assert_eq!((s.usage().bytes(), s.usage().files()), (15, 2));
        // Exactly up to the quota is fine.
        upload(&s, "/fits", &[0u8; 25]).await.unwrap();
        assert_eq!(s.usage().bytes(), 40);
        // Full: refused before any data is sent.
        let full = s.open_write(&p("/more"), WriteMode::Create { exclusive: false }).await;
        assert_quota(full, "Quota exceeded: 40 bytes allowed");
        assert_eq!(s.usage().files(), 3);
    }

    #[tokio::test]
    async fn partial_data_a_non_atomic_backend_keeps_is_counted() {
        let mem = seeded();
        let disk = BadDir(mem.clone(), ErrorKind::PermissionDenied);
        let usage = Arc::new(QuotaUsage::measure(&disk).await.unwrap());
        let s = Quota::new(Arc::new(disk), quota(Some(40), None), usage);
        let over = write(&s, "/a/ten", WriteMode::Append, &[0u8; 30]).await;
        assert_quota(over, "Quota exceeded: 40 bytes allowed");
        // Nothing was written: the only write was refused whole.
        assert_eq!(s.usage().bytes(), 15);
        let mut w = s.open_write(&p("/a/ten"), WriteMode::Append).await.unwrap();
        w.write_all(&[0u8; 20]).await.unwrap();
        assert!(w.write_all(&[0u8; 20]).await.is_err());
        w.abort().await;
        // The 20 bytes that fitted stayed in the file and are counted.
        assert_eq!(mem.file_contents(&p("/a/ten")).unwrap().len(), 30);
        assert_eq!((s.usage().bytes(), s.usage().files()), (35, 2));
    }

    #[tokio::test]
    async fn replacing_a_file_frees_its_old_size() {
        let mem = seeded();
        let s = layer(&mem, quota(Some(15), None)).await;
        // Full, yet the 10-byte file can be replaced by one of up to 10 bytes.
        upload(&s, "/a/ten", &[9u8; 10]).await.unwrap();
        assert_eq!((s.usage().bytes(), s.usage().files()), (15, 2));
        upload(&s, "/a/ten", &[9u8; 4]).await.unwrap();
        assert_eq!((s.usage().bytes(), s.usage().files()), (9, 2));
        let over = write(&s, "/a/b/c/five", WriteMode::Create { exclusive: false }, &[0u8; 12]).await;
        assert_quota(over, "Quota exceeded: 15 bytes allowed");
        assert_eq!(mem.file_contents(&p("/a/b/c/five")).unwrap(), vec![2u8; 5]);
        assert_eq!(s.usage().bytes(), 9);
    }

    #[tokio::test]
    async fn resume_and_append_count_what_the_file_becomes() {
        let mem = seeded();
        let s = layer(&mem, quota(Some(20), None)).await;
        // REST 4 + STOR of 2 bytes: the 10-byte file becomes 6 bytes.
        write(&s, "/a/ten", WriteMode::At(4), b"xy").await.unwrap();
        assert_eq!(mem.file_contents(&p("/a/ten")).unwrap().len(), 6);
        assert_eq!(s.usage().bytes(), 11);
        write(&s, "/a/ten", WriteMode::Append, &[0u8; 9]).await.unwrap();
        assert_eq!(s.usage().bytes(), 20);
        let over = write(&s, "/a/b/c/five", WriteMode::Append, b"!").await;
        assert_quota(over, "Quota exceeded: 20 bytes allowed");
        assert_eq!((s.usage().bytes(), s.usage().files()), (20, 2));
        // Truncating by a resume frees room: keep 1 byte of 15, write 14.
        write(&s, "/a/ten", WriteMode::At(1), &[0u8; 14]).await.unwrap();
        assert_eq!(s.usage().bytes(), 20);
    }

    #[tokio::test]
    async fn new_files_beyond_the_file_quota_are_refused_at_open() {
        let mem = seeded();
        let s = layer(&mem, quota(None, Some(3))).await;
        upload(&s, "/third", b"3").await.unwrap();
        let fourth = s.open_write(&p("/fourth"), WriteMode::Create { exclusive: true }).await;
        assert_quota(fourth, "Quota exceeded: 3 files allowed");
        assert_quota(s.open_write(&p("/fourth"), WriteMode::Append).await, "Quota exceeded: 3 files allowed");
        // Existing files may still be rewritten, and directories are free.
        upload(&s, "/third", b"three").await.unwrap();
        s.mkdir(&p("/dir")).await.unwrap();
        s.rmdir(&p("/dir")).await.unwrap();
        assert_eq!((s.usage().bytes(), s.usage().files()), (20, 3));
        s.delete(&p("/third")).await.unwrap();
        assert_eq!(s.usage().files(), 2);
        // A refused open gives its file place back.
        let e = err_of(s.open_write(&p("/missing/x"), WriteMode::Create { exclusive: false }).await);
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(s.usage().files(), 2);
        upload(&s, "/again", b"").await.unwrap();
        assert_eq!(s.usage().files(), 3);
    }

    #[tokio::test]
    async fn delete_and_rename_over_a_file_free_space() {
        let mem = seeded();
        let s = layer(&mem, quota(Some(100), Some(100))).await;
        s.delete(&p("/a/ten")).await.unwrap();
        assert_eq!((s.usage().bytes(), s.usage().files()), (5, 1));
        assert_eq!(s.delete(&p("/a/ten")).await.unwrap_err().kind, ErrorKind::NotFound);
        assert_eq!((s.usage().bytes(), s.usage().files()), (5, 1));
        upload(&s, "/x", &[0u8; 7]).await.unwrap();
        s.rename(&p("/x"), &p("/a/b/c/five")).await.unwrap();
        assert_eq!((s.usage().bytes(), s.usage().files()), (7, 1));
        s.rename(&p("/a/b/c/five"), &p("/moved")).await.unwrap();
        s.rename(&p("/moved"), &p("/moved")).await.unwrap();
        assert_eq!((s.usage().bytes(), s.usage().files()), (7, 1));
        s.rmdir(&p("/empty")).await.unwrap();
        assert_eq!(QuotaUsage::measure(&mem).await.unwrap().bytes(), 7);
    }

    #[tokio::test]
    async fn sessions_of_one_account_share_the_quota() {
        let mem = seeded();
        let usage = Arc::new(QuotaUsage::measure(&mem).await.unwrap());
        let one = Quota::new(Arc::new(mem.clone()), quota(Some(35), None), Arc::clone(&usage));
        let two = Quota::new(Arc::new(mem.clone()), quota(Some(35), None), Arc::clone(&usage));
        let mut a = one.open_write(&p("/a1"), WriteMode::Create { exclusive: false }).await.unwrap();
        let mut b = two.open_write(&p("/b1"), WriteMode::Create { exclusive: false }).await.unwrap();
        a.write_all(&[0u8; 15]).await.unwrap();
        // Only 5 bytes are left for both together.
        assert!(b.write_all(&[0u8; 6]).await.is_err());
        b.write_all(&[0u8; 5]).await.unwrap();
        a.commit().await.unwrap();
        b.commit().await.unwrap();
        assert_eq!((usage.bytes(), usage.files()), (35, 4));
    }

    #[tokio::test]
    async fn a_dropped_upload_gives_back_what_it_counted() {
        let mem = seeded();
        let s = layer(&mem, quota(Some(100), Some(100))).await;
        let mut w = s.open_write(&p("/dropped"), WriteMode::Create { exclusive: false }).await.unwrap();
        w.write_all(&[0u8; 50]).await.unwrap();
        assert_eq!((s.usage().bytes(), s.usage().files()), (65, 3));
        drop(w);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!((s.usage().bytes(), s.usage().files()), (15, 2));
    }

    #[test]
    fn limits_convert_and_know_when_there_is_nothing_to_enforce() {
        let limits = Limits { quota_bytes: Some(5), ..Limits::default() };
        assert_eq!(QuotaLimits::from(&limits), quota(Some(5), None));
        assert!(QuotaLimits::from(&Limits::default()).is_unlimited());
        assert!(!quota(None, Some(1)).is_unlimited());
    }
}
