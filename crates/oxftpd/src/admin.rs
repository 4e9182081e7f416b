//! The admin listener (`[admin]`): a small HTTP/1 server for monitoring.
//!
//! - `GET /metrics`: every metric in the Prometheus text format, encoded by
//!   prometheus-client from the one registry the engine, the hooks and the
//!   web client record into.
//! - `GET /healthz`: 200 while the process serves requests at all.
//! - `GET /readyz`: 200 when the storage answers (the local root can be
//!   listed, the bucket answers a one-key LIST), 503 otherwise and once a
//!   shutdown has begun, so a load balancer drains the node. The answer is
//!   kept for [`READY_TTL`] and probes that arrive meanwhile share it:
//!   probes cannot hammer an object store.
//!
//! It has no authentication: keep it on loopback or a private network (a
//! wildcard address is warned about at start-up). Bounded like the web
//! client's listener: at most [`MAX_CONNECTIONS`] connections, a request
//! head must arrive within [`HEADER_TIMEOUT`], only GET and HEAD.

mod web_metrics;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use oxftp_core::metrics::prometheus_client::encoding::text::encode;
use oxftp_core::metrics::prometheus_client::registry::Registry;
use oxftp_core::policy::Stack;
use slog::{Logger, debug, info, warn};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Semaphore, watch};

pub use web_metrics::WebCollector;

/// How long a readiness answer is reused.
pub const READY_TTL: Duration = Duration::from_secs(2);

/// How long one storage check may take before it counts as a failure.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections served at once; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 32;

/// A request head must arrive within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the storage answers, asked at most once per [`READY_TTL`].
pub struct Readiness {
    stack: Arc<Stack>,
    /// The last answer and when it was found; the lock also makes probes
    /// that arrive during a check wait for it rather than start their own.
    last: Mutex<Option<(Instant, Result<(), String>)>>,
    logger: Logger,
}

impl Readiness {
    /// Readiness of the storage under `stack`.
    pub fn new(stack: Arc<Stack>, logger: Logger) -> Readiness {
        Readiness { stack, last: Mutex::new(None), logger }
    }

    /// Whether the storage answers; why not otherwise. Logs each change.
    pub async fn check(&self) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = last.as_ref()
            && at.elapsed() < READY_TTL
        {
            return answer.clone();
        }
        let answer = match tokio::time::timeout(CHECK_TIMEOUT, self.stack.check()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.message),
            Err(_) => Err(format!("the storage did not answer within {} s", CHECK_TIMEOUT.as_secs())),
        };
        let was_ready = last.as_ref().map(|(_, a)| a.is_ok());
        match (&answer, was_ready) {
            (Err(why), Some(true) | None) => {
                warn!(self.logger, "not ready: the storage does not answer"; "reason" => why)
            }
            (Ok(()), Some(false)) => info!(self.logger, "ready: the storage answers again"),
            _ => {}
        }
        *last = Some((Instant::now(), answer.clone()));
        answer
    }
}

/// What the admin listener serves.
pub struct Admin {
    /// Complete before serving starts (metrics register at start-up only).
    pub registry: Registry,
    pub readiness: Readiness,
    /// True once the daemon is shutting down (`/readyz` then says 503).
    pub stopping: watch::Receiver<bool>,
    pub logger: Logger,
}

/// Serves `admin` on `listener` until `stop` resolves.
pub async fn serve(admin: Admin, listener: TcpListener, stop: impl std::future::Future<Output = ()>) {
    let admin = Arc::new(admin);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).keep_alive(true);
    let http = Arc::new(http);
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            _ = &mut stop => return,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    debug!(admin.logger, "admin: accept failed"; "error" => %e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (admin, http) = (Arc::clone(&admin), Arc::clone(&http));
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(|req| {
                let admin = Arc::clone(&admin);
                async move { Ok::<_, Infallible>(respond(&admin, req).await) }
            });
            if let Err(e) = http.serve_connection(TokioIo::new(stream), service).await {
                debug!(admin.logger, "admin: connection ended"; "peer" => %peer, "error" => %e);
            }
        });
    }
}

/// The answer to one request.
async fn respond(admin: &Admin, req: Request<Incoming>) -> Response<String> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
        response.headers_mut().insert(hyper::header::ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match req.uri().path() {
        "/metrics" => {
            let mut body = String::new();
            match encode(&mut body, &admin.registry) {
                Ok(()) => {
                    let mut response = text(StatusCode::OK, body);
                    response.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static(
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        ),
                    );
                    response
                }
                Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the metrics\n".into()),
            }
        }
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => {
            if *admin.stopping.borrow() {
                return text(StatusCode::SERVICE_UNAVAILABLE, "not ready: shutting down\n".into());
            }
            match admin.readiness.check().await {
                Ok(()) => text(StatusCode::OK, "ready\n".into()),
                Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
            }
        }
        _ => text(StatusCode::NOT_FOUND, "not found: try /metrics, /healthz or /readyz\n".into()),
    }
}

/// A plain-text response that is never cached.
fn text(status: StatusCode, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-store"));
    response
}
