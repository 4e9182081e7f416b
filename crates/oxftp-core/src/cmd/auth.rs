//! Security extensions: AUTH, PBSZ, PROT, CCC (RFC 2228, RFC 4217).
//!
//! Wire format: `AUTH TLS` / `AUTH SSL` / `AUTH TLS-C` → 234 then the TLS
//! handshake (anything the client pipelined after AUTH before the handshake
//! is discarded, never executed) · `PBSZ 0` → 200 PBSZ=0 (503 before AUTH) ·
//! `PROT C|P` → 200 (503 before PBSZ; S and E → 536; others → 504; C when data
//! TLS is required → 536) · `CCC` → 200 and back to plaintext when allowed,
//! else 534.

use oxftp_proto::command::{AuthMechanism, ProtLevel};

use crate::session::{Flow, Session};

impl Session {
    pub(crate) async fn cmd_auth(&mut self, mechanism: &AuthMechanism) -> Flow {
        if self.tls.is_none() {
            self.reply(502, "TLS is not available on this server.").await;
            return Flow::Continue;
        }
        if self.reader.is_tls() {
            self.reply(503, "TLS is already active.").await;
            return Flow::Continue;
        }
        if !mechanism.is_tls() {
            self.reply(504, format!("AUTH {mechanism} not supported; use AUTH TLS.")).await;
            return Flow::Continue;
        }
        self.reply(234, format!("AUTH {mechanism} ok; start the TLS handshake.")).await;
        match self.start_tls().await {
            Ok(()) => {
                // RFC 4217 §4: AUTH resets the data protection state.
                self.pbsz = false;
                self.protect_data = false;
                Flow::Continue
            }
            Err(e) => {
                slog::info!(self.logger, "TLS handshake failed"; "error" => %e);
                Flow::Close
            }
        }
    }

    pub(crate) async fn cmd_pbsz(&mut self) {
        if !self.reader.is_tls() {
            return self.reply(503, "PBSZ needs a TLS connection: send AUTH TLS first.").await;
        }
        // Streams have no protection buffer: any size is answered with 0 (RFC 4217 §8).
        self.pbsz = true;
        self.reply(200, "PBSZ=0").await;
    }

    pub(crate) async fn cmd_prot(&mut self, level: &ProtLevel) {
        if !self.reader.is_tls() || !self.pbsz {
            return self.reply(503, "PROT needs AUTH TLS and PBSZ first.").await;
        }
        match level {
            ProtLevel::Private => {
                self.protect_data = true;
                self.reply(200, "Protection level set to Private.").await;
            }
            ProtLevel::Clear if self.data_tls_required() => {
                self.reply(536, "Data connections must be protected: use PROT P.").await;
            }
            ProtLevel::Clear => {
                self.protect_data = false;
                self.reply(200, "Protection level set to Clear.").await;
            }
            ProtLevel::Safe | ProtLevel::Confidential => {
                self.reply(536, format!("PROT {level} is not supported with TLS; use P or C.")).await
            }
            ProtLevel::Other(other) => self.reply(504, format!("Unknown protection level {other}.")).await,
        }
    }

    pub(crate) async fn cmd_ccc(&mut self) -> Flow {
        let allowed = self.shared.options.tls.as_ref().is_some_and(|t| t.config.allow_ccc);
        if !self.reader.is_tls() {
            self.reply(533, "The control connection is not protected.").await;
            return Flow::Continue;
        }
        if !allowed || self.control_tls_required() {
            self.reply(534, "CCC is not allowed by the server's policy.").await;
            return Flow::Continue;
        }
        self.reply(200, "Clearing the control channel.").await;
        match self.stop_tls().await {
            Ok(()) => Flow::Continue,
            Err(e) => {
                slog::info!(self.logger, "CCC failed"; "error" => %e);
                Flow::Close
            }
        }
    }

    fn is_anonymous_session(&self) -> bool {
        self.identity.as_ref().is_some_and(|i| i.class == crate::auth::AccessClass::Anonymous)
    }

    /// Whether this session's control connection must be protected.
    pub(crate) fn control_tls_required(&self) -> bool {
        let Some(tls) = &self.shared.options.tls else { return false };
        let per_user = self.identity.as_ref().is_some_and(|i| i.require_tls);
        per_user || tls.config.control.applies_to(self.is_anonymous_session())
    }

    /// Whether this session's data connections must be protected.
    pub(crate) fn data_tls_required(&self) -> bool {
        let Some(tls) = &self.shared.options.tls else { return false };
        let per_user = self.identity.as_ref().is_some_and(|i| i.require_tls);
        per_user || tls.config.data.applies_to(self.is_anonymous_session())
    }
}
