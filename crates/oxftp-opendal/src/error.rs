//! Turning OpenDAL errors into [`StorageError`]s the engine can answer with.
//!
//! The FTP reply depends only on the kind, so the mapping decides what a
//! client sees: a missing key is 550, an outage is a retryable 450/451, bad
//! credentials are a refusal. The message becomes reply text, so it is kept
//! to one short line; the full OpenDAL error (request context, response body)
//! goes to the log instead.

use opendal::ErrorKind as OdKind;
use oxftp_core::storage::{ErrorKind, StorageError};

/// Longest message handed to the engine (it ends up in a reply line).
const MAX_MESSAGE: usize = 200;

/// Map an OpenDAL error from operation `op` (`"stat"`, `"write"`, ...) to a storage error.
///
/// Errors OpenDAL marks temporary or persistent (a temporary one that
/// survived the retry layer: connection refused, timeouts, 5xx, throttling)
/// are [`ErrorKind::Transient`], so the client may try again later.
pub fn map_error(op: &str, err: &opendal::Error) -> StorageError {
    let text = err.to_string();
    // S3 answers a missing bucket with 404 like a missing key; a client must
    // not be told "no such file" when the whole store is misconfigured.
    if text.contains("NoSuchBucket") {
        return StorageError::new(ErrorKind::Other, format!("{op} failed: the bucket does not exist"));
    }
    let kind = match err.kind() {
        OdKind::NotFound => ErrorKind::NotFound,
        OdKind::PermissionDenied => ErrorKind::PermissionDenied,
        OdKind::IsADirectory => ErrorKind::IsADirectory,
        OdKind::NotADirectory => ErrorKind::NotADirectory,
        OdKind::AlreadyExists | OdKind::ConditionNotMatch => ErrorKind::AlreadyExists,
        OdKind::Unsupported => ErrorKind::Unsupported,
        OdKind::RateLimited => ErrorKind::Transient,
        // A setup mistake never heals by retrying.
        OdKind::ConfigInvalid => ErrorKind::Other,
        _ if err.is_temporary() || err.is_persistent() => ErrorKind::Transient,
        _ => ErrorKind::Other,
    };
    let message = match kind {
        ErrorKind::NotFound => "No such file or directory".to_string(),
        ErrorKind::PermissionDenied => {
            format!("{op} failed: permission denied by the object store")
        }
        ErrorKind::AlreadyExists => "File exists".to_string(),
        ErrorKind::Transient => {
            format!("{op} failed: object store temporarily unavailable, try again later")
        }
        _ => format!("{op} failed: {}", one_line(err.message())),
    };
    StorageError::new(kind, message)
}

/// `text` cut to one line of at most 200 bytes (on a char boundary), `...` marking a cut.
pub fn one_line(text: &str) -> String {
    let first = text.lines().next().unwrap_or("").trim();
    let mut end = first.len().min(MAX_MESSAGE);
    while !first.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = first[..end].to_string();
    if end < first.len() {
        out.push_str("...");
    }
    out
}

/// A storage error carried through `std::io::Error` (the `AsyncRead`/`AsyncWrite`
/// paths), with an I/O kind that maps back to the same storage kind in
/// `StorageError::from(io::Error)` where one exists.
pub fn to_io(err: StorageError) -> std::io::Error {
    use std::io::ErrorKind as K;
    let kind = match err.kind {
        ErrorKind::NotFound => K::NotFound,
        ErrorKind::PermissionDenied => K::PermissionDenied,
        ErrorKind::AlreadyExists => K::AlreadyExists,
        ErrorKind::IsADirectory => K::IsADirectory,
        ErrorKind::NotADirectory => K::NotADirectory,
        ErrorKind::InsufficientStorage => K::QuotaExceeded,
        ErrorKind::StorageFull => K::StorageFull,
        ErrorKind::Unsupported => K::Unsupported,
        ErrorKind::Transient => K::TimedOut,
        _ => K::Other,
    };
    std::io::Error::new(kind, err.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_reply_classes() {
        let nf = opendal::Error::new(OdKind::NotFound, "key missing");
        assert_eq!(map_error("stat", &nf).kind, ErrorKind::NotFound);
        let denied = opendal::Error::new(OdKind::PermissionDenied, "InvalidAccessKeyId");
        let mapped = map_error("list", &denied);
        assert_eq!(mapped.kind, ErrorKind::PermissionDenied);
        assert!(mapped.message.contains("list failed"));
        let throttled = opendal::Error::new(OdKind::RateLimited, "SlowDown");
        assert_eq!(map_error("write", &throttled).kind, ErrorKind::Transient);
        let down = opendal::Error::new(OdKind::Unexpected, "connection refused").set_temporary();
        assert_eq!(map_error("read", &down).kind, ErrorKind::Transient);
        let retried = opendal::Error::new(OdKind::Unexpected, "503").set_persistent();
        assert_eq!(map_error("read", &retried).kind, ErrorKind::Transient);
        let odd = opendal::Error::new(OdKind::Unexpected, "bad xml\nsecond line");
        let mapped = map_error("list", &odd);
        assert_eq!(mapped.kind, ErrorKind::Other);
        assert_eq!(mapped.message, "list failed: bad xml");
        let setup = opendal::Error::new(OdKind::ConfigInvalid, "no transport").set_persistent();
        assert_eq!(map_error("list", &setup).kind, ErrorKind::Other);
        let exists = opendal::Error::new(OdKind::ConditionNotMatch, "412");
        assert_eq!(map_error("write", &exists).kind, ErrorKind::AlreadyExists);
    }

    #[test]
    fn missing_bucket_is_not_a_missing_file() {
        let err = opendal::Error::new(OdKind::NotFound, "S3Error { code: NoSuchBucket }");
        let mapped = map_error("stat", &err);
        assert_eq!(mapped.kind, ErrorKind::Other);
        assert!(mapped.message.contains("bucket does not exist"));
    }

    #[test]
    fn messages_are_one_short_line() {
        let long = "é".repeat(300);
        let cut = one_line(&long);
        assert!(cut.len() <= MAX_MESSAGE + 3);
        assert!(cut.ends_with("..."));
        assert_eq!(one_line("a\r\nb"), "a");
        assert_eq!(one_line(""), "");
    }

    #[test]
    fn io_round_trip_keeps_the_kind() {
        for kind in [
            ErrorKind::NotFound,
            ErrorKind::PermissionDenied,
            ErrorKind::AlreadyExists,
            ErrorKind::Transient,
            ErrorKind::Unsupported,
            ErrorKind::InsufficientStorage,
            ErrorKind::StorageFull,
            ErrorKind::Other,
        ] {
            let back = StorageError::from(to_io(StorageError::new(kind, "x")));
            assert_eq!(back.kind, kind);
        }
    }
}
