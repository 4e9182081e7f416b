//! [`UnftpStorageFactory`]: a storage per logged-in identity, confined to its
//! session root by our means, with their user type for their calls.

use std::fmt;
use std::io;
use std::sync::Arc;

use async_trait::async_trait;
use oxftp_core::auth::Identity;
use oxftp_core::policy::Rooted;
use oxftp_core::storage::{Capabilities, ErrorKind, Storage, StorageError, StorageFactory};
use oxftp_proto::path::VPath;
use unftp_core::auth::{Principal, UserDetailError, UserDetailProvider};
use unftp_core::storage::StorageBackend;

use crate::storage::{UnftpStorage, Uploads};

type Open<B> = dyn Fn(&VPath) -> io::Result<B> + Send + Sync;

enum Backends<B> {
    /// One back-end for everybody; each session is confined by [`Rooted`].
    Shared(Arc<B>),
    /// A back-end opened at each session's root (and one at `/`, kept to
    /// learn the features and answer readiness checks).
    PerSession { open: Arc<Open<B>>, root: Arc<B> },
}

/// Hands each logged-in identity an [`UnftpStorage`] over a back-end of
/// theirs, confined to [`Identity::session_root`] by one of two means:
///
/// - [`shared`](Self::shared): one back-end instance, wrapped per session
///   in our [`Rooted`] layer (for object stores and anything without links);
/// - [`per_session`](Self::per_session): a back-end opened at the session's
///   root for each session, as libunftp's own server does with its back-end
///   generator (for local disks: symbolic links then resolve inside the
///   home, `unftp-sbe-fs` enforcing it with `cap-std`).
///
/// Their back-end `enter` (how libunftp restricts a back-end to a user's
/// home) is not called: the confinement is ours, and the same for every
/// back-end. The user their calls get comes from a
/// [`UserDetailProvider`] asked with the identity's user name
/// ([`unftp_core::auth::DefaultUserDetailProvider`] when the back-end ignores
/// users, as unftp-sbe-fs does); a provider that does not know the user
/// ends the login.
///
/// The policy layers (read-only, guest and anonymous rules, permissions,
/// quotas, throttling) are the engine's [`Stack`](oxftp_core::policy::Stack),
/// built over this factory like over any other: they sit in front of their
/// back-end.
pub struct UnftpStorageFactory<B, P: UserDetailProvider> {
    backends: Backends<B>,
    users: Arc<P>,
    uploads: Uploads,
    check_user: Option<Arc<P::User>>,
}

impl<B, P> fmt::Debug for UnftpStorageFactory<B, P>
where
    B: StorageBackend<P::User>,
    P: UserDetailProvider,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (how, backend) = match &self.backends {
            Backends::Shared(b) => ("shared", b.name()),
            Backends::PerSession { root, .. } => ("per session", root.name()),
        };
        f.debug_struct("UnftpStorageFactory")
            .field("backend", &backend)
            .field("instances", &how)
            .field("users", &self.users)
            .field("uploads", &self.uploads)
            .finish()
    }
}

impl<B, P> UnftpStorageFactory<B, P>
where
    P: UserDetailProvider + 'static,
    B: StorageBackend<P::User> + 'static,
{
    /// Every session on `backend`, confined to its session root by [`Rooted`].
    pub fn shared(backend: B, users: P) -> Self {
        UnftpStorageFactory {
            backends: Backends::Shared(Arc::new(backend)),
            users: Arc::new(users),
            uploads: Uploads::default(),
            check_user: None,
        }
    }

    /// Each session on a back-end `open` makes for its session root (a path
    /// of the served tree; [`local_path`](crate::local_path) turns it into a
    /// directory below a local base). `open` is called once now for `/`,
    /// which must work: that instance tells what the back-end supports
    /// (FEAT is answered before login) and answers readiness checks.
    pub fn per_session<F>(open: F, users: P) -> io::Result<Self>
    where
        F: Fn(&VPath) -> io::Result<B> + Send + Sync + 'static,
    {
        let root = Arc::new(open(&VPath::root())?);
        Ok(UnftpStorageFactory {
            backends: Backends::PerSession { open: Arc::new(open), root },
            users: Arc::new(users),
            uploads: Uploads::default(),
            check_user: None,
        })
    }

    /// How uploads reach the back-end (default: [`Uploads::Staged`]).
    pub fn with_uploads(mut self, uploads: Uploads) -> Self {
        self.uploads = uploads;
        self
    }

    /// Readiness checks ([`StorageFactory::check`]) look at the back-end's
    /// root as `user`; without one (their calls need a user) they answer yes.
    pub fn checked_as(mut self, user: P::User) -> Self {
        self.check_user = Some(Arc::new(user));
        self
    }

    fn features_backend(&self) -> &Arc<B> {
        match &self.backends {
            Backends::Shared(b) => b,
            Backends::PerSession { root, .. } => root,
        }
    }

    fn storage(&self, backend: Arc<B>, user: Arc<P::User>) -> UnftpStorage<B, P::User> {
        UnftpStorage::from_arc(backend, user).with_uploads(self.uploads)
    }
}

fn user_error(e: UserDetailError) -> StorageError {
    match e {
        UserDetailError::UserNotFound { username } => {
            StorageError::new(ErrorKind::PermissionDenied, format!("no user details for {username}"))
        }
        other => StorageError::new(ErrorKind::Transient, format!("user details: {other}")),
    }
}

#[async_trait]
impl<B, P> StorageFactory for UnftpStorageFactory<B, P>
where
    P: UserDetailProvider + 'static,
    B: StorageBackend<P::User> + 'static,
{
    fn capabilities(&self) -> Capabilities {
        // The user does not change what a back-end supports.
        crate::storage::capabilities(self.features_backend().supported_features())
    }

    async fn storage_for(&self, identity: &Identity) -> Result<Arc<dyn Storage>, StorageError> {
        let principal = Principal { username: identity.user.clone() };
        let user = Arc::new(self.users.provide_user_detail(&principal).await.map_err(user_error)?);
        let root = identity.session_root();
        match &self.backends {
            Backends::Shared(backend) => {
                let storage: Arc<dyn Storage> = Arc::new(self.storage(Arc::clone(backend), user));
                Ok(if root.is_root() { storage } else { Arc::new(Rooted::new(storage, root.clone())) })
            }
            Backends::PerSession { open, .. } => {
                let backend = open(root).map_err(StorageError::from)?;
                Ok(Arc::new(self.storage(Arc::new(backend), user)))
            }
        }
    }

    fn backend_name(&self) -> &str {
        "unftp"
    }

    async fn check(&self) -> Result<(), StorageError> {
        let Some(user) = &self.check_user else { return Ok(()) };
        let storage = self.storage(Arc::clone(self.features_backend()), Arc::clone(user));
        storage.metadata(&VPath::root()).await.map(drop)
    }
}
