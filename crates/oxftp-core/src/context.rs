//! The server context: what every session of one server shares (options,
//! storage, authentication, admission counters, the shutdown signal).

use std::sync::Arc;

use slog::Logger;
use tokio::sync::watch;

use crate::admission::{Admission, Counter};
use crate::auth::Authenticator;
use crate::options::Options;
use crate::policy::Stack;

/// What every session of one server shares.
#[derive(Debug)]
pub(crate) struct ServerContext {
    pub options: Options,
    /// Builds each logged-in user's storage.
    pub stack: Arc<Stack>,
    pub auth: Arc<dyn Authenticator>,
    pub logger: Logger,
    /// Session limits and bans, shared with the server's other front ends.
    pub admission: Arc<Admission>,
    /// TLS handshakes of control connections in progress.
    pub handshakes: Counter<()>,
    /// Flips to true when the server shuts down; sessions close once idle.
    pub shutdown: watch::Receiver<bool>,
}

impl ServerContext {
    pub(crate) fn new(
        options: Options,
        stack: Arc<Stack>,
        auth: Arc<dyn Authenticator>,
        admission: Arc<Admission>,
        logger: Logger,
        shutdown: watch::Receiver<bool>,
    ) -> ServerContext {
        if let Some(metrics) = &options.metrics {
            let door = Arc::downgrade(&admission);
            metrics.add_bans_source(Box::new(move || door.upgrade().map(|door| door.bans_active() as i64)));
        }
        ServerContext { stack, options, auth, admission, handshakes: Counter::default(), logger, shutdown }
    }
}
