//! Who may log in: the accounts backend, anonymous in front of it, and what
//! SIGHUP re-reads.

use std::path::PathBuf;
use std::sync::Arc;

use oxftp_auth_file::FileAuthenticator;
use oxftp_auth_json::JsonAuthenticator;
use oxftp_core::auth::{AnonymousLogin, Authenticator, NoAccounts, Swappable};
use slog::{Logger, info, warn};

use crate::config::{AuthBackend, Config};

/// What SIGHUP re-reads.
#[derive(Debug, Clone)]
pub enum Reload {
    /// Nothing to re-read (no users file, or PAM, which reads the system's
    /// files on every login anyway).
    Nothing,
    /// The TOML users file, swapped into `holder` when the new one is valid.
    TomlUsers {
        /// The file.
        path: PathBuf,
        /// What sessions log in through.
        holder: Arc<Swappable>,
    },
    /// The JSON users file (the authenticator swaps its own accounts).
    Json(Arc<JsonAuthenticator>),
}

impl Reload {
    /// Re-reads the accounts file, off the async threads; a broken file
    /// leaves the accounts in force and is logged. Sessions are not touched.
    pub async fn run(&self, logger: &Logger) {
        match self {
            Reload::Nothing => info!(logger, "SIGHUP: no accounts file to re-read"),
            Reload::TomlUsers { path, holder } => {
                let file = path.clone();
                match tokio::task::spawn_blocking(move || FileAuthenticator::load(&file)).await {
                    Ok(Ok(auth)) => {
                        let accounts = auth.len();
                        holder.replace(Arc::new(auth));
                        info!(logger, "users file reloaded"; "file" => %path.display(), "accounts" => accounts);
                    }
                    Ok(Err(e)) => {
                        warn!(logger, "users file not reloaded; the old accounts stay in force"; "error" => %e)
                    }
                    Err(e) => warn!(logger, "users file reload did not finish"; "error" => %e),
                }
            }
            Reload::Json(auth) => {
                let json = Arc::clone(auth);
                match tokio::task::spawn_blocking(move || json.reload().map(|()| json.len())).await {
                    Ok(Ok(accounts)) => info!(logger, "JSON users file reloaded";
                        "file" => auth.path().map(|p| p.display().to_string()), "accounts" => accounts),
                    Ok(Err(e)) => {
                        warn!(logger, "JSON users file not reloaded; the old accounts stay in force"; "error" => %e)
                    }
                    Err(e) => warn!(logger, "JSON users file reload did not finish"; "error" => %e),
                }
            }
        }
    }
}

/// Who may log in (anonymous in front of the accounts backend when enabled;
/// nobody when neither is configured), and what SIGHUP reloads.
pub fn authenticator(config: &Config) -> (Arc<dyn Authenticator>, Reload) {
    let (accounts, reload): (Option<Arc<dyn Authenticator>>, Reload) = match &config.auth {
        AuthBackend::File => match &config.users {
            Some(users) => {
                let holder = Arc::new(Swappable::new(Arc::clone(&users.authenticator) as Arc<dyn Authenticator>));
                let reload = Reload::TomlUsers { path: users.file.clone(), holder: Arc::clone(&holder) };
                (Some(holder as Arc<dyn Authenticator>), reload)
            }
            None => (None, Reload::Nothing),
        },
        AuthBackend::Json(json) => (
            Some(Arc::clone(&json.authenticator) as Arc<dyn Authenticator>),
            Reload::Json(Arc::clone(&json.authenticator)),
        ),
        AuthBackend::Pam(pam) => (Some(Arc::clone(pam) as Arc<dyn Authenticator>), Reload::Nothing),
    };
    let auth: Arc<dyn Authenticator> = if config.anonymous.enabled {
        Arc::new(AnonymousLogin::new(accounts, config.anonymous.root.clone(), config.anonymous.incoming.clone()))
    } else {
        accounts.unwrap_or_else(|| Arc::new(NoAccounts))
    };
    (auth, reload)
}

#[cfg(test)]
mod tests {
    use oxftp_core::auth::{AccessClass, AuthError};

    use super::super::tests::{config, creds};
    use super::*;

    #[tokio::test]
    async fn anonymous_goes_in_front_of_users() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pub/in")).unwrap();
        let hash = oxftp_auth_file::hash_password("pw");
        std::fs::write(dir.path().join("users.toml"), format!("[[user]]\nname = \"al\"\npassword_hash = \"{hash}\"\n"))
            .unwrap();
        let config = config(
            "[storage]\nroot = \".\"\n[anonymous]\nenabled = true\nroot = \"/pub\"\nincoming = \"/in\"\n[users]\nfile = \"users.toml\"\n",
            &dir,
        );
        let (auth, _) = authenticator(&config);
        let anon = auth.authenticate(&creds("ftp", "me@example.org")).await.unwrap();
        assert_eq!(anon.class, AccessClass::Anonymous);
        assert_eq!(anon.home.as_bytes(), b"/pub");
        assert_eq!(anon.incoming.as_ref().map(|p| p.as_bytes().to_vec()), Some(b"/in".to_vec()));
        let al = auth.authenticate(&creds("al", "pw")).await.unwrap();
        assert_eq!(al.class, AccessClass::User);
        assert!(matches!(auth.authenticate(&creds("al", "no")).await, Err(AuthError::BadPassword)));
    }

    #[tokio::test]
    async fn anonymous_is_off_by_default_and_nobody_gets_in_without_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let (auth, _) = authenticator(&config("", &dir));
        assert!(matches!(auth.authenticate(&creds("anonymous", "x")).await, Err(AuthError::UnknownUser)));
        assert!(matches!(auth.authenticate(&creds("root", "x")).await, Err(AuthError::UnknownUser)));
    }

    #[tokio::test]
    async fn toml_users_reload_without_replacing_the_authenticator() {
        let dir = tempfile::tempdir().unwrap();
        let hash = oxftp_auth_file::hash_password("pw");
        let users = dir.path().join("users.toml");
        std::fs::write(&users, format!("[[user]]\nname = \"al\"\npassword_hash = \"{hash}\"\n")).unwrap();
        let config = config("[storage]\nroot = \".\"\n[users]\nfile = \"users.toml\"\n", &dir);
        let (auth, reload) = authenticator(&config);
        assert!(matches!(auth.authenticate(&creds("bo", "pw")).await, Err(AuthError::UnknownUser)));
        std::fs::write(
            &users,
            format!("[[user]]\nname = \"al\"\npassword_hash = \"{hash}\"\n[[user]]\nname = \"bo\"\npassword_hash = \"{hash}\"\n"),
        )
        .unwrap();
        let logger = Logger::root(slog::Discard, slog::o!());
        reload.run(&logger).await;
        assert_eq!(auth.authenticate(&creds("bo", "pw")).await.unwrap().user, "bo");
        // A broken file leaves the accounts in force.
        std::fs::write(&users, "[[user]]\nname = 1\n").unwrap();
        reload.run(&logger).await;
        assert_eq!(auth.authenticate(&creds("al", "pw")).await.unwrap().user, "al");
    }

    #[tokio::test]
    async fn json_users_reload() {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.json");
        std::fs::write(&users, r#"[{"username": "al", "password": "pw"}]"#).unwrap();
        let config = config("[storage]\nroot = \".\"\n[auth]\nbackend = \"json\"\njson_file = \"users.json\"\n", &dir);
        let (auth, reload) = authenticator(&config);
        assert_eq!(auth.authenticate(&creds("al", "pw")).await.unwrap().user, "al");
        std::fs::write(&users, r#"[{"username": "bo", "password": "pw2"}]"#).unwrap();
        reload.run(&Logger::root(slog::Discard, slog::o!())).await;
        assert_eq!(auth.authenticate(&creds("bo", "pw2")).await.unwrap().user, "bo");
        assert!(auth.authenticate(&creds("al", "pw")).await.is_err());
    }
}
