//! Configuration: which OpenDAL service, how to reach it, and the knobs of
//! this backend. The shapes deserialize from TOML (the daemon embeds them in
//! its config file):
//!
//! ```toml
//! [storage]
//! scheme = "s3"
//! chunk_size = 8388608          # multipart part size in bytes (S3: >= 5 MiB)
//! upload_concurrency = 2        # parts of one upload in flight
//! rename_dir_limit = 1000       # allow RNFR/RNTO of directories up to 1000 objects
//!
//! [storage.s3]
//! bucket = "ftp-data"
//! endpoint = "http://127.0.0.1:9000"
//! region = "us-east-1"
//! access_key_id = "..."          # or AWS_ACCESS_KEY_ID & co. in the environment
//! secret_access_key = "..."
//! root = "/ftp"                  # key prefix everything lives under
//! checksum = "crc32c"            # or "none" for stores that refuse checksum headers
//!
//! [storage.options]              # any other option of the OpenDAL service
//! server_side_encryption = "AES256"
//! ```
//!
//! Other services: `scheme = "gcs" | "azblob" | "fs" | "memory"` and their
//! OpenDAL options in `[storage.options]` (`bucket`, `credential_path`, `root`
//! for GCS; `container`, `account_name`, `account_key`, `endpoint` for Azure
//! Blob; `root` for fs).
//!
//! # Memory and speed of uploads
//!
//! Each upload in progress holds about
//!
//! ```text
//! (upload_concurrency + 2) * chunk_size + 2 MiB
//! ```
//!
//! (see [`crate::write`] for the parts of that sum): 34 MiB with the
//! defaults (8 MiB parts, 2 in flight), so a daemon with N simultaneous
//! uploads to S3 needs N times that on top of its own ~16 MiB. More parts in
//! flight help when one connection to the store is slow (high latency,
//! per-connection limits); smaller parts save memory but cap the object
//! size, as S3 allows at most 10,000 parts: 8 MiB parts allow files up to
//! 78 GiB, 5 MiB parts 48 GiB. Measured through oxftpd on a 2-core machine
//! against moto, the defaults upload 1 GiB at 1.0 to 1.15 times the speed of
//! boto3's transfer manager (what `aws s3 cp` uses: 8 MiB parts, 10 threads)
//! with a daemon peak RSS of about 52 MiB; 5 MiB parts with 3 in flight
//! peaked at about 45 MiB at the same speed.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// Default multipart part size: 8 MiB (S3's minimum is 5 MiB). Allows files
/// up to 78 GiB on S3 (10,000 parts) for 34 MiB per upload with the default
/// concurrency.
pub const DEFAULT_CHUNK_SIZE: usize = 8 * 1024 * 1024;
/// S3 refuses multipart parts below 5 MiB (except the last one).
pub const S3_MIN_CHUNK_SIZE: usize = 5 * 1024 * 1024;
/// Default number of parts uploaded at once per upload. Two already keep the
/// store busy while the next part arrives (measured: more did not upload a
/// 1 GiB file faster to moto, and each one costs another `chunk_size`).
pub const DEFAULT_UPLOAD_CONCURRENCY: usize = 2;
/// Default listing page size (S3's own maximum per request).
pub const DEFAULT_LIST_PAGE_SIZE: usize = 1000;
/// Default deadline of a metadata operation (stat, delete, copy), seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Default deadline of one I/O step (a read chunk, a part upload, a list page), seconds.
pub const DEFAULT_IO_TIMEOUT_SECS: u64 = 60;
/// Default number of retries of a transient failure.
pub const DEFAULT_RETRIES: usize = 3;

/// The backend configuration: an OpenDAL service plus this backend's own knobs.
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OpendalConfig {
    /// The OpenDAL service: `s3`, `gcs`, `azblob`, `fs`, `memory` (those
    /// compiled in; see the crate features).
    pub scheme: String,
    /// Options passed to the service as OpenDAL names them. For `s3` they
    /// are merged under the typed `[s3]` table, which wins on conflicts.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// S3 settings (required when `scheme = "s3"`).
    #[serde(default)]
    pub s3: Option<S3Config>,
    /// Multipart part size in bytes. Default 8 MiB; at least 5 MiB on S3,
    /// where it also caps the file size at 10,000 parts. Memory per upload:
    /// see the module documentation.
    #[serde(default)]
    pub chunk_size: Option<usize>,
    /// Parts of one upload sent at once (default 2). Memory per upload is
    /// about `(upload_concurrency + 2) * chunk_size + 2 MiB`.
    #[serde(default)]
    pub upload_concurrency: Option<usize>,
    /// Allow renaming a directory (copy every object under it, then delete
    /// the originals) when it holds at most this many objects. Unset: RNFR/RNTO
    /// of directories is refused. Not atomic: see `OpendalStorage::rename`.
    #[serde(default)]
    pub rename_dir_limit: Option<u64>,
    /// With `rename_dir_limit`: also refuse when the directory holds more
    /// than this many bytes in total.
    #[serde(default)]
    pub rename_dir_max_bytes: Option<u64>,
    /// APPE and REST+STOR. Unset: on where the service can append (fs,
    /// azblob append blobs, ...), off on S3, whose OpenDAL append only works on
    /// S3 Express One Zone directory buckets. `true` forces it on (S3 Express),
    /// `false` off. On Azure Blob only append blobs (those APPE created) can
    /// grow; APPE to a file STOR made fails with 451 and leaves it as it was.
    #[serde(default)]
    pub append: Option<bool>,
    /// Entries per listing page (default 1000).
    #[serde(default)]
    pub list_page_size: Option<usize>,
    /// Deadline of a metadata operation in seconds (default 30).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Deadline of one I/O step in seconds (default 60).
    #[serde(default)]
    pub io_timeout_secs: Option<u64>,
    /// Retries of a transient failure, with exponential backoff (default 3; 0 disables).
    #[serde(default)]
    pub retries: Option<usize>,
}

impl fmt::Debug for OpendalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Option values may be secrets (account keys): show only their names.
        f.debug_struct("OpendalConfig")
            .field("scheme", &self.scheme)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .field("s3", &self.s3)
            .field("chunk_size", &self.chunk_size)
            .field("upload_concurrency", &self.upload_concurrency)
            .field("rename_dir_limit", &self.rename_dir_limit)
            .field("rename_dir_max_bytes", &self.rename_dir_max_bytes)
            .field("append", &self.append)
            .field("list_page_size", &self.list_page_size)
            .field("timeout_secs", &self.timeout_secs)
            .field("io_timeout_secs", &self.io_timeout_secs)
            .field("retries", &self.retries)
            .finish()
    }
}

/// S3 (or any S3-compatible store: MinIO, Ceph, R2, moto).
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// The bucket (must exist; OpenDAL does not create buckets).
    pub bucket: String,
    /// Endpoint URL, e.g. `http://127.0.0.1:9000`; AWS when unset.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region; else `AWS_REGION`/`AWS_DEFAULT_REGION`; else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Access key; when unset the usual AWS chain applies (environment
    /// variables, profile files, web identity, instance metadata).
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret key, with `access_key_id`.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Session token for temporary credentials.
    #[serde(default)]
    pub session_token: Option<String>,
    /// `bucket.host/key` requests instead of the default path style `host/bucket/key`.
    #[serde(default)]
    pub virtual_host_style: bool,
    /// Key prefix everything is stored under (`/ftp` stores `/a.txt` as `ftp/a.txt`).
    #[serde(default)]
    pub root: Option<String>,
    /// Send unsigned requests (public buckets).
    #[serde(default)]
    pub anonymous: bool,
    /// Checksum sent with every part and small object, which the store
    /// verifies before accepting the bytes. Default [`S3Checksum::Crc32c`].
    #[serde(default)]
    pub checksum: Option<S3Checksum>,
}

/// The integrity checksum of S3 uploads (`[storage.s3] checksum`).
///
/// With `crc32c` (the default) each UploadPart and PutObject carries an
/// `x-amz-checksum-crc32c` header and the multipart upload is created with
/// that algorithm, so the store rejects a part damaged on the way and the
/// object keeps a checksum a client can verify later. The AWS SDKs and
/// `aws s3 cp` send a CRC by default too. The CRC is hardware accelerated:
/// it made no measurable difference to oxftpd's CPU time per GiB uploaded.
///
/// It also matters for speed on some stores: moto (the S3 server of our
/// tests and bench), when an upload declared no algorithm, computes a
/// full-object CRC at CompleteMultipartUpload over a fresh copy of the
/// whole file, which doubled the completion time of a 1 GiB upload.
///
/// `none` sends no checksum headers, for S3-compatible stores that refuse
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum S3Checksum {
    /// CRC32C on every part and object (the default).
    Crc32c,
    /// No checksum headers.
    None,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &secret(&self.secret_access_key))
            .field("session_token", &secret(&self.session_token))
            .field("virtual_host_style", &self.virtual_host_style)
            .field("root", &self.root)
            .field("anonymous", &self.anonymous)
            .field("checksum", &self.checksum)
            .finish()
    }
}

/// A configuration that cannot give a working storage.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    /// One key has a bad or missing value.
    #[error("storage.{key}: {message}")]
    Invalid {
        /// The key, relative to the storage table (`s3.bucket`, `chunk_size`).
        key: String,
        /// What is expected.
        message: String,
    },
    /// OpenDAL refused to build the service (unknown scheme, missing option, ...).
    #[error("storage: cannot set up OpenDAL service {scheme:?}: {message}")]
    Service {
        /// The scheme asked for.
        scheme: String,
        /// OpenDAL's reason.
        message: String,
    },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.to_string(), message: message.into() }
}

/// Settings the storage reads on every operation, checked and defaulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Multipart part size.
    pub chunk_size: usize,
    /// Parts in flight per upload.
    pub upload_concurrency: usize,
    /// Directory rename limit in objects (`None`: directory rename refused).
    pub rename_dir_limit: Option<u64>,
    /// Directory rename limit in bytes.
    pub rename_dir_max_bytes: Option<u64>,
    /// Append override (`None`: decided from the service).
    pub append: Option<bool>,
    /// Entries per listing page.
    pub list_page_size: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            chunk_size: DEFAULT_CHUNK_SIZE,
            upload_concurrency: DEFAULT_UPLOAD_CONCURRENCY,
            rename_dir_limit: None,
            rename_dir_max_bytes: None,
            append: None,
            list_page_size: DEFAULT_LIST_PAGE_SIZE,
        }
    }
}

impl OpendalConfig {
    /// The checked tuning values of this configuration.
    pub fn tuning(&self) -> Result<Tuning, ConfigError> {
        let chunk_size = self.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE);
        if chunk_size == 0 {
            return Err(invalid("chunk_size", "must be more than 0 bytes"));
        }
        if self.scheme == "s3" && chunk_size < S3_MIN_CHUNK_SIZE {
            return Err(invalid("chunk_size", format!("S3 needs parts of at least {S3_MIN_CHUNK_SIZE} bytes (5 MiB)")));
        }
        let upload_concurrency = self.upload_concurrency.unwrap_or(DEFAULT_UPLOAD_CONCURRENCY);
        if !(1..=64).contains(&upload_concurrency) {
            return Err(invalid("upload_concurrency", "must be between 1 and 64"));
        }
        let list_page_size = self.list_page_size.unwrap_or(DEFAULT_LIST_PAGE_SIZE);
        if !(1..=10_000).contains(&list_page_size) {
            return Err(invalid("list_page_size", "must be between 1 and 10000"));
        }
        if self.rename_dir_max_bytes.is_some() && self.rename_dir_limit.is_none() {
            return Err(invalid("rename_dir_max_bytes", "only means something with rename_dir_limit set"));
        }
        Ok(Tuning {
            chunk_size,
            upload_concurrency,
            rename_dir_limit: self.rename_dir_limit,
            rename_dir_max_bytes: self.rename_dir_max_bytes,
            append: self.append,
            list_page_size,
        })
    }

    /// The per-request deadlines: (metadata operations, one I/O step).
    pub fn timeouts(&self) -> Result<(Duration, Duration), ConfigError> {
        let timeout = self.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        let io = self.io_timeout_secs.unwrap_or(DEFAULT_IO_TIMEOUT_SECS);
        if timeout == 0 {
            return Err(invalid("timeout_secs", "must be at least 1 second"));
        }
        if io == 0 {
            return Err(invalid("io_timeout_secs", "must be at least 1 second"));
        }
        Ok((Duration::from_secs(timeout), Duration::from_secs(io)))
    }

    /// The service options OpenDAL gets: `options`, plus the typed `[s3]` table for S3.
    pub fn service_options(&self) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut opts = self.options.clone();
        if self.scheme != "s3" {
            if self.s3.is_some() {
                return Err(invalid("s3", format!("an [s3] table needs scheme = \"s3\", not {:?}", self.scheme)));
            }
            return Ok(opts);
        }
        let s3 = self.s3.as_ref().ok_or_else(|| invalid("s3", "scheme = \"s3\" needs an [s3] table with a bucket"))?;
        if s3.bucket.trim().is_empty() {
            return Err(invalid("s3.bucket", "must name an existing bucket"));
        }
        opts.insert("bucket".into(), s3.bucket.clone());
        if let Some(endpoint) = &s3.endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(invalid("s3.endpoint", "must be a URL starting with http:// or https://"));
            }
            opts.insert("endpoint".into(), endpoint.clone());
        }
        let region = s3
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| "us-east-1".to_string());
        opts.insert("region".into(), region);
        match (&s3.access_key_id, &s3.secret_access_key) {
            (Some(id), Some(secret)) => {
                opts.insert("access_key_id".into(), id.clone());
                opts.insert("secret_access_key".into(), secret.clone());
                if let Some(token) = &s3.session_token {
                    opts.insert("session_token".into(), token.clone());
                }
                // Explicit keys: no surprise credentials from files or the metadata service.
                opts.insert("disable_config_load".into(), "true".into());
                opts.insert("disable_ec2_metadata".into(), "true".into());
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(invalid("s3.secret_access_key", "missing (access_key_id is set)"));
            }
            (None, Some(_)) => {
                return Err(invalid("s3.access_key_id", "missing (secret_access_key is set)"));
            }
        }
        if s3.virtual_host_style {
            opts.insert("enable_virtual_host_style".into(), "true".into());
        }
        if s3.anonymous {
            opts.insert("skip_signature".into(), "true".into());
        }
        if let Some(root) = &s3.root {
            opts.insert("root".into(), root.clone());
        }
        match s3.checksum {
            Some(S3Checksum::Crc32c) => {
                opts.insert("checksum_algorithm".into(), "crc32c".into());
            }
            Some(S3Checksum::None) => {
                opts.remove("checksum_algorithm");
            }
            // Unset: an explicit [options] checksum_algorithm stands, else the default.
            None => {
                opts.entry("checksum_algorithm".into()).or_insert_with(|| "crc32c".into());
            }
        }
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> OpendalConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn s3_table_becomes_service_options() {
        let cfg = parse(
            r#"
            scheme = "s3"
            chunk_size = 6291456
            rename_dir_limit = 50
            [s3]
            bucket = "b"
            endpoint = "http://127.0.0.1:9000"
            region = "eu-west-1"
            access_key_id = "AK"
            secret_access_key = "SK"
            virtual_host_style = true
            root = "/ftp"
            [options]
            server_side_encryption = "AES256"
            bucket = "overridden"
            "#,
        );
        let opts = cfg.service_options().unwrap();
        assert_eq!(opts["bucket"], "b");
        assert_eq!(opts["region"], "eu-west-1");
        assert_eq!(opts["endpoint"], "http://127.0.0.1:9000");
        assert_eq!(opts["access_key_id"], "AK");
        assert_eq!(opts["disable_config_load"], "true");
        assert_eq!(opts["enable_virtual_host_style"], "true");
        assert_eq!(opts["root"], "/ftp");
        assert_eq!(opts["server_side_encryption"], "AES256");
        let t = cfg.tuning().unwrap();
        assert_eq!(t.chunk_size, 6_291_456);
        assert_eq!(t.rename_dir_limit, Some(50));
        assert_eq!(t.list_page_size, DEFAULT_LIST_PAGE_SIZE);
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let cfg = parse(
            r#"
            scheme = "s3"
            [s3]
            bucket = "b"
            access_key_id = "AK"
            secret_access_key = "TOPSECRET"
            [options]
            account_key = "ALSOSECRET"
            "#,
        );
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("TOPSECRET"));
        assert!(!shown.contains("ALSOSECRET"));
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = |text: &str| {
            let cfg = parse(text);
            match cfg.service_options().and(cfg.tuning().map(|_| ())) {
                Err(ConfigError::Invalid { key, .. }) => key,
                other => panic!("expected an invalid key, got {other:?}"),
            }
        };
        assert_eq!(err("scheme = \"s3\""), "s3");
        assert_eq!(err("scheme = \"s3\"\n[s3]\nbucket = \"\""), "s3.bucket");
        assert_eq!(err("scheme = \"s3\"\n[s3]\nbucket = \"b\"\naccess_key_id = \"x\""), "s3.secret_access_key");
        assert_eq!(err("scheme = \"s3\"\n[s3]\nbucket = \"b\"\nendpoint = \"localhost:9000\""), "s3.endpoint");
        assert_eq!(err("scheme = \"s3\"\nchunk_size = 1024\n[s3]\nbucket = \"b\""), "chunk_size");
        assert_eq!(err("scheme = \"memory\"\nupload_concurrency = 0"), "upload_concurrency");
        assert_eq!(err("scheme = \"memory\"\n[s3]\nbucket = \"b\""), "s3");
        assert_eq!(err("scheme = \"memory\"\nrename_dir_max_bytes = 5"), "rename_dir_max_bytes");
        assert!(toml::from_str::<OpendalConfig>("scheme = \"s3\"\nbogus = 1").is_err());
    }

    #[test]
    fn s3_uploads_carry_a_crc32c_unless_turned_off() {
        let base = "scheme = \"s3\"\n[s3]\nbucket = \"b\"\n";
        let opts = parse(base).service_options().unwrap();
        assert_eq!(opts["checksum_algorithm"], "crc32c", "on by default");
        let opts = parse(&format!("{base}checksum = \"none\"\n")).service_options().unwrap();
        assert!(!opts.contains_key("checksum_algorithm"));
        let opts = parse(&format!("{base}checksum = \"crc32c\"\n")).service_options().unwrap();
        assert_eq!(opts["checksum_algorithm"], "crc32c");
        // An explicit OpenDAL option stands when the typed key is unset, and loses to it.
        let opts = parse(&format!("{base}[options]\nchecksum_algorithm = \"md5\"\n")).service_options().unwrap();
        assert_eq!(opts["checksum_algorithm"], "md5");
        let opts = parse(&format!("{base}checksum = \"none\"\n[options]\nchecksum_algorithm = \"md5\"\n"))
            .service_options()
            .unwrap();
        assert!(!opts.contains_key("checksum_algorithm"));
        assert!(toml::from_str::<OpendalConfig>(&format!("{base}checksum = \"sha1\"\n")).is_err());
        // Not an S3 thing: other services get no such option.
        assert!(!parse("scheme = \"memory\"").service_options().unwrap().contains_key("checksum_algorithm"));
    }

    #[test]
    fn small_chunks_are_fine_off_s3() {
        let cfg = parse("scheme = \"memory\"\nchunk_size = 1024");
        assert_eq!(cfg.tuning().unwrap().chunk_size, 1024);
        let (t, io) = cfg.timeouts().unwrap();
        assert_eq!(t, Duration::from_secs(DEFAULT_TIMEOUT_SECS));
        assert_eq!(io, Duration::from_secs(DEFAULT_IO_TIMEOUT_SECS));
        assert!(parse("scheme = \"memory\"\ntimeout_secs = 0").timeouts().is_err());
    }
}
