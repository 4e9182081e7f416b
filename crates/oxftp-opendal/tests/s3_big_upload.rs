//! A 100 MiB upload and download through S3 (moto) with bounded memory.
//! In its own test binary so the process's peak memory is this test's alone.
//!
//! The upload uses the default tuning, so the bound checked here is the one
//! the configuration documents: `(upload_concurrency + 2) * chunk_size + 2 MiB`.

mod common;

use std::time::Instant;

use common::Moto;
use oxftp_core::storage::{ReadHandle, Storage, WriteMode};
use oxftp_opendal::config::{DEFAULT_CHUNK_SIZE, DEFAULT_UPLOAD_CONCURRENCY};
use oxftp_opendal::write::STAGING_BYTES;
use oxftp_proto::path::VPath;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1024 * 1024;
const TOTAL_MIB: usize = 100;

/// Peak resident memory of this process so far (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Block `i` of the file: a position-dependent pattern, so misplaced parts show.
fn block(i: usize) -> Vec<u8> {
    let mut b: Vec<u8> = (0..MIB).map(|j| (j % 251) as u8).collect();
    b[..8].copy_from_slice(&(i as u64).to_le_bytes());
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_mib_streams_with_bounded_memory() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("big");
    let s = moto.storage("big", |_| {});
    let path = VPath::parse(b"/hundred.bin").unwrap();
    let mut blocks: Vec<Vec<u8>> = (0..4).map(block).collect();
    let base = peak_rss();

    let started = Instant::now();
    // On a spawned task, as the engine runs a session: the task may hop
    // between worker threads while the HTTP client drops sent parts on
    // others, which is what fragmented the allocator before staging blocks
    // were recycled (in a release build this test then grew the peak by 42
    // to 49 MiB; now by 36).
    let upload = {
        let (s, path) = (s.clone(), path.clone());
        tokio::spawn(async move {
            let mut w = s.open_write(&path, WriteMode::Create { exclusive: false }).await.unwrap();
            for i in 0..TOTAL_MIB {
                let b = &mut blocks[i % 4];
                b[..8].copy_from_slice(&(i as u64).to_le_bytes());
                // Pieces the size of typical socket reads.
                for piece in b.chunks(64 * 1024) {
                    w.write_all(piece).await.unwrap();
                }
            }
            w.commit().await.unwrap();
        })
    };
    upload.await.unwrap();
    let upload = started.elapsed();
    let after_upload = peak_rss();
    assert!(moto.open_uploads("big").is_empty());
    assert_eq!(moto.keys("big"), vec!["hundred.bin"]);
    assert_eq!(s.metadata(&path).await.unwrap().size, (TOTAL_MIB * MIB) as u64);

    let started = Instant::now();
    let ReadHandle::Stream(mut r) = s.open_read(&path, 0).await.unwrap() else {
        panic!("stream expected");
    };
    let mut buf = vec![0u8; MIB];
    for i in 0..TOTAL_MIB {
        r.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf[..8], &(i as u64).to_le_bytes(), "block {i}");
        assert_eq!(&buf[8..], &block(0)[8..], "block {i}");
    }
    assert_eq!(r.read(&mut buf).await.unwrap(), 0, "no bytes past the end");
    let download = started.elapsed();
    let after_download = peak_rss();

    // REST 99.5 MiB + RETR: a ranged read of the last half block.
    let offset = (TOTAL_MIB * MIB - MIB / 2) as u64;
    let ReadHandle::Stream(mut r) = s.open_read(&path, offset).await.unwrap() else {
        panic!("stream expected");
    };
    let mut tail = Vec::new();
    r.read_to_end(&mut tail).await.unwrap();
    assert_eq!(tail.len(), MIB / 2);
    assert_eq!(&tail[..], &block(0)[MIB / 2..]);

    let grow_up = after_upload.saturating_sub(base) / MIB as u64;
    let grow_down = after_download.saturating_sub(base) / MIB as u64;
    eprintln!(
        "100 MiB: upload {:.1} s ({:.0} MiB/s), download {:.1} s ({:.0} MiB/s); \
         peak RSS growth {grow_up} MiB after upload, {grow_down} MiB after download (base {} MiB)",
        upload.as_secs_f64(),
        TOTAL_MIB as f64 / upload.as_secs_f64(),
        download.as_secs_f64(),
        TOTAL_MIB as f64 / download.as_secs_f64(),
        base / MIB as u64,
    );
    // The documented bound (34 MiB with the defaults) plus a little for the
    // HTTP client and the allocator. Only an optimised build is held to it
    // (`cargo test --release -p oxftp-opendal --test s3_big_upload`): in a
    // debug build the heap peaks at the same 34 MiB of blocks, but the RSS
    // peak wanders 3 to 28 MiB above it from run to run, so there the check
    // only catches unbounded buffering (the file is 100 MiB).
    let bound = ((DEFAULT_UPLOAD_CONCURRENCY + 2) * DEFAULT_CHUNK_SIZE + 2 * STAGING_BYTES) / MIB;
    let slack = if cfg!(debug_assertions) { 40 } else { 6 };
    assert!(
        grow_up <= (bound + slack) as u64,
        "upload grew the peak RSS by {grow_up} MiB (documented bound {bound} MiB + {slack})"
    );
    // Peak RSS only rises, so the download is judged by what it added: a
    // streamed GET holds a few HTTP buffers, never the file.
    let added_down = grow_down.saturating_sub(grow_up);
    assert!(added_down < 16, "download added {added_down} MiB to the peak RSS");
}
