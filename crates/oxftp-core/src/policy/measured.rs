//! [`Measured`]: counts and times every call to the storage it wraps.
//!
//! The stack builder puts it right around the backend's storage, so what it
//! sees is what the backend did (one `metadata` per HEAD request on S3),
//! under every policy layer: a call a guard refused never reaches it.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use oxftp_proto::listing::FileInfo;
use oxftp_proto::path::VPath;

use crate::metrics::{StorageMetrics, StorageOp};
use crate::storage::{Capabilities, DirLister, Existing, ReadHandle, Storage, StorageError, WriteHandle, WriteMode};

/// A storage whose calls are counted and timed in the storage metrics
/// (`oxftp_storage_operations_total`, `..._errors_total`,
/// `..._operation_seconds`), labelled with its backend's name. An upload's
/// commit is an operation of its own; the bytes of a transfer are not
/// timed here (the transfer metrics have them).
#[derive(Debug)]
pub struct Measured {
    inner: Arc<dyn Storage>,
    metrics: StorageMetrics,
}

impl Measured {
    /// `inner`, measured into `metrics`.
    pub fn new(inner: Arc<dyn Storage>, metrics: StorageMetrics) -> Measured {
        Measured { inner, metrics }
    }

    /// Runs `call` as operation `op`, recording how long it took and how it failed.
    async fn measure<T>(
        &self,
        op: StorageOp,
        call: impl Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        let started = Instant::now();
        let result = call.await;
        self.metrics.operation(op, started.elapsed(), result.as_ref().err().map(|e| e.kind));
        result
    }
}

#[async_trait]
impl Storage for Measured {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn metadata(&self, path: &VPath) -> Result<FileInfo, StorageError> {
        self.measure(StorageOp::Metadata, self.inner.metadata(path)).await
    }

    async fn list(&self, path: &VPath) -> Result<Box<dyn DirLister>, StorageError> {
        self.measure(StorageOp::List, self.inner.list(path)).await
    }

    async fn open_read(&self, path: &VPath, offset: u64) -> Result<ReadHandle, StorageError> {
        self.measure(StorageOp::OpenRead, self.inner.open_read(path, offset)).await
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
        let upload = self.measure(StorageOp::OpenWrite, self.inner.open_write_known(path, mode, existing)).await?;
        Ok(Box::new(MeasuredUpload { inner: upload, metrics: self.metrics.clone() }))
    }

    async fn delete(&self, path: &VPath) -> Result<(), StorageError> {
        self.measure(StorageOp::Delete, self.inner.delete(path)).await
    }

    async fn mkdir(&self, path: &VPath) -> Result<(), StorageError> {
        self.measure(StorageOp::Mkdir, self.inner.mkdir(path)).await
    }

    async fn rmdir(&self, path: &VPath) -> Result<(), StorageError> {
        self.measure(StorageOp::Rmdir, self.inner.rmdir(path)).await
    }

    async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), StorageError> {
        self.measure(StorageOp::Rename, self.inner.rename(from, to)).await
    }

    async fn set_mode(&self, path: &VPath, mode: u32) -> Result<(), StorageError> {
        self.measure(StorageOp::SetMode, self.inner.set_mode(path, mode)).await
    }

    async fn set_mtime(&self, path: &VPath, unix_secs: i64) -> Result<(), StorageError> {
        self.measure(StorageOp::SetMtime, self.inner.set_mtime(path, unix_secs)).await
    }
}

/// An upload whose commit is measured; its bytes (and the local file of a
/// zero-copy receive) pass straight through.
struct MeasuredUpload {
    inner: Box<dyn WriteHandle>,
    metrics: StorageMetrics,
}

impl tokio::io::AsyncWrite for MeasuredUpload {
    super::shaper::forward_write!(inner: write, vectored, flush, shutdown);
}

#[async_trait]
impl WriteHandle for MeasuredUpload {
    async fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let MeasuredUpload { inner, metrics } = *self;
        let started = Instant::now();
        let result = inner.commit().await;
        metrics.operation(StorageOp::Commit, started.elapsed(), result.as_ref().err().map(|e| e.kind));
        result
    }

    async fn abort(self: Box<Self>) {
        self.inner.abort().await;
    }

    async fn local_file(&mut self) -> Result<Option<std::fs::File>, StorageError> {
        self.inner.local_file().await
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;

    use super::*;
    use crate::memory::MemoryStorage;
    use crate::metrics::Metrics;
    use crate::test_util::helpers::{p, read_all, upload};

    #[tokio::test]
    async fn every_call_is_counted_with_its_errors() {
        let mut registry = Registry::default();
        let metrics = Metrics::new(&mut registry, false);
        let mem = MemoryStorage::new();
        let s = Measured::new(Arc::new(mem.clone()), metrics.storage("memory"));
        upload(&s, "/a", b"abc").await.unwrap();
        assert_eq!(read_all(&s, "/a").await.unwrap(), b"abc");
        assert!(s.metadata(&p("/missing")).await.is_err());
        s.mkdir(&p("/d")).await.unwrap();
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for line in [
            "oxftp_storage_operations_total{backend=\"memory\",op=\"open_write\"} 1",
            "oxftp_storage_operations_total{backend=\"memory\",op=\"commit\"} 1",
            "oxftp_storage_operations_total{backend=\"memory\",op=\"open_read\"} 1",
            "oxftp_storage_operations_total{backend=\"memory\",op=\"metadata\"} 1",
            "oxftp_storage_operations_total{backend=\"memory\",op=\"mkdir\"} 1",
            "oxftp_storage_errors_total{backend=\"memory\",op=\"metadata\",kind=\"not_found\"} 1",
            "oxftp_storage_operation_seconds_count{backend=\"memory\",op=\"commit\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert_eq!(mem.file_contents(&p("/a")).unwrap(), b"abc");
    }
}
