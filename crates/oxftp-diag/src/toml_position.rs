//! Where in a TOML document something is: the dotted key that owns a span,
//! and the line of an error the parser reported without one.
//!
//! `toml` reports errors with a byte span but, for a value of the wrong type,
//! does not say which key held it. An administrator fixing a file wants both
//! ("users.toml:7: user.class: ..."), so this module maps a span back to the
//! key path by walking the document's spanned syntax tree.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The dotted key path (`server.listen`, `user.class`) whose key or value
/// contains the start of `span`, the innermost one when tables nest.
/// `None` when the document does not parse or the span lies outside every
/// key (a comment, a table header of an empty table).
///
/// Array elements do not add a component: in a users file every `[[user]]`
/// is a `user`, and the line number already says which one.
pub fn key_at(text: &str, span: Range<usize>) -> Option<String> {
    let document = DeTable::parse(text).ok()?;
    let mut best: Option<(usize, Vec<String>)> = None;
    walk_table(document.get_ref(), span.start, &mut Vec::new(), &mut best);
    best.map(|(_, path)| path.join("."))
}

/// Visits every key of `table`, remembering in `best` the innermost (smallest
/// range) key whose key or value covers `offset`.
fn walk_table(table: &DeTable<'_>, offset: usize, path: &mut Vec<String>, best: &mut Option<(usize, Vec<String>)>) {
    for (key, value) in table.iter() {
        path.push(key.get_ref().to_string());
        for range in [key.span(), value.span()] {
            if range.contains(&offset) || (range.is_empty() && range.start == offset) {
                let width = range.len();
                if best.as_ref().is_none_or(|(w, _)| width <= *w) {
                    *best = Some((width, path.clone()));
                }
            }
        }
        walk_value(value, offset, path, best);
        path.pop();
    }
}

/// Descends into tables, and into arrays (whose elements may be tables).
fn walk_value(
    value: &Spanned<DeValue<'_>>,
    offset: usize,
    path: &mut Vec<String>,
    best: &mut Option<(usize, Vec<String>)>,
) {
    match value.get_ref() {
        DeValue::Table(table) => walk_table(table, offset, path, best),
        DeValue::Array(items) => {
            for item in items.iter() {
                walk_value(item, offset, path, best);
            }
        }
        _ => {}
    }
}

/// The 1-based line of a TOML syntax error that `toml` reported without a
/// position (it does so for "recursion limit": a key of 80 or more dotted
/// parts). Found by parsing ever longer prefixes of `text`, whole lines at a
/// time, for the shortest one that fails the same way: a binary search, so
/// about log2(lines) parses, and only on this rare error path. `None` when no
/// prefix reproduces the error.
pub fn line_of_unplaced_error(text: &str, message: &str) -> Option<usize> {
    // Byte offsets just past each line (the last one may lack its '\n').
    let mut ends: Vec<usize> = text.match_indices('\n').map(|(i, _)| i + 1).collect();
    if ends.last() != Some(&text.len()) {
        ends.push(text.len());
    }
    let fails_here = |lines: usize| {
        let prefix = text.get(..ends[lines - 1]).unwrap_or(text);
        matches!(DeTable::parse(prefix), Err(e) if e.span().is_none() && e.message() == message)
    };
    // The shortest failing prefix, assuming failure persists once it begins
    // (lines before the error stay the same in every longer prefix).
    let (mut lo, mut hi) = (1, ends.len());
    if hi == 0 || !fails_here(hi) {
        return None;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fails_here(mid) { hi = mid } else { lo = mid + 1 }
    }
    Some(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unplaced_errors_are_found_by_line() {
        // Found by the users_toml fuzz target: toml says "recursion limit"
        // with no position for a key of 80+ dotted parts.
        let deep = format!("{}b = 1", "a.".repeat(90));
        let text = format!("x = 1\n\n[t]\n{deep}\ny = 2\n");
        let error = DeTable::parse(&text).unwrap_err();
        assert_eq!(error.span(), None);
        assert_eq!(line_of_unplaced_error(&text, error.message()), Some(4));
        assert_eq!(line_of_unplaced_error(&deep, error.message()), Some(1));
        assert_eq!(line_of_unplaced_error("x = 1\n", error.message()), None);
        assert_eq!(line_of_unplaced_error("", error.message()), None);
    }

    #[test]
    fn finds_the_key_of_a_value_in_a_table() {
        let text = "[server]\ngreeting = \"x\"\nlisten = [\"a\", 5]\n";
        let at = text.find('5').unwrap();
        assert_eq!(key_at(text, at..at + 1).as_deref(), Some("server.listen"));
        let at = text.find("greeting").unwrap();
        assert_eq!(key_at(text, at..at + 8).as_deref(), Some("server.greeting"));
    }

    #[test]
    fn array_of_tables_elements_add_no_component() {
        let text = "[[user]]\nname = \"a\"\n\n[[user]]\nname = \"b\"\nclass = \"admin\"\n";
        let at = text.find("\"admin\"").unwrap();
        assert_eq!(key_at(text, at..at + 7).as_deref(), Some("user.class"));
    }

    #[test]
    fn no_key_for_broken_documents_or_comments() {
        assert_eq!(key_at("a = [", 4..5), None);
        let text = "# just a comment\na = 1\n";
        assert_eq!(key_at(text, 2..3), None);
    }
}
