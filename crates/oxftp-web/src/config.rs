//! The gateway's configuration, the upstreams it may reach and the allow-list.
//!
//! The allow-list is what keeps the gateway from being an open proxy: a login
//! may only name the default upstream or one listed here, and the check runs
//! before any socket is opened (SSRF). Each upstream also carries how it is
//! protected (plain FTP, explicit or implicit FTPS), fixed by the operator: a
//! login can pick a server, never weaken its TLS.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use crate::ftps::UpstreamTrust;

/// Everything the web gateway needs to run; build it with struct update syntax
/// from [`WebConfig::default`] so new knobs do not break callers.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Address the HTTP server listens on (used by callers that bind for us).
    pub listen: SocketAddr,
    /// The FTP server a login talks to when it names none, in [`Upstream`]
    /// form: `host:port` for plain FTP, `ftpes://host:port` for explicit FTPS,
    /// `ftps://host:port` for implicit FTPS.
    pub default_upstream: String,
    /// Further upstreams a login may name, in the same form. Anything else is
    /// refused with 403 before a connection is attempted.
    pub allowed_upstreams: Vec<String>,
    /// A session unused for this long is closed with its FTP connections.
    pub idle_timeout: Duration,
    /// A session is closed this long after login, however busy it is.
    pub absolute_timeout: Duration,
    /// Largest request body an upload or save may send; more gives 413.
    pub max_upload_bytes: u64,
    /// Mark the session cookie `Secure` (for plain HTTP behind an HTTPS
    /// proxy; under [`https`](Self::https) the cookie is always `Secure`).
    pub secure_cookies: bool,
    /// Most sessions held at once; further logins get 503 so memory stays
    /// bounded.
    pub max_sessions: usize,
    /// FTP connections one web session may hold open (at least 2 for copy).
    pub connections_per_session: usize,
    /// How long to wait for the upstream's TCP connect, TLS handshake and greeting.
    pub connect_timeout: Duration,
    /// Serve HTTPS with this TLS setup ([`https_config`](crate::https_config)
    /// builds one from PEM files); `None` serves plain HTTP.
    pub https: Option<Arc<rustls::ServerConfig>>,
    /// A browser's TLS handshake must finish within this time, so a client
    /// that connects and says nothing cannot hold a task.
    pub tls_handshake_timeout: Duration,
    /// Which CA certificates FTPS upstreams are checked against.
    pub upstream_trust: UpstreamTrust,
    /// The one certificate the *default* upstream may present (its DER, the
    /// end-entity certificate): set when the default upstream is a server
    /// whose certificate is known, such as the daemon serving this gateway.
    /// Then that certificate is accepted, even self-signed, and no other;
    /// `upstream_trust` is not consulted for the default upstream.
    pub default_upstream_cert: Option<CertificateDer<'static>>,
    /// When set with `default_upstream_cert`, the pin follows this instead:
    /// asked at every handshake with the default upstream, it gives the
    /// certificate that server presents now (a daemon that replaces its own
    /// certificate on SIGHUP hands in its current one), so a reload there
    /// does not lock the gateway out.
    pub default_upstream_cert_source: Option<CertificateSource>,
    /// Most bytes a multipart part's headers (its `Content-Disposition` and
    /// the like) may take in an upload; more ends the request with 400. The
    /// part's content is streamed and not counted here.
    pub max_part_header_bytes: usize,
    /// Largest body of a request that is read whole: logins, JSON calls,
    /// forms (not uploads or saves, which are streamed); more gives 413.
    pub max_form_bytes: usize,
    /// Largest HTTP request head (request line and headers); more gives 431.
    pub max_header_bytes: usize,
    /// A request head must be complete this long after the connection
    /// opened, or after its first byte on a reused connection; else the
    /// connection is closed (slow or partial headers).
    pub header_read_timeout: Duration,
    /// A connection with no request in progress is closed after this long.
    pub keep_alive_timeout: Duration,
    /// Most browser connections open at once (TLS handshakes included);
    /// more are closed at once, so they cannot use up the process's file
    /// descriptors, which the FTP listeners share.
    pub max_connections: usize,
    /// Most connections open at once from one client address (an IPv6
    /// client counts by its /64 network).
    pub max_connections_per_ip: usize,
    /// Most sessions of one account (one user name on one upstream) at once;
    /// a further login ends that account's least recently used session.
    /// The shared anonymous account (`anonymous`, `ftp`) is not limited
    /// here, only by [`max_sessions_per_ip`](Self::max_sessions_per_ip).
    pub max_sessions_per_user: usize,
    /// Most sessions logged in from one client address at once; further
    /// logins from it get 429.
    pub max_sessions_per_ip: usize,
    /// An FTP connection a session has not used for this long is closed
    /// (QUIT); the session reconnects when it next needs one. So an idle
    /// browser holds no FTP connection, nor a slot of the account's
    /// FTP session limit.
    pub ftp_idle_timeout: Duration,
    /// Login attempts one client address may make per minute (a burst of up
    /// to this many, refilled evenly); more get 429.
    pub login_attempts_per_minute: u32,
    /// Failed logins from one client address within
    /// [`login_failure_window`](Self::login_failure_window) that ban it for
    /// [`login_ban_time`](Self::login_ban_time); a login in progress counts
    /// as failed until it succeeds, so parallel guesses cannot overshoot.
    pub max_login_failures: u32,
    /// See [`max_login_failures`](Self::max_login_failures).
    pub login_failure_window: Duration,
    /// How long a banned address's logins are refused (429).
    pub login_ban_time: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the browser: the
    /// rightmost address in it that is not itself a trusted proxy is the
    /// client for login throttling and per-address session limits. Empty:
    /// the TCP peer is the client and the header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Host names (or IP addresses) the `Host` header may name; anything else
    /// gets 400, which defeats DNS rebinding. Empty: the listen address
    /// (unless a wildcard), `localhost`, `127.0.0.1` and `::1`.
    pub allowed_hosts: Vec<String>,
    /// Under HTTPS, `Strict-Transport-Security: max-age=` this many seconds;
    /// 0 sends no HSTS header.
    pub hsts_max_age: u64,
    /// Offer TLS 1.3 to FTPS upstreams. Off by default: rustls uses each TLS
    /// 1.3 ticket once, so only as many data connections as the server sent
    /// tickets could resume the control connection's session, and servers
    /// that require that (oxftp, vsftpd's `require_ssl_reuse`) would refuse
    /// the rest. TLS 1.2 sessions resume any number of times.
    pub upstream_tls13: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            default_upstream: "127.0.0.1:21".to_string(),
            allowed_upstreams: Vec::new(),
            idle_timeout: Duration::from_secs(15 * 60),
            absolute_timeout: Duration::from_secs(8 * 3600),
            max_upload_bytes: 1 << 30,
            secure_cookies: false,
            max_sessions: 1024,
            connections_per_session: 2,
            connect_timeout: Duration::from_secs(10),
            https: None,
            tls_handshake_timeout: Duration::from_secs(10),
            upstream_trust: UpstreamTrust::System,
            default_upstream_cert: None,
            default_upstream_cert_source: None,
            upstream_tls13: false,
            max_part_header_bytes: 8 * 1024,
            max_form_bytes: 64 * 1024,
            max_header_bytes: 16 * 1024,
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            max_connections: 512,
            max_connections_per_ip: 64,
            max_sessions_per_user: 8,
            max_sessions_per_ip: 32,
            ftp_idle_timeout: Duration::from_secs(60),
            login_attempts_per_minute: 20,
            max_login_failures: 5,
            login_failure_window: Duration::from_secs(300),
            login_ban_time: Duration::from_secs(900),
            trusted_proxies: Vec::new(),
            allowed_hosts: Vec::new(),
            hsts_max_age: 365 * 24 * 3600,
        }
    }
}

/// Where a pinned certificate that may change comes from (see
/// [`WebConfig::default_upstream_cert_source`]).
#[derive(Clone)]
pub struct CertificateSource(Arc<dyn Fn() -> Option<CertificateDer<'static>> + Send + Sync>);

impl CertificateSource {
    /// A source that calls `current` for the certificate to accept.
    pub fn new(current: impl Fn() -> Option<CertificateDer<'static>> + Send + Sync + 'static) -> Self {
        CertificateSource(Arc::new(current))
    }

    /// The certificate to accept now.
    pub(crate) fn current(&self) -> Option<CertificateDer<'static>> {
        (self.0)()
    }
}

impl fmt::Debug for CertificateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CertificateSource(..)")
    }
}

/// How the connection to an upstream is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamTls {
    /// Plain FTP: credentials and files cross the network in clear.
    #[default]
    None,
    /// Explicit FTPS (RFC 4217): `AUTH TLS` on the control connection, then
    /// `PBSZ 0` and `PROT P` so data connections are protected too.
    Explicit,
    /// Implicit FTPS: TLS from the first byte (port 990 by convention), data
    /// connections protected too.
    Implicit,
}

impl UpstreamTls {
    /// The URL scheme naming this mode (`ftp://` for plain FTP).
    pub fn scheme(self) -> &'static str {
        match self {
            UpstreamTls::None => "ftp",
            UpstreamTls::Explicit => "ftpes",
            UpstreamTls::Implicit => "ftps",
        }
    }

    /// The port assumed when an upstream names none.
    pub fn default_port(self) -> u16 {
        match self {
            UpstreamTls::Implicit => 990,
            _ => 21,
        }
    }

    fn from_scheme(scheme: &str) -> Option<UpstreamTls> {
        match scheme {
            "ftp" => Some(UpstreamTls::None),
            "ftpes" => Some(UpstreamTls::Explicit),
            "ftps" => Some(UpstreamTls::Implicit),
            _ => None,
        }
    }
}

/// One FTP server the gateway may log in to: a host, a port and how the
/// connection is protected.
///
/// Written `host[:port]` (plain FTP), or with a scheme: `ftp://` (plain),
/// `ftpes://` (explicit FTPS) or `ftps://` (implicit FTPS, port 990 when
/// left out). Host names are compared in lower case and IPv6 addresses are
/// kept in brackets, so the allow-list compares like with like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    host: String,
    port: u16,
    tls: UpstreamTls,
}

impl Upstream {
    /// Parse an upstream; `None` for anything that is not a plain host name
    /// or IP address with an optional port and one of the schemes above.
    pub fn parse(raw: &str) -> Option<Upstream> {
        let raw = raw.trim().to_ascii_lowercase();
        if raw.is_empty() || raw.len() > 300 {
            return None;
        }
        let (tls, rest) = match raw.split_once("://") {
            Some((scheme, rest)) => (UpstreamTls::from_scheme(scheme)?, rest),
            None => (UpstreamTls::None, raw.as_str()),
        };
        let default_port = tls.default_port().to_string();
        let (host, port) = if let Some(rest) = rest.strip_prefix('[') {
            let (v6, after) = rest.split_once(']')?;
            let v6: std::net::Ipv6Addr = v6.parse().ok()?;
            let port = match after {
                "" => default_port.as_str(),
                p => p.strip_prefix(':')?,
            };
            (format!("[{v6}]"), port)
        } else if rest.matches(':').count() > 1 {
            let v6: std::net::Ipv6Addr = rest.parse().ok()?;
            (format!("[{v6}]"), default_port.as_str())
        } else {
            let (host, port) = rest.split_once(':').unwrap_or((rest, default_port.as_str()));
            let ok = !host.is_empty()
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
            if !ok {
                return None;
            }
            (host.to_string(), port)
        };
        let port: u16 = port.parse().ok()?;
        if port == 0 {
            return None;
        }
        Some(Upstream { host, port, tls })
    }

    /// The host: a lower-case name, an IPv4 address or a bracketed IPv6 address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How the connection is protected.
    pub fn tls(&self) -> UpstreamTls {
        self.tls
    }

    /// The same server reached with another protection (the port is kept).
    pub fn with_tls(self, tls: UpstreamTls) -> Upstream {
        Upstream { tls, ..self }
    }

    /// `host:port`, as a socket address to connect to.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The name a TLS certificate must carry: the host without IPv6 brackets.
    pub(crate) fn server_name(&self) -> &str {
        self.host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(&self.host)
    }

    /// Whether both name the same host and port, whatever their protection.
    fn same_server(&self, other: &Upstream) -> bool {
        self.host == other.host && self.port == other.port
    }
}

impl fmt::Display for Upstream {
    /// `host:port` for plain FTP, `ftpes://host:port` or `ftps://host:port` for FTPS.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tls {
            UpstreamTls::None => write!(f, "{}:{}", self.host, self.port),
            tls => write!(f, "{}://{}:{}", tls.scheme(), self.host, self.port),
        }
    }
}

/// Bring an upstream into its one canonical written form (see [`Upstream`]):
/// lower case, the port spelled out, IPv6 in brackets, a scheme only for
/// FTPS. `None` for anything that is not a valid upstream.
pub fn normalize_upstream(raw: &str) -> Option<String> {
    Upstream::parse(raw).map(|u| u.to_string())
}

/// The upstreams a login may reach, parsed once at start-up.
#[derive(Debug, Clone)]
pub(crate) struct Upstreams {
    default: Upstream,
    allowed: Vec<Upstream>,
    /// Display forms, default first, for the login page.
    choices: Vec<String>,
}

impl Upstreams {
    /// Parse the configured upstreams; unparsable allow-list entries are
    /// dropped (they could never match a parsed request anyway), and an
    /// unparsable default is kept as a host that cannot connect.
    pub(crate) fn new(config: &WebConfig) -> Self {
        let default = Upstream::parse(&config.default_upstream).unwrap_or_else(|| Upstream {
            host: config.default_upstream.trim().to_string(),
            port: 21,
            tls: UpstreamTls::None,
        });
        let mut allowed: Vec<Upstream> = Vec::new();
        for u in config.allowed_upstreams.iter().filter_map(|u| Upstream::parse(u)) {
            // The first entry for a server decides its protection.
            if !u.same_server(&default) && !allowed.iter().any(|a| a.same_server(&u)) {
                allowed.push(u);
            }
        }
        let choices = std::iter::once(&default).chain(&allowed).map(Upstream::to_string).collect();
        Upstreams { default, allowed, choices }
    }

    /// The default upstream.
    pub(crate) fn default_upstream(&self) -> &Upstream {
        &self.default
    }

    /// Every upstream a login may choose, default first.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Upstream> {
        std::iter::once(&self.default).chain(&self.allowed)
    }

    /// Every upstream a login may choose, default first, in written form.
    pub(crate) fn choices(&self) -> impl Iterator<Item = &str> {
        self.choices.iter().map(String::as_str)
    }

    /// Whether `u` is the default upstream (same server and protection).
    pub(crate) fn is_default(&self, u: &Upstream) -> bool {
        *u == self.default
    }

    /// The configured upstream for a login's host field, or `None` when it is
    /// not allowed. An empty field means the default. A plain `host:port` (or
    /// `ftp://`) matches the server whatever its configured protection, which
    /// then applies; an FTPS scheme must match it, so a login never gets less
    /// TLS than it asked for.
    pub(crate) fn resolve(&self, requested: Option<&str>) -> Option<Upstream> {
        let requested = match requested.map(str::trim) {
            None | Some("") => return Some(self.default.clone()),
            Some(r) => Upstream::parse(r)?,
        };
        std::iter::once(&self.default)
            .chain(&self.allowed)
            .find(|u| u.same_server(&requested) && (requested.tls == UpstreamTls::None || u.tls == requested.tls))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_hosts_and_ports() {
        assert_eq!(normalize_upstream("FTP.Example.org").as_deref(), Some("ftp.example.org:21"));
        assert_eq!(normalize_upstream("127.0.0.1:2121").as_deref(), Some("127.0.0.1:2121"));
        assert_eq!(normalize_upstream("::1").as_deref(), Some("[::1]:21"));
        assert_eq!(normalize_upstream("[::1]:990").as_deref(), Some("[::1]:990"));
        assert_eq!(normalize_upstream("a b:21"), None);
        assert_eq!(normalize_upstream("host:0"), None);
        assert_eq!(normalize_upstream("host:99999"), None);
        assert_eq!(normalize_upstream("user@host"), None);
        assert_eq!(normalize_upstream("host/path"), None);
    }

    #[test]
    fn schemes_choose_the_protection_and_the_default_port() {
        let u = Upstream::parse("FTPES://Files.example.org").unwrap();
        assert_eq!((u.host(), u.port(), u.tls()), ("files.example.org", 21, UpstreamTls::Explicit));
        assert_eq!(u.to_string(), "ftpes://files.example.org:21");
        assert_eq!(u.address(), "files.example.org:21");
        let u = Upstream::parse("ftps://[::1]").unwrap();
        assert_eq!((u.port(), u.tls(), u.server_name()), (990, UpstreamTls::Implicit, "::1"));
        assert_eq!(u.to_string(), "ftps://[::1]:990");
        assert_eq!(normalize_upstream("ftp://h:2121").as_deref(), Some("h:2121"));
        assert_eq!(normalize_upstream("ftps://h:2121").as_deref(), Some("ftps://h:2121"));
        assert_eq!(normalize_upstream("http://h"), None);
        assert_eq!(normalize_upstream("ftp://h/dir"), None);
        assert_eq!(normalize_upstream("ftp://"), None);
        assert_eq!(normalize_upstream("ftpes://user@h"), None);
        let plain = Upstream::parse("h:21").unwrap();
        assert_eq!(plain.with_tls(UpstreamTls::Explicit).to_string(), "ftpes://h:21");
    }

    #[test]
    fn only_listed_upstreams_resolve() {
        let config = WebConfig {
            default_upstream: "127.0.0.1:2121".into(),
            allowed_upstreams: vec!["files.example.org".into()],
            ..WebConfig::default()
        };
        let u = Upstreams::new(&config);
        let resolve = |r: Option<&str>| u.resolve(r).map(|u| u.to_string());
        assert_eq!(resolve(None).as_deref(), Some("127.0.0.1:2121"));
        assert_eq!(resolve(Some(" ")).as_deref(), Some("127.0.0.1:2121"));
        assert_eq!(resolve(Some("FILES.example.org:21")).as_deref(), Some("files.example.org:21"));
        assert_eq!(resolve(Some("127.0.0.1:21")), None);
        assert_eq!(resolve(Some("169.254.169.254:80")), None);
        assert_eq!(u.choices().count(), 2);
    }

    #[test]
    fn a_login_cannot_change_an_upstreams_protection() {
        let config = WebConfig {
            default_upstream: "ftpes://127.0.0.1:2121".into(),
            allowed_upstreams: vec!["ftps://files.example.org".into(), "plain.example.org".into()],
            ..WebConfig::default()
        };
        let u = Upstreams::new(&config);
        let resolve = |r: &str| u.resolve(Some(r)).map(|u| u.to_string());
        // A bare address gets the configured protection.
        assert_eq!(resolve("127.0.0.1:2121").as_deref(), Some("ftpes://127.0.0.1:2121"));
        assert_eq!(resolve("files.example.org:990").as_deref(), Some("ftps://files.example.org:990"));
        // An FTPS scheme must agree with it (no downgrade); ftp:// is upgraded.
        assert_eq!(resolve("ftp://127.0.0.1:2121").as_deref(), Some("ftpes://127.0.0.1:2121"));
        assert_eq!(resolve("ftpes://127.0.0.1:2121").as_deref(), Some("ftpes://127.0.0.1:2121"));
        assert_eq!(resolve("ftps://127.0.0.1:2121"), None);
        assert_eq!(resolve("ftpes://plain.example.org"), None);
        assert_eq!(resolve("ftps://files.example.org").as_deref(), Some("ftps://files.example.org:990"));
        // Implicit FTPS defaults to port 990: the bare name means port 21, not listed.
        assert_eq!(resolve("files.example.org"), None);
        assert!(u.is_default(&Upstream::parse("ftpes://127.0.0.1:2121").unwrap()));
        let choices: Vec<_> = u.choices().collect();
        assert_eq!(choices, ["ftpes://127.0.0.1:2121", "ftps://files.example.org:990", "plain.example.org:21"]);
    }
}
