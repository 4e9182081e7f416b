//! The SFTP server: listeners, the door, each connection's life, shutdown.
//!
//! Reads top to bottom: `run` accepts on every listener until the shutdown
//! future resolves; each connection passes the shared
//! [`Admission`] (session limits, connections not logged in yet per
//! address, IP rules, bans), runs the SSH session
//! under a login deadline, and ends with a logout report. On shutdown the
//! listeners close, sessions get `shutdown_timeout` to finish, then their
//! sockets are cut (uploads still open are aborted, nothing half-written
//! stays under a final name).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oxftp_core::admission::{Admission, ConnectionPass};
use oxftp_core::auth::{Authenticator, Identity};
use oxftp_core::metrics::ListenerMetrics;
use oxftp_core::policy::Stack;
use russh::MethodKind;
use slog::{Logger, o};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::cut::Cuttable;
use crate::options::SftpOptions;
use crate::report::Reporter;
use crate::ssh::SshSession;

/// How long cut sessions get to abort their uploads before `run` returns.
const CUT_GRACE: Duration = Duration::from_secs(5);

/// An SFTP server over a storage stack, an authenticator and an admission
/// door, normally the very ones an FTP [`Server`](oxftp_core::Server) of
/// the same service was given. Cheap to clone.
#[derive(Clone)]
pub struct SftpServer {
    stack: Arc<Stack>,
    auth: Arc<dyn Authenticator>,
    admission: Arc<Admission>,
    options: SftpOptions,
    logger: Logger,
}

/// What every connection of one running server shares.
pub(crate) struct Shared {
    pub stack: Arc<Stack>,
    pub auth: Arc<dyn Authenticator>,
    pub admission: Arc<Admission>,
    pub options: Arc<SftpOptions>,
    pub logger: Logger,
    pub report: Reporter,
}

/// What a connection's SSH handler leaves for the connection's end.
#[derive(Default)]
pub(crate) struct ConnectionState {
    /// Set once a login succeeded (disarms the login deadline; reported at logout).
    pub identity: Mutex<Option<Identity>>,
    /// The connection's place in the door's counts; its place among its
    /// address's connections not logged in yet is given back at login.
    pub pass: Mutex<Option<ConnectionPass>>,
    /// The connection's SFTP sessions, awaited before the connection ends so
    /// their uploads are aborted (or committed) first.
    pub sftp_tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl ConnectionState {
    fn logged_in(&self) -> Option<Identity> {
        self.identity.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A login succeeded: remember who, and leave the door's count of
    /// connections not logged in.
    pub(crate) fn log_in(&self, identity: Identity) {
        *self.identity.lock().unwrap_or_else(|e| e.into_inner()) = Some(identity);
        if let Some(pass) = self.pass.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            pass.logged_in();
        }
    }
}

impl SftpServer {
    /// A server over `stack` (users' storage), `auth` (accounts) and
    /// `admission` (session limits and bans).
    pub fn new(
        stack: Arc<Stack>,
        auth: Arc<dyn Authenticator>,
        admission: Arc<Admission>,
        options: SftpOptions,
    ) -> SftpServer {
        SftpServer { stack, auth, admission, options, logger: Logger::root(slog::Discard, o!()) }
    }

    /// Log to `logger`.
    pub fn with_logger(mut self, logger: Logger) -> SftpServer {
        self.logger = logger;
        self
    }

    /// Also record events (logins, transfers, deletes...) in `sink`.
    pub fn with_event_sink(mut self, sink: Arc<dyn oxftp_core::events::EventSink>) -> SftpServer {
        self.options.event_sinks.push(sink);
        self
    }

    /// The options in force.
    pub fn options(&self) -> &SftpOptions {
        &self.options
    }

    /// Serve on all listeners until `shutdown` resolves; then stop
    /// accepting, let sessions go on up to `shutdown_timeout`, cut the rest,
    /// and return.
    pub async fn run(
        &self,
        listeners: Vec<TcpListener>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        if self.options.host_keys.is_empty() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "an SFTP server needs a host key"));
        }
        let config = Arc::new(self.ssh_config());
        let shared = Arc::new(Shared {
            stack: Arc::clone(&self.stack),
            auth: Arc::clone(&self.auth),
            admission: Arc::clone(&self.admission),
            options: Arc::new(self.options.clone()),
            logger: self.logger.clone(),
            report: Reporter::new(Arc::new(self.options.clone()), self.logger.clone()),
        });
        let cut_all = CancellationToken::new();
        let (conn_tx, mut conn_rx) = tokio::sync::mpsc::channel::<(TcpStream, Option<ListenerMetrics>)>(64);
        let mut acceptors = JoinSet::new();
        for listener in listeners {
            let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
            let metrics = shared.report.listener(&address);
            acceptors.spawn(accept_loop(listener, metrics, conn_tx.clone(), self.logger.clone()));
        }
        drop(conn_tx);
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                conn = conn_rx.recv() => match conn {
                    Some((stream, listener)) => {
                        let cut = cut_all.child_token();
                        connections.spawn(connection(Arc::clone(&shared), Arc::clone(&config), stream, listener, cut));
                    }
                    None => break,
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        acceptors.abort_all();
        slog::info!(self.logger, "SFTP shutting down"; "sessions" => connections.len());
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(self.options.shutdown_timeout, drain).await.is_err() {
            slog::warn!(self.logger, "SFTP shutdown timeout: cutting sessions"; "sessions" => connections.len());
            cut_all.cancel();
            let drain = async { while connections.join_next().await.is_some() {} };
            if tokio::time::timeout(CUT_GRACE, drain).await.is_err() {
                connections.abort_all();
            }
        }
        Ok(())
    }

    /// The SSH library's settings for this server.
    fn ssh_config(&self) -> russh::server::Config {
        let o = &self.options;
        russh::server::Config {
            server_id: russh::SshId::Standard(format!("SSH-2.0-oxftpd_{}", env!("CARGO_PKG_VERSION")).into()),
            methods: (&[MethodKind::Password, MethodKind::PublicKey][..]).into(),
            auth_rejection_time: o.failed_login_delay,
            // OpenSSH clients start with a "none" probe: answer it at once.
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: o.host_keys.clone(),
            max_auth_attempts: o.max_auth_attempts,
            inactivity_timeout: Some(o.idle_timeout),
            // Larger packets from the client mean fewer messages per
            // uploaded megabyte (65535 is the library's ceiling).
            maximum_packet_size: 65535,
            window_size: 8 * 1024 * 1024,
            nodelay: true,
            ..Default::default()
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    metrics: Option<ListenerMetrics>,
    tx: tokio::sync::mpsc::Sender<(TcpStream, Option<ListenerMetrics>)>,
    logger: Logger,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                if tx.send((stream, metrics.clone())).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                slog::warn!(logger, "SFTP accept failed"; "error" => %e);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// One connection, from the door to the logout.
async fn connection(
    shared: Arc<Shared>,
    config: Arc<russh::server::Config>,
    mut stream: TcpStream,
    listener: Option<ListenerMetrics>,
    cut: CancellationToken,
) {
    let Ok(peer) = stream.peer_addr() else { return };
    let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
    let logger = shared.logger.new(o!("peer" => peer.to_string(), "protocol" => "sftp"));
    let pass = match shared.admission.admit(peer.ip()).await {
        Ok(pass) => pass,
        Err(refusal) => {
            slog::info!(logger, "SFTP connection refused"; "reason" => refusal.message());
            // RFC 4253 §4.2: a server may send lines before its version
            // string; OpenSSH clients show them with -v.
            let _ = stream.write_all(format!("{}\r\n", refusal.message()).as_bytes()).await;
            let _ = stream.shutdown().await;
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let _gauge = Reporter::session_opened(listener.as_ref());
    // (held in the state, where a login can reach it, to the very end)
    let state = Arc::new(ConnectionState { pass: Mutex::new(Some(pass)), ..ConnectionState::default() });
    let handler = SshSession::new(Arc::clone(&shared), peer, logger.clone(), cut.clone(), Arc::clone(&state));
    let deadline = tokio::time::sleep(shared.options.login_timeout);
    tokio::pin!(deadline);
    let stream = Cuttable::new(stream, cut.clone());
    // The key exchange happens inside run_stream and the session: both
    // stay under the login deadline.
    let session = async {
        match russh::server::run_stream(config, stream, handler).await {
            Ok(session) => session.await,
            Err(e) => Err(e),
        }
    };
    tokio::pin!(session);
    let result = tokio::select! {
        result = &mut session => result,
        () = &mut deadline => {
            if state.logged_in().is_none() {
                slog::info!(logger, "SFTP login timeout");
                cut.cancel();
            }
            session.await
        }
    };
    match result {
        Ok(()) => slog::debug!(logger, "SSH connection closed"),
        Err(e) => slog::debug!(logger, "SSH connection ended"; "error" => %e),
    }
    let tasks = std::mem::take(&mut *state.sftp_tasks.lock().unwrap_or_else(|e| e.into_inner()));
    for task in tasks {
        let _ = task.await;
    }
    if let Some(identity) = state.logged_in() {
        slog::info!(logger, "logout"; "user" => &identity.user);
        shared.report.logout(&identity, peer).await;
    }
    // Its uploads are settled: the connection leaves the door's counts.
    drop(state.pass.lock().unwrap_or_else(|e| e.into_inner()).take());
}
