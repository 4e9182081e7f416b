//! The storage conformance suite: what every backend must do, as the
//! [`Storage`] trait describes it, checked on a fresh, empty storage per
//! check. What a backend may not offer (appending, resuming, renaming,
//! modes and times) is checked against its [`Capabilities`]: offered means
//! it works, not offered means `Unsupported`.
//!
//! A backend's tests get the whole suite with one macro call, one test per
//! check:
//!
//! ```text
//! oxftp_core::storage_conformance!(|| async {
//!     Some(oxftp_core::test_util::Subject::new(oxftp_core::memory::MemoryStorage::new()))
//! });
//! ```
//!
//! The closure makes a fresh [`Subject`] (an empty storage, and whatever
//! must live as long as it: a temporary directory, a server process), or
//! `None` to skip (a server that is not installed). Backends whose fixture
//! is expensive run every check in one test instead:
//! `storage_conformance!(one_test NAME, || async { ... })`.
//!
//! [`Capabilities`]: crate::storage::Capabilities

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use oxftp_proto::path::VPath;
use tokio::io::AsyncWriteExt;

use super::helpers::{entries, kind_of, list_names, p, read_all, read_at, upload, write};
use crate::storage::{ErrorKind, Storage, WriteMode};

/// A storage under test and whatever must live as long as it.
pub struct Subject {
    storage: Arc<dyn Storage>,
    _keep: Vec<Box<dyn Any + Send + Sync>>,
}

impl Subject {
    /// A subject over `storage`.
    pub fn new(storage: impl Storage + 'static) -> Subject {
        Subject { storage: Arc::new(storage), _keep: Vec::new() }
    }

    /// Keep `guard` (a temporary directory, a server) alive as long as the subject.
    pub fn keeping(mut self, guard: impl Send + Sync + 'static) -> Subject {
        self._keep.push(Box::new(guard));
        self
    }

    /// The storage under test.
    pub fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }
}

/// One check: a future over a fresh storage that panics on a violation.
pub type Check = for<'a> fn(&'a dyn Storage) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Every check, by name, in the order [`run_all`] runs them.
pub const CHECKS: &[(&str, Check)] = &[
    ("root_is_an_empty_directory", |s| Box::pin(root_is_an_empty_directory(s))),
    ("missing_paths_are_not_found", |s| Box::pin(missing_paths_are_not_found(s))),
    ("files_round_trip", |s| Box::pin(files_round_trip(s))),
    ("uploads_appear_only_when_committed", |s| Box::pin(uploads_appear_only_when_committed(s))),
    ("interrupted_uploads_leave_nothing_behind", |s| Box::pin(interrupted_uploads_leave_nothing_behind(s))),
    ("exclusive_create_refuses_a_taken_name", |s| Box::pin(exclusive_create_refuses_a_taken_name(s))),
    ("open_write_checks_its_target", |s| Box::pin(open_write_checks_its_target(s))),
    ("directories_are_made_and_removed", |s| Box::pin(directories_are_made_and_removed(s))),
    ("listings_show_names_kinds_and_sizes", |s| Box::pin(listings_show_names_kinds_and_sizes(s))),
    ("renames_move_and_replace_files", |s| Box::pin(renames_move_and_replace_files(s))),
    ("append_and_resume_follow_the_capabilities", |s| Box::pin(append_and_resume_follow_the_capabilities(s))),
    ("modes_and_times_follow_the_capabilities", |s| Box::pin(modes_and_times_follow_the_capabilities(s))),
    ("names_are_bytes", |s| Box::pin(names_are_bytes(s))),
];

/// Run the check called `name` on a fresh subject from `fresh` (skipped when it gives none).
///
/// # Panics
/// On a violation, or when no check has that name.
pub async fn run_one<F, Fut>(name: &str, fresh: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Option<Subject>>,
{
    let (_, check) = CHECKS.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no conformance check {name}"));
    let Some(subject) = fresh().await else { return };
    check(subject.storage()).await;
}

/// Run every check, each on a fresh subject from `fresh`; stops at the
/// first one that gives none (skipped).
///
/// # Panics
/// On a violation, naming the check.
pub async fn run_all<F, Fut>(mut fresh: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<Subject>>,
{
    for (name, check) in CHECKS {
        let Some(subject) = fresh().await else { return };
        eprintln!("conformance: {name}");
        check(subject.storage()).await;
    }
}

/// The root is a directory, and a fresh storage has nothing in it.
pub async fn root_is_an_empty_directory(s: &dyn Storage) {
    assert!(s.metadata(&VPath::root()).await.expect("metadata of /").is_dir());
    assert!(list_names(s, "/").await.expect("list /").is_empty());
}

/// Every call on a path that does not exist is `NotFound`.
pub async fn missing_paths_are_not_found(s: &dyn Storage) {
    assert_eq!(kind_of(s.metadata(&p("/none")).await), ErrorKind::NotFound);
    assert_eq!(kind_of(s.list(&p("/none")).await), ErrorKind::NotFound);
    assert_eq!(kind_of(s.open_read(&p("/none"), 0).await), ErrorKind::NotFound);
    assert_eq!(kind_of(s.delete(&p("/none")).await), ErrorKind::NotFound);
    assert_eq!(kind_of(s.rmdir(&p("/none")).await), ErrorKind::NotFound);
}

/// What is uploaded is read back, from any offset up to the end; its
/// metadata says file and size; an upload over it replaces it.
pub async fn files_round_trip(s: &dyn Storage) {
    upload(s, "/f.txt", b"hello world").await.expect("upload");
    let info = s.metadata(&p("/f.txt")).await.expect("metadata");
    assert!(info.is_file());
    assert_eq!(info.size, 11);
    assert_eq!(read_all(s, "/f.txt").await.expect("read"), b"hello world");
    assert_eq!(read_at(s, "/f.txt", 6).await.expect("read at 6"), b"world");
    assert_eq!(read_at(s, "/f.txt", 11).await.expect("read at the end"), b"");
    upload(s, "/f.txt", b"new").await.expect("replace");
    assert_eq!(read_all(s, "/f.txt").await.expect("read"), b"new");
    assert_eq!(s.metadata(&p("/f.txt")).await.expect("metadata").size, 3);
    upload(s, "/empty", b"").await.expect("empty upload");
    assert_eq!(s.metadata(&p("/empty")).await.expect("metadata").size, 0);
    assert_eq!(list_names(s, "/").await.expect("list"), [b"empty".to_vec(), b"f.txt".to_vec()]);
}

/// An upload is not visible until it commits; an aborted or dropped upload
/// leaves nothing behind.
pub async fn uploads_appear_only_when_committed(s: &dyn Storage) {
    let mut w = s.open_write(&p("/late"), WriteMode::Create { exclusive: false }).await.expect("open");
    w.write_all(b"data").await.expect("write");
    assert_eq!(kind_of(s.metadata(&p("/late")).await), ErrorKind::NotFound, "visible before commit");
    w.commit().await.expect("commit");
    assert_eq!(read_all(s, "/late").await.expect("read"), b"data");

    let mut w = s.open_write(&p("/aborted"), WriteMode::Create { exclusive: false }).await.expect("open");
    w.write_all(&[7u8; 10_000]).await.expect("write");
    w.abort().await;
    assert_eq!(kind_of(s.metadata(&p("/aborted")).await), ErrorKind::NotFound);

    let mut w = s.open_write(&p("/dropped"), WriteMode::Create { exclusive: false }).await.expect("open");
    w.write_all(&[7u8; 10_000]).await.expect("write");
    drop(w);
    // A backend may clean up a dropped upload in a task of its own.
    let mut waited = Duration::ZERO;
    while s.metadata(&p("/dropped")).await.is_ok() && waited < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    assert_eq!(kind_of(s.metadata(&p("/dropped")).await), ErrorKind::NotFound);
    assert_eq!(list_names(s, "/").await.expect("list"), [b"late".to_vec()]);
}

/// An upload interrupted after several megabytes (an object store has
/// sent multipart parts by then) leaves nothing: a replacement that is
/// aborted or dropped leaves the old file whole, a new file never appears,
/// and the directory lists as before.
pub async fn interrupted_uploads_leave_nothing_behind(s: &dyn Storage) {
    const BIG: usize = 6 * 1024 * 1024 + 123;
    let big: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    upload(s, "/keep", b"old contents").await.expect("upload");
    s.mkdir(&p("/dir")).await.expect("mkdir");

    let mut w = s.open_write(&p("/keep"), WriteMode::Create { exclusive: false }).await.expect("open");
    w.write_all(&big).await.expect("write");
    w.abort().await;
    assert_eq!(read_all(s, "/keep").await.expect("read"), b"old contents", "an aborted replacement");

    let mut w = s.open_write(&p("/keep"), WriteMode::Create { exclusive: false }).await.expect("open");
    w.write_all(&big).await.expect("write");
    drop(w);
    let mut w = s.open_write(&p("/dir/new"), WriteMode::Create { exclusive: false }).await.expect("open");
    w.write_all(&big).await.expect("write");
    drop(w);
    // A backend may clean up a dropped upload in a task of its own.
    let mut waited = Duration::ZERO;
    while s.metadata(&p("/dir/new")).await.is_ok() && waited < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    assert_eq!(read_all(s, "/keep").await.expect("read"), b"old contents", "a dropped replacement");
    assert_eq!(kind_of(s.metadata(&p("/dir/new")).await), ErrorKind::NotFound);
    assert!(list_names(s, "/dir").await.expect("list").is_empty());
    assert_eq!(list_names(s, "/").await.expect("list"), [b"dir".to_vec(), b"keep".to_vec()]);
}

/// An exclusive create of a taken name fails with `AlreadyExists` at open,
/// and the file stays as it was.
pub async fn exclusive_create_refuses_a_taken_name(s: &dyn Storage) {
    upload(s, "/taken", b"first").await.expect("upload");
    let exclusive = WriteMode::Create { exclusive: true };
    assert_eq!(kind_of(s.open_write(&p("/taken"), exclusive).await), ErrorKind::AlreadyExists);
    write(s, "/fresh", exclusive, b"new").await.expect("exclusive create of a new name");
    assert_eq!(read_all(s, "/taken").await.expect("read"), b"first");
    assert_eq!(read_all(s, "/fresh").await.expect("read"), b"new");
}

/// An upload to a directory, the root, below a missing directory or below a
/// file is refused at open with the POSIX error.
pub async fn open_write_checks_its_target(s: &dyn Storage) {
    let create = WriteMode::Create { exclusive: false };
    s.mkdir(&p("/d")).await.expect("mkdir");
    upload(s, "/f", b"x").await.expect("upload");
    assert_eq!(kind_of(s.open_write(&p("/d"), create).await), ErrorKind::IsADirectory);
    assert_eq!(kind_of(s.open_write(&VPath::root(), create).await), ErrorKind::IsADirectory);
    assert_eq!(kind_of(s.open_write(&p("/nodir/f"), create).await), ErrorKind::NotFound);
    assert_eq!(kind_of(s.open_write(&p("/f/g"), create).await), ErrorKind::NotADirectory);
    assert_eq!(kind_of(s.open_read(&p("/d"), 0).await), ErrorKind::IsADirectory);
}

/// MKD and RMD as on POSIX: one level at a time, only empty directories
/// removed, files and directories not confused, the root kept.
pub async fn directories_are_made_and_removed(s: &dyn Storage) {
    s.mkdir(&p("/d")).await.expect("mkdir");
    assert!(s.metadata(&p("/d")).await.expect("metadata").is_dir());
    assert_eq!(kind_of(s.mkdir(&p("/d")).await), ErrorKind::AlreadyExists);
    assert_eq!(kind_of(s.mkdir(&p("/x/y")).await), ErrorKind::NotFound);
    upload(s, "/d/f", b"abc").await.expect("upload");
    assert_eq!(kind_of(s.rmdir(&p("/d")).await), ErrorKind::DirectoryNotEmpty);
    assert_eq!(kind_of(s.rmdir(&p("/d/f")).await), ErrorKind::NotADirectory);
    assert_eq!(kind_of(s.rmdir(&VPath::root()).await), ErrorKind::PermissionDenied);
    assert_eq!(kind_of(s.delete(&p("/d")).await), ErrorKind::IsADirectory);
    s.delete(&p("/d/f")).await.expect("delete");
    assert_eq!(kind_of(s.delete(&p("/d/f")).await), ErrorKind::NotFound);
    s.rmdir(&p("/d")).await.expect("rmdir");
    assert_eq!(kind_of(s.metadata(&p("/d")).await), ErrorKind::NotFound);
    assert!(list_names(s, "/").await.expect("list").is_empty());
}

/// A listing gives every entry with its kind and (for files) size; a file
/// cannot be listed as a directory.
pub async fn listings_show_names_kinds_and_sizes(s: &dyn Storage) {
    s.mkdir(&p("/d")).await.expect("mkdir");
    s.mkdir(&p("/d/sub")).await.expect("mkdir");
    upload(s, "/d/five", b"12345").await.expect("upload");
    upload(s, "/d/sub/deeper", b"x").await.expect("upload");
    let listed = entries(s, "/d").await.expect("list");
    let names: Vec<&[u8]> = listed.iter().map(|e| e.name.as_slice()).collect();
    assert_eq!(names, [&b"five"[..], b"sub"]);
    assert!(listed[0].info.is_file());
    assert_eq!(listed[0].info.size, 5);
    assert!(listed[1].info.is_dir());
    assert!(list_names(s, "/d/sub").await.expect("list").contains(&b"deeper".to_vec()));
    assert_eq!(kind_of(s.list(&p("/d/five")).await), ErrorKind::NotADirectory);
}

/// RNFR/RNTO of files: moved, replacing a file at the target; a missing
/// source or target directory is `NotFound`. `Unsupported` without the
/// capability.
pub async fn renames_move_and_replace_files(s: &dyn Storage) {
    upload(s, "/a", b"A").await.expect("upload");
    if !s.capabilities().rename {
        assert_eq!(kind_of(s.rename(&p("/a"), &p("/b")).await), ErrorKind::Unsupported);
        return;
    }
    s.rename(&p("/a"), &p("/b")).await.expect("rename");
    assert_eq!(read_all(s, "/b").await.expect("read"), b"A");
    assert_eq!(kind_of(s.metadata(&p("/a")).await), ErrorKind::NotFound);
    upload(s, "/c", b"C").await.expect("upload");
    s.rename(&p("/c"), &p("/b")).await.expect("rename over a file");
    assert_eq!(read_all(s, "/b").await.expect("read"), b"C");
    assert_eq!(kind_of(s.rename(&p("/missing"), &p("/x")).await), ErrorKind::NotFound);
    assert_eq!(kind_of(s.rename(&p("/b"), &p("/nodir/x")).await), ErrorKind::NotFound);
    s.mkdir(&p("/d")).await.expect("mkdir");
    s.rename(&p("/b"), &p("/d/b")).await.expect("rename into a directory");
    assert_eq!(list_names(s, "/").await.expect("list"), [b"d".to_vec()]);
}

/// APPE adds to the end (creating a missing file) and REST + STOR at the end
/// of a file resumes it, when the storage says it can; otherwise both are
/// `Unsupported` and the file is untouched.
pub async fn append_and_resume_follow_the_capabilities(s: &dyn Storage) {
    let caps = s.capabilities();
    upload(s, "/f", b"hello").await.expect("upload");
    if caps.append {
        write(s, "/f", WriteMode::Append, b" world").await.expect("append");
        assert_eq!(read_all(s, "/f").await.expect("read"), b"hello world");
        write(s, "/new", WriteMode::Append, b"fresh").await.expect("append creates");
        assert_eq!(read_all(s, "/new").await.expect("read"), b"fresh");
    } else {
        assert_eq!(kind_of(s.open_write(&p("/f"), WriteMode::Append).await), ErrorKind::Unsupported);
    }
    let size = s.metadata(&p("/f")).await.expect("metadata").size;
    if caps.write_at_offset {
        write(s, "/f", WriteMode::At(size), b"!").await.expect("resume at the end");
        let mut expected = read_at(s, "/f", 0).await.expect("read");
        assert_eq!(expected.pop(), Some(b'!'));
        assert_eq!(expected.len() as u64, size);
    } else {
        assert_eq!(kind_of(s.open_write(&p("/f"), WriteMode::At(size)).await), ErrorKind::Unsupported);
        assert_eq!(s.metadata(&p("/f")).await.expect("metadata").size, size);
    }
}

/// SITE CHMOD and MFMT are stored when the storage says it can; otherwise
/// they are `Unsupported`.
pub async fn modes_and_times_follow_the_capabilities(s: &dyn Storage) {
    let caps = s.capabilities();
    upload(s, "/f", b"x").await.expect("upload");
    if caps.set_mode {
        s.set_mode(&p("/f"), 0o600).await.expect("set_mode");
        assert_eq!(s.metadata(&p("/f")).await.expect("metadata").mode, Some(0o600));
        assert_eq!(kind_of(s.set_mode(&p("/none"), 0o644).await), ErrorKind::NotFound);
    } else {
        assert_eq!(kind_of(s.set_mode(&p("/f"), 0o600).await), ErrorKind::Unsupported);
    }
    if caps.set_mtime {
        s.set_mtime(&p("/f"), 86_400).await.expect("set_mtime");
        assert_eq!(s.metadata(&p("/f")).await.expect("metadata").mtime, Some(86_400));
        assert_eq!(kind_of(s.set_mtime(&p("/none"), 0).await), ErrorKind::NotFound);
    } else {
        assert_eq!(kind_of(s.set_mtime(&p("/f"), 0).await), ErrorKind::Unsupported);
    }
}

/// Names are bytes: spaces and UTF-8 round trip; a name that is not UTF-8
/// either round trips too or is refused as `InvalidName`.
pub async fn names_are_bytes(s: &dyn Storage) {
    for name in ["/with space.txt", "/r\u{e9}sum\u{e9}.txt"] {
        upload(s, name, b"n").await.expect("upload");
        assert_eq!(read_all(s, name).await.expect("read"), b"n", "{name}");
    }
    let raw = VPath::root().join(b"caf\xe9").expect("a valid name");
    match s.open_write(&raw, WriteMode::Create { exclusive: false }).await {
        Ok(mut w) => {
            w.write_all(b"raw").await.expect("write");
            w.commit().await.expect("commit");
            assert!(list_names(s, "/").await.expect("list").contains(&b"caf\xe9".to_vec()));
        }
        Err(e) => assert_eq!(e.kind, ErrorKind::InvalidName, "{e}"),
    }
}

/// Declares one `#[tokio::test]` per conformance check (or, with
/// `one_test NAME`, one test running them all), each on a fresh storage
/// from the given closure. See [`test_util::conformance`](crate::test_util::conformance).
#[macro_export]
macro_rules! storage_conformance {
    (@each $fresh:expr; $($check:ident),+) => {
        mod storage_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    $crate::test_util::conformance::run_one(stringify!($check), $fresh).await;
                }
            )+

            #[test]
            fn every_check_has_a_test() {
                let tests = [$(stringify!($check)),+];
                let checks: Vec<&str> = $crate::test_util::conformance::CHECKS.iter().map(|(n, _)| *n).collect();
                assert_eq!(tests.as_slice(), checks.as_slice());
            }
        }
    };
    (one_test $name:ident, $fresh:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $crate::test_util::conformance::run_all($fresh).await;
        }
    };
    ($fresh:expr) => {
        $crate::storage_conformance!(@each $fresh;
            root_is_an_empty_directory,
            missing_paths_are_not_found,
            files_round_trip,
            uploads_appear_only_when_committed,
            interrupted_uploads_leave_nothing_behind,
            exclusive_create_refuses_a_taken_name,
            open_write_checks_its_target,
            directories_are_made_and_removed,
            listings_show_names_kinds_and_sizes,
            renames_move_and_replace_files,
            append_and_resume_follow_the_capabilities,
            modes_and_times_follow_the_capabilities,
            names_are_bytes
        );
    };
}
