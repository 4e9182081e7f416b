//! Memory held by many idle logged-in sessions: open N sessions, read the
//! server's memory, then check every session still answers NOOP (a server
//! that quietly dropped sessions must not look cheap).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::ftp::{Control, Endpoint};
use crate::procfs::{Usage, usage};
use crate::record::Record;
use crate::workload::{Conn, for_each_bounded};

const MIB: f64 = 1024.0;

/// Opens one logged-in session.
async fn open(ep: &Endpoint) -> anyhow::Result<Control> {
    let mut control = Control::connect(ep).await?;
    control.login(&ep.user, &ep.pass).await?;
    Ok(control)
}

/// NOOP on one session; true if it answered 200.
async fn noop(session: &Mutex<Option<Control>>) -> bool {
    let mut slot = session.lock().await;
    match slot.as_mut() {
        Some(control) => control.expect("NOOP", |c| c == 200).await.is_ok(),
        None => false,
    }
}

/// Server memory in the detail map, in MiB.
fn put_memory(record: &mut Record, prefix: &str, u: &Usage) {
    record.detail.insert(format!("{prefix}rss_mib"), u.rss_kib as f64 / MIB);
    record.detail.insert(format!("{prefix}pss_mib"), u.pss_kib as f64 / MIB);
    record.detail.insert(format!("{prefix}processes"), u.processes as f64);
}

/// Opens `sessions` sessions (at most `concurrency` logging in at once),
/// measures the server tree's memory, NOOPs every session, closes them all.
///
/// Returns two records: `"{workload}: RSS"`, the sum of VmRSS over the
/// server's processes (what `ps` shows; for forking servers it counts shared
/// libraries once per process), and `"{workload}: PSS"`, which splits shared
/// pages between their sharers and so adds up to real memory use.
pub async fn run(conn: &Conn, workload: &str, sessions: usize, concurrency: usize, settle: Duration) -> Vec<Record> {
    let rss = measure(conn, &format!("{workload}: RSS"), sessions, concurrency, settle).await;
    let mut pss = Record::new(format!("{workload}: PSS"), &conn.label, "MiB", false, vec![]);
    if let Some(&v) = rss.detail.get("pss_mib") {
        pss.runs = vec![v];
        pss.median = Some(v);
    }
    pss.errors = rss.errors;
    if rss.errors > 0 {
        pss.first_error = Some("same sessions as the RSS row".to_owned());
    }
    vec![rss, pss]
}

/// The measurement behind [`run`]; the value is total RSS in MiB.
async fn measure(conn: &Conn, workload: &str, sessions: usize, concurrency: usize, settle: Duration) -> Record {
    let mut record = Record::new(workload, &conn.label, "MiB", false, vec![]);
    let ep = match conn.endpoint() {
        Ok(ep) => Arc::new(ep),
        Err(e) => {
            record.fail(format!("{e:#}"));
            return record;
        }
    };
    let before = conn.pid.and_then(|pid| usage(pid, true));

    let start = Instant::now();
    let opener = Arc::clone(&ep);
    let opened = for_each_bounded(sessions, concurrency, move |_| {
        let ep = Arc::clone(&opener);
        async move { open(&ep).await }
    })
    .await;
    let open_seconds = start.elapsed().as_secs_f64();
    let mut slots = Vec::with_capacity(sessions);
    for session in opened {
        match session {
            Ok(control) => slots.push(Mutex::new(Some(control))),
            Err(e) => record.fail(format!("open: {e:#}")),
        }
    }
    let live = slots.len();

    // Give a forking server time to finish setting up every session process.
    tokio::time::sleep(settle).await;
    let during = conn.pid.and_then(|pid| usage(pid, true));

    let slots = Arc::new(slots);
    let checker = Arc::clone(&slots);
    let answers = for_each_bounded(live, concurrency, move |i| {
        let slots = Arc::clone(&checker);
        async move {
            match slots.get(i) {
                Some(slot) => noop(slot).await,
                None => false,
            }
        }
    })
    .await;
    let noop_ok = answers.iter().filter(|&&ok| ok).count();
    for _ in noop_ok..live {
        record.fail("NOOP on an open session got no 200");
    }

    record.detail.insert("sessions_requested".into(), sessions as f64);
    record.detail.insert("sessions_open".into(), live as f64);
    record.detail.insert("noop_ok".into(), noop_ok as f64);
    record.detail.insert("open_seconds".into(), open_seconds);
    if let Some(b) = &before {
        put_memory(&mut record, "baseline_", b);
    }
    if let Some(d) = &during {
        put_memory(&mut record, "", d);
        record.runs = vec![d.rss_kib as f64 / MIB];
        record.median = Some(d.rss_kib as f64 / MIB);
        if let (Some(b), Some(n)) = (&before, std::num::NonZeroUsize::new(live)) {
            let per = d.rss_kib.saturating_sub(b.rss_kib) as f64 / n.get() as f64;
            record.detail.insert("rss_kib_per_session".into(), per);
            let per_pss = d.pss_kib.saturating_sub(b.pss_kib) as f64 / n.get() as f64;
            record.detail.insert("pss_kib_per_session".into(), per_pss);
        }
    } else {
        record.fail("no --pid, or the server process is gone: memory not measured");
    }

    // Close politely but quickly: dropping the sockets is enough for every
    // server, and QUIT on 10,000 sessions would only slow the benchmark.
    drop(slots);
    record
}
