//! Virtual paths as object keys.
//!
//! An object store has no directories, only keys; `/` in a key is a
//! convention. A file `/a/b` is the key `a/b`; a directory `/a/b` is the
//! prefix `a/b/`, and an empty object under that exact key is its marker
//! (what MKD creates so an empty directory exists). The root is the empty
//! prefix, which OpenDAL spells `/`. OpenDAL paths are `str`, so a name that
//! is not UTF-8 cannot be stored and is refused as an invalid name.

use oxftp_core::storage::{ErrorKind, StorageError};
use oxftp_proto::path::VPath;

/// The key of a file at `path`, or an error for the root or a non-UTF-8 name.
pub fn file_key(path: &VPath) -> Result<String, StorageError> {
    if path.is_root() {
        return Err(StorageError::new(ErrorKind::IsADirectory, "Is a directory"));
    }
    utf8(path.relative()).map(str::to_string)
}

/// The prefix of a directory at `path` (`a/b/`; `/` for the root).
pub fn dir_key(path: &VPath) -> Result<String, StorageError> {
    if path.is_root() {
        return Ok("/".to_string());
    }
    let mut key = utf8(path.relative())?.to_string();
    key.push('/');
    Ok(key)
}

fn utf8(bytes: &[u8]) -> Result<&str, StorageError> {
    std::str::from_utf8(bytes)
        .map_err(|_| StorageError::new(ErrorKind::InvalidName, "File names must be UTF-8 on this storage"))
}

/// The name of a listing entry relative to the listed prefix: the entry's
/// path with the prefix and a trailing `/` removed. `None` for the prefix
/// itself (its marker) and for anything that is not directly inside it.
pub fn entry_name<'a>(prefix: &str, entry_path: &'a str) -> Option<&'a str> {
    let rest = if prefix == "/" {
        entry_path.strip_prefix('/').unwrap_or(entry_path)
    } else {
        entry_path.strip_prefix(prefix)?
    };
    let name = rest.strip_suffix('/').unwrap_or(rest);
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return None;
    }
    Some(name)
}

/// `key` moved from under prefix `from` to under prefix `to` (both ending in `/`).
pub fn rebase(key: &str, from: &str, to: &str) -> Option<String> {
    key.strip_prefix(from).map(|rest| format!("{to}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[u8]) -> VPath {
        VPath::parse(s).unwrap()
    }

    #[test]
    fn files_and_dirs() {
        assert_eq!(file_key(&p(b"/a/b.txt")).unwrap(), "a/b.txt");
        assert_eq!(dir_key(&p(b"/a/b")).unwrap(), "a/b/");
        assert_eq!(dir_key(&VPath::root()).unwrap(), "/");
        assert_eq!(file_key(&VPath::root()).unwrap_err().kind, ErrorKind::IsADirectory);
        assert_eq!(file_key(&p(b"/bad\xff")).unwrap_err().kind, ErrorKind::InvalidName);
        assert_eq!(dir_key(&p(b"/bad\xff")).unwrap_err().kind, ErrorKind::InvalidName);
    }

    #[test]
    fn entry_names() {
        assert_eq!(entry_name("a/", "a/f.txt"), Some("f.txt"));
        assert_eq!(entry_name("a/", "a/sub/"), Some("sub"));
        assert_eq!(entry_name("a/", "a/"), None);
        assert_eq!(entry_name("a/", "a/x/y"), None);
        assert_eq!(entry_name("a/", "b/x"), None);
        assert_eq!(entry_name("/", "top.txt"), Some("top.txt"));
        assert_eq!(entry_name("/", "dir/"), Some("dir"));
        assert_eq!(entry_name("/", "/"), None);
        assert_eq!(entry_name("a/", "a/../"), None);
    }

    #[test]
    fn rebasing() {
        assert_eq!(rebase("a/x/y", "a/", "b/c/").unwrap(), "b/c/x/y");
        assert!(rebase("z/x", "a/", "b/").is_none());
    }
}
