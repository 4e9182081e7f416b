//! Virtual paths as the web API sees them: absolute, `/`-separated, checked.
//!
//! Every path from a URL or form goes through [`clean`], which refuses `..`
//! and `.` segments (also when they arrive percent-encoded a second time) and
//! control characters, so the gateway never forwards a traversal attempt or a
//! line break into an FTP command.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Longest path accepted from a request.
const MAX_PATH: usize = 4096;

/// Characters escaped in one URL path segment: all but RFC 3986 unreserved.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Why a path was refused (always a 400 to the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPath(pub &'static str);

/// Normalise a request path into `/a/b` form (root is `/`), collapsing empty
/// segments and refusing dot segments, NUL, CR, LF and over-long input.
pub fn clean(raw: &str) -> Result<String, BadPath> {
    if raw.len() > MAX_PATH {
        return Err(BadPath("path too long"));
    }
    if raw.bytes().any(|b| b == 0 || b == b'\r' || b == b'\n') {
        return Err(BadPath("control character in path"));
    }
    let mut out = String::with_capacity(raw.len() + 1);
    for seg in raw.split(['/', '\\']) {
        if seg.is_empty() {
            continue;
        }
        // A segment that still decodes to a dot segment was double-encoded
        // to slip past one decoding layer: refuse it as well.
        let decoded = percent_decode_str(seg).decode_utf8_lossy();
        if is_dot(seg) || is_dot(&decoded) {
            return Err(BadPath("'.' and '..' are not allowed in paths"));
        }
        out.push('/');
        out.push_str(seg);
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Whether `seg` is `.` or `..`.
fn is_dot(seg: &str) -> bool {
    seg == "." || seg == ".."
}

/// Check one file name chosen by the user (upload, new folder): non-empty,
/// no separator, not a dot segment.
pub fn check_name(name: &str) -> Result<&str, BadPath> {
    if name.is_empty() || name.contains(['/', '\\']) {
        return Err(BadPath("a file name may not be empty or contain '/'"));
    }
    clean(name).map(|_| name)
}

/// `dir` joined with a checked `name`.
pub fn join(dir: &str, name: &str) -> String {
    if dir == "/" { format!("/{name}") } else { format!("{dir}/{name}") }
}

/// The last segment of a clean path (empty for the root).
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

/// Percent-encode a clean path for use in a URL, keeping the slashes.
pub fn url_encode_path(path: &str) -> String {
    path.split('/').map(|s| utf8_percent_encode(s, SEGMENT).to_string()).collect::<Vec<_>>().join("/")
}

/// Percent-encode any string as one URL component (query values).
pub fn url_encode(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// Breadcrumbs of a clean path: (label, path) pairs from the root down.
pub fn breadcrumbs(path: &str) -> Vec<(String, String)> {
    let mut crumbs = vec![("/".to_string(), "/".to_string())];
    let mut acc = String::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        acc.push('/');
        acc.push_str(seg);
        crumbs.push((seg.to_string(), acc.clone()));
    }
    crumbs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_normalises_and_refuses_traversal() {
        assert_eq!(clean("").unwrap(), "/");
        assert_eq!(clean("a//b/").unwrap(), "/a/b");
        assert_eq!(clean("/a b/ü").unwrap(), "/a b/ü");
        assert!(clean("a/../b").is_err());
        assert!(clean("..").is_err());
        assert!(clean("./x").is_err());
        assert!(clean("a/%2e%2e/b").is_err());
        assert!(clean("a/%2E%2e").is_err());
        assert!(clean("a\\..\\b").is_err());
        assert!(clean("a\r\nDELE x").is_err());
        assert!(clean(&"a".repeat(5000)).is_err());
        assert_eq!(clean("a/..b/c..").unwrap(), "/a/..b/c..");
    }

    #[test]
    fn names_and_joins() {
        assert!(check_name("x.txt").is_ok());
        assert!(check_name("a/b").is_err());
        assert!(check_name("..").is_err());
        assert!(check_name("").is_err());
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(file_name("/a/b"), "b");
    }

    #[test]
    fn url_encoding_and_crumbs() {
        assert_eq!(url_encode_path("/a b/<x>"), "/a%20b/%3Cx%3E");
        assert_eq!(url_encode("a&b=c"), "a%26b%3Dc");
        let c = breadcrumbs("/a/b");
        assert_eq!(c, vec![("/".into(), "/".into()), ("a".into(), "/a".into()), ("b".into(), "/a/b".into())]);
    }
}
