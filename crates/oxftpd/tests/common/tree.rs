//! File-tree helpers: deterministic test content and byte-exact comparison
//! of what a client and the server ended up with on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Writes `data` to `path`, creating parent directories.
pub fn write(path: impl AsRef<Path>, data: impl AsRef<[u8]>) {
    let path = path.as_ref();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    }
    std::fs::write(path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Reads a file that must exist.
pub fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let path = path.as_ref();
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `len` pseudo-random bytes from `seed` (xorshift64*): incompressible
/// enough to catch reordering or truncation, and the same on every run.
pub fn pattern_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let word = state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        let take = (len - out.len()).min(word.len());
        out.extend_from_slice(&word[..take]);
    }
    out
}

/// What a tree entry is, with a file's content.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    Dir,
    File(Vec<u8>),
}

/// Every entry under `root` by relative path. Temp files of an unfinished
/// atomic upload would show up here too, which is intended: none may remain.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()));
            let path = entry.path();
            let rel = path.strip_prefix(root).expect("entry under root").to_path_buf();
            if path.is_dir() {
                out.insert(rel, Entry::Dir);
                stack.push(path);
            } else {
                out.insert(rel, Entry::File(read(&path)));
            }
        }
    }
    out
}

/// Asserts that two directory trees hold the same directories and files
/// with byte-identical contents.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    let want = snapshot(expected);
    let got = snapshot(actual);
    let want_names: Vec<_> = want.keys().collect();
    let got_names: Vec<_> = got.keys().collect();
    assert_eq!(got_names, want_names, "tree {} differs from {} in its entries", actual.display(), expected.display());
    for (rel, entry) in &want {
        let other = got.get(rel);
        if other != Some(entry) {
            let describe = |e: Option<&Entry>| match e {
                Some(Entry::Dir) => "a directory".to_string(),
                Some(Entry::File(b)) => format!("a file of {} bytes", b.len()),
                None => "missing".to_string(),
            };
            panic!("{}: expected {}, got {}", rel.display(), describe(Some(entry)), describe(other));
        }
    }
}
