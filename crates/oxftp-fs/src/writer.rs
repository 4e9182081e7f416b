//! An `AsyncWrite` over a blocking file that batches writes into large
//! blocks.
//!
//! A data connection hands over whatever one TCP read returned, often 16 to
//! 64 KiB. Sending each such piece to the blocking pool on its own (as
//! `tokio::fs::File` does) costs a thread hand-off per piece. Here pieces are
//! gathered into a [`BLOCK`]-sized buffer, and only a full buffer (or a flush)
//! goes to the blocking pool, while the next buffer fills: two buffers, one
//! being written and one being filled, so receiving and writing overlap.

use std::future::Future;
use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;
use tokio::task::JoinHandle;

/// Bytes gathered before a block is written.
pub(crate) const BLOCK: usize = 1024 * 1024;

/// What a block write gives back: the file, the emptied buffer for reuse, and
/// how the write went.
type Done = (std::fs::File, Vec<u8>, io::Result<()>);

/// Where the file is.
enum State {
    /// Here, with a spare buffer (`None` only transiently, or after a failed
    /// background task lost it).
    Idle(Option<(std::fs::File, Vec<u8>)>),
    /// On the blocking pool, writing a block.
    Busy(JoinHandle<Done>),
}

/// Batching async writer over a `std::fs::File` (positioned, or opened for
/// append, by whoever opened it).
pub(crate) struct BlockWriter {
    state: State,
    /// The block being filled.
    filling: Vec<u8>,
}

impl BlockWriter {
    /// Write to `file` in blocks of [`BLOCK`] bytes.
    pub(crate) fn new(file: std::fs::File) -> Self {
        BlockWriter { state: State::Idle(Some((file, Vec::new()))), filling: Vec::new() }
    }

    /// The file, once everything handed to this writer is written (after a
    /// flush); `None` while a block is in flight or after a failure.
    pub(crate) fn file(&self) -> Option<&std::fs::File> {
        match &self.state {
            State::Idle(Some((file, _))) if self.filling.is_empty() => Some(file),
            _ => None,
        }
    }

    /// Wait for the block in flight, then give up the file and the bytes not
    /// yet written, so a caller can write them and do more on one blocking
    /// thread (a small upload's last write and its rename in one hand-off).
    pub(crate) async fn into_idle(mut self) -> io::Result<(std::fs::File, Vec<u8>)> {
        std::future::poll_fn(|cx| self.poll_idle(cx)).await?;
        match self.state {
            State::Idle(Some((file, _))) => Ok((file, self.filling)),
            _ => Err(io::Error::other("file is gone after an earlier failure")),
        }
    }

    /// Wait until no block is being written, reporting that write's error.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let State::Busy(task) = &mut self.state {
            let joined = ready!(Pin::new(task).poll(cx));
            let (file, spare, result) = match joined {
                Ok(done) => done,
                Err(e) => {
                    // The task died and took the file with it: nothing more
                    // can be written.
                    self.state = State::Idle(None);
                    return Poll::Ready(Err(io::Error::other(format!("file write task failed: {e}"))));
                }
            };
            self.state = State::Idle(Some((file, spare)));
            result?;
        }
        Poll::Ready(Ok(()))
    }

    /// Send the filled block to the blocking pool (once the previous one is
    /// written).
    fn poll_hand_off(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_idle(cx))?;
        if self.filling.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let State::Idle(slot) = &mut self.state else {
            return Poll::Ready(Ok(()));
        };
        let Some((mut file, mut spare)) = slot.take() else {
            return Poll::Ready(Err(io::Error::other("file is gone after an earlier failure")));
        };
        spare.clear();
        let block = std::mem::replace(&mut self.filling, spare);
        self.state = State::Busy(tokio::task::spawn_blocking(move || {
            let mut block = block;
            let result = file.write_all(&block);
            block.clear();
            (file, block, result)
        }));
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for BlockWriter {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.filling.len() >= BLOCK {
            ready!(this.poll_hand_off(cx))?;
        } else if matches!(this.state, State::Idle(None)) {
            return Poll::Ready(Err(io::Error::other("file is gone after an earlier failure")));
        }
        let len = this.filling.len();
        let n = buf.len().min(BLOCK - len);
        if this.filling.capacity() < len + n {
            // Grow by doubling but never past one block: a small upload
            // never pays for a full block, a big one reuses its two blocks.
            let want = (len + n).max(2 * this.filling.capacity()).min(BLOCK);
            this.filling.reserve_exact(want - len);
        }
        this.filling.extend_from_slice(&buf[..n]);
        if this.filling.len() >= BLOCK {
            // Start writing right away if the writer is free; a `Pending`
            // here only means the next call will wait for it.
            if let Poll::Ready(Err(e)) = this.poll_hand_off(cx) {
                return Poll::Ready(Err(e));
            }
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_hand_off(cx))?;
        this.poll_idle(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn writes_everything_in_order_across_blocks() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("out");
        let mut writer = BlockWriter::new(std::fs::File::create(&path).unwrap());
        let mut expected = Vec::new();
        // Odd piece sizes so pieces straddle block boundaries.
        for i in 0..700u32 {
            let piece: Vec<u8> = (0..(i * 37 % 9000 + 1)).map(|j| (i + j) as u8).collect();
            writer.write_all(&piece).await.unwrap();
            expected.extend_from_slice(&piece);
        }
        writer.write_all(&vec![9u8; 3 * BLOCK + 5]).await.unwrap();
        expected.extend_from_slice(&vec![9u8; 3 * BLOCK + 5]);
        assert!(expected.len() > 4 * BLOCK);
        writer.flush().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        // Flushing again, and after more data, keeps working.
        writer.write_all(b"tail").await.unwrap();
        writer.shutdown().await.unwrap();
        expected.extend_from_slice(b"tail");
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    #[tokio::test]
    async fn small_writes_wait_for_flush() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("out");
        let mut writer = BlockWriter::new(std::fs::File::create(&path).unwrap());
        writer.write_all(b"held back").await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        writer.flush().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"held back");
    }

    #[tokio::test]
    async fn into_idle_hands_back_the_file_and_the_unwritten_tail() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("out");
        let mut writer = BlockWriter::new(std::fs::File::create(&path).unwrap());
        let data = vec![7u8; BLOCK + 10];
        writer.write_all(&data).await.unwrap();
        let (mut file, rest) = writer.into_idle().await.unwrap();
        // The full block went to the file; the tail is the caller's to write.
        assert_eq!(rest, vec![7u8; 10]);
        assert_eq!(std::fs::read(&path).unwrap().len(), BLOCK);
        std::io::Write::write_all(&mut file, &rest).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }

    #[tokio::test]
    async fn write_errors_are_reported() {
        // A read-only descriptor: every write fails with EBADF.
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("ro");
        std::fs::write(&path, b"").unwrap();
        let mut writer = BlockWriter::new(std::fs::File::open(&path).unwrap());
        writer.write_all(b"x").await.unwrap();
        assert!(writer.flush().await.is_err());
        let mut writer = BlockWriter::new(std::fs::File::open(&path).unwrap());
        let big = vec![0u8; 3 * BLOCK];
        let mut failed = writer.write_all(&big).await.is_err();
        failed |= writer.flush().await.is_err();
        assert!(failed);
    }
}
