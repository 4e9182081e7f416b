//! `[cluster]`: the state shared with other nodes (Redis).

use std::sync::Arc;

use oxftp_core::admission::{Degrading, SharedState};
use oxftp_redis::{RedisSettings, RedisState};
use slog::Logger;

use crate::config::ClusterSettings;

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

/// A Redis URL without its password, for logs.
pub(super) fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_string(),
    }
}
