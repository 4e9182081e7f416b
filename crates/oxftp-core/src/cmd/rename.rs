//! Renaming: RNFR then RNTO (RFC 959 4.1.3).
//!
//! Wire format: `RNFR <from>` → 350 (exists; send RNTO) or 550 · `RNTO <to>` →
//! 250, or 503 when the previous command was not a successful RNFR.

use oxftp_proto::path::VPath;

use crate::session::Session;

impl Session {
    pub(crate) async fn cmd_rnfr(&mut self, arg: &[u8]) {
        let Some(path) = self.resolve(arg).await else {
            return;
        };
        let Some(storage) = self.storage.clone() else {
            return;
        };
        if !self.shared.storage.capabilities().rename {
            return self.reply(502, "Rename is not supported by this storage.").await;
        }
        if path.is_root() {
            return self.reply(550, "Cannot rename the root directory.").await;
        }
        match storage.metadata(&path).await {
            Ok(_) => {
                self.rename_from = Some(path);
                self.reply(350, "File exists, ready for destination name.").await;
            }
            Err(e) => self.storage_failed(&e).await,
        }
    }

    pub(crate) async fn cmd_rnto(&mut self, arg: &[u8], from: Option<VPath>) {
        let Some(from) = from else {
            return self.reply(503, "RNTO must follow RNFR.").await;
        };
        let Some(to) = self.resolve(arg).await else {
            return;
        };
        let Some(storage) = self.storage.clone() else {
            return;
        };
        if to.is_root() || to.starts_with(&from) && to != from {
            return self.reply(553, "Cannot move a directory into itself.").await;
        }
        match storage.rename(&from, &to).await {
            Ok(()) => {
                slog::info!(self.logger, "rename"; "from" => %from, "to" => %to);
                self.reply(250, "Rename successful.").await;
            }
            Err(e) => self.storage_failed(&e).await,
        }
    }
}
