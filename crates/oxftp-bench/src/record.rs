//! The JSON result every subcommand prints: one object per line, so
//! `bench/run` can append them to one file and `oxftp-bench report` can
//! build the comparison table from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::median;

/// One workload measured against one server (or one reference like iperf3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Workload name, also the table row (e.g. `"retr 2048 MiB"`).
    pub workload: String,
    /// Who was measured: the table column (e.g. `"oxftpd"`, `"vsftpd"`).
    pub label: String,
    /// Unit of `runs` and `median` (e.g. `"MB/s"`).
    pub unit: String,
    /// Whether a larger value is better (throughput) or worse (time, memory).
    pub higher_is_better: bool,
    /// The value of each successful run.
    pub runs: Vec<f64>,
    /// Median of `runs`; `null` when every run failed.
    pub median: Option<f64>,
    /// Failed operations (runs, sessions or logins, as the workload counts).
    pub errors: u64,
    /// Server CPU seconds per GiB moved (median over runs), when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_s_per_gib: Option<f64>,
    /// Server CPU seconds per GiB of each run, for the spread; empty in
    /// lines written before it was kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu_runs: Vec<f64>,
    /// Further numbers a workload reports (latency percentiles, memory, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub detail: BTreeMap<String, f64>,
    /// First error message seen, to make failures diagnosable from the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Record {
    /// A record with its median computed from `runs`.
    pub fn new(
        workload: impl Into<String>,
        label: impl Into<String>,
        unit: &str,
        higher_is_better: bool,
        runs: Vec<f64>,
    ) -> Self {
        Record {
            workload: workload.into(),
            label: label.into(),
            unit: unit.to_owned(),
            higher_is_better,
            median: median(&runs),
            runs,
            errors: 0,
            cpu_s_per_gib: None,
            cpu_runs: Vec::new(),
            detail: BTreeMap::new(),
            first_error: None,
        }
    }

    /// Sets the server CPU of each run (s/GiB) and their median.
    pub fn set_cpu_runs(&mut self, runs: Vec<f64>) {
        self.cpu_s_per_gib = median(&runs);
        self.cpu_runs = runs;
    }

    /// Counts one failure, keeping the first message.
    pub fn fail(&mut self, error: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error.to_string());
        }
    }

    /// One JSON line.
    pub fn to_line(&self) -> String {
        // Serialising plain data with finite-or-null floats cannot fail; if it
        // ever did, say so in the output instead of panicking.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"cannot serialise result: {e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json() {
        let mut r = Record::new("retr 1 MiB", "oxftpd", "MB/s", true, vec![3.0, 1.0, 2.0]);
        r.set_cpu_runs(vec![0.5, 0.25, 0.75]);
        r.detail.insert("p99_ms".into(), 12.0);
        r.fail("boom");
        r.fail("second");
        let line = r.to_line();
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.median, Some(2.0));
        assert_eq!(back.cpu_s_per_gib, Some(0.5));
        assert_eq!(back.errors, 2);
        assert_eq!(back.first_error.as_deref(), Some("boom"));
    }

    #[test]
    fn all_failed_has_no_median() {
        let r = Record::new("x", "y", "s", false, vec![]);
        assert_eq!(r.median, None);
        assert!(r.to_line().contains("\"median\":null"));
        assert!(!r.to_line().contains("cpu_runs"));
    }

    #[test]
    fn reads_lines_from_before_cpu_runs() {
        let line = r#"{"workload":"retr","label":"vsftpd","unit":"MB/s","higher_is_better":true,"runs":[1.0],"median":1.0,"errors":0,"cpu_s_per_gib":0.7}"#;
        let r: Record = serde_json::from_str(line).unwrap();
        assert_eq!(r.cpu_s_per_gib, Some(0.7));
        assert!(r.cpu_runs.is_empty());
    }
}
