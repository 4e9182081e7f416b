//! TLS for in-process tests: a CA and a server certificate for
//! localhost/127.0.0.1 made by rcgen, a rustls client trusting that CA, and
//! a control connection over TLS (explicit AUTH TLS or implicit).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oxftp::TlsConfig;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A CA and a server certificate in a temporary directory.
pub struct Pki {
    dir: tempfile::TempDir,
    ca_der: Vec<u8>,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_key = KeyPair::generate().expect("key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "oxftp fault-test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("key");
        let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        std::fs::write(dir.path().join("server.pem"), cert.pem() + &ca_cert.pem()).expect("write");
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).expect("write");
        Pki { ca_der: ca_cert.der().to_vec(), dir }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Server settings with this certificate (defaults otherwise).
    pub fn tls_config(&self) -> TlsConfig {
        TlsConfig::new(self.file("server.pem"), self.file("server.key"))
    }

    /// A client config trusting the CA, offering `alpn` (none when empty).
    pub fn client_config(&self, alpn: &[&[u8]]) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(rustls_pki_types::CertificateDer::from(self.ca_der.clone())).expect("CA");
        let mut config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }

    /// A client whose session cache lets data connections resume the control connection's session.
    pub fn connector(&self) -> TlsConnector {
        TlsConnector::from(Arc::new(self.client_config(&[])))
    }
}

/// A control connection over TLS.
pub struct TlsCtl {
    pub io: BufReader<TlsStream<TcpStream>>,
}

impl TlsCtl {
    /// Connect, read the greeting, AUTH TLS, handshake as `localhost`.
    pub async fn explicit(addr: SocketAddr, connector: &TlsConnector) -> TlsCtl {
        let mut plain = BufReader::new(TcpStream::connect(addr).await.expect("connect"));
        assert_eq!(read_reply(&mut plain).await.0, 220);
        plain.get_mut().write_all(b"AUTH TLS\r\n").await.expect("write");
        assert_eq!(read_reply(&mut plain).await.0, 234);
        let tls =
            connector.connect("localhost".try_into().expect("name"), plain.into_inner()).await.expect("handshake");
        TlsCtl { io: BufReader::new(tls) }
    }

    /// Log in as `user`, PBSZ 0, PROT P, TYPE I.
    pub async fn login_private(&mut self, user: &str, pass: &str) {
        assert_eq!(self.cmd(&format!("USER {user}")).await.0, 331);
        assert_eq!(self.cmd(&format!("PASS {pass}")).await.0, 230);
        assert_eq!(self.cmd("PBSZ 0").await.0, 200);
        assert_eq!(self.cmd("PROT P").await.0, 200);
        assert_eq!(self.cmd("TYPE I").await.0, 200);
    }

    pub async fn send(&mut self, line: &str) {
        self.io.get_mut().write_all(format!("{line}\r\n").as_bytes()).await.expect("write");
        self.io.get_mut().flush().await.expect("flush");
    }

    pub async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(line).await;
        self.reply().await
    }

    pub async fn reply(&mut self) -> (u16, String) {
        read_reply(&mut self.io).await
    }

    /// EPSV, and a TCP connection to its port (the client starts TLS on it
    /// after the transfer command's 150).
    pub async fn data(&mut self) -> TcpStream {
        let (code, text) = self.cmd("EPSV").await;
        assert_eq!(code, 229, "{text}");
        let port: u16 =
            text.split("|||").nth(1).and_then(|s| s.split('|').next()).and_then(|p| p.parse().ok()).expect("port");
        TcpStream::connect(("127.0.0.1", port)).await.expect("data connect")
    }
}

/// One (possibly multi-line) reply; panics after 10 s or on a close.
pub async fn read_reply<R: tokio::io::AsyncBufRead + Unpin>(io: &mut R) -> (u16, String) {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(10), io.read_line(&mut line))
            .await
            .expect("reply timed out")
            .expect("read");
        assert!(n > 0, "connection closed; got so far: {text:?}");
        text.push_str(&line);
        if line.len() >= 4 && line.as_bytes()[3] == b' ' && text[..3] == line[..3] {
            return (text[..3].parse().expect("code"), text);
        }
    }
}
