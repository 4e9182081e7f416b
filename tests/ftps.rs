//! FTPS in-process tests: AUTH TLS, PBSZ/PROT, TLS data connections with
//! session reuse enforced, policies, implicit FTPS and start-up errors — with a
//! real rustls client over real loopback sockets and certificates made by rcgen.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use oxftp::fs::LocalFsFactory;
use oxftp::policy::AnonymousLogin;
use oxftp::{
    AccessClass, AuthError, Authenticator, Credentials, Identity, Listener, Options, Server, SessionReuse, TlsConfig,
    TlsError, TlsRequirement, VPath,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A CA, a server certificate for localhost/127.0.0.1 and the files the server reads.
struct Pki {
    dir: tempfile::TempDir,
    ca_der: Vec<u8>,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "oxftp test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server_params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
        std::fs::write(dir.path().join("server.pem"), server_cert.pem() + &ca_cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).unwrap();
        let mut expired = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        expired.not_before = rcgen::date_time_ymd(2000, 1, 1);
        expired.not_after = rcgen::date_time_ymd(2001, 1, 1);
        let expired = expired.signed_by(&server_key, &issuer).unwrap();
        std::fs::write(dir.path().join("expired.pem"), expired.pem()).unwrap();
        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params.distinguished_name.push(DnType::CommonName, "alice");
        client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();
        std::fs::write(dir.path().join("client.pem"), client_cert.pem()).unwrap();
        std::fs::write(dir.path().join("client.key"), client_key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        let other_key = KeyPair::generate().unwrap();
        std::fs::write(dir.path().join("other.key"), other_key.serialize_pem()).unwrap();
        Pki { ca_der: ca_cert.der().to_vec(), dir }
    }

    fn file(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn tls_config(&self) -> TlsConfig {
        TlsConfig::new(self.file("server.pem"), self.file("server.key"))
    }

    /// A client whose session cache lets data connections resume the control connection's session.
    fn connector(&self) -> TlsConnector {
        TlsConnector::from(Arc::new(self.client_builder().with_no_client_auth()))
    }

    /// A client presenting the `alice` certificate.
    fn connector_with_cert(&self) -> TlsConnector {
        use rustls_pki_types::pem::PemObject;
        let chain = vec![rustls_pki_types::CertificateDer::from_pem_file(self.file("client.pem")).unwrap()];
        let key = rustls_pki_types::PrivateKeyDer::from_pem_file(self.file("client.key")).unwrap();
        TlsConnector::from(Arc::new(self.client_builder().with_client_auth_cert(chain, key).unwrap()))
    }

    fn client_builder(&self) -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert> {
        self.client_builder_for(rustls::DEFAULT_VERSIONS)
    }

    /// A TLS 1.2 client with one session cache for all its connections, as
    /// Go's TLS (rclone) has: it keeps one TLS 1.2 session per server, the
    /// latest, and offers it on every new connection, control or data.
    fn pooled_tls12_connector(&self) -> TlsConnector {
        TlsConnector::from(Arc::new(self.client_builder_for(&[&rustls::version::TLS12]).with_no_client_auth()))
    }

    fn client_builder_for(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(rustls_pki_types::CertificateDer::from(self.ca_der.clone())).unwrap();
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
    }
}

#[derive(Debug)]
struct Alice;

#[async_trait::async_trait]
impl Authenticator for Alice {
    async fn authenticate(&self, c: &Credentials) -> Result<Identity, AuthError> {
        if (c.user == "alice" || c.user == "bob") && c.password == "secret" {
            let mut id = Identity::new(c.user.clone(), AccessClass::User);
            id.home = VPath::parse(b"/alice").unwrap();
            id.root = id.home.clone();
            Ok(id)
        } else {
            Err(AuthError::BadPassword)
        }
    }

    async fn certificate_login(&self, user: &str, _peer: SocketAddr) -> Result<Identity, AuthError> {
        if user != "alice" {
            return Err(AuthError::UnknownUser);
        }
        let mut id = Identity::new("alice", AccessClass::User);
        id.home = VPath::parse(b"/alice").unwrap();
        id.root = id.home.clone();
        Ok(id)
    }
}

struct Fixture {
    addr: SocketAddr,
    root: tempfile::TempDir,
}

async fn serve(tls: TlsConfig, implicit: bool) -> Fixture {
    serve_on(tls, move |tcp| if implicit { Listener::implicit_tls(tcp) } else { Listener::new(tcp) }, |_| {}).await
}

async fn serve_on(
    tls: TlsConfig,
    listener: impl FnOnce(tokio::net::TcpListener) -> Listener + Send + 'static,
    tweak: impl FnOnce(&mut Options),
) -> Fixture {
    let root = tempfile::tempdir().unwrap();
    for d in ["alice", "pub"] {
        std::fs::create_dir_all(root.path().join(d)).unwrap();
    }
    std::fs::write(root.path().join("alice/a.txt"), b"over TLS").unwrap();
    let storage = Arc::new(LocalFsFactory::new(root.path()).unwrap());
    let auth = Arc::new(AnonymousLogin::new(Some(Arc::new(Alice)), VPath::parse(b"/pub").unwrap(), None));
    let mut options = Options::default();
    options.tls = Some(tls.build().unwrap());
    options.failed_login_delay = Duration::ZERO;
    tweak(&mut options);
    let server = Server::new(storage, auth).with_options(options);
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(async move { server.run_listeners(vec![listener(tcp)], std::future::pending()).await });
    Fixture { addr, root }
}

/// A control connection over any stream.
struct Ctl<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Ctl<S> {
    async fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.io.read_line(&mut line)).await.unwrap().unwrap();
            assert!(n > 0, "connection closed");
            text.push_str(&line);
            if line.len() >= 4 && line.as_bytes()[3] == b' ' && text[..3] == line[..3] {
                return (text[..3].parse().unwrap(), text);
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.io.get_mut().write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
        self.io.get_mut().flush().await.unwrap();
        self.reply().await
    }

    async fn epsv_port(&mut self) -> u16 {
        let (code, text) = self.cmd("EPSV").await;
        assert_eq!(code, 229, "{text}");
        text.split("|||").nth(1).and_then(|s| s.split('|').next()).and_then(|p| p.parse().ok()).unwrap()
    }
}

/// Connect, AUTH TLS, handshake: a TLS control connection after the greeting.
async fn explicit(fx: &Fixture, connector: &TlsConnector) -> Ctl<tokio_rustls::client::TlsStream<TcpStream>> {
    explicit_from(fx, connector, [127, 0, 0, 1]).await
}

/// [`explicit`] from another loopback address (all of 127/8 is this host).
async fn explicit_from(
    fx: &Fixture,
    connector: &TlsConnector,
    source: [u8; 4],
) -> Ctl<tokio_rustls::client::TlsStream<TcpStream>> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    let mut plain = Ctl { io: BufReader::new(socket.connect(fx.addr).await.unwrap()) };
    assert_eq!(plain.reply().await.0, 220);
    assert_eq!(plain.cmd("AUTH TLS").await.0, 234);
    let tcp = plain.io.into_inner();
    let tls = connector.connect("localhost".try_into().unwrap(), tcp).await.unwrap();
    Ctl { io: BufReader::new(tls) }
}

async fn login_private<S: AsyncRead + AsyncWrite + Unpin>(ctl: &mut Ctl<S>) {
    login_private_as(ctl, "alice").await;
}

async fn login_private_as<S: AsyncRead + AsyncWrite + Unpin>(ctl: &mut Ctl<S>, user: &str) {
    assert_eq!(ctl.cmd(&format!("USER {user}")).await.0, 331);
    assert_eq!(ctl.cmd("PASS secret").await.0, 230);
    assert_eq!(ctl.cmd("PBSZ 0").await.0, 200);
    assert_eq!(ctl.cmd("PROT P").await.0, 200);
    assert_eq!(ctl.cmd("TYPE I").await.0, 200);
}

#[tokio::test]
async fn explicit_ftps_download_over_a_resumed_tls_data_connection() {
    let pki = Pki::new();
    let fx = serve(pki.tls_config(), false).await;
    let connector = pki.connector();
    let mut ctl = explicit(&fx, &connector).await;
    login_private(&mut ctl).await;
    let port = ctl.epsv_port().await;
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (code, _) = ctl.cmd("RETR a.txt").await;
    assert_eq!(code, 150);
    let mut data = connector.connect("localhost".try_into().unwrap(), tcp).await.unwrap();
    let mut got = Vec::new();
    data.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"over TLS");
    let (code, text) = ctl.reply().await;
    assert_eq!(code, 226, "{text}");

    // Upload too, then check the bytes on disk.
    let port = ctl.epsv_port().await;
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    assert_eq!(ctl.cmd("STOR up.bin").await.0, 150);
    let mut data = connector.connect("localhost".try_into().unwrap(), tcp).await.unwrap();
    data.write_all(&[7u8; 100_000]).await.unwrap();
    data.shutdown().await.unwrap();
    drop(data);
    let (code, text) = ctl.reply().await;
    assert_eq!(code, 226, "{text}");
    assert_eq!(std::fs::read(fx.root.path().join("alice/up.bin")).unwrap(), vec![7u8; 100_000]);
}

#[tokio::test]
async fn a_data_connection_that_does_not_resume_the_session_is_refused() {
    let pki = Pki::new();
    let fx = serve(pki.tls_config(), false).await;
    let mut ctl = explicit(&fx, &pki.connector()).await;
    login_private(&mut ctl).await;
    let port = ctl.epsv_port().await;
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    assert_eq!(ctl.cmd("RETR a.txt").await.0, 150);
    // A different client (no shared session cache): what a connection thief would be.
    let _ = pki.connector().connect("localhost".try_into().unwrap(), tcp).await;
    let (code, text) = ctl.reply().await;
    assert_eq!(code, 522, "{text}");
    assert_eq!(ctl.cmd("NOOP").await.0, 200);
}

#[tokio::test]
async fn tls_policies_refuse_plaintext_with_rfc4217_codes() {
    let pki = Pki::new();
    let mut cfg = pki.tls_config();
    cfg.control = TlsRequirement::Accounts;
    cfg.data = TlsRequirement::Accounts;
    let fx = serve(cfg, false).await;
    let mut plain = Ctl { io: BufReader::new(TcpStream::connect(fx.addr).await.unwrap()) };
    assert_eq!(plain.reply().await.0, 220);
    assert_eq!(plain.cmd("USER alice").await.0, 534);
    assert_eq!(plain.cmd("PBSZ 0").await.0, 503);
    // Anonymous may stay in plaintext under "accounts".
    assert_eq!(plain.cmd("USER anonymous").await.0, 331);
    assert_eq!(plain.cmd("PASS a@b.c").await.0, 230);

    let mut ctl = explicit(&fx, &pki.connector()).await;
    assert_eq!(ctl.cmd("USER alice").await.0, 331);
    assert_eq!(ctl.cmd("PASS secret").await.0, 230);
    assert_eq!(ctl.cmd("PROT P").await.0, 503);
    assert_eq!(ctl.cmd("PBSZ 0").await.0, 200);
    assert_eq!(ctl.cmd("PROT C").await.0, 536);
    assert_eq!(ctl.cmd("PROT S").await.0, 536);
    assert_eq!(ctl.cmd("PROT X").await.0, 504);
    ctl.epsv_port().await;
    assert_eq!(ctl.cmd("RETR a.txt").await.0, 521);
    assert_eq!(ctl.cmd("CCC").await.0, 534);
    assert_eq!(ctl.cmd("AUTH TLS").await.0, 503);
}

#[tokio::test]
async fn commands_pipelined_before_the_handshake_are_discarded() {
    let pki = Pki::new();
    let fx = serve(pki.tls_config(), false).await;
    let mut plain = Ctl { io: BufReader::new(TcpStream::connect(fx.addr).await.unwrap()) };
    assert_eq!(plain.reply().await.0, 220);
    plain.io.get_mut().write_all(b"AUTH TLS\r\nUSER alice\r\n").await.unwrap();
    assert_eq!(plain.reply().await.0, 234);
    let tls = pki.connector().connect("localhost".try_into().unwrap(), plain.io.into_inner()).await.unwrap();
    let mut ctl = Ctl { io: BufReader::new(tls) };
    // Had the injected USER run, PASS would log in; it must say "USER first".
    assert_eq!(ctl.cmd("PASS secret").await.0, 503);
}

#[tokio::test]
async fn implicit_ftps_greets_after_the_handshake() {
    let pki = Pki::new();
    let fx = serve(pki.tls_config(), true).await;
    let tcp = TcpStream::connect(fx.addr).await.unwrap();
    let tls = pki.connector().connect("localhost".try_into().unwrap(), tcp).await.unwrap();
    let mut ctl = Ctl { io: BufReader::new(tls) };
    assert_eq!(ctl.reply().await.0, 220);
    login_private(&mut ctl).await;
    let (code, text) = ctl.cmd("FEAT").await;
    assert_eq!(code, 211);
    for f in [" AUTH TLS", " PBSZ", " PROT"] {
        assert!(text.contains(f), "{text}");
    }
}

#[tokio::test]
async fn implicit_ftps_reads_the_proxy_header_before_the_handshake() {
    use oxftp_proto::proxy::{Addresses, Command, Transport, write_v2};
    let pki = Pki::new();
    let trusted = oxftp::net::ProxyProtocol {
        trusted: vec!["127.0.0.1".parse().unwrap()],
        header_timeout: Duration::from_secs(2),
    };
    let listener = |tcp| Listener::implicit_tls(tcp).with_proxy_protocol();
    let fx = serve_on(pki.tls_config(), listener, |o| o.proxy_protocol = trusted).await;
    let mut tcp = TcpStream::connect(fx.addr).await.unwrap();
    let addresses = Addresses::Inet {
        source: "198.51.100.7:5000".parse().unwrap(),
        destination: "203.0.113.1:990".parse().unwrap(),
    };
    tcp.write_all(&write_v2(Command::Proxy, Transport::Stream, &addresses, &[], false).unwrap()).await.unwrap();
    let tls = pki.connector().connect("localhost".try_into().unwrap(), tcp).await.unwrap();
    let mut ctl = Ctl { io: BufReader::new(tls) };
    assert_eq!(ctl.reply().await.0, 220);
    let (code, text) = ctl.cmd("STAT").await;
    assert_eq!(code, 211, "{text}");
    assert!(text.contains("Connected from 198.51.100.7:5000"), "{text}");
    // Without the header, the ClientHello is not a header: refused, no handshake.
    let tcp = TcpStream::connect(fx.addr).await.unwrap();
    assert!(pki.connector().connect("localhost".try_into().unwrap(), tcp).await.is_err());
}

#[test]
fn startup_errors_say_what_is_wrong_with_the_certificate() {
    let pki = Pki::new();
    let missing = TlsConfig::new(pki.file("nope.pem"), pki.file("server.key")).build();
    assert!(matches!(missing, Err(TlsError::Cert(..))), "{missing:?}");
    let mismatch = TlsConfig::new(pki.file("server.pem"), pki.file("other.key")).build();
    assert!(matches!(mismatch, Err(TlsError::Mismatch(..))), "{mismatch:?}");
    let expired = TlsConfig::new(pki.file("expired.pem"), pki.file("server.key")).build();
    let err = expired.unwrap_err();
    assert!(matches!(err, TlsError::Expired(..)), "{err:?}");
    assert!(err.to_string().contains("expired"));
    assert!(Path::new(&pki.file("server.pem")).exists());
}

#[tokio::test]
async fn a_client_certificate_alone_logs_its_user_in() {
    let pki = Pki::new();
    let mut cfg = pki.tls_config();
    cfg.client_certs = oxftp::ClientCertMode::Require;
    cfg.client_ca_file = Some(pki.file("ca.pem"));
    cfg.cert_cn_login = true;
    let fx = serve(cfg, false).await;
    let mut ctl = explicit(&fx, &pki.connector_with_cert()).await;
    assert_eq!(ctl.cmd("USER alice").await.0, 232);
    assert_eq!(ctl.cmd("PWD").await.0, 257);

    // Without a certificate the handshake itself fails under "require".
    let mut plain = Ctl { io: BufReader::new(TcpStream::connect(fx.addr).await.unwrap()) };
    assert_eq!(plain.reply().await.0, 220);
    assert_eq!(plain.cmd("AUTH TLS").await.0, 234);
    let tls = pki.connector().connect("localhost".try_into().unwrap(), plain.io.into_inner()).await;
    if let Ok(stream) = tls {
        // TLS 1.3 reports the refusal only on the first read.
        let mut ctl = Ctl { io: BufReader::new(stream) };
        ctl.io.get_mut().write_all(b"NOOP\r\n").await.unwrap();
        let mut line = String::new();
        assert!(ctl.io.read_line(&mut line).await.is_err() || line.is_empty(), "served without a certificate: {line}");
    }
}

/// RETR a.txt on `ctl` over a TLS data connection made with `connector`;
/// the final reply.
async fn retr_over<S: AsyncRead + AsyncWrite + Unpin>(ctl: &mut Ctl<S>, connector: &TlsConnector) -> (u16, String) {
    let port = ctl.epsv_port().await;
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    assert_eq!(ctl.cmd("RETR a.txt").await.0, 150);
    if let Ok(mut data) = connector.connect("localhost".try_into().unwrap(), tcp).await {
        let mut got = Vec::new();
        if data.read_to_end(&mut got).await.is_ok() && !got.is_empty() {
            assert_eq!(got, b"over TLS");
        }
    }
    ctl.reply().await
}

/// Two control connections of one client that shares its TLS session cache
/// (rclone's pool): the second connection's handshake replaces the cached
/// session, so the first connection's data connection offers a session
/// issued to the second. `second_user` logs in on the second, from
/// `second_source`.
async fn pooled(mode: SessionReuse, second_user: &str, second_source: [u8; 4]) -> (u16, String) {
    let pki = Pki::new();
    let mut cfg = pki.tls_config();
    cfg.require_session_reuse = mode;
    let fx = serve(cfg, false).await;
    let connector = pki.pooled_tls12_connector();
    let mut first = explicit(&fx, &connector).await;
    login_private(&mut first).await;
    // TLS 1.2 with tickets, resumed on the connection that got them.
    let (code, text) = retr_over(&mut first, &connector).await;
    assert_eq!(code, 226, "{text}");
    let mut second = explicit_from(&fx, &connector, second_source).await;
    login_private_as(&mut second, second_user).await;
    retr_over(&mut first, &connector).await
}

#[tokio::test]
async fn pooled_connections_of_one_account_share_sessions_by_default() {
    assert_eq!(TlsConfig::new("c", "k").require_session_reuse, SessionReuse::Account);
    let (code, text) = pooled(SessionReuse::Account, "alice", [127, 0, 0, 1]).await;
    assert_eq!(code, 226, "{text}");
}

#[tokio::test]
async fn per_connection_reuse_refuses_a_pooled_session() {
    let (code, text) = pooled(SessionReuse::Connection, "alice", [127, 0, 0, 1]).await;
    assert_eq!(code, 522, "{text}");
}

#[tokio::test]
async fn a_session_of_another_account_is_refused() {
    let (code, text) = pooled(SessionReuse::Account, "bob", [127, 0, 0, 1]).await;
    assert_eq!(code, 522, "{text}");
}

#[tokio::test]
async fn a_session_of_the_same_account_from_another_address_is_refused() {
    let (code, text) = pooled(SessionReuse::Account, "alice", [127, 0, 0, 2]).await;
    assert_eq!(code, 522, "{text}");
}

#[tokio::test]
async fn reuse_off_takes_a_full_handshake() {
    let pki = Pki::new();
    let mut cfg = pki.tls_config();
    cfg.require_session_reuse = SessionReuse::Off;
    let fx = serve(cfg, false).await;
    let mut ctl = explicit(&fx, &pki.connector()).await;
    login_private(&mut ctl).await;
    // A connector of its own: no session to resume.
    let (code, text) = retr_over(&mut ctl, &pki.connector()).await;
    assert_eq!(code, 226, "{text}");
}

#[tokio::test]
async fn tls_on_the_data_connection_may_start_before_the_command() {
    // aioftp connects to the EPSV port and starts its handshake first.
    let pki = Pki::new();
    let fx = serve(pki.tls_config(), false).await;
    let connector = pki.connector();
    let mut ctl = explicit(&fx, &connector).await;
    login_private(&mut ctl).await;
    let port = ctl.epsv_port().await;
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let handshake = tokio::spawn({
        let connector = connector.clone();
        async move { connector.connect("localhost".try_into().unwrap(), tcp).await }
    });
    let mut data = tokio::time::timeout(Duration::from_secs(5), handshake).await.unwrap().unwrap().unwrap();
    assert_eq!(ctl.cmd("RETR a.txt").await.0, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"over TLS");
    assert_eq!(ctl.reply().await.0, 226);
}
