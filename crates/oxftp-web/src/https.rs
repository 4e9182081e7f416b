//! The HTTPS listener: TCP accept, then the TLS handshake off the accept
//! path, handed to axum as finished TLS streams.
//!
//! Handshakes run in a task of their own so a slow or silent client never
//! delays anyone else's accept; each must finish within the handshake
//! timeout, and at most [`MAX_HANDSHAKES`] run at once (more connections wait
//! in the kernel's accept queue), so connections that never speak cannot pile
//! up. A failed handshake (a scanner, a client that
//! does not trust the certificate) is logged at debug level and forgotten.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use slog::{Logger, debug, warn};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Most TLS handshakes in progress at once.
pub(crate) const MAX_HANDSHAKES: usize = 256;

/// Finished handshakes waiting for axum to take them.
const READY_QUEUE: usize = 32;

/// An [`axum::serve::Listener`] yielding TLS streams. Dropping it stops the
/// accept loop and every handshake still running.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    acceptor: JoinHandle<()>,
}

impl TlsListener {
    /// Start accepting on `tcp`, handshaking with `config`.
    pub(crate) fn new(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
        handshake_timeout: Duration,
        logger: Logger,
    ) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let acceptor = tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), handshake_timeout, tx, logger));
        Ok(TlsListener { ready, local, acceptor })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop only ends when the listener is dropped; should
            // it ever end early, wait rather than spin.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Accept TCP connections and handshake each in the `JoinSet` (aborted with
/// this task), passing finished ones to `ready`.
async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    timeout: Duration,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    logger: Logger,
) {
    let mut handshakes = JoinSet::new();
    loop {
        tokio::select! {
            // Reap finished handshakes; at the limit, this is all we wait for.
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => {}
            accepted = tcp.accept(), if handshakes.len() < MAX_HANDSHAKES => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        warn!(logger, "web client: accept failed"; "error" => %e);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (acceptor, ready, logger) = (acceptor.clone(), ready.clone(), logger.clone());
                handshakes.spawn(async move {
                    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = ready.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => debug!(logger, "web client: TLS handshake failed"; "peer" => %peer, "error" => %e),
                        Err(_) => debug!(logger, "web client: TLS handshake timed out"; "peer" => %peer),
                    }
                });
            }
        }
    }
}
