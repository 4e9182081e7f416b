//! One blocking PAM transaction: `pam_authenticate` then `pam_acct_mgmt`.
//!
//! Everything here blocks (modules read files, sleep on failure, talk to
//! LDAP...); callers run it on a blocking thread.

use std::ffi::{CString, c_int};

use oxftp_core::auth::AuthError;

use crate::libpam::{LibPam, Transaction, code, flag};

/// Runs the transaction for `user` on `service`. `peer` (the client's
/// address) becomes PAM_RHOST and PAM_TTY is "ftp", as other FTP servers set
/// them, so pam_access / pam_time rules can name FTP logins. The prompts of
/// the conversation are answered with the user name (echoed prompts) and the
/// password (masked ones); messages are dropped.
///
/// The caller must have refused NUL bytes in `service`, `user` and
/// `password` (C strings cannot carry them).
pub(crate) fn login(lib: &LibPam, service: &str, user: &str, password: &str, peer: &str) -> Result<(), AuthError> {
    let c = |what: &str, s: &str| {
        CString::new(s).map_err(|_| AuthError::Backend(format!("PAM {what} contains a NUL byte")))
    };
    let service_c = c("service", service)?;
    let peer = c("remote host", peer)?;
    let mut txn =
        Transaction::start(lib, &service_c, c("user", user)?, c("password", password)?).map_err(|status| {
            AuthError::Backend(format!("pam_start for service {service:?} failed: PAM error {status}"))
        })?;
    // Best effort: a PAM that cannot store an item still authenticates.
    txn.set_remote_host(&peer);
    txn.set_tty(c"ftp");
    // An account with an empty password must not log in with an empty PASS.
    let flags = flag::SILENT | flag::DISALLOW_NULL_AUTHTOK;
    txn.authenticate(flags).map_err(|status| failure("auth", status, &txn.describe(status)))?;
    txn.account_management(flags).map_err(|status| failure("account", status, &txn.describe(status)))
}

/// Runs only the account step (`pam_acct_mgmt`) for `user`: a public-key
/// login has proved who the user is, and PAM still says whether the
/// account may log in now (expired, locked, pam_access rules), as sshd
/// asks it.
pub(crate) fn account(lib: &LibPam, service: &str, user: &str, peer: &str) -> Result<(), AuthError> {
    let c = |what: &str, s: &str| {
        CString::new(s).map_err(|_| AuthError::Backend(format!("PAM {what} contains a NUL byte")))
    };
    let service_c = c("service", service)?;
    let peer = c("remote host", peer)?;
    // No password: the conversation answers any masked prompt with an empty one.
    let mut txn = Transaction::start(lib, &service_c, c("user", user)?, c("password", "")?).map_err(|status| {
        AuthError::Backend(format!("pam_start for service {service:?} failed: PAM error {status}"))
    })?;
    txn.set_remote_host(&peer);
    txn.set_tty(c"ssh");
    txn.account_management(flag::SILENT).map_err(|status| failure("account", status, &txn.describe(status)))
}

/// Maps a PAM failure to the engine's verdicts. The engine answers all of
/// them alike; the text goes to the log, so it names the PAM step and PAM's
/// own description of the code.
pub(crate) fn failure(step: &str, status: c_int, described: &str) -> AuthError {
    match status {
        code::USER_UNKNOWN => AuthError::UnknownUser,
        code::AUTH_ERR | code::CRED_INSUFFICIENT | code::MAXTRIES => AuthError::BadPassword,
        // The password has expired and FTP has no way to change it: the
        // account cannot be used over FTP until it is renewed elsewhere.
        code::ACCT_EXPIRED | code::NEW_AUTHTOK_REQD | code::AUTHTOK_EXPIRED => AuthError::Disabled,
        code::PERM_DENIED => AuthError::NotAllowed(format!("PAM {step} check denied access")),
        _ => AuthError::Backend(format!("PAM {step} step failed: {described}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_the_engine_verdicts() {
        let f = |step, status| failure(step, status, "described");
        assert!(matches!(f("auth", code::USER_UNKNOWN), AuthError::UnknownUser));
        assert!(matches!(f("auth", code::AUTH_ERR), AuthError::BadPassword));
        assert!(matches!(f("auth", code::MAXTRIES), AuthError::BadPassword));
        assert!(matches!(f("account", code::ACCT_EXPIRED), AuthError::Disabled));
        assert!(matches!(f("account", code::NEW_AUTHTOK_REQD), AuthError::Disabled));
        assert!(matches!(f("account", code::PERM_DENIED), AuthError::NotAllowed(why) if why.contains("account")));
        // PAM_SERVICE_ERR
        let e = f("auth", 3);
        assert!(matches!(&e, AuthError::Backend(why) if why.contains("auth") && why.contains("described")), "{e:?}");
        // PAM_AUTHINFO_UNAVAIL
        assert!(matches!(f("auth", 9), AuthError::Backend(_)));
    }
}
