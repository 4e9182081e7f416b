//! HASH and OPTS HASH (draft-bryan-ftpext-hash-02), and the older XCRC, XMD5
//! and XSHA256: a file's digest computed on the server, so a client can check a transfer without downloading the
//! file again (FileZilla, WinSCP and others ask for it).
//!
//! Hashing reads the whole file, so it is bounded: each session may hash at
//! most [`Options::hash_bytes_per_session`](crate::server::Options) bytes in
//! all (0 turns HASH off), and anonymous sessions may not hash at all unless
//! [`Options::hash_anonymous`](crate::server::Options) says so, since a
//! public server must not be an open CPU.

use oxftp_proto::reply::Reply;
use sha2::Digest as _;
use tokio::io::AsyncReadExt;

use crate::auth::AccessClass;
use oxftp_proto::command::Verb;

use crate::conn::{Answered, Conn, HashAlgorithm, LoggedIn, Replied};
use crate::storage::ReadHandle;

/// `OPTS HASH [algorithm]` (draft-bryan-ftpext-hash-02 §4) → `200 <algorithm>`
/// (the one now in use) · `501` for an algorithm we do not offer.
pub(crate) async fn opts_hash(conn: &mut Conn, value: &str) -> Answered {
    if value.is_empty() {
        return Ok(conn.reply(200, conn.hash.algorithm.name()).await);
    }
    match HashAlgorithm::from_name(value) {
        Some(algorithm) => {
            conn.hash.algorithm = algorithm;
            Ok(conn.reply(200, algorithm.name()).await)
        }
        None => {
            Err(conn.reply(501, format!("Unknown hash algorithm {value}; use SHA-256, SHA-1, MD5 or CRC32.")).await)
        }
    }
}

/// `HASH <path>` (draft-bryan-ftpext-hash-02 §3) → `213 <algorithm>
/// 0-<size> <hex digest> <path>` · `502` when HASH is off on this server ·
/// `550` for anonymous sessions (unless allowed), what is not a regular
/// file, or a file beyond what is left of the session's budget · `451`
/// when reading fails.
pub(crate) async fn hash(conn: &mut Conn, user: &LoggedIn, arg: &[u8]) -> Answered {
    let algorithm = conn.hash.algorithm;
    let (path, bytes, hex) = compute(conn, user, arg, algorithm).await?;
    let mut text = format!("{} 0-{bytes} {hex} ", algorithm.name()).into_bytes();
    text.extend_from_slice(path.as_bytes());
    Ok(conn.send(&Reply::new(213, text)).await)
}

/// `XCRC <path>` / `XMD5 <path>` / `XSHA256 <path>` (de facto, as ProFTPD's
/// mod_digest answers them) → `250 <hex digest>` · otherwise as HASH, whose
/// budget and rules they share.
pub(crate) async fn digest_command(conn: &mut Conn, user: &LoggedIn, verb: Verb, arg: &[u8]) -> Answered {
    let algorithm = match verb {
        Verb::Xcrc => HashAlgorithm::Crc32,
        Verb::Xmd5 => HashAlgorithm::Md5,
        _ => HashAlgorithm::Sha256,
    };
    let (_, _, hex) = compute(conn, user, arg, algorithm).await?;
    Ok(conn.reply(250, hex).await)
}

/// What HASH and the X forms share: the checks, the budget, the digest.
async fn compute(
    conn: &mut Conn,
    user: &LoggedIn,
    arg: &[u8],
    algorithm: HashAlgorithm,
) -> Result<(oxftp_proto::path::VPath, u64, String), Replied> {
    let limit = conn.ctx.options.hash_bytes_per_session;
    if limit == 0 {
        return Err(conn.reply(502, "HASH is turned off on this server.").await);
    }
    if user.identity.class == AccessClass::Anonymous && !conn.ctx.options.hash_anonymous {
        return Err(conn.reply(550, "HASH is not available to anonymous users.").await);
    }
    let path = user.resolve(conn, arg).await?;
    let info = match user.storage.metadata(&path).await {
        Ok(info) if info.is_file() => info,
        Ok(_) => return Err(conn.reply(550, "Not a regular file.").await),
        Err(e) => return Err(conn.storage_failed(&e).await),
    };
    let left = limit.saturating_sub(conn.hash.hashed);
    if info.size > left {
        let text = format!("HASH budget of this session exceeded: {left} bytes left, the file has {}.", info.size);
        return Err(conn.reply(550, text).await);
    }
    let source = match user.storage.open_read(&path, 0).await {
        Ok(source) => source,
        Err(e) => return Err(conn.storage_failed(&e).await),
    };
    // Counted before the work: a failed or cut-short read still spent it.
    conn.hash.hashed = conn.hash.hashed.saturating_add(info.size);
    match digest(source, algorithm, left).await {
        Ok((bytes, hex)) => Ok((path, bytes, hex)),
        Err(e) => Err(conn.reply(451, format!("Cannot read the file: {e}")).await),
    }
}

/// The digest of what `source` yields (at most `limit` bytes: a file that
/// grew since its size was read is cut there), as lowercase hex, and the
/// bytes read.
async fn digest(source: ReadHandle, algorithm: HashAlgorithm, limit: u64) -> std::io::Result<(u64, String)> {
    let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match source {
        ReadHandle::Stream(r) => r,
        ReadHandle::LocalFile(f) => Box::new(tokio::fs::File::from_std(f)),
    };
    let mut reader = reader.take(limit);
    let mut hasher = Hasher::new(algorithm);
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
        // Hashing is CPU work on a runtime thread: let other tasks in between chunks.
        tokio::task::yield_now().await;
    }
    Ok((total, hasher.finish()))
}

enum Hasher {
    Sha256(sha2::Sha256),
    Sha1(sha1::Sha1),
    Md5(md5::Md5),
    Crc32(crc32fast::Hasher),
}

impl Hasher {
    fn new(algorithm: HashAlgorithm) -> Hasher {
        match algorithm {
            HashAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashAlgorithm::Md5 => Hasher::Md5(md5::Md5::new()),
            HashAlgorithm::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Md5(h) => h.update(data),
            Hasher::Crc32(h) => h.update(data),
        }
    }

    fn finish(self) -> String {
        let bytes: Vec<u8> = match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn hex(algorithm: HashAlgorithm, data: &'static [u8]) -> String {
        let source = ReadHandle::Stream(Box::new(data));
        digest(source, algorithm, u64::MAX).await.unwrap().1
    }

    #[tokio::test]
    async fn known_digests() {
        assert_eq!(
            hex(HashAlgorithm::Sha256, b"abc").await,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hex(HashAlgorithm::Sha1, b"abc").await, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(hex(HashAlgorithm::Md5, b"abc").await, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(hex(HashAlgorithm::Crc32, b"123456789").await, "cbf43926");
        let cut = digest(ReadHandle::Stream(Box::new(&b"abcdef"[..])), HashAlgorithm::Md5, 3).await.unwrap();
        assert_eq!(cut, (3, "900150983cd24fb0d6963f7d28e17f72".to_string()));
    }
}
