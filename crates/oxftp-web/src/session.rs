//! Web sessions: random ids, CSRF tokens, idle and absolute timeouts.
//!
//! The browser only ever holds the session id (in an HttpOnly cookie); the FTP
//! credentials stay in the session here. Expiry is checked on every lookup,
//! and a periodic sweep closes sessions nobody comes back for, so their FTP
//! connections do not linger.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::TryRngCore;
use rand::rngs::OsRng;
use subtle::ConstantTimeEq;

use crate::pool::Pool;

/// Name of the session cookie.
pub const COOKIE: &str = "oxftp_web";

/// 32 bytes from the OS RNG, hex-encoded; `None` if the OS has no randomness
/// to give (then no session is created rather than a guessable one).
pub(crate) fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    OsRng.try_fill_bytes(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// One logged-in browser.
#[derive(Debug)]
pub(crate) struct Session {
    /// Token the browser must echo on state-changing requests.
    pub csrf: String,
    /// The session's FTP connections (and credentials).
    pub pool: Arc<Pool>,
    created: Instant,
    last_seen: Mutex<Instant>,
}

impl Session {
    /// Whether `token` is this session's CSRF token (constant-time compare).
    pub(crate) fn csrf_ok(&self, token: &str) -> bool {
        !token.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(token.as_bytes()))
    }
}

/// All sessions of one gateway.
#[derive(Debug)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
    idle: Duration,
    absolute: Duration,
    max: usize,
}

impl Sessions {
    /// An empty store with the given timeouts and capacity.
    pub(crate) fn new(idle: Duration, absolute: Duration, max: usize) -> Self {
        Sessions { map: Mutex::new(HashMap::new()), idle, absolute, max: max.max(1) }
    }

    /// Store a new session for `pool`; returns (id, session), or `None` when
    /// the store is full or no randomness is available.
    pub(crate) fn create(&self, pool: Arc<Pool>) -> Option<(String, Arc<Session>)> {
        self.sweep();
        let id = random_token()?;
        let csrf = random_token()?;
        let now = Instant::now();
        let session = Arc::new(Session { csrf, pool, created: now, last_seen: Mutex::new(now) });
        let mut map = self.map.lock().ok()?;
        if map.len() >= self.max {
            return None;
        }
        map.insert(id.clone(), session.clone());
        Some((id, session))
    }

    /// The live session for `id`, refreshing its idle timer; an expired one
    /// is removed and closed.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Session>> {
        let mut map = self.map.lock().ok()?;
        let session = map.get(id)?.clone();
        let now = Instant::now();
        if self.expired(&session, now) {
            map.remove(id);
            drop(map);
            session.pool.close();
            return None;
        }
        if let Ok(mut seen) = session.last_seen.lock() {
            *seen = now;
        }
        Some(session)
    }

    /// End the session `id` (logout).
    pub(crate) fn remove(&self, id: &str) {
        let removed = self.map.lock().ok().and_then(|mut m| m.remove(id));
        if let Some(s) = removed {
            s.pool.close();
        }
    }

    /// Close every expired session.
    pub(crate) fn sweep(&self) {
        let now = Instant::now();
        let mut dead = Vec::new();
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, s| {
                let keep = !self.expired(s, now);
                if !keep {
                    dead.push(s.clone());
                }
                keep
            });
        }
        for s in dead {
            s.pool.close();
        }
    }

    /// Close every session (shutdown).
    pub(crate) fn clear(&self) {
        let all: Vec<_> = self.map.lock().map(|mut m| m.drain().map(|(_, s)| s).collect()).unwrap_or_default();
        for s in all {
            s.pool.close();
        }
    }

    /// Number of live sessions.
    pub(crate) fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    fn expired(&self, s: &Session, now: Instant) -> bool {
        let seen = s.last_seen.lock().map(|t| *t).unwrap_or(s.created);
        now.duration_since(s.created) >= self.absolute || now.duration_since(seen) >= self.idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
