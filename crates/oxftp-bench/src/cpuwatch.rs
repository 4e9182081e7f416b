//! Server CPU time spent while another program (curl) talks to the server.
//!
//! Reading the tree's total before and after is not enough for forking
//! servers: when a session process outlives the process that forked it (as
//! vsftpd's do at the end of a session), nobody in the tree reaps it, so its
//! CPU time leaves the tree with it. Polling instead remembers every process
//! of the tree by (pid, start time) with the latest own CPU time seen, and
//! sums what each gained; a process's last few milliseconds before it exits
//! can be missed, which the poll interval bounds (measured against a cgroup
//! on 2026-12-03: 0.01-0.04 s low per vsftpd or proftpd session).
//!
//! Given the server's own cgroup v2 ([`Meter::Cgroup`]), none of this is
//! needed: the kernel charges the cgroup for every process in it, exited or
//! not, so one reading before and one after are exact.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::procfs::{Stat, all_stats, cgroup_cpu_seconds, descendants};

/// A process, named so that a reused pid is a different one.
type Key = (u32, u64);

/// Own CPU ticks of every process ever seen in a tree since the watch began.
#[derive(Debug, Default)]
pub struct Watch {
    /// Ticks each process had when first seen (0 if born after the start).
    initial: HashMap<Key, u64>,
    /// Latest ticks seen for each process.
    latest: HashMap<Key, u64>,
}

impl Watch {
    /// Starts watching from the given snapshot: what these processes used
    /// before does not count.
    pub fn new(snapshot: &HashMap<Key, u64>) -> Self {
        Watch { initial: snapshot.clone(), latest: snapshot.clone() }
    }

    /// Folds in a later snapshot; processes absent from it keep their last value.
    pub fn update(&mut self, snapshot: &HashMap<Key, u64>) {
        for (&key, &ticks) in snapshot {
            let entry = self.latest.entry(key).or_insert(0);
            *entry = (*entry).max(ticks);
        }
    }

    /// Ticks used since the start by every process seen.
    pub fn ticks(&self) -> u64 {
        self.latest.iter().map(|(key, &t)| t.saturating_sub(self.initial.get(key).copied().unwrap_or(0))).sum()
    }
}

/// Own ticks of every process in the tree rooted at `root`, from `stats`.
pub fn tree_snapshot(root: u32, stats: &HashMap<u32, Stat>) -> HashMap<Key, u64> {
    let parents = stats.iter().map(|(&pid, s)| (pid, s.ppid)).collect();
    descendants(root, &parents)
        .into_iter()
        .filter_map(|pid| stats.get(&pid).map(|s| ((pid, s.start), s.own_ticks)))
        .collect()
}

/// Where the server's CPU time comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meter {
    /// Poll the process tree rooted at this pid.
    Tree(u32),
    /// Read the total of this cgroup v2 directory before and after.
    Cgroup(PathBuf),
}

/// Runs `command` and measures the server's CPU seconds meanwhile and for
/// `settle` after it exits (the server may still be finishing the session).
/// A tree is polled every `interval`; a cgroup is read before and after.
/// Returns the command's exit status and the CPU seconds.
pub fn run(
    meter: &Meter,
    command: &[String],
    interval: Duration,
    settle: Duration,
) -> anyhow::Result<(ExitStatus, f64)> {
    let (program, args) = command.split_first().context("no command given")?;
    let pid = match meter {
        Meter::Tree(pid) => *pid,
        Meter::Cgroup(dir) => {
            let read = || {
                cgroup_cpu_seconds(dir).with_context(|| format!("cannot read usage_usec in {}/cpu.stat", dir.display()))
            };
            let before = read()?;
            let status = Command::new(program).args(args).status().with_context(|| format!("cannot run {program}"))?;
            sleep(settle);
            return Ok((status, (read()? - before).max(0.0)));
        }
    };
    let mut watch = Watch::new(&tree_snapshot(pid, &all_stats()));
    let mut child = Command::new(program).args(args).spawn().with_context(|| format!("cannot run {program}"))?;
    let status = loop {
        watch.update(&tree_snapshot(pid, &all_stats()));
        if let Some(status) = child.try_wait().context("cannot wait for the command")? {
            break status;
        }
        sleep(interval);
    };
    let until = Instant::now() + settle;
    while Instant::now() < until {
        sleep(interval);
        watch.update(&tree_snapshot(pid, &all_stats()));
    }
    let hz = rustix::param::clock_ticks_per_second() as f64;
    Ok((status, watch.ticks() as f64 / hz.max(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(entries: &[(u32, u64, u64)]) -> HashMap<Key, u64> {
        entries.iter().map(|&(pid, start, t)| ((pid, start), t)).collect()
    }

    #[test]
    fn counts_gains_of_processes_that_come_and_go() {
        // A server (1) with an old session (2) when the watch starts.
        let mut w = Watch::new(&snap(&[(1, 0, 100), (2, 5, 40)]));
        // A new session process appears (3) and works; 2 works too.
        w.update(&snap(&[(1, 0, 101), (2, 5, 45), (3, 9, 20)]));
        // 3 exits unreaped and is gone from the tree: its 20 still count.
        w.update(&snap(&[(1, 0, 102), (2, 5, 45)]));
        // Pid 3 is reused by a different process: counted separately.
        w.update(&snap(&[(1, 0, 102), (3, 11, 7)]));
        assert_eq!(w.ticks(), 2 + 5 + 20 + 7);
    }

    #[test]
    fn never_counts_backwards() {
        let mut w = Watch::new(&snap(&[(1, 0, 100)]));
        w.update(&snap(&[(1, 0, 90)]));
        assert_eq!(w.ticks(), 0);
    }

    #[test]
    fn watches_a_real_command() {
        let me = std::process::id();
        let cmd = vec!["true".to_owned()];
        let (status, cpu) = run(&Meter::Tree(me), &cmd, Duration::from_millis(5), Duration::from_millis(5)).unwrap();
        assert!(status.success());
        assert!(cpu >= 0.0);
        assert!(run(&Meter::Tree(me), &[], Duration::from_millis(5), Duration::ZERO).is_err());
        // A cgroup that cannot be read is an error, not 0 s.
        let nowhere = Meter::Cgroup(PathBuf::from("/nonexistent/cgroup"));
        assert!(run(&nowhere, &cmd, Duration::from_millis(5), Duration::ZERO).is_err());
    }
}
