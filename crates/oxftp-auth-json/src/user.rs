//! `JsonUser`: one account of the JSON users file, validated.

use std::net::IpAddr;

use oxftp_core::auth::{AccessClass, Identity, PublicKey};
use oxftp_proto::path::VPath;

use crate::ip::IpRanges;
use crate::perms::{VfsOp, VfsPerms};
use crate::secret::Secret;

/// unFTP's `client_cert` object: the account must present a TLS client
/// certificate (signed by the server's trust store), and when `allowed_cn`
/// is set, one whose subject CN is exactly that string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientCert {
    /// The CN the certificate must carry; `None` accepts any trusted
    /// certificate. unFTP also accepts substrings; we require equality,
    /// since "bob" matching "bobby-the-attacker" is not what anyone means.
    pub allowed_cn: Option<String>,
}

/// Per-account limits from our own optional fields. `None` means "no limit of
/// this account's own" (server-wide limits still apply); the engine enforces
/// them, the authenticator only carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Most bytes the account may store (`quota_bytes`).
    pub quota_bytes: Option<u64>,
    /// Most files the account may store (`quota_files`).
    pub quota_files: Option<u64>,
    /// Most sessions logged in as this account at once (`max_sessions`).
    pub max_sessions: Option<u32>,
    /// Upload rate cap in bytes per second (`bandwidth_up`).
    pub bandwidth_up: Option<u64>,
    /// Download rate cap in bytes per second (`bandwidth_down`).
    pub bandwidth_down: Option<u64>,
}

/// One account of the users file, with everything the file says about it.
///
/// The password material stays private: it is only ever checked, never
/// handed out.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JsonUser {
    /// The login name (`username`), case-sensitive.
    pub name: String,
    /// `class`: `User` (default) or `Guest` (confined to its home).
    pub class: AccessClass,
    /// `root`: what a user reaches, as a virtual path under the storage
    /// root (unFTP's meaning; `/` when absent). A guest's root is its home.
    pub root: VPath,
    /// `home` (ours): where the session starts; the root when absent (for a
    /// guest, `root` gives the home too). As a virtual path (`"alice"` and
    /// `"/alice"` both give `/alice`); `/` when absent.
    pub home: VPath,
    /// `vfs_perms`, applied in order from "all allowed".
    pub perms: VfsPerms,
    /// `read_only`: no writes at all, whatever `perms` says.
    pub read_only: bool,
    /// `account_enabled` (default true): false refuses every login.
    pub enabled: bool,
    /// `allowed_ip_ranges`; `None` allows every address.
    pub allowed_ips: Option<IpRanges>,
    /// `client_cert`; `Some` means the account needs a client certificate.
    pub client_cert: Option<ClientCert>,
    /// Quotas, session and bandwidth caps.
    pub limits: Limits,
    /// `authorized_keys`: SSH keys that log in as this account (SFTP).
    pub authorized_keys: Vec<PublicKey>,
    /// `tls_session_reuse`: the account's own `require_session_reuse`, if any.
    pub tls_session_reuse: Option<oxftp_core::tls::SessionReuse>,
    pub(crate) secret: Secret,
}

impl JsonUser {
    /// Whether a login from `ip` is allowed by `allowed_ip_ranges`.
    pub fn ip_allowed(&self, ip: IpAddr) -> bool {
        self.allowed_ips.as_ref().is_none_or(|ranges| ranges.contains(ip))
    }

    /// True when the account can log in with a password at all (unFTP's
    /// certificate-only accounts have none).
    pub fn has_password(&self) -> bool {
        !matches!(self.secret, Secret::None)
    }

    /// The identity a successful login produces. The account is read-only
    /// when `read_only` says so or when `vfs_perms` leaves no write operation;
    /// an account bound to a client certificate must use TLS.
    pub fn identity(&self) -> Identity {
        let mut identity = Identity::new(self.name.clone(), self.class);
        identity.home = self.home.clone();
        identity.root = self.root.clone();
        identity.read_only = self.read_only || !self.perms.can_write();
        identity.require_tls = self.client_cert.is_some();
        identity.tls_session_reuse = self.tls_session_reuse;
        identity.permissions.default = self.permission_set();
        identity.limits = oxftp_core::account::Limits {
            quota_bytes: self.limits.quota_bytes,
            quota_files: self.limits.quota_files,
            upload_rate: self.limits.bandwidth_up,
            download_rate: self.limits.bandwidth_down,
            max_sessions: self.limits.max_sessions.map(|n| n as usize),
        };
        identity
    }

    /// unFTP's `vfs_perms` as the engine's permission set (`put` covers new files,
    /// overwrites and appends, as in unFTP).
    fn permission_set(&self) -> oxftp_core::account::PermissionSet {
        use oxftp_core::account::Permission as P;
        let mapping: [(VfsOp, &[P]); 7] = [
            (VfsOp::List, &[P::List]),
            (VfsOp::Get, &[P::Read]),
            (VfsOp::Put, &[P::Upload, P::Overwrite, P::Append, P::Chmod, P::SetMtime]),
            (VfsOp::Del, &[P::Delete]),
            (VfsOp::Rename, &[P::Rename]),
            (VfsOp::Mkdir, &[P::Mkdir]),
            (VfsOp::Rmdir, &[P::Rmdir]),
        ];
        mapping
            .iter()
            .filter(|(op, _)| self.perms.allows(*op))
            .flat_map(|(_, granted)| granted.iter().copied())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> JsonUser {
        JsonUser {
            name: "alice".into(),
            class: AccessClass::User,
            home: VPath::root(),
            root: VPath::root(),
            perms: VfsPerms::all(),
            read_only: false,
            enabled: true,
            allowed_ips: None,
            client_cert: None,
            limits: Limits::default(),
            authorized_keys: Vec::new(),
            tls_session_reuse: None,
            secret: Secret::plain("pw"),
        }
    }

    #[test]
    fn identity_carries_permissions_and_limits() {
        use oxftp_core::account::Permission;
        let mut u = user();
        u.perms.remove(VfsOp::Del);
        u.limits.quota_bytes = Some(1000);
        u.limits.max_sessions = Some(2);
        let id = u.identity();
        let root = VPath::root();
        assert!(!id.permissions.at(&root).contains(Permission::Delete));
        assert!(id.permissions.at(&root).contains(Permission::Upload));
        assert_eq!(id.limits.quota_bytes, Some(1000));
        assert_eq!(id.limits.max_sessions, Some(2));
    }

    #[test]
    fn identity_carries_class_home_and_write_rights() {
        let mut u = user();
        u.class = AccessClass::Guest;
        u.home = VPath::parse(b"/alice").unwrap();
        let id = u.identity();
        assert_eq!(
            (id.user.as_str(), id.class, id.read_only, id.require_tls),
            ("alice", AccessClass::Guest, false, false)
        );
        assert_eq!(id.home, VPath::parse(b"/alice").unwrap());

        u.perms = VfsPerms::parse(&["none", "+get", "+list"]).unwrap();
        assert!(u.identity().read_only, "no write operation left");
        u.perms = VfsPerms::all();
        u.read_only = true;
        assert!(u.identity().read_only);
        u.client_cert = Some(ClientCert::default());
        assert!(u.identity().require_tls);
    }

    #[test]
    fn ip_allowed_without_ranges_allows_all() {
        let mut u = user();
        assert!(u.ip_allowed("203.0.113.9".parse().unwrap()));
        u.allowed_ips = Some(IpRanges::parse(&["10.0.0.0/8"]).unwrap());
        assert!(u.ip_allowed("10.9.9.9".parse().unwrap()));
        assert!(!u.ip_allowed("203.0.113.9".parse().unwrap()));
        assert!(u.has_password());
        u.secret = Secret::None;
        assert!(!u.has_password());
    }
}
