//! Which backends serve files and check passwords: `[storage] backend`
//! (`fs` or `opendal`) and `[auth] backend` (`file`, `json` or `pam`).
//!
//! Each backend is built here, at validation, so `check-config` and start-up
//! refuse the same mistakes (an unknown OpenDAL option, a PAM service without
//! its `/etc/pam.d` file, a JSON users file with a syntax error) with a key
//! and a line. Reaching the object store is left to start-up and
//! `check-config` (see `compose::check_storage`): validation does no network I/O.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use oxftp_auth_json::JsonAuthenticator;
use oxftp_auth_pam::{PamAuthenticator, PamConfig, PamSetupError};
use oxftp_opendal::OpendalConfig;
use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, KIND, Overrides, Validator, canonical_dir, problem};

/// `[storage]`: where files live.
#[derive(Debug, Clone)]
pub enum StorageConfig {
    /// `backend = "fs"` (the default): a local directory.
    Fs(FsStorage),
    /// `backend = "opendal"`: an object store (S3 and friends).
    Opendal(Box<OpendalConfig>),
}

/// `backend = "fs"`: the local directory served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsStorage {
    /// Absolute, canonical path of an existing directory.
    pub root: PathBuf,
    /// Write uploads to a temporary file and rename on success.
    pub atomic_uploads: bool,
}

impl StorageConfig {
    /// The local directory, for the `fs` backend.
    pub fn fs(&self) -> Option<&FsStorage> {
        match self {
            StorageConfig::Fs(fs) => Some(fs),
            StorageConfig::Opendal(_) => None,
        }
    }

    /// What is served, for log lines and the quick-start banner.
    pub fn describe(&self) -> String {
        match self {
            StorageConfig::Fs(fs) => fs.root.display().to_string(),
            StorageConfig::Opendal(config) => match &config.s3 {
                Some(s3) => format!("{}://{}{}", config.scheme, s3.bucket, s3.root.as_deref().unwrap_or("")),
                None => format!("{}:", config.scheme),
            },
        }
    }
}

/// `[auth]`: who checks passwords.
#[derive(Debug, Clone)]
pub enum AuthBackend {
    /// `backend = "file"` (the default): the TOML users file of `[users]`, if any.
    File,
    /// `backend = "json"`: an unFTP-format JSON users file.
    Json(JsonUsers),
    /// `backend = "pam"`: the system's PAM stack.
    Pam(Arc<PamAuthenticator>),
}

/// `auth.json_file`, loaded.
#[derive(Debug, Clone)]
pub struct JsonUsers {
    /// Resolved path of the file (re-read on SIGHUP).
    pub file: PathBuf,
    /// Its accounts.
    pub authenticator: Arc<JsonAuthenticator>,
}

/// `[storage]` as written. Keys other than the three below belong to the
/// OpenDAL backend and are collected for it (so they cannot be
/// `deny_unknown_fields` here; the fs backend rejects them itself).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawStorage {
    backend: Option<Spanned<String>>,
    root: Option<Spanned<String>>,
    atomic_uploads: Option<bool>,
    #[serde(flatten)]
    rest: toml::Table,
}

/// `[auth]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAuth {
    backend: Option<Spanned<String>>,
    json_file: Option<Spanned<String>>,
    pam: Option<Spanned<PamConfig>>,
}

impl Validator<'_> {
    /// `[storage]`; `table` is where the table is written (for errors about
    /// keys that keep no position of their own). `None` after an error.
    pub(super) fn storage(
        &mut self,
        raw: RawStorage,
        table: Option<std::ops::Range<usize>>,
        base: &Path,
        overrides: &Overrides,
    ) -> Option<StorageConfig> {
        let table = table.unwrap_or(0..0);
        let backend = raw.backend.as_ref().map_or("fs", |b| b.get_ref().as_str());
        match backend {
            "fs" => {
                if let Some(key) = raw.rest.keys().next() {
                    self.error(
                        table,
                        &format!("storage.{key}"),
                        format!("unknown key {key:?} for backend \"fs\"; expected root or atomic_uploads"),
                    );
                    return None;
                }
                self.fs_storage(raw.root, raw.atomic_uploads, base, overrides).map(StorageConfig::Fs)
            }
            "opendal" => {
                let mut ok = true;
                if let Some(root) = &raw.root {
                    self.error(
                        root.span(),
                        "storage.root",
                        "only for backend \"fs\"; an object store's prefix is storage.s3.root (or an option)",
                    );
                    ok = false;
                }
                if raw.atomic_uploads.is_some() {
                    self.error(
                        table.clone(),
                        "storage.atomic_uploads",
                        "only for backend \"fs\": object uploads are always atomic",
                    );
                    ok = false;
                }
                if overrides.root.is_some() {
                    self.errors.push(problem("--root", "only for storage.backend = \"fs\""));
                    ok = false;
                }
                let config = match toml::Value::Table(raw.rest).try_into::<OpendalConfig>() {
                    Ok(config) => config,
                    Err(e) => {
                        self.error(table, "storage", e.message().trim_end().to_string());
                        return None;
                    }
                };
                // Builds the operator (no I/O): bad options, an S3 part size
                // under 5 MiB, a missing bucket name are caught here.
                if let Err(e) = oxftp_opendal::OpendalStorage::from_config(&config) {
                    self.error(table, "storage", e.to_string());
                    return None;
                }
                ok.then(|| StorageConfig::Opendal(Box::new(config)))
            }
            other => {
                let span = raw.backend.as_ref().map_or(table, Spanned::span);
                self.error(span, "storage.backend", format!("expected \"fs\" or \"opendal\", found {other:?}"));
                None
            }
        }
    }

    /// The `fs` backend's root and upload mode.
    fn fs_storage(
        &mut self,
        root: Option<Spanned<String>>,
        atomic_uploads: Option<bool>,
        base: &Path,
        overrides: &Overrides,
    ) -> Option<FsStorage> {
        let atomic_uploads = atomic_uploads.unwrap_or(true);
        let root = if let Some(root) = &overrides.root {
            match canonical_dir(root) {
                Ok(path) => path,
                Err(message) => {
                    self.errors.push(problem("--root", message));
                    return None;
                }
            }
        } else if let Some(root) = root {
            match canonical_dir(&base.join(root.get_ref())) {
                Ok(path) => path,
                Err(message) => {
                    self.error(root.span(), "storage.root", message);
                    return None;
                }
            }
        } else {
            // No root anywhere: the current directory, as for a bare `oxftpd`.
            match canonical_dir(Path::new(".")) {
                Ok(path) => path,
                Err(message) => {
                    self.errors.push(problem("storage.root", message));
                    return None;
                }
            }
        };
        Some(FsStorage { root, atomic_uploads })
    }

    /// `[auth]`; `users_file` says whether `[users] file` is set (only the
    /// `file` backend reads it).
    pub(super) fn auth(
        &mut self,
        raw: RawAuth,
        users_file: Option<std::ops::Range<usize>>,
        base: &Path,
    ) -> Option<AuthBackend> {
        let backend = raw.backend.as_ref().map_or("file", |b| b.get_ref().as_str()).to_string();
        let backend_span = raw.backend.as_ref().map_or(0..0, Spanned::span);
        if backend != "file"
            && let Some(span) = users_file
        {
            self.error(span, "users.file", format!("only read with auth.backend = \"file\", not {backend:?}"));
        }
        if backend != "json"
            && let Some(file) = &raw.json_file
        {
            self.error(file.span(), "auth.json_file", "only read with auth.backend = \"json\"");
        }
        if backend != "pam"
            && let Some(pam) = &raw.pam
        {
            self.error(pam.span(), "auth.pam", "only read with auth.backend = \"pam\"");
        }
        match backend.as_str() {
            "file" => Some(AuthBackend::File),
            "json" => {
                let Some(file) = raw.json_file else {
                    self.error(backend_span, "auth.json_file", "required with auth.backend = \"json\": the users file");
                    return None;
                };
                let path = base.join(file.get_ref());
                match JsonAuthenticator::load(&path) {
                    Ok(auth) => Some(AuthBackend::Json(JsonUsers { file: path, authenticator: Arc::new(auth) })),
                    Err(e) if e.line().is_some() => {
                        // Line only: config errors have never shown the JSON column.
                        self.errors.push(ConfigError::new(KIND, e.message()).with_file(path).with_line(e.line()));
                        None
                    }
                    Err(e) => {
                        self.error(file.span(), "auth.json_file", e.to_string());
                        None
                    }
                }
            }
            "pam" => {
                let Some(pam) = raw.pam else {
                    self.error(
                        backend_span,
                        "auth.pam",
                        "required with auth.backend = \"pam\": an [auth.pam] table with service = ...",
                    );
                    return None;
                };
                let span = pam.span();
                match PamAuthenticator::new(pam.into_inner()) {
                    Ok(auth) => Some(AuthBackend::Pam(Arc::new(auth))),
                    // The machine, not the [auth.pam] table, is what cannot do PAM.
                    Err(e @ PamSetupError::LibraryUnavailable { .. }) => {
                        self.error(backend_span, "auth.backend", e.to_string());
                        None
                    }
                    Err(e) => {
                        self.error(span, "auth.pam", e.to_string());
                        None
                    }
                }
            }
            other => {
                self.error(
                    backend_span,
                    "auth.backend",
                    format!("expected \"file\", \"json\" or \"pam\", found {other:?}"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn parse(dir: &tempfile::TempDir, text: &str) -> Result<Config, Vec<ConfigError>> {
        Config::from_toml(text, dir.path(), &Overrides::default()).map_err(|e| e.0)
    }

    fn keys(errors: &[ConfigError]) -> Vec<(Option<usize>, &str)> {
        errors.iter().map(|e| (e.line, e.key.as_deref().unwrap_or(""))).collect()
    }

    #[test]
    fn fs_is_the_default_backend() {
        let dir = tempfile::tempdir().unwrap();
        let config = parse(&dir, "[storage]\nbackend = \"fs\"\nroot = \".\"\n").unwrap();
        assert_eq!(config.storage.fs().unwrap().root, dir.path().canonicalize().unwrap());
        let errors = parse(&dir, "[storage]\nroot = \".\"\nscheme = \"s3\"\n").unwrap_err();
        assert_eq!(keys(&errors), vec![(Some(1), "storage.scheme")]);
        let errors = parse(&dir, "[storage]\nbackend = \"ftp\"\n").unwrap_err();
        assert_eq!(keys(&errors), vec![(Some(2), "storage.backend")]);
    }

    #[test]
    fn opendal_takes_the_rest_of_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[storage]\nbackend = \"opendal\"\nscheme = \"s3\"\nrename_dir_limit = 100\n\
                    [storage.s3]\nbucket = \"b\"\nendpoint = \"http://127.0.0.1:1\"\nroot = \"/ftp\"\n";
        let config = parse(&dir, text).unwrap();
        let StorageConfig::Opendal(od) = &config.storage else { panic!("expected opendal") };
        assert_eq!(od.scheme, "s3");
        assert_eq!(od.rename_dir_limit, Some(100));
        assert_eq!(od.s3.as_ref().map(|s3| s3.bucket.as_str()), Some("b"));
        assert_eq!(config.storage.describe(), "s3://b/ftp");
        // The anonymous directories are not looked for on the local disk.
        let text = format!("{text}[anonymous]\nenabled = true\nroot = \"/pub\"\n");
        assert!(parse(&dir, &text).is_ok());
    }

    #[test]
    fn opendal_mistakes_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let errors = parse(&dir, "[storage]\nbackend = \"opendal\"\nscheme = \"s3\"\nbukket = \"x\"\n").unwrap_err();
        assert_eq!(keys(&errors), vec![(Some(1), "storage")]);
        assert!(errors[0].message.contains("bukket"), "{}", errors[0].message);
        // S3 parts below 5 MiB are refused before any request is made.
        let errors = parse(
            &dir,
            "[storage]\nbackend = \"opendal\"\nscheme = \"s3\"\nchunk_size = 1024\n[storage.s3]\nbucket = \"b\"\n",
        )
        .unwrap_err();
        assert!(errors[0].message.contains("chunk_size"), "{}", errors[0].message);
        let errors = parse(&dir, "[storage]\nbackend = \"opendal\"\nroot = \".\"\nscheme = \"memory\"\n").unwrap_err();
        assert_eq!(keys(&errors), vec![(Some(3), "storage.root")]);
    }

    #[test]
    fn json_backend_loads_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("users.json"), r#"[{"username": "al", "password": "pw"}]"#).unwrap();
        let config =
            parse(&dir, "[storage]\nroot = \".\"\n[auth]\nbackend = \"json\"\njson_file = \"users.json\"\n").unwrap();
        let AuthBackend::Json(json) = &config.auth else { panic!("expected json") };
        assert_eq!(json.authenticator.len(), 1);
        assert!(config.users.is_none());
        std::fs::write(dir.path().join("bad.json"), "[{\"username\": \n").unwrap();
        let errors =
            parse(&dir, "[storage]\nroot = \".\"\n[auth]\nbackend = \"json\"\njson_file = \"bad.json\"\n").unwrap_err();
        assert_eq!(errors[0].file.as_deref(), Some(dir.path().join("bad.json").as_path()));
        assert!(errors[0].line.is_some());
        let errors = parse(&dir, "[storage]\nroot = \".\"\n[auth]\nbackend = \"json\"\n").unwrap_err();
        assert_eq!(keys(&errors), vec![(Some(4), "auth.json_file")]);
    }

    #[test]
    fn keys_of_other_backends_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("users.json"), "[]").unwrap();
        let errors = parse(
            &dir,
            "[storage]\nroot = \".\"\n[users]\nfile = \"u.toml\"\n[auth]\nbackend = \"json\"\njson_file = \"users.json\"\n",
        )
        .unwrap_err();
        assert_eq!(keys(&errors), vec![(Some(4), "users.file")]);
        let errors = parse(&dir, "[storage]\nroot = \".\"\n[auth]\njson_file = \"users.json\"\n").unwrap_err();
        assert_eq!(keys(&errors), vec![(Some(4), "auth.json_file")]);
        let errors = parse(&dir, "[auth]\nbackend = \"ldap\"\n").unwrap_err();
        assert_eq!(keys(&errors), vec![(Some(2), "auth.backend")]);
    }

    #[test]
    fn pam_needs_a_known_service() {
        let dir = tempfile::tempdir().unwrap();
        let errors =
            parse(&dir, "[storage]\nroot = \".\"\n[auth]\nbackend = \"pam\"\n[auth.pam]\nservice = \"nosuch-oxftp\"\n")
                .unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].key.as_deref(), Some("auth.pam"));
        assert!(errors[0].message.contains("nosuch-oxftp"), "{}", errors[0].message);
        let errors = parse(&dir, "[auth]\nbackend = \"pam\"\n").unwrap_err();
        assert_eq!(keys(&errors), vec![(Some(2), "auth.pam")]);
    }
}
