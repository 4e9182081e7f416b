//! What the daemon logs at start about its configuration, and the warnings
//! about setups that cannot work as meant.

use oxftp_web::UpstreamTls;
use slog::{Logger, info, warn};

use crate::config::{AuthBackend, Config, WebSettings};

/// Logs what is being served to whom, and warns about setups that let nobody in.
pub(super) fn describe(config: &Config, logger: &Logger) {
    let (backend, accounts) = match &config.auth {
        AuthBackend::File => ("file", config.users.as_ref().map_or(0, |users| users.authenticator.len())),
        AuthBackend::Json(json) => ("json", json.authenticator.len()),
        // PAM accounts are the system's: unknown here, but possibly many.
        AuthBackend::Pam(_) => ("pam", 1),
    };
    info!(logger, "configuration";
        "storage" => config.storage.describe(),
        "anonymous" => config.anonymous.enabled,
        "anonymous_root" => %config.anonymous.root,
        "incoming" => config.anonymous.incoming.as_ref().map(ToString::to_string),
        "auth" => backend,
        "users_file" => match &config.auth {
            AuthBackend::Json(json) => Some(json.file.display().to_string()),
            _ => config.users.as_ref().map(|u| u.file.display().to_string()),
        },
        "accounts" => accounts,
        "active" => config.active.enabled,
        "passive_ports" => ?config.passive.port_range,
        "max_sessions" => config.server.max_sessions,
        "max_sessions_per_ip" => config.load.max_sessions_per_ip,
        "download_rate" => config.load.download_rate,
        "upload_rate" => config.load.upload_rate,
        "ban" => config.ban.is_some(),
    );
    if let Some(settings) = &config.tls {
        let tls = settings.tls.config();
        info!(logger, "FTPS";
            "cert_file" => %tls.cert_file.display(),
            "control" => ?tls.control,
            "data" => ?tls.data,
            "require_session_reuse" => %tls.require_session_reuse,
            "session_reuse_off_listeners" => settings.session_reuse_off_listen.len(),
            "allow_ccc" => tls.allow_ccc,
            "client_certs" => ?tls.client_certs,
            "implicit_listeners" => settings.implicit_listen.len(),
        );
        if tls.cert_cn_login && tls.client_certs == oxftp_core::tls::ClientCertMode::Off {
            warn!(logger, "tls.cert_cn_login has no effect while tls.client_certs = \"off\"");
        }
    }
    if !config.anonymous.enabled && accounts == 0 {
        warn!(logger, "nobody can log in: anonymous is disabled and no users file (or an empty one) is configured");
    }
    if let Some(web) = &config.web {
        describe_web(config, web, logger);
    }
}

/// Logs the web client's settings and warns where the daemon's own policy
/// works against it: the gateway logs in from its own address, without a
/// client certificate.
fn describe_web(config: &Config, web: &WebSettings, logger: &Logger) {
    let own_tls = web.own_upstream_tls(config.tls.is_some(), !config.server.listen.is_empty());
    info!(logger, "web client";
        "listen" => %web.listen,
        "https" => web.https.is_some(),
        "upstream" => web.upstream.as_deref().unwrap_or("this server"),
        "upstream_tls" => if web.upstream.is_none() { own_tls.scheme() } else { "as written" },
        "allowed_upstreams" => web.allowed_upstreams.len(),
        "secure_cookies" => web.secure_cookies || web.https.is_some(),
    );
    if web.upstream.is_none() {
        let tls = config.tls.as_ref().map(|t| t.tls.config());
        if own_tls == UpstreamTls::None && tls.is_some_and(|t| t.control != oxftp_core::tls::TlsRequirement::Optional) {
            warn!(
                logger,
                "web.upstream_tls = \"none\", but tls.control requires TLS: account logins through the web client will fail"
            );
        }
        if own_tls != UpstreamTls::None
            && tls.is_some_and(|t| t.client_certs == oxftp_core::tls::ClientCertMode::Require)
        {
            warn!(
                logger,
                "tls.client_certs = \"require\", but the web client has no client certificate: its logins will fail"
            );
        }
        if config.ban.as_ref().is_some_and(|ban| !ban.per_user) {
            warn!(
                logger,
                "failed web logins all come from the gateway's address; a [ban] without per_user = true locks every web user out"
            );
        }
        if config.load.max_sessions_per_ip > 0 {
            warn!(logger, "every web session holds up to 2 FTP connections from the gateway's address; server.max_sessions_per_ip caps them all together";
                "max_sessions_per_ip" => config.load.max_sessions_per_ip);
        }
    }
    if web.https.is_none() && !web.listen.ip().is_loopback() {
        warn!(logger, "the web client serves plain HTTP on a non-loopback address: passwords cross the network in clear unless an HTTPS proxy is in front (web.tls = true serves HTTPS)";
            "listen" => %web.listen);
    }
    let limits = &web.limits;
    info!(logger, "web client limits";
        "max_connections" => limits.max_connections,
        "max_connections_per_ip" => limits.max_connections_per_ip,
        "max_sessions" => limits.max_sessions,
        "max_sessions_per_user" => limits.max_sessions_per_user,
        "max_sessions_per_ip" => limits.max_sessions_per_ip,
        "login_attempts_per_minute" => limits.login_attempts_per_minute,
        "max_login_failures" => limits.max_login_failures,
        "trusted_proxies" => web.trusted_proxies.len(),
    );
    // The web listener shares the process's descriptors with FTP: a cap near
    // the limit would let a flood of browser connections starve FTP logins.
    let open_files = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    if let Some(open_files) = open_files
        && limits.max_connections as u64 > open_files / 2
    {
        warn!(logger, "web.max_connections is more than half the open-file limit, which the FTP listeners share: a flood of browser connections could leave FTP without descriptors; lower it or raise the limit (ulimit -n, LimitNOFILE=)";
            "max_connections" => limits.max_connections, "open_file_limit" => open_files);
    }
}
