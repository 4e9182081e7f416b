//! `[storage]`: the storage factory every session's stack is built over, a
//! local root or an object store.

use std::sync::Arc;

use anyhow::Context as _;
use oxftp_core::storage::StorageFactory;
use oxftp_fs::LocalFsFactory;
use oxftp_opendal::{OpendalFactory, OpendalStorage};
use slog::Logger;

use crate::config::{Config, StorageConfig};

/// The object store for `config`, when it uses one.
pub(super) fn object_store(config: &Config, logger: &Logger) -> anyhow::Result<Option<Arc<OpendalStorage>>> {
    match &config.storage {
        StorageConfig::Fs(_) => Ok(None),
        StorageConfig::Opendal(settings) => {
            let storage = OpendalStorage::from_config(settings).context("cannot set up the object store")?;
            Ok(Some(Arc::new(storage.with_logger(logger.clone()))))
        }
    }
}

/// `check-config`'s second half: can the configured storage be reached? (A
/// local root was already checked while loading.)
pub async fn check_storage(config: &Config) -> anyhow::Result<()> {
    let discard = Logger::root(slog::Discard, slog::o!());
    if let Some(store) = object_store(config, &discard)? {
        store.check().await.map_err(|e| anyhow::anyhow!("storage: {}", e.message))?;
    }
    Ok(())
}

/// The storage factory for `config`. With an object store, checks that it
/// answers and creates the anonymous directories first.
pub(super) async fn factory(config: &Config, logger: &Logger) -> anyhow::Result<Arc<dyn StorageFactory>> {
    let storage: Arc<dyn StorageFactory> = match &config.storage {
        StorageConfig::Fs(fs) => {
            let storage = LocalFsFactory::new(&fs.root)
                .with_context(|| format!("cannot serve {}", fs.root.display()))?
                .atomic_uploads(fs.atomic_uploads);
            Arc::new(storage)
        }
        StorageConfig::Opendal(_) => {
            let store = object_store(config, logger)?.context("object store missing")?;
            store.check().await.map_err(|e| anyhow::anyhow!("storage: {}", e.message))?;
            if config.anonymous.enabled {
                let root = &config.anonymous.root;
                let mut dirs = vec![root.clone()];
                dirs.extend(config.anonymous.incoming.as_ref().map(|incoming| incoming.under(root)));
                for dir in dirs {
                    store.ensure_dir(&dir).await.map_err(|e| anyhow::anyhow!("cannot create {dir}: {}", e.message))?;
                }
            }
            // The factory creates each account's home at its first login.
            Arc::new(OpendalFactory::new(store))
        }
    };
    Ok(storage)
}
