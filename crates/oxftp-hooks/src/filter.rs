//! Which events a hook reports: by kind, user and path.

use oxftp_core::events::{Event, EventKind};
use oxftp_proto::glob::Glob;
use oxftp_proto::path::VPath;

/// Most components in a path pattern: keeps matching cheap and bounded.
const MAX_COMPONENTS: usize = 32;

/// One component of a path pattern.
#[derive(Debug, Clone)]
enum Part {
    /// `**`: any number of components, none included.
    AnyDepth,
    /// A name pattern (`*`, `?`, `[...]` within one component).
    Name(Glob),
}

/// A glob over whole virtual paths: `/incoming/*.csv`, `/partners/**`.
#[derive(Debug, Clone)]
pub(crate) struct PathGlob {
    parts: Vec<Part>,
}

impl PathGlob {
    /// Compiles `pattern`, an absolute virtual path with globs.
    pub(crate) fn new(pattern: &str) -> Result<PathGlob, String> {
        if !pattern.starts_with('/') {
            return Err(format!("{pattern:?}: expected an absolute path pattern such as \"/incoming/**\""));
        }
        let mut parts = Vec::new();
        for component in pattern.split('/').filter(|c| !c.is_empty()) {
            if component == "." || component == ".." {
                return Err(format!("{pattern:?}: '.' and '..' are not allowed"));
            }
            let part = if component == "**" {
                Part::AnyDepth
            } else {
                Part::Name(Glob::new(component.as_bytes()).map_err(|e| format!("{pattern:?}: {e}"))?)
            };
            parts.push(part);
        }
        if parts.len() > MAX_COMPONENTS {
            return Err(format!("{pattern:?}: more than {MAX_COMPONENTS} components"));
        }
        Ok(PathGlob { parts })
    }

    /// Whether `path` matches.
    pub(crate) fn matches(&self, path: &VPath) -> bool {
        let names: Vec<&[u8]> = path.components().collect();
        match_parts(&self.parts, &names)
    }
}

/// Matches with a table of "parts[i..] matches names[j..]", filled from the
/// end: O(parts × names) whatever the pattern, so `**` cannot blow up.
fn match_parts(parts: &[Part], names: &[&[u8]]) -> bool {
    let width = names.len() + 1;
    // Row i+1 (the parts after i), then row i, as two buffers.
    let mut next = vec![false; width];
    next[names.len()] = true; // no parts left matches no names left
    let mut row = vec![false; width];
    for part in parts.iter().rev() {
        for j in (0..width).rev() {
            row[j] = match part {
                // Either `**` matches nothing here, or it takes names[j].
                Part::AnyDepth => next[j] || (j < names.len() && row[j + 1]),
                Part::Name(glob) => j < names.len() && glob.matches(names[j]) && next[j + 1],
            };
        }
        std::mem::swap(&mut row, &mut next);
    }
    next[0]
}

/// A hook's event filter.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    /// Empty: every kind.
    pub kinds: Vec<EventKind>,
    /// Empty: every user.
    pub users: Vec<String>,
    pub path: Option<PathGlob>,
}

impl Filter {
    pub(crate) fn wants_kind(&self, kind: EventKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }

    pub(crate) fn matches(&self, event: &Event) -> bool {
        if !self.wants_kind(event.kind) {
            return false;
        }
        if !self.users.is_empty() && !self.users.contains(&event.user) {
            return false;
        }
        match (&self.path, &event.path) {
            (None, _) => true,
            (Some(glob), Some(path)) => {
                glob.matches(path) || event.target.as_ref().is_some_and(|target| glob.matches(target))
            }
            (Some(_), None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> VPath {
        VPath::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn path_globs() {
        let g = PathGlob::new("/incoming/*.csv").unwrap();
        assert!(g.matches(&p("/incoming/a.csv")));
        assert!(!g.matches(&p("/incoming/sub/a.csv")));
        assert!(!g.matches(&p("/incoming/a.txt")));
        let g = PathGlob::new("/partners/**").unwrap();
        assert!(g.matches(&p("/partners")));
        assert!(g.matches(&p("/partners/x/y/z")));
        assert!(!g.matches(&p("/other/x")));
        let g = PathGlob::new("/**/*.pdf").unwrap();
        assert!(g.matches(&p("/a.pdf")));
        assert!(g.matches(&p("/x/y/a.pdf")));
        assert!(!g.matches(&p("/x/y/a.pdf/z")));
        assert!(PathGlob::new("relative").is_err());
        assert!(PathGlob::new("/a/../b").is_err());
        assert!(PathGlob::new(&"/a".repeat(33)).is_err());
    }

    #[test]
    fn many_double_stars_stay_cheap() {
        let g = PathGlob::new(&"/**".repeat(16)).unwrap();
        let long = p(&"/d".repeat(200));
        let started = std::time::Instant::now();
        assert!(g.matches(&long));
        let g = PathGlob::new(&format!("{}/nomatch", "/**".repeat(8))).unwrap();
        assert!(!g.matches(&p(&"/d".repeat(20))));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
