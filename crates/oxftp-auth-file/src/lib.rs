//! oxftp authenticator backed by a static TOML users file.
//!
//! ```toml
//! [[user]]
//! name = "alice"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."   # from `oxftpd hash-password`
//! class = "user"        # "user" (default) or "guest" (confined to its home)
//! home = "/alice"       # virtual path under the storage root; default "/"
//! read_only = false
//! require_tls = false   # true: this account must use FTPS (control and data)
//! permissions = ["list", "read", "upload"]   # default: every permission
//! quota_bytes = 1073741824                   # optional limits
//! download_rate = 1048576                    # bytes per second, 0 = unlimited
//! allowed_ips = ["192.0.2.0/24"]
//!
//! [[user.dir]]                               # per-directory permissions
//! path = "/archive"
//! permissions = ["list", "read"]
//! ```
//!
//! Hashes are argon2id PHC strings; plaintext passwords are never accepted.
//! The file is validated completely at load time, so a typo is an error with
//! a line number when the daemon starts, not a login that silently fails.

#![warn(missing_docs)]

mod authenticator;
mod error;
mod file;
mod hash;

pub use authenticator::FileAuthenticator;
pub use error::UsersFileError;
pub use hash::{hash_password, try_hash_password};
