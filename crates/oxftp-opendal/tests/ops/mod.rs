//! Storage calls the object-store tests make over and over, on top of the
//! shared helpers in `oxftp_core::test_util`.

use oxftp_core::test_util::helpers::{entries, read_at, upload};
use oxftp_opendal::OpendalStorage;

pub use oxftp_core::test_util::helpers::p;

pub async fn put(s: &OpendalStorage, path: &str, data: &[u8]) {
    upload(s, path, data).await.unwrap();
}

pub async fn get(s: &OpendalStorage, path: &str, offset: u64) -> Vec<u8> {
    read_at(s, path, offset).await.unwrap()
}

/// Names and whether each is a directory, sorted.
pub async fn names(s: &OpendalStorage, path: &str) -> Vec<(String, bool)> {
    entries(s, path).await.unwrap().into_iter().map(|e| (String::from_utf8(e.name).unwrap(), e.info.is_dir())).collect()
}
