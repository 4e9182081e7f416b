//! Recycled staging blocks for one upload.
//!
//! An upload copies the bytes it receives into fixed-size blocks and hands
//! each full block to OpenDAL as a [`Bytes`] without copying it again. A
//! block lives on until its multipart part has been sent, often on another
//! thread; then it comes back here and is filled again.
//!
//! Why not allocate a fresh buffer per block: glibc serves buffers of this
//! size from per-thread arenas once its adaptive mmap threshold has risen,
//! and a buffer freed on the HTTP client's thread while the next one is
//! allocated on the session's thread fragments those arenas. Measured on a
//! 1 GiB upload through oxftpd, that churn added some 20 MiB of peak RSS on
//! top of the bytes actually in flight. Recycling keeps the peak at the
//! blocks in flight: the pool only ever allocates when every block it made is
//! still in use, so it never holds more blocks than the upload's own peak,
//! and all of them are freed when the upload and its last part are done.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// Most free blocks a pool keeps; more are freed. Far above what an upload
/// has in flight with any accepted tuning (64 parts of a few MiB in 1 MiB
/// blocks), so it only guards against a caller that never lets go.
const MAX_FREE_BLOCKS: usize = 1024;

/// The free blocks of one upload. Shared by the upload and every block it
/// handed out, so blocks can come home after the upload itself is gone.
#[derive(Debug)]
pub struct BlockPool {
    free: Mutex<Vec<Vec<u8>>>,
    block_size: usize,
}

impl BlockPool {
    /// A pool of blocks of `block_size` bytes (at least 1).
    pub fn new(block_size: usize) -> Arc<Self> {
        Arc::new(BlockPool { free: Mutex::new(Vec::new()), block_size: block_size.max(1) })
    }

    /// The capacity of every block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// An empty block with room for `block_size` bytes: a returned one if
    /// any, else a new allocation.
    pub fn take(&self) -> Vec<u8> {
        let recycled = self.free.lock().ok().and_then(|mut free| free.pop());
        recycled.unwrap_or_else(|| Vec::with_capacity(self.block_size))
    }

    /// Free blocks held right now.
    #[cfg(test)]
    fn free_blocks(&self) -> usize {
        self.free.lock().map_or(0, |free| free.len())
    }

    /// Take a block back for reuse (or free it when the pool is full or the
    /// block is not one of ours).
    fn give(&self, mut block: Vec<u8>) {
        if block.capacity() != self.block_size {
            return;
        }
        block.clear();
        if let Ok(mut free) = self.free.lock()
            && free.len() < MAX_FREE_BLOCKS
        {
            free.push(block);
        }
    }

    /// Wrap a filled block as [`Bytes`] that returns it to `pool` when the
    /// last clone is dropped. No bytes are copied.
    pub fn freeze(pool: &Arc<Self>, block: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled { block, pool: Arc::clone(pool) })
    }
}

/// A block lent out as [`Bytes`]; goes home on drop.
struct Pooled {
    block: Vec<u8>,
    pool: Arc<BlockPool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.block
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.block));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_come_back_and_are_reused() {
        let pool = BlockPool::new(16);
        let mut block = pool.take();
        assert_eq!(block.capacity(), 16);
        block.extend_from_slice(b"hello");
        let ptr = block.as_ptr();
        let bytes = BlockPool::freeze(&pool, block);
        assert_eq!(&bytes[..], b"hello");
        let clone = bytes.slice(1..3);
        drop(bytes);
        assert_eq!(pool.free_blocks(), 0, "a live slice keeps the block out");
        assert_eq!(&clone[..], b"el");
        drop(clone);
        assert_eq!(pool.free_blocks(), 1);
        let again = pool.take();
        assert!(again.is_empty(), "a recycled block starts empty");
        assert_eq!(again.as_ptr(), ptr, "the same allocation is reused");
        assert_eq!(pool.free_blocks(), 0);
    }

    #[test]
    fn pool_never_holds_more_than_was_in_flight() {
        let pool = BlockPool::new(8);
        // Three blocks in flight at once, then all back: three allocations in all.
        let lent: Vec<Bytes> = (0..3).map(|_| BlockPool::freeze(&pool, pool.take())).collect();
        drop(lent);
        assert_eq!(pool.free_blocks(), 3);
        for _ in 0..100 {
            let b = BlockPool::freeze(&pool, pool.take());
            drop(b);
        }
        assert_eq!(pool.free_blocks(), 3, "steady reuse allocates nothing new");
    }

    #[test]
    fn blocks_outlive_the_pool_handle() {
        let pool = BlockPool::new(4);
        let mut block = pool.take();
        block.extend_from_slice(b"abcd");
        let bytes = BlockPool::freeze(&pool, block);
        drop(pool);
        assert_eq!(&bytes[..], b"abcd");
        drop(bytes); // returns to a pool nobody else holds; freed with it
    }

    #[test]
    fn foreign_sizes_are_not_kept() {
        let pool = BlockPool::new(4);
        pool.give(Vec::with_capacity(64));
        assert_eq!(pool.free_blocks(), 0);
        assert_eq!(BlockPool::new(0).block_size(), 1);
    }
}
