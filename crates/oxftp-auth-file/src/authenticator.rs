//! `FileAuthenticator`: the accounts of a users file, checked with argon2id.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use std::net::SocketAddr;

use oxftp_core::auth::{AuthError, Authenticator, BlockingChecks, Credentials, Identity, PublicKey};

use crate::error::UsersFileError;
use crate::file::{UserEntry, parse};
use crate::hash::{DUMMY_HASH, Verdict, verify};

/// Largest users file read, in bytes. Far above any real file (a hash line is
/// ~100 bytes); it stops a misconfigured path such as `/dev/zero` from eating
/// memory.
const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// One account, ready to hand out.
struct Account {
    /// `None`: a key-only account, which no password opens.
    hash: Option<Arc<str>>,
    identity: Identity,
    authorized_keys: Vec<PublicKey>,
}

/// Users from a TOML file: argon2id hashes (PHC strings); bcrypt not needed.
///
/// Failed logins take the same time whether or not the user exists: an
/// unknown name is checked against a hash of the same cost before it is
/// refused.
pub struct FileAuthenticator {
    accounts: HashMap<String, Account>,
    dummy: Arc<str>,
    /// One argon2 check per core at once: each holds its memory cost (19 MiB
    /// with default parameters), so a burst of logins queues.
    checks: BlockingChecks,
}

impl fmt::Debug for FileAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hashes stay out of logs; the account count is what a reader needs.
        f.debug_struct("FileAuthenticator").field("accounts", &self.accounts.len()).finish_non_exhaustive()
    }
}

impl FileAuthenticator {
    /// Reads and validates a users file. Errors name the file, the line and
    /// the key, and say what was expected.
    pub fn load(path: &Path) -> Result<FileAuthenticator, UsersFileError> {
        let file = std::fs::File::open(path).map_err(|e| UsersFileError::io(path, e))?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes).map_err(|e| UsersFileError::io(path, e))?;
        if bytes.len() as u64 > MAX_FILE_SIZE {
            return Err(
                UsersFileError::invalid(None, None, format!("file is larger than {MAX_FILE_SIZE} bytes")).in_file(path)
            );
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = oxftp_diag::line_of(e.as_bytes(), e.utf8_error().valid_up_to());
            UsersFileError::invalid(Some(line), None, "file is not valid UTF-8").in_file(path)
        })?;
        Self::from_toml(&text).map_err(|e| e.in_file(path))
    }

    /// Validates a users file given as text (errors carry line and key, but no file name).
    pub fn from_toml(text: &str) -> Result<FileAuthenticator, UsersFileError> {
        let entries = parse(text)?;
        // Unknown users are checked against a hash with the same costs as the
        // real ones, so an admin who raises the argon2 cost does not make
        // unknown names answer faster. Any account's hash will do: the
        // verdict for an unknown user is discarded.
        let dummy = entries.iter().find_map(|e| e.hash.as_deref()).map_or_else(|| Arc::from(DUMMY_HASH), Arc::from);
        let accounts = entries.into_iter().map(|entry| (entry.name.clone(), account(entry))).collect();
        Ok(FileAuthenticator { accounts, dummy, checks: BlockingChecks::per_core() })
    }

    /// Number of accounts in the file.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// True when the file defines no accounts.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

/// The identity a successful login as `entry` produces.
fn account(entry: UserEntry) -> Account {
    let mut identity = Identity::new(entry.name, entry.class);
    identity.home = entry.home;
    identity.root = entry.root;
    identity.read_only = entry.read_only;
    identity.require_tls = entry.require_tls;
    identity.tls_session_reuse = entry.tls_session_reuse;
    identity.permissions = entry.permissions;
    identity.limits = entry.limits;
    identity.allowed_ips = entry.allowed_ips;
    Account { hash: entry.hash.map(Arc::from), identity, authorized_keys: entry.authorized_keys }
}

#[async_trait]
impl Authenticator for FileAuthenticator {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthError> {
        let account = self.accounts.get(&credentials.user);
        // Unknown users and key-only accounts cost a hash check too.
        let hash = account.and_then(|a| a.hash.clone()).unwrap_or_else(|| self.dummy.clone());
        let password = credentials.password.clone();
        let verdict = self.checks.run(move || verify(password.as_bytes(), &hash)).await?;

        let Some(account) = account else {
            return Err(AuthError::UnknownUser);
        };
        if account.hash.is_none() {
            return Err(AuthError::BadPassword);
        }
        match verdict {
            Verdict::Match => Ok(account.identity.clone()),
            Verdict::Mismatch => Err(AuthError::BadPassword),
            Verdict::Broken(why) => Err(AuthError::Backend(format!("stored hash unusable: {why}"))),
        }
    }

    async fn certificate_login(&self, user: &str, _peer: std::net::SocketAddr) -> Result<Identity, AuthError> {
        self.accounts.get(user).map(|a| a.identity.clone()).ok_or(AuthError::UnknownUser)
    }

    async fn public_key_login(&self, user: &str, key: &PublicKey, _peer: SocketAddr) -> Result<Identity, AuthError> {
        let account = self.accounts.get(user).ok_or(AuthError::UnknownUser)?;
        if account.authorized_keys.contains(key) {
            Ok(account.identity.clone())
        } else {
            Err(AuthError::NotAllowed("key is not among the account's authorized_keys".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use oxftp_core::auth::AccessClass;
    use oxftp_proto::path::VPath;

    use super::*;
    use crate::hash::hash_password;

    fn creds(user: &str, password: &str) -> Credentials {
        Credentials::new(user, password, "192.0.2.7:40000".parse().unwrap())
    }

    fn two_users() -> FileAuthenticator {
        let alice = hash_password("alice-pw");
        let gina = hash_password("gina-pw");
        FileAuthenticator::from_toml(&format!(
            "[[user]]\nname = \"alice\"\npassword_hash = \"{alice}\"\nhome = \"/alice\"\n\n\
             [[user]]\nname = \"gina\"\npassword_hash = \"{gina}\"\nclass = \"guest\"\nhome = \"/guest\"\nread_only = true\nrequire_tls = true\n"
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn good_password_gives_the_configured_identity() {
        let auth = two_users();
        assert_eq!(auth.len(), 2);
        let alice = auth.authenticate(&creds("alice", "alice-pw")).await.unwrap();
        assert_eq!((alice.user.as_str(), alice.class, alice.read_only), ("alice", AccessClass::User, false));
        assert_eq!(alice.home, VPath::parse(b"/alice").unwrap());
        assert_eq!(alice.incoming, None);
        let gina = auth.authenticate(&creds("gina", "gina-pw")).await.unwrap();
        assert_eq!((gina.class, gina.read_only, gina.require_tls), (AccessClass::Guest, true, true));
        assert!(!alice.require_tls, "require_tls defaults to false");
        assert_eq!(gina.home, VPath::parse(b"/guest").unwrap());
    }

    #[tokio::test]
    async fn wrong_password_and_unknown_user_are_told_apart() {
        let auth = two_users();
        assert!(matches!(auth.authenticate(&creds("alice", "gina-pw")).await, Err(AuthError::BadPassword)));
        assert!(matches!(auth.authenticate(&creds("alice", "")).await, Err(AuthError::BadPassword)));
        // Names are case-sensitive, as on Unix.
        assert!(matches!(auth.authenticate(&creds("Alice", "alice-pw")).await, Err(AuthError::UnknownUser)));
        assert!(matches!(auth.authenticate(&creds("mallory", "x")).await, Err(AuthError::UnknownUser)));
        // Even with the password of the account whose hash stands in for
        // unknown users.
        assert!(matches!(auth.authenticate(&creds("mallory", "alice-pw")).await, Err(AuthError::UnknownUser)));
    }

    #[tokio::test]
    async fn unknown_user_costs_a_hash_check_too() {
        let auth = two_users();
        // Time a real (failing) check, then an unknown user: the unknown user
        // must not come back in a small fraction of that time (loose bound:
        // other builds share these cores).
        let start = Instant::now();
        let _ = auth.authenticate(&creds("alice", "nope")).await;
        let known = start.elapsed();
        let start = Instant::now();
        let _ = auth.authenticate(&creds("nobody", "nope")).await;
        let unknown = start.elapsed();
        assert!(unknown * 10 >= known && unknown >= Duration::from_millis(1), "known {known:?}, unknown {unknown:?}");
    }

    #[tokio::test]
    async fn keys_log_in_their_account_only_and_key_only_accounts_refuse_passwords() {
        let key = PublicKey::parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJh9azjS/44Yhx8E3l69wI8ClNJKZ+4hkovo/J685NkV")
            .unwrap();
        let auth = FileAuthenticator::from_toml(&format!(
            "[[user]]\nname = \"k\"\nhome = \"/k\"\nauthorized_keys = [\"{}\"]\n\n\
             [[user]]\nname = \"p\"\npassword_hash = \"{}\"\n",
            key.to_openssh(),
            hash_password("p-pw")
        ))
        .unwrap();
        let peer = "192.0.2.7:40000".parse().unwrap();
        let k = auth.public_key_login("k", &key, peer).await.unwrap();
        assert_eq!(k.home, VPath::parse(b"/k").unwrap());
        assert!(matches!(auth.public_key_login("p", &key, peer).await, Err(AuthError::NotAllowed(_))));
        assert!(matches!(auth.public_key_login("nobody", &key, peer).await, Err(AuthError::UnknownUser)));
        assert!(matches!(auth.authenticate(&creds("k", "")).await, Err(AuthError::BadPassword)));
        assert!(auth.authenticate(&creds("p", "p-pw")).await.is_ok());
    }

    #[test]
    fn debug_output_hides_hashes() {
        let auth = two_users();
        let shown = format!("{auth:?}");
        assert!(!shown.contains("argon2"), "{shown}");
        assert!(shown.contains("accounts: 2"), "{shown}");
    }

    #[test]
    fn load_names_the_file_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(&path, "[[user]]\nname = \"a\"\npassword_hash = \"x\"\nclass = \"root\"\n").unwrap();
        let e = FileAuthenticator::load(&path).unwrap_err();
        assert_eq!(e.file(), Some(path.as_path()));
        assert_eq!(e.line(), Some(3));
        assert!(e.to_string().starts_with(&format!("{}:3: user.password_hash: ", path.display())), "{e}");

        let missing = dir.path().join("absent.toml");
        let e = FileAuthenticator::load(&missing).unwrap_err();
        assert_eq!((e.file(), e.line()), (Some(missing.as_path()), None));

        std::fs::write(&path, b"# ok\n\xff\n").unwrap();
        let e = FileAuthenticator::load(&path).unwrap_err();
        assert_eq!(e.line(), Some(2));
        assert!(e.message().contains("UTF-8"), "{e}");
    }

    #[test]
    fn load_reads_a_good_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(&path, format!("[[user]]\nname = \"a\"\npassword_hash = \"{DUMMY_HASH}\"\n")).unwrap();
        let auth = FileAuthenticator::load(&path).unwrap();
        assert_eq!(auth.len(), 1);
        assert!(!auth.is_empty());
    }
}
