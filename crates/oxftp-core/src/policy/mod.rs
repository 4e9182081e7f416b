//! Access-model policy layers.
//!
//! Each layer implements [`Storage`] by wrapping another `Arc<dyn Storage>`,
//! in the manner of tower's layers, so they compose by stacking:
//! [`Rooted`] confines a session to its home in a shared storage,
//! [`ReadOnly`] refuses every write, [`AnonymousPolicy`] applies the
//! anonymous rules (read-only plus an optional upload-only directory),
//! [`PermissionsLayer`] enforces per-directory permissions, [`QuotaLayer`]
//! keeps an account within its byte and file quotas and [`ThrottleLayer`]
//! paces transfers with shared [`RateLimiter`]s.
//! [`session_storage`] builds the stack a logged-in identity calls for, and
//! [`AnonymousLogin`] is the authenticator side of anonymous access.
//!
//! Quotas and bandwidth need state shared between sessions (usage counters,
//! rate limiters) that the server owns, so they are not stacked by
//! `session_storage`; the server stacks them with [`with_quota`] and
//! [`with_throttle`]. The full stack, inside out:
//!
//! ```text
//! factory storage (home as /)
//!   -> QuotaLayer        with_quota: sees every write, unrestricted metadata
//!   -> PermissionsLayer  apply_policies (when the permissions restrict anything)
//!   -> AnonymousPolicy   apply_policies (anonymous class)
//!   -> ReadOnly          apply_policies (read-only identity)
//!   -> ThrottleLayer     with_throttle (outermost: only what is allowed moves)
//! ```

use std::sync::Arc;

use crate::account::Limits;
use crate::auth::{AccessClass, Identity};
use crate::storage::{Capabilities, Storage, StorageError, StorageFactory};

mod anonymous;
mod anonymous_login;
mod permissions;
mod quota;
mod read_only;
mod rooted;
#[cfg(test)]
mod test_support;
mod throttle;

pub use anonymous::{ANONYMOUS_READ_ONLY_MESSAGE, AnonymousPolicy, NO_OVERWRITE_MESSAGE, UPLOAD_ONLY_MESSAGE};
pub use anonymous_login::{ANONYMOUS_USER, AnonymousLogin};
pub use permissions::PermissionsLayer;
pub use quota::{MAX_WALK_DEPTH, QuotaLayer, QuotaLimits, QuotaRegistry, QuotaUsage};
pub use read_only::{READ_ONLY_MESSAGE, ReadOnly};
pub use rooted::Rooted;
pub(crate) use throttle::Rates;
pub use throttle::{RateLimiter, ThrottleLayer};

/// The storage a session gets after login: the factory's storage wrapped in the layers the
/// identity calls for (see [`apply_policies`]).
pub fn session_storage(factory: &dyn StorageFactory, identity: &Identity) -> Result<Arc<dyn Storage>, StorageError> {
    Ok(apply_policies(factory.storage_for(identity)?, identity))
}

/// Wrap a session's storage (the factory's, possibly already under
/// [`with_quota`]) in the access rules of `identity`, inside out:
/// `PermissionsLayer` when its permissions restrict anything,
/// `AnonymousPolicy` for [`AccessClass::Anonymous`] (read-only except
/// `identity.incoming`), `ReadOnly` when `identity.read_only`.
///
/// `ReadOnly` goes outermost, so a read-only anonymous identity cannot upload
/// even into `incoming`: "no writes of any kind" wins. Each layer only
/// refuses, so a call must pass all of them.
pub fn apply_policies(mut storage: Arc<dyn Storage>, identity: &Identity) -> Arc<dyn Storage> {
    if !identity.permissions.is_unrestricted() {
        storage = Arc::new(PermissionsLayer::new(storage, identity.permissions.clone()));
    }
    if identity.class == AccessClass::Anonymous {
        storage = Arc::new(AnonymousPolicy::new(storage, identity.incoming.clone()));
    }
    if identity.read_only {
        storage = Arc::new(ReadOnly::new(storage));
    }
    storage
}

/// Enforce `limits`' quotas on `storage`, counting in `usage` (from
/// [`QuotaRegistry::usage_for`]); `storage` unchanged when `limits` set no quota.
///
/// Apply it to the factory's storage, under [`apply_policies`]: the layer
/// reads file sizes back with `metadata`, which the anonymous policy hides in
/// its upload directory.
pub fn with_quota(storage: Arc<dyn Storage>, usage: Arc<QuotaUsage>, limits: &Limits) -> Arc<dyn Storage> {
    let quota = QuotaLimits::from(limits);
    if quota.is_unlimited() {
        return storage;
    }
    Arc::new(QuotaLayer::new(storage, quota, usage))
}

/// Pace `storage`'s downloads by every limiter in `down` and uploads by every
/// limiter in `up` (e.g. the account's and the server's); `storage` unchanged
/// when both lists are empty. Apply it outermost, so refused calls never wait.
pub fn with_throttle(
    storage: Arc<dyn Storage>,
    down: Vec<Arc<RateLimiter>>,
    up: Vec<Arc<RateLimiter>>,
) -> Arc<dyn Storage> {
    if down.is_empty() && up.is_empty() {
        return storage;
    }
    Arc::new(ThrottleLayer::new(storage, down, up))
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

    fn restricted(user: &str, class: AccessClass, home: &str) -> Identity {
        use crate::account::{DirRule, Permission, PermissionSet, Permissions};
        let mut id = identity(user, class, home);
        id.permissions = Permissions {
            default: PermissionSet::all(),
            rules: vec![DirRule { dir: p("/pub"), allow: PermissionSet::all().without(Permission::Delete) }],
        };
        id
    }

    #[tokio::test]
    async fn permissions_are_stacked_when_they_restrict_something() {
        let (mem, factory) = shared();
        mem.put_file(&p("/home/ann/pub/keep"), "k").unwrap();
        let s = session_storage(&factory, &restricted("ann", AccessClass::User, "/home/ann")).unwrap();
        let e = s.delete(&p("/pub/keep")).await.unwrap_err();
        assert_eq!(e.message, "Permission denied: no 'delete' permission in /pub");
        s.delete(&p("/notes")).await.unwrap();
        // Rules are in the session's view, not the shared storage's.
        assert_eq!(mem.file_contents(&p("/home/ann/pub/keep")).unwrap(), b"k");
    }

    #[tokio::test]
    async fn anonymous_rules_and_read_only_still_apply_over_permissions() {
        let (_mem, factory) = shared();
        let mut id = restricted("anonymous", AccessClass::Anonymous, "/srv/ftp");
        id.incoming = Some(p("/incoming"));
        let s = session_storage(&factory, &id).unwrap();
        // Permissions allow it; the anonymous policy does not.
        let e = s.mkdir(&p("/newdir")).await.unwrap_err();
        assert_eq!(e.message, ANONYMOUS_READ_ONLY_MESSAGE);
        let e = s.delete(&p("/pub/readme")).await.unwrap_err();
        assert_eq!(e.message, ANONYMOUS_READ_ONLY_MESSAGE);
        id.read_only = true;
        let s = session_storage(&factory, &id).unwrap();
        assert_eq!(s.delete(&p("/pub/readme")).await.unwrap_err().message, READ_ONLY_MESSAGE);
    }

    #[tokio::test]
    async fn quota_and_throttle_wrap_only_when_configured() {
        let (mem, factory) = shared();
        let id = identity("ann", AccessClass::User, "/home/ann");
        let base = factory.storage_for(&id).unwrap();
        let registry = QuotaRegistry::new();
        let usage = registry.usage_for("ann", base.as_ref()).await.unwrap();
        assert_eq!((usage.bytes(), usage.files()), (3, 1));
        // No quota, no limiters: the very same storage comes back.
        let same = with_quota(Arc::clone(&base), Arc::clone(&usage), &Limits::default());
        assert!(Arc::ptr_eq(&same, &base));
        let same = with_throttle(Arc::clone(&base), vec![], vec![]);
        assert!(Arc::ptr_eq(&same, &base));

        let limits = Limits { quota_bytes: Some(5), ..Limits::default() };
        let s = apply_policies(with_quota(base, Arc::clone(&usage), &limits), &id);
        let s = with_throttle(s, vec![], RateLimiter::from_limit(Some(1 << 20)).into_iter().collect());
        upload(s.as_ref(), "/two", b"ab").await.unwrap();
        assert_eq!(usage.bytes(), 5);
        let e = err_of(upload(s.as_ref(), "/more", b"c").await);
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::InsufficientStorage, "Quota exceeded: 5 bytes allowed"));
        assert_eq!(mem.file_contents(&p("/home/ann/two")).unwrap(), b"ab");
        assert_eq!(mem.metadata(&p("/home/ann/more")).await.unwrap_err().kind, ErrorKind::NotFound);
    }
}
