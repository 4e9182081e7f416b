//! [`OpendalFactory`]: one object store for every account, each session
//! rooted at its account's home, which is created at its first login.

use std::sync::Arc;

use async_trait::async_trait;
use oxftp_core::auth::Identity;
use oxftp_core::policy::SharedStorage;
use oxftp_core::storage::{Capabilities, Storage, StorageError, StorageFactory};

use crate::storage::OpendalStorage;

/// Gives each identity the shared store confined to its session root (a
/// guest's home, a user's root; as [`SharedStorage`] does), creating the
/// home first when it does not exist: on an
/// object store a prefix with nothing in it cannot even be listed, and
/// accounts come and go with the users file, so they cannot all be created
/// in advance. A home that cannot be created is logged and the session
/// still starts; its commands then report the store's trouble.
#[derive(Debug, Clone)]
pub struct OpendalFactory {
    store: Arc<OpendalStorage>,
    shared: SharedStorage,
    /// The service's scheme ("s3", "memory", ...), the metrics' backend label.
    scheme: String,
}

impl OpendalFactory {
    /// Serve every identity from `store`.
    pub fn new(store: Arc<OpendalStorage>) -> Self {
        let shared = SharedStorage::new(Arc::clone(&store) as Arc<dyn Storage>);
        let scheme = store.operator().info().scheme().to_string();
        OpendalFactory { store, shared, scheme }
    }
}

#[async_trait]
impl StorageFactory for OpendalFactory {
    fn capabilities(&self) -> Capabilities {
        self.store.capabilities()
    }

    async fn storage_for(&self, identity: &Identity) -> Result<Arc<dyn Storage>, StorageError> {
        if !identity.home.is_root()
            && let Err(e) = self.store.ensure_dir(&identity.home).await
        {
            slog::warn!(self.store.logger(), "cannot create home";
                "user" => &identity.user, "home" => %identity.home, "error" => %e.message);
        }
        self.shared.storage_for(identity).await
    }

    fn backend_name(&self) -> &str {
        &self.scheme
    }

    /// One LIST of at most one key (see [`OpendalStorage::check`]).
    async fn check(&self) -> Result<(), StorageError> {
        self.store.check().await
    }
}
