//! Big-file throughput: one RETR or one STOR per run, timed from the command
//! to the 226, with the server's CPU time for it.
//!
//! The session is opened before the clock starts and closed after it stops,
//! so the number is transfer speed, not login cost. A STOR deletes its target
//! first (see [`one_run`]).

use std::time::Instant;

use crate::ftp::Control;
use crate::record::Record;
use crate::workload::{BUFFER, Conn};

const GIB: f64 = (1u64 << 30) as f64;

/// Which direction to move the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Download (RETR) an existing file.
    Retr,
    /// Upload (STOR) a generated file of a given size.
    Stor(u64),
}

/// Bytes a STOR sends: a repeating non-zero pattern, so nothing on the way
/// can shortcut runs of zeros.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ 0x5a).collect()
}

/// Result of one timed transfer.
struct Run {
    bytes: u64,
    seconds: f64,
    cpu: Option<f64>,
}

/// One session: open, measure one transfer, quit.
async fn one_run(conn: &Conn, path: &str, dir: Direction, buf: &mut [u8]) -> anyhow::Result<Run> {
    let mut control = Control::open(&conn.endpoint()?).await?;
    if let Direction::Stor(_) = dir {
        // Every server uploads a new file into the memory the old one just
        // freed. Overwriting instead measures the storage strategy against
        // the machine: a truncating server reuses the old file's pages at
        // once, an atomic one (temporary file + rename) frees them only at
        // the end, and on a VM with free-page reporting pages idle for a few
        // seconds go back to the host and fault in slowly on the next run.
        // 250 or 550 (nothing there yet) are both fine.
        control.command(&format!("DELE {path}")).await?;
    }
    let cpu_before = conn.server_cpu();
    let start = Instant::now();
    let bytes = match dir {
        Direction::Retr => control.retr(path, buf).await?,
        Direction::Stor(size) => {
            control.stor(path, size, buf).await?;
            size
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    // Read CPU while the session is still live, so a forking server's
    // session process is counted (it is part of the tree until it exits).
    let cpu = cpu_before.zip(conn.server_cpu()).map(|(a, b)| b - a);
    control.quit().await?;
    Ok(Run { bytes, seconds, cpu })
}

/// Runs `runs` transfers and reports MB/s (10^6 bytes per second).
pub async fn run(conn: &Conn, workload: &str, path: &str, dir: Direction, runs: usize) -> Record {
    let mut buf = match dir {
        Direction::Retr => vec![0u8; BUFFER],
        Direction::Stor(_) => pattern(BUFFER),
    };
    let mut speeds = Vec::new();
    let mut cpu_per_gib = Vec::new();
    let mut failures = Vec::new();
    for _ in 0..runs {
        match one_run(conn, path, dir, &mut buf).await {
            Ok(r) if r.seconds > 0.0 && r.bytes > 0 => {
                speeds.push(r.bytes as f64 / 1e6 / r.seconds);
                if let Some(cpu) = r.cpu {
                    cpu_per_gib.push(cpu / (r.bytes as f64 / GIB));
                }
            }
            Ok(r) => failures.push(format!("empty transfer ({} bytes)", r.bytes)),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let mut record = Record::new(workload, &conn.label, "MB/s", true, speeds);
    record.set_cpu_runs(cpu_per_gib);
    for f in failures {
        record.fail(f);
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_nonzero_and_varied() {
        let p = pattern(1000);
        assert_eq!(p.len(), 1000);
        assert!(p.iter().any(|&b| b != p[0]));
        // Zero only where i % 251 == 0x5a: i = 90, 341, 592, 843.
        assert_eq!(p.iter().filter(|&&b| b == 0).count(), 4);
    }
}
