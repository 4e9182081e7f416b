//! One control connection's main loop: read a line, parse it, dispatch it.
//!
//! While a transfer runs in its own task the loop keeps reading: ABOR, STAT
//! and NOOP are answered at once; any other command waits until the transfer
//! has finished and its reply has been sent, so pipelining clients see
//! replies in order.

mod dispatch;

use std::sync::Arc;
use std::time::Duration;

use oxftp_proto::command::{Command, ParseError, ShownCommand, parse};
use oxftp_proto::line::LineEvent;

use crate::admission::ConnectionPass;
use crate::cmd;
use crate::conn::{Accepted, Conn, Flow, Incoming, Running, State, TaskResult};
use crate::context::ServerContext;
use crate::metrics::SessionGauge;

/// One control connection: the connection, its login and transfer state,
/// and the transfer running now, if any.
pub(crate) struct Session {
    conn: Conn,
    state: State,
    running: Option<Running>,
}

impl Session {
    pub(crate) fn new(
        ctx: Arc<ServerContext>,
        accepted: Accepted,
        ip_slot: ConnectionPass,
        gauge: Option<SessionGauge>,
    ) -> Session {
        let mut conn = Conn::new(ctx, accepted);
        conn.ip_slot = Some(ip_slot);
        conn.session_gauge = gauge;
        Session { conn, state: State::default(), running: None }
    }

    /// How long the client may stay silent now.
    fn silence_limit(&self) -> Duration {
        let options = &self.conn.ctx.options;
        if self.state.login.is_logged_in() {
            options.idle_timeout
        } else {
            options.login_timeout.saturating_sub(self.conn.connected.elapsed())
        }
    }

    pub(crate) async fn run(mut self) {
        slog::debug!(self.conn.logger, "connected");
        if self.conn.implicit_tls {
            // Implicit FTPS: the handshake comes before the greeting.
            let Some(permit) = self.conn.handshake_permit() else {
                slog::info!(self.conn.logger, "closing: too many TLS handshakes in progress");
                return;
            };
            if let Err(e) = self.conn.start_tls(permit).await {
                slog::info!(self.conn.logger, "implicit TLS handshake failed"; "error" => %e);
                return;
            }
        }
        let greeting = self.conn.ctx.options.greeting.clone();
        let _ = self.conn.reply(220, greeting).await;
        let mut shutdown = self.conn.ctx.shutdown.clone();
        loop {
            let event = if let Some(Running { task, gate, .. }) = self.running.as_mut() {
                tokio::select! {
                    // The control connection first: a command or its close
                    // read now decides about an upload that asks meanwhile.
                    biased;
                    event = self.conn.next_event() => event,
                    result = task => {
                        self.finish_transfer(Some(result)).await;
                        continue;
                    }
                    () = Running::commit_asked(gate) => match self.upload_verdict().await {
                        Some(event) => event,
                        None => continue,
                    }
                }
            } else {
                let limit = self.silence_limit();
                tokio::select! {
                    event = tokio::time::timeout(limit, self.conn.next_event()) => match event {
                        Ok(event) => event,
                        Err(_) => {
                            let text = if self.state.login.is_logged_in() {
                                "Timeout: closing control connection."
                            } else {
                                "Login timeout: closing control connection."
                            };
                            let _ = self.conn.reply(421, text).await;
                            break;
                        }
                    },
                    _ = stopping(&mut shutdown) => {
                        let _ = self.conn.reply(421, "Server shutting down.").await;
                        break;
                    }
                }
            };
            let line = match event {
                Incoming::Closed => break,
                Incoming::Event(LineEvent::Urgent) => continue,
                Incoming::Event(LineEvent::TooLong) => {
                    let _ = self.conn.reply(500, "Command line too long.").await;
                    continue;
                }
                Incoming::Event(LineEvent::Line(line)) => line,
            };
            if self.handle_line(&line).await == Flow::Close {
                break;
            }
        }
        self.end().await;
        slog::debug!(self.conn.logger, "disconnected");
    }

    /// The session is over (QUIT, a closed connection, a timeout, shutdown):
    /// a transfer that finished gets its reply (and its event), one still
    /// running is aborted, a logged-in user logs out, and the connection closes.
    async fn end(&mut self) {
        if let Some(running) = self.running.take() {
            let identity = self.state.login.identity();
            let _ = if running.task.is_finished() {
                running.finish(&mut self.conn, identity, None).await
            } else {
                running.abort(&mut self.conn, identity).await
            };
        }
        cmd::login::logout(&mut self.conn, &mut self.state).await;
        self.conn.close().await;
    }

    async fn handle_line(&mut self, line: &[u8]) -> Flow {
        let logger = self.state.login.user().map_or(&self.conn.logger, |user| &user.logger);
        slog::debug!(logger, "command"; "line" => %ShownCommand(line));
        let command = match parse(line) {
            Ok(command) => command,
            Err(e) => return self.refuse_line(&e).await,
        };
        let verb = command.verb();
        if self.running.is_some() {
            match command {
                Command::Abor => {
                    let flow = self.abor().await;
                    self.count_command(Some(verb));
                    return flow;
                }
                Command::Stat { path: None } => {
                    let _ = cmd::stat::status(&mut self.conn, &self.state, self.running.as_ref()).await;
                    self.count_command(Some(verb));
                    return Flow::Continue;
                }
                Command::Noop => {
                    let _ = cmd::info::noop(&mut self.conn).await;
                    self.count_command(Some(verb));
                    return Flow::Continue;
                }
                // Everything else waits for the transfer, in order.
                _ => self.finish_transfer(None).await,
            }
        }
        let flow = self.dispatch(command).await;
        // A transfer it started is counted with its final reply, when it ends.
        if self.running.is_none() {
            self.count_command(Some(verb));
        }
        flow
    }

    /// Counts the command just answered (`None`: a line that did not parse)
    /// with the reply it got.
    fn count_command(&self, verb: Option<oxftp_proto::command::Verb>) {
        if let Some(metrics) = self.conn.metrics() {
            metrics.command(verb, self.conn.last_reply);
        }
    }

    /// Answer a line that is no valid command. Before login, unknown
    /// commands and empty lines are counted: a connection that sends
    /// `max_unknown_before_login` of them is not speaking FTP (an HTTP
    /// request's head, in the ALPACA attack) and is closed with 421 before
    /// anything further it sends is read.
    async fn refuse_line(&mut self, error: &ParseError) -> Flow {
        let max = self.conn.ctx.options.max_unknown_before_login;
        let unknown = matches!(error, ParseError::Unknown(_) | ParseError::Empty);
        if unknown && max != 0 && !self.state.login.is_logged_in() {
            self.conn.unknown_before_login += 1;
            if self.conn.unknown_before_login >= max {
                slog::info!(self.conn.logger, "closing: unknown commands before login";
                    "count" => self.conn.unknown_before_login);
                let _ = self.conn.reply(421, "Too many unknown commands before login; closing connection.").await;
                self.count_command(None);
                return Flow::Close;
            }
        }
        let _ = self.conn.send(&error.reply()).await;
        self.count_command(None);
        Flow::Continue
    }

    /// Send the running transfer's final reply (waiting for it unless its
    /// result is given) and log it.
    async fn finish_transfer(&mut self, result: Option<TaskResult>) {
        if let Some(running) = self.running.take() {
            let _ = running.finish(&mut self.conn, self.state.login.identity(), result).await;
        }
    }

    /// An upload has all its bytes and asks whether to publish them; no
    /// command is waiting on the control connection. A client that closed
    /// it without QUIT, before hearing the upload's end, is gone (killed,
    /// crashed): its upload is thrown away. Its FIN may not have been read
    /// yet, so the socket itself is asked; and as a dying client's kernel
    /// may close the data connection first and the control connection a
    /// moment later, a long upload waits that moment (see
    /// [`Running::close_grace`]) for a close, or a command, to come. Returns
    /// what came meanwhile, for the session loop.
    async fn upload_verdict(&mut self) -> Option<Incoming> {
        let grace = self.running.as_ref().map(Running::close_grace).unwrap_or_default();
        let (publish, event) = if self.conn.peer_closed() {
            (false, None)
        } else if grace.is_zero() {
            (true, None)
        } else {
            match tokio::time::timeout(grace, self.conn.next_event()).await {
                Err(_) => (true, None),
                Ok(Incoming::Closed) => (false, Some(Incoming::Closed)),
                // A command: the client is there.
                Ok(event) => (true, Some(event)),
            }
        };
        slog::debug!(self.conn.logger, "upload received"; "publish" => publish);
        if let Some(running) = self.running.as_mut() {
            running.decide_commit(publish);
        }
        event
    }

    /// ABOR, with or without a transfer running.
    async fn abor(&mut self) -> Flow {
        let _ = cmd::abor::abor(&mut self.conn, &mut self.state, &mut self.running).await;
        Flow::Continue
    }
}

/// Resolves once the server starts shutting down.
async fn stopping(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    // An error means the server is gone entirely, which is a shutdown too.
    let _ = shutdown.wait_for(|stop| *stop).await;
}
