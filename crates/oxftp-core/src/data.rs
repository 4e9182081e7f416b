//! Data channels: passive listeners (PASV/EPSV) and active targets (PORT/EPRT).
//!
//! Security rules (vsftpd's stance): a passive connection must come from the
//! control connection's client (checked where the port hands connections
//! out, see [`crate::passive`]); an active target must be the control
//! client's IP on a port >= 1024 (no FTP bounce, checked by PORT/EPRT).
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

use tokio::net::{TcpSocket, TcpStream};

use crate::metrics::{Metrics, PassivePortGauge, TlsChannel};
use crate::passive::{PassiveWait, WaitError};
use crate::stream::DataStream;
use crate::tls::SessionAcceptors;

/// A data channel the client asked for and the next transfer will use.
#[derive(Debug)]
pub(crate) enum DataSetup {
    /// We wait on a passive port; the client connects. Dropping it gives up
    /// the session's place on the port.
    Passive(PassiveData),
    /// We connect to the client.
    Active(SocketAddr),
}

/// A passive data connection being accepted: the task takes the connection
/// the port hands this session (one from the control connection's client),
/// and runs the TLS handshake when the data connection is to be protected.
/// Dropping it stops the task and gives up the place on the port.
pub(crate) struct PassiveData {
    task: tokio::task::JoinHandle<Result<DataStream, DataError>>,
}

impl PassiveData {
    /// Start taking the connection `wait` is for, run through `tls` when
    /// given. `gauge` counts the waiting place (metrics on) until it is taken.
    pub(crate) fn start(wait: PassiveWait, gauge: Option<PassivePortGauge>, tls: Option<DataTls>) -> PassiveData {
        let task = tokio::spawn(async move {
            let delivered = wait.connection().await;
            drop(gauge);
            let stream = match delivered {
                Some(Ok(stream)) => stream,
                Some(Err(WaitError::Foreign)) => return Err(DataError::ForeignPeer),
                None => return Err(DataError::Io(io::Error::other("the passive port closed"))),
            };
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
