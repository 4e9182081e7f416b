//! The gateway's configuration and the upstream allow-list.
//!
//! The allow-list is what keeps the gateway from being an open proxy: a login
//! may only name the default upstream or one listed here, and the check runs
//! before any socket is opened (SSRF).

use std::net::SocketAddr;
use std::time::Duration;

/// Everything the web gateway needs to run; build it with struct update syntax
/// from [`WebConfig::default`] so new knobs do not break callers.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Address the HTTP server listens on (used by callers that bind for us).
    pub listen: SocketAddr,
    /// The FTP server a login talks to when it names none, as `host:port`
    /// (`:21` is assumed when the port is missing).
    pub default_upstream: String,
    /// Further upstreams a login may name, as `host:port`. Anything else is
    /// refused with 403 before a connection is attempted.
    pub allowed_upstreams: Vec<String>,
    /// A session unused for this long is closed with its FTP connections.
    pub idle_timeout: Duration,
    /// A session is closed this long after login, however busy it is.
    pub absolute_timeout: Duration,
    /// Largest request body an upload or save may send; more gives 413.
    pub max_upload_bytes: u64,
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
    /// Most sessions held at once; further logins get 503 so memory stays bounded.
    pub max_sessions: usize,
    /// FTP connections one web session may hold open (at least 2 for copy).
    pub connections_per_session: usize,
    /// How long to wait for the upstream's TCP connect and greeting.
    pub connect_timeout: Duration,
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
        }
    }
}

/// Bring `host[:port]` into one canonical `host:port` form (lower case, port
/// 21 when missing, IPv6 in brackets) so the allow-list compares like with
/// like. `None` for anything that is not a plain host name or IP address.
pub fn normalize_upstream(raw: &str) -> Option<String> {
    let raw = raw.trim().to_ascii_lowercase();
    if raw.is_empty() || raw.len() > 300 {
        return None;
    }
    let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let v6: std::net::Ipv6Addr = v6.parse().ok()?;
        let port = match after {
            "" => "21",
            p => p.strip_prefix(':')?,
        };
        (format!("[{v6}]"), port.to_string())
    } else if raw.matches(':').count() > 1 {
        let v6: std::net::Ipv6Addr = raw.parse().ok()?;
        (format!("[{v6}]"), "21".to_string())
    } else {
        let (host, port) = raw.split_once(':').unwrap_or((&raw, "21"));
        let ok =
            !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
        if !ok {
            return None;
        }
        (host.to_string(), port.to_string())
    };
    let port: u16 = port.parse().ok()?;
    if port == 0 {
        return None;
    }
    Some(format!("{host}:{port}"))
}

/// The upstreams a login may reach, normalised once at start-up.
#[derive(Debug, Clone)]
pub(crate) struct Upstreams {
    default: String,
    allowed: Vec<String>,
}

impl Upstreams {
    /// Normalise the configured names; unparsable entries are dropped (they
    /// could never match a normalised request anyway).
    pub(crate) fn new(config: &WebConfig) -> Self {
        let default = normalize_upstream(&config.default_upstream).unwrap_or_else(|| config.default_upstream.clone());
        let allowed = config.allowed_upstreams.iter().filter_map(|u| normalize_upstream(u)).collect();
        Upstreams { default, allowed }
    }

    /// The default upstream, shown on the login page.
    pub(crate) fn default_upstream(&self) -> &str {
        &self.default
    }

    /// Every upstream a login may choose, default first.
    pub(crate) fn choices(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.default.as_str())
            .chain(self.allowed.iter().map(String::as_str).filter(|u| *u != self.default))
    }

    /// The canonical upstream for a login's host field, or `None` when it is
    /// not allowed. An empty field means the default.
    pub(crate) fn resolve(&self, requested: Option<&str>) -> Option<String> {
        let requested = match requested.map(str::trim) {
            None | Some("") => return Some(self.default.clone()),
            Some(r) => normalize_upstream(r)?,
        };
        self.choices().any(|u| u == requested).then_some(requested)
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
    fn only_listed_upstreams_resolve() {
        let config = WebConfig {
            default_upstream: "127.0.0.1:2121".into(),
            allowed_upstreams: vec!["files.example.org".into()],
            ..WebConfig::default()
        };
        let u = Upstreams::new(&config);
        assert_eq!(u.resolve(None).as_deref(), Some("127.0.0.1:2121"));
        assert_eq!(u.resolve(Some(" ")).as_deref(), Some("127.0.0.1:2121"));
        assert_eq!(u.resolve(Some("FILES.example.org:21")).as_deref(), Some("files.example.org:21"));
        assert_eq!(u.resolve(Some("127.0.0.1:21")), None);
        assert_eq!(u.resolve(Some("169.254.169.254:80")), None);
        assert_eq!(u.choices().count(), 2);
    }
}
