//! Runs every example binary and talks FTP to it, so the examples cannot rot.
//! (`cargo test` builds the examples before the integration tests.)

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use suppaftp::tokio::AsyncFtpStream;
use tokio::io::AsyncReadExt;

struct Example(Child);

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/examples-HASH -> target/debug/examples/NAME
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("examples").join(name)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Start an example on a free port (in `cwd`) and wait for its "serving on" line.
fn start(name: &str, cwd: &std::path::Path) -> (Example, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(example_binary(name))
        .env("OXFTP_LISTEN", &addr)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start example {name}: {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    assert!(line.starts_with("serving on"), "{name} printed {line:?}");
    let example = Example(child);
    // The line is printed just before binding; wait until the port answers.
    for _ in 0..100 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (example, addr)
}

async fn fetch(ftp: &mut AsyncFtpStream, path: &str) -> Vec<u8> {
    let mut s = ftp.retr_as_stream(path).await.expect("RETR");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    s.finish().await.expect("226");
    buf
}

#[tokio::test]
async fn minimal_serves_the_current_directory_read_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), b"hi from disk").unwrap();
    let (_ex, addr) = start("minimal", dir.path());
    let mut ftp = AsyncFtpStream::connect(&addr).await.unwrap();
    ftp.login("anonymous", "test@example.com").await.unwrap();
    assert_eq!(fetch(&mut ftp, "hello.txt").await, b"hi from disk");
    assert!(ftp.put_file("new.txt", &mut &b"x"[..]).await.is_err());
    assert!(!dir.path().join("new.txt").exists());
}

#[tokio::test]
async fn custom_storage_serves_generated_files() {
    let dir = tempfile::tempdir().unwrap();
    let (_ex, addr) = start("custom_storage", dir.path());
    let mut ftp = AsyncFtpStream::connect(&addr).await.unwrap();
    ftp.login("anonymous", "test@example.com").await.unwrap();
    ftp.transfer_type(suppaftp::types::FileType::Binary).await.unwrap();
    let mut names = ftp.nlst(None).await.unwrap();
    names.sort();
    assert_eq!(names, vec!["hello.txt", "time.txt"]);
    assert_eq!(fetch(&mut ftp, "hello.txt").await, b"Hello from a custom storage backend!\n");
    let time = String::from_utf8(fetch(&mut ftp, "time.txt").await).unwrap();
    assert!(time.trim().parse::<i64>().unwrap() > 1_700_000_000);
}

#[tokio::test]
async fn custom_auth_confines_each_account() {
    let dir = tempfile::tempdir().unwrap();
    let (_ex, addr) = start("custom_auth", dir.path());
    let mut ftp = AsyncFtpStream::connect(&addr).await.unwrap();
    assert!(ftp.login("alice", "wrong").await.is_err());
    let mut ftp = AsyncFtpStream::connect(&addr).await.unwrap();
    ftp.login("alice", "wonderland").await.unwrap();
    ftp.transfer_type(suppaftp::types::FileType::Binary).await.unwrap();
    ftp.put_file("note.txt", &mut &b"alice was here"[..]).await.unwrap();
    assert_eq!(fetch(&mut ftp, "note.txt").await, b"alice was here");
    ftp.cwd("..").await.unwrap();
    assert_eq!(ftp.pwd().await.unwrap(), "/");
    let mut bob = AsyncFtpStream::connect(&addr).await.unwrap();
    bob.login("bob", "builder").await.unwrap();
    assert!(bob.nlst(None).await.unwrap().is_empty());
    assert!(bob.retr_as_stream("../alice/note.txt").await.is_err());
}

/// libunftp's local-disk back-end and JSON users file, served by our engine
/// (the example needs the `unftp` feature: `cargo test --features unftp`).
#[cfg(feature = "unftp")]
#[tokio::test]
async fn unftp_backend_serves_the_directory_to_json_file_users() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.json"), br#"[{"username": "alice", "password": "wonderland"}]"#).unwrap();
    std::fs::write(dir.path().join("hello.txt"), b"stored by unftp-sbe-fs").unwrap();
    let (_ex, addr) = start("unftp_backend", dir.path());

    let mut ftp = AsyncFtpStream::connect(&addr).await.unwrap();
    assert!(ftp.login("alice", "rabbit").await.is_err(), "a wrong password logs in");
    let mut ftp = AsyncFtpStream::connect(&addr).await.unwrap();
    ftp.login("alice", "wonderland").await.unwrap();
    ftp.transfer_type(suppaftp::types::FileType::Binary).await.unwrap();
    assert_eq!(fetch(&mut ftp, "hello.txt").await, b"stored by unftp-sbe-fs");
    ftp.put_file("up.txt", &mut &b"uploaded through the adapter"[..]).await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("up.txt")).unwrap(), b"uploaded through the adapter");
    let mut names = ftp.nlst(None).await.unwrap();
    names.sort();
    assert_eq!(names, vec!["hello.txt", "up.txt", "users.json"]);
    ftp.rename("up.txt", "moved.txt").await.unwrap();
    assert_eq!(fetch(&mut ftp, "moved.txt").await, b"uploaded through the adapter");
    ftp.rm("moved.txt").await.unwrap();
    assert!(!dir.path().join("moved.txt").exists());
    ftp.quit().await.unwrap();
}
