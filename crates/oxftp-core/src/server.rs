//! The server: options, listeners, the session limit and graceful shutdown.
//!
//! Reads top to bottom: `run` accepts on every listener until the shutdown
//! future resolves, hands each connection to a [`Session`], then waits for the
//! sessions still running (their transfers may finish) up to
//! `Options::shutdown_timeout`.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use slog::{Logger, o};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::auth::Authenticator;
use crate::limits::{Bans, Counter};
use crate::session::Session;
use crate::storage::StorageFactory;

/// Everything about the engine's behaviour that a daemon or embedder sets.
#[derive(Debug, Clone)]
pub struct Options {
    /// Text of the 220 greeting.
    pub greeting: String,
    /// Passive data ports (inclusive); `None` lets the OS pick ephemeral ports.
    pub passive_ports: Option<(u16, u16)>,
    /// Address advertised in 227 replies (a NAT's public address); default: the
    /// address the client reached us on.
    pub passive_address: Option<IpAddr>,
    /// Allow PORT/EPRT (active mode).
    pub active_enabled: bool,
    /// Connect active data channels from port 20 (needs privilege; falls back
    /// to an ephemeral port when binding fails).
    pub active_source_port_20: bool,
    /// A logged-in session with no command for this long gets 421 and is closed.
    pub idle_timeout: Duration,
    /// A connection must log in within this time.
    pub login_timeout: Duration,
    /// Waiting for a data connection (passive accept, active connect), and for
    /// any progress on one.
    pub data_timeout: Duration,
    /// Concurrent sessions; more get 421 at the greeting. 0 = unlimited.
    pub max_sessions: usize,
    /// Longest control line accepted (longer ones get 500).
    pub max_line: usize,
    /// Delay before a failed login's 530 (slows password guessing; the same for
    /// every failure reason).
    pub failed_login_delay: Duration,
    /// Failed logins after which the connection is closed.
    pub max_login_failures: u32,
    /// On shutdown, how long running sessions may go on before they are dropped.
    pub shutdown_timeout: Duration,
    /// FTPS (AUTH TLS, PROT P, implicit listeners); `None` = plain FTP only.
    pub tls: Option<crate::tls::Tls>,
    /// Concurrent sessions from one client address (421 at the greeting). 0 = unlimited.
    pub max_sessions_per_ip: usize,
    /// Which client addresses may connect at all (421 at the greeting otherwise).
    pub ip_rules: crate::account::IpRules,
    /// Ban addresses (and optionally accounts) after repeated failed logins; `None` = off.
    pub ban: Option<crate::limits::BanPolicy>,
    /// Server-wide download rate, bytes per second, shared by every session.
    pub download_rate: Option<u64>,
    /// Server-wide upload rate, bytes per second, shared by every session.
    pub upload_rate: Option<u64>,
    /// Told about every finished transfer (e.g. to announce completed uploads).
    pub transfer_listeners: Vec<std::sync::Arc<dyn crate::events::TransferListener>>,
    /// Let SITE CHMOD set the setuid, setgid and sticky bits. Off: they are
    /// left out, since files belong to the user the server runs as (root,
    /// often) and a client could otherwise make a setuid program of its own.
    pub chmod_special_bits: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            greeting: "oxftp ready".to_string(),
            passive_ports: None,
            passive_address: None,
            active_enabled: true,
            active_source_port_20: false,
            idle_timeout: Duration::from_secs(300),
            login_timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(30),
            max_sessions: 1000,
            max_line: oxftp_proto::line::DEFAULT_MAX_LINE,
            failed_login_delay: Duration::from_secs(1),
            max_login_failures: 3,
            shutdown_timeout: Duration::from_secs(30),
            tls: None,
            max_sessions_per_ip: 0,
            ip_rules: crate::account::IpRules::default(),
            ban: None,
            download_rate: None,
            upload_rate: None,
            transfer_listeners: Vec::new(),
            chmod_special_bits: false,
        }
    }
}

/// What every session of one server shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub options: Options,
    pub storage: Arc<dyn StorageFactory>,
    pub auth: Arc<dyn Authenticator>,
    pub logger: Logger,
    pub sessions: AtomicUsize,
    /// Live sessions per client address.
    pub per_ip: Counter<IpAddr>,
    /// Live logged-in sessions per account.
    pub per_user: Counter<String>,
    pub bans: Bans,
    /// Quota usage per account, measured at an account's first login.
    pub quotas: crate::policy::QuotaRegistry,
    /// Bandwidth limiters: server-wide and per account.
    pub rates: crate::limits::Rates,
    /// Flips to true when the server shuts down; sessions close once idle.
    pub shutdown: watch::Receiver<bool>,
}

/// An FTP server: storage and authentication plus options. Cheap to clone.
#[derive(Clone)]
pub struct Server {
    storage: Arc<dyn StorageFactory>,
    auth: Arc<dyn Authenticator>,
    options: Options,
    logger: Logger,
}

impl Server {
    /// A server over a storage factory and an authenticator, with default options.
    pub fn new(storage: Arc<dyn StorageFactory>, auth: Arc<dyn Authenticator>) -> Server {
        Server { storage, auth, options: Options::default(), logger: Logger::root(slog::Discard, o!()) }
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
        let listeners = listeners.into_iter().map(|tcp| Listener { tcp, implicit_tls: false }).collect();
        self.run_listeners(listeners, shutdown).await
    }

    /// Like `run`, for listeners that may be implicit FTPS (TLS from the first byte,
    /// conventionally port 990). Implicit listeners need `Options::tls`.
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
        let shared = Arc::new(Shared {
            options: self.options.clone(),
            storage: self.storage.clone(),
            auth: self.auth.clone(),
            logger: self.logger.clone(),
            sessions: AtomicUsize::new(0),
            per_ip: Counter::default(),
            per_user: Counter::default(),
            bans: Bans::new(self.options.ban.clone()),
            quotas: crate::policy::QuotaRegistry::new(),
            rates: crate::limits::Rates::new(self.options.download_rate, self.options.upload_rate),
            shutdown: stop_rx,
        });
        let mut sessions = JoinSet::new();
        let (conn_tx, mut conn_rx) = tokio::sync::mpsc::channel::<(TcpStream, bool)>(64);
        let mut acceptors = JoinSet::new();
        for listener in listeners {
            let tx = conn_tx.clone();
            let logger = self.logger.clone();
            acceptors.spawn(accept_loop(listener, tx, logger));
        }
        drop(conn_tx);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                conn = conn_rx.recv() => match conn {
                    Some((stream, implicit)) => { sessions.spawn(start_session(shared.clone(), stream, implicit)); }
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

/// Accept-queue length asked for on control listeners; the kernel caps it at
/// `net.core.somaxconn` (4096 on current kernels). A burst of clients waits
/// here until the accept loop takes them. std and tokio ask for 128 (vsftpd
/// for 32): when that queue is full the kernel drops the client's last
/// handshake packet, and the client, which believes it is connected, waits
/// for a greeting that comes only after retransmissions, or never.
pub const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr` for control (or web) connections, with a
/// [`LISTEN_BACKLOG`]-deep accept queue (see [`listen_reusable`]). Needs to
/// run inside the tokio runtime.
pub fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    listen_reusable(addr, LISTEN_BACKLOG)
}

/// Listen on `addr` with SO_REUSEADDR, so the port can be bound while earlier
/// connections on it sit in TIME_WAIT (a restarted server; a passive port
/// after a download, where we closed first). Linux still refuses a second
/// listener on a port that has one.
pub(crate) fn listen_reusable(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// A listening socket and how connections on it start.
#[derive(Debug)]
pub struct Listener {
    pub tcp: TcpListener,
    /// Implicit FTPS: the TLS handshake comes before the greeting.
    pub implicit_tls: bool,
}

async fn accept_loop(listener: Listener, tx: tokio::sync::mpsc::Sender<(TcpStream, bool)>, logger: Logger) {
    loop {
        match listener.tcp.accept().await {
            Ok((stream, _)) => {
                if tx.send((stream, listener.implicit_tls)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                slog::warn!(logger, "accept failed"; "error" => %e);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Decrements the live-session count however a session ends.
struct SessionSlot(Arc<Shared>);

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn start_session(shared: Arc<Shared>, mut stream: TcpStream, implicit_tls: bool) {
    let live = shared.sessions.fetch_add(1, Ordering::AcqRel) + 1;
    let _slot = SessionSlot(shared.clone());
    let _ = stream.set_nodelay(true);
    let options = &shared.options;
    let ip = match stream.peer_addr() {
        Ok(addr) => addr.ip().to_canonical(),
        Err(_) => return,
    };
    let refusal = if options.max_sessions != 0 && live > options.max_sessions {
        Some("421 Too many connections, try again later.\r\n")
    } else if !options.ip_rules.permits(ip) {
        slog::info!(shared.logger, "connection refused by IP rules"; "ip" => %ip);
        Some("421 Connections from your address are not allowed.\r\n")
    } else if shared.bans.ip_banned(ip) {
        slog::info!(shared.logger, "connection from a banned address"; "ip" => %ip);
        Some("421 Too many failed logins from your address; try again later.\r\n")
    } else {
        None
    };
    let ip_slot = match refusal {
        Some(_) => None,
        None => shared.per_ip.acquire(&ip, options.max_sessions_per_ip),
    };
    let Some(ip_slot) = ip_slot else {
        if !implicit_tls {
            // (plaintext would only confuse an implicit-TLS client: it just sees the close)
            let text = refusal.unwrap_or("421 Too many connections from your address.\r\n");
            let _ = stream.write_all(text.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        return;
    };
    match Session::new(shared.clone(), stream, implicit_tls) {
        Ok(mut session) => {
            session.ip_slot = Some(ip_slot);
            session.run().await
        }
        Err(e) => slog::debug!(shared.logger, "connection dropped before greeting"; "error" => %e),
    }
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
