//! What the adapter tests share: a user type of their own with a provider
//! (homes, read-only, disabled accounts), and a back-end of theirs that
//! changes what unftp-sbe-fs says it supports or can hold.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use async_trait::async_trait;
use oxftp_unftp::unftp_core::auth::{DefaultUser, Principal, UserDetail, UserDetailError, UserDetailProvider};
use oxftp_unftp::unftp_core::storage::{Error, ErrorKind, Fileinfo, Metadata, Result, StorageBackend};
use tokio::io::{AsyncRead, ReadBuf};
use unftp_sbe_fs::Filesystem;

/// A user type of theirs: what a user-detail provider would know.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub home: Option<PathBuf>,
    pub read_only: bool,
    pub enabled: bool,
    /// The back-end below refuses this account's uploads itself.
    pub frozen: bool,
}

impl Account {
    pub fn new(name: &str) -> Account {
        Account { name: name.into(), home: None, read_only: false, enabled: true, frozen: false }
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl UserDetail for Account {
    fn account_enabled(&self) -> bool {
        self.enabled
    }
    fn home(&self) -> Option<&Path> {
        self.home.as_deref()
    }
}

/// A user-detail provider over a fixed set of accounts.
#[derive(Debug, Clone, Default)]
pub struct Accounts(Arc<HashMap<String, Account>>);

impl Accounts {
    pub fn new(accounts: impl IntoIterator<Item = Account>) -> Accounts {
        Accounts(Arc::new(accounts.into_iter().map(|a| (a.name.clone(), a)).collect()))
    }
}

#[async_trait]
impl UserDetailProvider for Accounts {
    type User = Account;

    async fn provide_user_detail(&self, principal: &Principal) -> std::result::Result<Account, UserDetailError> {
        self.0
            .get(&principal.username)
            .cloned()
            .ok_or_else(|| UserDetailError::UserNotFound { username: principal.username.clone() })
    }
}

/// Users the back-end below can tell apart.
pub trait Frozen: UserDetail {
    fn frozen(&self) -> bool {
        false
    }
}

impl Frozen for DefaultUser {}

impl Frozen for Account {
    fn frozen(&self) -> bool {
        self.frozen
    }
}

/// unftp-sbe-fs with other features (none: no REST), at most `cap` bytes
/// per upload (their "exceeded storage allocation" past it), and no uploads
/// at all for frozen users.
#[derive(Debug)]
pub struct Tweaked {
    pub inner: Filesystem,
    pub features: u32,
    pub cap: Option<u64>,
}

impl Tweaked {
    pub fn new(root: &Path) -> Tweaked {
        Tweaked { inner: Filesystem::new(root).expect("open root"), features: 0, cap: None }
    }
}

/// A reader that fails once more than `left` bytes came through.
struct Capped<R> {
    inner: R,
    left: u64,
    hit: Arc<AtomicBool>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Capped<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        std::task::ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let n = (buf.filled().len() - before) as u64;
        if n > self.left {
            self.hit.store(true, Ordering::SeqCst);
            return Poll::Ready(Err(std::io::Error::other("over the cap")));
        }
        self.left -= n;
        Poll::Ready(Ok(()))
    }
}

#[async_trait]
impl<U: Frozen + 'static> StorageBackend<U> for Tweaked {
    type Metadata = <Filesystem as StorageBackend<U>>::Metadata;

    fn supported_features(&self) -> u32 {
        self.features
    }

    async fn metadata<P: AsRef<Path> + Send + fmt::Debug>(&self, user: &U, path: P) -> Result<Self::Metadata> {
        self.inner.metadata(user, path).await
    }

    async fn list<P: AsRef<Path> + Send + fmt::Debug>(
        &self,
        user: &U,
        path: P,
    ) -> Result<Vec<Fileinfo<PathBuf, Self::Metadata>>>
    where
        Self::Metadata: Metadata,
    {
        self.inner.list(user, path).await
    }

    async fn get<P: AsRef<Path> + Send + fmt::Debug>(
        &self,
        user: &U,
        path: P,
        start_pos: u64,
    ) -> Result<Box<dyn AsyncRead + Send + Sync + Unpin>> {
        self.inner.get(user, path, start_pos).await
    }

    async fn put<P: AsRef<Path> + Send + fmt::Debug, R: AsyncRead + Send + Sync + Unpin + 'static>(
        &self,
        user: &U,
        input: R,
        path: P,
        start_pos: u64,
    ) -> Result<u64> {
        if user.frozen() {
            return Err(Error::from(ErrorKind::PermissionDenied));
        }
        let Some(cap) = self.cap else { return self.inner.put(user, input, path, start_pos).await };
        let hit = Arc::new(AtomicBool::new(false));
        let capped = Capped { inner: input, left: cap, hit: Arc::clone(&hit) };
        match self.inner.put(user, capped, path, start_pos).await {
            Err(_) if hit.load(Ordering::SeqCst) => Err(Error::from(ErrorKind::ExceededStorageAllocationError)),
            other => other,
        }
    }

    async fn del<P: AsRef<Path> + Send + fmt::Debug>(&self, user: &U, path: P) -> Result<()> {
        self.inner.del(user, path).await
    }

    async fn mkd<P: AsRef<Path> + Send + fmt::Debug>(&self, user: &U, path: P) -> Result<()> {
        self.inner.mkd(user, path).await
    }

    async fn rename<P: AsRef<Path> + Send + fmt::Debug>(&self, user: &U, from: P, to: P) -> Result<()> {
        self.inner.rename(user, from, to).await
    }

    async fn rmd<P: AsRef<Path> + Send + fmt::Debug>(&self, user: &U, path: P) -> Result<()> {
        self.inner.rmd(user, path).await
    }

    async fn cwd<P: AsRef<Path> + Send + fmt::Debug>(&self, user: &U, path: P) -> Result<()> {
        self.inner.cwd(user, path).await
    }
}
