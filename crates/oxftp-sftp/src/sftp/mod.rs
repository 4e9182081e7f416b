//! One SFTP session (draft-ietf-secsh-filexfer-02, protocol version 3) on
//! an SSH channel: the packet loop and the dispatch to one handler per
//! request family.
//!
//! Packets are `uint32 length, byte type, ...`; [`russh_sftp`] encodes and
//! decodes them. Requests are answered one at a time, in order, as
//! OpenSSH's own `sftp-server` does; clients keep many requests in flight,
//! and the SSH channel window keeps them flowing. A packet longer than
//! [`MAX_PACKET`] or one that cannot be framed ends the session (the stream
//! cannot be resynchronised); one that frames but does not parse gets
//! `SSH_FX_BAD_MESSAGE` and the session goes on.
//!
//! When the session ends for any reason, uploads still open are aborted:
//! nothing half-written appears under its final name.

// A refusal is the reply packet itself, made once per request and sent at
// once: boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

mod attrs;
mod dirs;
mod extended;
mod files;
mod handles;
mod paths;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf as _, Bytes, BytesMut};
use oxftp_core::auth::Identity;
use oxftp_core::storage::Storage;
use oxftp_proto::path::VPath;
use russh::server::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use russh_sftp::protocol::{Packet, Status, StatusCode, Version};
use slog::Logger;

use self::handles::Handles;
use crate::server::Shared;

/// Longest SFTP packet taken from a client, length field excluded (OpenSSH's
/// `SFTP_MAX_MSG_LENGTH`).
pub(crate) const MAX_PACKET: usize = 256 * 1024;

/// Largest READ or WRITE data per request, as `limits@openssh.com` says.
pub(crate) const MAX_DATA: usize = MAX_PACKET - 1024;

/// What a handler answers: one reply packet.
type Reply = Packet;

/// One SFTP session: who, on which storage, with which open handles.
pub(crate) struct SftpSession {
    shared: Arc<Shared>,
    identity: Identity,
    storage: Arc<dyn Storage>,
    peer: SocketAddr,
    logger: Logger,
    handles: Handles,
    /// Where relative paths start: the account's home in its own view
    /// (`/` for a guest, whose home is its root).
    start: VPath,
    /// SSH_FXP_INIT was received (every other request must come after it).
    initialised: bool,
}

impl SftpSession {
    pub(crate) fn new(
        shared: Arc<Shared>,
        identity: Identity,
        storage: Arc<dyn Storage>,
        peer: SocketAddr,
        logger: Logger,
    ) -> SftpSession {
        let max_handles = shared.options.max_handles;
        let start = identity.start_dir();
        SftpSession {
            shared,
            identity,
            storage,
            peer,
            logger,
            handles: Handles::new(max_handles),
            start,
            initialised: false,
        }
    }

    /// Serves requests from `reader` until the client closes the channel or
    /// the connection ends, then aborts what is still open.
    pub(crate) async fn run(mut self, mut reader: ChannelReadHalf, writer: ChannelWriteHalf<Msg>) {
        let mut input = BytesMut::new();
        'session: loop {
            loop {
                match next_packet(&mut input) {
                    Ok(Some(packet)) => {
                        let reply = self.answer(packet).await;
                        match Bytes::try_from(reply) {
                            Ok(bytes) => {
                                if writer.data_bytes(bytes).await.is_err() {
                                    break 'session;
                                }
                            }
                            Err(e) => {
                                slog::error!(self.logger, "SFTP reply could not be encoded"; "error" => %e);
                                break 'session;
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(reason) => {
                        slog::warn!(self.logger, "SFTP session ended: bad framing"; "reason" => reason);
                        break 'session;
                    }
                }
            }
            match reader.wait().await {
                Some(ChannelMsg::Data { data }) => input.extend_from_slice(&data),
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => break,
                Some(_) => {}
            }
        }
        self.handles.close_all(&self.shared, &self.identity, self.peer, &self.logger).await;
        // As sshd does when its sftp-server exits: scp and ssh take a
        // missing exit status for a failure.
        let _ = writer.exit_status(0).await;
        let _ = writer.eof().await;
        let _ = writer.close().await;
        slog::debug!(self.logger, "SFTP session ended");
    }

    /// The reply to one framed packet.
    async fn answer(&mut self, mut packet: Bytes) -> Reply {
        let id = request_id(&packet);
        let request = match Packet::try_from(&mut packet) {
            Ok(request) => request,
            Err(e) => {
                slog::debug!(self.logger, "SFTP request not understood"; "error" => %e);
                return status(id, StatusCode::BadMessage, "Bad message");
            }
        };
        if let Packet::Init(init) = &request {
            slog::debug!(self.logger, "SFTP init"; "version" => init.version);
            self.initialised = true;
            return Packet::Version(version());
        }
        if !self.initialised {
            return status(id, StatusCode::BadMessage, "SSH_FXP_INIT must come first");
        }
        self.dispatch(request).await
    }

    /// One handler per request type (see the modules for each one's wire
    /// format and behaviour).
    async fn dispatch(&mut self, request: Packet) -> Reply {
        match request {
            Packet::Open(r) => self.open(r).await,
            Packet::Close(r) => self.close(r.id, &r.handle).await,
            Packet::Read(r) => self.read(r).await,
            Packet::Write(r) => self.write(r).await,
            Packet::Fstat(r) => self.fstat(r.id, &r.handle).await,
            Packet::FSetStat(r) => self.fsetstat(r.id, &r.handle, r.attrs).await,
            Packet::Stat(r) => self.stat(r.id, &r.path).await,
            Packet::Lstat(r) => self.stat(r.id, &r.path).await,
            Packet::SetStat(r) => self.setstat(r.id, &r.path, r.attrs).await,
            Packet::OpenDir(r) => self.opendir(r.id, &r.path).await,
            Packet::ReadDir(r) => self.readdir(r.id, &r.handle).await,
            Packet::Remove(r) => self.remove(r.id, &r.filename).await,
            Packet::MkDir(r) => self.mkdir(r.id, &r.path).await,
            Packet::RmDir(r) => self.rmdir(r.id, &r.path).await,
            Packet::RealPath(r) => self.realpath(r.id, &r.path),
            Packet::Rename(r) => self.rename(r.id, &r.oldpath, &r.newpath, false).await,
            Packet::ReadLink(r) => links_refused(r.id),
            Packet::Symlink(r) => links_refused(r.id),
            Packet::Extended(r) => self.extended(r).await,
            other => status(other.get_request_id(), StatusCode::BadMessage, "Not a request"),
        }
    }

    /// A client path in the session's view: SFTP has no current directory,
    /// so relative paths start at the account's home (what `realpath(".")`
    /// answers); absolute ones at the session's root.
    fn path(&self, id: u32, path: &str) -> Result<VPath, Reply> {
        self.start.resolve(path.as_bytes()).map_err(|e| status(id, StatusCode::Failure, &format!("Invalid path: {e}")))
    }
}

/// `SSH_FXP_VERSION`: protocol 3 and the extensions this server answers.
fn version() -> Version {
    let mut version = Version::new();
    for (name, revision) in extended::ADVERTISED {
        version.extensions.insert((*name).to_string(), (*revision).to_string());
    }
    version
}

/// The next whole packet in `input` (without its length field), `None`
/// when more bytes are needed, or why the stream cannot go on.
fn next_packet(input: &mut BytesMut) -> Result<Option<Bytes>, &'static str> {
    if input.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([input[0], input[1], input[2], input[3]]) as usize;
    if len == 0 {
        return Err("empty packet");
    }
    if len > MAX_PACKET {
        return Err("packet longer than 256 KiB");
    }
    if input.len() < 4 + len {
        input.reserve(4 + len - input.len());
        return Ok(None);
    }
    input.advance(4);
    Ok(Some(input.split_to(len).freeze()))
}

/// The request id of a packet (after its type byte), 0 if it has none: so
/// a request that does not parse still gets its status under its own id.
fn request_id(packet: &[u8]) -> u32 {
    match packet {
        [_, a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

/// An `SSH_FXP_STATUS` reply.
pub(crate) fn status(id: u32, code: StatusCode, message: &str) -> Reply {
    Packet::Status(Status { id, status_code: code, error_message: message.to_string(), language_tag: "en".to_string() })
}

/// `SSH_FXP_STATUS` OK.
pub(crate) fn ok(id: u32) -> Reply {
    status(id, StatusCode::Ok, "OK")
}

/// `SSH_FXP_READLINK` and `SSH_FXP_SYMLINK` → `SSH_FX_OP_UNSUPPORTED`:
/// links are neither made nor read, as on the FTP side (and a link made by
/// a client could point out of its home on a backend that follows it).
fn links_refused(id: u32) -> Reply {
    status(id, StatusCode::OpUnsupported, "Symbolic links are not supported")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_framed_by_their_length() {
        let mut input = BytesMut::from(&[0u8, 0, 0, 3, 1, 2][..]);
        assert_eq!(next_packet(&mut input), Ok(None));
        input.extend_from_slice(&[3, 0, 0]);
        assert_eq!(next_packet(&mut input).unwrap().unwrap(), Bytes::from_static(&[1, 2, 3]));
        assert_eq!(&input[..], &[0, 0]);
        let mut empty = BytesMut::from(&[0u8, 0, 0, 0][..]);
        assert!(next_packet(&mut empty).is_err());
        let mut huge = BytesMut::from(&[0u8, 0x10, 0, 0, 1][..]);
        assert!(next_packet(&mut huge).is_err());
    }

    #[test]
    fn a_request_id_is_read_after_the_type() {
        assert_eq!(request_id(&[5, 0, 0, 1, 2, 9]), 258);
        assert_eq!(request_id(&[5, 0]), 0);
    }
}
