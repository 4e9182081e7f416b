//! The `Storage` trait: what the engine needs from a place that holds files.
//!
//! Paths are virtual ([`VPath`]): absolute, normalised, never containing `.` or
//! `..`. A backend maps them under its own root and must make sure nothing
//! (symlinks, encodings) can leave that root.

use std::fmt;

use async_trait::async_trait;
use oxftp_proto::listing::FileInfo;
use oxftp_proto::path::VPath;
use oxftp_proto::reply::Reply;
use tokio::io::{AsyncRead, AsyncWrite};

/// What went wrong in a storage operation, coarse enough to pick an FTP reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No such file or directory (550).
    NotFound,
    /// The backend or a policy layer refuses (550).
    PermissionDenied,
    /// The target exists and the operation will not replace it (550 / 553).
    AlreadyExists,
    /// A path component is not a directory (550).
    NotADirectory,
    /// The operation needs a file, the path is a directory (550).
    IsADirectory,
    /// RMD of a directory that is not empty (550).
    DirectoryNotEmpty,
    /// The name is not allowed by the backend (553).
    InvalidName,
    /// Over a quota or storage allocation (552: exceeded storage allocation).
    InsufficientStorage,
    /// The disk or store is full (452: insufficient storage space in system;
    /// may work once space is freed).
    StorageFull,
    /// The backend cannot do this at all (502 / 504).
    Unsupported,
    /// Try again later: timeouts, throttling, a backend that is down (450 / 451).
    Transient,
    /// Anything else (451: local error in processing).
    Other,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::NotFound,
        ErrorKind::PermissionDenied,
        ErrorKind::AlreadyExists,
        ErrorKind::NotADirectory,
        ErrorKind::IsADirectory,
        ErrorKind::DirectoryNotEmpty,
        ErrorKind::InvalidName,
        ErrorKind::InsufficientStorage,
        ErrorKind::StorageFull,
        ErrorKind::Unsupported,
        ErrorKind::Transient,
        ErrorKind::Other,
    ];

    /// A short snake_case name, for metric labels and logs.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::NotADirectory => "not_a_directory",
            ErrorKind::IsADirectory => "is_a_directory",
            ErrorKind::DirectoryNotEmpty => "directory_not_empty",
            ErrorKind::InvalidName => "invalid_name",
            ErrorKind::InsufficientStorage => "insufficient_storage",
            ErrorKind::StorageFull => "storage_full",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Transient => "transient",
            ErrorKind::Other => "other",
        }
    }
}

/// A storage error: a kind for the reply code and a message for the reply
/// text and logs. Made with [`StorageError::new`] or one of the shorthands
/// (non-exhaustive: new fields are not a breaking change).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct StorageError {
    pub kind: ErrorKind,
    pub message: String,
}

impl StorageError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        StorageError { kind, message: message.into() }
    }
    pub fn not_found() -> Self {
        Self::new(ErrorKind::NotFound, "No such file or directory")
    }
    pub fn permission_denied() -> Self {
        Self::new(ErrorKind::PermissionDenied, "Permission denied")
    }
    pub fn unsupported(what: &str) -> Self {
        Self::new(ErrorKind::Unsupported, format!("{what} is not supported by this storage"))
    }
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let kind = match e.kind() {
            K::NotFound => ErrorKind::NotFound,
            K::PermissionDenied => ErrorKind::PermissionDenied,
            K::AlreadyExists => ErrorKind::AlreadyExists,
            K::NotADirectory => ErrorKind::NotADirectory,
            K::IsADirectory => ErrorKind::IsADirectory,
            K::DirectoryNotEmpty => ErrorKind::DirectoryNotEmpty,
            K::InvalidInput | K::InvalidFilename => ErrorKind::InvalidName,
            K::StorageFull => ErrorKind::StorageFull,
            K::QuotaExceeded | K::FileTooLarge => ErrorKind::InsufficientStorage,
            K::Unsupported => ErrorKind::Unsupported,
            K::TimedOut | K::Interrupted | K::WouldBlock => ErrorKind::Transient,
            // ELOOP (40 on Linux): a symlink loop, or a link a confined backend refused to follow.
            _ if e.raw_os_error() == Some(40) => ErrorKind::PermissionDenied,
            _ => ErrorKind::Other,
        };
        let message = match kind {
            ErrorKind::NotFound => "No such file or directory".to_string(),
            ErrorKind::PermissionDenied => "Permission denied".to_string(),
            ErrorKind::AlreadyExists => "File exists".to_string(),
            ErrorKind::NotADirectory => "Not a directory".to_string(),
            ErrorKind::IsADirectory => "Is a directory".to_string(),
            ErrorKind::DirectoryNotEmpty => "Directory not empty".to_string(),
            _ => e.to_string(),
        };
        StorageError { kind, message }
    }
}

impl StorageError {
    /// The FTP reply for a failed storage operation: the 550 family, 553 for
    /// a name, 552 over a quota, 502 for what the backend cannot do, 45x for
    /// what may work later (452 for a full disk).
    pub(crate) fn reply(&self) -> Reply {
        let code = match self.kind {
            ErrorKind::InvalidName => 553,
            ErrorKind::InsufficientStorage => 552,
            ErrorKind::StorageFull => 452,
            ErrorKind::Unsupported => 502,
            ErrorKind::Transient => 450,
            ErrorKind::Other => 451,
            _ => 550,
        };
        Reply::new(code, &self.message)
    }
}

/// What a backend can do, so the engine answers FEAT and refusals honestly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// REST before RETR (reading from an offset).
    pub read_at_offset: bool,
    /// REST before STOR (writing from an offset into an existing file).
    pub write_at_offset: bool,
    /// APPE.
    pub append: bool,
    /// RNFR/RNTO.
    pub rename: bool,
    /// SITE CHMOD.
    pub set_mode: bool,
    /// MFMT.
    pub set_mtime: bool,
}

impl Capabilities {
    /// Everything a POSIX filesystem offers.
    pub const ALL: Capabilities = Capabilities {
        read_at_offset: true,
        write_at_offset: true,
        append: true,
        rename: true,
        set_mode: true,
        set_mtime: true,
    };
}

/// One entry of a directory listing.
#[derive(Debug, Clone)]
pub struct DirEntry {
    /// The name within its directory (raw bytes: names need not be UTF-8).
    pub name: Vec<u8>,
    pub info: FileInfo,
}

/// A directory listing handed out page by page so huge directories never sit
/// in memory at once.
#[async_trait]
pub trait DirLister: Send {
    /// The next page of entries, or `None` when the listing is complete.
    async fn next_page(&mut self) -> Result<Option<Vec<DirEntry>>, StorageError>;
}

/// A lister over entries already in memory (small backends, tests).
pub struct VecLister(Option<Vec<DirEntry>>);

impl VecLister {
    pub fn new(entries: Vec<DirEntry>) -> Self {
        VecLister(Some(entries))
    }
}

#[async_trait]
impl DirLister for VecLister {
    async fn next_page(&mut self) -> Result<Option<Vec<DirEntry>>, StorageError> {
        Ok(self.0.take())
    }
}

/// A file opened for reading.
pub enum ReadHandle {
    /// Any byte stream, already positioned at the requested offset.
    Stream(Box<dyn AsyncRead + Send + Unpin>),
    /// A local file, already positioned at the requested offset. The engine
    /// may send it with `sendfile(2)` when the data channel is plain TCP and
    /// the type is binary; otherwise it reads it like a stream.
    LocalFile(std::fs::File),
}

impl fmt::Debug for ReadHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadHandle::Stream(_) => f.write_str("ReadHandle::Stream"),
            ReadHandle::LocalFile(file) => write!(f, "ReadHandle::LocalFile({file:?})"),
        }
    }
}

/// Where an upload writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Create the file, or replace it (STOR). With `exclusive`, fail with
    /// `AlreadyExists` if it exists (STOU, anonymous uploads).
    Create { exclusive: bool },
    /// Write into the existing file starting at this offset, truncating what
    /// follows (REST + STOR). Offset 0 behaves like `Create`.
    At(u64),
    /// Add to the end of the file, creating it if missing (APPE).
    Append,
}

/// What an upload's path holds before the upload starts, as one lookup found
/// it. The layers of a storage stack that decide about a write (permissions,
/// quotas) share that one lookup: the first that needs it looks, and passes
/// it down with [`Storage::open_write_known`], so one STOR costs one
/// `metadata` call (on an object store, one HEAD request) however many
/// layers care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Nobody has looked yet.
    Unknown,
    /// A regular file of this many bytes.
    File(u64),
    /// No regular file: nothing there, something else (a directory), or
    /// nothing that can be seen (the write itself then reports the problem).
    NoFile,
}

impl Existing {
    /// Look at `path` in `storage`: one `metadata` call.
    pub async fn lookup(storage: &dyn Storage, path: &VPath) -> Existing {
        match storage.metadata(path).await {
            Ok(info) if info.is_file() => Existing::File(info.size),
            _ => Existing::NoFile,
        }
    }

    /// This, or a lookup now if nobody has looked yet.
    pub async fn or_lookup(self, storage: &dyn Storage, path: &VPath) -> Existing {
        match self {
            Existing::Unknown => Existing::lookup(storage, path).await,
            known => known,
        }
    }

    /// The size of the regular file found, if one was.
    pub fn file_size(self) -> Option<u64> {
        match self {
            Existing::File(size) => Some(size),
            Existing::Unknown | Existing::NoFile => None,
        }
    }
}

/// An upload in progress. Bytes go through `AsyncWrite`; nothing is visible
/// under the final name (for atomic backends) until `commit` succeeds.
/// Dropping the handle without `commit` aborts the upload.
#[async_trait]
pub trait WriteHandle: AsyncWrite + Send + Unpin {
    /// Flush everything and make the upload visible under its final name.
    async fn commit(self: Box<Self>) -> Result<(), StorageError>;
    /// Throw the upload away (an atomic backend removes its temporary file;
    /// a non-atomic one keeps what was written, as FTP servers traditionally do).
    async fn abort(self: Box<Self>);

    /// The local file this upload lands in, for the engine's zero-copy
    /// receive (`splice(2)` from the socket): everything written so far is
    /// flushed first, and the file (a duplicate handle sharing the position)
    /// is where the next byte goes. The engine writes the rest through it and
    /// then calls [`commit`](Self::commit) or [`abort`](Self::abort) as usual.
    ///
    /// `None`, the default, keeps every byte flowing through `AsyncWrite`:
    /// backends without a local file, and wrappers that must see each byte
    /// (quotas, throttling), keep it.
    async fn local_file(&mut self) -> Result<Option<std::fs::File>, StorageError> {
        Ok(None)
    }
}

/// A place that holds files: local disk, an object store, a policy wrapping another storage.
///
/// Object-safe so a daemon can pick one at run time (`Arc<dyn Storage>`).
#[async_trait]
pub trait Storage: Send + Sync + fmt::Debug {
    /// What this storage can do.
    fn capabilities(&self) -> Capabilities;

    /// Facts about one path (follows symlinks that stay inside the root).
    async fn metadata(&self, path: &VPath) -> Result<FileInfo, StorageError>;

    /// List a directory. Must fail with `NotADirectory`/`NotFound` rather than
    /// listing something else.
    async fn list(&self, path: &VPath) -> Result<Box<dyn DirLister>, StorageError>;

    /// Open a file for reading, positioned at `offset`.
    async fn open_read(&self, path: &VPath, offset: u64) -> Result<ReadHandle, StorageError>;

    /// Open a file for writing.
    async fn open_write(&self, path: &VPath, mode: WriteMode) -> Result<Box<dyn WriteHandle>, StorageError>;

    /// [`open_write`](Self::open_write) when a layer above has already looked
    /// at what is at `path` (see [`Existing`]). Layers that need to know use
    /// `existing` instead of asking again and pass it on; a backend ignores
    /// it, which is what the default does.
    async fn open_write_known(
        &self,
        path: &VPath,
        mode: WriteMode,
        existing: Existing,
    ) -> Result<Box<dyn WriteHandle>, StorageError> {
        let _ = existing;
        self.open_write(path, mode).await
    }

    /// Remove a file (not a directory).
    async fn delete(&self, path: &VPath) -> Result<(), StorageError>;

    /// Create one directory (its parent must exist).
    async fn mkdir(&self, path: &VPath) -> Result<(), StorageError>;

    /// Remove an empty directory.
    async fn rmdir(&self, path: &VPath) -> Result<(), StorageError>;

    /// Rename a file or directory; replaces an existing file at `to`.
    async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), StorageError>;

    /// What RNFR asks before RNTO names a destination: the facts about
    /// `path` if it exists and may be renamed away from where it is. A
    /// policy layer refuses here what [`rename`](Self::rename) would refuse
    /// whatever the destination (a read-only area, a directory without the
    /// rename permission), so the client hears it at RNFR; `rename` still
    /// decides for good. Default: [`metadata`](Self::metadata).
    async fn rename_source(&self, path: &VPath) -> Result<FileInfo, StorageError> {
        self.metadata(path).await
    }

    /// Change permission bits (SITE CHMOD).
    async fn set_mode(&self, path: &VPath, mode: u32) -> Result<(), StorageError> {
        let _ = (path, mode);
        Err(StorageError::unsupported("SITE CHMOD"))
    }

    /// Change the modification time, in seconds since the Unix epoch (MFMT).
    async fn set_mtime(&self, path: &VPath, unix_secs: i64) -> Result<(), StorageError> {
        let _ = (path, unix_secs);
        Err(StorageError::unsupported("MFMT"))
    }
}

/// What a sweep of abandoned uploads did (see
/// [`StorageFactory::sweep_abandoned_uploads`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// Leftovers of dead uploads removed (temporary files, multipart uploads).
    pub removed: u64,
    /// Their bytes, where known.
    pub bytes: u64,
    /// Uploads in progress seen and left alone.
    pub in_progress: u64,
}

/// Gives each logged-in session its storage, already confined to the
/// identity's home. A local-disk backend opens a backend rooted at the home
/// (so symlinks are resolved against it); a shared backend is wrapped in the
/// `Rooted` policy layer. Async, so a backend may do I/O here (open the home
/// directory, create an object store's home prefix) without blocking.
#[async_trait]
pub trait StorageFactory: Send + Sync + fmt::Debug {
    /// What the storages this factory hands out can do (FEAT is answered before login).
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// The storage for one logged-in identity.
    async fn storage_for(&self, identity: &crate::auth::Identity) -> Result<std::sync::Arc<dyn Storage>, StorageError>;

    /// Remove what uploads left behind when the process writing them died
    /// (`kill -9`, a crash, power loss): temporary files of atomic uploads,
    /// unfinished multipart uploads. Never touches an upload in progress, in
    /// this process or another one serving the same storage. The server
    /// calls it when it starts and then every
    /// [`Options::upload_sweep_interval`](crate::Options::upload_sweep_interval).
    /// The default has nothing to sweep; a wrapping factory passes it on.
    async fn sweep_abandoned_uploads(&self) -> Result<SweepReport, StorageError> {
        Ok(SweepReport::default())
    }

    /// A short name of the backend ("fs", "s3", ...), the `backend` label of
    /// the storage metrics. Keep it to a fixed set of values.
    fn backend_name(&self) -> &str {
        "storage"
    }

    /// Whether the storage answers now: a local root can be read, a bucket
    /// answers a listing. For readiness probes (a load balancer takes a node
    /// whose storage is gone out of rotation), so it must be cheap; callers
    /// cache the answer. The default says yes.
    async fn check(&self) -> Result<(), StorageError> {
        Ok(())
    }
}
