//! Zero-copy data paths between a plain TCP data connection and a local
//! file: `sendfile(2)` for downloads, `splice(2)` for uploads. Both are used
//! only for binary transfers without TLS, between a socket and a storage
//! that offers a local file; everything else copies through buffers.
//!
//! All system calls go through rustix's safe wrappers: no `unsafe` here.

mod receive;
mod send;

pub(crate) use receive::{ReceiveError, receive_file};
pub(crate) use send::send_file;

/// Outcome of trying a zero-copy path.
pub(crate) enum ZeroCopy {
    /// Everything went through: this many bytes.
    Done(u64),
    /// The kernel cannot do it for these descriptors (nothing was moved): copy instead.
    Unsupported,
}
