//! The control connection: lines in (bounded, Telnet-aware), replies out.

use std::os::fd::{AsFd, OwnedFd};

use oxftp_proto::line::{LineDecoder, LineEvent};
use oxftp_proto::reply::Reply;
use tokio::io::AsyncWriteExt;

use crate::stream::{ReadSide, Side, WriteSide};

/// Read side of the control connection.
///
/// `next_event` is cancel-safe: all state lives in `self` and the only await
/// is a socket read, so the session can race it against a running transfer.
pub(crate) struct ControlReader {
    side: ReadSide,
    /// The TCP socket under a TLS side (a duplicate descriptor, as the TLS
    /// stream owns the socket), for [`ControlReader::peer_closed`].
    tls_socket: Option<OwnedFd>,
    decoder: LineDecoder,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

/// What the client sent next.
pub(crate) enum Incoming {
    Event(LineEvent),
    /// The client closed the connection (or it failed).
    Closed,
}

impl ControlReader {
    pub fn new(side: ReadSide, max_line: usize) -> Self {
        ControlReader {
            side,
            tls_socket: None,
            decoder: LineDecoder::new(max_line),
            buf: vec![0u8; 2048].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// Whether the control connection is protected by TLS now.
    pub fn is_tls(&self) -> bool {
        matches!(self.side, Side::Tls(_))
    }

    /// Take the stream out for an upgrade or downgrade. Anything already
    /// buffered was sent in the old mode after the command that switches
    /// (pipelined before the handshake): it is dropped, never executed.
    pub fn take_side(&mut self) -> ReadSide {
        self.start = 0;
        self.end = 0;
        self.decoder = LineDecoder::new(self.decoder.max_len());
        std::mem::replace(&mut self.side, Side::Detached)
    }

    /// Read from `side` now; `tls_socket` is the TCP socket under it when it is TLS.
    pub fn set_side(&mut self, side: ReadSide, tls_socket: Option<OwnedFd>) {
        self.side = side;
        self.tls_socket = tls_socket;
    }

    /// Whether the peer has closed or reset the connection: a non-blocking
    /// peek at the socket itself, which sees a FIN the runtime has not yet
    /// reported. Bytes still waiting (a command, a TLS record) mean the
    /// client is there.
    pub fn peer_closed(&self) -> bool {
        let socket = match (&self.side, &self.tls_socket) {
            (Side::Plain(half), _) => half.as_ref().as_fd(),
            (Side::Tls(_), Some(socket)) => socket.as_fd(),
            _ => return false,
        };
        let flags = rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT;
        let mut byte = [0u8; 1];
        match rustix::net::recv(socket, &mut byte[..], flags) {
            Ok((_, 0)) => true,
            Ok(_) => false,
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => false,
            // Reset, or anything else that makes the socket unreadable.
            Err(_) => true,
        }
    }

    pub async fn next_event(&mut self) -> Incoming {
        loop {
            while self.start < self.end {
                let (used, event) = self.decoder.decode(&self.buf[self.start..self.end]);
                self.start += used;
                if let Some(event) = event {
                    return Incoming::Event(event);
                }
                if used == 0 {
                    break;
                }
            }
            self.start = 0;
            self.end = 0;
            match self.side.read_some(&mut self.buf).await {
                Ok(0) | Err(_) => return Incoming::Closed,
                Ok(n) => self.end = n,
            }
        }
    }
}

/// Write side of the control connection.
pub(crate) struct ControlWriter {
    side: WriteSide,
    out: Vec<u8>,
}

impl ControlWriter {
    pub fn new(side: WriteSide) -> Self {
        ControlWriter { side, out: Vec::with_capacity(256) }
    }

    pub fn take_side(&mut self) -> WriteSide {
        std::mem::replace(&mut self.side, Side::Detached)
    }

    pub fn set_side(&mut self, side: WriteSide) {
        self.side = side;
    }

    /// Send one reply. Errors mean the client is gone; the read side notices.
    pub async fn send(&mut self, reply: &Reply) -> std::io::Result<()> {
        self.out.clear();
        reply.encode(&mut self.out);
        self.side.write_all(&self.out).await?;
        // TLS buffers records until flushed; plain TCP flush is a no-op.
        self.side.flush().await
    }

    pub async fn close(&mut self) {
        let _ = self.side.shutdown().await;
    }
}
