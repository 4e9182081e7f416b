//! Real FTP clients (curl and lftp, Debian packages that scripts/test
//! installs) against our engine serving libunftp's local-disk back-end
//! (unftp-sbe-fs, one instance per session at its root) to users of an
//! unFTP JSON users file (unftp-auth-jsonfile) with user details of their
//! own (homes, read-only, disabled): uploads, downloads, listings, renames
//! and deletes land on disk; the engine's policy stack in front of their
//! back-end keeps guests in their homes and read-only users from writing.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use common::{Account, Accounts};
use oxftp_core::{Options, Server};
use oxftp_unftp::{UnftpAuthenticator, UnftpStorageFactory, local_path};
use tokio::sync::oneshot;
use unftp_auth_jsonfile::JsonFileAuthenticator;
use unftp_sbe_fs::Filesystem;

const TIMEOUT: Duration = Duration::from_secs(60);

/// unFTP's users file: plain passwords, one account limited to addresses
/// that are not ours.
const USERS_JSON: &str = r#"[
  { "username": "alice", "password": "alice-pw" },
  { "username": "gina", "password": "gina-pw" },
  { "username": "rory", "password": "rory-pw" },
  { "username": "dora", "password": "dora-pw" },
  { "username": "faraway", "password": "faraway-pw", "allowed_ip_ranges": ["10.0.0.0/8"] }
]"#;

struct Served {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    /// The directory the back-end serves.
    base: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Served {
    /// The engine on a free loopback port: alice a user of the whole tree,
    /// gina a guest in /guest (her unftp home is a host path below the
    /// base), rory read-only, dora disabled, faraway only from 10/8.
    async fn start() -> Served {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join("srv");
        for d in ["guest", "pub"] {
            std::fs::create_dir_all(base.join(d)).expect("mkdir");
        }
        let users_file = dir.path().join("users.json");
        std::fs::write(&users_file, USERS_JSON).expect("users file");

        let mut gina = Account::new("gina");
        gina.home = Some(base.join("guest"));
        let mut rory = Account::new("rory");
        rory.read_only = true;
        let mut dora = Account::new("dora");
        dora.enabled = false;
        let accounts = Accounts::new([Account::new("alice"), gina, rory, dora, Account::new("faraway")]);

        let storage = {
            let base = base.clone();
            UnftpStorageFactory::per_session(move |root| Filesystem::new(local_path(&base, root)), accounts.clone())
                .expect("open the served directory")
        };
        let auth = UnftpAuthenticator::new(JsonFileAuthenticator::from_file(&users_file).expect("users"), accounts)
            .homes_under(&base)
            .map_identity(|account: &Account, identity| identity.read_only = account.read_only);
        let mut options = Options::default();
        options.failed_login_delay = Duration::from_millis(10);
        let server = Server::new(Arc::new(storage), Arc::new(auth)).with_options(options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(vec![listener], async {
                    let _ = stopped.await;
                })
                .await
        });
        Served { addr, _dir: dir, base, stop: Some(stop), task: Some(task) }
    }

    fn url(&self, path: &str) -> String {
        format!("ftp://127.0.0.1:{}{path}", self.addr.port())
    }

    fn disk(&self, rel: &str) -> PathBuf {
        self.base.join(rel)
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    assert!(found, "`{tool}` is not installed; run scripts/test, which installs the FTP clients");
}

/// Runs a client to its end (killed after [`TIMEOUT`]).
async fn run(program: &str, args: &[&str], cwd: &Path) -> Output {
    require(program);
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).current_dir(cwd).env("HOME", cwd).kill_on_drop(true);
    match tokio::time::timeout(TIMEOUT, cmd.output()).await {
        Ok(out) => out.unwrap_or_else(|e| panic!("cannot run {program}: {e}")),
        Err(_) => panic!("{program} {args:?} ran for more than {TIMEOUT:?}"),
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[track_caller]
fn ok(out: &Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed:\n{}", text(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// curl as `user`; `args` before the URL.
async fn curl(s: &Served, user: &str, args: &[&str], path: &str, cwd: &Path) -> Output {
    let creds = format!("{user}:{user}-pw");
    let url = s.url(path);
    let mut all = vec!["-sS", "--max-time", "30", "-u", &creds];
    all.extend_from_slice(args);
    all.push(&url);
    run("curl", &all, cwd).await
}

/// lftp as `user` running `commands`, with `local` as its working directory.
async fn lftp(s: &Served, user: &str, local: &Path, commands: &str) -> Output {
    let script = format!(
        "set net:max-retries 1; set net:timeout 10; set net:reconnect-interval-base 1; \
         set ftp:ssl-allow no; set cmd:fail-exit yes; set cmd:interactive no; \
         open -u {user},{user}-pw ftp://127.0.0.1:{port}; {commands}",
        port = s.addr.port()
    );
    run("lftp", &["-c", &script], local).await
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + seed as usize) % 253) as u8).collect()
}

fn part_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(".oxftp-upload-"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_uploads_downloads_lists_renames_resumes_and_deletes() {
    let s = Served::start().await;
    let local = tempfile::tempdir().unwrap();
    let data = pattern(3 << 20, 1);
    std::fs::write(local.path().join("up.bin"), &data).unwrap();

    // Upload, creating the directory on the way.
    let out = curl(&s, "alice", &["--ftp-create-dirs", "-T", "up.bin"], "/up/a.bin", local.path()).await;
    ok(&out, "curl upload");
    assert_eq!(std::fs::read(s.disk("up/a.bin")).unwrap(), data);
    assert!(part_files(&s.disk("up")).is_empty(), "a part file stayed: {:?}", part_files(&s.disk("up")));

    // Download.
    ok(&curl(&s, "alice", &["-o", "down.bin"], "/up/a.bin", local.path()).await, "curl download");
    assert_eq!(std::fs::read(local.path().join("down.bin")).unwrap(), data);

    // Listings: LIST and NLST.
    let listing = ok(&curl(&s, "alice", &[], "/up/", local.path()).await, "curl LIST");
    assert!(listing.lines().any(|l| l.starts_with('-') && l.ends_with("a.bin")), "{listing}");
    assert!(listing.contains(&data.len().to_string()), "size missing: {listing}");
    let names = ok(&curl(&s, "alice", &["--list-only"], "/up/", local.path()).await, "curl NLST");
    assert_eq!(names.lines().collect::<Vec<_>>(), ["a.bin"]);

    // A resumed download (REST + RETR) from a partial local copy.
    std::fs::write(local.path().join("partial.bin"), &data[..1_000_000]).unwrap();
    ok(&curl(&s, "alice", &["-C", "-", "-o", "partial.bin"], "/up/a.bin", local.path()).await, "curl resume download");
    assert_eq!(std::fs::read(local.path().join("partial.bin")).unwrap(), data);

    // A resumed upload (curl sends SIZE, then APPE with the rest) onto a partial remote copy.
    std::fs::write(s.disk("up/resume.bin"), &data[..2_000_000]).unwrap();
    ok(&curl(&s, "alice", &["-C", "-", "-T", "up.bin"], "/up/resume.bin", local.path()).await, "curl resume upload");
    assert_eq!(std::fs::read(s.disk("up/resume.bin")).unwrap(), data);

    // Rename and delete with raw commands after the transfer.
    let out =
        curl(&s, "alice", &["-Q", "-RNFR /up/a.bin", "-Q", "-RNTO /up/b.bin", "--list-only"], "/up/", local.path())
            .await;
    ok(&out, "curl RNFR/RNTO");
    assert!(!s.disk("up/a.bin").exists());
    assert_eq!(std::fs::read(s.disk("up/b.bin")).unwrap(), data);
    ok(&curl(&s, "alice", &["-Q", "-DELE /up/b.bin", "--list-only"], "/up/", local.path()).await, "curl DELE");
    assert!(!s.disk("up/b.bin").exists());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lftp_puts_gets_moves_removes_and_mirrors() {
    let s = Served::start().await;
    let local = tempfile::tempdir().unwrap();
    let tree = local.path().join("tree");
    std::fs::create_dir_all(tree.join("sub/deeper")).unwrap();
    std::fs::write(tree.join("a.txt"), b"top-level text\n").unwrap();
    std::fs::write(tree.join("sub/b.bin"), pattern(700_001, 7)).unwrap();
    std::fs::write(tree.join("sub/deeper/c.txt"), b"deep\n").unwrap();
    std::fs::write(local.path().join("one.bin"), pattern(123_457, 3)).unwrap();

    let out = lftp(
        &s,
        "alice",
        local.path(),
        "mkdir work; cd work; put one.bin; mv one.bin two.bin; ls; get two.bin -o back.bin; \
         mirror -R --no-perms tree uptree; cd ..; mirror work/uptree down",
    )
    .await;
    let stdout = ok(&out, "lftp session");
    assert!(stdout.contains("two.bin"), "ls did not show the renamed file:\n{}", text(&out));
    assert!(!s.disk("work/one.bin").exists());
    assert_eq!(std::fs::read(s.disk("work/two.bin")).unwrap(), pattern(123_457, 3));
    assert_eq!(std::fs::read(local.path().join("back.bin")).unwrap(), pattern(123_457, 3));
    for (rel, remote) in [("a.txt", "work/uptree/a.txt"), ("sub/b.bin", "work/uptree/sub/b.bin")] {
        assert_eq!(std::fs::read(tree.join(rel)).unwrap(), std::fs::read(s.disk(remote)).unwrap(), "{rel}");
    }
    assert_eq!(std::fs::read(s.disk("work/uptree/sub/deeper/c.txt")).unwrap(), b"deep\n");
    assert_eq!(std::fs::read(local.path().join("down/sub/b.bin")).unwrap(), pattern(700_001, 7));
    assert_eq!(std::fs::read(local.path().join("down/sub/deeper/c.txt")).unwrap(), b"deep\n");

    let out = lftp(&s, "alice", local.path(), "rm work/two.bin; rm -r work/uptree; rmdir work; ls").await;
    ok(&out, "lftp rm, rm -r, rmdir");
    assert!(!s.disk("work").exists(), "work is still there:\n{}", text(&out));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_with_an_unftp_home_stays_in_it() {
    let s = Served::start().await;
    let local = tempfile::tempdir().unwrap();
    std::fs::write(s.disk("top-secret.txt"), b"for alice").unwrap();
    std::fs::write(s.disk("guest/mine.txt"), b"gina's").unwrap();
    std::os::unix::fs::symlink("../top-secret.txt", s.disk("guest/escape")).unwrap();

    // Her / is her home.
    let names = ok(&curl(&s, "gina", &["--list-only"], "/", local.path()).await, "gina NLST /");
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, ["escape", "mine.txt"]);
    ok(&curl(&s, "gina", &["-o", "mine.txt"], "/mine.txt", local.path()).await, "gina download");
    assert_eq!(std::fs::read(local.path().join("mine.txt")).unwrap(), b"gina's");
    // Nothing above it: not with .., not through a link.
    for path in ["/../top-secret.txt", "/%2e%2e/top-secret.txt", "/escape"] {
        let out = curl(&s, "gina", &["-o", "stolen.txt"], path, local.path()).await;
        assert!(!out.status.success(), "gina read {path}:\n{}", text(&out));
        let got = std::fs::read(local.path().join("stolen.txt")).unwrap_or_default();
        assert!(!got.windows(9).any(|w| w == b"for alice"), "gina read alice's file through {path}");
    }
    // Her uploads land in her home.
    std::fs::write(local.path().join("g.txt"), b"from gina").unwrap();
    ok(&curl(&s, "gina", &["-T", "g.txt"], "/../../g.txt", local.path()).await, "gina upload");
    assert_eq!(std::fs::read(s.disk("guest/g.txt")).unwrap(), b"from gina");
    assert!(!s.disk("g.txt").exists());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_user_reads_and_never_writes() {
    let s = Served::start().await;
    let local = tempfile::tempdir().unwrap();
    std::fs::write(s.disk("pub/keep.txt"), b"unchanged").unwrap();
    std::fs::write(local.path().join("new.txt"), b"attempt").unwrap();

    ok(&curl(&s, "rory", &["-o", "keep.txt"], "/pub/keep.txt", local.path()).await, "rory download");
    assert_eq!(std::fs::read(local.path().join("keep.txt")).unwrap(), b"unchanged");
    let out = curl(&s, "rory", &["-T", "new.txt"], "/pub/keep.txt", local.path()).await;
    assert!(!out.status.success(), "rory overwrote a file:\n{}", text(&out));
    let out = curl(&s, "rory", &["-T", "new.txt"], "/pub/new.txt", local.path()).await;
    assert!(!out.status.success(), "rory uploaded:\n{}", text(&out));
    for commands in
        [&["-DELE /pub/keep.txt"][..], &["-MKD /pub/made"], &["-RNFR /pub/keep.txt", "-RNTO /pub/moved.txt"]]
    {
        let mut args: Vec<&str> = commands.iter().flat_map(|c| ["-Q", *c]).collect();
        args.push("--list-only");
        let out = curl(&s, "rory", &args, "/pub/", local.path()).await;
        assert!(!out.status.success(), "rory's {commands:?} went through:\n{}", text(&out));
    }
    let out = lftp(&s, "rory", local.path(), "put new.txt -o pub/lftp.txt").await;
    assert!(!out.status.success(), "rory uploaded with lftp:\n{}", text(&out));
    assert_eq!(std::fs::read(s.disk("pub/keep.txt")).unwrap(), b"unchanged");
    let mut left: Vec<_> = std::fs::read_dir(s.disk("pub")).unwrap().map(|e| e.unwrap().file_name()).collect();
    left.sort();
    assert_eq!(left, ["keep.txt"], "rory's attempts left something on disk");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unftp_json_users_file_decides_who_logs_in() {
    let s = Served::start().await;
    let local = tempfile::tempdir().unwrap();
    // curl exits 67 when the login is refused.
    let refused = |out: &Output| out.status.code() == Some(67);
    let out =
        run("curl", &["-sS", "--max-time", "30", "-u", "alice:wrong", "--list-only", &s.url("/")], local.path()).await;
    assert!(refused(&out), "a wrong password:\n{}", text(&out));
    let out =
        run("curl", &["-sS", "--max-time", "30", "-u", "nobody:x", "--list-only", &s.url("/")], local.path()).await;
    assert!(refused(&out), "an unknown user:\n{}", text(&out));
    // In the file, but disabled by the user details.
    assert!(refused(&curl(&s, "dora", &["--list-only"], "/", local.path()).await), "a disabled account");
    // In the file, but only from 10.0.0.0/8.
    assert!(refused(&curl(&s, "faraway", &["--list-only"], "/", local.path()).await), "an address outside the range");
    let names = ok(&curl(&s, "alice", &["--list-only"], "/", local.path()).await, "alice logs in");
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, ["guest", "pub"]);
    s.stop().await;
}
