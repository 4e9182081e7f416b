//! An object-storage backend for oxftp over [Apache OpenDAL]: S3 first
//! class, and any other OpenDAL service compiled in (GCS, Azure Blob, local
//! fs, memory) chosen by scheme plus an options map.
//!
//! How FTP maps onto an object store:
//!
//! - Directories are key prefixes. MKD writes a `dir/` marker object so an
//!   empty directory exists and lists; a directory exists if its marker or
//!   any key below it exists; RMD refuses a directory with anything in it.
//! - Listings stream page by page from the store ([`list::ObjectLister`]).
//! - Uploads stream as multipart uploads of `chunk_size` parts with bounded
//!   memory and become visible only on commit; abort, failure or drop
//!   aborts the multipart upload ([`write::ObjectWriter`]).
//! - RETR at an offset is a ranged GET. APPE and REST+STOR exist only where
//!   the service can truly append (never by rewriting an object).
//! - RNFR/RNTO of a file is a server-side copy plus delete; of a directory,
//!   a bounded, opt-in, non-atomic copy of the prefix.
//! - MDTM is Last-Modified, SIZE the content length; SITE CHMOD and MFMT are
//!   refused (objects have neither).
//! - Store failures become storage error kinds: missing keys 550, refused
//!   credentials 550, outages and timeouts a retryable 450/451 after OpenDAL's
//!   retry layer gave up.
//!
//! [Apache OpenDAL]: https://opendal.apache.org/

#![warn(missing_docs)]

mod blocks;
pub mod config;
pub mod error;
pub mod events;
mod factory;
pub mod keys;
pub mod list;
mod storage;
pub mod write;

pub use config::{ConfigError, OpendalConfig, S3Checksum, S3Config, Tuning};
pub use events::UploadListener;
pub use factory::OpendalFactory;
pub use storage::{OpendalStorage, install_http_client};

/// The OpenDAL crate this backend is built on, for callers that build their own operator.
pub use opendal;
