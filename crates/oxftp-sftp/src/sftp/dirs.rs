//! Directories: `SSH_FXP_OPENDIR`, `READDIR`, `MKDIR`, `RMDIR`.
//!
//! A listing is read from the storage page by page as the client asks for
//! more, so a huge directory never sits in memory whole.

use std::collections::VecDeque;

use oxftp_core::events::EventKind;
use oxftp_core::storage::{DirEntry, DirLister};
use oxftp_proto::path::VPath;
use russh_sftp::protocol::{Name, Packet, StatusCode};

use super::attrs::{entry, failed, now};
use super::handles::Handle;
use super::{Reply, SftpSession, ok, status};

/// Entries per `SSH_FXP_NAME` reply (as OpenSSH's server sends); also kept
/// under the packet limit, since names are at most a few KiB.
const ENTRIES_PER_REPLY: usize = 100;

/// A directory being listed.
pub(crate) struct DirHandle {
    path: VPath,
    lister: Option<Box<dyn DirLister>>,
    pending: VecDeque<DirEntry>,
}

impl DirHandle {
    /// A listing with nothing in it (tests).
    #[cfg(test)]
    pub(crate) fn empty() -> DirHandle {
        DirHandle { path: VPath::root(), lister: None, pending: VecDeque::new() }
    }

    pub(crate) fn path(&self) -> &VPath {
        &self.path
    }
}

impl SftpSession {
    /// `SSH_FXP_OPENDIR` `string path` → `SSH_FXP_HANDLE` or a status (the
    /// listing starts here, so a missing or unlistable directory fails now).
    pub(super) async fn opendir(&mut self, id: u32, path: &str) -> Reply {
        let path = match self.path(id, path) {
            Ok(path) => path,
            Err(reply) => return reply,
        };
        if self.handles.is_full() {
            return status(id, StatusCode::Failure, "Too many open handles");
        }
        let lister = match self.storage.list(&path).await {
            Ok(lister) => lister,
            Err(e) => return failed(id, &e),
        };
        let dir = DirHandle { path, lister: Some(lister), pending: VecDeque::new() };
        Packet::Handle(russh_sftp::protocol::Handle { id, handle: self.handles.insert(Handle::Dir(dir)) })
    }

    /// `SSH_FXP_READDIR` `string handle` → `SSH_FXP_NAME` with the next
    /// entries (name, `ls -l` line, attributes), or `SSH_FX_EOF` once all
    /// were sent.
    pub(super) async fn readdir(&mut self, id: u32, handle: &str) -> Reply {
        let dir = match self.handles.get_mut(handle) {
            Some(Handle::Dir(dir)) => dir,
            Some(_) => return status(id, StatusCode::Failure, "Not a directory handle"),
            None => return status(id, StatusCode::Failure, "No such handle"),
        };
        while dir.pending.len() < ENTRIES_PER_REPLY {
            let Some(lister) = dir.lister.as_mut() else { break };
            match lister.next_page().await {
                Ok(Some(page)) => dir.pending.extend(page),
                Ok(None) => dir.lister = None,
                Err(e) => {
                    dir.lister = None;
                    return failed(id, &e);
                }
            }
        }
        if dir.pending.is_empty() {
            return status(id, StatusCode::Eof, "End of directory");
        }
        let now = now();
        let count = dir.pending.len().min(ENTRIES_PER_REPLY);
        let files = dir.pending.drain(..count).map(|e| entry(&e.name, &e.info, now)).collect();
        Packet::Name(Name { id, files })
    }

    /// `SSH_FXP_MKDIR` `string path, ATTRS` → status (the attributes are
    /// not applied: directories get the storage's default mode).
    pub(super) async fn mkdir(&mut self, id: u32, path: &str) -> Reply {
        let path = match self.path(id, path) {
            Ok(path) => path,
            Err(reply) => return reply,
        };
        if !self.shared.report.admits(EventKind::Mkdir) {
            return status(id, StatusCode::Failure, "Changes are paused, try again later");
        }
        match self.storage.mkdir(&path).await {
            Ok(()) => {
                slog::info!(self.logger, "mkdir"; "path" => %path);
                self.shared.report.operation(EventKind::Mkdir, &self.identity, self.peer, &path, None).await;
                ok(id)
            }
            Err(e) => failed(id, &e),
        }
    }

    /// `SSH_FXP_RMDIR` `string path` → status.
    pub(super) async fn rmdir(&mut self, id: u32, path: &str) -> Reply {
        let path = match self.path(id, path) {
            Ok(path) => path,
            Err(reply) => return reply,
        };
        if path.is_root() {
            return status(id, StatusCode::PermissionDenied, "The home directory cannot be removed");
        }
        if !self.shared.report.admits(EventKind::Rmdir) {
            return status(id, StatusCode::Failure, "Changes are paused, try again later");
        }
        match self.storage.rmdir(&path).await {
            Ok(()) => {
                slog::info!(self.logger, "rmdir"; "path" => %path);
                self.shared.report.operation(EventKind::Rmdir, &self.identity, self.peer, &path, None).await;
                ok(id)
            }
            Err(e) => failed(id, &e),
        }
    }
}
