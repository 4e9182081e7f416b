//! From virtual paths to paths beneath the root directory handle.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oxftp_proto::path::VPath;

/// The path of `vpath` relative to the root handle. The root itself is `.`,
/// because `cap-std` wants a non-empty path. A `VPath` has no `..`, no empty
/// components and no NUL byte, so the result never names anything above the
/// root lexically; symlinks are `cap-std`'s to refuse.
pub(crate) fn rel_path(vpath: &VPath) -> PathBuf {
    let rel = vpath.relative();
    if rel.is_empty() { PathBuf::from(".") } else { PathBuf::from(OsStr::from_bytes(rel)) }
}

/// `name` (one component, raw bytes) as a path.
pub(crate) fn name_path(name: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_dot_and_others_are_relative() {
        assert_eq!(rel_path(&VPath::root()), PathBuf::from("."));
        let p = VPath::parse(b"/a/b c").unwrap();
        assert_eq!(rel_path(&p), PathBuf::from("a/b c"));
        let raw = VPath::parse(b"/caf\xe9").unwrap();
        assert_eq!(rel_path(&raw).as_os_str().as_bytes(), b"caf\xe9");
    }
}
