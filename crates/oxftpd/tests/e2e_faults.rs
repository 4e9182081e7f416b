//! Faults around uploads, end to end with the real daemon: a client killed
//! mid-upload (curl, `kill -9`), the daemon itself killed mid-upload and
//! started again (its leftovers swept at start and periodically, never
//! listed), on local disk and on S3 (moto).

mod common;
#[path = "../../oxftp-opendal/tests/common/mod.rs"]
mod moto;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Control, Daemon, DaemonConfig, PASSWORD, pattern_bytes, require_tool, write};
use moto::Moto;

/// Names of the files in `dir` (hidden ones included).
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn temporaries(dir: &Path) -> Vec<String> {
    files(dir).into_iter().filter(|n| n.starts_with(".oxftp-upload.")).collect()
}

/// Polls `check` every 50 ms for up to `limit`; true once it held.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Size of the (one) temporary upload file in `dir`, if there is one.
fn temporary_size(dir: &Path) -> u64 {
    temporaries(dir).first().and_then(|n| std::fs::metadata(dir.join(n)).ok()).map_or(0, |m| m.len())
}

/// `curl -T file url` as alice, throttled to `rate` so it is still sending when killed.
fn slow_curl_upload(d: &Daemon, file: &Path, url: &str, rate: &str) -> Child {
    require_tool("curl");
    Command::new("curl")
        .args(["-q", "-sS", "--limit-rate", rate, "--max-time", "100", "-u", &format!("alice:{PASSWORD}"), "-T"])
        .arg(file)
        .arg(url)
        .env("HOME", d.dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start curl")
}

/// `kill -9 pid`.
fn kill9(pid: u32) {
    let status = Command::new("kill").args(["-9", &pid.to_string()]).status().expect("run kill");
    assert!(status.success(), "kill -9 {pid}");
}

#[test]
fn a_client_killed_mid_upload_leaves_nothing_on_local_disk() {
    let d = Daemon::start();
    let src = d.scratch("src").join("big.bin");
    write(&src, pattern_bytes(20 << 20, 3));
    let alice = d.disk("alice");
    for round in 0..3 {
        let mut curl = slow_curl_upload(&d, &src, &d.url(&format!("/killed-{round}.bin")), "2M");
        // Two seconds in (at 2 MB/s): a long upload, the kind worth saving.
        assert!(eventually(Duration::from_secs(20), || temporary_size(&alice) >= 4 << 20), "the upload never started");
        curl.kill().expect("kill -9 curl");
        curl.wait().expect("reap curl");
        assert!(eventually(Duration::from_secs(10), || temporaries(&alice).is_empty()), "{:?}", files(&alice));
        assert!(files(&alice).is_empty(), "a killed client's upload was published: {:?}", files(&alice));
    }
}

#[test]
fn a_client_killed_mid_upload_leaves_nothing_on_s3() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("ftp");
    let storage = s3_storage(&moto);
    let d = Daemon::start_with(DaemonConfig { storage: Some(storage), ..DaemonConfig::default() });
    let src = d.scratch("src").join("big.bin");
    write(&src, pattern_bytes(40 << 20, 4));
    // 20 s at 2 MB/s: still sending when the multipart upload shows up.
    let mut curl = slow_curl_upload(&d, &src, &d.url("/killed.bin"), "2M");
    // 5 MiB parts: once one is open, the upload is well under way.
    assert!(eventually(Duration::from_secs(30), || !moto.open_uploads("ftp").is_empty()), "no multipart upload began");
    curl.kill().expect("kill -9 curl");
    curl.wait().expect("reap curl");
    // The abort waits for the part upload in flight (5 MiB to moto), which on a
    // loaded 2-core CI machine has taken more than 15 s.
    assert!(
        eventually(Duration::from_secs(60), || moto.open_uploads("ftp").is_empty()),
        "the multipart upload was not aborted: {:?}",
        moto.open_uploads("ftp")
    );
    let keys = moto.keys("ftp");
    assert!(!keys.iter().any(|k| k.ends_with("killed.bin")), "published: {keys:?}");
}

/// The `[storage]` body for bucket `ftp` on `moto`, 5 MiB parts.
fn s3_storage(moto: &Moto) -> String {
    format!(
        "backend = \"opendal\"\nscheme = \"s3\"\nchunk_size = 5242880\n\
         [storage.s3]\nbucket = \"ftp\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
         access_key_id = \"testing\"\nsecret_access_key = \"testing\"\nroot = \"/srv\"\n",
        moto.endpoint
    )
}

/// A second oxftpd on a config file another one used (the first was
/// killed): what an administrator's restart is. Killed on drop.
struct Restarted {
    child: Child,
    port: u16,
}

impl Restarted {
    fn start(config: &Path, log: PathBuf) -> Restarted {
        let log = std::fs::File::create(log).expect("log file");
        let mut child = Command::new(common::daemon::oxftpd_bin())
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start oxftpd again");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let port = loop {
            let line = rx.recv_timeout(Duration::from_secs(20)).expect("oxftpd announces its listener");
            if let Some(addr) = line.strip_prefix("oxftpd listening on ") {
                break addr.parse::<std::net::SocketAddr>().expect("address").port();
            }
        };
        Restarted { child, port }
    }
}

impl Drop for Restarted {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `STOR name` as alice on a raw connection; returns the control
/// connection and the data socket.
fn start_stor(port: u16, name: &str) -> (Control, TcpStream) {
    let mut ctl = Control::connect(port, Duration::from_secs(10)).expect("connect");
    ctl.login("alice", PASSWORD);
    ctl.expect("TYPE I", 200);
    let data = ctl.epsv();
    ctl.expect(&format!("STOR {name}"), 150);
    (ctl, data)
}

#[test]
fn kill_9_of_the_daemon_mid_upload_publishes_nothing_and_the_restart_sweeps() {
    let d = Daemon::start();
    let alice = d.disk("alice");
    std::fs::create_dir_all(alice.join("sub")).unwrap();
    let (mut ctl, mut data) = start_stor(d.port(), "sub/big.bin");
    let chunk = pattern_bytes(1 << 20, 9);
    for _ in 0..3 {
        data.write_all(&chunk).unwrap();
    }
    let sub = alice.join("sub");
    assert!(eventually(Duration::from_secs(10), || temporary_size(&sub) >= 1 << 20), "nothing written yet");
    // A listing meanwhile never shows the upload in progress, even with -a.
    let mut lister = Control::connect(d.port(), Duration::from_secs(10)).unwrap();
    lister.login("alice", PASSWORD);
    lister.expect("STAT -a sub", 213).lines.iter().for_each(|l| assert!(!l.contains(".oxftp-upload."), "{l}"));

    kill9(d.pid());
    drop(data);
    assert!(ctl.reply().map(|r| r.is_none()).unwrap_or(true), "the daemon was killed");
    let left = temporaries(&sub);
    assert_eq!(left.len(), 1, "the dead upload's temporary file stays until a sweep: {:?}", files(&sub));
    assert!(!sub.join("big.bin").exists(), "published by a dead server");

    // The next start sweeps it away; uploads work again.
    let again = Restarted::start(&d.dir().join("oxftpd.toml"), d.dir().join("restart.log"));
    assert!(eventually(Duration::from_secs(10), || temporaries(&sub).is_empty()), "not swept: {:?}", files(&sub));
    assert!(files(&sub).is_empty());
    // The sweep logs after it removed the file (through the async log drain): wait for the line.
    let restart_log = || std::fs::read_to_string(d.dir().join("restart.log")).unwrap_or_default();
    let swept_line = || restart_log().contains("removed what dead uploads left");
    assert!(eventually(Duration::from_secs(10), swept_line), "{}", restart_log());
    let (mut ctl, mut data) = start_stor(again.port, "sub/big.bin");
    data.write_all(&chunk).unwrap();
    drop(data);
    assert_eq!(ctl.reply().unwrap().map(|r| r.code), Some(226));
    assert_eq!(std::fs::read(sub.join("big.bin")).unwrap(), chunk);
}

#[test]
fn the_periodic_sweep_removes_leftovers_while_the_daemon_runs() {
    let d = Daemon::start_with(DaemonConfig {
        server_extra: vec!["upload_sweep_interval = 1".into()],
        ..DaemonConfig::default()
    });
    let alice = d.disk("alice");
    // An upload in progress is left alone by every sweep ...
    let (mut ctl, mut data) = start_stor(d.port(), "slow.bin");
    data.write_all(&pattern_bytes(2 << 20, 5)).unwrap();
    assert!(eventually(Duration::from_secs(10), || temporary_size(&alice) >= 1 << 20));
    // ... while what a dead process left goes within a few sweeps.
    let dead = alice.join(".oxftp-upload.00000000deadbeef.tmp");
    write(&dead, b"left by a process that died");
    assert!(eventually(Duration::from_secs(10), || !dead.exists()), "not swept");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(temporaries(&alice).len(), 1, "the live upload's file was swept");
    data.write_all(&pattern_bytes(1 << 20, 6)).unwrap();
    drop(data);
    assert_eq!(ctl.reply().unwrap().map(|r| r.code), Some(226));
    let mut expected = pattern_bytes(2 << 20, 5);
    expected.extend(pattern_bytes(1 << 20, 6));
    assert_eq!(std::fs::read(alice.join("slow.bin")).unwrap(), expected);
}

#[test]
fn kill_9_of_the_daemon_mid_upload_to_s3_publishes_nothing() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("ftp");
    let d = Daemon::start_with(DaemonConfig { storage: Some(s3_storage(&moto)), ..DaemonConfig::default() });
    let (_ctl, mut data) = start_stor(d.port(), "big.bin");
    let chunk = pattern_bytes(1 << 20, 10);
    // Two 5 MiB parts and then some: OpenDAL starts the multipart upload
    // once it knows more than one part follows.
    for _ in 0..12 {
        data.write_all(&chunk).unwrap();
    }
    assert!(eventually(Duration::from_secs(30), || !moto.open_uploads("ftp").is_empty()), "no multipart upload began");
    kill9(d.pid());
    drop(data);
    std::thread::sleep(Duration::from_millis(300));
    let keys = moto.keys("ftp");
    assert!(!keys.iter().any(|k| k.ends_with("big.bin")), "published by a dead server: {keys:?}");
    // What is left is an unfinished multipart upload, invisible to every
    // listing; the lifecycle rule the README gives (which the store takes)
    // aborts it after a day.
    assert_eq!(moto.open_uploads("ftp"), ["srv/alice/big.bin"]);
    moto.python(
        "s3.put_bucket_lifecycle_configuration(Bucket='ftp', LifecycleConfiguration={'Rules': [{\
         'ID': 'abort-incomplete-uploads', 'Status': 'Enabled', 'Filter': {'Prefix': ''}, \
         'AbortIncompleteMultipartUpload': {'DaysAfterInitiation': 1}}]})",
    );
    let rules = moto.python("print(s3.get_bucket_lifecycle_configuration(Bucket='ftp')['Rules'][0]['ID'])");
    assert_eq!(rules.trim(), "abort-incomplete-uploads");
}
