//! End-to-end tests of `storage.backend = "opendal"` with S3: oxftpd in
//! front of a moto server, driven by lftp and curl, objects checked with
//! boto3. Skipped (with a message) when moto is not installed, unless
//! `OXFTP_REQUIRE_S3=1`.

mod common;
#[path = "../../oxftp-opendal/tests/common/mod.rs"]
mod moto;

use std::process::Command;
use std::time::Duration;

use common::{
    Daemon, DaemonConfig, Outcome, PASSWORD, assert_same_tree, pattern_bytes, read, require_tool, run, write,
};
use moto::Moto;

const TIMEOUT: Duration = Duration::from_secs(120);

/// The `[storage]` body for `bucket` on `moto`, keys under `srv/`.
fn storage(moto: &Moto, bucket: &str, extra: &str) -> String {
    format!(
        "backend = \"opendal\"\nscheme = \"s3\"\nchunk_size = 5242880\nrename_dir_limit = 100\n{extra}\n\
         [storage.s3]\nbucket = \"{bucket}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
         access_key_id = \"testing\"\nsecret_access_key = \"testing\"\nroot = \"/srv\"\n",
        moto.endpoint
    )
}

fn curl(d: &Daemon, args: &[&str]) -> Outcome {
    require_tool("curl");
    let mut cmd = Command::new("curl");
    cmd.args(["-q", "-sS", "--max-time", "100", "--connect-timeout", "10"]).args(args).env("HOME", d.dir());
    run(&mut cmd, TIMEOUT)
}

fn lftp(d: &Daemon, commands: &str) -> Outcome {
    require_tool("lftp");
    let script = format!("set cmd:fail-exit yes; open -u alice,{PASSWORD} 127.0.0.1:{}; {commands}; bye", d.port());
    run(Command::new("lftp").args(["-c", &script]).env("HOME", d.dir()), TIMEOUT)
}

#[test]
fn files_and_directories_round_trip_through_s3() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("ftp");
    let d = Daemon::start_with(DaemonConfig { storage: Some(storage(&moto, "ftp", "")), ..DaemonConfig::default() });
    let keys = moto.keys("ftp");
    assert!(keys.contains(&"srv/pub/incoming/".to_string()), "anonymous directories made at start-up: {keys:?}");

    // lftp mirror up and back down.
    let up = d.scratch("up");
    write(up.join("a.txt"), b"alpha");
    write(up.join("docs/b.bin"), pattern_bytes(300_000, 1));
    write(up.join("docs/deep/c.txt"), b"gamma");
    lftp(&d, &format!("mirror -R {} /tree", up.display())).assert_success("lftp mirror -R");
    let keys = moto.keys("ftp");
    for key in ["srv/alice/tree/a.txt", "srv/alice/tree/docs/b.bin", "srv/alice/tree/docs/deep/c.txt"] {
        assert!(keys.contains(&key.to_string()), "{key} missing from {keys:?}");
    }
    let down = d.scratch("down");
    lftp(&d, &format!("mirror /tree {}", down.join("tree").display())).assert_success("lftp mirror");
    assert_same_tree(&up, &down.join("tree"));

    // Rename a file, then a directory.
    let user = format!("alice:{PASSWORD}");
    curl(&d, &["-u", &user, "-Q", "-RNFR /tree/a.txt", "-Q", "-RNTO /tree/renamed.txt", &d.url("/")])
        .assert_success("rename a file");
    curl(&d, &["-u", &user, "-Q", "-RNFR /tree/docs", "-Q", "-RNTO /tree/papers", &d.url("/")])
        .assert_success("rename a directory");
    let keys = moto.keys("ftp");
    assert!(keys.contains(&"srv/alice/tree/renamed.txt".to_string()), "{keys:?}");
    assert!(keys.contains(&"srv/alice/tree/papers/deep/c.txt".to_string()), "{keys:?}");
    assert!(!keys.iter().any(|k| k.starts_with("srv/alice/tree/docs") || k.ends_with("/a.txt")), "{keys:?}");

    // Resume a download with curl -C -.
    let part = d.scratch("resume").join("b.bin");
    let whole = pattern_bytes(300_000, 1);
    write(&part, &whole[..100_000]);
    curl(&d, &["-u", &user, "-C", "-", "-o", part.to_str().unwrap(), &d.url("/tree/papers/b.bin")])
        .assert_success("resumed download");
    assert_eq!(read(&part), whole);

    // A 20 MiB upload: several multipart parts.
    let big = d.scratch("big").join("big.bin");
    let data = pattern_bytes(20 * 1024 * 1024, 7);
    write(&big, &data);
    curl(&d, &["-u", &user, "-T", big.to_str().unwrap(), &d.url("/big.bin")]).assert_success("20 MiB upload");
    let size = moto.python("print(s3.head_object(Bucket='ftp', Key='srv/alice/big.bin')['ContentLength'])");
    assert_eq!(size.trim(), (20 * 1024 * 1024).to_string());
    assert!(moto.open_uploads("ftp").is_empty(), "no multipart upload left open");
    let back = d.scratch("back").join("big.bin");
    curl(&d, &["-u", &user, "-o", back.to_str().unwrap(), &d.url("/big.bin")]).assert_success("20 MiB download");
    assert!(read(&back) == data, "the 20 MiB file came back different");
}

#[test]
fn check_config_reports_an_unreachable_bucket() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("there");
    let dir = tempfile::tempdir().unwrap();
    let check = |body: String| {
        let path = dir.path().join("oxftpd.toml");
        std::fs::write(&path, format!("[storage]\n{body}")).unwrap();
        run(Command::new(common::daemon::oxftpd_bin()).arg("check-config").arg(&path), TIMEOUT)
    };
    let fast = "retries = 0\ntimeout_secs = 5";
    check(storage(&moto, "there", fast)).assert_success("check-config of a reachable bucket");
    let out = check(storage(&moto, "missing", fast));
    assert!(!out.success(), "a missing bucket must fail check-config");
    assert!(out.stderr_str().contains("bucket does not exist"), "{}", out.dump());
    // Nothing listening on the endpoint.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let body = storage(&moto, "there", fast).replace(&moto.endpoint, &format!("http://127.0.0.1:{closed}"));
    let out = check(body);
    assert!(!out.success(), "an unreachable endpoint must fail check-config");
    assert!(out.stderr_str().contains("storage"), "{}", out.dump());
}
