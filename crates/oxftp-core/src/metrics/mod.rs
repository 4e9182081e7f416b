//! What the engine counts, in one Prometheus registry.
//!
//! [`Metrics::new`] registers every family under the `oxftp_` prefix in a
//! registry the embedder owns (oxftpd serves it on its admin listener), so
//! other front ends and backends can register theirs next to it. Label
//! values come from small fixed sets (verbs, reply classes, outcomes) or
//! from the configuration (listener addresses, the backend's name); user
//! names appear only in the `oxftp_user_*` families, which exist only when
//! per-user metrics are asked for, because every account then adds series
//! to every scrape.
//!
//! The hot path takes no lock: every series a session records into is
//! looked up once (when the registry is made, when a listener starts, at
//! login, or the first time a verb is seen) and kept as a handle to its
//! atomic counter. A server without metrics (`Options::metrics` = `None`)
//! records nothing at all.

mod atomic;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use oxftp_proto::command::Verb;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use atomic::{AtomicHistogram, Source, SourceGauge};
/// The Prometheus client the registry comes from, so embedders use the same version.
pub use prometheus_client;

use crate::storage::ErrorKind;

/// The prefix of every family the engine registers.
pub const PREFIX: &str = "oxftp";

/// Upper bounds of the duration histograms, in seconds: 1 ms .. ~17 min
/// (a small file's RETR to a multi-GiB upload), ×4 per bucket.
fn seconds_buckets() -> impl Iterator<Item = f64> {
    (0..11).map(|i| 0.001 * 4f64.powi(i))
}

fn seconds_histogram() -> AtomicHistogram {
    AtomicHistogram::new(seconds_buckets())
}

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
    /// The error's kind (see [`ErrorKind::name`]).
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
    /// The client's address (or the account) is banned after failed logins.
    Banned,
    /// The client's address is not allowed by the server's IP rules.
    IpRefused,
    /// The login needs TLS and the connection has none.
    TlsRequired,
    /// The account already has its most sessions.
    TooManySessions,
    /// The authentication backend failed.
    BackendError,
    /// The account's storage could not be opened (a missing home, an
    /// object store that does not answer).
    StorageUnavailable,
    /// An event sink is full and refuses what it would have to record.
    EventsRefused,
}

impl LoginRefusal {
    /// Every reason, in a stable order.
    pub const ALL: [LoginRefusal; 11] = [
        LoginRefusal::BadPassword,
        LoginRefusal::UnknownUser,
        LoginRefusal::Disabled,
        LoginRefusal::NotAllowed,
        LoginRefusal::Banned,
        LoginRefusal::IpRefused,
        LoginRefusal::TlsRequired,
        LoginRefusal::TooManySessions,
        LoginRefusal::BackendError,
        LoginRefusal::StorageUnavailable,
        LoginRefusal::EventsRefused,
    ];

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
            LoginRefusal::StorageUnavailable => "storage_unavailable",
            LoginRefusal::EventsRefused => "events_refused",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The TLS state of a control connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionTls {
    /// Plaintext (before AUTH TLS, or after CCC).
    None,
    /// Upgraded with AUTH TLS.
    Explicit,
    /// TLS from the first byte (an implicit FTPS listener).
    Implicit,
    /// An SSH transport (the SFTP front end): encrypted from the key exchange on.
    Ssh,
}

impl SessionTls {
    const ALL: [SessionTls; 4] = [SessionTls::None, SessionTls::Explicit, SessionTls::Implicit, SessionTls::Ssh];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            SessionTls::None => "none",
            SessionTls::Explicit => "explicit",
            SessionTls::Implicit => "implicit",
            SessionTls::Ssh => "ssh",
        }
    }
}

/// What a transfer moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// STOR, STOU, APPE.
    Upload,
    /// RETR.
    Download,
    /// LIST, NLST, MLSD.
    Listing,
}

impl TransferKind {
    const ALL: [TransferKind; 3] = [TransferKind::Upload, TransferKind::Download, TransferKind::Listing];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            TransferKind::Upload => "upload",
            TransferKind::Download => "download",
            TransferKind::Listing => "listing",
        }
    }

    fn direction(self) -> Direction {
        if self == TransferKind::Upload { Direction::In } else { Direction::Out }
    }
}

impl From<crate::events::TransferKind> for TransferKind {
    fn from(kind: crate::events::TransferKind) -> Self {
        match kind {
            crate::events::TransferKind::Download => TransferKind::Download,
            crate::events::TransferKind::Upload => TransferKind::Upload,
            crate::events::TransferKind::Listing => TransferKind::Listing,
        }
    }
}

/// How a transfer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferOutcome {
    /// All bytes moved (an upload is in place).
    Completed,
    /// The data connection or the storage failed.
    Failed,
    /// ABOR, or the session ended.
    Aborted,
}

impl TransferOutcome {
    const ALL: [TransferOutcome; 3] = [TransferOutcome::Completed, TransferOutcome::Failed, TransferOutcome::Aborted];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            TransferOutcome::Completed => "completed",
            TransferOutcome::Failed => "failed",
            TransferOutcome::Aborted => "aborted",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    In,
    Out,
}

impl Direction {
    const ALL: [Direction; 2] = [Direction::In, Direction::Out];

    fn name(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// Which connection a TLS handshake was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsChannel {
    /// The control connection (AUTH TLS, implicit FTPS).
    Control,
    /// A data connection (PROT P).
    Data,
}

impl TlsChannel {
    const ALL: [TlsChannel; 2] = [TlsChannel::Control, TlsChannel::Data];

    fn name(self) -> &'static str {
        match self {
            TlsChannel::Control => "control",
            TlsChannel::Data => "data",
        }
    }
}

/// A storage operation, as the `op` label of the storage families says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageOp {
    Metadata,
    List,
    OpenRead,
    OpenWrite,
    /// An upload made visible under its final name.
    Commit,
    Delete,
    Mkdir,
    Rmdir,
    Rename,
    SetMode,
    SetMtime,
}

impl StorageOp {
    /// Every operation, in a stable order.
    pub const ALL: [StorageOp; 11] = [
        StorageOp::Metadata,
        StorageOp::List,
        StorageOp::OpenRead,
        StorageOp::OpenWrite,
        StorageOp::Commit,
        StorageOp::Delete,
        StorageOp::Mkdir,
        StorageOp::Rmdir,
        StorageOp::Rename,
        StorageOp::SetMode,
        StorageOp::SetMtime,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            StorageOp::Metadata => "metadata",
            StorageOp::List => "list",
            StorageOp::OpenRead => "open_read",
            StorageOp::OpenWrite => "open_write",
            StorageOp::Commit => "commit",
            StorageOp::Delete => "delete",
            StorageOp::Mkdir => "mkdir",
            StorageOp::Rmdir => "rmdir",
            StorageOp::Rename => "rename",
            StorageOp::SetMode => "set_mode",
            StorageOp::SetMtime => "set_mtime",
        }
    }
}

/// The `verb` label of a line that did not parse as a command.
const INVALID_VERB: &str = "invalid";

/// Reply classes, 1xx to 5xx.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn class_index(code: u16) -> usize {
    match code / 100 {
        1 => 0,
        2 => 1,
        3 => 2,
        4 => 3,
        _ => 4,
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
    /// Index 0: "ok"; then one per [`LoginRefusal`], by its index.
    logins: Vec<Counter>,
    commands: Family<CommandLabels, Counter>,
    /// One row per verb of [`Verb::ALL`], and a last one for lines that did
    /// not parse; filled on first use.
    command_handles: Vec<[OnceLock<Counter>; 5]>,
    /// By [`TransferKind`], then [`TransferOutcome`].
    transfers: [[Counter; 3]; 3],
    /// By [`Direction`].
    transfer_bytes: [Counter; 2],
    /// By [`TransferKind`].
    transfer_seconds: [AtomicHistogram; 3],
    passive_ports_in_use: Gauge,
    bans_active: SourceGauge,
    /// By [`TlsChannel`], then ok / failed.
    tls_handshakes: [[Counter; 2]; 2],
    storage_operations: Family<StorageLabels, Counter>,
    storage_errors: Family<StorageErrorLabels, Counter>,
    storage_seconds: Family<StorageLabels, AtomicHistogram, fn() -> AtomicHistogram>,
    accept_errors: Counter,
    per_user: Option<PerUser>,
}

#[derive(Debug)]
struct PerUser {
    logins: Family<UserLabels, Counter>,
    transfers: Family<UserTransferLabels, Counter>,
    bytes: Family<UserDirectionLabels, Counter>,
}

impl Metrics {
    /// Registers the engine's families in `registry` under `oxftp_`. With
    /// `per_user`, the `oxftp_user_*` families too: one series per account
    /// and label combination, so only for a bounded number of accounts.
    pub fn new(registry: &mut Registry, per_user: bool) -> Metrics {
        let logins_family: Family<LoginLabels, Counter> = Family::default();
        let mut logins = vec![logins_family.get_or_create_owned(&LoginLabels { outcome: "ok", reason: "none" })];
        for refusal in LoginRefusal::ALL {
            logins.push(logins_family.get_or_create_owned(&LoginLabels { outcome: "failed", reason: refusal.name() }));
        }
        let transfers_family: Family<TransferLabels, Counter> = Family::default();
        let transfers = TransferKind::ALL.map(|kind| {
            TransferOutcome::ALL.map(|outcome| {
                transfers_family.get_or_create_owned(&TransferLabels { kind: kind.name(), outcome: outcome.name() })
            })
        });
        let bytes_family: Family<DirectionLabels, Counter> = Family::default();
        let transfer_bytes =
            Direction::ALL.map(|d| bytes_family.get_or_create_owned(&DirectionLabels { direction: d.name() }));
        let seconds_family: Family<KindLabels, AtomicHistogram, fn() -> AtomicHistogram> =
            Family::new_with_constructor(seconds_histogram);
        let transfer_seconds =
            TransferKind::ALL.map(|k| seconds_family.get_or_create_owned(&KindLabels { kind: k.name() }));
        let tls_family: Family<TlsLabels, Counter> = Family::default();
        let tls_handshakes = TlsChannel::ALL.map(|channel| {
            ["ok", "failed"]
                .map(|outcome| tls_family.get_or_create_owned(&TlsLabels { channel: channel.name(), outcome }))
        });
        let families = Families {
            sessions_open: Family::default(),
            sessions: Family::default(),
            logins,
            commands: Family::default(),
            command_handles: (0..=Verb::ALL.len()).map(|_| Default::default()).collect(),
            transfers,
            transfer_bytes,
            transfer_seconds,
            passive_ports_in_use: Gauge::default(),
            bans_active: SourceGauge::default(),
            tls_handshakes,
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
        let r = registry.sub_registry_with_prefix(PREFIX);
        r.register("sessions_open", "Control connections open now, by listener and TLS state", f.sessions_open.clone());
        r.register("sessions", "Control connections accepted, by listener and TLS state at accept", f.sessions.clone());
        r.register("logins", "Login attempts by outcome and reason", logins_family);
        r.register("commands", "Commands answered, by verb and final reply class", f.commands.clone());
        r.register("transfers", "Data transfers by kind and outcome", transfers_family);
        r.register("transfer_bytes", "Bytes moved on data connections", bytes_family);
        r.register("transfer_duration_seconds", "How long data transfers took", seconds_family);
        r.register("passive_ports_in_use", "Passive data ports listening now", f.passive_ports_in_use.clone());
        r.register("bans_active", "Client addresses and accounts banned now", f.bans_active.clone());
        r.register("tls_handshakes", "TLS handshakes by channel and outcome", tls_family);
        r.register("storage_operations", "Storage operations by backend and operation", f.storage_operations.clone());
        r.register("storage_errors", "Storage operations that failed, by error kind", f.storage_errors.clone());
        r.register("storage_operation_seconds", "How long storage operations took", f.storage_seconds.clone());
        r.register("accept_errors", "Connections the listeners failed to accept", f.accept_errors.clone());
        let build: Family<BuildLabels, Gauge> = Family::default();
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION") }).set(1);
        r.register("build_info", "The engine's version (value 1)", build);
        if let Some(u) = &f.per_user {
            r.register("user_logins", "Logins per account (accounts known to exist only)", u.logins.clone());
            r.register("user_transfers", "Transfers per account, kind and outcome", u.transfers.clone());
            r.register("user_transfer_bytes", "Bytes per account and direction", u.bytes.clone());
        }
        Metrics { inner: Arc::new(families) }
    }

    /// Metrics that go nowhere (a registry of their own), for tests.
    pub fn unregistered() -> Metrics {
        Metrics::new(&mut Registry::default(), false)
    }

    /// The session series of one listener (its local address as the label).
    pub fn listener(&self, address: &str) -> ListenerMetrics {
        let series = SessionTls::ALL.map(|tls| {
            let labels = SessionLabels { listener: address.to_string(), tls: tls.name() };
            (self.inner.sessions.get_or_create_owned(&labels), self.inner.sessions_open.get_or_create_owned(&labels))
        });
        ListenerMetrics { series: Arc::new(series) }
    }

    /// A login succeeded (`None`) or was refused. `user` is the account,
    /// counted per account (with per-user metrics on): pass it only when
    /// the account is known to exist (the authenticator said who it is),
    /// and an empty name otherwise, so clients cannot add series at will
    /// by trying names. An unknown-user refusal is never counted per account.
    pub fn login(&self, user: &str, refusal: Option<LoginRefusal>) {
        let index = refusal.map_or(0, |r| r.index() + 1);
        self.inner.logins[index].inc();
        if let Some(u) = &self.inner.per_user
            && !user.is_empty()
            && refusal.is_none_or(|r| r != LoginRefusal::UnknownUser)
        {
            u.logins.get_or_create(&UserLabels { user: user.to_string() }).inc();
        }
    }

    /// The per-account transfer series of `user`, looked up once at login;
    /// `None` unless per-user metrics are on.
    pub fn user(&self, user: &str) -> Option<UserMetrics> {
        let u = self.inner.per_user.as_ref()?;
        let transfers = TransferKind::ALL.map(|kind| {
            TransferOutcome::ALL.map(|outcome| {
                let labels = UserTransferLabels { user: user.to_string(), kind: kind.name(), outcome: outcome.name() };
                u.transfers.get_or_create_owned(&labels)
            })
        });
        let bytes = Direction::ALL
            .map(|d| u.bytes.get_or_create_owned(&UserDirectionLabels { user: user.to_string(), direction: d.name() }));
        Some(UserMetrics { transfers, bytes })
    }

    /// A command (`None`: a line that did not parse) got a final reply with `code`.
    pub fn command(&self, verb: Option<Verb>, code: u16) {
        let row = verb.map_or(Verb::ALL.len(), |v| v as usize);
        let class = class_index(code);
        let Some(handles) = self.inner.command_handles.get(row) else { return };
        let counter = handles[class].get_or_init(|| {
            let labels = CommandLabels { verb: verb.map_or(INVALID_VERB, Verb::name), class: CLASSES[class] };
            self.inner.commands.get_or_create_owned(&labels)
        });
        counter.inc();
    }

    /// A transfer ended; `user` is its account's series, if per-user metrics are on.
    pub fn transfer(
        &self,
        kind: TransferKind,
        outcome: TransferOutcome,
        bytes: u64,
        elapsed: Duration,
        user: Option<&UserMetrics>,
    ) {
        let f = &self.inner;
        let (k, o, d) = (kind as usize, outcome as usize, kind.direction() as usize);
        f.transfers[k][o].inc();
        f.transfer_bytes[d].inc_by(bytes);
        f.transfer_seconds[k].observe(elapsed.as_secs_f64());
        if let Some(user) = user {
            user.transfers[k][o].inc();
            user.bytes[d].inc_by(bytes);
        }
    }

    /// A TLS handshake on the control or a data connection ended.
    pub fn tls_handshake(&self, channel: TlsChannel, ok: bool) {
        self.inner.tls_handshakes[channel as usize][usize::from(!ok)].inc();
    }

    /// A passive listener opened; the gauge goes down when the guard drops.
    pub fn passive_port_opened(&self) -> PassivePortGauge {
        self.inner.passive_ports_in_use.inc();
        PassivePortGauge { gauge: self.inner.passive_ports_in_use.clone() }
    }

    /// Adds a source of active bans (a server's ban table); the gauge sums
    /// its sources when scraped, so bans that expire leave it on their own.
    pub fn add_bans_source(&self, source: Source) {
        self.inner.bans_active.add(source);
    }

    /// A listener failed to accept a connection (e.g. out of descriptors).
    pub fn accept_error(&self) {
        self.inner.accept_errors.inc();
    }

    /// The storage series of backend `backend` (e.g. "fs", "s3").
    pub fn storage(&self, backend: &str) -> StorageMetrics {
        let ops = StorageOp::ALL.map(|op| {
            let labels = StorageLabels { backend: backend.to_string(), op: op.name() };
            OpSeries {
                count: self.inner.storage_operations.get_or_create_owned(&labels),
                seconds: self.inner.storage_seconds.get_or_create_owned(&labels),
                errors: Default::default(),
            }
        });
        StorageMetrics { metrics: self.clone(), backend: backend.into(), ops: Arc::new(ops) }
    }
}

/// The session series of one listener. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ListenerMetrics {
    /// (accepted, open) by [`SessionTls`].
    series: Arc<[(Counter, Gauge); 4]>,
}

impl ListenerMetrics {
    /// A connection was accepted in TLS state `tls`; the session counts as
    /// open until the guard is dropped.
    pub fn session_opened(&self, tls: SessionTls) -> SessionGauge {
        let (accepted, open) = &self.series[tls as usize];
        accepted.inc();
        open.inc();
        SessionGauge { series: Arc::clone(&self.series), tls }
    }
}

/// Keeps a session counted as open, under its current TLS state.
#[derive(Debug)]
pub struct SessionGauge {
    series: Arc<[(Counter, Gauge); 4]>,
    tls: SessionTls,
}

impl SessionGauge {
    /// The control connection changed its TLS state (AUTH TLS, CCC): the
    /// open session moves to the new state's gauge.
    pub fn set_tls(&mut self, tls: SessionTls) {
        if tls != self.tls {
            self.series[self.tls as usize].1.dec();
            self.series[tls as usize].1.inc();
            self.tls = tls;
        }
    }
}

impl Drop for SessionGauge {
    fn drop(&mut self) {
        self.series[self.tls as usize].1.dec();
    }
}

/// Keeps a passive port counted as in use.
#[derive(Debug)]
pub struct PassivePortGauge {
    gauge: Gauge,
}

impl Drop for PassivePortGauge {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// One account's transfer series (per-user metrics on).
#[derive(Debug, Clone)]
pub struct UserMetrics {
    transfers: [[Counter; 3]; 3],
    bytes: [Counter; 2],
}

#[derive(Debug)]
struct OpSeries {
    count: Counter,
    seconds: AtomicHistogram,
    /// By [`ErrorKind`]'s position in [`ErrorKind::ALL`]; filled on first use.
    errors: [OnceLock<Counter>; ErrorKind::ALL.len()],
}

/// The storage series of one backend. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StorageMetrics {
    metrics: Metrics,
    backend: Arc<str>,
    ops: Arc<[OpSeries; StorageOp::ALL.len()]>,
}

impl StorageMetrics {
    /// A storage operation ended after `elapsed`, failing with `error`'s kind if it failed.
    pub fn operation(&self, op: StorageOp, elapsed: Duration, error: Option<ErrorKind>) {
        let series = &self.ops[op as usize];
        series.count.inc();
        series.seconds.observe(elapsed.as_secs_f64());
        if let Some(kind) = error {
            let index = ErrorKind::ALL.iter().position(|k| *k == kind).unwrap_or(ErrorKind::ALL.len() - 1);
            let counter = series.errors[index].get_or_init(|| {
                let labels = StorageErrorLabels { backend: self.backend.to_string(), op: op.name(), kind: kind.name() };
                self.metrics.inner.storage_errors.get_or_create_owned(&labels)
            });
            counter.inc();
        }
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
        let listener = m.listener("127.0.0.1:21");
        let mut session = listener.session_opened(SessionTls::None);
        session.set_tls(SessionTls::Explicit);
        m.login("alice", None);
        m.login("mallory", Some(LoginRefusal::BadPassword));
        m.command(Some(Verb::Retr), 226);
        m.command(Some(Verb::Retr), 550);
        m.command(None, 502);
        m.transfer(TransferKind::Download, TransferOutcome::Completed, 4096, Duration::from_millis(3), None);
        let port = m.passive_port_opened();
        m.storage("fs").operation(StorageOp::Metadata, Duration::from_micros(40), Some(ErrorKind::NotFound));
        m.tls_handshake(TlsChannel::Data, false);
        m.add_bans_source(Box::new(|| Some(2)));
        let t = text(&registry);
        for line in [
            "oxftp_sessions_open{listener=\"127.0.0.1:21\",tls=\"explicit\"} 1",
            "oxftp_sessions_open{listener=\"127.0.0.1:21\",tls=\"none\"} 0",
            "oxftp_sessions_total{listener=\"127.0.0.1:21\",tls=\"none\"} 1",
            "oxftp_logins_total{outcome=\"ok\",reason=\"none\"} 1",
            "oxftp_logins_total{outcome=\"failed\",reason=\"bad_password\"} 1",
            "oxftp_logins_total{outcome=\"failed\",reason=\"banned\"} 0",
            "oxftp_commands_total{verb=\"RETR\",class=\"2xx\"} 1",
            "oxftp_commands_total{verb=\"RETR\",class=\"5xx\"} 1",
            "oxftp_commands_total{verb=\"invalid\",class=\"5xx\"} 1",
            "oxftp_transfers_total{kind=\"download\",outcome=\"completed\"} 1",
            "oxftp_transfers_total{kind=\"upload\",outcome=\"aborted\"} 0",
            "oxftp_transfer_bytes_total{direction=\"out\"} 4096",
            "oxftp_transfer_duration_seconds_count{kind=\"download\"} 1",
            "oxftp_transfer_duration_seconds_bucket{le=\"0.004\",kind=\"download\"} 1",
            "oxftp_passive_ports_in_use 1",
            "oxftp_bans_active 2",
            "oxftp_tls_handshakes_total{channel=\"data\",outcome=\"failed\"} 1",
            "oxftp_storage_operations_total{backend=\"fs\",op=\"metadata\"} 1",
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
        let alice = m.user("alice").unwrap();
        m.transfer(TransferKind::Upload, TransferOutcome::Completed, 10, Duration::from_millis(1), Some(&alice));
        let t = text(&registry);
        assert!(t.contains("oxftp_user_logins_total{user=\"alice\"} 1"), "{t}");
        assert!(t.contains("oxftp_user_transfer_bytes_total{user=\"alice\",direction=\"in\"} 10"), "{t}");
        assert!(
            t.contains("oxftp_user_transfers_total{user=\"alice\",kind=\"upload\",outcome=\"completed\"} 1"),
            "{t}"
        );
        assert!(!t.contains("no-such-user-1"), "{t}");
        assert!(Metrics::unregistered().user("alice").is_none());
    }
}
