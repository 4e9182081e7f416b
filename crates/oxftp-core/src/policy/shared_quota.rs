//! Quota usage shared by the nodes of a cluster, through [`SharedState`].
//!
//! Each node keeps counting in memory, exactly as a single server does
//! ([`QuotaUsage`](super::QuotaUsage)), and records every change it makes in
//! `pending`. While an upload runs, a background task sends the pending
//! changes to the shared state as one addition (a burst of writes costs one
//! round trip); when an upload ends, or a file is deleted or replaced, the
//! change is sent before the reply. Before an upload starts and at every
//! login the node reads the account's usage back, so what other nodes
//! stored counts here too.
//!
//! So a quota filled through one node is enforced on every other node from
//! the next upload on. Uploads running at the same moment on different nodes
//! each see the others' bytes only at their next refresh, so together they
//! can pass the quota by what they write concurrently (one node alone never
//! does). When the shared state cannot be reached, the node goes on with its
//! own count and sends the difference once it answers again.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::shared_state::{SharedState, Usage};

/// How long the sender waits after a change for more to come, so a stream
/// of writes becomes one addition.
const COALESCE: Duration = Duration::from_millis(20);

/// One account's link to the shared state.
#[derive(Debug)]
pub(super) struct SharedUsage {
    state: Arc<dyn SharedState>,
    user: String,
    pending_bytes: AtomicI64,
    pending_files: AtomicI64,
    wake: Arc<Notify>,
    /// One flush-and-read at a time, so a read never misses a flush in flight.
    sync: tokio::sync::Mutex<()>,
}

impl SharedUsage {
    /// A link for `user`, with its sender task (which ends when the link is dropped).
    pub(super) fn start(state: Arc<dyn SharedState>, user: &str) -> Arc<SharedUsage> {
        let link = Arc::new(SharedUsage {
            state,
            user: user.to_owned(),
            pending_bytes: AtomicI64::new(0),
            pending_files: AtomicI64::new(0),
            wake: Arc::new(Notify::new()),
            sync: tokio::sync::Mutex::new(()),
        });
        tokio::spawn(send_pending(Arc::downgrade(&link), Arc::clone(&link.wake)));
        link
    }

    /// Note a change this node made.
    pub(super) fn record(&self, bytes: i64, files: i64) {
        if bytes != 0 {
            self.pending_bytes.fetch_add(bytes, Ordering::SeqCst);
        }
        if files != 0 {
            self.pending_files.fetch_add(files, Ordering::SeqCst);
        }
        if bytes != 0 || files != 0 {
            self.wake.notify_one();
        }
    }

    /// Send what is pending; kept for later when the shared state fails.
    async fn flush(&self) {
        let bytes = self.pending_bytes.swap(0, Ordering::SeqCst);
        let files = self.pending_files.swap(0, Ordering::SeqCst);
        if (bytes, files) == (0, 0) {
            return;
        }
        if self.state.quota_add(&self.user, bytes, files).await.is_err() {
            self.record(bytes, files);
        }
    }

    /// Send what is pending now (a finished upload, a delete), so the other
    /// nodes see it from their next look on.
    pub(super) async fn publish(&self) {
        let _one = self.sync.lock().await;
        self.flush().await;
    }

    /// Send what is pending, then set the local counters to the shared
    /// usage plus whatever this node changed meanwhile. The shared usage may
    /// have gone (expired): it is stored again from this node's count.
    pub(super) async fn refresh(&self, bytes: &AtomicU64, files: &AtomicU64) {
        let _one = self.sync.lock().await;
        self.flush().await;
        let shared = match self.state.quota_usage(&self.user).await {
            Ok(Some(usage)) => usage,
            Ok(None) => {
                let ours = Usage { bytes: bytes.load(Ordering::SeqCst), files: files.load(Ordering::SeqCst) };
                match self.state.quota_init(&self.user, ours).await {
                    Ok(usage) => usage,
                    Err(_) => return,
                }
            }
            Err(_) => return,
        };
        let plus = |base: u64, pending: i64| base.saturating_add_signed(pending);
        bytes.store(plus(shared.bytes, self.pending_bytes.load(Ordering::SeqCst)), Ordering::SeqCst);
        files.store(plus(shared.files, self.pending_files.load(Ordering::SeqCst)), Ordering::SeqCst);
    }
}

impl Drop for SharedUsage {
    fn drop(&mut self) {
        // Wake the sender so it sees the link is gone and ends.
        self.wake.notify_one();
    }
}

/// Send pending changes soon after they are made, while the link lives.
async fn send_pending(link: Weak<SharedUsage>, wake: Arc<Notify>) {
    loop {
        wake.notified().await;
        tokio::time::sleep(COALESCE).await;
        let Some(link) = link.upgrade() else { return };
        let _one = link.sync.lock().await;
        link.flush().await;
    }
}

/// The change from `before` to `after`, as a signed number.
pub(super) fn delta(before: u64, after: u64) -> i64 {
    let d = i128::from(after) - i128::from(before);
    d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}
