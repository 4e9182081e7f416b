//! Data channels: passive listeners (PASV/EPSV) and active targets (PORT/EPRT).
//!
//! Security rules (vsftpd's stance): a passive connection must come from the
//! control connection's client (checked where the port hands connections
//! out, see [`crate::passive`]); an active target must be the control
//! client's IP on a port >= 1024 (no FTP bounce, checked by PORT/EPRT).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

use crate::passive::{PassiveWait, WaitError};

/// A data channel the client asked for and the next transfer will use.
#[derive(Debug)]
pub(crate) enum DataSetup {
    /// We wait on a passive port; the client connects. Dropping the wait
    /// gives up the session's place on the port.
    Passive(PassiveWait),
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
}

/// Run the TLS handshake on a data connection and enforce session reuse.
pub(crate) async fn protect(stream: TcpStream, tls: &DataTls) -> Result<crate::stream::DataStream, DataError> {
    let handshake = tokio::time::timeout(tls.timeout, tls.acceptor.accept(stream));
    let tls_stream =
        handshake.await.map_err(|_| DataError::Timeout)?.map_err(|e| DataError::TlsHandshake(e.to_string()))?;
    if tls.require_reuse && tls_stream.get_ref().1.handshake_kind() != Some(rustls::HandshakeKind::Resumed) {
        return Err(DataError::TlsNotResumed);
    }
    Ok(crate::stream::DataStream::Tls(Box::new(tls_stream)))
}

/// Compare IPs as the same host even when one is IPv4-mapped IPv6.
pub(crate) fn same_host(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// Open the data connection a transfer needs.
pub(crate) async fn connect(
    setup: DataSetup,
    control_local: IpAddr,
    source_port_20: bool,
    timeout: Duration,
) -> Result<TcpStream, DataError> {
    let stream = match setup {
        DataSetup::Passive(wait) => {
            // The port hands out only connections from the control connection's client.
            match tokio::time::timeout(timeout, wait.connection()).await.map_err(|_| DataError::Timeout)? {
                Some(Ok(stream)) => stream,
                Some(Err(WaitError::Foreign)) => return Err(DataError::ForeignPeer),
                None => return Err(DataError::Io(io::Error::other("the passive port closed"))),
            }
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
