//! HTTP routes: pages, the JSON API, and the security checks around them.
//!
//! Three middlewares wrap every route, outermost first: one adds the security
//! headers (a strict CSP on the app's own pages, whose served user files set
//! `sandbox` themselves; `Cache-Control: no-store` unless a route chose
//! otherwise; HSTS under HTTPS); one refuses a `Host` that is not an allowed
//! host name (DNS rebinding); one refuses state-changing requests without a
//! session (401) or without the session's CSRF token in `X-CSRF-Token` (403).
//! Bodies read whole (forms, JSON) are capped at `max_form_bytes`; uploads
//! and saves are streamed and capped by `max_upload_bytes` as they go.

mod auth;
mod files;

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use crate::client::{AllowedHosts, client_ip};
use crate::config::{Upstreams, WebConfig};
use crate::error::WebError;
use crate::ftps::ClientTls;
use crate::session::{COOKIE, SECURE_COOKIE, Session, Sessions};
use crate::stats::{Refusal, Telemetry};
use crate::throttle::LoginThrottle;

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    pub config: WebConfig,
    pub upstreams: Upstreams,
    pub client_tls: ClientTls,
    pub sessions: Sessions,
    pub throttle: Arc<LoginThrottle>,
    pub hosts: AllowedHosts,
    pub telemetry: Arc<Telemetry>,
}

impl AppState {
    /// The session cookie's name: `__Host-` prefixed whenever it is `Secure`.
    pub(crate) fn cookie_name(&self) -> &'static str {
        if self.config.secure_cookies { SECURE_COOKIE } else { COOKIE }
    }
}

/// Header carrying the CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The CSP of the app's own pages: our script and style files only.
const APP_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Build the router over `state`.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    // Streamed bodies, capped as they go (see `transfer`).
    let uploads = Router::new()
        .route("/api/upload", post(files::upload))
        .route("/api/file", put(files::put_file).delete(files::delete_file))
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/", get(auth::root))
        .route("/login", get(auth::login_page).post(auth::login_form))
        .route("/logout", post(auth::logout))
        .route("/open", get(auth::open))
        .route("/api/login", post(auth::login_json))
        .route("/api/session", get(auth::session_info))
        .route("/browse", get(files::browse_root))
        .route("/browse/", get(files::browse_root))
        .route("/browse/{*path}", get(files::browse))
        .route("/download/{*path}", get(files::download))
        .route("/view/{*path}", get(files::view))
        .route("/static/app.js", get(files::app_js))
        .route("/static/app.css", get(files::app_css))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/list", get(files::api_list))
        .route("/api/mkdir", post(files::mkdir))
        .route("/api/rename", post(files::rename))
        .route("/api/delete", post(files::delete))
        .route("/api/copy", post(files::copy))
        .route("/api/chmod", post(files::chmod))
        .merge(uploads)
        .layer(DefaultBodyLimit::max(state.config.max_form_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), csrf_guard))
        .layer(middleware::from_fn_with_state(state.clone(), host_guard))
        .layer(middleware::from_fn_with_state(state.clone(), security_headers))
        .with_state(state)
}

// ---- middleware -------------------------------------------------------------

/// Headers every response gets: the app CSP and `Cache-Control: no-store`
/// unless the handler set its own (pages and API answers carry file names,
/// listings and the CSRF token, which no cache should keep), and HSTS under
/// HTTPS.
async fn security_headers(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(APP_CSP));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // `same-origin`, not `no-referrer`: with the latter Chromium sends `Origin: null`
    // on form posts, which the login check would have to refuse.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if state.config.https.is_some()
        && state.config.hsts_max_age > 0
        && let Ok(v) = HeaderValue::from_str(&format!("max-age={}", state.config.hsts_max_age))
    {
        h.insert(header::STRICT_TRANSPORT_SECURITY, v);
    }
    resp
}

/// Refuse a request whose `Host` is not one of the allowed host names.
async fn host_guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if state.hosts.allows(req.headers()) {
        return next.run(req).await;
    }
    let peer = peer_of(req.extensions());
    state.telemetry.refused(Refusal::UnknownHost, client_ip(peer, req.headers(), &state.config.trusted_proxies));
    WebError::BadRequest("this server does not answer to that host name (see web.allowed_hosts)".into()).into_response()
}

/// Refuse POST/PUT/DELETE/PATCH without a session or a matching CSRF token.
/// Login has no session yet (it checks `Origin` instead); logout accepts the
/// token as a form field too so it works without JavaScript.
async fn csrf_guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let changing = matches!(*req.method(), Method::POST | Method::PUT | Method::DELETE | Method::PATCH);
    let path = req.uri().path();
    if !changing || path == "/logout" {
        return next.run(req).await;
    }
    if path == "/login" || path == "/api/login" {
        if !same_origin(req.headers()) {
            return WebError::Forbidden("cross-site login refused".into()).into_response();
        }
        return next.run(req).await;
    }
    let Some((_, session)) = session_from(&state, req.headers()) else {
        return WebError::Unauthorized.into_response();
    };
    let token = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !session.csrf_ok(token) {
        return WebError::Forbidden("missing or wrong CSRF token".into()).into_response();
    }
    next.run(req).await
}

/// Whether the `Origin` header, when present, names this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

// ---- who is asking ----------------------------------------------------------

/// The TCP peer, as the listener recorded it; the unspecified address when
/// the router is served without connect info (then every client shares the
/// per-address limits).
fn peer_of(extensions: &axum::http::Extensions) -> IpAddr {
    extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// Extractor: the browser's address (see [`client_ip`]).
pub(crate) struct Client(pub IpAddr);

impl FromRequestParts<Arc<AppState>> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Infallible> {
        Ok(Client(client_ip(peer_of(&parts.extensions), &parts.headers, &state.config.trusted_proxies)))
    }
}

/// The session named by the request's cookie, if live.
fn session_from(state: &AppState, headers: &HeaderMap) -> Option<(String, Arc<Session>)> {
    let name = state.cookie_name();
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=')
                && k == name
                && let Some(s) = state.sessions.get(v)
            {
                return Some((v.to_string(), s));
            }
        }
    }
    None
}

/// Whether the request carries a session cookie at all (live or not).
fn has_session_cookie(state: &AppState, headers: &HeaderMap) -> bool {
    let name = state.cookie_name();
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(';').any(|pair| pair.trim().split_once('=').is_some_and(|(k, v)| k == name && !v.is_empty())))
}

/// Extractor: the caller's live session, or 401.
pub(crate) struct Authed(Arc<Session>);

impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, WebError> {
        session_from(state, &parts.headers).map(|(_, s)| Authed(s)).ok_or(WebError::Unauthorized)
    }
}

/// The `Set-Cookie` value for session `id` (`max_age` 0 deletes it).
fn cookie(state: &AppState, id: &str, max_age: Option<u32>) -> HeaderValue {
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    let name = state.cookie_name();
    HeaderValue::from_str(&format!("{name}={id}; Path=/; HttpOnly; SameSite=Strict{secure}{age}"))
        .unwrap_or_else(|_| HeaderValue::from_static("oxftp_web=; Path=/; Max-Age=0"))
}
