//! Many small files in one session: per-file latency dominates, so this
//! shows control-channel round trips, data-connection setup and per-file
//! open/close cost rather than bandwidth.

use std::time::Instant;

use crate::ftp::Control;
use crate::record::Record;
use crate::workload::transfer::pattern;
use crate::workload::{BUFFER, Conn};

/// Which direction the small files move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// RETR `dir/fNNNN` for each index.
    Retr,
    /// STOR `dir/sNNNN` of the given size for each index.
    Stor(u64),
}

/// The path of small file `i` in `dir` for `direction`: `f0000`.. to read
/// (the files bench/run creates), `s0000`.. to write.
pub fn file_path(dir: &str, direction: Direction, i: usize) -> String {
    let prefix = match direction {
        Direction::Retr => 'f',
        Direction::Stor(_) => 's',
    };
    format!("{}/{prefix}{i:04}", dir.trim_end_matches('/'))
}

/// One session moving `count` files; returns files per second and server CPU seconds.
async fn one_run(
    conn: &Conn,
    dir: &str,
    direction: Direction,
    count: usize,
    buf: &mut [u8],
) -> anyhow::Result<(f64, Option<f64>)> {
    let mut control = Control::open(&conn.endpoint()?).await?;
    let cpu_before = conn.server_cpu();
    let start = Instant::now();
    for i in 0..count {
        let path = file_path(dir, direction, i);
        match direction {
            Direction::Retr => {
                control.retr(&path, buf).await?;
            }
            Direction::Stor(size) => control.stor(&path, size, buf).await?,
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_before.zip(conn.server_cpu()).map(|(a, b)| b - a);
    control.quit().await?;
    Ok((count as f64 / seconds.max(f64::MIN_POSITIVE), cpu))
}

/// Runs `runs` sessions of `count` files each and reports files/s.
pub async fn run(conn: &Conn, workload: &str, dir: &str, direction: Direction, count: usize, runs: usize) -> Record {
    let mut buf = match direction {
        Direction::Retr => vec![0u8; BUFFER],
        Direction::Stor(size) => pattern(usize::try_from(size).unwrap_or(BUFFER).clamp(1, BUFFER)),
    };
    let mut rates = Vec::new();
    let mut cpu_ms_per_file = Vec::new();
    let mut failures = Vec::new();
    for _ in 0..runs {
        match one_run(conn, dir, direction, count, &mut buf).await {
            Ok((rate, cpu)) => {
                rates.push(rate);
                if let Some(cpu) = cpu {
                    cpu_ms_per_file.push(cpu * 1000.0 / count.max(1) as f64);
                }
            }
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let mut record = Record::new(workload, &conn.label, "files/s", true, rates);
    if let Some(cpu) = crate::stats::median(&cpu_ms_per_file) {
        record.detail.insert("server_cpu_ms_per_file".into(), cpu);
    }
    for f in failures {
        record.fail(f);
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_numbered() {
        assert_eq!(file_path("/small", Direction::Retr, 7), "/small/f0007");
        assert_eq!(file_path("/up/x/", Direction::Stor(4096), 1234), "/up/x/s1234");
        assert_eq!(file_path("/", Direction::Retr, 0), "/f0000");
    }
}
