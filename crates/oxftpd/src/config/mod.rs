//! The daemon's TOML config file: parsing, defaults and validation.
//!
//! Loading is two steps. Deserialising catches syntax errors, unknown keys
//! and wrong types (one error: the parser stops there). Validation then
//! checks every value that can be wrong in a way types cannot express and
//! reports *all* such problems at once, each with its key and line, so an
//! administrator fixes a file in one pass. Nothing here touches the engine;
//! `compose` turns a [`Config`] into a running server.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use oxftp_diag::{Diagnostic, key_at, line_of, line_of_unplaced_error};
use oxftp_proto::path::VPath;
use serde::Deserialize;
use toml::Spanned;

mod access;
mod active;
mod anonymous;
mod backends;
mod cluster;
mod log;
mod ops;
mod passive;
mod server;
mod sftp;
mod tls;
mod users;
mod web;

/// Parses `text` after a two-line `[storage]` table (so error lines in it count from 3),
/// for the config modules' tests.
#[cfg(test)]
pub(crate) fn parse_after_storage(text: &str) -> Result<Config, Vec<ConfigError>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!("[storage]\nroot = \".\"\n{text}");
    Config::from_toml(&text, dir.path(), &Overrides::default()).map_err(|e| e.0)
}

pub use access::LoadLimits;
pub use active::ActiveConfig;
pub use anonymous::AnonymousConfig;
pub use backends::{AuthBackend, FsStorage, StorageConfig};
pub use cluster::{ClusterSettings, DEFAULT_RESOLVE_INTERVAL, ListenOptions, PassiveHost, ProxySettings};
pub use log::{LogConfig, LogFormat, LogLevel};
pub use ops::{AdminSettings, DEFAULT_ADMIN_LISTEN, HooksSettings};
pub use passive::PassiveConfig;
pub use server::{DEFAULT_LISTEN, DEFAULT_MAX_PRELOGIN_PER_IP, ServerConfig};
pub use sftp::SftpSettings;
pub use tls::TlsSettings;
pub use users::UsersConfig;
pub use web::WebSettings;

/// Largest config file read, in bytes: any real config is a few KiB, and a
/// path that names a device or a huge file must not exhaust memory.
const MAX_CONFIG_SIZE: u64 = 1024 * 1024;

/// Largest accepted timeout, in seconds (about 11.5 days): larger values are
/// surely typos, and bounding them keeps deadline arithmetic far from overflow.
const MAX_TIMEOUT_SECS: u64 = 1_000_000;

/// A validated configuration, with paths resolved and the users file loaded.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[server]`
    pub server: ServerConfig,
    /// `[passive]`
    pub passive: PassiveConfig,
    /// `[active]`
    pub active: ActiveConfig,
    /// `[storage]`
    pub storage: StorageConfig,
    /// `[anonymous]`
    pub anonymous: AnonymousConfig,
    /// `[users]`: the loaded users file, if one is configured (`auth.backend = "file"`).
    pub users: Option<UsersConfig>,
    /// `[auth]`: which backend checks passwords.
    pub auth: AuthBackend,
    /// `[server]` session-per-address and bandwidth limits.
    pub load: LoadLimits,
    /// `[access]`: which client addresses may connect at all.
    pub access: oxftp_core::account::IpRules,
    /// `[ban]`: banning after failed logins; `None` = off.
    pub ban: Option<oxftp_core::limits::BanPolicy>,
    /// `[log]`
    pub log: LogConfig,
    /// `[tls]`: FTPS, when the table is present.
    pub tls: Option<TlsSettings>,
    /// `[web]`: the browser FTP client, when the table is present.
    pub web: Option<WebSettings>,
    /// `[sftp]`: the SFTP front end, when the table is present.
    pub sftp: Option<SftpSettings>,
    /// `log.xferlog`: the transfer log file (wu-ftpd/ProFTPD format), if any.
    pub xferlog: Option<PathBuf>,
    /// `[cluster]`: state shared with other nodes (Redis), when the table is present.
    pub cluster: Option<ClusterSettings>,
    /// `[admin]`: metrics and probes over HTTP, when the table is present.
    pub admin: Option<AdminSettings>,
    /// `[hooks]` and `[[hook]]`: event hooks, when there is any hook.
    pub hooks: Option<HooksSettings>,
}

/// Command-line settings that replace config values (`--listen`, `--root`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Replaces `server.listen` when not empty.
    pub listen: Vec<SocketAddr>,
    /// Replaces `storage.root` (relative to the current directory).
    pub root: Option<PathBuf>,
}

impl Config {
    /// The zero-config setup of a bare `oxftpd`: `root` read-only to anonymous
    /// users, no accounts, no uploads, terminal logs at `info`.
    pub fn quick(overrides: &Overrides) -> Result<Config, ConfigErrors> {
        let root = overrides.root.clone().unwrap_or_else(|| PathBuf::from("."));
        let root = canonical_dir(&root).map_err(|message| ConfigErrors(vec![problem("--root", message)]))?;
        let listen = if overrides.listen.is_empty() { vec![DEFAULT_LISTEN] } else { overrides.listen.clone() };
        Ok(Config {
            server: ServerConfig { listen, ..ServerConfig::default() },
            passive: PassiveConfig::default(),
            active: ActiveConfig::default(),
            storage: StorageConfig::Fs(FsStorage { root, atomic_uploads: true }),
            anonymous: AnonymousConfig { enabled: true, root: VPath::root(), incoming: None, hash: false },
            users: None,
            auth: AuthBackend::File,
            load: LoadLimits::default(),
            access: oxftp_core::account::IpRules::default(),
            ban: None,
            log: LogConfig::default(),
            tls: None,
            web: None,
            sftp: None,
            xferlog: None,
            cluster: None,
            admin: None,
            hooks: None,
        })
    }

    /// Reads, parses and validates the config file at `path`; relative paths
    /// in it are taken from its directory.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigErrors> {
        let text = read_bounded(path)
            .map_err(|message| ConfigErrors(vec![ConfigError::new(KIND, message).with_file(path.to_path_buf())]))?;
        let base = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Config::from_toml(&text, &base, overrides).map_err(|errors| errors.in_file(path))
    }

    /// Parses and validates config text; `base` is the directory relative
    /// paths are resolved against.
    pub fn from_toml(text: &str, base: &Path, overrides: &Overrides) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let span = e.span();
            let line = span.as_ref().map(|s| line_of(text, s.start));
            let line = line.or_else(|| line_of_unplaced_error(text, e.message()));
            let key = span.and_then(|s| key_at(text, s));
            ConfigErrors(vec![ConfigError::new(KIND, e.message().trim_end()).with_line(line).with_key(key)])
        })?;
        let mut check = Validator { text, errors: Vec::new() };
        let config = check.config(raw, base, overrides);
        if check.errors.is_empty() {
            // `config` only returns `None` after recording an error.
            config.ok_or_else(|| ConfigErrors(Vec::new()))
        } else {
            // In file order, so they read top to bottom like the file
            // (errors without a line, and users file errors, come last).
            let mut errors = check.errors;
            errors.sort_by_key(|e| (e.file.is_some(), e.line.is_none(), e.line));
            Err(ConfigErrors(errors))
        }
    }
}

/// Reads a whole file of at most [`MAX_CONFIG_SIZE`] bytes as UTF-8.
fn read_bounded(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read config file: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_SIZE + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read config file: {e}"))?;
    if bytes.len() as u64 > MAX_CONFIG_SIZE {
        return Err(format!("config file is larger than {MAX_CONFIG_SIZE} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "config file is not valid UTF-8".to_string())
}

/// Resolves `path` to the canonical path of an existing directory.
fn canonical_dir(path: &Path) -> Result<PathBuf, String> {
    let resolved =
        path.canonicalize().map_err(|e| format!("{}: {e}; expected an existing directory", path.display()))?;
    if resolved.is_dir() {
        Ok(resolved)
    } else {
        Err(format!("{} is not a directory; expected an existing directory", path.display()))
    }
}

/// One problem with the configuration: the shared [`Diagnostic`] of files
/// people write. Its `file` is the config file, or the users file it names;
/// its `key` the dotted key (`server.listen`) or the command-line option it
/// is about. Until [`Config::load`] names the file it reads `config: ...`.
pub type ConfigError = Diagnostic;

/// What the config file is called in a diagnostic while its path is unknown.
const KIND: &str = "config";

/// A problem with `key`, not yet placed on a line.
fn problem(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(KIND, message).with_key(key.to_string())
}

/// Every problem found in one configuration (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Names `file` on every error that does not already name one (users
    /// file errors keep theirs).
    fn in_file(mut self, file: &Path) -> Self {
        for error in &mut self.0 {
            if error.file.is_none() {
                error.file = Some(file.to_path_buf());
            }
        }
        self
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("invalid configuration");
        }
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

// ---------------------------------------------------------------------------
// The file as written. Every table and key is optional; values that need
// checking keep their span so errors can name the line.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    server: server::RawServer,
    passive: passive::RawPassive,
    active: active::RawActive,
    storage: Option<Spanned<backends::RawStorage>>,
    anonymous: anonymous::RawAnonymous,
    users: users::RawUsers,
    auth: backends::RawAuth,
    access: access::RawAccess,
    ban: Option<access::RawBan>,
    log: log::RawLog,
    tls: Option<Spanned<tls::RawTls>>,
    web: Option<Spanned<web::RawWeb>>,
    cluster: Option<Spanned<cluster::RawCluster>>,
    sftp: Option<Spanned<sftp::RawSftp>>,
    admin: Option<ops::RawAdmin>,
    hooks: Option<Spanned<ops::RawHooks>>,
    hook: Vec<Spanned<oxftp_hooks::HookConfig>>,
}

/// Checks raw values one by one, collecting every problem.
struct Validator<'t> {
    text: &'t str,
    errors: Vec<ConfigError>,
}

impl Validator<'_> {
    /// Records a problem with `key` at `span`.
    fn error(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        self.errors.push(problem(key, message).with_line(line_of(self.text, span.start)));
    }

    /// A file key resolved against `base`; an error unless it names a
    /// readable regular file (so a typo reads "no such file" at its line).
    pub(super) fn readable_file(
        &mut self,
        value: Spanned<String>,
        key: &str,
        base: &Path,
        what: &str,
    ) -> Option<PathBuf> {
        let path = base.join(value.get_ref());
        let problem = match std::fs::metadata(&path) {
            Ok(meta) if !meta.is_file() => format!("{} is not a file", path.display()),
            Ok(_) => match std::fs::File::open(&path) {
                Ok(_) => return Some(path),
                Err(e) => format!("cannot read {}: {e}", path.display()),
            },
            Err(e) => format!("cannot read {}: {e}", path.display()),
        };
        self.error(value.span(), key, format!("{problem}; expected a file with {what}"));
        None
    }

    /// Builds the config; `None` when a required piece (the storage root)
    /// could not be resolved. Other problems leave a default in place and are
    /// only recorded, so validation goes on and reports them all.
    fn config(&mut self, mut raw: RawConfig, base: &Path, overrides: &Overrides) -> Option<Config> {
        let listen_span = raw.server.listen.as_ref().map(Spanned::span);
        let load = LoadLimits {
            max_sessions_per_ip: raw.server.max_sessions_per_ip.unwrap_or(0),
            max_prelogin_per_ip: raw.server.max_prelogin_per_ip.unwrap_or(DEFAULT_MAX_PRELOGIN_PER_IP),
            download_rate: access::rate(raw.server.download_rate),
            upload_rate: access::rate(raw.server.upload_rate),
        };
        let server = self.server(raw.server, overrides);
        let passive = self.passive(raw.passive);
        let active = ActiveConfig {
            enabled: raw.active.enabled.unwrap_or(true),
            source_port_20: raw.active.source_port_20.unwrap_or(false),
        };
        let (raw_storage, storage_span) = match raw.storage {
            Some(table) => {
                let span = table.span();
                (table.into_inner(), Some(span))
            }
            None => (backends::RawStorage::default(), None),
        };
        let storage = self.storage(raw_storage, storage_span, base, overrides);
        let anonymous = self.anonymous(raw.anonymous, storage.as_ref().and_then(StorageConfig::fs));
        let users_span = raw.users.file.as_ref().map(Spanned::span);
        let auth = self.auth(raw.auth, users_span, base);
        let users = match auth {
            Some(AuthBackend::File) => self.users(raw.users, base),
            _ => None,
        };
        let access = self.access(raw.access);
        let ban = self.ban(raw.ban);
        let xferlog = raw.log.xferlog.take().and_then(|file| self.xferlog(file, base));
        let log = self.log(raw.log);
        let tls_present = raw.tls.is_some();
        let tls = raw.tls.and_then(|table| {
            let span = table.span();
            self.tls(table.into_inner(), span, base)
        });
        // A broken [tls] table may hold the only listeners: its errors say enough.
        if !(tls_present && tls.is_none()) {
            self.listeners(&server, tls.as_ref(), listen_span);
        }
        let cluster = raw.cluster.and_then(|table| {
            let span = table.span();
            self.cluster(table.into_inner(), span)
        });
        self.proxies_trusted(&server, &passive, tls.as_ref());
        let web = raw.web.map(|table| {
            let cx = web::WebContext { table: table.span(), base, server: &server, tls: tls.as_ref(), tls_present };
            self.web(table.into_inner(), cx)
        });
        let sftp = raw.sftp.map(|table| {
            let cx = sftp::SftpContext { table: table.span(), base, server: &server, tls: tls.as_ref() };
            self.sftp(table.into_inner(), cx)
        });
        let admin = raw.admin.map(|table| self.admin(table));
        let hooks = self.hooks(raw.hooks, raw.hook, base);
        Some(Config {
            admin,
            hooks,
            server,
            passive,
            active,
            storage: storage?,
            anonymous,
            users,
            auth: auth?,
            load,
            access,
            ban,
            log,
            tls,
            web,
            sftp,
            xferlog,
            cluster,
        })
    }

    /// A listener (or passive data connection) that expects PROXY headers
    /// needs someone trusted to send them.
    fn proxies_trusted(&mut self, server: &ServerConfig, passive: &PassiveConfig, tls: Option<&TlsSettings>) {
        let implicit = tls.map_or(&[][..], |t| t.implicit_options.as_slice());
        let expects = server.listen_options.iter().chain(implicit).any(|o| o.proxy_protocol) || passive.proxy_protocol;
        if expects && server.proxy.trusted.is_empty() {
            self.errors.push(problem(
                "server.trusted_proxies",
                "a listener (or passive.proxy_protocol) expects PROXY protocol headers, but no proxy is trusted to \
                 send them; expected the balancers' addresses such as [\"10.0.0.5\"]",
            ));
        }
    }

    /// Cross-checks the two listener lists: at least one listener in all,
    /// and no address in both (the second bind would fail at start-up).
    fn listeners(&mut self, server: &ServerConfig, tls: Option<&TlsSettings>, listen_span: Option<Range<usize>>) {
        let implicit = tls.map_or(&[][..], |t| t.implicit_listen.as_slice());
        let listen_errors = self.errors.iter().any(|e| e.key.as_deref() == Some("server.listen"));
        if server.listen.is_empty() && implicit.is_empty() && !listen_errors {
            let message =
                "expected at least one \"IP:PORT\" address (or an implicit FTPS listener in tls.implicit_listen)";
            match listen_span.clone() {
                Some(span) => self.error(span, "server.listen", message),
                None => self.errors.push(problem("server.listen", message)),
            }
        }
        let relaxed = tls.map_or(&[][..], |t| t.session_reuse_off_listen.as_slice());
        for addr in relaxed {
            if addr.port() != 0 && (server.listen.contains(addr) || implicit.contains(addr)) {
                self.errors.push(
                    problem(
                        "tls.session_reuse_off_listen",
                        format!("{addr} is also another listener; give this one a port of its own"),
                    )
                    .with_line(listen_span.as_ref().map(|span| line_of(self.text, span.start))),
                );
            }
        }
        for addr in implicit {
            if addr.port() != 0 && server.listen.contains(addr) {
                self.errors.push(
                    problem(
                        "tls.implicit_listen",
                        format!("{addr} is also in server.listen; one port cannot serve both plain and implicit FTPS"),
                    )
                    .with_line(listen_span.as_ref().map(|span| line_of(self.text, span.start))),
                );
            }
        }
    }

    /// Parses a list of `"IP:PORT"` strings, recording each bad one.
    fn addresses(&mut self, items: Vec<Spanned<String>>, key: &str) -> Vec<SocketAddr> {
        let mut addrs = Vec::with_capacity(items.len());
        for item in items {
            match item.get_ref().parse::<SocketAddr>() {
                Ok(addr) => addrs.push(addr),
                Err(_) => self.error(
                    item.span(),
                    key,
                    format!("expected \"IP:PORT\" such as \"0.0.0.0:21\" or \"[::]:21\", found {:?}", item.get_ref()),
                ),
            }
        }
        addrs
    }
}
#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A storage tree with `pub/incoming`, and the directory configs live in.
    pub(super) fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("srv/pub/incoming")).unwrap();
        dir
    }

    pub(super) fn parse(dir: &tempfile::TempDir, text: &str) -> Result<Config, ConfigErrors> {
        Config::from_toml(text, dir.path(), &Overrides::default())
    }

    #[test]
    fn a_too_deep_key_is_reported_at_its_line() {
        // toml reports "recursion limit" without a position; the users_toml
        // fuzz target found it there, and config errors must name a line too.
        let dir = tree();
        let text = format!("[storage]\nroot = \"srv\"\n{}x = 1\n", "a.".repeat(90));
        let errors = parse(&dir, &text).unwrap_err().0;
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, Some(3), "{:?}", errors[0]);
    }

    pub(super) fn errors(dir: &tempfile::TempDir, text: &str) -> Vec<ConfigError> {
        match parse(dir, text) {
            Ok(_) => panic!("expected errors for:\n{text}"),
            Err(e) => e.0,
        }
    }

    /// The single error of `text`, as (line, key).
    pub(super) fn only_error(dir: &tempfile::TempDir, text: &str) -> (Option<usize>, Option<String>, String) {
        let errs = errors(dir, text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        let e = errs.into_iter().next().unwrap();
        (e.line, e.key, e.message)
    }

    const FULL: &str = r#"
[server]
listen = ["127.0.0.1:0", "[::1]:2121"]
greeting = "hello"
max_sessions = 7
idle_timeout = 11
login_timeout = 12
data_timeout = 13
shutdown_timeout = 14
failed_login_delay_ms = 0
max_login_failures = 5
max_line = 8192

[passive]
port_range = [50000, 50100]
address = "203.0.113.5"

[active]
enabled = false
source_port_20 = true

[storage]
root = "srv"
atomic_uploads = false

[anonymous]
enabled = true
root = "/pub"
incoming = "/incoming"

[log]
format = "json"
level = "debug"
"#;

    #[test]
    fn full_config_is_read_into_every_field() {
        let dir = tree();
        let config = parse(&dir, FULL).unwrap();
        let s = &config.server;
        assert_eq!(s.listen, vec!["127.0.0.1:0".parse().unwrap(), "[::1]:2121".parse().unwrap()]);
        assert_eq!(s.greeting, "hello");
        assert_eq!(s.max_sessions, 7);
        assert_eq!(
            (s.idle_timeout, s.login_timeout, s.data_timeout, s.shutdown_timeout),
            (Duration::from_secs(11), Duration::from_secs(12), Duration::from_secs(13), Duration::from_secs(14))
        );
        assert_eq!(s.failed_login_delay, Duration::ZERO);
        assert_eq!((s.max_login_failures, s.max_line), (5, 8192));
        assert_eq!(config.passive.port_range, Some((50000, 50100)));
        assert_eq!(config.passive.address, Some(PassiveHost::Ip("203.0.113.5".parse().unwrap())));
        assert_eq!(config.active, ActiveConfig { enabled: false, source_port_20: true });
        assert_eq!(config.storage.fs().unwrap().root, dir.path().join("srv").canonicalize().unwrap());
        assert!(!config.storage.fs().unwrap().atomic_uploads);
        assert!(config.anonymous.enabled);
        assert_eq!(config.anonymous.root.as_bytes(), b"/pub");
        assert_eq!(config.anonymous.incoming.as_ref().map(VPath::as_bytes), Some(&b"/incoming"[..]));
        assert!(config.users.is_none());
        assert_eq!(config.log, LogConfig { format: LogFormat::Json, level: LogLevel::Debug });
    }

    #[test]
    fn empty_config_means_defaults() {
        let dir = tree();
        let config = parse(&dir, "").unwrap();
        assert_eq!(config.server, ServerConfig::default());
        assert_eq!(config.server.listen, vec![DEFAULT_LISTEN]);
        assert_eq!(config.passive, PassiveConfig::default());
        assert_eq!(config.active, ActiveConfig { enabled: true, source_port_20: false });
        assert!(config.storage.fs().unwrap().atomic_uploads);
        assert_eq!(config.storage.fs().unwrap().root, std::env::current_dir().unwrap().canonicalize().unwrap());
        assert_eq!(
            config.anonymous,
            AnonymousConfig { enabled: false, root: VPath::root(), incoming: None, hash: false }
        );
        assert_eq!(config.log, LogConfig { format: LogFormat::Terminal, level: LogLevel::Info });
    }

    #[test]
    fn overrides_replace_listen_and_root() {
        let dir = tree();
        let overrides =
            Overrides { listen: vec!["127.0.0.1:0".parse().unwrap()], root: Some(dir.path().join("srv/pub")) };
        let text = "[server]\nlisten = [\"0.0.0.0:21\"]\n[storage]\nroot = \"nowhere\"\n";
        let config = Config::from_toml(text, dir.path(), &overrides).unwrap();
        assert_eq!(config.server.listen, overrides.listen);
        assert_eq!(config.storage.fs().unwrap().root, dir.path().join("srv/pub").canonicalize().unwrap());
    }

    #[test]
    fn syntax_error_has_its_line() {
        let dir = tree();
        let (line, _, _) = only_error(&dir, "[server]\ngreeting = \"unterminated\n");
        assert_eq!(line, Some(2));
    }

    #[test]
    fn unknown_keys_and_tables_are_errors() {
        let dir = tree();
        let (line, key, message) = only_error(&dir, "[server]\nlisten = []\nmax_clients = 5\n");
        assert_eq!((line, key.as_deref()), (Some(3), Some("server.max_clients")));
        assert!(message.contains("unknown field `max_clients`"), "{message}");
        let (line, _, message) = only_error(&dir, "\n\n[ftp]\nx = 1\n");
        assert_eq!(line, Some(3));
        assert!(message.contains("ftp"), "{message}");
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let dir = tree();
        let (line, key, message) = only_error(&dir, "[active]\n\nenabled = \"yes\"\n");
        assert_eq!((line, key.as_deref()), (Some(3), Some("active.enabled")));
        assert!(message.contains("expected a boolean"), "{message}");
        let (line, key, _) = only_error(&dir, "[server]\nidle_timeout = -5\n");
        assert_eq!((line, key.as_deref()), (Some(2), Some("server.idle_timeout")));
    }

    #[test]
    fn storage_root_must_be_an_existing_directory() {
        let dir = tree();
        std::fs::write(dir.path().join("file"), "x").unwrap();
        let (line, key, message) = only_error(&dir, "\n[storage]\nroot = \"missing\"\n");
        assert_eq!((line, key.as_deref()), (Some(3), Some("storage.root")));
        assert!(message.contains("expected an existing directory"), "{message}");
        let (_, _, message) = only_error(&dir, "[storage]\nroot = \"file\"\n");
        assert!(message.contains("not a directory"), "{message}");
        let bad = Overrides { root: Some(dir.path().join("missing")), ..Overrides::default() };
        let errs = Config::from_toml("", dir.path(), &bad).unwrap_err().0;
        assert_eq!(errs[0].key.as_deref(), Some("--root"));
    }

    #[test]
    fn all_semantic_errors_are_reported_together() {
        let dir = tree();
        let text = "[server]\nlisten = [\"nope\"]\n[passive]\naddress = \"x y\"\n[storage]\nroot = \"missing\"\n[log]\nlevel = \"x\"\n";
        let errs = errors(&dir, text);
        let keys: Vec<_> = errs.iter().filter_map(|e| e.key.as_deref()).collect();
        assert_eq!(keys, vec!["server.listen", "passive.address", "storage.root", "log.level"]);
    }

    #[test]
    fn the_example_config_is_valid_and_documents_every_key() {
        let example = include_str!("../../../../oxftpd.example.toml");
        let dir = tree();
        std::fs::write(dir.path().join("users.toml"), "").unwrap();
        // The example serves /srv/ftp, which need not exist here.
        let overrides = Overrides { root: Some(dir.path().join("srv")), ..Overrides::default() };
        let config = Config::from_toml(example, dir.path(), &overrides).unwrap();
        assert_eq!(config.server, ServerConfig::default(), "the example shows the defaults");
        assert!(config.users.is_some());
        // Every key the parser knows appears in the example, set or commented out.
        for key in [
            "listen",
            "proxy_protocol",
            "passive_address",
            "trusted_proxies",
            "proxy_header_timeout",
            "resolve_interval",
            "announce_node_address",
            "redis",
            "fail_closed",
            "key_prefix",
            "session_lease",
            "timeout_ms",
            "greeting",
            "max_sessions",
            "idle_timeout",
            "login_timeout",
            "data_timeout",
            "shutdown_timeout",
            "failed_login_delay_ms",
            "max_login_failures",
            "max_line",
            "port_range",
            "address",
            "enabled",
            "source_port_20",
            "root",
            "atomic_uploads",
            "incoming",
            "file",
            "format",
            "level",
            "require_tls",
            "cert_file",
            "key_file",
            "control",
            "data",
            "require_session_reuse",
            "session_reuse_off_listen",
            "tls_session_reuse",
            "allow_ccc",
            "client_certs",
            "client_ca_file",
            "cert_cn_login",
            "handshake_timeout",
            "implicit_listen",
            "max_sessions_per_ip",
            "download_rate",
            "upload_rate",
            "allow",
            "deny",
            "max_failures",
            "window",
            "ban_time",
            "per_user",
            "backend",
            "scheme",
            "chunk_size",
            "upload_concurrency",
            "checksum",
            "rename_dir_limit",
            "bucket",
            "json_file",
            "service",
            "permissions",
            "quota_bytes",
            "quota_files",
            "max_sessions",
            "allowed_ips",
            "upstream",
            "allowed_upstreams",
            "absolute_timeout",
            "max_upload",
            "secure_cookies",
            "tls",
            "upstream_tls",
            "upstream_ca_file",
            "run_as",
            "run_as_group",
            "allow_root",
            "xferlog",
            "chmod_special_bits",
            "upload_sweep_interval",
            "max_prelogin_per_ip",
            "max_unknown_before_login",
            "server_names",
            "max_handshakes",
            "hash_bytes_per_session",
            "hash",
            "max_part_header",
            "max_form_body",
            "max_request_header",
            "header_read_timeout",
            "keep_alive_timeout",
            "max_connections",
            "max_connections_per_ip",
            "max_sessions_per_user",
            "ftp_idle_timeout",
            "login_attempts_per_minute",
            "login_failure_window",
            "login_ban_time",
            "trusted_proxies",
            "allowed_hosts",
            "hsts_max_age",
            "shares_file",
            "share_max_days",
            "preview_listen",
            "per_user_metrics",
            "spool_dir",
            "name",
            "events",
            "users",
            "path",
            "url",
            "secret",
            "ca_file",
            "command",
            "timeout",
            "concurrency",
            "max_attempts",
            "retry_delay_ms",
            "retry_max_delay",
            "max_spooled",
            "on_full",
            "fsync",
            "host_key",
            "rsa_host_key",
            "max_auth_attempts",
            "max_channels",
            "max_handles",
            "authorized_keys",
        ] {
            assert!(
                example.lines().any(|l| l.trim_start_matches(['#', ' ']).starts_with(&format!("{key} = "))),
                "{key} is not documented in oxftpd.example.toml"
            );
        }
    }

    #[test]
    fn load_names_the_file_and_quick_serves_a_directory() {
        let dir = tree();
        let path = dir.path().join("oxftpd.toml");
        std::fs::write(&path, "[log]\nlevel = \"x\"\n").unwrap();
        let err = Config::load(&path, &Overrides::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:2: log.level: expected \"error\", \"warning\", \"info\", \"debug\" or \"trace\", found \"x\"",
                path.display()
            )
        );
        let missing = Config::load(&dir.path().join("absent.toml"), &Overrides::default()).unwrap_err();
        assert!(missing.to_string().contains("cannot read config file"), "{missing}");

        let quick = Config::quick(&Overrides { root: Some(dir.path().join("srv")), listen: vec![] }).unwrap();
        assert!(quick.anonymous.enabled && quick.anonymous.incoming.is_none() && quick.users.is_none());
        assert_eq!(quick.server.listen, vec![DEFAULT_LISTEN]);
        assert_eq!(quick.storage.fs().unwrap().root, dir.path().join("srv").canonicalize().unwrap());
    }
}
