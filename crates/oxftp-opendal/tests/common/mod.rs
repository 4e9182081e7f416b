//! A real S3-compatible server for the tests: moto, started on a free
//! loopback port per test and killed when the test ends.
//!
//! Skips (with a message) when python3 cannot import moto and boto3, unless
//! `OXFTP_REQUIRE_S3=1`, which makes a missing moto a failure.

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oxftp_opendal::{OpendalConfig, OpendalStorage, S3Config};

/// A running moto server.
pub struct Moto {
    child: Option<Child>,
    pub port: u16,
    pub endpoint: String,
    auth: bool,
}

fn moto_available() -> bool {
    Command::new("python3")
        .args(["-c", "import moto.server, boto3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl Moto {
    /// Start moto, or `None` (test skipped) when it is not installed.
    pub fn start() -> Option<Moto> {
        Self::start_with(false)
    }

    /// Start moto with IAM authentication on, so unknown keys are refused.
    pub fn start_with_auth() -> Option<Moto> {
        Self::start_with(true)
    }

    fn start_with(auth: bool) -> Option<Moto> {
        if !moto_available() {
            if std::env::var("OXFTP_REQUIRE_S3").as_deref() == Ok("1") {
                panic!("OXFTP_REQUIRE_S3=1 but python3 cannot import moto and boto3 (scripts/moto installs them)");
            }
            eprintln!("SKIPPED: moto is not installed (python3 -m pip install 'moto[server]' boto3)");
            return None;
        }
        let port =
            TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
        let mut moto = Moto { child: None, port, endpoint: format!("http://127.0.0.1:{port}"), auth };
        moto.spawn();
        Some(moto)
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.auth {
            // moto turns authentication on after this many unauthenticated calls.
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
        }
        self.child = Some(cmd.spawn().expect("start moto"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on {}", self.port);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stop the server (its data is gone: moto keeps everything in memory).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Run python with `s3` bound to a boto3 client of this server; returns stdout.
    pub fn python(&self, code: &str) -> String {
        let prelude = format!(
            "import boto3, json, sys\n\
             s3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='testing', \
             aws_secret_access_key='testing', region_name='us-east-1')\n",
            self.endpoint
        );
        let out = Command::new("python3").arg("-c").arg(format!("{prelude}{code}")).output().expect("run python3");
        assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.python(&format!("s3.create_bucket(Bucket='{bucket}')"));
    }

    /// Every key in the bucket (all pages).
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let out = self.python(&format!(
            "keys = []\n\
             for page in s3.get_paginator('list_objects_v2').paginate(Bucket='{bucket}'):\n    \
                 keys += [o['Key'] for o in page.get('Contents', [])]\n\
             print(json.dumps(keys))"
        ));
        parse_json_strings(&out)
    }

    /// Keys of multipart uploads started and neither completed nor aborted.
    pub fn open_uploads(&self, bucket: &str) -> Vec<String> {
        let out = self.python(&format!(
            "r = s3.list_multipart_uploads(Bucket='{bucket}')\n\
             print(json.dumps([u['Key'] for u in r.get('Uploads', [])]))"
        ));
        parse_json_strings(&out)
    }

    /// The typed config for `bucket` on this server.
    pub fn config(&self, bucket: &str) -> OpendalConfig {
        OpendalConfig {
            scheme: "s3".into(),
            s3: Some(S3Config {
                bucket: bucket.into(),
                endpoint: Some(self.endpoint.clone()),
                region: Some("us-east-1".into()),
                access_key_id: Some("testing".into()),
                secret_access_key: Some("testing".into()),
                ..S3Config::default()
            }),
            ..OpendalConfig::default()
        }
    }

    /// A storage over `bucket` on this server.
    pub fn storage(&self, bucket: &str, tweak: impl FnOnce(&mut OpendalConfig)) -> OpendalStorage {
        let mut cfg = self.config(bucket);
        tweak(&mut cfg);
        OpendalStorage::from_config(&cfg).expect("storage from config")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A JSON list of plain strings, as printed by `json.dumps` (no escapes in our keys).
fn parse_json_strings(text: &str) -> Vec<String> {
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    inner.split(", ").map(|s| s.trim().trim_matches('"').to_string()).filter(|s| !s.is_empty()).collect()
}
