//! Passive data connections for real networks: which address PASV announces,
//! and passive ports that clients at different addresses share.
//!
//! # The announced address
//!
//! [`PassiveAddress`] says what goes into a 227 reply (EPSV names no address,
//! RFC 2428, so it needs none of this): by default the address the client
//! reached, which behind a PROXY-protocol balancer is the balancer's own
//! (the header's destination); or a fixed address (a NAT's public one); or a
//! DNS name, resolved in the background every interval and never per
//! connection (a Kubernetes Service, a dynamic address); or this node's own
//! socket address, for clients that reach each node directly.
//!
//! # Shared ports
//!
//! With a port range, a port is one listener that any number of sessions can
//! wait on, at most one per client address: an incoming data connection goes
//! to the session waiting for its source address (the PROXY header's client
//! when data connections come through a proxy), which is the same check as
//! "the data connection must come from the control connection's client".
//! Two clients at different addresses can therefore share a port, as
//! ftpserverlib and libunftp do for Kubernetes, where every exposed port
//! costs configuration.
//!
//! Capacity: a port is held only while a session waits for its data
//! connection (between PASV/EPSV and the client's connect); a transfer in
//! progress holds its own accepted socket, not the port. So a range of N
//! ports carries any number of transfers in progress, and N sessions *per
//! client address* waiting for a data connection at the same moment; clients
//! at different addresses do not compete. Behind a NAT that shows every
//! client as one address, N is the limit on waiting sessions in all.
//!
//! A connection from an address nobody waits for on that port is closed and
//! logged. On a private port (no range: the OS picks a fresh port per
//! PASV) the one waiting session fails with 425 instead, so a client learns
//! that someone else connected to its port.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use rand::Rng;
use slog::Logger;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::endpoints::{self, ProxyProtocol};

/// The address a 227 reply announces.
#[derive(Debug, Clone, Default)]
pub enum PassiveAddress {
    /// The address the client reached: a PROXY header's destination (the
    /// balancer), otherwise the control connection's local address.
    #[default]
    Reached,
    /// This node's own local address on the control connection, even behind
    /// a proxy (clients reach each node directly for data).
    NodeLocal,
    /// A fixed address (a NAT's public address).
    Fixed(IpAddr),
    /// A DNS name, re-resolved every interval in the background.
    Name(Arc<ResolvedName>),
}

impl From<IpAddr> for PassiveAddress {
    fn from(ip: IpAddr) -> Self {
        PassiveAddress::Fixed(ip)
    }
}

impl PassiveAddress {
    /// The address to announce on a connection with these endpoints; `None`
    /// when a name has never resolved.
    pub(crate) fn announce(&self, reached: IpAddr, node_local: IpAddr) -> Option<IpAddr> {
        match self {
            PassiveAddress::Reached => Some(reached),
            PassiveAddress::NodeLocal => Some(node_local),
            PassiveAddress::Fixed(ip) => Some(*ip),
            PassiveAddress::Name(name) => name.current(),
        }
        .map(|ip| ip.to_canonical())
    }

    /// The name to keep resolved, if this is one.
    pub(crate) fn name(&self) -> Option<&Arc<ResolvedName>> {
        match self {
            PassiveAddress::Name(name) => Some(name),
            _ => None,
        }
    }
}

/// A DNS name and its latest IPv4 address (PASV can only say IPv4; an
/// IPv6-only name is used as found, and PASV then answers 425).
#[derive(Debug)]
pub struct ResolvedName {
    name: String,
    interval: Duration,
    current: RwLock<Option<IpAddr>>,
}

impl ResolvedName {
    /// `name` (a host name, or an address written as text), to resolve
    /// every `interval` once a server runs with it. Call
    /// [`resolve`](ResolvedName::resolve) first to know it resolves at all.
    pub fn new(name: impl Into<String>, interval: Duration) -> Arc<ResolvedName> {
        Arc::new(ResolvedName { name: name.into(), interval, current: RwLock::new(None) })
    }

    /// The name as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address last resolved.
    pub fn current(&self) -> Option<IpAddr> {
        *self.current.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolve now (off the async threads) and keep the result; on failure
    /// the last good address stays.
    pub async fn resolve(&self) -> io::Result<IpAddr> {
        let host = self.name.clone();
        let found = tokio::task::spawn_blocking(move || (host.as_str(), 0).to_socket_addrs().map(Vec::from_iter))
            .await
            .map_err(io::Error::other)??;
        let ip = found
            .iter()
            .map(SocketAddr::ip)
            .find(IpAddr::is_ipv4)
            .or_else(|| found.first().map(SocketAddr::ip))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{} has no address", self.name)))?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(ip);
        Ok(ip)
    }

    /// Re-resolve every interval until the task is aborted.
    pub(crate) async fn keep_resolved(self: Arc<Self>, logger: Logger) {
        loop {
            let before = self.current();
            match self.resolve().await {
                Ok(ip) if Some(ip) != before => {
                    slog::info!(logger, "passive address resolved"; "name" => &self.name, "address" => %ip)
                }
                Ok(_) => {}
                Err(e) => slog::warn!(logger, "passive address did not resolve; keeping the last one";
                    "name" => &self.name, "error" => %e, "address" => ?before),
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}

/// What a waiting session receives: its data connection, or why there is none.
type Delivery = Result<TcpStream, WaitError>;

/// Why a passive wait ended without a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitError {
    /// Someone else connected to this session's private port.
    Foreign,
}

/// The passive ports of one server.
#[derive(Debug)]
pub(crate) struct PassivePorts {
    range: Option<(u16, u16)>,
    /// `Some`: data connections start with a PROXY header.
    proxy: Option<ProxyProtocol>,
    open: Arc<Mutex<HashMap<SocketAddr, Port>>>,
    logger: Logger,
}

/// One listening port and who waits on it.
#[derive(Debug)]
struct Port {
    /// Client address → the session waiting for it (and its registration's number).
    waiting: HashMap<IpAddr, (u64, oneshot::Sender<Delivery>)>,
    /// A port from the range (shared), or one the OS chose for one session.
    shared: bool,
    accept: AbortHandle,
}

/// A session's place on a port, until its data connection arrives.
#[derive(Debug)]
pub(crate) struct PassiveWait {
    pub port: u16,
    rx: oneshot::Receiver<Delivery>,
    _registration: Registration,
}

impl PassiveWait {
    /// The data connection, once it comes; `None` when the port closed.
    pub(crate) async fn connection(self) -> Option<Delivery> {
        self.rx.await.ok()
    }
}

/// Removes a waiting session from its port when dropped (after its
/// connection came, or when the session gave up); the last one to leave
/// closes the listener.
#[derive(Debug)]
struct Registration {
    open: Arc<Mutex<HashMap<SocketAddr, Port>>>,
    addr: SocketAddr,
    client: IpAddr,
    /// Tells this registration from a later one of the same client on the same port.
    number: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = lock(&self.open);
        if let Some(port) = open.get_mut(&self.addr) {
            if port.waiting.get(&self.client).is_some_and(|(number, _)| *number == self.number) {
                port.waiting.remove(&self.client);
            }
            if port.waiting.is_empty() {
                port.accept.abort();
                open.remove(&self.addr);
            }
        }
    }
}

/// A number no other registration has.
fn next_number() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each update is one insert or remove: a poisoned map is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PassivePorts {
    pub(crate) fn new(range: Option<(u16, u16)>, proxy: Option<ProxyProtocol>, logger: Logger) -> PassivePorts {
        PassivePorts { range, proxy, open: Arc::default(), logger }
    }

    /// Wait on a port of `bind_ip` for a data connection from `client`.
    pub(crate) fn wait_for(&self, bind_ip: IpAddr, client: IpAddr) -> io::Result<PassiveWait> {
        let client = client.to_canonical();
        let Some((lo, hi)) = self.range else {
            return self.bind_new(SocketAddr::new(bind_ip, 0), client, false);
        };
        let span = u32::from(hi - lo) + 1;
        // Start at a random place so sessions spread over the range.
        let first = rand::rng().random_range(0..span);
        let ports = (0..span).map(|i| lo + ((first + i) % span) as u16);
        // A port already open where this client does not wait costs no bind.
        {
            let mut open = lock(&self.open);
            for port in ports.clone() {
                let addr = SocketAddr::new(bind_ip, port);
                if let Some(entry) = open.get_mut(&addr)
                    && entry.shared
                    && !entry.waiting.contains_key(&client)
                {
                    let (tx, rx) = oneshot::channel();
                    let number = next_number();
                    entry.waiting.insert(client, (number, tx));
                    let open = Arc::clone(&self.open);
                    return Ok(PassiveWait { port, rx, _registration: Registration { open, addr, client, number } });
                }
            }
        }
        for port in ports {
            let addr = SocketAddr::new(bind_ip, port);
            if lock(&self.open).contains_key(&addr) {
                continue;
            }
            match self.bind_new(addr, client, true) {
                Ok(wait) => return Ok(wait),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(io::ErrorKind::AddrInUse, "all passive ports are in use"))
    }

    /// Listen on `addr` and wait there for `client`.
    fn bind_new(&self, addr: SocketAddr, client: IpAddr, shared: bool) -> io::Result<PassiveWait> {
        // Reusable: after a download we close first, so the port sits in
        // TIME_WAIT for a minute, and without SO_REUSEADDR a busy server runs
        // out of passive ports. A short backlog: connections are handed on at once.
        let listener = crate::net::listen_reusable(addr, 64)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel();
        let mut open = lock(&self.open);
        let accept = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&self.open),
            self.proxy.clone(),
            self.logger.new(slog::o!("passive_port" => addr.port())),
        ))
        .abort_handle();
        let number = next_number();
        let waiting = HashMap::from([(client, (number, tx))]);
        if let Some(old) = open.insert(addr, Port { waiting, shared, accept }) {
            // Cannot happen (the address was bound just now); never leak a task.
            old.accept.abort();
        }
        let open = Arc::clone(&self.open);
        Ok(PassiveWait { port: addr.port(), rx, _registration: Registration { open, addr, client, number } })
    }
}

/// Accept on one passive port and hand each connection to the session
/// waiting for its client address, until aborted.
async fn accept_loop(
    listener: TcpListener,
    open: Arc<Mutex<HashMap<SocketAddr, Port>>>,
    proxy: Option<ProxyProtocol>,
    logger: Logger,
) {
    let Ok(addr) = listener.local_addr() else { return };
    loop {
        let Ok((mut stream, from)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let (open, proxy, logger) = (Arc::clone(&open), proxy.clone(), logger.clone());
        // The header is read in a task of its own: a slow one must not hold up the port.
        tokio::spawn(async move {
            let client = match &proxy {
                None => from.ip(),
                Some(proxy) => match endpoints::of_accepted(&mut stream, from, true, proxy).await {
                    Ok(ends) => ends.client.ip(),
                    Err(e) => {
                        slog::warn!(logger, "passive connection refused"; "from" => %from, "reason" => %e);
                        return;
                    }
                },
            };
            deliver(&open, addr, client.to_canonical(), stream, &logger);
        });
    }
}

/// Give `stream` to whoever waits on `addr` for `client`.
fn deliver(open: &Mutex<HashMap<SocketAddr, Port>>, addr: SocketAddr, client: IpAddr, stream: TcpStream, log: &Logger) {
    let mut open = lock(open);
    let Some(port) = open.get_mut(&addr) else { return };
    if let Some((_, tx)) = port.waiting.remove(&client) {
        let _ = tx.send(Ok(stream));
        return;
    }
    slog::warn!(log, "passive connection from an address no session waits for"; "client" => %client);
    if !port.shared {
        // A private port: its one session learns someone else came.
        for (_, (_, tx)) in port.waiting.drain() {
            let _ = tx.send(Err(WaitError::Foreign));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn discard() -> Logger {
        Logger::root(slog::Discard, slog::o!())
    }

    async fn connect_from(source: &str, port: u16) -> TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        socket.connect(SocketAddr::new("127.0.0.1".parse().unwrap(), port)).await.unwrap()
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn two_client_addresses_share_one_port() {
        let port = free_port();
        let ports = PassivePorts::new(Some((port, port)), None, discard());
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let a = ports.wait_for(local, "127.0.0.1".parse().unwrap()).unwrap();
        let b = ports.wait_for(local, "127.0.0.2".parse().unwrap()).unwrap();
        assert_eq!((a.port, b.port), (port, port));
        // A third wait from an address already waiting finds no port.
        assert!(ports.wait_for(local, "127.0.0.2".parse().unwrap()).is_err());
        let mut from_b = connect_from("127.0.0.2", port).await;
        let mut from_a = connect_from("127.0.0.1", port).await;
        from_b.write_all(b"b").await.unwrap();
        from_a.write_all(b"a").await.unwrap();
        let timeout = Duration::from_secs(5);
        let mut got_b = tokio::time::timeout(timeout, b.connection()).await.unwrap().unwrap().unwrap();
        let mut got_a = tokio::time::timeout(timeout, a.connection()).await.unwrap().unwrap().unwrap();
        let mut byte = [0u8; 1];
        got_a.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"a");
        got_b.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"b");
        // Everyone came: the port is closed again.
        assert!(lock(&ports.open).is_empty());
    }

    #[tokio::test]
    async fn a_stranger_on_a_shared_port_is_turned_away_and_the_session_keeps_waiting() {
        let port = free_port();
        let ports = PassivePorts::new(Some((port, port)), None, discard());
        let wait = ports.wait_for("127.0.0.1".parse().unwrap(), "127.0.0.1".parse().unwrap()).unwrap();
        let mut stranger = connect_from("127.0.0.3", port).await;
        let mut buf = [0u8; 1];
        let closed = tokio::time::timeout(Duration::from_secs(5), stranger.read(&mut buf)).await.unwrap();
        assert!(matches!(closed, Ok(0) | Err(_)), "the stranger's connection is closed");
        let _ours = connect_from("127.0.0.1", port).await;
        assert!(tokio::time::timeout(Duration::from_secs(5), wait.connection()).await.unwrap().unwrap().is_ok());
    }

    #[tokio::test]
    async fn a_stranger_on_a_private_port_fails_its_session() {
        let ports = PassivePorts::new(None, None, discard());
        let wait = ports.wait_for("127.0.0.1".parse().unwrap(), "127.0.0.1".parse().unwrap()).unwrap();
        let _stranger = connect_from("127.0.0.2", wait.port).await;
        let got = tokio::time::timeout(Duration::from_secs(5), wait.connection()).await.unwrap().unwrap();
        assert_eq!(got.unwrap_err(), WaitError::Foreign);
    }

    #[tokio::test]
    async fn a_session_that_gives_up_frees_the_port() {
        let port = free_port();
        let ports = PassivePorts::new(Some((port, port)), None, discard());
        let wait = ports.wait_for("127.0.0.1".parse().unwrap(), "127.0.0.1".parse().unwrap()).unwrap();
        drop(wait);
        assert!(lock(&ports.open).is_empty());
        // The listener is gone (its task aborted): the port binds again.
        let mut bound = false;
        for _ in 0..50 {
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                bound = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(bound);
    }

    #[tokio::test]
    async fn names_resolve_and_keep_the_last_good_address() {
        let name = ResolvedName::new("localhost", Duration::from_secs(60));
        assert_eq!(name.current(), None);
        let ip = name.resolve().await.unwrap();
        assert!(ip.is_loopback());
        let address = PassiveAddress::Name(Arc::clone(&name));
        let (reached, local) = ("203.0.113.1".parse().unwrap(), "10.0.0.5".parse().unwrap());
        assert_eq!(address.announce(reached, local), Some(ip));
        assert_eq!(PassiveAddress::Reached.announce(reached, local), Some(reached));
        assert_eq!(PassiveAddress::NodeLocal.announce(reached, local), Some(local));
        let broken = ResolvedName::new("no-such-host.invalid", Duration::from_secs(60));
        assert!(broken.resolve().await.is_err());
        assert_eq!(PassiveAddress::Name(broken).announce(reached, local), None);
    }
}
