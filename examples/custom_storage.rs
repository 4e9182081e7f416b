//! A custom `Storage` backend: a read-only "status board" whose files are
//! generated on the fly (here: `/time.txt` and `/hello.txt`).
//!
//! `cargo run --example custom_storage`, then `curl ftp://127.0.0.1:2121/time.txt`.
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use oxftp::policy::{AnonymousLogin, SharedStorage};
use oxftp::{
    Capabilities, DirEntry, DirLister, FileInfo, FileKind, ReadHandle, Server, Storage, StorageError, VPath, VecLister,
    WriteHandle, WriteMode,
};

#[derive(Debug)]
struct StatusBoard;

impl StatusBoard {
    fn content(path: &VPath) -> Option<Vec<u8>> {
        match path.as_bytes() {
            b"/hello.txt" => Some(b"Hello from a custom storage backend!\n".to_vec()),
            b"/time.txt" => Some(format!("{}\n", now()).into_bytes()),
            _ => None,
        }
    }

    fn file(size: usize) -> FileInfo {
        FileInfo {
            kind: FileKind::File,
            size: size as u64,
            mtime: Some(now()),
            mode: Some(0o444),
            nlink: 1,
            owner: None,
            group: None,
            unique: None,
        }
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[async_trait]
impl Storage for StatusBoard {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            read_at_offset: true,
            write_at_offset: false,
            append: false,
            rename: false,
            set_mode: false,
            set_mtime: false,
        }
    }

    async fn metadata(&self, path: &VPath) -> Result<FileInfo, StorageError> {
        if path.is_root() {
            return Ok(FileInfo { kind: FileKind::Dir, mode: Some(0o555), ..Self::file(0) });
        }
        Self::content(path).map(|c| Self::file(c.len())).ok_or_else(StorageError::not_found)
    }

    async fn list(&self, path: &VPath) -> Result<Box<dyn DirLister>, StorageError> {
        if !path.is_root() {
            return Err(StorageError::not_found());
        }
        let mut entries = Vec::new();
        for name in ["hello.txt", "time.txt"] {
            let p = VPath::root().join(name.as_bytes()).map_err(|_| StorageError::not_found())?;
            let size = Self::content(&p).map(|c| c.len()).unwrap_or(0);
            entries.push(DirEntry { name: name.as_bytes().to_vec(), info: Self::file(size) });
        }
        Ok(Box::new(VecLister::new(entries)))
    }

    async fn open_read(&self, path: &VPath, offset: u64) -> Result<ReadHandle, StorageError> {
        let content = Self::content(path).ok_or_else(StorageError::not_found)?;
        let start = (offset as usize).min(content.len());
        Ok(ReadHandle::Stream(Box::new(std::io::Cursor::new(content[start..].to_vec()))))
    }

    async fn open_write(&self, _: &VPath, _: WriteMode) -> Result<Box<dyn WriteHandle>, StorageError> {
        Err(StorageError::permission_denied())
    }
    async fn delete(&self, _: &VPath) -> Result<(), StorageError> {
        Err(StorageError::permission_denied())
    }
    async fn mkdir(&self, _: &VPath) -> Result<(), StorageError> {
        Err(StorageError::permission_denied())
    }
    async fn rmdir(&self, _: &VPath) -> Result<(), StorageError> {
        Err(StorageError::permission_denied())
    }
    async fn rename(&self, _: &VPath, _: &VPath) -> Result<(), StorageError> {
        Err(StorageError::permission_denied())
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("OXFTP_LISTEN").unwrap_or_else(|_| "127.0.0.1:2121".into());
    let storage = Arc::new(SharedStorage::new(Arc::new(StatusBoard)));
    let auth = Arc::new(AnonymousLogin::new(None, VPath::root(), None));
    println!("serving on ftp://{addr}/");
    Server::new(storage, auth).listen(addr).await
}
