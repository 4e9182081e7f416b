//! Login and logout: USER, PASS, ACCT, REIN, QUIT (RFC 959 4.1.1).
//!
//! A failed login gets 530 after `failed_login_delay`, whatever the reason,
//! so a client cannot tell an unknown user from a wrong password.

use std::sync::Arc;

use slog::o;

use crate::auth::{AccessClass, AuthError, Credentials, Identity};
use crate::conn::{Answered, Conn, Flow, LoggedIn, Login, State};
use crate::events::EventKind;
use crate::metrics::LoginRefusal;

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
        if let Some(metrics) = conn.metrics() {
            // Not per account: any name can be sent here.
            metrics.login("", Some(LoginRefusal::TlsRequired));
        }
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
/// too many. Either way the login is counted in the metrics and its event
/// recorded before the reply.
async fn finish_login(
    conn: &mut Conn,
    state: &mut State,
    user: &str,
    authenticated: Result<Identity, AuthError>,
    code: u16,
) -> Flow {
    let ip = conn.peer.ip().to_canonical();
    let ctx = Arc::clone(&conn.ctx);
    let user_banned = ctx.admission.user_banned(user).await;
    let outcome = match authenticated {
        _ if user_banned => Err((LoginRefusal::Banned, "account is banned after failed logins".to_string(), false)),
        Ok(identity) if identity.require_tls && !conn.is_tls() => Err((
            LoginRefusal::TlsRequired,
            "account requires TLS but the control connection is plaintext".to_string(),
            true,
        )),
        Ok(identity) if !identity.allowed_ips.permits(ip) => {
            Err((LoginRefusal::NotAllowed, format!("account may not log in from {ip}"), true))
        }
        Ok(identity) => match ctx.stack.for_identity(&identity).await {
            Ok(storage) => Ok((identity, storage)),
            Err(e) => Err((LoginRefusal::StorageUnavailable, format!("storage unavailable: {e}"), true)),
        },
        Err(e) => Err((refusal_of(&e), e.to_string(), false)),
    };
    let (identity, storage) = match outcome {
        Ok(found) => found,
        Err((refusal, reason, known)) => return refuse_login(conn, user, Refused { refusal, reason, known }).await,
    };
    let max = identity.limits.max_sessions.unwrap_or(0);
    let Some(slot) = ctx.admission.account_pass(&identity.user, max).await else {
        slog::info!(conn.logger, "login refused: too many sessions"; "user" => &identity.user, "max" => max);
        let reason = format!("too many sessions (at most {max})");
        count_refusal(conn, user, &Refused { refusal: LoginRefusal::TooManySessions, reason, known: true }).await;
        let _ = conn.reply(530, format!("Too many sessions for {} (at most {max}).", identity.user)).await;
        return Flow::Continue;
    };
    if conn.admit(EventKind::Login, 421).await.is_err() {
        if let Some(metrics) = conn.metrics() {
            metrics.login(user, Some(LoginRefusal::EventsRefused));
        }
        return Flow::Close;
    }
    ctx.admission.login_succeeded(ip, user).await;
    let class = identity.class;
    if let Some(tls) = &conn.tls {
        tls.log_in(&identity.user, class == AccessClass::Anonymous, identity.tls_session_reuse);
    }
    let logger = conn.logger.new(o!("user" => identity.user.clone()));
    slog::info!(logger, "login"; "class" => %class, "certificate" => code == 232);
    let mut logged_in = LoggedIn::new(identity, storage, logger, slot);
    if let Some(metrics) = conn.metrics() {
        metrics.login(&logged_in.identity.user, None);
        logged_in.metrics = metrics.user(&logged_in.identity.user).map(Arc::new);
    }
    if conn.events_on() {
        conn.record(conn.event(EventKind::Login, &logged_in.identity.user)).await;
    }
    state.login = Login::LoggedIn(Box::new(logged_in));
    conn.failed_logins = 0;
    if let Some(pass) = conn.ip_slot.as_mut() {
        pass.logged_in();
    }
    let text = match (class, code) {
        (_, 232) => "Logged in, authorized by the client certificate.",
        (AccessClass::Anonymous, _) => "Anonymous access granted, restrictions apply.",
        (AccessClass::Guest, _) => "Guest login ok, access restrictions apply.",
        (AccessClass::User, _) => "Login successful.",
    };
    let _ = conn.reply(code, text).await;
    Flow::Continue
}

/// A failed login: counted, its event recorded, the ban table told; then
/// 530 after the failed-login delay (421 and close when banned, or after
/// too many failures).
/// Why a login was refused, and whether the account is known to exist
/// (the authenticator said who it is): only then is it counted per account.
struct Refused {
    refusal: LoginRefusal,
    reason: String,
    known: bool,
}

async fn refuse_login(conn: &mut Conn, user: &str, refused: Refused) -> Flow {
    let ctx = Arc::clone(&conn.ctx);
    let ip = conn.peer.ip().to_canonical();
    conn.failed_logins += 1;
    slog::warn!(conn.logger, "login failed"; "user" => user, "reason" => &refused.reason);
    count_refusal(conn, user, &refused).await;
    let banned = ctx.admission.login_failed(ip, user).await;
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

/// Counts a refused login (per account only for an account known to
/// exist: a name any client can make up must not add series) and records
/// its `login_failed` event.
async fn count_refusal(conn: &Conn, user: &str, refused: &Refused) {
    if let Some(metrics) = conn.metrics() {
        metrics.login(if refused.known { user } else { "" }, Some(refused.refusal));
    }
    if conn.events_on() {
        let reason = format!("{}: {}", refused.refusal.name(), refused.reason);
        conn.record(conn.event(EventKind::LoginFailed, user).failed(reason)).await;
    }
}

/// The metrics' reason for an authenticator's refusal.
fn refusal_of(error: &AuthError) -> LoginRefusal {
    match error {
        AuthError::UnknownUser => LoginRefusal::UnknownUser,
        AuthError::BadPassword => LoginRefusal::BadPassword,
        AuthError::Disabled => LoginRefusal::Disabled,
        AuthError::NotAllowed(_) => LoginRefusal::NotAllowed,
        AuthError::Backend(_) => LoginRefusal::BackendError,
    }
}

/// The logged-in user, if any, logs out: the `logout` event is recorded
/// (before whatever reply follows) and the login state is reset.
pub(crate) async fn logout(conn: &mut Conn, state: &mut State) {
    if let Login::LoggedIn(user) = std::mem::take(&mut state.login)
        && conn.events_on()
    {
        conn.record(conn.event(EventKind::Logout, &user.identity.user)).await;
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
    logout(conn, state).await;
    *state = State::default();
    if let Some(tls) = &conn.tls {
        tls.log_out();
    }
    Ok(conn.reply(220, "Session reset; send USER.").await)
}

/// `QUIT` (RFC 959 4.1.1) → `221`, then the server closes the connection.
pub(crate) async fn quit(conn: &mut Conn, state: &mut State) -> Flow {
    logout(conn, state).await;
    let _ = conn.reply(221, "Goodbye.").await;
    Flow::Close
}
