//! Authenticators for daemons and embedders that compose logins:
//! [`Swappable`] (replace the accounts while sessions run, e.g. on SIGHUP)
//! and [`NoAccounts`] (nobody may log in).

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use super::{AuthError, Authenticator, Credentials, Identity};

/// An authenticator that can be replaced while sessions run: each login
/// uses whichever one is current when it starts, and sessions already
/// logged in keep their identity (so a reload drops nobody).
#[derive(Debug)]
pub struct Swappable {
    current: RwLock<Arc<dyn Authenticator>>,
}

impl Swappable {
    /// Starts with `auth`.
    pub fn new(auth: Arc<dyn Authenticator>) -> Swappable {
        Swappable { current: RwLock::new(auth) }
    }

    /// Makes `auth` the one future logins use.
    pub fn replace(&self, auth: Arc<dyn Authenticator>) {
        // A poisoned lock only means a panic elsewhere between two Arc
        // moves; the value is whole, so carry on with it.
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = auth;
    }

    fn current(&self) -> Arc<dyn Authenticator> {
        Arc::clone(&self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

#[async_trait]
impl Authenticator for Swappable {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthError> {
        self.current().authenticate(credentials).await
    }

    async fn certificate_login(&self, user: &str, peer: SocketAddr) -> Result<Identity, AuthError> {
        self.current().certificate_login(user, peer).await
    }

    async fn public_key_login(
        &self,
        user: &str,
        key: &super::PublicKey,
        peer: SocketAddr,
    ) -> Result<Identity, AuthError> {
        self.current().public_key_login(user, key, peer).await
    }
}

/// The authenticator when no login method is configured: refuses everyone
/// (as an unknown user), so a server still starts and answers while its
/// accounts are being set up.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAccounts;

#[async_trait]
impl Authenticator for NoAccounts {
    async fn authenticate(&self, _credentials: &Credentials) -> Result<Identity, AuthError> {
        Err(AuthError::UnknownUser)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AccessClass;

    /// Knows exactly one user.
    #[derive(Debug)]
    struct Only(&'static str);

    #[async_trait]
    impl Authenticator for Only {
        async fn authenticate(&self, c: &Credentials) -> Result<Identity, AuthError> {
            if c.user == self.0 { Ok(Identity::new(self.0, AccessClass::User)) } else { Err(AuthError::UnknownUser) }
        }
    }

    fn creds(user: &str) -> Credentials {
        Credentials::new(user, "pw", "192.0.2.1:2121".parse().unwrap())
    }

    #[tokio::test]
    async fn logins_use_the_current_authenticator() {
        let swappable = Swappable::new(Arc::new(Only("al")));
        assert_eq!(swappable.authenticate(&creds("al")).await.unwrap().user, "al");
        swappable.replace(Arc::new(Only("bo")));
        assert!(matches!(swappable.authenticate(&creds("al")).await, Err(AuthError::UnknownUser)));
        assert_eq!(swappable.authenticate(&creds("bo")).await.unwrap().user, "bo");
        assert!(swappable.certificate_login("bo", creds("bo").peer).await.is_err(), "the default refusal");
        assert!(matches!(NoAccounts.authenticate(&creds("bo")).await, Err(AuthError::UnknownUser)));
    }
}
