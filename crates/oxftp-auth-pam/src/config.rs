//! `PamConfig`: how the daemon's configuration describes a PAM authenticator.

use oxftp_core::auth::AccessClass;
use serde::Deserialize;

/// The access class PAM accounts get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PamClass {
    /// Full rights under the home (the home is only the starting directory).
    User,
    /// Confined to the home, chroot-like. The default: a system account's
    /// home is usually a real directory such as `/home/alice`, and the rest
    /// of the file system is none of an FTP client's business.
    #[default]
    Guest,
}

impl From<PamClass> for AccessClass {
    fn from(class: PamClass) -> AccessClass {
        match class {
            PamClass::User => AccessClass::User,
            PamClass::Guest => AccessClass::Guest,
        }
    }
}

/// A PAM authenticator's settings, ready to sit in a TOML table:
///
/// ```toml
/// [auth.pam]
/// service = "oxftpd"          # /etc/pam.d/oxftpd must exist
/// home_from_passwd = true     # home = the account's passwd home directory
/// # home = "/srv/ftp/%u"      # otherwise: a fixed home; %u is the user name
/// class = "guest"             # "guest" (default) or "user"
/// root = "/"                  # for class "user": what it reaches (its home
///                             # must be below); a guest's root is its home
/// read_only = false
/// authorized_keys = "/etc/oxftpd/keys/%u"   # SFTP public keys per account
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PamConfig {
    /// The PAM service: its rules are `/etc/pam.d/<service>`, which must
    /// exist (see [`check_service`](crate::check_service) for why).
    pub service: String,
    /// Take the home from the system user database (`getpwnam`): the virtual
    /// home is the account's passwd home directory, so storage for PAM users
    /// is expected to be rooted at the file system's `/`. An account PAM
    /// accepts but getpwnam does not know (a virtual user) is then refused.
    #[serde(default)]
    pub home_from_passwd: bool,
    /// The home when `home_from_passwd` is false, as a virtual path; `%u` is
    /// replaced by the user name (which must then be a plain file name).
    #[serde(default = "default_home")]
    pub home: String,
    /// Access class of every PAM account.
    #[serde(default)]
    pub class: PamClass,
    /// For class `user`: the directory of the served tree the session
    /// reaches (default `/`, all of it); it starts in its home, which must
    /// be below. A guest's root is its home.
    #[serde(default = "default_home")]
    pub root: String,
    /// No writes for any PAM account.
    #[serde(default)]
    pub read_only: bool,
    /// An `authorized_keys` file per account for SFTP public-key logins;
    /// `%u` is replaced by the user name (for example
    /// `/home/%u/.ssh/authorized_keys`). A key login runs PAM's account
    /// step (`pam_acct_mgmt`) but not its password step, as sshd does.
    /// `None`: PAM accounts log in with passwords only.
    #[serde(default)]
    pub authorized_keys: Option<String>,
}

fn default_home() -> String {
    "/".into()
}

impl PamConfig {
    /// Settings for `service` with the defaults: fixed home `/`, guest class,
    /// writes allowed.
    pub fn new(service: impl Into<String>) -> PamConfig {
        PamConfig {
            service: service.into(),
            home_from_passwd: false,
            home: default_home(),
            class: PamClass::default(),
            root: default_home(),
            read_only: false,
            authorized_keys: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_table_with_defaults() {
        let c: PamConfig = toml::from_str("service = \"oxftpd\"").unwrap();
        assert_eq!(c, PamConfig::new("oxftpd"));
        assert_eq!((c.home.as_str(), c.class, c.home_from_passwd, c.read_only), ("/", PamClass::Guest, false, false));
    }

    #[test]
    fn toml_table_with_every_key() {
        let c: PamConfig = toml::from_str(
            "service = \"ftp\"\nhome_from_passwd = true\nhome = \"/srv/%u\"\nclass = \"user\"\nread_only = true\n\
             root = \"/srv\"\n\
             authorized_keys = \"/keys/%u\"\n",
        )
        .unwrap();
        assert_eq!(
            c,
            PamConfig {
                service: "ftp".into(),
                home_from_passwd: true,
                home: "/srv/%u".into(),
                class: PamClass::User,
                root: "/srv".into(),
                read_only: true,
                authorized_keys: Some("/keys/%u".into()),
            }
        );
        assert_eq!(AccessClass::from(c.class), AccessClass::User);
    }

    #[test]
    fn unknown_keys_and_classes_are_refused() {
        assert!(toml::from_str::<PamConfig>("service = \"ftp\"\nservcie = \"x\"").is_err());
        assert!(toml::from_str::<PamConfig>("service = \"ftp\"\nclass = \"root\"").is_err());
        assert!(toml::from_str::<PamConfig>("home = \"/\"").is_err(), "service is required");
    }
}
