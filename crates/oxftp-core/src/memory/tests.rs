//! MemoryStorage against the POSIX behaviour it imitates.

use oxftp_proto::listing::FileKind;

use super::*;
use crate::test_util::Subject;
use crate::test_util::helpers::{kind_of as kind, list_names, p, read_at as read_all, write as upload};
use tokio::io::AsyncWriteExt;

const CREATE: WriteMode = WriteMode::Create { exclusive: false };

#[tokio::test]
async fn upload_is_invisible_until_commit_and_readable_after() {
    let m = MemoryStorage::new();
    let mut w = m.open_write(&p("/a.txt"), CREATE).await.unwrap();
    w.write_all(b"hello").await.unwrap();
    assert_eq!(kind(m.metadata(&p("/a.txt")).await), ErrorKind::NotFound);
    w.commit().await.unwrap();
    assert_eq!(read_all(&m, "/a.txt", 0).await.unwrap(), b"hello");
    assert_eq!(read_all(&m, "/a.txt", 3).await.unwrap(), b"lo");
    assert_eq!(read_all(&m, "/a.txt", 99).await.unwrap(), b"");
    let info = m.metadata(&p("/a.txt")).await.unwrap();
    assert_eq!((info.kind, info.size, info.mode, info.nlink), (FileKind::File, 5, Some(0o644), 1));
    assert!(info.mtime.unwrap() > 1_600_000_000);
    assert_eq!(m.used_bytes(), 5);
}

#[tokio::test]
async fn dropped_or_aborted_upload_leaves_nothing() {
    let m = MemoryStorage::new();
    m.put_file(&p("/keep"), "old").unwrap();
    let mut w = m.open_write(&p("/keep"), CREATE).await.unwrap();
    w.write_all(b"new contents").await.unwrap();
    assert_eq!(m.used_bytes(), 3 + 12);
    w.abort().await;
    assert_eq!(m.file_contents(&p("/keep")).unwrap(), b"old");
    assert_eq!(m.used_bytes(), 3);
    let mut w = m.open_write(&p("/gone"), CREATE).await.unwrap();
    w.write_all(b"x").await.unwrap();
    drop(w);
    assert_eq!(kind(m.metadata(&p("/gone")).await), ErrorKind::NotFound);
    assert_eq!(m.used_bytes(), 3);
}

#[tokio::test]
async fn write_modes_follow_their_contracts() {
    let m = MemoryStorage::new();
    m.put_file(&p("/f"), "0123456789").unwrap();
    m.set_mode(&p("/f"), 0o600).await.unwrap();
    upload(&m, "/f", WriteMode::At(4), b"ab").await.unwrap();
    assert_eq!(m.file_contents(&p("/f")).unwrap(), b"0123ab");
    // Rewriting keeps the mode, as on Unix.
    assert_eq!(m.metadata(&p("/f")).await.unwrap().mode, Some(0o600));
    upload(&m, "/f", WriteMode::Append, b"Z").await.unwrap();
    assert_eq!(m.file_contents(&p("/f")).unwrap(), b"0123abZ");
    upload(&m, "/new", WriteMode::Append, b"fresh").await.unwrap();
    assert_eq!(m.file_contents(&p("/new")).unwrap(), b"fresh");
    upload(&m, "/f", WriteMode::At(0), b"zero").await.unwrap();
    assert_eq!(m.file_contents(&p("/f")).unwrap(), b"zero");
    assert_eq!(kind(m.open_write(&p("/f"), WriteMode::At(5)).await), ErrorKind::Other);
    assert_eq!(kind(m.open_write(&p("/missing"), WriteMode::At(1)).await), ErrorKind::NotFound);
    assert_eq!(kind(m.open_write(&p("/f"), WriteMode::Create { exclusive: true }).await), ErrorKind::AlreadyExists);
    upload(&m, "/f", CREATE, b"replaced").await.unwrap();
    assert_eq!(m.file_contents(&p("/f")).unwrap(), b"replaced");
    assert_eq!(m.used_bytes(), 8 + 5);
}

#[tokio::test]
async fn concurrent_appends_both_land() {
    let m = MemoryStorage::new();
    m.put_file(&p("/log"), "a").unwrap();
    let mut w1 = m.open_write(&p("/log"), WriteMode::Append).await.unwrap();
    let mut w2 = m.open_write(&p("/log"), WriteMode::Append).await.unwrap();
    w1.write_all(b"b").await.unwrap();
    w2.write_all(b"c").await.unwrap();
    w1.commit().await.unwrap();
    w2.commit().await.unwrap();
    assert_eq!(m.file_contents(&p("/log")).unwrap(), b"abc");
    assert_eq!(m.used_bytes(), 3);
}

#[tokio::test]
async fn exclusive_create_rechecks_at_commit() {
    let m = MemoryStorage::new();
    let mut w = m.open_write(&p("/race"), WriteMode::Create { exclusive: true }).await.unwrap();
    w.write_all(b"late").await.unwrap();
    m.put_file(&p("/race"), "first").unwrap();
    assert_eq!(kind(w.commit().await), ErrorKind::AlreadyExists);
    assert_eq!(m.file_contents(&p("/race")).unwrap(), b"first");
    assert_eq!(m.used_bytes(), 5);
}

#[tokio::test]
async fn upload_errors_match_posix() {
    let m = MemoryStorage::new();
    m.put_file(&p("/file"), "x").unwrap();
    m.create_dir_all(&p("/dir")).unwrap();
    assert_eq!(kind(m.open_write(&p("/dir"), CREATE).await), ErrorKind::IsADirectory);
    assert_eq!(kind(m.open_write(&p("/"), CREATE).await), ErrorKind::IsADirectory);
    assert_eq!(kind(m.open_write(&p("/nodir/f"), CREATE).await), ErrorKind::NotFound);
    assert_eq!(kind(m.open_write(&p("/file/f"), CREATE).await), ErrorKind::NotADirectory);
    // The parent vanishing during the upload fails the commit.
    let mut w = m.open_write(&p("/dir/f"), CREATE).await.unwrap();
    w.write_all(b"data").await.unwrap();
    m.rmdir(&p("/dir")).await.unwrap();
    assert_eq!(kind(w.commit().await), ErrorKind::NotFound);
    assert_eq!(m.used_bytes(), 1);
}

#[tokio::test]
async fn reads_and_lists_refuse_the_wrong_kind() {
    let m = MemoryStorage::new();
    m.put_file(&p("/d/f"), "x").unwrap();
    assert_eq!(kind(read_all(&m, "/d", 0).await), ErrorKind::IsADirectory);
    assert_eq!(kind(read_all(&m, "/nope", 0).await), ErrorKind::NotFound);
    assert_eq!(kind(m.list(&p("/d/f")).await), ErrorKind::NotADirectory);
    assert_eq!(kind(m.list(&p("/nope")).await), ErrorKind::NotFound);
    assert_eq!(kind(m.metadata(&p("/d/f/g")).await), ErrorKind::NotADirectory);
}

#[tokio::test]
async fn list_is_sorted_raw_bytes_with_facts() {
    let m = MemoryStorage::new();
    m.put_file(&p("/b"), "12").unwrap();
    m.mkdir(&p("/a")).await.unwrap();
    let raw = VPath::root().join(b"\xff\xfename").unwrap();
    m.put_file(&raw, "").unwrap();
    assert_eq!(list_names(&m, "/").await.unwrap(), vec![b"a".to_vec(), b"b".to_vec(), b"\xff\xfename".to_vec()]);
    let mut lister = m.list(&VPath::root()).await.unwrap();
    let page = lister.next_page().await.unwrap().unwrap();
    assert!(page[0].info.is_dir());
    assert_eq!(page[1].info.size, 2);
    assert_ne!(page[0].info.unique, page[1].info.unique);
    assert_eq!(m.metadata(&VPath::root()).await.unwrap().nlink, 3);
    assert!(list_names(&m, "/a").await.unwrap().is_empty());
}

#[tokio::test]
async fn mkdir_rmdir_delete_follow_posix() {
    let m = MemoryStorage::new();
    m.mkdir(&p("/d")).await.unwrap();
    assert_eq!(m.metadata(&p("/d")).await.unwrap().mode, Some(0o755));
    assert_eq!(kind(m.mkdir(&p("/d")).await), ErrorKind::AlreadyExists);
    assert_eq!(kind(m.mkdir(&p("/")).await), ErrorKind::AlreadyExists);
    assert_eq!(kind(m.mkdir(&p("/x/y")).await), ErrorKind::NotFound);
    m.put_file(&p("/d/f"), "abc").unwrap();
    assert_eq!(kind(m.mkdir(&p("/d/f/g")).await), ErrorKind::NotADirectory);
    assert_eq!(kind(m.rmdir(&p("/d")).await), ErrorKind::DirectoryNotEmpty);
    assert_eq!(kind(m.rmdir(&p("/d/f")).await), ErrorKind::NotADirectory);
    assert_eq!(kind(m.rmdir(&p("/")).await), ErrorKind::PermissionDenied);
    assert_eq!(kind(m.rmdir(&p("/none")).await), ErrorKind::NotFound);
    assert_eq!(kind(m.delete(&p("/d")).await), ErrorKind::IsADirectory);
    assert_eq!(kind(m.delete(&p("/")).await), ErrorKind::IsADirectory);
    assert_eq!(kind(m.delete(&p("/d/none")).await), ErrorKind::NotFound);
    assert_eq!(m.entry_count(), 2);
    m.delete(&p("/d/f")).await.unwrap();
    assert_eq!(m.used_bytes(), 0);
    m.rmdir(&p("/d")).await.unwrap();
    assert_eq!(m.entry_count(), 0);
    assert!(list_names(&m, "/").await.unwrap().is_empty());
}

#[tokio::test]
async fn rename_follows_rename2() {
    let m = MemoryStorage::new();
    m.put_file(&p("/f"), "file").unwrap();
    m.put_file(&p("/g"), "gg").unwrap();
    m.put_file(&p("/d/inner"), "i").unwrap();
    m.mkdir(&p("/empty")).await.unwrap();
    // File over file replaces it and frees its bytes.
    m.rename(&p("/g"), &p("/f")).await.unwrap();
    assert_eq!(m.file_contents(&p("/f")).unwrap(), b"gg");
    assert_eq!(m.used_bytes(), 3);
    assert_eq!(kind(m.metadata(&p("/g")).await), ErrorKind::NotFound);
    assert_eq!(kind(m.rename(&p("/f"), &p("/d")).await), ErrorKind::IsADirectory);
    assert_eq!(kind(m.rename(&p("/d"), &p("/f")).await), ErrorKind::NotADirectory);
    assert_eq!(kind(m.rename(&p("/empty"), &p("/d")).await), ErrorKind::DirectoryNotEmpty);
    assert_eq!(kind(m.rename(&p("/d"), &p("/d/inner/x")).await), ErrorKind::InvalidName);
    assert_eq!(kind(m.rename(&p("/d/inner"), &p("/d")).await), ErrorKind::IsADirectory);
    assert_eq!(kind(m.rename(&p("/nope"), &p("/x")).await), ErrorKind::NotFound);
    assert_eq!(kind(m.rename(&p("/f"), &p("/nodir/x")).await), ErrorKind::NotFound);
    assert_eq!(kind(m.rename(&p("/"), &p("/x")).await), ErrorKind::PermissionDenied);
    m.rename(&p("/f"), &p("/f")).await.unwrap();
    // A directory moves with its contents, onto an empty directory.
    m.rename(&p("/d"), &p("/empty")).await.unwrap();
    assert_eq!(m.file_contents(&p("/empty/inner")).unwrap(), b"i");
    assert_eq!(kind(m.metadata(&p("/d")).await), ErrorKind::NotFound);
    assert_eq!(m.entry_count(), 3);
}

#[tokio::test]
async fn set_mode_and_mtime_are_stored() {
    let m = MemoryStorage::new();
    m.put_file(&p("/f"), "x").unwrap();
    m.set_mode(&p("/f"), 0o100_4751).await.unwrap();
    m.set_mtime(&p("/f"), 86_400).await.unwrap();
    let info = m.metadata(&p("/f")).await.unwrap();
    assert_eq!((info.mode, info.mtime), (Some(0o4751), Some(86_400)));
    assert_eq!(kind(m.set_mode(&p("/none"), 0o644).await), ErrorKind::NotFound);
    assert_eq!(kind(m.set_mtime(&p("/none"), 0).await), ErrorKind::NotFound);
    assert_eq!(m.capabilities(), Capabilities::ALL);
}

#[tokio::test]
async fn byte_limit_covers_uploads_in_progress() {
    let m = MemoryStorage::with_limits(Some(10), None);
    m.put_file(&p("/six"), "123456").unwrap();
    assert_eq!(kind(m.put_file(&p("/five"), "12345")), ErrorKind::StorageFull);
    let mut w1 = m.open_write(&p("/a"), CREATE).await.unwrap();
    let mut w2 = m.open_write(&p("/b"), CREATE).await.unwrap();
    w1.write_all(b"123").await.unwrap();
    let e = w2.write_all(b"12").await.unwrap_err();
    assert_eq!(StorageError::from(e).kind, ErrorKind::StorageFull);
    w1.commit().await.unwrap();
    drop(w2);
    assert_eq!(m.used_bytes(), 9);
    // Replacing a file frees the old bytes.
    upload(&m, "/six", CREATE, b"1").await.unwrap();
    assert_eq!(m.used_bytes(), 4);
    upload(&m, "/six", WriteMode::Append, b"234567").await.unwrap();
    assert_eq!(m.used_bytes(), 10);
}

#[tokio::test]
async fn entry_limit_counts_files_and_dirs() {
    let m = MemoryStorage::with_limits(None, Some(2));
    m.mkdir(&p("/d")).await.unwrap();
    upload(&m, "/d/f", CREATE, b"x").await.unwrap();
    assert_eq!(kind(m.mkdir(&p("/e")).await), ErrorKind::StorageFull);
    assert_eq!(kind(upload(&m, "/g", CREATE, b"y").await), ErrorKind::StorageFull);
    // Replacing an existing file needs no new entry.
    upload(&m, "/d/f", CREATE, b"z").await.unwrap();
    assert_eq!(m.used_bytes(), 1);
    m.delete(&p("/d/f")).await.unwrap();
    m.mkdir(&p("/e")).await.unwrap();
}

#[tokio::test]
async fn clones_share_the_tree() {
    let m = MemoryStorage::new();
    let shared: Arc<dyn Storage> = Arc::new(m.clone());
    upload(shared.as_ref(), "/x", CREATE, b"seen").await.unwrap();
    assert_eq!(m.file_contents(&p("/x")).unwrap(), b"seen");
    assert!(format!("{m:?}").contains("used_bytes: 4"));
}

crate::storage_conformance!(|| async { Some(Subject::new(MemoryStorage::new())) });
