//! `[hooks]` and `[[hook]]`: event hooks, started after the privilege drop,
//! their counters in the metrics registry of `[admin]`.

use std::sync::Arc;

use anyhow::Context as _;
use oxftp_core::metrics::PREFIX;
use oxftp_core::metrics::prometheus_client::registry::Registry;
use oxftp_core::server::Server;
use oxftp_hooks::Hooks;
use slog::{Logger, info};

use crate::config::HooksSettings;

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
