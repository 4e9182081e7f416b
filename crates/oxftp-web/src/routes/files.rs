//! File pages and the file API: browsing, downloads, views, uploads and
//! the operations that change the tree.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{AppState, Authed, Client, has_session_cookie, session_from};
use crate::error::WebError;
use crate::html;
use crate::listing::list;
use crate::ops;
use crate::paths::{clean, url_encode};
use crate::stats::Refusal;
use crate::transfer;

const APP_JS: &str = include_str!("../../assets/app.js");
const APP_CSS: &str = include_str!("../../assets/app.css");

pub(super) async fn app_js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], APP_JS)
}

pub(super) async fn app_css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], APP_CSS)
}

pub(super) async fn browse_root(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    render_browse(&state, &headers, "/").await
}

pub(super) async fn browse(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Response {
    render_browse(&state, &headers, &path).await
}

async fn render_browse(state: &AppState, headers: &HeaderMap, raw: &str) -> Response {
    let path = match clean(raw) {
        Ok(p) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, Html(html::error_page(400, e.0))).into_response(),
    };
    let Some((_, session)) = session_from(state, headers) else {
        // A cookie that names no live session: say why the login page is back.
        let notice = if has_session_cookie(state, headers) { "&error=expired" } else { "" };
        return Redirect::to(&format!("/login?dir={}{notice}", url_encode(&path))).into_response();
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

pub(super) async fn download(
    Authed(s): Authed,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Result<Response, WebError> {
    transfer::download(&s.pool, &clean(&path)?, &headers, false).await
}

pub(super) async fn view(
    Authed(s): Authed,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Result<Response, WebError> {
    transfer::download(&s.pool, &clean(&path)?, &headers, true).await
}

#[derive(Debug, Deserialize)]
pub(super) struct PathQuery {
    #[serde(default)]
    path: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct DirQuery {
    #[serde(default)]
    dir: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct FromTo {
    from: String,
    to: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct DeleteBody {
    path: String,
    #[serde(default)]
    recursive: bool,
}

#[derive(Debug, Deserialize)]
pub(super) struct ChmodBody {
    path: String,
    mode: String,
}

fn ok(value: serde_json::Value) -> Json<serde_json::Value> {
    Json(value)
}

pub(super) async fn api_list(
    Authed(s): Authed,
    Query(q): Query<PathQuery>,
) -> Result<Json<serde_json::Value>, WebError> {
    let path = clean(&q.path)?;
    let mut lease = s.pool.acquire().await?;
    let listing = list(&mut lease, &path).await?;
    Ok(ok(serde_json::to_value(listing).map_err(|e| WebError::Upstream(e.to_string()))?))
}

pub(super) async fn mkdir(Authed(s): Authed, Json(b): Json<PathQuery>) -> Result<Json<serde_json::Value>, WebError> {
    let path = clean(&b.path)?;
    if path == "/" {
        return Err(WebError::BadRequest("the root already exists".into()));
    }
    let mut lease = s.pool.acquire().await?;
    let r = lease.ftp()?.mkdir(path.as_str()).await.map_err(WebError::from);
    lease.check(r)?;
    Ok(ok(serde_json::json!({ "created": path })))
}

pub(super) async fn rename(Authed(s): Authed, Json(b): Json<FromTo>) -> Result<Json<serde_json::Value>, WebError> {
    let (from, to) = (clean(&b.from)?, clean(&b.to)?);
    if from == "/" || to == "/" {
        return Err(WebError::BadRequest("cannot rename the root".into()));
    }
    let mut lease = s.pool.acquire().await?;
    let r = lease.ftp()?.rename(from.as_str(), to.as_str()).await.map_err(WebError::from);
    lease.check(r)?;
    Ok(ok(serde_json::json!({ "from": from, "to": to })))
}

pub(super) async fn delete(Authed(s): Authed, Json(b): Json<DeleteBody>) -> Result<Json<serde_json::Value>, WebError> {
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

pub(super) async fn delete_file(
    Authed(s): Authed,
    Query(q): Query<PathQuery>,
) -> Result<Json<serde_json::Value>, WebError> {
    let path = clean(&q.path)?;
    let mut lease = s.pool.acquire().await?;
    let r = lease.ftp()?.rm(path.as_str()).await.map_err(WebError::from);
    lease.check(r)?;
    Ok(ok(serde_json::json!({ "deleted": path })))
}

pub(super) async fn copy(Authed(s): Authed, Json(b): Json<FromTo>) -> Result<Json<serde_json::Value>, WebError> {
    let (from, to) = (clean(&b.from)?, clean(&b.to)?);
    if from == to {
        return Err(WebError::BadRequest("source and target are the same".into()));
    }
    let bytes = ops::copy(&s.pool, &from, &to).await?;
    Ok(ok(serde_json::json!({ "from": from, "to": to, "bytes": bytes })))
}

pub(super) async fn chmod(Authed(s): Authed, Json(b): Json<ChmodBody>) -> Result<Json<serde_json::Value>, WebError> {
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

pub(super) async fn upload(
    State(state): State<Arc<AppState>>,
    Authed(s): Authed,
    Client(client): Client,
    Query(q): Query<DirQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, WebError> {
    let dir = clean(&q.dir)?;
    let config = &state.config;
    let stored = transfer::upload_multipart(
        &s.pool,
        &dir,
        &headers,
        body,
        config.max_upload_bytes,
        config.max_part_header_bytes,
    )
    .await;
    if let Err(WebError::PartHeadersTooLong(_)) = &stored {
        state.telemetry.refused(Refusal::PartHeaderTooLarge, client);
    }
    Ok(ok(serde_json::json!({ "dir": dir, "uploaded": stored? })))
}

pub(super) async fn put_file(
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
