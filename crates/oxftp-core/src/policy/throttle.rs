//! Bandwidth limits: [`RateLimiter`] (a shareable token bucket) and
//! [`Throttle`], which makes every download and upload of a session wait
//! for tokens from a list of limiters (typically the account's and the
//! server's, one each per direction).
//!
//! The bucket is `governor`'s GCRA, which refills continuously (one byte's
//! worth every `1/rate` seconds) rather than once a second, so a limited
//! transfer runs smoothly instead of in bursts at second boundaries. The burst
//! (what an idle bucket lets through at once) is a tenth of a second's worth
//! or 64 KiB, whichever is larger. The limiter reads time from tokio's clock
//! and sleeps with tokio's timer, so tests can pause time.
//!
//! Each read or write asks for at most a tenth of a second's worth of bytes,
//! so no single wait is long (the engine's stall timeouts keep working even at
//! very low rates) and sessions sharing a limiter take turns in small steps.
//! Bytes are paid for before they move: a read that returns fewer bytes than
//! were paid for keeps the rest as credit for the next read.
//!
//! A throttled download loses zero-copy: a local file is read through tokio
//! like any other stream, since `sendfile(2)` cannot be paced.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::num::{NonZeroU32, NonZeroU64};
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use async_trait::async_trait;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter as Gcra};
use oxftp_proto::path::VPath;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::account::Limits;
use crate::storage::{Existing, ReadHandle, Storage, StorageError, WriteHandle, WriteMode};

/// The smallest burst: small rates still let a typical TCP window through at once.
const MIN_BURST: u64 = 64 * 1024;
/// Token cells per second at most; above this a cell stands for several bytes,
/// so the refill period stays well above the nanosecond resolution.
const MAX_CELLS_PER_SECOND: u64 = 1_000_000;

/// governor's clock, read from tokio so a paused test clock drives it.
#[derive(Debug, Clone, Copy, Default)]
struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> std::time::Instant {
        tokio::time::Instant::now().into_std()
    }
}

type Bucket = Gcra<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>;

/// A bandwidth limit in bytes per second, shared (through `Arc`) by every
/// transfer it applies to.
pub struct RateLimiter {
    bucket: Bucket,
    /// Bytes per second.
    rate: u64,
    /// Bytes one token cell stands for.
    unit: u64,
    /// Most cells one request may take (the bucket's burst).
    burst_cells: u32,
    /// Most bytes one read or write asks for.
    step: usize,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter").field("rate", &self.rate).field("burst", &self.burst()).finish()
    }
}

impl RateLimiter {
    /// A limiter letting `bytes_per_second` through on average.
    pub fn new(bytes_per_second: NonZeroU64) -> RateLimiter {
        let rate = bytes_per_second.get();
        let unit = (rate / MAX_CELLS_PER_SECOND).max(1);
        let cells_per_second = rate / unit;
        // At least 1 ns: a rate up to 10^6 cells/s gives 1000 ns or more.
        let period = Duration::from_nanos((1_000_000_000 / cells_per_second).max(1));
        let burst_bytes = (rate / 10).max(MIN_BURST);
        let burst_cells = u32::try_from(burst_bytes.div_ceil(unit)).unwrap_or(u32::MAX);
        let burst = NonZeroU32::new(burst_cells).unwrap_or(NonZeroU32::MIN);
        // `with_period` is `None` only for a zero period, which `max(1)` rules out.
        let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX)).allow_burst(burst);
        let step = usize::try_from((rate / 10).max(1).min(burst_bytes)).unwrap_or(usize::MAX);
        RateLimiter { bucket: Gcra::direct_with_clock(quota, TokioClock), rate, unit, burst_cells: burst.get(), step }
    }

    /// A shared limiter for an optional configured rate; `None` and `0` mean unlimited.
    pub fn from_limit(bytes_per_second: Option<u64>) -> Option<Arc<RateLimiter>> {
        bytes_per_second.and_then(NonZeroU64::new).map(|rate| Arc::new(RateLimiter::new(rate)))
    }

    /// The average rate, bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Bytes an idle limiter lets through at once.
    pub fn burst(&self) -> u64 {
        u64::from(self.burst_cells).saturating_mul(self.unit)
    }

    /// The most bytes a throttled read or write asks for at once (a tenth of
    /// a second's worth), so that waits stay short.
    pub fn step(&self) -> usize {
        self.step
    }

    /// Wait until `bytes` may pass. Requests larger than the burst are taken
    /// in burst-sized pieces, one after another.
    pub async fn acquire(&self, bytes: u64) {
        let mut cells = bytes.div_ceil(self.unit);
        while cells > 0 {
            let take = u32::try_from(cells.min(u64::from(self.burst_cells))).unwrap_or(self.burst_cells);
            let Some(n) = NonZeroU32::new(take) else { return };
            loop {
                match self.bucket.check_n(n) {
                    Ok(Ok(())) => break,
                    Ok(Err(not_until)) => tokio::time::sleep(not_until.wait_time_from(TokioClock.now())).await,
                    // Cannot happen (n is at most the burst); never spin on it.
                    Err(_) => return,
                }
            }
            cells -= u64::from(take);
        }
    }
}

/// The limiters one direction of a session waits for.
#[derive(Debug, Clone)]
struct Limiters(Arc<[Arc<RateLimiter>]>);

impl Limiters {
    fn new(list: Vec<Arc<RateLimiter>>) -> Self {
        Limiters(list.into())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The largest request that suits every limiter.
    fn step(&self) -> usize {
        self.0.iter().map(|l| l.step()).min().unwrap_or(usize::MAX).max(1)
    }

    /// A wait for `bytes` from every limiter in turn.
    fn acquire(&self, bytes: usize) -> Wait {
        let list = Arc::clone(&self.0);
        Box::pin(async move {
            for limiter in list.iter() {
                limiter.acquire(bytes as u64).await;
            }
        })
    }
}

type Wait = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Pays for bytes before they move, in steps of at most `step`.
struct Meter {
    limiters: Limiters,
    step: usize,
    /// Bytes paid for and not yet moved.
    credit: usize,
    /// A payment in progress and the bytes it buys.
    waiting: Option<(Wait, usize)>,
}

impl Meter {
    fn new(limiters: Limiters) -> Self {
        let step = limiters.step();
        Meter { limiters, step, credit: 0, waiting: None }
    }

    /// Ready with how many bytes may move now (at most `want`, at least 1 when `want > 0`).
    fn poll_allowance(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<usize> {
        if want == 0 {
            return Poll::Ready(0);
        }
        loop {
            if let Some((wait, bytes)) = &mut self.waiting {
                ready!(wait.as_mut().poll(cx));
                self.credit = self.credit.saturating_add(*bytes);
                self.waiting = None;
            }
            if self.credit > 0 {
                return Poll::Ready(self.credit.min(want));
            }
            let bytes = want.min(self.step);
            self.waiting = Some((self.limiters.acquire(bytes), bytes));
        }
    }

    fn spend(&mut self, bytes: usize) {
        self.credit = self.credit.saturating_sub(bytes);
    }
}

/// A download read at the pace its limiters allow.
struct ThrottledRead {
    inner: Box<dyn AsyncRead + Send + Unpin>,
    meter: Meter,
}

impl AsyncRead for ThrottledRead {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let allowed = ready!(this.meter.poll_allowance(cx, buf.remaining()));
        if allowed == 0 {
            return Poll::Ready(Ok(()));
        }
        // Read into the first `allowed` bytes of the caller's buffer only.
        let mut part = ReadBuf::new(buf.initialize_unfilled_to(allowed));
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut part))?;
        let n = part.filled().len();
        this.meter.spend(n);
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// An upload written at the pace its limiters allow.
struct ThrottledWrite {
    inner: Box<dyn WriteHandle>,
    meter: Meter,
}

impl AsyncWrite for ThrottledWrite {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let allowed = ready!(this.meter.poll_allowance(cx, buf.len()));
        let part = buf.get(..allowed).unwrap_or(buf);
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, part))?;
        this.meter.spend(n);
        Poll::Ready(Ok(n))
    }

    super::shaper::forward_write!(inner: flush, shutdown);
}

#[async_trait]
impl WriteHandle for ThrottledWrite {
    async fn commit(self: Box<Self>) -> Result<(), StorageError> {
        self.inner.commit().await
    }

    async fn abort(self: Box<Self>) {
        self.inner.abort().await
    }
}

/// A storage whose downloads wait for `down` limiters and uploads for `up`
/// limiters. Everything else passes through.
#[derive(Debug, Clone)]
pub struct Throttle {
    inner: Arc<dyn Storage>,
    down: Limiters,
    up: Limiters,
}

impl Throttle {
    /// Wrap `inner`: each download byte waits for every limiter in `down`,
    /// each upload byte for every limiter in `up`. Empty lists mean unlimited.
    pub fn new(inner: Arc<dyn Storage>, down: Vec<Arc<RateLimiter>>, up: Vec<Arc<RateLimiter>>) -> Self {
        Throttle { inner, down: Limiters::new(down), up: Limiters::new(up) }
    }
}

/// Paces downloads and uploads; everything else passes through.
#[async_trait]
impl super::Shaper for Throttle {
    fn inner(&self) -> &dyn Storage {
        self.inner.as_ref()
    }

    async fn open_read(&self, path: &VPath, offset: u64) -> Result<ReadHandle, StorageError> {
        let handle = self.inner.open_read(path, offset).await?;
        if self.down.is_empty() {
            return Ok(handle);
        }
        let inner: Box<dyn AsyncRead + Send + Unpin> = match handle {
            ReadHandle::Stream(stream) => stream,
            ReadHandle::LocalFile(file) => Box::new(tokio::fs::File::from_std(file)),
        };
        Ok(ReadHandle::Stream(Box::new(ThrottledRead { inner, meter: Meter::new(self.down.clone()) })))
    }

    async fn open_write_known(
        &self,
        path: &VPath,
        mode: WriteMode,
        existing: Existing,
    ) -> Result<Box<dyn WriteHandle>, StorageError> {
        let handle = self.inner.open_write_known(path, mode, existing).await?;
        if self.up.is_empty() {
            return Ok(handle);
        }
        Ok(Box::new(ThrottledWrite { inner: handle, meter: Meter::new(self.up.clone()) }))
    }
}

/// An account's (download, upload) limiters, alive while a session holds them.
type AccountLimiters = (Weak<RateLimiter>, Weak<RateLimiter>);

/// Bandwidth limiters: one per direction for the whole server and one per
/// direction per account, shared by all of that account's sessions.
#[derive(Debug)]
pub(crate) struct Rates {
    global_down: Option<Arc<RateLimiter>>,
    global_up: Option<Arc<RateLimiter>>,
    /// Per account and direction; entries live while any session holds them.
    accounts: Mutex<HashMap<String, AccountLimiters>>,
}

impl Rates {
    pub fn new(download: Option<u64>, upload: Option<u64>) -> Rates {
        Rates {
            global_down: RateLimiter::from_limit(download),
            global_up: RateLimiter::from_limit(upload),
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// The limiters a session of `user` with `limits` goes through: (download, upload).
    pub fn for_account(&self, user: &str, limits: &Limits) -> (Vec<Arc<RateLimiter>>, Vec<Arc<RateLimiter>>) {
        let mut down: Vec<_> = self.global_down.iter().cloned().collect();
        let mut up: Vec<_> = self.global_up.iter().cloned().collect();
        if limits.download_rate.is_some() || limits.upload_rate.is_some() {
            // Each update is one insert or remove, so a poisoned map is still consistent.
            let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
            accounts.retain(|_, (d, u)| d.strong_count() > 0 || u.strong_count() > 0);
            let entry = accounts.entry(user.to_string()).or_default();
            let shared = |slot: &mut Weak<RateLimiter>, rate: Option<u64>| -> Option<Arc<RateLimiter>> {
                // Reuse the account's limiter while a session holds it, so sessions share the rate.
                let limiter =
                    slot.upgrade().filter(|l| Some(l.rate()) == rate).or_else(|| RateLimiter::from_limit(rate))?;
                *slot = Arc::downgrade(&limiter);
                Some(limiter)
            };
            down.extend(shared(&mut entry.0, limits.download_rate));
            up.extend(shared(&mut entry.1, limits.upload_rate));
        }
        (down, up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStorage;
    use crate::storage::{Capabilities, DirLister};
    use crate::test_util::helpers::{p, read_all};
    use oxftp_proto::listing::FileInfo;
    use tokio::io::AsyncWriteExt;
    use tokio::time::Instant;

    const MIB: u64 = 1024 * 1024;

    fn limiter(rate: u64) -> Arc<RateLimiter> {
        RateLimiter::from_limit(Some(rate)).unwrap()
    }

    fn storage_with(path: &str, len: u64) -> MemoryStorage {
        let mem = MemoryStorage::new();
        mem.put_file(&p(path), vec![7u8; len as usize]).unwrap();
        mem
    }

    #[test]
    fn burst_and_step_follow_the_rate() {
        let l = RateLimiter::new(NonZeroU64::new(MIB).unwrap());
        assert_eq!(l.rate(), MIB);
        assert_eq!(l.burst(), MIB / 10);
        assert_eq!(l.step(), (MIB / 10) as usize);
        let slow = RateLimiter::new(NonZeroU64::new(1000).unwrap());
        assert_eq!(slow.burst(), MIN_BURST);
        assert_eq!(slow.step(), 100);
        let fast = RateLimiter::new(NonZeroU64::new(10_000 * MIB).unwrap());
        assert!(fast.burst() >= 1000 * MIB);
        assert!(RateLimiter::from_limit(None).is_none());
        assert!(RateLimiter::from_limit(Some(0)).is_none());
        assert!(format!("{l:?}").contains("rate: 1048576"));
    }

    #[tokio::test(start_paused = true)]
    async fn download_of_4_mib_at_1_mib_per_second_takes_about_4_seconds() {
        let mem = storage_with("/big", 4 * MIB);
        let s = Throttle::new(Arc::new(mem), vec![limiter(MIB)], vec![]);
        let start = Instant::now();
        let data = read_all(&s, "/big").await.unwrap();
        let took = start.elapsed();
        assert_eq!(data.len() as u64, 4 * MIB);
        assert!(data.iter().all(|b| *b == 7));
        // 4 MiB less the initial burst (0.1 s worth) at 1 MiB/s.
        assert!(took >= Duration::from_millis(3800) && took <= Duration::from_millis(4100), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn rate_is_smooth_not_bursty() {
        let mem = storage_with("/f", 2 * MIB);
        let s = Throttle::new(Arc::new(mem), vec![limiter(MIB)], vec![]);
        let ReadHandle::Stream(mut r) = s.open_read(&p("/f"), 0).await.unwrap() else { panic!("a stream") };
        let start = Instant::now();
        let mut buf = vec![0u8; MIB as usize];
        let mut total = 0u64;
        // Every read returns at most a tenth of a second's worth, and the
        // running total never gets ahead of rate * time + burst.
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut r, &mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            assert!(n as u64 <= MIB / 10);
            total += n as u64;
            let allowed = start.elapsed().as_secs_f64() * MIB as f64 + (MIB / 10) as f64;
            assert!(total as f64 <= allowed + 1.0, "{total} bytes after {:?}", start.elapsed());
        }
        assert_eq!(total, 2 * MIB);
    }

    #[tokio::test(start_paused = true)]
    async fn upload_waits_for_every_limiter_and_shares_them() {
        let mem = MemoryStorage::new();
        let user = limiter(MIB);
        let global = limiter(2 * MIB);
        let s = Throttle::new(Arc::new(mem.clone()), vec![], vec![Arc::clone(&user), global]);
        let start = Instant::now();
        // Two uploads at once share the user's 1 MiB/s: 2 MiB in about 2 s.
        let up = |name: &'static str| {
            let s = s.clone();
            async move {
                let mut w = s.open_write(&p(name), WriteMode::Create { exclusive: false }).await.unwrap();
                w.write_all(&vec![1u8; MIB as usize]).await.unwrap();
                w.commit().await.unwrap();
            }
        };
        tokio::join!(up("/a"), up("/b"));
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(1800) && took <= Duration::from_millis(2100), "{took:?}");
        assert_eq!(mem.file_contents(&p("/a")).unwrap().len() as u64, MIB);
        assert_eq!(mem.file_contents(&p("/b")).unwrap().len() as u64, MIB);
    }

    #[tokio::test(start_paused = true)]
    async fn slowest_limiter_sets_the_pace() {
        let mem = storage_with("/f", MIB);
        let s = Throttle::new(Arc::new(mem), vec![limiter(4 * MIB), limiter(MIB / 2)], vec![]);
        let start = Instant::now();
        read_all(&s, "/f").await.unwrap();
        let took = start.elapsed();
        // 1 MiB at 512 KiB/s, less the 64 KiB burst.
        assert!(took >= Duration::from_millis(1800) && took <= Duration::from_millis(2050), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_limiters_means_no_wrapping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"local").unwrap();
        #[derive(Debug)]
        struct Local(std::path::PathBuf);
        #[async_trait]
        impl Storage for Local {
            fn capabilities(&self) -> Capabilities {
                Capabilities::ALL
            }
            async fn metadata(&self, _: &VPath) -> Result<FileInfo, StorageError> {
                Err(StorageError::not_found())
            }
            async fn list(&self, _: &VPath) -> Result<Box<dyn DirLister>, StorageError> {
                Err(StorageError::not_found())
            }
            async fn open_read(&self, _: &VPath, _: u64) -> Result<ReadHandle, StorageError> {
                Ok(ReadHandle::LocalFile(std::fs::File::open(&self.0)?))
            }
            async fn open_write(&self, _: &VPath, _: WriteMode) -> Result<Box<dyn WriteHandle>, StorageError> {
                Err(StorageError::not_found())
            }
            async fn delete(&self, _: &VPath) -> Result<(), StorageError> {
                Ok(())
            }
            async fn mkdir(&self, _: &VPath) -> Result<(), StorageError> {
                Ok(())
            }
            async fn rmdir(&self, _: &VPath) -> Result<(), StorageError> {
                Ok(())
            }
            async fn rename(&self, _: &VPath, _: &VPath) -> Result<(), StorageError> {
                Ok(())
            }
        }
        let local: Arc<dyn Storage> = Arc::new(Local(path));
        // Unthrottled: the local file stays a local file (zero-copy possible).
        let plain = Throttle::new(Arc::clone(&local), vec![], vec![]);
        assert!(matches!(plain.open_read(&p("/f"), 0).await.unwrap(), ReadHandle::LocalFile(_)));
        // Throttled: it becomes a paced stream with the same bytes.
        let slow = Throttle::new(local, vec![limiter(1000)], vec![]);
        assert!(matches!(slow.open_read(&p("/f"), 0).await.unwrap(), ReadHandle::Stream(_)));
        assert_eq!(read_all(&slow, "/f").await.unwrap(), b"local");
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_splits_requests_larger_than_the_burst() {
        let l = limiter(MIB);
        let start = Instant::now();
        l.acquire(3 * MIB).await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(2800) && took <= Duration::from_millis(3000), "{took:?}");
        l.acquire(0).await;
    }
}
