//! argon2id password hashes: making them, checking that a stored one is
//! usable, and verifying a password against one.
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH`), so
//! each one carries its own cost parameters and an administrator can raise
//! the cost for new hashes without invalidating old ones.

use argon2::password_hash::{self, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher};

/// A valid argon2id hash (default parameters) of a password nobody knows.
/// When a file has no accounts, unknown users are verified against it so that
/// a failed login always costs a hash check (no user enumeration by timing).
/// (Made once with [`hash_password`] from 32 random bytes that were thrown away.)
pub(crate) const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$s5xkDqc9PT9ruDu1EXAaaQ$nFwPMe9nDlB+xrGxffifrheIxq3pEqUBCF0L0Krc1qY";

/// Bytes of random salt: 128 bits, as the PHC and argon2 RFC recommend.
const SALT_LEN: usize = 16;

/// Make an argon2id PHC hash for a password (random salt, argon2 crate defaults).
///
/// # Panics
///
/// Only if `password` is longer than argon2's limit of 4 GiB - 1 bytes; use
/// [`try_hash_password`] where the password's length is not already bounded.
pub fn hash_password(password: &str) -> String {
    match try_hash_password(password) {
        Ok(hash) => hash,
        Err(e) => panic!("argon2 refused to hash a password of {} bytes: {e}", password.len()),
    }
}

/// Like [`hash_password`], but returns argon2's error (a password longer than
/// 4 GiB - 1 bytes) instead of panicking.
pub fn try_hash_password(password: &str) -> Result<String, password_hash::Error> {
    let salt_bytes: [u8; SALT_LEN] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)?;
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
}

/// Checks that `phc` is an argon2id PHC string with usable parameters, so a
/// bad hash is a load error rather than a login that can never succeed.
/// The error says what is wrong in words an administrator can act on.
pub(crate) fn check_hash(phc: &str) -> Result<(), String> {
    const EXPECTED: &str = "expected an argon2id PHC string like \"$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH\" \
                            (make one with `oxftpd hash-password`)";
    let parsed = PasswordHash::new(phc).map_err(|e| format!("not a PHC hash string ({e}); {EXPECTED}"))?;
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return Err(format!("algorithm is {:?}, not argon2id; {EXPECTED}", parsed.algorithm.as_str()));
    }
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err(format!("salt or hash part missing; {EXPECTED}"));
    }
    Params::try_from(&parsed).map_err(|e| format!("bad argon2 parameters ({e}); {EXPECTED}"))?;
    Ok(())
}

/// What comparing a password with a stored hash found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Match,
    Mismatch,
    /// The hash could not be used (should have been caught by [`check_hash`]).
    Broken(String),
}

/// Compares `password` with the PHC string `phc`. CPU- and memory-heavy by
/// design: run it on a blocking thread.
///
/// The argon2 working memory (19 MiB at default cost) is mapped for the
/// check alone; see [`memory`].
pub(crate) fn verify(password: &[u8], phc: &str) -> Verdict {
    let parsed = match PasswordHash::new(phc) {
        Ok(parsed) => parsed,
        Err(e) => return Verdict::Broken(e.to_string()),
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Verdict::Broken("salt or hash part missing".into());
    };
    let algorithm = match Algorithm::try_from(parsed.algorithm) {
        Ok(a) => a,
        Err(e) => return Verdict::Broken(e.to_string()),
    };
    let version = match parsed.version.map(argon2::Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(e) => return Verdict::Broken(e.to_string()),
    };
    let params = match Params::try_from(&parsed) {
        Ok(p) => p,
        Err(e) => return Verdict::Broken(e.to_string()),
    };
    let mut salt_buf = [0u8; 64];
    let salt = match salt.decode_b64(&mut salt_buf) {
        Ok(s) => s,
        Err(e) => return Verdict::Broken(e.to_string()),
    };
    let mut blocks = match memory::Blocks::map(params.block_count()) {
        Ok(blocks) => blocks,
        Err(e) => return Verdict::Broken(format!("no memory for the password check: {e}")),
    };
    let mut out = vec![0u8; expected.len()];
    let result = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        &mut out,
        blocks.as_blocks(),
    );
    drop(blocks);
    if let Err(e) = result {
        return Verdict::Broken(e.to_string());
    }
    // `Output`'s equality is constant-time.
    match password_hash::Output::new(&out) {
        Ok(computed) if computed == expected => Verdict::Match,
        Ok(_) => Verdict::Mismatch,
        Err(e) => Verdict::Broken(e.to_string()),
    }
}

/// argon2 working memory, mapped for one check and unmapped right after.
///
/// Freed heap memory is not given back: glibc kept the 19 MiB blocks of a
/// burst of checks in per-thread arenas (a daemon sat on over a gigabyte after
/// 100 concurrent logins, measured by bench/), and a pool of reused blocks
/// still left 19 MiB resident per core for good. An anonymous mapping is
/// returned to the system by `munmap` the moment the check ends; the page
/// faults of touching it again cost a few milliseconds per check, next to the
/// tens of milliseconds of the hash itself.
mod memory {
    use argon2::Block;
    use memmap2::MmapMut;

    /// Zeroed, page-aligned memory for `count` argon2 blocks.
    pub struct Blocks {
        map: MmapMut,
        count: usize,
    }

    impl Blocks {
        pub fn map(count: usize) -> std::io::Result<Blocks> {
            let len = count.checked_mul(size_of::<Block>()).ok_or_else(|| std::io::Error::other("too many blocks"))?;
            let map = MmapMut::map_anon(len.max(1))?;
            // Transparent huge pages where the system allows them: ten faults
            // for 19 MiB instead of about five thousand. Only a hint.
            let _ = map.advise(memmap2::Advice::HugePage);
            Ok(Blocks { map, count })
        }

        pub fn as_blocks(&mut self) -> &mut [Block] {
            debug_assert!(self.map.len() >= self.count * size_of::<Block>());
            debug_assert_eq!(self.map.as_ptr() as usize % align_of::<Block>(), 0);
            // SAFETY: the mapping is page-aligned (more than Block's 64-byte
            // alignment), at least `count * size_of::<Block>()` bytes long and
            // zero-filled; a Block is plain `[u64; 128]`, valid for any bits;
            // the slice borrows `self`, so it cannot outlive the mapping.
            unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().cast::<Block>(), self.count) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash_password("s3cret");
        let b = hash_password("s3cret");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "each hash gets a fresh salt");
        assert_eq!(check_hash(&a), Ok(()));
        assert_eq!(verify(b"s3cret", &a), Verdict::Match);
        assert_eq!(verify(b"s3cret ", &a), Verdict::Mismatch);
        assert_eq!(verify(b"", &a), Verdict::Mismatch);
    }

    #[test]
    fn dummy_hash_is_valid_and_matches_nothing_obvious() {
        assert_eq!(check_hash(DUMMY_HASH), Ok(()));
        assert_eq!(verify(b"", DUMMY_HASH), Verdict::Mismatch);
        assert_eq!(verify(b"password", DUMMY_HASH), Verdict::Mismatch);
    }

    #[test]
    fn unusable_hashes_are_refused_with_a_reason() {
        let err = check_hash("plaintext").unwrap_err();
        assert!(err.contains("not a PHC hash string"), "{err}");
        let argon2i = DUMMY_HASH.replacen("argon2id", "argon2i", 1);
        assert!(check_hash(&argon2i).unwrap_err().contains("not argon2id"));
        let no_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0";
        assert!(check_hash(no_hash).unwrap_err().contains("missing"));
        let bad_cost = DUMMY_HASH.replacen("t=2", "t=0", 1);
        assert!(check_hash(&bad_cost).unwrap_err().contains("parameters"));
        assert!(matches!(verify(b"x", "garbage"), Verdict::Broken(_)));
    }
}
