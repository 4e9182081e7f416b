//! `ReadOnly`: an account that may look and download but change nothing.
//!
//! The refusal is a permission, not a capability: `capabilities()` stays the
//! inner storage's, so FEAT answers the same for every user of a server and a
//! refused write gets 550 "Permission denied", not 502 "not implemented".

use std::sync::Arc;

use async_trait::async_trait;
use oxftp_proto::listing::FileInfo;
use oxftp_proto::path::VPath;

use crate::storage::{Capabilities, DirLister, ErrorKind, ReadHandle, Storage, StorageError, WriteHandle, WriteMode};

/// The text every refused write carries.
pub const READ_ONLY_MESSAGE: &str = "Permission denied: read-only account";

/// A storage that passes reads to the one it wraps and refuses every write.
#[derive(Debug, Clone)]
pub struct ReadOnly {
    inner: Arc<dyn Storage>,
}

impl ReadOnly {
    /// Wrap `inner` so that only reads reach it.
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        ReadOnly { inner }
    }
}

fn refused() -> StorageError {
    StorageError::new(ErrorKind::PermissionDenied, READ_ONLY_MESSAGE)
}

#[async_trait]
impl Storage for ReadOnly {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn metadata(&self, path: &VPath) -> Result<FileInfo, StorageError> {
        self.inner.metadata(path).await
    }

    async fn list(&self, path: &VPath) -> Result<Box<dyn DirLister>, StorageError> {
        self.inner.list(path).await
    }

    async fn open_read(&self, path: &VPath, offset: u64) -> Result<ReadHandle, StorageError> {
        self.inner.open_read(path, offset).await
    }

    async fn open_write(&self, _path: &VPath, _mode: WriteMode) -> Result<Box<dyn WriteHandle>, StorageError> {
        Err(refused())
    }

    async fn delete(&self, _path: &VPath) -> Result<(), StorageError> {
        Err(refused())
    }

    async fn mkdir(&self, _path: &VPath) -> Result<(), StorageError> {
        Err(refused())
    }

    async fn rmdir(&self, _path: &VPath) -> Result<(), StorageError> {
        Err(refused())
    }

    async fn rename(&self, _from: &VPath, _to: &VPath) -> Result<(), StorageError> {
        Err(refused())
    }

    async fn set_mode(&self, _path: &VPath, _mode: u32) -> Result<(), StorageError> {
        Err(refused())
    }

    async fn set_mtime(&self, _path: &VPath, _unix_secs: i64) -> Result<(), StorageError> {
        Err(refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStorage;
    use crate::policy::test_support::{list_names, p, read_all};

    fn setup() -> (MemoryStorage, ReadOnly) {
        let mem = MemoryStorage::new();
        mem.put_file(&p("/pub/file"), "data").unwrap();
        mem.create_dir_all(&p("/pub/empty")).unwrap();
        (mem.clone(), ReadOnly::new(Arc::new(mem)))
    }

    fn assert_refused<T>(r: Result<T, StorageError>) {
        let Err(e) = r else { panic!("expected a refusal") };
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert_eq!(e.message, READ_ONLY_MESSAGE);
    }

    #[tokio::test]
    async fn reads_pass_through() {
        let (mem, ro) = setup();
        assert_eq!(read_all(&ro, "/pub/file").await.unwrap(), b"data");
        assert_eq!(list_names(&ro, "/pub").await.unwrap(), vec![b"empty".to_vec(), b"file".to_vec()]);
        assert_eq!(ro.metadata(&p("/pub/file")).await.unwrap().size, 4);
        // Errors of the inner storage are not disguised as refusals.
        assert_eq!(ro.metadata(&p("/none")).await.unwrap_err().kind, ErrorKind::NotFound);
        assert_eq!(ro.capabilities(), mem.capabilities());
    }

    #[tokio::test]
    async fn every_write_is_refused_and_nothing_changes() {
        let (mem, ro) = setup();
        for mode in [
            WriteMode::Create { exclusive: false },
            WriteMode::Create { exclusive: true },
            WriteMode::At(0),
            WriteMode::Append,
        ] {
            assert_refused(ro.open_write(&p("/pub/new"), mode).await);
            assert_refused(ro.open_write(&p("/pub/file"), mode).await);
        }
        assert_refused(ro.delete(&p("/pub/file")).await);
        assert_refused(ro.mkdir(&p("/pub/dir")).await);
        assert_refused(ro.rmdir(&p("/pub/empty")).await);
        assert_refused(ro.rename(&p("/pub/file"), &p("/pub/moved")).await);
        assert_refused(ro.set_mode(&p("/pub/file"), 0o777).await);
        assert_refused(ro.set_mtime(&p("/pub/file"), 0).await);
        assert_eq!(mem.file_contents(&p("/pub/file")).unwrap(), b"data");
        let info = mem.metadata(&p("/pub/file")).await.unwrap();
        assert_eq!(info.mode, Some(0o644));
        assert_ne!(info.mtime, Some(0));
        assert!(mem.metadata(&p("/pub/empty")).await.unwrap().is_dir());
        assert_eq!(mem.entry_count(), 3);
    }
}
