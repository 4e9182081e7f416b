//! What a JSON account's password is checked against: a plain password or an
//! unFTP PBKDF2-HMAC-SHA256 key.

use std::fmt;
use std::num::NonZeroU32;

use ring::digest::{SHA256, digest};
use ring::pbkdf2;
use subtle::ConstantTimeEq;

/// Longest PBKDF2 key accepted, in bytes: one SHA-256 output, as unFTP
/// requires. A longer key would make every check do several derivations.
pub(crate) const MAX_KEY_LEN: usize = 32;

/// Most PBKDF2 iterations accepted. Far above unFTP's 500 000 default; it
/// stops a typo from making every login (and every unknown-user check) take
/// minutes of CPU.
pub(crate) const MAX_ITERATIONS: u32 = 10_000_000;

/// How an account proves its password.
#[derive(Clone)]
pub(crate) enum Secret {
    /// A plain password from the file, kept only as its SHA-256 digest so the
    /// comparison takes the same time whatever the lengths.
    Plain([u8; 32]),
    /// unFTP's PBKDF2-HMAC-SHA256 fields, decoded.
    Pbkdf2 { salt: Vec<u8>, key: Vec<u8>, iterations: NonZeroU32 },
    /// No password at all (unFTP's client-certificate-only accounts): no
    /// password ever matches.
    None,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material, only the kind.
        f.write_str(match self {
            Secret::Plain(_) => "Plain",
            Secret::Pbkdf2 { .. } => "Pbkdf2",
            Secret::None => "None",
        })
    }
}

impl Secret {
    /// A plain password.
    pub(crate) fn plain(password: &str) -> Secret {
        Secret::Plain(sha256(password.as_bytes()))
    }

    /// True when this secret costs a key derivation to check, so the check
    /// belongs on a blocking thread.
    pub(crate) fn is_slow(&self) -> bool {
        matches!(self, Secret::Pbkdf2 { .. })
    }

    /// Whether `password` matches, in time that does not depend on how much
    /// of it matches.
    pub(crate) fn verify(&self, password: &[u8]) -> bool {
        match self {
            Secret::Plain(expected) => bool::from(sha256(password).ct_eq(expected)),
            Secret::Pbkdf2 { salt, key, iterations } => {
                pbkdf2::verify(pbkdf2::PBKDF2_HMAC_SHA256, *iterations, salt, password, key).is_ok()
            }
            Secret::None => false,
        }
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn derived(password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut key = vec![0u8; MAX_KEY_LEN];
        let iterations = NonZeroU32::new(iterations).unwrap();
        pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, salt, password, &mut key);
        key
    }

    #[test]
    fn plain_matches_only_the_exact_password() {
        let s = Secret::plain("I am in Wonderland!");
        assert!(s.verify(b"I am in Wonderland!"));
        assert!(!s.verify(b"I am in Wonderland"));
        assert!(!s.verify(b"i am in wonderland!"));
        assert!(!s.verify(b""));
        assert!(!s.is_slow());
        let empty = Secret::plain("");
        assert!(empty.verify(b""));
        assert!(!empty.verify(b"x"));
    }

    #[test]
    fn pbkdf2_matches_its_derivation() {
        let salt = b"8 bytes!".to_vec();
        let key = derived(b"mypassword", &salt, 1000);
        let s = Secret::Pbkdf2 { salt, key, iterations: NonZeroU32::new(1000).unwrap() };
        assert!(s.is_slow());
        assert!(s.verify(b"mypassword"));
        assert!(!s.verify(b"mypassword "));
        assert!(!s.verify(b""));
    }

    #[test]
    fn no_secret_matches_nothing() {
        assert!(!Secret::None.verify(b""));
        assert!(!Secret::None.verify(b"anything"));
    }

    #[test]
    fn debug_hides_key_material() {
        let shown = format!("{:?}", Secret::plain("hunter2"));
        assert_eq!(shown, "Plain");
    }
}
