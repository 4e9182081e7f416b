//! `[web]`: the browser FTP client (`oxftp-web`) the daemon serves next to
//! its FTP listeners.
//!
//! The gateway is an FTP *client*: every browser login becomes an FTP login
//! on an upstream server. Which upstreams it may reach is the security-critical
//! part, so each one is checked and normalised here, and an address that could
//! never be reached (or would turn the gateway into an open proxy) is refused
//! at start-up rather than at the first login.

use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use oxftp_web::normalize_upstream;
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
    /// The FTP server logins go to, normalised to `host:port`; `None`: this
    /// daemon's first plain listener, known only once it is bound.
    pub upstream: Option<String>,
    /// Other FTP servers a login may name, normalised to `host:port`.
    pub allowed_upstreams: Vec<String>,
    /// A browser session unused for this long is closed.
    pub idle_timeout: Duration,
    /// A browser session is closed this long after login, however busy.
    pub absolute_timeout: Duration,
    /// Largest upload, in bytes.
    pub max_upload: u64,
    /// Mark the session cookie `Secure` (behind an HTTPS proxy).
    pub secure_cookies: bool,
}

impl Default for WebSettings {
    fn default() -> Self {
        let web = oxftp_web::WebConfig::default();
        WebSettings {
            listen: DEFAULT_WEB_LISTEN,
            upstream: None,
            allowed_upstreams: Vec::new(),
            idle_timeout: web.idle_timeout,
            absolute_timeout: Duration::from_secs(12 * 3600),
            max_upload: web.max_upload_bytes,
            secure_cookies: false,
        }
    }
}

/// `[web]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawWeb {
    listen: Option<Spanned<String>>,
    upstream: Option<Spanned<String>>,
    allowed_upstreams: Vec<Spanned<String>>,
    idle_timeout: Option<Spanned<u64>>,
    absolute_timeout: Option<Spanned<u64>>,
    max_upload: Option<Spanned<u64>>,
    secure_cookies: Option<bool>,
}

impl Validator<'_> {
    /// `[web]`: every value checked, every bad one recorded.
    pub(super) fn web(&mut self, raw: RawWeb) -> WebSettings {
        let mut web = WebSettings::default();
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
        web.upstream = raw.upstream.and_then(|u| self.upstream(u, "web.upstream"));
        web.allowed_upstreams =
            raw.allowed_upstreams.into_iter().filter_map(|u| self.upstream(u, "web.allowed_upstreams")).collect();
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
        web
    }

    /// One upstream, normalised; `None` (and an error) when it is not a
    /// plain `host:port`.
    fn upstream(&mut self, value: Spanned<String>, key: &str) -> Option<String> {
        let normal = normalize_upstream(value.get_ref());
        if normal.is_none() {
            self.error(
                value.span(),
                key,
                format!(
                    "expected \"HOST:PORT\" such as \"127.0.0.1:2121\" or \"ftp.example.org:21\", found {:?}",
                    value.get_ref()
                ),
            );
        }
        normal
    }

    /// Cross-checks `[web]` against the FTP listeners: the HTTP port must not
    /// be one of theirs, and without an explicit upstream there must be a
    /// plain FTP listener for the client to log in to (it speaks no FTPS).
    pub(super) fn web_listeners(
        &mut self,
        web: &WebSettings,
        table: Range<usize>,
        server: &ServerConfig,
        tls: Option<&TlsSettings>,
    ) {
        let implicit = tls.map_or(&[][..], |t| t.implicit_listen.as_slice());
        if web.listen.port() != 0 && (server.listen.contains(&web.listen) || implicit.contains(&web.listen)) {
            self.error(
                table.clone(),
                "web.listen",
                format!("{} is also an FTP listener; the web client needs a port of its own", web.listen),
            );
        }
        let listen_errors = self.errors.iter().any(|e: &ConfigError| e.key.as_deref() == Some("server.listen"));
        if web.upstream.is_none() && server.listen.is_empty() && !listen_errors {
            self.error(
                table,
                "web.upstream",
                "expected an upstream \"HOST:PORT\": server.listen is empty, and the web client cannot log in over implicit FTPS",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::WebSettings;
    use crate::config::{Config, Overrides};

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
        assert!(!web.secure_cookies);
    }

    #[test]
    fn every_key_is_read_and_upstreams_are_normalised() {
        let web = parse(
            "[web]\nlisten = \"[::1]:0\"\nupstream = \"LocalHost\"\n\
             allowed_upstreams = [\"FTP.example.org:2121\", \"::1\"]\nidle_timeout = 60\n\
             absolute_timeout = 3600\nmax_upload = 1024\nsecure_cookies = true\n",
        )
        .unwrap()
        .web
        .unwrap();
        assert_eq!(web.listen, "[::1]:0".parse().unwrap());
        assert_eq!(web.upstream.as_deref(), Some("localhost:21"));
        assert_eq!(web.allowed_upstreams, ["ftp.example.org:2121", "[::1]:21"]);
        assert_eq!((web.idle_timeout.as_secs(), web.absolute_timeout.as_secs()), (60, 3600));
        assert_eq!(web.max_upload, 1024);
        assert!(web.secure_cookies);
    }

    #[test]
    fn bad_values_are_all_reported_with_key_and_line() {
        let errors = parse(
            "[web]\nlisten = \"localhost:8080\"\nupstream = \"user@host\"\n\
             allowed_upstreams = [\"ok.example:21\", \"http://x/\", \"h:0\"]\n\
             idle_timeout = 0\nabsolute_timeout = 99999999\nmax_upload = 0\n",
        )
        .unwrap_err();
        let got: Vec<_> = errors.iter().map(|e| (e.line.map(|l| l - 2), e.key.clone().unwrap_or_default())).collect();
        assert_eq!(
            got,
            vec![
                (Some(2), "web.listen".to_string()),
                (Some(3), "web.upstream".to_string()),
                (Some(4), "web.allowed_upstreams".to_string()),
                (Some(4), "web.allowed_upstreams".to_string()),
                (Some(5), "web.idle_timeout".to_string()),
                (Some(6), "web.absolute_timeout".to_string()),
                (Some(7), "web.max_upload".to_string()),
            ]
        );
        assert!(errors[0].message.contains("expected \"IP:PORT\""), "{}", errors[0].message);
        assert!(errors[2].message.contains("http://x/"), "{}", errors[2].message);
        assert!(errors[3].message.contains("h:0"), "{}", errors[3].message);
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
        let web = parse(&table).unwrap().web.unwrap();
        assert_eq!(web, WebSettings { upstream: Some("127.0.0.1:2121".into()), ..WebSettings::default() });
    }

    #[test]
    fn the_web_client_cannot_default_to_implicit_ftps() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
        std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        let text = "[storage]\nroot = \".\"\n[server]\nlisten = []\n[tls]\ncert_file = \"server.pem\"\n\
                    key_file = \"server.key\"\nimplicit_listen = [\"127.0.0.1:0\"]\n[web]\n"
            .to_string();
        let errors = Config::from_toml(&text, dir.path(), &Overrides::default()).unwrap_err().0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].key.as_deref(), Some("web.upstream"));
        // An explicit upstream is fine.
        let text = text + "upstream = \"127.0.0.1:2121\"\n";
        let config = Config::from_toml(&text, dir.path(), &Overrides::default()).unwrap();
        assert_eq!(config.web.unwrap().upstream.as_deref(), Some("127.0.0.1:2121"));
    }
}
