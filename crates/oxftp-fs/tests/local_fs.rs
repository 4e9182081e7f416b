//! Behaviour of `LocalFs` and `LocalFsFactory` on real temporary directories:
//! every Storage method with its error kinds, atomic and in-place uploads,
//! and attempts to escape the root.

use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oxftp_core::auth::{AccessClass, Identity};
use oxftp_core::storage::{DirEntry, ErrorKind, ReadHandle, Storage, StorageError, StorageFactory, WriteMode};
use oxftp_core::test_util::Subject;
use oxftp_core::test_util::helpers::kind_of as kind;
use oxftp_fs::{LocalFs, LocalFsFactory};
use oxftp_proto::listing::FileKind;
use oxftp_proto::path::VPath;
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

// The conformance suite every backend runs, on an empty temporary directory.
oxftp_core::storage_conformance!(|| async {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = LocalFs::new(dir.path()).expect("open the temporary directory");
    Some(Subject::new(fs).keeping(dir))
});

// The helpers below take raw byte paths (names need not be UTF-8) and insist
// on local files (zero-copy), which the shared helpers do not.

/// A temporary tree: `base/root` is served, `base/outside` is a sibling that
/// must stay out of reach.
struct Fixture {
    _tmp: TempDir,
    root: PathBuf,
    outside: PathBuf,
    fs: LocalFs,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    fs::create_dir(&root).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), b"top secret").unwrap();
    let fs = LocalFs::new(&root).unwrap();
    Fixture { _tmp: tmp, root, outside, fs }
}

fn vp(path: &[u8]) -> VPath {
    VPath::parse(path).unwrap()
}

async fn list_pages(fs: &LocalFs, path: &[u8]) -> Vec<Vec<DirEntry>> {
    let mut lister = fs.list(&vp(path)).await.unwrap();
    let mut pages = Vec::new();
    while let Some(page) = lister.next_page().await.unwrap() {
        pages.push(page);
    }
    // Exhausted stays exhausted.
    assert!(lister.next_page().await.unwrap().is_none());
    pages
}

async fn list_all(fs: &LocalFs, path: &[u8]) -> Vec<DirEntry> {
    let mut entries: Vec<DirEntry> = list_pages(fs, path).await.into_iter().flatten().collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}

fn names(entries: &[DirEntry]) -> Vec<Vec<u8>> {
    entries.iter().map(|e| e.name.clone()).collect()
}

async fn read_all(fs: &LocalFs, path: &[u8], offset: u64) -> Result<Vec<u8>, StorageError> {
    match fs.open_read(&vp(path), offset).await? {
        ReadHandle::LocalFile(mut file) => {
            let mut out = Vec::new();
            file.read_to_end(&mut out).unwrap();
            Ok(out)
        }
        ReadHandle::Stream(_) => panic!("local storage must hand out local files"),
    }
}

async fn upload(fs: &LocalFs, path: &[u8], mode: WriteMode, data: &[u8]) -> Result<(), StorageError> {
    let mut handle = fs.open_write(&vp(path), mode).await?;
    handle.write_all(data).await.unwrap();
    handle.commit().await
}

const CREATE: WriteMode = WriteMode::Create { exclusive: false };
const EXCLUSIVE: WriteMode = WriteMode::Create { exclusive: true };

/// Names in a real directory, temp files included (what the disk holds).
fn disk_names(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().as_bytes().to_vec()).collect();
    names.sort();
    names
}

#[test]
fn new_explains_bad_roots() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = LocalFs::new(tmp.path().join("nope")).unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    assert!(missing.to_string().contains("does not exist"), "{missing}");
    fs::write(tmp.path().join("file"), b"x").unwrap();
    let file = LocalFs::new(tmp.path().join("file")).unwrap_err();
    assert!(file.to_string().contains("is not a directory"), "{file}");
    assert!(LocalFsFactory::new(tmp.path().join("nope")).is_err());
    let fs = LocalFs::new(tmp.path()).unwrap();
    assert!(format!("{fs:?}").contains("atomic_uploads: true"));
    assert_eq!(fs.capabilities(), oxftp_core::storage::Capabilities::ALL);
}

#[tokio::test]
async fn metadata_reports_real_facts() {
    let f = fixture();
    fs::write(f.root.join("a.txt"), b"hello").unwrap();
    fs::set_permissions(f.root.join("a.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::create_dir(f.root.join("dir")).unwrap();
    let disk = fs::metadata(f.root.join("a.txt")).unwrap();

    let info = f.fs.metadata(&vp(b"/a.txt")).await.unwrap();
    assert_eq!(info.kind, FileKind::File);
    assert_eq!(info.size, 5);
    assert_eq!(info.mode, Some(0o640));
    assert_eq!(info.nlink, 1);
    assert_eq!(info.mtime, Some(disk.mtime()));
    assert_eq!(info.owner, Some(disk.uid().to_string()));
    assert_eq!(info.group, Some(disk.gid().to_string()));
    assert_eq!(info.unique, Some(format!("{:x}g{:x}", disk.dev(), disk.ino())));

    assert_eq!(f.fs.metadata(&vp(b"/dir")).await.unwrap().kind, FileKind::Dir);
    assert_eq!(f.fs.metadata(&VPath::root()).await.unwrap().kind, FileKind::Dir);
    assert_eq!(kind(f.fs.metadata(&vp(b"/missing")).await), ErrorKind::NotFound);
    assert_eq!(kind(f.fs.metadata(&vp(b"/a.txt/x")).await), ErrorKind::NotADirectory);
}

#[tokio::test]
async fn list_shows_entries_and_follows_inside_links_only() {
    let f = fixture();
    fs::write(f.root.join("file"), b"12345").unwrap();
    fs::create_dir(f.root.join("sub")).unwrap();
    symlink("file", f.root.join("good-link")).unwrap();
    symlink("sub", f.root.join("dir-link")).unwrap();
    symlink("nothing-here", f.root.join("dangling")).unwrap();
    symlink(&f.outside, f.root.join("escape")).unwrap();
    fs::write(f.root.join(".oxftp-upload.0123456789abcdef.tmp"), b"partial").unwrap();
    fs::write(f.root.join(".hidden"), b"").unwrap();

    let entries = list_all(&f.fs, b"/").await;
    assert_eq!(
        names(&entries),
        vec![
            b".hidden".to_vec(),
            b"dangling".to_vec(),
            b"dir-link".to_vec(),
            b"escape".to_vec(),
            b"file".to_vec(),
            b"good-link".to_vec(),
            b"sub".to_vec()
        ]
    );
    let by_name = |n: &[u8]| entries.iter().find(|e| e.name == n).unwrap().info.clone();
    let good = by_name(b"good-link");
    assert_eq!((good.kind, good.size), (FileKind::File, 5));
    assert_eq!(by_name(b"dir-link").kind, FileKind::Dir);
    assert_eq!(by_name(b"dangling").kind, FileKind::Symlink);
    assert_eq!(by_name(b"escape").kind, FileKind::Symlink);
    assert_eq!(by_name(b"sub").kind, FileKind::Dir);

    // A subdirectory's link to a sibling resolves from the root, not from the subdirectory.
    symlink("../file", f.root.join("sub/up")).unwrap();
    let sub = list_all(&f.fs, b"/sub").await;
    assert_eq!(names(&sub), vec![b"up".to_vec()]);
    assert_eq!(sub[0].info.kind, FileKind::File);
    assert_eq!(list_all(&f.fs, b"/dir-link").await.len(), 1);

    assert_eq!(kind(f.fs.list(&vp(b"/file")).await), ErrorKind::NotADirectory);
    assert_eq!(kind(f.fs.list(&vp(b"/missing")).await), ErrorKind::NotFound);
}

#[tokio::test]
async fn big_directories_list_in_pages() {
    let f = fixture();
    fs::create_dir(f.root.join("big")).unwrap();
    for i in 0..2500 {
        fs::write(f.root.join(format!("big/f{i:05}")), b"").unwrap();
    }
    let pages = list_pages(&f.fs, b"/big").await;
    assert!(pages.len() >= 3, "{} pages", pages.len());
    assert!(pages.iter().all(|p| p.len() <= 1000 && !p.is_empty()));
    let mut all: Vec<Vec<u8>> = pages.into_iter().flatten().map(|e| e.name).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 2500);

    // Exactly one page worth: one page, then the end (no empty page).
    fs::create_dir(f.root.join("thousand")).unwrap();
    for i in 0..1000 {
        fs::write(f.root.join(format!("thousand/f{i}")), b"").unwrap();
    }
    let pages = list_pages(&f.fs, b"/thousand").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![1000]);

    fs::create_dir(f.root.join("empty")).unwrap();
    assert!(list_pages(&f.fs, b"/empty").await.is_empty());
}

#[tokio::test]
async fn open_read_positions_and_refuses_non_files() {
    let f = fixture();
    fs::write(f.root.join("data"), b"0123456789").unwrap();
    fs::create_dir(f.root.join("dir")).unwrap();
    assert_eq!(read_all(&f.fs, b"/data", 0).await.unwrap(), b"0123456789");
    assert_eq!(read_all(&f.fs, b"/data", 7).await.unwrap(), b"789");
    assert_eq!(read_all(&f.fs, b"/data", 1000).await.unwrap(), b"");
    assert_eq!(kind(read_all(&f.fs, b"/dir", 0).await), ErrorKind::IsADirectory);
    assert_eq!(kind(read_all(&f.fs, b"/", 0).await), ErrorKind::IsADirectory);
    assert_eq!(kind(read_all(&f.fs, b"/missing", 0).await), ErrorKind::NotFound);

    // A named pipe must be refused at once, not block a thread waiting for a writer.
    let status = std::process::Command::new("mkfifo").arg(f.root.join("pipe")).status().unwrap();
    assert!(status.success());
    let result = tokio::time::timeout(Duration::from_secs(10), read_all(&f.fs, b"/pipe", 0)).await;
    assert_eq!(kind(result.expect("open of a FIFO blocked")), ErrorKind::PermissionDenied);
    let write = tokio::time::timeout(Duration::from_secs(10), f.fs.open_write(&vp(b"/pipe"), WriteMode::Append)).await;
    assert!(write.expect("open of a FIFO blocked").is_err());
}

#[tokio::test]
async fn atomic_upload_is_invisible_until_commit() {
    let f = fixture();
    let mut handle = f.fs.open_write(&vp(b"/new.bin"), CREATE).await.unwrap();
    handle.write_all(b"first part ").await.unwrap();
    handle.write_all(&vec![7u8; 3 << 20]).await.unwrap();
    handle.flush().await.unwrap();
    assert_eq!(kind(f.fs.metadata(&vp(b"/new.bin")).await), ErrorKind::NotFound);
    assert!(list_all(&f.fs, b"/").await.is_empty(), "temp upload must not be listed");
    assert_eq!(disk_names(&f.root).len(), 1, "one temp file on disk");
    handle.commit().await.unwrap();

    let data = fs::read(f.root.join("new.bin")).unwrap();
    assert_eq!(data.len(), 11 + (3 << 20));
    assert!(data.starts_with(b"first part "));
    assert_eq!(disk_names(&f.root), vec![b"new.bin".to_vec()]);
}

#[tokio::test]
async fn atomic_upload_leaves_nothing_after_abort_or_drop() {
    let f = fixture();
    fs::write(f.root.join("keep"), b"old contents").unwrap();

    let mut handle = f.fs.open_write(&vp(b"/keep"), CREATE).await.unwrap();
    handle.write_all(b"new").await.unwrap();
    handle.abort().await;
    assert_eq!(disk_names(&f.root), vec![b"keep".to_vec()]);
    assert_eq!(fs::read(f.root.join("keep")).unwrap(), b"old contents");

    let mut handle = f.fs.open_write(&vp(b"/dropped"), CREATE).await.unwrap();
    handle.write_all(b"half an upload").await.unwrap();
    drop(handle);
    assert_eq!(disk_names(&f.root), vec![b"keep".to_vec()]);

    // Dropped without writing a byte.
    drop(f.fs.open_write(&vp(b"/keep"), CREATE).await.unwrap());
    assert_eq!(disk_names(&f.root), vec![b"keep".to_vec()]);
    assert_eq!(fs::read(f.root.join("keep")).unwrap(), b"old contents");
}

#[tokio::test]
async fn atomic_replace_keeps_the_old_mode() {
    let f = fixture();
    fs::write(f.root.join("script"), b"old").unwrap();
    fs::set_permissions(f.root.join("script"), fs::Permissions::from_mode(0o750)).unwrap();
    upload(&f.fs, b"/script", CREATE, b"new").await.unwrap();
    assert_eq!(fs::read(f.root.join("script")).unwrap(), b"new");
    assert_eq!(fs::metadata(f.root.join("script")).unwrap().mode() & 0o7777, 0o750);
}

#[tokio::test]
async fn exclusive_create_never_overwrites() {
    let f = fixture();
    fs::write(f.root.join("taken"), b"mine").unwrap();
    assert_eq!(kind(f.fs.open_write(&vp(b"/taken"), EXCLUSIVE).await), ErrorKind::AlreadyExists);

    // Two uploads race for one name: the first commit wins, the second is refused.
    let mut one = f.fs.open_write(&vp(b"/race"), EXCLUSIVE).await.unwrap();
    let mut two = f.fs.open_write(&vp(b"/race"), EXCLUSIVE).await.unwrap();
    one.write_all(b"one").await.unwrap();
    two.write_all(b"two").await.unwrap();
    one.commit().await.unwrap();
    assert_eq!(kind(two.commit().await), ErrorKind::AlreadyExists);
    assert_eq!(fs::read(f.root.join("race")).unwrap(), b"one");

    // A file appearing behind an upload's back is not replaced either.
    let mut late = f.fs.open_write(&vp(b"/late"), EXCLUSIVE).await.unwrap();
    late.write_all(b"upload").await.unwrap();
    fs::write(f.root.join("late"), b"someone else").unwrap();
    assert_eq!(kind(late.commit().await), ErrorKind::AlreadyExists);
    assert_eq!(fs::read(f.root.join("late")).unwrap(), b"someone else");
    assert_eq!(disk_names(&f.root), vec![b"late".to_vec(), b"race".to_vec(), b"taken".to_vec()]);

    upload(&f.fs, b"/fresh", EXCLUSIVE, b"ok").await.unwrap();
    assert_eq!(fs::read(f.root.join("fresh")).unwrap(), b"ok");
}

#[tokio::test]
async fn non_atomic_uploads_write_in_place() {
    let f = fixture();
    let fs_plain = f.fs.clone().atomic_uploads(false);
    fs::write(f.root.join("old"), b"a long old content").unwrap();

    let mut handle = fs_plain.open_write(&vp(b"/old"), CREATE).await.unwrap();
    assert_eq!(fs::read(f.root.join("old")).unwrap(), b"", "STOR truncates at open");
    handle.write_all(b"visible").await.unwrap();
    handle.flush().await.unwrap();
    assert_eq!(fs::read(f.root.join("old")).unwrap(), b"visible");
    handle.abort().await;
    assert_eq!(fs::read(f.root.join("old")).unwrap(), b"visible", "abort keeps what was written");

    assert_eq!(kind(fs_plain.open_write(&vp(b"/old"), EXCLUSIVE).await), ErrorKind::AlreadyExists);
    upload(&fs_plain, b"/brand-new", EXCLUSIVE, b"x").await.unwrap();
    assert_eq!(fs::read(f.root.join("brand-new")).unwrap(), b"x");
    assert_eq!(disk_names(&f.root), vec![b"brand-new".to_vec(), b"old".to_vec()]);
}

#[tokio::test]
async fn write_at_offset_resumes_and_truncates() {
    let f = fixture();
    for storage in [f.fs.clone(), f.fs.clone().atomic_uploads(false)] {
        fs::write(f.root.join("partial"), b"hello world").unwrap();
        upload(&storage, b"/partial", WriteMode::At(5), b"XY").await.unwrap();
        assert_eq!(fs::read(f.root.join("partial")).unwrap(), b"helloXY");
        upload(&storage, b"/partial", WriteMode::At(7), b"!").await.unwrap();
        assert_eq!(fs::read(f.root.join("partial")).unwrap(), b"helloXY!");

        let beyond = storage.open_write(&vp(b"/partial"), WriteMode::At(100)).await;
        let err = beyond.err().unwrap();
        assert_eq!(err.kind, ErrorKind::Other);
        assert_eq!(err.message, "REST offset beyond end of file");
        assert_eq!(fs::read(f.root.join("partial")).unwrap(), b"helloXY!");

        assert_eq!(kind(storage.open_write(&vp(b"/absent"), WriteMode::At(3)).await), ErrorKind::NotFound);
        upload(&storage, b"/partial", WriteMode::At(0), b"zero").await.unwrap();
        assert_eq!(fs::read(f.root.join("partial")).unwrap(), b"zero");
    }
}

#[tokio::test]
async fn append_adds_and_creates() {
    let f = fixture();
    fs::write(f.root.join("log"), b"line1\n").unwrap();
    upload(&f.fs, b"/log", WriteMode::Append, b"line2\n").await.unwrap();
    assert_eq!(fs::read(f.root.join("log")).unwrap(), b"line1\nline2\n");
    upload(&f.fs, b"/new-log", WriteMode::Append, b"first\n").await.unwrap();
    assert_eq!(fs::read(f.root.join("new-log")).unwrap(), b"first\n");
}

#[tokio::test]
async fn open_write_errors() {
    let f = fixture();
    fs::create_dir(f.root.join("dir")).unwrap();
    fs::write(f.root.join("file"), b"").unwrap();
    symlink("dir", f.root.join("dir-link")).unwrap();
    for storage in [f.fs.clone(), f.fs.clone().atomic_uploads(false)] {
        for mode in [CREATE, EXCLUSIVE, WriteMode::At(0), WriteMode::At(1), WriteMode::Append] {
            let k = kind(storage.open_write(&vp(b"/no/such/file"), mode).await);
            assert_eq!(k, ErrorKind::NotFound, "{mode:?}");
            let k = kind(storage.open_write(&vp(b"/file/below"), mode).await);
            assert_eq!(k, ErrorKind::NotADirectory, "{mode:?}");
            let k = kind(storage.open_write(&VPath::root(), mode).await);
            assert_eq!(k, ErrorKind::IsADirectory, "{mode:?}");
        }
        for mode in [CREATE, WriteMode::At(0), WriteMode::At(1), WriteMode::Append] {
            let k = kind(storage.open_write(&vp(b"/dir"), mode).await);
            assert_eq!(k, ErrorKind::IsADirectory, "{mode:?}");
            let k = kind(storage.open_write(&vp(b"/dir-link"), mode).await);
            assert_eq!(k, ErrorKind::IsADirectory, "{mode:?}");
        }
        assert_eq!(kind(storage.open_write(&vp(b"/dir"), EXCLUSIVE).await), ErrorKind::AlreadyExists);
    }
    assert!(fs::metadata(f.root.join("dir-link")).unwrap().is_dir());
}

#[tokio::test]
async fn delete_removes_files_and_links_only() {
    let f = fixture();
    fs::write(f.root.join("file"), b"x").unwrap();
    fs::write(f.root.join("target"), b"x").unwrap();
    symlink("target", f.root.join("link")).unwrap();
    fs::create_dir(f.root.join("dir")).unwrap();

    f.fs.delete(&vp(b"/file")).await.unwrap();
    assert!(!f.root.join("file").exists());
    f.fs.delete(&vp(b"/link")).await.unwrap();
    assert!(f.root.join("target").exists(), "the link goes, not its target");
    assert!(fs::symlink_metadata(f.root.join("link")).is_err());
    assert_eq!(kind(f.fs.delete(&vp(b"/dir")).await), ErrorKind::IsADirectory);
    assert_eq!(kind(f.fs.delete(&VPath::root()).await), ErrorKind::IsADirectory);
    assert_eq!(kind(f.fs.delete(&vp(b"/file")).await), ErrorKind::NotFound);
    assert!(f.root.join("dir").is_dir());
}

#[tokio::test]
async fn mkdir_and_rmdir() {
    let f = fixture();
    f.fs.mkdir(&vp(b"/a")).await.unwrap();
    assert!(f.root.join("a").is_dir());
    assert_eq!(kind(f.fs.mkdir(&vp(b"/a")).await), ErrorKind::AlreadyExists);
    assert_eq!(kind(f.fs.mkdir(&VPath::root()).await), ErrorKind::AlreadyExists);
    assert_eq!(kind(f.fs.mkdir(&vp(b"/x/y")).await), ErrorKind::NotFound);
    f.fs.mkdir(&vp(b"/a/b")).await.unwrap();

    assert_eq!(kind(f.fs.rmdir(&vp(b"/a")).await), ErrorKind::DirectoryNotEmpty);
    assert_eq!(kind(f.fs.rmdir(&VPath::root()).await), ErrorKind::PermissionDenied);
    fs::write(f.root.join("file"), b"").unwrap();
    assert_eq!(kind(f.fs.rmdir(&vp(b"/file")).await), ErrorKind::NotADirectory);
    assert_eq!(kind(f.fs.rmdir(&vp(b"/gone")).await), ErrorKind::NotFound);
    f.fs.rmdir(&vp(b"/a/b")).await.unwrap();
    f.fs.rmdir(&vp(b"/a")).await.unwrap();
    assert!(!f.root.join("a").exists());
    assert!(f.root.is_dir());
}

#[tokio::test]
async fn rename_moves_and_replaces_files() {
    let f = fixture();
    fs::write(f.root.join("from"), b"new").unwrap();
    fs::write(f.root.join("to"), b"old").unwrap();
    fs::create_dir(f.root.join("dir")).unwrap();

    f.fs.rename(&vp(b"/from"), &vp(b"/to")).await.unwrap();
    assert_eq!(fs::read(f.root.join("to")).unwrap(), b"new");
    assert!(!f.root.join("from").exists());
    f.fs.rename(&vp(b"/to"), &vp(b"/dir/moved")).await.unwrap();
    assert_eq!(fs::read(f.root.join("dir/moved")).unwrap(), b"new");
    f.fs.rename(&vp(b"/dir"), &vp(b"/dir2")).await.unwrap();
    assert!(f.root.join("dir2/moved").is_file());

    assert_eq!(kind(f.fs.rename(&vp(b"/missing"), &vp(b"/x")).await), ErrorKind::NotFound);
    assert_eq!(kind(f.fs.rename(&vp(b"/dir2/moved"), &vp(b"/no/x")).await), ErrorKind::NotFound);
    assert_eq!(kind(f.fs.rename(&VPath::root(), &vp(b"/x")).await), ErrorKind::PermissionDenied);
    assert_eq!(kind(f.fs.rename(&vp(b"/dir2"), &VPath::root()).await), ErrorKind::PermissionDenied);
    assert_eq!(kind(f.fs.rename(&vp(b"/dir2"), &vp(b"/dir2/inside")).await), ErrorKind::InvalidName);
}

#[tokio::test]
async fn set_mode_and_mtime() {
    let f = fixture();
    fs::write(f.root.join("file"), b"x").unwrap();
    fs::create_dir(f.root.join("dir")).unwrap();
    symlink("file", f.root.join("link")).unwrap();

    f.fs.set_mode(&vp(b"/file"), 0o600).await.unwrap();
    assert_eq!(fs::metadata(f.root.join("file")).unwrap().mode() & 0o7777, 0o600);
    f.fs.set_mode(&vp(b"/file"), 0o170_751).await.unwrap();
    assert_eq!(fs::metadata(f.root.join("file")).unwrap().mode() & 0o7777, 0o751, "only permission bits");
    f.fs.set_mode(&vp(b"/link"), 0o640).await.unwrap();
    assert_eq!(fs::metadata(f.root.join("file")).unwrap().mode() & 0o7777, 0o640, "in-root link followed");
    f.fs.set_mode(&vp(b"/dir"), 0o700).await.unwrap();
    assert_eq!(f.fs.metadata(&vp(b"/dir")).await.unwrap().mode, Some(0o700));
    assert_eq!(kind(f.fs.set_mode(&vp(b"/missing"), 0o600).await), ErrorKind::NotFound);

    // Pin the access time so we can see it is kept.
    let atime = UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    let file = fs::File::options().write(true).open(f.root.join("file")).unwrap();
    file.set_times(fs::FileTimes::new().set_accessed(atime)).unwrap();
    drop(file);
    f.fs.set_mtime(&vp(b"/file"), 1_000_000_000).await.unwrap();
    let meta = fs::metadata(f.root.join("file")).unwrap();
    assert_eq!(meta.mtime(), 1_000_000_000);
    assert_eq!(meta.accessed().unwrap(), atime);
    assert_eq!(f.fs.metadata(&vp(b"/file")).await.unwrap().mtime, Some(1_000_000_000));
    f.fs.set_mtime(&vp(b"/dir"), 86_400).await.unwrap();
    assert_eq!(fs::metadata(f.root.join("dir")).unwrap().mtime(), 86_400);
    // Before the epoch: refused cleanly (the underlying crates cannot express it).
    assert_eq!(kind(f.fs.set_mtime(&vp(b"/dir"), -86_400).await), ErrorKind::Unsupported);
    assert_eq!(kind(f.fs.set_mtime(&vp(b"/dir"), i64::MIN).await), ErrorKind::Unsupported);
    assert_eq!(fs::metadata(f.root.join("dir")).unwrap().mtime(), 86_400);
    // Far future: no panic, whatever the filesystem makes of it.
    let _ = f.fs.set_mtime(&vp(b"/dir"), i64::MAX).await;
    f.fs.set_mtime(&vp(b"/link"), 1_234_567_890).await.unwrap();
    assert_eq!(fs::metadata(f.root.join("file")).unwrap().mtime(), 1_234_567_890);
    assert_eq!(kind(f.fs.set_mtime(&vp(b"/missing"), 0).await), ErrorKind::NotFound);
    assert!(SystemTime::now() > atime);
}

/// Every operation through `link` (a symlink to `target`, which lies outside
/// the root) is refused, and nothing outside changes.
async fn assert_no_escape_through(f: &Fixture, link: &[u8]) {
    let secret = f.outside.join("secret");
    let before = fs::metadata(&secret).unwrap();
    let path = |rest: &[u8]| {
        let mut p = link.to_vec();
        p.extend_from_slice(rest);
        vp(&p)
    };
    let denied = ErrorKind::PermissionDenied;
    let show = String::from_utf8_lossy(link).into_owned();
    assert_eq!(kind(f.fs.metadata(&path(b"/secret")).await), denied, "{show}");
    assert_eq!(kind(f.fs.metadata(&path(b"")).await), denied, "{show}");
    assert_eq!(kind(f.fs.list(&path(b"")).await), denied, "{show}");
    assert_eq!(kind(f.fs.open_read(&path(b"/secret"), 0).await), denied, "{show}");
    for mode in [CREATE, EXCLUSIVE, WriteMode::At(0), WriteMode::At(3), WriteMode::Append] {
        assert_eq!(kind(f.fs.open_write(&path(b"/secret"), mode).await), denied, "{show} {mode:?}");
        assert_eq!(kind(f.fs.open_write(&path(b"/planted"), mode).await), denied, "{show} {mode:?}");
    }
    assert_eq!(kind(f.fs.delete(&path(b"/secret")).await), denied, "{show}");
    assert_eq!(kind(f.fs.mkdir(&path(b"/newdir")).await), denied, "{show}");
    assert_eq!(kind(f.fs.rmdir(&path(b"/newdir")).await), denied, "{show}");
    assert_eq!(kind(f.fs.rename(&path(b"/secret"), &vp(b"/stolen")).await), denied, "{show}");
    assert_eq!(kind(f.fs.set_mode(&path(b"/secret"), 0o777).await), denied, "{show}");
    assert_eq!(kind(f.fs.set_mtime(&path(b"/secret"), 0).await), denied, "{show}");

    let after = fs::metadata(&secret).unwrap();
    assert_eq!(fs::read(&secret).unwrap(), b"top secret");
    assert_eq!(after.mode(), before.mode());
    assert_eq!(after.mtime(), before.mtime());
    assert_eq!(disk_names(&f.outside), vec![b"secret".to_vec()]);
}

#[tokio::test]
async fn symlinks_cannot_escape_the_root() {
    let f = fixture();
    fs::create_dir_all(f.root.join("a/b")).unwrap();
    symlink(&f.outside, f.root.join("absolute")).unwrap();
    symlink("../outside", f.root.join("relative")).unwrap();
    symlink("../../../outside", f.root.join("a/b/deep")).unwrap();
    symlink("../../../../../../../../..", f.root.join("climb")).unwrap();
    // A chain: every hop but the last stays inside.
    symlink("hop2", f.root.join("hop1")).unwrap();
    symlink("a/hop3", f.root.join("hop2")).unwrap();
    symlink("../relative", f.root.join("a/hop3")).unwrap();

    assert_no_escape_through(&f, b"/absolute").await;
    assert_no_escape_through(&f, b"/relative").await;
    assert_no_escape_through(&f, b"/a/b/deep").await;
    assert_no_escape_through(&f, b"/hop1").await;

    // `climb` and a link to `/` lead to the host's root: never readable.
    symlink("/", f.root.join("slash")).unwrap();
    for link in [&b"/climb"[..], b"/slash"] {
        let mut etc = link.to_vec();
        etc.extend_from_slice(b"/etc/passwd");
        assert_eq!(kind(f.fs.metadata(&vp(&etc)).await), ErrorKind::PermissionDenied);
        assert_eq!(kind(read_all(&f.fs, &etc, 0).await), ErrorKind::PermissionDenied);
        assert_eq!(kind(f.fs.list(&vp(link)).await), ErrorKind::PermissionDenied);
    }
    symlink("/etc", f.root.join("etc")).unwrap();
    assert_eq!(kind(read_all(&f.fs, b"/etc/passwd", 0).await), ErrorKind::PermissionDenied);
    assert_eq!(kind(f.fs.list(&vp(b"/etc")).await), ErrorKind::PermissionDenied);
    symlink("/etc/passwd", f.root.join("passwd")).unwrap();
    assert_eq!(kind(read_all(&f.fs, b"/passwd", 0).await), ErrorKind::PermissionDenied);
    assert_eq!(kind(f.fs.metadata(&vp(b"/passwd")).await), ErrorKind::PermissionDenied);

    // The links themselves can still be removed and renamed (they are inside).
    f.fs.rename(&vp(b"/absolute"), &vp(b"/renamed-link")).await.unwrap();
    f.fs.delete(&vp(b"/renamed-link")).await.unwrap();
    assert!(f.outside.join("secret").exists());
}

#[tokio::test]
async fn atomic_upload_over_an_escaping_link_replaces_the_link() {
    let f = fixture();
    symlink(f.outside.join("secret"), f.root.join("link")).unwrap();
    upload(&f.fs, b"/link", CREATE, b"mine").await.unwrap();
    assert_eq!(fs::read(f.root.join("link")).unwrap(), b"mine");
    assert!(!fs::symlink_metadata(f.root.join("link")).unwrap().file_type().is_symlink());
    assert_eq!(fs::read(f.outside.join("secret")).unwrap(), b"top secret");
    // Non-atomic uploads follow the link, so they are refused.
    symlink(f.outside.join("secret"), f.root.join("link2")).unwrap();
    let plain = f.fs.clone().atomic_uploads(false);
    assert_eq!(kind(plain.open_write(&vp(b"/link2"), CREATE).await), ErrorKind::PermissionDenied);
    assert_eq!(fs::read(f.outside.join("secret")).unwrap(), b"top secret");
}

#[tokio::test]
async fn links_inside_the_root_are_followed() {
    let f = fixture();
    fs::create_dir_all(f.root.join("data/deep")).unwrap();
    fs::create_dir(f.root.join("sub")).unwrap();
    fs::write(f.root.join("data/deep/file"), b"content").unwrap();
    symlink("../data", f.root.join("sub/up")).unwrap();
    symlink("/data", f.root.join("absolute-inside")).unwrap();

    assert_eq!(read_all(&f.fs, b"/sub/up/deep/file", 2).await.unwrap(), b"ntent");
    assert_eq!(f.fs.metadata(&vp(b"/sub/up")).await.unwrap().kind, FileKind::Dir);
    upload(&f.fs, b"/sub/up/deep/new", CREATE, b"via link").await.unwrap();
    assert_eq!(fs::read(f.root.join("data/deep/new")).unwrap(), b"via link");
    f.fs.mkdir(&vp(b"/sub/up/made")).await.unwrap();
    assert!(f.root.join("data/made").is_dir());
    // Absolute links are taken as host paths, which lie outside: refused even
    // if the name happens to exist inside.
    assert_eq!(kind(f.fs.metadata(&vp(b"/absolute-inside")).await), ErrorKind::PermissionDenied);
}

#[tokio::test]
async fn odd_names_are_just_names() {
    let f = fixture();
    upload(&f.fs, b"/..%2f", CREATE, b"dots").await.unwrap();
    assert!(f.root.join("..%2f").is_file());
    assert_eq!(read_all(&f.fs, b"/..%2f", 0).await.unwrap(), b"dots");
    assert_eq!(names(&list_all(&f.fs, b"/").await), vec![b"..%2f".to_vec()]);
    // Names of the temporary-upload pattern would be hidden from listings: refused.
    let reserved: &[u8] = b"/.oxftp-upload.0000000000000000.tmp";
    assert_eq!(kind(f.fs.open_write(&vp(reserved), CREATE).await), ErrorKind::InvalidName);
    assert_eq!(kind(f.fs.mkdir(&vp(reserved)).await), ErrorKind::InvalidName);
    assert_eq!(kind(f.fs.rename(&vp(b"/..%2f"), &vp(reserved)).await), ErrorKind::InvalidName);
    upload(&f.fs, b"/..\\..\\x", CREATE, b"backslashes").await.unwrap();
    assert!(f.root.join("..\\..\\x").is_file());
    assert_eq!(disk_names(&f.outside), vec![b"secret".to_vec()]);
}

#[tokio::test]
async fn non_utf8_names_round_trip() {
    let f = fixture();
    let name: &[u8] = b"caf\xe9 \xff\xfe.txt";
    let mut path = b"/".to_vec();
    path.extend_from_slice(name);
    upload(&f.fs, &path, CREATE, b"latin-1").await.unwrap();
    let entries = list_all(&f.fs, b"/").await;
    assert_eq!(names(&entries), vec![name.to_vec()]);
    assert_eq!(entries[0].info.size, 7);
    assert_eq!(f.fs.metadata(&vp(&path)).await.unwrap().kind, FileKind::File);
    assert_eq!(read_all(&f.fs, &path, 0).await.unwrap(), b"latin-1");

    let mut dir = b"/d\x80ir".to_vec();
    f.fs.mkdir(&vp(&dir)).await.unwrap();
    dir.extend_from_slice(b"/in\xc0side");
    upload(&f.fs, &dir, WriteMode::Append, b"x").await.unwrap();
    assert_eq!(names(&list_all(&f.fs, b"/d\x80ir").await), vec![b"in\xc0side".to_vec()]);
    f.fs.delete(&vp(&dir)).await.unwrap();
    f.fs.rmdir(&vp(b"/d\x80ir")).await.unwrap();
}

fn identity(home: &[u8]) -> Identity {
    let mut id = Identity::new("ann", AccessClass::Guest);
    id.home = vp(home);
    id
}

#[tokio::test]
async fn factory_roots_each_session_at_its_home() {
    let f = fixture();
    fs::create_dir_all(f.root.join("home/ann")).unwrap();
    fs::create_dir_all(f.root.join("home/bob")).unwrap();
    fs::write(f.root.join("home/ann/notes"), b"ann's").unwrap();
    fs::write(f.root.join("home/bob/diary"), b"bob's").unwrap();
    symlink("../bob", f.root.join("home/ann/to-bob")).unwrap();
    symlink(&f.outside, f.root.join("home/escape")).unwrap();
    fs::write(f.root.join("home/file"), b"").unwrap();

    let factory = LocalFsFactory::new(&f.root).unwrap();
    let ann = factory.storage_for(&identity(b"/home/ann")).await.unwrap();
    let mut lister = ann.list(&VPath::root()).await.unwrap();
    let page = lister.next_page().await.unwrap().unwrap();
    let mut seen: Vec<Vec<u8>> = page.into_iter().map(|e| e.name).collect();
    seen.sort();
    assert_eq!(seen, vec![b"notes".to_vec(), b"to-bob".to_vec()]);
    assert_eq!(ann.metadata(&vp(b"/notes")).await.unwrap().size, 5);
    // The link to a sibling home leaves ann's root: refused.
    assert_eq!(kind(ann.metadata(&vp(b"/to-bob/diary")).await), ErrorKind::PermissionDenied);

    let missing = factory.storage_for(&identity(b"/home/carol")).await.unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound);
    assert_eq!(missing.message, "home directory does not exist");
    assert_eq!(factory.storage_for(&identity(b"/home/file")).await.unwrap_err().kind, ErrorKind::NotADirectory);
    assert_eq!(factory.storage_for(&identity(b"/home/escape")).await.unwrap_err().kind, ErrorKind::PermissionDenied);

    let whole = factory.storage_for(&identity(b"/")).await.unwrap();
    assert_eq!(whole.metadata(&vp(b"/home/bob/diary")).await.unwrap().size, 5);

    // The atomic setting reaches the storages handed out.
    let plain = LocalFsFactory::new(&f.root).unwrap().atomic_uploads(false);
    let bob = plain.storage_for(&identity(b"/home/bob")).await.unwrap();
    let mut handle = bob.open_write(&vp(b"/diary"), CREATE).await.unwrap();
    handle.write_all(b"today").await.unwrap();
    handle.flush().await.unwrap();
    assert_eq!(fs::read(f.root.join("home/bob/diary")).unwrap(), b"today");
    handle.commit().await.unwrap();
}

/// A process that creates a temporary upload file and holds its lock, as a
/// live upload does, until it is killed.
struct LockHolder(std::process::Child);

impl LockHolder {
    fn start(path: &Path) -> LockHolder {
        use std::io::BufRead;
        let script = "import fcntl, sys, time\n\
                      f = open(sys.argv[1], 'wb'); f.write(b'partial upload')\n\
                      fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(120)";
        let mut child = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "locked");
        LockHolder(child)
    }

    /// `kill -9`: the kernel releases the lock, the file stays.
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_sweep_removes_only_temporary_files_nobody_writes() {
    let f = fixture();
    fs::create_dir_all(f.root.join("a/b/c")).unwrap();
    // Left by a server that died: nobody holds their locks.
    let dead =
        [f.root.join(".oxftp-upload.00000000000000aa.tmp"), f.root.join("a/b/c/.oxftp-upload.00000000000000bb.tmp")];
    for path in &dead {
        fs::write(path, vec![1u8; 5000]).unwrap();
    }
    // Names that only look alike, and a link to a directory outside: untouched.
    fs::write(f.root.join("a/.oxftp-upload.x"), b"mine").unwrap();
    fs::write(f.root.join("a/report.tmp"), b"mine").unwrap();
    fs::write(f.outside.join(".oxftp-upload.00000000000000cc.tmp"), b"not ours").unwrap();
    symlink(&f.outside, f.root.join("a/out")).unwrap();
    // Another process writing an upload (its lock held) ...
    let other = f.root.join("a/.oxftp-upload.00000000000000dd.tmp");
    let holder = LockHolder::start(&other);
    // ... and an upload of this process in progress.
    let mut live = f.fs.open_write(&vp(b"/a/b/live.bin"), WriteMode::Create { exclusive: false }).await.unwrap();
    live.write_all(&[9u8; 100_000]).await.unwrap();
    live.flush().await.unwrap();

    let report = f.fs.sweep_abandoned_uploads().await.unwrap();
    assert_eq!((report.removed, report.bytes, report.in_progress), (2, 10_000, 2), "{report:?}");
    for path in &dead {
        assert!(!path.exists(), "{} not swept", path.display());
    }
    for kept in ["a/.oxftp-upload.x", "a/report.tmp"] {
        assert_eq!(fs::read(f.root.join(kept)).unwrap(), b"mine");
    }
    assert!(f.outside.join(".oxftp-upload.00000000000000cc.tmp").exists(), "a symlink was followed");
    assert!(other.exists());
    live.commit().await.unwrap();
    assert_eq!(fs::read(f.root.join("a/b/live.bin")).unwrap(), vec![9u8; 100_000]);

    // The other process dies (kill -9): its file goes at the next sweep.
    holder.kill();
    let report = f.fs.sweep_abandoned_uploads().await.unwrap();
    assert_eq!((report.removed, report.in_progress), (1, 0), "{report:?}");
    assert!(!other.exists());
    // Through the factory too (what the server calls).
    fs::write(&dead[0], b"again").unwrap();
    let factory = LocalFsFactory::new(&f.root).unwrap();
    assert_eq!(factory.sweep_abandoned_uploads().await.unwrap().removed, 1);
}

/// Uploads racing a sweep that runs over and over never lose their file
/// (a temporary file the sweep takes in the instant between its creation
/// and its lock is given up, and the upload starts over under a new name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_survive_sweeps_running_alongside() {
    let f = fixture();
    let fs2 = f.fs.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let sweeper = tokio::spawn(async move {
        let mut sweeps = 0;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            fs2.sweep_abandoned_uploads().await.unwrap();
            sweeps += 1;
        }
        sweeps
    });
    for i in 0..300u32 {
        let name = format!("/f{i}");
        upload(&f.fs, name.as_bytes(), WriteMode::Create { exclusive: false }, &i.to_le_bytes()).await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(sweeper.await.unwrap() > 10, "the sweeps ran alongside");
    for i in 0..300u32 {
        assert_eq!(fs::read(f.root.join(format!("f{i}"))).unwrap(), i.to_le_bytes());
    }
}
