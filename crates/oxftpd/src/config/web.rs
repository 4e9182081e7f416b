//! `[web]`: the browser FTP client (`oxftp-web`) the daemon serves next to
//! its FTP listeners, over HTTP or HTTPS.
//!
//! The gateway is an FTP *client*: every browser login becomes an FTP login
//! on an upstream server, over plain FTP or FTPS. Which upstreams it may
//! reach is the security-critical part, so each one is checked and
//! normalised here, and an address that could never be reached (or would
//! turn the gateway into an open proxy) is refused at start-up rather than at
//! the first login. Certificate files are loaded here too, so a bad one is a
//! config error naming its key and line. So are the limits that keep one
//! browser, address or account from taking the web client (and the FTP
//! listeners in the same process) down: each must be in its range, and a
//! wildcard listen address needs `allowed_hosts` (or every request would be
//! refused as naming an unknown host).

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oxftp_web::{IpNet, TlsSetupError, Upstream, UpstreamTls};
use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, ServerConfig, TlsSettings, Validator};

/// Default `web.listen`: loopback only, so turning the client on never
/// exposes it to the network by accident.
const DEFAULT_WEB_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// `[web]`: validated settings of the web client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSettings {
    /// Where the HTTP server listens (port 0: any free port).
    pub listen: SocketAddr,
    /// HTTPS: the PEM certificate chain and key files (`web.cert_file` and
    /// `web.key_file`, or the `[tls]` table's); `None` serves plain HTTP.
    pub https: Option<(PathBuf, PathBuf)>,
    /// The FTP server logins go to, normalised (`host:port`, or
    /// `ftpes://host:port` / `ftps://host:port` for FTPS); `None`: this
    /// daemon, reached through one of its listeners once they are bound.
    pub upstream: Option<String>,
    /// `web.upstream_tls` as written. Already folded into `upstream`; for
    /// this daemon as upstream, see [`own_upstream_tls`](Self::own_upstream_tls).
    pub upstream_tls: Option<UpstreamTls>,
    /// PEM CA certificates that FTPS upstreams (other than this daemon) are
    /// checked against; `None`: the system's CA store.
    pub upstream_ca_file: Option<PathBuf>,
    /// Other FTP servers a login may name, normalised as `upstream` is.
    pub allowed_upstreams: Vec<String>,
    /// A browser session unused for this long is closed.
    pub idle_timeout: Duration,
    /// A browser session is closed this long after login, however busy.
    pub absolute_timeout: Duration,
    /// Largest upload, in bytes.
    pub max_upload: u64,
    /// Mark the session cookie `Secure` (behind an HTTPS proxy; always so
    /// when `https` is set).
    pub secure_cookies: bool,
    /// The limits that keep one client or account from taking the web
    /// client (and the FTP listeners sharing its process) down.
    pub limits: WebLimits,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Host names the `Host` header may name (empty: the listen address and localhost).
    pub allowed_hosts: Vec<String>,
    /// `Strict-Transport-Security` max-age under HTTPS, in seconds (0: none).
    pub hsts_max_age: u64,
}

/// `[web]` limits, each with what it protects against in `oxftpd.example.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebLimits {
    /// `web.max_part_header`: bytes of one multipart part's headers.
    pub max_part_header: usize,
    /// `web.max_form_body`: bytes of a body read whole (logins, JSON, forms).
    pub max_form_body: usize,
    /// `web.max_request_header`: bytes of an HTTP request head.
    pub max_request_header: usize,
    /// `web.header_read_timeout`.
    pub header_read_timeout: Duration,
    /// `web.keep_alive_timeout`.
    pub keep_alive_timeout: Duration,
    /// `web.max_connections`.
    pub max_connections: usize,
    /// `web.max_connections_per_ip`.
    pub max_connections_per_ip: usize,
    /// `web.max_sessions`.
    pub max_sessions: usize,
    /// `web.max_sessions_per_user`.
    pub max_sessions_per_user: usize,
    /// `web.max_sessions_per_ip`.
    pub max_sessions_per_ip: usize,
    /// `web.ftp_idle_timeout`.
    pub ftp_idle_timeout: Duration,
    /// `web.login_attempts_per_minute`.
    pub login_attempts_per_minute: u32,
    /// `web.max_login_failures`.
    pub max_login_failures: u32,
    /// `web.login_failure_window`.
    pub login_failure_window: Duration,
    /// `web.login_ban_time`.
    pub login_ban_time: Duration,
}

impl Default for WebLimits {
    fn default() -> Self {
        let web = oxftp_web::WebConfig::default();
        WebLimits {
            max_part_header: web.max_part_header_bytes,
            max_form_body: web.max_form_bytes,
            max_request_header: web.max_header_bytes,
            header_read_timeout: web.header_read_timeout,
            keep_alive_timeout: web.keep_alive_timeout,
            max_connections: web.max_connections,
            max_connections_per_ip: web.max_connections_per_ip,
            max_sessions: web.max_sessions,
            max_sessions_per_user: web.max_sessions_per_user,
            max_sessions_per_ip: web.max_sessions_per_ip,
            ftp_idle_timeout: web.ftp_idle_timeout,
            login_attempts_per_minute: web.login_attempts_per_minute,
            max_login_failures: web.max_login_failures,
            login_failure_window: web.login_failure_window,
            login_ban_time: web.login_ban_time,
        }
    }
}

impl WebLimits {
    /// These limits on `config`.
    pub fn apply(&self, config: &mut oxftp_web::WebConfig) {
        config.max_part_header_bytes = self.max_part_header;
        config.max_form_bytes = self.max_form_body;
        config.max_header_bytes = self.max_request_header;
        config.header_read_timeout = self.header_read_timeout;
        config.keep_alive_timeout = self.keep_alive_timeout;
        config.max_connections = self.max_connections;
        config.max_connections_per_ip = self.max_connections_per_ip;
        config.max_sessions = self.max_sessions;
        config.max_sessions_per_user = self.max_sessions_per_user;
        config.max_sessions_per_ip = self.max_sessions_per_ip;
        config.ftp_idle_timeout = self.ftp_idle_timeout;
        config.login_attempts_per_minute = self.login_attempts_per_minute;
        config.max_login_failures = self.max_login_failures;
        config.login_failure_window = self.login_failure_window;
        config.login_ban_time = self.login_ban_time;
    }
}

impl Default for WebSettings {
    fn default() -> Self {
        let web = oxftp_web::WebConfig::default();
        WebSettings {
            listen: DEFAULT_WEB_LISTEN,
            https: None,
            upstream: None,
            upstream_tls: None,
            upstream_ca_file: None,
            allowed_upstreams: Vec::new(),
            idle_timeout: web.idle_timeout,
            absolute_timeout: Duration::from_secs(12 * 3600),
            max_upload: web.max_upload_bytes,
            secure_cookies: false,
            limits: WebLimits::default(),
            trusted_proxies: Vec::new(),
            allowed_hosts: Vec::new(),
            hsts_max_age: web.hsts_max_age,
        }
    }
}

impl WebSettings {
    /// How the client reaches this daemon when `web.upstream` names no other
    /// server: `web.upstream_tls` when given; otherwise, with `[tls]`,
    /// explicit FTPS through a plain listener (implicit FTPS when there is
    /// only an implicit one), and plain FTP without `[tls]`.
    pub fn own_upstream_tls(&self, tls_present: bool, plain_listener: bool) -> UpstreamTls {
        match self.upstream_tls {
            Some(mode) => mode,
            None if !tls_present => UpstreamTls::None,
            None if plain_listener => UpstreamTls::Explicit,
            None => UpstreamTls::Implicit,
        }
    }
}

/// `[web]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawWeb {
    listen: Option<Spanned<String>>,
    tls: Option<Spanned<bool>>,
    cert_file: Option<Spanned<String>>,
    key_file: Option<Spanned<String>>,
    upstream: Option<Spanned<String>>,
    upstream_tls: Option<Spanned<String>>,
    upstream_ca_file: Option<Spanned<String>>,
    allowed_upstreams: Vec<Spanned<String>>,
    idle_timeout: Option<Spanned<u64>>,
    absolute_timeout: Option<Spanned<u64>>,
    max_upload: Option<Spanned<u64>>,
    secure_cookies: Option<bool>,
    max_part_header: Option<Spanned<u64>>,
    max_form_body: Option<Spanned<u64>>,
    max_request_header: Option<Spanned<u64>>,
    header_read_timeout: Option<Spanned<u64>>,
    keep_alive_timeout: Option<Spanned<u64>>,
    max_connections: Option<Spanned<u64>>,
    max_connections_per_ip: Option<Spanned<u64>>,
    max_sessions: Option<Spanned<u64>>,
    max_sessions_per_user: Option<Spanned<u64>>,
    max_sessions_per_ip: Option<Spanned<u64>>,
    ftp_idle_timeout: Option<Spanned<u64>>,
    login_attempts_per_minute: Option<Spanned<u64>>,
    max_login_failures: Option<Spanned<u64>>,
    login_failure_window: Option<Spanned<u64>>,
    login_ban_time: Option<Spanned<u64>>,
    trusted_proxies: Vec<Spanned<String>>,
    allowed_hosts: Vec<Spanned<String>>,
    hsts_max_age: Option<Spanned<u64>>,
}

/// Most bytes a size limit of `[web]` may be set to (64 MiB): more would
/// not be a limit on buffering.
const MAX_BUFFER_LIMIT: u64 = 64 << 20;

/// Most of anything a count limit of `[web]` may be set to.
const MAX_COUNT: u64 = 1_000_000;

/// The limit keys of `[web]`, taken out of [`RawWeb`] to be checked together.
#[derive(Default)]
struct RawLimits {
    max_part_header: Option<Spanned<u64>>,
    max_form_body: Option<Spanned<u64>>,
    max_request_header: Option<Spanned<u64>>,
    header_read_timeout: Option<Spanned<u64>>,
    keep_alive_timeout: Option<Spanned<u64>>,
    max_connections: Option<Spanned<u64>>,
    max_connections_per_ip: Option<Spanned<u64>>,
    max_sessions: Option<Spanned<u64>>,
    max_sessions_per_user: Option<Spanned<u64>>,
    max_sessions_per_ip: Option<Spanned<u64>>,
    ftp_idle_timeout: Option<Spanned<u64>>,
    login_attempts_per_minute: Option<Spanned<u64>>,
    max_login_failures: Option<Spanned<u64>>,
    login_failure_window: Option<Spanned<u64>>,
    login_ban_time: Option<Spanned<u64>>,
}

impl RawLimits {
    fn take(raw: &mut RawWeb) -> RawLimits {
        RawLimits {
            max_part_header: raw.max_part_header.take(),
            max_form_body: raw.max_form_body.take(),
            max_request_header: raw.max_request_header.take(),
            header_read_timeout: raw.header_read_timeout.take(),
            keep_alive_timeout: raw.keep_alive_timeout.take(),
            max_connections: raw.max_connections.take(),
            max_connections_per_ip: raw.max_connections_per_ip.take(),
            max_sessions: raw.max_sessions.take(),
            max_sessions_per_user: raw.max_sessions_per_user.take(),
            max_sessions_per_ip: raw.max_sessions_per_ip.take(),
            ftp_idle_timeout: raw.ftp_idle_timeout.take(),
            login_attempts_per_minute: raw.login_attempts_per_minute.take(),
            max_login_failures: raw.max_login_failures.take(),
            login_failure_window: raw.login_failure_window.take(),
            login_ban_time: raw.login_ban_time.take(),
        }
    }
}

/// What `[web]` is checked against: the rest of the config.
pub(super) struct WebContext<'a> {
    /// Where the `[web]` table is, for errors that belong to no one key.
    pub table: Range<usize>,
    /// The config file's directory, which relative file names start from.
    pub base: &'a Path,
    /// `[server]`, for its listeners.
    pub server: &'a ServerConfig,
    /// `[tls]` when present and valid.
    pub tls: Option<&'a TlsSettings>,
    /// Whether a `[tls]` table is written at all (it may be broken: then its
    /// own errors say enough, and nothing here is checked against it).
    pub tls_present: bool,
}

impl Validator<'_> {
    /// `[web]`: every value checked, every bad one recorded.
    pub(super) fn web(&mut self, mut raw: RawWeb, cx: WebContext<'_>) -> WebSettings {
        let mut web = WebSettings::default();
        let mut raw_limits = RawLimits::take(&mut raw);
        let listen_span = raw.listen.as_ref().map(Spanned::span);
        if let Some(listen) = raw.listen {
            match listen.get_ref().parse::<SocketAddr>() {
                Ok(addr) => web.listen = addr,
                Err(_) => self.error(
                    listen.span(),
                    "web.listen",
                    format!("expected \"IP:PORT\" such as \"127.0.0.1:8080\", found {:?}", listen.get_ref()),
                ),
            }
        }
        web.https = self.web_https(raw.tls, raw.cert_file, raw.key_file, &cx);
        let upstream_tls = raw.upstream_tls.and_then(|mode| self.upstream_tls(mode));
        web.upstream_tls = upstream_tls.as_ref().map(|(mode, _)| *mode);
        // web.upstream_tls sets the protection of a bare web.upstream and
        // must agree with a written scheme.
        web.upstream = raw.upstream.and_then(|u| {
            let scheme_written = u.get_ref().contains("://");
            let mut parsed = self.upstream(u, "web.upstream")?;
            if let Some((mode, span)) = &upstream_tls {
                if !scheme_written {
                    parsed = parsed.with_tls(*mode);
                } else if *mode != parsed.tls() {
                    let scheme = parsed.tls().scheme();
                    let message = format!("contradicts the {scheme}:// scheme written in web.upstream");
                    self.error(span.clone(), "web.upstream_tls", message);
                }
            }
            Some(parsed.to_string())
        });
        web.allowed_upstreams = raw
            .allowed_upstreams
            .into_iter()
            .filter_map(|u| self.upstream(u, "web.allowed_upstreams"))
            .map(|u| u.to_string())
            .collect();
        web.upstream_ca_file = raw.upstream_ca_file.and_then(|file| {
            let span = file.span();
            let path = self.readable_file(file, "web.upstream_ca_file", cx.base, "PEM CA certificates")?;
            match oxftp_web::load_certificates(&path) {
                Ok(_) => Some(path),
                Err(e) => {
                    self.error(span, "web.upstream_ca_file", e.to_string());
                    None
                }
            }
        });
        web.idle_timeout = self.seconds(raw.idle_timeout, "web.idle_timeout").unwrap_or(web.idle_timeout);
        web.absolute_timeout =
            self.seconds(raw.absolute_timeout, "web.absolute_timeout").unwrap_or(web.absolute_timeout);
        if let Some(max) = raw.max_upload {
            if *max.get_ref() >= 1 {
                web.max_upload = *max.get_ref();
            } else {
                self.error(max.span(), "web.max_upload", "expected bytes, at least 1");
            }
        }
        web.secure_cookies = raw.secure_cookies.unwrap_or(false);
        web.limits = self.web_limits(&mut raw_limits);
        web.trusted_proxies = raw.trusted_proxies.into_iter().filter_map(|p| self.trusted_proxy(p)).collect();
        web.allowed_hosts = raw.allowed_hosts.into_iter().filter_map(|h| self.allowed_host(h)).collect();
        if web.allowed_hosts.is_empty() && web.listen.ip().is_unspecified() {
            self.error(
                listen_span.unwrap_or_else(|| cx.table.clone()),
                "web.allowed_hosts",
                format!(
                    "required when web.listen is a wildcard address ({}): list the host names users reach \
                     the web client by, such as [\"files.example.org\"]; requests naming any other host are refused",
                    web.listen.ip()
                ),
            );
        }
        if let Some(age) = raw.hsts_max_age {
            if *age.get_ref() <= 2 * 365 * 24 * 3600 {
                web.hsts_max_age = *age.get_ref();
            } else {
                self.error(age.span(), "web.hsts_max_age", "expected seconds from 0 (no HSTS) to 63072000 (two years)");
            }
        }
        // A broken [tls] table may hold the only listeners: its errors say enough.
        if !(cx.tls_present && cx.tls.is_none()) {
            let upstream_tls_span = upstream_tls.map(|(_, span)| span);
            self.web_listeners(&web, &cx, upstream_tls_span);
        }
        web
    }

    /// The limits of `[web]`: each a number in its range, or its default.
    fn web_limits(&mut self, raw: &mut RawLimits) -> WebLimits {
        let mut limits = WebLimits::default();
        for (value, key, into) in [
            (raw.max_part_header.take(), "web.max_part_header", &mut limits.max_part_header),
            (raw.max_form_body.take(), "web.max_form_body", &mut limits.max_form_body),
            (raw.max_request_header.take(), "web.max_request_header", &mut limits.max_request_header),
        ] {
            if let Some(n) = self.in_range(value, key, 1024, MAX_BUFFER_LIMIT, "bytes") {
                *into = usize::try_from(n).unwrap_or(usize::MAX);
            }
        }
        for (value, key, into) in [
            (raw.max_connections.take(), "web.max_connections", &mut limits.max_connections),
            (raw.max_connections_per_ip.take(), "web.max_connections_per_ip", &mut limits.max_connections_per_ip),
            (raw.max_sessions.take(), "web.max_sessions", &mut limits.max_sessions),
            (raw.max_sessions_per_user.take(), "web.max_sessions_per_user", &mut limits.max_sessions_per_user),
            (raw.max_sessions_per_ip.take(), "web.max_sessions_per_ip", &mut limits.max_sessions_per_ip),
        ] {
            if let Some(n) = self.in_range(value, key, 1, MAX_COUNT, "a count") {
                *into = usize::try_from(n).unwrap_or(usize::MAX);
            }
        }
        for (value, key, into) in [
            (
                raw.login_attempts_per_minute.take(),
                "web.login_attempts_per_minute",
                &mut limits.login_attempts_per_minute,
            ),
            (raw.max_login_failures.take(), "web.max_login_failures", &mut limits.max_login_failures),
        ] {
            if let Some(n) = self.in_range(value, key, 1, MAX_COUNT, "a count") {
                *into = u32::try_from(n).unwrap_or(u32::MAX);
            }
        }
        for (value, key, into) in [
            (raw.header_read_timeout.take(), "web.header_read_timeout", &mut limits.header_read_timeout),
            (raw.keep_alive_timeout.take(), "web.keep_alive_timeout", &mut limits.keep_alive_timeout),
            (raw.ftp_idle_timeout.take(), "web.ftp_idle_timeout", &mut limits.ftp_idle_timeout),
            (raw.login_failure_window.take(), "web.login_failure_window", &mut limits.login_failure_window),
            (raw.login_ban_time.take(), "web.login_ban_time", &mut limits.login_ban_time),
        ] {
            if let Some(d) = self.seconds(value, key) {
                *into = d;
            }
        }
        limits
    }

    /// `value` when it is within `min..=max`; otherwise an error at its key.
    fn in_range(&mut self, value: Option<Spanned<u64>>, key: &str, min: u64, max: u64, what: &str) -> Option<u64> {
        let value = value?;
        let n = *value.get_ref();
        if (min..=max).contains(&n) {
            Some(n)
        } else {
            self.error(value.span(), key, format!("expected {what} from {min} to {max}, found {n}"));
            None
        }
    }

    /// One `web.trusted_proxies` entry: an address or a network.
    fn trusted_proxy(&mut self, value: Spanned<String>) -> Option<IpNet> {
        let text = value.get_ref().trim();
        let parsed = text.parse::<IpNet>().ok().or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from));
        if parsed.is_none() {
            self.error(
                value.span(),
                "web.trusted_proxies",
                format!("expected an address or network such as \"127.0.0.1\" or \"10.0.0.0/8\", found {text:?}"),
            );
        }
        parsed
    }

    /// One `web.allowed_hosts` entry: a host name or an IP address, without a port.
    fn allowed_host(&mut self, value: Spanned<String>) -> Option<String> {
        let text = value.get_ref().trim();
        let ok = !text.is_empty()
            && text.len() <= 253
            && (text.parse::<std::net::IpAddr>().is_ok()
                || text
                    .strip_prefix('[')
                    .and_then(|t| t.strip_suffix(']'))
                    .is_some_and(|t| t.parse::<std::net::Ipv6Addr>().is_ok())
                || text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_'));
        if !ok {
            self.error(
                value.span(),
                "web.allowed_hosts",
                format!(
                    "expected a host name or IP address without a port, such as \"files.example.org\", found {text:?}"
                ),
            );
            return None;
        }
        Some(text.to_ascii_lowercase())
    }

    /// `web.tls`, `web.cert_file`, `web.key_file`: the HTTPS certificate and
    /// key, loaded once here so a bad file is reported at its key.
    fn web_https(
        &mut self,
        tls: Option<Spanned<bool>>,
        cert: Option<Spanned<String>>,
        key: Option<Spanned<String>>,
        cx: &WebContext<'_>,
    ) -> Option<(PathBuf, PathBuf)> {
        let on = tls.as_ref().is_some_and(|t| *t.get_ref());
        if !on {
            for (file, name) in [(&cert, "web.cert_file"), (&key, "web.key_file")] {
                if let Some(file) = file {
                    self.error(file.span(), name, "only used for HTTPS: set web.tls = true, or remove it");
                }
            }
            return None;
        }
        let tls_span = tls.map(|t| t.span()).unwrap_or_else(|| cx.table.clone());
        let (cert, key) = match (cert, key) {
            (None, None) => {
                return match cx.tls {
                    Some(settings) => {
                        let config = settings.tls.config();
                        Some((config.cert_file.clone(), config.key_file.clone()))
                    }
                    None if cx.tls_present => None,
                    None => {
                        self.error(
                            tls_span,
                            "web.tls",
                            "HTTPS needs a certificate: add a [tls] table (its cert_file and key_file are used), \
                             or set web.cert_file and web.key_file",
                        );
                        None
                    }
                };
            }
            (Some(cert), Some(key)) => (cert, key),
            (Some(cert), None) => {
                self.error(cert.span(), "web.key_file", "required with web.cert_file: the file with a PEM private key");
                return None;
            }
            (None, Some(key)) => {
                self.error(
                    key.span(),
                    "web.cert_file",
                    "required with web.key_file: the file with a PEM certificate chain",
                );
                return None;
            }
        };
        let (cert_span, key_span) = (cert.span(), key.span());
        let cert = self.readable_file(cert, "web.cert_file", cx.base, "a PEM certificate chain");
        let key = self.readable_file(key, "web.key_file", cx.base, "a PEM private key");
        let (cert, key) = (cert?, key?);
        match oxftp_web::https_config(&cert, &key) {
            Ok(_) => Some((cert, key)),
            Err(e) => {
                let (span, name) = match e {
                    TlsSetupError::Key(..) | TlsSetupError::Rustls(..) => (key_span, "web.key_file"),
                    TlsSetupError::Certificates(..) => (cert_span, "web.cert_file"),
                };
                self.error(span, name, e.to_string());
                None
            }
        }
    }

    /// `web.upstream_tls`, with where it was written.
    fn upstream_tls(&mut self, value: Spanned<String>) -> Option<(UpstreamTls, Range<usize>)> {
        let mode = match value.get_ref().as_str() {
            "none" => UpstreamTls::None,
            "explicit" => UpstreamTls::Explicit,
            "implicit" => UpstreamTls::Implicit,
            other => {
                self.error(
                    value.span(),
                    "web.upstream_tls",
                    format!("expected \"none\", \"explicit\" or \"implicit\", found {other:?}"),
                );
                return None;
            }
        };
        Some((mode, value.span()))
    }

    /// One upstream, parsed; `None` (and an error) when it is not one.
    fn upstream(&mut self, value: Spanned<String>, key: &str) -> Option<Upstream> {
        let parsed = Upstream::parse(value.get_ref());
        if parsed.is_none() {
            self.error(
                value.span(),
                key,
                format!(
                    "expected \"HOST:PORT\" such as \"ftp.example.org:21\" (plain FTP), or with ftpes:// \
                     (explicit FTPS) or ftps:// (implicit FTPS) in front, found {:?}",
                    value.get_ref()
                ),
            );
        }
        parsed
    }

    /// Cross-checks `[web]` against the FTP listeners: the HTTP port must not
    /// be one of theirs, and without an explicit upstream there must be a
    /// listener of this daemon that speaks what the client will use.
    fn web_listeners(&mut self, web: &WebSettings, cx: &WebContext<'_>, upstream_tls_span: Option<Range<usize>>) {
        let server = cx.server;
        let implicit = cx.tls.map_or(&[][..], |t| t.implicit_listen.as_slice());
        if web.listen.port() != 0 && (server.listen.contains(&web.listen) || implicit.contains(&web.listen)) {
            self.error(
                cx.table.clone(),
                "web.listen",
                format!("{} is also an FTP listener; the web client needs a port of its own", web.listen),
            );
        }
        if web.upstream.is_some() {
            return;
        }
        let listen_errors = self.errors.iter().any(|e: &ConfigError| e.key.as_deref() == Some("server.listen"));
        let mode = web.own_upstream_tls(cx.tls_present, !server.listen.is_empty());
        let span = upstream_tls_span.unwrap_or_else(|| cx.table.clone());
        match mode {
            UpstreamTls::Explicit | UpstreamTls::Implicit if !cx.tls_present => self.error(
                span,
                "web.upstream_tls",
                "this server has no [tls] table, so the web client can only log in to it over plain FTP \
                 (\"none\"), or name another server in web.upstream",
            ),
            UpstreamTls::Implicit if implicit.is_empty() => self.error(
                span,
                "web.upstream_tls",
                "\"implicit\" needs a tls.implicit_listen address for the web client to log in to",
            ),
            UpstreamTls::None | UpstreamTls::Explicit if server.listen.is_empty() && !listen_errors => self.error(
                cx.table.clone(),
                "web.upstream",
                "expected an upstream \"HOST:PORT\": server.listen is empty, so there is no listener for \
                 plain FTP or explicit FTPS (web.upstream_tls = \"implicit\" uses tls.implicit_listen)",
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use oxftp_web::UpstreamTls;

    use super::WebSettings;
    use crate::config::{Config, ConfigError, Overrides};

    use crate::config::parse_after_storage as parse;

    #[test]
    fn web_is_off_without_the_table_and_defaults_with_an_empty_one() {
        assert!(parse("").unwrap().web.is_none());
        let web = parse("[web]\n").unwrap().web.unwrap();
        assert_eq!(web, WebSettings::default());
        assert_eq!(web.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(web.upstream, None, "the default is resolved once the FTP listeners are bound");
        assert_eq!((web.idle_timeout, web.absolute_timeout), (Duration::from_secs(900), Duration::from_secs(43200)));
        assert_eq!(web.max_upload, 1 << 30);
        assert!(!web.secure_cookies && web.https.is_none() && web.upstream_ca_file.is_none());
        assert_eq!(web.own_upstream_tls(false, true), UpstreamTls::None, "plain FTP without [tls]");
    }

    #[test]
    fn every_key_is_read_and_upstreams_are_normalised() {
        let web = parse(
            "[web]\nlisten = \"[::1]:0\"\nupstream = \"LocalHost\"\nupstream_tls = \"explicit\"\n\
             allowed_upstreams = [\"FTP.example.org:2121\", \"::1\", \"ftps://secure.example.org\", \"ftp://p.example\"]\n\
             idle_timeout = 60\nabsolute_timeout = 3600\nmax_upload = 1024\nsecure_cookies = true\ntls = false\n",
        )
        .unwrap()
        .web
        .unwrap();
        assert_eq!(web.listen, "[::1]:0".parse().unwrap());
        assert_eq!(web.upstream.as_deref(), Some("ftpes://localhost:21"), "upstream_tls applies to a bare upstream");
        assert_eq!(web.upstream_tls, Some(UpstreamTls::Explicit));
        assert_eq!(
            web.allowed_upstreams,
            ["ftp.example.org:2121", "[::1]:21", "ftps://secure.example.org:990", "p.example:21"]
        );
        assert_eq!((web.idle_timeout.as_secs(), web.absolute_timeout.as_secs()), (60, 3600));
        assert_eq!(web.max_upload, 1024);
        assert!(web.secure_cookies);
        assert!(web.https.is_none());
    }

    #[test]
    fn limits_and_host_settings_are_read() {
        let web = parse(
            "[web]\nmax_part_header = 4096\nmax_form_body = 2048\nmax_request_header = 8192\n\
             header_read_timeout = 5\nkeep_alive_timeout = 30\nmax_connections = 100\nmax_connections_per_ip = 10\n\
             max_sessions = 50\nmax_sessions_per_user = 3\nmax_sessions_per_ip = 4\nftp_idle_timeout = 20\n\
             login_attempts_per_minute = 6\nmax_login_failures = 3\nlogin_failure_window = 60\nlogin_ban_time = 120\n\
             trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\"]\n\
             allowed_hosts = [\"Files.Example.org\", \"192.0.2.7\", \"[2001:db8::1]\"]\nhsts_max_age = 0\n",
        )
        .unwrap()
        .web
        .unwrap();
        let l = &web.limits;
        assert_eq!((l.max_part_header, l.max_form_body, l.max_request_header), (4096, 2048, 8192));
        assert_eq!((l.header_read_timeout.as_secs(), l.keep_alive_timeout.as_secs()), (5, 30));
        assert_eq!((l.max_connections, l.max_connections_per_ip), (100, 10));
        assert_eq!((l.max_sessions, l.max_sessions_per_user, l.max_sessions_per_ip), (50, 3, 4));
        assert_eq!(l.ftp_idle_timeout.as_secs(), 20);
        assert_eq!((l.login_attempts_per_minute, l.max_login_failures), (6, 3));
        assert_eq!((l.login_failure_window.as_secs(), l.login_ban_time.as_secs()), (60, 120));
        let proxies: Vec<String> = web.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(proxies, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
        assert_eq!(web.allowed_hosts, ["files.example.org", "192.0.2.7", "[2001:db8::1]"]);
        assert_eq!(web.hsts_max_age, 0);
        // Each lands in the gateway's config.
        let mut config = oxftp_web::WebConfig::default();
        l.apply(&mut config);
        assert_eq!((config.max_part_header_bytes, config.max_sessions_per_user), (4096, 3));
        assert_eq!(config.login_ban_time, Duration::from_secs(120));
    }

    #[test]
    fn bad_limits_name_key_and_line() {
        let errors = parse(
            "[web]\nmax_part_header = 100\nmax_connections = 0\nheader_read_timeout = 0\n\
             trusted_proxies = [\"proxy.local\"]\nallowed_hosts = [\"a b:80\", \"host:8080\"]\n\
             hsts_max_age = 99999999999\nmax_login_failures = 0\nmax_form_body = 999999999\n",
        )
        .unwrap_err();
        assert_eq!(
            where_(&errors),
            vec![
                (Some(2), "web.max_part_header".to_string()),
                (Some(3), "web.max_connections".to_string()),
                (Some(4), "web.header_read_timeout".to_string()),
                (Some(5), "web.trusted_proxies".to_string()),
                (Some(6), "web.allowed_hosts".to_string()),
                (Some(6), "web.allowed_hosts".to_string()),
                (Some(7), "web.hsts_max_age".to_string()),
                (Some(8), "web.max_login_failures".to_string()),
                (Some(9), "web.max_form_body".to_string()),
            ]
        );
        assert!(errors[0].message.contains("from 1024 to 67108864, found 100"), "{}", errors[0].message);
        assert!(errors[3].message.contains("proxy.local"), "{}", errors[3].message);
        assert!(errors[4].message.contains("without a port"), "{}", errors[4].message);
    }

    #[test]
    fn a_wildcard_listener_needs_allowed_hosts() {
        let errors = parse("[web]\nlisten = \"0.0.0.0:8080\"\n").unwrap_err();
        assert_eq!(where_(&errors), vec![(Some(2), "web.allowed_hosts".to_string())]);
        assert!(errors[0].message.contains("0.0.0.0"), "{}", errors[0].message);
        let web =
            parse("[web]\nlisten = \"[::]:8080\"\nallowed_hosts = [\"files.example.org\"]\n").unwrap().web.unwrap();
        assert_eq!(web.allowed_hosts, ["files.example.org"]);
    }

    #[test]
    fn chmod_special_bits_are_off_unless_allowed() {
        assert!(!parse("").unwrap().server.chmod_special_bits);
        assert!(parse("[server]\nchmod_special_bits = true\n").unwrap().server.chmod_special_bits);
    }

    /// `(line within the test text, key)` of each error.
    fn where_(errors: &[ConfigError]) -> Vec<(Option<usize>, String)> {
        errors.iter().map(|e| (e.line.map(|l| l - 2), e.key.clone().unwrap_or_default())).collect()
    }

    #[test]
    fn bad_values_are_all_reported_with_key_and_line() {
        let errors = parse(
            "[web]\nlisten = \"localhost:8080\"\nupstream = \"user@host\"\n\
             allowed_upstreams = [\"ok.example:21\", \"http://x/\", \"h:0\"]\n\
             idle_timeout = 0\nabsolute_timeout = 99999999\nmax_upload = 0\nupstream_tls = \"starttls\"\n",
        )
        .unwrap_err();
        assert_eq!(
            where_(&errors),
            vec![
                (Some(2), "web.listen".to_string()),
                (Some(3), "web.upstream".to_string()),
                (Some(4), "web.allowed_upstreams".to_string()),
                (Some(4), "web.allowed_upstreams".to_string()),
                (Some(5), "web.idle_timeout".to_string()),
                (Some(6), "web.absolute_timeout".to_string()),
                (Some(7), "web.max_upload".to_string()),
                (Some(8), "web.upstream_tls".to_string()),
            ]
        );
        assert!(errors[0].message.contains("expected \"IP:PORT\""), "{}", errors[0].message);
        assert!(errors[2].message.contains("http://x/") && errors[2].message.contains("ftpes://"));
        assert!(errors[3].message.contains("h:0"), "{}", errors[3].message);
        assert!(errors[7].message.contains("\"explicit\"") && errors[7].message.contains("starttls"));
    }

    #[test]
    fn a_scheme_and_upstream_tls_must_agree() {
        let errors = parse("[web]\nupstream = \"ftps://h\"\nupstream_tls = \"explicit\"\n").unwrap_err();
        assert_eq!(where_(&errors), vec![(Some(3), "web.upstream_tls".to_string())]);
        assert!(errors[0].message.contains("contradicts the ftps://"), "{}", errors[0].message);
        let web = parse("[web]\nupstream = \"ftps://h\"\nupstream_tls = \"implicit\"\n").unwrap().web.unwrap();
        assert_eq!(web.upstream.as_deref(), Some("ftps://h:990"));
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_key_and_line() {
        let errors = parse("[web]\nlisten = \"127.0.0.1:0\"\nproxy = true\n").unwrap_err();
        assert_eq!((errors[0].line, errors[0].key.as_deref()), (Some(5), Some("web.proxy")));
        assert!(errors[0].message.contains("unknown field `proxy`"), "{}", errors[0].message);
        let errors = parse("[web]\nsecure_cookies = \"yes\"\n").unwrap_err();
        assert_eq!((errors[0].line, errors[0].key.as_deref()), (Some(4), Some("web.secure_cookies")));
        let errors = parse("[web]\nmax_upload = -1\n").unwrap_err();
        assert_eq!((errors[0].line, errors[0].key.as_deref()), (Some(4), Some("web.max_upload")));
        let errors = parse("[web]\ntls = \"yes\"\n").unwrap_err();
        assert_eq!((errors[0].line, errors[0].key.as_deref()), (Some(4), Some("web.tls")));
    }

    #[test]
    fn the_web_port_must_differ_from_the_ftp_ports() {
        let errors =
            parse("[server]\nlisten = [\"127.0.0.1:2121\"]\n[web]\nlisten = \"127.0.0.1:2121\"\n").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].line, errors[0].key.as_deref()), (Some(5), Some("web.listen")));
        // Port 0 is a fresh port each time: no clash.
        assert!(parse("[server]\nlisten = [\"127.0.0.1:0\"]\n[web]\nlisten = \"127.0.0.1:0\"\n").is_ok());
    }

    #[test]
    fn the_examples_web_table_uncommented_is_the_defaults() {
        let example = include_str!("../../../../oxftpd.example.toml");
        let start = example.find("\n# [web]\n").expect("the example documents [web]");
        let table: String = example[start..]
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with('#'))
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.starts_with('[') || l.split_once(" = ").is_some_and(|(k, _)| !k.contains(' ')))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(table.starts_with("[web]\n") && table.contains("secure_cookies = false"), "{table}");
        assert!(table.contains("tls = false"), "{table}");
        let web = parse(&table).unwrap().web.unwrap();
        assert_eq!(web, WebSettings { upstream: Some("127.0.0.1:2121".into()), ..WebSettings::default() });
    }

    /// A config in a fresh directory holding a self-signed `server.pem` /
    /// `server.key` pair and `ca.pem`, with `tls_table` (may be empty) and `[web]`.
    fn with_files(server: &str, tls_table: &str, web: &str) -> (tempfile::TempDir, Result<Config, Vec<ConfigError>>) {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
        std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("junk.pem"), "not a certificate\n").unwrap();
        let text = format!("[storage]\nroot = \".\"\n[server]\n{server}\n{tls_table}\n[web]\n{web}");
        let result = Config::from_toml(&text, dir.path(), &Overrides::default()).map_err(|e| e.0);
        (dir, result)
    }

    const TLS: &str = "[tls]\ncert_file = \"server.pem\"\nkey_file = \"server.key\"\n";
    const LISTEN: &str = "listen = [\"127.0.0.1:0\"]";

    #[test]
    fn https_uses_the_tls_tables_certificate_or_its_own() {
        let (dir, config) = with_files(LISTEN, TLS, "tls = true\n");
        let web = config.unwrap().web.unwrap();
        assert_eq!(web.https, Some((dir.path().join("server.pem"), dir.path().join("server.key"))));

        let own = "tls = true\ncert_file = \"server.pem\"\nkey_file = \"server.key\"\n";
        let (dir, config) = with_files(LISTEN, "", own);
        let web = config.unwrap().web.unwrap();
        assert_eq!(web.https, Some((dir.path().join("server.pem"), dir.path().join("server.key"))));
    }

    #[test]
    fn https_errors_name_the_key_and_line() {
        // Lines: 1-2 [storage], 3-4 [server], 5 (no [tls]), 6 [web], 7 on.
        let line_key = |errors: &[ConfigError]| -> Vec<(Option<usize>, String)> {
            errors.iter().map(|e| (e.line, e.key.clone().unwrap_or_default())).collect()
        };
        let (_d, errors) = with_files(LISTEN, "", "tls = true\n");
        let errors = errors.unwrap_err();
        assert_eq!(line_key(&errors), vec![(Some(7), "web.tls".to_string())]);
        assert!(errors[0].message.contains("[tls]") && errors[0].message.contains("web.cert_file"));

        let (_d, errors) = with_files(LISTEN, "", "cert_file = \"server.pem\"\nkey_file = \"server.key\"\n");
        let errors = errors.unwrap_err();
        assert_eq!(
            line_key(&errors),
            vec![(Some(7), "web.cert_file".to_string()), (Some(8), "web.key_file".to_string())]
        );
        assert!(errors[0].message.contains("web.tls = true"), "{}", errors[0].message);

        // With [tls] (lines 5-8), [web] starts on line 9.
        let (_d, errors) = with_files(LISTEN, TLS, "tls = true\ncert_file = \"server.pem\"\n");
        assert_eq!(line_key(&errors.unwrap_err()), vec![(Some(11), "web.key_file".to_string())]);

        let (_d, errors) = with_files(LISTEN, "", "tls = true\ncert_file = \"junk.pem\"\nkey_file = \"server.key\"\n");
        let errors = errors.unwrap_err();
        assert_eq!(line_key(&errors), vec![(Some(8), "web.cert_file".to_string())]);
        assert!(errors[0].message.contains("no certificate"), "{}", errors[0].message);

        let (_d, errors) =
            with_files(LISTEN, "", "tls = true\ncert_file = \"server.pem\"\nkey_file = \"missing.key\"\n");
        let errors = errors.unwrap_err();
        assert_eq!(line_key(&errors), vec![(Some(9), "web.key_file".to_string())]);
        assert!(errors[0].message.contains("missing.key"), "{}", errors[0].message);
    }

    #[test]
    fn upstream_ca_file_must_hold_certificates() {
        let (dir, config) = with_files(LISTEN, "", "upstream_ca_file = \"ca.pem\"\n");
        assert_eq!(config.unwrap().web.unwrap().upstream_ca_file, Some(dir.path().join("ca.pem")));
        for (file, words) in [("junk.pem", "no certificate"), ("nope.pem", "nope.pem")] {
            let (_d, errors) = with_files(LISTEN, "", &format!("upstream_ca_file = \"{file}\"\n"));
            let errors = errors.unwrap_err();
            assert_eq!((errors[0].line, errors[0].key.as_deref()), (Some(7), Some("web.upstream_ca_file")));
            assert!(errors[0].message.contains(words), "{}", errors[0].message);
        }
    }

    #[test]
    fn this_server_as_upstream_is_reached_the_way_it_listens() {
        // [tls] with a plain listener: explicit FTPS.
        let (_d, config) = with_files(LISTEN, TLS, "");
        let config = config.unwrap();
        let web = config.web.as_ref().unwrap();
        assert_eq!(web.own_upstream_tls(config.tls.is_some(), true), UpstreamTls::Explicit);
        // Only an implicit listener: implicit FTPS, no error.
        let implicit = format!("{TLS}implicit_listen = [\"127.0.0.1:0\"]\n");
        let (_d, config) = with_files("listen = []", &implicit, "");
        let config = config.unwrap();
        let web = config.web.as_ref().unwrap();
        assert_eq!(web.own_upstream_tls(config.tls.is_some(), false), UpstreamTls::Implicit);
        // Explicit FTPS asked for, but there is no plain listener.
        let (_d, errors) = with_files("listen = []", &implicit, "upstream_tls = \"explicit\"\n");
        let errors = errors.unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].key.as_deref(), Some("web.upstream"));
        // FTPS asked for, but this server has no [tls].
        let (_d, errors) = with_files(LISTEN, "", "upstream_tls = \"explicit\"\n");
        let errors = errors.unwrap_err();
        assert_eq!((errors[0].line, errors[0].key.as_deref()), (Some(7), Some("web.upstream_tls")));
        assert!(errors[0].message.contains("no [tls]"), "{}", errors[0].message);
        // Implicit asked for without an implicit listener.
        let (_d, errors) = with_files(LISTEN, TLS, "upstream_tls = \"implicit\"\n");
        let errors = errors.unwrap_err();
        assert_eq!((errors[0].line, errors[0].key.as_deref()), (Some(10), Some("web.upstream_tls")));
        // Another server named: nothing to check against the listeners.
        let (_d, config) = with_files("listen = []", &implicit, "upstream = \"127.0.0.1:2121\"\n");
        assert_eq!(config.unwrap().web.unwrap().upstream.as_deref(), Some("127.0.0.1:2121"));
    }
}
