//! Paths: `SSH_FXP_STAT`, `LSTAT`, `SETSTAT`, `REMOVE`, `RENAME`,
//! `REALPATH`.

use oxftp_core::events::EventKind;
use oxftp_core::storage::{Capabilities, ErrorKind};
use oxftp_proto::path::VPath;
use russh_sftp::protocol::{Attrs, File, FileAttributes, Name, Packet, StatusCode};

use super::attrs::{attributes, failed};
use super::{Reply, SftpSession, ok, status};

impl SftpSession {
    /// `SSH_FXP_STAT` / `SSH_FXP_LSTAT` `string path` → `SSH_FXP_ATTRS`.
    /// Both follow links: links inside the home are followed by the
    /// storage, others do not exist for the client.
    pub(super) async fn stat(&mut self, id: u32, path: &str) -> Reply {
        let path = match self.path(id, path) {
            Ok(path) => path,
            Err(reply) => return reply,
        };
        match self.storage.metadata(&path).await {
            Ok(info) => Packet::Attrs(Attrs { id, attrs: attributes(&info) }),
            Err(e) => failed(id, &e),
        }
    }

    /// `SSH_FXP_SETSTAT` `string path, ATTRS` → status: permission bits
    /// (`chmod`) and the modification time, where the storage can set
    /// them; a size other than the current one, owners and groups are
    /// refused with `SSH_FX_OP_UNSUPPORTED`.
    pub(super) async fn setstat(&mut self, id: u32, path: &str, attrs: FileAttributes) -> Reply {
        let path = match self.path(id, path) {
            Ok(path) => path,
            Err(reply) => return reply,
        };
        self.set_attributes(id, &path, attrs).await
    }

    /// Checks `attrs` against the storage, then sets them on `path`.
    pub(super) async fn set_attributes(&mut self, id: u32, path: &VPath, attrs: FileAttributes) -> Reply {
        let size = match attrs.size {
            Some(_) => match self.storage.metadata(path).await {
                Ok(info) => Some(info.size),
                Err(e) => return failed(id, &e),
            },
            None => None,
        };
        if let Err(reply) = settable(id, &attrs, self.storage.capabilities(), size) {
            return reply;
        }
        match self.apply(path, attrs).await {
            Ok(()) => ok(id),
            Err(e) => failed(id, &e),
        }
    }

    /// Sets the mode and time in `attrs` (already checked with [`settable`]).
    pub(super) async fn apply(
        &mut self,
        path: &VPath,
        attrs: FileAttributes,
    ) -> Result<(), oxftp_core::storage::StorageError> {
        if let Some(mode) = attrs.permissions {
            let allowed = if self.shared.options.chmod_special_bits { 0o7777 } else { 0o777 };
            self.storage.set_mode(path, mode & allowed).await?;
        }
        if let Some(mtime) = attrs.mtime {
            self.storage.set_mtime(path, i64::from(mtime)).await?;
        }
        Ok(())
    }

    /// `SSH_FXP_REMOVE` `string filename` → status.
    pub(super) async fn remove(&mut self, id: u32, path: &str) -> Reply {
        let path = match self.path(id, path) {
            Ok(path) => path,
            Err(reply) => return reply,
        };
        if !self.shared.report.admits(EventKind::Delete) {
            return status(id, StatusCode::Failure, "Changes are paused, try again later");
        }
        match self.storage.delete(&path).await {
            Ok(()) => {
                slog::info!(self.logger, "delete"; "path" => %path);
                self.shared.report.operation(EventKind::Delete, &self.identity, self.peer, &path, None).await;
                ok(id)
            }
            Err(e) => failed(id, &e),
        }
    }

    /// `SSH_FXP_RENAME` `string oldpath, string newpath` → status. Plain
    /// SFTP v3 renames never replace: an existing target is a failure.
    /// `posix-rename@openssh.com` (`replace`) replaces a file, as
    /// rename(2) does.
    pub(super) async fn rename(&mut self, id: u32, from: &str, to: &str, replace: bool) -> Reply {
        let (from, to) = match (self.path(id, from), self.path(id, to)) {
            (Ok(from), Ok(to)) => (from, to),
            (Err(reply), _) | (_, Err(reply)) => return reply,
        };
        if from.is_root() || to.is_root() {
            return status(id, StatusCode::PermissionDenied, "The home directory cannot be renamed");
        }
        if !self.shared.report.admits(EventKind::Rename) {
            return status(id, StatusCode::Failure, "Changes are paused, try again later");
        }
        if !replace && from != to {
            match self.storage.metadata(&to).await {
                Ok(_) => return status(id, StatusCode::Failure, "Target exists"),
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => return failed(id, &e),
            }
        }
        match self.storage.rename(&from, &to).await {
            Ok(()) => {
                slog::info!(self.logger, "rename"; "from" => %from, "to" => %to);
                self.shared.report.operation(EventKind::Rename, &self.identity, self.peer, &from, Some(&to)).await;
                ok(id)
            }
            Err(e) => failed(id, &e),
        }
    }

    /// `SSH_FXP_REALPATH` `string path` → `SSH_FXP_NAME` with the absolute,
    /// normalised path (`.` is `/`, the home; `..` never goes above it).
    pub(super) fn realpath(&self, id: u32, path: &str) -> Reply {
        match self.path(id, path) {
            Ok(path) => {
                let name = String::from_utf8_lossy(path.as_bytes()).into_owned();
                Packet::Name(Name { id, files: vec![File::dummy(name)] })
            }
            Err(reply) => reply,
        }
    }
}

/// Whether `attrs` can be set on a file of `size` bytes on a storage with
/// `capabilities`: mode and time where it can, the size only when it does
/// not change, owners never.
pub(super) fn settable(
    id: u32,
    attrs: &FileAttributes,
    capabilities: Capabilities,
    size: Option<u64>,
) -> Result<(), Reply> {
    if attrs.uid.is_some() || attrs.gid.is_some() {
        return Err(status(id, StatusCode::OpUnsupported, "Owners and groups cannot be changed"));
    }
    if let Some(wanted) = attrs.size
        && Some(wanted) != size
    {
        return Err(status(id, StatusCode::OpUnsupported, "Truncating or extending a file is not supported"));
    }
    if attrs.permissions.is_some() && !capabilities.set_mode {
        return Err(status(id, StatusCode::OpUnsupported, "This storage has no permission bits"));
    }
    if attrs.mtime.is_some() && !capabilities.set_mtime {
        return Err(status(id, StatusCode::OpUnsupported, "This storage cannot set modification times"));
    }
    Ok(())
}
