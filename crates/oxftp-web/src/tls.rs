//! Loading TLS material from PEM files: the HTTPS server's certificate and
//! key, and CA certificates for checking FTPS upstreams.
//!
//! Errors name the file and say what was wrong with it, so a daemon can put
//! them next to the config key that named the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The certificate file is missing, unreadable, or holds no certificate.
    #[error("certificate file {0}: {1}")]
    Certificates(PathBuf, String),
    /// The key file is missing, unreadable, or holds no usable private key.
    #[error("private key file {0}: {1}")]
    Key(PathBuf, String),
    /// rustls refused the pair (a key that does not match the certificate,
    /// an unsupported key type).
    #[error("TLS setup failed: {0}")]
    Rustls(String),
}

/// Every certificate in the PEM file `path`, in order; an error when there is
/// none, so an empty or mistyped file is caught at start-up.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let bad = |e: &dyn std::fmt::Display| TlsSetupError::Certificates(path.to_path_buf(), e.to_string());
    let certs: Vec<_> =
        CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))?.collect::<Result<_, _>>().map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no certificate found in the file"));
    }
    Ok(certs)
}

/// An HTTPS server setup from a PEM certificate chain (the server's
/// certificate first) and its PEM private key: TLS 1.2 and 1.3 with the ring
/// provider, HTTP/1.1 offered by ALPN.
pub fn https_config(cert_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let certs = load_certificates(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| TlsSetupError::Key(key_file.to_path_buf(), e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsSetupError::Rustls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsSetupError::Rustls(format!(
                "the key in {} does not belong to the certificate in {}",
                key_file.display(),
                cert_file.display()
            )),
            other => TlsSetupError::Rustls(other.to_string()),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_a_pair_and_names_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
        let (cert_file, key_file) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        let config = https_config(&cert_file, &key_file).unwrap();
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
        assert_eq!(load_certificates(&cert_file).unwrap()[0].as_ref(), cert.der().as_ref());

        let missing = dir.path().join("missing.pem");
        assert!(matches!(load_certificates(&missing), Err(TlsSetupError::Certificates(p, _)) if p == missing));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem\n").unwrap();
        let err = load_certificates(&empty).unwrap_err().to_string();
        assert!(err.contains("no certificate"), "{err}");
        assert!(matches!(https_config(&cert_file, &cert_file), Err(TlsSetupError::Key(..))));
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&key_file, other.serialize_pem()).unwrap();
        let err = https_config(&cert_file, &key_file).unwrap_err().to_string();
        assert!(err.contains("does not belong"), "{err}");
    }
}
