//! Glob matching: bounded work and the right answer.
//!
//! Properties:
//! - patterns over MAX_PATTERN bytes are refused, all others compile;
//! - the matcher's loop runs at most (tokens + 1) × (name + 2) steps, so no
//!   pattern can make it backtrack exponentially;
//! - it agrees with a separate, memoised reference matcher written from the
//!   documented rules (`*`, `?`, brackets with ranges and `!`/`^`, unclosed
//!   `[` literal, leading `.` only matched explicitly);
//! - a pattern without wildcards matches exactly itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxftp_proto::glob::{Glob, GlobError, MAX_PATTERN, has_glob_chars};

/// A bracket expression starting after the `[` at `start`: (members test, index after `]`).
fn class(pattern: &[u8], start: usize, b: u8) -> Option<(bool, usize)> {
    let mut j = start;
    let negated = matches!(pattern.get(j), Some(b'!' | b'^'));
    if negated {
        j += 1;
    }
    let first = j;
    let mut hit = false;
    loop {
        let c = *pattern.get(j)?;
        if c == b']' && j > first {
            return Some((hit != negated, j + 1));
        }
        if pattern.get(j + 1) == Some(&b'-') && pattern.get(j + 2).is_some_and(|&h| h != b']') {
            let hi = pattern[j + 2];
            hit |= c <= b && b <= hi;
            j += 3;
        } else {
            hit |= c == b;
            j += 1;
        }
    }
}

/// Whether `pattern[p..]` matches `name[n..]`, memoised on (p, n).
fn reference(pattern: &[u8], name: &[u8], p: usize, n: usize, memo: &mut Vec<Option<bool>>) -> bool {
    let slot = p * (name.len() + 1) + n;
    if let Some(known) = memo[slot] {
        return known;
    }
    let result = match pattern.get(p) {
        None => n == name.len(),
        Some(b'*') => {
            reference(pattern, name, p + 1, n, memo) || (n < name.len() && reference(pattern, name, p, n + 1, memo))
        }
        Some(b'?') => n < name.len() && reference(pattern, name, p + 1, n + 1, memo),
        Some(b'[') => match name.get(n) {
            None => false,
            Some(&b) => match class(pattern, p + 1, b) {
                Some((hit, next)) => hit && reference(pattern, name, next, n + 1, memo),
                None => b == b'[' && reference(pattern, name, p + 1, n + 1, memo),
            },
        },
        Some(&c) => name.get(n) == Some(&c) && reference(pattern, name, p + 1, n + 1, memo),
    };
    memo[slot] = Some(result);
    result
}

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (pattern, name) = input;
    let glob = match Glob::new(&pattern) {
        Ok(glob) => glob,
        Err(GlobError::TooLong) => {
            assert!(pattern.len() > MAX_PATTERN);
            return;
        }
    };
    assert!(pattern.len() <= MAX_PATTERN);
    let (matched, steps) = glob.matches_counting_steps(&name);
    assert_eq!(matched, glob.matches(&name));
    let bound = (glob.token_count() as u64 + 1) * (name.len() as u64 + 2);
    assert!(steps <= bound, "{steps} steps > {bound} for {} tokens, name of {}", glob.token_count(), name.len());

    if pattern.len() * name.len() <= 64 * 1024 {
        let hidden = name.first() == Some(&b'.') && pattern.first() != Some(&b'.');
        let mut memo = vec![None; (pattern.len() + 1) * (name.len() + 1)];
        let want = !hidden && reference(&pattern, &name, 0, 0, &mut memo);
        assert_eq!(matched, want, "pattern {pattern:?} name {name:?}");
    }
    if !has_glob_chars(&pattern) {
        assert_eq!(matched, pattern == name);
    }
});
