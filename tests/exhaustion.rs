//! Resource exhaustion, each bounded by a configured limit while a fresh
//! client still logs in within 2 s: 2,000 connections that never log in,
//! 2,000 idle logged-in sessions, 1,000 half-open TLS handshakes, a client
//! opening passive ports in a loop. Attackers connect from 127.0.0.2 (any
//! 127/8 address reaches loopback on Linux), the fresh client from
//! 127.0.0.1. In-process engine, real sockets; the test process holds both
//! ends (about 4,000 descriptors at most).

#[allow(dead_code)]
mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::pki::{Pki, TlsCtl, read_reply};
use common::{Raw, TestAccounts, TestServer};
use oxftp::{Listener, Options, Server, VPath};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The tests here count the process's descriptors and memory: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A connection from `from` to `addr`.
async fn connect_from(from: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(from, 0)).expect("bind the source address");
    tokio::time::timeout(Duration::from_secs(5), socket.connect(addr)).await.expect("connect in time").expect("connect")
}

/// The first line the server sends (empty if it closes first).
async fn first_line(stream: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_line(&mut line)).await.expect("a reply in time");
    line
}

/// A client from 127.0.0.1 logs in (plain FTP), timed.
async fn fresh_login(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let mut raw = tokio::time::timeout(Duration::from_secs(2), Raw::login(addr, "alice", "secret"))
        .await
        .expect("a fresh client logs in within 2 s");
    let took = started.elapsed();
    assert_eq!(raw.cmd("PWD").await.0, 257);
    took
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_log_in_are_bounded_per_address() {
    let _one = ONE_AT_A_TIME.lock().await;
    let srv = TestServer::start_with(|o| {
        o.max_prelogin_per_ip = 50;
        o.max_sessions = 5000;
        o.login_timeout = Duration::from_secs(3);
    })
    .await;
    let mut held = Vec::new();
    let (mut greeted, mut refused) = (0, 0);
    for _ in 0..2000 {
        let mut conn = BufReader::new(connect_from(ATTACKER, srv.addr).await);
        let line = first_line(&mut conn).await;
        if line.starts_with("220") {
            greeted += 1;
        } else {
            assert!(line.starts_with("421"), "{line:?}");
            refused += 1;
        }
        held.push(conn);
    }
    assert_eq!((greeted, refused), (50, 1950), "server.max_prelogin_per_ip bounds them");
    let took = fresh_login(srv.addr).await;
    eprintln!("fresh login beside 2,000 never-login connections: {took:?}");
    // Those that got in are closed at login_timeout.
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut closed = 0;
    for conn in held.iter_mut() {
        let mut rest = Vec::new();
        let left = deadline.saturating_duration_since(Instant::now());
        if let Ok(Ok(_)) = tokio::time::timeout(left, conn.read_to_end(&mut rest)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 2000, "every connection was closed by the server");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_logged_in_sessions_are_bounded_per_address() {
    let _one = ONE_AT_A_TIME.lock().await;
    let srv = TestServer::start_with(|o| {
        o.max_sessions_per_ip = 1000;
        o.max_sessions = 5000;
    })
    .await;
    let rss_before = rss_kib();
    let mut idle = Vec::new();
    let (mut logged_in, mut refused) = (0, 0);
    for _ in 0..2000 {
        let stream = connect_from(ATTACKER, srv.addr).await;
        let (r, mut w) = stream.into_split();
        let mut r = BufReader::new(r);
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        if !line.starts_with("220") {
            assert!(line.starts_with("421"), "{line:?}");
            refused += 1;
            continue;
        }
        w.write_all(b"USER alice\r\nPASS secret\r\n").await.unwrap();
        assert_eq!(read_reply(&mut r).await.0, 331);
        assert_eq!(read_reply(&mut r).await.0, 230);
        logged_in += 1;
        idle.push((r, w));
    }
    assert_eq!((logged_in, refused), (1000, 1000), "server.max_sessions_per_ip bounds them");
    let took = fresh_login(srv.addr).await;
    let grown = rss_kib().saturating_sub(rss_before);
    eprintln!(
        "fresh login beside 1,000 idle sessions (of 2,000 tried): {took:?}; RSS +{grown} KiB for both ends ({} KiB a session)",
        grown / 1000
    );
    // Both ends of 1,000 sessions, in one process: well under 100 KiB each.
    assert!(grown < 100 * 1000, "RSS grew {grown} KiB");
    srv.stop().await;
}

/// A server with a plain and an implicit FTPS listener over alice's tree.
async fn tls_server(
    pki: &Pki,
    handshake_timeout: Duration,
    tweak: impl FnOnce(&mut Options),
) -> (SocketAddr, SocketAddr, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("alice")).unwrap();
    let mut tls = pki.tls_config();
    tls.handshake_timeout = handshake_timeout;
    let mut options = Options::default();
    options.tls = Some(tls.build().unwrap());
    options.failed_login_delay = Duration::ZERO;
    tweak(&mut options);
    let storage = Arc::new(oxftp::fs::LocalFsFactory::new(root.path()).unwrap());
    let auth = Arc::new(oxftp::policy::AnonymousLogin::new(
        Some(Arc::new(TestAccounts)),
        VPath::parse(b"/alice").unwrap(),
        None,
    ));
    let server = Server::new(storage, auth).with_options(options);
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let implicit = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addrs = (plain.local_addr().unwrap(), implicit.local_addr().unwrap());
    tokio::spawn(async move {
        server.run_listeners(vec![Listener::new(plain), Listener::implicit_tls(implicit)], std::future::pending()).await
    });
    (addrs.0, addrs.1, root)
}

/// Whether the server closed `conn` within `limit` (reads return end of stream or an error).
async fn closed_within(conn: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(tokio::time::timeout(limit, conn.read(&mut buf)).await, Ok(Ok(0)) | Ok(Err(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_tls_handshakes_are_bounded() {
    let _one = ONE_AT_A_TIME.lock().await;
    let pki = Pki::new();
    // Per address: the realistic defaults hold an attacker's half-open
    // handshakes to max_prelogin_per_ip; a fresh FTPS client gets in.
    let (_, implicit, _root) = tls_server(&pki, Duration::from_secs(5), |o| o.max_prelogin_per_ip = 32).await;
    let mut held = Vec::new();
    for i in 0..1000 {
        let mut conn = connect_from(ATTACKER, implicit).await;
        if i % 2 == 0 {
            // Half a ClientHello, then nothing.
            conn.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]).await.unwrap();
        }
        held.push(conn);
    }
    let mut at_once = 0;
    for conn in held.iter_mut() {
        if closed_within(conn, Duration::from_millis(20)).await {
            at_once += 1;
        }
    }
    assert_eq!(at_once, 1000 - 32, "all but max_prelogin_per_ip closed at once");
    let started = Instant::now();
    let tcp = TcpStream::connect(implicit).await.unwrap();
    let tls = pki.connector().connect("localhost".try_into().unwrap(), tcp).await.expect("handshake");
    let mut ctl = TlsCtl { io: BufReader::new(tls) };
    assert_eq!(ctl.reply().await.0, 220);
    assert_eq!(ctl.cmd("USER alice").await.0, 331);
    assert_eq!(ctl.cmd("PASS secret").await.0, 230);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "{took:?}");
    eprintln!("fresh FTPS login beside 1,000 half-open handshakes: {took:?}");
    // The held ones end at the handshake timeout.
    let mut ended = 0;
    for conn in held.iter_mut() {
        if closed_within(conn, Duration::from_secs(7)).await {
            ended += 1;
        }
    }
    assert_eq!(ended, 1000);

    // Server-wide: max_tls_handshakes caps them whatever the addresses;
    // AUTH TLS beyond it gets 431 and the session goes on in plaintext.
    // (A handshake timeout longer than the attack takes to set up.)
    let (plain, _, _root) = tls_server(&pki, Duration::from_secs(60), |o| {
        o.max_prelogin_per_ip = 0;
        o.max_tls_handshakes = 100;
        o.max_sessions = 5000;
    })
    .await;
    let mut half_open = Vec::new();
    let (mut started_tls, mut turned_away) = (0, 0);
    for i in 0..1000u32 {
        let from = IpAddr::V4(Ipv4Addr::new(127, 0, 1 + (i / 250) as u8, 2 + (i % 250) as u8));
        let mut conn = BufReader::new(connect_from(from, plain).await);
        assert!(first_line(&mut conn).await.starts_with("220"));
        conn.get_mut().write_all(b"AUTH TLS\r\n").await.unwrap();
        match read_reply(&mut conn).await.0 {
            234 => started_tls += 1,
            431 => {
                turned_away += 1;
                conn.get_mut().write_all(b"NOOP\r\n").await.unwrap();
                assert_eq!(read_reply(&mut conn).await.0, 200);
            }
            other => panic!("AUTH TLS: {other}"),
        }
        half_open.push(conn);
    }
    assert_eq!((started_tls, turned_away), (100, 900));
    fresh_login(plain).await;
    // Once the half-open ones are gone, TLS works again.
    drop(half_open);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ctl = TlsCtl::explicit(plain, &pki.connector()).await;
    ctl.login_private("alice", "secret").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pasv_in_a_loop_holds_one_port_per_session() {
    let _one = ONE_AT_A_TIME.lock().await;
    // A small range outside the ephemeral ports, somewhere random.
    let lo = 15000 + (std::process::id() % 500) as u16 * 8;
    let srv = TestServer::start_with(|o| o.passive_ports = Some((lo, lo + 3))).await;
    let mut looping = Raw::login(srv.addr, "alice", "secret").await;
    let before = open_fds();
    let started = Instant::now();
    for i in 0..2000 {
        let (code, text) = looping.cmd(if i % 2 == 0 { "PASV" } else { "EPSV" }).await;
        assert!(code == 227 || code == 229, "{text}");
    }
    eprintln!("2,000 PASV/EPSV in {:?}", started.elapsed());
    let grown = open_fds().saturating_sub(before);
    assert!(grown <= 1, "{grown} descriptors more after 2,000 PASV");
    // The other three ports of the range are free for others, and the
    // range is the bound: the fifth listener finds none.
    let took = fresh_login(srv.addr).await;
    eprintln!("fresh login beside a PASV loop: {took:?}");
    let mut others = Vec::new();
    for _ in 0..3 {
        let mut raw = Raw::login(srv.addr, "alice", "secret").await;
        assert_eq!(raw.cmd("EPSV").await.0, 229);
        others.push(raw);
    }
    let mut fifth = Raw::login(srv.addr, "alice", "secret").await;
    let (code, text) = fifth.cmd("EPSV").await;
    assert_eq!(code, 425, "{text}");
    // Ending a session frees its port.
    drop(looping);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fifth.cmd("EPSV").await.0, 229);
    srv.stop().await;
}
