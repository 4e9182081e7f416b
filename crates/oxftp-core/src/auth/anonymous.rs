//! `AnonymousLogin`: lets `anonymous` and `ftp` in, hands everyone else to
//! another authenticator.
//!
//! Anonymous logins accept any password: by convention it is the user's
//! e-mail address, which the engine logs and never checks. The identity this
//! produces is not marked read-only; the `Anonymous` guard, which the storage
//! stack puts on the anonymous class, decides what it may do (read-only
//! except uploads into `incoming`).

use std::sync::Arc;

use async_trait::async_trait;
use oxftp_proto::path::VPath;

use super::{AccessClass, AuthError, Authenticator, Credentials, Identity};

/// The account name every anonymous identity carries, whichever alias logged in.
pub const ANONYMOUS_USER: &str = "anonymous";

/// An authenticator that accepts anonymous logins and delegates the rest.
#[derive(Debug, Clone)]
pub struct AnonymousLogin {
    inner: Option<Arc<dyn Authenticator>>,
    home: VPath,
    incoming: Option<VPath>,
}

impl AnonymousLogin {
    /// Accept `anonymous`/`ftp` with `home` as their root and `incoming`
    /// (a path inside that root, as the session sees it) as the upload-only
    /// directory; other users go to `inner`, or are unknown without one.
    pub fn new(inner: Option<Arc<dyn Authenticator>>, home: VPath, incoming: Option<VPath>) -> Self {
        AnonymousLogin { inner, home, incoming }
    }

    /// Whether `user` names the anonymous account (`anonymous` or `ftp`, any case).
    pub fn is_anonymous(user: &str) -> bool {
        user.eq_ignore_ascii_case(ANONYMOUS_USER) || user.eq_ignore_ascii_case("ftp")
    }
}

#[async_trait]
impl Authenticator for AnonymousLogin {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthError> {
        if Self::is_anonymous(&credentials.user) {
            let mut identity = Identity::new(ANONYMOUS_USER, AccessClass::Anonymous);
            identity.home = self.home.clone();
            identity.incoming = self.incoming.clone();
            return Ok(identity);
        }
        match &self.inner {
            Some(inner) => inner.authenticate(credentials).await,
            None => Err(AuthError::UnknownUser),
        }
    }

    async fn certificate_login(&self, user: &str, peer: std::net::SocketAddr) -> Result<Identity, AuthError> {
        match &self.inner {
            Some(inner) if !Self::is_anonymous(user) => inner.certificate_login(user, peer).await,
            _ => Err(AuthError::NotAllowed("no certificate login for this user".into())),
        }
    }

    async fn public_key_login(
        &self,
        user: &str,
        key: &super::PublicKey,
        peer: std::net::SocketAddr,
    ) -> Result<Identity, AuthError> {
        // Anonymous has no keys: it logs in with any password instead.
        match &self.inner {
            Some(inner) if !Self::is_anonymous(user) => inner.public_key_login(user, key, peer).await,
            _ => Err(AuthError::NotAllowed("no public-key login for this user".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> VPath {
        VPath::parse(s.as_bytes()).expect("valid test path")
    }

    /// Knows one account, `ann` with password `pw`.
    #[derive(Debug)]
    struct OneUser;

    #[async_trait]
    impl Authenticator for OneUser {
        async fn authenticate(&self, c: &Credentials) -> Result<Identity, AuthError> {
            match (c.user.as_str(), c.password.as_str()) {
                ("ann", "pw") => Ok(Identity::new("ann", AccessClass::User)),
                ("ann", _) => Err(AuthError::BadPassword),
                _ => Err(AuthError::UnknownUser),
            }
        }
    }

    fn creds(user: &str, password: &str) -> Credentials {
        Credentials::new(user, password, "192.0.2.1:2121".parse().unwrap())
    }

    #[tokio::test]
    async fn anonymous_aliases_with_any_password() {
        let login = AnonymousLogin::new(Some(Arc::new(OneUser)), p("/srv/ftp"), Some(p("/incoming")));
        for (user, password) in
            [("anonymous", "me@example.org"), ("ftp", ""), ("ANONYMOUS", "x"), ("Ftp", "pw"), ("AnOnYmOuS", "")]
        {
            let id = login.authenticate(&creds(user, password)).await.unwrap();
            assert_eq!(id.user, "anonymous", "{user}");
            assert_eq!(id.class, AccessClass::Anonymous);
            assert_eq!(id.home, p("/srv/ftp"));
            assert_eq!(id.incoming, Some(p("/incoming")));
            assert!(!id.read_only);
        }
    }

    #[tokio::test]
    async fn others_go_to_the_inner_authenticator() {
        let login = AnonymousLogin::new(Some(Arc::new(OneUser)), VPath::root(), None);
        let id = login.authenticate(&creds("ann", "pw")).await.unwrap();
        assert_eq!((id.user.as_str(), id.class), ("ann", AccessClass::User));
        assert!(matches!(login.authenticate(&creds("ann", "bad")).await, Err(AuthError::BadPassword)));
        assert!(matches!(login.authenticate(&creds("bob", "pw")).await, Err(AuthError::UnknownUser)));
        // Near misses are not anonymous.
        for user in ["anonymous ", "ftpuser", "anon", ""] {
            assert!(matches!(login.authenticate(&creds(user, "")).await, Err(AuthError::UnknownUser)), "{user:?}");
        }
    }

    #[tokio::test]
    async fn without_inner_only_anonymous_gets_in() {
        let login = AnonymousLogin::new(None, VPath::root(), None);
        assert!(login.authenticate(&creds("ftp", "")).await.is_ok());
        assert!(matches!(login.authenticate(&creds("ann", "pw")).await, Err(AuthError::UnknownUser)));
    }
}
