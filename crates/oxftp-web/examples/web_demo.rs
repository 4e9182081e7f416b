//! A throwaway demo: an in-process oxftp upstream (user `alice`, password
//! `secret`) with the web gateway in front of it, both on loopback. Prints
//! `READY <url>` and serves until killed. Used by the browser test in `browser/`.

#[path = "../tests/common/mod.rs"]
mod common;

#[tokio::main]
async fn main() {
    let env = common::Env::start().await;
    std::fs::create_dir_all(env.alice("photos")).ok();
    std::fs::write(env.alice("readme.txt"), b"Hello from oxftp.\n").ok();
    std::fs::write(env.alice("<img src=x onerror=alert(1)>"), b"hostile name").ok();
    println!("READY {}", env.web);
    println!("DIR {}", env.dir.path().display());
    let _ = tokio::signal::ctrl_c().await;
}
