//! Login throughput: concurrent clients looping connect, USER/PASS, QUIT for
//! a fixed time. Measures accept, session setup (a fork for forking servers)
//! and password checking.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ftp::{Control, Endpoint};
use crate::procfs::usage;
use crate::record::Record;
use crate::stats::percentile;
use crate::workload::Conn;

/// Latencies kept per run for percentiles; past this they are sampled no
/// further, which bounds memory on a very fast server.
const MAX_SAMPLES: usize = 1_000_000;

/// What one worker did before the deadline.
#[derive(Default)]
struct Tally {
    ok: u64,
    latencies_ms: Vec<f64>,
    errors: Vec<String>,
    error_count: u64,
}

async fn login_once(ep: &Endpoint) -> anyhow::Result<()> {
    let mut control = Control::connect(ep).await?;
    control.login(&ep.user, &ep.pass).await?;
    control.quit().await?;
    Ok(())
}

async fn worker(ep: Arc<Endpoint>, deadline: Instant, sample_cap: usize) -> Tally {
    let mut tally = Tally::default();
    while Instant::now() < deadline {
        let start = Instant::now();
        match login_once(&ep).await {
            Ok(()) => {
                tally.ok += 1;
                if tally.latencies_ms.len() < sample_cap {
                    tally.latencies_ms.push(start.elapsed().as_secs_f64() * 1000.0);
                }
            }
            Err(e) => {
                tally.error_count += 1;
                // Keep a few messages; the count says the rest.
                if tally.errors.len() < 3 {
                    tally.errors.push(format!("{e:#}"));
                }
                // Do not spin on a server that refuses everything.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    tally
}

/// Runs `runs` periods of `seconds` with `concurrency` clients; reports
/// successful logins per second and, given `--pid`, a second record with the
/// server's memory (sum of RSS over its processes) once the logins are over:
/// what password checking left behind.
pub async fn run(conn: &Conn, workload: &str, concurrency: usize, seconds: f64, runs: usize) -> Vec<Record> {
    let rate = measure(conn, workload, concurrency, seconds, runs).await;
    let mut records = vec![rate];
    if let Some(after) = conn.pid.and_then(|pid| usage(pid, true)) {
        let mib = after.rss_kib as f64 / 1024.0;
        let mut memory = Record::new(format!("{workload}: server RSS after"), &conn.label, "MiB", false, vec![mib]);
        memory.detail.insert("pss_mib".into(), after.pss_kib as f64 / 1024.0);
        memory.detail.insert("processes".into(), after.processes as f64);
        records.push(memory);
    }
    records
}

/// The login-rate measurement behind [`run`].
async fn measure(conn: &Conn, workload: &str, concurrency: usize, seconds: f64, runs: usize) -> Record {
    let ep = match conn.endpoint() {
        Ok(ep) => Arc::new(ep),
        Err(e) => {
            let mut record = Record::new(workload, &conn.label, "logins/s", true, vec![]);
            record.fail(format!("{e:#}"));
            return record;
        }
    };
    let concurrency = concurrency.max(1);
    let mut rates = Vec::new();
    let mut latencies = Vec::new();
    let mut messages = Vec::new();
    let mut error_count = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(seconds.max(0.1));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            tasks.spawn(worker(Arc::clone(&ep), deadline, MAX_SAMPLES / concurrency));
        }
        let mut ok = 0;
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(t) => {
                    ok += t.ok;
                    latencies.extend(t.latencies_ms);
                    messages.extend(t.errors);
                    error_count += t.error_count;
                }
                Err(e) => {
                    error_count += 1;
                    messages.push(format!("worker failed: {e}"));
                }
            }
        }
        rates.push(ok as f64 / start.elapsed().as_secs_f64());
        // Let a forking server reap its children before the next period.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut record = Record::new(workload, &conn.label, "logins/s", true, rates);
    for (name, p) in [("p50_ms", 50.0), ("p99_ms", 99.0)] {
        if let Some(v) = percentile(&latencies, p) {
            record.detail.insert(name.into(), v);
        }
    }
    for m in messages {
        record.fail(m);
    }
    // `fail` counted the kept messages; the total is the real count.
    record.errors = error_count;
    record
}
