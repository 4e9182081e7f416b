//! ABOR (RFC 959 4.1.3): abort the running transfer.

use crate::conn::{Answered, Conn, Running, State};

/// `ABOR` (RFC 959 4.1.3; often after Telnet IAC IP, IAC DM "Synch"): with a
/// transfer running → `426` (transfer aborted) then `226` (abort
/// successful); without one → `226`. Any prepared passive listener is closed
/// and a REST offset forgotten too.
pub(crate) async fn abor(conn: &mut Conn, state: &mut State, running: &mut Option<Running>) -> Answered {
    state.transfer.data = None;
    state.transfer.rest = 0;
    if let Some(transfer) = running.take() {
        let identity = state.login.identity();
        if transfer.task.is_finished() {
            // It ended before we got here: report how, then the ABOR itself.
            let _ = transfer.finish(conn, identity, None).await;
        } else {
            let _ = transfer.abort(conn, identity).await;
        }
    }
    Ok(conn.reply(226, "ABOR successful.").await)
}
