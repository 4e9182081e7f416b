//! The engine's [`Options`] and listeners from the config: limits, timeouts,
//! passive and active data connections, TLS, PROXY headers.

use oxftp_core::server::{Listener, Options, PassiveAddress, ProxyProtocol, ResolvedName};
use slog::{Logger, info, warn};

use crate::config::{Config, ListenOptions, PassiveHost};

/// The engine options for `config`.
pub fn options(config: &Config) -> Options {
    let server = &config.server;
    let mut options = Options::default();
    options.greeting = server.greeting.clone();
    options.passive_ports = config.passive.port_range;
    options.passive_address = passive_address(config, config.passive.address.as_ref());
    options.passive_proxy_protocol = config.passive.proxy_protocol;
    options.proxy_protocol =
        ProxyProtocol { trusted: server.proxy.trusted.clone(), header_timeout: server.proxy.header_timeout };
    options.active_enabled = config.active.enabled;
    options.active_source_port_20 = config.active.source_port_20;
    options.idle_timeout = server.idle_timeout;
    options.login_timeout = server.login_timeout;
    options.data_timeout = server.data_timeout;
    options.max_sessions = server.max_sessions;
    options.max_line = server.max_line;
    options.failed_login_delay = server.failed_login_delay;
    options.max_login_failures = server.max_login_failures;
    options.shutdown_timeout = server.shutdown_timeout;
    options.tls = config.tls.as_ref().map(|settings| settings.tls.clone());
    options.max_sessions_per_ip = config.load.max_sessions_per_ip;
    options.max_prelogin_per_ip = config.load.max_prelogin_per_ip;
    options.max_unknown_before_login = server.max_unknown_before_login;
    options.max_tls_handshakes = config.tls.as_ref().map_or(0, |settings| settings.max_handshakes);
    options.ip_rules = config.access.clone();
    options.ban = config.ban.clone();
    options.download_rate = config.load.download_rate;
    options.upload_rate = config.load.upload_rate;
    options.chmod_special_bits = server.chmod_special_bits;
    options.upload_sweep_interval = Some(server.upload_sweep_interval).filter(|d| !d.is_zero());
    options.hash_bytes_per_session = server.hash_bytes_per_session;
    options.hash_anonymous = config.anonymous.hash;
    options
}

/// What PASV announces: `host` (a listener's own, or `passive.address`), or
/// this node's address with `passive.announce_node_address`, or by default
/// the address the client reached. A name is resolved in the background
/// while the server runs; [`resolve_names`] resolves it once before.
pub fn passive_address(config: &Config, host: Option<&PassiveHost>) -> PassiveAddress {
    match host {
        Some(PassiveHost::Ip(ip)) => PassiveAddress::Fixed(*ip),
        Some(PassiveHost::Name(name)) => {
            PassiveAddress::Name(ResolvedName::new(name.clone(), config.passive.resolve_interval))
        }
        None if config.passive.announce_node_address => PassiveAddress::NodeLocal,
        None => PassiveAddress::Reached,
    }
}

/// Resolve every passive address name once, so PASV has an address from
/// the first session; a name that does not resolve yet is only a warning
/// (PASV answers 425 until it does, EPSV works).
pub async fn resolve_names<'a>(addresses: impl IntoIterator<Item = &'a PassiveAddress>, logger: &Logger) {
    for address in addresses {
        let PassiveAddress::Name(name) = address else { continue };
        match name.resolve().await {
            Ok(ip) => info!(logger, "passive address resolved"; "name" => name.name(), "address" => %ip),
            Err(e) => warn!(logger, "passive address does not resolve yet: PASV answers 425 until it does";
                "name" => name.name(), "error" => %e),
        }
    }
}

/// The engine listener for `tcp`, with its entry's options.
pub fn listener(
    config: &Config,
    tcp: tokio::net::TcpListener,
    implicit_tls: bool,
    options: &ListenOptions,
) -> Listener {
    let mut listener = if implicit_tls { Listener::implicit_tls(tcp) } else { Listener::new(tcp) };
    if options.proxy_protocol {
        listener = listener.with_proxy_protocol();
    }
    if let Some(host) = &options.passive_address {
        listener = listener.with_passive_address(passive_address(config, Some(host)));
    }
    listener
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::cluster::redacted;
    use super::super::tests::{config, config_default};
    use super::*;

    #[test]
    fn options_carry_every_setting() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(
            "[server]\ngreeting = \"hi\"\nmax_sessions = 3\nidle_timeout = 4\nlogin_timeout = 5\ndata_timeout = 6\n\
             shutdown_timeout = 7\nfailed_login_delay_ms = 8\nmax_login_failures = 9\nmax_line = 1000\n\
             [passive]\nport_range = [40000, 40009]\naddress = \"198.51.100.1\"\n[active]\nenabled = false\nsource_port_20 = true\n",
            &dir,
        );
        let o = options(&config);
        assert_eq!(o.greeting, "hi");
        assert_eq!(o.max_sessions, 3);
        assert_eq!(
            (o.idle_timeout, o.login_timeout, o.data_timeout, o.shutdown_timeout, o.failed_login_delay),
            (
                Duration::from_secs(4),
                Duration::from_secs(5),
                Duration::from_secs(6),
                Duration::from_secs(7),
                Duration::from_millis(8)
            )
        );
        assert_eq!((o.max_login_failures, o.max_line), (9, 1000));
        assert_eq!(o.passive_ports, Some((40000, 40009)));
        assert!(
            matches!(o.passive_address, oxftp_core::server::PassiveAddress::Fixed(ip) if ip.to_string() == "198.51.100.1")
        );
        assert!(!o.active_enabled && o.active_source_port_20);
        assert!(matches!(o.passive_address, PassiveAddress::Fixed(_)));
        assert!(o.proxy_protocol.trusted.is_empty() && !o.passive_proxy_protocol && o.shared_state.is_none());
    }

    #[test]
    fn proxy_and_passive_settings_reach_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let proxied = config(
            "[server]\ntrusted_proxies = [\"10.0.0.0/8\"]\nproxy_header_timeout = 4\n\
             [passive]\naddress = \"ftp.example.com\"\nresolve_interval = 7\nproxy_protocol = true\n",
            &dir,
        );
        let o = options(&proxied);
        assert!(o.proxy_protocol.trusts("10.1.2.3:1".parse().unwrap()));
        assert!(!o.proxy_protocol.trusts("192.0.2.1:1".parse().unwrap()));
        assert_eq!(o.proxy_protocol.header_timeout, Duration::from_secs(4));
        assert!(o.passive_proxy_protocol);
        assert!(matches!(&o.passive_address, PassiveAddress::Name(n) if n.name() == "ftp.example.com"));
        let node = config("[passive]\nannounce_node_address = true\n", &dir);
        assert!(matches!(options(&node).passive_address, PassiveAddress::NodeLocal));
        assert!(matches!(options(&config("", &dir)).passive_address, PassiveAddress::Reached));
        assert_eq!(redacted("redis://user:secret@10.0.0.9:6379/2"), "redis://***@10.0.0.9:6379/2");
        assert_eq!(redacted("redis://10.0.0.9:6379"), "redis://10.0.0.9:6379");
    }

    #[test]
    fn limits_rules_and_ban_reach_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(
            "[server]\nmax_sessions_per_ip = 10\ndownload_rate = 4096\nupload_rate = 0\n\
             [access]\ndeny = [\"127.0.0.2\"]\n[ban]\nmax_failures = 2\nban_time = 1\n",
            &dir,
        );
        let o = options(&config);
        assert_eq!((o.max_sessions_per_ip, o.download_rate, o.upload_rate), (10, Some(4096), None));
        assert!(!o.ip_rules.permits("127.0.0.2".parse().unwrap()));
        assert!(o.ip_rules.permits("127.0.0.1".parse().unwrap()));
        let ban = o.ban.expect("ban on");
        assert_eq!((ban.max_failures, ban.ban_time), (2, Duration::from_secs(1)));
        assert!(options(&config_default(&dir)).ban.is_none());
    }

    #[test]
    fn tls_reaches_the_engine_only_when_configured() {
        let dir = tempfile::tempdir().unwrap();
        assert!(options(&config("", &dir)).tls.is_none());
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
        std::fs::write(dir.path().join("s.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("s.key"), key.serialize_pem()).unwrap();
        let config =
            config("[tls]\ncert_file = \"s.pem\"\nkey_file = \"s.key\"\ndata = \"all\"\nallow_ccc = true\n", &dir);
        let tls = options(&config).tls.expect("TLS options");
        assert_eq!(tls.config().data, oxftp_core::tls::TlsRequirement::All);
        assert!(tls.config().allow_ccc);
        assert_eq!(tls.config().cert_file, dir.path().join("s.pem"));
    }
}
