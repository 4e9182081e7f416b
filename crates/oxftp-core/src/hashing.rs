//! [`Hashing`]: an upload that computes the SHA-256 of the bytes it stores,
//! for event sinks that ask for it (`EventSink::wants_sha256`).
//!
//! It sees every byte, so the upload goes through buffers rather than a
//! zero-copy `splice(2)` (it offers no local file); the digest is ready once
//! the upload is committed, and only then.

use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use async_trait::async_trait;
use ring::digest;
use tokio::io::AsyncWrite;

use crate::storage::{StorageError, WriteHandle};

/// Where the digest of a committed upload appears.
pub(crate) type Digest = Arc<OnceLock<[u8; 32]>>;

/// An upload whose stored bytes are hashed as they are written.
pub(crate) struct Hashing {
    inner: Box<dyn WriteHandle>,
    /// Behind a mutex only to be `Sync` (the upload is written by one task).
    context: Mutex<digest::Context>,
    digest: Digest,
}

impl Hashing {
    /// `inner`, hashed; the digest appears in the returned cell on commit.
    pub(crate) fn wrap(inner: Box<dyn WriteHandle>) -> (Box<dyn WriteHandle>, Digest) {
        let digest = Digest::default();
        let hashing =
            Hashing { inner, context: Mutex::new(digest::Context::new(&digest::SHA256)), digest: digest.clone() };
        (Box::new(hashing), digest)
    }
}

impl AsyncWrite for Hashing {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut *this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &written {
            // Only what the storage took: a short write hashes its prefix.
            this.context.get_mut().unwrap_or_else(|e| e.into_inner()).update(&buf[..*n]);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.inner).poll_shutdown(cx)
    }
}

#[async_trait]
impl WriteHandle for Hashing {
    async fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let Hashing { inner, context, digest } = *self;
        inner.commit().await?;
        let context = context.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut sum = [0u8; 32];
        sum.copy_from_slice(context.finish().as_ref());
        let _ = digest.set(sum);
        Ok(())
    }

    async fn abort(self: Box<Self>) {
        self.inner.abort().await;
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::memory::MemoryStorage;
    use crate::storage::{Storage, WriteMode};
    use crate::test_util::helpers::p;

    #[tokio::test]
    async fn the_digest_is_of_the_stored_bytes_and_appears_on_commit() {
        let mem = MemoryStorage::new();
        let upload = mem.open_write(&p("/f"), WriteMode::Create { exclusive: false }).await.unwrap();
        let (mut upload, digest) = Hashing::wrap(upload);
        upload.write_all(b"hello ").await.unwrap();
        upload.write_all(b"world").await.unwrap();
        assert!(digest.get().is_none(), "no digest before the commit");
        assert!(upload.local_file().await.unwrap().is_none(), "every byte must pass through");
        upload.commit().await.unwrap();
        let expected = digest::digest(&digest::SHA256, b"hello world");
        assert_eq!(digest.get().unwrap().as_slice(), expected.as_ref());
        assert_eq!(mem.file_contents(&p("/f")).unwrap(), b"hello world");
    }

    #[tokio::test]
    async fn an_aborted_upload_has_no_digest() {
        let mem = MemoryStorage::new();
        let upload = mem.open_write(&p("/f"), WriteMode::Create { exclusive: false }).await.unwrap();
        let (mut upload, digest) = Hashing::wrap(upload);
        upload.write_all(b"partial").await.unwrap();
        upload.abort().await;
        assert!(digest.get().is_none());
    }
}
