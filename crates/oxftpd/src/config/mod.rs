//! The daemon's TOML config file: parsing, defaults and validation.
//!
//! Loading is two steps. Deserialising catches syntax errors, unknown keys
//! and wrong types (one error: the parser stops there). Validation then
//! checks every value that can be wrong in a way types cannot express and
//! reports *all* such problems at once, each with its key and line, so an
//! administrator fixes a file in one pass. Nothing here touches the engine;
//! `compose` turns a [`Config`] into a running server.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use oxftp_auth_file::FileAuthenticator;
use oxftp_auth_file::diag::{key_at, line_of, line_of_unplaced_error};
use oxftp_proto::path::VPath;
use serde::Deserialize;
use toml::Spanned;

mod access;
mod backends;
mod cluster;
mod ops;
mod sftp;
mod tls;
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
pub use backends::{AuthBackend, FsStorage, StorageConfig};
pub use cluster::{ClusterSettings, DEFAULT_RESOLVE_INTERVAL, ListenOptions, PassiveHost, ProxySettings};
pub use ops::{AdminSettings, DEFAULT_ADMIN_LISTEN, HooksSettings};
pub use sftp::SftpSettings;
pub use tls::TlsSettings;
pub use web::WebSettings;

/// Where the daemon listens when neither the config nor `--listen` says.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2121);

/// Largest config file read, in bytes: any real config is a few KiB, and a
/// path that names a device or a huge file must not exhaust memory.
const MAX_CONFIG_SIZE: u64 = 1024 * 1024;

/// Largest accepted timeout, in seconds (about 11.5 days): larger values are
/// surely typos, and bounding them keeps deadline arithmetic far from overflow.
const MAX_TIMEOUT_SECS: u64 = 1_000_000;

/// Longest failed-login delay, in milliseconds: beyond a minute the delay only
/// ties up sessions.
const MAX_FAILED_LOGIN_DELAY_MS: u64 = 60_000;

/// Accepted range for `server.max_line`: shorter lines cannot carry a long
/// path, longer ones only let a client make the server buffer more.
const MAX_LINE_RANGE: (usize, usize) = (512, 1024 * 1024);

/// `server.max_prelogin_per_ip` when not set.
pub const DEFAULT_MAX_PRELOGIN_PER_IP: usize = 64;

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

/// `[server]`: listeners, limits and timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Addresses to listen on (port 0: any free port).
    pub listen: Vec<SocketAddr>,
    /// How each of `listen` starts its connections (same order; missing
    /// entries are the defaults: no PROXY header, `passive.address`).
    pub listen_options: Vec<ListenOptions>,
    /// `trusted_proxies`, `proxy_header_timeout`: who may send PROXY headers.
    pub proxy: ProxySettings,
    /// Text of the 220 greeting.
    pub greeting: String,
    /// Concurrent sessions (0 = unlimited).
    pub max_sessions: usize,
    /// Idle logged-in sessions are closed after this.
    pub idle_timeout: Duration,
    /// A connection must log in within this.
    pub login_timeout: Duration,
    /// Waiting for (and on) a data connection.
    pub data_timeout: Duration,
    /// How long running transfers may go on after a shutdown signal.
    pub shutdown_timeout: Duration,
    /// Pause before answering a failed login.
    pub failed_login_delay: Duration,
    /// Failed logins after which the connection is closed.
    pub max_login_failures: u32,
    /// Longest control line accepted.
    pub max_line: usize,
    /// Started as root: the account to switch to once the listeners are bound.
    pub run_as: Option<crate::privileges::RunAs>,
    /// Started as root without `run_as`: keep root instead of refusing to start.
    pub allow_root: bool,
    /// Let SITE CHMOD set setuid, setgid and sticky bits.
    pub chmod_special_bits: bool,
    /// How often what dead uploads left is swept away (also once at start);
    /// zero: only at start.
    pub upload_sweep_interval: Duration,
    /// Unknown commands before login after which the connection is closed (0 = unlimited).
    pub max_unknown_before_login: u32,
    /// HASH: bytes one session may hash in all; 0 turns HASH off.
    pub hash_bytes_per_session: u64,
}

/// `[passive]`: what PASV/EPSV use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveConfig {
    /// Inclusive port range; `None`: ports chosen by the OS.
    pub port_range: Option<(u16, u16)>,
    /// Address advertised in 227 replies (behind NAT): an IP or a DNS name.
    pub address: Option<PassiveHost>,
    /// How often a DNS name in `address` is resolved again.
    pub resolve_interval: Duration,
    /// Announce this node's own address on the control connection, even
    /// behind a proxy (clients reach each node directly for data).
    pub announce_node_address: bool,
    /// Passive data connections start with a PROXY protocol header.
    pub proxy_protocol: bool,
}

impl Default for PassiveConfig {
    fn default() -> Self {
        PassiveConfig {
            port_range: None,
            address: None,
            resolve_interval: DEFAULT_RESOLVE_INTERVAL,
            announce_node_address: false,
            proxy_protocol: false,
        }
    }
}

/// `[active]`: whether PORT/EPRT are allowed and how they connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveConfig {
    /// PORT/EPRT allowed.
    pub enabled: bool,
    /// Connect from port 20 (needs privilege).
    pub source_port_20: bool,
}

/// `[anonymous]`: the anonymous access model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnonymousConfig {
    /// `anonymous`/`ftp` may log in.
    pub enabled: bool,
    /// Their root, a virtual path under the storage root.
    pub root: VPath,
    /// Upload-only directory, as the anonymous session sees it.
    pub incoming: Option<VPath>,
    /// Anonymous sessions may use HASH.
    pub hash: bool,
}

/// `[users]`: the accounts file.
#[derive(Debug, Clone)]
pub struct UsersConfig {
    /// Resolved path of the users file.
    pub file: PathBuf,
    /// Its accounts, already validated.
    pub authenticator: Arc<FileAuthenticator>,
}

/// `[log]`: where log lines go and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// Human-readable or JSON lines (both on stderr).
    pub format: LogFormat,
    /// Least severe level logged.
    pub level: LogLevel,
}

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Coloured (on a terminal) human-readable lines.
    Terminal,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `log.level`, least to most verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Failures only.
    Error,
    /// Plus things an administrator should look at.
    Warning,
    /// Plus sessions, logins and transfers.
    Info,
    /// Plus every command and reply.
    Debug,
    /// Everything the engine can say.
    Trace,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: vec![DEFAULT_LISTEN],
            listen_options: Vec::new(),
            proxy: ProxySettings::default(),
            greeting: "oxftpd ready".to_string(),
            max_sessions: 1000,
            idle_timeout: Duration::from_secs(300),
            login_timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(30),
            failed_login_delay: Duration::from_millis(1000),
            max_login_failures: 3,
            max_line: 4096,
            run_as: None,
            allow_root: false,
            chmod_special_bits: false,
            upload_sweep_interval: Duration::from_secs(3600),
            max_unknown_before_login: 3,
            hash_bytes_per_session: 16 << 30,
        }
    }
}

impl Default for ActiveConfig {
    fn default() -> Self {
        ActiveConfig { enabled: true, source_port_20: false }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::Terminal, level: LogLevel::Info }
    }
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
        let root = canonical_dir(&root).map_err(|message| {
            ConfigErrors(vec![ConfigError { file: None, line: None, key: Some("--root".into()), message }])
        })?;
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
        let text = read_bounded(path).map_err(|message| {
            ConfigErrors(vec![ConfigError { file: Some(path.to_path_buf()), line: None, key: None, message }])
        })?;
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
            ConfigErrors(vec![ConfigError { file: None, line, key, message: e.message().trim_end().to_string() }])
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

/// One problem with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in (the config file, or the users file it names).
    pub file: Option<PathBuf>,
    /// 1-based line, when the problem has a position.
    pub line: Option<usize>,
    /// Dotted key (`server.listen`), or the command-line option, it is about.
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}", file.display())?,
            None => f.write_str("config")?,
        }
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
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
    server: RawServer,
    passive: RawPassive,
    active: RawActive,
    storage: Option<Spanned<backends::RawStorage>>,
    anonymous: RawAnonymous,
    users: RawUsers,
    auth: backends::RawAuth,
    access: access::RawAccess,
    ban: Option<access::RawBan>,
    log: RawLog,
    tls: Option<Spanned<tls::RawTls>>,
    web: Option<Spanned<web::RawWeb>>,
    cluster: Option<Spanned<cluster::RawCluster>>,
    sftp: Option<Spanned<sftp::RawSftp>>,
    admin: Option<ops::RawAdmin>,
    hooks: Option<Spanned<ops::RawHooks>>,
    hook: Vec<Spanned<oxftp_hooks::HookConfig>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    listen: Option<Spanned<Vec<Spanned<toml::Value>>>>,
    trusted_proxies: Vec<Spanned<String>>,
    proxy_header_timeout: Option<Spanned<u64>>,
    greeting: Option<Spanned<String>>,
    max_sessions: Option<usize>,
    idle_timeout: Option<Spanned<u64>>,
    login_timeout: Option<Spanned<u64>>,
    data_timeout: Option<Spanned<u64>>,
    shutdown_timeout: Option<Spanned<u64>>,
    failed_login_delay_ms: Option<Spanned<u64>>,
    max_login_failures: Option<Spanned<u32>>,
    max_line: Option<Spanned<usize>>,
    max_sessions_per_ip: Option<usize>,
    max_prelogin_per_ip: Option<usize>,
    max_unknown_before_login: Option<u32>,
    download_rate: Option<u64>,
    upload_rate: Option<u64>,
    run_as: Option<Spanned<String>>,
    run_as_group: Option<Spanned<String>>,
    allow_root: Option<bool>,
    chmod_special_bits: Option<bool>,
    upload_sweep_interval: Option<Spanned<u64>>,
    hash_bytes_per_session: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawPassive {
    port_range: Option<Spanned<Vec<Spanned<i64>>>>,
    address: Option<Spanned<String>>,
    resolve_interval: Option<Spanned<u64>>,
    announce_node_address: Option<bool>,
    proxy_protocol: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawActive {
    enabled: Option<bool>,
    source_port_20: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawAnonymous {
    enabled: Option<bool>,
    root: Option<Spanned<String>>,
    incoming: Option<Spanned<String>>,
    hash: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawUsers {
    file: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    format: Option<Spanned<String>>,
    level: Option<Spanned<String>>,
    xferlog: Option<Spanned<String>>,
}

/// Checks raw values one by one, collecting every problem.
struct Validator<'t> {
    text: &'t str,
    errors: Vec<ConfigError>,
}

impl Validator<'_> {
    /// Records a problem with `key` at `span`.
    fn error(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: None,
            line: Some(line_of(self.text, span.start)),
            key: Some(key.to_string()),
            message: message.into(),
        });
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
            self.errors.push(ConfigError {
                file: None,
                line: None,
                key: Some("server.trusted_proxies".into()),
                message: "a listener (or passive.proxy_protocol) expects PROXY protocol headers, but no proxy is \
                          trusted to send them; expected the balancers' addresses such as [\"10.0.0.5\"]"
                    .into(),
            });
        }
    }

    /// `log.xferlog`: a file in an existing directory (created at start-up
    /// when missing), never a directory.
    fn xferlog(&mut self, value: Spanned<String>, base: &Path) -> Option<PathBuf> {
        let path = base.join(value.get_ref());
        let problem = if value.get_ref().is_empty() {
            "expected a file path such as \"/var/log/oxftpd/xferlog\"".to_string()
        } else if path.is_dir() {
            format!("{} is a directory; expected a file path such as \"/var/log/oxftpd/xferlog\"", path.display())
        } else {
            match path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                Some(dir) if !dir.is_dir() => {
                    format!("{} is not an existing directory; create it for the transfer log", dir.display())
                }
                _ => return Some(path),
            }
        };
        self.error(value.span(), "log.xferlog", problem);
        None
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
                None => self.errors.push(ConfigError {
                    file: None,
                    line: None,
                    key: Some("server.listen".into()),
                    message: message.into(),
                }),
            }
        }
        let relaxed = tls.map_or(&[][..], |t| t.session_reuse_off_listen.as_slice());
        for addr in relaxed {
            if addr.port() != 0 && (server.listen.contains(addr) || implicit.contains(addr)) {
                self.errors.push(ConfigError {
                    file: None,
                    line: listen_span.as_ref().map(|span| line_of(self.text, span.start)),
                    key: Some("tls.session_reuse_off_listen".into()),
                    message: format!("{addr} is also another listener; give this one a port of its own"),
                });
            }
        }
        for addr in implicit {
            if addr.port() != 0 && server.listen.contains(addr) {
                self.errors.push(ConfigError {
                    file: None,
                    line: listen_span.as_ref().map(|span| line_of(self.text, span.start)),
                    key: Some("tls.implicit_listen".into()),
                    message: format!(
                        "{addr} is also in server.listen; one port cannot serve both plain and implicit FTPS"
                    ),
                });
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

    fn server(&mut self, raw: RawServer, overrides: &Overrides) -> ServerConfig {
        let mut server = ServerConfig::default();
        if !overrides.listen.is_empty() {
            server.listen = overrides.listen.clone();
        } else if let Some(listen) = raw.listen {
            // An empty list is checked later, against tls.implicit_listen.
            (server.listen, server.listen_options) = self.listen_entries(listen.into_inner(), "server.listen");
            // Plain addresses only: nothing to remember per listener.
            if server.listen_options.iter().all(|o| *o == ListenOptions::default()) {
                server.listen_options.clear();
            }
        }
        server.proxy = self.proxy_settings(raw.trusted_proxies, raw.proxy_header_timeout);
        if let Some(greeting) = raw.greeting {
            if greeting.get_ref().chars().any(char::is_control) {
                self.error(greeting.span(), "server.greeting", "expected one line of text without control characters");
            } else {
                server.greeting = greeting.into_inner();
            }
        }
        if let Some(max) = raw.max_sessions {
            server.max_sessions = max;
        }
        server.allow_root = raw.allow_root.unwrap_or(false);
        self.run_as(&mut server, raw.run_as, raw.run_as_group);
        for (slot, raw, key) in [
            (&mut server.idle_timeout, raw.idle_timeout, "server.idle_timeout"),
            (&mut server.login_timeout, raw.login_timeout, "server.login_timeout"),
            (&mut server.data_timeout, raw.data_timeout, "server.data_timeout"),
            (&mut server.shutdown_timeout, raw.shutdown_timeout, "server.shutdown_timeout"),
        ] {
            let Some(secs) = raw else { continue };
            if (1..=MAX_TIMEOUT_SECS).contains(secs.get_ref()) {
                *slot = Duration::from_secs(*secs.get_ref());
            } else {
                self.error(
                    secs.span(),
                    key,
                    format!("expected seconds from 1 to {MAX_TIMEOUT_SECS}, found {}", secs.get_ref()),
                );
            }
        }
        if let Some(ms) = raw.failed_login_delay_ms {
            if *ms.get_ref() <= MAX_FAILED_LOGIN_DELAY_MS {
                server.failed_login_delay = Duration::from_millis(*ms.get_ref());
            } else {
                self.error(
                    ms.span(),
                    "server.failed_login_delay_ms",
                    format!("expected milliseconds from 0 to {MAX_FAILED_LOGIN_DELAY_MS}, found {}", ms.get_ref()),
                );
            }
        }
        if let Some(failures) = raw.max_login_failures {
            if *failures.get_ref() >= 1 {
                server.max_login_failures = *failures.get_ref();
            } else {
                self.error(failures.span(), "server.max_login_failures", "expected at least 1");
            }
        }
        server.chmod_special_bits = raw.chmod_special_bits.unwrap_or(false);
        if let Some(max) = raw.max_unknown_before_login {
            server.max_unknown_before_login = max;
        }
        if let Some(secs) = raw.upload_sweep_interval {
            if *secs.get_ref() <= MAX_TIMEOUT_SECS {
                server.upload_sweep_interval = Duration::from_secs(*secs.get_ref());
            } else {
                self.error(
                    secs.span(),
                    "server.upload_sweep_interval",
                    format!("expected seconds from 0 to {MAX_TIMEOUT_SECS}, found {}", secs.get_ref()),
                );
            }
        }
        if let Some(bytes) = raw.hash_bytes_per_session {
            server.hash_bytes_per_session = bytes;
        }
        if let Some(max_line) = raw.max_line {
            let (lo, hi) = MAX_LINE_RANGE;
            if (lo..=hi).contains(max_line.get_ref()) {
                server.max_line = *max_line.get_ref();
            } else {
                self.error(
                    max_line.span(),
                    "server.max_line",
                    format!("expected bytes from {lo} to {hi}, found {}", max_line.get_ref()),
                );
            }
        }
        server
    }

    /// `server.run_as` / `server.run_as_group`: accounts that exist and are not root.
    fn run_as(&mut self, server: &mut ServerConfig, user: Option<Spanned<String>>, group: Option<Spanned<String>>) {
        use crate::privileges::{LookupError, lookup};
        let Some(user) = user else {
            if let Some(group) = group {
                self.error(group.span(), "server.run_as_group", "needs server.run_as: the user it is the group of");
            }
            return;
        };
        match lookup(user.get_ref(), group.as_ref().map(|g| g.get_ref().as_str())) {
            Ok(run_as) => server.run_as = Some(run_as),
            Err(LookupError::User(message)) => self.error(user.span(), "server.run_as", message),
            Err(LookupError::Group(message)) => {
                let span = group.map_or_else(|| user.span(), |g| g.span());
                self.error(span, "server.run_as_group", message);
            }
        }
    }

    fn passive(&mut self, raw: RawPassive) -> PassiveConfig {
        let mut passive = PassiveConfig::default();
        if let Some(range) = raw.port_range {
            const EXPECTED: &str = "expected [LOW, HIGH] with 1 <= LOW <= HIGH <= 65535";
            let ports: Vec<i64> = range.get_ref().iter().map(|p| *p.get_ref()).collect();
            match ports.as_slice() {
                [lo, hi] => match (u16::try_from(*lo), u16::try_from(*hi)) {
                    (Ok(lo), Ok(hi)) if lo >= 1 && lo <= hi => passive.port_range = Some((lo, hi)),
                    _ => self.error(range.span(), "passive.port_range", format!("{EXPECTED}, found [{lo}, {hi}]")),
                },
                _ => self.error(
                    range.span(),
                    "passive.port_range",
                    format!("{EXPECTED}, found {} number(s)", ports.len()),
                ),
            }
        }
        if let Some(address) = &raw.address {
            passive.address = self.passive_host(address.get_ref(), address.span(), "passive.address");
        }
        passive.resolve_interval =
            self.seconds(raw.resolve_interval, "passive.resolve_interval").unwrap_or(DEFAULT_RESOLVE_INTERVAL);
        passive.announce_node_address = raw.announce_node_address.unwrap_or(false);
        passive.proxy_protocol = raw.proxy_protocol.unwrap_or(false);
        if let (true, Some(address)) = (passive.announce_node_address, &raw.address) {
            self.error(
                address.span(),
                "passive.announce_node_address",
                "cannot be used with passive.address: announce either this node's address or that one",
            );
        }
        passive
    }

    fn anonymous(&mut self, raw: RawAnonymous, storage: Option<&FsStorage>) -> AnonymousConfig {
        let enabled = raw.enabled.unwrap_or(false);
        let root_span = raw.root.as_ref().map(Spanned::span);
        let root = raw.root.and_then(|root| self.vpath(root, "anonymous.root")).unwrap_or_else(VPath::root);
        let incoming = raw.incoming.and_then(|inc| {
            let span = inc.span();
            let path = self.vpath(inc, "anonymous.incoming")?;
            if path.is_root() {
                self.error(span, "anonymous.incoming", "expected a directory below the anonymous root, not \"/\"");
                return None;
            }
            Some((path, span))
        });
        // When anonymous logins are on, their directories must exist: a typo
        // here would otherwise only show as failing logins or uploads.
        if let (true, Some(storage)) = (enabled, storage) {
            let anon_root = disk_path(&storage.root, &root);
            if !anon_root.is_dir() {
                let message =
                    format!("{} is not a directory (anonymous.root {root} under storage.root)", anon_root.display());
                match root_span {
                    Some(span) => self.error(span, "anonymous.root", message),
                    None => self.errors.push(ConfigError {
                        file: None,
                        line: None,
                        key: Some("anonymous.root".into()),
                        message,
                    }),
                }
            } else if let Some((incoming, span)) = &incoming {
                let dir = disk_path(&anon_root, incoming);
                if !dir.is_dir() {
                    self.error(
                        span.clone(),
                        "anonymous.incoming",
                        format!("{} is not a directory (incoming {incoming} under the anonymous root)", dir.display()),
                    );
                }
            }
        }
        AnonymousConfig { enabled, root, incoming: incoming.map(|(path, _)| path), hash: raw.hash.unwrap_or(false) }
    }

    /// Parses a virtual path value, recording an error when it is invalid.
    fn vpath(&mut self, value: Spanned<String>, key: &str) -> Option<VPath> {
        match VPath::parse(value.get_ref().as_bytes()) {
            Ok(path) => Some(path),
            Err(e) => {
                self.error(
                    value.span(),
                    key,
                    format!("expected a path like \"/pub\" ({e}), found {:?}", value.get_ref()),
                );
                None
            }
        }
    }

    fn users(&mut self, raw: RawUsers, base: &Path) -> Option<UsersConfig> {
        let file = raw.file?;
        let path = base.join(file.get_ref());
        match FileAuthenticator::load(&path) {
            Ok(auth) => Some(UsersConfig { file: path, authenticator: Arc::new(auth) }),
            Err(e) if e.line().is_some() => {
                // A problem inside the users file: report it there.
                self.errors.push(ConfigError {
                    file: e.file().map(Path::to_path_buf),
                    line: e.line(),
                    key: e.key().map(str::to_string),
                    message: e.message().to_string(),
                });
                None
            }
            Err(e) => {
                self.error(file.span(), "users.file", e.to_string());
                None
            }
        }
    }

    fn log(&mut self, raw: RawLog) -> LogConfig {
        let mut log = LogConfig::default();
        if let Some(format) = raw.format {
            match format.get_ref().as_str() {
                "terminal" => log.format = LogFormat::Terminal,
                "json" => log.format = LogFormat::Json,
                other => self.error(
                    format.span(),
                    "log.format",
                    format!("expected \"terminal\" or \"json\", found {other:?}"),
                ),
            }
        }
        if let Some(level) = raw.level {
            match level.get_ref().as_str() {
                "error" => log.level = LogLevel::Error,
                "warning" | "warn" => log.level = LogLevel::Warning,
                "info" => log.level = LogLevel::Info,
                "debug" => log.level = LogLevel::Debug,
                "trace" => log.level = LogLevel::Trace,
                other => self.error(
                    level.span(),
                    "log.level",
                    format!("expected \"error\", \"warning\", \"info\", \"debug\" or \"trace\", found {other:?}"),
                ),
            }
        }
        log
    }
}

/// Where virtual path `path` lies on disk below `root`.
fn disk_path(root: &Path, path: &VPath) -> PathBuf {
    use std::os::unix::ffi::OsStrExt as _;
    let relative = path.relative();
    if relative.is_empty() { root.to_path_buf() } else { root.join(std::ffi::OsStr::from_bytes(relative)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A storage tree with `pub/incoming`, and the directory configs live in.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("srv/pub/incoming")).unwrap();
        dir
    }

    fn parse(dir: &tempfile::TempDir, text: &str) -> Result<Config, ConfigErrors> {
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

    fn errors(dir: &tempfile::TempDir, text: &str) -> Vec<ConfigError> {
        match parse(dir, text) {
            Ok(_) => panic!("expected errors for:\n{text}"),
            Err(e) => e.0,
        }
    }

    /// The single error of `text`, as (line, key).
    fn only_error(dir: &tempfile::TempDir, text: &str) -> (Option<usize>, Option<String>, String) {
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
    fn bad_listen_addresses_are_each_reported() {
        let dir = tree();
        let errs = errors(&dir, "[server]\nlisten = [\n  \"127.0.0.1:21\",\n  \"localhost:21\",\n  \"1.2.3.4\",\n]\n");
        let lines: Vec<_> = errs.iter().map(|e| (e.line, e.key.as_deref())).collect();
        assert_eq!(lines, vec![(Some(4), Some("server.listen")), (Some(5), Some("server.listen"))]);
        assert!(errs[0].message.contains("expected \"IP:PORT\""), "{}", errs[0].message);
        let (line, key, message) = only_error(&dir, "[server]\nlisten = []\n");
        assert_eq!((line, key.as_deref()), (Some(2), Some("server.listen")));
        assert!(message.contains("at least one"), "{message}");
    }

    #[test]
    fn port_range_must_be_ordered_and_nonzero() {
        let dir = tree();
        for (range, why) in [
            ("[2000, 1000]", "found [2000, 1000]"),
            ("[0, 10]", "found [0, 10]"),
            ("[1, 70000]", "70000"),
            ("[5]", "1 number"),
        ] {
            let (line, key, message) = only_error(&dir, &format!("[passive]\nport_range = {range}\n"));
            assert_eq!((line, key.as_deref()), (Some(2), Some("passive.port_range")), "{range}");
            assert!(message.contains(why) && message.contains("LOW <= HIGH"), "{range}: {message}");
        }
        let config = parse(&dir, "[passive]\nport_range = [1024, 1024]\n").unwrap();
        assert_eq!(config.passive.port_range, Some((1024, 1024)));
    }

    #[test]
    fn timeouts_must_be_positive_and_bounded() {
        let dir = tree();
        let errs = errors(
            &dir,
            "[server]\nidle_timeout = 0\nlogin_timeout = 0\ndata_timeout = 30\nshutdown_timeout = 99999999\n",
        );
        let got: Vec<_> = errs.iter().map(|e| (e.line, e.key.clone().unwrap_or_default())).collect();
        assert_eq!(
            got,
            vec![
                (Some(2), "server.idle_timeout".to_string()),
                (Some(3), "server.login_timeout".to_string()),
                (Some(5), "server.shutdown_timeout".to_string()),
            ]
        );
        assert!(errs[0].message.contains("expected seconds from 1"), "{}", errs[0].message);
    }

    #[test]
    fn other_server_limits_are_checked() {
        let dir = tree();
        let errs = errors(
            &dir,
            "[server]\nmax_line = 10\nfailed_login_delay_ms = 3600000\ngreeting = \"two\\nlines\"\nmax_login_failures = 0\n",
        );
        let keys: Vec<_> = errs.iter().map(|e| (e.line, e.key.clone().unwrap_or_default())).collect();
        assert_eq!(
            keys,
            vec![
                (Some(2), "server.max_line".to_string()),
                (Some(3), "server.failed_login_delay_ms".to_string()),
                (Some(4), "server.greeting".to_string()),
                (Some(5), "server.max_login_failures".to_string()),
            ]
        );
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
    fn anonymous_paths_are_checked() {
        let dir = tree();
        let (line, key, _) = only_error(&dir, "[anonymous]\nroot = \"/a\\u0000\"\n");
        assert_eq!((line, key.as_deref()), (Some(2), Some("anonymous.root")));
        let (line, key, _) = only_error(&dir, "[anonymous]\nincoming = \"/\"\n");
        assert_eq!((line, key.as_deref()), (Some(2), Some("anonymous.incoming")));
        // Enabled: the directories must exist.
        let text = "[storage]\nroot = \"srv\"\n[anonymous]\nenabled = true\nroot = \"/pub\"\nincoming = \"/uploads\"\n";
        let (line, key, message) = only_error(&dir, text);
        assert_eq!((line, key.as_deref()), (Some(6), Some("anonymous.incoming")));
        assert!(message.contains("not a directory"), "{message}");
        let text = "[storage]\nroot = \"srv\"\n[anonymous]\nenabled = true\nroot = \"/public\"\n";
        let (_, key, _) = only_error(&dir, text);
        assert_eq!(key.as_deref(), Some("anonymous.root"));
        // Disabled: not checked, the section may be prepared in advance.
        assert!(parse(&dir, "[storage]\nroot = \"srv\"\n[anonymous]\nroot = \"/public\"\n").is_ok());
    }

    #[test]
    fn log_values_are_checked() {
        let dir = tree();
        let errs = errors(&dir, "[log]\nformat = \"xml\"\nlevel = \"loud\"\n");
        assert_eq!(errs.len(), 2);
        assert_eq!((errs[0].line, errs[0].key.as_deref()), (Some(2), Some("log.format")));
        assert!(errs[0].message.contains("\"terminal\" or \"json\""));
        assert_eq!((errs[1].line, errs[1].key.as_deref()), (Some(3), Some("log.level")));
        let config = parse(&dir, "[log]\nlevel = \"warning\"\n").unwrap();
        assert_eq!(config.log.level, LogLevel::Warning);
    }

    #[test]
    fn run_as_must_name_an_unprivileged_account() {
        let dir = tree();
        let (line, key, message) = only_error(&dir, "[server]\n\nrun_as = \"no-such-user-oxftpd\"\n");
        assert_eq!((line, key.as_deref()), (Some(3), Some("server.run_as")));
        assert!(message.contains("no user \"no-such-user-oxftpd\""), "{message}");
        let (_, key, message) = only_error(&dir, "[server]\nrun_as = \"root\"\n");
        assert_eq!(key.as_deref(), Some("server.run_as"));
        assert!(message.contains("uid 0"), "{message}");
        let (line, key, _) =
            only_error(&dir, "[server]\nrun_as = \"nobody\"\nrun_as_group = \"no-such-group-oxftpd\"\n");
        assert_eq!((line, key.as_deref()), (Some(3), Some("server.run_as_group")));
        let (line, key, message) = only_error(&dir, "[server]\nrun_as_group = \"nogroup\"\n");
        assert_eq!((line, key.as_deref()), (Some(2), Some("server.run_as_group")));
        assert!(message.contains("needs server.run_as"), "{message}");
        let config = parse(&dir, "[server]\nrun_as = \"nobody\"\nallow_root = true\n").unwrap();
        assert_eq!(config.server.run_as.as_ref().map(|r| r.user.as_str()), Some("nobody"));
        assert!(config.server.allow_root);
        let (line, key, _) = only_error(&dir, "[server]\nallow_root = \"yes\"\n");
        assert_eq!((line, key.as_deref()), (Some(2), Some("server.allow_root")));
    }

    #[test]
    fn xferlog_needs_an_existing_directory() {
        let dir = tree();
        let config = parse(&dir, "[log]\nxferlog = \"xferlog\"\n").unwrap();
        assert_eq!(config.xferlog, Some(dir.path().join("xferlog")));
        assert!(parse(&dir, "").unwrap().xferlog.is_none());
        let (line, key, message) = only_error(&dir, "[log]\nlevel = \"info\"\nxferlog = \"nowhere/xferlog\"\n");
        assert_eq!((line, key.as_deref()), (Some(3), Some("log.xferlog")));
        assert!(message.contains("not an existing directory"), "{message}");
        let (_, key, message) = only_error(&dir, "[log]\nxferlog = \"srv\"\n");
        assert_eq!(key.as_deref(), Some("log.xferlog"));
        assert!(message.contains("is a directory"), "{message}");
    }

    #[test]
    fn users_file_is_loaded_relative_to_the_config() {
        let dir = tree();
        let hash = oxftp_auth_file::hash_password("pw");
        std::fs::write(dir.path().join("users.toml"), format!("[[user]]\nname = \"a\"\npassword_hash = \"{hash}\"\n"))
            .unwrap();
        let config = parse(&dir, "[users]\nfile = \"users.toml\"\n").unwrap();
        let users = config.users.unwrap();
        assert_eq!(users.file, dir.path().join("users.toml"));
        assert_eq!(users.authenticator.len(), 1);
    }

    #[test]
    fn users_file_errors_keep_their_own_file_and_line() {
        let dir = tree();
        let users = dir.path().join("users.toml");
        std::fs::write(&users, "[[user]]\nname = \"a\"\npassword_hash = \"nope\"\n").unwrap();
        let config_path = dir.path().join("oxftpd.toml");
        std::fs::write(&config_path, "[users]\nfile = \"users.toml\"\n").unwrap();
        let errs = Config::load(&config_path, &Overrides::default()).unwrap_err().0;
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].file.as_deref(), Some(users.as_path()));
        assert_eq!((errs[0].line, errs[0].key.as_deref()), (Some(3), Some("user.password_hash")));

        // A users file that cannot be read is reported at the config key.
        std::fs::write(&config_path, "\n[users]\nfile = \"absent.toml\"\n").unwrap();
        let errs = Config::load(&config_path, &Overrides::default()).unwrap_err().0;
        assert_eq!(errs[0].file.as_deref(), Some(config_path.as_path()));
        assert_eq!((errs[0].line, errs[0].key.as_deref()), (Some(3), Some("users.file")));
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
