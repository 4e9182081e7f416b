//! `JsonAuthenticator`: the accounts of a JSON users file, reloadable.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use oxftp_core::auth::{AuthError, Authenticator, BlockingChecks, Credentials, Identity};

use crate::error::JsonUsersError;
use crate::file::parse;
use crate::secret::Secret;
use crate::user::JsonUser;

/// Largest users file read, in bytes. A user entry is a few hundred bytes;
/// the cap stops a path such as `/dev/zero` from eating memory.
const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// One generation of the file: what a reload replaces as a whole.
struct Users {
    by_name: HashMap<String, Arc<JsonUser>>,
    /// Checked for unknown names (and certificate-only accounts) so that
    /// they cost as much as a real password check.
    dummy: Secret,
}

impl Users {
    fn new(list: Vec<JsonUser>) -> Users {
        // An account's own PBKDF2 parameters make the unknown-user check cost
        // exactly what a known user's costs; its verdict is thrown away. A
        // file of plain passwords only needs a plain comparison.
        let dummy = list.iter().find(|u| u.secret.is_slow()).map_or(Secret::Plain([0; 32]), |u| u.secret.clone());
        let by_name = list.into_iter().map(|u| (u.name.clone(), Arc::new(u))).collect();
        Users { by_name, dummy }
    }
}

/// Users from a JSON file in unFTP's format (plus our own optional fields).
///
/// The users sit behind a lock as one immutable generation: a login uses the
/// generation it started with, and [`reload`](JsonAuthenticator::reload)
/// swaps in a new one only when the whole new file is valid.
pub struct JsonAuthenticator {
    source: Option<PathBuf>,
    users: RwLock<Arc<Users>>,
    /// PBKDF2 checks, one per core at once.
    checks: BlockingChecks,
}

impl fmt::Debug for JsonAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets stay out of logs; the source and size are what a reader needs.
        f.debug_struct("JsonAuthenticator")
            .field("source", &self.source)
            .field("accounts", &self.len())
            .finish_non_exhaustive()
    }
}

impl JsonAuthenticator {
    /// Reads and validates a users file. Errors name the file, line and column.
    pub fn load(path: impl AsRef<Path>) -> Result<JsonAuthenticator, JsonUsersError> {
        let path = path.as_ref();
        let users = read(path)?;
        Ok(JsonAuthenticator::with(Some(path.to_path_buf()), users))
    }

    /// Validates users given as JSON text. Such an authenticator has no file
    /// to [`reload`](JsonAuthenticator::reload) from.
    pub fn from_json(text: &str) -> Result<JsonAuthenticator, JsonUsersError> {
        Ok(JsonAuthenticator::with(None, parse(text.as_bytes())?))
    }

    fn with(source: Option<PathBuf>, users: Vec<JsonUser>) -> JsonAuthenticator {
        JsonAuthenticator {
            source,
            users: RwLock::new(Arc::new(Users::new(users))),
            checks: BlockingChecks::per_core(),
        }
    }

    /// Reads the file again and, if it is valid, replaces every account at
    /// once; if it is not, the accounts already loaded stay in force and the
    /// error says why. Logins under way finish with the accounts they began with.
    pub fn reload(&self) -> Result<(), JsonUsersError> {
        let Some(path) = &self.source else {
            return Err(JsonUsersError::invalid(None, None, "users were given as text: there is no file to reload"));
        };
        let users = Arc::new(Users::new(read(path)?));
        *self.users.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = users;
        Ok(())
    }

    /// The file the users came from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// Everything the file says about `name` (limits, permissions...), for
    /// the engine to apply after login.
    pub fn user(&self, name: &str) -> Option<Arc<JsonUser>> {
        self.snapshot().by_name.get(name).cloned()
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.snapshot().by_name.len()
    }

    /// True when the file defines no accounts.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn snapshot(&self) -> Arc<Users> {
        // A panic while holding the lock can only have happened between
        // reading and storing an Arc; the value inside is still whole.
        self.users.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Checks credentials, plus the client certificate when the connection
    /// presented one: `client_cns` is `None` without a verified client
    /// certificate, else the subject CNs of the verified certificate.
    ///
    /// Order of verdicts: unknown user, wrong password, certificate missing or
    /// with the wrong CN, account disabled, address outside
    /// `allowed_ip_ranges`. Every path costs one password check, so timing
    /// does not tell whether a name exists.
    pub async fn authenticate_with_cert(
        &self,
        credentials: &Credentials,
        client_cns: Option<&[&str]>,
    ) -> Result<Identity, AuthError> {
        let users = self.snapshot();
        let user = users.by_name.get(&credentials.user).cloned();
        let secret = match &user {
            Some(u) if u.has_password() => u.secret.clone(),
            _ => users.dummy.clone(),
        };
        let matched = self.check(secret, &credentials.password).await?;

        let Some(user) = user else {
            return Err(AuthError::UnknownUser);
        };
        if user.has_password() && !matched {
            return Err(AuthError::BadPassword);
        }
        if !user.has_password() && user.client_cert.is_none() {
            // A key-only account: no password opens it.
            return Err(AuthError::BadPassword);
        }
        if let Some(required) = &user.client_cert {
            let Some(cns) = client_cns else {
                return Err(AuthError::NotAllowed("the account requires a TLS client certificate".into()));
            };
            if let Some(want) = &required.allowed_cn
                && !cns.contains(&want.as_str())
            {
                return Err(AuthError::NotAllowed(format!("client certificate CN is not {want:?}")));
            }
        }
        if !user.enabled {
            return Err(AuthError::Disabled);
        }
        let ip = credentials.peer.ip();
        if !user.ip_allowed(ip) {
            return Err(AuthError::NotAllowed(format!("{ip} is outside the account's allowed_ip_ranges")));
        }
        Ok(user.identity())
    }

    /// Runs one password check; PBKDF2 runs on a blocking thread under the
    /// concurrency cap, a plain comparison runs inline.
    async fn check(&self, secret: Secret, password: &str) -> Result<bool, AuthError> {
        if !secret.is_slow() {
            return Ok(secret.verify(password.as_bytes()));
        }
        let password = password.as_bytes().to_vec();
        self.checks.run(move || secret.verify(&password)).await
    }
}

/// Reads a users file, bounded in size, and validates it.
fn read(path: &Path) -> Result<Vec<JsonUser>, JsonUsersError> {
    let file = std::fs::File::open(path).map_err(|e| JsonUsersError::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes).map_err(|e| JsonUsersError::io(path, e))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(
            JsonUsersError::invalid(None, None, format!("file is larger than {MAX_FILE_SIZE} bytes")).in_file(path)
        );
    }
    parse(&bytes).map_err(|e| e.in_file(path))
}

#[async_trait]
impl Authenticator for JsonAuthenticator {
    /// Password login. The engine does not pass client certificates yet, so
    /// accounts with `client_cert` are refused here (see
    /// [`JsonAuthenticator::authenticate_with_cert`]).
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthError> {
        let cn = credentials.client_cert_cn.as_deref();
        let cns = cn.map(|cn| [cn]);
        self.authenticate_with_cert(credentials, cns.as_ref().map(|c| &c[..])).await
    }

    /// SFTP public-key login: the key must be in the account's
    /// `authorized_keys`; `account_enabled` and `allowed_ip_ranges` apply as
    /// for passwords. A `client_cert` requirement is FTPS's proof of who
    /// the client is; over SSH the key is that proof.
    async fn public_key_login(
        &self,
        user: &str,
        key: &oxftp_core::auth::PublicKey,
        peer: std::net::SocketAddr,
    ) -> Result<Identity, AuthError> {
        let users = self.snapshot();
        let user = users.by_name.get(user).cloned().ok_or(AuthError::UnknownUser)?;
        if !user.authorized_keys.contains(key) {
            return Err(AuthError::NotAllowed("key is not among the account's authorized_keys".into()));
        }
        if !user.enabled {
            return Err(AuthError::Disabled);
        }
        let ip = peer.ip();
        if !user.ip_allowed(ip) {
            return Err(AuthError::NotAllowed(format!("{ip} is outside the account's allowed_ip_ranges")));
        }
        Ok(user.identity())
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::{Duration, Instant};

    use oxftp_core::auth::AccessClass;
    use oxftp_proto::path::VPath;

    use super::*;

    fn creds_from(user: &str, password: &str, peer: &str) -> Credentials {
        Credentials::new(user, password, peer.parse().unwrap())
    }

    fn creds(user: &str, password: &str) -> Credentials {
        creds_from(user, password, "192.0.2.7:40000")
    }

    /// PBKDF2-HMAC-SHA256 computed by Python's hashlib: an implementation
    /// independent of ours, so the test checks the format, not ring against
    /// itself. Returns base64 (salt, key).
    fn python_pbkdf2(password: &str, salt: &[u8], iterations: u32) -> (String, String) {
        let script = "import base64,hashlib,sys\n\
            pw, salt, n = sys.argv[1].encode(), bytes.fromhex(sys.argv[2]), int(sys.argv[3])\n\
            print(base64.b64encode(salt).decode())\n\
            print(base64.b64encode(hashlib.pbkdf2_hmac('sha256', pw, salt, n)).decode())";
        let hex: String = salt.iter().map(|b| format!("{b:02x}")).collect();
        let out = Command::new("python3")
            .args(["-c", script, password, &hex, &iterations.to_string()])
            .output()
            .expect("python3 is needed to compute the reference PBKDF2 vector");
        assert!(out.status.success(), "python3 failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        (lines.next().unwrap().to_string(), lines.next().unwrap().to_string())
    }

    fn pbkdf2_user(name: &str, password: &str, iterations: u32, extra: &str) -> String {
        let (salt, key) = python_pbkdf2(password, b"\x00NaCl\xff\x10", iterations);
        format!(
            r#"{{"username": "{name}", "pbkdf2_salt": "{salt}", "pbkdf2_key": "{key}", "pbkdf2_iter": {iterations}{extra}}}"#
        )
    }

    #[tokio::test]
    async fn plain_password_logins() {
        let auth = JsonAuthenticator::from_json(
            r#"[{"username": "alice", "password": "I am in Wonderland!", "root": "alice", "class": "guest"}]"#,
        )
        .unwrap();
        let id = auth.authenticate(&creds("alice", "I am in Wonderland!")).await.unwrap();
        assert_eq!((id.user.as_str(), id.class, id.read_only), ("alice", AccessClass::Guest, false));
        assert_eq!(id.home, VPath::parse(b"/alice").unwrap());
        assert!(matches!(auth.authenticate(&creds("alice", "I am in Wonderland")).await, Err(AuthError::BadPassword)));
        assert!(matches!(auth.authenticate(&creds("Alice", "I am in Wonderland!")).await, Err(AuthError::UnknownUser)));
        assert!(matches!(auth.authenticate(&creds("bob", "")).await, Err(AuthError::UnknownUser)));
    }

    #[tokio::test]
    async fn pbkdf2_matches_pythons_hashlib() {
        let json = format!("[{}]", pbkdf2_user("carol", "correct horse", 2000, r#", "read_only": true"#));
        let auth = JsonAuthenticator::from_json(&json).unwrap();
        let id = auth.authenticate(&creds("carol", "correct horse")).await.unwrap();
        assert!(id.read_only);
        assert!(matches!(auth.authenticate(&creds("carol", "correct horse ")).await, Err(AuthError::BadPassword)));
        assert!(matches!(auth.authenticate(&creds("carol", "")).await, Err(AuthError::BadPassword)));
        // Unknown users are checked against carol's parameters and still refused.
        assert!(matches!(auth.authenticate(&creds("dave", "correct horse")).await, Err(AuthError::UnknownUser)));
    }

    #[tokio::test]
    async fn unknown_user_costs_a_pbkdf2_check_too() {
        let json = format!("[{}]", pbkdf2_user("carol", "pw", 100_000, ""));
        let auth = JsonAuthenticator::from_json(&json).unwrap();
        // The fastest of a few runs of each: load from other builds on these
        // cores only ever adds time, so minimums compare the work itself.
        let mut known = Duration::MAX;
        let mut unknown = Duration::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            let _ = auth.authenticate(&creds("carol", "nope")).await;
            known = known.min(start.elapsed());
            let start = Instant::now();
            let _ = auth.authenticate(&creds("nobody", "nope")).await;
            unknown = unknown.min(start.elapsed());
        }
        assert!(unknown * 4 >= known && unknown >= Duration::from_millis(1), "known {known:?}, unknown {unknown:?}");
    }

    #[tokio::test]
    async fn authorized_keys_log_in_over_ssh_and_key_only_accounts_take_no_password() {
        let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJh9azjS/44Yhx8E3l69wI8ClNJKZ+4hkovo/J685NkV alice@laptop";
        let auth = JsonAuthenticator::from_json(
            format!(
                r#"[{{"username": "k", "authorized_keys": ["{key}"], "allowed_ip_ranges": ["192.0.2.0/24"]}},
                    {{"username": "off", "authorized_keys": ["{key}"], "account_enabled": false}}]"#
            )
            .as_str(),
        )
        .unwrap();
        let key = oxftp_core::auth::PublicKey::parse(key).unwrap();
        let inside = "192.0.2.7:22".parse().unwrap();
        assert_eq!(auth.public_key_login("k", &key, inside).await.unwrap().user, "k");
        let outside = "198.51.100.1:22".parse().unwrap();
        assert!(matches!(auth.public_key_login("k", &key, outside).await, Err(AuthError::NotAllowed(_))));
        assert!(matches!(auth.public_key_login("off", &key, inside).await, Err(AuthError::Disabled)));
        assert!(matches!(auth.public_key_login("x", &key, inside).await, Err(AuthError::UnknownUser)));
        for password in ["", "anything"] {
            let creds = creds_from("k", password, "192.0.2.7:21");
            assert!(matches!(auth.authenticate(&creds).await, Err(AuthError::BadPassword)), "{password:?}");
        }
        let bad = JsonAuthenticator::from_json(r#"[{"username": "k", "authorized_keys": ["ssh-rsa nope"]}]"#);
        assert!(bad.unwrap_err().to_string().contains("authorized_keys"));
    }

    #[tokio::test]
    async fn allowed_ip_ranges_refuse_outsiders() {
        let auth = JsonAuthenticator::from_json(
            r#"[{"username": "bob", "password": "it is me", "allowed_ip_ranges": ["192.168.178.0/24", "2001:db8::/32"]}]"#,
        )
        .unwrap();
        for inside in ["192.168.178.20:1000", "[2001:db8::5]:1000", "[::ffff:192.168.178.9]:1000"] {
            assert!(auth.authenticate(&creds_from("bob", "it is me", inside)).await.is_ok(), "{inside}");
        }
        for outside in ["192.168.179.20:1000", "127.0.0.1:1000", "[::1]:1000"] {
            let r = auth.authenticate(&creds_from("bob", "it is me", outside)).await;
            assert!(
                matches!(&r, Err(AuthError::NotAllowed(why)) if why.contains("allowed_ip_ranges")),
                "{outside}: {r:?}"
            );
        }
        // A wrong password from outside is just a wrong password.
        let r = auth.authenticate(&creds_from("bob", "nope", "127.0.0.1:1000")).await;
        assert!(matches!(r, Err(AuthError::BadPassword)));
    }

    #[tokio::test]
    async fn disabled_accounts_are_refused() {
        let auth = JsonAuthenticator::from_json(
            r#"[{"username": "eve", "password": "pw", "account_enabled": false},
                {"username": "ann", "password": "pw", "account_enabled": true}]"#,
        )
        .unwrap();
        assert!(matches!(auth.authenticate(&creds("eve", "pw")).await, Err(AuthError::Disabled)));
        assert!(matches!(auth.authenticate(&creds("eve", "x")).await, Err(AuthError::BadPassword)));
        assert!(auth.authenticate(&creds("ann", "pw")).await.is_ok());
    }

    #[tokio::test]
    async fn client_certificate_accounts() {
        let auth = JsonAuthenticator::from_json(
            r#"[{"username": "santa", "password": "clara", "client_cert": {}},
                {"username": "bob", "password": "secret", "client_cert": {"allowed_cn": "bob-the-builder"}},
                {"username": "freddie", "client_cert": {}}]"#,
        )
        .unwrap();
        // Without a certificate none may log in.
        for (user, pw) in [("santa", "clara"), ("bob", "secret"), ("freddie", "")] {
            let r = auth.authenticate(&creds(user, pw)).await;
            assert!(
                matches!(&r, Err(AuthError::NotAllowed(why)) if why.contains("client certificate")),
                "{user}: {r:?}"
            );
        }
        let id = auth.authenticate_with_cert(&creds("santa", "clara"), Some(&["anyone"])).await.unwrap();
        assert!(id.require_tls);
        assert!(matches!(
            auth.authenticate_with_cert(&creds("santa", "wrong"), Some(&["anyone"])).await,
            Err(AuthError::BadPassword)
        ));
        assert!(auth.authenticate_with_cert(&creds("bob", "secret"), Some(&["bob-the-builder"])).await.is_ok());
        for cn in ["bob", "bob-the-builder-2", ""] {
            let r = auth.authenticate_with_cert(&creds("bob", "secret"), Some(&[cn])).await;
            assert!(matches!(r, Err(AuthError::NotAllowed(_))), "{cn}");
        }
        // Certificate-only: any password once the certificate is verified.
        assert!(auth.authenticate_with_cert(&creds("freddie", "whatever"), Some(&[])).await.is_ok());
        // Through the plain trait, as the engine calls it: the verified CN rides on the credentials.
        let mut with_cert = creds("bob", "secret");
        with_cert.client_cert_cn = Some("bob-the-builder".into());
        assert!(auth.authenticate(&with_cert).await.is_ok());
        with_cert.client_cert_cn = Some("mallory".into());
        assert!(matches!(auth.authenticate(&with_cert).await, Err(AuthError::NotAllowed(_))));
    }

    #[tokio::test]
    async fn reload_swaps_users_and_keeps_them_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        std::fs::write(&path, r#"[{"username": "a", "password": "one", "max_sessions": 2}]"#).unwrap();
        let auth = JsonAuthenticator::load(&path).unwrap();
        assert_eq!(auth.path(), Some(path.as_path()));
        assert_eq!(auth.user("a").unwrap().limits.max_sessions, Some(2));
        assert!(auth.authenticate(&creds("a", "one")).await.is_ok());

        std::fs::write(&path, r#"[{"username": "b", "password": "two", "quota_bytes": 5}]"#).unwrap();
        auth.reload().unwrap();
        assert!(matches!(auth.authenticate(&creds("a", "one")).await, Err(AuthError::UnknownUser)));
        assert!(auth.authenticate(&creds("b", "two")).await.is_ok());
        assert!(auth.user("a").is_none());
        assert_eq!(auth.user("b").unwrap().limits.quota_bytes, Some(5));

        std::fs::write(&path, "[\n  {\"username\": \"c\", \"password\": \"three\"\n").unwrap();
        let e = auth.reload().unwrap_err();
        assert_eq!(e.file(), Some(path.as_path()));
        assert!(e.line().is_some(), "{e}");
        assert!(auth.authenticate(&creds("b", "two")).await.is_ok(), "a failed reload keeps the old users");
        assert!(matches!(auth.authenticate(&creds("c", "three")).await, Err(AuthError::UnknownUser)));

        std::fs::remove_file(&path).unwrap();
        assert!(auth.reload().is_err());
        assert_eq!(auth.len(), 1);

        let text_only = JsonAuthenticator::from_json("[]").unwrap();
        assert!(text_only.is_empty());
        assert!(text_only.reload().unwrap_err().message().contains("no file"));
    }

    #[test]
    fn load_errors_name_the_file_and_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        std::fs::write(&path, "[\n  {\"username\": \"a\", \"password\": \"x\", \"class\": \"root\"}\n]").unwrap();
        let e = JsonAuthenticator::load(&path).unwrap_err();
        assert_eq!((e.file(), e.line()), (Some(path.as_path()), Some(2)));
        assert!(e.to_string().starts_with(&format!("{}:2:", path.display())), "{e}");
        let e = JsonAuthenticator::load(dir.path().join("absent.json")).unwrap_err();
        assert!(e.message().contains("cannot read"), "{e}");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let auth = JsonAuthenticator::from_json(r#"[{"username": "a", "password": "hunter2"}]"#).unwrap();
        let shown = format!("{auth:?} {:?}", auth.user("a").unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("accounts: 1"), "{shown}");
    }
}
