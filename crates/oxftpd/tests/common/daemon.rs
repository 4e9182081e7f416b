//! A real `oxftpd` child process serving a fresh temporary storage tree.
//!
//! The tests talk to the daemon only over the network and look at the tree on
//! disk, so they exercise exactly what an administrator would run.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::certs::{self, Pki};

/// The password of every account in the test users file. One password for
/// all accounts keeps it to a single argon2 hash per test process (hashing is
/// slow in debug builds); which account logged in is told apart by the home
/// directories on disk instead.
pub const PASSWORD: &str = "Corr3ct-horse";

/// How long the daemon may take to print its listening line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The daemon binary: the one cargo built for this package, unless
/// `OXFTPD_BIN` names another build to test (a release build, say).
pub fn oxftpd_bin() -> String {
    std::env::var("OXFTPD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_oxftpd").to_string())
}

/// The argon2id hash of [`PASSWORD`], made once per test process with the
/// daemon's own `hash-password` command (so the test also proves the command
/// produces hashes the daemon accepts).
pub fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let out = super::client::run(
            Command::new(oxftpd_bin()).args(["hash-password", "--password", PASSWORD]),
            Duration::from_secs(120),
        );
        out.assert_success("oxftpd hash-password");
        let hash = out.stdout_str().trim().to_string();
        assert!(hash.starts_with("$argon2id$"), "hash-password printed {hash:?}, expected an argon2id PHC string");
        hash
    })
}

/// What to put in the daemon's config file. `Default` is the configuration
/// the brief describes: active mode on, anonymous with `/pub` and
/// `/pub/incoming`, atomic uploads, OS-chosen passive ports.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// `[anonymous] enabled`.
    pub anonymous: bool,
    /// `[active] enabled`.
    pub active: bool,
    /// `[storage] atomic_uploads`.
    pub atomic_uploads: bool,
    /// `[passive] port_range`; `None` leaves passive ports to the OS so tests
    /// can run in parallel without colliding.
    pub passive_range: Option<(u16, u16)>,
    /// More `key = value` lines for the `[passive]` table.
    pub passive_extra: Vec<String>,
    /// `key = value` lines for the `[server]` table; a key given here
    /// replaces the test default for it (e.g. `"idle_timeout = 2"`).
    pub server_extra: Vec<String>,
    /// FTPS: `Some` generates a PKI in the daemon's directory and writes a
    /// `[tls]` table for it.
    pub tls: Option<TlsOptions>,
    /// Replaces the body of the `[storage]` table (e.g. an object store);
    /// `None`: the local tree with `atomic_uploads`.
    pub storage: Option<String>,
    /// More tables, appended to the config as written (`[access]`, `[ban]`, `[auth]`...).
    pub extra_tables: String,
    /// More `[[user]]` tables, appended to the users file.
    pub users_extra: String,
    /// Leave the `[users]` table out (for other auth backends).
    pub no_users_file: bool,
    /// The body of a `[web]` table: `Some` turns the web client on, and the
    /// harness waits for its `oxftpd web client on` line ([`Daemon::web_url`]).
    pub web: Option<String>,
    /// `log.xferlog` in a `logs/` directory of the daemon's own
    /// ([`Daemon::xferlog`]).
    pub xferlog: bool,
    /// `server.run_as`: the harness gives that user the storage tree and the
    /// log directory (and lets it through the temporary directory) first.
    pub run_as: Option<String>,
    /// More environment variables for the daemon (e.g. `NOTIFY_SOCKET`).
    pub env: Vec<(String, String)>,
    /// Run the daemon with this open-file limit (soft and hard), through
    /// util-linux's `prlimit`, which execs it (so its pid is the daemon's).
    pub open_files: Option<u64>,
    /// The body of an `[admin]` table (`listen = "127.0.0.1:0"` unless it
    /// says otherwise): `Some` turns the admin listener on, and the harness
    /// waits for its `oxftpd admin on` line ([`Daemon::admin_url`]).
    pub admin: Option<String>,
    /// More lines for an `[sftp]` table: `Some` turns SFTP on (on a free
    /// loopback port, host key in the daemon's directory) and the harness
    /// waits for its `oxftpd sftp listening on` line ([`Daemon::sftp_port`]).
    pub sftp: Option<String>,
}

/// The `[tls]` table of a test daemon. `cert_file`, `key_file` and
/// `client_ca_file` point at the generated PKI (see [`Daemon::pki`]); with
/// TLS on, the users file also has `tina`, an account with
/// `require_tls = true` sharing alice's home.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// More `key = value` lines for `[tls]` (e.g. `"control = \"all\""`).
    pub extra: Vec<String>,
    /// Also listen for implicit FTPS on a free loopback port
    /// ([`Daemon::implicit_port`]).
    pub implicit: bool,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            anonymous: true,
            active: true,
            atomic_uploads: true,
            passive_range: None,
            passive_extra: Vec::new(),
            server_extra: Vec::new(),
            tls: None,
            storage: None,
            extra_tables: String::new(),
            users_extra: String::new(),
            no_users_file: false,
            web: None,
            xferlog: false,
            run_as: None,
            env: Vec::new(),
            open_files: None,
            admin: None,
            sftp: None,
        }
    }
}

/// A running daemon. Killed (and its log shown if the test is failing) on drop.
pub struct Daemon {
    child: Child,
    port: u16,
    implicit_port: Option<u16>,
    session_reuse_off_port: Option<u16>,
    web_url: Option<String>,
    admin_url: Option<String>,
    sftp_port: Option<u16>,
    pki: Option<Pki>,
    dir: TempDir,
    scratch_counter: std::sync::atomic::AtomicU32,
    /// What [`Daemon::restart`] starts again.
    config: DaemonConfig,
}

/// A started daemon process and what it announced.
struct Started {
    child: Child,
    port: u16,
    implicit_port: Option<u16>,
    web_url: Option<String>,
    admin_url: Option<String>,
    session_reuse_off_port: Option<u16>,
    sftp_port: Option<u16>,
}

impl Daemon {
    /// Starts a daemon with the default configuration.
    pub fn start() -> Daemon {
        Daemon::start_with(DaemonConfig::default())
    }

    /// Creates the storage tree and config files, spawns `oxftpd --config`,
    /// and waits (bounded) for its `oxftpd listening on` line.
    pub fn start_with(config: DaemonConfig) -> Daemon {
        let dir = tempfile::Builder::new().prefix("oxftp-e2e-").tempdir().expect("create temp dir");
        let root = dir.path().join("root");
        for sub in ["pub/incoming", "alice", "guest"] {
            std::fs::create_dir_all(root.join(sub)).expect("create storage tree");
        }
        let pki = config.tls.as_ref().map(|_| certs::generate(&dir.path().join("pki")));
        let users_path = dir.path().join("users.toml");
        std::fs::write(&users_path, users_file(config.tls.is_some()) + &config.users_extra).expect("write users file");
        let config_path = dir.path().join("oxftpd.toml");
        let mut text = config_file(&config, &root, &users_path);
        if let (Some(tls), Some(pki)) = (&config.tls, &pki) {
            text.push_str(&tls_table(tls, pki));
        }
        if let Some(web) = &config.web {
            let _ = writeln!(text, "\n[web]\n{web}");
        }
        if let Some(sftp) = &config.sftp {
            let _ = writeln!(text, "\n[sftp]\nlisten = [\"127.0.0.1:0\"]\nhost_key = \"ssh_host_ed25519_key\"\n{sftp}");
        }
        if let Some(admin) = &config.admin {
            let listen = if admin.contains("listen") { "" } else { "listen = \"127.0.0.1:0\"\n" };
            let _ = writeln!(text, "\n[admin]\n{listen}{admin}");
        }
        std::fs::create_dir_all(dir.path().join("logs")).expect("create logs dir");
        if let Some(user) = &config.run_as {
            give_to(user, dir.path(), &root);
        }
        std::fs::write(&config_path, text).expect("write config");
        let Started { child, port, implicit_port, web_url, admin_url, session_reuse_off_port, sftp_port } =
            spawn(dir.path(), &config);
        Daemon {
            child,
            port,
            implicit_port,
            session_reuse_off_port,
            web_url,
            admin_url,
            sftp_port,
            pki,
            dir,
            scratch_counter: std::sync::atomic::AtomicU32::new(0),
            config,
        }
    }

    /// Kills the daemon with SIGKILL (no shutdown of any kind) and waits for it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the daemon again on the same directory and config (after
    /// [`kill9`](Self::kill9) or an exit); its log goes on in the same file.
    /// Ports chosen by the OS are new.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let Started { child, port, implicit_port, web_url, admin_url, session_reuse_off_port, sftp_port } =
            spawn(self.dir.path(), &self.config);
        self.session_reuse_off_port = session_reuse_off_port;
        self.child = child;
        self.port = port;
        self.implicit_port = implicit_port;
        self.web_url = web_url;
        self.admin_url = admin_url;
        self.sftp_port = sftp_port;
    }

    /// The port of the `tls.session_reuse_off_listen` listener (panics
    /// unless the `[tls]` lines set one).
    pub fn session_reuse_off_port(&self) -> u16 {
        self.session_reuse_off_port.expect("the daemon has no session_reuse_off_listen listener")
    }

    /// `http://ADDR` of the admin listener, without a trailing slash (panics
    /// unless the daemon was started with `admin: Some(..)`).
    pub fn admin_url(&self) -> &str {
        self.admin_url.as_deref().expect("the daemon has no [admin] table")
    }

    /// The implicit FTPS port on 127.0.0.1 (panics unless the daemon was
    /// started with `TlsOptions { implicit: true, .. }`).
    pub fn implicit_port(&self) -> u16 {
        self.implicit_port.expect("the daemon has no implicit FTPS listener")
    }

    /// The SFTP port on 127.0.0.1 (panics unless the daemon was started
    /// with `sftp: Some(..)`).
    pub fn sftp_port(&self) -> u16 {
        self.sftp_port.expect("the daemon has no [sftp] table")
    }

    /// `http://ADDR` of the web client, without a trailing slash (panics
    /// unless the daemon was started with `web: Some(..)`).
    pub fn web_url(&self) -> &str {
        self.web_url.as_deref().expect("the daemon has no [web] table")
    }

    /// The generated certificates (panics unless the daemon has TLS on).
    pub fn pki(&self) -> &Pki {
        self.pki.as_ref().expect("the daemon was started without TLS")
    }

    /// The control port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The storage root on disk (`storage.root`).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Path on disk of a path under the storage root (`rel` without leading `/`).
    pub fn disk(&self, rel: &str) -> PathBuf {
        self.root().join(rel.trim_start_matches('/'))
    }

    /// A fresh, empty directory outside the storage tree for the client side
    /// (downloads, files to upload, a private `$HOME`).
    pub fn scratch(&self, name: &str) -> PathBuf {
        let n = self.scratch_counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let path = self.dir.path().join(format!("local-{n}-{name}"));
        std::fs::create_dir_all(&path).expect("create scratch dir");
        path
    }

    /// `ftp://127.0.0.1:PORT` followed by `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("ftp://127.0.0.1:{}{}", self.port, path)
    }

    /// Everything the daemon wrote to stderr so far (its log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("oxftpd.log")).unwrap_or_default()
    }

    /// Whether `needle` appears in the log within `limit` (log lines go
    /// through an asynchronous drain, so they can trail what they report).
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM (graceful shutdown). Uses kill(1) to stay free of
    /// unsafe code; the child is not reaped yet, so its pid is still ours.
    pub fn send_sigterm(&mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
    }

    /// Kills the daemon with SIGKILL, as a crash would (no shutdown at all).
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGHUP (reload the users file).
    pub fn send_sighup(&mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-HUP", &pid]).status().expect("run kill");
        assert!(status.success(), "kill -HUP {pid} failed");
    }

    /// Waits up to `timeout` for the daemon to exit; `None` if it did not.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() >= deadline => return None,
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(_) => return None,
            }
        }
    }

    /// The daemon's process id (for reading its `/proc` entries).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The daemon's temp directory (config, users file, log, scratch dirs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `log.xferlog` (set when started with `xferlog: true`).
    pub fn xferlog(&self) -> PathBuf {
        self.dir.path().join("logs/xferlog")
    }
}

/// Spawns `oxftpd --config` for the files in `dir` (its log appended to
/// `dir/oxftpd.log`) and waits (bounded) for its announcements.
fn spawn(dir: &Path, config: &DaemonConfig) -> Started {
    let config_path = dir.join("oxftpd.toml");
    let log_path = dir.join("oxftpd.log");
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).expect("open daemon log");

    let mut command = match config.open_files {
        None => Command::new(oxftpd_bin()),
        Some(n) => {
            super::client::require_tool("prlimit");
            let mut c = Command::new("prlimit");
            c.arg(format!("--nofile={n}:{n}")).arg("--").arg(oxftpd_bin());
            c
        }
    };
    let mut child = command
        .envs(config.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .arg("--config")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn oxftpd");
    let stdout = child.stdout.take().expect("piped stdout");

    // The reader thread keeps draining stdout after the listening line so
    // the daemon can never block on a full pipe.
    let (tx, rx) = mpsc::channel::<String>();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                // Nobody listens any more; keep draining.
                continue;
            }
        }
    });

    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut seen = String::new();
    let want_implicit = config.tls.as_ref().is_some_and(|t| t.implicit);
    let want_web = config.web.is_some();
    let want_admin = config.admin.is_some();
    let want_relaxed =
        config.tls.as_ref().is_some_and(|t| t.extra.iter().any(|l| l.starts_with("session_reuse_off_listen")));
    let (mut port, mut implicit_port, mut web_url, mut admin_url, mut relaxed) = (None, None, None, None, None);
    let want_sftp = config.sftp.is_some();
    let mut sftp_port = None;
    let (port, implicit_port, web_url, admin_url, session_reuse_off_port) = loop {
        if let (Some(port), true, true, true, true) = (
            port,
            implicit_port.is_some() || !want_implicit,
            web_url.is_some() || !want_web,
            admin_url.is_some() || !want_admin,
            relaxed.is_some() || !want_relaxed,
        ) && (sftp_port.is_some() || !want_sftp)
        {
            break (port, implicit_port, web_url, admin_url, relaxed);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(p) = parse_listening(&line) {
                    port = port.or(Some(p));
                } else if let Some(p) = parse_suffixed(&line, " session-reuse-off") {
                    relaxed = relaxed.or(Some(p));
                } else if let Some(p) = parse_implicit(&line) {
                    implicit_port = implicit_port.or(Some(p));
                } else if let Some(url) = parse_web(&line) {
                    web_url = web_url.or(Some(url));
                } else if let Some(url) = parse_admin(&line) {
                    admin_url = admin_url.or(Some(url));
                } else if let Some(p) = parse_sftp(&line) {
                    sftp_port = sftp_port.or(Some(p));
                } else {
                    let _ = writeln!(seen, "{line}");
                }
            }
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!(
                    "oxftpd did not print 'oxftpd listening on 127.0.0.1:PORT' within {STARTUP_TIMEOUT:?} \
                     (exit status {status:?})\n--- stdout ---\n{seen}--- stderr ---\n{log}"
                );
            }
        }
    };
    Started { child, port, implicit_port, web_url, admin_url, session_reuse_off_port, sftp_port }
}

/// Lets `user` run the daemon's files: the storage tree and `logs/` become
/// its own, and the temporary directory (0700 by default) may be passed
/// through (not listed) so it can reach them.
fn give_to(user: &str, dir: &Path, root: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let account = nix::unistd::User::from_name(user)
        .expect("look up the run_as user")
        .unwrap_or_else(|| panic!("no user {user:?}: scripts/test creates it (run it as root once)"));
    let (uid, gid) = (account.uid.as_raw(), account.gid.as_raw());
    fn chown_tree(path: &Path, uid: u32, gid: u32) {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
        if path.is_dir() {
            for entry in std::fs::read_dir(path).expect("read dir") {
                chown_tree(&entry.expect("dir entry").path(), uid, gid);
            }
        }
    }
    chown_tree(root, uid, gid);
    chown_tree(&dir.join("logs"), uid, gid);
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).expect("chmod temp dir");
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(150)..];
            eprintln!("--- oxftpd log (last {} lines) ---\n{}\n--- end of oxftpd log ---", tail.len(), tail.join("\n"));
        }
    }
}

/// Parses `oxftpd listening on 127.0.0.1:PORT`.
fn parse_listening(line: &str) -> Option<u16> {
    let addr = line.trim().strip_prefix("oxftpd listening on ")?;
    let addr: std::net::SocketAddr = addr.trim().parse().ok()?;
    Some(addr.port())
}

/// Parses `oxftpd listening on 127.0.0.1:PORT implicit-ftps`.
fn parse_implicit(line: &str) -> Option<u16> {
    parse_suffixed(line, " implicit-ftps")
}

/// Parses `oxftpd listening on 127.0.0.1:PORT<suffix>`.
fn parse_suffixed(line: &str, suffix: &str) -> Option<u16> {
    let addr = line.trim().strip_prefix("oxftpd listening on ")?.strip_suffix(suffix)?;
    let addr: std::net::SocketAddr = addr.trim().parse().ok()?;
    Some(addr.port())
}

/// Parses `oxftpd sftp listening on 127.0.0.1:PORT`.
fn parse_sftp(line: &str) -> Option<u16> {
    let addr = line.trim().strip_prefix("oxftpd sftp listening on ")?;
    let addr: std::net::SocketAddr = addr.trim().parse().ok()?;
    Some(addr.port())
}

/// Parses `oxftpd web client on http://ADDR/` into `http://ADDR`.
fn parse_web(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix("oxftpd web client on ")?;
    let (scheme, addr) = rest.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let addr: std::net::SocketAddr = addr.strip_suffix('/')?.parse().ok()?;
    Some(format!("{scheme}://{addr}"))
}

/// Parses `oxftpd admin on http://ADDR/` into `http://ADDR`.
fn parse_admin(line: &str) -> Option<String> {
    let addr = line.trim().strip_prefix("oxftpd admin on http://")?.strip_suffix('/')?;
    let addr: std::net::SocketAddr = addr.parse().ok()?;
    Some(format!("http://{addr}"))
}

/// alice: a user whose configured root is her home /alice; gina: a guest
/// confined to /guest; ro: a read-only user sharing alice's home and root;
/// uma: a user on the defaults (reaches the whole tree, starts in /alice);
/// with `tls`, tina: an account that must use TLS, sharing alice's home.
fn users_file(tls: bool) -> String {
    let hash = password_hash();
    let tina = if tls {
        format!(
            "\n[[user]]\nname = \"tina\"\npassword_hash = \"{hash}\"\nhome = \"/alice\"\nroot = \"/alice\"\nrequire_tls = true\n"
        )
    } else {
        String::new()
    };
    let accounts = format!(
        "[[user]]\nname = \"alice\"\npassword_hash = \"{hash}\"\nclass = \"user\"\nhome = \"/alice\"\nroot = \"/alice\"\nread_only = false\n\n\
         [[user]]\nname = \"gina\"\npassword_hash = \"{hash}\"\nclass = \"guest\"\nhome = \"/guest\"\nread_only = false\n\n\
         [[user]]\nname = \"ro\"\npassword_hash = \"{hash}\"\nclass = \"user\"\nhome = \"/alice\"\nroot = \"/alice\"\nread_only = true\n\n\
         [[user]]\nname = \"uma\"\npassword_hash = \"{hash}\"\nclass = \"user\"\nhome = \"/alice\"\n"
    );
    accounts + &tina
}

/// The `[server]` table for tests: loopback on a free port, no delay after
/// a failed login (tests try wrong passwords on purpose), and a short data
/// timeout so a data connection that never comes fails fast.
///
/// The tests run as root (CI does), and oxftpd refuses to start as root
/// without `server.run_as` unless `allow_root = true` says it is meant; the
/// harness says so, and the tests of `run_as` set it on top.
const SERVER_DEFAULTS: &[&str] = &[
    "listen = [\"127.0.0.1:0\"]",
    "failed_login_delay_ms = 0",
    "idle_timeout = 300",
    "data_timeout = 10",
    "allow_root = true",
];

fn config_file(config: &DaemonConfig, root: &Path, users: &Path) -> String {
    let mut text = String::new();
    let key_of = |line: &str| line.split('=').next().unwrap_or("").trim().to_string();
    let overridden: Vec<String> = config.server_extra.iter().map(|l| key_of(l)).collect();
    text.push_str("[server]\n");
    for line in SERVER_DEFAULTS.iter().filter(|l| !overridden.contains(&key_of(l))) {
        text.push_str(line);
        text.push('\n');
    }
    for line in &config.server_extra {
        text.push_str(line);
        text.push('\n');
    }
    if let Some(user) = &config.run_as {
        let _ = writeln!(text, "run_as = \"{user}\"");
    }
    if config.passive_range.is_some() || !config.passive_extra.is_empty() {
        text.push_str("\n[passive]\n");
    }
    if let Some((lo, hi)) = config.passive_range {
        let _ = writeln!(text, "port_range = [{lo}, {hi}]");
    }
    for line in &config.passive_extra {
        let _ = writeln!(text, "{line}");
    }
    let _ = writeln!(text, "\n[active]\nenabled = {}", config.active);
    match &config.storage {
        Some(body) => {
            let _ = writeln!(text, "\n[storage]\n{body}");
        }
        None => {
            let _ =
                writeln!(text, "\n[storage]\nroot = {}\natomic_uploads = {}", toml_str(root), config.atomic_uploads);
        }
    }
    let _ = writeln!(text, "\n[anonymous]\nenabled = {}\nroot = \"/pub\"\nincoming = \"/incoming\"", config.anonymous);
    if !config.no_users_file {
        let _ = writeln!(text, "\n[users]\nfile = {}", toml_str(users));
    }
    text.push_str("\n[log]\nformat = \"terminal\"\nlevel = \"debug\"\n");
    if config.xferlog {
        let dir = root.parent().expect("the storage root is in the daemon's directory");
        let _ = writeln!(text, "xferlog = {}", toml_str(&dir.join("logs/xferlog")));
    }
    text.push_str(&config.extra_tables);
    text
}

/// The `[tls]` table: the generated PKI, then the test's own lines (a key
/// given there replaces the default for it).
fn tls_table(tls: &TlsOptions, pki: &Pki) -> String {
    let key_of = |line: &str| line.split('=').next().unwrap_or("").trim().to_string();
    let overridden: Vec<String> = tls.extra.iter().map(|l| key_of(l)).collect();
    let mut lines = vec![
        format!("cert_file = {}", toml_str(&pki.server_cert)),
        format!("key_file = {}", toml_str(&pki.server_key)),
        format!("client_ca_file = {}", toml_str(&pki.ca)),
        "handshake_timeout = 10".to_string(),
    ];
    if tls.implicit {
        lines.push("implicit_listen = [\"127.0.0.1:0\"]".to_string());
    }
    lines.retain(|l| !overridden.contains(&key_of(l)));
    lines.extend(tls.extra.iter().cloned());
    format!("\n[tls]\n{}\n", lines.join("\n"))
}

/// A TOML basic string for a path (temp paths are plain ASCII, but escape anyway).
fn toml_str(path: &Path) -> String {
    let s = path.to_str().expect("temp paths are UTF-8");
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
