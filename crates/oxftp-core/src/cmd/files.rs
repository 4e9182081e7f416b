//! File facts and removal: DELE (RFC 959), SIZE and MDTM (RFC 3659), MFMT
//! (draft-somers-ftp-mfxx).
//!
//! Wire format: `DELE <path>` → 250 or 550 · `SIZE <path>` → 213 <bytes> ·
//! `MDTM <path>` → 213 YYYYMMDDHHMMSS (UTC) · `MFMT YYYYMMDDHHMMSS <path>` →
//! 213 Modify=YYYYMMDDHHMMSS; <path>.
//!
//! SIZE in TYPE A: RFC 3659 asks for the size as it would be transferred, which
//! means reading the whole file. Like ProFTPD we refuse to do unbounded work
//! for one command: files up to `ASCII_SIZE_LIMIT` are scanned and their CRLF
//! size returned; larger ones get 550 with a hint to switch to TYPE I.

use oxftp_proto::ascii::AsciiEncoder;
use oxftp_proto::command::TransferType;
use oxftp_proto::time::format_timestamp;
use tokio::io::AsyncReadExt;

use crate::session::Session;
use crate::storage::ReadHandle;

/// Largest file whose ASCII size SIZE computes.
const ASCII_SIZE_LIMIT: u64 = 16 * 1024 * 1024;

impl Session {
    pub(crate) async fn cmd_dele(&mut self, arg: &[u8]) {
        let Some(path) = self.resolve(arg).await else {
            return;
        };
        let Some(storage) = self.storage.clone() else {
            return;
        };
        match storage.delete(&path).await {
            Ok(()) => self.reply(250, "File deleted.").await,
            Err(e) => self.storage_failed(&e).await,
        }
    }

    pub(crate) async fn cmd_size(&mut self, arg: &[u8]) {
        let Some(path) = self.resolve(arg).await else {
            return;
        };
        let Some(storage) = self.storage.clone() else {
            return;
        };
        let info = match storage.metadata(&path).await {
            Ok(info) if info.is_file() => info,
            Ok(_) => return self.reply(550, "Not a regular file.").await,
            Err(e) => return self.storage_failed(&e).await,
        };
        if self.transfer_type == TransferType::Image {
            return self.reply(213, info.size.to_string()).await;
        }
        if info.size > ASCII_SIZE_LIMIT {
            return self.reply(550, "SIZE in ASCII mode is only computed for files up to 16 MiB; use TYPE I.").await;
        }
        match storage.open_read(&path, 0).await {
            Ok(handle) => match ascii_size_of(handle).await {
                Ok(size) => self.reply(213, size.to_string()).await,
                Err(e) => self.storage_failed(&e.into()).await,
            },
            Err(e) => self.storage_failed(&e).await,
        }
    }

    pub(crate) async fn cmd_mdtm(&mut self, arg: &[u8]) {
        let Some(path) = self.resolve(arg).await else {
            return;
        };
        let Some(storage) = self.storage.clone() else {
            return;
        };
        match storage.metadata(&path).await {
            Ok(info) => match info.mtime {
                Some(t) => self.reply(213, format_timestamp(t)).await,
                None => self.reply(550, "Modification time not available.").await,
            },
            Err(e) => self.storage_failed(&e).await,
        }
    }

    pub(crate) async fn cmd_mfmt(&mut self, unix_secs: i64, arg: &[u8]) {
        let Some(path) = self.resolve(arg).await else {
            return;
        };
        let Some(storage) = self.storage.clone() else {
            return;
        };
        if !self.shared.storage.capabilities().set_mtime {
            return self.reply(502, "MFMT is not supported by this storage.").await;
        }
        match storage.set_mtime(&path, unix_secs).await {
            Ok(()) => {
                let mut text = format!("Modify={}; ", format_timestamp(unix_secs)).into_bytes();
                text.extend_from_slice(path.as_bytes());
                self.reply(213, text).await;
            }
            Err(e) => self.storage_failed(&e).await,
        }
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
