//! Zero-copy downloads: `sendfile(2)` from a local file straight into the
//! data socket, so file bytes never pass through user space.
//!
//! This is the one module with `unsafe`: the `sendfile` call itself. Its
//! safety rests on passing two file descriptors that stay open for the call
//! (we borrow both the socket and the file for its duration) and no buffer
//! pointers at all (a null offset pointer makes the kernel use and advance
//! the file's own position, which the storage already set to the REST offset).

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// Most bytes one `sendfile` call moves (the kernel caps it near 2 GiB anyway).
const CHUNK: usize = 1 << 30;

/// Outcome of trying the zero-copy path.
pub(crate) enum ZeroCopy {
    /// Everything from the file position to EOF went out: this many bytes.
    Done(u64),
    /// The kernel cannot sendfile this file (nothing was sent): copy instead.
    Unsupported,
}

/// Send `file` from its current position to EOF over `stream`.
/// `on_progress` sees the running total; `stall` bounds each wait for the socket.
pub(crate) async fn send_file(
    file: &std::fs::File,
    stream: &TcpStream,
    stall: Duration,
    mut on_progress: impl FnMut(u64),
) -> io::Result<ZeroCopy> {
    let file_fd = file.as_raw_fd();
    let sock_fd = stream.as_raw_fd();
    let mut total: u64 = 0;
    loop {
        let sent = stream.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors are open for the whole call (borrowed above);
            // a null offset pointer is allowed and makes the kernel use the file position.
            let n = unsafe { libc::sendfile(sock_fd, file_fd, std::ptr::null_mut(), CHUNK) };
            if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as u64) }
        });
        match sent {
            Ok(0) => return Ok(ZeroCopy::Done(total)),
            Ok(n) => {
                total += n;
                on_progress(total);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match tokio::time::timeout(stall, stream.writable()).await {
                    Ok(ready) => ready?,
                    Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "stalled")),
                }
            }
            Err(e) if total == 0 && matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) => {
                return Ok(ZeroCopy::Unsupported);
            }
            Err(e) => return Err(e),
        }
    }
}
