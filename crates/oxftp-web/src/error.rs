//! The gateway's error type and how each error becomes an HTTP response.
//!
//! Upstream FTP refusals keep their reply code and text so the user sees
//! what the server said: `{ "error": "...", "ftp_code": 550 }`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use suppaftp::FtpError;

use crate::paths::BadPath;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The request itself is malformed (bad path, bad field).
    #[error("{0}")]
    BadRequest(String),
    /// No valid session (never logged in, logged out or expired).
    #[error("not logged in")]
    Unauthorized,
    /// The upstream refused the login (its reply code and text).
    #[error("login failed: {text}")]
    LoginFailed {
        /// The FTP reply code, usually 530.
        code: u32,
        /// The reply text.
        text: String,
    },
    /// Refused by policy: CSRF check, upstream not on the allow-list.
    #[error("{0}")]
    Forbidden(String),
    /// The body is larger than the configured upload limit (in bytes).
    #[error("upload larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// A multipart part's headers were longer than this many bytes.
    #[error("multipart part headers are longer than {0} bytes")]
    PartHeadersTooLong(usize),
    /// A Range request beyond the end of a file of this size.
    #[error("range not satisfiable")]
    RangeNotSatisfiable(u64),
    /// The upstream answered with a refusal: its reply code and text.
    #[error("{text}")]
    Ftp {
        /// The FTP reply code, e.g. 550.
        code: u32,
        /// The reply text as the server sent it.
        text: String,
    },
    /// The upstream could not be reached or broke the protocol.
    #[error("upstream: {0}")]
    Upstream(String),
    /// The gateway is at a limit (sessions, walk size) and cannot take this request.
    #[error("{0}")]
    Unavailable(String),
    /// This client made too many requests of a kind (logins, sessions); it
    /// may try again after `retry_after` seconds.
    #[error("{message}")]
    TooManyRequests {
        /// What was refused and why.
        message: String,
        /// Seconds to wait, sent as `Retry-After`.
        retry_after: u64,
    },
}

impl WebError {
    /// The HTTP status for this error. Upstream replies map by meaning:
    /// 530 → 403, 550 → 404 or 403, 552 → 413, 553 → 400, 50x → 501, 4yz → 503.
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) | WebError::PartHeadersTooLong(_) => StatusCode::BAD_REQUEST,
            WebError::Unauthorized | WebError::LoginFailed { .. } => StatusCode::UNAUTHORIZED,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            WebError::Upstream(_) => StatusCode::BAD_GATEWAY,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::Ftp { code, text } => match code {
                530 | 532 => StatusCode::FORBIDDEN,
                550 | 450 => {
                    let t = text.to_ascii_lowercase();
                    if t.contains("not found") || t.contains("no such") || t.contains("exist") {
                        StatusCode::NOT_FOUND
                    } else {
                        StatusCode::FORBIDDEN
                    }
                }
                552 => StatusCode::PAYLOAD_TOO_LARGE,
                553 | 501 => StatusCode::BAD_REQUEST,
                500 | 502 | 504 => StatusCode::NOT_IMPLEMENTED,
                400..=499 => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_GATEWAY,
            },
        }
    }

    /// The upstream reply code, when the error is one.
    pub fn ftp_code(&self) -> Option<u32> {
        match self {
            WebError::Ftp { code, .. } | WebError::LoginFailed { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the FTP connection that produced this error may be reused.
    pub(crate) fn connection_usable(&self) -> bool {
        matches!(self, WebError::Ftp { .. } | WebError::BadRequest(_))
    }
}

impl From<FtpError> for WebError {
    fn from(e: FtpError) -> Self {
        match e {
            FtpError::UnexpectedResponse(r) => {
                let full = String::from_utf8_lossy(&r.body).trim().to_string();
                // The body starts with the code (suppaftp maps codes it does not
                // know to 0, so read it from the text); keep only the server's words.
                let code = full.get(..3).and_then(|c| c.parse::<u32>().ok());
                let text = match code {
                    Some(_) => full.get(4..).unwrap_or("").trim().to_string(),
                    None => full,
                };
                WebError::Ftp { code: code.unwrap_or_else(|| r.status.code()), text }
            }
            other => WebError::Upstream(other.to_string()),
        }
    }
}

impl From<BadPath> for WebError {
    fn from(e: BadPath) -> Self {
        WebError::BadRequest(e.0.to_string())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match self.ftp_code() {
            Some(code) => serde_json::json!({ "error": self.to_string(), "ftp_code": code }),
            None => serde_json::json!({ "error": self.to_string() }),
        };
        let mut resp = (status, Json(body)).into_response();
        match self {
            WebError::RangeNotSatisfiable(size) => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    resp.headers_mut().insert(header::CONTENT_RANGE, v);
                }
            }
            WebError::TooManyRequests { retry_after, .. } => {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            _ => {}
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use suppaftp::Status;
    use suppaftp::types::Response as FtpResponse;

    #[test]
    fn ftp_replies_keep_code_and_text() {
        let e = WebError::from(FtpError::UnexpectedResponse(FtpResponse::new(
            Status::from(550),
            b"550 No such file or directory\r\n".to_vec(),
        )));
        assert_eq!(e.ftp_code(), Some(550));
        assert_eq!(e.to_string(), "No such file or directory");
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        let e = WebError::Ftp { code: 502, text: "SITE CHMOD not implemented".into() };
        assert_eq!(e.status(), StatusCode::NOT_IMPLEMENTED);
        let e = WebError::Ftp { code: 550, text: "Permission denied".into() };
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert!(!WebError::Upstream("x".into()).connection_usable());
    }
}
