//! [`UnftpStorage`]: one unftp-core `StorageBackend`, used as one user, as our `Storage`.

use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};
use std::sync::Arc;

use async_trait::async_trait;
use oxftp_core::storage::{
    Capabilities, DirEntry, DirLister, ErrorKind, Existing, ReadHandle, Storage, StorageError, WriteHandle, WriteMode,
};
use oxftp_proto::listing::FileInfo;
use oxftp_proto::path::VPath;
use tokio::io::AsyncReadExt;
use unftp_core::auth::UserDetail;
use unftp_core::storage::{FEATURE_RESTART, Metadata, StorageBackend};

use crate::error::storage_error;
use crate::meta::{backend_path, entry_name, file_info};
use crate::upload::{Plan, Upload};

/// Names of staged uploads' part files start with this; listings leave them
/// out and uploads to such a name are refused.
pub const PART_PREFIX: &[u8] = b".oxftp-upload-";

/// Symbolic links followed one after the other before giving up (as ELOOP).
const MAX_LINKS: usize = 16;

/// Listings tried again when an entry vanished while the back-end read it.
const LIST_TRIES: usize = 3;

/// Listing entries handed to the engine per page.
const PAGE: usize = 1000;

/// How uploads reach the back-end, whose `put` writes the name it is given
/// from the first byte on (there is no commit in their trait).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Uploads {
    /// Atomic, as our `Storage` contract asks: `put` writes a hidden part
    /// file (`.oxftp-upload-…`) in the target's directory, renamed over the
    /// target when the upload is complete and removed when it is aborted,
    /// dropped or fails. Needs a back-end whose `rename` replaces an existing
    /// file (POSIX `rename`, as unftp-sbe-fs does) and is cheap.
    #[default]
    Staged,
    /// Straight to the final name, for back-ends without such a rename (an
    /// object store whose rename is a copy): the file is visible while it is
    /// uploaded, and an aborted upload keeps what was written, as FTP servers
    /// traditionally do.
    Direct,
}

/// An unftp-core [`StorageBackend`] as our [`Storage`], every call made as
/// one user (their back-ends take the user with each call).
///
/// REST (resumed downloads), APPE and REST+STOR follow their
/// `FEATURE_RESTART`; without it downloads still start at an offset, by
/// reading and dropping what comes before it. SITE CHMOD and MFMT are not in
/// their trait and are refused. See the crate documentation for the rest.
pub struct UnftpStorage<B, U> {
    backend: Arc<B>,
    user: Arc<U>,
    uploads: Uploads,
}

impl<B, U> fmt::Debug for UnftpStorage<B, U>
where
    B: StorageBackend<U>,
    U: UserDetail,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnftpStorage")
            .field("backend", &self.backend.name())
            .field("user", &self.user.to_string())
            .field("uploads", &self.uploads)
            .finish()
    }
}

impl<B, U> UnftpStorage<B, U>
where
    B: StorageBackend<U> + 'static,
    U: UserDetail + 'static,
{
    /// `backend` used as `user`, with staged (atomic) uploads.
    pub fn new(backend: B, user: U) -> Self {
        Self::from_arc(Arc::new(backend), Arc::new(user))
    }

    /// A back-end shared with other storages (one per session, say).
    pub fn from_arc(backend: Arc<B>, user: Arc<U>) -> Self {
        UnftpStorage { backend, user, uploads: Uploads::default() }
    }

    /// How uploads reach the back-end (default: [`Uploads::Staged`]).
    pub fn with_uploads(mut self, uploads: Uploads) -> Self {
        self.uploads = uploads;
        self
    }

    /// The back-end.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    fn restart(&self) -> bool {
        self.backend.supported_features() & FEATURE_RESTART != 0
    }

    async fn raw_metadata(&self, path: &VPath) -> Result<B::Metadata, StorageError> {
        self.backend.metadata(&*self.user, backend_path(path)).await.map_err(|e| storage_error(&e))
    }

    /// What is at `path` before an upload: a file's size, nothing (`None`),
    /// or an error for a directory, a missing parent or a parent that is a file.
    async fn upload_target(&self, path: &VPath, existing: Existing) -> Result<Option<u64>, StorageError> {
        if let Existing::File(size) = existing {
            return Ok(Some(size));
        }
        match self.metadata(path).await {
            Ok(info) if info.is_dir() => Err(StorageError::new(ErrorKind::IsADirectory, "Is a directory")),
            Ok(info) => Ok(Some(info.size)),
            Err(e) if e.kind == ErrorKind::NotFound => {
                // Nothing there: the parent must be a directory. (Their
                // metadata says "not available" for `/file/x` too, so the
                // parent is asked to tell the two apart.)
                let parent = path.parent().unwrap_or_else(VPath::root);
                match self.metadata(&parent).await {
                    Ok(info) if info.is_dir() => Ok(None),
                    Ok(_) => Err(StorageError::new(ErrorKind::NotADirectory, "Not a directory")),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn start(&self, path: &VPath, start: u64, plan: Plan) -> Box<dyn WriteHandle> {
        Box::new(Upload::start(Arc::clone(&self.backend), Arc::clone(&self.user), backend_path(path), start, plan))
    }
}

/// What a back-end with these `supported_features` can do through us.
pub(crate) fn capabilities(features: u32) -> Capabilities {
    let restart = features & FEATURE_RESTART != 0;
    Capabilities {
        // Without their REST, by reading up to the offset.
        read_at_offset: true,
        write_at_offset: restart,
        append: restart,
        rename: true,
        // Not in their trait.
        set_mode: false,
        set_mtime: false,
    }
}

/// The path a relative link `target` in directory `dir` points to, if it
/// stays inside the tree (an absolute target is a path of the host, not of
/// the tree, and a `..` above `/` leaves it: neither is followed).
fn link_target(dir: &VPath, target: &Path) -> Option<VPath> {
    let mut at = dir.clone();
    for part in target.components() {
        match part {
            Component::Normal(name) => at = at.join(name.as_bytes()).ok()?,
            Component::ParentDir => at = at.parent()?,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(at)
}

fn is_part_name(path: &VPath) -> bool {
    path.file_name().is_some_and(|name| name.starts_with(PART_PREFIX))
}

fn part_name_refused() -> StorageError {
    StorageError::new(ErrorKind::InvalidName, "Names starting with .oxftp-upload- are reserved")
}

/// Pages of a listing the back-end gave all at once.
struct Pages(std::vec::IntoIter<DirEntry>);

#[async_trait]
impl DirLister for Pages {
    async fn next_page(&mut self) -> Result<Option<Vec<DirEntry>>, StorageError> {
        let page: Vec<DirEntry> = self.0.by_ref().take(PAGE).collect();
        Ok(if page.is_empty() { None } else { Some(page) })
    }
}

#[async_trait]
impl<B, U> Storage for UnftpStorage<B, U>
where
    B: StorageBackend<U> + 'static,
    U: UserDetail + 'static,
{
    fn capabilities(&self) -> Capabilities {
        capabilities(self.backend.supported_features())
    }

    /// Their metadata does not follow links (unftp-sbe-fs reads the link
    /// itself); ours does, for links that stay inside the tree.
    async fn metadata(&self, path: &VPath) -> Result<FileInfo, StorageError> {
        let mut at = path.clone();
        for _ in 0..MAX_LINKS {
            let meta = self.raw_metadata(&at).await?;
            if !meta.is_symlink() {
                return Ok(file_info(&meta));
            }
            let dir = at.parent().unwrap_or_else(VPath::root);
            match meta.readlink().and_then(|target| link_target(&dir, target)) {
                Some(next) => at = next,
                None => return Ok(file_info(&meta)),
            }
        }
        Err(StorageError::new(ErrorKind::PermissionDenied, "Too many levels of symbolic links"))
    }

    /// All at once from the back-end (their `list` returns a `Vec`), handed
    /// out in pages; part files of staged uploads are left out.
    async fn list(&self, path: &VPath) -> Result<Box<dyn DirLister>, StorageError> {
        let mut tries = 0;
        let listed = loop {
            match self.backend.list(&*self.user, backend_path(path)).await {
                Ok(listed) => break listed,
                // unftp-sbe-fs reads the names, then each entry's metadata,
                // and fails the whole listing when an entry goes in between
                // (another session's DELE, an upload's part file removed):
                // when the directory itself is still there, list it again.
                Err(e) if tries < LIST_TRIES && storage_error(&e).kind == ErrorKind::NotFound => {
                    tries += 1;
                    if !self.raw_metadata(path).await.is_ok_and(|m| m.is_dir()) {
                        return Err(storage_error(&e));
                    }
                }
                Err(e) => return Err(storage_error(&e)),
            }
        };
        let entries: Vec<DirEntry> = listed
            .iter()
            .map(|entry| DirEntry { name: entry_name(&entry.path), info: file_info(&entry.metadata) })
            .filter(|entry| !entry.name.starts_with(PART_PREFIX) && !entry.name.is_empty())
            .collect();
        Ok(Box::new(Pages(entries.into_iter())))
    }

    /// A stream (their `get`), never a local file: no `sendfile`. A
    /// directory is refused here, since a local-disk back-end opens one
    /// without complaint and fails only at the first read.
    async fn open_read(&self, path: &VPath, offset: u64) -> Result<ReadHandle, StorageError> {
        if self.metadata(path).await?.is_dir() {
            return Err(StorageError::new(ErrorKind::IsADirectory, "Is a directory"));
        }
        let native = offset == 0 || self.restart();
        let start = if native { offset } else { 0 };
        let mut reader =
            self.backend.get(&*self.user, backend_path(path), start).await.map_err(|e| storage_error(&e))?;
        if !native {
            // No REST in the back-end: read up to the offset and drop it.
            tokio::io::copy(&mut (&mut reader).take(offset), &mut tokio::io::sink()).await?;
        }
        Ok(ReadHandle::Stream(reader))
    }

    async fn open_write(&self, path: &VPath, mode: WriteMode) -> Result<Box<dyn WriteHandle>, StorageError> {
        self.open_write_known(path, mode, Existing::Unknown).await
    }

    async fn open_write_known(
        &self,
        path: &VPath,
        mode: WriteMode,
        existing: Existing,
    ) -> Result<Box<dyn WriteHandle>, StorageError> {
        if path.is_root() {
            return Err(StorageError::new(ErrorKind::IsADirectory, "Is a directory"));
        }
        if is_part_name(path) {
            return Err(part_name_refused());
        }
        match mode {
            WriteMode::Create { exclusive } => self.create(path, exclusive, existing).await,
            WriteMode::At(0) => self.create(path, false, existing).await,
            WriteMode::At(offset) => {
                if !self.restart() {
                    return Err(StorageError::unsupported("REST before STOR"));
                }
                let size = self.upload_target(path, existing).await?.ok_or_else(StorageError::not_found)?;
                if offset > size {
                    return Err(StorageError::new(ErrorKind::Other, "REST offset beyond end of file"));
                }
                Ok(self.start(path, offset, Plan::Direct))
            }
            WriteMode::Append => {
                if !self.restart() {
                    return Err(StorageError::unsupported("APPE"));
                }
                // Their `put` has no append: it writes from an offset, here the
                // current end (two appends at once to one file may overlap).
                let size = self.upload_target(path, existing).await?.unwrap_or(0);
                Ok(self.start(path, size, Plan::Direct))
            }
        }
    }

    async fn delete(&self, path: &VPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::new(ErrorKind::IsADirectory, "Is a directory"));
        }
        self.backend.del(&*self.user, backend_path(path)).await.map_err(|e| storage_error(&e))
    }

    async fn mkdir(&self, path: &VPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::new(ErrorKind::AlreadyExists, "File exists"));
        }
        if is_part_name(path) {
            return Err(part_name_refused());
        }
        self.backend.mkd(&*self.user, backend_path(path)).await.map_err(|e| storage_error(&e))
    }

    async fn rmdir(&self, path: &VPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::permission_denied());
        }
        self.backend.rmd(&*self.user, backend_path(path)).await.map_err(|e| storage_error(&e))
    }

    async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), StorageError> {
        if from.is_root() || to.is_root() {
            return Err(StorageError::permission_denied());
        }
        if is_part_name(to) {
            return Err(part_name_refused());
        }
        self.backend.rename(&*self.user, backend_path(from), backend_path(to)).await.map_err(|e| storage_error(&e))
    }
}

impl<B, U> UnftpStorage<B, U>
where
    B: StorageBackend<U> + 'static,
    U: UserDetail + 'static,
{
    /// STOR (and STOU, exclusive): staged or direct as configured.
    async fn create(
        &self,
        path: &VPath,
        exclusive: bool,
        existing: Existing,
    ) -> Result<Box<dyn WriteHandle>, StorageError> {
        let target = self.upload_target(path, existing).await?;
        if exclusive && target.is_some() {
            return Err(StorageError::new(ErrorKind::AlreadyExists, "File exists"));
        }
        match self.uploads {
            Uploads::Direct => Ok(self.start(path, 0, Plan::Direct)),
            Uploads::Staged => {
                let parent = path.parent().unwrap_or_else(VPath::root);
                let mut name = PART_PREFIX.to_vec();
                name.extend_from_slice(format!("{:016x}", rand::random::<u64>()).as_bytes());
                let part = parent.join(&name).map_err(|e| StorageError::new(ErrorKind::Other, e.to_string()))?;
                Ok(self.start(&part, 0, Plan::Staged { target: backend_path(path), exclusive }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> VPath {
        VPath::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn links_are_followed_only_inside_the_tree() {
        assert_eq!(link_target(&p("/a/b"), Path::new("c")), Some(p("/a/b/c")));
        assert_eq!(link_target(&p("/a/b"), Path::new("../c/./d")), Some(p("/a/c/d")));
        assert_eq!(link_target(&p("/a"), Path::new("../..")), None);
        assert_eq!(link_target(&p("/"), Path::new("../etc/passwd")), None);
        assert_eq!(link_target(&p("/a"), Path::new("/etc/passwd")), None);
    }

    #[test]
    fn part_names_are_recognised() {
        assert!(is_part_name(&p("/d/.oxftp-upload-0123")));
        assert!(!is_part_name(&p("/d/.oxftp-uploa")));
        assert!(!is_part_name(&VPath::root()));
    }
}
