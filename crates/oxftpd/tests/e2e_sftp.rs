//! End-to-end tests of `[sftp]`: oxftpd serving SFTP next to FTP, on the
//! same storage, accounts and policies, driven by real clients: OpenSSH's
//! `sftp`, `scp` and `ssh`, `lftp sftp://`, `curl sftp://` (libssh2),
//! `rclone` and Python's paramiko; on local disk and on S3 (moto).
//!
//! The accounts are the harness's (alice a user in /alice, gina a guest in
//! /guest, ro read-only in /alice) plus `kay` (a key-only account in
//! /alice), `quo` (a 1000-byte quota in /quo) and `one` (one session at a
//! time, in /alice).

mod common;
#[path = "../../oxftp-opendal/tests/common/mod.rs"]
mod moto;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Control, Daemon, DaemonConfig, Outcome, PASSWORD, assert_same_tree, pattern_bytes, read, require_tool, run, write,
};
use moto::Moto;

const TIMEOUT: Duration = Duration::from_secs(120);

/// Options every OpenSSH client gets: no host key prompts or files, no
/// config or keys from the machine's user.
const SSH_OPTIONS: &[&str] = &[
    "-F",
    "/dev/null",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=20",
];

/// How a client logs in.
#[derive(Clone, Copy)]
enum Login<'a> {
    Password(&'a str),
    Key(&'a Path),
}

/// A client key pair made with ssh-keygen (in its own directory, so it can
/// be named in the users file before the daemon starts).
struct ClientKey {
    _dir: tempfile::TempDir,
    private: PathBuf,
    public: String,
}

impl ClientKey {
    fn new() -> ClientKey {
        require_tool("ssh-keygen");
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("id_ed25519");
        let out = run(
            Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", "e2e", "-f"]).arg(&private),
            TIMEOUT,
        );
        out.assert_success("ssh-keygen");
        let public = std::fs::read_to_string(private.with_extension("pub")).unwrap().trim().to_string();
        ClientKey { _dir: dir, private, public }
    }
}

/// The extra accounts (see the module doc).
fn users_extra(key: &ClientKey) -> String {
    let hash = common::daemon::password_hash();
    format!(
        "\n[[user]]\nname = \"kay\"\nhome = \"/alice\"\nauthorized_keys = [\"{}\"]\n\n\
         [[user]]\nname = \"quo\"\npassword_hash = \"{hash}\"\nhome = \"/quo\"\nquota_bytes = 1000\n\n\
         [[user]]\nname = \"one\"\npassword_hash = \"{hash}\"\nhome = \"/alice\"\nmax_sessions = 1\n\n\
         [[user]]\nname = \"slow\"\npassword_hash = \"{hash}\"\nhome = \"/alice\"\nupload_rate = 200000\n",
        key.public
    )
}

fn start(key: &ClientKey, tweak: impl FnOnce(&mut DaemonConfig)) -> Daemon {
    let mut config =
        DaemonConfig { sftp: Some(String::new()), users_extra: users_extra(key), ..DaemonConfig::default() };
    tweak(&mut config);
    let d = Daemon::start_with(config);
    std::fs::create_dir_all(d.disk("quo")).unwrap();
    d
}

/// A command with the login's credentials in front (sshpass for passwords).
fn with_login(program: &str, login: Login<'_>) -> Command {
    match login {
        Login::Password(pw) => {
            require_tool("sshpass");
            let mut c = Command::new("sshpass");
            c.args(["-p", pw, program]).args(SSH_OPTIONS);
            // sftp -b turns BatchMode on, which skips password prompts.
            c.args(["-o", "BatchMode=no", "-o", "PubkeyAuthentication=no"]);
            c
        }
        Login::Key(key) => {
            let mut c = Command::new(program);
            c.args(SSH_OPTIONS).arg("-i").arg(key);
            c.args(["-o", "BatchMode=yes", "-o", "PasswordAuthentication=no", "-o", "IdentitiesOnly=yes"]);
            c
        }
    }
}

/// `sftp -b -` with `batch` as `user`, run in `cwd`.
fn sftp(d: &Daemon, user: &str, login: Login<'_>, cwd: &Path, batch: &str) -> Outcome {
    require_tool("sftp");
    let file = cwd.join(".batch");
    write(&file, batch);
    let mut cmd = with_login("sftp", login);
    cmd.arg("-b").arg(&file).args(["-P", &d.sftp_port().to_string()]).arg(format!("{user}@127.0.0.1"));
    cmd.current_dir(cwd).env("HOME", d.dir());
    let out = run(&mut cmd, TIMEOUT);
    let _ = std::fs::remove_file(&file);
    out
}

/// `scp ARGS` (remote paths as `user@127.0.0.1:PATH`).
fn scp(d: &Daemon, login: Login<'_>, args: &[&str]) -> Outcome {
    require_tool("scp");
    let mut cmd = with_login("scp", login);
    cmd.args(["-P", &d.sftp_port().to_string()]).args(args).env("HOME", d.dir());
    run(&mut cmd, TIMEOUT)
}

/// `ssh ARGS user@127.0.0.1`.
fn ssh(d: &Daemon, user: &str, args: &[&str], command: &[&str]) -> Outcome {
    require_tool("ssh");
    let mut cmd = with_login("ssh", Login::Password(PASSWORD));
    cmd.args(["-p", &d.sftp_port().to_string()]).args(args).arg(format!("{user}@127.0.0.1")).args(command);
    cmd.env("HOME", d.dir());
    run(&mut cmd, Duration::from_secs(30))
}

/// rclone with an `sftp` remote named `x` for `user` (no config file).
fn rclone(d: &Daemon, user: &str, args: &[&str]) -> Outcome {
    require_tool("rclone");
    let obscured = run(Command::new("rclone").args(["obscure", PASSWORD]), TIMEOUT);
    obscured.assert_success("rclone obscure");
    let mut cmd = Command::new("rclone");
    cmd.args(args)
        .env("RCLONE_CONFIG", "/dev/null")
        .env("RCLONE_CONFIG_X_TYPE", "sftp")
        .env("RCLONE_CONFIG_X_HOST", "127.0.0.1")
        .env("RCLONE_CONFIG_X_PORT", d.sftp_port().to_string())
        .env("RCLONE_CONFIG_X_USER", user)
        .env("RCLONE_CONFIG_X_PASS", obscured.stdout_str().trim())
        // No shell on this server: rclone must not try to run md5sum there.
        .env("RCLONE_CONFIG_X_SHELL_TYPE", "none")
        .env("HOME", d.dir());
    run(&mut cmd, TIMEOUT)
}

/// curl over SFTP (libssh2), `-k`: no known_hosts check.
fn curl(d: &Daemon, args: &[&str]) -> Outcome {
    require_tool("curl");
    let mut cmd = Command::new("curl");
    cmd.args(["-q", "-sS", "-k", "--max-time", "100", "-u", &format!("alice:{PASSWORD}")])
        .args(args)
        .env("HOME", d.dir());
    run(&mut cmd, TIMEOUT)
}

fn sftp_url(d: &Daemon, path: &str) -> String {
    format!("sftp://127.0.0.1:{}{path}", d.sftp_port())
}

/// lftp's sftp:// (it runs OpenSSH's ssh underneath and types the password itself).
fn lftp(d: &Daemon, commands: &str) -> Outcome {
    require_tool("lftp");
    let connect = format!("ssh -a -x {}", SSH_OPTIONS.join(" "));
    let script = format!(
        "set cmd:fail-exit yes; set sftp:connect-program \"{connect}\"; set net:max-retries 1; \
         open -u alice,{PASSWORD} sftp://127.0.0.1:{}; {commands}; bye",
        d.sftp_port()
    );
    run(Command::new("lftp").args(["-c", &script]).env("HOME", d.dir()), TIMEOUT)
}

/// Python's paramiko, running `body` with `sftp` (a paramiko SFTPClient
/// logged in as `user`) and `root` (the local scratch directory).
fn paramiko(d: &Daemon, user: &str, root: &Path, body: &str) -> Outcome {
    require_tool("python3");
    let probe = run(Command::new("python3").args(["-c", "import paramiko"]), TIMEOUT);
    if !probe.success() {
        if std::env::var("OXFTP_REQUIRE_SFTP_CLIENTS").as_deref() == Ok("1") {
            panic!("paramiko is not installed (scripts/test installs it)");
        }
        eprintln!("paramiko not installed: skipping its part (pip install paramiko)");
        return probe;
    }
    let script = format!(
        "import paramiko, os, sys\n\
         t = paramiko.Transport(('127.0.0.1', {port}))\n\
         t.connect(username={user:?}, password={PASSWORD:?})\n\
         sftp = paramiko.SFTPClient.from_transport(t)\n\
         root = {root:?}\n\
         {body}\n\
         sftp.close(); t.close()\n",
        port = d.sftp_port(),
        root = root.to_str().unwrap(),
    );
    run(Command::new("python3").args(["-c", &script]), TIMEOUT)
}

/// Names in a directory on disk, sorted (temporary upload files included).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// The OpenSSH `sftp` commands of the issue, one client after another, on
/// whatever storage `d` serves (`s3`: what the object store cannot do is
/// refused honestly instead).
fn openssh_sftp_commands(d: &Daemon, s3: bool) {
    let local = d.scratch("sftp");
    let big = pattern_bytes(3_000_000, 7);
    write(local.join("big.bin"), &big);
    write(local.join("small.txt"), b"small");
    let out = sftp(
        d,
        "alice",
        Login::Password(PASSWORD),
        &local,
        "mkdir dir\nput big.bin dir/big.bin\nput small.txt\nls -l\nls -l dir\nrename small.txt dir/renamed.txt\n\
         get dir/big.bin back.bin\nget dir/renamed.txt\nrm dir/renamed.txt\n",
    );
    out.assert_success("sftp put/get/ls/mkdir/rename/rm");
    out.assert_output_contains("big.bin");
    assert_eq!(read(local.join("back.bin")), big);
    assert_eq!(read(local.join("renamed.txt")), b"small");

    // reget: a partial download continues where it stopped.
    write(local.join("part.bin"), &big[..1_000_000]);
    sftp(d, "alice", Login::Password(PASSWORD), &local, "reget dir/big.bin part.bin\n").assert_success("sftp reget");
    assert_eq!(read(local.join("part.bin")), big);

    // reput: a partial upload continues where it stopped, where the storage can write at an offset.
    let out = sftp(d, "alice", Login::Password(PASSWORD), &local, "put small.txt half.bin\nreput big.bin half.bin\n");
    if s3 {
        assert!(!out.success(), "reput on S3 must be refused\n{}", out.dump());
    } else {
        out.assert_success("sftp reput");
        assert_eq!(read(d.disk("alice/half.bin")), {
            let mut expected = b"small".to_vec();
            expected.extend_from_slice(&big[5..]);
            expected
        });
    }

    // chmod where the storage has permission bits.
    let out = sftp(d, "alice", Login::Password(PASSWORD), &local, "chmod 600 dir/big.bin\nls -l dir\n");
    if s3 {
        assert!(!out.success(), "chmod on S3 must be refused\n{}", out.dump());
    } else {
        out.assert_success("sftp chmod");
        out.assert_output_contains("-rw-------");
    }
    let out = sftp(d, "alice", Login::Password(PASSWORD), &local, "rm dir/big.bin\n-rm half.bin\nrmdir dir\nls\n");
    out.assert_success("sftp rm/rmdir");
    let listing = out.stdout_str().rsplit("sftp> ls\n").next().unwrap_or_default().to_string();
    assert!(!listing.split_whitespace().any(|name| name == "dir"), "{}", out.dump());
}

/// scp both ways, recursive, and `scp -O` (legacy protocol: refused, no command ever runs).
fn scp_both_ways(d: &Daemon) {
    let up = d.scratch("scp-up");
    write(up.join("a.txt"), b"alpha");
    write(up.join("sub/b.bin"), pattern_bytes(200_000, 3));
    write(up.join("sub/deeper/c.txt"), b"gamma");
    scp(d, Login::Password(PASSWORD), &["-r", up.to_str().unwrap(), "alice@127.0.0.1:tree"])
        .assert_success("scp -r up");
    let down = d.scratch("scp-down");
    scp(d, Login::Password(PASSWORD), &["-r", "alice@127.0.0.1:tree", down.to_str().unwrap()])
        .assert_success("scp -r down");
    assert_same_tree(&up, &down.join("tree"));
    let one = d.scratch("scp-one").join("a.txt");
    scp(d, Login::Password(PASSWORD), &["alice@127.0.0.1:tree/a.txt", one.to_str().unwrap()])
        .assert_success("scp down");
    assert_eq!(read(&one), b"alpha");

    let legacy = scp(d, Login::Password(PASSWORD), &["-O", one.to_str().unwrap(), "alice@127.0.0.1:legacy.txt"]);
    assert!(!legacy.success(), "scp -O (legacy protocol) must be refused\n{}", legacy.dump());
    let listed = sftp(d, "alice", Login::Password(PASSWORD), &up, "ls\n");
    assert!(!listed.stdout_str().contains("legacy.txt"), "{}", listed.dump());
}

/// rclone sync up, sync down, check.
fn rclone_sync(d: &Daemon) {
    let up = d.scratch("rclone-up");
    write(up.join("r1.txt"), b"one");
    write(up.join("nested/r2.bin"), pattern_bytes(500_000, 11));
    rclone(d, "alice", &["sync", up.to_str().unwrap(), "x:rtree"]).assert_success("rclone sync up");
    let down = d.scratch("rclone-down");
    rclone(d, "alice", &["sync", "x:rtree", down.to_str().unwrap()]).assert_success("rclone sync down");
    assert_same_tree(&up, &down);
    rclone(d, "alice", &["check", "--download", up.to_str().unwrap(), "x:rtree"]).assert_success("rclone check");
}

/// curl's sftp:// (libssh2): upload, download, listing.
fn curl_sftp(d: &Daemon) {
    let local = d.scratch("curl");
    write(local.join("c.txt"), b"from curl");
    curl(d, &["-T", local.join("c.txt").to_str().unwrap(), &sftp_url(d, "/c.txt")]).assert_success("curl upload");
    let got = curl(d, &[&sftp_url(d, "/c.txt")]);
    got.assert_success("curl download");
    assert_eq!(got.stdout, b"from curl");
    let listing = curl(d, &[&sftp_url(d, "/")]);
    listing.assert_success("curl listing");
    listing.assert_output_contains("c.txt");
}

/// lftp over sftp://: put, get, ls, mirror.
fn lftp_sftp(d: &Daemon) {
    let local = d.scratch("lftp");
    write(local.join("l.txt"), b"from lftp");
    write(local.join("m/one.bin"), pattern_bytes(100_000, 5));
    let got = local.join("l-back.txt");
    let out = lftp(
        d,
        &format!(
            "put {} -o l.txt; get l.txt -o {}; mirror -R {} lm; ls",
            local.join("l.txt").display(),
            got.display(),
            local.join("m").display()
        ),
    );
    out.assert_success("lftp sftp://");
    out.assert_output_contains("lm");
    assert_eq!(read(&got), b"from lftp");
}

/// paramiko: put, get, stat, listdir, rename, remove.
fn paramiko_client(d: &Daemon) {
    let local = d.scratch("paramiko");
    write(local.join("p.txt"), b"from paramiko");
    let out = paramiko(
        d,
        "alice",
        &local,
        "sftp.put(os.path.join(root, 'p.txt'), 'p.txt')\n\
         assert sftp.stat('p.txt').st_size == 13\n\
         sftp.get('p.txt', os.path.join(root, 'p-back.txt'))\n\
         assert 'p.txt' in sftp.listdir('.')\n\
         sftp.posix_rename('p.txt', 'p2.txt')\n\
         sftp.rename('p2.txt', 'p3.txt')\n\
         with sftp.open('p3.txt', 'rb') as f: assert f.read() == b'from paramiko'\n\
         sftp.remove('p3.txt')\n\
         print('paramiko ok')",
    );
    if out.stderr_str().contains("No module named 'paramiko'") {
        return;
    }
    out.assert_success("paramiko");
    out.assert_output_contains("paramiko ok");
    assert_eq!(read(local.join("p-back.txt")), b"from paramiko");
}

#[test]
fn every_client_on_local_disk() {
    let key = ClientKey::new();
    let d = start(&key, |c| c.xferlog = true);
    openssh_sftp_commands(&d, false);
    scp_both_ways(&d);
    rclone_sync(&d);
    curl_sftp(&d);
    lftp_sftp(&d);
    paramiko_client(&d);
    // SFTP transfers are in the same transfer log as FTP's.
    let log = std::fs::read_to_string(d.xferlog()).unwrap_or_default();
    assert!(log.contains("/dir/big.bin b _ i r alice"), "xferlog:\n{log}");
}

#[test]
fn every_client_on_s3() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("sftp");
    let key = ClientKey::new();
    let storage = format!(
        "backend = \"opendal\"\nscheme = \"s3\"\nchunk_size = 5242880\nrename_dir_limit = 100\n\
         [storage.s3]\nbucket = \"sftp\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
         access_key_id = \"testing\"\nsecret_access_key = \"testing\"\nroot = \"/srv\"\n",
        moto.endpoint
    );
    let d = start(&key, |c| c.storage = Some(storage));
    openssh_sftp_commands(&d, true);
    scp_both_ways(&d);
    rclone_sync(&d);
    curl_sftp(&d);
    paramiko_client(&d);
    let keys = moto.keys("sftp");
    assert!(keys.contains(&"srv/alice/tree/sub/deeper/c.txt".to_string()), "{keys:?}");
    assert!(keys.contains(&"srv/alice/rtree/nested/r2.bin".to_string()), "{keys:?}");
}

#[test]
fn password_and_key_logins_and_wrong_keys() {
    let key = ClientKey::new();
    let other = ClientKey::new();
    let d = start(&key, |_| {});
    let local = d.scratch("keys");
    write(d.disk("alice/k.txt"), b"key login");
    sftp(&d, "kay", Login::Key(&key.private), &local, "get k.txt\n").assert_success("key login");
    assert_eq!(read(local.join("k.txt")), b"key login");
    for (user, login) in [
        ("kay", Login::Key(&other.private)),
        ("alice", Login::Key(&key.private)),
        ("kay", Login::Password(PASSWORD)),
        ("alice", Login::Password("wrong")),
        ("nobody", Login::Password(PASSWORD)),
    ] {
        let out = sftp(&d, user, login, &local, "ls\n");
        assert!(!out.success(), "{user} got in\n{}", out.dump());
        out.assert_output_contains("Permission denied");
    }
}

#[test]
fn a_guest_cannot_leave_its_home() {
    let key = ClientKey::new();
    let d = start(&key, |_| {});
    write(d.disk("alice/secret.txt"), b"alice's");
    std::os::unix::fs::symlink(d.disk("alice"), d.disk("guest/to-alice")).unwrap();
    std::os::unix::fs::symlink("../alice/secret.txt", d.disk("guest/secret-link")).unwrap();
    let local = d.scratch("guest");
    let out = sftp(
        &d,
        "gina",
        Login::Password(PASSWORD),
        &local,
        "-get ../alice/secret.txt a\n-get /../alice/secret.txt b\n-get /alice/secret.txt c\n\
         -get to-alice/secret.txt d\n-get secret-link e\n-ls to-alice\n-ln -s /alice/secret.txt made-link\n\
         -symlink ../alice made-link2\npwd\ncd ..\npwd\nls -a\n",
    );
    out.assert_success("guest batch");
    for name in ["a", "b", "c", "d", "e"] {
        assert!(!local.join(name).exists(), "{name} was downloaded\n{}", out.dump());
    }
    assert!(!out.stdout_str().contains("secret.txt\n"), "{}", out.dump());
    assert!(out.stdout_str().contains("Remote working directory: /\n"), "{}", out.dump());
    assert!(!d.disk("guest/made-link").exists() && !d.disk("guest/made-link2").exists());
    // paramiko, request by request.
    let out = paramiko(
        &d,
        "gina",
        &local,
        "for p in ['../alice/secret.txt', '/../alice/secret.txt', 'to-alice/secret.txt', 'secret-link']:\n\
         \x20   try:\n\
         \x20       sftp.open(p).read(); print('READ', p); sys.exit(1)\n\
         \x20   except IOError: pass\n\
         assert sftp.normalize('../..') == '/'\n\
         print('confined')",
    );
    if !out.stderr_str().contains("No module named 'paramiko'") {
        out.assert_success("paramiko as a guest");
        out.assert_output_contains("confined");
    }
}

#[test]
fn read_only_accounts_cannot_write_by_any_request() {
    let key = ClientKey::new();
    let d = start(&key, |_| {});
    write(d.disk("alice/keep.txt"), b"keep");
    std::fs::create_dir_all(d.disk("alice/sub")).unwrap();
    let before = names(&d.disk("alice"));
    let local = d.scratch("ro");
    write(local.join("new.txt"), b"new");
    for command in [
        "put new.txt",
        "put new.txt keep.txt",
        "reput new.txt keep.txt",
        "mkdir made",
        "rmdir sub",
        "rm keep.txt",
        "rename keep.txt moved.txt",
        "chmod 600 keep.txt",
        "ln -s keep.txt link",
    ] {
        let out = sftp(&d, "ro", Login::Password(PASSWORD), &local, &format!("{command}\n"));
        assert!(!out.success(), "read-only account did {command:?}\n{}", out.dump());
    }
    let out = paramiko(
        &d,
        "ro",
        &local,
        "import time\n\
         for op in [lambda: sftp.open('keep.txt', 'a').write(b'x'), lambda: sftp.open('x.txt', 'w').close(),\n\
         \x20          lambda: sftp.utime('keep.txt', (0, 0)), lambda: sftp.posix_rename('keep.txt', 'y'),\n\
         \x20          lambda: sftp.truncate('keep.txt', 0)]:\n\
         \x20   try:\n\
         \x20       op(); print('WROTE'); sys.exit(1)\n\
         \x20   except IOError: pass\n\
         assert sftp.open('keep.txt').read() == b'keep'\n\
         print('read-only holds')",
    );
    if !out.stderr_str().contains("No module named 'paramiko'") {
        out.assert_success("paramiko as read-only");
    }
    assert_eq!(names(&d.disk("alice")), before);
    assert_eq!(read(d.disk("alice/keep.txt")), b"keep");
}

#[test]
fn quotas_refuse_and_leave_nothing() {
    let key = ClientKey::new();
    let d = start(&key, |_| {});
    let local = d.scratch("quota");
    write(local.join("fits.txt"), vec![b'f'; 600]);
    write(local.join("too-big.bin"), vec![b'x'; 5000]);
    sftp(&d, "quo", Login::Password(PASSWORD), &local, "put fits.txt\n").assert_success("upload within the quota");
    let out = sftp(&d, "quo", Login::Password(PASSWORD), &local, "put too-big.bin\n");
    assert!(!out.success(), "{}", out.dump());
    // SFTP v3 has no quota code: SSH_FX_FAILURE, which OpenSSH shows as "Failure".
    out.assert_output_contains("Failure");
    assert_eq!(names(&d.disk("quo")), vec!["fits.txt".to_string()], "nothing else, no temporary file");
    assert!(d.log().contains("Quota exceeded"), "the log says why");
}

/// `sftp` as `slow` (200 kB/s) putting a 4 MB `big.bin` from `local`:
/// still sending for ~20 s, long enough to kill something mid-way.
fn slow_put(d: &Daemon, local: &Path) -> std::process::Child {
    write(local.join("big.bin"), pattern_bytes(4_000_000, 9));
    write(local.join(".batch"), "put big.bin\n");
    require_tool("sshpass");
    let child = Command::new("sshpass")
        .args(["-p", PASSWORD, "sftp"])
        .args(SSH_OPTIONS)
        .args(["-o", "BatchMode=no", "-o", "PubkeyAuthentication=no", "-b", ".batch", "-P"])
        .arg(d.sftp_port().to_string())
        .arg("slow@127.0.0.1")
        .current_dir(local)
        .env("HOME", d.dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // `slow` lives in /alice: its upload shows as a temporary file there.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !names(&d.disk("alice")).iter().any(|n| n.starts_with(".oxftp-upload.")) {
        assert!(Instant::now() < deadline, "the upload never started: {:?}", names(&d.disk("alice")));
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// `kill -9` of `sshpass` and of its `sftp` child, then reaps it.
fn kill_client(mut child: std::process::Child) {
    let _ = Command::new("kill").args(["-9", &child.id().to_string()]).status();
    // sshpass dies; its ssh child sees the pipe close or is killed with the group.
    let _ = Command::new("pkill").args(["-9", "-P", &child.id().to_string()]).status();
    let _ = child.wait();
}

#[test]
fn a_client_killed_mid_upload_leaves_nothing() {
    let key = ClientKey::new();
    let d = start(&key, |_| {});
    let local = d.scratch("kill");
    let child = slow_put(&d, &local);
    std::thread::sleep(Duration::from_millis(500));
    kill_client(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = names(&d.disk("alice"));
        if left.is_empty() {
            break;
        }
        assert!(!left.contains(&"big.bin".to_string()), "a killed client's upload was published: {left:?}");
        assert!(Instant::now() < deadline, "left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(d.log().contains("upload aborted"), "{}", d.log());
}

#[test]
fn a_daemon_killed_mid_upload_publishes_nothing_and_the_restart_sweeps() {
    let key = ClientKey::new();
    let mut d = start(&key, |_| {});
    let local = d.scratch("killd");
    let mut child = slow_put(&d, &local);
    std::thread::sleep(Duration::from_millis(500));
    d.kill9();
    // The client sees its connection die and gives up.
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "sftp still runs after the daemon died");
        std::thread::sleep(Duration::from_millis(50));
    }
    let alice = d.disk("alice");
    let left = names(&alice);
    assert!(!left.contains(&"big.bin".to_string()), "published by a dead server: {left:?}");
    assert_eq!(left.len(), 1, "the dead upload's temporary file stays until a sweep: {left:?}");
    assert!(left[0].starts_with(".oxftp-upload.") && left[0].ends_with(".tmp"), "{left:?}");

    // The next start sweeps it away; SFTP uploads work again.
    d.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !names(&alice).is_empty() {
        assert!(Instant::now() < deadline, "not swept: {:?}", names(&alice));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(d.wait_for_log("removed what dead uploads left", Duration::from_secs(10)), "{}", d.log());
    sftp(&d, "alice", Login::Password(PASSWORD), &local, "put big.bin\n").assert_success("put after the restart");
    assert_eq!(read(alice.join("big.bin")), pattern_bytes(4_000_000, 9));
    assert_eq!(names(&alice), vec!["big.bin".to_string()]);
}

/// A raw connection to 127.0.0.1:`port`, sending `hello` first (if not
/// empty), and the first line it gets (`None`: closed), within 10 s.
fn first_line(port: u16, hello: &str) -> (BufReader<TcpStream>, Option<String>) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    conn.write_all(hello.as_bytes()).unwrap();
    let mut conn = BufReader::new(conn);
    let mut line = String::new();
    let n = conn.read_line(&mut line).expect("a line or the close");
    (conn, (n > 0).then(|| line.trim_end().to_string()))
}

/// Whether the server closes `conn` (nothing more to read) within 10 s.
fn closed(conn: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).is_ok() && rest.is_empty()
}

#[test]
fn connections_not_logged_in_are_bounded_across_ftp_and_sftp() {
    const REFUSED: &str = "Too many connections from your address that have not logged in.";
    let key = ClientKey::new();
    let d = start(&key, |c| c.server_extra = vec!["max_prelogin_per_ip = 2".into()]);
    // A logged-in SFTP client (uploading) does not count.
    let local = d.scratch("prelogin");
    let uploading = slow_put(&d, &local);
    // One SFTP and one FTP connection that never log in take both places.
    let (s1, line) = first_line(d.sftp_port(), "SSH-2.0-e2e\r\n");
    assert!(line.as_deref().is_some_and(|l| l.starts_with("SSH-2.0-oxftpd")), "{line:?}");
    let (mut f1, line) = first_line(d.port(), "");
    assert!(line.as_deref().is_some_and(|l| l.starts_with("220")), "{line:?}");
    // A third is refused, over either protocol (SFTP before its version line).
    let (mut f2, line) = first_line(d.port(), "");
    assert_eq!(line, Some(format!("421 {REFUSED}")));
    assert!(closed(&mut f2), "closed after the 421");
    let (mut s2, line) = first_line(d.sftp_port(), "");
    assert_eq!(line.as_deref(), Some(REFUSED), "SFTP is refused with a line before any SSH version");
    assert!(closed(&mut s2), "closed after the refusal");
    // An FTP login gives its place back: SFTP gets in again.
    for (command, code) in [("USER alice".to_string(), "331"), (format!("PASS {PASSWORD}"), "230")] {
        f1.get_mut().write_all(format!("{command}\r\n").as_bytes()).unwrap();
        let mut reply = String::new();
        f1.read_line(&mut reply).unwrap();
        assert!(reply.starts_with(code), "{command}: {reply:?}");
    }
    let (_s3, line) = first_line(d.sftp_port(), "SSH-2.0-e2e\r\n");
    assert!(line.as_deref().is_some_and(|l| l.starts_with("SSH-2.0-oxftpd")), "{line:?}");
    // So does a close before login: FTP gets in again.
    drop(s1);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_f3, line) = first_line(d.port(), "");
        if line.as_deref().is_some_and(|l| l.starts_with("220")) {
            break;
        }
        assert_eq!(line, Some(format!("421 {REFUSED}")));
        assert!(Instant::now() < deadline, "the closed SFTP connection's place never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
    kill_client(uploading);
}

#[test]
fn every_request_but_sftp_is_refused() {
    let key = ClientKey::new();
    let d = start(&key, |_| {});
    let out = ssh(&d, "alice", &["-T"], &["id"]);
    assert!(!out.success(), "{}", out.dump());
    let out = ssh(&d, "alice", &["-tt"], &[]);
    assert!(!out.success(), "{}", out.dump());
    let out = ssh(&d, "alice", &["-W", &format!("127.0.0.1:{}", d.port())], &[]);
    assert!(!out.success(), "{}", out.dump());
    let out = ssh(&d, "alice", &["-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:9"], &[]);
    assert!(!out.success(), "{}", out.dump());
    let log = d.log();
    for what in ["exec \"id\"", "shell", "port forwarding refused", "remote port forwarding refused"] {
        assert!(log.contains(what), "log lacks {what:?}:\n{log}");
    }
    // The same connection still serves SFTP afterwards: nothing crashed.
    let local = d.scratch("after");
    sftp(&d, "alice", Login::Password(PASSWORD), &local, "ls\n").assert_success("sftp after refusals");
}

#[test]
fn bans_and_session_limits_are_shared_with_ftp() {
    let key = ClientKey::new();
    let d = start(&key, |c| c.extra_tables = "\n[ban]\nmax_failures = 3\nwindow = 60\nban_time = 60\n".into());
    // One FTP session for `one` takes its only slot: SFTP is refused.
    let mut ftp = Control::connect(d.port(), Duration::from_secs(10)).unwrap();
    ftp.login("one", PASSWORD);
    let local = d.scratch("limits");
    let out = sftp(&d, "one", Login::Password(PASSWORD), &local, "ls\n");
    assert!(!out.success(), "a second session for `one` over SFTP\n{}", out.dump());
    assert!(d.log().contains("too many sessions for one"), "{}", d.log());
    ftp.cmd("QUIT").unwrap();
    drop(ftp);
    std::thread::sleep(Duration::from_millis(200));
    sftp(&d, "one", Login::Password(PASSWORD), &local, "ls\n").assert_success("the slot is free again");
    // Three wrong SFTP passwords ban the address, for FTP too.
    for _ in 0..3 {
        let out = sftp(&d, "alice", Login::Password("wrong"), &local, "ls\n");
        assert!(!out.success(), "{}", out.dump());
    }
    let mut ftp = Control::connect(d.port(), Duration::from_secs(10)).unwrap();
    let greeting = ftp.reply().unwrap().expect("a reply");
    assert_eq!(greeting.code, 421, "FTP after SFTP failures: {greeting:?}");
}
