//! What SIGHUP does, in order: re-read the accounts (users file), reload the
//! TLS certificate and key of the FTP listeners and of the web client's
//! HTTPS listener, reopen the xferlog. Each part that fails is logged and
//! leaves what was in force; none of them touches a session in progress.
//!
//! Certificates: every TLS listener hands out its certificate through a
//! shared resolver ([`Tls::certificate_resolver`]), so a reload changes what
//! the next handshake presents on every listener at once, while connections
//! already established keep the session they have (data connections resume
//! it without a certificate). A pair that fails any of the start-up checks
//! (unreadable, not PEM, key not matching, expired) is refused and the old
//! one stays.

use std::sync::Arc;

use oxftp_core::tls::{Tls, TlsConfig};
use slog::{Logger, info, warn};

use crate::compose;
use crate::config::{TlsSettings, WebSettings};
use crate::notify;
use crate::xferlog;

/// Everything SIGHUP reloads.
#[derive(Debug)]
pub struct Reloader {
    /// The accounts file.
    pub accounts: compose::Reload,
    /// `[tls]`'s certificate (FTP listeners, and the web client when it reuses it).
    pub tls: Option<Tls>,
    /// The web client's own certificate (`web.cert_file`/`web.key_file`).
    pub web_tls: Option<Tls>,
    /// The transfer log.
    pub xferlog: Option<xferlog::Reopener>,
}

impl Reloader {
    /// Runs one reload (tells systemd it is reloading meanwhile).
    pub async fn run(&self, logger: &Logger) {
        notify::reloading(logger);
        self.accounts.run(logger).await;
        for (tls, what) in [(&self.tls, "tls"), (&self.web_tls, "web")] {
            if let Some(tls) = tls {
                reload_certificate(tls, what, logger).await;
            }
        }
        if let Some(xferlog) = &self.xferlog {
            match xferlog.reopen().await {
                Ok(()) => info!(logger, "xferlog reopened"),
                Err(e) => warn!(logger, "xferlog not reopened"; "error" => e),
            }
        }
        notify::reloaded(logger);
    }
}

/// Re-reads one certificate pair off the async threads and logs the outcome.
async fn reload_certificate(tls: &Tls, what: &'static str, logger: &Logger) {
    let file = tls.config().cert_file.display().to_string();
    let reloading = tls.clone();
    match tokio::task::spawn_blocking(move || reloading.reload_certificate()).await {
        Ok(Ok(cert)) => info!(logger, "TLS certificate reloaded; new handshakes use it";
            "for" => what, "file" => file, "subject" => cert.subject, "serial" => cert.serial, "not_after" => cert.not_after),
        Ok(Err(e)) => warn!(logger, "TLS certificate not reloaded; the old one stays in use";
            "for" => what, "error" => %e),
        Err(e) => warn!(logger, "TLS certificate reload did not finish"; "for" => what, "error" => %e),
    }
}

/// The web client's HTTPS setup, with a certificate that follows reloads:
/// `[tls]`'s own (shared) when the web client reuses that pair, otherwise a
/// reloadable pair of its own (returned too, for the [`Reloader`]).
pub fn web_https(
    settings: &WebSettings,
    tls: Option<&TlsSettings>,
) -> anyhow::Result<Option<(Arc<rustls::ServerConfig>, Option<Tls>)>> {
    let Some((cert, key)) = &settings.https else { return Ok(None) };
    let (shared, own) = match tls.map(|t| &t.tls) {
        Some(tls) if tls.config().cert_file == *cert && tls.config().key_file == *key => (tls.clone(), None),
        _ => {
            let own = TlsConfig::new(cert, key).build().map_err(|e| anyhow::anyhow!("web.cert_file: {e}"))?;
            (own.clone(), Some(own))
        }
    };
    Ok(Some((https_server_config(shared.certificate_resolver())?, own)))
}

/// What `oxftp_web::https_config` builds (TLS 1.2 and 1.3, ring, HTTP/1.1 by
/// ALPN), with the certificate taken from `resolver` at each handshake.
fn https_server_config(
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| anyhow::anyhow!("web.tls: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};

    /// Writes a fresh self-signed pair as `NAME.pem`/`NAME.key`.
    fn pair(dir: &std::path::Path, name: &str) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }

    #[test]
    fn the_web_client_shares_tls_certificate_or_reloads_its_own() {
        let dir = tempfile::tempdir().unwrap();
        pair(dir.path(), "ftp");
        pair(dir.path(), "web");
        let tls = "[tls]\ncert_file = \"ftp.pem\"\nkey_file = \"ftp.key\"\n";
        let load = |web: &str| {
            Config::from_toml(&format!("[storage]\nroot = \".\"\n{tls}[web]\n{web}"), dir.path(), &Overrides::default())
                .unwrap()
        };
        // web.tls = true alone: [tls]'s pair, through [tls]'s own resolver.
        let shared = load("tls = true\n");
        let (_, own) = web_https(shared.web.as_ref().unwrap(), shared.tls.as_ref()).unwrap().unwrap();
        assert!(own.is_none());
        // A pair of its own: reloadable on its own.
        let separate = load("tls = true\ncert_file = \"web.pem\"\nkey_file = \"web.key\"\n");
        let (_, own) = web_https(separate.web.as_ref().unwrap(), separate.tls.as_ref()).unwrap().unwrap();
        let own = own.expect("the web client's own pair");
        assert_eq!(own.config().cert_file, dir.path().join("web.pem"));
        let before = own.current_certificate();
        pair(dir.path(), "web");
        own.reload_certificate().unwrap();
        assert_ne!(own.current_certificate(), before);
        // Plain HTTP: nothing.
        let plain = load("");
        assert!(web_https(plain.web.as_ref().unwrap(), plain.tls.as_ref()).unwrap().is_none());
    }
}
