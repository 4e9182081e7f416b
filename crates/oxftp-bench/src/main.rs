//! `oxftp-bench`: a load-generating FTP client for comparing FTP servers.
//!
//! Each workload subcommand talks FTP over real sockets to whatever server it
//! is pointed at and prints one JSON line (see [`record::Record`]); `report`
//! turns a file of such lines into the comparison table. `bench/run` drives
//! it against oxftpd, vsftpd and proftpd in turn.

mod cpuwatch;
mod ftp;
mod merge;
mod procfs;
mod record;
mod reply;
mod report;
mod stats;
mod workload;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::record::Record;
use crate::workload::{Conn, burst, idle, logins, small, transfer};

/// Benchmark an FTP server over the wire; prints one JSON result per run.
#[derive(Debug, Parser)]
#[command(name = "oxftp-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The workloads and the helpers around them.
#[derive(Debug, Subcommand)]
enum Command {
    /// Download one file per run (MB/s, server CPU s/GiB).
    Retr {
        #[command(flatten)]
        conn: Conn,
        /// Row name in the results.
        #[arg(long, default_value = "retr")]
        workload: String,
        /// File to download.
        #[arg(long)]
        path: String,
        /// Number of runs (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Upload one generated file per run (MB/s, server CPU s/GiB).
    Stor {
        #[command(flatten)]
        conn: Conn,
        /// Row name in the results.
        #[arg(long, default_value = "stor")]
        workload: String,
        /// Where to upload (overwritten each run).
        #[arg(long)]
        path: String,
        /// Bytes to upload.
        #[arg(long)]
        size: u64,
        /// Number of runs.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// RETR COUNT small files DIR/f0000.. in one session per run (files/s).
    SmallRetr {
        /// Files per session.
        count: usize,
        #[command(flatten)]
        conn: Conn,
        /// Row name in the results.
        #[arg(long, default_value = "small-retr")]
        workload: String,
        /// Directory holding f0000, f0001, ...
        #[arg(long)]
        dir: String,
        /// Number of runs.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// STOR COUNT small files DIR/s0000.. in one session per run (files/s).
    SmallStor {
        /// Files per session.
        count: usize,
        #[command(flatten)]
        conn: Conn,
        /// Row name in the results.
        #[arg(long, default_value = "small-stor")]
        workload: String,
        /// Directory to upload into (must exist).
        #[arg(long)]
        dir: String,
        /// Bytes per file.
        #[arg(long, default_value_t = 4096)]
        size: u64,
        /// Number of runs.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// CLIENTS at once, each: connect, login, LIST, RETR, QUIT (burst wall ms).
    Burst {
        #[command(flatten)]
        conn: Conn,
        /// Row name in the results.
        #[arg(long, default_value = "burst")]
        workload: String,
        /// Simultaneous clients.
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// Directory each client lists.
        #[arg(long, default_value = "/")]
        list_dir: String,
        /// File each client downloads.
        #[arg(long)]
        path: String,
        /// Number of bursts.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Connect + login + QUIT in a loop from CONCURRENCY clients (logins/s).
    Logins {
        #[command(flatten)]
        conn: Conn,
        /// Row name in the results.
        #[arg(long, default_value = "logins")]
        workload: String,
        /// Concurrent clients.
        #[arg(long, default_value_t = 100)]
        concurrency: usize,
        /// Length of each run in seconds.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Number of runs.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Hold SESSIONS logged-in idle sessions; report server RSS (needs --pid).
    Idle {
        #[command(flatten)]
        conn: Conn,
        /// Row name in the results.
        #[arg(long, default_value = "idle")]
        workload: String,
        /// Sessions to open.
        #[arg(long, default_value_t = 10_000)]
        sessions: usize,
        /// Sessions logging in at once while opening.
        #[arg(long, default_value_t = 100)]
        concurrency: usize,
        /// Milliseconds to wait after opening before measuring memory.
        #[arg(long, default_value_t = 1000)]
        settle_ms: u64,
    },
    /// Print a result line for numbers measured by another tool (curl, iperf3).
    Record {
        /// Row name.
        #[arg(long)]
        workload: String,
        /// Column name.
        #[arg(long)]
        label: String,
        /// Unit of the values.
        #[arg(long)]
        unit: String,
        /// Smaller values are better (times, memory).
        #[arg(long)]
        lower_is_better: bool,
        /// Failures to count alongside the values.
        #[arg(long, default_value_t = 0)]
        errors: u64,
        /// What went wrong (shown under the table), e.g. why a workload was skipped.
        #[arg(long)]
        error: Option<String>,
        /// Server CPU seconds per GiB of one run (repeat per run; the median is kept).
        #[arg(long = "cpu-s-per-gib")]
        cpu_s_per_gib: Vec<f64>,
        /// The measured values, one per run.
        values: Vec<f64>,
    },
    /// Run a command (curl) and write the CPU seconds the server's process
    /// tree used meanwhile to FILE; exits with the command's status.
    ///
    /// Polls the tree, so session processes that exit unreaped (vsftpd's)
    /// still count, which a before/after `cpu` reading would miss.
    CpuDuring {
        /// Root of the server's process tree (polled).
        #[arg(long, required_unless_present = "cgroup")]
        pid: Option<u32>,
        /// The server's cgroup v2 directory (read before and after; exact,
        /// and preferred over --pid).
        #[arg(long)]
        cgroup: Option<PathBuf>,
        /// Where to write the CPU seconds.
        #[arg(long)]
        out: PathBuf,
        /// Milliseconds between polls.
        #[arg(long, default_value_t = 20)]
        interval_ms: u64,
        /// Milliseconds to keep polling after the command exits.
        #[arg(long, default_value_t = 200)]
        settle_ms: u64,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Print the Markdown comparison table from a file of result lines.
    Report {
        /// File of JSON result lines.
        file: PathBuf,
        /// Label whose ratio to every other label is shown.
        #[arg(long, default_value = "oxftpd")]
        ours: String,
    },
    /// Put one group's section into a Markdown report made of sections
    /// (created if missing), keeping every other section as it was.
    Merge {
        /// The report to update.
        #[arg(long)]
        report: PathBuf,
        /// The group whose section is replaced or added (big, small, ...).
        #[arg(long)]
        group: String,
        /// File holding the section's Markdown, without the marker lines.
        #[arg(long)]
        section: PathBuf,
    },
    /// Wait until an FTP server answers with its 220 greeting.
    Wait {
        /// Server host.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Server control port.
        #[arg(long)]
        port: u16,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
}

/// Raises the open-file soft limit to the hard limit: 10,000 sessions need
/// 10,000 sockets here too. Failure is not fatal; the workload will report
/// the sessions it could not open.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            eprintln!("oxftp-bench: cannot raise the open-file limit: {e}");
        }
    }
}

/// Polls until the server greets, or fails after `seconds`.
async fn wait_for(host: &str, port: u16, seconds: u64) -> anyhow::Result<()> {
    let conn = Conn {
        host: host.to_owned(),
        port,
        user: String::new(),
        pass: String::new(),
        passive: ftp::Passive::Epsv,
        timeout: 2,
        label: String::new(),
        pid: None,
        cgroup: None,
    };
    let ep = conn.endpoint()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        match ftp::Control::connect(&ep).await {
            Ok(control) => {
                // Best effort: the point was the greeting.
                let _ = control.quit().await;
                return Ok(());
            }
            Err(e) if std::time::Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("no FTP server on {host}:{port} after {seconds} s"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let record = match command {
        Command::Retr { conn, workload, path, runs } => {
            transfer::run(&conn, &workload, &path, transfer::Direction::Retr, runs).await
        }
        Command::Stor { conn, workload, path, size, runs } => {
            transfer::run(&conn, &workload, &path, transfer::Direction::Stor(size), runs).await
        }
        Command::SmallRetr { count, conn, workload, dir, runs } => {
            small::run(&conn, &workload, &dir, small::Direction::Retr, count, runs).await
        }
        Command::SmallStor { count, conn, workload, dir, size, runs } => {
            small::run(&conn, &workload, &dir, small::Direction::Stor(size), count, runs).await
        }
        Command::Burst { conn, workload, clients, list_dir, path, runs } => {
            burst::run(&conn, &workload, clients, &list_dir, &path, runs).await
        }
        Command::Logins { conn, workload, concurrency, seconds, runs } => {
            return print(logins::run(&conn, &workload, concurrency, seconds, runs).await);
        }
        Command::Idle { conn, workload, sessions, concurrency, settle_ms } => {
            return print(idle::run(&conn, &workload, sessions, concurrency, Duration::from_millis(settle_ms)).await);
        }
        Command::Record { workload, label, unit, lower_is_better, errors, error, cpu_s_per_gib, values } => {
            let mut record = Record::new(workload, label, &unit, !lower_is_better, values);
            record.errors = errors;
            record.first_error = error;
            record.set_cpu_runs(cpu_s_per_gib);
            record
        }
        Command::Report { file, ours } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let (records, bad) = report::parse_lines(&text);
            let mut text = report::table(&records, &ours);
            let failures = report::failures(&records);
            if !failures.is_empty() {
                text.push_str("\nErrors:\n");
                text.push_str(&failures);
            }
            std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())
                .context("cannot write the table")?;
            if bad > 0 {
                eprintln!("oxftp-bench: skipped {bad} lines of {} that are not results", file.display());
            }
            return Ok(());
        }
        Command::Merge { report, group, section } => return merge_into(&report, &group, &section),
        Command::Wait { host, port, seconds } => return wait_for(&host, port, seconds).await,
        Command::CpuDuring { .. } => anyhow::bail!("cpu-during runs outside the async runtime"),
    };
    print(vec![record])
}

/// Merges the section in file `section` into `report` as group `group`.
/// The new report is written next to the old one and renamed over it, so
/// an interrupted merge leaves the old report whole.
fn merge_into(report: &std::path::Path, group: &str, section: &std::path::Path) -> anyhow::Result<()> {
    let body = std::fs::read_to_string(section).with_context(|| format!("cannot read {}", section.display()))?;
    let old = match std::fs::read_to_string(report) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", report.display())),
    };
    let new = merge::merge(&old, group, &body).with_context(|| format!("cannot merge into {}", report.display()))?;
    let mut tmp = report.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, new).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, report).with_context(|| format!("cannot replace {}", report.display()))
}

/// Prints each record as one JSON line. A closed stdout (`| head`) is an
/// error to report, not a panic.
fn print(records: Vec<Record>) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for record in records {
        writeln!(out, "{}", record.to_line()).context("cannot write the result")?;
    }
    out.flush().context("cannot write the result")
}

/// Whether `command` drives many sessions at once and so needs worker threads.
///
/// One-session workloads run on a single thread: the client then costs the
/// least CPU on a machine it shares with the server, and no cross-thread
/// wake-ups sit between a reply and the next command.
fn is_concurrent(command: &Command) -> bool {
    matches!(command, Command::Burst { .. } | Command::Logins { .. } | Command::Idle { .. })
}

/// Runs `cpu-during`: no async here, the command runs in the foreground.
fn cpu_during(
    meter: &cpuwatch::Meter,
    out: &std::path::Path,
    interval_ms: u64,
    settle_ms: u64,
    command: &[String],
) -> anyhow::Result<()> {
    let (status, cpu) =
        cpuwatch::run(meter, command, Duration::from_millis(interval_ms.max(1)), Duration::from_millis(settle_ms))?;
    std::fs::write(out, format!("{cpu:.3}\n")).with_context(|| format!("cannot write {}", out.display()))?;
    if !status.success() {
        // Pass the command's failure on, as the shell would see it.
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::CpuDuring { pid, cgroup, out, interval_ms, settle_ms, command } = &cli.command {
        let meter = match (cgroup, pid) {
            (Some(dir), _) => cpuwatch::Meter::Cgroup(dir.clone()),
            (None, Some(pid)) => cpuwatch::Meter::Tree(*pid),
            (None, None) => anyhow::bail!("cpu-during needs --pid or --cgroup"),
        };
        return cpu_during(&meter, out, *interval_ms, *settle_ms, command);
    }
    raise_fd_limit();
    let mut builder = if is_concurrent(&cli.command) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = builder.enable_all().build().context("cannot start tokio")?;
    runtime.block_on(run(cli.command))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_brief_style_invocations() {
        let cli = Cli::try_parse_from([
            "oxftp-bench",
            "small-retr",
            "1000",
            "--port",
            "2121",
            "--user",
            "u",
            "--pass",
            "p",
            "--dir",
            "/small",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::SmallRetr { count: 1000, runs: 3, .. }));
        let cli = Cli::try_parse_from([
            "oxftp-bench",
            "idle",
            "--sessions",
            "10",
            "--port",
            "1",
            "--user",
            "u",
            "--pass",
            "p",
            "--pid",
            "42",
        ])
        .unwrap();
        match cli.command {
            Command::Idle { conn, sessions: 10, .. } => assert_eq!(conn.pid, Some(42)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn merge_into_creates_then_updates_a_report_file() {
        let dir = std::env::temp_dir().join(format!("oxftp-bench-merge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let report = dir.join("RESULTS.md");
        let section = dir.join("section.md");
        std::fs::write(&section, "## s3\nfirst").unwrap();
        merge_into(&report, "s3", &section).unwrap();
        std::fs::write(&section, "## big\nrows").unwrap();
        merge_into(&report, "big", &section).unwrap();
        std::fs::write(&section, "## s3\nsecond").unwrap();
        merge_into(&report, "s3", &section).unwrap();
        let text = std::fs::read_to_string(&report).unwrap();
        assert!(text.starts_with(merge::PREAMBLE));
        let big = text.find("## big\nrows").unwrap();
        let s3 = text.find("## s3\nsecond").unwrap();
        assert!(big < s3 && !text.contains("first"), "{text}");
        assert!(!dir.join("RESULTS.md.tmp").exists());
        // A report it cannot parse is left alone.
        std::fs::write(&report, "<!-- group: big -->\nno end\n").unwrap();
        assert!(merge_into(&report, "s3", &section).is_err());
        assert_eq!(std::fs::read_to_string(&report).unwrap(), "<!-- group: big -->\nno end\n");
        assert!(merge_into(&report, "s3", &dir.join("missing.md")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn record_takes_cpu_per_run_and_cpu_during_a_command() {
        let cli = Cli::try_parse_from([
            "oxftp-bench",
            "record",
            "--workload",
            "ftps retr",
            "--label",
            "vsftpd",
            "--unit",
            "MB/s",
            "--cpu-s-per-gib",
            "2.5",
            "--cpu-s-per-gib",
            "1.5",
            "--cpu-s-per-gib",
            "9",
            "100",
            "200",
        ])
        .unwrap();
        match cli.command {
            Command::Record { cpu_s_per_gib, values, .. } => {
                assert_eq!(cpu_s_per_gib, vec![2.5, 1.5, 9.0]);
                assert_eq!(values, vec![100.0, 200.0]);
                assert_eq!(stats::median(&cpu_s_per_gib), Some(2.5));
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from([
            "oxftp-bench",
            "cpu-during",
            "--pid",
            "7",
            "--out",
            "/tmp/x",
            "--",
            "curl",
            "-sS",
            "-o",
            "/dev/null",
        ])
        .unwrap();
        match cli.command {
            Command::CpuDuring { pid: Some(7), cgroup: None, command, interval_ms: 20, .. } => {
                assert_eq!(command, ["curl", "-sS", "-o", "/dev/null"]);
            }
            other => panic!("{other:?}"),
        }
        // The command is required.
        assert!(Cli::try_parse_from(["oxftp-bench", "cpu-during", "--pid", "7", "--out", "/tmp/x"]).is_err());
        // A cgroup instead of a pid; one of the two is required.
        let cli =
            Cli::try_parse_from(["oxftp-bench", "cpu-during", "--cgroup", "/cg/x", "--out", "/tmp/x", "--", "true"])
                .unwrap();
        assert!(matches!(cli.command, Command::CpuDuring { pid: None, cgroup: Some(_), .. }));
        assert!(Cli::try_parse_from(["oxftp-bench", "cpu-during", "--out", "/tmp/x", "--", "true"]).is_err());
    }
}
