//! A session's HASH state (the handlers are in `cmd::hash`).

/// The algorithms HASH offers (draft-bryan-ftpext-hash-02).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum HashAlgorithm {
    #[default]
    Sha256,
    Sha1,
    Md5,
    Crc32,
}

impl HashAlgorithm {
    const ALL: [HashAlgorithm; 4] =
        [HashAlgorithm::Sha256, HashAlgorithm::Sha1, HashAlgorithm::Md5, HashAlgorithm::Crc32];

    /// The name on the wire (the draft's names, from the IANA registry).
    pub(crate) fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "SHA-256",
            HashAlgorithm::Sha1 => "SHA-1",
            HashAlgorithm::Md5 => "MD5",
            HashAlgorithm::Crc32 => "CRC32",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<HashAlgorithm> {
        HashAlgorithm::ALL.into_iter().find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// The FEAT line: every algorithm, the session's own marked with `*`.
    pub(crate) fn feat_line(chosen: HashAlgorithm) -> String {
        let names: Vec<String> = HashAlgorithm::ALL
            .iter()
            .map(|a| if *a == chosen { format!("{}*", a.name()) } else { a.name().to_string() })
            .collect();
        format!("HASH {}", names.join(";"))
    }
}

/// A session's HASH state: its algorithm and how much it has hashed (kept
/// across REIN, so logging in again does not refill the budget).
#[derive(Debug, Default)]
pub(crate) struct HashState {
    pub algorithm: HashAlgorithm,
    pub hashed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_feat_line() {
        assert_eq!(HashAlgorithm::from_name("sha-1"), Some(HashAlgorithm::Sha1));
        assert_eq!(HashAlgorithm::from_name("SHA-512"), None);
        assert_eq!(HashAlgorithm::feat_line(HashAlgorithm::Md5), "HASH SHA-256;SHA-1;MD5*;CRC32");
    }
}
