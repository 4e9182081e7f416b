//! State that several oxftp nodes serving one store must share: failed-login
//! bans, live session counts per client address and per account, and quota
//! usage. One trait, [`SharedState`]; this process's own implementation is
//! [`LocalState`](crate::admission::LocalState) (one node, or each node on
//! its own), and a cluster's lives outside the engine (`oxftp-redis`).
//!
//! A cluster implementation can fail (its server is down); wrap it in
//! [`Degrading`](crate::admission::Degrading), which falls back to the local
//! state, so that an outage neither stops logins nor opens the door.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;

/// When to ban after failed logins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanPolicy {
    /// Failures within `window` that trigger a ban.
    pub max_failures: u32,
    pub window: Duration,
    /// How long a ban lasts.
    pub ban_time: Duration,
    /// Also ban the account name (from every address), not just the address.
    pub per_user: bool,
}

impl Default for BanPolicy {
    fn default() -> Self {
        BanPolicy {
            max_failures: 5,
            window: Duration::from_secs(300),
            ban_time: Duration::from_secs(900),
            per_user: false,
        }
    }
}

/// Who a ban or a session count is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A client address (always in canonical form: IPv4-mapped IPv6 as IPv4).
    Ip(IpAddr),
    /// An account name.
    User(String),
}

impl Subject {
    /// A client address, canonicalised.
    pub fn ip(ip: IpAddr) -> Subject {
        Subject::Ip(ip.to_canonical())
    }

    /// An account.
    pub fn user(name: &str) -> Subject {
        Subject::User(name.to_owned())
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Ip(ip) => write!(f, "ip:{ip}"),
            Subject::User(user) => write!(f, "user:{user}"),
        }
    }
}

/// An account's stored bytes and files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub files: u64,
}

/// The shared state could not be reached or answered nonsense.
#[derive(Debug, Clone, thiserror::Error)]
#[error("shared state unavailable: {0}")]
pub struct StateError(pub String);

/// A place in a session count; dropping it gives the place back (a cluster
/// implementation also lets it expire if this node dies without doing so).
pub struct Lease(#[allow(dead_code)] Box<dyn Send + Sync>);

impl Lease {
    /// A lease whose release is `guard`'s drop.
    pub fn new(guard: impl Send + Sync + 'static) -> Lease {
        Lease(Box::new(guard))
    }

    /// A lease that holds nothing (an unlimited count needs no place).
    pub fn unlimited() -> Lease {
        Lease(Box::new(()))
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lease")
    }
}

/// Bans, session counts and quota usage, as shared by the nodes that serve
/// one store. Every method is one short exchange with wherever the state
/// lives; callers put their own time bounds on them through the
/// implementation (a cluster client has its own timeouts).
#[async_trait]
pub trait SharedState: Send + Sync + fmt::Debug {
    /// Whether `subject` is banned now.
    async fn is_banned(&self, subject: &Subject) -> Result<bool, StateError>;

    /// Count one failed login of `subject` under `policy`; `true` when this
    /// failure got it banned.
    async fn login_failed(&self, subject: &Subject, policy: &BanPolicy) -> Result<bool, StateError>;

    /// A successful login: forget `subject`'s failures (not a ban in force).
    async fn login_succeeded(&self, subject: &Subject) -> Result<(), StateError>;

    /// A place among at most `max` (at least 1) live sessions of `subject`;
    /// `None` when all are taken.
    async fn acquire_session(&self, subject: &Subject, max: usize) -> Result<Option<Lease>, StateError>;

    /// `user`'s usage as the nodes know it; `None` when no node has measured it.
    async fn quota_usage(&self, user: &str) -> Result<Option<Usage>, StateError>;

    /// Store `measured` as `user`'s usage unless a node already did; what is stored.
    async fn quota_init(&self, user: &str, measured: Usage) -> Result<Usage, StateError>;

    /// Add to `user`'s stored usage (negative: take away).
    async fn quota_add(&self, user: &str, bytes: i64, files: i64) -> Result<(), StateError>;

    /// Addresses and accounts banned now, when this process can count them
    /// without waiting (the metrics' bans gauge reads it at scrape time);
    /// `None` when only a shared store knows.
    fn bans_active(&self) -> Option<usize> {
        None
    }
}
