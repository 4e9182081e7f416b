//! A burst of clients arriving at once, each doing a short real session:
//! connect, login, LIST, RETR of a small file, QUIT. Shows accept-queue
//! depth, per-connection setup cost and whether anything is refused.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Barrier;

use crate::ftp::{Control, Endpoint};
use crate::record::Record;
use crate::stats::{median, percentile};
use crate::workload::Conn;

/// Read buffer per client: the burst file is small, and 1,000 clients with
/// 1 MiB each would measure the client's allocator instead.
const CLIENT_BUFFER: usize = 64 * 1024;

/// One client's session; returns its latency from the common start.
async fn client(ep: Arc<Endpoint>, list_dir: Arc<str>, path: Arc<str>, gate: Arc<Barrier>) -> anyhow::Result<Duration> {
    gate.wait().await;
    let start = Instant::now();
    let mut buf = vec![0u8; CLIENT_BUFFER];
    let mut control = Control::open(&ep).await?;
    control.list(&list_dir, &mut buf).await?;
    let got = control.retr(&path, &mut buf).await?;
    anyhow::ensure!(got > 0, "RETR {path} sent no bytes");
    control.quit().await?;
    Ok(start.elapsed())
}

/// One burst of `clients`; returns (wall time, per-client latencies, errors).
async fn one_burst(
    ep: &Arc<Endpoint>,
    clients: usize,
    list_dir: &str,
    path: &str,
) -> (Duration, Vec<f64>, Vec<String>) {
    let gate = Arc::new(Barrier::new(clients + 1));
    let (list_dir, path): (Arc<str>, Arc<str>) = (list_dir.into(), path.into());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        tasks.spawn(client(Arc::clone(ep), Arc::clone(&list_dir), Arc::clone(&path), Arc::clone(&gate)));
    }
    gate.wait().await;
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(clients);
    let mut errors = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(latency)) => latencies.push(latency.as_secs_f64() * 1000.0),
            Ok(Err(e)) => errors.push(format!("{e:#}")),
            Err(e) => errors.push(format!("client task failed: {e}")),
        }
    }
    (start.elapsed(), latencies, errors)
}

/// Runs `runs` bursts; reports the burst's wall time in ms (until the last
/// client finished), with per-client latency percentiles in the detail.
pub async fn run(conn: &Conn, workload: &str, clients: usize, list_dir: &str, path: &str, runs: usize) -> Record {
    let ep = match conn.endpoint() {
        Ok(ep) => Arc::new(ep),
        Err(e) => {
            let mut record = Record::new(workload, &conn.label, "ms", false, vec![]);
            record.fail(format!("{e:#}"));
            return record;
        }
    };
    let mut walls = Vec::new();
    let mut all_latencies = Vec::new();
    let mut all_errors = Vec::new();
    for _ in 0..runs {
        let (wall, latencies, errors) = one_burst(&ep, clients.max(1), list_dir, path).await;
        walls.push(wall.as_secs_f64() * 1000.0);
        all_latencies.extend(latencies);
        all_errors.extend(errors);
        // Let the server reap the burst before the next one.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut record = Record::new(workload, &conn.label, "ms", false, walls);
    record.detail.insert("clients".into(), clients as f64);
    for (name, p) in [("p50_ms", 50.0), ("p99_ms", 99.0), ("max_ms", 100.0)] {
        if let Some(v) = percentile(&all_latencies, p) {
            record.detail.insert(name.into(), v);
        }
    }
    if let Some(m) = median(&all_latencies) {
        record.detail.insert("median_client_ms".into(), m);
    }
    for e in all_errors {
        record.fail(e);
    }
    record
}
