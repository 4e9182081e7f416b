//! A hook's spool: one file per event waiting for delivery, in a directory
//! of its own.
//!
//! `<dir>/<time>-<id>.json` holds the event's JSON body. It is written under a
//! hidden temporary name and renamed into place, so a crash never leaves half
//! an event under a spool name; temporary leftovers are removed at start.
//! Names sort by time, so delivery follows the order of events. Events that
//! used up their attempts move to `<dir>/failed/` for an admin to inspect.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the events that gave up go.
const FAILED_DIR: &str = "failed";
const SUFFIX: &str = ".json";
const TMP_PREFIX: &str = ".tmp-";

/// The files of one hook's spool, and the names in it (kept in memory so
/// the bound and the order need no directory scan per event).
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    fsync: bool,
    names: Mutex<BTreeSet<String>>,
}

impl Spool {
    /// Opens (creating if needed) `dir`, removes temporary leftovers and
    /// reads the names of the events still waiting.
    pub(crate) fn open(dir: PathBuf, fsync: bool) -> io::Result<Spool> {
        fs::create_dir_all(dir.join(FAILED_DIR))?;
        let mut names = BTreeSet::new();
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if name.starts_with(TMP_PREFIX) {
                // A write the process did not finish: the client never got its reply.
                let _ = fs::remove_file(entry.path());
            } else if name.ends_with(SUFFIX) && entry.file_type()?.is_file() {
                names.insert(name);
            }
        }
        Ok(Spool { dir, fsync, names: Mutex::new(names) })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Events waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        // A panic elsewhere while holding the lock leaves a valid set.
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes one event; returns its spool name. Blocking (a small file
    /// write, plus a flush to disk when `fsync` is on).
    pub(crate) fn push(&self, id: &str, body: &[u8]) -> io::Result<String> {
        let micros = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros();
        let name = format!("{micros:020}-{id}{SUFFIX}");
        let tmp = self.dir.join(format!("{TMP_PREFIX}{name}"));
        let result = (|| {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(body)?;
            if self.fsync {
                file.sync_all()?;
            }
            fs::rename(&tmp, self.dir.join(&name))?;
            if self.fsync {
                fs::File::open(&self.dir)?.sync_all()?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.lock().insert(name.clone());
        Ok(name)
    }

    /// Deletes the oldest event (to make room); returns its name.
    pub(crate) fn drop_oldest(&self) -> Option<String> {
        let name = self.lock().pop_first()?;
        let _ = fs::remove_file(self.dir.join(&name));
        Some(name)
    }

    /// The oldest `n` waiting events for which `skip` is false.
    pub(crate) fn oldest(&self, n: usize, skip: impl Fn(&str) -> bool) -> Vec<String> {
        self.lock().iter().filter(|name| !skip(name)).take(n).cloned().collect()
    }

    /// The body of event `name`; `None` if it is gone (dropped meanwhile).
    pub(crate) fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.dir.join(name)) {
            Ok(body) => Ok(Some(body)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.lock().remove(name);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The event was delivered: forget it.
    pub(crate) fn remove(&self, name: &str) -> io::Result<()> {
        self.lock().remove(name);
        match fs::remove_file(self.dir.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The event used up its attempts: keep it in `failed/`.
    pub(crate) fn give_up(&self, name: &str) -> io::Result<()> {
        self.lock().remove(name);
        match fs::rename(self.dir.join(name), self.dir.join(FAILED_DIR).join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// The event id in a spool name (`<time>-<id>.json`).
pub(crate) fn id_of(name: &str) -> &str {
    let stem = name.strip_suffix(SUFFIX).unwrap_or(name);
    stem.split_once('-').map_or(stem, |(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_reopening_in_order_and_leftovers_go() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("h");
        let spool = Spool::open(dir.clone(), false).unwrap();
        let a = spool.push("aaaa", b"{\"n\":1}").unwrap();
        let b = spool.push("bbbb", b"{\"n\":2}").unwrap();
        assert!(a < b, "names sort by time");
        assert_eq!(id_of(&a), "aaaa");
        fs::write(dir.join(".tmp-00000000000000000001-cccc.json"), b"{").unwrap();
        drop(spool);

        let spool = Spool::open(dir.clone(), true).unwrap();
        assert_eq!(spool.len(), 2);
        assert!(!dir.join(".tmp-00000000000000000001-cccc.json").exists());
        assert_eq!(spool.oldest(10, |_| false), vec![a.clone(), b.clone()]);
        assert_eq!(spool.oldest(10, |n| n == a), vec![b.clone()]);
        assert_eq!(spool.read(&a).unwrap().unwrap(), b"{\"n\":1}");
        spool.remove(&a).unwrap();
        spool.give_up(&b).unwrap();
        assert_eq!(spool.len(), 0);
        assert!(dir.join("failed").join(&b).is_file());
        assert!(spool.read(&a).unwrap().is_none());
    }

    #[test]
    fn dropping_the_oldest() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path().to_path_buf(), false).unwrap();
        let first = spool.push("1", b"{}").unwrap();
        spool.push("2", b"{}").unwrap();
        assert_eq!(spool.drop_oldest(), Some(first.clone()));
        assert!(!tmp.path().join(first).exists());
        assert_eq!(spool.len(), 1);
    }
}
