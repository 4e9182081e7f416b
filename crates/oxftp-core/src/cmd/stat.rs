//! STAT (RFC 959 4.1.3): status over the control connection.
//!
//! Wire format: `STAT` → `211-` multi-line server and session status (during a
//! transfer: what is moving and how many bytes so far) `211 End of status.` ·
//! `STAT <path>` → `213-Status of <path>:`, `ls -l` lines, `213 End of status.`
//! — a listing without a data connection, capped at `STAT_MAX_ENTRIES`.

use std::sync::atomic::Ordering;

use oxftp_proto::command::TransferType;
use oxftp_proto::reply::Reply;

use crate::listing::{Style, produce};
use crate::session::{Flow, Session};
use crate::transfer::ReplySink;

/// Most entries a `STAT path` reply carries (it is held in memory).
const STAT_MAX_ENTRIES: usize = 2000;

impl Session {
    pub(crate) async fn cmd_stat(&mut self, arg: Option<&[u8]>) -> Flow {
        match arg {
            None => self.server_status().await,
            Some(arg) => self.path_status(arg).await,
        }
        Flow::Continue
    }

    async fn server_status(&mut self) {
        let mut lines: Vec<Vec<u8>> = vec![b"oxftp status:".to_vec()];
        lines.push(format!("Connected to {}", self.local).into_bytes());
        lines.push(format!("Connected from {}", self.peer).into_bytes());
        match &self.identity {
            Some(id) => lines.push(format!("Logged in as {} ({})", id.user, id.class).into_bytes()),
            None => lines.push(b"Not logged in".to_vec()),
        }
        let ty = if self.transfer_type == TransferType::Ascii { "ASCII" } else { "BINARY" };
        lines.push(format!("TYPE: {ty}; STRUcture: File; transfer MODE: Stream").into_bytes());
        if let Some(running) = &self.running {
            let mut line = format!("{} in progress: ", running.what).into_bytes();
            line.extend_from_slice(running.path.as_bytes());
            line.extend_from_slice(format!(", {} bytes so far", running.progress.load(Ordering::Relaxed)).as_bytes());
            lines.push(line);
        } else if self.data.is_some() {
            lines.push(b"Data connection prepared; no transfer running".to_vec());
        } else {
            lines.push(b"No data connection".to_vec());
        }
        lines.push(b"End of status.".to_vec());
        self.send(&Reply::multi(211, lines)).await;
    }

    async fn path_status(&mut self, arg: &[u8]) {
        let Some(mut spec) = self.list_spec(arg, Style::Long).await else {
            return;
        };
        let Some(storage) = self.storage.clone() else {
            return;
        };
        spec.max_entries = spec.max_entries.min(STAT_MAX_ENTRIES);
        let mut sink = ReplySink::default();
        if let Err(crate::listing::ListError::Storage(e)) = produce(storage.as_ref(), &mut spec, &mut sink).await {
            return self.storage_failed(&e).await;
        }
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut first = b"Status of ".to_vec();
        first.extend_from_slice(arg);
        first.push(b':');
        lines.push(first);
        for line in sink.bytes.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                lines.push(line.to_vec());
            }
        }
        lines.push(b"End of status.".to_vec());
        self.send(&Reply::multi(213, lines)).await;
    }
}
