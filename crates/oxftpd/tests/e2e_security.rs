//! Security end-to-end tests: FTP bounce, foreign data connections, guest
//! confinement, anonymous and read-only restrictions. The byte-level cases
//! live in `tests/py/test_security.py`; here real clients try the same
//! escapes, and configuration switches are checked to take effect.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Daemon, DaemonConfig, Outcome, PASSWORD, read, require_tool, run, run_unittest, write};

const TIMEOUT: Duration = Duration::from_secs(60);
const SECRET: &[u8] = b"ALICE SECRET";

fn curl(d: &Daemon, args: &[&str]) -> Outcome {
    require_tool("curl");
    let mut cmd = Command::new("curl");
    cmd.args(["-q", "-sS", "-v", "--max-time", "30", "--connect-timeout", "10"]).args(args).env("HOME", d.dir());
    run(&mut cmd, TIMEOUT)
}

#[test]
fn protocol_level_security() {
    let d = Daemon::start();
    run_unittest(&d, "test_security", &[]);
}

#[test]
fn curl_active_mode_to_a_third_party_address_is_refused() {
    let d = Daemon::start();
    write(d.disk("alice/f.bin"), b"data");
    let user = format!("alice:{PASSWORD}");
    for extra in [&[][..], &["--disable-eprt"][..]] {
        let local = d.scratch("bounce").join("f.bin");
        let mut args = vec!["-u", &user, "--ftp-port", "127.0.0.2", "-o", local.to_str().unwrap()];
        args.extend_from_slice(extra);
        let url = d.url("/f.bin");
        args.push(&url);
        let out = curl(&d, &args);
        assert!(!out.success(), "active mode to 127.0.0.2 was accepted\n{}", out.dump());
        let refused = out.stderr_str().lines().any(|l| l.starts_with("< 5") && !l.starts_with("< 530"));
        assert!(refused, "expected a 5xx reply to PORT/EPRT\n{}", out.dump());
        assert!(!local.exists() || read(&local).is_empty(), "data reached the third-party address");
    }
}

#[test]
fn active_mode_can_be_disabled() {
    let d = Daemon::start_with(DaemonConfig { active: false, ..DaemonConfig::default() });
    write(d.disk("alice/f.bin"), b"data");
    let user = format!("alice:{PASSWORD}");
    let url = d.url("/f.bin");
    let out = curl(&d, &["-u", &user, "--ftp-port", "127.0.0.1", &url]);
    assert!(!out.success(), "active mode worked although disabled\n{}", out.dump());
    // Passive still works.
    let out = curl(&d, &["-u", &user, &url]);
    out.assert_success("passive download with active mode disabled");
    assert_eq!(out.stdout, b"data");
}

#[test]
fn anonymous_can_be_disabled() {
    let d = Daemon::start_with(DaemonConfig { anonymous: false, ..DaemonConfig::default() });
    write(d.disk("pub/readme.txt"), b"public");
    let out = curl(&d, &[&d.url("/readme.txt")]);
    assert_eq!(out.code(), Some(67), "anonymous login must fail when disabled\n{}", out.dump());
}

#[test]
fn curl_guest_cannot_escape_with_encoded_dot_dot() {
    let d = Daemon::start();
    write(d.disk("alice/secret.txt"), SECRET);
    write(d.disk("guest/own.txt"), b"guest file");
    let user = format!("gina:{PASSWORD}");
    // curl decodes %2e%2e to `..` and walks there with CWD, or sends it as one path.
    for path in ["/%2e%2e/alice/secret.txt", "/..%2Falice%2Fsecret.txt", "/%2E%2E%2F%2E%2E%2Falice/secret.txt"] {
        let url = d.url(path);
        for method in ["multicwd", "singlecwd", "nocwd"] {
            let out = curl(&d, &["-u", &user, "--ftp-method", method, &url]);
            assert!(!out.success(), "{path} ({method}) succeeded\n{}", out.dump());
            assert!(!out.stdout.windows(SECRET.len()).any(|w| w == SECRET), "{path} ({method}) leaked the secret");
        }
    }
    // The guest's own file is reachable.
    let out = curl(&d, &["-u", &user, &d.url("/own.txt")]);
    out.assert_success("guest download");
    assert_eq!(out.stdout, b"guest file");
}

#[test]
fn lftp_guest_mirror_sees_only_the_guest_home() {
    require_tool("lftp");
    let d = Daemon::start();
    write(d.disk("alice/secret.txt"), SECRET);
    write(d.disk("guest/own.txt"), b"guest file");
    write(d.disk("guest/sub/inner.txt"), b"inner");
    std::os::unix::fs::symlink("../alice", d.disk("guest/link")).unwrap();
    std::os::unix::fs::symlink(d.disk("alice"), d.disk("guest/abslink")).unwrap();
    std::os::unix::fs::symlink("/", d.disk("guest/rootlink")).unwrap();
    let local = d.scratch("guest-mirror");
    let home = d.scratch("lftp-home");
    let script = format!(
        "set net:max-retries 1; set net:timeout 10; set ftp:ssl-allow no; \
         open -u gina,{PASSWORD} ftp://127.0.0.1:{}; mirror / copy; mirror .. up; cd ..; mirror . root",
        d.port()
    );
    let mut cmd = Command::new("lftp");
    cmd.arg("-c")
        .arg(script)
        .current_dir(&local)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", &home)
        .env("XDG_DATA_HOME", &home);
    let out = run(&mut cmd, TIMEOUT);
    assert!(!out.timed_out, "lftp hung\n{}", out.dump());
    assert_eq!(read(local.join("copy/own.txt")), b"guest file", "mirror of the guest home\n{}", out.dump());
    assert_eq!(read(local.join("copy/sub/inner.txt")), b"inner");
    assert_no_secret(&local);
}

/// Walks a local tree and fails if any file holds the secret.
fn assert_no_secret(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            assert_no_secret(&path);
        } else if kind.is_file() {
            let data = read(&path);
            assert!(!data.windows(SECRET.len()).any(|w| w == SECRET), "{} holds alice's secret", path.display());
            assert_ne!(path.file_name().unwrap(), "secret.txt", "alice's file name leaked: {}", path.display());
        }
    }
}

#[test]
fn curl_anonymous_uploads_only_new_files_into_incoming() {
    let d = Daemon::start();
    let local = d.scratch("anon").join("up.txt");
    write(&local, b"anonymous upload");
    let file = local.to_str().unwrap();

    let out = curl(&d, &["-T", file, &d.url("/incoming/up.txt")]);
    out.assert_success("anonymous upload into incoming");
    assert_eq!(read(d.disk("pub/incoming/up.txt")), b"anonymous upload");

    // Overwriting is refused and the first upload stays.
    write(&local, b"replacement");
    let out = curl(&d, &["-T", file, &d.url("/incoming/up.txt")]);
    assert!(!out.success(), "anonymous overwrite succeeded\n{}", out.dump());
    assert_eq!(read(d.disk("pub/incoming/up.txt")), b"anonymous upload");

    // Outside incoming nothing can be written.
    let out = curl(&d, &["-T", file, &d.url("/up.txt")]);
    assert!(!out.success(), "anonymous upload outside incoming succeeded\n{}", out.dump());
    assert!(!d.disk("pub/up.txt").exists());

    // Downloading from incoming is refused.
    let out = curl(&d, &[&d.url("/incoming/up.txt")]);
    assert!(!out.success(), "anonymous download from incoming succeeded\n{}", out.dump());
    assert!(out.stdout.is_empty());
}
