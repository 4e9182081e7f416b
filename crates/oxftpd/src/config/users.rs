//! `[users]`: the accounts file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use oxftp_auth_file::FileAuthenticator;
use serde::Deserialize;
use toml::Spanned;

use super::Validator;

/// `[users]`: the accounts file.
#[derive(Debug, Clone)]
pub struct UsersConfig {
    /// Resolved path of the users file.
    pub file: PathBuf,
    /// Its accounts, already validated.
    pub authenticator: Arc<FileAuthenticator>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawUsers {
    pub(super) file: Option<Spanned<String>>,
}

impl Validator<'_> {
    pub(super) fn users(&mut self, raw: RawUsers, base: &Path) -> Option<UsersConfig> {
        let file = raw.file?;
        let path = base.join(file.get_ref());
        match FileAuthenticator::load(&path) {
            Ok(auth) => Some(UsersConfig { file: path, authenticator: Arc::new(auth) }),
            Err(e) if e.line().is_some() => {
                // A problem inside the users file: report it there.
                self.errors.push(e.diagnostic().clone());
                None
            }
            Err(e) => {
                self.error(file.span(), "users.file", e.to_string());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{parse, tree};
    use super::super::*;

    #[test]
    fn users_file_is_loaded_relative_to_the_config() {
        let dir = tree();
        let hash = oxftp_auth_file::hash_password("pw");
        std::fs::write(dir.path().join("users.toml"), format!("[[user]]\nname = \"a\"\npassword_hash = \"{hash}\"\n"))
            .unwrap();
        let config = parse(&dir, "[users]\nfile = \"users.toml\"\n").unwrap();
        let users = config.users.unwrap();
        assert_eq!(users.file, dir.path().join("users.toml"));
        assert_eq!(users.authenticator.len(), 1);
    }

    #[test]
    fn users_file_errors_keep_their_own_file_and_line() {
        let dir = tree();
        let users = dir.path().join("users.toml");
        std::fs::write(&users, "[[user]]\nname = \"a\"\npassword_hash = \"nope\"\n").unwrap();
        let config_path = dir.path().join("oxftpd.toml");
        std::fs::write(&config_path, "[users]\nfile = \"users.toml\"\n").unwrap();
        let errs = Config::load(&config_path, &Overrides::default()).unwrap_err().0;
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].file.as_deref(), Some(users.as_path()));
        assert_eq!((errs[0].line, errs[0].key.as_deref()), (Some(3), Some("user.password_hash")));

        // A users file that cannot be read is reported at the config key.
        std::fs::write(&config_path, "\n[users]\nfile = \"absent.toml\"\n").unwrap();
        let errs = Config::load(&config_path, &Overrides::default()).unwrap_err().0;
        assert_eq!(errs[0].file.as_deref(), Some(config_path.as_path()));
        assert_eq!((errs[0].line, errs[0].key.as_deref()), (Some(3), Some("users.file")));
    }
}
