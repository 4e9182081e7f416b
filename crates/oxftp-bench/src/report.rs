//! The comparison table: medians per workload and server, and our ratio to
//! each peer, as Markdown (for the terminal and for bench/RESULTS.md).
//!
//! Ratios are oriented so that above 1 always means "ours is better": ours ÷
//! peer for throughputs, peer ÷ ours for times and memory.

use std::fmt::Write as _;

use crate::record::Record;

/// One table row: a workload (or a derived CPU-time row) and its cells.
struct Row {
    name: String,
    unit: String,
    higher_is_better: bool,
    /// (label, median, errors) for each label measured.
    cells: Vec<(String, Option<f64>, u64)>,
}

impl Row {
    fn cell(&self, label: &str) -> Option<&(String, Option<f64>, u64)> {
        self.cells.iter().find(|(l, _, _)| l == label)
    }
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
/// each workload that measured it.
fn rows(records: &[Record]) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mut push = |name: String, unit: &str, higher: bool, label: &str, value: Option<f64>, errors: u64| {
        let row = match rows.iter_mut().position(|r| r.name == name) {
            Some(i) => rows.get_mut(i),
            None => {
                rows.push(Row { name, unit: unit.to_owned(), higher_is_better: higher, cells: Vec::new() });
                rows.last_mut()
            }
        };
        if let Some(row) = row {
            // A repeated (workload, label) replaces the earlier one: the latest run wins.
            row.cells.retain(|(l, _, _)| l != label);
            row.cells.push((label.to_owned(), value, errors));
        }
    };
    for r in records {
        push(r.workload.clone(), &r.unit, r.higher_is_better, &r.label, r.median, r.errors);
        if let Some(cpu) = r.cpu_s_per_gib {
            push(format!("{}: server CPU", r.workload), "s/GiB", false, &r.label, Some(cpu), 0);
        }
    }
    rows
}

/// The Markdown table. `ours` is the label the ratios are computed for; the
/// other labels become columns and ratio columns in order of appearance.
pub fn table(records: &[Record], ours: &str) -> String {
    let mut labels: Vec<&str> = vec![ours];
    for r in records {
        if !labels.contains(&r.label.as_str()) {
            labels.push(&r.label);
        }
    }
    let peers: Vec<&str> = labels.iter().copied().filter(|l| *l != ours).collect();
    let rows = rows(records);

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
            let text = match row.cell(l) {
                None => String::new(),
                Some((_, None, errors)) => format!("failed ({errors} err)"),
                Some((_, Some(v), 0)) => num(*v),
                Some((_, Some(v), errors)) => format!("{} ({errors} err)", num(*v)),
            };
            let _ = write!(out, " {text} |");
        }
        let mine = row.cell(ours).and_then(|(_, v, _)| *v);
        for p in &peers {
            let theirs = row.cell(p).and_then(|(_, v, _)| *v);
            let ratio = match (mine, theirs) {
                (Some(m), Some(t)) if row.higher_is_better && t > 0.0 => Some(m / t),
                (Some(m), Some(t)) if !row.higher_is_better && m > 0.0 => Some(t / m),
                _ => None,
            };
            let text = ratio.map(|r| format!("{}x", ratio_num(r))).unwrap_or_default();
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
    out
}

/// One line per record that had errors, with its first error message.
pub fn failures(records: &[Record]) -> String {
    let mut out = String::new();
    for r in records.iter().filter(|r| r.errors > 0) {
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
    fn parse_skips_garbage_and_latest_wins() {
        let a = rec("retr", "oxftpd", true, &[1.0]).to_line();
        let b = rec("retr", "oxftpd", true, &[9.0]).to_line();
        let (records, bad) = parse_lines(&format!("{a}\nnot json\n\n{b}\n"));
        assert_eq!((records.len(), bad), (2, 1));
        assert!(table(&records, "oxftpd").contains("| retr | MB/s | 9.00 |"));
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
