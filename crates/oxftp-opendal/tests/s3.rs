//! Every Storage method through OpendalStorage against a real S3-compatible
//! server (moto), checked from the outside with boto3.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Moto;
use futures::{StreamExt, TryStreamExt};
use oxftp_core::storage::{ErrorKind, Storage, WriteMode};
use oxftp_opendal::UploadListener;
use oxftp_proto::path::VPath;
use tokio::io::AsyncWriteExt;

mod ops;

use ops::{get, names, p, put};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directories_markers_and_rmdir() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("dirs");
    let s = moto.storage("dirs", |_| {});
    s.check().await.unwrap();

    s.mkdir(&p("/docs")).await.unwrap();
    assert_eq!(moto.keys("dirs"), vec!["docs/"]);
    assert!(s.metadata(&p("/docs")).await.unwrap().is_dir());
    assert_eq!(names(&s, "/").await, vec![("docs".into(), true)]);
    assert!(names(&s, "/docs").await.is_empty());
    assert_eq!(s.metadata(&p("/nope")).await.unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(s.list(&p("/nope")).await.err().unwrap().kind, ErrorKind::NotFound);
    assert_eq!(s.mkdir(&p("/docs")).await.unwrap_err().kind, ErrorKind::AlreadyExists);
    assert_eq!(s.mkdir(&p("/nope/sub")).await.unwrap_err().kind, ErrorKind::NotFound);

    put(&s, "/docs/a.txt", b"hello").await;
    assert_eq!(s.rmdir(&p("/docs")).await.unwrap_err().kind, ErrorKind::DirectoryNotEmpty);
    s.delete(&p("/docs/a.txt")).await.unwrap();
    s.rmdir(&p("/docs")).await.unwrap();
    assert!(moto.keys("dirs").is_empty());
    assert_eq!(s.metadata(&p("/docs")).await.unwrap_err().kind, ErrorKind::NotFound);

    // Keys written by another tool make their prefixes directories.
    moto.python("s3.put_object(Bucket='dirs', Key='implicit/deep/file.bin', Body=b'xyz')");
    assert!(s.metadata(&p("/implicit")).await.unwrap().is_dir());
    assert_eq!(names(&s, "/").await, vec![("implicit".into(), true)]);
    assert_eq!(names(&s, "/implicit").await, vec![("deep".into(), true)]);
    let listed = {
        let mut l = s.list(&p("/implicit/deep")).await.unwrap();
        l.next_page().await.unwrap().unwrap()
    };
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, b"file.bin");
    assert_eq!(listed[0].info.size, 3);
    assert!(listed[0].info.mtime.is_some());
    assert_eq!(s.rmdir(&p("/implicit")).await.unwrap_err().kind, ErrorKind::DirectoryNotEmpty);
}

/// A fresh bucket per conformance check, all on one moto server started at
/// the first call (`None`, and the suite is skipped, without moto).
fn fresh_buckets() -> impl FnMut() -> std::future::Ready<Option<oxftp_core::test_util::Subject>> {
    let mut moto: Option<Arc<Moto>> = None;
    let mut buckets = 0;
    move || {
        if moto.is_none() {
            moto = Moto::start().map(Arc::new);
        }
        let subject = moto.as_ref().map(|moto| {
            buckets += 1;
            let bucket = format!("conformance-{buckets}");
            moto.create_bucket(&bucket);
            oxftp_core::test_util::Subject::new(moto.storage(&bucket, |_| {})).keeping(Arc::clone(moto))
        });
        std::future::ready(subject)
    }
}

// The conformance suite every backend runs, on a real S3 server (one moto
// for all checks: starting one per check would cost seconds each).
oxftp_core::storage_conformance!(one_test storage_conformance_on_s3, fresh_buckets());

#[derive(Default)]
struct Recorder(Mutex<Vec<(VPath, u64)>>);

impl UploadListener for Recorder {
    fn upload_complete(&self, path: &VPath, bytes: u64) {
        self.0.lock().unwrap().push((path.clone(), bytes));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_sizes_times_and_ranges() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("files");
    let rec = Arc::new(Recorder::default());
    let s = moto.storage("files", |_| {}).with_listener(rec.clone());
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    put(&s, "/f.txt", b"hello world").await;
    let info = s.metadata(&p("/f.txt")).await.unwrap();
    assert!(info.is_file());
    assert_eq!(info.size, 11);
    let mtime = info.mtime.expect("MDTM from Last-Modified");
    assert!((mtime - before).abs() < 120, "mtime {mtime} vs now {before}");
    assert_eq!(get(&s, "/f.txt", 0).await, b"hello world");
    assert_eq!(get(&s, "/f.txt", 6).await, b"world");
    assert_eq!(get(&s, "/f.txt", 11).await, b"");
    assert_eq!(*rec.0.lock().unwrap(), vec![(p("/f.txt"), 11)]);

    let caps = s.capabilities();
    assert!(caps.read_at_offset && caps.rename);
    assert!(!caps.append && !caps.write_at_offset, "no append on plain S3");
    assert!(!caps.set_mode && !caps.set_mtime);
    assert_eq!(s.open_write(&p("/f.txt"), WriteMode::Append).await.err().unwrap().kind, ErrorKind::Unsupported);
    assert_eq!(s.open_write(&p("/f.txt"), WriteMode::At(5)).await.err().unwrap().kind, ErrorKind::Unsupported);
    assert_eq!(get(&s, "/f.txt", 0).await, b"hello world", "untouched");
    assert_eq!(s.set_mtime(&p("/f.txt"), 0).await.unwrap_err().kind, ErrorKind::Unsupported);
    assert_eq!(
        s.open_write(&p("/f.txt"), WriteMode::Create { exclusive: true }).await.err().unwrap().kind,
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        s.open_write(&p("/no/f"), WriteMode::Create { exclusive: false }).await.err().unwrap().kind,
        ErrorKind::NotFound
    );
    // Exclusive create loses a race with another writer: refused at commit
    // (If-None-Match), the other writer's object stays.
    let mut w = s.open_write(&p("/race"), WriteMode::Create { exclusive: true }).await.unwrap();
    w.write_all(b"mine").await.unwrap();
    moto.python("s3.put_object(Bucket='files', Key='race', Body=b'theirs')");
    assert_eq!(w.commit().await.unwrap_err().kind, ErrorKind::AlreadyExists);
    assert_eq!(get(&s, "/race", 0).await, b"theirs");
    put(&s, "/empty", b"").await;
    assert_eq!(s.metadata(&p("/empty")).await.unwrap().size, 0);
    assert_eq!(get(&s, "/empty", 0).await, b"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_uploads_leave_no_object_and_no_parts() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("aborts");
    let s = moto.storage("aborts", |c| c.chunk_size = Some(5 * 1024 * 1024));
    let block = vec![0x5au8; 1024 * 1024];

    // Enough for two parts: a multipart upload is under way, nothing visible yet.
    let mut w = s.open_write(&p("/big.bin"), WriteMode::Create { exclusive: false }).await.unwrap();
    for _ in 0..12 {
        w.write_all(&block).await.unwrap();
    }
    w.flush().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while moto.open_uploads("aborts").is_empty() {
        assert!(Instant::now() < deadline, "multipart upload never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(moto.keys("aborts").is_empty(), "visible before commit");
    w.abort().await;
    assert!(moto.keys("aborts").is_empty());
    assert!(moto.open_uploads("aborts").is_empty());

    // Dropped without commit (a vanished session): aborted on a task.
    let mut w = s.open_write(&p("/dropped.bin"), WriteMode::Create { exclusive: false }).await.unwrap();
    for _ in 0..12 {
        w.write_all(&block).await.unwrap();
    }
    w.flush().await.unwrap();
    drop(w);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !moto.open_uploads("aborts").is_empty() {
        assert!(Instant::now() < deadline, "dropped upload was not aborted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(moto.keys("aborts").is_empty());

    // The same upload committed is there, whole.
    let mut w = s.open_write(&p("/done.bin"), WriteMode::Create { exclusive: false }).await.unwrap();
    for _ in 0..12 {
        w.write_all(&block).await.unwrap();
    }
    w.commit().await.unwrap();
    assert_eq!(moto.keys("aborts"), vec!["done.bin"]);
    assert!(moto.open_uploads("aborts").is_empty());
    assert_eq!(s.metadata(&p("/done.bin")).await.unwrap().size, 12 * 1024 * 1024);
    let tail = get(&s, "/done.bin", 12 * 1024 * 1024 - 10).await;
    assert_eq!(tail, vec![0x5au8; 10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_files_and_directories() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("renames");
    let plain = moto.storage("renames", |_| {});
    put(&plain, "/a.txt", b"A").await;
    plain.rename(&p("/a.txt"), &p("/b.txt")).await.unwrap();
    assert_eq!(moto.keys("renames"), vec!["b.txt"]);
    assert_eq!(get(&plain, "/b.txt", 0).await, b"A");

    plain.mkdir(&p("/d")).await.unwrap();
    plain.mkdir(&p("/d/empty")).await.unwrap();
    put(&plain, "/d/one", b"1").await;
    plain.mkdir(&p("/d/sub")).await.unwrap();
    put(&plain, "/d/sub/two", b"22").await;
    assert_eq!(
        plain.rename(&p("/d"), &p("/e")).await.unwrap_err().kind,
        ErrorKind::Unsupported,
        "directory rename is opt-in"
    );

    let limited = moto.storage("renames", |c| c.rename_dir_limit = Some(3));
    assert_eq!(
        limited.rename(&p("/d"), &p("/e")).await.unwrap_err().kind,
        ErrorKind::PermissionDenied,
        "4 objects below d/ > limit 3"
    );
    assert!(limited.metadata(&p("/e")).await.is_err(), "nothing copied");

    let s = moto.storage("renames", |c| {
        c.rename_dir_limit = Some(100);
        c.rename_dir_max_bytes = Some(1000);
    });
    s.rename(&p("/d"), &p("/e")).await.unwrap();
    let mut keys = moto.keys("renames");
    keys.sort();
    assert_eq!(keys, vec!["b.txt", "e/", "e/empty/", "e/one", "e/sub/", "e/sub/two"]);
    assert_eq!(get(&s, "/e/sub/two", 0).await, b"22");
    assert_eq!(s.metadata(&p("/d")).await.unwrap_err().kind, ErrorKind::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_keys_list_in_pages() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("many");
    let s = moto.storage("many", |_| {});
    let op = s.operator().clone();
    let started = Instant::now();
    futures::stream::iter(0..10_000)
        .map(|i| {
            let op = op.clone();
            async move { op.write(&format!("big/f{i:05}"), Vec::<u8>::new()).await }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    eprintln!("created 10000 keys in {:?}", started.elapsed());
    let started = Instant::now();
    let mut lister = s.list(&p("/big")).await.unwrap();
    let (mut pages, mut total, mut biggest) = (0, 0, 0);
    let mut last: Vec<u8> = Vec::new();
    while let Some(page) = lister.next_page().await.unwrap() {
        pages += 1;
        total += page.len();
        biggest = biggest.max(page.len());
        for e in &page {
            assert!(e.name > last, "keys come sorted and unique");
            last = e.name.clone();
        }
    }
    eprintln!("listed {total} keys in {pages} pages in {:?}", started.elapsed());
    assert_eq!(total, 10_000);
    assert!(biggest <= 1000);
    assert!(pages >= 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_is_transient_and_recovers() {
    let Some(mut moto) = Moto::start() else { return };
    moto.create_bucket("outage");
    let s = moto.storage("outage", |c| {
        c.retries = Some(1);
        c.timeout_secs = Some(5);
        c.io_timeout_secs = Some(5);
    });
    put(&s, "/f", b"data").await;
    moto.kill();

    let err = s.metadata(&p("/f")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err:?}");
    assert!(!err.message.contains('\n'));
    // The first page is fetched by list() itself, so LIST fails before its 150.
    assert_eq!(s.list(&VPath::root()).await.err().unwrap().kind, ErrorKind::Transient);
    assert!(s.open_read(&p("/f"), 0).await.is_err());
    assert!(s.open_write(&p("/g"), WriteMode::Create { exclusive: false }).await.is_err());
    assert!(s.mkdir(&p("/d")).await.is_err());
    let checked = s.check().await.unwrap_err();
    assert_eq!(checked.kind, ErrorKind::Transient);
    assert!(checked.message.contains("cannot reach"), "{checked:?}");

    // Back again (moto forgets everything): the same storage works.
    moto.restart();
    moto.create_bucket("outage");
    s.check().await.unwrap();
    put(&s, "/again", b"ok").await;
    assert_eq!(get(&s, "/again", 0).await, b"ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_missing_bucket() {
    let Some(moto) = Moto::start() else { return };
    let s = moto.storage("no-such-bucket", |_| {});
    let err = s.check().await.unwrap_err();
    assert!(err.message.contains("bucket does not exist"), "{err:?}");
    let stat = s.metadata(&p("/x")).await.unwrap_err();
    assert_ne!(stat.kind, ErrorKind::NotFound, "{stat:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_bad_credentials() {
    let Some(moto) = Moto::start_with_auth() else { return };
    let s = moto.storage("whatever", |c| {
        if let Some(s3) = c.s3.as_mut() {
            s3.access_key_id = Some("AKIAWRONGWRONGWRONG1".into());
            s3.secret_access_key = Some("wrong".into());
        }
    });
    let err = s.check().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::PermissionDenied, "{err:?}");
    assert!(err.message.contains("credentials"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_prefix_root_and_homes() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("rooted");
    let s = moto.storage("rooted", |c| {
        if let Some(s3) = c.s3.as_mut() {
            s3.root = Some("/ftp/area".into());
        }
    });
    s.check().await.unwrap();
    s.ensure_dir(&p("/home/ann")).await.unwrap();
    put(&s, "/home/ann/notes.txt", b"n").await;
    let mut keys = moto.keys("rooted");
    keys.sort();
    assert_eq!(keys, vec!["ftp/area/home/ann/", "ftp/area/home/ann/notes.txt"]);
    assert_eq!(names(&s, "/").await, vec![("home".into(), true)]);
    assert_eq!(names(&s, "/home/ann").await, vec![("notes.txt".into(), false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_carry_a_crc32c_unless_turned_off() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("sums");
    // 11 MiB in 8 MiB parts: a multipart upload whose second part ends mid-block.
    let data: Vec<u8> = (0..11 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let checksums = |key: &str| {
        moto.python(&format!(
            "h = s3.head_object(Bucket='sums', Key='{key}', ChecksumMode='ENABLED')\n\
             print(sorted(k for k in h if k.startswith('Checksum') and k != 'ChecksumType'))"
        ))
    };

    let s = moto.storage("sums", |_| {});
    for piece in [&data[..], &data[..1000]] {
        let key = format!("on-{}", piece.len());
        let mut w = s.open_write(&p(&format!("/{key}")), WriteMode::Create { exclusive: false }).await.unwrap();
        for chunk in piece.chunks(100_000) {
            w.write_all(chunk).await.unwrap();
        }
        w.commit().await.unwrap();
        assert_eq!(get(&s, &format!("/{key}"), 0).await, piece, "{key} came back whole");
    }
    // The multipart upload was created with the algorithm, so the object keeps one.
    assert_eq!(checksums(&format!("on-{}", data.len())).trim(), "['ChecksumCRC32C']");

    let s = moto.storage("sums", |c| {
        if let Some(s3) = c.s3.as_mut() {
            s3.checksum = Some(oxftp_opendal::S3Checksum::None);
        }
    });
    put(&s, "/off", &data).await;
    assert_eq!(get(&s, "/off", 0).await, data);
    assert_eq!(checksums("off").trim(), "[]");
}
