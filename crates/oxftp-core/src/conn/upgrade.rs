//! Switching the control connection between plaintext and TLS in place
//! (AUTH TLS and implicit FTPS upgrade it; CCC downgrades it).

use std::io;

use tokio::io::AsyncReadExt;

use super::Conn;
use crate::admission::Slot;
use crate::metrics::TlsChannel;
use crate::stream::Side;
use crate::tls::common_name;

impl Conn {
    /// A place among the TLS handshakes in progress (`None` when
    /// `max_tls_handshakes` are running already).
    pub(crate) fn handshake_permit(&self) -> Option<Slot<()>> {
        self.ctx.handshakes.acquire(&(), self.ctx.options.max_tls_handshakes)
    }

    /// Run the TLS handshake on the control connection, holding `_permit`
    /// until it ends. On error the session is unusable.
    pub(crate) async fn start_tls(&mut self, _permit: Slot<()>) -> io::Result<()> {
        let acceptor =
            self.tls.as_ref().map(|a| a.control.clone()).ok_or_else(|| io::Error::other("TLS is not configured"))?;
        let (Side::Plain(read), Side::Plain(write)) = (self.reader.take_side(), self.writer.take_side()) else {
            return Err(io::Error::other("control connection is not plaintext"));
        };
        let tcp = read.reunite(write).map_err(io::Error::other)?;
        let tcp_socket = std::os::fd::AsFd::as_fd(&tcp).try_clone_to_owned()?;
        let timeout = self.ctx.options.tls.as_ref().map(|t| t.config.handshake_timeout).unwrap_or_default();
        let handshake = tokio::time::timeout(timeout, acceptor.accept(tcp)).await;
        if let Some(metrics) = self.metrics() {
            metrics.tls_handshake(TlsChannel::Control, matches!(handshake, Ok(Ok(_))));
        }
        let tls = handshake.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        let (_, conn) = tls.get_ref();
        self.client_cert_cn = conn.peer_certificates().and_then(|certs| certs.first()).and_then(common_name);
        if let Some(cn) = &self.client_cert_cn {
            slog::info!(self.logger, "client certificate"; "cn" => cn);
        }
        let (read, write) = tokio::io::split(tls);
        self.reader.set_side(Side::Tls(read), Some(tcp_socket));
        self.writer.set_side(Side::Tls(write));
        Ok(())
    }

    /// CCC: end TLS on the control connection and go on in plaintext. Our
    /// close_notify goes out, then we wait for the client's so no TLS record
    /// is left to be misread as a command.
    pub(crate) async fn stop_tls(&mut self) -> io::Result<()> {
        let (Side::Tls(read), Side::Tls(write)) = (self.reader.take_side(), self.writer.take_side()) else {
            return Err(io::Error::other("control connection is not TLS"));
        };
        let mut tls = read.unsplit(write);
        tls.get_mut().1.send_close_notify();
        tokio::io::AsyncWriteExt::flush(&mut tls).await?;
        let timeout = self.ctx.options.tls.as_ref().map(|t| t.config.handshake_timeout).unwrap_or_default();
        let mut sink = [0u8; 512];
        let drain = async {
            // rustls reports the peer's close_notify as end of stream.
            while tls.read(&mut sink).await? > 0 {}
            io::Result::Ok(())
        };
        tokio::time::timeout(timeout, drain)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no close_notify"))??;
        let (tcp, _) = tls.into_inner();
        let (read, write) = tcp.into_split();
        self.reader.set_side(Side::Plain(read), None);
        self.writer.set_side(Side::Plain(write));
        Ok(())
    }
}
