//! From a validated [`Config`] to an engine [`Server`]: which storage, which
//! authenticators stacked how, which options.
//!
//! This is the only place that knows both the config file's vocabulary and
//! the engine's, so adding a config key means touching `config` (parse and
//! check it) and `compose` (hand it to the engine) and nothing else. Each job
//! has its file: `options` (engine options, listeners, passive addresses),
//! `storage` (the storage factory), `auth` (who may log in, SIGHUP reloads),
//! `web`, `sftp`, `cluster` (shared state), `ops` (hooks) and `describe`
//! (what is logged at start); [`server`] here puts them together.

use std::sync::Arc;

use oxftp_core::metrics::Metrics;
use oxftp_core::metrics::prometheus_client::registry::Registry;
use oxftp_core::policy::Stack;
use oxftp_core::server::Server;
use slog::{Logger, info};

use crate::config::Config;

mod auth;
mod cluster;
mod describe;
mod ops;
mod options;
mod sftp;
mod storage;
mod web;

use cluster::redacted;
use describe::describe;
use sftp::sftp_options;

pub use auth::{Reload, authenticator};
pub use cluster::cluster_state;
pub use ops::start_hooks;
pub use options::{listener, options, resolve_names};
pub use storage::check_storage;
pub use web::{reachable, web};

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
    let storage = storage::factory(config, &logger).await?;
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

#[cfg(test)]
mod tests {
    use oxftp_core::auth::Credentials;
    use oxftp_core::storage::StorageFactory;
    use oxftp_opendal::OpendalFactory;

    use super::storage::object_store;
    use super::*;
    use crate::config::Overrides;

    pub(super) fn creds(user: &str, password: &str) -> Credentials {
        Credentials::new(user, password, "192.0.2.9:5000".parse().unwrap())
    }

    pub(super) fn config(text: &str, dir: &tempfile::TempDir) -> Config {
        Config::from_toml(text, dir.path(), &Overrides::default()).unwrap()
    }

    pub(super) fn config_default(dir: &tempfile::TempDir) -> Config {
        config("", dir)
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

    #[tokio::test]
    async fn server_is_built_over_the_storage_root() {
        let dir = tempfile::tempdir().unwrap();
        let config = config("[server]\ngreeting = \"composed\"\n[storage]\nroot = \".\"\n", &dir);
        let composed = server(&config, Logger::root(slog::Discard, slog::o!())).await.unwrap();
        assert_eq!(composed.server.options().greeting, "composed");
    }
}
