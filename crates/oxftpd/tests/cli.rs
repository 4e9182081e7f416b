//! The `oxftpd` binary as an administrator runs it: `check-config`,
//! `hash-password`, and starting, announcing and stopping the server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use oxftp_core::auth::{AuthError, Authenticator, Credentials};

/// Upper bound for any single step; a hang fails the test instead of stalling CI.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

fn oxftpd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oxftpd"))
}

/// Runs `cmd` to completion (no stdin) and returns what it printed.
fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run oxftpd")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A directory with a storage root and a config file using it.
fn setup(config: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("srv/pub")).expect("storage tree");
    let path = dir.path().join("oxftpd.toml");
    std::fs::write(&path, config).expect("write config");
    (dir, path)
}

#[test]
fn check_config_accepts_a_good_file() {
    let (_dir, path) = setup(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[storage]\nroot = \"srv\"\n[anonymous]\nenabled = true\nroot = \"/pub\"\n",
    );
    let out = run(oxftpd().arg("check-config").arg(&path));
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{}: OK\n", path.display()));
}

#[test]
fn check_config_lists_every_problem_with_line_and_key() {
    let (_dir, path) = setup(
        "[server]\nlisten = [\"127.0.0.1\"]\nidle_timeout = 0\n\n[storage]\nroot = \"missing\"\n\n[log]\nlevel = \"chatty\"\n",
    );
    let out = run(oxftpd().arg("check-config").arg(&path));
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing on stdout: {}", text(&out.stdout));
    let stderr = text(&out.stderr);
    let file = path.display();
    for expected in [
        format!("{file}:2: server.listen: expected \"IP:PORT\""),
        format!("{file}:3: server.idle_timeout: expected seconds from 1"),
        format!("{file}:6: storage.root: "),
        format!("{file}:9: log.level: expected \"error\""),
    ] {
        assert!(stderr.contains(&expected), "missing {expected:?} in:\n{stderr}");
    }
}

#[test]
fn check_config_reports_unknown_keys_and_users_file_errors() {
    let (dir, path) = setup("[server]\ngreting = \"typo\"\n");
    let out = run(oxftpd().arg("check-config").arg(&path));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("{}:2: server.greting: unknown field", path.display())), "{stderr}");

    let users = dir.path().join("users.toml");
    std::fs::write(&users, "[[user]]\nname = \"alice\"\npassword_hash = \"plain\"\n").expect("write users");
    std::fs::write(&path, "[users]\nfile = \"users.toml\"\n").expect("write config");
    let out = run(oxftpd().arg("check-config").arg(&path));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("{}:3: user.password_hash: ", users.display())), "{stderr}");
}

#[test]
fn check_config_of_a_missing_file_fails() {
    let out = run(oxftpd().args(["check-config", "/nonexistent/oxftpd.toml"]));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot read config file"), "{}", text(&out.stderr));
}

/// Checks `hash` the way the daemon will: through a users file.
fn assert_hash_accepts(hash: &str, password: &str) {
    let auth =
        oxftp_auth_file::FileAuthenticator::from_toml(&format!("[[user]]\nname = \"u\"\npassword_hash = \"{hash}\"\n"))
            .expect("the printed hash loads in a users file");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let creds = |pw: &str| Credentials::new("u", pw, "127.0.0.1:1".parse().unwrap());
    runtime.block_on(async {
        let identity = auth.authenticate(&creds(password)).await.expect("the right password logs in");
        assert_eq!(identity.user, "u");
        let wrong = auth.authenticate(&creds("not-the-password")).await;
        assert!(matches!(wrong, Err(AuthError::BadPassword)), "{wrong:?}");
    });
}

#[test]
fn hash_password_from_the_option() {
    let out = run(oxftpd().args(["hash-password", "--password", "Tr0ub4dor&3"]));
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let hash = stdout.trim_end();
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert_eq!(stdout.lines().count(), 1);
    assert_hash_accepts(hash, "Tr0ub4dor&3");
}

#[test]
fn hash_password_from_stdin_takes_one_line() {
    let mut child = oxftpd()
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(b"correct horse\r\nignored\n").expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_hash_accepts(text(&out.stdout).trim_end(), "correct horse");
}

#[test]
fn hash_password_refuses_an_empty_password() {
    let out = oxftpd().arg("hash-password").stdin(Stdio::piped()).output().expect("run");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("empty password"), "{}", text(&out.stderr));
}

/// A running daemon whose stdout lines arrive on a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(args: &[&str], cwd: &Path) -> Running {
        Running::start_cmd(oxftpd(), args, cwd)
    }

    fn start_cmd(mut cmd: Command, args: &[&str], cwd: &Path) -> Running {
        let mut child = cmd
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn oxftpd");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        Running { child, lines }
    }

    fn next_line(&self) -> String {
        self.lines.recv_timeout(STEP_TIMEOUT).expect("oxftpd printed a line in time")
    }

    /// Sends SIGTERM and waits (bounded) for the exit code.
    fn terminate(mut self) -> Option<i32> {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "oxftpd did not exit after SIGTERM");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listening(line: &str) -> SocketAddr {
    line.strip_prefix("oxftpd listening on ")
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("expected 'oxftpd listening on ADDR', got {line:?}"))
}

/// Reads the 220 greeting from `addr`.
fn greeting(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect_timeout(&addr, STEP_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(STEP_TIMEOUT)).expect("timeout");
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).expect("read greeting");
    text(&buf[..n])
}

/// `oxftpd` run by an unprivileged user. When the tests run as root (as CI
/// does) that is `nobody`, running a copy of the binary from a directory it
/// can enter (the build directory may be closed to others); the directory
/// is returned to keep it alive.
fn as_normal_user() -> (Command, Option<tempfile::TempDir>) {
    use std::os::unix::fs::PermissionsExt as _;
    use std::os::unix::process::CommandExt as _;
    if !nix::unistd::Uid::effective().is_root() {
        return (oxftpd(), None);
    }
    let nobody = nix::unistd::User::from_name("nobody").expect("look up nobody").expect("user nobody exists");
    let bin_dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(bin_dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let bin = bin_dir.path().join("oxftpd");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_oxftpd"), &bin).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_oxftpd"), &bin).expect("copy the binary");
    }
    let mut cmd = Command::new(&bin);
    cmd.uid(nobody.uid.as_raw()).gid(nobody.gid.as_raw());
    (cmd, Some(bin_dir))
}

#[test]
fn bare_oxftpd_serves_the_current_directory_and_stops_on_sigterm() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temp dir");
    // A normal user's directory, readable by others.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (cmd, _bin_dir) = as_normal_user();
    let running = Running::start_cmd(cmd, &["--listen", "127.0.0.1:0"], dir.path());
    let addr = listening(&running.next_line());
    assert_ne!(addr.port(), 0, "the real bound port is printed");
    let hint = running.next_line();
    let root = dir.path().canonicalize().expect("canonical");
    assert!(hint.starts_with(&format!("Serving {} read-only to anonymous on ftp://{addr}/", root.display())), "{hint}");
    assert!(hint.contains(&format!("curl ftp://{addr}/")), "{hint}");
    assert!(greeting(addr).starts_with("220"));
    assert_eq!(running.terminate(), Some(0));
}

/// A newcomer who runs the no-config command as root (a fresh VM, a
/// container) is served, with a warning in the log; a config run as root must
/// choose run_as or allow_root.
#[test]
fn bare_oxftpd_as_root_serves_read_only_and_a_config_must_choose() {
    if !nix::unistd::Uid::effective().is_root() {
        assert!(std::env::var_os("OXFTP_REQUIRE_ROOT_TESTS").is_none(), "OXFTP_REQUIRE_ROOT_TESTS is set but not root");
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("hello.txt"), b"hello").expect("write");
    let running = Running::start_cmd(oxftpd(), &["--listen", "127.0.0.1:0"], dir.path());
    let addr = listening(&running.next_line());
    assert!(greeting(addr).starts_with("220"));
    assert_eq!(running.terminate(), Some(0));

    // With a config but neither run_as nor allow_root: one line naming both keys.
    let (_dir, path) = setup("[server]\nlisten = [\"127.0.0.1:0\"]\n[storage]\nroot = \"srv\"\n");
    let out = run(oxftpd().arg("--config").arg(&path));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("refusing to run as root") && err.contains("server.allow_root = true"), "{err}");
}

#[test]
fn check_config_looks_up_run_as() {
    let (_dir, path) =
        setup("[server]\nlisten = [\"127.0.0.1:0\"]\nrun_as = \"no-such-user-oxftpd\"\n[storage]\nroot = \"srv\"\n");
    let out = run(oxftpd().arg("check-config").arg(&path));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{}:3: server.run_as: no user \"no-such-user-oxftpd\"", path.display())), "{err}");
    let (_dir, path) = setup("[server]\nrun_as = \"nobody\"\n[storage]\nroot = \"srv\"\n");
    let out = run(oxftpd().arg("check-config").arg(&path));
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn configured_daemon_announces_every_listener() {
    let (dir, path) = setup(
        "[server]\nlisten = [\"127.0.0.1:0\", \"127.0.0.1:0\"]\ngreeting = \"hello from the config\"\nallow_root = true\n\
         [storage]\nroot = \"srv\"\n[log]\nformat = \"json\"\n",
    );
    let config = path.to_str().expect("utf-8 temp path");
    let running = Running::start(&["--config", config], dir.path());
    let first = listening(&running.next_line());
    let second = listening(&running.next_line());
    assert_ne!(first, second);
    for addr in [first, second] {
        let hello = greeting(addr);
        assert!(hello.starts_with("220") && hello.contains("hello from the config"), "{hello}");
    }
    assert_eq!(running.terminate(), Some(0));
}

#[test]
fn serving_with_a_bad_config_exits_with_the_errors() {
    let (_dir, path) = setup("[server]\nmax_line = 1\n");
    let out = run(oxftpd().arg("--config").arg(&path));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains(&format!("{}:2: server.max_line", path.display())), "{}", text(&out.stderr));
}
