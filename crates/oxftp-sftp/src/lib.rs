//! SFTP for oxftp: a second front end on the same engine.
//!
//! An [`SftpServer`] serves SFTP (version 3, what OpenSSH speaks, and so
//! OpenSSH 9's `scp`) over SSH with the very pieces an FTP
//! [`Server`](oxftp_core::Server) uses: a logged-in user's storage comes
//! from the shared [`Stack`](oxftp_core::policy::Stack) (home confinement,
//! per-directory permissions, anonymous and read-only rules, quotas,
//! bandwidth), accounts from the same
//! [`Authenticator`](oxftp_core::Authenticator) (passwords, and SSH keys
//! through [`Authenticator::public_key_login`](oxftp_core::Authenticator::public_key_login)),
//! and session limits and failed-login bans from the same
//! [`Admission`](oxftp_core::admission::Admission). Give both front ends the
//! same three and an account's quota, bandwidth, session count and bans are
//! counted once across FTP and SFTP.
//!
//! SSH is [`russh`] (with the `ring` crypto backend) and SFTP's packets are
//! [`russh_sftp`]'s codec; this crate is the glue: which requests map to
//! which storage calls, and what SSH allows (the `sftp` subsystem on session
//! channels, nothing else: no shell, no exec, no forwarding).
//!
//! What a client sees:
//! - `/` is the session's root as the stack gives it (a guest's home; what
//!   a user may reach), and relative paths start at the account's home, as
//!   an FTP session starts there; `..`, absolute paths and symlinks never
//!   leave the root.
//! - Uploads are atomic where the storage is: a file opened for writing
//!   with `TRUNC` (or created) is written under a temporary name and appears
//!   under its own name when the client closes the handle; a connection
//!   that drops first leaves nothing. Writes must arrive in order (OpenSSH,
//!   rclone, lftp and paramiko all send them so); a write that skips ahead
//!   or goes back is refused.
//! - A file opened for writing without `TRUNC` (`reput`, resumed uploads)
//!   continues at the offset of its first write, as FTP's `REST` + `STOR`:
//!   in place on local disk, refused with `SSH_FX_OP_UNSUPPORTED` where the
//!   storage cannot write at an offset (S3).
//! - Errors are SFTP v3 status codes: `NO_SUCH_FILE`, `PERMISSION_DENIED`,
//!   `OP_UNSUPPORTED` for what the storage cannot do, and `FAILURE` with the
//!   reason as text for the rest (v3 has no code for "quota exceeded").
//! - Symbolic links are neither created nor read (as on the FTP side);
//!   `lstat` answers like `stat`.

#![forbid(unsafe_code)]

mod cut;
pub mod host_keys;
mod options;
mod report;
mod server;
mod sftp;
mod ssh;

pub use options::SftpOptions;
pub use server::SftpServer;

/// The SSH library's key types, for embedders that make or load host keys.
pub use russh::keys::{Algorithm, HashAlg, PrivateKey, PublicKey};
