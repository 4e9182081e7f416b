//! Uploads through their `put`, which wants a reader and runs to the end of
//! it, behind our `WriteHandle`, which is written to and then committed.
//!
//! The handle writes into one end of an in-memory pipe; a task runs `put`
//! with the other end as its reader. `commit` marks the upload complete and
//! closes the pipe, so `put` sees the end of the file; `abort` (or dropping
//! the handle) closes it without that mark, so `put` reads an error instead
//! of a short file and fails. A staged upload (see [`Uploads`](crate::Uploads))
//! then removes its part file, and a complete one is renamed into place, in
//! the same task, so a commit whose caller goes away still finishes.

use std::future::Future as _;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use async_trait::async_trait;
use oxftp_core::storage::{ErrorKind, StorageError, WriteHandle};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::task::JoinHandle;
use unftp_core::auth::UserDetail;
use unftp_core::storage::StorageBackend;

use crate::error::{io_error, storage_error};

/// Bytes in flight between the handle and the back-end's `put`.
const PIPE_BYTES: usize = 256 * 1024;

/// Where the bytes go and what happens when they are all there.
pub(crate) enum Plan {
    /// `put` writes the final name directly.
    Direct,
    /// `put` writes a part file, renamed over `target` when complete (unless
    /// `exclusive` and something appeared there meanwhile), removed otherwise.
    Staged { target: PathBuf, exclusive: bool },
}

/// The reading end `put` gets: the pipe, where the end of the data is an
/// error unless the upload was marked complete first.
struct Incoming {
    pipe: DuplexStream,
    complete: Arc<AtomicBool>,
}

impl AsyncRead for Incoming {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.pipe).poll_read(cx, buf))?;
        if buf.filled().len() == before && buf.remaining() > 0 && !self.complete.load(Ordering::Acquire) {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionAborted, "upload aborted")));
        }
        Poll::Ready(Ok(()))
    }
}

/// An upload running in the back-end's `put`.
pub(crate) struct Upload {
    pipe: Option<DuplexStream>,
    complete: Arc<AtomicBool>,
    task: Option<JoinHandle<Result<(), StorageError>>>,
    /// The task's result once it was collected.
    outcome: Option<Result<(), StorageError>>,
}

impl Upload {
    /// Start `put` of `path` from `start` (a part file's path for a staged plan).
    pub(crate) fn start<B, U>(backend: Arc<B>, user: Arc<U>, path: PathBuf, start: u64, plan: Plan) -> Upload
    where
        B: StorageBackend<U> + 'static,
        U: UserDetail + 'static,
    {
        let (ours, theirs) = tokio::io::duplex(PIPE_BYTES);
        let complete = Arc::new(AtomicBool::new(false));
        let incoming = Incoming { pipe: theirs, complete: Arc::clone(&complete) };
        let task = tokio::spawn(run(backend, user, incoming, path, start, plan));
        Upload { pipe: Some(ours), complete, task: Some(task), outcome: None }
    }

    /// The task's result, once it has finished.
    fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StorageError>> {
        if let Some(outcome) = &self.outcome {
            return Poll::Ready(outcome.clone());
        }
        let Some(task) = self.task.as_mut() else {
            return Poll::Ready(Err(StorageError::new(ErrorKind::Other, "upload already finished")));
        };
        let outcome = match ready!(Pin::new(task).poll(cx)) {
            Ok(result) => result,
            Err(e) => Err(StorageError::new(ErrorKind::Other, format!("storage back-end task failed: {e}"))),
        };
        self.task = None;
        self.outcome = Some(outcome.clone());
        Poll::Ready(outcome)
    }

    async fn outcome(&mut self) -> Result<(), StorageError> {
        std::future::poll_fn(|cx| self.poll_outcome(cx)).await
    }
}

/// The task: `put`, then publish or clean up.
async fn run<B, U>(
    backend: Arc<B>,
    user: Arc<U>,
    incoming: Incoming,
    path: PathBuf,
    start: u64,
    plan: Plan,
) -> Result<(), StorageError>
where
    B: StorageBackend<U> + 'static,
    U: UserDetail + 'static,
{
    let put = backend.put(&*user, incoming, path.clone(), start).await.map(drop).map_err(|e| storage_error(&e));
    let Plan::Staged { target, exclusive } = plan else {
        return put;
    };
    let result = match put {
        Ok(()) => publish(backend.as_ref(), &user, path.clone(), target, exclusive).await,
        Err(e) => Err(e),
    };
    if result.is_err() {
        // The part file goes, whatever went wrong; a failure to remove it
        // leaves a hidden name that listings do not show.
        let _ = backend.del(&*user, path).await;
    }
    result
}

/// Rename a complete part file over its target.
async fn publish<B, U>(
    backend: &B,
    user: &U,
    part: PathBuf,
    target: PathBuf,
    exclusive: bool,
) -> Result<(), StorageError>
where
    B: StorageBackend<U>,
    U: UserDetail,
{
    // Their trait has no "rename unless the target exists": checked just
    // before, which narrows the race to this one call.
    if exclusive && backend.metadata(user, target.clone()).await.is_ok() {
        return Err(StorageError::new(ErrorKind::AlreadyExists, "File exists"));
    }
    backend.rename(user, part, target).await.map_err(|e| storage_error(&e))
}

impl AsyncWrite for Upload {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let Some(pipe) = self.pipe.as_mut() else {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "upload already finished")));
        };
        match ready!(Pin::new(pipe).poll_write(cx, buf)) {
            // The back-end stopped reading: its `put` ended, and why is the answer.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                let outcome = ready!(self.poll_outcome(cx));
                Poll::Ready(Err(match outcome {
                    Err(e) => io_error(&e),
                    Ok(()) => io::Error::other("the storage back-end stopped reading the upload before its end"),
                }))
            }
            other => Poll::Ready(other),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.pipe.as_mut() {
            Some(pipe) => Pin::new(pipe).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Only flushes: the upload ends with `commit` or `abort`.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[async_trait]
impl WriteHandle for Upload {
    async fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        self.complete.store(true, Ordering::Release);
        drop(self.pipe.take());
        self.outcome().await
    }

    async fn abort(mut self: Box<Self>) {
        drop(self.pipe.take());
        let _ = self.outcome().await;
    }
}
