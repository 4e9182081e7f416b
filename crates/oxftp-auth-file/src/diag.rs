//! Where in a TOML document something is: the line of a byte offset and the
//! dotted key that owns it.
//!
//! `toml` reports errors with a byte span but, for a value of the wrong type,
//! does not say which key held it. An administrator fixing a file wants both
//! ("users.toml:7: user.class: ..."), so this module maps a span back to the
//! key path by walking the document's spanned syntax tree. oxftpd's config
//! loader uses it too, which is why it is public.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// 1-based line number of byte `offset` in `text` (offsets past the end
/// count as the last line).
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    // Count on bytes: an offset inside a multi-byte character still lands on
    // the right line, and slicing `str` there would panic.
    text.as_bytes().get(..end).map_or(0, |head| head.iter().filter(|&&b| b == b'\n').count()) + 1
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based_and_clamped() {
        let text = "a = 1\nb = 2\n";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 5), 1);
        assert_eq!(line_of(text, 6), 2);
        assert_eq!(line_of(text, 1000), 3);
        assert_eq!(line_of("", 0), 1);
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
