//! [`Counting`]: a storage wrapper that counts the calls reaching the storage
//! it wraps, so a test can show how many backend round trips (S3 requests, disk
//! system calls) one FTP command costs.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use oxftp_proto::listing::FileInfo;
use oxftp_proto::path::VPath;

use crate::auth::Identity;
use crate::storage::{
    Capabilities, DirLister, ReadHandle, Storage, StorageError, StorageFactory, WriteHandle, WriteMode,
};

/// One kind of storage call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Call {
    Metadata,
    List,
    OpenRead,
    OpenWrite,
    Delete,
    Mkdir,
    Rmdir,
    Rename,
    SetMode,
    SetMtime,
}

impl Call {
    /// Every kind, in a fixed order.
    pub const ALL: [Call; 10] = [
        Call::Metadata,
        Call::List,
        Call::OpenRead,
        Call::OpenWrite,
        Call::Delete,
        Call::Mkdir,
        Call::Rmdir,
        Call::Rename,
        Call::SetMode,
        Call::SetMtime,
    ];
}

/// Call counters, shared by every storage a [`Counting`] factory hands out.
#[derive(Default)]
pub struct Counts([AtomicU64; 10]);

impl Counts {
    fn bump(&self, call: Call) {
        self.0[call as usize].fetch_add(1, Ordering::SeqCst);
    }

    /// How many calls of `call` were made so far.
    pub fn get(&self, call: Call) -> u64 {
        self.0[call as usize].load(Ordering::SeqCst)
    }

    /// Every kind with a non-zero count, in [`Call::ALL`] order.
    pub fn snapshot(&self) -> Vec<(Call, u64)> {
        Call::ALL.into_iter().map(|c| (c, self.get(c))).filter(|(_, n)| *n > 0).collect()
    }

    /// Start counting from zero again.
    pub fn reset(&self) {
        for n in &self.0 {
            n.store(0, Ordering::SeqCst);
        }
    }
}

impl fmt::Debug for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.snapshot()).finish()
    }
}

/// Counts the calls that reach the storage it wraps, then passes them on unchanged.
#[derive(Debug, Clone)]
pub struct Counting {
    inner: Arc<dyn Storage>,
    counts: Arc<Counts>,
}

impl Counting {
    /// Count calls to `inner` in a fresh set of counters.
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        Counting { inner, counts: Arc::default() }
    }

    /// The counters (shared with every clone).
    pub fn counts(&self) -> Arc<Counts> {
        Arc::clone(&self.counts)
    }
}

#[async_trait]
impl Storage for Counting {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn metadata(&self, path: &VPath) -> Result<FileInfo, StorageError> {
        self.counts.bump(Call::Metadata);
        self.inner.metadata(path).await
    }

    async fn list(&self, path: &VPath) -> Result<Box<dyn DirLister>, StorageError> {
        self.counts.bump(Call::List);
        self.inner.list(path).await
    }

    async fn open_read(&self, path: &VPath, offset: u64) -> Result<ReadHandle, StorageError> {
        self.counts.bump(Call::OpenRead);
        self.inner.open_read(path, offset).await
    }

    async fn open_write(&self, path: &VPath, mode: WriteMode) -> Result<Box<dyn WriteHandle>, StorageError> {
        self.counts.bump(Call::OpenWrite);
        self.inner.open_write(path, mode).await
    }

    async fn delete(&self, path: &VPath) -> Result<(), StorageError> {
        self.counts.bump(Call::Delete);
        self.inner.delete(path).await
    }

    async fn mkdir(&self, path: &VPath) -> Result<(), StorageError> {
        self.counts.bump(Call::Mkdir);
        self.inner.mkdir(path).await
    }

    async fn rmdir(&self, path: &VPath) -> Result<(), StorageError> {
        self.counts.bump(Call::Rmdir);
        self.inner.rmdir(path).await
    }

    async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), StorageError> {
        self.counts.bump(Call::Rename);
        self.inner.rename(from, to).await
    }

    async fn set_mode(&self, path: &VPath, mode: u32) -> Result<(), StorageError> {
        self.counts.bump(Call::SetMode);
        self.inner.set_mode(path, mode).await
    }

    async fn set_mtime(&self, path: &VPath, unix_secs: i64) -> Result<(), StorageError> {
        self.counts.bump(Call::SetMtime);
        self.inner.set_mtime(path, unix_secs).await
    }
}

/// A factory whose every storage is a [`Counting`] over the inner factory's,
/// all sharing one set of counters.
#[derive(Debug, Clone)]
pub struct CountingFactory {
    inner: Arc<dyn StorageFactory>,
    counts: Arc<Counts>,
}

impl CountingFactory {
    /// Count the calls to every storage `inner` hands out.
    pub fn new(inner: Arc<dyn StorageFactory>) -> Self {
        CountingFactory { inner, counts: Arc::default() }
    }

    /// The counters (shared by every storage handed out).
    pub fn counts(&self) -> Arc<Counts> {
        Arc::clone(&self.counts)
    }
}

#[async_trait]
impl StorageFactory for CountingFactory {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn storage_for(&self, identity: &Identity) -> Result<Arc<dyn Storage>, StorageError> {
        let inner = self.inner.storage_for(identity).await?;
        Ok(Arc::new(Counting { inner, counts: Arc::clone(&self.counts) }))
    }

    async fn sweep_abandoned_uploads(&self) -> Result<crate::storage::SweepReport, StorageError> {
        self.inner.sweep_abandoned_uploads().await
    }

    fn backend_name(&self) -> &str {
        self.inner.backend_name()
    }

    async fn check(&self) -> Result<(), StorageError> {
        self.inner.check().await
    }
}
