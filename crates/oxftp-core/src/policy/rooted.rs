//! `Rooted`: confine a session to one directory of a shared storage.
//!
//! One backend (an object store, one big disk) can serve many users, each
//! seeing only their home as `/`. Every path the session names is nested
//! under the home before it reaches the inner storage. A [`VPath`] is already
//! normalised (no `.`, `..` or empty components, `..` stops at `/`), so the
//! nested path always lies inside the home: there is no string the client can
//! send that names anything above it.
//!
//! What the inner storage returns (listings, metadata, errors) passes through
//! unchanged: listing entries are names within a directory and carry no path.

use std::sync::Arc;

use async_trait::async_trait;
use oxftp_proto::listing::FileInfo;
use oxftp_proto::path::VPath;

use crate::storage::{Capabilities, DirLister, ReadHandle, Storage, StorageError, WriteHandle, WriteMode};

/// A storage whose `/` is `home` in the storage it wraps.
#[derive(Debug, Clone)]
pub struct Rooted {
    inner: Arc<dyn Storage>,
    home: VPath,
}

impl Rooted {
    /// Wrap `inner` so that the session's `/` is `home` in it.
    pub fn new(inner: Arc<dyn Storage>, home: VPath) -> Self {
        Rooted { inner, home }
    }

    /// The directory of the inner storage this one shows as `/`.
    pub fn home(&self) -> &VPath {
        &self.home
    }

    /// Where a session path lives in the inner storage.
    fn map(&self, path: &VPath) -> VPath {
        path.under(&self.home)
    }
}

#[async_trait]
impl Storage for Rooted {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn metadata(&self, path: &VPath) -> Result<FileInfo, StorageError> {
        self.inner.metadata(&self.map(path)).await
    }

    async fn list(&self, path: &VPath) -> Result<Box<dyn DirLister>, StorageError> {
        self.inner.list(&self.map(path)).await
    }

    async fn open_read(&self, path: &VPath, offset: u64) -> Result<ReadHandle, StorageError> {
        self.inner.open_read(&self.map(path), offset).await
    }

    async fn open_write(&self, path: &VPath, mode: WriteMode) -> Result<Box<dyn WriteHandle>, StorageError> {
        self.inner.open_write(&self.map(path), mode).await
    }

    async fn delete(&self, path: &VPath) -> Result<(), StorageError> {
        self.inner.delete(&self.map(path)).await
    }

    async fn mkdir(&self, path: &VPath) -> Result<(), StorageError> {
        self.inner.mkdir(&self.map(path)).await
    }

    async fn rmdir(&self, path: &VPath) -> Result<(), StorageError> {
        self.inner.rmdir(&self.map(path)).await
    }

    async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), StorageError> {
        self.inner.rename(&self.map(from), &self.map(to)).await
    }

    async fn set_mode(&self, path: &VPath, mode: u32) -> Result<(), StorageError> {
        self.inner.set_mode(&self.map(path), mode).await
    }

    async fn set_mtime(&self, path: &VPath, unix_secs: i64) -> Result<(), StorageError> {
        self.inner.set_mtime(&self.map(path), unix_secs).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStorage;
    use crate::policy::test_support::{list_names, p, read_all, upload};
    use crate::storage::ErrorKind;

    fn setup() -> (MemoryStorage, Rooted) {
        let mem = MemoryStorage::new();
        mem.put_file(&p("/home/ann/docs/a.txt"), "ann's").unwrap();
        mem.put_file(&p("/home/bob/secret"), "bob's").unwrap();
        mem.put_file(&p("/etc/passwd"), "root:x:0:0").unwrap();
        let rooted = Rooted::new(Arc::new(mem.clone()), p("/home/ann"));
        (mem, rooted)
    }

    #[tokio::test]
    async fn session_root_is_the_home() {
        let (mem, r) = setup();
        assert_eq!(r.home(), &p("/home/ann"));
        assert_eq!(list_names(&r, "/").await.unwrap(), vec![b"docs".to_vec()]);
        assert_eq!(read_all(&r, "/docs/a.txt").await.unwrap(), b"ann's");
        assert!(r.metadata(&p("/")).await.unwrap().is_dir());
        upload(&r, "/docs/new", b"up").await.unwrap();
        assert_eq!(mem.file_contents(&p("/home/ann/docs/new")).unwrap(), b"up");
        r.mkdir(&p("/sub")).await.unwrap();
        r.rename(&p("/docs/new"), &p("/sub/moved")).await.unwrap();
        assert_eq!(mem.file_contents(&p("/home/ann/sub/moved")).unwrap(), b"up");
        r.set_mode(&p("/sub/moved"), 0o600).await.unwrap();
        r.set_mtime(&p("/sub/moved"), 1000).await.unwrap();
        let info = mem.metadata(&p("/home/ann/sub/moved")).await.unwrap();
        assert_eq!((info.mode, info.mtime), (Some(0o600), Some(1000)));
        r.delete(&p("/sub/moved")).await.unwrap();
        r.rmdir(&p("/sub")).await.unwrap();
        assert_eq!(kind_of(mem.metadata(&p("/home/ann/sub")).await), ErrorKind::NotFound);
        assert_eq!(r.capabilities(), mem.capabilities());
    }

    fn kind_of<T>(r: Result<T, StorageError>) -> ErrorKind {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.kind,
        }
    }

    #[tokio::test]
    async fn no_path_reaches_outside_the_home() {
        let (mem, r) = setup();
        // Whatever the client sends, the engine resolves it to a VPath first.
        for attempt in ["../bob/secret", "/../../etc/passwd", "docs/../../../etc/passwd", "/home/bob/secret"] {
            let path = VPath::root().resolve(attempt.as_bytes()).unwrap();
            assert!(path.under(r.home()).starts_with(r.home()));
            assert_eq!(kind_of(r.open_read(&path, 0).await), ErrorKind::NotFound, "{attempt}");
        }
        assert_eq!(kind_of(r.list(&p("/home")).await), ErrorKind::NotFound);
        assert_eq!(kind_of(r.delete(&p("/../bob/secret")).await), ErrorKind::NotFound);
        let up = VPath::root().resolve(b"../../etc/passwd").unwrap();
        upload(&r, "/x", b"1").await.unwrap();
        r.rename(&p("/x"), &up).await.unwrap_err();
        assert_eq!(mem.file_contents(&p("/etc/passwd")).unwrap(), b"root:x:0:0");
        assert_eq!(mem.file_contents(&p("/home/bob/secret")).unwrap(), b"bob's");
    }

    #[tokio::test]
    async fn stacked_roots_nest() {
        let (_mem, r) = setup();
        let inner = Rooted::new(Arc::new(r), p("/docs"));
        assert_eq!(read_all(&inner, "/a.txt").await.unwrap(), b"ann's");
    }
}
