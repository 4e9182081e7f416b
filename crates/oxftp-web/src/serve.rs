//! The listener: accept, admit, (TLS handshake), serve HTTP/1.1 — with
//! limits on how many connections there are and how long they may dawdle.
//!
//! axum's own `serve` has neither a connection cap nor a header-read or
//! keep-alive timeout, so connections are served here with hyper directly:
//!
//! - every connection needs a permit from the [`ConnectionGate`] first
//!   (global and per address); without one it is closed at once (plain
//!   HTTP gets a short 503 first), so a flood cannot use up the file
//!   descriptors the FTP listeners of the same process need;
//! - under HTTPS the handshake runs inside the connection's own task, within
//!   `tls_handshake_timeout`, holding its permit;
//! - a watchdog per connection closes it when a request head has not arrived
//!   complete within `header_read_timeout` (counted from the connection's
//!   start, or from the first byte of a later request on a kept-alive
//!   connection), or when it has had no request in progress for
//!   `keep_alive_timeout`. hyper's own header timer is set to the sum of the
//!   two, as a backstop;
//! - request heads are bounded by `max_header_bytes` (hyper answers 431).
//!
//! Shutdown stops accepting, asks every connection to finish its request in
//! progress and close, and waits for them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use slog::{debug, warn};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::WebConfig;
use crate::conn_gate::{ConnectionGate, ConnectionPermit};
use crate::stats::{Refusal, Telemetry};

/// What a plain-HTTP client refused at the door reads before the close.
const REFUSED_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
Content-Length: 27\r\nRetry-After: 5\r\nConnection: close\r\n\r\nToo many connections; retry";

/// hyper's read buffer never grows beyond this (or `max_header_bytes`, if larger).
const READ_BUFFER: usize = 64 * 1024;

/// Everything the connection tasks share.
struct Shared {
    router: Router,
    tls: Option<TlsAcceptor>,
    gate: Arc<ConnectionGate>,
    http: http1::Builder,
    handshake_timeout: Duration,
    header_timeout: Duration,
    keep_alive_timeout: Duration,
    telemetry: Arc<Telemetry>,
}

/// Serve `router` on `listener` until `shutdown` resolves, then let the
/// connections finish their requests and close.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    config: &WebConfig,
    gate: Arc<ConnectionGate>,
    telemetry: Arc<Telemetry>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout + config.keep_alive_timeout)
        .max_buf_size(READ_BUFFER.max(config.max_header_bytes))
        .max_header_size(config.max_header_bytes)
        .keep_alive(true);
    let shared = Arc::new(Shared {
        router,
        tls: config.https.clone().map(TlsAcceptor::from),
        gate,
        http,
        handshake_timeout: config.tls_handshake_timeout,
        header_timeout: config.header_read_timeout,
        keep_alive_timeout: config.keep_alive_timeout,
        telemetry,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        warn!(shared.telemetry.logger(), "web client: accept failed"; "error" => %e);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                match shared.gate.admit(peer.ip()) {
                    Ok(permit) => {
                        connections.spawn(connection(shared.clone(), stream, peer, permit, stop_rx.clone()));
                    }
                    Err(refusal) => {
                        if shared.tls.is_none() {
                            // Best effort, never waiting: the socket buffer takes it or it is lost.
                            let _ = stream.try_write(REFUSED_RESPONSE);
                        }
                        shared.telemetry.refused(refusal, peer.ip());
                    }
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// One connection, from its (TLS handshake and) first request to its close.
async fn connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    _permit: ConnectionPermit,
    stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let logger = shared.telemetry.logger();
    match shared.tls.clone() {
        None => http(&shared, stream, peer, stop).await,
        Some(acceptor) => {
            let handshake = tokio::time::timeout(shared.handshake_timeout, acceptor.accept(stream));
            let mut stopped = stop.clone();
            let tls = tokio::select! {
                result = handshake => result,
                _ = stopped.wait_for(|stop| *stop) => return,
            };
            match tls {
                Ok(Ok(tls)) => http(&shared, tls, peer, stop).await,
                Ok(Err(e)) => debug!(logger, "web client: TLS handshake failed"; "peer" => %peer, "error" => %e),
                Err(_) => debug!(logger, "web client: TLS handshake timed out"; "peer" => %peer),
            }
        }
    }
}

/// Serve HTTP/1.1 on `io` under the connection watchdog (see the module docs).
async fn http<IO>(shared: &Shared, io: IO, peer: SocketAddr, mut stop: watch::Receiver<bool>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let router = shared.router.clone();
    let telemetry = shared.telemetry.clone();
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |mut req: Request<Incoming>| {
            telemetry.request();
            let done = RequestInProgress::start(activity.clone());
            req.extensions_mut().insert(ConnectInfo(peer));
            let router = router.clone();
            async move {
                let Ok(resp) = router.oneshot(req.map(Body::new)).await;
                Ok::<_, Infallible>(resp.map(|body| Body::new(Tracked { body, _done: done })))
            }
        })
    };
    let watched = Watched { inner: io, activity: activity.clone() };
    let conn = shared.http.serve_connection(TokioIo::new(watched), service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let deadline = activity.deadline(shared.header_timeout, shared.keep_alive_timeout);
        let expiry = async {
            match deadline {
                Some((at, _)) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    debug!(shared.telemetry.logger(), "web client: connection ended"; "peer" => %peer, "error" => %e);
                }
                return;
            }
            _ = stop.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            () = activity.changed.notified() => {}
            () = expiry => {
                // Dropping the connection closes the socket.
                if let Some((at, why)) = activity.deadline(shared.header_timeout, shared.keep_alive_timeout)
                    && at <= Instant::now()
                {
                    if why == Expiry::Header {
                        shared.telemetry.refused(Refusal::HeaderTimeout, peer.ip());
                    }
                    return;
                }
            }
        }
    }
}

/// Which timeout closes an idle connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// A request head is overdue.
    Header,
    /// No request for too long.
    Idle,
}

/// When a connection last did what, for its watchdog.
#[derive(Debug)]
struct Activity {
    in_flight: AtomicUsize,
    times: Mutex<Times>,
    /// Woken when the deadline may have moved earlier or been lifted.
    changed: Notify,
}

#[derive(Debug)]
struct Times {
    opened: Instant,
    /// Whether a request has been answered (the connection is being kept alive).
    reused: bool,
    /// When the last request ended.
    idle_since: Instant,
    /// When the first byte of the next request arrived, on a kept-alive connection.
    head_started: Option<Instant>,
}

impl Activity {
    fn new() -> Self {
        let now = Instant::now();
        Activity {
            in_flight: AtomicUsize::new(0),
            times: Mutex::new(Times { opened: now, reused: false, idle_since: now, head_started: None }),
            changed: Notify::new(),
        }
    }

    /// When the connection is to be closed, and why; `None` while a request is in progress.
    fn deadline(&self, header: Duration, keep_alive: Duration) -> Option<(Instant, Expiry)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let times = self.times.lock().ok()?;
        Some(match (times.reused, times.head_started) {
            (false, _) => (times.opened + header, Expiry::Header),
            (true, Some(started)) => (started + header, Expiry::Header),
            (true, None) => (times.idle_since + keep_alive, Expiry::Idle),
        })
    }

    /// Bytes arrived; on an idle kept-alive connection they start a request head.
    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return;
        }
        let Ok(mut times) = self.times.lock() else { return };
        if times.reused && times.head_started.is_none() {
            times.head_started = Some(Instant::now());
            drop(times);
            self.changed.notify_one();
        }
    }
}

/// A request being served; its end (the response body finished or dropped)
/// makes the connection idle again.
struct RequestInProgress(Arc<Activity>);

impl RequestInProgress {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut times) = activity.times.lock() {
            times.head_started = None;
        }
        activity.changed.notify_one();
        RequestInProgress(activity)
    }
}

impl Drop for RequestInProgress {
    fn drop(&mut self) {
        if let Ok(mut times) = self.0.times.lock() {
            times.reused = true;
            times.idle_since = Instant::now();
            times.head_started = None;
        }
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_one();
    }
}

/// A response body that ends its request's [`RequestInProgress`] when dropped.
struct Tracked {
    body: Body,
    _done: RequestInProgress,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The connection's byte stream, reporting reads to its [`Activity`].
struct Watched<IO> {
    inner: IO,
    activity: Arc<Activity>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        result
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("https", &self.tls.is_some()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_follow_the_connection() {
        let header = Duration::from_secs(10);
        let idle = Duration::from_secs(60);
        let a = Activity::new();
        let (at, why) = a.deadline(header, idle).unwrap();
        assert_eq!(why, Expiry::Header, "a new connection owes its first head");
        assert!(at <= Instant::now() + header);
        // Bytes on a new connection change nothing: the first head's clock runs from the start.
        a.bytes_read();
        assert_eq!(a.deadline(header, idle).unwrap().1, Expiry::Header);
        let a = Arc::new(a);
        let request = RequestInProgress::start(a.clone());
        assert!(a.deadline(header, idle).is_none(), "no timeout while a request is served");
        a.bytes_read();
        drop(request);
        let (at, why) = a.deadline(header, idle).unwrap();
        assert_eq!(why, Expiry::Idle);
        assert!(at > Instant::now() + header, "a kept-alive connection may idle longer than a head may take");
        a.bytes_read();
        let (at, why) = a.deadline(header, idle).unwrap();
        assert_eq!(why, Expiry::Header, "the next request's first byte starts its head's clock");
        assert!(at <= Instant::now() + header);
    }
}
