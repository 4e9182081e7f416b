//! The server context: what every session of one server shares (options,
//! storage, authentication, admission counters, the shutdown signal).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use slog::Logger;
use tokio::sync::watch;

use crate::admission::{Bans, Counter};
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
    pub sessions: AtomicUsize,
    /// Live sessions per client address.
    pub per_ip: Counter<IpAddr>,
    /// Live logged-in sessions per account.
    pub per_user: Counter<String>,
    /// Connections per client address that have not logged in yet.
    pub prelogin: Counter<IpAddr>,
    /// TLS handshakes of control connections in progress.
    pub handshakes: Counter<()>,
    /// Shared with the bans gauge of the metrics, which reads it when scraped.
    pub bans: Arc<Bans>,
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
        let bans = Arc::new(Bans::new(options.ban.clone()));
        if let Some(metrics) = &options.metrics {
            let table = Arc::downgrade(&bans);
            metrics.add_bans_source(Box::new(move || table.upgrade().map(|bans| bans.active() as i64)));
        }
        ServerContext {
            bans,
            stack,
            options,
            auth,
            logger,
            sessions: AtomicUsize::new(0),
            per_ip: Counter::default(),
            per_user: Counter::default(),
            prelogin: Counter::default(),
            handshakes: Counter::default(),
            shutdown,
        }
    }
}
