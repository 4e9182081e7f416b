//! Login and logout: USER, PASS, ACCT, REIN, QUIT (RFC 959 4.1.1).
//!
//! A failed login gets 530 after `failed_login_delay`, whatever the reason,
//! so a client cannot tell an unknown user from a wrong password.

use std::sync::Arc;

use slog::o;

use crate::auth::{AccessClass, AuthError, Credentials, Identity};
use crate::conn::{Answered, Conn, Flow, LoggedIn, Login, State};

/// `USER <name>` (RFC 959 4.1.1) → `331` (password required) · `530` when
/// already logged in (send REIN first) · `534` when policy requires TLS
/// before any login (RFC 4217 §11) · with a verified TLS client certificate
/// whose subject CN is the user name (and `cert_cn_login` on), the login
/// itself: `232` (RFC 2228) or `530`.
pub(crate) async fn user(conn: &mut Conn, state: &mut State, name: String) -> Flow {
    if state.login.is_logged_in() {
        // RFC 959 lets USER change users; we require REIN first so a
        // session's rights never change under a running policy stack.
        let _ = conn.reply(530, "Already logged in; send REIN to change users.").await;
        return Flow::Continue;
    }
    if name.is_empty() {
        let _ = conn.reply(501, "USER needs a user name.").await;
        return Flow::Continue;
    }
    let anonymous = name.eq_ignore_ascii_case("anonymous") || name.eq_ignore_ascii_case("ftp");
    if let Some(tls) = &conn.ctx.options.tls
        && !conn.is_tls()
        && tls.config.control.applies_to(anonymous)
    {
        // RFC 4217 §11: refuse for policy reasons before any password crosses in clear.
        let _ = conn.reply(534, "Policy requires TLS: send AUTH TLS before USER.").await;
        return Flow::Continue;
    }
    if certificate_names(conn, &name) {
        let ctx = Arc::clone(&conn.ctx);
        let authenticated = ctx.auth.certificate_login(&name, conn.peer).await;
        return finish_login(conn, state, &name, authenticated, 232).await;
    }
    let text = if anonymous {
        "Anonymous login ok, send your e-mail address as password.".to_string()
    } else {
        format!("Password required for {name}.")
    };
    state.login = Login::AwaitingPass { user: name };
    let _ = conn.reply(331, text).await;
    Flow::Continue
}

/// `PASS <password>` (RFC 959 4.1.1) → `230` (logged in) · `530` (refused;
/// after too many failures, or a ban, `421` and the connection closes) ·
/// `503` without USER first, or when already logged in.
pub(crate) async fn pass(conn: &mut Conn, state: &mut State, password: String) -> Flow {
    let user = match std::mem::take(&mut state.login) {
        Login::AwaitingPass { user } => user,
        logged_in @ Login::LoggedIn(_) => {
            state.login = logged_in;
            let _ = conn.reply(503, "Already logged in.").await;
            return Flow::Continue;
        }
        Login::Fresh => {
            let _ = conn.reply(503, "Login with USER first.").await;
            return Flow::Continue;
        }
    };
    let mut credentials = Credentials::new(user.clone(), password, conn.peer);
    credentials.client_cert_cn = conn.client_cert_cn.clone();
    let ctx = Arc::clone(&conn.ctx);
    let authenticated = ctx.auth.authenticate(&credentials).await;
    if matches!(&authenticated, Ok(id) if id.class == AccessClass::Anonymous) {
        // By convention the password is an e-mail address; log it.
        slog::info!(conn.logger, "anonymous login"; "password" => &credentials.password);
    }
    finish_login(conn, state, &user, authenticated, 230).await
}

/// Install a successful login (storage with its policies, the account's
/// session slot) and reply `code` (230, or 232 for a certificate login); or
/// count a failure and reply 530 after the failed-login delay, closing after
/// too many.
async fn finish_login(
    conn: &mut Conn,
    state: &mut State,
    user: &str,
    authenticated: Result<Identity, AuthError>,
    code: u16,
) -> Flow {
    let ip = conn.peer.ip().to_canonical();
    let ctx = Arc::clone(&conn.ctx);
    let outcome = match authenticated {
        _ if ctx.bans.user_banned(user) => Err("account is banned after failed logins".to_string()),
        Ok(identity) if identity.require_tls && !conn.is_tls() => {
            Err("account requires TLS but the control connection is plaintext".to_string())
        }
        Ok(identity) if !identity.allowed_ips.permits(ip) => Err(format!("account may not log in from {ip}")),
        Ok(identity) => match ctx.stack.for_identity(&identity).await {
            Ok(storage) => Ok((identity, storage)),
            Err(e) => Err(format!("storage unavailable: {e}")),
        },
        Err(e) => Err(e.to_string()),
    };
    match outcome {
        Ok((identity, storage)) => {
            let max = identity.limits.max_sessions.unwrap_or(0);
            let Some(slot) = ctx.per_user.acquire(&identity.user, max) else {
                slog::info!(conn.logger, "login refused: too many sessions"; "user" => &identity.user, "max" => max);
                let _ = conn.reply(530, format!("Too many sessions for {} (at most {max}).", identity.user)).await;
                return Flow::Continue;
            };
            ctx.bans.succeeded(ip, user);
            let class = identity.class;
            let logger = conn.logger.new(o!("user" => identity.user.clone()));
            slog::info!(logger, "login"; "class" => %class, "certificate" => code == 232);
            state.login = Login::LoggedIn(Box::new(LoggedIn::new(identity, storage, logger, slot)));
            conn.failed_logins = 0;
            conn.prelogin_slot = None;
            let text = match (class, code) {
                (_, 232) => "Logged in, authorized by the client certificate.",
                (AccessClass::Anonymous, _) => "Anonymous access granted, restrictions apply.",
                (AccessClass::Guest, _) => "Guest login ok, access restrictions apply.",
                (AccessClass::User, _) => "Login successful.",
            };
            let _ = conn.reply(code, text).await;
            Flow::Continue
        }
        Err(reason) => {
            conn.failed_logins += 1;
            slog::warn!(conn.logger, "login failed"; "user" => user, "reason" => reason);
            let banned = ctx.bans.failed(ip, user);
            tokio::time::sleep(ctx.options.failed_login_delay).await;
            if banned {
                slog::warn!(conn.logger, "banned after failed logins"; "user" => user, "ip" => %ip);
                let _ = conn.reply(421, "Too many failed logins; you are banned for a while.").await;
                return Flow::Close;
            }
            if conn.failed_logins >= ctx.options.max_login_failures {
                let _ = conn.reply(421, "Too many failed logins; closing connection.").await;
                return Flow::Close;
            }
            let _ = conn.reply(530, "Login incorrect.").await;
            Flow::Continue
        }
    }
}

/// Whether a verified client certificate names `user` and the policy lets that log them in.
fn certificate_names(conn: &Conn, user: &str) -> bool {
    let enabled = conn.ctx.options.tls.as_ref().is_some_and(|t| t.config.cert_cn_login);
    enabled && conn.is_tls() && conn.client_cert_cn.as_deref() == Some(user)
}

/// `ACCT <info>` (RFC 959 4.1.1) → `202` (not needed on this server).
pub(crate) async fn acct(conn: &mut Conn) -> Answered {
    Ok(conn.reply(202, "ACCT not needed on this server.").await)
}

/// `REIN` (RFC 959 4.1.1) → `220`: back to the state after the greeting
/// (logged out, transfer parameters reset; a running transfer has finished
/// first). The control connection, its TLS and PBSZ/PROT stay.
pub(crate) async fn rein(conn: &mut Conn, state: &mut State) -> Answered {
    *state = State::default();
    Ok(conn.reply(220, "Session reset; send USER.").await)
}

/// `QUIT` (RFC 959 4.1.1) → `221`, then the server closes the connection.
pub(crate) async fn quit(conn: &mut Conn) -> Flow {
    let _ = conn.reply(221, "Goodbye.").await;
    Flow::Close
}
