//! Start-up checks: the PAM service must be named sanely and exist.
//!
//! Linux-PAM does not fail when `/etc/pam.d/<service>` is missing: it falls
//! back to `/etc/pam.d/other`, which on Debian includes pam_unix. A misspelt
//! service name would therefore quietly let every system account log in over
//! FTP. We refuse to start instead.

use std::path::{Path, PathBuf};

/// Where Linux-PAM (and OpenPAM) look for per-service rules.
pub const PAM_DIR: &str = "/etc/pam.d";

/// Longest service name accepted; real ones are short words.
const MAX_SERVICE_LEN: usize = 64;

/// Why a PAM authenticator could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PamSetupError {
    /// The system's PAM library could not be opened (not installed, or not
    /// Linux-PAM).
    #[error(
        "PAM is not available on this machine: {library} could not be loaded ({reason}); install the system's \
         PAM library (Debian: libpam0g) or choose another auth backend"
    )]
    LibraryUnavailable {
        /// The library that was looked for.
        library: &'static str,
        /// What the dynamic loader said.
        reason: String,
    },
    /// The service name is not a plain file name.
    #[error("PAM service name {name:?} is invalid: {reason}")]
    InvalidService {
        /// The name as configured.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `/etc/pam.d/<service>` does not exist, so PAM would use `other`.
    #[error(
        "PAM service file {} does not exist; refusing to start because PAM would fall back to \
         /etc/pam.d/other (often pam_unix: every system account)",
        path.display()
    )]
    ServiceMissing {
        /// The file that should hold the service's rules.
        path: PathBuf,
    },
    /// The configured home is not a usable virtual path.
    #[error("PAM home {home:?} is invalid: {reason}")]
    InvalidHome {
        /// The home as configured.
        home: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Checks that `service` is a plain name (letters, digits, `.`, `_`, `-`,
/// not starting with `.`, so no `/` and no `..`) and that
/// `/etc/pam.d/<service>` exists; returns that file's path.
pub fn check_service(service: &str) -> Result<PathBuf, PamSetupError> {
    check_service_in(Path::new(PAM_DIR), service)
}

/// [`check_service`] against another directory (tests).
pub(crate) fn check_service_in(dir: &Path, service: &str) -> Result<PathBuf, PamSetupError> {
    let invalid = |reason| Err(PamSetupError::InvalidService { name: service.to_string(), reason });
    if service.is_empty() {
        return invalid("it is empty");
    }
    if service.len() > MAX_SERVICE_LEN {
        return invalid("it is longer than 64 bytes");
    }
    if service.starts_with('.') {
        return invalid("it starts with '.' (no hidden files, no '..')");
    }
    if !service.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return invalid("only letters, digits, '.', '_' and '-' are allowed (no '/')");
    }
    let path = dir.join(service);
    // `is_file` follows symlinks, as PAM does: a link to a real file is fine,
    // a dangling one is missing.
    if !path.is_file() {
        return Err(PamSetupError::ServiceMissing { path });
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_paths_or_odd_bytes_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        for bad in ["", "..", "../etc/passwd", "a/b", "/etc/pam.d/login", ".hidden", "a b", "a\0b", "ftp\n", "é"] {
            let e = check_service_in(dir, bad).unwrap_err();
            assert!(matches!(e, PamSetupError::InvalidService { .. }), "{bad:?}: {e}");
        }
        let long = "a".repeat(65);
        assert!(matches!(check_service_in(dir, &long), Err(PamSetupError::InvalidService { .. })));
    }

    #[test]
    fn a_missing_service_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        std::fs::create_dir(dir.join("a-directory")).unwrap();
        std::fs::write(dir.join("oxftpd"), "auth required pam_deny.so\n").unwrap();

        assert_eq!(check_service_in(&dir, "oxftpd").unwrap(), dir.join("oxftpd"));
        let e = check_service_in(&dir, "oxftdp").unwrap_err();
        assert!(matches!(&e, PamSetupError::ServiceMissing { path } if path == &dir.join("oxftdp")));
        assert!(e.to_string().contains("/etc/pam.d/other"), "{e}");
        assert!(matches!(check_service_in(&dir, "a-directory"), Err(PamSetupError::ServiceMissing { .. })));
    }

    #[test]
    fn the_real_directory_is_checked() {
        // A name that no system has.
        let e = check_service("oxftp-no-such-service-3c1f").unwrap_err();
        assert!(matches!(&e, PamSetupError::ServiceMissing { path } if path.starts_with(PAM_DIR)), "{e}");
    }
}
