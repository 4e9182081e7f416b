//! [`SftpOptions`]: how an [`SftpServer`](crate::SftpServer) behaves.

use std::sync::Arc;
use std::time::Duration;

use oxftp_core::events::{EventSink, TransferListener};
use oxftp_core::metrics::Metrics;
use russh::keys::PrivateKey;

/// Everything about the SFTP front end's behaviour that a daemon or
/// embedder sets. Session limits, IP rules and bans are not here: they are
/// the [`Admission`](oxftp_core::admission::Admission) the server shares
/// with the FTP side.
#[derive(Clone)]
pub struct SftpOptions {
    /// The host keys (see [`host_keys`](crate::host_keys)); at least one.
    pub host_keys: Vec<PrivateKey>,
    /// A connection with nothing received for this long is closed.
    pub idle_timeout: Duration,
    /// A connection must have authenticated within this time of connecting
    /// (key exchange included), or it is closed.
    pub login_timeout: Duration,
    /// A refused authentication is answered after this long, whatever the
    /// reason (slows password guessing; the same for every failure).
    pub failed_login_delay: Duration,
    /// Authentication attempts on one connection before it is closed
    /// (OpenSSH's `MaxAuthTries`; key probes count too).
    pub max_auth_attempts: usize,
    /// Session channels one connection may have open at once (OpenSSH's
    /// `MaxSessions`).
    pub max_channels: usize,
    /// Open file and directory handles per SFTP session.
    pub max_handles: usize,
    /// On shutdown, how long running sessions may go on before they are cut.
    pub shutdown_timeout: Duration,
    /// Let `setstat` set the setuid, setgid and sticky bits (off: they are
    /// dropped, as SITE CHMOD does on the FTP side).
    pub chmod_special_bits: bool,
    /// Told about every finished transfer (the xferlog, upload announcements).
    pub transfer_listeners: Vec<Arc<dyn TransferListener>>,
    /// Take logins, uploads, downloads, deletes, renames, mkdir and rmdir.
    pub event_sinks: Vec<Arc<dyn EventSink>>,
    /// Where sessions, logins and transfers are counted.
    pub metrics: Option<Metrics>,
}

impl SftpOptions {
    /// Options with these host keys and the defaults: 300 s idle, 60 s to
    /// log in, 1 s after a failed login, 6 attempts, 10 channels, 256
    /// handles, 30 s to finish on shutdown.
    pub fn new(host_keys: Vec<PrivateKey>) -> SftpOptions {
        SftpOptions {
            host_keys,
            idle_timeout: Duration::from_secs(300),
            login_timeout: Duration::from_secs(60),
            failed_login_delay: Duration::from_secs(1),
            max_auth_attempts: 6,
            max_channels: 10,
            max_handles: 256,
            shutdown_timeout: Duration::from_secs(30),
            chmod_special_bits: false,
            transfer_listeners: Vec::new(),
            event_sinks: Vec::new(),
            metrics: None,
        }
    }
}

impl std::fmt::Debug for SftpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Host keys are secrets: only their count is shown.
        f.debug_struct("SftpOptions")
            .field("host_keys", &self.host_keys.len())
            .field("idle_timeout", &self.idle_timeout)
            .field("login_timeout", &self.login_timeout)
            .field("failed_login_delay", &self.failed_login_delay)
            .field("max_auth_attempts", &self.max_auth_attempts)
            .field("max_channels", &self.max_channels)
            .field("max_handles", &self.max_handles)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}
