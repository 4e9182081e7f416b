//! [`SharedStorage`]: one storage for every account, each confined to its session root.

use std::sync::Arc;

use async_trait::async_trait;

use super::Rooted;
use crate::auth::Identity;
use crate::storage::{Capabilities, Storage, StorageError, StorageFactory};

/// A StorageFactory over one shared storage: each identity gets
/// `Rooted(shared, identity.session_root())` (the home for a guest, the
/// root for a user).
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

#[async_trait]
impl StorageFactory for SharedStorage {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn storage_for(&self, identity: &Identity) -> Result<Arc<dyn Storage>, StorageError> {
        Ok(Arc::new(Rooted::new(Arc::clone(&self.inner), identity.session_root().clone())))
    }

    /// The shared storage answers for its root.
    async fn check(&self) -> Result<(), StorageError> {
        self.inner.metadata(&oxftp_proto::path::VPath::root()).await.map(drop)
    }
}
