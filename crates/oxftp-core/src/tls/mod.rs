//! FTPS: TLS for the control and data connections (RFC 2228, RFC 4217) with rustls.
//!
//! Guarantees:
//! - TLS 1.2 and 1.3 only, ring crypto, certificate chain and key from PEM files;
//!   a missing, unreadable, mismatched or expired certificate is a start-up error
//!   that says which.
//! - The certificate and key can be replaced while the server runs
//!   ([`Tls::reload_certificate`]): handshakes that start afterwards present
//!   the new pair, connections already up keep theirs, and a pair that fails
//!   any start-up check is refused with the same error, leaving the old one in
//!   place. Other settings (requirements, client CAs) are fixed at build time.
//! - Cross-protocol attacks (ALPACA, CVE-2021-3618): the only application
//!   protocol offered is `ftp`, so a client that asks for another one
//!   through ALPN (a browser speaking `http/1.1` to the FTP port) fails the
//!   handshake; with [`TlsConfig::server_names`] set, a client must also ask
//!   for one of those names through SNI.
//! - Data-connection theft protection (vsftpd's `require_ssl_reuse`, made
//!   to work with clients that pool control connections): every TLS session
//!   the server issues names the control connection it was issued on, and a
//!   data connection may only resume the sessions [`SessionReuse`] allows
//!   (see [`reuse`](self::reuse) for the rule and why it is safe). Unless
//!   the mode is `Off`, a data connection that does a full handshake instead
//!   is refused.
//! - Sessions resume by TLS 1.2 session ID, TLS 1.2 ticket (Go's TLS client
//!   resumes only by ticket) and TLS 1.3 ticket; tickets are sealed with a
//!   key of the server's own, rotated every 6 hours.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod reuse;

use std::net::IpAddr;

use arc_swap::ArcSwap;
pub use reuse::SessionReuse;
use reuse::{BoundSessions, BoundTickets, SessionBinding, SessionOwners};
use rustls::server::{
    ClientHello, ProducesTickets, ResolvesServerCert, ServerSessionMemoryCache, WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// When TLS is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsRequirement {
    /// Clients choose.
    Optional,
    /// Required for every account except anonymous (which may stay plaintext).
    Accounts,
    /// Required for everyone.
    All,
}

impl TlsRequirement {
    /// Whether a login of this kind must be protected.
    pub fn applies_to(self, anonymous: bool) -> bool {
        match self {
            TlsRequirement::Optional => false,
            TlsRequirement::Accounts => !anonymous,
            TlsRequirement::All => true,
        }
    }
}

/// Client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCertMode {
    /// Not asked for.
    Off,
    /// Asked for; a client without one may still connect (and log in with a password).
    Request,
    /// A certificate signed by the trust store is required for the handshake to succeed.
    Require,
}

/// FTPS settings, as a daemon's config file or an embedder gives them.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// PEM file with the server certificate, followed by its chain.
    pub cert_file: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// TLS on the control connection (AUTH TLS before USER).
    pub control: TlsRequirement,
    /// TLS on data connections (PROT P before transfers).
    pub data: TlsRequirement,
    /// Which TLS sessions a data connection must resume (default
    /// [`SessionReuse::Account`]); a listener or an account may ask for
    /// another mode.
    pub require_session_reuse: SessionReuse,
    /// Allow CCC (clear command channel after login: lets NAT helpers read PORT commands,
    /// but exposes every later command).
    pub allow_ccc: bool,
    pub client_certs: ClientCertMode,
    /// Trust store (PEM CA certificates) for client certificates.
    pub client_ca_file: Option<PathBuf>,
    /// A client certificate's subject CN names the user; with a valid certificate the
    /// user logs in without a password (only when `client_certs` is not Off).
    pub cert_cn_login: bool,
    /// A TLS handshake must finish within this time.
    pub handshake_timeout: Duration,
    /// Strict SNI: when not empty, a handshake must name one of these hosts
    /// in its server name indication (case does not matter), or it fails;
    /// so does one without SNI (clients connecting by IP address send none).
    /// Resumed sessions (data connections) keep the name of their control
    /// connection.
    pub server_names: Vec<String>,
}

impl TlsConfig {
    /// Settings with the defaults: TLS optional, session reuse required per
    /// account and address, no CCC, no client certs.
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> TlsConfig {
        TlsConfig {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            control: TlsRequirement::Optional,
            data: TlsRequirement::Optional,
            require_session_reuse: SessionReuse::Account,
            allow_ccc: false,
            client_certs: ClientCertMode::Off,
            client_ca_file: None,
            cert_cn_login: false,
            handshake_timeout: Duration::from_secs(10),
            server_names: Vec::new(),
        }
    }

    /// Load the certificate material and build the TLS server.
    pub fn build(&self) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (certified, _) = self.load_certified_key(&provider)?;
        let certificate = Arc::new(CurrentCertificate { current: ArcSwap::from_pointee(certified) });
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        let builder = match self.client_certs {
            ClientCertMode::Off => builder.with_no_client_auth(),
            mode => {
                let ca_file = self.client_ca_file.as_ref().ok_or(TlsError::NoClientCa)?;
                let mut roots = RootCertStore::empty();
                for ca in load_certs(ca_file)? {
                    roots.add(ca).map_err(|e| TlsError::Cert(ca_file.clone(), e.to_string()))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier =
                    if mode == ClientCertMode::Request { verifier.allow_unauthenticated() } else { verifier };
                builder.with_client_cert_verifier(verifier.build().map_err(|e| TlsError::Rustls(e.to_string()))?)
            }
        };
        let resolver: Arc<dyn ResolvesServerCert> = if self.server_names.is_empty() {
            certificate.clone()
        } else {
            Arc::new(StrictSni { names: self.server_names.clone(), certificate: certificate.clone() })
        };
        let mut server = builder.with_cert_resolver(resolver);
        // RFC 7301 §3.2: a client that offers ALPN without `ftp` gets
        // no_application_protocol; one that offers none is served.
        server.alpn_protocols = vec![FTP_ALPN.to_vec()];
        let tickets = rustls::crypto::ring::Ticketer::new().map_err(|e| TlsError::Rustls(e.to_string()))?;
        Ok(Tls {
            config: self.clone(),
            server: Arc::new(server),
            certificate,
            tickets,
            sessions: ServerSessionMemoryCache::new(SESSION_CACHE_SIZE),
            owners: Arc::new(SessionOwners::default()),
        })
    }

    /// Reads `cert_file` and `key_file` and checks them the way start-up
    /// does: a chain, a key rustls can sign with, the key belongs to the
    /// first certificate, and that certificate is valid now.
    fn load_certified_key(
        &self,
        provider: &rustls::crypto::CryptoProvider,
    ) -> Result<(CertifiedKey, CertificateSummary), TlsError> {
        let certs = load_certs(&self.cert_file)?;
        let key = PrivateKeyDer::from_pem_file(&self.key_file)
            .map_err(|e| TlsError::Key(self.key_file.clone(), e.to_string()))?;
        let summary = check_validity(&self.cert_file, &certs[0])?;
        let certified = CertifiedKey::from_der(certs, key, provider).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::Mismatch(self.cert_file.clone(), self.key_file.clone()),
            other => TlsError::Rustls(other.to_string()),
        })?;
        Ok((certified, summary))
    }
}

/// What a loaded certificate is, for the log line of a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSummary {
    /// The subject, as text (`CN=localhost`).
    pub subject: String,
    /// The serial number, in hex.
    pub serial: String,
    /// The end of its validity, UTC.
    pub not_after: String,
}

/// The certificate handshakes present: one pair, swapped whole.
///
/// Every session's acceptors (and anything else built from
/// [`Tls::certificate_resolver`]) share this one resolver, so a reload
/// reaches them all; a handshake takes the pair current when it reads its
/// ClientHello and keeps it to the end.
#[derive(Debug)]
struct CurrentCertificate {
    current: ArcSwap<CertifiedKey>,
}

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The ALPN protocol ID of FTP (IANA "TLS Application-Layer Protocol
/// Negotiation (ALPN) Protocol IDs").
pub const FTP_ALPN: &[u8] = b"ftp";

/// The certificate, only for handshakes that name one of `names` (SNI).
#[derive(Debug)]
struct StrictSni {
    names: Vec<String>,
    certificate: Arc<CurrentCertificate>,
}

impl ResolvesServerCert for StrictSni {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let asked = client_hello.server_name()?;
        self.names.iter().any(|name| name.eq_ignore_ascii_case(asked)).then(|| self.certificate.current.load_full())
    }
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate file {0}: {1}")]
    Cert(PathBuf, String),
    #[error("private key file {0}: {1}")]
    Key(PathBuf, String),
    #[error("certificate {0} does not match private key {1}")]
    Mismatch(PathBuf, PathBuf),
    #[error("certificate {0} has expired (not valid after {1} UTC)")]
    Expired(PathBuf, String),
    #[error("certificate {0} is not valid yet (not before {1} UTC)")]
    NotYetValid(PathBuf, String),
    #[error("client certificates are enabled but no client CA file is configured")]
    NoClientCa,
    #[error("TLS setup failed: {0}")]
    Rustls(String),
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| TlsError::Cert(path.to_path_buf(), e.to_string()))?;
    let certs: Vec<_> =
        iter.collect::<Result<_, _>>().map_err(|e| TlsError::Cert(path.to_path_buf(), e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Cert(path.to_path_buf(), "no certificate found in the file".into()));
    }
    Ok(certs)
}

/// Checks that `cert` is valid now; returns what it is.
fn check_validity(path: &Path, cert: &CertificateDer<'_>) -> Result<CertificateSummary, TlsError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| TlsError::Cert(path.to_path_buf(), e.to_string()))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let validity = parsed.validity();
    if validity.not_after.timestamp() < now {
        return Err(TlsError::Expired(path.to_path_buf(), validity.not_after.to_string()));
    }
    if validity.not_before.timestamp() > now {
        return Err(TlsError::NotYetValid(path.to_path_buf(), validity.not_before.to_string()));
    }
    Ok(CertificateSummary {
        subject: parsed.subject().to_string(),
        serial: parsed.raw_serial_as_string(),
        not_after: validity.not_after.to_string(),
    })
}

/// The subject common name of a DER certificate, for CN-to-user mapping.
pub(crate) fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let cn = parsed.subject().iter_common_name().next()?.as_str().ok()?.to_string();
    Some(cn)
}

/// TLS 1.2 sessions kept by ID, for the whole server (TLS 1.3 and TLS 1.2
/// clients that take tickets keep their sessions themselves).
const SESSION_CACHE_SIZE: usize = 4096;

/// A loaded TLS setup, shared by all sessions.
#[derive(Debug, Clone)]
pub struct Tls {
    pub(crate) config: TlsConfig,
    server: Arc<ServerConfig>,
    /// Shared by every clone, so a reload through any clone reaches all.
    certificate: Arc<CurrentCertificate>,
    /// The key that seals session tickets (rotated by rustls).
    tickets: Arc<dyn ProducesTickets>,
    /// Sessions by ID, each stamped with the connection that got it.
    sessions: Arc<ServerSessionMemoryCache>,
    /// Who is logged in on which control connection (for `Account` reuse).
    owners: Arc<SessionOwners>,
}

impl Tls {
    pub fn config(&self) -> &TlsConfig {
        &self.config
    }

    /// Re-reads `cert_file` and `key_file` and, when they pass every check
    /// [`TlsConfig::build`] makes, makes them the pair new handshakes
    /// present (on every clone of this `Tls`). TLS connections already
    /// established are not touched. On error nothing changes.
    ///
    /// Reads files: call it off the async threads.
    pub fn reload_certificate(&self) -> Result<CertificateSummary, TlsError> {
        let provider = rustls::crypto::ring::default_provider();
        let (certified, summary) = self.config.load_certified_key(&provider)?;
        self.certificate.current.store(Arc::new(certified));
        Ok(summary)
    }

    /// The resolver that hands out the current certificate, for another
    /// TLS listener (an HTTPS front end) that should follow reloads too.
    pub fn certificate_resolver(&self) -> Arc<dyn ResolvesServerCert> {
        self.certificate.clone()
    }

    /// The end-entity certificate handshakes present now (DER).
    pub fn current_certificate(&self) -> Option<CertificateDer<'static>> {
        self.certificate.current.load().cert.first().cloned()
    }

    /// Acceptors for one control connection from `ip` and its data
    /// connections, held to `mode` until a login says otherwise: the shared
    /// configuration, with tickets and cached sessions stamped with this
    /// connection's token (see [`reuse`](self::reuse)).
    ///
    /// The data acceptor issues no TLS 1.3 tickets: each data connection must
    /// resume the control connection's session, not start a new one, and
    /// tickets nobody reads would sit in the socket on upload connections
    /// (a close with unread data makes the kernel send RST, cutting the upload).
    pub(crate) fn session_acceptors(&self, ip: IpAddr, mode: SessionReuse) -> SessionAcceptors {
        let binding = Arc::new(SessionBinding::new(Arc::clone(&self.owners), ip, mode));
        let acceptor = |data: bool| {
            let mut config = (*self.server).clone();
            let binding = Arc::clone(&binding);
            config.ticketer =
                Arc::new(BoundTickets { key: Arc::clone(&self.tickets), binding: Arc::clone(&binding), data });
            config.session_storage = Arc::new(BoundSessions { cache: Arc::clone(&self.sessions), binding, data });
            if data {
                config.send_tls13_tickets = 0;
            }
            TlsAcceptor::from(Arc::new(config))
        };
        SessionAcceptors { control: acceptor(false), data: acceptor(true), binding: Arc::clone(&binding) }
    }
}

/// The TLS acceptors of one control connection, and what its data
/// connections may resume.
#[derive(Clone)]
pub(crate) struct SessionAcceptors {
    pub control: TlsAcceptor,
    pub data: TlsAcceptor,
    binding: Arc<SessionBinding>,
}

impl SessionAcceptors {
    /// The mode data connections are held to now.
    pub(crate) fn reuse(&self) -> SessionReuse {
        self.binding.mode()
    }

    /// A login of `account`, with the mode the account asks for, if any.
    pub(crate) fn log_in(&self, account: &str, anonymous: bool, mode: Option<SessionReuse>) {
        self.binding.log_in(account, anonymous, mode);
    }

    /// REIN.
    pub(crate) fn log_out(&self) {
        self.binding.log_out();
    }

    /// The control connection closed.
    pub(crate) fn closed(&self) {
        self.binding.closed();
    }

    /// Before a data connection's handshake: forget conditions of earlier ones.
    pub(crate) fn before_data_handshake(&self) {
        self.binding.clear_pending();
    }

    /// After a data connection's handshake: whether what it resumed counts
    /// (see [`reuse`](self::reuse): a session of a connection still logging
    /// in counts once that connection has logged in as the same account,
    /// which is waited for up to `wait`).
    pub(crate) async fn confirm(&self, wait: std::time::Duration) -> bool {
        self.binding.confirm(wait).await
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Writes a fresh self-signed pair for localhost as `NAME.pem`/`NAME.key`;
    /// returns the certificate's DER. `expired` dates it in 2020.
    fn pair(dir: &Path, name: &str, expired: bool) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 2);
        }
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
        cert.der().clone()
    }

    fn install(dir: &Path, name: &str) {
        std::fs::copy(dir.join(format!("{name}.pem")), dir.join("live.pem")).unwrap();
        std::fs::copy(dir.join(format!("{name}.key")), dir.join("live.key")).unwrap();
    }

    #[test]
    fn reload_swaps_the_certificate_for_every_clone() {
        let dir = tempfile::tempdir().unwrap();
        let first = pair(dir.path(), "a", false);
        let second = pair(dir.path(), "b", false);
        install(dir.path(), "a");
        let tls = TlsConfig::new(dir.path().join("live.pem"), dir.path().join("live.key")).build().unwrap();
        let clone = tls.clone();
        assert_eq!(tls.current_certificate().as_ref(), Some(&first));

        install(dir.path(), "b");
        let summary = tls.reload_certificate().unwrap();
        assert!(summary.subject.contains("CN="), "{summary:?}");
        assert!(!summary.not_after.is_empty() && !summary.serial.is_empty());
        assert_eq!(clone.current_certificate().as_ref(), Some(&second), "clones share the certificate");
        // Session acceptors made before or after the reload use the same resolver.
        assert!(Arc::ptr_eq(&tls.certificate, &clone.certificate));
    }

    #[test]
    fn a_broken_pair_is_refused_and_the_old_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let good = pair(dir.path(), "good", false);
        pair(dir.path(), "other", false);
        pair(dir.path(), "old", true);
        install(dir.path(), "good");
        let tls = TlsConfig::new(dir.path().join("live.pem"), dir.path().join("live.key")).build().unwrap();

        // A key that belongs to another certificate.
        std::fs::copy(dir.path().join("other.key"), dir.path().join("live.key")).unwrap();
        assert!(matches!(tls.reload_certificate(), Err(TlsError::Mismatch(..))));
        // A truncated key file.
        std::fs::write(dir.path().join("live.key"), "-----BEGIN PRIVATE KEY-----\nAAAA\n").unwrap();
        assert!(matches!(tls.reload_certificate(), Err(TlsError::Key(..))));
        // An empty certificate file.
        install(dir.path(), "good");
        std::fs::write(dir.path().join("live.pem"), "").unwrap();
        assert!(matches!(tls.reload_certificate(), Err(TlsError::Cert(..))));
        // An expired pair.
        install(dir.path(), "old");
        assert!(matches!(tls.reload_certificate(), Err(TlsError::Expired(..))));
        // A missing file.
        std::fs::remove_file(dir.path().join("live.pem")).unwrap();
        assert!(matches!(tls.reload_certificate(), Err(TlsError::Cert(..))));

        assert_eq!(tls.current_certificate().as_ref(), Some(&good), "every failure kept the old pair");
    }
}
