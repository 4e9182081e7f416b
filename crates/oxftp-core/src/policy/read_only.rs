//! `ReadOnly`: an account that may look and download but change nothing.
//!
//! The refusal is a permission, not a capability: `capabilities()` stays the
//! inner storage's, so FEAT answers the same for every user of a server and a
//! refused write gets 550 "Permission denied", not 502 "not implemented".

use crate::storage::{ErrorKind, StorageError};

use super::guard::{Guard, Op};

/// The text every refused write carries.
pub const READ_ONLY_MESSAGE: &str = "Permission denied: read-only account";

/// The rule of an account that may look and download but change nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOnly;

fn refused() -> StorageError {
    StorageError::new(ErrorKind::PermissionDenied, READ_ONLY_MESSAGE)
}

impl Guard for ReadOnly {
    fn check(&self, op: &Op<'_>) -> Result<(), StorageError> {
        match op {
            Op::Metadata { .. } | Op::List { .. } | Op::Read { .. } => Ok(()),
            Op::Write { .. }
            | Op::Delete { .. }
            | Op::Mkdir { .. }
            | Op::Rmdir { .. }
            | Op::Rename { .. }
            | Op::RenameFrom { .. }
            | Op::SetMode { .. }
            | Op::SetMtime { .. } => Err(refused()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::memory::MemoryStorage;
    use crate::policy::Guarded;
    use crate::storage::{Storage, WriteMode};
    use crate::test_util::helpers::{list_names, p, read_all};

    fn setup() -> (MemoryStorage, Guarded<ReadOnly>) {
        let mem = MemoryStorage::new();
        mem.put_file(&p("/pub/file"), "data").unwrap();
        mem.create_dir_all(&p("/pub/empty")).unwrap();
        (mem.clone(), Guarded::new(Arc::new(mem), ReadOnly))
    }

    fn assert_refused<T>(r: Result<T, StorageError>) {
        let Err(e) = r else { panic!("expected a refusal") };
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert_eq!(e.message, READ_ONLY_MESSAGE);
    }

    #[tokio::test]
    async fn reads_pass_through() {
        let (mem, ro) = setup();
        assert_eq!(read_all(&ro, "/pub/file").await.unwrap(), b"data");
        assert_eq!(list_names(&ro, "/pub").await.unwrap(), vec![b"empty".to_vec(), b"file".to_vec()]);
        assert_eq!(ro.metadata(&p("/pub/file")).await.unwrap().size, 4);
        // Errors of the inner storage are not disguised as refusals.
        assert_eq!(ro.metadata(&p("/none")).await.unwrap_err().kind, ErrorKind::NotFound);
        assert_eq!(ro.capabilities(), mem.capabilities());
    }

    #[tokio::test]
    async fn every_write_is_refused_and_nothing_changes() {
        let (mem, ro) = setup();
        for mode in [
            WriteMode::Create { exclusive: false },
            WriteMode::Create { exclusive: true },
            WriteMode::At(0),
            WriteMode::Append,
        ] {
            assert_refused(ro.open_write(&p("/pub/new"), mode).await);
            assert_refused(ro.open_write(&p("/pub/file"), mode).await);
        }
        assert_refused(ro.delete(&p("/pub/file")).await);
        assert_refused(ro.mkdir(&p("/pub/dir")).await);
        assert_refused(ro.rmdir(&p("/pub/empty")).await);
        assert_refused(ro.rename(&p("/pub/file"), &p("/pub/moved")).await);
        assert_refused(ro.rename_source(&p("/pub/file")).await);
        assert_refused(ro.set_mode(&p("/pub/file"), 0o777).await);
        assert_refused(ro.set_mtime(&p("/pub/file"), 0).await);
        assert_eq!(mem.file_contents(&p("/pub/file")).unwrap(), b"data");
        let info = mem.metadata(&p("/pub/file")).await.unwrap();
        assert_eq!(info.mode, Some(0o644));
        assert_ne!(info.mtime, Some(0));
        assert!(mem.metadata(&p("/pub/empty")).await.unwrap().is_dir());
        assert_eq!(mem.entry_count(), 3);
    }
}
