//! Files: `SSH_FXP_OPEN`, `READ`, `WRITE`, `CLOSE`, `FSTAT`, `FSETSTAT`.
//!
//! Downloads read the storage's stream from where the client asks; a local
//! file is read at any offset, a stream (an object store) is reopened when
//! the client jumps. Uploads go through the storage's write handle, which
//! keeps an upload invisible until it is committed when the client closes
//! the handle, and removes it if the session ends first.

use std::net::SocketAddr;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;
use std::time::Instant;

use oxftp_core::auth::Identity;
use oxftp_core::events::EventKind;
use oxftp_core::storage::{ErrorKind, ReadHandle, StorageError, WriteHandle, WriteMode};
use oxftp_proto::path::VPath;
use russh_sftp::protocol::{
    Attrs, Data, FileAttributes, Handle as HandleReply, Open, OpenFlags, Packet, Read, StatusCode, Write,
};
use slog::Logger;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};

use super::attrs::{attributes, failed};
use super::handles::Handle;
use super::{MAX_DATA, Reply, SftpSession, ok, status};
use crate::report::{Outcome, Transfer};
use crate::server::Shared;

/// A file open for reading.
pub(crate) struct ReadFile {
    path: VPath,
    source: Source,
    started: Instant,
    /// Bytes sent so far.
    bytes: u64,
    /// A read hit the end of the file (the download is complete).
    reached_end: bool,
}

/// Where a download's bytes come from.
enum Source {
    /// A local file, read at any offset.
    Local(Arc<std::fs::File>),
    /// A stream positioned at `at`.
    Stream { stream: Box<dyn AsyncRead + Send + Unpin>, at: u64 },
}

/// A file open for writing.
pub(crate) struct WriteFile {
    path: VPath,
    state: Upload,
    /// Open with `CREAT`: closing without a write still makes the file.
    create: bool,
    started: Instant,
    /// Bytes written so far.
    bytes: u64,
    /// Mode and time a client set on the open handle (`put -p`), applied
    /// once the upload is in place.
    after: Option<FileAttributes>,
}

/// Where an upload stands.
enum Upload {
    /// Opened without `TRUNC`: the first write's offset says where it goes.
    NotStarted,
    /// Writing; `at` is where the next write must start (`None`: append).
    Writing { sink: Box<dyn WriteHandle>, at: Option<u64> },
    /// A write failed; the upload was aborted and every later request on
    /// the handle gets this error.
    Failed(StorageError),
}

impl SftpSession {
    /// `SSH_FXP_OPEN` `string filename, uint32 pflags, ATTRS` →
    /// `SSH_FXP_HANDLE` or a status. `READ` opens a download; `WRITE` an
    /// upload: with `TRUNC` (or `CREAT|EXCL`) a new file, replacing the
    /// old one only when it is committed; with `APPEND` at the end;
    /// otherwise where the first write starts (a resumed upload). The
    /// attributes are not applied (new files get the storage's default
    /// mode); `FSETSTAT` and `SETSTAT` set them.
    pub(super) async fn open(&mut self, request: Open) -> Reply {
        let id = request.id;
        let path = match self.path(id, &request.filename) {
            Ok(path) => path,
            Err(reply) => return reply,
        };
        if self.handles.is_full() {
            return status(id, StatusCode::Failure, "Too many open handles");
        }
        let flags = request.pflags;
        let handle = if flags.contains(OpenFlags::WRITE) || flags.contains(OpenFlags::APPEND) {
            if flags.contains(OpenFlags::READ) {
                return status(id, StatusCode::OpUnsupported, "Files open for reading and writing are not supported");
            }
            if !self.shared.report.admits(EventKind::Upload) {
                return status(id, StatusCode::Failure, "Uploads are paused, try again later");
            }
            let mode = if flags.contains(OpenFlags::APPEND) {
                Some(WriteMode::Append)
            } else if flags.contains(OpenFlags::TRUNCATE) {
                Some(WriteMode::Create { exclusive: false })
            } else if flags.contains(OpenFlags::CREATE | OpenFlags::EXCLUDE) {
                Some(WriteMode::Create { exclusive: true })
            } else {
                None
            };
            let state = match mode {
                Some(mode) => match self.storage.open_write(&path, mode).await {
                    Ok(sink) => Upload::Writing { sink, at: (mode != WriteMode::Append).then_some(0) },
                    Err(e) => return failed(id, &e),
                },
                None => Upload::NotStarted,
            };
            let create = flags.contains(OpenFlags::CREATE);
            Handle::Write(WriteFile { path, state, create, started: Instant::now(), bytes: 0, after: None })
        } else {
            let source = match self.storage.open_read(&path, 0).await {
                Ok(handle) => source(handle, 0),
                Err(e) => return failed(id, &e),
            };
            Handle::Read(ReadFile { path, source, started: Instant::now(), bytes: 0, reached_end: false })
        };
        Packet::Handle(HandleReply { id, handle: self.handles.insert(handle) })
    }

    /// `SSH_FXP_READ` `string handle, uint64 offset, uint32 len` →
    /// `SSH_FXP_DATA` (at most `len` and [`MAX_DATA`] bytes; fewer only at
    /// the end of the file) or `SSH_FX_EOF` past the end.
    pub(super) async fn read(&mut self, request: Read) -> Reply {
        let id = request.id;
        let storage = Arc::clone(&self.storage);
        let download = match self.handles.get_mut(&request.handle) {
            Some(Handle::Read(download)) => download,
            Some(_) => return status(id, StatusCode::Failure, "Not a file open for reading"),
            None => return bad_handle(id),
        };
        let len = (request.len as usize).min(MAX_DATA);
        match download.read_at(storage.as_ref(), request.offset, len).await {
            Ok(data) if data.is_empty() && len > 0 => {
                download.reached_end = true;
                status(id, StatusCode::Eof, "End of file")
            }
            Ok(data) => {
                download.bytes += data.len() as u64;
                if data.len() < len {
                    download.reached_end = true;
                }
                Packet::Data(Data { id, data })
            }
            Err(e) => failed(id, &e),
        }
    }

    /// `SSH_FXP_WRITE` `string handle, uint64 offset, string data` → status.
    /// Writes must follow each other without gaps or overlaps (or go to
    /// the end of an `APPEND` file); the first write of an upload opened
    /// without `TRUNC` says where it starts.
    pub(super) async fn write(&mut self, request: Write) -> Reply {
        let id = request.id;
        let storage = Arc::clone(&self.storage);
        let upload = match self.handles.get_mut(&request.handle) {
            Some(Handle::Write(upload)) => upload,
            Some(_) => return status(id, StatusCode::Failure, "Not a file open for writing"),
            None => return bad_handle(id),
        };
        match upload.write(storage.as_ref(), request.offset, &request.data).await {
            Ok(()) => ok(id),
            Err(e) => failed(id, &e),
        }
    }

    /// `SSH_FXP_CLOSE` `string handle` → status. Closing an upload commits
    /// it (the file appears under its name); an upload whose write failed
    /// is not committed and the close reports that failure again.
    pub(super) async fn close(&mut self, id: u32, handle: &str) -> Reply {
        let Some(handle) = self.handles.remove(handle) else { return bad_handle(id) };
        match handle {
            Handle::Read(download) => {
                download.finish(&self.shared, &self.identity, self.peer).await;
                ok(id)
            }
            Handle::Dir(_) => ok(id),
            Handle::Write(upload) => match upload.commit(self).await {
                Ok(()) => ok(id),
                Err(e) => failed(id, &e),
            },
        }
    }

    /// `SSH_FXP_FSTAT` `string handle` → `SSH_FXP_ATTRS`. An upload not yet
    /// committed has the size written so far.
    pub(super) async fn fstat(&mut self, id: u32, handle: &str) -> Reply {
        let path = match self.handles.get_mut(handle) {
            Some(Handle::Read(download)) => download.path.clone(),
            Some(Handle::Write(upload)) => {
                let attrs = FileAttributes {
                    size: Some(upload.bytes_at()),
                    permissions: Some(0o100644),
                    ..FileAttributes::default()
                };
                return Packet::Attrs(Attrs { id, attrs });
            }
            Some(Handle::Dir(dir)) => dir.path().clone(),
            None => return bad_handle(id),
        };
        match self.storage.metadata(&path).await {
            Ok(info) => Packet::Attrs(Attrs { id, attrs: attributes(&info) }),
            Err(e) => failed(id, &e),
        }
    }

    /// `SSH_FXP_FSETSTAT` `string handle, ATTRS` → status. On an upload the
    /// mode and time are kept and set once it is committed (what `put -p`
    /// needs); what the storage cannot set is refused now.
    pub(super) async fn fsetstat(&mut self, id: u32, handle: &str, attrs: FileAttributes) -> Reply {
        let capabilities = self.storage.capabilities();
        let path = match self.handles.get_mut(handle) {
            Some(Handle::Write(upload)) => {
                if let Err(reply) = super::paths::settable(id, &attrs, capabilities, Some(upload.bytes_at())) {
                    return reply;
                }
                upload.after = Some(attrs);
                return ok(id);
            }
            Some(Handle::Read(download)) => download.path.clone(),
            Some(Handle::Dir(dir)) => dir.path().clone(),
            None => return bad_handle(id),
        };
        self.set_attributes(id, &path, attrs).await
    }
}

/// `SSH_FX_FAILURE` for a handle this session never gave out (or closed).
fn bad_handle(id: u32) -> Reply {
    status(id, StatusCode::Failure, "No such handle")
}

/// A storage read handle as a download source positioned at `at`.
fn source(handle: ReadHandle, at: u64) -> Source {
    match handle {
        ReadHandle::LocalFile(file) => Source::Local(Arc::new(file)),
        ReadHandle::Stream(stream) => Source::Stream { stream, at },
    }
}

impl ReadFile {
    /// Up to `len` bytes from `offset` (fewer only at the end of the file).
    async fn read_at(
        &mut self,
        storage: &dyn oxftp_core::Storage,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, StorageError> {
        if let Source::Stream { at, .. } = &self.source
            && *at != offset
        {
            // A jump (a resumed download, a client reading out of order):
            // start a new stream there; a local file reads anywhere.
            self.source = source(storage.open_read(&self.path, offset).await?, offset);
        }
        match &mut self.source {
            Source::Local(file) => {
                let file = Arc::clone(file);
                tokio::task::spawn_blocking(move || {
                    let mut data = vec![0; len];
                    let mut filled = 0;
                    while filled < len {
                        match file.read_at(&mut data[filled..], offset + filled as u64) {
                            Ok(0) => break,
                            Ok(n) => filled += n,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(StorageError::from(e)),
                        }
                    }
                    data.truncate(filled);
                    Ok(data)
                })
                .await
                .map_err(|e| StorageError::new(ErrorKind::Other, format!("read did not finish: {e}")))?
            }
            Source::Stream { stream, at } => {
                let mut data = vec![0; len];
                let mut filled = 0;
                while filled < len {
                    match stream.read(&mut data[filled..]).await {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) => return Err(StorageError::from(e)),
                    }
                }
                data.truncate(filled);
                *at += filled as u64;
                Ok(data)
            }
        }
    }

    /// The handle was closed (or the session ended): report the download.
    pub(crate) async fn finish(self, shared: &Shared, identity: &Identity, peer: SocketAddr) {
        let outcome = if self.reached_end { Outcome::Completed } else { Outcome::Aborted };
        shared
            .report
            .transfer(Transfer {
                identity,
                peer,
                upload: false,
                path: &self.path,
                bytes: self.bytes,
                elapsed: self.started.elapsed(),
                outcome,
                reason: (!self.reached_end).then(|| "closed before the end of the file".to_string()),
            })
            .await;
    }
}

impl WriteFile {
    /// Where the next write is expected (the size written so far).
    fn bytes_at(&self) -> u64 {
        match &self.state {
            Upload::Writing { at: Some(at), .. } => *at,
            _ => self.bytes,
        }
    }

    async fn write(&mut self, storage: &dyn oxftp_core::Storage, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        if let Upload::NotStarted = self.state {
            // A resumed upload: it continues where its first write starts.
            match storage.open_write(&self.path, WriteMode::At(offset)).await {
                Ok(sink) => self.state = Upload::Writing { sink, at: Some(offset) },
                Err(e) => {
                    self.state = Upload::Failed(e.clone());
                    return Err(e);
                }
            }
        }
        let (sink, at) = match &mut self.state {
            Upload::Writing { sink, at } => (sink, at),
            Upload::Failed(e) => return Err(e.clone()),
            Upload::NotStarted => return Err(StorageError::new(ErrorKind::Other, "upload not started")),
        };
        if let Some(expected) = *at
            && expected != offset
        {
            let e = StorageError::new(
                ErrorKind::Unsupported,
                format!("Write at offset {offset}, expected {expected}: writes must follow each other"),
            );
            self.fail(e.clone()).await;
            return Err(e);
        }
        if let Err(e) = sink.write_all(data).await {
            let e = StorageError::from(e);
            self.fail(e.clone()).await;
            return Err(e);
        }
        if let Some(at) = at {
            *at += data.len() as u64;
        }
        self.bytes += data.len() as u64;
        Ok(())
    }

    /// Aborts the upload after a failed write; the handle stays (the
    /// client closes it) and answers with `e` from now on.
    async fn fail(&mut self, e: StorageError) {
        if let Upload::Writing { sink, .. } = std::mem::replace(&mut self.state, Upload::Failed(e)) {
            sink.abort().await;
        }
    }

    /// Commits the upload at `CLOSE`, applies what `FSETSTAT` asked for,
    /// and reports it.
    async fn commit(self, session: &mut SftpSession) -> Result<(), StorageError> {
        let WriteFile { path, state, create, started, bytes, after } = self;
        let storage = Arc::clone(&session.storage);
        let result = match state {
            Upload::Writing { sink, .. } => sink.commit().await,
            Upload::Failed(e) => Err(e),
            Upload::NotStarted if create => match storage.metadata(&path).await {
                // CREAT without a write: the file exists afterwards, as open(2) makes it.
                Ok(_) => Ok(()),
                Err(e) if e.kind == ErrorKind::NotFound => {
                    match storage.open_write(&path, WriteMode::Create { exclusive: true }).await {
                        Ok(sink) => sink.commit().await,
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            },
            Upload::NotStarted => Ok(()),
        };
        if result.is_ok()
            && let Some(attrs) = after
            && let Err(reply) = session.apply(&path, attrs).await
        {
            slog::warn!(session.logger, "attributes not set after upload"; "path" => %path, "error" => %reply);
        }
        let (outcome, reason) = match &result {
            Ok(()) => (Outcome::Completed, None),
            Err(e) => {
                slog::info!(session.logger, "upload failed"; "path" => %path, "bytes" => bytes, "reason" => &e.message);
                (Outcome::Failed, Some(e.message.clone()))
            }
        };
        session
            .shared
            .report
            .transfer(Transfer {
                identity: &session.identity,
                peer: session.peer,
                upload: true,
                path: &path,
                bytes,
                elapsed: started.elapsed(),
                outcome,
                reason,
            })
            .await;
        result
    }

    /// The session ended with the upload open: throw it away and report it.
    pub(crate) async fn abort(
        self,
        shared: &Shared,
        identity: &Identity,
        peer: SocketAddr,
        logger: &Logger,
        why: &str,
    ) {
        slog::info!(logger, "upload aborted"; "path" => %self.path, "bytes" => self.bytes, "reason" => why);
        let (path, bytes, elapsed) = (self.path.clone(), self.bytes, self.started.elapsed());
        self.discard().await;
        shared
            .report
            .transfer(Transfer {
                identity,
                peer,
                upload: true,
                path: &path,
                bytes,
                elapsed,
                outcome: Outcome::Aborted,
                reason: Some(why.to_string()),
            })
            .await;
    }

    /// Throws the upload away without a report.
    async fn discard(self) {
        if let Upload::Writing { sink, .. } = self.state {
            sink.abort().await;
        }
    }
}
