//! Shell-style wildcard matching of single file names, for `NLST *.txt`,
//! `LIST -l a?c` and the mget/mdelete commands of interactive clients.
//!
//! Supported: `*` (any run of bytes), `?` (one byte), bracket expressions
//! `[abc]`, `[a-z]`, `[!x]` / `[^x]` (a `]` right after the opening bracket or
//! negation is a member; an unclosed `[` is an ordinary byte). As in a shell, a
//! name starting with `.` is only matched by a pattern that starts with an
//! explicit `.`. There is no backslash escape, so that Windows-style names
//! keep their meaning; `/` is an ordinary byte because a name has none.
//!
//! Matching is the classic "restart after the last star" walk: with only
//! single-byte tokens besides `*`, backtracking to the most recent star is
//! enough, so the worst case is O(pattern × name) and a hostile pattern like
//! `a*a*a*a*b` cannot make the server spin.

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN: usize = 1024;

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    /// The pattern is longer than [`MAX_PATTERN`].
    #[error("pattern is longer than {MAX_PATTERN} bytes")]
    TooLong,
}

/// Whether `s` contains a wildcard (`*`, `?` or `[`), i.e. whether a LIST/NLST
/// argument should be treated as a pattern rather than a plain path.
pub fn has_glob_chars(s: &[u8]) -> bool {
    s.iter().any(|&b| matches!(b, b'*' | b'?' | b'['))
}

/// One compiled pattern element.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Byte(u8),
    AnyByte,
    Star,
    /// A bracket expression: inclusive byte ranges, possibly negated.
    Class {
        negated: bool,
        ranges: Vec<(u8, u8)>,
    },
}

impl Token {
    /// Whether this single-byte token matches `b` (never true for `Star`).
    fn matches(&self, b: u8) -> bool {
        match self {
            Token::Byte(c) => *c == b,
            Token::AnyByte => true,
            Token::Star => false,
            Token::Class { negated, ranges } => ranges.iter().any(|&(lo, hi)| lo <= b && b <= hi) != *negated,
        }
    }
}

/// A compiled shell pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// Compile `pattern`. Patterns over [`MAX_PATTERN`] bytes are refused;
    /// a malformed bracket expression is not an error (its `[` is literal).
    pub fn new(pattern: &[u8]) -> Result<Glob, GlobError> {
        if pattern.len() > MAX_PATTERN {
            return Err(GlobError::TooLong);
        }
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut i = 0;
        while let Some(&b) = pattern.get(i) {
            i += 1;
            match b {
                b'*' => {
                    // `**` means the same as `*`; one token keeps the walk simple.
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                b'?' => tokens.push(Token::AnyByte),
                b'[' => match parse_class(pattern, i) {
                    Some((token, next)) => {
                        tokens.push(token);
                        i = next;
                    }
                    None => tokens.push(Token::Byte(b'[')),
                },
                _ => tokens.push(Token::Byte(b)),
            }
        }
        Ok(Glob { tokens })
    }

    /// Whether `name` (one file name, not a path) matches the pattern.
    pub fn matches(&self, name: &[u8]) -> bool {
        self.walk(name, &mut 0)
    }

    /// [`Glob::matches`], also returning the number of steps the walk took
    /// (for the fuzz target's bound: at most (tokens + 1) × (name + 1)).
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn matches_counting_steps(&self, name: &[u8]) -> (bool, u64) {
        let mut steps = 0;
        let matched = self.walk(name, &mut steps);
        (matched, steps)
    }

    /// The number of compiled tokens (`**` counts once).
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// The matcher; `steps` counts loop iterations.
    fn walk(&self, name: &[u8], steps: &mut u64) -> bool {
        if name.first() == Some(&b'.') && self.tokens.first() != Some(&Token::Byte(b'.')) {
            return false;
        }
        let tokens = &self.tokens;
        let (mut p, mut n) = (0usize, 0usize);
        // Where to resume if the current attempt fails: the token after the
        // last star seen, and the name position that star now starts from.
        let mut restart: Option<(usize, usize)> = None;
        while let Some(&b) = name.get(n) {
            *steps += 1;
            match tokens.get(p) {
                Some(Token::Star) => {
                    restart = Some((p + 1, n));
                    p += 1;
                    continue;
                }
                Some(t) if t.matches(b) => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
            match restart {
                // Let the last star swallow one more byte and try again.
                Some((sp, sn)) => {
                    restart = Some((sp, sn + 1));
                    p = sp;
                    n = sn + 1;
                }
                None => return false,
            }
        }
        tokens.get(p..).is_some_and(|rest| rest.iter().all(|t| *t == Token::Star))
    }
}

/// Parse a bracket expression whose `[` ends just before `start`. Returns the
/// token and the index after the closing `]`, or `None` if it never closes.
fn parse_class(pattern: &[u8], start: usize) -> Option<(Token, usize)> {
    let mut j = start;
    let negated = matches!(pattern.get(j), Some(b'!' | b'^'));
    if negated {
        j += 1;
    }
    let first = j;
    let mut ranges = Vec::new();
    loop {
        let c = *pattern.get(j)?;
        if c == b']' && j > first {
            return Some((Token::Class { negated, ranges }, j + 1));
        }
        match (pattern.get(j + 1), pattern.get(j + 2)) {
            (Some(b'-'), Some(&hi)) if hi != b']' => {
                ranges.push((c, hi));
                j += 3;
            }
            _ => {
                ranges.push((c, c));
                j += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    fn m(pattern: &str, name: &str) -> bool {
        Glob::new(pattern.as_bytes()).unwrap().matches(name.as_bytes())
    }

    #[test]
    fn detects_wildcards() {
        assert!(has_glob_chars(b"*.txt"));
        assert!(has_glob_chars(b"a?"));
        assert!(has_glob_chars(b"[ab]"));
        assert!(!has_glob_chars(b"plain name.txt"));
        assert!(!has_glob_chars(b""));
    }

    #[test]
    fn stars_and_questions() {
        assert!(m("*", "anything"));
        assert!(m("*", ""));
        assert!(m("*.txt", "notes.txt"));
        assert!(!m("*.txt", "notes.txt.bak"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(m("a*b*c", "abc"));
        assert!(!m("a*b*c", "acb"));
        assert!(m("a**c", "abc"));
        assert!(m("?", "x"));
        assert!(!m("?", ""));
        assert!(!m("?", "xy"));
        assert!(m("f??.c", "foo.c"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("exact", "exact"));
        assert!(!m("exact", "Exact"));
        assert!(m("*ab", "aab"));
        assert!(m("*aab", "aaab"));
    }

    #[test]
    fn bracket_expressions() {
        assert!(m("[abc].txt", "b.txt"));
        assert!(!m("[abc].txt", "d.txt"));
        assert!(m("[a-z]1", "q1"));
        assert!(!m("[a-z]1", "Q1"));
        assert!(m("[!a-z]1", "Q1"));
        assert!(m("[^a-z]1", "Q1"));
        assert!(!m("[^a-z]1", "q1"));
        assert!(m("[]]", "]"));
        assert!(m("[!]]", "a"));
        assert!(!m("[!]]", "]"));
        assert!(m("[a-]", "-"));
        assert!(m("[-a]", "-"));
        assert!(m("x[0-9][0-9]", "x42"));
        // Unclosed brackets are literal.
        assert!(m("[abc", "[abc"));
        assert!(m("a[", "a["));
        assert!(m("[]", "[]"));
        assert!(!m("[abc", "a"));
    }

    #[test]
    fn leading_dot_needs_explicit_dot() {
        assert!(!m("*", ".hidden"));
        assert!(!m("?hidden", ".hidden"));
        assert!(!m("[.]hidden", ".hidden"));
        assert!(m(".*", ".hidden"));
        assert!(m(".h*", ".hidden"));
        assert!(m("*.*", "a.b"));
        assert!(m("*", "not.hidden"));
    }

    #[test]
    fn bytes_beyond_ascii() {
        let g = Glob::new(b"caf\xc3\xa9*").unwrap();
        assert!(g.matches(b"caf\xc3\xa9.txt"));
        assert!(Glob::new(b"?\xff").unwrap().matches(b"a\xff"));
    }

    #[test]
    fn refuses_huge_patterns() {
        assert_eq!(Glob::new(&[b'a'; MAX_PATTERN + 1]), Err(GlobError::TooLong));
        assert!(Glob::new(&[b'*'; MAX_PATTERN]).is_ok());
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let g = Glob::new(b"a*a*a*a*a*a*a*a*b").unwrap();
        let name = vec![b'a'; 10_000];
        let start = Instant::now();
        assert!(!g.matches(&name));
        let mut with_b = name.clone();
        with_b.push(b'b');
        assert!(g.matches(&with_b));
        assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    }

    /// A slow but obviously correct reference matcher over the same tokens.
    fn reference(tokens: &[Token], name: &[u8]) -> bool {
        match tokens.split_first() {
            None => name.is_empty(),
            Some((Token::Star, rest)) => (0..=name.len()).any(|k| reference(rest, &name[k..])),
            Some((t, rest)) => name.split_first().is_some_and(|(&b, tail)| t.matches(b) && reference(rest, tail)),
        }
    }

    proptest! {
        #[test]
        fn never_panics(pattern in proptest::collection::vec(any::<u8>(), 0..64), name in proptest::collection::vec(any::<u8>(), 0..64)) {
            let g = Glob::new(&pattern).unwrap();
            let _ = g.matches(&name);
        }

        #[test]
        fn agrees_with_reference(pattern in "[ab*?\\[\\]!.-]{0,10}", name in "[ab.\\]-]{0,10}") {
            let g = Glob::new(pattern.as_bytes()).unwrap();
            let hidden = name.starts_with('.') && g.tokens.first() != Some(&Token::Byte(b'.'));
            let want = !hidden && reference(&g.tokens, name.as_bytes());
            prop_assert_eq!(g.matches(name.as_bytes()), want);
        }

        #[test]
        fn literal_patterns_match_themselves(name in "[a-zA-Z0-9_ -][a-zA-Z0-9_. -]{0,20}") {
            prop_assert!(Glob::new(name.as_bytes()).unwrap().matches(name.as_bytes()));
        }
    }
}
