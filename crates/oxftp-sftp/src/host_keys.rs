//! Host keys: loaded from OpenSSH private key files, and made on first
//! start when a file is missing.
//!
//! A generated key is written in OpenSSH's own format (unencrypted, mode
//! 0600, through a temporary file renamed into place, so a crash never
//! leaves half a key), so `ssh-keygen -l -f FILE` reads it and it can be
//! replaced by one made elsewhere. The server identifies itself with the
//! same key on every start, and clients that pinned it stay happy.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, HashAlg, PrivateKey};

/// Which kind of host key a file holds (or gets when it is made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Ed25519: small, fast, what every current client prefers.
    Ed25519,
    /// RSA (4096 bits), for clients that know nothing newer.
    Rsa,
}

impl KeyKind {
    fn algorithm(self) -> Algorithm {
        match self {
            KeyKind::Ed25519 => Algorithm::Ed25519,
            KeyKind::Rsa => Algorithm::Rsa { hash: None },
        }
    }

    fn name(self) -> &'static str {
        match self {
            KeyKind::Ed25519 => "ed25519",
            KeyKind::Rsa => "rsa",
        }
    }
}

/// Why a host key could not be had.
#[derive(Debug, thiserror::Error)]
#[error("host key {path}: {message}")]
pub struct HostKeyError {
    /// The key file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

impl HostKeyError {
    fn new(path: &Path, message: impl Into<String>) -> HostKeyError {
        HostKeyError { path: path.to_path_buf(), message: message.into() }
    }
}

/// A host key and whether it was just made.
#[derive(Debug)]
pub struct HostKey {
    /// The key.
    pub key: PrivateKey,
    /// True when the file did not exist and was written now.
    pub generated: bool,
}

impl HostKey {
    /// `SHA256:...`, as `ssh-keygen -l` and clients show it.
    pub fn fingerprint(&self) -> String {
        self.key.public_key().fingerprint(HashAlg::Sha256).to_string()
    }

    /// The key's algorithm name (`ssh-ed25519`, `ssh-rsa`).
    pub fn algorithm(&self) -> String {
        self.key.algorithm().to_string()
    }
}

/// The key in `path`, or a new `kind` key written there when the file does
/// not exist. A file that exists but holds no usable key, holds an
/// encrypted key, holds a key of another kind, or can be read by others
/// than its owner is an error (the server must not start with a host key
/// anyone on the machine could copy).
pub fn load_or_generate(path: &Path, kind: KeyKind) -> Result<HostKey, HostKeyError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            if !meta.is_file() {
                return Err(HostKeyError::new(path, "is not a regular file"));
            }
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(HostKeyError::new(
                    path,
                    format!(
                        "is readable by others (mode {:o}); a host key must be private: chmod 600",
                        meta.permissions().mode() & 0o777
                    ),
                ));
            }
            let key = load(path)?;
            if key.algorithm() != kind.algorithm() {
                return Err(HostKeyError::new(
                    path,
                    format!("holds a {} key, expected {}", key.algorithm(), kind.name()),
                ));
            }
            Ok(HostKey { key, generated: false })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = generate(kind).map_err(|e| HostKeyError::new(path, e))?;
            write_private(path, &key)?;
            Ok(HostKey { key, generated: true })
        }
        Err(e) => Err(HostKeyError::new(path, format!("cannot read: {e}"))),
    }
}

/// What [`load_or_generate`] would do with `path`, without writing
/// anything (for `check-config`): `Ok(true)` when the file holds a usable
/// key, `Ok(false)` when it is missing and its directory exists (a key
/// will be made there), the error `load_or_generate` would give otherwise.
pub fn check(path: &Path, kind: KeyKind) -> Result<bool, HostKeyError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => load_or_generate(path, kind).map(|_| true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            if dir.is_dir() {
                Ok(false)
            } else {
                Err(HostKeyError::new(path, format!("{} is not an existing directory to make a key in", dir.display())))
            }
        }
        Err(e) => Err(HostKeyError::new(path, format!("cannot read: {e}"))),
    }
}

/// Reads an OpenSSH private key file (unencrypted).
fn load(path: &Path) -> Result<PrivateKey, HostKeyError> {
    let text = std::fs::read_to_string(path).map_err(|e| HostKeyError::new(path, format!("cannot read: {e}")))?;
    let key = PrivateKey::from_openssh(text.as_bytes())
        .map_err(|e| HostKeyError::new(path, format!("is not an OpenSSH private key: {e}")))?;
    if key.is_encrypted() {
        return Err(HostKeyError::new(path, "is encrypted; a host key must be readable without a passphrase"));
    }
    Ok(key)
}

/// A new random key.
fn generate(kind: KeyKind) -> Result<PrivateKey, String> {
    let mut rng = russh::keys::key::safe_rng();
    PrivateKey::random(&mut rng, kind.algorithm()).map_err(|e| format!("cannot generate a {} key: {e}", kind.name()))
}

/// Writes `key` to `path` (mode 0600) through a temporary file in the same
/// directory, renamed into place: the file is whole or absent.
fn write_private(path: &Path, key: &PrivateKey) -> Result<(), HostKeyError> {
    let text = key.to_openssh(LineEnding::LF).map_err(|e| HostKeyError::new(path, format!("cannot encode: {e}")))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(HostKeyError::new(path, format!("cannot write a new key: {e}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_is_made_once_then_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ssh_host_ed25519_key");
        let made = load_or_generate(&path, KeyKind::Ed25519).unwrap();
        assert!(made.generated);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(made.fingerprint().starts_with("SHA256:"), "{}", made.fingerprint());
        assert_eq!(made.algorithm(), "ssh-ed25519");
        let again = load_or_generate(&path, KeyKind::Ed25519).unwrap();
        assert!(!again.generated);
        assert_eq!(again.fingerprint(), made.fingerprint());
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "not a key").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = load_or_generate(&path, KeyKind::Ed25519).unwrap_err();
        assert!(e.to_string().contains("not an OpenSSH private key"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_or_generate(&path, KeyKind::Ed25519).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        let e = load_or_generate(dir.path(), KeyKind::Ed25519).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = load_or_generate(&dir.path().join("no/such/dir/key"), KeyKind::Ed25519).unwrap_err();
        assert!(e.to_string().contains("cannot write"), "{e}");
        assert!(check(&dir.path().join("no/such/dir/key"), KeyKind::Ed25519).is_err());
        assert!(!check(&dir.path().join("new_key"), KeyKind::Ed25519).unwrap());
        assert!(!dir.path().join("new_key").exists(), "check writes nothing");
    }
}
