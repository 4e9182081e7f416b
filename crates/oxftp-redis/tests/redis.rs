//! RedisState against a real redis-server: two states on one Redis stand for
//! two nodes of a cluster.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::RedisServer;
use oxftp_core::admission::Degrading;
use oxftp_core::auth::{AccessClass, Identity};
use oxftp_core::memory::MemoryStorage;
use oxftp_core::policy::{SharedStorage, Stack};
use oxftp_core::shared_state::{BanPolicy, SharedState, Subject, Usage};
use oxftp_core::storage::ErrorKind;
use oxftp_core::test_util::helpers::{err_of, p, upload};
use oxftp_redis::{RedisSettings, RedisState};
use slog::Logger;

fn discard() -> Logger {
    Logger::root(slog::Discard, slog::o!())
}

fn node(redis: &RedisServer, prefix: &str) -> RedisState {
    let settings = RedisSettings { key_prefix: prefix.to_string(), ..RedisSettings::new(redis.url()) };
    RedisState::new(settings, discard()).unwrap()
}

#[tokio::test]
async fn a_ban_earned_on_one_node_holds_on_the_other() {
    let Some(redis) = RedisServer::start() else { return };
    let (one, two) = (node(&redis, "t1"), node(&redis, "t1"));
    one.ping().await.unwrap();
    let policy = BanPolicy { max_failures: 3, per_user: true, ..BanPolicy::default() };
    let ip = Subject::ip("198.51.100.7".parse().unwrap());
    assert!(!one.login_failed(&ip, &policy).await.unwrap());
    assert!(!two.login_failed(&ip, &policy).await.unwrap());
    assert!(!two.is_banned(&ip).await.unwrap());
    assert!(one.login_failed(&ip, &policy).await.unwrap(), "the third failure, on either node, bans");
    assert!(two.is_banned(&ip).await.unwrap());
    assert!(!two.is_banned(&Subject::ip("198.51.100.8".parse().unwrap())).await.unwrap());
    // A success forgets failures, not bans.
    let user = Subject::user("ann");
    assert!(!one.login_failed(&user, &policy).await.unwrap());
    assert!(!one.login_failed(&user, &policy).await.unwrap());
    two.login_succeeded(&user).await.unwrap();
    assert!(!one.login_failed(&user, &policy).await.unwrap(), "counting starts over");
    two.login_succeeded(&ip).await.unwrap();
    assert!(one.is_banned(&ip).await.unwrap());
    // Bans end on time.
    let short = BanPolicy { max_failures: 1, ban_time: Duration::from_millis(300), ..BanPolicy::default() };
    let brief = Subject::ip("198.51.100.9".parse().unwrap());
    assert!(one.login_failed(&brief, &short).await.unwrap());
    assert!(two.is_banned(&brief).await.unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!two.is_banned(&brief).await.unwrap());
}

#[tokio::test]
async fn session_places_are_counted_across_nodes() {
    let Some(redis) = RedisServer::start() else { return };
    let (one, two) = (node(&redis, "t2"), node(&redis, "t2"));
    let ann = Subject::user("ann");
    let a = one.acquire_session(&ann, 2).await.unwrap().expect("first place");
    let _b = two.acquire_session(&ann, 2).await.unwrap().expect("second place");
    assert!(one.acquire_session(&ann, 2).await.unwrap().is_none());
    assert!(two.acquire_session(&ann, 2).await.unwrap().is_none());
    assert_eq!((one.leases_held(), two.leases_held()), (1, 1));
    drop(a);
    // The place comes back once the release reaches Redis.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(_c) = two.acquire_session(&ann, 2).await.unwrap() {
            break;
        }
        assert!(Instant::now() < deadline, "the released place never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_dead_nodes_places_expire_after_a_lease() {
    let Some(redis) = RedisServer::start() else { return };
    let settings =
        RedisSettings { key_prefix: "t3".into(), lease: Duration::from_millis(900), ..RedisSettings::new(redis.url()) };
    // The node that dies: its own runtime, shut down with its lease held.
    let doomed = tokio::runtime::Runtime::new().unwrap();
    let lease = doomed.block_on(async {
        let state = RedisState::new(settings.clone(), discard()).unwrap();
        let lease = state.acquire_session(&Subject::user("bo"), 1).await.unwrap().expect("a place");
        // Renewals keep it past one lease time while the node lives.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        (lease, state)
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let survivor = RedisState::new(settings.clone(), discard()).unwrap();
        assert!(survivor.acquire_session(&Subject::user("bo"), 1).await.unwrap().is_none(), "renewed while alive");
    });
    doomed.shutdown_background();
    // A dead process never gives its places back.
    std::mem::forget(lease);
    runtime.block_on(async {
        let survivor = RedisState::new(settings, discard()).unwrap();
        let started = Instant::now();
        loop {
            if survivor.acquire_session(&Subject::user("bo"), 1).await.unwrap().is_some() {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "the dead node's place never expired");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

/// One object store served by two nodes, each with its own stack over the same Redis.
fn two_nodes(redis: &RedisServer, prefix: &str) -> (MemoryStorage, Stack, Stack) {
    let mem = MemoryStorage::new();
    mem.create_dir_all(&p("/home/ann")).unwrap();
    mem.put_file(&p("/home/ann/old"), vec![0u8; 10]).unwrap();
    let stack = || {
        let state: Arc<dyn SharedState> = Arc::new(Degrading::new(Arc::new(node(redis, prefix)), false, discard()));
        Stack::new(Arc::new(SharedStorage::new(Arc::new(mem.clone())))).with_shared_quotas(state)
    };
    (mem.clone(), stack(), stack())
}

fn ann() -> Identity {
    let mut id = Identity::new("ann", AccessClass::User);
    id.home = p("/home/ann");
    id.limits.quota_bytes = Some(100);
    id
}

#[tokio::test]
async fn a_quota_filled_through_one_node_holds_on_the_other() {
    let Some(redis) = RedisServer::start() else { return };
    let (mem, one, two) = two_nodes(&redis, "t4");
    let on_one = one.for_identity(&ann()).await.unwrap();
    let on_two = two.for_identity(&ann()).await.unwrap();
    upload(on_one.as_ref(), "/eighty", &[1u8; 80]).await.unwrap();
    // 10 + 80 stored; 20 more would pass 100 on node two.
    let e = err_of(upload(on_two.as_ref(), "/twenty", &[2u8; 20]).await);
    assert_eq!(e.kind, ErrorKind::InsufficientStorage, "{e:?}");
    assert!(mem.file_contents(&p("/home/ann/twenty")).is_err());
    upload(on_two.as_ref(), "/ten", &[2u8; 10]).await.unwrap();
    // Freed on node two, usable on node one.
    on_two.delete(&p("/eighty")).await.unwrap();
    upload(on_one.as_ref(), "/fifty", &[3u8; 50]).await.unwrap();
    // A third node that logs in later starts from the shared count, without a walk.
    let (_, three, _) = two_nodes(&redis, "t4");
    let on_three = three.for_identity(&ann()).await.unwrap();
    let e = err_of(upload(on_three.as_ref(), "/forty", &[4u8; 40]).await);
    assert_eq!(e.kind, ErrorKind::InsufficientStorage, "10 + 10 + 50 + 40 > 100: {e:?}");
    let state = node(&redis, "t4");
    assert_eq!(state.quota_usage("ann").await.unwrap(), Some(Usage { bytes: 70, files: 3 }));
}

#[tokio::test]
async fn without_redis_nodes_go_on_with_their_own_state_and_catch_up() {
    let Some(mut redis) = RedisServer::start() else { return };
    let shared = Arc::new(node(&redis, "t5"));
    let state = Degrading::new(shared.clone(), false, discard());
    let policy = BanPolicy { max_failures: 2, ..BanPolicy::default() };
    let ip = Subject::ip("198.51.100.7".parse().unwrap());
    assert!(!state.is_banned(&ip).await.unwrap());
    redis.stop();
    let started = Instant::now();
    // Calls fail fast, the node goes on locally, and the failures are counted.
    assert!(shared.ping().await.is_err());
    assert!(!state.is_banned(&ip).await.unwrap());
    assert!(!state.login_failed(&ip, &policy).await.unwrap());
    assert!(state.login_failed(&ip, &policy).await.unwrap(), "banned locally");
    assert!(state.is_banned(&ip).await.unwrap());
    assert!(state.acquire_session(&Subject::user("ann"), 1).await.unwrap().is_some());
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    assert!(state.is_down() && state.failures() >= 4, "{}", state.failures());
    // Fail closed: an unreadable ban refuses everyone.
    let strict = Degrading::new(shared.clone(), true, discard());
    assert!(strict.is_banned(&Subject::ip("198.51.100.8".parse().unwrap())).await.unwrap());
    // Redis comes back (empty): the client reconnects by itself.
    assert!(redis.spawn());
    let deadline = Instant::now() + Duration::from_secs(10);
    while shared.ping().await.is_err() {
        assert!(Instant::now() < deadline, "never reconnected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!state.is_banned(&Subject::ip("198.51.100.8".parse().unwrap())).await.unwrap());
    assert!(!state.is_down());
    // The ban earned during the outage still holds on this node.
    assert!(state.is_banned(&ip).await.unwrap());
}
