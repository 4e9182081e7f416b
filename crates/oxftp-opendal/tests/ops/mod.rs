//! Storage calls the object-store tests make over and over.

use oxftp_core::storage::{ReadHandle, Storage, WriteMode};
use oxftp_opendal::OpendalStorage;
use oxftp_proto::path::VPath;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn p(s: &str) -> VPath {
    VPath::parse(s.as_bytes()).unwrap()
}

pub async fn put(s: &OpendalStorage, path: &str, data: &[u8]) {
    let mut w = s.open_write(&p(path), WriteMode::Create { exclusive: false }).await.unwrap();
    w.write_all(data).await.unwrap();
    w.commit().await.unwrap();
}

pub async fn get(s: &OpendalStorage, path: &str, offset: u64) -> Vec<u8> {
    let ReadHandle::Stream(mut r) = s.open_read(&p(path), offset).await.unwrap() else {
        panic!("object stores hand out streams");
    };
    let mut out = Vec::new();
    r.read_to_end(&mut out).await.unwrap();
    out
}

pub async fn names(s: &OpendalStorage, path: &str) -> Vec<(String, bool)> {
    let mut lister = s.list(&p(path)).await.unwrap();
    let mut out = Vec::new();
    while let Some(page) = lister.next_page().await.unwrap() {
        for e in page {
            out.push((String::from_utf8(e.name).unwrap(), e.info.is_dir()));
        }
    }
    out.sort();
    out
}
