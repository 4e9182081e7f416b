//! Sockets: listeners for control connections and passive data ports.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// Accept-queue length asked for on control listeners; the kernel caps it at
/// `net.core.somaxconn` (4096 on current kernels). A burst of clients waits
/// here until the accept loop takes them. std and tokio ask for 128 (vsftpd
/// for 32): when that queue is full the kernel drops the client's last
/// handshake packet, and the client, which believes it is connected, waits
/// for a greeting that comes only after retransmissions, or never.
pub const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr` for control (or web) connections, with a
/// [`LISTEN_BACKLOG`]-deep accept queue (see [`listen_reusable`]). Needs to
/// run inside the tokio runtime.
pub fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    listen_reusable(addr, LISTEN_BACKLOG)
}

/// Listen on `addr` with SO_REUSEADDR, so the port can be bound while earlier
/// connections on it sit in TIME_WAIT (a restarted server; a passive port
/// after a download, where we closed first). Linux still refuses a second
/// listener on a port that has one.
pub(crate) fn listen_reusable(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}
