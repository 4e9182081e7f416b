//! End-to-end tests with the classic BSD-style command-line clients, `tnftp`
//! and `inetutils-ftp`, scripted through stdin the way people script them in
//! cron jobs. One script walks through the everyday commands; each variant
//! runs it over a different data-channel mode, and every effect is checked
//! on disk, in the local directory, or in the client's transcript.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use common::{Daemon, Outcome, PASSWORD, pattern_bytes, read, require_tool, run_with_stdin, write};

const TIMEOUT: Duration = Duration::from_secs(90);

/// The two clients print some results differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Tnftp,
    Inetutils,
}

impl Client {
    fn binary(self) -> &'static str {
        match self {
            Client::Tnftp => "tnftp",
            Client::Inetutils => "inetutils-ftp",
        }
    }
}

/// Local files the script uploads.
fn prepare_local(local: &Path) -> Vec<u8> {
    let up = pattern_bytes(100 * 1024 + 5, 21);
    write(local.join("up1.bin"), &up);
    write(local.join("m1.txt"), b"m1\n");
    write(local.join("m2.txt"), b"m2\n");
    write(local.join("m3.txt"), b"m3\n");
    write(local.join("app.txt"), b"app\n");
    write(local.join("text.txt"), b"t1\nt2\n");
    std::fs::create_dir_all(local.join("sub")).unwrap();
    up
}

/// Server-side files the script downloads and manipulates.
fn prepare_remote(d: &Daemon) {
    write(d.disk("alice/cl/g1.txt"), b"g1\n");
    write(d.disk("alice/cl/g2.txt"), b"g2\n");
    write(d.disk("alice/cl/other.bin"), b"not a txt\n");
    write(d.disk("alice/cl/del.txt"), b"to delete\n");
    write(d.disk("alice/cl/lf.txt"), b"l1\nl2\n");
    let old = d.disk("alice/cl/old.txt");
    write(&old, b"old\n");
    // 2021-03-04 05:06:07 UTC, for `modtime`.
    let when = UNIX_EPOCH + Duration::from_secs(1_614_834_367);
    std::fs::File::options().write(true).open(&old).unwrap().set_modified(when).unwrap();
}

fn script(port: u16) -> String {
    format!(
        "open 127.0.0.1 {port}
user alice {PASSWORD}
status
pwd
prompt
binary
hash
put up1.bin up1.bin
hash
mkdir cl2
cd cl2
pwd
mput m*.txt
mdelete m[12].txt
cd ../cl
mget g*.txt
lcd sub
get g1.txt g1copy.txt
lcd ..
append app.txt g1.txt
ascii
put text.txt ascii-up.txt
get lf.txt lf-ascii.txt
binary
size g1.txt
modtime old.txt
rename g2.txt g2renamed.txt
delete del.txt
cd ..
mkdir rmme
rmdir rmme
ls
dir cl
quote help
close
bye
"
    )
}

/// Runs the script with `flags` and checks everything it should have done.
/// `data_verb` is the command the chosen mode opens data connections with.
fn walk_through(client: Client, flags: &[&str], data_verb: &str) {
    require_tool(client.binary());
    let d = Daemon::start();
    prepare_remote(&d);
    let local = d.scratch("classic");
    let up = prepare_local(&local);

    let mut cmd = Command::new(client.binary());
    cmd.args(flags).args(["-n", "-v", "-d"]).current_dir(&local).env("HOME", &local);
    let out = run_with_stdin(&mut cmd, script(d.port()).as_bytes(), TIMEOUT);
    check(client, &d, &local, &up, &out, data_verb);
}

fn check(client: Client, d: &Daemon, local: &Path, up: &[u8], out: &Outcome, data_verb: &str) {
    assert!(!out.timed_out, "the client hung\n{}", out.dump());
    let text = out.all_output();
    let has = |needle: &str| assert!(text.contains(needle), "expected {needle:?} in the transcript\n{}", out.dump());
    let sent = |cmd: &str| text.lines().any(|l| l.starts_with(&format!("---> {cmd}")));

    // open + user
    has("230");
    assert!(sent("USER alice"), "USER not sent\n{}", out.dump());
    // The chosen data-channel mode is the one in use.
    assert!(sent(data_verb), "no {data_verb} command was sent\n{}", out.dump());
    // status, prompt, hash
    has("Connected");
    has("Interactive mode off");
    has("Hash mark printing on");
    assert!(text.lines().any(|l| l.starts_with('#')), "no hash marks were printed\n{}", out.dump());

    // put (binary)
    assert!(read(d.disk("alice/up1.bin")) == up, "put up1.bin: stored bytes differ");
    // mkdir, cd, pwd
    has("257");
    has("/cl2");
    // mput m*.txt then mdelete m[12].txt: only m3.txt is left.
    for m in ["m1.txt", "m2.txt", "m3.txt"] {
        has(&format!("local: {m} remote: {m}"));
    }
    assert_eq!(read(d.disk("alice/cl2/m3.txt")), b"m3\n", "mput m*.txt");
    assert!(!d.disk("alice/cl2/m1.txt").exists(), "mdelete m[12].txt left m1.txt");
    assert!(!d.disk("alice/cl2/m2.txt").exists(), "mdelete m[12].txt left m2.txt");
    // mget g*.txt into the local directory; nothing else matched.
    assert_eq!(read(local.join("g1.txt")), b"g1\n", "mget g*.txt");
    assert_eq!(read(local.join("g2.txt")), b"g2\n", "mget g*.txt");
    assert!(!local.join("other.bin").exists(), "mget g*.txt fetched other.bin");
    // lcd + get with a local name
    has("Local directory now");
    assert_eq!(read(local.join("sub/g1copy.txt")), b"g1\n", "get after lcd");
    // append
    assert_eq!(read(d.disk("alice/cl/g1.txt")), b"g1\napp\n", "append app.txt g1.txt");
    // ascii put and get round-trip LF text (the client sends CRLF, the server stores LF).
    assert_eq!(read(d.disk("alice/cl/ascii-up.txt")), b"t1\nt2\n", "ascii put");
    assert_eq!(read(local.join("lf-ascii.txt")), b"l1\nl2\n", "ascii get");
    has("200");
    // size (binary) of the appended file: 7 bytes.
    match client {
        Client::Tnftp => has("g1.txt\t7"),
        Client::Inetutils => has("213 7"),
    }
    // modtime: both clients print the server's UTC time their own way.
    assert!(
        text.lines().any(|l| l.starts_with("old.txt") && l.contains("2021") && l.contains("05:06:07")),
        "modtime old.txt did not show 2021-03-04 05:06:07\n{}",
        out.dump()
    );
    // rename, delete
    assert!(!d.disk("alice/cl/g2.txt").exists(), "rename left the old name");
    assert_eq!(read(d.disk("alice/cl/g2renamed.txt")), b"g2\n", "rename");
    assert!(!d.disk("alice/cl/del.txt").exists(), "delete del.txt");
    assert_eq!(read(d.disk("alice/cl/other.bin")), b"not a txt\n");
    // mkdir + rmdir
    assert!(!d.disk("alice/rmme").exists(), "rmdir rmme");
    // ls and dir
    assert!(text.lines().any(|l| l.ends_with(" up1.bin")), "ls did not list up1.bin\n{}", out.dump());
    assert!(text.lines().any(|l| l.starts_with('-') && l.ends_with(" g2renamed.txt")), "dir cl\n{}", out.dump());
    // quote help: the literal HELP reply, multi-line 214.
    assert!(sent("HELP") || sent("help"), "quote help not sent\n{}", out.dump());
    has("214-");
    // close
    has("221");
    assert!(out.success(), "the client exited with an error\n{}", out.dump());
    // No upload left a temporary file behind.
    for dir in ["alice", "alice/cl", "alice/cl2"] {
        for entry in std::fs::read_dir(d.disk(dir)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with(".oxftp-upload"), "temporary upload file {dir}/{name} left behind");
        }
    }
}

#[test]
fn tnftp_passive() {
    walk_through(Client::Tnftp, &["-p"], "EPSV");
}

#[test]
fn tnftp_active() {
    walk_through(Client::Tnftp, &["-A"], "EPRT");
}

#[test]
fn inetutils_passive() {
    walk_through(Client::Inetutils, &["-p"], "PASV");
}

#[test]
fn inetutils_active() {
    walk_through(Client::Inetutils, &[], "PORT");
}

#[test]
fn classic_client_reports_a_failed_login() {
    require_tool("inetutils-ftp");
    let d = Daemon::start();
    let local = d.scratch("badlogin");
    let script = format!("open 127.0.0.1 {}\nuser alice wrong-password\npwd\nls\nbye\n", d.port());
    let mut cmd = Command::new("inetutils-ftp");
    cmd.args(["-p", "-n", "-v"]).current_dir(&local).env("HOME", &local);
    let out = run_with_stdin(&mut cmd, script.as_bytes(), TIMEOUT);
    assert!(!out.timed_out, "{}", out.dump());
    out.assert_output_contains("530");
    assert!(!out.all_output().contains("230"), "logged in with a wrong password\n{}", out.dump());
}
