//! The attacks of issue 21 against the gateway, each reproduced over real
//! sockets against a real oxftp upstream, and shown to do no harm now:
//! slow and partial request heads, idle and flooding connections, session
//! hoarding by one account or address, parallel password guessing, DNS
//! rebinding, words put on the login page by a link, cacheable pages, PDFs
//! in the app's origin, endless multipart part headers, a hostile PASV reply,
//! and setuid bits through SITE CHMOD.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Env, Setup};
use oxftp_web::{CSRF_HEADER, UpstreamTls};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// The gateway's `host:port`.
fn addr(env: &Env) -> SocketAddr {
    env.web.trim_start_matches("http://").trim_start_matches("https://").parse().expect("web address")
}

/// A TCP connection to `to` from the loopback address `from` (all of
/// 127.0.0.0/8 is loopback on Linux), so one test can be several clients.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::from((from, 0))).expect("bind a loopback source address");
    socket.connect(to).await.expect("connect")
}

/// Everything the peer sends until it closes, or `None` if it is still open after `limit`.
async fn until_closed<S: AsyncReadExt + Unpin>(s: &mut S, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| got)
}

/// Read one response head (up to the blank line) and return its status code.
async fn read_status<S: AsyncReadExt + Unpin>(s: &mut S) -> u16 {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&head);
    text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// Poll `check` every 20 ms for up to `limit`; whether it came true.
async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// Log in as `user` with a fresh client; with `client`, as if through a
/// reverse proxy for that address (`X-Forwarded-For`).
async fn login_as(env: &Env, user: &str, password: &str, client: Option<&str>) -> (reqwest::Client, reqwest::Response) {
    let c = Env::client();
    let mut req = c.post(env.url("/api/login")).json(&serde_json::json!({ "user": user, "password": password }));
    if let Some(client) = client {
        req = req.header("x-forwarded-for", client);
    }
    let r = req.send().await.expect("login request");
    (c, r)
}

// ---- item 2: header-read timeout, keep-alive timeout, connection caps ------

#[tokio::test]
async fn partial_and_idle_connections_are_closed_in_time() {
    let env = Env::start_with(|c| {
        c.header_read_timeout = Duration::from_millis(500);
        c.keep_alive_timeout = Duration::from_millis(1500);
        c.max_connections_per_ip = 200;
    })
    .await;
    let to = addr(&env);

    // 100 partial request heads and 20 silent connections: all cut off after
    // the header timeout (before the fix they stayed open for good).
    let started = Instant::now();
    let mut partial = Vec::new();
    for _ in 0..100 {
        let mut s = TcpStream::connect(to).await.unwrap();
        s.write_all(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaa").await.unwrap();
        partial.push(s);
    }
    for _ in 0..20 {
        partial.push(TcpStream::connect(to).await.unwrap());
    }
    for s in &mut partial {
        let closed = until_closed(s, Duration::from_secs(5)).await;
        assert!(closed.is_some(), "a partial or silent connection was still open after 5 s");
    }
    let took = started.elapsed();
    eprintln!("100 partial heads and 20 silent connections all closed {took:?} after they were opened");
    assert!(took < Duration::from_secs(4), "closing them took {took:?}");
    assert!(env.server.stats().header_timeouts >= 120, "{:?}", env.server.stats());

    // A head sent in pieces within the timeout is served.
    let mut s = TcpStream::connect(to).await.unwrap();
    for piece in [&b"GET /favicon.ico HTT"[..], b"P/1.1\r\nHost: 127.0", b".0.1\r\n\r\n"] {
        s.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(read_status(&mut s).await, 204);
    // Kept alive: idle longer than a head may take, but within keep_alive_timeout, it still serves.
    tokio::time::sleep(Duration::from_millis(800)).await;
    s.write_all(b"GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    assert_eq!(read_status(&mut s).await, 204);
    // Then, idle, it is closed after keep_alive_timeout.
    let idle_from = Instant::now();
    assert!(until_closed(&mut s, Duration::from_secs(5)).await.is_some(), "idle keep-alive connection left open");
    let idled = idle_from.elapsed();
    assert!(idled >= Duration::from_millis(1200) && idled < Duration::from_secs(4), "closed after {idled:?}");

    // On a kept-alive connection, a next head that stalls is cut off by the header timeout.
    let mut s = TcpStream::connect(to).await.unwrap();
    s.write_all(b"GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    assert_eq!(read_status(&mut s).await, 204);
    s.write_all(b"GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    let stalled_from = Instant::now();
    assert!(until_closed(&mut s, Duration::from_secs(5)).await.is_some());
    assert!(stalled_from.elapsed() < Duration::from_millis(1400), "stalled head held {:?}", stalled_from.elapsed());
}

#[tokio::test]
async fn partial_headers_after_a_tls_handshake_are_cut_off() {
    let env = Env::start_tls(Setup { upstream: UpstreamTls::None, https: true }, |c, _| {
        c.header_read_timeout = Duration::from_millis(500);
    })
    .await;
    let pki = env.pki.as_ref().unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let tcp = TcpStream::connect(addr(&env)).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut s = connector.connect(name, tcp).await.expect("handshake");
    s.write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nX-Slow: a").await.unwrap();
    s.flush().await.unwrap();
    let started = Instant::now();
    assert!(until_closed(&mut s, Duration::from_secs(5)).await.is_some(), "partial head over TLS lived on");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(env.server.stats().header_timeouts, 1);
}

#[tokio::test]
async fn connections_are_capped_in_all_and_per_address() {
    let env = Env::start_with(|c| {
        c.max_connections = 30;
        c.max_connections_per_ip = 10;
        c.header_read_timeout = Duration::from_secs(30);
    })
    .await;
    let to = addr(&env);
    // One address fills its share...
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(connect_from([127, 0, 0, 2], to).await);
    }
    assert!(eventually(Duration::from_secs(5), || env.server.stats().connections_open == 10).await);
    // ...and its next connection is refused at once, with a word for plain HTTP.
    let mut refused = connect_from([127, 0, 0, 2], to).await;
    let said = until_closed(&mut refused, Duration::from_secs(5)).await.expect("refused connection left open");
    assert!(said.starts_with(b"HTTP/1.1 503"), "{}", String::from_utf8_lossy(&said));
    // Other addresses still get in, up to the global cap.
    for from in [[127, 0, 0, 3], [127, 0, 0, 4]] {
        for _ in 0..10 {
            held.push(connect_from(from, to).await);
        }
    }
    assert!(eventually(Duration::from_secs(5), || env.server.stats().connections_open == 30).await);
    let mut refused = connect_from([127, 0, 0, 5], to).await;
    assert!(until_closed(&mut refused, Duration::from_secs(5)).await.is_some(), "over the global cap, still open");
    let stats = env.server.stats();
    assert_eq!((stats.connections_refused_per_ip, stats.connections_refused), (1, 1), "{stats:?}");
    // Closed connections give their places back.
    held.truncate(10);
    assert!(eventually(Duration::from_secs(5), || env.server.stats().connections_open == 10).await);
    let requests = env.server.stats().requests;
    let r = Env::client().get(env.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(env.server.stats().requests, requests + 1, "every request is counted");
}

// ---- item 3: sessions per account and per address; idle FTP connections ----

#[tokio::test]
async fn sessions_are_capped_per_account_and_per_address() {
    let env = Env::start_with(|c| {
        c.max_sessions_per_user = 2;
        c.max_sessions_per_ip = 4;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let here = Some("198.51.100.1");
    // A third login of one account ends its least recently used session.
    let mut alice = Vec::new();
    for _ in 0..3 {
        let (c, r) = login_as(&env, "alice", "secret", here).await;
        assert_eq!(r.status(), 200);
        alice.push(c);
    }
    let statuses: Vec<u16> = futures::future::join_all(
        alice.iter().map(|c| async { c.get(env.url("/api/session")).send().await.unwrap().status().as_u16() }),
    )
    .await;
    assert_eq!(statuses, [401, 200, 200]);
    assert_eq!(env.server.stats().sessions_evicted, 1);
    // The shared anonymous account is limited by address only: two more fill it.
    for _ in 0..2 {
        assert_eq!(login_as(&env, "anonymous", "a@b", here).await.1.status(), 200);
    }
    let (_, r) = login_as(&env, "anonymous", "a@b", here).await;
    assert_eq!(r.status(), 429, "a fifth session from one address");
    assert!(r.headers().contains_key("retry-after"));
    // Other addresses (other users) are not affected.
    let (c, r) = login_as(&env, "anonymous", "a@b", Some("198.51.100.2")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(c.get(env.url("/api/list?path=/")).send().await.unwrap().status(), 200);
    let stats = env.server.stats();
    assert_eq!((stats.sessions, stats.sessions_refused_per_ip), (5, 1), "{stats:?}");
}

#[tokio::test]
async fn idle_sessions_give_back_their_ftp_connections() {
    let env = Env::start_with(|c| {
        c.ftp_idle_timeout = Duration::from_secs(1);
        c.max_login_failures = 100;
    })
    .await;
    // bob's account allows one FTP session; a web session holds it only while in use.
    let (bob1, r) = login_as(&env, "bob", "secret", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(env.server.stats().idle_ftp_connections, 1);
    let (_, r) = login_as(&env, "bob", "secret", None).await;
    assert_eq!(r.status(), 401, "bob's FTP slot is held by his first web session, just used");
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("Too many sessions"), "{v}");
    // Idle, the session closes its FTP connection...
    assert!(eventually(Duration::from_secs(5), || env.server.stats().idle_ftp_connections == 0).await);
    // ...so bob can log in elsewhere (once the upstream has seen the QUIT)...
    let mut bob2 = None;
    for _ in 0..20 {
        let (c, r) = login_as(&env, "bob", "secret", None).await;
        if r.status() == 200 {
            bob2 = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bob2 = bob2.expect("the idle web session still held bob's FTP slot");
    // ...while the first session, busy again, finds the account at its FTP limit...
    let r = bob1.get(env.url("/api/list?path=/")).send().await.unwrap();
    assert_eq!(r.status(), 403, "two busy sessions of a one-session account");
    // ...and reconnects on demand once the other is idle.
    assert!(eventually(Duration::from_secs(5), || env.server.stats().idle_ftp_connections == 0).await);
    let mut listed = false;
    for _ in 0..20 {
        if bob1.get(env.url("/api/list?path=/")).send().await.unwrap().status() == 200 {
            listed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listed, "the first session did not reconnect");
    assert_eq!(env.server.stats().sessions, 2);
    drop(bob2);
}

// ---- item 7: login throttling and bans per browser address -----------------

#[tokio::test]
async fn parallel_password_guesses_are_cut_off_and_banned() {
    let env = Env::start_with(|c| {
        c.max_login_failures = 5;
        c.login_attempts_per_minute = 1000;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        // All 200 come through the one proxy address: let them all in to the login.
        c.max_connections_per_ip = 500;
    })
    .await;
    let attacker = Some("203.0.113.66");
    let guesser = Env::client();
    let started = Instant::now();
    let guesses = futures::future::join_all((0..200).map(|i| {
        let req = guesser
            .post(env.url("/api/login"))
            .header("x-forwarded-for", "203.0.113.66")
            .json(&serde_json::json!({ "user": "alice", "password": format!("guess{i}") }));
        async move { req.send().await.expect("login request").status().as_u16() }
    }))
    .await;
    let wrong = guesses.iter().filter(|s| **s == 401).count();
    let refused = guesses.iter().filter(|s| **s == 429).count();
    eprintln!("200 parallel guesses: {wrong} tried, {refused} refused, in {:?}", started.elapsed());
    assert!(wrong <= 5, "{wrong} guesses reached the upstream");
    assert_eq!(wrong + refused, 200, "{guesses:?}");
    assert!(env.password_checks.load(Ordering::SeqCst) <= 5, "upstream checked {:?}", env.password_checks);
    // The address is banned, even with the right password...
    let (_, r) = login_as(&env, "alice", "secret", attacker).await;
    assert_eq!(r.status(), 429);
    // ...and nobody else is.
    let (_, r) = login_as(&env, "alice", "secret", Some("203.0.113.67")).await;
    assert_eq!(r.status(), 200);
    let stats = env.server.stats();
    assert_eq!(stats.bans, 1, "{stats:?}");
    assert!(stats.logins_throttled + stats.logins_banned >= 195, "{stats:?}");
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_address() {
    let env = Env::start_with(|c| {
        c.login_attempts_per_minute = 3;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    for _ in 0..3 {
        assert_eq!(login_as(&env, "alice", "secret", Some("203.0.113.7")).await.1.status(), 200);
    }
    let (_, r) = login_as(&env, "alice", "secret", Some("203.0.113.7")).await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&wait), "Retry-After {wait}");
    // Without a trusted proxy the header is the client's word: ignored.
    let c = Env::client();
    let r = c.post(env.url("/api/login")).json(&serde_json::json!({ "user": "alice", "password": "secret" }));
    assert_eq!(r.send().await.unwrap().status(), 200, "127.0.0.1 itself has its own budget");
}

// ---- items 8, 9, 10, 11: host names, login messages, caching, PDFs ----------

#[tokio::test]
async fn dns_rebinding_is_refused_by_host_name() {
    let env = Env::start().await;
    let to = addr(&env);
    let raw = |host: String, extra: &'static str| async move {
        let mut s = TcpStream::connect(to).await.unwrap();
        let req = format!("GET /login HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        read_status(&mut s).await
    };
    assert_eq!(raw(to.to_string(), "").await, 200);
    assert_eq!(raw(format!("localhost:{}", to.port()), "").await, 200);
    assert_eq!(raw(format!("rebind.evil.example:{}", to.port()), "").await, 400);
    // The rebinding attack itself: a login posted by a page on the attacker's
    // name, whose Origin matches the (attacker's) Host.
    let evil = format!("rebind.evil.example:{}", to.port());
    let r = Env::client()
        .post(env.url("/api/login"))
        .header("host", &evil)
        .header("origin", format!("http://{evil}"))
        .json(&serde_json::json!({ "user": "alice", "password": "secret" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("set-cookie").is_none());
    assert_eq!(env.password_checks.load(Ordering::SeqCst), 0, "the login reached the upstream");
    assert_eq!(env.server.stats().unknown_hosts, 2);

    // Configured names replace the defaults.
    let env = Env::start_with(|c| c.allowed_hosts = vec!["files.example.org".into()]).await;
    let r = Env::client().get(env.url("/login")).header("host", "files.example.org").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(Env::client().get(env.url("/login")).send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn the_login_page_shows_only_its_own_messages() {
    let env = Env::start().await;
    let page = |q: &'static str| {
        let url = env.url(&format!("/login{q}"));
        async move { Env::client().get(url).send().await.unwrap().text().await.unwrap() }
    };
    let forged = page("?error=Security%20update%3A%20call%20%2B1-555-0100%20now").await;
    assert!(!forged.contains("555") && !forged.contains("role=\"alert\""), "{forged}");
    let expired = page("?error=expired").await;
    assert!(expired.contains("Your session has ended"), "{expired}");
    // A browser whose session is gone is sent there with that code.
    let r = Env::client().get(env.url("/browse/")).header("cookie", "oxftp_web=deadbeef").send().await.unwrap();
    assert_eq!(r.headers()["location"], "/login?dir=%2F&error=expired");
}

#[tokio::test]
async fn authenticated_pages_and_the_csrf_token_are_never_cached() {
    let env = Env::start().await;
    std::fs::write(env.alice("report.pdf"), b"%PDF-1.4 fake").unwrap();
    let (c, _) = env.login().await;
    for path in ["/api/session", "/browse/", "/api/list?path=/", "/login"] {
        let r = c.get(env.url(path)).send().await.unwrap();
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
    }
    let r = c.get(env.url("/download/report.pdf")).send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    assert!(r.headers().get("strict-transport-security").is_none(), "no HSTS over plain HTTP");
    // A PDF asked to be viewed is saved, never rendered in the app's origin.
    let r = c.get(env.url("/view/report.pdf")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"), "{:?}", r.headers());
}

#[tokio::test]
async fn https_adds_hsts_and_a_host_only_cookie() {
    let env = Env::start_tls(Setup { upstream: UpstreamTls::None, https: true }, |_, _| {}).await;
    let c = env.browser();
    let r = env.post_login(&c).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("__Host-oxftp_web=") && cookie.contains("; Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
    assert_eq!(c.get(env.url("/api/session")).send().await.unwrap().status(), 200);
    // The same id under the unprefixed name (as a plain-HTTP page could plant it) is not accepted.
    let id = cookie.split(';').next().unwrap().trim_start_matches("__Host-oxftp_web=").to_string();
    let other = env.pki.as_ref().unwrap().https_client().build().unwrap();
    let r = other.get(env.url("/api/session")).header("cookie", format!("oxftp_web={id}")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

// ---- item 1: multipart part headers ----------------------------------------

/// POST a multipart upload whose body is `prefix` followed by `filler` bytes
/// of `A`, on a raw connection with alice's session; returns the status and
/// how many bytes the server had taken when it answered.
async fn endless_upload(env: &Env, cookie: &str, csrf: &str, prefix: &'static [u8], filler: usize) -> (u16, usize) {
    let mut s = TcpStream::connect(addr(env)).await.unwrap();
    let head = format!(
        "POST /api/upload?dir=/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n{CSRF_HEADER}: {csrf}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n",
        prefix.len() + filler
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let sent = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn({
        let sent = sent.clone();
        async move {
            if wr.write_all(prefix).await.is_err() {
                return;
            }
            let chunk = vec![b'A'; 64 * 1024];
            let mut left = filler;
            while left > 0 {
                let n = left.min(chunk.len());
                if wr.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                sent.fetch_add(n, Ordering::Relaxed);
                left -= n;
            }
        }
    });
    let status = read_status(&mut rd).await;
    let taken = sent.load(Ordering::Relaxed);
    writer.abort();
    (status, taken)
}

#[tokio::test]
async fn endless_multipart_part_headers_are_refused_early() {
    let env = Env::start().await;
    let c = env.browser();
    let r = env.post_login(&c).await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let csrf = r.json::<serde_json::Value>().await.unwrap()["csrf"].as_str().unwrap().to_string();
    // A filename that never ends (64 MiB of it on offer).
    let (status, taken) = endless_upload(
        &env,
        &cookie,
        &csrf,
        b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"",
        64 << 20,
    )
    .await;
    assert_eq!(status, 400);
    eprintln!("endless part header: answered 400 after {taken} bytes of 64 MiB were sent");
    assert!(taken < 16 << 20, "the server read {taken} bytes before refusing");
    // A preamble that never reaches the first boundary.
    let (status, _) = endless_upload(&env, &cookie, &csrf, b"", 8 << 20).await;
    assert_eq!(status, 400);
    assert_eq!(env.server.stats().oversized_part_headers, 2);
    // Headers just within the limit, and the session, still work.
    let name = format!("{}.txt", "n".repeat(200));
    let form = reqwest::multipart::Form::new()
        .part("f", reqwest::multipart::Part::bytes(b"ok".to_vec()).file_name(name.clone()));
    let r = c.post(env.url("/api/upload?dir=/")).header(CSRF_HEADER, &csrf).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(std::fs::read(env.alice(&name)).unwrap(), b"ok");
}

// ---- item 4: a hostile upstream's PASV reply -------------------------------

/// A minimal FTP server that logs anyone in, refuses EPSV, and answers PASV
/// with `announce` as the address (but the port it really listens on, on
/// its own address). Returns its control address and what each STOR received.
async fn hostile_upstream(announce: [u8; 4]) -> (SocketAddr, Arc<std::sync::Mutex<Vec<Vec<u8>>>>, u16) {
    let control = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control_addr = control.local_addr().unwrap();
    // The trap and the real data port share a port number on two addresses.
    let (trap_port, data) = loop {
        let trap = TcpListener::bind(SocketAddr::from((announce, 0))).await.unwrap();
        let port = trap.local_addr().unwrap().port();
        if let Ok(data) = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await {
            tokio::spawn(async move {
                // The trap: count and keep every connection that reaches it.
                let mut kept = Vec::new();
                while let Ok((s, _)) = trap.accept().await {
                    TRAPPED.fetch_add(1, Ordering::SeqCst);
                    kept.push(s);
                }
            });
            break (port, data);
        }
    };
    let stored = Arc::new(std::sync::Mutex::new(Vec::new()));
    let data = Arc::new(data);
    let p = trap_port.to_be_bytes();
    let pasv = format!(
        "227 Entering Passive Mode ({},{},{},{},{},{})\r\n",
        announce[0], announce[1], announce[2], announce[3], p[0], p[1]
    );
    tokio::spawn({
        let stored = stored.clone();
        async move {
            while let Ok((s, _)) = control.accept().await {
                let (stored, data, pasv) = (stored.clone(), data.clone(), pasv.clone());
                tokio::spawn(async move {
                    let (rd, mut wr) = s.into_split();
                    let mut lines = BufReader::new(rd).lines();
                    let _ = wr.write_all(b"220 hostile test server\r\n").await;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "USER" => b"331 password please\r\n",
                            "PASS" => b"230 in\r\n",
                            "TYPE" => b"200 ok\r\n",
                            "EPSV" => b"502 no EPSV here\r\n",
                            "SIZE" => b"550 no such file\r\n",
                            "QUIT" => b"221 bye\r\n",
                            "PASV" => pasv.as_bytes(),
                            "STOR" => {
                                let accepted = tokio::time::timeout(Duration::from_secs(5), data.accept()).await;
                                let Ok(Ok((mut d, _))) = accepted else {
                                    let _ = wr.write_all(b"425 no data connection\r\n").await;
                                    continue;
                                };
                                let _ = wr.write_all(b"150 send it\r\n").await;
                                let mut got = Vec::new();
                                let _ = d.read_to_end(&mut got).await;
                                stored.lock().unwrap().push(got);
                                b"226 stored\r\n"
                            }
                            _ => b"502 not here\r\n",
                        };
                        let _ = wr.write_all(reply).await;
                    }
                });
            }
        }
    });
    (control_addr, stored, trap_port)
}

/// Connections the hostile upstream's trap address received.
static TRAPPED: AtomicUsize = AtomicUsize::new(0);

#[tokio::test]
async fn a_pasv_reply_cannot_send_data_to_another_address() {
    let (upstream, stored, _) = hostile_upstream([127, 0, 0, 3]).await;
    let env = Env::start_with(|c| c.allowed_upstreams = vec![upstream.to_string()]).await;
    let c = Env::client();
    let r = c
        .post(env.url("/api/login"))
        .json(&serde_json::json!({ "host": upstream.to_string(), "user": "u", "password": "p" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csrf = r.json::<serde_json::Value>().await.unwrap()["csrf"].as_str().unwrap().to_string();
    let r =
        c.put(env.url("/api/file?path=/secret.txt")).header(CSRF_HEADER, &csrf).body("the user's upload").send().await;
    let status = r.unwrap().status();
    assert_eq!(TRAPPED.load(Ordering::SeqCst), 0, "the gateway connected to the address PASV named");
    assert_eq!(status, 200);
    assert_eq!(
        stored.lock().unwrap().as_slice(),
        [b"the user's upload".to_vec()],
        "the upload went to the upstream itself"
    );
}

// ---- item 5: SITE CHMOD through the gateway --------------------------------

#[tokio::test]
async fn chmod_cannot_set_setuid_setgid_or_sticky_bits() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::start().await;
    let (c, csrf) = env.login().await;
    std::fs::write(env.alice("tool"), b"#!/bin/sh\n").unwrap();
    for (asked, kept) in [("4755", 0o755), ("2770", 0o770), ("1777", 0o777), ("6711", 0o711), ("640", 0o640)] {
        let r = c
            .post(env.url("/api/chmod"))
            .header(CSRF_HEADER, &csrf)
            .json(&serde_json::json!({ "path": "/tool", "mode": asked }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asked}");
        let mode = std::fs::metadata(env.alice("tool")).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, kept, "SITE CHMOD {asked} left mode {mode:o}");
    }
}
