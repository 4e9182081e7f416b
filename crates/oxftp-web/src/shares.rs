//! Share links: a file or folder handed to people without an FTP account.
//!
//! A link acts as its owner: the gateway logs in upstream with the owner's
//! credentials and serves only the shared path (download links) or stores
//! into the shared folder without listing it (drop boxes). So the owner's
//! password must outlive the session, and how it is kept is the point:
//!
//! - the link's token is 32 bytes from the OS's CSPRNG (256 bits, sent as
//!   64 hex digits) and is shown once; the store keeps only its SHA-256;
//! - the owner's password is sealed (ChaCha20-Poly1305) with a key derived
//!   from the token (HKDF-SHA256), bound to the link's record (id, owner,
//!   path, kind) as associated data. The store alone, a backup of it, or a
//!   reader of the config file, opens no password: that takes the link
//!   itself. Whoever holds a link could always act as the owner on that
//!   path; with the store too, they could recover the owner's password:
//!   that is the remaining risk, bounded by expiry and revocation (which
//!   deletes the sealed copy);
//! - to make a link the owner types the password again (checked against
//!   the session's), so a stolen session cookie cannot mint lasting links;
//! - a link's own optional password is an Argon2id hash; wrong guesses go
//!   through the login throttle of the guesser's address;
//! - every path a visitor asks for is cleaned (no `.`/`..`, also encoded),
//!   joined under the shared path, and each level of it is checked in its
//!   parent's listing to be a folder or file: what the upstream lists as a
//!   symbolic link is never followed.
//!
//! The store is a small JSON file (`shares_file`, next to the daemon's
//! config), replaced atomically (written to a temporary file, synced,
//! renamed) on every change, so links survive a restart. Visitors hold no
//! server-side state: a visitor's cookie (a nonce, until when a link
//! password was given, an HMAC with a key drawn at start-up) carries it, and
//! the CSRF token of a visitor's forms is an HMAC of that nonce.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::TryRngCore;
use rand::rngs::OsRng;
use ring::{aead, digest, hkdf, hmac};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::error::WebError;

/// Most links kept in all.
pub const MAX_LINKS: usize = 10_000;
/// Most links one account may have.
pub const MAX_LINKS_PER_ACCOUNT: usize = 500;
/// Expired links are still answered with 410 (not 404) this long.
const KEEP_EXPIRED: u64 = 30 * 24 * 3600;
/// Visitor requests served at once (each logs in upstream as a link's
/// owner): more get 503, so visitors cannot use up an owner's FTP sessions.
pub const MAX_VISITOR_REQUESTS: usize = 32;
/// How long a visitor who gave a link's password stays let in.
pub const UNLOCK_TIME: u64 = 12 * 3600;

/// What a link lets its visitors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShareKind {
    /// Download the file, or browse and download in the folder.
    Download,
    /// Upload into the folder, seeing nothing of it (a drop box).
    Upload,
}

/// One link as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Public id (random), for the owner's list and revocation.
    pub id: String,
    /// SHA-256 of the token, hex.
    token_hash: String,
    /// The owner's upstream, in written form.
    pub upstream: String,
    /// The owner's FTP user name.
    pub user: String,
    /// The shared path, as the owner's session sees it.
    pub path: String,
    /// Whether the path is a folder.
    pub dir: bool,
    /// Download or drop box.
    pub kind: ShareKind,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds after which the link answers 410.
    pub expires: u64,
    /// Argon2id hash of the link's password, when it has one.
    pub password: Option<String>,
    /// Downloads allowed, when limited.
    pub max_downloads: Option<u64>,
    /// Downloads so far.
    pub downloads: u64,
    /// The owner's FTP password sealed with the token's key: nonce ‖ ciphertext ‖ tag, hex.
    sealed: String,
}

impl Record {
    /// The data the seal is bound to: changing any of it in the file breaks the link.
    fn aad(&self) -> String {
        format!("{}\n{}\n{}\n{}\n{}\n{:?}", self.id, self.upstream, self.user, self.path, self.dir, self.kind)
    }

    /// Whether the link has run out: expired, or no downloads left.
    pub fn spent(&self, now: u64) -> Option<&'static str> {
        if now >= self.expires {
            Some("This link has expired.")
        } else if self.max_downloads.is_some_and(|max| self.downloads >= max) {
            Some("This link has been used as many times as it may be.")
        } else {
            None
        }
    }
}

/// On-disk form.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StoreFile {
    version: u32,
    links: Vec<Record>,
}

/// What a new link is made of.
#[derive(Debug)]
pub struct NewLink<'a> {
    pub upstream: &'a str,
    pub user: &'a str,
    pub owner_password: &'a str,
    pub path: &'a str,
    pub dir: bool,
    pub kind: ShareKind,
    pub lifetime: Duration,
    pub password: Option<&'a str>,
    pub max_downloads: Option<u64>,
}

/// A link found by its token, with the owner's password opened.
pub struct Opened {
    pub record: Record,
    pub owner_password: String,
}

/// The gateway's share links.
pub(crate) struct Shares {
    file: Option<PathBuf>,
    /// Why the store could not be read (then no link is made or changed).
    problem: Option<String>,
    max_lifetime: Duration,
    /// By token hash.
    links: Mutex<HashMap<String, Record>>,
    visitor_key: hmac::Key,
    /// Visitor requests in progress (see [`MAX_VISITOR_REQUESTS`]).
    slots: std::sync::Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Shares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shares").field("file", &self.file).finish()
    }
}

/// `n` random bytes from the OS, or `None` when it has none to give.
fn random<const N: usize>() -> Option<[u8; N]> {
    let mut b = [0u8; N];
    OsRng.try_fill_bytes(&mut b).ok()?;
    Some(b)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// Now, in Unix seconds.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Whether `token` has the form of a link token (64 lower-case hex digits).
pub fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn token_hash(token: &[u8]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"oxftp-web share token v1\0");
    ctx.update(token);
    hex(ctx.finish().as_ref())
}

/// The sealing key of a link: HKDF-SHA256 of its token, for its id.
fn seal_key(token: &[u8], id: &str) -> Option<aead::LessSafeKey> {
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"oxftp-web share credentials v1");
    let prk = salt.extract(token);
    let info = [id.as_bytes()];
    let okm = prk.expand(&info, &aead::CHACHA20_POLY1305).ok()?;
    Some(aead::LessSafeKey::new(aead::UnboundKey::from(okm)))
}

/// Hash a link password (Argon2id, random salt).
fn hash_password(password: &str) -> Result<String, WebError> {
    let salt_bytes: [u8; 16] = random().ok_or_else(|| WebError::Unavailable("no randomness".into()))?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| WebError::Unavailable(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| WebError::Unavailable(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches the Argon2 `hash`.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

impl Shares {
    /// The links in `file` (none, and share links off, without one).
    pub(crate) fn new(file: Option<PathBuf>, max_lifetime: Duration) -> Shares {
        let mut problem = None;
        let mut links = HashMap::new();
        if let Some(path) = &file {
            match std::fs::read(path) {
                Ok(bytes) => match serde_json::from_slice::<StoreFile>(&bytes) {
                    Ok(store) => {
                        for r in store.links {
                            links.insert(r.token_hash.clone(), r);
                        }
                    }
                    Err(e) => problem = Some(format!("{}: not a share-link store: {e}", path.display())),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => problem = Some(format!("{}: {e}", path.display())),
            }
        }
        let key_bytes: [u8; 32] = random().unwrap_or_else(|| {
            // No randomness: visitor cookies could be forged, so make them unverifiable.
            problem.get_or_insert_with(|| "the OS gave no randomness".into());
            [0u8; 32]
        });
        Shares {
            file,
            problem,
            max_lifetime,
            links: Mutex::new(links),
            visitor_key: hmac::Key::new(hmac::HMAC_SHA256, &key_bytes),
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_VISITOR_REQUESTS)),
        }
    }

    /// A slot for one visitor request, or 503 when all are taken.
    pub(crate) fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, WebError> {
        self.slots.clone().try_acquire_owned().map_err(|_| WebError::TooManyRequests {
            message: "Too many people are using share links right now; try again shortly.".into(),
            retry_after: 5,
        })
    }

    /// Whether share links are on.
    pub(crate) fn enabled(&self) -> bool {
        self.file.is_some()
    }

    /// Why the store cannot be used, if it cannot.
    pub(crate) fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// Whether `user` may make links (not the shared anonymous account).
    pub(crate) fn may_share(&self, user: &str) -> bool {
        self.enabled() && !user.eq_ignore_ascii_case("anonymous") && !user.eq_ignore_ascii_case("ftp")
    }

    /// The longest lifetime a link may be given.
    pub(crate) fn max_lifetime(&self) -> Duration {
        self.max_lifetime
    }

    /// Make a link; returns its token (shown once) and record.
    pub(crate) fn create(&self, new: &NewLink<'_>) -> Result<(String, Record), WebError> {
        if !self.enabled() {
            return Err(WebError::NotFound("share links are not enabled".into()));
        }
        if let Some(p) = &self.problem {
            return Err(WebError::Unavailable(format!("share links are unavailable: {p}")));
        }
        if new.lifetime.is_zero() || new.lifetime > self.max_lifetime {
            return Err(WebError::BadRequest(format!(
                "a link may last from a minute to {} days",
                self.max_lifetime.as_secs() / 86400
            )));
        }
        if new.kind == ShareKind::Upload && !new.dir {
            return Err(WebError::BadRequest("a drop box must be a folder".into()));
        }
        let no_randomness = || WebError::Unavailable("cannot make a link now; try again later".into());
        let token: [u8; 32] = random().ok_or_else(no_randomness)?;
        let id: [u8; 8] = random().ok_or_else(no_randomness)?;
        let nonce: [u8; 12] = random().ok_or_else(no_randomness)?;
        let now = now();
        let mut record = Record {
            id: hex(&id),
            token_hash: token_hash(&token),
            upstream: new.upstream.to_string(),
            user: new.user.to_string(),
            path: new.path.to_string(),
            dir: new.dir,
            kind: new.kind,
            created: now,
            expires: now + new.lifetime.as_secs(),
            password: new.password.filter(|p| !p.is_empty()).map(hash_password).transpose()?,
            max_downloads: new.max_downloads,
            downloads: 0,
            sealed: String::new(),
        };
        let key = seal_key(&token, &record.id).ok_or_else(no_randomness)?;
        let mut data = new.owner_password.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(record.aad().as_bytes()),
            &mut data,
        )
        .map_err(|_| no_randomness())?;
        record.sealed = format!("{}{}", hex(&nonce), hex(&data));
        {
            let mut links = self.links.lock().map_err(|_| no_randomness())?;
            purge(&mut links, now);
            if links.len() >= MAX_LINKS {
                return Err(WebError::Unavailable("the gateway holds as many links as it may".into()));
            }
            let own = links.values().filter(|r| r.upstream == new.upstream && r.user == new.user).count();
            if own >= MAX_LINKS_PER_ACCOUNT {
                return Err(WebError::Unavailable(format!(
                    "an account may have at most {MAX_LINKS_PER_ACCOUNT} links; revoke some first"
                )));
            }
            links.insert(record.token_hash.clone(), record.clone());
            if let Err(e) = self.save(&links) {
                // A link that would not survive a restart is not made at all.
                links.remove(&record.token_hash);
                return Err(e);
            }
        }
        Ok((hex(&token), record))
    }

    /// The link for `token`, with the owner's password opened: 404 for no
    /// such link (or a revoked one), 410 for an expired or used-up one.
    pub(crate) fn open(&self, token: &str) -> Result<Opened, WebError> {
        let not_found = || WebError::NotFound("There is no such link, or it was revoked.".into());
        if !self.enabled() || !well_formed(token) {
            return Err(not_found());
        }
        let bytes = unhex(token).ok_or_else(not_found)?;
        let hash = token_hash(&bytes);
        let record = self.links.lock().ok().and_then(|l| l.get(&hash).cloned()).ok_or_else(not_found)?;
        if let Some(why) = record.spent(now()) {
            return Err(WebError::Gone(why.into()));
        }
        let sealed = unhex(&record.sealed).filter(|s| s.len() > 12).ok_or_else(not_found)?;
        let (nonce, data) = sealed.split_at(12);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| not_found())?;
        let key = seal_key(&bytes, &record.id).ok_or_else(not_found)?;
        let mut data = data.to_vec();
        let plain = key
            .open_in_place(nonce, aead::Aad::from(record.aad().as_bytes()), &mut data)
            .map_err(|_| WebError::Gone("This link can no longer be opened.".into()))?;
        let owner_password = String::from_utf8(plain.to_vec()).map_err(|_| not_found())?;
        Ok(Opened { record, owner_password })
    }

    /// Count one download of the link `id`; 410 once its limit is reached.
    pub(crate) fn count_download(&self, id: &str) -> Result<(), WebError> {
        let mut links = self.links.lock().map_err(|_| WebError::Unavailable("try again".into()))?;
        let record =
            links.values_mut().find(|r| r.id == id).ok_or_else(|| WebError::NotFound("no such link".into()))?;
        if let Some(why) = record.spent(now()) {
            return Err(WebError::Gone(why.into()));
        }
        record.downloads += 1;
        self.save(&links)
    }

    /// The links of one account, newest first.
    pub(crate) fn list(&self, upstream: &str, user: &str) -> Vec<Record> {
        let mut own: Vec<Record> = self
            .links
            .lock()
            .map(|l| l.values().filter(|r| r.upstream == upstream && r.user == user).cloned().collect())
            .unwrap_or_default();
        own.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        own
    }

    /// Revoke the link `id` of this account; whether there was one.
    pub(crate) fn revoke(&self, upstream: &str, user: &str, id: &str) -> Result<bool, WebError> {
        let mut links = self.links.lock().map_err(|_| WebError::Unavailable("try again".into()))?;
        let before = links.len();
        links.retain(|_, r| !(r.id == id && r.upstream == upstream && r.user == user));
        if links.len() == before {
            return Ok(false);
        }
        self.save(&links)?;
        Ok(true)
    }

    /// Write the store atomically: a temporary file in the same folder
    /// (mode 0600), synced, renamed over the old one, and the folder synced.
    fn save(&self, links: &HashMap<String, Record>) -> Result<(), WebError> {
        let Some(path) = &self.file else { return Ok(()) };
        let failed = |e: std::io::Error| WebError::Unavailable(format!("cannot save the share links: {e}"));
        let mut all: Vec<&Record> = links.values().collect();
        all.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        let store = serde_json::json!({ "version": 1, "links": all });
        let text = serde_json::to_vec_pretty(&store).map_err(|e| failed(std::io::Error::other(e)))?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        let suffix: [u8; 6] = random().ok_or_else(|| failed(std::io::Error::other("no randomness")))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "shares".into());
        let tmp = dir.join(format!(".{name}.{}.tmp", hex(&suffix)));
        let written = (|| {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(failed)
    }

    // ---- visitors ---------------------------------------------------------

    fn visitor_mac(&self, link: &str, nonce: &str, until: u64) -> String {
        let tag = hmac::sign(&self.visitor_key, format!("visitor\n{link}\n{nonce}\n{until}").as_bytes());
        hex(tag.as_ref())
    }

    /// A visitor cookie value for link `id`: a fresh nonce, unlocked until `until`.
    pub(crate) fn visitor_cookie(&self, id: &str, nonce: Option<&str>, until: u64) -> Option<String> {
        let nonce = match nonce {
            Some(n) => n.to_string(),
            None => hex(&random::<16>()?),
        };
        Some(format!("{nonce}.{until}.{}", self.visitor_mac(id, &nonce, until)))
    }

    /// The (nonce, unlocked-until) of a visitor cookie for link `id`, if genuine.
    pub(crate) fn visitor(&self, id: &str, cookie: &str) -> Option<(String, u64)> {
        let mut parts = cookie.split('.');
        let (nonce, until, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || nonce.len() != 32 {
            return None;
        }
        let until: u64 = until.parse().ok()?;
        let want = self.visitor_mac(id, nonce, until);
        bool::from(want.as_bytes().ct_eq(mac.as_bytes())).then(|| (nonce.to_string(), until))
    }

    /// The CSRF token of a visitor's forms on link `id`.
    pub(crate) fn visitor_csrf(&self, id: &str, nonce: &str) -> String {
        hex(hmac::sign(&self.visitor_key, format!("csrf\n{id}\n{nonce}").as_bytes()).as_ref())
    }
}

/// Forget links expired long ago.
fn purge(links: &mut HashMap<String, Record>, now: u64) {
    links.retain(|_, r| r.expires + KEEP_EXPIRED > now);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link<'a>(path: &'a str) -> NewLink<'a> {
        NewLink {
            upstream: "127.0.0.1:21",
            user: "alice",
            owner_password: "secret",
            path,
            dir: true,
            kind: ShareKind::Download,
            lifetime: Duration::from_secs(3600),
            password: None,
            max_downloads: None,
        }
    }

    #[test]
    fn tokens_are_long_random_and_only_their_hash_is_stored() {
        let dir = tempfile_dir();
        let file = dir.join("shares.json");
        let shares = Shares::new(Some(file.clone()), Duration::from_secs(86400));
        let (a, record) = shares.create(&link("/docs")).unwrap();
        let (b, _) = shares.create(&link("/docs")).unwrap();
        assert!(well_formed(&a) && well_formed(&b) && a != b, "{a} {b}");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains(&a) && !text.contains("secret"), "{text}");
        let opened = shares.open(&a).unwrap();
        assert_eq!((opened.owner_password.as_str(), opened.record.id.as_str()), ("secret", record.id.as_str()));
        // Survives a restart.
        let again = Shares::new(Some(file.clone()), Duration::from_secs(86400));
        assert_eq!(again.open(&a).unwrap().record.path, "/docs");
        assert!(matches!(again.open(&"0".repeat(64)), Err(WebError::NotFound(_))));
        // Revoked: 404; the file no longer has it.
        assert!(again.revoke("127.0.0.1:21", "alice", &record.id).unwrap());
        assert!(matches!(again.open(&a), Err(WebError::NotFound(_))));
        assert!(!std::fs::read_to_string(&file).unwrap().contains(&record.id));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn an_edited_record_opens_nothing() {
        let dir = tempfile_dir();
        let file = dir.join("shares.json");
        let shares = Shares::new(Some(file.clone()), Duration::from_secs(86400));
        let (token, _) = shares.create(&link("/docs/public")).unwrap();
        let text = std::fs::read_to_string(&file).unwrap().replace("/docs/public", "/docs");
        std::fs::write(&file, text).unwrap();
        let edited = Shares::new(Some(file), Duration::from_secs(86400));
        assert!(matches!(edited.open(&token), Err(WebError::Gone(_))), "widened path must not open");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn visitor_cookies_are_checked() {
        let shares = Shares::new(None, Duration::from_secs(60));
        let cookie = shares.visitor_cookie("abc", None, 5).unwrap();
        let (nonce, until) = shares.visitor("abc", &cookie).unwrap();
        assert_eq!(until, 5);
        assert!(shares.visitor("other", &cookie).is_none());
        let forged = cookie.replacen(".5.", ".9999999999.", 1);
        assert!(shares.visitor("abc", &forged).is_none());
        assert_ne!(shares.visitor_csrf("abc", &nonce), shares.visitor_csrf("abd", &nonce));
    }

    #[test]
    fn a_link_that_cannot_be_saved_is_not_made() {
        let shares = Shares::new(Some(PathBuf::from("/nonexistent-oxftp-dir/shares.json")), Duration::from_secs(3600));
        assert!(matches!(shares.create(&link("/docs")), Err(WebError::Unavailable(_))));
        assert!(shares.list("127.0.0.1:21", "alice").is_empty());
    }

    #[test]
    fn visitor_requests_are_capped() {
        let shares = Shares::new(None, Duration::from_secs(60));
        let held: Vec<_> = (0..MAX_VISITOR_REQUESTS).map(|_| shares.slot().unwrap()).collect();
        assert!(matches!(shares.slot(), Err(WebError::TooManyRequests { .. })));
        drop(held);
        assert!(shares.slot().is_ok());
    }

    fn tempfile_dir() -> PathBuf {
        let suffix: [u8; 8] = random().unwrap();
        let d = std::env::temp_dir().join(format!("oxftp-shares-{}", hex(&suffix)));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
