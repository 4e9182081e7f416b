//! From a validated [`Config`] to an engine [`Server`]: which storage, which
//! authenticators stacked how, which options.
//!
//! This is the only place that knows both the config file's vocabulary and
//! the engine's, so adding a config key means touching `config` (parse and
//! check it) and this file (hand it to the engine) and nothing else.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use oxftp_auth_file::FileAuthenticator;
use oxftp_auth_json::JsonAuthenticator;
use oxftp_core::admission::{Degrading, SharedState};
use oxftp_core::auth::{AnonymousLogin, Authenticator, NoAccounts, Swappable};
use oxftp_core::metrics::prometheus_client::registry::Registry;
use oxftp_core::metrics::{Metrics, PREFIX};
use oxftp_core::policy::Stack;
use oxftp_core::server::{Listener, Options, PassiveAddress, ProxyProtocol, ResolvedName, Server};
use oxftp_core::storage::StorageFactory;
use oxftp_fs::LocalFsFactory;
use oxftp_hooks::Hooks;
use oxftp_opendal::{OpendalFactory, OpendalStorage};
use oxftp_redis::{RedisSettings, RedisState};
use oxftp_web::{Upstream, UpstreamTls, UpstreamTrust};
use slog::{Logger, info, warn};

use crate::config::{
    AuthBackend, ClusterSettings, Config, HooksSettings, ListenOptions, PassiveHost, SftpSettings, StorageConfig,
    TlsSettings, WebSettings,
};

/// The engine options for `config`.
pub fn options(config: &Config) -> Options {
    let server = &config.server;
    Options {
        greeting: server.greeting.clone(),
        passive_ports: config.passive.port_range,
        passive_address: passive_address(config, config.passive.address.as_ref()),
        passive_proxy_protocol: config.passive.proxy_protocol,
        proxy_protocol: ProxyProtocol {
            trusted: server.proxy.trusted.clone(),
            header_timeout: server.proxy.header_timeout,
        },
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
        max_sessions_per_ip: config.load.max_sessions_per_ip,
        max_prelogin_per_ip: config.load.max_prelogin_per_ip,
        max_unknown_before_login: server.max_unknown_before_login,
        max_tls_handshakes: config.tls.as_ref().map_or(0, |settings| settings.max_handshakes),
        ip_rules: config.access.clone(),
        ban: config.ban.clone(),
        download_rate: config.load.download_rate,
        upload_rate: config.load.upload_rate,
        chmod_special_bits: server.chmod_special_bits,
        upload_sweep_interval: Some(server.upload_sweep_interval).filter(|d| !d.is_zero()),
        hash_bytes_per_session: server.hash_bytes_per_session,
        hash_anonymous: config.anonymous.hash,
        ..Options::default()
    }
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

/// The shared state for `[cluster]`: Redis, falling back to this node's own
/// state while Redis cannot be reached.
pub fn cluster_state(settings: &ClusterSettings, logger: &Logger) -> anyhow::Result<Arc<dyn SharedState>> {
    let redis = RedisSettings {
        url: settings.redis.clone(),
        key_prefix: settings.key_prefix.clone(),
        lease: settings.session_lease,
        timeout: settings.timeout,
    };
    let logger = logger.new(slog::o!("component" => "cluster"));
    let state = RedisState::new(redis, logger.clone()).map_err(|e| anyhow::anyhow!("cluster.redis: {e}"))?;
    Ok(Arc::new(Degrading::new(Arc::new(state), settings.fail_closed, logger)))
}

/// The web client's settings for `[web]`. `bound` lists this daemon's FTP
/// listeners as bound (their real ports when configured as 0) and whether
/// each is implicit FTPS: when `web.upstream` names no server, the client
/// logs in to this daemon through the first listener that speaks what it
/// uses (see [`WebSettings::own_upstream_tls`]), over FTPS trusting exactly
/// this daemon's own certificate. Certificate files are read here; config
/// validation has already checked them, so errors are unlikely.
///
/// Certificates follow SIGHUP reloads: the HTTPS listener takes its
/// certificate from a reloadable resolver (see [`crate::reload::web_https`];
/// the second value is the web client's own pair, when it has one, for the
/// reloader), and the pin on this daemon's certificate follows `[tls]`'s.
pub fn web(
    settings: &WebSettings,
    tls: Option<&TlsSettings>,
    bound: &[(SocketAddr, bool)],
) -> anyhow::Result<(oxftp_web::WebConfig, Option<oxftp_core::tls::Tls>)> {
    let defaults = oxftp_web::WebConfig::default();
    let (default_upstream, default_upstream_cert) = match &settings.upstream {
        Some(upstream) => (upstream.clone(), None),
        None => {
            let mode = settings.own_upstream_tls(tls.is_some(), bound.iter().any(|(_, implicit)| !implicit));
            let implicit = mode == UpstreamTls::Implicit;
            let Some((addr, _)) = bound.iter().find(|(_, i)| *i == implicit) else {
                anyhow::bail!("web.upstream: no FTP listener of this server for the web client to log in to");
            };
            let upstream = Upstream::parse(&reachable(*addr).to_string())
                .context("web.upstream: this server's listener address")?
                .with_tls(mode);
            let cert = match (mode, tls) {
                (UpstreamTls::None, _) => None,
                (_, Some(tls)) => {
                    let file = &tls.tls.config().cert_file;
                    let chain = oxftp_web::load_certificates(file).context("tls.cert_file (the web client pins it)")?;
                    chain.into_iter().next()
                }
                (_, None) => anyhow::bail!("web.upstream_tls: this server has no [tls] table"),
            };
            (upstream.to_string(), cert)
        }
    };
    let upstream_trust = match &settings.upstream_ca_file {
        Some(file) => UpstreamTrust::Roots(oxftp_web::load_certificates(file).context("web.upstream_ca_file")?),
        None => UpstreamTrust::System,
    };
    let (https, web_tls) = match crate::reload::web_https(settings, tls)? {
        Some((https, own)) => (Some(https), own),
        None => (None, None),
    };
    // The pin on this daemon's own certificate follows its reloads.
    let default_upstream_cert_source = match (&default_upstream_cert, tls) {
        (Some(_), Some(tls)) => {
            let tls = tls.tls.clone();
            Some(oxftp_web::CertificateSource::new(move || tls.current_certificate()))
        }
        _ => None,
    };
    let mut web = oxftp_web::WebConfig {
        listen: settings.listen,
        default_upstream,
        allowed_upstreams: settings.allowed_upstreams.clone(),
        idle_timeout: settings.idle_timeout,
        absolute_timeout: settings.absolute_timeout,
        max_upload_bytes: settings.max_upload,
        secure_cookies: settings.secure_cookies,
        https,
        upstream_trust,
        default_upstream_cert,
        default_upstream_cert_source,
        trusted_proxies: settings.trusted_proxies.clone(),
        allowed_hosts: settings.allowed_hosts.clone(),
        hsts_max_age: settings.hsts_max_age,
        shares_file: settings.shares_file.clone(),
        share_max_lifetime: settings.share_max_lifetime,
        ..defaults
    };
    settings.limits.apply(&mut web);
    Ok((web, web_tls))
}

/// The address a local client dials to reach a listener on `addr`: a
/// wildcard listener is reached through loopback.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// What SIGHUP re-reads.
#[derive(Debug, Clone)]
pub enum Reload {
    /// Nothing to re-read (no users file, or PAM, which reads the system's
    /// files on every login anyway).
    Nothing,
    /// The TOML users file, swapped into `holder` when the new one is valid.
    TomlUsers {
        /// The file.
        path: PathBuf,
        /// What sessions log in through.
        holder: Arc<Swappable>,
    },
    /// The JSON users file (the authenticator swaps its own accounts).
    Json(Arc<JsonAuthenticator>),
}

impl Reload {
    /// Re-reads the accounts file, off the async threads; a broken file
    /// leaves the accounts in force and is logged. Sessions are not touched.
    pub async fn run(&self, logger: &Logger) {
        match self {
            Reload::Nothing => info!(logger, "SIGHUP: no accounts file to re-read"),
            Reload::TomlUsers { path, holder } => {
                let file = path.clone();
                match tokio::task::spawn_blocking(move || FileAuthenticator::load(&file)).await {
                    Ok(Ok(auth)) => {
                        let accounts = auth.len();
                        holder.replace(Arc::new(auth));
                        info!(logger, "users file reloaded"; "file" => %path.display(), "accounts" => accounts);
                    }
                    Ok(Err(e)) => {
                        warn!(logger, "users file not reloaded; the old accounts stay in force"; "error" => %e)
                    }
                    Err(e) => warn!(logger, "users file reload did not finish"; "error" => %e),
                }
            }
            Reload::Json(auth) => {
                let json = Arc::clone(auth);
                match tokio::task::spawn_blocking(move || json.reload().map(|()| json.len())).await {
                    Ok(Ok(accounts)) => info!(logger, "JSON users file reloaded";
                        "file" => auth.path().map(|p| p.display().to_string()), "accounts" => accounts),
                    Ok(Err(e)) => {
                        warn!(logger, "JSON users file not reloaded; the old accounts stay in force"; "error" => %e)
                    }
                    Err(e) => warn!(logger, "JSON users file reload did not finish"; "error" => %e),
                }
            }
        }
    }
}

/// Who may log in (anonymous in front of the accounts backend when enabled;
/// nobody when neither is configured), and what SIGHUP reloads.
pub fn authenticator(config: &Config) -> (Arc<dyn Authenticator>, Reload) {
    let (accounts, reload): (Option<Arc<dyn Authenticator>>, Reload) = match &config.auth {
        AuthBackend::File => match &config.users {
            Some(users) => {
                let holder = Arc::new(Swappable::new(Arc::clone(&users.authenticator) as Arc<dyn Authenticator>));
                let reload = Reload::TomlUsers { path: users.file.clone(), holder: Arc::clone(&holder) };
                (Some(holder as Arc<dyn Authenticator>), reload)
            }
            None => (None, Reload::Nothing),
        },
        AuthBackend::Json(json) => (
            Some(Arc::clone(&json.authenticator) as Arc<dyn Authenticator>),
            Reload::Json(Arc::clone(&json.authenticator)),
        ),
        AuthBackend::Pam(pam) => (Some(Arc::clone(pam) as Arc<dyn Authenticator>), Reload::Nothing),
    };
    let auth: Arc<dyn Authenticator> = if config.anonymous.enabled {
        Arc::new(AnonymousLogin::new(accounts, config.anonymous.root.clone(), config.anonymous.incoming.clone()))
    } else {
        accounts.unwrap_or_else(|| Arc::new(NoAccounts))
    };
    (auth, reload)
}

/// The object store for `config`, when it uses one.
fn object_store(config: &Config, logger: &Logger) -> anyhow::Result<Option<Arc<OpendalStorage>>> {
    match &config.storage {
        StorageConfig::Fs(_) => Ok(None),
        StorageConfig::Opendal(settings) => {
            let storage = OpendalStorage::from_config(settings).context("cannot set up the object store")?;
            Ok(Some(Arc::new(storage.with_logger(logger.clone()))))
        }
    }
}

/// `check-config`'s second half: can the configured storage be reached? (A
/// local root was already checked while loading.)
pub async fn check_storage(config: &Config) -> anyhow::Result<()> {
    let discard = Logger::root(slog::Discard, slog::o!());
    if let Some(store) = object_store(config, &discard)? {
        store.check().await.map_err(|e| anyhow::anyhow!("storage: {}", e.message))?;
    }
    Ok(())
}

/// A server ready to run, and what SIGHUP reloads for it.
pub struct Composed {
    /// The engine server.
    pub server: Server,
    /// The SFTP front end (`[sftp]`), on the same storage stack, accounts
    /// and admission as `server`.
    pub sftp: Option<oxftp_sftp::SftpServer>,
    /// Run on SIGHUP.
    pub reload: Reload,
    /// The transfer log's writer, to start once privileges are dropped.
    pub xferlog: Option<crate::xferlog::Pending>,
    /// Every logged-in user's storage (the readiness probe checks it).
    pub stack: Arc<Stack>,
    /// The metrics registry, with `[admin]`: the engine's families are in;
    /// the hooks' and the web client's are added when they start.
    pub registry: Option<Registry>,
}

/// The server for `config`, logging to `logger`. With an object store, checks
/// that it answers and creates the anonymous directories first.
pub async fn server(config: &Config, logger: Logger) -> anyhow::Result<Composed> {
    let (auth, reload) = authenticator(config);
    let (storage, auth): (Arc<dyn StorageFactory>, Arc<dyn Authenticator>) = match &config.storage {
        StorageConfig::Fs(fs) => {
            let storage = LocalFsFactory::new(&fs.root)
                .with_context(|| format!("cannot serve {}", fs.root.display()))?
                .atomic_uploads(fs.atomic_uploads);
            (Arc::new(storage), auth)
        }
        StorageConfig::Opendal(_) => {
            let store = object_store(config, &logger)?.context("object store missing")?;
            store.check().await.map_err(|e| anyhow::anyhow!("storage: {}", e.message))?;
            if config.anonymous.enabled {
                let root = &config.anonymous.root;
                let mut dirs = vec![root.clone()];
                dirs.extend(config.anonymous.incoming.as_ref().map(|incoming| incoming.under(root)));
                for dir in dirs {
                    store.ensure_dir(&dir).await.map_err(|e| anyhow::anyhow!("cannot create {dir}: {}", e.message))?;
                }
            }
            // The factory creates each account's home at its first login.
            (Arc::new(OpendalFactory::new(store)), auth)
        }
    };
    describe(config, &logger);
    let mut options = options(config);
    resolve_names([&options.passive_address], &logger).await;
    if let Some(cluster) = &config.cluster {
        options.shared_state = Some(cluster_state(cluster, &logger)?);
        info!(logger, "cluster: bans, session counts and quotas shared through Redis";
            "redis" => redacted(&cluster.redis), "key_prefix" => &cluster.key_prefix,
            "fail_closed" => cluster.fail_closed, "session_lease_s" => cluster.session_lease.as_secs());
    }
    let mut registry = config.admin.as_ref().map(|_| Registry::default());
    if let (Some(registry), Some(admin)) = (registry.as_mut(), &config.admin) {
        options.metrics = Some(Metrics::new(registry, admin.per_user_metrics));
    }
    // One stack for every session, built here so the readiness probe can ask its storage.
    let mut stack = Stack::new(Arc::clone(&storage)).with_rates(options.download_rate, options.upload_rate);
    if let Some(state) = &options.shared_state {
        stack = stack.with_shared_quotas(Arc::clone(state));
    }
    if let Some(metrics) = &options.metrics {
        stack = stack.with_metrics(metrics);
    }
    let stack = Arc::new(stack);
    // One log line per completed upload, for pipelines that watch the log (issue 6's hook).
    options.transfer_listeners.push(Arc::new(oxftp_core::events::LogUploads(logger.clone())));
    let xferlog = config.xferlog.as_ref().map(|path| {
        let (listener, pending) = crate::xferlog::new(path, logger.new(slog::o!("component" => "xferlog")));
        options.transfer_listeners.push(listener);
        pending
    });
    // One door for every front end, as the stack above: an account's
    // session count and the bans hold across FTP and SFTP, and with
    // [cluster] across the nodes (the door keeps them in the shared state).
    let admission = Arc::new(options.admission());
    let sftp = match &config.sftp {
        Some(settings) => {
            let sftp_options = sftp_options(settings, config, &options, &logger)?;
            let sftp_logger = logger.new(slog::o!("component" => "sftp"));
            Some(
                oxftp_sftp::SftpServer::new(
                    Arc::clone(&stack),
                    Arc::clone(&auth),
                    Arc::clone(&admission),
                    sftp_options,
                )
                .with_logger(sftp_logger),
            )
        }
        None => None,
    };
    let server = Server::new(storage, auth)
        .with_stack(Arc::clone(&stack))
        .with_admission(admission)
        .with_options(options)
        .with_logger(logger);
    Ok(Composed { server, sftp, reload, xferlog, stack, registry })
}

/// The SFTP front end's options for `[sftp]`: its host keys (made now when
/// missing, fingerprints logged), its own limits and timeouts, and what it
/// shares with the FTP side (the failed-login delay, the shutdown grace,
/// the transfer listeners).
fn sftp_options(
    settings: &SftpSettings,
    config: &Config,
    options: &Options,
    logger: &Logger,
) -> anyhow::Result<oxftp_sftp::SftpOptions> {
    use oxftp_sftp::host_keys::{KeyKind, load_or_generate};
    let mut files = vec![(settings.host_key.as_path(), KeyKind::Ed25519)];
    if let Some(rsa) = &settings.rsa_host_key {
        files.push((rsa.as_path(), KeyKind::Rsa));
    }
    let mut keys = Vec::with_capacity(files.len());
    for (file, kind) in files {
        let key = load_or_generate(file, kind).map_err(|e| anyhow::anyhow!("sftp: {e}"))?;
        let what = if key.generated { "SFTP host key generated" } else { "SFTP host key" };
        info!(logger, "{}", what; "file" => %file.display(), "algorithm" => key.algorithm(), "fingerprint" => key.fingerprint());
        keys.push(key.key);
    }
    let mut sftp = oxftp_sftp::SftpOptions::new(keys);
    sftp.idle_timeout = settings.idle_timeout;
    sftp.login_timeout = settings.login_timeout;
    sftp.failed_login_delay = options.failed_login_delay;
    sftp.max_auth_attempts = settings.max_auth_attempts;
    sftp.max_channels = settings.max_channels;
    sftp.max_handles = settings.max_handles;
    sftp.shutdown_timeout = config.server.shutdown_timeout;
    sftp.chmod_special_bits = config.server.chmod_special_bits;
    sftp.transfer_listeners = options.transfer_listeners.clone();
    sftp.metrics = options.metrics.clone();
    Ok(sftp)
}

/// Starts the event hooks of `[[hook]]` (their spools, their delivery
/// tasks) and hands them to `server` as its event sink, their counters to
/// `registry`. After the privilege drop, so the spool belongs to the user
/// the daemon runs as.
pub fn start_hooks(
    settings: &HooksSettings,
    server: Server,
    registry: Option<&mut Registry>,
    logger: &Logger,
) -> anyhow::Result<(Server, Hooks)> {
    std::fs::create_dir_all(&settings.spool_dir)
        .with_context(|| format!("hooks.spool_dir: cannot create {}", settings.spool_dir.display()))?;
    let logger = logger.new(slog::o!("component" => "hooks"));
    let hooks = Hooks::start(&settings.spool_dir, settings.hooks.clone(), &logger).context("cannot start the hooks")?;
    info!(logger, "event hooks"; "hooks" => settings.hooks.len(), "spool_dir" => %settings.spool_dir.display(),
        "pending" => hooks.stats().iter().map(|s| s.pending).sum::<usize>());
    if let Some(registry) = registry {
        registry.sub_registry_with_prefix(PREFIX).register_collector(Box::new(hooks.collector()));
    }
    let mut options = server.options().clone();
    options.event_sinks.push(Arc::new(hooks.clone()));
    Ok((server.with_options(options), hooks))
}

/// A Redis URL without its password, for logs.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// Logs what is being served to whom, and warns about setups that let nobody in.
fn describe(config: &Config, logger: &Logger) {
    let (backend, accounts) = match &config.auth {
        AuthBackend::File => ("file", config.users.as_ref().map_or(0, |users| users.authenticator.len())),
        AuthBackend::Json(json) => ("json", json.authenticator.len()),
        // PAM accounts are the system's: unknown here, but possibly many.
        AuthBackend::Pam(_) => ("pam", 1),
    };
    info!(logger, "configuration";
        "storage" => config.storage.describe(),
        "anonymous" => config.anonymous.enabled,
        "anonymous_root" => %config.anonymous.root,
        "incoming" => config.anonymous.incoming.as_ref().map(ToString::to_string),
        "auth" => backend,
        "users_file" => match &config.auth {
            AuthBackend::Json(json) => Some(json.file.display().to_string()),
            _ => config.users.as_ref().map(|u| u.file.display().to_string()),
        },
        "accounts" => accounts,
        "active" => config.active.enabled,
        "passive_ports" => ?config.passive.port_range,
        "max_sessions" => config.server.max_sessions,
        "max_sessions_per_ip" => config.load.max_sessions_per_ip,
        "download_rate" => config.load.download_rate,
        "upload_rate" => config.load.upload_rate,
        "ban" => config.ban.is_some(),
    );
    if let Some(settings) = &config.tls {
        let tls = settings.tls.config();
        info!(logger, "FTPS";
            "cert_file" => %tls.cert_file.display(),
            "control" => ?tls.control,
            "data" => ?tls.data,
            "require_session_reuse" => %tls.require_session_reuse,
            "session_reuse_off_listeners" => settings.session_reuse_off_listen.len(),
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
    if let Some(web) = &config.web {
        describe_web(config, web, logger);
    }
}

/// Logs the web client's settings and warns where the daemon's own policy
/// works against it: the gateway logs in from its own address, without a
/// client certificate.
fn describe_web(config: &Config, web: &WebSettings, logger: &Logger) {
    let own_tls = web.own_upstream_tls(config.tls.is_some(), !config.server.listen.is_empty());
    info!(logger, "web client";
        "listen" => %web.listen,
        "https" => web.https.is_some(),
        "upstream" => web.upstream.as_deref().unwrap_or("this server"),
        "upstream_tls" => if web.upstream.is_none() { own_tls.scheme() } else { "as written" },
        "allowed_upstreams" => web.allowed_upstreams.len(),
        "secure_cookies" => web.secure_cookies || web.https.is_some(),
    );
    if web.upstream.is_none() {
        let tls = config.tls.as_ref().map(|t| t.tls.config());
        if own_tls == UpstreamTls::None && tls.is_some_and(|t| t.control != oxftp_core::tls::TlsRequirement::Optional) {
            warn!(
                logger,
                "web.upstream_tls = \"none\", but tls.control requires TLS: account logins through the web client will fail"
            );
        }
        if own_tls != UpstreamTls::None
            && tls.is_some_and(|t| t.client_certs == oxftp_core::tls::ClientCertMode::Require)
        {
            warn!(
                logger,
                "tls.client_certs = \"require\", but the web client has no client certificate: its logins will fail"
            );
        }
        if config.ban.as_ref().is_some_and(|ban| !ban.per_user) {
            warn!(
                logger,
                "failed web logins all come from the gateway's address; a [ban] without per_user = true locks every web user out"
            );
        }
        if config.load.max_sessions_per_ip > 0 {
            warn!(logger, "every web session holds up to 2 FTP connections from the gateway's address; server.max_sessions_per_ip caps them all together";
                "max_sessions_per_ip" => config.load.max_sessions_per_ip);
        }
    }
    if web.https.is_none() && !web.listen.ip().is_loopback() {
        warn!(logger, "the web client serves plain HTTP on a non-loopback address: passwords cross the network in clear unless an HTTPS proxy is in front (web.tls = true serves HTTPS)";
            "listen" => %web.listen);
    }
    let limits = &web.limits;
    info!(logger, "web client limits";
        "max_connections" => limits.max_connections,
        "max_connections_per_ip" => limits.max_connections_per_ip,
        "max_sessions" => limits.max_sessions,
        "max_sessions_per_user" => limits.max_sessions_per_user,
        "max_sessions_per_ip" => limits.max_sessions_per_ip,
        "login_attempts_per_minute" => limits.login_attempts_per_minute,
        "max_login_failures" => limits.max_login_failures,
        "trusted_proxies" => web.trusted_proxies.len(),
    );
    // The web listener shares the process's descriptors with FTP: a cap near
    // the limit would let a flood of browser connections starve FTP logins.
    let open_files = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    if let Some(open_files) = open_files
        && limits.max_connections as u64 > open_files / 2
    {
        warn!(logger, "web.max_connections is more than half the open-file limit, which the FTP listeners share: a flood of browser connections could leave FTP without descriptors; lower it or raise the limit (ulimit -n, LimitNOFILE=)";
            "max_connections" => limits.max_connections, "open_file_limit" => open_files);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use oxftp_core::auth::{AccessClass, AuthError, Credentials};

    use super::*;
    use crate::config::Overrides;

    #[test]
    fn web_defaults_to_the_bound_ftp_listener_through_loopback() {
        let settings = WebSettings::default();
        let web = web(&settings, None, &[("0.0.0.0:40021".parse().unwrap(), false)]).unwrap().0;
        assert_eq!(web.default_upstream, "127.0.0.1:40021");
        assert_eq!(web.listen, settings.listen);
        assert_eq!((web.idle_timeout, web.absolute_timeout), (settings.idle_timeout, settings.absolute_timeout));
        assert_eq!(web.max_upload_bytes, settings.max_upload);
        assert!(web.https.is_none() && web.default_upstream_cert.is_none());
        let web = super::web(&settings, None, &[("[::]:21".parse().unwrap(), false)]).unwrap().0;
        assert_eq!(web.default_upstream, "[::1]:21");
        assert!(super::web(&settings, None, &[]).is_err());
    }

    #[test]
    fn web_uses_the_configured_upstream_and_allow_list() {
        let settings = WebSettings {
            upstream: Some("ftp.example.org:21".into()),
            allowed_upstreams: vec!["other.example.org:2121".into(), "ftps://secure.example.org:990".into()],
            secure_cookies: true,
            ..WebSettings::default()
        };
        let web = web(&settings, None, &[("127.0.0.1:2121".parse().unwrap(), false)]).unwrap().0;
        assert_eq!(web.default_upstream, "ftp.example.org:21");
        assert_eq!(web.allowed_upstreams, ["other.example.org:2121", "ftps://secure.example.org:990"]);
        assert!(web.secure_cookies);
        assert!(web.default_upstream_cert.is_none(), "only this daemon's own certificate is pinned");
        assert!(matches!(web.upstream_trust, UpstreamTrust::System));
    }

    /// A `[tls]` table with a fresh self-signed certificate, and `[web]` as given.
    fn tls_config(dir: &tempfile::TempDir, server: &str, web: &str) -> Config {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
        std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        config(
            &format!(
                "[storage]\nroot = \".\"\n[server]\n{server}\n[tls]\ncert_file = \"server.pem\"\n\
                 key_file = \"server.key\"\nimplicit_listen = [\"127.0.0.1:0\"]\n[web]\n{web}"
            ),
            dir,
        )
    }

    #[test]
    fn web_logs_in_to_this_server_over_ftps_pinning_its_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let config = tls_config(&dir, "listen = [\"127.0.0.1:0\"]", "tls = true\n");
        let (settings, tls) = (config.web.as_ref().unwrap(), config.tls.as_ref());
        let bound = [("127.0.0.1:2121".parse().unwrap(), false), ("127.0.0.1:9990".parse().unwrap(), true)];
        let (web, own) = web(settings, tls, &bound).unwrap();
        assert!(own.is_none(), "web.tls = true shares [tls]'s certificate");
        assert!(web.default_upstream_cert_source.is_some(), "the pin follows reloads");
        assert_eq!(web.default_upstream, "ftpes://127.0.0.1:2121");
        let own = oxftp_web::load_certificates(&dir.path().join("server.pem")).unwrap();
        assert_eq!(web.default_upstream_cert.as_ref(), own.first(), "the pin is the daemon's own certificate");
        assert!(web.https.is_some(), "web.tls = true serves HTTPS with [tls]'s certificate");

        // Only an implicit listener: implicit FTPS to it.
        let web = super::web(settings, tls, &bound[1..]).unwrap().0;
        assert_eq!(web.default_upstream, "ftps://127.0.0.1:9990");
        // Plain FTP when asked for.
        let plain = WebSettings { upstream_tls: Some(UpstreamTls::None), ..settings.clone() };
        let web = super::web(&plain, tls, &bound).unwrap().0;
        assert_eq!(web.default_upstream, "127.0.0.1:2121");
        assert!(web.default_upstream_cert.is_none());
    }

    fn creds(user: &str, password: &str) -> Credentials {
        Credentials::new(user, password, "192.0.2.9:5000".parse().unwrap())
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
        let (auth, _) = authenticator(&config);
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
        let (auth, _) = authenticator(&config("", &dir));
        assert!(matches!(auth.authenticate(&creds("anonymous", "x")).await, Err(AuthError::UnknownUser)));
        assert!(matches!(auth.authenticate(&creds("root", "x")).await, Err(AuthError::UnknownUser)));
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

    fn config_default(dir: &tempfile::TempDir) -> Config {
        config("", dir)
    }

    #[tokio::test]
    async fn toml_users_reload_without_replacing_the_authenticator() {
        let dir = tempfile::tempdir().unwrap();
        let hash = oxftp_auth_file::hash_password("pw");
        let users = dir.path().join("users.toml");
        std::fs::write(&users, format!("[[user]]\nname = \"al\"\npassword_hash = \"{hash}\"\n")).unwrap();
        let config = config("[storage]\nroot = \".\"\n[users]\nfile = \"users.toml\"\n", &dir);
        let (auth, reload) = authenticator(&config);
        assert!(matches!(auth.authenticate(&creds("bo", "pw")).await, Err(AuthError::UnknownUser)));
        std::fs::write(
            &users,
            format!("[[user]]\nname = \"al\"\npassword_hash = \"{hash}\"\n[[user]]\nname = \"bo\"\npassword_hash = \"{hash}\"\n"),
        )
        .unwrap();
        let logger = Logger::root(slog::Discard, slog::o!());
        reload.run(&logger).await;
        assert_eq!(auth.authenticate(&creds("bo", "pw")).await.unwrap().user, "bo");
        // A broken file leaves the accounts in force.
        std::fs::write(&users, "[[user]]\nname = 1\n").unwrap();
        reload.run(&logger).await;
        assert_eq!(auth.authenticate(&creds("al", "pw")).await.unwrap().user, "al");
    }

    #[tokio::test]
    async fn json_users_reload() {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.json");
        std::fs::write(&users, r#"[{"username": "al", "password": "pw"}]"#).unwrap();
        let config = config("[storage]\nroot = \".\"\n[auth]\nbackend = \"json\"\njson_file = \"users.json\"\n", &dir);
        let (auth, reload) = authenticator(&config);
        assert_eq!(auth.authenticate(&creds("al", "pw")).await.unwrap().user, "al");
        std::fs::write(&users, r#"[{"username": "bo", "password": "pw2"}]"#).unwrap();
        reload.run(&Logger::root(slog::Discard, slog::o!())).await;
        assert_eq!(auth.authenticate(&creds("bo", "pw2")).await.unwrap().user, "bo");
        assert!(auth.authenticate(&creds("al", "pw")).await.is_err());
    }

    #[tokio::test]
    async fn object_store_homes_are_created_at_login() {
        let dir = tempfile::tempdir().unwrap();
        let hash = oxftp_auth_file::hash_password("pw");
        std::fs::write(
            dir.path().join("users.toml"),
            format!("[[user]]\nname = \"al\"\npassword_hash = \"{hash}\"\nhome = \"/homes/al\"\nclass = \"guest\"\n"),
        )
        .unwrap();
        let config = config(
            "[storage]\nbackend = \"opendal\"\nscheme = \"memory\"\n[users]\nfile = \"users.toml\"\n\
             [anonymous]\nenabled = true\nroot = \"/pub\"\nincoming = \"/in\"\n",
            &dir,
        );
        let composed = server(&config, Logger::root(slog::Discard, slog::o!())).await.unwrap();
        assert!(matches!(composed.reload, Reload::TomlUsers { .. }));

        // The factory the server uses for object stores, over its own store:
        // the engine asks it for storage only after a successful login.
        use oxftp_core::storage::Storage as _;
        let logger = Logger::root(slog::Discard, slog::o!());
        let store = object_store(&config, &logger).unwrap().expect("an object store");
        let factory = OpendalFactory::new(Arc::clone(&store));
        let (auth, _) = authenticator(&config);
        let home = oxftp_proto::path::VPath::parse(b"/homes/al").unwrap();
        assert!(store.metadata(&home).await.is_err(), "no home before the first login");
        assert!(auth.authenticate(&creds("al", "nope")).await.is_err());
        assert!(store.metadata(&home).await.is_err(), "a failed login creates nothing");
        let identity = auth.authenticate(&creds("al", "pw")).await.unwrap();
        factory.storage_for(&identity).await.unwrap();
        assert!(store.metadata(&home).await.unwrap().is_dir());
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

    #[tokio::test]
    async fn server_is_built_over_the_storage_root() {
        let dir = tempfile::tempdir().unwrap();
        let config = config("[server]\ngreeting = \"composed\"\n[storage]\nroot = \".\"\n", &dir);
        let composed = server(&config, Logger::root(slog::Discard, slog::o!())).await.unwrap();
        assert_eq!(composed.server.options().greeting, "composed");
    }
}
