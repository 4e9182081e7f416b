//! Local disk backend for oxftp: a [`Storage`](oxftp_core::storage::Storage)
//! that keeps files in a directory of the local filesystem.
//!
//! # Confinement
//!
//! The root directory is opened once, with ambient authority, when a
//! [`LocalFs`] is built; every later operation resolves its path beneath that
//! directory handle with `cap-std`, which refuses any resolution that would
//! leave it: absolute symlinks, relative symlinks climbing out with `..`,
//! chains of symlinks, a symlink in a middle component, and renames racing
//! with a lookup (on Linux it uses `openat2(RESOLVE_BENEATH)` where available).
//! A refused escape is reported as `PermissionDenied`. Symlinks that stay
//! inside the root are followed.
//!
//! # Uploads
//!
//! By default uploads are atomic: bytes go to a hidden temporary file in the
//! target's directory and are renamed over the final name on commit, so a
//! reader never sees half a file and an interrupted upload leaves nothing
//! behind. [`LocalFs::atomic_uploads`] turns this off for the classic
//! behaviour of writing straight into the final name.
//!
//! # Threads
//!
//! `cap-std` is synchronous, so every operation runs as one
//! `tokio::task::spawn_blocking` call. Uploads gather what the client sends
//! into 1 MiB blocks, each written by one blocking call while the next fills.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod blocking;
mod factory;
mod list;
mod local;
mod meta;
mod open;
mod paths;
mod upload;
mod writer;

pub use factory::LocalFsFactory;
pub use local::LocalFs;
