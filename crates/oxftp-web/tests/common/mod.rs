//! Test harness: an in-process oxftp upstream on loopback and the gateway in front of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use oxftp_core::auth::{AccessClass, AuthError, Authenticator, Credentials, Identity};
use oxftp_core::policy::AnonymousLogin;
use oxftp_core::{Options, Server};
use oxftp_fs::LocalFsFactory;
use oxftp_proto::path::VPath;
use oxftp_web::{WebConfig, WebServer};
use tokio::sync::oneshot;

/// `alice`/`secret` (home /alice); anonymous sees /pub.
#[derive(Debug)]
pub struct Accounts;

#[async_trait]
impl Authenticator for Accounts {
    async fn authenticate(&self, c: &Credentials) -> Result<Identity, AuthError> {
        if c.user != "alice" {
            return Err(AuthError::UnknownUser);
        }
        if c.password != "secret" {
            return Err(AuthError::BadPassword);
        }
        let mut id = Identity::new(c.user.clone(), AccessClass::User);
        id.home = VPath::parse(b"/alice").map_err(|e| AuthError::Backend(e.to_string()))?;
        Ok(id)
    }
}

/// An upstream FTP server plus a gateway, both on ephemeral loopback ports.
pub struct Env {
    pub ftp_addr: SocketAddr,
    pub web: String,
    pub dir: tempfile::TempDir,
    pub server: WebServer,
    stops: Vec<oneshot::Sender<()>>,
}

impl Env {
    pub async fn start() -> Env {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut WebConfig)) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["alice", "pub"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let storage = Arc::new(LocalFsFactory::new(dir.path()).expect("storage"));
        let auth = Arc::new(AnonymousLogin::new(Some(Arc::new(Accounts)), VPath::parse(b"/pub").expect("vpath"), None));
        let options = Options { failed_login_delay: Duration::from_millis(10), ..Options::default() };
        let ftp = Server::new(storage, auth).with_options(options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let ftp_addr = listener.local_addr().expect("addr");
        let (stop_ftp, stopped_ftp) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = ftp
                .run(vec![listener], async {
                    let _ = stopped_ftp.await;
                })
                .await;
        });

        let mut config = WebConfig { default_upstream: ftp_addr.to_string(), ..WebConfig::default() };
        tweak(&mut config);
        let server = WebServer::new(config);
        let web_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let web = format!("http://{}", web_listener.local_addr().expect("addr"));
        let (stop_web, stopped_web) = oneshot::channel::<()>();
        let s = server.clone();
        tokio::spawn(async move {
            let _ = s
                .serve(web_listener, async {
                    let _ = stopped_web.await;
                })
                .await;
        });
        Env { ftp_addr, web, dir, server, stops: vec![stop_ftp, stop_web] }
    }

    /// Path on the upstream's disk under alice's home.
    pub fn alice(&self, rel: &str) -> PathBuf {
        self.dir.path().join("alice").join(rel)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.web, path)
    }

    /// A cookie-keeping client (no redirects followed, so tests see them).
    pub fn client() -> reqwest::Client {
        // In a whole-workspace build, cargo unifies reqwest's features with the
        // object-store backend's, which selects no rustls crypto provider; pick
        // ring (the one the whole project uses) before building a client.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// Log in as alice; returns the client and the CSRF token.
    pub async fn login(&self) -> (reqwest::Client, String) {
        let c = Self::client();
        let r = c
            .post(self.url("/api/login"))
            .json(&serde_json::json!({ "user": "alice", "password": "secret" }))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 200, "login");
        let v: serde_json::Value = r.json().await.expect("json");
        let csrf = v["csrf"].as_str().expect("csrf").to_string();
        (c, csrf)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for s in self.stops.drain(..) {
            let _ = s.send(());
        }
    }
}

/// Send a raw HTTP/1.1 GET (no client-side URL normalisation) and return the status code.
pub async fn raw_get(web: &str, target: &str, cookie: Option<&str>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = web.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    let req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf);
    text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}
