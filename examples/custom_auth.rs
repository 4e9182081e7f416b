//! A custom `Authenticator`: accounts kept in code (think: looked up in your
//! own service's database), each a guest confined to its own directory of an
//! in-memory storage.
//!
//! `cargo run --example custom_auth`, then
//! `curl -T file ftp://alice:wonderland@127.0.0.1:2121/`.
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use oxftp::memory::MemoryStorage;
use oxftp::policy::SharedStorage;
use oxftp::{AccessClass, AuthError, Authenticator, Credentials, Identity, Server, Storage, VPath};

#[derive(Debug)]
struct InCodeAccounts {
    passwords: HashMap<&'static str, &'static str>,
}

#[async_trait]
impl Authenticator for InCodeAccounts {
    async fn authenticate(&self, credentials: &Credentials) -> Result<Identity, AuthError> {
        let expected = self.passwords.get(credentials.user.as_str()).ok_or(AuthError::UnknownUser)?;
        if *expected != credentials.password {
            return Err(AuthError::BadPassword);
        }
        let mut identity = Identity::new(credentials.user.clone(), AccessClass::Guest);
        identity.home =
            VPath::parse(format!("/{}", credentials.user).as_bytes()).map_err(|e| AuthError::Backend(e.to_string()))?;
        Ok(identity)
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("OXFTP_LISTEN").unwrap_or_else(|_| "127.0.0.1:2121".into());
    let memory = MemoryStorage::new();
    for user in ["alice", "bob"] {
        let home = VPath::parse(format!("/{user}").as_bytes()).map_err(std::io::Error::other)?;
        memory.mkdir(&home).await.map_err(std::io::Error::other)?;
    }
    let auth = InCodeAccounts { passwords: HashMap::from([("alice", "wonderland"), ("bob", "builder")]) };
    println!("serving on ftp://{addr}/");
    Server::new(Arc::new(SharedStorage::new(Arc::new(memory))), Arc::new(auth)).listen(addr).await
}
