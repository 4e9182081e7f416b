//! SITE (RFC 959 4.1.3): SITE CHMOD and SITE HELP.
//!
//! Wire format: `SITE CHMOD <octal> <path>` → 200, 550, or 502 when the storage
//! cannot change modes · `SITE HELP` → 214 · other SITE commands → 502.
//!
//! The setuid, setgid and sticky bits are left out (the 200 says so) unless
//! [`Options::chmod_special_bits`](crate::server::Options::chmod_special_bits)
//! allows them: files belong to the user the daemon runs as, so a guest could
//! otherwise make a setuid-root program. This is done here, before any
//! backend is asked, so it holds for every backend.

use oxftp_proto::command::SiteCommand;
use oxftp_proto::reply::Reply;

use crate::session::Session;

impl Session {
    pub(crate) async fn cmd_site(&mut self, site: SiteCommand) {
        match site {
            SiteCommand::Chmod { mode, path } => {
                if !self.shared.storage.capabilities().set_mode {
                    return self.reply(502, "SITE CHMOD is not supported by this storage.").await;
                }
                let Some(path) = self.resolve(&path).await else {
                    return;
                };
                let Some(storage) = self.storage.clone() else {
                    return;
                };
                let allowed = if self.shared.options.chmod_special_bits { 0o7777 } else { 0o777 };
                let kept = mode & allowed;
                match storage.set_mode(&path, kept).await {
                    Ok(()) if kept == mode => self.reply(200, "SITE CHMOD command successful.").await,
                    Ok(()) => {
                        let text = format!(
                            "SITE CHMOD command successful: mode {kept:o}; setuid, setgid and sticky bits are not allowed."
                        );
                        self.reply(200, text).await
                    }
                    Err(e) => self.storage_failed(&e).await,
                }
            }
            SiteCommand::Help { .. } => {
                let lines = vec![
                    b"SITE commands:".to_vec(),
                    b" CHMOD <octal mode> <path>".to_vec(),
                    b" HELP".to_vec(),
                    b"End".to_vec(),
                ];
                self.send(&Reply::multi(214, lines)).await;
            }
            SiteCommand::Other { name, .. } => self.reply(502, format!("Unknown SITE command {name}.")).await,
        }
    }
}
