//! A small pool of logged-in FTP connections belonging to one web session.
//!
//! FTP allows one transfer per control connection, so a session keeps a few
//! (2 by default: enough to copy a file, RETR on one and STOR on the other).
//! A [`Lease`] gives one connection exclusively to a request and hands it back
//! when dropped, unless the request saw it break; closing the pool drops the
//! idle connections and stops leases from returning theirs. Connections left
//! idle too long are closed ([`Pool::release_idle`]) and opened again when
//! next needed, so an idle browser holds no FTP connection.
//!
//! Data connections go to the control connection's peer address, whatever a
//! PASV reply names: a hostile or intercepted upstream could otherwise point
//! the gateway at any host and port it can reach (FTP bounce, SSRF) and have
//! it send a user's upload there. EPSV, which names only a port, is asked
//! for when the server knows it.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use suppaftp::tokio::{AsyncRustlsFtpStream, AsyncRustlsStream, TransferStream};
use suppaftp::types::{FileType, Mode};
use suppaftp::{FtpError, Status};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{Upstream, UpstreamTls};
use crate::error::WebError;
use crate::ftps;

/// An FTP control connection, plain or FTPS (one type for both: without TLS
/// set up, its data connections are plain TCP).
pub(crate) type Ftp = AsyncRustlsFtpStream;

/// A running transfer's data connection.
pub(crate) type Transfer = TransferStream<AsyncRustlsStream>;

/// Where and as whom a pool's connections log in.
#[derive(Clone)]
pub(crate) struct Login {
    /// The upstream (already allow-listed), with its protection.
    pub upstream: Upstream,
    /// The TLS client setup for an FTPS upstream; `None` for plain FTP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// FTP user name.
    pub user: String,
    /// FTP password; kept server-side only, to open further connections.
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("upstream", &self.upstream).field("user", &self.user).finish()
    }
}

/// The connections of one session.
pub(crate) struct Pool {
    login: Login,
    connect_timeout: Duration,
    permits: Arc<Semaphore>,
    /// Connections not lent out, with when each was handed back.
    idle: Mutex<Vec<(Ftp, Instant)>>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("login", &self.login).finish()
    }
}

/// Run one step of connecting within `timeout`; `what` names the step in the error.
async fn within<T>(
    timeout: Duration,
    what: &str,
    step: impl Future<Output = Result<T, FtpError>>,
) -> Result<T, WebError> {
    match tokio::time::timeout(timeout, step).await {
        Err(_) => Err(WebError::Upstream(format!("{what}: timed out"))),
        Ok(Err(FtpError::SecureError(e))) => Err(WebError::Upstream(format!("TLS with the server failed: {e}"))),
        Ok(Err(FtpError::ConnectionError(e))) => Err(WebError::Upstream(format!("{what}: {e}"))),
        Ok(Err(e)) => Err(WebError::from(e)),
        Ok(Ok(v)) => Ok(v),
    }
}

/// Open one control connection (with TLS as the upstream requires), log in
/// and switch to binary.
pub(crate) async fn connect(login: &Login, timeout: Duration) -> Result<Ftp, WebError> {
    let upstream = &login.upstream;
    let ftp = match (upstream.tls(), &login.tls) {
        (UpstreamTls::None, _) => greeted(upstream, timeout).await?,
        (_, None) => return Err(WebError::Upstream("no TLS setup for an FTPS upstream".into())),
        (UpstreamTls::Explicit, Some(config)) => {
            // AUTH TLS, then PBSZ 0 and PROT P: data connections are protected too.
            let ftp = greeted(upstream, timeout).await?;
            let securing = ftp.into_secure(ftps::connector(config, timeout), upstream.server_name());
            within(timeout, "explicit FTPS (AUTH TLS)", securing).await.map_err(refused("explicit FTPS"))?
        }
        (UpstreamTls::Implicit, Some(config)) => {
            let connector = ftps::connector(config, timeout);
            let connecting = Ftp::connect_secure_implicit(upstream.address(), connector, upstream.server_name());
            let mut ftp = within(timeout, "cannot connect", connecting).await?;
            // suppaftp protects only the control connection here; data connections too (RFC 4217).
            for command in ["PBSZ 0", "PROT P"] {
                let sent = ftp.custom_command(command, &[Status::CommandOk]);
                within(timeout, command, sent).await.map_err(refused(command))?;
            }
            ftp
        }
    };
    let control_peer =
        ftp.get_ref().await.peer_addr().map_err(|e| WebError::Upstream(format!("cannot connect: {e}")))?;
    let _ = ftp.get_ref().await.set_nodelay(true);
    let peer = control_peer.ip();
    let mut ftp = ftp.passive_stream_builder(move |announced| Box::pin(data_connection(peer, announced, timeout)));
    ftp.login(login.user.as_str(), login.password.as_str()).await?;
    ftp.transfer_type(FileType::Binary).await?;
    // `EPSV ALL` (RFC 2428): every transfer then uses EPSV, whose reply has
    // no address to lie about. A server that does not know it refuses it,
    // and PASV is used (its address replaced all the same).
    match within(timeout, "EPSV ALL", ftp.custom_command("EPSV ALL", &[Status::CommandOk])).await {
        Ok(_) => ftp.set_mode(Mode::ExtendedPassive),
        Err(WebError::Ftp { .. }) => ftp.set_mode(Mode::Passive),
        Err(e) => return Err(e),
    }
    Ok(ftp)
}

/// A plain TCP control connection to `upstream`, past the server's greeting.
async fn greeted(upstream: &Upstream, timeout: Duration) -> Result<Ftp, WebError> {
    let address = upstream.address();
    let connecting = async { TcpStream::connect(address.as_str()).await.map_err(FtpError::ConnectionError) };
    let tcp = within(timeout, "cannot connect", connecting).await?;
    let _ = tcp.set_nodelay(true);
    within(timeout, "no greeting from the server", Ftp::connect_with_stream(tcp)).await
}

/// A refusal while setting up TLS is the server's, not the login's: say so
/// (a login page would otherwise show it as a wrong password).
fn refused(what: &str) -> impl Fn(WebError) -> WebError + '_ {
    move |e| match e {
        WebError::Ftp { code, text } => WebError::Upstream(format!("the server refused {what}: {code} {text}")),
        other => other,
    }
}

/// Open a passive data connection within `timeout` (suppaftp's own has no
/// limit) to the port the server `announced`, on the control connection's
/// `peer` address: never to the address a PASV reply names.
async fn data_connection(peer: IpAddr, announced: SocketAddr, timeout: Duration) -> Result<TcpStream, FtpError> {
    let addr = SocketAddr::new(peer, announced.port());
    let connecting = tokio::time::timeout(timeout, TcpStream::connect(addr)).await;
    let tcp = connecting
        .map_err(|_| FtpError::ConnectionError(std::io::Error::new(std::io::ErrorKind::TimedOut, "data connection")))?
        .map_err(FtpError::ConnectionError)?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

impl Pool {
    /// A pool of at most `size` connections, seeded with the one the login opened.
    pub(crate) fn new(login: Login, first: Ftp, size: usize, connect_timeout: Duration) -> Arc<Pool> {
        Arc::new(Pool {
            login,
            connect_timeout,
            permits: Arc::new(Semaphore::new(size.max(2))),
            idle: Mutex::new(vec![(first, Instant::now())]),
            closed: AtomicBool::new(false),
        })
    }

    /// Who this pool logs in as.
    pub(crate) fn login(&self) -> &Login {
        &self.login
    }

    /// One connection for a request; waits while all are in use.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Result<Lease, WebError> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| WebError::Unauthorized)?;
        self.lease(permit).await
    }

    /// Two connections at once (for copy), taken atomically so two copies
    /// can never each hold one and wait forever for the other.
    pub(crate) async fn acquire_two(self: &Arc<Self>) -> Result<(Lease, Lease), WebError> {
        let mut permits = self.permits.clone().acquire_many_owned(2).await.map_err(|_| WebError::Unauthorized)?;
        let second = permits.split(1).ok_or_else(|| WebError::Unavailable("pool too small".into()))?;
        let a = self.lease(permits).await?;
        let b = self.lease(second).await?;
        Ok((a, b))
    }

    async fn lease(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Result<Lease, WebError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(WebError::Unauthorized);
        }
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop()).map(|(ftp, _)| ftp);
        let ftp = match idle {
            Some(ftp) => ftp,
            None => connect(&self.login, self.connect_timeout).await?,
        };
        Ok(Lease { ftp: Some(ftp), pool: self.clone(), broken: false, _permit: permit })
    }

    /// End the pool: idle connections are closed now (QUIT in the background),
    /// leased ones when their request finishes.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.permits.close();
        let conns = self.idle.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
        quit_all(conns.into_iter().map(|(ftp, _)| ftp).collect());
    }

    /// Close the connections nobody has used for `max_idle` (QUIT in the
    /// background); returns how many. The next request reconnects.
    pub(crate) fn release_idle(&self, max_idle: Duration) -> usize {
        let now = Instant::now();
        let stale: Vec<Ftp> = match self.idle.lock() {
            Ok(mut idle) => {
                let (stale, fresh): (Vec<_>, Vec<_>) = std::mem::take(&mut *idle)
                    .into_iter()
                    .partition(|(_, since)| now.duration_since(*since) >= max_idle);
                *idle = fresh;
                stale.into_iter().map(|(ftp, _)| ftp).collect()
            }
            Err(_) => Vec::new(),
        };
        let n = stale.len();
        quit_all(stale);
        n
    }

    /// Connections open and not lent out.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or(0)
    }
}

/// Say QUIT on each connection in the background (a short wait each), then drop them.
fn quit_all(conns: Vec<Ftp>) {
    if conns.is_empty() {
        return;
    }
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(async move {
            for mut ftp in conns {
                let _ = tokio::time::timeout(Duration::from_secs(2), ftp.quit()).await;
            }
        });
    }
}

/// One connection lent to one request.
pub(crate) struct Lease {
    ftp: Option<Ftp>,
    pool: Arc<Pool>,
    broken: bool,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    /// The connection (always present until the lease is dropped; the
    /// `Result` only spares us an `unwrap`).
    pub(crate) fn ftp(&mut self) -> Result<&mut Ftp, WebError> {
        self.ftp.as_mut().ok_or_else(|| WebError::Upstream("connection already released".into()))
    }

    /// Do not return this connection to the pool (its state is unknown).
    pub(crate) fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Abort a running transfer and bring the control connection back in step.
    ///
    /// When the transfer had already completed on the server side, RFC 959 has
    /// the server answer twice (226 for the transfer, then 226 for ABOR) and
    /// suppaftp reads only one; a NOOP round trip swallows any such leftover
    /// reply. If that does not work the connection is marked broken.
    pub(crate) async fn abort(&mut self, stream: Transfer) {
        let Ok(ftp) = self.ftp() else { return };
        let resynced = async {
            ftp.abort(stream).await.ok()?;
            let mut reply = ftp.noop().await;
            // Each leftover reply is skipped; the NOOP's own 200 follows it.
            for _ in 0..3 {
                match reply {
                    Ok(_) => return Some(()),
                    Err(FtpError::UnexpectedResponse(r)) if matches!(r.status.code(), 225 | 226 | 426 | 450 | 451) => {
                        reply = ftp.read_response(Status::CommandOk).await.map(|_| ());
                    }
                    Err(_) => return None,
                }
            }
            None
        };
        if tokio::time::timeout(Duration::from_secs(10), resynced).await.ok().flatten().is_none() {
            self.broken = true;
        }
    }

    /// Mark broken when `err` leaves the connection in an unknown state; pass it on.
    pub(crate) fn check<T>(&mut self, r: Result<T, WebError>) -> Result<T, WebError> {
        if let Err(e) = &r
            && !e.connection_usable()
        {
            self.broken = true;
        }
        r
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(ftp) = self.ftp.take() else { return };
        if self.broken || self.pool.closed.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut idle) = self.pool.idle.lock() {
            idle.push((ftp, Instant::now()));
        }
    }
}
