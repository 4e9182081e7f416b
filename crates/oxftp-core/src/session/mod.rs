//! One control connection: its state machine and its main loop.
//!
//! The loop reads events from the control connection and dispatches them to
//! the command handlers in `crate::cmd`. While a transfer runs in its own task
//! the loop keeps reading: ABOR, STAT and NOOP are answered at once; any other
//! command waits until the transfer has finished and its reply has been sent,
//! so pipelining clients see replies in order.

mod control;
mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxftp_proto::command::{Command, TransferType, parse};
use oxftp_proto::line::LineEvent;
use oxftp_proto::path::VPath;
use oxftp_proto::reply::Reply;
use slog::{Logger, o};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::auth::Identity;
use crate::context::ServerContext as Shared;
use crate::data::DataSetup;
use crate::storage::Storage;
use crate::stream::Side;
use crate::transfer::{Progress, TransferError};

pub(crate) use control::{ControlReader, ControlWriter, Incoming};

/// Where a session is in the login dance.
#[derive(Debug)]
pub(crate) enum Login {
    /// Nothing yet (or after REIN).
    Fresh,
    /// USER given, waiting for PASS.
    AwaitingPass { user: String },
    /// Logged in.
    Done,
}

/// A transfer running in its own task.
pub(crate) struct Running {
    pub task: JoinHandle<Result<u64, TransferError>>,
    pub progress: Progress,
    /// What it is, for STAT and the transfer log.
    pub what: &'static str,
    pub path: VPath,
    pub started: Instant,
    /// Reply text on success (e.g. STOU's unique name).
    pub success_text: Option<Vec<u8>>,
}

/// What a handler wants the loop to do next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Close,
}

/// The state of one control connection.
pub(crate) struct Session {
    pub shared: Arc<Shared>,
    pub logger: Logger,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub reader: ControlReader,
    pub writer: ControlWriter,
    pub login: Login,
    pub identity: Option<Identity>,
    pub storage: Option<Arc<dyn Storage>>,
    pub cwd: VPath,
    pub transfer_type: TransferType,
    pub rest: u64,
    pub rename_from: Option<VPath>,
    pub data: Option<DataSetup>,
    pub epsv_all: bool,
    pub failed_logins: u32,
    pub running: Option<Running>,
    /// The client's name from CLNT, for logs.
    pub client_name: Option<String>,
    pub connected: Instant,
    /// TLS for this control connection and its data connections (its own session cache).
    pub tls: Option<crate::tls::SessionAcceptors>,
    /// Whether this connection came in on an implicit-TLS listener.
    pub implicit_tls: bool,
    /// PBSZ 0 was given (RFC 4217 requires it before PROT).
    pub pbsz: bool,
    /// PROT P: data connections use TLS.
    pub protect_data: bool,
    /// Subject CN of a verified client certificate.
    pub client_cert_cn: Option<String>,
    /// This session's place in the per-address count.
    pub ip_slot: Option<crate::admission::Slot<std::net::IpAddr>>,
    /// This session's place in its account's session count (after login).
    pub user_slot: Option<crate::admission::Slot<String>>,
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, stream: TcpStream, implicit_tls: bool) -> std::io::Result<Session> {
        let peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        // Keep Telnet "Synch" urgent bytes in the stream so IAC IP IAC DM ABOR
        // parses as a whole (RFC 959 4.1.3); otherwise the kernel drops the DM.
        let _ = socket2::SockRef::from(&stream).set_out_of_band_inline(true);
        let logger = shared.logger.new(o!("peer" => peer.to_string()));
        let (read_half, write_half) = stream.into_split();
        let max_line = shared.options.max_line;
        Ok(Session {
            logger,
            peer,
            local,
            reader: ControlReader::new(Side::Plain(read_half), max_line),
            writer: ControlWriter::new(Side::Plain(write_half)),
            login: Login::Fresh,
            identity: None,
            storage: None,
            cwd: VPath::root(),
            transfer_type: TransferType::Ascii,
            rest: 0,
            rename_from: None,
            data: None,
            epsv_all: false,
            failed_logins: 0,
            running: None,
            client_name: None,
            connected: Instant::now(),
            tls: shared.options.tls.as_ref().map(|t| t.session_acceptors()),
            implicit_tls,
            pbsz: false,
            protect_data: false,
            client_cert_cn: None,
            ip_slot: None,
            user_slot: None,
            shared,
        })
    }

    /// Send a reply; a failed write means the client is gone, which the read side notices.
    pub(crate) async fn reply(&mut self, code: u16, text: impl AsRef<[u8]>) {
        let _ = self.writer.send(&Reply::new(code, text)).await;
    }

    pub(crate) async fn send(&mut self, reply: &Reply) {
        let _ = self.writer.send(reply).await;
    }

    pub(crate) fn logged_in(&self) -> bool {
        matches!(self.login, Login::Done)
    }

    /// How long the client may stay silent now.
    fn silence_limit(&self) -> Duration {
        if self.logged_in() {
            self.shared.options.idle_timeout
        } else {
            self.shared.options.login_timeout.saturating_sub(self.connected.elapsed())
        }
    }

    pub(crate) async fn run(mut self) {
        slog::debug!(self.logger, "connected");
        if self.implicit_tls {
            // Implicit FTPS: the handshake comes before the greeting.
            if let Err(e) = self.start_tls().await {
                slog::info!(self.logger, "implicit TLS handshake failed"; "error" => %e);
                return;
            }
        }
        let greeting = self.shared.options.greeting.clone();
        self.reply(220, greeting).await;
        let mut shutdown = self.shared.shutdown.clone();
        loop {
            let event = if let Some(running) = self.running.as_mut() {
                tokio::select! {
                    result = &mut running.task => {
                        self.finish_transfer(Some(result)).await;
                        continue;
                    }
                    event = self.reader.next_event() => event,
                }
            } else {
                let limit = self.silence_limit();
                tokio::select! {
                    event = tokio::time::timeout(limit, self.reader.next_event()) => match event {
                        Ok(event) => event,
                        Err(_) => {
                            let text = if self.logged_in() { "Timeout: closing control connection." } else { "Login timeout: closing control connection." };
                            self.reply(421, text).await;
                            break;
                        }
                    },
                    _ = stopping(&mut shutdown) => {
                        self.reply(421, "Server shutting down.").await;
                        break;
                    }
                }
            };
            let line = match event {
                Incoming::Closed => break,
                Incoming::Event(LineEvent::Urgent) => continue,
                Incoming::Event(LineEvent::TooLong) => {
                    self.reply(500, "Command line too long.").await;
                    continue;
                }
                Incoming::Event(LineEvent::Line(line)) => line,
            };
            if self.handle_line(&line).await == Flow::Close {
                break;
            }
        }
        if let Some(running) = self.running.take() {
            running.task.abort();
        }
        self.writer.close().await;
        slog::debug!(self.logger, "disconnected");
    }

    async fn handle_line(&mut self, line: &[u8]) -> Flow {
        let command = match parse(line) {
            Ok(command) => command,
            Err(e) => {
                let reply = e.reply();
                self.send(&reply).await;
                return Flow::Continue;
            }
        };
        if self.running.is_some() {
            match command {
                Command::Abor => return self.cmd_abor().await,
                Command::Stat { path: None } => return self.cmd_stat(None).await,
                Command::Noop => {
                    self.reply(200, "NOOP ok.").await;
                    return Flow::Continue;
                }
                _ => {
                    // Everything else waits for the transfer, in order.
                    self.finish_transfer(None).await;
                }
            }
        }
        // RNTO must follow RNFR immediately.
        let rename_from = self.rename_from.take();
        self.dispatch(command, rename_from).await
    }

    /// Wait for the running transfer (unless its result is given), send its
    /// final reply and log it.
    pub(crate) async fn finish_transfer(
        &mut self,
        result: Option<Result<Result<u64, TransferError>, tokio::task::JoinError>>,
    ) {
        let Some(mut running) = self.running.take() else {
            return;
        };
        let result = match result {
            Some(r) => r,
            None => (&mut running.task).await,
        };
        let (reply, status, bytes) = match result {
            Ok(Ok(bytes)) => {
                let text = running.success_text.take().unwrap_or_else(|| b"Transfer complete.".to_vec());
                (Reply::new(226, text), "complete", bytes)
            }
            Ok(Err(e)) => (e.reply(), "failed", running.progress.load(std::sync::atomic::Ordering::Relaxed)),
            Err(_) => (
                Reply::new(426, "Transfer aborted."),
                "aborted",
                running.progress.load(std::sync::atomic::Ordering::Relaxed),
            ),
        };
        self.send(&reply).await;
        self.log_transfer(running.what, &running.path, running.started, status, bytes);
    }

    /// One structured line per transfer (the fields of an xferlog entry).
    pub(crate) fn log_transfer(&self, what: &'static str, path: &VPath, started: Instant, status: &str, bytes: u64) {
        let elapsed = started.elapsed();
        slog::info!(self.logger, "transfer";
            "op" => what,
            "path" => %path,
            "bytes" => bytes,
            "ms" => elapsed.as_millis() as u64,
            "type" => if self.transfer_type == TransferType::Ascii { "a" } else { "b" },
            "status" => status,
        );
        let listeners = &self.shared.options.transfer_listeners;
        if listeners.is_empty() {
            return;
        }
        let kind = match what {
            "RETR" => crate::events::TransferKind::Download,
            "STOR" | "STOU" | "APPE" => crate::events::TransferKind::Upload,
            _ => crate::events::TransferKind::Listing,
        };
        let event = crate::events::TransferEvent {
            user: self.identity.as_ref().map(|i| i.user.clone()).unwrap_or_default(),
            peer: self.peer,
            kind,
            command: what,
            path: path.clone(),
            bytes,
            elapsed,
            completed: status == "complete",
        };
        for listener in listeners {
            listener.transfer_finished(&event);
        }
    }
}

/// Resolves once the server starts shutting down.
async fn stopping(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    // An error means the server is gone entirely, which is a shutdown too.
    let _ = shutdown.wait_for(|stop| *stop).await;
}
