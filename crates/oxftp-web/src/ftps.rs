//! TLS towards FTPS upstreams: which certificates are trusted, and a TLS
//! client for each control connection.
//!
//! Certificates are always checked. The default upstream may be *pinned* to
//! one known certificate (the daemon serving the gateway passes its own):
//! webpki will not take a self-signed end-entity certificate as a trust
//! anchor, so a pinned certificate is compared byte for byte instead, and the
//! handshake signature is still verified with it. Every other FTPS upstream is
//! checked against CA certificates: a configured set, or the system's store.
//!
//! FTPS servers commonly refuse a data connection that does not resume the
//! control connection's TLS session (oxftp's `require_session_reuse`,
//! vsftpd's `require_ssl_reuse`), since that is what proves the data
//! connection comes from the logged-in client. suppaftp reuses the control
//! connection's TLS connector for its data connections, so each control
//! connection gets a client configuration of its own with a session cache of
//! its own: its data connections resume its session and nobody else's.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsStream, AsyncTlsConnector};
use suppaftp::{FtpError, FtpResult};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::{Upstream, UpstreamTls, Upstreams, WebConfig};
use crate::error::WebError;

/// Which CA certificates FTPS upstreams are checked against.
#[derive(Debug, Clone, Default)]
pub enum UpstreamTrust {
    /// The operating system's CA store, read once when the gateway is built
    /// (and only if some upstream needs it).
    #[default]
    System,
    /// Exactly these CA certificates (DER), e.g. from
    /// [`load_certificates`](crate::load_certificates) on a PEM file.
    Roots(Vec<CertificateDer<'static>>),
}

/// TLS sessions kept per control connection: it talks to one server, and its
/// data connections resume the latest session.
const SESSIONS_PER_CONNECTION: usize = 8;

/// The TLS client setups of one gateway, built once.
#[derive(Debug)]
pub(crate) struct ClientTls {
    /// For the default upstream when its certificate is pinned.
    pinned: Option<Arc<ClientConfig>>,
    /// For every other FTPS upstream; the error says why there is none.
    roots: Result<Arc<ClientConfig>, String>,
}

impl ClientTls {
    /// Build what the configured upstreams need. The system store is only
    /// read when some FTPS upstream is checked against it.
    pub(crate) fn new(config: &WebConfig, upstreams: &Upstreams) -> ClientTls {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = if config.upstream_tls13 {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS12]
        };
        let pinned = config.default_upstream_cert.as_ref().and_then(|cert| {
            let verifier = Arc::new(
                PinnedCertificate::new(cert.clone(), &provider).following(config.default_upstream_cert_source.clone()),
            );
            let builder =
                ClientConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions).ok()?;
            Some(Arc::new(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth()))
        });
        let needs_roots =
            upstreams.all().any(|u| u.tls() != UpstreamTls::None && !(pinned.is_some() && upstreams.is_default(u)));
        let roots = if needs_roots {
            roots_config(&config.upstream_trust, provider, versions)
        } else {
            Err("no FTPS upstream is checked against CA certificates".to_string())
        };
        ClientTls { pinned, roots }
    }

    /// The client setup for `upstream` (`None` for plain FTP).
    pub(crate) fn for_upstream(
        &self,
        upstream: &Upstream,
        is_default: bool,
    ) -> Result<Option<Arc<ClientConfig>>, WebError> {
        if upstream.tls() == UpstreamTls::None {
            return Ok(None);
        }
        if is_default && let Some(pinned) = &self.pinned {
            return Ok(Some(pinned.clone()));
        }
        match &self.roots {
            Ok(config) => Ok(Some(config.clone())),
            Err(why) => Err(WebError::Upstream(format!("cannot check the server's TLS certificate: {why}"))),
        }
    }

    /// Whether the setup for CA-checked upstreams failed, and why (for start-up logs).
    pub(crate) fn roots_problem(&self) -> Option<&str> {
        self.roots.as_ref().err().map(String::as_str)
    }
}

/// The CA-checked client setup, or why it cannot be built.
fn roots_config(
    trust: &UpstreamTrust,
    provider: Arc<CryptoProvider>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match trust {
        UpstreamTrust::System => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err("no CA certificates found in the system's store; configure a CA file".into());
            }
        }
        UpstreamTrust::Roots(certs) => {
            let (_, bad) = roots.add_parsable_certificates(certs.iter().cloned());
            if roots.is_empty() {
                return Err(format!(
                    "none of the {} configured CA certificates is usable ({bad} rejected)",
                    certs.len()
                ));
            }
        }
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let builder =
        ClientConfig::builder_with_provider(provider).with_protocol_versions(versions).map_err(|e| e.to_string())?;
    Ok(Arc::new(builder.with_webpki_verifier(verifier).with_no_client_auth()))
}

/// A TLS connector for one control connection and its data connections:
/// `base` with a session cache of its own (see the module docs), each
/// handshake bounded by `timeout` (suppaftp sets none on data connections).
pub(crate) fn connector(base: &ClientConfig, timeout: Duration) -> Connector {
    let mut config = base.clone();
    config.resumption = Resumption::in_memory_sessions(SESSIONS_PER_CONNECTION);
    Connector { inner: AsyncRustlsConnector::from(TlsConnector::from(Arc::new(config))), timeout }
}

/// suppaftp's rustls connector with a time limit on every handshake, so a
/// server that accepts a data connection and then stays silent cannot hold
/// a request forever.
#[derive(Debug)]
pub(crate) struct Connector {
    inner: AsyncRustlsConnector,
    timeout: Duration,
}

#[async_trait::async_trait]
impl AsyncTlsConnector for Connector {
    type Stream = AsyncRustlsStream;

    async fn connect(&self, domain: &str, stream: TcpStream) -> FtpResult<AsyncRustlsStream> {
        match tokio::time::timeout(self.timeout, self.inner.connect(domain, stream)).await {
            Ok(result) => result,
            Err(_) => Err(FtpError::SecureError("TLS handshake timed out".into())),
        }
    }
}

/// Accepts exactly one end-entity certificate, whatever signed it, and
/// checks the handshake signature against it.
#[derive(Debug)]
pub(crate) struct PinnedCertificate {
    cert: CertificateDer<'static>,
    /// Replaces `cert` when it gives one (a server that reloads its certificate).
    source: Option<crate::config::CertificateSource>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedCertificate {
    /// Trust `cert` (DER) and nothing else; signatures checked with `provider`'s algorithms.
    pub(crate) fn new(cert: CertificateDer<'static>, provider: &CryptoProvider) -> Self {
        PinnedCertificate { cert, source: None, algorithms: provider.signature_verification_algorithms }
    }

    /// Takes the pin from `source` at each check when it gives one.
    pub(crate) fn following(mut self, source: Option<crate::config::CertificateSource>) -> Self {
        self.source = source;
        self
    }
}

/// Why a pinned check failed, worded for the person reading the login error.
#[derive(thiserror::Error)]
#[error("the server presented a different certificate than the one this gateway trusts for it")]
struct NotThePinnedCertificate;

impl std::fmt::Debug for NotThePinnedCertificate {
    /// rustls shows this error with `Debug` inside its own message: say it in words.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The name and dates are the certificate owner's business: the
        // operator named this exact certificate, and the daemon that uses it
        // checks its dates when it loads it.
        let current = self.source.as_ref().and_then(|source| source.current());
        let pinned = current.as_ref().unwrap_or(&self.cert);
        if end_entity.as_ref() == pinned.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
                NotThePinnedCertificate,
            )))))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(name: &str) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap().self_signed(&key).unwrap();
        cert.der().clone()
    }

    #[test]
    fn a_pin_accepts_its_certificate_only() {
        let provider = rustls::crypto::ring::default_provider();
        let mine = cert("localhost");
        let pin = PinnedCertificate::new(mine.clone(), &provider);
        let name = ServerName::try_from("localhost").unwrap();
        assert!(pin.verify_server_cert(&mine, &[], &name, &[], UnixTime::now()).is_ok());
        let other = cert("localhost");
        let err = pin.verify_server_cert(&other, &[], &name, &[], UnixTime::now()).unwrap_err();
        assert!(err.to_string().contains("different certificate"), "{err}");
        assert!(!pin.supported_verify_schemes().is_empty());
    }

    #[test]
    fn a_followed_pin_accepts_the_current_certificate_only() {
        let provider = rustls::crypto::ring::default_provider();
        let (first, second) = (cert("localhost"), cert("localhost"));
        let current = Arc::new(std::sync::Mutex::new(first.clone()));
        let source = {
            let current = current.clone();
            crate::config::CertificateSource::new(move || Some(current.lock().unwrap().clone()))
        };
        let pin = PinnedCertificate::new(first.clone(), &provider).following(Some(source));
        let name = ServerName::try_from("localhost").unwrap();
        assert!(pin.verify_server_cert(&first, &[], &name, &[], UnixTime::now()).is_ok());
        assert!(pin.verify_server_cert(&second, &[], &name, &[], UnixTime::now()).is_err());
        // The server reloaded: the new certificate, and only it, is accepted.
        *current.lock().unwrap() = second.clone();
        assert!(pin.verify_server_cert(&second, &[], &name, &[], UnixTime::now()).is_ok());
        assert!(pin.verify_server_cert(&first, &[], &name, &[], UnixTime::now()).is_err());
    }

    #[tokio::test]
    async fn a_silent_server_cannot_hold_a_handshake() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let pin = Arc::new(PinnedCertificate::new(cert("localhost"), &provider));
        let config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(pin)
            .with_no_client_auth();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let _silent = listener.accept().await.unwrap();
        let connector = connector(&config, Duration::from_millis(200));
        let started = std::time::Instant::now();
        let err = connector.connect("localhost", tcp).await.unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn configs_are_built_only_for_what_is_configured() {
        let plain = WebConfig { default_upstream: "127.0.0.1:21".into(), ..WebConfig::default() };
        let tls = ClientTls::new(&plain, &Upstreams::new(&plain));
        assert!(tls.pinned.is_none() && tls.roots.is_err(), "plain FTP needs no TLS setup");
        let u = Upstream::parse("127.0.0.1:21").unwrap();
        assert!(tls.for_upstream(&u, true).unwrap().is_none());

        let pinned = WebConfig {
            default_upstream: "ftpes://127.0.0.1:21".into(),
            default_upstream_cert: Some(cert("localhost")),
            ..WebConfig::default()
        };
        let tls = ClientTls::new(&pinned, &Upstreams::new(&pinned));
        let u = Upstream::parse("ftpes://127.0.0.1:21").unwrap();
        assert!(tls.for_upstream(&u, true).unwrap().is_some());
        // Not the default: CA-checked, and no CA setup was needed or made.
        let err = tls.for_upstream(&u, false).unwrap_err();
        assert!(err.to_string().contains("cannot check"), "{err}");

        let empty = WebConfig {
            default_upstream: "ftps://files.example.org".into(),
            upstream_trust: UpstreamTrust::Roots(Vec::new()),
            ..WebConfig::default()
        };
        let tls = ClientTls::new(&empty, &Upstreams::new(&empty));
        assert!(tls.roots_problem().is_some_and(|p| p.contains("none of the 0")), "{:?}", tls.roots_problem());
    }
}
