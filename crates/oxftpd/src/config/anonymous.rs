//! `[anonymous]`: the anonymous access model.

use std::path::{Path, PathBuf};

use oxftp_proto::path::VPath;
use serde::Deserialize;
use toml::Spanned;

use super::{FsStorage, Validator, problem};

/// `[anonymous]`: the anonymous access model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnonymousConfig {
    /// `anonymous`/`ftp` may log in.
    pub enabled: bool,
    /// Their root, a virtual path under the storage root.
    pub root: VPath,
    /// Upload-only directory, as the anonymous session sees it.
    pub incoming: Option<VPath>,
    /// Anonymous sessions may use HASH.
    pub hash: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAnonymous {
    enabled: Option<bool>,
    root: Option<Spanned<String>>,
    incoming: Option<Spanned<String>>,
    hash: Option<bool>,
}

impl Validator<'_> {
    pub(super) fn anonymous(&mut self, raw: RawAnonymous, storage: Option<&FsStorage>) -> AnonymousConfig {
        let enabled = raw.enabled.unwrap_or(false);
        let root_span = raw.root.as_ref().map(Spanned::span);
        let root = raw.root.and_then(|root| self.vpath(root, "anonymous.root")).unwrap_or_else(VPath::root);
        let incoming = raw.incoming.and_then(|inc| {
            let span = inc.span();
            let path = self.vpath(inc, "anonymous.incoming")?;
            if path.is_root() {
                self.error(span, "anonymous.incoming", "expected a directory below the anonymous root, not \"/\"");
                return None;
            }
            Some((path, span))
        });
        // When anonymous logins are on, their directories must exist: a typo
        // here would otherwise only show as failing logins or uploads.
        if let (true, Some(storage)) = (enabled, storage) {
            let anon_root = disk_path(&storage.root, &root);
            if !anon_root.is_dir() {
                let message =
                    format!("{} is not a directory (anonymous.root {root} under storage.root)", anon_root.display());
                match root_span {
                    Some(span) => self.error(span, "anonymous.root", message),
                    None => self.errors.push(problem("anonymous.root", message)),
                }
            } else if let Some((incoming, span)) = &incoming {
                let dir = disk_path(&anon_root, incoming);
                if !dir.is_dir() {
                    self.error(
                        span.clone(),
                        "anonymous.incoming",
                        format!("{} is not a directory (incoming {incoming} under the anonymous root)", dir.display()),
                    );
                }
            }
        }
        AnonymousConfig { enabled, root, incoming: incoming.map(|(path, _)| path), hash: raw.hash.unwrap_or(false) }
    }

    /// Parses a virtual path value, recording an error when it is invalid.
    fn vpath(&mut self, value: Spanned<String>, key: &str) -> Option<VPath> {
        match VPath::parse(value.get_ref().as_bytes()) {
            Ok(path) => Some(path),
            Err(e) => {
                self.error(
                    value.span(),
                    key,
                    format!("expected a path like \"/pub\" ({e}), found {:?}", value.get_ref()),
                );
                None
            }
        }
    }
}

/// Where virtual path `path` lies on disk below `root`.
fn disk_path(root: &Path, path: &VPath) -> PathBuf {
    use std::os::unix::ffi::OsStrExt as _;
    let relative = path.relative();
    if relative.is_empty() { root.to_path_buf() } else { root.join(std::ffi::OsStr::from_bytes(relative)) }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{only_error, parse, tree};

    #[test]
    fn anonymous_paths_are_checked() {
        let dir = tree();
        let (line, key, _) = only_error(&dir, "[anonymous]\nroot = \"/a\\u0000\"\n");
        assert_eq!((line, key.as_deref()), (Some(2), Some("anonymous.root")));
        let (line, key, _) = only_error(&dir, "[anonymous]\nincoming = \"/\"\n");
        assert_eq!((line, key.as_deref()), (Some(2), Some("anonymous.incoming")));
        // Enabled: the directories must exist.
        let text = "[storage]\nroot = \"srv\"\n[anonymous]\nenabled = true\nroot = \"/pub\"\nincoming = \"/uploads\"\n";
        let (line, key, message) = only_error(&dir, text);
        assert_eq!((line, key.as_deref()), (Some(6), Some("anonymous.incoming")));
        assert!(message.contains("not a directory"), "{message}");
        let text = "[storage]\nroot = \"srv\"\n[anonymous]\nenabled = true\nroot = \"/public\"\n";
        let (_, key, _) = only_error(&dir, text);
        assert_eq!(key.as_deref(), Some("anonymous.root"));
        // Disabled: not checked, the section may be prepared in advance.
        assert!(parse(&dir, "[storage]\nroot = \"srv\"\n[anonymous]\nroot = \"/public\"\n").is_ok());
    }
}
