//! `Hooks`: the event sink that spools, and one delivery task per hook.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use oxftp_core::events::{Event, EventError, EventKind, EventSink};
use slog::{Logger, error, info, o, warn};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::{HookConfig, HookConfigError, OnFull};
use crate::deliver::Deliverer;
use crate::filter::Filter;
use crate::payload::to_json;
use crate::spool::{Spool, id_of};

/// Why the hooks could not start.
#[derive(Debug, thiserror::Error)]
pub enum HooksError {
    /// A hook's settings are wrong.
    #[error("hook {name:?}: {source}")]
    Config {
        /// The hook's name.
        name: String,
        /// The mistake.
        source: HookConfigError,
    },
    /// Two hooks have the same name (they would share a spool).
    #[error("two hooks are named {0:?}")]
    DuplicateName(String),
    /// The spool directory cannot be used.
    #[error("spool directory {path}: {source}")]
    Spool {
        /// The directory.
        path: String,
        /// What the file system said.
        source: io::Error,
    },
}

/// Counters of one hook, for metrics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HookStats {
    /// The hook's name.
    pub name: String,
    /// Events waiting in the spool.
    pub pending: usize,
    /// Events delivered.
    pub delivered: u64,
    /// Failed delivery attempts.
    pub failed_attempts: u64,
    /// Events moved to `failed/` after their last attempt.
    pub given_up: u64,
    /// Events deleted unsent because the spool was full.
    pub dropped: u64,
    /// Operations refused because the spool was full.
    pub refused: u64,
}

#[derive(Debug, Default)]
struct Counters {
    delivered: AtomicU64,
    failed_attempts: AtomicU64,
    given_up: AtomicU64,
    dropped: AtomicU64,
    refused: AtomicU64,
}

/// One configured hook.
#[derive(Debug)]
struct Hook {
    name: String,
    filter: Filter,
    spool: Spool,
    deliverer: Deliverer,
    config: HookConfig,
    timeout: Duration,
    retry_delay: Duration,
    retry_max_delay: Duration,
    /// Wakes the delivery task when an event is spooled.
    wake: Notify,
    counters: Counters,
    logger: Logger,
}

/// Event hooks: a webhook or a command per `[[hook]]`, fed from an on-disk
/// spool so that delivery is at least once.
///
/// [`EventSink::record`] writes the event to the spool of every hook whose
/// filter matches, and returns; the front end sends its final reply only
/// after that, so an event the client was told about is on disk. A task per
/// hook delivers the spooled events oldest first, removes each one when the
/// receiver took it (2xx, or exit status 0), and retries failures with
/// exponential backoff (the whole hook pauses, so a receiver that is down
/// is not hammered). A restart resends whatever is still spooled, so a
/// receiver may see an event twice — with the same `id` both times. A
/// session never waits for a receiver.
#[derive(Debug, Clone)]
pub struct Hooks {
    hooks: Arc<Vec<Arc<Hook>>>,
    tasks: Arc<Mutex<JoinSet<()>>>,
}

impl Hooks {
    /// Validates `configs`, opens each hook's spool under `spool_dir/<name>`
    /// (resending what a previous run left there) and starts the delivery
    /// tasks. Must be called inside a tokio runtime.
    pub fn start(spool_dir: &Path, configs: Vec<HookConfig>, logger: &Logger) -> Result<Hooks, HooksError> {
        let mut names = HashSet::new();
        let mut hooks = Vec::with_capacity(configs.len());
        for config in configs {
            let name = config.name.clone();
            let config_error = |source| HooksError::Config { name: name.clone(), source };
            let valid = config.validated().map_err(config_error)?;
            if !names.insert(name.clone()) {
                return Err(HooksError::DuplicateName(name));
            }
            let deliverer = Deliverer::new(&config, valid.target, valid.timeout).map_err(config_error)?;
            let dir = spool_dir.join(&name);
            let spool = Spool::open(dir.clone(), config.fsync)
                .map_err(|source| HooksError::Spool { path: dir.display().to_string(), source })?;
            let logger = logger.new(o!("hook" => name.clone()));
            if spool.len() > 0 {
                info!(logger, "resending spooled events"; "pending" => spool.len(), "spool" => %dir.display());
            }
            hooks.push(Arc::new(Hook {
                filter: Filter { kinds: valid.kinds, users: config.users.clone(), path: valid.path },
                name,
                spool,
                deliverer,
                timeout: valid.timeout,
                retry_delay: valid.retry_delay,
                retry_max_delay: valid.retry_max_delay,
                config,
                wake: Notify::new(),
                counters: Counters::default(),
                logger,
            }));
        }
        let mut tasks = JoinSet::new();
        for hook in &hooks {
            tasks.spawn(deliver_forever(Arc::clone(hook)));
        }
        Ok(Hooks { hooks: Arc::new(hooks), tasks: Arc::new(Mutex::new(tasks)) })
    }

    /// Each hook's counters.
    pub fn stats(&self) -> Vec<HookStats> {
        self.hooks
            .iter()
            .map(|h| HookStats {
                name: h.name.clone(),
                pending: h.spool.len(),
                delivered: h.counters.delivered.load(Ordering::Relaxed),
                failed_attempts: h.counters.failed_attempts.load(Ordering::Relaxed),
                given_up: h.counters.given_up.load(Ordering::Relaxed),
                dropped: h.counters.dropped.load(Ordering::Relaxed),
                refused: h.counters.refused.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Stops the delivery tasks (what is spooled stays for the next start).
    pub fn stop(&self) {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).abort_all();
    }
}

#[async_trait]
impl EventSink for Hooks {
    async fn record(&self, event: &Event) -> Result<(), EventError> {
        let wanted: Vec<Arc<Hook>> = self.hooks.iter().filter(|h| h.filter.matches(event)).cloned().collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let body = to_json(event);
        let id = event.id.clone();
        let kind = event.kind;
        // Small file writes (and flushes, with fsync) off the async threads.
        let written = tokio::task::spawn_blocking(move || {
            let mut errors = Vec::new();
            for hook in &wanted {
                match spool_one(hook, &id, kind, &body) {
                    Ok(()) => hook.wake.notify_one(),
                    Err(e) => errors.push(format!("hook {:?}: {e}", hook.name)),
                }
            }
            errors
        })
        .await
        .map_err(|e| EventError(format!("spooling task failed: {e}")))?;
        if written.is_empty() { Ok(()) } else { Err(EventError(written.join("; "))) }
    }

    fn admits(&self, kind: EventKind) -> bool {
        for hook in self.hooks.iter() {
            if hook.config.on_full == OnFull::Refuse
                && hook.filter.wants_kind(kind)
                && hook.spool.len() >= hook.config.max_spooled
            {
                hook.counters.refused.fetch_add(1, Ordering::Relaxed);
                warn!(hook.logger, "spool full: refusing an operation"; "event" => kind.name(), "max_spooled" => hook.config.max_spooled);
                return false;
            }
        }
        true
    }

    fn wants_sha256(&self) -> bool {
        self.hooks.iter().any(|h| h.config.checksum && h.filter.wants_kind(EventKind::Upload))
    }
}

/// Writes one event to one hook's spool, making room first if the hook drops
/// its oldest events when full. (With `refuse`, operations were refused at
/// their start; events of those already under way still go in.)
fn spool_one(hook: &Hook, id: &str, kind: EventKind, body: &[u8]) -> io::Result<()> {
    if hook.config.on_full == OnFull::DropOldest {
        while hook.spool.len() >= hook.config.max_spooled {
            let Some(dropped) = hook.spool.drop_oldest() else { break };
            hook.counters.dropped.fetch_add(1, Ordering::Relaxed);
            error!(hook.logger, "spool full: dropped the oldest event unsent";
                "dropped_event" => id_of(&dropped), "max_spooled" => hook.config.max_spooled);
        }
    }
    hook.spool.push(id, body).map(drop).inspect_err(|e| {
        error!(hook.logger, "cannot spool an event"; "event" => kind.name(), "id" => id, "error" => %e);
    })
}

/// What the delivery task knows about events that failed.
#[derive(Debug, Default)]
struct Retries {
    /// Attempts so far, per spool name.
    attempts: HashMap<String, u32>,
    /// Failures in a row (any event): sets the pause.
    streak: u32,
    /// No new attempt before this.
    paused_until: Option<Instant>,
}

/// One hook's delivery loop: oldest first, up to `concurrency` at once;
/// after a failure the hook pauses for the backoff delay.
async fn deliver_forever(hook: Arc<Hook>) {
    let mut retries = Retries::default();
    let mut in_flight: HashSet<String> = HashSet::new();
    let mut running: JoinSet<(String, Result<(), String>)> = JoinSet::new();
    // Catches anything a missed wake-up would leave behind.
    const RESCAN: Duration = Duration::from_secs(30);
    loop {
        let now = Instant::now();
        let paused = retries.paused_until.is_some_and(|until| until > now);
        if !paused {
            let room = hook.config.concurrency.saturating_sub(in_flight.len());
            for name in hook.spool.oldest(room, |n| in_flight.contains(n)) {
                in_flight.insert(name.clone());
                let hook = Arc::clone(&hook);
                running.spawn(async move {
                    let result = attempt(&hook, &name).await;
                    (name, result)
                });
            }
        }
        let wait_until = match retries.paused_until {
            Some(until) if paused => until,
            _ => now + RESCAN,
        };
        tokio::select! {
            Some(done) = running.join_next(), if !running.is_empty() => {
                let Ok((name, result)) = done else { continue };
                in_flight.remove(&name);
                settle(&hook, &mut retries, &name, result);
            }
            _ = hook.wake.notified(), if !paused => {}
            _ = tokio::time::sleep_until(wait_until) => {}
        }
    }
}

/// One delivery attempt of spooled event `name`.
async fn attempt(hook: &Hook, name: &str) -> Result<(), String> {
    let body = match hook.spool.read(name) {
        Ok(Some(body)) => body,
        // Dropped to make room meanwhile: nothing to deliver.
        Ok(None) => return Ok(()),
        Err(e) => return Err(format!("cannot read the spooled event: {e}")),
    };
    let kind = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
        .unwrap_or_default();
    hook.deliverer.deliver(id_of(name), &kind, &body, hook.timeout).await
}

/// Books the outcome of an attempt: forget a delivered event; count a
/// failure, pause the hook, and give up after the last attempt.
fn settle(hook: &Hook, retries: &mut Retries, name: &str, result: Result<(), String>) {
    match result {
        Ok(()) => {
            if let Err(e) = hook.spool.remove(name) {
                // It would be sent again after a restart: harmless, ids repeat.
                warn!(hook.logger, "delivered, but cannot remove from the spool"; "id" => id_of(name), "error" => %e);
            }
            hook.counters.delivered.fetch_add(1, Ordering::Relaxed);
            retries.attempts.remove(name);
            retries.streak = 0;
            retries.paused_until = None;
        }
        Err(why) => {
            hook.counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
            let attempts = retries.attempts.entry(name.to_string()).or_insert(0);
            *attempts += 1;
            let attempts = *attempts;
            retries.streak = retries.streak.saturating_add(1);
            let delay = backoff(hook.retry_delay, hook.retry_max_delay, retries.streak);
            retries.paused_until = Some(Instant::now() + delay);
            if attempts >= hook.config.max_attempts {
                retries.attempts.remove(name);
                hook.counters.given_up.fetch_add(1, Ordering::Relaxed);
                let kept = hook.spool.give_up(name);
                error!(hook.logger, "event not delivered after its last attempt; kept in failed/";
                    "id" => id_of(name), "attempts" => attempts, "error" => why,
                    "spool" => %hook.spool.dir().display(), "moved" => kept.is_ok());
            } else {
                warn!(hook.logger, "delivery failed; will retry";
                    "id" => id_of(name), "attempt" => attempts, "error" => why, "retry_in_ms" => delay.as_millis() as u64);
            }
        }
    }
}

/// `first`, doubled for each failure in a row after the first, at most `max`.
fn backoff(first: Duration, max: Duration, streak: u32) -> Duration {
    let factor = 1u32.checked_shl(streak.saturating_sub(1).min(31)).unwrap_or(u32::MAX);
    first.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(1), s(300), 1), s(1));
        assert_eq!(backoff(s(1), s(300), 2), s(2));
        assert_eq!(backoff(s(1), s(300), 5), s(16));
        assert_eq!(backoff(s(1), s(300), 12), s(300));
        assert_eq!(backoff(s(1), s(300), u32::MAX), s(300));
    }
}
