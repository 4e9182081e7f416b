//! File facts and removal: DELE (RFC 959), SIZE and MDTM (RFC 3659), MFMT
//! (draft-somers-ftp-mfxx).
//!
//! SIZE in TYPE A: RFC 3659 asks for the size as it would be transferred, which
//! means reading the whole file. Like ProFTPD we refuse to do unbounded work
//! for one command: files up to `ASCII_SIZE_LIMIT` are scanned and their CRLF
//! size returned; larger ones get 550 with a hint to switch to TYPE I.

use oxftp_proto::ascii::AsciiEncoder;
use oxftp_proto::command::{TransferType, mdtm_set_form};
use oxftp_proto::time::format_timestamp;
use tokio::io::AsyncReadExt;

use crate::conn::{Answered, Conn, LoggedIn};
use crate::events::EventKind;
use crate::storage::ReadHandle;

/// Largest file whose ASCII size SIZE computes.
const ASCII_SIZE_LIMIT: u64 = 16 * 1024 * 1024;

/// `DELE <path>` (RFC 959 4.1.3) → `250` · `550` · `450` when an event
/// sink is full and refuses (nothing is deleted).
pub(crate) async fn dele(conn: &mut Conn, user: &LoggedIn, arg: &[u8]) -> Answered {
    let path = user.resolve(conn, arg).await?;
    conn.admit(EventKind::Delete, 450).await?;
    match user.storage.delete(&path).await {
        Ok(()) => {
            if conn.events_on() {
                conn.record(user.event(conn, EventKind::Delete, &path)).await;
            }
            Ok(conn.reply(250, "File deleted.").await)
        }
        Err(e) => Err(conn.storage_failed(&e).await),
    }
}

/// `SIZE <path>` (RFC 3659 §4) → `213 <bytes>`, as transferred in the
/// current TYPE (see the module doc for TYPE A) · `550` for what is not a
/// regular file.
pub(crate) async fn size(conn: &mut Conn, user: &LoggedIn, ty: TransferType, arg: &[u8]) -> Answered {
    let path = user.resolve(conn, arg).await?;
    let info = match user.storage.metadata(&path).await {
        Ok(info) if info.is_file() => info,
        Ok(_) => return Err(conn.reply(550, "Not a regular file.").await),
        Err(e) => return Err(conn.storage_failed(&e).await),
    };
    if ty == TransferType::Image {
        return Ok(conn.reply(213, info.size.to_string()).await);
    }
    if info.size > ASCII_SIZE_LIMIT {
        return Err(conn.reply(550, "SIZE in ASCII mode is only computed for files up to 16 MiB; use TYPE I.").await);
    }
    match user.storage.open_read(&path, 0).await {
        Ok(handle) => match ascii_size_of(handle).await {
            Ok(size) => Ok(conn.reply(213, size.to_string()).await),
            Err(e) => Err(conn.storage_failed(&e.into()).await),
        },
        Err(e) => Err(conn.storage_failed(&e).await),
    }
}

/// `MDTM <path>` (RFC 3659 §3) → `213 YYYYMMDDHHMMSS` (UTC) · `550`. The
/// old set-time form `MDTM YYYYMMDDHHMMSS <path>` (before MFMT; some clients
/// still send it) is MFMT when no file has the whole argument as its name:
/// `213 Modify=...` where the client may set times, else MFMT's 502/550.
pub(crate) async fn mdtm(conn: &mut Conn, user: &LoggedIn, arg: &[u8]) -> Answered {
    let path = user.resolve(conn, arg).await?;
    let found = user.storage.metadata(&path).await;
    if found.is_err()
        && let Some((unix_secs, target)) = mdtm_set_form(arg)
    {
        return mfmt(conn, user, unix_secs, &target).await;
    }
    match found {
        Ok(info) => match info.mtime {
            Some(t) => Ok(conn.reply(213, format_timestamp(t)).await),
            None => Err(conn.reply(550, "Modification time not available.").await),
        },
        Err(e) => Err(conn.storage_failed(&e).await),
    }
}

/// `MFMT YYYYMMDDHHMMSS <path>` (draft-somers-ftp-mfxx) → `213
/// Modify=YYYYMMDDHHMMSS; <path>` · `502` when the storage cannot set times · `550`.
pub(crate) async fn mfmt(conn: &mut Conn, user: &LoggedIn, unix_secs: i64, arg: &[u8]) -> Answered {
    let path = user.resolve(conn, arg).await?;
    if !conn.ctx.stack.capabilities().set_mtime {
        return Err(conn.reply(502, "MFMT is not supported by this storage.").await);
    }
    match user.storage.set_mtime(&path, unix_secs).await {
        Ok(()) => {
            let mut text = format!("Modify={}; ", format_timestamp(unix_secs)).into_bytes();
            text.extend_from_slice(path.as_bytes());
            Ok(conn.reply(213, text).await)
        }
        Err(e) => Err(conn.storage_failed(&e).await),
    }
}

async fn ascii_size_of(handle: ReadHandle) -> std::io::Result<u64> {
    let mut reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match handle {
        ReadHandle::Stream(r) => r,
        ReadHandle::LocalFile(f) => Box::new(tokio::fs::File::from_std(f)),
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut encoder = AsciiEncoder::new();
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        total += encoder.count(&buf[..n]);
    }
}
