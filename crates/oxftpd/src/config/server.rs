//! `[server]`: listeners, limits and timeouts.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{ListenOptions, MAX_TIMEOUT_SECS, Overrides, ProxySettings, Validator};

/// Where the daemon listens when neither the config nor `--listen` says.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2121);

/// Longest failed-login delay, in milliseconds: beyond a minute the delay only
/// ties up sessions.
const MAX_FAILED_LOGIN_DELAY_MS: u64 = 60_000;

/// Accepted range for `server.max_line`: shorter lines cannot carry a long
/// path, longer ones only let a client make the server buffer more.
const MAX_LINE_RANGE: (usize, usize) = (512, 1024 * 1024);

/// `server.max_prelogin_per_ip` when not set.
pub const DEFAULT_MAX_PRELOGIN_PER_IP: usize = 64;

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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawServer {
    pub(super) listen: Option<Spanned<Vec<Spanned<toml::Value>>>>,
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
    pub(super) max_sessions_per_ip: Option<usize>,
    pub(super) max_prelogin_per_ip: Option<usize>,
    max_unknown_before_login: Option<u32>,
    pub(super) download_rate: Option<u64>,
    pub(super) upload_rate: Option<u64>,
    run_as: Option<Spanned<String>>,
    run_as_group: Option<Spanned<String>>,
    allow_root: Option<bool>,
    chmod_special_bits: Option<bool>,
    upload_sweep_interval: Option<Spanned<u64>>,
    hash_bytes_per_session: Option<u64>,
}

impl Validator<'_> {
    pub(super) fn server(&mut self, raw: RawServer, overrides: &Overrides) -> ServerConfig {
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
}

#[cfg(test)]
mod tests {
    use super::super::tests::{errors, only_error, parse, tree};

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
}
