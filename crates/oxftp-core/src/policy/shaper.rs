//! Shapers: layers that change some storage calls (map paths, count bytes,
//! pace transfers) and pass the others on unchanged. A [`Shaper`] says only
//! what it changes; every other call goes to its inner storage through the
//! trait's default methods, with paths through [`Shaper::map_path`]. Every
//! shaper is a [`Storage`] (a blanket implementation), in the manner of
//! Apache OpenDAL's `LayeredAccess`.

use std::borrow::Cow;
use std::fmt;

use async_trait::async_trait;
use oxftp_proto::listing::FileInfo;
use oxftp_proto::path::VPath;

use crate::storage::{Capabilities, DirLister, Existing, ReadHandle, Storage, StorageError, WriteHandle, WriteMode};

/// A storage layer that changes some calls of the storage it wraps and
/// passes the rest on. Implement [`inner`](Shaper::inner) and only the
/// calls the layer changes.
#[async_trait]
pub trait Shaper: Send + Sync + fmt::Debug {
    /// The storage this layer wraps.
    fn inner(&self) -> &dyn Storage;

    /// Where a path of this layer lies in the inner storage (default: the same path).
    fn map_path<'p>(&self, path: &'p VPath) -> Cow<'p, VPath> {
        Cow::Borrowed(path)
    }

    fn capabilities(&self) -> Capabilities {
        self.inner().capabilities()
    }

    async fn metadata(&self, path: &VPath) -> Result<FileInfo, StorageError> {
        self.inner().metadata(&self.map_path(path)).await
    }

    async fn list(&self, path: &VPath) -> Result<Box<dyn DirLister>, StorageError> {
        self.inner().list(&self.map_path(path)).await
    }

    async fn open_read(&self, path: &VPath, offset: u64) -> Result<ReadHandle, StorageError> {
        self.inner().open_read(&self.map_path(path), offset).await
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
        self.inner().open_write_known(&self.map_path(path), mode, existing).await
    }

    async fn delete(&self, path: &VPath) -> Result<(), StorageError> {
        self.inner().delete(&self.map_path(path)).await
    }

    async fn mkdir(&self, path: &VPath) -> Result<(), StorageError> {
        self.inner().mkdir(&self.map_path(path)).await
    }

    async fn rmdir(&self, path: &VPath) -> Result<(), StorageError> {
        self.inner().rmdir(&self.map_path(path)).await
    }

    async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), StorageError> {
        self.inner().rename(&self.map_path(from), &self.map_path(to)).await
    }

    async fn rename_source(&self, path: &VPath) -> Result<FileInfo, StorageError> {
        self.inner().rename_source(&self.map_path(path)).await
    }

    async fn set_mode(&self, path: &VPath, mode: u32) -> Result<(), StorageError> {
        self.inner().set_mode(&self.map_path(path), mode).await
    }

    async fn set_mtime(&self, path: &VPath, unix_secs: i64) -> Result<(), StorageError> {
        self.inner().set_mtime(&self.map_path(path), unix_secs).await
    }
}

#[async_trait]
impl<T: Shaper> Storage for T {
    fn capabilities(&self) -> Capabilities {
        Shaper::capabilities(self)
    }

    async fn metadata(&self, path: &VPath) -> Result<FileInfo, StorageError> {
        Shaper::metadata(self, path).await
    }

    async fn list(&self, path: &VPath) -> Result<Box<dyn DirLister>, StorageError> {
        Shaper::list(self, path).await
    }

    async fn open_read(&self, path: &VPath, offset: u64) -> Result<ReadHandle, StorageError> {
        Shaper::open_read(self, path, offset).await
    }

    async fn open_write(&self, path: &VPath, mode: WriteMode) -> Result<Box<dyn WriteHandle>, StorageError> {
        Shaper::open_write(self, path, mode).await
    }

    async fn open_write_known(
        &self,
        path: &VPath,
        mode: WriteMode,
        existing: Existing,
    ) -> Result<Box<dyn WriteHandle>, StorageError> {
        Shaper::open_write_known(self, path, mode, existing).await
    }

    async fn delete(&self, path: &VPath) -> Result<(), StorageError> {
        Shaper::delete(self, path).await
    }

    async fn mkdir(&self, path: &VPath) -> Result<(), StorageError> {
        Shaper::mkdir(self, path).await
    }

    async fn rmdir(&self, path: &VPath) -> Result<(), StorageError> {
        Shaper::rmdir(self, path).await
    }

    async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), StorageError> {
        Shaper::rename(self, from, to).await
    }

    async fn rename_source(&self, path: &VPath) -> Result<FileInfo, StorageError> {
        Shaper::rename_source(self, path).await
    }

    async fn set_mode(&self, path: &VPath, mode: u32) -> Result<(), StorageError> {
        Shaper::set_mode(self, path, mode).await
    }

    async fn set_mtime(&self, path: &VPath, unix_secs: i64) -> Result<(), StorageError> {
        Shaper::set_mtime(self, path, unix_secs).await
    }
}

/// `AsyncWrite` methods of an upload wrapper that pass straight through to
/// its field `$inner` (a `Box<dyn WriteHandle>`, by name or tuple index):
/// name the ones the wrapper does not change (`write`, `vectored`, `flush`,
/// `shutdown`).
macro_rules! forward_write {
    (@one $inner:tt write) => {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut *self.$inner).poll_write(cx, buf)
        }
    };
    (@one $inner:tt vectored) => {
        fn poll_write_vectored(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut *self.$inner).poll_write_vectored(cx, bufs)
        }

        fn is_write_vectored(&self) -> bool {
            self.$inner.is_write_vectored()
        }
    };
    (@one $inner:tt flush) => {
        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut *self.$inner).poll_flush(cx)
        }
    };
    (@one $inner:tt shutdown) => {
        fn poll_shutdown(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut *self.$inner).poll_shutdown(cx)
        }
    };
    ($inner:tt: $($method:ident),+) => {
        $($crate::policy::shaper::forward_write!(@one $inner $method);)+
    };
}
pub(crate) use forward_write;
