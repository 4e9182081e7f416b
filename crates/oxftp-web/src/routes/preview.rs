//! `/preview/{path}` on the app, and the preview origin's one route (see
//! [`crate::preview`]).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::forms::error_page;
use super::{AppState, session_from};
use crate::error::WebError;
use crate::paths::{clean, file_name, url_encode, url_encode_path};
use crate::transfer::{self, Serve};

/// The host part of the request's `Host` (already checked against the
/// allowed names), without its port; IPv6 stays in brackets.
fn request_host(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?.trim();
    let name = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') && host[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &host[..i],
        _ => host,
    };
    (!name.is_empty()).then(|| name.to_string())
}

/// `GET /preview/{path}`: a PDF shown inline from the preview origin: a
/// ticket for it, then a redirect there. Anything else is viewed as usual.
pub(super) async fn open(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(raw): Path<String>) -> Response {
    let result = async {
        let path = clean(&raw)?;
        let Some((_, session)) = session_from(&state, &headers) else {
            return Ok(Redirect::to("/login").into_response());
        };
        let is_pdf = file_name(&path).to_ascii_lowercase().ends_with(".pdf");
        let (Some(port), true) = (state.config.preview_port, is_pdf) else {
            return Ok(Redirect::to(&format!("/view{}", url_encode_path(&path))).into_response());
        };
        let host = request_host(&headers).ok_or_else(|| WebError::BadRequest("no Host header".into()))?;
        let ticket = state.previews.issue(session, &path)?;
        let scheme = if state.config.https.is_some() { "https" } else { "http" };
        let target = format!("{scheme}://{host}:{port}/p/{ticket}/{}", url_encode(file_name(&path)));
        Ok(Redirect::to(&target).into_response())
    }
    .await;
    result.unwrap_or_else(|e: WebError| error_page(&e))
}

/// `GET /p/{ticket}/{name}` on the preview origin: the PDF, inline.
pub(super) async fn serve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((ticket, _name)): Path<(String, String)>,
) -> Response {
    let Some((session, path)) = state.previews.get(&ticket) else {
        return (StatusCode::NOT_FOUND, "This preview has expired; open it again from the file list.").into_response();
    };
    match transfer::download(&session.pool, &path, &headers, Serve::Pdf).await {
        Ok(resp) => resp,
        Err(e) => (e.status(), e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn host_without_port() {
        let h = |v: &'static str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_static(v));
            request_host(&m)
        };
        assert_eq!(h("files.example.org:8080").as_deref(), Some("files.example.org"));
        assert_eq!(h("files.example.org").as_deref(), Some("files.example.org"));
        assert_eq!(h("[::1]:8080").as_deref(), Some("[::1]"));
        assert_eq!(h("[::1]").as_deref(), Some("[::1]"));
    }
}
