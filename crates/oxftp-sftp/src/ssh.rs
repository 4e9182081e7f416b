//! One SSH connection's handler: authentication through the shared
//! authenticator and door, and what SSH may do once in (the `sftp`
//! subsystem on session channels; every other request refused).
//!
//! Logins end in one place, [`SshSession::finish_login`], whatever the
//! method: the account must not be banned, must be allowed from the
//! client's address, its storage must come from the shared stack, and it
//! must have a free session slot. A failure is counted towards the bans
//! (password failures only: a client offering several keys is not guessing)
//! and answered after `failed_login_delay` by the SSH library.

use std::net::SocketAddr;
use std::sync::Arc;

use oxftp_core::admission::AccountPass;
use oxftp_core::auth::{AccessClass, AuthError, Credentials, Identity, PublicKey};
use oxftp_core::metrics::LoginRefusal;
use oxftp_core::storage::Storage;
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelMsg};
use slog::{Logger, o};
use tokio_util::sync::CancellationToken;

use crate::server::{ConnectionState, Shared};
use crate::sftp::SftpSession;

/// The SSH subsystem this server runs.
const SFTP_SUBSYSTEM: &str = "sftp";

/// A logged-in connection: who, on which storage.
struct LoggedIn {
    identity: Identity,
    storage: Arc<dyn Storage>,
    logger: Logger,
    /// The account's session slot, held while the connection lives.
    _pass: AccountPass,
}

/// The SSH library's handler for one connection.
pub(crate) struct SshSession {
    shared: Arc<Shared>,
    peer: SocketAddr,
    logger: Logger,
    cut: CancellationToken,
    state: Arc<ConnectionState>,
    login: Option<LoggedIn>,
    /// Session channels open on this connection.
    channels: Vec<ChannelId>,
    /// Channels whose SFTP session has started (one program per channel).
    started: Vec<ChannelId>,
}

/// Why a login was refused: for the log, the metrics and the event.
struct Refused {
    refusal: LoginRefusal,
    reason: String,
    /// Counted towards the failed-login bans.
    counts: bool,
}

impl SshSession {
    pub(crate) fn new(
        shared: Arc<Shared>,
        peer: SocketAddr,
        logger: Logger,
        cut: CancellationToken,
        state: Arc<ConnectionState>,
    ) -> SshSession {
        SshSession { shared, peer, logger, cut, state, login: None, channels: Vec::new(), started: Vec::new() }
    }

    /// Installs a successful authentication, or counts and reports a
    /// refused one. `method` is "password" or "publickey".
    async fn finish_login(&mut self, user: &str, method: &str, authenticated: Result<Identity, AuthError>) -> Auth {
        match self.admit_login(user, authenticated).await {
            Ok(login) => {
                let identity = login.identity.clone();
                slog::info!(login.logger, "login"; "class" => %identity.class, "method" => method);
                self.shared.admission.login_succeeded(self.peer.ip(), user).await;
                self.shared.report.login(&identity, self.peer, method).await;
                self.state.log_in(identity);
                self.login = Some(login);
                Auth::Accept
            }
            Err(refused) => {
                slog::warn!(self.logger, "login failed"; "user" => user, "method" => method, "reason" => &refused.reason);
                self.shared.report.login_failed(user, self.peer, refused.refusal, &refused.reason).await;
                if refused.counts && self.shared.admission.login_failed(self.peer.ip(), user).await {
                    slog::warn!(self.logger, "banned after failed logins"; "user" => user);
                    // The library answers this attempt after the delay; cut
                    // the connection then, so no further guess gets in.
                    let cut = self.cut.clone();
                    let delay = self.shared.options.failed_login_delay;
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        cut.cancel();
                    });
                }
                Auth::reject()
            }
        }
    }

    /// The checks every login passes after the authenticator said yes.
    async fn admit_login(&self, user: &str, authenticated: Result<Identity, AuthError>) -> Result<LoggedIn, Refused> {
        let shared = &self.shared;
        if self.login.is_some() {
            return Err(Refused {
                refusal: LoginRefusal::NotAllowed,
                reason: "already logged in".into(),
                counts: false,
            });
        }
        if shared.admission.user_banned(user).await {
            return Err(Refused {
                refusal: LoginRefusal::Banned,
                reason: "account is banned after failed logins".into(),
                counts: true,
            });
        }
        let identity = authenticated.map_err(|e| {
            let refusal = match &e {
                AuthError::UnknownUser => LoginRefusal::UnknownUser,
                AuthError::BadPassword => LoginRefusal::BadPassword,
                AuthError::Disabled => LoginRefusal::Disabled,
                AuthError::NotAllowed(_) => LoginRefusal::NotAllowed,
                AuthError::Backend(_) => LoginRefusal::BackendError,
            };
            Refused { refusal, reason: e.to_string(), counts: true }
        })?;
        let ip = self.peer.ip();
        if !identity.allowed_ips.permits(ip) {
            return Err(Refused {
                refusal: LoginRefusal::NotAllowed,
                reason: format!("account may not log in from {ip}"),
                counts: true,
            });
        }
        let storage = shared.stack.for_identity(&identity).await.map_err(|e| Refused {
            refusal: LoginRefusal::BackendError,
            reason: format!("storage unavailable: {e}"),
            counts: false,
        })?;
        let max = identity.limits.max_sessions.unwrap_or(0);
        let Some(pass) = shared.admission.account_pass(&identity.user, max).await else {
            return Err(Refused {
                refusal: LoginRefusal::TooManySessions,
                reason: format!("too many sessions for {} (at most {max})", identity.user),
                counts: false,
            });
        };
        let logger = self.logger.new(o!("user" => identity.user.clone()));
        Ok(LoggedIn { identity, storage, logger, _pass: pass })
    }

    /// The key a client offers, as the engine names keys.
    fn engine_key(key: &russh::keys::PublicKey) -> Option<PublicKey> {
        let blob = key.to_bytes().ok()?;
        PublicKey::from_blob(&blob).ok()
    }

    /// Refuses a channel request (a shell, a command, a pty...): only the
    /// `sftp` subsystem runs here.
    fn refuse(&self, channel: ChannelId, what: &str, session: &mut Session) -> Result<(), russh::Error> {
        slog::info!(self.logger, "channel request refused"; "request" => what);
        session.channel_failure(channel)
    }
}

impl russh::server::Handler for SshSession {
    type Error = russh::Error;

    /// `password` (RFC 4252 §8): through the shared authenticator, as a
    /// `USER`/`PASS` login is on the FTP side.
    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let credentials = Credentials::new(user, password, self.peer);
        let authenticated = self.shared.auth.authenticate(&credentials).await;
        if matches!(&authenticated, Ok(id) if id.class == AccessClass::Anonymous) {
            // By convention the password is an e-mail address; log it as FTP does.
            slog::info!(self.logger, "anonymous login"; "password" => password);
        }
        Ok(self.finish_login(user, "password", authenticated).await)
    }

    /// `publickey` probe (RFC 4252 §7, no signature yet): say whether the
    /// key would do, so the client signs only with one that will. A key
    /// that will not is no failed login: clients try every key they have.
    async fn auth_publickey_offered(&mut self, user: &str, offer: PublicKeyOffer<'_>) -> Result<Auth, Self::Error> {
        let Some(key) = Self::engine_key(offer.public_key) else { return Ok(Auth::reject()) };
        if self.shared.admission.user_banned(user).await {
            return Ok(Auth::reject());
        }
        match self.shared.auth.public_key_login(user, &key, self.peer).await {
            Ok(_) => Ok(Auth::Accept),
            Err(e) => {
                slog::debug!(self.logger, "public key not accepted"; "user" => user, "key" => key.algorithm(), "reason" => %e);
                Ok(Auth::reject())
            }
        }
    }

    /// `publickey` with a verified signature: the login itself.
    async fn auth_publickey(&mut self, user: &str, key: VerifiedPublicKey<'_>) -> Result<Auth, Self::Error> {
        let authenticated = match Self::engine_key(key.public_key) {
            Some(key) => self.shared.auth.public_key_login(user, &key, self.peer).await,
            None => Err(AuthError::NotAllowed("unusable public key".into())),
        };
        Ok(self.finish_login(user, "publickey", authenticated).await)
    }

    /// A session channel (RFC 4254 §6.1): accepted up to `max_channels`.
    /// Its messages are drained by a task of its own until it asks for the
    /// `sftp` subsystem, which then runs on it.
    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(login) = &self.login else {
            reply.reject(russh::ChannelOpenFailure::AdministrativelyProhibited).await;
            return Ok(());
        };
        if self.channels.len() >= self.shared.options.max_channels {
            slog::info!(login.logger, "channel refused: too many open"; "max" => self.shared.options.max_channels);
            reply.reject(russh::ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        }
        self.channels.push(channel.id());
        reply.accept().await;
        let sftp = SftpSession::new(
            Arc::clone(&self.shared),
            login.identity.clone(),
            Arc::clone(&login.storage),
            self.peer,
            login.logger.clone(),
        );
        let task = tokio::spawn(serve_channel(channel, sftp));
        let mut tasks = self.state.sftp_tasks.lock().unwrap_or_else(|e| e.into_inner());
        // A client that opens and closes channels all day must not grow the list.
        tasks.retain(|task| !task.is_finished());
        tasks.push(task);
        Ok(())
    }

    /// `subsystem` (RFC 4254 §6.5): `sftp`, once per channel; nothing else.
    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if name == SFTP_SUBSYSTEM && self.channels.contains(&channel) && !self.started.contains(&channel) {
            self.started.push(channel);
            slog::debug!(self.logger, "SFTP session started");
            session.channel_success(channel)
        } else {
            self.refuse(channel, &format!("subsystem {name:?}"), session)
        }
    }

    async fn channel_close(&mut self, channel: ChannelId, _session: &mut Session) -> Result<(), Self::Error> {
        self.channels.retain(|c| *c != channel);
        self.started.retain(|c| *c != channel);
        Ok(())
    }

    /// `exec` (RFC 4254 §6.5): refused; no command ever runs (this is
    /// also what `scp -O`, the legacy SCP protocol, asks for).
    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let command = String::from_utf8_lossy(data);
        let shown: String = command.chars().take(80).collect();
        self.refuse(channel, &format!("exec {shown:?}"), session)
    }

    async fn shell_request(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        self.refuse(channel, "shell", session)
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.refuse(channel, "pty", session)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.refuse(channel, "x11", session)
    }

    /// `env`: ignored (OpenSSH sends `LANG` without asking for a reply; the
    /// library replies only to requests that want one).
    async fn env_request(
        &mut self,
        channel: ChannelId,
        _variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    /// Agent forwarding: refused (the default answer is no; logged here).
    async fn agent_request(&mut self, _channel: ChannelId, _session: &mut Session) -> Result<bool, Self::Error> {
        slog::info!(self.logger, "channel request refused"; "request" => "agent forwarding");
        Ok(false)
    }

    /// `direct-tcpip` (`ssh -L`): refused.
    async fn channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        slog::info!(self.logger, "port forwarding refused"; "to" => format!("{host_to_connect}:{port_to_connect}"));
        reply.reject(russh::ChannelOpenFailure::AdministrativelyProhibited).await;
        Ok(())
    }

    /// `tcpip-forward` (`ssh -R`): refused.
    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        slog::info!(self.logger, "remote port forwarding refused"; "address" => format!("{address}:{port}"));
        Ok(false)
    }
}

/// Drains a session channel until it asks for the `sftp` subsystem, then
/// serves SFTP on it until the client closes it or the connection ends.
async fn serve_channel(channel: Channel<Msg>, sftp: SftpSession) {
    let (mut reader, writer) = channel.split();
    loop {
        match reader.wait().await {
            Some(ChannelMsg::RequestSubsystem { name, .. }) if name == SFTP_SUBSYSTEM => break,
            Some(ChannelMsg::Eof | ChannelMsg::Close) | None => return,
            // Requests the handler refused, data before any program: dropped.
            Some(_) => {}
        }
    }
    sftp.run(reader, writer).await;
}
