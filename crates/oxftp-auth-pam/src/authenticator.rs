//! `PamAuthenticator`: logins checked by a PAM service, off the async runtime.

use std::os::unix::ffi::OsStrExt;

use async_trait::async_trait;
use std::net::SocketAddr;
use std::path::PathBuf;

use oxftp_core::auth::{AuthError, Authenticator, BlockingChecks, Credentials, Identity, PublicKey};
use oxftp_proto::path::VPath;

use crate::config::PamConfig;
use crate::libpam::LibPam;
use crate::pam;
use crate::service::{PamSetupError, check_service};

/// Most PAM transactions at once. Each holds a blocking thread for as long as
/// its modules take (pam_unix sleeps about two seconds after a failure unless
/// `nodelay`), so a burst of logins must queue rather than fill the blocking
/// pool.
const MAX_CONCURRENT_LOGINS: usize = 8;

/// Where a successful login's home comes from.
#[derive(Debug, Clone)]
enum Home {
    /// The account's passwd entry (getpwnam).
    Passwd,
    /// A fixed virtual path.
    Fixed(VPath),
    /// A virtual path with `%u` for the user name (the text around it).
    PerUser(String),
}

/// Logins checked by a PAM service (`pam_authenticate` + `pam_acct_mgmt`).
///
/// Construction refuses a service without `/etc/pam.d/<service>`: Linux-PAM
/// would silently use `/etc/pam.d/other` instead, which on Debian lets every
/// system account in.
#[derive(Debug)]
pub struct PamAuthenticator {
    config: PamConfig,
    home: Home,
    /// What a `user`-class session reaches.
    root: VPath,
    logins: BlockingChecks,
    lib: &'static LibPam,
}

impl PamAuthenticator {
    /// Opens the system's libpam (`libpam.so.0`, once per process) and
    /// validates the settings: the service name (no `/`, no `..`), the
    /// existence of `/etc/pam.d/<service>`, and the fixed home.
    pub fn new(config: PamConfig) -> Result<PamAuthenticator, PamSetupError> {
        let lib = LibPam::system().map_err(|reason| PamSetupError::LibraryUnavailable {
            library: crate::libpam::SYSTEM_LIBRARY,
            reason: reason.to_string(),
        })?;
        check_service(&config.service)?;
        let home = if config.home_from_passwd { Home::Passwd } else { parse_home(&config.home)? };
        let root = VPath::parse(config.root.as_bytes())
            .map_err(|e| PamSetupError::InvalidHome { home: config.root.clone(), reason: format!("root: {e}") })?;
        Ok(PamAuthenticator { config, home, root, logins: BlockingChecks::new(MAX_CONCURRENT_LOGINS), lib })
    }

    /// Checks again that the service file exists (for a daemon's reload or
    /// health check: someone may have removed it since start-up).
    pub fn check(&self) -> Result<(), PamSetupError> {
        check_service(&self.config.service).map(drop)
    }

    /// The settings in force.
    pub fn config(&self) -> &PamConfig {
        &self.config
    }
}

/// Validates a fixed home; `%u` is checked with a stand-in name.
fn parse_home(home: &str) -> Result<Home, PamSetupError> {
    let invalid = |reason: String| PamSetupError::InvalidHome { home: home.to_string(), reason };
    if home.contains("%u") {
        VPath::parse(home.replace("%u", "user").as_bytes()).map_err(|e| invalid(e.to_string()))?;
        Ok(Home::PerUser(home.to_string()))
    } else {
        Ok(Home::Fixed(VPath::parse(home.as_bytes()).map_err(|e| invalid(e.to_string()))?))
    }
}

/// The home of `user` from the settings; runs on the blocking thread, since
/// getpwnam may ask NSS (LDAP, sssd...).
fn home_of(home: &Home, user: &str) -> Result<VPath, AuthError> {
    match home {
        Home::Fixed(path) => Ok(path.clone()),
        Home::PerUser(template) => {
            // The name becomes one path component: "..", "." or a "/" would
            // move the home elsewhere (".." to the storage root).
            if user.contains('/') || user == "." || user == ".." {
                return Err(AuthError::NotAllowed(format!("user name {user:?} cannot be used in a %u home")));
            }
            VPath::parse(template.replace("%u", user).as_bytes())
                .map_err(|e| AuthError::NotAllowed(format!("home for {user:?}: {e}")))
        }
        Home::Passwd => match nix::unistd::User::from_name(user) {
            Ok(Some(entry)) => VPath::parse(entry.dir.as_os_str().as_bytes())
                .map_err(|e| AuthError::Backend(format!("passwd home of {user:?} is unusable: {e}"))),
            Ok(None) => Err(AuthError::NotAllowed(format!(
                "PAM accepted {user:?} but the system user database has no entry to take a home from"
            ))),
            Err(e) => Err(AuthError::Backend(format!("getpwnam({user:?}) failed: {e}"))),
        },
    }
}

#[async_trait]
impl Authenticator for PamAuthenticator {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthError> {
        // C strings end at NUL: such a name or password could only be
        // truncated into something else, so it never reaches PAM.
        if credentials.user.is_empty() || credentials.user.contains('\0') {
            return Err(AuthError::UnknownUser);
        }
        if credentials.password.contains('\0') {
            return Err(AuthError::BadPassword);
        }
        let service = self.config.service.clone();
        let user = credentials.user.clone();
        let password = credentials.password.clone();
        let peer = credentials.peer.ip().to_canonical().to_string();
        let home = self.home.clone();
        let lib = self.lib;
        let home = self
            .logins
            .run(move || {
                pam::login(lib, &service, &user, &password, &peer)?;
                home_of(&home, &user)
            })
            .await??;

        self.identity(&credentials.user, home)
    }

    /// SFTP public-key login: `key` must be in the account's
    /// `authorized_keys` file (see [`PamConfig::authorized_keys`]), then
    /// PAM's account step must pass.
    async fn public_key_login(&self, user: &str, key: &PublicKey, peer: SocketAddr) -> Result<Identity, AuthError> {
        let Some(template) = &self.config.authorized_keys else {
            return Err(AuthError::NotAllowed("PAM accounts have no authorized_keys configured".into()));
        };
        if user.is_empty() || user.contains('\0') {
            return Err(AuthError::UnknownUser);
        }
        let file = keys_file(template, user)?;
        let (service, user_owned, key) = (self.config.service.clone(), user.to_string(), key.clone());
        let peer = peer.ip().to_canonical().to_string();
        let home = self.home.clone();
        let lib = self.lib;
        let home = self
            .logins
            .run(move || {
                if !authorized(&file, &key)? {
                    return Err(AuthError::NotAllowed(format!("key is not in {}", file.display())));
                }
                pam::account(lib, &service, &user_owned, &peer)?;
                home_of(&home, &user_owned)
            })
            .await??;
        self.identity(user, home)
    }
}

impl PamAuthenticator {
    /// The identity of a login as `user` with `home`: a user must have its
    /// home below the configured root (a guest's root is its home).
    fn identity(&self, user: &str, home: VPath) -> Result<Identity, AuthError> {
        let mut identity = Identity::new(user, self.config.class.into());
        if identity.class == oxftp_core::auth::AccessClass::User && !home.starts_with(&self.root) {
            return Err(AuthError::NotAllowed(format!("home {home} of {user:?} is not below root {}", self.root)));
        }
        identity.home = home;
        identity.root = self.root.clone();
        identity.read_only = self.config.read_only;
        Ok(identity)
    }
}

/// Largest `authorized_keys` file read.
const MAX_KEYS_FILE: u64 = 1024 * 1024;

/// The `authorized_keys` file of `user`: the name must be one plain path
/// component, so `%u` cannot point elsewhere.
fn keys_file(template: &str, user: &str) -> Result<PathBuf, AuthError> {
    if user.contains('/') || user == "." || user == ".." {
        return Err(AuthError::NotAllowed(format!("user name {user:?} cannot be used in authorized_keys")));
    }
    Ok(PathBuf::from(template.replace("%u", user)))
}

/// Whether `key` is in `file`. Lines that do not parse as a plain key
/// (authorized_keys options such as `from=` are not supported) never match,
/// so a restricted key is refused rather than let in unrestricted. Blocking.
fn authorized(file: &std::path::Path, key: &PublicKey) -> Result<bool, AuthError> {
    use std::io::Read as _;
    let opened = match std::fs::File::open(file) {
        Ok(opened) => opened,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(AuthError::Backend(format!("cannot read {}: {e}", file.display()))),
    };
    let mut text = String::new();
    opened
        .take(MAX_KEYS_FILE)
        .read_to_string(&mut text)
        .map_err(|e| AuthError::Backend(format!("cannot read {}: {e}", file.display())))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .any(|line| PublicKey::parse(line).is_ok_and(|k| k == *key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_per_user_and_restricted_lines_never_match() {
        let dir = tempfile::tempdir().unwrap();
        let template = format!("{}/%u.keys", dir.path().display());
        assert!(keys_file(&template, "../etc").is_err());
        assert!(keys_file(&template, "..").is_err());
        let file = keys_file(&template, "ann").unwrap();
        let key = PublicKey::parse(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJh9azjS/44Yhx8E3l69wI8ClNJKZ+4hkovo/J685NkV ann@laptop",
        )
        .unwrap();
        assert!(!authorized(&file, &key).unwrap(), "no file, no key");
        std::fs::write(&file, format!("# keys\nfrom=\"10.0.0.1\" {}\n", key.to_openssh())).unwrap();
        assert!(!authorized(&file, &key).unwrap(), "a restricted line is not taken unrestricted");
        std::fs::write(&file, format!("# keys\n\n{} ann\n", key.to_openssh())).unwrap();
        assert!(authorized(&file, &key).unwrap());
    }

    #[test]
    fn fixed_and_per_user_homes() {
        let Home::Fixed(p) = parse_home("/srv/ftp").unwrap() else { panic!() };
        assert_eq!(p, VPath::parse(b"/srv/ftp").unwrap());
        let per_user = parse_home("/srv/%u/files").unwrap();
        assert_eq!(home_of(&per_user, "alice").unwrap(), VPath::parse(b"/srv/alice/files").unwrap());
        for bad in ["..", ".", "a/b", "../../etc"] {
            assert!(matches!(home_of(&per_user, bad), Err(AuthError::NotAllowed(_))), "{bad}");
        }
        assert!(matches!(parse_home("/a\0b"), Err(PamSetupError::InvalidHome { .. })));
    }

    #[test]
    fn passwd_home_comes_from_getpwnam() {
        // root exists everywhere; its home is /root on Linux.
        let home = home_of(&Home::Passwd, "root").unwrap();
        let expected = nix::unistd::User::from_name("root").unwrap().unwrap().dir;
        assert_eq!(home.as_bytes(), expected.as_os_str().as_bytes());
        assert!(matches!(home_of(&Home::Passwd, "oxftp-no-such-user-9f2"), Err(AuthError::NotAllowed(_))));
    }

    #[test]
    fn construction_refuses_bad_services_and_homes() {
        let e = PamAuthenticator::new(PamConfig::new("oxftp-no-such-service-3c1f")).unwrap_err();
        assert!(matches!(e, PamSetupError::ServiceMissing { .. }), "{e}");
        let e = PamAuthenticator::new(PamConfig::new("../pam.d/login")).unwrap_err();
        assert!(matches!(e, PamSetupError::InvalidService { .. }), "{e}");
        // "other" exists on every Linux-PAM system; a bad home is still refused.
        if std::path::Path::new("/etc/pam.d/other").is_file() {
            let mut config = PamConfig::new("other");
            config.home = "/x\0".into();
            assert!(matches!(PamAuthenticator::new(config), Err(PamSetupError::InvalidHome { .. })));
            let ok = PamAuthenticator::new(PamConfig::new("other")).unwrap();
            ok.check().unwrap();
            assert_eq!(ok.config().service, "other");
        }
    }

    #[tokio::test]
    async fn nul_bytes_never_reach_pam() {
        if !std::path::Path::new("/etc/pam.d/other").is_file() {
            eprintln!("skipped: no /etc/pam.d/other");
            return;
        }
        let auth = PamAuthenticator::new(PamConfig::new("other")).unwrap();
        let peer = "127.0.0.1:1".parse().unwrap();
        let creds = |user: &str, password: &str| Credentials::new(user, password, peer);
        assert!(matches!(auth.authenticate(&creds("ro\0ot", "x")).await, Err(AuthError::UnknownUser)));
        assert!(matches!(auth.authenticate(&creds("", "x")).await, Err(AuthError::UnknownUser)));
        assert!(matches!(auth.authenticate(&creds("root", "x\0y")).await, Err(AuthError::BadPassword)));
    }
}
