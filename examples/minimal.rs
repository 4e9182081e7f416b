//! The smallest embedded server: the current directory, read-only, to anonymous.
//!
//! `cargo run --example minimal`, then `curl ftp://127.0.0.1:2121/`.
use std::sync::Arc;

use oxftp::{Server, VPath, fs::LocalFsFactory, policy::AnonymousLogin};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("OXFTP_LISTEN").unwrap_or_else(|_| "127.0.0.1:2121".into());
    let storage = Arc::new(LocalFsFactory::new(".")?);
    let auth = Arc::new(AnonymousLogin::new(None, VPath::root(), None));
    println!("serving on ftp://{addr}/");
    Server::new(storage, auth).listen(addr).await
}
