//! What an account may do and how much of the server it may use: the
//! permission set (per user, refined per directory), quotas, bandwidth and
//! session limits, and the client addresses it may log in from. Authenticators
//! fill these in on the [`Identity`](crate::auth::Identity); the engine and the
//! policy layers enforce them.

use std::net::IpAddr;

use oxftp_proto::path::VPath;

/// One operation a permission can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// LIST, NLST, MLSD, STAT path.
    List,
    /// RETR.
    Read,
    /// STOR/STOU of a file that does not exist yet.
    Upload,
    /// STOR over an existing file.
    Overwrite,
    /// APPE, and REST + STOR (resume).
    Append,
    /// DELE.
    Delete,
    /// RNFR/RNTO.
    Rename,
    /// MKD.
    Mkdir,
    /// RMD.
    Rmdir,
    /// SITE CHMOD.
    Chmod,
    /// MFMT.
    SetMtime,
}

impl Permission {
    /// Every permission, in a fixed order.
    pub const ALL: [Permission; 11] = [
        Permission::List,
        Permission::Read,
        Permission::Upload,
        Permission::Overwrite,
        Permission::Append,
        Permission::Delete,
        Permission::Rename,
        Permission::Mkdir,
        Permission::Rmdir,
        Permission::Chmod,
        Permission::SetMtime,
    ];

    /// The config-file name (`list`, `read`, `upload`, `overwrite`, `append`, `delete`,
    /// `rename`, `mkdir`, `rmdir`, `chmod`, `set_mtime`).
    pub fn name(self) -> &'static str {
        match self {
            Permission::List => "list",
            Permission::Read => "read",
            Permission::Upload => "upload",
            Permission::Overwrite => "overwrite",
            Permission::Append => "append",
            Permission::Delete => "delete",
            Permission::Rename => "rename",
            Permission::Mkdir => "mkdir",
            Permission::Rmdir => "rmdir",
            Permission::Chmod => "chmod",
            Permission::SetMtime => "set_mtime",
        }
    }

    /// Parse a config-file name.
    pub fn from_name(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == name)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of permissions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PermissionSet(u16);

impl PermissionSet {
    /// Everything.
    pub fn all() -> PermissionSet {
        Permission::ALL.into_iter().collect()
    }
    /// Nothing.
    pub fn none() -> PermissionSet {
        PermissionSet(0)
    }
    /// List and read only.
    pub fn read_only() -> PermissionSet {
        [Permission::List, Permission::Read].into_iter().collect()
    }
    pub fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }
    pub fn with(self, p: Permission) -> PermissionSet {
        PermissionSet(self.0 | p.bit())
    }
    pub fn without(self, p: Permission) -> PermissionSet {
        PermissionSet(self.0 & !p.bit())
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        iter.into_iter().fold(PermissionSet::none(), PermissionSet::with)
    }
}

impl std::fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(Permission::ALL.into_iter().filter(|p| self.contains(*p)).map(Permission::name)).finish()
    }
}

/// Permissions for one directory and everything below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirRule {
    /// In the user's view (`/upload`).
    pub dir: VPath,
    pub allow: PermissionSet,
}

/// A user's permissions: a default, refined per directory (the most specific rule wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    pub default: PermissionSet,
    pub rules: Vec<DirRule>,
}

impl Default for Permissions {
    fn default() -> Self {
        Permissions { default: PermissionSet::all(), rules: Vec::new() }
    }
}

impl Permissions {
    /// The permissions that apply at `path` (a file, or a directory itself).
    pub fn at(&self, path: &VPath) -> PermissionSet {
        self.rules
            .iter()
            .filter(|r| path.starts_with(&r.dir))
            .max_by_key(|r| r.dir.as_bytes().len())
            .map_or(self.default, |r| r.allow)
    }

    /// Whether no rule restricts anything (so no layer is needed).
    pub fn is_unrestricted(&self) -> bool {
        self.default == PermissionSet::all() && self.rules.iter().all(|r| r.allow == PermissionSet::all())
    }
}

/// How much an account may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes stored under the account's home.
    pub quota_bytes: Option<u64>,
    /// Files stored under the account's home.
    pub quota_files: Option<u64>,
    /// Upload rate, bytes per second (shared by the account's sessions).
    pub upload_rate: Option<u64>,
    /// Download rate, bytes per second (shared by the account's sessions).
    pub download_rate: Option<u64>,
    /// Concurrent sessions of this account.
    pub max_sessions: Option<usize>,
}

/// An IPv4 or IPv6 network in CIDR form (`192.0.2.0/24`, `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` is inside (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<IpNet, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| format!("{s:?} is not an IP address or CIDR network"))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: prefix must be 0..={max}"))?,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Allow and deny lists of networks. An address is allowed when it matches no
/// deny entry and, if the allow list is not empty, some allow entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpRules {
    pub allow: Vec<IpNet>,
    pub deny: Vec<IpNet>,
}

impl IpRules {
    pub fn permits(&self, ip: IpAddr) -> bool {
        !self.deny.iter().any(|n| n.contains(ip))
            && (self.allow.is_empty() || self.allow.iter().any(|n| n.contains(ip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp(s: &str) -> VPath {
        VPath::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn most_specific_directory_rule_wins() {
        let perms = Permissions {
            default: PermissionSet::read_only(),
            rules: vec![
                DirRule { dir: vp("/upload"), allow: PermissionSet::read_only().with(Permission::Upload) },
                DirRule { dir: vp("/upload/locked"), allow: PermissionSet::none() },
            ],
        };
        assert!(!perms.at(&vp("/a.txt")).contains(Permission::Upload));
        assert!(perms.at(&vp("/upload/x")).contains(Permission::Upload));
        assert!(perms.at(&vp("/upload")).contains(Permission::Upload));
        assert!(!perms.at(&vp("/uploads/x")).contains(Permission::Upload));
        assert_eq!(perms.at(&vp("/upload/locked/y")), PermissionSet::none());
        assert!(Permissions::default().is_unrestricted());
        assert_eq!(Permission::from_name("set_mtime"), Some(Permission::SetMtime));
        assert_eq!(format!("{:?}", PermissionSet::read_only()), "{\"list\", \"read\"}");
    }

    #[test]
    fn cidr_matching_v4_v6_and_mapped() {
        let net: IpNet = "192.0.2.0/24".parse().unwrap();
        assert!(net.contains("192.0.2.77".parse().unwrap()));
        assert!(net.contains("::ffff:192.0.2.1".parse().unwrap()));
        assert!(!net.contains("192.0.3.1".parse().unwrap()));
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        let one: IpNet = "127.0.0.2".parse().unwrap();
        assert!(one.contains("127.0.0.2".parse().unwrap()) && !one.contains("127.0.0.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("nonsense".parse::<IpNet>().is_err());
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let rules = IpRules { allow: vec!["127.0.0.0/8".parse().unwrap()], deny: vec!["127.0.0.2".parse().unwrap()] };
        assert!(rules.permits("127.0.0.1".parse().unwrap()));
        assert!(!rules.permits("127.0.0.2".parse().unwrap()));
        assert!(!rules.permits("10.0.0.1".parse().unwrap()));
    }
}
