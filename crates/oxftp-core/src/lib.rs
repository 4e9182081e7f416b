//! oxftp's engine: the listener, control sessions, data channels, the
//! `Storage` and `Authenticator` traits and the policy layers that make the
//! three FTP access models (anonymous, user, guest).

#![forbid(unsafe_code)]

pub mod account;
pub mod admission;
pub mod auth;
mod cmd;
mod conn;
mod context;
mod data;
pub mod endpoints;
pub mod events;
mod hashing;
pub mod keys;
pub mod limits;
mod listing;
pub mod memory;
pub mod metrics;
mod net;
mod options;
mod passive;
pub mod policy;
pub mod server;
mod session;
pub mod shared_state;
pub mod storage;
mod stream;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;
pub mod tls;
mod transfer;
mod zero_copy;

pub use auth::{AccessClass, AuthError, Authenticator, Credentials, Identity};
pub use server::{LISTEN_BACKLOG, Listener, Options, Server, bind_listener};
pub use storage::{Capabilities, Storage, StorageError, StorageFactory, SweepReport};
