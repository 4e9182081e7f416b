//! Running oxftpd as a watched service: the admin listener (`[admin]`:
//! Prometheus metrics, health and readiness probes) and event hooks
//! (`[hooks]` and `[[hook]]`: webhooks and commands fed from an on-disk
//! spool, see the `oxftp-hooks` crate).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};

use oxftp_hooks::HookConfig;
use serde::Deserialize;
use toml::Spanned;

use super::Validator;

/// Where the admin listener listens when `[admin]` does not say: loopback
/// only, since it has no authentication.
pub const DEFAULT_ADMIN_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9121);

/// `[admin]`: the admin HTTP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// `admin.listen` (port 0: any free port).
    pub listen: SocketAddr,
    /// `admin.per_user_metrics`: the `oxftp_user_*` families, one series
    /// per account and label.
    pub per_user_metrics: bool,
}

/// `[hooks]` and its `[[hook]]` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HooksSettings {
    /// `hooks.spool_dir`: each hook spools its events in a directory of its
    /// own below it (created at start-up).
    pub spool_dir: PathBuf,
    /// The hooks, validated.
    pub hooks: Vec<HookConfig>,
}

/// `[admin]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAdmin {
    listen: Option<Spanned<String>>,
    per_user_metrics: Option<bool>,
}

/// `[hooks]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHooks {
    spool_dir: Option<Spanned<String>>,
}

impl Validator<'_> {
    /// `[admin]`: on when the table is present.
    pub(super) fn admin(&mut self, raw: RawAdmin) -> AdminSettings {
        let mut admin = AdminSettings { listen: DEFAULT_ADMIN_LISTEN, per_user_metrics: false };
        if let Some(listen) = raw.listen {
            match listen.get_ref().parse::<SocketAddr>() {
                Ok(addr) => admin.listen = addr,
                Err(_) => self.error(
                    listen.span(),
                    "admin.listen",
                    format!("expected \"IP:PORT\" such as \"127.0.0.1:9121\", found {:?}", listen.get_ref()),
                ),
            }
        }
        admin.per_user_metrics = raw.per_user_metrics.unwrap_or(false);
        admin
    }

    /// `[hooks]` and the `[[hook]]` entries: every hook valid (each mistake
    /// reported at the line of its key), names unique, and a spool
    /// directory when there is any hook. `None` without hooks.
    pub(super) fn hooks(
        &mut self,
        raw: Option<Spanned<RawHooks>>,
        entries: Vec<Spanned<HookConfig>>,
        base: &Path,
    ) -> Option<HooksSettings> {
        let (table_span, raw) = match raw {
            Some(table) => (Some(table.span()), table.into_inner()),
            None => (None, RawHooks::default()),
        };
        let spool_dir = raw.spool_dir.and_then(|dir| self.spool_dir(dir, base));
        let mut hooks = Vec::with_capacity(entries.len());
        let mut names = std::collections::HashSet::new();
        for entry in entries {
            let span = entry.span();
            let mut hook = entry.into_inner();
            if let Err(e) = hook.validate() {
                let at = self.key_span(span.clone(), e.key);
                self.error(at, &format!("hook.{}", e.key), format!("hook {:?}: {}", hook.name, e.message));
                continue;
            }
            if !names.insert(hook.name.clone()) {
                let at = self.key_span(span, "name");
                self.error(
                    at,
                    "hook.name",
                    format!("{:?} names two hooks; each needs its own name (its spool directory)", hook.name),
                );
                continue;
            }
            if let Some(ca) = hook.ca_file.take() {
                let at = self.key_span(span.clone(), "ca_file");
                let value = Spanned::new(at, ca.to_string_lossy().into_owned());
                hook.ca_file = self.readable_file(value, "hook.ca_file", base, "PEM CA certificates");
            }
            hooks.push((hook, span));
        }
        if hooks.is_empty() {
            return None;
        }
        let Some(spool_dir) = spool_dir else {
            if !self.errors.iter().any(|e| e.key.as_deref() == Some("hooks.spool_dir")) {
                let message = "[[hook]] entries need a spool directory: [hooks] spool_dir = \"/var/lib/oxftpd/hooks\"";
                match table_span {
                    Some(span) => self.error(span, "hooks.spool_dir", message),
                    None => self.error(hooks[0].1.clone(), "hooks.spool_dir", message),
                }
            }
            return None;
        };
        Some(HooksSettings { spool_dir, hooks: hooks.into_iter().map(|(hook, _)| hook).collect() })
    }

    /// `hooks.spool_dir`: a directory, or a path whose parent is one (it is
    /// created at start-up).
    fn spool_dir(&mut self, value: Spanned<String>, base: &Path) -> Option<PathBuf> {
        const EXPECTED: &str = "expected a directory such as \"/var/lib/oxftpd/hooks\"";
        let path = base.join(value.get_ref());
        let problem = if value.get_ref().is_empty() {
            EXPECTED.to_string()
        } else if path.exists() && !path.is_dir() {
            format!("{} is not a directory; {EXPECTED}", path.display())
        } else if !path.exists() && !path.parent().is_some_and(Path::is_dir) {
            format!("neither {} nor its parent directory exists; create the parent", path.display())
        } else {
            return Some(path);
        };
        self.error(value.span(), "hooks.spool_dir", problem);
        None
    }

    /// Where `key = ...` is written inside the `[[hook]]` table at `table`
    /// (which may span only its header: the body runs to the next header),
    /// or the table itself when the key is not written there (a default).
    fn key_span(&self, table: Range<usize>, key: &str) -> Range<usize> {
        let Some(text) = self.text.get(table.start..) else { return table };
        let mut offset = table.start;
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let trimmed = line.trim_start();
            if i > 0 && offset >= table.end && trimmed.starts_with('[') {
                break;
            }
            if let Some(rest) = trimmed.strip_prefix(key)
                && rest.trim_start().starts_with('=')
            {
                let start = offset + (line.len() - trimmed.len());
                return start..start + key.len();
            }
            offset += line.len();
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ConfigError, parse_after_storage};
    use super::*;

    fn errors(text: &str) -> Vec<ConfigError> {
        parse_after_storage(text).expect_err("expected errors")
    }

    #[test]
    fn admin_is_off_unless_its_table_is_there() {
        let config = parse_after_storage("").unwrap();
        assert!(config.admin.is_none());
        let config = parse_after_storage("[admin]\n").unwrap();
        assert_eq!(config.admin, Some(AdminSettings { listen: DEFAULT_ADMIN_LISTEN, per_user_metrics: false }));
        let config = parse_after_storage("[admin]\nlisten = \"127.0.0.1:0\"\nper_user_metrics = true\n").unwrap();
        assert_eq!(
            config.admin,
            Some(AdminSettings { listen: "127.0.0.1:0".parse().unwrap(), per_user_metrics: true })
        );
    }

    #[test]
    fn admin_mistakes_name_key_and_line() {
        let e = errors("[admin]\nlisten = \"localhost\"\n");
        assert_eq!((e[0].line, e[0].key.as_deref()), (Some(4), Some("admin.listen")));
        let e = errors("[admin]\nport = 9121\n");
        assert_eq!(e[0].line, Some(4), "{e:?}");
        assert!(e[0].message.contains("port"), "{e:?}");
    }

    #[test]
    fn hooks_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        let text = format!(
            "[hooks]\nspool_dir = {spool:?}\n\n[[hook]]\nname = \"up\"\nevents = [\"upload\"]\nurl = \"http://127.0.0.1:9/x\"\nsecret = \"s\"\nchecksum = true\n\n\
             [[hook]]\nname = \"mover\"\ncommand = [\"/usr/local/bin/move\", \"--to\", \"/archive\"]\non_full = \"refuse\"\n"
        );
        let config = parse_after_storage(&text).unwrap();
        let hooks = config.hooks.unwrap();
        assert_eq!(hooks.spool_dir, spool);
        assert_eq!(hooks.hooks.len(), 2);
        assert_eq!(hooks.hooks[0].events, ["upload"]);
        assert!(hooks.hooks[0].checksum);
        assert_eq!(hooks.hooks[1].on_full, oxftp_hooks::OnFull::Refuse);
        assert!(parse_after_storage("[hooks]\nspool_dir = \"/nonexistent/a/b\"\n").is_err());
        assert!(parse_after_storage("").unwrap().hooks.is_none());
    }

    /// The commented-out `[admin]`, `[hooks]` and `[[hook]]` of the example,
    /// uncommented (the webhook, not the command), make a valid config.
    #[test]
    fn the_examples_tables_are_valid_when_uncommented() {
        let example = include_str!("../../../../oxftpd.example.toml");
        let start = example.find("\n# [admin]").expect("an [admin] example");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hooks-ca.pem"), "").unwrap();
        let mut text = String::from("[storage]\nroot = \".\"\n");
        for line in example[start..].lines() {
            let Some(rest) = line.strip_prefix("# ") else { continue };
            let is_key =
                rest.split_once(" = ").is_some_and(|(k, _)| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            if rest.starts_with('[') && rest.ends_with(']') || is_key && !rest.starts_with("command = ") {
                text.push_str(&rest.replace("/var/lib/oxftpd/hooks", &dir.path().join("spool").display().to_string()));
                text.push('\n');
            }
        }
        let config = super::super::Config::from_toml(&text, dir.path(), &Default::default())
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(config.admin, Some(AdminSettings { listen: DEFAULT_ADMIN_LISTEN, per_user_metrics: false }));
        let hooks = config.hooks.expect("the example hook");
        assert_eq!(hooks.hooks.len(), 1);
        assert_eq!(hooks.hooks[0].name, "pipeline");
        assert_eq!(hooks.hooks[0].url.as_deref(), Some("https://hooks.example.org/ftp"));
        assert_eq!(
            hooks.hooks[0],
            {
                let mut expected = HookConfig::webhook("pipeline", "https://hooks.example.org/ftp");
                expected.events = vec!["upload".into()];
                expected.users = vec!["partner1".into()];
                expected.path = Some("/incoming/**".into());
                expected.secret = Some("a long random string".into());
                expected.ca_file = Some(dir.path().join("hooks-ca.pem"));
                expected
            },
            "the example shows the defaults"
        );
    }

    #[test]
    fn hook_mistakes_name_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let head = format!("[hooks]\nspool_dir = {:?}\n", dir.path());
        // Lines: 1-2 [storage], 3-4 [hooks], 5 [[hook]], 6 name, 7 url ...
        let e = errors(&format!("{head}[[hook]]\nname = \"h\"\nurl = \"gopher://x/\"\n"));
        assert_eq!((e[0].line, e[0].key.as_deref()), (Some(7), Some("hook.url")), "{e:?}");
        assert!(e[0].message.contains("http"), "{e:?}");
        let e = errors(&format!("{head}[[hook]]\nname = \"h\"\nurl = \"http://x/\"\nevents = [\"uplaod\"]\n"));
        assert_eq!((e[0].line, e[0].key.as_deref()), (Some(8), Some("hook.events")), "{e:?}");
        let e = errors(&format!("{head}[[hook]]\nname = \"h\"\n"));
        assert_eq!(e[0].key.as_deref(), Some("hook.url"), "{e:?}");
        assert_eq!(e[0].line, Some(5), "a missing key is reported at its table");
        let e = errors(&format!(
            "{head}[[hook]]\nname = \"h\"\nurl = \"http://x/\"\n[[hook]]\nname = \"h\"\ncommand = [\"/bin/true\"]\n"
        ));
        assert_eq!((e[0].line, e[0].key.as_deref()), (Some(9), Some("hook.name")), "{e:?}");
        let e = errors(&format!("{head}[[hook]]\nname = \"h\"\nurl = \"http://x/\"\nurll = 1\n"));
        assert_eq!(e[0].line, Some(8), "{e:?}");
        // Hooks without a spool directory.
        let e = errors("[[hook]]\nname = \"h\"\nurl = \"http://x/\"\n");
        assert_eq!((e[0].line, e[0].key.as_deref()), (Some(3), Some("hooks.spool_dir")), "{e:?}");
        let e = errors(&format!("{head}[[hook]]\nname = \"h\"\nurl = \"https://x/\"\nca_file = \"missing.pem\"\n"));
        assert_eq!((e[0].line, e[0].key.as_deref()), (Some(8), Some("hook.ca_file")), "{e:?}");
    }
}
