//! Transfer events: a hook for whatever should happen when a transfer ends
//! (notify a pipeline that a partner's upload landed, feed an audit log,
//! call a webhook). Backend-agnostic: it sees the session's view of the path,
//! whatever storage sits below.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use oxftp_proto::path::VPath;

/// What a transfer was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// RETR.
    Download,
    /// STOR, STOU or APPE: the file is committed under `path` when `completed`.
    Upload,
    /// LIST, NLST, MLSD.
    Listing,
}

/// One finished transfer. Non-exhaustive: a listener reads its fields; a
/// test makes one with [`TransferEvent::new`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TransferEvent {
    pub user: String,
    pub peer: SocketAddr,
    pub kind: TransferKind,
    /// The command (`RETR`, `STOR`, ...).
    pub command: &'static str,
    /// In the user's view (relative to their home).
    pub path: VPath,
    /// Bytes on the data connection.
    pub bytes: u64,
    pub elapsed: Duration,
    /// The transfer finished and, for uploads, the file is in place.
    pub completed: bool,
}

impl TransferEvent {
    /// An event for a transfer by `user` from `peer`: no bytes, no time, not
    /// completed until those fields are set.
    pub fn new(
        user: impl Into<String>,
        peer: SocketAddr,
        kind: TransferKind,
        command: &'static str,
        path: VPath,
    ) -> TransferEvent {
        TransferEvent {
            user: user.into(),
            peer,
            kind,
            command,
            path,
            bytes: 0,
            elapsed: Duration::ZERO,
            completed: false,
        }
    }
}

/// Receives transfer events. Called on the session's task right after the
/// final reply went out, so it must not block: hand slow work (HTTP calls) to
/// a task or a queue of your own.
pub trait TransferListener: Send + Sync + fmt::Debug {
    fn transfer_finished(&self, event: &TransferEvent);
}

/// A listener that logs completed uploads, one line each (the minimum issue 6 asks for).
#[derive(Debug)]
pub struct LogUploads(pub slog::Logger);

impl TransferListener for LogUploads {
    fn transfer_finished(&self, event: &TransferEvent) {
        if event.kind == TransferKind::Upload && event.completed {
            slog::info!(self.0, "upload complete"; "user" => &event.user, "path" => %event.path, "bytes" => event.bytes);
        }
    }
}
