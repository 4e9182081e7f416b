//! Login: USER, PASS, ACCT, REIN (RFC 959 4.1.1).
//!
//! Wire format: `USER <name>` → 331 (password needed) · `PASS <password>` →
//! 230 (logged in) or 530 (refused, after `failed_login_delay`, whatever the
//! reason, so a client cannot tell an unknown user from a wrong password) ·
//! With a verified TLS client certificate whose subject CN is the user name
//! (and `cert_cn_login` on), `USER <name>` alone logs in: 232 (RFC 2228) ·
//! `ACCT <info>` → 202 (not needed) · `REIN` → 220 (back to the greeting state;
//! a running transfer finishes first).

use oxftp_proto::command::TransferType;
use oxftp_proto::path::VPath;
use slog::o;

use crate::auth::{AccessClass, AuthError, Credentials, Identity};
use std::sync::Arc;

use crate::policy;
use crate::session::{Flow, Login, Session};
use crate::storage::{Storage, StorageError};

impl Session {
    pub(crate) async fn cmd_user(&mut self, name: String) -> Flow {
        if self.logged_in() {
            // RFC 959 lets USER change users; we require REIN first so a
            // session's rights never change under a running policy stack.
            self.reply(530, "Already logged in; send REIN to change users.").await;
            return Flow::Continue;
        }
        if name.is_empty() {
            self.reply(501, "USER needs a user name.").await;
            return Flow::Continue;
        }
        let anonymous = name.eq_ignore_ascii_case("anonymous") || name.eq_ignore_ascii_case("ftp");
        if let Some(tls) = &self.shared.options.tls
            && !self.reader.is_tls()
            && tls.config.control.applies_to(anonymous)
        {
            // RFC 4217 §11: refuse for policy reasons before any password crosses in clear.
            self.reply(534, "Policy requires TLS: send AUTH TLS before USER.").await;
            return Flow::Continue;
        }
        if self.certificate_names(&name) {
            let authenticated = self.shared.auth.certificate_login(&name, self.peer).await;
            return self.finish_login(&name, authenticated, 232).await;
        }
        let text = if anonymous {
            "Anonymous login ok, send your e-mail address as password.".to_string()
        } else {
            format!("Password required for {name}.")
        };
        self.login = Login::AwaitingPass { user: name };
        self.reply(331, text).await;
        Flow::Continue
    }

    pub(crate) async fn cmd_pass(&mut self, password: String) -> Flow {
        let user = match std::mem::replace(&mut self.login, Login::Fresh) {
            Login::AwaitingPass { user } => user,
            Login::Done => {
                self.login = Login::Done;
                self.reply(503, "Already logged in.").await;
                return Flow::Continue;
            }
            Login::Fresh => {
                self.reply(503, "Login with USER first.").await;
                return Flow::Continue;
            }
        };
        let mut credentials = Credentials::new(user.clone(), password, self.peer);
        credentials.client_cert_cn = self.client_cert_cn.clone();
        let authenticated = self.shared.auth.authenticate(&credentials).await;
        if matches!(&authenticated, Ok(id) if id.class == AccessClass::Anonymous) {
            // By convention the password is an e-mail address; log it.
            slog::info!(self.logger, "anonymous login"; "password" => &credentials.password);
        }
        self.finish_login(&user, authenticated, 230).await
    }

    /// Install a successful login (storage, policies, state) and reply `code`
    /// (230, or 232 for a certificate login); or count a failure and reply 530
    /// after the failed-login delay, closing after too many.
    async fn finish_login(&mut self, user: &str, authenticated: Result<Identity, AuthError>, code: u16) -> Flow {
        let ip = self.peer.ip().to_canonical();
        let outcome = match authenticated {
            _ if self.shared.bans.user_banned(user) => Err("account is banned after failed logins".to_string()),
            Ok(identity) if identity.require_tls && !self.reader.is_tls() => {
                Err("account requires TLS but the control connection is plaintext".to_string())
            }
            Ok(identity) if !identity.allowed_ips.permits(ip) => Err(format!("account may not log in from {ip}")),
            Ok(identity) => match self.storage_for(&identity).await {
                Ok(storage) => Ok((identity, storage)),
                Err(e) => Err(format!("storage unavailable: {e}")),
            },
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok((identity, storage)) => {
                let max = identity.limits.max_sessions.unwrap_or(0);
                let Some(slot) = self.shared.per_user.acquire(&identity.user, max) else {
                    slog::info!(self.logger, "login refused: too many sessions"; "user" => &identity.user, "max" => max);
                    self.reply(530, format!("Too many sessions for {} (at most {max}).", identity.user)).await;
                    return Flow::Continue;
                };
                self.user_slot = Some(slot);
                self.shared.bans.succeeded(ip, user);
                let class = identity.class;
                self.logger = self.logger.new(o!("user" => identity.user.clone()));
                slog::info!(self.logger, "login"; "class" => %class, "certificate" => code == 232);
                self.identity = Some(identity);
                self.storage = Some(storage);
                self.cwd = VPath::root();
                self.login = Login::Done;
                self.failed_logins = 0;
                let text = match (class, code) {
                    (_, 232) => "Logged in, authorized by the client certificate.",
                    (AccessClass::Anonymous, _) => "Anonymous access granted, restrictions apply.",
                    (AccessClass::Guest, _) => "Guest login ok, access restrictions apply.",
                    (AccessClass::User, _) => "Login successful.",
                };
                self.reply(code, text).await;
                Flow::Continue
            }
            Err(reason) => {
                self.failed_logins += 1;
                slog::warn!(self.logger, "login failed"; "user" => user, "reason" => reason);
                let banned = self.shared.bans.failed(ip, user);
                tokio::time::sleep(self.shared.options.failed_login_delay).await;
                if banned {
                    slog::warn!(self.logger, "banned after failed logins"; "user" => user, "ip" => %ip);
                    self.reply(421, "Too many failed logins; you are banned for a while.").await;
                    return Flow::Close;
                }
                if self.failed_logins >= self.shared.options.max_login_failures {
                    self.reply(421, "Too many failed logins; closing connection.").await;
                    return Flow::Close;
                }
                self.reply(530, "Login incorrect.").await;
                Flow::Continue
            }
        }
    }

    /// The storage a logged-in session works on, inside out: the factory's
    /// storage for the home, the quota (counted on the raw storage, under the
    /// access policies that may hide sizes), the access policies, and
    /// bandwidth limits outermost so refused calls never wait.
    async fn storage_for(&self, identity: &Identity) -> Result<Arc<dyn Storage>, StorageError> {
        let shared = &self.shared;
        let base = shared.storage.storage_for(identity)?;
        let limits = &identity.limits;
        let storage = if limits.quota_bytes.is_some() || limits.quota_files.is_some() {
            let usage = shared.quotas.usage_for(&identity.user, base.as_ref()).await?;
            policy::with_quota(base, usage, limits)
        } else {
            base
        };
        let storage = policy::apply_policies(storage, identity);
        let (down, up) = shared.rates.for_account(&identity.user, limits);
        Ok(policy::with_throttle(storage, down, up))
    }

    /// Whether a verified client certificate names `user` and the policy lets that log them in.
    fn certificate_names(&self, user: &str) -> bool {
        let enabled = self.shared.options.tls.as_ref().is_some_and(|t| t.config.cert_cn_login);
        enabled && self.reader.is_tls() && self.client_cert_cn.as_deref() == Some(user)
    }

    pub(crate) async fn cmd_acct(&mut self) {
        self.reply(202, "ACCT not needed on this server.").await;
    }

    pub(crate) async fn cmd_rein(&mut self) {
        self.login = Login::Fresh;
        self.user_slot = None;
        self.identity = None;
        self.storage = None;
        self.cwd = VPath::root();
        self.transfer_type = TransferType::Ascii;
        self.rest = 0;
        self.rename_from = None;
        self.data = None;
        self.epsv_all = false;
        self.logger = self.shared.logger.new(o!("peer" => self.peer.to_string()));
        self.reply(220, "Session reset; send USER.").await;
    }
}
