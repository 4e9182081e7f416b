//! [`Stack`]: the one builder of a logged-in user's storage.

use std::sync::Arc;

use super::throttle::Rates;
use super::{
    Anonymous, Guarded, Measured, Permissions, Quota, QuotaLimits, QuotaRegistry, QuotaUsage, RateLimiter, ReadOnly,
    Throttle,
};
use crate::account::Limits;
use crate::auth::{AccessClass, Identity};
use crate::metrics::{Metrics, StorageMetrics};
use crate::storage::{Capabilities, Storage, StorageError, StorageFactory};

/// The storage every front end gives a logged-in user, built by one method,
/// [`for_identity`](Stack::for_identity), inside out:
///
/// ```text
/// factory storage (the identity's home as /)
///   -> Measured               when metrics are on: counts what reaches the backend
///   -> Quota                  when the account has a quota: sees every write, unrestricted metadata
///   -> Guarded<Permissions>   when the permissions restrict anything
///   -> Guarded<Anonymous>     for the anonymous class
///   -> Guarded<ReadOnly>      for a read-only identity
///   -> Throttle               when a bandwidth limit applies (outermost: only what is allowed moves)
/// ```
///
/// The quota counts on the raw storage, under the access policies that may
/// hide sizes (anonymous uploads); `ReadOnly` goes outside the anonymous
/// rules, so a read-only anonymous identity cannot upload even into
/// `incoming`. Each guard only refuses, so a call must pass all of them.
///
/// One `Stack` serves a whole server: it holds what the layers share
/// between sessions, each account's quota counter and rate limiters, and
/// the server-wide rate limiters.
#[derive(Debug)]
pub struct Stack {
    factory: Arc<dyn StorageFactory>,
    quotas: QuotaRegistry,
    rates: Rates,
    metrics: Option<StorageMetrics>,
}

impl Stack {
    /// A stack over the storages `factory` hands out, without server-wide
    /// bandwidth limits.
    pub fn new(factory: Arc<dyn StorageFactory>) -> Stack {
        Stack { factory, quotas: QuotaRegistry::new(), rates: Rates::new(None, None), metrics: None }
    }

    /// Count and time every storage call in `metrics`, labelled with the
    /// factory's [`backend_name`](StorageFactory::backend_name).
    pub fn with_metrics(mut self, metrics: &Metrics) -> Stack {
        self.metrics = Some(metrics.storage(self.factory.backend_name()));
        self
    }

    /// Limit every user of this stack together to `download` and `upload`
    /// bytes per second (`None` or 0: unlimited).
    pub fn with_rates(mut self, download: Option<u64>, upload: Option<u64>) -> Stack {
        self.rates = Rates::new(download, upload);
        self
    }

    /// What the storages can do (FEAT is answered before login).
    pub fn capabilities(&self) -> Capabilities {
        self.factory.capabilities()
    }

    /// Whether the storage answers now (see [`StorageFactory::check`]).
    pub async fn check(&self) -> Result<(), StorageError> {
        self.factory.check().await
    }

    /// The quota counters (e.g. to [`forget`](QuotaRegistry::forget) an account).
    pub fn quotas(&self) -> &QuotaRegistry {
        &self.quotas
    }

    /// The storage `identity` works on, with every layer it calls for.
    pub async fn for_identity(&self, identity: &Identity) -> Result<Arc<dyn Storage>, StorageError> {
        let base = self.factory.storage_for(identity).await?;
        let base: Arc<dyn Storage> = match &self.metrics {
            Some(metrics) => Arc::new(Measured::new(base, metrics.clone())),
            None => base,
        };
        let limits = &identity.limits;
        let storage = if limits.quota_bytes.is_some() || limits.quota_files.is_some() {
            let usage = self.quotas.usage_for(&identity.user, base.as_ref()).await?;
            with_quota(base, usage, limits)
        } else {
            base
        };
        let storage = with_guards(storage, identity);
        let (down, up) = self.rates.for_account(&identity.user, limits);
        Ok(with_throttle(storage, down, up))
    }
}

/// `storage` within `limits`' quotas, counting in `usage`; unchanged when
/// `limits` set no quota.
fn with_quota(storage: Arc<dyn Storage>, usage: Arc<QuotaUsage>, limits: &Limits) -> Arc<dyn Storage> {
    let quota = QuotaLimits::from(limits);
    if quota.is_unlimited() {
        return storage;
    }
    Arc::new(Quota::new(storage, quota, usage))
}

/// `storage` under the access rules of `identity`, inside out: permissions
/// when they restrict anything, the anonymous rules for the anonymous class,
/// read-only for a read-only identity.
fn with_guards(mut storage: Arc<dyn Storage>, identity: &Identity) -> Arc<dyn Storage> {
    if !identity.permissions.is_unrestricted() {
        storage = Arc::new(Guarded::new(storage, Permissions::new(identity.permissions.clone())));
    }
    if identity.class == AccessClass::Anonymous {
        storage = Arc::new(Guarded::new(storage, Anonymous::new(identity.incoming.clone())));
    }
    if identity.read_only {
        storage = Arc::new(Guarded::new(storage, ReadOnly));
    }
    storage
}

/// `storage` with downloads paced by every limiter in `down` and uploads by
/// every limiter in `up`; unchanged when both lists are empty.
fn with_throttle(
    storage: Arc<dyn Storage>,
    down: Vec<Arc<RateLimiter>>,
    up: Vec<Arc<RateLimiter>>,
) -> Arc<dyn Storage> {
    if down.is_empty() && up.is_empty() {
        return storage;
    }
    Arc::new(Throttle::new(storage, down, up))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AccessClass;
    use crate::memory::MemoryStorage;
    use crate::policy::{ANONYMOUS_READ_ONLY_MESSAGE, READ_ONLY_MESSAGE, SharedStorage, UPLOAD_ONLY_MESSAGE};
    use crate::storage::{Capabilities, ErrorKind, WriteMode};
    use crate::test_util::helpers::{err_of, list_names, p, read_all, upload};
    use oxftp_proto::path::VPath;

    fn shared() -> (MemoryStorage, Stack) {
        let mem = MemoryStorage::new();
        mem.put_file(&p("/home/ann/notes"), "ann").unwrap();
        mem.put_file(&p("/srv/ftp/pub/readme"), "public").unwrap();
        mem.create_dir_all(&p("/srv/ftp/incoming")).unwrap();
        (mem.clone(), Stack::new(Arc::new(SharedStorage::new(Arc::new(mem)))))
    }

    /// An identity confined to `home` (a user's root set to it too).
    fn identity(user: &str, class: AccessClass, home: &str) -> Identity {
        let mut id = Identity::new(user, class);
        id.home = p(home);
        id.root = p(home);
        id
    }

    #[tokio::test]
    async fn user_gets_full_rights_in_home() {
        let (mem, stack) = shared();
        assert_eq!(stack.capabilities(), Capabilities::ALL);
        let s = stack.for_identity(&identity("ann", AccessClass::User, "/home/ann")).await.unwrap();
        assert_eq!(list_names(s.as_ref(), "/").await.unwrap(), vec![b"notes".to_vec()]);
        upload(s.as_ref(), "/new", b"n").await.unwrap();
        s.delete(&p("/notes")).await.unwrap();
        assert_eq!(mem.file_contents(&p("/home/ann/new")).unwrap(), b"n");
        assert_eq!(mem.metadata(&p("/home/ann/notes")).await.unwrap_err().kind, ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn a_user_reaches_its_root_and_a_guest_only_its_home() {
        let (_mem, stack) = shared();
        // A user: the whole tree by default, starting in its home.
        let mut user = identity("ann", AccessClass::User, "/home/ann");
        user.root = VPath::root();
        assert_eq!(user.start_dir(), p("/home/ann"));
        let s = stack.for_identity(&user).await.unwrap();
        assert_eq!(read_all(s.as_ref(), "/srv/ftp/pub/readme").await.unwrap(), b"public");
        assert_eq!(read_all(s.as_ref(), "/home/ann/notes").await.unwrap(), b"ann");
        // A user with a configured root sees it as /.
        user.root = p("/home");
        assert_eq!(user.start_dir(), p("/ann"));
        let s = stack.for_identity(&user).await.unwrap();
        assert_eq!(read_all(s.as_ref(), "/ann/notes").await.unwrap(), b"ann");
        assert_eq!(s.metadata(&p("/srv")).await.unwrap_err().kind, ErrorKind::NotFound);
        // A guest's root is its home, whatever `root` says (fails closed).
        let mut guest = identity("gus", AccessClass::Guest, "/home/ann");
        guest.root = VPath::root();
        assert_eq!(guest.start_dir(), VPath::root());
        let s = stack.for_identity(&guest).await.unwrap();
        assert_eq!(read_all(s.as_ref(), "/notes").await.unwrap(), b"ann");
        assert_eq!(s.metadata(&p("/srv/ftp/pub/readme")).await.unwrap_err().kind, ErrorKind::NotFound);
        // A home outside a user's root: it starts at its root's /.
        user.root = p("/srv");
        assert_eq!(user.start_dir(), VPath::root());
    }

    #[tokio::test]
    async fn read_only_identity_reads_but_cannot_write() {
        let (mem, stack) = shared();
        let mut id = identity("ann", AccessClass::Guest, "/home/ann");
        id.read_only = true;
        let s = stack.for_identity(&id).await.unwrap();
        assert_eq!(read_all(s.as_ref(), "/notes").await.unwrap(), b"ann");
        let e = s.delete(&p("/notes")).await.unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::PermissionDenied, READ_ONLY_MESSAGE));
        assert_eq!(mem.file_contents(&p("/home/ann/notes")).unwrap(), b"ann");
    }

    #[tokio::test]
    async fn anonymous_gets_the_anonymous_rules_in_its_home() {
        let (mem, stack) = shared();
        let mut id = identity("anonymous", AccessClass::Anonymous, "/srv/ftp");
        id.incoming = Some(p("/incoming"));
        let s = stack.for_identity(&id).await.unwrap();
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
        let (mem, stack) = shared();
        let mut id = identity("anonymous", AccessClass::Anonymous, "/srv/ftp");
        id.incoming = Some(p("/incoming"));
        id.read_only = true;
        let s = stack.for_identity(&id).await.unwrap();
        let e = err_of(s.open_write(&p("/incoming/up"), WriteMode::Create { exclusive: true }).await);
        assert_eq!(e.message, READ_ONLY_MESSAGE);
        // Reads still follow the anonymous rules underneath.
        assert_eq!(err_of(s.list(&p("/incoming")).await).message, UPLOAD_ONLY_MESSAGE);
        assert_eq!(mem.entry_count(), 8);
    }

    #[derive(Debug)]
    struct Broken;

    #[async_trait::async_trait]
    impl StorageFactory for Broken {
        async fn storage_for(&self, _identity: &Identity) -> Result<Arc<dyn Storage>, StorageError> {
            Err(StorageError::new(ErrorKind::Transient, "backend down"))
        }
    }

    #[tokio::test]
    async fn factory_errors_reach_the_caller() {
        let e = Stack::new(Arc::new(Broken)).for_identity(&Identity::new("ann", AccessClass::User)).await.unwrap_err();
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
        let (mem, stack) = shared();
        mem.put_file(&p("/home/ann/pub/keep"), "k").unwrap();
        let s = stack.for_identity(&restricted("ann", AccessClass::User, "/home/ann")).await.unwrap();
        let e = s.delete(&p("/pub/keep")).await.unwrap_err();
        assert_eq!(e.message, "Permission denied: no 'delete' permission in /pub");
        s.delete(&p("/notes")).await.unwrap();
        // Rules are in the session's view, not the shared storage's.
        assert_eq!(mem.file_contents(&p("/home/ann/pub/keep")).unwrap(), b"k");
    }

    #[tokio::test]
    async fn anonymous_rules_and_read_only_still_apply_over_permissions() {
        let (_mem, stack) = shared();
        let mut id = restricted("anonymous", AccessClass::Anonymous, "/srv/ftp");
        id.incoming = Some(p("/incoming"));
        let s = stack.for_identity(&id).await.unwrap();
        // Permissions allow it; the anonymous policy does not.
        let e = s.mkdir(&p("/newdir")).await.unwrap_err();
        assert_eq!(e.message, ANONYMOUS_READ_ONLY_MESSAGE);
        let e = s.delete(&p("/pub/readme")).await.unwrap_err();
        assert_eq!(e.message, ANONYMOUS_READ_ONLY_MESSAGE);
        id.read_only = true;
        let s = stack.for_identity(&id).await.unwrap();
        assert_eq!(s.delete(&p("/pub/readme")).await.unwrap_err().message, READ_ONLY_MESSAGE);
    }

    #[tokio::test]
    async fn quota_and_throttle_wrap_only_when_configured() {
        let (mem, stack) = shared();
        let id = identity("ann", AccessClass::User, "/home/ann");
        let base = stack.factory.storage_for(&id).await.unwrap();
        let registry = QuotaRegistry::new();
        let usage = registry.usage_for("ann", base.as_ref()).await.unwrap();
        assert_eq!((usage.bytes(), usage.files()), (3, 1));
        // No quota, no limiters: the very same storage comes back.
        let same = with_quota(Arc::clone(&base), Arc::clone(&usage), &Limits::default());
        assert!(Arc::ptr_eq(&same, &base));
        let same = with_throttle(Arc::clone(&base), vec![], vec![]);
        assert!(Arc::ptr_eq(&same, &base));

        let limits = Limits { quota_bytes: Some(5), ..Limits::default() };
        let s = with_guards(with_quota(base, Arc::clone(&usage), &limits), &id);
        let s = with_throttle(s, vec![], crate::policy::RateLimiter::from_limit(Some(1 << 20)).into_iter().collect());
        upload(s.as_ref(), "/two", b"ab").await.unwrap();
        assert_eq!(usage.bytes(), 5);
        let e = err_of(upload(s.as_ref(), "/more", b"c").await);
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::InsufficientStorage, "Quota exceeded: 5 bytes allowed"));
        assert_eq!(mem.file_contents(&p("/home/ann/two")).unwrap(), b"ab");
        assert_eq!(mem.metadata(&p("/home/ann/more")).await.unwrap_err().kind, ErrorKind::NotFound);
    }
}
