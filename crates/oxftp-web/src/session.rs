//! Web sessions: random ids, CSRF tokens, idle and absolute timeouts, and
//! how many one account or one address may hold.
//!
//! The browser only ever holds the session id (in an HttpOnly cookie); the FTP
//! credentials stay in the session here. Expiry is checked on every lookup,
//! and a periodic sweep closes sessions nobody comes back for, so their FTP
//! connections do not linger, and closes the FTP connections of sessions
//! that are idle (they reconnect on demand).
//!
//! Limits, so no one client or account can take every session: a global
//! cap, a cap per client address (further logins are refused), and a cap per
//! account (a further login ends that account's least recently used
//! session: whoever logs in has the password, so this takes nothing from
//! anybody else, and a script that never logs out keeps working).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::TryRngCore;
use rand::rngs::OsRng;
use subtle::ConstantTimeEq;

use crate::client::limit_key;
use crate::config::WebConfig;
use crate::pool::Pool;
use crate::stats::Refusal;

/// Name of the session cookie over plain HTTP.
pub const COOKIE: &str = "oxftp_web";

/// Name of the session cookie when it is `Secure`: the `__Host-` prefix makes
/// browsers refuse it unless it is Secure, host-only and for path `/`, so a
/// sibling domain or a plain-HTTP page cannot plant one.
pub const SECURE_COOKIE: &str = "__Host-oxftp_web";

/// Whether `user` is the anonymous account, which many people share.
fn is_anonymous(user: &str) -> bool {
    user.eq_ignore_ascii_case("anonymous") || user.eq_ignore_ascii_case("ftp")
}

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
    /// The account, as upstream and user name (for the per-account cap);
    /// `None` for the shared anonymous account.
    account: Option<String>,
    /// The client address's limit key (for the per-address cap).
    client: IpAddr,
    created: Instant,
    last_seen: Mutex<Instant>,
}

impl Session {
    /// Whether `token` is this session's CSRF token (constant-time compare).
    pub(crate) fn csrf_ok(&self, token: &str) -> bool {
        !token.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(token.as_bytes()))
    }

    fn last_seen(&self) -> Instant {
        self.last_seen.lock().map(|t| *t).unwrap_or(self.created)
    }
}

/// A session just created, and how many of its account's sessions it ended.
pub(crate) struct Created {
    pub id: String,
    pub session: Arc<Session>,
    pub evicted: usize,
}

/// All sessions of one gateway.
#[derive(Debug)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
    idle: Duration,
    absolute: Duration,
    ftp_idle: Duration,
    max: usize,
    per_user: usize,
    per_ip: usize,
}

/// Why a session could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoRoom {
    /// The gateway or the client address is at its cap.
    Full(Refusal),
    /// The OS gave no randomness for the id.
    NoRandomness,
}

impl Sessions {
    /// An empty store with `config`'s timeouts and caps.
    pub(crate) fn new(config: &WebConfig) -> Self {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle: config.idle_timeout,
            absolute: config.absolute_timeout,
            ftp_idle: config.ftp_idle_timeout,
            max: config.max_sessions.max(1),
            per_user: config.max_sessions_per_user.max(1),
            per_ip: config.max_sessions_per_ip.max(1),
        }
    }

    /// Whether a login from `client` could get a session, checked before it
    /// opens an FTP connection (the check in [`create`](Self::create) decides).
    pub(crate) fn room_for(&self, client: IpAddr) -> Result<(), NoRoom> {
        self.sweep();
        let key = limit_key(client);
        let map = self.map.lock().map_err(|_| NoRoom::NoRandomness)?;
        if map.values().filter(|s| s.client == key).count() >= self.per_ip {
            return Err(NoRoom::Full(Refusal::SessionsPerIp));
        }
        // The per-account cap frees room for its own logins, so only a full
        // store of other sessions refuses here.
        if map.len() >= self.max {
            return Err(NoRoom::Full(Refusal::SessionsFull));
        }
        Ok(())
    }

    /// Store a new session for `pool`, logged in from `client`. At the
    /// account's cap its least recently used sessions are ended to make room.
    pub(crate) fn create(&self, pool: Arc<Pool>, client: IpAddr) -> Result<Created, NoRoom> {
        self.sweep();
        let id = random_token().ok_or(NoRoom::NoRandomness)?;
        let csrf = random_token().ok_or(NoRoom::NoRandomness)?;
        let login = pool.login();
        let account = (!is_anonymous(&login.user)).then(|| format!("{}\0{}", login.upstream, login.user));
        let client = limit_key(client);
        let now = Instant::now();
        let session = Arc::new(Session { csrf, pool, account, client, created: now, last_seen: Mutex::new(now) });
        let evicted = {
            let mut map = self.map.lock().map_err(|_| NoRoom::NoRandomness)?;
            if map.values().filter(|s| s.client == client).count() >= self.per_ip {
                return Err(NoRoom::Full(Refusal::SessionsPerIp));
            }
            // The account's sessions, least recently used first.
            let mut own: Vec<(String, Instant)> = match &session.account {
                Some(account) => map
                    .iter()
                    .filter(|(_, s)| s.account.as_ref() == Some(account))
                    .map(|(id, s)| (id.clone(), s.last_seen()))
                    .collect(),
                None => Vec::new(),
            };
            own.sort_by_key(|(_, seen)| *seen);
            let surplus = (own.len() + 1).saturating_sub(self.per_user);
            if map.len() - surplus >= self.max {
                return Err(NoRoom::Full(Refusal::SessionsFull));
            }
            let evicted: Vec<Arc<Session>> = own.iter().take(surplus).filter_map(|(id, _)| map.remove(id)).collect();
            map.insert(id.clone(), session.clone());
            evicted
        };
        for s in &evicted {
            s.pool.close();
        }
        Ok(Created { id, session, evicted: evicted.len() })
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

    /// Close the FTP connections sessions have left unused for
    /// `ftp_idle_timeout`; returns how many were closed.
    pub(crate) fn release_idle_connections(&self) -> usize {
        let all: Vec<Arc<Session>> = self.map.lock().map(|m| m.values().cloned().collect()).unwrap_or_default();
        all.iter().map(|s| s.pool.release_idle(self.ftp_idle)).sum()
    }

    /// FTP connections held open by sessions and not in use right now.
    pub(crate) fn idle_connections(&self) -> usize {
        let all: Vec<Arc<Session>> = self.map.lock().map(|m| m.values().cloned().collect()).unwrap_or_default();
        all.iter().map(|s| s.pool.idle_count()).sum()
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
        now.duration_since(s.created) >= self.absolute || now.duration_since(s.last_seen()) >= self.idle
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
