//! Guards: layers that only allow or refuse. A [`Guard`] sees every storage
//! call as an [`Op`] and decides with one exhaustive `match`; [`Guarded`] is
//! the one `Storage` implementation that asks it before passing a call on.
//! A storage call added to the trait becomes a new `Op` variant, so every
//! guard fails to compile until it decides about it: nothing passes through
//! a guard unchecked.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use oxftp_proto::listing::FileInfo;
use oxftp_proto::path::VPath;
use tokio::io::AsyncWrite;

use crate::storage::{Capabilities, DirLister, Existing, ReadHandle, Storage, StorageError, WriteHandle, WriteMode};

/// One storage call, as a guard sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    /// `metadata`.
    Metadata { path: &'a VPath },
    /// `list`.
    List { path: &'a VPath },
    /// `open_read`.
    Read { path: &'a VPath, offset: u64 },
    /// `open_write`. `existing` is what is at `path` when the guard asked
    /// for it ([`Guard::needs_existing`]); otherwise it may be
    /// [`Existing::Unknown`].
    Write { path: &'a VPath, mode: WriteMode, existing: Existing },
    /// `delete`.
    Delete { path: &'a VPath },
    /// `mkdir`.
    Mkdir { path: &'a VPath },
    /// `rmdir`.
    Rmdir { path: &'a VPath },
    /// `rename`.
    Rename { from: &'a VPath, to: &'a VPath },
    /// `rename_source` (RNFR): may something be renamed away from `path`,
    /// wherever it goes? (A lookup of `path` too.)
    RenameFrom { path: &'a VPath },
    /// `set_mode`.
    SetMode { path: &'a VPath, mode: u32 },
    /// `set_mtime`.
    SetMtime { path: &'a VPath, unix_secs: i64 },
}

/// An access rule over storage calls.
///
/// A rule is a permission, not a capability: `capabilities()` stays the
/// inner storage's, so FEAT answers the same for every user of a server and
/// a refusal is 550, not 502.
pub trait Guard: Send + Sync + fmt::Debug + 'static {
    /// Whether [`Guard::write_error`] changes errors: then a write's commit
    /// is mapped too (its upload is wrapped), not only its open.
    const MAPS_WRITE_ERRORS: bool = false;

    /// Allow `op` (`Ok`) or refuse it with the error the client sees.
    fn check(&self, op: &Op<'_>) -> Result<(), StorageError>;

    /// Whether deciding about a write in `mode` needs to know what is at its
    /// path. [`Guarded`] then looks it up before [`check`](Guard::check),
    /// once, and hands the result down to the layers below.
    fn needs_existing(&self, mode: WriteMode) -> bool {
        let _ = mode;
        false
    }

    /// The mode an allowed write opens with. A guard may narrow it (make a
    /// create exclusive), never widen it. Default: as asked.
    fn write_mode(&self, path: &VPath, mode: WriteMode, existing: Existing) -> WriteMode {
        let _ = (path, existing);
        mode
    }

    /// What the client sees when an allowed write fails at open or commit.
    /// Default: the error as it is.
    fn write_error(&self, error: StorageError) -> StorageError {
        error
    }
}

/// A storage that asks its [`Guard`] about every call before passing it to
/// the storage it wraps.
#[derive(Debug, Clone)]
pub struct Guarded<G> {
    inner: Arc<dyn Storage>,
    guard: Arc<G>,
}

impl<G: Guard> Guarded<G> {
    /// `inner` under `guard`.
    pub fn new(inner: Arc<dyn Storage>, guard: G) -> Self {
        Guarded { inner, guard: Arc::new(guard) }
    }

    /// The rule this layer enforces.
    pub fn guard(&self) -> &G {
        &self.guard
    }
}

#[async_trait]
impl<G: Guard> Storage for Guarded<G> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn metadata(&self, path: &VPath) -> Result<FileInfo, StorageError> {
        self.guard.check(&Op::Metadata { path })?;
        self.inner.metadata(path).await
    }

    async fn list(&self, path: &VPath) -> Result<Box<dyn DirLister>, StorageError> {
        self.guard.check(&Op::List { path })?;
        self.inner.list(path).await
    }

    async fn open_read(&self, path: &VPath, offset: u64) -> Result<ReadHandle, StorageError> {
        self.guard.check(&Op::Read { path, offset })?;
        self.inner.open_read(path, offset).await
    }

    async fn open_write(&self, path: &VPath, mode: WriteMode) -> Result<Box<dyn WriteHandle>, StorageError> {
        self.open_write_known(path, mode, Existing::Unknown).await
    }

    async fn open_write_known(
        &self,
        path: &VPath,
        mode: WriteMode,
        existing: Existing,
    ) -> Result<Box<dyn WriteHandle>, StorageError> {
        let existing = if self.guard.needs_existing(mode) {
            existing.or_lookup(self.inner.as_ref(), path).await
        } else {
            existing
        };
        self.guard.check(&Op::Write { path, mode, existing })?;
        let mode = self.guard.write_mode(path, mode, existing);
        let handle = self.inner.open_write_known(path, mode, existing).await.map_err(|e| self.guard.write_error(e))?;
        if !G::MAPS_WRITE_ERRORS {
            return Ok(handle);
        }
        Ok(Box::new(GuardedUpload { inner: handle, guard: Arc::clone(&self.guard) }))
    }

    async fn delete(&self, path: &VPath) -> Result<(), StorageError> {
        self.guard.check(&Op::Delete { path })?;
        self.inner.delete(path).await
    }

    async fn mkdir(&self, path: &VPath) -> Result<(), StorageError> {
        self.guard.check(&Op::Mkdir { path })?;
        self.inner.mkdir(path).await
    }

    async fn rmdir(&self, path: &VPath) -> Result<(), StorageError> {
        self.guard.check(&Op::Rmdir { path })?;
        self.inner.rmdir(path).await
    }

    async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), StorageError> {
        self.guard.check(&Op::Rename { from, to })?;
        self.inner.rename(from, to).await
    }

    async fn rename_source(&self, path: &VPath) -> Result<FileInfo, StorageError> {
        self.guard.check(&Op::RenameFrom { path })?;
        self.inner.rename_source(path).await
    }

    async fn set_mode(&self, path: &VPath, mode: u32) -> Result<(), StorageError> {
        self.guard.check(&Op::SetMode { path, mode })?;
        self.inner.set_mode(path, mode).await
    }

    async fn set_mtime(&self, path: &VPath, unix_secs: i64) -> Result<(), StorageError> {
        self.guard.check(&Op::SetMtime { path, unix_secs })?;
        self.inner.set_mtime(path, unix_secs).await
    }
}

/// An allowed upload whose commit errors go through the guard's
/// [`write_error`](Guard::write_error) too.
struct GuardedUpload<G> {
    inner: Box<dyn WriteHandle>,
    guard: Arc<G>,
}

impl<G: Guard> AsyncWrite for GuardedUpload<G> {
    super::shaper::forward_write!(inner: write, vectored, flush, shutdown);
}

#[async_trait]
impl<G: Guard> WriteHandle for GuardedUpload<G> {
    async fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let GuardedUpload { inner, guard } = *self;
        inner.commit().await.map_err(|e| guard.write_error(e))
    }

    async fn abort(self: Box<Self>) {
        self.inner.abort().await
    }

    async fn local_file(&mut self) -> Result<Option<std::fs::File>, StorageError> {
        // The bytes may bypass us; the guard's mapping happens at commit.
        self.inner.local_file().await
    }
}
