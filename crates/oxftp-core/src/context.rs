//! The server context: what every session of one server shares (options,
//! storage, authentication, the admission door, passive ports, the shutdown
//! signal).

use std::sync::Arc;

use slog::Logger;
use tokio::sync::watch;

use crate::admission::{Admission, Counter};
use crate::auth::Authenticator;
use crate::options::Options;
use crate::passive::PassivePorts;
use crate::policy::Stack;

/// What every session of one server shares.
pub(crate) struct ServerContext {
    pub options: Options,
    pub stack: Arc<Stack>,
    pub auth: Arc<dyn Authenticator>,
    pub logger: Logger,
    /// Session limits and bans (this process's own, or shared with other
    /// nodes), shared with the server's other front ends.
    pub admission: Arc<Admission>,
    /// The passive ports sessions wait on for data connections.
    pub passive: PassivePorts,
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
        let proxy = options.passive_proxy_protocol.then(|| options.proxy_protocol.clone());
        let passive_logger = logger.new(slog::o!("component" => "passive"));
        if let Some(metrics) = &options.metrics {
            let door = Arc::downgrade(&admission);
            metrics.add_bans_source(Box::new(move || door.upgrade().map(|door| door.bans_active() as i64)));
        }
        ServerContext {
            passive: PassivePorts::new(options.passive_ports, proxy, passive_logger),
            stack,
            options,
            auth,
            admission,
            handshakes: Counter::default(),
            logger,
            shutdown,
        }
    }
}
