//! `[sftp]`: the SFTP front end's options.

use oxftp_core::server::Options;
use slog::{Logger, info};

use crate::config::{Config, SftpSettings};

/// The SFTP front end's options for `[sftp]`: its host keys (made now when
/// missing, fingerprints logged), its own limits and timeouts, and what it
/// shares with the FTP side (the failed-login delay, the shutdown grace,
/// the transfer listeners).
pub(super) fn sftp_options(
    settings: &SftpSettings,
    config: &Config,
    options: &Options,
    logger: &Logger,
) -> anyhow::Result<oxftp_sftp::SftpOptions> {
    use oxftp_sftp::host_keys::{KeyKind, load_or_generate};
    let mut files = vec![(settings.host_key.as_path(), KeyKind::Ed25519)];
    if let Some(rsa) = &settings.rsa_host_key {
        files.push((rsa.as_path(), KeyKind::Rsa));
    }
    let mut keys = Vec::with_capacity(files.len());
    for (file, kind) in files {
        let key = load_or_generate(file, kind).map_err(|e| anyhow::anyhow!("sftp: {e}"))?;
        let what = if key.generated { "SFTP host key generated" } else { "SFTP host key" };
        info!(logger, "{}", what; "file" => %file.display(), "algorithm" => key.algorithm(), "fingerprint" => key.fingerprint());
        keys.push(key.key);
    }
    let mut sftp = oxftp_sftp::SftpOptions::new(keys);
    sftp.idle_timeout = settings.idle_timeout;
    sftp.login_timeout = settings.login_timeout;
    sftp.failed_login_delay = options.failed_login_delay;
    sftp.max_auth_attempts = settings.max_auth_attempts;
    sftp.max_channels = settings.max_channels;
    sftp.max_handles = settings.max_handles;
    sftp.shutdown_timeout = config.server.shutdown_timeout;
    sftp.chmod_special_bits = config.server.chmod_special_bits;
    sftp.transfer_listeners = options.transfer_listeners.clone();
    sftp.metrics = options.metrics.clone();
    Ok(sftp)
}
