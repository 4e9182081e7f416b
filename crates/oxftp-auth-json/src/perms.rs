//! unFTP's per-user `vfs_perms`: which file operations an account may use.
//!
//! The list is applied in order, starting from "everything allowed":
//! `"none"` clears all, `"all"` sets all, `"-op"` removes one operation and
//! `"+op"` adds one back, so `["none", "+get", "+list"]` is a download-only
//! account and `["-del", "-rmdir"]` is an account that cannot delete.

use std::fmt;

/// One file operation that `vfs_perms` can allow or forbid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VfsOp {
    /// Create a directory (MKD).
    Mkdir,
    /// Remove a directory (RMD).
    Rmdir,
    /// Download a file (RETR).
    Get,
    /// Upload a file (STOR, APPE, STOU).
    Put,
    /// Delete a file (DELE).
    Del,
    /// Rename (RNFR/RNTO).
    Rename,
    /// Checksum a file (SITE MD5 / XMD5 and friends).
    Md5,
    /// List a directory (LIST, NLST, MLSD).
    List,
}

impl VfsOp {
    /// Every operation, in the order unFTP documents them.
    pub const ALL: [VfsOp; 8] =
        [VfsOp::Mkdir, VfsOp::Rmdir, VfsOp::Get, VfsOp::Put, VfsOp::Del, VfsOp::Rename, VfsOp::Md5, VfsOp::List];

    /// The name used in `vfs_perms` (`"ren"` for rename, as unFTP spells it).
    pub fn name(self) -> &'static str {
        match self {
            VfsOp::Mkdir => "mkdir",
            VfsOp::Rmdir => "rmdir",
            VfsOp::Get => "get",
            VfsOp::Put => "put",
            VfsOp::Del => "del",
            VfsOp::Rename => "ren",
            VfsOp::Md5 => "md5",
            VfsOp::List => "list",
        }
    }

    /// True for operations that change the storage.
    pub fn writes(self) -> bool {
        matches!(self, VfsOp::Mkdir | VfsOp::Rmdir | VfsOp::Put | VfsOp::Del | VfsOp::Rename)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    fn from_name(name: &str) -> Option<VfsOp> {
        VfsOp::ALL.into_iter().find(|op| op.name().eq_ignore_ascii_case(name))
    }
}

/// The set of operations an account may use; all of them unless the users
/// file says otherwise.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VfsPerms(u8);

impl VfsPerms {
    /// Every operation allowed (an account without `vfs_perms`).
    pub fn all() -> VfsPerms {
        VfsPerms(VfsOp::ALL.iter().fold(0, |bits, op| bits | op.bit()))
    }

    /// Nothing allowed.
    pub fn none() -> VfsPerms {
        VfsPerms(0)
    }

    /// Whether `op` is allowed.
    pub fn allows(self, op: VfsOp) -> bool {
        self.0 & op.bit() != 0
    }

    /// Allows `op` as well.
    pub fn insert(&mut self, op: VfsOp) {
        self.0 |= op.bit();
    }

    /// Forbids `op`.
    pub fn remove(&mut self, op: VfsOp) {
        self.0 &= !op.bit();
    }

    /// True when at least one operation that changes the storage is allowed;
    /// an account without any is read-only.
    pub fn can_write(self) -> bool {
        VfsOp::ALL.into_iter().any(|op| op.writes() && self.allows(op))
    }

    /// Applies unFTP's `vfs_perms` list in order, starting from all allowed.
    /// Names are case-insensitive; an unknown entry is an error (a typo must
    /// not leave an operation allowed that the administrator meant to forbid).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<VfsPerms, String> {
        let mut perms = VfsPerms::all();
        for entry in entries {
            let entry = entry.as_ref();
            if entry.eq_ignore_ascii_case("none") {
                perms = VfsPerms::none();
            } else if entry.eq_ignore_ascii_case("all") {
                perms = VfsPerms::all();
            } else if let Some(op) = entry.strip_prefix('+').and_then(VfsOp::from_name) {
                perms.insert(op);
            } else if let Some(op) = entry.strip_prefix('-').and_then(VfsOp::from_name) {
                perms.remove(op);
            } else {
                let names: Vec<&str> = VfsOp::ALL.iter().map(|op| op.name()).collect();
                return Err(format!(
                    "unknown permission {entry:?}: expected \"none\", \"all\", or + or - before one of {}",
                    names.join(", ")
                ));
            }
        }
        Ok(perms)
    }
}

impl Default for VfsPerms {
    fn default() -> Self {
        VfsPerms::all()
    }
}

impl fmt::Debug for VfsPerms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let allowed = VfsOp::ALL.into_iter().filter(|op| self.allows(*op)).map(VfsOp::name);
        f.debug_set().entries(allowed).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_list_allows_everything() {
        let p = VfsPerms::parse::<&str>(&[]).unwrap();
        assert_eq!(p, VfsPerms::all());
        assert!(VfsOp::ALL.into_iter().all(|op| p.allows(op)));
        assert!(p.can_write());
    }

    #[test]
    fn minus_entries_remove_operations() {
        let p = VfsPerms::parse(&["-mkdir", "-rmdir", "-del", "-ren", "-md5"]).unwrap();
        for op in [VfsOp::Mkdir, VfsOp::Rmdir, VfsOp::Del, VfsOp::Rename, VfsOp::Md5] {
            assert!(!p.allows(op), "{op:?}");
        }
        for op in [VfsOp::Get, VfsOp::Put, VfsOp::List] {
            assert!(p.allows(op), "{op:?}");
        }
        assert!(p.can_write(), "put is still allowed");
    }

    #[test]
    fn none_then_plus_builds_up_from_nothing() {
        let p = VfsPerms::parse(&["none", "+put", "+MD5"]).unwrap();
        assert_eq!(format!("{p:?}"), r#"{"put", "md5"}"#);
        let read_only = VfsPerms::parse(&["none", "+get", "+list"]).unwrap();
        assert!(!read_only.can_write());
        // Order matters: "all" after "none" restores everything.
        assert_eq!(VfsPerms::parse(&["none", "all"]).unwrap(), VfsPerms::all());
        assert_eq!(VfsPerms::parse(&["-get", "+get"]).unwrap(), VfsPerms::all());
    }

    #[test]
    fn unknown_entries_are_refused() {
        for bad in ["mkdir", "-mkdirs", "+", "", "*", "-write"] {
            let e = VfsPerms::parse(&[bad]).unwrap_err();
            assert!(e.contains("unknown permission"), "{bad}: {e}");
        }
    }
}
