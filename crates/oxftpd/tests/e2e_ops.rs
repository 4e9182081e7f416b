//! oxftpd as a service, end to end: the xferlog (checked field by field and
//! read by awstats), its rotation by logrotate with SIGHUP, certificate
//! reload on SIGHUP (seen by `openssl s_client` on every TLS listener, with
//! a transfer running across it), dropping root for `server.run_as`,
//! systemd's READY=1, and the unit file under `systemd-analyze verify`.
//!
//! Real daemons on loopback, real clients (curl, openssl, awstats,
//! logrotate), bounded waits everywhere.

mod common;

use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Daemon, DaemonConfig, Outcome, PASSWORD, TlsOptions, certs, pattern_bytes, read, require_tool, run, write,
};

/// Longer than curl's own `--max-time`, so curl reports its own timeouts.
const TIMEOUT: Duration = Duration::from_secs(90);

/// The unprivileged user `scripts/test` creates for `server.run_as`.
const TEST_USER: &str = "oxftpd-test";

/// Its extra group (initgroups must bring it in).
const TEST_GROUP_EXTRA: &str = "oxftpd-test-extra";

fn alice() -> String {
    format!("alice:{PASSWORD}")
}

/// curl with no user config and bounded waits; `ca` trusts a test CA (FTPS,
/// capped at TLS 1.2 as in e2e_ftps).
fn curl(d: &Daemon, args: &[&str]) -> Outcome {
    require_tool("curl");
    let mut cmd = Command::new("curl");
    cmd.args(["-q", "-sS", "--max-time", "60", "--connect-timeout", "10"]).args(args).env("HOME", d.dir());
    run(&mut cmd, TIMEOUT)
}

/// Polls `check` every 50 ms until it is true or `limit` passes.
fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The lines of a file (empty when it does not exist).
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

/// Waits until the xferlog at `path` has `n` lines.
fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    wait_until(Duration::from_secs(15), &format!("{n} lines in {}", path.display()), || lines(path).len() >= n);
    lines(path)
}

// ---------------------------------------------------------------------------
// xferlog

/// One xferlog line, split into its fields as xferlog(5) defines them.
#[derive(Debug)]
struct Entry {
    time: String,
    seconds: u64,
    host: String,
    bytes: u64,
    file: String,
    kind: String,
    action: String,
    direction: String,
    access: String,
    user: String,
    service: String,
    auth_method: String,
    auth_user: String,
    status: String,
}

/// Parses a line field by field: the five date fields, then thirteen
/// fields separated by single spaces. Panics on anything else.
fn parse(line: &str) -> Entry {
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.len(), 18, "expected 18 fields: {line:?}");
    // Single spaces everywhere but before a one-digit day (ctime style).
    let day: u32 = fields[2].parse().unwrap_or_else(|_| panic!("day in {line:?}"));
    let expected = if day < 10 { line.replacen("  ", " ", 1) } else { line.to_string() };
    assert_eq!(expected.split(' ').count(), 18, "separators in {line:?}");
    let time = fields[..5].join(" ");
    let parsed = chrono::NaiveDateTime::parse_from_str(&time, "%a %b %d %H:%M:%S %Y")
        .unwrap_or_else(|e| panic!("current-time {time:?}: {e}"));
    let now = chrono::Local::now().naive_local();
    assert!((now - parsed).num_seconds().abs() < 600, "current-time {time:?} is not now ({now})");
    let number = |i: usize| fields[i].parse::<u64>().unwrap_or_else(|_| panic!("field {} of {line:?}", i + 1));
    Entry {
        time,
        seconds: number(5),
        host: fields[6].into(),
        bytes: number(7),
        file: fields[8].into(),
        kind: fields[9].into(),
        action: fields[10].into(),
        direction: fields[11].into(),
        access: fields[12].into(),
        user: fields[13].into(),
        service: fields[14].into(),
        auth_method: fields[15].into(),
        auth_user: fields[16].into(),
        status: fields[17].into(),
    }
}

/// Real transfers of every kind, then every line checked field by field,
/// then the same file read by awstats (`LogType=F`, its documented xferlog
/// format): every line is a qualified record and the totals match.
#[test]
fn xferlog_lines_parse_field_by_field_and_awstats_reads_them() {
    let d = Daemon::start_with(DaemonConfig { xferlog: true, ..DaemonConfig::default() });
    let data = pattern_bytes(300_000, 3);
    write(d.disk("alice/data.bin"), &data);
    write(d.disk("alice/notes.txt"), b"one\ntwo\nthree\n");
    write(d.disk("pub/readme.txt"), b"public\n");
    write(d.disk("alice/big.bin"), pattern_bytes(32 * 1024 * 1024, 4));
    let local = d.scratch("xfer");
    let upload = local.join("up.bin");
    write(&upload, pattern_bytes(4096, 5));
    let user = alice();

    // 1. alice downloads in binary; 2. uploads a name with spaces; 3. an
    // ASCII download; 4. anonymous; 5. gina the guest uploads; 6. a download
    // cut short (curl stops after 100 bytes of a 32 MiB file).
    let out = curl(&d, &["-u", &user, "-o", local.join("d.bin").to_str().unwrap(), &d.url("/data.bin")]);
    out.assert_success("download");
    let out = curl(&d, &["-u", &user, "-T", upload.to_str().unwrap(), &d.url("/my%20file%20v2.bin")]);
    out.assert_success("upload with spaces");
    let out = curl(&d, &["-u", &user, "-o", local.join("n.txt").to_str().unwrap(), &d.url("/notes.txt;type=a")]);
    out.assert_success("ASCII download");
    let out = curl(&d, &["-o", local.join("r.txt").to_str().unwrap(), &d.url("/readme.txt")]);
    out.assert_success("anonymous download");
    let out = curl(&d, &["-u", &format!("gina:{PASSWORD}"), "-T", upload.to_str().unwrap(), &d.url("/g.bin")]);
    out.assert_success("guest upload");
    let _ = curl(&d, &["-u", &user, "-r", "0-99", "-o", local.join("part").to_str().unwrap(), &d.url("/big.bin")]);

    let got = wait_lines(&d.xferlog(), 6);
    assert_eq!(got.len(), 6, "{got:#?}");
    let entries: Vec<Entry> = got.iter().map(|l| parse(l)).collect();
    for e in &entries {
        assert_eq!(e.host, "127.0.0.1", "{e:?}");
        assert_eq!((e.action.as_str(), e.service.as_str()), ("_", "ftp"), "{e:?}");
        assert_eq!((e.auth_method.as_str(), e.auth_user.as_str()), ("0", "*"), "{e:?}");
        assert!(e.seconds < 60, "{e:?}");
        assert!(!e.time.is_empty());
    }
    let e = &entries[0];
    assert_eq!((e.file.as_str(), e.bytes, e.kind.as_str(), e.direction.as_str()), ("/data.bin", 300_000, "b", "o"));
    assert_eq!((e.access.as_str(), e.user.as_str(), e.status.as_str()), ("r", "alice", "c"));
    let e = &entries[1];
    // Spaces in a file name are written as underscores, as ProFTPD does.
    assert_eq!(
        (e.file.as_str(), e.bytes, e.direction.as_str(), e.status.as_str()),
        ("/my_file_v2.bin", 4096, "i", "c")
    );
    assert!(d.disk("alice/my file v2.bin").is_file(), "the file itself keeps its name");
    let e = &entries[2];
    // ASCII: the CRLF form went over the wire.
    assert_eq!((e.file.as_str(), e.kind.as_str(), e.bytes), ("/notes.txt", "a", 17));
    let e = &entries[3];
    assert_eq!((e.file.as_str(), e.access.as_str(), e.direction.as_str()), ("/readme.txt", "a", "o"));
    let e = &entries[4];
    assert_eq!(
        (e.file.as_str(), e.access.as_str(), e.user.as_str(), e.direction.as_str()),
        ("/g.bin", "g", "gina", "i")
    );
    let e = &entries[5];
    assert_eq!((e.file.as_str(), e.status.as_str()), ("/big.bin", "i"), "a transfer cut short is incomplete");
    assert!(e.bytes < 32 * 1024 * 1024, "{e:?}");

    // awstats, configured for FTP as its documentation says.
    let awstats = Path::new("/usr/lib/cgi-bin/awstats.pl");
    assert!(awstats.is_file(), "awstats is not installed (Debian package awstats; scripts/test installs it)");
    let conf_dir = d.scratch("awstats");
    let data_dir = conf_dir.join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    std::fs::write(
        conf_dir.join("awstats.oxftp.conf"),
        format!(
            "LogFile=\"{}\"\nLogType=F\nLogFormat=\"%time3 %other %host %bytesd %url %other %other %method %other %logname %other %code %other %other\"\n\
             LogSeparator=\"\\s\"\nSiteDomain=\"ftp.example.org\"\nDirData=\"{}\"\nDNSLookup=0\nNotPageList=\"\"\n\
             LevelForBrowsersDetection=0\nLevelForOSDetection=0\nLevelForRefererAnalyze=0\nLevelForRobotsDetection=0\n\
             LevelForWormsDetection=0\nLevelForSearchEnginesDetection=0\nLevelForFileTypesDetection=0\n",
            d.xferlog().display(),
            data_dir.display()
        ),
    )
    .unwrap();
    let out = run(
        Command::new("perl")
            .arg(awstats)
            .arg("-config=oxftp")
            .arg(format!("-configdir={}", conf_dir.display()))
            .arg("-update"),
        TIMEOUT,
    );
    out.assert_success("awstats -update");
    let report = out.stdout_str();
    assert!(report.contains("0 corrupted records"), "awstats found corrupted records:\n{report}");
    assert!(report.contains("6 new qualified records"), "awstats did not take every line:\n{report}");
    // Its database has the client and the files.
    let db: String = std::fs::read_dir(&data_dir)
        .unwrap()
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap_or_default())
        .collect();
    assert!(db.contains("127.0.0.1") && db.contains("/data.bin") && db.contains("/my_file_v2.bin"), "{db}");
}

/// logrotate (with dist/logrotate/oxftpd, its paths and reload command
/// pointed at this daemon) renames the log and sends SIGHUP; a transfer
/// running across the rotation and the ones after it land in the new file;
/// no line is lost.
#[test]
fn logrotate_rotates_the_xferlog_on_sighup_without_losing_lines() {
    require_tool("logrotate");
    let d = Daemon::start_with(DaemonConfig { xferlog: true, ..DaemonConfig::default() });
    let small = pattern_bytes(10_000, 6);
    write(d.disk("alice/small.bin"), &small);
    let slow = pattern_bytes(1_500_000, 7);
    let local = d.scratch("rot");
    let user = alice();
    let get = |name: &str, to: &str| {
        let out = curl(&d, &["-u", &user, "-o", local.join(to).to_str().unwrap(), &d.url(name)]);
        out.assert_success("download");
    };
    for i in 0..3 {
        get("/small.bin", &format!("a{i}"));
    }
    wait_lines(&d.xferlog(), 3);

    // A transfer in progress across the rotation: an upload the client
    // paces (about 3 s at 500 KB/s), so the server is still receiving it. (A
    // paced download would not do: the server hands the whole file to the
    // socket at once and is done long before the client.)
    let slow_in = local.join("slow.bin");
    write(&slow_in, &slow);
    let mut running =
        spawn_curl(&d, &["-u", &user, "--limit-rate", "500k", "-T", slow_in.to_str().unwrap(), &d.url("/slow.bin")]);
    // About a second in; atomic uploads appear under their name only at the end.
    std::thread::sleep(Duration::from_secs(1));
    assert!(running.try_wait().unwrap().is_none() && !d.disk("alice/slow.bin").exists(), "the upload is under way");

    let dist =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/logrotate/oxftpd")).unwrap();
    assert!(dist.contains("/var/log/oxftpd/xferlog {") && dist.contains("su oxftpd oxftpd"), "{dist}");
    let conf = dist
        .replace("/var/log/oxftpd/xferlog", d.xferlog().to_str().unwrap())
        .replace("su oxftpd oxftpd", "su root root")
        .replace("systemctl reload oxftpd.service", &format!("kill -HUP {}", d.pid()));
    let conf_path = d.dir().join("logrotate.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let out = run(
        Command::new("logrotate").arg("-v").arg("-f").arg("-s").arg(d.dir().join("logrotate.state")).arg(&conf_path),
        TIMEOUT,
    );
    out.assert_success("logrotate -f");
    let rotated = PathBuf::from(format!("{}.1", d.xferlog().display()));
    assert!(rotated.is_file(), "logrotate made no {}:\n{}", rotated.display(), out.dump());
    // nocreate: the new file appears when oxftpd reopens it on SIGHUP.
    wait_until(Duration::from_secs(15), "oxftpd to reopen the xferlog", || d.xferlog().is_file());

    let status = wait_child(&mut running, TIMEOUT);
    assert!(status.success(), "the upload across the rotation failed");
    assert!(read(d.disk("alice/slow.bin")) == slow, "the upload across the rotation arrived different");
    for i in 0..2 {
        get("/small.bin", &format!("b{i}"));
    }
    let new = wait_lines(&d.xferlog(), 3);
    let old = lines(&rotated);
    assert_eq!(old.len(), 3, "old file: {old:#?}");
    let files = |l: &[String]| l.iter().map(|l| parse(l).file).collect::<Vec<_>>();
    assert_eq!(files(&old), ["/small.bin"; 3]);
    assert_eq!(files(&new), ["/slow.bin", "/small.bin", "/small.bin"], "new file: {new:#?}");
    assert!(d.log().contains("xferlog reopened"), "{}", d.log());
}

/// Starts curl without waiting for it.
fn spawn_curl(d: &Daemon, args: &[&str]) -> Child {
    Command::new("curl")
        .args(["-q", "-sS", "--max-time", "60", "--connect-timeout", "10"])
        .args(args)
        .env("HOME", d.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn curl")
}

/// Waits (bounded) for a child; kills it and fails on timeout.
fn wait_child(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            if !status.success() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                eprintln!("child failed: {err}");
            }
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// Certificate reload

/// The first certificate of a PEM file, as PEM text.
fn first_pem(text: &str) -> String {
    let start = text.find("-----BEGIN CERTIFICATE-----").expect("a certificate");
    let end = text[start..].find("-----END CERTIFICATE-----").expect("its end") + start;
    text[start..end].split_whitespace().collect()
}

/// The certificate a new TLS connection to `port` is shown, via `openssl
/// s_client` (`starttls_ftp`: explicit FTPS, AUTH TLS first).
fn presented(port: u16, starttls_ftp: bool) -> String {
    require_tool("openssl");
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "localhost"]);
    if starttls_ftp {
        cmd.args(["-starttls", "ftp"]);
    }
    let out = run(&mut cmd, Duration::from_secs(30));
    let text = out.stdout_str();
    assert!(text.contains("-----BEGIN CERTIFICATE-----"), "no certificate from port {port}\n{}", out.dump());
    first_pem(&text)
}

/// SIGHUP with new certificate files: every TLS listener (explicit FTPS,
/// implicit FTPS, the web client's HTTPS) shows the new certificate to new
/// connections, a download running across the reload completes intact, the
/// web client still logs in to its own daemon (its pin follows), and a
/// broken pair is refused with a log line while the new one stays.
#[test]
fn sighup_swaps_the_certificate_without_cutting_a_transfer() {
    let mut d = Daemon::start_with(DaemonConfig {
        tls: Some(TlsOptions { extra: vec![], implicit: true }),
        web: Some("listen = \"127.0.0.1:0\"\ntls = true\n".into()),
        ..DaemonConfig::default()
    });
    let web_port: u16 = d.web_url().rsplit(':').next().unwrap().parse().unwrap();
    let (port, implicit) = (d.port(), d.implicit_port());
    let old = first_pem(&std::fs::read_to_string(&d.pki().server_cert).unwrap());
    for (p, starttls) in [(port, true), (implicit, false), (web_port, false)] {
        assert_eq!(presented(p, starttls), old, "before the reload, port {p}");
    }

    // A protected upload in progress, paced by the client (about 4 s at
    // 500 KB/s), so the server is still reading it when it reloads.
    let big = pattern_bytes(2_000_000, 8);
    let local = d.scratch("tls").join("big.bin");
    write(&local, &big);
    let ca = d.pki().ca.to_str().unwrap().to_string();
    let user = alice();
    let mut running = spawn_curl(
        &d,
        &[
            "--ssl-reqd",
            "--tls-max",
            "1.2",
            "--cacert",
            &ca,
            "-u",
            &user,
            "--limit-rate",
            "500k",
            "-T",
            local.to_str().unwrap(),
            &d.url("/big.bin"),
        ],
    );
    // About a second in; atomic uploads appear under their name only at the end.
    std::thread::sleep(Duration::from_secs(1));
    assert!(running.try_wait().unwrap().is_none() && !d.disk("alice/big.bin").exists(), "the upload is under way");

    // The new pair replaces the files in place (as certbot's deploy would).
    let next = certs::generate(&d.dir().join("pki-next"));
    std::fs::copy(&next.server_cert, &d.pki().server_cert).unwrap();
    std::fs::copy(&next.server_key, &d.pki().server_key).unwrap();
    let new = first_pem(&std::fs::read_to_string(&next.server_cert).unwrap());
    assert_ne!(new, old);
    d.send_sighup();
    wait_until(Duration::from_secs(15), "the reload log line", || d.log().contains("TLS certificate reloaded"));
    for (p, starttls) in [(port, true), (implicit, false), (web_port, false)] {
        assert_eq!(presented(p, starttls), new, "after the reload, port {p}");
    }
    assert!(
        running.try_wait().unwrap().is_none() && !d.disk("alice/big.bin").exists(),
        "the upload was still running after the reload"
    );
    let status = wait_child(&mut running, TIMEOUT);
    assert!(status.success(), "the FTPS upload across the reload failed\n{}", d.log());
    assert!(read(d.disk("alice/big.bin")) == big, "the upload across the reload arrived different");

    // New FTPS sessions work with the new certificate (trusting its CA).
    let again = d.scratch("tls2").join("big.bin");
    let next_ca = next.ca.to_str().unwrap().to_string();
    let out = curl(
        &d,
        &[
            "--ssl-reqd",
            "--tls-max",
            "1.2",
            "--cacert",
            &next_ca,
            "-u",
            &user,
            "-o",
            again.to_str().unwrap(),
            &d.url("/big.bin"),
        ],
    );
    out.assert_success("FTPS download after the reload");
    // The web client logs in to its own daemon over FTPS: its pin followed.
    web_login(&d, &next.ca);

    // A broken key: refused, logged, the new certificate stays.
    std::fs::write(&d.pki().server_key, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
    d.send_sighup();
    wait_until(Duration::from_secs(15), "the refusal log line", || {
        d.log().contains("TLS certificate not reloaded; the old one stays in use")
    });
    // A key that belongs to another certificate: refused too.
    std::fs::copy(&next.stray_key, &d.pki().server_key).unwrap();
    d.send_sighup();
    wait_until(Duration::from_secs(15), "the second refusal", || {
        d.log().matches("TLS certificate not reloaded").count() >= 2
    });
    assert!(d.log().contains("does not match private key"), "{}", d.log());
    for (p, starttls) in [(port, true), (implicit, false), (web_port, false)] {
        assert_eq!(presented(p, starttls), new, "after a refused reload, port {p}");
    }
}

/// Logs alice in through the web client over HTTPS (trusting `ca`).
fn web_login(d: &Daemon, ca: &Path) {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(ca).unwrap()).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .timeout(Duration::from_secs(30))
            .use_preconfigured_tls(tls)
            .build()
            .unwrap();
        let r = client
            .post(format!("{}/api/login", d.web_url()))
            .json(&serde_json::json!({ "user": "alice", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert_eq!(status, 200, "web login after the reload: {:?}\n{}", r.text().await, d.log());
    });
}

// ---------------------------------------------------------------------------
// Dropping root

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

/// The `Key:` line of a /proc status file, split into its values.
fn status_field(status: &str, key: &str) -> Vec<String> {
    let line = status.lines().find(|l| l.starts_with(&format!("{key}:"))).unwrap_or_else(|| panic!("no {key} line"));
    line[key.len() + 1..].split_whitespace().map(str::to_string).collect()
}

/// Started as root with `run_as`: every thread runs as the user (real,
/// effective, saved and file-system ids), with its groups and no
/// capabilities; uploads and the xferlog belong to it; SIGHUP re-reads the
/// users file and reopens the xferlog as it.
#[test]
fn started_as_root_with_run_as_the_daemon_becomes_that_user() {
    if !root_or_skip() {
        return;
    }
    let user = nix::unistd::User::from_name(TEST_USER)
        .unwrap()
        .unwrap_or_else(|| panic!("no user {TEST_USER}: scripts/test creates it"));
    let extra = nix::unistd::Group::from_name(TEST_GROUP_EXTRA)
        .unwrap()
        .unwrap_or_else(|| panic!("no group {TEST_GROUP_EXTRA}: scripts/test creates it"));
    let (uid, gid) = (user.uid.as_raw().to_string(), user.gid.as_raw().to_string());
    // A port below 1024: only root can bind it, before the switch.
    let low = (700..1000u16)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below 1024");
    let mut d = Daemon::start_with(DaemonConfig {
        run_as: Some(TEST_USER.into()),
        xferlog: true,
        server_extra: vec![format!("listen = [\"127.0.0.1:{low}\"]")],
        ..DaemonConfig::default()
    });
    assert_eq!(d.port(), low);
    let tasks: Vec<PathBuf> = std::fs::read_dir(format!("/proc/{}/task", d.pid()))
        .unwrap()
        .map(|t| t.unwrap().path().join("status"))
        .collect();
    assert!(tasks.len() > 1, "a multi-threaded daemon");
    for task in &tasks {
        let status = std::fs::read_to_string(task).unwrap();
        assert_eq!(status_field(&status, "Uid"), [uid.as_str(); 4], "{}", task.display());
        assert_eq!(status_field(&status, "Gid"), [gid.as_str(); 4], "{}", task.display());
        let groups = status_field(&status, "Groups");
        assert!(groups.contains(&extra.gid.as_raw().to_string()), "initgroups: {groups:?}");
        assert!(!groups.contains(&"0".to_string()), "root's group kept: {groups:?}");
        assert_eq!(status_field(&status, "CapEff"), ["0000000000000000"], "{}", task.display());
        assert_eq!(status_field(&status, "CapPrm"), ["0000000000000000"], "{}", task.display());
    }
    // The log line may follow the listener's first accept: wait for it.
    wait_until(Duration::from_secs(15), "the switch's log line", || {
        d.log().contains("switched to an unprivileged user")
    });

    let local = d.scratch("up");
    write(local.join("u.bin"), pattern_bytes(5000, 9));
    let out = curl(&d, &["-u", &alice(), "-T", local.join("u.bin").to_str().unwrap(), &d.url("/u.bin")]);
    out.assert_success("upload as the run_as user");
    let meta = std::fs::metadata(d.disk("alice/u.bin")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (user.uid.as_raw(), user.gid.as_raw()), "the upload's owner");
    wait_lines(&d.xferlog(), 1);
    assert_eq!(std::fs::metadata(d.xferlog()).unwrap().uid(), user.uid.as_raw(), "the xferlog's owner");

    // SIGHUP as that user: the users file is re-read, the xferlog reopened
    // (a new file, created by the user in its log directory).
    std::fs::rename(d.xferlog(), d.dir().join("logs/xferlog.1")).unwrap();
    d.send_sighup();
    wait_until(Duration::from_secs(15), "the reload", || {
        d.log().contains("xferlog reopened") && d.log().contains("users file reloaded")
    });
    assert_eq!(std::fs::metadata(d.xferlog()).unwrap().uid(), user.uid.as_raw(), "the reopened xferlog's owner");
}

/// `run_as` that cannot read the storage root: start-up fails with one
/// clear message naming the key and what to do.
#[test]
fn run_as_without_access_to_the_storage_root_fails_at_start() {
    if !root_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("srv")).unwrap();
    // A directory only root may enter: the user cannot reach srv.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let config = dir.path().join("oxftpd.toml");
    std::fs::write(
        &config,
        format!("[server]\nlisten = [\"127.0.0.1:0\"]\nrun_as = \"{TEST_USER}\"\n[storage]\nroot = \"srv\"\n"),
    )
    .unwrap();
    let out = run(Command::new(common::daemon::oxftpd_bin()).arg("--config").arg(&config), TIMEOUT);
    assert_eq!(out.code(), Some(1), "{}", out.dump());
    assert!(
        out.stderr_str().contains(&format!("server.run_as = \"{TEST_USER}\" cannot read storage.root")),
        "{}",
        out.dump()
    );
}

// ---------------------------------------------------------------------------
// systemd

/// READY=1 comes once the listeners are bound (its status names the bound
/// port, which accepts connections); SIGHUP gives RELOADING=1 then READY=1;
/// SIGTERM gives STOPPING=1.
#[test]
fn systemd_hears_ready_reloading_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let sock_dir = tempfile::tempdir().unwrap();
    let sock_path = sock_dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut d = Daemon::start_with(DaemonConfig {
        env: vec![("NOTIFY_SOCKET".into(), sock_path.to_str().unwrap().into())],
        ..DaemonConfig::default()
    });
    let recv = || {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).expect("a notification within 20 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let ready = recv();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert!(ready.contains(&format!("STATUS=listening on 127.0.0.1:{}", d.port())), "{ready:?}");
    std::net::TcpStream::connect(("127.0.0.1", d.port())).expect("the listener is bound when READY=1 is sent");

    d.send_sighup();
    let reloading = recv();
    assert!(reloading.lines().any(|l| l == "RELOADING=1"), "{reloading:?}");
    assert!(reloading.lines().any(|l| l.starts_with("MONOTONIC_USEC=")), "{reloading:?}");
    let done = recv();
    assert!(done.lines().any(|l| l == "READY=1"), "{done:?}");

    d.send_sigterm();
    let stopping = recv();
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping:?}");
    assert!(d.wait_exit(Duration::from_secs(30)).is_some_and(|s| s.success()), "clean exit");
}

/// dist/oxftpd.service passes `systemd-analyze verify`, with ExecStart
/// pointed at the binary under test (verify checks that it exists).
#[test]
fn the_systemd_unit_verifies() {
    require_tool("systemd-analyze");
    let unit =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/oxftpd.service")).unwrap();
    for needed in [
        "Type=notify",
        "User=oxftpd",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=",
        "PrivateTmp=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.lines().any(|l| l.starts_with(needed)), "the unit lacks {needed}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oxftpd.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/oxftpd", &common::daemon::oxftpd_bin())).unwrap();
    let out = run(Command::new("systemd-analyze").arg("verify").arg(&path), TIMEOUT);
    out.assert_success("systemd-analyze verify");
    assert!(out.stderr_str().trim().is_empty(), "systemd-analyze verify complained:\n{}", out.dump());
}
