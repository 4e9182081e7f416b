//! `[sftp]`: the SFTP front end. Off unless the table is present; it then
//! needs at least one listener. The host keys are checked here without
//! being written: `check-config` never creates files, the daemon makes a
//! missing key when it starts.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oxftp_sftp::host_keys::{KeyKind, check};
use serde::Deserialize;
use toml::Spanned;

use super::{ServerConfig, TlsSettings, Validator};

/// Default host key file name, next to the config file.
const DEFAULT_HOST_KEY: &str = "ssh_host_ed25519_key";

/// `[sftp]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpSettings {
    /// Addresses to listen on (port 0: any free port).
    pub listen: Vec<SocketAddr>,
    /// The Ed25519 host key file (made on first start when missing).
    pub host_key: PathBuf,
    /// An RSA host key file too, for clients that know nothing newer (made
    /// on first start when missing); `None`: Ed25519 only.
    pub rsa_host_key: Option<PathBuf>,
    /// Authentication attempts per connection.
    pub max_auth_attempts: usize,
    /// Session channels per connection.
    pub max_channels: usize,
    /// Open files and directories per SFTP session.
    pub max_handles: usize,
    /// A connection with nothing received for this long is closed
    /// (default: `server.idle_timeout`).
    pub idle_timeout: Duration,
    /// A connection must authenticate within this (default: `server.login_timeout`).
    pub login_timeout: Duration,
}

/// `[sftp]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSftp {
    listen: Option<Spanned<Vec<Spanned<String>>>>,
    host_key: Option<Spanned<String>>,
    rsa_host_key: Option<Spanned<String>>,
    max_auth_attempts: Option<Spanned<u64>>,
    max_channels: Option<Spanned<u64>>,
    max_handles: Option<Spanned<u64>>,
    idle_timeout: Option<Spanned<u64>>,
    login_timeout: Option<Spanned<u64>>,
}

/// What `[sftp]` is checked against.
pub(super) struct SftpContext<'a> {
    /// The table's span (for errors about keys that are missing).
    pub table: Range<usize>,
    /// The config file's directory.
    pub base: &'a Path,
    pub server: &'a ServerConfig,
    pub tls: Option<&'a TlsSettings>,
}

impl Validator<'_> {
    pub(super) fn sftp(&mut self, raw: RawSftp, cx: SftpContext<'_>) -> SftpSettings {
        let mut sftp = SftpSettings {
            listen: Vec::new(),
            host_key: cx.base.join(DEFAULT_HOST_KEY),
            rsa_host_key: None,
            max_auth_attempts: 6,
            max_channels: 10,
            max_handles: 256,
            idle_timeout: cx.server.idle_timeout,
            login_timeout: cx.server.login_timeout,
        };
        match raw.listen {
            Some(listen) => {
                let span = listen.span();
                sftp.listen = self.addresses(listen.into_inner(), "sftp.listen");
                if sftp.listen.is_empty() && !self.errors.iter().any(|e| e.key.as_deref() == Some("sftp.listen")) {
                    self.error(span, "sftp.listen", "expected at least one \"IP:PORT\" address such as \"0.0.0.0:2222\"");
                }
            }
            None => self.error(
                cx.table.clone(),
                "sftp.listen",
                "required: the addresses SFTP listens on, such as [\"0.0.0.0:2222\"] (leave [sftp] out to turn SFTP off)",
            ),
        }
        let implicit = cx.tls.map_or(&[][..], |t| t.implicit_listen.as_slice());
        for addr in &sftp.listen {
            if addr.port() != 0 && (cx.server.listen.contains(addr) || implicit.contains(addr)) {
                self.error(
                    cx.table.clone(),
                    "sftp.listen",
                    format!("{addr} is also an FTP listener; SFTP needs a port of its own"),
                );
            }
        }
        if let Some(path) = raw.host_key {
            sftp.host_key = cx.base.join(path.get_ref());
            self.host_key(&sftp.host_key, KeyKind::Ed25519, path.span(), "sftp.host_key");
        } else {
            self.host_key(&sftp.host_key, KeyKind::Ed25519, cx.table.clone(), "sftp.host_key");
        }
        if let Some(path) = raw.rsa_host_key {
            let file = cx.base.join(path.get_ref());
            self.host_key(&file, KeyKind::Rsa, path.span(), "sftp.rsa_host_key");
            if file == sftp.host_key {
                self.error(path.span(), "sftp.rsa_host_key", "must be another file than sftp.host_key");
            }
            sftp.rsa_host_key = Some(file);
        }
        for (slot, value, key, max) in [
            (&mut sftp.max_auth_attempts, raw.max_auth_attempts, "sftp.max_auth_attempts", 100),
            (&mut sftp.max_channels, raw.max_channels, "sftp.max_channels", 100),
            (&mut sftp.max_handles, raw.max_handles, "sftp.max_handles", 10_000),
        ] {
            let Some(value) = value else { continue };
            match usize::try_from(*value.get_ref()) {
                Ok(n) if (1..=max).contains(&n) => *slot = n,
                _ => self.error(
                    value.span(),
                    key,
                    format!("expected a number from 1 to {max}, found {}", value.get_ref()),
                ),
            }
        }
        if let Some(idle) = self.seconds(raw.idle_timeout, "sftp.idle_timeout") {
            sftp.idle_timeout = idle;
        }
        if let Some(login) = self.seconds(raw.login_timeout, "sftp.login_timeout") {
            sftp.login_timeout = login;
        }
        sftp
    }

    /// A host key file: usable if present, makeable if not.
    fn host_key(&mut self, path: &Path, kind: KeyKind, span: Range<usize>, key: &str) {
        if let Err(e) = check(path, kind) {
            self.error(span, key, e.message);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use crate::config::{Config, Overrides};

    fn parse(dir: &tempfile::TempDir, text: &str) -> Result<Config, Vec<(Option<usize>, String, String)>> {
        let text = format!("[storage]\nroot = \".\"\n{text}");
        Config::from_toml(&text, dir.path(), &Overrides::default())
            .map_err(|e| e.0.into_iter().map(|e| (e.line, e.key.unwrap_or_default(), e.message)).collect())
    }

    #[test]
    fn sftp_is_off_without_the_table_and_read_with_it() {
        let dir = tempfile::tempdir().unwrap();
        assert!(parse(&dir, "").unwrap().sftp.is_none());
        let config = parse(
            &dir,
            "[server]\nidle_timeout = 77\n[sftp]\nlisten = [\"127.0.0.1:2222\", \"[::1]:0\"]\nhost_key = \"keys/host\"\n\
             max_auth_attempts = 3\nmax_channels = 2\nmax_handles = 9\nlogin_timeout = 5\n",
        );
        // keys/ does not exist yet: the key could not be made.
        let errors = config.unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].0, errors[0].1.as_str()), (Some(7), "sftp.host_key"));
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        let sftp = parse(
            &dir,
            "[server]\nidle_timeout = 77\n[sftp]\nlisten = [\"127.0.0.1:2222\", \"[::1]:0\"]\nhost_key = \"keys/host\"\n\
             max_auth_attempts = 3\nmax_channels = 2\nmax_handles = 9\nlogin_timeout = 5\n",
        )
        .unwrap()
        .sftp
        .unwrap();
        assert_eq!(sftp.listen.len(), 2);
        assert_eq!(sftp.host_key, dir.path().join("keys/host"));
        assert_eq!((sftp.max_auth_attempts, sftp.max_channels, sftp.max_handles), (3, 2, 9));
        assert_eq!((sftp.idle_timeout.as_secs(), sftp.login_timeout.as_secs()), (77, 5));
        assert_eq!(sftp.rsa_host_key, None);
        assert!(!dir.path().join("keys/host").exists(), "validation writes no key");
    }

    #[test]
    fn bad_sftp_values_name_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("open_key");
        std::fs::write(&key, "x").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let errors = parse(
            &dir,
            "[server]\nlisten = [\"127.0.0.1:2121\"]\n[sftp]\nlisten = [\"127.0.0.1:2121\", \"nope\"]\n\
             host_key = \"open_key\"\nmax_handles = 0\nidle_timeout = 0\nmax_channels = 1000\n",
        )
        .unwrap_err();
        let keys: Vec<(Option<usize>, &str)> = errors.iter().map(|(l, k, _)| (*l, k.as_str())).collect();
        assert_eq!(
            keys,
            vec![
                (Some(5), "sftp.listen"),
                (Some(6), "sftp.listen"),
                (Some(7), "sftp.host_key"),
                (Some(8), "sftp.max_handles"),
                (Some(9), "sftp.idle_timeout"),
                (Some(10), "sftp.max_channels"),
            ],
            "{errors:?}"
        );
        assert!(errors.iter().any(|(_, _, m)| m.contains("chmod 600")), "{errors:?}");
        let errors = parse(&dir, "[sftp]\nhost_key = \"k\"\n").unwrap_err();
        assert_eq!(errors[0].1, "sftp.listen", "{errors:?}");
        let errors = parse(&dir, "[sftp]\nlisten = []\n").unwrap_err();
        assert_eq!(errors[0].1, "sftp.listen", "{errors:?}");
        let errors = parse(&dir, "[sftp]\nlisten = [\"127.0.0.1:0\"]\nport = 22\n").unwrap_err();
        assert_eq!(errors[0].1, "sftp.port", "{errors:?}");
    }
}
