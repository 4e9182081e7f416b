//! In-process tests of the engine through a real FTP client (suppaftp) and a
//! bare control connection, over real loopback sockets and a real temp directory.

mod common;

use std::time::Duration;

use common::{Raw, TestServer};
use suppaftp::Mode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[tokio::test]
async fn user_round_trip_of_files_and_directories() {
    let srv = TestServer::start().await;
    let mut ftp = srv.login("alice", "secret").await;
    assert_eq!(ftp.pwd().await.unwrap(), "/");
    ftp.mkdir("docs").await.unwrap();
    assert!(srv.path("alice/docs").is_dir());
    ftp.cwd("docs").await.unwrap();
    assert_eq!(ftp.pwd().await.unwrap(), "/docs");

    let data = pattern(3 * 1024 * 1024 + 17);
    ftp.put_file("big.bin", &mut &data[..]).await.unwrap();
    assert_eq!(std::fs::read(srv.path("alice/docs/big.bin")).unwrap(), data);
    assert_eq!(ftp.size("big.bin").await.unwrap(), data.len());
    ftp.mdtm("big.bin").await.unwrap();

    let mut stream = ftp.retr_as_stream("big.bin").await.unwrap();
    let mut back = Vec::new();
    stream.read_to_end(&mut back).await.unwrap();
    stream.finish().await.unwrap();
    assert_eq!(back, data);

    ftp.rename("big.bin", "moved.bin").await.unwrap();
    assert!(srv.path("alice/docs/moved.bin").is_file());
    let names = ftp.nlst(None).await.unwrap();
    assert_eq!(names, vec!["moved.bin".to_string()]);
    let lines = ftp.list(None).await.unwrap();
    assert!(lines[0].starts_with("-rw") && lines[0].ends_with(" moved.bin"), "{lines:?}");
    let facts = ftp.mlsd(None).await.unwrap();
    assert!(
        facts.iter().any(|l| l.contains("type=file;")
            && l.contains(&format!("size={};", data.len()))
            && l.ends_with(" moved.bin")),
        "{facts:?}"
    );

    ftp.rm("moved.bin").await.unwrap();
    assert!(!srv.path("alice/docs/moved.bin").exists());
    ftp.cdup().await.unwrap();
    ftp.rmdir("docs").await.unwrap();
    assert!(!srv.path("alice/docs").exists());
    ftp.quit().await.unwrap();
    srv.stop().await;
}

#[tokio::test]
async fn resume_download_and_append() {
    let srv = TestServer::start().await;
    let data = pattern(100_000);
    std::fs::write(srv.path("alice/f.bin"), &data).unwrap();
    let mut ftp = srv.login("alice", "secret").await;
    ftp.resume_transfer(60_000).await.unwrap();
    let mut stream = ftp.retr_as_stream("f.bin").await.unwrap();
    let mut tail = Vec::new();
    stream.read_to_end(&mut tail).await.unwrap();
    stream.finish().await.unwrap();
    assert_eq!(tail, data[60_000..]);

    ftp.append_file("f.bin", &mut &b"more"[..]).await.unwrap();
    let on_disk = std::fs::read(srv.path("alice/f.bin")).unwrap();
    assert_eq!(&on_disk[..data.len()], &data[..]);
    assert_eq!(&on_disk[data.len()..], b"more");
    srv.stop().await;
}

#[tokio::test]
async fn active_and_extended_passive_modes() {
    let srv = TestServer::start().await;
    std::fs::write(srv.path("alice/a.txt"), b"active!").unwrap();
    for mode in [Mode::ExtendedPassive, Mode::Passive] {
        let mut ftp = srv.login("alice", "secret").await;
        ftp.set_mode(mode);
        let mut s = ftp.retr_as_stream("a.txt").await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        s.finish().await.unwrap();
        assert_eq!(buf, b"active!");
    }
    let mut ftp = srv.login("alice", "secret").await.active_mode(Duration::from_secs(5));
    let mut s = ftp.retr_as_stream("a.txt").await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    s.finish().await.unwrap();
    assert_eq!(buf, b"active!");
    srv.stop().await;
}

#[tokio::test]
async fn guest_is_confined_to_its_home() {
    let srv = TestServer::start().await;
    std::fs::write(srv.path("alice/secret.txt"), b"alice's").unwrap();
    std::fs::write(srv.path("guest/mine.txt"), b"gina's").unwrap();
    std::os::unix::fs::symlink("../alice", srv.path("guest/escape")).unwrap();
    std::os::unix::fs::symlink("/etc", srv.path("guest/etc")).unwrap();
    let mut raw = Raw::login(srv.addr, "gina", "guest").await;
    assert_eq!(raw.cmd("CWD ..").await.0, 250);
    let (code, text) = raw.cmd("PWD").await;
    assert_eq!((code, text.trim_end()), (257, "257 \"/\" is the current directory."));
    for path in
        ["../alice/secret.txt", "/../alice/secret.txt", "escape/secret.txt", "%2e%2e/alice/secret.txt", "etc/passwd"]
    {
        let (code, text) = raw.cmd(&format!("SIZE {path}")).await;
        assert_eq!(code, 550, "SIZE {path}: {text}");
    }
    assert_eq!(raw.cmd("CWD escape").await.0, 550);
    assert_eq!(raw.cmd("SIZE mine.txt").await.0, 213);
    srv.stop().await;
}

#[tokio::test]
async fn read_only_user_cannot_write() {
    let srv = TestServer::start().await;
    std::fs::write(srv.path("alice/keep.txt"), b"keep").unwrap();
    let mut raw = Raw::login(srv.addr, "ro", "ro").await;
    assert_eq!(raw.cmd("DELE keep.txt").await.0, 550);
    assert_eq!(raw.cmd("MKD new").await.0, 550);
    // Refused at RNFR: nothing may be renamed away (RNTO then has nothing to follow).
    assert_eq!(raw.cmd("RNFR keep.txt").await.0, 550);
    assert_eq!(raw.cmd("RNTO other.txt").await.0, 503);
    let mut data = raw.pasv_connect(None).await.unwrap();
    let (code, _) = raw.cmd("STOR up.txt").await;
    assert_eq!(code, 550);
    let _ = data.shutdown().await;
    assert!(srv.path("alice/keep.txt").exists());
    assert!(!srv.path("alice/up.txt").exists());
    assert!(!srv.path("alice/new").exists());
    srv.stop().await;
}

#[tokio::test]
async fn anonymous_reads_pub_and_only_uploads_new_files_to_incoming() {
    let srv = TestServer::start().await;
    std::fs::write(srv.path("pub/readme.txt"), b"public").unwrap();
    std::fs::write(srv.path("pub/incoming/other.txt"), b"someone else's").unwrap();
    let mut ftp = srv.login("anonymous", "me@example.com").await;
    assert!(ftp.nlst(None).await.unwrap().contains(&"readme.txt".to_string()));
    let mut s = ftp.retr_as_stream("readme.txt").await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    s.finish().await.unwrap();
    assert_eq!(buf, b"public");
    assert!(ftp.put_file("outside.txt", &mut &b"x"[..]).await.is_err());
    assert!(!srv.path("pub/outside.txt").exists());
    ftp.put_file("incoming/new.txt", &mut &b"new"[..]).await.unwrap();
    assert_eq!(std::fs::read(srv.path("pub/incoming/new.txt")).unwrap(), b"new");
    assert!(ftp.put_file("incoming/other.txt", &mut &b"overwrite"[..]).await.is_err());
    assert_eq!(std::fs::read(srv.path("pub/incoming/other.txt")).unwrap(), b"someone else's");
    assert!(ftp.rm("incoming/other.txt").await.is_err());
    assert!(ftp.nlst(Some("incoming")).await.is_err());
    assert!(ftp.retr_as_stream("incoming/other.txt").await.is_err());
    srv.stop().await;
}

#[tokio::test]
async fn reply_codes_for_bad_input_and_the_session_goes_on() {
    let srv = TestServer::start().await;
    let mut raw = Raw::connect(srv.addr).await;
    assert_eq!(raw.cmd("PASS nobody").await.0, 503);
    assert_eq!(raw.cmd("RETR x").await.0, 530);
    assert_eq!(raw.cmd("FROB").await.0, 502);
    assert_eq!(raw.cmd("NOOP x").await.0, 501);
    let long = "A".repeat(5000);
    assert_eq!(raw.cmd(&long).await.0, 500);
    assert_eq!(raw.cmd("NOOP").await.0, 200);
    raw.send_bytes(b"NOOP\0\r\n").await;
    assert_eq!(raw.reply().await.0, 501);
    raw.send_bytes(b"NO\rOP\r\n").await;
    assert_eq!(raw.reply().await.0, 501);
    assert_eq!(raw.cmd("USER alice").await.0, 331);
    assert_eq!(raw.cmd("PASS wrong").await.0, 530);
    assert_eq!(raw.cmd("USER alice").await.0, 331);
    assert_eq!(raw.cmd("PASS secret").await.0, 230);
    assert_eq!(raw.cmd("REST abc").await.0, 501);
    assert_eq!(raw.cmd("TYPE E").await.0, 504);
    assert_eq!(raw.cmd("TYPE A N").await.0, 200);
    assert_eq!(raw.cmd("MODE B").await.0, 504);
    assert_eq!(raw.cmd("STRU R").await.0, 504);
    assert_eq!(raw.cmd("RNTO x").await.0, 503);
    assert_eq!(raw.cmd("RETR missing").await.0, 425);
    raw.send_bytes(b"CWD \xc3\x28\x80\r\n").await;
    assert_eq!(raw.reply().await.0, 550);
    assert_eq!(raw.cmd("PORT 127,0,0,2,200,1").await.0, 501);
    assert_eq!(raw.cmd("PORT 127,0,0,1,0,80").await.0, 501);
    assert_eq!(raw.cmd("EPRT |1|127.0.0.2|51000|").await.0, 501);
    assert_eq!(raw.cmd("EPRT |2|::1|51000|").await.0, 522);
    let (code, text) = raw.cmd("FEAT").await;
    assert_eq!(code, 211);
    for feature in ["EPSV", "EPRT", "MDTM", "MLST", "REST STREAM", "SIZE", "UTF8", "MFMT", "TVFS", "HOST"] {
        assert!(text.contains(&format!("\r\n {feature}")), "FEAT lacks {feature}: {text}");
    }
    let (code, text) = raw.cmd("HELP").await;
    assert_eq!(code, 214);
    assert!(text.contains("RETR"));
    assert_eq!(raw.cmd("HELP RETR").await.0, 214);
    assert_eq!(raw.cmd("STAT").await.0, 211);
    assert_eq!(raw.cmd("SYST").await.0, 215);
    assert_eq!(raw.cmd("EPSV ALL").await.0, 200);
    assert_eq!(raw.cmd("PASV").await.0, 503);
    assert_eq!(raw.cmd("HOST example.com").await.0, 503);
    assert_eq!(raw.cmd("REIN").await.0, 220);
    assert_eq!(raw.cmd("PWD").await.0, 530);
    assert_eq!(raw.cmd("HOST example.com").await.0, 220);
    assert_eq!(raw.cmd("QUIT").await.0, 221);
    srv.stop().await;
}

#[tokio::test]
async fn stat_path_mlst_chmod_mfmt_stou() {
    let srv = TestServer::start().await;
    std::fs::write(srv.path("alice/a.txt"), b"hello").unwrap();
    let mut raw = Raw::login(srv.addr, "alice", "secret").await;
    let (code, text) = raw.cmd("STAT .").await;
    assert_eq!(code, 213, "{text}");
    assert!(text.contains(" a.txt\r\n"), "{text}");
    let (code, text) = raw.cmd("MLST a.txt").await;
    assert_eq!(code, 250);
    assert!(text.contains("type=file;size=5;") && text.contains("UNIX.mode=0"), "{text}");
    assert_eq!(raw.cmd("SITE CHMOD 600 a.txt").await.0, 200);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(srv.path("alice/a.txt")).unwrap().permissions().mode() & 0o777, 0o600);
    let (code, text) = raw.cmd("MFMT 20200102030405 a.txt").await;
    assert_eq!(code, 213, "{text}");
    assert_eq!(raw.cmd("MDTM a.txt").await.1.trim_end(), "213 20200102030405");
    let mut data = raw.pasv_connect(None).await.unwrap();
    let (code, text) = raw.cmd("STOU").await;
    assert_eq!(code, 150, "{text}");
    let name = text.trim_end().rsplit("FILE: ").next().unwrap().to_string();
    data.write_all(b"unique").await.unwrap();
    data.shutdown().await.unwrap();
    drop(data);
    assert_eq!(raw.reply().await.0, 226);
    assert_eq!(std::fs::read(srv.path(&format!("alice/{name}"))).unwrap(), b"unique");
    srv.stop().await;
}

#[tokio::test]
async fn ascii_mode_translates_line_ends() {
    let srv = TestServer::start().await;
    std::fs::write(srv.path("alice/unix.txt"), b"one\ntwo\n").unwrap();
    let mut raw = Raw::login(srv.addr, "alice", "secret").await;
    assert_eq!(raw.cmd("TYPE A").await.0, 200);
    let mut data = raw.pasv_connect(None).await.unwrap();
    assert_eq!(raw.cmd("RETR unix.txt").await.0, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).await.unwrap();
    assert_eq!(raw.reply().await.0, 226);
    assert_eq!(got, b"one\r\ntwo\r\n");
    assert_eq!(raw.cmd("SIZE unix.txt").await.1.trim_end(), "213 10");
    let mut data = raw.pasv_connect(None).await.unwrap();
    assert_eq!(raw.cmd("STOR dos.txt").await.0, 150);
    data.write_all(b"a\r\nb\r\n").await.unwrap();
    data.shutdown().await.unwrap();
    drop(data);
    assert_eq!(raw.reply().await.0, 226);
    assert_eq!(std::fs::read(srv.path("alice/dos.txt")).unwrap(), b"a\nb\n");
    assert_eq!(raw.cmd("REST 5").await.0, 350);
    raw.pasv_connect(None).await.unwrap();
    assert_eq!(raw.cmd("RETR unix.txt").await.0, 550);
    srv.stop().await;
}

#[tokio::test]
async fn abor_interrupts_a_running_download_and_stat_answers_during_it() {
    let srv = TestServer::start().await;
    let f = std::fs::File::create(srv.path("alice/huge.bin")).unwrap();
    f.set_len(4 << 30).unwrap(); // sparse 4 GiB: far longer than the test
    let mut raw = Raw::login(srv.addr, "alice", "secret").await;
    assert_eq!(raw.cmd("TYPE I").await.0, 200);
    let mut data = raw.pasv_connect(None).await.unwrap();
    assert_eq!(raw.cmd("RETR huge.bin").await.0, 150);
    let mut buf = vec![0u8; 65536];
    data.read_exact(&mut buf).await.unwrap();
    let (code, text) = raw.cmd("STAT").await;
    assert_eq!(code, 211);
    assert!(text.contains("RETR in progress"), "{text}");
    assert_eq!(raw.cmd("NOOP").await.0, 200);
    // The Telnet "interrupt process" + "synch" prefix real clients send before ABOR.
    raw.send_bytes(b"\xff\xf4\xff\xf2ABOR\r\n").await;
    assert_eq!(raw.reply().await.0, 426);
    assert_eq!(raw.reply().await.0, 226);
    assert_eq!(raw.cmd("NOOP").await.0, 200);
    srv.stop().await;
}

#[tokio::test]
async fn passive_connection_from_a_foreign_address_fails_with_425() {
    let srv = TestServer::start().await;
    std::fs::write(srv.path("alice/a.txt"), b"x").unwrap();
    let mut raw = Raw::login(srv.addr, "alice", "secret").await;
    let data = raw.pasv_connect(Some("127.0.0.2".parse().unwrap())).await.unwrap();
    assert_eq!(raw.cmd("RETR a.txt").await.0, 150);
    assert_eq!(raw.reply().await.0, 425);
    drop(data);
    assert_eq!(raw.cmd("NOOP").await.0, 200);
    srv.stop().await;
}

#[tokio::test]
async fn limits_idle_timeout_and_max_sessions() {
    let srv = TestServer::start_with(|o| {
        o.idle_timeout = Duration::from_millis(300);
        o.max_sessions = 1;
    })
    .await;
    let mut first = Raw::login(srv.addr, "alice", "secret").await;
    let mut second = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let mut greeting = String::new();
    second.read_to_string(&mut greeting).await.unwrap();
    assert!(greeting.starts_with("421"), "{greeting}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(first.reply().await.0, 421);
    srv.stop().await;
}

#[tokio::test]
async fn globbing_in_nlst_for_mget_and_mdelete() {
    let srv = TestServer::start().await;
    for name in ["a.txt", "b.txt", "c.log", ".hidden.txt"] {
        std::fs::write(srv.path(&format!("alice/{name}")), name).unwrap();
    }
    std::fs::create_dir(srv.path("alice/sub")).unwrap();
    std::fs::write(srv.path("alice/sub/x.txt"), b"x").unwrap();
    let mut ftp = srv.login("alice", "secret").await;
    let mut names = ftp.nlst(Some("*.txt")).await.unwrap();
    names.sort();
    assert_eq!(names, vec!["a.txt", "b.txt"]);
    assert_eq!(ftp.nlst(Some("sub/*.txt")).await.unwrap(), vec!["sub/x.txt"]);
    assert_eq!(ftp.nlst(Some("[bc].*")).await.unwrap(), vec!["b.txt", "c.log"]);
    let all = ftp.nlst(Some("-a")).await.unwrap();
    assert!(all.contains(&".hidden.txt".to_string()), "{all:?}");
    let long = ftp.list(Some("-la")).await.unwrap();
    assert!(long.iter().any(|l| l.ends_with(" .hidden.txt")), "{long:?}");
    srv.stop().await;
}

#[tokio::test]
async fn ipv6_listener_uses_epsv_and_eprt_and_refuses_pasv_and_port() {
    use oxftp::fs::LocalFsFactory;
    use oxftp::policy::AnonymousLogin;
    use oxftp::{Server, VPath};
    use std::sync::Arc;
    let Ok(listener) = tokio::net::TcpListener::bind("[::1]:0").await else {
        eprintln!("no IPv6 loopback on this machine; skipping");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("alice")).unwrap();
    std::fs::write(dir.path().join("alice/six.txt"), b"over IPv6").unwrap();
    let addr = listener.local_addr().unwrap();
    let storage = Arc::new(LocalFsFactory::new(dir.path()).unwrap());
    let auth = Arc::new(AnonymousLogin::new(Some(Arc::new(common::TestAccounts)), VPath::root(), None));
    let server = Server::new(storage, auth);
    tokio::spawn(async move { server.run(vec![listener], std::future::pending()).await });

    let mut raw = Raw::login(addr, "alice", "secret").await;
    assert_eq!(raw.cmd("PASV").await.0, 425);
    assert_eq!(raw.cmd("PORT 127,0,0,1,200,1").await.0, 522);
    assert_eq!(raw.cmd("EPSV 1").await.0, 522);
    assert_eq!(raw.cmd("EPRT |1|127.0.0.1|51000|").await.0, 522);
    let (code, text) = raw.cmd("EPSV 2").await;
    assert_eq!(code, 229, "{text}");
    let port: u16 = text.split("|||").nth(1).and_then(|s| s.split('|').next()).and_then(|p| p.parse().ok()).unwrap();
    let mut data = tokio::net::TcpStream::connect(("::1", port)).await.unwrap();
    assert_eq!(raw.cmd("RETR six.txt").await.0, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).await.unwrap();
    assert_eq!(raw.reply().await.0, 226);
    assert_eq!(got, b"over IPv6");

    // Active mode over IPv6: EPRT |2|::1|port|.
    let client_listener = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
    let port = client_listener.local_addr().unwrap().port();
    assert_eq!(raw.cmd(&format!("EPRT |2|::1|{port}|")).await.0, 200);
    assert_eq!(raw.cmd("RETR six.txt").await.0, 150);
    let (mut data, _) = client_listener.accept().await.unwrap();
    let mut got = Vec::new();
    data.read_to_end(&mut got).await.unwrap();
    assert_eq!(raw.reply().await.0, 226);
    assert_eq!(got, b"over IPv6");
}

async fn greeting_code(addr: std::net::SocketAddr) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 3];
    s.read_exact(&mut buf).await.unwrap();
    std::str::from_utf8(&buf).unwrap().parse().unwrap()
}

#[tokio::test]
async fn per_ip_limit_and_ip_rules_answer_421_at_the_greeting() {
    let srv = TestServer::start_with(|o| {
        o.max_sessions_per_ip = 2;
        o.ip_rules.deny.push("127.0.0.3".parse().unwrap());
    })
    .await;
    let _a = Raw::connect(srv.addr).await;
    let _b = Raw::connect(srv.addr).await;
    assert_eq!(greeting_code(srv.addr).await, 421);
    drop(_a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _c = Raw::connect(srv.addr).await;
    // A denied source address.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.3:0".parse().unwrap()).unwrap();
    let mut s = socket.connect(srv.addr).await.unwrap();
    let mut greeting = String::new();
    s.read_to_string(&mut greeting).await.unwrap();
    assert!(greeting.starts_with("421 Connections from your address are not allowed"), "{greeting}");
    srv.stop().await;
}

#[tokio::test]
async fn failed_logins_ban_the_address_until_the_ban_expires() {
    let srv = TestServer::start_with(|o| {
        o.max_login_failures = 10;
        o.ban = Some(oxftp::limits::BanPolicy {
            max_failures: 3,
            window: Duration::from_secs(60),
            ban_time: Duration::from_millis(700),
            per_user: false,
        });
    })
    .await;
    let mut raw = Raw::connect(srv.addr).await;
    for _ in 0..2 {
        assert_eq!(raw.cmd("USER alice").await.0, 331);
        assert_eq!(raw.cmd("PASS wrong").await.0, 530);
    }
    assert_eq!(raw.cmd("USER alice").await.0, 331);
    assert_eq!(raw.cmd("PASS wrong").await.0, 421);
    assert_eq!(greeting_code(srv.addr).await, 421);
    tokio::time::sleep(Duration::from_millis(900)).await;
    let _ok = Raw::login(srv.addr, "alice", "secret").await;
    srv.stop().await;
}

#[tokio::test]
async fn per_user_session_limit_and_allowed_ips_refuse_at_login() {
    let srv = TestServer::start().await;
    // `limited` may hold one session and only from 127.0.0.1 (see TestAccounts).
    let _first = Raw::login(srv.addr, "limited", "limited").await;
    let mut second = Raw::connect(srv.addr).await;
    assert_eq!(second.cmd("USER limited").await.0, 331);
    let (code, text) = second.cmd("PASS limited").await;
    assert_eq!(code, 530, "{text}");
    assert!(text.contains("Too many sessions"), "{text}");
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    drop(_first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stream = socket.connect(srv.addr).await.unwrap();
    let mut elsewhere = Raw::from_stream(stream).await;
    assert_eq!(elsewhere.cmd("USER limited").await.0, 331);
    assert_eq!(elsewhere.cmd("PASS limited").await.0, 530);
    srv.stop().await;
}

#[tokio::test]
async fn quota_stops_an_upload_with_552_and_leaves_nothing() {
    let srv = TestServer::start().await;
    std::fs::write(srv.path("quota/existing.bin"), vec![1u8; 60_000]).unwrap();
    let mut raw = Raw::login(srv.addr, "quota", "quota").await;
    assert_eq!(raw.cmd("TYPE I").await.0, 200);
    let mut data = raw.pasv_connect(None).await.unwrap();
    assert_eq!(raw.cmd("STOR big.bin").await.0, 150);
    // 60 000 used + 50 000 > 100 000 allowed. The server may close early: ignore write errors.
    let _ = data.write_all(&[2u8; 50_000]).await;
    let _ = data.shutdown().await;
    drop(data);
    let (code, text) = raw.reply().await;
    assert_eq!(code, 552, "{text}");
    assert!(!srv.path("quota/big.bin").exists());
    // A small one still fits.
    let mut data = raw.pasv_connect(None).await.unwrap();
    assert_eq!(raw.cmd("STOR small.bin").await.0, 150);
    data.write_all(&[3u8; 10_000]).await.unwrap();
    data.shutdown().await.unwrap();
    drop(data);
    assert_eq!(raw.reply().await.0, 226);
    assert_eq!(std::fs::metadata(srv.path("quota/small.bin")).unwrap().len(), 10_000);
    srv.stop().await;
}

#[tokio::test]
async fn per_directory_permissions_most_specific_wins() {
    let srv = TestServer::start().await;
    std::fs::write(srv.path("alice/top.txt"), b"t").unwrap();
    std::fs::write(srv.path("alice/upload/archive/old.txt"), b"o").unwrap();
    std::fs::write(srv.path("alice/upload/tmp.txt"), b"x").unwrap();
    let mut raw = Raw::login(srv.addr, "perm", "perm").await;
    let (code, text) = raw.cmd("DELE top.txt").await;
    assert_eq!(code, 550, "{text}");
    assert!(text.contains("no 'delete' permission"), "{text}");
    assert_eq!(raw.cmd("MKD newdir").await.0, 550);
    assert_eq!(raw.cmd("DELE upload/tmp.txt").await.0, 250);
    assert_eq!(raw.cmd("DELE upload/archive/old.txt").await.0, 550);
    assert_eq!(raw.cmd("MKD upload/archive/sub").await.0, 257);
    assert!(srv.path("alice/top.txt").exists());
    assert!(!srv.path("alice/upload/tmp.txt").exists());
    assert!(srv.path("alice/upload/archive/old.txt").exists());
    srv.stop().await;
}

#[tokio::test]
async fn bandwidth_limit_paces_a_download() {
    let srv = TestServer::start().await;
    std::fs::write(srv.path("alice/four.bin"), vec![9u8; 4 * 1024 * 1024]).unwrap();
    let mut raw = Raw::login(srv.addr, "slow", "slow").await;
    assert_eq!(raw.cmd("TYPE I").await.0, 200);
    let mut data = raw.pasv_connect(None).await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(raw.cmd("RETR four.bin").await.0, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).await.unwrap();
    assert_eq!(raw.reply().await.0, 226);
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(got.len(), 4 * 1024 * 1024);
    // 4 MiB at 1 MiB/s with a 0.1 s burst: about 3.9 s; generous bounds for a busy machine.
    assert!((3.0..8.0).contains(&secs), "took {secs:.2} s");
    srv.stop().await;
}

#[derive(Debug, Default)]
struct Recorder(std::sync::Mutex<Vec<oxftp::events::TransferEvent>>);

impl oxftp::events::TransferListener for Recorder {
    fn transfer_finished(&self, event: &oxftp::events::TransferEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

#[tokio::test]
async fn transfer_listeners_hear_completed_uploads() {
    let recorder = std::sync::Arc::new(Recorder::default());
    let hook = recorder.clone();
    let srv = TestServer::start_with(move |o| o.transfer_listeners.push(hook)).await;
    let mut ftp = srv.login("alice", "secret").await;
    ftp.put_file("landed.csv", &mut &b"a,b\n"[..]).await.unwrap();
    ftp.quit().await.unwrap();
    let events = recorder.0.lock().unwrap().clone();
    let upload = events.iter().find(|e| e.command == "STOR").expect("STOR event");
    assert!(upload.completed);
    assert_eq!(upload.kind, oxftp::events::TransferKind::Upload);
    assert_eq!(upload.path.as_bytes(), b"/landed.csv");
    assert_eq!(upload.bytes, 4);
    assert_eq!(upload.user, "alice");
    srv.stop().await;
}

/// Uploads past the first 256 KiB switch to splice(2) (plain TCP, binary,
/// local disk): resumed, appended (which must keep copying: splice refuses
/// O_APPEND files), aborted and stalled uploads behave as the copy path does.
#[tokio::test]
async fn big_uploads_resume_append_abort_and_stall() {
    let srv = TestServer::start_with(|o| o.data_timeout = Duration::from_millis(800)).await;
    let data = pattern(5 * 1024 * 1024 + 333);
    let mut raw = Raw::login(srv.addr, "alice", "secret").await;
    assert_eq!(raw.cmd("TYPE I").await.0, 200);

    // A partial upload, then REST + STOR of the rest.
    let cut = 1024 * 1024 + 5;
    std::fs::write(srv.path("alice/r.bin"), &data[..cut]).unwrap();
    let mut conn = raw.pasv_connect(None).await.unwrap();
    assert_eq!(raw.cmd(&format!("REST {cut}")).await.0, 350);
    assert_eq!(raw.cmd("STOR r.bin").await.0, 150);
    conn.write_all(&data[cut..]).await.unwrap();
    drop(conn);
    assert_eq!(raw.reply().await.0, 226);
    assert_eq!(std::fs::read(srv.path("alice/r.bin")).unwrap(), data);

    // APPE of a big tail.
    let mut conn = raw.pasv_connect(None).await.unwrap();
    assert_eq!(raw.cmd("APPE r.bin").await.0, 150);
    conn.write_all(&data).await.unwrap();
    drop(conn);
    assert_eq!(raw.reply().await.0, 226);
    let on_disk = std::fs::read(srv.path("alice/r.bin")).unwrap();
    assert_eq!((&on_disk[..data.len()], &on_disk[data.len()..]), (&data[..], &data[..]));

    // ABOR in the middle of a big atomic upload: nothing is left behind.
    let mut conn = raw.pasv_connect(None).await.unwrap();
    assert_eq!(raw.cmd("STOR gone.bin").await.0, 150);
    conn.write_all(&data[..2 * 1024 * 1024]).await.unwrap();
    raw.send_bytes(b"ABOR\r\n").await;
    let first = raw.reply().await.0;
    assert!(first == 426 || first == 226, "{first}");
    if first == 426 {
        assert_eq!(raw.reply().await.0, 226);
    }
    drop(conn);
    assert_eq!(raw.cmd("NOOP").await.0, 200);
    let mut left: Vec<_> = std::fs::read_dir(srv.path("alice")).unwrap().map(|e| e.unwrap().file_name()).collect();
    left.sort();
    assert_eq!(left, ["r.bin", "upload"], "neither gone.bin nor a temporary file");

    // A client that stops sending mid-upload is cut off after the data timeout.
    let mut conn = raw.pasv_connect(None).await.unwrap();
    assert_eq!(raw.cmd("STOR stalled.bin").await.0, 150);
    conn.write_all(&data[..1024 * 1024]).await.unwrap();
    let (code, text) = raw.reply().await;
    assert_eq!(code, 426, "{text}");
    assert!(!srv.path("alice/stalled.bin").exists());
    assert_eq!(raw.cmd("NOOP").await.0, 200);
    srv.stop().await;
}

#[tokio::test]
async fn passive_port_is_reused_while_its_last_connection_is_in_time_wait() {
    // One passive port: after each download the server closed first, so that
    // port is in TIME_WAIT, and the next EPSV must still be able to listen on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let srv = TestServer::start_with(|o| o.passive_ports = Some((port, port))).await;
    std::fs::write(srv.path("alice/a.txt"), b"time wait").unwrap();
    let mut raw = Raw::login(srv.addr, "alice", "secret").await;
    for round in 0..3 {
        let mut data = raw.pasv_connect(None).await.unwrap();
        assert!(data.local_addr().unwrap().ip().is_loopback());
        assert_eq!(data.peer_addr().unwrap().port(), port, "round {round}");
        assert_eq!(raw.cmd("RETR a.txt").await.0, 150);
        let mut got = Vec::new();
        data.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"time wait");
        assert_eq!(raw.reply().await.0, 226);
        drop(data);
    }
    // A second session at the same moment finds the one port taken by a
    // live listener and says so.
    let (code, _) = raw.cmd("EPSV").await;
    assert_eq!(code, 229);
    let mut other = Raw::login(srv.addr, "alice", "secret").await;
    assert_eq!(other.cmd("EPSV").await.0, 425);
    assert_eq!(other.cmd("NOOP").await.0, 200);
    srv.stop().await;
}

#[tokio::test]
async fn site_chmod_leaves_out_setuid_setgid_and_sticky_bits() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |srv: &TestServer| std::fs::metadata(srv.path("alice/tool")).unwrap().permissions().mode() & 0o7777;
    let srv = TestServer::start().await;
    std::fs::write(srv.path("alice/tool"), b"#!/bin/sh\n").unwrap();
    let mut raw = Raw::login(srv.addr, "alice", "secret").await;
    for (asked, kept) in [("4755", 0o755), ("2750", 0o750), ("1777", 0o777), ("7700", 0o700)] {
        let (code, text) = raw.cmd(&format!("SITE CHMOD {asked} tool")).await;
        assert_eq!(code, 200, "{text}");
        assert!(text.contains("not allowed"), "the reply says what was left out: {text}");
        assert_eq!(mode(&srv), kept, "SITE CHMOD {asked}");
    }
    let (code, text) = raw.cmd("SITE CHMOD 640 tool").await;
    assert_eq!((code, text.contains("not allowed")), (200, false), "{text}");
    assert_eq!(mode(&srv), 0o640);
    srv.stop().await;

    // Allowed by the server's option.
    let srv = TestServer::start_with(|o| o.chmod_special_bits = true).await;
    std::fs::write(srv.path("alice/tool"), b"#!/bin/sh\n").unwrap();
    let mut raw = Raw::login(srv.addr, "alice", "secret").await;
    assert_eq!(raw.cmd("SITE CHMOD 4755 tool").await.0, 200);
    assert_eq!(mode(&srv), 0o4755);
    srv.stop().await;
}

/// A stack given to the server is the one its sessions use, so another front
/// end holding it shares the account's quota counter with FTP.
#[tokio::test]
async fn a_stack_shared_with_another_front_end_shares_the_quota_counter() {
    use std::sync::Arc;

    use oxftp::policy::Stack;
    use oxftp::{AccessClass, Identity, VPath};

    let mut shared = None;
    let srv = TestServer::start_with_stack(|factory| {
        let stack = Arc::new(Stack::new(factory));
        shared = Some(Arc::clone(&stack));
        stack
    })
    .await;
    let stack = shared.expect("the server took the stack");
    let mut raw = Raw::login(srv.addr, "quota", "quota").await;
    assert_eq!(raw.cmd("TYPE I").await.0, 200);
    let mut data = raw.pasv_connect(None).await.unwrap();
    assert_eq!(raw.cmd("STOR up.bin").await.0, 150);
    data.write_all(&[1u8; 1000]).await.unwrap();
    drop(data);
    assert_eq!(raw.reply().await.0, 226);
    // Written behind the server's back: a fresh count would see it, the shared one does not.
    std::fs::write(srv.path("quota/outside.bin"), [2u8; 500]).unwrap();
    let mut identity = Identity::new("quota", AccessClass::User);
    identity.home = VPath::parse(b"/quota").unwrap();
    identity.limits.quota_bytes = Some(100_000);
    let storage = stack.for_identity(&identity).await.unwrap();
    let usage = stack.quotas().usage_for("quota", storage.as_ref()).await.unwrap();
    assert_eq!(usage.bytes(), 1000, "the FTP session's count, not a new walk");
    srv.stop().await;
}

#[tokio::test]
async fn facts_times_and_site_help_say_what_the_policy_allows() {
    let srv = TestServer::start().await;
    std::fs::write(srv.path("alice/a.txt"), b"hello").unwrap();
    std::fs::write(srv.path("pub/readme.txt"), b"public").unwrap();
    let mut anon = Raw::login(srv.addr, "anonymous", "me@example.com").await;
    // The upload directory can be entered and written to, not listed.
    let (code, text) = anon.cmd("MLST incoming").await;
    assert_eq!(code, 250, "{text}");
    assert!(text.contains("perm=ce;"), "{text}");
    assert!(anon.cmd("MLST readme.txt").await.1.contains("perm=r;"));
    // Times cannot be set by anonymous users, and the reply says so.
    let (code, text) = anon.cmd("MFMT 20200102030405 readme.txt").await;
    assert_eq!(code, 550, "{text}");
    assert!(text.contains("cannot change file times"), "{text}");

    let mut raw = Raw::login(srv.addr, "alice", "secret").await;
    assert!(raw.cmd("MLST a.txt").await.1.contains("perm=adfrw;"));
    let (code, text) = raw.cmd("MLST .").await;
    assert!(code == 250 && text.contains("perm=cdeflmp;"), "{text}");
    // The old set-time form of MDTM.
    let (code, text) = raw.cmd("MDTM 20200102030405 a.txt").await;
    assert_eq!(code, 213, "{text}");
    assert_eq!(raw.cmd("MDTM a.txt").await.1.trim_end(), "213 20200102030405");
    // A file whose name looks like the set form is still just a file.
    std::fs::write(srv.path("alice/20210101000000 x"), b"odd").unwrap();
    assert_eq!(raw.cmd("MDTM 20210101000000 x").await.0, 213);
    assert_eq!(raw.cmd("MDTM 20200102030405 missing.txt").await.0, 550);
    let (code, text) = raw.cmd("SITE HELP").await;
    assert_eq!(code, 214, "{text}");
    for (name, ..) in oxftp::proto::command::SITE_COMMANDS {
        assert!(text.contains(&format!(" {name} ")), "{name} missing from {text}");
    }
    assert!(raw.cmd("SITE HELP chmod").await.1.contains("SITE CHMOD <octal mode> <path>"));
    srv.stop().await;
}

#[tokio::test]
async fn hash_digests_files_within_a_per_session_budget() {
    let srv = TestServer::start_with(|o| o.hash_bytes_per_session = 12).await;
    std::fs::write(srv.path("alice/abc.txt"), b"abc").unwrap();
    std::fs::write(srv.path("alice/big.bin"), [0u8; 9]).unwrap();
    std::fs::write(srv.path("pub/readme.txt"), b"public").unwrap();
    let mut raw = Raw::login(srv.addr, "alice", "secret").await;
    let (code, feat) = raw.cmd("FEAT").await;
    assert!(code == 211 && feat.contains(" HASH SHA-256*;SHA-1;MD5;CRC32\r\n"), "{feat}");
    let (code, text) = raw.cmd("HASH abc.txt").await;
    assert_eq!(code, 213, "{text}");
    assert_eq!(
        text.trim_end(),
        "213 SHA-256 0-3 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad /abc.txt"
    );
    assert_eq!(raw.cmd("OPTS HASH md5").await.1.trim_end(), "200 MD5");
    assert_eq!(raw.cmd("OPTS HASH").await.1.trim_end(), "200 MD5");
    assert!(raw.cmd("FEAT").await.1.contains(" HASH SHA-256;SHA-1;MD5*;CRC32\r\n"));
    assert_eq!(raw.cmd("HASH abc.txt").await.1.trim_end(), "213 MD5 0-3 900150983cd24fb0d6963f7d28e17f72 /abc.txt");
    assert_eq!(raw.cmd("OPTS HASH SHA-512").await.0, 501);
    // The older one-step forms share the budget: 3 more bytes leaves 2.
    assert_eq!(raw.cmd("XCRC \"abc.txt\"").await.1.trim_end(), "250 352441c2");
    // 9 of 12 bytes spent: a 9-byte file is beyond the budget, and REIN does not refill it.
    let (code, text) = raw.cmd("HASH big.bin").await;
    assert!(code == 550 && text.contains("budget"), "{text}");
    assert_eq!(raw.cmd("REIN").await.0, 220);
    assert_eq!(raw.cmd("USER alice").await.0, 331);
    assert_eq!(raw.cmd("PASS secret").await.0, 230);
    assert_eq!(raw.cmd("XSHA256 abc.txt").await.0, 250);
    assert_eq!(raw.cmd("XMD5 abc.txt").await.0, 550);
    assert_eq!(raw.cmd("HASH .").await.0, 550);
    // Off for anonymous by default.
    let mut anon = Raw::login(srv.addr, "anonymous", "me@example.com").await;
    let (code, text) = anon.cmd("HASH readme.txt").await;
    assert!(code == 550 && text.contains("anonymous"), "{text}");
    srv.stop().await;
}
