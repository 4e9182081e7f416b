//! Moving bytes over a data connection: downloads, uploads and listings.
//!
//! A transfer runs as its own task so the control connection stays
//! responsive (ABOR, STAT, NOOP during a transfer). Aborting the task drops
//! the data socket and the storage handles: an atomic upload that was not
//! committed disappears.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use oxftp_proto::ascii::{AsciiDecoder, AsciiEncoder};
use oxftp_proto::reply::Reply;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::data::{ActiveConnect, DataError, DataSetup, DataTls};
use crate::listing::{ListError, ListSink, ListSpec, produce};
use crate::storage::{ErrorKind, ReadHandle, Storage, StorageError, WriteHandle};
use crate::stream::DataStream;
use crate::zero_copy::{ReceiveError, ZeroCopy, receive_file, send_file};

/// Copy buffer size: large buffers keep syscalls per GiB low (see DESIGN.md).
const BUF_SIZE: usize = 1024 * 1024;

/// A copy starts with a buffer this big and grows it to [`BUF_SIZE`] while
/// reads keep filling it: a 4 KiB file should not allocate and zero 1 MiB.
const FIRST_BUF_SIZE: usize = 64 * 1024;

/// Grow `buf` (up to [`BUF_SIZE`]) after a read that filled it.
fn grow_if_filled(buf: &mut Vec<u8>, filled: usize) {
    if filled == buf.len() && buf.len() < BUF_SIZE {
        buf.resize((buf.len() * 4).min(BUF_SIZE), 0);
    }
}

/// Bytes an upload copies through buffers before it switches to `splice(2)`
/// (when it can): small files end before paying for a pipe and a thread.
const SPLICE_AFTER: u64 = 256 * 1024;

/// What a transfer does.
pub(crate) enum Job {
    /// RETR: storage -> client.
    Send { source: ReadHandle, ascii: bool },
    /// STOR/APPE/STOU: client -> storage.
    Receive { sink: Box<dyn WriteHandle>, ascii: bool },
    /// LIST/NLST/MLSD: a listing -> client.
    List { storage: Arc<dyn Storage>, spec: Box<ListSpec> },
}

/// How a transfer ended badly.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransferError {
    /// The data connection failed or the client went away (426).
    #[error("Connection closed; transfer aborted: {0}")]
    Network(std::io::Error),
    /// No progress for the data timeout (426).
    #[error("Data connection timed out; transfer aborted")]
    Stalled,
    /// The storage failed (451, 452 disk full, 552 over quota, 550).
    #[error("{0}")]
    Storage(StorageError),
    /// The data connection could not be made (425).
    #[error("{0}")]
    NoConnection(#[from] DataError),
    /// The client closed the control connection (without QUIT) before the
    /// upload's end was reported: the upload is thrown away (426, which
    /// nobody reads).
    #[error("Control connection closed; upload discarded")]
    ControlClosed,
}

impl TransferError {
    /// The final reply for a transfer that ended with this error.
    pub(crate) fn reply(&self) -> Reply {
        match self {
            TransferError::Network(_) | TransferError::Stalled | TransferError::ControlClosed => {
                Reply::new(426, self.to_string())
            }
            TransferError::NoConnection(d) => Reply::new(d.code(), d.to_string()),
            TransferError::Storage(s) => match s.kind {
                ErrorKind::InsufficientStorage => Reply::new(552, &s.message),
                ErrorKind::StorageFull => Reply::new(452, &s.message),
                ErrorKind::Transient => Reply::new(451, &s.message),
                ErrorKind::Other => Reply::new(451, format!("Local error: {}", s.message)),
                _ => s.reply(),
            },
        }
    }
}

/// Bytes moved so far, readable by STAT while the transfer runs.
pub(crate) type Progress = Arc<AtomicU64>;

/// Where an upload waits, with all its bytes received, for the session's
/// word before it is published ([`WriteHandle::commit`]).
///
/// A killed client's kernel closes the control and the data connection at
/// once; the data connection's end then looks exactly like a finished
/// upload. Only the session, which reads the control connection, can tell:
/// a client that closed it without QUIT before hearing the upload's 226 has
/// gone, and its upload is thrown away (see [`GateKeeper`]).
pub(crate) struct CommitGate {
    ready: oneshot::Sender<()>,
    verdict: oneshot::Receiver<bool>,
}

/// The session's side of a [`CommitGate`].
pub(crate) struct GateKeeper {
    ready: oneshot::Receiver<()>,
    verdict: oneshot::Sender<bool>,
}

/// A gate for one upload and its keeper.
pub(crate) fn commit_gate() -> (CommitGate, GateKeeper) {
    let (ready_tx, ready_rx) = oneshot::channel();
    let (verdict_tx, verdict_rx) = oneshot::channel();
    (CommitGate { ready: ready_tx, verdict: verdict_rx }, GateKeeper { ready: ready_rx, verdict: verdict_tx })
}

impl CommitGate {
    /// Ask the session, and wait for its answer. A session that is gone
    /// (its keeper dropped) is a no: fail closed.
    async fn may_commit(self) -> bool {
        let _ = self.ready.send(());
        self.verdict.await.unwrap_or(false)
    }
}

impl GateKeeper {
    /// Resolves when the upload asks; pending forever if it ends without
    /// asking (failed, or aborted). Cancel-safe.
    pub(crate) async fn asked(&mut self) {
        if (&mut self.ready).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Answer (before or after the upload asked).
    pub(crate) fn decide(self, commit: bool) {
        let _ = self.verdict.send(commit);
    }
}

/// How to open the data connection for a transfer.
pub(crate) struct Connect {
    pub setup: DataSetup,
    pub active: ActiveConnect,
    pub timeout: Duration,
    /// PROT P: run TLS over the data connection.
    pub tls: Option<DataTls>,
}

/// Open the data connection and run a transfer to completion; returns bytes
/// moved on the data connection. The 150 reply has already gone out. An
/// upload commits only if its `gate` opens.
pub(crate) async fn run(
    job: Job,
    connect: Connect,
    progress: Progress,
    gate: Option<CommitGate>,
) -> Result<u64, TransferError> {
    let stall = connect.timeout;
    let stream = crate::data::open(connect.setup, connect.active, connect.timeout, connect.tls.as_ref()).await;
    let stream = match stream {
        Ok(stream) => stream,
        Err(e) => {
            if let Job::Receive { sink, .. } = job {
                sink.abort().await;
            }
            return Err(e.into());
        }
    };
    move_bytes(job, stream, progress, stall, gate).await
}

async fn move_bytes(
    job: Job,
    mut stream: DataStream,
    progress: Progress,
    stall: Duration,
    gate: Option<CommitGate>,
) -> Result<u64, TransferError> {
    let sending = !matches!(job, Job::Receive { .. });
    let result = match job {
        Job::Send { source, ascii } => send(source, ascii, &mut stream, &progress, stall).await,
        Job::Receive { sink, ascii } => match gate {
            Some(gate) => receive(sink, ascii, &mut stream, &progress, stall, gate).await,
            None => {
                // No one to ask: never publish.
                sink.abort().await;
                Err(TransferError::ControlClosed)
            }
        },
        Job::List { storage, mut spec } => {
            let mut sink = DataSink { stream: &mut stream, progress: &progress, stall };
            match produce(storage.as_ref(), &mut spec, &mut sink).await {
                Ok(_) => Ok(progress.load(Ordering::Relaxed)),
                Err(ListError::Storage(e)) => Err(TransferError::Storage(e)),
                Err(ListError::Io(e)) => Err(io_error(e)),
            }
        }
    };
    if result.is_ok() {
        // Close our side cleanly so the client sees EOF (and TLS close_notify)
        // before the 226. After an upload the data is already committed and the
        // client may have gone: a failed close then changes nothing.
        let closed = step(stall, stream.shutdown()).await;
        if sending {
            closed.map_err(io_error)?;
        }
    }
    result
}

fn io_error(e: std::io::Error) -> TransferError {
    if e.kind() == std::io::ErrorKind::TimedOut { TransferError::Stalled } else { TransferError::Network(e) }
}

/// Await one I/O step, failing if it makes no progress within `stall`.
async fn step<T>(stall: Duration, fut: impl std::future::Future<Output = std::io::Result<T>>) -> std::io::Result<T> {
    match tokio::time::timeout(stall, fut).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "stalled")),
    }
}

async fn send(
    source: ReadHandle,
    ascii: bool,
    out: &mut DataStream,
    progress: &Progress,
    stall: Duration,
) -> Result<u64, TransferError> {
    let mut reader: Box<dyn AsyncRead + Send + Unpin> = match source {
        ReadHandle::Stream(r) => r,
        ReadHandle::LocalFile(f) if !ascii => {
            let zero_copy = match &*out {
                DataStream::Plain(socket) => {
                    let report = |n: u64| progress.store(n, Ordering::Relaxed);
                    send_file(&f, socket, stall, report).await.map_err(io_error)?
                }
                DataStream::Tls(_) => ZeroCopy::Unsupported,
            };
            match zero_copy {
                ZeroCopy::Done(total) => return Ok(total),
                ZeroCopy::Unsupported => buffered_reader(f),
            }
        }
        ReadHandle::LocalFile(f) => buffered_reader(f),
    };
    let mut buf = vec![0u8; FIRST_BUF_SIZE];
    let mut encoded = Vec::new();
    let mut encoder = AsciiEncoder::new();
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).await.map_err(|e| TransferError::Storage(e.into()))?;
        if n == 0 {
            break;
        }
        let chunk = if ascii {
            encoded.clear();
            encoder.encode(&buf[..n], &mut encoded);
            &encoded[..]
        } else {
            &buf[..n]
        };
        step(stall, out.write_all(chunk)).await.map_err(io_error)?;
        total += chunk.len() as u64;
        progress.store(total, Ordering::Relaxed);
        grow_if_filled(&mut buf, n);
    }
    Ok(total)
}

/// A local file read through tokio in [`BUF_SIZE`] pieces (TLS, ASCII, or
/// no `sendfile`).
fn buffered_reader(f: std::fs::File) -> Box<dyn AsyncRead + Send + Unpin> {
    let mut file = tokio::fs::File::from_std(f);
    file.set_max_buf_size(BUF_SIZE);
    Box::new(file)
}

async fn receive(
    mut sink: Box<dyn WriteHandle>,
    ascii: bool,
    input: &mut DataStream,
    progress: &Progress,
    stall: Duration,
    gate: CommitGate,
) -> Result<u64, TransferError> {
    let mut buf = vec![0u8; FIRST_BUF_SIZE];
    let mut decoded = Vec::new();
    let mut decoder = AsciiDecoder::new();
    let mut total = 0u64;
    let mut may_splice = !ascii;
    loop {
        if may_splice && total >= SPLICE_AFTER {
            may_splice = false;
            match splice_rest(&mut sink, input, progress, stall, total).await {
                Ok(Some(rest)) => {
                    total += rest;
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    sink.abort().await;
                    return Err(e);
                }
            }
        }
        let n = match step(stall, input.read(&mut buf)).await {
            Ok(n) => n,
            // Many FTPS clients (OpenSSL-based ftp-ssl among them) end an upload by
            // closing the socket without a TLS close_notify. Like vsftpd's default
            // (strict_ssl_read_eof=NO) we take the TCP close as the end of the file.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && matches!(input, DataStream::Tls(_)) => 0,
            Err(e) => {
                sink.abort().await;
                return Err(io_error(e));
            }
        };
        if n == 0 {
            break;
        }
        total += n as u64;
        progress.store(total, Ordering::Relaxed);
        let chunk = if ascii {
            decoded.clear();
            decoder.decode(&buf[..n], &mut decoded);
            &decoded[..]
        } else {
            &buf[..n]
        };
        if let Err(e) = write_all(&mut sink, chunk).await {
            sink.abort().await;
            return Err(TransferError::Storage(e));
        }
        grow_if_filled(&mut buf, n);
    }
    if ascii {
        decoded.clear();
        decoder.finish(&mut decoded);
        if let Err(e) = write_all(&mut sink, &decoded).await {
            sink.abort().await;
            return Err(TransferError::Storage(e));
        }
    }
    if !gate.may_commit().await {
        sink.abort().await;
        return Err(TransferError::ControlClosed);
    }
    sink.commit().await.map_err(TransferError::Storage)?;
    Ok(total)
}

/// Receive the rest of an upload with `splice(2)` when the connection is
/// plain TCP and the storage offers a local file; `None`: keep copying.
async fn splice_rest(
    sink: &mut Box<dyn WriteHandle>,
    input: &DataStream,
    progress: &Progress,
    stall: Duration,
    counted: u64,
) -> Result<Option<u64>, TransferError> {
    let DataStream::Plain(socket) = input else {
        return Ok(None);
    };
    let Some(file) = sink.local_file().await.map_err(TransferError::Storage)? else {
        return Ok(None);
    };
    match receive_file(socket, file, stall, progress.clone(), counted).await {
        Ok(ZeroCopy::Done(n)) => Ok(Some(n)),
        Ok(ZeroCopy::Unsupported) => Ok(None),
        Err(ReceiveError::Network(e)) => Err(io_error(e)),
        Err(ReceiveError::Storage(e)) => Err(TransferError::Storage(e.into())),
    }
}

async fn write_all(sink: &mut Box<dyn WriteHandle>, data: &[u8]) -> Result<(), StorageError> {
    if data.is_empty() {
        return Ok(());
    }
    sink.write_all(data).await.map_err(StorageError::from)
}

struct DataSink<'a> {
    stream: &'a mut DataStream,
    progress: &'a Progress,
    stall: Duration,
}

impl ListSink for DataSink<'_> {
    async fn flush(&mut self, buf: &mut Vec<u8>) -> std::io::Result<bool> {
        step(self.stall, self.stream.write_all(buf)).await?;
        self.progress.fetch_add(buf.len() as u64, Ordering::Relaxed);
        buf.clear();
        Ok(true)
    }
}

/// Collects a listing for a reply on the control connection (STAT path);
/// bounded by the spec's `max_entries`.
#[derive(Default)]
pub(crate) struct ReplySink {
    pub bytes: Vec<u8>,
}

impl ListSink for ReplySink {
    async fn flush(&mut self, buf: &mut Vec<u8>) -> std::io::Result<bool> {
        self.bytes.append(buf);
        Ok(true)
    }
}
