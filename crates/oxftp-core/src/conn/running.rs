//! A transfer running in its own task, and how it ends: its event and
//! metrics, the final reply, one log line (the xferlog fields) and the
//! transfer listeners' event.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use oxftp_proto::command::{ShownReply, TransferType, Verb};
use oxftp_proto::path::VPath;
use oxftp_proto::reply::Reply;
use slog::Logger;
use tokio::task::{JoinError, JoinHandle};

use super::{Conn, Replied};
use crate::auth::Identity;
use crate::events::{EventKind, TransferEvent, TransferKind};
use crate::hashing::Digest;
use crate::metrics::{TransferOutcome, UserMetrics};
use crate::transfer::{GateKeeper, Progress, TransferError};

/// The longest an upload waits for its client's control connection to close
/// before publishing (see [`Running::close_grace`]).
const MAX_CLOSE_GRACE: Duration = Duration::from_millis(100);

/// The command a transfer serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferCommand {
    Retr,
    Stor,
    Appe,
    Stou,
    List,
    Nlst,
    Mlsd,
}

impl TransferCommand {
    pub(crate) fn verb(self) -> Verb {
        match self {
            TransferCommand::Retr => Verb::Retr,
            TransferCommand::Stor => Verb::Stor,
            TransferCommand::Appe => Verb::Appe,
            TransferCommand::Stou => Verb::Stou,
            TransferCommand::List => Verb::List,
            TransferCommand::Nlst => Verb::Nlst,
            TransferCommand::Mlsd => Verb::Mlsd,
        }
    }

    /// The command's name, for STAT and the log.
    pub(crate) fn name(self) -> &'static str {
        self.verb().name()
    }

    fn kind(self) -> TransferKind {
        match self {
            TransferCommand::Retr => TransferKind::Download,
            TransferCommand::Stor | TransferCommand::Appe | TransferCommand::Stou => TransferKind::Upload,
            TransferCommand::List | TransferCommand::Nlst | TransferCommand::Mlsd => TransferKind::Listing,
        }
    }
}

/// What the transfer task returns, or why it did not.
pub(crate) type TaskResult = Result<Result<u64, TransferError>, JoinError>;

/// A transfer running in its own task.
pub(crate) struct Running {
    pub task: JoinHandle<Result<u64, TransferError>>,
    /// An upload's commit gate: the session decides whether it may publish.
    pub gate: Option<GateKeeper>,
    pub progress: Progress,
    pub command: TransferCommand,
    pub path: VPath,
    pub started: Instant,
    /// The representation type it runs in (for the log).
    pub ty: TransferType,
    /// Reply text on success (e.g. STOU's unique name).
    pub success_text: Option<Vec<u8>>,
    /// The session's logger when it started (with the user).
    pub logger: Logger,
    /// Where an upload's SHA-256 appears once committed (hashed for an event sink).
    pub sha256: Option<Digest>,
    /// The account's own transfer series (per-user metrics on).
    pub user_metrics: Option<Arc<UserMetrics>>,
}

impl Running {
    /// Resolves when the running upload has received everything and asks
    /// whether to publish it; never, for other transfers. Cancel-safe.
    pub(crate) async fn commit_asked(gate: &mut Option<GateKeeper>) {
        match gate.as_mut() {
            Some(gate) => gate.asked().await,
            None => std::future::pending().await,
        }
    }

    /// How long this upload, with all its bytes received, waits for the
    /// client's control connection to close before it is published.
    ///
    /// A killed client's kernel closes the data connection and, a moment
    /// later (microseconds, or milliseconds on a busy machine), the control
    /// connection; only that close tells a dead client from one waiting for
    /// its 226. Waiting costs every upload the same moment, so it is a
    /// fiftieth of the time the upload took (2 % more), at most
    /// [`MAX_CLOSE_GRACE`], and none for uploads quicker than 50 ms: a
    /// mirror of many small files never waits, while a client killed during
    /// a long upload (the uploads worth saving from being half-published)
    /// is caught.
    pub(crate) fn close_grace(&self) -> Duration {
        let grace = (self.started.elapsed() / 50).min(MAX_CLOSE_GRACE);
        if grace < Duration::from_millis(1) { Duration::ZERO } else { grace }
    }

    /// Answer the upload's question (now, or for when it asks).
    pub(crate) fn decide_commit(&mut self, commit: bool) {
        if let Some(gate) = self.gate.take() {
            gate.decide(commit);
        }
    }

    /// Bytes moved so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }

    /// Wait for the task (unless its result is given), record the event,
    /// send the final reply, and log and count the transfer.
    pub(crate) async fn finish(
        mut self,
        conn: &mut Conn,
        identity: Option<&Identity>,
        result: Option<TaskResult>,
    ) -> Replied {
        let result = match result {
            Some(r) => r,
            None => {
                // Whoever waits here heard from the client (a command came
                // in, QUIT among them): an upload may publish.
                self.decide_commit(true);
                (&mut self.task).await
            }
        };
        let (reply, outcome, bytes) = match result {
            Ok(Ok(bytes)) => {
                let text = self.success_text.take().unwrap_or_else(|| b"Transfer complete.".to_vec());
                (Reply::new(226, text), TransferOutcome::Completed, bytes)
            }
            Ok(Err(e)) => (e.reply(), TransferOutcome::Failed, self.bytes()),
            Err(_) => (Reply::new(426, "Transfer aborted."), TransferOutcome::Aborted, self.bytes()),
        };
        self.report(conn, identity, outcome, bytes, &reply).await;
        let replied = conn.send(&reply).await;
        self.log(conn, identity, outcome, bytes, &reply);
        replied
    }

    /// ABOR: stop the task, wait until its data socket and storage handles
    /// are closed, and reply 426 (RFC 959 4.1.3).
    pub(crate) async fn abort(mut self, conn: &mut Conn, identity: Option<&Identity>) -> Replied {
        self.task.abort();
        let _ = (&mut self.task).await;
        let reply = Reply::new(426, "Connection closed; transfer aborted.");
        let bytes = self.bytes();
        self.report(conn, identity, TransferOutcome::Aborted, bytes, &reply).await;
        let replied = conn.send(&reply).await;
        self.log(conn, identity, TransferOutcome::Aborted, bytes, &reply);
        replied
    }

    /// Before the final reply: the transfer's event (uploads and downloads;
    /// awaited, so an event the client was told about is kept) and its
    /// metrics, the command counted with the reply it is about to get.
    async fn report(
        &self,
        conn: &Conn,
        identity: Option<&Identity>,
        outcome: TransferOutcome,
        bytes: u64,
        reply: &Reply,
    ) {
        let elapsed = self.started.elapsed();
        if let Some(metrics) = conn.metrics() {
            metrics.transfer(self.command.kind().into(), outcome, bytes, elapsed, self.user_metrics.as_deref());
            metrics.command(Some(self.command.verb()), reply.code);
        }
        let kind = match self.command.kind() {
            TransferKind::Upload => EventKind::Upload,
            TransferKind::Download => EventKind::Download,
            TransferKind::Listing => return,
        };
        let Some(identity) = identity.filter(|_| conn.events_on()) else { return };
        let mut event = conn
            .event(kind, &identity.user)
            .with_path(self.path.clone(), self.path.under(identity.session_root()))
            .with_transfer(bytes, elapsed);
        if outcome == TransferOutcome::Completed {
            if let Some(sum) = self.sha256.as_ref().and_then(|cell| cell.get()) {
                event = event.with_sha256(*sum);
            }
        } else {
            let why = String::from_utf8_lossy(reply.lines.first().map_or(&[][..], |l| l.as_slice())).into_owned();
            event = event.failed(format!("{} {why}", reply.code));
        }
        conn.record(event).await;
    }

    /// One structured line per transfer (the fields of an xferlog entry, and
    /// for a transfer that did not complete, the final reply that says why),
    /// and the event for the server's transfer listeners.
    fn log(&self, conn: &Conn, identity: Option<&Identity>, outcome: TransferOutcome, bytes: u64, reply: &Reply) {
        let elapsed = self.started.elapsed();
        let (op, ty) = (self.command.name(), if self.ty == TransferType::Ascii { "a" } else { "b" });
        let ms = elapsed.as_millis() as u64;
        if outcome == TransferOutcome::Completed {
            slog::info!(self.logger, "transfer"; "op" => op, "path" => %self.path, "bytes" => bytes, "ms" => ms,
                "type" => ty, "status" => status(outcome));
        } else {
            slog::info!(self.logger, "transfer"; "op" => op, "path" => %self.path, "bytes" => bytes, "ms" => ms,
                "type" => ty, "status" => status(outcome), "reason" => %ShownReply(reply));
        }
        let listeners = &conn.ctx.options.transfer_listeners;
        if listeners.is_empty() {
            return;
        }
        let event = TransferEvent {
            user: identity.map(|i| i.user.clone()).unwrap_or_default(),
            peer: conn.peer,
            kind: self.command.kind(),
            command: self.command.name(),
            path: self.path.clone(),
            bytes,
            elapsed,
            completed: outcome == TransferOutcome::Completed,
            class: identity.map_or(crate::auth::AccessClass::User, |i| i.class),
            ascii: self.ty == TransferType::Ascii,
        };
        for listener in listeners {
            listener.transfer_finished(&event);
        }
    }
}

/// The log's word for how a transfer ended.
fn status(outcome: TransferOutcome) -> &'static str {
    match outcome {
        TransferOutcome::Completed => "complete",
        TransferOutcome::Failed => "failed",
        TransferOutcome::Aborted => "aborted",
    }
}
