//! Admission control: sessions per client IP and per account, connections
//! per client IP that have not logged in yet, and banning addresses (and
//! accounts) after repeated failed logins.
//!
//! [`Admission`] is the one door: every front end (the FTP listener, SFTP)
//! of a server passes its connections and logins through the same one, so
//! the session limits and bans count FTP and SFTP clients together.
//!
//! Counters are RAII slots, so a session frees its place however it ends.
//! The ban table is bounded: past `MAX_TRACKED` addresses, entries whose
//! window and ban have both passed are pruned, and if that is not enough the
//! new address is simply not tracked (failing open on memory, never on
//! correctness of an existing ban).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::account::IpRules;

/// Addresses or accounts the ban table remembers at most.
const MAX_TRACKED: usize = 100_000;

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

/// The failed-login ban list for addresses and accounts.
#[derive(Debug)]
pub(crate) struct Bans {
    policy: Option<BanPolicy>,
    ips: BanTable<IpAddr>,
    users: BanTable<String>,
}

impl Bans {
    pub fn new(policy: Option<BanPolicy>) -> Bans {
        Bans { policy, ips: BanTable::new(), users: BanTable::new() }
    }

    pub fn ip_banned(&self, ip: IpAddr) -> bool {
        self.policy.is_some() && self.ips.banned(&ip.to_canonical(), Instant::now())
    }

    pub fn user_banned(&self, user: &str) -> bool {
        self.policy.as_ref().is_some_and(|p| p.per_user) && self.users.banned(&user.to_string(), Instant::now())
    }

    /// Record a failed login; returns true if the address (or account) got banned by it.
    pub fn failed(&self, ip: IpAddr, user: &str) -> bool {
        let Some(policy) = &self.policy else { return false };
        let now = Instant::now();
        let ip_banned = self.ips.fail(&ip.to_canonical(), policy, now);
        let user_banned = policy.per_user && self.users.fail(&user.to_string(), policy, now);
        ip_banned || user_banned
    }

    /// Addresses and accounts banned now.
    pub fn active(&self) -> usize {
        if self.policy.is_none() {
            return 0;
        }
        let now = Instant::now();
        self.ips.active(now) + self.users.active(now)
    }

    pub fn succeeded(&self, ip: IpAddr, user: &str) {
        if self.policy.is_some() {
            self.ips.succeed(&ip.to_canonical());
            self.users.succeed(&user.to_string());
        }
    }
}

/// What [`Admission`] enforces.
#[derive(Debug, Clone, Default)]
pub struct AdmissionLimits {
    /// Concurrent connections, all front ends together (0 = unlimited).
    pub max_sessions: usize,
    /// Concurrent connections from one client address (0 = unlimited).
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

/// The door every front end's connections and logins pass through: the
/// server-wide and per-address session limits, the per-address limit of
/// connections not logged in yet, the per-account session limit, the IP
/// rules and the failed-login bans. One per server, shared
/// by its front ends (see `Server::with_admission`).
#[derive(Debug)]
pub struct Admission {
    limits: AdmissionLimits,
    sessions: Arc<AtomicUsize>,
    per_ip: Counter<IpAddr>,
    per_user: Counter<String>,
    /// Connections per address not logged in yet. Local to this process
    /// even when the other counts are shared: it bounds what one process
    /// holds for connections that never log in.
    prelogin: Counter<IpAddr>,
    bans: Bans,
}

/// A connection's place in the session counts, held while it lives, and
/// its place among its address's connections not logged in yet, held until
/// [`ConnectionPass::logged_in`].
#[derive(Debug)]
pub struct ConnectionPass {
    _session: SessionCount,
    _ip: Slot<IpAddr>,
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
    _slot: Slot<String>,
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
    /// A door with these limits and no one inside.
    pub fn new(limits: AdmissionLimits) -> Admission {
        Admission {
            bans: Bans::new(limits.ban.clone()),
            limits,
            sessions: Arc::new(AtomicUsize::new(0)),
            per_ip: Counter::default(),
            per_user: Counter::default(),
            prelogin: Counter::default(),
        }
    }

    /// What this door enforces.
    pub fn limits(&self) -> &AdmissionLimits {
        &self.limits
    }

    /// Connections open now, all front ends together.
    pub fn live_sessions(&self) -> usize {
        self.sessions.load(Ordering::Acquire)
    }

    /// A connection from `ip` arrives: its place in the counts (held until
    /// the pass is dropped; the not-logged-in one until it logs in), or why
    /// it is turned away.
    pub fn admit(&self, ip: IpAddr) -> Result<ConnectionPass, Refusal> {
        let ip = ip.to_canonical();
        let live = self.sessions.fetch_add(1, Ordering::AcqRel) + 1;
        let session = SessionCount(Arc::clone(&self.sessions));
        if self.limits.max_sessions != 0 && live > self.limits.max_sessions {
            return Err(Refusal::TooManySessions);
        }
        if !self.limits.ip_rules.permits(ip) {
            return Err(Refusal::AddressNotAllowed);
        }
        if self.bans.ip_banned(ip) {
            return Err(Refusal::Banned);
        }
        let Some(slot) = self.per_ip.acquire(&ip, self.limits.max_sessions_per_ip) else {
            return Err(Refusal::TooManyFromAddress);
        };
        let Some(prelogin) = self.prelogin.acquire(&ip, self.limits.max_prelogin_per_ip) else {
            return Err(Refusal::TooManyNotLoggedIn);
        };
        Ok(ConnectionPass { _session: session, _ip: slot, prelogin: Some(prelogin) })
    }

    /// Whether `user` is banned (with `ban.per_user`) after failed logins.
    pub fn user_banned(&self, user: &str) -> bool {
        self.bans.user_banned(user)
    }

    /// A place among `user`'s logged-in sessions, unless `max` (0 =
    /// unlimited) are already taken.
    pub fn account_pass(&self, user: &str, max: usize) -> Option<AccountPass> {
        self.per_user.acquire(&user.to_string(), max).map(|slot| AccountPass { _slot: slot })
    }

    /// Counts a failed login by `user` from `ip`; true if that got the
    /// address (or the account) banned.
    pub fn login_failed(&self, ip: IpAddr, user: &str) -> bool {
        self.bans.failed(ip, user)
    }

    /// A login by `user` from `ip` succeeded: their failure counts start over.
    pub fn login_succeeded(&self, ip: IpAddr, user: &str) {
        self.bans.succeeded(ip, user)
    }

    /// Addresses and accounts banned now (for the bans gauge).
    pub fn bans_active(&self) -> usize {
        self.bans.active()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_door_counts_sessions_addresses_and_bans() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let door = Admission::new(AdmissionLimits {
            max_sessions: 3,
            max_sessions_per_ip: 2,
            ip_rules: IpRules { allow: Vec::new(), deny: vec!["192.0.2.9".parse().unwrap()] },
            ban: Some(BanPolicy { max_failures: 2, ..BanPolicy::default() }),
            max_prelogin_per_ip: 0,
        });
        let a = door.admit(ip).unwrap();
        let _b = door.admit(ip).unwrap();
        assert_eq!(door.admit(ip).unwrap_err(), Refusal::TooManyFromAddress);
        let _c = door.admit(other).unwrap();
        assert_eq!(door.admit(other).unwrap_err(), Refusal::TooManySessions);
        // Refused connections give their place back.
        assert_eq!(door.live_sessions(), 3);
        drop(a);
        assert_eq!(door.admit("192.0.2.9".parse().unwrap()).unwrap_err(), Refusal::AddressNotAllowed);
        assert!(!door.login_failed(other, "x"));
        assert!(door.login_failed(other, "x"));
        assert_eq!(door.admit(other).unwrap_err(), Refusal::Banned);
        let pass = door.account_pass("ann", 1).unwrap();
        assert!(door.account_pass("ann", 1).is_none());
        drop(pass);
        assert!(door.account_pass("ann", 1).is_some());
    }

    #[test]
    fn connections_not_logged_in_are_bounded_per_address_until_they_log_in() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let door = Admission::new(AdmissionLimits {
            max_sessions_per_ip: 3,
            max_prelogin_per_ip: 2,
            ..AdmissionLimits::default()
        });
        let mut a = door.admit(ip).unwrap();
        let b = door.admit(ip).unwrap();
        assert!(a.before_login() && b.before_login());
        assert_eq!(door.admit(ip).unwrap_err(), Refusal::TooManyNotLoggedIn);
        // The refused one gave its session places back.
        assert_eq!(door.live_sessions(), 2);
        // Another address has its own count; an IPv4-mapped address is the same one.
        let _other = door.admit("192.0.2.2".parse().unwrap()).unwrap();
        assert_eq!(door.admit("::ffff:192.0.2.1".parse().unwrap()).unwrap_err(), Refusal::TooManyNotLoggedIn);
        // A login frees the place, once: the session count still holds.
        a.logged_in();
        a.logged_in();
        assert!(!a.before_login());
        let c = door.admit(ip).unwrap();
        assert_eq!(door.admit(ip).unwrap_err(), Refusal::TooManyFromAddress);
        // A close before login frees both places.
        drop(c);
        drop(b);
        let _d = door.admit(ip).unwrap();
        let _e = door.admit(ip).unwrap();
        drop(a);
        assert_eq!(door.admit(ip).unwrap_err(), Refusal::TooManyNotLoggedIn);
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
        let bans = Bans::new(None);
        assert!(!bans.failed("127.0.0.1".parse().unwrap(), "x"));
    }
}
