//! End-to-end tests of accounts and limits: per-directory permissions,
//! quotas, bandwidth, per-address session limits, bans, the global address
//! rules, and the JSON and PAM authentication backends, all through real
//! clients against the `oxftpd` binary, with results checked on disk.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{Control, Daemon, DaemonConfig, Outcome, PASSWORD, pattern_bytes, read, require_tool, run, write};

const TIMEOUT: Duration = Duration::from_secs(60);

fn curl(d: &Daemon, args: &[&str]) -> Outcome {
    require_tool("curl");
    let mut cmd = Command::new("curl");
    cmd.args(["-q", "-sS", "--max-time", "45", "--connect-timeout", "10"]).args(args).env("HOME", d.dir());
    run(&mut cmd, TIMEOUT)
}

fn connect(d: &Daemon) -> Control {
    Control::connect(d.port(), Duration::from_secs(15)).expect("connect to oxftpd")
}

/// A `[[user]]` table with the test password.
fn account(name: &str, home: &str, extra: &str) -> String {
    let hash = common::daemon::password_hash();
    format!("\n[[user]]\nname = \"{name}\"\npassword_hash = \"{hash}\"\nclass = \"guest\"\nhome = \"{home}\"\n{extra}")
}

/// The first reply line a fresh connection gets.
fn greeting(port: u16) -> String {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut line = String::new();
    let _ = BufReader::new(stream).read_line(&mut line);
    line
}

#[test]
fn per_directory_permissions_are_enforced() {
    let users = account(
        "perm",
        "/perm",
        "permissions = [\"list\", \"read\"]\n\
         [[user.dir]]\npath = \"/upload\"\npermissions = [\"list\", \"read\", \"upload\", \"overwrite\", \"delete\"]\n\
         [[user.dir]]\npath = \"/archive\"\npermissions = [\"list\", \"read\", \"upload\", \"rename\"]\n",
    );
    let d = Daemon::start_with(DaemonConfig { users_extra: users, ..DaemonConfig::default() });
    for sub in ["perm/upload", "perm/archive"] {
        std::fs::create_dir_all(d.disk(sub)).unwrap();
    }
    write(d.disk("perm/readme.txt"), b"read me");
    write(d.disk("perm/archive/old.txt"), b"keep me");
    let local = d.scratch("perm").join("up.txt");
    write(&local, b"uploaded");
    let user = format!("perm:{PASSWORD}");
    let up = |path: &str| curl(&d, &["-u", &user, "-T", local.to_str().unwrap(), &d.url(path)]);

    // Read-only at the top.
    let out = curl(&d, &["-u", &user, &d.url("/readme.txt")]);
    out.assert_success("download at the top");
    assert_eq!(out.stdout_str(), "read me");
    let out = up("/top.txt");
    assert!(!out.success(), "upload at the top must fail: {}", out.dump());
    assert!(!d.disk("perm/top.txt").exists());
    let out = curl(&d, &["-u", &user, "-Q", "-DELE readme.txt", &d.url("/")]);
    assert!(!out.success(), "delete at the top must fail: {}", out.dump());
    assert!(d.disk("perm/readme.txt").exists());

    // /upload: uploads and deletes allowed.
    up("/upload/a.txt").assert_success("upload into /upload");
    assert_eq!(read(d.disk("perm/upload/a.txt")), b"uploaded");
    curl(&d, &["-u", &user, "-Q", "-DELE a.txt", &d.url("/upload/")]).assert_success("delete in /upload");
    assert!(!d.disk("perm/upload/a.txt").exists());

    // /archive: uploads but no deletes.
    up("/archive/new.txt").assert_success("upload into /archive");
    assert_eq!(read(d.disk("perm/archive/new.txt")), b"uploaded");
    let out = curl(&d, &["-u", &user, "-Q", "-DELE old.txt", &d.url("/archive/")]);
    assert!(!out.success(), "delete in /archive must fail: {}", out.dump());
    assert_eq!(read(d.disk("perm/archive/old.txt")), b"keep me");

    // lftp sees the same rules.
    require_tool("lftp");
    let script = format!(
        "set cmd:fail-exit no; open -u perm,{PASSWORD} 127.0.0.1:{}; mkdir /newdir; rm /archive/new.txt; \
         put {} -o /upload/lftp.txt; bye",
        d.port(),
        local.display()
    );
    let out = run(Command::new("lftp").args(["-c", &script]).env("HOME", d.dir()), TIMEOUT);
    assert!(!d.disk("perm/newdir").exists(), "mkdir at the top must fail: {}", out.dump());
    assert!(d.disk("perm/archive/new.txt").exists(), "rm in /archive must fail: {}", out.dump());
    assert_eq!(read(d.disk("perm/upload/lftp.txt")), b"uploaded", "{}", out.dump());
}

#[test]
fn upload_over_quota_fails_and_leaves_nothing() {
    let users = account("quota", "/quota", "quota_bytes = 100000\n");
    let d = Daemon::start_with(DaemonConfig { users_extra: users, ..DaemonConfig::default() });
    std::fs::create_dir_all(d.disk("quota")).unwrap();
    let local = d.scratch("quota");
    write(local.join("small.bin"), pattern_bytes(50_000, 1));
    write(local.join("big.bin"), pattern_bytes(200_000, 2));
    let user = format!("quota:{PASSWORD}");
    curl(&d, &["-u", &user, "-T", local.join("small.bin").to_str().unwrap(), &d.url("/small.bin")])
        .assert_success("upload within quota");
    let out = curl(&d, &["-u", &user, "-T", local.join("big.bin").to_str().unwrap(), &d.url("/big.bin")]);
    // 552 maps to curl's "disk full" (70); older curls report a failed upload (25).
    assert!(matches!(out.code(), Some(25 | 70)), "expected curl to report 552: {}", out.dump());
    assert!(d.log().contains("552") || out.stderr_str().contains("storage allocation"), "{}", out.dump());
    let names: Vec<String> = std::fs::read_dir(d.disk("quota"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["small.bin".to_string()], "nothing of the refused upload stays on disk");
}

#[test]
fn downloads_follow_the_server_rate() {
    let d = Daemon::start_with(DaemonConfig {
        server_extra: vec!["download_rate = 1048576".into()],
        ..DaemonConfig::default()
    });
    write(d.disk("alice/four.bin"), pattern_bytes(4 * 1024 * 1024, 3));
    let out_file = d.scratch("rate").join("four.bin");
    let started = Instant::now();
    curl(&d, &["-u", &format!("alice:{PASSWORD}"), "-o", out_file.to_str().unwrap(), &d.url("/four.bin")])
        .assert_success("rate-limited download");
    let took = started.elapsed();
    assert_eq!(std::fs::metadata(&out_file).unwrap().len(), 4 * 1024 * 1024);
    assert!(took >= Duration::from_secs(3) && took <= Duration::from_secs(8), "4 MiB at 1 MiB/s took {took:?}");
}

#[test]
fn eleventh_connection_from_one_address_gets_421() {
    let d = Daemon::start_with(DaemonConfig {
        server_extra: vec!["max_sessions_per_ip = 10".into()],
        ..DaemonConfig::default()
    });
    let mut held = Vec::new();
    for i in 0..10 {
        let mut c = connect(&d);
        let reply = c.reply().unwrap().expect("a greeting");
        assert_eq!(reply.code, 220, "connection {i}: {reply:?}");
        held.push(c);
    }
    assert!(greeting(d.port()).starts_with("421"), "the 11th connection must be refused");
    drop(held.pop());
    // The slot frees once the server has seen the close.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let line = greeting(d.port());
        if line.starts_with("220") {
            break;
        }
        assert!(Instant::now() < deadline, "a freed slot was not reused: {line:?}");
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn repeated_failures_ban_the_address_for_a_while() {
    let d = Daemon::start_with(DaemonConfig {
        extra_tables: "\n[ban]\nmax_failures = 3\nwindow = 60\nban_time = 2\n".into(),
        ..DaemonConfig::default()
    });
    let mut c = connect(&d);
    assert_eq!(c.reply().unwrap().expect("greeting").code, 220);
    for attempt in 1..=3 {
        c.expect("USER alice", 331);
        match c.cmd("PASS wrong") {
            Ok(Some(reply)) if reply.code == 530 => {}
            // The failure that triggers the ban may already say so.
            Ok(Some(reply)) if reply.code == 421 && attempt == 3 => {}
            other => panic!("attempt {attempt}: expected 530, got {other:?}"),
        }
    }
    drop(c);
    assert!(greeting(d.port()).starts_with("421"), "a banned address must get 421 at the greeting");
    thread::sleep(Duration::from_millis(2500));
    let mut c = connect(&d);
    c.login("alice", PASSWORD);
}

/// Runs a Python snippet; `PORT` in it is replaced by the daemon's port.
fn python(d: &Daemon, code: &str) -> Outcome {
    require_tool("python3");
    run(Command::new("python3").args(["-c", &code.replace("PORT", &d.port().to_string())]), TIMEOUT)
}

#[test]
fn denied_addresses_are_refused_at_the_greeting() {
    let d = Daemon::start_with(DaemonConfig {
        extra_tables: "\n[access]\nallow = [\"127.0.0.0/8\"]\ndeny = [\"127.0.0.2\"]\n".into(),
        ..DaemonConfig::default()
    });
    let script = "import socket\n\
        def hello(src):\n    \
            s = socket.socket()\n    \
            s.settimeout(10)\n    \
            s.bind((src, 0))\n    \
            s.connect(('127.0.0.1', PORT))\n    \
            line = s.makefile('rb').readline().decode()\n    \
            s.close()\n    \
            return line\n\
        print(hello('127.0.0.2')[:3], hello('127.0.0.3')[:3])";
    let out = python(&d, script);
    out.assert_success("python client");
    assert_eq!(out.stdout_str().trim(), "421 220", "{}", out.dump());
}

/// An unFTP-style PBKDF2 user, computed by Python's hashlib.
fn pbkdf2_user(name: &str, password: &str) -> String {
    let script = "import base64,hashlib,sys\n\
        salt = b'\\x01salt\\xfe'\n\
        key = hashlib.pbkdf2_hmac('sha256', sys.argv[1].encode(), salt, 1000)\n\
        print(base64.b64encode(salt).decode(), base64.b64encode(key).decode())";
    let out = run(Command::new("python3").args(["-c", script, password]), TIMEOUT);
    out.assert_success("python3 pbkdf2");
    let text = out.stdout_str();
    let mut parts = text.split_whitespace();
    let (salt, key) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    format!(
        r#"{{"username": "{name}", "pbkdf2_salt": "{salt}", "pbkdf2_key": "{key}", "pbkdf2_iter": 1000, "root": "/alice"}}"#
    )
}

#[test]
fn json_backend_logs_in_and_reloads_on_sighup() {
    require_tool("python3");
    let users = |extra: &str| {
        format!(
            r#"[{{"username": "jay", "password": "jay-pw", "root": "/alice"}}, {}{extra}]"#,
            pbkdf2_user("pat", "pat-pw")
        )
    };
    // An absolute json_file outside the daemon's tree, rewritten for the reload.
    let holder = tempfile::tempdir().unwrap();
    let json_path = holder.path().join("users.json");
    std::fs::write(&json_path, users("")).unwrap();
    let mut d = Daemon::start_with(DaemonConfig {
        no_users_file: true,
        extra_tables: format!("\n[auth]\nbackend = \"json\"\njson_file = {:?}\n", json_path.display().to_string()),
        ..DaemonConfig::default()
    });
    write(d.disk("alice/hello.txt"), b"hi");
    let out = curl(&d, &["-u", "jay:jay-pw", &d.url("/hello.txt")]);
    out.assert_success("plaintext JSON user");
    assert_eq!(out.stdout_str(), "hi");
    curl(&d, &["-u", "pat:pat-pw", &d.url("/hello.txt")]).assert_success("pbkdf2 JSON user");
    assert_eq!(curl(&d, &["-u", "pat:wrong", &d.url("/hello.txt")]).code(), Some(67));
    assert_eq!(curl(&d, &["-u", "kim:kim-pw", &d.url("/hello.txt")]).code(), Some(67));

    // An open session survives a reload that adds a user.
    let mut session = connect(&d);
    session.login("jay", "jay-pw");
    std::fs::write(&json_path, users(r#", {"username": "kim", "password": "kim-pw", "root": "/alice"}"#)).unwrap();
    d.send_sighup();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = curl(&d, &["-u", "kim:kim-pw", &d.url("/hello.txt")]);
        if out.success() {
            break;
        }
        assert!(Instant::now() < deadline, "kim cannot log in after SIGHUP: {}\n{}", out.dump(), d.log());
        thread::sleep(Duration::from_millis(200));
    }
    session.expect("NOOP", 200);
    session.expect("PWD", 257);
}

fn pam_available() -> bool {
    std::env::var("OXFTP_REQUIRE_PAM").as_deref() == Ok("1") || std::path::Path::new("/etc/pam.d/oxftp-test").exists()
}

#[test]
fn pam_backend_checks_system_passwords() {
    if !pam_available() {
        eprintln!("SKIPPED: /etc/pam.d/oxftp-test is missing (scripts/pam-setup creates it)");
        return;
    }
    let d = Daemon::start_with(DaemonConfig {
        no_users_file: true,
        extra_tables: "\n[auth]\nbackend = \"pam\"\n[auth.pam]\nservice = \"oxftp-test\"\nhome = \"/alice\"\n".into(),
        ..DaemonConfig::default()
    });
    write(d.disk("alice/hello.txt"), b"pam hi");
    let out = curl(&d, &["-u", "oxftp-pam-test:oxftp-pam-test-pw", &d.url("/hello.txt")]);
    out.assert_success("PAM login");
    assert_eq!(out.stdout_str(), "pam hi");
    let out = curl(&d, &["-u", "oxftp-pam-test:wrong", &d.url("/hello.txt")]);
    assert_eq!(out.code(), Some(67), "{}", out.dump());

    let bad = d.dir().join("nosuch.toml");
    std::fs::write(&bad, "[storage]\nroot = \".\"\n[auth]\nbackend = \"pam\"\n[auth.pam]\nservice = \"nosuch\"\n")
        .unwrap();
    let out = run(Command::new(common::daemon::oxftpd_bin()).arg("check-config").arg(&bad), TIMEOUT);
    assert!(!out.success(), "check-config must refuse an unknown PAM service");
    assert!(out.stderr_str().contains("auth.pam") && out.stderr_str().contains("nosuch"), "{}", out.dump());
}

#[test]
fn toml_users_file_reloads_on_sighup_without_dropping_sessions() {
    let mut d = Daemon::start();
    let mut session = connect(&d);
    session.login("alice", PASSWORD);
    let users = d.dir().join("users.toml");
    let mut text = std::fs::read_to_string(&users).unwrap();
    assert!(!text.contains("\"newbie\""));
    text.push_str(&account("newbie", "/alice", ""));
    std::fs::write(&users, text).unwrap();
    d.send_sighup();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = curl(&d, &["-u", &format!("newbie:{PASSWORD}"), &d.url("/")]);
        if out.success() {
            break;
        }
        assert!(Instant::now() < deadline, "newbie cannot log in after SIGHUP: {}\n{}", out.dump(), d.log());
        thread::sleep(Duration::from_millis(200));
    }
    session.expect("NOOP", 200);
    // A broken file is refused and the accounts stay.
    std::fs::write(&users, "[[user]]\nname = 5\n").unwrap();
    d.send_sighup();
    thread::sleep(Duration::from_millis(500));
    curl(&d, &["-u", &format!("newbie:{PASSWORD}"), &d.url("/")]).assert_success("accounts survive a broken reload");
    assert!(d.log().contains("not reloaded"), "{}", d.log());
}

/// "user" and "guest" as the seed defines them: a user (`uma`, on the
/// default root) reaches the whole served tree and starts in its home; its
/// per-directory permissions say what it may do where (`ula`: only list and
/// read in /guest). A guest (`gina`) is confined to its home: every way out
/// lands back inside.
#[test]
fn a_user_reaches_the_whole_tree_from_its_home_and_a_guest_never_leaves_its_own() {
    let ula = "\n[[user]]\nname = \"ula\"\npassword_hash = \"HASH\"\nclass = \"user\"\nhome = \"/alice\"\n\
               [[user.dir]]\npath = \"/guest\"\npermissions = [\"list\", \"read\"]\n"
        .replace("HASH", common::daemon::password_hash());
    let d = Daemon::start_with(DaemonConfig { users_extra: ula, ..DaemonConfig::default() });
    write(d.disk("guest/g.txt"), b"guest file\n");
    write(d.disk("alice/a.txt"), b"alice file\n");

    let mut uma = connect(&d);
    uma.login("uma", PASSWORD);
    assert!(uma.expect("PWD", 257).lines[0].contains("\"/alice\""), "a user starts in its home");
    uma.expect("CWD /guest", 250);
    uma.expect("SIZE g.txt", 213);
    uma.expect("CDUP", 250);
    assert!(uma.expect("PWD", 257).lines[0].contains("\"/\""));
    uma.expect("SIZE pub/incoming", 550);
    uma.expect("MKD /guest/made-by-uma", 257);
    assert!(d.disk("guest/made-by-uma").is_dir());

    let mut ula = connect(&d);
    ula.login("ula", PASSWORD);
    ula.expect("CWD /guest", 250);
    ula.expect("SIZE g.txt", 213);
    let refused = ula.expect("MKD /guest/not-allowed", 550);
    assert!(refused.lines[0].contains("'mkdir' permission"), "{refused:?}");
    ula.expect("MKD /alice/allowed", 257);

    let mut gina = connect(&d);
    gina.login("gina", PASSWORD);
    assert!(gina.expect("PWD", 257).lines[0].contains("\"/\""), "a guest's home is its /");
    for way_out in ["CWD /alice", "CWD ../alice", "CWD /../../alice"] {
        gina.expect(way_out, 550);
    }
    gina.expect("CDUP", 250);
    assert!(gina.expect("PWD", 257).lines[0].contains("\"/\""));
    gina.expect("SIZE g.txt", 213);
    gina.expect("SIZE /alice/a.txt", 550);
}
