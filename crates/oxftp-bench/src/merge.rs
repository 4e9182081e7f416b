//! A report made of one section per group of workloads, so that a run of a
//! few groups replaces their sections and leaves the others as they were.
//!
//! A section is the Markdown between two marker lines:
//!
//! ```text
//! <!-- group: big -->
//! ...
//! <!-- end of group: big -->
//! ```
//!
//! Merging a group replaces the text between its markers, or inserts a new
//! section in the order of [`ORDER`] (groups not listed there go last). Every
//! other byte of the report (the text before the first section, other
//! sections, anything after the last) is kept as it is.

use thiserror::Error;

/// The groups `bench/run` knows, in the order their sections appear.
pub const ORDER: &[&str] = &["big", "small", "sessions", "ftps", "s3", "ops"];

/// What a new report starts with, before its first section.
pub const PREAMBLE: &str = "\
# Benchmark results

One section per group of workloads (`BENCH_WORKLOADS`, see bench/README.md). `bench/run`
replaces the sections of the groups it ran and keeps the others, so each section carries its
own command, date, machine and load average. Each section ends with where the raw result lines
of its run are (`bench/results/<group>.jsonl` for bench/RESULTS.md); `oxftp-bench report FILE`
prints the table from them again.

How to read a table: a cell is the median of the runs with their range (min–max) in
parentheses; a ratio above 1.00x means oxftpd did better (faster, or less time, memory or CPU).
A ratio marked `~` compares two cells whose ranges overlap: some run of the one was as good as
some run of the other, so this run cannot tell the two servers apart, whatever the ratio says.
A cell without a range is a single run (or an old section that kept medians only).
";

/// A report that cannot be merged into without losing or mangling text.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MergeError {
    /// Group names become marker text and file names.
    #[error("bad group name {0:?}: use lower-case letters, digits and '-'")]
    BadName(String),
    /// A start marker without its end marker.
    #[error("section of group {0:?} has no end marker")]
    Unterminated(String),
    /// An end marker that closes nothing, or closes another group.
    #[error("stray end marker for group {0:?}")]
    Stray(String),
    /// The same group twice: which one to replace?
    #[error("group {0:?} has two sections")]
    Duplicate(String),
    /// The new section's text holds a marker line itself.
    #[error("the new section of group {0:?} contains a section marker")]
    NestedMarker(String),
}

fn start_marker(group: &str) -> String {
    format!("<!-- group: {group} -->")
}

fn end_marker(group: &str) -> String {
    format!("<!-- end of group: {group} -->")
}

/// The group named by a marker line, if `line` is one.
fn marker(line: &str) -> Option<(bool, &str)> {
    let line = line.trim_end_matches(['\n', '\r']);
    let inner = line.strip_prefix("<!-- ")?.strip_suffix(" -->")?;
    if let Some(group) = inner.strip_prefix("group: ") {
        Some((true, group))
    } else {
        inner.strip_prefix("end of group: ").map(|group| (false, group))
    }
}

fn valid_name(group: &str) -> bool {
    !group.is_empty() && group.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Where a group sorts among sections: its place in [`ORDER`], unknown last.
fn rank(group: &str) -> usize {
    ORDER.iter().position(|g| *g == group).unwrap_or(ORDER.len())
}

/// A piece of the report: free text, or one group's section with its markers.
#[derive(Debug)]
enum Piece {
    Text(String),
    Section { group: String, text: String },
}

fn split(report: &str) -> Result<Vec<Piece>, MergeError> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut open: Option<(String, String)> = None;
    for line in report.split_inclusive('\n') {
        match (marker(line), open.as_mut()) {
            (Some((true, group)), None) => {
                if pieces.iter().any(|p| matches!(p, Piece::Section { group: g, .. } if g == group)) {
                    return Err(MergeError::Duplicate(group.to_owned()));
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                open = Some((group.to_owned(), line.to_owned()));
            }
            (Some((true, _)), Some((group, _))) => return Err(MergeError::Unterminated(group.clone())),
            (Some((false, group)), Some((inside, body))) if group == inside => {
                body.push_str(line);
                if let Some((group, text)) = open.take() {
                    pieces.push(Piece::Section { group, text });
                }
            }
            (Some((false, group)), _) => return Err(MergeError::Stray(group.to_owned())),
            (None, Some((_, body))) => body.push_str(line),
            (None, None) => text.push_str(line),
        }
    }
    if let Some((group, _)) = open {
        return Err(MergeError::Unterminated(group));
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// `report` with the section of `group` set to `body` (Markdown without the
/// markers). An empty `report` starts from [`PREAMBLE`].
pub fn merge(report: &str, group: &str, body: &str) -> Result<String, MergeError> {
    if !valid_name(group) {
        return Err(MergeError::BadName(group.to_owned()));
    }
    if body.lines().any(|l| marker(l).is_some()) {
        return Err(MergeError::NestedMarker(group.to_owned()));
    }
    let section = format!("{}\n{}\n{}\n", start_marker(group), body.trim_matches('\n'), end_marker(group));
    let mut pieces = if report.trim().is_empty() { vec![Piece::Text(PREAMBLE.to_owned())] } else { split(report)? };

    if let Some(Piece::Section { text, .. }) =
        pieces.iter_mut().find(|p| matches!(p, Piece::Section { group: g, .. } if g == group))
    {
        *text = section;
    } else if let Some(i) =
        pieces.iter().position(|p| matches!(p, Piece::Section { group: g, .. } if rank(g) > rank(group)))
    {
        // Before the first section that sorts after it, with a blank line between.
        pieces.insert(i, Piece::Text(format!("{section}\n")));
    } else if let Some(i) = pieces.iter().rposition(|p| matches!(p, Piece::Section { .. })) {
        pieces.insert(i + 1, Piece::Text(format!("\n{section}")));
    } else {
        // Only free text so far: the section goes at the end, after a blank line.
        let mut text = pieces.iter().map(piece_text).collect::<String>();
        if !text.is_empty() {
            while !text.ends_with("\n\n") {
                text.push('\n');
            }
        }
        text.push_str(&section);
        return Ok(text);
    }
    Ok(pieces.iter().map(piece_text).collect())
}

fn piece_text(p: &Piece) -> &str {
    match p {
        Piece::Text(t) => t,
        Piece::Section { text, .. } => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The groups that have a section in `report`, in order.
    fn groups(report: &str) -> Result<Vec<String>, MergeError> {
        Ok(split(report)?
            .into_iter()
            .filter_map(|p| match p {
                Piece::Section { group, .. } => Some(group),
                Piece::Text(_) => None,
            })
            .collect())
    }

    fn section(group: &str, body: &str) -> String {
        format!("<!-- group: {group} -->\n{body}\n<!-- end of group: {group} -->\n")
    }

    #[test]
    fn starts_a_new_report_with_the_preamble() {
        let r = merge("", "small", "## small\ntable").unwrap();
        assert!(r.starts_with(PREAMBLE));
        assert!(r.ends_with(&section("small", "## small\ntable")));
        assert_eq!(groups(&r).unwrap(), ["small"]);
    }

    #[test]
    fn replaces_only_its_own_section() {
        let before = format!(
            "# Results\nhand-written note\n\n{}\n{}\n{}\ntrailer\n",
            section("big", "old big"),
            section("sessions", "old sessions\n\nkept as is"),
            section("s3", "old s3")
        );
        let after = merge(&before, "sessions", "\nnew sessions\n\n").unwrap();
        let expected = format!(
            "# Results\nhand-written note\n\n{}\n{}\n{}\ntrailer\n",
            section("big", "old big"),
            section("sessions", "new sessions"),
            section("s3", "old s3")
        );
        assert_eq!(after, expected);
        // Merging the same again changes nothing.
        assert_eq!(merge(&after, "sessions", "new sessions").unwrap(), expected);
    }

    #[test]
    fn inserts_a_missing_group_in_order() {
        let base = format!("# R\n\n{}\n{}", section("big", "b"), section("s3", "s"));
        let r = merge(&base, "ftps", "f").unwrap();
        assert_eq!(groups(&r).unwrap(), ["big", "ftps", "s3"]);
        assert_eq!(r, format!("# R\n\n{}\n{}\n{}", section("big", "b"), section("ftps", "f"), section("s3", "s")));
        // First in order: before everything, after the free text.
        let r = merge(&base, "small", "x").unwrap();
        assert_eq!(groups(&r).unwrap(), ["big", "small", "s3"]);
        // An unknown group goes last, after the last section.
        let r = merge(&base, "zz-extra", "z").unwrap();
        assert_eq!(groups(&r).unwrap(), ["big", "s3", "zz-extra"]);
        assert!(r.ends_with(&format!("{}\n{}", section("s3", "s"), section("zz-extra", "z"))));
        // A report of free text only gets the section after a blank line.
        let r = merge("# R\nintro", "big", "b").unwrap();
        assert_eq!(r, format!("# R\nintro\n\n{}", section("big", "b")));
    }

    #[test]
    fn refuses_what_it_would_mangle() {
        let open = "<!-- group: big -->\nx\n";
        assert_eq!(merge(open, "s3", "y"), Err(MergeError::Unterminated("big".into())));
        let nested = "<!-- group: big -->\n<!-- group: s3 -->\n<!-- end of group: s3 -->\n";
        assert_eq!(merge(nested, "s3", "y"), Err(MergeError::Unterminated("big".into())));
        let crossed = "<!-- group: big -->\n<!-- end of group: s3 -->\n";
        assert_eq!(merge(crossed, "big", "y"), Err(MergeError::Stray("s3".into())));
        let twice = format!("{}{}", section("big", "a"), section("big", "b"));
        assert_eq!(merge(&twice, "big", "y"), Err(MergeError::Duplicate("big".into())));
        assert_eq!(merge("", "Big", "y"), Err(MergeError::BadName("Big".into())));
        assert_eq!(merge("", "a/b", "y"), Err(MergeError::BadName("a/b".into())));
        assert_eq!(merge("", "big", "x\n<!-- end of group: big -->"), Err(MergeError::NestedMarker("big".into())));
    }

    #[test]
    fn keeps_crlf_and_text_without_final_newline() {
        let before = "<!-- group: big -->\r\nold\r\n<!-- end of group: big -->\r\nend";
        let after = merge(before, "big", "new").unwrap();
        assert_eq!(after, "<!-- group: big -->\nnew\n<!-- end of group: big -->\nend");
    }
}
