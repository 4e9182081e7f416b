//! The SFTP front end in-process, driven by OpenSSH's `sftp` client over a
//! real loopback socket, on the engine's in-memory storage: the engine's
//! policies (read-only, quotas, guest confinement) over SFTP, and what the
//! SSH side refuses. The daemon's end-to-end tests (oxftpd's `e2e_sftp`)
//! cover local disk, S3 and the other clients.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use oxftp_core::account::Limits;
use oxftp_core::admission::{Admission, AdmissionLimits};
use oxftp_core::auth::{AccessClass, AuthError, Authenticator, Credentials, Identity, PublicKey};
use oxftp_core::memory::MemoryStorage;
use oxftp_core::policy::{SharedStorage, Stack};
use oxftp_core::test_util::helpers::p;
use oxftp_sftp::host_keys::{KeyKind, load_or_generate};
use oxftp_sftp::{SftpOptions, SftpServer};
use tokio::sync::oneshot;

const PASSWORD: &str = "pw-1";

/// Accounts for the tests: `ann` (a user in /ann), `gus` (a guest in
/// /gus), `ro` (read-only in /ann), `quo` (a 10-byte quota in /quo) and
/// `key` (public key only, in /ann).
#[derive(Debug)]
struct Accounts {
    key: PublicKey,
}

impl Accounts {
    fn identity(&self, user: &str) -> Option<Identity> {
        let (class, home) = match user {
            "ann" | "ro" | "key" => (AccessClass::User, "/ann"),
            "gus" => (AccessClass::Guest, "/gus"),
            "quo" => (AccessClass::User, "/quo"),
            _ => return None,
        };
        let mut identity = Identity::new(user, class);
        identity.home = p(home);
        identity.read_only = user == "ro";
        if user == "quo" {
            identity.limits = Limits { quota_bytes: Some(10), ..Limits::default() };
        }
        Some(identity)
    }
}

#[async_trait]
impl Authenticator for Accounts {
    async fn authenticate(&self, c: &Credentials) -> Result<Identity, AuthError> {
        let identity = self.identity(&c.user).ok_or(AuthError::UnknownUser)?;
        if c.user == "key" || c.password != PASSWORD {
            return Err(AuthError::BadPassword);
        }
        Ok(identity)
    }

    async fn public_key_login(&self, user: &str, key: &PublicKey, _peer: SocketAddr) -> Result<Identity, AuthError> {
        let identity = self.identity(user).ok_or(AuthError::UnknownUser)?;
        if user == "key" && *key == self.key { Ok(identity) } else { Err(AuthError::NotAllowed("unknown key".into())) }
    }
}

/// A running server and the client-side files of one test.
struct Fixture {
    port: u16,
    mem: MemoryStorage,
    dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<std::thread::JoinHandle<()>>,
}

impl Fixture {
    fn start() -> Fixture {
        Fixture::start_with(|_| {})
    }

    fn start_with(tweak: impl FnOnce(&mut SftpOptions)) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let client_key = dir.path().join("id_ed25519");
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&client_key)
            .status()
            .expect("ssh-keygen (OpenSSH) is installed");
        assert!(status.success());
        let public = std::fs::read_to_string(client_key.with_extension("pub")).unwrap();
        let accounts = Accounts { key: PublicKey::parse(&public).unwrap() };
        let host = load_or_generate(&dir.path().join("host_key"), KeyKind::Ed25519).unwrap();
        let mem = MemoryStorage::new();
        for home in ["/ann", "/gus", "/quo"] {
            mem.create_dir_all(&p(home)).unwrap();
        }
        mem.put_file(&p("/ann/hello.txt"), "hello").unwrap();
        mem.put_file(&p("/secret.txt"), "top secret").unwrap();
        let stack = Arc::new(Stack::new(Arc::new(SharedStorage::new(Arc::new(mem.clone())))));
        let admission = Arc::new(Admission::new(AdmissionLimits::default()));
        let mut options = SftpOptions::new(vec![host.key]);
        options.failed_login_delay = Duration::ZERO;
        tweak(&mut options);
        let server = SftpServer::new(stack, Arc::new(accounts), admission, options);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                server
                    .run(vec![listener], async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Fixture { port, mem, dir, stop: Some(stop), task: Some(task) }
    }

    fn local(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `sftp -b BATCH` as `user`, with a password (through sshpass) or the key.
    fn sftp(&self, user: &str, password: Option<&str>, batch: &str) -> Output {
        let batch_file = self.local("batch");
        std::fs::write(&batch_file, batch).unwrap();
        let mut cmd = match password {
            Some(pw) => {
                // sftp -b turns BatchMode on, which skips password prompts.
                let mut c = Command::new("sshpass");
                c.args(["-p", pw, "sftp", "-o", "BatchMode=no"]);
                c
            }
            None => {
                let mut c = Command::new("sftp");
                c.arg("-i").arg(self.local("id_ed25519"));
                c.args(["-o", "PasswordAuthentication=no", "-o", "BatchMode=yes"]);
                c
            }
        };
        let pubkey = if password.is_some() { "PubkeyAuthentication=no" } else { "PubkeyAuthentication=yes" };
        cmd.args(["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
            .args(["-o", pubkey])
            .arg("-b")
            .arg(&batch_file)
            .arg("-P")
            .arg(self.port.to_string())
            .arg(format!("{user}@127.0.0.1"))
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        run(&mut cmd)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.join();
        }
    }
}

/// Runs a client with a time limit (it is killed past it).
fn run(cmd: &mut Command) -> Output {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("client is installed");
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            panic!("client did not finish within 60 s");
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn write(path: &Path, data: &[u8]) {
    std::fs::write(path, data).unwrap();
}

#[test]
fn put_get_ls_rename_remove_with_a_password() {
    let f = Fixture::start();
    write(&f.local("up.bin"), &[7u8; 100_000]);
    let out = f.sftp(
        "ann",
        Some(PASSWORD),
        "put up.bin\nls -l\nrename up.bin moved.bin\nget moved.bin down.bin\nget hello.txt\nmkdir d\nrmdir d\nrm hello.txt\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("up.bin"), "{}", text(&out));
    assert_eq!(std::fs::read(f.local("down.bin")).unwrap(), vec![7u8; 100_000]);
    assert_eq!(std::fs::read(f.local("hello.txt")).unwrap(), b"hello");
    assert_eq!(f.mem.file_contents(&p("/ann/moved.bin")).unwrap().len(), 100_000);
    assert!(f.mem.file_contents(&p("/ann/hello.txt")).is_err());
}

#[test]
fn public_key_logins_and_wrong_passwords() {
    let f = Fixture::start();
    let out = f.sftp("key", None, "get hello.txt key.txt\n");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read(f.local("key.txt")).unwrap(), b"hello");
    // The key is not ann's: no login.
    let out = f.sftp("ann", None, "ls\n");
    assert!(!out.status.success(), "{}", text(&out));
    let out = f.sftp("ann", Some("wrong"), "ls\n");
    assert!(!out.status.success(), "{}", text(&out));
}

#[test]
fn a_guest_stays_home() {
    let f = Fixture::start();
    write(&f.local("empty"), b"");
    let out = f.sftp(
        "gus",
        Some(PASSWORD),
        "-get ../secret.txt a\n-get /../secret.txt b\n-get ../../secret.txt c\nput empty ../../escape\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    for name in ["a", "b", "c"] {
        assert!(!f.local(name).exists(), "{name} was downloaded: {}", text(&out));
    }
    assert!(f.mem.file_contents(&p("/escape")).is_err());
    // `..` at the top stays at the top: the upload landed in the guest's home.
    assert_eq!(f.mem.file_contents(&p("/gus/escape")).unwrap(), b"");
}

#[test]
fn read_only_and_quota_refuse_and_leave_nothing() {
    let f = Fixture::start();
    write(&f.local("big"), &[1u8; 64]);
    let out = f.sftp("ro", Some(PASSWORD), "get hello.txt ro.txt\n");
    assert!(out.status.success(), "{}", text(&out));
    for command in ["put big", "rm hello.txt", "mkdir x", "rename hello.txt y", "chmod 600 hello.txt"] {
        let out = f.sftp("ro", Some(PASSWORD), &format!("{command}\n"));
        assert!(!out.status.success(), "{command}: {}", text(&out));
    }
    assert_eq!(f.mem.file_contents(&p("/ann/hello.txt")).unwrap(), b"hello");
    assert!(f.mem.file_contents(&p("/ann/big")).is_err());

    let out = f.sftp("quo", Some(PASSWORD), "put big\n");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Failure"), "{}", text(&out));
    assert!(f.mem.file_contents(&p("/quo/big")).is_err(), "nothing under the final name");
}

#[test]
fn a_client_that_does_not_log_in_in_time_is_cut() {
    use std::io::{Read, Write};
    let f = Fixture::start_with(|o| o.login_timeout = Duration::from_secs(1));
    // Silent after the version exchange, and one that stalls mid-packet.
    for first in [&b"SSH-2.0-test\r\n"[..], &b"SSH-2.0-test\r\n\x00\x00\x01"[..]] {
        let mut socket = std::net::TcpStream::connect(("127.0.0.1", f.port)).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        socket.write_all(first).unwrap();
        let started = std::time::Instant::now();
        let mut buf = [0u8; 4096];
        loop {
            match socket.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => assert!(started.elapsed() < Duration::from_secs(8), "still open after 8 s"),
            }
        }
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(800) && waited < Duration::from_secs(8), "cut after {waited:?}");
    }
}
