//! oxftp-web: a web-based FTP client, an HTTP file manager in front of an FTP server.
//!
//! The gateway is a *client* of the FTP protocol: each browser session logs in
//! to an upstream FTP server (by default the local oxftp daemon) and every
//! page or API call becomes FTP commands on a small per-session pool of
//! connections. Downloads and uploads are streamed through, never buffered.
//!
//! Security model, in short:
//! - the upstream is the configured default or one on an allow-list, checked
//!   before any connection is made (never an open proxy);
//! - FTP credentials stay on the server; the browser holds only a random
//!   session id in an HttpOnly, SameSite=Strict cookie;
//! - every state-changing request needs the session's CSRF token;
//! - paths with `.`/`..` segments are refused; names are HTML-escaped;
//! - user files are served with `Content-Security-Policy: sandbox` and
//!   `nosniff`; the app's pages allow only their own script and style files.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use oxftp_web::{WebConfig, WebServer};
//! let config = WebConfig { default_upstream: "127.0.0.1:21".into(), ..WebConfig::default() };
//! let listener = tokio::net::TcpListener::bind(config.listen).await?;
//! WebServer::new(config).serve(listener, std::future::pending()).await
//! # }
//! ```

mod config;
mod error;
mod html;
mod listing;
mod mime;
mod ops;
mod paths;
mod pool;
mod routes;
mod session;
mod transfer;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use config::{WebConfig, normalize_upstream};
pub use error::WebError;
pub use routes::CSRF_HEADER;
pub use session::COOKIE;

use routes::AppState;
use session::Sessions;

/// The web gateway: build it from a [`WebConfig`], then [`serve`](Self::serve)
/// it on a listener or mount [`router`](Self::router) into a larger app.
#[derive(Debug, Clone)]
pub struct WebServer {
    state: Arc<AppState>,
}

impl WebServer {
    /// A gateway with `config`; nothing is bound or connected yet.
    pub fn new(config: WebConfig) -> Self {
        let upstreams = config::Upstreams::new(&config);
        let sessions = Sessions::new(config.idle_timeout, config.absolute_timeout, config.max_sessions);
        WebServer { state: Arc::new(AppState { config, upstreams, sessions }) }
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

    /// Serve HTTP on `listener` until `shutdown` resolves, sweeping expired
    /// sessions in the background; all sessions are closed on the way out.
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
        let result = axum::serve(listener, self.router()).with_graceful_shutdown(shutdown).await;
        sweeper.abort();
        state.sessions.clear();
        result
    }
}
