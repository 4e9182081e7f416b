//! The session's open handles: files being read, uploads, directory
//! listings. Handles are short decimal strings the client echoes back; a
//! session holds at most `max_handles` at once.

use std::collections::HashMap;
use std::net::SocketAddr;

use oxftp_core::auth::Identity;
use slog::Logger;

use super::dirs::DirHandle;
use super::files::{ReadFile, WriteFile};
use crate::server::Shared;

/// What a handle stands for.
pub(crate) enum Handle {
    Read(ReadFile),
    Write(WriteFile),
    Dir(DirHandle),
}

/// The open handles of one session.
pub(crate) struct Handles {
    open: HashMap<u32, Handle>,
    next: u32,
    max: usize,
}

impl Handles {
    pub(crate) fn new(max: usize) -> Handles {
        Handles { open: HashMap::new(), next: 0, max: max.max(1) }
    }

    /// Whether the session has its most handles open (checked before a
    /// file or directory is opened, so nothing is opened in vain).
    pub(crate) fn is_full(&self) -> bool {
        self.open.len() >= self.max
    }

    /// Keeps `handle` under a new name (the caller checked [`is_full`](Self::is_full)).
    pub(crate) fn insert(&mut self, handle: Handle) -> String {
        // Skip names still in use (after 2^32 handles the counter wraps).
        while self.open.contains_key(&self.next) {
            self.next = self.next.wrapping_add(1);
        }
        let name = self.next;
        self.next = self.next.wrapping_add(1);
        self.open.insert(name, handle);
        name.to_string()
    }

    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut Handle> {
        self.open.get_mut(&parse(name)?)
    }

    pub(crate) fn remove(&mut self, name: &str) -> Option<Handle> {
        self.open.remove(&parse(name)?)
    }

    /// The session ended: uploads still open are aborted (nothing appears
    /// under their final names), downloads reported as they stand.
    pub(crate) async fn close_all(&mut self, shared: &Shared, identity: &Identity, peer: SocketAddr, logger: &Logger) {
        for (_, handle) in self.open.drain() {
            match handle {
                Handle::Write(upload) => upload.abort(shared, identity, peer, logger, "connection closed").await,
                Handle::Read(download) => download.finish(shared, identity, peer).await,
                Handle::Dir(_) => {}
            }
        }
    }
}

/// A handle name back to its number; anything else names no handle.
fn parse(name: &str) -> Option<u32> {
    if name.is_empty() || name.len() > 10 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sftp::dirs::DirHandle;

    #[test]
    fn names_are_unique_and_bounded() {
        let mut handles = Handles::new(2);
        let a = handles.insert(Handle::Dir(DirHandle::empty()));
        assert!(!handles.is_full());
        let b = handles.insert(Handle::Dir(DirHandle::empty()));
        assert_ne!(a, b);
        assert!(handles.is_full());
        assert!(handles.remove(&a).is_some());
        assert!(handles.remove(&a).is_none());
        assert!(handles.get_mut("x1").is_none());
        assert!(handles.get_mut("").is_none());
        assert!(handles.get_mut("99999999999").is_none());
        assert!(!handles.is_full());
    }
}
