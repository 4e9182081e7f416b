//! oxftp authenticator backed by a JSON users file in unFTP's format.
//!
//! ```json
//! [
//!   { "username": "alice", "password": "I am in Wonderland!" },
//!   {
//!     "username": "carol",
//!     "pbkdf2_salt": "Hp1WZRnzOUM=",
//!     "pbkdf2_key": "BOipkps/qYxlMLiuFcRjYUKivclvVXsc8f0T2pIvG6U=",
//!     "pbkdf2_iter": 500000,
//!     "root": "carol",
//!     "vfs_perms": ["-mkdir", "-rmdir", "-del", "-ren", "-md5"],
//!     "allowed_ip_ranges": ["192.168.178.0/24", "2001:db8::/32"],
//!     "account_enabled": true,
//!     "client_cert": { "allowed_cn": "carol.example" },
//!
//!     "class": "guest",
//!     "read_only": false,
//!     "quota_bytes": 1073741824, "quota_files": 10000,
//!     "max_sessions": 4, "bandwidth_up": 1048576, "bandwidth_down": 4194304,
//!     "authorized_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... carol@laptop"]
//!   }
//! ]
//! ```
//!
//! The first block of keys is unFTP's (`unftp-auth-jsonfile` credentials and
//! unFTP's per-user settings), so an unFTP file loads as is; the keys after
//! the blank line are ours. `pbkdf2_*` is PBKDF2-HMAC-SHA256 with base64 salt
//! and key (a key of at most 32 bytes). Differences from unFTP, all on the
//! side of refusing: unknown keys are errors, a name given twice is an error,
//! `allowed_cn` must equal the certificate's CN (unFTP accepts a substring),
//! and an account with no password, no `client_cert` and no `authorized_keys`
//! is an error. `authorized_keys` (SSH public keys, one `authorized_keys`
//! line each) log in over SFTP; an account with only keys takes no password.
//! gzip-compressed files are not read.
//!
//! Plain passwords are compared in constant time; an unknown user costs the
//! same PBKDF2 derivation as a known one.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod authenticator;
mod error;
mod file;
mod ip;
mod perms;
mod secret;
mod user;

pub use authenticator::JsonAuthenticator;
pub use error::JsonUsersError;
pub use ip::IpRanges;
pub use perms::{VfsOp, VfsPerms};
pub use user::{ClientCert, JsonUser, Limits};
