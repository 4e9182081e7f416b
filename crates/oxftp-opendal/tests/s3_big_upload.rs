//! A 100 MiB upload and download through S3 (moto) with bounded memory.
//! In its own test binary so the process's peak memory is this test's alone.

mod common;

use std::time::Instant;

use common::Moto;
use oxftp_core::storage::{ReadHandle, Storage, WriteMode};
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
    let s = moto.storage("big", |c| {
        c.chunk_size = Some(8 * MIB);
        c.upload_concurrency = Some(2);
    });
    let path = VPath::parse(b"/hundred.bin").unwrap();
    let mut blocks: Vec<Vec<u8>> = (0..4).map(block).collect();
    let base = peak_rss();

    let started = Instant::now();
    let mut w = s.open_write(&path, WriteMode::Create { exclusive: false }).await.unwrap();
    for i in 0..TOTAL_MIB {
        let b = &mut blocks[i % 4];
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
        // The engine writes in pieces of its buffer size; so do we.
        for piece in b.chunks(256 * 1024) {
            w.write_all(piece).await.unwrap();
        }
    }
    w.commit().await.unwrap();
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
    // 8 MiB parts, 2 in flight, plus staging and HTTP buffers: far below 100 MiB.
    assert!(grow_up < 64, "upload grew the peak RSS by {grow_up} MiB");
    assert!(grow_down < 64, "download grew the peak RSS by {grow_down} MiB");
}
