//! OPTS (RFC 2389) and HOST (RFC 7151).
//!
//! Wire format: `OPTS UTF8 ON|OFF` → 200 (paths are always passed through as
//! bytes, so UTF-8 just works) · `OPTS MLST fact;fact;` → 200 MLST OPTS … ·
//! other options → 501 · `HOST <name>` before login → 220; after login → 503.

use crate::session::Session;

const MLST_FACTS: &[&str] = &["type", "size", "modify", "perm", "unique", "UNIX.mode"];

impl Session {
    pub(crate) async fn cmd_opts(&mut self, option: &str, value: &str) {
        match option {
            "UTF8" | "UTF-8" => match value.to_ascii_uppercase().as_str() {
                "ON" | "" => self.reply(200, "UTF8 mode on.").await,
                "OFF" => self.reply(200, "UTF8 mode off; names are still passed through unchanged.").await,
                _ => self.reply(501, "OPTS UTF8 takes ON or OFF.").await,
            },
            "MLST" => {
                // We always send every fact; echo those the client asked for that we know.
                let chosen: Vec<&str> = value
                    .split(';')
                    .filter_map(|f| MLST_FACTS.iter().find(|k| k.eq_ignore_ascii_case(f.trim())).copied())
                    .collect();
                let list: String = chosen.iter().map(|f| format!("{f};")).collect();
                self.reply(200, format!("MLST OPTS {list}")).await;
            }
            _ => self.reply(501, format!("Option {option} not understood.")).await,
        }
    }

    pub(crate) async fn cmd_host(&mut self, host: &str) {
        if self.logged_in() || !matches!(self.login, crate::session::Login::Fresh) {
            return self.reply(503, "HOST must come before USER.").await;
        }
        // One virtual host: any well-formed name is accepted.
        slog::debug!(self.logger, "HOST"; "host" => host);
        self.reply(220, "Host accepted.").await;
    }
}
