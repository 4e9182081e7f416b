//! End-to-end: the daemon with a `[web]` table serves the browser FTP client,
//! which logs in to the daemon's own FTP listener. Driven with reqwest, as a
//! browser would, over plain HTTP and over HTTPS (with the client then using
//! explicit FTPS to a daemon that requires TLS), checking results against the
//! tree on disk.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{Control, Daemon, DaemonConfig, PASSWORD, TlsOptions, pattern_bytes, require_tool, run, write};

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

// ---- issue 21: what one web client must not be able to do to the daemon ----

/// `(VmHWM, VmRSS)` of process `pid` in KiB: its peak and current resident memory.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Descriptors process `pid` has open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// Logs `c` in as `user` and returns `Cookie` header value and CSRF token.
async fn web_login(d: &Daemon, c: &reqwest::Client, user: &str, password: &str) -> (String, String) {
    let r = c
        .post(format!("{}/api/login", d.web_url()))
        .json(&serde_json::json!({ "user": user, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{user}'s web login failed");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let csrf = r.json::<serde_json::Value>().await.unwrap()["csrf"].as_str().unwrap().to_string();
    (cookie, csrf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_multipart_header_does_not_grow_the_daemon() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const OFFERED: usize = 64 << 20;
    let d = tokio::task::spawn_blocking(daemon).await.unwrap();
    // Read-only anonymous is enough to reach the upload parser.
    let (cookie, csrf) = web_login(&d, &client(), "anonymous", "guest@example.org").await;
    let (peak_before, _) = memory_kib(d.pid());

    let addr = d.web_url().trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let prefix = b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"";
    let head = format!(
        "POST /api/upload?dir=/ HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nx-csrf-token: {csrf}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n",
        prefix.len() + OFFERED
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(prefix).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = tokio::spawn({
        let sent = sent.clone();
        async move {
            let chunk = vec![b'A'; 64 * 1024];
            for _ in 0..OFFERED / chunk.len() {
                if wr.write_all(&chunk).await.is_err() {
                    return;
                }
                sent.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    let mut answer = vec![0u8; 12];
    tokio::time::timeout(Duration::from_secs(30), rd.read_exact(&mut answer)).await.unwrap().unwrap();
    writer.abort();
    let (peak_after, rss_after) = memory_kib(d.pid());
    let grown_mib = peak_after.saturating_sub(peak_before) / 1024;
    eprintln!(
        "endless part header: {} after {} KiB of the 64 MiB file name were sent; daemon peak RSS {peak_before} -> {peak_after} KiB \
         (+{grown_mib} MiB), RSS now {rss_after} KiB",
        String::from_utf8_lossy(&answer),
        sent.load(std::sync::atomic::Ordering::Relaxed) / 1024,
    );
    assert_eq!(&answer, b"HTTP/1.1 400", "{}", String::from_utf8_lossy(&answer));
    assert!(grown_mib < 32, "the daemon's peak RSS grew by {grown_mib} MiB");
    // And it still serves FTP.
    let port = d.port();
    tokio::task::spawn_blocking(move || {
        let mut ftp = Control::connect(port, Duration::from_secs(10)).unwrap();
        ftp.login("alice", PASSWORD);
    })
    .await
    .unwrap();
}

/// Opens `n` TCP connections to `to`, a quarter from each of the loopback
/// source addresses 127.0.0.2..=127.0.0.5 in turn, each sending the start of
/// a request head and no more; connections refused at once come back too
/// (closed).
async fn flood(to: &str, n: usize) -> Vec<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt;
    let to: std::net::SocketAddr = to.parse().unwrap();
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        let from = 2 + (4 * i / n) as u8;
        socket.bind(std::net::SocketAddr::from(([127, 0, 0, from], 0))).unwrap();
        let Ok(mut s) = socket.connect(to).await else { continue };
        let _ = s.write_all(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Wait: ").await;
        held.push(s);
    }
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftp_logins_survive_a_flood_of_web_connections() {
    // Few descriptors to spare, as in production with thousands: 256 in all,
    // of which the web client may take 100. 600 connections would take them all.
    let d = tokio::task::spawn_blocking(|| {
        Daemon::start_with(DaemonConfig {
            open_files: Some(256),
            web: Some(
                "listen = \"127.0.0.1:0\"\nmax_connections = 100\nmax_connections_per_ip = 30\nheader_read_timeout = 2\n"
                    .to_string(),
            ),
            ..DaemonConfig::default()
        })
    })
    .await
    .unwrap();
    let pid = d.pid();
    let before = open_fds(pid);
    let addr = d.web_url().trim_start_matches("http://").to_string();
    let held = flood(&addr, 600).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = open_fds(pid);
    eprintln!("600 web connections offered: daemon descriptors {before} -> {during}");
    assert!(during <= before + 100 + 10, "the web client took {} descriptors", during - before);

    // FTP logins, and a listing over a data connection, still work.
    let port = d.port();
    let listing = tokio::task::spawn_blocking(move || {
        for _ in 0..5 {
            let mut ftp = Control::connect(port, Duration::from_secs(10)).unwrap();
            ftp.login("alice", PASSWORD);
            ftp.expect("QUIT", 221);
        }
        require_tool("curl");
        run(
            Command::new("curl")
                .args(["-sS", "--max-time", "20", "-u", &format!("alice:{PASSWORD}")])
                .arg(format!("ftp://127.0.0.1:{port}/")),
            Duration::from_secs(30),
        )
    })
    .await
    .unwrap();
    listing.assert_success("curl LIST during the flood");

    // The partial heads are cut off after header_read_timeout, and the web client serves again.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while open_fds(pid) > before + 5 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(open_fds(pid) <= before + 5, "flood connections still open: {} descriptors", open_fds(pid));
    drop(held);
    let r = client().get(format!("{}/login", d.web_url())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let log = d.log();
    assert!(log.contains("max_connections reached") && log.contains("max_connections_per_ip reached"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_chmod_cannot_make_setuid_files() {
    use std::os::unix::fs::PermissionsExt;
    let d = tokio::task::spawn_blocking(daemon).await.unwrap();
    write(d.disk("alice/tool"), b"#!/bin/sh\n");
    let c = client();
    let csrf = login_alice(&d, &c).await;
    let r = c
        .post(format!("{}/api/chmod", d.web_url()))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "path": "/tool", "mode": "4755" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mode = std::fs::metadata(d.disk("alice/tool")).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755, "SITE CHMOD 4755 through the web client left mode {mode:o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_cannot_hoard_web_sessions_or_ftp_slots() {
    // Defaults: 8 sessions per account, 32 per address, 20 login attempts a minute.
    let d = tokio::task::spawn_blocking(daemon).await.unwrap();
    let mut answers = Vec::new();
    let mut guests = Vec::new();
    for _ in 0..40 {
        let c = client();
        let r = c
            .post(format!("{}/api/login", d.web_url()))
            .json(&serde_json::json!({ "user": "gina", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        answers.push(r.status().as_u16());
        guests.push(c);
    }
    let mut live = 0;
    for c in &guests {
        if c.get(format!("{}/api/session", d.web_url())).send().await.unwrap().status() == 200 {
            live += 1;
        }
    }
    let logged_in = answers.iter().filter(|s| **s == 200).count();
    eprintln!("40 logins of one guest: {logged_in} accepted, {live} sessions live, the rest: {answers:?}");
    assert_eq!(live, 8, "one account holds {live} web sessions");
    assert!(answers.iter().all(|s| *s == 200 || *s == 429), "{answers:?}");
    // Other users (from another address) are not affected, on the web or over FTP.
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    login_alice(&d, &c).await;
    assert_eq!(c.get(format!("{}/api/list?path=/", d.web_url())).send().await.unwrap().status(), 200);
    let port = d.port();
    tokio::task::spawn_blocking(move || {
        let mut ftp = Control::connect(port, Duration::from_secs(10)).unwrap();
        ftp.login("alice", PASSWORD);
    })
    .await
    .unwrap();
}
