//! A throwaway demo: an in-process oxftp upstream (user `alice`, password
//! `secret`) with the web gateway in front of it, both on loopback, share
//! links kept in a temporary file, PDFs previewed from a second port. Prints
//! `READY <url>` and `DIR <path>` and serves until killed. Used by the
//! browser test in `browser/`.

#[path = "../tests/common/mod.rs"]
mod common;

#[tokio::main]
async fn main() {
    let shares = tempfile::tempdir().expect("tempdir");
    let file = shares.path().join("shares.json");
    let preview = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let preview_port = preview.local_addr().expect("addr").port();
    let env = common::Env::start_with(move |c| {
        c.shares_file = Some(file);
        c.preview_port = Some(preview_port);
    })
    .await;
    tokio::spawn(env.server.clone().serve_preview(preview, std::future::pending()));
    std::fs::create_dir_all(env.alice("photos")).ok();
    std::fs::create_dir_all(env.alice("projects/website/assets")).ok();
    std::fs::write(env.alice("readme.txt"), b"Hello from oxftp.\n").ok();
    std::fs::write(env.alice("manual.pdf"), b"%PDF-1.4\n%%EOF\n").ok();
    std::fs::write(env.alice("projects/plan.md"), b"# Plan\n\n- ship it\n").ok();
    std::fs::write(env.alice("projects/website/index.html"), b"<h1>hi</h1>\n").ok();
    std::fs::write(env.alice("projects/website/assets/site.css"), b"body{}\n").ok();
    std::fs::write(env.alice("<img src=x onerror=alert(1)>"), b"hostile name").ok();
    println!("READY {}", env.web);
    println!("DIR {}", env.dir.path().display());
    let _ = tokio::signal::ctrl_c().await;
    drop(shares);
}
