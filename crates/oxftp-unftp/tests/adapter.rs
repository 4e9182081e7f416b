//! The adapter's own behaviour over unftp-sbe-fs on temporary directories:
//! the fall-backs where their traits say less than ours (no REST, direct
//! uploads, a failing `put`), links, the user type, and the factory's
//! confinement.

mod common;

use std::os::unix::fs::symlink;
use std::sync::Arc;

use common::{Account, Accounts, Tweaked};
use oxftp_core::auth::{AccessClass, Identity};
use oxftp_core::storage::{ErrorKind, Storage, StorageError, StorageFactory, WriteMode};
use oxftp_core::test_util::Subject;
use oxftp_core::test_util::helpers::{kind_of, list_names, p, read_all, read_at, upload};
use oxftp_proto::listing::FileKind;
use oxftp_unftp::unftp_core::auth::{DefaultUser, DefaultUserDetailProvider};
use oxftp_unftp::{UnftpStorage, UnftpStorageFactory, Uploads, local_path};
use tokio::io::AsyncWriteExt;
use unftp_sbe_fs::Filesystem;

// The whole suite again on a back-end without REST: downloads at an offset
// by skipping, APPE and REST+STOR refused, as the capabilities say.
oxftp_core::storage_conformance!(one_test conformance_without_their_rest, || async {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = UnftpStorage::new(Tweaked::new(dir.path()), DefaultUser);
    Some(Subject::new(storage).keeping(dir))
});

fn sbe_fs(dir: &std::path::Path) -> UnftpStorage<Filesystem, DefaultUser> {
    UnftpStorage::new(Filesystem::new(dir).expect("open"), DefaultUser)
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[tokio::test]
async fn capabilities_follow_their_features() {
    let dir = tempfile::tempdir().unwrap();
    let caps = sbe_fs(dir.path()).capabilities();
    assert!(caps.read_at_offset && caps.write_at_offset && caps.append && caps.rename);
    assert!(!caps.set_mode && !caps.set_mtime, "not in their trait");
    let without = UnftpStorage::new(Tweaked::new(dir.path()), DefaultUser).capabilities();
    assert!(without.read_at_offset, "emulated by skipping");
    assert!(!without.write_at_offset && !without.append && without.rename);
}

#[tokio::test]
async fn downloads_start_at_any_offset_without_their_rest() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(300_000);
    std::fs::write(dir.path().join("big"), &data).unwrap();
    let s = UnftpStorage::new(Tweaked::new(dir.path()), DefaultUser);
    for offset in [0usize, 1, 65_536, 299_999, 300_000] {
        assert_eq!(read_at(&s, "/big", offset as u64).await.unwrap(), &data[offset..], "offset {offset}");
    }
    assert_eq!(read_at(&s, "/big", 400_000).await.unwrap(), b"", "past the end");
    assert_eq!(kind_of(s.open_write(&p("/big"), WriteMode::Append).await), ErrorKind::Unsupported);
    assert_eq!(kind_of(s.open_write(&p("/big"), WriteMode::At(10)).await), ErrorKind::Unsupported);
    assert_eq!(std::fs::read(dir.path().join("big")).unwrap(), data, "untouched");
}

#[tokio::test]
async fn resumed_uploads_write_in_place_and_refuse_offsets_past_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let s = sbe_fs(dir.path());
    upload(&s, "/f", b"0123456789").await.unwrap();
    let mut w = s.open_write(&p("/f"), WriteMode::At(4)).await.unwrap();
    w.write_all(b"abc").await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(read_all(&s, "/f").await.unwrap(), b"0123abc", "what followed the offset is cut");
    assert_eq!(kind_of(s.open_write(&p("/f"), WriteMode::At(8)).await), ErrorKind::Other);
    assert_eq!(kind_of(s.open_write(&p("/none"), WriteMode::At(3)).await), ErrorKind::NotFound);
}

#[tokio::test]
async fn a_failing_put_reports_its_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut backend = Tweaked::new(dir.path());
    backend.features = oxftp_unftp::unftp_core::storage::FEATURE_RESTART;
    backend.cap = Some(10_000);
    let s = UnftpStorage::new(backend, DefaultUser);

    // Within the cap: fine.
    upload(&s, "/small", &pattern(5_000)).await.unwrap();
    // Past it: their "exceeded storage allocation" reaches the writer as ours.
    let mut w = s.open_write(&p("/big"), WriteMode::Create { exclusive: false }).await.unwrap();
    let mut failure = None;
    for _ in 0..100 {
        if let Err(e) = w.write_all(&[1u8; 8192]).await {
            failure = Some(StorageError::from(e));
            break;
        }
    }
    let failure = failure.expect("writing 800 KB past a 10 KB cap never failed");
    assert_eq!(failure.kind, ErrorKind::InsufficientStorage, "{failure}");
    w.abort().await;
    assert_eq!(kind_of(s.metadata(&p("/big")).await), ErrorKind::NotFound);
    // No part file left behind on disk either.
    let mut on_disk: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    on_disk.sort();
    assert_eq!(on_disk, ["small"]);

    // A commit after the back-end gave up reports the same error.
    let mut w = s.open_write(&p("/big"), WriteMode::Create { exclusive: false }).await.unwrap();
    let _ = w.write_all(&[1u8; 9_000]).await;
    let _ = w.write_all(&[1u8; 9_000]).await;
    let err = w.commit().await.expect_err("a commit over the cap succeeded");
    assert_eq!(err.kind, ErrorKind::InsufficientStorage);
    assert_eq!(list_names(&s, "/").await.unwrap(), [b"small".to_vec()]);
}

#[tokio::test]
async fn direct_uploads_are_visible_while_running_and_kept_when_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let s = sbe_fs(dir.path()).with_uploads(Uploads::Direct);
    let mut w = s.open_write(&p("/live"), WriteMode::Create { exclusive: false }).await.unwrap();
    w.write_all(&pattern(50_000)).await.unwrap();
    w.flush().await.unwrap();
    // Their `put` writes the final name from the start.
    let mut waited = 0;
    while s.metadata(&p("/live")).await.is_err() && waited < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        waited += 1;
    }
    assert!(s.metadata(&p("/live")).await.unwrap().is_file());
    w.abort().await;
    let kept = read_all(&s, "/live").await.unwrap();
    assert!(!kept.is_empty() && pattern(50_000).starts_with(&kept), "kept {} bytes", kept.len());
    // And a committed one is whole.
    upload(&s, "/whole", &pattern(70_000)).await.unwrap();
    assert_eq!(read_all(&s, "/whole").await.unwrap(), pattern(70_000));
    // STOU still refuses a taken name.
    assert_eq!(
        kind_of(s.open_write(&p("/whole"), WriteMode::Create { exclusive: true }).await),
        ErrorKind::AlreadyExists
    );
}

#[tokio::test]
async fn part_files_are_hidden_and_their_names_reserved() {
    let dir = tempfile::tempdir().unwrap();
    let s = sbe_fs(dir.path());
    let mut w = s.open_write(&p("/f"), WriteMode::Create { exclusive: false }).await.unwrap();
    w.write_all(b"in flight").await.unwrap();
    // On disk there is a part file; the listing does not show it.
    let mut seen_part = false;
    for _ in 0..100 {
        seen_part = std::fs::read_dir(dir.path())
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().starts_with(".oxftp-upload-"));
        if seen_part {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(seen_part, "no part file on disk while uploading");
    assert!(list_names(&s, "/").await.unwrap().is_empty());
    w.commit().await.unwrap();
    assert_eq!(list_names(&s, "/").await.unwrap(), [b"f".to_vec()]);
    let reserved = p("/.oxftp-upload-mine");
    assert_eq!(kind_of(s.open_write(&reserved, WriteMode::Create { exclusive: false }).await), ErrorKind::InvalidName);
    assert_eq!(kind_of(s.rename(&p("/f"), &reserved).await), ErrorKind::InvalidName);
    assert_eq!(kind_of(s.mkdir(&reserved).await), ErrorKind::InvalidName);
}

#[tokio::test]
async fn metadata_follows_links_that_stay_inside_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("d")).unwrap();
    std::fs::write(root.join("d/target.txt"), b"twelve bytes").unwrap();
    std::fs::write(dir.path().join("outside.txt"), b"secret").unwrap();
    symlink("d/target.txt", root.join("to-file")).unwrap();
    symlink("d", root.join("to-dir")).unwrap();
    symlink("../outside.txt", root.join("escape")).unwrap();
    symlink("missing", root.join("dangling")).unwrap();
    let s = sbe_fs(&root);

    let info = s.metadata(&p("/to-file")).await.unwrap();
    assert!(info.is_file());
    assert_eq!(info.size, 12);
    assert!(s.metadata(&p("/to-dir")).await.unwrap().is_dir());
    assert_eq!(read_all(&s, "/to-file").await.unwrap(), b"twelve bytes");
    // A link out of the tree is shown as a link, and cannot be read.
    assert_eq!(s.metadata(&p("/escape")).await.unwrap().kind, FileKind::Symlink);
    assert!(read_all(&s, "/escape").await.is_err());
    assert_eq!(kind_of(s.metadata(&p("/dangling")).await), ErrorKind::NotFound);
    // Listings show links as links.
    let listed = oxftp_core::test_util::helpers::entries(&s, "/").await.unwrap();
    let kind = |name: &[u8]| listed.iter().find(|e| e.name == name).map(|e| e.info.kind);
    assert_eq!(kind(b"to-file"), Some(FileKind::Symlink));
    assert_eq!(kind(b"d"), Some(FileKind::Dir));
}

fn identity(user: &str, class: AccessClass, home: &str) -> Identity {
    let mut id = Identity::new(user, class);
    id.home = p(home);
    id
}

#[tokio::test]
async fn per_session_back_ends_keep_a_guest_and_its_links_in_its_home() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_path_buf();
    std::fs::create_dir_all(base.join("guest")).unwrap();
    std::fs::create_dir_all(base.join("alice")).unwrap();
    std::fs::write(base.join("alice/secret.txt"), b"alice's").unwrap();
    std::fs::write(base.join("guest/mine.txt"), b"gina's").unwrap();
    symlink("../alice/secret.txt", base.join("guest/escape")).unwrap();
    let factory = {
        let base = base.clone();
        UnftpStorageFactory::per_session(
            move |root| Filesystem::new(local_path(&base, root)),
            DefaultUserDetailProvider,
        )
        .unwrap()
    };
    assert_eq!(factory.backend_name(), "unftp");
    let guest = factory.storage_for(&identity("gina", AccessClass::Guest, "/guest")).await.unwrap();
    assert_eq!(list_names(guest.as_ref(), "/").await.unwrap(), [b"escape".to_vec(), b"mine.txt".to_vec()]);
    assert_eq!(read_all(guest.as_ref(), "/mine.txt").await.unwrap(), b"gina's");
    assert!(read_all(guest.as_ref(), "/escape").await.is_err(), "a link out of the home was followed");
    upload(guest.as_ref(), "/new.txt", b"up").await.unwrap();
    assert_eq!(std::fs::read(base.join("guest/new.txt")).unwrap(), b"up");
    // A user sees the whole tree.
    let user = factory.storage_for(&identity("alice", AccessClass::User, "/alice")).await.unwrap();
    assert_eq!(read_all(user.as_ref(), "/alice/secret.txt").await.unwrap(), b"alice's");
    // A home that does not exist ends the login.
    assert!(factory.storage_for(&identity("x", AccessClass::Guest, "/nowhere")).await.is_err());
}

#[tokio::test]
async fn shared_back_ends_are_rooted_at_the_session_root() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("guest")).unwrap();
    std::fs::write(dir.path().join("top.txt"), b"top").unwrap();
    let factory = UnftpStorageFactory::shared(Filesystem::new(dir.path()).unwrap(), DefaultUserDetailProvider)
        .checked_as(oxftp_unftp::unftp_core::auth::DefaultUser);
    factory.check().await.unwrap();
    let guest = factory.storage_for(&identity("gina", AccessClass::Guest, "/guest")).await.unwrap();
    assert!(list_names(guest.as_ref(), "/").await.unwrap().is_empty());
    assert_eq!(kind_of(guest.metadata(&p("/top.txt")).await), ErrorKind::NotFound);
    upload(guest.as_ref(), "/g.txt", b"g").await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("guest/g.txt")).unwrap(), b"g");
}

#[tokio::test]
async fn their_user_type_reaches_every_call() {
    let dir = tempfile::tempdir().unwrap();
    let mut frozen = Account::new("fred");
    frozen.frozen = true;
    let accounts = Accounts::new([Account::new("alice"), frozen]);
    let mut backend = Tweaked::new(dir.path());
    backend.features = oxftp_unftp::unftp_core::storage::FEATURE_RESTART;
    let factory = UnftpStorageFactory::shared(backend, accounts);
    let alice = factory.storage_for(&identity("alice", AccessClass::User, "/")).await.unwrap();
    upload(alice.as_ref(), "/a.txt", b"a").await.unwrap();
    let fred = factory.storage_for(&identity("fred", AccessClass::User, "/")).await.unwrap();
    let err = upload(fred.as_ref(), "/f.txt", b"f").await.expect_err("the back-end let a frozen user upload");
    assert_eq!(err.kind, ErrorKind::PermissionDenied);
    assert_eq!(read_all(fred.as_ref(), "/a.txt").await.unwrap(), b"a");
    // The provider does not know this one: no storage, so no session.
    let err = factory.storage_for(&identity("mallory", AccessClass::User, "/")).await.expect_err("unknown user");
    assert_eq!(err.kind, ErrorKind::PermissionDenied);
    let _: Arc<dyn Storage> = alice;
}
