//! [`UnftpAuthenticator`]: an unftp-core `Authenticator` and `UserDetailProvider` as our `Authenticator`.

use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use oxftp_core::auth::{AccessClass, AuthError, Authenticator, Credentials, Identity};
use oxftp_proto::path::VPath;
use unftp_core::auth::{
    AuthenticationError, Authenticator as UnftpAuth, ChannelEncryptionState, Credentials as UnftpCredentials,
    Principal, UserDetail, UserDetailError, UserDetailProvider,
};

type Shape<U> = dyn Fn(&U, &mut Identity) + Send + Sync;

/// Logs users in with an authenticator of theirs (a password check that
/// gives a [`Principal`]) and their user-detail provider (the
/// [`UserDetail`]: enabled or not, home directory), and makes our
/// [`Identity`] of the two:
///
/// - the name is the principal's;
/// - a user without a home is a [`User`](AccessClass::User) of the whole
///   tree; a user with one is a [`Guest`](AccessClass::Guest) confined to it,
///   as libunftp confines such users. Their homes are paths of the host
///   (unftp-sbe-fs opens them below its root): with
///   [`homes_under`](Self::homes_under) they are taken relative to that
///   base, otherwise as paths of the served tree;
/// - a disabled account is refused;
/// - anything else their user type knows (read-only, limits, ...) is for
///   [`map_identity`](Self::map_identity) to set.
///
/// What does not cross over: our engine hands authenticators the verified
/// client certificate's CN, not the certificate chain their `Credentials`
/// carry, so certificate rules of theirs (unftp-auth-jsonfile's
/// `client_cert`) fail closed, and certificate-only logins are refused. Their
/// `command_channel_security` says TLS only when a client certificate was
/// verified. Their authenticator runs on the engine's runtime as libunftp
/// runs it, including its own delays after failures (unftp-auth-jsonfile
/// waits 1.5 s) and CPU-bound hash checks.
pub struct UnftpAuthenticator<P: UserDetailProvider> {
    auth: Arc<dyn UnftpAuth>,
    users: Arc<P>,
    homes_under: Option<PathBuf>,
    shape: Option<Arc<Shape<P::User>>>,
}

impl<P: UserDetailProvider> fmt::Debug for UnftpAuthenticator<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnftpAuthenticator")
            .field("authenticator", &self.auth.name())
            .field("users", &self.users)
            .field("homes_under", &self.homes_under)
            .finish_non_exhaustive()
    }
}

impl<P: UserDetailProvider + 'static> UnftpAuthenticator<P> {
    /// Passwords checked by `auth`, user details from `users`
    /// ([`unftp_core::auth::DefaultUserDetailProvider`] when there are none).
    pub fn new(auth: impl UnftpAuth + 'static, users: P) -> Self {
        Self::from_arc(Arc::new(auth), Arc::new(users))
    }

    /// As [`new`](Self::new), with both already shared.
    pub fn from_arc(auth: Arc<dyn UnftpAuth>, users: Arc<P>) -> Self {
        UnftpAuthenticator { auth, users, homes_under: None, shape: None }
    }

    /// Their home directories are host paths below `base` (the directory
    /// the back-end serves): `/srv/ftp/alice` under `/srv/ftp` is `/alice`
    /// of the served tree. A home outside `base` refuses the login.
    pub fn homes_under(mut self, base: impl Into<PathBuf>) -> Self {
        self.homes_under = Some(base.into());
        self
    }

    /// Finish each identity from their user: `shape` gets the user details
    /// and the identity made as described above, and may change anything
    /// (read-only, class, limits, permissions).
    pub fn map_identity(mut self, shape: impl Fn(&P::User, &mut Identity) + Send + Sync + 'static) -> Self {
        self.shape = Some(Arc::new(shape));
        self
    }

    /// The served-tree path of a home of theirs.
    fn home_path(&self, home: &Path) -> Result<VPath, AuthError> {
        let rel = match &self.homes_under {
            Some(base) => home
                .strip_prefix(base)
                .map_err(|_| AuthError::Backend(format!("home {} is not below {}", home.display(), base.display())))?,
            None => home,
        };
        VPath::root()
            .resolve(rel.as_os_str().as_bytes())
            .map_err(|e| AuthError::Backend(format!("home {}: {e}", home.display())))
    }

    /// Our identity for an authenticated principal.
    async fn identity(&self, principal: &Principal) -> Result<Identity, AuthError> {
        let user = self.users.provide_user_detail(principal).await.map_err(detail_error)?;
        if !user.account_enabled() {
            return Err(AuthError::Disabled);
        }
        let mut identity = match user.home() {
            None => Identity::new(principal.username.clone(), AccessClass::User),
            Some(home) => {
                let mut identity = Identity::new(principal.username.clone(), AccessClass::Guest);
                identity.home = self.home_path(home)?;
                identity
            }
        };
        if let Some(shape) = &self.shape {
            shape(&user, &mut identity);
        }
        Ok(identity)
    }
}

fn auth_error(e: AuthenticationError) -> AuthError {
    match e {
        AuthenticationError::BadPassword => AuthError::BadPassword,
        AuthenticationError::BadUser => AuthError::UnknownUser,
        AuthenticationError::BadCert => AuthError::NotAllowed("bad client certificate".into()),
        AuthenticationError::CnDisallowed => {
            AuthError::NotAllowed("client certificate required or not allowed for this user".into())
        }
        AuthenticationError::IpDisallowed => AuthError::NotAllowed("client address not allowed".into()),
        AuthenticationError::ImplPropagated(what, source) => AuthError::Backend(match source {
            Some(source) => format!("{what}: {source}"),
            None => what,
        }),
    }
}

fn detail_error(e: UserDetailError) -> AuthError {
    match e {
        UserDetailError::UserNotFound { .. } => AuthError::UnknownUser,
        other => AuthError::Backend(other.to_string()),
    }
}

#[async_trait]
impl<P: UserDetailProvider + 'static> Authenticator for UnftpAuthenticator<P> {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthError> {
        let theirs = UnftpCredentials {
            password: Some(credentials.password.clone()),
            certificate_chain: None,
            // An IPv4 client on a dual-stack listener is seen as ::ffff:a.b.c.d;
            // their address rules are written for a.b.c.d.
            source_ip: credentials.peer.ip().to_canonical(),
            command_channel_security: if credentials.client_cert_cn.is_some() {
                ChannelEncryptionState::Tls
            } else {
                ChannelEncryptionState::Plaintext
            },
        };
        let principal = self.auth.authenticate(&credentials.user, &theirs).await.map_err(auth_error)?;
        self.identity(&principal).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn their_refusals_are_ours() {
        assert!(matches!(auth_error(AuthenticationError::BadPassword), AuthError::BadPassword));
        assert!(matches!(auth_error(AuthenticationError::BadUser), AuthError::UnknownUser));
        assert!(matches!(auth_error(AuthenticationError::IpDisallowed), AuthError::NotAllowed(_)));
        assert!(matches!(auth_error(AuthenticationError::CnDisallowed), AuthError::NotAllowed(_)));
        assert!(matches!(auth_error(AuthenticationError::BadCert), AuthError::NotAllowed(_)));
        match auth_error(AuthenticationError::new("ldap is down")) {
            AuthError::Backend(m) => assert_eq!(m, "ldap is down"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(detail_error(UserDetailError::UserNotFound { username: "x".into() }), AuthError::UnknownUser));
        assert!(matches!(detail_error(UserDetailError::Generic("db".into())), AuthError::Backend(_)));
    }
}
