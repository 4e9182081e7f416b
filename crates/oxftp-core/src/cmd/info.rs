//! Small status commands: SYST and NOOP (RFC 959 4.1.3).

use crate::conn::{Answered, Conn};

/// `SYST` (RFC 959 4.1.3): the system type → `215 UNIX Type: L8` (the listing
/// format clients should expect).
pub(crate) async fn syst(conn: &mut Conn) -> Answered {
    Ok(conn.reply(215, "UNIX Type: L8").await)
}

/// `NOOP` (RFC 959 4.1.3) → `200 NOOP ok.`, also while a transfer runs.
pub(crate) async fn noop(conn: &mut Conn) -> Answered {
    Ok(conn.reply(200, "NOOP ok.").await)
}
