//! Transfer parameters: TYPE, MODE, STRU (RFC 959 4.1.2).

use oxftp_proto::command::TransferType;

use crate::conn::{Answered, Conn, Transfer};

/// `TYPE A` / `TYPE A N` → `200` ASCII; `TYPE I` / `TYPE L 8` → `200`
/// binary (RFC 959 4.1.2); `TYPE E`, `TYPE A T`, `TYPE L 16`… → `504`
/// (parsed in oxftp-proto).
pub(crate) async fn type_(conn: &mut Conn, transfer: &mut Transfer, ty: TransferType) -> Answered {
    transfer.ty = ty;
    let text = match ty {
        TransferType::Ascii => "Switching to ASCII mode.",
        TransferType::Image => "Switching to Binary mode.",
    };
    Ok(conn.reply(200, text).await)
}

/// `MODE S` (RFC 959 4.1.2) → `200`; stream is the only mode (others are
/// refused by the parser with 504).
pub(crate) async fn mode(conn: &mut Conn) -> Answered {
    Ok(conn.reply(200, "Mode set to S.").await)
}

/// `STRU F` (RFC 959 4.1.2) → `200`; file is the only structure (others are
/// refused by the parser with 504).
pub(crate) async fn stru(conn: &mut Conn) -> Answered {
    Ok(conn.reply(200, "Structure set to F.").await)
}
