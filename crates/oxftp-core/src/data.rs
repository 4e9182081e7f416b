//! Data channels: passive listeners (PASV/EPSV) and active targets (PORT/EPRT).
//!
//! Security rules (vsftpd's stance): a passive connection must come from the
//! control connection's peer IP, or the transfer fails with 425; an active
//! target must be the control peer's IP on a port >= 1024 (no FTP bounce).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::Rng;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::metrics::{Metrics, PassivePortGauge, TlsChannel};

/// A data channel the client asked for and the next transfer will use.
#[derive(Debug)]
pub(crate) enum DataSetup {
    /// We listen; the client connects. Dropping the listener frees the port
    /// (and its place in the passive-ports gauge, metrics on).
    Passive(TcpListener, Option<PassivePortGauge>),
    /// We connect to the client.
    Active(SocketAddr),
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
pub(crate) struct DataTls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub require_reuse: bool,
    pub timeout: Duration,
    /// Counts the handshake (metrics on).
    pub metrics: Option<Metrics>,
}

/// Run the TLS handshake on a data connection and enforce session reuse.
pub(crate) async fn protect(stream: TcpStream, tls: &DataTls) -> Result<crate::stream::DataStream, DataError> {
    let handshake = tokio::time::timeout(tls.timeout, tls.acceptor.accept(stream)).await;
    if let Some(metrics) = &tls.metrics {
        metrics.tls_handshake(TlsChannel::Data, matches!(handshake, Ok(Ok(_))));
    }
    let tls_stream = handshake.map_err(|_| DataError::Timeout)?.map_err(|e| DataError::TlsHandshake(e.to_string()))?;
    if tls.require_reuse && tls_stream.get_ref().1.handshake_kind() != Some(rustls::HandshakeKind::Resumed) {
        return Err(DataError::TlsNotResumed);
    }
    Ok(crate::stream::DataStream::Tls(Box::new(tls_stream)))
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

/// Open the data connection a transfer needs.
pub(crate) async fn connect(
    setup: DataSetup,
    control_peer: IpAddr,
    control_local: IpAddr,
    source_port_20: bool,
    timeout: Duration,
) -> Result<TcpStream, DataError> {
    let stream = match setup {
        DataSetup::Passive(listener, _gauge) => {
            let (stream, from) =
                tokio::time::timeout(timeout, listener.accept()).await.map_err(|_| DataError::Timeout)??;
            if !same_host(from.ip(), control_peer) {
                return Err(DataError::ForeignPeer);
            }
            stream
        }
        DataSetup::Active(target) => {
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
            tokio::time::timeout(timeout, attempt).await.map_err(|_| DataError::Timeout)??
        }
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}
