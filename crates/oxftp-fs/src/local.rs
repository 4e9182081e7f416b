//! [`LocalFs`]: the `Storage` implementation over a directory handle.

use std::fmt;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use cap_fs_ext::{DirExt, SystemTimeSpec};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, Permissions, PermissionsExt};
use oxftp_core::storage::{
    Capabilities, DirLister, ErrorKind, ReadHandle, Storage, StorageError, SweepReport, WriteHandle, WriteMode,
};
use oxftp_proto::listing::FileInfo;
use oxftp_proto::path::VPath;

use crate::blocking::blocking;
use crate::list::LocalLister;
use crate::meta::{MODE_MASK, file_info};
use crate::open::open_regular;
use crate::paths::rel_path;
use crate::upload::{LocalUpload, is_temp_upload_name, open_upload};

/// Local disk storage confined to `root`.
///
/// Cloning is cheap: clones share the open root directory handle.
#[derive(Clone)]
pub struct LocalFs {
    /// The root directory, opened once; every path resolves beneath it.
    root: Arc<Dir>,
    /// Where the root was when it was opened (for `Debug` and logs only:
    /// nothing is resolved through it).
    origin: Arc<Path>,
    /// Whether `Create` uploads go through a temporary file.
    atomic: bool,
}

impl LocalFs {
    /// Open `root` (must exist and be a directory) — the error says why not.
    pub fn new(root: impl AsRef<Path>) -> io::Result<LocalFs> {
        let origin = root.as_ref();
        let dir = Dir::open_ambient_dir(origin, ambient_authority()).map_err(|e| root_error(origin, e))?;
        Ok(LocalFs::from_dir(dir, origin.to_path_buf()))
    }

    /// A storage over an already opened directory (the factory's homes).
    pub(crate) fn from_dir(dir: Dir, origin: PathBuf) -> LocalFs {
        LocalFs { root: Arc::new(dir), origin: Arc::from(origin), atomic: true }
    }

    /// Atomic uploads (default true): `Create` uploads write to a hidden
    /// temporary name in the same directory (`.oxftp-upload.<random>.tmp`),
    /// renamed into place (without fsync) on commit; on abort, or a drop
    /// without commit, the temporary file is removed. With false, uploads
    /// write straight to the final name (STOR truncates at open), as vsftpd
    /// does: readers may see a partial file and an interrupted upload stays.
    pub fn atomic_uploads(mut self, on: bool) -> Self {
        self.atomic = on;
        self
    }

    /// Remove the temporary files that atomic uploads left anywhere below
    /// the root when the process writing them died (`kill -9`, a crash):
    /// those whose `flock(2)` no upload holds. Uploads in progress, in this
    /// process or another one, keep theirs. Listings never show these
    /// files; this gives their space back. One walk of the tree on the
    /// blocking pool; symlinks are not followed.
    pub async fn sweep_abandoned_uploads(&self) -> Result<SweepReport, StorageError> {
        let root = self.root.clone();
        blocking(move || Ok(crate::upload::sweep(&root)?)).await
    }

    /// The open root directory (for the factory, which opens homes below it).
    pub(crate) fn root_dir(&self) -> &Dir {
        &self.root
    }

    /// Where the root was opened.
    pub(crate) fn origin(&self) -> &Path {
        &self.origin
    }

    /// Whether uploads are atomic.
    pub(crate) fn is_atomic(&self) -> bool {
        self.atomic
    }
}

/// Say which root failed to open and why, keeping the error's kind.
fn root_error(root: &Path, e: io::Error) -> io::Error {
    let why = match e.kind() {
        io::ErrorKind::NotFound => "does not exist".to_string(),
        io::ErrorKind::NotADirectory => "is not a directory".to_string(),
        io::ErrorKind::PermissionDenied => "is not accessible (permission denied)".to_string(),
        _ => format!("cannot be opened: {e}"),
    };
    io::Error::new(e.kind(), format!("storage root {} {why}", root.display()))
}

impl fmt::Debug for LocalFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalFs").field("root", &self.origin).field("atomic_uploads", &self.atomic).finish()
    }
}

/// The error for operations that would remove or move the root itself.
fn root_refused(what: &str) -> StorageError {
    StorageError::new(ErrorKind::PermissionDenied, format!("Cannot {what} the root directory"))
}

/// Refuse to create anything under a name of the temporary-upload pattern:
/// listings hide such names, so it would vanish from the client's view.
fn check_not_reserved(path: &VPath) -> Result<(), StorageError> {
    match path.file_name() {
        Some(name) if is_temp_upload_name(name) => {
            Err(StorageError::new(ErrorKind::InvalidName, "Name reserved for uploads in progress"))
        }
        _ => Ok(()),
    }
}

/// `unix_secs` as a `SystemTime`, for times before the epoch too.
fn system_time(unix_secs: i64) -> Option<SystemTime> {
    let magnitude = Duration::from_secs(unix_secs.unsigned_abs());
    if unix_secs >= 0 { UNIX_EPOCH.checked_add(magnitude) } else { UNIX_EPOCH.checked_sub(magnitude) }
}

#[async_trait]
impl Storage for LocalFs {
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn metadata(&self, path: &VPath) -> Result<FileInfo, StorageError> {
        let root = self.root.clone();
        let rel = rel_path(path);
        blocking(move || Ok(file_info(&root.metadata(rel)?))).await
    }

    async fn list(&self, path: &VPath) -> Result<Box<dyn DirLister>, StorageError> {
        let root = self.root.clone();
        let rel = rel_path(path);
        let lister = blocking(move || {
            let entries = root.read_dir(&rel)?;
            Ok(LocalLister::new(root, rel, entries))
        })
        .await?;
        Ok(Box::new(lister))
    }

    async fn open_read(&self, path: &VPath, offset: u64) -> Result<ReadHandle, StorageError> {
        let root = self.root.clone();
        let rel = rel_path(path);
        blocking(move || {
            let mut file = open_regular(&root, &rel, OpenOptions::new().read(true))?;
            if offset > 0 {
                // Past the end is fine: reads then return nothing.
                file.seek(SeekFrom::Start(offset))?;
            }
            Ok(ReadHandle::LocalFile(file))
        })
        .await
    }

    async fn open_write(&self, path: &VPath, mode: WriteMode) -> Result<Box<dyn WriteHandle>, StorageError> {
        check_not_reserved(path)?;
        let root = self.root.clone();
        let path = path.clone();
        let atomic = self.atomic;
        let opened = blocking(move || open_upload(&root, &path, mode, atomic)).await?;
        Ok(Box::new(LocalUpload::new(opened)))
    }

    async fn delete(&self, path: &VPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::new(ErrorKind::IsADirectory, "Is a directory"));
        }
        let root = self.root.clone();
        let rel = rel_path(path);
        // unlinkat(2) without AT_REMOVEDIR: removes a symlink, not its
        // target, and fails with EISDIR on a directory.
        blocking(move || Ok(root.remove_file(rel)?)).await
    }

    async fn mkdir(&self, path: &VPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::new(ErrorKind::AlreadyExists, "File exists"));
        }
        check_not_reserved(path)?;
        let root = self.root.clone();
        let rel = rel_path(path);
        blocking(move || Ok(root.create_dir(rel)?)).await
    }

    async fn rmdir(&self, path: &VPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(root_refused("remove"));
        }
        let root = self.root.clone();
        let rel = rel_path(path);
        blocking(move || Ok(root.remove_dir(rel)?)).await
    }

    async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), StorageError> {
        if from.is_root() || to.is_root() {
            return Err(root_refused("rename"));
        }
        check_not_reserved(to)?;
        let root = self.root.clone();
        let (from, to) = (rel_path(from), rel_path(to));
        blocking(move || {
            root.rename(&from, &root, &to).map_err(|e| {
                if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) {
                    // rename(2) says EINVAL when a directory would move into itself.
                    StorageError::new(ErrorKind::InvalidName, "Cannot move a directory into itself")
                } else {
                    StorageError::from(e)
                }
            })
        })
        .await
    }

    async fn set_mode(&self, path: &VPath, mode: u32) -> Result<(), StorageError> {
        let root = self.root.clone();
        let rel = rel_path(path);
        // cap-std follows an in-root symlink and refuses one that leaves.
        blocking(move || Ok(root.set_permissions(rel, Permissions::from_mode(mode & MODE_MASK))?)).await
    }

    async fn set_mtime(&self, path: &VPath, unix_secs: i64) -> Result<(), StorageError> {
        // cap-std (through fs-set-times) cannot express times before the
        // epoch and would panic on them; refuse them as a parameter this
        // storage does not implement.
        if unix_secs < 0 {
            return Err(StorageError::new(ErrorKind::Unsupported, "Times before 1970 are not supported"));
        }
        let Some(time) = system_time(unix_secs) else {
            return Err(StorageError::new(ErrorKind::Unsupported, "Time out of range"));
        };
        let mtime = SystemTimeSpec::Absolute(cap_std::time::SystemTime::from_std(time));
        let root = self.root.clone();
        let rel = rel_path(path);
        // No access time: utimensat(2) gets UTIME_OMIT and keeps it.
        blocking(move || Ok(root.set_times(rel, None, Some(mtime))?)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_on_both_sides_of_the_epoch() {
        assert_eq!(system_time(0), Some(UNIX_EPOCH));
        assert_eq!(system_time(86_400), Some(UNIX_EPOCH + Duration::from_secs(86_400)));
        assert_eq!(system_time(-86_400), Some(UNIX_EPOCH - Duration::from_secs(86_400)));
        assert_eq!(system_time(i64::MIN).is_some(), UNIX_EPOCH.checked_sub(Duration::from_secs(1 << 63)).is_some());
    }

    #[test]
    fn root_errors_name_the_root_and_keep_the_kind() {
        let e = root_error(Path::new("/srv/ftp"), io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(e.to_string(), "storage root /srv/ftp does not exist");
    }
}
