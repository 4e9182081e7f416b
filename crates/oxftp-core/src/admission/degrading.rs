//! [`Degrading`]: a shared state that rides out its own outages on the
//! node's local state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use slog::Logger;

use super::LocalState;
use crate::shared_state::{BanPolicy, Lease, SharedState, StateError, Subject, Usage};

/// Wraps a cluster's [`SharedState`] (Redis, say) so that when it cannot be
/// reached the node goes on with its own [`LocalState`]:
///
/// - failed logins are always counted locally too, and an address or
///   account banned locally stays banned, so bans earned during an outage
///   hold on this node;
/// - a ban check that cannot reach the shared state answers what the local
///   state says, or, with `fail_closed`, "banned" (every login refused until
///   the shared state is back: nobody a ban elsewhere should stop gets in);
/// - a session count that cannot be reached is taken locally (per node);
/// - quota calls pass their errors on: the quota layer keeps counting in
///   memory and sends the difference once the shared state answers again.
///
/// Each failed call adds to [`Degrading::failures`] (the warning metric); the
/// first failure after a success is logged as a warning, the first success
/// after failures as information, so an outage costs two log lines.
#[derive(Debug)]
pub struct Degrading {
    shared: Arc<dyn SharedState>,
    local: LocalState,
    fail_closed: bool,
    failures: AtomicU64,
    down: AtomicBool,
    logger: Logger,
}

impl Degrading {
    /// `shared`, falling back to this node's own state; see the type's doc
    /// for `fail_closed`.
    pub fn new(shared: Arc<dyn SharedState>, fail_closed: bool, logger: Logger) -> Degrading {
        Degrading {
            shared,
            local: LocalState::new(),
            fail_closed,
            failures: AtomicU64::new(0),
            down: AtomicBool::new(false),
            logger,
        }
    }

    /// Calls to the shared state that failed so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Whether the last call to the shared state failed.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Note how a call went; pass its result on.
    fn noted<T>(&self, what: &'static str, result: Result<T, StateError>) -> Result<T, StateError> {
        match &result {
            Ok(_) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    slog::info!(self.logger, "shared state reachable again");
                }
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                if !self.down.swap(true, Ordering::Relaxed) {
                    slog::warn!(self.logger, "shared state unavailable: going on with this node's own state";
                        "call" => what, "error" => %e, "fail_closed" => self.fail_closed);
                }
            }
        }
        result
    }
}

#[async_trait]
impl SharedState for Degrading {
    async fn is_banned(&self, subject: &Subject) -> Result<bool, StateError> {
        let local = self.local.banned_now(subject);
        match self.noted("is_banned", self.shared.is_banned(subject).await) {
            Ok(shared) => Ok(shared || local),
            Err(_) => Ok(local || self.fail_closed),
        }
    }

    async fn login_failed(&self, subject: &Subject, policy: &BanPolicy) -> Result<bool, StateError> {
        let local = self.local.fail_now(subject, policy);
        match self.noted("login_failed", self.shared.login_failed(subject, policy).await) {
            Ok(shared) => Ok(shared || local),
            Err(_) => Ok(local),
        }
    }

    async fn login_succeeded(&self, subject: &Subject) -> Result<(), StateError> {
        self.local.succeed_now(subject);
        let _ = self.noted("login_succeeded", self.shared.login_succeeded(subject).await);
        Ok(())
    }

    async fn acquire_session(&self, subject: &Subject, max: usize) -> Result<Option<Lease>, StateError> {
        match self.noted("acquire_session", self.shared.acquire_session(subject, max).await) {
            Ok(lease) => Ok(lease),
            Err(_) => Ok(self.local.acquire_now(subject, max)),
        }
    }

    async fn quota_usage(&self, user: &str) -> Result<Option<Usage>, StateError> {
        self.noted("quota_usage", self.shared.quota_usage(user).await)
    }

    async fn quota_init(&self, user: &str, measured: Usage) -> Result<Usage, StateError> {
        self.noted("quota_init", self.shared.quota_init(user, measured).await)
    }

    async fn quota_add(&self, user: &str, bytes: i64, files: i64) -> Result<(), StateError> {
        self.noted("quota_add", self.shared.quota_add(user, bytes, files).await)
    }

    /// The bans this node knows of (earned here, or read while Redis was
    /// down); the shared store's own count is not read at scrape time.
    fn bans_active(&self) -> Option<usize> {
        self.shared.bans_active().or_else(|| self.local.bans_active())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// A real local state behind a switch that makes every call fail, as a
    /// cluster's state does when its server is down.
    #[derive(Debug, Default)]
    struct Switchable {
        inner: LocalState,
        off: AtomicBool,
    }

    impl Switchable {
        fn check(&self) -> Result<(), StateError> {
            if self.off.load(Ordering::Relaxed) { Err(StateError("connection refused".into())) } else { Ok(()) }
        }
    }

    #[async_trait]
    impl SharedState for Switchable {
        async fn is_banned(&self, s: &Subject) -> Result<bool, StateError> {
            self.check()?;
            self.inner.is_banned(s).await
        }
        async fn login_failed(&self, s: &Subject, p: &BanPolicy) -> Result<bool, StateError> {
            self.check()?;
            self.inner.login_failed(s, p).await
        }
        async fn login_succeeded(&self, s: &Subject) -> Result<(), StateError> {
            self.check()?;
            self.inner.login_succeeded(s).await
        }
        async fn acquire_session(&self, s: &Subject, max: usize) -> Result<Option<Lease>, StateError> {
            self.check()?;
            self.inner.acquire_session(s, max).await
        }
        async fn quota_usage(&self, u: &str) -> Result<Option<Usage>, StateError> {
            self.check()?;
            self.inner.quota_usage(u).await
        }
        async fn quota_init(&self, u: &str, m: Usage) -> Result<Usage, StateError> {
            self.check()?;
            self.inner.quota_init(u, m).await
        }
        async fn quota_add(&self, u: &str, b: i64, f: i64) -> Result<(), StateError> {
            self.check()?;
            self.inner.quota_add(u, b, f).await
        }
    }

    fn discard() -> Logger {
        Logger::root(slog::Discard, slog::o!())
    }

    #[tokio::test]
    async fn an_outage_falls_back_to_local_state_and_counts_failures() {
        let shared = Arc::new(Switchable::default());
        let state = Degrading::new(shared.clone(), false, discard());
        let policy = BanPolicy { max_failures: 2, ..BanPolicy::default() };
        let ip = Subject::ip("192.0.2.1".parse().unwrap());
        // A ban earned while the shared state answers holds there.
        state.login_failed(&ip, &policy).await.unwrap();
        assert!(state.login_failed(&ip, &policy).await.unwrap());
        assert!(shared.inner.banned_now(&ip));
        shared.off.store(true, Ordering::Relaxed);
        // Down: the local copy of the ban still refuses, others get in.
        assert!(state.is_banned(&ip).await.unwrap());
        let other = Subject::ip("192.0.2.2".parse().unwrap());
        assert!(!state.is_banned(&other).await.unwrap());
        // Bans earned during the outage hold on this node.
        state.login_failed(&other, &policy).await.unwrap();
        assert!(state.login_failed(&other, &policy).await.unwrap());
        assert!(state.is_banned(&other).await.unwrap());
        // Session counts go on locally.
        let user = Subject::user("ann");
        let lease = state.acquire_session(&user, 1).await.unwrap();
        assert!(lease.is_some());
        assert!(state.acquire_session(&user, 1).await.unwrap().is_none());
        assert!(state.is_down());
        assert!(state.failures() >= 5, "{}", state.failures());
        assert!(state.quota_usage("ann").await.is_err());
        shared.off.store(false, Ordering::Relaxed);
        assert!(!state.is_banned(&Subject::ip("192.0.2.3".parse().unwrap())).await.unwrap());
        assert!(!state.is_down());
    }

    #[tokio::test]
    async fn fail_closed_treats_an_unreadable_ban_as_a_ban() {
        let shared = Arc::new(Switchable::default());
        shared.off.store(true, Ordering::Relaxed);
        let state = Degrading::new(shared, true, discard());
        assert!(state.is_banned(&Subject::ip("192.0.2.9".parse().unwrap())).await.unwrap());
    }
}
