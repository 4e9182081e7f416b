//! `Rooted`: confine a session to one directory of a shared storage.
//!
//! One backend (an object store, one big disk) can serve many users, each
//! seeing only their home as `/`. Every path the session names is nested
//! under the home before it reaches the inner storage. A [`VPath`] is already
//! normalised (no `.`, `..` or empty components, `..` stops at `/`), so the
//! nested path always lies inside the home: there is no string the client can
//! send that names anything above it.
//!
//! What the inner storage returns (listings, metadata, errors) passes through
//! unchanged: listing entries are names within a directory and carry no path.

use std::borrow::Cow;
use std::sync::Arc;

use oxftp_proto::path::VPath;

use crate::storage::Storage;

/// A storage whose `/` is `home` in the storage it wraps.
#[derive(Debug, Clone)]
pub struct Rooted {
    inner: Arc<dyn Storage>,
    home: VPath,
}

impl Rooted {
    /// Wrap `inner` so that the session's `/` is `home` in it.
    pub fn new(inner: Arc<dyn Storage>, home: VPath) -> Self {
        Rooted { inner, home }
    }

    /// The directory of the inner storage this one shows as `/`.
    pub fn home(&self) -> &VPath {
        &self.home
    }
}

/// Every call goes through with its paths nested under the home.
impl super::Shaper for Rooted {
    fn inner(&self) -> &dyn Storage {
        self.inner.as_ref()
    }

    fn map_path<'p>(&self, path: &'p VPath) -> Cow<'p, VPath> {
        Cow::Owned(path.under(&self.home))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStorage;
    use crate::storage::{ErrorKind, StorageError};
    use crate::test_util::helpers::{list_names, p, read_all, upload};

    fn setup() -> (MemoryStorage, Rooted) {
        let mem = MemoryStorage::new();
        mem.put_file(&p("/home/ann/docs/a.txt"), "ann's").unwrap();
        mem.put_file(&p("/home/bob/secret"), "bob's").unwrap();
        mem.put_file(&p("/etc/passwd"), "root:x:0:0").unwrap();
        let rooted = Rooted::new(Arc::new(mem.clone()), p("/home/ann"));
        (mem, rooted)
    }

    #[tokio::test]
    async fn session_root_is_the_home() {
        let (mem, r) = setup();
        assert_eq!(r.home(), &p("/home/ann"));
        assert_eq!(list_names(&r, "/").await.unwrap(), vec![b"docs".to_vec()]);
        assert_eq!(read_all(&r, "/docs/a.txt").await.unwrap(), b"ann's");
        assert!(r.metadata(&p("/")).await.unwrap().is_dir());
        upload(&r, "/docs/new", b"up").await.unwrap();
        assert_eq!(mem.file_contents(&p("/home/ann/docs/new")).unwrap(), b"up");
        r.mkdir(&p("/sub")).await.unwrap();
        r.rename(&p("/docs/new"), &p("/sub/moved")).await.unwrap();
        assert_eq!(mem.file_contents(&p("/home/ann/sub/moved")).unwrap(), b"up");
        r.set_mode(&p("/sub/moved"), 0o600).await.unwrap();
        r.set_mtime(&p("/sub/moved"), 1000).await.unwrap();
        let info = mem.metadata(&p("/home/ann/sub/moved")).await.unwrap();
        assert_eq!((info.mode, info.mtime), (Some(0o600), Some(1000)));
        r.delete(&p("/sub/moved")).await.unwrap();
        r.rmdir(&p("/sub")).await.unwrap();
        assert_eq!(kind_of(mem.metadata(&p("/home/ann/sub")).await), ErrorKind::NotFound);
        assert_eq!(r.capabilities(), mem.capabilities());
    }

    fn kind_of<T>(r: Result<T, StorageError>) -> ErrorKind {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.kind,
        }
    }

    #[tokio::test]
    async fn no_path_reaches_outside_the_home() {
        let (mem, r) = setup();
        // Whatever the client sends, the engine resolves it to a VPath first.
        for attempt in ["../bob/secret", "/../../etc/passwd", "docs/../../../etc/passwd", "/home/bob/secret"] {
            let path = VPath::root().resolve(attempt.as_bytes()).unwrap();
            assert!(path.under(r.home()).starts_with(r.home()));
            assert_eq!(kind_of(r.open_read(&path, 0).await), ErrorKind::NotFound, "{attempt}");
        }
        assert_eq!(kind_of(r.list(&p("/home")).await), ErrorKind::NotFound);
        assert_eq!(kind_of(r.delete(&p("/../bob/secret")).await), ErrorKind::NotFound);
        let up = VPath::root().resolve(b"../../etc/passwd").unwrap();
        upload(&r, "/x", b"1").await.unwrap();
        r.rename(&p("/x"), &up).await.unwrap_err();
        assert_eq!(mem.file_contents(&p("/etc/passwd")).unwrap(), b"root:x:0:0");
        assert_eq!(mem.file_contents(&p("/home/bob/secret")).unwrap(), b"bob's");
    }

    #[tokio::test]
    async fn stacked_roots_nest() {
        let (_mem, r) = setup();
        let inner = Rooted::new(Arc::new(r), p("/docs"));
        assert_eq!(read_all(&inner, "/a.txt").await.unwrap(), b"ann's");
    }
}
