//! Upload-complete notifications.
//!
//! A hook for whatever should happen once a file is fully stored: a message
//! on a queue, a virus scan, an index update. It is called only after the
//! object is committed (visible under its name), never for aborted or failed
//! uploads.

use oxftp_proto::path::VPath;

/// Told about every upload that was committed.
pub trait UploadListener: Send + Sync {
    /// `path` (as the storage saw it, i.e. below any `Rooted` home) now holds
    /// `bytes` bytes. Called on the task that committed; keep it quick or
    /// hand the work off.
    fn upload_complete(&self, path: &VPath, bytes: u64);
}
