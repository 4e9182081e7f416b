//! The comparison table: the median of each workload and server with the
//! spread of its runs, and our ratio to each peer, as Markdown (for the
//! terminal and for bench/RESULTS.md).
//!
//! Ratios are oriented so that above 1 always means "ours is better": ours ÷
//! peer for throughputs, peer ÷ ours for times and memory. A ratio is marked
//! `~` when the two cells' ranges (min–max) overlap: some run of the one was
//! as good as some run of the other, so the runs cannot tell them apart.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::record::Record;
use crate::stats::{Range, median, range};

/// What one cell summarises: every run of one label on one row.
#[derive(Debug, Clone, PartialEq)]
struct Cell {
    label: String,
    median: Option<f64>,
    /// Min and max; only with two runs or more (one run has no spread).
    range: Option<Range>,
    errors: u64,
}

impl Cell {
    fn new(label: &str, median: Option<f64>, runs: &[f64], errors: u64) -> Self {
        let range = if runs.len() >= 2 { range(runs) } else { None };
        Cell { label: label.to_owned(), median, range, errors }
    }

    fn text(&self) -> String {
        let mut notes = Vec::new();
        if let Some(r) = self.range {
            notes.push(format!("{}–{}", num(r.min), num(r.max)));
        }
        if self.errors > 0 {
            notes.push(format!("{} err", self.errors));
        }
        let value = match self.median {
            Some(v) => num(v),
            None => "failed".to_owned(),
        };
        if notes.is_empty() { value } else { format!("{value} ({})", notes.join("; ")) }
    }
}

/// One table row: a workload (or a derived CPU-time row) and its cells.
struct Row {
    name: String,
    unit: String,
    higher_is_better: bool,
    cells: Vec<Cell>,
}

impl Row {
    fn cell(&self, label: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.label == label)
    }

    /// Our ratio to `peer` on this row, "~"-marked when the ranges overlap;
    /// empty when either median is missing.
    fn ratio(&self, ours: &str, peer: &str) -> String {
        let (Some(mine), Some(theirs)) = (self.cell(ours), self.cell(peer)) else {
            return String::new();
        };
        let ratio = match (mine.median, theirs.median) {
            (Some(m), Some(t)) if self.higher_is_better && t > 0.0 => m / t,
            (Some(m), Some(t)) if !self.higher_is_better && m > 0.0 => t / m,
            _ => return String::new(),
        };
        let noise = match (mine.range, theirs.range) {
            (Some(a), Some(b)) if a.overlaps(&b) => "~",
            _ => "",
        };
        format!("{noise}{}x", ratio_num(ratio))
    }
}

/// Folds the lines of one (workload, label) into one record, in order of
/// first appearance: `bench/run` writes one line per run when it
/// interleaves servers. Runs and per-run CPU are concatenated, errors added
/// up (the first message kept), medians recomputed, and each detail becomes
/// the median of the lines that have it. A line with a CPU median but no
/// per-run CPU (written before those were kept) counts as one CPU value.
pub fn combine(records: Vec<Record>) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    let mut details: Vec<BTreeMap<String, Vec<f64>>> = Vec::new();
    for mut r in records {
        if r.cpu_runs.is_empty() {
            r.cpu_runs.extend(r.cpu_s_per_gib);
        }
        let i = match out.iter().position(|o| o.workload == r.workload && o.label == r.label) {
            Some(i) => i,
            None => {
                out.push(Record { runs: Vec::new(), cpu_runs: Vec::new(), errors: 0, first_error: None, ..r.clone() });
                details.push(BTreeMap::new());
                out.len() - 1
            }
        };
        let (Some(o), Some(d)) = (out.get_mut(i), details.get_mut(i)) else { continue };
        o.runs.extend(r.runs);
        o.cpu_runs.extend(r.cpu_runs);
        o.errors += r.errors;
        if o.first_error.is_none() {
            o.first_error = r.first_error;
        }
        for (k, v) in r.detail {
            d.entry(k).or_default().push(v);
        }
    }
    for (o, d) in out.iter_mut().zip(details) {
        o.median = median(&o.runs);
        o.cpu_s_per_gib = median(&o.cpu_runs);
        o.detail = d.into_iter().filter_map(|(k, v)| Some((k, median(&v)?))).collect();
    }
    out
}

/// Parses JSON lines, skipping (and returning the count of) lines that are
/// not records, so one garbled line does not lose the whole table.
pub fn parse_lines(text: &str) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Record>(line) {
            Ok(r) => records.push(r),
            Err(_) => bad += 1,
        }
    }
    (records, bad)
}

/// Formats a value with about three significant digits.
fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Formats a ratio: two decimals, or as many as it takes to show two
/// significant digits for a far-off ratio (so it never reads "0.00x").
fn ratio_num(r: f64) -> String {
    if r >= 0.1 || r <= 0.0 || !r.is_finite() {
        format!("{r:.2}")
    } else {
        let decimals = (-r.log10()).ceil() as usize + 1;
        format!("{r:.decimals$}")
    }
}

/// Builds rows in order of first appearance, adding a server-CPU row after
/// each workload that measured it. Expects combined records (one per
/// workload and label); a repeated one replaces the earlier cell.
fn rows(records: &[Record]) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mut push = |name: String, unit: &str, higher: bool, cell: Cell| {
        let row = match rows.iter_mut().position(|r| r.name == name) {
            Some(i) => rows.get_mut(i),
            None => {
                rows.push(Row { name, unit: unit.to_owned(), higher_is_better: higher, cells: Vec::new() });
                rows.last_mut()
            }
        };
        if let Some(row) = row {
            row.cells.retain(|c| c.label != cell.label);
            row.cells.push(cell);
        }
    };
    for r in records {
        push(r.workload.clone(), &r.unit, r.higher_is_better, Cell::new(&r.label, r.median, &r.runs, r.errors));
        if let Some(cpu) = r.cpu_s_per_gib {
            let cell = Cell::new(&r.label, Some(cpu), &r.cpu_runs, 0);
            push(format!("{}: server CPU", r.workload), "s/GiB", false, cell);
        }
    }
    rows
}

/// The Markdown table of `records` (combined first, see [`combine`]).
/// `ours` is the label the ratios are computed for; the other labels become
/// columns and ratio columns in order of appearance. A cell is the median
/// with the range of the runs in parentheses.
pub fn table(records: &[Record], ours: &str) -> String {
    let records = combine(records.to_vec());
    let mut labels: Vec<&str> = vec![ours];
    for r in &records {
        if !labels.contains(&r.label.as_str()) {
            labels.push(&r.label);
        }
    }
    let peers: Vec<&str> = labels.iter().copied().filter(|l| *l != ours).collect();
    let rows = rows(&records);

    let mut out = String::new();
    let _ = write!(out, "| workload | unit |");
    for l in &labels {
        let _ = write!(out, " {l} |");
    }
    for p in &peers {
        let _ = write!(out, " {ours} vs {p} |");
    }
    out.push('\n');
    out.push_str(&"|---".repeat(2 + labels.len() + peers.len()));
    out.push_str("|\n");

    for row in &rows {
        let _ = write!(out, "| {} | {} |", row.name, row.unit);
        for l in &labels {
            let _ = write!(out, " {} |", row.cell(l).map(Cell::text).unwrap_or_default());
        }
        for p in &peers {
            let _ = write!(out, " {} |", row.ratio(ours, p));
        }
        out.push('\n');
    }
    out
}

/// One line per record that had errors, with its first error message.
pub fn failures(records: &[Record]) -> String {
    let mut out = String::new();
    for r in combine(records.to_vec()).iter().filter(|r| r.errors > 0) {
        let first = r.first_error.as_deref().unwrap_or("(no message)");
        let _ = writeln!(out, "- {} / {}: {} errors; first: {}", r.label, r.workload, r.errors, first);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(workload: &str, label: &str, higher: bool, v: &[f64]) -> Record {
        Record::new(workload, label, if higher { "MB/s" } else { "MiB" }, higher, v.to_vec())
    }

    #[test]
    fn ratios_point_the_right_way() {
        let mut ox = rec("retr", "oxftpd", true, &[200.0]);
        ox.cpu_s_per_gib = Some(0.5);
        let mut vs = rec("retr", "vsftpd", true, &[100.0]);
        vs.cpu_s_per_gib = Some(1.0);
        let records = vec![
            vs,
            ox,
            rec("retr", "iperf3", true, &[400.0]),
            rec("idle", "oxftpd", false, &[50.0]),
            rec("idle", "vsftpd", false, &[200.0]),
        ];
        let t = table(&records, "oxftpd");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "| workload | unit | oxftpd | vsftpd | iperf3 | oxftpd vs vsftpd | oxftpd vs iperf3 |");
        assert_eq!(lines[2], "| retr | MB/s | 200 | 100 | 400 | 2.00x | 0.50x |");
        // CPU time: lower is better, so half the CPU is 2x.
        assert_eq!(lines[3], "| retr: server CPU | s/GiB | 0.50 | 1.00 |  | 2.00x |  |");
        assert_eq!(lines[4], "| idle | MiB | 50.0 | 200 |  | 4.00x |  |");
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn failures_and_errors_show() {
        let mut bad = rec("burst", "vsftpd", false, &[]);
        bad.fail("connect refused");
        let mut some = rec("burst", "oxftpd", false, &[10.0]);
        some.errors = 2;
        let records = vec![some, bad];
        let t = table(&records, "oxftpd");
        assert!(t.contains("| burst | MiB | 10.0 (2 err) | failed (1 err) |  |"), "{t}");
        let f = failures(&records);
        assert!(f.contains("vsftpd / burst: 1 errors; first: connect refused"));
        assert!(f.contains("oxftpd / burst: 2 errors; first: (no message)"));
    }

    #[test]
    fn parse_skips_garbage_and_repeats_combine() {
        let a = rec("retr", "oxftpd", true, &[1.0]).to_line();
        let b = rec("retr", "oxftpd", true, &[9.0]).to_line();
        let (records, bad) = parse_lines(&format!("{a}\nnot json\n\n{b}\n"));
        assert_eq!((records.len(), bad), (2, 1));
        assert!(table(&records, "oxftpd").contains("| retr | MB/s | 5.00 (1.00–9.00) |"));
    }

    #[test]
    fn combine_folds_interleaved_runs() {
        // Rounds A B A B: one line per run, as bench/run writes them.
        let mut lines = Vec::new();
        for (round, (a, b)) in [(100.0, 90.0), (120.0, 95.0), (110.0, 80.0)].into_iter().enumerate() {
            let mut ox = rec("retr", "oxftpd", true, &[a]);
            ox.set_cpu_runs(vec![0.5 + round as f64 / 10.0]);
            ox.detail.insert("p50".into(), a / 10.0);
            lines.push(ox);
            let mut vs = rec("retr", "vsftpd", true, &[b]);
            if round == 1 {
                vs = rec("retr", "vsftpd", true, &[]);
                vs.fail("timed out");
            } else if round == 2 {
                vs.fail("later");
            }
            lines.push(vs);
        }
        let combined = combine(lines);
        assert_eq!(combined.len(), 2);
        let ox = &combined[0];
        assert_eq!((ox.label.as_str(), ox.runs.clone()), ("oxftpd", vec![100.0, 120.0, 110.0]));
        assert_eq!(ox.median, Some(110.0));
        assert_eq!(ox.cpu_runs, vec![0.5, 0.6, 0.7]);
        assert_eq!(ox.cpu_s_per_gib, Some(0.6));
        assert_eq!(ox.detail.get("p50"), Some(&11.0));
        let vs = &combined[1];
        assert_eq!(vs.runs, vec![90.0, 80.0]);
        assert_eq!(vs.median, Some(85.0));
        assert_eq!((vs.errors, vs.first_error.as_deref()), (2, Some("timed out")));
        assert!(vs.cpu_runs.is_empty() && vs.cpu_s_per_gib.is_none());
    }

    #[test]
    fn old_lines_keep_their_cpu_median() {
        let mut old = rec("retr", "oxftpd", true, &[1.0, 2.0, 3.0]);
        old.cpu_s_per_gib = Some(0.7);
        let combined = combine(vec![old]);
        assert_eq!(combined[0].cpu_runs, vec![0.7]);
        assert_eq!(combined[0].cpu_s_per_gib, Some(0.7));
    }

    #[test]
    fn spreads_show_and_overlapping_ratios_are_marked() {
        let mut records = Vec::new();
        // Throughput, overlapping ranges: 1000-1400 against 900-1100.
        for (a, b) in [(1000.0, 900.0), (1200.0, 1100.0), (1400.0, 1000.0)] {
            let mut ox = rec("retr", "oxftpd", true, &[a]);
            ox.set_cpu_runs(vec![a / 2000.0]);
            records.push(ox);
            let mut vs = rec("retr", "vsftpd", true, &[b]);
            vs.set_cpu_runs(vec![b / 500.0]);
            records.push(vs);
        }
        // Memory, lower is better, ranges apart.
        records.push(rec("idle", "oxftpd", false, &[50.0, 52.0]));
        records.push(rec("idle", "vsftpd", false, &[200.0, 210.0]));
        // One run on one side: no spread, so no mark either.
        records.push(rec("once", "oxftpd", true, &[10.0]));
        records.push(rec("once", "vsftpd", true, &[5.0, 20.0]));
        let t = table(&records, "oxftpd");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[2], "| retr | MB/s | 1200 (1000–1400) | 1000 (900–1100) | ~1.20x |");
        // CPU: 0.5-0.7 s/GiB against 1.8-2.2 s/GiB: apart, lower is better.
        assert_eq!(lines[3], "| retr: server CPU | s/GiB | 0.60 (0.50–0.70) | 2.00 (1.80–2.20) | 3.33x |");
        assert_eq!(lines[4], "| idle | MiB | 51.0 (50.0–52.0) | 205 (200–210) | 4.02x |");
        assert_eq!(lines[5], "| once | MB/s | 10.0 | 12.5 (5.00–20.0) | 0.80x |");
        assert_eq!(lines.len(), 6);
    }

    #[test]
    fn errors_sit_next_to_the_spread() {
        let mut a = rec("burst", "vsftpd", false, &[60000.0, 61000.0]);
        a.errors = 89;
        let t = table(&[rec("burst", "oxftpd", false, &[1200.0]), a], "oxftpd");
        assert!(t.contains("| burst | MiB | 1200 | 60500 (60000–61000; 89 err) | 50.42x |"), "{t}");
    }

    #[test]
    fn ratio_format_keeps_two_significant_digits() {
        assert_eq!(ratio_num(1.234), "1.23");
        assert_eq!(ratio_num(0.1), "0.10");
        assert_eq!(ratio_num(0.0034), "0.0034");
        assert_eq!(ratio_num(0.05), "0.050");
        assert_eq!(ratio_num(250.0), "250.00");
    }

    #[test]
    fn number_format() {
        assert_eq!(num(1234.5), "1234");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(1.234), "1.23");
        assert_eq!(num(0.01234), "0.012");
    }
}
