//! Their storage errors as ours.
//!
//! An unftp-core error has a kind named after the FTP reply libunftp would
//! send (`PermanentFileNotAvailable` is a 550 for "no such file" and "file
//! exists" alike) and, often, the `std::io::Error` it came from. The I/O error
//! is the more precise of the two, so it decides when it says more than
//! "other"; the kind decides otherwise.

use oxftp_core::storage::{ErrorKind, StorageError};
use unftp_core::storage::{Error as UnftpError, ErrorKind as UnftpKind};

/// Our error for one of theirs.
pub fn storage_error(e: &UnftpError) -> StorageError {
    if let Some(io) = e.get_io_error() {
        // A copy (I/O errors do not clone): the OS error number when there is
        // one, so ELOOP and friends are seen as such.
        let copy = match io.raw_os_error() {
            Some(code) => std::io::Error::from_raw_os_error(code),
            None => std::io::Error::new(io.kind(), io.to_string()),
        };
        let ours = StorageError::from(copy);
        if ours.kind != ErrorKind::Other {
            return ours;
        }
    }
    let (kind, message) = match e.kind() {
        UnftpKind::TransientFileNotAvailable => (ErrorKind::Transient, "File temporarily not available"),
        UnftpKind::PermanentFileNotAvailable => (ErrorKind::NotFound, "No such file or directory"),
        UnftpKind::PermanentDirectoryNotAvailable => (ErrorKind::NotFound, "No such directory"),
        UnftpKind::PermanentDirectoryNotEmpty => (ErrorKind::DirectoryNotEmpty, "Directory not empty"),
        UnftpKind::PermissionDenied => (ErrorKind::PermissionDenied, "Permission denied"),
        UnftpKind::ConnectionClosed => (ErrorKind::Transient, "Connection closed; transfer aborted"),
        UnftpKind::LocalError => (ErrorKind::Other, "Storage back-end error"),
        UnftpKind::PageTypeUnknown => (ErrorKind::Other, "Page type unknown"),
        // FTP's 452 (the store is full) and 552 (this account's allocation is used up).
        UnftpKind::InsufficientStorageSpaceError => (ErrorKind::StorageFull, "Insufficient storage space"),
        UnftpKind::ExceededStorageAllocationError => (ErrorKind::InsufficientStorage, "Exceeded storage allocation"),
        UnftpKind::FileNameNotAllowedError => (ErrorKind::InvalidName, "File name not allowed"),
        UnftpKind::CommandNotImplemented => (ErrorKind::Unsupported, "Not supported by this storage back-end"),
    };
    StorageError::new(kind, message)
}

/// An I/O error that `StorageError::from` turns back into `e` (same kind, same
/// text): how a failure of the back-end reaches the engine through
/// `AsyncWrite`, which can only return I/O errors.
pub fn io_error(e: &StorageError) -> std::io::Error {
    use std::io::ErrorKind as K;
    let kind = match e.kind {
        ErrorKind::NotFound => K::NotFound,
        ErrorKind::PermissionDenied => K::PermissionDenied,
        ErrorKind::AlreadyExists => K::AlreadyExists,
        ErrorKind::NotADirectory => K::NotADirectory,
        ErrorKind::IsADirectory => K::IsADirectory,
        ErrorKind::DirectoryNotEmpty => K::DirectoryNotEmpty,
        ErrorKind::InvalidName => K::InvalidInput,
        ErrorKind::InsufficientStorage => K::QuotaExceeded,
        ErrorKind::StorageFull => K::StorageFull,
        ErrorKind::Unsupported => K::Unsupported,
        ErrorKind::Transient => K::TimedOut,
        _ => K::Other,
    };
    std::io::Error::new(kind, e.message.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind) -> std::io::Error {
        std::io::Error::new(kind, "x")
    }

    #[test]
    fn the_io_error_decides_when_it_is_precise() {
        let e = UnftpError::new(UnftpKind::PermanentFileNotAvailable, io(std::io::ErrorKind::AlreadyExists));
        assert_eq!(storage_error(&e).kind, ErrorKind::AlreadyExists);
        // ENOTDIR and ENOTEMPTY (Linux numbers), which their `From<io::Error>` keeps as the source.
        let e = UnftpError::from(std::io::Error::from_raw_os_error(20));
        assert_eq!(storage_error(&e).kind, ErrorKind::NotADirectory);
        let e = UnftpError::from(std::io::Error::from_raw_os_error(39));
        assert_eq!(storage_error(&e).kind, ErrorKind::DirectoryNotEmpty);
        // A vague I/O error leaves the decision to their kind.
        let e = UnftpError::new(UnftpKind::ExceededStorageAllocationError, io(std::io::ErrorKind::Other));
        assert_eq!(storage_error(&e).kind, ErrorKind::InsufficientStorage);
    }

    #[test]
    fn every_kind_of_theirs_has_a_reply_of_ours() {
        let cases = [
            (UnftpKind::TransientFileNotAvailable, ErrorKind::Transient),
            (UnftpKind::PermanentFileNotAvailable, ErrorKind::NotFound),
            (UnftpKind::PermanentDirectoryNotAvailable, ErrorKind::NotFound),
            (UnftpKind::PermanentDirectoryNotEmpty, ErrorKind::DirectoryNotEmpty),
            (UnftpKind::PermissionDenied, ErrorKind::PermissionDenied),
            (UnftpKind::ConnectionClosed, ErrorKind::Transient),
            (UnftpKind::LocalError, ErrorKind::Other),
            (UnftpKind::PageTypeUnknown, ErrorKind::Other),
            (UnftpKind::InsufficientStorageSpaceError, ErrorKind::StorageFull),
            (UnftpKind::ExceededStorageAllocationError, ErrorKind::InsufficientStorage),
            (UnftpKind::FileNameNotAllowedError, ErrorKind::InvalidName),
            (UnftpKind::CommandNotImplemented, ErrorKind::Unsupported),
        ];
        for (theirs, ours) in cases {
            assert_eq!(storage_error(&UnftpError::from(theirs)).kind, ours, "{theirs:?}");
        }
    }

    #[test]
    fn io_errors_carry_our_kind_and_text_through_async_write() {
        for kind in ErrorKind::ALL {
            let e = StorageError::new(kind, "the back-end said no");
            let back = StorageError::from(io_error(&e));
            assert_eq!(back.kind, kind);
            if !matches!(
                kind,
                ErrorKind::NotFound
                    | ErrorKind::PermissionDenied
                    | ErrorKind::AlreadyExists
                    | ErrorKind::NotADirectory
                    | ErrorKind::IsADirectory
                    | ErrorKind::DirectoryNotEmpty
            ) {
                assert_eq!(back.message, "the back-end said no", "{kind:?}");
            }
        }
    }
}
