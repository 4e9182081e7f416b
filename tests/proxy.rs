//! PROXY protocol (v1 and v2) on control and passive data connections, in
//! process over real loopback sockets: the client named in the header is the
//! client everywhere (STAT, bans, IP rules, per-address limits, an account's
//! allowed addresses, the FTP-bounce check, the passive-peer check), and
//! connections that are not from a trusted proxy, or carry no valid header,
//! are refused.

#[allow(dead_code)]
mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::{Raw, TestServer};
use oxftp::Listener;
use oxftp::limits::BanPolicy;
use oxftp::net::ProxyProtocol;
use oxftp_proto::proxy::{Addresses, Command, Transport, write_v1, write_v2};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The balancer's public address, as the headers say clients reached it.
const BALANCER: &str = "203.0.113.1:21";

fn trusting(nets: &[&str]) -> ProxyProtocol {
    ProxyProtocol {
        trusted: nets.iter().map(|n| n.parse().unwrap()).collect(),
        header_timeout: Duration::from_millis(500),
    }
}

fn v2(client: &str) -> Vec<u8> {
    let addresses = Addresses::Inet { source: client.parse().unwrap(), destination: BALANCER.parse().unwrap() };
    write_v2(Command::Proxy, Transport::Stream, &addresses, &[], true).unwrap()
}

fn v1(client: &str) -> Vec<u8> {
    write_v1(Some((client.parse().unwrap(), BALANCER.parse().unwrap()))).unwrap()
}

/// A TCP connection to `to` from the loopback address `from`.
async fn tcp_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from.parse().unwrap(), 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// A control connection through "the proxy" (127.0.0.1) for `client`.
async fn through_proxy(srv: &TestServer, header: Vec<u8>) -> Raw {
    let mut tcp = TcpStream::connect(srv.addr).await.unwrap();
    tcp.write_all(&header).await.unwrap();
    Raw::from_stream(tcp).await
}

/// What the server answers first on a connection that sent `bytes`: a reply
/// line, or `None` when it closed without one.
async fn first_words(mut tcp: TcpStream, bytes: &[u8]) -> Option<String> {
    let _ = tcp.write_all(bytes).await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server neither answered nor closed");
    (!got.is_empty()).then(|| String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test]
async fn the_client_in_the_header_is_the_peer_everywhere() {
    let ban = BanPolicy { max_failures: 2, ..BanPolicy::default() };
    let srv = TestServer::start_on(
        |o| {
            o.proxy_protocol = trusting(&["127.0.0.1"]);
            o.ban = Some(ban);
            o.max_login_failures = 5;
            o.max_sessions_per_ip = 2;
            o.ip_rules.deny.push("198.51.100.66".parse().unwrap());
        },
        |tcp| Listener::new(tcp).with_proxy_protocol(),
    )
    .await;
    std::fs::write(srv.path("alice/a.txt"), b"through the balancer").unwrap();

    // STAT shows the client and the proxy; PASV announces the balancer's address.
    let mut raw = through_proxy(&srv, v2("198.51.100.7:40000")).await;
    let (code, text) = raw.cmd("STAT").await;
    assert_eq!(code, 211, "{text}");
    assert!(text.contains("Connected from 198.51.100.7:40000"), "{text}");
    assert!(text.contains("Connected to 203.0.113.1:21"), "{text}");
    assert!(text.contains("Through proxy 127.0.0.1:"), "{text}");
    assert_eq!(raw.cmd("USER alice").await.0, 331);
    assert_eq!(raw.cmd("PASS secret").await.0, 230);
    let (code, text) = raw.cmd("PASV").await;
    assert_eq!(code, 227, "{text}");
    assert!(text.contains("(203,0,113,1,"), "PASV names the balancer: {text}");
    // The FTP-bounce check compares with the header's client, not the TCP peer.
    let (code, text) = raw.cmd("PORT 127,0,0,1,200,10").await;
    assert_eq!(code, 501, "an active target at the proxy's address is a third host: {text}");
    assert_eq!(raw.cmd("EPRT |1|198.51.100.7|40001|").await.0, 200);

    // Per-address limit: two sessions for 198.51.100.7 are live now? One is; take the second.
    let _second = through_proxy(&srv, v1("198.51.100.7:40002")).await;
    let third = TcpStream::connect(srv.addr).await.unwrap();
    let words = first_words(third, &v2("198.51.100.7:40003")).await.unwrap_or_default();
    assert!(words.starts_with("421"), "a third session of one client is refused: {words:?}");
    // ... while another client behind the same proxy is not limited by it.
    let mut other = through_proxy(&srv, v2("198.51.100.8:40000")).await;

    // Bans: two failed logins ban 198.51.100.8, not the proxy.
    assert_eq!(other.cmd("USER alice").await.0, 331);
    assert_eq!(other.cmd("PASS wrong").await.0, 530);
    assert_eq!(other.cmd("USER alice").await.0, 331);
    assert_eq!(other.cmd("PASS wrong").await.0, 421);
    let banned = TcpStream::connect(srv.addr).await.unwrap();
    let words = first_words(banned, &v2("198.51.100.8:40001")).await.unwrap_or_default();
    assert!(words.starts_with("421") && words.contains("failed logins"), "{words:?}");
    let _fine = through_proxy(&srv, v2("198.51.100.9:40000")).await;

    // IP rules: a denied client is refused although the proxy is allowed.
    let denied = TcpStream::connect(srv.addr).await.unwrap();
    let words = first_words(denied, &v2("198.51.100.66:1")).await.unwrap_or_default();
    assert!(words.starts_with("421") && words.contains("not allowed"), "{words:?}");

    // An account's allowed addresses: `limited` may log in from 127.0.0.1 only.
    let mut far = through_proxy(&srv, v2("198.51.100.10:1")).await;
    assert_eq!(far.cmd("USER limited").await.0, 331);
    assert_eq!(far.cmd("PASS limited").await.0, 530);
    let mut near = through_proxy(&srv, v2("127.0.0.1:1")).await;
    assert_eq!(near.cmd("USER limited").await.0, 331);
    assert_eq!(near.cmd("PASS limited").await.0, 230);
    srv.stop().await;
}

#[tokio::test]
async fn untrusted_missing_malformed_and_slow_headers_are_refused() {
    let srv = TestServer::start_on(
        |o| o.proxy_protocol = trusting(&["127.0.0.2"]),
        |tcp| Listener::new(tcp).with_proxy_protocol(),
    )
    .await;
    // A valid header from an address that is not a trusted proxy.
    let untrusted = tcp_from("127.0.0.1", srv.addr).await;
    assert_eq!(first_words(untrusted, &v2("198.51.100.7:1")).await, None);
    // A trusted proxy without a header (a direct client on the proxy's address).
    let bare = tcp_from("127.0.0.2", srv.addr).await;
    assert_eq!(first_words(bare, b"USER alice\r\n").await, None);
    // A malformed header.
    let malformed = tcp_from("127.0.0.2", srv.addr).await;
    assert_eq!(first_words(malformed, b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 21\r\n").await, None);
    // Half a header, then nothing: cut off at the header timeout.
    let started = std::time::Instant::now();
    let slow = tcp_from("127.0.0.2", srv.addr).await;
    assert_eq!(first_words(slow, &v2("198.51.100.7:1")[..20]).await, None);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    // The server still serves a proper one.
    let mut good = tcp_from("127.0.0.2", srv.addr).await;
    good.write_all(&v1("198.51.100.7:1")).await.unwrap();
    let mut raw = Raw::from_stream(good).await;
    assert_eq!(raw.cmd("NOOP").await.0, 200);
    srv.stop().await;
}

#[tokio::test]
async fn a_listener_without_proxy_protocol_takes_a_header_as_a_bad_command() {
    let srv = TestServer::start_with(|o| o.proxy_protocol = trusting(&["127.0.0.1"])).await;
    let mut raw = Raw::connect(srv.addr).await;
    let (code, _) = raw.cmd("PROXY TCP4 198.51.100.7 203.0.113.1 1 21").await;
    assert!((500..=502).contains(&code), "{code}");
    let (_, text) = raw.cmd("STAT").await;
    assert!(text.contains("Connected from 127.0.0.1:"), "{text}");
    srv.stop().await;
}

/// Open a passive data connection the way a balancer forwards one: EPSV,
/// then connect to the port and send `header` first.
async fn data_through_proxy(raw: &mut Raw, header: &[u8]) -> TcpStream {
    let (code, text) = raw.cmd("EPSV").await;
    assert_eq!(code, 229, "{text}");
    let port: u16 = text.split("|||").nth(1).and_then(|s| s.split('|').next()).unwrap().parse().unwrap();
    let mut data = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).await.unwrap();
    data.write_all(header).await.unwrap();
    data
}

#[tokio::test]
async fn passive_connections_through_the_proxy_are_matched_by_the_client_in_their_header() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let srv = TestServer::start_on(
        |o| {
            o.proxy_protocol = trusting(&["127.0.0.1"]);
            o.passive_proxy_protocol = true;
            o.passive_ports = Some((port, port));
            o.data_timeout = Duration::from_secs(2);
        },
        |tcp| Listener::new(tcp).with_proxy_protocol(),
    )
    .await;
    std::fs::write(srv.path("alice/a.txt"), b"via the proxy").unwrap();
    let login = |client: &'static str| {
        let srv = &srv;
        async move {
            let mut raw = through_proxy(srv, v2(client)).await;
            assert_eq!(raw.cmd("USER alice").await.0, 331);
            assert_eq!(raw.cmd("PASS secret").await.0, 230);
            raw
        }
    };
    // Two clients behind the proxy share the one passive port.
    let mut a = login("198.51.100.7:1000").await;
    let mut b = login("198.51.100.8:1000").await;
    let mut data_a = data_through_proxy(&mut a, &v2("198.51.100.7:1001")).await;
    let mut data_b = data_through_proxy(&mut b, &v1("198.51.100.8:1001")).await;
    for (raw, data) in [(&mut a, &mut data_a), (&mut b, &mut data_b)] {
        assert_eq!(raw.cmd("RETR a.txt").await.0, 150);
        let mut got = Vec::new();
        data.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"via the proxy");
        assert_eq!(raw.reply().await.0, 226);
    }
    // A data connection whose header names another client is not given to a.
    let mut stranger = data_through_proxy(&mut a, &v2("198.51.100.99:1")).await;
    assert_eq!(a.cmd("RETR a.txt").await.0, 150);
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stranger.read_to_end(&mut got)).await;
    assert!(got.is_empty(), "the file went to another client: {got:?}");
    assert_eq!(a.reply().await.0, 425);
    // Nor is a data connection without a header.
    let (code, text) = a.cmd("EPSV").await;
    assert_eq!(code, 229, "{text}");
    let mut bare = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).await.unwrap();
    assert_eq!(a.cmd("RETR a.txt").await.0, 150);
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), bare.read_to_end(&mut got)).await;
    assert!(got.is_empty());
    assert_eq!(a.reply().await.0, 425);
    assert_eq!(a.cmd("NOOP").await.0, 200);
    srv.stop().await;
}

#[tokio::test]
async fn a_port_range_of_two_carries_many_transfers_at_once() {
    // Capacity, as documented in oxftp_core's passive module: a port is held
    // only while a session waits for its data connection, so two ports carry
    // any number of transfers in progress; sessions at different client
    // addresses also wait on the same port at the same moment.
    let lo = loop {
        let p = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            break p;
        }
    };
    let srv = TestServer::start_with(|o| o.passive_ports = Some((lo, lo + 1))).await;
    let big = vec![7u8; 8 * 1024 * 1024];
    std::fs::write(srv.path("alice/big.bin"), &big).unwrap();
    let sources: Vec<IpAddr> = (1..=4).map(|i| format!("127.0.0.{i}").parse().unwrap()).collect();
    let mut sessions = Vec::new();
    for i in 0..12 {
        let from = sources[i % sources.len()];
        let mut raw = Raw::from_stream(tcp_from(&from.to_string(), srv.addr).await).await;
        assert_eq!(raw.cmd("USER alice").await.0, 331);
        assert_eq!(raw.cmd("PASS secret").await.0, 230);
        assert_eq!(raw.cmd("TYPE I").await.0, 200);
        sessions.push((raw, from));
    }
    let epsv =
        |text: &str| -> u16 { text.split("|||").nth(1).and_then(|s| s.split('|').next()).unwrap().parse().unwrap() };
    // 8 sessions, two per address, wait on the 2 ports at the same moment.
    let mut ports = Vec::new();
    for (raw, _) in &mut sessions[..8] {
        let (code, text) = raw.cmd("EPSV").await;
        assert_eq!(code, 229, "{text}");
        let port = epsv(&text);
        assert!((lo..=lo + 1).contains(&port), "{port}");
        ports.push(port);
    }
    // A third session of one address finds both ports taken for it.
    let (code, text) = sessions[8].0.cmd("EPSV").await;
    assert_eq!(code, 425, "{text}");
    // The 8 connect and start; then the other 4 get ports and start too.
    let mut running = Vec::new();
    for (i, (raw, from)) in sessions.iter_mut().enumerate() {
        let port = match ports.get(i) {
            Some(port) => *port,
            None => {
                let (code, text) = raw.cmd("EPSV").await;
                assert_eq!(code, 229, "{text}");
                epsv(&text)
            }
        };
        let data = tcp_from(&from.to_string(), SocketAddr::from(([127, 0, 0, 1], port))).await;
        assert_eq!(raw.cmd("RETR big.bin").await.0, 150);
        running.push(data);
    }
    // 12 transfers in progress at once on a range of 2 ports.
    let reads: Vec<_> = running
        .into_iter()
        .map(|mut data| {
            tokio::spawn(async move {
                let mut got = Vec::new();
                data.read_to_end(&mut got).await.map(|_| got.len())
            })
        })
        .collect();
    let lens = futures_lens(reads).await;
    assert!(lens.iter().all(|n| *n == big.len()), "{lens:?}");
    for (raw, _) in &mut sessions {
        assert_eq!(raw.reply().await.0, 226);
    }
    srv.stop().await;
}

async fn futures_lens(tasks: Vec<tokio::task::JoinHandle<std::io::Result<usize>>>) -> Vec<usize> {
    let mut out = Vec::new();
    for task in tasks {
        out.push(tokio::time::timeout(Duration::from_secs(30), task).await.unwrap().unwrap().unwrap());
    }
    out
}
