//! [`PublicKey`]: an SSH public key an account may log in with, as written
//! in an `authorized_keys` line and as a client proves it holds one.
//!
//! The engine never verifies signatures: an SSH front end does that with its
//! SSH library and asks the [`Authenticator`](crate::auth::Authenticator)
//! whether the key it verified belongs to the account. Keys are compared by
//! their wire-format blob (RFC 4253 §6.6), so the comment and the base64
//! spelling of a line do not matter.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Longest key blob accepted (an RSA 16384-bit key is about 2 KiB).
const MAX_BLOB: usize = 16 * 1024;

/// An SSH public key: its algorithm name and its wire-format blob.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    algorithm: String,
    blob: Vec<u8>,
}

impl PublicKey {
    /// Parses one `authorized_keys` entry, `TYPE BASE64 [comment]`, such as
    /// `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... alice@laptop`. The base64
    /// must decode to a key blob that names the same `TYPE`. Options in
    /// front of the type (`from="..."`, `command="..."`) are not supported
    /// and are refused, so no entry is accepted with a restriction dropped.
    pub fn parse(line: &str) -> Result<PublicKey, String> {
        let mut fields = line.split_ascii_whitespace();
        let Some(algorithm) = fields.next() else {
            return Err("empty key; expected \"TYPE BASE64 [comment]\" as in authorized_keys".into());
        };
        if !is_algorithm_name(algorithm) {
            return Err(format!(
                "{algorithm:?} is not a key type; expected \"TYPE BASE64 [comment]\" such as \"ssh-ed25519 AAAA...\" \
                 (authorized_keys options such as from= or command= are not supported)"
            ));
        }
        let Some(encoded) = fields.next() else {
            return Err(format!("{algorithm} key without its base64 data"));
        };
        if encoded.len() > MAX_BLOB * 4 / 3 + 4 {
            return Err(format!("{algorithm} key is longer than {MAX_BLOB} bytes"));
        }
        let blob = STANDARD.decode(encoded).map_err(|e| format!("{algorithm} key data is not base64: {e}"))?;
        let key = PublicKey::from_blob(&blob)?;
        if key.algorithm != algorithm {
            return Err(format!("the key data is a {} key, but the line says {algorithm}", key.algorithm));
        }
        Ok(key)
    }

    /// A key from its wire-format blob (`string algorithm, ...`), as an SSH
    /// library hands out a key it verified.
    pub fn from_blob(blob: &[u8]) -> Result<PublicKey, String> {
        if blob.len() > MAX_BLOB {
            return Err(format!("key is longer than {MAX_BLOB} bytes"));
        }
        let name = blob
            .get(..4)
            .map(|len| u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize)
            .and_then(|len| blob.get(4..4 + len))
            .and_then(|name| std::str::from_utf8(name).ok())
            .filter(|name| is_algorithm_name(name));
        match name {
            Some(name) if blob.len() > 4 + name.len() => {
                Ok(PublicKey { algorithm: name.to_string(), blob: blob.to_vec() })
            }
            _ => Err("the key data is not an SSH public key".into()),
        }
    }

    /// The key type (`ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`, ...).
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    /// The wire-format blob.
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The key as an `authorized_keys` line without a comment.
    pub fn to_openssh(&self) -> String {
        format!("{} {}", self.algorithm, STANDARD.encode(&self.blob))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.algorithm)
    }
}

/// Key type names are short printable ASCII words (`ssh-ed25519`,
/// `sk-ssh-ed25519@openssh.com`).
fn is_algorithm_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'@' | b'.' | b'_'))
}

/// Parses an `authorized_keys` file: one key per line; empty lines and
/// lines starting with `#` are skipped. The error names the 1-based line.
pub fn parse_authorized_keys(text: &str) -> Result<Vec<PublicKey>, (usize, String)> {
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        keys.push(PublicKey::parse(line).map_err(|e| (index + 1, e))?);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ed25519 key as `ssh-keygen -t ed25519` writes it.
    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJh9azjS/44Yhx8E3l69wI8ClNJKZ+4hkovo/J685NkV alice@laptop";

    #[test]
    fn an_authorized_keys_line_round_trips() {
        let key = PublicKey::parse(ED25519).unwrap();
        assert_eq!(key.algorithm(), "ssh-ed25519");
        assert_eq!(key.blob().len(), 4 + 11 + 4 + 32);
        assert_eq!(key.to_openssh(), ED25519.rsplit_once(' ').unwrap().0);
        // The comment and surrounding space do not matter.
        assert_eq!(PublicKey::parse(&format!("  {}  ", key.to_openssh())).unwrap(), key);
        assert_eq!(PublicKey::from_blob(key.blob()).unwrap(), key);
        assert_eq!(format!("{key:?}"), "PublicKey(ssh-ed25519)");
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        for (line, needle) in [
            ("", "empty key"),
            ("from=\"10.0.0.1\" ssh-ed25519 AAAA", "options"),
            ("ssh-ed25519", "without its base64"),
            ("ssh-ed25519 !!!!", "not base64"),
            ("ssh-ed25519 AAAA", "not an SSH public key"),
            // The blob says ed25519, the line says rsa.
            (&ED25519.replacen("ssh-ed25519", "ssh-rsa", 1), "is a ssh-ed25519 key"),
        ] {
            let e = PublicKey::parse(line).unwrap_err();
            assert!(e.contains(needle), "{line:?}: {e}");
        }
        assert!(PublicKey::from_blob(&[0, 0, 0, 200, b'x']).is_err());
        assert!(PublicKey::from_blob(&[0, 0, 0, 3, b's', b's', b'h']).is_err(), "a name and nothing else");
    }

    #[test]
    fn files_skip_comments_and_name_the_bad_line() {
        let text = format!("# keys\n\n{ED25519}\n  {ED25519}  \n");
        assert_eq!(parse_authorized_keys(&text).unwrap().len(), 2);
        let (line, e) = parse_authorized_keys(&format!("{ED25519}\nssh-rsa nope\n")).unwrap_err();
        assert_eq!(line, 2, "{e}");
    }
}
