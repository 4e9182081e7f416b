//! The classes of bugs FTP servers keep having, each as a test that keeps
//! it closed here (in-process engine, real sockets, real rustls clients):
//!
//! - command injection through NUL, CR or LF in arguments and user names
//!   (Wing FTP CVE-2025-47812): refused at the parser, never reaching a
//!   login, a path or a log line; names with CR/LF on disk never break a
//!   listing's lines (LIST, NLST, MLSD, STAT);
//! - ALPACA (CVE-2021-3618): TLS refuses ALPN other than `ftp`, optional
//!   strict SNI, and an HTTP request before login is cut off after a few
//!   unknown lines, before its body is read;
//! - anonymous RNFR in a read-only area: 550 at RNFR.
//!
//! (Log lines: `oxftpd`'s terminal log escapes control characters, see its
//! `logging` tests; xferlog lines replace them, see `xferlog`; hooks run
//! without a shell, see `oxftp-hooks/tests/hooks.rs`.)

#[allow(dead_code)]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::pki::{Pki, read_reply};
use common::{Raw, TestServer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[tokio::test]
async fn anonymous_rnfr_in_a_read_only_area_is_refused_at_rnfr() {
    let srv = TestServer::start().await;
    std::fs::write(srv.path("pub/readme.txt"), b"hello").unwrap();
    std::fs::write(srv.path("pub/incoming/theirs.txt"), b"theirs").unwrap();
    std::fs::write(srv.path("alice/mine.txt"), b"mine").unwrap();
    let mut anon = Raw::login(srv.addr, "anonymous", "a@b.c").await;
    for path in ["readme.txt", "/readme.txt", "incoming", "incoming/theirs.txt"] {
        let (code, text) = anon.cmd(&format!("RNFR {path}")).await;
        assert_eq!(code, 550, "RNFR {path}: {text}");
        // No rename is pending: RNTO has nothing to follow.
        assert_eq!(anon.cmd("RNTO stolen.txt").await.0, 503);
    }
    assert_eq!(anon.cmd("RNFR missing").await.0, 550);
    // A read-only account too; a normal one still gets 350.
    let mut ro = Raw::login(srv.addr, "ro", "ro").await;
    assert_eq!(ro.cmd("RNFR mine.txt").await.0, 550);
    let mut alice = Raw::login(srv.addr, "alice", "secret").await;
    assert_eq!(alice.cmd("RNFR mine.txt").await.0, 350);
    assert_eq!(alice.cmd("RNTO yours.txt").await.0, 250);
    assert!(srv.path("pub/readme.txt").is_file() && srv.path("alice/yours.txt").is_file());
    srv.stop().await;
}

#[tokio::test]
async fn nul_cr_and_lf_inside_arguments_never_reach_a_command() {
    let srv = TestServer::start().await;
    let mut raw = Raw::connect(srv.addr).await;
    // Wing FTP's CVE-2025-47812: "anonymous\0<code>" passed the C-string
    // login check as "anonymous" and the rest reached a session file.
    for line in [
        &b"USER anonymous\0]]\r\n"[..],
        b"USER alice\0x\r\n",
        b"USER ali\rce\r\n",
        b"USER a\rPASS secret\r\n",
        b"PASS a\0b\r\n",
    ] {
        raw.send_bytes(line).await;
        let (code, text) = raw.reply().await;
        assert_eq!(code, 501, "{line:?}: {text}");
    }
    // Nothing was half-accepted: PASS still wants a USER first.
    assert_eq!(raw.cmd("PASS secret").await.0, 503);
    assert_eq!(raw.cmd("USER alice").await.0, 331);
    assert_eq!(raw.cmd("PASS secret").await.0, 230);
    for line in
        [&b"MKD a\0b\r\n"[..], b"MKD a\rb\r\n", b"DELE x\0y\r\n", b"CWD ..\0/etc\r\n", b"SITE CHMOD 777 a\rb\r\n"]
    {
        raw.send_bytes(line).await;
        assert_eq!(raw.reply().await.0, 501, "{line:?}");
    }
    // A bare LF ends the line (as telnet clients send it): what follows is
    // the next command, never part of this one's argument.
    raw.send_bytes(b"MKD first\nMKD second\r\n").await;
    assert_eq!(raw.reply().await.0, 257);
    assert_eq!(raw.reply().await.0, 257);
    let mut made: Vec<String> = std::fs::read_dir(srv.path("alice"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "upload")
        .collect();
    made.sort();
    assert_eq!(made, ["first", "second"], "only the two well-formed MKDs made anything");
    srv.stop().await;
}

#[tokio::test]
async fn names_with_cr_or_lf_on_disk_never_break_a_listing() {
    let srv = TestServer::start().await;
    let evil = ["a\r\n226 Transfer complete.", "b\n550 fake", "c\rx"];
    for name in evil {
        std::fs::write(srv.path(&format!("alice/{name}")), b"x").unwrap();
    }
    let mut raw = Raw::login(srv.addr, "alice", "secret").await;
    // Over the control connection (the dangerous one: a fake reply line).
    let (code, text) = raw.cmd("STAT .").await;
    assert_eq!(code, 213, "{text}");
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2 + evil.len() + 1, "one line per entry: {text:?}");
    assert!(
        lines[1..lines.len() - 1].iter().all(|l| l.starts_with(' ') || !l.starts_with(char::is_numeric)),
        "{text:?}"
    );
    assert!(!text.replace("\r\n", "").contains(['\r', '\n']), "{text:?}");
    // Over data connections: every command gives one CRLF line per entry.
    for (command, entries) in [("LIST", evil.len() + 1), ("NLST", evil.len() + 1), ("MLSD", evil.len() + 1)] {
        let mut sock = raw.pasv_connect(None).await.unwrap();
        assert_eq!(raw.cmd(command).await.0, 150);
        let mut out = Vec::new();
        sock.read_to_end(&mut out).await.unwrap();
        assert_eq!(raw.reply().await.0, 226);
        let body = String::from_utf8_lossy(&out).into_owned();
        assert!(body.ends_with("\r\n"), "{command}: {body:?}");
        let lines: Vec<&str> = body.trim_end_matches("\r\n").split("\r\n").collect();
        assert_eq!(lines.len(), entries, "{command}: {body:?}");
        assert!(lines.iter().all(|l| !l.contains(['\r', '\n'])), "{command}: {body:?}");
        assert!(!lines.iter().any(|l| l.starts_with("226") || l.starts_with("550")), "{command}: {body:?}");
    }
    srv.stop().await;
}

/// Reads replies until the server closes the connection; returns their codes.
async fn codes_until_close(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Vec<u16> {
    let mut codes = Vec::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line)).await.unwrap().unwrap();
        if n == 0 {
            return codes;
        }
        if line.len() >= 4 && line.as_bytes()[3] == b' ' {
            codes.push(line[..3].parse().unwrap());
        }
    }
}

#[tokio::test]
async fn an_http_request_before_login_is_cut_off_before_its_body() {
    let srv = TestServer::start().await;
    // ALPACA: a browser made to POST to the FTP port; the body holds FTP commands.
    let post = "POST /upload HTTP/1.1\r\nHost: ftp.example.com:21\r\nContent-Type: text/plain\r\n\
                Content-Length: 64\r\n\r\nUSER alice\r\nPASS secret\r\nMKD from-the-browser\r\nQUIT\r\n";
    let stream = TcpStream::connect(srv.addr).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r);
    let mut greeting = String::new();
    reader.read_line(&mut greeting).await.unwrap();
    w.write_all(post.as_bytes()).await.unwrap();
    let codes = codes_until_close(&mut reader).await;
    assert_eq!(codes, [502, 502, 421], "two unknown lines, then closed at the third");
    assert!(!srv.path("alice/from-the-browser").exists(), "a command from the body ran");

    // A GET the same way.
    let stream = TcpStream::connect(srv.addr).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r);
    let mut greeting = String::new();
    reader.read_line(&mut greeting).await.unwrap();
    w.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: y\r\nAccept: */*\r\n\r\n").await.unwrap();
    assert_eq!(codes_until_close(&mut reader).await, [502, 502, 421]);

    // A client that probes a command or two before login goes on; after
    // login unknown commands are only answered.
    let mut raw = Raw::connect(srv.addr).await;
    assert_eq!(raw.cmd("XYZZY").await.0, 502);
    assert_eq!(raw.cmd("LANG en").await.0, 502);
    assert_eq!(raw.cmd("USER alice").await.0, 331);
    assert_eq!(raw.cmd("PASS secret").await.0, 230);
    for _ in 0..10 {
        assert_eq!(raw.cmd("XYZZY").await.0, 502);
    }
    assert_eq!(raw.cmd("NOOP").await.0, 200);
    srv.stop().await;

    // The limit is the server's to set; 0 turns it off.
    let srv = TestServer::start_with(|o| o.max_unknown_before_login = 0).await;
    let mut raw = Raw::connect(srv.addr).await;
    for _ in 0..20 {
        assert_eq!(raw.cmd("GET /").await.0, 502);
    }
    assert_eq!(raw.cmd("USER alice").await.0, 331);
    srv.stop().await;
}

/// Accepts any server certificate: the client side of a test where the
/// server, not the client, must refuse.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn trusting_anything(alpn: &[&[u8]]) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

/// An implicit FTPS handshake as `name` (an IP address sends no SNI), then
/// the greeting: `Ok(negotiated ALPN)` or the failure.
async fn implicit(addr: std::net::SocketAddr, connector: &TlsConnector, name: &str) -> Result<Option<Vec<u8>>, String> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let server_name = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
    let tls = connector.connect(server_name, tcp).await.map_err(|e| e.to_string())?;
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let mut io = BufReader::new(tls);
    // TLS 1.3 may report a refusal only at the first read.
    let mut line = String::new();
    match tokio::time::timeout(Duration::from_secs(10), io.read_line(&mut line)).await.unwrap() {
        Ok(n) if n > 0 && line.starts_with("220") => Ok(alpn),
        Ok(_) => Err(format!("no greeting: {line:?}")),
        Err(e) => Err(e.to_string()),
    }
}

async fn tls_server(tweak: impl FnOnce(&mut oxftp::TlsConfig)) -> (Pki, std::net::SocketAddr, std::net::SocketAddr) {
    let pki = Pki::new();
    let mut config = pki.tls_config();
    tweak(&mut config);
    let tls = config.build().expect("TLS");
    // An explicit (plain) and an implicit listener on the same server.
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let implicit = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (plain_addr, implicit_addr) = (plain.local_addr().unwrap(), implicit.local_addr().unwrap());
    let storage = Arc::new(oxftp::fs::LocalFsFactory::new(pki.file("")).unwrap());
    let auth = Arc::new(oxftp::policy::AnonymousLogin::new(
        Some(Arc::new(common::TestAccounts)),
        oxftp::VPath::parse(b"/").unwrap(),
        None,
    ));
    let mut options = oxftp::Options::default();
    options.tls = Some(tls);
    options.failed_login_delay = Duration::ZERO;
    let server = oxftp::Server::new(storage, auth).with_options(options);
    tokio::spawn(async move {
        server
            .run_listeners(
                vec![oxftp::Listener::new(plain), oxftp::Listener::implicit_tls(implicit)],
                std::future::pending(),
            )
            .await
    });
    (pki, plain_addr, implicit_addr)
}

#[tokio::test]
async fn tls_refuses_a_client_asking_for_another_application_protocol() {
    let (pki, plain, implicit_addr) = tls_server(|_| {}).await;
    let trusted = |alpn: &[&[u8]]| TlsConnector::from(Arc::new(pki.client_config(alpn)));
    // A browser's ALPN (ALPACA): refused, on implicit ...
    for offer in [&[&b"http/1.1"[..]][..], &[b"h2", b"http/1.1"], &[b"imap"]] {
        let result = implicit(implicit_addr, &trusted(offer), "localhost").await;
        assert!(result.is_err(), "ALPN {offer:?} was served: {result:?}");
    }
    // ... and on explicit FTPS.
    let tcp = TcpStream::connect(plain).await.unwrap();
    let mut ctl = BufReader::new(tcp);
    assert_eq!(read_reply(&mut ctl).await.0, 220);
    ctl.get_mut().write_all(b"AUTH TLS\r\n").await.unwrap();
    assert_eq!(read_reply(&mut ctl).await.0, 234);
    let refused = trusted(&[b"http/1.1"]).connect("localhost".try_into().unwrap(), ctl.into_inner()).await;
    if let Ok(tls) = refused {
        let mut io = BufReader::new(tls);
        io.get_mut().write_all(b"NOOP\r\n").await.ok();
        let mut line = String::new();
        let read = io.read_line(&mut line).await;
        assert!(read.is_err() || line.is_empty(), "served over ALPN http/1.1: {line:?}");
    }
    // "ftp", or no ALPN at all (most FTP clients), is served.
    assert_eq!(implicit(implicit_addr, &trusted(&[b"ftp"]), "localhost").await.unwrap(), Some(b"ftp".to_vec()));
    assert_eq!(implicit(implicit_addr, &trusted(&[b"http/1.1", b"ftp"]), "localhost").await.unwrap().unwrap(), b"ftp");
    assert_eq!(implicit(implicit_addr, &trusted(&[]), "localhost").await.unwrap(), None);
}

#[tokio::test]
async fn strict_sni_refuses_handshakes_for_other_names() {
    let (_pki, _, implicit_addr) = tls_server(|c| c.server_names = vec!["FTP.example.com".into()]).await;
    let client = trusting_anything(&[]);
    assert!(implicit(implicit_addr, &client, "ftp.example.com").await.is_ok(), "the configured name");
    for name in ["www.example.com", "localhost", "example.com"] {
        let result = implicit(implicit_addr, &client, name).await;
        assert!(result.is_err(), "SNI {name} was served");
    }
    // By IP address a client sends no SNI: refused under strict SNI.
    assert!(implicit(implicit_addr, &client, "127.0.0.1").await.is_err(), "no SNI was served");
    // Without server_names nothing is checked.
    let (_pki, _, open) = tls_server(|_| {}).await;
    assert!(implicit(open, &client, "anything.example").await.is_ok());
    assert!(implicit(open, &client, "127.0.0.1").await.is_ok());
}
