//! From a validated [`Config`] to an engine [`Server`]: which storage, which
//! authenticators stacked how, which options.
//!
//! This is the only place that knows both the config file's vocabulary and
//! the engine's, so adding a config key means touching `config` (parse and
//! check it) and this file (hand it to the engine) and nothing else.

use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use oxftp_core::auth::{AuthError, Authenticator, Credentials, Identity};
use oxftp_core::policy::AnonymousLogin;
use oxftp_core::server::{Options, Server};
use oxftp_fs::LocalFsFactory;
use slog::{Logger, info, warn};

use crate::config::Config;

/// The engine options for `config`.
// Options the engine adds later keep their defaults until the config file
// exposes them; today the update is redundant.
#[allow(clippy::needless_update)]
pub fn options(config: &Config) -> Options {
    let server = &config.server;
    Options {
        greeting: server.greeting.clone(),
        passive_ports: config.passive.port_range,
        passive_address: config.passive.address,
        active_enabled: config.active.enabled,
        active_source_port_20: config.active.source_port_20,
        idle_timeout: server.idle_timeout,
        login_timeout: server.login_timeout,
        data_timeout: server.data_timeout,
        max_sessions: server.max_sessions,
        max_line: server.max_line,
        failed_login_delay: server.failed_login_delay,
        max_login_failures: server.max_login_failures,
        shutdown_timeout: server.shutdown_timeout,
        tls: config.tls.as_ref().map(|settings| settings.tls.clone()),
        ..Options::default()
    }
}

/// Who may log in: the users file's accounts, with anonymous logins in front
/// of them when enabled; nobody when neither is configured.
pub fn authenticator(config: &Config) -> Arc<dyn Authenticator> {
    let users: Option<Arc<dyn Authenticator>> =
        config.users.as_ref().map(|users| Arc::clone(&users.authenticator) as Arc<dyn Authenticator>);
    if config.anonymous.enabled {
        Arc::new(AnonymousLogin::new(users, config.anonymous.root.clone(), config.anonymous.incoming.clone()))
    } else {
        users.unwrap_or_else(|| Arc::new(NoAccounts))
    }
}

/// The server for `config`, logging to `logger`.
pub fn server(config: &Config, logger: Logger) -> anyhow::Result<Server> {
    let storage = LocalFsFactory::new(&config.storage.root)
        .with_context(|| format!("cannot serve {}", config.storage.root.display()))?
        .atomic_uploads(config.storage.atomic_uploads);
    describe(config, &logger);
    Ok(Server::new(Arc::new(storage), authenticator(config)).with_options(options(config)).with_logger(logger))
}

/// Logs what is being served to whom, and warns about setups that let nobody in.
fn describe(config: &Config, logger: &Logger) {
    let accounts = config.users.as_ref().map_or(0, |users| users.authenticator.len());
    info!(logger, "configuration";
        "root" => %config.storage.root.display(),
        "anonymous" => config.anonymous.enabled,
        "anonymous_root" => %config.anonymous.root,
        "incoming" => config.anonymous.incoming.as_ref().map(ToString::to_string),
        "users_file" => config.users.as_ref().map(|u| u.file.display().to_string()),
        "accounts" => accounts,
        "active" => config.active.enabled,
        "passive_ports" => ?config.passive.port_range,
        "max_sessions" => config.server.max_sessions,
    );
    if let Some(settings) = &config.tls {
        let tls = settings.tls.config();
        info!(logger, "FTPS";
            "cert_file" => %tls.cert_file.display(),
            "control" => ?tls.control,
            "data" => ?tls.data,
            "require_session_reuse" => tls.require_session_reuse,
            "allow_ccc" => tls.allow_ccc,
            "client_certs" => ?tls.client_certs,
            "implicit_listeners" => settings.implicit_listen.len(),
        );
        if tls.cert_cn_login && tls.client_certs == oxftp_core::tls::ClientCertMode::Off {
            warn!(logger, "tls.cert_cn_login has no effect while tls.client_certs = \"off\"");
        }
    }
    if !config.anonymous.enabled && accounts == 0 {
        warn!(logger, "nobody can log in: anonymous is disabled and no users file (or an empty one) is configured");
    }
}

/// The authenticator when no login method is configured: refuses everyone,
/// so the server still starts (and answers) while the admin finishes setup.
#[derive(Debug)]
struct NoAccounts;

#[async_trait]
impl Authenticator for NoAccounts {
    async fn authenticate(&self, _credentials: &Credentials) -> Result<Identity, AuthError> {
        Err(AuthError::UnknownUser)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use oxftp_core::auth::AccessClass;

    use super::*;
    use crate::config::Overrides;

    fn creds(user: &str, password: &str) -> Credentials {
        Credentials { user: user.into(), password: password.into(), peer: "192.0.2.9:5000".parse().unwrap() }
    }

    fn config(text: &str, dir: &tempfile::TempDir) -> Config {
        Config::from_toml(text, dir.path(), &Overrides::default()).unwrap()
    }

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
        assert_eq!(o.passive_address, Some("198.51.100.1".parse().unwrap()));
        assert!(!o.active_enabled && o.active_source_port_20);
    }

    #[tokio::test]
    async fn anonymous_goes_in_front_of_users() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pub/in")).unwrap();
        let hash = oxftp_auth_file::hash_password("pw");
        std::fs::write(dir.path().join("users.toml"), format!("[[user]]\nname = \"al\"\npassword_hash = \"{hash}\"\n"))
            .unwrap();
        let config = config(
            "[storage]\nroot = \".\"\n[anonymous]\nenabled = true\nroot = \"/pub\"\nincoming = \"/in\"\n[users]\nfile = \"users.toml\"\n",
            &dir,
        );
        let auth = authenticator(&config);
        let anon = auth.authenticate(&creds("ftp", "me@example.org")).await.unwrap();
        assert_eq!(anon.class, AccessClass::Anonymous);
        assert_eq!(anon.home.as_bytes(), b"/pub");
        assert_eq!(anon.incoming.as_ref().map(|p| p.as_bytes().to_vec()), Some(b"/in".to_vec()));
        let al = auth.authenticate(&creds("al", "pw")).await.unwrap();
        assert_eq!(al.class, AccessClass::User);
        assert!(matches!(auth.authenticate(&creds("al", "no")).await, Err(AuthError::BadPassword)));
    }

    #[tokio::test]
    async fn anonymous_is_off_by_default_and_nobody_gets_in_without_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let auth = authenticator(&config("", &dir));
        assert!(matches!(auth.authenticate(&creds("anonymous", "x")).await, Err(AuthError::UnknownUser)));
        assert!(matches!(auth.authenticate(&creds("root", "x")).await, Err(AuthError::UnknownUser)));
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

    #[test]
    fn server_is_built_over_the_storage_root() {
        let dir = tempfile::tempdir().unwrap();
        let config = config("[server]\ngreeting = \"composed\"\n[storage]\nroot = \".\"\n", &dir);
        let server = server(&config, Logger::root(slog::Discard, slog::o!())).unwrap();
        assert_eq!(server.options().greeting, "composed");
    }
}
