//! The `[tls]` table: FTPS settings, checked down to the certificate files.
//!
//! Validation builds the engine's [`Tls`] right here, so `check-config` and
//! start-up catch a missing, unreadable, mismatched or expired certificate
//! the same way, and every such problem names the key and line that point at
//! the file (the engine's own error names the file).

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oxftp_core::tls::{ClientCertMode, SessionReuse, Tls, TlsConfig, TlsError, TlsRequirement};
use serde::Deserialize;
use toml::Spanned;

use super::{MAX_TIMEOUT_SECS, Validator};

/// `[tls]`: FTPS (explicit AUTH TLS on every listener, plus optional implicit
/// listeners).
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// The certificate and policy, loaded and ready for the engine.
    pub tls: Tls,
    /// Implicit FTPS listeners (TLS from the first byte).
    pub implicit_listen: Vec<SocketAddr>,
    /// How each of `implicit_listen` starts (same order): PROXY header, passive address.
    pub implicit_options: Vec<super::ListenOptions>,
    /// TLS handshakes of control connections in progress at once (0 = unlimited).
    pub max_handshakes: usize,
    /// More explicit FTPS listeners whose data connections need not resume a
    /// TLS session (`require_session_reuse = "off"` for them only).
    pub session_reuse_off_listen: Vec<SocketAddr>,
}

/// `require_session_reuse` as written: a mode's name, or the boolean of
/// older configs (`true` was the per-connection rule, `false` off).
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawReuse {
    Flag(bool),
    Name(String),
}

/// `[tls]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTls {
    cert_file: Option<Spanned<String>>,
    key_file: Option<Spanned<String>>,
    control: Option<Spanned<String>>,
    data: Option<Spanned<String>>,
    require_session_reuse: Option<Spanned<RawReuse>>,
    session_reuse_off_listen: Option<Spanned<Vec<Spanned<String>>>>,
    allow_ccc: Option<bool>,
    client_certs: Option<Spanned<String>>,
    client_ca_file: Option<Spanned<String>>,
    cert_cn_login: Option<bool>,
    handshake_timeout: Option<Spanned<u64>>,
    implicit_listen: Option<Spanned<Vec<Spanned<toml::Value>>>>,
    server_names: Option<Vec<Spanned<String>>>,
    max_handshakes: Option<usize>,
}

/// `tls.max_handshakes` when not set.
pub const DEFAULT_MAX_HANDSHAKES: usize = 256;

/// Whether `name` is a DNS host name (letters, digits and hyphens in dot-
/// separated labels of at most 63 characters, at most 253 in all): what a
/// client's SNI can carry. IP addresses never travel in SNI.
fn is_host_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.parse::<std::net::IpAddr>().is_err()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A file key after resolution: where it points and where it was written.
struct FileKey {
    path: PathBuf,
    span: Range<usize>,
}

impl Validator<'_> {
    /// Checks `[tls]` (whose table spans `table`) and loads its certificate
    /// material. `None` after recording at least one error.
    pub(super) fn tls(&mut self, raw: RawTls, table: Range<usize>, base: &Path) -> Option<TlsSettings> {
        let errors_before = self.errors.len();
        let cert = self.file_key(raw.cert_file, "tls.cert_file", &table, base, "a PEM certificate chain");
        let key = self.file_key(raw.key_file, "tls.key_file", &table, base, "a PEM private key");
        let control = raw.control.and_then(|v| self.requirement(v, "tls.control")).unwrap_or(TlsRequirement::Optional);
        let data = raw.data.and_then(|v| self.requirement(v, "tls.data")).unwrap_or(TlsRequirement::Optional);
        let client_certs_span = raw.client_certs.as_ref().map(Spanned::span);
        let client_certs = raw.client_certs.and_then(|v| self.client_cert_mode(v)).unwrap_or(ClientCertMode::Off);
        let client_ca = match raw.client_ca_file {
            Some(ca) => self.existing_file(ca, "tls.client_ca_file", base, "PEM CA certificates"),
            None => None,
        };
        if client_certs != ClientCertMode::Off && client_ca.is_none() && self.errors.len() == errors_before {
            let span = client_certs_span.clone().unwrap_or_else(|| table.clone());
            self.error(
                span,
                "tls.client_certs",
                "client certificates need tls.client_ca_file: the PEM CA certificates that sign them",
            );
        }
        let handshake_timeout = match raw.handshake_timeout {
            Some(secs) if (1..=MAX_TIMEOUT_SECS).contains(secs.get_ref()) => Duration::from_secs(*secs.get_ref()),
            Some(secs) => {
                let found = *secs.get_ref();
                self.error(
                    secs.span(),
                    "tls.handshake_timeout",
                    format!("expected seconds from 1 to {MAX_TIMEOUT_SECS}, found {found}"),
                );
                Duration::from_secs(10)
            }
            None => Duration::from_secs(10),
        };
        let (implicit_listen, implicit_options) = match raw.implicit_listen {
            Some(list) => self.listen_entries(list.into_inner(), "tls.implicit_listen"),
            None => (Vec::new(), Vec::new()),
        };
        let mut server_names = Vec::new();
        for name in raw.server_names.unwrap_or_default() {
            if is_host_name(name.get_ref()) {
                server_names.push(name.into_inner());
            } else {
                let found = name.get_ref().clone();
                self.error(name.span(), "tls.server_names", format!("expected a DNS host name, found {found:?}"));
            }
        }
        let session_reuse_off_listen = match raw.session_reuse_off_listen {
            Some(list) => self.addresses(list.into_inner(), "tls.session_reuse_off_listen"),
            None => Vec::new(),
        };
        let reuse = match raw.require_session_reuse {
            Some(value) => self.session_reuse(value, "tls.require_session_reuse"),
            None => SessionReuse::Account,
        };
        // Loading the files only makes sense once every key is usable; the
        // errors so far already say what to fix first.
        if self.errors.len() != errors_before {
            return None;
        }
        let (cert, key) = (cert?, key?);
        let mut config = TlsConfig::new(&cert.path, &key.path);
        config.control = control;
        config.data = data;
        config.require_session_reuse = reuse;
        config.allow_ccc = raw.allow_ccc.unwrap_or(false);
        config.client_certs = client_certs;
        config.client_ca_file = client_ca.as_ref().map(|ca| ca.path.clone());
        config.cert_cn_login = raw.cert_cn_login.unwrap_or(false);
        config.handshake_timeout = handshake_timeout;
        config.server_names = server_names;
        let max_handshakes = raw.max_handshakes.unwrap_or(DEFAULT_MAX_HANDSHAKES);
        match config.build() {
            Ok(tls) => {
                Some(TlsSettings { tls, implicit_listen, implicit_options, max_handshakes, session_reuse_off_listen })
            }
            Err(e) => {
                let (span, key_name) = match &e {
                    TlsError::Key(..) | TlsError::Mismatch(..) => (key.span, "tls.key_file"),
                    TlsError::Cert(path, _) => match &client_ca {
                        Some(ca) if ca.path == *path && *path != cert.path => (ca.span.clone(), "tls.client_ca_file"),
                        _ => (cert.span, "tls.cert_file"),
                    },
                    TlsError::NoClientCa => (client_certs_span.unwrap_or(table), "tls.client_certs"),
                    // Validity problems, and anything rustls itself rejects
                    // (an unsupported key type, say), concern the certificate.
                    _ => (cert.span, "tls.cert_file"),
                };
                self.error(span, key_name, e.to_string());
                None
            }
        }
    }

    /// A required file key: resolved against `base` and checked to be a
    /// readable regular file, so a typo reads "no such file" at its line
    /// rather than as a PEM parser complaint.
    fn file_key(
        &mut self,
        value: Option<Spanned<String>>,
        key: &str,
        table: &Range<usize>,
        base: &Path,
        what: &str,
    ) -> Option<FileKey> {
        match value {
            Some(value) => self.existing_file(value, key, base, what),
            None => {
                self.error(table.clone(), key, format!("required when [tls] is present: the file with {what}"));
                None
            }
        }
    }

    /// Resolves a file path against `base`; records an error unless it names
    /// a file that can be opened.
    fn existing_file(&mut self, value: Spanned<String>, key: &str, base: &Path, what: &str) -> Option<FileKey> {
        let span = value.span();
        self.readable_file(value, key, base, what).map(|path| FileKey { path, span })
    }

    /// `tls.control` / `tls.data`.
    fn requirement(&mut self, value: Spanned<String>, key: &str) -> Option<TlsRequirement> {
        match value.get_ref().as_str() {
            "optional" => Some(TlsRequirement::Optional),
            "accounts" => Some(TlsRequirement::Accounts),
            "all" => Some(TlsRequirement::All),
            other => {
                self.error(
                    value.span(),
                    key,
                    format!("expected \"optional\", \"accounts\" or \"all\", found {other:?}"),
                );
                None
            }
        }
    }

    /// A session-reuse mode: `"off"`, `"connection"` or `"account"` (or the
    /// older `true` for `"connection"` and `false` for `"off"`).
    pub(super) fn session_reuse(&mut self, value: Spanned<RawReuse>, key: &str) -> SessionReuse {
        let span = value.span();
        match value.into_inner() {
            RawReuse::Flag(true) => SessionReuse::Connection,
            RawReuse::Flag(false) => SessionReuse::Off,
            RawReuse::Name(name) => SessionReuse::from_name(&name).unwrap_or_else(|| {
                self.error(span, key, format!("expected \"account\", \"connection\" or \"off\", found {name:?}"));
                SessionReuse::Account
            }),
        }
    }

    /// `tls.client_certs`.
    fn client_cert_mode(&mut self, value: Spanned<String>) -> Option<ClientCertMode> {
        match value.get_ref().as_str() {
            "off" => Some(ClientCertMode::Off),
            "request" => Some(ClientCertMode::Request),
            "require" => Some(ClientCertMode::Require),
            other => {
                self.error(
                    value.span(),
                    "tls.client_certs",
                    format!("expected \"off\", \"request\" or \"require\", found {other:?}"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Config, ConfigError, Overrides};

    /// Writes a self-signed P-256 certificate for localhost and its key as
    /// `NAME.pem` / `NAME.key` in `dir`; `expired` dates it in 2020.
    fn cert(dir: &Path, name: &str, expired: bool) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }

    /// A config directory with a valid `server` pair, an `other` pair (for
    /// mismatches and as a client CA) and an `old` expired pair.
    fn pki() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        cert(dir.path(), "server", false);
        cert(dir.path(), "other", false);
        cert(dir.path(), "old", true);
        dir
    }

    fn parse(dir: &tempfile::TempDir, text: &str) -> Result<Config, Vec<ConfigError>> {
        // storage.root is the config directory itself, so it always exists.
        let text = format!("[storage]\nroot = \".\"\n{text}");
        Config::from_toml(&text, dir.path(), &Overrides::default()).map_err(|e| e.0)
    }

    /// The only error, as (line in `text` counting its first line as 1, key, message).
    fn only_error(dir: &tempfile::TempDir, text: &str) -> (Option<usize>, Option<String>, String) {
        let errors = parse(dir, text).err().unwrap_or_else(|| panic!("expected an error for:\n{text}"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = errors.into_iter().next().unwrap();
        // Two lines of [storage] are prepended by `parse`.
        (e.line.map(|l| l - 2), e.key, e.message)
    }

    const PAIR: &str = "[tls]\ncert_file = \"server.pem\"\nkey_file = \"server.key\"\n";

    #[test]
    fn no_table_means_no_tls() {
        let dir = pki();
        assert!(parse(&dir, "").unwrap().tls.is_none());
    }

    #[test]
    fn defaults_are_the_engine_defaults() {
        let dir = pki();
        let config = parse(&dir, PAIR).unwrap();
        let settings = config.tls.unwrap();
        let tls = settings.tls.config();
        assert_eq!(tls.cert_file, dir.path().join("server.pem"));
        assert_eq!(tls.key_file, dir.path().join("server.key"));
        assert_eq!((tls.control, tls.data), (TlsRequirement::Optional, TlsRequirement::Optional));
        assert_eq!(tls.require_session_reuse, SessionReuse::Account);
        assert!(!tls.allow_ccc && !tls.cert_cn_login);
        assert!(settings.session_reuse_off_listen.is_empty());
        assert_eq!(tls.client_certs, ClientCertMode::Off);
        assert_eq!(tls.client_ca_file, None);
        assert_eq!(tls.handshake_timeout, Duration::from_secs(10));
        assert!(settings.implicit_listen.is_empty());
    }

    #[test]
    fn every_key_is_read() {
        let dir = pki();
        let text = format!(
            "{PAIR}control = \"all\"\ndata = \"accounts\"\nrequire_session_reuse = false\nallow_ccc = true\n\
             client_certs = \"require\"\nclient_ca_file = \"other.pem\"\ncert_cn_login = true\nhandshake_timeout = 5\n\
             implicit_listen = [\"127.0.0.1:0\", \"[::1]:990\"]\nserver_names = [\"ftp.example.com\", \"FTP2.example.org.\"]\n\
             max_handshakes = 7\n"
        );
        let settings = parse(&dir, &text).unwrap().tls.unwrap();
        let tls = settings.tls.config();
        assert_eq!((tls.control, tls.data), (TlsRequirement::All, TlsRequirement::Accounts));
        assert_eq!(tls.require_session_reuse, SessionReuse::Off);
        assert!(tls.allow_ccc && tls.cert_cn_login);
        assert_eq!(tls.client_certs, ClientCertMode::Require);
        assert_eq!(tls.client_ca_file, Some(dir.path().join("other.pem")));
        assert_eq!(tls.handshake_timeout, Duration::from_secs(5));
        assert_eq!(settings.implicit_listen, vec!["127.0.0.1:0".parse().unwrap(), "[::1]:990".parse().unwrap()]);
        assert_eq!(tls.server_names, ["ftp.example.com", "FTP2.example.org."]);
        assert_eq!(settings.max_handshakes, 7);
        let request = parse(&dir, &format!("{PAIR}client_certs = \"request\"\nclient_ca_file = \"other.pem\"\n"));
        assert_eq!(request.unwrap().tls.unwrap().tls.config().client_certs, ClientCertMode::Request);
    }

    #[test]
    fn server_names_must_be_host_names() {
        let dir = pki();
        for bad in ["", "127.0.0.1", "a b", "-x.example", "x..example", "ex_ample.com"] {
            let text = format!("{PAIR}server_names = [\"ftp.example.com\", \"{bad}\"]\n");
            let (line, key, message) = only_error(&dir, &text);
            assert_eq!((line, key.as_deref()), (Some(4), Some("tls.server_names")), "{bad:?}: {message}");
            assert!(message.contains("expected a DNS host name"), "{message}");
        }
        let defaults = parse(&dir, PAIR).unwrap().tls.unwrap();
        assert!(defaults.tls.config().server_names.is_empty());
        assert_eq!(defaults.max_handshakes, DEFAULT_MAX_HANDSHAKES);
    }

    #[test]
    fn missing_certificate_names_key_line_and_file() {
        let dir = pki();
        let (line, key, message) = only_error(&dir, "[tls]\nkey_file = \"server.key\"\ncert_file = \"nope.pem\"\n");
        assert_eq!((line, key.as_deref()), (Some(3), Some("tls.cert_file")));
        assert!(message.contains("nope.pem") && message.contains("No such file"), "{message}");
        let (line, key, message) = only_error(&dir, "[tls]\ncert_file = \"server.pem\"\nkey_file = \".\"\n");
        assert_eq!((line, key.as_deref()), (Some(3), Some("tls.key_file")));
        assert!(message.contains("is not a file"), "{message}");
    }

    #[test]
    fn both_files_are_required() {
        let dir = pki();
        let (line, key, message) = only_error(&dir, "\n[tls]\ncert_file = \"server.pem\"\n");
        assert_eq!((line, key.as_deref()), (Some(2), Some("tls.key_file")));
        assert!(message.contains("required"), "{message}");
    }

    #[test]
    fn mismatched_key_is_reported_at_key_file() {
        let dir = pki();
        let (line, key, message) = only_error(&dir, "[tls]\ncert_file = \"server.pem\"\nkey_file = \"other.key\"\n");
        assert_eq!((line, key.as_deref()), (Some(3), Some("tls.key_file")));
        assert!(message.contains("does not match"), "{message}");
    }

    #[test]
    fn expired_certificate_is_reported_at_cert_file() {
        let dir = pki();
        let (line, key, message) = only_error(&dir, "[tls]\n\ncert_file = \"old.pem\"\nkey_file = \"old.key\"\n");
        assert_eq!((line, key.as_deref()), (Some(3), Some("tls.cert_file")));
        assert!(message.contains("expired") && message.contains("2020"), "{message}");
    }

    #[test]
    fn garbage_pem_files_are_reported() {
        let dir = pki();
        std::fs::write(dir.path().join("junk.pem"), "not a certificate\n").unwrap();
        let (line, key, message) = only_error(&dir, "[tls]\ncert_file = \"junk.pem\"\nkey_file = \"server.key\"\n");
        assert_eq!((line, key.as_deref()), (Some(2), Some("tls.cert_file")));
        assert!(message.contains("no certificate"), "{message}");
        let (line, key, _) = only_error(&dir, "[tls]\ncert_file = \"server.pem\"\nkey_file = \"server.pem\"\n");
        assert_eq!((line, key.as_deref()), (Some(3), Some("tls.key_file")));
        let text = format!("{PAIR}client_certs = \"require\"\nclient_ca_file = \"junk.pem\"\n");
        let (line, key, _) = only_error(&dir, &text);
        assert_eq!((line, key.as_deref()), (Some(5), Some("tls.client_ca_file")));
    }

    #[test]
    fn client_certificates_need_a_ca_file() {
        let dir = pki();
        let (line, key, message) = only_error(&dir, &format!("{PAIR}client_certs = \"request\"\n"));
        assert_eq!((line, key.as_deref()), (Some(4), Some("tls.client_certs")));
        assert!(message.contains("client_ca_file"), "{message}");
        // Off: a CA file is allowed (prepared in advance) and not required.
        assert!(parse(&dir, &format!("{PAIR}client_ca_file = \"other.pem\"\n")).is_ok());
    }

    #[test]
    fn session_reuse_takes_names_and_the_old_booleans() {
        let dir = pki();
        let mode = |value: &str| {
            let text = format!("{PAIR}require_session_reuse = {value}\n");
            parse(&dir, &text).unwrap().tls.unwrap().tls.config().require_session_reuse
        };
        assert_eq!(mode("\"account\""), SessionReuse::Account);
        assert_eq!(mode("\"connection\""), SessionReuse::Connection);
        assert_eq!(mode("\"off\""), SessionReuse::Off);
        assert_eq!(mode("true"), SessionReuse::Connection, "true keeps its old, strict meaning");
        assert_eq!(mode("false"), SessionReuse::Off);
        let (line, key, message) = only_error(&dir, &format!("{PAIR}require_session_reuse = \"always\"\n"));
        assert_eq!((line, key.as_deref()), (Some(4), Some("tls.require_session_reuse")));
        assert!(message.contains("\"account\", \"connection\" or \"off\""), "{message}");
        let text = format!("{PAIR}session_reuse_off_listen = [\"127.0.0.1:0\"]\n");
        let settings = parse(&dir, &text).unwrap().tls.unwrap();
        assert_eq!(settings.session_reuse_off_listen, vec!["127.0.0.1:0".parse().unwrap()]);
        let (line, key, _) = only_error(&dir, &format!("{PAIR}session_reuse_off_listen = [\"x\"]\n"));
        assert_eq!((line, key.as_deref()), (Some(4), Some("tls.session_reuse_off_listen")));
    }

    #[test]
    fn bad_values_are_all_reported() {
        let dir = pki();
        let text = format!(
            "{PAIR}control = \"always\"\ndata = \"yes\"\nclient_certs = \"maybe\"\nhandshake_timeout = 0\n\
             implicit_listen = [\"localhost:990\"]\n"
        );
        let errors = parse(&dir, &text).unwrap_err();
        let keys: Vec<_> = errors.iter().map(|e| (e.line.map(|l| l - 2), e.key.as_deref().unwrap_or(""))).collect();
        assert_eq!(
            keys,
            vec![
                (Some(4), "tls.control"),
                (Some(5), "tls.data"),
                (Some(6), "tls.client_certs"),
                (Some(7), "tls.handshake_timeout"),
                (Some(8), "tls.implicit_listen"),
            ]
        );
        assert!(errors[0].message.contains("\"optional\", \"accounts\" or \"all\""), "{}", errors[0].message);
        assert!(errors[2].message.contains("\"off\", \"request\" or \"require\""), "{}", errors[2].message);
        let (line, key, message) = only_error(&dir, &format!("{PAIR}verify = true\n"));
        assert_eq!((line, key.as_deref()), (Some(4), Some("tls.verify")));
        assert!(message.contains("unknown field"), "{message}");
    }

    #[test]
    fn implicit_listeners_may_be_the_only_ones() {
        let dir = pki();
        let text = format!("[server]\nlisten = []\n{PAIR}implicit_listen = [\"127.0.0.1:0\"]\n");
        let config = parse(&dir, &text).unwrap();
        assert!(config.server.listen.is_empty());
        assert_eq!(config.tls.unwrap().implicit_listen.len(), 1);
        // Without any listener at all, server.listen is the key to fix.
        let (line, key, message) = only_error(&dir, &format!("[server]\nlisten = []\n{PAIR}"));
        assert_eq!((line, key.as_deref()), (Some(2), Some("server.listen")));
        assert!(message.contains("at least one"), "{message}");
    }

    #[test]
    fn one_address_cannot_be_plain_and_implicit() {
        let dir = pki();
        let text = format!("[server]\nlisten = [\"127.0.0.1:2121\"]\n{PAIR}implicit_listen = [\"127.0.0.1:2121\"]\n");
        let (_, key, message) = only_error(&dir, &text);
        assert_eq!(key.as_deref(), Some("tls.implicit_listen"));
        assert!(message.contains("127.0.0.1:2121"), "{message}");
        // Port 0 twice is two different ports.
        let text = format!("[server]\nlisten = [\"127.0.0.1:0\"]\n{PAIR}implicit_listen = [\"127.0.0.1:0\"]\n");
        assert!(parse(&dir, &text).is_ok());
    }
}
