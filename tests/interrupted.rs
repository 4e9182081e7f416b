//! Interrupted transfers in every order, over and over: RETR, STOR, LIST and
//! MLSD, each cut by ABOR, by closing the data connection, by closing the
//! control connection, by both in either order, by ABOR and an immediate
//! close, and before the data connection is even made; plain and over TLS;
//! hundreds of rounds. Afterwards nothing has leaked: the process has the
//! same open descriptors (sockets, passive listeners, files) and the same
//! live tasks as before, every session slot is free, and no upload left a
//! temporary file. (ProFTPD's interrupted-transfer use-after-free was this
//! class.) One test: it counts the whole process's descriptors and tasks.

#[allow(dead_code)]
mod common;

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use common::TestServer;
use common::pki::{Pki, read_reply};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Stream = Pin<Box<dyn Io>>;

/// How a round interrupts its transfer.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// ABOR on the control connection, replies read, then the data closed.
    Abor,
    /// The client closes the data connection; the session goes on.
    DataClose,
    /// The client closes the control connection, then the data connection.
    ControlClose,
    /// Data connection, then control connection, at once.
    DataThenControl,
    /// ABOR sent and both connections closed without reading anything.
    AborAndVanish,
    /// The control connection closed before the data connection was made.
    CloseBeforeConnect,
    /// ABOR before the data connection was made.
    AborBeforeConnect,
}

const CUTS: [Cut; 7] = [
    Cut::Abor,
    Cut::DataClose,
    Cut::ControlClose,
    Cut::DataThenControl,
    Cut::AborAndVanish,
    Cut::CloseBeforeConnect,
    Cut::AborBeforeConnect,
];

const COMMANDS: [&str; 4] = ["RETR big.bin", "STOR up.bin", "LIST many", "MLSD many"];

/// A logged-in control connection (TLS with PROT P when `tls` is given).
async fn login(addr: SocketAddr, tls: Option<&TlsConnector>) -> BufReader<Stream> {
    let mut plain = BufReader::new(TcpStream::connect(addr).await.expect("connect"));
    assert_eq!(read_reply(&mut plain).await.0, 220);
    let stream: Stream = match tls {
        Some(connector) => {
            plain.get_mut().write_all(b"AUTH TLS\r\n").await.expect("write");
            assert_eq!(read_reply(&mut plain).await.0, 234);
            let name = "localhost".try_into().expect("name");
            Box::pin(connector.connect(name, plain.into_inner()).await.expect("handshake"))
        }
        None => Box::pin(plain.into_inner()),
    };
    let mut ctl = BufReader::new(stream);
    assert_eq!(cmd(&mut ctl, "USER alice").await, 331);
    assert_eq!(cmd(&mut ctl, "PASS secret").await, 230);
    if tls.is_some() {
        assert_eq!(cmd(&mut ctl, "PBSZ 0").await, 200);
        assert_eq!(cmd(&mut ctl, "PROT P").await, 200);
    }
    assert_eq!(cmd(&mut ctl, "TYPE I").await, 200);
    ctl
}

async fn send(ctl: &mut BufReader<Stream>, line: &str) {
    ctl.get_mut().write_all(format!("{line}\r\n").as_bytes()).await.expect("write");
    ctl.get_mut().flush().await.expect("flush");
}

async fn cmd(ctl: &mut BufReader<Stream>, line: &str) -> u16 {
    send(ctl, line).await;
    read_reply(ctl).await.0
}

/// EPSV and a TCP connection to its port.
async fn data_socket(ctl: &mut BufReader<Stream>) -> TcpStream {
    send(ctl, "EPSV").await;
    let (code, text) = read_reply(ctl).await;
    assert_eq!(code, 229, "{text}");
    let port: u16 =
        text.split("|||").nth(1).and_then(|s| s.split('|').next()).and_then(|p| p.parse().ok()).expect("port");
    TcpStream::connect(("127.0.0.1", port)).await.expect("data connect")
}

/// Replies until the end of an ABOR (`226 ABOR successful.`); their codes.
async fn until_abor_done(ctl: &mut BufReader<Stream>) -> Vec<u16> {
    let mut codes = Vec::new();
    loop {
        let (code, text) = read_reply(ctl).await;
        codes.push(code);
        if text.contains("ABOR") {
            return codes;
        }
        assert!(codes.len() < 4, "{codes:?}");
    }
}

/// Moves a little data the way `command` does, so the transfer is under way.
async fn some_traffic(data: &mut Stream, command: &str) {
    let mut buf = vec![0u8; 64 * 1024];
    if command.starts_with("STOR") {
        let _ = data.write_all(&buf).await;
    } else {
        let _ = tokio::time::timeout(Duration::from_secs(5), data.read(&mut buf)).await;
    }
}

/// One interrupted transfer.
async fn round(addr: SocketAddr, tls: Option<&TlsConnector>, command: &str, cut: Cut) {
    let mut ctl = login(addr, tls).await;
    let tcp = data_socket(&mut ctl).await;
    send(&mut ctl, command).await;
    let (code, text) = read_reply(&mut ctl).await;
    assert_eq!(code, 150, "{command}: {text}");
    match cut {
        Cut::CloseBeforeConnect => {
            drop(ctl);
            drop(tcp);
            return;
        }
        Cut::AborBeforeConnect => {
            send(&mut ctl, "ABOR").await;
            let codes = until_abor_done(&mut ctl).await;
            assert_eq!(codes.last(), Some(&226), "{command} {cut:?}: {codes:?}");
            drop(tcp);
            assert_eq!(cmd(&mut ctl, "NOOP").await, 200);
            return;
        }
        _ => {}
    }
    let mut data: Stream = match tls {
        Some(connector) => match connector.connect("localhost".try_into().unwrap(), tcp).await {
            Ok(stream) => Box::pin(stream),
            Err(e) => panic!("{command} {cut:?}: data handshake: {e}"),
        },
        None => Box::pin(tcp),
    };
    some_traffic(&mut data, command).await;
    match cut {
        Cut::Abor => {
            send(&mut ctl, "ABOR").await;
            let codes = until_abor_done(&mut ctl).await;
            assert!(matches!(codes.as_slice(), [426, 226] | [226, 226] | [451, 226]), "{command}: {codes:?}");
            drop(data);
            assert_eq!(cmd(&mut ctl, "NOOP").await, 200);
        }
        Cut::DataClose => {
            drop(data);
            let (code, text) = read_reply(&mut ctl).await;
            // An upload ends well (what was sent is the file); the others are cut.
            let expected: &[u16] = if command.starts_with("STOR") { &[226] } else { &[426, 226, 451] };
            assert!(expected.contains(&code), "{command} {cut:?}: {text}");
            assert_eq!(cmd(&mut ctl, "NOOP").await, 200);
        }
        Cut::ControlClose => {
            drop(ctl);
            tokio::time::sleep(Duration::from_millis(2)).await;
            some_traffic(&mut data, command).await;
            drop(data);
        }
        Cut::DataThenControl => {
            drop(data);
            drop(ctl);
        }
        Cut::AborAndVanish => {
            send(&mut ctl, "ABOR").await;
            drop(ctl);
            drop(data);
        }
        Cut::CloseBeforeConnect | Cut::AborBeforeConnect => unreachable!("handled above"),
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

/// Waits (up to 15 s) until descriptors and tasks are back to `baseline`.
async fn settled(baseline: (usize, usize)) -> (usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = (open_fds(), alive_tasks());
        if now <= baseline || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_transfers_in_every_order_leak_nothing() {
    let pki = Pki::new();
    let tls = pki.tls_config().build().expect("TLS");
    const SLOTS: usize = 12;
    let srv = TestServer::start_with(|o| {
        o.tls = Some(tls);
        o.max_sessions = SLOTS;
        o.data_timeout = Duration::from_secs(3);
    })
    .await;
    std::fs::write(srv.path("alice/big.bin"), vec![7u8; 32 << 20]).unwrap();
    std::fs::create_dir(srv.path("alice/many")).unwrap();
    for i in 0..5000 {
        std::fs::write(srv.path(&format!("alice/many/file-with-a-longish-name-{i:05}.txt")), b"x").unwrap();
    }
    let connector = pki.connector();
    // Warm up (lazily made runtime and TLS state), then the baseline.
    round(srv.addr, None, "RETR big.bin", Cut::Abor).await;
    round(srv.addr, Some(&connector), "RETR big.bin", Cut::Abor).await;
    let baseline = settled((usize::MAX, usize::MAX)).await;
    let baseline = (open_fds().min(baseline.0), alive_tasks().min(baseline.1));

    let started = Instant::now();
    let mut rounds = 0;
    for (reps, tls) in [(8, None), (3, Some(&connector))] {
        for _ in 0..reps {
            for cut in CUTS {
                for command in COMMANDS {
                    round(srv.addr, tls, command, cut).await;
                    rounds += 1;
                }
            }
        }
    }
    let after = settled(baseline).await;
    eprintln!(
        "{rounds} interrupted transfers in {:?}; descriptors {} -> {}, tasks {} -> {}",
        started.elapsed(),
        baseline.0,
        after.0,
        baseline.1,
        after.1
    );
    assert!(rounds >= 300);
    assert!(after.0 <= baseline.0, "descriptors leaked: {} before, {} after", baseline.0, after.0);
    assert!(after.1 <= baseline.1, "tasks leaked: {} before, {} after", baseline.1, after.1);
    // Every session slot is free again: max_sessions connections all get in.
    let mut all = Vec::new();
    for _ in 0..SLOTS {
        all.push(login(srv.addr, None).await);
    }
    // No upload left anything behind, and none was published half: each STOR
    // either finished (data closed: 226) or is gone.
    let leftovers: Vec<String> = std::fs::read_dir(srv.path("alice"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".oxftp-upload."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    drop(all);
    srv.stop().await;
}
