//! What the client tells the server about itself: OPTS (RFC 2389), HOST
//! (RFC 7151) and CLNT.

use crate::conn::{Answered, Conn, Login};

const MLST_FACTS: &[&str] = &["type", "size", "modify", "perm", "unique", "UNIX.mode"];

/// `OPTS UTF8 ON|OFF` (RFC 2389 §4, RFC 2640) → `200` (paths are always
/// passed through as bytes, so UTF-8 just works) · `OPTS MLST fact;fact;`
/// (RFC 3659 §7.9) → `200 MLST OPTS` with the facts we know · `OPTS HASH
/// [algorithm]` (draft-bryan-ftpext-hash-02) → see `cmd::hash` · other
/// options → `501`.
pub(crate) async fn opts(conn: &mut Conn, option: &str, value: &str) -> Answered {
    match option {
        "UTF8" | "UTF-8" => match value.to_ascii_uppercase().as_str() {
            "ON" | "" => Ok(conn.reply(200, "UTF8 mode on.").await),
            "OFF" => Ok(conn.reply(200, "UTF8 mode off; names are still passed through unchanged.").await),
            _ => Err(conn.reply(501, "OPTS UTF8 takes ON or OFF.").await),
        },
        "HASH" => super::hash::opts_hash(conn, value).await,
        "MLST" => {
            // We always send every fact; echo those the client asked for that we know.
            let chosen: Vec<&str> = value
                .split(';')
                .filter_map(|f| MLST_FACTS.iter().find(|k| k.eq_ignore_ascii_case(f.trim())).copied())
                .collect();
            let list: String = chosen.iter().map(|f| format!("{f};")).collect();
            Ok(conn.reply(200, format!("MLST OPTS {list}")).await)
        }
        _ => Err(conn.reply(501, format!("Option {option} not understood.")).await),
    }
}

/// `HOST <name>` (RFC 7151) before USER → `220` (one virtual host: any
/// well-formed name is accepted) · after USER or login → `503`.
pub(crate) async fn host(conn: &mut Conn, login: &Login, host: &str) -> Answered {
    if !matches!(login, Login::Fresh) {
        return Err(conn.reply(503, "HOST must come before USER.").await);
    }
    slog::debug!(conn.logger, "HOST"; "host" => host);
    Ok(conn.reply(220, "Host accepted.").await)
}

/// `CLNT <client name>` (a de facto extension) → `200`; the name goes to the logs.
pub(crate) async fn clnt(conn: &mut Conn, client: String) -> Answered {
    conn.client_name = Some(client);
    Ok(conn.reply(200, "Noted.").await)
}
