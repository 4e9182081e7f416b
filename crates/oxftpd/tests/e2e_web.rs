//! End-to-end: the daemon with a `[web]` table serves the browser FTP client,
//! which logs in to the daemon's own FTP listener. Driven with reqwest, as a
//! browser would, over plain HTTP and over HTTPS (with the client then using
//! explicit FTPS to a daemon that requires TLS), checking results against the
//! tree on disk.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Daemon, DaemonConfig, PASSWORD, TlsOptions, pattern_bytes, write};

/// A daemon whose web client listens on a free loopback port.
fn daemon() -> Daemon {
    Daemon::start_with(DaemonConfig {
        web: Some("listen = \"127.0.0.1:0\"\nallowed_upstreams = [\"127.0.0.1:1\"]\n".to_string()),
        ..DaemonConfig::default()
    })
}

/// A browser-like client: keeps cookies, gives up rather than hang.
fn client() -> reqwest::Client {
    // The object store turns on reqwest's rustls without a crypto provider;
    // plain HTTP needs none, but the client refuses to build without one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().cookie_store(true).timeout(Duration::from_secs(30)).build().unwrap()
}

/// Logs `client` in as alice; returns the CSRF token.
async fn login_alice(d: &Daemon, client: &reqwest::Client) -> String {
    let r = client
        .post(format!("{}/api/login", d.web_url()))
        .json(&serde_json::json!({ "user": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "alice's web login failed");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with(&format!("{}=", oxftp_web_cookie())), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"),
        "{cookie}"
    );
    let v: serde_json::Value = r.json().await.unwrap();
    // No upstream configured: the daemon's own (port-0) FTP listener, as bound.
    assert_eq!(v["upstream"], format!("127.0.0.1:{}", d.port()));
    assert_eq!(v["user"], "alice");
    let csrf = v["csrf"].as_str().unwrap().to_string();
    assert_eq!(csrf.len(), 64);
    csrf
}

/// The session cookie's name (the daemon test does not link oxftp-web, so
/// it is spelled out; the login check above keeps it honest).
fn oxftp_web_cookie() -> &'static str {
    "oxftp_web"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_client_lists_and_downloads_alices_files() {
    let d = tokio::task::spawn_blocking(daemon).await.unwrap();
    write(d.disk("alice/hello.txt"), b"hello from disk\n");
    let big = pattern_bytes(3 * 1024 * 1024 + 17, 5);
    write(d.disk("alice/big.bin"), &big);
    let c = client();

    // The root sends a visitor without a session to the login page.
    let r = c.get(format!("{}/", d.web_url())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.url().path(), "/login");
    let page = r.text().await.unwrap();
    assert!(page.contains("action=\"/login\"") && page.contains("name=\"password\""), "{page}");
    assert!(page.contains(&format!("127.0.0.1:{}", d.port())), "the login page names the default upstream");

    // Nothing but the login works without a session.
    let r = c.get(format!("{}/api/list?path=/", d.web_url())).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let csrf = login_alice(&d, &c).await;

    // The listing is alice's home, as FTP shows it.
    let v: serde_json::Value =
        c.get(format!("{}/api/list?path=/", d.web_url())).send().await.unwrap().json().await.unwrap();
    let entries = v["entries"].as_array().unwrap();
    let mut names: Vec<&str> = entries.iter().filter_map(|e| e["name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["big.bin", "hello.txt"]);
    let hello = entries.iter().find(|e| e["name"] == "hello.txt").unwrap();
    assert_eq!((hello["size"].as_u64(), hello["kind"].as_str()), (Some(16), Some("file")));

    // Downloads stream the bytes on disk.
    let r = c.get(format!("{}/download/hello.txt", d.web_url())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(&r.bytes().await.unwrap()[..], b"hello from disk\n");
    let body = c.get(format!("{}/download/big.bin", d.web_url())).send().await.unwrap().bytes().await.unwrap();
    assert!(body[..] == big[..], "big.bin came back different ({} bytes)", body.len());

    // A change needs the CSRF token, and reaches the disk through FTP.
    let mkdir = serde_json::json!({ "path": "/made-on-the-web" });
    let r = c.post(format!("{}/api/mkdir", d.web_url())).json(&mkdir).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(!d.disk("alice/made-on-the-web").exists());
    let r =
        c.post(format!("{}/api/mkdir", d.web_url())).header("x-csrf-token", &csrf).json(&mkdir).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(d.disk("alice/made-on-the-web").is_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_client_is_not_an_open_proxy() {
    let d = tokio::task::spawn_blocking(daemon).await.unwrap();
    for host in ["192.0.2.1:21", "169.254.169.254:80", "127.0.0.1:22", "localhost"] {
        let r = client()
            .post(format!("{}/api/login", d.web_url()))
            .json(&serde_json::json!({ "host": host, "user": "alice", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "login naming {host} was not refused");
        assert!(r.headers().get("set-cookie").is_none(), "{host}");
    }
    // The daemon's own FTP port, named explicitly, is the default: allowed.
    let r = client()
        .post(format!("{}/api/login", d.web_url()))
        .json(&serde_json::json!({ "host": format!("127.0.0.1:{}", d.port()), "user": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A wrong password is the upstream's 530, not a session.
    let r = client()
        .post(format!("{}/api/login", d.web_url()))
        .json(&serde_json::json!({ "user": "alice", "password": "wrong" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_client_stops_with_the_daemon() {
    let mut d = tokio::task::spawn_blocking(daemon).await.unwrap();
    let c = client();
    login_alice(&d, &c).await;
    let web = d.web_url().trim_start_matches("http://").to_string();
    d.send_sigterm();
    let status = tokio::task::spawn_blocking(move || {
        let status = d.wait_exit(Duration::from_secs(20));
        (status, d)
    })
    .await
    .unwrap();
    let (status, _d) = status;
    let status = status.expect("oxftpd did not exit after SIGTERM with a web session open");
    assert!(status.success(), "{status:?}");
    assert!(std::net::TcpStream::connect(web).is_err(), "the web port is still open");
}

/// A cookie-keeping HTTPS client that trusts the daemon's test CA and nothing else.
fn https_client(d: &Daemon) -> reqwest::Client {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(&d.pki().ca).unwrap()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .use_preconfigured_tls(tls)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_web_client_logs_in_over_ftps_to_a_tls_only_daemon() {
    let d = tokio::task::spawn_blocking(move || {
        Daemon::start_with(DaemonConfig {
            // TLS required everywhere; data connections must resume the
            // control connection's session (the default).
            tls: Some(TlsOptions { extra: vec!["control = \"all\"".into(), "data = \"all\"".into()], implicit: false }),
            web: Some("listen = \"127.0.0.1:0\"\ntls = true\n".into()),
            ..DaemonConfig::default()
        })
    })
    .await
    .unwrap();
    let web = d.web_url().to_string();
    assert!(web.starts_with("https://"), "{web}");
    write(d.disk("alice/hello.txt"), b"hello over HTTPS and FTPS\n");
    let big = pattern_bytes(2 * 1024 * 1024 + 3, 9);
    write(d.disk("alice/big.bin"), &big);
    let c = https_client(&d);

    // The server certificate of [tls] serves HTTPS too.
    let page = c.get(format!("{web}/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("ftpes://127.0.0.1:{}", d.port())), "the login page names the FTPS upstream");

    let r = c
        .post(format!("{web}/api/login"))
        .json(&serde_json::json!({ "user": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "alice's web login over FTPS failed; daemon log:\n{}", d.log());
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure") && cookie.contains("HttpOnly"), "{cookie}");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["upstream"], format!("ftpes://127.0.0.1:{}", d.port()));
    let csrf = v["csrf"].as_str().unwrap().to_string();

    // More data connections than a TLS session has tickets: each resumes the session.
    for _ in 0..3 {
        let v: serde_json::Value = c.get(format!("{web}/api/list?path=/")).send().await.unwrap().json().await.unwrap();
        let names: Vec<&str> = v["entries"].as_array().unwrap().iter().filter_map(|e| e["name"].as_str()).collect();
        assert!(names.contains(&"hello.txt") && names.contains(&"big.bin"), "{v}");
        let r = c.get(format!("{web}/download/hello.txt")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(&r.bytes().await.unwrap()[..], b"hello over HTTPS and FTPS\n");
    }
    let body = c.get(format!("{web}/download/big.bin")).send().await.unwrap().bytes().await.unwrap();
    assert!(body[..] == big[..], "big.bin came back different ({} bytes)", body.len());

    // An upload travels over a protected data connection too.
    let r = c
        .put(format!("{web}/api/file?path=/from-the-web.txt"))
        .header("x-csrf-token", &csrf)
        .body("uploaded over FTPS")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(std::fs::read(d.disk("alice/from-the-web.txt")).unwrap(), b"uploaded over FTPS");

    // Plain HTTP to the HTTPS port gets no page.
    let plain = client().get(format!("{}/login", web.replacen("https://", "http://", 1))).send().await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
}
