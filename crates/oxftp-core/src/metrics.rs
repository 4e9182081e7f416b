//! What the engine counts, in one Prometheus registry.
//!
//! [`Metrics::new`] registers every family under the `oxftp_` prefix in a
//! registry the embedder owns (oxftpd serves it on its admin listener), so
//! other front ends and backends can register theirs next to it. Label
//! values come from small fixed sets (verbs, reply classes, outcomes) or
//! from the configuration (listener addresses); user names appear only in
//! the `oxftp_user_*` families, which exist only when per-user metrics are
//! asked for, because every account then adds series to every scrape.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The prefix of every family the engine registers.
pub const PREFIX: &str = "oxftp";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SessionLabels {
    /// The listener's local address.
    listener: String,
    /// "none", "explicit" or "implicit".
    tls: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    /// "ok" or "failed".
    outcome: &'static str,
    /// Why a login failed (see [`LoginRefusal::name`]); "none" for "ok".
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    verb: &'static str,
    /// "1xx" .. "5xx".
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransferLabels {
    /// "upload", "download" or "listing".
    kind: &'static str,
    /// "completed", "failed" or "aborted".
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    /// "in" (uploads) or "out" (downloads and listings).
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TlsLabels {
    /// "control" or "data".
    channel: &'static str,
    /// "ok" or "failed".
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StorageLabels {
    backend: String,
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StorageErrorLabels {
    backend: String,
    op: &'static str,
    /// The error's kind (see `StorageError::kind_name`).
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UserLabels {
    user: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UserTransferLabels {
    user: String,
    kind: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UserDirectionLabels {
    user: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// Why a login was refused, as the `reason` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// The password (or certificate) did not match.
    BadPassword,
    /// No such account.
    UnknownUser,
    /// The account is disabled or expired.
    Disabled,
    /// The account may not log in from here, now, or this way.
    NotAllowed,
    /// The client's address is banned after failed logins.
    Banned,
    /// The client's address is not allowed by the server's IP rules.
    IpRefused,
    /// The login needs TLS and the connection has none.
    TlsRequired,
    /// The account already has its most sessions.
    TooManySessions,
    /// The authentication backend failed.
    BackendError,
}

impl LoginRefusal {
    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            LoginRefusal::BadPassword => "bad_password",
            LoginRefusal::UnknownUser => "unknown_user",
            LoginRefusal::Disabled => "disabled",
            LoginRefusal::NotAllowed => "not_allowed",
            LoginRefusal::Banned => "banned",
            LoginRefusal::IpRefused => "ip_refused",
            LoginRefusal::TlsRequired => "tls_required",
            LoginRefusal::TooManySessions => "too_many_sessions",
            LoginRefusal::BackendError => "backend_error",
        }
    }
}

/// The engine's metric families. Cheap to clone (every family is shared).
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Families>,
}

#[derive(Debug)]
struct Families {
    sessions_open: Family<SessionLabels, Gauge>,
    sessions: Family<SessionLabels, Counter>,
    logins: Family<LoginLabels, Counter>,
    commands: Family<CommandLabels, Counter>,
    transfers: Family<TransferLabels, Counter>,
    transfer_bytes: Family<DirectionLabels, Counter>,
    transfer_seconds: Family<KindLabels, Histogram>,
    passive_ports_in_use: Gauge,
    bans_active: Gauge,
    tls_handshakes: Family<TlsLabels, Counter>,
    storage_operations: Family<StorageLabels, Counter>,
    storage_errors: Family<StorageErrorLabels, Counter>,
    storage_seconds: Family<StorageLabels, Histogram>,
    accept_errors: Counter,
    per_user: Option<PerUser>,
}

#[derive(Debug)]
struct PerUser {
    logins: Family<UserLabels, Counter>,
    transfers: Family<UserTransferLabels, Counter>,
    bytes: Family<UserDirectionLabels, Counter>,
}

fn seconds_histogram() -> Histogram {
    // 1 ms .. ~16 min: a small file's RETR to a multi-GiB upload.
    Histogram::new(exponential_buckets(0.001, 4.0, 11))
}

impl Metrics {
    /// Registers the engine's families in `registry` under `oxftp_`. With
    /// `per_user`, the `oxftp_user_*` families too: one series per account
    /// and label combination, so only for a bounded number of accounts.
    pub fn new(registry: &mut Registry, per_user: bool) -> Metrics {
        let r = registry.sub_registry_with_prefix(PREFIX);
        let families = Families {
            sessions_open: Family::default(),
            sessions: Family::default(),
            logins: Family::default(),
            commands: Family::default(),
            transfers: Family::default(),
            transfer_bytes: Family::default(),
            transfer_seconds: Family::new_with_constructor(seconds_histogram),
            passive_ports_in_use: Gauge::default(),
            bans_active: Gauge::default(),
            tls_handshakes: Family::default(),
            storage_operations: Family::default(),
            storage_errors: Family::default(),
            storage_seconds: Family::new_with_constructor(seconds_histogram),
            accept_errors: Counter::default(),
            per_user: per_user.then(|| PerUser {
                logins: Family::default(),
                transfers: Family::default(),
                bytes: Family::default(),
            }),
        };
        let f = &families;
        r.register("sessions_open", "Control connections open now", f.sessions_open.clone());
        r.register("sessions", "Control connections accepted", f.sessions.clone());
        r.register("logins", "Login attempts by outcome and reason", f.logins.clone());
        r.register("commands", "Commands answered, by verb and reply class", f.commands.clone());
        r.register("transfers", "Data transfers by kind and outcome", f.transfers.clone());
        r.register("transfer_bytes", "Bytes moved on data connections", f.transfer_bytes.clone());
        r.register("transfer_duration_seconds", "How long data transfers took", f.transfer_seconds.clone());
        r.register("passive_ports_in_use", "Passive data ports listening now", f.passive_ports_in_use.clone());
        r.register("bans_active", "Client addresses and accounts banned now", f.bans_active.clone());
        r.register("tls_handshakes", "TLS handshakes by channel and outcome", f.tls_handshakes.clone());
        r.register("storage_operations", "Storage operations by backend and operation", f.storage_operations.clone());
        r.register("storage_errors", "Storage operations that failed, by error kind", f.storage_errors.clone());
        r.register("storage_operation_seconds", "How long storage operations took", f.storage_seconds.clone());
        r.register("accept_errors", "Connections the listener failed to accept", f.accept_errors.clone());
        let build: Family<BuildLabels, Gauge> = Family::default();
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION") }).set(1);
        r.register("build_info", "The engine's version (value 1)", build);
        if let Some(u) = &f.per_user {
            r.register("user_logins", "Logins per account and outcome", u.logins.clone());
            r.register("user_transfers", "Transfers per account, kind and outcome", u.transfers.clone());
            r.register("user_transfer_bytes", "Bytes per account and direction", u.bytes.clone());
        }
        Metrics { inner: Arc::new(families) }
    }

    /// Metrics that go nowhere (a registry of their own), for servers that
    /// do not export any.
    pub fn unregistered() -> Metrics {
        Metrics::new(&mut Registry::default(), false)
    }

    /// A control connection was accepted on `listener`; the gauge of open
    /// sessions goes down when the guard is dropped.
    pub fn session_opened(&self, listener: &str, tls: &'static str) -> SessionGauge {
        let labels = SessionLabels { listener: listener.to_string(), tls };
        self.inner.sessions.get_or_create(&labels).inc();
        self.inner.sessions_open.get_or_create(&labels).inc();
        SessionGauge { metrics: self.clone(), labels }
    }

    /// A login succeeded (`None`) or was refused.
    pub fn login(&self, user: &str, refusal: Option<LoginRefusal>) {
        let (outcome, reason) = match refusal {
            None => ("ok", "none"),
            Some(r) => ("failed", r.name()),
        };
        self.inner.logins.get_or_create(&LoginLabels { outcome, reason }).inc();
        if let Some(u) = &self.inner.per_user
            && refusal.is_none_or(|r| r != LoginRefusal::UnknownUser)
        {
            // Unknown names would let any client add series: not counted per user.
            u.logins.get_or_create(&UserLabels { user: user.to_string() }).inc();
        }
    }

    /// A command got a reply with `code`.
    pub fn command(&self, verb: &'static str, code: u16) {
        let class = match code / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        };
        self.inner.commands.get_or_create(&CommandLabels { verb, class }).inc();
    }

    /// A transfer ended.
    pub fn transfer(&self, user: &str, kind: &'static str, outcome: &'static str, bytes: u64, elapsed: Duration) {
        let f = &self.inner;
        f.transfers.get_or_create(&TransferLabels { kind, outcome }).inc();
        let direction = if kind == "upload" { "in" } else { "out" };
        f.transfer_bytes.get_or_create(&DirectionLabels { direction }).inc_by(bytes);
        f.transfer_seconds.get_or_create(&KindLabels { kind }).observe(elapsed.as_secs_f64());
        if let Some(u) = &f.per_user {
            let user = user.to_string();
            u.transfers.get_or_create(&UserTransferLabels { user: user.clone(), kind, outcome }).inc();
            u.bytes.get_or_create(&UserDirectionLabels { user, direction }).inc_by(bytes);
        }
    }

    /// A TLS handshake on the control or a data connection ended.
    pub fn tls_handshake(&self, channel: &'static str, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.inner.tls_handshakes.get_or_create(&TlsLabels { channel, outcome }).inc();
    }

    /// A passive listener opened; the gauge goes down when the guard drops.
    pub fn passive_port_opened(&self) -> PassivePortGauge {
        self.inner.passive_ports_in_use.inc();
        PassivePortGauge { metrics: self.clone() }
    }

    /// Sets the number of active bans.
    pub fn set_bans_active(&self, bans: usize) {
        self.inner.bans_active.set(bans as i64);
    }

    /// The listener failed to accept a connection (e.g. out of descriptors).
    pub fn accept_error(&self) {
        self.inner.accept_errors.inc();
    }

    /// A storage operation ended; `error` is the error's kind if it failed.
    pub fn storage_operation(&self, backend: &str, op: &'static str, elapsed: Duration, error: Option<&'static str>) {
        let labels = StorageLabels { backend: backend.to_string(), op };
        let f = &self.inner;
        f.storage_operations.get_or_create(&labels).inc();
        f.storage_seconds.get_or_create(&labels).observe(elapsed.as_secs_f64());
        if let Some(kind) = error {
            f.storage_errors.get_or_create(&StorageErrorLabels { backend: labels.backend, op, kind }).inc();
        }
    }
}

/// Keeps a session counted as open.
#[derive(Debug)]
pub struct SessionGauge {
    metrics: Metrics,
    labels: SessionLabels,
}

impl Drop for SessionGauge {
    fn drop(&mut self) {
        self.metrics.inner.sessions_open.get_or_create(&self.labels).dec();
    }
}

/// Keeps a passive port counted as in use.
#[derive(Debug)]
pub struct PassivePortGauge {
    metrics: Metrics,
}

impl Drop for PassivePortGauge {
    fn drop(&mut self) {
        self.metrics.inner.passive_ports_in_use.dec();
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    fn text(registry: &Registry) -> String {
        let mut out = String::new();
        encode(&mut out, registry).unwrap();
        out
    }

    #[test]
    fn families_render_with_their_labels() {
        let mut registry = Registry::default();
        let m = Metrics::new(&mut registry, false);
        let session = m.session_opened("127.0.0.1:21", "explicit");
        m.login("alice", None);
        m.login("mallory", Some(LoginRefusal::BadPassword));
        m.command("RETR", 226);
        m.command("RETR", 550);
        m.transfer("alice", "download", "completed", 4096, Duration::from_millis(3));
        let port = m.passive_port_opened();
        m.storage_operation("fs", "metadata", Duration::from_micros(40), Some("not_found"));
        let t = text(&registry);
        for line in [
            "oxftp_sessions_open{listener=\"127.0.0.1:21\",tls=\"explicit\"} 1",
            "oxftp_sessions_total{listener=\"127.0.0.1:21\",tls=\"explicit\"} 1",
            "oxftp_logins_total{outcome=\"ok\",reason=\"none\"} 1",
            "oxftp_logins_total{outcome=\"failed\",reason=\"bad_password\"} 1",
            "oxftp_commands_total{verb=\"RETR\",class=\"2xx\"} 1",
            "oxftp_commands_total{verb=\"RETR\",class=\"5xx\"} 1",
            "oxftp_transfers_total{kind=\"download\",outcome=\"completed\"} 1",
            "oxftp_transfer_bytes_total{direction=\"out\"} 4096",
            "oxftp_passive_ports_in_use 1",
            "oxftp_storage_errors_total{backend=\"fs\",op=\"metadata\",kind=\"not_found\"} 1",
        ] {
            assert!(t.contains(line), "missing {line:?} in\n{t}");
        }
        assert!(t.contains("oxftp_build_info{version="), "{t}");
        assert!(!t.contains("user=\"alice\""), "no per-user series unless asked for");
        drop(session);
        drop(port);
        let t = text(&registry);
        assert!(t.contains("oxftp_sessions_open{listener=\"127.0.0.1:21\",tls=\"explicit\"} 0"), "{t}");
        assert!(t.contains("oxftp_passive_ports_in_use 0"), "{t}");
    }

    #[test]
    fn per_user_series_only_when_asked_and_never_for_unknown_names() {
        let mut registry = Registry::default();
        let m = Metrics::new(&mut registry, true);
        m.login("alice", None);
        m.login("no-such-user-1", Some(LoginRefusal::UnknownUser));
        m.transfer("alice", "upload", "completed", 10, Duration::from_millis(1));
        let t = text(&registry);
        assert!(t.contains("oxftp_user_logins_total{user=\"alice\"} 1"), "{t}");
        assert!(t.contains("oxftp_user_transfer_bytes_total{user=\"alice\",direction=\"in\"} 10"), "{t}");
        assert!(!t.contains("no-such-user-1"), "{t}");
    }
}
