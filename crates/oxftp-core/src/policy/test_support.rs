//! Small helpers shared by the policy layers' tests.

use oxftp_proto::path::VPath;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::storage::{ReadHandle, Storage, StorageError, WriteMode};

/// Parse a test path; test paths are always valid.
pub(crate) fn p(s: &str) -> VPath {
    VPath::parse(s.as_bytes()).expect("valid test path")
}

/// A whole file's contents through `storage`.
pub(crate) async fn read_all(storage: &dyn Storage, path: &str) -> Result<Vec<u8>, StorageError> {
    let mut out = Vec::new();
    match storage.open_read(&p(path), 0).await? {
        ReadHandle::Stream(mut r) => r.read_to_end(&mut out).await?,
        ReadHandle::LocalFile(f) => tokio::fs::File::from_std(f).read_to_end(&mut out).await?,
    };
    Ok(out)
}

/// Upload `data` as a new or replaced file and commit it.
pub(crate) async fn upload(storage: &dyn Storage, path: &str, data: &[u8]) -> Result<(), StorageError> {
    let mut w = storage.open_write(&p(path), WriteMode::Create { exclusive: false }).await?;
    w.write_all(data).await?;
    w.commit().await
}

/// The names in a directory, all pages.
pub(crate) async fn list_names(storage: &dyn Storage, path: &str) -> Result<Vec<Vec<u8>>, StorageError> {
    let mut lister = storage.list(&p(path)).await?;
    let mut out = Vec::new();
    while let Some(page) = lister.next_page().await? {
        out.extend(page.into_iter().map(|e| e.name));
    }
    Ok(out)
}

/// The error of a result that must have failed (handles need not be `Debug`).
pub(crate) fn err_of<T>(r: Result<T, StorageError>) -> StorageError {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}
