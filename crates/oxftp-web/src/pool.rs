//! A small pool of logged-in FTP connections belonging to one web session.
//!
//! FTP allows one transfer per control connection, so a session keeps a few
//! (2 by default: enough to copy a file, RETR on one and STOR on the other).
//! A [`Lease`] gives one connection exclusively to a request and hands it back
//! when dropped, unless the request saw it break; closing the pool drops the
//! idle connections and stops leases from returning theirs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use suppaftp::tokio::{AsyncFtpStream, AsyncNoTlsStream, TransferStream};
use suppaftp::types::FileType;
use suppaftp::{FtpError, Status};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::WebError;

/// Where and as whom a pool's connections log in.
#[derive(Clone)]
pub(crate) struct Login {
    /// Canonical `host:port` of the upstream (already allow-listed).
    pub upstream: String,
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
    idle: Mutex<Vec<AsyncFtpStream>>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("login", &self.login).finish()
    }
}

/// Open one control connection, log in and switch to binary.
pub(crate) async fn connect(login: &Login, timeout: Duration) -> Result<AsyncFtpStream, WebError> {
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(login.upstream.as_str()))
        .await
        .map_err(|_| WebError::Upstream("connection timed out".into()))?
        .map_err(|e| WebError::Upstream(format!("cannot connect: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let mut ftp = tokio::time::timeout(timeout, AsyncFtpStream::connect_with_stream(tcp))
        .await
        .map_err(|_| WebError::Upstream("no greeting from the server".into()))??;
    ftp.login(login.user.as_str(), login.password.as_str()).await?;
    ftp.transfer_type(FileType::Binary).await?;
    Ok(ftp)
}

impl Pool {
    /// A pool of at most `size` connections, seeded with the one the login opened.
    pub(crate) fn new(login: Login, first: AsyncFtpStream, size: usize, connect_timeout: Duration) -> Arc<Pool> {
        Arc::new(Pool {
            login,
            connect_timeout,
            permits: Arc::new(Semaphore::new(size.max(2))),
            idle: Mutex::new(vec![first]),
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
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
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
}

/// One connection lent to one request.
pub(crate) struct Lease {
    ftp: Option<AsyncFtpStream>,
    pool: Arc<Pool>,
    broken: bool,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    /// The connection (always present until the lease is dropped; the
    /// `Result` only spares us an `unwrap`).
    pub(crate) fn ftp(&mut self) -> Result<&mut AsyncFtpStream, WebError> {
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
    pub(crate) async fn abort(&mut self, stream: TransferStream<AsyncNoTlsStream>) {
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
            idle.push(ftp);
        }
    }
}
