//! Streaming transfers: downloads (with Range) and uploads, never buffered whole.
//!
//! A download's RETR data connection is pumped into the HTTP body through a
//! channel of a few chunks, so a slow browser slows the FTP read instead of
//! filling memory. An upload's request body goes chunk by chunk into STOR.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::WebError;
use crate::mime;
use crate::multipart;
use crate::paths::{check_name, file_name, join, url_encode};
use crate::pool::{Lease, Pool};

/// Bytes read from the data connection per chunk.
const CHUNK: usize = 64 * 1024;
/// Chunks queued between the FTP reader and the HTTP writer.
const QUEUE: usize = 4;

/// Which bytes of a file of `size` bytes a `Range` header asks for:
/// `Ok(None)` means the whole file (no header, or one we do not serve,
/// such as several ranges), `Err` an unsatisfiable range.
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, WebError> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return Ok(None) };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        // Suffix: the last `b` bytes.
        let Ok(n) = b.parse::<u64>() else { return Ok(None) };
        if n == 0 || size == 0 {
            return Err(WebError::RangeNotSatisfiable(size));
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let Ok(start) = a.parse::<u64>() else { return Ok(None) };
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => e.min(size.saturating_sub(1)),
                _ => return Ok(None),
            }
        };
        if start >= size {
            return Err(WebError::RangeNotSatisfiable(size));
        }
        (start, end)
    };
    Ok(Some(range))
}

/// `Content-Disposition` for `name`: an ASCII fallback plus the exact UTF-8 name.
pub fn disposition(kind: &str, name: &str) -> String {
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{}", url_encode(name))
}

/// Stream the file `path` to the browser, honouring a single `Range`.
/// `inline` chooses viewing (sandboxed, typed by extension) over saving;
/// some types are saved even then (see [`mime::viewed`]).
pub(crate) async fn download(
    pool: &Arc<Pool>,
    path: &str,
    headers: &HeaderMap,
    inline: bool,
) -> Result<Response, WebError> {
    let mut lease = pool.acquire().await?;
    let size = lease.ftp()?.size(path).await.map_err(WebError::from);
    let size = lease.check(size)? as u64;
    let range = parse_range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), size)?;
    let (start, end) = range.unwrap_or((0, size.saturating_sub(1)));
    let len = if size == 0 { 0 } else { end - start + 1 };
    if start > 0 {
        let offset = usize::try_from(start).map_err(|_| WebError::BadRequest("offset too large".into()))?;
        lease.ftp()?.resume_transfer(offset).await?;
    }
    let opened = lease.ftp()?.retr_as_stream(path).await.map_err(WebError::from);
    let stream = lease.check(opened)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(QUEUE);
    let to_eof = size == 0 || end + 1 >= size;
    tokio::spawn(pump(lease, stream, len, to_eof, tx));
    let body = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });

    let name = file_name(path);
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    let (ctype, inline) = if inline { mime::viewed(name) } else { ("application/octet-stream", false) };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    // User files may be anything: never sniffed, never scripted, never framed.
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    let disp = disposition(if inline { "inline" } else { "attachment" }, name);
    if let Ok(v) = HeaderValue::from_str(&disp) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if range.is_some() {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

/// Move `len` bytes from the RETR stream into the body channel, then finish
/// the transfer (or abort it when the range ends before the file does).
async fn pump(
    mut lease: Lease,
    mut stream: crate::pool::Transfer,
    len: u64,
    to_eof: bool,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let mut left = len;
    let mut buf = vec![0u8; CHUNK];
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
        let Some(slice) = buf.get_mut(..want) else { break };
        match stream.read(slice).await {
            Ok(0) => break,
            Ok(n) => {
                left = left.saturating_sub(n as u64);
                let chunk = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                if tx.send(Ok(chunk)).await.is_err() {
                    // The browser went away: drop the transfer and the connection.
                    lease.mark_broken();
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                lease.mark_broken();
                return;
            }
        }
    }
    if left > 0 {
        let _ = tx.send(Err(std::io::Error::other("file shorter than announced"))).await;
        lease.mark_broken();
        return;
    }
    if to_eof {
        if stream.finish().await.is_err() {
            lease.mark_broken();
        }
    } else {
        lease.abort(stream).await;
    }
}

/// Store one body stream as `target`, counting against `budget` bytes.
/// On overrun or a broken body the transfer is aborted, and the partial file
/// removed when the upload created it.
async fn store<S, E>(lease: &mut Lease, target: &str, mut body: S, used: &mut u64, max: u64) -> Result<u64, WebError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let existed = lease.ftp()?.size(target).await.is_ok();
    let opened = lease.ftp()?.put_with_stream(target).await.map_err(WebError::from);
    let mut writer = lease.check(opened)?;
    let mut written = 0u64;
    let failure = loop {
        match body.next().await {
            None => break None,
            Some(Err(e)) => break Some(WebError::BadRequest(format!("upload interrupted: {e}"))),
            Some(Ok(chunk)) => {
                *used += chunk.len() as u64;
                if *used > max {
                    break Some(WebError::TooLarge(max));
                }
                if let Err(e) = writer.write_all(&chunk).await {
                    lease.mark_broken();
                    return Err(WebError::Upstream(format!("upload failed: {e}")));
                }
                written += chunk.len() as u64;
            }
        }
    };
    match failure {
        None => {
            let r = writer.finish().await.map_err(WebError::from);
            lease.check(r)?;
            Ok(written)
        }
        Some(err) => {
            lease.abort(writer).await;
            // A server without atomic uploads may have kept the part received;
            // remove it when this upload created the file.
            if !existed && let Ok(ftp) = lease.ftp() {
                let _ = ftp.rm(target).await;
            }
            Err(err)
        }
    }
}

/// Refuse a body whose announced length is already over the limit, before
/// anything reaches the upstream.
fn check_length(headers: &HeaderMap, max: u64) -> Result<(), WebError> {
    let announced =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match announced {
        Some(n) if n > max => Err(WebError::TooLarge(max)),
        _ => Ok(()),
    }
}

/// Store the raw request body as the file `path` (PUT: upload or editor save).
pub(crate) async fn put_body(
    pool: &Arc<Pool>,
    path: &str,
    headers: &HeaderMap,
    body: Body,
    max: u64,
) -> Result<u64, WebError> {
    check_length(headers, max)?;
    let mut lease = pool.acquire().await?;
    let mut used = 0;
    store(&mut lease, path, body.into_data_stream(), &mut used, max).await
}

/// Store every file part of a multipart form in `dir`; returns the names
/// stored. Parts' content is streamed into STOR; their headers may take at
/// most `max_part_header` bytes (see [`crate::multipart`]); parts that are
/// not files are read and dropped, counted against `max` like files.
pub(crate) async fn upload_multipart(
    pool: &Arc<Pool>,
    dir: &str,
    headers: &HeaderMap,
    body: Body,
    max: u64,
    max_part_header: usize,
) -> Result<Vec<String>, WebError> {
    check_length(headers, max)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| WebError::BadRequest("expected a multipart/form-data body with a boundary".into()))?;
    let (guarded, budget) = multipart::guard(body.into_data_stream(), &boundary, max_part_header);
    let mut form = multer::Multipart::new(guarded, boundary);
    let mut lease = pool.acquire().await?;
    let mut used = 0;
    let mut stored = Vec::new();
    loop {
        budget.start_headers();
        let next = form.next_field().await;
        budget.end_headers();
        let field = match next {
            Ok(field) => field,
            Err(_) if budget.exceeded() => return Err(WebError::PartHeadersTooLong(max_part_header)),
            Err(e) => return Err(WebError::BadRequest(format!("bad form: {e}"))),
        };
        let Some(mut field) = field else { break };
        let name = field.file_name().unwrap_or_default().to_string();
        if name.is_empty() {
            // Not a file: read past it (multer would otherwise do so while
            // looking for the next part's headers, where it is not counted).
            while let Some(chunk) = field.chunk().await.map_err(|e| WebError::BadRequest(format!("bad form: {e}")))? {
                used += chunk.len() as u64;
                if used > max {
                    return Err(WebError::TooLarge(max));
                }
            }
            continue;
        }
        // Browsers may send a relative path for folder uploads: keep the last part.
        let name = name.rsplit(['/', '\\']).next().unwrap_or_default().to_string();
        check_name(&name)?;
        let target = join(dir, &name);
        store(&mut lease, &target, field, &mut used, max).await?;
        stored.push(name);
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(matches!(parse_range(None, 10), Ok(None)));
        assert_eq!(parse_range(Some("bytes=2-5"), 10).unwrap(), Some((2, 5)));
        assert_eq!(parse_range(Some("bytes=2-"), 10).unwrap(), Some((2, 9)));
        assert_eq!(parse_range(Some("bytes=-3"), 10).unwrap(), Some((7, 9)));
        assert_eq!(parse_range(Some("bytes=-30"), 10).unwrap(), Some((0, 9)));
        assert_eq!(parse_range(Some("bytes=5-100"), 10).unwrap(), Some((5, 9)));
        assert!(parse_range(Some("bytes=10-"), 10).is_err());
        assert!(parse_range(Some("bytes=0-"), 0).is_err());
        assert!(matches!(parse_range(Some("bytes=0-1,3-4"), 10), Ok(None)));
        assert!(matches!(parse_range(Some("bytes=5-2"), 10), Ok(None)));
        assert!(matches!(parse_range(Some("items=1-2"), 10), Ok(None)));
    }

    #[test]
    fn dispositions() {
        assert_eq!(
            disposition("attachment", "a b.txt"),
            "attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt"
        );
        let d = disposition("inline", "é\"x");
        assert!(d.starts_with("inline; filename=\"__x\""), "{d}");
    }
}
