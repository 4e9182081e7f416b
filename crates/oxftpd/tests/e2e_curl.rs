//! End-to-end tests driving the `curl` command-line client against a real
//! `oxftpd`: every data-channel mode curl offers, uploads, resumes, ASCII
//! mode, listings, raw commands and logins. Effects are checked on disk.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Daemon, Outcome, PASSWORD, pattern_bytes, read, require_tool, run, write};

/// Longer than curl's own `--max-time`, so curl reports its own timeouts.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs curl verbosely (the protocol transcript lands on stderr) with no
/// user config (`-q`, private `$HOME`) and bounded waits.
fn curl(d: &Daemon, args: &[&str]) -> Outcome {
    require_tool("curl");
    let mut cmd = Command::new("curl");
    cmd.args(["-q", "-sS", "-v", "--max-time", "45", "--connect-timeout", "10"]).args(args).env("HOME", d.dir());
    run(&mut cmd, TIMEOUT)
}

fn alice() -> String {
    format!("alice:{PASSWORD}")
}

/// The commands curl sent, one per line, from its `-v` transcript.
fn sent(out: &Outcome) -> Vec<String> {
    out.stderr_str().lines().filter_map(|l| l.strip_prefix("> ")).map(str::to_string).collect()
}

/// Asserts that curl sent a command starting with `verb` (e.g. "EPSV").
fn assert_sent(out: &Outcome, verb: &str) {
    let cmds = sent(out);
    assert!(cmds.iter().any(|c| c.starts_with(verb)), "curl never sent {verb}; it sent {cmds:?}\n{}", out.dump());
}

fn assert_not_sent(out: &Outcome, verb: &str) {
    let cmds = sent(out);
    assert!(!cmds.iter().any(|c| c.starts_with(verb)), "curl sent {verb} unexpectedly: {cmds:?}");
}

/// Downloads alice's `/data.bin` with extra curl flags and checks the bytes.
fn download_with(flags: &[&str], data_verb: &str) -> Outcome {
    let d = Daemon::start();
    let data = pattern_bytes(1024 * 1024 + 7, 1);
    write(d.disk("alice/data.bin"), &data);
    let local = d.scratch("dl").join("data.bin");
    let user = alice();
    let url = d.url("/data.bin");
    let mut args = vec!["-u", &user, "-o", local.to_str().unwrap(), &url];
    args.splice(0..0, flags.iter().copied());
    let out = curl(&d, &args);
    out.assert_success("curl download");
    assert_sent(&out, data_verb);
    assert_sent(&out, "RETR data.bin");
    assert!(read(&local) == data, "downloaded bytes differ from the file on disk");
    out
}

#[test]
fn passive_epsv_download() {
    let out = download_with(&[], "EPSV");
    assert_sent(&out, "TYPE I");
}

#[test]
fn passive_pasv_download_with_epsv_disabled() {
    let out = download_with(&["--disable-epsv"], "PASV");
    assert_not_sent(&out, "EPSV");
}

#[test]
fn active_eprt_download() {
    let out = download_with(&["--ftp-port", "127.0.0.1"], "EPRT");
    assert_not_sent(&out, "PASV");
}

#[test]
fn active_port_download_with_eprt_disabled() {
    let out = download_with(&["--ftp-port", "127.0.0.1", "--disable-eprt"], "PORT");
    assert_not_sent(&out, "EPRT");
}

/// Uploads `data` with curl -T and returns what landed on disk.
fn upload(d: &Daemon, flags: &[&str], name: &str, data: &[u8]) -> (Outcome, Vec<u8>) {
    let local = d.scratch("up").join("upload.bin");
    write(&local, data);
    let user = alice();
    let url = d.url(&format!("/{name}"));
    let mut args = vec!["-u", &user, "-T", local.to_str().unwrap(), &url];
    args.splice(0..0, flags.iter().copied());
    let out = curl(d, &args);
    out.assert_success("curl upload");
    let stored = read(d.disk(&format!("alice/{name}")));
    (out, stored)
}

#[test]
fn passive_upload_stores_exact_bytes() {
    let d = Daemon::start();
    let data = pattern_bytes(3 * 1024 * 1024 + 11, 2);
    let (out, stored) = upload(&d, &[], "uploaded.bin", &data);
    assert_sent(&out, "STOR uploaded.bin");
    assert!(stored == data, "stored file differs from the uploaded bytes ({} vs {} bytes)", stored.len(), data.len());
    assert_no_temp_files(&d.disk("alice"));
}

#[test]
fn active_upload_stores_exact_bytes() {
    let d = Daemon::start();
    let data = pattern_bytes(200_000, 3);
    let (out, stored) = upload(&d, &["--ftp-port", "127.0.0.1"], "active.bin", &data);
    assert_sent(&out, "EPRT");
    assert!(stored == data, "stored file differs from the uploaded bytes");
}

#[test]
fn upload_replaces_an_existing_file() {
    let d = Daemon::start();
    write(d.disk("alice/over.txt"), b"old content that is longer than the new one\n");
    let (_, stored) = upload(&d, &[], "over.txt", b"new\n");
    assert_eq!(stored, b"new\n");
    assert_no_temp_files(&d.disk("alice"));
}

/// Atomic uploads go through hidden temporary names; none may be left over.
fn assert_no_temp_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name();
        let name = name.to_string_lossy();
        assert!(!name.starts_with(".oxftp-upload"), "temporary upload file left behind: {name}");
    }
}

#[test]
fn resume_download_continues_a_partial_file() {
    let d = Daemon::start();
    let data = pattern_bytes(500_000, 4);
    write(d.disk("alice/big.bin"), &data);
    let local = d.scratch("dl").join("big.bin");
    write(&local, &data[..123_457]);
    let user = alice();
    let url = d.url("/big.bin");
    let out = curl(&d, &["-u", &user, "-C", "-", "-o", local.to_str().unwrap(), &url]);
    out.assert_success("curl resume download");
    assert_sent(&out, "REST 123457");
    assert!(read(&local) == data, "resumed download differs from the original");
}

#[test]
fn resume_upload_appends_the_missing_tail() {
    let d = Daemon::start();
    let data = pattern_bytes(300_000, 5);
    write(d.disk("alice/partial.bin"), &data[..100_003]);
    let local = d.scratch("up").join("full.bin");
    write(&local, &data);
    let user = alice();
    let url = d.url("/partial.bin");
    let out = curl(&d, &["-u", &user, "-C", "-", "-T", local.to_str().unwrap(), &url]);
    out.assert_success("curl resume upload");
    assert_sent(&out, "SIZE partial.bin");
    let stored = read(d.disk("alice/partial.bin"));
    assert!(stored == data, "resumed upload gives {} bytes, expected the {} original bytes", stored.len(), data.len());
}

#[test]
fn ascii_download_sends_type_a_and_curl_gets_the_text() {
    // curl on Linux turns the CRLF line ends of an ASCII transfer back into
    // LF (verified against another server); that the server really puts
    // CRLF on the wire is checked byte-exactly by the ftplib tests.
    let d = Daemon::start();
    write(d.disk("alice/lf.txt"), b"line one\nline two\n\nend\n");
    let local = d.scratch("dl").join("lf.txt");
    let user = alice();
    let url = d.url("/lf.txt");
    let out = curl(&d, &["-u", &user, "--use-ascii", "-o", local.to_str().unwrap(), &url]);
    out.assert_success("curl ascii download");
    assert_sent(&out, "TYPE A");
    assert_eq!(String::from_utf8_lossy(&read(&local)), "line one\nline two\n\nend\n");
}

#[test]
fn binary_download_keeps_bytes_exactly() {
    let d = Daemon::start();
    let text = b"crlf\r\nlf\nlone cr\rend";
    write(d.disk("alice/mixed.txt"), text);
    let local = d.scratch("dl").join("mixed.txt");
    let user = alice();
    let url = d.url("/mixed.txt");
    let out = curl(&d, &["-u", &user, "-o", local.to_str().unwrap(), &url]);
    out.assert_success("curl binary download");
    assert_eq!(read(&local), text);
}

#[test]
fn ascii_upload_stores_lf_line_ends() {
    // With --use-ascii curl itself turns every LF of the local file into
    // CRLF on the wire (a local CRLF file would go out as CR CR LF), so the
    // natural input is an LF file: it must land unchanged, the server having
    // decoded the CRLFs. The ftplib tests check the decoding byte-exactly.
    let d = Daemon::start();
    let local = d.scratch("up").join("lf.txt");
    write(&local, b"alpha\nbeta\n\ngamma\n");
    let user = alice();
    let url = d.url("/lf.txt");
    let out = curl(&d, &["-u", &user, "--use-ascii", "-T", local.to_str().unwrap(), &url]);
    out.assert_success("curl ascii upload");
    assert_sent(&out, "TYPE A");
    assert_eq!(String::from_utf8_lossy(&read(d.disk("alice/lf.txt"))), "alpha\nbeta\n\ngamma\n");
    // The same upload in binary mode keeps what curl sends: LF.
    let out = curl(&d, &["-u", &user, "-T", local.to_str().unwrap(), &d.url("/lf-binary.txt")]);
    out.assert_success("curl binary upload");
    assert_eq!(read(d.disk("alice/lf-binary.txt")), b"alpha\nbeta\n\ngamma\n");
}

#[test]
fn directory_listing_names_every_entry() {
    let d = Daemon::start();
    write(d.disk("alice/dir/alpha.txt"), b"a");
    write(d.disk("alice/dir/beta.bin"), pattern_bytes(4096, 6));
    write(d.disk("alice/dir/name with spaces.txt"), b"s");
    std::fs::create_dir(d.disk("alice/dir/sub")).unwrap();
    let user = alice();

    let out = curl(&d, &["-u", &user, &d.url("/dir/")]);
    out.assert_success("curl LIST");
    assert_sent(&out, "LIST");
    let listing = out.stdout_str();
    let mut names = Vec::new();
    for line in listing.lines() {
        // `ls -l` format: 8 fields, then the name (which may hold spaces).
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(fields.len() >= 9, "not an ls -l line: {line:?}");
        let kind = line.chars().next().unwrap();
        let name = fields[8..].join(" ");
        match name.as_str() {
            "sub" => assert_eq!(kind, 'd', "{line:?}"),
            _ => assert_eq!(kind, '-', "{line:?}"),
        }
        if name == "beta.bin" {
            assert_eq!(fields[4], "4096", "size column of {line:?}");
        }
        names.push(name);
    }
    names.sort();
    assert_eq!(names, ["alpha.txt", "beta.bin", "name with spaces.txt", "sub"], "listing:\n{listing}");

    let out = curl(&d, &["-u", &user, "--list-only", &d.url("/dir/")]);
    out.assert_success("curl NLST");
    assert_sent(&out, "NLST");
    let mut names: Vec<String> = out.stdout_str().lines().map(str::to_string).collect();
    names.sort();
    assert_eq!(names, ["alpha.txt", "beta.bin", "name with spaces.txt", "sub"]);
}

#[test]
fn quote_dele_deletes_the_file() {
    let d = Daemon::start();
    write(d.disk("alice/x"), b"doomed");
    write(d.disk("alice/keep"), b"stays");
    let user = alice();
    let out = curl(&d, &["-u", &user, "-Q", "DELE x", &d.url("/")]);
    out.assert_success("curl -Q DELE");
    assert!(!d.disk("alice/x").exists(), "DELE x left the file on disk");
    assert_eq!(read(d.disk("alice/keep")), b"stays");
    assert!(!out.stdout_str().lines().any(|l| l.ends_with(" x")), "listing after DELE still shows x");

    // Deleting a missing file is a failed command: curl reports it.
    let out = curl(&d, &["-u", &user, "-Q", "DELE x", &d.url("/")]);
    assert!(!out.success(), "DELE of a missing file succeeded\n{}", out.dump());
    assert!(out.stderr_str().contains("< 550"), "expected a 550 reply\n{}", out.dump());
}

#[test]
fn anonymous_download_from_the_public_root() {
    let d = Daemon::start();
    write(d.disk("pub/readme.txt"), b"public text\n");
    write(d.disk("alice/private.txt"), b"not for anonymous\n");
    let local = d.scratch("dl").join("readme.txt");
    let out = curl(&d, &["-o", local.to_str().unwrap(), &d.url("/readme.txt")]);
    out.assert_success("anonymous download");
    assert_sent(&out, "USER anonymous");
    assert_eq!(read(&local), b"public text\n");
    // The anonymous root is /pub: alice's files are not reachable.
    let out = curl(&d, &["-o", local.to_str().unwrap(), &d.url("/alice/private.txt")]);
    assert!(!out.success(), "anonymous read outside /pub\n{}", out.dump());
}

#[test]
fn wrong_password_is_refused_with_curl_exit_67() {
    let d = Daemon::start();
    write(d.disk("alice/secret.txt"), b"secret");
    let local = d.scratch("dl").join("secret.txt");
    let out = curl(&d, &["-u", "alice:wrong-password", "-o", local.to_str().unwrap(), &d.url("/secret.txt")]);
    assert_eq!(out.code(), Some(67), "curl should report a login failure (67)\n{}", out.dump());
    assert!(out.stderr_str().contains("< 530"), "expected 530\n{}", out.dump());
    assert!(!local.exists(), "a file was downloaded without logging in");

    let out = curl(&d, &["-u", "nobody:whatever", &d.url("/")]);
    assert_eq!(out.code(), Some(67), "unknown user must fail like a wrong password\n{}", out.dump());
}

#[test]
fn parallel_sessions_do_not_mix_their_data() {
    let d = Daemon::start();
    let files: Vec<Vec<u8>> = (0..12).map(|i| pattern_bytes(300_000 + i * 1000, 100 + i as u64)).collect();
    for (i, data) in files.iter().enumerate() {
        write(d.disk(&format!("alice/p{i}.bin")), data);
    }
    let local = d.scratch("parallel");
    let user = alice();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..files.len())
            .map(|i| {
                let out_path = local.join(format!("p{i}.bin"));
                let url = d.url(&format!("/p{i}.bin"));
                let user = user.clone();
                let d = &d;
                // Alternate passive and active mode across the sessions.
                let active = i % 2 == 1;
                scope.spawn(move || {
                    let mut args = vec!["-u", user.as_str(), "-o", out_path.to_str().unwrap(), url.as_str()];
                    if active {
                        args.splice(0..0, ["--ftp-port", "127.0.0.1"]);
                    }
                    curl(d, &args)
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap().assert_success("parallel download");
        }
    });
    for (i, data) in files.iter().enumerate() {
        assert!(read(local.join(format!("p{i}.bin"))) == *data, "p{i}.bin differs");
    }
}

#[test]
fn completed_uploads_are_announced_in_the_log() {
    let d = Daemon::start();
    let (_, stored) = upload(&d, &[], "announced.csv", b"a,b\n1,2\n");
    assert_eq!(stored, b"a,b\n1,2\n");
    // The log is written asynchronously; give it a moment (bounded).
    let mut log = d.log();
    for _ in 0..50 {
        if log.contains("upload complete") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        log = d.log();
    }
    let line =
        log.lines().find(|l| l.contains("upload complete")).unwrap_or_else(|| panic!("no upload line in:\n{log}"));
    assert!(line.contains("/announced.csv") && line.contains("alice"), "{line}");
}
