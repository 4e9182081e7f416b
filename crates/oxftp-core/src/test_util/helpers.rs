//! Storage calls tests make over and over, through `&dyn Storage` so they
//! work for any backend and any layer.

use oxftp_proto::path::VPath;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::storage::{DirEntry, ErrorKind, ReadHandle, Storage, StorageError, WriteMode};

/// A path from a test literal.
///
/// # Panics
/// On a path `VPath` refuses (test literals are always valid).
pub fn p(path: &str) -> VPath {
    VPath::parse(path.as_bytes()).expect("valid test path")
}

/// A file's contents from `offset` on, whichever kind of handle the storage gives.
pub async fn read_at(storage: &dyn Storage, path: &str, offset: u64) -> Result<Vec<u8>, StorageError> {
    let mut out = Vec::new();
    match storage.open_read(&p(path), offset).await? {
        ReadHandle::Stream(mut r) => r.read_to_end(&mut out).await?,
        ReadHandle::LocalFile(f) => tokio::fs::File::from_std(f).read_to_end(&mut out).await?,
    };
    Ok(out)
}

/// A whole file's contents.
pub async fn read_all(storage: &dyn Storage, path: &str) -> Result<Vec<u8>, StorageError> {
    read_at(storage, path, 0).await
}

/// Write `data` to `path` in `mode` and commit; a failed write aborts the upload.
pub async fn write(storage: &dyn Storage, path: &str, mode: WriteMode, data: &[u8]) -> Result<(), StorageError> {
    let mut handle = storage.open_write(&p(path), mode).await?;
    if let Err(e) = handle.write_all(data).await {
        handle.abort().await;
        return Err(e.into());
    }
    handle.commit().await
}

/// Upload `data` as a new or replaced file (STOR) and commit it.
pub async fn upload(storage: &dyn Storage, path: &str, data: &[u8]) -> Result<(), StorageError> {
    write(storage, path, WriteMode::Create { exclusive: false }, data).await
}

/// Every entry of a directory, all pages, sorted by name.
pub async fn entries(storage: &dyn Storage, path: &str) -> Result<Vec<DirEntry>, StorageError> {
    let mut lister = storage.list(&p(path)).await?;
    let mut out = Vec::new();
    while let Some(page) = lister.next_page().await? {
        out.extend(page);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The names in a directory, all pages, sorted.
pub async fn list_names(storage: &dyn Storage, path: &str) -> Result<Vec<Vec<u8>>, StorageError> {
    Ok(entries(storage, path).await?.into_iter().map(|e| e.name).collect())
}

/// The error of a result that must have failed (handles need not be `Debug`).
///
/// # Panics
/// When the result is `Ok`.
#[track_caller]
pub fn err_of<T>(result: Result<T, StorageError>) -> StorageError {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

/// The kind of the error of a result that must have failed.
///
/// # Panics
/// When the result is `Ok`.
#[track_caller]
pub fn kind_of<T>(result: Result<T, StorageError>) -> ErrorKind {
    err_of(result).kind
}
