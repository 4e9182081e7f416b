//! `HookConfig`: one hook as a TOML table (`[[hook]]` in oxftpd's config).

use std::path::PathBuf;
use std::time::Duration;

use oxftp_core::events::EventKind;
use serde::Deserialize;

use crate::filter::PathGlob;

/// What to do when a hook's spool holds `max_spooled` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFull {
    /// Delete the oldest spooled event (logged as an error, counted as
    /// dropped) so the new one fits. Operations never wait on the receiver.
    #[default]
    DropOldest,
    /// Refuse operations this hook would report (451) until the receiver has
    /// caught up: nothing is lost, but users feel the outage.
    Refuse,
}

/// One hook, as written in the config:
///
/// ```toml
/// [[hook]]
/// name = "pipeline"                 # spool directory name: letters, digits, '-', '_'
/// events = ["upload"]               # default: every kind
/// users = ["partner1"]              # default: every user
/// path = "/incoming/**"             # default: every path
/// url = "https://hooks.example/ftp" # a webhook ...
/// secret = "..."                    # ... signed with HMAC-SHA256 (X-Oxftp-Signature)
/// # command = ["/usr/local/bin/on-upload", "--queue", "ftp"]   # ... or a program
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// Names the hook in logs and metrics, and its spool directory.
    pub name: String,
    /// Event kinds to report (`login`, `login_failed`, `logout`, `upload`,
    /// `download`, `delete`, `rename`, `mkdir`, `rmdir`); empty: all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Users to report; empty: all.
    #[serde(default)]
    pub users: Vec<String>,
    /// Only events whose path (user's view) matches this glob: `*` and `?`
    /// within one path component, `**` for any number of components. Events
    /// without a path (logins) never match a hook that sets it.
    #[serde(default)]
    pub path: Option<String>,
    /// Webhook: POST each event as JSON to this http(s) URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Webhook: the HMAC-SHA256 key for `X-Oxftp-Signature`.
    #[serde(default)]
    pub secret: Option<String>,
    /// Webhook: an extra CA certificate (PEM) to trust besides the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Command: the program and its arguments, run without a shell; the
    /// event comes as JSON on stdin and as `OXFTP_*` environment variables.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Seconds one delivery may take (the request, or the command until it
    /// exits); then it counts as failed (a command is killed).
    #[serde(default = "defaults::timeout")]
    pub timeout: u64,
    /// Deliveries at once.
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    /// Attempts per event before it is moved to the spool's `failed/`
    /// directory (logged as an error). With the default delays, about four
    /// hours of receiver outage.
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    /// First delay after a failed delivery, in milliseconds; it doubles after
    /// each failure in a row, up to `retry_max_delay`.
    #[serde(default = "defaults::retry_delay_ms")]
    pub retry_delay_ms: u64,
    /// Longest delay between attempts, in seconds.
    #[serde(default = "defaults::retry_max_delay")]
    pub retry_max_delay: u64,
    /// Most events waiting in the spool.
    #[serde(default = "defaults::max_spooled")]
    pub max_spooled: usize,
    /// What happens when the spool is full.
    #[serde(default)]
    pub on_full: OnFull,
    /// Upload events carry the SHA-256 of the uploaded bytes (the upload is
    /// then hashed as it streams, which costs CPU and zero-copy receive).
    #[serde(default)]
    pub checksum: bool,
    /// `fsync` each spooled event before the client's reply: survives power
    /// loss, not only a crash of the process, at the cost of a disk flush
    /// per event.
    #[serde(default)]
    pub fsync: bool,
}

mod defaults {
    pub(super) fn timeout() -> u64 {
        10
    }
    pub(super) fn concurrency() -> usize {
        4
    }
    pub(super) fn max_attempts() -> u32 {
        60
    }
    pub(super) fn retry_delay_ms() -> u64 {
        1000
    }
    pub(super) fn retry_max_delay() -> u64 {
        300
    }
    pub(super) fn max_spooled() -> usize {
        10_000
    }
}

/// A mistake in a hook's settings; `key` is the field (e.g. `url`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct HookConfigError {
    /// The field at fault.
    pub key: &'static str,
    /// What is wrong and what is expected.
    pub message: String,
}

/// How a validated hook delivers.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Webhook { url: reqwest::Url },
    Command { program: String, args: Vec<String> },
}

/// A hook's settings after validation.
#[derive(Debug, Clone)]
pub(crate) struct Validated {
    pub kinds: Vec<EventKind>,
    pub path: Option<PathGlob>,
    pub target: Target,
    pub timeout: Duration,
    pub retry_delay: Duration,
    pub retry_max_delay: Duration,
}

impl HookConfig {
    /// A webhook to `url` with every other setting at its default.
    pub fn webhook(name: impl Into<String>, url: impl Into<String>) -> HookConfig {
        HookConfig { url: Some(url.into()), ..HookConfig::empty(name.into()) }
    }

    /// A command hook running `argv` with every other setting at its default.
    pub fn command(name: impl Into<String>, argv: Vec<String>) -> HookConfig {
        HookConfig { command: Some(argv), ..HookConfig::empty(name.into()) }
    }

    fn empty(name: String) -> HookConfig {
        HookConfig {
            name,
            events: Vec::new(),
            users: Vec::new(),
            path: None,
            url: None,
            secret: None,
            ca_file: None,
            command: None,
            timeout: defaults::timeout(),
            concurrency: defaults::concurrency(),
            max_attempts: defaults::max_attempts(),
            retry_delay_ms: defaults::retry_delay_ms(),
            retry_max_delay: defaults::retry_max_delay(),
            max_spooled: defaults::max_spooled(),
            on_full: OnFull::default(),
            checksum: false,
            fsync: false,
        }
    }

    /// Checks every field; the first mistake found is returned.
    pub fn validate(&self) -> Result<(), HookConfigError> {
        self.validated().map(drop)
    }

    pub(crate) fn validated(&self) -> Result<Validated, HookConfigError> {
        let err = |key, message: String| Err(HookConfigError { key, message });
        if self.name.is_empty()
            || self.name.len() > 64
            || !self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return err("name", format!("{:?}: expected 1 to 64 letters, digits, '-' or '_'", self.name));
        }
        let mut kinds = Vec::new();
        for name in &self.events {
            match EventKind::from_name(name) {
                Some(kind) => kinds.push(kind),
                None => {
                    let known: Vec<_> = EventKind::ALL.iter().map(|k| k.name()).collect();
                    return err("events", format!("unknown event {name:?}; expected one of {}", known.join(", ")));
                }
            }
        }
        let path = match &self.path {
            None => None,
            Some(p) => Some(PathGlob::new(p).map_err(|message| HookConfigError { key: "path", message })?),
        };
        let target = match (&self.url, &self.command) {
            (Some(_), Some(_)) => return err("command", "set either url or command, not both".into()),
            (None, None) => {
                return err("url", "a hook needs url = \"https://...\" or command = [\"/path\", ...]".into());
            }
            (Some(url), None) => {
                let parsed = reqwest::Url::parse(url)
                    .map_err(|e| HookConfigError { key: "url", message: format!("{url:?} is not a URL: {e}") })?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                    return err("url", format!("{url:?}: expected an http:// or https:// URL with a host"));
                }
                Target::Webhook { url: parsed }
            }
            (None, Some(argv)) => match argv.split_first() {
                Some((program, args)) if !program.is_empty() => {
                    if argv.iter().any(|a| a.contains('\0')) {
                        return err("command", "arguments cannot contain NUL bytes".into());
                    }
                    Target::Command { program: program.clone(), args: args.to_vec() }
                }
                _ => return err("command", "expected [\"/path/to/program\", \"arg\", ...]".into()),
            },
        };
        if self.secret.is_some() && self.url.is_none() {
            return err("secret", "only used by webhooks (url = ...)".into());
        }
        if self.ca_file.is_some() && self.url.is_none() {
            return err("ca_file", "only used by webhooks (url = ...)".into());
        }
        if self.timeout == 0 || self.timeout > 3600 {
            return err("timeout", format!("{}: expected 1 to 3600 seconds", self.timeout));
        }
        if self.concurrency == 0 || self.concurrency > 256 {
            return err("concurrency", format!("{}: expected 1 to 256", self.concurrency));
        }
        if self.max_attempts == 0 {
            return err("max_attempts", "expected at least 1".into());
        }
        if self.retry_delay_ms == 0 || self.retry_delay_ms > 3_600_000 {
            return err("retry_delay_ms", format!("{}: expected 1 to 3600000", self.retry_delay_ms));
        }
        if self.retry_max_delay == 0 || self.retry_max_delay > 86_400 {
            return err("retry_max_delay", format!("{}: expected 1 to 86400 seconds", self.retry_max_delay));
        }
        if self.max_spooled == 0 || self.max_spooled > 10_000_000 {
            return err("max_spooled", format!("{}: expected 1 to 10000000", self.max_spooled));
        }
        Ok(Validated {
            kinds,
            path,
            target,
            timeout: Duration::from_secs(self.timeout),
            retry_delay: Duration::from_millis(self.retry_delay_ms),
            retry_max_delay: Duration::from_secs(self.retry_max_delay).max(Duration::from_millis(self.retry_delay_ms)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> HookConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_webhook_with_defaults() {
        let hook = parse("name = \"h\"\nurl = \"http://127.0.0.1:9/x\"\n");
        assert_eq!(hook, HookConfig::webhook("h", "http://127.0.0.1:9/x"));
        let v = hook.validated().unwrap();
        assert!(v.kinds.is_empty());
        assert!(matches!(v.target, Target::Webhook { .. }));
        assert_eq!(v.timeout, Duration::from_secs(10));
        assert_eq!(hook.on_full, OnFull::DropOldest);
    }

    #[test]
    fn mistakes_name_their_key() {
        let key = |text: &str| parse(text).validate().unwrap_err().key;
        assert_eq!(key("name = \"a b\"\nurl = \"http://x/\""), "name");
        assert_eq!(key("name = \"h\""), "url");
        assert_eq!(key("name = \"h\"\nurl = \"ftp://x/\""), "url");
        assert_eq!(key("name = \"h\"\nurl = \"not a url\""), "url");
        assert_eq!(key("name = \"h\"\nurl = \"http://x/\"\ncommand = [\"/bin/true\"]"), "command");
        assert_eq!(key("name = \"h\"\ncommand = []"), "command");
        assert_eq!(key("name = \"h\"\ncommand = [\"/bin/true\"]\nsecret = \"s\""), "secret");
        assert_eq!(key("name = \"h\"\nurl = \"http://x/\"\nevents = [\"uplaod\"]"), "events");
        assert_eq!(key("name = \"h\"\nurl = \"http://x/\"\ntimeout = 0"), "timeout");
        assert_eq!(key("name = \"h\"\nurl = \"http://x/\"\nconcurrency = 0"), "concurrency");
        assert_eq!(key("name = \"h\"\nurl = \"http://x/\"\nmax_spooled = 0"), "max_spooled");
        assert_eq!(key("name = \"h\"\nurl = \"http://x/\"\npath = \"\""), "path");
        assert!(toml::from_str::<HookConfig>("name = \"h\"\nurl = \"http://x/\"\nurll = 1").is_err());
        assert!(toml::from_str::<HookConfig>("name = \"h\"\nurl = \"http://x/\"\non_full = \"block\"").is_err());
    }
}
