//! The `Authenticator` trait and the identity a successful login produces,
//! and authenticators that compose others: [`AnonymousLogin`] (anonymous in
//! front of the accounts), [`Swappable`] (accounts replaced while running),
//! [`NoAccounts`].

mod anonymous;
mod swap;

pub use anonymous::{ANONYMOUS_USER, AnonymousLogin};
pub use swap::{NoAccounts, Swappable};

use std::fmt;
use std::net::SocketAddr;

use async_trait::async_trait;
use oxftp_proto::path::VPath;

pub use crate::keys::PublicKey;

/// The three classic FTP access models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessClass {
    /// `anonymous` / `ftp`, any password: read-only public root, optional
    /// upload-only incoming directory.
    Anonymous,
    /// A full account: reaches the whole served tree (or its configured
    /// [`root`](Identity::root)), as its permissions say, and starts in its
    /// home (the seed: "access privileges to any part of the file system").
    User,
    /// A password account confined to its own home (chroot-like): its root
    /// is its home, whatever [`root`](Identity::root) says.
    Guest,
}

impl fmt::Display for AccessClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccessClass::Anonymous => "anonymous",
            AccessClass::User => "user",
            AccessClass::Guest => "guest",
        })
    }
}

/// What a client offered at login.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    /// The control connection's peer.
    pub peer: SocketAddr,
    /// Subject CN of the TLS client certificate the server verified on this
    /// control connection, if any (for accounts bound to a certificate).
    pub client_cert_cn: Option<String>,
}

impl Credentials {
    /// Credentials from a password login with no client certificate.
    pub fn new(user: impl Into<String>, password: impl Into<String>, peer: SocketAddr) -> Credentials {
        Credentials { user: user.into(), password: password.into(), peer, client_cert_cn: None }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password.
        f.debug_struct("Credentials").field("user", &self.user).field("peer", &self.peer).finish_non_exhaustive()
    }
}

/// Who logged in and on what terms. Made with [`Identity::new`], then its
/// fields set (non-exhaustive: new fields are not a breaking change).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Identity {
    /// The account name (for anonymous: "anonymous").
    pub user: String,
    pub class: AccessClass,
    /// Where the session starts, as a path of the served tree. For a guest
    /// and for anonymous it is also everything the session can reach.
    pub home: VPath,
    /// What a [`User`](AccessClass::User) session reaches: the directory of
    /// the served tree it sees as `/` (default `/`, all of it). Ignored for
    /// guests and anonymous, whose root is their home; see
    /// [`session_root`](Identity::session_root).
    pub root: VPath,
    /// No writes of any kind.
    pub read_only: bool,
    /// For anonymous: the upload-only directory (relative to `home`), if any.
    pub incoming: Option<VPath>,
    /// This account must use TLS on the control and data connections, whatever the
    /// server-wide policy says.
    pub require_tls: bool,
    /// What the account may do, per directory (default: everything; `read_only` still applies).
    pub permissions: crate::account::Permissions,
    /// Quotas, bandwidth and session limits.
    pub limits: crate::account::Limits,
    /// Where the account may log in from (empty: anywhere).
    pub allowed_ips: crate::account::IpRules,
    /// Which TLS sessions this account's data connections must resume,
    /// when not what the listener or server says (e.g. `Off` for one
    /// partner's client that never resumes; see [`crate::tls::SessionReuse`]).
    pub tls_session_reuse: Option<crate::tls::SessionReuse>,
}

impl Identity {
    pub fn new(user: impl Into<String>, class: AccessClass) -> Self {
        Identity {
            user: user.into(),
            class,
            home: VPath::root(),
            root: VPath::root(),
            read_only: false,
            incoming: None,
            require_tls: false,
            permissions: Default::default(),
            limits: Default::default(),
            allowed_ips: Default::default(),
            tls_session_reuse: None,
        }
    }
}

impl Identity {
    /// The directory of the served tree this session sees as `/`: `root`
    /// for a user, the home for a guest or anonymous (so a guest is confined
    /// to its home however `root` was set: this fails closed).
    pub fn session_root(&self) -> &VPath {
        match self.class {
            AccessClass::User => &self.root,
            AccessClass::Guest | AccessClass::Anonymous => &self.home,
        }
    }

    /// Where the session starts, in its own view: the home below the
    /// session root, or `/` when the home is not below it.
    pub fn start_dir(&self) -> VPath {
        self.home.strip_prefix(self.session_root()).unwrap_or_else(VPath::root)
    }
}

/// Why a login failed. The engine answers every variant with the same 530 after the
/// same delay; the variant only goes to the log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("unknown user")]
    UnknownUser,
    #[error("wrong password")]
    BadPassword,
    #[error("account disabled")]
    Disabled,
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// The authentication backend failed (file unreadable, PAM error...).
    #[error("authentication backend failed: {0}")]
    Backend(String),
}

/// Checks credentials and says who the user is.
#[async_trait]
pub trait Authenticator: Send + Sync + fmt::Debug {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthError>;

    /// The identity of `user` without a password check, for a user whose TLS
    /// client certificate (verified against the server's trust store, subject
    /// CN equal to the user name) already proves who they are (RFC 2228 232).
    /// Backends that cannot or will not do this keep the default refusal.
    async fn certificate_login(&self, user: &str, peer: SocketAddr) -> Result<Identity, AuthError> {
        let _ = (user, peer);
        Err(AuthError::NotAllowed("certificate logins are not supported by this authenticator".into()))
    }

    /// The identity of `user` for an SSH `publickey` login (RFC 4252 §7)
    /// with `key`, which the SSH front end has already seen the client
    /// prove it holds (a verified signature). The backend only says whether
    /// `key` is one of the account's authorized keys; it must refuse with
    /// the same errors as a password login would (unknown user, disabled
    /// account, ...). Backends without keys keep the default refusal.
    async fn public_key_login(&self, user: &str, key: &PublicKey, peer: SocketAddr) -> Result<Identity, AuthError> {
        let _ = (user, key, peer);
        Err(AuthError::NotAllowed("public-key logins are not supported by this authenticator".into()))
    }
}

/// Runs slow, blocking credential checks (password hashes, PAM) on the
/// runtime's blocking pool, at most a fixed number at once: a burst of logins
/// queues here instead of taking every blocking thread and core. Clones share
/// the same limit.
#[derive(Debug, Clone)]
pub struct BlockingChecks {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

impl BlockingChecks {
    /// At most `limit` checks at once (at least one).
    pub fn new(limit: usize) -> Self {
        BlockingChecks { permits: std::sync::Arc::new(tokio::sync::Semaphore::new(limit.max(1))) }
    }

    /// One check per core, between 1 and 8: hash checks are CPU-bound, and
    /// each may hold tens of MiB (argon2) while it runs.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8))
    }

    /// Wait for a slot, then run `check` on the blocking pool.
    pub async fn run<T, F>(&self, check: F) -> Result<T, AuthError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| AuthError::Backend("credential checks are shut down".into()))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            check()
        })
        .await
        .map_err(|e| AuthError::Backend(format!("credential check did not finish: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocking_checks_run_at_most_the_limit_at_once() {
        let checks = BlockingChecks::new(2);
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (checks, running, peak) = (checks.clone(), running.clone(), peak.clone());
                tokio::spawn(async move {
                    checks
                        .run(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            running.fetch_sub(1, Ordering::SeqCst);
                            i * 10
                        })
                        .await
                })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap().unwrap());
        }
        assert_eq!(results, (0..8).map(|i| i * 10).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }
}
