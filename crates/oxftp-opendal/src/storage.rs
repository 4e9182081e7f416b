//! [`OpendalStorage`]: the [`Storage`] trait over an OpenDAL [`Operator`].
//!
//! Directories are key prefixes. A directory exists when its marker object
//! (`dir/`, written by MKD) exists or when any key lies below it, which is
//! what OpenDAL's `stat` of a path ending in `/` checks (one LIST request
//! with a limit of one on stores without real directories). On services
//! that have real directories (fs) the same calls act on them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use opendal::ErrorKind as OdKind;
use opendal::Operator;
use opendal::options::WriteOptions;
use oxftp_core::storage::{
    Capabilities, DirLister, ErrorKind, ReadHandle, Storage, StorageError, WriteHandle, WriteMode,
};
use oxftp_proto::listing::{FileInfo, FileKind};
use oxftp_proto::path::VPath;
use tokio_util::io::StreamReader;

use crate::config::{ConfigError, OpendalConfig, Tuning};
use crate::error::{map_error, one_line, to_io};
use crate::events::UploadListener;
use crate::keys::{dir_key, file_key, rebase};
use crate::list::{ObjectLister, file_info};
use crate::write::{ObjectWriter, STAGING_BYTES};

/// A storage backed by any OpenDAL service; S3 is the one it is built for.
#[derive(Clone)]
pub struct OpendalStorage {
    op: Operator,
    tuning: Tuning,
    caps: Capabilities,
    listener: Option<Arc<dyn UploadListener>>,
    logger: slog::Logger,
}

impl fmt::Debug for OpendalStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.op.info();
        f.debug_struct("OpendalStorage")
            .field("scheme", &info.scheme())
            .field("name", &info.name())
            .field("root", &info.root())
            .field("tuning", &self.tuning)
            .finish_non_exhaustive()
    }
}

/// Whether an OpenDAL error just means "nothing there".
fn is_absent(e: &opendal::Error) -> bool {
    matches!(e.kind(), OdKind::NotFound | OdKind::NotADirectory | OdKind::IsADirectory)
}

fn dir_info(mtime: Option<i64>) -> FileInfo {
    FileInfo { kind: FileKind::Dir, size: 0, mtime, mode: None, nlink: 1, owner: None, group: None, unique: None }
}

impl OpendalStorage {
    /// A storage over `op` with default tuning (8 MiB parts, no directory rename).
    /// Layers (retry, timeout) are the caller's business here; [`Self::from_config`]
    /// adds them.
    pub fn new(op: Operator) -> Self {
        Self::with_tuning(op, Tuning::default())
    }

    /// A storage over `op` with the given tuning.
    pub fn with_tuning(op: Operator, tuning: Tuning) -> Self {
        // The operator's HTTP services look the client up at request time.
        install_http_client();
        let caps = capabilities_of(&op, &tuning);
        OpendalStorage { op, tuning, caps, listener: None, logger: slog::Logger::root(slog::Discard, slog::o!()) }
    }

    /// Build the operator a configuration describes, with retry (exponential
    /// backoff with jitter) and timeout layers, and wrap it.
    pub fn from_config(config: &OpendalConfig) -> Result<Self, ConfigError> {
        let tuning = config.tuning()?;
        let (timeout, io_timeout) = config.timeouts()?;
        let options = config.service_options()?;
        install_http_client();
        let op = Operator::via_iter(&config.scheme, options)
            .map_err(|e| ConfigError::Service { scheme: config.scheme.clone(), message: one_line(&e.to_string()) })?;
        // Timeout below retry, so each attempt has its own deadline (OpenDAL's advice).
        let op = op.layer(opendal::layers::TimeoutLayer::new().with_timeout(timeout).with_io_timeout(io_timeout));
        let retries = config.retries.unwrap_or(crate::config::DEFAULT_RETRIES);
        let op = if retries > 0 {
            op.layer(
                opendal::layers::RetryLayer::new()
                    .with_max_times(retries)
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(5))
                    .with_factor(2.0)
                    .with_jitter(),
            )
        } else {
            op
        };
        Ok(Self::with_tuning(op, tuning))
    }

    /// Log through `logger` (upload lines, backend failures).
    pub fn with_logger(mut self, logger: slog::Logger) -> Self {
        self.logger = logger;
        self
    }

    /// Call `listener` after every committed upload.
    pub fn with_listener(mut self, listener: Arc<dyn UploadListener>) -> Self {
        self.listener = Some(listener);
        self
    }

    /// The logger given with [`Self::with_logger`].
    pub(crate) fn logger(&self) -> &slog::Logger {
        &self.logger
    }

    /// The underlying operator.
    pub fn operator(&self) -> &Operator {
        &self.op
    }

    /// The tuning in force.
    pub fn tuning(&self) -> &Tuning {
        &self.tuning
    }

    /// Verify that the store is reachable and the bucket (or container,
    /// directory) exists and may be listed: one LIST of at most one key.
    /// For start-up and `oxftpd check-config`; the message says which of
    /// unreachable endpoint / missing bucket / refused credentials it is.
    pub async fn check(&self) -> Result<(), StorageError> {
        let info = self.op.info();
        let what = format!("{} {:?}", info.scheme(), info.name());
        let first = match self.op.lister_with("/").limit(1).await {
            Ok(mut lister) => match lister.next().await {
                Some(Err(e)) => Err(e),
                _ => Ok(()),
            },
            Err(e) => Err(e),
        };
        let Err(e) = first else {
            return Ok(());
        };
        slog::warn!(self.logger, "storage check failed"; "store" => &what, "error" => %e);
        let text = e.to_string();
        let (kind, message) = if text.contains("NoSuchBucket") {
            (ErrorKind::NotFound, format!("{what}: the bucket does not exist"))
        } else if e.kind() == OdKind::PermissionDenied {
            (ErrorKind::PermissionDenied, format!("{what}: access denied; check the credentials and the bucket policy"))
        } else if e.kind() == OdKind::NotFound {
            (ErrorKind::NotFound, format!("{what}: not found: {}", one_line(e.message())))
        } else if e.kind() != OdKind::ConfigInvalid
            && (e.is_temporary() || e.is_persistent() || e.kind() == OdKind::RateLimited)
        {
            (ErrorKind::Transient, format!("{what}: cannot reach the object store: {}", one_line(&text)))
        } else {
            (ErrorKind::Other, format!("{what}: {}", one_line(&text)))
        };
        Err(StorageError::new(kind, message))
    }

    /// Make sure the directory `path` exists, creating it and any missing
    /// parents (`mkdir -p`). For homes: a `Rooted` session whose home does
    /// not exist cannot even list its root, so [`OpendalFactory`](crate::OpendalFactory)
    /// creates homes at login. Fails with `NotADirectory` if a file is in the way.
    pub async fn ensure_dir(&self, path: &VPath) -> Result<(), StorageError> {
        match self.metadata(path).await {
            Ok(info) if info.is_dir() => return Ok(()),
            Ok(_) => return Err(StorageError::new(ErrorKind::NotADirectory, "Not a directory")),
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut ancestor = path.parent();
        while let Some(dir) = ancestor.filter(|d| !d.is_root()) {
            if self.stat_file(&file_key(&dir)?).await?.is_some() {
                return Err(StorageError::new(ErrorKind::NotADirectory, "Not a directory"));
            }
            ancestor = dir.parent();
        }
        // One marker is enough on object stores (the parents exist through
        // it); directory services create the parents themselves.
        self.op.create_dir(&dir_key(path)?).await.map_err(|e| self.fail("mkdir", &e))
    }

    /// Map and log a backend failure (absence is normal and not logged).
    fn fail(&self, op: &str, e: &opendal::Error) -> StorageError {
        if !is_absent(e) {
            slog::warn!(self.logger, "object store error"; "op" => op, "error" => %e);
        }
        map_error(op, e)
    }

    /// Metadata of the object at `key` if it is a file; `None` if absent.
    async fn stat_file(&self, key: &str) -> Result<Option<opendal::Metadata>, StorageError> {
        match self.op.stat(key).await {
            Ok(m) if m.is_file() => Ok(Some(m)),
            Ok(_) => Ok(None),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(self.fail("stat", &e)),
        }
    }

    /// Metadata of the directory at `path`; `None` if neither a marker nor any key below it exists.
    async fn stat_dir(&self, path: &VPath) -> Result<Option<FileInfo>, StorageError> {
        if path.is_root() {
            return Ok(Some(dir_info(None)));
        }
        match self.op.stat(&dir_key(path)?).await {
            Ok(m) if m.is_dir() => Ok(Some(dir_info(file_info(&m).mtime))),
            Ok(_) => Ok(None),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(self.fail("stat", &e)),
        }
    }

    /// Fails unless `path`'s parent is an existing directory.
    async fn require_parent_dir(&self, path: &VPath) -> Result<(), StorageError> {
        let Some(parent) = path.parent() else {
            return Ok(());
        };
        match self.metadata(&parent).await {
            Ok(info) if info.is_dir() => Ok(()),
            Ok(_) => Err(StorageError::new(ErrorKind::NotADirectory, "Not a directory")),
            Err(e) => Err(e),
        }
    }

    /// Rename one file: natively where the service can, else copy + delete.
    async fn rename_file(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let cap = self.op.info().capability();
        if cap.rename {
            return self.op.rename(from, to).await.map_err(|e| self.fail("rename", &e));
        }
        self.copy_object(from, to).await?;
        self.op.delete(from).await.map_err(|e| self.fail("delete", &e))
    }

    /// Copy one object: server-side where the service can, else streamed
    /// through this process (bounded by the upload chunk size).
    async fn copy_object(&self, from: &str, to: &str) -> Result<(), StorageError> {
        if self.op.info().capability().copy {
            return self.op.copy(from, to).await.map(|_| ()).map_err(|e| self.fail("copy", &e));
        }
        let reader = self.op.reader(from).await.map_err(|e| self.fail("copy", &e))?;
        let mut chunks = reader.into_bytes_stream(..).await.map_err(|e| self.fail("copy", &e))?;
        let mut writer =
            self.op.writer_with(to).chunk(self.tuning.chunk_size).await.map_err(|e| self.fail("copy", &e))?;
        let copied = async {
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| StorageError::from(clean_io(e)))?;
                writer.write(chunk).await.map_err(|e| self.fail("copy", &e))?;
            }
            writer.close().await.map_err(|e| self.fail("copy", &e))
        }
        .await;
        if let Err(e) = copied {
            let _ = writer.abort().await;
            return Err(e);
        }
        Ok(())
    }

    /// Rename a directory by copying every object below it and then deleting
    /// the originals. See [`Storage::rename`] on this type.
    async fn rename_dir(&self, from: &VPath, to: &VPath) -> Result<(), StorageError> {
        let Some(limit) = self.tuning.rename_dir_limit else {
            return Err(StorageError::new(
                ErrorKind::Unsupported,
                "Renaming directories is not enabled on this storage",
            ));
        };
        if to.starts_with(from) {
            return Err(StorageError::new(ErrorKind::InvalidName, "Cannot move a directory into itself"));
        }
        let src = dir_key(from)?;
        let dst = dir_key(to)?;
        // Pass 1: collect (bounded by the limit) and check the limits before touching anything.
        let mut lister = self.op.lister_with(&src).recursive(true).await.map_err(|e| self.fail("list", &e))?;
        let mut files: Vec<String> = Vec::new();
        let mut dirs: Vec<String> = Vec::new();
        let mut bytes = 0u64;
        while let Some(entry) = lister.try_next().await.map_err(|e| self.fail("list", &e))? {
            let key = entry.path();
            if key == src || !key.starts_with(&src) {
                continue;
            }
            if (files.len() + dirs.len()) as u64 >= limit {
                return Err(StorageError::new(
                    ErrorKind::PermissionDenied,
                    format!("Directory holds more than {limit} objects; too big to rename"),
                ));
            }
            if entry.metadata().is_dir() {
                dirs.push(key.to_string());
            } else {
                bytes = bytes.saturating_add(entry.metadata().content_length());
                files.push(key.to_string());
            }
        }
        if let Some(max) = self.tuning.rename_dir_max_bytes
            && bytes > max
        {
            return Err(StorageError::new(
                ErrorKind::PermissionDenied,
                format!("Directory holds more than {max} bytes; too big to rename"),
            ));
        }
        // Pass 2: copy. On failure remove what was copied; the source is untouched.
        let mut made: Vec<String> = Vec::new();
        let copy_all = async {
            self.op.create_dir(&dst).await.map_err(|e| self.fail("mkdir", &e))?;
            dirs.sort_by_key(|d| d.len());
            for d in &dirs {
                let Some(target) = rebase(d, &src, &dst) else { continue };
                self.op.create_dir(&target).await.map_err(|e| self.fail("mkdir", &e))?;
                made.push(target);
            }
            for f in &files {
                let Some(target) = rebase(f, &src, &dst) else { continue };
                self.copy_object(f, &target).await?;
                made.push(target);
            }
            Ok::<(), StorageError>(())
        }
        .await;
        if let Err(e) = copy_all {
            made.sort_by_key(|k| std::cmp::Reverse(k.len()));
            made.push(dst.clone());
            for key in &made {
                let _ = self.op.delete(key).await;
            }
            return Err(e);
        }
        // Pass 3: delete the originals, files first, deepest directories next, the marker last.
        self.op.delete_iter(files.iter().map(String::as_str)).await.map_err(|e| self.fail("delete", &e))?;
        dirs.sort_by_key(|d| std::cmp::Reverse(d.len()));
        for d in dirs.iter().chain(std::iter::once(&src)) {
            match self.op.delete(d).await {
                Ok(()) => {}
                Err(e) if is_absent(&e) => {}
                Err(e) => return Err(self.fail("delete", &e)),
            }
        }
        slog::info!(self.logger, "directory renamed";
            "from" => %from, "to" => %to, "files" => files.len(), "bytes" => bytes);
        Ok(())
    }
}

/// Register the compiled-in services and OpenDAL's HTTP client, once.
///
/// The HTTP client uses rustls with the process-wide crypto provider; ring
/// is installed as that provider unless the embedder installed one first.
/// ring is what the engine's TLS uses, so the process links one provider
/// (linking two makes rustls refuse to pick one implicitly).
pub fn install_http_client() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means a provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        opendal::init_default_registry();
        opendal_http_transport_reqwest::install_default();
    });
}

/// What the engine may promise for this operator and tuning.
fn capabilities_of(op: &Operator, tuning: &Tuning) -> Capabilities {
    let info = op.info();
    let cap = info.capability();
    // OpenDAL reports append for every S3 bucket, but only S3 Express One Zone
    // honours the write offset; elsewhere the "append" would replace the
    // object. So on S3 it is opt-in.
    let append = cap.write_can_append
        && match tuning.append {
            Some(on) => on,
            None => info.scheme() != "s3",
        };
    Capabilities {
        read_at_offset: cap.read,
        write_at_offset: append,
        append,
        // Copy falls back to streaming through this process.
        rename: cap.rename || (cap.read && cap.write && cap.delete),
        set_mode: false,
        set_mtime: false,
    }
}

#[async_trait]
impl Storage for OpendalStorage {
    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    async fn metadata(&self, path: &VPath) -> Result<FileInfo, StorageError> {
        if path.is_root() {
            return Ok(dir_info(None));
        }
        match self.op.stat(&file_key(path)?).await {
            Ok(m) => return Ok(file_info(&m)),
            Err(e) if is_absent(&e) => {}
            Err(e) => return Err(self.fail("stat", &e)),
        }
        self.stat_dir(path).await?.ok_or_else(StorageError::not_found)
    }

    async fn list(&self, path: &VPath) -> Result<Box<dyn DirLister>, StorageError> {
        if !self.metadata(path).await?.is_dir() {
            return Err(StorageError::new(ErrorKind::NotADirectory, "Not a directory"));
        }
        let prefix = dir_key(path)?;
        let page = self.tuning.list_page_size;
        let mut req = self.op.lister_with(&prefix);
        if self.op.info().capability().list_with_limit {
            req = req.limit(page);
        }
        let lister = req.await.map_err(|e| self.fail("list", &e))?;
        let mut lister = ObjectLister::new(lister, prefix, page);
        lister.prefetch().await?;
        Ok(Box::new(lister))
    }

    async fn open_read(&self, path: &VPath, offset: u64) -> Result<ReadHandle, StorageError> {
        let key = file_key(path)?;
        let Some(meta) = self.stat_file(&key).await? else {
            return Err(match self.stat_dir(path).await? {
                Some(_) => StorageError::new(ErrorKind::IsADirectory, "Is a directory"),
                None => StorageError::not_found(),
            });
        };
        let size = meta.content_length();
        if offset >= size {
            return Ok(ReadHandle::Stream(Box::new(tokio::io::empty())));
        }
        let reader = self.op.reader(&key).await.map_err(|e| self.fail("read", &e))?;
        // One ranged GET streamed as it arrives; the fixed end keeps the
        // length SIZE reported even if the object is replaced meanwhile.
        let stream = reader
            .into_bytes_stream(offset..size)
            .await
            .map_err(|e| self.fail("read", &e))?
            .map(|chunk| chunk.map_err(clean_io));
        Ok(ReadHandle::Stream(Box::new(StreamReader::new(stream))))
    }

    async fn open_write(&self, path: &VPath, mode: WriteMode) -> Result<Box<dyn WriteHandle>, StorageError> {
        let key = file_key(path)?;
        self.require_parent_dir(path).await?;
        let existing = self.stat_file(&key).await?;
        if existing.is_none() && self.stat_dir(path).await?.is_some() {
            return Err(StorageError::new(ErrorKind::IsADirectory, "Is a directory"));
        }
        let cap = self.op.info().capability();
        let mut opts = WriteOptions {
            chunk: Some(self.tuning.chunk_size),
            concurrent: self.tuning.upload_concurrency,
            ..WriteOptions::default()
        };
        match mode {
            WriteMode::Create { exclusive: false } | WriteMode::At(0) => {}
            WriteMode::Create { exclusive: true } => {
                if existing.is_some() {
                    return Err(StorageError::new(ErrorKind::AlreadyExists, "File exists"));
                }
                // Closes the race between the check above and the commit where the store can.
                opts.if_not_exists = cap.write_with_if_not_exists;
            }
            WriteMode::At(offset) => {
                if !self.caps.write_at_offset {
                    return Err(StorageError::unsupported("REST before STOR"));
                }
                let size = existing.as_ref().map_or(0, |m| m.content_length());
                if offset != size {
                    // Objects cannot be overwritten in the middle: resuming
                    // at the end is the only write at an offset that keeps
                    // the object whole.
                    return Err(StorageError::new(
                        ErrorKind::Unsupported,
                        format!("Can only resume an upload at the end of the file ({size} bytes)"),
                    ));
                }
                opts.append = true;
            }
            WriteMode::Append => {
                if !self.caps.append {
                    return Err(StorageError::unsupported("APPE"));
                }
                opts.append = true;
            }
        }
        let writer = self.op.writer_options(&key, opts).await.map_err(|e| self.fail("upload", &e))?;
        let handle = ObjectWriter::new(
            writer,
            path.clone(),
            STAGING_BYTES.min(self.tuning.chunk_size),
            self.listener.clone(),
            self.logger.clone(),
        )?;
        Ok(Box::new(handle))
    }

    async fn delete(&self, path: &VPath) -> Result<(), StorageError> {
        let key = file_key(path)?;
        if self.stat_file(&key).await?.is_none() {
            return Err(match self.stat_dir(path).await? {
                Some(_) => StorageError::new(ErrorKind::IsADirectory, "Is a directory"),
                None => StorageError::not_found(),
            });
        }
        self.op.delete(&key).await.map_err(|e| self.fail("delete", &e))
    }

    async fn mkdir(&self, path: &VPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::new(ErrorKind::AlreadyExists, "File exists"));
        }
        let key = dir_key(path)?;
        match self.metadata(path).await {
            Ok(_) => return Err(StorageError::new(ErrorKind::AlreadyExists, "File exists")),
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.require_parent_dir(path).await?;
        self.op.create_dir(&key).await.map_err(|e| self.fail("mkdir", &e))
    }

    async fn rmdir(&self, path: &VPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::new(ErrorKind::PermissionDenied, "Cannot remove the root directory"));
        }
        if !self.metadata(path).await?.is_dir() {
            return Err(StorageError::new(ErrorKind::NotADirectory, "Not a directory"));
        }
        let key = dir_key(path)?;
        let mut req = self.op.lister_with(&key);
        if self.op.info().capability().list_with_limit {
            req = req.limit(2);
        }
        let mut lister = req.await.map_err(|e| self.fail("list", &e))?;
        // The marker itself may come first; anything else means "not empty".
        for _ in 0..2 {
            match lister.try_next().await {
                Ok(Some(entry)) if entry.path() == key => {}
                Ok(Some(_)) => {
                    return Err(StorageError::new(ErrorKind::DirectoryNotEmpty, "Directory not empty"));
                }
                Ok(None) => break,
                Err(e) if is_absent(&e) => break,
                Err(e) => return Err(self.fail("list", &e)),
            }
        }
        match self.op.delete(&key).await {
            Ok(()) => Ok(()),
            Err(e) if is_absent(&e) => Ok(()),
            Err(e) => Err(self.fail("rmdir", &e)),
        }
    }

    /// Files: a native rename where the service has one, else server-side
    /// copy then delete (S3 CopyObject + DeleteObject): a reader never sees
    /// a half-written target, but both names exist for a moment.
    ///
    /// Directories (only with `rename_dir_limit`): every object below is
    /// copied, then the originals are deleted. This is **not atomic**: while
    /// it runs, clients see both trees; if a copy fails the copies made so
    /// far are removed and the source is left as it was; if a delete fails
    /// afterwards, both trees exist and the error is reported.
    async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), StorageError> {
        if from.is_root() || to.is_root() {
            return Err(StorageError::new(ErrorKind::PermissionDenied, "Cannot rename the root directory"));
        }
        let info = self.metadata(from).await?;
        if from == to {
            return Ok(());
        }
        self.require_parent_dir(to).await?;
        if info.is_dir() {
            if self.metadata(to).await.is_ok() {
                return Err(StorageError::new(ErrorKind::AlreadyExists, "File exists"));
            }
            return self.rename_dir(from, to).await;
        }
        if self.stat_dir(to).await?.is_some() && self.stat_file(&file_key(to)?).await?.is_none() {
            return Err(StorageError::new(ErrorKind::IsADirectory, "Is a directory"));
        }
        self.rename_file(&file_key(from)?, &file_key(to)?).await
    }
}

/// A read error with OpenDAL's long message replaced by a mapped one-liner.
fn clean_io(e: std::io::Error) -> std::io::Error {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<opendal::Error>()) {
        Some(od) => to_io(map_error("read", od)),
        None => e,
    }
}
