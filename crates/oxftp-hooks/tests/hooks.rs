//! Hooks against real receivers: a Python HTTP server that checks the HMAC
//! signature (tests/receiver.py) and real programs run as command hooks.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use oxftp_core::events::{Event, EventKind, EventSink, Protocol};
use oxftp_hooks::{HookConfig, Hooks, OnFull};
use oxftp_proto::path::VPath;

const SECRET: &str = "s3cret-for-tests";

fn logger() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

/// The Python receiver, killed when dropped.
struct Receiver {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Receiver {
    /// Starts on `port` (0: any free one), appending to `out`.
    fn start(dir: &Path, port: u16, out: &Path) -> Receiver {
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let port_file = dir.join(format!("port-{}", STARTED.fetch_add(1, Ordering::Relaxed)));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/receiver.py");
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

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Ids received so far, each line's body id and header id checked equal.
    fn received(&self) -> Vec<String> {
        received(&self.out)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn received(out: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["id"], v["header_id"], "the id header names the body's event");
            v["id"].as_str().unwrap().to_string()
        })
        .collect()
}

fn upload(user: &str, path: &str) -> Event {
    let p = VPath::parse(path.as_bytes()).unwrap();
    Event::new(EventKind::Upload, Protocol::Ftp, user, "127.0.0.1:40000".parse().unwrap())
        .with_path(p.clone(), p)
        .with_transfer(10, Duration::from_millis(1))
}

/// Polls `f` until it is true (bounded).
async fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn webhook(name: &str, url: &str) -> HookConfig {
    let mut hook = HookConfig::webhook(name, url);
    hook.secret = Some(SECRET.into());
    hook.retry_delay_ms = 50;
    hook.retry_max_delay = 1;
    hook
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_events_reach_the_receiver_once_each() {
    let tmp = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(tmp.path(), 0, &tmp.path().join("got"));
    let hooks = Hooks::start(&tmp.path().join("spool"), vec![webhook("h", &receiver.url())], &logger()).unwrap();
    let mut sent = BTreeSet::new();
    for i in 0..5 {
        let event = upload("alice", &format!("/f{i}"));
        sent.insert(event.id.clone());
        hooks.record(&event).await.unwrap();
    }
    eventually("5 deliveries", Duration::from_secs(20), || receiver.received().len() >= 5).await;
    let got = receiver.received();
    assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), sent);
    assert_eq!(got.len(), 5, "no redelivery without a failure");
    eventually("an empty spool", Duration::from_secs(5), || hooks.stats()[0].pending == 0).await;
    assert_eq!(hooks.stats()[0].delivered, 5);
    // The same counters through a Prometheus registry.
    let mut registry = prometheus_client::registry::Registry::default();
    registry.sub_registry_with_prefix("oxftp").register_collector(Box::new(hooks.collector()));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for line in [
        "oxftp_hook_delivered_total{hook=\"h\"} 5",
        "oxftp_hook_pending{hook=\"h\"} 0",
        "oxftp_hook_failed_attempts_total{hook=\"h\"} 0",
        "# TYPE oxftp_hook_dropped counter",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    hooks.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_secret_is_refused_by_the_receiver_and_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(tmp.path(), 0, &tmp.path().join("got"));
    let mut hook = webhook("h", &receiver.url());
    hook.secret = Some("not-the-secret".into());
    hook.max_attempts = 3;
    let hooks = Hooks::start(&tmp.path().join("spool"), vec![hook], &logger()).unwrap();
    hooks.record(&upload("alice", "/f")).await.unwrap();
    eventually("the event to be given up", Duration::from_secs(20), || hooks.stats()[0].given_up == 1).await;
    let stats = &hooks.stats()[0];
    assert_eq!((stats.failed_attempts, stats.delivered, stats.pending), (3, 0, 0));
    assert!(receiver.received().is_empty());
    let failed: Vec<_> = std::fs::read_dir(tmp.path().join("spool/h/failed")).unwrap().collect();
    assert_eq!(failed.len(), 1, "kept for an admin in failed/");
    hooks.stop();
}

/// The receiver is down while 50 events happen, the process "restarts"
/// (the hooks are stopped and started again on the same spool), then the
/// receiver comes back: every event arrives, and any repeat has the same id.
#[tokio::test(flavor = "multi_thread")]
async fn an_outage_and_a_restart_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("got");
    // Learn a free port, then stop the receiver: the hook meets a closed port.
    let port = {
        let receiver = Receiver::start(tmp.path(), 0, &out);
        receiver.port
    };
    let url = format!("http://127.0.0.1:{port}/hook");
    let spool = tmp.path().join("spool");
    let hooks = Hooks::start(&spool, vec![webhook("h", &url)], &logger()).unwrap();
    let mut sent = BTreeSet::new();
    for i in 0..50 {
        let event = upload("bob", &format!("/up/{i}"));
        sent.insert(event.id.clone());
        hooks.record(&event).await.unwrap();
    }
    eventually("failed attempts", Duration::from_secs(10), || hooks.stats()[0].failed_attempts > 0).await;
    assert_eq!(hooks.stats()[0].pending, 50);
    hooks.stop();

    let hooks = Hooks::start(&spool, vec![webhook("h", &url)], &logger()).unwrap();
    assert_eq!(hooks.stats()[0].pending, 50, "the spool survived the restart");
    let receiver = Receiver::start(tmp.path(), port, &out);
    eventually("50 distinct events", Duration::from_secs(30), || {
        receiver.received().into_iter().collect::<HashSet<_>>().len() >= 50
    })
    .await;
    let got: BTreeSet<String> = receiver.received().into_iter().collect();
    assert_eq!(got, sent);
    eventually("an empty spool", Duration::from_secs(5), || hooks.stats()[0].pending == 0).await;
    hooks.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_spool_drops_the_oldest_or_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    // Nothing listens on port 9 of loopback here: deliveries fail.
    let mut dropping = webhook("drop", "http://127.0.0.1:9/");
    dropping.max_spooled = 3;
    dropping.retry_delay_ms = 60_000;
    let mut refusing = webhook("refuse", "http://127.0.0.1:9/");
    refusing.max_spooled = 3;
    refusing.retry_delay_ms = 60_000;
    refusing.on_full = OnFull::Refuse;
    refusing.events = vec!["upload".into()];
    let hooks = Hooks::start(&tmp.path().join("spool"), vec![dropping, refusing], &logger()).unwrap();
    for i in 0..5 {
        assert!(hooks.admits(EventKind::Upload) || i >= 3, "refused before the spool was full");
        hooks.record(&upload("carol", &format!("/{i}"))).await.unwrap();
    }
    let stats = hooks.stats();
    assert_eq!((stats[0].pending, stats[0].dropped), (3, 2));
    assert!(!hooks.admits(EventKind::Upload), "the refusing hook is full");
    assert!(hooks.admits(EventKind::Login), "it does not report logins");
    assert!(hooks.stats()[1].refused >= 1);
    assert_eq!(std::fs::read_dir(tmp.path().join("spool/drop")).unwrap().count(), 3 + 1, "3 events + failed/");
    hooks.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_runs_once_per_event_with_the_event_in_its_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    let script = format!(
        "import os,sys,json; e=json.load(sys.stdin); assert e['id']==os.environ['OXFTP_ID']; \
         open({:?},'a').write(os.environ['OXFTP_KIND']+' '+os.environ['OXFTP_PATH']+' '+os.environ['OXFTP_USER']+'\\n')",
        log.to_str().unwrap()
    );
    let mut hook = HookConfig::command("cmd", vec!["/usr/bin/python3".into(), "-c".into(), script]);
    hook.events = vec!["upload".into(), "delete".into()];
    hook.path = Some("/in/**".into());
    hook.users = vec!["dave".into()];
    let hooks = Hooks::start(&tmp.path().join("spool"), vec![hook], &logger()).unwrap();
    hooks.record(&upload("dave", "/in/a.csv")).await.unwrap();
    hooks.record(&upload("dave", "/elsewhere/b.csv")).await.unwrap(); // path filtered out
    hooks.record(&upload("erin", "/in/c.csv")).await.unwrap(); // user filtered out
    let p = VPath::parse(b"/in/sub/d").unwrap();
    let delete =
        Event::new(EventKind::Delete, Protocol::Ftp, "dave", "127.0.0.1:1".parse().unwrap()).with_path(p.clone(), p);
    hooks.record(&delete).await.unwrap();
    let login = Event::new(EventKind::Login, Protocol::Ftp, "dave", "127.0.0.1:1".parse().unwrap());
    hooks.record(&login).await.unwrap(); // kind filtered out
    eventually("2 command runs", Duration::from_secs(20), || hooks.stats()[0].delivered == 2).await;
    let mut lines: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines, vec!["delete /in/sub/d dave", "upload /in/a.csv dave"]);
    hooks.stop();
}

#[tokio::test]
async fn bad_settings_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let e = Hooks::start(tmp.path(), vec![HookConfig::webhook("a", "gopher://x/")], &logger()).unwrap_err();
    assert!(e.to_string().contains("url"), "{e}");
    let twice = vec![HookConfig::webhook("a", "http://127.0.0.1:9/"), HookConfig::webhook("a", "http://127.0.0.1:9/")];
    let e = Hooks::start(tmp.path(), twice, &logger()).unwrap_err();
    assert!(e.to_string().contains("two hooks"), "{e}");
}

/// Command injection (the Wing FTP class): a path full of shell syntax and
/// control characters (a CR or LF can come from SFTP) reaches a command
/// hook as data, byte for byte, in its environment and its JSON; no shell
/// ever reads it.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_names_reach_a_command_as_data() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.json");
    let pwned = tmp.path().join("PWNED");
    let script = format!(
        "import os,sys,json; e=json.load(sys.stdin); \
         json.dump({{'env': os.environ['OXFTP_PATH'], 'json': e['path'], 'user': os.environ['OXFTP_USER']}}, open({:?},'w'))",
        out.to_str().unwrap()
    );
    let mut hook = HookConfig::command("cmd", vec!["/usr/bin/python3".into(), "-c".into(), script]);
    hook.events = vec!["upload".into()];
    let hooks = Hooks::start(&tmp.path().join("spool"), vec![hook], &logger()).unwrap();
    let evil = format!(
        "/in/$(touch {p}); `touch {p}` 'q' \"d\" \x1b[31m\ttab\r\n226 fake; rm -rf ~",
        p = pwned.to_str().unwrap()
    );
    hooks.record(&upload("dave", &evil)).await.unwrap();
    eventually("the command run", Duration::from_secs(20), || hooks.stats()[0].delivered == 1).await;
    let got: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(got["env"], evil.as_str());
    assert_eq!(got["json"], evil.as_str());
    assert_eq!(got["user"], "dave");
    assert!(!pwned.exists(), "a shell ran the path");
    hooks.stop();
}
