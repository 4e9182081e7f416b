//! Running several nodes behind a balancer: listeners that expect PROXY
//! protocol headers (`server.listen` / `tls.implicit_listen` entries written
//! as tables), the proxies trusted to send them (`server.trusted_proxies`),
//! passive mode behind NAT and balancers (`[passive]`), and the state the
//! nodes share (`[cluster]`).

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::time::Duration;

use oxftp_core::account::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::Validator;

/// Default `passive.resolve_interval`: a moved Service or a new public
/// address is picked up within a minute, at one lookup a minute.
pub const DEFAULT_RESOLVE_INTERVAL: Duration = Duration::from_secs(60);

/// How one listener starts its connections, beyond its address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenOptions {
    /// Every connection starts with a PROXY protocol header (v1 or v2) from
    /// one of `server.trusted_proxies`.
    pub proxy_protocol: bool,
    /// What PASV announces for connections on this listener, instead of
    /// `passive.address`.
    pub passive_address: Option<PassiveHost>,
}

/// An address for PASV replies, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassiveHost {
    /// A fixed address.
    Ip(IpAddr),
    /// A DNS name, resolved every `passive.resolve_interval`.
    Name(String),
}

/// `server.trusted_proxies` and `server.proxy_header_timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySettings {
    /// Who may send PROXY headers.
    pub trusted: Vec<IpNet>,
    /// How long a header may take.
    pub header_timeout: Duration,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings { trusted: Vec::new(), header_timeout: Duration::from_secs(10) }
    }
}

/// `[cluster]`: the state the nodes share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `redis://host:port[/db]` of the Redis (or Valkey) server.
    pub redis: String,
    /// Refuse every login while a ban cannot be read from Redis.
    pub fail_closed: bool,
    /// First part of every key in Redis.
    pub key_prefix: String,
    /// How long a session's place outlives its node.
    pub session_lease: Duration,
    /// Longest wait for Redis.
    pub timeout: Duration,
}

/// `[cluster]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCluster {
    redis: Option<Spanned<String>>,
    fail_closed: Option<bool>,
    key_prefix: Option<Spanned<String>>,
    session_lease: Option<Spanned<u64>>,
    timeout_ms: Option<Spanned<u64>>,
}

/// Longest accepted `cluster.timeout_ms`.
const MAX_CLUSTER_TIMEOUT_MS: u64 = 60_000;

/// Longest accepted `server.proxy_header_timeout`, in seconds.
const MAX_HEADER_TIMEOUT_SECS: u64 = 300;

const LISTEN_EXPECTED: &str = "expected \"IP:PORT\" such as \"0.0.0.0:21\", or a table such as \
     { address = \"0.0.0.0:2121\", proxy_protocol = true, passive_address = \"ftp.example.com\" }";

impl Validator<'_> {
    /// A list of listeners: each an `"IP:PORT"` string or a table with
    /// `address`, `proxy_protocol` and `passive_address`.
    pub(super) fn listen_entries(
        &mut self,
        items: Vec<Spanned<toml::Value>>,
        key: &str,
    ) -> (Vec<SocketAddr>, Vec<ListenOptions>) {
        let mut addrs = Vec::with_capacity(items.len());
        let mut options = Vec::with_capacity(items.len());
        for item in items {
            let span = item.span();
            let parsed = match item.into_inner() {
                toml::Value::String(text) => self.socket_addr(&text, span, key).map(|a| (a, ListenOptions::default())),
                toml::Value::Table(table) => self.listen_table(table, span, key),
                other => {
                    self.error(span, key, format!("{LISTEN_EXPECTED}; found a {}", other.type_str()));
                    None
                }
            };
            if let Some((addr, opts)) = parsed {
                addrs.push(addr);
                options.push(opts);
            }
        }
        (addrs, options)
    }

    fn socket_addr(&mut self, text: &str, span: Range<usize>, key: &str) -> Option<SocketAddr> {
        match text.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.error(span, key, format!("{LISTEN_EXPECTED}; found {text:?}"));
                None
            }
        }
    }

    fn listen_table(
        &mut self,
        table: toml::Table,
        span: Range<usize>,
        key: &str,
    ) -> Option<(SocketAddr, ListenOptions)> {
        let mut address = None;
        let mut options = ListenOptions::default();
        let mut ok = true;
        for (name, value) in table {
            match (name.as_str(), value) {
                ("address", toml::Value::String(text)) => {
                    address = self.socket_addr(&text, span.clone(), key);
                    ok &= address.is_some();
                }
                ("proxy_protocol", toml::Value::Boolean(on)) => options.proxy_protocol = on,
                ("passive_address", toml::Value::String(text)) => {
                    options.passive_address = self.passive_host(&text, span.clone(), &format!("{key}.passive_address"));
                    ok &= options.passive_address.is_some();
                }
                ("address" | "passive_address", other) => {
                    self.error(span.clone(), key, format!("{name} must be a string, found a {}", other.type_str()));
                    ok = false;
                }
                ("proxy_protocol", other) => {
                    self.error(
                        span.clone(),
                        key,
                        format!("proxy_protocol must be true or false, found a {}", other.type_str()),
                    );
                    ok = false;
                }
                (other, _) => {
                    self.error(
                        span.clone(),
                        key,
                        format!("unknown key {other:?}; expected address, proxy_protocol or passive_address"),
                    );
                    ok = false;
                }
            }
        }
        if address.is_none() && ok {
            self.error(span, key, format!("a listener table needs address = \"IP:PORT\"; {LISTEN_EXPECTED}"));
        }
        Some((address?, options)).filter(|_| ok)
    }

    /// An IP address or a DNS host name for PASV replies.
    pub(super) fn passive_host(&mut self, text: &str, span: Range<usize>, key: &str) -> Option<PassiveHost> {
        let text = text.trim();
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Some(PassiveHost::Ip(ip));
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        let name = text.strip_suffix('.').unwrap_or(text);
        if !name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok) {
            return Some(PassiveHost::Name(name.to_string()));
        }
        self.error(
            span,
            key,
            format!("expected an IP address such as \"203.0.113.5\" or a host name such as \"ftp.example.com\", found {text:?}"),
        );
        None
    }

    /// `server.trusted_proxies` and `server.proxy_header_timeout`.
    pub(super) fn proxy_settings(
        &mut self,
        trusted: Vec<Spanned<String>>,
        timeout: Option<Spanned<u64>>,
    ) -> ProxySettings {
        let mut settings = ProxySettings::default();
        for item in trusted {
            let text = item.get_ref().trim();
            match text.parse::<IpNet>() {
                Ok(net) => settings.trusted.push(net),
                Err(_) => self.error(
                    item.span(),
                    "server.trusted_proxies",
                    format!("expected an address or network such as \"10.0.0.5\" or \"10.0.0.0/8\", found {text:?}"),
                ),
            }
        }
        if let Some(secs) = timeout {
            if (1..=MAX_HEADER_TIMEOUT_SECS).contains(secs.get_ref()) {
                settings.header_timeout = Duration::from_secs(*secs.get_ref());
            } else {
                self.error(
                    secs.span(),
                    "server.proxy_header_timeout",
                    format!("expected seconds from 1 to {MAX_HEADER_TIMEOUT_SECS}, found {}", secs.get_ref()),
                );
            }
        }
        settings
    }

    /// `[cluster]`; `None` after recording an error.
    pub(super) fn cluster(&mut self, raw: RawCluster, table: Range<usize>) -> Option<ClusterSettings> {
        let errors_before = self.errors.len();
        let redis = match raw.redis {
            Some(url) => {
                if let Err(e) = oxftp_redis::check_url(url.get_ref()) {
                    self.error(
                        url.span(),
                        "cluster.redis",
                        format!("{e}; expected a URL such as \"redis://127.0.0.1:6379\""),
                    );
                }
                url.into_inner()
            }
            None => {
                self.error(table, "cluster.redis", "missing; expected a URL such as \"redis://127.0.0.1:6379\"");
                String::new()
            }
        };
        let key_prefix = match raw.key_prefix {
            Some(prefix) => {
                let p = prefix.get_ref();
                if p.is_empty() || p.len() > 64 || p.chars().any(|c| c.is_control() || c.is_whitespace()) {
                    self.error(prefix.span(), "cluster.key_prefix", "expected 1 to 64 characters without spaces");
                }
                prefix.into_inner()
            }
            None => "oxftp".to_string(),
        };
        let session_lease = match raw.session_lease {
            // Renewed every third of a lease: a second between renewals is the least that makes sense.
            Some(secs) if *secs.get_ref() < 3 => {
                let found = *secs.get_ref();
                self.error(secs.span(), "cluster.session_lease", format!("expected at least 3 seconds, found {found}"));
                Duration::from_secs(30)
            }
            other => self.seconds(other, "cluster.session_lease").unwrap_or(Duration::from_secs(30)),
        };
        let timeout = match raw.timeout_ms {
            Some(ms) if (1..=MAX_CLUSTER_TIMEOUT_MS).contains(ms.get_ref()) => Duration::from_millis(*ms.get_ref()),
            Some(ms) => {
                self.error(
                    ms.span(),
                    "cluster.timeout_ms",
                    format!("expected milliseconds from 1 to {MAX_CLUSTER_TIMEOUT_MS}, found {}", ms.get_ref()),
                );
                Duration::from_secs(1)
            }
            None => Duration::from_secs(1),
        };
        (self.errors.len() == errors_before).then_some(ClusterSettings {
            redis,
            fail_closed: raw.fail_closed.unwrap_or(false),
            key_prefix,
            session_lease,
            timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_after_storage as parse;

    #[test]
    fn listeners_may_be_tables_with_proxy_protocol_and_a_passive_address() {
        let config = parse(
            "[server]\nlisten = [\"127.0.0.1:0\", { address = \"127.0.0.2:0\", proxy_protocol = true, \
             passive_address = \"lb.example.com\" }]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n\
             proxy_header_timeout = 3\n[passive]\naddress = \"ftp.example.com\"\nresolve_interval = 30\n\
             proxy_protocol = true\nport_range = [30000, 30009]\n",
        )
        .unwrap();
        assert_eq!(config.server.listen.len(), 2);
        assert_eq!(config.server.listen_options[0], ListenOptions::default());
        assert!(config.server.listen_options[1].proxy_protocol);
        assert_eq!(config.server.listen_options[1].passive_address, Some(PassiveHost::Name("lb.example.com".into())));
        assert_eq!(config.server.proxy.trusted.len(), 2);
        assert_eq!(config.server.proxy.header_timeout, Duration::from_secs(3));
        assert_eq!(config.passive.address, Some(PassiveHost::Name("ftp.example.com".into())));
        assert_eq!(config.passive.resolve_interval, Duration::from_secs(30));
        assert!(config.passive.proxy_protocol);
    }

    #[test]
    fn bad_listener_tables_and_proxy_settings_name_key_and_line() {
        let errors = parse(
            "[server]\nlisten = [{ address = \"nowhere\" }, { proxy_protocol = true }, 5, \
             { address = \"127.0.0.1:0\", colour = \"red\" }]\n\
             trusted_proxies = [\"proxy.local\"]\nproxy_header_timeout = 0\n\
             [passive]\naddress = \"not a host!\"\nannounce_node_address = true\n",
        )
        .unwrap_err();
        let got: Vec<(Option<usize>, String)> =
            errors.iter().map(|e| (e.line, e.key.clone().unwrap_or_default())).collect();
        for expected in [
            (Some(4), "server.listen"),
            (Some(5), "server.trusted_proxies"),
            (Some(6), "server.proxy_header_timeout"),
            (Some(8), "passive.address"),
        ] {
            assert!(got.iter().any(|(l, k)| (*l, k.as_str()) == expected), "{expected:?} in {got:?}");
        }
        assert_eq!(got.iter().filter(|(_, k)| k == "server.listen").count(), 4, "{got:?}");
        let text = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(text.contains("colour"), "{text}");
    }

    #[test]
    fn a_proxy_listener_needs_trusted_proxies_and_node_address_excludes_address() {
        let errors = parse(
            "[server]\nlisten = [{ address = \"127.0.0.1:0\", proxy_protocol = true }]\n\
             [passive]\naddress = \"203.0.113.5\"\nannounce_node_address = true\n",
        )
        .unwrap_err();
        let text = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(text.contains("server.trusted_proxies") && text.contains("PROXY"), "{text}");
        assert!(text.contains("passive.announce_node_address"), "{text}");
        let errors = parse("[passive]\nproxy_protocol = true\n").unwrap_err();
        assert!(errors.iter().any(|e| e.to_string().contains("server.trusted_proxies")), "{errors:?}");
    }

    #[test]
    fn cluster_needs_a_redis_url_and_sane_numbers() {
        let config = parse("[cluster]\nredis = \"redis://127.0.0.1:6379\"\n").unwrap();
        let cluster = config.cluster.unwrap();
        assert_eq!(cluster.key_prefix, "oxftp");
        assert!(!cluster.fail_closed);
        assert_eq!((cluster.session_lease, cluster.timeout), (Duration::from_secs(30), Duration::from_secs(1)));
        assert!(parse("").unwrap().cluster.is_none());
        let errors = parse(
            "[cluster]\nredis = \"http://example.com\"\nkey_prefix = \"a b\"\nsession_lease = 1\ntimeout_ms = 0\n",
        )
        .unwrap_err();
        let keys: Vec<String> = errors.iter().filter_map(|e| e.key.clone()).collect();
        for key in ["cluster.redis", "cluster.key_prefix", "cluster.session_lease", "cluster.timeout_ms"] {
            assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
        }
        let errors = parse("[cluster]\nfail_closed = true\n").unwrap_err();
        assert!(errors.iter().any(|e| e.to_string().contains("cluster.redis: missing")), "{errors:?}");
    }
}
