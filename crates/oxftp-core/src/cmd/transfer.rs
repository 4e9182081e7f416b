//! File transfers: RETR, STOR, APPE, STOU, REST (RFC 959 4.1.3; RFC 3659 §5 for
//! REST STREAM; RFC 1123 4.1.2.9 for STOU's reply).
//!
//! Wire format: `REST <offset>` → 350 · `RETR <path>` → 150, then 226 (or 425
//! no data connection, 426 aborted, 451/550 storage) · `STOR <path>` → 150 … 226
//! · `APPE <path>` → 150 … 226 · `STOU [<base>]` → `150 FILE: <name>` … 226.
//!
//! The 150 goes out before the data connection is made, and the transfer (with
//! its connect) runs in its own task, so the control connection stays
//! responsive; a failed connect ends with 425, as RFC 959 allows after 1yz.
//!
//! REST in TYPE A: the client's offset counts network bytes (CRLF) while the
//! stored file has LF, so no offset is meaningful; like ProFTPD we refuse a
//! restart in ASCII mode (550) rather than corrupt a file.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use oxftp_proto::command::TransferType;
use oxftp_proto::path::VPath;
use rand::Rng;

use crate::data::DataTls;
use crate::session::{Running, Session};
use crate::storage::{ErrorKind, WriteMode};
use crate::transfer::{Connect, Job, run};

/// STOR replaces, APPE appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upload {
    Store,
    Append,
}

impl Session {
    pub(crate) async fn cmd_rest(&mut self, offset: u64) {
        if offset > 0 && !self.shared.storage.capabilities().read_at_offset {
            return self.reply(502, "REST is not supported by this storage.").await;
        }
        self.rest = offset;
        self.reply(350, format!("Restarting at {offset}. Send STOR or RETR to start the transfer.")).await;
    }

    /// Take the REST offset for a transfer, refusing it in ASCII mode.
    async fn take_rest(&mut self) -> Option<u64> {
        let rest = std::mem::take(&mut self.rest);
        if rest > 0 && self.transfer_type == TransferType::Ascii {
            self.reply(550, "REST is not allowed in ASCII mode; use TYPE I.").await;
            return None;
        }
        Some(rest)
    }

    /// 425 when no PASV/EPSV/PORT/EPRT came first.
    async fn require_data_setup(&mut self) -> bool {
        if self.data.is_none() {
            self.reply(425, "Use PORT, EPRT, PASV or EPSV first.").await;
            return false;
        }
        true
    }

    /// What RETR, STOR and APPE check first, in RFC order: the path, a data
    /// channel (425), the REST offset (550 in ASCII mode). Replies on failure.
    async fn transfer_prelude(&mut self, arg: &[u8]) -> Option<(VPath, Arc<dyn crate::storage::Storage>, u64)> {
        let path = self.resolve(arg).await?;
        let storage = self.storage.clone()?;
        if !self.require_data_setup().await {
            return None;
        }
        let offset = self.take_rest().await?;
        Some((path, storage, offset))
    }

    pub(crate) async fn cmd_retr(&mut self, arg: &[u8]) {
        let Some((path, storage, offset)) = self.transfer_prelude(arg).await else {
            return;
        };
        let source = match storage.open_read(&path, offset).await {
            Ok(source) => source,
            Err(e) => return self.storage_failed(&e).await,
        };
        let ascii = self.transfer_type == TransferType::Ascii;
        let mode = if ascii { "ASCII" } else { "BINARY" };
        self.start(Job::Send { source, ascii }, "RETR", path, format!("Opening {mode} mode data connection."), None)
            .await;
    }

    pub(crate) async fn cmd_stor(&mut self, arg: &[u8], kind: Upload) {
        let Some((path, storage, offset)) = self.transfer_prelude(arg).await else {
            return;
        };
        let caps = self.shared.storage.capabilities();
        let mode = match kind {
            Upload::Append if !caps.append => {
                return self.reply(502, "APPE is not supported by this storage.").await;
            }
            Upload::Append => WriteMode::Append,
            Upload::Store if offset > 0 && !caps.write_at_offset => {
                return self.reply(502, "Resuming an upload is not supported by this storage.").await;
            }
            Upload::Store if offset > 0 => WriteMode::At(offset),
            Upload::Store => WriteMode::Create { exclusive: false },
        };
        let sink = match storage.open_write(&path, mode).await {
            Ok(sink) => sink,
            Err(e) => return self.storage_failed(&e).await,
        };
        let ascii = self.transfer_type == TransferType::Ascii;
        let what = if kind == Upload::Append { "APPE" } else { "STOR" };
        self.start(Job::Receive { sink, ascii }, what, path, "Ok to send data.".to_string(), None).await;
    }

    pub(crate) async fn cmd_stou(&mut self, base: Option<Vec<u8>>) {
        let Some(storage) = self.storage.clone() else {
            return;
        };
        if !self.require_data_setup().await {
            return;
        }
        self.rest = 0;
        let base = base.unwrap_or_else(|| b"ftp".to_vec());
        let Some(base_path) = self.resolve(&base).await else {
            return;
        };
        let Some(dir) = base_path.parent() else {
            return self.reply(553, "STOU needs a file name.").await;
        };
        let stem = base_path.file_name().unwrap_or(b"ftp").to_vec();
        let mut attempt = 0;
        let (path, sink) = loop {
            attempt += 1;
            let mut name = stem.clone();
            name.push(b'.');
            name.extend_from_slice(random_suffix().as_bytes());
            let Ok(path) = dir.join(&name) else {
                return self.reply(553, "File name not allowed.").await;
            };
            match storage.open_write(&path, WriteMode::Create { exclusive: true }).await {
                Ok(sink) => break (path, sink),
                Err(e) if e.kind == ErrorKind::AlreadyExists && attempt < 10 => continue,
                Err(e) => return self.storage_failed(&e).await,
            }
        };
        let name = path.file_name().map(|n| n.to_vec()).unwrap_or_default();
        let mut preliminary = b"FILE: ".to_vec();
        preliminary.extend_from_slice(&name);
        let mut done = b"Transfer complete (unique file name: ".to_vec();
        done.extend_from_slice(&name);
        done.extend_from_slice(b").");
        let ascii = self.transfer_type == TransferType::Ascii;
        self.start(Job::Receive { sink, ascii }, "STOU", path, preliminary, Some(done)).await;
    }

    /// Send the 150 and start the transfer task (which opens the data connection).
    pub(crate) async fn start(
        &mut self,
        job: Job,
        what: &'static str,
        path: VPath,
        preliminary: impl AsRef<[u8]>,
        success_text: Option<Vec<u8>>,
    ) {
        if self.data_tls_required() && !self.protect_data {
            self.data = None;
            return self.reply(521, "Data connections must be protected: send PBSZ 0 and PROT P first.").await;
        }
        let Some(setup) = self.data.take() else {
            return;
        };
        let options = &self.shared.options;
        let tls = match (&self.tls, &options.tls) {
            (Some(acceptors), Some(settings)) if self.protect_data => Some(DataTls {
                acceptor: acceptors.data.clone(),
                require_reuse: settings.config.require_session_reuse,
                timeout: settings.config.handshake_timeout,
            }),
            _ => None,
        };
        let connect = Connect {
            setup,
            control_peer: self.peer.ip(),
            control_local: self.local.ip(),
            source_port_20: options.active_source_port_20,
            timeout: options.data_timeout,
            tls,
        };
        self.reply(150, preliminary).await;
        let progress = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(run(job, connect, progress.clone()));
        self.running = Some(Running { task, progress, what, path, started: Instant::now(), success_text });
    }
}

fn random_suffix() -> String {
    let mut rng = rand::rng();
    (0..8).map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)])).collect()
}
