//! Data channels: passive listeners (PASV/EPSV) and active targets (PORT/EPRT).
//!
//! Security rules (vsftpd's stance): a passive connection must come from the
//! control connection's peer IP, or the transfer fails with 425; an active
//! target must be the control peer's IP on a port >= 1024 (no FTP bounce).
//!
//! A passive data connection is accepted (and its TLS handshake run) as soon
//! as it arrives, by a task that PASV/EPSV start: some clients (Python's
//! aioftp) start TLS on the data connection before they send the command
//! that uses it, and would wait for us while we waited for the command. A
//! TLS server waits for the ClientHello anyway, so clients that send the
//! command first see no difference.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::Rng;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::metrics::{Metrics, PassivePortGauge, TlsChannel};
use crate::stream::DataStream;
use crate::tls::SessionAcceptors;

/// A data channel the client asked for and the next transfer will use.
#[derive(Debug)]
pub(crate) enum DataSetup {
    /// We listen; the client connects. Dropping it frees the port.
    Passive(PassiveData),
    /// We connect to the client.
    Active(SocketAddr),
}

/// A passive data connection being accepted: the task takes the first
/// connection on the listener, checks where it comes from, and runs the TLS
/// handshake when the data connection is to be protected. Dropping it stops
/// the task and frees the port.
pub(crate) struct PassiveData {
    task: tokio::task::JoinHandle<Result<DataStream, DataError>>,
}

impl PassiveData {
    /// Start accepting on `listener` a connection from `control_peer`, run
    /// through `tls` when given.
    /// `gauge` counts the open port (metrics on) until the listener closes.
    pub(crate) fn start(
        listener: TcpListener,
        gauge: Option<PassivePortGauge>,
        control_peer: IpAddr,
        tls: Option<DataTls>,
    ) -> PassiveData {
        let task = tokio::spawn(async move {
            let (stream, from) = listener.accept().await?;
            drop((listener, gauge));
            if !same_host(from.ip(), control_peer) {
                return Err(DataError::ForeignPeer);
            }
            stream.set_nodelay(true)?;
            match tls {
                Some(tls) => Ok(DataStream::Tls(Box::new(handshake(stream, &tls).await?))),
                None => Ok(DataStream::Plain(stream)),
            }
        });
        PassiveData { task }
    }

    /// The accepted connection, waiting at most `timeout` for it.
    async fn stream(mut self, timeout: Duration) -> Result<DataStream, DataError> {
        match tokio::time::timeout(timeout, &mut self.task).await {
            Err(_) => Err(DataError::Timeout),
            Ok(Err(e)) => Err(DataError::Io(io::Error::other(e))),
            Ok(Ok(result)) => result,
        }
    }
}

impl std::fmt::Debug for PassiveData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassiveData").field("finished", &self.task.is_finished()).finish()
    }
}

impl Drop for PassiveData {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why a data connection could not be made; every variant is a 425.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DataError {
    #[error("Data connection timed out")]
    Timeout,
    #[error("Refused a data connection from a foreign address")]
    ForeignPeer,
    #[error("Cannot open data connection: {0}")]
    Io(#[from] io::Error),
    #[error("TLS handshake on the data connection failed: {0}")]
    TlsHandshake(String),
    #[error(
        "TLS session of the data connection was not resumed from the control connection: session reuse is required"
    )]
    TlsNotResumed,
    #[error("Data connection protection changed after PASV/EPSV; send PASV or EPSV again")]
    ProtectionChanged,
}

impl DataError {
    /// The reply code: 522 for a refused TLS data connection (RFC 4217), else 425.
    pub(crate) fn code(&self) -> u16 {
        match self {
            DataError::TlsNotResumed => 522,
            _ => 425,
        }
    }
}

/// TLS for a data connection (PROT P).
#[derive(Clone)]
pub(crate) struct DataTls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// The control connection's acceptors: what its data connections may resume.
    pub session: SessionAcceptors,
    pub require_reuse: bool,
    pub timeout: Duration,
    /// Counts the handshake (metrics on).
    pub metrics: Option<Metrics>,
}

/// Run the TLS handshake on a data connection and settle what it resumed
/// (see [`SessionAcceptors::confirm`]).
async fn handshake(stream: TcpStream, tls: &DataTls) -> Result<crate::stream::Tls, DataError> {
    tls.session.before_data_handshake();
    let handshake = tokio::time::timeout(tls.timeout, tls.acceptor.accept(stream)).await;
    if let Some(metrics) = &tls.metrics {
        metrics.tls_handshake(TlsChannel::Data, matches!(handshake, Ok(Ok(_))));
    }
    let tls_stream = handshake.map_err(|_| DataError::Timeout)?.map_err(|e| DataError::TlsHandshake(e.to_string()))?;
    if !tls.session.confirm(tls.timeout.min(Duration::from_secs(5))).await {
        return Err(DataError::TlsNotResumed);
    }
    Ok(tls_stream)
}

/// Check that a data connection is protected as the transfer needs (`tls`
/// or not), with a resumed session when reuse is required.
pub(crate) fn check_protection(stream: DataStream, tls: Option<&DataTls>) -> Result<DataStream, DataError> {
    match (&stream, tls) {
        (DataStream::Plain(_), None) => Ok(stream),
        (DataStream::Tls(tls_stream), Some(tls)) => {
            let resumed = tls_stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            if tls.require_reuse && !resumed { Err(DataError::TlsNotResumed) } else { Ok(stream) }
        }
        _ => Err(DataError::ProtectionChanged),
    }
}

/// Open the data connection a transfer needs, protected as it needs.
pub(crate) async fn open(
    setup: DataSetup,
    active: ActiveConnect,
    timeout: Duration,
    tls: Option<&DataTls>,
) -> Result<DataStream, DataError> {
    let stream = match setup {
        DataSetup::Passive(passive) => passive.stream(timeout).await?,
        DataSetup::Active(target) => {
            let tcp = connect_active(target, active, timeout).await?;
            match tls {
                Some(tls) => DataStream::Tls(Box::new(handshake(tcp, tls).await?)),
                None => DataStream::Plain(tcp),
            }
        }
    };
    check_protection(stream, tls)
}

/// Where an active data connection comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActiveConnect {
    pub control_local: IpAddr,
    pub source_port_20: bool,
}

/// Compare IPs as the same host even when one is IPv4-mapped IPv6.
pub(crate) fn same_host(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// Listen for a passive data connection on `local_ip`, in `ports` if given.
pub(crate) async fn bind_passive(local_ip: IpAddr, ports: Option<(u16, u16)>) -> io::Result<TcpListener> {
    let Some((lo, hi)) = ports else {
        return listen_on(SocketAddr::new(local_ip, 0));
    };
    let span = u32::from(hi - lo) + 1;
    // Start at a random place so concurrent sessions don't all fight over `lo`.
    let first = rand::rng().random_range(0..span);
    for i in 0..span {
        let port = lo + ((first + i) % span) as u16;
        match listen_on(SocketAddr::new(local_ip, port)) {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AddrInUse, "all passive ports are in use"))
}

fn listen_on(addr: SocketAddr) -> io::Result<TcpListener> {
    // Reusable: after a download we close first, so the port sits in
    // TIME_WAIT for a minute, and without SO_REUSEADDR a busy server runs out
    // of passive ports (8,000 ports last about 8,000 transfers a minute).
    // One data connection per listener; a tiny backlog is enough.
    crate::net::listen_reusable(addr, 4)
}

/// Connect to the client's active data port.
async fn connect_active(target: SocketAddr, from: ActiveConnect, timeout: Duration) -> Result<TcpStream, DataError> {
    let ActiveConnect { control_local, source_port_20 } = from;
    let attempt = async {
        let socket = if target.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        if source_port_20 {
            socket.set_reuseaddr(true)?;
            // Port 20 needs privilege; without it, fall back to any port.
            if socket.bind(SocketAddr::new(control_local, 20)).is_err() {
                let socket = if target.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
                return socket.connect(target).await;
            }
        }
        socket.connect(target).await
    };
    let stream = tokio::time::timeout(timeout, attempt).await.map_err(|_| DataError::Timeout)??;
    stream.set_nodelay(true)?;
    Ok(stream)
}
