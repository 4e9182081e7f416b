//! Shared state for a cluster of oxftp nodes, in Redis or Valkey:
//! [`RedisState`] implements oxftp-core's [`SharedState`].
//!
//! Nodes stay stateless: files live in the object store, and what the nodes
//! must agree on lives here, under keys that start with a prefix (`oxftp` by
//! default, so several clusters can share one Redis):
//!
//! | key | type | what |
//! |---|---|---|
//! | `P:fail:ip:ADDR`, `P:fail:user:NAME` | counter, expires after the ban window | failed logins in the current window |
//! | `P:ban:ip:ADDR`, `P:ban:user:NAME` | string, expires when the ban ends | a ban in force |
//! | `P:sessions:ip:ADDR`, `P:sessions:user:NAME` | sorted set: lease id → expiry (ms, Redis clock) | live sessions |
//! | `P:quota:NAME` | hash `bytes`, `files`, expires a day after its last change | an account's usage |
//!
//! Every change is one Lua script, so it is atomic however many nodes race
//! (ban on the Nth failure, take a session place only below the limit).
//! Times are the Redis server's (`TIME` inside scripts), so the nodes'
//! clocks need not agree.
//!
//! Session places are leases: each node renews its own every third of
//! [`RedisSettings::lease`], and one that is not renewed (its node died, or
//! lost Redis for longer than a lease) expires, so a crashed node's sessions
//! free their places within one lease time.
//!
//! A quota entry that expires (a day without changes) is measured again from
//! the store at the next login. Its counter can drift from the store when a
//! node dies mid-upload (the upload's bytes stay counted) or files change
//! outside the servers; deleting the key makes the next login measure again.
//!
//! Calls fail (with [`StateError`]) when Redis does not answer within
//! [`RedisSettings::timeout`]; wrap the state in oxftp-core's `Degrading` so
//! nodes fall back to their own state while it is unreachable.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use oxftp_core::shared_state::{BanPolicy, Lease, SharedState, StateError, Subject, Usage};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use slog::Logger;

/// Where Redis is and how the state is kept there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://` is not
    /// supported: put Redis on a private network or a local TLS tunnel).
    pub url: String,
    /// First part of every key.
    pub key_prefix: String,
    /// How long a session's place lasts without renewal.
    pub lease: Duration,
    /// Longest wait for one answer (and for a connection).
    pub timeout: Duration,
}

impl RedisSettings {
    /// Defaults for `url`: prefix `oxftp`, 30-second leases, 1-second timeout.
    pub fn new(url: impl Into<String>) -> RedisSettings {
        RedisSettings {
            url: url.into(),
            key_prefix: "oxftp".to_string(),
            lease: Duration::from_secs(30),
            timeout: Duration::from_secs(1),
        }
    }
}

/// How long an account's quota entry lives without a change.
const QUOTA_TTL: Duration = Duration::from_secs(24 * 3600);

/// Most leases renewed by one script call.
const RENEW_BATCH: usize = 256;

/// Count a failure; ban (and forget the failures) at the limit.
/// KEYS: fail, ban · ARGV: max failures, window ms, ban ms · → 1 when banned now.
const FAIL: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

/// Take a place below the limit. KEYS: sessions · ARGV: max, lease id, lease ms · → 1 when taken.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// Renew leases still held. KEYS: sessions keys · ARGV: lease ms, then one
/// lease id per key · → how many were still there.
const RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ms = tonumber(ARGV[1])
local kept = 0
for i, key in ipairs(KEYS) do
  if redis.call('ZSCORE', key, ARGV[i + 1]) then
    redis.call('ZADD', key, now + ms, ARGV[i + 1])
    redis.call('PEXPIRE', key, ms)
    kept = kept + 1
  end
end
return kept
";

/// Store usage unless present. KEYS: quota · ARGV: bytes, files, ttl ms · → {bytes, files}.
const QUOTA_INIT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'bytes', ARGV[1], 'files', ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('HMGET', KEYS[1], 'bytes', 'files')
";

/// Add to usage if present (never below zero). KEYS: quota · ARGV: bytes, files, ttl ms.
const QUOTA_ADD: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i, field in ipairs({'bytes', 'files'}) do
  if redis.call('HINCRBY', KEYS[1], field, ARGV[i]) < 0 then redis.call('HSET', KEYS[1], field, 0) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// Bans, session leases and quota usage in Redis; see the crate doc.
pub struct RedisState {
    inner: Arc<Inner>,
}

struct Inner {
    settings: RedisSettings,
    connection: ConnectionManager,
    fail: Script,
    acquire: Script,
    renew: Script,
    quota_init: Script,
    quota_add: Script,
    /// The leases this node holds: lease id → its sessions key.
    leases: Mutex<HashMap<String, String>>,
    logger: Logger,
}

impl fmt::Debug for RedisState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisState").field("settings", &self.inner.settings).finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each update is one insert or remove: a poisoned map is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn failed(e: impl fmt::Display) -> StateError {
    StateError(e.to_string())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisState {
    /// A state in the Redis at `settings.url`. Connects lazily: a node starts
    /// while Redis is down, and its calls fail until Redis answers. Starts
    /// the lease renewer (needs the tokio runtime); it ends when the state is
    /// dropped.
    pub fn new(settings: RedisSettings, logger: Logger) -> Result<RedisState, StateError> {
        let client = Client::open(settings.url.as_str()).map_err(failed)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_max_delay(settings.timeout);
        let connection = ConnectionManager::new_lazy_with_config(client, config).map_err(failed)?;
        let inner = Arc::new(Inner {
            settings,
            connection,
            fail: Script::new(FAIL),
            acquire: Script::new(ACQUIRE),
            renew: Script::new(RENEW),
            quota_init: Script::new(QUOTA_INIT),
            quota_add: Script::new(QUOTA_ADD),
            leases: Mutex::default(),
            logger,
        });
        tokio::spawn(renew_leases(Arc::downgrade(&inner)));
        Ok(RedisState { inner })
    }

    /// Whether Redis answers now (`PING`).
    pub async fn ping(&self) -> Result<(), StateError> {
        let mut con = self.inner.connection.clone();
        let pong: String = self.inner.bounded(redis::cmd("PING").query_async(&mut con)).await?;
        if pong == "PONG" { Ok(()) } else { Err(StateError(format!("PING answered {pong:?}"))) }
    }

    /// Session places this node holds now.
    pub fn leases_held(&self) -> usize {
        lock(&self.inner.leases).len()
    }
}

impl Inner {
    fn key(&self, kind: &str, subject: &Subject) -> String {
        format!("{}:{kind}:{subject}", self.settings.key_prefix)
    }

    fn quota_key(&self, user: &str) -> String {
        format!("{}:quota:{user}", self.settings.key_prefix)
    }

    /// `call`, failing after the timeout whatever the client does.
    async fn bounded<T>(&self, call: impl Future<Output = redis::RedisResult<T>>) -> Result<T, StateError> {
        match tokio::time::timeout(self.settings.timeout, call).await {
            Ok(result) => result.map_err(failed),
            Err(_) => Err(StateError(format!("no answer within {:?}", self.settings.timeout))),
        }
    }

    /// Renew every lease this node holds; returns how many Redis still had.
    async fn renew(&self) -> Result<usize, StateError> {
        let held: Vec<(String, String)> =
            lock(&self.leases).iter().map(|(id, key)| (id.clone(), key.clone())).collect();
        let mut kept = 0;
        for batch in held.chunks(RENEW_BATCH) {
            let mut invocation = self.renew.prepare_invoke();
            invocation.arg(ms(self.settings.lease));
            for (id, key) in batch {
                invocation.key(key).arg(id);
            }
            let mut con = self.connection.clone();
            let n: usize = self.bounded(invocation.invoke_async(&mut con)).await?;
            kept += n;
        }
        Ok(kept)
    }
}

/// Renew this node's leases every third of a lease, until the state is dropped.
async fn renew_leases(inner: Weak<Inner>) {
    let every = match inner.upgrade() {
        Some(inner) => inner.settings.lease / 3,
        None => return,
    };
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else { return };
        let held = lock(&inner.leases).len();
        if held == 0 {
            continue;
        }
        match inner.renew().await {
            Ok(kept) if kept < held => slog::warn!(inner.logger, "session leases had expired in Redis";
                "held" => held, "renewed" => kept),
            Ok(_) => {}
            Err(e) => slog::warn!(inner.logger, "cannot renew session leases"; "error" => %e, "held" => held),
        }
    }
}

/// A session place in Redis; dropping it gives the place back.
struct RedisLease {
    inner: Arc<Inner>,
    id: String,
    key: String,
    /// Whether Redis gave the place (else dropping only forgets the id here).
    taken: bool,
}

impl Drop for RedisLease {
    fn drop(&mut self) {
        lock(&self.inner.leases).remove(&self.id);
        if !self.taken {
            return;
        }
        let (inner, id, key) = (Arc::clone(&self.inner), std::mem::take(&mut self.id), std::mem::take(&mut self.key));
        // Without a runtime the lease simply expires.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let mut con = inner.connection.clone();
                let removed = inner.bounded(redis::cmd("ZREM").arg(&key).arg(&id).query_async::<i64>(&mut con)).await;
                if let Err(e) = removed {
                    slog::debug!(inner.logger, "session lease not released; it will expire"; "error" => %e);
                }
            });
        }
    }
}

#[async_trait]
impl SharedState for RedisState {
    async fn is_banned(&self, subject: &Subject) -> Result<bool, StateError> {
        let inner = &self.inner;
        let mut con = inner.connection.clone();
        let n: i64 = inner.bounded(redis::cmd("EXISTS").arg(inner.key("ban", subject)).query_async(&mut con)).await?;
        Ok(n > 0)
    }

    async fn login_failed(&self, subject: &Subject, policy: &BanPolicy) -> Result<bool, StateError> {
        let inner = &self.inner;
        let mut con = inner.connection.clone();
        let mut call = inner.fail.key(inner.key("fail", subject));
        call.key(inner.key("ban", subject))
            .arg(policy.max_failures.max(1))
            .arg(ms(policy.window))
            .arg(ms(policy.ban_time));
        let banned: i64 = inner.bounded(call.invoke_async(&mut con)).await?;
        Ok(banned == 1)
    }

    async fn login_succeeded(&self, subject: &Subject) -> Result<(), StateError> {
        let inner = &self.inner;
        let mut con = inner.connection.clone();
        let _: i64 = inner.bounded(redis::cmd("DEL").arg(inner.key("fail", subject)).query_async(&mut con)).await?;
        Ok(())
    }

    async fn acquire_session(&self, subject: &Subject, max: usize) -> Result<Option<Lease>, StateError> {
        let inner = &self.inner;
        let key = inner.key("sessions", subject);
        let id = format!("{:032x}", rand::random::<u128>());
        // Held before asking, so a renewal running meanwhile keeps it too.
        lock(&inner.leases).insert(id.clone(), key.clone());
        // Forgotten here again if the answer is no (or none comes).
        let mut lease = RedisLease { inner: Arc::clone(inner), id: id.clone(), key: key.clone(), taken: false };
        let mut con = inner.connection.clone();
        let mut call = inner.acquire.key(&key);
        call.arg(max.max(1)).arg(&id).arg(ms(inner.settings.lease));
        let taken: i64 = inner.bounded(call.invoke_async(&mut con)).await?;
        lease.taken = taken == 1;
        Ok(lease.taken.then(|| Lease::new(lease)))
    }

    async fn quota_usage(&self, user: &str) -> Result<Option<Usage>, StateError> {
        let inner = &self.inner;
        let mut con = inner.connection.clone();
        let (bytes, files): (Option<u64>, Option<u64>) = inner
            .bounded(redis::cmd("HMGET").arg(inner.quota_key(user)).arg("bytes").arg("files").query_async(&mut con))
            .await?;
        Ok(match (bytes, files) {
            (Some(bytes), Some(files)) => Some(Usage { bytes, files }),
            _ => None,
        })
    }

    async fn quota_init(&self, user: &str, measured: Usage) -> Result<Usage, StateError> {
        let inner = &self.inner;
        let mut con = inner.connection.clone();
        let mut call = inner.quota_init.key(inner.quota_key(user));
        call.arg(measured.bytes).arg(measured.files).arg(ms(QUOTA_TTL));
        let (bytes, files): (u64, u64) = inner.bounded(call.invoke_async(&mut con)).await?;
        Ok(Usage { bytes, files })
    }

    async fn quota_add(&self, user: &str, bytes: i64, files: i64) -> Result<(), StateError> {
        let inner = &self.inner;
        let mut con = inner.connection.clone();
        let mut call = inner.quota_add.key(inner.quota_key(user));
        call.arg(bytes).arg(files).arg(ms(QUOTA_TTL));
        let _: i64 = inner.bounded(call.invoke_async(&mut con)).await?;
        Ok(())
    }
}

/// Whether `url` is a Redis URL this client can use (no connection is made).
pub fn check_url(url: &str) -> Result<(), String> {
    Client::open(url).map(|_| ()).map_err(|e| e.to_string())
}
