//! The control connection: lines in (bounded, Telnet-aware), replies out.

use oxftp_proto::line::{LineDecoder, LineEvent};
use oxftp_proto::reply::Reply;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Read side of the control connection.
///
/// `next_event` is cancel-safe: all state lives in `self` and the only await
/// is a socket read, so the session can race it against a running transfer.
pub(crate) struct ControlReader {
    half: OwnedReadHalf,
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
    pub fn new(half: OwnedReadHalf, max_line: usize) -> Self {
        ControlReader {
            half,
            decoder: LineDecoder::new(max_line),
            buf: vec![0u8; 2048].into_boxed_slice(),
            start: 0,
            end: 0,
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
            match self.half.read(&mut self.buf).await {
                Ok(0) | Err(_) => return Incoming::Closed,
                Ok(n) => self.end = n,
            }
        }
    }
}

/// Write side of the control connection.
pub(crate) struct ControlWriter {
    half: OwnedWriteHalf,
    out: Vec<u8>,
}

impl ControlWriter {
    pub fn new(half: OwnedWriteHalf) -> Self {
        ControlWriter {
            half,
            out: Vec::with_capacity(256),
        }
    }

    /// Send one reply. Errors mean the client is gone; the read side notices.
    pub async fn send(&mut self, reply: &Reply) -> std::io::Result<()> {
        self.out.clear();
        reply.encode(&mut self.out);
        self.half.write_all(&self.out).await
    }

    pub async fn close(&mut self) {
        let _ = self.half.shutdown().await;
    }
}
