//! oxftp: an embeddable FTP/FTPS server framework.
//!
//! ```no_run
//! use std::sync::Arc;
//! use oxftp::{Server, VPath, fs::LocalFsFactory, policy::AnonymousLogin};
//!
//! # async fn serve() -> std::io::Result<()> {
//! let storage = Arc::new(LocalFsFactory::new("/srv/ftp")?);
//! let auth = Arc::new(AnonymousLogin::new(None, VPath::root(), None));
//! Server::new(storage, auth).listen("127.0.0.1:2121").await
//! # }
//! ```
//!
//! The pieces: [`Storage`] (where files live: [`fs`] for local disk, or your
//! own), [`Authenticator`] (who may log in: [`users`] for a TOML users file, or
//! your own), and [`policy`] layers that give the classic access models
//! (anonymous, user, guest) on top of any storage.

pub use oxftp_core::auth::{
    AccessClass, AnonymousLogin, AuthError, Authenticator, Credentials, Identity, NoAccounts, Swappable,
};
pub use oxftp_core::storage::{
    Capabilities, DirEntry, DirLister, ErrorKind, Existing, ReadHandle, Storage, StorageError, StorageFactory,
    VecLister, WriteHandle, WriteMode,
};
pub use oxftp_core::tls::{ClientCertMode, SessionReuse, Tls, TlsConfig, TlsError, TlsRequirement};
pub use oxftp_core::{LISTEN_BACKLOG, Listener, Options, Server, bind_listener};
pub use oxftp_proto::listing::{FileInfo, FileKind};
pub use oxftp_proto::path::VPath;

/// Events: what users did, for hooks and audit ([`events::EventSink`] in
/// [`Options::event_sinks`]), and finished transfers ([`events::TransferListener`]).
pub mod events {
    pub use oxftp_core::events::*;
}

/// Prometheus metrics: pass [`metrics::Metrics`] over your registry in
/// [`Options::metrics`] (the `prometheus_client` crate is re-exported there).
pub mod metrics {
    pub use oxftp_core::metrics::*;
}

/// Admission control: sessions per address and account, failed-login bans.
pub mod limits {
    pub use oxftp_core::limits::BanPolicy;
}

/// Account permissions, limits and IP rules (fields of [`Identity`]).
pub mod account {
    pub use oxftp_core::account::*;
}

/// Policy layers: the access models as wrappers of `Storage` and `Authenticator`.
pub mod policy {
    pub use oxftp_core::policy::*;
}

/// An in-memory storage, handy for tests and ephemeral drop boxes.
pub mod memory {
    pub use oxftp_core::memory::*;
}

/// The local disk backend.
pub mod fs {
    pub use oxftp_fs::*;
}

/// The static TOML users file authenticator.
pub mod users {
    pub use oxftp_auth_file::*;
}

/// The pure protocol layer (parser, replies, paths), for tools and tests.
pub mod proto {
    pub use oxftp_proto::*;
}
