//! Virtual paths and the rooted mapping of a session path into its home.
//!
//! Properties:
//! - `resolve` refuses NUL and over-long results, and otherwise gives a
//!   normalised path: absolute, no empty, `.` or `..` component, no trailing
//!   slash, at most MAX_PATH bytes, equal to a simple stack model of the
//!   components (`..` at `/` stays at `/`);
//! - normalising is idempotent (`parse` of the result gives it back);
//! - a session path nested under a home (`under`, what the `Rooted` layer
//!   does) always lies inside that home and maps back (`strip_prefix`);
//! - parent/file_name/join and the 257 quoting are consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxftp_proto::path::{MAX_PATH, PathError, VPath};

fn assert_normal(p: &VPath) {
    let b = p.as_bytes();
    assert_eq!(b.first(), Some(&b'/'), "{p:?}");
    assert!(!b.contains(&0));
    if b.len() > 1 {
        assert!(!b.ends_with(b"/"), "{p:?}");
        for comp in b[1..].split(|&c| c == b'/') {
            assert!(!comp.is_empty() && comp != b"." && comp != b"..", "{p:?}");
        }
    }
    assert_eq!(VPath::parse(b).as_ref(), Ok(p), "not idempotent");
    assert_eq!(p.components().count(), if p.is_root() { 0 } else { b[1..].split(|&c| c == b'/').count() });
}

/// The components a resolution must give, by a stack.
fn model<'a>(cwd: &'a VPath, arg: &'a [u8]) -> Vec<&'a [u8]> {
    let mut stack: Vec<&[u8]> = if arg.first() == Some(&b'/') { Vec::new() } else { cwd.components().collect() };
    for comp in arg.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                stack.pop();
            }
            name => stack.push(name),
        }
    }
    stack
}

fuzz_target!(|input: (Vec<u8>, Vec<u8>, Vec<u8>)| {
    let (home, cwd, arg) = input;
    let home = VPath::parse(&home).unwrap_or_else(|_| VPath::root());
    let cwd = VPath::parse(&cwd).unwrap_or_else(|_| VPath::root());
    assert_normal(&home);
    assert_normal(&cwd);

    let resolved = cwd.resolve(&arg);
    if arg.contains(&0) {
        assert_eq!(resolved, Err(PathError::Nul));
        return;
    }
    let want = model(&cwd, &arg);
    let want_len = want.iter().map(|c| c.len() + 1).sum::<usize>().max(1);
    let p = match resolved {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(e, PathError::TooLong);
            assert!(want_len > MAX_PATH, "refused a path of {want_len} bytes");
            return;
        }
    };
    assert_normal(&p);
    assert!(p.as_bytes().len() <= MAX_PATH);
    assert_eq!(p.components().collect::<Vec<_>>(), want);
    assert_eq!(p.resolve(b""), Ok(p.clone()));
    assert_eq!(p.resolve(b"."), Ok(p.clone()));

    // Rooted: the session's path inside its home never leaves the home.
    let inner = p.under(&home);
    assert!(inner.starts_with(&home), "{p:?} under {home:?} gave {inner:?}");
    assert_eq!(inner.strip_prefix(&home), Some(p.clone()));
    assert_eq!(&inner.as_bytes()[..home.as_bytes().len()], home.as_bytes());
    assert!(inner.components().count() == home.components().count() + p.components().count());
    // A `..` from the session root stays at the session root.
    assert_eq!(VPath::root().resolve(b"..").map(|r| r.under(&home)), Ok(home.clone()));

    // Parent, name and join agree.
    match (p.parent(), p.file_name()) {
        (None, None) => assert!(p.is_root()),
        (Some(parent), Some(name)) => {
            assert!(p.starts_with(&parent) && parent != p);
            assert_eq!(parent.join(name), Ok(p.clone()));
        }
        other => panic!("{p:?}: parent/name {other:?}"),
    }
    if let Some(name) = arg.rsplit(|&b| b == b'/').next()
        && let Ok(joined) = p.join(name)
    {
        assert_eq!(joined.parent(), Some(p.clone()));
        assert_eq!(joined.file_name(), Some(name));
    }

    // The 257 reply form: quotes doubled, and undoing that gives the path.
    let quoted = p.quoted();
    assert!(quoted.len() >= 2 && quoted[0] == b'"' && quoted[quoted.len() - 1] == b'"');
    let inner_q = &quoted[1..quoted.len() - 1];
    let mut unquoted = Vec::new();
    let mut i = 0;
    while i < inner_q.len() {
        unquoted.push(inner_q[i]);
        if inner_q[i] == b'"' {
            assert_eq!(inner_q.get(i + 1), Some(&b'"'));
            i += 1;
        }
        i += 1;
    }
    assert_eq!(unquoted, p.as_bytes());
});
