//! Access-model policy layers.
//!
//! Each layer implements [`Storage`] by wrapping another `Arc<dyn Storage>`,
//! in the manner of tower's layers, so they compose by stacking:
//! [`Rooted`] confines a session to its home in a shared storage,
//! [`ReadOnly`] refuses every write, [`AnonymousPolicy`] applies the
//! anonymous rules (read-only plus an optional upload-only directory).
//! [`session_storage`] builds the stack a logged-in identity calls for, and
//! [`AnonymousLogin`] is the authenticator side of anonymous access.

use std::sync::Arc;

use crate::auth::{AccessClass, Identity};
use crate::storage::{Capabilities, Storage, StorageError, StorageFactory};

mod anonymous;
mod anonymous_login;
mod read_only;
mod rooted;
#[cfg(test)]
mod test_support;

pub use anonymous::{ANONYMOUS_READ_ONLY_MESSAGE, AnonymousPolicy, NO_OVERWRITE_MESSAGE, UPLOAD_ONLY_MESSAGE};
pub use anonymous_login::{ANONYMOUS_USER, AnonymousLogin};
pub use read_only::{READ_ONLY_MESSAGE, ReadOnly};
pub use rooted::Rooted;

/// The storage a session gets after login: the factory's storage wrapped in the layers the
/// identity calls for (ReadOnly when identity.read_only; AnonymousPolicy for AccessClass::Anonymous,
/// which is read-only except `identity.incoming`).
///
/// `ReadOnly` goes outermost, so a read-only anonymous identity cannot upload
/// even into `incoming`: "no writes of any kind" wins.
pub fn session_storage(factory: &dyn StorageFactory, identity: &Identity) -> Result<Arc<dyn Storage>, StorageError> {
    let mut storage = factory.storage_for(identity)?;
    if identity.class == AccessClass::Anonymous {
        storage = Arc::new(AnonymousPolicy::new(storage, identity.incoming.clone()));
    }
    if identity.read_only {
        storage = Arc::new(ReadOnly::new(storage));
    }
    Ok(storage)
}

/// A StorageFactory over one shared storage: each identity gets `Rooted(shared, identity.home)`.
///
/// For backends where one instance serves every user (object stores, a
/// memory storage); a local-disk backend rather opens itself at the home so
/// symlinks resolve inside it.
#[derive(Debug, Clone)]
pub struct SharedStorage {
    inner: Arc<dyn Storage>,
}

impl SharedStorage {
    /// Serve every identity from `inner`, each confined to its home.
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        SharedStorage { inner }
    }
}

impl StorageFactory for SharedStorage {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn storage_for(&self, identity: &Identity) -> Result<Arc<dyn Storage>, StorageError> {
        Ok(Arc::new(Rooted::new(Arc::clone(&self.inner), identity.home.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStorage;
    use crate::storage::{ErrorKind, WriteMode};
    use test_support::{err_of, list_names, p, read_all, upload};

    fn shared() -> (MemoryStorage, SharedStorage) {
        let mem = MemoryStorage::new();
        mem.put_file(&p("/home/ann/notes"), "ann").unwrap();
        mem.put_file(&p("/srv/ftp/pub/readme"), "public").unwrap();
        mem.create_dir_all(&p("/srv/ftp/incoming")).unwrap();
        (mem.clone(), SharedStorage::new(Arc::new(mem)))
    }

    fn identity(user: &str, class: AccessClass, home: &str) -> Identity {
        let mut id = Identity::new(user, class);
        id.home = p(home);
        id
    }

    #[tokio::test]
    async fn user_gets_full_rights_in_home() {
        let (mem, factory) = shared();
        assert_eq!(StorageFactory::capabilities(&factory), Capabilities::ALL);
        let s = session_storage(&factory, &identity("ann", AccessClass::User, "/home/ann")).unwrap();
        assert_eq!(list_names(s.as_ref(), "/").await.unwrap(), vec![b"notes".to_vec()]);
        upload(s.as_ref(), "/new", b"n").await.unwrap();
        s.delete(&p("/notes")).await.unwrap();
        assert_eq!(mem.file_contents(&p("/home/ann/new")).unwrap(), b"n");
        assert_eq!(mem.metadata(&p("/home/ann/notes")).await.unwrap_err().kind, ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn read_only_identity_reads_but_cannot_write() {
        let (mem, factory) = shared();
        let mut id = identity("ann", AccessClass::Guest, "/home/ann");
        id.read_only = true;
        let s = session_storage(&factory, &id).unwrap();
        assert_eq!(read_all(s.as_ref(), "/notes").await.unwrap(), b"ann");
        let e = s.delete(&p("/notes")).await.unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::PermissionDenied, READ_ONLY_MESSAGE));
        assert_eq!(mem.file_contents(&p("/home/ann/notes")).unwrap(), b"ann");
    }

    #[tokio::test]
    async fn anonymous_gets_the_anonymous_rules_in_its_home() {
        let (mem, factory) = shared();
        let mut id = identity("anonymous", AccessClass::Anonymous, "/srv/ftp");
        id.incoming = Some(p("/incoming"));
        let s = session_storage(&factory, &id).unwrap();
        assert_eq!(read_all(s.as_ref(), "/pub/readme").await.unwrap(), b"public");
        upload(s.as_ref(), "/incoming/up", b"u").await.unwrap();
        assert_eq!(mem.file_contents(&p("/srv/ftp/incoming/up")).unwrap(), b"u");
        let e = err_of(s.list(&p("/incoming")).await);
        assert_eq!(e.message, UPLOAD_ONLY_MESSAGE);
        let e = s.delete(&p("/pub/readme")).await.unwrap_err();
        assert_eq!(e.message, ANONYMOUS_READ_ONLY_MESSAGE);
        // Nothing outside the anonymous home is reachable.
        assert_eq!(s.metadata(&p("/home/ann/notes")).await.unwrap_err().kind, ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn read_only_wins_over_incoming() {
        let (mem, factory) = shared();
        let mut id = identity("anonymous", AccessClass::Anonymous, "/srv/ftp");
        id.incoming = Some(p("/incoming"));
        id.read_only = true;
        let s = session_storage(&factory, &id).unwrap();
        let e = err_of(s.open_write(&p("/incoming/up"), WriteMode::Create { exclusive: true }).await);
        assert_eq!(e.message, READ_ONLY_MESSAGE);
        // Reads still follow the anonymous rules underneath.
        assert_eq!(err_of(s.list(&p("/incoming")).await).message, UPLOAD_ONLY_MESSAGE);
        assert_eq!(mem.entry_count(), 8);
    }

    #[derive(Debug)]
    struct Broken;

    impl StorageFactory for Broken {
        fn storage_for(&self, _identity: &Identity) -> Result<Arc<dyn Storage>, StorageError> {
            Err(StorageError::new(ErrorKind::Transient, "backend down"))
        }
    }

    #[test]
    fn factory_errors_reach_the_caller() {
        let e = session_storage(&Broken, &Identity::new("ann", AccessClass::User)).unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Transient, "backend down"));
    }
}
