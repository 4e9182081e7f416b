//! The state of one control connection, in three parts that live as long as
//! they mean something:
//!
//! - [`Conn`]: the connection itself: its sockets (plain or TLS), peer and
//!   local address, the server context, data-connection protection
//!   (PBSZ/PROT), and counters that outlive a login (failed logins).
//! - [`Login`]: where the login dance is; [`LoggedIn`] (identity, storage,
//!   current directory, a pending rename) exists only inside
//!   [`Login::LoggedIn`], so a handler given a `&mut LoggedIn` has storage.
//! - [`Transfer`]: transfer parameters (TYPE, REST, the prepared data
//!   connection, EPSV ALL).
//!
//! REIN replaces [`State`] (login and transfer parameters) with a fresh one
//! in one assignment; the connection and its TLS stay.
//!
//! Handlers answer through [`Conn::reply`], which hands back a [`Replied`]:
//! a handler returns [`Answered`], so it cannot end without a reply.

mod events;
mod hashing;
mod io;
mod login;
mod running;
mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use oxftp_proto::command::ShownReply;
use oxftp_proto::command::TransferType;
use oxftp_proto::reply::Reply;
use slog::{Logger, o};
use tokio::net::TcpStream;

use crate::admission::ConnectionPass;
use crate::auth::{AccessClass, Identity};
use crate::context::ServerContext;
use crate::data::{DataSetup, DataTls};
use crate::endpoints::Endpoints;
use crate::metrics::{Metrics, SessionGauge, SessionTls};
use crate::passive::PassiveAddress;
use crate::storage::StorageError;
use crate::stream::Side;
use crate::tls::{SessionAcceptors, SessionReuse};

pub(crate) use hashing::{HashAlgorithm, HashState};
pub(crate) use io::Incoming;
use io::{ControlReader, ControlWriter};
pub(crate) use login::{LoggedIn, Login};
pub(crate) use running::{Running, TaskResult, TransferCommand};

/// Proof that a reply went out: only [`Conn::send`] (and so [`Conn::reply`])
/// makes one.
#[must_use = "a handler returns the proof that it replied"]
#[derive(Debug)]
pub(crate) struct Replied(());

/// What a command handler returns: it replied, either way. `Err` is a
/// refusal, so `?` ends a handler early, after its reply went out.
pub(crate) type Answered = Result<Replied, Replied>;

/// What the session loop does after a command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Close,
}

/// Login state and transfer parameters: what REIN resets.
#[derive(Default)]
pub(crate) struct State {
    pub login: Login,
    pub transfer: Transfer,
}

/// Transfer parameters set by TYPE, REST, PASV/EPSV/PORT/EPRT and EPSV ALL.
pub(crate) struct Transfer {
    pub ty: TransferType,
    /// The REST offset for the next transfer.
    pub rest: u64,
    /// The data connection the next transfer uses.
    pub data: Option<DataSetup>,
    /// After `EPSV ALL` only EPSV may set up data connections (RFC 2428 §4).
    pub epsv_all: bool,
}

impl Default for Transfer {
    fn default() -> Self {
        // RFC 959 §5.1: the default type is ASCII.
        Transfer { ty: TransferType::Ascii, rest: 0, data: None, epsv_all: false }
    }
}

/// Data-connection protection (RFC 4217 §8, §9).
#[derive(Debug, Default)]
pub(crate) struct Protection {
    /// PBSZ 0 was given (required before PROT).
    pub pbsz: bool,
    /// PROT P: data connections use TLS.
    pub private: bool,
}

impl Protection {
    /// Where a connection starts. On an implicit-TLS listener data
    /// connections are protected until the client says `PROT C`: implicit
    /// FTPS (draft-murray-auth-ftp-ssl, port 990 with its data port 989)
    /// means protected data, and clients such as aioftp never send PBSZ or
    /// PROT there but start TLS on every data connection. Explicit FTPS
    /// starts clear, as RFC 4217 §9 says.
    fn initial(implicit_tls: bool) -> Protection {
        Protection { pbsz: implicit_tls, private: implicit_tls }
    }
}

/// An accepted control connection, with its client found (see [`crate::endpoints`]).
pub(crate) struct Accepted {
    pub stream: TcpStream,
    pub endpoints: Endpoints,
    /// It came in on an implicit-TLS listener.
    pub implicit_tls: bool,
    /// Its listener's session-reuse mode, if the listener has one of its own.
    pub reuse: Option<SessionReuse>,
    /// What PASV announces (the listener's own, or the server's).
    pub passive_address: PassiveAddress,
}

/// One control connection.
pub(crate) struct Conn {
    pub ctx: Arc<ServerContext>,
    /// The connection's logger (the peer's address); a login adds the user in [`LoggedIn`].
    pub logger: Logger,
    /// The client's address: from a trusted PROXY header, or the TCP peer.
    /// Set once at accept; every check and log line uses this one.
    pub peer: SocketAddr,
    /// This node's local address on the control socket (passive ports and
    /// active connections bind here).
    pub local: SocketAddr,
    /// The address the client reached: a PROXY header's destination (the
    /// balancer), otherwise `local`.
    pub reached: SocketAddr,
    /// The proxy the connection came through, if any.
    pub proxy: Option<SocketAddr>,
    /// What PASV announces for this connection's listener.
    pub passive_address: PassiveAddress,
    reader: ControlReader,
    writer: ControlWriter,
    /// TLS for this control connection and its data connections (its own session cache).
    pub tls: Option<SessionAcceptors>,
    /// Whether this connection came in on an implicit-TLS listener.
    pub implicit_tls: bool,
    /// PBSZ and PROT, kept across REIN like the control connection's TLS.
    pub protection: Protection,
    /// Subject CN of a verified client certificate.
    pub client_cert_cn: Option<String>,
    /// Failed logins on this connection (across REIN).
    pub failed_logins: u32,
    /// The client's name from CLNT, for logs.
    pub client_name: Option<String>,
    /// HASH's algorithm and what this connection has hashed (across REIN).
    pub hash: HashState,
    pub connected: Instant,
    /// This connection's place in the session counts (and, until the first
    /// login, among its address's connections not logged in yet).
    pub ip_slot: Option<ConnectionPass>,
    /// Unknown commands received before the first login.
    pub unknown_before_login: u32,
    /// Counts this connection as an open session (metrics on).
    pub session_gauge: Option<SessionGauge>,
    /// The code of the last reply sent (for the command metrics).
    pub last_reply: u16,
}

impl Conn {
    pub(crate) fn new(ctx: Arc<ServerContext>, accepted: Accepted) -> Conn {
        let Accepted { stream, endpoints, implicit_tls, reuse, passive_address } = accepted;
        let peer = endpoints.client;
        // Keep Telnet "Synch" urgent bytes in the stream so IAC IP IAC DM ABOR
        // parses as a whole (RFC 959 4.1.3); otherwise the kernel drops the DM.
        let _ = socket2::SockRef::from(&stream).set_out_of_band_inline(true);
        let logger = match endpoints.proxy {
            Some(proxy) => ctx.logger.new(o!("peer" => peer.to_string(), "proxy" => proxy.to_string())),
            None => ctx.logger.new(o!("peer" => peer.to_string())),
        };
        let (read_half, write_half) = stream.into_split();
        let max_line = ctx.options.max_line;
        Conn {
            logger,
            peer,
            local: endpoints.local,
            reached: endpoints.reached,
            proxy: endpoints.proxy,
            passive_address,
            reader: ControlReader::new(Side::Plain(read_half), max_line),
            writer: ControlWriter::new(Side::Plain(write_half)),
            tls: ctx
                .options
                .tls
                .as_ref()
                .map(|t| t.session_acceptors(peer.ip(), reuse.unwrap_or(t.config.require_session_reuse))),
            implicit_tls,
            protection: Protection::initial(implicit_tls),
            client_cert_cn: None,
            failed_logins: 0,
            client_name: None,
            hash: HashState::default(),
            connected: Instant::now(),
            ip_slot: None,
            unknown_before_login: 0,
            session_gauge: None,
            last_reply: 0,
            ctx,
        }
    }

    /// The next line (or event) from the client. Cancel-safe.
    pub(crate) async fn next_event(&mut self) -> Incoming {
        self.reader.next_event().await
    }

    /// Send a reply; a failed write means the client is gone, which the read side notices.
    pub(crate) async fn send(&mut self, reply: &Reply) -> Replied {
        slog::debug!(self.logger, "reply"; "reply" => %ShownReply(reply));
        self.last_reply = reply.code;
        let _ = self.writer.send(reply).await;
        Replied(())
    }

    /// Send a one-line (or line-broken) reply.
    pub(crate) async fn reply(&mut self, code: u16, text: impl AsRef<[u8]>) -> Replied {
        self.send(&Reply::new(code, text)).await
    }

    /// Reply to a storage failure with its code and text.
    pub(crate) async fn storage_failed(&mut self, e: &StorageError) -> Replied {
        self.send(&e.reply()).await
    }

    /// 530 for a command that needs a login.
    pub(crate) async fn not_logged_in(&mut self) -> Replied {
        self.reply(530, "Please login with USER and PASS.").await
    }

    /// Whether the client has closed (or reset) the control connection,
    /// judged from the socket itself now, not from what was read so far.
    pub(crate) fn peer_closed(&self) -> bool {
        self.reader.peer_closed()
    }

    /// The server's metrics, if it has any.
    pub(crate) fn metrics(&self) -> Option<&Metrics> {
        self.ctx.options.metrics.as_ref()
    }

    /// The control connection's TLS state changed: move the session's gauge.
    pub(crate) fn session_tls(&mut self, tls: SessionTls) {
        if let Some(gauge) = &mut self.session_gauge {
            gauge.set_tls(tls);
        }
    }

    /// Whether the control connection is protected by TLS now.
    pub(crate) fn is_tls(&self) -> bool {
        self.reader.is_tls()
    }

    /// Close the control connection.
    pub(crate) async fn close(&mut self) {
        self.writer.close().await;
        if let Some(tls) = &self.tls {
            tls.closed();
        }
    }

    /// Whether this session's control connection must be protected.
    pub(crate) fn control_tls_required(&self, identity: Option<&Identity>) -> bool {
        let Some(tls) = &self.ctx.options.tls else { return false };
        let per_user = identity.is_some_and(|i| i.require_tls);
        per_user || tls.config.control.applies_to(is_anonymous(identity))
    }

    /// TLS for the next data connection: `Some` after PROT P, with the
    /// session-reuse rule in force now.
    pub(crate) fn data_tls(&self) -> Option<DataTls> {
        match (&self.tls, &self.ctx.options.tls) {
            (Some(acceptors), Some(settings)) if self.protection.private => Some(DataTls {
                acceptor: acceptors.data.clone(),
                session: acceptors.clone(),
                require_reuse: acceptors.reuse() != SessionReuse::Off,
                timeout: settings.config.handshake_timeout,
                metrics: self.ctx.options.metrics.clone(),
            }),
            _ => None,
        }
    }

    /// Whether this session's data connections must be protected.
    pub(crate) fn data_tls_required(&self, identity: Option<&Identity>) -> bool {
        let Some(tls) = &self.ctx.options.tls else { return false };
        let per_user = identity.is_some_and(|i| i.require_tls);
        per_user || tls.config.data.applies_to(is_anonymous(identity))
    }
}

fn is_anonymous(identity: Option<&Identity>) -> bool {
    identity.is_some_and(|i| i.class == AccessClass::Anonymous)
}
