//! libunftp's ecosystem on oxftp's engine: the current directory stored by
//! `unftp-sbe-fs`, users checked by `unftp-auth-jsonfile` against unFTP's
//! JSON users file (`./users.json`, or the file `OXFTP_USERS` names), e.g.
//!
//! ```text
//! [ { "username": "alice", "password": "wonderland" } ]
//! ```
//!
//! `cargo run --example unftp_backend --features unftp`, then
//! `curl -u alice:wonderland ftp://127.0.0.1:2121/`.
use std::sync::Arc;

use oxftp::Server;
use oxftp::unftp::unftp_core::auth::DefaultUserDetailProvider;
use oxftp::unftp::{UnftpAuthenticator, UnftpStorageFactory};
use unftp_auth_jsonfile::JsonFileAuthenticator;
use unftp_sbe_fs::Filesystem;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::var("OXFTP_LISTEN").unwrap_or_else(|_| "127.0.0.1:2121".into());
    let users = std::env::var("OXFTP_USERS").unwrap_or_else(|_| "users.json".into());

    let storage = UnftpStorageFactory::shared(Filesystem::new(std::env::current_dir()?)?, DefaultUserDetailProvider);
    let auth = UnftpAuthenticator::new(JsonFileAuthenticator::from_file(&users)?, DefaultUserDetailProvider);

    println!("serving on {listen}");
    Server::new(Arc::new(storage), Arc::new(auth)).listen(listen.as_str()).await?;
    Ok(())
}
