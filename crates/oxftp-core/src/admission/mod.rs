//! Admission control: sessions per client IP and per account, connections
//! per client IP that have not logged in yet, and banning addresses (and
//! accounts) after repeated failed logins, kept in this process
//! ([`LocalState`]) or shared by several nodes (any other [`SharedState`],
//! wrapped in [`Degrading`]); the not-logged-in count is always this
//! process's own.
//!
//! [`Admission`] is the one door: every front end (the FTP listener, SFTP)
//! of a server passes its connections and logins through the same one, so
//! the session limits and bans count FTP and SFTP clients together, and,
//! over a shared state, the clients of every node. Nothing else consults
//! the state for bans and session counts.
//!
//! Counters are RAII slots, so a session frees its place however it ends.
//! The ban table is bounded: past `MAX_TRACKED` addresses, entries whose
//! window and ban have both passed are pruned, and if that is not enough the
//! new address is simply not tracked (failing open on memory, never on
//! correctness of an existing ban).

mod degrading;
mod local;

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

pub use crate::shared_state::{BanPolicy, Lease, SharedState, StateError, Subject, Usage};
pub use degrading::Degrading;
pub use local::LocalState;

use crate::account::IpRules;

/// Addresses or accounts the ban table remembers at most.
const MAX_TRACKED: usize = 100_000;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps inconsistent
    // (each update is one insert/remove), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts live sessions per key (client IP, account name).
#[derive(Debug)]
pub(crate) struct Counter<K: Eq + Hash + Clone> {
    live: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Eq + Hash + Clone> Default for Counter<K> {
    fn default() -> Self {
        Counter { live: Arc::new(Mutex::new(HashMap::new())) }
    }
}

/// A place held in a [`Counter`]; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Slot<K: Eq + Hash + Clone> {
    live: Arc<Mutex<HashMap<K, usize>>>,
    key: K,
}

impl<K: Eq + Hash + Clone> Counter<K> {
    /// Take a place for `key` unless `max` (0 = unlimited) are already taken.
    pub fn acquire(&self, key: &K, max: usize) -> Option<Slot<K>> {
        let mut live = lock(&self.live);
        let n = live.entry(key.clone()).or_insert(0);
        if max != 0 && *n >= max {
            if *n == 0 {
                live.remove(key);
            }
            return None;
        }
        *n += 1;
        Some(Slot { live: self.live.clone(), key: key.clone() })
    }
}

impl<K: Eq + Hash + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut live = lock(&self.live);
        if let Some(n) = live.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                live.remove(&self.key);
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    window_start: Instant,
    banned_until: Option<Instant>,
}

/// Failed-login bookkeeping for one kind of key.
#[derive(Debug)]
struct BanTable<K: Eq + Hash + Clone> {
    entries: Mutex<HashMap<K, Failures>>,
}

impl<K: Eq + Hash + Clone> BanTable<K> {
    fn new() -> Self {
        BanTable { entries: Mutex::new(HashMap::new()) }
    }

    fn banned(&self, key: &K, now: Instant) -> bool {
        lock(&self.entries).get(key).and_then(|f| f.banned_until).is_some_and(|until| until > now)
    }

    /// Record one failure; returns true if the key is now banned.
    fn fail(&self, key: &K, policy: &BanPolicy, now: Instant) -> bool {
        let mut entries = lock(&self.entries);
        if entries.len() >= MAX_TRACKED && !entries.contains_key(key) {
            entries.retain(|_, f| {
                f.banned_until.is_some_and(|u| u > now) || now.duration_since(f.window_start) < policy.window
            });
            if entries.len() >= MAX_TRACKED {
                return false;
            }
        }
        let f = entries.entry(key.clone()).or_insert(Failures { count: 0, window_start: now, banned_until: None });
        if now.duration_since(f.window_start) >= policy.window {
            f.count = 0;
            f.window_start = now;
        }
        f.count += 1;
        if f.count >= policy.max_failures {
            f.banned_until = Some(now + policy.ban_time);
            f.count = 0;
            f.window_start = now;
            return true;
        }
        false
    }

    /// Entries banned at `now`.
    fn active(&self, now: Instant) -> usize {
        lock(&self.entries).values().filter(|f| f.banned_until.is_some_and(|until| until > now)).count()
    }

    fn succeed(&self, key: &K) {
        let mut entries = lock(&self.entries);
        if entries.get(key).is_some_and(|f| f.banned_until.is_none()) {
            entries.remove(key);
        }
    }
}

/// What [`Admission`] enforces.
#[derive(Debug, Clone, Default)]
pub struct AdmissionLimits {
    /// Concurrent connections to this server, all front ends together (0 =
    /// unlimited). Counted in this process, also in a cluster.
    pub max_sessions: usize,
    /// Concurrent connections from one client address (0 = unlimited);
    /// across the nodes of a cluster when the state is shared.
    pub max_sessions_per_ip: usize,
    /// Which client addresses may connect at all.
    pub ip_rules: IpRules,
    /// Ban addresses (and optionally accounts) after failed logins; `None` = off.
    pub ban: Option<BanPolicy>,
    /// Concurrent connections from one client address that have not logged
    /// in yet, all front ends together (0 = unlimited): what one address can
    /// hold with connections that never authenticate (each lives at most its
    /// front end's login timeout).
    pub max_prelogin_per_ip: usize,
}

/// Why a connection was turned away at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server has its most sessions.
    TooManySessions,
    /// The server's IP rules do not let this address in.
    AddressNotAllowed,
    /// The address is banned after failed logins.
    Banned,
    /// This address has its most sessions.
    TooManyFromAddress,
    /// This address has its most connections not logged in yet.
    TooManyNotLoggedIn,
}

impl Refusal {
    /// Why, in words a client may be told.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::TooManySessions => "Too many connections, try again later.",
            Refusal::AddressNotAllowed => "Connections from your address are not allowed.",
            Refusal::Banned => "Too many failed logins from your address; try again later.",
            Refusal::TooManyFromAddress => "Too many connections from your address.",
            Refusal::TooManyNotLoggedIn => "Too many connections from your address that have not logged in.",
        }
    }
}

/// The one door every front end's connections and logins pass through: the
/// server-wide session count and the per-address count of connections not
/// logged in yet (this process's), the IP rules, and, kept in a
/// [`SharedState`] (this process's [`LocalState`], or a cluster's wrapped in
/// [`Degrading`]), the failed-login bans and the session places per client
/// address and per account. One per server, shared by its front ends (see
/// `Server::with_admission`), so FTP and SFTP clients count together; in a
/// cluster, together with every node's.
///
/// A ban that cannot be read counts as a ban and a session place that
/// cannot be taken as taken (a [`Degrading`] state answers from this node's
/// own state instead of failing).
#[derive(Debug)]
pub struct Admission {
    limits: AdmissionLimits,
    sessions: Arc<AtomicUsize>,
    state: Arc<dyn SharedState>,
    /// Connections per address not logged in yet. Local to this process
    /// even when the other counts are shared: it bounds what one process
    /// holds for connections that never log in, and costs no round trip.
    prelogin: Counter<IpAddr>,
}

/// A connection's place in the session counts (the server-wide one and its
/// address's), held while it lives, and its place among its address's
/// connections not logged in yet, held until [`ConnectionPass::logged_in`].
#[derive(Debug)]
pub struct ConnectionPass {
    _session: SessionCount,
    _ip: Lease,
    prelogin: Option<Slot<IpAddr>>,
}

impl ConnectionPass {
    /// The connection has logged in: its place among its address's
    /// connections not logged in yet is freed (for good: a later logout,
    /// REIN, does not take it again).
    pub fn logged_in(&mut self) {
        self.prelogin = None;
    }

    /// Whether this connection still counts as not logged in.
    pub fn before_login(&self) -> bool {
        self.prelogin.is_some()
    }
}

/// A logged-in session's place in its account's session count.
#[derive(Debug)]
pub struct AccountPass {
    _lease: Lease,
}

/// One place in the server-wide session count; given back on drop.
#[derive(Debug)]
struct SessionCount(Arc<AtomicUsize>);

impl Drop for SessionCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// A door with these limits and no one inside, keeping its bans and
    /// session places in this process.
    pub fn new(limits: AdmissionLimits) -> Admission {
        Admission::with_state(limits, Arc::new(LocalState::new()))
    }

    /// A door with these limits whose bans and per-address and per-account
    /// session places live in `state` (a cluster's: wrap it in
    /// [`Degrading`]).
    pub fn with_state(limits: AdmissionLimits, state: Arc<dyn SharedState>) -> Admission {
        Admission { limits, sessions: Arc::new(AtomicUsize::new(0)), state, prelogin: Counter::default() }
    }

    /// What this door enforces.
    pub fn limits(&self) -> &AdmissionLimits {
        &self.limits
    }

    /// Connections open now, all front ends of this process together.
    pub fn live_sessions(&self) -> usize {
        self.sessions.load(Ordering::Acquire)
    }

    /// A connection from `ip` arrives: its place in the counts (held until
    /// the pass is dropped; the not-logged-in one until it logs in), or why
    /// it is turned away.
    pub async fn admit(&self, ip: IpAddr) -> Result<ConnectionPass, Refusal> {
        let ip = ip.to_canonical();
        let live = self.sessions.fetch_add(1, Ordering::AcqRel) + 1;
        let session = SessionCount(Arc::clone(&self.sessions));
        if self.limits.max_sessions != 0 && live > self.limits.max_sessions {
            return Err(Refusal::TooManySessions);
        }
        if !self.limits.ip_rules.permits(ip) {
            return Err(Refusal::AddressNotAllowed);
        }
        // Before anything that may ask a cluster's state: a flood of
        // connections that never log in costs no round trip.
        let Some(prelogin) = self.prelogin.acquire(&ip, self.limits.max_prelogin_per_ip) else {
            return Err(Refusal::TooManyNotLoggedIn);
        };
        let subject = Subject::ip(ip);
        if self.limits.ban.is_some() && self.state.is_banned(&subject).await.unwrap_or(true) {
            return Err(Refusal::Banned);
        }
        let lease = match self.limits.max_sessions_per_ip {
            0 => Some(Lease::unlimited()),
            max => self.state.acquire_session(&subject, max).await.unwrap_or(None),
        };
        let Some(lease) = lease else {
            return Err(Refusal::TooManyFromAddress);
        };
        Ok(ConnectionPass { _session: session, _ip: lease, prelogin: Some(prelogin) })
    }

    /// Whether `user` is banned (with `ban.per_user`) after failed logins.
    pub async fn user_banned(&self, user: &str) -> bool {
        self.per_user_bans() && self.state.is_banned(&Subject::user(user)).await.unwrap_or(true)
    }

    /// A place among `user`'s logged-in sessions, unless `max` (0 =
    /// unlimited) are already taken.
    pub async fn account_pass(&self, user: &str, max: usize) -> Option<AccountPass> {
        let lease = match max {
            0 => Lease::unlimited(),
            max => self.state.acquire_session(&Subject::user(user), max).await.unwrap_or(None)?,
        };
        Some(AccountPass { _lease: lease })
    }

    /// Counts a failed login by `user` from `ip`; true if that got the
    /// address (or the account) banned.
    pub async fn login_failed(&self, ip: IpAddr, user: &str) -> bool {
        let Some(policy) = &self.limits.ban else { return false };
        // A failure that cannot be counted is counted by Degrading locally.
        let by_ip = self.state.login_failed(&Subject::ip(ip), policy).await.unwrap_or(false);
        let by_user = policy.per_user && self.state.login_failed(&Subject::user(user), policy).await.unwrap_or(false);
        by_ip || by_user
    }

    /// A login by `user` from `ip` succeeded: their failure counts start over.
    pub async fn login_succeeded(&self, ip: IpAddr, user: &str) {
        if self.limits.ban.is_none() {
            return;
        }
        let _ = self.state.login_succeeded(&Subject::ip(ip)).await;
        if self.per_user_bans() {
            let _ = self.state.login_succeeded(&Subject::user(user)).await;
        }
    }

    /// Addresses and accounts banned now, as far as this process can count
    /// them without waiting (for the bans gauge; a cluster's shared store is
    /// not asked at scrape time).
    pub fn bans_active(&self) -> usize {
        match self.limits.ban {
            Some(_) => self.state.bans_active().unwrap_or(0),
            None => 0,
        }
    }

    fn per_user_bans(&self) -> bool {
        self.limits.ban.as_ref().is_some_and(|ban| ban.per_user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::IpAddr;
    use std::time::Duration;

    fn limits() -> AdmissionLimits {
        AdmissionLimits {
            max_sessions: 3,
            max_sessions_per_ip: 2,
            ip_rules: IpRules { allow: Vec::new(), deny: vec!["192.0.2.9".parse().unwrap()] },
            ban: Some(BanPolicy { max_failures: 2, per_user: true, ..BanPolicy::default() }),
            max_prelogin_per_ip: 0,
        }
    }

    #[tokio::test]
    async fn the_door_counts_sessions_addresses_and_bans() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let door = Admission::new(limits());
        let a = door.admit(ip).await.unwrap();
        let _b = door.admit(ip).await.unwrap();
        assert_eq!(door.admit(ip).await.unwrap_err(), Refusal::TooManyFromAddress);
        let _c = door.admit(other).await.unwrap();
        assert_eq!(door.admit(other).await.unwrap_err(), Refusal::TooManySessions);
        // Refused connections give their place back.
        assert_eq!(door.live_sessions(), 3);
        drop(a);
        assert_eq!(door.admit("192.0.2.9".parse().unwrap()).await.unwrap_err(), Refusal::AddressNotAllowed);
        assert_eq!(door.bans_active(), 0);
        assert!(!door.login_failed(other, "x").await);
        assert!(door.login_failed(other, "x").await);
        assert_eq!(door.admit(other).await.unwrap_err(), Refusal::Banned);
        // The address and the account (per_user).
        assert_eq!(door.bans_active(), 2);
        assert!(door.user_banned("x").await);
        assert!(!door.user_banned("ann").await);
        let pass = door.account_pass("ann", 1).await.unwrap();
        assert!(door.account_pass("ann", 1).await.is_none());
        drop(pass);
        assert!(door.account_pass("ann", 1).await.is_some());
        assert!(door.account_pass("ann", 0).await.is_some());
        // A success forgets the failures counted so far (not a ban in force).
        let third: IpAddr = "192.0.2.3".parse().unwrap();
        assert!(!door.login_failed(third, "bob").await);
        door.login_succeeded(third, "bob").await;
        assert!(!door.login_failed(third, "bob").await);
    }

    #[tokio::test]
    async fn doors_over_one_state_share_bans_and_places_but_not_the_server_count() {
        // Two nodes' doors over one state (as two oxftpd over one Redis).
        let state: Arc<dyn SharedState> = Arc::new(LocalState::new());
        let one = Admission::with_state(limits(), Arc::clone(&state));
        let two = Admission::with_state(limits(), state);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let _a = one.admit(ip).await.unwrap();
        let _b = two.admit(ip).await.unwrap();
        assert_eq!(one.admit(ip).await.unwrap_err(), Refusal::TooManyFromAddress);
        assert_eq!((one.live_sessions(), two.live_sessions()), (1, 1));
        let _pass = one.account_pass("ann", 1).await.unwrap();
        assert!(two.account_pass("ann", 1).await.is_none());
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(!one.login_failed(other, "x").await);
        assert!(two.login_failed(other, "x").await);
        assert_eq!(one.admit(other).await.unwrap_err(), Refusal::Banned);
        assert!(one.user_banned("x").await);
    }

    /// A state whose server cannot be reached (not wrapped in Degrading).
    #[derive(Debug)]
    struct Unreachable;

    #[async_trait::async_trait]
    impl SharedState for Unreachable {
        async fn is_banned(&self, _: &Subject) -> Result<bool, StateError> {
            Err(StateError("connection refused".into()))
        }
        async fn login_failed(&self, _: &Subject, _: &BanPolicy) -> Result<bool, StateError> {
            Err(StateError("connection refused".into()))
        }
        async fn login_succeeded(&self, _: &Subject) -> Result<(), StateError> {
            Err(StateError("connection refused".into()))
        }
        async fn acquire_session(&self, _: &Subject, _: usize) -> Result<Option<Lease>, StateError> {
            Err(StateError("connection refused".into()))
        }
        async fn quota_usage(&self, _: &str) -> Result<Option<Usage>, StateError> {
            Err(StateError("connection refused".into()))
        }
        async fn quota_init(&self, _: &str, _: Usage) -> Result<Usage, StateError> {
            Err(StateError("connection refused".into()))
        }
        async fn quota_add(&self, _: &str, _: i64, _: i64) -> Result<(), StateError> {
            Err(StateError("connection refused".into()))
        }
    }

    #[tokio::test]
    async fn what_cannot_be_read_keeps_the_door_shut() {
        let door = Admission::with_state(limits(), Arc::new(Unreachable));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(door.admit(ip).await.unwrap_err(), Refusal::Banned);
        assert!(door.user_banned("ann").await);
        assert!(door.account_pass("ann", 1).await.is_none());
        assert!(!door.login_failed(ip, "ann").await);
        assert_eq!(door.live_sessions(), 0);
        // Without bans and limits it asks the state nothing.
        let open = Admission::with_state(AdmissionLimits::default(), Arc::new(Unreachable));
        assert!(open.admit(ip).await.is_ok());
        assert!(!open.user_banned("ann").await);
        assert!(open.account_pass("ann", 0).await.is_some());
    }

    #[tokio::test]
    async fn connections_not_logged_in_are_bounded_per_address_until_they_log_in() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let door = Admission::new(AdmissionLimits {
            max_sessions_per_ip: 3,
            max_prelogin_per_ip: 2,
            ..AdmissionLimits::default()
        });
        let mut a = door.admit(ip).await.unwrap();
        let b = door.admit(ip).await.unwrap();
        assert!(a.before_login() && b.before_login());
        assert_eq!(door.admit(ip).await.unwrap_err(), Refusal::TooManyNotLoggedIn);
        // The refused one gave its session places back.
        assert_eq!(door.live_sessions(), 2);
        // Another address has its own count; an IPv4-mapped address is the same one.
        let _other = door.admit("192.0.2.2".parse().unwrap()).await.unwrap();
        assert_eq!(door.admit("::ffff:192.0.2.1".parse().unwrap()).await.unwrap_err(), Refusal::TooManyNotLoggedIn);
        // A login frees the place, once: the session count still holds.
        a.logged_in();
        a.logged_in();
        assert!(!a.before_login());
        let mut c = door.admit(ip).await.unwrap();
        // (the not-logged-in count is asked first: it costs no round trip)
        assert_eq!(door.admit(ip).await.unwrap_err(), Refusal::TooManyNotLoggedIn);
        c.logged_in();
        assert_eq!(door.admit(ip).await.unwrap_err(), Refusal::TooManyFromAddress);
        // A close before login frees both places.
        drop(c);
        drop(b);
        let _d = door.admit(ip).await.unwrap();
        let _e = door.admit(ip).await.unwrap();
        drop(a);
        assert_eq!(door.admit(ip).await.unwrap_err(), Refusal::TooManyNotLoggedIn);
    }

    #[test]
    fn counter_slots_free_on_drop() {
        let c: Counter<IpAddr> = Counter::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = c.acquire(&ip, 2).unwrap();
        let _b = c.acquire(&ip, 2).unwrap();
        assert!(c.acquire(&ip, 2).is_none());
        drop(a);
        assert!(c.acquire(&ip, 2).is_some());
        assert!(c.acquire(&"127.0.0.2".parse().unwrap(), 0).is_some());
    }

    #[test]
    fn bans_after_failures_in_window_and_expire() {
        let policy = BanPolicy {
            max_failures: 3,
            window: Duration::from_secs(60),
            ban_time: Duration::from_secs(10),
            per_user: true,
        };
        let t = BanTable::<u8>::new();
        let now = Instant::now();
        assert!(!t.fail(&1, &policy, now));
        assert!(!t.fail(&1, &policy, now));
        assert!(t.fail(&1, &policy, now));
        assert!(t.banned(&1, now + Duration::from_secs(5)));
        assert!(!t.banned(&1, now + Duration::from_secs(11)));
        // Failures spread wider than the window never add up to a ban.
        assert!(!t.fail(&2, &policy, now));
        assert!(!t.fail(&2, &policy, now + Duration::from_secs(61)));
        assert!(!t.fail(&2, &policy, now + Duration::from_secs(62)));
    }
}
