//! `Permissions`: enforce an account's per-directory [`account::Permissions`](crate::account::Permissions).
//!
//! Every storage call is mapped to the [`Permission`](crate::account::Permission) it needs at the path it
//! touches (paths are in the session's view, so rules name directories as
//! the user sees them):
//!
//! | call | permission |
//! |---|---|
//! | `list` | `List` at the listed directory |
//! | `open_read` | `Read` |
//! | `open_write` `Create`, `At(0)` | `Upload` for a new file, `Overwrite` for an existing one (`Create { exclusive: true }`: `Upload` only) |
//! | `open_write` `At(n > 0)` | `Append` |
//! | `open_write` `Append` | `Append`, plus `Upload` if the file does not exist yet |
//! | `delete` | `Delete` |
//! | `mkdir` | `Mkdir` at the new directory's path |
//! | `rmdir` | `Rmdir` |
//! | `rename` | `Rename` at both the source and the destination |
//! | `rename_source` (RNFR) | `Rename` at the source |
//! | `set_mode` | `Chmod` |
//! | `set_mtime` | `SetMtime` |
//! | `metadata` | always allowed: clients need it to navigate (CWD, SIZE, MDTM) |
//!
//! Two choices go beyond a one-to-one mapping, both to close loopholes:
//! APPE to a missing file creates it, so it also needs `Upload`; and a user
//! without `Overwrite` who uploads a new name gets an exclusive create, so a
//! file another session puts there during the upload is not replaced at
//! commit.
//!
//! Refusals are `PermissionDenied` and name the permission and the directory,
//! e.g. "Permission denied: no 'delete' permission in /archive", so a user can
//! tell a rule from a backend error.

use oxftp_proto::path::VPath;

use super::guard::{Guard, Op};
use crate::account::{self, Permission};
use crate::storage::{ErrorKind, Existing, StorageError, WriteMode};

/// The rule that checks each call against an account's per-directory
/// permissions.
#[derive(Debug, Clone)]
pub struct Permissions {
    rules: account::Permissions,
}

/// What a refusal names as the place: a directory itself for operations on a
/// directory (`list`, `mkdir`, `rmdir`), otherwise the directory holding the
/// file.
#[derive(Clone, Copy)]
enum Place {
    Itself,
    Parent,
}

impl Permissions {
    /// Every call must be allowed by `rules`.
    pub fn new(rules: account::Permissions) -> Self {
        Permissions { rules }
    }

    /// The rules this guard enforces.
    pub fn rules(&self) -> &account::Permissions {
        &self.rules
    }

    /// Refuse unless `permission` applies at `path`.
    fn require(&self, permission: Permission, path: &VPath, place: Place) -> Result<(), StorageError> {
        if self.rules.at(path).contains(permission) {
            return Ok(());
        }
        let shown = match place {
            Place::Itself => path.clone(),
            Place::Parent => path.parent().unwrap_or_else(VPath::root),
        };
        Err(denied(permission, &shown))
    }
}

/// The refusal for a missing permission.
fn denied(permission: Permission, dir: &VPath) -> StorageError {
    StorageError::new(
        ErrorKind::PermissionDenied,
        format!("Permission denied: no '{}' permission in {dir}", permission.name()),
    )
}

/// Whether a write in `mode` decides between Upload and Overwrite (or also
/// needs Upload) by what is already there.
fn depends_on_existing(mode: WriteMode) -> bool {
    matches!(mode, WriteMode::Create { exclusive: false } | WriteMode::At(0) | WriteMode::Append)
}

impl Guard for Permissions {
    fn check(&self, op: &Op<'_>) -> Result<(), StorageError> {
        match *op {
            Op::Metadata { .. } => Ok(()),
            Op::List { path } => self.require(Permission::List, path, Place::Itself),
            Op::Read { path, .. } => self.require(Permission::Read, path, Place::Parent),
            Op::Write { path, mode, existing } => {
                // An error looking (other than "not there") counts as "not a
                // file": the write reports it itself, and the stricter
                // permission is never skipped because of it.
                let is_file = existing.file_size().is_some();
                match mode {
                    WriteMode::Create { exclusive: true } => self.require(Permission::Upload, path, Place::Parent),
                    WriteMode::Create { exclusive: false } | WriteMode::At(0) if is_file => {
                        self.require(Permission::Overwrite, path, Place::Parent)
                    }
                    WriteMode::Create { exclusive: false } | WriteMode::At(0) => {
                        self.require(Permission::Upload, path, Place::Parent)
                    }
                    WriteMode::At(_) => self.require(Permission::Append, path, Place::Parent),
                    WriteMode::Append => {
                        self.require(Permission::Append, path, Place::Parent)?;
                        if is_file { Ok(()) } else { self.require(Permission::Upload, path, Place::Parent) }
                    }
                }
            }
            Op::Delete { path } => self.require(Permission::Delete, path, Place::Parent),
            Op::Mkdir { path } => self.require(Permission::Mkdir, path, Place::Itself),
            Op::Rmdir { path } => self.require(Permission::Rmdir, path, Place::Itself),
            Op::Rename { from, to } => {
                self.require(Permission::Rename, from, Place::Parent)?;
                self.require(Permission::Rename, to, Place::Parent)
            }
            Op::RenameFrom { path } => self.require(Permission::Rename, path, Place::Parent),
            Op::SetMode { path, .. } => self.require(Permission::Chmod, path, Place::Parent),
            Op::SetMtime { path, .. } => self.require(Permission::SetMtime, path, Place::Parent),
        }
    }

    fn needs_existing(&self, mode: WriteMode) -> bool {
        depends_on_existing(mode)
    }

    /// A new file by a user without `Overwrite` is created exclusively, so a
    /// file another session puts there during the upload is not replaced.
    fn write_mode(&self, path: &VPath, mode: WriteMode, existing: Existing) -> WriteMode {
        let new_file = existing.file_size().is_none();
        match mode {
            WriteMode::Create { exclusive: false } | WriteMode::At(0)
                if new_file && !self.rules.at(path).contains(Permission::Overwrite) =>
            {
                WriteMode::Create { exclusive: true }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::account::{DirRule, PermissionSet, Permissions as Rules};
    use crate::memory::MemoryStorage;
    use crate::policy::Guarded;
    use crate::storage::Storage;
    use crate::test_util::helpers::{err_of, list_names, p, read_all, upload};
    use tokio::io::AsyncWriteExt;

    /// A layer where `/` has `default` and `dir` has `allow`.
    fn layer(default: PermissionSet, dir: &str, allow: PermissionSet) -> (MemoryStorage, Guarded<Permissions>) {
        let mem = MemoryStorage::new();
        mem.put_file(&p("/top.txt"), "top").unwrap();
        mem.put_file(&p("/archive/old.txt"), "old").unwrap();
        mem.create_dir_all(&p("/archive/empty")).unwrap();
        let perms = Rules { default, rules: vec![DirRule { dir: p(dir), allow }] };
        (mem.clone(), Guarded::new(Arc::new(mem), Permissions::new(perms)))
    }

    /// A layer where `/archive` has everything but `missing`.
    fn all_but(missing: Permission) -> (MemoryStorage, Guarded<Permissions>) {
        layer(PermissionSet::all(), "/archive", PermissionSet::all().without(missing))
    }

    fn assert_denied<T>(r: Result<T, StorageError>, permission: Permission, dir: &str) {
        let e = err_of(r);
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert_eq!(e.message, format!("Permission denied: no '{}' permission in {dir}", permission.name()));
    }

    async fn write(s: &dyn Storage, path: &str, mode: WriteMode, data: &[u8]) -> Result<(), StorageError> {
        let mut w = s.open_write(&p(path), mode).await?;
        w.write_all(data).await?;
        w.commit().await
    }

    #[tokio::test]
    async fn message_names_the_permission_and_directory() {
        let (_, s) = all_but(Permission::Delete);
        let e = err_of(s.delete(&p("/archive/old.txt")).await);
        assert_eq!(e.message, "Permission denied: no 'delete' permission in /archive");
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
    }

    #[tokio::test]
    async fn list_needs_list_at_the_directory() {
        let (_, s) = all_but(Permission::List);
        assert_denied(s.list(&p("/archive")).await, Permission::List, "/archive");
        assert_denied(s.list(&p("/archive/empty")).await, Permission::List, "/archive/empty");
        assert_eq!(list_names(&s, "/").await.unwrap(), vec![b"archive".to_vec(), b"top.txt".to_vec()]);
    }

    #[tokio::test]
    async fn metadata_is_always_allowed() {
        let (_, s) = layer(PermissionSet::none(), "/archive", PermissionSet::none());
        assert_eq!(s.metadata(&p("/archive/old.txt")).await.unwrap().size, 3);
        assert!(s.metadata(&p("/archive")).await.unwrap().is_dir());
        assert_eq!(s.metadata(&p("/nothing")).await.unwrap_err().kind, ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn read_needs_read() {
        let (_, s) = all_but(Permission::Read);
        assert_denied(s.open_read(&p("/archive/old.txt"), 0).await, Permission::Read, "/archive");
        assert_eq!(read_all(&s, "/top.txt").await.unwrap(), b"top");
    }

    #[tokio::test]
    async fn new_file_needs_upload_existing_needs_overwrite() {
        let (mem, s) = all_but(Permission::Overwrite);
        upload(&s, "/archive/new.txt", b"new").await.unwrap();
        assert_eq!(mem.file_contents(&p("/archive/new.txt")).unwrap(), b"new");
        let replace = s.open_write(&p("/archive/old.txt"), WriteMode::Create { exclusive: false }).await;
        assert_denied(replace, Permission::Overwrite, "/archive");
        assert_denied(s.open_write(&p("/archive/old.txt"), WriteMode::At(0)).await, Permission::Overwrite, "/archive");
        assert_eq!(mem.file_contents(&p("/archive/old.txt")).unwrap(), b"old");

        let (mem, s) = all_but(Permission::Upload);
        upload(&s, "/archive/old.txt", b"replaced").await.unwrap();
        assert_eq!(mem.file_contents(&p("/archive/old.txt")).unwrap(), b"replaced");
        for mode in [WriteMode::Create { exclusive: false }, WriteMode::Create { exclusive: true }, WriteMode::At(0)] {
            assert_denied(s.open_write(&p("/archive/new"), mode).await, Permission::Upload, "/archive");
        }
    }

    #[tokio::test]
    async fn exclusive_create_needs_only_upload() {
        let (mem, s) = layer(PermissionSet::all(), "/archive", [Permission::Upload].into_iter().collect());
        write(&s, "/archive/x", WriteMode::Create { exclusive: true }, b"x").await.unwrap();
        assert_eq!(mem.file_contents(&p("/archive/x")).unwrap(), b"x");
        // An existing name is the backend's AlreadyExists, not a permission refusal.
        let e = err_of(s.open_write(&p("/archive/old.txt"), WriteMode::Create { exclusive: true }).await);
        assert_eq!(e.kind, ErrorKind::AlreadyExists);
    }

    #[tokio::test]
    async fn without_overwrite_a_name_taken_during_upload_is_not_replaced() {
        let (mem, s) = all_but(Permission::Overwrite);
        let mut w = s.open_write(&p("/archive/race"), WriteMode::Create { exclusive: false }).await.unwrap();
        w.write_all(b"mine").await.unwrap();
        mem.put_file(&p("/archive/race"), "theirs").unwrap();
        assert_eq!(w.commit().await.unwrap_err().kind, ErrorKind::AlreadyExists);
        assert_eq!(mem.file_contents(&p("/archive/race")).unwrap(), b"theirs");
    }

    #[tokio::test]
    async fn resume_and_append_need_append() {
        let (mem, s) = all_but(Permission::Append);
        assert_denied(s.open_write(&p("/archive/old.txt"), WriteMode::At(2)).await, Permission::Append, "/archive");
        assert_denied(s.open_write(&p("/archive/old.txt"), WriteMode::Append).await, Permission::Append, "/archive");
        assert_eq!(mem.file_contents(&p("/archive/old.txt")).unwrap(), b"old");

        let (mem, s) = layer(PermissionSet::all(), "/archive", [Permission::Append].into_iter().collect());
        write(&s, "/archive/old.txt", WriteMode::Append, b"+").await.unwrap();
        write(&s, "/archive/old.txt", WriteMode::At(1), b"LD").await.unwrap();
        assert_eq!(mem.file_contents(&p("/archive/old.txt")).unwrap(), b"oLD");
        // APPE to a missing file creates it, which is an upload.
        assert_denied(s.open_write(&p("/archive/fresh"), WriteMode::Append).await, Permission::Upload, "/archive");
        let (mem, s) = all_but(Permission::Overwrite);
        write(&s, "/archive/fresh", WriteMode::Append, b"f").await.unwrap();
        assert_eq!(mem.file_contents(&p("/archive/fresh")).unwrap(), b"f");
    }

    #[tokio::test]
    async fn delete_mkdir_rmdir_chmod_mtime_each_need_their_own() {
        let (mem, s) = all_but(Permission::Delete);
        assert_denied(s.delete(&p("/archive/old.txt")).await, Permission::Delete, "/archive");
        s.delete(&p("/top.txt")).await.unwrap();
        assert!(mem.file_contents(&p("/archive/old.txt")).is_ok());

        let (_, s) = all_but(Permission::Mkdir);
        assert_denied(s.mkdir(&p("/archive/d")).await, Permission::Mkdir, "/archive/d");
        s.mkdir(&p("/d")).await.unwrap();

        let (_, s) = all_but(Permission::Rmdir);
        assert_denied(s.rmdir(&p("/archive/empty")).await, Permission::Rmdir, "/archive/empty");

        let (mem, s) = all_but(Permission::Chmod);
        assert_denied(s.set_mode(&p("/archive/old.txt"), 0o600).await, Permission::Chmod, "/archive");
        s.set_mode(&p("/top.txt"), 0o600).await.unwrap();
        assert_eq!(mem.metadata(&p("/top.txt")).await.unwrap().mode, Some(0o600));

        let (_, s) = all_but(Permission::SetMtime);
        assert_denied(s.set_mtime(&p("/archive/old.txt"), 5).await, Permission::SetMtime, "/archive");
        s.set_mtime(&p("/top.txt"), 5).await.unwrap();
    }

    #[tokio::test]
    async fn mkdir_is_checked_at_the_new_directory() {
        // A rule on the new directory's own path applies to creating it.
        let (mem, s) = layer(PermissionSet::all(), "/archive/locked", PermissionSet::all().without(Permission::Mkdir));
        assert_denied(s.mkdir(&p("/archive/locked")).await, Permission::Mkdir, "/archive/locked");
        assert_eq!(mem.metadata(&p("/archive/locked")).await.unwrap_err().kind, ErrorKind::NotFound);
        s.mkdir(&p("/archive/open")).await.unwrap();
    }

    #[tokio::test]
    async fn rename_needs_rename_at_both_ends() {
        let (mem, s) = all_but(Permission::Rename);
        assert_denied(s.rename(&p("/archive/old.txt"), &p("/moved")).await, Permission::Rename, "/archive");
        assert_denied(s.rename(&p("/top.txt"), &p("/archive/top.txt")).await, Permission::Rename, "/archive");
        // RNFR already knows about the source's directory.
        assert_denied(s.rename_source(&p("/archive/old.txt")).await, Permission::Rename, "/archive");
        assert!(s.rename_source(&p("/top.txt")).await.unwrap().is_file());
        s.rename(&p("/top.txt"), &p("/renamed")).await.unwrap();
        assert_eq!(mem.file_contents(&p("/renamed")).unwrap(), b"top");
        assert!(mem.file_contents(&p("/archive/old.txt")).is_ok());
    }

    #[tokio::test]
    async fn most_specific_rule_wins_and_default_applies_elsewhere() {
        let perms = Rules {
            default: PermissionSet::read_only(),
            rules: vec![
                DirRule { dir: p("/archive"), allow: PermissionSet::all() },
                DirRule { dir: p("/archive/empty"), allow: PermissionSet::none() },
            ],
        };
        let mem = MemoryStorage::new();
        mem.put_file(&p("/top.txt"), "top").unwrap();
        mem.create_dir_all(&p("/archive/empty")).unwrap();
        let s = Guarded::new(Arc::new(mem.clone()), Permissions::new(perms.clone()));
        assert_eq!(s.guard().rules(), &perms);
        assert_denied(s.delete(&p("/top.txt")).await, Permission::Delete, "/");
        upload(&s, "/archive/a", b"a").await.unwrap();
        assert_denied(
            s.open_write(&p("/archive/empty/b"), WriteMode::Append).await,
            Permission::Append,
            "/archive/empty",
        );
        assert_denied(s.list(&p("/archive/empty")).await, Permission::List, "/archive/empty");
        assert_eq!(read_all(&s, "/top.txt").await.unwrap(), b"top");
        assert_eq!(s.capabilities(), mem.capabilities());
    }
}
