//! Paths and metadata between the two worlds.
//!
//! libunftp hands its back-ends absolute paths (`/dir/file`, the session's
//! working directory joined with the argument), so a [`VPath`] goes over as
//! the same bytes. Their metadata is a trait with a few getters; ours is a
//! plain [`FileInfo`].

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use oxftp_proto::listing::{FileInfo, FileKind};
use oxftp_proto::path::VPath;
use unftp_core::storage::Metadata;

/// The path a back-end gets for `path`: the same bytes, absolute.
pub fn backend_path(path: &VPath) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(path.as_bytes()))
}

/// The directory `root` (a path of the served tree) below `base` on local
/// disk: for [`UnftpStorageFactory::per_session`](crate::UnftpStorageFactory::per_session),
/// to open a local-disk back-end at a session's root. A `VPath` has no `..`,
/// so the result is always inside `base`.
pub fn local_path(base: &Path, root: &VPath) -> PathBuf {
    let rel = root.relative();
    if rel.is_empty() { base.to_path_buf() } else { base.join(OsStr::from_bytes(rel)) }
}

/// The name of a listing entry: back-ends give the name (unftp-sbe-fs) or the
/// whole path (some object stores); the last component either way.
pub fn entry_name(path: &Path) -> Vec<u8> {
    match path.file_name() {
        Some(name) => name.as_bytes().to_vec(),
        None => path.as_os_str().as_bytes().to_vec(),
    }
}

/// Our facts for their metadata. Owner and group are the numeric ids, as the
/// local-disk back-end shows them; the permission bits are the `rwx` bits
/// the back-end reports (their default for back-ends without modes is
/// `0o7755`, shown as `rwxr-xr-x`: the special bits are not taken).
pub fn file_info(meta: &impl Metadata) -> FileInfo {
    let kind = if meta.is_dir() {
        FileKind::Dir
    } else if meta.is_symlink() {
        FileKind::Symlink
    } else if meta.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    };
    let mtime = meta.modified().ok().map(|t| match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    });
    FileInfo {
        kind,
        size: meta.len(),
        mtime,
        mode: Some(meta.permissions().0 & 0o777),
        nlink: meta.links(),
        owner: Some(meta.uid().to_string()),
        group: Some(meta.gid().to_string()),
        unique: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_their_bytes() {
        let p = VPath::parse(b"/dir/caf\xe9 x").unwrap();
        assert_eq!(backend_path(&p).as_os_str().as_bytes(), b"/dir/caf\xe9 x");
        assert_eq!(backend_path(&VPath::root()), PathBuf::from("/"));
        assert_eq!(local_path(Path::new("/srv/ftp"), &VPath::root()), PathBuf::from("/srv/ftp"));
        assert_eq!(local_path(Path::new("/srv/ftp"), &p).as_os_str().as_bytes(), b"/srv/ftp/dir/caf\xe9 x");
        assert_eq!(entry_name(Path::new("a.txt")), b"a.txt");
        assert_eq!(entry_name(Path::new("/bucket/dir/a.txt")), b"a.txt");
    }
}
