//! The server context: what every session of one server shares (options,
//! storage, authentication, admission counters, the shutdown signal).

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use slog::Logger;
use tokio::sync::watch;

use crate::admission::{LocalState, SharedState};
use crate::auth::Authenticator;
use crate::options::Options;
use crate::passive::PassivePorts;
use crate::policy::Stack;

/// What every session of one server shares.
#[derive(Debug)]
pub(crate) struct ServerContext {
    pub options: Options,
    /// Builds each logged-in user's storage.
    pub stack: Arc<Stack>,
    pub auth: Arc<dyn Authenticator>,
    pub logger: Logger,
    pub sessions: AtomicUsize,
    /// Failed-login bans and live sessions per client address and per
    /// account: this process's own, or shared with other nodes.
    pub state: Arc<dyn SharedState>,
    /// The passive ports sessions wait on for data connections.
    pub passive: PassivePorts,
    /// Flips to true when the server shuts down; sessions close once idle.
    pub shutdown: watch::Receiver<bool>,
}

impl ServerContext {
    pub(crate) fn new(
        options: Options,
        stack: Arc<Stack>,
        auth: Arc<dyn Authenticator>,
        logger: Logger,
        shutdown: watch::Receiver<bool>,
    ) -> ServerContext {
        let proxy = options.passive_proxy_protocol.then(|| options.proxy_protocol.clone());
        let passive_logger = logger.new(slog::o!("component" => "passive"));
        let state = match &options.shared_state {
            Some(state) => Arc::clone(state),
            None => Arc::new(LocalState::new()) as Arc<dyn SharedState>,
        };
        if let Some(metrics) = &options.metrics {
            let state = Arc::downgrade(&state);
            metrics.add_bans_source(Box::new(move || {
                state.upgrade().and_then(|state| state.bans_active()).map(|n| n as i64)
            }));
        }
        ServerContext {
            state,
            passive: PassivePorts::new(options.passive_ports, proxy, passive_logger),
            stack,
            options,
            auth,
            logger,
            sessions: AtomicUsize::new(0),
            shutdown,
        }
    }
}
