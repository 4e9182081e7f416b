//! Virtual paths: what an FTP client names, made absolute and normalised.
//!
//! A [`VPath`] is always absolute (`/` or `/a/b`), has no empty, `.` or `..`
//! components, no trailing slash and no NUL byte. Names are raw bytes so that
//! non-UTF-8 names survive a round trip. `..` at the root stays at the root,
//! exactly as `cd ..` does in `/` on Unix, so no client-supplied path can name
//! anything above the root.

use std::fmt;

/// Why a client path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// A NUL byte: no file system can store it, and C APIs would cut the name there.
    #[error("path contains a NUL byte")]
    Nul,
    /// Longer than [`MAX_PATH`].
    #[error("path is too long")]
    TooLong,
    /// Empty, `.`, `..` or containing `/` where one name was expected.
    #[error("not a valid file name")]
    InvalidName,
}

/// Longest virtual path accepted, in bytes (PATH_MAX on Linux).
pub const MAX_PATH: usize = 4096;

/// An absolute, normalised virtual path.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VPath(Vec<u8>);

impl VPath {
    /// `/`
    pub fn root() -> VPath {
        VPath(b"/".to_vec())
    }

    /// Parse an absolute path (relative ones are taken from the root).
    pub fn parse(path: &[u8]) -> Result<VPath, PathError> {
        VPath::root().resolve(path)
    }

    /// Resolve a client argument against `self` (the current directory):
    /// absolute arguments start from the root, relative ones from `self`;
    /// `.` and empty components vanish, `..` goes up but never above `/`.
    pub fn resolve(&self, arg: &[u8]) -> Result<VPath, PathError> {
        if arg.contains(&0) {
            return Err(PathError::Nul);
        }
        let mut parts: Vec<&[u8]> = if arg.first() == Some(&b'/') { Vec::new() } else { self.components().collect() };
        for comp in arg.split(|&b| b == b'/') {
            match comp {
                b"" | b"." => {}
                b".." => {
                    parts.pop();
                }
                name => parts.push(name),
            }
        }
        let mut out = Vec::with_capacity(arg.len() + self.0.len() + 1);
        for p in &parts {
            out.push(b'/');
            out.extend_from_slice(p);
        }
        if out.is_empty() {
            out.push(b'/');
        }
        if out.len() > MAX_PATH {
            return Err(PathError::TooLong);
        }
        Ok(VPath(out))
    }

    /// The path's bytes (`/a/b`).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The components, root first (`/a/b` gives `a`, `b`; `/` gives nothing).
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|&b| b == b'/').filter(|c| !c.is_empty())
    }

    /// The components joined with `/` and no leading slash (`a/b`; `/` gives ``),
    /// ready to append under a backend root.
    pub fn relative(&self) -> &[u8] {
        &self.0[1..]
    }

    /// Whether this is `/`.
    pub fn is_root(&self) -> bool {
        self.0.len() == 1
    }

    /// The parent directory; `None` for the root.
    pub fn parent(&self) -> Option<VPath> {
        if self.is_root() {
            return None;
        }
        let cut = self.0.iter().rposition(|&b| b == b'/').unwrap_or(0);
        Some(if cut == 0 { VPath::root() } else { VPath(self.0[..cut].to_vec()) })
    }

    /// The last component; `None` for the root.
    pub fn file_name(&self) -> Option<&[u8]> {
        if self.is_root() {
            return None;
        }
        let cut = self.0.iter().rposition(|&b| b == b'/').unwrap_or(0);
        Some(&self.0[cut + 1..])
    }

    /// Append one name (which must not contain `/` or NUL and must not be `.` or `..`).
    pub fn join(&self, name: &[u8]) -> Result<VPath, PathError> {
        if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
            return Err(PathError::InvalidName);
        }
        if name.contains(&0) {
            return Err(PathError::Nul);
        }
        let mut out = self.0.clone();
        if !self.is_root() {
            out.push(b'/');
        }
        out.extend_from_slice(name);
        if out.len() > MAX_PATH {
            return Err(PathError::TooLong);
        }
        Ok(VPath(out))
    }

    /// `self` nested under `base` (`/home/ann` + `/docs` = `/home/ann/docs`).
    pub fn under(&self, base: &VPath) -> VPath {
        if self.is_root() {
            return base.clone();
        }
        if base.is_root() {
            return self.clone();
        }
        let mut out = base.0.clone();
        out.extend_from_slice(&self.0);
        VPath(out)
    }

    /// Whether `self` is `base` or lies below it, component-wise
    /// (`/ab` is not below `/a`).
    pub fn starts_with(&self, base: &VPath) -> bool {
        if base.is_root() {
            return true;
        }
        self.0.starts_with(&base.0) && (self.0.len() == base.0.len() || self.0[base.0.len()] == b'/')
    }

    /// `self` seen from inside `base` (`/home/ann/docs` from `/home/ann` is `/docs`).
    pub fn strip_prefix(&self, base: &VPath) -> Option<VPath> {
        if !self.starts_with(base) {
            return None;
        }
        if base.is_root() {
            return Some(self.clone());
        }
        let rest = &self.0[base.0.len()..];
        Some(if rest.is_empty() { VPath::root() } else { VPath(rest.to_vec()) })
    }

    /// The path in a 257 reply: wrapped in double quotes, embedded quotes
    /// doubled (RFC 959 appendix II).
    pub fn quoted(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() + 2);
        out.push(b'"');
        for &b in &self.0 {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
        out
    }
}

impl fmt::Display for VPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for VPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VPath({:?})", String::from_utf8_lossy(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> VPath {
        VPath::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn resolves_relative_and_absolute() {
        let cwd = p("/a/b");
        assert_eq!(cwd.resolve(b"c").unwrap(), p("/a/b/c"));
        assert_eq!(cwd.resolve(b"/x//y/").unwrap(), p("/x/y"));
        assert_eq!(cwd.resolve(b"../../../../etc/passwd").unwrap(), p("/etc/passwd"));
        assert_eq!(cwd.resolve(b"./.././c").unwrap(), p("/a/c"));
        assert_eq!(cwd.resolve(b"").unwrap(), cwd);
        assert!(cwd.resolve(b"a\0b").is_err());
    }

    #[test]
    fn parent_name_join_under() {
        assert_eq!(p("/a/b").parent().unwrap(), p("/a"));
        assert_eq!(p("/a").parent().unwrap(), VPath::root());
        assert!(VPath::root().parent().is_none());
        assert_eq!(p("/a/b").file_name().unwrap(), b"b");
        assert_eq!(VPath::root().join(b"x").unwrap(), p("/x"));
        assert!(p("/a").join(b"..").is_err());
        assert_eq!(p("/docs").under(&p("/home/ann")), p("/home/ann/docs"));
        assert_eq!(VPath::root().under(&p("/home/ann")), p("/home/ann"));
        assert!(p("/ab").strip_prefix(&p("/a")).is_none());
        assert_eq!(p("/a/b").strip_prefix(&p("/a")).unwrap(), p("/b"));
        assert_eq!(p("/a").strip_prefix(&p("/a")).unwrap(), VPath::root());
        assert_eq!(p("/say \"hi\"").quoted(), b"\"/say \"\"hi\"\"\"".to_vec());
    }
}
