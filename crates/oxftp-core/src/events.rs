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
    /// How the user logged in (anonymous, user, guest): xferlog's access mode.
    pub class: crate::auth::AccessClass,
    /// Sent in TYPE A (ASCII, CRLF line ends on the wire) rather than TYPE I.
    pub ascii: bool,
}

impl TransferEvent {
    /// An event for a binary transfer by `user` (a full account) from
    /// `peer`: no bytes, no time, not completed until those fields are set.
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
            class: crate::auth::AccessClass::User,
            ascii: false,
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

/// What an [`Event`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A login succeeded.
    Login,
    /// A login was refused (bad password, unknown user, banned, ...).
    LoginFailed,
    /// A logged-in session ended.
    Logout,
    /// STOR, STOU or APPE ended: `completed` says whether the file is in place.
    Upload,
    /// RETR ended.
    Download,
    /// DELE.
    Delete,
    /// RNFR + RNTO: `path` is the old name, `target` the new one.
    Rename,
    /// MKD.
    Mkdir,
    /// RMD.
    Rmdir,
}

impl EventKind {
    /// Every kind, in a stable order.
    pub const ALL: [EventKind; 9] = [
        EventKind::Login,
        EventKind::LoginFailed,
        EventKind::Logout,
        EventKind::Upload,
        EventKind::Download,
        EventKind::Delete,
        EventKind::Rename,
        EventKind::Mkdir,
        EventKind::Rmdir,
    ];

    /// The name used in configs, JSON bodies and environment variables.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Login => "login",
            EventKind::LoginFailed => "login_failed",
            EventKind::Logout => "logout",
            EventKind::Upload => "upload",
            EventKind::Download => "download",
            EventKind::Delete => "delete",
            EventKind::Rename => "rename",
            EventKind::Mkdir => "mkdir",
            EventKind::Rmdir => "rmdir",
        }
    }

    /// The kind called `name` (see [`EventKind::name`]).
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which front end saw the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// FTP with a plaintext control connection.
    Ftp,
    /// FTP over TLS (explicit or implicit).
    Ftps,
    /// SFTP.
    Sftp,
}

impl Protocol {
    /// "ftp", "ftps" or "sftp".
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Ftp => "ftp",
            Protocol::Ftps => "ftps",
            Protocol::Sftp => "sftp",
        }
    }
}

/// Something a user did that an outside system may want to react to (an
/// upload that landed is the start of someone's pipeline). Every front end
/// emits the same events to the [`EventSink`]s in its options.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Event {
    /// Unique (128 random bits, hex): receivers deduplicate redeliveries by it.
    pub id: String,
    /// When it happened.
    pub time: std::time::SystemTime,
    pub kind: EventKind,
    pub protocol: Protocol,
    /// The account (for a failed login: the name that was tried).
    pub user: String,
    /// The client's address.
    pub peer: SocketAddr,
    /// The file or directory, in the user's view (relative to their root).
    pub path: Option<VPath>,
    /// The same path as the storage sees it (below the account's root): on
    /// local disk relative to the storage root, on an object store the key
    /// below the configured prefix.
    pub storage_path: Option<VPath>,
    /// Rename: the new name (user's view).
    pub target: Option<VPath>,
    /// Transfers: bytes on the data connection.
    pub bytes: Option<u64>,
    /// Transfers: how long the data connection ran.
    pub elapsed: Option<Duration>,
    /// Whether the operation finished (an upload: the file is in place under
    /// its final name; a transfer that was aborted or failed is `false`).
    pub completed: bool,
    /// Uploads, when a sink asked for it: SHA-256 of the stored bytes.
    pub sha256: Option<[u8; 32]>,
    /// Why a login failed or a transfer did not complete.
    pub reason: Option<String>,
}

impl Event {
    /// A completed event of `kind` by `user` from `peer`, now, with a fresh
    /// id; fill in the optional fields with the setters.
    pub fn new(kind: EventKind, protocol: Protocol, user: impl Into<String>, peer: SocketAddr) -> Event {
        Event {
            id: new_event_id(),
            time: std::time::SystemTime::now(),
            kind,
            protocol,
            user: user.into(),
            peer,
            path: None,
            storage_path: None,
            target: None,
            bytes: None,
            elapsed: None,
            completed: true,
            sha256: None,
            reason: None,
        }
    }

    /// Sets the path in the user's view and as the storage sees it.
    pub fn with_path(mut self, path: VPath, storage_path: VPath) -> Event {
        self.path = Some(path);
        self.storage_path = Some(storage_path);
        self
    }

    /// Sets the rename target.
    pub fn with_target(mut self, target: VPath) -> Event {
        self.target = Some(target);
        self
    }

    /// Sets the transfer's size and duration.
    pub fn with_transfer(mut self, bytes: u64, elapsed: Duration) -> Event {
        self.bytes = Some(bytes);
        self.elapsed = Some(elapsed);
        self
    }

    /// Marks the operation as not completed, and why.
    pub fn failed(mut self, reason: impl Into<String>) -> Event {
        self.completed = false;
        self.reason = Some(reason.into());
        self
    }

    /// Sets the SHA-256 of the uploaded bytes.
    pub fn with_sha256(mut self, sha256: [u8; 32]) -> Event {
        self.sha256 = Some(sha256);
        self
    }
}

/// 128 random bits as 32 hex digits.
fn new_event_id() -> String {
    let bits: u128 = rand::random();
    format!("{bits:032x}")
}

/// Why a sink could not take an event.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EventError(pub String);

/// Takes events from the front ends. [`EventSink::record`] is awaited
/// *before* the client hears the final reply, so a sink that writes the
/// event somewhere durable (an on-disk spool) makes delivery at-least-once:
/// if the process dies after the reply, the event is already safe. It must
/// therefore be quick (a local write, never a network call): slow work
/// belongs on the sink's own tasks.
#[async_trait::async_trait]
pub trait EventSink: Send + Sync + fmt::Debug {
    /// Keeps `event`. An error is logged; the client's reply is unchanged
    /// (the operation itself already happened).
    async fn record(&self, event: &Event) -> Result<(), EventError>;

    /// Whether an operation that would emit `kind` may start now. A sink
    /// that is full and configured to refuse rather than drop says no, and
    /// the front end refuses the operation with a transient error.
    fn admits(&self, kind: EventKind) -> bool {
        let _ = kind;
        true
    }

    /// Whether upload events should carry the SHA-256 of the stored bytes
    /// (the front end then hashes the upload as it streams).
    fn wants_sha256(&self) -> bool {
        false
    }
}
