//! Turning filesystem metadata into the engine's `FileInfo`.

use cap_std::fs::{Metadata, MetadataExt};
use oxftp_proto::listing::{FileInfo, FileKind};

/// The permission bits chmod(2) deals in: rwx for all three classes plus
/// setuid, setgid and sticky.
pub(crate) const MODE_MASK: u32 = 0o7777;

/// `FileInfo` for `meta`. Owner and group are the numeric ids: a passwd
/// lookup per listed file would put NSS (files, LDAP...) on the hot path of
/// every LIST, and a confined server's clients have no use for host names.
pub(crate) fn file_info(meta: &Metadata) -> FileInfo {
    let file_type = meta.file_type();
    let kind = if file_type.is_dir() {
        FileKind::Dir
    } else if file_type.is_file() {
        FileKind::File
    } else if file_type.is_symlink() {
        FileKind::Symlink
    } else {
        FileKind::Other
    };
    FileInfo {
        kind,
        size: meta.len(),
        mtime: Some(meta.mtime()),
        mode: Some(meta.mode() & MODE_MASK),
        nlink: meta.nlink(),
        owner: Some(meta.uid().to_string()),
        group: Some(meta.gid().to_string()),
        unique: Some(format!("{:x}g{:x}", meta.dev(), meta.ino())),
    }
}
