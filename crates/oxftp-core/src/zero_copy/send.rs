//! Zero-copy downloads: `sendfile(2)` from a local file straight into the
//! data socket, so file bytes never pass through user space.

use std::io;
use std::time::Duration;

use rustix::io::Errno;
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::ZeroCopy;

/// Most bytes one `sendfile` call moves (the kernel caps it near 2 GiB anyway).
const CHUNK: usize = 1 << 30;

/// Send `file` from its current position to EOF over `stream`.
/// `on_progress` sees the running total; `stall` bounds each wait for the socket.
pub(crate) async fn send_file(
    file: &std::fs::File,
    stream: &TcpStream,
    stall: Duration,
    mut on_progress: impl FnMut(u64),
) -> io::Result<ZeroCopy> {
    let mut total: u64 = 0;
    loop {
        // No offset: the kernel uses and advances the file's own position,
        // which the storage already set to the REST offset.
        let sent = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, file, None, CHUNK).map(|n| n as u64).map_err(io::Error::from)
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
            Err(e)
                if total == 0
                    && matches!(e.raw_os_error(), Some(code) if code == Errno::INVAL.raw_os_error()
                        || code == Errno::NOSYS.raw_os_error()) =>
            {
                return Ok(ZeroCopy::Unsupported);
            }
            Err(e) => return Err(e),
        }
    }
}
