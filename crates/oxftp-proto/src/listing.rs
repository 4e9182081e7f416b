//! Directory listing formats: `ls -l` lines for LIST, facts for MLSD/MLST,
//! and the ls-style flags clients send with LIST/NLST.

/// What kind of thing a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// Facts about a file, as a backend reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub kind: FileKind,
    pub size: u64,
    /// Modification time, seconds since the Unix epoch (UTC).
    pub mtime: Option<i64>,
    /// Permission bits (`0o644`), if the backend has them.
    pub mode: Option<u32>,
    pub nlink: u64,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// A stable identity for MLSx `unique` (e.g. device and inode in hex).
    pub unique: Option<String>,
}

impl FileInfo {
    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }
    pub fn is_file(&self) -> bool {
        self.kind == FileKind::File
    }
}
