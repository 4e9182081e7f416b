//! One blocking PAM transaction: `pam_authenticate` then `pam_acct_mgmt`.
//!
//! Everything here blocks (modules read files, sleep on failure, talk to
//! LDAP...); callers run it on a blocking thread.

use std::ffi::{OsStr, OsString};

use nonstick::items::ItemsMut;
use nonstick::{
    AuthnFlags, ConversationAdapter, ErrorCode, PamShared, Result as PamResult, Transaction, TransactionBuilder,
};
use oxftp_core::auth::AuthError;

/// Answers PAM's questions from the FTP login: an echoed prompt is asked for
/// the user name, a masked one for the password. Messages are dropped: an FTP
/// client has nowhere to show them before the 530.
struct LoginAnswers {
    user: OsString,
    password: OsString,
}

impl ConversationAdapter for LoginAnswers {
    fn prompt(&self, _request: impl AsRef<OsStr>) -> PamResult<OsString> {
        Ok(self.user.clone())
    }

    fn masked_prompt(&self, _request: impl AsRef<OsStr>) -> PamResult<OsString> {
        Ok(self.password.clone())
    }

    fn error_msg(&self, _message: impl AsRef<OsStr>) {}

    fn info_msg(&self, _message: impl AsRef<OsStr>) {}
}

/// Runs the transaction for `user` on `service`. `peer` (the client's
/// address) becomes PAM_RHOST and PAM_TTY is "ftp", as other FTP servers set
/// them, so pam_access / pam_time rules can name FTP logins.
///
/// The caller must have refused NUL bytes in `service`, `user` and
/// `password` (C strings cannot carry them).
pub(crate) fn login(service: &str, user: &str, password: &str, peer: &str) -> Result<(), AuthError> {
    let answers = LoginAnswers { user: user.into(), password: password.into() };
    let mut txn = TransactionBuilder::new_with_service(service)
        .username(user)
        .build(answers.into_conversation())
        .map_err(|code| AuthError::Backend(format!("pam_start for service {service:?} failed: {code}")))?;
    // Best effort: a PAM that cannot store an item still authenticates.
    let _ = txn.items_mut().set_remote_host(Some(OsStr::new(peer)));
    let _ = txn.items_mut().set_tty_name(Some(OsStr::new("ftp")));
    // An account with an empty password must not log in with an empty PASS.
    txn.authenticate(AuthnFlags::SILENT | AuthnFlags::DISALLOW_NULL_AUTHTOK).map_err(|code| failure("auth", code))?;
    txn.account_management(AuthnFlags::SILENT | AuthnFlags::DISALLOW_NULL_AUTHTOK)
        .map_err(|code| failure("account", code))
}

/// Maps a PAM failure to the engine's verdicts. The engine answers all of
/// them alike; the text goes to the log, so it names the PAM step.
pub(crate) fn failure(step: &str, code: ErrorCode) -> AuthError {
    match code {
        ErrorCode::UserUnknown => AuthError::UnknownUser,
        ErrorCode::AuthenticationError | ErrorCode::CredentialsInsufficient | ErrorCode::MaxTries => {
            AuthError::BadPassword
        }
        // The password has expired and FTP has no way to change it: the
        // account cannot be used over FTP until it is renewed elsewhere.
        ErrorCode::AccountExpired | ErrorCode::NewAuthTokRequired | ErrorCode::AuthTokExpired => AuthError::Disabled,
        ErrorCode::PermissionDenied => AuthError::NotAllowed(format!("PAM {step} check denied access")),
        other => AuthError::Backend(format!("PAM {step} step failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_the_engine_verdicts() {
        assert!(matches!(failure("auth", ErrorCode::UserUnknown), AuthError::UnknownUser));
        assert!(matches!(failure("auth", ErrorCode::AuthenticationError), AuthError::BadPassword));
        assert!(matches!(failure("auth", ErrorCode::MaxTries), AuthError::BadPassword));
        assert!(matches!(failure("account", ErrorCode::AccountExpired), AuthError::Disabled));
        assert!(matches!(failure("account", ErrorCode::NewAuthTokRequired), AuthError::Disabled));
        assert!(
            matches!(failure("account", ErrorCode::PermissionDenied), AuthError::NotAllowed(why) if why.contains("account"))
        );
        let e = failure("auth", ErrorCode::ServiceError);
        assert!(matches!(&e, AuthError::Backend(why) if why.contains("auth")), "{e:?}");
        assert!(matches!(failure("auth", ErrorCode::AuthInfoUnavailable), AuthError::Backend(_)));
    }

    #[test]
    fn conversation_answers_name_and_password() {
        let a = LoginAnswers { user: "alice".into(), password: "pw".into() };
        assert_eq!(a.prompt("login: ").unwrap(), "alice");
        assert_eq!(a.masked_prompt("Password: ").unwrap(), "pw");
    }
}
