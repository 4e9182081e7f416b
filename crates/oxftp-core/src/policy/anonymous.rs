//! `Anonymous`: what an anonymous login may do, after vsftpd.
//!
//! Outside the upload directory the storage is read-only: browse and
//! download. Inside it (the directory and everything below) the only thing
//! allowed is uploading a file under a name that does not exist yet: no
//! overwrite, resume or append, no delete, rename, mkdir, rmdir, chmod or
//! mtime change, and no looking: no download, no listing, no metadata of what
//! lies below. A public upload area thus cannot be used to hand files to
//! third parties ("warez drop") or to replace someone else's upload. The
//! directory itself still answers metadata, since clients check it on CWD.
//!
//! `incoming` is a path in the session's view (e.g. `/incoming`); when it is
//! `None` the whole storage is read-only.

use oxftp_proto::path::VPath;

use super::guard::{Guard, Op};
use crate::storage::{ErrorKind, Existing, StorageError, WriteMode};

/// The refusal of any write outside the upload directory.
pub const ANONYMOUS_READ_ONLY_MESSAGE: &str = "Permission denied: anonymous access is read-only";
/// The refusal of anything but a new upload inside the upload directory.
pub const UPLOAD_ONLY_MESSAGE: &str = "Permission denied: anonymous users may only upload new files here";
/// The refusal of MFMT (and the MDTM set form) anywhere: an upload keeps the
/// time the server gave it (rclone sets times after every upload; it reads
/// this as "times cannot be set here" and goes on).
pub const NO_TIMES_MESSAGE: &str = "Permission denied: anonymous users cannot change file times";
/// The refusal of an upload whose name is taken.
pub const NO_OVERWRITE_MESSAGE: &str = "Permission denied: cannot overwrite an existing file";

/// The anonymous access rules.
#[derive(Debug, Clone)]
pub struct Anonymous {
    incoming: Option<VPath>,
}

/// Where a path lies relative to the upload directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    /// Outside it: read-only.
    Public,
    /// The upload directory itself.
    Incoming,
    /// Something below it.
    BelowIncoming,
}

impl Anonymous {
    /// The anonymous rules; `incoming` is the upload-only directory as the
    /// session sees it, if there is one.
    pub fn new(incoming: Option<VPath>) -> Self {
        Anonymous { incoming }
    }

    /// The upload directory, if any.
    pub fn incoming(&self) -> Option<&VPath> {
        self.incoming.as_ref()
    }

    fn zone(&self, path: &VPath) -> Zone {
        match &self.incoming {
            Some(incoming) if path == incoming => Zone::Incoming,
            Some(incoming) if path.starts_with(incoming) => Zone::BelowIncoming,
            _ => Zone::Public,
        }
    }

    /// Reading (download, listing) is allowed only outside the upload directory.
    fn check_read(&self, path: &VPath) -> Result<(), StorageError> {
        match self.zone(path) {
            Zone::Public => Ok(()),
            Zone::Incoming | Zone::BelowIncoming => Err(upload_only()),
        }
    }

    /// The refusal for a write other than a new upload.
    fn refuse_write(&self, path: &VPath) -> StorageError {
        match self.zone(path) {
            Zone::Public => denied(ANONYMOUS_READ_ONLY_MESSAGE),
            Zone::Incoming | Zone::BelowIncoming => upload_only(),
        }
    }
}

fn denied(message: &str) -> StorageError {
    StorageError::new(ErrorKind::PermissionDenied, message)
}

fn upload_only() -> StorageError {
    denied(UPLOAD_ONLY_MESSAGE)
}

impl Guard for Anonymous {
    /// An existing target is a refusal here, not a conflict to report as
    /// such, whether it is found at open or at commit.
    const MAPS_WRITE_ERRORS: bool = true;

    fn check(&self, op: &Op<'_>) -> Result<(), StorageError> {
        match *op {
            // The upload directory itself answers metadata so clients can CWD into it.
            Op::Metadata { path } => match self.zone(path) {
                Zone::Public | Zone::Incoming => Ok(()),
                Zone::BelowIncoming => Err(upload_only()),
            },
            Op::List { path } | Op::Read { path, .. } => self.check_read(path),
            Op::Write { path, mode, .. } => {
                if self.zone(path) != Zone::BelowIncoming {
                    return Err(self.refuse_write(path));
                }
                match mode {
                    // REST 0 + STOR is a plain upload.
                    WriteMode::Create { .. } | WriteMode::At(0) => Ok(()),
                    WriteMode::At(_) | WriteMode::Append => Err(upload_only()),
                }
            }
            Op::SetMtime { .. } => Err(denied(NO_TIMES_MESSAGE)),
            Op::Delete { path } | Op::Mkdir { path } | Op::Rmdir { path } | Op::SetMode { path, .. } => {
                Err(self.refuse_write(path))
            }
            Op::Rename { from, .. } | Op::RenameFrom { path: from } => Err(self.refuse_write(from)),
        }
    }

    /// Every upload is a new file: no overwrite, even of a name that appears meanwhile.
    fn write_mode(&self, _path: &VPath, _mode: WriteMode, _existing: Existing) -> WriteMode {
        WriteMode::Create { exclusive: true }
    }

    fn write_error(&self, error: StorageError) -> StorageError {
        if error.kind == ErrorKind::AlreadyExists { denied(NO_OVERWRITE_MESSAGE) } else { error }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::memory::MemoryStorage;
    use crate::policy::Guarded;
    use crate::storage::Storage;
    use crate::test_util::helpers::{list_names, p, read_all, upload};
    use tokio::io::AsyncWriteExt;

    fn setup(incoming: Option<&str>) -> (MemoryStorage, Guarded<Anonymous>) {
        let mem = MemoryStorage::new();
        mem.put_file(&p("/pub/readme"), "hello").unwrap();
        mem.put_file(&p("/incoming/someone-elses"), "theirs").unwrap();
        mem.create_dir_all(&p("/incoming/sub")).unwrap();
        mem.create_dir_all(&p("/pub/empty")).unwrap();
        (mem.clone(), Guarded::new(Arc::new(mem), Anonymous::new(incoming.map(p))))
    }

    fn assert_denied<T>(r: Result<T, StorageError>, message: &str) {
        let Err(e) = r else { panic!("expected a refusal: {message}") };
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::PermissionDenied, message));
    }

    #[tokio::test]
    async fn public_area_is_readable() {
        let (_, anon) = setup(Some("/incoming"));
        assert_eq!(read_all(&anon, "/pub/readme").await.unwrap(), b"hello");
        assert_eq!(list_names(&anon, "/").await.unwrap(), vec![b"incoming".to_vec(), b"pub".to_vec()]);
        assert_eq!(anon.metadata(&p("/pub/readme")).await.unwrap().size, 5);
        assert_eq!(anon.metadata(&p("/nothing")).await.unwrap_err().kind, ErrorKind::NotFound);
        assert_eq!(anon.guard().incoming(), Some(&p("/incoming")));
    }

    #[tokio::test]
    async fn public_area_refuses_every_write() {
        let (mem, anon) = setup(Some("/incoming"));
        let ro = ANONYMOUS_READ_ONLY_MESSAGE;
        assert_denied(anon.open_write(&p("/pub/new"), WriteMode::Create { exclusive: true }).await, ro);
        assert_denied(anon.open_write(&p("/pub/readme"), WriteMode::Append).await, ro);
        assert_denied(anon.delete(&p("/pub/readme")).await, ro);
        assert_denied(anon.mkdir(&p("/pub/dir")).await, ro);
        assert_denied(anon.rmdir(&p("/pub/empty")).await, ro);
        assert_denied(anon.rename(&p("/pub/readme"), &p("/pub/x")).await, ro);
        // Refused at RNFR already, whatever the destination would be.
        assert_denied(anon.rename_source(&p("/pub/readme")).await, ro);
        assert_denied(anon.rename_source(&p("/incoming/someone-elses")).await, UPLOAD_ONLY_MESSAGE);
        assert_denied(anon.set_mode(&p("/pub/readme"), 0o777).await, ro);
        assert_denied(anon.set_mtime(&p("/pub/readme"), 0).await, NO_TIMES_MESSAGE);
        // Making or removing the upload directory itself is not an upload.
        assert_denied(anon.rmdir(&p("/incoming")).await, UPLOAD_ONLY_MESSAGE);
        assert_denied(
            anon.open_write(&p("/incoming"), WriteMode::Create { exclusive: false }).await,
            UPLOAD_ONLY_MESSAGE,
        );
        assert_eq!(mem.file_contents(&p("/pub/readme")).unwrap(), b"hello");
        assert_eq!(mem.entry_count(), 6);
    }

    #[tokio::test]
    async fn incoming_takes_new_files_only() {
        let (mem, anon) = setup(Some("/incoming"));
        upload(&anon, "/incoming/mine", b"new").await.unwrap();
        assert_eq!(mem.file_contents(&p("/incoming/mine")).unwrap(), b"new");
        // A plain STOR asks for replace; the policy makes it exclusive.
        let replace = anon.open_write(&p("/incoming/someone-elses"), WriteMode::Create { exclusive: false }).await;
        assert_denied(replace, NO_OVERWRITE_MESSAGE);
        assert_denied(anon.open_write(&p("/incoming/mine"), WriteMode::At(0)).await, NO_OVERWRITE_MESSAGE);
        assert_denied(anon.open_write(&p("/incoming/mine"), WriteMode::At(2)).await, UPLOAD_ONLY_MESSAGE);
        assert_denied(anon.open_write(&p("/incoming/other"), WriteMode::Append).await, UPLOAD_ONLY_MESSAGE);
        // Subdirectories an administrator made take uploads too.
        upload(&anon, "/incoming/sub/deep", b"d").await.unwrap();
        assert_eq!(mem.file_contents(&p("/incoming/someone-elses")).unwrap(), b"theirs");
    }

    #[tokio::test]
    async fn name_taken_during_upload_is_refused_at_commit() {
        let (mem, anon) = setup(Some("/incoming"));
        let mut w = anon.open_write(&p("/incoming/race"), WriteMode::Create { exclusive: false }).await.unwrap();
        w.write_all(b"second").await.unwrap();
        mem.put_file(&p("/incoming/race"), "first").unwrap();
        assert_denied(w.commit().await, NO_OVERWRITE_MESSAGE);
        assert_eq!(mem.file_contents(&p("/incoming/race")).unwrap(), b"first");
        let w = anon.open_write(&p("/incoming/dropped"), WriteMode::Create { exclusive: false }).await.unwrap();
        w.abort().await;
        assert_eq!(mem.metadata(&p("/incoming/dropped")).await.unwrap_err().kind, ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn incoming_cannot_be_looked_into_or_changed() {
        let (mem, anon) = setup(Some("/incoming"));
        let only = UPLOAD_ONLY_MESSAGE;
        // The directory itself answers metadata so clients can CWD into it.
        assert!(anon.metadata(&p("/incoming")).await.unwrap().is_dir());
        assert_denied(anon.list(&p("/incoming")).await, only);
        assert_denied(anon.list(&p("/incoming/sub")).await, only);
        assert_denied(anon.metadata(&p("/incoming/someone-elses")).await, only);
        assert_denied(anon.metadata(&p("/incoming/missing")).await, only);
        assert_denied(anon.open_read(&p("/incoming/someone-elses"), 0).await, only);
        assert_denied(anon.delete(&p("/incoming/someone-elses")).await, only);
        assert_denied(anon.rename(&p("/incoming/someone-elses"), &p("/incoming/x")).await, only);
        assert_denied(anon.mkdir(&p("/incoming/newdir")).await, only);
        assert_denied(anon.rmdir(&p("/incoming/sub")).await, only);
        assert_denied(anon.set_mode(&p("/incoming/someone-elses"), 0o777).await, only);
        assert_denied(anon.set_mtime(&p("/incoming/someone-elses"), 0).await, NO_TIMES_MESSAGE);
        // Moving a public file into the upload area is a write outside it.
        assert_denied(anon.rename(&p("/pub/readme"), &p("/incoming/readme")).await, ANONYMOUS_READ_ONLY_MESSAGE);
        assert_eq!(mem.entry_count(), 6);
    }

    #[tokio::test]
    async fn names_that_only_share_a_prefix_are_public() {
        let (mem, anon) = setup(Some("/incoming"));
        mem.put_file(&p("/incoming-old/file"), "x").unwrap();
        assert_eq!(read_all(&anon, "/incoming-old/file").await.unwrap(), b"x");
        assert_denied(
            anon.open_write(&p("/incoming-old/new"), WriteMode::Create { exclusive: true }).await,
            ANONYMOUS_READ_ONLY_MESSAGE,
        );
    }

    #[tokio::test]
    async fn without_incoming_everything_is_read_only() {
        let (mem, anon) = setup(None);
        assert_eq!(list_names(&anon, "/incoming").await.unwrap().len(), 2);
        assert_eq!(read_all(&anon, "/incoming/someone-elses").await.unwrap(), b"theirs");
        let w = anon.open_write(&p("/incoming/new"), WriteMode::Create { exclusive: true }).await;
        assert_denied(w, ANONYMOUS_READ_ONLY_MESSAGE);
        assert_denied(anon.delete(&p("/incoming/someone-elses")).await, ANONYMOUS_READ_ONLY_MESSAGE);
        assert_eq!(anon.capabilities(), mem.capabilities());
    }
}
