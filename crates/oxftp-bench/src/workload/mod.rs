//! The workloads, one module each; every one returns a [`Record`].
//!
//! Shared here: the connection options every workload takes, and helpers to
//! run many sessions at once with a bounded number in flight.

use std::net::{SocketAddr, ToSocketAddrs as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;

use crate::ftp::{Endpoint, Passive};

pub mod burst;
pub mod idle;
pub mod logins;
pub mod small;
pub mod transfer;

/// Size of the read and write buffers for transfers: large enough that
/// per-call overhead vanishes next to the copy itself, small enough to stay
/// in the CPU's cache (iperf3's default too). 1 MiB reads made every server's
/// RETR 10-30% slower here: the client was the bottleneck.
pub const BUFFER: usize = 128 << 10;

/// Server connection options shared by every workload.
#[derive(Debug, Clone, clap::Args)]
pub struct Conn {
    /// Server host name or address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server control port.
    #[arg(long)]
    pub port: u16,
    /// Login name.
    #[arg(long)]
    pub user: String,
    /// Password.
    #[arg(long)]
    pub pass: String,
    /// Passive mode command.
    #[arg(long, value_enum, default_value = "epsv")]
    pub passive: Passive,
    /// Seconds allowed for each connect and each read before a step fails.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Name of the server in the results (the table column).
    #[arg(long, default_value = "server")]
    pub label: String,
    /// Server process id: its process tree's CPU time (and for `idle`, memory)
    /// is read from /proc.
    #[arg(long)]
    pub pid: Option<u32>,
    /// The server's own cgroup v2 directory: its CPU time is read from there
    /// instead (every process that ran in it, reaped or not).
    #[arg(long)]
    pub cgroup: Option<PathBuf>,
}

impl Conn {
    /// The server's CPU seconds so far: from `--cgroup` when given, else
    /// from the process tree of `--pid`; `None` without either.
    pub fn server_cpu(&self) -> Option<f64> {
        match &self.cgroup {
            Some(dir) => crate::procfs::cgroup_cpu_seconds(dir),
            None => crate::procfs::cpu_seconds(self.pid),
        }
    }

    /// The endpoint for the FTP client.
    pub fn endpoint(&self) -> anyhow::Result<Endpoint> {
        let addr: SocketAddr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {}", self.host))?
            .next()
            .with_context(|| format!("{} has no address", self.host))?;
        Ok(Endpoint {
            addr,
            user: self.user.clone(),
            pass: self.pass.clone(),
            passive: self.passive,
            timeout: Duration::from_secs(self.timeout.max(1)),
        })
    }
}

/// Runs `job(i)` for every `i` in `0..count` with at most `workers` at once,
/// returning the results in index order.
///
/// Workers pull the next index from a shared counter, so a slow item never
/// holds back the rest and no more than `workers` tasks exist at a time.
pub async fn for_each_bounded<T, F, Fut>(count: usize, workers: usize, job: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers.clamp(1, count.max(1)) {
        let next = Arc::clone(&next);
        let job = Arc::clone(&job);
        tasks.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return done;
                }
                done.push((i, job(i).await));
            }
        });
    }
    let mut all = Vec::with_capacity(count);
    while let Some(batch) = tasks.join_next().await {
        // A worker only fails by panicking, which this crate's jobs do not do.
        if let Ok(batch) = batch {
            all.extend(batch);
        }
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[tokio::test]
    async fn bounded_runs_everything_in_order_within_the_bound() {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (f, p) = (Arc::clone(&in_flight), Arc::clone(&peak));
        let out = for_each_bounded(50, 4, move |i| {
            let (f, p) = (Arc::clone(&f), Arc::clone(&p));
            async move {
                let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1)).await;
                f.fetch_sub(1, Ordering::SeqCst);
                i * 2
            }
        })
        .await;
        assert_eq!(out, (0..50).map(|i| i * 2).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 4);
        assert!(for_each_bounded(0, 4, |i| async move { i }).await.is_empty());
    }

    #[test]
    fn endpoint_resolves() {
        let conn = Conn {
            host: "127.0.0.1".into(),
            port: 2121,
            user: "u".into(),
            pass: "p".into(),
            passive: Passive::Pasv,
            timeout: 0,
            label: "x".into(),
            pid: None,
            cgroup: None,
        };
        let ep = conn.endpoint().unwrap();
        assert_eq!(ep.addr, "127.0.0.1:2121".parse().unwrap());
        assert_eq!(ep.timeout, Duration::from_secs(1));
    }
}
