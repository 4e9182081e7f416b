//! Uploads are never half-visible: a client that disappears mid-upload (its
//! kernel closes the control and the data connection, in that order) leaves
//! nothing under the final name and no temporary file, however much it had
//! sent; QUIT during an upload still lets it finish (RFC 959 4.1.1). Plain
//! and TLS, through the engine over real loopback sockets and a real
//! directory.

#[allow(dead_code)]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::pki::{Pki, TlsCtl};
use common::{Raw, TestServer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 4093) as u8).collect()
}

/// Names of the files in `dir`, hidden ones (temporary uploads) included.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Waits (up to 10 s) until no temporary upload is left in `dir`: the
/// upload ended one way or the other. Returns what is left.
async fn settled(dir: &Path) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = names(dir);
        if !now.iter().any(|n| n.starts_with(".oxftp-upload.")) || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Log in as alice, TYPE I, open a passive data connection and start `STOR name`.
async fn start_upload(srv: &TestServer, name: &str) -> (Raw, TcpStream) {
    let mut ctl = Raw::login(srv.addr, "alice", "secret").await;
    assert_eq!(ctl.cmd("TYPE I").await.0, 200);
    let data = ctl.pasv_connect(None).await.expect("data connection");
    let (code, text) = ctl.cmd(&format!("STOR {name}")).await;
    assert_eq!(code, 150, "{text}");
    (ctl, data)
}

/// A client killed mid-upload: its kernel closes the control connection,
/// then the data connection. Sizes as measured in the issue; `sent` of them
/// go out first (all of them: killed right after the last byte).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_mid_upload_leaves_nothing() {
    let srv = TestServer::start().await;
    for (i, (size, sent)) in
        [(1 << 20, 1 << 19), (12 << 20, 5 << 20), (12 << 20, 12 << 20), (64 << 20, 40 << 20), (1000, 1000)]
            .into_iter()
            .enumerate()
    {
        let name = format!("killed-{i}.bin");
        let (ctl, mut data) = start_upload(&srv, &name).await;
        let bytes = pattern(size);
        data.write_all(&bytes[..sent]).await.unwrap();
        drop(ctl);
        // The control FIN goes out first, as from a dying process.
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(data);
        let left = settled(&srv.path("alice")).await;
        assert!(left.is_empty(), "upload {i} ({sent} of {size} bytes) left {left:?}");
    }
    // The server is fine: the next upload lands whole.
    let (mut ctl, mut data) = start_upload(&srv, "after.bin").await;
    data.write_all(&pattern(3 << 20)).await.unwrap();
    drop(data);
    let (code, text) = ctl.reply().await;
    assert_eq!(code, 226, "{text}");
    assert_eq!(std::fs::read(srv.path("alice/after.bin")).unwrap(), pattern(3 << 20));
    srv.stop().await;
}

/// Both connections closed at the same instant, as `kill -9` does: whichever
/// FIN the server reads first, nothing is published (the control FIN is
/// there before the upload asks to commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_connections_closed_at_once_publish_nothing() {
    let srv = TestServer::start().await;
    for i in 0..40 {
        let name = format!("at-once-{i}.bin");
        let (ctl, mut data) = start_upload(&srv, &name).await;
        data.write_all(&pattern(if i % 2 == 0 { 200_000 } else { 3000 })).await.unwrap();
        if i % 2 == 1 {
            // Everything sent has been read: the data FIN is all that is left.
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        // Closing the control first, with nothing in between, like a process exit.
        drop(ctl);
        drop(data);
    }
    let left = settled(&srv.path("alice")).await;
    assert!(left.is_empty(), "{left:?}");
    srv.stop().await;
}

/// QUIT sent while the upload is still running: the upload finishes (226),
/// then the session ends (221), even if the client closes right after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_during_an_upload_lets_it_finish() {
    let srv = TestServer::start().await;
    let (mut ctl, mut data) = start_upload(&srv, "quit.bin").await;
    let bytes = pattern(5 << 20);
    data.write_all(&bytes[..1 << 20]).await.unwrap();
    ctl.send_bytes(b"QUIT\r\n").await;
    data.write_all(&bytes[1 << 20..]).await.unwrap();
    drop(data);
    let (code, text) = ctl.reply().await;
    assert_eq!(code, 226, "{text}");
    let (code, text) = ctl.reply().await;
    assert_eq!(code, 221, "{text}");
    assert_eq!(std::fs::read(srv.path("alice/quit.bin")).unwrap(), bytes);

    // QUIT and the close pipelined right behind the last byte.
    let (mut ctl, mut data) = start_upload(&srv, "quit-close.bin").await;
    data.write_all(&bytes).await.unwrap();
    drop(data);
    ctl.send_bytes(b"QUIT\r\n").await;
    drop(ctl);
    let left = settled(&srv.path("alice")).await;
    assert_eq!(left, ["quit-close.bin", "quit.bin"]);
    assert_eq!(std::fs::read(srv.path("alice/quit-close.bin")).unwrap(), bytes);
    srv.stop().await;
}

/// A client that closes its data connection and waits for the reply gets
/// its file, as always (the gate only closes for a client that is gone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_upload_still_commits_at_once() {
    let srv = TestServer::start().await;
    for i in 0..50 {
        let (mut ctl, mut data) = start_upload(&srv, &format!("ok-{i}")).await;
        data.write_all(&pattern(i * 1000)).await.unwrap();
        drop(data);
        assert_eq!(ctl.reply().await.0, 226);
        assert_eq!(std::fs::read(srv.path(&format!("alice/ok-{i}"))).unwrap(), pattern(i * 1000));
    }
    srv.stop().await;
}

/// The same over FTPS (AUTH TLS, PROT P): a killed client sends no
/// close_notify on either connection, just the FINs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_killed_mid_upload_leaves_nothing() {
    let pki = Pki::new();
    let tls = pki.tls_config().build().expect("TLS");
    let srv = TestServer::start_with(|o| o.tls = Some(tls)).await;
    let connector = pki.connector();
    for i in 0..10 {
        let mut ctl = TlsCtl::explicit(srv.addr, &connector).await;
        ctl.login_private("alice", "secret").await;
        let tcp = ctl.data().await;
        let (code, text) = ctl.cmd(&format!("STOR tls-{i}.bin")).await;
        assert_eq!(code, 150, "{text}");
        let mut data = connector.connect("localhost".try_into().unwrap(), tcp).await.expect("data handshake");
        data.write_all(&pattern(if i % 2 == 0 { 2 << 20 } else { 5000 })).await.unwrap();
        data.flush().await.unwrap();
        if i % 2 == 1 {
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        drop(ctl);
        drop(data);
    }
    let left = settled(&srv.path("alice")).await;
    assert!(left.is_empty(), "{left:?}");

    // And a TLS upload that ends properly is published.
    let mut ctl = TlsCtl::explicit(srv.addr, &connector).await;
    ctl.login_private("alice", "secret").await;
    let tcp = ctl.data().await;
    assert_eq!(ctl.cmd("STOR whole.bin").await.0, 150);
    let mut data = connector.connect("localhost".try_into().unwrap(), tcp).await.expect("data handshake");
    data.write_all(&pattern(1 << 20)).await.unwrap();
    data.shutdown().await.unwrap();
    drop(data);
    assert_eq!(ctl.reply().await.0, 226);
    assert_eq!(std::fs::read(srv.path("alice/whole.bin")).unwrap(), pattern(1 << 20));
    srv.stop().await;
}
