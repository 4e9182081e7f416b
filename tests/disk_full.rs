//! A full disk: on a small tmpfs the test mounts (root only), STOR gets 452
//! (insufficient storage space in system, RFC 959), the partial upload is
//! removed at once (its space comes back), downloads and listings keep
//! working, and an upload that fits goes through afterwards; an account over
//! its quota gets 552 instead. Skipped when the test cannot mount (not root,
//! no mount privilege) unless `OXFTP_REQUIRE_ROOT_TESTS=1`.

#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{Raw, TestAccounts};
use oxftp::fs::LocalFsFactory;
use oxftp::policy::AnonymousLogin;
use oxftp::{Options, Server, VPath};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A tmpfs of `size` mounted on a fresh directory; unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "oxftp-test"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(SmallDisk { dir }),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                    Err(e) => e.to_string(),
                };
                if std::env::var("OXFTP_REQUIRE_ROOT_TESTS").as_deref() == Ok("1") {
                    panic!("OXFTP_REQUIRE_ROOT_TESTS=1 but mounting a tmpfs failed: {why}");
                }
                eprintln!("SKIPPED: cannot mount a tmpfs (needs root): {why}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Free bytes on the file system.
    fn free(&self) -> u64 {
        let out = Command::new("df").args(["-B1", "--output=avail"]).arg(self.path()).output().expect("df");
        String::from_utf8_lossy(&out.stdout).lines().nth(1).and_then(|l| l.trim().parse().ok()).expect("df output")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 + i / 511) as u8).collect()
}

/// Names of files anywhere in `dir`'s top level (hidden ones included).
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Serve `root` (alice's home is `root/alice`, the quota account's `root/quota`).
async fn serve(root: PathBuf) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let storage = Arc::new(LocalFsFactory::new(&root).expect("storage"));
    let auth = Arc::new(AnonymousLogin::new(Some(Arc::new(TestAccounts)), VPath::parse(b"/pub").expect("vpath"), None));
    let mut options = Options::default();
    options.failed_login_delay = Duration::ZERO;
    let server = Server::new(storage, auth).with_options(options);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        server
            .run(vec![listener], async {
                let _ = stopped.await;
            })
            .await
    });
    (addr, stop)
}

/// STOR `data` as `name` over a fresh data connection; the final reply.
async fn stor(ctl: &mut Raw, name: &str, data: &[u8]) -> (u16, String) {
    let mut sock = ctl.pasv_connect(None).await.expect("data connection");
    let (code, text) = ctl.cmd(&format!("STOR {name}")).await;
    assert_eq!(code, 150, "{text}");
    // The server stops reading when the disk fills; the rest may not go out.
    let _ = sock.write_all(data).await;
    drop(sock);
    ctl.reply().await
}

async fn retr(ctl: &mut Raw, name: &str) -> (u16, Vec<u8>) {
    let mut sock = ctl.pasv_connect(None).await.expect("data connection");
    let (code, text) = ctl.cmd(&format!("RETR {name}")).await;
    assert_eq!(code, 150, "{text}");
    let mut back = Vec::new();
    sock.read_to_end(&mut back).await.expect("read");
    (ctl.reply().await.0, back)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_452_removes_the_partial_upload_and_keeps_serving() {
    let Some(disk) = SmallDisk::mount("8m") else { return };
    for d in ["alice", "quota", "pub"] {
        std::fs::create_dir(disk.path().join(d)).unwrap();
    }
    let kept = pattern(1 << 20);
    std::fs::write(disk.path().join("alice/kept.bin"), &kept).unwrap();
    let (addr, stop) = serve(disk.path().to_path_buf()).await;
    let mut ctl = Raw::login(addr, "alice", "secret").await;
    assert_eq!(ctl.cmd("TYPE I").await.0, 200);
    let free_before = disk.free();

    // Bigger than the disk, through the splice path (binary, plain TCP) ...
    let (code, text) = stor(&mut ctl, "huge.bin", &pattern(12 << 20)).await;
    assert_eq!(code, 452, "{text}");
    // ... and through buffers (ASCII).
    assert_eq!(ctl.cmd("TYPE A").await.0, 200);
    let lines: Vec<u8> = b"a line of text\r\n".iter().copied().cycle().take(12 << 20).collect();
    let (code, text) = stor(&mut ctl, "huge.txt", &lines).await;
    assert_eq!(code, 452, "{text}");
    assert_eq!(ctl.cmd("TYPE I").await.0, 200);

    // Nothing is left of either, and their space is back.
    assert_eq!(files(&disk.path().join("alice")), ["kept.bin"]);
    let free_after = disk.free();
    assert!(free_after + 64 * 1024 >= free_before, "space not given back: {free_before} before, {free_after} after");

    // Downloads, listings and uploads that fit go on.
    let (code, back) = retr(&mut ctl, "kept.bin").await;
    assert_eq!((code, back == kept), (226, true));
    let (code, text) = ctl.cmd("STAT .").await;
    assert!(code == 213 && text.contains("kept.bin") && !text.contains("huge"), "{text}");
    let (code, text) = stor(&mut ctl, "fits.bin", &pattern(2 << 20)).await;
    assert_eq!(code, 226, "{text}");
    assert_eq!(std::fs::read(disk.path().join("alice/fits.bin")).unwrap(), pattern(2 << 20));
    let mut other = Raw::login(addr, "alice", "secret").await;
    assert_eq!(other.cmd("TYPE I").await.0, 200);
    let (code, back) = retr(&mut other, "fits.bin").await;
    assert_eq!((code, back.len()), (226, 2 << 20));

    // Over a quota (room on the disk) is 552, exceeded storage allocation.
    let mut quota = Raw::login(addr, "quota", "quota").await;
    assert_eq!(quota.cmd("TYPE I").await.0, 200);
    let (code, text) = stor(&mut quota, "big.bin", &pattern(200_000)).await;
    assert_eq!(code, 552, "{text}");
    assert!(files(&disk.path().join("quota")).is_empty());
    let _ = stop.send(());
}
