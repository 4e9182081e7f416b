//! [`LocalFsFactory`]: one `LocalFs` per session, rooted at the user's home.

use std::io;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use oxftp_core::auth::Identity;
use oxftp_core::storage::{ErrorKind, Storage, StorageError, StorageFactory, SweepReport};

use crate::blocking::blocking;
use crate::local::LocalFs;
use crate::paths::rel_path;

/// Makes a [`LocalFs`] rooted at `root + identity.session_root()` (a
/// guest's home, a user's root) for each session.
///
/// The home is opened beneath the factory's root handle, so a home reached
/// through a symlink leaving the root is refused, and each session's storage
/// is confined to its own home (symlinks in it cannot reach other homes).
/// Nothing is created: a missing home is a `NotFound` error.
#[derive(Debug, Clone)]
pub struct LocalFsFactory {
    base: LocalFs,
}

impl LocalFsFactory {
    /// Open `root` (must exist and be a directory) — the error says why not.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Self> {
        Ok(LocalFsFactory { base: LocalFs::new(root)? })
    }

    /// Atomic uploads for every storage handed out (default true; see
    /// [`LocalFs::atomic_uploads`]).
    pub fn atomic_uploads(self, on: bool) -> Self {
        LocalFsFactory { base: self.base.atomic_uploads(on) }
    }
}

#[async_trait]
impl StorageFactory for LocalFsFactory {
    /// Opens the home directory: one `openat` beneath the root, on the
    /// blocking pool like every other filesystem call.
    async fn storage_for(&self, identity: &Identity) -> Result<Arc<dyn Storage>, StorageError> {
        let session_root = identity.session_root();
        if session_root.is_root() {
            return Ok(Arc::new(self.base.clone()));
        }
        let rel = rel_path(session_root);
        let base = self.base.clone();
        let storage = blocking(move || {
            let dir = base.root_dir().open_dir(&rel).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => StorageError::new(ErrorKind::NotFound, "home directory does not exist"),
                io::ErrorKind::NotADirectory => StorageError::new(ErrorKind::NotADirectory, "home is not a directory"),
                _ => StorageError::from(e),
            })?;
            Ok(LocalFs::from_dir(dir, base.origin().join(rel)).atomic_uploads(base.is_atomic()))
        })
        .await?;
        Ok(Arc::new(storage))
    }

    /// The temporary files of dead uploads anywhere below the root (see
    /// [`LocalFs::sweep_abandoned_uploads`]).
    async fn sweep_abandoned_uploads(&self) -> Result<SweepReport, StorageError> {
        self.base.sweep_abandoned_uploads().await
    }

    fn backend_name(&self) -> &str {
        "fs"
    }

    /// The root, looked up by its path again (a removed, renamed or
    /// unmounted root fails even while the open handle lives on), is a
    /// directory this process can list.
    async fn check(&self) -> Result<(), StorageError> {
        let root = self.base.origin().to_path_buf();
        blocking(move || {
            let mut entries = std::fs::read_dir(&root)?;
            entries.next().transpose()?;
            Ok(())
        })
        .await
        .map_err(|e: StorageError| StorageError::new(e.kind, format!("storage root: {}", e.message)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn check_follows_the_root_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let factory = LocalFsFactory::new(&root).unwrap();
        assert_eq!(factory.backend_name(), "fs");
        factory.check().await.unwrap();
        // The open handle survives a rename; the check must not.
        std::fs::rename(&root, dir.path().join("moved")).unwrap();
        let e = factory.check().await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
        assert!(e.message.starts_with("storage root:"), "{e}");
        std::fs::rename(dir.path().join("moved"), &root).unwrap();
        factory.check().await.unwrap();
    }
}
