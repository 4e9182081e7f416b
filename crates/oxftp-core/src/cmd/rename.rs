//! Renaming: RNFR then RNTO (RFC 959 4.1.3).

use crate::conn::{Answered, Conn, LoggedIn};
use crate::events::EventKind;

/// `RNFR <from>` (RFC 959 4.1.3) → `350` (exists; send RNTO) · `550` when
/// it does not, or when nothing may be renamed away from there (a
/// read-only area: refused here, not only at RNTO) · `502` when the storage
/// cannot rename. The path waits in the session for the next command, which
/// must be RNTO.
pub(crate) async fn rnfr(conn: &mut Conn, user: &mut LoggedIn, arg: &[u8]) -> Answered {
    let path = user.resolve(conn, arg).await?;
    if !conn.ctx.stack.capabilities().rename {
        return Err(conn.reply(502, "Rename is not supported by this storage.").await);
    }
    if path.is_root() {
        return Err(conn.reply(550, "Cannot rename the root directory.").await);
    }
    match user.storage.rename_source(&path).await {
        Ok(_) => {
            user.rename_from = Some(path);
            Ok(conn.reply(350, "File exists, ready for destination name.").await)
        }
        Err(e) => Err(conn.storage_failed(&e).await),
    }
}

/// `RNTO <to>` (RFC 959 4.1.3) → `250` · `503` when the previous command was
/// not a successful RNFR · `553` for a move into itself · `550` · `450`
/// when an event sink is full and refuses.
pub(crate) async fn rnto(conn: &mut Conn, user: &mut LoggedIn, arg: &[u8]) -> Answered {
    let Some(from) = user.rename_from.take() else {
        return Err(conn.reply(503, "RNTO must follow RNFR.").await);
    };
    let to = user.resolve(conn, arg).await?;
    if to.is_root() || to.starts_with(&from) && to != from {
        return Err(conn.reply(553, "Cannot move a directory into itself.").await);
    }
    conn.admit(EventKind::Rename, 450).await?;
    match user.storage.rename(&from, &to).await {
        Ok(()) => {
            slog::info!(user.logger, "rename"; "from" => %from, "to" => %to);
            if conn.events_on() {
                conn.record(user.event(conn, EventKind::Rename, &from).with_target(to.clone())).await;
            }
            Ok(conn.reply(250, "Rename successful.").await)
        }
        Err(e) => Err(conn.storage_failed(&e).await),
    }
}
