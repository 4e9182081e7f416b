//! Uploads: opening the file an upload writes, the write handle, and making
//! the result visible on commit.
//!
//! Atomic uploads write to `.oxftp-upload.<random>.tmp` in the target's
//! directory (same filesystem, so the final rename is atomic) through a handle
//! on that directory, so a concurrent rename of the directory cannot redirect
//! the commit elsewhere. Resume (`At`) and append write in place: they need the
//! bytes already there.
//!
//! A temporary file is `flock(2)`ed (exclusively) by the upload writing it,
//! from its creation until it is renamed or removed. The kernel drops the
//! lock when the process dies, however it dies, so [`sweep`] can tell the
//! temporary files of a killed server (`kill -9`, power loss) from those of
//! uploads in progress, in this process or in another one serving the same
//! tree, and remove only the former.

use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use cap_std::fs::{Dir, MetadataExt, OpenOptions};
use oxftp_core::storage::{ErrorKind, StorageError, SweepReport, WriteHandle, WriteMode};
use oxftp_proto::path::VPath;
use rustix::fs::{AtFlags, FlockOperation, RenameFlags};
use rustix::io::Errno;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::blocking::blocking;
use crate::open::open_regular;
use crate::paths::{name_path, rel_path};
use crate::writer::BlockWriter;

/// Start of every temporary upload name (hidden: a leading dot).
const TEMP_PREFIX: &[u8] = b".oxftp-upload.";
/// End of every temporary upload name.
const TEMP_SUFFIX: &[u8] = b".tmp";
/// Attempts at a fresh temporary name before giving up (64 random bits each:
/// a second attempt already means something odd is going on).
const TEMP_ATTEMPTS: usize = 8;
/// The permission bits a replacing upload takes over from the file it
/// replaces. Setuid, setgid and sticky are left out: new contents must not
/// inherit privileges granted to the old ones.
const KEPT_MODE_BITS: u32 = 0o777;

/// Whether `name` is one of our in-progress upload files (listings hide them).
pub(crate) fn is_temp_upload_name(name: &[u8]) -> bool {
    name.len() > TEMP_PREFIX.len() + TEMP_SUFFIX.len() && name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)
}

/// A fresh temporary upload name.
fn temp_name() -> Vec<u8> {
    let mut name = TEMP_PREFIX.to_vec();
    name.extend_from_slice(format!("{:016x}", rand::random::<u64>()).as_bytes());
    name.extend_from_slice(TEMP_SUFFIX);
    name
}

/// An opened upload before it is wrapped for async writing.
pub(crate) struct Opened {
    file: std::fs::File,
    pending: Option<PendingRename>,
}

/// Open the file an upload to `path` writes, as `mode` says. Blocking.
pub(crate) fn open_upload(root: &Dir, path: &VPath, mode: WriteMode, atomic: bool) -> Result<Opened, StorageError> {
    let Some(name) = path.file_name() else {
        return Err(StorageError::new(ErrorKind::IsADirectory, "Is a directory"));
    };
    let full = rel_path(path);
    match mode {
        WriteMode::Create { exclusive } => create(root, path, name, exclusive, atomic),
        WriteMode::At(0) => create(root, path, name, false, atomic),
        WriteMode::At(offset) => {
            let mut file = open_regular(root, &full, OpenOptions::new().write(true))?;
            let len = file.metadata()?.len();
            if offset > len {
                return Err(StorageError::new(ErrorKind::Other, "REST offset beyond end of file"));
            }
            file.set_len(offset)?;
            file.seek(SeekFrom::Start(offset))?;
            Ok(Opened { file, pending: None })
        }
        WriteMode::Append => {
            let file = open_regular(root, &full, OpenOptions::new().append(true).create(true))?;
            Ok(Opened { file, pending: None })
        }
    }
}

/// `Create` (and `At(0)`): a new file, or a replacement.
fn create(root: &Dir, path: &VPath, name: &[u8], exclusive: bool, atomic: bool) -> Result<Opened, StorageError> {
    // The parent is opened once and everything below goes through this
    // handle: the temp file, the existence checks and the final rename all
    // happen in the same directory even if it is renamed meanwhile.
    let parent_path = path.parent().map(|p| rel_path(&p)).unwrap_or_else(|| rel_path(&VPath::root()));
    let parent = root.open_dir(&parent_path)?;
    let name_p = name_path(name);
    let mut keep_mode = None;
    match parent.symlink_metadata(name_p) {
        Ok(_) if exclusive => {
            return Err(StorageError::new(ErrorKind::AlreadyExists, "File exists"));
        }
        Ok(existing) => {
            // What the name stands for, following an in-root symlink; like a
            // plain open(2) would, refuse to "replace" a directory.
            let target =
                if existing.file_type().is_symlink() { root.metadata(rel_path(path)).ok() } else { Some(existing) };
            if let Some(target) = target {
                if target.is_dir() {
                    return Err(StorageError::new(ErrorKind::IsADirectory, "Is a directory"));
                }
                if target.is_file() {
                    keep_mode = Some(target.mode() & KEPT_MODE_BITS);
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }

    if !atomic {
        let file = if exclusive {
            // O_CREAT|O_EXCL in the parent: never follows a symlink, and
            // refuses a name that appeared since the check above.
            parent.open_with(name_p, OpenOptions::new().write(true).create_new(true))?.into_std()
        } else {
            open_regular(root, &rel_path(path), OpenOptions::new().write(true).create(true).truncate(true))?
        };
        return Ok(Opened { file, pending: None });
    }

    let parent = Arc::new(parent);
    let mut attempt = 0;
    let (file, tmp) = loop {
        attempt += 1;
        let tmp = temp_name();
        let file = match parent.open_with(name_path(&tmp), OpenOptions::new().write(true).create_new(true)) {
            Ok(file) => file.into_std(),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < TEMP_ATTEMPTS => continue,
            Err(e) => return Err(e.into()),
        };
        match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
            // Locked, and still ours under that name (a sweep may have
            // locked, removed and released it in between).
            Ok(()) if still_named(&parent, &tmp, &file) => break (file, tmp),
            // A sweep took it between its creation and our lock, and is
            // about to remove it (or has): start over under another name.
            Ok(()) | Err(Errno::WOULDBLOCK) if attempt < TEMP_ATTEMPTS => continue,
            Ok(()) => return Err(StorageError::new(ErrorKind::Other, "cannot keep a temporary upload file")),
            Err(e) => {
                let _ = parent.remove_file(name_path(&tmp));
                return Err(errno_error(e));
            }
        }
    };
    // From here on the pending rename owns the temp file and removes it on
    // any failure.
    let pending = PendingRename { dir: parent, tmp, name: name.to_vec(), exclusive, done: false };
    if let Some(mode) = keep_mode {
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    Ok(Opened { file, pending: Some(pending) })
}

/// Whether `name` in `dir` is still the file `file` is open on.
fn still_named(dir: &Dir, name: &[u8], file: &std::fs::File) -> bool {
    let (Ok(named), Ok(open)) =
        (rustix::fs::statat(dir, name_path(name), AtFlags::SYMLINK_NOFOLLOW), rustix::fs::fstat(file))
    else {
        return false;
    };
    (named.st_dev, named.st_ino) == (open.st_dev, open.st_ino)
}

/// The rename that will publish an atomic upload, and the duty to remove the
/// temporary file if that never happens.
struct PendingRename {
    /// The target's directory.
    dir: Arc<Dir>,
    /// The temporary name in `dir`.
    tmp: Vec<u8>,
    /// The final name in `dir`.
    name: Vec<u8>,
    /// Refuse to replace an existing `name`.
    exclusive: bool,
    /// Renamed or removed: nothing left to clean up.
    done: bool,
}

impl PendingRename {
    /// Publish the upload under its final name (blocking). On failure the
    /// temporary file is removed.
    fn finish(mut self) -> Result<(), StorageError> {
        let result = self.rename_into_place();
        if result.is_err() {
            self.remove_temp();
        }
        self.done = true;
        result
    }

    /// Throw the upload away (blocking).
    fn discard(mut self) {
        self.remove_temp();
        self.done = true;
    }

    fn rename_into_place(&self) -> Result<(), StorageError> {
        let dir = &*self.dir;
        let tmp = name_path(&self.tmp);
        let name = name_path(&self.name);
        if !self.exclusive {
            return rustix::fs::renameat(dir, tmp, dir, name).map_err(errno_error);
        }
        // No-replace rename: a file that appeared under the final name since
        // the upload started is never overwritten.
        match rustix::fs::renameat_with(dir, tmp, dir, name, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(()),
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => link_no_replace(dir, tmp, name),
            Err(e) => Err(errno_error(e)),
        }
    }

    fn remove_temp(&self) {
        // Best effort: nothing useful can be done if it fails.
        let _ = self.dir.remove_file(name_path(&self.tmp));
    }
}

/// The no-replace rename for filesystems without `RENAME_NOREPLACE`: a hard
/// link fails if the name exists; then the temporary name goes.
fn link_no_replace(dir: &Dir, tmp: &Path, name: &Path) -> Result<(), StorageError> {
    rustix::fs::linkat(dir, tmp, dir, name, AtFlags::empty()).map_err(errno_error)?;
    // The upload is published; a left-over temp name is only untidy (and
    // hidden from listings).
    let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
    Ok(())
}

/// Deepest directory level a sweep descends to.
const SWEEP_MAX_DEPTH: usize = 256;

/// Remove the temporary files of atomic uploads that nobody writes any
/// more, anywhere below `root` (blocking). A temporary file whose lock can
/// be taken belongs to no live upload: its writer died. Symlinks are never
/// followed; unreadable directories are skipped.
pub(crate) fn sweep(root: &Dir) -> io::Result<SweepReport> {
    let mut report = SweepReport::default();
    let mut pending = vec![(root.try_clone()?, 0usize)];
    while let Some((dir, depth)) = pending.pop() {
        let Ok(entries) = dir.entries() else { continue };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            let name = entry.file_name();
            if kind.is_dir() && depth < SWEEP_MAX_DEPTH {
                if let Ok(sub) = entry.open_dir() {
                    pending.push((sub, depth + 1));
                }
            } else if kind.is_file() && is_temp_upload_name(name.as_bytes()) {
                sweep_one(&dir, name_path(name.as_bytes()), &mut report);
            }
        }
    }
    Ok(report)
}

/// Remove `name` in `dir` unless an upload holds its lock.
fn sweep_one(dir: &Dir, name: &Path, report: &mut SweepReport) {
    let Ok(file) = dir.open(name) else { return };
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {
            let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
            // Removed while we hold the lock: an upload that created this
            // name a moment ago and lost the race for the lock has moved on.
            if dir.remove_file(name).is_ok() {
                report.removed += 1;
                report.bytes += bytes;
            }
        }
        Err(_) => report.in_progress += 1,
    }
}

impl Drop for PendingRename {
    fn drop(&mut self) {
        if !self.done {
            // Dropped mid-upload (connection lost, task cancelled). One
            // unlinkat(2) in a directory we hold open is as quick as the
            // close(2) every dropped file does, so it runs right here rather
            // than on a blocking thread that a shutting-down runtime might
            // never run.
            self.remove_temp();
        }
    }
}

fn errno_error(e: Errno) -> StorageError {
    StorageError::from(io::Error::from(e))
}

/// An upload in progress: a batching writer over the file plus, for atomic
/// uploads, the rename that publishes it.
pub(crate) struct LocalUpload {
    file: BlockWriter,
    pending: Option<PendingRename>,
}

impl LocalUpload {
    /// Wrap an opened upload for async writing.
    pub(crate) fn new(opened: Opened) -> Self {
        LocalUpload { file: BlockWriter::new(opened.file), pending: opened.pending }
    }
}

impl AsyncWrite for LocalUpload {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.file).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.file).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.file).poll_shutdown(cx)
    }
}

#[async_trait]
impl WriteHandle for LocalUpload {
    async fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let LocalUpload { file, pending } = *self;
        // On any error the dropped pending rename removes the temp file.
        let (mut file, rest) = file.into_idle().await?;
        // The last bytes and the rename on one blocking thread: for the many
        // small files of a mirror, every hand-off saved counts.
        blocking(move || {
            file.write_all(&rest)?;
            // The file (and with it the temporary file's lock) stays open
            // until the rename is done: a sweep never takes it meanwhile.
            let published = match pending {
                Some(pending) => pending.finish(),
                None => Ok(()),
            };
            drop(file);
            published
        })
        .await
    }

    async fn local_file(&mut self) -> Result<Option<std::fs::File>, StorageError> {
        self.file.flush().await?;
        let Some(file) = self.file.file() else {
            return Ok(None);
        };
        // splice(2) refuses files opened for append (APPE): keep copying those.
        if rustix::fs::fcntl_getfl(file).map_err(errno_error)?.contains(rustix::fs::OFlags::APPEND) {
            return Ok(None);
        }
        Ok(Some(file.try_clone()?))
    }

    async fn abort(mut self: Box<Self>) {
        // A non-atomic upload keeps what was received, so let it land.
        let _ = self.file.flush().await;
        if let Some(pending) = self.pending.take() {
            let _ = blocking(move || {
                pending.discard();
                Ok(())
            })
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised() {
        let name = temp_name();
        assert!(is_temp_upload_name(&name));
        assert_ne!(temp_name(), name);
        assert!(!is_temp_upload_name(b".oxftp-upload..tmp"));
        assert!(!is_temp_upload_name(b".oxftp-upload.x"));
        assert!(!is_temp_upload_name(b"oxftp-upload.x.tmp"));
        assert!(!is_temp_upload_name(b"report.tmp"));
    }

    /// The fallback for filesystems without RENAME_NOREPLACE (tmpfs and ext4
    /// have it, so the integration tests never reach this path).
    #[test]
    fn link_fallback_refuses_to_replace() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("upload.tmp"), b"new").unwrap();
        std::fs::write(tmp.path().join("taken"), b"old").unwrap();
        let dir = Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap();

        let err = link_no_replace(&dir, Path::new("upload.tmp"), Path::new("taken")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(tmp.path().join("taken")).unwrap(), b"old");

        link_no_replace(&dir, Path::new("upload.tmp"), Path::new("free")).unwrap();
        assert_eq!(std::fs::read(tmp.path().join("free")).unwrap(), b"new");
        assert!(!tmp.path().join("upload.tmp").exists());
    }
}
