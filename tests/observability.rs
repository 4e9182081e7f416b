//! What a session reports about itself: the metrics it records in the
//! embedder's registry and the events it hands to event sinks, checked
//! through a real FTP client against an in-process server.

#[allow(dead_code)]
mod common;

use std::sync::{Arc, Mutex};

use common::{Raw, TestServer};
use oxftp::events::{Event, EventError, EventKind, EventSink, Protocol};
use oxftp::metrics::Metrics;
use oxftp::metrics::prometheus_client::encoding::text::encode;
use oxftp::metrics::prometheus_client::registry::Registry;
use tokio::io::AsyncReadExt as _;

/// Keeps every event in memory, in order; asks for SHA-256 of uploads.
#[derive(Debug, Default)]
struct Kept {
    events: Mutex<Vec<Event>>,
    /// Event kinds it refuses to admit (as a full spool configured to refuse would).
    refuse: Vec<EventKind>,
}

#[async_trait::async_trait]
impl EventSink for Kept {
    async fn record(&self, event: &Event) -> Result<(), EventError> {
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }

    fn admits(&self, kind: EventKind) -> bool {
        !self.refuse.contains(&kind)
    }

    fn wants_sha256(&self) -> bool {
        true
    }
}

impl Kept {
    fn kinds(&self) -> Vec<EventKind> {
        self.events.lock().unwrap().iter().map(|e| e.kind).collect()
    }
}

fn text(registry: &Mutex<Registry>) -> String {
    let mut out = String::new();
    encode(&mut out, &registry.lock().unwrap()).unwrap();
    out
}

fn has(text: &str, line: &str) {
    assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
}

#[tokio::test]
async fn a_session_is_counted_and_reported_event_by_event() {
    let registry = Arc::new(Mutex::new(Registry::default()));
    let metrics = Metrics::new(&mut registry.lock().unwrap(), true);
    let kept = Arc::new(Kept::default());
    let sink = Arc::clone(&kept);
    let server = TestServer::start_with(move |o| {
        o.metrics = Some(metrics);
        o.event_sinks.push(sink);
    })
    .await;

    // Two failed logins (a wrong password, an unknown account), then alice.
    let mut raw = Raw::connect(server.addr).await;
    assert_eq!(raw.cmd("USER alice").await.0, 331);
    assert_eq!(raw.cmd("PASS wrong").await.0, 530);
    assert_eq!(raw.cmd("USER nobody").await.0, 331);
    assert_eq!(raw.cmd("PASS x").await.0, 530);
    assert_eq!(raw.cmd("XYZZY").await.0, 502);
    drop(raw);

    let mut ftp = server.login("alice", "secret").await;
    ftp.mkdir("d").await.unwrap();
    let data = b"hello, pipeline".to_vec();
    ftp.put_file("d/f.txt", &mut &data[..]).await.unwrap();
    let mut stream = ftp.retr_as_stream("d/f.txt").await.unwrap();
    let mut back = Vec::new();
    stream.read_to_end(&mut back).await.unwrap();
    stream.finish().await.unwrap();
    assert_eq!(back, data);
    ftp.rename("d/f.txt", "d/g.txt").await.unwrap();
    ftp.rm("d/g.txt").await.unwrap();
    ftp.rmdir("d").await.unwrap();
    assert!(ftp.retr_as_stream("missing").await.is_err());
    ftp.quit().await.unwrap();

    // The logout is recorded before the 221, so it is there already.
    let events = kept.events.lock().unwrap().clone();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    use EventKind as K;
    assert_eq!(
        kinds,
        [
            K::LoginFailed,
            K::LoginFailed,
            K::Login,
            K::Mkdir,
            K::Upload,
            K::Download,
            K::Rename,
            K::Delete,
            K::Rmdir,
            K::Logout
        ],
        "{events:#?}"
    );
    let mut ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "every event has its own id");
    assert!(events.iter().all(|e| e.protocol == Protocol::Ftp && e.peer.ip().is_loopback()));
    assert!(events.windows(2).all(|w| w[0].time <= w[1].time));

    let failed = &events[0];
    assert_eq!((failed.user.as_str(), failed.completed), ("alice", false));
    assert!(failed.reason.as_deref().unwrap().starts_with("bad_password"), "{failed:?}");
    assert!(events[1].reason.as_deref().unwrap().starts_with("unknown_user"));

    let upload = &events[4];
    assert_eq!(upload.path.as_ref().unwrap().as_bytes(), b"/d/f.txt");
    assert_eq!(upload.storage_path.as_ref().unwrap().as_bytes(), b"/alice/d/f.txt");
    assert_eq!((upload.bytes, upload.completed), (Some(data.len() as u64), true));
    let expected = sha256sum(&data);
    assert_eq!(upload.sha256, Some(expected), "the hash of the stored bytes");
    let download = &events[5];
    assert_eq!((download.bytes, download.sha256), (Some(data.len() as u64), None));
    let rename = &events[6];
    assert_eq!(rename.path.as_ref().unwrap().as_bytes(), b"/d/f.txt");
    assert_eq!(rename.target.as_ref().unwrap().as_bytes(), b"/d/g.txt");
    assert_eq!(events[9].user, "alice");

    let t = text(&registry);
    has(&t, "oxftp_logins_total{outcome=\"ok\",reason=\"none\"} 1");
    has(&t, "oxftp_logins_total{outcome=\"failed\",reason=\"bad_password\"} 1");
    has(&t, "oxftp_logins_total{outcome=\"failed\",reason=\"unknown_user\"} 1");
    has(&t, "oxftp_commands_total{verb=\"invalid\",class=\"5xx\"} 1");
    has(&t, "oxftp_commands_total{verb=\"PASS\",class=\"5xx\"} 2");
    has(&t, "oxftp_commands_total{verb=\"STOR\",class=\"2xx\"} 1");
    has(&t, "oxftp_commands_total{verb=\"RETR\",class=\"2xx\"} 1");
    has(&t, "oxftp_commands_total{verb=\"RETR\",class=\"5xx\"} 1");
    has(&t, "oxftp_commands_total{verb=\"MKD\",class=\"2xx\"} 1");
    has(&t, "oxftp_commands_total{verb=\"QUIT\",class=\"2xx\"} 1");
    has(&t, "oxftp_transfers_total{kind=\"upload\",outcome=\"completed\"} 1");
    has(&t, "oxftp_transfers_total{kind=\"download\",outcome=\"completed\"} 1");
    has(&t, &format!("oxftp_transfer_bytes_total{{direction=\"in\"}} {}", data.len()));
    has(&t, "oxftp_transfer_duration_seconds_count{kind=\"upload\"} 1");
    has(&t, "oxftp_user_logins_total{user=\"alice\"} 1");
    has(&t, "oxftp_user_transfers_total{user=\"alice\",kind=\"upload\",outcome=\"completed\"} 1");
    assert!(!t.contains("user=\"nobody\""), "unknown names add no series");
    has(&t, "oxftp_storage_operations_total{backend=\"fs\",op=\"mkdir\"} 1");
    has(&t, "oxftp_storage_operations_total{backend=\"fs\",op=\"commit\"} 1");
    has(&t, "oxftp_storage_errors_total{backend=\"fs\",op=\"open_read\",kind=\"not_found\"} 1");
    has(&t, "oxftp_passive_ports_in_use 0");
    let listener = server.addr.to_string();
    has(&t, &format!("oxftp_sessions_total{{listener=\"{listener}\",tls=\"none\"}} 2"));
    // The server notices the closed sessions a moment after the client.
    for _ in 0..100 {
        if text(&registry).contains(&format!("oxftp_sessions_open{{listener=\"{listener}\",tls=\"none\"}} 0")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    has(&text(&registry), &format!("oxftp_sessions_open{{listener=\"{listener}\",tls=\"none\"}} 0"));
    server.stop().await;
}

fn sha256sum(data: &[u8]) -> [u8; 32] {
    use std::process::Command;
    // An independent implementation: coreutils' sha256sum.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, data).unwrap();
    let out = Command::new("sha256sum").arg(&file).output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    let hex = hex.split_whitespace().next().unwrap();
    let mut sum = [0u8; 32];
    for (i, byte) in sum.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    sum
}

#[tokio::test]
async fn a_sink_that_refuses_uploads_stops_them_before_a_byte_is_written() {
    let kept = Arc::new(Kept { refuse: vec![EventKind::Upload, EventKind::Delete], ..Kept::default() });
    let sink = Arc::clone(&kept);
    let server = TestServer::start_with(move |o| o.event_sinks.push(sink)).await;
    std::fs::write(server.path("alice/keep"), "k").unwrap();
    let mut raw = Raw::login(server.addr, "alice", "secret").await;
    let _data = raw.pasv_connect(None).await.unwrap();
    let (code, text) = raw.cmd("STOR new.txt").await;
    assert_eq!(code, 451, "{text}");
    assert!(text.contains("event spool is full"), "{text}");
    assert!(!server.path("alice/new.txt").exists());
    assert_eq!(raw.cmd("DELE keep").await.0, 450);
    assert!(server.path("alice/keep").exists());
    // What the sink admits still works.
    assert_eq!(raw.cmd("MKD dir").await.0, 257);
    assert_eq!(raw.cmd("QUIT").await.0, 221);
    assert_eq!(kept.kinds(), [EventKind::Login, EventKind::Mkdir, EventKind::Logout]);
    server.stop().await;
}

#[tokio::test]
async fn a_session_that_drops_mid_upload_reports_a_partial_upload_and_a_logout() {
    use tokio::io::AsyncWriteExt;
    let kept = Arc::new(Kept::default());
    let sink = Arc::clone(&kept);
    let server = TestServer::start_with(move |o| o.event_sinks.push(sink)).await;
    let mut raw = Raw::login(server.addr, "alice", "secret").await;
    assert_eq!(raw.cmd("TYPE I").await.0, 200);
    let mut data = raw.pasv_connect(None).await.unwrap();
    let (code, _) = raw.cmd("STOR part.bin").await;
    assert_eq!(code, 150);
    data.write_all(&[7u8; 10_000]).await.unwrap();
    data.flush().await.unwrap();
    // Wait until the server has the bytes, then vanish without QUIT.
    for _ in 0..100 {
        if raw.cmd("STAT").await.1.contains("10000") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(raw);
    for _ in 0..250 {
        if kept.kinds().len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let events = kept.events.lock().unwrap().clone();
    assert_eq!(
        events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventKind::Login, EventKind::Upload, EventKind::Logout]
    );
    let upload = &events[1];
    assert!(!upload.completed, "{upload:?}");
    assert_eq!(upload.bytes, Some(10_000));
    assert_eq!(upload.sha256, None, "no hash for what was not stored");
    assert!(upload.reason.as_deref().unwrap().starts_with("426"), "{upload:?}");
    drop(data);
    server.stop().await;
}
