//! The admin listener end to end: a real Prometheus (Debian's `prometheus`)
//! scrapes oxftpd while curl logs in and moves files, and the counts
//! Prometheus stores are exactly what the test did; `/healthz` and
//! `/readyz` answer as a load balancer needs (503 when the storage root is
//! gone or unreadable, or the S3 server is down).

mod common;
#[path = "../../oxftp-opendal/tests/common/mod.rs"]
mod moto;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, DaemonConfig, Outcome, PASSWORD, pattern_bytes, require_tool, run, write};

const TIMEOUT: Duration = Duration::from_secs(60);

/// `curl` with the test's defaults (no config file, errors shown, bounded).
fn curl(home: &Path, args: &[&str]) -> Outcome {
    require_tool("curl");
    let mut cmd = Command::new("curl");
    cmd.args(["-q", "-sS", "--max-time", "50", "--connect-timeout", "10"]).args(args).env("HOME", home);
    run(&mut cmd, TIMEOUT)
}

/// An HTTP GET with curl: status and body.
fn get(home: &Path, url: &str) -> (u16, String) {
    let out = curl(home, &["-o", "-", "-w", "\n%{http_code}", url]);
    let text = out.stdout_str();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.trim().parse().unwrap_or_else(|_| panic!("no status from {url}: {}", out.dump())), body.to_string())
}

/// A free port on loopback, for a server that cannot report the port it bound.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A real Prometheus server scraping one target every second; killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    home: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus on a free loopback port, scraping `target`
    /// (`host:port`) as job `oxftpd`, and waits until it is ready.
    fn start(dir: &Path, target: &str) -> Prometheus {
        require_tool("prometheus");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: oxftpd\n    scrape_interval: 1s\n    scrape_timeout: 900ms\n    \
                 static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let prometheus = Prometheus { child, url: format!("http://127.0.0.1:{port}"), home: dir.to_path_buf() };
        let started = Instant::now();
        loop {
            let (status, _) = get(dir, &format!("{}/-/ready", prometheus.url));
            if status == 200 {
                return prometheus;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "prometheus did not get ready:\n{}", prometheus.log());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.home.join("prometheus.log")).unwrap_or_default()
    }

    /// An instant query through the HTTP API: each series' labels and value.
    fn query(&self, expr: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let url = format!("{}/api/v1/query", self.url);
        let out = curl(&self.home, &["-G", "--data-urlencode", &format!("query={expr}"), &url]);
        let v: serde_json::Value =
            serde_json::from_str(&out.stdout_str()).unwrap_or_else(|e| panic!("query {expr}: {e}: {}", out.dump()));
        assert_eq!(v["status"], "success", "query {expr}: {v}");
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|series| {
                let labels = series["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                let value = series["value"][1].as_str().unwrap().parse().unwrap();
                (labels, value)
            })
            .collect()
    }

    /// The one value of `expr` (a query for one series, or an aggregate);
    /// `None` when it has no series.
    fn value(&self, expr: &str) -> Option<f64> {
        let result = self.query(expr);
        assert!(result.len() <= 1, "{expr} has several series: {result:?}");
        result.first().map(|(_, v)| *v)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- prometheus log ---\n{}", self.log());
        }
    }
}

#[test]
fn prometheus_scrapes_the_counts_of_what_clients_did() {
    let d =
        Daemon::start_with(DaemonConfig { admin: Some("per_user_metrics = true".into()), ..DaemonConfig::default() });
    let admin = d.admin_url().to_string();
    let target = admin.trim_start_matches("http://").to_string();
    let prometheus = Prometheus::start(&d.scratch("prometheus"), &target);
    let home = d.scratch("home");

    // Two refused logins: a wrong password for a real account, an unknown name.
    let out = curl(&home, &[&format!("ftp://alice:wrong@127.0.0.1:{}/", d.port())]);
    assert_eq!(out.code(), Some(67), "curl: login denied\n{}", out.dump());
    let out = curl(&home, &[&format!("ftp://nobody:x@127.0.0.1:{}/", d.port())]);
    assert_eq!(out.code(), Some(67), "{}", out.dump());
    // alice uploads two files in one session, then downloads one in another.
    let (a, b) = (home.join("a.bin"), home.join("b.bin"));
    write(&a, pattern_bytes(300_000, 1));
    write(&b, pattern_bytes(12_345, 2));
    let url = format!("ftp://alice:{PASSWORD}@127.0.0.1:{}/up/", d.port());
    let files = format!("{{{},{}}}", a.display(), b.display());
    curl(&home, &["--ftp-create-dirs", "-T", &files, &url]).assert_success("curl -T two files");
    let got = home.join("got.bin");
    curl(&home, &["-o", got.to_str().unwrap(), &format!("{url}a.bin")]).assert_success("curl download");
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&a).unwrap());
    // An anonymous listing.
    curl(&home, &[&format!("ftp://127.0.0.1:{}/", d.port())]).assert_success("anonymous LIST");

    let ok = "oxftp_logins_total{outcome=\"ok\"}";
    let listing = "oxftp_transfers_total{kind=\"listing\",outcome=\"completed\"}";
    let started = Instant::now();
    while prometheus.value(ok) != Some(3.0) || prometheus.value(listing) != Some(1.0) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "Prometheus never saw the last session: up={:?} logins={:?}\n{}",
            prometheus.value("up"),
            prometheus.query("oxftp_logins_total"),
            prometheus.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let expect = [
        ("up{job=\"oxftpd\"}", 1.0),
        ("oxftp_logins_total{outcome=\"failed\",reason=\"bad_password\"}", 1.0),
        ("oxftp_logins_total{outcome=\"failed\",reason=\"unknown_user\"}", 1.0),
        ("sum(oxftp_logins_total{outcome=\"failed\"})", 2.0),
        ("oxftp_transfers_total{kind=\"upload\",outcome=\"completed\"}", 2.0),
        ("oxftp_transfers_total{kind=\"download\",outcome=\"completed\"}", 1.0),
        ("sum(oxftp_transfers_total{outcome!=\"completed\"})", 0.0),
        ("oxftp_transfer_bytes_total{direction=\"in\"}", 312_345.0),
        ("oxftp_transfer_duration_seconds_count{kind=\"upload\"}", 2.0),
        ("oxftp_commands_total{verb=\"STOR\",class=\"2xx\"}", 2.0),
        ("oxftp_commands_total{verb=\"RETR\",class=\"2xx\"}", 1.0),
        ("oxftp_commands_total{verb=\"PASS\",class=\"2xx\"}", 3.0),
        ("oxftp_commands_total{verb=\"PASS\",class=\"5xx\"}", 2.0),
        ("sum(oxftp_sessions_total)", 5.0),
        // alice's wrong password is not counted per account: with PAM a wrong
        // password and an unknown name look alike, and names are free to make up.
        ("oxftp_user_logins_total{user=\"alice\"}", 2.0),
        ("oxftp_user_logins_total{user=\"anonymous\"}", 1.0),
        ("oxftp_user_transfers_total{user=\"alice\",kind=\"upload\",outcome=\"completed\"}", 2.0),
        ("oxftp_storage_operations_total{backend=\"fs\",op=\"commit\"}", 2.0),
        ("oxftp_passive_ports_in_use", 0.0),
        ("oxftp_build_info", 1.0),
    ];
    let mut wrong = Vec::new();
    for (expr, value) in expect {
        let got = prometheus.value(expr);
        if got != Some(value) {
            wrong.push(format!("{expr} = {got:?}, expected {value}"));
        }
    }
    assert!(wrong.is_empty(), "Prometheus disagrees:\n{}", wrong.join("\n"));
    let out_bytes = prometheus.value("oxftp_transfer_bytes_total{direction=\"out\"}").unwrap();
    assert!(out_bytes > 300_000.0, "the download and the listing went out: {out_bytes}");
    assert!(prometheus.query("oxftp_user_logins_total{user=\"nobody\"}").is_empty(), "unknown names add no series");
    let listener = format!("127.0.0.1:{}", d.port());
    assert_eq!(prometheus.value(&format!("oxftp_sessions_total{{listener=\"{listener}\",tls=\"none\"}}")), Some(5.0));
}

#[test]
fn health_and_readiness_follow_the_storage_root() {
    let d = Daemon::start_with(DaemonConfig { admin: Some(String::new()), ..DaemonConfig::default() });
    let home = d.scratch("home");
    let admin = d.admin_url();
    assert_eq!(get(&home, &format!("{admin}/healthz")), (200, "ok\n".into()));
    assert_eq!(get(&home, &format!("{admin}/readyz")), (200, "ready\n".into()));
    assert_eq!(get(&home, &format!("{admin}/nope")).0, 404);
    let out = curl(&home, &["-X", "POST", "-o", "/dev/null", "-w", "%{http_code}", &format!("{admin}/metrics")]);
    assert_eq!(out.stdout_str(), "405");
    let out = curl(&home, &["-o", "/dev/null", "-w", "%{content_type}", &format!("{admin}/metrics")]);
    assert!(out.stdout_str().starts_with("application/openmetrics-text"), "{}", out.dump());
    let (_, metrics) = get(&home, &format!("{admin}/metrics"));
    assert!(metrics.contains("# TYPE oxftp_logins counter") && metrics.ends_with("# EOF\n"), "{metrics}");
    assert!(!metrics.contains("oxftp_user_"), "per-user metrics are off by default");

    // The root disappears (a volume unmounted, a directory moved away).
    let moved = d.dir().join("root-away");
    std::fs::rename(d.root(), &moved).unwrap();
    let (status, body) = wait_for_status(&home, &format!("{admin}/readyz"), 503);
    assert!(body.starts_with("not ready: storage root:"), "{body}");
    assert_eq!(get(&home, &format!("{admin}/healthz")).0, 200, "alive all the same");
    assert_eq!(status, 503);
    std::fs::rename(&moved, d.root()).unwrap();
    wait_for_status(&home, &format!("{admin}/readyz"), 200);
    let log = d.log();
    assert!(log.contains("not ready: the storage does not answer"), "{log}");
    assert!(log.contains("ready: the storage answers again"), "{log}");
}

/// Polls `url` until it answers `status` (answers are cached for 2 s).
fn wait_for_status(home: &Path, url: &str, status: u16) -> (u16, String) {
    wait_for(home, url, |s, _| s == status)
}

/// Polls `url` until its answer satisfies `done` (bounded).
fn wait_for(home: &Path, url: &str, done: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let started = Instant::now();
    loop {
        let answer = get(home, url);
        if done(answer.0, &answer.1) {
            return answer;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{url} still answers {answer:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether this process is root; when it is not, the root-only tests are
/// skipped, unless scripts/test said they must run.
fn root_or_skip() -> bool {
    if nix::unistd::Uid::effective().is_root() {
        return true;
    }
    assert!(std::env::var_os("OXFTP_REQUIRE_ROOT_TESTS").is_none(), "OXFTP_REQUIRE_ROOT_TESTS is set but not root");
    eprintln!("skipped: needs root");
    false
}

/// Run as an unprivileged user (root reads everything), the daemon is not
/// ready while its root cannot be read.
#[test]
fn readiness_fails_while_the_root_is_unreadable() {
    use std::os::unix::fs::PermissionsExt as _;
    if !root_or_skip() {
        return;
    }
    let d = Daemon::start_with(DaemonConfig {
        admin: Some(String::new()),
        run_as: Some("oxftpd-test".into()),
        ..DaemonConfig::default()
    });
    let home = d.scratch("home");
    let url = format!("{}/readyz", d.admin_url());
    assert_eq!(get(&home, &url).0, 200);
    std::fs::set_permissions(d.root(), std::fs::Permissions::from_mode(0o000)).unwrap();
    let (_, body) = wait_for_status(&home, &url, 503);
    assert!(body.contains("Permission denied"), "{body}");
    std::fs::set_permissions(d.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    wait_for_status(&home, &url, 200);
}

/// On S3 the probe asks the bucket: 503 while the S3 server is down, 200
/// again once it is back.
#[test]
fn readiness_follows_the_object_store() {
    let Some(mut moto) = moto::Moto::start() else { return };
    moto.create_bucket("ftp");
    let storage = format!(
        "backend = \"opendal\"\nscheme = \"s3\"\n[storage.s3]\nbucket = \"ftp\"\nendpoint = \"{}\"\n\
         region = \"us-east-1\"\naccess_key_id = \"testing\"\nsecret_access_key = \"testing\"\nroot = \"/srv\"\n",
        moto.endpoint
    );
    let d = Daemon::start_with(DaemonConfig {
        admin: Some(String::new()),
        storage: Some(storage),
        ..DaemonConfig::default()
    });
    let home = d.scratch("home");
    let url = format!("{}/readyz", d.admin_url());
    assert_eq!(get(&home, &url), (200, "ready\n".into()));
    moto.kill();
    let (_, body) = wait_for_status(&home, &url, 503);
    assert!(body.contains("cannot reach the object store"), "{body}");
    // moto keeps its data in memory: the bucket is gone after a restart.
    moto.restart();
    // (The answer before the restart may still be cached for a moment.)
    wait_for(&home, &url, |status, body| status == 503 && body.contains("bucket does not exist"));
    moto.create_bucket("ftp");
    wait_for_status(&home, &url, 200);
    curl(&home, &["-u", &format!("alice:{PASSWORD}"), &format!("ftp://127.0.0.1:{}/", d.port())])
        .assert_success("a listing on S3");
    let (_, metrics) = get(&home, &format!("{}/metrics", d.admin_url()));
    assert!(metrics.contains("oxftp_storage_operations_total{backend=\"s3\""), "{metrics}");
}

/// Out of descriptors, accepts fail: each failure is counted, but at most
/// one line per 10 s is logged (not one per failed accept), and one when
/// accepting works again.
#[test]
fn accept_errors_are_counted_and_logged_once_per_episode() {
    let d = Daemon::start_with(DaemonConfig {
        open_files: Some(64),
        admin: Some(String::new()),
        ..DaemonConfig::default()
    });
    // More connections than descriptors: the kernel queues them all, the
    // daemon's accept runs out (EMFILE) and retries every 50 ms.
    let mut held = Vec::new();
    for _ in 0..120 {
        held.push(std::net::TcpStream::connect(("127.0.0.1", d.port())).expect("connect"));
    }
    let started = Instant::now();
    while !d.log().contains("accept failed") {
        assert!(started.elapsed() < Duration::from_secs(15), "no accept failure:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1000));
    drop(held);
    let started = Instant::now();
    while !d.log().contains("accepting connections again") {
        assert!(started.elapsed() < Duration::from_secs(15), "accepting never resumed:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = d.log();
    assert_eq!(log.matches("accept failed").count(), 1, "one line for the episode:\n{log}");
    let home = d.scratch("home");
    let (_, metrics) = get(&home, &format!("{}/metrics", d.admin_url()));
    let failures: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("oxftp_accept_errors_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no oxftp_accept_errors_total in\n{metrics}"));
    assert!(failures >= 10, "about 20 failed accepts a second were counted: {failures}");
    // And the server serves again.
    curl(&home, &[&format!("ftp://alice:{PASSWORD}@127.0.0.1:{}/", d.port())]).assert_success("a listing afterwards");
}
