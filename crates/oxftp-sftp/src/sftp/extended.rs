//! `SSH_FXP_EXTENDED` requests: OpenSSH's extensions this server answers
//! (see OpenSSH's PROTOCOL file, section 4).

use russh_sftp::protocol::{Extended, ExtendedReply, Packet, StatusCode};
use serde::{Deserialize, Serialize};

use super::{MAX_DATA, MAX_PACKET, Reply, SftpSession, status};

/// The extensions announced in `SSH_FXP_VERSION`, with their revisions.
pub(super) const ADVERTISED: &[(&str, &str)] = &[(POSIX_RENAME, "1"), (LIMITS, "1")];

const POSIX_RENAME: &str = "posix-rename@openssh.com";
const LIMITS: &str = "limits@openssh.com";

/// `posix-rename@openssh.com`'s request data.
#[derive(Deserialize)]
struct PosixRename {
    oldpath: String,
    newpath: String,
}

/// `limits@openssh.com`'s reply data.
#[derive(Serialize)]
struct Limits {
    max_packet_length: u64,
    max_read_length: u64,
    max_write_length: u64,
    max_open_handles: u64,
}

impl SftpSession {
    /// `SSH_FXP_EXTENDED` `string request, ...`:
    /// - `posix-rename@openssh.com` `string oldpath, string newpath` →
    ///   status: a rename that replaces an existing file (what OpenSSH's
    ///   `rename` uses when offered);
    /// - `limits@openssh.com` → `SSH_FXP_EXTENDED_REPLY` `uint64
    ///   max-packet-length, uint64 max-read-length, uint64
    ///   max-write-length, uint64 max-open-handles`, so clients size their
    ///   requests to what this server takes;
    /// - anything else → `SSH_FX_OP_UNSUPPORTED`.
    pub(super) async fn extended(&mut self, request: Extended) -> Reply {
        let id = request.id;
        match request.request.as_str() {
            POSIX_RENAME => {
                let mut data = bytes::Bytes::from(request.data);
                match russh_sftp::de::from_bytes::<PosixRename>(&mut data) {
                    Ok(r) => self.rename(id, &r.oldpath, &r.newpath, true).await,
                    Err(_) => status(id, StatusCode::BadMessage, "Bad posix-rename request"),
                }
            }
            LIMITS => {
                let limits = Limits {
                    max_packet_length: MAX_PACKET as u64,
                    max_read_length: MAX_DATA as u64,
                    max_write_length: MAX_DATA as u64,
                    max_open_handles: self.shared.options.max_handles as u64,
                };
                match russh_sftp::ser::to_bytes(&limits) {
                    Ok(data) => Packet::ExtendedReply(ExtendedReply { id, data: data.to_vec() }),
                    Err(_) => status(id, StatusCode::Failure, "Limits could not be encoded"),
                }
            }
            other => {
                slog::debug!(self.logger, "SFTP extension not supported"; "extension" => other);
                status(id, StatusCode::OpUnsupported, "Extension not supported")
            }
        }
    }
}
