//! Between the engine's vocabulary and SFTP's: file facts as
//! `ATTRS`/longnames, storage errors as status codes.

use oxftp_core::storage::{ErrorKind, StorageError};
use oxftp_proto::listing::{FileInfo, FileKind, list_line};
use russh_sftp::protocol::{File, FileAttributes, StatusCode};

use super::{Reply, status};

/// `S_IFDIR`, `S_IFREG`, `S_IFLNK`: the file type bits of `permissions`.
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// A file's facts as SFTP attributes: size, type and permission bits, and
/// the modification time (as atime too: the engine does not track access).
pub(crate) fn attributes(info: &FileInfo) -> FileAttributes {
    let (kind_bits, default_mode) = match info.kind {
        FileKind::Dir => (S_IFDIR, 0o755),
        FileKind::Symlink => (S_IFLNK, 0o777),
        FileKind::File | FileKind::Other => (S_IFREG, 0o644),
    };
    let mtime = info.mtime.map(|t| t.clamp(0, i64::from(u32::MAX)) as u32);
    FileAttributes {
        size: Some(info.size),
        uid: None,
        user: None,
        gid: None,
        group: None,
        permissions: Some(kind_bits | (info.mode.unwrap_or(default_mode) & 0o7777)),
        atime: mtime,
        mtime,
    }
}

/// A directory entry as `SSH_FXP_NAME` carries it: the name, an `ls -l`
/// line (what `ls -l` in OpenSSH's sftp prints) and the attributes.
pub(crate) fn entry(name: &[u8], info: &FileInfo, now: i64) -> File {
    let mut line = Vec::with_capacity(80 + name.len());
    list_line(name, info, now, &mut line);
    while matches!(line.last(), Some(b'\r' | b'\n')) {
        line.pop();
    }
    File {
        filename: String::from_utf8_lossy(name).into_owned(),
        longname: String::from_utf8_lossy(&line).into_owned(),
        attrs: attributes(info),
    }
}

/// A storage error as an SFTP v3 status. v3 has codes only for "no such
/// file", "permission denied" and "unsupported"; everything else (quota
/// exceeded, disk full, file exists, directory not empty, a backend that is down) is
/// `SSH_FX_FAILURE` with the engine's message saying which.
pub(crate) fn failed(id: u32, e: &StorageError) -> Reply {
    let code = match e.kind {
        ErrorKind::NotFound => StatusCode::NoSuchFile,
        ErrorKind::PermissionDenied => StatusCode::PermissionDenied,
        ErrorKind::Unsupported => StatusCode::OpUnsupported,
        ErrorKind::AlreadyExists
        | ErrorKind::NotADirectory
        | ErrorKind::IsADirectory
        | ErrorKind::DirectoryNotEmpty
        | ErrorKind::InvalidName
        | ErrorKind::InsufficientStorage
        | ErrorKind::StorageFull
        | ErrorKind::Transient
        | ErrorKind::Other => StatusCode::Failure,
    };
    status(id, code, &e.message)
}

/// Seconds since the Unix epoch, now.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh_sftp::protocol::Packet;

    fn info(kind: FileKind, mode: Option<u32>) -> FileInfo {
        FileInfo { kind, size: 5, mtime: Some(1_700_000_000), mode, nlink: 1, owner: None, group: None, unique: None }
    }

    #[test]
    fn attributes_carry_type_mode_size_and_time() {
        let a = attributes(&info(FileKind::File, Some(0o600)));
        assert_eq!((a.size, a.permissions, a.mtime), (Some(5), Some(0o100600), Some(1_700_000_000)));
        assert!(a.is_regular());
        let d = attributes(&info(FileKind::Dir, None));
        assert!(d.is_dir());
        assert_eq!(d.permissions, Some(0o040755));
        let e = entry(b"notes.txt", &info(FileKind::File, None), 1_700_000_000);
        assert!(e.longname.starts_with("-rw-r--r--"), "{}", e.longname);
        assert!(e.longname.ends_with(" notes.txt"), "{}", e.longname);
    }

    #[test]
    fn errors_map_to_v3_codes_with_the_engine_message() {
        let code = |kind| match failed(7, &StorageError::new(kind, "why")) {
            Packet::Status(s) => (s.id, s.status_code, s.error_message),
            other => panic!("{other:?}"),
        };
        assert_eq!(code(ErrorKind::NotFound), (7, StatusCode::NoSuchFile, "why".into()));
        assert_eq!(code(ErrorKind::PermissionDenied).1, StatusCode::PermissionDenied);
        assert_eq!(code(ErrorKind::Unsupported).1, StatusCode::OpUnsupported);
        assert_eq!(code(ErrorKind::InsufficientStorage).1, StatusCode::Failure);
    }
}
