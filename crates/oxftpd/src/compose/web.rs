//! `[web]`: the browser FTP client's settings, and how it reaches this daemon.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::Context as _;
use oxftp_web::{Upstream, UpstreamTls, UpstreamTrust};

use crate::config::{TlsSettings, WebSettings};

/// The web client's settings for `[web]`. `bound` lists this daemon's FTP
/// listeners as bound (their real ports when configured as 0) and whether
/// each is implicit FTPS: when `web.upstream` names no server, the client
/// logs in to this daemon through the first listener that speaks what it
/// uses (see [`WebSettings::own_upstream_tls`]), over FTPS trusting exactly
/// this daemon's own certificate. Certificate files are read here; config
/// validation has already checked them, so errors are unlikely.
///
/// Certificates follow SIGHUP reloads: the HTTPS listener takes its
/// certificate from a reloadable resolver (see [`crate::reload::web_https`];
/// the second value is the web client's own pair, when it has one, for the
/// reloader), and the pin on this daemon's certificate follows `[tls]`'s.
pub fn web(
    settings: &WebSettings,
    tls: Option<&TlsSettings>,
    bound: &[(SocketAddr, bool)],
) -> anyhow::Result<(oxftp_web::WebConfig, Option<oxftp_core::tls::Tls>)> {
    let defaults = oxftp_web::WebConfig::default();
    let (default_upstream, default_upstream_cert) = match &settings.upstream {
        Some(upstream) => (upstream.clone(), None),
        None => {
            let mode = settings.own_upstream_tls(tls.is_some(), bound.iter().any(|(_, implicit)| !implicit));
            let implicit = mode == UpstreamTls::Implicit;
            let Some((addr, _)) = bound.iter().find(|(_, i)| *i == implicit) else {
                anyhow::bail!("web.upstream: no FTP listener of this server for the web client to log in to");
            };
            let upstream = Upstream::parse(&reachable(*addr).to_string())
                .context("web.upstream: this server's listener address")?
                .with_tls(mode);
            let cert = match (mode, tls) {
                (UpstreamTls::None, _) => None,
                (_, Some(tls)) => {
                    let file = &tls.tls.config().cert_file;
                    let chain = oxftp_web::load_certificates(file).context("tls.cert_file (the web client pins it)")?;
                    chain.into_iter().next()
                }
                (_, None) => anyhow::bail!("web.upstream_tls: this server has no [tls] table"),
            };
            (upstream.to_string(), cert)
        }
    };
    let upstream_trust = match &settings.upstream_ca_file {
        Some(file) => UpstreamTrust::Roots(oxftp_web::load_certificates(file).context("web.upstream_ca_file")?),
        None => UpstreamTrust::System,
    };
    let (https, web_tls) = match crate::reload::web_https(settings, tls)? {
        Some((https, own)) => (Some(https), own),
        None => (None, None),
    };
    // The pin on this daemon's own certificate follows its reloads.
    let default_upstream_cert_source = match (&default_upstream_cert, tls) {
        (Some(_), Some(tls)) => {
            let tls = tls.tls.clone();
            Some(oxftp_web::CertificateSource::new(move || tls.current_certificate()))
        }
        _ => None,
    };
    let mut web = oxftp_web::WebConfig {
        listen: settings.listen,
        default_upstream,
        allowed_upstreams: settings.allowed_upstreams.clone(),
        idle_timeout: settings.idle_timeout,
        absolute_timeout: settings.absolute_timeout,
        max_upload_bytes: settings.max_upload,
        secure_cookies: settings.secure_cookies,
        https,
        upstream_trust,
        default_upstream_cert,
        default_upstream_cert_source,
        trusted_proxies: settings.trusted_proxies.clone(),
        allowed_hosts: settings.allowed_hosts.clone(),
        hsts_max_age: settings.hsts_max_age,
        shares_file: settings.shares_file.clone(),
        share_max_lifetime: settings.share_max_lifetime,
        ..defaults
    };
    settings.limits.apply(&mut web);
    Ok((web, web_tls))
}

/// The address a local client dials to reach a listener on `addr`: a
/// wildcard listener is reached through loopback.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

#[cfg(test)]
mod tests {
    use super::super::tests::config;
    use super::*;
    use crate::config::Config;

    /// A `[tls]` table with a fresh self-signed certificate, and `[web]` as given.
    fn tls_config(dir: &tempfile::TempDir, server: &str, web: &str) -> Config {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
        std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        config(
            &format!(
                "[storage]\nroot = \".\"\n[server]\n{server}\n[tls]\ncert_file = \"server.pem\"\n\
                 key_file = \"server.key\"\nimplicit_listen = [\"127.0.0.1:0\"]\n[web]\n{web}"
            ),
            dir,
        )
    }

    #[test]
    fn web_defaults_to_the_bound_ftp_listener_through_loopback() {
        let settings = WebSettings::default();
        let web = web(&settings, None, &[("0.0.0.0:40021".parse().unwrap(), false)]).unwrap().0;
        assert_eq!(web.default_upstream, "127.0.0.1:40021");
        assert_eq!(web.listen, settings.listen);
        assert_eq!((web.idle_timeout, web.absolute_timeout), (settings.idle_timeout, settings.absolute_timeout));
        assert_eq!(web.max_upload_bytes, settings.max_upload);
        assert!(web.https.is_none() && web.default_upstream_cert.is_none());
        let web = super::web(&settings, None, &[("[::]:21".parse().unwrap(), false)]).unwrap().0;
        assert_eq!(web.default_upstream, "[::1]:21");
        assert!(super::web(&settings, None, &[]).is_err());
    }

    #[test]
    fn web_uses_the_configured_upstream_and_allow_list() {
        let settings = WebSettings {
            upstream: Some("ftp.example.org:21".into()),
            allowed_upstreams: vec!["other.example.org:2121".into(), "ftps://secure.example.org:990".into()],
            secure_cookies: true,
            ..WebSettings::default()
        };
        let web = web(&settings, None, &[("127.0.0.1:2121".parse().unwrap(), false)]).unwrap().0;
        assert_eq!(web.default_upstream, "ftp.example.org:21");
        assert_eq!(web.allowed_upstreams, ["other.example.org:2121", "ftps://secure.example.org:990"]);
        assert!(web.secure_cookies);
        assert!(web.default_upstream_cert.is_none(), "only this daemon's own certificate is pinned");
        assert!(matches!(web.upstream_trust, UpstreamTrust::System));
    }

    #[test]
    fn web_logs_in_to_this_server_over_ftps_pinning_its_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let config = tls_config(&dir, "listen = [\"127.0.0.1:0\"]", "tls = true\n");
        let (settings, tls) = (config.web.as_ref().unwrap(), config.tls.as_ref());
        let bound = [("127.0.0.1:2121".parse().unwrap(), false), ("127.0.0.1:9990".parse().unwrap(), true)];
        let (web, own) = web(settings, tls, &bound).unwrap();
        assert!(own.is_none(), "web.tls = true shares [tls]'s certificate");
        assert!(web.default_upstream_cert_source.is_some(), "the pin follows reloads");
        assert_eq!(web.default_upstream, "ftpes://127.0.0.1:2121");
        let own = oxftp_web::load_certificates(&dir.path().join("server.pem")).unwrap();
        assert_eq!(web.default_upstream_cert.as_ref(), own.first(), "the pin is the daemon's own certificate");
        assert!(web.https.is_some(), "web.tls = true serves HTTPS with [tls]'s certificate");

        // Only an implicit listener: implicit FTPS to it.
        let web = super::web(settings, tls, &bound[1..]).unwrap().0;
        assert_eq!(web.default_upstream, "ftps://127.0.0.1:9990");
        // Plain FTP when asked for.
        let plain = WebSettings { upstream_tls: Some(UpstreamTls::None), ..settings.clone() };
        let web = super::web(&plain, tls, &bound).unwrap().0;
        assert_eq!(web.default_upstream, "127.0.0.1:2121");
        assert!(web.default_upstream_cert.is_none());
    }
}
