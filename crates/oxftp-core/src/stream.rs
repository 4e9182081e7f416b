//! Byte streams that may or may not be TLS: the control connection's halves
//! (which AUTH TLS upgrades and CCC downgrades in place) and data connections.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::server::TlsStream;

/// A server-side TLS stream over TCP.
pub(crate) type Tls = TlsStream<TcpStream>;

/// One side of a connection, plain or TLS. `Detached` only exists for the
/// moment of an upgrade or downgrade.
pub(crate) enum Side<P, T> {
    Plain(P),
    Tls(T),
    Detached,
}

pub(crate) type ReadSide = Side<OwnedReadHalf, ReadHalf<Tls>>;
pub(crate) type WriteSide = Side<OwnedWriteHalf, WriteHalf<Tls>>;

fn detached() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "control connection is being switched")
}

impl ReadSide {
    /// Read what is available (0 = end of stream).
    ///
    /// Plain TCP uses `try_read` + `readable` instead of `AsyncRead`: with
    /// SO_OOBINLINE, the kernel ends a read early at the urgent mark (Telnet
    /// Synch before ABOR), and tokio's `poll_read` takes any short read to mean
    /// "drained" and waits for a new edge that never comes. `try_read` only
    /// clears readiness on WouldBlock, so the rest of the ABOR line is read.
    pub(crate) async fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Side::Plain(s) => loop {
                match s.try_read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => s.readable().await?,
                    other => return other,
                }
            },
            other => tokio::io::AsyncReadExt::read(other, buf).await,
        }
    }
}

impl AsyncRead for ReadSide {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Side::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Side::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Side::Detached => Poll::Ready(Err(detached())),
        }
    }
}

impl AsyncWrite for WriteSide {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Side::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Side::Tls(s) => Pin::new(s).poll_write(cx, buf),
            Side::Detached => Poll::Ready(Err(detached())),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Side::Plain(s) => Pin::new(s).poll_flush(cx),
            Side::Tls(s) => Pin::new(s).poll_flush(cx),
            Side::Detached => Poll::Ready(Err(detached())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Side::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Side::Tls(s) => Pin::new(s).poll_shutdown(cx),
            Side::Detached => Poll::Ready(Ok(())),
        }
    }
}

/// A data connection.
pub(crate) enum DataStream {
    Plain(TcpStream),
    Tls(Box<Tls>),
}

impl AsyncRead for DataStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DataStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            DataStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for DataStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            DataStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            DataStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DataStream::Plain(s) => Pin::new(s).poll_flush(cx),
            DataStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DataStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            DataStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
