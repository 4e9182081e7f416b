//! How many storage calls one FTP command costs, counted between the engine
//! and a real backend (local disk). On an object store every call is a
//! request (a `metadata` is a HEAD), so these numbers are round trips.

#[allow(dead_code)]
mod common;

use std::sync::Arc;

use common::{Raw, TestServer};
use oxftp_core::test_util::{Call, CountingFactory, Counts};
use tokio::io::AsyncWriteExt;

/// A server whose storage calls are counted, and the counters.
async fn counted_server() -> (TestServer, Arc<Counts>) {
    let mut counts = None;
    let srv = TestServer::start_over(
        |local| {
            let counting = CountingFactory::new(local);
            counts = Some(counting.counts());
            Arc::new(counting)
        },
        |_| {},
    )
    .await;
    (srv, counts.expect("the factory was wrapped"))
}

/// One STOR of a new file by an account with a quota and a permission rule
/// (every layer that looks before a write is stacked), counted from the
/// STOR command to its 226.
#[tokio::test]
async fn one_stor_costs_one_lookup() {
    let (srv, counts) = counted_server().await;
    let mut raw = Raw::login(srv.addr, "budget", "budget").await;
    assert_eq!(raw.cmd("TYPE I").await.0, 200);
    let mut data = raw.pasv_connect(None).await.unwrap();
    counts.reset();
    assert_eq!(raw.cmd("STOR new.bin").await.0, 150);
    data.write_all(b"twelve bytes").await.unwrap();
    drop(data);
    assert_eq!(raw.reply().await.0, 226);
    assert_eq!(std::fs::read(srv.path("alice/new.bin")).unwrap(), b"twelve bytes");
    // Before issue 13 it was 3 metadata calls: the permissions layer, the
    // quota layer at open and the quota layer again at commit each asked.
    // Now the permissions guard looks once and hands the answer to the
    // quota layer, and a committed create is not read back.
    assert_eq!(counts.snapshot(), vec![(Call::Metadata, 1), (Call::OpenWrite, 1)], "{counts:?}");
    srv.stop().await;
}

/// An account with no quota and no permission rules: nothing needs to look
/// before a STOR, so nothing does.
#[tokio::test]
async fn a_plain_accounts_stor_makes_no_lookup() {
    let (srv, counts) = counted_server().await;
    let mut raw = Raw::login(srv.addr, "alice", "secret").await;
    assert_eq!(raw.cmd("TYPE I").await.0, 200);
    let mut data = raw.pasv_connect(None).await.unwrap();
    counts.reset();
    assert_eq!(raw.cmd("STOR plain.bin").await.0, 150);
    data.write_all(b"plain").await.unwrap();
    drop(data);
    assert_eq!(raw.reply().await.0, 226);
    assert_eq!(counts.snapshot(), vec![(Call::OpenWrite, 1)], "{counts:?}");
    srv.stop().await;
}
