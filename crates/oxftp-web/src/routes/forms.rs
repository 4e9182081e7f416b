//! The plain HTML forms of a directory page, which work without JavaScript:
//! upload, new folder, and actions on a selection (delete, move, copy,
//! download as ZIP), plus a folder's ZIP link.
//!
//! A form cannot send the CSRF header, so these routes are let through the
//! header check and verify the token themselves, as the form's `csrf` field
//! (for uploads: the first part, checked before any file part is read), and
//! refuse a foreign `Origin`. Each answers with a redirect back to the page
//! (`?done=CODE`: the page words the notice itself) or with an error page.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{AppState, Client, same_origin, session_from};
use crate::error::WebError;
use crate::html;
use crate::listing::{Kind, list};
use crate::ops;
use crate::paths::{check_name, clean, file_name, join, url_encode_path};
use crate::session::Session;
use crate::stats::Refusal;
use crate::transfer;
use crate::zip;

/// Most entries one selection may name.
const MAX_SELECTION: usize = 10_000;

#[derive(Debug, Deserialize)]
pub(super) struct DirQuery {
    #[serde(default)]
    dir: String,
}

/// Decode an `application/x-www-form-urlencoded` body into its pairs, in
/// order, repeated names kept (a selection is many `sel=` pairs).
pub(crate) fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The first value of `name` in `pairs`.
pub(crate) fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// An HTML error page with `e`'s status.
pub(crate) fn error_page(e: &WebError) -> Response {
    let mut resp = (e.status(), Html(html::error_page(e.status().as_u16(), &e.to_string()))).into_response();
    if let WebError::TooManyRequests { retry_after, .. } = e {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
    }
    resp
}

/// The caller's session, when the request is same-origin and `token` is its CSRF token.
fn checked(state: &AppState, headers: &HeaderMap, token: Option<&str>) -> Result<Arc<Session>, WebError> {
    if !same_origin(headers) {
        return Err(WebError::Forbidden("cross-site form refused".into()));
    }
    let (_, session) = session_from(state, headers).ok_or(WebError::Unauthorized)?;
    if !session.csrf_ok(token.unwrap_or("")) {
        return Err(WebError::Forbidden("missing or wrong CSRF token".into()));
    }
    Ok(session)
}

/// Back to `dir`'s page with notice `code` about `n` entries.
fn back(dir: &str, code: &str, n: usize) -> Response {
    let page = if dir == "/" { "/browse/".to_string() } else { format!("/browse{}/", url_encode_path(dir)) };
    Redirect::to(&format!("{page}?done={code}&n={n}")).into_response()
}

/// `POST /form/upload?dir=`: a multipart form whose first field is `csrf`.
pub(super) async fn upload(
    State(state): State<Arc<AppState>>,
    Client(client): Client,
    Query(q): Query<DirQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let dir = clean(&q.dir)?;
        if !same_origin(&headers) {
            return Err(WebError::Forbidden("cross-site form refused".into()));
        }
        let (_, session) = session_from(&state, &headers).ok_or(WebError::Unauthorized)?;
        let config = &state.config;
        let checker = session.clone();
        let stored = transfer::upload_multipart_checked(
            &session.pool,
            &dir,
            &headers,
            body,
            config.max_upload_bytes,
            config.max_part_header_bytes,
            move |token| checker.csrf_ok(token),
        )
        .await;
        if let Err(WebError::PartHeadersTooLong(_)) = &stored {
            state.telemetry.refused(Refusal::PartHeaderTooLarge, client);
        }
        Ok((dir, stored?.len()))
    }
    .await;
    match result {
        Ok((dir, n)) => back(&dir, "uploaded", n),
        Err(e) => error_page(&e),
    }
}

/// `POST /form/mkdir?dir=`: fields `csrf`, `name`.
pub(super) async fn mkdir(
    State(state): State<Arc<AppState>>,
    Query(q): Query<DirQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let dir = clean(&q.dir)?;
        let pairs = form_pairs(&body);
        let session = checked(&state, &headers, field(&pairs, "csrf"))?;
        let name = field(&pairs, "name").unwrap_or("").trim();
        check_name(name)?;
        let path = join(&dir, name);
        let mut lease = session.pool.acquire().await?;
        let r = lease.ftp()?.mkdir(path.as_str()).await.map_err(WebError::from);
        lease.check(r)?;
        Ok(dir)
    }
    .await;
    match result {
        Ok(dir) => back(&dir, "created", 1),
        Err(e) => error_page(&e),
    }
}

/// `POST /form/batch?dir=`: fields `csrf`, `action` (`delete`, `move`,
/// `copy`, `zip`), `sel` (names in `dir`, repeated) and `to` (for move and
/// copy: a folder, absolute or relative to `dir`). A delete without
/// `confirm=1` answers a page that asks first (the script asks in a dialog
/// and sends it).
pub(super) async fn batch(
    State(state): State<Arc<AppState>>,
    Query(q): Query<DirQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let dir = clean(&q.dir)?;
        let pairs = form_pairs(&body);
        let session = checked(&state, &headers, field(&pairs, "csrf"))?;
        let names: Vec<&str> = pairs.iter().filter(|(k, _)| k == "sel").map(|(_, v)| v.as_str()).collect();
        if names.is_empty() {
            return Err(WebError::BadRequest("select at least one entry first".into()));
        }
        if names.len() > MAX_SELECTION {
            return Err(WebError::BadRequest(format!("at most {MAX_SELECTION} entries at once")));
        }
        for n in &names {
            check_name(n)?;
        }
        let action = field(&pairs, "action").unwrap_or("");
        let target = || -> Result<String, WebError> {
            let to = field(&pairs, "to").unwrap_or("").trim();
            if to.is_empty() {
                return Err(WebError::BadRequest("name the folder to move or copy to".into()));
            }
            Ok(clean(&if to.starts_with('/') { to.to_string() } else { join(&dir, to) })?)
        };
        match action {
            "delete" if field(&pairs, "confirm") != Some("1") => {
                // Without the page's script nothing asked yet: ask now.
                Ok(Html(html::confirm_delete_page(&dir, &names, &session.csrf)).into_response())
            }
            "delete" => {
                let mut lease = session.pool.acquire().await?;
                for n in &names {
                    ops::delete_any(&mut lease, &join(&dir, n), true).await?;
                }
                Ok(back(&dir, "deleted", names.len()))
            }
            "move" => {
                let to = target()?;
                let mut lease = session.pool.acquire().await?;
                for n in &names {
                    let (from, dest) = (join(&dir, n), join(&to, n));
                    if to == from || to.starts_with(&format!("{from}/")) {
                        return Err(WebError::BadRequest("cannot move a folder into itself".into()));
                    }
                    let r = lease.ftp()?.rename(from.as_str(), dest.as_str()).await.map_err(WebError::from);
                    lease.check(r)?;
                }
                Ok(back(&dir, "moved", names.len()))
            }
            "copy" => {
                let to = target()?;
                for n in &names {
                    let (from, dest) = (join(&dir, n), join(&to, n));
                    if from == dest || to == from || to.starts_with(&format!("{from}/")) {
                        return Err(WebError::BadRequest("cannot copy an entry onto or into itself".into()));
                    }
                }
                let roots = selection(&session, &dir, &names).await?;
                let items = {
                    let mut lease = session.pool.acquire().await?;
                    zip::plan(&mut lease, roots).await?
                };
                for item in &items {
                    let dest = join(&to, &item.name);
                    if item.dir {
                        let mut lease = session.pool.acquire().await?;
                        let r = lease.ftp()?.mkdir(dest.as_str()).await.map_err(WebError::from);
                        lease.check(r)?;
                    } else {
                        ops::copy(&session.pool, &item.path, &dest).await?;
                    }
                }
                Ok(back(&dir, "copied", names.len()))
            }
            "zip" => {
                let roots = selection(&session, &dir, &names).await?;
                let name = if names.len() == 1 { names[0].to_string() } else { file_name(&dir).to_string() };
                zip_response(&session, roots, &name).await
            }
            _ => Err(WebError::BadRequest("unknown action".into())),
        }
    }
    .await;
    result.unwrap_or_else(|e| error_page(&e))
}

/// The selected `names` of `dir` as archive roots, with their kinds from a
/// listing of `dir` (a name it does not list is an error; links are refused).
async fn selection(session: &Session, dir: &str, names: &[&str]) -> Result<Vec<zip::Item>, WebError> {
    let mut lease = session.pool.acquire().await?;
    let listing = list(&mut lease, dir).await?;
    roots_from(&listing.entries, dir, names)
}

/// Archive roots for `names` among `entries` of `dir`.
pub(crate) fn roots_from(
    entries: &[crate::listing::Entry],
    dir: &str,
    names: &[&str],
) -> Result<Vec<zip::Item>, WebError> {
    names
        .iter()
        .map(|n| {
            let e = entries
                .iter()
                .find(|e| e.name == *n)
                .ok_or_else(|| WebError::Ftp { code: 550, text: format!("{n}: no such file or folder") })?;
            match e.kind {
                Kind::Dir | Kind::File => {}
                _ => return Err(WebError::Forbidden(format!("{n}: links and special files are not followed"))),
            }
            Ok(zip::Item { path: join(dir, n), name: n.to_string(), dir: e.kind == Kind::Dir, mtime: e.mtime })
        })
        .collect()
}

/// Walk `roots` and stream them as `NAME.zip`.
async fn zip_response(session: &Session, roots: Vec<zip::Item>, name: &str) -> Result<Response, WebError> {
    let mut lease = session.pool.acquire().await?;
    let items = zip::plan(&mut lease, roots).await?;
    Ok(zip_body(lease, items, name))
}

/// The response carrying the archive of `items` (see [`zip::stream`]).
pub(crate) fn zip_body(lease: crate::pool::Lease, items: Vec<zip::Item>, name: &str) -> Response {
    let mut resp = Response::new(zip::stream(lease, items));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    if let Ok(v) = HeaderValue::from_str(&transfer::disposition("attachment", &zip::archive_name(name))) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    *resp.status_mut() = StatusCode::OK;
    resp
}

/// `GET /zip/`: the whole home folder as one ZIP.
pub(super) async fn zip_path_root(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    zip_path(State(state), headers, Path(String::new())).await
}

/// `GET /zip/{path}`: a folder (or file) as one ZIP. A read, like a
/// download: no token needed (the session cookie is SameSite=Strict).
pub(super) async fn zip_path(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let result = async {
        let path = clean(&raw)?;
        let (_, session) = session_from(&state, &headers).ok_or(WebError::Unauthorized)?;
        if path == "/" {
            let mut lease = session.pool.acquire().await?;
            let listing = list(&mut lease, "/").await?;
            let names: Vec<&str> = listing
                .entries
                .iter()
                .filter(|e| matches!(e.kind, Kind::Dir | Kind::File))
                .map(|e| e.name.as_str())
                .collect();
            let roots = roots_from(&listing.entries, "/", &names)?;
            let items = zip::plan(&mut lease, roots).await?;
            return Ok(zip_body(lease, items, "home"));
        }
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", &path));
        let parent = if parent.is_empty() { "/" } else { parent };
        let roots = selection(&session, parent, &[name]).await?;
        zip_response(&session, roots, name).await
    }
    .await;
    result.unwrap_or_else(|e| error_page(&e))
}
