//! Blocking filesystem work on tokio's blocking pool: `cap-std` is
//! synchronous, so every operation runs as one `spawn_blocking` call.

use oxftp_core::storage::{ErrorKind, StorageError};

/// Run blocking filesystem work on tokio's blocking pool. A panic or a
/// cancelled task becomes an `Other` error rather than a panic of our own.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, StorageError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => Err(StorageError::new(ErrorKind::Other, format!("storage task failed: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blocking_returns_the_work_result() {
        assert_eq!(blocking(|| Ok(7)).await.unwrap(), 7);
        let err = blocking::<(), _>(|| Err(StorageError::not_found())).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
    }
}
