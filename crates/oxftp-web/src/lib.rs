//! oxftp-web: a web-based FTP client, an HTTP file manager in front of an FTP server.
//!
//! The gateway is a *client* of the FTP protocol: each browser session logs in
//! to an upstream FTP server (by default the local oxftp daemon) and every
//! page or API call becomes FTP commands on a small per-session pool of
//! connections. Downloads and uploads are streamed through, never buffered.
//!
//! Security model, in short:
//! - the upstream is the configured default or one on an allow-list, checked
//!   before any connection is made (never an open proxy); each upstream's
//!   protection (plain FTP, explicit or implicit FTPS) is the operator's
//!   choice, never the login's;
//! - FTPS upstreams' certificates are always checked: against CA certificates,
//!   or, for the default upstream, against the one certificate it is known to
//!   have (see [`WebConfig::default_upstream_cert`]);
//! - FTP credentials stay on the server; the browser holds only a random
//!   session id in an HttpOnly, SameSite=Strict cookie (and `Secure` under
//!   HTTPS);
//! - every state-changing request needs the session's CSRF token;
//! - paths with `.`/`..` segments are refused; names are HTML-escaped;
//! - user files are served with `Content-Security-Policy: sandbox` and
//!   `nosniff`; the app's pages allow only their own script and style files.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::path::Path;
//! use oxftp_web::{WebConfig, WebServer, https_config};
//! let config = WebConfig {
//!     default_upstream: "ftpes://127.0.0.1:21".into(),
//!     https: Some(https_config(Path::new("web.pem"), Path::new("web.key"))?),
//!     ..WebConfig::default()
//! };
//! let listener = tokio::net::TcpListener::bind(config.listen).await?;
//! WebServer::new(config).serve(listener, std::future::pending()).await?;
//! # Ok(())
//! # }
//! ```

mod config;
mod error;
mod ftps;
mod html;
mod https;
mod listing;
mod mime;
mod ops;
mod paths;
mod pool;
mod routes;
mod session;
mod tls;
mod transfer;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use slog::Logger;

pub use config::{CertificateSource, Upstream, UpstreamTls, WebConfig, normalize_upstream};
pub use error::WebError;
pub use ftps::UpstreamTrust;
pub use routes::CSRF_HEADER;
pub use session::COOKIE;
pub use tls::{TlsSetupError, https_config, load_certificates};

use ftps::ClientTls;
use routes::AppState;
use session::Sessions;

/// The web gateway: build it from a [`WebConfig`], then [`serve`](Self::serve)
/// it on a listener or mount [`router`](Self::router) into a larger app.
#[derive(Debug, Clone)]
pub struct WebServer {
    state: Arc<AppState>,
    logger: Logger,
}

impl WebServer {
    /// A gateway with `config`; nothing is bound or connected yet. Under
    /// HTTPS the session cookie is always `Secure`. The TLS client setups for
    /// FTPS upstreams are built here; when one cannot be (no usable CA
    /// certificate), logins to those upstreams fail with the reason, which
    /// [`upstream_tls_problem`](Self::upstream_tls_problem) also reports.
    pub fn new(mut config: WebConfig) -> Self {
        if config.https.is_some() {
            config.secure_cookies = true;
        }
        let upstreams = config::Upstreams::new(&config);
        let client_tls = ClientTls::new(&config, &upstreams);
        let sessions = Sessions::new(config.idle_timeout, config.absolute_timeout, config.max_sessions);
        WebServer {
            state: Arc::new(AppState { config, upstreams, client_tls, sessions }),
            logger: Logger::root(slog::Discard, slog::o!()),
        }
    }

    /// Log to `logger` (failed HTTPS handshakes at debug, accept errors);
    /// nothing is logged without one.
    pub fn with_logger(mut self, logger: Logger) -> Self {
        self.logger = logger;
        self
    }

    /// Why FTPS upstreams checked against CA certificates cannot be reached,
    /// if they cannot (for a start-up warning). `None` when all is well or
    /// no such upstream is configured.
    pub fn upstream_tls_problem(&self) -> Option<&str> {
        let needed = self.state.upstreams.all().any(|u| {
            u.tls() != UpstreamTls::None
                && !(self.state.upstreams.is_default(u) && self.state.config.default_upstream_cert.is_some())
        });
        self.state.client_tls.roots_problem().filter(|_| needed)
    }

    /// The HTTP routes. Expired sessions are closed when next used; call
    /// [`sweep`](Self::sweep) now and then (as [`serve`](Self::serve) does) to
    /// close the ones nobody comes back for.
    pub fn router(&self) -> axum::Router {
        routes::router(self.state.clone())
    }

    /// Close expired sessions and their FTP connections.
    pub fn sweep(&self) {
        self.state.sessions.sweep();
    }

    /// Number of live sessions (expired ones count until swept or used).
    pub fn session_count(&self) -> usize {
        self.state.sessions.len()
    }

    /// Serve on `listener` until `shutdown` resolves, sweeping expired
    /// sessions in the background; all sessions are closed on the way out.
    /// HTTPS when the config has [`https`](WebConfig::https), plain HTTP otherwise.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let period = (state.config.idle_timeout / 2).clamp(Duration::from_millis(100), Duration::from_secs(30));
        let sweeper = tokio::spawn({
            let state = state.clone();
            async move {
                let mut tick = tokio::time::interval(period);
                loop {
                    tick.tick().await;
                    state.sessions.sweep();
                }
            }
        });
        let router = self.router();
        let result = match &state.config.https {
            Some(tls) => {
                let listener = https::TlsListener::new(
                    listener,
                    tls.clone(),
                    state.config.tls_handshake_timeout,
                    self.logger.clone(),
                )?;
                axum::serve(listener, router).with_graceful_shutdown(shutdown).await
            }
            None => axum::serve(listener, router).with_graceful_shutdown(shutdown).await,
        };
        sweeper.abort();
        state.sessions.clear();
        result
    }
}
