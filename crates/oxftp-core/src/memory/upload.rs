//! Uploads to a [`MemoryStorage`](super::MemoryStorage).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use oxftp_proto::path::VPath;
use tokio::io::AsyncWrite;

use super::MemoryStorage;
use super::tree::{Body, check_upload, err, place_file};
use crate::storage::{ErrorKind, StorageError, WriteHandle, WriteMode};

/// An upload to a [`MemoryStorage`]: bytes collect in a private buffer and
/// reach the tree only on `commit`. Every byte written is reserved against
/// `max_bytes` as it arrives and released if the upload does not commit.
pub(super) struct MemoryUpload {
    pub(super) storage: MemoryStorage,
    pub(super) path: VPath,
    pub(super) mode: WriteMode,
    pub(super) buf: Vec<u8>,
    /// Bytes this upload holds in the books' `used_bytes`.
    pub(super) reserved: u64,
    /// Committed or thrown away: nothing more may be written.
    pub(super) finished: bool,
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
        let bounds = storage.inner.bounds;
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
        match place_file(state, bounds, &self.path, Arc::new(contents), exclusive) {
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
        if this.storage.lock().books.reserve(this.storage.inner.bounds, len).is_err() {
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
