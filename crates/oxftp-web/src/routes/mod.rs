//! HTTP routes: pages, the JSON API, and the security checks around them.
//!
//! Two middlewares wrap every route: one adds the security headers (a strict
//! CSP on the app's own pages; served user files set `sandbox` themselves),
//! the other refuses state-changing requests without a session (401) or
//! without the session's CSRF token in `X-CSRF-Token` (403).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Multipart, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;

use crate::config::{Upstreams, WebConfig};
use crate::error::WebError;
use crate::ftps::ClientTls;
use crate::html;
use crate::listing::list;
use crate::ops;
use crate::paths::{clean, url_encode, url_encode_path};
use crate::pool::{Login, Pool, connect};
use crate::session::{COOKIE, Session, Sessions};
use crate::transfer;

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    pub config: WebConfig,
    pub upstreams: Upstreams,
    pub client_tls: ClientTls,
    pub sessions: Sessions,
}

/// Header carrying the CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The CSP of the app's own pages: our script and style files only.
const APP_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

/// Build the router over `state`.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let uploads = Router::new()
        .route("/api/upload", post(upload))
        .route("/api/file", axum::routing::put(put_file).delete(delete_file))
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/", get(root))
        .route("/login", get(login_page).post(login_form))
        .route("/logout", post(logout))
        .route("/open", get(open))
        .route("/browse", get(browse_root))
        .route("/browse/", get(browse_root))
        .route("/browse/{*path}", get(browse))
        .route("/download/{*path}", get(download))
        .route("/view/{*path}", get(view))
        .route("/static/app.js", get(app_js))
        .route("/static/app.css", get(app_css))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/login", post(login_json))
        .route("/api/session", get(session_info))
        .route("/api/list", get(api_list))
        .route("/api/mkdir", post(mkdir))
        .route("/api/rename", post(rename))
        .route("/api/delete", post(delete))
        .route("/api/copy", post(copy))
        .route("/api/chmod", post(chmod))
        .merge(uploads)
        .layer(middleware::from_fn_with_state(state.clone(), csrf_guard))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

// ---- middleware -------------------------------------------------------------

/// Headers every response gets; the app CSP unless the handler set its own.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(APP_CSP));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // `same-origin`, not `no-referrer`: with the latter Chromium sends `Origin: null`
    // on form posts, which the login check would have to refuse.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
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

// ---- sessions ---------------------------------------------------------------

/// The session named by the request's cookie, if live.
fn session_from(state: &AppState, headers: &HeaderMap) -> Option<(String, Arc<Session>)> {
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=')
                && k == COOKIE
                && let Some(s) = state.sessions.get(v)
            {
                return Some((v.to_string(), s));
            }
        }
    }
    None
}

/// Extractor: the caller's live session, or 401.
pub(crate) struct Authed(Arc<Session>);

impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, WebError> {
        session_from(state, &parts.headers).map(|(_, s)| Authed(s)).ok_or(WebError::Unauthorized)
    }
}

fn cookie(state: &AppState, id: &str, max_age: Option<u32>) -> HeaderValue {
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    HeaderValue::from_str(&format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}{age}"))
        .unwrap_or_else(|_| HeaderValue::from_static("oxftp_web=; Path=/; Max-Age=0"))
}

// ---- login / logout / open ----------------------------------------------------

/// Fields of a login (form or JSON).
#[derive(Debug, Deserialize)]
struct LoginFields {
    #[serde(default)]
    host: Option<String>,
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    dir: Option<String>,
}

/// Check the upstream against the allow-list (before any connection), log in
/// and store a session. Returns the session id and session.
async fn do_login(state: &AppState, f: &LoginFields) -> Result<(String, Arc<Session>), WebError> {
    let upstream = state
        .upstreams
        .resolve(f.host.as_deref())
        .ok_or_else(|| WebError::Forbidden("this server is not on the gateway's allow-list".into()))?;
    let bad = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) || s.len() > 256;
    if f.user.trim().is_empty() || bad(&f.user) || bad(&f.password) {
        return Err(WebError::BadRequest("invalid user name or password".into()));
    }
    let tls = state.client_tls.for_upstream(&upstream, state.upstreams.is_default(&upstream))?;
    let login = Login { upstream, tls, user: f.user.trim().to_string(), password: f.password.clone() };
    let first = connect(&login, state.config.connect_timeout).await.map_err(|e| match e {
        WebError::Ftp { code, text } if (500..600).contains(&code) || code == 421 => {
            WebError::LoginFailed { code, text }
        }
        other => other,
    })?;
    let pool = Pool::new(login, first, state.config.connections_per_session, state.config.connect_timeout);
    match state.sessions.create(pool.clone()) {
        Some(s) => Ok(s),
        None => {
            pool.close();
            Err(WebError::Unavailable("too many sessions; try again later".into()))
        }
    }
}

/// Query of the login page (prefill, from `/open` or a redirect).
#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    host: Option<String>,
    user: Option<String>,
    dir: Option<String>,
    error: Option<String>,
}

async fn login_page(State(state): State<Arc<AppState>>, Query(q): Query<LoginQuery>) -> Html<String> {
    // Preselect the configured form of the named server (which may add its FTPS scheme).
    let host = q.host.as_deref().and_then(|h| state.upstreams.resolve(Some(h))).map(|u| u.to_string());
    let default = state.upstreams.default_upstream().to_string();
    let form = html::LoginForm {
        hosts: state.upstreams.choices().collect(),
        host: host.as_deref().unwrap_or(&default),
        user: q.user.as_deref().unwrap_or(""),
        dir: q.dir.as_deref().unwrap_or("/"),
        error: q.error.as_deref(),
    };
    Html(html::login_page(&form))
}

async fn login_form(State(state): State<Arc<AppState>>, Form(f): Form<LoginFields>) -> Response {
    let dir = f.dir.as_deref().and_then(|d| clean(d).ok()).unwrap_or_else(|| "/".into());
    match do_login(&state, &f).await {
        Ok((id, _)) => {
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
            (e.status(), Html(html::login_page(&form))).into_response()
        }
    }
}

async fn login_json(State(state): State<Arc<AppState>>, Json(f): Json<LoginFields>) -> Result<Response, WebError> {
    let (id, session) = do_login(&state, &f).await?;
    let login = session.pool.login();
    let body = serde_json::json!({ "csrf": session.csrf, "user": login.user, "upstream": login.upstream.to_string() });
    let mut resp = Json(body).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, cookie(&state, &id, None));
    Ok(resp)
}

#[derive(Debug, Default, Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
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

async fn session_info(Authed(s): Authed) -> Json<serde_json::Value> {
    let login = s.pool.login();
    Json(serde_json::json!({ "csrf": s.csrf, "user": login.user, "upstream": login.upstream.to_string() }))
}

#[derive(Debug, Deserialize)]
struct OpenQuery {
    url: String,
}

/// `/open?url=ftp://user@host/dir/`: prefill the login for an allowed upstream
/// (`ftps://` and `ftpes://` URLs too; an FTPS scheme must match the server's).
async fn open(State(state): State<Arc<AppState>>, Query(q): Query<OpenQuery>) -> Result<Redirect, WebError> {
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

async fn root(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Redirect {
    if session_from(&state, &headers).is_some() { Redirect::to("/browse/") } else { Redirect::to("/login") }
}

// ---- pages and static files ---------------------------------------------------------

async fn app_js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], APP_JS)
}

async fn app_css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], APP_CSS)
}

async fn browse_root(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    render_browse(&state, &headers, "/").await
}

async fn browse(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(path): Path<String>) -> Response {
    render_browse(&state, &headers, &path).await
}

async fn render_browse(state: &AppState, headers: &HeaderMap, raw: &str) -> Response {
    let path = match clean(raw) {
        Ok(p) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, Html(html::error_page(400, e.0))).into_response(),
    };
    let Some((_, session)) = session_from(state, headers) else {
        return Redirect::to(&format!("/login?dir={}", url_encode(&path))).into_response();
    };
    let result = async {
        let mut lease = session.pool.acquire().await?;
        list(&mut lease, &path).await
    }
    .await;
    match result {
        Ok(listing) => {
            let login = session.pool.login();
            Html(html::browse_page(&listing, &login.user, &login.upstream.to_string(), &session.csrf)).into_response()
        }
        Err(e) => (e.status(), Html(html::error_page(e.status().as_u16(), &e.to_string()))).into_response(),
    }
}

async fn download(Authed(s): Authed, headers: HeaderMap, Path(path): Path<String>) -> Result<Response, WebError> {
    transfer::download(&s.pool, &clean(&path)?, &headers, false).await
}

async fn view(Authed(s): Authed, headers: HeaderMap, Path(path): Path<String>) -> Result<Response, WebError> {
    transfer::download(&s.pool, &clean(&path)?, &headers, true).await
}

// ---- JSON API -----------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct PathQuery {
    #[serde(default)]
    path: String,
}

#[derive(Debug, Deserialize)]
struct DirQuery {
    #[serde(default)]
    dir: String,
}

#[derive(Debug, Deserialize)]
struct FromTo {
    from: String,
    to: String,
}

#[derive(Debug, Deserialize)]
struct DeleteBody {
    path: String,
    #[serde(default)]
    recursive: bool,
}

#[derive(Debug, Deserialize)]
struct ChmodBody {
    path: String,
    mode: String,
}

fn ok(value: serde_json::Value) -> Json<serde_json::Value> {
    Json(value)
}

async fn api_list(Authed(s): Authed, Query(q): Query<PathQuery>) -> Result<Json<serde_json::Value>, WebError> {
    let path = clean(&q.path)?;
    let mut lease = s.pool.acquire().await?;
    let listing = list(&mut lease, &path).await?;
    Ok(ok(serde_json::to_value(listing).map_err(|e| WebError::Upstream(e.to_string()))?))
}

async fn mkdir(Authed(s): Authed, Json(b): Json<PathQuery>) -> Result<Json<serde_json::Value>, WebError> {
    let path = clean(&b.path)?;
    if path == "/" {
        return Err(WebError::BadRequest("the root already exists".into()));
    }
    let mut lease = s.pool.acquire().await?;
    let r = lease.ftp()?.mkdir(path.as_str()).await.map_err(WebError::from);
    lease.check(r)?;
    Ok(ok(serde_json::json!({ "created": path })))
}

async fn rename(Authed(s): Authed, Json(b): Json<FromTo>) -> Result<Json<serde_json::Value>, WebError> {
    let (from, to) = (clean(&b.from)?, clean(&b.to)?);
    if from == "/" || to == "/" {
        return Err(WebError::BadRequest("cannot rename the root".into()));
    }
    let mut lease = s.pool.acquire().await?;
    let r = lease.ftp()?.rename(from.as_str(), to.as_str()).await.map_err(WebError::from);
    lease.check(r)?;
    Ok(ok(serde_json::json!({ "from": from, "to": to })))
}

async fn delete(Authed(s): Authed, Json(b): Json<DeleteBody>) -> Result<Json<serde_json::Value>, WebError> {
    let path = clean(&b.path)?;
    if path == "/" {
        return Err(WebError::BadRequest("cannot delete the root".into()));
    }
    let mut lease = s.pool.acquire().await?;
    let as_file = lease.ftp()?.rm(path.as_str()).await.map_err(WebError::from);
    let first = match lease.check(as_file) {
        Ok(()) => return Ok(ok(serde_json::json!({ "deleted": path, "entries": 1 }))),
        Err(e @ WebError::Ftp { .. }) => e,
        Err(e) => return Err(e),
    };
    let as_dir = lease.ftp()?.rmdir(path.as_str()).await.map_err(WebError::from);
    match lease.check(as_dir) {
        Ok(()) => Ok(ok(serde_json::json!({ "deleted": path, "entries": 1 }))),
        Err(WebError::Ftp { .. }) if b.recursive => {
            let n = ops::delete_tree(&mut lease, &path).await?;
            Ok(ok(serde_json::json!({ "deleted": path, "entries": n })))
        }
        Err(WebError::Ftp { code, text }) if code == 550 && !b.recursive => {
            // Not a file, and rmdir refused: most likely a non-empty directory.
            Err(WebError::Ftp { code, text })
        }
        Err(_) => Err(first),
    }
}

async fn delete_file(Authed(s): Authed, Query(q): Query<PathQuery>) -> Result<Json<serde_json::Value>, WebError> {
    let path = clean(&q.path)?;
    let mut lease = s.pool.acquire().await?;
    let r = lease.ftp()?.rm(path.as_str()).await.map_err(WebError::from);
    lease.check(r)?;
    Ok(ok(serde_json::json!({ "deleted": path })))
}

async fn copy(Authed(s): Authed, Json(b): Json<FromTo>) -> Result<Json<serde_json::Value>, WebError> {
    let (from, to) = (clean(&b.from)?, clean(&b.to)?);
    if from == to {
        return Err(WebError::BadRequest("source and target are the same".into()));
    }
    let bytes = ops::copy(&s.pool, &from, &to).await?;
    Ok(ok(serde_json::json!({ "from": from, "to": to, "bytes": bytes })))
}

async fn chmod(Authed(s): Authed, Json(b): Json<ChmodBody>) -> Result<Json<serde_json::Value>, WebError> {
    let path = clean(&b.path)?;
    let mode = b.mode.trim();
    if mode.is_empty() || mode.len() > 4 || !mode.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
        return Err(WebError::BadRequest("mode must be octal, like 644".into()));
    }
    let mut lease = s.pool.acquire().await?;
    let r = lease.ftp()?.site(format!("CHMOD {mode} {path}")).await.map_err(WebError::from);
    lease.check(r)?;
    Ok(ok(serde_json::json!({ "path": path, "mode": mode })))
}

async fn upload(
    State(state): State<Arc<AppState>>,
    Authed(s): Authed,
    Query(q): Query<DirQuery>,
    headers: HeaderMap,
    form: Multipart,
) -> Result<Json<serde_json::Value>, WebError> {
    let dir = clean(&q.dir)?;
    let names = transfer::upload_multipart(&s.pool, &dir, &headers, form, state.config.max_upload_bytes).await?;
    Ok(ok(serde_json::json!({ "dir": dir, "uploaded": names })))
}

async fn put_file(
    State(state): State<Arc<AppState>>,
    Authed(s): Authed,
    Query(q): Query<PathQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, WebError> {
    let path = clean(&q.path)?;
    if path == "/" {
        return Err(WebError::BadRequest("not a file path".into()));
    }
    let bytes = transfer::put_body(&s.pool, &path, &headers, body, state.config.max_upload_bytes).await?;
    Ok(ok(serde_json::json!({ "path": path, "bytes": bytes })))
}
