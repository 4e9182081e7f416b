//! Server resource use read from Linux `/proc`: CPU time and memory of a
//! server's whole process tree.
//!
//! Forking servers (vsftpd, proftpd) spread work over many processes, so a
//! fair number covers the root process and every live descendant. CPU time is
//! `utime + stime + cutime + cstime` summed over the tree: a child's time
//! moves into its parent's `cutime`/`cstime` when the parent reaps it, so the
//! sum neither loses nor double-counts a finished session — as long as every
//! process is reaped by a member of the tree, which [`crate::cpuwatch`]
//! explains is not always so.
//!
//! When the server runs in a cgroup of its own (cgroup v2, as `bench/run`
//! starts it), [`cgroup_cpu_seconds`] reads the kernel's total for every
//! process that ever ran in it instead, reaped or not: the exact figure.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

/// Resource use of one process tree at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// CPU seconds used so far by the tree (including reaped children).
    pub cpu_seconds: f64,
    /// Sum of VmRSS over the tree, KiB (counts shared pages once per process).
    pub rss_kib: u64,
    /// Sum of Pss over the tree, KiB (shared pages split between sharers);
    /// 0 when smaps_rollup is unreadable.
    pub pss_kib: u64,
    /// Processes in the tree.
    pub processes: usize,
}

/// Fields of `/proc/PID/stat` this module needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Parent process id.
    pub ppid: u32,
    /// utime + stime + cutime + cstime, in clock ticks.
    pub ticks: u64,
    /// utime + stime: this process's own CPU, in clock ticks.
    pub own_ticks: u64,
    /// Start time after boot, in clock ticks: with the pid, it names one
    /// process even when pids are reused.
    pub start: u64,
}

/// Parses `/proc/PID/stat`. The command name is in parentheses and may hold
/// spaces or parentheses itself, so fields are counted after the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let after = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = after.split_ascii_whitespace().collect();
    // After ")": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<i64>().ok());
    let ppid = u32::try_from(field(4)?).ok()?;
    let mut ticks = 0u64;
    let mut own_ticks = 0u64;
    for n in 14..=17 {
        // cutime/cstime are signed in the kernel's format; never negative in practice.
        let t = u64::try_from(field(n)?).unwrap_or(0);
        ticks += t;
        if n <= 15 {
            own_ticks += t;
        }
    }
    let start = u64::try_from(field(22)?).unwrap_or(0);
    Some(Stat { ppid, ticks, own_ticks, start })
}

/// The value of a `Key:   123 kB` line in `/proc/PID/status` or
/// `/proc/PID/smaps_rollup`.
pub fn parse_kib(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_ascii_whitespace().next()?.parse().ok()
    })
}

/// `root` and all its live descendants, given every process's parent.
pub fn descendants(root: u32, parents: &HashMap<u32, u32>) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, &ppid) in parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut tree = vec![root];
    let mut i = 0;
    while let Some(&pid) = tree.get(i) {
        if let Some(kids) = children.get(&pid) {
            // A pid can only have one parent, so there are no cycles except a
            // self-parent entry, which the filter drops.
            tree.extend(kids.iter().copied().filter(|&k| k != pid));
        }
        i += 1;
    }
    tree
}

/// Every process's stat, keyed by pid (processes that vanish mid-scan are skipped).
pub fn all_stats() -> HashMap<u32, Stat> {
    let mut stats = HashMap::new();
    let Ok(dir) = fs::read_dir("/proc") else { return stats };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(stat) = fs::read_to_string(format!("/proc/{pid}/stat")).ok().as_deref().and_then(parse_stat) {
            stats.insert(pid, stat);
        }
    }
    stats
}

/// Measures the tree rooted at `root`; `None` if `root` does not exist.
/// `with_memory` also reads RSS and PSS (slower: two more files per process).
pub fn usage(root: u32, with_memory: bool) -> Option<Usage> {
    let stats = all_stats();
    stats.get(&root)?;
    let parents = stats.iter().map(|(&pid, s)| (pid, s.ppid)).collect();
    let tree = descendants(root, &parents);
    let hz = rustix::param::clock_ticks_per_second() as f64;
    let mut usage = Usage { processes: tree.len(), ..Usage::default() };
    let mut ticks = 0u64;
    for pid in tree {
        ticks += stats.get(&pid).map_or(0, |s| s.ticks);
        if with_memory {
            let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            usage.rss_kib += parse_kib(&status, "VmRSS").unwrap_or(0);
            let rollup = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
            usage.pss_kib += parse_kib(&rollup, "Pss").unwrap_or(0);
        }
    }
    usage.cpu_seconds = ticks as f64 / hz.max(1.0);
    Some(usage)
}

/// The `usage_usec` line of a cgroup v2 `cpu.stat` file, in seconds.
pub fn parse_cpu_stat(text: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix("usage_usec ")?;
        value.trim().parse::<u64>().ok().map(|us| us as f64 / 1e6)
    })
}

/// CPU seconds used by every process that ever ran in the cgroup v2
/// directory `dir` (live, exited, reaped by anyone or not), from its
/// `cpu.stat`; `None` if unreadable.
pub fn cgroup_cpu_seconds(dir: &Path) -> Option<f64> {
    parse_cpu_stat(&fs::read_to_string(dir.join("cpu.stat")).ok()?)
}

/// CPU seconds of the tree, or `None` without a pid or if it is gone.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    usage(pid?, false).map(|u| u.cpu_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_names() {
        let line = "1234 (my (odd) name) S 77 1234 1234 0 -1 4194560 100 0 0 0 11 22 33 44 20 0 1 0 5 6 7";
        assert_eq!(parse_stat(line), Some(Stat { ppid: 77, ticks: 11 + 22 + 33 + 44, own_ticks: 11 + 22, start: 5 }));
        assert_eq!(parse_stat("1 (x) S"), None);
        assert_eq!(parse_stat("no parens"), None);
        assert_eq!(parse_stat("1 (x) S notanumber 0 0 0 0 0 0 0 0 0 0 1 2 3 4"), None);
        // Too short to hold the start time.
        assert_eq!(parse_stat("1 (x) S 1 0 0 0 0 0 0 0 0 0 1 2 3 4"), None);
    }

    #[test]
    fn parses_kib_lines() {
        let status = "Name:\tvsftpd\nVmRSS:\t    2048 kB\nVmRSSx: 1 kB\n";
        assert_eq!(parse_kib(status, "VmRSS"), Some(2048));
        assert_eq!(parse_kib(status, "VmHWM"), None);
        assert_eq!(parse_kib("Pss:  17 kB", "Pss"), Some(17));
        assert_eq!(parse_kib("Pss:  x kB", "Pss"), None);
    }

    #[test]
    fn parses_cgroup_cpu_stat() {
        let text = "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n";
        assert_eq!(parse_cpu_stat(text), Some(1.5));
        assert_eq!(parse_cpu_stat("user_usec 1\n"), None);
        assert_eq!(parse_cpu_stat("usage_usec x\n"), None);
        assert_eq!(cgroup_cpu_seconds(Path::new("/nonexistent/cgroup")), None);
    }

    #[test]
    fn walks_the_tree_only() {
        let parents: HashMap<u32, u32> =
            [(10, 1), (11, 10), (12, 11), (13, 10), (20, 1), (21, 20), (30, 30)].into_iter().collect();
        let mut tree = descendants(10, &parents);
        tree.sort_unstable();
        assert_eq!(tree, vec![10, 11, 12, 13]);
        assert_eq!(descendants(30, &parents), vec![30]);
    }

    #[test]
    fn measures_this_process() {
        let me = std::process::id();
        let u = usage(me, true).expect("own process is visible");
        assert!(u.processes >= 1);
        assert!(u.rss_kib > 0);
        assert!(u.cpu_seconds >= 0.0);
        assert_eq!(usage(u32::MAX, false), None);
        assert_eq!(cpu_seconds(None), None);
    }
}
