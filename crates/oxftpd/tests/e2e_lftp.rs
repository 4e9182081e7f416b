//! End-to-end tests driving `lftp`: recursive mirroring both ways (which
//! exercises FEAT, MLSD, SITE CHMOD and MFMT as lftp uses them), globbing
//! commands, listings, renames and directories. Effects are checked on disk.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use common::{Daemon, Outcome, PASSWORD, assert_same_tree, pattern_bytes, read, require_tool, run, write};

const TIMEOUT: Duration = Duration::from_secs(90);

/// Runs `lftp -c` logged in as `user` with `commands`, with `local` as the
/// local working directory. Retries and timeouts are kept short so a server
/// that does not answer fails the test quickly instead of being retried.
fn lftp_as(d: &Daemon, user: &str, local: &Path, commands: &str) -> Outcome {
    require_tool("lftp");
    let home = d.scratch("lftp-home");
    let script = format!(
        "set net:max-retries 1; set net:timeout 10; set net:reconnect-interval-base 1; \
         set ftp:ssl-allow no; set cmd:fail-exit yes; set cmd:interactive no; \
         open -u {user},{PASSWORD} ftp://127.0.0.1:{port}; {commands}",
        port = d.port()
    );
    let mut cmd = Command::new("lftp");
    cmd.arg("-c").arg(script).current_dir(local).env("HOME", &home).env("XDG_CONFIG_HOME", home.join(".config"));
    cmd.env("XDG_DATA_HOME", home.join(".local/share")).env("XDG_CACHE_HOME", home.join(".cache"));
    run(&mut cmd, TIMEOUT)
}

fn lftp(d: &Daemon, local: &Path, commands: &str) -> Outcome {
    lftp_as(d, "alice", local, commands)
}

/// A small tree with nested and empty directories and a binary file.
fn make_tree(base: &Path) {
    write(base.join("a.txt"), b"top-level text\n");
    write(base.join("sub/b.bin"), pattern_bytes(700_001, 11));
    write(base.join("sub/deeper/c.txt"), b"deep\n");
    write(base.join("sub/deeper/empty-file"), b"");
    write(base.join("with space/d.txt"), b"spaced\n");
    std::fs::create_dir_all(base.join("empty-dir")).unwrap();
}

#[test]
fn mirror_downloads_a_tree_byte_for_byte() {
    let d = Daemon::start();
    make_tree(&d.disk("alice/tree"));
    let local = d.scratch("mirror");
    let out = lftp(&d, &local, "mirror tree tree");
    out.assert_success("lftp mirror");
    assert_same_tree(&d.disk("alice/tree"), &local.join("tree"));
}

#[test]
fn mirror_reverse_uploads_a_tree_with_modes_and_times() {
    let d = Daemon::start();
    let local = d.scratch("mirror-up");
    make_tree(&local.join("tree"));
    std::fs::set_permissions(local.join("tree/a.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::set_permissions(local.join("tree/sub/deeper"), std::fs::Permissions::from_mode(0o750)).unwrap();
    let when = UNIX_EPOCH + Duration::from_secs(1_577_880_000); // 2020-01-01 12:00:00 UTC
    std::fs::File::options().write(true).open(local.join("tree/sub/b.bin")).unwrap().set_modified(when).unwrap();

    let out = lftp(&d, &local, "mirror -R tree uptree");
    out.assert_success("lftp mirror -R");
    assert_same_tree(&local.join("tree"), &d.disk("alice/uptree"));
    // lftp sends SITE CHMOD for each entry and MFMT for each file.
    let mode = |p: &str| std::fs::metadata(d.disk(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("alice/uptree/a.txt"), 0o640, "SITE CHMOD did not reach the disk");
    assert_eq!(mode("alice/uptree/sub/deeper"), 0o750, "SITE CHMOD on a directory did not reach the disk");
    let mtime = std::fs::metadata(d.disk("alice/uptree/sub/b.bin")).unwrap().modified().unwrap();
    assert_eq!(mtime, when, "MFMT did not set the uploaded file's modification time");
    // And a second mirror finds nothing to do (times and sizes agree).
    let out = lftp(&d, &local, "mirror -R --dry-run tree uptree");
    out.assert_success("lftp mirror -R --dry-run");
    assert!(!out.stdout_str().contains("put "), "a repeated mirror wants to upload again:\n{}", out.dump());
}

#[test]
fn mget_glob_and_mrm_follow_the_pattern() {
    let d = Daemon::start();
    write(d.disk("alice/m/one.txt"), b"1\n");
    write(d.disk("alice/m/two.txt"), b"22\n");
    write(d.disk("alice/m/three.bin"), b"333\n");
    write(d.disk("alice/m/.hidden.txt"), b"h\n");
    let local = d.scratch("mget");
    let out = lftp(&d, &local, "cd m; mget *.txt; glob echo *.txt; mrm *.txt");
    out.assert_success("lftp mget/glob/mrm");
    assert_eq!(read(local.join("one.txt")), b"1\n");
    assert_eq!(read(local.join("two.txt")), b"22\n");
    assert!(!local.join("three.bin").exists(), "mget *.txt fetched three.bin");
    assert!(!local.join(".hidden.txt").exists(), "*.txt matched a dot file");
    assert!(out.stdout_str().lines().any(|l| l.trim() == "one.txt two.txt"), "glob echo output:\n{}", out.dump());
    assert!(!d.disk("alice/m/one.txt").exists() && !d.disk("alice/m/two.txt").exists(), "mrm *.txt left files");
    assert!(d.disk("alice/m/three.bin").exists(), "mrm *.txt removed three.bin");
    assert!(d.disk("alice/m/.hidden.txt").exists(), "mrm *.txt removed a dot file");
}

#[test]
fn cls_lists_names_and_details() {
    let d = Daemon::start();
    write(d.disk("alice/c/zeta.txt"), b"z");
    write(d.disk("alice/c/alpha.txt"), pattern_bytes(1234, 12));
    std::fs::create_dir(d.disk("alice/c/dir")).unwrap();
    let local = d.scratch("cls");
    let out = lftp(&d, &local, "cls -1 c/; cls -l --sort=name c/");
    out.assert_success("lftp cls");
    let lines: Vec<String> = out.stdout_str().lines().map(str::to_string).collect();
    assert!(lines.len() >= 6, "cls output:\n{}", out.dump());
    // `cls -1` marks directories with a slash and keeps the path prefix.
    let mut short: Vec<&str> = lines[..3].iter().map(String::as_str).collect();
    short.sort();
    assert_eq!(short, ["c/alpha.txt", "c/dir/", "c/zeta.txt"]);
    let long = &lines[3..];
    let alpha = long.iter().find(|l| l.ends_with("c/alpha.txt")).expect("alpha in cls -l");
    assert!(alpha.starts_with('-') && alpha.contains(" 1234 "), "cls -l line: {alpha:?}");
    let dir = long.iter().find(|l| l.ends_with("c/dir/")).expect("dir in cls -l");
    assert!(dir.starts_with('d'), "cls -l line: {dir:?}");
}

#[test]
fn mv_renames_files_and_directories() {
    let d = Daemon::start();
    write(d.disk("alice/old.txt"), b"moving\n");
    write(d.disk("alice/olddir/inner.txt"), b"inner\n");
    std::fs::create_dir(d.disk("alice/target")).unwrap();
    let local = d.scratch("mv");
    let out = lftp(&d, &local, "mv old.txt new.txt; mv new.txt target/moved.txt; mv olddir newdir");
    out.assert_success("lftp mv");
    assert!(!d.disk("alice/old.txt").exists() && !d.disk("alice/new.txt").exists());
    assert_eq!(read(d.disk("alice/target/moved.txt")), b"moving\n");
    assert!(!d.disk("alice/olddir").exists());
    assert_eq!(read(d.disk("alice/newdir/inner.txt")), b"inner\n");
}

#[test]
fn mkdir_and_rmdir() {
    let d = Daemon::start();
    let local = d.scratch("dirs");
    let out = lftp(&d, &local, "mkdir nd; mkdir -p x/y/z; rmdir nd");
    out.assert_success("lftp mkdir/rmdir");
    assert!(!d.disk("alice/nd").exists(), "rmdir left nd");
    assert!(d.disk("alice/x/y/z").is_dir(), "mkdir -p x/y/z did not create the chain");

    // Removing a non-empty directory fails and leaves it in place.
    let out = lftp(&d, &local, "rmdir x");
    assert!(!out.success(), "rmdir of a non-empty directory succeeded\n{}", out.dump());
    assert!(out.stderr_str().contains("550"), "expected a 550 reply\n{}", out.dump());
    assert!(d.disk("alice/x/y/z").is_dir());

    // Creating an existing directory fails.
    let out = lftp(&d, &local, "mkdir x");
    assert!(!out.success(), "mkdir of an existing directory succeeded\n{}", out.dump());
}

#[test]
fn active_mode_get_and_put() {
    let d = Daemon::start();
    let data = pattern_bytes(400_000, 13);
    write(d.disk("alice/get.bin"), &data);
    let local = d.scratch("active");
    write(local.join("put.bin"), &data[..99_999]);
    let out = lftp(&d, &local, "set ftp:passive-mode off; get get.bin; put put.bin");
    out.assert_success("lftp active get/put");
    assert!(read(local.join("get.bin")) == data, "active download differs");
    assert!(read(d.disk("alice/put.bin")) == data[..99_999], "active upload differs");
}

#[test]
fn read_only_user_cannot_put_but_can_get() {
    let d = Daemon::start();
    write(d.disk("alice/shared.txt"), b"readable\n");
    let local = d.scratch("ro");
    write(local.join("new.txt"), b"should not land\n");
    let out = lftp_as(&d, "ro", &local, "get shared.txt");
    out.assert_success("read-only get");
    assert_eq!(read(local.join("shared.txt")), b"readable\n");
    let out = lftp_as(&d, "ro", &local, "put new.txt");
    assert!(!out.success(), "read-only put succeeded\n{}", out.dump());
    assert!(!d.disk("alice/new.txt").exists(), "read-only upload reached the disk");
}

#[test]
fn pget_segments_and_parallel_mirror() {
    // pget fetches one file over several connections with REST offsets;
    // mirror --parallel runs several transfers at once.
    let d = Daemon::start();
    let data = pattern_bytes(5 * 1024 * 1024 + 333, 14);
    write(d.disk("alice/seg.bin"), &data);
    make_tree(&d.disk("alice/ptree"));
    let local = d.scratch("pget");
    let out = lftp(&d, &local, "set pget:min-chunk-size 65536; pget -n 4 seg.bin; mirror --parallel=4 ptree ptree");
    out.assert_success("lftp pget/mirror --parallel");
    assert!(read(local.join("seg.bin")) == data, "segmented download differs");
    assert_same_tree(&d.disk("alice/ptree"), &local.join("ptree"));
}
