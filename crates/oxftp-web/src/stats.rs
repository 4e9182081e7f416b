//! What the gateway refused or cut off: counted, and logged without flooding.
//!
//! A flood of refusals is exactly when logging every one would hurt (disk,
//! the log pipeline), so each kind is logged the first time and then at most
//! once per [`LOG_EVERY`], with how many happened since the last line.
//! [`WebStats`] is the running total of each kind.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use slog::{Logger, info, warn};

/// Least time between two log lines about the same kind of refusal.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// What the gateway holds now, and running totals of what it refused or cut
/// off since it started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WebStats {
    /// Browser connections open now (TLS handshakes included).
    pub connections_open: usize,
    /// Sessions held now (expired ones count until swept or used).
    pub sessions: usize,
    /// FTP connections sessions hold open and are not using right now.
    pub idle_ftp_connections: usize,
    /// Connections closed on arrival because `max_connections` were open.
    pub connections_refused: u64,
    /// Connections closed on arrival because their address had
    /// `max_connections_per_ip` open.
    pub connections_refused_per_ip: u64,
    /// Connections closed because a request head did not arrive in time.
    pub header_timeouts: u64,
    /// Requests refused because their `Host` is not an allowed host name.
    pub unknown_hosts: u64,
    /// Uploads refused because a part's headers were longer than allowed.
    pub oversized_part_headers: u64,
    /// Logins refused because `max_sessions` sessions existed.
    pub sessions_refused: u64,
    /// Logins refused because their address had `max_sessions_per_ip` sessions.
    pub sessions_refused_per_ip: u64,
    /// Sessions ended because their account logged in once more than
    /// `max_sessions_per_user` allows.
    pub sessions_evicted: u64,
    /// Login attempts refused by the per-address rate limit.
    pub logins_throttled: u64,
    /// Login attempts refused because the address is banned.
    pub logins_banned: u64,
    /// Addresses banned after too many failed logins.
    pub bans: u64,
    /// HTTP requests received (every route, the preview listener's too).
    pub requests: u64,
}

/// One kind of refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    ConnectionsFull,
    ConnectionsPerIp,
    HeaderTimeout,
    UnknownHost,
    PartHeaderTooLarge,
    SessionsFull,
    SessionsPerIp,
    SessionEvicted,
    LoginThrottled,
    LoginBanned,
    Banned,
}

const KINDS: usize = 11;

impl Refusal {
    fn index(self) -> usize {
        self as usize
    }

    /// The log message; capacity refusals are warnings (an operator may
    /// need to raise a limit, or is under attack), the rest informational.
    fn describe(self) -> (&'static str, bool) {
        match self {
            Refusal::ConnectionsFull => ("web client: connection refused, max_connections reached", true),
            Refusal::ConnectionsPerIp => ("web client: connection refused, max_connections_per_ip reached", true),
            Refusal::HeaderTimeout => ("web client: connection closed, request head not received in time", false),
            Refusal::UnknownHost => ("web client: request refused, Host is not in allowed_hosts", false),
            Refusal::PartHeaderTooLarge => ("web client: upload refused, part headers over max_part_header", false),
            Refusal::SessionsFull => ("web client: login refused, max_sessions reached", true),
            Refusal::SessionsPerIp => ("web client: login refused, max_sessions_per_ip reached", true),
            Refusal::SessionEvicted => ("web client: session ended, its account reached max_sessions_per_user", false),
            Refusal::LoginThrottled => ("web client: login refused, too many attempts from the address", true),
            Refusal::LoginBanned => ("web client: login refused, the address is banned", false),
            Refusal::Banned => ("web client: address banned after failed logins", true),
        }
    }
}

/// The counters and the logger they report to.
#[derive(Debug)]
pub(crate) struct Telemetry {
    logger: RwLock<Logger>,
    counts: [AtomicU64; KINDS],
    /// Requests received.
    requests: AtomicU64,
    /// Per kind: when it was last logged and the count at that time.
    logged: Mutex<[(Option<Instant>, u64); KINDS]>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            logger: RwLock::new(Logger::root(slog::Discard, slog::o!())),
            counts: Default::default(),
            requests: AtomicU64::new(0),
            logged: Mutex::new([(None, 0); KINDS]),
        }
    }
}

impl Telemetry {
    /// Log to `logger` from now on.
    pub(crate) fn set_logger(&self, logger: Logger) {
        if let Ok(mut l) = self.logger.write() {
            *l = logger;
        }
    }

    /// The current logger.
    pub(crate) fn logger(&self) -> Logger {
        self.logger.read().map(|l| l.clone()).unwrap_or_else(|_| Logger::root(slog::Discard, slog::o!()))
    }

    /// Count one `what` concerning `client`, and log it unless that kind was
    /// logged less than [`LOG_EVERY`] ago.
    pub(crate) fn refused(&self, what: Refusal, client: IpAddr) {
        let i = what.index();
        let total = self.counts[i].fetch_add(1, Ordering::Relaxed) + 1;
        let since = {
            let Ok(mut logged) = self.logged.lock() else { return };
            let (last, at_count) = &mut logged[i];
            let now = Instant::now();
            if last.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
                return;
            }
            let since = total - *at_count;
            *last = Some(now);
            *at_count = total;
            since
        };
        let (message, warning) = what.describe();
        let logger = self.logger();
        if warning {
            warn!(logger, "{}", message; "client" => %client, "count" => since, "total" => total);
        } else {
            info!(logger, "{}", message; "client" => %client, "count" => since, "total" => total);
        }
    }

    /// Count one request.
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot of the totals (the current values are the caller's to fill in).
    pub(crate) fn stats(&self) -> WebStats {
        let c = |r: Refusal| self.counts[r.index()].load(Ordering::Relaxed);
        WebStats {
            connections_open: 0,
            sessions: 0,
            idle_ftp_connections: 0,
            connections_refused: c(Refusal::ConnectionsFull),
            connections_refused_per_ip: c(Refusal::ConnectionsPerIp),
            header_timeouts: c(Refusal::HeaderTimeout),
            unknown_hosts: c(Refusal::UnknownHost),
            oversized_part_headers: c(Refusal::PartHeaderTooLarge),
            sessions_refused: c(Refusal::SessionsFull),
            sessions_refused_per_ip: c(Refusal::SessionsPerIp),
            sessions_evicted: c(Refusal::SessionEvicted),
            logins_throttled: c(Refusal::LoginThrottled),
            logins_banned: c(Refusal::LoginBanned),
            bans: c(Refusal::Banned),
            requests: self.requests.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<Mutex<Vec<String>>>);

    impl slog::Drain for Lines {
        type Ok = ();
        type Err = slog::Never;
        fn log(&self, record: &slog::Record<'_>, _: &slog::OwnedKVList) -> Result<(), slog::Never> {
            if let Ok(mut v) = self.0.lock() {
                v.push(record.msg().to_string());
            }
            Ok(())
        }
    }

    #[test]
    fn a_flood_is_counted_in_full_and_logged_once() {
        let t = Telemetry::default();
        let lines = Lines::default();
        t.set_logger(Logger::root(lines.clone(), slog::o!()));
        let ip = IpAddr::from([127, 0, 0, 1]);
        for _ in 0..1000 {
            t.refused(Refusal::ConnectionsFull, ip);
        }
        t.refused(Refusal::Banned, ip);
        let stats = t.stats();
        assert_eq!((stats.connections_refused, stats.bans, stats.header_timeouts), (1000, 1, 0));
        let logged = lines.0.lock().unwrap().clone();
        assert_eq!(logged.len(), 2, "{logged:?}");
        assert!(logged[0].contains("max_connections reached"), "{logged:?}");
    }
}
