//! A 100 MiB upload and download through the gateway with bounded memory.
//! Alone in its own test binary so other tests' allocations do not count.

mod common;

use common::Env;
use oxftp_web::CSRF_HEADER;

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
async fn hundred_mib_upload_is_streamed() {
    const SIZE: usize = 100 << 20;
    const CHUNK: usize = 256 << 10;
    let env = Env::start().await;
    let (c, csrf) = env.login().await;
    // Warm up (pool, buffers) before measuring.
    let r = c
        .put(env.url("/api/file?path=/warm"))
        .header(CSRF_HEADER, &csrf)
        .body(vec![1u8; 1 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let before = vm_hwm_kib();

    let chunks =
        futures::stream::iter((0..SIZE / CHUNK).map(|i| Ok::<_, std::io::Error>(vec![(i % 256) as u8; CHUNK])));
    let form = reqwest::multipart::Form::new().part(
        "f",
        reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(chunks), SIZE as u64)
            .file_name("big.bin"),
    );
    let r = c.post(env.url("/api/upload?dir=/")).header(CSRF_HEADER, &csrf).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(std::fs::metadata(env.alice("big.bin")).unwrap().len(), SIZE as u64);

    // And back down, counted without keeping it.
    let mut r = c.get(env.url("/download/big.bin")).send().await.unwrap();
    let mut total = 0usize;
    while let Some(chunk) = r.chunk().await.unwrap() {
        total += chunk.len();
    }
    assert_eq!(total, SIZE);

    let grown_mib = (vm_hwm_kib().saturating_sub(before)) / 1024;
    eprintln!("peak RSS before {before} KiB, growth {grown_mib} MiB");
    assert!(grown_mib < 64, "peak RSS grew by {grown_mib} MiB for a 100 MiB round trip");
}
