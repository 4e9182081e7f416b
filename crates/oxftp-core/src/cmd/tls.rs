//! TLS on the control and data connections: AUTH, PBSZ, PROT, CCC (RFC 2228,
//! RFC 4217).

use oxftp_proto::command::{AuthMechanism, ProtLevel};

use crate::auth::Identity;
use crate::conn::{Answered, Conn, Flow, Protection};
use crate::metrics::SessionTls;

/// `AUTH TLS` / `AUTH SSL` / `AUTH TLS-C` / `AUTH TLS-P` (RFC 2228 §3, RFC
/// 4217 §4) → `234`, then the TLS handshake; anything the client pipelined
/// after AUTH before the handshake is discarded, never executed. `502`
/// without TLS on this server, `503` when TLS is already on, `504` for
/// other mechanisms, `431` when `max_tls_handshakes` are in progress. A
/// failed handshake closes the connection.
pub(crate) async fn auth(conn: &mut Conn, mechanism: &AuthMechanism) -> Flow {
    if conn.tls.is_none() {
        let _ = conn.reply(502, "TLS is not available on this server.").await;
        return Flow::Continue;
    }
    if conn.is_tls() {
        let _ = conn.reply(503, "TLS is already active.").await;
        return Flow::Continue;
    }
    if !mechanism.is_tls() {
        let _ = conn.reply(504, format!("AUTH {mechanism} not supported; use AUTH TLS.")).await;
        return Flow::Continue;
    }
    let Some(permit) = conn.handshake_permit() else {
        let _ = conn.reply(431, "Too many TLS handshakes in progress; try again later.").await;
        return Flow::Continue;
    };
    let _ = conn.reply(234, format!("AUTH {mechanism} ok; start the TLS handshake.")).await;
    match conn.start_tls(permit).await {
        Ok(()) => {
            // RFC 4217 §4: AUTH resets the data protection state.
            conn.protection = Protection::default();
            conn.session_tls(SessionTls::Explicit);
            Flow::Continue
        }
        Err(e) => {
            slog::info!(conn.logger, "TLS handshake failed"; "error" => %e);
            Flow::Close
        }
    }
}

/// `PBSZ <size>` (RFC 2228 §3, RFC 4217 §8) → `200 PBSZ=0` (a stream has no
/// protection buffer, whatever size is asked for) · `503` before AUTH.
pub(crate) async fn pbsz(conn: &mut Conn) -> Answered {
    if !conn.is_tls() {
        return Err(conn.reply(503, "PBSZ needs a TLS connection: send AUTH TLS first.").await);
    }
    conn.protection.pbsz = true;
    Ok(conn.reply(200, "PBSZ=0").await)
}

/// `PROT C|P` (RFC 2228 §3, RFC 4217 §9) → `200` · `503` before PBSZ · `536`
/// for S and E (TLS cannot give them) and for C when data TLS is required ·
/// `504` for unknown levels.
pub(crate) async fn prot(conn: &mut Conn, identity: Option<&Identity>, level: &ProtLevel) -> Answered {
    if !conn.is_tls() || !conn.protection.pbsz {
        return Err(conn.reply(503, "PROT needs AUTH TLS and PBSZ first.").await);
    }
    match level {
        ProtLevel::Private => {
            conn.protection.private = true;
            Ok(conn.reply(200, "Protection level set to Private.").await)
        }
        ProtLevel::Clear if conn.data_tls_required(identity) => {
            Err(conn.reply(536, "Data connections must be protected: use PROT P.").await)
        }
        ProtLevel::Clear => {
            conn.protection.private = false;
            Ok(conn.reply(200, "Protection level set to Clear.").await)
        }
        ProtLevel::Safe | ProtLevel::Confidential => {
            Err(conn.reply(536, format!("PROT {level} is not supported with TLS; use P or C.")).await)
        }
        ProtLevel::Other(other) => Err(conn.reply(504, format!("Unknown protection level {other}.")).await),
    }
}

/// `CCC` (RFC 2228 §3, RFC 4217 §12.3) → `200` and back to plaintext when
/// the policy allows it, else `534` · `533` when the control connection is
/// not protected. A failed TLS shutdown closes the connection.
pub(crate) async fn ccc(conn: &mut Conn, identity: Option<&Identity>) -> Flow {
    let allowed = conn.ctx.options.tls.as_ref().is_some_and(|t| t.config.allow_ccc);
    if !conn.is_tls() {
        let _ = conn.reply(533, "The control connection is not protected.").await;
        return Flow::Continue;
    }
    if !allowed || conn.control_tls_required(identity) {
        let _ = conn.reply(534, "CCC is not allowed by the server's policy.").await;
        return Flow::Continue;
    }
    let _ = conn.reply(200, "Clearing the control channel.").await;
    match conn.stop_tls().await {
        Ok(()) => {
            conn.session_tls(SessionTls::None);
            Flow::Continue
        }
        Err(e) => {
            slog::info!(conn.logger, "CCC failed"; "error" => %e);
            Flow::Close
        }
    }
}
