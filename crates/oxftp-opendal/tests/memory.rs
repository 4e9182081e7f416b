//! The Storage contract over OpenDAL's in-memory and local fs services:
//! fast, no network, same code paths as S3 except the service itself.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use oxftp_core::storage::{ErrorKind, Storage, WriteMode};
use oxftp_opendal::{OpendalConfig, OpendalStorage, UploadListener};
use oxftp_proto::path::VPath;
use tokio::io::AsyncWriteExt;

mod ops;

use ops::{get, names, p, put};

fn memory(tweak: impl FnOnce(&mut OpendalConfig)) -> OpendalStorage {
    let mut cfg = OpendalConfig { scheme: "memory".into(), ..OpendalConfig::default() };
    tweak(&mut cfg);
    OpendalStorage::from_config(&cfg).unwrap()
}

// The conformance suite every backend runs, on OpenDAL's memory service.
oxftp_core::storage_conformance!(|| async { Some(oxftp_core::test_util::Subject::new(memory(|_| {}))) });

#[tokio::test]
async fn directories_are_prefixes_with_markers() {
    let s = memory(|_| {});
    assert!(s.metadata(&VPath::root()).await.unwrap().is_dir());
    assert_eq!(s.metadata(&p("/docs")).await.unwrap_err().kind, ErrorKind::NotFound);
    s.mkdir(&p("/docs")).await.unwrap();
    assert!(s.metadata(&p("/docs")).await.unwrap().is_dir());
    assert_eq!(names(&s, "/").await, vec![("docs".into(), true)]);
    assert!(names(&s, "/docs").await.is_empty());
    assert_eq!(s.mkdir(&p("/docs")).await.unwrap_err().kind, ErrorKind::AlreadyExists);
    assert_eq!(s.mkdir(&p("/nope/sub")).await.unwrap_err().kind, ErrorKind::NotFound);
    put(&s, "/docs/a.txt", b"hello").await;
    assert_eq!(s.rmdir(&p("/docs")).await.unwrap_err().kind, ErrorKind::DirectoryNotEmpty);
    assert_eq!(s.rmdir(&p("/docs/a.txt")).await.unwrap_err().kind, ErrorKind::NotADirectory);
    assert_eq!(s.list(&p("/docs/a.txt")).await.err().unwrap().kind, ErrorKind::NotADirectory);
    assert_eq!(s.delete(&p("/docs")).await.unwrap_err().kind, ErrorKind::IsADirectory);
    s.delete(&p("/docs/a.txt")).await.unwrap();
    assert_eq!(s.delete(&p("/docs/a.txt")).await.unwrap_err().kind, ErrorKind::NotFound);
    s.rmdir(&p("/docs")).await.unwrap();
    assert_eq!(s.metadata(&p("/docs")).await.unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(s.rmdir(&VPath::root()).await.unwrap_err().kind, ErrorKind::PermissionDenied);
}

#[tokio::test]
async fn keys_below_a_prefix_make_it_a_directory() {
    let s = memory(|_| {});
    // Written behind the storage's back, as another tool would: no markers.
    s.operator().write("a/b/c.txt", "x").await.unwrap();
    assert!(s.metadata(&p("/a")).await.unwrap().is_dir());
    assert!(s.metadata(&p("/a/b")).await.unwrap().is_dir());
    assert_eq!(names(&s, "/").await, vec![("a".into(), true)]);
    assert_eq!(names(&s, "/a").await, vec![("b".into(), true)]);
    assert_eq!(names(&s, "/a/b").await, vec![("c.txt".into(), false)]);
}

#[tokio::test]
async fn reads_sizes_and_offsets() {
    let s = memory(|_| {});
    put(&s, "/f.txt", b"hello world").await;
    let info = s.metadata(&p("/f.txt")).await.unwrap();
    assert!(info.is_file());
    assert_eq!(info.size, 11);
    // (The memory service keeps no modification times; S3 tests check MDTM.)
    assert_eq!(get(&s, "/f.txt", 0).await, b"hello world");
    assert_eq!(get(&s, "/f.txt", 6).await, b"world");
    assert_eq!(get(&s, "/f.txt", 11).await, b"");
    assert_eq!(get(&s, "/f.txt", 999).await, b"");
    s.mkdir(&p("/d")).await.unwrap();
    assert_eq!(s.open_read(&p("/d"), 0).await.unwrap_err().kind, ErrorKind::IsADirectory);
    assert_eq!(s.open_read(&p("/missing"), 0).await.unwrap_err().kind, ErrorKind::NotFound);
    // Replacing keeps one object.
    put(&s, "/f.txt", b"new").await;
    assert_eq!(get(&s, "/f.txt", 0).await, b"new");
    assert_eq!(names(&s, "/").await.len(), 2);
}

#[tokio::test]
async fn uploads_check_their_target() {
    let s = memory(|_| {});
    put(&s, "/f", b"1").await;
    let exclusive = WriteMode::Create { exclusive: true };
    assert_eq!(s.open_write(&p("/f"), exclusive).await.err().unwrap().kind, ErrorKind::AlreadyExists);
    assert_eq!(s.open_write(&p("/nodir/f"), exclusive).await.err().unwrap().kind, ErrorKind::NotFound);
    assert_eq!(s.open_write(&p("/f/g"), exclusive).await.err().unwrap().kind, ErrorKind::NotADirectory);
    s.mkdir(&p("/d")).await.unwrap();
    assert_eq!(s.open_write(&p("/d"), exclusive).await.err().unwrap().kind, ErrorKind::IsADirectory);
    assert_eq!(s.open_write(&VPath::root(), exclusive).await.err().unwrap().kind, ErrorKind::IsADirectory);
    assert_eq!(
        s.open_write(&p("/bad\u{fffd}").join(b"\xff").unwrap(), exclusive).await.err().unwrap().kind,
        ErrorKind::InvalidName
    );
    assert_eq!(s.metadata(&VPath::root().join(b"\xff").unwrap()).await.unwrap_err().kind, ErrorKind::InvalidName);
}

#[tokio::test]
async fn aborted_and_dropped_uploads_leave_nothing() {
    let s = memory(|c| c.chunk_size = Some(1024));
    let mut w = s.open_write(&p("/gone"), WriteMode::Create { exclusive: false }).await.unwrap();
    w.write_all(&vec![7u8; 10_000]).await.unwrap();
    w.abort().await;
    assert_eq!(s.metadata(&p("/gone")).await.unwrap_err().kind, ErrorKind::NotFound);
    let mut w = s.open_write(&p("/dropped"), WriteMode::Create { exclusive: false }).await.unwrap();
    w.write_all(&vec![7u8; 10_000]).await.unwrap();
    drop(w);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(s.metadata(&p("/dropped")).await.unwrap_err().kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn capabilities_are_honest() {
    let s = memory(|_| {});
    let caps = s.capabilities();
    assert!(caps.read_at_offset);
    assert!(caps.rename);
    assert!(!caps.set_mode);
    assert!(!caps.set_mtime);
    put(&s, "/f", b"x").await;
    assert_eq!(s.set_mtime(&p("/f"), 0).await.unwrap_err().kind, ErrorKind::Unsupported);
    assert_eq!(s.set_mode(&p("/f"), 0o600).await.unwrap_err().kind, ErrorKind::Unsupported);
    if !caps.append {
        assert_eq!(s.open_write(&p("/f"), WriteMode::Append).await.err().unwrap().kind, ErrorKind::Unsupported);
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(VPath, u64)>>);

impl UploadListener for Recorder {
    fn upload_complete(&self, path: &VPath, bytes: u64) {
        self.0.lock().unwrap().push((path.clone(), bytes));
    }
}

#[tokio::test]
async fn listener_hears_only_committed_uploads() {
    let rec = Arc::new(Recorder::default());
    let s = memory(|_| {}).with_listener(rec.clone());
    put(&s, "/one", b"12345").await;
    let mut w = s.open_write(&p("/two"), WriteMode::Create { exclusive: false }).await.unwrap();
    w.write_all(b"abc").await.unwrap();
    w.abort().await;
    assert_eq!(*rec.0.lock().unwrap(), vec![(p("/one"), 5)]);
}

#[tokio::test]
async fn listings_come_in_pages() {
    let s = memory(|c| c.list_page_size = Some(7));
    s.mkdir(&p("/many")).await.unwrap();
    for i in 0..50 {
        s.operator().write(&format!("many/f{i:03}"), "x").await.unwrap();
    }
    let mut lister = s.list(&p("/many")).await.unwrap();
    let mut total = 0;
    let mut pages = 0;
    while let Some(page) = lister.next_page().await.unwrap() {
        assert!(page.len() <= 7);
        total += page.len();
        pages += 1;
    }
    assert_eq!(total, 50);
    assert!(pages >= 8);
    assert!(lister.next_page().await.unwrap().is_none());
}

#[tokio::test]
async fn renames_files_and_bounded_directories() {
    let s = memory(|_| {});
    put(&s, "/a.txt", b"A").await;
    s.rename(&p("/a.txt"), &p("/b.txt")).await.unwrap();
    assert_eq!(get(&s, "/b.txt", 0).await, b"A");
    assert_eq!(s.metadata(&p("/a.txt")).await.unwrap_err().kind, ErrorKind::NotFound);
    // Replaces an existing file.
    put(&s, "/c.txt", b"C").await;
    s.rename(&p("/c.txt"), &p("/b.txt")).await.unwrap();
    assert_eq!(get(&s, "/b.txt", 0).await, b"C");
    assert_eq!(s.rename(&p("/missing"), &p("/x")).await.unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(s.rename(&p("/b.txt"), &p("/nodir/x")).await.unwrap_err().kind, ErrorKind::NotFound);
    s.mkdir(&p("/d")).await.unwrap();
    s.mkdir(&p("/d/empty")).await.unwrap();
    put(&s, "/d/f1", b"1").await;
    put(&s, "/d/empty/../f2", b"2").await;
    // Directory rename is off unless configured.
    assert_eq!(s.rename(&p("/d"), &p("/e")).await.unwrap_err().kind, ErrorKind::Unsupported);

    let s2 = OpendalStorage::with_tuning(
        s.operator().clone(),
        oxftp_opendal::Tuning { rename_dir_limit: Some(3), ..Default::default() },
    );
    assert_eq!(s2.rename(&p("/d"), &p("/d/inner")).await.unwrap_err().kind, ErrorKind::InvalidName);
    s2.rename(&p("/d"), &p("/e")).await.unwrap();
    assert_eq!(names(&s2, "/e").await, vec![("empty".into(), true), ("f1".into(), false), ("f2".into(), false)]);
    assert_eq!(get(&s2, "/e/f1", 0).await, b"1");
    assert_eq!(s2.metadata(&p("/d")).await.unwrap_err().kind, ErrorKind::NotFound);
    // One object over the limit: refused, nothing moved.
    put(&s2, "/e/f3", b"3").await;
    assert_eq!(s2.rename(&p("/e"), &p("/g")).await.unwrap_err().kind, ErrorKind::PermissionDenied);
    assert_eq!(names(&s2, "/e").await.len(), 4);
    assert_eq!(s2.metadata(&p("/g")).await.unwrap_err().kind, ErrorKind::NotFound);
    // Onto an existing name.
    s2.mkdir(&p("/h")).await.unwrap();
    assert_eq!(s2.rename(&p("/h"), &p("/b.txt")).await.unwrap_err().kind, ErrorKind::AlreadyExists);
}

#[tokio::test]
async fn fs_service_appends_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = BTreeMap::new();
    options.insert("root".to_string(), dir.path().display().to_string());
    let cfg = OpendalConfig { scheme: "fs".into(), options, ..OpendalConfig::default() };
    let s = OpendalStorage::from_config(&cfg).unwrap();
    s.check().await.unwrap();
    s.mkdir(&p("/sub")).await.unwrap();
    assert!(dir.path().join("sub").is_dir());
    put(&s, "/sub/f", b"hello").await;
    assert_eq!(std::fs::read(dir.path().join("sub/f")).unwrap(), b"hello");
    let caps = s.capabilities();
    assert!(caps.append && caps.write_at_offset, "fs can append");
    {
        let mut w = s.open_write(&p("/sub/f"), WriteMode::Append).await.unwrap();
        w.write_all(b" world").await.unwrap();
        w.commit().await.unwrap();
        assert_eq!(get(&s, "/sub/f", 0).await, b"hello world");
        // Resume at the end works; anywhere else would rewrite the object: refused.
        let mut w = s.open_write(&p("/sub/f"), WriteMode::At(11)).await.unwrap();
        w.write_all(b"!").await.unwrap();
        w.commit().await.unwrap();
        assert_eq!(get(&s, "/sub/f", 0).await, b"hello world!");
        assert_eq!(s.open_write(&p("/sub/f"), WriteMode::At(3)).await.err().unwrap().kind, ErrorKind::Unsupported);
    }
    assert_eq!(s.rmdir(&p("/sub")).await.unwrap_err().kind, ErrorKind::DirectoryNotEmpty);
    s.rename(&p("/sub/f"), &p("/g")).await.unwrap();
    s.rmdir(&p("/sub")).await.unwrap();
    assert!(!dir.path().join("sub").exists());
}

#[test]
fn unknown_scheme_is_a_config_error() {
    let cfg = OpendalConfig { scheme: "nosuch".into(), ..OpendalConfig::default() };
    let err = OpendalStorage::from_config(&cfg).unwrap_err();
    assert!(err.to_string().contains("nosuch"), "{err}");
}

#[test]
fn gcs_and_azure_blob_are_compiled_in() {
    let build = |scheme: &str, pairs: &[(&str, &str)]| {
        let cfg = OpendalConfig {
            scheme: scheme.into(),
            options: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..OpendalConfig::default()
        };
        OpendalStorage::from_config(&cfg)
    };
    let gcs = build("gcs", &[("bucket", "ftp-data"), ("endpoint", "http://127.0.0.1:9")]).unwrap();
    assert_eq!(gcs.operator().info().scheme(), "gcs");
    let az = build(
        "azblob",
        &[
            ("container", "ftp"),
            ("account_name", "devstoreaccount1"),
            ("account_key", "a2V5"),
            ("endpoint", "http://127.0.0.1:9/devstoreaccount1"),
        ],
    )
    .unwrap();
    assert_eq!(az.operator().info().scheme(), "azblob");
    // Azure can append (to append blobs), so APPE is offered there.
    assert!(az.capabilities().append);
}

#[tokio::test]
async fn ensure_dir_makes_homes() {
    let s = memory(|_| {});
    s.ensure_dir(&p("/home/ann")).await.unwrap();
    assert!(s.metadata(&p("/home")).await.unwrap().is_dir());
    assert!(s.metadata(&p("/home/ann")).await.unwrap().is_dir());
    assert!(names(&s, "/home/ann").await.is_empty());
    s.ensure_dir(&p("/home/ann")).await.unwrap();
    put(&s, "/file", b"x").await;
    assert_eq!(s.ensure_dir(&p("/file/sub")).await.unwrap_err().kind, ErrorKind::NotADirectory);
    s.ensure_dir(&VPath::root()).await.unwrap();
}

#[tokio::test]
async fn factory_creates_homes_at_login_and_roots_sessions_there() {
    use oxftp_core::auth::{AccessClass, Identity};
    use oxftp_core::storage::StorageFactory;
    let store = Arc::new(memory(|_| {}));
    let factory = oxftp_opendal::OpendalFactory::new(Arc::clone(&store));
    assert_eq!(factory.capabilities(), store.capabilities());
    let mut al = Identity::new("al", AccessClass::Guest);
    al.home = p("/homes/al");
    assert_eq!(store.metadata(&p("/homes/al")).await.unwrap_err().kind, ErrorKind::NotFound);
    let session = factory.storage_for(&al).await.unwrap();
    assert!(store.metadata(&p("/homes/al")).await.unwrap().is_dir(), "created at the first login");
    let mut w = session.open_write(&p("/notes"), WriteMode::Create { exclusive: false }).await.unwrap();
    w.write_all(b"al's").await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(get(&store, "/homes/al/notes", 0).await, b"al's", "the session's / is the home");
    // A second login finds it there; a root home needs nothing created.
    factory.storage_for(&al).await.unwrap();
    let whole = factory.storage_for(&Identity::new("root", AccessClass::User)).await.unwrap();
    assert!(whole.metadata(&p("/homes/al/notes")).await.unwrap().is_file());
}
