//! Web logins throttled and banned by the browser's address.
//!
//! The upstream FTP server sees every web login coming from the gateway, so
//! its own failed-login ban cannot tell one browser from another; the
//! gateway must do it itself. Two rules, per client address (see
//! [`limit_key`]):
//!
//! - a rate: at most `login_attempts_per_minute` attempts, as a burst that
//!   refills evenly (GCRA, from `governor`);
//! - a ban: `max_login_failures` failed logins within `login_failure_window`
//!   ban the address for `login_ban_time`. An attempt counts as a failure
//!   from the moment it starts until it succeeds, so a burst of parallel
//!   guesses is cut off at the limit instead of all being tried.
//!
//! Only the upstream's refusal of the credentials (530) is a failure; an
//! unreachable upstream or a dropped request is neither failure nor success.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::client::limit_key;
use crate::config::WebConfig;
use crate::error::WebError;
use crate::stats::{Refusal, Telemetry};

/// What the throttle remembers about one address.
#[derive(Debug, Default)]
struct Record {
    /// When recent failures happened (within the window), oldest first.
    failures: VecDeque<Instant>,
    /// Attempts started and not yet finished.
    in_flight: u32,
    banned_until: Option<Instant>,
}

/// The login throttle of one gateway.
#[derive(Debug)]
pub(crate) struct LoginThrottle {
    rate: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    records: Mutex<HashMap<IpAddr, Record>>,
    max_failures: usize,
    window: Duration,
    ban: Duration,
}

impl LoginThrottle {
    pub(crate) fn new(config: &WebConfig) -> Arc<LoginThrottle> {
        let per_minute = NonZeroU32::new(config.login_attempts_per_minute).unwrap_or(NonZeroU32::MIN);
        Arc::new(LoginThrottle {
            rate: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
            records: Mutex::new(HashMap::new()),
            max_failures: config.max_login_failures.max(1) as usize,
            window: config.login_failure_window,
            ban: config.login_ban_time,
        })
    }

    /// Let a login from `client` proceed, or say why not (429 with the
    /// seconds to wait). The ticket must be told how the login ended.
    pub(crate) fn admit(self: &Arc<Self>, client: IpAddr, telemetry: &Telemetry) -> Result<LoginTicket, WebError> {
        let key = limit_key(client);
        let now = Instant::now();
        let mut records =
            self.records.lock().map_err(|_| WebError::Unavailable("login throttle unavailable".into()))?;
        let record = records.entry(key).or_default();
        if let Some(until) = record.banned_until.filter(|until| *until > now) {
            drop(records);
            telemetry.refused(Refusal::LoginBanned, client);
            return Err(too_many("too many failed logins from your address", until - now));
        }
        record.banned_until = None;
        while record.failures.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            record.failures.pop_front();
        }
        if record.failures.len() + record.in_flight as usize >= self.max_failures {
            drop(records);
            telemetry.refused(Refusal::LoginThrottled, client);
            return Err(too_many("too many login attempts from your address at once", Duration::from_secs(1)));
        }
        if let Err(not_until) = self.rate.check_key(&key) {
            drop(records);
            telemetry.refused(Refusal::LoginThrottled, client);
            let wait = not_until.wait_time_from(self.clock.now());
            return Err(too_many("too many login attempts from your address", wait));
        }
        record.in_flight += 1;
        Ok(LoginTicket { throttle: self.clone(), key, client, open: true })
    }

    /// Forget what no longer matters: expired failures and bans, idle rate state.
    pub(crate) fn sweep(&self) {
        let now = Instant::now();
        if let Ok(mut records) = self.records.lock() {
            records.retain(|_, r| {
                r.failures.retain(|t| now.duration_since(*t) < self.window);
                r.in_flight > 0 || !r.failures.is_empty() || r.banned_until.is_some_and(|u| u > now)
            });
        }
        self.rate.retain_recent();
        self.rate.shrink_to_fit();
    }

    fn finish(&self, key: IpAddr, failed: bool) -> bool {
        let Ok(mut records) = self.records.lock() else { return false };
        let Some(record) = records.get_mut(&key) else { return false };
        record.in_flight = record.in_flight.saturating_sub(1);
        if !failed {
            return false;
        }
        let now = Instant::now();
        record.failures.push_back(now);
        if record.failures.len() >= self.max_failures {
            record.failures.clear();
            record.banned_until = Some(now + self.ban);
            return true;
        }
        false
    }
}

/// A 429 saying how long to wait (at least a second).
fn too_many(why: &str, wait: Duration) -> WebError {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    WebError::TooManyRequests {
        message: format!("{why}; try again in {} s", seconds.max(1)),
        retry_after: seconds.max(1),
    }
}

/// One login in progress; counts as failed until [`succeeded`](Self::succeeded)
/// or [`failed`](Self::failed) says otherwise; dropped undecided, it counts as neither.
#[derive(Debug)]
pub(crate) struct LoginTicket {
    throttle: Arc<LoginThrottle>,
    key: IpAddr,
    client: IpAddr,
    open: bool,
}

impl LoginTicket {
    /// The credentials were accepted.
    pub(crate) fn succeeded(mut self) {
        self.open = false;
        self.throttle.finish(self.key, false);
    }

    /// The upstream refused the credentials; may ban the address.
    pub(crate) fn failed(mut self, telemetry: &Telemetry) {
        self.open = false;
        if self.throttle.finish(self.key, true) {
            telemetry.refused(Refusal::Banned, self.client);
        }
    }
}

impl Drop for LoginTicket {
    fn drop(&mut self) {
        if self.open {
            self.throttle.finish(self.key, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_minute: u32, failures: u32) -> Arc<LoginThrottle> {
        LoginThrottle::new(&WebConfig {
            login_attempts_per_minute: per_minute,
            max_login_failures: failures,
            login_failure_window: Duration::from_secs(60),
            login_ban_time: Duration::from_millis(200),
            ..WebConfig::default()
        })
    }

    #[test]
    fn parallel_guesses_stop_at_the_failure_limit() {
        let t = throttle(1000, 3);
        let telemetry = Telemetry::default();
        let ip = IpAddr::from([192, 0, 2, 1]);
        let tickets: Vec<_> = (0..3).map(|_| t.admit(ip, &telemetry).unwrap()).collect();
        let err = t.admit(ip, &telemetry).unwrap_err();
        assert!(matches!(err, WebError::TooManyRequests { .. }), "{err:?}");
        // Another address is not affected.
        t.admit(IpAddr::from([192, 0, 2, 2]), &telemetry).unwrap().succeeded();
        for ticket in tickets {
            ticket.failed(&telemetry);
        }
        assert_eq!(telemetry.stats().bans, 1);
        let err = t.admit(ip, &telemetry).unwrap_err().to_string();
        assert!(err.contains("failed logins"), "{err}");
        std::thread::sleep(Duration::from_millis(250));
        t.admit(ip, &telemetry).unwrap().succeeded();
    }

    #[test]
    fn undecided_and_successful_logins_are_not_failures() {
        let t = throttle(1000, 2);
        let telemetry = Telemetry::default();
        let ip = IpAddr::from([192, 0, 2, 1]);
        for _ in 0..10 {
            drop(t.admit(ip, &telemetry).unwrap());
            t.admit(ip, &telemetry).unwrap().succeeded();
        }
        assert_eq!(telemetry.stats().bans, 0);
        t.sweep();
        assert!(t.records.lock().unwrap().is_empty());
    }

    #[test]
    fn the_rate_is_per_address() {
        let t = throttle(3, 100);
        let telemetry = Telemetry::default();
        let ip = IpAddr::from([192, 0, 2, 1]);
        for _ in 0..3 {
            t.admit(ip, &telemetry).unwrap().succeeded();
        }
        match t.admit(ip, &telemetry).unwrap_err() {
            WebError::TooManyRequests { retry_after, .. } => assert!((1..=20).contains(&retry_after), "{retry_after}"),
            other => panic!("{other:?}"),
        }
        t.admit(IpAddr::from([192, 0, 2, 9]), &telemetry).unwrap().succeeded();
        assert_eq!(telemetry.stats().logins_throttled, 1);
    }
}
