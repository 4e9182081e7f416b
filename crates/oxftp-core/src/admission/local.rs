//! [`LocalState`]: bans and session counts kept in this process.

use std::net::IpAddr;
use std::time::Instant;

use async_trait::async_trait;

use super::{BanTable, Counter};
use crate::shared_state::{BanPolicy, Lease, SharedState, StateError, Subject, Usage};

/// Bans and session counts of this process alone: exact for one node, and
/// per node in a cluster without shared state. Never fails. Quota usage is
/// not kept here (the quota layer counts in memory itself): `quota_usage`
/// knows nothing, `quota_init` keeps nothing and `quota_add` is a no-op.
#[derive(Debug)]
pub struct LocalState {
    ips: BanTable<IpAddr>,
    users: BanTable<String>,
    ip_sessions: Counter<IpAddr>,
    user_sessions: Counter<String>,
}

impl Default for LocalState {
    fn default() -> Self {
        LocalState {
            ips: BanTable::new(),
            users: BanTable::new(),
            ip_sessions: Counter::default(),
            user_sessions: Counter::default(),
        }
    }
}

impl LocalState {
    /// Empty tables.
    pub fn new() -> LocalState {
        LocalState::default()
    }

    /// [`SharedState::is_banned`], without waiting.
    pub fn banned_now(&self, subject: &Subject) -> bool {
        let now = Instant::now();
        match subject {
            Subject::Ip(ip) => self.ips.banned(&ip.to_canonical(), now),
            Subject::User(user) => self.users.banned(user, now),
        }
    }

    /// [`SharedState::login_failed`], without waiting.
    pub fn fail_now(&self, subject: &Subject, policy: &BanPolicy) -> bool {
        let now = Instant::now();
        match subject {
            Subject::Ip(ip) => self.ips.fail(&ip.to_canonical(), policy, now),
            Subject::User(user) => self.users.fail(user, policy, now),
        }
    }

    /// [`SharedState::login_succeeded`], without waiting.
    pub fn succeed_now(&self, subject: &Subject) {
        match subject {
            Subject::Ip(ip) => self.ips.succeed(&ip.to_canonical()),
            Subject::User(user) => self.users.succeed(user),
        }
    }

    /// [`SharedState::acquire_session`], without waiting.
    pub fn acquire_now(&self, subject: &Subject, max: usize) -> Option<Lease> {
        match subject {
            Subject::Ip(ip) => self.ip_sessions.acquire(&ip.to_canonical(), max).map(Lease::new),
            Subject::User(user) => self.user_sessions.acquire(user, max).map(Lease::new),
        }
    }
}

#[async_trait]
impl SharedState for LocalState {
    async fn is_banned(&self, subject: &Subject) -> Result<bool, StateError> {
        Ok(self.banned_now(subject))
    }

    async fn login_failed(&self, subject: &Subject, policy: &BanPolicy) -> Result<bool, StateError> {
        Ok(self.fail_now(subject, policy))
    }

    async fn login_succeeded(&self, subject: &Subject) -> Result<(), StateError> {
        self.succeed_now(subject);
        Ok(())
    }

    async fn acquire_session(&self, subject: &Subject, max: usize) -> Result<Option<Lease>, StateError> {
        Ok(self.acquire_now(subject, max))
    }

    async fn quota_usage(&self, _user: &str) -> Result<Option<Usage>, StateError> {
        Ok(None)
    }

    async fn quota_init(&self, _user: &str, measured: Usage) -> Result<Usage, StateError> {
        Ok(measured)
    }

    async fn quota_add(&self, _user: &str, _bytes: i64, _files: i64) -> Result<(), StateError> {
        Ok(())
    }

    fn bans_active(&self) -> Option<usize> {
        let now = Instant::now();
        Some(self.ips.active(now) + self.users.active(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn bans_and_sessions_per_subject() {
        let state = LocalState::new();
        let policy = BanPolicy { max_failures: 2, window: Duration::from_secs(60), ..BanPolicy::default() };
        let ip = Subject::ip("::ffff:192.0.2.1".parse().unwrap());
        assert_eq!(ip, Subject::ip("192.0.2.1".parse().unwrap()));
        assert!(!state.login_failed(&ip, &policy).await.unwrap());
        assert!(state.login_failed(&ip, &policy).await.unwrap());
        assert!(state.is_banned(&ip).await.unwrap());
        assert!(!state.is_banned(&Subject::user("ann")).await.unwrap());
        let a = state.acquire_session(&Subject::user("ann"), 1).await.unwrap();
        assert!(a.is_some());
        assert!(state.acquire_session(&Subject::user("ann"), 1).await.unwrap().is_none());
        drop(a);
        assert!(state.acquire_session(&Subject::user("ann"), 1).await.unwrap().is_some());
    }
}
