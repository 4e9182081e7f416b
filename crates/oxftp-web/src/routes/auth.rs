//! Logging in and out, the login page, `/open` links and `/api/session`.
//!
//! A login is checked in this order, cheapest first, so refusals cost the
//! gateway as little as possible: the upstream against the allow-list (403,
//! before any connection), the fields, the client address's login throttle
//! and ban (429), its session room (429/503); only then is an FTP connection
//! opened. The upstream's verdict on the credentials feeds the throttle.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;

use super::{AppState, Authed, CSRF_HEADER, Client, cookie, session_from};
use crate::error::WebError;
use crate::html;
use crate::paths::{clean, url_encode, url_encode_path};
use crate::pool::{Login, Pool, connect};
use crate::session::{Created, NoRoom};
use crate::stats::Refusal;

/// Fields of a login (form or JSON).
#[derive(Debug, Deserialize)]
pub(super) struct LoginFields {
    #[serde(default)]
    host: Option<String>,
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    dir: Option<String>,
}

/// Check the upstream against the allow-list (before any connection), the
/// throttle and the session room, log in and store a session.
async fn do_login(state: &AppState, f: &LoginFields, client: IpAddr) -> Result<Created, WebError> {
    let upstream = state
        .upstreams
        .resolve(f.host.as_deref())
        .ok_or_else(|| WebError::Forbidden("this server is not on the gateway's allow-list".into()))?;
    let bad = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) || s.len() > 256;
    if f.user.trim().is_empty() || bad(&f.user) || bad(&f.password) {
        return Err(WebError::BadRequest("invalid user name or password".into()));
    }
    let ticket = state.throttle.admit(client, &state.telemetry)?;
    state.sessions.room_for(client).map_err(|no| no_room(state, no, client))?;
    let tls = state.client_tls.for_upstream(&upstream, state.upstreams.is_default(&upstream))?;
    let login = Login { upstream, tls, user: f.user.trim().to_string(), password: f.password.clone() };
    let first = match connect(&login, state.config.connect_timeout).await {
        Ok(ftp) => {
            ticket.succeeded();
            ftp
        }
        // 530: the credentials were refused, the one outcome a guesser learns from.
        Err(WebError::Ftp { code: 530, text }) => {
            ticket.failed(&state.telemetry);
            return Err(WebError::LoginFailed { code: 530, text });
        }
        Err(WebError::Ftp { code, text }) if (500..600).contains(&code) || code == 421 => {
            return Err(WebError::LoginFailed { code, text });
        }
        Err(other) => return Err(other),
    };
    let pool = Pool::new(login, first, state.config.connections_per_session, state.config.connect_timeout);
    match state.sessions.create(pool.clone(), client) {
        Ok(created) => {
            for _ in 0..created.evicted {
                state.telemetry.refused(Refusal::SessionEvicted, client);
            }
            Ok(created)
        }
        Err(no) => {
            pool.close();
            Err(no_room(state, no, client))
        }
    }
}

/// The error (and the count) for a login that found no session room.
fn no_room(state: &AppState, no: NoRoom, client: IpAddr) -> WebError {
    match no {
        NoRoom::Full(refusal) => {
            state.telemetry.refused(refusal, client);
            if refusal == Refusal::SessionsPerIp {
                WebError::TooManyRequests {
                    message: "too many sessions from your address; log out of one or try again later".into(),
                    retry_after: 60,
                }
            } else {
                WebError::Unavailable("too many sessions; try again later".into())
            }
        }
        NoRoom::NoRandomness => WebError::Unavailable("cannot create a session now; try again later".into()),
    }
}

/// What `/login?error=CODE` shows: only messages this app wrote, chosen by
/// code, so a link cannot put words of its own on the login page.
fn login_notice(code: &str) -> Option<&'static str> {
    match code {
        "expired" => Some("Your session has ended. Please log in again."),
        _ => None,
    }
}

/// Query of the login page (prefill, from `/open` or a redirect).
#[derive(Debug, Default, Deserialize)]
pub(super) struct LoginQuery {
    host: Option<String>,
    user: Option<String>,
    dir: Option<String>,
    error: Option<String>,
}

pub(super) async fn login_page(State(state): State<Arc<AppState>>, Query(q): Query<LoginQuery>) -> Html<String> {
    // Preselect the configured form of the named server (which may add its FTPS scheme).
    let host = q.host.as_deref().and_then(|h| state.upstreams.resolve(Some(h))).map(|u| u.to_string());
    let default = state.upstreams.default_upstream().to_string();
    let form = html::LoginForm {
        hosts: state.upstreams.choices().collect(),
        host: host.as_deref().unwrap_or(&default),
        user: q.user.as_deref().unwrap_or(""),
        dir: q.dir.as_deref().unwrap_or("/"),
        error: q.error.as_deref().and_then(login_notice),
    };
    Html(html::login_page(&form))
}

pub(super) async fn login_form(
    State(state): State<Arc<AppState>>,
    Client(client): Client,
    Form(f): Form<LoginFields>,
) -> Response {
    let dir = f.dir.as_deref().and_then(|d| clean(d).ok()).unwrap_or_else(|| "/".into());
    match do_login(&state, &f, client).await {
        Ok(Created { id, .. }) => {
            let target = if dir == "/" { "/browse/".to_string() } else { format!("/browse{}/", url_encode_path(&dir)) };
            let mut resp = Redirect::to(&target).into_response();
            resp.headers_mut().insert(header::SET_COOKIE, cookie(&state, &id, None));
            resp
        }
        Err(e) => {
            let default = state.upstreams.default_upstream().to_string();
            let form = html::LoginForm {
                hosts: state.upstreams.choices().collect(),
                host: f.host.as_deref().unwrap_or(&default),
                user: &f.user,
                dir: &dir,
                error: Some(&e.to_string()),
            };
            let mut resp = (e.status(), Html(html::login_page(&form))).into_response();
            if let WebError::TooManyRequests { retry_after, .. } = e {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            resp
        }
    }
}

pub(super) async fn login_json(
    State(state): State<Arc<AppState>>,
    Client(client): Client,
    Json(f): Json<LoginFields>,
) -> Result<Response, WebError> {
    let Created { id, session, .. } = do_login(&state, &f, client).await?;
    let login = session.pool.login();
    let body = serde_json::json!({ "csrf": session.csrf, "user": login.user, "upstream": login.upstream.to_string() });
    let mut resp = Json(body).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, cookie(&state, &id, None));
    Ok(resp)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CsrfField {
    #[serde(default)]
    csrf: String,
}

pub(super) async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some((id, session)) = session_from(&state, &headers) else {
        return Redirect::to("/login").into_response();
    };
    let field: CsrfField = serde_urlencoded_lite(&body);
    let header_token = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !session.csrf_ok(header_token) && !session.csrf_ok(&field.csrf) {
        return WebError::Forbidden("missing or wrong CSRF token".into()).into_response();
    }
    state.sessions.remove(&id);
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().insert(header::SET_COOKIE, cookie(&state, "", Some(0)));
    resp
}

/// Read `csrf=` from a small urlencoded body (the logout form).
fn serde_urlencoded_lite(body: &[u8]) -> CsrfField {
    if body.len() > 4096 {
        return CsrfField::default();
    }
    let text = String::from_utf8_lossy(body);
    for pair in text.split('&') {
        if let Some(v) = pair.strip_prefix("csrf=") {
            let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy().to_string();
            return CsrfField { csrf: v };
        }
    }
    CsrfField::default()
}

pub(super) async fn session_info(Authed(s): Authed) -> Json<serde_json::Value> {
    let login = s.pool.login();
    Json(serde_json::json!({ "csrf": s.csrf, "user": login.user, "upstream": login.upstream.to_string() }))
}

#[derive(Debug, Deserialize)]
pub(super) struct OpenQuery {
    url: String,
}

/// `/open?url=ftp://user@host/dir/`: prefill the login for an allowed upstream
/// (`ftps://` and `ftpes://` URLs too; an FTPS scheme must match the server's).
pub(super) async fn open(State(state): State<Arc<AppState>>, Query(q): Query<OpenQuery>) -> Result<Redirect, WebError> {
    let url = q.url.trim();
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(scheme, _)| ["ftp", "ftps", "ftpes"].iter().any(|s| scheme.eq_ignore_ascii_case(s)))
        .ok_or_else(|| WebError::BadRequest("only ftp://, ftps:// and ftpes:// URLs can be opened".into()))?;
    let (authority, dir) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if userinfo.is_some_and(|u| u.contains(':')) {
        return Err(WebError::BadRequest("passwords in URLs are refused; enter it on the login page".into()));
    }
    let user = userinfo.map(|u| percent_encoding::percent_decode_str(u).decode_utf8_lossy().to_string());
    let upstream = state
        .upstreams
        .resolve(Some(&format!("{scheme}://{host}")))
        .ok_or_else(|| WebError::Forbidden("this server is not on the gateway's allow-list".into()))?
        .to_string();
    let dir = percent_encoding::percent_decode_str(dir).decode_utf8_lossy().to_string();
    let dir = clean(&dir)?;
    let mut target = format!("/login?host={}&dir={}", url_encode(&upstream), url_encode(&dir));
    if let Some(u) = user {
        target.push_str(&format!("&user={}", url_encode(&u)));
    }
    Ok(Redirect::to(&target))
}

pub(super) async fn root(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Redirect {
    if session_from(&state, &headers).is_some() { Redirect::to("/browse/") } else { Redirect::to("/login") }
}
