//! Opening regular files beneath the root without ever blocking on special
//! files.
//!
//! A named pipe inside the tree would make a plain `open(2)` wait for a peer
//! forever, pinning a blocking thread per attempt (a cheap denial of service),
//! and a device node has no business being served. So files are opened with
//! `O_NONBLOCK`, checked to be regular files, and only then switched back to
//! blocking mode.

use std::path::Path;

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};
use oxftp_core::storage::{ErrorKind, StorageError};
use rustix::fs::OFlags;

/// Open `path` (relative to `root`, in-root symlinks followed) with `options`
/// and make sure it is a regular file: a directory gives `IsADirectory`,
/// anything else that is not a regular file `PermissionDenied`.
pub(crate) fn open_regular(root: &Dir, path: &Path, options: &mut OpenOptions) -> Result<std::fs::File, StorageError> {
    options.custom_flags(OFlags::NONBLOCK.bits() as i32);
    let file = root.open_with(path, options)?.into_std();
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(StorageError::new(ErrorKind::IsADirectory, "Is a directory"));
    }
    if !meta.is_file() {
        return Err(StorageError::new(ErrorKind::PermissionDenied, "Not a regular file"));
    }
    let flags = rustix::fs::fcntl_getfl(&file).map_err(std::io::Error::from)?;
    rustix::fs::fcntl_setfl(&file, flags - OFlags::NONBLOCK).map_err(std::io::Error::from)?;
    Ok(file)
}
