//! Admission control: sessions per client IP and per account, and banning
//! addresses (and accounts) after repeated failed logins.
//!
//! Counters are RAII slots, so a session frees its place however it ends.
//! The ban table is bounded: past `MAX_TRACKED` addresses, entries whose
//! window and ban have both passed are pruned, and if that is not enough the
//! new address is simply not tracked (failing open on memory, never on
//! correctness of an existing ban).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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

#[cfg(test)]
mod tests {
    use super::*;

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
