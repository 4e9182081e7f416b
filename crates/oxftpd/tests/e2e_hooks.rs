//! Event hooks end to end: oxftpd with `[[hook]]` entries, curl uploading,
//! and real receivers: the Python webhook receiver of oxftp-hooks' tests
//! (it checks every X-Oxftp-Signature) and a program run as a command hook.
//! No event is lost across a receiver outage and a `kill -9` of the daemon.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{Daemon, DaemonConfig, Outcome, PASSWORD, pattern_bytes, require_tool, run, write};

const SECRET: &str = "e2e-hook-secret";
const TIMEOUT: Duration = Duration::from_secs(120);

fn curl(home: &Path, args: &[&str]) -> Outcome {
    require_tool("curl");
    let mut cmd = Command::new("curl");
    cmd.args(["-q", "-sS", "--max-time", "100", "--connect-timeout", "10"]).args(args).env("HOME", home);
    run(&mut cmd, TIMEOUT)
}

/// The webhook receiver of oxftp-hooks' tests, killed when dropped.
struct Receiver {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Receiver {
    /// Starts on `port` (0: a free one), appending what it accepts to `out`.
    fn start(dir: &Path, port: u16, out: &Path) -> Receiver {
        require_tool("python3");
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let port_file = dir.join(format!("receiver-port-{}", STARTED.fetch_add(1, Ordering::Relaxed)));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../oxftp-hooks/tests/receiver.py");
        let child = Command::new("python3")
            .arg(script)
            .args(["--secret", SECRET, "--port", &port.to_string()])
            .arg("--out")
            .arg(out)
            .arg("--port-file")
            .arg(&port_file)
            .spawn()
            .expect("python3 runs the receiver");
        let started = Instant::now();
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                break text.trim().parse().unwrap();
            }
            assert!(started.elapsed() < Duration::from_secs(20), "the receiver did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        Receiver { child, port, out: out.to_path_buf() }
    }

    /// The bodies received so far (each line's header id checked against its body's).
    fn bodies(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        text.lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(v["id"], v["header_id"], "the id header names the body's event");
                v["body"].clone()
            })
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` (bounded by `limit`) until it holds.
fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SHA-256 of `path`, hex, by coreutils (an implementation of its own).
fn sha256sum(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path), TIMEOUT);
    out.stdout_str().split_whitespace().next().unwrap().to_string()
}

/// Spooled events of hook `name` (not those given up in `failed/`).
fn spooled(spool: &Path, name: &str) -> usize {
    std::fs::read_dir(spool.join(name)).map_or(0, |dir| dir.filter(|e| e.as_ref().unwrap().path().is_file()).count())
}

/// The receiver is down while alice uploads 50 files; oxftpd is killed with
/// SIGKILL; both come back: every upload's event arrives, signed, with its
/// SHA-256, and no upload is reported under two different ids.
#[test]
fn an_outage_and_a_kill_9_lose_no_upload_event() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("received");
    // Learn a free port, then stop the receiver: the hook meets a closed port.
    let port = Receiver::start(tmp.path(), 0, &out).port;
    let spool = tmp.path().join("spool");
    let hooks = format!(
        "\n[hooks]\nspool_dir = \"{}\"\n\n[[hook]]\nname = \"pipeline\"\nevents = [\"upload\"]\npath = \"/inbox/**\"\n\
         url = \"http://127.0.0.1:{port}/hook\"\nsecret = \"{SECRET}\"\nchecksum = true\ntimeout = 5\n\
         retry_delay_ms = 100\nretry_max_delay = 1\n",
        spool.display()
    );
    let mut d =
        Daemon::start_with(DaemonConfig { extra_tables: hooks, admin: Some(String::new()), ..DaemonConfig::default() });
    let home = d.scratch("home");
    let up = d.scratch("up");
    let mut files = BTreeMap::new();
    for i in 0..50 {
        let name = format!("f{i:02}.bin");
        let path = up.join(&name);
        write(&path, pattern_bytes(1000 + i * 37, i as u64));
        files.insert(format!("/inbox/{name}"), sha256sum(&path));
    }
    let url = format!("ftp://alice:{PASSWORD}@127.0.0.1:{}/inbox/", d.port());
    let glob = format!("{}/f[00-49].bin", up.display());
    curl(&home, &["--ftp-create-dirs", "-T", &glob, &url]).assert_success("curl uploads 50 files");
    // Every 226 came after its event was on disk.
    assert_eq!(spooled(&spool, "pipeline"), 50, "50 events spooled while the receiver is down");
    eventually("failed attempts", Duration::from_secs(20), || {
        curl(&home, &[&format!("{}/metrics", d.admin_url())])
            .stdout_str()
            .lines()
            .any(|l| l.starts_with("oxftp_hook_failed_attempts_total{hook=\"pipeline\"}") && !l.ends_with(" 0"))
    });

    d.kill9();
    let receiver = Receiver::start(tmp.path(), port, &out);
    d.restart();
    eventually("50 distinct events", Duration::from_secs(60), || {
        receiver.bodies().iter().map(|b| b["id"].as_str().unwrap().to_string()).collect::<BTreeSet<_>>().len() >= 50
    });
    // The spool drains, and the restarted daemon counts what it delivered.
    eventually("an empty spool", Duration::from_secs(20), || spooled(&spool, "pipeline") == 0);
    let metrics = curl(&home, &[&format!("{}/metrics", d.admin_url())]).stdout_str();
    assert!(metrics.contains("oxftp_hook_pending{hook=\"pipeline\"} 0"), "{metrics}");

    let mut ids_by_path: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for body in receiver.bodies() {
        assert_eq!(body["kind"], "upload", "{body}");
        assert_eq!(body["user"], "alice");
        assert_eq!(body["completed"], true);
        let path = body["path"].as_str().unwrap().to_string();
        let sum = files.get(&path).unwrap_or_else(|| panic!("an event for an upload that did not happen: {body}"));
        assert_eq!(body["sha256"].as_str(), Some(sum.as_str()), "{body}");
        assert_eq!(body["storage_path"].as_str().unwrap(), format!("/alice{path}"));
        ids_by_path.entry(path).or_default().insert(body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids_by_path.len(), 50, "every upload reported");
    let twice: Vec<_> = ids_by_path.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(twice.is_empty(), "uploads reported under two ids: {twice:?}");
}

/// A command hook (a program, no shell) moves every upload into /inbox out
/// of the served tree into an archive; uploads elsewhere stay.
#[test]
fn a_command_hook_moves_each_upload_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    // The daemon's storage root is ours here, so the program can be told where it is.
    let root = tmp.path().join("srv");
    for sub in ["pub/incoming", "alice/inbox", "guest"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    let archive = tmp.path().join("archive");
    std::fs::create_dir(&archive).unwrap();
    let mover = tmp.path().join("move.py");
    std::fs::write(
        &mover,
        "import json, os, shutil, sys\n\
         root, archive = sys.argv[1], sys.argv[2]\n\
         event = json.load(sys.stdin)\n\
         assert os.environ['OXFTP_ID'] == event['id']\n\
         source = root + event['storage_path']\n\
         target = os.path.join(archive, event['user'], os.path.basename(event['path']))\n\
         os.makedirs(os.path.dirname(target), exist_ok=True)\n\
         if os.path.exists(source):\n    shutil.move(source, target)\n",
    )
    .unwrap();
    let hooks = format!(
        "\n[hooks]\nspool_dir = \"{spool}\"\n\n[[hook]]\nname = \"mover\"\nevents = [\"upload\"]\npath = \"/inbox/*\"\n\
         users = [\"alice\"]\ncommand = [\"/usr/bin/python3\", \"{mover}\", \"{root}\", \"{archive}\"]\nconcurrency = 2\n",
        spool = tmp.path().join("spool").display(),
        mover = mover.display(),
        root = root.display(),
        archive = archive.display(),
    );
    let d = Daemon::start_with(DaemonConfig {
        storage: Some(format!("root = \"{}\"\natomic_uploads = true", root.display())),
        extra_tables: hooks,
        ..DaemonConfig::default()
    });
    let home = d.scratch("home");
    let up = d.scratch("up");
    let mut names = Vec::new();
    for i in 0..3 {
        let name = format!("report-{i}.csv");
        write(up.join(&name), pattern_bytes(5000 + i, i as u64));
        names.push(name);
    }
    write(up.join("keep.txt"), b"stays where it is");
    let base = format!("ftp://alice:{PASSWORD}@127.0.0.1:{}", d.port());
    for name in &names {
        curl(&home, &["-T", up.join(name).to_str().unwrap(), &format!("{base}/inbox/")]).assert_success("upload");
    }
    curl(&home, &["-T", up.join("keep.txt").to_str().unwrap(), &format!("{base}/")]).assert_success("upload");
    eventually("3 files archived", Duration::from_secs(30), || {
        std::fs::read_dir(archive.join("alice")).map_or(0, |d| d.count()) == 3
    });
    for name in &names {
        assert_eq!(std::fs::read(archive.join("alice").join(name)).unwrap(), std::fs::read(up.join(name)).unwrap());
        assert!(!root.join("alice/inbox").join(name).exists(), "{name} moved, not copied");
    }
    assert_eq!(std::fs::read(root.join("alice/keep.txt")).unwrap(), b"stays where it is");
    // The FTP view agrees: the inbox is empty.
    let listing = curl(&home, &["-l", &format!("{base}/inbox/")]);
    listing.assert_success("NLST inbox");
    assert_eq!(listing.stdout_str().trim(), "", "{}", listing.dump());
}

/// With `on_full = "refuse"`, an upload that would overflow the spool is
/// refused with a reply that says why, and nothing is written.
#[test]
fn a_full_spool_that_refuses_stops_uploads_with_a_clear_reply() {
    let tmp = tempfile::tempdir().unwrap();
    // Nothing listens there: every delivery fails and events stay spooled.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let hooks = format!(
        "\n[hooks]\nspool_dir = \"{}\"\n\n[[hook]]\nname = \"strict\"\nevents = [\"upload\"]\n\
         url = \"http://127.0.0.1:{closed}/\"\nmax_spooled = 2\non_full = \"refuse\"\nretry_delay_ms = 60000\n",
        tmp.path().join("spool").display()
    );
    let d =
        Daemon::start_with(DaemonConfig { extra_tables: hooks, admin: Some(String::new()), ..DaemonConfig::default() });
    let home = d.scratch("home");
    let file = home.join("f.txt");
    write(&file, b"data");
    let base = format!("ftp://alice:{PASSWORD}@127.0.0.1:{}", d.port());
    for name in ["one", "two"] {
        curl(&home, &["-T", file.to_str().unwrap(), &format!("{base}/{name}")]).assert_success("upload into the spool");
    }
    let out = curl(&home, &["-T", file.to_str().unwrap(), &format!("{base}/three")]);
    assert!(!out.success(), "{}", out.dump());
    assert!(out.stderr_str().contains("451"), "{}", out.dump());
    assert!(!d.disk("alice/three").exists(), "nothing written");
    assert!(d.disk("alice/one").exists() && d.disk("alice/two").exists());
    let metrics = curl(&home, &[&format!("{}/metrics", d.admin_url())]).stdout_str();
    assert!(metrics.contains("oxftp_hook_pending{hook=\"strict\"} 2"), "{metrics}");
    assert!(metrics.contains("oxftp_hook_refused_total{hook=\"strict\"} 1"), "{metrics}");
    assert!(d.log().contains("event spool is full") || d.log().contains("spool full"), "{}", d.log());
}
