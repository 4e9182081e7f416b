//! An in-process oxftp server on an ephemeral loopback port, for suppaftp tests.

#[allow(dead_code)]
pub mod pki;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use oxftp::fs::LocalFsFactory;
use oxftp::policy::{AnonymousLogin, Stack};
use oxftp::{AccessClass, AuthError, Authenticator, Credentials, Identity, Options, Server, StorageFactory, VPath};
use suppaftp::tokio::AsyncFtpStream;
use tokio::sync::oneshot;

/// Accounts for tests: `alice`/`secret` (user, home /alice), `gina`/`guest` (guest, home /guest),
/// `ro`/`ro` (read-only user, home /alice); anonymous sees /pub with /incoming inside.
#[derive(Debug)]
pub struct TestAccounts;

#[async_trait]
impl Authenticator for TestAccounts {
    async fn authenticate(&self, c: &Credentials) -> Result<Identity, AuthError> {
        let (class, home, read_only, password) = match c.user.as_str() {
            "alice" => (AccessClass::User, "/alice", false, "secret"),
            "gina" => (AccessClass::Guest, "/guest", false, "guest"),
            "ro" => (AccessClass::User, "/alice", true, "ro"),
            "limited" => (AccessClass::User, "/alice", false, "limited"),
            "quota" => (AccessClass::User, "/quota", false, "quota"),
            "slow" => (AccessClass::User, "/alice", false, "slow"),
            "perm" => (AccessClass::User, "/alice", false, "perm"),
            "budget" => (AccessClass::User, "/alice", false, "budget"),
            _ => return Err(AuthError::UnknownUser),
        };
        if c.password != password {
            return Err(AuthError::BadPassword);
        }
        let mut id = Identity::new(c.user.clone(), class);
        id.home = VPath::parse(home.as_bytes()).map_err(|e| AuthError::Backend(e.to_string()))?;
        // These accounts keep to their homes: users with a configured root
        // (crates/oxftpd/tests/e2e_accounts.rs tests users on the default root).
        id.root = id.home.clone();
        id.read_only = read_only;
        match c.user.as_str() {
            "quota" => id.limits.quota_bytes = Some(100_000),
            "slow" => id.limits.download_rate = Some(1024 * 1024),
            "budget" => {
                // A quota and a permission rule: every layer that looks before a write is stacked.
                use oxftp::account::{DirRule, Permission, PermissionSet};
                id.limits.quota_bytes = Some(100_000_000);
                let dir = VPath::parse(b"/upload/archive").map_err(|e| AuthError::Backend(e.to_string()))?;
                id.permissions.rules.push(DirRule { dir, allow: PermissionSet::all().without(Permission::Delete) });
            }
            "perm" => {
                use oxftp::account::{DirRule, Permission, PermissionSet};
                let vp = |s: &str| VPath::parse(s.as_bytes()).map_err(|e| AuthError::Backend(e.to_string()));
                id.permissions.default = PermissionSet::read_only();
                id.permissions.rules.push(DirRule { dir: vp("/upload")?, allow: PermissionSet::all() });
                id.permissions.rules.push(DirRule {
                    dir: vp("/upload/archive")?,
                    allow: PermissionSet::all().without(Permission::Delete),
                });
            }
            _ => {}
        }
        if c.user == "limited" {
            id.limits.max_sessions = Some(1);
            id.allowed_ips.allow.push("127.0.0.1".parse().map_err(AuthError::Backend)?);
        }
        Ok(id)
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Options)) -> TestServer {
        Self::start_over(|local| local, tweak).await
    }

    /// A server whose storage is `wrap` of the local disk factory (e.g. a counting wrapper).
    pub async fn start_over(
        wrap: impl FnOnce(Arc<dyn StorageFactory>) -> Arc<dyn StorageFactory>,
        tweak: impl FnOnce(&mut Options),
    ) -> TestServer {
        Self::start_full(wrap, tweak, |_| None).await
    }

    /// A server whose sessions get their storage from the stack `stack`
    /// makes over the local disk factory (a stack shared with another front end).
    pub async fn start_with_stack(stack: impl FnOnce(Arc<dyn StorageFactory>) -> Arc<Stack>) -> TestServer {
        Self::start_full(|local| local, |_| {}, |factory| Some(stack(factory))).await
    }

    /// A server on a listener made by `listener` (one that expects PROXY
    /// headers, say), with options changed by `tweak`.
    #[allow(dead_code)] // (not every test binary uses it)
    pub async fn start_on(
        tweak: impl FnOnce(&mut Options),
        listener: impl FnOnce(tokio::net::TcpListener) -> oxftp::Listener,
    ) -> TestServer {
        Self::start_listening(|local| local, tweak, |_| None, listener).await
    }

    async fn start_full(
        wrap: impl FnOnce(Arc<dyn StorageFactory>) -> Arc<dyn StorageFactory>,
        tweak: impl FnOnce(&mut Options),
        stack: impl FnOnce(Arc<dyn StorageFactory>) -> Option<Arc<Stack>>,
    ) -> TestServer {
        Self::start_listening(wrap, tweak, stack, oxftp::Listener::new).await
    }

    async fn start_listening(
        wrap: impl FnOnce(Arc<dyn StorageFactory>) -> Arc<dyn StorageFactory>,
        tweak: impl FnOnce(&mut Options),
        stack: impl FnOnce(Arc<dyn StorageFactory>) -> Option<Arc<Stack>>,
        make_listener: impl FnOnce(tokio::net::TcpListener) -> oxftp::Listener,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["alice", "guest", "pub/incoming", "quota", "alice/upload/archive"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let storage = wrap(Arc::new(LocalFsFactory::new(dir.path()).expect("storage")));
        let auth = Arc::new(AnonymousLogin::new(
            Some(Arc::new(TestAccounts)),
            VPath::parse(b"/pub").expect("vpath"),
            Some(VPath::parse(b"/incoming").expect("vpath")),
        ));
        let mut options = Options::default();
        options.failed_login_delay = Duration::from_millis(10);
        tweak(&mut options);
        let shared = stack(Arc::clone(&storage));
        let mut server = Server::new(storage, auth).with_options(options);
        if let Some(stack) = shared {
            server = server.with_stack(stack);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let listener = make_listener(listener);
        let task = tokio::spawn(async move {
            server
                .run_listeners(vec![listener], async {
                    let _ = stopped.await;
                })
                .await
        });
        TestServer { addr, dir, stop: Some(stop), task: Some(task) }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub async fn login(&self, user: &str, pass: &str) -> AsyncFtpStream {
        let mut ftp = AsyncFtpStream::connect(self.addr).await.expect("connect");
        ftp.login(user, pass).await.expect("login");
        ftp.transfer_type(suppaftp::types::FileType::Binary).await.expect("TYPE I");
        ftp
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

/// A bare control connection for exact reply codes.
pub struct Raw {
    reader: tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    /// Connect and consume the greeting.
    pub async fn connect(addr: SocketAddr) -> Raw {
        // (works for IPv4 and IPv6 listeners alike)
        Raw::from_stream(tokio::net::TcpStream::connect(addr).await.expect("connect")).await
    }

    /// Wrap an already connected stream and consume the greeting.
    pub async fn from_stream(stream: tokio::net::TcpStream) -> Raw {
        let (r, w) = stream.into_split();
        let mut raw = Raw { reader: tokio::io::BufReader::new(r), writer: w };
        let (code, _) = raw.reply().await;
        assert_eq!(code, 220, "greeting");
        raw
    }

    pub async fn login(addr: SocketAddr, user: &str, pass: &str) -> Raw {
        let mut raw = Raw::connect(addr).await;
        assert_eq!(raw.cmd(&format!("USER {user}")).await.0, 331);
        assert_eq!(raw.cmd(&format!("PASS {pass}")).await.0, 230);
        raw
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.writer.write_all(bytes).await.expect("write");
    }

    /// Send one command line and read its reply.
    pub async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send_bytes(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Read one (possibly multi-line) reply: code and full text. Panics after 10 s.
    pub async fn reply(&mut self) -> (u16, String) {
        tokio::time::timeout(Duration::from_secs(10), self.read_reply()).await.expect("reply timed out")
    }

    async fn read_reply(&mut self) -> (u16, String) {
        use tokio::io::AsyncBufReadExt;
        let mut text = String::new();
        let mut first = Vec::new();
        self.reader.read_until(b'\n', &mut first).await.expect("read");
        let first = String::from_utf8_lossy(&first).to_string();
        assert!(first.len() >= 4, "short reply line {first:?}");
        let code: u16 = first[..3].parse().expect("reply code");
        text.push_str(&first);
        if first.as_bytes()[3] == b'-' {
            loop {
                let mut line = Vec::new();
                let n = self.reader.read_until(b'\n', &mut line).await.expect("read");
                assert!(n > 0, "connection closed inside a multi-line reply");
                let line = String::from_utf8_lossy(&line).to_string();
                text.push_str(&line);
                if line.len() >= 4 && line.starts_with(&first[..3]) && line.as_bytes()[3] == b' ' {
                    break;
                }
            }
        }
        (code, text)
    }

    /// Enter passive mode and connect the data socket (from `from`, if given).
    pub async fn pasv_connect(&mut self, from: Option<std::net::IpAddr>) -> std::io::Result<tokio::net::TcpStream> {
        let (code, text) = self.cmd("EPSV").await;
        assert_eq!(code, 229, "{text}");
        let port: u16 =
            text.split("|||").nth(1).and_then(|s| s.split('|').next()).and_then(|p| p.parse().ok()).expect("EPSV port");
        let socket = tokio::net::TcpSocket::new_v4()?;
        if let Some(ip) = from {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        socket.connect(SocketAddr::from(([127, 0, 0, 1], port))).await
    }
}
