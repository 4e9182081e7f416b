//! The server: options, listeners, the session limit and graceful shutdown.
//!
//! Reads top to bottom: `run` accepts on every listener until the shutdown
//! future resolves, hands each connection to a [`Session`], then waits for the
//! sessions still running (their transfers may finish) up to
//! `Options::shutdown_timeout`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use slog::{Logger, o};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::admission::{Admission, Refusal};
use crate::auth::Authenticator;
use crate::conn::Accepted;
use crate::context::ServerContext;
use crate::endpoints;
use crate::metrics::{ListenerMetrics, LoginRefusal, Metrics, SessionGauge, SessionTls};
pub use crate::net::{LISTEN_BACKLOG, bind_listener};
pub use crate::options::{Options, PassiveAddress, ProxyProtocol, ResolvedName};
use crate::policy::Stack;
use crate::session::Session;
use crate::storage::StorageFactory;
use crate::tls::SessionReuse;

/// An FTP server: storage and authentication plus options. Cheap to clone.
#[derive(Clone)]
pub struct Server {
    storage: Arc<dyn StorageFactory>,
    /// A storage stack shared with other front ends, if one was given.
    stack: Option<Arc<Stack>>,
    /// Session limits and bans shared with other front ends, if given.
    admission: Option<Arc<Admission>>,
    auth: Arc<dyn Authenticator>,
    options: Options,
    logger: Logger,
}

impl Server {
    /// A server over a storage factory and an authenticator, with default options.
    pub fn new(storage: Arc<dyn StorageFactory>, auth: Arc<dyn Authenticator>) -> Server {
        Server {
            storage,
            stack: None,
            admission: None,
            auth,
            options: Options::default(),
            logger: Logger::root(slog::Discard, o!()),
        }
    }

    /// Build logged-in users' storage with `stack`, which other front ends
    /// of the same service (SFTP, the web client's direct mode) share, so an
    /// account's quota and bandwidth are counted once across them. Its
    /// server-wide rates apply instead of `Options::download_rate` and
    /// `upload_rate`. Without it, each run builds its own stack over the
    /// factory given to [`Server::new`].
    pub fn with_stack(mut self, stack: Arc<Stack>) -> Server {
        self.stack = Some(stack);
        self
    }

    /// Admit connections and logins through `admission`, which other front
    /// ends of the same service (SFTP) share, so session limits and bans
    /// count their clients together. Its limits and its state apply instead
    /// of the options' `max_sessions`, `max_sessions_per_ip`, `ip_rules`,
    /// `ban` and (for bans and session counts) `shared_state`. Without it,
    /// each run builds its own from the options ([`Options::admission`]).
    pub fn with_admission(mut self, admission: Arc<Admission>) -> Server {
        self.admission = Some(admission);
        self
    }

    pub fn with_options(mut self, options: Options) -> Server {
        self.options = options;
        self
    }

    pub fn with_logger(mut self, logger: Logger) -> Server {
        self.logger = logger;
        self
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Bind `addr` (see [`bind_listener`]) and serve until the process ends.
    pub async fn listen(&self, addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<()> {
        let mut last_error = None;
        for addr in tokio::net::lookup_host(addr).await? {
            match bind_listener(addr) {
                Ok(listener) => return self.run(vec![listener], std::future::pending()).await,
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error
            .unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to listen on")))
    }

    /// Serve on all listeners until `shutdown` resolves; then stop accepting,
    /// let sessions finish their transfers up to `shutdown_timeout`, and return.
    pub async fn run(
        &self,
        listeners: Vec<TcpListener>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let listeners = listeners.into_iter().map(Listener::new).collect();
        self.run_listeners(listeners, shutdown).await
    }

    /// Like `run`, for listeners that may be implicit FTPS (TLS from the first byte,
    /// conventionally port 990), expect PROXY protocol headers, or announce
    /// their own passive address. Implicit listeners need `Options::tls`.
    /// Passive address names are resolved again every interval while the
    /// server runs.
    pub async fn run_listeners(
        &self,
        listeners: Vec<Listener>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        if listeners.iter().any(|l| l.implicit_tls) && self.options.tls.is_none() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "an implicit FTPS listener needs TLS settings",
            ));
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let stack = match &self.stack {
            Some(stack) => Arc::clone(stack),
            None => {
                let stack =
                    Stack::new(self.storage.clone()).with_rates(self.options.download_rate, self.options.upload_rate);
                let stack = match &self.options.shared_state {
                    Some(state) => stack.with_shared_quotas(Arc::clone(state)),
                    None => stack,
                };
                Arc::new(match &self.options.metrics {
                    Some(metrics) => stack.with_metrics(metrics),
                    None => stack,
                })
            }
        };
        let admission = match &self.admission {
            Some(admission) => Arc::clone(admission),
            None => Arc::new(self.options.admission()),
        };
        let shared = Arc::new(ServerContext::new(
            self.options.clone(),
            stack,
            self.auth.clone(),
            admission,
            self.logger.clone(),
            stop_rx,
        ));
        let mut sessions = JoinSet::new();
        let (conn_tx, mut conn_rx) = tokio::sync::mpsc::channel::<Incoming>(64);
        let mut acceptors = JoinSet::new();
        let names = std::iter::once(&self.options.passive_address)
            .chain(listeners.iter().filter_map(|l| l.passive_address.as_ref()))
            .filter_map(|address| address.name().cloned());
        for name in names {
            acceptors.spawn(name.keep_resolved(self.logger.new(o!("component" => "passive"))));
        }
        for listener in listeners {
            let tx = conn_tx.clone();
            let logger = self.logger.clone();
            let metrics = self.options.metrics.as_ref().map(|metrics| {
                let address = listener.tcp.local_addr().map(|a| a.to_string()).unwrap_or_default();
                (metrics.clone(), metrics.listener(&address))
            });
            let kind = Arc::new(Kind {
                implicit_tls: listener.implicit_tls,
                session_reuse: listener.session_reuse,
                proxy_protocol: listener.proxy_protocol,
                passive_address: listener.passive_address.unwrap_or_else(|| self.options.passive_address.clone()),
            });
            acceptors.spawn(accept_loop(listener.tcp, kind, tx, logger, metrics));
        }
        drop(conn_tx);
        acceptors.spawn(sweep_uploads(self.storage.clone(), self.options.upload_sweep_interval, self.logger.clone()));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                conn = conn_rx.recv() => match conn {
                    Some(incoming) => { sessions.spawn(start_session(shared.clone(), incoming)); }
                    None => break,
                },
                // Reap finished sessions so the set stays small.
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            }
        }
        acceptors.abort_all();
        let _ = stop_tx.send(true);
        slog::info!(self.logger, "shutting down"; "sessions" => sessions.len());
        let drain = async { while sessions.join_next().await.is_some() {} };
        if tokio::time::timeout(self.options.shutdown_timeout, drain).await.is_err() {
            slog::warn!(self.logger, "shutdown timeout: dropping sessions"; "sessions" => sessions.len());
            sessions.abort_all();
        }
        Ok(())
    }
}

/// A listening socket and how connections on it start: built with
/// [`Listener::new`] or [`Listener::implicit_tls`] and the `with_` methods.
#[derive(Debug)]
#[non_exhaustive]
pub struct Listener {
    /// The bound socket.
    pub tcp: TcpListener,
    /// Implicit FTPS: the TLS handshake comes before the greeting.
    pub implicit_tls: bool,
    /// The TLS session reuse this listener's data connections are held to,
    /// when not the server's `require_session_reuse` (an account's own
    /// setting still wins).
    pub session_reuse: Option<SessionReuse>,
    /// Every connection starts with a PROXY protocol header from a trusted
    /// proxy (`Options::proxy_protocol`); before the TLS handshake on an
    /// implicit listener.
    pub proxy_protocol: bool,
    /// What PASV announces for connections on this listener; `None`:
    /// `Options::passive_address`.
    pub passive_address: Option<PassiveAddress>,
}

impl Listener {
    /// Connections start in plaintext (explicit FTPS with AUTH TLS when configured).
    pub fn new(tcp: TcpListener) -> Listener {
        Listener { tcp, implicit_tls: false, session_reuse: None, proxy_protocol: false, passive_address: None }
    }

    /// Implicit FTPS (conventionally port 990): the TLS handshake comes before the greeting.
    pub fn implicit_tls(tcp: TcpListener) -> Listener {
        Listener { implicit_tls: true, ..Listener::new(tcp) }
    }

    /// Expect a PROXY protocol header (v1 or v2) on every connection.
    pub fn with_proxy_protocol(mut self) -> Listener {
        self.proxy_protocol = true;
        self
    }

    /// Announce `address` in PASV replies on this listener.
    pub fn with_passive_address(mut self, address: PassiveAddress) -> Listener {
        self.passive_address = Some(address);
        self
    }

    /// Hold this listener's data connections to `mode` (see [`SessionReuse`]).
    pub fn with_session_reuse(mut self, mode: SessionReuse) -> Listener {
        self.session_reuse = Some(mode);
        self
    }
}

/// How connections from one listener start.
#[derive(Debug)]
struct Kind {
    implicit_tls: bool,
    /// The listener's own session-reuse mode, if it has one.
    session_reuse: Option<SessionReuse>,
    proxy_protocol: bool,
    passive_address: PassiveAddress,
}

/// A connection a listener accepted, and how it starts.
struct Incoming {
    stream: TcpStream,
    /// The TCP peer, as accept said (asking the socket fails once a health
    /// check has hung up).
    peer: SocketAddr,
    kind: Arc<Kind>,
    /// Counts it as an open session (metrics on).
    gauge: Option<SessionGauge>,
}

/// Least time between two "accept failed" log lines.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);

/// Accepts connections on `listener` and hands them to the server loop.
/// A failed accept (EMFILE and friends) is counted each time but logged at
/// most once per [`ACCEPT_LOG_EVERY`], with how many failed since the last
/// line, and once more when an accept succeeds after a logged failure: a
/// server out of descriptors fails thousands of times a minute, and one
/// hovering at its limit flips between failing and working.
async fn accept_loop(
    listener: TcpListener,
    kind: Arc<Kind>,
    tx: tokio::sync::mpsc::Sender<Incoming>,
    logger: Logger,
    metrics: Option<(Metrics, ListenerMetrics)>,
) {
    let tls = if kind.implicit_tls { SessionTls::Implicit } else { SessionTls::None };
    // Failures since the last log line, when the last failure line was logged,
    // and whether a success should be logged.
    let mut unlogged: u64 = 0;
    let mut last_line: Option<std::time::Instant> = None;
    let mut failing = false;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if failing {
                    slog::info!(logger, "accepting connections again"; "failed_accepts" => unlogged);
                    failing = false;
                    unlogged = 0;
                }
                let gauge = metrics.as_ref().map(|(_, listener)| listener.session_opened(tls));
                if tx.send(Incoming { stream, peer, kind: Arc::clone(&kind), gauge }).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                unlogged += 1;
                if last_line.is_none_or(|at| at.elapsed() >= ACCEPT_LOG_EVERY) {
                    slog::warn!(logger, "accept failed; further failures are counted and logged at most every 10 s";
                        "error" => %e, "failed_accepts" => unlogged);
                    last_line = Some(std::time::Instant::now());
                    failing = true;
                    unlogged = 0;
                }
                if let Some((metrics, _)) = &metrics {
                    metrics.accept_error();
                }
                // Back off briefly instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Sweeps away what dead uploads left in the storage, now and then every
/// `interval` (see [`StorageFactory::sweep_abandoned_uploads`]); ends with
/// the server, like the accept loops.
async fn sweep_uploads(storage: Arc<dyn StorageFactory>, interval: Option<Duration>, logger: Logger) {
    loop {
        match storage.sweep_abandoned_uploads().await {
            Ok(report) if report.removed > 0 => slog::info!(logger, "removed what dead uploads left";
                "removed" => report.removed, "bytes" => report.bytes, "in_progress" => report.in_progress),
            Ok(_) => {}
            Err(e) => slog::warn!(logger, "sweeping dead uploads failed"; "error" => %e),
        }
        let Some(interval) = interval else { return };
        tokio::time::sleep(interval).await;
    }
}

async fn start_session(shared: Arc<ServerContext>, incoming: Incoming) {
    let Incoming { mut stream, peer, kind, gauge } = incoming;
    let _ = stream.set_nodelay(true);
    let options = &shared.options;
    let implicit_tls = kind.implicit_tls;
    // The one place the client's address is found; from here on it is the
    // client's everywhere (the door below, the session, its logs).
    let header = endpoints::of_accepted(&mut stream, peer, kind.proxy_protocol, &options.proxy_protocol).await;
    let endpoints = match header {
        Ok(endpoints) => endpoints,
        // Gone before a word (a balancer's plain TCP health check): nothing to tell.
        Err(e @ (endpoints::Refusal::Closed | endpoints::Refusal::Io(_))) => {
            slog::debug!(shared.logger, "connection closed before its PROXY header"; "from" => %peer, "reason" => %e);
            return;
        }
        Err(e) => {
            slog::info!(shared.logger, "connection refused: PROXY protocol"; "from" => %peer, "reason" => %e);
            return;
        }
    };
    let ip = endpoints.client.ip().to_canonical();
    let ip_slot = match shared.admission.admit(ip).await {
        Ok(pass) => pass,
        Err(refusal) => {
            let metrics = options.metrics.as_ref();
            match refusal {
                Refusal::AddressNotAllowed => {
                    slog::info!(shared.logger, "connection refused by IP rules"; "ip" => %ip);
                    if let Some(metrics) = metrics {
                        metrics.login("", Some(LoginRefusal::IpRefused));
                    }
                }
                Refusal::Banned => {
                    slog::info!(shared.logger, "connection from a banned address"; "ip" => %ip);
                    if let Some(metrics) = metrics {
                        metrics.login("", Some(LoginRefusal::Banned));
                    }
                }
                Refusal::TooManySessions | Refusal::TooManyFromAddress | Refusal::TooManyNotLoggedIn => {}
            }
            if !implicit_tls {
                // (plaintext would only confuse an implicit-TLS client: it just sees the close)
                let text = format!("421 {}\r\n", refusal.message());
                let _ = stream.write_all(text.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
            return;
        }
    };
    let passive_address = kind.passive_address.clone();
    let accepted = Accepted { stream, endpoints, implicit_tls, reuse: kind.session_reuse, passive_address };
    Session::new(shared.clone(), accepted, ip_slot, gauge).run().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 300 clients connect to a listener nobody accepts from yet: each must
    /// get through the handshake at once, waiting in the accept queue. With
    /// std's 128 the later ones lose their SYN and wait a second or more.
    #[tokio::test]
    async fn control_listener_queues_a_burst_of_connects() {
        let listener = bind_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        // The kernel caps the queue at net.core.somaxconn: stay below it.
        let cap: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4096);
        let mut clients = Vec::new();
        for i in 0..300.min(cap) {
            let connect = tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)).await;
            let stream = connect.unwrap_or_else(|_| panic!("connect {i} waited: the accept queue is too short"));
            clients.push(stream.unwrap());
        }
        for _ in 0..clients.len() {
            tokio::time::timeout(Duration::from_secs(5), listener.accept()).await.unwrap().unwrap();
        }
    }
}
