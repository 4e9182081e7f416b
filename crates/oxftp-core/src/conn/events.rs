//! The session's events (see [`crate::events`]): made only when the server
//! has event sinks, recorded before the reply that reports the operation,
//! and refused up front when a sink is full and says so.

use oxftp_proto::path::VPath;

use super::{Conn, LoggedIn, Replied};
use crate::events::{Event, EventKind, Protocol};

impl Conn {
    /// Whether anyone takes events (if not, none is made).
    pub(crate) fn events_on(&self) -> bool {
        !self.ctx.options.event_sinks.is_empty()
    }

    /// A fresh event of `kind` by `user` on this connection.
    pub(crate) fn event(&self, kind: EventKind, user: &str) -> Event {
        let protocol = if self.is_tls() { Protocol::Ftps } else { Protocol::Ftp };
        Event::new(kind, protocol, user, self.peer)
    }

    /// Hands `event` to every sink and waits until each has it (a spool
    /// writes it to disk), so the reply that follows never reports an
    /// operation whose event could still be lost. A sink's failure is
    /// logged; the operation already happened, so its reply stands.
    pub(crate) async fn record(&self, event: Event) {
        for sink in &self.ctx.options.event_sinks {
            if let Err(e) = sink.record(&event).await {
                slog::error!(self.logger, "event not recorded"; "event" => event.kind.name(), "id" => &event.id, "error" => %e);
            }
        }
    }

    /// Whether every sink admits an operation that will report `kind`;
    /// if one does not (its spool is full and it refuses rather than drops),
    /// replies `code` and returns the refusal.
    pub(crate) async fn admit(&mut self, kind: EventKind, code: u16) -> Result<(), Replied> {
        let refused = self.ctx.options.event_sinks.iter().any(|sink| !sink.admits(kind));
        if !refused {
            return Ok(());
        }
        // The sink logs its own refusals (rate-limited where it matters); this is detail.
        slog::debug!(self.logger, "operation refused: an event sink is full"; "event" => kind.name());
        Err(self
            .reply(
                code,
                "Refused for now: the server cannot record this operation (its event spool is full); try again later.",
            )
            .await)
    }
}

impl LoggedIn {
    /// An event of `kind` by this user about `path`, with the path as the
    /// storage sees it (below the account's home).
    pub(crate) fn event(&self, conn: &Conn, kind: EventKind, path: &VPath) -> Event {
        conn.event(kind, &self.identity.user).with_path(path.clone(), path.under(self.identity.session_root()))
    }
}
