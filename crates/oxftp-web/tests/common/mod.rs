//! Test harness: an in-process oxftp upstream on loopback and the gateway in
//! front of it, over plain FTP or FTPS, served over HTTP or HTTPS.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use oxftp_core::auth::{AccessClass, AuthError, Authenticator, Credentials, Identity};
use oxftp_core::policy::AnonymousLogin;
use oxftp_core::tls::{TlsConfig, TlsRequirement};
use oxftp_core::{Listener, Options, Server};
use oxftp_fs::LocalFsFactory;
use oxftp_proto::path::VPath;
use oxftp_web::{UpstreamTls, WebConfig, WebServer};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls_pki_types::CertificateDer;
use tokio::sync::oneshot;

/// Test certificates, made fresh by rcgen: a CA and a server certificate it
/// signed for localhost and 127.0.0.1, as PEM files and DER.
pub struct Pki {
    pub dir: tempfile::TempDir,
    /// The CA certificate.
    pub ca: CertificateDer<'static>,
    /// The server's end-entity certificate.
    pub leaf: CertificateDer<'static>,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_key = KeyPair::generate().expect("key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "oxftp-web test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("key");
        let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("params")
            .signed_by(&key, &issuer)
            .expect("leaf");
        std::fs::write(dir.path().join("server.pem"), leaf.pem() + &ca.pem()).expect("write");
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).expect("write");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write");
        Pki { ca: ca.der().clone(), leaf: leaf.der().clone(), dir }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An HTTPS client trusting this CA and nothing else.
    pub fn https_client(&self) -> reqwest::ClientBuilder {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).expect("CA");
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        reqwest::Client::builder().use_preconfigured_tls(tls)
    }

    /// A certificate nobody uses, for pins and trust stores that must not match.
    pub fn stranger() -> CertificateDer<'static> {
        let key = KeyPair::generate().expect("key");
        CertificateParams::new(vec!["localhost".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert")
            .der()
            .clone()
    }
}

/// How a test environment is set up.
pub struct Setup {
    /// Protection of the upstream FTP server (`None`: plain FTP). With TLS the
    /// server requires it on control and data connections, with session reuse.
    pub upstream: UpstreamTls,
    /// Serve the gateway over HTTPS.
    pub https: bool,
}

/// `alice`/`secret` (home /alice) and `bob`/`secret` (home /alice, at most
/// one FTP session at a time); anonymous sees /pub. Counts the password
/// checks it is asked for.
#[derive(Debug, Default)]
pub struct Accounts {
    pub checks: Arc<AtomicUsize>,
}

#[async_trait]
impl Authenticator for Accounts {
    async fn authenticate(&self, c: &Credentials) -> Result<Identity, AuthError> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        if c.user != "alice" && c.user != "bob" {
            return Err(AuthError::UnknownUser);
        }
        if c.password != "secret" {
            return Err(AuthError::BadPassword);
        }
        let mut id = Identity::new(c.user.clone(), AccessClass::User);
        id.home = VPath::parse(b"/alice").map_err(|e| AuthError::Backend(e.to_string()))?;
        id.root = id.home.clone();
        if c.user == "bob" {
            id.limits.max_sessions = Some(1);
        }
        Ok(id)
    }
}

/// An upstream FTP server plus a gateway, both on ephemeral loopback ports.
pub struct Env {
    pub ftp_addr: SocketAddr,
    pub web: String,
    pub dir: tempfile::TempDir,
    pub server: WebServer,
    /// The certificates, when the upstream or the gateway uses TLS.
    pub pki: Option<Pki>,
    /// How many password checks (anonymous ones aside) reached the upstream.
    pub password_checks: Arc<AtomicUsize>,
    stops: Vec<oneshot::Sender<()>>,
}

impl Env {
    pub async fn start() -> Env {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut WebConfig)) -> Env {
        Self::start_tls(Setup { upstream: UpstreamTls::None, https: false }, |c, _| tweak(c)).await
    }

    /// An environment with TLS where `setup` says. The gateway pins the
    /// upstream's certificate unless `tweak` says otherwise, and serves
    /// HTTPS with the same certificate.
    pub async fn start_tls(setup: Setup, tweak: impl FnOnce(&mut WebConfig, &Pki)) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["alice", "pub"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let pki = Pki::new();
        let storage = Arc::new(LocalFsFactory::new(dir.path()).expect("storage"));
        let accounts = Accounts::default();
        let password_checks = accounts.checks.clone();
        let auth = Arc::new(AnonymousLogin::new(Some(Arc::new(accounts)), VPath::parse(b"/pub").expect("vpath"), None));
        let mut options = Options::default();
        options.failed_login_delay = Duration::from_millis(10);
        if setup.upstream != UpstreamTls::None {
            let mut tls = TlsConfig::new(pki.file("server.pem"), pki.file("server.key"));
            tls.control = TlsRequirement::All;
            tls.data = TlsRequirement::All;
            tls.require_session_reuse = oxftp_core::tls::SessionReuse::Connection;
            options.tls = Some(tls.build().expect("server TLS"));
        }
        let ftp = Server::new(storage, auth).with_options(options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let ftp_addr = listener.local_addr().expect("addr");
        let (stop_ftp, stopped_ftp) = oneshot::channel::<()>();
        let implicit_tls = setup.upstream == UpstreamTls::Implicit;
        tokio::spawn(async move {
            let listener = if implicit_tls { Listener::implicit_tls(listener) } else { Listener::new(listener) };
            let listeners = vec![listener];
            let _ = ftp
                .run_listeners(listeners, async {
                    let _ = stopped_ftp.await;
                })
                .await;
        });

        let default_upstream = match setup.upstream {
            UpstreamTls::None => ftp_addr.to_string(),
            tls => format!("{}://{ftp_addr}", tls.scheme()),
        };
        let mut config = WebConfig { default_upstream, ..WebConfig::default() };
        if setup.upstream != UpstreamTls::None {
            config.default_upstream_cert = Some(pki.leaf.clone());
        }
        if setup.https {
            config.https =
                Some(oxftp_web::https_config(&pki.file("server.pem"), &pki.file("server.key")).expect("https"));
        }
        tweak(&mut config, &pki);
        let server = WebServer::new(config);
        let web_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let scheme = if setup.https { "https" } else { "http" };
        let web = format!("{scheme}://{}", web_listener.local_addr().expect("addr"));
        let (stop_web, stopped_web) = oneshot::channel::<()>();
        let s = server.clone();
        tokio::spawn(async move {
            let _ = s
                .serve(web_listener, async {
                    let _ = stopped_web.await;
                })
                .await;
        });
        let pki = (setup.upstream != UpstreamTls::None || setup.https).then_some(pki);
        Env { ftp_addr, web, dir, server, pki, password_checks, stops: vec![stop_ftp, stop_web] }
    }

    /// Another gateway in front of the same upstream (plain FTP and HTTP),
    /// as after a restart: `tweak` sets its config. Stops with the Env.
    pub async fn another_gateway(&mut self, tweak: impl FnOnce(&mut WebConfig)) -> String {
        let mut config = WebConfig { default_upstream: self.ftp_addr.to_string(), ..WebConfig::default() };
        tweak(&mut config);
        let server = WebServer::new(config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let web = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = server
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await;
        });
        self.stops.push(stop);
        web
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

    /// A cookie-keeping client for this environment: over HTTPS it trusts
    /// the test CA (and nothing else).
    pub fn browser(&self) -> reqwest::Client {
        let Some(pki) = self.pki.as_ref().filter(|_| self.web.starts_with("https://")) else {
            return Self::client();
        };
        pki.https_client().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client")
    }

    /// POST alice's credentials to `/api/login` with client `c`, whatever the answer.
    pub async fn post_login(&self, c: &reqwest::Client) -> reqwest::Response {
        c.post(self.url("/api/login"))
            .json(&serde_json::json!({ "user": "alice", "password": "secret" }))
            .send()
            .await
            .expect("login request")
    }

    /// Log in as alice; returns the client and the CSRF token.
    pub async fn login(&self) -> (reqwest::Client, String) {
        let c = self.browser();
        let r = self.post_login(&c).await;
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

/// Read a ZIP archive whole: (name, content) of each entry, in order.
// async_zip 0.0.19 marks its readers deprecated for a `read1` module it does not have yet.
#[allow(deprecated)]
pub async fn unzip(bytes: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    use futures::AsyncReadExt;
    let mut reader =
        async_zip::base::read::seek::ZipFileReader::new(futures::io::Cursor::new(bytes)).await.expect("a ZIP archive");
    let mut out = Vec::new();
    for i in 0..reader.file().entries().len() {
        let name = reader.file().entries()[i].filename().as_str().expect("UTF-8 name").to_string();
        let mut data = Vec::new();
        reader.reader_with_entry(i).await.expect("entry").read_to_end(&mut data).await.expect("read");
        out.push((name, data));
    }
    out
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
