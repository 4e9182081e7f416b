//! Who may connect and how much of the server they may use: the global
//! address rules (`[access]`), the failed-login ban (`[ban]`) and the
//! server-wide session and bandwidth limits of `[server]`.

use std::ops::Range;
use std::time::Duration;

use oxftp_core::account::{IpNet, IpRules};
use oxftp_core::limits::BanPolicy;
use serde::Deserialize;
use toml::Spanned;

use super::{MAX_TIMEOUT_SECS, Validator};

/// The `[server]` keys about load: sessions per address and bandwidth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadLimits {
    /// Concurrent sessions from one client address (0 = unlimited).
    pub max_sessions_per_ip: usize,
    /// Connections from one client address not logged in yet (0 = unlimited).
    pub max_prelogin_per_ip: usize,
    /// Server-wide download rate in bytes per second (`None`: unlimited).
    pub download_rate: Option<u64>,
    /// Server-wide upload rate in bytes per second (`None`: unlimited).
    pub upload_rate: Option<u64>,
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits {
            max_sessions_per_ip: 0,
            max_prelogin_per_ip: super::DEFAULT_MAX_PRELOGIN_PER_IP,
            download_rate: None,
            upload_rate: None,
        }
    }
}

/// `[access]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAccess {
    allow: Vec<Spanned<String>>,
    deny: Vec<Spanned<String>>,
}

/// `[ban]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawBan {
    enabled: Option<bool>,
    max_failures: Option<Spanned<u32>>,
    window: Option<Spanned<u64>>,
    ban_time: Option<Spanned<u64>>,
    per_user: Option<bool>,
}

/// A rate in bytes per second as written: 0 means unlimited.
pub(super) fn rate(value: Option<u64>) -> Option<u64> {
    value.filter(|r| *r > 0)
}

impl Validator<'_> {
    /// `[access]`: every entry must be an address or a CIDR network.
    pub(super) fn access(&mut self, raw: RawAccess) -> IpRules {
        IpRules { allow: self.networks(raw.allow, "access.allow"), deny: self.networks(raw.deny, "access.deny") }
    }

    /// Parses a list of networks, recording each bad one.
    fn networks(&mut self, items: Vec<Spanned<String>>, key: &str) -> Vec<IpNet> {
        let mut nets = Vec::with_capacity(items.len());
        for item in items {
            match item.get_ref().parse::<IpNet>() {
                Ok(net) => nets.push(net),
                Err(e) => self.error(
                    item.span(),
                    key,
                    format!("{e}; expected an address or network such as \"192.0.2.0/24\" or \"::1\""),
                ),
            }
        }
        nets
    }

    /// `[ban]`: off when the table is absent or `enabled = false`; the
    /// engine's defaults (5 failures in 300 s, banned for 900 s) otherwise.
    pub(super) fn ban(&mut self, raw: Option<RawBan>) -> Option<BanPolicy> {
        let raw = raw?;
        let mut policy = BanPolicy::default();
        if let Some(max) = raw.max_failures {
            if *max.get_ref() >= 1 {
                policy.max_failures = *max.get_ref();
            } else {
                self.error(max.span(), "ban.max_failures", "expected at least 1");
            }
        }
        policy.window = self.seconds(raw.window, "ban.window").unwrap_or(policy.window);
        policy.ban_time = self.seconds(raw.ban_time, "ban.ban_time").unwrap_or(policy.ban_time);
        policy.per_user = raw.per_user.unwrap_or(false);
        raw.enabled.unwrap_or(true).then_some(policy)
    }

    /// A duration in whole seconds from 1 to [`MAX_TIMEOUT_SECS`].
    pub(super) fn seconds(&mut self, value: Option<Spanned<u64>>, key: &str) -> Option<Duration> {
        let value = value?;
        if (1..=MAX_TIMEOUT_SECS).contains(value.get_ref()) {
            Some(Duration::from_secs(*value.get_ref()))
        } else {
            let span: Range<usize> = value.span();
            self.error(span, key, format!("expected seconds from 1 to {MAX_TIMEOUT_SECS}, found {}", value.get_ref()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse_after_storage as parse;

    #[test]
    fn limits_rules_and_ban_are_read() {
        let config = parse(
            "[server]\nmax_sessions_per_ip = 10\nmax_prelogin_per_ip = 4\nmax_unknown_before_login = 0\n\
             download_rate = 1048576\nupload_rate = 0\n\
             [access]\nallow = [\"127.0.0.0/8\", \"::1\"]\ndeny = [\"127.0.0.2\"]\n\
             [ban]\nmax_failures = 3\nwindow = 60\nban_time = 2\nper_user = true\n",
        )
        .unwrap();
        assert_eq!((config.load.max_sessions_per_ip, config.load.max_prelogin_per_ip), (10, 4));
        assert_eq!(config.server.max_unknown_before_login, 0);
        let defaults = parse("").unwrap();
        assert_eq!(defaults.load.max_prelogin_per_ip, crate::config::DEFAULT_MAX_PRELOGIN_PER_IP);
        assert_eq!(defaults.server.max_unknown_before_login, 3);
        assert_eq!((config.load.download_rate, config.load.upload_rate), (Some(1048576), None));
        assert!(config.access.permits("127.0.0.1".parse().unwrap()));
        assert!(!config.access.permits("127.0.0.2".parse().unwrap()));
        assert!(!config.access.permits("192.0.2.1".parse().unwrap()));
        let ban = config.ban.unwrap();
        assert_eq!((ban.max_failures, ban.window.as_secs(), ban.ban_time.as_secs(), ban.per_user), (3, 60, 2, true));
    }

    #[test]
    fn ban_is_off_without_the_table_or_when_disabled() {
        assert!(parse("").unwrap().ban.is_none());
        assert!(parse("[ban]\nenabled = false\n").unwrap().ban.is_none());
        let defaults = parse("[ban]\n").unwrap().ban.unwrap();
        assert_eq!(defaults.max_failures, 5);
        let config = parse("").unwrap();
        assert_eq!(config.load, super::LoadLimits::default());
    }

    #[test]
    fn bad_values_name_key_and_line() {
        let errors = parse("[access]\nallow = [\"10.0.0.0/8\", \"nonsense\"]\ndeny = [\"::1/129\"]\n[ban]\nmax_failures = 0\nwindow = 0\n")
            .unwrap_err();
        let got: Vec<_> = errors.iter().map(|e| (e.line.map(|l| l - 2), e.key.clone().unwrap_or_default())).collect();
        assert_eq!(
            got,
            vec![
                (Some(2), "access.allow".to_string()),
                (Some(3), "access.deny".to_string()),
                (Some(5), "ban.max_failures".to_string()),
                (Some(6), "ban.window".to_string()),
            ]
        );
        assert!(errors[0].message.contains("nonsense"), "{}", errors[0].message);
        let errors = parse("[server]\ndownload_rate = -1\n").unwrap_err();
        assert_eq!(errors[0].key.as_deref(), Some("server.download_rate"));
    }
}
