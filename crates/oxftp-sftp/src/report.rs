//! What the SFTP front end tells the outside: typed [`Event`]s to the
//! configured sinks, [`TransferEvent`]s to the transfer listeners (the
//! xferlog), and the engine's metric families. Every report goes through
//! here, so the FTP side's wiring and this one stay easy to compare.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use oxftp_core::auth::{AccessClass, Identity};
use oxftp_core::events::{Event, EventKind, Protocol, TransferEvent, TransferKind};
use oxftp_core::metrics::{
    ListenerMetrics, LoginRefusal, Metrics, SessionGauge, SessionTls, TransferKind as MetricKind, TransferOutcome,
};
use oxftp_proto::path::VPath;
use slog::Logger;

use crate::options::SftpOptions;

/// Where one server's reports go.
pub(crate) struct Reporter {
    options: Arc<SftpOptions>,
    logger: Logger,
}

/// How a transfer ended (the metrics' `outcome` label).
pub(crate) type Outcome = TransferOutcome;

/// One finished file transfer, as the session saw it.
pub(crate) struct Transfer<'a> {
    pub identity: &'a Identity,
    pub peer: SocketAddr,
    pub upload: bool,
    pub path: &'a VPath,
    pub bytes: u64,
    pub elapsed: Duration,
    pub outcome: Outcome,
    /// Why it did not complete.
    pub reason: Option<String>,
}

impl Reporter {
    pub(crate) fn new(options: Arc<SftpOptions>, logger: Logger) -> Reporter {
        Reporter { options, logger }
    }

    fn metrics(&self) -> Option<&Metrics> {
        self.options.metrics.as_ref()
    }

    /// The session series of the listener at `address` (`tls="ssh"`).
    pub(crate) fn listener(&self, address: &str) -> Option<ListenerMetrics> {
        self.metrics().map(|m| m.listener(address))
    }

    /// A connection was accepted on `listener`; counted open until the guard drops.
    pub(crate) fn session_opened(listener: Option<&ListenerMetrics>) -> Option<SessionGauge> {
        listener.map(|l| l.session_opened(SessionTls::Ssh))
    }

    /// A login succeeded.
    pub(crate) async fn login(&self, identity: &Identity, peer: SocketAddr, method: &str) {
        if let Some(m) = self.metrics() {
            m.login(&identity.user, None);
        }
        let mut event = Event::new(EventKind::Login, Protocol::Sftp, identity.user.clone(), peer);
        event.reason = Some(format!("ssh {method}"));
        self.record(event).await;
    }

    /// A login was refused.
    pub(crate) async fn login_failed(&self, user: &str, peer: SocketAddr, refusal: LoginRefusal, reason: &str) {
        if let Some(m) = self.metrics() {
            m.login(user, Some(refusal));
        }
        self.record(Event::new(EventKind::LoginFailed, Protocol::Sftp, user, peer).failed(reason)).await;
    }

    /// A logged-in connection ended.
    pub(crate) async fn logout(&self, identity: &Identity, peer: SocketAddr) {
        self.record(Event::new(EventKind::Logout, Protocol::Sftp, identity.user.clone(), peer)).await;
    }

    /// A file operation other than a transfer happened (delete, rename, mkdir, rmdir).
    pub(crate) async fn operation(
        &self,
        kind: EventKind,
        identity: &Identity,
        peer: SocketAddr,
        path: &VPath,
        target: Option<&VPath>,
    ) {
        let mut event = Event::new(kind, Protocol::Sftp, identity.user.clone(), peer)
            .with_path(path.clone(), path.under(&identity.home));
        if let Some(target) = target {
            event = event.with_target(target.clone());
        }
        self.record(event).await;
    }

    /// A transfer ended: metrics, the transfer listeners, an event.
    pub(crate) async fn transfer(&self, t: Transfer<'_>) {
        let kind = if t.upload { MetricKind::Upload } else { MetricKind::Download };
        if let Some(m) = self.metrics() {
            let user = m.user(&t.identity.user);
            m.transfer(kind, t.outcome, t.bytes, t.elapsed, user.as_ref());
        }
        let completed = t.outcome == Outcome::Completed;
        let (transfer_kind, command) =
            if t.upload { (TransferKind::Upload, "SFTP WRITE") } else { (TransferKind::Download, "SFTP READ") };
        let mut listened = TransferEvent::new(t.identity.user.clone(), t.peer, transfer_kind, command, t.path.clone());
        listened.bytes = t.bytes;
        listened.elapsed = t.elapsed;
        listened.completed = completed;
        listened.class = t.identity.class;
        for listener in &self.options.transfer_listeners {
            listener.transfer_finished(&listened);
        }
        let event_kind = if t.upload { EventKind::Upload } else { EventKind::Download };
        let mut event = Event::new(event_kind, Protocol::Sftp, t.identity.user.clone(), t.peer)
            .with_path(t.path.clone(), t.path.under(&t.identity.home))
            .with_transfer(t.bytes, t.elapsed);
        if !completed {
            event = event.failed(t.reason.unwrap_or_else(|| t.outcome.name().to_string()));
        }
        self.record(event).await;
        if t.identity.class == AccessClass::Anonymous && t.upload && completed {
            slog::info!(self.logger, "anonymous upload"; "path" => %t.path, "bytes" => t.bytes);
        }
    }

    /// Whether every sink takes an event of `kind` now (a full spool that
    /// refuses rather than drops says no: the operation is refused).
    pub(crate) fn admits(&self, kind: EventKind) -> bool {
        self.options.event_sinks.iter().all(|sink| sink.admits(kind))
    }

    async fn record(&self, event: Event) {
        for sink in &self.options.event_sinks {
            if let Err(e) = sink.record(&event).await {
                slog::warn!(self.logger, "event not recorded"; "kind" => %event.kind, "error" => %e);
            }
        }
    }
}
