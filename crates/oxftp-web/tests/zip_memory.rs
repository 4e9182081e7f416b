//! A 2 GiB folder downloaded as one ZIP with bounded memory: the archive is
//! streamed, never held. Alone in its own test binary so other tests'
//! allocations do not count (the upstream FTP server runs in this process
//! too, so its buffers are in the number as well).

mod common;

use common::Env;

/// Peak resident set size of this process in KiB (VmHWM).
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_gib_zip_download_is_streamed() {
    const GIB: u64 = 1 << 30;
    let env = Env::start().await;
    // Two sparse 1 GiB files (no disk space used) and a small one.
    std::fs::create_dir(env.alice("big")).unwrap();
    for name in ["one.img", "two.img"] {
        std::fs::File::create(env.alice(&format!("big/{name}"))).unwrap().set_len(GIB).unwrap();
    }
    std::fs::write(env.alice("big/small.txt"), b"small").unwrap();
    let (c, _) = env.login().await;
    // Warm up (pool, buffers) before measuring.
    let r = c.get(env.url("/zip/big/small.txt")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    let before = vm_hwm_kib();

    let mut r = c.get(env.url("/zip/big")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut total = 0u64;
    let mut tail: Vec<u8> = Vec::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        total += chunk.len() as u64;
        tail.extend_from_slice(&chunk);
        if tail.len() > 8192 {
            tail.drain(..tail.len() - 4096);
        }
    }
    assert!(total > 2 * GIB, "{total} bytes");
    // The archive ends with its end-of-central-directory record.
    assert!(tail.windows(4).any(|w| w == [0x50, 0x4b, 0x05, 0x06]), "no end-of-central-directory record");

    let peak = vm_hwm_kib();
    let grown_mib = peak.saturating_sub(before) / 1024;
    eprintln!("2 GiB ZIP: {total} bytes streamed; peak RSS {peak} KiB (before {before} KiB), growth {grown_mib} MiB");
    assert!(grown_mib < 64, "peak RSS grew by {grown_mib} MiB for a 2 GiB ZIP");
}
