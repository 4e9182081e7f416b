//! Share links over HTTP: the owner's pages and forms (`/shares`,
//! `/form/shares`), and the visitor's routes under `/s/{token}`.
//!
//! A visitor has no session: each request opens the link (404 for an
//! unknown or revoked token, 410 for an expired or used-up one), logs in
//! upstream as the owner, and only then looks at the path asked for, which
//! must lie under the shared path and be reached through folders the
//! upstream lists as folders (see [`resolve`]). Forms carry a CSRF token
//! tied to the visitor's cookie, and a foreign `Origin` is refused.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tokio::sync::OwnedSemaphorePermit;

use super::forms::{field, form_pairs, roots_from, zip_body};
use super::{AppState, Client, same_origin, session_from};
use crate::error::WebError;
use crate::listing::{Kind, list};
use crate::paths::{clean, file_name, join};
use crate::pool::{Lease, Login, Pool, connect};
use crate::session::Session;
use crate::share_pages as pages;
use crate::shares::{NewLink, Opened, ShareKind, UNLOCK_TIME, now};
use crate::stats::Refusal;
use crate::transfer;
use crate::zip;

/// Name of a visitor's cookie (its `Path` is the link's, so links do not mix).
const VISITOR_COOKIE: &str = "oxftp_share";

// ---- the owner --------------------------------------------------------------

/// The caller's session, or the login page for HTML routes.
fn owner(state: &AppState, headers: &HeaderMap) -> Result<Arc<Session>, Box<Response>> {
    match session_from(state, headers) {
        Some((_, s)) if state.shares.may_share(&s.pool.login().user) => Ok(s),
        Some(_) => {
            Err(Box::new(html_error(&WebError::NotFound("share links are not available for this account".into()))))
        }
        None => Err(Box::new(Redirect::to("/login").into_response())),
    }
}

fn html_error(e: &WebError) -> Response {
    super::forms::error_page(e)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    done: Option<String>,
}

/// `GET /shares`: the caller's links.
pub(super) async fn list_links(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let s = match owner(&state, &headers) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let login = s.pool.login();
    let links = state.shares.list(&login.upstream.to_string(), &login.user);
    let notice = match q.done.as_deref() {
        Some("revoked") => Some("The link was revoked."),
        _ => None,
    };
    Html(pages::list_page(&login.user, &s.csrf, &links, now(), notice)).into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct NewQuery {
    path: String,
}

/// Whether `path` is a folder (`true`) or a file, from its parent's
/// listing; links and special files cannot be shared.
async fn kind_of(lease: &mut Lease, path: &str) -> Result<bool, WebError> {
    if path == "/" {
        return Ok(true);
    }
    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
    let parent = if parent.is_empty() { "/" } else { parent };
    let listing = list(lease, parent).await?;
    let entry = listing
        .entries
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| WebError::NotFound(format!("{path}: no such file or folder")))?;
    match entry.kind {
        Kind::Dir => Ok(true),
        Kind::File => Ok(false),
        _ => Err(WebError::Forbidden("links and special files cannot be shared".into())),
    }
}

/// `GET /shares/new?path=`: the form for a link to `path`.
pub(super) async fn new_link(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<NewQuery>,
) -> Response {
    let s = match owner(&state, &headers) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let result = async {
        let path = clean(&q.path)?;
        let mut lease = s.pool.acquire().await?;
        kind_of(&mut lease, &path).await.map(|dir| (path, dir))
    }
    .await;
    match result {
        Ok((path, dir)) => {
            let days = state.shares.max_lifetime().as_secs().div_ceil(86400).max(1);
            Html(pages::new_page(&s.pool.login().user, &s.csrf, &path, dir, days)).into_response()
        }
        Err(e) => html_error(&e),
    }
}

/// The scheme and host the caller used (the `Host` was checked already).
fn origin(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    let scheme = if state.config.https.is_some() || state.config.secure_cookies { "https" } else { "http" };
    format!("{scheme}://{host}")
}

/// `POST /form/shares`: make a link. Fields: `csrf`, `path`, `kind`
/// (`download`, `upload`), `days`, `link_password`, `max_downloads`,
/// `owner_password` (the caller's FTP password again).
pub(super) async fn create(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    let result = async {
        if !same_origin(&headers) {
            return Err(WebError::Forbidden("cross-site form refused".into()));
        }
        let (_, s) = session_from(&state, &headers).ok_or(WebError::Unauthorized)?;
        if !s.csrf_ok(field(&pairs, "csrf").unwrap_or("")) {
            return Err(WebError::Forbidden("missing or wrong CSRF token".into()));
        }
        let login = s.pool.login();
        if !state.shares.may_share(&login.user) {
            return Err(WebError::NotFound("share links are not available for this account".into()));
        }
        let typed = field(&pairs, "owner_password").unwrap_or("");
        if !bool::from(typed.as_bytes().ct_eq(login.password.as_bytes())) {
            return Err(WebError::Forbidden("that is not your password".into()));
        }
        let path = clean(field(&pairs, "path").unwrap_or(""))?;
        let kind = match field(&pairs, "kind") {
            Some("upload") => ShareKind::Upload,
            _ => ShareKind::Download,
        };
        let days: u64 = field(&pairs, "days")
            .and_then(|d| d.trim().parse().ok())
            .filter(|d| *d >= 1)
            .ok_or_else(|| WebError::BadRequest("say for how many days the link works".into()))?;
        let max_downloads = match field(&pairs, "max_downloads").map(str::trim).filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(
                v.parse::<u64>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| WebError::BadRequest("most downloads: a number from 1".into()))?,
            ),
        };
        let password = field(&pairs, "link_password").filter(|p| !p.is_empty());
        if password.is_some_and(|p| p.len() > 256) {
            return Err(WebError::BadRequest("the link password is too long".into()));
        }
        let dir = {
            let mut lease = s.pool.acquire().await?;
            kind_of(&mut lease, &path).await?
        };
        let upstream = login.upstream.to_string();
        let new = NewLink {
            upstream: &upstream,
            user: &login.user,
            owner_password: &login.password,
            path: &path,
            dir,
            kind,
            lifetime: std::time::Duration::from_secs(days.saturating_mul(86400)),
            password,
            max_downloads,
        };
        let (token, record) = state.shares.create(&new)?;
        let url = pages::link_url(&origin(&state, &headers), &token);
        Ok(pages::created_page(&login.user, &s.csrf, &url, &record))
    }
    .await;
    match result {
        Ok(page) => Html(page).into_response(),
        Err(e) => html_error(&e),
    }
}

/// `POST /form/shares/revoke`: fields `csrf`, `id`.
pub(super) async fn revoke(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    let result = async {
        if !same_origin(&headers) {
            return Err(WebError::Forbidden("cross-site form refused".into()));
        }
        let (_, s) = session_from(&state, &headers).ok_or(WebError::Unauthorized)?;
        if !s.csrf_ok(field(&pairs, "csrf").unwrap_or("")) {
            return Err(WebError::Forbidden("missing or wrong CSRF token".into()));
        }
        let login = s.pool.login();
        let id = field(&pairs, "id").unwrap_or("");
        if !state.shares.revoke(&login.upstream.to_string(), &login.user, id)? {
            return Err(WebError::NotFound("no such link".into()));
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Redirect::to("/shares?done=revoked").into_response(),
        Err(e) => html_error(&e),
    }
}

// ---- visitors ---------------------------------------------------------------

/// One visitor request on an opened link.
struct Visit {
    opened: Opened,
    /// `/s/{token}`.
    base: String,
    nonce: String,
    unlocked: bool,
    /// A new cookie to send (a first visit, or after the password).
    set_cookie: Option<HeaderValue>,
}

impl Visit {
    fn csrf(&self, state: &AppState) -> String {
        state.shares.visitor_csrf(&self.opened.record.id, &self.nonce)
    }

    /// The page or answer `resp`, with the visitor cookie when there is a new one.
    fn respond(&self, resp: impl IntoResponse) -> Response {
        let mut resp = resp.into_response();
        if let Some(c) = &self.set_cookie {
            resp.headers_mut().append(header::SET_COOKIE, c.clone());
        }
        resp
    }
}

/// Open the link `token` for this request (see [`crate::shares`]).
fn visit(state: &AppState, headers: &HeaderMap, token: &str) -> Result<Visit, WebError> {
    let opened = state.shares.open(token)?;
    let id = opened.record.id.clone();
    let base = format!("/s/{token}");
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .filter(|(k, _)| *k == VISITOR_COOKIE)
        .find_map(|(_, v)| state.shares.visitor(&id, v));
    let (nonce, until, fresh) = match cookie {
        Some((nonce, until)) => (nonce, until, false),
        None => {
            let value = state
                .shares
                .visitor_cookie(&id, None, 0)
                .ok_or_else(|| WebError::Unavailable("try again later".into()))?;
            let nonce = value.split('.').next().unwrap_or_default().to_string();
            (nonce, 0, true)
        }
    };
    let unlocked = opened.record.password.is_none() || until > now();
    let set_cookie = if fresh { visitor_cookie_header(state, &base, &id, &nonce, 0) } else { None };
    Ok(Visit { opened, base, nonce, unlocked, set_cookie })
}

fn visitor_cookie_header(state: &AppState, base: &str, id: &str, nonce: &str, until: u64) -> Option<HeaderValue> {
    let value = state.shares.visitor_cookie(id, Some(nonce), until)?;
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    // Lax, not Strict: opening the link again from a mail or chat (a
    // cross-site navigation) keeps a visitor let in after the password;
    // forms are still safe, since a cross-site POST carries no Lax cookie
    // and their token is tied to it.
    HeaderValue::from_str(&format!("{VISITOR_COOKIE}={value}; Path={base}; HttpOnly; SameSite=Lax{secure}")).ok()
}

/// A visitor's error page (404, 410, ...).
fn visitor_error(e: &WebError) -> Response {
    let status = e.status();
    let message = match e {
        WebError::NotFound(m) | WebError::Gone(m) => m.clone(),
        other => other.to_string(),
    };
    let mut resp = (status, Html(pages::gone_page(status.as_u16(), &message))).into_response();
    if let WebError::TooManyRequests { retry_after, .. } = e {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
    }
    resp
}

/// A response body that holds a visitor slot until it is sent or dropped.
struct Held {
    body: Body,
    _slot: OwnedSemaphorePermit,
}

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// `resp` with its body holding `slot` (a download outlives its handler).
fn holding(resp: Response, slot: OwnedSemaphorePermit) -> Response {
    resp.map(|body| Body::new(Held { body, _slot: slot }))
}

/// Log in upstream as the link's owner: a pool of its own for this request,
/// and the visitor slot it takes.
async fn owner_pool(state: &AppState, opened: &Opened) -> Result<(Arc<Pool>, OwnedSemaphorePermit), WebError> {
    let slot = state.shares.slot()?;
    let record = &opened.record;
    let gone = || WebError::Gone("This link no longer works.".into());
    // The upstream must still be one this gateway may reach, with the same protection.
    let upstream = state
        .upstreams
        .resolve(Some(&record.upstream))
        .filter(|u| u.to_string() == record.upstream)
        .ok_or_else(gone)?;
    let tls = state.client_tls.for_upstream(&upstream, state.upstreams.is_default(&upstream))?;
    let login = Login { upstream, tls, user: record.user.clone(), password: opened.owner_password.clone() };
    let ftp = match connect(&login, state.config.connect_timeout).await {
        Ok(ftp) => ftp,
        // The owner's password changed, or the account is gone.
        Err(WebError::Ftp { code: 530, .. }) => return Err(gone()),
        Err(e) => return Err(e),
    };
    Ok((Pool::new(login, ftp, 2, state.config.connect_timeout), slot))
}

/// The upstream path for `sub` (a path below the shared one, `/` for
/// itself) and its kind. `sub` is cleaned (no `.`/`..`, also encoded), and
/// every level from the shared path down is looked up in its parent's
/// listing: it must be a folder (or, last, a file). What the upstream lists
/// as a link is refused, so a link placed in a shared folder cannot lead
/// out of it.
async fn resolve(lease: &mut Lease, record: &crate::shares::Record, sub: &str) -> Result<(String, Kind), WebError> {
    let missing = || WebError::NotFound("There is no such file or folder in this share.".into());
    let sub = clean(sub).map_err(|_| missing())?;
    if !record.dir && sub != "/" {
        return Err(missing());
    }
    // The shared path itself must still be what it was.
    let mut current = record.path.clone();
    let mut kind = if record.path == "/" {
        Kind::Dir
    } else {
        let (parent, name) = record.path.rsplit_once('/').unwrap_or(("", &record.path));
        let parent = if parent.is_empty() { "/" } else { parent };
        let listing = list(lease, parent).await?;
        let e = listing.entries.iter().find(|e| e.name == name).ok_or_else(missing)?;
        let expected = if record.dir { Kind::Dir } else { Kind::File };
        if e.kind != expected {
            return Err(missing());
        }
        e.kind
    };
    for seg in sub.split('/').filter(|s| !s.is_empty()) {
        if kind != Kind::Dir {
            return Err(missing());
        }
        let listing = list(lease, &current).await?;
        let e = listing.entries.iter().find(|e| e.name == seg).ok_or_else(missing)?;
        kind = match e.kind {
            Kind::Dir | Kind::File => e.kind,
            _ => return Err(missing()),
        };
        current = join(&current, seg);
    }
    Ok((current, kind))
}

/// `GET /s/{token}`: the link's page.
pub(super) async fn landing(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    visitor_page(&state, &headers, &token, "/").await
}

/// `GET /s/{token}/browse/{*sub}`: a folder below a shared folder.
pub(super) async fn browse(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((token, sub)): Path<(String, String)>,
) -> Response {
    visitor_page(&state, &headers, &token, &sub).await
}

async fn visitor_page(state: &AppState, headers: &HeaderMap, token: &str, sub: &str) -> Response {
    let v = match visit(state, headers, token) {
        Ok(v) => v,
        Err(e) => return visitor_error(&e),
    };
    if !v.unlocked {
        return v.respond(Html(pages::password_page(&v.base, &v.csrf(state), None)));
    }
    let record = &v.opened.record;
    match (record.kind, record.dir) {
        (ShareKind::Upload, _) => v.respond(Html(pages::dropbox_page(&v.base, &v.csrf(state), record, None))),
        (ShareKind::Download, false) => v.respond(Html(pages::file_page(&v.base, record))),
        (ShareKind::Download, true) => {
            let result = async {
                let (pool, _slot) = owner_pool(state, &v.opened).await?;
                let listed = async {
                    let mut lease = pool.acquire().await?;
                    let (path, kind) = resolve(&mut lease, record, sub).await?;
                    if kind != Kind::Dir {
                        return Err(WebError::NotFound("There is no such folder in this share.".into()));
                    }
                    list(&mut lease, &path).await
                }
                .await;
                pool.close();
                let mut listing = listed?;
                listing.path = clean(sub)?;
                Ok(listing)
            }
            .await;
            match result {
                Ok(listing) => v.respond(Html(pages::folder_page(&v.base, record, &listing.path, &listing))),
                Err(e) => v.respond(visitor_error(&e)),
            }
        }
    }
}

/// A visitor that may download: an unlocked download link.
fn downloader(state: &AppState, headers: &HeaderMap, token: &str) -> Result<Visit, WebError> {
    let v = visit(state, headers, token)?;
    if v.opened.record.kind != ShareKind::Download {
        return Err(WebError::NotFound("There is nothing to download here.".into()));
    }
    if !v.unlocked {
        return Err(WebError::Forbidden("open the link and give its password first".into()));
    }
    Ok(v)
}

/// `GET /s/{token}/file[/{*sub}]`: download the shared file, or a file in the shared folder.
pub(super) async fn file(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    download(&state, &headers, &token, "/").await
}

pub(super) async fn file_in(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((token, sub)): Path<(String, String)>,
) -> Response {
    download(&state, &headers, &token, &sub).await
}

async fn download(state: &AppState, headers: &HeaderMap, token: &str, sub: &str) -> Response {
    let result = async {
        let v = downloader(state, headers, token)?;
        let (pool, slot) = owner_pool(state, &v.opened).await?;
        let served = async {
            let path = {
                let mut lease = pool.acquire().await?;
                let (path, kind) = resolve(&mut lease, &v.opened.record, sub).await?;
                if kind != Kind::File {
                    return Err(WebError::NotFound("There is no such file in this share.".into()));
                }
                path
            };
            // A resumed download (a Range past the start) is the same download.
            let resumed =
                headers.get(header::RANGE).and_then(|r| r.to_str().ok()).is_some_and(|r| !r.starts_with("bytes=0-"));
            if !resumed {
                state.shares.count_download(&v.opened.record.id)?;
            }
            transfer::download(&pool, &path, headers, transfer::Serve::Save).await
        }
        .await;
        pool.close();
        Ok::<_, WebError>(v.respond(holding(served?, slot)))
    }
    .await;
    result.unwrap_or_else(|e| visitor_error(&e))
}

/// `GET /s/{token}/zip[/{*sub}]`: the shared folder, or a folder in it, as one ZIP.
pub(super) async fn zip_root(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    zip_folder(&state, &headers, &token, "/").await
}

pub(super) async fn zip_in(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((token, sub)): Path<(String, String)>,
) -> Response {
    zip_folder(&state, &headers, &token, &sub).await
}

async fn zip_folder(state: &AppState, headers: &HeaderMap, token: &str, sub: &str) -> Response {
    let result = async {
        let v = downloader(state, headers, token)?;
        let (pool, slot) = owner_pool(state, &v.opened).await?;
        let served = async {
            let mut lease = pool.acquire().await?;
            let (path, kind) = resolve(&mut lease, &v.opened.record, sub).await?;
            let name = file_name(&path).to_string();
            let roots = if kind == Kind::Dir {
                vec![zip::Item {
                    path: path.clone(),
                    name: if name.is_empty() { "shared".into() } else { name.clone() },
                    dir: true,
                    mtime: None,
                }]
            } else {
                let (parent, _) = path.rsplit_once('/').unwrap_or(("", &path));
                let listing = list(&mut lease, if parent.is_empty() { "/" } else { parent }).await?;
                roots_from(&listing.entries, if parent.is_empty() { "/" } else { parent }, &[name.as_str()])?
            };
            let items = zip::plan(&mut lease, roots).await?;
            state.shares.count_download(&v.opened.record.id)?;
            Ok::<_, WebError>(zip_body(lease, items, if name.is_empty() { "shared" } else { &name }))
        }
        .await;
        pool.close();
        Ok::<_, WebError>(v.respond(holding(served?, slot)))
    }
    .await;
    result.unwrap_or_else(|e| visitor_error(&e))
}

/// The visitor's form token is right, and the request is same-origin.
fn visitor_form_ok(state: &AppState, headers: &HeaderMap, v: &Visit, token: Option<&str>) -> Result<(), WebError> {
    if !same_origin(headers) {
        return Err(WebError::Forbidden("cross-site form refused".into()));
    }
    // A first-time cookie was made just now: the form cannot have its token.
    if v.set_cookie.is_some() {
        return Err(WebError::Forbidden("your browser did not send this link's cookie; open the link again".into()));
    }
    let want = v.csrf(state);
    if !bool::from(want.as_bytes().ct_eq(token.unwrap_or("").as_bytes())) {
        return Err(WebError::Forbidden("missing or wrong form token; open the link again".into()));
    }
    Ok(())
}

/// `POST /s/{token}/unlock`: fields `csrf`, `password`.
pub(super) async fn unlock(
    State(state): State<Arc<AppState>>,
    Client(client): Client,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    let v = match visit(&state, &headers, &token) {
        Ok(v) => v,
        Err(e) => return visitor_error(&e),
    };
    if let Err(e) = visitor_form_ok(&state, &headers, &v, field(&pairs, "csrf")) {
        return visitor_error(&e);
    }
    let Some(hash) = v.opened.record.password.clone() else {
        return Redirect::to(&v.base).into_response();
    };
    let ticket = match state.throttle.admit(client, &state.telemetry) {
        Ok(t) => t,
        Err(e) => return visitor_error(&e),
    };
    let given = field(&pairs, "password").unwrap_or("").to_string();
    let good =
        tokio::task::spawn_blocking(move || crate::shares::verify_password(&hash, &given)).await.unwrap_or(false);
    if !good {
        ticket.failed(&state.telemetry);
        let page = pages::password_page(&v.base, &v.csrf(&state), Some("Wrong password."));
        return (StatusCode::FORBIDDEN, Html(page)).into_response();
    }
    ticket.succeeded();
    let until = now() + UNLOCK_TIME;
    let mut resp = Redirect::to(&v.base).into_response();
    if let Some(c) = visitor_cookie_header(&state, &v.base, &v.opened.record.id, &v.nonce, until) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// `POST /s/{token}/upload`: a drop box's multipart form (first field
/// `csrf`); names that exist are refused, nothing is listed.
pub(super) async fn upload(
    State(state): State<Arc<AppState>>,
    Client(client): Client,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: Body,
) -> Response {
    let v = match visit(&state, &headers, &token) {
        Ok(v) => v,
        Err(e) => return visitor_error(&e),
    };
    let result = async {
        let record = &v.opened.record;
        if record.kind != ShareKind::Upload {
            return Err(WebError::NotFound("This link takes no uploads.".into()));
        }
        if !v.unlocked {
            return Err(WebError::Forbidden("open the link and give its password first".into()));
        }
        if !same_origin(&headers) || v.set_cookie.is_some() {
            return Err(WebError::Forbidden("cross-site form refused; open the link again".into()));
        }
        let (pool, _slot) = owner_pool(&state, &v.opened).await?;
        let stored = async {
            let dir = {
                let mut lease = pool.acquire().await?;
                resolve(&mut lease, record, "/").await?.0
            };
            let want = v.csrf(&state);
            let csrf_ok = move |t: &str| bool::from(want.as_bytes().ct_eq(t.as_bytes()));
            let rules = transfer::UploadRules { csrf: Some(Box::new(csrf_ok)), no_overwrite: true };
            let config = &state.config;
            transfer::upload_parts(
                &pool,
                &dir,
                &headers,
                body,
                config.max_upload_bytes,
                config.max_part_header_bytes,
                rules,
            )
            .await
        }
        .await;
        pool.close();
        if let Err(WebError::PartHeadersTooLong(_)) = &stored {
            state.telemetry.refused(Refusal::PartHeaderTooLarge, client);
        }
        stored
    }
    .await;
    match result {
        Ok(names) => {
            let notice = format!("Thank you: {} file(s) received.", names.len());
            v.respond(Html(pages::dropbox_page(&v.base, &v.csrf(&state), &v.opened.record, Some(&notice))))
        }
        Err(e) => v.respond(visitor_error(&e)),
    }
}
