//! Zero-copy uploads: `splice(2)` from the data socket through a pipe into
//! the local file, so file bytes never pass through user space.
//!
//! A plain `read` + `write` upload copies every byte twice (socket buffer →
//! user buffer → page cache); splicing moves the socket's pages into a pipe
//! by reference and copies once, into the page cache. The loop runs on the
//! blocking pool, as a file write can wait on dirty-page throttling for a
//! long time, and a runtime worker must not.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::pipe::SpliceFlags;
use tokio::net::TcpStream;

use super::ZeroCopy;

/// Pipe capacity asked for: one splice moves at most this much. The kernel
/// may give less (`fs.pipe-max-size`); whatever it gives works.
const PIPE_SIZE: usize = 1024 * 1024;

/// Most uploads splicing at once. Each holds a thread of the runtime's
/// blocking pool (512 threads by default) for its whole length; beyond this
/// many, uploads copy through buffers instead, so file opens, listings and
/// renames of other sessions never queue behind long uploads.
const MAX_SPLICING: usize = 128;

/// Permits for [`MAX_SPLICING`].
static SPLICING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_SPLICING);

/// Receive from `socket` until the client closes it, into `file` at its
/// current position (the storage put it at the REST offset). `progress` is
/// raised by every byte received on top of `counted` bytes already moved by
/// the caller. `Unsupported` means nothing was taken from the socket (the
/// kernel cannot splice these, or [`MAX_SPLICING`] uploads already do).
pub(crate) async fn receive_file(
    socket: &TcpStream,
    file: File,
    stall: Duration,
    progress: Arc<AtomicU64>,
    counted: u64,
) -> Result<ZeroCopy, ReceiveError> {
    let Ok(_slot) = SPLICING.try_acquire() else {
        return Ok(ZeroCopy::Unsupported);
    };
    let socket = socket.as_fd().try_clone_to_owned().map_err(ReceiveError::Network)?;
    // If this future is dropped (ABOR, session gone) the blocking loop must
    // not keep the socket alive: shutting down our side of it wakes the loop
    // with end-of-file, and its result is then thrown away with the upload.
    let wake_on_drop = ShutdownOnDrop(Some(socket.try_clone().map_err(ReceiveError::Network)?));
    let joined = tokio::task::spawn_blocking(move || splice_loop(&socket, &file, stall, &progress, counted)).await;
    // Finished (well or not): close our copy without shutting anything down.
    drop(wake_on_drop.disarm());
    joined.map_err(|e| ReceiveError::Storage(io::Error::other(format!("upload task failed: {e}"))))?
}

/// Which side of an upload failed.
#[derive(Debug)]
pub(crate) enum ReceiveError {
    /// The data connection (426).
    Network(io::Error),
    /// The file (452 and friends: disk full, quota, I/O error).
    Storage(io::Error),
}

/// Shuts down the read side of a socket when dropped while armed.
struct ShutdownOnDrop(Option<OwnedFd>);

impl ShutdownOnDrop {
    /// The socket, no longer shut down on drop.
    fn disarm(mut self) -> Option<OwnedFd> {
        self.0.take()
    }
}

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        if let Some(fd) = &self.0 {
            let _ = rustix::net::shutdown(fd, rustix::net::Shutdown::Read);
        }
    }
}

/// The blocking receive loop: socket → pipe → file until end-of-file.
fn splice_loop(
    socket: &OwnedFd,
    file: &File,
    stall: Duration,
    progress: &AtomicU64,
    counted: u64,
) -> Result<ZeroCopy, ReceiveError> {
    let pipe = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC);
    let (pipe_out, pipe_in) = pipe.map_err(|e| ReceiveError::Storage(e.into()))?;
    let chunk = rustix::pipe::fcntl_setpipe_size(&pipe_in, PIPE_SIZE)
        .or_else(|_| rustix::pipe::fcntl_getpipe_size(&pipe_in))
        .unwrap_or(64 * 1024)
        .max(4096);
    let mut sink = FileSink::Splice;
    let mut total: u64 = 0;
    loop {
        match rustix::pipe::splice(socket, None, &pipe_in, None, chunk, SpliceFlags::MOVE | SpliceFlags::NONBLOCK) {
            Ok(0) => return Ok(ZeroCopy::Done(total)),
            Ok(n) => {
                sink.drain(&pipe_out, file, n).map_err(ReceiveError::Storage)?;
                total += n as u64;
                progress.store(counted + total, Ordering::Relaxed);
            }
            Err(Errno::AGAIN) => wait_readable(socket, stall).map_err(ReceiveError::Network)?,
            Err(Errno::INTR) => {}
            Err(Errno::INVAL | Errno::NOSYS) if total == 0 => return Ok(ZeroCopy::Unsupported),
            Err(e) => return Err(ReceiveError::Network(e.into())),
        }
    }
}

/// Block until `socket` has data (or end-of-file), at most `stall`.
fn wait_readable(socket: &OwnedFd, stall: Duration) -> io::Result<()> {
    let timeout = Timespec::try_from(stall).unwrap_or(Timespec { tv_sec: i64::MAX, tv_nsec: 0 });
    loop {
        let mut fds = [PollFd::new(socket, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::TimedOut, "stalled")),
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// How bytes leave the pipe for the file.
enum FileSink {
    /// `splice(2)` again: one copy, into the page cache.
    Splice,
    /// The filesystem cannot take a splice: read and write through a buffer.
    Copy(Vec<u8>),
}

impl FileSink {
    /// Move exactly `n` bytes, all waiting in the pipe, into `file`.
    fn drain(&mut self, pipe: &OwnedFd, file: &File, mut n: usize) -> io::Result<()> {
        while n > 0 {
            let moved = match self {
                FileSink::Splice => match rustix::pipe::splice(pipe, None, file, None, n, SpliceFlags::MOVE) {
                    Ok(m) => m,
                    Err(Errno::INTR) => continue,
                    Err(Errno::INVAL | Errno::NOSYS) => {
                        *self = FileSink::Copy(vec![0; 64 * 1024]);
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                },
                FileSink::Copy(buf) => {
                    let want = n.min(buf.len());
                    let got = rustix::io::read(pipe, &mut buf[..want])?;
                    (&*file).write_all(&buf[..got])?;
                    got
                }
            };
            if moved == 0 {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "the file took no more bytes"));
            }
            n -= moved;
        }
        Ok(())
    }
}
