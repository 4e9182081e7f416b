//! Uploads: a [`WriteHandle`] over an OpenDAL [`opendal::Writer`].
//!
//! Bytes from the data connection are copied once, into a staging block of
//! [`STAGING_BYTES`] from the upload's pool of recycled blocks (see
//! `blocks.rs` for why they are recycled). A full block goes to the OpenDAL writer
//! as [`bytes::Bytes`] (no second copy) on a spawned task, so the upload of one
//! block overlaps the receipt of the next. The OpenDAL writer gathers blocks
//! into `chunk`-sized multipart parts (a chain of blocks, not a concatenated
//! copy) and uploads up to `concurrent` of them at once; a sent part's blocks
//! return to the pool. Memory per upload therefore stays near
//!
//! ```text
//! (upload_concurrency + 2) * chunk_size + 2 * STAGING_BYTES
//! ```
//!
//! whatever the file size: `concurrent` parts in flight, one finished part
//! that OpenDAL holds back until it knows whether more follow (a file of one
//! part is a single PutObject), one part being gathered, and the staging
//! block being filled while the previous one is handed over.
//!
//! Nothing is visible under the final key until `commit` (S3:
//! CompleteMultipartUpload, or one PutObject for small files). `abort`, a
//! failed write, and dropping the handle uncommitted all abort the writer
//! (S3: AbortMultipartUpload), which leaves no object and no dangling parts.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use async_trait::async_trait;
use oxftp_core::storage::{ErrorKind, StorageError, WriteHandle};
use oxftp_proto::path::VPath;
use tokio::io::AsyncWrite;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::blocks::BlockPool;
use crate::error::{map_error, to_io};
use crate::events::UploadListener;

/// The most bytes staged before they go to the OpenDAL writer: the size of
/// one pooled block. Large enough that handing a block over (one spawned
/// task) costs nothing next to the bytes in it; small next to a part.
pub const STAGING_BYTES: usize = 1024 * 1024;

type Step = JoinHandle<(opendal::Writer, opendal::Result<()>)>;

enum State {
    /// The writer is free.
    Idle(opendal::Writer),
    /// A batch is being written on a task that hands the writer back.
    Busy(Step),
    /// Committed, aborted, or lost to a failed task.
    Done,
}

/// An upload in progress; see the module documentation.
pub struct ObjectWriter {
    state: State,
    /// The block being filled (taken from the pool at the first byte, so an
    /// empty upload or the end of one allocates nothing).
    staged: Vec<u8>,
    pool: Arc<BlockPool>,
    written: u64,
    failed: Option<StorageError>,
    path: VPath,
    runtime: Handle,
    listener: Option<Arc<dyn UploadListener>>,
    logger: slog::Logger,
}

impl ObjectWriter {
    /// Wrap an open OpenDAL writer for `path`, staging in blocks of
    /// `staging_limit` bytes (at least 1). Must be called inside a Tokio runtime.
    pub fn new(
        writer: opendal::Writer,
        path: VPath,
        staging_limit: usize,
        listener: Option<Arc<dyn UploadListener>>,
        logger: slog::Logger,
    ) -> Result<Self, StorageError> {
        let runtime =
            Handle::try_current().map_err(|_| StorageError::new(ErrorKind::Other, "uploads need a Tokio runtime"))?;
        let pool = BlockPool::new(staging_limit);
        Ok(ObjectWriter {
            state: State::Idle(writer),
            staged: Vec::new(),
            pool,
            written: 0,
            failed: None,
            path,
            runtime,
            listener,
            logger,
        })
    }

    /// Hand the staged bytes to the writer on a task. Only called when idle.
    fn start_step(&mut self) {
        let State::Idle(mut writer) = std::mem::replace(&mut self.state, State::Done) else {
            return;
        };
        let block = std::mem::take(&mut self.staged);
        let batch = BlockPool::freeze(&self.pool, block);
        self.state = State::Busy(self.runtime.spawn(async move {
            let result = writer.write(batch).await;
            (writer, result)
        }));
    }

    /// Wait for a running step; records and returns its failure.
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StorageError>> {
        if let Some(e) = &self.failed {
            return Poll::Ready(Err(e.clone()));
        }
        let State::Busy(step) = &mut self.state else {
            return Poll::Ready(Ok(()));
        };
        let outcome = ready!(Pin::new(step).poll(cx));
        let err = match outcome {
            Ok((writer, Ok(()))) => {
                self.state = State::Idle(writer);
                return Poll::Ready(Ok(()));
            }
            Ok((writer, Err(e))) => {
                // Keep the writer so abort can still clean up the multipart upload.
                self.state = State::Idle(writer);
                map_error("upload", &e)
            }
            Err(join) => {
                self.state = State::Done;
                StorageError::new(ErrorKind::Other, format!("upload task failed: {join}"))
            }
        };
        self.failed = Some(err.clone());
        Poll::Ready(Err(err))
    }

    /// Push everything staged into the writer and wait until it took it.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StorageError>> {
        loop {
            ready!(self.poll_step(cx))?;
            match self.state {
                State::Idle(_) if !self.staged.is_empty() => self.start_step(),
                State::Idle(_) => return Poll::Ready(Ok(())),
                State::Busy(_) => {}
                State::Done => return Poll::Ready(Err(closed())),
            }
        }
    }

    /// The writer back from whatever holds it (waiting for a running step).
    async fn take_writer(&mut self) -> Option<opendal::Writer> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Idle(w) => Some(w),
            State::Busy(step) => step.await.ok().map(|(w, _)| w),
            State::Done => None,
        }
    }
}

fn closed() -> StorageError {
    StorageError::new(ErrorKind::Other, "upload already finished")
}

impl AsyncWrite for ObjectWriter {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(e) = &this.failed {
            return Poll::Ready(Err(to_io(e.clone())));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let limit = this.pool.block_size();
        while this.staged.len() >= limit {
            ready!(this.poll_step(cx)).map_err(to_io)?;
            match this.state {
                State::Idle(_) => this.start_step(),
                State::Busy(_) => {}
                State::Done => return Poll::Ready(Err(to_io(closed()))),
            }
        }
        if this.staged.capacity() == 0 {
            this.staged = this.pool.take();
        }
        let n = buf.len().min(limit - this.staged.len());
        this.staged.extend_from_slice(&buf[..n]);
        this.written += n as u64;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_drain(cx).map_err(to_io)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Completing the object is `commit`'s job; shutdown only drains.
        self.poll_drain(cx).map_err(to_io)
    }
}

#[async_trait]
impl WriteHandle for ObjectWriter {
    async fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        if let Err(e) = std::future::poll_fn(|cx| self.poll_drain(cx)).await {
            if let Some(mut w) = self.take_writer().await {
                let _ = w.abort().await;
            }
            return Err(e);
        }
        let Some(mut writer) = self.take_writer().await else {
            return Err(closed());
        };
        if let Err(e) = writer.close().await {
            let err = map_error("upload", &e);
            slog::warn!(self.logger, "upload failed at commit";
                "path" => %self.path, "error" => %e);
            let _ = writer.abort().await;
            return Err(err);
        }
        slog::info!(self.logger, "upload complete"; "path" => %self.path, "bytes" => self.written);
        if let Some(listener) = &self.listener {
            listener.upload_complete(&self.path, self.written);
        }
        Ok(())
    }

    async fn abort(mut self: Box<Self>) {
        if let Some(mut writer) = self.take_writer().await
            && let Err(e) = writer.abort().await
        {
            slog::warn!(self.logger, "aborting an upload failed";
                "path" => %self.path, "error" => %e);
        }
        slog::info!(self.logger, "upload aborted"; "path" => %self.path, "bytes" => self.written);
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        // Dropped uncommitted: abort on a task, as Drop cannot wait.
        let state = std::mem::replace(&mut self.state, State::Done);
        if matches!(state, State::Done) {
            return;
        }
        let logger = self.logger.clone();
        let path = self.path.clone();
        let abort = async move {
            let writer = match state {
                State::Idle(w) => Some(w),
                State::Busy(step) => step.await.ok().map(|(w, _)| w),
                State::Done => None,
            };
            if let Some(mut w) = writer {
                if let Err(e) = w.abort().await {
                    slog::warn!(logger, "aborting a dropped upload failed";
                        "path" => %path, "error" => %e);
                } else {
                    slog::info!(logger, "dropped upload aborted"; "path" => %path);
                }
            }
        };
        self.runtime.spawn(abort);
    }
}
