//! libunftp's ecosystem on oxftp's engine: any storage back-end
//! (`unftp-sbe-*`) and any authenticator (`unftp-auth-*`) written against
//! [`unftp_core`]'s traits, served by oxftp with its own policy layers in
//! front.
//!
//! ```no_run
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use oxftp_unftp::{UnftpAuthenticator, UnftpStorageFactory, local_path};
//! use oxftp_unftp::unftp_core::auth::DefaultUserDetailProvider;
//! use unftp_auth_jsonfile::JsonFileAuthenticator;
//! use unftp_sbe_fs::Filesystem;
//!
//! // unftp-sbe-fs, opened at each session's root below /srv/ftp.
//! let base = std::path::PathBuf::from("/srv/ftp");
//! let storage = UnftpStorageFactory::per_session(
//!     move |root| Filesystem::new(local_path(&base, root)),
//!     DefaultUserDetailProvider,
//! )?;
//! // unFTP's JSON users file.
//! let users = JsonFileAuthenticator::from_file("users.json")?;
//! let auth = UnftpAuthenticator::new(users, DefaultUserDetailProvider);
//! oxftp_core::Server::new(Arc::new(storage), Arc::new(auth)).listen("127.0.0.1:2121").await?;
//! # Ok(()) }
//! ```
//!
//! # The pieces
//!
//! - [`UnftpStorage`]: one `StorageBackend` of theirs, used as one user of
//!   theirs, as our [`Storage`](oxftp_core::storage::Storage): paths,
//!   metadata, listings, ranges and errors mapped (their error kinds are
//!   named after FTP replies and often carry the I/O error they came from,
//!   which is the more precise of the two).
//! - [`UnftpStorageFactory`]: a storage per logged-in identity, confined to
//!   its session root, with their user type for their calls.
//! - [`UnftpAuthenticator`]: their `Authenticator` and `UserDetailProvider`
//!   as our `Authenticator`.
//!
//! The engine's policy stack (read-only, guests and anonymous, permissions,
//! quotas, bandwidth) is built over the factory like over our own backends,
//! so it stands in front of their back-end whatever that back-end does.
//!
//! # What their traits cannot say, and what happens instead
//!
//! - **Atomic uploads.** Their `put` writes the final name from the first
//!   byte and has no commit. By default ([`Uploads::Staged`]) an upload goes
//!   to a hidden part file in the same directory (`.oxftp-upload-…`, left out
//!   of listings, reserved as a name) and is renamed over the target when
//!   complete; an aborted, dropped or failed upload removes it. That needs a
//!   `rename` that replaces a file, as unftp-sbe-fs's does. [`Uploads::Direct`]
//!   is for back-ends whose rename is a copy: visible while uploading, and an
//!   aborted upload keeps what was written.
//! - **Exclusive creation** (STOU, anonymous uploads that may not overwrite):
//!   checked with `metadata` before the upload and again before the part file
//!   is renamed, not in one step.
//! - **Zero copy.** Their `get` returns a reader and their `put` wants one,
//!   so downloads are never `sendfile(2)`d and uploads are never
//!   `splice(2)`d (`WriteHandle::local_file` stays `None`): bytes go through
//!   an in-memory pipe to a task running `put`.
//! - **Offsets.** With their `FEATURE_RESTART`, REST+RETR, REST+STOR and APPE
//!   (as `put` from the current size; concurrent appends may overlap) work
//!   natively. Without it, downloads still start at an offset by reading and
//!   dropping what comes before; REST+STOR and APPE are refused.
//! - **SITE CHMOD and MFMT**: not in their trait, refused as unsupported.
//! - **Listings** come back from `list` as one `Vec`, not page by page.
//! - **Links.** Their `metadata` does not follow symbolic links
//!   (unftp-sbe-fs); ours follows links that stay inside the tree, and
//!   listings show links as links.
//! - **`enter`** (their per-user restriction of a back-end) is not called;
//!   confinement is ours, see [`UnftpStorageFactory`].
//! - **Authentication**: see [`UnftpAuthenticator`] for certificates.

mod auth;
mod error;
mod factory;
mod meta;
mod storage;
mod upload;

pub use auth::UnftpAuthenticator;
pub use error::storage_error;
pub use factory::UnftpStorageFactory;
pub use meta::{file_info, local_path};
pub use storage::{PART_PREFIX, UnftpStorage, Uploads};

/// The unftp-core version these adapters are written against: implement
/// back-ends and authenticators with this one (`oxftp_unftp::unftp_core`) so
/// the traits match.
pub use unftp_core;
