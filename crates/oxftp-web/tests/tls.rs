//! The gateway with TLS on either side, over real loopback sockets: FTPS to an
//! in-process oxftp upstream that requires TLS on control and data connections
//! (and TLS session reuse on data connections), and HTTPS towards the browser.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Env, Pki, Setup};
use oxftp_web::{CSRF_HEADER, UpstreamTls, UpstreamTrust};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn ftps(upstream: UpstreamTls) -> Setup {
    Setup { upstream, https: false }
}

/// Everything a session does, through an FTPS upstream: more transfers than
/// a connection has TLS 1.3 tickets, so each data connection must resume
/// the control connection's session again and again.
async fn file_round_trips(env: &Env) {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(env.alice("big.bin"), &data).unwrap();
    let (c, csrf) = env.login().await;

    for round in 0..4 {
        let v: serde_json::Value = c.get(env.url("/api/list?path=/")).send().await.unwrap().json().await.unwrap();
        let names: Vec<_> = v["entries"]
            .as_array()
            .unwrap_or_else(|| panic!("round {round}: {v}"))
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        assert!(names.contains(&"big.bin"), "round {round}: {v}");
        let r = c.get(env.url("/download/big.bin")).send().await.unwrap();
        assert_eq!(r.status(), 200, "round {round}");
        assert!(r.bytes().await.unwrap()[..] == data[..], "round {round}: download differs");
    }

    // A range ends the transfer early (ABOR); the connection stays usable.
    let r = c.get(env.url("/download/big.bin")).header("range", "bytes=1000-1999").send().await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(&r.bytes().await.unwrap()[..], &data[1000..2000]);

    // Uploads: raw body and multipart.
    let r = c.put(env.url("/api/file?path=/up.txt")).header(CSRF_HEADER, &csrf).body("over FTPS").send().await.unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(std::fs::read(env.alice("up.txt")).unwrap(), b"over FTPS");
    let form =
        reqwest::multipart::Form::new().part("f", reqwest::multipart::Part::bytes(data.clone()).file_name("multi.bin"));
    let r = c.post(env.url("/api/upload?dir=/")).header(CSRF_HEADER, &csrf).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert!(std::fs::read(env.alice("multi.bin")).unwrap() == data);

    // Copy: two control connections, each with its own TLS session.
    let r = c
        .post(env.url("/api/copy"))
        .header(CSRF_HEADER, &csrf)
        .json(&serde_json::json!({ "from": "/big.bin", "to": "/copy.bin" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert!(std::fs::read(env.alice("copy.bin")).unwrap() == data);
    let r = c.get(env.url("/download/up.txt")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "over FTPS");
}

#[tokio::test]
async fn explicit_ftps_upstream_with_a_pinned_certificate() {
    let env = Env::start_tls(ftps(UpstreamTls::Explicit), |_, _| {}).await;
    let r = Env::client()
        .post(env.url("/api/login"))
        .json(&serde_json::json!({ "user": "alice", "password": "wrong" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a wrong password is still the upstream's 530");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["ftp_code"], 530);

    let (c, _) = env.login().await;
    let v: serde_json::Value = c.get(env.url("/api/session")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["upstream"], format!("ftpes://{}", env.ftp_addr));
    file_round_trips(&env).await;
}

#[tokio::test]
async fn implicit_ftps_upstream_checked_against_a_ca() {
    let env = Env::start_tls(ftps(UpstreamTls::Implicit), |c, pki| {
        c.default_upstream_cert = None;
        c.upstream_trust = UpstreamTrust::Roots(vec![pki.ca.clone()]);
    })
    .await;
    file_round_trips(&env).await;
}

#[tokio::test]
async fn tls_1_3_upstreams_work_when_allowed() {
    // TLS 1.3 tickets are single-use: fine for a few transfers per connection.
    let env = Env::start_tls(ftps(UpstreamTls::Explicit), |c, _| c.upstream_tls13 = true).await;
    std::fs::write(env.alice("a.txt"), b"1.3").unwrap();
    let (c, _) = env.login().await;
    let r = c.get(env.url("/download/a.txt")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "1.3");
}

/// Log in and expect the gateway to refuse with a TLS error naming `words`.
async fn login_refused(env: &Env, words: &str) {
    let r = env.post_login(&Env::client()).await;
    assert_eq!(r.status(), 502);
    assert!(r.headers().get("set-cookie").is_none());
    let v: serde_json::Value = r.json().await.unwrap();
    let error = v["error"].as_str().unwrap();
    assert!(error.contains("TLS with the server failed") && error.contains(words), "{error}");
    assert_eq!(env.server.session_count(), 0);
}

#[tokio::test]
async fn a_wrong_pinned_certificate_refuses_the_login() {
    let env = Env::start_tls(ftps(UpstreamTls::Explicit), |c, _| c.default_upstream_cert = Some(Pki::stranger())).await;
    login_refused(&env, "different certificate than the one this gateway trusts").await;
    // The login page shows the same reason.
    let r =
        Env::client().post(env.url("/login")).form(&[("user", "alice"), ("password", "secret")]).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert!(r.text().await.unwrap().contains("different certificate"));
}

#[tokio::test]
async fn an_unknown_ca_refuses_the_login() {
    let env = Env::start_tls(ftps(UpstreamTls::Implicit), |c, _| {
        c.default_upstream_cert = None;
        c.upstream_trust = UpstreamTrust::Roots(vec![Pki::stranger()]);
    })
    .await;
    login_refused(&env, "UnknownIssuer").await;
}

#[tokio::test]
async fn a_plain_login_to_a_tls_only_server_is_refused_by_the_server() {
    let env = Env::start_tls(ftps(UpstreamTls::Explicit), |c, _| {
        c.default_upstream = c.default_upstream.trim_start_matches("ftpes://").to_string();
    })
    .await;
    let r = env.post_login(&Env::client()).await;
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["ftp_code"].as_u64().is_some_and(|c| (500..600).contains(&c)), "{v}");
}

#[tokio::test]
async fn allowed_ftps_upstreams_keep_their_protection() {
    // The FTPS server is reachable only as an allowed upstream; the default is elsewhere.
    let env = Env::start_tls(ftps(UpstreamTls::Explicit), |c, pki| {
        c.allowed_upstreams = vec![c.default_upstream.clone()];
        c.default_upstream = "127.0.0.1:1".into();
        c.default_upstream_cert = None;
        c.upstream_trust = UpstreamTrust::Roots(vec![pki.ca.clone()]);
    })
    .await;
    let login = |host: String| {
        Env::client()
            .post(env.url("/api/login"))
            .json(&serde_json::json!({ "host": host, "user": "alice", "password": "secret" }))
            .send()
    };
    // Named bare, it is still reached over explicit FTPS.
    let r = login(env.ftp_addr.to_string()).await.unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["upstream"], format!("ftpes://{}", env.ftp_addr));
    // Asking for another protection than configured is not on the list.
    assert_eq!(login(format!("ftps://{}", env.ftp_addr)).await.unwrap().status(), 403);
    // So do ftp:// links opened through the gateway; an FTPS scheme must match.
    let r = Env::client().get(env.url(&format!("/open?url=ftp://alice@{}/", env.ftp_addr))).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"].to_str().unwrap().contains("host=ftpes%3A%2F%2F127.0.0.1"), "{r:?}");
    let r = Env::client().get(env.url(&format!("/open?url=ftps://alice@{}/", env.ftp_addr))).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // The login page offers it with its scheme.
    let page = Env::client().get(env.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("ftpes://{}", env.ftp_addr)), "{page}");
}

// ---- HTTPS -------------------------------------------------------------------

#[tokio::test]
async fn https_gateway_sets_a_secure_cookie_and_serves_files() {
    let env = Env::start_tls(Setup { upstream: UpstreamTls::Explicit, https: true }, |_, _| {}).await;
    assert!(env.web.starts_with("https://"));
    std::fs::write(env.alice("hello.txt"), b"over HTTPS and FTPS").unwrap();
    let c = env.browser();
    let r = env.post_login(&c).await;
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let r = c.get(env.url("/download/hello.txt")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    assert_eq!(r.text().await.unwrap(), "over HTTPS and FTPS");
}

#[tokio::test]
async fn https_with_a_plain_upstream_and_the_secure_flag_forced() {
    // secure_cookies = false is overridden: under HTTPS the cookie is always Secure.
    let env = Env::start_tls(Setup { upstream: UpstreamTls::None, https: true }, |c, _| c.secure_cookies = false).await;
    let (c, _) = env.login().await;
    let r = c.get(env.url("/api/session")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = env
        .browser()
        .post(env.url("/api/login"))
        .json(&serde_json::json!({ "user": "alice", "password": "secret" }))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("; Secure"));
}

/// A slog drain that keeps every message, to check what was logged.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<String>>>);

impl slog::Drain for Collect {
    type Ok = ();
    type Err = slog::Never;
    fn log(&self, record: &slog::Record<'_>, _: &slog::OwnedKVList) -> Result<(), slog::Never> {
        if let Ok(mut v) = self.0.lock() {
            v.push(format!("{} {}", record.level().as_short_str(), record.msg()));
        }
        Ok(())
    }
}

#[tokio::test]
async fn bad_and_silent_handshakes_do_not_hold_the_server() {
    let pki = Pki::new();
    let config = oxftp_web::WebConfig {
        https: Some(oxftp_web::https_config(&pki.file("server.pem"), &pki.file("server.key")).unwrap()),
        tls_handshake_timeout: Duration::from_millis(300),
        ..oxftp_web::WebConfig::default()
    };
    let logs = Collect::default();
    let server = oxftp_web::WebServer::new(config).with_logger(slog::Logger::root(logs.clone(), slog::o!()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));

    // A client that connects and says nothing is cut off after the timeout...
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    // ...and plain HTTP to the HTTPS port fails its handshake.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), plain.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert!(!buf[..n].starts_with(b"HTTP/"), "plain HTTP was answered");

    // Meanwhile a real client is served at once.
    let r = pki.https_client().build().unwrap().get(format!("https://{addr}/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let closed = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "the silent connection was not closed: {closed:?}");
    let logged = logs.0.lock().unwrap().clone();
    assert!(logged.iter().any(|l| l.starts_with("DEBG") && l.contains("handshake failed")), "{logged:?}");
    assert!(logged.iter().any(|l| l.starts_with("DEBG") && l.contains("handshake timed out")), "{logged:?}");

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), serving).await.unwrap().unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the HTTPS port is still open");
}
